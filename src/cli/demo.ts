/**
 * `espdelta demo`: the main job end to end on the virtual device. A virtual
 * ESP32 is served on a real pseudo-terminal and flashed through the FFI
 * serial backend: a cold flash, a no-op redeploy, a one-line app change,
 * and the same change written the old way (--full) for comparison.
 * @module
 */

import { VirtualDevice } from "../emulator/device.ts";
import { servePty } from "../emulator/pty.ts";
import { openPort } from "../serial/open.ts";
import { connect } from "../loader/loader.ts";
import { findStub } from "../loader/stubs.ts";
import { planFlash, summarizePlan } from "../plan/planner.ts";
import { executePlan } from "../plan/execute.ts";
import { writeImage } from "../image/app.ts";
import { parsePartitionCsv, writePartitionTable } from "../image/partitions.ts";
import { nameRegions, type Region } from "../image/region.ts";
import type { Output } from "./output.ts";
import type { Program } from "./options.ts";
import { firmwareLike } from "../random.ts";

/** An ESP32 image of one segment, with checksum and SHA-256 as ESP-IDF builds them. */
function esp32Image(body: Uint8Array, entry: number, loadAddress: number): Uint8Array {
  return writeImage({
    chip: "esp32",
    entry,
    flashMode: "dio",
    flashFreq: "40m",
    flashSize: "4MB",
    segments: [{ loadAddress, data: body }],
  });
}

/** ESP-IDF's single-app table: nvs, phy_init, a 1.5 MB factory app. */
const PARTITIONS_CSV = "nvs, data, nvs, 0x9000, 0x6000\n" +
  "phy_init, data, phy, 0xf000, 0x1000\n" +
  "factory, app, factory, 0x10000, 0x180000\n";

/** Image header (24 bytes) and segment header (8): where the app's body starts. */
const BODY_START = 32;

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  program.command("demo")
    .description("flash a virtual ESP32 on a pty: cold, no-op, one-line change, and --full")
    .addHelpText("after", "\nExample:\n  espdelta demo")
    .action(async () => {
      const o = out();
      const device = new VirtualDevice({ chip: "esp32", flashSize: 4 * 1024 * 1024 });
      const served = await servePty(device);
      o.info(
        `Virtual ESP32 (4 MB flash) served on ${served.path}; flashing it through the FFI backend.`,
      );
      // 384 sectors of app: its body, headers, checksum and digest fill 1.5 MiB but 16 bytes.
      const body = firmwareLike(1536 * 1024 - 96, 1);
      const app = (b: Uint8Array) => esp32Image(b, 0x40081000, 0x400d0020);
      const bootloader = esp32Image(firmwareLike(0x6000, 2), 0x40080400, 0x40078000);
      const table = writePartitionTable(parsePartitionCsv(PARTITIONS_CSV));
      const regions = (appBytes: Uint8Array): Region[] =>
        nameRegions([
          { name: "bootloader.bin", offset: 0x1000, data: bootloader },
          { name: "partition-table.bin", offset: 0x8000, data: table },
          { name: "app.bin", offset: 0x10000, data: appBytes },
        ]);
      const rows: string[][] = [[
        "step",
        "outcome",
        "sectors erased",
        "written",
        "bytes sent",
        "time",
      ]];
      const run = async (label: string, appBytes: Uint8Array, full = false) => {
        device.flash.resetCounters();
        const port = await openPort(served.path, { baud: 115200 });
        const started = performance.now();
        try {
          const loader = await connect(port, { stub: (c) => findStub(c.name), baud: 921600 });
          const rs = regions(appBytes);
          const plan = await planFlash(loader, rs, {
            flashSize: 4 * 1024 * 1024,
            baud: 921600,
            full,
          });
          const result = await executePlan(loader, plan, rs);
          const secs = ((performance.now() - started) / 1000).toFixed(2);
          const erased = device.flash.sectorErases.reduce((n, c) => n + (c > 0 ? 1 : 0), 0);
          const written = device.flash.sectorWrites.reduce((n, c) => n + (c > 0 ? 1 : 0), 0);
          o.info(`${label}: ${summarizePlan(plan)}`);
          rows.push([
            label,
            plan.outcome,
            String(erased),
            String(written),
            String(result.bytesSent),
            `${secs} s`,
          ]);
          await loader.close();
        } finally {
          await port.close();
        }
      };
      try {
        await run("cold flash", app(body));
        await run("no-op redeploy", app(body));
        // "One changed line": one byte deep in the app; the image is built again around it.
        const changed = body.slice();
        changed[0x9_4321 - BODY_START] ^= 0x01;
        await run("one-line change", app(changed));
        const back = body.slice();
        back[0x9_4321 - BODY_START] ^= 0x02;
        await run("same change, --full", app(back), true);
      } finally {
        await served.close();
      }
      const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
      o.info("");
      for (const r of rows) o.info(r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
      o.result(
        "A one-line change rewrote the sectors that differ instead of the whole app; " +
          "the device's own MD5s found them, no copy of the old image needed.",
      );
    });
}

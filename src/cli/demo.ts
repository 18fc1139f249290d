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
import type { Region } from "../image/region.ts";
import { checksum } from "../protocol/packet.ts";
import type { Output } from "./output.ts";
import type { Program } from "./options.ts";

/** Deterministic firmware-like bytes (deflate to about half, like real apps). */
function firmwareBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  for (let i = 0; i < n;) {
    const run = 16 + ((next() >>> 16) % 240);
    const kind = (next() >>> 16) % 10;
    for (let k = 0; k < run && i < n; k++, i++) {
      out[i] = kind < 5 ? next() >>> 24 : kind < 8 ? (k * 4) & 0xff : 0;
    }
  }
  return out;
}

/** A minimal valid ESP32 image: header, extended header, one segment, checksum. */
function esp32Image(body: Uint8Array, entry: number): Uint8Array {
  const segLen = (body.length + 3) & ~3;
  const total = 24 + 8 + segLen;
  const padded = (total + 1 + 15) & ~15;
  const img = new Uint8Array(padded);
  const v = new DataView(img.buffer);
  img.set([0xe9, 1, 0x02, 0x20]); // one segment, DIO, 4 MB / 40 MHz
  v.setUint32(4, entry, true);
  img[8] = 0xee; // WP pin: disabled
  v.setUint16(12, 0, true); // chip id: ESP32
  v.setUint32(24, 0x400d0020, true);
  v.setUint32(28, segLen, true);
  img.set(body, 32);
  img[padded - 1] = checksum(img.subarray(32, 32 + segLen));
  return img;
}

/** A partition table: nvs, phy_init, factory app; MD5 row; end marker. */
function partitionTable(): Uint8Array {
  const rows: [number, number, number, number, string][] = [
    [1, 2, 0x9000, 0x6000, "nvs"],
    [1, 1, 0xf000, 0x1000, "phy_init"],
    [0, 0, 0x10000, 0x180000, "factory"],
  ];
  const t = new Uint8Array(0xc00).fill(0xff);
  const v = new DataView(t.buffer);
  rows.forEach(([type, sub, off, size, label], i) => {
    const o = i * 32;
    t.set([0xaa, 0x50, type, sub], o);
    v.setUint32(o + 4, off, true);
    v.setUint32(o + 8, size, true);
    t.fill(0, o + 12, o + 28);
    t.set(new TextEncoder().encode(label), o + 12);
    v.setUint32(o + 28, 0, true);
  });
  return t;
}

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
      const app = esp32Image(firmwareBytes(1536 * 1024 - 64, 1), 0x40081000);
      const regions = (appBytes: Uint8Array): Region[] => [
        {
          name: "bootloader",
          offset: 0x1000,
          data: esp32Image(firmwareBytes(0x6000, 2), 0x40080400),
          kind: "bootloader",
        },
        {
          name: "partition-table",
          offset: 0x8000,
          data: partitionTable(),
          kind: "partition-table",
        },
        { name: "factory", offset: 0x10000, data: appBytes, kind: "app" },
      ];
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
        await run("cold flash", app);
        await run("no-op redeploy", app);
        const changed = app.slice();
        changed[0x9_4321] ^= 0x01; // "one changed line": one byte deep in the app
        changed[changed.length - 1] = checksum(changed.subarray(32, changed.length - 16));
        await run("one-line change", changed);
        const back = app.slice();
        back[0x9_4321] ^= 0x02;
        back[back.length - 1] = checksum(back.subarray(32, back.length - 16));
        await run("same change, --full", back, true);
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

/**
 * `espdelta write-flash ADDR FILE [ADDR FILE...]`: esptool's plain write of
 * whole files, verified by device MD5. `espdelta flash` is the delta path.
 * @module
 */

import { hex } from "../protocol/bytes.ts";
import { writeRegions } from "../session/write.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";
import { withSession } from "./session.ts";
import { FORCE_HELP, loadArgs, regionsForBoard, withFlashSettings } from "./inputs.ts";

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  withFlashSettings(
    program.command("write-flash")
      .description("write whole files to flash (no delta), then verify by MD5")
      .argument("<addr-file...>", "ADDRESS FILE pairs (or a build folder)")
      .option("-z, --compress", "compress data on the wire (default when the loader supports it)")
      .option("-u, --no-compress", "send data uncompressed")
      .option("-e, --erase-all", "erase the whole flash first (stub only)")
      .option(
        "--encrypt",
        "write through the chip's flash-encryption engine (cannot be verified by MD5)",
      )
      .option("--force", FORCE_HELP),
  )
    .addHelpText(
      "after",
      "\nExample:\n  espdelta -p socket://127.0.0.1:5555 write-flash 0x1000 bootloader.bin " +
        "0x8000 partitions.bin 0x10000 app.bin",
    )
    .action(async (args, opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      // Read and check the files before connecting, so a bad one never touches the device.
      const loaded = await loadArgs(args, g.chip, opts);
      await withSession(g, o, async ({ loader, chip, flashSize, port }) => {
        const regions = regionsForBoard(loaded, chip.name, flashSize, o, {
          revision: loader.revision,
          force: opts.force,
        });
        let started = 0;
        // What Ctrl-C reports: sectors sent so far, and in all.
        const sectorsOf = (n: number) => Math.ceil(n / 0x1000);
        const planned = regions.reduce((n, r) => n + sectorsOf(r.data.length), 0);
        let done = 0;
        o.interrupt.progress(port.path, 0, planned);
        o.interrupt.resumeHint = "run the same command again to finish (write-flash writes " +
          "every file whole; espdelta flash writes only what is still missing)";
        const written = await o.interrupt.writing(() =>
          writeRegions(loader, regions, {
            flashSize,
            compress: opts.compress === false ? false : "auto",
            encrypt: opts.encrypt,
            eraseAll: opts.eraseAll,
            signal: o.interrupt.signal,
            onEvent: (e) => {
              if (e.type === "progress") {
                o.interrupt.progress(port.path, done + Math.floor(e.done / 0x1000), planned);
              } else if (e.type === "region-written") {
                o.interrupt.progress(port.path, done += sectorsOf(e.region.data.length), planned);
              }
              if (e.type === "erase-all") {
                o.info("Erasing flash (this may take a while)...");
              } else if (e.type === "region-start") {
                started = performance.now();
                o.progressStart("write", e.region.data.length);
              } else if (e.type === "progress") {
                o.progress("write", e.done, e.total);
              } else if (e.type === "region-written") {
                o.progressEnd();
                const { data, offset } = e.region;
                const secs = (performance.now() - started) / 1000;
                const rate = (data.length * 8 / 1000 / Math.max(secs, 0.001)).toFixed(1);
                o.info(
                  `Wrote ${data.length} bytes${
                    e.compressed ? ` (${e.bytesSent} compressed)` : ""
                  } at ${hex(offset, 8)} in ${secs.toFixed(1)} seconds (${rate} kbit/s).`,
                );
              } else if (e.type === "region-done") {
                if (e.verified === "encrypted") {
                  o.info(
                    "Encrypted data cannot be verified by MD5 (the device hashes ciphertext).",
                  );
                } else if (e.verified === "md5") o.info("Hash of data verified.");
                o.event("region-done", {
                  region: e.region.name,
                  offset: e.region.offset,
                  length: e.region.data.length,
                  bytesSent: e.bytesSent,
                });
              }
            },
          })
        );
        const n = written.regions.length;
        o.result(`write-flash: ${n} file${n === 1 ? "" : "s"} written`);
      }, { needFlashSize: true });
    });
}

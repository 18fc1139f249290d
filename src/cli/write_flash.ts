/**
 * `espdelta write-flash ADDR FILE [ADDR FILE...]`: esptool's plain write of
 * whole files, verified by device MD5. `espdelta flash` is the delta path.
 * @module
 */

import { hex } from "../protocol/bytes.ts";
import { md5Hex } from "../plan/hash.ts";
import { validateRegions } from "../image/region.ts";
import { VerifyError } from "../plan/execute.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";
import { withSession } from "./session.ts";
import { loadArgs, regionsForBoard } from "./inputs.ts";

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
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
    .option("--flash-mode <mode>", "bootloader header flash mode: keep, qio, qout, dio, dout")
    .option("--flash-freq <freq>", "bootloader header flash frequency: keep, 40m, 80m, ...")
    .option("--flash-size <size>", "bootloader header flash size: keep, detect, 4MB, ...")
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
      await withSession(g, o, async ({ loader, chip, flashSize }) => {
        const regions = regionsForBoard(loaded, chip.name, flashSize, o);
        const sorted = validateRegions(regions, chip, flashSize);
        if (opts.eraseAll) {
          o.info("Erasing flash (this may take a while)...");
          await loader.eraseFlash();
        }
        for (const r of sorted) {
          const started = performance.now();
          o.progressStart("write", r.data.length);
          const res = await loader.write(r.offset, r.data, {
            compress: opts.compress === false ? false : "auto",
            onProgress: (done, total) => o.progress("write", done, total),
            ...(opts.encrypt ? { encrypt: true } : {}),
          });
          o.progressEnd();
          const secs = (performance.now() - started) / 1000;
          const rate = (r.data.length * 8 / 1000 / Math.max(secs, 0.001)).toFixed(1);
          o.info(
            `Wrote ${r.data.length} bytes${
              res.compressed ? ` (${res.bytesSent} compressed)` : ""
            } at ${hex(r.offset, 8)} in ${secs.toFixed(1)} seconds (${rate} kbit/s).`,
          );
          if (opts.encrypt) {
            o.info("Encrypted data cannot be verified by MD5 (the device hashes ciphertext).");
          } else if (loader.canHash) {
            const device = await loader.md5(r.offset, r.data.length);
            const local = md5Hex(r.data);
            if (device !== local) throw new VerifyError(r.name, r.offset, local, device);
            o.info("Hash of data verified.");
          }
          o.event("region-done", {
            region: r.name,
            offset: r.offset,
            length: r.data.length,
            bytesSent: res.bytesSent,
          });
        }
        o.result(`write-flash: ${sorted.length} file${sorted.length === 1 ? "" : "s"} written`);
      }, { needFlashSize: true });
    });
}

/**
 * `espdelta write-flash ADDR FILE [ADDR FILE...]`: esptool's write-flash,
 * taking the delta path by default (plan by device MD5, write what differs,
 * verify by MD5; session/write_flash.ts); `--full`, `--erase-all` and `--encrypt`
 * write every file whole.
 * @module
 */

import { hex } from "../protocol/bytes.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";
import { withSession } from "./session.ts";
import { FORCE_HELP, loadArgs, regionsForBoard, withFlashSettings } from "./inputs.ts";
import {
  checkDiffWith,
  regionsForWrite,
  SUBSUMED_NOTE,
  writeFlash,
  type WriteFlashProgress,
} from "../session/write_flash.ts";

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  withFlashSettings(
    program.command("write-flash")
      .description(
        "write files to flash: only the sectors that differ (device MD5), then verify by MD5",
      )
      .argument("<addr-file...>", "ADDRESS FILE pairs (or a build folder)")
      .option("--full", "write every file whole (esptool's plain write)")
      .option("-z, --compress", "compress data on the wire (default when the loader supports it)")
      .option("-u, --no-compress", "send data uncompressed")
      .option("-e, --erase-all", "erase the whole flash first, then write every file whole")
      .option(
        "--encrypt",
        "write through the chip's flash-encryption engine (cannot be verified by MD5)",
      )
      .option("--no-progress", "no progress bar")
      .option("--force", FORCE_HELP)
      .option("-s, --skip-flashed", "accepted: the delta path never rewrites what is in flash")
      .option("--diff-with <files...>", "accepted: the delta path compares with the device itself")
      .option("--trust-flash-content", "accepted, as --diff-with"),
  )
    .addHelpText(
      "after",
      "\nExample:\n  espdelta -p socket://127.0.0.1:5555 write-flash 0x1000 bootloader.bin " +
        "0x8000 partitions.bin 0x10000 app.bin",
    )
    .action(async (args, opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      await checkDiffWith(opts.diffWith);
      // Read and check the files before connecting, so a bad one never touches the device.
      const loaded = await loadArgs(args, g.chip, opts);
      if (opts.skipFlashed || opts.diffWith || opts.trustFlashContent) {
        o.info(`note: ${SUBSUMED_NOTE}`);
      }
      await withSession(g, o, async ({ loader, chip, flashSize, port, wireBaud }) => {
        let regions;
        if (opts.force) {
          const forced = regionsForWrite(loaded, chip.name, flashSize, true);
          for (const note of forced.notes) o.info(note);
          regions = forced.regions;
        } else {
          regions = regionsForBoard(loaded, chip.name, flashSize, o, {
            revision: loader.revision,
          });
        }
        const showProgress = opts.progress !== false;
        // What Ctrl-C reports: sectors sent so far, of those the files span.
        const sectorsOf = (n: number) => Math.ceil(n / 0x1000);
        const planned = regions.reduce((n, r) => n + sectorsOf(r.data.length), 0);
        let done = 0;
        o.interrupt.progress(port.path, 0, planned);
        o.interrupt.resumeHint = "run the same command again to finish: write-flash writes " +
          "only what is still wrong";
        const onProgress = (p: WriteFlashProgress) => {
          if (p.type === "progress") {
            o.interrupt.progress(port.path, Math.min(planned, done + sectorsOf(p.done)), planned);
          } else if (p.type === "end") {
            done += sectorsOf(p.total);
            o.interrupt.progress(port.path, Math.min(planned, done), planned);
          }
          if (p.type === "erase-all") o.info("Erasing flash (this may take a while)...");
          else if (p.type === "rewrite") o.warn(`${p.region}: ${p.reason}; writing it again`);
          else if (!showProgress) return;
          else if (p.type === "start") o.progressStart(p.region.name, p.total);
          else if (p.type === "progress") o.progress(p.region.name, p.done, p.total);
          else if (p.type === "end") o.progressEnd();
        };
        const result = await o.interrupt.writing(() =>
          writeFlash(loader, regions, {
            flashSize,
            baud: wireBaud,
            full: opts.full,
            eraseAll: opts.eraseAll,
            encrypt: opts.encrypt,
            compress: opts.compress === false ? false : opts.compress === true ? true : "auto",
            signal: o.interrupt.signal,
          }, onProgress)
        );
        for (const r of result.regions) {
          const { data, offset, file } = r.region;
          if (r.sectorsWritten === 0) {
            o.info(
              `'${file ?? r.region.name}' at ${hex(offset, 8)} already in flash, skipping write.`,
            );
          } else {
            const rate = r.seconds > 0
              ? ` (${(r.bytesWritten * 8 / 1000 / r.seconds).toFixed(1)} kbit/s)`
              : "";
            o.info(
              `Wrote ${r.bytesWritten} bytes${
                r.compressed ? ` (${r.bytesSent} compressed)` : ""
              } ` +
                `at ${hex(offset, 8)} in ${r.seconds.toFixed(1)} seconds${rate}.`,
            );
            if (r.verified === "encrypted") {
              o.info("Encrypted data cannot be verified by MD5 (the device hashes ciphertext).");
            } else if (r.verified === "md5") o.info("Hash of data verified.");
          }
          o.event("region-done", {
            region: r.region.name,
            offset,
            length: data.length,
            sectorsWritten: r.sectorsWritten,
            bytesSent: r.bytesSent,
          });
        }
        o.result(result.detail, {
          outcome: result.outcome,
          sectorsWritten: result.regions.reduce((n, r) => n + r.sectorsWritten, 0),
          bytesSent: result.bytesSent,
        });
      }, { needFlashSize: true });
    });
}

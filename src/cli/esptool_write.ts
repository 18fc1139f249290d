/**
 * `write-flash` of the esptool personality: esptool v5's options (v4
 * spellings come in through esptool_args.ts), espdelta's delta path by
 * default (session/write_flash.ts), and esptool's lines for each file, so wrappers
 * that read them (`Wrote N bytes ... at 0x...`, `Hash of data verified.`)
 * keep working. A file already in flash gets esptool's `--skip-flashed`
 * line; a file written in part gets `--diff-with`'s "Reflashing" lines. One
 * line of espdelta's own ends the command: `espdelta: selective, 2 of 48
 * sectors written`.
 * @module
 */

import { hex } from "../protocol/bytes.ts";
import { flashSizeBytes } from "../image/targets.ts";
import { Option } from "./deps.ts";
import { UsageError } from "./args.ts";
import { withSession } from "./session.ts";
import { loadArgs } from "./inputs.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";
import {
  checkDiffWith,
  type RegionReport,
  regionsForWrite,
  SUBSUMED_NOTE,
  writeFlash,
  type WriteFlashProgress,
} from "../session/write_flash.ts";

const SECTOR = 0x1000;

/** esptool's flash settings options, with its environment defaults (ESPTOOL_FM/FF/FS). */
export function esptoolFlashOptions() {
  return [
    new Option("--flash-mode <mode>", "SPI flash mode (-fm): keep, qio, qout, dio, dout")
      .env("ESPTOOL_FM").default("keep"),
    new Option("--flash-freq <freq>", "SPI flash frequency (-ff): keep, 80m, 40m, ...")
      .env("ESPTOOL_FF").default("keep"),
    new Option("--flash-size <size>", "SPI flash size (-fs): keep, detect, 4MB, ...")
      .env("ESPTOOL_FS").default("keep"),
  ] as const;
}

/** esptool's lines for one file written by {@link writeFlash}. */
export function fileLines(r: RegionReport, multiple: boolean): string[] {
  const { offset, file, name } = r.region;
  const source = `'${file ?? name}'`;
  const lines = multiple ? ["", `Writing ${source} at ${hex(offset, 8)}...`] : [];
  if (r.sectorsWritten === 0) {
    return [...lines, `${source} at ${hex(offset, 8)} already in flash, skipping write.`];
  }
  const end = offset + r.region.data.length;
  const erased = (from: number, to: number) =>
    `Flash will be erased from ${hex(from, 8)} to ${
      hex(Math.ceil(to / SECTOR) * SECTOR - 1, 8)
    }...`;
  let at = offset;
  if (r.sectorsWritten === r.sectors) {
    lines.push(erased(offset, end));
  } else {
    at = offset + r.ranges[0][0] * SECTOR;
    for (const [first, count] of r.ranges) {
      const from = offset + first * SECTOR;
      lines.push(
        `Reflashing ${count} changed sector${count > 1 ? "s" : ""} at ${hex(from, 8)}...`,
        erased(from, Math.min(end, from + count * SECTOR)),
      );
    }
  }
  const rate = r.seconds > 0
    ? ` (${(r.bytesWritten / r.seconds * 8 / 1000).toFixed(1)} kbit/s)`
    : "";
  lines.push(
    `Wrote ${r.bytesWritten} bytes${r.compressed ? ` (${r.bytesSent} compressed)` : ""} at ${
      hex(at, 8)
    } in ${r.seconds.toFixed(1)} seconds${rate}.`,
  );
  if (r.verified === "md5") lines.push("Verifying written data...", "Hash of data verified.");
  else lines.push("Cannot verify written data if encrypted or in secure download mode.");
  return lines;
}

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  const [mode, freq, size] = esptoolFlashOptions();
  program.command("write-flash")
    .description(
      "write files to flash: only the sectors that differ (device MD5), verified by MD5",
    )
    .argument("<addr-filename...>", "ADDRESS FILE pairs")
    .option("-e, --erase-all", "erase the whole flash first, then write every file whole")
    .option("--no-progress", "no progress bar")
    .option("--encrypt", "write through the chip's flash-encryption engine")
    .option("--encrypt-files <files...>", "not supported: use --encrypt")
    .option("--ignore-flash-enc-efuse", "accepted (no eFuse checks are made)")
    .option("--diff-with <files...>", "accepted: the delta path compares with the device itself")
    .option("--trust-flash-content", "accepted, as --diff-with")
    .option("-s, --skip-flashed", "accepted: the delta path never rewrites what is in flash")
    .option("--force", "write images built for another chip")
    .option("-z, --compress", "compress data on the wire (default with the stub)")
    .option("-u, --no-compress", "send data uncompressed")
    .option("--spi-connection <pins>", "not supported: the default flash pins are used")
    .option("--full", "espdelta: write every file whole, as esptool does")
    .addOption(mode)
    .addOption(freq)
    .addOption(size)
    .addHelpText(
      "after",
      "\nExample:\n  esptool -p /dev/ttyUSB0 write-flash 0x1000 bootloader.bin 0x8000 " +
        "partitions.bin 0x10000 app.bin",
    )
    .action(async (args, opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      if (opts.encryptFiles) {
        throw new UsageError(
          "--encrypt-files is not supported; write the encrypted files with --encrypt in a " +
            "write-flash of their own",
        );
      }
      if (opts.spiConnection) {
        throw new UsageError(
          "--spi-connection is not supported: espdelta attaches the flash on its default pins",
        );
      }
      await checkDiffWith(opts.diffWith);
      const settings = {
        flashMode: opts.flashMode,
        flashFreq: opts.flashFreq,
        flashSize: opts.flashSize,
      };
      // Every file is read and checked before the port is opened.
      const loaded = await loadArgs(args, g.chip, settings);
      const order = new Map(loaded.regions.map((r) => [r.offset, args.indexOf(r.file ?? "")]));
      await withSession(g, o, async ({ loader, chip, flashSize: detected, wireBaud }) => {
        o.info("Configuring flash size...");
        if (opts.flashSize === "detect") {
          o.info(`Auto-detected flash size: ${detected / 1048576}MB`);
        }
        const asked = flashSizeBytes(opts.flashSize);
        const flashSize = asked ? Math.min(asked, detected) : detected;
        const { regions, patches } = regionsForWrite(
          loaded,
          chip.name,
          detected,
          opts.force,
          loader.revision,
        );
        for (const p of patches) for (const line of p.split(/(?<=\.) /)) o.info(line);
        if (opts.skipFlashed || opts.diffWith || opts.trustFlashContent) {
          o.info(`NOTE: ${SUBSUMED_NOTE}`);
        }
        const showProgress = opts.progress !== false;
        const onProgress = (p: WriteFlashProgress) => {
          if (p.type === "erase-all") o.info("Erasing flash memory (this may take a while)...");
          else if (p.type === "rewrite") o.warn(`${p.region}: ${p.reason}; writing it again`);
          else if (!showProgress) return;
          else if (p.type === "start") {
            o.progressStart(`Writing at ${hex(p.region.offset, 8)}`, p.total);
          } else if (p.type === "progress") o.progress("write", p.done, p.total);
          else if (p.type === "end") o.progressEnd();
        };
        const result = await writeFlash(loader, regions, {
          flashSize,
          baud: wireBaud,
          full: opts.full,
          eraseAll: opts.eraseAll,
          encrypt: opts.encrypt,
          compress: opts.compress === false ? false : opts.compress === true ? true : "auto",
          signal: o.interrupt.signal,
        }, onProgress);
        const reports = [...result.regions].sort((a, b) =>
          (order.get(a.region.offset) ?? 0) - (order.get(b.region.offset) ?? 0)
        );
        for (const r of reports) {
          for (const line of fileLines(r, reports.length > 1)) o.info(line);
          o.event("region-done", {
            region: r.region.name,
            offset: r.region.offset,
            length: r.region.data.length,
            sectorsWritten: r.sectorsWritten,
            bytesSent: r.bytesSent,
          });
        }
        o.info("");
        o.result(`espdelta: ${result.summary}`, {
          outcome: result.outcome,
          sectorsWritten: result.regions.reduce((n, r) => n + r.sectorsWritten, 0),
          bytesSent: result.bytesSent,
        });
      }, { needFlashSize: true });
    });
}

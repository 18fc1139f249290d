/**
 * The esptool personality's device commands besides write-flash, with
 * esptool v5's options and output lines (cmds.py): read-flash,
 * verify-flash (with `--diff`), erase-flash, erase-region, read-mac,
 * chip-id and flash-id.
 * @module
 */

import { formatMac, jedecParts } from "../chips/chips.ts";
import { hex } from "../protocol/bytes.ts";
import { EspdeltaError } from "../protocol/errors.ts";
import { md5Hex } from "../plan/hash.ts";
import { regionsFromFiles } from "../image/files.ts";
import { patchFlashParams } from "../image/patch.ts";
import { flashSizeName } from "../image/targets.ts";
import { parsePairs, parseSize, parseU32, UsageError } from "./args.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";
import { withSession } from "./session.ts";
import { esptoolFlashOptions } from "./esptool_write.ts";
import { label } from "./esptool_text.ts";
import { diffLines } from "./verify_diff.ts";

const seconds = (from: number) => (performance.now() - from) / 1000;
const rate = (bytes: number, secs: number) =>
  secs > 0 ? ` (${(bytes / secs * 8 / 1000).toFixed(1)} kbit/s)` : "";

/** Refuses to erase a chip with flash encryption or secure boot on, unless forced (esptool). */
function securityRefusal(
  security: { flashEncryption: boolean; secureBoot: boolean; secureDownload: boolean } | undefined,
  force: boolean | undefined,
): void {
  if (force || !security || security.secureDownload) return;
  if (security.flashEncryption || security.secureBoot) {
    throw new UsageError(
      "Active security features detected, erasing flash is disabled as a safety measure. " +
        "Use the force argument to override, please use with caution, otherwise it may " +
        "brick your device!",
    );
  }
}

/** Registers the commands. */
export function register(program: Program, out: () => Output): void {
  program.command("read-flash")
    .description("read SIZE bytes of flash at ADDRESS into FILE")
    .argument("<address>", "flash address")
    .argument("<size>", "byte count, or ALL")
    .argument("<output>", "output file")
    .option("--no-progress", "no progress bar")
    .addOption(esptoolFlashOptions()[2])
    .addHelpText("after", "\nExample:\n  esptool -p /dev/ttyUSB0 read-flash 0 ALL backup.bin")
    .action(async (addrText, sizeText, file, opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const offset = parseU32(addrText, "address");
      const all = sizeText.toLowerCase() === "all";
      const asked = all ? 0 : parseSize(sizeText, "size");
      if (!all && asked === 0) throw new UsageError("size must be greater than 0");
      await withSession(g, o, async ({ loader, flashSize }) => {
        if (all) o.info(`Detected flash size: ${flashSizeName(flashSize)}`);
        const size = all ? flashSize - offset : asked;
        if (offset + size > flashSize) {
          throw new UsageError(
            `Can't access flash regions larger than detected flash size (set size ${
              hex(size)
            } from address ${hex(offset, 8)} goes past ${flashSizeName(flashSize)} by ${
              hex(offset + size - flashSize)
            } bytes).`,
          );
        }
        o.info("Configuring flash size...");
        const started = performance.now();
        if (opts.progress !== false) o.progressStart(`Reading from ${hex(offset, 8)}`, size);
        const data = await loader.read(
          offset,
          size,
          (done, total) => o.progress("read", done, total),
        );
        o.progressEnd();
        const secs = seconds(started);
        await Deno.writeFile(file, data);
        o.result(
          `Read ${data.length} bytes from ${hex(offset, 8)} in ${secs.toFixed(1)} seconds${
            rate(data.length, secs)
          } to '${file}'.`,
          { offset, length: data.length, file },
        );
      }, { needFlashSize: true });
    });

  const [mode, freq, size] = esptoolFlashOptions();
  program.command("verify-flash")
    .description("verify files against the flash by device MD5")
    .argument("<addr-filename...>", "ADDRESS FILE pairs")
    .option("-d, --diff", "show the differing bytes")
    .addOption(mode)
    .addOption(freq)
    .addOption(size)
    .addHelpText(
      "after",
      "\nExample:\n  esptool -p /dev/ttyUSB0 verify-flash --diff 0x10000 app.bin",
    )
    .action(async (args, opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const files = await regionsFromFiles(parsePairs(args));
      await withSession(g, o, async ({ loader, chip, flashSize }) => {
        o.info("Configuring flash size...");
        let mismatch = false;
        for (const r of files) {
          const params = { mode: opts.flashMode, freq: opts.flashFreq, size: opts.flashSize };
          let image = patchFlashParams(r.data, r.offset, chip.name, params, {
            detectedFlashSize: flashSize,
          }).bytes;
          if (image.length % 4 !== 0) {
            const padded = new Uint8Array(Math.ceil(image.length / 4) * 4).fill(0xff);
            padded.set(image);
            image = padded;
          }
          o.info(
            `Verifying ${hex(image.length)} (${image.length}) bytes at ${
              hex(r.offset, 8)
            } in flash against '${r.file}'...`,
          );
          const match = await loader.md5(r.offset, image.length) === md5Hex(image);
          o.event("region-done", { region: r.name, offset: r.offset, match });
          if (match) {
            o.info("Verification successful (digest matched).");
            continue;
          }
          mismatch = true;
          if (!opts.diff) {
            o.info("Verification failed (digest mismatch).");
            continue;
          }
          const flash = await loader.read(r.offset, image.length);
          for (const line of diffLines(r.offset, flash, image)) o.info(line);
        }
        if (mismatch) throw new EspdeltaError("VERIFY_MISMATCH", "Verification failed.");
      }, { needFlashSize: true });
    });

  program.command("erase-flash")
    .description("erase the whole flash")
    .option("--force", "erase even with flash encryption or secure boot on")
    .addHelpText("after", "\nExample:\n  esptool -p /dev/ttyUSB0 erase-flash")
    .action(async (opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      await withSession(g, o, async ({ loader }) => {
        securityRefusal(loader.security, opts.force);
        o.info("Erasing flash memory (this may take a while)...");
        const started = performance.now();
        await loader.eraseFlash();
        o.result(`Flash memory erased successfully in ${seconds(started).toFixed(1)} seconds.`);
      });
    });

  program.command("erase-region")
    .description("erase SIZE bytes at ADDRESS (both multiples of 4096)")
    .argument("<address>", "flash address")
    .argument("<size>", "byte count, or ALL")
    .option("--force", "erase even with flash encryption or secure boot on")
    .addHelpText("after", "\nExample:\n  esptool -p /dev/ttyUSB0 erase-region 0x9000 0x6000")
    .action(async (addrText, sizeText, opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const offset = parseU32(addrText, "address");
      const all = sizeText.toLowerCase() === "all";
      const asked = all ? 0 : parseSize(sizeText, "size");
      if (offset % 0x1000 !== 0) {
        throw new UsageError("Offset to erase from must be a multiple of 4096.");
      }
      if (asked % 0x1000 !== 0) {
        throw new UsageError("Size of data to erase must be a multiple of 4096.");
      }
      await withSession(g, o, async ({ loader, flashSize }) => {
        const length = all ? flashSize - offset : asked;
        if (offset + length > flashSize) {
          throw new UsageError(
            `Can't access flash regions larger than detected flash size (set size ${
              hex(length)
            } from address ${hex(offset, 8)} goes past ${flashSizeName(flashSize)} by ${
              hex(offset + length - flashSize)
            } bytes).`,
          );
        }
        securityRefusal(loader.security, opts.force);
        o.info("Erasing flash memory region (this may take a while depending on size)...");
        const started = performance.now();
        await loader.eraseRegion(offset, length);
        o.result(
          `Flash memory region erased successfully in ${seconds(started).toFixed(1)} seconds.`,
          { offset, size: length },
        );
      }, { needFlashSize: true });
    });

  program.command("read-mac")
    .description("print the chip's MAC address")
    .addHelpText("after", "\nExample:\n  esptool -p /dev/ttyUSB0 read-mac")
    .action(async (_opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      await withSession(g, o, async ({ loader, chip }) => {
        const mac = formatMac(await loader.readMac());
        o.event("chip", { chip: chip.name, mac });
        o.result(`${label("MAC")}${mac}`, { mac });
      });
    });

  program.command("chip-id")
    .description("print the chip id (ESP8266), else the MAC address")
    .addHelpText("after", "\nExample:\n  esptool -p /dev/ttyUSB0 chip-id")
    .action(async (_opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      await withSession(g, o, async ({ loader, chip }) => {
        const layout = chip.mac;
        if (layout.kind === "esp8266") {
          // esptool: the OTP words MAC0 and MAC1 hold the ESP8266's chip id.
          const id0 = await loader.readReg(layout.mac0);
          const id1 = await loader.readReg(layout.mac1);
          const id = ((id0 >>> 24) | ((id1 & 0xffffff) << 8)) >>> 0;
          o.result(`Chip ID: ${hex(id, 8)}`, { chipId: id });
          return;
        }
        o.warn(`${chip.displayName} has no chip ID. Reading MAC address instead.`);
        const mac = formatMac(await loader.readMac());
        o.event("chip", { chip: chip.name, mac });
        o.result(`${label("MAC")}${mac}`, { mac });
      });
    });

  program.command("flash-id")
    .description("print the SPI flash manufacturer and device id and its size")
    .addHelpText("after", "\nExample:\n  esptool -p /dev/ttyUSB0 flash-id")
    .action(async (_opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      await withSession(g, o, async ({ loader }) => {
        const id = await loader.flashId();
        const { manufacturer, device, size } = jedecParts(id);
        const title = "Flash Memory Information:";
        o.info(title);
        o.info("=".repeat(title.length));
        o.info(`Manufacturer: ${manufacturer.toString(16).padStart(2, "0")}`);
        o.info(`Device: ${device.toString(16).padStart(4, "0")}`);
        o.result(`Detected flash size: ${size === undefined ? "Unknown" : flashSizeName(size)}`, {
          manufacturer,
          device,
          flashSize: size ?? null,
        });
      });
    });
}

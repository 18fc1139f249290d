/**
 * `image-info` text, line for line as esptool v5 prints it for a raw image
 * file (from "Image size:" on; the CLI prints its own banner before it).
 * Warnings esptool prints while reading the image appear as "Warning: ..."
 * lines in the same places.
 * @module
 */

import type { ChipName } from "../chips/chips.ts";
import { toHex } from "../protocol/bytes.ts";
import { detectImageTarget, IMAGE_MAGIC, IMAGE_V2_MAGIC, parseImage } from "./app.ts";
import { ImageError } from "./errors.ts";
import { FLASH_MODES, imageTarget, nameOfCode, targetByChipId } from "./targets.ts";

/** Python's `format(n, "#0Wx")`: "0x" and zero-padded hex, `width` counting the prefix. */
function hexZ(n: number, width: number): string {
  return "0x" + (n >>> 0).toString(16).padStart(width - 2, "0");
}

/** Python's `format(n, "#Wx")`: "0x" and hex, right-aligned in `width` with spaces. */
function hexW(n: number, width: number): string {
  return ("0x" + (n >>> 0).toString(16)).padStart(width, " ");
}

const rev = (full: number) => `${Math.floor(full / 100)}.${full % 100}`;

function title(lines: string[], text: string): void {
  lines.push(text, "=".repeat(text.length));
}

/**
 * Formats image-info output for `bytes`. Without `chip` the chip is detected
 * from the header and a "Detected image type" line is printed, as esptool
 * does. Throws {@link ImageError} (`EMPTY`, `BAD_MAGIC` with esptool's
 * wording, or a structural defect from {@link parseImage}).
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { formatImageInfo } from "./info.ts";
 * import { writeImage } from "./app.ts";
 * const image = writeImage({ chip: "esp32c3", segments: [{ loadAddress: 0x3fc80000, data: new Uint8Array(16) }] });
 * const lines = formatImageInfo(image).split("\n");
 * deepStrictEqual(lines.slice(0, 2), ["Image size: 96 bytes", "Detected image type: ESP32-C3"]);
 * ```
 */
export function formatImageInfo(bytes: Uint8Array, chip?: ChipName | string): string {
  if (bytes.length === 0) throw new ImageError("EMPTY", "Image is empty.");
  if (bytes[0] !== IMAGE_MAGIC && bytes[0] !== IMAGE_V2_MAGIC) {
    throw new ImageError(
      "BAD_MAGIC",
      `This is not a valid image (invalid magic number: 0x${bytes[0].toString(16)}).`,
    );
  }
  const target = chip === undefined ? detectImageTarget(bytes) : imageTarget(chip);
  if (!target) throw new ImageError("UNKNOWN_CHIP", `unknown chip "${chip}"`);
  const image = parseImage(bytes, { chip: target.name, verify: false, allowOtherChip: true });
  const name = target.displayName;

  const lines: string[] = [`Image size: ${bytes.length} bytes`];
  if (chip === undefined) lines.push(`Detected image type: ${name}`);
  for (const w of image.warnings) lines.push(`Warning: ${w}`);

  lines.push("");
  title(lines, `${name} Image Header`);
  lines.push(`Image version: ${image.format === "esp8266-v2" ? 2 : 1}`);
  lines.push(image.entry !== 0 ? `Entry point: ${hexW(image.entry, 8)}` : "Entry point not set");
  lines.push(`Segments: ${image.segments.length}`);
  const size = nameOfCode(target.flashSizes, image.flashSizeCode);
  lines.push(
    size !== undefined
      ? `Flash size: ${size}`
      : `Warning: Invalid flash size (0x${(image.flashSizeCode << 4).toString(16)})`,
  );
  const freq = nameOfCode(target.flashFreqs, image.flashFreqCode);
  lines.push(
    freq !== undefined
      ? `Flash freq: ${freq}`
      : `Warning: Invalid flash frequency (0x${image.flashFreqCode.toString(16)})`,
  );
  const mode = nameOfCode(FLASH_MODES, image.flashMode);
  lines.push(
    mode !== undefined
      ? `Flash mode: ${mode.toUpperCase()}`
      : `Warning: Invalid flash mode (${image.flashMode})`,
  );

  const x = image.extended;
  if (x) {
    lines.push("");
    title(lines, `${name} Extended Image Header`);
    lines.push(`WP pin: 0x${x.wpPin.toString(16)}${x.wpPin === 0xee ? " (disabled)" : ""}`);
    const h = (n: number) => `0x${n.toString(16)}`;
    lines.push(
      `Flash pins drive settings: clk_drv: ${h(x.clkDrv)}, q_drv: ${h(x.qDrv)}, ` +
        `d_drv: ${h(x.dDrv)}, cs0_drv: ${h(x.csDrv)}, hd_drv: ${h(x.hdDrv)}, ` +
        `wp_drv: ${h(x.wpDrv)}`,
    );
    const owner = targetByChipId(x.chipId);
    lines.push(`Chip ID: ${x.chipId} (${owner ? owner.displayName : "Unknown ID"})`);
    lines.push(`Minimal chip revision: v${rev(x.minRevFull)}, (legacy min_rev = ${x.minRev})`);
    lines.push(`Maximal chip revision: v${rev(x.maxRevFull)}`);
  }
  lines.push("");

  title(lines, "Segments Information");
  lines.push("Segment   Length   Load addr   File offs  Memory types");
  lines.push("-------  -------  ----------  ----------  ------------");
  image.segments.forEach((s, i) => {
    lines.push(
      `${String(i).padStart(7)}  ${hexZ(s.length, 7)}  ${hexZ(s.loadAddress, 10)}  ` +
        `${hexZ(s.fileOffset, 10)}  ${s.memoryTypes.join(", ")}`,
    );
  });
  lines.push("");

  title(lines, `${name} Image Footer`);
  const c = image.checksum;
  lines.push(
    `Checksum: ${hexZ(c.stored, 4)} (${
      c.valid ? "valid" : `invalid - calculated ${hexZ(c.computed, 4)}`
    })`,
  );
  if (image.sha256) {
    lines.push(
      `Validation hash: ${toHex(image.sha256.computed)} (${
        image.sha256.valid ? "valid" : "invalid"
      })`,
    );
  }

  const a = image.appDesc;
  const b = image.bootloaderDesc;
  if (a) {
    lines.push("");
    title(lines, "Application Information");
    lines.push(`Project name: ${a.projectName}`);
    lines.push(`App version: ${a.version}`);
    lines.push(`Compile time: ${a.date} ${a.time}`);
    lines.push(`ELF file SHA256: ${a.elfSha256}`);
    lines.push(`ESP-IDF: ${a.idfVersion}`);
    lines.push(`Minimal eFuse block revision: ${rev(a.minEfuseBlkRevFull)}`);
    lines.push(`Maximal eFuse block revision: ${rev(a.maxEfuseBlkRevFull)}`);
    if (a.mmuPageSizeLog2 !== 0) {
      lines.push(`MMU page size: ${Math.floor(2 ** a.mmuPageSizeLog2 / 1024)} KB`);
    }
    lines.push(`Secure version: ${a.secureVersion}`);
  } else if (b) {
    lines.push("");
    title(lines, "Bootloader Information");
    lines.push(`Bootloader version: ${b.version}`);
    lines.push(`ESP-IDF: ${b.idfVersion}`);
    lines.push(`Compile time: ${b.dateTime}`);
  }
  return lines.join("\n") + "\n";
}

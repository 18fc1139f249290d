/**
 * Flash mode / frequency / size header patching at write time, exactly when
 * esptool v5 does it (protocol doc §6.5, esptool's
 * `_update_image_flash_params`): only at the chip's bootloader offset, only
 * when some setting is not `keep`, only for data that parses as an image for
 * the chip, and never with secure boot or Secure Download Mode. When byte 23
 * (hash appended) is 1 the SHA-256 after the checksum is recomputed; bytes
 * after the digest (merged binaries) are kept.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { headerFlashParams, patchFlashParams } from "./patch.ts";
 * import { parseImage, writeImage } from "./app.ts";
 * const bootloader = writeImage({ chip: "esp32c3", flashMode: "qio", flashFreq: "40m", flashSize: "2MB",
 *   segments: [{ loadAddress: 0x3fcd0000, data: new Uint8Array(64) }] });
 * const r = patchFlashParams(bootloader, 0x0, "esp32c3", { mode: "dio", freq: "80m", size: "4MB" });
 * deepStrictEqual([r.reason, r.message], ["patched", "Flash parameters set to 0x022f. SHA digest in image updated."]);
 * deepStrictEqual(headerFlashParams(r.bytes, "esp32c3"), { mode: "dio", freq: "80m", size: "4MB" });
 * deepStrictEqual(parseImage(r.bytes).sha256?.valid, true);
 * // Anywhere but the chip's bootloader offset, nothing changes.
 * deepStrictEqual(patchFlashParams(bootloader, 0x10000, "esp32c3", { mode: "dio" }).changed, false);
 * ```
 * @module
 */

import { type ChipName, CHIPS } from "../chips/chips.ts";
import { concat, hex } from "../protocol/bytes.ts";
import { type AppImage, IMAGE_MAGIC, MAX_SEGMENTS, parseImage, sha256 } from "./app.ts";
import { ImageError } from "./errors.ts";
import {
  codeOfName,
  FLASH_MODES,
  flashSizeName,
  type ImageTarget,
  nameOfCode,
  targetOf,
} from "./targets.ts";

/** The three settings as esptool's options spell them; absent means "keep". */
export interface FlashParams {
  /** "keep", "qio", "qout", "dio" or "dout". */
  mode?: string;
  /** "keep" or a frequency the chip supports, e.g. "40m", "80m" (ESP32-H2: "48m"...). */
  freq?: string;
  /** "keep", "detect" or a size such as "4MB" ("512KB", "2MB-c1" on ESP8266). */
  size?: string;
}

/** Options of {@link patchFlashParams}. */
export interface PatchOptions {
  /**
   * Flash size the device reported, in bytes, for `size: "detect"`; `null`
   * when detection failed (esptool then assumes 4MB). Leaving it out with
   * "detect" is an error: the caller has to ask the device first.
   */
  detectedFlashSize?: number | null;
  /** Secure boot or Secure Download Mode is on: esptool never patches then. */
  securityEnabled?: boolean;
  /** `bytes` already parsed (e.g. by `readImage`); used when read as `chip`'s image. */
  image?: AppImage;
}

/**
 * Why the bytes were or were not changed:
 * - `security-enabled`: secure boot / Secure Download Mode, settings left alone.
 * - `too-short`: fewer than 8 bytes.
 * - `not-bootloader-offset`: written elsewhere than the chip's bootloader offset.
 * - `all-keep`: every setting is `keep`.
 * - `not-an-image`: the data does not start with 0xE9.
 * - `invalid-image`: it starts with 0xE9 but does not parse as an image for the chip.
 * - `unchanged`: the header (and digest) already hold the requested values.
 * - `patched`: the header and/or the digest were rewritten.
 */
export type PatchReason =
  | "security-enabled"
  | "too-short"
  | "not-bootloader-offset"
  | "all-keep"
  | "not-an-image"
  | "invalid-image"
  | "unchanged"
  | "patched";

/** Outcome of {@link patchFlashParams}. */
export interface PatchResult {
  /** The bytes to write: the input itself when nothing changed, else a patched copy. */
  bytes: Uint8Array;
  /** True when `bytes` differ from the input. */
  changed: boolean;
  /** Why, see {@link PatchReason}. */
  reason: PatchReason;
  /** One line for the user, worded like esptool's notes and warnings. */
  message: string;
  /** Header bytes 2 and 3 as esptool prints them ("0x0220"), when the header was rewritten. */
  flashParams?: string;
  /** The appended SHA-256 was recomputed. */
  digestUpdated: boolean;
}

const keep = (v: string | undefined) => v === undefined || v === "keep";

function sizeCode(target: ImageTarget, size: string, options: PatchOptions): number {
  let name = size;
  if (size === "detect") {
    if (options.detectedFlashSize === undefined) {
      throw new ImageError(
        "DETECT_NEEDED",
        'flash size "detect" needs the size detected on the device; pass detectedFlashSize',
      );
    }
    // esptool falls back to 4MB when the flash id gives no size.
    name = options.detectedFlashSize === null ? "4MB" : flashSizeName(options.detectedFlashSize);
  }
  return supported(target, target.flashSizes, name, "size");
}

function freqCode(target: ImageTarget, freq: string): number {
  return supported(target, target.flashFreqs, freq, "frequency");
}

/** The code of `name` in one of the chip's tables, or a `BAD_ARGUMENT` listing the names it has. */
function supported(
  target: ImageTarget,
  table: readonly (readonly [string, number])[],
  name: string,
  what: string,
): number {
  const code = codeOfName(table, name);
  if (code === undefined) {
    throw new ImageError(
      "BAD_ARGUMENT",
      `flash ${what} ${name} is not supported by ${target.displayName} ` +
        `(supported: ${table.map(([n]) => n).join(", ")})`,
    );
  }
  return code;
}

function modeCode(mode: string): number {
  const code = codeOfName(FLASH_MODES, mode);
  if (code === undefined) {
    throw new ImageError(
      "BAD_ARGUMENT",
      `flash mode ${mode} is not one of ${FLASH_MODES.map(([n]) => n).join(", ")}`,
    );
  }
  return code;
}

/**
 * Rewrites the flash settings of a bootloader image about to be written at
 * `offset`, following esptool v5's rules (see the module doc). Throws
 * {@link ImageError} `BAD_ARGUMENT` for a setting the chip does not support
 * and `DETECT_NEEDED` for "detect" without a detected size; both only when a
 * patch would actually be attempted, as in esptool.
 */
export function patchFlashParams(
  bytes: Uint8Array,
  offset: number,
  chip: ChipName,
  params: FlashParams,
  options: PatchOptions = {},
): PatchResult {
  const info = CHIPS[chip];
  const target = targetOf(chip);
  const leave = (reason: PatchReason, message: string): PatchResult => ({
    bytes,
    changed: false,
    reason,
    message,
    digestUpdated: false,
  });
  if (options.securityEnabled) {
    return leave(
      "security-enabled",
      "Security features enabled, so not changing any flash settings.",
    );
  }
  if (bytes.length < 8) return leave("too-short", "too short to be a bootloader image");
  if (offset !== info.bootloaderOffset) {
    return leave(
      "not-bootloader-offset",
      `not at the ${info.displayName} bootloader offset ${hex(info.bootloaderOffset)}`,
    );
  }
  if (keep(params.mode) && keep(params.freq) && keep(params.size)) {
    return leave("all-keep", "all flash settings are keep");
  }
  if (bytes[0] !== IMAGE_MAGIC) {
    return leave(
      "not-an-image",
      `Image file at ${hex(offset)} doesn't look like an image file, ` +
        "so not changing any flash settings.",
    );
  }
  // esptool loads the data as the chip's bootloader image and checks the segment count;
  // checksum and digest are not checked, and a foreign chip id only warns.
  let dataLength: number;
  try {
    const image = options.image?.target === chip
      ? options.image
      : parseImage(bytes, { chip, verify: false, allowOtherChip: true });
    if (image.segments.length > MAX_SEGMENTS) throw new Error("too many segments");
    dataLength = image.checksum.offset + 1;
  } catch {
    return leave(
      "invalid-image",
      `Image file at ${hex(offset)} is not a valid ${info.displayName} image, ` +
        "so not changing any flash settings.",
    );
  }

  let mode = bytes[2];
  let freq = bytes[3] & 0x0f;
  let size = bytes[3] >> 4;
  if (!keep(params.mode)) mode = modeCode(params.mode!);
  if (!keep(params.freq)) freq = freqCode(target, params.freq!);
  if (!keep(params.size)) size = sizeCode(target, params.size!, options);

  let out = bytes;
  let flashParams: string | undefined;
  const newByte3 = (size << 4) | freq;
  if (mode !== bytes[2] || newByte3 !== bytes[3]) {
    out = bytes.slice();
    out[2] = mode;
    out[3] = newByte3;
    flashParams = "0x" + ((mode << 8) | newByte3).toString(16).padStart(4, "0");
  }

  // esptool's "not ESP8266" guard compares with a lower-case name and never
  // fires, so byte 23 is looked at for every chip. On ESP8266 esptool then
  // fails for want of a digest length; there is no digest, so we leave it.
  let digestUpdated = false;
  if (bytes.length > 23 && bytes[23] === 1 && chip !== "esp8266") {
    const digest = sha256(out.subarray(0, dataLength));
    const tail = out.subarray(Math.min(out.length, dataLength + 32));
    out = concat(out.subarray(0, dataLength), digest, tail);
    digestUpdated = true;
  }
  const changed = out.length !== bytes.length || out.some((b, i) => b !== bytes[i]);
  if (!changed) {
    return {
      bytes,
      changed: false,
      reason: "unchanged",
      message: "flash settings already match",
      digestUpdated: false,
    };
  }
  const parts: string[] = [];
  if (flashParams) parts.push(`Flash parameters set to ${flashParams}.`);
  if (digestUpdated) parts.push("SHA digest in image updated.");
  return {
    bytes: out,
    changed: true,
    reason: "patched",
    message: parts.join(" "),
    ...(flashParams ? { flashParams } : {}),
    digestUpdated,
  };
}

/** Header settings of an image as names ("dio", "40m", "4MB"); undefined where the code is invalid. */
export function headerFlashParams(
  bytes: Uint8Array,
  chip: ChipName,
): { mode?: string; freq?: string; size?: string } {
  const t = targetOf(chip);
  return {
    mode: nameOfCode(FLASH_MODES, bytes[2]),
    freq: nameOfCode(t.flashFreqs, bytes[3] & 0xf),
    size: nameOfCode(t.flashSizes, bytes[3] >> 4),
  };
}

/**
 * ESP firmware images (`.bin` from esptool elf2image / ESP-IDF): parser,
 * validator and the project's own writer. Layout (protocol doc §6):
 * 8-byte header, 16-byte extended header (ESP32 family), segments
 * (8-byte header + data each), zero padding, a one-byte XOR checksum that
 * ends a 16-byte unit, and an optional SHA-256 of everything before it.
 * ESP8266 "v1" images lack the extended header and digest; "v2" images
 * (magic 0xEA) carry an extra IROM segment and a CRC32.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { parseImage, writeImage } from "./app.ts";
 * const bin = writeImage({ chip: "esp32c3", entry: 0x40380000,
 *   segments: [{ loadAddress: 0x3fc80000, data: new Uint8Array(16) }] });
 * const image = parseImage(bin, { chip: "esp32c3" });
 * deepStrictEqual([image.segments.length, image.checksum.valid, image.sha256?.valid], [1, true, true]);
 * deepStrictEqual(bin.length, 24 + 8 + 16 + 16 + 32); // headers, data, checksum block, digest
 * ```
 * @module
 */

import { createHash } from "node:crypto";
import { CHIP_NAMES, type ChipName } from "../chips/chips.ts";
import { concat, equalBytes, hex, readU16, readU32, toHex, writeU32 } from "../protocol/bytes.ts";
import {
  type AppDesc,
  type BootloaderDesc,
  parseAppDesc,
  parseBootloaderDesc,
} from "./app_desc.ts";
import { ImageError } from "./errors.ts";
import {
  codeOfName,
  FLASH_MODES,
  IMAGE_TARGETS,
  type ImageTarget,
  imageTarget,
  memoryTypes,
  targetByChipId,
} from "./targets.ts";

/** First byte of every ESP image (and of the second header of ESP8266 v2 images). */
export const IMAGE_MAGIC = 0xe9;
/** First byte of an ESP8266 "v2" image. */
export const IMAGE_V2_MAGIC = 0xea;
/** Initial value of the XOR checksum. */
export const CHECKSUM_SEED = 0xef;
/** Size of the common plus extended header of ESP32-family images. */
export const ESP32_HEADER_SIZE = 24;
/** The ROM loads at most this many segments. */
export const MAX_SEGMENTS = 16;
/** The extended header's "WP pin disabled" value. */
export const WP_PIN_DISABLED = 0xee;

/** Which of the three image layouts a file uses. */
export type ImageFormat = "esp32" | "esp8266-v1" | "esp8266-v2";

/** One segment as stored in the file. */
export interface ImageSegment {
  /** Address the loader copies (or maps) the data to. */
  loadAddress: number;
  /** Data length in bytes (without the 8-byte segment header). */
  length: number;
  /** Offset of the segment header in the file (esptool's "File offs"). */
  fileOffset: number;
  /** Offset of the segment data in the file (`fileOffset + 8`). */
  dataOffset: number;
  /** False only for the IROM segment of an ESP8266 v2 image. */
  inChecksum: boolean;
  /** Memory regions the load address falls in, labelled as esptool does. */
  memoryTypes: string[];
}

/** Fields of the 16-byte extended header (ESP32 family only). */
export interface ExtendedHeader {
  /** WP GPIO used when SPI pins come from eFuse; 0xEE = disabled. */
  wpPin: number;
  /** CLK pin drive strength. */
  clkDrv: number;
  /** Q pin drive strength. */
  qDrv: number;
  /** D pin drive strength. */
  dDrv: number;
  /** CS0 pin drive strength. */
  csDrv: number;
  /** HD pin drive strength. */
  hdDrv: number;
  /** WP pin drive strength. */
  wpDrv: number;
  /** Chip id the image was built for. */
  chipId: number;
  /** Legacy single-byte minimum chip revision. */
  minRev: number;
  /** Minimum chip revision, major * 100 + minor. */
  minRevFull: number;
  /** Maximum chip revision, major * 100 + minor (65535 = not set). */
  maxRevFull: number;
  /** A SHA-256 digest follows the checksum. */
  hashAppended: boolean;
}

/** The stored and computed XOR checksum. */
export interface ImageChecksum {
  /** Byte stored in the file. */
  stored: number;
  /** Value computed from the segment data. */
  computed: number;
  /** stored === computed. */
  valid: boolean;
  /** File offset of the checksum byte. */
  offset: number;
}

/** The stored and computed SHA-256 digest. */
export interface ImageDigest {
  /** Bytes stored after the checksum (fewer than 32 if the file is cut short). */
  stored: Uint8Array;
  /** SHA-256 of the file up to and including the checksum byte. */
  computed: Uint8Array;
  /** The stored digest is complete and equals the computed one. */
  valid: boolean;
}

/** A parsed firmware image. */
export interface AppImage {
  /** Layout of the file. */
  format: ImageFormat;
  /** esptool target the image was read as (e.g. "esp32c61", "esp8266"). */
  target: string;
  /**
   * The chip, when certain and one espdelta supports; undefined for an ESP8266
   * v1 image read without a chip (its format has no chip id) and for targets
   * outside espdelta's chip table.
   */
  chip: ChipName | undefined;
  /** Segment count byte of the header. */
  segmentCount: number;
  /** Header byte 2: 0 QIO, 1 QOUT, 2 DIO, 3 DOUT. */
  flashMode: number;
  /** High nibble of header byte 3. */
  flashSizeCode: number;
  /** Low nibble of header byte 3. */
  flashFreqCode: number;
  /** Entry point address. */
  entry: number;
  /** Extended header, absent on ESP8266 images. */
  extended?: ExtendedHeader;
  /** Segments in file order (for v2 images the IROM segment comes first). */
  segments: ImageSegment[];
  /** XOR checksum of the segment data. */
  checksum: ImageChecksum;
  /** Appended SHA-256, present when the extended header says so. */
  sha256?: ImageDigest;
  /** ESP8266 v2 trailing CRC32 (esp8266 SDK variant), when the file has it. */
  crc32?: { stored: number; computed: number; valid: boolean };
  /** `esp_app_desc_t` from the first DROM segment, if it has one. */
  appDesc?: AppDesc;
  /** `esp_bootloader_desc_t` from the last large DRAM segment of an image without DROM. */
  bootloaderDesc?: BootloaderDesc;
  /** Offset just past the checksum block and digest (v2: past the CRC32). */
  end: number;
  /** Notes esptool prints as warnings while reading the image, in order. */
  warnings: string[];
}

/** Options of {@link parseImage}. */
export interface ParseImageOptions {
  /** Read the image as built for this chip (esptool target names accepted too). */
  chip?: ChipName | string;
  /** Throw on a wrong checksum or SHA-256 (default true); false reports them in the result. */
  verify?: boolean;
  /** Accept an extended header naming another chip, with a warning (default false). */
  allowOtherChip?: boolean;
}

/** XOR checksum as the ROM computes it, continuing from `state`. */
export function imageChecksum(data: Uint8Array, state = CHECKSUM_SEED): number {
  let c = state;
  for (let i = 0; i < data.length; i++) c ^= data[i];
  return c;
}

/** SHA-256 of `data`. */
export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(data).digest());
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC32 variant the ESP8266 SDK appends to v2 images. */
export function esp8266Crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  const crc = (c ^ 0xffffffff) >>> 0;
  return crc & 0x80000000 ? (crc ^ 0xffffffff) >>> 0 : crc + 1;
}

/** File offset of the checksum byte when the last segment ends at `pos`. */
export function checksumOffset(pos: number): number {
  return pos + (15 - (pos % 16));
}

/**
 * Whether `bytes` start with an image magic: 0xE9 (every ESP image) or 0xEA
 * (an ESP8266 v2 image). Says nothing about the rest; {@link readImage} does.
 */
export function hasImageMagic(bytes: Uint8Array): boolean {
  return bytes[0] === IMAGE_MAGIC || bytes[0] === IMAGE_V2_MAGIC;
}

/**
 * The chip id in an ESP32-family image header (bytes 12-13), or undefined
 * when `bytes` do not start like one: magic 0xE9, 1 to 16 segments, and a
 * hash-appended byte of 0 or 1.
 */
export function imageChipId(bytes: Uint8Array): number | undefined {
  if (bytes.length < ESP32_HEADER_SIZE || bytes[0] !== IMAGE_MAGIC) return undefined;
  if (bytes[1] === 0 || bytes[1] > MAX_SEGMENTS || bytes[23] > 1) return undefined;
  return readU16(bytes, 12);
}

/**
 * The target esptool's image-info would read `bytes` as, without a chip
 * option: 0xEA means ESP8266; otherwise an extended header whose last byte is
 * 0 or 1 and whose chip id byte is known names the chip, and anything else is
 * taken for an ESP8266 image.
 */
export function detectImageTarget(bytes: Uint8Array): ImageTarget {
  if (bytes.length === 0) throw new ImageError("EMPTY", "image is empty (0 bytes)");
  const magic = bytes[0];
  if (magic !== IMAGE_MAGIC && magic !== IMAGE_V2_MAGIC) throw badMagic(magic);
  const esp8266 = IMAGE_TARGETS[0];
  if (magic === IMAGE_V2_MAGIC || bytes.length < ESP32_HEADER_SIZE) return esp8266;
  if (bytes[23] > 1) return esp8266;
  // esptool looks at the low byte of the chip id only.
  return targetByChipId(bytes[12]) ?? esp8266;
}

/**
 * Like {@link detectImageTarget}, but confirms the guess: an ESP8266 v1 image
 * can look like an ESP32-family header (its first segment header sits where
 * the chip id is), so when the detected reading does not validate (checksum,
 * digest) and the ESP8266 reading does, ESP8266 wins. For picking the chip of
 * a build output; image-info keeps esptool's plain rule.
 */
export function identifyImageTarget(bytes: Uint8Array): ImageTarget {
  return readImage(bytes).target;
}

/**
 * An image read once: the target it was read as, and the parsed image, or
 * the {@link ImageError} that says why it is not a valid image for that
 * target.
 */
export interface ImageReading {
  /** The target the bytes were read as (see {@link identifyImageTarget}). */
  target: ImageTarget;
  /** The image, when it parses and validates (checksum, SHA-256) as `target`'s. */
  image?: AppImage;
  /** Why it does not, otherwise. */
  error?: ImageError;
}

/**
 * Reads `bytes` as a firmware image once, for both questions a caller has:
 * which chip it is for, and whether it is intact. The target is detected as
 * {@link detectImageTarget} does and confirmed as {@link identifyImageTarget}
 * says; the image is parsed and validated as that target's. Throws only for
 * bytes that are no image at all (`EMPTY`, `BAD_MAGIC`).
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { readImage, writeImage } from "./app.ts";
 * const bin = writeImage({ chip: "esp32c3", segments: [{ loadAddress: 0x3fc80000, data: new Uint8Array(8) }] });
 * deepStrictEqual([readImage(bin).target.name, readImage(bin).image?.chip], ["esp32c3", "esp32c3"]);
 * bin[33] ^= 1; // a flipped bit in the segment data
 * deepStrictEqual(readImage(bin).error?.code, "BAD_CHECKSUM");
 * ```
 */
export function readImage(bytes: Uint8Array): ImageReading {
  const guess = detectImageTarget(bytes);
  const read = (target: ImageTarget): ImageReading => {
    try {
      return { target, image: parseImage(bytes, { chip: target.name }) };
    } catch (e) {
      if (!(e instanceof ImageError)) throw e;
      return { target, error: e };
    }
  };
  const first = read(guess);
  if (first.image || guess.name === "esp8266") return first;
  // An ESP8266 v1 image can look like an ESP32-family header: when that
  // reading fails and the ESP8266 one holds, it is an ESP8266 image.
  const esp8266 = read(IMAGE_TARGETS[0]);
  return esp8266.image ? esp8266 : first;
}

function badMagic(magic: number): ImageError {
  return new ImageError(
    "BAD_MAGIC",
    `not an ESP firmware image: first byte is ${hex(magic, 2)}, expected 0xe9`,
  );
}

function chipOf(target: ImageTarget): ChipName | undefined {
  return (CHIP_NAMES as readonly string[]).includes(target.name)
    ? target.name as ChipName
    : undefined;
}

/** Reads segments from `pos`, checking the file holds each one completely. */
function readSegments(
  bytes: Uint8Array,
  pos: number,
  count: number,
  target: ImageTarget,
  firstBase: number,
): { segments: ImageSegment[]; pos: number } {
  const segments: ImageSegment[] = [];
  for (let i = 0; i < count; i++) {
    if (pos + 8 > bytes.length) {
      throw new ImageError(
        "TRUNCATED",
        `image is truncated: segment ${firstBase + i} header at ${hex(pos)} ` +
          `runs past the end of the file (${bytes.length} bytes)`,
      );
    }
    const loadAddress = readU32(bytes, pos);
    const length = readU32(bytes, pos + 4);
    const left = bytes.length - (pos + 8);
    if (length > left) {
      throw new ImageError(
        "TRUNCATED",
        `image is truncated: segment ${firstBase + i} (load ${hex(loadAddress, 8)}, ` +
          `length ${length}) has only ${left} bytes left in the file`,
      );
    }
    segments.push({
      loadAddress,
      length,
      fileOffset: pos,
      dataOffset: pos + 8,
      inChecksum: true,
      memoryTypes: memoryTypes(target, loadAddress),
    });
    pos += 8 + length;
  }
  return { segments, pos };
}

function readChecksum(bytes: Uint8Array, pos: number, segments: ImageSegment[]): ImageChecksum {
  const offset = checksumOffset(pos);
  if (offset >= bytes.length) {
    throw new ImageError(
      "TRUNCATED",
      `image is truncated: the checksum byte at ${hex(offset)} is past the end of the file ` +
        `(${bytes.length} bytes)`,
    );
  }
  let computed = CHECKSUM_SEED;
  for (const s of segments) {
    if (s.inChecksum) {
      computed = imageChecksum(bytes.subarray(s.dataOffset, s.dataOffset + s.length), computed);
    }
  }
  const stored = bytes[offset];
  return { stored, computed, valid: stored === computed, offset };
}

function readExtended(bytes: Uint8Array): ExtendedHeader {
  return {
    wpPin: bytes[8],
    clkDrv: bytes[9] & 0xf,
    qDrv: bytes[9] >> 4,
    dDrv: bytes[10] & 0xf,
    csDrv: bytes[10] >> 4,
    hdDrv: bytes[11] & 0xf,
    wpDrv: bytes[11] >> 4,
    chipId: readU16(bytes, 12),
    minRev: bytes[14],
    minRevFull: readU16(bytes, 15),
    maxRevFull: readU16(bytes, 17),
    hashAppended: bytes[23] === 1,
  };
}

/** Finds the descriptors the way esptool's image-info does. */
function descriptors(
  bytes: Uint8Array,
  segments: ImageSegment[],
): { appDesc?: AppDesc; bootloaderDesc?: BootloaderDesc } {
  let appSeg: ImageSegment | undefined;
  let bootSeg: ImageSegment | undefined;
  for (const s of segments) {
    if (s.memoryTypes.includes("DROM") && appSeg === undefined) appSeg = s;
    else if (s.memoryTypes.includes("DRAM") && s.length >= 80) bootSeg = s;
  }
  const data = (s: ImageSegment) => bytes.subarray(s.dataOffset, s.dataOffset + s.length);
  // An empty DROM segment does not count, as in esptool (empty bytes are falsy).
  if (appSeg && appSeg.length > 0) {
    const appDesc = parseAppDesc(data(appSeg));
    return appDesc ? { appDesc } : {};
  }
  if (bootSeg) {
    const bootloaderDesc = parseBootloaderDesc(data(bootSeg));
    return bootloaderDesc ? { bootloaderDesc } : {};
  }
  return {};
}

/**
 * Parses and (by default) validates a firmware image.
 *
 * Structural defects always throw an {@link ImageError}: `EMPTY`,
 * `BAD_MAGIC`, `BAD_HEADER`, `TRUNCATED`, `WRONG_CHIP` (unless
 * `allowOtherChip`), `UNKNOWN_CHIP`. With `verify` (the default) it also
 * throws `TOO_MANY_SEGMENTS`, `BAD_CHECKSUM` and `BAD_SHA256` (or `TRUNCATED`
 * for a cut-off digest); with `verify: false` those are reported in the
 * result's `valid` fields and `warnings` instead.
 *
 * Bytes after `end` (a signature, a merged binary's other parts) are ignored.
 */
export function parseImage(bytes: Uint8Array, options: ParseImageOptions = {}): AppImage {
  const verify = options.verify ?? true;
  if (bytes.length === 0) throw new ImageError("EMPTY", "image is empty (0 bytes)");
  const magic = bytes[0];
  if (magic !== IMAGE_MAGIC && magic !== IMAGE_V2_MAGIC) throw badMagic(magic);
  let target: ImageTarget;
  if (options.chip !== undefined) {
    const t = imageTarget(options.chip);
    if (!t) throw new ImageError("UNKNOWN_CHIP", `unknown chip "${options.chip}"`);
    target = t;
  } else {
    target = detectImageTarget(bytes);
  }
  if (target.name !== "esp8266" && magic === IMAGE_V2_MAGIC) {
    throw new ImageError(
      "BAD_MAGIC",
      `first byte 0xea marks an ESP8266 v2 image, not an ${target.displayName} image`,
    );
  }
  const image = target.name === "esp8266"
    ? parseEsp8266(bytes, target, options.chip !== undefined)
    : parseEsp32(bytes, target, options.allowOtherChip ?? false);
  if (verify) check(image);
  return image;
}

/** Throws the first integrity defect of a parsed image (segment count, checksum, digest). */
export function check(image: AppImage): void {
  if (image.segments.length > MAX_SEGMENTS) {
    throw new ImageError(
      "TOO_MANY_SEGMENTS",
      `image has ${image.segments.length} segments, the ROM loads at most ${MAX_SEGMENTS} ` +
        "(linker script problem?)",
    );
  }
  const c = image.checksum;
  if (!c.valid) {
    throw new ImageError(
      "BAD_CHECKSUM",
      `image checksum is ${hex(c.stored, 2)} at ${hex(c.offset)}, computed ${
        hex(c.computed, 2)
      }: ` +
        "the segment data is corrupted",
    );
  }
  const d = image.sha256;
  if (d && d.stored.length < 32) {
    throw new ImageError(
      "TRUNCATED",
      `image is truncated: the SHA-256 digest after the checksum has ${d.stored.length} of 32 bytes`,
    );
  }
  if (d && !d.valid) {
    throw new ImageError(
      "BAD_SHA256",
      `image SHA-256 is ${toHex(d.stored)}, computed ${toHex(d.computed)}: ` +
        "the image was changed after it was built",
    );
  }
}

function parseEsp32(bytes: Uint8Array, target: ImageTarget, allowOtherChip: boolean): AppImage {
  const name = target.displayName;
  if (bytes.length < ESP32_HEADER_SIZE) {
    throw new ImageError(
      "TRUNCATED",
      `image is truncated: ${bytes.length} bytes, an ${name} image header needs 24`,
    );
  }
  if (bytes[23] > 1) {
    throw new ImageError(
      "BAD_HEADER",
      `hash-appended byte at offset 23 is ${hex(bytes[23], 2)}, must be 0 or 1 ` +
        `(not an ${name} image?)`,
    );
  }
  const extended = readExtended(bytes);
  const warnings: string[] = [];
  if (extended.chipId !== target.imageChipId) {
    const other = targetByChipId(extended.chipId);
    if (!allowOtherChip) {
      throw new ImageError(
        "WRONG_CHIP",
        other
          ? `image is built for ${other.displayName} (chip id ${extended.chipId}), not ${name}`
          : `image has unknown chip id ${extended.chipId}, not ${name} (${target.imageChipId})`,
      );
    }
    warnings.push(
      `Unexpected chip ID in image. Expected ${target.imageChipId} but value was ` +
        `${extended.chipId}. Is this image for a different chip model?`,
    );
  }
  const { segments, pos } = readSegments(bytes, ESP32_HEADER_SIZE, bytes[1], target, 0);
  const checksum = readChecksum(bytes, pos, segments);
  let end = checksum.offset + 1;
  let digest: ImageDigest | undefined;
  if (extended.hashAppended) {
    const stored = bytes.slice(end, end + 32);
    const computed = sha256(bytes.subarray(0, end));
    digest = { stored, computed, valid: equalBytes(stored, computed) };
    end += 32;
  }
  return {
    format: "esp32",
    target: target.name,
    chip: chipOf(target),
    ...headerFields(bytes, 0),
    extended,
    segments,
    checksum,
    ...(digest ? { sha256: digest } : {}),
    ...descriptors(bytes, segments),
    end,
    warnings,
  };
}

/** The fields of the 8-byte common header at `at`. */
function headerFields(
  bytes: Uint8Array,
  at: number,
): Pick<AppImage, "segmentCount" | "flashMode" | "flashSizeCode" | "flashFreqCode" | "entry"> {
  return {
    segmentCount: bytes[at + 1],
    flashMode: bytes[at + 2],
    flashSizeCode: bytes[at + 3] >> 4,
    flashFreqCode: bytes[at + 3] & 0xf,
    entry: readU32(bytes, at + 4),
  };
}

function suspicious(segments: ImageSegment[], warnings: string[]): void {
  for (const s of segments) {
    if (s.loadAddress > 0x40200000 || s.loadAddress < 0x3ffe0000 || s.length > 65536) {
      warnings.push(`Suspicious segment ${hex(s.loadAddress)}, length ${s.length}`);
    }
  }
}

function parseEsp8266(bytes: Uint8Array, target: ImageTarget, chipGiven: boolean): AppImage {
  const warnings: string[] = [];
  if (bytes.length < 8) {
    throw new ImageError(
      "TRUNCATED",
      `image is truncated: ${bytes.length} bytes, an image header needs 8`,
    );
  }
  if (bytes[0] === IMAGE_MAGIC) {
    const { segments, pos } = readSegments(bytes, 8, bytes[1], target, 0);
    suspicious(segments, warnings);
    const checksum = readChecksum(bytes, pos, segments);
    return {
      format: "esp8266-v1",
      target: target.name,
      chip: chipGiven ? "esp8266" : undefined,
      ...headerFields(bytes, 0),
      segments,
      checksum,
      ...descriptors(bytes, segments),
      end: checksum.offset + 1,
      warnings,
    };
  }
  // v2: a first header, the IROM segment (stored with load address 0, not
  // checksummed), then an ordinary v1 image and a CRC32.
  if (bytes[1] !== 4) {
    warnings.push(`V2 header has unexpected "segment" count ${bytes[1]} (usually 4)`);
  }
  const first = readSegments(bytes, 8, 1, target, 0);
  const irom = { ...first.segments[0], loadAddress: 0, inChecksum: false, memoryTypes: [] };
  const h = first.pos;
  if (h + 8 > bytes.length) {
    throw new ImageError(
      "TRUNCATED",
      `image is truncated: the second header at ${hex(h)} runs past the end of the file`,
    );
  }
  if (bytes[h] !== IMAGE_MAGIC) {
    throw new ImageError(
      "BAD_MAGIC",
      `ESP8266 v2 image: second header at ${hex(h)} starts with ${hex(bytes[h], 2)}, expected 0xe9`,
    );
  }
  if (bytes[h + 2] !== bytes[2]) {
    warnings.push(
      `Flash mode value in first header (${hex(bytes[2], 2)}) disagrees with second ` +
        `(${hex(bytes[h + 2], 2)}). Using second value.`,
    );
  }
  if (bytes[h + 3] !== bytes[3]) {
    warnings.push(
      `Flash size/freq value in first header (${hex(bytes[3], 2)}) disagrees with second ` +
        `(${hex(bytes[h + 3], 2)}). Using second value.`,
    );
  }
  if (readU32(bytes, h + 4) !== readU32(bytes, 4)) {
    warnings.push(
      `Entrypoint address in first header (${hex(readU32(bytes, 4), 8)}) disagrees with ` +
        `second header (${hex(readU32(bytes, h + 4), 8)}). Using second value.`,
    );
  }
  const rest = readSegments(bytes, h + 8, bytes[h + 1], target, 1);
  suspicious(rest.segments, warnings);
  const segments = [irom, ...rest.segments];
  const checksum = readChecksum(bytes, rest.pos, segments);
  let end = checksum.offset + 1;
  let crc32: AppImage["crc32"];
  if (end + 4 <= bytes.length) {
    const stored = readU32(bytes, end);
    const computed = esp8266Crc32(bytes.subarray(0, end));
    crc32 = { stored, computed, valid: stored === computed };
    end += 4;
  }
  return {
    format: "esp8266-v2",
    target: target.name,
    chip: "esp8266",
    ...headerFields(bytes, h),
    segments,
    checksum,
    ...(crc32 ? { crc32 } : {}),
    ...descriptors(bytes, segments),
    end,
    warnings,
  };
}

/** A segment to write. */
export interface SegmentSpec {
  /** Load address. */
  loadAddress: number;
  /** Data; padded with zeros to a multiple of 4 bytes, as esptool does. */
  data: Uint8Array;
}

/** What {@link writeImage} encodes. Every field has a sensible default. */
export interface ImageSpec {
  /** Chip (or esptool target) the image is for; default "esp32". */
  chip?: ChipName | string;
  /** Layout; default "esp8266-v1" for ESP8266 and "esp32" for the rest. */
  format?: ImageFormat;
  /** Flash mode name ("dio") or code; default "dio". */
  flashMode?: string | number;
  /** Flash size name ("4MB") or code (high nibble value); default "4MB" ("512KB" on ESP8266). */
  flashSize?: string | number;
  /** Flash frequency name ("40m") or code; default "40m" (the chip's code 0). */
  flashFreq?: string | number;
  /** Entry point; default 0. */
  entry?: number;
  /** Segments, written in this order. */
  segments: SegmentSpec[];
  /** ESP8266 v2 only: the IROM data stored before the second header. */
  irom?: Uint8Array;
  /** Extended header WP pin; default 0xEE (disabled). */
  wpPin?: number;
  /** Drive strengths, 4 bits each; default 0. */
  drive?: Partial<Record<"clk" | "q" | "d" | "cs" | "hd" | "wp", number>>;
  /** Chip id to write instead of the chip's own (to make wrong-chip images). */
  chipId?: number;
  /** Legacy minimum revision byte; default 0. */
  minRev?: number;
  /** Minimum revision, major * 100 + minor; default 0. */
  minRevFull?: number;
  /** Maximum revision, major * 100 + minor; default 65535 (not set). */
  maxRevFull?: number;
  /** Append the SHA-256 digest; default true for ESP32-family images. */
  hashAppended?: boolean;
  /** Segment count byte to write instead of the real count (to make defective images). */
  segmentCount?: number;
}

function code(
  value: string | number | undefined,
  table: readonly (readonly [string, number])[],
  fallback: number,
  what: string,
): number {
  if (value === undefined) return fallback;
  if (typeof value === "number") return value;
  const c = codeOfName(table, value);
  if (c === undefined) throw new ImageError("BAD_SPEC", `unknown flash ${what} "${value}"`);
  return c;
}

/**
 * The project's image writer: header, extended header, segments, zero
 * padding, checksum and (by default on ESP32-family chips) the SHA-256 digest.
 * Used by tests to make valid and defective images and by benchmarks.
 */
export function writeImage(spec: ImageSpec): Uint8Array {
  const target = imageTarget(spec.chip ?? "esp32");
  if (!target) throw new ImageError("UNKNOWN_CHIP", `unknown chip "${spec.chip}"`);
  const format = spec.format ?? (target.name === "esp8266" ? "esp8266-v1" : "esp32");
  if ((format === "esp32") === (target.name === "esp8266")) {
    throw new ImageError("BAD_SPEC", `format ${format} does not fit ${target.displayName}`);
  }
  const mode = code(spec.flashMode, FLASH_MODES, 2, "mode");
  const size = code(spec.flashSize, target.flashSizes, target.name === "esp8266" ? 0 : 2, "size");
  const freq = code(spec.flashFreq, target.flashFreqs, 0, "frequency");
  const sizeFreq = ((size & 0xf) << 4) | (freq & 0xf);
  const entry = spec.entry ?? 0;
  const segments = spec.segments.map((s) => ({ addr: s.loadAddress, data: pad4(s.data) }));

  const parts: number[] = [];
  const push = (b: ArrayLike<number>) => {
    for (let i = 0; i < b.length; i++) parts.push(b[i]);
  };
  const u32 = (v: number) => {
    const b = new Uint8Array(4);
    writeU32(b, 0, v >>> 0);
    return b;
  };
  const header = (magic: number, count: number) => {
    push([magic, count & 0xff, mode, sizeFreq]);
    push(u32(entry));
  };

  if (format === "esp8266-v2") {
    header(IMAGE_V2_MAGIC, 4);
    const irom = padTo(spec.irom ?? new Uint8Array(0), 16);
    push(u32(0));
    push(u32(irom.length));
    push(irom);
  }
  header(IMAGE_MAGIC, spec.segmentCount ?? segments.length);
  const hashAppended = format === "esp32" && (spec.hashAppended ?? true);
  if (format === "esp32") {
    const d = spec.drive ?? {};
    const nib = (lo = 0, hi = 0) => (lo & 0xf) | ((hi & 0xf) << 4);
    const chipId = spec.chipId ?? target.imageChipId ?? 0;
    const min = spec.minRevFull ?? 0;
    const max = spec.maxRevFull ?? 0xffff;
    push([
      spec.wpPin ?? WP_PIN_DISABLED,
      nib(d.clk, d.q),
      nib(d.d, d.cs),
      nib(d.hd, d.wp),
      chipId & 0xff,
      chipId >> 8,
      spec.minRev ?? 0,
      min & 0xff,
      min >> 8,
      max & 0xff,
      max >> 8,
      0,
      0,
      0,
      0,
      hashAppended ? 1 : 0,
    ]);
  }
  let checksum = CHECKSUM_SEED;
  for (const s of segments) {
    push(u32(s.addr));
    push(u32(s.data.length));
    push(s.data);
    checksum = imageChecksum(s.data, checksum);
  }
  const cpos = checksumOffset(parts.length);
  while (parts.length < cpos) parts.push(0);
  parts.push(checksum);
  let out: Uint8Array = new Uint8Array(parts);
  if (hashAppended) {
    out = concat(out, sha256(out));
  } else if (format === "esp8266-v2") {
    out = concat(out, u32(esp8266Crc32(out)));
  }
  return out;
}

function padTo(data: Uint8Array, align: number): Uint8Array {
  if (data.length % align === 0) return data;
  const out = new Uint8Array(data.length + align - (data.length % align));
  out.set(data);
  return out;
}

function pad4(data: Uint8Array): Uint8Array {
  return padTo(data, 4);
}

/**
 * The emulator's own reader of what a chip boots from flash: the ESP image
 * header and its segments, checksum and appended SHA-256, ESP-IDF's
 * `esp_app_desc_t` and `esp_bootloader_desc_t`, the partition table and the
 * OTA data sectors. Written to the layouts in ESP-IDF's headers
 * (esp_app_format.h, esp_app_desc.h, esp_bootloader_desc.h,
 * esp_flash_partitions.h, esp_ota_ops.h), not shared with the client's
 * image code: the virtual device must not inherit the client's reading.
 * Nothing here prints; the boot models decide what a failure looks like.
 * @module
 */

import { createHash } from "node:crypto";

/** Bytes of the image header (common part and extended part). */
export const IMAGE_HEADER_SIZE = 24;
/** First byte of every ESP image. */
export const IMAGE_MAGIC = 0xe9;
/** `ESP_IMAGE_MAX_SEGMENTS`. */
export const MAX_SEGMENTS = 16;
/** `ESP_APP_DESC_MAGIC_WORD`. */
export const APP_DESC_MAGIC = 0xabcd5432;
/** `ESP_BOOTLOADER_DESC_MAGIC_BYTE`. */
export const BOOTLOADER_DESC_MAGIC = 0x50;
/** Partition table entry magic, as the little-endian u16 reads it. */
export const PARTITION_MAGIC = 0x50aa;
/** The MD5 entry's magic. */
export const PARTITION_MD5_MAGIC = 0xebeb;

/** Reads `length` bytes of flash at `offset` (beyond the end reads as erased). */
export type FlashRead = (offset: number, length: number) => Uint8Array;

/** One segment header and where its data sits in flash. */
export interface SegmentInfo {
  /** Load address. */
  loadAddr: number;
  /** Data length from the segment header. */
  length: number;
  /** Flash offset of the data (after the 8-byte segment header). */
  dataOffset: number;
}

/** The image header fields the ROM and the bootloader read. */
export interface ImageHeader {
  /** Byte 0. */
  magic: number;
  /** Byte 1. */
  segmentCount: number;
  /** Byte 2: 0 QIO, 1 QOUT, 2 DIO, 3 DOUT. */
  spiMode: number;
  /** Low nibble of byte 3. */
  spiSpeed: number;
  /** High nibble of byte 3. */
  spiSize: number;
  /** Entry point. */
  entry: number;
  /** Extended header: chip id. */
  chipId: number;
  /** Extended header: minimum chip revision, major * 100 + minor. */
  minRevFull: number;
  /** Extended header: maximum chip revision, major * 100 + minor. */
  maxRevFull: number;
  /** Extended header byte 23: a SHA-256 follows the image. */
  hashAppended: boolean;
  /** The first word, as the ROM prints it in `invalid header: 0x...`. */
  firstWord: number;
}

const u16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
const u32 = (b: Uint8Array, o: number) =>
  (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;

/** Text of a NUL-terminated (or full) char array. */
export function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** Parses the 24 header bytes at `offset`. */
export function readHeader(read: FlashRead, offset: number): ImageHeader {
  const h = read(offset, IMAGE_HEADER_SIZE);
  return {
    magic: h[0],
    segmentCount: h[1],
    spiMode: h[2],
    spiSpeed: h[3] & 0xf,
    spiSize: h[3] >> 4,
    entry: u32(h, 4),
    chipId: u16(h, 12),
    minRevFull: u16(h, 15),
    maxRevFull: u16(h, 17),
    hashAppended: h[23] === 1,
    firstWord: u32(h, 0),
  };
}

/** Reads one segment header at `offset` (the 8 bytes before its data). */
export function readSegment(read: FlashRead, offset: number): SegmentInfo {
  const s = read(offset, 8);
  return { loadAddr: u32(s, 0), length: u32(s, 4), dataOffset: offset + 8 };
}

/**
 * The checksum as esp_image_format.c computes it: the data words of every
 * segment XORed onto `ESP_ROM_CHECKSUM_INITIAL` (0xEF), folded to a byte.
 */
export function segmentChecksum(read: FlashRead, segments: readonly SegmentInfo[]): number {
  let x = 0xef;
  for (const s of segments) {
    const data = read(s.dataOffset, s.length);
    for (const b of data) x ^= b;
  }
  return x & 0xff;
}

/** Where the checksum byte of an image whose header and segments end at `end` sits. */
export function checksumPosition(start: number, end: number): number {
  const unpadded = end - start;
  const padded = (unpadded + 1 + 15) & ~15;
  return start + padded - 1;
}

/** SHA-256 of flash [offset, offset + length). */
export function sha256Of(read: FlashRead, offset: number, length: number): Uint8Array {
  return new Uint8Array(createHash("sha256").update(read(offset, length)).digest());
}

/** Lower-case hex. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** ESP-IDF's `esp_app_desc_t` (256 bytes at the start of the first segment's data). */
export interface AppDesc {
  /** `secure_version`. */
  secureVersion: number;
  /** `version`. */
  version: string;
  /** `project_name`. */
  projectName: string;
  /** `time` (`__TIME__`). */
  time: string;
  /** `date` (`__DATE__`). */
  date: string;
  /** `idf_ver`. */
  idfVer: string;
  /** `app_elf_sha256`, 32 bytes. */
  elfSha256: Uint8Array;
}

/** Parses an `esp_app_desc_t` from its 256 bytes; undefined without the magic word. */
export function parseAppDesc(b: Uint8Array): AppDesc | undefined {
  if (b.length < 256 || u32(b, 0) !== APP_DESC_MAGIC) return undefined;
  return {
    secureVersion: u32(b, 4),
    version: cString(b.subarray(16, 48)),
    projectName: cString(b.subarray(48, 80)),
    time: cString(b.subarray(80, 96)),
    date: cString(b.subarray(96, 112)),
    idfVer: cString(b.subarray(112, 144)),
    elfSha256: b.slice(144, 176),
  };
}

/** ESP-IDF's `esp_bootloader_desc_t` (80 bytes, v5.2 and later bootloaders). */
export interface BootloaderDesc {
  /** `version`. */
  version: number;
  /** `idf_ver`. */
  idfVer: string;
  /** `date_time`. */
  dateTime: string;
}

/** Parses an `esp_bootloader_desc_t`; undefined without the magic byte. */
export function parseBootloaderDesc(b: Uint8Array): BootloaderDesc | undefined {
  if (b.length < 80 || b[0] !== BOOTLOADER_DESC_MAGIC) return undefined;
  const idfVer = cString(b.subarray(8, 40));
  if (!/^v?\d/.test(idfVer)) return undefined;
  return { version: u32(b, 4), idfVer, dateTime: cString(b.subarray(40, 64)) };
}

/** One partition table entry. */
export interface PartitionEntry {
  /** Index in the table. */
  index: number;
  /** `type`. */
  type: number;
  /** `subtype`. */
  subtype: number;
  /** Offset. */
  offset: number;
  /** Size. */
  size: number;
  /** Label. */
  label: string;
}

/** Why a partition table is not valid, as `esp_partition_table_verify` says it. */
export type PartitionTableError =
  | { kind: "bad-magic"; index: number; magic: number }
  | { kind: "too-big"; index: number; offset: number; size: number; chipSize: number }
  | { kind: "md5" }
  | { kind: "two-md5" }
  | { kind: "no-end" };

/**
 * Reads and verifies the table at `offset` (0xC00 bytes, 95 entries at most)
 * with `esp_partition_table_verify`'s rules.
 */
export function readPartitionTable(
  read: FlashRead,
  offset: number,
  chipSize: number,
): { entries: PartitionEntry[] } | { error: PartitionTableError } {
  const table = read(offset, 0xc00);
  const entries: PartitionEntry[] = [];
  let md5Found = false;
  for (let i = 0; i < 95; i++) {
    const e = table.subarray(i * 32, i * 32 + 32);
    const magic = u16(e, 0);
    if (magic === PARTITION_MAGIC) {
      const pOff = u32(e, 4);
      const pSize = u32(e, 8);
      if (pOff > chipSize || pOff + pSize > chipSize) {
        return { error: { kind: "too-big", index: i, offset: pOff, size: pSize, chipSize } };
      }
      entries.push({
        index: entries.length,
        type: e[2],
        subtype: e[3],
        offset: pOff,
        size: pSize,
        label: cString(e.subarray(12, 28)),
      });
    } else if (magic === PARTITION_MD5_MAGIC) {
      if (md5Found) return { error: { kind: "two-md5" } };
      const digest = createHash("md5").update(table.subarray(0, i * 32)).digest();
      if (!digest.equals(e.subarray(16, 32))) return { error: { kind: "md5" } };
      md5Found = true;
    } else if (i !== 0 && magic === 0xffff && e[2] === 0xff && e[3] === 0xff) {
      return { entries };
    } else {
      return { error: { kind: "bad-magic", index: i, magic } };
    }
  }
  return { error: { kind: "no-end" } };
}

/** CRC-32 as `esp_rom_crc32_le(init, ...)` computes it. */
export function crc32le(init: number, data: Uint8Array): number {
  let crc = ~init >>> 0;
  for (const b of data) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return ~crc >>> 0;
}

/** One `esp_ota_select_entry_t`: its sequence number, or undefined when erased or bad. */
export function otaSequence(entry: Uint8Array): number | undefined {
  const seq = u32(entry, 0);
  if (seq === 0xffffffff) return undefined;
  const crc = u32(entry, 28);
  return crc32le(0xffffffff, entry.subarray(0, 4)) === crc ? seq : undefined;
}

/**
 * ESP-IDF's descriptors embedded in images: `esp_app_desc_t` (256 bytes at
 * the start of an app's first DROM segment) and `esp_bootloader_desc_t`
 * (80 bytes at the start of a bootloader's DRAM segment). Read and written
 * here, once.
 * @module
 */

import { readU16, readU32, toHex, writeU32 } from "../protocol/bytes.ts";

/** Magic word of `esp_app_desc_t`. */
export const APP_DESC_MAGIC = 0xabcd5432;
/** Size of `esp_app_desc_t`. */
export const APP_DESC_SIZE = 256;
/** Magic byte of `esp_bootloader_desc_t`. */
export const BOOTLOADER_DESC_MAGIC = 0x50;
/** Size of `esp_bootloader_desc_t`. */
export const BOOTLOADER_DESC_SIZE = 80;

/** The application description ESP-IDF links into every app. */
export interface AppDesc {
  /** Anti-rollback secure version. */
  secureVersion: number;
  /** App version string (`PROJECT_VER`). */
  version: string;
  /** Project name. */
  projectName: string;
  /** Compile time, e.g. "19:46:07". */
  time: string;
  /** Compile date, e.g. "Sep 13 2022". */
  date: string;
  /** ESP-IDF version string. */
  idfVersion: string;
  /** SHA-256 of the ELF file, lower-case hex (64 digits). */
  elfSha256: string;
  /** Minimal eFuse block revision, major * 100 + minor. */
  minEfuseBlkRevFull: number;
  /** Maximal eFuse block revision, major * 100 + minor. */
  maxEfuseBlkRevFull: number;
  /** log2 of the MMU page size; 0 when not recorded. */
  mmuPageSizeLog2: number;
}

/** The bootloader description ESP-IDF v5.2+ links into the bootloader. */
export interface BootloaderDesc {
  /** Bootloader version number. */
  version: number;
  /** ESP-IDF version string. */
  idfVersion: string;
  /** Build date and time, e.g. "Apr 25 2023 00:13:32". */
  dateTime: string;
}

// esptool decodes these fields as UTF-8 and drops every NUL, not only the padding.
function text(bytes: Uint8Array, offset: number, length: number): string {
  return new TextDecoder().decode(bytes.subarray(offset, offset + length)).replaceAll("\0", "");
}

function putText(out: Uint8Array, offset: number, length: number, value: string): void {
  const b = new TextEncoder().encode(value);
  out.set(b.subarray(0, length), offset);
}

/** Reads `esp_app_desc_t` from the first bytes of a segment; undefined if absent. */
export function parseAppDesc(data: Uint8Array): AppDesc | undefined {
  if (data.length < APP_DESC_SIZE || readU32(data, 0) !== APP_DESC_MAGIC) return undefined;
  return {
    secureVersion: readU32(data, 4),
    version: text(data, 16, 32),
    projectName: text(data, 48, 32),
    time: text(data, 80, 16),
    date: text(data, 96, 16),
    idfVersion: text(data, 112, 32),
    elfSha256: toHex(data.subarray(144, 176)),
    minEfuseBlkRevFull: readU16(data, 176),
    maxEfuseBlkRevFull: readU16(data, 178),
    mmuPageSizeLog2: data[180],
  };
}

/** Encodes `esp_app_desc_t` (256 bytes); strings are cut to their field sizes. */
export function writeAppDesc(desc: Partial<AppDesc>): Uint8Array {
  const out = new Uint8Array(APP_DESC_SIZE);
  writeU32(out, 0, APP_DESC_MAGIC);
  writeU32(out, 4, desc.secureVersion ?? 0);
  putText(out, 16, 32, desc.version ?? "");
  putText(out, 48, 32, desc.projectName ?? "");
  putText(out, 80, 16, desc.time ?? "");
  putText(out, 96, 16, desc.date ?? "");
  putText(out, 112, 32, desc.idfVersion ?? "");
  const sha = desc.elfSha256 ?? "";
  for (let i = 0; i < 32 && i * 2 + 2 <= sha.length; i++) {
    out[144 + i] = parseInt(sha.slice(i * 2, i * 2 + 2), 16);
  }
  const min = desc.minEfuseBlkRevFull ?? 0;
  const max = desc.maxEfuseBlkRevFull ?? 0;
  out[176] = min & 0xff;
  out[177] = min >> 8;
  out[178] = max & 0xff;
  out[179] = max >> 8;
  out[180] = desc.mmuPageSizeLog2 ?? 0;
  return out;
}

/** Reads `esp_bootloader_desc_t` from the first bytes of a segment; undefined if absent. */
export function parseBootloaderDesc(data: Uint8Array): BootloaderDesc | undefined {
  if (data.length < BOOTLOADER_DESC_SIZE || data[0] !== BOOTLOADER_DESC_MAGIC) return undefined;
  return {
    version: readU32(data, 4),
    idfVersion: text(data, 8, 32),
    dateTime: text(data, 40, 24),
  };
}

/** Encodes `esp_bootloader_desc_t` (80 bytes). */
export function writeBootloaderDesc(desc: Partial<BootloaderDesc>): Uint8Array {
  const out = new Uint8Array(BOOTLOADER_DESC_SIZE);
  out[0] = BOOTLOADER_DESC_MAGIC;
  writeU32(out, 4, desc.version ?? 0);
  putText(out, 8, 32, desc.idfVersion ?? "");
  putText(out, 40, 24, desc.dateTime ?? "");
  return out;
}

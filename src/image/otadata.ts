/**
 * The otadata partition's contents: two 4 KiB sectors, each starting with an
 * `esp_ota_select_entry_t` (ESP-IDF bootloader_support: `ota_seq` u32,
 * `seq_label[20]`, `ota_state` u32, `crc` u32 = CRC-32 of `ota_seq` as the
 * bootloader computes it, `esp_rom_crc32_le(UINT32_MAX, &ota_seq, 4)`). The
 * bootloader boots OTA slot `(max valid seq - 1) % slots`; an erased
 * otadata means the factory app, else slot 0.
 *
 * `otaDataImage({ sequence: 1 })` is the image that selects `ota_0`: what
 * Arduino-ESP32 flashes at 0xE000 as boot_app0.bin and ESP-IDF's otatool
 * writes to switch to `ota_0`.
 *
 * @example
 * ```ts
 * import { otaDataImage } from "./otadata.ts";
 * import assert from "node:assert/strict";
 *
 * const image = otaDataImage({ sequence: 1 });
 * assert.equal(image.length, 0x2000);
 * assert.deepEqual([...image.subarray(0, 4)], [1, 0, 0, 0]);
 * assert.deepEqual([...image.subarray(28, 32)], [0x9a, 0x98, 0x43, 0x47]); // CRC-32 0x4743989a
 * assert.ok(image.subarray(32).every((b) => b === 0xff));
 * ```
 * @module
 */

import { ImageError } from "./errors.ts";

/** Bytes of the otadata partition ESP-IDF and Arduino use. */
export const OTADATA_SIZE = 0x2000;
const ENTRY = 32;

/** CRC-32 (reflected 0xEDB88320) as the ROM's `crc32_le`: `init` inverted in and out. */
export function crc32Le(init: number, data: Uint8Array): number {
  let crc = ~init >>> 0;
  for (const b of data) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return ~crc >>> 0;
}

/** One select entry: `sequence`, an empty label, `state` (default 0xFFFFFFFF: undefined), its CRC. */
export function otaSelectEntry(sequence: number, state = 0xffffffff): Uint8Array {
  if (!Number.isInteger(sequence) || sequence < 0 || sequence >= 0xffffffff) {
    throw new ImageError(
      "BAD_ARGUMENT",
      `OTA sequence ${sequence} is not a valid u32 below 0xFFFFFFFF`,
    );
  }
  const entry = new Uint8Array(ENTRY).fill(0xff);
  const view = new DataView(entry.buffer);
  view.setUint32(0, sequence, true);
  view.setUint32(24, state >>> 0, true);
  view.setUint32(28, crc32Le(0xffffffff, entry.subarray(0, 4)), true);
  return entry;
}

/** Options of {@link otaDataImage}. */
export interface OtaDataOptions {
  /** Sequence number of the first entry (the second sector stays erased). */
  sequence: number;
  /** The entry's `ota_state` (default 0xFFFFFFFF, as a fresh image). */
  state?: number;
}

/** An otadata partition image whose first entry holds `sequence`; see the module docs. */
export function otaDataImage(options: OtaDataOptions): Uint8Array {
  const image = new Uint8Array(OTADATA_SIZE).fill(0xff);
  // The second sector stays erased: the bootloader takes the valid entry with the higher sequence.
  image.set(otaSelectEntry(options.sequence, options.state));
  return image;
}

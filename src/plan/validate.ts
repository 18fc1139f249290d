/**
 * Region checks made before anything is sent to a device.
 * @module
 */

import { chipByImageId, type ChipInfo } from "../chips/chips.ts";
import { EspdeltaError } from "../protocol/errors.ts";
import { hex } from "../protocol/bytes.ts";
import { Sizes } from "../protocol/opcodes.ts";
import type { FlashRegion } from "./types.ts";

/** A region that cannot be flashed as given. */
export class RegionError extends EspdeltaError {
  /** Codes: UNALIGNED, EMPTY, TOO_LARGE, OVERLAP, PAST_END, WRONG_CHIP. */
  constructor(code: string, message: string) {
    super(code, message);
  }
}

/** Reads the chip id of an ESP32-family image header, or undefined if `data` is not one. */
export function imageChipId(data: Uint8Array): number | undefined {
  if (data.length < 24 || data[0] !== 0xe9 || data[1] === 0 || data[1] > 16) return undefined;
  if (data[23] > 1) return undefined; // hash_appended must be 0 or 1
  return data[12] | (data[13] << 8);
}

/**
 * Checks alignment, emptiness, overlaps, flash bounds and, for app and
 * bootloader images, that the image was built for `chip`. Returns the regions
 * sorted by offset. Throws {@link RegionError} with a one-line message.
 * Without a chip or a flash size (before connecting) those checks are left
 * out.
 */
export function validateRegions(
  regions: readonly FlashRegion[],
  chip?: ChipInfo,
  flashSize = Infinity,
): FlashRegion[] {
  for (const r of regions) {
    const where = `${r.name} at ${hex(r.offset)}`;
    if (r.offset % Sizes.SECTOR !== 0) {
      throw new RegionError(
        "UNALIGNED",
        `${where}: offset is not a multiple of 0x1000; flash regions start on 4 KiB sector boundaries`,
      );
    }
    if (r.data.length === 0) {
      throw new RegionError(
        "EMPTY",
        `${where}: ${r.file ?? "data"} is empty; nothing to write (rebuild it or leave it out)`,
      );
    }
    const mb = (n: number) => `${+(n / 1024 / 1024).toFixed(2)} MB`;
    if (r.data.length > flashSize) {
      throw new RegionError(
        "TOO_LARGE",
        `${where}: ${r.file ?? "the data"} is ${mb(r.data.length)}, larger than the whole ` +
          `${mb(flashSize)} flash; check the file, or --flash-size if the flash is larger`,
      );
    }
    if (r.offset + r.data.length > flashSize) {
      throw new RegionError(
        "PAST_END",
        `${where}: ${r.data.length} bytes end at ${
          hex(r.offset + r.data.length)
        }, past the end of ` +
          `the ${mb(flashSize)} flash (${hex(flashSize)}); check the offset, or --flash-size ` +
          "if the flash is larger",
      );
    }
    const looksLikeImage = r.kind === "app" || r.kind === "bootloader" ||
      (r.kind === undefined && r.data[0] === 0xe9);
    const id = looksLikeImage && chip && chip.imageChipId !== null
      ? imageChipId(r.data)
      : undefined;
    if (chip && id !== undefined && id !== chip.imageChipId) {
      const other = chipByImageId(id)?.displayName ?? `unknown chip id ${id}`;
      throw new RegionError(
        "WRONG_CHIP",
        `${where}: image is built for ${other}, but the device is ${chip.displayName}; ` +
          `rebuild for ${chip.displayName} or pick the right file`,
      );
    }
  }
  const sorted = [...regions].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1];
    const b = sorted[i];
    if (a.offset + a.data.length > b.offset) {
      throw new RegionError(
        "OVERLAP",
        `${a.name} (${hex(a.offset)}-${hex(a.offset + a.data.length)}) overlaps ${b.name} ` +
          `at ${hex(b.offset)}; fix the offsets so each region ends before the next begins`,
      );
    }
  }
  return sorted;
}

/**
 * merge-bin: one raw flash image from several parts, as esptool v5's
 * `merge-bin --format raw` builds it: parts sorted by offset, 0xFF between
 * them, an error when two parts share a flash sector, the bootloader's flash
 * settings patched by the write-time rules, and optional 0xFF padding up to
 * a flash size.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { mergeBin } from "./merge.ts";
 * import { writeImage } from "./app.ts";
 * const boot = writeImage({ chip: "esp32c3", flashMode: "qio", segments: [{ loadAddress: 0x3fcd0000, data: new Uint8Array(64) }] });
 * const { bytes, patches } = mergeBin([
 *   { offset: 0x0, data: boot, name: "bootloader.bin" },
 *   { offset: 0x10000, data: new Uint8Array(16).fill(7), name: "app.bin" },
 * ], { chip: "esp32c3", flashMode: "dio", fillFlashSize: "4MB" });
 * // 0xFF between and after the parts, the bootloader's mode byte set to DIO (2).
 * deepStrictEqual([bytes.length, bytes[2], bytes[0x8000], bytes[0x10000]], [4 << 20, 2, 0xff, 7]);
 * deepStrictEqual(patches.map((p) => p.result.reason), ["patched", "not-bootloader-offset"]);
 * ```
 * @module
 */

import type { ChipName } from "../chips/chips.ts";
import { hex } from "../protocol/bytes.ts";
import { ImageError } from "./errors.ts";
import { patchFlashParams, type PatchResult } from "./patch.ts";
import { flashSizeBytes } from "./targets.ts";

/** One input of {@link mergeBin}. */
export interface MergePart {
  /** Flash offset the data belongs at. */
  offset: number;
  /** The bytes. */
  data: Uint8Array;
  /** File name, for messages. */
  name?: string;
}

/** Options of {@link mergeBin}; flash settings default to "keep". */
export interface MergeOptions {
  /** Target chip; needed to find (and patch) the bootloader. */
  chip?: ChipName;
  /** Flash mode for the bootloader header ("keep", "qio", "qout", "dio", "dout"). */
  flashMode?: string;
  /** Flash frequency for the bootloader header ("keep", "40m", ...). */
  flashFreq?: string;
  /** Flash size for the bootloader header ("keep", "4MB", ...). */
  flashSize?: string;
  /**
   * Pad the output with 0xFF up to this flash size ("4MB" or bytes):
   * esptool v5's `--pad-to-size`, v4's `--fill-flash-size`.
   */
  fillFlashSize?: string | number;
  /** Flash offset the output will be written at (default 0); parts before it are an error. */
  targetOffset?: number;
}

/** Output of {@link mergeBin}. */
export interface MergeResult {
  /** The merged image, to be written at `targetOffset`. */
  bytes: Uint8Array;
  /** Offset the image is meant for. */
  targetOffset: number;
  /** What the header patch did for each part, in offset order. */
  patches: { offset: number; name?: string; result: PatchResult }[];
}

const SECTOR = 0x1000;

/**
 * Merges `parts` into one image. Throws {@link ImageError}: `OVERLAP` when two
 * parts touch the same 4 KiB sector (esptool's address-pair check),
 * `BAD_OFFSET` for a part before `targetOffset`, `BAD_ARGUMENT` for no parts,
 * a bad fill size, or flash settings without a chip.
 */
export function mergeBin(parts: readonly MergePart[], options: MergeOptions = {}): MergeResult {
  if (parts.length === 0) throw new ImageError("BAD_ARGUMENT", "No input data.");
  const sorted = [...parts].sort((a, b) => a.offset - b.offset);
  // Same rule as esptool's address/file pairs: a part may not start in a sector
  // the previous part ends in, because writing it would erase that sector.
  let end = 0;
  for (const p of sorted) {
    const sectorStart = p.offset & ~(SECTOR - 1);
    const sectorEnd = Math.floor((p.offset + p.data.length + SECTOR - 1) / SECTOR) * SECTOR - 1;
    if (sectorStart < end) {
      throw new ImageError(
        "OVERLAP",
        `Detected overlap at address: ${hex(p.offset)} for file: ${p.name ?? "data"}.`,
      );
    }
    end = sectorEnd;
  }
  const target = options.targetOffset ?? 0;
  if (sorted[0].offset < target) {
    throw new ImageError(
      "BAD_OFFSET",
      `Output data target offset is ${hex(target)}. ` +
        `Input data offset ${hex(sorted[0].offset)} is before this.`,
    );
  }
  const params = { mode: options.flashMode, freq: options.flashFreq, size: options.flashSize };
  const allKeep = [params.mode, params.freq, params.size].every((v) =>
    v === undefined || v === "keep"
  );
  if (!allKeep && options.chip === undefined) {
    throw new ImageError("BAD_ARGUMENT", "flash settings need a chip to find the bootloader");
  }
  let fill = 0;
  if (options.fillFlashSize !== undefined) {
    const f = typeof options.fillFlashSize === "number"
      ? options.fillFlashSize
      : flashSizeBytes(options.fillFlashSize);
    if (f === undefined || !Number.isInteger(f) || f < 0) {
      throw new ImageError("BAD_ARGUMENT", `bad fill flash size "${options.fillFlashSize}"`);
    }
    fill = f;
  }

  const patches: MergeResult["patches"] = [];
  const placed = sorted.map((p) => {
    let data = p.data;
    if (options.chip !== undefined) {
      const result = patchFlashParams(p.data, p.offset, options.chip, params);
      patches.push({ offset: p.offset, ...(p.name ? { name: p.name } : {}), result });
      data = result.bytes;
    }
    return { at: p.offset - target, data };
  });
  const length = Math.max(...placed.map((p) => p.at + p.data.length), fill - target);
  const bytes = new Uint8Array(length).fill(0xff);
  for (const p of placed) bytes.set(p.data, p.at);
  return { bytes, targetOffset: target, patches };
}

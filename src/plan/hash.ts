/**
 * Local hashing: MD5 of each region, of each 4 KiB sector, and of any sector
 * range, plus a cheap estimate of how well a range compresses.
 * @module
 */

import { createHash } from "node:crypto";
import { deflateRawSync } from "node:zlib";
import { Sizes } from "../protocol/opcodes.ts";

/** Lower-case hex MD5 of `bytes`. */
export function md5Hex(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

const erasedMd5s = new Map<number, string>();

/**
 * Lower-case hex MD5 of `length` erased-flash bytes (0xFF), cached by length.
 * A device range with this MD5 is blank: every local sector that is not all
 * 0xFF differs from it, with no further probing.
 */
export function erasedMd5(length: number): string {
  let h = erasedMd5s.get(length);
  if (h === undefined) {
    h = md5Hex(new Uint8Array(length).fill(0xff));
    if (erasedMd5s.size < 64) erasedMd5s.set(length, h);
  }
  return h;
}

/**
 * Hashes of one region's bytes, computed once and reused by the prober.
 *
 * @example
 * ```ts
 * import { RegionHashes } from "./hash.ts";
 * const h = new RegionHashes(new Uint8Array(8192).fill(0xff));
 * h.sectors; // 2
 * h.sectorMd5(0) === h.rangeMd5(0, 1); // true
 * ```
 */
export class RegionHashes {
  /** The region's bytes. */
  readonly data: Uint8Array;
  /** MD5 of the whole region. */
  readonly md5: string;
  #sectorMd5s: (string | undefined)[];
  #ranges = new Map<string, string>();
  #compressed: (number | undefined)[];
  #erased: (boolean | undefined)[];
  #compressedPrefix: Float64Array | undefined;
  readonly #sectors: number;

  /**
   * Hashes `data` whole; sector and range MD5s are computed when first asked
   * for, so a region that matches the device costs one pass.
   */
  constructor(data: Uint8Array) {
    this.data = data;
    this.md5 = md5Hex(data);
    this.#sectors = Math.ceil(data.length / Sizes.SECTOR);
    this.#sectorMd5s = new Array(this.#sectors);
    this.#compressed = new Array(this.#sectors);
    this.#erased = new Array(this.#sectors);
  }

  /** Number of sectors the region spans. */
  get sectors(): number {
    return this.#sectors;
  }

  /** MD5 of 4 KiB sector `i` (the last one may be short), cached. */
  sectorMd5(i: number): string {
    let h = this.#sectorMd5s[i];
    if (h === undefined) {
      h = md5Hex(this.sectorBytes(i, 1));
      this.#sectorMd5s[i] = h;
    }
    return h;
  }

  /** True when sector `i` holds only 0xFF (it matches a blank device sector). */
  isErasedSector(i: number): boolean {
    let e = this.#erased[i];
    if (e === undefined) {
      const bytes = this.sectorBytes(i, 1);
      e = true;
      for (let k = 0; k < bytes.length; k++) {
        if (bytes[k] !== 0xff) {
          e = false;
          break;
        }
      }
      this.#erased[i] = e;
    }
    return e;
  }

  /** Bytes of sectors [first, first + count), clipped to the region's end. */
  sectorBytes(first: number, count: number): Uint8Array {
    return this.data.subarray(first * Sizes.SECTOR, (first + count) * Sizes.SECTOR);
  }

  /** Byte length of sectors [first, first + count) within the region. */
  rangeLength(first: number, count: number): number {
    return Math.min(this.data.length, (first + count) * Sizes.SECTOR) - first * Sizes.SECTOR;
  }

  /** MD5 of sectors [first, first + count), cached. */
  rangeMd5(first: number, count: number): string {
    if (first === 0 && count >= this.sectors) return this.md5;
    if (count === 1) return this.sectorMd5(first);
    const key = `${first}:${count}`;
    let h = this.#ranges.get(key);
    if (h === undefined) {
      h = md5Hex(this.sectorBytes(first, count));
      this.#ranges.set(key, h);
    }
    return h;
  }

  /**
   * Estimated deflated size of sectors [first, first + count). Blank sectors
   * count as nothing; every other sector as its 64 KiB block's ratio, taken
   * from one sector in the middle of the block (zlib level 1), scaled by how
   * much better the writer does on the region: one block in its middle is
   * deflated as one stream at level 9, as the writer does, and compared with
   * its sectors one by one at level 1 (real apps: about 0.8). The estimate
   * adds up: the parts of a range sum to the range, so the planner can weigh
   * a split against a merge. The first call samples every block once (256
   * deflates for a 16 MiB image) and that one block.
   */
  compressedSize(first: number, count: number): number {
    const prefix = this.#compressedPrefix ??= this.#estimateAll();
    const end = Math.min(this.#sectors, first + count);
    return Math.ceil(prefix[end] - prefix[first]);
  }

  /** Level-9 stream size over summed level-1 sector sizes, for the region's middle block. */
  #streamFactor(): number {
    const per = Sizes.BLOCK / Sizes.SECTOR;
    const lo = Math.max(0, Math.floor(this.#sectors / 2) - per / 2);
    const hi = Math.min(this.#sectors, lo + per);
    let sectors = 0;
    for (let i = lo; i < hi; i++) sectors += this.#sectorCompressed(i);
    const stream = deflateRawSync(this.sectorBytes(lo, hi - lo), { level: 9 }).length;
    return sectors > 0 ? Math.min(1, Math.max(0.2, stream / sectors)) : 1;
  }

  #estimateAll(): Float64Array {
    const per = Sizes.BLOCK / Sizes.SECTOR;
    const factor = this.#streamFactor();
    const prefix = new Float64Array(this.#sectors + 1);
    for (let b = 0; b * per < this.#sectors; b++) {
      const lo = b * per;
      const hi = Math.min(this.#sectors, lo + per);
      let ratio = 0;
      const mid = lo + ((hi - lo) >> 1);
      for (let k = 0; k < hi - lo; k++) {
        // The middle sector, else the nearest one that is not blank.
        const i = lo + ((mid - lo + k) % (hi - lo));
        if (this.isErasedSector(i)) continue;
        ratio = factor * this.#sectorCompressed(i) / this.rangeLength(i, 1);
        break;
      }
      for (let i = lo; i < hi; i++) {
        const est = this.isErasedSector(i) ? 0 : ratio * this.rangeLength(i, 1);
        prefix[i + 1] = prefix[i] + est;
      }
    }
    return prefix;
  }

  #sectorCompressed(i: number): number {
    let c = this.#compressed[i];
    if (c === undefined) {
      const raw = this.sectorBytes(i, 1);
      c = Math.min(raw.length, deflateRawSync(raw, { level: 1 }).length);
      this.#compressed[i] = c;
    }
    return c;
  }
}

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
      e = this.sectorBytes(i, 1).every((b) => b === 0xff);
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
   * Estimated deflated size of sectors [first, first + count): up to 8
   * sectors are measured one by one (zlib level 1, cached); a larger range
   * is extrapolated from 8 evenly spaced sectors, which keeps planning a
   * 16 MiB image cheap. Level 9, which the writer uses, does slightly better.
   */
  compressedSize(first: number, count: number): number {
    const SAMPLE = 8;
    if (count <= SAMPLE) {
      let total = 0;
      for (let i = first; i < first + count; i++) total += this.#sectorCompressed(i);
      return total;
    }
    let sampled = 0;
    let sampledBytes = 0;
    for (let k = 0; k < SAMPLE; k++) {
      const i = first + Math.floor((k + 0.5) * count / SAMPLE);
      sampled += this.#sectorCompressed(i);
      sampledBytes += this.rangeLength(i, 1);
    }
    return Math.ceil(sampled / sampledBytes * this.rangeLength(first, count));
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

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
  /** MD5 of every 4 KiB sector (the last one may be short). */
  readonly sectorMd5s: readonly string[];
  #ranges = new Map<string, string>();
  #compressed: (number | undefined)[];

  /** Hashes `data` whole and per sector. */
  constructor(data: Uint8Array) {
    this.data = data;
    this.md5 = md5Hex(data);
    const n = Math.ceil(data.length / Sizes.SECTOR);
    const sectors: string[] = new Array(n);
    for (let i = 0; i < n; i++) sectors[i] = md5Hex(this.sectorBytes(i, 1));
    this.sectorMd5s = sectors;
    this.#compressed = new Array(n);
  }

  /** Number of sectors the region spans. */
  get sectors(): number {
    return this.sectorMd5s.length;
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
    if (count === 1) return this.sectorMd5s[first];
    const key = `${first}:${count}`;
    let h = this.#ranges.get(key);
    if (h === undefined) {
      h = md5Hex(this.sectorBytes(first, count));
      this.#ranges.set(key, h);
    }
    return h;
  }

  /**
   * Estimated deflated size of sectors [first, first + count). Small ranges
   * are measured sector by sector (zlib level 1, cached); large ranges are
   * extrapolated from 16 evenly spaced sectors, which keeps planning a
   * 16 MiB image cheap. Level 9, which the writer uses, does slightly better.
   */
  compressedSize(first: number, count: number): number {
    const SAMPLE = 16;
    if (count <= SAMPLE * 4) {
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

/**
 * Which sectors to write. Given the runs of a region's sectors that must be
 * written (they differ from the device, or nobody looked), chooses the write
 * ranges that cover them for the least time on the cost model: a range may
 * take in clean sectors between two runs (one BEGIN/END and one pipeline
 * drain instead of two) or up to a 64 KiB boundary (one block erase instead
 * of a sector erase per sector). Each range is priced with its write and
 * the device MD5 that verifies its blocks afterwards.
 * @module
 */

import { Sizes } from "../protocol/opcodes.ts";
import { type CostParams, md5Ms, writeCost } from "./cost.ts";

/** Sector range [first, count] relative to a region. */
export type Range = [number, number];

/** What the cover needs to know about a region. */
export interface CoverRegion {
  /** Sectors in the region. */
  readonly sectors: number;
  /** Absolute index of the region's first sector. */
  readonly baseSector: number;
  /** Bytes of sectors [first, first + count) (the last sector may be short). */
  rangeLength(first: number, count: number): number;
  /** Estimated deflated bytes of sectors [first, first + count); additive. */
  compressedSize(first: number, count: number): number;
}

const PER_BLOCK = Sizes.BLOCK / Sizes.SECTOR;
/** A range never reaches back over more runs than this, or over more clean sectors than this. */
const MAX_RUNS_JOINED = 64;
const MAX_CLEAN_JOINED = 64;

/**
 * Milliseconds to write sectors [first, first + count) of `r` in one write
 * command and, with `verify`, to check the 64 KiB blocks it touches.
 */
export function rangeMs(
  r: CoverRegion,
  p: CostParams,
  verify: boolean,
  first: number,
  count: number,
): number {
  const abs = r.baseSector + first;
  const w = writeCost(p, abs, r.rangeLength(first, count), r.compressedSize(first, count)).ms;
  if (!verify) return w;
  const lo = Math.max(0, Math.floor(abs / PER_BLOCK) * PER_BLOCK - r.baseSector);
  const hi = Math.min(r.sectors, Math.ceil((abs + count) / PER_BLOCK) * PER_BLOCK - r.baseSector);
  return w + md5Ms(p, r.rangeLength(lo, hi - lo));
}

/** The chosen ranges and their cost. */
export interface Cover {
  /** Write ranges, ascending, disjoint. */
  ranges: Range[];
  /** Their cost on the model: writes and verification. */
  ms: number;
}

/**
 * The cheapest set of write ranges covering `runs` (ascending, disjoint,
 * relative to the region), found by dynamic programming over the runs: the
 * last range ends with run j and starts with some run i <= j, each end
 * optionally stretched over clean sectors to the 64 KiB boundary beside it.
 */
export function bestCover(r: CoverRegion, p: CostParams, verify: boolean, runs: Range[]): Cover {
  const n = runs.length;
  if (n === 0) return { ranges: [], ms: 0 };
  const best = new Float64Array(n + 1);
  const choice: Range[] = new Array(n + 1);
  const from = new Int32Array(n + 1);
  for (let j = 1; j <= n; j++) {
    const last = runs[j - 1];
    const runEnd = last[0] + last[1];
    const nextStart = j < n ? runs[j][0] : r.sectors;
    const ends = [runEnd];
    const blockEnd = Math.ceil((r.baseSector + runEnd) / PER_BLOCK) * PER_BLOCK - r.baseSector;
    if (blockEnd > runEnd && blockEnd <= nextStart) ends.push(blockEnd);
    best[j] = Infinity;
    let clean = 0;
    for (let i = j; i >= 1 && j - i < MAX_RUNS_JOINED; i--) {
      if (i < j) clean += runs[i][0] - (runs[i - 1][0] + runs[i - 1][1]);
      if (clean > MAX_CLEAN_JOINED) break;
      const start = runs[i - 1][0];
      const prevEnd = i >= 2 ? runs[i - 2][0] + runs[i - 2][1] : 0;
      const starts = [start];
      const blockStart = Math.floor((r.baseSector + start) / PER_BLOCK) * PER_BLOCK -
        r.baseSector;
      if (blockStart < start && blockStart >= prevEnd) starts.push(blockStart);
      for (const s of starts) {
        for (const e of ends) {
          const ms = best[i - 1] + rangeMs(r, p, verify, s, e - s);
          if (ms < best[j]) {
            best[j] = ms;
            choice[j] = [s, e - s];
            from[j] = i - 1;
          }
        }
      }
    }
  }
  const ranges: Range[] = [];
  for (let j = n; j > 0; j = from[j]) ranges.push(choice[j]);
  ranges.reverse();
  return { ranges, ms: best[n] };
}

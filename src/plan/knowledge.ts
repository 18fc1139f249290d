/**
 * What the planner knows about one region's sectors while it probes: a
 * partition of the region into segments that are clean (the device holds
 * the same bytes), dirty (at least one sector differs; which, unknown unless
 * the segment is one sector) or unknown (nobody asked). Dirty segments are
 * never joined, since each one says "something here differs".
 * @module
 */

import type { Range } from "./cover.ts";

/** What a segment is known to be. */
export type SegmentState = "clean" | "dirty" | "unknown";

/** One segment: sectors [first, first + count) relative to the region. */
export interface Segment {
  /** First sector. */
  first: number;
  /** Sectors. */
  count: number;
  /** What the device's MD5s said. */
  state: SegmentState;
}

/**
 * The segments of a region, ascending and covering it exactly.
 *
 * @example
 * ```ts
 * import { Knowledge } from "./knowledge.ts";
 * const k = new Knowledge(10);
 * k.set(2, 3, "clean");
 * k.mustRuns(); // [[0, 2], [5, 5]]
 * ```
 */
export class Knowledge {
  /** The segments, ascending. */
  readonly segments: Segment[];
  readonly #sectors: number;

  /** A region of `sectors` sectors, all unknown. */
  constructor(sectors: number) {
    this.#sectors = sectors;
    this.segments = [{ first: 0, count: sectors, state: "unknown" }];
  }

  /** Marks sectors [first, first + count) as `state`. */
  set(first: number, count: number, state: SegmentState): void {
    const end = first + count;
    const out: Segment[] = [];
    let placed = false;
    for (const s of this.segments) {
      const sEnd = s.first + s.count;
      if (sEnd <= first || s.first >= end) {
        if (!placed && s.first >= end) {
          out.push({ first, count, state });
          placed = true;
        }
        out.push(s);
        continue;
      }
      if (s.first < first) out.push({ first: s.first, count: first - s.first, state: s.state });
      if (!placed) {
        out.push({ first, count, state });
        placed = true;
      }
      if (sEnd > end) out.push({ first: end, count: sEnd - end, state: s.state });
    }
    if (!placed) out.push({ first, count, state });
    // Join neighbours that are both clean or both unknown.
    const joined: Segment[] = [];
    for (const s of out) {
      const last = joined[joined.length - 1];
      if (last && last.state === s.state && s.state !== "dirty") last.count += s.count;
      else joined.push({ ...s });
    }
    this.segments.splice(0, this.segments.length, ...joined);
  }

  /** The segment holding sector `i`. */
  at(i: number): Segment {
    const s = this.segments.find((x) => i >= x.first && i < x.first + x.count);
    if (!s) throw new RangeError(`sector ${i} is outside the region (${this.#sectors} sectors)`);
    return s;
  }

  /** Segments that overlap sectors [lo, hi). */
  within(lo: number, hi: number): Segment[] {
    return this.segments.filter((s) => s.first < hi && s.first + s.count > lo);
  }

  /**
   * The maximal runs of sectors that must be written (dirty or unknown),
   * clipped to [lo, hi), as [first, count].
   */
  mustRuns(lo = 0, hi = this.#sectors): Range[] {
    const out: Range[] = [];
    for (const s of this.within(lo, hi)) {
      if (s.state === "clean") continue;
      const a = Math.max(lo, s.first);
      const b = Math.min(hi, s.first + s.count);
      const last = out[out.length - 1];
      if (last && last[0] + last[1] === a) last[1] += b - a;
      else out.push([a, b - a]);
    }
    return out;
  }
}

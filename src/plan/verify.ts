/**
 * What the executor checks after writing: every 64 KiB block a write step
 * touched, clipped to its region. The written sectors are checked, and so is
 * the rest of each block, because that is as far as an erase can reach
 * (block erases are 64 KiB); the rest of the region was proven by the
 * planner's MD5s moments before and is not hashed again.
 * @module
 */

import { Sizes } from "../protocol/opcodes.ts";
import type { PlanStep, RegionPlan } from "./types.ts";

/** One range to check by device MD5. */
export interface VerifyRange {
  /** Region name. */
  region: string;
  /** Absolute flash offset. */
  offset: number;
  /** Bytes. */
  length: number;
}

/** The ranges to check after `steps`, in flash order, one MD5 each. */
export function verifyRanges(
  regions: readonly Pick<RegionPlan, "name" | "offset" | "length">[],
  steps: readonly PlanStep[],
): VerifyRange[] {
  const out: VerifyRange[] = [];
  for (const r of [...regions].sort((a, b) => a.offset - b.offset)) {
    const end = r.offset + r.length;
    const spans = steps
      .filter((s) => s.action === "write" && s.region === r.name)
      .map((s) => [
        Math.max(r.offset, Math.floor(s.offset / Sizes.BLOCK) * Sizes.BLOCK),
        Math.min(end, Math.ceil((s.offset + s.length) / Sizes.BLOCK) * Sizes.BLOCK),
      ])
      .sort((a, b) => a[0] - b[0]);
    let cur: number[] | undefined;
    for (const s of spans) {
      if (cur && s[0] <= cur[1]) cur[1] = Math.max(cur[1], s[1]);
      else {
        if (cur) out.push({ region: r.name, offset: cur[0], length: cur[1] - cur[0] });
        cur = [s[0], s[1]];
      }
    }
    if (cur) out.push({ region: r.name, offset: cur[0], length: cur[1] - cur[0] });
  }
  return out;
}

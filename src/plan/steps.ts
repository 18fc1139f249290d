/**
 * Turns a region's write ranges into plan steps, in the order that keeps an
 * app bootable-or-blank: an app's header sector is never valid in front of a
 * half-written app.
 * @module
 */

import { Sizes } from "../protocol/opcodes.ts";
import { type CostParams, writeCost } from "./cost.ts";
import type { Range } from "./cover.ts";
import type { RegionHashes } from "./hash.ts";
import type { PlanStep, Region, StepReason } from "./types.ts";

/** True for regions whose first sector holds an app image header. */
export function isApp(r: Region): boolean {
  return r.kind === "app" || (r.kind === undefined && r.data[0] === 0xe9 && r.offset >= 0x10000);
}

/**
 * The steps that write `ranges` of `region`. When an app's header sector is
 * written together with other sectors, the range holding it goes first with
 * the header sector sent blank (0xFF): the device erases that range, the
 * whole first 64 KiB block with one block erase where the range covers it,
 * before it programs anything, so the old header is gone before any other
 * byte changes, and the write itself keeps its block erases. (A range of the
 * header sector alone is an erase instead.) The other ranges follow, and the
 * header sector is written last, once the rest of the app is in place.
 */
export function regionSteps(
  region: Region,
  h: RegionHashes,
  ranges: Range[],
  reason: StepReason,
  detail: string,
  p: CostParams,
): PlanStep[] {
  const base = region.offset / Sizes.SECTOR;
  const step = (
    first: number,
    count: number,
    r: StepReason,
    d: string,
    blankHeader = false,
  ): PlanStep => {
    const length = h.rangeLength(first, count);
    // A blank sector deflates to a few bytes.
    const compressedBytes = blankHeader
      ? h.compressedSize(first + 1, count - 1) + 16
      : h.compressedSize(first, count);
    const c = writeCost(p, base + first, length, compressedBytes);
    return {
      action: "write",
      region: region.name,
      offset: region.offset + first * Sizes.SECTOR,
      length,
      firstSector: base + first,
      sectors: count,
      reason: r,
      detail: d,
      compressedBytes,
      ms: c.ms,
      wireBytes: c.wireBytes,
      ...(blankHeader ? { blankHeader: true } : {}),
    };
  };
  const headerFirst = ranges.length > 0 && ranges[0][0] === 0;
  const sectorsWritten = ranges.reduce((n, r) => n + r[1], 0);
  if (!isApp(region) || !headerFirst || sectorsWritten === 1) {
    return ranges.map(([f, c]) => step(f, c, reason, detail));
  }
  const steps: PlanStep[] = [];
  const [, c0] = ranges[0];
  if (c0 === 1) {
    steps.push({
      action: "erase",
      region: region.name,
      offset: region.offset,
      length: Sizes.SECTOR,
      firstSector: base,
      sectors: 1,
      reason: "header-invalidate",
      detail: "erase the app header sector first so a partial write cannot boot",
      compressedBytes: 0,
      ms: p.sectorEraseMs + p.latencyMs,
      wireBytes: 8 + 8 + 2,
    });
  } else {
    steps.push(step(0, c0, reason, `${detail}; the header sector blank until the last step`, true));
  }
  for (const [f, c] of ranges.slice(1)) steps.push(step(f, c, reason, detail));
  steps.push(step(0, 1, "header-last", "app header sector, written after the rest of the app"));
  return steps;
}

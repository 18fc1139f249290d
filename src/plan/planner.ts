/**
 * Makes a plan: hashes regions locally, asks the device for MD5s, narrows
 * differing regions down to the sectors that differ as far as the cost model
 * says is worth it, and orders the writes.
 * @module
 */

import { Sizes } from "../protocol/opcodes.ts";
import { hex } from "../protocol/bytes.ts";
import { type CostParams, costParams, md5Ms, writeCost } from "./cost.ts";
import { RegionHashes } from "./hash.ts";
import type {
  FlashRegion,
  Outcome,
  Plan,
  PlanDevice,
  PlanStep,
  RegionPlan,
  StepReason,
} from "./types.ts";
import { validateRegions } from "./validate.ts";

/** Options of {@link planFlash}. */
export interface PlanOptions {
  /** Flash size to check regions against (detected or given). */
  flashSize: number;
  /** Baud rate the writes will run at (default 115200). */
  baud?: number;
  /** Overrides of the cost model parameters. */
  cost?: Partial<CostParams>;
  /** Write every region whole without probing (`--full`). */
  full?: boolean;
  /** Called after each device MD5 while probing. */
  onProbe?: (probe: { region: string; offset: number; length: number; match: boolean }) => void;
}

const SECTORS_PER_BLOCK = Sizes.BLOCK / Sizes.SECTOR;

/** Sector ranges [first, count] relative to a region. */
type Range = [number, number];

/** Tracks device MD5s asked while probing. */
interface ProbeStats {
  md5Commands: number;
  bytesHashed: number;
  ms: number;
}

/**
 * Finds the sectors of one region that differ from the device, given that
 * the region as a whole differs. Bisection: probe the left part of a
 * differing range; if it matches, the right part must differ, otherwise both
 * are examined. A range stops being split when one probe would cost more than
 * half of rewriting it (the most one probe can save). Splits fall on 64 KiB
 * block boundaries where the range spans blocks, so writes keep whole-block
 * erases.
 */
async function narrow(
  dev: PlanDevice,
  region: FlashRegion,
  h: RegionHashes,
  p: CostParams,
  stats: ProbeStats,
  onProbe: PlanOptions["onProbe"],
): Promise<Range[]> {
  const baseSector = region.offset / Sizes.SECTOR;
  const same = async (first: number, count: number): Promise<boolean> => {
    const offset = region.offset + first * Sizes.SECTOR;
    const length = h.rangeLength(first, count);
    const device = await dev.md5(offset, length);
    stats.md5Commands++;
    stats.bytesHashed += length;
    stats.ms += md5Ms(p, length);
    const match = device === h.rangeMd5(first, count);
    onProbe?.({ region: region.name, offset, length, match });
    return match;
  };
  const splitPoint = (first: number, count: number): number => {
    const mid = first + Math.floor(count / 2);
    if (count <= SECTORS_PER_BLOCK) return mid;
    // Round the split to the nearest absolute 64 KiB boundary inside the range.
    const abs = baseSector + mid;
    const rounded = Math.round(abs / SECTORS_PER_BLOCK) * SECTORS_PER_BLOCK - baseSector;
    return rounded > first && rounded < first + count ? rounded : mid;
  };
  const resolve = async (first: number, count: number, differs: boolean): Promise<Range[]> => {
    if (!differs && await same(first, count)) return [];
    if (count === 1) return [[first, 1]];
    const rewrite = writeCost(
      p,
      baseSector + first,
      h.rangeLength(first, count),
      h.compressedSize(first, count),
    ).ms;
    const split = splitPoint(first, count);
    const leftCount = split - first;
    if (md5Ms(p, h.rangeLength(first, leftCount)) >= rewrite / 2) return [[first, count]];
    if (await same(first, leftCount)) return resolve(split, count - leftCount, true);
    return [
      ...await resolve(first, leftCount, true),
      ...await resolve(split, count - leftCount, false),
    ];
  };
  return await resolve(0, h.sectors, true);
}

/**
 * Joins ranges whose gap costs less to rewrite than the extra write and
 * verify commands a separate range costs. Adjacent ranges always join.
 */
function mergeRanges(
  ranges: Range[],
  h: RegionHashes,
  baseSector: number,
  p: CostParams,
  verify: boolean,
): Range[] {
  const cost = (first: number, count: number) =>
    writeCost(p, baseSector + first, h.rangeLength(first, count), h.compressedSize(first, count))
      .ms + (verify ? md5Ms(p, h.rangeLength(first, count)) : 0);
  const out: Range[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last) {
      const gap = r[0] - (last[0] + last[1]);
      const joined: Range = [last[0], r[0] + r[1] - last[0]];
      if (gap === 0 || cost(joined[0], joined[1]) <= cost(last[0], last[1]) + cost(r[0], r[1])) {
        out[out.length - 1] = joined;
        continue;
      }
    }
    out.push([r[0], r[1]]);
  }
  return out;
}

/** True for regions whose first sector holds an app image header. */
function isApp(r: FlashRegion): boolean {
  return r.kind === "app" || (r.kind === undefined && r.data[0] === 0xe9 && r.offset >= 0x10000);
}

/**
 * Turns one region's ranges into steps. When an app's header sector is
 * rewritten together with other sectors, the header sector is erased first
 * and written last, so an interrupted run never leaves a valid header in
 * front of a half-written app.
 */
function regionSteps(
  region: FlashRegion,
  h: RegionHashes,
  ranges: Range[],
  reason: StepReason,
  detail: string,
  p: CostParams,
): PlanStep[] {
  const base = region.offset / Sizes.SECTOR;
  const step = (first: number, count: number, r: StepReason, d: string): PlanStep => {
    const length = h.rangeLength(first, count);
    const compressedBytes = h.compressedSize(first, count);
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
    };
  };
  const headerFirst = ranges.length > 0 && ranges[0][0] === 0;
  const sectorsWritten = ranges.reduce((n, r) => n + r[1], 0);
  if (!isApp(region) || !headerFirst || sectorsWritten === 1) {
    return ranges.map(([f, c]) => step(f, c, reason, detail));
  }
  const steps: PlanStep[] = [{
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
  }];
  const [f0, c0] = ranges[0];
  if (c0 > 1) steps.push(step(f0 + 1, c0 - 1, reason, detail));
  for (const [f, c] of ranges.slice(1)) steps.push(step(f, c, reason, detail));
  steps.push(step(0, 1, "header-last", "app header sector, written after the rest of the app"));
  return steps;
}

/**
 * Plans writing `regions` to the device: validates them, compares device MD5s
 * with local ones, narrows differences down to sectors, and returns a
 * {@link Plan}. The device is only read (MD5 commands); nothing is written.
 *
 * @example
 * ```ts ignore
 * import { connect, planFlash, executePlan } from "@espdelta/espdelta";
 * const loader = await connect(port);
 * const regions = [{ name: "app", offset: 0x10000, data: await Deno.readFile("app.bin") }];
 * const plan = await planFlash(loader, regions, { flashSize: 4 << 20 });
 * console.log(plan.outcome); // "selective"
 * await executePlan(loader, plan, regions);
 * ```
 */
export async function planFlash(
  dev: PlanDevice,
  regions: readonly FlashRegion[],
  options: PlanOptions,
): Promise<Plan> {
  const sorted = validateRegions(regions, dev.chip, options.flashSize);
  const p = costParams(options.baud ?? 115200, dev.isStub, options.cost);
  const canHash = dev.isStub || dev.chip.rom.md5;
  const stats: ProbeStats = { md5Commands: 0, bytesHashed: 0, ms: 0 };
  const regionPlans: RegionPlan[] = [];
  const steps: PlanStep[] = [];

  for (const region of sorted) {
    const h = new RegionHashes(region.data);
    const rp: RegionPlan = {
      name: region.name,
      offset: region.offset,
      length: region.data.length,
      sectors: h.sectors,
      md5: h.md5,
      status: "match",
      writeSectors: 0,
      ranges: [],
    };
    regionPlans.push(rp);
    if (options.full || !canHash) {
      const reason: StepReason = options.full ? "forced-full" : "no-device-md5";
      const detail = options.full
        ? "full write requested"
        : `${dev.chip.displayName} ROM cannot hash flash; writing whole regions (use the stub)`;
      rp.status = "forced";
      rp.ranges = [[0, h.sectors]];
      rp.writeSectors = h.sectors;
      steps.push(...regionSteps(region, h, rp.ranges, reason, detail, p));
      continue;
    }
    rp.deviceMd5 = await dev.md5(region.offset, region.data.length);
    stats.md5Commands++;
    stats.bytesHashed += region.data.length;
    stats.ms += md5Ms(p, region.data.length);
    const match = rp.deviceMd5 === h.md5;
    options.onProbe?.({
      region: region.name,
      offset: region.offset,
      length: region.data.length,
      match,
    });
    if (match) continue;
    const found = await narrow(dev, region, h, p, stats, options.onProbe);
    const ranges = mergeRanges(found, h, region.offset / Sizes.SECTOR, p, true);
    rp.status = "write";
    rp.ranges = ranges;
    rp.writeSectors = ranges.reduce((n, r) => n + r[1], 0);
    const narrowed = rp.writeSectors < h.sectors;
    steps.push(...regionSteps(
      region,
      h,
      ranges,
      narrowed ? "sectors-differ" : "range-differs",
      narrowed ? "device MD5 differs in these sectors" : "region differs on the device",
      p,
    ));
  }

  const totalSectors = regionPlans.reduce((n, r) => n + r.sectors, 0);
  const written = regionPlans.reduce((n, r) => n + r.writeSectors, 0);
  const outcome: Outcome = written === 0
    ? "verify-skip"
    : written === totalSectors
    ? "full"
    : "selective";
  const verify = canHash;
  let ms = 0;
  let wireBytes = 0;
  let roundTrips = 0;
  for (const s of steps) {
    ms += s.ms;
    wireBytes += s.wireBytes;
    roundTrips += s.action === "erase"
      ? 1
      : Math.max(1, Math.ceil(s.compressedBytes / (p.stub ? 0x4000 : 0x400))) + 2;
    if (verify && s.action === "write") {
      ms += md5Ms(p, s.length);
      roundTrips++;
    }
  }
  if (verify) {
    for (const r of regionPlans) {
      if (r.writeSectors > 0) {
        ms += md5Ms(p, r.length);
        roundTrips++;
      }
    }
  }
  return {
    chip: dev.chip.name,
    flashSize: options.flashSize,
    stub: dev.isStub,
    outcome,
    regions: regionPlans,
    steps,
    verify,
    probe: stats,
    estimate: { ms, wireBytes, roundTrips },
    cost: p,
  };
}

/**
 * The plan in one line, e.g. `selective: app 0x10000 (12 of 240 sectors)`.
 */
export function summarizePlan(plan: Plan): string {
  if (plan.outcome === "verify-skip") {
    const names = plan.regions.map((r) => r.name).join(", ");
    return `verify-skip: ${plan.regions.length} region${
      plan.regions.length === 1 ? "" : "s"
    } already on the device (${names})`;
  }
  const parts = plan.regions.filter((r) => r.writeSectors > 0).map((r) =>
    `${r.name} ${hex(r.offset)} (${r.writeSectors} of ${r.sectors} sector${
      r.sectors === 1 ? "" : "s"
    })`
  );
  return `${plan.outcome}: ${parts.join(", ")}`;
}

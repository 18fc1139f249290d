/**
 * Makes a plan: hashes regions locally, asks the device for MD5s, narrows
 * differing regions down to the sectors that differ as far as the cost model
 * says is worth it, and orders the writes.
 * @module
 */

import { Sizes } from "../protocol/opcodes.ts";
import { EspdeltaError } from "../protocol/errors.ts";
import { hex } from "../protocol/bytes.ts";
import { type CostParams, costParams, DEFAULT_COST, md5Ms, writeCost } from "./cost.ts";
import { erasedMd5, RegionHashes } from "./hash.ts";
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
import { verifyRanges } from "./verify.ts";

/**
 * Flash encryption is on: the device's MD5s are of encrypted flash and can
 * never match plaintext images, so the delta path cannot work.
 */
export class EncryptedFlashError extends EspdeltaError {
  /** From the FLASH_CRYPT_CNT eFuse value. */
  constructor(flashCryptCnt: number) {
    super(
      "ENCRYPTED_FLASH",
      `flash encryption is on (FLASH_CRYPT_CNT ${hex(flashCryptCnt)}): the device's MD5s are ` +
        "of encrypted flash and cannot be compared with plaintext images; pass --encrypt to " +
        "write every region whole through the chip's encryption engine (unverified)",
    );
  }
}

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
  /**
   * Write every region whole through the chip's flash-encryption engine
   * (`--encrypt`). Required when flash encryption is on: the device's MD5s
   * are then of encrypted flash, so nothing can be compared or verified.
   */
  encrypt?: boolean;
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

/** What a device MD5 said about a range. */
type Probe = "match" | "erased" | "differs";

/**
 * Asks the device for the MD5 of sectors [first, first + count) of a region
 * and compares it with the local one and with the MD5 of blank flash.
 */
function prober(
  dev: PlanDevice,
  region: FlashRegion,
  h: RegionHashes,
  p: CostParams,
  stats: ProbeStats,
  onProbe: PlanOptions["onProbe"],
  onDeviceMd5: (md5: string, first: number, count: number) => void = () => {},
): (first: number, count: number) => Promise<Probe> {
  return async (first, count) => {
    const offset = region.offset + first * Sizes.SECTOR;
    const length = h.rangeLength(first, count);
    const device = await dev.md5(offset, length);
    onDeviceMd5(device, first, count);
    stats.md5Commands++;
    stats.bytesHashed += length;
    stats.ms += md5Ms(p, length);
    const match = device === h.rangeMd5(first, count);
    onProbe?.({ region: region.name, offset, length, match });
    return match ? "match" : device === erasedMd5(length) ? "erased" : "differs";
  };
}

/** The sectors of [first, first + count) that are not blank locally, as ranges. */
function nonBlankRanges(h: RegionHashes, first: number, count: number): Range[] {
  const out: Range[] = [];
  for (let i = first; i < first + count; i++) {
    if (h.isErasedSector(i)) continue;
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === i) last[1]++;
    else out.push([i, 1]);
  }
  return out;
}

/**
 * Finds the sectors of one region that differ from the device, given that
 * the region as a whole differs. Bisection: probe the left part of a
 * differing range; if it matches, the right part must differ, otherwise both
 * are examined. A device range whose MD5 is that of blank flash needs no
 * more probes: its differing sectors are the locally non-blank ones.
 *
 * A range of unknown state is probed when the probe costs less than half of
 * rewriting it (the most one probe can be expected to save). A differing
 * range is split further only while probing its left part costs less than
 * `q` times rewriting the range, where `q` is the share of this region's
 * probes that found a clean range so far (Laplace-smoothed, 1/2 before the
 * first probe). Scattered changes keep `q` near 1/2 and the search goes down
 * to single sectors; where a region differs everywhere, `q` falls and the
 * differing part is written in large ranges after a few probes, while the
 * clean ranges beside it are still found. Splits fall on 64 KiB block
 * boundaries where the range spans blocks, so writes keep whole-block
 * erases.
 */
async function narrow(
  region: FlashRegion,
  h: RegionHashes,
  p: CostParams,
  probe: (first: number, count: number) => Promise<Probe>,
): Promise<Range[]> {
  const baseSector = region.offset / Sizes.SECTOR;
  let probes = 0;
  let clean = 0;
  const counted = async (first: number, count: number): Promise<Probe> => {
    const r = await probe(first, count);
    probes++;
    if (r === "match") clean++;
    return r;
  };
  const splitPoint = (first: number, count: number): number => {
    const mid = first + Math.floor(count / 2);
    if (count <= SECTORS_PER_BLOCK) return mid;
    // Round the split to the nearest absolute 64 KiB boundary inside the range.
    const abs = baseSector + mid;
    const rounded = Math.round(abs / SECTORS_PER_BLOCK) * SECTORS_PER_BLOCK - baseSector;
    return rounded > first && rounded < first + count ? rounded : mid;
  };
  const rewriteMs = (first: number, count: number) =>
    writeCost(p, baseSector + first, h.rangeLength(first, count), h.compressedSize(first, count))
      .ms;
  // A probe of [first, count) is worth it while it costs less than `q` times the rewrite it may save.
  const worth = (first: number, count: number, q: number, of: number) =>
    md5Ms(p, h.rangeLength(first, count)) < q * of;
  const resolve = async (first: number, count: number, known: Probe | null): Promise<Range[]> => {
    let state = known;
    if (state === null) {
      if (!worth(first, count, 0.5, rewriteMs(first, count))) return [[first, count]];
      state = await counted(first, count);
    }
    if (state === "match") return [];
    if (state === "erased") return nonBlankRanges(h, first, count);
    if (count === 1) return [[first, 1]];
    const split = splitPoint(first, count);
    const leftCount = split - first;
    const q = (clean + 1) / (probes + 2);
    if (!worth(first, leftCount, q, rewriteMs(first, count))) return [[first, count]];
    const left = await counted(first, leftCount);
    const right = count - leftCount;
    if (left === "match") return resolve(split, right, "differs");
    return [...await resolve(first, leftCount, left), ...await resolve(split, right, null)];
  };
  const out: Range[] = [];
  let first = 0;
  let dirtyParts = 0;
  while (first < h.sectors) {
    const count = nextPart(h, baseSector, p, first, dirtyParts);
    const state = await counted(first, count);
    if (state !== "match") dirtyParts++;
    out.push(...await resolve(first, count, state));
    first += count;
  }
  return out;
}

/**
 * The size of the next first-level probe of a region, in sectors, from
 * sector `first`. A part of S bytes costs one round trip (latency L) and, if
 * it differs, about S more bytes hashed to find the change inside it; with
 * d changes per byte the cost per byte is L/S + d*S/rate, least at
 * S = sqrt(L * rate / d). d is estimated as (parts found differing + 1) /
 * (bytes probed + region size): before anything is known, one change in the
 * region, which gives k = sqrt(hash time / L) parts (about 14 for a 1.5 MiB
 * app with the stub); each differing part makes the next parts smaller.
 * Parts are at least 64 KiB and end on 64 KiB boundaries; a small region is
 * probed whole.
 */
function nextPart(
  h: RegionHashes,
  baseSector: number,
  p: CostParams,
  first: number,
  dirtyParts: number,
): number {
  const left = h.sectors - first;
  const probed = h.rangeLength(0, first);
  const density = (dirtyParts + 1) / (probed + h.data.length);
  const bytes = Math.sqrt(Math.max(p.latencyMs, 0.01) / 1000 * p.md5BytesPerSec / density);
  const sectors = Math.max(SECTORS_PER_BLOCK, Math.round(bytes / Sizes.SECTOR));
  if (sectors >= left || left < 2 * SECTORS_PER_BLOCK) return left;
  const end = Math.round((baseSector + first + sectors) / SECTORS_PER_BLOCK) * SECTORS_PER_BLOCK -
    baseSector;
  // Never leave a tail shorter than a block: it joins this part.
  if (end <= first) return Math.min(left, SECTORS_PER_BLOCK);
  return h.sectors - end < SECTORS_PER_BLOCK ? left : end - first;
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
  // A slow link (an FTDI bridge's 16 ms latency timer) makes every probe dearer: use what
  // the loader measured when it is worse than the model's default.
  const measured = dev.latencyMs !== undefined && dev.latencyMs > DEFAULT_COST.latencyMs
    ? { latencyMs: dev.latencyMs }
    : {};
  const p = costParams(options.baud ?? 115200, dev.isStub, { ...measured, ...options.cost });
  const sec = dev.security;
  if (sec?.flashEncryption && !options.encrypt) throw new EncryptedFlashError(sec.flashCryptCnt);
  const canHash = !options.encrypt && (dev.canHash ?? (dev.isStub || dev.chip.rom.md5));
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
      const reason: StepReason = options.encrypt
        ? "encrypted"
        : options.full
        ? "forced-full"
        : "no-device-md5";
      const detail = options.encrypt
        ? "written whole through the flash-encryption engine (cannot be verified by MD5)"
        : options.full
        ? "full write requested"
        : sec?.secureDownload
        ? "Secure Download Mode allows no flash MD5; writing whole regions, unverified"
        : `${dev.chip.displayName} ROM cannot hash flash; writing whole regions (use the stub)`;
      rp.status = "forced";
      rp.ranges = [[0, h.sectors]];
      rp.writeSectors = h.sectors;
      const forced = regionSteps(region, h, rp.ranges, reason, detail, p);
      steps.push(...(options.encrypt ? forced.map((st) => ({ ...st, encrypt: true })) : forced));
      continue;
    }
    const probe = prober(dev, region, h, p, stats, options.onProbe, (md5, first, count) => {
      if (first === 0 && count === h.sectors) rp.deviceMd5 = md5;
    });
    const found = await narrow(region, h, p, probe);
    if (found.length === 0) continue;
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
  }
  if (verify) {
    for (const v of verifyRanges(regionPlans, steps)) {
      ms += md5Ms(p, v.length);
      roundTrips++;
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

/**
 * Finding what differs in one region, by device MD5, for no more than it
 * saves. Two rules decide every probe:
 *
 * - The budget: the device time spent probing a region never exceeds one
 *   MD5 of the whole region (the first look any tool without a copy of the
 *   old image pays) plus what the clean ranges found so far save on the
 *   write. So, on the cost model, planning a region never loses to writing
 *   it whole by more than that first look, even when everything differs.
 * - The value: a probe of a range is made only when the chance that it
 *   comes back clean (see density.ts: from the answers about the sectors
 *   around it) times what a clean answer would save on the write (priced in
 *   context by cover.ts: wire time inside a long write, block erases kept,
 *   the BEGIN/END of a split) is more than the probe costs.
 *
 * The first look asks about an app's header sector on its own (it holds
 * the app descriptor and digests, so it differs in nearly every rebuild and
 * says nothing about the rest), then hashes the region in parts, with the
 * budget alone deciding how far it goes: where every part differs, it stops
 * short of the region's end and the rest is written without asking. Then
 * each differing part is narrowed by bisection while both rules allow:
 * probe the left half; if it matches, the difference is in the right half;
 * otherwise go on in the left half, and ask about the right halves left
 * behind afterwards, joined where they touch (one probe instead of one per
 * level when they are clean). A device range whose MD5 is that of erased
 * flash needs no more probes: its differing sectors are the locally
 * non-blank ones.
 * @module
 */

import { Sizes } from "../protocol/opcodes.ts";
import { type CostParams, md5Ms } from "./cost.ts";
import { bestCover, type CoverRegion, type Range } from "./cover.ts";
import { Density, type Evidence } from "./density.ts";
import type { RegionHashes } from "./hash.ts";
import { Knowledge, type Segment } from "./knowledge.ts";

/** What a device MD5 said about a range. */
export type Probe = "match" | "erased" | "differs";

/** What {@link searchRegion} needs. */
export interface SearchInput {
  /** The region's local hashes. */
  h: RegionHashes;
  /** Absolute index of the region's first sector. */
  baseSector: number;
  /** The cost model. */
  p: CostParams;
  /** Whether written blocks are verified by device MD5 afterwards (priced in). */
  verify: boolean;
  /** True for an app image: its header sector is probed on its own. */
  app: boolean;
  /** Asks the device about sectors [first, first + count) of the region. */
  probe: (first: number, count: number) => Promise<Probe>;
}

const PER_BLOCK = Sizes.BLOCK / Sizes.SECTOR;
/** The smallest first-look part, in sectors (16 KiB). */
const MIN_PART = 4;
/** Sectors either side of a range whose plan a clean answer can change. */
const COVER_WINDOW = 48;
/** Sectors either side of a range whose answers inform its odds. */
const EVIDENCE_WINDOW = 64;
/** How much an answer about a sector `d` sectors away counts. */
const decay = (d: number) => Math.exp(-d / 8);

/**
 * Probes one region and returns the runs of sectors that must be written:
 * those found to differ, and those not worth asking about.
 */
export async function searchRegion(input: SearchInput): Promise<Range[]> {
  const { h, p, verify, baseSector } = input;
  const sectors = h.sectors;
  const k = new Knowledge(sectors);
  const region: CoverRegion = {
    sectors,
    baseSector,
    rangeLength: (f, n) => h.rangeLength(f, n),
    compressedSize: (f, n) => h.compressedSize(f, n),
  };
  // One MD5 of the region. Past the first probe (which is at most that), a round trip
  // is kept in reserve for the model's error.
  const budget = md5Ms(p, h.data.length);
  let spent = 0;
  let saved = 0;
  let probes = 0;
  const cost = (first: number, count: number) => md5Ms(p, h.rangeLength(first, count));
  let allowance = 0;
  const affordable = (c: number) =>
    probes === 0 || spent + c + p.latencyMs <= budget + saved + allowance;

  /** Cover cost of what must be written in [lo, hi), with [cf, cf + cn) taken as clean. */
  const coverMs = (lo: number, hi: number, cf = 0, cn = 0): number => {
    const runs: Range[] = [];
    for (const [f, n] of k.mustRuns(lo, hi)) {
      const a = Math.max(f, cf);
      const b = Math.min(f + n, cf + cn);
      if (b <= a) {
        runs.push([f, n]);
        continue;
      }
      if (a > f) runs.push([f, a - f]);
      if (f + n > b) runs.push([b, f + n - b]);
    }
    return bestCover(region, p, verify, runs).ms;
  };
  const windowOf = (first: number, count: number): [number, number] => [
    Math.max(0, first - COVER_WINDOW),
    Math.min(sectors, first + count + COVER_WINDOW),
  ];
  // Sectors the device showed blank: what they hold is known exactly, and says nothing
  // about how a build changed (a first flash, or a write cut short).
  const blank = new Set<number>();
  // An app's header sector (descriptor, digests) differs in nearly every rebuild: a
  // differing range that holds it says nothing about the sectors around it.
  const isHeader = (s: Segment) => input.app && s.first === 0 && s.state === "dirty";
  /**
   * The odds around [first, first + count), leaving out the segment under
   * test. Answers count less the farther they are (by e^(-d/8) at d sectors
   * away), so where a clean stretch ends and a changed one begins, the
   * sectors beside a range speak for it, not the whole neighbourhood.
   */
  const density = (first: number, count: number, except?: Segment): Density => {
    const evidence: Evidence[] = [];
    const lo = Math.max(0, first - EVIDENCE_WINDOW);
    const hi = Math.min(sectors, first + count + EVIDENCE_WINDOW);
    const end = first + count;
    const distance = (i: number) => i < first ? first - i : i >= end ? i - end + 1 : 0;
    for (const s of k.within(lo, hi)) {
      if (s.state === "unknown" || s === except || isHeader(s) || blank.has(s.first)) continue;
      if (s.state === "dirty") {
        const mid = s.first + (s.count >> 1);
        evidence.push({ count: s.count, state: "dirty", weight: decay(distance(mid)) });
        continue;
      }
      // A clean stretch counts sector by sector, each by its own distance.
      const a = Math.max(lo, s.first);
      const b = Math.min(hi, s.first + s.count);
      let n = 0;
      for (let i = a; i < b; i++) n += decay(distance(i));
      evidence.push({ count: n, state: "clean" });
    }
    return new Density(evidence);
  };
  /**
   * What narrowing a range down is expected to leave to write: the number
   * of sectors expected to differ, rounded down (a differing range: at least
   * one), in its middle; nothing for an unknown range that more likely than
   * not is clean.
   */
  const footprint = (
    first: number,
    count: number,
    state: Segment["state"],
    except?: Segment,
  ): Range | undefined => {
    if (state === "clean") return undefined;
    const expected = density(first, count, except).dirty(count, state === "dirty");
    if (state === "unknown" && expected < 0.5) return undefined;
    const n = Math.min(count, Math.max(1, Math.floor(expected)));
    return [first + ((count - n) >> 1), n];
  };
  /**
   * What the write would save if sectors [first, first + count) of `seg`
   * turned out clean, looking ahead: the ranges around it, and the rest of
   * `seg`, are taken as narrowed down to what they are expected to hold.
   * (Without the look-ahead, knowing half a block is clean is worth
   * nothing while the other half is still to be written whole, and
   * bisection would stop at the first level where a block erase beats
   * sector erases.)
   */
  const gain = (container: Segment, first: number, count: number): number => {
    const [lo, hi] = windowOf(first, count);
    const cEnd = container.first + container.count;
    const others: Range[] = [];
    const add = (f: number, n: number, state: Segment["state"], except?: Segment) => {
      const fp = n > 0 ? footprint(f, n, state, except) : undefined;
      if (!fp) return;
      const a = Math.max(lo, fp[0]);
      const b = Math.min(hi, fp[0] + fp[1]);
      if (b > a) others.push([a, b - a]);
    };
    for (const s of k.within(lo, hi)) {
      const sEnd = s.first + s.count;
      if (sEnd <= container.first || s.first >= cEnd) {
        add(s.first, s.count, s.state, s);
        continue;
      }
      // Parts of a segment outside the container count as ranges of their own.
      add(s.first, container.first - s.first, s.state, s);
      add(cEnd, sEnd - cEnd, s.state, s);
    }
    const whole: Range = [
      Math.max(lo, container.first),
      Math.min(hi, cEnd) - Math.max(lo, container.first),
    ];
    const rest: Range[] = [];
    if (container.state === "dirty" && count < container.count) {
      const restFirst = first === container.first ? first + count : container.first;
      const fp = footprint(restFirst, container.count - count, "dirty", k.at(container.first));
      if (fp) rest.push(fp);
    }
    const sorted = (rs: Range[]) => rs.sort((x, y) => x[0] - y[0]);
    return bestCover(region, p, verify, sorted([...others, whole])).ms -
      bestCover(region, p, verify, sorted([...others, ...rest])).ms;
  };

  /** One device MD5; records what it showed and what that saves. */
  const ask = async (first: number, count: number): Promise<Probe> => {
    const [lo, hi] = windowOf(first, count);
    const before = coverMs(lo, hi);
    spent += cost(first, count);
    probes++;
    const r = await input.probe(first, count);
    if (r === "match") k.set(first, count, "clean");
    else if (r === "differs") k.set(first, count, "dirty");
    else {
      for (let i = first; i < first + count; i++) {
        k.set(i, 1, h.isErasedSector(i) ? "clean" : "dirty");
        blank.add(i);
      }
    }
    if (r !== "differs") saved += Math.max(0, before - coverMs(lo, hi));
    return r;
  };

  // The first look: an app's header sector on its own, then the parts.
  let first = 0;
  if (input.app && sectors > 2 * PER_BLOCK) {
    await ask(0, 1);
    first = 1;
  }
  let dirtyParts = 0;
  while (first < sectors) {
    const count = nextPart(h, baseSector, p, first, dirtyParts);
    if (!affordable(cost(first, count))) break;
    // Blank device flash is known exactly and says nothing about how changes spread.
    if (await ask(first, count) === "differs") dirtyParts++;
    first += count;
  }

  /**
   * Bisects the differing range [f, f + n) down while a probe is worth it:
   * ask about the left half; if it matches, the difference is in the right
   * half; otherwise go on in the left half and leave the right half unknown,
   * for the sweep below to ask about together with its unknown neighbours.
   */
  const narrow = async (f: number, n: number): Promise<void> => {
    while (n > 1) {
      const split = splitPoint(baseSector, f, n);
      const left = split - f;
      const right = n - left;
      const c = cost(f, left);
      if (!affordable(c)) return;
      const odds = density(f, n, k.at(f)).leftClean(left, right);
      if (odds * gain({ first: f, count: n, state: "dirty" }, f, left) <= c) return;
      const r = await ask(f, left);
      if (r === "match") {
        f = split;
        n = right;
        continue;
      }
      k.set(split, right, "unknown");
      if (r === "erased") return;
      // The right half now likely holds nothing: while nothing clean has been found in
      // the region, ask about it at once (what it finds clean pays for going on), else
      // leave it for the sweep, which asks about it with the right halves below it.
      if (saved === 0) await explore(split, right);
      n = left;
    }
  };
  /** Asks about the unknown range [f, f + n) when that is worth it; if it differs, narrows it. */
  const explore = async (f: number, n: number): Promise<void> => {
    const c = cost(f, n);
    if (!affordable(c)) return;
    // Whether an app's header sector changed is anyone's guess: even odds.
    const odds = input.app && f === 0 && n === 1 ? 0.5 : density(f, n).clean(n);
    if (odds * gain({ first: f, count: n, state: "unknown" }, f, n) <= c) return;
    if (await ask(f, n) === "differs") await narrow(f, n);
  };

  // A region looked at in one probe (a bootloader, a partition table, NVS) may spend
  // what a whole bisection of it costs (the halves that differ, then the halves beside
  // them, about twice its MD5, and two round trips a level): it is small, so that is
  // little, while rewriting a sector of it needlessly is not.
  if (probes === 1) allowance = 2 * budget + 2 * Math.ceil(Math.log2(sectors)) * md5Ms(p, 0);
  for (const s of k.segments.filter((x) => x.state === "dirty" && x.count > 1)) {
    await narrow(s.first, s.count);
  }
  // Sweep the unknown ranges bisection left behind (joined where they touch)
  // until none is worth a probe.
  const declined = new Set<string>();
  for (;;) {
    const next = k.segments.find((x) =>
      x.state === "unknown" && !declined.has(`${x.first}:${x.count}`)
    );
    if (!next) break;
    const asked = probes;
    await explore(next.first, next.count);
    if (probes === asked) declined.add(`${next.first}:${next.count}`);
  }
  return k.mustRuns();
}

/**
 * Where to split a differing range: its middle, rounded to the nearest
 * absolute 64 KiB boundary inside it when it spans blocks, so the halves
 * keep whole-block erases.
 */
function splitPoint(baseSector: number, first: number, count: number): number {
  const mid = first + Math.floor(count / 2);
  if (count <= PER_BLOCK) return mid;
  const abs = baseSector + mid;
  const rounded = Math.round(abs / PER_BLOCK) * PER_BLOCK - baseSector;
  return rounded > first && rounded < first + count ? rounded : mid;
}

/**
 * The size of the next first-look part of a region, in sectors, from sector
 * `first`. A part of S bytes costs one round trip (latency L) and, if it
 * differs, about S more bytes hashed to find the change inside it; with d
 * changes per byte the cost per byte is L/S + d*S/rate, least at
 * S = sqrt(L * rate / d). d is estimated as (parts found differing + 1) /
 * (bytes probed + region size): before anything is known, one change in the
 * region, which gives k = sqrt(hash time / L) parts (about 14 for a 1.5 MiB
 * app with the stub); each differing part makes the next parts smaller.
 * Parts are at least 16 KiB (so a small region with a few changes still
 * shows clean parts) and end on 64 KiB boundaries, or 16 KiB ones when
 * smaller than a block; a small region is probed whole.
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
  const min = MIN_PART;
  const sectors = Math.max(min, Math.round(bytes / Sizes.SECTOR));
  if (sectors >= left || left < 2 * min) return left;
  // End on a 64 KiB boundary, or a 16 KiB one for a part smaller than a block.
  const unit = sectors >= PER_BLOCK ? PER_BLOCK : MIN_PART;
  let end = Math.round((baseSector + first + sectors) / unit) * unit - baseSector;
  if (end - first < min) {
    end = Math.ceil((baseSector + first + min) / MIN_PART) * MIN_PART - baseSector;
  }
  // Never leave a tail shorter than a part: it joins this one.
  return h.sectors - end < min ? left : end - first;
}

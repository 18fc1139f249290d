/**
 * What `write-flash` does in both personalities: by default the delta path (plan by
 * device MD5, write the sectors that differ, verify by MD5), so a tool that
 * runs esptool's `write-flash` gets espdelta's re-flash; `--full`,
 * `--erase-all` and `--encrypt` write every file whole, as esptool does
 * (session/write.ts). What each file came to is reported per region, in the
 * terms esptool's lines need (bytes written, bytes sent, seconds).
 * @module
 */

import { type ChipName, CHIPS } from "../chips/chips.ts";
import { imageChipId } from "../image/app.ts";
import { type LoadedInputs, regionsForChip } from "../image/inputs.ts";
import { holdsImage } from "../image/region.ts";
import { InputError } from "../image/errors.ts";
import type { Loader } from "../loader/loader.ts";
import { executePlan } from "../plan/execute.ts";
import { planFlash } from "../plan/planner.ts";
import type { Plan, PlanDevice } from "../plan/types.ts";
import type { Region } from "../image/region.ts";
import { writeRegions } from "./write.ts";

/** How to write. */
export interface WriteFlashOptions {
  /** The device's flash size: regions must fit. */
  flashSize: number;
  /** Baud rate of the writes (the cost model's). */
  baud: number;
  /** Write every file whole (esptool's plain write). */
  full?: boolean;
  /** Erase the whole flash first, then write every file whole. */
  eraseAll?: boolean;
  /** Write every file whole through the flash-encryption engine. */
  encrypt?: boolean;
  /** Deflate on the wire: `auto` (default), or forced on or off. */
  compress?: boolean | "auto";
  /** Stops the write at a safe point (after the data block in flight). */
  signal?: AbortSignal;
}

/** What happened to one file. */
export interface RegionReport {
  /** The region (its `file` names the file given). */
  region: Region;
  /** Sectors it spans. */
  sectors: number;
  /** Sectors written. */
  sectorsWritten: number;
  /** Written sector ranges, relative to the region start: [first, count]. */
  ranges: [number, number][];
  /** Bytes of the file written (the written sectors, clipped to the file's end). */
  bytesWritten: number;
  /** Data bytes sent for it (deflated where compressed; a resent header sector counts). */
  bytesSent: number;
  /** Whether the data went deflated. */
  compressed: boolean;
  /** Seconds from its first write to its last. */
  seconds: number;
  /** `md5` when a device MD5 checked it, `encrypted` when it was written as ciphertext. */
  verified: "md5" | "encrypted" | "none";
}

/** What {@link writeFlash} did. */
export interface WriteFlashResult {
  /** `delta`: planned by device MD5; `whole`: every file written as given. */
  mode: "delta" | "whole";
  /** `verify-skip`, `selective` or `full`. */
  outcome: Plan["outcome"];
  /** The plan, on the delta path. */
  plan?: Plan;
  /** Per file, in offset order. */
  regions: RegionReport[];
  /** Data bytes sent in all. */
  bytesSent: number;
  /** espdelta's one line: `selective, 2 of 48 sectors written`. */
  summary: string;
  /** The same per region, as `flash` says it: `selective: factory 0x10000 (2 of 48 sectors)`. */
  detail: string;
}

/** Progress of one write, for bars and JSON events. */
export type WriteFlashProgress =
  | { type: "start"; region: Region; total: number }
  | { type: "progress"; region: Region; done: number; total: number }
  | { type: "end"; region: Region; total: number }
  | { type: "erase-all" }
  | { type: "rewrite"; region: string; reason: string };

const SECTOR = 0x1000;

/**
 * The one note for esptool's `--skip-flashed`, `--diff-with` and
 * `--trust-flash-content`: accepted, and what they ask for is what
 * write-flash does anyway.
 */
export const SUBSUMED_NOTE =
  "--skip-flashed, --diff-with and --trust-flash-content are not needed: write-flash asks the " +
  "device for the MD5 of every sector it would write and writes only those that differ";

/**
 * Checks `--diff-with` files as esptool does (each must exist; `skip` skips
 * one), though their contents are not needed.
 */
export async function checkDiffWith(files: readonly string[] | undefined): Promise<void> {
  for (const f of files ?? []) {
    if (f.toLowerCase() === "skip") continue;
    try {
      if (!(await Deno.stat(f)).isFile) throw new Deno.errors.IsADirectory(f);
    } catch {
      throw new InputError(
        "FILE_NOT_FOUND",
        `--diff-with ${f}: no such file; give the previously flashed files, or 'skip'`,
      );
    }
  }
}

/** The regions to write on `chip`, and what was done to them on the way. */
export interface WriteRegions {
  /** Sorted by offset, bootloader header patched as asked. */
  regions: Region[];
  /** `region: Flash parameters set to 0x0220. SHA digest in image updated.`, one per patch. */
  notes: string[];
  /** The bare patch messages, as esptool prints them (without the region name). */
  patches: string[];
}

/**
 * The loaded inputs for `chip`, as `regionsForChip` makes them; with
 * `force` (esptool's `--force`), images built for another chip are written
 * anyway, as plain data.
 */
export function regionsForWrite(
  loaded: LoadedInputs,
  chip: ChipName,
  flashSize: number,
  force = false,
  revision?: number,
): WriteRegions {
  const input = force
    ? { regions: loaded.regions, flash: loaded.flash, images: new Map() }
    : loaded;
  const { regions, notes } = regionsForChip(input, chip, { flashSize, revision, force });
  const patches = notes.map((n) => n.slice(n.indexOf(": ") + 2));
  if (!force) return { regions, notes, patches };
  const id = CHIPS[chip].imageChipId;
  const foreign = (r: Region) => {
    const built = holdsImage(r) ? imageChipId(r.data) : undefined;
    return id !== null && built !== undefined && built !== id;
  };
  return {
    regions: regions.map((r) => foreign(r) ? { ...r, kind: "other" as const } : r),
    notes,
    patches,
  };
}

/**
 * The loader as the planner sees it, with the wire's compression as asked;
 * `written` hears whether each write went deflated.
 */
function planDevice(
  loader: Loader,
  compress: boolean | "auto",
  written: (compressed: boolean) => void,
): PlanDevice {
  return {
    chip: loader.chip,
    isStub: loader.isStub,
    canHash: loader.canHash,
    latencyMs: loader.latencyMs,
    security: loader.security,
    md5: (offset, size) => loader.md5(offset, size),
    write: async (offset, data, options) => {
      const r = await loader.write(offset, data, { ...options, compress });
      written(r.compressed);
      return r;
    },
    eraseRegion: (offset, size) => loader.eraseRegion(offset, size),
  };
}

/** Bytes of a region's data inside its written sector ranges. */
function writtenBytes(length: number, ranges: readonly [number, number][]): number {
  let n = 0;
  for (const [first, count] of ranges) {
    n += Math.max(0, Math.min(length, (first + count) * SECTOR) - first * SECTOR);
  }
  return n;
}

/** The per-region line of a write, in the words of the planner's `summarizePlan`. */
function detailOf(outcome: Plan["outcome"], reports: readonly RegionReport[]): string {
  const names = reports.map((r) => r.region.name);
  if (outcome === "verify-skip") {
    return `verify-skip: ${reports.length} region${
      reports.length === 1 ? "" : "s"
    } already on the device (${names.join(", ")})`;
  }
  const parts = reports.filter((r) => r.sectorsWritten > 0).map((r) =>
    `${r.region.name} 0x${
      r.region.offset.toString(16)
    } (${r.sectorsWritten} of ${r.sectors} sector${r.sectors === 1 ? "" : "s"})`
  );
  return `${outcome}: ${parts.join(", ")}`;
}

/** The summary line of a write. */
function summaryOf(outcome: Plan["outcome"], reports: readonly RegionReport[]): string {
  const written = reports.reduce((n, r) => n + r.sectorsWritten, 0);
  const sectors = reports.reduce((n, r) => n + r.sectors, 0);
  return `${outcome}, ${written} of ${sectors} sector${sectors === 1 ? "" : "s"} written`;
}

/**
 * Writes `regions` (validated for the loader's chip and `flashSize`) the way
 * `options` ask; see the module docs. Throws the validation's RegionError
 * before anything is sent, and VerifyError when the device ends up holding
 * other bytes.
 */
export async function writeFlash(
  loader: Loader,
  regions: readonly Region[],
  options: WriteFlashOptions,
  onProgress: (p: WriteFlashProgress) => void = () => {},
): Promise<WriteFlashResult> {
  const compress = options.compress ?? "auto";
  if (options.full || options.eraseAll || options.encrypt) {
    const reports: RegionReport[] = [];
    let started = 0;
    const result = await writeRegions(loader, regions, {
      flashSize: options.flashSize,
      compress,
      encrypt: options.encrypt,
      eraseAll: options.eraseAll,
      signal: options.signal,
      onEvent: (e) => {
        if (e.type === "erase-all") onProgress({ type: "erase-all" });
        else if (e.type === "region-start") {
          started = performance.now();
          onProgress({ type: "start", region: e.region, total: e.region.data.length });
        } else if (e.type === "progress") onProgress(e);
        else if (e.type === "region-written") {
          onProgress({ type: "end", region: e.region, total: e.region.data.length });
          const sectors = Math.ceil(e.region.data.length / SECTOR);
          reports.push({
            region: e.region,
            sectors,
            sectorsWritten: sectors,
            ranges: [[0, sectors]],
            bytesWritten: e.region.data.length,
            bytesSent: e.bytesSent,
            compressed: e.compressed,
            seconds: (performance.now() - started) / 1000,
            verified: "none",
          });
        } else if (e.type === "region-done") reports.at(-1)!.verified = e.verified;
      },
    });
    return {
      mode: "whole",
      outcome: "full",
      regions: reports,
      bytesSent: result.bytesSent,
      summary: summaryOf("full", reports),
      detail: detailOf("full", reports),
    };
  }

  let deflated = false;
  const dev = planDevice(loader, compress, (c) => deflated = c);
  const plan = await planFlash(dev, regions, { flashSize: options.flashSize, baud: options.baud });
  const byName = new Map(regions.map((r) => [r.name, r]));
  const stats = new Map<
    string,
    { sent: number; first?: number; last?: number; deflated: boolean }
  >();
  for (const rp of plan.regions) stats.set(rp.name, { sent: 0, deflated: false });
  const result = await executePlan(dev, plan, regions, {
    signal: options.signal,
    onEvent: (e) => {
      if (e.type === "step-start" && e.step.action === "write") {
        const s = stats.get(e.step.region)!;
        s.first ??= performance.now();
        onProgress({ type: "start", region: byName.get(e.step.region)!, total: e.step.length });
      } else if (e.type === "step-progress") {
        onProgress({
          type: "progress",
          region: byName.get(e.step.region)!,
          done: e.done,
          total: e.total,
        });
      } else if (e.type === "step-done" && e.step.action === "write") {
        const s = stats.get(e.step.region)!;
        s.sent += e.bytesSent;
        s.last = performance.now();
        if (deflated) s.deflated = true;
        onProgress({ type: "end", region: byName.get(e.step.region)!, total: e.step.length });
      } else if (e.type === "rewrite") {
        onProgress({ type: "rewrite", region: e.region, reason: e.reason });
      }
    },
  });
  const reports = plan.regions.map((rp): RegionReport => {
    const s = stats.get(rp.name)!;
    const region = byName.get(rp.name)!;
    return {
      region,
      sectors: rp.sectors,
      sectorsWritten: rp.writeSectors,
      ranges: rp.ranges,
      bytesWritten: writtenBytes(rp.length, rp.ranges),
      bytesSent: s.sent,
      compressed: s.deflated,
      seconds: s.first === undefined ? 0 : ((s.last ?? s.first) - s.first) / 1000,
      verified: plan.verify ? "md5" : "none",
    };
  });
  return {
    mode: "delta",
    outcome: plan.outcome,
    plan,
    regions: reports,
    bytesSent: result.bytesSent,
    summary: summaryOf(plan.outcome, reports),
    detail: detailOf(plan.outcome, reports),
  };
}

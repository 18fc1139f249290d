/**
 * Carries out a plan: writes its steps in order, verifies by device MD5
 * every 64 KiB block a write touched (see verify.ts), and rewrites a region
 * that fails once.
 * Sectors outside the plan are never erased or written.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";
import { hex } from "../protocol/bytes.ts";
import { Sizes } from "../protocol/opcodes.ts";
import { md5Hex } from "./hash.ts";
import type { FlashRegion, Plan, PlanDevice, PlanStep } from "./types.ts";
import { verifyRanges } from "./verify.ts";

/** The device still differs from the image after one full rewrite. */
export class VerifyError extends EspdeltaError {
  /** Name of the region that failed. */
  readonly region: string;
  /** Built from the region's name and the two MD5s. */
  constructor(region: string, offset: number, expected: string, actual: string) {
    super(
      "VERIFY_MISMATCH",
      `${region} at ${hex(offset)} still differs after a full rewrite ` +
        `(device MD5 ${actual}, expected ${expected}); check the flash size and power, then retry`,
    );
    this.region = region;
  }
}

/** Progress and result events, in order. */
export type ExecuteEvent =
  | { type: "step-start"; step: PlanStep; index: number; total: number }
  | { type: "step-progress"; step: PlanStep; done: number; total: number }
  | { type: "step-done"; step: PlanStep; bytesSent: number }
  | { type: "verify"; region: string; offset: number; length: number; match: boolean }
  | { type: "rewrite"; region: string; reason: string }
  | { type: "region-done"; region: string; offset: number; sectorsWritten: number };

/** What happened. */
export interface ExecuteResult {
  /** The plan's outcome class. */
  outcome: Plan["outcome"];
  /** Bytes sent to the device for data (after compression). */
  bytesSent: number;
  /** Steps carried out (rewrites included). */
  stepsRun: number;
  /** Whether device MD5s confirmed every written range and region. */
  verified: boolean;
  /** Regions rewritten whole after a failed check. */
  rewritten: string[];
}

/** Options of {@link executePlan}. */
export interface ExecuteOptions {
  /** Receives progress and result events. */
  onEvent?: (event: ExecuteEvent) => void;
}

/**
 * Executes `plan` with the same `regions` it was made from (checked by MD5).
 * Throws {@link VerifyError} when a region still differs after one rewrite.
 */
export async function executePlan(
  dev: PlanDevice,
  plan: Plan,
  regions: readonly FlashRegion[],
  options: ExecuteOptions = {},
): Promise<ExecuteResult> {
  const emit = options.onEvent ?? (() => {});
  const byName = new Map<string, FlashRegion>();
  for (const rp of plan.regions) {
    const r = regions.find((x) => x.name === rp.name && x.offset === rp.offset);
    if (!r || md5Hex(r.data) !== rp.md5) {
      throw new EspdeltaError(
        "PLAN_MISMATCH",
        `region ${rp.name} at ${hex(rp.offset)} is not the one the plan was made from; plan again`,
      );
    }
    byName.set(rp.name, r);
  }

  let bytesSent = 0;
  let stepsRun = 0;
  const run = async (step: PlanStep, index: number, total: number) => {
    const region = byName.get(step.region)!;
    emit({ type: "step-start", step, index, total });
    if (step.action === "erase") {
      await dev.eraseRegion(step.offset, step.sectors * Sizes.SECTOR);
      emit({ type: "step-done", step, bytesSent: 0 });
    } else {
      const start = step.offset - region.offset;
      const data = region.data.subarray(start, start + step.length);
      const r = await dev.write(step.offset, data, {
        onProgress: (done, all) => emit({ type: "step-progress", step, done, total: all }),
      });
      bytesSent += r.bytesSent;
      emit({ type: "step-done", step, bytesSent: r.bytesSent });
    }
    stepsRun++;
  };

  for (let i = 0; i < plan.steps.length; i++) await run(plan.steps[i], i, plan.steps.length);

  const rewritten: string[] = [];
  if (plan.verify) {
    const failed = new Set<string>();
    const check = async (region: string, offset: number, data: Uint8Array) => {
      const match = await dev.md5(offset, data.length) === md5Hex(data);
      emit({ type: "verify", region, offset, length: data.length, match });
      return match;
    };
    for (const v of verifyRanges(plan.regions, plan.steps)) {
      const region = byName.get(v.region)!;
      const start = v.offset - region.offset;
      if (!await check(v.region, v.offset, region.data.subarray(start, start + v.length))) {
        failed.add(v.region);
      }
    }
    for (const name of failed) {
      const region = byName.get(name)!;
      emit({ type: "rewrite", region: name, reason: "device MD5 differs after writing" });
      const whole: PlanStep = {
        action: "write",
        region: name,
        offset: region.offset,
        length: region.data.length,
        firstSector: region.offset / Sizes.SECTOR,
        sectors: Math.ceil(region.data.length / Sizes.SECTOR),
        reason: "range-differs",
        detail: "rewrite after a failed check",
        compressedBytes: 0,
        ms: 0,
        wireBytes: 0,
      };
      await run(whole, 0, 1);
      const actual = await dev.md5(region.offset, region.data.length);
      const expected = md5Hex(region.data);
      const match = actual === expected;
      emit({
        type: "verify",
        region: name,
        offset: region.offset,
        length: region.data.length,
        match,
      });
      if (!match) throw new VerifyError(name, region.offset, expected, actual);
      rewritten.push(name);
    }
  }
  for (const rp of plan.regions) {
    emit({
      type: "region-done",
      region: rp.name,
      offset: rp.offset,
      sectorsWritten: rp.writeSectors,
    });
  }
  return { outcome: plan.outcome, bytesSent, stepsRun, verified: plan.verify, rewritten };
}

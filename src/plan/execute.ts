/**
 * Carries out a plan: writes its steps in order, verifies by device MD5
 * every 64 KiB block a write touched (see verify.ts), and repairs a block
 * that fails its check (its steps again, then the block whole, once each).
 * A check fails only when two device MD5s agree on a wrong digest.
 * Sectors outside the plan are never erased or written.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";
import { hex } from "../protocol/bytes.ts";
import { Sizes } from "../protocol/opcodes.ts";
import { md5Hex } from "./hash.ts";
import type { Plan, PlanDevice, PlanStep, Region } from "./types.ts";
import { verifyRanges } from "./verify.ts";

/** The device still differs from the image after its range was written again, whole. */
export class VerifyError extends EspdeltaError {
  /** Name of the region that failed. */
  readonly region: string;
  /** Built from the region's name and the two MD5s. */
  constructor(region: string, offset: number, expected: string, actual: string) {
    super(
      "VERIFY_MISMATCH",
      `${region} at ${hex(offset)} still differs after writing it again ` +
        `(device MD5 ${actual}, expected ${expected}); check the flash size and power, then retry`,
    );
    this.region = region;
  }
}

/** A write step of `length` bytes at `offset` in `region`, outside any plan. */
function rangeStep(region: string, offset: number, length: number): PlanStep {
  return {
    action: "write",
    region,
    offset,
    length,
    firstSector: offset / Sizes.SECTOR,
    sectors: Math.ceil(length / Sizes.SECTOR),
    reason: "range-differs",
    detail: "rewrite after a failed check",
    compressedBytes: 0,
    ms: 0,
    wireBytes: 0,
  };
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
  /** Regions where a check failed and their steps (or checked range) were written again. */
  rewritten: string[];
}

/** Options of {@link executePlan}. */
export interface ExecuteOptions {
  /** Receives progress and result events. */
  onEvent?: (event: ExecuteEvent) => void;
  /**
   * Stops the run at the next safe point once aborted: before a step, after
   * the data block in flight, or before a check; throws the signal's reason.
   */
  signal?: AbortSignal;
}

/**
 * Executes `plan` with the same `regions` it was made from (checked by MD5).
 * A checked range that differs gets its steps run again; if it still
 * differs, the whole checked range is written; if even that fails,
 * {@link VerifyError}.
 */
export async function executePlan(
  dev: PlanDevice,
  plan: Plan,
  regions: readonly Region[],
  options: ExecuteOptions = {},
): Promise<ExecuteResult> {
  const emit = options.onEvent ?? (() => {});
  const stopHere = () => options.signal?.throwIfAborted();
  const byName = new Map<string, Region>();
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
    stopHere();
    emit({ type: "step-start", step, index, total });
    if (step.action === "erase") {
      await dev.eraseRegion(step.offset, step.sectors * Sizes.SECTOR);
      emit({ type: "step-done", step, bytesSent: 0 });
    } else {
      const start = step.offset - region.offset;
      let data = region.data.subarray(start, start + step.length);
      if (step.blankHeader) {
        data = data.slice();
        data.fill(0xff, 0, Sizes.SECTOR);
      }
      const r = await dev.write(step.offset, data, {
        onProgress: (done, all) => {
          emit({ type: "step-progress", step, done, total: all });
          stopHere(); // the block in flight is written: a safe point
        },
        ...(step.encrypt ? { encrypt: true } : {}),
      });
      bytesSent += r.bytesSent;
      emit({ type: "step-done", step, bytesSent: r.bytesSent });
    }
    stepsRun++;
  };

  for (let i = 0; i < plan.steps.length; i++) await run(plan.steps[i], i, plan.steps.length);

  const rewritten: string[] = [];
  if (plan.verify) {
    const check = async (region: string, offset: number, length: number) => {
      const r = byName.get(region)!;
      const start = offset - r.offset;
      const expected = md5Hex(r.data.subarray(start, start + length));
      stopHere();
      // A digest corrupted on the way back looks like a mismatch, and nothing in the
      // reply can tell: a mismatch counts once two answers agree (three asks at most).
      let actual = await dev.md5(offset, length);
      for (let ask = 1; actual !== expected && ask < 3; ask++) {
        const again = await dev.md5(offset, length);
        if (again === actual) break;
        actual = again;
      }
      const match = actual === expected;
      emit({ type: "verify", region, offset, length, match });
      return { match, expected, actual };
    };
    for (const v of verifyRanges(plan.regions, plan.steps)) {
      if ((await check(v.region, v.offset, v.length)).match) continue;
      // First the plan's own steps in this range again: a write that went
      // wrong on the way (a corrupted block the checksum missed) is fixed
      // without touching any sector outside the plan.
      const inside = plan.steps.filter((st) =>
        st.action === "write" && st.region === v.region && st.offset >= v.offset &&
        st.offset + st.length <= v.offset + v.length
      );
      emit({ type: "rewrite", region: v.region, reason: "device MD5 differs after writing" });
      for (const st of inside) await run(st, 0, inside.length);
      let c = await check(v.region, v.offset, v.length);
      if (!c.match) {
        // Sectors beside the written ones changed: rewrite the whole checked range,
        // an app's header sector blank first and last, as the plan wrote it.
        const header = plan.steps.find((st) =>
          st.reason === "header-last" && st.region === v.region && st.offset === v.offset
        );
        const whole = rangeStep(v.region, v.offset, v.length);
        emit({
          type: "rewrite",
          region: v.region,
          reason: "sectors beside the written ones differ",
        });
        if (header && whole.sectors > 1) {
          await run({ ...whole, blankHeader: true }, 0, 2);
          await run(header, 1, 2);
        } else {
          await run(whole, 0, 1);
        }
        c = await check(v.region, v.offset, v.length);
        if (!c.match) throw new VerifyError(v.region, v.offset, c.expected, c.actual);
      }
      if (!rewritten.includes(v.region)) rewritten.push(v.region);
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

/**
 * `espdelta plan` and `espdelta flash`: the delta path. Both take ADDR FILE
 * pairs (or a build folder); `plan` only asks the device for MD5s and prints
 * what it would write, `flash` carries the plan out, verifies and resets.
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { planFlash, summarizePlan } from "../plan/planner.ts";
import { executePlan } from "../plan/execute.ts";
import { preflightInputs, resolveInputs } from "./inputs.ts";
import { parseChip } from "./args.ts";
import type { GlobalOptions } from "./main.ts";
import type { Output } from "./output.ts";
import { DEFAULT_BAUD, withSession } from "./session.ts";
import { formatPlan } from "./plan_format.ts";

/** Registers `plan` and `flash`. */
export function register(program: Command, out: () => Output): void {
  program.command("plan")
    .description("show what flash would write, without writing (device MD5s only)")
    .argument("<inputs...>", "a build folder, or ADDRESS FILE pairs")
    .option("--full", "plan a full write of every region")
    .option("--flash-mode <mode>", "bootloader header flash mode: keep, qio, qout, dio, dout")
    .option("--flash-freq <freq>", "bootloader header flash frequency: keep, 40m, 80m, ...")
    .option("--flash-size <size>", "bootloader header flash size: keep, detect, 4MB, ...")
    .addHelpText(
      "after",
      "\nExamples:\n  espdelta -p /dev/ttyUSB0 plan build/\n" +
        "  espdelta -p /dev/ttyUSB0 --json plan 0x10000 app.bin",
    )
    .action(async (inputs, opts, cmd) => {
      const g = cmd.optsWithGlobals() as unknown as GlobalOptions;
      const o = out();
      const chipArg = parseChip(g.chip);
      await preflightInputs(inputs, chipArg === "auto" ? undefined : chipArg);
      await withSession(g, o, async ({ loader, chip, flashSize }) => {
        const regions = await resolveInputs(inputs, chip.name, {
          ...opts,
          detectedFlashSize: flashSize,
          out: o,
        });
        const plan = await planFlash(loader, regions, {
          flashSize,
          baud: g.baud ?? DEFAULT_BAUD,
          full: opts.full,
        });
        if (o.json) o.event("plan", { plan });
        else for (const line of formatPlan(plan)) o.info(line);
        o.result(summarizePlan(plan), { outcome: plan.outcome });
      }, { needFlashSize: true });
    });

  program.command("flash")
    .description("write only what differs: plan by device MD5, write, verify, reset")
    .argument("<inputs...>", "a build folder, or ADDRESS FILE pairs")
    .option("--full", "write every region whole (for comparison)")
    .option("--flash-mode <mode>", "bootloader header flash mode: keep, qio, qout, dio, dout")
    .option("--flash-freq <freq>", "bootloader header flash frequency: keep, 40m, 80m, ...")
    .option("--flash-size <size>", "bootloader header flash size: keep, detect, 4MB, ...")
    .addHelpText(
      "after",
      "\nExamples:\n  espdelta -p /dev/ttyUSB0 flash build/\n" +
        "  espdelta -p socket://127.0.0.1:5555 flash 0x1000 bootloader.bin 0x8000 " +
        "partitions.bin 0x10000 app.bin",
    )
    .action(async (inputs, opts, cmd) => {
      const g = cmd.optsWithGlobals() as unknown as GlobalOptions;
      const o = out();
      const chipArg = parseChip(g.chip);
      await preflightInputs(inputs, chipArg === "auto" ? undefined : chipArg);
      await withSession(g, o, async ({ loader, chip, flashSize }) => {
        const regions = await resolveInputs(inputs, chip.name, {
          ...opts,
          detectedFlashSize: flashSize,
          out: o,
        });
        const plan = await planFlash(loader, regions, {
          flashSize,
          baud: g.baud ?? DEFAULT_BAUD,
          full: opts.full,
        });
        o.event("plan", { plan });
        if (o.traceOn) { for (const line of formatPlan(plan)) o.trace(line); }
        const started = performance.now();
        const result = await executePlan(loader, plan, regions, {
          onEvent: (e) => {
            if (e.type === "step-start" && e.step.action === "write") {
              o.progressStart(e.step.region, e.step.length);
            } else if (e.type === "step-progress") {
              o.progress(e.step.region, e.done, e.total);
            } else if (e.type === "step-done") {
              o.progressEnd();
            } else if (e.type === "region-done") {
              o.event("region-done", e);
            } else if (e.type === "rewrite") {
              o.warn(`${e.region}: ${e.reason}; writing it again`);
            }
          },
        });
        const secs = ((performance.now() - started) / 1000).toFixed(1);
        o.event("outcome", {
          outcome: plan.outcome,
          regions: plan.regions.map((r) => ({
            name: r.name,
            offset: r.offset,
            sectors: r.sectors,
            written: r.writeSectors,
            ranges: r.ranges,
          })),
          bytesSent: result.bytesSent,
          verified: result.verified,
          rewritten: result.rewritten,
          seconds: Number(secs),
        });
        if (!o.json) o.result(summarizePlan(plan));
      }, { needFlashSize: true });
    });
}

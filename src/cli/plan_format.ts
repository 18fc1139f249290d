/**
 * The plan as a table for people, and as a JSON value for programs.
 * @module
 */

import { CHIPS } from "../chips/chips.ts";
import { hex } from "../protocol/bytes.ts";
import type { Plan } from "../plan/types.ts";

function kb(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
}

/** Formats a plan as a table with steps and estimates. */
export function formatPlan(plan: Plan): string[] {
  const lines: string[] = [];
  lines.push(
    `Plan for ${CHIPS[plan.chip].displayName} (${plan.flashSize / 1048576} MB flash, ` +
      `${plan.stub ? "stub" : "ROM loader"}, ${plan.cost.baud} baud): ${plan.outcome}`,
  );
  const rows = [["region", "offset", "bytes", "sectors", "status", "written"]];
  for (const r of plan.regions) {
    const written = r.ranges.length === 0 ? "-" : r.ranges
      .map(([f, c]) => c === 1 ? hex(r.offset + f * 0x1000) : `${hex(r.offset + f * 0x1000)}+${c}`)
      .join(" ");
    rows.push([r.name, hex(r.offset), String(r.length), String(r.sectors), r.status, written]);
  }
  lines.push(...table(rows));
  if (plan.steps.length > 0) {
    lines.push("steps:");
    const steps = [["#", "action", "offset", "sectors", "reason", "est.", "wire"]];
    plan.steps.forEach((s, i) =>
      steps.push([
        String(i + 1),
        s.action,
        hex(s.offset),
        String(s.sectors),
        s.reason,
        seconds(s.ms),
        kb(s.wireBytes),
      ])
    );
    lines.push(...table(steps).map((l) => "  " + l));
  }
  lines.push(
    `probe: ${plan.probe.md5Commands} device MD5 command${
      plan.probe.md5Commands === 1 ? "" : "s"
    } over ${kb(plan.probe.bytesHashed)}`,
  );
  lines.push(
    `estimate: ${seconds(plan.estimate.ms)}, ${kb(plan.estimate.wireBytes)} on the wire, ` +
      `${plan.estimate.roundTrips} round trips${plan.verify ? ", verified by MD5" : ", no verify"}`,
  );
  return lines;
}

/**
 * `espdelta plan` and `espdelta flash`: the delta path. Both take ADDR FILE
 * pairs (or a build folder); `plan` only asks the device for MD5s and prints
 * what it would write, `flash` carries the plan out, verifies and resets.
 * @module
 */

import { planFlash, summarizePlan } from "../plan/planner.ts";
import { executePlan } from "../plan/execute.ts";
import {
  type FlashSettingOptions,
  loadArgs,
  regionsForBoard,
  withFlashSettings,
} from "./inputs.ts";
import type { LoadedInputs } from "../image/inputs.ts";
import { BoardsFailedError, exitCodeFor } from "./exit.ts";
import { EspdeltaError } from "../protocol/errors.ts";
import type { GlobalOptions, Program } from "./options.ts";
import type { Output } from "./output.ts";
import { namedPorts, type Session, withSession } from "./session.ts";
import type { Plan } from "../plan/types.ts";
import type { Region } from "../image/region.ts";
import { formatPlan } from "./plan_format.ts";
import { FORCE_HELP } from "./inputs.ts";

/** Registers `plan` and `flash`. */
export function register(program: Program, out: () => Output): void {
  withFlashSettings(
    program.command("plan")
      .description("show what flash would write, without writing (device MD5s only)")
      .argument("<inputs...>", "a build folder, or ADDRESS FILE pairs")
      .option("--full", "plan a full write of every region")
      .option("--encrypt", "plan writing every region whole through the flash-encryption engine")
      .option("--force", FORCE_HELP),
  )
    .addHelpText(
      "after",
      "\nExamples:\n  espdelta -p /dev/ttyUSB0 plan build/\n" +
        "  espdelta -p /dev/ttyUSB0 --json plan 0x10000 app.bin",
    )
    .action(async (inputs, opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const loaded = await loadArgs(inputs, g.chip, opts);
      await withSession(g, o, async (session) => {
        const { plan } = await planSession(o, session, loaded, opts);
        if (o.json) o.event("plan", { plan });
        else for (const line of formatPlan(plan)) o.info(line);
        o.result(summarizePlan(plan), { outcome: plan.outcome });
      }, { needFlashSize: true });
    });

  withFlashSettings(
    program.command("flash")
      .description("write only what differs: plan by device MD5, write, verify, reset")
      .argument("<inputs...>", "a build folder, or ADDRESS FILE pairs")
      .option("--full", "write every region whole (for comparison)")
      .option(
        "--encrypt",
        "write every region whole through the chip's flash-encryption engine (needed when flash " +
          "encryption is on; cannot be verified by MD5)",
      )
      .option("--force", FORCE_HELP),
  )
    .addHelpText(
      "after",
      "\nExamples:\n  espdelta -p /dev/ttyUSB0 flash build/\n" +
        "  espdelta -p socket://127.0.0.1:5555 flash 0x1000 bootloader.bin 0x8000 " +
        "partitions.bin 0x10000 app.bin",
    )
    .action(async (inputs, opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const loaded = await loadArgs(inputs, g.chip, opts);
      const ports = await namedPorts(g);
      if (ports.length <= 1) {
        const board = await flashBoard(g, o, loaded, opts, ports[0]);
        if (!o.json) o.result(board.summary);
        return;
      }
      await flashBoards(g, o, loaded, opts, ports);
    });
}

/** Options of `flash`. */
type FlashOptions = FlashSettingOptions & { full?: boolean; encrypt?: boolean; force?: boolean };

/** The inputs for the connected chip, planned on the session's device. */
async function planSession(
  o: Output,
  { loader, chip, flashSize, wireBaud }: Session,
  loaded: LoadedInputs,
  opts: FlashOptions,
): Promise<{ plan: Plan; regions: Region[] }> {
  const regions = regionsForBoard(loaded, chip.name, flashSize, o, {
    revision: loader.revision,
    force: opts.force,
  });
  const plan = await planFlash(loader, regions, {
    flashSize,
    baud: wireBaud,
    full: opts.full,
    encrypt: opts.encrypt,
  });
  return { plan, regions };
}

/** What happened on one board. */
interface BoardResult {
  /** The port. */
  port: string;
  /** Chip name, once connected. */
  chip?: string;
  /** Plan outcome. */
  outcome?: string;
  /** Sectors written, and in all the regions. */
  sectorsWritten?: number;
  /** Sectors the regions span. */
  sectors?: number;
  /** Data bytes sent. */
  bytesSent?: number;
  /** Seconds from opening the port to the end. */
  seconds: number;
  /** The plan in one line, or the error. */
  summary: string;
  /** 0 when it worked, else the exit code its error maps to. */
  exitCode: number;
}

/** The delta path on one board: connect, plan, write, verify, reset. */
async function flashBoard(
  g: GlobalOptions,
  o: Output,
  loaded: LoadedInputs,
  opts: FlashOptions,
  path?: string,
): Promise<BoardResult> {
  const started = performance.now();
  const board: BoardResult = { port: path ?? "", seconds: 0, summary: "", exitCode: 0 };
  await withSession(g, o, async (session) => {
    const { loader, chip, port } = session;
    board.port = port.path;
    board.chip = chip.displayName;
    const { plan, regions } = await planSession(o, session, loaded, opts);
    o.event("plan", { plan });
    if (o.traceOn) { for (const line of formatPlan(plan)) o.trace(line); }
    const writeStarted = performance.now();
    // What Ctrl-C reports: sectors of the plan's steps done so far, and in all.
    const planned = plan.steps.reduce((n, st) => n + st.sectors, 0);
    let done = 0;
    const track = (n: number) => o.interrupt.progress(port.path, Math.min(n, planned), planned);
    track(0);
    const result = await o.interrupt.writing(() =>
      executePlan(loader, plan, regions, {
        signal: o.interrupt.signal,
        onEvent: (e) => {
          if (e.type === "step-start" && e.step.action === "write") {
            o.progressStart(e.step.region, e.step.length);
          } else if (e.type === "step-progress") {
            track(done + Math.floor(e.done / e.total * e.step.sectors));
            o.progress(e.step.region, e.done, e.total);
          } else if (e.type === "step-done") {
            track(done += e.step.sectors);
            o.progressEnd();
          } else if (e.type === "region-done") {
            o.event("region-done", e);
          } else if (e.type === "rewrite") {
            o.warn(`${e.region}: ${e.reason}; writing it again`);
          }
        },
      })
    );
    const secs = ((performance.now() - writeStarted) / 1000).toFixed(1);
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
    board.outcome = plan.outcome;
    board.sectorsWritten = plan.regions.reduce((n, r) => n + r.writeSectors, 0);
    board.sectors = plan.regions.reduce((n, r) => n + r.sectors, 0);
    board.bytesSent = result.bytesSent;
    board.summary = summarizePlan(plan);
  }, { needFlashSize: true, path });
  board.seconds = (performance.now() - started) / 1000;
  return board;
}

/**
 * Many boards at once, each with its own session and plan: one failing
 * never stops the others. The inputs were read once; each board checks them
 * against its own chip. Each board's lines start with its port; a table
 * sums up; the exit code is 0 only when every board succeeded.
 */
async function flashBoards(
  g: GlobalOptions,
  o: Output,
  loaded: LoadedInputs,
  opts: FlashOptions,
  ports: string[],
): Promise<void> {
  o.info(`Flashing ${ports.length} boards at once`);
  const results = await Promise.all(ports.map(async (path): Promise<BoardResult> => {
    const b = o.board(path);
    const started = performance.now();
    try {
      const r = await flashBoard(g, b, loaded, opts, path);
      b.info(`${r.summary} (${r.seconds.toFixed(1)} s)`);
      b.event("board", { ...r, ok: true });
      return r;
    } catch (e) {
      const exitCode = exitCodeFor(e);
      const message = e instanceof Error ? e.message : String(e);
      b.error(message, e instanceof EspdeltaError ? e.code : "INTERNAL", exitCode);
      const r = {
        port: path,
        seconds: (performance.now() - started) / 1000,
        summary: message,
        exitCode,
      };
      b.event("board", { ...r, ok: false });
      return r;
    }
  }));
  const failed = results.filter((r) => r.exitCode !== 0);
  const rows = [["#", "port", "chip", "outcome", "sectors written", "time", "result"]];
  results.forEach((r, i) =>
    rows.push([
      String(i + 1),
      r.port,
      r.chip ?? "-",
      r.outcome ?? "-",
      r.sectors === undefined ? "-" : `${r.sectorsWritten} of ${r.sectors}`,
      `${r.seconds.toFixed(1)} s`,
      r.exitCode === 0 ? "ok" : `failed (exit ${r.exitCode})`,
    ])
  );
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  for (const row of rows) o.info(row.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd());
  const line = `${results.length} boards: ${
    results.length - failed.length
  } ok, ${failed.length} failed`;
  o.event("summary", {
    boards: results.map((r) => ({ ...r, ok: r.exitCode === 0 })),
    ok: results.length - failed.length,
    failed: failed.length,
  });
  if (failed.length === 0) {
    o.result(line);
    return;
  }
  throw new BoardsFailedError(
    `${line}: ${failed.map((r) => r.port).join(", ")}`,
    Math.max(...failed.map((r) => r.exitCode)),
  );
}

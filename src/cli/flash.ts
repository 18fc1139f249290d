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
import { type AfterFlash, afterFlash, type BootOutcome, showLastLines } from "./boot.ts";
import {
  consoleBaud,
  LinePrinter,
  type MonitorFlags,
  monitorSettings,
  reportMonitorEnd,
  runMonitor,
  usesUsbReset,
  withMonitorOptions,
} from "./monitor.ts";
import { BootFailedError } from "./exit.ts";
import { UsageError } from "./args.ts";
import { findAppElf } from "../image/app_elf.ts";
import { KeyReader } from "./terminal.ts";
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

  withMonitorOptions(withFlashSettings(
    program.command("flash")
      .description(
        "write only what differs: plan by device MD5, write, verify, reset, check the boot",
      )
      .argument("<inputs...>", "a build folder, or ADDRESS FILE pairs")
      .option("--full", "write every region whole (for comparison)")
      .option(
        "--encrypt",
        "write every region whole through the chip's flash-encryption engine (needed when flash " +
          "encryption is on; cannot be verified by MD5)",
      )
      .option("--force", FORCE_HELP)
      .option("--no-boot-check", "do not read the boot log to check that the new app started")
      .option("--monitor", "after the reset, show what the chip prints (see 'espdelta monitor')"),
  ))
    .addHelpText(
      "after",
      "\nExamples:\n  espdelta -p /dev/ttyUSB0 flash build/\n" +
        "  espdelta -p socket://127.0.0.1:5555 flash 0x1000 bootloader.bin 0x8000 " +
        "partitions.bin 0x10000 app.bin",
    )
    .action(async (inputs, typed, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const opts: FlashOptions = typed;
      const loaded = await loadArgs(inputs, g.chip, opts);
      const ports = await namedPorts(g);
      if (ports.length <= 1) {
        await flashOne(g, o, loaded, opts, ports[0]);
        return;
      }
      if (opts.monitor) {
        throw new UsageError("--monitor takes one board; drop it or name one port");
      }
      await flashBoards(g, o, loaded, opts, ports);
    });
}

/** Options of `flash`. */
export type FlashOptions = FlashSettingOptions & MonitorFlags & {
  full?: boolean;
  encrypt?: boolean;
  force?: boolean;
  /** False with --no-boot-check. */
  bootCheck?: boolean;
  monitor?: boolean;
};

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
export interface BoardResult {
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
  /** The plan in one line (and the boot, when checked), or the error. */
  summary: string;
  /** The boot check's answer. */
  boot?: BootOutcome;
  /** 0 when it worked, else the exit code its error maps to. */
  exitCode: number;
}

/** What runs after the outcome while the session's port is still open (`--monitor`). */
export type AfterOutcome = (
  session: Session,
  after: AfterFlash,
  board: BoardResult,
) => Promise<void>;

/**
 * The delta path on one board: connect, plan, write, verify, reset, check
 * the boot. A failed boot is in the result (`boot.ok` false, exit code 5),
 * not thrown, so the caller prints the outcome first.
 */
export async function flashBoard(
  g: GlobalOptions,
  o: Output,
  loaded: LoadedInputs,
  opts: FlashOptions,
  path?: string,
  then?: AfterOutcome,
  printer?: LinePrinter,
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
    const after = await afterFlash(session, {
      after: g.after,
      check: opts.bootCheck !== false,
      monitor: !!then,
      baud: opts.monitorBaud ?? consoleBaud(chip.name),
      regions,
      printer,
    });
    const boot = after.boot;
    // No reset line reached the chip (a pty, a raw socket): said with --trace and in the JSON
    // outcome, as every such port would say it on every flash. A port lost after the reset is news.
    if (boot?.verdict === "unchecked") {
      if (port.hasModemLines) o.info(boot.message);
      else o.trace(boot.message);
    }
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
      ...(boot ? { boot } : {}),
    });
    board.outcome = plan.outcome;
    board.sectorsWritten = plan.regions.reduce((n, r) => n + r.writeSectors, 0);
    board.sectors = plan.regions.reduce((n, r) => n + r.sectors, 0);
    board.bytesSent = result.bytesSent;
    board.summary = summarizePlan(plan) +
      (boot && boot.verdict !== "unchecked" ? `; ${boot.message}` : "");
    if (boot) board.boot = boot;
    if (boot && !boot.ok) board.exitCode = 5;
    if (then) await then(session, after, board);
  }, { needFlashSize: true, path });
  board.seconds = (performance.now() - started) / 1000;
  return board;
}

/**
 * One board: flash, print the outcome line (a failed boot's last lines
 * after it), then, with `--monitor`, go on showing what the chip prints.
 * Throws for a failed boot (exit code 5) once the monitor, if any, ended.
 */
async function flashOne(
  g: GlobalOptions,
  o: Output,
  loaded: LoadedInputs,
  opts: FlashOptions,
  path?: string,
): Promise<void> {
  let end: Awaited<ReturnType<typeof runMonitor>> | undefined;
  let settings: Awaited<ReturnType<typeof monitorSettings>> | undefined;
  let printer: LinePrinter | undefined;
  if (opts.monitor) {
    const chip = g.chip === "auto" ? undefined : loaded.build?.chip;
    const found = opts.elf === undefined && loaded.build
      ? await findAppElf(loaded.build)
      : undefined;
    settings = await monitorSettings(opts, o, chip ?? loaded.build?.chip, found);
    printer = new LinePrinter(o, settings);
  }
  const then: AfterOutcome | undefined = settings && printer
    ? async (session, after, board) => {
      printer!.endLine();
      if (!o.json) o.result(board.summary);
      if (!after.reader) return;
      if (settings!.elfPath && !opts.elf) o.note(`--- addresses named from ${settings!.elfPath}`);
      const keys = o.json ? undefined : KeyReader.open();
      try {
        end = await runMonitor({
          port: session.port,
          reader: after.reader,
          printer: printer!,
          settings: settings!,
          o,
          startedAt: after.startedAt ?? Date.now(),
          usb: await usesUsbReset(g, session.port.path),
          keys,
        });
      } finally {
        keys?.close();
      }
    }
    : undefined;
  let board: BoardResult;
  try {
    board = await flashBoard(g, o, loaded, opts, path, then, printer);
  } finally {
    printer?.close();
  }
  if (!then && !o.json) o.result(board.summary);
  if (board.boot && !board.boot.ok) {
    if (!then) showLastLines(board.boot, o);
    throw new BootFailedError(`the new app did not boot (${board.boot.verdict})`);
  }
  if (end && settings) reportMonitorEnd(end, settings, o);
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
      if (r.boot && !r.boot.ok) showLastLines(r.boot, b);
      b.event("board", { ...r, ok: r.exitCode === 0 });
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

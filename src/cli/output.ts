/**
 * Where the CLI's words go: readable lines, or JSON Lines events for build
 * daemons (`--json`), progress bars on a terminal, colour unless NO_COLOR.
 * @module
 */

import { cliProgress, pc } from "./deps.ts";
import { Interrupt, INTERRUPTED_EXIT_CODE, type StopKind } from "./interrupt.ts";
import { LineSink } from "./sink.ts";

/** JSON Lines event types; every event has `type` and `time` (ISO 8601). */
export type EventType =
  | "connected"
  | "chip"
  | "plan"
  | "progress"
  | "region-done"
  | "outcome"
  | "result"
  | "board"
  | "summary"
  | "interrupted"
  | "error";

/** Output settings. */
export interface OutputOptions {
  /** Emit JSON Lines on stdout instead of text. */
  json?: boolean;
  /** Only errors and the final result line. */
  quiet?: boolean;
  /** Print trace lines (to stderr). */
  trace?: boolean;
  /** Line writers, for tests; default stdout/stderr. */
  stdout?: (line: string) => void;
  /** Error line writer. */
  stderr?: (line: string) => void;
  /** Whether stdout is a terminal (progress bars); default: detected. */
  isTerminal?: boolean;
  /**
   * One board of several: text lines start with `[tag]`, events carry
   * `port: tag`, and there are no progress bars (they would interleave).
   */
  tag?: string;
  /** The run's interrupt state (default: one that never fires). */
  interrupt?: Interrupt;
  /**
   * Whose words: espdelta's (`warning:`, `error:`), or esptool v5's
   * (`WARNING:`, `ERROR: A fatal error occurred:`) for the esptool
   * personality. Default espdelta.
   */
  style?: "espdelta" | "esptool";
}

/** The CLI's output channel. */
export class Output {
  /** JSON mode. */
  readonly json: boolean;
  /** Quiet mode. */
  readonly quiet: boolean;
  /** Trace mode. */
  readonly traceOn: boolean;
  /** Whose words (see {@link OutputOptions.style}). */
  readonly style: "espdelta" | "esptool";
  #out: (line: string) => void;
  #err: (line: string) => void;
  #tty: boolean;
  #bar: cliProgress.SingleBar | undefined;
  #lastProgress = 0;
  #tag: string | undefined;
  #sinks: LineSink[] = [];
  /** Ctrl-C and SIGTERM: the signal a write stops on, and what it has written so far. */
  readonly interrupt: Interrupt;

  /** Creates an output channel. */
  constructor(options: OutputOptions = {}) {
    this.json = options.json ?? false;
    this.quiet = options.quiet ?? false;
    this.traceOn = options.trace ?? false;
    this.interrupt = options.interrupt ?? new Interrupt(() => {});
    // A closed or full stdout or stderr stops the output, never the run (sink.ts).
    const sink = (target: typeof Deno.stdout | typeof Deno.stderr) => {
      const s = new LineSink(target);
      this.#sinks.push(s);
      return (line: string) => s.line(line);
    };
    this.#out = options.stdout ?? sink(Deno.stdout);
    this.#err = options.stderr ?? sink(Deno.stderr);
    let tty = false;
    try {
      tty = Deno.stdout.isTerminal();
    } catch { /* closed */ }
    this.#tty = options.isTerminal ?? tty;
    this.style = options.style ?? "espdelta";
    this.#tag = options.tag;
    if (this.#tag !== undefined) {
      const prefix = `[${this.#tag}] `;
      const [out, err] = [this.#out, this.#err];
      this.#out = (l) => out(this.json ? l : prefix + l);
      this.#err = (l) => err(prefix + l);
      this.#tty = false;
    }
  }

  /** An output for one board of several, writing through this one. */
  board(tag: string): Output {
    return new Output({
      json: this.json,
      quiet: this.quiet,
      trace: this.traceOn,
      stdout: this.#out,
      stderr: this.#err,
      isTerminal: false,
      tag,
      interrupt: this.interrupt,
      style: this.style,
    });
  }

  /** A line of ordinary output (text mode, not quiet). */
  info(line: string): void {
    if (!this.json && !this.quiet) this.#out(line);
  }

  /** The command's result line: shown even with --quiet. */
  result(line: string, fields: Record<string, unknown> = {}): void {
    if (this.json) this.event("result", { message: line, ...fields });
    else this.#out(line);
  }

  /** A warning, to stderr in both modes. */
  warn(line: string): void {
    const label = this.style === "esptool" ? "WARNING:" : "warning:";
    this.#err(`${this.#color(pc.yellow, label)} ${line}`);
  }

  /** A trace line, to stderr, only with --trace. */
  trace(line: string): void {
    if (this.traceOn) this.#err(`${this.#color(pc.dim, "trace")} ${line}`);
  }

  /** An error: one line on stderr, and an `error` event in JSON mode. */
  error(message: string, code: string, exitCode: number): void {
    if (this.json) this.event("error", { code, message, exitCode });
    const label = this.style === "esptool" ? "ERROR: A fatal error occurred:" : "error:";
    this.#err(`${this.#color(pc.red, label)} ${message}`);
  }

  /**
   * The run was interrupted: one line on stderr saying what was written, and
   * an `interrupted` event in JSON mode.
   */
  interrupted(how: StopKind): void {
    const message = this.interrupt.message(how);
    const { written, planned } = this.interrupt.written;
    this.event("interrupted", {
      signal: this.interrupt.signalName ?? "SIGINT",
      message,
      stopped: how,
      sectorsWritten: written,
      sectors: planned,
      exitCode: INTERRUPTED_EXIT_CODE,
    });
    this.#err(message);
  }

  /** A JSON Lines event (JSON mode only). */
  event(type: EventType, fields: Record<string, unknown>): void {
    if (!this.json) return;
    const port = this.#tag !== undefined ? { port: this.#tag } : {};
    this.#out(JSON.stringify({ type, time: new Date().toISOString(), ...port, ...fields }));
  }

  /** Starts a progress phase (a bar on a terminal in text mode). */
  progressStart(phase: string, total: number): void {
    this.#lastProgress = 0;
    if (this.json) {
      this.event("progress", { phase, done: 0, total });
    } else if (this.#tty && !this.quiet) {
      this.#bar = new cliProgress.SingleBar({
        format: `${phase.padEnd(10)} [{bar}] {percentage}% | {value}/{total} bytes | ETA {eta}s`,
        hideCursor: true,
        clearOnComplete: true,
      }, cliProgress.Presets.shades_classic);
      this.#bar.start(total, 0);
    }
  }

  /** Updates the current phase. */
  progress(phase: string, done: number, total: number): void {
    if (this.json) {
      // At most one event per 5 % to keep the stream small.
      if (done === total || done - this.#lastProgress >= total / 20) {
        this.#lastProgress = done;
        this.event("progress", { phase, done, total });
      }
    } else {
      this.#bar?.update(done);
    }
  }

  /** Ends the current phase. */
  progressEnd(): void {
    this.#bar?.stop();
    this.#bar = undefined;
  }

  /**
   * Puts the terminal back as the progress bar found it (cursor shown, line
   * wrap on), for a run that stops in the middle of a bar.
   */
  restoreTerminal(): void {
    try {
      this.#bar?.stop();
    } catch { /* the stream is gone */ }
    this.#bar = undefined;
    try {
      if (Deno.stderr.isTerminal()) {
        Deno.stderr.writeSync(new TextEncoder().encode("\x1b[?25h\x1b[?7h"));
      }
    } catch { /* closed */ }
  }

  /**
   * Waits until the lines written so far are out, or until the reader has
   * taken nothing for `stallMs` (see sink.ts).
   */
  async flush(stallMs = 1000): Promise<void> {
    await Promise.all(this.#sinks.map((s) => s.drain(stallMs)));
  }

  // picocolors already honours NO_COLOR, FORCE_COLOR and non-terminal output.
  #color(f: (s: string) => string, s: string): string {
    return f(s);
  }
}

/**
 * Where the CLI's words go: readable lines, or JSON Lines events for build
 * daemons (`--json`), progress bars on a terminal, colour unless NO_COLOR.
 * @module
 */

import { cliProgress, pc } from "./deps.ts";

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
  /**
   * Whose words: espdelta's (`warning:`, `error:`), or esptool v5's
   * (`WARNING:`, `ERROR: A fatal error occurred:`) for the esptool
   * personality. Default espdelta.
   */
  style?: "espdelta" | "esptool";
}

const encoder = new TextEncoder();
const writeLine = (fd: typeof Deno.stdout | typeof Deno.stderr) => (line: string) => {
  const bytes = encoder.encode(line + "\n");
  let off = 0;
  while (off < bytes.length) off += fd.writeSync(bytes.subarray(off));
};

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

  /** Creates an output channel. */
  constructor(options: OutputOptions = {}) {
    this.json = options.json ?? false;
    this.quiet = options.quiet ?? false;
    this.traceOn = options.trace ?? false;
    this.style = options.style ?? "espdelta";
    this.#out = options.stdout ?? writeLine(Deno.stdout);
    this.#err = options.stderr ?? writeLine(Deno.stderr);
    this.#tty = options.isTerminal ?? Deno.stdout.isTerminal();
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

  // picocolors already honours NO_COLOR, FORCE_COLOR and non-terminal output.
  #color(f: (s: string) => string, s: string): string {
    return f(s);
  }
}

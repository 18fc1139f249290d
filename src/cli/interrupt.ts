/**
 * Ctrl-C and SIGTERM. While a command writes flash, the first signal only
 * aborts {@link Interrupt.signal}: the executor and the writer stop at their
 * next safe point (after the data block in flight), and main reports what
 * was written. Anywhere else (connecting, planning, reading), and on a
 * second signal, the run stops at once: main restores the terminal, says
 * so in one line (and a JSON `interrupted` event) and exits with 130.
 *
 * @example
 * ```ts
 * import { deepStrictEqual, rejects } from "node:assert";
 * import { Interrupt, InterruptedError } from "./interrupt.ts";
 * const stops: string[] = [];
 * const interrupt = new Interrupt((how) => stops.push(how));
 * interrupt.progress("board", 3, 10);
 * await rejects(interrupt.writing(async () => {
 *   interrupt.raise("SIGINT"); // the first signal while writing: a safe-point stop
 *   deepStrictEqual([interrupt.signal.aborted, stops], [true, []]);
 *   interrupt.signal.throwIfAborted(); // what the executor does at its next safe point
 * }), InterruptedError);
 * interrupt.raise("SIGINT"); // a second one: at once
 * deepStrictEqual(stops, ["at-once"]);
 * deepStrictEqual(
 *   interrupt.message("at-once"),
 *   "interrupted again (SIGINT), stopped at once mid-block after writing about 3 of 10 " +
 *     "sectors; run the same command again to resume: it writes only what is still missing",
 * );
 * ```
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";

/** Exit code of an interrupted run (128 + SIGINT, as shells report Ctrl-C). */
export const INTERRUPTED_EXIT_CODE = 130;

/** The run was interrupted by a signal; {@link Interrupt.message} says what was written. */
export class InterruptedError extends EspdeltaError {
  /** The signal's name. */
  readonly signalName: string;
  /** With the signal that stopped the run. */
  constructor(signalName: string) {
    super("INTERRUPTED", `interrupted (${signalName})`);
    this.signalName = signalName;
  }
}

/** How a run stopped: after the block in flight, or at once. */
export type StopKind = "safe-point" | "at-once";

/** The signals a run stops for. */
const SIGNALS = ["SIGINT", "SIGTERM"] as const;

/** The interrupt state of one run (see the module doc). */
export class Interrupt {
  readonly #controller = new AbortController();
  readonly #onStop: (how: StopKind) => void;
  #count = 0;
  #writing = 0;
  #stopping = false;
  #name: string | undefined;
  #boards = new Map<string, { written: number; planned: number }>();
  #hint = "run the same command again to resume: it writes only what is still missing";
  #listeners: [Deno.Signal, () => void][] = [];

  /**
   * `onStop` is called when the run must stop at once (outside a write, or
   * on a second signal): it restores the terminal, reports and exits.
   */
  constructor(onStop: (how: StopKind) => void) {
    this.#onStop = onStop;
  }

  /** Aborted by the first signal; its reason is an {@link InterruptedError}. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** True once the run is stopping at once (the report is made; the exit follows). */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** The name of the first signal, once one came. */
  get signalName(): string | undefined {
    return this.#name;
  }

  /** Starts listening for SIGINT and SIGTERM (where the OS has them). */
  listen(): void {
    for (const name of SIGNALS) {
      if (Deno.build.os === "windows" && name === "SIGTERM") continue;
      const handler = () => this.raise(name);
      try {
        Deno.addSignalListener(name, handler);
        this.#listeners.push([name, handler]);
      } catch { /* not supported here */ }
    }
  }

  /** Stops listening (the default handling comes back). */
  close(): void {
    for (const [name, handler] of this.#listeners) Deno.removeSignalListener(name, handler);
    this.#listeners = [];
  }

  /** A signal arrived (the listeners call this; tests may too). */
  raise(name: string): void {
    this.#count++;
    this.#name ??= name;
    if (this.#count === 1) this.#controller.abort(new InterruptedError(name));
    if (this.#count === 1 && this.#writing > 0) return;
    if (this.#stopping) return;
    this.#stopping = true;
    this.#onStop("at-once");
  }

  /**
   * Runs `fn`, a write that stops at its safe points when {@link signal}
   * aborts (throwing its reason). A signal that came after the last safe
   * point still ends the run, with the write complete.
   */
  async writing<T>(fn: () => Promise<T>): Promise<T> {
    this.#writing++;
    try {
      const result = await fn();
      this.signal.throwIfAborted();
      return result;
    } finally {
      this.#writing--;
    }
  }

  /** Sectors written so far and planned in all, per board (`key`). */
  progress(key: string, written: number, planned: number): void {
    this.#boards.set(key, { written, planned });
  }

  /** What to tell the user to do after an interruption mid-write. */
  set resumeHint(hint: string) {
    this.#hint = hint;
  }

  /** Sectors written so far and planned, over every board. */
  get written(): { written: number; planned: number } {
    let written = 0;
    let planned = 0;
    for (const b of this.#boards.values()) {
      written += b.written;
      planned += b.planned;
    }
    return { written, planned };
  }

  /** The one line that says what happened. */
  message(how: StopKind = "safe-point"): string {
    const name = this.#name ?? "SIGINT";
    const { written, planned } = this.written;
    if (planned === 0) return `interrupted (${name}); nothing was written`;
    const again = this.#count > 1 ? "interrupted again" : "interrupted";
    const where = how === "at-once" && written < planned ? ", stopped at once mid-block" : "";
    if (written >= planned) {
      return `${again} (${name})${where} after the write completed (${written} of ${planned} ` +
        "sectors)";
    }
    return `${again} (${name})${where} after writing about ${written} of ${planned} sectors; ` +
      this.#hint;
  }
}

/**
 * Where the CLI's lines go, built so that the output can never decide the
 * state of a flash: a closed pipe (`espdelta --json flash build/ | head -3`)
 * or a full one (a reader that stopped reading) stops the output, never the
 * write. A terminal is written synchronously (it is always drained, and a
 * progress bar must not be overtaken); anything else (a pipe, a file) through
 * a queue of asynchronous writes, one at a time and in order, so the event
 * loop (and with it the device link) keeps running while the reader lags.
 * The queue is bounded: past {@link SINK_LIMIT} bytes lines are dropped. A
 * write that fails (EPIPE, EBADF) ends the stream quietly.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { LineSink } from "./sink.ts";
 * const written: string[] = [];
 * const sink = new LineSink({
 *   write: (b) => {
 *     written.push(new TextDecoder().decode(b));
 *     if (written.length === 2) return Promise.reject(new Error("Broken pipe (os error 32)"));
 *     return Promise.resolve(b.length);
 *   },
 *   writeSync: () => 0,
 *   isTerminal: () => false,
 * });
 * sink.line("one");
 * await sink.drain(100);
 * sink.line("two"); // the reader went away while this one was written
 * await sink.drain(100);
 * sink.line("three"); // dropped: the stream has ended
 * await sink.drain(100);
 * deepStrictEqual([written, sink.closed], [["one\n", "two\n"], true]);
 * ```
 * @module
 */

/** Bytes a sink holds for a slow reader before it drops lines. */
export const SINK_LIMIT = 1 << 20;

/** What a sink writes to: Deno.stdout or Deno.stderr, or a stand-in in tests. */
export interface SinkTarget {
  /** Writes some bytes; resolves with how many were taken. */
  write(bytes: Uint8Array): Promise<number>;
  /** Writes some bytes, blocking. */
  writeSync(bytes: Uint8Array): number;
  /** Whether the target is a terminal. */
  isTerminal(): boolean;
}

const encoder = new TextEncoder();

/** One output stream (see the module doc). */
export class LineSink {
  readonly #target: SinkTarget;
  readonly #tty: boolean;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #pumping: Promise<void> | undefined;
  #closed = false;
  #dropped = 0;
  #progress = 0;

  /** A sink writing to `target`. */
  constructor(target: SinkTarget) {
    this.#target = target;
    let tty = false;
    try {
      tty = target.isTerminal();
    } catch { /* a closed descriptor is no terminal */ }
    this.#tty = tty;
  }

  /** True once a write failed: the reader is gone, nothing more is written. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Lines dropped because the reader lagged too far behind. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Writes `line` and a newline (or drops it; see the module doc). */
  line(line: string): void {
    this.bytes(encoder.encode(line + "\n"));
  }

  /** Writes raw bytes (or drops them). */
  bytes(bytes: Uint8Array): void {
    if (this.#closed) return;
    if (this.#tty) {
      try {
        for (let off = 0; off < bytes.length;) off += this.#target.writeSync(bytes.subarray(off));
      } catch {
        this.#closed = true;
      }
      return;
    }
    if (this.#queued + bytes.length > SINK_LIMIT) {
      this.#dropped++;
      return;
    }
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    this.#pumping ??= this.#pump();
  }

  async #pump(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        // Everything queued so far goes in one write.
        const chunk = this.#queue.length === 1 ? this.#queue[0] : concat(this.#queue);
        this.#queue = [];
        try {
          for (let off = 0; off < chunk.length;) {
            off += await this.#target.write(chunk.subarray(off));
            this.#progress++;
          }
        } catch {
          this.#closed = true;
        }
        this.#queued -= chunk.length;
      }
      if (this.#closed) {
        this.#queue = [];
        this.#queued = 0;
      }
    } finally {
      this.#pumping = undefined;
    }
  }

  /**
   * Waits until everything queued is written, or until no write has made
   * progress for `stallMs` (a reader that stopped reading must not keep the
   * process alive).
   */
  async drain(stallMs: number): Promise<void> {
    while (this.#pumping) {
      const before = this.#progress;
      const pumping = this.#pumping;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<"stalled">((r) =>
        timer = setTimeout(() => r("stalled"), stallMs)
      );
      const r = await Promise.race([pumping.then(() => "done" as const), stalled]);
      clearTimeout(timer);
      if (r === "stalled" && this.#progress === before) return;
    }
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

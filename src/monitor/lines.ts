/**
 * What the chip prints, as lines: the serial monitor's source. Bytes from a
 * port are decoded as UTF-8 (a character split across reads is kept whole),
 * split at `\n` with a trailing `\r` dropped, and stamped with the time they
 * arrived. A line the chip has not finished (a prompt, a progress dot) is
 * handed over after a quiet moment, marked incomplete, so nothing sits
 * unseen in a buffer. {@link LineReader} gives lines one at a time with a
 * deadline (for the boot check); {@link monitorLines} is the same as an
 * async iterable (for the monitor).
 *
 * @example
 * ```ts
 * import { monitorLines } from "./lines.ts";
 * import assert from "node:assert/strict";
 *
 * // Any Port works; this one replays two reads, then stays quiet.
 * const reads = [new TextEncoder().encode("I (31) boot: ESP-ID"), new TextEncoder().encode("F v5.3\r\nready> ")];
 * const port = {
 *   path: "replay", baud: 115200, hasModemLines: false,
 *   read: async (ms: number) =>
 *     reads.shift() ?? await new Promise<Uint8Array>((r) => setTimeout(() => r(new Uint8Array()), ms)),
 *   write: async () => {}, drain: async () => {}, flushInput: async () => {},
 *   setBaud: async () => {}, setSignals: async () => {}, close: async () => {},
 * };
 * const got = [];
 * for await (const line of monitorLines(port, { partialAfterMs: 50, readMs: 20 })) {
 *   got.push([line.text, line.complete]);
 *   if (got.length === 2) break;
 * }
 * assert.deepEqual(got, [["I (31) boot: ESP-IDF v5.3", true], ["ready> ", false]]);
 * ```
 * @module
 */

import type { Port } from "../serial/port.ts";

/** One line (or the unfinished rest of one) the chip printed. */
export interface MonitorLine {
  /** The text, without the line ending. */
  text: string;
  /** When its last byte arrived, in milliseconds since the Unix epoch. */
  time: number;
  /** False for text handed over before its line ended (the rest follows as another line). */
  complete: boolean;
}

/** Options of {@link LineReader}. */
export interface LineReaderOptions {
  /** Hand over an unfinished line after this long without new bytes (default 200 ms). */
  partialAfterMs?: number;
  /** Wall-clock source (default `Date.now`), injectable for tests. */
  now?: () => number;
}

/** Options of {@link monitorLines}. */
export interface MonitorOptions extends LineReaderOptions {
  /** Stops the stream (seen within `readMs`). */
  signal?: AbortSignal;
  /** Longest single wait for bytes, so the signal is seen (default 100 ms). */
  readMs?: number;
}

/**
 * Lines from a port, one at a time with a deadline: {@link next} gives the
 * next line or `undefined` when none came in time, and leaves nothing in
 * flight, so one reader can serve a boot check and then the monitor that
 * follows it without losing a line.
 */
export class LineReader {
  readonly #port: Port;
  readonly #now: () => number;
  readonly #partialAfter: number;
  readonly #decoder = new TextDecoder("utf-8", { fatal: false });
  #pending = "";
  #ready: MonitorLine[] = [];
  #lastByte: number;

  /** Reads from `port`. */
  constructor(port: Port, options: LineReaderOptions = {}) {
    this.#port = port;
    this.#now = options.now ?? Date.now;
    this.#partialAfter = options.partialAfterMs ?? 200;
    this.#lastByte = this.#now();
  }

  /** The next line, or `undefined` if none arrived within `timeoutMs`. */
  async next(timeoutMs: number): Promise<MonitorLine | undefined> {
    const deadline = this.#now() + timeoutMs;
    for (;;) {
      const line = this.#ready.shift();
      if (line) return line;
      const t = this.#now();
      if (this.#pending !== "" && t - this.#lastByte >= this.#partialAfter) {
        const text = this.#pending.replace(/\r$/, "");
        this.#pending = "";
        if (text !== "") return { text, time: this.#lastByte, complete: false };
      }
      const left = deadline - t;
      if (left <= 0) return undefined;
      const wait = this.#pending === ""
        ? left
        : Math.max(1, Math.min(left, this.#partialAfter - (t - this.#lastByte)));
      this.#take(await this.#port.read(wait));
    }
  }

  #take(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const t = this.#now();
    this.#lastByte = t;
    this.#pending += this.#decoder.decode(bytes, { stream: true });
    let nl: number;
    while ((nl = this.#pending.indexOf("\n")) >= 0) {
      const text = this.#pending.slice(0, nl).replace(/\r$/, "");
      this.#pending = this.#pending.slice(nl + 1);
      this.#ready.push({ text, time: t, complete: true });
    }
  }
}

/** The lines the chip prints on `port`, until `signal` aborts. */
export async function* monitorLines(
  port: Port | LineReader,
  options: MonitorOptions = {},
): AsyncGenerator<MonitorLine> {
  const reader = port instanceof LineReader ? port : new LineReader(port, options);
  const readMs = options.readMs ?? 100;
  while (!options.signal?.aborted) {
    const line = await reader.next(readMs);
    if (line) yield line;
  }
}

/**
 * ESP-IDF's log line format (`LOG_FORMAT` in esp_log: `I (24) boot: ...`,
 * colours off as in ESP-IDF v5's default configuration, `\n` sent as `\r\n`
 * by the ROM's and the console's output) with time as a virtual chip spends
 * it. The timestamp is milliseconds since the reset; between lines time moves
 * by what printing the line costs on a 115200-baud UART (logging is
 * UART-bound at boot, so real logs step by about that much), plus any work
 * the model adds with {@link IdfLog.spend}. Each line keeps its time, so a
 * runner can send it when the chip would.
 * @module
 */

/** One piece of output at its time since the reset. */
export interface Timed {
  /** Milliseconds since the reset. */
  atMs: number;
  /** The text, with `\r\n` line ends. */
  text: string;
}

/** Milliseconds `chars` characters take on a 115200-baud UART (8N1). */
export function uartTimeMs(chars: number, baud = 115200): number {
  return chars * 10 * 1000 / baud;
}

/**
 * A log being written by a virtual chip.
 *
 * @example
 * ```ts
 * import { IdfLog } from "./idf_log.ts";
 * const log = new IdfLog(24);
 * log.info("boot", "ESP-IDF v5.5.5 2nd stage bootloader");
 * log.out[0].text; // "I (24) boot: ESP-IDF v5.5.5 2nd stage bootloader\r\n"
 * ```
 */
export class IdfLog {
  /** Everything written, in order. */
  readonly out: Timed[] = [];
  #t: number;

  /** Starts the clock at `startMs` after the reset. */
  constructor(startMs: number) {
    this.#t = startMs;
  }

  /** Milliseconds since the reset now. */
  get now(): number {
    return this.#t;
  }

  /** Time spent working (loading, hashing) before the next line. */
  spend(ms: number): void {
    this.#t += ms;
  }

  /** Raw text (the ROM's, a panic's), sent now. */
  raw(text: string): void {
    this.out.push({ atMs: this.#t, text });
    this.#t += uartTimeMs(text.length);
  }

  /** `E (t) tag: message`. */
  error(tag: string, message: string): void {
    this.#line("E", tag, message);
  }

  /** `W (t) tag: message`. */
  warn(tag: string, message: string): void {
    this.#line("W", tag, message);
  }

  /** `I (t) tag: message`. */
  info(tag: string, message: string): void {
    this.#line("I", tag, message);
  }

  #line(level: string, tag: string, message: string): void {
    this.raw(`${level} (${Math.floor(this.#t)}) ${tag}: ${message}\r\n`);
  }
}

/** printf's `%0Nx`. */
export function hexPad(n: number, width: number): string {
  return (n >>> 0).toString(16).padStart(width, "0");
}

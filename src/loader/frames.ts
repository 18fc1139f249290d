/**
 * Reads SLIP frames from a port with deadlines.
 * @module
 */

import { SlipDecoder } from "../protocol/slip.ts";
import { TimeoutError } from "../protocol/errors.ts";
import type { Port } from "../serial/port.ts";
import { type Clock, realClock } from "../clock.ts";

/** Frames from a port, in order, with whatever arrived between them kept as noise. */
export class FrameReader {
  readonly #port: Port;
  readonly #clock: Clock;
  readonly #decoder = new SlipDecoder();
  #queue: Uint8Array[] = [];

  /** Reads from `port`. */
  constructor(port: Port, clock: Clock = realClock) {
    this.#port = port;
    this.#clock = clock;
  }

  /** The next frame, or a TimeoutError naming `what` after `timeoutMs`. */
  async next(timeoutMs: number, what: string): Promise<Uint8Array> {
    const deadline = this.#clock.now() + timeoutMs;
    while (this.#queue.length === 0) {
      const left = deadline - this.#clock.now();
      if (left <= 0) throw new TimeoutError(`no reply to ${what} within ${timeoutMs} ms`);
      const bytes = await this.#port.read(Math.min(left, 1000));
      if (bytes.length > 0) this.#queue.push(...this.#decoder.push(bytes));
    }
    return this.#queue.shift()!;
  }

  /** Drops queued frames and partial input (after a reset or baud change). */
  clear(): void {
    this.#queue = [];
    this.#decoder.reset();
  }

  /** Text that arrived outside frames since the last call (boot messages). */
  takeNoise(): string {
    return new TextDecoder().decode(this.#decoder.takeNoise());
  }
}

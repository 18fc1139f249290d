/**
 * Time, injected: the loader sleeps and keeps deadlines on a {@link Clock},
 * and the virtual device runs its timers on one, so tests and the timing
 * model can put simulated time in place of the host's. This module holds
 * the one real clock both use.
 * @module
 */

/** Time source, injectable for tests. */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Resolves after `ms`. */
  sleep(ms: number): Promise<void>;
}

/** A clock that can also schedule one-shot timers (what the virtual device needs). */
export interface TimerClock extends Clock {
  /** Calls `fn` after `ms` milliseconds; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

/**
 * The host's real clock: `performance.now`, and `setTimeout` for sleeps and
 * timers.
 *
 * @example
 * ```ts
 * import { realClock } from "./clock.ts";
 * import assert from "node:assert";
 * const before = realClock.now();
 * await realClock.sleep(5);
 * assert.ok(realClock.now() - before >= 4);
 * ```
 */
export const realClock: TimerClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  setTimer(ms, fn) {
    const id = setTimeout(fn, ms);
    return () => clearTimeout(id);
  },
};

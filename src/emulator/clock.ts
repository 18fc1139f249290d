/**
 * Time as the virtual device sees it. The device never calls setTimeout
 * itself: it asks its clock, so tests can run reset sequences on a manual
 * clock, and a later timing model (bytes paced at the baud rate, erase and
 * program times) can schedule on the same clock.
 * @module
 */

/** A source of time and one-shot timers. */
export interface DeviceClock {
  /** Milliseconds since an arbitrary origin. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** The host's real clock: one for the whole program, shared with the loader. */
export { realClock } from "../clock.ts";

/**
 * A clock that only moves when told to: timers fire, in order, during
 * {@link ManualClock.advance}. Nothing is left pending for Deno's timer
 * sanitizer.
 *
 * @example
 * ```ts
 * import { ManualClock } from "./clock.ts";
 * const clock = new ManualClock();
 * let fired = false;
 * clock.setTimer(5, () => fired = true);
 * clock.advance(5); // fired === true
 * ```
 */
export class ManualClock implements DeviceClock {
  #now = 0;
  #seq = 0;
  #timers: { at: number; seq: number; fn: () => void }[] = [];

  /** Current time in milliseconds. */
  now(): number {
    return this.#now;
  }

  /** Schedules `fn` at now + `ms`. */
  setTimer(ms: number, fn: () => void): () => void {
    const t = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#timers.push(t);
    return () => {
      this.#timers = this.#timers.filter((x) => x !== t);
    };
  }

  /** Moves time forward by `ms`, firing due timers in time order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    while (true) {
      const due = this.#timers.filter((t) => t.at <= end)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = due.at;
      due.fn();
    }
    this.#now = end;
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.length;
  }

  /** When the next timer fires, or undefined with none pending. */
  nextTimerAt(): number | undefined {
    let at: number | undefined;
    for (const t of this.#timers) if (at === undefined || t.at < at) at = t.at;
    return at;
  }

  /** Moves time forward to `t` (never back), firing due timers. */
  advanceTo(t: number): void {
    if (t > this.#now) this.advance(t - this.#now);
  }
}

/**
 * Simulated time shared by a virtual device and a host: the device's timers
 * and the host's sleeps (a loader's `clock`) run on it, so a deploy that
 * would take a minute on a board runs in milliseconds and is measured in
 * simulated ones. The timing model (timing.ts) moves it as bytes cross.
 *
 * @example
 * ```ts
 * import { SimClock } from "./clock.ts";
 * const clock = new SimClock();
 * await clock.sleep(50);
 * clock.now(); // 50
 * ```
 */
export class SimClock extends ManualClock {
  /** The host's sleep: instant in real time, `ms` in simulated time. */
  sleep(ms: number): Promise<void> {
    this.advance(Math.max(0, ms));
    return Promise.resolve();
  }
}

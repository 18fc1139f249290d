/**
 * The timing model on simulated time: a link to a virtual device whose
 * bytes, chip work and flash work take the time the model says
 * (timing_model.ts), so a benchmark measures what a deploy would cost on a
 * real board, in simulated milliseconds, without waiting for it. Off unless
 * asked for: the tests use untimed links, the deploy benchmark this one.
 *
 * Time moves only when the host reads (to the arrival of what it reads, or
 * to its deadline), drains, or sleeps on the {@link SimClock}.
 * @module
 */

import type { Port } from "../serial/port.ts";
import { DeviceLink } from "./link.ts";
import type { SimClock } from "./clock.ts";
import type { VirtualDevice } from "./device.ts";
import { type LinkStats, LinkTiming, timingFor, type TimingParams } from "./timing_model.ts";

export { SimClock } from "./clock.ts";
export { DEFAULT_TIMING, type LinkStats, type TimingParams, uartMs } from "./timing_model.ts";

/** The host side of a timed link. */
class TimedPort extends DeviceLink {
  readonly timing: LinkTiming;
  readonly #clock: SimClock;

  constructor(device: VirtualDevice, clock: SimClock, params: TimingParams) {
    super(device, `timed:${device.chip.name}`);
    this.#clock = clock;
    this.timing = new LinkTiming(device, params, () => clock.now(), () => this.baud);
  }

  get stats(): LinkStats {
    return this.timing.stats;
  }

  write(data: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.path} is closed`));
    this.timing.hostWrite(data);
    return Promise.resolve();
  }

  async read(timeoutMs: number): Promise<Uint8Array> {
    await Promise.resolve();
    const deadline = this.#clock.now() + Math.max(0, timeoutMs);
    while (!this.closed) {
      this.#clock.advance(0); // device timers due now fire first
      const now = this.#clock.now();
      const ready = this.timing.take(now);
      if (ready.length > 0) return ready;
      if (now >= deadline) break;
      // Sleep until the next arrival, the next device timer, or the deadline.
      let next = deadline;
      const arrival = this.timing.nextAt();
      if (arrival !== undefined) next = Math.min(next, arrival);
      const timer = this.#clock.nextTimerAt();
      if (timer !== undefined) next = Math.min(next, timer);
      this.#clock.advanceTo(next);
    }
    return new Uint8Array();
  }

  drain(): Promise<void> {
    this.#clock.advanceTo(this.timing.hostWriteDone);
    return Promise.resolve();
  }

  flushInput(): Promise<void> {
    this.timing.drop(this.#clock.now());
    return Promise.resolve();
  }

  protected override onClose(): void {
    this.timing.close();
  }
}

/** A timed link: the host's port and what crossed it. */
export interface TimedLink {
  /** Host side; its reads move simulated time. */
  port: Port;
  /** Bytes and commands that crossed, updated as they do. */
  stats: LinkStats;
}

/**
 * A timed link to `device`. Create the device with the same `clock`
 * (VirtualDeviceOptions.clock) so its reset and watchdog timers run in
 * simulated time, and give the loader the clock too (connect's `clock`), so
 * its sleeps are simulated. The device's bridge, when it has one, sets the
 * USB latency unless `params` does.
 *
 * @example
 * ```ts
 * import { VirtualDevice } from "./device.ts";
 * import { SimClock, timedLink } from "./timing.ts";
 * const clock = new SimClock();
 * const { port } = timedLink(new VirtualDevice({ chip: "esp32", clock }), clock);
 * await port.close();
 * ```
 */
export function timedLink(
  device: VirtualDevice,
  clock: SimClock,
  params: Partial<TimingParams> = {},
): TimedLink {
  const port = new TimedPort(device, clock, timingFor(device, params));
  return { port, stats: port.timing.stats };
}

/**
 * The timing model in real time: a served virtual device (TCP, pty) whose
 * replies reach the client when the model says they would reach a host
 * from a real board: the wire at the chip's baud rate (or the USB rate of
 * Espressif's USB-Serial/JTAG), the bridge's USB latency, the chip's
 * hashing, and the flash's erases and programs as the firmware overlaps
 * them (timing_model.ts, the same arithmetic the simulated-time link of the
 * deploy benchmark runs on). Any flasher driving it is then timed in
 * wall-clock time as it would be on the board.
 *
 * The device takes the host's bytes as they come and runs them at once;
 * what it sends is held until it is due. A host cannot see a reply before
 * the model says it would arrive, so nothing it can do beats the model.
 * @module
 */

import type { TimerClock } from "../clock.ts";
import type { VirtualDevice } from "./device.ts";
import { LinkTiming, timingFor, type TimingParams } from "./timing_model.ts";

/** How often output the host did not ask for (boot messages) is looked for, in ms. */
const IDLE_POLL_MS = 5;

/**
 * One client's paced link to `device`, from attach to close.
 *
 * @example
 * ```ts
 * import { PacedLink } from "./paced.ts";
 * import { VirtualDevice } from "./device.ts";
 * import { realClock } from "../clock.ts";
 * const device = new VirtualDevice({ chip: "esp32" });
 * const got: Uint8Array[] = [];
 * const link = new PacedLink(device, realClock, (b) => got.push(b));
 * link.close();
 * ```
 */
export class PacedLink {
  readonly #timing: LinkTiming;
  readonly #clock: TimerClock;
  readonly #output: (bytes: Uint8Array) => void;
  #cancel: (() => void) | undefined;
  #closed = false;

  /**
   * Attaches to `device` (its output and flash timer) on `clock`, which must
   * be the device's own; `output` gets the device's bytes when they are due.
   */
  constructor(
    device: VirtualDevice,
    clock: TimerClock,
    output: (bytes: Uint8Array) => void,
    params: Partial<TimingParams> = {},
  ) {
    this.#clock = clock;
    this.#output = output;
    this.#timing = new LinkTiming(device, timingFor(device, params), () => clock.now(), () => {
      return undefined;
    });
    this.#schedule();
  }

  /** Bytes from the host, now. */
  receive(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#timing.hostWrite(bytes);
    this.#schedule();
  }

  /** Delivers what is due and waits for the next due output (or polls for more). */
  #schedule(): void {
    this.#cancel?.();
    this.#cancel = undefined;
    if (this.#closed) return;
    const now = this.#clock.now();
    const due = this.#timing.take(now);
    if (due.length > 0) this.#output(due);
    const next = this.#timing.nextAt();
    const wait = next === undefined ? IDLE_POLL_MS : Math.max(0, next - now);
    this.#cancel = this.#clock.setTimer(wait, () => this.#schedule());
  }

  /** Detaches from the device; output not yet due is dropped. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancel?.();
    this.#timing.close();
  }
}

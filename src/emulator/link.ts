/**
 * What every in-process link to a virtual device shares on the host side:
 * a path, modem lines wired to the board's reset circuit, the host's baud
 * rate, and closing (which detaches from the device and cancels its
 * timers). The in-memory link (memory.ts) and the timed link (timing.ts)
 * add how bytes cross.
 * @module
 */

import type { Port, Signals } from "../serial/port.ts";
import type { VirtualDevice } from "./device.ts";

/** The host side of a link to a device; subclasses move the bytes. */
export abstract class DeviceLink implements Port {
  /** `memory:<chip>`, `timed:<chip>`. */
  readonly path: string;
  /** DTR and RTS drive the board's auto-reset circuit. */
  readonly hasModemLines = true;
  /** The device at the other end. */
  protected readonly device: VirtualDevice;
  #baud: number;
  #closed = false;

  /** Attaches to `device` as `path`, at `baud`. */
  constructor(device: VirtualDevice, path: string, baud = 115200) {
    this.device = device;
    this.path = path;
    this.#baud = baud;
  }

  /** Host-side baud rate. */
  get baud(): number {
    return this.#baud;
  }

  /** True after close(). */
  protected get closed(): boolean {
    return this.#closed;
  }

  abstract read(timeoutMs: number): Promise<Uint8Array>;
  abstract write(data: Uint8Array): Promise<void>;
  abstract drain(): Promise<void>;
  abstract flushInput(): Promise<void>;

  /** Changes the host's rate; the device's does not follow. */
  setBaud(baud: number): Promise<void> {
    this.#baud = baud;
    return Promise.resolve();
  }

  /** DTR/RTS to the board's reset circuit. */
  setSignals(signals: Signals): Promise<void> {
    if (!this.#closed) this.device.setLines(signals);
    return Promise.resolve();
  }

  /** Detaches from the device and cancels its timers; a pending read resolves empty. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.device.onTransmit(() => {});
      this.device.dispose();
      this.onClose();
    }
    return Promise.resolve();
  }

  /** Called once on close, after detaching. */
  protected onClose(): void {}
}

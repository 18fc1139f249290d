/**
 * An in-memory link to a virtual device: the host side is a {@link Port},
 * the device side is the device's receive/transmit. DTR and RTS drive the
 * board's auto-reset circuit. Each direction carries its sender's baud
 * rate; when host and device rates differ, bytes arrive as garbage, as on a
 * real UART, so a client that forgets to switch after CHANGE_BAUDRATE fails
 * here as it would on a board.
 * @module
 */

import type { Port } from "../serial/port.ts";
import type { VirtualDevice } from "./device.ts";
import { DeviceLink } from "./link.ts";
import { garble, sameRate } from "./uart.ts";
import { concat } from "../protocol/bytes.ts";

/** Options of {@link memoryPort}. */
export interface MemoryPortOptions {
  /** Host-side baud rate at open (default 115200). */
  baud?: number;
}

/** Host side of the link. */
class MemoryPort extends DeviceLink {
  #inbox: Uint8Array[] = [];
  #waiter: (() => void) | undefined;

  constructor(device: VirtualDevice, options: MemoryPortOptions) {
    super(device, `memory:${device.chip.name}`, options.baud ?? 115200);
    device.onTransmit((bytes, baud) => {
      if (this.closed) return;
      const intact = device.usbSerialJtag || sameRate(this.baud, baud);
      this.#inbox.push(intact ? bytes.slice() : garble(bytes));
      this.#wake();
    });
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  async read(timeoutMs: number): Promise<Uint8Array> {
    if (this.#inbox.length === 0 && !this.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#waiter = undefined;
          resolve();
        }, Math.max(0, timeoutMs));
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    if (this.closed || this.#inbox.length === 0) return new Uint8Array();
    const parts = this.#inbox;
    this.#inbox = [];
    return parts.length === 1 ? parts[0] : concat(...parts);
  }

  write(data: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.path} is closed`));
    this.device.receive(data.slice(), this.baud);
    return Promise.resolve();
  }

  drain(): Promise<void> {
    return Promise.resolve();
  }

  flushInput(): Promise<void> {
    this.#inbox = [];
    return Promise.resolve();
  }

  protected override onClose(): void {
    this.#wake();
  }
}

/**
 * The host side of an in-memory link to `device`, path `memory:<chip>`.
 * Writes reach the device at once; the device's output waits in the port
 * until read. Closing resolves a pending read with no bytes.
 *
 * @example
 * ```ts
 * import { VirtualDevice } from "./device.ts";
 * import { memoryPort } from "./memory.ts";
 * const port = memoryPort(new VirtualDevice({ chip: "esp32" }));
 * await port.close();
 * ```
 */
export function memoryPort(device: VirtualDevice, options: { baud?: number } = {}): Port {
  return new MemoryPort(device, options);
}

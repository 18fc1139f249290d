/**
 * Drives a VirtualDevice with raw protocol bytes built here from the
 * reference, not through the loader: the emulator's tests must not share
 * the client's assumptions.
 * @module
 */

import { VirtualDevice, type VirtualDeviceOptions } from "../../src/emulator/device.ts";
import { SlipDecoder, slipEncode } from "../../src/protocol/slip.ts";
import { checksum, encodeCommand, encodeDataPayload } from "../../src/protocol/packet.ts";
import { words } from "../../src/protocol/bytes.ts";

/** A device plus a capture of every frame it sends. */
export class Bench {
  readonly device: VirtualDevice;
  readonly frames: Uint8Array[] = [];
  readonly #decoder = new SlipDecoder();

  constructor(options: VirtualDeviceOptions) {
    this.device = new VirtualDevice(options);
    this.device.onTransmit((b) => this.frames.push(...this.#decoder.push(b)));
  }

  /** Sends a command; returns the frames it produced. */
  cmd(op: number, data: Uint8Array = new Uint8Array(), check = 0): Uint8Array[] {
    const before = this.frames.length;
    this.device.receive(slipEncode(encodeCommand(op, data, check)));
    return this.frames.slice(before);
  }

  /** Sends a *_DATA command with a correct checksum unless `check` is given. */
  data(op: number, seq: number, block: Uint8Array, check?: number): Uint8Array[] {
    return this.cmd(op, encodeDataPayload(seq, block), check ?? checksum(block));
  }

  /** Sends raw bytes (already framed). */
  raw(bytes: Uint8Array): Uint8Array[] {
    const before = this.frames.length;
    this.device.receive(bytes);
    return this.frames.slice(before);
  }
}

export { words };

/** Hex of a frame, for exact comparisons. */
export function hexOf(frame: Uint8Array): string {
  return Array.from(frame, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

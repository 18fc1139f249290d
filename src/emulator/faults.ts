/**
 * The fault model: what goes wrong on a bad day, injected at the device's
 * UART and command loop, seeded so every run repeats exactly.
 *
 * - `dropAfterBytes`: the cable is pulled after the host has sent this many
 *   bytes: from then on nothing crosses, either way, until
 *   {@link FaultModel.heal}.
 * - `replyBitFlipRate`: each byte the device sends has this chance of one
 *   flipped bit (a noisy line or hub); SLIP framing, headers, status bytes
 *   and digests are all exposed.
 * - `dataBitFlipRate`: each data byte of a FLASH_DATA / FLASH_DEFL_DATA /
 *   MEM_DATA block (after its 16-byte header) has this chance of one flipped
 *   bit on the way in. Only the checksummed part is exposed: the ROM
 *   protocol has no check on command headers, so a flipped offset in a
 *   FLASH_BEGIN would write elsewhere on a real board too, and no flasher
 *   can notice it.
 * - `stall`: from the reply to the Nth command on, the device's output is
 *   held for `ms` (a stalled USB bridge), in order; a reset does not end
 *   it, healing does (what it held is lost, as when a bridge is replugged).
 * - `resetAt`: the chip resets on the Nth command (EN pulse with the strap
 *   lines released: it boots its app), before the command runs or after it
 *   ran but before its reply left.
 * - `flashSlowdown`: the timing model multiplies erase and program times by
 *   this (a worn or cold part).
 *
 * Commands are counted from 1, from when the faults were given (power-on,
 * or VirtualDevice.injectFaults), in the order the command loop takes them.
 * @module
 */

import { uniform } from "../random.ts";

/** Faults to inject; all optional. */
export interface FaultOptions {
  /** Seed of the fault model's random draws (default 1). */
  seed?: number;
  /** The link dies after the host has sent this many bytes. */
  dropAfterBytes?: number;
  /** Chance per byte sent by the device of one flipped bit. */
  replyBitFlipRate?: number;
  /** Chance per data byte of a *_DATA block of one flipped bit on arrival. */
  dataBitFlipRate?: number;
  /** Hold the device's output for `ms`, from the reply to command `atCommand` on. */
  stall?: { atCommand: number; ms: number };
  /** Reset the chip on command `atCommand`, before it runs or after (reply lost). */
  resetAt?: { atCommand: number; after: boolean };
  /** Multiplier of flash erase and program times (timing model). */
  flashSlowdown?: number;
}

/** What the fault model did, for tests. */
export interface FaultCounts {
  /** Bits flipped in device output. */
  replyFlips: number;
  /** Bits flipped in received data blocks. */
  dataFlips: number;
  /** Host bytes lost after the link dropped. */
  droppedBytes: number;
  /** Chip resets injected. */
  resets: number;
  /** Output bursts held by a stall. */
  stalled: number;
}

/** The faults of one device; the device consults it at its UART and command loop. */
export class FaultModel {
  /** The options in force. */
  readonly options: FaultOptions;
  /** What happened so far. */
  readonly counts: FaultCounts = {
    replyFlips: 0,
    dataFlips: 0,
    droppedBytes: 0,
    resets: 0,
    stalled: 0,
  };
  readonly #random: () => number;
  #hostBytes = 0;
  #commands = 0;
  #healed = false;

  /** Faults as `options` say. */
  constructor(options: FaultOptions) {
    this.options = options;
    this.#random = uniform(options.seed ?? 1);
  }

  /** Everything stops: the cable is back, the part is fine, the line is clean. */
  heal(): void {
    this.#healed = true;
  }

  /** Bytes the host has sent since the faults were given. */
  get hostBytes(): number {
    return this.#hostBytes;
  }

  /** True once {@link heal} was called. */
  get healed(): boolean {
    return this.#healed;
  }

  /** True while the link is cut. */
  get linkDown(): boolean {
    const n = this.options.dropAfterBytes;
    return !this.#healed && n !== undefined && this.#hostBytes >= n;
  }

  /** Flash time multiplier in force. */
  get flashSlowdown(): number {
    return this.#healed ? 1 : this.options.flashSlowdown ?? 1;
  }

  /** Host bytes arriving: the part that crosses before the link drops (maybe none). */
  incoming(bytes: Uint8Array): Uint8Array {
    const room = Math.max(0, (this.options.dropAfterBytes ?? Infinity) - this.#hostBytes);
    this.#hostBytes += bytes.length;
    if (this.#healed || this.options.dropAfterBytes === undefined) return bytes;
    if (room >= bytes.length) return bytes;
    this.counts.droppedBytes += bytes.length - room;
    return bytes.subarray(0, room);
  }

  /** Counts a command the loop takes; returns what to do with it. */
  command(): { reset: "before" | "after" | undefined; stallMs: number | undefined } {
    this.#commands++;
    if (this.#healed) return { reset: undefined, stallMs: undefined };
    const r = this.options.resetAt;
    const reset = r && r.atCommand === this.#commands ? (r.after ? "after" : "before") : undefined;
    if (reset) this.counts.resets++;
    const s = this.options.stall;
    const stallMs = s && s.atCommand === this.#commands ? s.ms : undefined;
    return { reset, stallMs };
  }

  /** Flips bits in the data part of a *_DATA frame (after 8 + 16 header bytes), in place. */
  corruptData(frame: Uint8Array): void {
    const rate = this.#healed ? 0 : this.options.dataBitFlipRate ?? 0;
    this.counts.dataFlips += this.#flip(frame, 24, rate);
  }

  /** A copy of device output with bits flipped at the reply rate. */
  corruptReply(bytes: Uint8Array): Uint8Array {
    const rate = this.#healed ? 0 : this.options.replyBitFlipRate ?? 0;
    if (rate <= 0) return bytes;
    const out = bytes.slice();
    this.counts.replyFlips += this.#flip(out, 0, rate);
    return out;
  }

  /** Flips one bit in each byte chosen with chance `rate`, skipping ahead geometrically. */
  #flip(bytes: Uint8Array, from: number, rate: number): number {
    if (rate <= 0 || bytes.length <= from) return 0;
    let flips = 0;
    let at = from + this.#gap(rate);
    while (at < bytes.length) {
      bytes[at] ^= 1 << Math.floor(this.#random() * 8);
      flips++;
      at += 1 + this.#gap(rate);
    }
    return flips;
  }

  /** Bytes until the next hit, for hits with chance `rate` per byte. */
  #gap(rate: number): number {
    if (rate >= 1) return 0;
    return Math.floor(Math.log(1 - this.#random()) / Math.log(1 - rate));
  }
}

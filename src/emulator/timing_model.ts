/**
 * The timing model's arithmetic, apart from any clock: when host bytes reach
 * the chip, when the chip gets to them, how long its flash is busy, and when
 * each byte it sends reaches the host. The simulated-time link (timing.ts)
 * and the real-time pacing of a served device (paced.ts) both run on it.
 *
 * What takes time (every figure is a parameter; bench/README.md gives the
 * source of each default):
 * - the wire: 10 bits per byte at the sender's baud rate, each direction on
 *   its own, one byte after another; through Espressif's USB-Serial/JTAG
 *   (a board whose bridge ignores the baud rate) at its USB rate instead;
 * - USB: a host write reaches the bridge `usbOutMs` later; each burst the
 *   device sends reaches the host `usbLatencyMs` after its last byte left
 *   the UART;
 * - the chip's CPU: a small turnaround per command, device MD5 at the ROM's
 *   or the stub's rate, the stub's start-up after MEM_END, and waiting for
 *   the flash where the firmware waits for it;
 * - the flash, a part of its own: each erase or page program keeps it busy
 *   for its time, one at a time. The firmware models say when they start
 *   work and when they wait for it (flash_bus.ts): the ROM's routines wait
 *   for every erase and program before replying; the stubs acknowledge a
 *   data block when their command loop takes it (once the block before is
 *   done), start erases without waiting when the part is idle, and wait
 *   only before reading or programming. So an erase a stub started late in
 *   one block runs on while the next block crosses the wire.
 * @module
 */

import { SlipDecoder } from "../protocol/slip.ts";
import type { VirtualDevice } from "./device.ts";
import type { FlashOp, FlashTimer } from "./flash_bus.ts";
import { garble, sameRate } from "./uart.ts";

/** Timing parameters. Times in milliseconds, rates in bytes per second. */
export interface TimingParams {
  /** Device to host: from a burst's last byte on the UART to the host's read (FTDI: 16). */
  usbLatencyMs: number;
  /** Host to device: from the host's write to the bridge starting to send. */
  usbOutMs: number;
  /** 4 KiB sector erase. */
  sectorEraseMs: number;
  /** 64 KiB block erase. */
  blockEraseMs: number;
  /** Whole-chip erase (4 MB part). */
  chipEraseMs: number;
  /** 256-byte page program. */
  pageProgramMs: number;
  /** Device MD5 over flash with the ROM loader. */
  romMd5BytesPerSec: number;
  /** Device MD5 over flash with the stub. */
  stubMd5BytesPerSec: number;
  /** Command turnaround inside the chip: parse, dispatch, build the reply. */
  turnaroundMs: number;
  /** From MEM_END's reply to the stub's greeting: the stub sets up its UART and flash. */
  stubStartMs: number;
}

/** Defaults; bench/README.md says where each comes from. */
export const DEFAULT_TIMING: Readonly<TimingParams> = {
  usbLatencyMs: 1,
  usbOutMs: 1,
  sectorEraseMs: 45,
  blockEraseMs: 150,
  chipEraseMs: 10_000,
  pageProgramMs: 0.4,
  romMd5BytesPerSec: 1_000_000,
  stubMd5BytesPerSec: 4_000_000,
  turnaroundMs: 0.05,
  stubStartMs: 1,
};

/**
 * The parameters for `device`: the defaults, the latency of its bridge when
 * it has one, then `params`.
 */
export function timingFor(
  device: VirtualDevice,
  params: Partial<TimingParams> = {},
): TimingParams {
  const bridge = device.bridge?.info;
  return {
    ...DEFAULT_TIMING,
    ...(bridge ? { usbLatencyMs: bridge.usbLatencyMs } : {}),
    ...params,
  };
}

/** What crossed the link. */
export interface LinkStats {
  /** Bytes host to device, SLIP framing included. */
  bytesToDevice: number;
  /** Bytes device to host. */
  bytesToHost: number;
  /** Commands the host sent (frames with direction byte 0): its round trips. */
  commands: number;
}

/** Milliseconds `bytes` take on a UART at `baud` (8N1: 10 bits per byte). */
export function uartMs(bytes: number, baud: number): number {
  return bytes * 10 * 1000 / baud;
}

/** Device output on its way: due at the host at `at`. */
export interface TimedBurst {
  /** When the host can read it. */
  at: number;
  /** The bytes, as the host reads them. */
  bytes: Uint8Array;
}

/**
 * The timing of one link to a device. It takes the device's output
 * (`onTransmit`) and its flash timer; the host side gives it what the host
 * writes, at the time `now()` says, and takes the device's output when it
 * is due.
 */
export class LinkTiming implements FlashTimer {
  /** Bytes and commands that crossed. */
  readonly stats: LinkStats = { bytesToDevice: 0, bytesToHost: 0, commands: 0 };
  readonly #device: VirtualDevice;
  readonly #p: TimingParams;
  readonly #now: () => number;
  readonly #hostBaud: () => number | undefined;
  readonly #decoder = new SlipDecoder();
  #outbox: TimedBurst[] = [];
  /** When each wire is free again, when the CPU can take the next command, when the flash is idle. */
  #h2dFree = 0;
  #d2hFree = 0;
  #cpuFree = 0;
  #flashFree = 0;
  /** The CPU's time while it handles host bytes; undefined between them. */
  #cpu: number | undefined;
  #stubAtStart = false;
  #greeted = false;
  #boots: number;
  #closed = false;

  /**
   * Times `device`'s link. `hostBaud` is the host's rate when it sends
   * (undefined: a link without one, such as TCP, where bytes cross at the
   * chip's rate and are never garbled by a mismatch).
   */
  constructor(
    device: VirtualDevice,
    params: TimingParams,
    now: () => number,
    hostBaud: () => number | undefined,
  ) {
    this.#device = device;
    this.#p = params;
    this.#now = now;
    this.#hostBaud = hostBaud;
    this.#boots = device.boots;
    device.onTransmit((bytes, baud) => this.#transmit(bytes, baud));
    device.setFlashTimer(this);
  }

  /** Detaches from the device. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#device.onTransmit(() => {});
    this.#device.setFlashTimer(undefined);
  }

  /** Bytes per second on the wire at `baud` (or the USB rate where the baud is ignored). */
  #rate(baud: number): number {
    const bridge = this.#device.bridge?.info;
    if (bridge?.ignoresBaud) return bridge.usbBytesPerSec ?? Infinity;
    return baud / 10;
  }

  /** The firmware's time: the CPU's while it runs a command, else the clock's. */
  #t(): number {
    return this.#cpu ?? this.#now();
  }

  // ---------------------------------------------------------------- flash timer

  /** The flash is still busy at the firmware's time. */
  busy(): boolean {
    return this.#flashFree > this.#t();
  }

  /** The flash starts `op` at the firmware's time. */
  start(op: FlashOp): void {
    const p = this.#p;
    const ms = op === "sector-erase"
      ? p.sectorEraseMs
      : op === "block-erase"
      ? p.blockEraseMs
      : op === "chip-erase"
      ? p.chipEraseMs
      : p.pageProgramMs;
    this.#flashFree = Math.max(this.#t(), this.#flashFree) +
      ms * this.#device.faults.flashSlowdown;
  }

  /** The firmware waits for the flash. */
  wait(): void {
    if (this.#cpu !== undefined) this.#cpu = Math.max(this.#cpu, this.#flashFree);
  }

  /** The firmware hashes `bytes` at the rate of the loader that runs. */
  hash(bytes: number): void {
    if (this.#cpu === undefined) return;
    const p = this.#p;
    this.#cpu += bytes * 1000 / (this.#stubAtStart ? p.stubMd5BytesPerSec : p.romMd5BytesPerSec);
  }

  // ---------------------------------------------------------------- bytes

  /**
   * A chip reset ends whatever the CPU was busy with, and output it had not
   * yet put on the wire is never sent.
   */
  #checkReset(): void {
    if (this.#device.boots === this.#boots) return;
    this.#boots = this.#device.boots;
    const now = this.#now();
    this.#cpuFree = Math.min(this.#cpuFree, now);
    this.#d2hFree = Math.min(this.#d2hFree, now);
    this.#outbox = this.#outbox.filter((e) => e.at - this.#p.usbLatencyMs <= now);
  }

  #transmit(bytes: Uint8Array, baud: number): void {
    if (this.#closed) return;
    this.#checkReset();
    if (this.#cpu !== undefined && !this.#stubAtStart && !this.#greeted) {
      if (this.#device.mode === "stub") {
        // The stub's greeting: it set up its UART and flash first.
        this.#cpu += this.#p.stubStartMs;
        this.#greeted = true;
      }
    }
    this.#send(bytes, baud, this.#t());
  }

  /** Puts a device burst on the wire no earlier than `from`. */
  #send(bytes: Uint8Array, baud: number, from: number): void {
    const start = Math.max(from, this.#d2hFree);
    this.#d2hFree = start + bytes.length * 1000 / this.#rate(baud);
    this.stats.bytesToHost += bytes.length;
    // The host samples at its own rate: a mismatch arrives as garbage.
    const host = this.#hostBaud();
    const intact = host === undefined || this.#device.usbSerialJtag || sameRate(host, baud);
    this.#outbox.push({
      at: this.#d2hFree + this.#p.usbLatencyMs,
      bytes: intact ? bytes.slice() : garble(bytes),
    });
  }

  /**
   * The host writes `data` now: it crosses the wire, then the chip takes it
   * (when it is done with what came before) and runs what it completes.
   */
  hostWrite(data: Uint8Array): void {
    if (this.#closed) return;
    const p = this.#p;
    const hostBaud = this.#hostBaud();
    const wireBaud = hostBaud ?? this.#device.baud;
    this.#h2dFree = Math.max(this.#now() + p.usbOutMs, this.#h2dFree) +
      data.length * 1000 / this.#rate(wireBaud);
    const arrived = this.#h2dFree;
    this.stats.bytesToDevice += data.length;
    for (const f of this.#decoder.push(data)) {
      if (f.length >= 8 && f[0] === 0) this.stats.commands++;
    }
    this.#checkReset();
    this.#stubAtStart = this.#device.mode === "stub";
    this.#greeted = false;
    this.#cpu = Math.max(arrived, this.#cpuFree) + p.turnaroundMs;
    try {
      this.#device.receive(data.slice(), hostBaud);
    } finally {
      this.#cpuFree = this.#cpu;
      this.#cpu = undefined;
    }
  }

  /** When the host's last byte has left the bridge. */
  get hostWriteDone(): number {
    return this.#h2dFree;
  }

  /** When the next device output is due, or undefined with none on its way. */
  nextAt(): number | undefined {
    let at: number | undefined;
    for (const e of this.#outbox) if (at === undefined || e.at < at) at = e.at;
    return at;
  }

  /** Takes the device output due by `t`, in order (empty when none is). */
  take(t: number): Uint8Array {
    const ready = this.#outbox.filter((e) => e.at <= t);
    if (ready.length === 0) return new Uint8Array();
    this.#outbox = this.#outbox.filter((e) => e.at > t);
    const out = new Uint8Array(ready.reduce((n, e) => n + e.bytes.length, 0));
    let at = 0;
    for (const e of ready) {
      out.set(e.bytes, at);
      at += e.bytes.length;
    }
    return out;
  }

  /** Drops device output due by `t` (the host flushed its input). */
  drop(t: number): void {
    this.#outbox = this.#outbox.filter((e) => e.at > t);
  }
}

/**
 * The timing model: a link to a virtual device that runs on simulated time,
 * so a benchmark measures what a deploy would cost on a real board, in
 * simulated milliseconds, without waiting for it. Off unless asked for: the
 * tests use untimed links, the deploy benchmark this one.
 *
 * What takes time (every figure is a parameter; bench/README.md gives the
 * source of each default):
 * - the wire: 10 bits per byte at the sender's baud rate, each direction on
 *   its own, one byte after another;
 * - USB: a host write reaches the bridge `usbOutMs` later; each burst the
 *   device sends reaches the host `usbLatencyMs` after its last byte left
 *   the UART (1 ms for CP210x/CH340-like bridges, 16 ms for an FTDI bridge
 *   with its default latency timer);
 * - the chip: a small turnaround per command, the erases and page programs
 *   the NOR flash model counted while the command ran, device MD5 at the
 *   ROM's or the stub's rate, and the stub's start-up after MEM_END;
 * - overlap: the ROM does all of a command's work before it replies; the
 *   stub acknowledges a FLASH_DATA / FLASH_DEFL_DATA block when its command
 *   loop takes it (that is, once the previous block is written) and writes
 *   it afterwards, so wire time and flash time overlap by one block.
 *
 * Time moves only when the host reads (to the arrival of what it reads, or
 * to its deadline), drains, or sleeps on the {@link SimClock}.
 * @module
 */

import type { Port } from "../serial/port.ts";
import { DeviceLink } from "./link.ts";
import { SlipDecoder } from "../protocol/slip.ts";
import { readU32 } from "../protocol/bytes.ts";
import { Op } from "../protocol/opcodes.ts";
import type { SimClock } from "./clock.ts";
import type { VirtualDevice } from "./device.ts";
import type { FlashOpCounts } from "./flash.ts";
import { garble, sameRate } from "./uart.ts";

export { SimClock } from "./clock.ts";

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

/** The host side of a timed link. */
class TimedPort extends DeviceLink {
  readonly stats: LinkStats = { bytesToDevice: 0, bytesToHost: 0, commands: 0 };
  readonly #clock: SimClock;
  readonly #p: TimingParams;
  readonly #decoder = new SlipDecoder();
  #inbox: { at: number; bytes: Uint8Array }[] = [];
  /** When each wire is free again, and when the chip can take its next command. */
  #h2dFree = 0;
  #d2hFree = 0;
  #deviceFree = 0;
  /** Set while a command runs: its output is collected and timed afterwards. */
  #pending: { bytes: Uint8Array; baud: number }[] | undefined;
  #boots: number;

  constructor(device: VirtualDevice, clock: SimClock, params: TimingParams) {
    super(device, `timed:${device.chip.name}`);
    this.#clock = clock;
    this.#p = params;
    this.#boots = device.boots;
    device.onTransmit((bytes, baud) => {
      if (this.closed) return;
      this.#checkReset();
      if (this.#pending) this.#pending.push({ bytes: bytes.slice(), baud });
      else this.#send(bytes, baud, this.#clock.now()); // boot text after a reset
    });
  }

  /**
   * A chip reset ends whatever it was busy with, and output it had not yet
   * put on the wire is never sent.
   */
  #checkReset(): void {
    if (this.device.boots === this.#boots) return;
    this.#boots = this.device.boots;
    const now = this.#clock.now();
    this.#deviceFree = Math.min(this.#deviceFree, now);
    this.#d2hFree = Math.min(this.#d2hFree, now);
    this.#inbox = this.#inbox.filter((e) => e.at - this.#p.usbLatencyMs <= now);
  }

  /** Puts a device burst on the wire no earlier than `from`. */
  #send(bytes: Uint8Array, baud: number, from: number): void {
    const start = Math.max(from, this.#d2hFree);
    this.#d2hFree = start + uartMs(bytes.length, baud);
    this.stats.bytesToHost += bytes.length;
    // The host samples at its own rate: a mismatch arrives as garbage.
    const data = sameRate(this.baud, baud) ? bytes.slice() : garble(bytes);
    this.#inbox.push({ at: this.#d2hFree + this.#p.usbLatencyMs, bytes: data });
  }

  /** Chip time for what a command did, from the flash model's counters. */
  #work(before: FlashOpCounts, op: number, payload: Uint8Array, stubBefore: boolean): number {
    const o = this.device.flash.ops;
    const p = this.#p;
    let ms = ((o.sectorErases - before.sectorErases) * p.sectorEraseMs +
      (o.blockErases - before.blockErases) * p.blockEraseMs +
      (o.chipErases - before.chipErases) * p.chipEraseMs +
      (o.pagePrograms - before.pagePrograms) * p.pageProgramMs) *
      this.device.faults.flashSlowdown;
    if (op === Op.SPI_FLASH_MD5 && payload.length >= 8) {
      ms += readU32(payload, 4) * 1000 / (stubBefore ? p.stubMd5BytesPerSec : p.romMd5BytesPerSec);
    }
    if (op === Op.MEM_END && !stubBefore && this.device.mode === "stub") ms += p.stubStartMs;
    return ms;
  }

  write(data: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.path} is closed`));
    const p = this.#p;
    this.#h2dFree = Math.max(this.#clock.now() + p.usbOutMs, this.#h2dFree) +
      uartMs(data.length, this.baud);
    const arrived = this.#h2dFree;
    this.stats.bytesToDevice += data.length;
    const frames = this.#decoder.push(data);
    const command = frames.find((f) => f.length >= 8 && f[0] === 0);
    if (command) this.stats.commands++;
    const op = command ? command[1] : -1;
    const payload = command ? command.subarray(8) : new Uint8Array();
    this.#checkReset();
    const stub = this.device.mode === "stub";
    const before = { ...this.device.flash.ops };
    this.#pending = [];
    try {
      this.device.receive(data.slice(), this.baud);
    } finally {
      const out = this.#pending;
      this.#pending = undefined;
      const start = Math.max(arrived, this.#deviceFree) + p.turnaroundMs;
      const work = this.#work(before, op, payload, stub);
      // The stub acknowledges a data block first and writes it afterwards.
      const overlapped = stub && (op === Op.FLASH_DATA || op === Op.FLASH_DEFL_DATA);
      const replyAt = overlapped ? start : start + work;
      this.#deviceFree = overlapped ? start + work : replyAt;
      for (const o of out) this.#send(o.bytes, o.baud, replyAt);
    }
    return Promise.resolve();
  }

  async read(timeoutMs: number): Promise<Uint8Array> {
    await Promise.resolve();
    const deadline = this.#clock.now() + Math.max(0, timeoutMs);
    while (!this.closed) {
      this.#clock.advance(0); // device timers due now fire first
      const now = this.#clock.now();
      const ready = this.#inbox.filter((e) => e.at <= now);
      if (ready.length > 0) {
        this.#inbox = this.#inbox.filter((e) => e.at > now);
        const out = new Uint8Array(ready.reduce((n, e) => n + e.bytes.length, 0));
        let at = 0;
        for (const e of ready) {
          out.set(e.bytes, at);
          at += e.bytes.length;
        }
        return out;
      }
      if (now >= deadline) break;
      // Sleep until the next arrival, the next device timer, or the deadline.
      let next = deadline;
      for (const e of this.#inbox) next = Math.min(next, e.at);
      const timer = this.#clock.nextTimerAt();
      if (timer !== undefined) next = Math.min(next, timer);
      this.#clock.advanceTo(next);
    }
    return new Uint8Array();
  }

  drain(): Promise<void> {
    this.#clock.advanceTo(this.#h2dFree);
    return Promise.resolve();
  }

  flushInput(): Promise<void> {
    const now = this.#clock.now();
    this.#inbox = this.#inbox.filter((e) => e.at > now);
    return Promise.resolve();
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
 * its sleeps are simulated.
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
  const port = new TimedPort(device, clock, { ...DEFAULT_TIMING, ...params });
  return { port, stats: port.stats };
}

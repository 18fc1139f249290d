/**
 * The SPI flash as the chip's firmware addresses it. The ROM and the stub
 * check each access against the flash size they believe (their `flashchip`
 * record, set by SPI_SET_PARAMS; the stub starts with 16 MiB, or 64 MiB on
 * chips with 32-bit addressing). The part itself ignores address bits above
 * its capacity, so an access past the real end within that size wraps to
 * the start, as it does on a board whose flash is smaller than claimed.
 *
 * Time: the flash is one device that does one erase or program at a time,
 * while the firmware runs on. The bus tells a {@link FlashTimer} what the
 * firmware asked of the flash: a blocking erase or write (the ROM's
 * routines, which wait for the part to finish), an erase started without
 * waiting (the stubs' `start_next_erase`, which returns as soon as the
 * command is on the SPI bus), a wait for the part to go idle, and the
 * reads and hashing that wait for it first. The timing model (timing.ts)
 * turns that into simulated time; without one nothing takes time.
 * @module
 */

import { createHash } from "node:crypto";
import type { NorFlash } from "./flash.ts";

const SECTOR = 0x1000;
const PAGE = 0x100;

/** What the flash part can be busy with. */
export type FlashOp = "sector-erase" | "block-erase" | "chip-erase" | "page-program";

/**
 * The flash's time as the firmware sees it: whether the part is still busy,
 * starting an operation, waiting for it, and hashing what it holds.
 */
export interface FlashTimer {
  /** True while an erase or program the part was given has not finished. */
  busy(): boolean;
  /** The part starts `op` now (after any operation in progress); the firmware goes on. */
  start(op: FlashOp): void;
  /** The firmware waits until the part is idle (reads and writes do this first). */
  wait(): void;
  /** The firmware hashes `bytes` of flash (SPI_FLASH_MD5). */
  hash(bytes: number): void;
}

/** Nothing takes time: the part is never busy. */
export const UNTIMED: FlashTimer = {
  busy: () => false,
  start: () => {},
  wait: () => {},
  hash: () => {},
};

/** Flash access with the firmware's size limit and the part's address wrap. */
export class FlashBus {
  /** The flash chip. */
  readonly flash: NorFlash;
  /** The size the firmware believes, in bytes; accesses beyond it fail. */
  limit: number;
  /** Where the time of flash work goes (default: nowhere). */
  timer: FlashTimer = UNTIMED;

  /** A bus whose limit starts at the real size. */
  constructor(flash: NorFlash) {
    this.flash = flash;
    this.limit = flash.size;
  }

  /** True when [addr, addr + length) lies inside the believed size. */
  fits(addr: number, length: number): boolean {
    return addr >= 0 && length >= 0 && addr + length <= this.limit;
  }

  /** True while the part is still erasing or programming (its status register's WIP bit). */
  busy(): boolean {
    return this.timer.busy();
  }

  /** Waits until the part is idle. */
  waitIdle(): void {
    this.timer.wait();
  }

  /** Reads `length` bytes at `addr`, wrapping at the part's end (after the part is idle). */
  read(addr: number, length: number): Uint8Array {
    this.timer.wait();
    const out = new Uint8Array(length);
    let at = 0;
    while (at < length) {
      const p = (addr + at) % this.flash.size;
      const n = Math.min(length - at, this.flash.size - p);
      out.set(this.flash.data.subarray(p, p + n), at);
      at += n;
    }
    return out;
  }

  /** Raw MD5 of `length` bytes at `addr`, wrapping at the part's end. */
  md5(addr: number, length: number): Uint8Array {
    this.timer.wait();
    this.timer.hash(length);
    const hash = createHash("md5");
    let at = 0;
    while (at < length) {
      const p = (addr + at) % this.flash.size;
      const n = Math.min(length - at, this.flash.size - p);
      hash.update(this.flash.data.subarray(p, p + n));
      at += n;
    }
    return new Uint8Array(hash.digest());
  }

  /** Sector erase of the sector holding `addr`, waiting for it to finish. */
  eraseSector(addr: number): void {
    this.startEraseSector(addr);
    this.timer.wait();
  }

  /** 64 KiB block erase of the block holding `addr`, waiting for it to finish. */
  eraseBlock(addr: number): void {
    this.startEraseBlock(addr);
    this.timer.wait();
  }

  /**
   * Starts a sector erase of the sector holding `addr` and returns while the
   * part works (the stubs' `start_next_erase`; they check {@link busy} first).
   */
  startEraseSector(addr: number): void {
    this.timer.wait();
    const before = this.flash.ops.sectorErases;
    this.flash.eraseSector(Math.floor(addr / SECTOR) % this.flash.sectors);
    // A protected sector is refused at once: the part never goes busy.
    if (this.flash.ops.sectorErases !== before) this.timer.start("sector-erase");
  }

  /** Starts a 64 KiB block erase of the block holding `addr` and returns while the part works. */
  startEraseBlock(addr: number): void {
    this.timer.wait();
    const blocks = Math.ceil(this.flash.size / 0x10000);
    const before = this.flash.ops.blockErases;
    this.flash.eraseBlock(Math.floor(addr / 0x10000) % blocks);
    if (this.flash.ops.blockErases !== before) this.timer.start("block-erase");
  }

  /** Chip erase, waiting for it to finish. */
  eraseChip(): void {
    this.timer.wait();
    const before = this.flash.ops.chipErases;
    this.flash.eraseChip();
    if (this.flash.ops.chipErases !== before) this.timer.start("chip-erase");
    this.timer.wait();
  }

  /**
   * Page programs of `bytes` at `addr`, split at page boundaries, wrapping at
   * the end; each waits for the part and for itself, as the ROM's write does.
   */
  write(addr: number, bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      const a = addr + at;
      const n = Math.min(PAGE - (a % PAGE), bytes.length - at);
      this.timer.wait();
      const before = this.flash.ops.pagePrograms;
      this.flash.program(a % this.flash.size, bytes.subarray(at, at + n));
      if (this.flash.ops.pagePrograms !== before) this.timer.start("page-program");
      this.timer.wait();
      at += n;
    }
  }
}

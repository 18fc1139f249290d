/**
 * The SPI flash as the chip's firmware addresses it. The ROM and the stub
 * check each access against the flash size they believe (their `flashchip`
 * record, set by SPI_SET_PARAMS; the stub starts with 16 MiB, or 64 MiB on
 * chips with 32-bit addressing). The part itself ignores address bits above
 * its capacity, so an access past the real end within that size wraps to
 * the start, as it does on a board whose flash is smaller than claimed.
 * @module
 */

import { createHash } from "node:crypto";
import type { NorFlash } from "./flash.ts";

const SECTOR = 0x1000;
const PAGE = 0x100;

/** Flash access with the firmware's size limit and the part's address wrap. */
export class FlashBus {
  /** The flash chip. */
  readonly flash: NorFlash;
  /** The size the firmware believes, in bytes; accesses beyond it fail. */
  limit: number;

  /** A bus whose limit starts at the real size. */
  constructor(flash: NorFlash) {
    this.flash = flash;
    this.limit = flash.size;
  }

  /** True when [addr, addr + length) lies inside the believed size. */
  fits(addr: number, length: number): boolean {
    return addr >= 0 && length >= 0 && addr + length <= this.limit;
  }

  /** Reads `length` bytes at `addr`, wrapping at the part's end. */
  read(addr: number, length: number): Uint8Array {
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

  /** Sector erase of the sector holding `addr`. */
  eraseSector(addr: number): void {
    this.flash.eraseSector(Math.floor(addr / SECTOR) % this.flash.sectors);
  }

  /** 64 KiB block erase of the block holding `addr`. */
  eraseBlock(addr: number): void {
    const blocks = Math.ceil(this.flash.size / 0x10000);
    this.flash.eraseBlock(Math.floor(addr / 0x10000) % blocks);
  }

  /** Chip erase. */
  eraseChip(): void {
    this.flash.eraseChip();
  }

  /** Page programs of `bytes` at `addr`, split at page boundaries, wrapping at the end. */
  write(addr: number, bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      const a = addr + at;
      const n = Math.min(PAGE - (a % PAGE), bytes.length - at);
      this.flash.program(a % this.flash.size, bytes.subarray(at, at + n));
      at += n;
    }
  }
}

/**
 * A NOR flash model: erase sets bits to 1 (bytes 0xFF), programming can only
 * clear bits (the result is old AND new), a page program wraps inside its
 * 256-byte page, and every sector counts its erases and writes so tests can
 * prove which sectors a flasher touched.
 * @module
 */

import { createHash } from "node:crypto";

const SECTOR = 0x1000;
const BLOCK = 0x10000;
const PAGE = 0x100;

/** Operation counts since the last {@link NorFlash.resetCounters}, for cost and timing models. */
export interface FlashOpCounts {
  /** Page program commands (one per {@link NorFlash.program} call). */
  pagePrograms: number;
  /** 4 KiB sector erase commands. */
  sectorErases: number;
  /** 64 KiB block erase commands. */
  blockErases: number;
  /** Whole-chip erase commands. */
  chipErases: number;
}

/** The flash chip of a virtual device. */
export class NorFlash {
  /** Size in bytes. */
  readonly size: number;
  /** Live contents; tests read it directly. */
  readonly data: Uint8Array;
  /** Erase operations (sector, block or chip) that covered each sector. */
  readonly sectorErases: Uint32Array;
  /** Page programs that touched each sector. */
  readonly sectorWrites: Uint32Array;
  /** Erase and program commands by kind ({@link FlashOpCounts}). */
  readonly ops: {
    pagePrograms: number;
    sectorErases: number;
    blockErases: number;
    chipErases: number;
  } = { pagePrograms: 0, sectorErases: 0, blockErases: 0, chipErases: 0 };

  /**
   * A flash of `size` bytes (a positive multiple of 4 KiB), erased (all 0xFF)
   * or holding `initial` at offset 0 (the rest erased).
   *
   * @example
   * ```ts
   * import { NorFlash } from "./flash.ts";
   * const f = new NorFlash(0x2000);
   * f.program(0x10, new Uint8Array([0x0f]));
   * f.data[0x10]; // 0x0f
   * ```
   */
  constructor(size: number, initial?: Uint8Array) {
    if (!Number.isInteger(size) || size <= 0 || size % SECTOR !== 0) {
      throw new RangeError(`flash size must be a positive multiple of 4 KiB, got ${size}`);
    }
    if (initial && initial.length > size) {
      throw new RangeError(`initial contents (${initial.length} bytes) exceed flash size ${size}`);
    }
    this.size = size;
    this.data = new Uint8Array(size).fill(0xff);
    if (initial) this.data.set(initial);
    this.sectorErases = new Uint32Array(size / SECTOR);
    this.sectorWrites = new Uint32Array(size / SECTOR);
  }

  /** Number of 4 KiB sectors. */
  get sectors(): number {
    return this.size / SECTOR;
  }

  /** Copy of `length` bytes at `offset`. */
  read(offset: number, length: number): Uint8Array {
    this.#check(offset, length);
    return this.data.slice(offset, offset + length);
  }

  /** Erases one 4 KiB sector (sector erase command). */
  eraseSector(index: number): void {
    this.#eraseSectors(index, 1);
    this.ops.sectorErases++;
  }

  /** Erases one 64 KiB block, `index` counted in 64 KiB units (block erase command). */
  eraseBlock(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index * BLOCK >= this.size) {
      throw new RangeError(`no 64 KiB block ${index} in ${this.size} bytes`);
    }
    this.#eraseSectors(index * 16, Math.min(16, this.sectors - index * 16));
    this.ops.blockErases++;
  }

  /** Erases the whole chip (chip erase command). */
  eraseChip(): void {
    this.#eraseSectors(0, this.sectors);
    this.ops.chipErases++;
  }

  /**
   * Erases every sector overlapping [offset, offset + length) with sector
   * erases, the finest granularity a NOR part offers.
   */
  eraseRange(offset: number, length: number): void {
    if (length === 0) return;
    this.#check(offset, length);
    const first = Math.floor(offset / SECTOR);
    const last = Math.ceil((offset + length) / SECTOR);
    for (let s = first; s < last; s++) this.eraseSector(s);
  }

  /**
   * One page program command at `offset`: each byte becomes old AND new.
   * Like a real part, the address wraps inside the 256-byte page, and when
   * more than 256 bytes are sent only the last 256 are kept (the page latch
   * is overwritten). Writers must split data at page boundaries; the
   * device's own write paths do, through {@link write}. Counts one write for
   * the sector of the page.
   */
  program(offset: number, bytes: Uint8Array): void {
    this.#check(offset, 1);
    if (bytes.length === 0) return;
    const page = offset - (offset % PAGE);
    // The part latches bytes into a page buffer (initially all 1s), wrapping.
    const latch = new Uint8Array(PAGE).fill(0xff);
    const touched = new Uint8Array(PAGE);
    let pos = offset % PAGE;
    for (let i = 0; i < bytes.length; i++) {
      latch[pos] = bytes[i];
      touched[pos] = 1;
      pos = (pos + 1) % PAGE;
    }
    for (let i = 0; i < PAGE; i++) if (touched[i]) this.data[page + i] &= latch[i];
    this.sectorWrites[Math.floor(page / SECTOR)]++;
    this.ops.pagePrograms++;
  }

  /**
   * Writes `bytes` at `offset` as the ROM and the stub do: page programs
   * split at page boundaries, so nothing wraps.
   */
  write(offset: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#check(offset, bytes.length);
    let at = 0;
    while (at < bytes.length) {
      const addr = offset + at;
      const n = Math.min(PAGE - (addr % PAGE), bytes.length - at);
      this.program(addr, bytes.subarray(at, at + n));
      at += n;
    }
  }

  /** Zeroes the per-sector counters and the operation counts. */
  resetCounters(): void {
    this.sectorErases.fill(0);
    this.sectorWrites.fill(0);
    this.ops.pagePrograms = 0;
    this.ops.sectorErases = 0;
    this.ops.blockErases = 0;
    this.ops.chipErases = 0;
  }

  /** Sectors erased or written since the last {@link resetCounters}, ascending. */
  touchedSectors(): number[] {
    const out: number[] = [];
    for (let s = 0; s < this.sectors; s++) {
      if (this.sectorErases[s] > 0 || this.sectorWrites[s] > 0) out.push(s);
    }
    return out;
  }

  /** Raw MD5 digest of `length` bytes at `offset`. */
  md5(offset: number, length: number): Uint8Array {
    this.#check(offset, length);
    return new Uint8Array(
      createHash("md5").update(this.data.subarray(offset, offset + length)).digest(),
    );
  }

  #eraseSectors(first: number, count: number): void {
    if (!Number.isInteger(first) || first < 0 || first + count > this.sectors) {
      throw new RangeError(`no sector ${first} in ${this.size} bytes`);
    }
    this.data.fill(0xff, first * SECTOR, (first + count) * SECTOR);
    for (let s = first; s < first + count; s++) this.sectorErases[s]++;
  }

  #check(offset: number, length: number): void {
    if (
      !Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 ||
      offset + length > this.size
    ) {
      throw new RangeError(`flash access ${offset}+${length} outside ${this.size} bytes`);
    }
  }
}

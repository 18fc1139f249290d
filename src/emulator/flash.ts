/**
 * A NOR flash model: erase sets bits to 1 (bytes 0xFF), programming can only
 * clear bits (the result is old AND new), page program wraps inside its
 * 256-byte page, and every sector counts its erases and writes so tests can
 * prove which sectors a flasher touched.
 * @module
 */

import { createHash } from "node:crypto";

const SECTOR = 0x1000;
const PAGE = 0x100;

/** The flash chip of a virtual device. */
export class NorFlash {
  /** Size in bytes. */
  readonly size: number;
  /** Live contents; tests read it directly. */
  readonly data: Uint8Array;
  /** Erase operations that covered each sector. */
  readonly sectorErases: Uint32Array;
  /** Program operations that touched each sector. */
  readonly sectorWrites: Uint32Array;

  /** A flash of `size` bytes (a multiple of 4 KiB), erased or holding `initial`. */
  constructor(size: number, initial?: Uint8Array) {
    if (size <= 0 || size % SECTOR !== 0) {
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

  /** Erases one 4 KiB sector. */
  eraseSector(index: number): void {
    if (index < 0 || index >= this.sectors) throw new RangeError(`no sector ${index}`);
    this.data.fill(0xff, index * SECTOR, (index + 1) * SECTOR);
    this.sectorErases[index]++;
  }

  /** Erases one 64 KiB block (16 sectors, block-aligned). */
  eraseBlock(index: number): void {
    for (let s = index * 16; s < (index + 1) * 16 && s < this.sectors; s++) this.eraseSector(s);
  }

  /** Erases every sector overlapping [offset, offset + length). */
  eraseRange(offset: number, length: number): void {
    if (length === 0) return;
    this.#check(offset, length);
    const first = Math.floor(offset / SECTOR);
    const last = Math.ceil((offset + length) / SECTOR);
    for (let s = first; s < last; s++) this.eraseSector(s);
  }

  /**
   * Programs `bytes` at `offset` as page-program commands would: split at
   * page boundaries by the caller's position; within one call, data that
   * runs past the end of its page wraps to the page start (real NOR does).
   * Callers that want a plain write use {@link write}.
   */
  pageProgram(offset: number, bytes: Uint8Array): void {
    if (bytes.length > PAGE) throw new RangeError(`page program of ${bytes.length} bytes`);
    this.#check(offset, 1);
    const page = offset - (offset % PAGE);
    let pos = offset % PAGE;
    for (let i = 0; i < bytes.length; i++) {
      this.data[page + pos] &= bytes[i];
      pos = (pos + 1) % PAGE;
    }
    this.sectorWrites[Math.floor(offset / SECTOR)]++;
  }

  /**
   * Writes `bytes` at `offset` by page programs split at page boundaries, as
   * the ROM and the stub do. Counts one write per sector touched.
   */
  write(offset: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#check(offset, bytes.length);
    for (let i = 0; i < bytes.length; i++) this.data[offset + i] &= bytes[i];
    const first = Math.floor(offset / SECTOR);
    const last = Math.ceil((offset + bytes.length) / SECTOR);
    for (let s = first; s < last; s++) this.sectorWrites[s]++;
  }

  /** Zeroes the erase and write counters. */
  resetCounters(): void {
    this.sectorErases.fill(0);
    this.sectorWrites.fill(0);
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

  #check(offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`flash access ${offset}+${length} outside ${this.size} bytes`);
    }
  }
}

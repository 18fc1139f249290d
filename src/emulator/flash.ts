/**
 * A NOR flash chip: a Winbond W25Q..JV-IQ of the device's capacity. Erase
 * sets bits to 1 (bytes 0xFF), programming can only clear bits (the result
 * is old AND new), a page program wraps inside its 256-byte page, and every
 * sector counts its erases and writes so tests can prove which sectors a
 * flasher touched.
 *
 * As a chip it also has its JEDEC id, its SFDP table (sfdp.ts), a unique
 * id, and status registers 1-3 (W25Q32JV datasheet, "Status Registers"):
 * - SR1: BUSY (0, operations are instant here), WEL, BP0-BP2, TB, SEC, SRP;
 *   SR2: SRL, QE, LB1-LB3 (one-time), CMP, SUS; SR3: WPS, DRV0-DRV1. Parts
 *   above 16 MB (W25Q256JV) have BP0-BP3 and TB in SR1 bits 2-6, no SEC.
 * - Each register has a non-volatile value and the volatile copy in force;
 *   power-on loads the copy. Writes after WREN (06h) go to both, writes
 *   after 50h to the copy only.
 * - Block protection: the BP bits protect a power-of-two part of the array
 *   from the top (TB = 0) or the bottom, SEC = 1 counts in 4 KiB sectors
 *   instead of 64 KiB blocks, CMP = 1 protects the complement. With WPS = 1
 *   individual block locks apply instead (all set at power-on; the top and
 *   bottom 64 KiB blocks lock per 4 KiB sector).
 * - A program or erase of a protected area is ignored, as on the part: no
 *   bits change, nothing is counted. A chip erase is ignored if any part of
 *   the array is protected.
 * - SRL = 1 locks the status registers until the next power-on (the /WP pin
 *   is high on ESP boards, so SRP alone never locks them).
 * @module
 */

import { createHash } from "node:crypto";
import { sfdpTable } from "./sfdp.ts";

const SECTOR = 0x1000;
const BLOCK = 0x10000;
const PAGE = 0x100;
const MB = 1024 * 1024;

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

/** Identity and power-on state of the part. */
export interface FlashChipOptions {
  /** JEDEC id as a controller's W0 holds it: manufacturer in the low byte (default Winbond EF 40 xx of the size). */
  jedecId?: number;
  /** The 64-bit unique id (4Bh), 8 bytes (default zeros). */
  uniqueId?: Uint8Array;
  /** Non-volatile status registers 1-3 at power-on (default 00 02 60: QE set, as -IQ parts ship). */
  status?: readonly number[];
}

/** Winbond-style JEDEC id (manufacturer 0xEF, type 0x40, capacity code of `size`), as W0 holds it. */
export function winbondJedecId(size: number): number {
  const capacity = 0x12 + Math.max(0, Math.round(Math.log2(size / (256 * 1024))));
  return (capacity << 16) | (0x40 << 8) | 0xef;
}

/**
 * Where a flash chip's changes go as they happen, so they outlive the
 * process (flash_file.ts). Called after the contents and counters changed.
 */
export interface FlashStore {
  /** Sectors [first, first + count) were erased. */
  erased(first: number, count: number): void;
  /** The 256-byte page at `page` was programmed. */
  programmed(page: number): void;
}

/** Bits of each status register a write can change (others are read-only or reserved). */
const WRITABLE = [0xfc, 0x43, 0x64];
/** SR2 LB1-LB3: one-time programmable, can be set but never cleared. */
const LB_BITS = 0x38;

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
  /** JEDEC id, manufacturer in the low byte (EF 40 16 reads 0x1640EF). */
  readonly jedecId: number;
  /** The 64-bit unique id. */
  readonly uniqueId: Uint8Array;
  /** The 256-byte SFDP space. */
  readonly sfdp: Uint8Array;
  /** Write enable latch (SR1 bit 1). */
  wel = false;
  /** Set by 50h: the next status register write is volatile and needs no WEL. */
  volatileWriteEnabled = false;
  /** Deep power-down (B9h); only ABh wakes the part. */
  poweredDown = false;
  readonly #nv: number[];
  #sr: number[];
  #locks: Uint8Array;
  #store: FlashStore | undefined;

  /**
   * A flash of `size` bytes (a positive multiple of 4 KiB), erased (all 0xFF)
   * or holding `initial` at offset 0 (the rest erased), just powered on.
   *
   * @example
   * ```ts
   * import { NorFlash } from "./flash.ts";
   * const f = new NorFlash(0x2000);
   * f.program(0x10, new Uint8Array([0x0f]));
   * f.data[0x10]; // 0x0f
   * ```
   */
  constructor(size: number, initial?: Uint8Array, options: FlashChipOptions = {}) {
    if (!Number.isInteger(size) || size <= 0 || size % SECTOR !== 0) {
      throw new RangeError(`flash size must be a positive multiple of 4 KiB, got ${size}`);
    }
    if (initial && initial.length > size) {
      throw new RangeError(`initial contents (${initial.length} bytes) exceed flash size ${size}`);
    }
    const status = options.status ?? [0x00, 0x02, 0x60];
    if (status.length !== 3 || status.some((b) => !Number.isInteger(b) || b < 0 || b > 0xff)) {
      throw new RangeError(`flash status must be 3 bytes, got ${JSON.stringify(status)}`);
    }
    this.size = size;
    this.data = new Uint8Array(size).fill(0xff);
    if (initial) this.data.set(initial);
    this.sectorErases = new Uint32Array(size / SECTOR);
    this.sectorWrites = new Uint32Array(size / SECTOR);
    this.jedecId = (options.jedecId ?? winbondJedecId(size)) & 0xffffff;
    this.uniqueId = (options.uniqueId ?? new Uint8Array(8)).slice(0, 8);
    this.sfdp = sfdpTable(size);
    this.#nv = status.map((b, i) => b & (WRITABLE[i] | (i === 1 ? LB_BITS : 0)));
    this.#sr = this.#nv.slice();
    this.#locks = new Uint8Array(this.#lockUnits());
    this.powerOn();
  }

  /**
   * Sends every later erase and page program to `store` as it happens
   * (write-through), e.g. a file that keeps the flash across processes.
   */
  persist(store: FlashStore): void {
    this.#store = store;
  }

  /** Number of 4 KiB sectors. */
  get sectors(): number {
    return this.size / SECTOR;
  }

  /**
   * Power-on (or a software reset, 66h 99h): the volatile status registers
   * are loaded from the non-volatile ones, the write enable latch clears and
   * every individual block lock is set.
   */
  powerOn(): void {
    this.#sr = this.#nv.slice();
    this.wel = false;
    this.volatileWriteEnabled = false;
    this.poweredDown = false;
    this.#locks.fill(1);
  }

  /** Status register `n` (1-3) as the part reports it (SR1 with WEL; BUSY is never set). */
  status(n: 1 | 2 | 3): number {
    const v = this.#sr[n - 1];
    return n === 1 ? (v | (this.wel ? 0x02 : 0)) & 0xff : v;
  }

  /** Status register `n` as stored in its non-volatile cells. */
  nonVolatileStatus(n: 1 | 2 | 3): number {
    return this.#nv[n - 1];
  }

  /** True while SRL locks the status registers (until the next power-on). */
  get statusLocked(): boolean {
    return (this.#sr[1] & 0x01) !== 0;
  }

  /**
   * A write status register command (01h with one or two bytes, 31h, 11h):
   * `first` is the register the command starts at. Needs WEL (written to
   * both copies) or a preceding 50h (volatile copy only); ignored while
   * SRL locks the registers. Clears WEL either way, as the part does at the
   * end of the command.
   */
  writeStatus(first: 1 | 2 | 3, bytes: Uint8Array): void {
    const volatile = this.volatileWriteEnabled;
    const allowed = (this.wel || volatile) && !this.statusLocked;
    this.wel = false;
    this.volatileWriteEnabled = false;
    if (!allowed) return;
    for (let i = 0; i < bytes.length && first - 1 + i < 3; i++) {
      const r = first - 1 + i;
      const lb = r === 1 ? (this.#sr[1] | bytes[i]) & LB_BITS : 0;
      const next = ((this.#sr[r] & ~WRITABLE[r]) | (bytes[i] & WRITABLE[r]) | lb) & 0xff;
      this.#sr[r] = next;
      if (!volatile) {
        this.#nv[r] = r === 1 ? (next & ~LB_BITS) | ((this.#nv[1] | next) & LB_BITS) : next;
      }
    }
  }

  /** Individual block lock (36h, 39h) of the unit holding `addr`; needs WEL. */
  setBlockLock(addr: number, locked: boolean): void {
    if (this.wel) this.#locks[this.#lockUnit(addr % this.size)] = locked ? 1 : 0;
    this.wel = false;
  }

  /** Global block lock or unlock (7Eh, 98h); needs WEL. */
  setAllBlockLocks(locked: boolean): void {
    if (this.wel) this.#locks.fill(locked ? 1 : 0);
    this.wel = false;
  }

  /** Read block lock (3Dh): 1 when the unit holding `addr` is locked. */
  blockLock(addr: number): number {
    return this.#locks[this.#lockUnit(addr % this.size)];
  }

  /** True when any byte of [offset, offset + length) is write-protected. */
  isProtected(offset: number, length: number): boolean {
    if ((this.#sr[2] & 0x04) !== 0) {
      for (let a = offset - (offset % SECTOR); a < offset + length; a += SECTOR) {
        if (this.#locks[this.#lockUnit(a)]) return true;
      }
      return false;
    }
    const [lo, hi] = this.#protectedRange();
    return lo < hi && offset < hi && offset + length > lo;
  }

  /** The protected range [lo, hi) the block protect bits select (WPS = 0). */
  #protectedRange(): [number, number] {
    const sr1 = this.#sr[0];
    const cmp = (this.#sr[1] & 0x40) !== 0;
    let size: number;
    let bottom: boolean;
    if (this.size > 16 * MB) {
      // W25Q256JV: BP0-BP3 in bits 2-5, TB in bit 6, 64 KiB units.
      const bp = (sr1 >> 2) & 0xf;
      bottom = (sr1 & 0x40) !== 0;
      size = bp === 0 ? 0 : Math.min(this.size, BLOCK * 2 ** (bp - 1));
    } else {
      const bp = (sr1 >> 2) & 0x7;
      bottom = (sr1 & 0x20) !== 0;
      const sec = (sr1 & 0x40) !== 0;
      if (bp === 0) size = 0;
      else if (bp === 7) size = this.size;
      else if (sec) size = SECTOR * 2 ** Math.min(bp - 1, 3);
      else size = Math.min(this.size, Math.max(BLOCK, this.size / 64) * 2 ** (bp - 1));
    }
    let lo = bottom ? 0 : this.size - size;
    let hi = bottom ? size : this.size;
    if (cmp) [lo, hi] = size === 0 ? [0, this.size] : bottom ? [hi, this.size] : [0, lo];
    return [lo, hi];
  }

  /** Lock units: every 64 KiB block, but per 4 KiB sector in the top and bottom blocks. */
  #lockUnits(): number {
    const blocks = Math.ceil(this.size / BLOCK);
    return blocks <= 2 ? this.sectors : blocks - 2 + 32;
  }

  #lockUnit(addr: number): number {
    const blocks = Math.ceil(this.size / BLOCK);
    if (blocks <= 2) return Math.floor(addr / SECTOR);
    const block = Math.floor(addr / BLOCK);
    if (block === 0) return Math.floor(addr / SECTOR);
    if (block === blocks - 1) return 16 + Math.floor((addr % BLOCK) / SECTOR);
    return 32 + block - 1;
  }

  /** Copy of `length` bytes at `offset`. */
  read(offset: number, length: number): Uint8Array {
    this.#check(offset, length);
    return this.data.slice(offset, offset + length);
  }

  /** Erases one 4 KiB sector (sector erase command); ignored when protected. */
  eraseSector(index: number): void {
    this.#checkSector(index, 1);
    if (this.isProtected(index * SECTOR, SECTOR)) return;
    this.#eraseSectors(index, 1);
    this.ops.sectorErases++;
  }

  /**
   * Erases one 64 KiB block, `index` counted in 64 KiB units (block erase
   * command); ignored when any of it is protected.
   */
  eraseBlock(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index * BLOCK >= this.size) {
      throw new RangeError(`no 64 KiB block ${index} in ${this.size} bytes`);
    }
    const count = Math.min(16, this.sectors - index * 16);
    if (this.isProtected(index * BLOCK, count * SECTOR)) return;
    this.#eraseSectors(index * 16, count);
    this.ops.blockErases++;
  }

  /** Erases the whole chip (chip erase command); ignored when any block is protected. */
  eraseChip(): void {
    if (this.isProtected(0, this.size)) return;
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
   * the sector of the page. A program of a protected page is ignored.
   */
  program(offset: number, bytes: Uint8Array): void {
    this.#check(offset, 1);
    if (bytes.length === 0) return;
    const page = offset - (offset % PAGE);
    if (this.isProtected(page, PAGE)) return;
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
    this.#store?.programmed(page);
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

  #checkSector(first: number, count: number): void {
    if (!Number.isInteger(first) || first < 0 || first + count > this.sectors) {
      throw new RangeError(`no sector ${first} in ${this.size} bytes`);
    }
  }

  #eraseSectors(first: number, count: number): void {
    this.#checkSector(first, count);
    this.data.fill(0xff, first * SECTOR, (first + count) * SECTOR);
    for (let s = first; s < first + count; s++) this.sectorErases[s]++;
    this.#store?.erased(first, count);
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

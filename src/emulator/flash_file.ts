/**
 * A virtual device's flash kept in a file, as NOR flash keeps its contents
 * across power cuts: every erase and page program is written through to
 * FILE before the device goes on (the host sees its reply after that), so a
 * killed emulator loses nothing the chip had done. The operating system
 * holds the written pages; no fsync, since a process dying is the fault
 * modelled, not the host machine crashing.
 *
 * Beside it, FILE.counters.json counts, per 4 KiB sector, the erases that
 * covered it and the page programs that touched it, since the file was
 * created, across every process that served the flash: a test can prove
 * that no sector outside a plan was ever touched. Its numbers are padded to
 * ten characters, so each update rewrites one number in place and the file
 * is valid JSON at every moment:
 *
 * ```json
 * {"sectorSize":4096,"sectors":1024,"erases":[         0,         1,...],"writes":[...]}
 * ```
 *
 * A counter is written before the flash bytes it counts, so a process killed
 * between the two counts an operation whose bytes did not land (never the
 * reverse): the counters never miss a touched sector.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";
import type { FlashStore, NorFlash } from "./flash.ts";

const SECTOR = 0x1000;
const PAGE = 0x100;
const WIDTH = 10;

/** FILE or its counters cannot serve this flash (wrong size, unreadable, not ours). */
export class FlashFileError extends EspdeltaError {
  /** With the one-line reason. */
  constructor(message: string) {
    super("BAD_FLASH_FILE", message);
  }
}

/** Per-sector counts as FILE.counters.json holds them. */
export interface SectorCounters {
  /** Sector size in bytes (4096). */
  sectorSize: number;
  /** Number of sectors. */
  sectors: number;
  /** Erases that covered each sector. */
  erases: number[];
  /** Page programs that touched each sector. */
  writes: number[];
}

/** The path of the counters beside `file`. */
export function countersPath(file: string): string {
  return `${file}.counters.json`;
}

/**
 * Reads FILE.counters.json (for tests and tools).
 *
 * @example
 * ```ts
 * import { NorFlash } from "./flash.ts";
 * import { FlashFile, readCounters } from "./flash_file.ts";
 * import assert from "node:assert";
 * const dir = Deno.makeTempDirSync();
 * const file = FlashFile.open(`${dir}/flash.bin`, 0x4000);
 * const flash = new NorFlash(0x4000, file.contents);
 * file.attach(flash);
 * flash.eraseSector(2);
 * flash.write(0x2000, new Uint8Array([1, 2, 3]));
 * file.close();
 * const c = readCounters(`${dir}/flash.bin`);
 * assert.deepStrictEqual([c.erases, c.writes], [[0, 0, 1, 0], [0, 0, 1, 0]]);
 * assert.deepStrictEqual(Deno.readFileSync(`${dir}/flash.bin`).subarray(0x2000, 0x2004), new Uint8Array([1, 2, 3, 0xff]));
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function readCounters(file: string): SectorCounters {
  const path = countersPath(file);
  let value: unknown;
  try {
    value = JSON.parse(Deno.readTextFileSync(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw e;
    throw new FlashFileError(`${path} is not a counters file: ${(e as Error).message}`);
  }
  const c = value as Partial<SectorCounters>;
  const ok = c && c.sectorSize === SECTOR && Number.isInteger(c.sectors) &&
    Array.isArray(c.erases) && Array.isArray(c.writes) && c.erases.length === c.sectors &&
    c.writes.length === c.sectors &&
    [...c.erases, ...c.writes].every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff);
  if (!ok) throw new FlashFileError(`${path} is not a counters file of 4 KiB sectors`);
  return c as SectorCounters;
}

/** The text of the counters, numbers padded to {@link WIDTH} characters. */
function countersText(sectors: number, erases: ArrayLike<number>, writes: ArrayLike<number>) {
  const list = (a: ArrayLike<number>) =>
    Array.from({ length: sectors }, (_, i) => String(a[i]).padStart(WIDTH)).join(",");
  return `${HEAD(sectors)}${list(erases)}${MIDDLE}${list(writes)}]}\n`;
}

const HEAD = (sectors: number) => `{"sectorSize":${SECTOR},"sectors":${sectors},"erases":[`;
const MIDDLE = `],"writes":[`;

/** A flash file and its counters, open for write-through (see the module doc). */
export class FlashFile implements FlashStore {
  /** The flash as FILE held it when opened (erased when FILE was new). */
  readonly contents: Uint8Array;
  /** The counters as FILE.counters.json held them (zeros when new). */
  readonly counters: SectorCounters;
  readonly #data: Deno.FsFile;
  readonly #counts: Deno.FsFile;
  readonly #sectors: number;
  #flash: NorFlash | undefined;

  private constructor(
    contents: Uint8Array,
    counters: SectorCounters,
    data: Deno.FsFile,
    counts: Deno.FsFile,
  ) {
    this.contents = contents;
    this.counters = counters;
    this.#data = data;
    this.#counts = counts;
    this.#sectors = counters.sectors;
  }

  /**
   * Opens FILE for a flash of `size` bytes, creating it erased when it does
   * not exist, and its counters beside it (zeros when they do not exist or
   * FILE was just created). Throws {@link FlashFileError} when FILE has
   * another size or the counters count other sectors.
   */
  static open(file: string, size: number): FlashFile {
    const sectors = size / SECTOR;
    let contents: Uint8Array;
    let created = false;
    try {
      contents = Deno.readFileSync(file);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new FlashFileError(`cannot read ${file}: ${(e as Error).message}`);
      }
      contents = new Uint8Array(size).fill(0xff);
      Deno.writeFileSync(file, contents);
      created = true;
    }
    if (contents.length !== size) {
      throw new FlashFileError(
        `${file} holds ${contents.length} bytes but the flash is ${size}; use --flash-size ` +
          `${contents.length} or another file`,
      );
    }
    let counters: SectorCounters;
    try {
      counters = created ? zeros(sectors) : readCounters(file);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      counters = zeros(sectors);
    }
    if (counters.sectors !== sectors) {
      throw new FlashFileError(
        `${countersPath(file)} counts ${counters.sectors} sectors but the flash has ${sectors}; ` +
          "delete it to count afresh",
      );
    }
    // Rewritten in the padded layout, whatever layout it had.
    Deno.writeTextFileSync(
      countersPath(file),
      countersText(sectors, counters.erases, counters.writes),
    );
    const data = Deno.openSync(file, { read: true, write: true });
    const counts = Deno.openSync(countersPath(file), { read: true, write: true });
    return new FlashFile(contents, counters, data, counts);
  }

  /** Loads the counters into `flash` and writes its every later change through to the files. */
  attach(flash: NorFlash): void {
    if (flash.sectors !== this.#sectors) {
      throw new RangeError(`flash has ${flash.sectors} sectors, the file ${this.#sectors}`);
    }
    flash.sectorErases.set(this.counters.erases);
    flash.sectorWrites.set(this.counters.writes);
    this.#flash = flash;
    flash.persist(this);
  }

  /** See {@link FlashStore.erased}. */
  erased(first: number, count: number): void {
    const flash = this.#flash!;
    this.#counter(HEAD(this.#sectors).length, flash.sectorErases, first, count);
    writeAt(
      this.#data,
      first * SECTOR,
      flash.data.subarray(first * SECTOR, (first + count) * SECTOR),
    );
  }

  /** See {@link FlashStore.programmed}. */
  programmed(page: number): void {
    const flash = this.#flash!;
    const writesAt = HEAD(this.#sectors).length + this.#sectors * (WIDTH + 1) - 1 + MIDDLE.length;
    this.#counter(writesAt, flash.sectorWrites, Math.floor(page / SECTOR), 1);
    writeAt(this.#data, page, flash.data.subarray(page, page + PAGE));
  }

  /** Rewrites counters [first, first + count) of the list starting at byte `at`. */
  #counter(at: number, counts: Uint32Array, first: number, count: number): void {
    const text = Array.from(counts.subarray(first, first + count), (n) => String(n).padStart(WIDTH))
      .join(",");
    writeAt(this.#counts, at + first * (WIDTH + 1), new TextEncoder().encode(text));
  }

  /** Closes both files (everything is already written). */
  close(): void {
    this.#data.close();
    this.#counts.close();
  }
}

function zeros(sectors: number): SectorCounters {
  return {
    sectorSize: SECTOR,
    sectors,
    erases: new Array(sectors).fill(0),
    writes: new Array(sectors).fill(0),
  };
}

function writeAt(file: Deno.FsFile, at: number, bytes: Uint8Array): void {
  file.seekSync(at, Deno.SeekMode.Start);
  let off = 0;
  while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
}

/**
 * Reads what a symboliser needs from a 32-bit little-endian ELF file (the
 * format of every ESP-IDF, Arduino and Zephyr build for Xtensa and RISC-V
 * Espressif chips): its sections, its function and object symbols, and, where
 * the file has a `.debug_line` section, the DWARF line table (versions 2 to 5),
 * so a code address turns into `function at file:line`.
 *
 * @example
 * ```ts
 * import { parseElf } from "./elf.ts";
 * import assert from "node:assert/strict";
 *
 * const elf = parseElf(Deno.readFileSync("testdata/firmware/elf/esp32c6-appdesc.elf"));
 * assert.equal(elf.machine, "riscv");
 * assert.equal(elf.sections.some((s) => s.name === ".flash.appdesc"), true);
 * ```
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";

/** An ELF file espdelta cannot read (not ELF, not 32-bit little-endian, cut short). */
export class ElfError extends EspdeltaError {
  /** Code `BAD_ELF`, with a one-line message naming the problem. */
  constructor(message: string) {
    super("BAD_ELF", message);
  }
}

/** One section header. */
export interface ElfSection {
  /** Name from the section-name string table. */
  name: string;
  /** Load address (0 for non-allocated sections). */
  address: number;
  /** Size in bytes. */
  size: number;
  /** Offset of its bytes in the file. */
  offset: number;
  /** Whether it holds executable code (SHF_EXECINSTR). */
  code: boolean;
}

/** A function or data symbol. */
export interface ElfSymbol {
  /** Symbol name. */
  name: string;
  /** Its address. */
  address: number;
  /** Its size in bytes (0 when the compiler did not record one). */
  size: number;
  /** Function or data object. */
  kind: "function" | "object";
}

/** A source position from the line table. */
export interface SourceLine {
  /** File path as the compiler recorded it (joined with its directory). */
  file: string;
  /** 1-based line number. */
  line: number;
}

/** What an address resolves to. */
export interface AddressInfo {
  /** The address looked up. */
  address: number;
  /** The function (or object) that holds it, if any. */
  symbol?: string;
  /** Its distance from the symbol's start. */
  offset?: number;
  /** Where in the source, if the file has a line table covering it. */
  source?: SourceLine;
}

/** A parsed ELF file. */
export interface Elf {
  /** `xtensa`, `riscv`, or `other` (e_machine 94, 243, else). */
  machine: "xtensa" | "riscv" | "other";
  /** Entry point. */
  entry: number;
  /** Every section. */
  sections: ElfSection[];
  /** Function and object symbols, sorted by address. */
  symbols: ElfSymbol[];
  /** Whether `.debug_line` was present and read. */
  hasLines: boolean;
  /** Whether `address` lies in an executable section. */
  isCode(address: number): boolean;
  /** The symbol and source line holding `address`. */
  lookup(address: number): AddressInfo;
}

const EM_XTENSA = 94;
const EM_RISCV = 243;
const SHF_EXECINSTR = 0x4;
const SHT_SYMTAB = 2;
const STT_NOTYPE = 0;
const STT_OBJECT = 1;
const STT_FUNC = 2;

/** Parses `bytes` as a 32-bit little-endian ELF file. */
export function parseElf(bytes: Uint8Array, name = "ELF file"): Elf {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (end: number, what: string) => {
    if (end > bytes.length) throw new ElfError(`${name} is cut short (in ${what})`);
  };
  need(52, "the ELF header");
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new ElfError(`${name} is not an ELF file (no \\x7fELF magic)`);
  }
  if (bytes[4] !== 1 || bytes[5] !== 1) {
    throw new ElfError(`${name} is not a 32-bit little-endian ELF file (Espressif chips use that)`);
  }
  const u16 = (o: number) => view.getUint16(o, true);
  const u32 = (o: number) => view.getUint32(o, true);
  const machineId = u16(18);
  const entry = u32(24);
  const shoff = u32(32);
  const shentsize = u16(46);
  const shnum = u16(48);
  const shstrndx = u16(50);
  need(shoff + shnum * shentsize, "the section headers");

  const raw = Array.from({ length: shnum }, (_, i) => {
    const o = shoff + i * shentsize;
    return {
      nameOff: u32(o),
      type: u32(o + 4),
      flags: u32(o + 8),
      address: u32(o + 12),
      offset: u32(o + 16),
      size: u32(o + 20),
      link: u32(o + 24),
    };
  });
  for (const s of raw) if (s.type !== 8) need(s.offset + s.size, "a section");
  const cString = (at: number) => {
    let end = at;
    while (end < bytes.length && bytes[end] !== 0) end++;
    return new TextDecoder().decode(bytes.subarray(at, end));
  };
  const names = raw[shstrndx];
  const sections: ElfSection[] = raw.map((s) => ({
    name: names ? cString(names.offset + s.nameOff) : "",
    address: s.address,
    size: s.size,
    offset: s.offset,
    code: (s.flags & SHF_EXECINSTR) !== 0,
  }));

  const symbols: ElfSymbol[] = [];
  raw.forEach((s) => {
    if (s.type !== SHT_SYMTAB) return;
    const strtab = raw[s.link];
    for (let o = s.offset; o + 16 <= s.offset + s.size; o += 16) {
      const type = bytes[o + 12] & 0xf;
      // Local labels in assembly (no type) count when they sit in code: vectors,
      // handlers. Global untyped symbols there are the linker's (_etext, ...).
      const local = bytes[o + 12] >> 4 === 0;
      const label = type === STT_NOTYPE && local &&
        (raw[u16(o + 14)]?.flags & SHF_EXECINSTR) !== 0;
      if (type !== STT_FUNC && type !== STT_OBJECT && !label) continue;
      const symName = cString(strtab.offset + u32(o));
      if (!symName || symName.startsWith("$") || symName.startsWith(".L")) continue;
      symbols.push({
        name: symName,
        address: u32(o + 4),
        size: u32(o + 8),
        kind: type === STT_OBJECT ? "object" : "function",
      });
    }
  });
  symbols.sort((a, b) => a.address - b.address || b.size - a.size);

  const section = (n: string) => {
    const s = sections.find((x) => x.name === n);
    return s ? bytes.subarray(s.offset, s.offset + s.size) : undefined;
  };
  const debugLine = section(".debug_line");
  const ranges = debugLine
    ? readLineTable(debugLine, section(".debug_str"), section(".debug_line_str"), name)
    : [];
  const codeSections = sections.filter((s) => s.code && s.size > 0);

  return {
    machine: machineId === EM_XTENSA ? "xtensa" : machineId === EM_RISCV ? "riscv" : "other",
    entry,
    sections,
    symbols,
    hasLines: debugLine !== undefined,
    isCode: (address) =>
      codeSections.some((s) => address >= s.address && address < s.address + s.size),
    lookup(address) {
      const info: AddressInfo = { address };
      const sym = symbolAt(symbols, address);
      if (sym) {
        info.symbol = sym.name;
        info.offset = address - sym.address;
      }
      const r = rangeAt(ranges, address);
      if (r) info.source = { file: r.file, line: r.line };
      return info;
    },
  };
}

/**
 * The symbol whose [address, address + size) holds `address`, preferring
 * functions; else the nearest function or label before it, as addr2line
 * answers for code between symbols (static functions a library stripped).
 * Callers check {@link Elf.isCode} first, so data addresses never get here
 * by accident.
 */
function symbolAt(symbols: ElfSymbol[], address: number): ElfSymbol | undefined {
  // Last symbol starting at or before the address.
  let lo = 0;
  let hi = symbols.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (symbols[mid].address <= address) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  let best: ElfSymbol | undefined;
  for (let i = found; i >= 0 && i > found - 64; i--) {
    const s = symbols[i];
    const inside = address < s.address + Math.max(s.size, 1);
    if (!inside) continue;
    if (!best || (s.kind === "function" && best.kind !== "function")) best = s;
  }
  for (let i = found; !best && i >= 0 && i > found - 64; i--) {
    if (symbols[i].kind === "function") best = symbols[i];
  }
  return best;
}

interface LineRange {
  start: number;
  end: number;
  file: string;
  line: number;
}

function rangeAt(ranges: LineRange[], address: number): LineRange | undefined {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid];
    if (address < r.start) hi = mid - 1;
    else if (address >= r.end) lo = mid + 1;
    else return r;
  }
  return undefined;
}

/** A byte cursor over one section. */
class Cursor {
  at = 0;
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array, readonly what: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  #need(n: number) {
    if (this.at + n > this.bytes.length) throw new ElfError(`${this.what} is cut short`);
  }
  u8(): number {
    this.#need(1);
    return this.bytes[this.at++];
  }
  u16(): number {
    this.#need(2);
    const v = this.view.getUint16(this.at, true);
    this.at += 2;
    return v;
  }
  u32(): number {
    this.#need(4);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  /** An offset or length of `size` bytes (4 in 32-bit DWARF, 8 in 64-bit). */
  offset(size: number): number {
    if (size === 4) return this.u32();
    const lo = this.u32();
    const hi = this.u32();
    return hi * 2 ** 32 + lo;
  }
  uleb(): number {
    return this.#leb(false);
  }
  sleb(): number {
    return this.#leb(true);
  }
  /** LEB128, in floating point so values past 2^31 stay exact. */
  #leb(signed: boolean): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return signed && b & 0x40 ? result - mul : result;
    }
  }
  cString(): string {
    let end = this.at;
    while (end < this.bytes.length && this.bytes[end] !== 0) end++;
    if (end >= this.bytes.length) throw new ElfError(`${this.what} is cut short`);
    const s = new TextDecoder().decode(this.bytes.subarray(this.at, end));
    this.at = end + 1;
    return s;
  }
  skip(n: number) {
    this.#need(n);
    this.at += n;
  }
}

function stringAt(table: Uint8Array | undefined, offset: number, what: string): string {
  if (!table || offset >= table.length) throw new ElfError(`${what}: string offset out of range`);
  let end = offset;
  while (end < table.length && table[end] !== 0) end++;
  return new TextDecoder().decode(table.subarray(offset, end));
}

// DWARF 5 forms that can appear in line-table headers (DWARF 5, section 7.5.6).
const DW_FORM = {
  block: 0x09,
  block1: 0x0a,
  data1: 0x0b,
  data2: 0x05,
  data4: 0x06,
  data8: 0x07,
  data16: 0x1e,
  string: 0x08,
  strp: 0x0e,
  udata: 0x0f,
  line_strp: 0x1f,
} as const;
const DW_LNCT_path = 1;
const DW_LNCT_directory_index = 2;

/** Reads one attribute value of `form`: a string or a number (blocks are skipped). */
function readForm(
  c: Cursor,
  form: number,
  offsetSize: number,
  str: Uint8Array | undefined,
  lineStr: Uint8Array | undefined,
): string | number {
  switch (form) {
    case DW_FORM.string:
      return c.cString();
    case DW_FORM.strp:
      return stringAt(str, c.offset(offsetSize), ".debug_str");
    case DW_FORM.line_strp:
      return stringAt(lineStr, c.offset(offsetSize), ".debug_line_str");
    case DW_FORM.udata:
      return c.uleb();
    case DW_FORM.data1:
      return c.u8();
    case DW_FORM.data2:
      return c.u16();
    case DW_FORM.data4:
      return c.u32();
    case DW_FORM.data8:
      c.skip(8);
      return 0;
    case DW_FORM.data16:
      c.skip(16);
      return 0;
    case DW_FORM.block:
      c.skip(c.uleb());
      return 0;
    case DW_FORM.block1:
      c.skip(c.u8());
      return 0;
    default:
      throw new ElfError(
        `.debug_line uses form 0x${form.toString(16)}, which espdelta cannot read`,
      );
  }
}

function joinPath(dir: string | undefined, file: string): string {
  if (!dir || file.startsWith("/") || /^[A-Za-z]:[\\/]/.test(file)) return file;
  return `${dir.replace(/\/+$/, "")}/${file}`;
}

/** Reads every line program in `.debug_line` into address ranges, sorted. */
function readLineTable(
  section: Uint8Array,
  str: Uint8Array | undefined,
  lineStr: Uint8Array | undefined,
  name: string,
): LineRange[] {
  const ranges: LineRange[] = [];
  const c = new Cursor(section, `${name}'s .debug_line`);
  while (c.at < section.length) {
    let unitLength = c.u32();
    let offsetSize = 4;
    if (unitLength === 0xffffffff) {
      unitLength = c.offset(8);
      offsetSize = 8;
    }
    const unitEnd = c.at + unitLength;
    if (unitEnd > section.length) throw new ElfError(`${name}'s .debug_line is cut short`);
    const version = c.u16();
    if (version < 2 || version > 5) {
      c.at = unitEnd; // A version this reader does not know: skip the unit.
      continue;
    }
    let addressSize = 4;
    if (version >= 5) {
      addressSize = c.u8();
      c.u8(); // segment selector size
    }
    const headerLength = c.offset(offsetSize);
    const programStart = c.at + headerLength;
    const minInst = c.u8();
    if (version >= 4) c.u8(); // maximum operations per instruction (VLIW only)
    c.u8(); // default_is_stmt: every row is used, statements or not
    const lineBase = (c.u8() << 24) >> 24;
    const lineRange = c.u8();
    const opcodeBase = c.u8();
    const argCounts = [0];
    for (let i = 1; i < opcodeBase; i++) argCounts.push(c.u8());

    const dirs: string[] = [];
    const files: string[] = [];
    if (version >= 5) {
      const readEntries = (into: string[], isFile: boolean) => {
        const formats: [number, number][] = [];
        const n = c.u8();
        for (let i = 0; i < n; i++) formats.push([c.uleb(), c.uleb()]);
        const count = c.uleb();
        for (let i = 0; i < count; i++) {
          let path = "";
          let dir = 0;
          for (const [type, form] of formats) {
            const v = readForm(c, form, offsetSize, str, lineStr);
            if (type === DW_LNCT_path) path = String(v);
            else if (type === DW_LNCT_directory_index) dir = Number(v);
          }
          into.push(isFile ? joinPath(dirs[dir], path) : path);
        }
      };
      readEntries(dirs, false);
      readEntries(files, true);
    } else {
      dirs.push(""); // Directory 0 is the compilation directory, not named here.
      for (let d = c.cString(); d !== ""; d = c.cString()) dirs.push(d);
      files.push(""); // Files are numbered from 1 before DWARF 5.
      for (let f = c.cString(); f !== ""; f = c.cString()) {
        const dir = c.uleb();
        c.uleb(); // modification time
        c.uleb(); // length
        files.push(joinPath(dirs[dir], f));
      }
    }
    c.at = programStart;

    // The line-number state machine (DWARF 5, section 6.2.2).
    let address = 0;
    let file = 1;
    let line = 1;
    let seq: { address: number; file: number; line: number }[] = [];
    const emit = () => seq.push({ address, file, line });
    const endSequence = () => {
      seq.push({ address, file, line });
      for (let i = 0; i + 1 < seq.length; i++) {
        const r = seq[i];
        const next = seq[i + 1].address;
        if (next > r.address) {
          ranges.push({ start: r.address, end: next, file: files[r.file] ?? "?", line: r.line });
        }
      }
      seq = [];
      address = 0;
      file = 1;
      line = 1;
    };
    while (c.at < unitEnd) {
      const op = c.u8();
      if (op >= opcodeBase) {
        const adjusted = op - opcodeBase;
        address += Math.floor(adjusted / lineRange) * minInst;
        line += lineBase + (adjusted % lineRange);
        emit();
      } else if (op === 0) {
        const len = c.uleb();
        const end = c.at + len;
        const sub = c.u8();
        if (sub === 1) endSequence();
        else if (sub === 2) address = addressSize === 8 ? c.offset(8) : c.u32();
        else if (sub === 3) {
          const f = c.cString();
          const dir = c.uleb();
          files.push(joinPath(dirs[dir], f));
        }
        c.at = end;
      } else if (op === 1) emit();
      else if (op === 2) address += c.uleb() * minInst;
      else if (op === 3) line += c.sleb();
      else if (op === 4) file = c.uleb();
      else if (op === 8) address += Math.floor((255 - opcodeBase) / lineRange) * minInst;
      else if (op === 9) address += c.u16();
      else for (let i = 0; i < argCounts[op]; i++) c.uleb();
    }
    c.at = unitEnd;
  }
  ranges.sort((a, b) => a.start - b.start);
  return ranges;
}

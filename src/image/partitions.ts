/**
 * ESP-IDF partition tables (protocol doc §7): the binary form flashed at
 * 0x8000 (32-byte entries, optional MD5 row, 0xFF end row, padded to 0xC00)
 * and the CSV form, parsed with the rules of ESP-IDF's gen_esp32part.py
 * (v1.5): k/M suffixes, type and subtype names, offsets assigned in order
 * with 64 KiB alignment for apps and 4 KiB for the rest, negative sizes
 * meaning "up to", `encrypted` and `readonly` flags, and its checks.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { parsePartitionCsv, parsePartitionTable, writePartitionTable } from "./partitions.ts";
 * const entries = parsePartitionCsv("nvs,data,nvs,,0x6000\nphy_init,data,phy,,4K\nfactory,app,factory,,1M\n");
 * deepStrictEqual(entries.map((e) => e.offset), [0x9000, 0xf000, 0x10000]);
 * const bin = writePartitionTable(entries, { md5: true });
 * const table = parsePartitionTable(bin);
 * deepStrictEqual([bin.length, table.entries.map((e) => e.name), table.md5?.valid], [0xc00, ["nvs", "phy_init", "factory"], true]);
 * ```
 * @module
 */

import { createHash } from "node:crypto";
import { equalBytes, hex, readU16, readU32, toHex, writeU32 } from "../protocol/bytes.ts";
import { PartitionError } from "./errors.ts";

/** Default flash offset of the partition table. */
export const PARTITION_TABLE_OFFSET = 0x8000;
/** The table occupies one sector. */
export const PARTITION_TABLE_SIZE = 0x1000;
/** Entries plus the MD5 row must stay below this many bytes (the rest is for a signature). */
export const MAX_PARTITION_LENGTH = 0xc00;
/** Bytes of one entry. */
export const PARTITION_ENTRY_SIZE = 32;

/** Partition type numbers by name. */
export const PARTITION_TYPES: Readonly<Record<string, number>> = {
  bootloader: 0x02,
  partition_table: 0x03,
  app: 0x00,
  data: 0x01,
};

const appSubtypes: Record<string, number> = { factory: 0x00, test: 0x20 };
for (let i = 0; i < 16; i++) appSubtypes[`ota_${i}`] = 0x10 + i;
for (let i = 0; i < 2; i++) appSubtypes[`tee_${i}`] = 0x30 + i;

/** Subtype numbers by name, per type number (as gen_esp32part.py knows them). */
export const PARTITION_SUBTYPES: Readonly<Record<number, Readonly<Record<string, number>>>> = {
  0x02: { primary: 0x00, ota: 0x01, recovery: 0x02 },
  0x03: { primary: 0x00, ota: 0x01 },
  0x00: appSubtypes,
  0x01: {
    ota: 0x00,
    phy: 0x01,
    nvs: 0x02,
    coredump: 0x03,
    nvs_keys: 0x04,
    efuse: 0x05,
    undefined: 0x06,
    esphttpd: 0x80,
    fat: 0x81,
    spiffs: 0x82,
    littlefs: 0x83,
    tee_ota: 0x90,
  },
};

const APP = 0x00;
const DATA = 0x01;
const BOOTLOADER = 0x02;
const TABLE = 0x03;

/** One partition. */
export interface PartitionEntry {
  /** Label (at most 16 bytes in the binary form). */
  name: string;
  /** Type number (0 app, 1 data, 2 bootloader, 3 partition table, 0x40+ custom). */
  type: number;
  /** Subtype number. */
  subtype: number;
  /** Flash offset. */
  offset: number;
  /** Size in bytes. */
  size: number;
  /** Flag bit 0. */
  encrypted: boolean;
  /** Flag bit 1. */
  readonly: boolean;
  /** Flag bits espdelta does not know, kept so binary tables round-trip. */
  extraFlags?: number;
  /** CSV line the entry came from. */
  line?: number;
}

/** A parsed binary table. */
export interface PartitionTable {
  /** Entries in table order. */
  entries: PartitionEntry[];
  /** The MD5 row, when the table has one. */
  md5?: { stored: Uint8Array; computed: Uint8Array; valid: boolean };
  /** An all-0xFF end row was found (tables written without padding may lack it). */
  terminated: boolean;
  /** Bytes of the table up to and including the end row (or all rows read). */
  length: number;
}

/** The name of a type number ("app"), or its decimal value as gen_esp32part writes it. */
export function typeName(type: number): string {
  return Object.entries(PARTITION_TYPES).find(([, v]) => v === type)?.[0] ?? String(type);
}

/** The name of a subtype ("ota_0", "nvs"), or its decimal value. */
export function subtypeName(type: number, subtype: number): string {
  const table = PARTITION_SUBTYPES[type] ?? {};
  return Object.entries(table).find(([, v]) => v === subtype)?.[0] ?? String(subtype);
}

function md5(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("md5").update(data).digest());
}

/**
 * Parses a binary partition table (a flash dump of the sector works too).
 * Reading stops at the all-0xFF row or at the end of the data; a table
 * without an end row (such as one written unpadded) is accepted. Throws
 * {@link PartitionError} `BAD_TABLE` for a row that is neither an entry, an
 * MD5 row nor the end row, or a partial row, and `BAD_MD5` when the MD5 row
 * does not match the entries before it.
 */
export function parsePartitionTable(bytes: Uint8Array): PartitionTable {
  const entries: PartitionEntry[] = [];
  let md5Info: PartitionTable["md5"];
  const hash = createHash("md5"); // over entry rows only, as gen_esp32part.py does
  for (let o = 0; o < bytes.length; o += PARTITION_ENTRY_SIZE) {
    const row = bytes.subarray(o, o + PARTITION_ENTRY_SIZE);
    if (row.length !== PARTITION_ENTRY_SIZE) {
      throw new PartitionError(
        "BAD_TABLE",
        `partition table length ${bytes.length} is not a multiple of 32 bytes`,
      );
    }
    if (row.every((b) => b === 0xff)) {
      return { entries, ...(md5Info ? { md5: md5Info } : {}), terminated: true, length: o + 32 };
    }
    const magic = readU16(row, 0);
    if (magic === 0xebeb) {
      const stored = row.slice(16, 32);
      const computed = new Uint8Array(hash.copy().digest());
      md5Info = { stored, computed, valid: equalBytes(stored, computed) };
      if (!md5Info.valid) {
        throw new PartitionError(
          "BAD_MD5",
          `partition table MD5 row holds ${toHex(stored)}, the entries hash to ${toHex(computed)}`,
        );
      }
      continue;
    }
    if (magic !== 0x50aa) {
      throw new PartitionError(
        "BAD_TABLE",
        `partition table row ${o / 32} at ${hex(o)} starts with ${hex(magic, 4)}, ` +
          "not an entry (0x50aa), an MD5 row (0xebeb) or the 0xff end row",
      );
    }
    hash.update(row);
    const nameBytes = row.subarray(12, 28);
    const nul = nameBytes.indexOf(0);
    const flags = readU32(row, 28);
    const entry: PartitionEntry = {
      name: new TextDecoder().decode(nul >= 0 ? nameBytes.subarray(0, nul) : nameBytes),
      type: row[2],
      subtype: row[3],
      offset: readU32(row, 4),
      size: readU32(row, 8),
      encrypted: (flags & 1) !== 0,
      readonly: (flags & 2) !== 0,
    };
    if (flags & ~3) entry.extraFlags = (flags & ~3) >>> 0;
    entries.push(entry);
  }
  return {
    entries,
    ...(md5Info ? { md5: md5Info } : {}),
    terminated: false,
    length: bytes.length,
  };
}

/**
 * The entries of `bytes` when they are a binary partition table that parses
 * (first row magic 0xAA 0x50), else undefined: for naming regions, where a
 * table that does not parse names nothing.
 */
export function tableEntries(bytes: Uint8Array | undefined): PartitionEntry[] | undefined {
  if (!bytes || bytes[0] !== 0xaa || bytes[1] !== 0x50) return undefined;
  try {
    return parsePartitionTable(bytes).entries;
  } catch {
    return undefined;
  }
}

/** Options of {@link writePartitionTable}. */
export interface WriteTableOptions {
  /** Append the MD5 row (ESP-IDF's default; bootloaders before v3.1 reject it). Default true. */
  md5?: boolean;
  /** Pad with 0xFF to 0xC00 bytes as gen_esp32part.py does. Default true. */
  pad?: boolean;
}

/** Encodes entries as a binary table. Throws `TOO_LARGE` past 0xC00 bytes. */
export function writePartitionTable(
  entries: readonly PartitionEntry[],
  options: WriteTableOptions = {},
): Uint8Array {
  const withMd5 = options.md5 ?? true;
  const rows = entries.length + (withMd5 ? 1 : 0);
  const used = rows * PARTITION_ENTRY_SIZE;
  if (used >= MAX_PARTITION_LENGTH) {
    throw new PartitionError(
      "TOO_LARGE",
      `binary partition table length (${used}) longer than max (${MAX_PARTITION_LENGTH})`,
    );
  }
  const out = new Uint8Array(options.pad ?? true ? MAX_PARTITION_LENGTH : used).fill(0xff);
  entries.forEach((e, i) => {
    const row = out.subarray(i * 32, i * 32 + 32);
    row[0] = 0xaa;
    row[1] = 0x50;
    row[2] = e.type;
    row[3] = e.subtype;
    writeU32(row, 4, e.offset);
    writeU32(row, 8, e.size);
    row.fill(0, 12, 28);
    // Longer labels are cut to 16 bytes, as struct.pack("16s") does in gen_esp32part.py.
    row.set(new TextEncoder().encode(e.name).subarray(0, 16), 12);
    writeU32(row, 28, (e.extraFlags ?? 0) | (e.encrypted ? 1 : 0) | (e.readonly ? 2 : 0));
  });
  if (withMd5) {
    const row = out.subarray(entries.length * 32, entries.length * 32 + 32);
    row.fill(0xff, 0, 16);
    row[0] = 0xeb;
    row[1] = 0xeb;
    row.set(md5(out.subarray(0, entries.length * 32)), 16);
  }
  return out;
}

/** Options of {@link parsePartitionCsv}. */
export interface ParseCsvOptions {
  /** Offset of the partition table (CONFIG_PARTITION_TABLE_OFFSET); default 0x8000. */
  offset?: number;
  /** Offset of the primary bootloader, needed by `bootloader` entries. */
  bootloaderOffset?: number;
  /** Offset of the recovery bootloader, needed by `bootloader, recovery` entries. */
  recoveryBootloaderOffset?: number;
  /** Run gen_esp32part's checks (alignment, overlaps, names, otadata); default true. */
  verify?: boolean;
  /** Secure boot version: "v1" needs 64 KiB-aligned app sizes. */
  secure?: "v1" | "v2";
  /** Values for `$NAME` / `${NAME}` in the CSV (gen_esp32part expands environment variables). */
  env?: Readonly<Record<string, string>>;
}

const INT_RE =
  /^[+-]?(0[xX](_?[0-9a-fA-F])+|0[oO](_?[0-7])+|0[bB](_?[01])+|0(_?0)*|[1-9](_?[0-9])*)$/;

/** Python's int(v, 0), or undefined where Python raises ValueError. */
function pyInt(v: string): number | undefined {
  if (!INT_RE.test(v)) return undefined;
  const neg = v.startsWith("-");
  const body = v.replace(/^[+-]/, "").replaceAll("_", "").toLowerCase();
  let n: number;
  if (body.startsWith("0x")) n = parseInt(body.slice(2), 16);
  else if (body.startsWith("0o")) n = parseInt(body.slice(2), 8);
  else if (body.startsWith("0b")) n = parseInt(body.slice(2), 2);
  else n = parseInt(body, 10);
  return neg ? -n : n;
}

/** gen_esp32part's parse_int: k/m suffixes, base prefixes, then keyword lookup. */
function parseInt0(v: string, keywords: Readonly<Record<string, number>>, line: number): number {
  for (const [letter, mult] of [["k", 1024], ["m", 1024 * 1024]] as const) {
    if (v.toLowerCase().endsWith(letter)) return parseInt0(v.slice(0, -1), keywords, line) * mult;
  }
  const n = pyInt(v);
  if (n !== undefined) return n;
  const names = Object.keys(keywords);
  if (names.length === 0) throw new PartitionError("CSV_SYNTAX", `Invalid field value ${v}`, line);
  const k = keywords[v.toLowerCase()];
  if (k === undefined) {
    throw new PartitionError(
      "CSV_SYNTAX",
      `Value '${v}' is not valid. Known keywords: ${names.join(", ")}`,
      line,
    );
  }
  return k;
}

function expand(line: string, env: Readonly<Record<string, string>>, lineNo: number): string {
  const out = line.replace(
    /(?<!\\)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (m, a, b) => env[a ?? b] ?? m,
  );
  const left = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(out);
  if (left) throw new PartitionError("CSV_SYNTAX", `unknown variable '${left[1]}'`, lineNo);
  return out;
}

interface Draft extends Omit<PartitionEntry, "offset" | "size"> {
  offset: number | undefined;
  size: number;
  line: number;
}

function parseLine(line: string, lineNo: number, o: ParseCsvOptions, tableOffset: number): Draft {
  const f = (line + ",,,,").split(",").map((s) => s.trim());
  const fail = (msg: string) => new PartitionError("CSV_SYNTAX", msg, lineNo);
  if (f[1] === "") throw fail("Field 'type' can't be left empty.");
  const type = parseInt0(f[1], PARTITION_TYPES, lineNo);
  let subtype: number;
  if (f[2] === "") {
    if (type === APP) throw fail("App partition cannot have an empty subtype");
    subtype = PARTITION_SUBTYPES[DATA].undefined;
  } else {
    subtype = parseInt0(f[2], PARTITION_SUBTYPES[type] ?? {}, lineNo);
  }
  let offset: number | undefined;
  if (type === BOOTLOADER && subtype === 0x00) {
    if (o.bootloaderOffset === undefined) throw fail("Primary bootloader offset is not provided");
    offset = o.bootloaderOffset;
  } else if (type === BOOTLOADER && subtype === 0x02) {
    if (o.recoveryBootloaderOffset === undefined) {
      throw fail("Recovery bootloader offset is not provided");
    }
    offset = o.recoveryBootloaderOffset;
  } else if (type === TABLE && subtype === 0x00) {
    offset = tableOffset;
  } else if (f[3] !== "") {
    offset = parseInt0(f[3], {}, lineNo);
  }
  let size: number | undefined;
  if (type === BOOTLOADER) {
    if (o.bootloaderOffset === undefined) throw fail("Primary bootloader offset is not provided");
    size = tableOffset - o.bootloaderOffset;
  } else if (type === TABLE) {
    size = PARTITION_TABLE_SIZE;
  } else if (f[4] !== "") {
    size = parseInt0(f[4], {}, lineNo);
  }
  if (size === undefined) throw fail("Size field can't be empty");
  let encrypted = false;
  let readonly = false;
  for (const flag of f[5].split(":")) {
    if (flag === "encrypted") encrypted = true;
    else if (flag === "readonly") readonly = true;
    else if (flag.length > 0) throw fail(`CSV flag column contains unknown flag '${flag}'`);
  }
  return { name: f[0], type, subtype, offset, size, encrypted, readonly, line: lineNo };
}

const isPrimary = (e: { type: number; subtype: number }) =>
  (e.type === BOOTLOADER || e.type === TABLE) && e.subtype === 0x00;

/** Offset alignment of a partition type: 64 KiB for apps, 4 KiB otherwise. */
export function partitionAlignment(type: number): number {
  return type === APP ? 0x10000 : 0x1000;
}

/**
 * Parses a partitions.csv with gen_esp32part.py's rules and (unless
 * `verify: false`) its checks. Every error is a {@link PartitionError} whose
 * message starts with the CSV line number when it is about one line.
 */
export function parsePartitionCsv(text: string, options: ParseCsvOptions = {}): PartitionEntry[] {
  const tableOffset = options.offset ?? PARTITION_TABLE_OFFSET;
  const env = options.env ?? {};
  const drafts: Draft[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r\n|\r|\n/);
  if (lines.at(-1) === "") lines.pop();
  lines.forEach((raw, i) => {
    const line = expand(raw, env, i + 1).trim();
    if (line.startsWith("#") || line.length === 0) return;
    drafts.push(parseLine(line, i + 1, options, tableOffset));
  });

  // Assign missing offsets in order, as gen_esp32part does.
  let lastEnd = tableOffset + PARTITION_TABLE_SIZE;
  drafts.forEach((e, i) => {
    if (isPrimary(e)) return;
    if (e.offset !== undefined && e.offset < lastEnd) {
      throw new PartitionError(
        "OVERLAP",
        i === 0
          ? `Partitions overlap. Partition sets offset ${hex(e.offset)}. But partition table ` +
            `occupies the whole sector ${hex(tableOffset)}. Use a free offset ${
              hex(lastEnd)
            } or higher.`
          : `Partitions overlap. Partition sets offset ${hex(e.offset)}. ` +
            `Previous partition ends ${hex(lastEnd)}`,
        e.line,
      );
    }
    if (e.offset === undefined) {
      const align = partitionAlignment(e.type);
      if (lastEnd % align !== 0) lastEnd += align - (lastEnd % align);
      e.offset = lastEnd;
    }
    if (e.size < 0) e.size = -e.size - e.offset;
    lastEnd = e.offset + e.size;
  });
  const entries = drafts.map((d) => ({ ...d, offset: d.offset! }));
  if (options.verify ?? true) {
    verifyPartitions(entries, { offset: tableOffset, secure: options.secure });
  }
  return entries;
}

/**
 * gen_esp32part.py's table checks: offset alignment, app size alignment,
 * read-only rules, NVS size, unique names, no overlaps, nothing below the
 * table's sector, at most one otadata (and TEE otadata) of 0x2000 bytes.
 */
export function verifyPartitions(
  entries: readonly PartitionEntry[],
  options: { offset?: number; secure?: "v1" | "v2" } = {},
): void {
  for (const p of entries) {
    const bad = (msg: string) =>
      new PartitionError("INVALID_PARTITION", `Partition ${p.name} invalid: ${msg}`, p.line);
    const align = partitionAlignment(p.type);
    if (p.offset % align) throw bad(`Offset ${hex(p.offset)} is not aligned to ${hex(align)}`);
    if (p.type === APP) {
      const sizeAlign = options.secure === "v1" ? 0x10000 : 0x1000;
      if (p.size % sizeAlign) throw bad(`Size ${hex(p.size)} is not aligned to ${hex(sizeAlign)}`);
    }
    if (p.type === DATA && (p.subtype === 0x00 || p.subtype === 0x03) && p.readonly) {
      throw bad(
        `'${p.name}' partition of type ${p.type} and subtype ${p.subtype} is always ` +
          "read-write and cannot be read-only",
      );
    }
    if (p.type === DATA && p.subtype === 0x02 && p.size < 0x3000 && !p.readonly) {
      throw bad(
        `'${p.name}' partition of type ${p.type} and subtype ${p.subtype} of this size ` +
          `(${hex(p.size)}) must be flagged as 'readonly' (the size of read/write NVS has to be ` +
          "at least 0x3000)",
      );
    }
  }
  const seen = new Set<string>();
  for (const p of entries) {
    if (seen.has(p.name)) {
      throw new PartitionError("DUPLICATE", `Partition names must be unique: '${p.name}'`, p.line);
    }
    seen.add(p.name);
  }
  const tableOffset = options.offset ?? PARTITION_TABLE_OFFSET;
  let last: PartitionEntry | undefined;
  for (const p of [...entries].sort((a, b) => a.offset - b.offset)) {
    if (p.offset < tableOffset + PARTITION_TABLE_SIZE && !isPrimary(p)) {
      throw new PartitionError(
        "OVERLAP",
        `Partition offset ${hex(p.offset)} is below ${hex(tableOffset + PARTITION_TABLE_SIZE)}`,
        p.line,
      );
    }
    if (last && p.offset < last.offset + last.size) {
      throw new PartitionError(
        "OVERLAP",
        `Partition at ${hex(p.offset)} overlaps ${hex(last.offset)}-${
          hex(last.offset + last.size - 1)
        }`,
        p.line,
      );
    }
    last = p;
  }
  const otadata = [[0x00, "otadata", "0"], [0x90, "TEE otadata", "0x90"]] as const;
  for (const [subtype, what, number] of otadata) {
    const found = entries.filter((p) => p.type === DATA && p.subtype === subtype);
    if (found.length > 1) {
      throw new PartitionError(
        "DUPLICATE",
        `Found multiple ${what} partitions. Only one partition can be defined with ` +
          `type="data"(1) and subtype="${subtypeName(DATA, subtype)}"(${number}).`,
        found[1].line,
      );
    }
    if (found.length === 1 && found[0].size !== 0x2000) {
      throw new PartitionError(
        "INVALID_PARTITION",
        `${what} partition must have size = 0x2000`,
        found[0].line,
      );
    }
  }
}

/** Writes entries as CSV the way gen_esp32part.py's to_csv does (sizes as K/M when exact). */
export function formatPartitionCsv(entries: readonly PartitionEntry[]): string {
  const size = (a: number) =>
    a % 0x100000 === 0 ? `${a / 0x100000}M` : a % 0x400 === 0 ? `${a / 0x400}K` : hex(a);
  const rows = ["# ESP-IDF Partition Table", "# Name, Type, SubType, Offset, Size, Flags"];
  for (const e of entries) {
    const flags = [e.encrypted ? "encrypted" : "", e.readonly ? "readonly" : ""].filter(Boolean);
    rows.push(
      [
        e.name,
        typeName(e.type),
        subtypeName(e.type, e.subtype),
        hex(e.offset),
        size(e.size),
        flags.join(":"),
      ].join(","),
    );
  }
  return rows.join("\n") + "\n";
}

/** The entry whose range holds `offset`, if any. */
export function partitionAt(
  entries: readonly PartitionEntry[],
  offset: number,
): PartitionEntry | undefined {
  return entries.find((e) => e.offset <= offset && offset < e.offset + e.size);
}

/**
 * The app partition ESP-IDF's bootloader (and PlatformIO's uploader) treat
 * as the first app: the factory partition, else ota_0, else the first app.
 */
export function firstAppPartition(entries: readonly PartitionEntry[]): PartitionEntry | undefined {
  const apps = entries.filter((e) => e.type === APP);
  return apps.find((e) => e.subtype === 0x00) ?? apps.find((e) => e.subtype === 0x10) ?? apps[0];
}

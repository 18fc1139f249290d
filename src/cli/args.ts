/**
 * Parsing of command-line values: addresses, sizes, baud rates, chip names.
 * Each parser throws a UsageError whose message names the bad value.
 * @module
 */

import { CHIP_NAMES, type ChipName, normalizeChipName } from "../chips/chips.ts";
import { EspdeltaError } from "../protocol/errors.ts";

/** The command line itself is wrong (exit code 2). */
export class UsageError extends EspdeltaError {
  /** With a one-line message saying what is wrong and how to fix it. */
  constructor(message: string) {
    super("USAGE", message);
  }
}

/** Parses `0x1000`, `4096`, `64k`, `4M`, `4MB` into a number of bytes. */
export function parseSize(text: string, what = "value"): number {
  const m = /^(0x[0-9a-f]+|\d+)\s*(k|kb|m|mb)?$/i.exec(text.trim());
  if (!m) {
    throw new UsageError(`invalid ${what} '${text}': use a number like 0x1000, 4096, 64K or 4MB`);
  }
  const base = m[1].toLowerCase().startsWith("0x") ? parseInt(m[1], 16) : parseInt(m[1], 10);
  const unit = (m[2] ?? "").toLowerCase();
  const mult = unit.startsWith("k") ? 1024 : unit.startsWith("m") ? 1024 * 1024 : 1;
  const v = base * mult;
  if (!Number.isSafeInteger(v)) throw new UsageError(`invalid ${what} '${text}': too large`);
  return v;
}

/** Parses a flash address (hex or decimal). */
export function parseAddress(text: string): number {
  const v = parseSize(text, "address");
  if (v > 0xffffffff) throw new UsageError(`invalid address '${text}': beyond 32 bits`);
  return v;
}

/** Parses a baud rate. */
export function parseBaud(text: string): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 300 || v > 20_000_000) {
    throw new UsageError(`invalid baud rate '${text}': use a number such as 115200 or 921600`);
  }
  return v;
}

/**
 * Parses espdelta's `-b`: a baud rate, or `auto` (the fastest rate the chip
 * and its USB bridge carry, checked; src/loader/link_speed.ts).
 */
export function parseBaudOrAuto(text: string): number | "auto" {
  if (text.trim().toLowerCase() === "auto") return "auto";
  try {
    return parseBaud(text);
  } catch {
    throw new UsageError(
      `invalid baud rate '${text}': use auto, or a number such as 115200 or 921600`,
    );
  }
}

/** Parses a chip name, accepting `auto`. */
export function parseChip(text: string): ChipName | "auto" {
  if (text.toLowerCase() === "auto") return "auto";
  const c = normalizeChipName(text);
  if (!c) {
    throw new UsageError(`unknown chip '${text}': choose one of auto, ${CHIP_NAMES.join(", ")}`);
  }
  return c;
}

/** Parses a positive integer option. */
export function parseCount(text: string, what: string): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1) {
    throw new UsageError(`invalid ${what} '${text}': use a whole number >= 1`);
  }
  return v;
}

/** Pairs of `ADDR FILE` arguments. */
export function parsePairs(args: string[]): { offset: number; file: string }[] {
  if (args.length === 0 || args.length % 2 !== 0) {
    throw new UsageError(
      "expected ADDRESS FILE pairs, e.g. 0x1000 bootloader.bin 0x8000 partitions.bin 0x10000 app.bin",
    );
  }
  const out: { offset: number; file: string }[] = [];
  for (let i = 0; i < args.length; i += 2) {
    out.push({ offset: parseAddress(args[i]), file: args[i + 1] });
  }
  return out;
}

/**
 * Parses a 32-bit number as esptool's `AnyIntType` does (Python's
 * `int(text, 0)`): `0x1f`, `0o17`, `0b101` or decimal.
 */
export function parseU32(text: string, what = "value"): number {
  const t = text.trim().replaceAll("_", "");
  const m = /^(0x[0-9a-f]+|0o[0-7]+|0b[01]+|0|[1-9]\d*)$/i.exec(t);
  if (!m) {
    throw new UsageError(`invalid ${what} '${text}': use a number like 0x3ff5a004 or 4096`);
  }
  const v = /^0[xob]/i.test(t) ? Number(t.toLowerCase()) : Number(t);
  if (!Number.isSafeInteger(v) || v > 0xffffffff) {
    throw new UsageError(`invalid ${what} '${text}': beyond 32 bits`);
  }
  return v;
}

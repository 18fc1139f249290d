/**
 * Names the code addresses in a line of monitor output, as ESP-IDF's monitor
 * does with addr2line: every 8-digit hex word that falls in an executable
 * section of the app's ELF file (an Xtensa `Backtrace: 0x400d1234:0x3ffb1230
 * ...`, a `PC      : 0x400d1234`, a RISC-V `MEPC    : 0x42000abc  RA      :
 * 0x42000a10`) becomes `0x400d1234: app_main at /src/main.c:42`. Stack
 * pointers and data addresses fall outside code and are left alone.
 *
 * @example
 * ```ts
 * import { parseElf } from "../image/elf.ts";
 * import { decodeAddresses } from "./decode.ts";
 * import assert from "node:assert/strict";
 *
 * const elf = parseElf(Deno.readFileSync("testdata/firmware/elf/esp32-zephyr.elf"));
 * assert.deepEqual(decodeAddresses("Backtrace: 0x400811a4:0x3ffb0f20", elf), [
 *   "0x400811a4: cbvprintf at /home/esteban/Dev/zephyr/zephyr/lib/os/cbprintf_complete.c:1556",
 * ]);
 * ```
 * @module
 */

import type { AddressInfo, Elf } from "../image/elf.ts";

/** One line per code address in `line`, in order of appearance, each address once. */
export function decodeAddresses(line: string, elf: Elf): string[] {
  const seen = new Set<number>();
  const out: string[] = [];
  for (const m of line.matchAll(/0x([0-9a-fA-F]{8})\b/g)) {
    const address = parseInt(m[1], 16);
    if (seen.has(address) || !elf.isCode(address)) continue;
    seen.add(address);
    out.push(formatAddress(elf.lookup(address)));
  }
  return out;
}

/** `0x400d1234: app_main at /src/main.c:42`, or `...: wdt_feed+0x8` without line info. */
export function formatAddress(info: AddressInfo): string {
  const at = `0x${info.address.toString(16).padStart(8, "0")}`;
  const fn = info.symbol ?? "??";
  if (info.source) return `${at}: ${fn} at ${info.source.file}:${info.source.line}`;
  const off = info.offset ? `+0x${info.offset.toString(16)}` : "";
  return `${at}: ${fn}${info.symbol ? off : ""}`;
}

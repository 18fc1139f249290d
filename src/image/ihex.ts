/**
 * Intel HEX, the sparse text format `esptool merge-bin --format hex` writes
 * (through Python's intelhex package) and `write-flash` accepts: data records
 * of at most 16 bytes that never cross a 64 KiB boundary or a gap, an
 * extended linear address record (type 04) before each 64 KiB page when any
 * address is above 0xFFFF, and the end-of-file record. Upper-case hex, one
 * record per line. Gaps stay gaps: nothing is padded with 0xFF.
 *
 * @example
 * ```ts
 * import { parseIntelHex, writeIntelHex } from "./ihex.ts";
 * import assert from "node:assert/strict";
 *
 * const hex = writeIntelHex([{ address: 0x1000, data: new Uint8Array([0xe9, 0x03]) }]);
 * assert.equal(hex, ":02100000E90302\n:00000001FF\n");
 * assert.deepEqual(parseIntelHex(hex), [{ address: 0x1000, data: new Uint8Array([0xe9, 0x03]) }]);
 * ```
 * @module
 */

import { ImageError } from "./errors.ts";

/** Bytes at an address. */
export interface HexChunk {
  /** Flash address of the first byte. */
  address: number;
  /** The bytes. */
  data: Uint8Array;
}

const RECORD_BYTES = 16;

function record(type: number, address: number, data: Uint8Array | number[]): string {
  const bytes = [data.length, (address >> 8) & 0xff, address & 0xff, type, ...data];
  const sum = bytes.reduce((a, b) => a + b, 0);
  bytes.push((0x100 - (sum & 0xff)) & 0xff);
  return ":" + bytes.map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join("") + "\n";
}

/** Writes `chunks` (non-overlapping) as Intel HEX text. */
export function writeIntelHex(chunks: readonly HexChunk[]): string {
  const sorted = [...chunks].filter((c) => c.data.length > 0).sort((a, b) => a.address - b.address);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (prev.address + prev.data.length > sorted[i].address) {
      throw new ImageError(
        "OVERLAP",
        `Intel HEX: data at 0x${sorted[i].address.toString(16)} overlaps the data before it`,
      );
    }
  }
  const last = sorted.at(-1);
  const maxAddress = last ? last.address + last.data.length - 1 : 0;
  if (maxAddress > 0xffffffff) throw new ImageError("BAD_OFFSET", "Intel HEX: address above 4 GiB");
  const linear = maxAddress > 0xffff;
  let out = "";
  let page = -1;
  for (const chunk of sorted) {
    let at = 0;
    while (at < chunk.data.length) {
      const address = chunk.address + at;
      const high = Math.floor(address / 0x10000);
      if (linear && high !== page) {
        out += record(4, 0, [(high >> 8) & 0xff, high & 0xff]);
        page = high;
      }
      const low = address & 0xffff;
      const n = Math.min(RECORD_BYTES, 0x10000 - low, chunk.data.length - at);
      out += record(0, low, chunk.data.subarray(at, at + n));
      at += n;
    }
  }
  return out + ":00000001FF\n";
}

/** Reads Intel HEX text into contiguous chunks, sorted by address. */
export function parseIntelHex(text: string, name = "Intel HEX file"): HexChunk[] {
  const pieces: HexChunk[] = [];
  let base = 0;
  let ended = false;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === "") continue;
    const where = `${name} line ${n + 1}`;
    if (ended) throw new ImageError("BAD_SPEC", `${where}: data after the end-of-file record`);
    if (!/^:([0-9A-Fa-f]{2})+$/.test(line) || line.length < 11) {
      throw new ImageError("BAD_SPEC", `${where}: not an Intel HEX record`);
    }
    const b = Uint8Array.from(
      { length: (line.length - 1) / 2 },
      (_, i) => parseInt(line.slice(1 + 2 * i, 3 + 2 * i), 16),
    );
    if (b.length !== b[0] + 5) {
      throw new ImageError("BAD_SPEC", `${where}: the record's length byte says ${b[0]} bytes`);
    }
    if ((b.reduce((a, x) => a + x, 0) & 0xff) !== 0) {
      throw new ImageError("BAD_CHECKSUM", `${where}: checksum mismatch`);
    }
    const type = b[3];
    const offset = (b[1] << 8) | b[2];
    const data = b.subarray(4, 4 + b[0]);
    if (type === 0) pieces.push({ address: base + offset, data });
    else if (type === 1) ended = true;
    else if (type === 2) base = ((data[0] << 8) | data[1]) * 16;
    else if (type === 4) base = ((data[0] << 8) | data[1]) * 0x10000;
    else if (type !== 3 && type !== 5) {
      throw new ImageError("BAD_SPEC", `${where}: unknown record type ${type}`);
    }
  }
  if (!ended) throw new ImageError("TRUNCATED", `${name} has no end-of-file record`);
  pieces.sort((a, b) => a.address - b.address);
  // Join records that follow each other into runs.
  const chunks: HexChunk[] = [];
  let run: HexChunk[] = [];
  const flush = () => {
    if (run.length === 0) return;
    const size = run.reduce((a, p) => a + p.data.length, 0);
    const data = new Uint8Array(size);
    let at = 0;
    for (const p of run) {
      data.set(p.data, at);
      at += p.data.length;
    }
    chunks.push({ address: run[0].address, data });
    run = [];
  };
  for (const p of pieces) {
    const prev = run.at(-1);
    if (prev && p.address < prev.address + prev.data.length) {
      throw new ImageError(
        "OVERLAP",
        `${name}: two records both hold address 0x${p.address.toString(16)}`,
      );
    }
    if (prev && p.address !== prev.address + prev.data.length) flush();
    run.push(p);
  }
  flush();
  return chunks;
}

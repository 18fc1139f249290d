/**
 * The cost model: how long a device operation takes, from a handful of
 * explicit parameters. The planner uses it to decide how deep to probe and
 * whether to merge nearby dirty sectors; the plan reports its estimates.
 *
 * Every figure is a parameter with a default and a reason, so a bench or a
 * user with a slow USB bridge can change it.
 * @module
 */

import { Sizes } from "../protocol/opcodes.ts";

/** Parameters of the cost model. Times in milliseconds, rates in bytes per second. */
export interface CostParams {
  /** UART baud rate; 10 bits per byte on the wire (8N1). */
  baud: number;
  /**
   * Round-trip latency per command beyond wire time: USB frame scheduling
   * (about 1 ms each way on CP210x/CH340, 16 ms latency timer on FTDI by
   * default) plus the device's turnaround.
   */
  latencyMs: number;
  /** True when the flasher stub runs (16 KiB blocks, overlapped writes, fast MD5). */
  stub: boolean;
  /** Device MD5 throughput over flash contents. */
  md5BytesPerSec: number;
  /** 4 KiB sector erase, typical (W25Q32JV: 45 ms). */
  sectorEraseMs: number;
  /** 64 KiB block erase, typical (W25Q32JV: 150 ms). */
  blockEraseMs: number;
  /** 256-byte page program, typical (W25Q32JV: 0.4 ms). */
  pageProgramMs: number;
}

/**
 * Defaults. The MD5 rates are conservative figures for the ROM (computing in
 * ROM code at the boot clock) and the stub (running at full CPU clock); a
 * bench can override them with measured values.
 */
export const DEFAULT_COST: Readonly<Omit<CostParams, "baud" | "stub">> = {
  latencyMs: 2,
  md5BytesPerSec: 1_000_000,
  sectorEraseMs: 45,
  blockEraseMs: 150,
  pageProgramMs: 0.4,
};

/** Device MD5 rate with the stub when not given. */
export const STUB_MD5_BYTES_PER_SEC = 4_000_000;

/** Builds the full parameter set for a session. */
export function costParams(
  baud: number,
  stub: boolean,
  overrides: Partial<CostParams> = {},
): CostParams {
  return {
    ...DEFAULT_COST,
    md5BytesPerSec: stub ? STUB_MD5_BYTES_PER_SEC : DEFAULT_COST.md5BytesPerSec,
    baud,
    stub,
    ...overrides,
  };
}

/** Bytes a command of `dataBytes` payload costs on the wire, both ways, with SLIP. */
const COMMAND_OVERHEAD = 8 + 2; // header + delimiters
const REPLY_BYTES = 8 + 4 + 2; // header + status + delimiters

/** Milliseconds to move `bytes` over the wire at the configured baud. */
export function wireMs(p: CostParams, bytes: number): number {
  return bytes * 10 * 1000 / p.baud;
}

/** One command round trip carrying `payload` bytes and a short reply. */
export function commandMs(p: CostParams, payload: number, replyData = 0): number {
  return p.latencyMs + wireMs(p, COMMAND_OVERHEAD + payload + REPLY_BYTES + replyData);
}

/** Cost of asking the device for the MD5 of `bytes` of flash. */
export function md5Ms(p: CostParams, bytes: number): number {
  return commandMs(p, 16, p.stub ? 16 : 32) + bytes * 1000 / p.md5BytesPerSec;
}

/**
 * Erase time for `sectors` consecutive sectors starting at sector `first`:
 * whole aligned 64 KiB blocks use block erase, the rest sector erase, as the
 * stub and the ROM's erase routine both do.
 */
export function eraseMs(p: CostParams, first: number, sectors: number): number {
  const per = Sizes.BLOCK / Sizes.SECTOR;
  const lead = Math.min(sectors, (per - (first % per)) % per);
  const blocks = Math.floor((sectors - lead) / per);
  const trail = sectors - lead - blocks * per;
  return (lead + trail) * p.sectorEraseMs + blocks * p.blockEraseMs;
}

/** Page program time for `bytes` (rounded up to pages). */
export function programMs(p: CostParams, bytes: number): number {
  return Math.ceil(bytes / Sizes.PAGE) * p.pageProgramMs;
}

/** Estimate of one write range. */
export interface WriteCost {
  /** Total milliseconds. */
  ms: number;
  /** Bytes sent host to device, framing included. */
  wireBytes: number;
  /** Commands sent. */
  roundTrips: number;
}

/**
 * Cost of writing `bytes` (which deflate to `compressedBytes`) at sector
 * `firstSector` in one BEGIN ... END.
 *
 * With the ROM, FLASH_BEGIN erases the whole range before it replies, and
 * each block is written before its reply. The stub acknowledges a block when
 * its command loop takes it and erases and programs it while the next one
 * arrives, so wire and flash overlap one block deep: the first block's wire
 * time is spent before any flash work can start, and the last block's flash
 * work after the last block left the wire (FLASH_END waits for it). In
 * between, whichever is slower sets the pace:
 * `begin + max(wire + last block's flash, first block's wire + flash) + end`.
 * So inside a long write a sector that is left out saves its wire time when
 * the wire is the slower, not a stand-alone erase and program; and a split
 * costs a BEGIN, an END and that drain and fill.
 */
export function writeCost(
  p: CostParams,
  firstSector: number,
  bytes: number,
  compressedBytes: number,
): WriteCost {
  const block = p.stub ? Sizes.STUB_FLASH_BLOCK : Sizes.ROM_FLASH_BLOCK;
  const payload = Math.min(bytes, compressedBytes);
  const blocks = Math.max(1, Math.ceil(payload / block));
  const sectors = Math.ceil(bytes / Sizes.SECTOR);
  // Framing: 8-byte header, 16-byte data header, delimiters, ~0.8 % escapes.
  const wireBytes = Math.ceil(payload * 1.008) + blocks * (8 + 16 + 2) + (8 + 20 + 2);
  const transfer = wireMs(p, wireBytes + blocks * REPLY_BYTES) + blocks * p.latencyMs;
  const erase = eraseMs(p, firstSector, sectors);
  const program = programMs(p, bytes);
  const begin = p.latencyMs + wireMs(p, REPLY_BYTES);
  if (!p.stub) {
    return { ms: begin + erase + transfer + program, wireBytes, roundTrips: blocks + 1 };
  }
  const flash = erase + program;
  const ms = begin + Math.max(transfer + flash / blocks, transfer / blocks + flash) +
    commandMs(p, 4);
  return { ms, wireBytes, roundTrips: blocks + 2 };
}

/**
 * Command and response packets (the bytes inside one SLIP frame).
 *
 * Command:  00 | op | size u16 | checksum u32 | data
 * Response: 01 | op | size u16 | value u32    | data... status
 * @module
 */

import { readU16, readU32, writeU32 } from "./bytes.ts";
import { DeviceError, ProtocolError } from "./errors.ts";

/** Seed of the XOR checksum. */
export const CHECKSUM_SEED = 0xef;

/**
 * The 8-bit XOR checksum of the data carried by *_DATA commands.
 *
 * @example
 * ```ts
 * import { checksum } from "./packet.ts";
 * import assert from "node:assert";
 * assert.strictEqual(checksum(new Uint8Array([0x12, 0x34, 0x56, 0x78])), 0xe7);
 * assert.strictEqual(checksum(new Uint8Array()), 0xef);
 * ```
 */
export function checksum(data: Uint8Array, seed = CHECKSUM_SEED): number {
  let c = seed;
  for (let i = 0; i < data.length; i++) c ^= data[i];
  return c;
}

/** Direction byte of a command (host to device) and of a response. */
const COMMAND = 0x00;
const RESPONSE = 0x01;

/** The one packet layout both directions share: direction, op, size u16, a u32, data. */
function encodePacket(direction: number, op: number, word: number, data: Uint8Array): Uint8Array {
  const p = new Uint8Array(8 + data.length);
  p[0] = direction;
  p[1] = op;
  p[2] = data.length & 0xff;
  p[3] = (data.length >> 8) & 0xff;
  writeU32(p, 4, word);
  p.set(data, 8);
  return p;
}

/** The fields of a packet going `direction`, or null when it is not one (too short, other way). */
function decodePacket(
  packet: Uint8Array,
  direction: number,
): { op: number; size: number; word: number; rest: Uint8Array } | null {
  if (packet.length < 8 || packet[0] !== direction) return null;
  return {
    op: packet[1],
    size: readU16(packet, 2),
    word: readU32(packet, 4),
    rest: packet.subarray(8),
  };
}

/** Builds a command packet. `check` is only meaningful for *_DATA commands. */
export function encodeCommand(op: number, data: Uint8Array, check = 0): Uint8Array {
  if (data.length > 0xffff) throw new RangeError(`command data too long: ${data.length}`);
  return encodePacket(COMMAND, op, check, data);
}

/** A decoded command packet (what a device receives). */
export interface Command {
  /** Opcode. */
  op: number;
  /** The size field as sent. */
  size: number;
  /** Checksum field (meaningful for *_DATA only). */
  checksum: number;
  /** The payload after the 8-byte header. */
  data: Uint8Array;
}

/** Decodes a command packet; returns null when it is not one (too short, wrong direction). */
export function decodeCommand(packet: Uint8Array): Command | null {
  const p = decodePacket(packet, COMMAND);
  return p && { op: p.op, size: p.size, checksum: p.word, data: p.rest };
}

/** The payload of MEM_DATA / FLASH_DATA / FLASH_DEFL_DATA: length, seq, 0, 0, block. */
export function encodeDataPayload(seq: number, block: Uint8Array): Uint8Array {
  const p = new Uint8Array(16 + block.length);
  writeU32(p, 0, block.length);
  writeU32(p, 4, seq);
  p.set(block, 16);
  return p;
}

/** Builds a response packet (what a device sends). */
export function encodeResponse(op: number, value: number, data: Uint8Array): Uint8Array {
  return encodePacket(RESPONSE, op, value, data);
}

/** A decoded response packet. */
export interface Response {
  /** Opcode echoed from the command. */
  op: number;
  /** The size field as sent; not to be trusted (implementations disagree). */
  size: number;
  /** READ_REG result; meaningless for other commands. */
  value: number;
  /** Everything after the 8-byte header: response data, then status bytes. */
  body: Uint8Array;
}

/** Decodes a response packet; returns null for frames that are not responses. */
export function decodeResponse(packet: Uint8Array): Response | null {
  const p = decodePacket(packet, RESPONSE);
  return p && { op: p.op, size: p.size, value: p.word, body: p.rest };
}

/**
 * Checks the status bytes that follow `dataLength` bytes of response data and
 * returns that data. Status is found by position, never from the size field:
 * that is how esptool reads ROMs and both stub generations alike.
 * Throws {@link DeviceError} on a failure status.
 */
export function checkStatus(resp: Response, dataLength: number): Uint8Array {
  const body = resp.body;
  if (body.length < dataLength + 2) {
    throw new ProtocolError(
      `reply to opcode 0x${
        resp.op.toString(16)
      } too short: ${body.length} bytes after the header, ` +
        `expected ${dataLength} data + 2 status`,
    );
  }
  const s0 = body[dataLength];
  if (s0 !== 0) throw new DeviceError(resp.op, (s0 << 8) | body[dataLength + 1]);
  return body.subarray(0, dataLength);
}

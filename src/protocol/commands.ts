/**
 * One encoder per command the client sends, and a decoder for each reply
 * that carries a body: every payload layout of the ROM loader and the flasher
 * stub is written here once, by name, as esptool's `flash_begin` and
 * espflash's `command.rs` do. An encoder returns a {@link CommandRequest}:
 * the opcode, the payload, the checksum field and how many data bytes the
 * reply carries before its status bytes.
 * @module
 */

import { readU32, toHex, words } from "./bytes.ts";
import { Op, Sizes, SYNC_PAYLOAD } from "./opcodes.ts";
import { checksum, encodeDataPayload } from "./packet.ts";

/** A command ready to send, with what its reply is expected to carry. */
export interface CommandRequest {
  /** Opcode. */
  op: number;
  /** Payload after the 8-byte header. */
  data: Uint8Array;
  /** Checksum field: the XOR checksum of the block for *_DATA commands, else 0. */
  check: number;
  /** Bytes of data the reply carries before its status bytes. */
  replyData: number;
}

/** Which loader a command goes to, where the two take different payloads or replies. */
export type LoaderKind = "rom" | "stub";

/** Packets of a streamed READ_FLASH (stub): one sector each. */
export const READ_FLASH_PACKET = 0x1000;
/** Packets the stub may send ahead of the host's acknowledgements. */
export const READ_FLASH_IN_FLIGHT = 64;

const request = (op: number, data: Uint8Array, replyData = 0, check = 0): CommandRequest => ({
  op,
  data,
  check,
  replyData,
});

/**
 * SYNC: the fixed 36-byte pattern the ROM's baud detection locks onto.
 *
 * @example
 * ```ts
 * import { sync } from "./commands.ts";
 * import assert from "node:assert";
 * const r = sync();
 * assert.deepStrictEqual([r.op, r.data.length, r.data[0], r.data[35]], [0x08, 36, 0x07, 0x55]);
 * ```
 */
export function sync(): CommandRequest {
  return request(Op.SYNC, SYNC_PAYLOAD);
}

/** READ_REG: the value comes back in the reply's value field. */
export function readReg(addr: number): CommandRequest {
  return request(Op.READ_REG, words(addr));
}

/** WRITE_REG: address, value, mask of the bits to change, and a delay after the write. */
export function writeReg(
  addr: number,
  value: number,
  mask = 0xffffffff,
  delayUs = 0,
): CommandRequest {
  return request(Op.WRITE_REG, words(addr, value, mask, delayUs));
}

/**
 * The parameters of a FLASH_BEGIN, FLASH_DEFL_BEGIN or MEM_BEGIN, which share
 * one layout: size, number of blocks, block size, offset (address for RAM).
 */
export interface BeginParams {
  /** Bytes to erase (FLASH_BEGIN), uncompressed bytes (FLASH_DEFL_BEGIN) or RAM bytes. */
  size: number;
  /** Data blocks that will follow. */
  blocks: number;
  /** Bytes per data block. */
  blockSize: number;
  /** Flash offset, or the RAM load address. */
  offset: number;
}

/**
 * FLASH_BEGIN, or FLASH_DEFL_BEGIN with `compressed`. The fifth word routes
 * the data through the flash-encryption engine (1) or not (0). It is sent
 * when `encryptedWord` says the loader expects it (the ROMs after the
 * ESP32, always) or when `encrypted` (the stub takes it then, v1.10 on);
 * otherwise the payload has four words (the ESP8266 and ESP32 ROMs, and the
 * stub when not encrypting), as esptool's single `flash_begin` decides.
 *
 * @example
 * ```ts
 * import { flashBegin } from "./commands.ts";
 * import { words } from "./bytes.ts";
 * import assert from "node:assert";
 * const p = { size: 0x2000, blocks: 8, blockSize: 0x400, offset: 0x10000 };
 * assert.strictEqual(flashBegin(p).op, 0x02);
 * assert.deepStrictEqual(flashBegin(p).data, words(0x2000, 8, 0x400, 0x10000));
 * const rom = flashBegin({ ...p, compressed: true, encryptedWord: true });
 * assert.strictEqual(rom.op, 0x10);
 * assert.deepStrictEqual(rom.data, words(0x2000, 8, 0x400, 0x10000, 0));
 * const stub = flashBegin({ ...p, encrypted: true });
 * assert.deepStrictEqual(stub.data, words(0x2000, 8, 0x400, 0x10000, 1));
 * ```
 */
export function flashBegin(
  params: BeginParams & { compressed?: boolean; encrypted?: boolean; encryptedWord?: boolean },
): CommandRequest {
  const { size, blocks, blockSize, offset } = params;
  const data = params.encryptedWord || params.encrypted
    ? words(size, blocks, blockSize, offset, params.encrypted ? 1 : 0)
    : words(size, blocks, blockSize, offset);
  return request(params.compressed ? Op.FLASH_DEFL_BEGIN : Op.FLASH_BEGIN, data);
}

/**
 * FLASH_DATA, or FLASH_DEFL_DATA with `compressed`: one numbered block,
 * its XOR checksum in the header.
 *
 * @example
 * ```ts
 * import { flashData } from "./commands.ts";
 * import assert from "node:assert";
 * const r = flashData(3, new Uint8Array([0x12, 0x34, 0x56, 0x78]));
 * assert.deepStrictEqual([r.op, r.check, r.data.length, r.data[4]], [0x03, 0xe7, 20, 3]);
 * ```
 */
export function flashData(seq: number, block: Uint8Array, compressed = false): CommandRequest {
  const op = compressed ? Op.FLASH_DEFL_DATA : Op.FLASH_DATA;
  return request(op, encodeDataPayload(seq, block), 0, checksum(block));
}

/**
 * FLASH_END, or FLASH_DEFL_END with `compressed`. The word is 1 to stay in
 * the loader, 0 to leave it for the app (`run`).
 */
export function flashEnd(options: { compressed?: boolean; run?: boolean } = {}): CommandRequest {
  return request(options.compressed ? Op.FLASH_DEFL_END : Op.FLASH_END, words(options.run ? 0 : 1));
}

/** MEM_BEGIN: RAM bytes, blocks, block size and load address (the BEGIN layout). */
export function memBegin(params: BeginParams): CommandRequest {
  return request(
    Op.MEM_BEGIN,
    words(params.size, params.blocks, params.blockSize, params.offset),
  );
}

/** MEM_DATA: one numbered block of a RAM program, checksummed. */
export function memData(seq: number, block: Uint8Array): CommandRequest {
  return request(Op.MEM_DATA, encodeDataPayload(seq, block), 0, checksum(block));
}

/** MEM_END: jump to `entry` (a zero entry means "do not jump"). */
export function memEnd(entry: number): CommandRequest {
  return request(Op.MEM_END, words(entry === 0 ? 1 : 0, entry));
}

/**
 * SPI_ATTACH with the default pins (word 0). The ROM reads a second word
 * (`is_legacy`, 0); the stub takes the pin word alone.
 */
export function spiAttach(loader: LoaderKind): CommandRequest {
  return request(Op.SPI_ATTACH, loader === "rom" ? words(0, 0) : words(0));
}

/**
 * SPI_SET_PARAMS: flash id 0, the total size, 64 KiB blocks, 4 KiB sectors,
 * 256-byte pages and status mask 0xFFFF, as esptool sends them.
 */
export function spiSetParams(totalSize: number): CommandRequest {
  return request(
    Op.SPI_SET_PARAMS,
    words(0, totalSize, Sizes.BLOCK, Sizes.SECTOR, Sizes.PAGE, 0xffff),
  );
}

/**
 * CHANGE_BAUDRATE: the new rate, and the current one (the stub needs it to
 * rescale; a ROM is sent 0).
 */
export function changeBaudrate(baud: number, oldBaud: number): CommandRequest {
  return request(Op.CHANGE_BAUDRATE, words(baud, oldBaud));
}

/**
 * SPI_FLASH_MD5 of `size` bytes at `offset`. The ROM answers with 32 hex
 * digits, the stub with the 16 raw digest bytes: {@link decodeMd5} reads
 * both.
 *
 * @example
 * ```ts
 * import { spiFlashMd5 } from "./commands.ts";
 * import assert from "node:assert";
 * assert.deepStrictEqual(
 *   [spiFlashMd5(0x1000, 0x2000, "rom").replyData, spiFlashMd5(0x1000, 0x2000, "stub").replyData],
 *   [32, 16],
 * );
 * ```
 */
export function spiFlashMd5(offset: number, size: number, loader: LoaderKind): CommandRequest {
  return request(Op.SPI_FLASH_MD5, words(offset, size, 0, 0), loader === "rom" ? 32 : 16);
}

/**
 * The MD5 in a SPI_FLASH_MD5 reply as lower-case hex: 16 raw bytes (stub) or
 * 32 hex digits (ROM).
 *
 * @example
 * ```ts
 * import { decodeMd5 } from "./commands.ts";
 * import assert from "node:assert";
 * const raw = new Uint8Array(16).fill(0xab);
 * const text = new TextEncoder().encode("AB".repeat(16));
 * assert.strictEqual(decodeMd5(raw), "ab".repeat(16));
 * assert.strictEqual(decodeMd5(text), "ab".repeat(16));
 * ```
 */
export function decodeMd5(data: Uint8Array): string {
  return data.length === 16 ? toHex(data) : new TextDecoder().decode(data).toLowerCase();
}

/** GET_SECURITY_INFO: no payload; its reply is read by {@link decodeSecurityInfo}. */
export function getSecurityInfo(): CommandRequest {
  return request(Op.GET_SECURITY_INFO, new Uint8Array());
}

/** GET_SECURITY_INFO, decoded. */
export interface SecurityInfo {
  /** Flags word (bit 0 secure boot, bit 2 secure download mode...). */
  flags: number;
  /** FLASH_CRYPT_CNT eFuse; an odd number of set bits means encryption is on. */
  flashCryptCnt: number;
  /** Key purposes of the key blocks. */
  keyPurposes: number[];
  /** Chip id (not on ESP32-S2). */
  chipId?: number;
  /** ECO / API version (not on ESP32-S2). */
  ecoVersion?: number;
}

/** Flags bit of GET_SECURITY_INFO: secure boot is enabled. */
export const SECURITY_FLAG_SECURE_BOOT = 1 << 0;
/** Flags bit of GET_SECURITY_INFO: the ROM runs in Secure Download Mode. */
export const SECURITY_FLAG_SECURE_DOWNLOAD = 1 << 2;

/**
 * Decodes the body of a GET_SECURITY_INFO reply (everything after the 8-byte
 * header): 20 data bytes (12 on the ESP32-S2, without chip id and ECO
 * version), then 2 (stub) or 4 (ROM) status bytes. Returns null when the
 * reply is too short or its status says the loader lacks the command.
 *
 * @example
 * ```ts
 * import { decodeSecurityInfo } from "./commands.ts";
 * import assert from "node:assert";
 * const body = new Uint8Array(24);
 * body[0] = 0x05; // secure boot, Secure Download Mode
 * body[4] = 0x01; // FLASH_CRYPT_CNT
 * body[12] = 9; // chip id: ESP32-S3
 * assert.deepStrictEqual(decodeSecurityInfo(body), {
 *   flags: 5,
 *   flashCryptCnt: 1,
 *   keyPurposes: [0, 0, 0, 0, 0, 0, 0],
 *   chipId: 9,
 *   ecoVersion: 0,
 * });
 * assert.strictEqual(decodeSecurityInfo(new Uint8Array([1, 5])), null);
 * ```
 */
export function decodeSecurityInfo(body: Uint8Array): SecurityInfo | null {
  const len = body.length >= 22 ? 20 : body.length >= 14 ? 12 : 0;
  if (len === 0 || body[len] !== 0) return null;
  return {
    flags: readU32(body, 0),
    flashCryptCnt: body[4],
    keyPurposes: Array.from(body.subarray(5, 12)),
    ...(len === 20 ? { chipId: readU32(body, 12), ecoVersion: readU32(body, 16) } : {}),
  };
}

/** ERASE_FLASH (stub): the whole chip. */
export function eraseFlash(): CommandRequest {
  return request(Op.ERASE_FLASH, new Uint8Array());
}

/** ERASE_REGION (stub): whole sectors from `offset`. */
export function eraseRegion(offset: number, size: number): CommandRequest {
  return request(Op.ERASE_REGION, words(offset, size));
}

/**
 * READ_FLASH (stub): the data then streams in {@link READ_FLASH_PACKET}-byte
 * frames, each acknowledged with {@link readFlashAck}, and ends with the
 * 16-byte MD5 of all of it.
 */
export function readFlash(offset: number, size: number): CommandRequest {
  return request(Op.READ_FLASH, words(offset, size, READ_FLASH_PACKET, READ_FLASH_IN_FLIGHT));
}

/** The frame that acknowledges READ_FLASH data: the bytes received so far (not a command). */
export function readFlashAck(received: number): Uint8Array {
  return words(received);
}

/** READ_FLASH_SLOW (ROM): up to 64 bytes, returned as 64 data bytes. */
export function readFlashSlow(offset: number, length: number): CommandRequest {
  return request(Op.READ_FLASH_SLOW, words(offset, length), Sizes.READ_SLOW_CHUNK);
}

/** RUN_USER_CODE (ESP8266 stub): leave for the app; there is no reply. */
export function runUserCode(): CommandRequest {
  return request(Op.RUN_USER_CODE, new Uint8Array());
}

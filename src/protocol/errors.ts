/**
 * Typed errors. Each carries a stable `code` a program can switch on and a
 * message a person can act on.
 * @module
 */

import { opName } from "./opcodes.ts";

/** Base class of every error espdelta throws on purpose. */
export class EspdeltaError extends Error {
  /** Stable machine-readable code, e.g. `ROM_ERROR`, `TIMEOUT`. */
  readonly code: string;
  /** Creates an error with a stable code and a readable message. */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * ROM loader error numbers: the second status byte when the first is 1
 * (a DeviceError's `romError`).
 */
export const RomErrorCode = {
  UNDEFINED: 0x00,
  INPUT_INVALID: 0x01,
  MALLOC: 0x02,
  SEND_MESSAGE: 0x03,
  RECEIVE_MESSAGE: 0x04,
  INVALID_FORMAT: 0x05,
  FAILED: 0x06,
  CHECKSUM: 0x07,
  FLASH_WRITE: 0x08,
  FLASH_READ: 0x09,
  FLASH_READ_LENGTH: 0x0a,
  INFLATE: 0x0b,
  ADLER32: 0x0c,
  DEFLATE_PARAM: 0x0d,
  RAM_SIZE: 0x0e,
  RAM_ADDRESS: 0x0f,
  INVALID_PARAMETER: 0x64,
  INVALID_FORMAT_DESC: 0x65,
  DESCRIPTION_TOO_LONG: 0x66,
  BAD_ENCODING: 0x67,
  INSUFFICIENT_STORAGE: 0x69,
} as const;

/**
 * Flasher stub error numbers: the first status byte (a DeviceError's
 * `stubError`), named as in the stub's `esp_command_error`.
 */
export const StubErrorCode = {
  BAD_DATA_LEN: 0xc0,
  BAD_DATA_CHECKSUM: 0xc1,
  BAD_BLOCKSIZE: 0xc2,
  INVALID_COMMAND: 0xc3,
  FAILED_SPI_OP: 0xc4,
  FAILED_SPI_UNLOCK: 0xc5,
  NOT_IN_FLASH_MODE: 0xc6,
  INFLATE_ERROR: 0xc7,
  NOT_ENOUGH_DATA: 0xc8,
  TOO_MUCH_DATA: 0xc9,
  CMD_NOT_IMPLEMENTED: 0xff,
} as const;

/** What each ROM error number means, for messages. */
export const ROM_ERRORS: Readonly<Record<number, string>> = {
  [RomErrorCode.UNDEFINED]: "undefined error",
  [RomErrorCode.INPUT_INVALID]: "input parameter invalid",
  [RomErrorCode.MALLOC]: "malloc failed",
  [RomErrorCode.SEND_MESSAGE]: "failed to send message",
  [RomErrorCode.RECEIVE_MESSAGE]: "failed to receive message",
  [RomErrorCode.INVALID_FORMAT]: "received message has invalid format",
  [RomErrorCode.FAILED]: "message OK but the operation failed",
  [RomErrorCode.CHECKSUM]: "checksum error in data packet",
  [RomErrorCode.FLASH_WRITE]: "flash write error (read-back check failed)",
  [RomErrorCode.FLASH_READ]: "flash read error",
  [RomErrorCode.FLASH_READ_LENGTH]: "flash read length error",
  [RomErrorCode.INFLATE]: "deflate (inflate) failed",
  [RomErrorCode.ADLER32]: "deflate Adler-32 mismatch",
  [RomErrorCode.DEFLATE_PARAM]: "deflate parameter error",
  [RomErrorCode.RAM_SIZE]: "invalid RAM binary size",
  [RomErrorCode.RAM_ADDRESS]: "invalid RAM binary address",
  [RomErrorCode.INVALID_PARAMETER]: "invalid parameter",
  [RomErrorCode.INVALID_FORMAT_DESC]: "invalid format",
  [RomErrorCode.DESCRIPTION_TOO_LONG]: "description too long",
  [RomErrorCode.BAD_ENCODING]: "bad encoding description",
  [RomErrorCode.INSUFFICIENT_STORAGE]: "insufficient storage",
};

/** What each stub error number means, for messages. */
export const STUB_ERRORS: Readonly<Record<number, string>> = {
  [StubErrorCode.BAD_DATA_LEN]: "bad data length",
  [StubErrorCode.BAD_DATA_CHECKSUM]: "bad data checksum",
  [StubErrorCode.BAD_BLOCKSIZE]: "bad block size",
  [StubErrorCode.INVALID_COMMAND]: "invalid command",
  [StubErrorCode.FAILED_SPI_OP]: "SPI flash operation failed",
  [StubErrorCode.FAILED_SPI_UNLOCK]: "could not unlock flash write protection",
  [StubErrorCode.NOT_IN_FLASH_MODE]: "not in flash mode (data without begin)",
  [StubErrorCode.INFLATE_ERROR]: "inflate error",
  [StubErrorCode.NOT_ENOUGH_DATA]: "not enough data",
  [StubErrorCode.TOO_MUCH_DATA]: "too much data",
  [StubErrorCode.CMD_NOT_IMPLEMENTED]: "command not implemented",
};

/** Describes a 16-bit status as esptool reports it (`0x01xx` ROM, `0xCx00` stub). */
export function describeStatus(status: number): string {
  const hi = status >> 8;
  const lo = status & 0xff;
  if (hi === 0x01) return ROM_ERRORS[lo] ?? "unknown ROM error";
  return STUB_ERRORS[hi] ?? "unknown error";
}

/** The device answered a command with a failure status. */
export class DeviceError extends EspdeltaError {
  /** The opcode of the failed command. */
  readonly op: number;
  /** The two status bytes as one big-endian number: `0x0107`, `0xC100`. */
  readonly status: number;
  /** From the failed command's opcode and its two status bytes (big-endian). */
  constructor(op: number, status: number) {
    const code = "0x" + status.toString(16).padStart(4, "0");
    super(
      "DEVICE_ERROR",
      `${opName(op)} failed: device status ${code} (${describeStatus(status)})`,
    );
    this.op = op;
    this.status = status;
  }
  /** The ROM error number (second status byte) when the first byte is 1. */
  get romError(): number | undefined {
    return this.status >> 8 === 0x01 ? this.status & 0xff : undefined;
  }
  /** The stub error number (first status byte) when it is not a ROM failure. */
  get stubError(): number | undefined {
    return this.status >> 8 === 0x01 ? undefined : this.status >> 8;
  }
  /**
   * True when the device refused a data block for its checksum (status
   * 0x0107, ROM CHECKSUM, or 0xC100, stub BAD_DATA_CHECKSUM): the block was
   * not taken, so sending it again is safe.
   */
  get badChecksum(): boolean {
    return this.status === (0x0100 | RomErrorCode.CHECKSUM) ||
      this.status === StubErrorCode.BAD_DATA_CHECKSUM << 8;
  }
}

/**
 * The device was lost and could not be brought back (cable pulled, power
 * lost, the serial server gone, a chip that keeps resetting). What was
 * written so far stays; running the same command again re-plans and writes
 * only what is still wrong. Every way a link can die ends as this kind
 * (code `LINK_LOST`, exit code 1 in the CLI), with one line made by
 * {@link linkLostMessage}.
 */
export class LinkLostError extends EspdeltaError {
  /** With the whole one-line message (see {@link linkLostMessage}). */
  constructor(message: string, options?: ErrorOptions) {
    super("LINK_LOST", message, options);
  }
}

/**
 * The one line every lost link ends with: where, what was going on and why
 * (`detail`, in parentheses), and what to do.
 *
 * @example
 * ```ts
 * import { linkLostMessage } from "./errors.ts";
 * import assert from "node:assert";
 * assert.strictEqual(
 *   linkLostMessage("socket://127.0.0.1:5555", "during FLASH_DATA", "the connection was reset"),
 *   "lost the device on socket://127.0.0.1:5555 during FLASH_DATA (the connection was reset); " +
 *     "check the cable and power, then run the same command again: espdelta re-plans and " +
 *     "writes only what is still wrong",
 * );
 * ```
 */
export function linkLostMessage(path: string, during: string | undefined, detail: string): string {
  return `lost the device on ${path}${during ? ` ${during}` : ""} (${detail}); check the cable ` +
    "and power, then run the same command again: espdelta re-plans and writes only what is " +
    "still wrong";
}

/** No (matching) reply arrived in time. */
export class TimeoutError extends EspdeltaError {
  /** With a message saying what was awaited. */
  constructor(message: string) {
    super("TIMEOUT", message);
  }
}

/** A reply arrived but could not be understood. */
export class ProtocolError extends EspdeltaError {
  /** With a message saying what was wrong with the reply. */
  constructor(message: string) {
    super("PROTOCOL_ERROR", message);
  }
}

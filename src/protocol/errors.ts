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

/** ROM loader error codes (second status byte when the first is 1). */
export const ROM_ERRORS: Readonly<Record<number, string>> = {
  0x00: "undefined error",
  0x01: "input parameter invalid",
  0x02: "malloc failed",
  0x03: "failed to send message",
  0x04: "failed to receive message",
  0x05: "received message has invalid format",
  0x06: "message OK but the operation failed",
  0x07: "checksum error in data packet",
  0x08: "flash write error (read-back check failed)",
  0x09: "flash read error",
  0x0a: "flash read length error",
  0x0b: "deflate (inflate) failed",
  0x0c: "deflate Adler-32 mismatch",
  0x0d: "deflate parameter error",
  0x0e: "invalid RAM binary size",
  0x0f: "invalid RAM binary address",
  0x64: "invalid parameter",
  0x65: "invalid format",
  0x66: "description too long",
  0x67: "bad encoding description",
  0x69: "insufficient storage",
};

/** Flasher stub error codes (first status byte). */
export const STUB_ERRORS: Readonly<Record<number, string>> = {
  0xc0: "bad data length",
  0xc1: "bad data checksum",
  0xc2: "bad block size",
  0xc3: "invalid command",
  0xc4: "SPI flash operation failed",
  0xc5: "could not unlock flash write protection",
  0xc6: "not in flash mode (data without begin)",
  0xc7: "inflate error",
  0xc8: "not enough data",
  0xc9: "too much data",
  0xff: "command not implemented",
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

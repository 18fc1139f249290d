/**
 * Errors of the image module: firmware images, partition tables, build
 * folders, merged binaries, input files and region lists. Codes are stable;
 * messages are one line.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";

/** An error of the image module: a stable code of the subclass's own set, a one-line message. */
export class CodedError<Code extends string> extends EspdeltaError {
  /** Narrowed to the subclass's codes. */
  declare readonly code: Code;
  /** With a stable code and a one-line message. */
  constructor(code: Code, message: string) {
    super(code, message);
  }
}

/**
 * Codes of {@link ImageError}:
 * - `EMPTY`: no bytes at all.
 * - `BAD_MAGIC`: the first byte is not an image magic (0xE9, or 0xEA for ESP8266 v2).
 * - `BAD_HEADER`: a header field is out of range (hash-appended byte not 0/1).
 * - `TRUNCATED`: the file ends inside a header, a segment or before the checksum.
 * - `TOO_MANY_SEGMENTS`: more than 16 segments.
 * - `BAD_CHECKSUM`: the stored XOR checksum differs from the computed one.
 * - `BAD_SHA256`: the appended SHA-256 digest is missing or wrong.
 * - `WRONG_CHIP`: the extended header names another chip.
 * - `WRONG_REVISION`: the extended header's chip revision range excludes the chip's.
 * - `UNKNOWN_CHIP`: a chip or target name espdelta does not know.
 * - `BAD_ARGUMENT`: a flash mode, frequency or size the chip does not support.
 * - `DETECT_NEEDED`: flash size "detect" without a detected size.
 * - `OVERLAP`: merge-bin inputs share a flash sector.
 * - `BAD_OFFSET`: a merge-bin input lies before the target offset.
 * - `BAD_SPEC`: an image spec the writer cannot encode.
 */
export type ImageErrorCode =
  | "EMPTY"
  | "BAD_MAGIC"
  | "BAD_HEADER"
  | "TRUNCATED"
  | "TOO_MANY_SEGMENTS"
  | "BAD_CHECKSUM"
  | "BAD_SHA256"
  | "WRONG_CHIP"
  | "WRONG_REVISION"
  | "UNKNOWN_CHIP"
  | "BAD_ARGUMENT"
  | "DETECT_NEEDED"
  | "OVERLAP"
  | "BAD_OFFSET"
  | "BAD_SPEC";

/** A firmware image (or merge-bin input) is malformed or does not fit the request. See {@link ImageErrorCode}. */
export class ImageError extends CodedError<ImageErrorCode> {}

/**
 * Codes of {@link PartitionError}:
 * - `BAD_TABLE`: the binary table is malformed (length, magic, missing rows).
 * - `BAD_MD5`: the MD5 row does not match the entries.
 * - `CSV_SYNTAX`: a CSV field cannot be parsed.
 * - `INVALID_PARTITION`: an entry breaks an ESP-IDF rule (alignment, size, flags).
 * - `OVERLAP`: two partitions (or a partition and the table) overlap.
 * - `DUPLICATE`: duplicate names, or more than one otadata.
 * - `TOO_LARGE`: the table does not fit in 0xC00 bytes.
 */
export type PartitionErrorCode =
  | "BAD_TABLE"
  | "BAD_MD5"
  | "CSV_SYNTAX"
  | "INVALID_PARTITION"
  | "OVERLAP"
  | "DUPLICATE"
  | "TOO_LARGE";

/** A partition table (binary or CSV) breaks the ESP-IDF rules. */
export class PartitionError extends CodedError<PartitionErrorCode> {
  /** CSV line (1-based) the error is about, when there is one. */
  readonly line?: number;
  /** With a stable code, a one-line message and, for CSV, the line number. */
  constructor(code: PartitionErrorCode, message: string, line?: number) {
    super(code, line !== undefined ? `line ${line}: ${message}` : message);
    if (line !== undefined) this.line = line;
  }
}

/**
 * Codes of {@link BuildDirError}:
 * - `NOT_FOUND`: the folder or a file it names does not exist.
 * - `BAD_JSON`: flasher_args.json is not valid JSON or lacks a field.
 * - `UNKNOWN_LAYOUT`: the folder is not an ESP-IDF, PlatformIO or Arduino CLI output.
 * - `AMBIGUOUS`: several PlatformIO environments or Arduino sketches; pick one.
 * - `WRONG_CHIP`: the build is for another chip than the one asked for.
 * - `NO_CHIP`: the chip cannot be told from the files.
 */
export type BuildDirErrorCode =
  | "NOT_FOUND"
  | "BAD_JSON"
  | "UNKNOWN_LAYOUT"
  | "AMBIGUOUS"
  | "WRONG_CHIP"
  | "NO_CHIP";

/** A build folder cannot be turned into flash regions. See {@link BuildDirErrorCode}. */
export class BuildDirError extends CodedError<BuildDirErrorCode> {}

/**
 * Codes of {@link RegionError}:
 * - `UNALIGNED`: the offset is not on a 4 KiB sector boundary.
 * - `EMPTY`: the region has no bytes.
 * - `TOO_LARGE`: the region is larger than the whole flash.
 * - `PAST_END`: the region ends past the end of the flash.
 * - `OVERLAP`: two regions share bytes.
 * - `WRONG_CHIP`: the region's image is built for another chip than the device.
 * - `PARTITION_OVERFLOW`: the region is larger than the partition it starts in, or runs
 *   into a partition from outside any.
 */
export type RegionErrorCode =
  | "UNALIGNED"
  | "EMPTY"
  | "TOO_LARGE"
  | "PAST_END"
  | "OVERLAP"
  | "WRONG_CHIP"
  | "PARTITION_OVERFLOW";

/** A region that cannot be flashed as given. See {@link RegionErrorCode}. */
export class RegionError extends CodedError<RegionErrorCode> {}

/**
 * Codes of {@link InputError}:
 * - `FILE_NOT_FOUND`: a file the user named does not exist.
 * - `FILE_UNREADABLE`: it exists but cannot be read (permissions, a folder, I/O).
 * - `OUTPUT_UNWRITABLE`: an output file cannot be written (no such folder, a folder,
 *   permissions, a read-only file system).
 */
export type InputErrorCode = "FILE_NOT_FOUND" | "FILE_UNREADABLE" | "OUTPUT_UNWRITABLE";

/** A file the user named cannot be read. See {@link InputErrorCode}. */
export class InputError extends CodedError<InputErrorCode> {}

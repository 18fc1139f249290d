/**
 * Exit codes and the mapping from errors to them, shared by every command.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";
import {
  BuildDirError,
  ImageError,
  InputError,
  PartitionError,
  RegionError,
} from "../image/errors.ts";
import { UsageError } from "./args.ts";

/** Exit codes of the CLI (130: interrupted by Ctrl-C or SIGTERM, see interrupt.ts). */
export const ExitCode = { OK: 0, DEVICE: 1, USAGE: 2, VERIFY: 3, INTERRUPTED: 130 } as const;

/**
 * Codes that mean the user's input was wrong (exit 2), for errors whose
 * class does not say so: the image module's errors and UsageError map by
 * class in {@link exitCodeFor}.
 */
const USAGE_CODES = new Set([
  "USAGE", // port filters, reset sequences, socket URLs (serial/)
  "BAD_ARGUMENT_FILE", // an @FILE of esptool's command line (esptool_args.ts)
  "UNALIGNED", // a write offset (loader)
  "WRONG_CHIP", // --chip disagrees with the chip found (loader)
  "ENCRYPTED_FLASH", // the delta path on an encrypted flash (plan)
  "ENCRYPTION_OFF", // --encrypt on a chip whose flash encryption is off (plan, session)
  "FILE_NOT_FOUND", // --stub FILE
  "BAD_STUB",
  "PORT_NOT_FOUND",
  "PORT_BUSY",
  "NOT_A_PORT", // -p /dev/null, a file or a folder
  "PERMISSION_DENIED",
  "NO_PORT",
  "AMBIGUOUS_PORT",
]);

/**
 * Several boards were flashed and some failed; each said why on its own
 * line. The exit code is the largest of theirs.
 */
export class BoardsFailedError extends EspdeltaError {
  /** The largest exit code among the failed boards. */
  readonly exitCode: number;
  /** With the one-line summary and the exit code. */
  constructor(message: string, exitCode: number) {
    super("BOARDS_FAILED", message);
    this.exitCode = exitCode;
  }
}

/** Maps an error to an exit code. */
export function exitCodeFor(e: unknown): number {
  if (e instanceof BoardsFailedError) return e.exitCode;
  if (
    e instanceof ImageError || e instanceof PartitionError || e instanceof BuildDirError ||
    e instanceof RegionError || e instanceof InputError || e instanceof UsageError
  ) {
    return ExitCode.USAGE;
  }
  if (e instanceof EspdeltaError) {
    if (e.code === "VERIFY_MISMATCH") return ExitCode.VERIFY;
    if (e.code === "INTERRUPTED") return ExitCode.INTERRUPTED;
    if (USAGE_CODES.has(e.code)) return ExitCode.USAGE;
    return ExitCode.DEVICE;
  }
  return ExitCode.DEVICE;
}

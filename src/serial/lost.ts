/**
 * A port whose link died: the one error every transport raises for it, with
 * what the operating system said, so the connection above can tell a dead
 * link from a slow device and try to bring the port back
 * ({@link Port.reopen}).
 *
 * How each death surfaces, by transport:
 * - socket:// and rfc2217:// (TCP): the server closed the connection (EOF on
 *   read), reset it (ECONNRESET), or a write found it gone (EPIPE). A killed
 *   server process gives EOF or ECONNRESET first, EPIPE on a later write.
 * - a local serial device or pty (libc): a hang-up (read returns 0 and poll
 *   says POLLHUP: a USB-UART bridge unplugged on Linux, the other side of a
 *   pty closed), EIO from read, write or ioctl after it, ENXIO or ENODEV
 *   (the device is gone: macOS after an unplug, a node that lost its
 *   device).
 * @module
 */

import { LinkLostError, linkLostMessage } from "../protocol/errors.ts";

/** What the operating system said when the link died. */
export type LossKind = "EOF" | "HANGUP" | "ECONNRESET" | "EPIPE" | "EIO" | "ENXIO" | "ENODEV";

/**
 * The words for each transport's death. Whether a dying server's socket
 * gives EOF or a reset, or a dying tty a hang-up or EIO, is a race the
 * user cannot act on, so each transport has one line; the kind is kept on
 * the error (and in --trace).
 */
export const LOSS_REASONS = {
  /** socket://: EOF, ECONNRESET or EPIPE. */
  socket: "the connection was closed by the other side",
  /** rfc2217://: the same, from an RFC 2217 server (ser2net stopped, restarted, or kicked us). */
  rfc2217: "the RFC 2217 server closed the session",
  /** A local serial device or pty: a hang-up, EIO, ENXIO or ENODEV. */
  tty: "the device is gone: unplugged, or the other side of the pty closed",
} as const;

/** The port's link died; see the module doc. Thrown by read, write and the port's ioctls. */
export class PortLostError extends LinkLostError {
  /** The port, as the user named it. */
  readonly path: string;
  /** What the operating system said. */
  readonly kind: LossKind;
  /** Why, in words, for the one line ({@link LOSS_REASONS}). */
  readonly reason: string;

  /**
   * The link of `path` died as `kind` says, in the words `reason`.
   *
   * @example
   * ```ts
   * import { LOSS_REASONS, PortLostError } from "./lost.ts";
   * import assert from "node:assert";
   * const e = new PortLostError("/dev/ttyUSB0", "ENXIO", LOSS_REASONS.tty);
   * assert.strictEqual(e.code, "LINK_LOST");
   * assert.strictEqual(
   *   e.message,
   *   "lost the device on /dev/ttyUSB0 (the device is gone: unplugged, or the other side of " +
   *     "the pty closed); check the cable and power, then run the same command again: " +
   *     "espdelta re-plans and writes only what is still wrong",
   * );
   * ```
   */
  constructor(path: string, kind: LossKind, reason: string) {
    super(linkLostMessage(path, undefined, reason));
    this.path = path;
    this.kind = kind;
    this.reason = reason;
  }
}

/**
 * The loss a failed socket read or write means, or undefined when the error
 * is something else: Deno's BrokenPipe (EPIPE), ConnectionReset
 * (ECONNRESET), ConnectionAborted and NotConnected (the socket is gone).
 */
export function socketLoss(path: string, e: unknown, reason: string): PortLostError | undefined {
  if (e instanceof PortLostError) return e;
  if (e instanceof Deno.errors.BrokenPipe) return new PortLostError(path, "EPIPE", reason);
  if (
    e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.ConnectionAborted ||
    e instanceof Deno.errors.NotConnected
  ) {
    return new PortLostError(path, "ECONNRESET", reason);
  }
  return undefined;
}

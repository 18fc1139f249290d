/**
 * Local serial ports on Linux through libc: exclusive lock, raw 8N1 at any
 * baud (termios2 with BOTHER), DTR/RTS through TIOCMBIS/TIOCMBIC, and reads
 * that wait in poll with a short timeout so close() always wins.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";
import { cstr, Errno, errno, libc, strerror } from "./libc.ts";
import type { PosixSys } from "./posix_sys.ts";
import type { Port, Signals } from "./port.ts";
import { LOSS_REASONS, type LossKind, PortLostError } from "./lost.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;
const TCIFLUSH = 0;
const POLLIN = 0x1;
const POLLOUT = 0x4;
const POLLERR = 0x8;
const POLLHUP = 0x10;
const POLL_SLICE_MS = 50;

// Linux termios2: c_iflag, c_oflag, c_cflag, c_lflag (u32 each), c_line (u8),
// c_cc[19], c_ispeed, c_ospeed: 44 bytes. BOTHER takes the speed as a number.
const TCGETS2 = 0x802c542a;
const TCSETS2 = 0x402c542b;
const TERMIOS2_SIZE = 44;
const CBAUD = 0o10017;
const BOTHER = 0o10000;
const IBSHIFT = 16;

/** Opening or using a port failed. */
export class PortError extends EspdeltaError {
  /** errno, when the failure came from libc. */
  readonly errno?: number;
  /**
   * With a code (PORT_NOT_FOUND, PORT_BUSY, PERMISSION_DENIED, NOT_A_PORT,
   * PORT_IO) and a one-line message.
   */
  constructor(code: string, message: string, err?: number) {
    super(code, message);
    this.errno = err;
  }
}

function openError(sys: PosixSys, path: string, e: number): PortError {
  switch (e) {
    case sys.consts.ENOENT:
      return new PortError(
        "PORT_NOT_FOUND",
        `serial port ${path} does not exist; check the cable or run 'espdelta ports'`,
        e,
      );
    case sys.consts.EACCES:
      return new PortError(
        "PERMISSION_DENIED",
        `permission denied opening ${path}; add your user to the 'dialout' group and log in again`,
        e,
      );
    case sys.consts.EBUSY:
      return new PortError(
        "PORT_BUSY",
        `serial port ${path} is busy (held by another process); close the other program ` +
          "(monitor, IDE) and retry",
        e,
      );
    default:
      if (e === 21 /* EISDIR, on Linux and macOS */) return notAPort(path, e);
      return new PortError("PORT_IO", `cannot open ${path}: ${sys.strerror(e)}`, e);
  }
}

/**
 * `path` opened but is no terminal (a regular file, a folder, /dev/null):
 * a wrong `-p`, so a usage error (exit 2), not a device failure.
 */
function notAPort(path: string, err?: number): PortError {
  let what = "a device that takes no serial settings";
  try {
    const info = Deno.statSync(path);
    if (info.isDirectory) what = "a folder";
    else if (info.isFile) what = "a regular file";
  } catch { /* keep the general words */ }
  return new PortError(
    "NOT_A_PORT",
    `${path} is not a serial port (it is ${what}); give the board's port, e.g. /dev/ttyUSB0, ` +
      "or run 'espdelta ports'",
    err,
  );
}

/** Linux: termios2 raw 8N1 at `baud` (any rate: BOTHER). */
function linuxSetRaw(fd: number, baud: number): string | undefined {
  const t = new Uint8Array(TERMIOS2_SIZE);
  const v = new DataView(t.buffer);
  const c = libc();
  if (c.ioctl(fd, BigInt(TCGETS2), t) !== 0) {
    return `cannot read terminal settings: ${strerror(errno())}`;
  }
  let iflag = v.getUint32(0, true);
  let oflag = v.getUint32(4, true);
  let cflag = v.getUint32(8, true);
  let lflag = v.getUint32(12, true);
  // cfmakeraw, plus no flow control and no modem hang-up on close.
  iflag &= ~(0o1 | 0o2 | 0o10 | 0o40 | 0o100 | 0o200 | 0o400 | 0o2000 | 0o4000 | 0o10000);
  oflag &= ~0o1;
  lflag &= ~(0o10 | 0o100 | 0o2 | 0o1 | 0o100000);
  cflag &= ~(0o60 | 0o400 | 0o100 | 0o2000 | 0o20000000000);
  cflag |= 0o60 | 0o200 | 0o4000; // CS8 | CREAD | CLOCAL
  cflag &= ~(CBAUD | (CBAUD << IBSHIFT));
  cflag |= BOTHER | (BOTHER << IBSHIFT);
  v.setUint32(0, iflag >>> 0, true);
  v.setUint32(4, oflag >>> 0, true);
  v.setUint32(8, cflag >>> 0, true);
  v.setUint32(12, lflag >>> 0, true);
  t[17 + 5] = 0; // VTIME
  t[17 + 6] = 0; // VMIN
  v.setUint32(36, baud, true);
  v.setUint32(40, baud, true);
  if (c.ioctl(fd, BigInt(TCSETS2), t) !== 0) return `cannot set ${baud} baud: ${strerror(errno())}`;
  return undefined;
}

let linux: PosixSys | undefined;

/** The Linux system interface (libc.so.6, glibc numbers). */
export function linuxSys(): PosixSys {
  if (linux) return linux;
  const c = libc();
  linux = {
    open: (path, flags) => c.open(cstr(path), flags, 0),
    close: (fd) => c.close(fd),
    read: (fd, buf, n) => Number(c.read(fd, buf, BigInt(n))),
    write: (fd, buf, n) => Number(c.write(fd, buf, BigInt(n))),
    poll: (pollfd, ms) => c.poll(pollfd, 1n, ms),
    ioctl: (fd, req, arg) => c.ioctl(fd, BigInt(req), arg),
    flock: (fd, op) => c.flock(fd, op),
    tcflush: (fd, q) => c.tcflush(fd, q),
    errno,
    strerror,
    setRaw: linuxSetRaw,
    consts: {
      O_RDWR: 0o2,
      O_NOCTTY: 0o400,
      O_NONBLOCK: 0o4000,
      O_CLOEXEC: 0o2000000,
      TIOCMGET: 0x5415,
      TIOCMSET: 0x5418,
      TIOCMBIS: 0x5416,
      TIOCMBIC: 0x5417,
      TIOCOUTQ: 0x5411,
      TIOCM_DTR: 0x002,
      TIOCM_RTS: 0x004,
      EAGAIN: Errno.EAGAIN,
      EINTR: Errno.EINTR,
      EIO: Errno.EIO,
      ENOTTY: Errno.ENOTTY,
      ENOENT: Errno.ENOENT,
      EACCES: Errno.EACCES,
      EBUSY: Errno.EBUSY,
      ENXIO: Errno.ENXIO,
      ENODEV: Errno.ENODEV,
      EPIPE: Errno.EPIPE,
    },
  };
  return linux;
}

/**
 * A POSIX serial port (or one side of a pty). A hang-up (the device
 * unplugged, the other side of a pty closed) and EIO, ENXIO or ENODEV are a
 * {@link PortLostError}; {@link reopen} opens the path again once the node
 * is back.
 */
export class PosixPort implements Port {
  /** Device path. */
  readonly path: string;
  #fd: number;
  #lost: PortLostError | undefined;
  #reopenFd: (() => Promise<number>) | undefined;
  #baud: number;
  #modem: boolean;
  #closing = false;
  #pending: Promise<unknown> | undefined;
  #pollfd = new Uint8Array(8);
  #buf = new Uint8Array(65536);
  #onWarn?: (message: string) => void;
  #sys: PosixSys;

  /**
   * Wraps an open, configured descriptor; `reopenFd` opens and configures
   * the path again at a given baud rate, for {@link reopen}.
   */
  constructor(
    fd: number,
    path: string,
    baud: number,
    onWarn?: (m: string) => void,
    sys: PosixSys = linuxSys(),
    reopenFd?: (baud: number) => Promise<number>,
  ) {
    this.#fd = fd;
    this.#reopenFd = reopenFd && (() => reopenFd(this.#baud));
    this.path = path;
    this.#baud = baud;
    this.#onWarn = onWarn;
    this.#sys = sys;
    // A pty answers ENOTTY to modem-line ioctls: no reset lines, said once.
    const bits = new Int32Array(1);
    this.#modem = sys.ioctl(fd, sys.consts.TIOCMGET, new Uint8Array(bits.buffer)) === 0;
    if (!this.#modem && sys.errno() === sys.consts.ENOTTY) {
      this.#onWarn?.(`${path} has no DTR/RTS lines (a pseudo-terminal?); reset by hand if needed`);
    }
  }

  /** Whether DTR/RTS can be driven. */
  get hasModemLines(): boolean {
    return this.#modem;
  }

  /** Current baud rate. */
  get baud(): number {
    return this.#baud;
  }

  /** The file descriptor (for tests). */
  get fd(): number {
    return this.#fd;
  }

  async #poll(events: number, timeoutMs: number): Promise<number> {
    const v = new DataView(this.#pollfd.buffer);
    v.setInt32(0, this.#fd, true);
    v.setInt16(4, events, true);
    v.setInt16(6, 0, true);
    const p = this.#sys.poll(
      this.#pollfd,
      Math.max(0, Math.ceil(Math.min(POLL_SLICE_MS, timeoutMs))),
    );
    this.#pending = p;
    const n = await p;
    this.#pending = undefined;
    return n > 0 ? v.getInt16(6, true) : 0;
  }

  /** The loss errno `e` means, if it is one (EIO, ENXIO, ENODEV, EPIPE). */
  #lossKind(e: number): LossKind | undefined {
    const k = this.#sys.consts;
    if (e === k.EIO) return "EIO";
    if (e === k.ENXIO) return "ENXIO";
    if (e === k.ENODEV) return "ENODEV";
    if (e === k.EPIPE) return "EPIPE";
    return undefined;
  }

  /** Records the link's death (the first cause seen stays) and returns it. */
  #die(kind: LossKind): PortLostError {
    this.#lost ??= new PortLostError(this.path, kind, LOSS_REASONS.tty);
    return this.#lost;
  }

  /** See {@link Port.read}. */
  async read(timeoutMs: number): Promise<Uint8Array> {
    const deadline = performance.now() + timeoutMs;
    let hungUp = false;
    while (!this.#closing) {
      if (this.#lost) throw this.#lost;
      const sys = this.#sys;
      const n = sys.read(this.#fd, this.#buf, this.#buf.length);
      if (n > 0) return this.#buf.slice(0, n);
      if (n < 0) {
        const e = sys.errno();
        const kind = this.#lossKind(e);
        if (kind) throw this.#die(kind);
        if (e !== sys.consts.EAGAIN && e !== sys.consts.EINTR) {
          throw new PortError("PORT_IO", `${this.path}: read failed: ${sys.strerror(e)}`, e);
        }
      } else if (hungUp) {
        // Nothing to read although poll said hang-up: the end of this tty (read() gives 0
        // on a healthy raw port with nothing to read, so only the pair of them means it).
        throw this.#die("HANGUP");
      }
      const left = deadline - performance.now();
      if (left <= 0) break;
      const revents = await this.#poll(POLLIN, left);
      if (this.#closing) continue;
      hungUp = (revents & (POLLHUP | POLLERR)) !== 0;
    }
    return new Uint8Array();
  }

  /** See {@link Port.write}. */
  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    const copy = new Uint8Array(data);
    while (off < copy.length) {
      if (this.#closing) throw new PortError("PORT_IO", `${this.path} is closed`);
      if (this.#lost) throw this.#lost;
      const sys = this.#sys;
      const n = sys.write(this.#fd, copy.subarray(off), copy.length - off);
      if (n > 0) {
        off += n;
        continue;
      }
      const e = sys.errno();
      if (n < 0) {
        const kind = this.#lossKind(e);
        if (kind) throw this.#die(kind);
        if (e !== sys.consts.EAGAIN && e !== sys.consts.EINTR) {
          throw new PortError("PORT_IO", `${this.path}: write failed: ${sys.strerror(e)}`, e);
        }
      }
      await this.#poll(POLLOUT, POLL_SLICE_MS);
    }
  }

  /** Waits until the output queue is empty (at most 2 s). */
  async drain(): Promise<void> {
    const q = new Int32Array(1);
    const until = performance.now() + 2000;
    while (performance.now() < until) {
      const outq = this.#sys.consts.TIOCOUTQ;
      if (this.#sys.ioctl(this.#fd, outq, new Uint8Array(q.buffer)) !== 0) return;
      if (q[0] === 0) return;
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** See {@link Port.flushInput}. */
  flushInput(): Promise<void> {
    this.#sys.tcflush(this.#fd, TCIFLUSH);
    return Promise.resolve();
  }

  /** See {@link Port.setBaud}. */
  setBaud(baud: number): Promise<void> {
    if (this.#lost) return Promise.reject(this.#lost);
    const err = this.#sys.setRaw(this.#fd, baud);
    if (err) {
      const kind = this.#lossKind(this.#sys.errno());
      return Promise.reject(
        kind ? this.#die(kind) : new PortError("PORT_IO", `${this.path}: ${err}`),
      );
    }
    this.#baud = baud;
    return Promise.resolve();
  }

  /** Sets DTR/RTS; when both are given they change together (TIOCMSET). */
  setSignals(signals: Signals): Promise<void> {
    if (!this.#modem) return Promise.resolve();
    const { ioctl, consts: k } = this.#sys;
    const bits = new Int32Array(1);
    const buf = new Uint8Array(bits.buffer);
    if (signals.dtr !== undefined && signals.rts !== undefined) {
      ioctl(this.#fd, k.TIOCMGET, buf);
      bits[0] = (bits[0] & ~(k.TIOCM_DTR | k.TIOCM_RTS)) | (signals.dtr ? k.TIOCM_DTR : 0) |
        (signals.rts ? k.TIOCM_RTS : 0);
      ioctl(this.#fd, k.TIOCMSET, buf);
      return Promise.resolve();
    }
    for (const [on, bit] of [[signals.dtr, k.TIOCM_DTR], [signals.rts, k.TIOCM_RTS]] as const) {
      if (on === undefined) continue;
      bits[0] = bit;
      ioctl(this.#fd, on ? k.TIOCMBIS : k.TIOCMBIC, buf);
    }
    return Promise.resolve();
  }

  /** Waits for a pending poll slice (at most 50 ms), then closes the descriptor. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    while (this.#pending) await this.#pending.catch(() => {});
    this.#sys.close(this.#fd);
  }

  /**
   * Opens the path again (exclusive lock, raw mode, the current baud rate)
   * once its node is back, as a USB-UART bridge plugged in again or a
   * by-id link pointed at a new device; rejects with the open error while
   * it is not.
   */
  async reopen(): Promise<void> {
    if (!this.#reopenFd) throw this.#lost ?? new PortError("PORT_IO", `${this.path} cannot reopen`);
    const fd = await this.#reopenFd();
    if (!this.#closing) {
      this.#closing = true;
      while (this.#pending) await this.#pending.catch(() => {});
      this.#sys.close(this.#fd);
    }
    this.#fd = fd;
    this.#lost = undefined;
    this.#closing = false;
  }
}

/** Options of {@link openPosix}. */
export interface PosixOptions {
  /** Initial baud rate. */
  baud: number;
  /** Take an exclusive flock (default true). */
  exclusive?: boolean;
  /** Told once when the port has no modem lines. */
  onWarn?: (message: string) => void;
  /** The system interface (default Linux). */
  sys?: PosixSys;
}

/** Opens, locks and configures `path`; returns the descriptor or rejects with a PortError. */
function openFd(
  sys: PosixSys,
  path: string,
  baud: number,
  exclusive: boolean,
): Promise<number> {
  const k = sys.consts;
  const fd = sys.open(path, k.O_RDWR | k.O_NOCTTY | k.O_NONBLOCK | k.O_CLOEXEC);
  if (fd < 0) return Promise.reject(openError(sys, path, sys.errno()));
  if (exclusive && sys.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const e = sys.errno();
    sys.close(fd);
    return Promise.reject(
      e === k.EAGAIN
        ? new PortError(
          "PORT_BUSY",
          `serial port ${path} is held by another process; close the other program (monitor, IDE) and retry`,
          e,
        )
        : openError(sys, path, e),
    );
  }
  const err = sys.setRaw(fd, baud);
  if (err) {
    const e = sys.errno();
    sys.close(fd);
    if (e === k.ENOTTY) return Promise.reject(notAPort(path, e));
    return Promise.reject(new PortError("PORT_IO", `${path}: ${err}`));
  }
  // No input flush here: bytes that arrived while the port was closed are
  // kept (the loader flushes after its reset, where it matters).
  return Promise.resolve(fd);
}

/** Opens a local serial device; after a loss it can open the same path again. */
export async function openPosix(path: string, options: PosixOptions): Promise<PosixPort> {
  const sys = options.sys ?? linuxSys();
  const exclusive = options.exclusive !== false;
  const fd = await openFd(sys, path, options.baud, exclusive);
  return new PosixPort(
    fd,
    path,
    options.baud,
    options.onWarn,
    sys,
    (baud) => openFd(sys, path, baud, exclusive),
  );
}

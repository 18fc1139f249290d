/**
 * Local serial ports on Linux through libc: exclusive lock, raw 8N1 at any
 * baud (termios2 with BOTHER), DTR/RTS through TIOCMBIS/TIOCMBIC, and reads
 * that wait in poll with a short timeout so close() always wins.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";
import { cstr, Errno, errno, libc, strerror } from "./libc.ts";
import type { Port, Signals } from "./port.ts";

const O_RDWR = 0o2;
const O_NOCTTY = 0o400;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const LOCK_EX = 2;
const LOCK_NB = 4;
const TCGETS2 = 0x802c542a;
const TCSETS2 = 0x402c542b;
const TIOCMBIS = 0x5416;
const TIOCMBIC = 0x5417;
const TIOCMSET = 0x5418;
const TIOCMGET = 0x5415;
const TIOCOUTQ = 0x5411;
const TIOCM_DTR = 0x002;
const TIOCM_RTS = 0x004;
const TCIFLUSH = 0;
const POLLIN = 0x1;
const POLLOUT = 0x4;
const POLL_SLICE_MS = 50;

// termios2: c_iflag, c_oflag, c_cflag, c_lflag (u32 each), c_line (u8), c_cc[19], c_ispeed, c_ospeed.
const TERMIOS2_SIZE = 44;
const CBAUD = 0o10017;
const BOTHER = 0o10000;
const IBSHIFT = 16;

/** Opening or using a port failed. */
export class PortError extends EspdeltaError {
  /** errno, when the failure came from libc. */
  readonly errno?: number;
  /** With a code (PORT_NOT_FOUND, PORT_BUSY, PERMISSION_DENIED, PORT_IO) and a one-line message. */
  constructor(code: string, message: string, err?: number) {
    super(code, message);
    this.errno = err;
  }
}

function openError(path: string, e: number): PortError {
  switch (e) {
    case Errno.ENOENT:
      return new PortError(
        "PORT_NOT_FOUND",
        `serial port ${path} does not exist; check the cable or run 'espdelta ports'`,
        e,
      );
    case Errno.EACCES:
      return new PortError(
        "PERMISSION_DENIED",
        `permission denied opening ${path}; add your user to the 'dialout' group and log in again`,
        e,
      );
    case Errno.EBUSY:
      return new PortError("PORT_BUSY", `serial port ${path} is busy (held by another process)`, e);
    default:
      return new PortError("PORT_IO", `cannot open ${path}: ${strerror(e)}`, e);
  }
}

/** Puts termios2 into raw 8N1 at `baud` (any rate: BOTHER). */
function setTermios(fd: number, path: string, baud: number): void {
  const t = new Uint8Array(TERMIOS2_SIZE);
  const v = new DataView(t.buffer);
  const c = libc();
  if (c.ioctl(fd, BigInt(TCGETS2), t) !== 0) {
    throw new PortError("PORT_IO", `${path}: cannot read terminal settings: ${strerror(errno())}`);
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
  if (c.ioctl(fd, BigInt(TCSETS2), t) !== 0) {
    throw new PortError("PORT_IO", `${path}: cannot set ${baud} baud: ${strerror(errno())}`);
  }
}

/** A POSIX serial port (or one side of a pty). */
export class PosixPort implements Port {
  /** Device path. */
  readonly path: string;
  #fd: number;
  #baud: number;
  #modem: boolean;
  #closing = false;
  #pending: Promise<unknown> | undefined;
  #pollfd = new Uint8Array(8);
  #buf = new Uint8Array(65536);
  #onWarn?: (message: string) => void;

  /** Wraps an open, configured descriptor. */
  constructor(fd: number, path: string, baud: number, onWarn?: (m: string) => void) {
    this.#fd = fd;
    this.path = path;
    this.#baud = baud;
    this.#onWarn = onWarn;
    // A pty answers ENOTTY to modem-line ioctls: no reset lines, said once.
    const bits = new Int32Array(1);
    this.#modem = libc().ioctl(fd, BigInt(TIOCMGET), new Uint8Array(bits.buffer)) === 0;
    if (!this.#modem && errno() === Errno.ENOTTY) {
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
    const p = libc().poll(
      this.#pollfd,
      1n,
      Math.max(0, Math.ceil(Math.min(POLL_SLICE_MS, timeoutMs))),
    );
    this.#pending = p;
    const n = await p;
    this.#pending = undefined;
    return n > 0 ? v.getInt16(6, true) : 0;
  }

  /** See {@link Port.read}. */
  async read(timeoutMs: number): Promise<Uint8Array> {
    const deadline = performance.now() + timeoutMs;
    while (!this.#closing) {
      const n = Number(libc().read(this.#fd, this.#buf, BigInt(this.#buf.length)));
      if (n > 0) return this.#buf.slice(0, n);
      if (n < 0) {
        const e = errno();
        // EIO: the other side of a pty is closed; wait as if idle.
        if (e !== Errno.EAGAIN && e !== Errno.EINTR && e !== Errno.EIO) {
          throw new PortError("PORT_IO", `${this.path}: read failed: ${strerror(e)}`, e);
        }
      }
      const left = deadline - performance.now();
      if (left <= 0) break;
      const revents = await this.#poll(POLLIN, left);
      if (revents === 0 || this.#closing) continue;
      if (revents & 0x10 /* POLLHUP */ && !(revents & POLLIN)) {
        await new Promise((r) => setTimeout(r, Math.min(POLL_SLICE_MS, left)));
      }
    }
    return new Uint8Array();
  }

  /** See {@link Port.write}. */
  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    const copy = new Uint8Array(data);
    while (off < copy.length) {
      if (this.#closing) throw new PortError("PORT_IO", `${this.path} is closed`);
      const n = Number(libc().write(this.#fd, copy.subarray(off), BigInt(copy.length - off)));
      if (n > 0) {
        off += n;
        continue;
      }
      const e = errno();
      if (n < 0 && e !== Errno.EAGAIN && e !== Errno.EINTR) {
        throw new PortError("PORT_IO", `${this.path}: write failed: ${strerror(e)}`, e);
      }
      await this.#poll(POLLOUT, POLL_SLICE_MS);
    }
  }

  /** Waits until the output queue is empty (at most 2 s). */
  async drain(): Promise<void> {
    const q = new Int32Array(1);
    const until = performance.now() + 2000;
    while (performance.now() < until) {
      if (libc().ioctl(this.#fd, BigInt(TIOCOUTQ), new Uint8Array(q.buffer)) !== 0) return;
      if (q[0] === 0) return;
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** See {@link Port.flushInput}. */
  flushInput(): Promise<void> {
    libc().tcflush(this.#fd, TCIFLUSH);
    return Promise.resolve();
  }

  /** See {@link Port.setBaud}. */
  setBaud(baud: number): Promise<void> {
    setTermios(this.#fd, this.path, baud);
    this.#baud = baud;
    return Promise.resolve();
  }

  /** Sets DTR/RTS; when both are given they change together (TIOCMSET). */
  setSignals(signals: Signals): Promise<void> {
    if (!this.#modem) return Promise.resolve();
    const c = libc();
    const bits = new Int32Array(1);
    const buf = new Uint8Array(bits.buffer);
    if (signals.dtr !== undefined && signals.rts !== undefined) {
      c.ioctl(this.#fd, BigInt(TIOCMGET), buf);
      bits[0] = (bits[0] & ~(TIOCM_DTR | TIOCM_RTS)) | (signals.dtr ? TIOCM_DTR : 0) |
        (signals.rts ? TIOCM_RTS : 0);
      c.ioctl(this.#fd, BigInt(TIOCMSET), buf);
      return Promise.resolve();
    }
    for (const [on, bit] of [[signals.dtr, TIOCM_DTR], [signals.rts, TIOCM_RTS]] as const) {
      if (on === undefined) continue;
      bits[0] = bit;
      c.ioctl(this.#fd, BigInt(on ? TIOCMBIS : TIOCMBIC), buf);
    }
    return Promise.resolve();
  }

  /** Waits for a pending poll slice (at most 50 ms), then closes the descriptor. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    while (this.#pending) await this.#pending.catch(() => {});
    libc().close(this.#fd);
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
}

/** Opens a local serial device. */
export function openPosix(path: string, options: PosixOptions): Promise<PosixPort> {
  const c = libc();
  const fd = c.open(cstr(path), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) return Promise.reject(openError(path, errno()));
  if (options.exclusive !== false && c.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const e = errno();
    c.close(fd);
    return Promise.reject(
      e === Errno.EAGAIN
        ? new PortError(
          "PORT_BUSY",
          `serial port ${path} is held by another process; close the other program (monitor, IDE) and retry`,
          e,
        )
        : openError(path, e),
    );
  }
  try {
    setTermios(fd, path, options.baud);
  } catch (e) {
    c.close(fd);
    return Promise.reject(e);
  }
  c.tcflush(fd, TCIFLUSH);
  return Promise.resolve(new PosixPort(fd, path, options.baud, options.onWarn));
}

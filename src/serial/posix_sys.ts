/**
 * What differs between POSIX systems for serial ports: the libc symbols, the
 * ioctl numbers and flag values, and how raw mode at any baud is set. The
 * port logic in posix.ts is written once against this interface.
 * @module
 */

/** Numbers that differ between Linux and macOS. */
export interface PosixConsts {
  /** open() flags. */
  O_RDWR: number;
  /** open() flag: do not become the controlling terminal. */
  O_NOCTTY: number;
  /** open() flag. */
  O_NONBLOCK: number;
  /** open() flag (0 where unused). */
  O_CLOEXEC: number;
  /** Modem-line ioctls. */
  TIOCMGET: number;
  /** Set all modem lines. */
  TIOCMSET: number;
  /** Set modem bits. */
  TIOCMBIS: number;
  /** Clear modem bits. */
  TIOCMBIC: number;
  /** Bytes waiting in the output queue. */
  TIOCOUTQ: number;
  /** DTR bit. */
  TIOCM_DTR: number;
  /** RTS bit. */
  TIOCM_RTS: number;
  /** errno: try again. */
  EAGAIN: number;
  /** errno: interrupted. */
  EINTR: number;
  /** errno: I/O error (pty peer closed). */
  EIO: number;
  /** errno: not a tty (pty modem-line ioctls). */
  ENOTTY: number;
  /** errno: no such file. */
  ENOENT: number;
  /** errno: permission denied. */
  EACCES: number;
  /** errno: busy. */
  EBUSY: number;
  /** errno: no such device or address (a device gone: macOS after an unplug). */
  ENXIO: number;
  /** errno: no such device. */
  ENODEV: number;
  /** errno: broken pipe. */
  EPIPE: number;
}

/** The system calls the port needs. Synchronous except poll. */
export interface PosixSys {
  /** open(2). */
  open(path: string, flags: number): number;
  /** close(2). */
  close(fd: number): number;
  /** read(2) on a non-blocking descriptor. */
  read(fd: number, buf: Uint8Array<ArrayBuffer>, n: number): number;
  /** write(2) on a non-blocking descriptor. */
  write(fd: number, buf: Uint8Array<ArrayBuffer>, n: number): number;
  /** poll(2) of one pollfd, on another thread, with a short timeout. */
  poll(pollfd: Uint8Array<ArrayBuffer>, timeoutMs: number): Promise<number>;
  /** ioctl(2) with a pointer argument. */
  ioctl(fd: number, request: number, arg: Uint8Array<ArrayBuffer>): number;
  /** flock(2). */
  flock(fd: number, op: number): number;
  /** tcflush(3). */
  tcflush(fd: number, queue: number): number;
  /** errno after the last synchronous call. */
  errno(): number;
  /** strerror(3). */
  strerror(e: number): string;
  /** Raw 8N1 at any `baud`; returns an error text or undefined. */
  setRaw(fd: number, baud: number): string | undefined;
  /** The numbers. */
  consts: PosixConsts;
}

/**
 * macOS serial ports: the POSIX port logic of posix.ts with macOS numbers.
 * Written from the macOS SDK headers (sys/termios.h, sys/ttycom.h,
 * IOKit/serial/ioss.h, sys/fcntl.h, sys/errno.h); it cannot run on the Linux
 * CI machines, so it is typed, small and reviewed, not tested here.
 *
 * macOS `struct termios` (LP64): tcflag_t c_iflag, c_oflag, c_cflag, c_lflag
 * (unsigned long, 8 bytes each), cc_t c_cc[20], 4 bytes padding, speed_t
 * c_ispeed, c_ospeed (8 bytes each): 72 bytes. Any baud rate is set with
 * IOSSIOSPEED after tcsetattr.
 * @module
 */

import type { PosixSys } from "./posix_sys.ts";

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  poll: { parameters: ["buffer", "u32", "i32"], result: "i32", nonblocking: true },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  flock: { parameters: ["i32", "i32"], result: "i32" },
  tcflush: { parameters: ["i32", "i32"], result: "i32" },
  tcgetattr: { parameters: ["i32", "buffer"], result: "i32" },
  tcsetattr: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  __error: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
} as const;

const TERMIOS_SIZE = 72;
const IOSSIOSPEED = 0x80085402; // _IOW('T', 2, speed_t)
const TCSANOW = 0;

/** The macOS system interface (libSystem). */
export function darwinSys(): PosixSys {
  const lib = Deno.dlopen("/usr/lib/libSystem.B.dylib", SYMBOLS).symbols;
  const errno = () => {
    const p = lib.__error();
    return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
  };
  const strerror = (e: number) => {
    const p = lib.strerror(e);
    return p === null ? `errno ${e}` : Deno.UnsafePointerView.getCString(p);
  };
  const setRaw = (fd: number, baud: number): string | undefined => {
    const t = new Uint8Array(TERMIOS_SIZE);
    const v = new DataView(t.buffer);
    if (lib.tcgetattr(fd, t) !== 0) return `cannot read terminal settings: ${strerror(errno())}`;
    const get = (i: number) => Number(v.getBigUint64(i * 8, true));
    const set = (i: number, x: number) => v.setBigUint64(i * 8, BigInt(x >>> 0), true);
    // cfmakeraw with macOS values; no flow control; no hang-up on close.
    set(0, get(0) & ~(0x1 | 0x2 | 0x8 | 0x20 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800));
    set(1, get(1) & ~0x1);
    set(3, get(3) & ~(0x8 | 0x10 | 0x100 | 0x80 | 0x400));
    set(2, (get(2) & ~(0x300 | 0x1000 | 0x400 | 0x4000 | 0x30000)) | 0x300 | 0x800 | 0x8000);
    t[32 + 16] = 0; // VMIN
    t[32 + 17] = 0; // VTIME
    if (lib.tcsetattr(fd, TCSANOW, t) !== 0) return `cannot set raw mode: ${strerror(errno())}`;
    const speed = new BigUint64Array([BigInt(baud)]);
    if (lib.ioctl(fd, BigInt(IOSSIOSPEED), new Uint8Array(speed.buffer)) !== 0) {
      return `cannot set ${baud} baud: ${strerror(errno())}`;
    }
    return undefined;
  };
  const enc = new TextEncoder();
  return {
    open: (path, flags) => lib.open(enc.encode(path + "\0"), flags, 0),
    close: (fd) => lib.close(fd),
    read: (fd, buf, n) => Number(lib.read(fd, buf, BigInt(n))),
    write: (fd, buf, n) => Number(lib.write(fd, buf, BigInt(n))),
    poll: (pollfd, ms) => lib.poll(pollfd, 1, ms),
    ioctl: (fd, req, arg) => lib.ioctl(fd, BigInt(req), arg),
    flock: (fd, op) => lib.flock(fd, op),
    tcflush: (fd, q) => lib.tcflush(fd, q === 0 ? 1 : q), // TCIFLUSH is 1 on macOS
    errno,
    strerror,
    setRaw,
    consts: {
      O_RDWR: 0x2,
      O_NOCTTY: 0x20000,
      O_NONBLOCK: 0x4,
      O_CLOEXEC: 0x1000000,
      TIOCMGET: 0x4004746a,
      TIOCMSET: 0x8004746d,
      TIOCMBIS: 0x8004746c,
      TIOCMBIC: 0x8004746b,
      TIOCOUTQ: 0x40047473,
      TIOCM_DTR: 0x2,
      TIOCM_RTS: 0x4,
      EAGAIN: 35,
      EINTR: 4,
      EIO: 5,
      ENOTTY: 25,
      ENOENT: 2,
      EACCES: 13,
      EBUSY: 16,
      ENXIO: 6,
      ENODEV: 19,
      EPIPE: 32,
    },
  };
}

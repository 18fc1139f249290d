/**
 * Pseudo-terminal pairs, so the virtual device can sit behind a real tty
 * that any serial tool (and ser2net) can open.
 * @module
 */

import { cstr, errno, libc, strerror } from "./libc.ts";
import { openPosix, PortError, PosixPort } from "./posix.ts";

const O_RDWR = 0o2;
const O_NOCTTY = 0o400;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const IN_CLOSE_WRITE = 0x8;
const IN_CLOSE_NOWRITE = 0x10;
const IN_OPEN = 0x20;
const IN_EVENT_HEADER = 16;

/** A pty pair: the master as a Port, the slave's path for clients. */
export interface PtyPair {
  /** Master side. */
  master: PosixPort;
  /** Path of the slave tty, e.g. /dev/pts/3. */
  slavePath: string;
  /**
   * How many times a client opened the slave while no other client had it
   * open, since the last call (the first open is what raises DTR and RTS on
   * a real port; later ones leave the lines alone). Seen with inotify.
   */
  takeFirstOpens(): number;
  /** Drops what the master sent that no client has read yet (the slave's input queue). */
  dropUnread(): Promise<void>;
  /** Closes both sides. */
  close(): Promise<void>;
}

/**
 * Counts opens and closes of `path` by other processes (and this one)
 * through inotify; the counting starts now.
 */
function watchOpens(path: string): { takeFirstOpens(): number; close(): void } {
  const c = libc();
  const fd = c.inotify_init1(O_NONBLOCK | O_CLOEXEC);
  if (
    fd < 0 || c.inotify_add_watch(fd, cstr(path), IN_OPEN | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE) < 0
  ) {
    const e = errno();
    if (fd >= 0) c.close(fd);
    throw new PortError("PORT_IO", `cannot watch ${path} for clients: ${strerror(e)}`, e);
  }
  const buf = new Uint8Array(4096);
  const view = new DataView(buf.buffer);
  let clients = 0;
  return {
    takeFirstOpens: () => {
      let first = 0;
      for (;;) {
        const n = Number(c.read(fd, buf, BigInt(buf.length)));
        if (n <= 0) return first;
        for (let at = 0; at + IN_EVENT_HEADER <= n;) {
          const mask = view.getUint32(at + 4, true);
          if (mask & IN_OPEN && clients++ === 0) first++;
          if (mask & (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE)) clients = Math.max(0, clients - 1);
          at += IN_EVENT_HEADER + view.getUint32(at + 12, true);
        }
      }
    },
    close: () => void c.close(fd),
  };
}

/**
 * Creates a pty pair. A raw-mode descriptor of the slave stays open for the
 * pair's lifetime: it keeps the slave raw between clients (no echo, no line
 * editing) and keeps the master readable when no client has it open.
 */
export async function openPtyPair(): Promise<PtyPair> {
  const c = libc();
  const fd = c.posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw new PortError("PORT_IO", `posix_openpt failed: ${strerror(errno())}`);
  const name = new Uint8Array(128);
  if (c.grantpt(fd) !== 0 || c.unlockpt(fd) !== 0 || c.ptsname_r(fd, name, 128n) !== 0) {
    const e = errno();
    c.close(fd);
    throw new PortError("PORT_IO", `cannot set up the pty: ${strerror(e)}`);
  }
  const slavePath = new TextDecoder().decode(name.subarray(0, name.indexOf(0)));
  const holder = await openPosix(slavePath, { baud: 115200, exclusive: false });
  const master = new PosixPort(fd, `${slavePath} (master)`, 115200);
  // Watched from here: the holder's own open is not a client's.
  const watch = watchOpens(slavePath);
  return {
    master,
    slavePath,
    takeFirstOpens: () => watch.takeFirstOpens(),
    dropUnread: () => holder.flushInput(),
    close: async () => {
      watch.close();
      await master.close();
      await holder.close();
    },
  };
}

/**
 * Pseudo-terminal pairs, so the virtual device can sit behind a real tty
 * that any serial tool (and ser2net) can open.
 * @module
 */

import { errno, libc, strerror } from "./libc.ts";
import { openPosix, PortError, PosixPort } from "./posix.ts";

const O_RDWR = 0o2;
const O_NOCTTY = 0o400;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

/** A pty pair: the master as a Port, the slave's path for clients. */
export interface PtyPair {
  /** Master side. */
  master: PosixPort;
  /** Path of the slave tty, e.g. /dev/pts/3. */
  slavePath: string;
  /** Closes both sides. */
  close(): Promise<void>;
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
  return {
    master,
    slavePath,
    close: async () => {
      await master.close();
      await holder.close();
    },
  };
}

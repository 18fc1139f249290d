/**
 * Serves a virtual device behind a real pseudo-terminal, so the whole tool
 * (or any other flasher, or ser2net) can open it as a serial port.
 *
 * The board model. A pty has no modem lines: a client's DTR/RTS ioctls fail
 * (ENOTTY) and never reach the board. On a USB-UART board with the
 * two-transistor auto-reset circuit, a host opening the port raises DTR and
 * RTS together (no reset: the circuit cancels them out); then a flasher
 * runs its reset sequence, EN pulsed with the boot pin held low, and the
 * chip restarts in its download mode before the flasher's first SYNC,
 * while a serial monitor leaves the chip running. The virtual board cannot
 * see which sequence a client runs, so it infers it from what the client
 * does: after a client's first open of the port (seen with inotify; a
 * second program opening a port already open leaves the lines alone, as on
 * a real one), the first SLIP frame it sends (a flasher's SYNC) finds the
 * chip restarted into download mode if it was running its app (or a RAM
 * program, or a reset loop): EN pulsed with the boot pin low, then the
 * frame. A chip in a loader is left as it is: in the ROM's download mode it
 * is where the reset would put it, and a flasher stub left running (by
 * `--after no-reset-stub`, or esptool v5's `--after no-reset`, since
 * esp-flasher-stub's FLASH_END never reboots) keeps running, as
 * `--before no-reset` keeps it on a board: the next flasher finds the stub
 * by its SYNC reply and uses it, as esptool does when a reset cannot reach
 * the chip. A client that never sends a frame (a monitor) sees the running
 * app. What the device printed while no client had the port open is
 * dropped, as a closed USB-UART port drops it. Closing the port does
 * nothing (the lines drop together).
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";
import { openPtyPair } from "../serial/pty.ts";
import type { Port } from "../serial/port.ts";
import type { VirtualDevice } from "./device.ts";
import { realClock } from "../clock.ts";
import { PacedLink } from "./paced.ts";
import type { TimingParams } from "./timing_model.ts";

/** A device served on a port until close(). */
export interface Served {
  /** The path clients open (the pty's slave, /dev/pts/N). */
  path: string;
  /** The symbolic link to it, when one was asked for ({@link PtyOptions.link}). */
  link?: string;
  /** Stops serving and releases the port. */
  close(): Promise<void>;
}

/**
 * Pumps bytes between `port` and `device` until close(). `beforeReceive`
 * runs with each batch of bytes from the host before it reaches the device
 * (and with none at least every 100 ms): a board model's chance to act on
 * what the port saw first.
 */
export function servePort(
  device: VirtualDevice,
  port: Port,
  beforeReceive?: (bytes: Uint8Array) => Promise<void>,
  timing?: Partial<TimingParams>,
): { close(): Promise<void> } {
  let stopped = false;
  let writing = Promise.resolve();
  const send = (bytes: Uint8Array) => {
    const copy = bytes.slice();
    writing = writing.then(() => port.write(copy)).catch(() => {});
  };
  // Paced: the device's bytes reach the port when the timing model says (paced.ts).
  const paced = timing ? new PacedLink(device, realClock, send, timing) : undefined;
  if (!paced) device.onTransmit(send);
  const pump = (async () => {
    while (!stopped) {
      let bytes: Uint8Array;
      try {
        bytes = await port.read(100);
      } catch {
        // The host side of this port is gone for good: nothing more to serve.
        return;
      }
      if (stopped) break;
      await beforeReceive?.(bytes);
      if (bytes.length > 0) {
        if (paced) paced.receive(bytes);
        else device.receive(bytes);
      }
    }
  })();
  return {
    close: async () => {
      stopped = true;
      await pump;
      paced?.close();
      await writing;
      device.onTransmit(() => {});
      device.dispose();
    },
  };
}

/** Options of {@link servePty}. */
export interface PtyOptions {
  /**
   * Also make `link` a symbolic link to the pty (replacing a link left by an
   * earlier run), so clients have a path that stays the same across runs,
   * as /dev/serial/by-id/ links stay for a USB device plugged in again.
   * Removed on close.
   */
  link?: string;
  /** Pace the device in real time by the timing model, with these parameters (paced.ts). */
  timing?: Partial<TimingParams>;
}

/** Points the symbolic link `link` at `target`; refuses to replace anything but a link. */
async function replaceLink(link: string, target: string): Promise<void> {
  try {
    if (!(await Deno.lstat(link)).isSymlink) {
      throw new EspdeltaError(
        "USAGE",
        `${link} exists and is not a symbolic link; choose another path for the link`,
      );
    }
    await Deno.remove(link);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await Deno.symlink(target, link);
}

/** Creates a pty pair and serves `device` on it, with the board model of the module doc. */
export async function servePty(device: VirtualDevice, options: PtyOptions = {}): Promise<Served> {
  const pair = await openPtyPair();
  let armed = false;
  const served = servePort(device, pair.master, async (bytes) => {
    if (pair.takeFirstOpens() > 0) {
      armed = true;
      await pair.dropUnread();
    }
    if (!armed || !bytes.includes(0xc0)) return;
    armed = false;
    // A flasher's reset sequence, had the port carried it: only a chip outside its loaders notices.
    if (device.mode === "app") device.pulseEn("download");
  }, options.timing);
  if (options.link) {
    try {
      await replaceLink(options.link, pair.slavePath);
    } catch (e) {
      await served.close();
      await pair.close();
      throw e;
    }
  }
  return {
    path: pair.slavePath,
    link: options.link,
    close: async () => {
      await served.close();
      if (options.link) await Deno.remove(options.link).catch(() => {});
      await pair.close();
    },
  };
}

/**
 * Serves a virtual device behind a real pseudo-terminal, so the whole tool
 * (or any other flasher, or ser2net) can open it as a serial port. A pty has
 * no modem lines, so there is no reset: the chip keeps its state between
 * clients, as a board with its auto-reset circuit disconnected would.
 * @module
 */

import { openPtyPair } from "../serial/pty.ts";
import type { Port } from "../serial/port.ts";
import type { VirtualDevice } from "./device.ts";

/** A device served on a port until close(). */
export interface Served {
  /** The path clients open. */
  path: string;
  /** Stops serving and releases the port. */
  close(): Promise<void>;
}

/** Pumps bytes between `port` and `device` until close(). */
export function servePort(device: VirtualDevice, port: Port): { close(): Promise<void> } {
  let stopped = false;
  let writing = Promise.resolve();
  device.onTransmit((bytes) => {
    const copy = bytes.slice();
    writing = writing.then(() => port.write(copy)).catch(() => {});
  });
  const pump = (async () => {
    while (!stopped) {
      const bytes = await port.read(100);
      if (bytes.length > 0 && !stopped) device.receive(bytes);
    }
  })();
  return {
    close: async () => {
      stopped = true;
      await pump;
      await writing;
      device.onTransmit(() => {});
      device.dispose();
    },
  };
}

/** Creates a pty pair and serves `device` on it. */
export async function servePty(device: VirtualDevice): Promise<Served> {
  const pair = await openPtyPair();
  const served = servePort(device, pair.master);
  return {
    path: pair.slavePath,
    close: async () => {
      await served.close();
      await pair.close();
    },
  };
}

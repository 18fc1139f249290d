/**
 * Serves a virtual device on TCP so any flasher that speaks `socket://` can
 * drive it. One client at a time: a second connection is closed at once, as
 * a serial port held by another program would refuse it. Each accepted
 * connection power-cycles the chip into download mode (flash kept), like a
 * board whose USB bridge resets it when the port opens. A raw socket has no
 * baud rate, so bytes pass whatever CHANGE_BAUDRATE said. With `timing`,
 * the device's replies are paced in real time by the timing model
 * (paced.ts), at the rate CHANGE_BAUDRATE set.
 * @module
 */

import { realClock, type TimerClock } from "../clock.ts";
import type { VirtualDevice } from "./device.ts";
import { PacedLink } from "./paced.ts";
import type { TimingParams } from "./timing_model.ts";

/** Options of {@link serveTcp}. */
export interface TcpOptions {
  /** Address to listen on. */
  hostname: string;
  /** Port; 0 picks a free one. */
  port: number;
  /**
   * Pace the device in real time by the timing model (paced.ts), with these
   * parameters over the defaults. Default: off (bytes pass at once).
   */
  timing?: Partial<TimingParams>;
  /** The device's clock, for the pacing (default: the real one). */
  clock?: TimerClock;
}

/** A running server. */
export interface TcpServer {
  /** Bound address. */
  hostname: string;
  /** Bound port (useful when 0 was asked). */
  port: number;
  /** Stops listening and drops the client. */
  close(): Promise<void>;
}

/** Listens on `hostname:port` (port 0 picks a free one). */
export function serveTcp(
  device: VirtualDevice,
  options: TcpOptions,
): Promise<TcpServer> {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  let client: Deno.Conn | undefined;
  let closed = false;
  const tasks = new Set<Promise<void>>();

  const serve = async (conn: Deno.Conn) => {
    client = conn;
    let writing = Promise.resolve();
    const send = (bytes: Uint8Array) => {
      const copy = bytes.slice();
      writing = writing.then(async () => {
        let off = 0;
        while (off < copy.length) off += await conn.write(copy.subarray(off));
      }).catch(() => {});
    };
    const paced = options.timing
      ? new PacedLink(device, options.clock ?? realClock, send, options.timing)
      : undefined;
    if (!paced) device.onTransmit(send);
    device.powerCycle("download");
    const buf = new Uint8Array(65536);
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        // Baud is meaningless on a socket: keep the device's idea of it in step.
        if (paced) paced.receive(buf.slice(0, n));
        else device.receive(buf.subarray(0, n));
      }
    } catch {
      // Connection reset or closed by close(): end of this client.
    } finally {
      paced?.close();
      await writing;
      device.onTransmit(() => {});
      device.dispose();
      try {
        conn.close();
      } catch { /* already closed */ }
      if (client === conn) client = undefined;
    }
  };

  const accept = (async () => {
    try {
      for await (const conn of listener) {
        if (closed) {
          conn.close();
          break;
        }
        if (client) {
          conn.close();
          continue;
        }
        const t = serve(conn);
        tasks.add(t);
        t.finally(() => tasks.delete(t));
      }
    } catch {
      // listener closed
    }
  })();

  const addr = listener.addr as Deno.NetAddr;
  return Promise.resolve({
    hostname: addr.hostname,
    port: addr.port,
    close: async () => {
      closed = true;
      listener.close();
      try {
        client?.close();
      } catch { /* already closed */ }
      await accept;
      await Promise.all([...tasks]);
    },
  });
}

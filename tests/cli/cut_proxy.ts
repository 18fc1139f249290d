/**
 * A TCP proxy in front of a socket:// device that dies the way a server
 * does, at a chosen byte: it closes the connection in order (FIN: the
 * client reads EOF) or resets it (RST: ECONNRESET), and stops listening,
 * so the client's attempts to connect again are refused. node:net, because
 * its resetAndDestroy sends a real RST (SO_LINGER 0), which Deno.Conn
 * cannot.
 * @module
 */

import net from "node:net";

/** How the proxy dies. */
export type Cut = "eof" | "reset";

/** A running proxy. */
export interface CutProxy {
  /** socket:// URL of the proxy. */
  url: string;
  /** Bytes the client has sent so far (through all its connections). */
  readonly clientBytes: number;
  /** Resolves once the cut happened. */
  cut: Promise<void>;
  /** Stops everything. */
  close(): Promise<void>;
}

/**
 * Forwards 127.0.0.1:<free port> to `upstream` (host:port) until the client
 * has sent `cutAfter` bytes, then dies as `how` says.
 */
export async function cutProxy(
  upstream: { hostname: string; port: number },
  cutAfter: number,
  how: Cut,
): Promise<CutProxy> {
  let clientBytes = 0;
  let cutDone!: () => void;
  const cut = new Promise<void>((r) => cutDone = r);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    const up = net.connect(upstream.port, upstream.hostname);
    sockets.add(up);
    let dead = false;
    up.on("data", (d) => {
      if (!dead) client.write(d);
    });
    up.on("error", () => {});
    client.on("error", () => {});
    client.on("close", () => up.destroy());
    client.on("data", (d) => {
      if (dead) return; // after an orderly close: read and dropped, so no RST follows
      clientBytes += d.length;
      if (clientBytes < cutAfter) {
        up.write(d);
        return;
      }
      dead = true;
      up.destroy();
      server.close();
      if (how === "reset") client.resetAndDestroy();
      else client.end();
      cutDone();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `socket://127.0.0.1:${port}`,
    get clientBytes() {
      return clientBytes;
    },
    cut,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

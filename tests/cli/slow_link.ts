/**
 * A TCP relay that passes the host's bytes to a served virtual device at a
 * bounded rate, so a flash over socket:// lasts long enough for a test to
 * interrupt it, close its output, or fill its pipes in the middle.
 * @module
 */

/** A running relay. */
export interface SlowLink {
  /** socket:// URL of the relay. */
  url: string;
  /** Holds the host's bytes from now on (the device hears nothing more). */
  pause(): void;
  /** Stops relaying and closes every connection. */
  close(): Promise<void>;
}

/**
 * Listens on a free local port and relays each connection to
 * `127.0.0.1:target`, host-to-device bytes at `bytesPerSecond` (in 1 KiB
 * slices), device-to-host bytes as they come.
 */
export function slowLink(target: number, bytesPerSecond: number): SlowLink {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const tasks: Promise<void>[] = [];
  let paused: Promise<void> | undefined;
  let release = () => {};
  const pipe = async (from: Deno.Conn, to: Deno.Conn, rate?: number) => {
    const buf = new Uint8Array(rate ? 1024 : 65536);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        if (rate && paused) await paused;
        for (let off = 0; off < n;) off += await to.write(buf.subarray(off, n));
        if (rate) await new Promise((r) => setTimeout(r, n / rate * 1000));
      }
    } catch { /* either side closed */ }
    try {
      to.close();
    } catch { /* closed */ }
    try {
      from.close();
    } catch { /* closed */ }
  };
  const accepting = (async () => {
    for await (const host of listener) {
      let device: Deno.Conn;
      try {
        device = await Deno.connect({ hostname: "127.0.0.1", port: target });
      } catch {
        host.close();
        continue;
      }
      conns.add(host);
      conns.add(device);
      tasks.push(pipe(host, device, bytesPerSecond), pipe(device, host));
    }
  })().catch(() => {});
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    url: `socket://127.0.0.1:${port}`,
    pause: () => {
      paused ??= new Promise((r) => release = r);
    },
    close: async () => {
      release();
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await accepting;
      await Promise.all(tasks);
    },
  };
}

/**
 * Loopback ports for test servers that are killed and started again on the
 * same port. A port from the kernel's ephemeral range (what binding port 0
 * gives) can be taken between the probe and the server's bind, or while the
 * server is down, by any outgoing connection on the machine (or a client
 * reconnecting to it, connected to itself); ports below that range are
 * never handed out that way.
 * @module
 */

/** The low end of the kernel's ephemeral port range (32768 when unreadable). */
function ephemeralLow(): number {
  try {
    const low = Number(
      Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").split(/\s+/)[0],
    );
    return Number.isInteger(low) && low > 11000 ? low : 32768;
  } catch {
    return 32768;
  }
}

/** A loopback port nothing listens on, picked at random below the ephemeral range. */
export function freePort(): number {
  const low = ephemeralLow();
  for (let i = 0; i < 100; i++) {
    const port = 10000 + Math.floor(Math.random() * (low - 10000));
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch { /* taken: another */ }
  }
  throw new Error("no free loopback port below the ephemeral range");
}

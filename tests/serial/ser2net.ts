/**
 * Starts a real ser2net (Debian package) on 127.0.0.1 with an RFC 2217 port
 * in front of a tty. Fails loudly when ser2net is missing: CI installs it.
 * @module
 */

import { freePort } from "../free_port.ts";

/** A running ser2net. */
export interface Ser2net {
  /** rfc2217:// URL of the served tty. */
  url: string;
  /** Kills ser2net with SIGKILL (its sessions drop) and waits until it is gone. */
  kill(): Promise<void>;
  /** Starts ser2net again on the same port and tty (after kill), once it listens. */
  restart(): Promise<void>;
  /** Stops ser2net and removes its config (again: nothing). */
  stop(): Promise<void>;
}

/** Serves `tty` over RFC 2217 on a free loopback port. */
export async function startSer2net(tty: string): Promise<Ser2net> {
  const dir = await Deno.makeTempDir({ prefix: "espdelta-ser2net-" });
  const port = freePort();
  const cfg = `${dir}/ser2net.yaml`;
  await Deno.writeTextFile(
    cfg,
    [
      "%YAML 1.1",
      "---",
      "connection: &esp",
      `  accepter: telnet(rfc2217),tcp,127.0.0.1,${port}`,
      `  connector: serialdev,${tty},115200n81,local`,
      "  options:",
      "    kickolduser: true",
      "",
    ].join("\n"),
  );
  const spawn = () =>
    new Deno.Command("ser2net", {
      args: ["-n", "-d", "-c", cfg, "-P", `${dir}/ser2net.pid`],
      stdout: "null",
      stderr: "null",
    }).spawn();
  let proc: Deno.ChildProcess;
  try {
    proc = spawn();
  } catch (e) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(
      `ser2net is not installed (${
        (e as Error).message
      }); install it with 'apt-get install ser2net'`,
    );
  }
  await listening(port);
  return {
    url: `rfc2217://127.0.0.1:${port}`,
    kill: async () => {
      try {
        proc.kill("SIGKILL");
      } catch { /* gone */ }
      await proc.status;
    },
    restart: async () => {
      proc = spawn();
      await listening(port);
    },
    stop: async () => {
      try {
        proc.kill("SIGTERM");
      } catch { /* gone */ }
      await proc.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Waits (up to 5 s) until something listens on 127.0.0.1:`port`, read from
 * /proc/net/tcp: a probe connection would be a session, and with
 * kickolduser it would kick the client off.
 */
async function listening(port: number): Promise<void> {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  for (let i = 0; i < 100; i++) {
    const table = await Deno.readTextFile("/proc/net/tcp");
    if (table.split("\n").some((l) => l.trim().split(/\s+/)[1] === local && l.includes(" 0A "))) {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

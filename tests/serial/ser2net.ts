/**
 * Starts a real ser2net (Debian package) on 127.0.0.1 with an RFC 2217 port
 * in front of a tty. Fails loudly when ser2net is missing: CI installs it.
 * @module
 */

/** A running ser2net. */
export interface Ser2net {
  /** rfc2217:// URL of the served tty. */
  url: string;
  /** Stops ser2net and removes its config. */
  stop(): Promise<void>;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
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
  let proc: Deno.ChildProcess;
  try {
    proc = new Deno.Command("ser2net", {
      args: ["-n", "-d", "-c", cfg, "-P", `${dir}/ser2net.pid`],
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch (e) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(
      `ser2net is not installed (${
        (e as Error).message
      }); install it with 'apt-get install ser2net'`,
    );
  }
  // Wait until it listens.
  for (let i = 0; i < 100; i++) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url: `rfc2217://127.0.0.1:${port}`,
    stop: async () => {
      try {
        proc.kill("SIGTERM");
      } catch { /* gone */ }
      await proc.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

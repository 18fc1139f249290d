import { assertEquals } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { espdelta } from "./run.ts";

const runIn = (cwd: string, args: string[], env: Record<string, string> = {}) =>
  espdelta(args, env, cwd);

Deno.test("espdelta.json and ESPDELTA_* set defaults; the command line wins; --trace says where", async () => {
  const device = new VirtualDevice({ chip: "esp32c6" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const dir = await Deno.makeTempDir();
  try {
    const url = `socket://127.0.0.1:${server.port}`;
    await Deno.writeTextFile(
      `${dir}/espdelta.json`,
      JSON.stringify({ port: url, chip: "esp32c6" }),
    );
    const r = await runIn(dir, ["--trace", "read-mac"], { ESPDELTA_BAUD: "230400" });
    assertEquals(r.code, 0, r.stderr);
    const trace = r.stderr.split("\n").filter((l) =>
      l.startsWith("trace ") && l.includes(" (from ")
    );
    assertEquals(trace.slice(0, 3), [
      `trace port = ["${url}"] (from espdelta.json)`,
      "trace baud = 230400 (from environment)",
      'trace chip = "esp32c6" (from espdelta.json)',
    ]);
    // The command line beats the file: a wrong chip on the command line is refused.
    const wrong = await runIn(dir, ["--chip", "esp32", "read-mac"]);
    assertEquals([wrong.code, wrong.stderr.trim()], [
      2,
      "error: this chip is ESP32-C6, not ESP32; use --chip esp32c6 or --chip auto",
    ]);
    await Deno.writeTextFile(`${dir}/espdelta.json`, '{"prot": 1}');
    const bad = await runIn(dir, ["read-mac"]);
    assertEquals([bad.code, bad.stderr.trim()], [
      2,
      "error: ./espdelta.json: unknown key 'prot'; known keys: port, baud, chip, before, after, stub, connectAttempts",
    ]);
    await Deno.writeTextFile(`${dir}/espdelta.json`, "{port:");
    const broken = await runIn(dir, ["read-mac"]);
    assertEquals(broken.code, 2);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

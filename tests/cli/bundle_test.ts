/**
 * The offline stand-in for `deno compile` (which downloads a runtime): a
 * `deno bundle` of cli.ts must show its help and do a real round trip
 * against the virtual device.
 */
import { runProgram } from "./run.ts";
import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";

const FW = new URL("../../../shared/testdata/firmware/", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;

const run = (args: string[]) =>
  runProgram(Deno.execPath(), args, { cwd: ROOT, env: { NO_COLOR: "1" } });

Deno.test("deno bundle: the single-file CLI shows help and flashes the virtual device", async () => {
  const dir = await Deno.makeTempDir();
  const bundle = `${dir}/espdelta.js`;
  const device = new VirtualDevice({ chip: "esp32c3" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  try {
    const b = await run(["bundle", "--quiet", "--platform", "deno", "-o", bundle, "cli.ts"]);
    assertEquals(b.code, 0, b.stderr);
    const help = await run(["run", "-A", bundle, "--help"]);
    assertEquals(help.code, 0);
    assertOk(help.stdout.startsWith("Usage: espdelta [options] [command]"), help.stdout);
    const image = `${FW}bootloader_esp32c3.bin`;
    const w = await run([
      "run",
      "-A",
      bundle,
      "-p",
      `socket://127.0.0.1:${server.port}`,
      "flash",
      "0x0",
      image,
    ]);
    assertEquals([w.code, w.stdout.trim().split("\n").at(-1)], [
      0,
      "full: bootloader 0x0 (5 of 5 sectors)",
    ]);
    const bytes = await Deno.readFile(image);
    assertEquals(device.flash.data.subarray(0, bytes.length), bytes);
    assertEquals(device.mode, "stub");
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

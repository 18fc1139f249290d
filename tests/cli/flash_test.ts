import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { espdelta } from "./run.ts";
import { changeByte } from "../firmware.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url).pathname;

Deno.test("flash: full first, verify-skip next, after a one-byte change its sector and the digest's; JSON events", async () => {
  const device = new VirtualDevice({ chip: "esp32" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const dir = await Deno.makeTempDir();
  try {
    const url = `socket://127.0.0.1:${server.port}`;
    const app = `${dir}/app.bin`;
    const bytes = await Deno.readFile(`${FW}hello-world-signed_esp32.bin`);
    await Deno.writeFile(app, bytes);
    const args = ["-p", url, "flash", "0x1000", `${FW}bootloader_esp32.bin`, "0x10000", app];

    const first = await espdelta(args);
    assertEquals([first.code, first.stdout.trim().split("\n").at(-1)], [
      0,
      "full: bootloader 0x1000 (2 of 2 sectors), app 0x10000 (48 of 48 sectors)",
    ]);

    device.flash.resetCounters();
    const again = await espdelta(args);
    assertEquals(
      again.stdout.trim().split("\n").at(-1),
      "verify-skip: 2 regions already on the device (bootloader, app)",
    );
    assertEquals(device.flash.touchedSectors(), []);

    await Deno.writeFile(app, changeByte(bytes, 0x2_1234));
    const plan = await espdelta(["-p", url, "plan", "0x10000", app]);
    assertOk(
      plan.stdout.includes("app     0x10000  196608  48       write   0x31000 0x3f000"),
      plan.stdout,
    );
    assertEquals(device.flash.touchedSectors(), []);

    const json = await espdelta(["--json", ...args]);
    assertEquals(json.code, 0);
    const events = json.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(events.map((e) => e.type), [
      "connected",
      "plan",
      "progress",
      "progress",
      "progress",
      "progress",
      "region-done",
      "region-done",
      "outcome",
    ]);
    const outcome = events.at(-1);
    assertEquals(outcome.outcome, "selective");
    assertEquals(outcome.regions, [
      { name: "bootloader", offset: 0x1000, sectors: 2, written: 0, ranges: [] },
      { name: "app", offset: 0x10000, sectors: 48, written: 2, ranges: [[0x21, 1], [0x2f, 1]] },
    ]);
    assertEquals(device.flash.touchedSectors(), [0x31, 0x3f]);
    for (const e of events) {
      assertOk(typeof e.time === "string" && !Number.isNaN(Date.parse(e.time)));
    }
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("emulate --tcp serves until SIGTERM and keeps flash in --flash-file", async () => {
  const dir = await Deno.makeTempDir();
  const flashFile = `${dir}/flash.bin`;
  const cli = new URL("../../cli.ts", import.meta.url).pathname;
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      cli,
      "--chip",
      "esp32c6",
      "emulate",
      "--tcp",
      `127.0.0.1:${port}`,
      "--flash-size",
      "2MB",
      "--flash-file",
      flashFile,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    assertEquals(
      new TextDecoder().decode(value),
      `ESP32-C6 with 2 MB flash on socket://127.0.0.1:${port}\n`,
    );
    reader.releaseLock();
    const r = await espdelta([
      "-p",
      `socket://127.0.0.1:${port}`,
      "write-flash",
      "0x0",
      `${FW}bootloader_esp32c6.bin`,
    ]);
    assertEquals(r.code, 0);
  } finally {
    child.kill("SIGTERM");
    const status = await child.status;
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel();
    assertEquals(status.code, 0);
  }
  const saved = await Deno.readFile(flashFile);
  const boot = await Deno.readFile(`${FW}bootloader_esp32c6.bin`);
  assertEquals(saved.length, 2 * 1024 * 1024);
  assertEquals(saved.subarray(0, boot.length), boot);
  await Deno.remove(dir, { recursive: true });
});

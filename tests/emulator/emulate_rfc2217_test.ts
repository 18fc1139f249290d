/**
 * `espdelta emulate --rfc2217` end to end, as a user runs it: the server in
 * one process, the CLI in another, over a real socket.
 */

import { assertEquals, assertOk } from "../assert.ts";
import { espdelta } from "../cli/run.ts";
import { openRfc2217 } from "../../src/serial/rfc2217.ts";
import { firmware } from "./raw.ts";
import { appImage } from "./images.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

/** Starts `espdelta --chip CHIP emulate --rfc2217 127.0.0.1:0 ...` and returns its URL. */
async function emulate(chip: string, extra: string[] = []) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      CLI,
      "--chip",
      chip,
      "emulate",
      "--rfc2217",
      "127.0.0.1:0",
      ...extra,
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  const url = /rfc2217:\/\/[\d.]+:\d+/.exec(out)?.[0];
  return {
    url,
    first: out.trim(),
    stop: async () => {
      child.kill("SIGTERM");
      reader.releaseLock();
      await child.stdout.cancel();
      await child.stderr.cancel();
      await child.status;
    },
  };
}

Deno.test("emulate --rfc2217: the default reset connects; a --reset-sequence holding IO0 high boots the app", async () => {
  const dir = await Deno.makeTempDir();
  const flash = new Uint8Array(4 << 20).fill(0xff);
  flash.set(firmware("bootloader_esp32_v5_2.bin"), 0x1000);
  flash.set(firmware("partitions_singleapp.bin"), 0x8000);
  flash.set(appImage("esp32", { projectName: "blink", version: "1.2.0" }), 0x10000);
  await Deno.writeFile(`${dir}/flash.bin`, flash);
  const e = await emulate("esp32", ["--flash-file", `${dir}/flash.bin`]);
  try {
    assertOk(e.url, e.first);
    assertEquals(e.first, `ESP32 with 4 MB flash on ${e.url}`);
    const id = await espdelta(["-p", e.url!, "--no-stub", "chip-id"]);
    assertEquals([id.code, id.stdout.split("\n")[0]], [0, `Connected to ESP32 on ${e.url}`]);
    // EN pulsed with DTR released (IO0 high): the chip boots its flash, and says so.
    const app = await espdelta([
      "-p",
      e.url!,
      "--no-stub",
      "--connect-attempts",
      "1",
      "--reset-sequence",
      "D0|R1|W0.1|R0",
      "chip-id",
    ]);
    assertEquals(app.code, 1);
    assertOk(
      app.stderr.includes(
        "The chip printed boot mode 0x13 (SPI_FAST_FLASH_BOOT): it is not in download mode",
      ),
      app.stderr,
    );
    // Reopening the port to watch: the app runs (its heartbeat), no fresh banner.
    const port = await openRfc2217(e.url!);
    let seen = "";
    for (let i = 0; i < 25 && !seen.includes("heartbeat"); i++) {
      seen += new TextDecoder().decode(await port.read(100));
    }
    await port.close();
    assertOk(
      /I \(\d+\) main: heartbeat \d+\r\n/.test(seen) && !seen.includes("ets Jun"),
      JSON.stringify(seen),
    );
  } finally {
    await e.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("emulate --rfc2217 --usb-serial-jtag: only with --rfc2217 and a chip that has the port", async () => {
  const bad = await espdelta([
    "--chip",
    "esp32",
    "emulate",
    "--rfc2217",
    "127.0.0.1:0",
    "--usb-serial-jtag",
  ]);
  assertEquals([bad.code, bad.stderr.trim()], [
    2,
    "error: ESP32 has no USB-Serial/JTAG port; use --chip esp32s3, esp32c3, esp32c5, esp32c6, esp32h2, esp32p4",
  ]);
  const noPort = await espdelta([
    "--chip",
    "esp32c3",
    "emulate",
    "--tcp",
    "127.0.0.1:0",
    "--usb-serial-jtag",
  ]);
  assertEquals([noPort.code, noPort.stderr.trim()], [
    2,
    "error: --usb-serial-jtag needs --rfc2217 HOST:PORT: its DTR/RTS need a port that carries them",
  ]);
  const two = await espdelta(["emulate", "--rfc2217", "127.0.0.1:0", "--pty"]);
  assertEquals([two.code, two.stderr.trim()], [
    2,
    "error: emulate needs exactly one of --tcp HOST:PORT, --rfc2217 HOST:PORT or --pty",
  ]);
  const e = await emulate("esp32c3", ["--usb-serial-jtag"]);
  try {
    assertEquals(e.first, `ESP32-C3 with 4 MB flash on ${e.url} (USB-Serial/JTAG)`);
    const id = await espdelta(["-p", e.url!, "--no-stub", "--before", "usb-reset", "chip-id"]);
    assertEquals([id.code, id.stdout.split("\n")[0]], [
      0,
      `Connected to ESP32-C3 on ${e.url}`,
    ]);
  } finally {
    await e.stop();
  }
});

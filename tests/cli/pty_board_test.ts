/**
 * The virtual board across runs, as a board on a desk behaves: on a pty a
 * client that left the chip in its app does not lock the next flasher out
 * (its first frame finds the chip reset into download mode), a monitor that
 * only listens sees the app still running, and a flasher stub left running
 * (`--after no-reset-stub`, esptool v5's `--after no-reset` with
 * esp-flasher-stub) is found and used by the next command. Over RFC 2217,
 * where DTR/RTS reach the board, `--before no-reset` finds the stub and
 * the default reset gets the ROM back.
 */
import { assertEquals, assertOk } from "../assert.ts";
import { openPosix } from "../../src/serial/posix.ts";
import { encodeCommand } from "../../src/protocol/packet.ts";
import { SlipDecoder, slipEncode } from "../../src/protocol/slip.ts";
import { flashEnd, sync } from "../../src/protocol/commands.ts";
import type { Port } from "../../src/serial/port.ts";
import { freePort, startEmulator } from "./processes.ts";
import { espdelta } from "./run.ts";

const BUILD = new URL("../../testdata/rebuilds/lidar-esp32/build/", import.meta.url).pathname;
const STUB_STARTED = "device: esp-flasher-stub v1.2.x (esptool v5, esptool-js 0.7.0) started";
const ALREADY = "trace the flasher stub is already running (it answered SYNC with 0): no upload";

/** A 4 MB flash file holding the lidar build: the chip boots it into its app. */
async function bootableFlash(file: string): Promise<void> {
  const flash = new Uint8Array(4 << 20).fill(0xff);
  flash.set(await Deno.readFile(`${BUILD}bootloader/bootloader.bin`), 0x1000);
  flash.set(await Deno.readFile(`${BUILD}partition_table/partition-table.bin`), 0x8000);
  flash.set(await Deno.readFile(`${BUILD}app-template.bin`), 0x10000);
  await Deno.writeFile(file, flash);
}

/** Reads text from `port` until `until` matches it or `ms` pass; returns all of it. */
async function readText(port: Port, ms: number, until?: RegExp): Promise<string> {
  let text = "";
  const end = performance.now() + ms;
  while (performance.now() < end && !(until && until.test(text))) {
    text += new TextDecoder().decode(await port.read(100));
  }
  return text;
}

Deno.test("pty: a client leaves the chip in its app; a monitor sees the app, the next flasher connects", async () => {
  const dir = await Deno.makeTempDir();
  await bootableFlash(`${dir}/flash.bin`);
  const emu = await startEmulator("esp32", ["--pty", "--flash-file", `${dir}/flash.bin`]);
  try {
    // Like a flasher that ends by running the app: SYNC, then FLASH_END "run".
    const client = await openPosix(emu.url, { baud: 115200 });
    const s = sync();
    await client.write(slipEncode(encodeCommand(s.op, s.data)));
    const frames = new SlipDecoder();
    let synced = false;
    for (let i = 0; i < 20 && !synced; i++) {
      synced = frames.push(await client.read(100)).some((f) => f[0] === 1 && f[1] === s.op);
    }
    assertOk(synced, "the ROM answered SYNC");
    const end = flashEnd({ run: false });
    await client.write(slipEncode(encodeCommand(end.op, end.data)));
    const boot = await readText(client, 5000, /main: heartbeat 1/);
    assertOk(boot.includes("main: heartbeat 1"), boot.slice(-500));
    await client.close();

    // A monitor opens the port and only listens: the app runs on, nothing stale comes first.
    const monitor = await openPosix(emu.url, { baud: 115200 });
    const seen = await readText(monitor, 2500, /heartbeat \d+\r?\n.*heartbeat/s);
    await monitor.close();
    assertOk(/I \(\d+\) main: heartbeat \d+/.test(seen), seen);
    assertOk(!seen.includes("ets Jun  8 2016") && !seen.includes("waiting for download"), seen);

    // The app ignores the loader protocol, but a flasher's first frame finds it reset.
    const mac = await espdelta(["-p", emu.url, "read-mac"]);
    assertEquals([mac.code, mac.stdout.split("\n").at(-2)], [0, "MAC: 24:0a:c4:37:79:b1"]);
  } finally {
    await emu.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pty: --after no-reset-stub leaves the stub running; the next command finds and uses it", async () => {
  const emu = await startEmulator("esp32", ["--pty"]);
  try {
    const first = await espdelta(["-p", emu.url, "--after", "no-reset-stub", "chip-id"]);
    assertEquals(first.code, 0, first.stderr);
    const next = await espdelta(["-p", emu.url, "--before", "no-reset", "--trace", "read-mac"]);
    assertEquals(next.code, 0, next.stderr);
    assertOk(next.stderr.split("\n").includes(ALREADY), next.stderr);
    assertOk(next.stdout.startsWith(`Connected to ESP32 on ${emu.url} (stub)\n`), next.stdout);
    // esp-flasher-stub never reboots on FLASH_END: after esptool v5's --after no-reset too.
    assertEquals((await espdelta(["-p", emu.url, "--after", "no-reset", "read-mac"])).code, 0);
    const last = await espdelta(["-p", emu.url, "--trace", "read-mac"]);
    assertOk(last.stderr.split("\n").includes(ALREADY), last.stderr);
    await emu.stop();
    assertEquals(emu.stdout.lines.filter((l) => l === STUB_STARTED).length, 1);
  } finally {
    await emu.stop();
  }
});

Deno.test("pty: --after no-reset with the legacy stub leaves it for the ROM loader, as esptool does", async () => {
  const emu = await startEmulator("esp32", ["--pty", "--stub-kind", "legacy"]);
  try {
    const first = await espdelta(["-p", emu.url, "--after", "no-reset", "--trace", "read-mac"]);
    assertEquals(first.code, 0, first.stderr);
    // FLASH_BEGIN of nothing, then FLASH_END asking for a reboot (data word 0).
    assertOk(
      first.stderr.includes("trace TX FLASH_END 4B 000404000000000000000000"),
      first.stderr,
    );
    const next = await espdelta(["-p", emu.url, "--trace", "read-mac"]);
    assertEquals(next.code, 0, next.stderr);
    assertOk(!next.stderr.includes(ALREADY), next.stderr);
    await emu.stop();
    // The stub was uploaded again: the chip was back in its ROM.
    assertEquals(emu.stdout.lines.filter((l) => l.endsWith("run as the legacy stub")).length, 2);
  } finally {
    await emu.stop();
  }
});

Deno.test("rfc2217: --before no-reset finds the stub left running; the default reset gets the ROM back", async () => {
  const emu = await startEmulator("esp32", ["--rfc2217", `127.0.0.1:${freePort()}`]);
  try {
    const args = ["-p", emu.url, "-b", "115200"];
    assertEquals((await espdelta([...args, "--after", "no-reset-stub", "read-mac"])).code, 0);
    const kept = await espdelta([...args, "--before", "no-reset", "--trace", "read-mac"]);
    assertEquals(kept.code, 0, kept.stderr);
    assertOk(kept.stderr.split("\n").includes(ALREADY), kept.stderr);
    const reset = await espdelta([...args, "--trace", "read-mac"]);
    assertEquals(reset.code, 0, reset.stderr);
    assertOk(!reset.stderr.includes(ALREADY), reset.stderr);
    await emu.stop();
    assertEquals(emu.stdout.lines.filter((l) => l === STUB_STARTED).length, 2);
  } finally {
    await emu.stop();
  }
});

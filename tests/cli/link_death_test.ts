/**
 * Every way a link dies mid-write ends `espdelta flash` the same way: one
 * line on stderr saying the device was lost and that running the same
 * command again resumes, exit code 1, a JSON `error` event with code
 * LINK_LOST; and the same command run again finishes the job. Where the
 * port comes back within the window (a server restarted, a device node
 * back), the run reconnects and resumes by itself.
 *
 * Real where this machine can make the fault: a proxy that closes (EOF) or
 * resets (ECONNRESET) the TCP connection, the `emulate --pty` process
 * killed (the client's tty hangs up), ser2net killed (the RFC 2217 session
 * drops). Injected at the syscall boundary where it cannot (no USB device
 * to unplug): EPIPE on a socket write, EIO and ENXIO on the tty
 * (unplug_preload.ts), the rest of the process being the real CLI.
 */
import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { readCounters } from "../../src/emulator/flash_file.ts";
import { cutProxy } from "./cut_proxy.ts";
import { freePort, type Proc, spawnEspdelta, startEmulator } from "./processes.ts";
import { startSer2net } from "../serial/ser2net.ts";
import { espdelta } from "./run.ts";

const APP = new URL("../../testdata/rebuilds/heidelbridge-esp32/app-v1.bin", import.meta.url)
  .pathname;
const PRELOAD = new URL("./unplug_preload.ts", import.meta.url).pathname;
const IMAGE = await Deno.readFile(APP);
const APP_SECTORS = Math.ceil(IMAGE.length / 0x1000);

const SUFFIX = "; check the cable and power, then run the same command again: espdelta " +
  "re-plans and writes only what is still wrong";
const lostLine = (port: string, reason: string) =>
  `error: lost the device on ${port} during the write at 0x10000 (${reason}; it did not come ` +
  `back within 3 s)${SUFFIX}`;
const SOCKET = "the connection was closed by the other side";
const RFC2217 = "the RFC 2217 server closed the session";
const TTY = "the device is gone: unplugged, or the other side of the pty closed";

/**
 * The flash command every case runs. Its app alone is not bootable (no
 * bootloader in the flash), and ser2net in front of the emulator's pty
 * cannot pass DTR/RTS on: the boot check, not these cases' subject, is off.
 */
const flashArgs = (port: string) => [
  "-p",
  port,
  "--json",
  "flash",
  "--no-boot-check",
  "0x10000",
  APP,
];

/** Waits for the write to be under way (a progress event past 0), so the fault lands in it. */
async function writing(p: Proc): Promise<void> {
  const line = await p.stdout.waitLine((l) => /"type":"progress".*"done":[1-9]/.test(l));
  assertOk(line, `no progress: ${p.stdout.text}${p.stderr.text}`);
}

/** The run ended with the one line, exit 1, and a LINK_LOST error event. */
async function endsLost(p: Proc, line: string): Promise<void> {
  const code = await p.code();
  assertEquals([code, p.stderr.text], [1, `${line}\n`]);
  const events = p.stdout.lines.map((l) => JSON.parse(l));
  const last = events[events.length - 1];
  assertEquals([last.type, last.code, last.exitCode, `error: ${last.message}`], [
    "error",
    "LINK_LOST",
    1,
    line,
  ]);
}

/** The device holds the app at 0x10000. */
function holdsApp(flash: Uint8Array): void {
  assertOk(
    flash.subarray(0x10000, 0x10000 + IMAGE.length).every((b, i) => b === IMAGE[i]),
    "the app is on the flash",
  );
}

/** No sector outside the app's was erased or written (counters of a --flash-file). */
function onlyAppTouched(file: string): void {
  const c = readCounters(file);
  const outside = [];
  for (let s = 0; s < c.sectors; s++) {
    const inApp = s >= 0x10 && s < 0x10 + APP_SECTORS;
    if (!inApp && (c.erases[s] > 0 || c.writes[s] > 0)) outside.push(s);
  }
  assertEquals(outside, [], "sectors touched outside the app");
}

async function throughProxy(how: "eof" | "reset"): Promise<void> {
  const device = new VirtualDevice({ chip: "esp32" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const upstream = { hostname: "127.0.0.1", port: server.port };
  try {
    // How many bytes connecting and planning take, so the cut lands in the write.
    const probe = await cutProxy(upstream, Infinity, how);
    assertEquals((await espdelta(["-p", probe.url, "plan", "0x10000", APP])).code, 0);
    const planBytes = probe.clientBytes;
    await probe.close();

    const proxy = await cutProxy(upstream, planBytes + 60_000, how);
    const run = spawnEspdelta(flashArgs(proxy.url));
    await endsLost(run, lostLine(proxy.url, SOCKET));
    await proxy.close();
    const touched = device.flash.touchedSectors();
    assertOk(touched.length > 0 && touched.every((s) => s >= 0x10 && s < 0x10 + APP_SECTORS));

    const again = await espdelta([
      "-p",
      `socket://127.0.0.1:${server.port}`,
      "flash",
      "0x10000",
      APP,
    ]);
    assertEquals(again.code, 0, again.stderr);
    holdsApp(device.flash.data);
  } finally {
    await server.close();
  }
}

Deno.test("socket://, the server closes the connection (EOF): one line, exit 1; a re-run finishes", async () => {
  await throughProxy("eof");
});

Deno.test("socket://, the server resets the connection (ECONNRESET): one line, exit 1", async () => {
  await throughProxy("reset");
});

Deno.test("socket://, a write finds the server gone (EPIPE): one line, exit 1", async () => {
  const dir = await Deno.makeTempDir();
  const emu = await startEmulator("esp32", [
    "--tcp",
    `127.0.0.1:${freePort()}`,
    "--flash-file",
    `${dir}/flash.bin`,
  ]);
  try {
    const run = spawnEspdelta(flashArgs(emu.url), {
      denoArgs: ["--preload", PRELOAD],
      env: { ESPDELTA_TEST_UNPLUG: "EPIPE:200000" },
    });
    await endsLost(run, lostLine(emu.url, SOCKET));
    const again = await espdelta(["-p", emu.url, "flash", "0x10000", APP]);
    assertEquals(again.code, 0, again.stderr);
    await emu.stop();
    holdsApp(await Deno.readFile(`${dir}/flash.bin`));
    onlyAppTouched(`${dir}/flash.bin`);
  } finally {
    await emu.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pty: the emulator process killed mid-write, its tty hangs up: one line, exit 1", async () => {
  const dir = await Deno.makeTempDir();
  const args = ["--pty", "--link", `${dir}/tty`, "--flash-file", `${dir}/flash.bin`];
  let emu = await startEmulator("esp32", args);
  try {
    assertEquals(emu.url, `${dir}/tty`);
    const run = spawnEspdelta(flashArgs(emu.url));
    await writing(run);
    await emu.killHard();
    // As udev removes a /dev/serial/by-id link when its device goes.
    await Deno.remove(`${dir}/tty`);
    await endsLost(run, lostLine(`${dir}/tty`, TTY));
    // Nothing the chip wrote before it died is lost; the re-run finishes.
    emu = await startEmulator("esp32", args);
    const again = await espdelta(["-p", emu.url, "flash", "0x10000", APP]);
    assertEquals(again.code, 0, again.stderr);
    await emu.stop();
    holdsApp(await Deno.readFile(`${dir}/flash.bin`));
    onlyAppTouched(`${dir}/flash.bin`);
  } finally {
    await emu.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

for (const errno of ["EIO", "ENXIO"]) {
  Deno.test(`tty: ${errno} from the device (a USB-UART bridge unplugged): one line, exit 1`, async () => {
    const dir = await Deno.makeTempDir();
    const emu = await startEmulator("esp32", ["--pty", "--link", `${dir}/tty`]);
    try {
      const run = spawnEspdelta(flashArgs(emu.url), {
        denoArgs: ["--preload", PRELOAD],
        env: { ESPDELTA_TEST_UNPLUG: `${errno}:200000` },
      });
      await endsLost(run, lostLine(emu.url, TTY));
    } finally {
      await emu.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("rfc2217://, ser2net killed mid-write drops the session: one line, exit 1", async () => {
  const dir = await Deno.makeTempDir();
  const emu = await startEmulator("esp32", ["--pty", "--flash-file", `${dir}/flash.bin`]);
  const ser2net = await startSer2net(emu.url);
  try {
    const run = spawnEspdelta(flashArgs(ser2net.url));
    await writing(run);
    await ser2net.kill();
    await endsLost(run, lostLine(ser2net.url, RFC2217));
    await ser2net.restart();
    const again = await espdelta(["-p", ser2net.url, "flash", "--no-boot-check", "0x10000", APP]);
    assertEquals(again.code, 0, again.stderr);
    await emu.stop();
    holdsApp(await Deno.readFile(`${dir}/flash.bin`));
    onlyAppTouched(`${dir}/flash.bin`);
  } finally {
    await ser2net.stop();
    await emu.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Kills what serves the port mid-write (`kill`), starts it again at once
 * (`restart`): the run waits for the port, reconnects and resumes.
 */
async function resumes(
  url: string,
  kill: () => Promise<void>,
  restart: () => Promise<void>,
): Promise<void> {
  const run = spawnEspdelta(["--trace", ...flashArgs(url)]);
  await writing(run);
  await kill();
  await restart();
  const code = await run.code();
  assertEquals(code, 0, run.stderr.text.slice(-2000));
  const trace = run.stderr.lines;
  assertOk(trace.some((l) => l.endsWith("; waiting up to 3 s for it to come back")), url);
  assertOk(trace.some((l) => /is back after \d+ ms; reconnecting$/.test(l)), url);
  const outcome = run.stdout.lines.map((l) => JSON.parse(l)).find((e) => e.type === "outcome");
  assertEquals(outcome?.outcome, "full");
}

for (const kind of ["tcp", "pty"]) {
  Deno.test(`${kind}: the emulator killed mid-write and started again within 3 s: the run resumes`, async () => {
    const dir = await Deno.makeTempDir();
    const args = kind === "tcp"
      ? ["--tcp", `127.0.0.1:${freePort()}`, "--flash-file", `${dir}/flash.bin`]
      : ["--pty", "--link", `${dir}/tty`, "--flash-file", `${dir}/flash.bin`];
    let emu = await startEmulator("esp32", args);
    try {
      await resumes(emu.url, () => emu.killHard(), async () => {
        emu = await startEmulator("esp32", args);
      });
      await emu.stop();
      holdsApp(await Deno.readFile(`${dir}/flash.bin`));
      onlyAppTouched(`${dir}/flash.bin`);
    } finally {
      await emu.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("rfc2217: ser2net killed mid-write and started again within 3 s: the run resumes", async () => {
  const dir = await Deno.makeTempDir();
  const emu = await startEmulator("esp32", ["--pty", "--flash-file", `${dir}/flash.bin`]);
  const ser2net = await startSer2net(emu.url);
  try {
    await resumes(ser2net.url, () => ser2net.kill(), () => ser2net.restart());
    await emu.stop();
    holdsApp(await Deno.readFile(`${dir}/flash.bin`));
    onlyAppTouched(`${dir}/flash.bin`);
  } finally {
    await ser2net.stop();
    await emu.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

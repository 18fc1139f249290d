/**
 * `--baud auto` through the CLI, against virtual boards behind virtual USB
 * bridges: the rate chosen and why (the `connected` event, --trace), the
 * rate remembered per port in the cache folder, and the rate the bridge's
 * errors push it down to.
 * @module
 */

import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { servePty } from "../../src/emulator/pty.ts";
import { espdelta } from "./run.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url).pathname;

/** The `connected` event of a --json run. */
function connected(stdout: string): Record<string, unknown> {
  const line = stdout.split("\n").find((l) => l.includes('"type":"connected"'));
  if (!line) throw new Error(`no connected event in ${stdout}`);
  return JSON.parse(line);
}

Deno.test("--baud auto by default: a CP2102 board over TCP steps down from 2 Mbaud to 921600, remembers it, starts there next time", async () => {
  const device = new VirtualDevice({ chip: "esp32", bridge: "cp2102" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const cache = await Deno.makeTempDir();
  try {
    const url = `socket://127.0.0.1:${server.port}`;
    const env = { XDG_CACHE_HOME: cache };
    const r = await espdelta(["-p", url, "--json", "read-mac"], env);
    assertEquals(r.code, 0, r.stderr);
    const c = connected(r.stdout);
    assertEquals(c.baud, 921600);
    assertEquals(c.baudAuto, {
      reason: "2000000, 1500000 failed the link check; the next rate down, checked",
      tried: [
        {
          baud: 2000000,
          ok: false,
          error: (c.baudAuto as { tried: { error: string }[] }).tried[0].error,
        },
        {
          baud: 1500000,
          ok: false,
          error: (c.baudAuto as { tried: { error: string }[] }).tried[1].error,
        },
        { baud: 921600, ok: true },
      ],
      wireBaud: 921600,
    });
    assertOk(device.bridge!.corrupted > 0);
    const saved = JSON.parse(await Deno.readTextFile(`${cache}/espdelta/baud.json`));
    assertEquals(Object.keys(saved), [url]);
    assertEquals(saved[url].baud, 921600);

    // Next time: the remembered rate, checked, nothing above it tried.
    const corrupted = device.bridge!.corrupted;
    const again = await espdelta(["-p", url, "--json", "--trace", "read-mac"], env);
    assertEquals(again.code, 0, again.stderr);
    assertEquals(connected(again.stdout).baudAuto, {
      reason: "remembered for this port, checked",
      tried: [{ baud: 921600, ok: true }],
      wireBaud: 921600,
      remembered: 921600,
    });
    assertEquals(device.bridge!.corrupted, corrupted);
    const trace = again.stderr.split("\n");
    assertOk(
      trace.includes(
        `trace baud auto on ${url}: bridge unknown, 921600 remembered in ${cache}/espdelta/baud.json`,
      ),
      again.stderr,
    );
    assertOk(
      trace.includes("trace baud 921600 chosen for the ESP32: remembered for this port, checked"),
      again.stderr,
    );

    // A fixed rate, from -b or ESPDELTA_BAUD: no probe, no event note, the cache untouched.
    for (const [args, e] of [[["-b", "460800"], {}], [[], { ESPDELTA_BAUD: "230400" }]] as const) {
      const fixed = await espdelta([...args, "-p", url, "--json", "read-mac"], { ...env, ...e });
      assertEquals(fixed.code, 0, fixed.stderr);
      const ev = connected(fixed.stdout);
      assertEquals([ev.baud, ev.baudAuto], [args.length ? 460800 : 230400, undefined]);
    }
    assertEquals(
      JSON.parse(await Deno.readTextFile(`${cache}/espdelta/baud.json`))[url].baud,
      921600,
    );
  } finally {
    await server.close();
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("--baud auto: a bad -b value names auto; espdelta.json may say auto", async () => {
  const bad = await espdelta(["-p", "socket://127.0.0.1:1", "-b", "fast", "read-mac"]);
  assertEquals([bad.code, bad.stderr.trim()], [
    2,
    "error: invalid baud rate 'fast': use auto, or a number such as 115200 or 921600",
  ]);
  const device = new VirtualDevice({ chip: "esp32c3", bridge: "ch340" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const dir = await Deno.makeTempDir();
  try {
    const url = `socket://127.0.0.1:${server.port}`;
    await Deno.writeTextFile(`${dir}/espdelta.json`, JSON.stringify({ port: url, baud: "auto" }));
    const r = await espdelta(
      ["--json", "read-mac"],
      { XDG_CACHE_HOME: dir, ESPDELTA_BAUD: "" },
      dir,
    );
    assertEquals(r.code, 0, r.stderr);
    // A CH340 carries 2 Mbaud: the top of the ladder passes at once.
    const c = connected(r.stdout);
    assertEquals([c.baud, (c.baudAuto as { tried: unknown }).tried], [2000000, [{
      baud: 2000000,
      ok: true,
    }]]);
    assertEquals(device.bridge!.corrupted, 0);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A fake sysfs and /dev where `name` is a USB serial port with these ids, linked to `pty`. */
async function usbPort(
  root: string,
  name: string,
  pty: string,
  ids: { vid: string; pid: string; serial?: string; product?: string },
): Promise<string> {
  const usb = `${root}/sys/devices/usb1/1-1`;
  await Deno.mkdir(`${usb}/1-1:1.0/${name}`, { recursive: true });
  await Deno.writeTextFile(`${usb}/idVendor`, ids.vid + "\n");
  await Deno.writeTextFile(`${usb}/idProduct`, ids.pid + "\n");
  if (ids.serial) await Deno.writeTextFile(`${usb}/serial`, ids.serial + "\n");
  if (ids.product) await Deno.writeTextFile(`${usb}/product`, ids.product + "\n");
  await Deno.mkdir(`${root}/sys/class/tty/${name}`, { recursive: true });
  await Deno.symlink(`${usb}/1-1:1.0/${name}`, `${root}/sys/class/tty/${name}/device`);
  await Deno.mkdir(`${root}/dev`, { recursive: true });
  await Deno.symlink(pty, `${root}/dev/${name}`);
  return `${root}/dev/${name}`;
}

Deno.test("--baud auto on a USB port: the bridge from its VID:PID and product caps the ladder; the rate is remembered by serial number; flash plans at it", async () => {
  const device = new VirtualDevice({ chip: "esp32", bridge: "cp2102" });
  const pty = await servePty(device);
  const root = await Deno.makeTempDir();
  try {
    const path = await usbPort(root, "ttyUSB0", pty.path, {
      vid: "10c4",
      pid: "ea60",
      serial: "0001",
      product: "CP2102 USB to UART Bridge Controller",
    });
    const env = { XDG_CACHE_HOME: `${root}/cache` };
    const args = ["--sys-root", `${root}/sys`, "--dev-root", `${root}/dev`, "-p", path, "--json"];
    const r = await espdelta([...args, "flash", "0x1000", `${FW}bootloader_esp32.bin`], env);
    assertEquals(r.code, 0, r.stderr);
    const c = connected(r.stdout);
    // The CP2102's 1 Mbps caps the ladder at 921600: nothing above it is tried, no byte corrupted.
    assertEquals(c.baudAuto, {
      reason:
        "the fastest both reach (the ESP32 2.5 Mbaud, the Silicon Labs CP2102 1 Mbaud), checked",
      tried: [{ baud: 921600, ok: true }],
      wireBaud: 921600,
      bridge: "cp2102",
    });
    assertEquals(device.bridge!.corrupted, 0);
    const plan = JSON.parse(r.stdout.split("\n").find((l) => l.includes('"type":"plan"'))!);
    assertEquals(plan.plan.cost.baud, 921600);
    const image = await Deno.readFile(`${FW}bootloader_esp32.bin`);
    assertEquals(device.flash.data.subarray(0x1000, 0x1000 + image.length), image);
    const saved = JSON.parse(await Deno.readTextFile(`${root}/cache/espdelta/baud.json`));
    assertEquals(Object.keys(saved), ["usb 10c4:ea60 serial 0001"]);
  } finally {
    await pty.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("--baud auto on Espressif's USB-Serial/JTAG: no probe, the baud rate is ignored, nothing remembered", async () => {
  const device = new VirtualDevice({ chip: "esp32c3", bridge: "usb-serial-jtag" });
  const pty = await servePty(device);
  const root = await Deno.makeTempDir();
  try {
    const path = await usbPort(root, "ttyACM0", pty.path, {
      vid: "303a",
      pid: "1001",
      serial: "AA:BB",
    });
    const env = { XDG_CACHE_HOME: `${root}/cache` };
    const r = await espdelta(
      ["--sys-root", `${root}/sys`, "--dev-root", `${root}/dev`, "-p", path, "--json", "read-mac"],
      env,
    );
    assertEquals(r.code, 0, r.stderr);
    const c = connected(r.stdout);
    assertEquals(c.baudAuto, {
      reason: "the Espressif USB-Serial/JTAG carries bytes at its USB rate whatever the baud rate",
      tried: [],
      wireBaud: 12160000,
      bridge: "usb-serial-jtag",
    });
    const exists = await Deno.stat(`${root}/cache/espdelta/baud.json`).then(
      () => true,
      () => false,
    );
    assertEquals(exists, false);
  } finally {
    await pty.close();
    await Deno.remove(root, { recursive: true });
  }
});

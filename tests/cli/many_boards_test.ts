/**
 * `espdelta flash` on many boards at once: 16 virtual devices, each served on
 * its own TCP port with its own starting contents, flashed by one CLI run;
 * one failing board does not stop the others; `--port-filter` picks boards
 * by USB id from port discovery.
 */
import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp, type TcpServer } from "../../src/emulator/tcp.ts";
import { servePty } from "../../src/emulator/pty.ts";
import { espdelta } from "./run.ts";
import { changeByte } from "../firmware.ts";
import { checkEvents } from "./schema.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url).pathname;
const SECTOR = 0x1000;

/** Sectors whose content differs between `flash` and the images laid over it. */
function dirty(flash: Uint8Array, images: [number, Uint8Array][]): number[] {
  const want = flash.slice();
  for (const [at, data] of images) want.set(data, at);
  const out: number[] = [];
  for (let s = 0; s < flash.length / SECTOR; s++) {
    const a = flash.subarray(s * SECTOR, (s + 1) * SECTOR);
    const b = want.subarray(s * SECTOR, (s + 1) * SECTOR);
    if (a.some((x, i) => x !== b[i])) out.push(s);
  }
  return out;
}

Deno.test("16 boards flashed concurrently, each from its own starting contents", async () => {
  const boot = await Deno.readFile(`${FW}bootloader_esp32.bin`);
  const app = await Deno.readFile(`${FW}hello-world-signed_esp32.bin`);
  const dir = await Deno.makeTempDir();
  const appFile = `${dir}/app.bin`;
  await Deno.writeFile(appFile, app);
  const images: [number, Uint8Array][] = [[0x1000, boot], [0x10000, app]];
  const devices: VirtualDevice[] = [];
  const servers: TcpServer[] = [];
  const before: Uint8Array[] = [];
  try {
    for (let i = 0; i < 16; i++) {
      // Blank, already up to date, an older app (1..3 bytes changed), half an app.
      const flash = new Uint8Array(4 << 20).fill(0xff);
      const kind = i % 4;
      if (kind === 1) { for (const [at, data] of images) flash.set(data, at); }
      if (kind === 2) {
        flash.set(boot, 0x1000);
        let old: Uint8Array = app;
        for (let k = 0; k <= i % 3; k++) old = changeByte(old, 0x8000 + i * 0x1111 + k * 0x7000);
        flash.set(old, 0x10000);
      }
      if (kind === 3) flash.set(app.subarray(0, 0x18000), 0x10000);
      before.push(flash.slice());
      const device = new VirtualDevice({ chip: "esp32", flash, seed: i + 1 });
      devices.push(device);
      servers.push(await serveTcp(device, { hostname: "127.0.0.1", port: 0 }));
    }
    const ports = servers.flatMap((s) => ["-p", `socket://127.0.0.1:${s.port}`]);
    // At the rate the expectations below were worked out for (--baud auto would take 2 Mbaud
    // on these ideal links, where the planner rewrites more and probes less).
    const r = await espdelta([
      "-b",
      "460800",
      ...ports,
      "flash",
      "0x1000",
      `${FW}bootloader_esp32.bin`,
      "0x10000",
      appFile,
    ]);
    assertEquals(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assertEquals(lines[0], "Flashing 16 boards at once");
    assertEquals(lines.at(-1), "16 boards: 16 ok, 0 failed");
    for (let i = 0; i < 16; i++) {
      const url = `socket://127.0.0.1:${servers[i].port}`;
      const d = devices[i];
      for (const [at, data] of images) {
        assertOk(d.flash.data.subarray(at, at + data.length).every((b, k) => b === data[k]), url);
      }
      // Each board wrote the sectors its own contents lacked, and besides them only sectors
      // of the images that share a 64 KiB block with them (one block erase is cheaper
      // than sector erases), never a sector outside the images.
      const touched = d.flash.touchedSectors();
      const lacked = dirty(before[i], images);
      assertOk(lacked.every((x) => touched.includes(x)), url);
      const blocks = new Set(lacked.map((x) => x >> 4));
      const inImages = (x: number) =>
        images.some(([at, data]) => x >= at / SECTOR && x < (at + data.length) / SECTOR);
      assertOk(
        touched.every((x) => lacked.includes(x) || (blocks.has(x >> 4) && inImages(x))),
        url,
      );
      const own = lines.filter((l) => l.startsWith(`[${url}] `)).map((l) =>
        l.slice(url.length + 3)
      );
      assertEquals(own[0], `Connected to ESP32 on ${url} (stub)`, url);
      const expected = i % 4 === 1
        ? "verify-skip: 2 regions already on the device (bootloader, app)"
        : i % 4 === 0
        ? "full: bootloader 0x1000 (2 of 2 sectors), app 0x10000 (48 of 48 sectors)"
        : undefined;
      if (expected) assertEquals(own[1].replace(/ \([0-9.]+ s\)$/, ""), expected, url);
      // The summary table has a row for the board.
      assertOk(lines.some((l) => l.includes(` ${url} `) && l.endsWith(" ok")), url);
    }
  } finally {
    for (const s of servers) await s.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("one failing board never stops the others; the exit code says not all succeeded", async () => {
  const boot = `${FW}bootloader_esp32.bin`;
  const good = [
    new VirtualDevice({ chip: "esp32", seed: 1 }),
    new VirtualDevice({ chip: "esp32", seed: 2 }),
  ];
  const wrong = new VirtualDevice({ chip: "esp32c3", seed: 3 });
  const servers = [...good, wrong].map((d) => serveTcp(d, { hostname: "127.0.0.1", port: 0 }));
  const [a, b, c] = await Promise.all(servers);
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (closed.addr as Deno.NetAddr).port;
  closed.close();
  try {
    const urls = [a, b, c].map((s) => `socket://127.0.0.1:${s.port}`);
    const dead = `socket://127.0.0.1:${deadPort}`;
    const r = await espdelta([
      "--json",
      ...[urls[0], dead, urls[1], urls[2]].flatMap((u) => ["-p", u]),
      "flash",
      "0x1000",
      boot,
    ]);
    assertEquals(r.code, 2);
    // deno-lint-ignore no-explicit-any
    const events = checkEvents(r.stdout) as Record<string, any>[];
    const boards = events.filter((e) => e.type === "board");
    assertEquals(
      boards.map((e) => [e.port, e.ok, e.exitCode]).sort(),
      [[urls[0], true, 0], [urls[1], true, 0], [urls[2], false, 2], [dead, false, 2]].sort(),
    );
    const summary = events.find((e) => e.type === "summary")!;
    assertEquals([summary.ok, summary.failed], [2, 2]);
    const wrongChip = boards.find((e) => e.port === urls[2])!;
    assertEquals(
      wrongChip.summary,
      "bootloader at 0x1000: image is built for ESP32, but the device is ESP32-C3; rebuild for ESP32-C3 or pick the right file",
    );
    // Every event of a board carries its port.
    for (const e of events.filter((e) => ["connected", "plan", "outcome"].includes(e.type))) {
      assertOk(urls.includes(e.port), JSON.stringify(e).slice(0, 80));
    }
    assertEquals(
      r.stderr.trim().split("\n").at(-1),
      `error: 4 boards: 2 ok, 2 failed: ${dead}, ${urls[2]}`,
    );
    const image = await Deno.readFile(boot);
    for (const d of good) assertEquals(d.flash.data.subarray(0x1000, 0x1000 + image.length), image);
    assertEquals(wrong.flash.touchedSectors(), []);
  } finally {
    await Promise.all([a, b, c].map((s) => s.close()));
  }
});

Deno.test("--port-filter vid=... flashes the matching boards found by port discovery", async () => {
  const devices = [1, 2, 3].map((seed) => new VirtualDevice({ chip: "esp32", seed }));
  const ptys = await Promise.all(devices.map((d) => servePty(d)));
  const root = await Deno.makeTempDir();
  try {
    // A sysfs with two CP210x bridges and one CH340; /dev entries point at the ptys.
    const ids: [string, string, string][] = [
      ["ttyUSB0", "10c4", "ea60"],
      ["ttyUSB1", "1a86", "7523"],
      ["ttyUSB2", "10c4", "ea60"],
    ];
    await Deno.mkdir(`${root}/dev`);
    for (const [i, [name, vid, pid]] of ids.entries()) {
      const usb = `${root}/sys/devices/usb1/1-${i}`;
      await Deno.mkdir(`${usb}/1-${i}:1.0/${name}`, { recursive: true });
      await Deno.writeTextFile(`${usb}/idVendor`, vid + "\n");
      await Deno.writeTextFile(`${usb}/idProduct`, pid + "\n");
      await Deno.mkdir(`${root}/sys/class/tty/${name}`, { recursive: true });
      await Deno.symlink(`${usb}/1-${i}:1.0/${name}`, `${root}/sys/class/tty/${name}/device`);
      await Deno.symlink(ptys[i].path, `${root}/dev/${name}`);
    }
    const boot = `${FW}bootloader_esp32.bin`;
    // Port discovery reads the fake trees; the filter and the command follow.
    const discover = (...args: string[]) =>
      espdelta(["--sys-root", `${root}/sys`, "--dev-root", `${root}/dev`, ...args]);
    const r = await discover(
      "--port-filter",
      "vid=0x10c4",
      "--after",
      "no-reset",
      "flash",
      "0x1000",
      boot,
    );
    assertEquals(
      [r.code, r.stdout.trim().split("\n").at(-1)],
      [0, "2 boards: 2 ok, 0 failed"],
      r.stderr,
    );
    const image = await Deno.readFile(boot);
    assertEquals(devices[0].flash.data.subarray(0x1000, 0x1000 + image.length), image);
    assertEquals(devices[2].flash.data.subarray(0x1000, 0x1000 + image.length), image);
    assertEquals(devices[1].flash.touchedSectors(), []);
    assertEquals(devices[1].commandLog.length, 0);

    const none = await discover("--port-filter", "vid=0x303a", "flash", "0x1000", boot);
    assertEquals(none.code, 2);
    assertOk(
      none.stderr.startsWith("error: no serial port matches --port-filter vid=0x303a (found: "),
      none.stderr,
    );
  } finally {
    for (const p of ptys) await p.close();
    await Deno.remove(root, { recursive: true });
  }
});

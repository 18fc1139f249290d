/**
 * The chip's silicon revision (issue 19, client side): read from the eFuse
 * fields after detection, shown by chip-id and in the `connected` event,
 * checked against each image's min/max chip revision before anything is
 * written (exit 2, `--force` overrides), and used to pick the ESP32-P4's
 * stub. Each case runs the CLI as a subprocess against the virtual chip.
 */
import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { writeImage } from "../../src/image/app.ts";
import type { ChipName } from "../../src/chips/chips.ts";
import { espdelta } from "./run.ts";
import { checkEvents } from "./schema.ts";

async function withDevice(
  chip: ChipName,
  revision: string | undefined,
  fn: (url: string, device: VirtualDevice, dir: string) => Promise<void>,
  mac?: number[],
) {
  const device = new VirtualDevice({
    chip,
    ...(revision ? { revision } : {}),
    ...(mac ? { mac } : {}),
  });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const dir = await Deno.makeTempDir();
  try {
    await fn(`socket://127.0.0.1:${server.port}`, device, dir);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** An app image for `chip` with the given revision fields. */
function app(
  chip: ChipName,
  fields: { minRev?: number; minRevFull?: number; maxRevFull?: number },
) {
  const data = new Uint8Array(0x3000).map((_, i) => (i * 7) & 0xff);
  return writeImage({ chip, segments: [{ loadAddress: 0x3c000020, data }], ...fields });
}

const written = (device: VirtualDevice) => device.flash.touchedSectors().length > 0;

Deno.test("an app built for a later revision is refused before writing (exit 2); --force writes it", async () => {
  await withDevice("esp32c3", "v0.2", async (url, device, dir) => {
    // ESP-IDF v5's default minimum for the C3 is v0.3.
    await Deno.writeFile(`${dir}/app.bin`, app("esp32c3", { minRevFull: 3, maxRevFull: 199 }));
    for (const command of ["flash", "write-flash"]) {
      const r = await espdelta(["-p", url, command, "0x10000", `${dir}/app.bin`]);
      assertEquals([r.code, r.stderr], [
        2,
        `error: app at 0x10000 (${dir}/app.bin): built for ESP32-C3 revision v0.3 to v1.99, but ` +
        "this chip is v0.2; rebuild it for this revision, or pass --force to write it anyway\n",
      ]);
    }
    assertEquals(written(device), false);
    const forced = await espdelta(["-p", url, "flash", "--force", "0x10000", `${dir}/app.bin`]);
    assertEquals(forced.code, 0, forced.stderr);
    const image = await Deno.readFile(`${dir}/app.bin`);
    assertEquals(device.flash.data.subarray(0x10000, 0x10000 + image.length), image);
  });
});

Deno.test("a chip past the image's maximum revision, and the legacy min_rev byte, are refused too", async () => {
  await withDevice("esp32p4", undefined, async (url, device, dir) => {
    // The P4's engineering-sample builds stop at v1.99; the part on sale is v3.1.
    await Deno.writeFile(`${dir}/boot.bin`, app("esp32p4", { minRevFull: 0, maxRevFull: 199 }));
    const r = await espdelta(["-p", url, "write-flash", "0x2000", `${dir}/boot.bin`]);
    assertEquals([r.code, r.stderr], [
      2,
      `error: bootloader at 0x2000 (${dir}/boot.bin): built for ESP32-P4 revision v0.0 to ` +
      "v1.99, but this chip is v3.1; rebuild it for this revision, or pass --force to write " +
      "it anyway\n",
    ]);
    assertEquals(written(device), false);
  });
  await withDevice("esp32", "v1.0", async (url, device, dir) => {
    // An image from before the full fields: min_rev 3 (a major version), max_rev_full 0.
    await Deno.writeFile(`${dir}/app.bin`, app("esp32", { minRev: 3, maxRevFull: 0 }));
    const r = await espdelta(["-p", url, "plan", "0x10000", `${dir}/app.bin`]);
    assertEquals([r.code, r.stderr], [
      2,
      `error: app at 0x10000 (${dir}/app.bin): built for ESP32 revision v3.0 or later, but this ` +
      "chip is v1.0; rebuild it for this revision, or pass --force to write it anyway\n",
    ]);
    assertEquals(written(device), false);
  });
});

Deno.test("chip-id shows the revision; the ESP32 says it has no chip ID, the ESP8266 shows its own", async () => {
  await withDevice("esp32", undefined, async (url) => {
    const r = await espdelta(["-p", url, "chip-id"]);
    assertEquals(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assertEquals(lines.slice(1, 3), [
      "Chip type: ESP32 (revision v3.1)",
      "Chip ID: none (the ESP32 has no chip ID, only the ESP8266 does; its MAC identifies it)",
    ]);
    assertOk(/^MAC: ([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(lines[3]), lines[3]);
    const j = await espdelta(["-p", url, "--json", "chip-id"]);
    const events = checkEvents(j.stdout);
    const connected = events.find((e) => e.type === "connected")!;
    const chip = events.find((e) => e.type === "chip")!;
    assertEquals(connected.revision, "v3.1");
    assertEquals([chip.chip, chip.revision, chip.chipId], ["esp32", "v3.1", null]);
  });
  const mac = [0x18, 0xfe, 0x34, 0x12, 0x34, 0x56];
  await withDevice("esp8266", undefined, async (url) => {
    const r = await espdelta(["-p", url, "--json", "chip-id"]);
    const chip = checkEvents(r.stdout).find((e) => e.type === "chip")!;
    // system_get_chip_id(): the low three MAC bytes from OTP.
    const id = 0x123456;
    assertEquals([chip.revision, chip.chipId], [null, id]);
    const t = await espdelta(["-p", url, "chip-id"]);
    assertEquals(t.stdout.split("\n").slice(1, 3), [
      "Chip type: ESP8266",
      "Chip ID: 0x00123456",
    ]);
  }, mac);
});

Deno.test("the ESP32-P4 gets the stub of its revision: esp32p4-rev1 below v3.0", async () => {
  for (const [revision, stub] of [["v1.0", "esp32p4-rev1"], ["v3.1", "esp32p4"]]) {
    await withDevice("esp32p4", revision, async (url) => {
      const r = await espdelta(["-p", url, "--trace", "chip-id"]);
      assertEquals(r.code, 0, r.stderr);
      assertOk(r.stdout.startsWith(`Connected to ESP32-P4 on ${url} (stub)\n`), r.stdout);
      assertOk(r.stderr.includes(`trace stub ${stub} from npm:esptool-js@0.7.0\n`), r.stderr);
      assertOk(r.stdout.includes(`Chip type: ESP32-P4 (revision ${revision})\n`), r.stdout);
    });
  }
});

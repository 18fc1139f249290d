import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { espdelta } from "./run.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url).pathname;

Deno.test("erase-flash needs the stub; with it every sector is erased", async () => {
  const device = new VirtualDevice({ chip: "esp32s3", flash: new Uint8Array(4 << 20) });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  try {
    const url = `socket://127.0.0.1:${server.port}`;
    const rom = await espdelta(["-p", url, "--no-stub", "erase-flash"]);
    assertEquals([rom.code, rom.stderr.trim()], [
      1,
      "error: the ROM loader cannot erase the whole chip; run with the stub",
    ]);
    const r = await espdelta(["-p", url, "erase-flash"]);
    assertEquals([r.code, r.stdout.trim().split("\n").at(-1)], [0, "Flash erased."]);
    assertOk(device.flash.data.every((b) => b === 0xff));
  } finally {
    await server.close();
  }
});

Deno.test("merge-bin and image-info need no device", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/merged.bin`;
    const boot = `${FW}bootloader_esp32.bin`;
    const table = `${FW}partitions_singleapp.bin`;
    const r = await espdelta([
      "--chip",
      "esp32",
      "merge-bin",
      "-o",
      out,
      "0x1000",
      boot,
      "0x8000",
      table,
      "--fill-flash-size",
      "1MB",
    ]);
    assertEquals([r.code, r.stdout.trim().split("\n"), r.stderr.trim()], [
      0,
      [
        "HINT: Consider using --format hex to avoid flashing unused 0xFF padding between input regions.",
        `Wrote 0x100000 bytes to file '${out}', ready to flash to offset 0x0.`,
      ],
      "warning: Deprecated: Option '--fill-flash-size' is deprecated. Use '--pad-to-size' instead.",
    ]);
    const merged = await Deno.readFile(out);
    assertEquals(merged.subarray(0x1000, 0x1000 + 7888), await Deno.readFile(boot));
    assertEquals(merged.subarray(0x8000, 0x8060), await Deno.readFile(table));
    assertEquals(merged[0], 0xff);
    const info = await espdelta(["image-info", boot]);
    assertEquals(info.stdout.split("\n").slice(0, 3), [
      `File ${boot}:`,
      "Image size: 7888 bytes",
      "Detected image type: ESP32",
    ]);
    const notImage = await espdelta(["image-info", table]);
    assertEquals([notImage.code, notImage.stderr.trim()], [
      2,
      "error: This is not a valid image (invalid magic number: 0xaa).",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("demo: cold, no-op, one-line change and --full on a virtual ESP32 behind a pty", async () => {
  const r = await espdelta(["demo"]);
  assertEquals(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  assertOk(lines[0].startsWith("Virtual ESP32 (4 MB flash) served on /dev/pts/"), lines[0]);
  assertOk(
    lines.includes("one-line change: selective: factory 0x10000 (2 of 384 sectors)"),
    r.stdout,
  );
  assertOk(lines.some((l) => /^no-op redeploy\s+verify-skip\s+0\s+0\s+0\s/.test(l)), r.stdout);
});

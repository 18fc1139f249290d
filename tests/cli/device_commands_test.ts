import { assertEquals, assertOk } from "../assert.ts";
import { createHash } from "node:crypto";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { espdelta } from "./run.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url).pathname;
const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");

async function withDevice(
  chip: "esp32" | "esp32c3",
  fn: (url: string, device: VirtualDevice) => Promise<void>,
) {
  const device = new VirtualDevice({ chip, mac: [0x24, 0x0a, 0xc4, 0xaa, 0xbb, 0xcc] });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  try {
    await fn(`socket://127.0.0.1:${server.port}`, device);
  } finally {
    await server.close();
  }
}

Deno.test("write-flash, verify-flash, read-flash, erase-region on socket://", async () => {
  await withDevice("esp32", async (url, device) => {
    const boot = `${FW}bootloader_esp32.bin`;
    const table = `${FW}partitions_singleapp.bin`;
    const app = `${FW}hello-world-signed_esp32.bin`;
    const w = await espdelta([
      "-p",
      url,
      "write-flash",
      "0x1000",
      boot,
      "0x8000",
      table,
      "0x10000",
      app,
    ]);
    assertEquals([w.code, w.stderr], [0, ""]);
    const lines = w.stdout.trim().split("\n");
    assertEquals(lines[0], `Connected to ESP32 on ${url} (stub)`);
    assertOk(
      /^Wrote 7888 bytes \(\d+ compressed\) at 0x00001000 in [\d.]+ seconds/.test(lines[1]),
      lines[1],
    );
    assertEquals(lines[2], "Hash of data verified.");
    assertEquals(
      lines.at(-1),
      "full: bootloader 0x1000 (2 of 2 sectors), partition-table 0x8000 (1 of 1 sector), " +
        "factory 0x10000 (48 of 48 sectors)",
    );
    // Again: the delta path finds every file in flash and writes nothing.
    device.flash.resetCounters();
    const again = await espdelta([
      "-p",
      url,
      "write-flash",
      "0x1000",
      boot,
      "0x8000",
      table,
      "0x10000",
      app,
    ]);
    assertEquals([again.code, again.stdout.trim().split("\n").slice(1)], [0, [
      `'${boot}' at 0x00001000 already in flash, skipping write.`,
      `'${table}' at 0x00008000 already in flash, skipping write.`,
      `'${app}' at 0x00010000 already in flash, skipping write.`,
      "verify-skip: 3 regions already on the device (bootloader, partition-table, factory)",
    ]]);
    assertEquals(device.flash.touchedSectors(), []);
    const appBytes = await Deno.readFile(app);
    assertEquals(
      md5(device.flash.data.subarray(0x10000, 0x10000 + appBytes.length)),
      md5(appBytes),
    );

    const v = await espdelta(["-p", url, "verify-flash", "0x1000", boot, "0x10000", app]);
    assertEquals(v.code, 0);
    assertEquals(v.stdout.trim().split("\n").slice(1), [
      `Verifying 0x1ed0 (7888) bytes at 0x00001000 against ${boot}... OK (digest matched)`,
      `Verifying 0x30000 (196608) bytes at 0x00010000 against ${app}... OK (digest matched)`,
      "verify-flash: 2 files match",
    ]);

    const out = await Deno.makeTempFile();
    const r = await espdelta(["-p", url, "read-flash", "0x1000", "7888", out]);
    assertEquals(r.code, 0);
    assertEquals(await Deno.readFile(out), await Deno.readFile(boot));
    await Deno.remove(out);

    device.flash.resetCounters();
    const e = await espdelta(["-p", url, "erase-region", "0x9000", "0x6000"]);
    assertEquals([e.code, e.stdout.trim().split("\n")[1]], [
      0,
      "Erased 24576 bytes at 0x00009000.",
    ]);
    assertEquals(device.flash.touchedSectors(), [9, 10, 11, 12, 13, 14]);

    // Verify against different bytes: exit code 3.
    const bad = await espdelta(["-p", url, "verify-flash", "0x8000", boot]);
    assertEquals(bad.code, 3);
    assertEquals(bad.stderr.trim(), `error: verify failed: ${boot} at 0x8000 differ`);
  });
});

Deno.test("chip-id, read-mac, flash-id", async () => {
  await withDevice("esp32c3", async (url) => {
    const c = await espdelta(["-p", url, "--no-stub", "chip-id"]);
    assertEquals([c.code, c.stdout], [
      0,
      `Connected to ESP32-C3 on ${url}\nChip type: ESP32-C3 (revision v0.4)\n` +
      "Chip ID: none (the ESP32-C3 has no chip ID, only the ESP8266 does; its MAC identifies " +
      "it)\nMAC: 24:0a:c4:aa:bb:cc\n",
    ]);
    const m = await espdelta(["-p", url, "read-mac", "-q"]);
    assertEquals([m.code, m.stdout], [0, "MAC: 24:0a:c4:aa:bb:cc\n"]);
    const f = await espdelta(["-p", url, "flash-id"]);
    assertEquals(f.stdout.trim().split("\n").slice(1), [
      "Manufacturer: 0xef",
      "Device: 0x4016",
      "Detected flash size: 4MB",
    ]);
  });
});

Deno.test("bad input: one-line errors, exit code 2, device untouched", async () => {
  await withDevice("esp32", async (url, device) => {
    device.flash.resetCounters();
    const cases: [string[], string][] = [
      [
        ["-p", url, "write-flash", "0x1000", "/nonexistent/app.bin"],
        "error: cannot read /nonexistent/app.bin: no such file; check the path (or build the project first)",
      ],
      [
        ["-p", url, "write-flash", "0x1000"],
        "error: expected ADDRESS FILE pairs, e.g. 0x1000 bootloader.bin 0x8000 partitions.bin 0x10000 app.bin",
      ],
      [
        ["-p", url, "write-flash", "zz", `${FW}bootloader_esp32.bin`],
        "error: invalid address 'zz': use a number like 0x1000, 4096, 64K or 4MB",
      ],
      [
        ["-p", url, "write-flash", "0x1010", `${FW}bootloader_esp32.bin`],
        "error: bootloader at 0x1010: offset is not a multiple of 0x1000; flash regions start on 4 KiB sector boundaries",
      ],
      [
        ["-p", url, "write-flash", "0x0", `${FW}bootloader_esp32s3.bin`],
        "error: bootloader at 0x0: image is built for ESP32-S3, but the device is ESP32; rebuild for ESP32 or pick the right file",
      ],
      [
        ["-p", url, "--chip", "esp33", "chip-id"],
        "error: unknown chip 'esp33': choose one of auto, esp8266, esp32, esp32s2, esp32s3, esp32c2, esp32c3, esp32c5, esp32c6, esp32h2, esp32p4",
      ],
      [
        ["-p", url, "--baud", "fast", "chip-id"],
        "error: invalid baud rate 'fast': use auto, or a number such as 115200 or 921600",
      ],
      [["--bogus", "chip-id"], "error: unknown option '--bogus'"],
      [
        ["chip-id"],
        "error: no port given: use -p /dev/ttyUSB0, -p socket://host:port, or set ESPDELTA_PORT",
      ],
      [
        ["-p", "/dev/ttyNOPE9", "chip-id"],
        "error: serial port /dev/ttyNOPE9 does not exist; check the cable or run 'espdelta ports'",
      ],
    ];
    for (const [args, message] of cases) {
      const heard = device.commandLog.length;
      const r = await espdelta(args);
      assertEquals([r.code, r.stderr.trim()], [2, message], args.join(" "));
      // Only the image for another chip needs the device to be found out.
      const connected = device.commandLog.length > heard;
      assertEquals(connected, message.includes("but the device is"), args.join(" "));
    }
    assertEquals(device.flash.touchedSectors(), []);
  });
});

Deno.test("every command has --help with an example", async () => {
  const top = await espdelta(["--help"]);
  assertEquals(top.code, 0);
  const commands = [
    "chip-id",
    "read-mac",
    "flash-id",
    "write-flash",
    "verify-flash",
    "read-flash",
    "erase-region",
    "erase-flash",
    "plan",
    "flash",
    "emulate",
  ];
  for (const c of commands) {
    assertOk(top.stdout.includes(`  ${c}`), c);
    const h = await espdelta([c, "--help"]);
    assertEquals(h.code, 0, c);
    assertOk(/Examples?:\n {2}espdelta /.test(h.stdout), `${c} --help has an example`);
  }
});

Deno.test("--stub FILE uploads that stub; --no-stub stays on the ROM; a bad stub file is exit 2", async () => {
  await withDevice("esp32c3", async (url, device) => {
    const dir = await Deno.makeTempDir();
    try {
      const m = await import("npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32c3.json", {
        with: { type: "json" },
      });
      const file = `${dir}/stub.json`;
      await Deno.writeTextFile(file, JSON.stringify(m.default));
      const withFile = await espdelta(["-p", url, "--stub", file, "--trace", "read-mac"]);
      assertEquals(withFile.stdout.split("\n")[0], `Connected to ESP32-C3 on ${url} (stub)`);
      assertEquals(device.mode, "stub");
      const bad = `${dir}/bad.json`;
      await Deno.writeTextFile(bad, '{"entry": 1}');
      const r = await espdelta(["-p", url, "--stub", bad, "read-mac"]);
      assertEquals([r.code, r.stderr.trim()], [
        2,
        `error: ${bad}: field 'text' must be a base64 string`,
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

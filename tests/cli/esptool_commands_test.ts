/**
 * The esptool commands espdelta added for the drop-in (get-security-info,
 * read/write-flash-status, read/write/dump-mem, load-ram, run, version,
 * merge-bin --format hex and --pad-to-size, verify-flash --diff,
 * --connect-attempts 0, write-flash --force and its accepted options), in
 * both personalities, against the virtual device through the CLI.
 */
import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { serveRfc2217 } from "../../src/emulator/rfc2217_server.ts";
import { writeIntelHex } from "../../src/image/ihex.ts";
import { HEADER } from "../../src/cli/esptool.ts";
import { espdelta } from "./run.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url).pathname;
const esptool = (args: string[], env: Record<string, string> = {}) =>
  espdelta(args, { ESPDELTA_PERSONALITY: "esptool", ...env });
const lines = (s: string) => s.trimEnd().split("\n");

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

Deno.test("get-security-info: esptool's report, in both personalities", async () => {
  await withDevice("esp32c3", async (url) => {
    const report = [
      "Security Information:",
      "=====================",
      "Flags: 0x00000000 (0b0)",
      "Key Purposes: (0, 0, 0, 0, 0, 0, 12)",
      ...[0, 1, 2, 3, 4, 5].map((i) => `  BLOCK_KEY${i} - USER/EMPTY`),
      "Chip ID: 5",
      "API Version: 3",
      "Secure Boot: Disabled",
      "Flash Encryption: Disabled",
      "SPI Boot Crypt Count (SPI_BOOT_CRYPT_CNT): 0x0",
    ];
    const d = await espdelta(["-p", url, "get-security-info"]);
    assertEquals([d.code, lines(d.stdout)], [0, [
      `Connected to ESP32-C3 on ${url} (stub)`,
      ...report,
    ]]);
    const e = await esptool(["-p", url, "--no-stub", "get-security-info"]);
    assertEquals([e.code, lines(e.stdout)], [0, [
      HEADER,
      `Connected to ESP32-C3 on ${url}:`,
      "Chip type:          ESP32-C3",
      "MAC:                24:0a:c4:aa:bb:cc",
      "",
      "",
      ...report,
      "",
      "Hard resetting via RTS pin...",
    ]]);
  });
  await withDevice("esp32", async (url) => {
    const r = await espdelta(["-p", url, "--no-stub", "get-security-info"]);
    assertEquals([r.code, r.stderr.trim()], [
      1,
      "error: the ESP32 ROM has no GET_SECURITY_INFO command",
    ]);
  });
});

Deno.test("read/write-flash-status: the flash's write protection, set and cleared", async () => {
  await withDevice("esp32c3", async (url, device) => {
    const app = `${FW}esp_idf_blink_esp32s2.bin`;
    const r = await espdelta(["-p", url, "read-flash-status", "--bytes", "3"]);
    assertEquals(lines(r.stdout)[1], "Flash memory status: 0x600200");
    // BP2..BP0 set, non-volatile: the whole flash is protected, and stays so over power cycles.
    const w = await esptool(["-p", url, "write-flash-status", "--non-volatile", "0x021c"]);
    assertEquals([w.code, lines(w.stdout).slice(7, 10)], [0, [
      "Initial flash memory status: 0x0200",
      "Setting flash memory status: 0x021c",
      "After flash memory status:   0x021c",
    ]]);
    device.flash.resetCounters();
    const blocked = await espdelta(["-p", url, "write-flash", "--force", "0x10000", app]);
    assertEquals(blocked.code, 3, blocked.stderr);
    assertOk(device.flash.data.subarray(0x10000, 0x11000).every((b) => b === 0xff));
    // Volatile: gone at the next power cycle (each socket:// connection is one).
    const v = await espdelta(["-p", url, "write-flash-status", "--bytes", "1", "0"]);
    assertEquals(lines(v.stdout).at(-1), "After flash memory status:   0x00");
    assertEquals(
      lines((await espdelta(["-p", url, "read-flash-status"])).stdout)[1],
      "Flash memory status: 0x021c",
    );
    await espdelta(["-p", url, "write-flash-status", "--non-volatile", "0x0200"]);
    const ok = await espdelta(["-p", url, "write-flash", "--force", "0x10000", app]);
    assertEquals(ok.code, 0, ok.stderr);
    const bytes = await Deno.readFile(app);
    assertEquals(device.flash.data.subarray(0x10000, 0x10000 + bytes.length), bytes);
  });
});

Deno.test("read-mem, write-mem, dump-mem", async () => {
  await withDevice("esp32", async (url, device) => {
    const r = await esptool(["-p", url, "read-mem", "0x40001000"]);
    assertEquals(lines(r.stdout)[7], "0x40001000 = 0x00f01d83");
    const w = await espdelta(["-p", url, "write-mem", "0x3ff44004", "0x5", "0xf"]);
    assertEquals(lines(w.stdout)[1], "Wrote 0x00000005 with mask 0x0000000f to 0x3ff44004.");
    assertEquals(device.peekRegister(0x3ff44004), 5);
    const file = await Deno.makeTempFile();
    try {
      const d = await espdelta(["-p", url, "dump-mem", "0x40001000", "10", file]);
      assertEquals(lines(d.stdout)[1], `Dumping 10 bytes from 0x40001000 to file '${file}'...`);
      assertOk(
        new RegExp(`^Dumped 8 bytes from 0x40001000 in [\\d.]+ seconds.* to '${file}'\\.$`)
          .test(lines(d.stdout)[2]),
        d.stdout,
      );
      assertEquals(await Deno.readFile(file), new Uint8Array([0x83, 0x1d, 0xf0, 0, 0, 0, 0, 0]));
    } finally {
      await Deno.remove(file);
    }
    const bad = await espdelta(["-p", url, "read-mem", "0x1_0000_0000"]);
    assertEquals([bad.code, bad.stderr.trim()], [
      2,
      "error: invalid address '0x1_0000_0000': beyond 32 bits",
    ]);
  });
});

Deno.test("load-ram: the program runs, the chip goes silent, its log says why; run starts the app", async () => {
  const device = new VirtualDevice({ chip: "esp32", bootMode: "download" });
  const server = await serveRfc2217(device, { hostname: "127.0.0.1", port: 0 });
  const url = `rfc2217://127.0.0.1:${server.port}`;
  const image = `${FW}ram_helloworld/helloworld-esp32.bin`;
  try {
    const r = await esptool(["-p", url, "load-ram", image]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(lines(r.stdout).slice(-4), [
      `Loading '${image}' to RAM...`,
      `Loaded 2 segments from '${image}' to RAM, executing at 0x4008c008.`,
      "",
      "Exiting immediately.",
    ]);
    assertEquals(device.mode, "app");
    assertOk(
      device.log.some((l) =>
        /^RAM program at 0x4008c008 \(\d+ bytes in 2 segment\(s\), sha256 [0-9a-f]{16}\) is not a flasher stub this device knows; it runs and the loader protocol stops$/
          .test(l)
      ),
      device.log.join("\n"),
    );
    // Nothing answers now: a connection without a reset gets no reply to SYNC.
    const silent = await espdelta([
      "-p",
      url,
      "--before",
      "no-reset",
      "--connect-attempts",
      "1",
      "read-mac",
    ]);
    assertEquals(silent.code, 1);
    assertOk(silent.stderr.includes("no reply to SYNC after 1 attempts"), silent.stderr);
  } finally {
    await server.close();
  }
  await withDevice("esp32", async (tcp, dev) => {
    const r = await espdelta(["-p", tcp, "--no-stub", "run"]);
    assertEquals([r.code, lines(r.stdout)[1]], [0, "Running the app in flash."]);
    assertEquals(dev.mode, "app");
  });
});

Deno.test("version, and esptool's header line", async () => {
  assertEquals((await espdelta(["version"])).stdout, "0.1.0\n");
  assertEquals((await esptool(["version"])).stdout, `${HEADER}\n5.3.1\n`);
  assertEquals((await espdelta(["esptool", "version"])).stdout, `${HEADER}\n5.3.1\n`);
  const bad = await espdelta(["version"], { ESPDELTA_PERSONALITY: "esptol" });
  assertEquals([bad.code, bad.stderr.trim()], [
    2,
    "error: ESPDELTA_PERSONALITY is 'esptol': use esptool or espdelta, or unset it",
  ]);
});

Deno.test("merge-bin --format hex and --pad-to-size; a HEX file is flashed where its records say", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const boot = `${FW}bootloader_esp32.bin`;
    const table = `${FW}partitions_singleapp.bin`;
    const hexFile = `${dir}/merged.hex`;
    const r = await esptool([
      "--chip",
      "esp32",
      "merge-bin",
      "--format",
      "hex",
      "-o",
      hexFile,
      "0x1000",
      boot,
      "0x8000",
      table,
    ]);
    const text = await Deno.readTextFile(hexFile);
    const bootBytes = await Deno.readFile(boot);
    const tableBytes = await Deno.readFile(table);
    assertEquals(
      text,
      writeIntelHex([{ address: 0x1000, data: bootBytes }, { address: 0x8000, data: tableBytes }]),
    );
    assertEquals([r.code, lines(r.stdout)], [0, [
      HEADER,
      `Wrote 0x${
        text.length.toString(16)
      } bytes to file '${hexFile}', ready to flash to offset 0x0.`,
    ]]);
    const raw = `${dir}/merged.bin`;
    const p = await esptool([
      "--chip",
      "esp32",
      "merge-bin",
      "-o",
      raw,
      "--pad-to-size",
      "1MB",
      "0x1000",
      boot,
    ]);
    assertEquals([p.code, lines(p.stdout).at(-1)], [
      0,
      `Wrote 0x100000 bytes to file '${raw}', ready to flash to offset 0x0.`,
    ]);
    const noChip = await esptool(["merge-bin", "-o", raw, "0x1000", boot]);
    assertEquals([noChip.code, noChip.stderr.trim()], [
      2,
      "ERROR: A fatal error occurred: Specify the --chip argument (choose from esp8266, esp32, " +
      "esp32s2, esp32s3, esp32c2, esp32c3, esp32c5, esp32c6, esp32h2, esp32p4).",
    ]);
    // The HEX file's own addresses count, whatever address it is given (esptool's rule).
    await withDevice("esp32", async (url, device) => {
      const w = await esptool(["-p", url, "write-flash", "0x0", hexFile]);
      assertEquals(w.code, 0, w.stderr);
      assertEquals(device.flash.data.subarray(0x1000, 0x1000 + bootBytes.length), bootBytes);
      assertEquals(device.flash.data.subarray(0x8000, 0x8000 + tableBytes.length), tableBytes);
      assertEquals(lines(w.stdout).at(-3), "espdelta: full, 3 of 3 sectors written");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("verify-flash --diff lists the differing bytes as esptool does; exit code 3", async () => {
  await withDevice("esp32", async (url, device) => {
    const boot = `${FW}bootloader_esp32.bin`;
    assertEquals((await espdelta(["-p", url, "write-flash", "0x1000", boot])).code, 0);
    device.flash.data[0x1010] ^= 0xff;
    device.flash.data[0x1234] = 0x00;
    const bytes = await Deno.readFile(boot);
    const hex2 = (b: number) => b.toString(16).padStart(2, "0");
    const diff = [
      "Verification failed: 2 differences, first at 0x00001010:",
      `   0x00001010 ${hex2(bytes[0x10] ^ 0xff)} ${hex2(bytes[0x10])}`,
      `   0x00001234 00 ${hex2(bytes[0x234])}`,
    ];
    const e = await esptool(["-p", url, "verify-flash", "--diff", "0x1000", boot]);
    assertEquals([e.code, e.stderr.trim()], [
      3,
      "ERROR: A fatal error occurred: Verification failed.",
    ]);
    assertEquals(lines(e.stdout).slice(7), [
      "Configuring flash size...",
      `Verifying 0x1ed0 (7888) bytes at 0x00001000 in flash against '${boot}'...`,
      ...diff,
    ]);
    const d = await espdelta(["-p", url, "verify_flash", "-d", "0x1000", boot]);
    assertEquals(d.code, 3);
    assertEquals(lines(d.stdout).slice(2), diff);
    assertEquals(lines(d.stderr), [
      "warning: Deprecated: Command 'verify_flash' is deprecated. Use 'verify-flash' instead.",
      `error: verify failed: ${boot} at 0x1000 differ`,
    ]);
  });
});

Deno.test("--connect-attempts 0 keeps trying until stopped; 1 gives up after one attempt", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let syncs = 0;
  const { promise: many, resolve: reached } = Promise.withResolvers<void>();
  const serving = (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(4096);
        for (;;) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) break;
          // A SYNC request frame: C0 00 08 ...
          for (let i = 0; i + 2 < n; i++) {
            if (buf[i] === 0xc0 && buf[i + 1] === 0x00 && buf[i + 2] === 0x08) syncs++;
          }
          if (syncs > 40) reached();
        }
        conn.close();
      })();
    }
  })();
  try {
    const cli = new URL("../../cli.ts", import.meta.url).pathname;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        cli,
        "esptool",
        "-p",
        `socket://127.0.0.1:${port}`,
        "--connect-attempts",
        "0",
        "read-mac",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    // The default is 7 attempts of 5 SYNCs: more than 40 means it went on.
    await many;
    child.kill("SIGTERM");
    const status = await child.status;
    assertEquals(status.success, false);
    assertOk(syncs > 35, String(syncs));
    const before = syncs;
    const once = await espdelta([
      "-p",
      `socket://127.0.0.1:${port}`,
      "--connect-attempts",
      "1",
      "read-mac",
    ]);
    assertEquals(once.code, 1);
    assertOk(once.stderr.includes("no reply to SYNC after 1 attempts"), once.stderr);
    assertEquals(syncs - before, 5);
  } finally {
    listener.close();
    await serving.catch(() => {});
  }
});

Deno.test("write-flash --force writes another chip's image; the accepted esptool options say what they do", async () => {
  await withDevice("esp32", async (url, device) => {
    const s3 = `${FW}bootloader_esp32s3.bin`;
    const refused = await esptool(["-p", url, "write-flash", "0x0", s3]);
    assertEquals([refused.code, refused.stderr.trim()], [
      2,
      "ERROR: A fatal error occurred: bootloader at 0x0: image is built for ESP32-S3, but the " +
      "device is ESP32; rebuild for ESP32 or pick the right file",
    ]);
    assertEquals(device.flash.touchedSectors(), []);
    const forced = await esptool(["-p", url, "write-flash", "--force", "-s", "0x0", s3]);
    assertEquals(forced.code, 0, forced.stderr);
    const bytes = await Deno.readFile(s3);
    assertEquals(device.flash.data.subarray(0, bytes.length), bytes);
    assertOk(
      lines(forced.stdout).includes(
        "NOTE: --skip-flashed, --diff-with and --trust-flash-content are not needed: write-flash " +
          "asks the device for the MD5 of every sector it would write and writes only those " +
          "that differ",
      ),
      forced.stdout,
    );
    for (
      const [args, message] of [
        [["--encrypt-files", "0x0", s3], "--encrypt-files is not supported"],
        [["--spi-connection", "HSPI"], "--spi-connection is not supported"],
        [["--diff-with", "/nonexistent/old.bin"], "--diff-with /nonexistent/old.bin: no such file"],
      ] as const
    ) {
      const r = await esptool(["-p", url, "write-flash", "0x0", s3, ...args]);
      assertEquals(r.code, 2, args.join(" "));
      assertOk(r.stderr.startsWith(`ERROR: A fatal error occurred: ${message}`), r.stderr);
    }
  });
});

Deno.test("esptool's environment: ESPTOOL_PORT, ESPTOOL_CHIP, ESPTOOL_BAUD", async () => {
  await withDevice("esp32", async (url) => {
    const r = await esptool(["read-mac"], { ESPTOOL_PORT: url, ESPTOOL_BAUD: "460800" });
    assertEquals(r.code, 0, r.stderr);
    assertOk(r.stdout.includes("Changing baud rate to 460800...\nChanged.\n"), r.stdout);
    const wrong = await esptool(["read-mac"], { ESPTOOL_PORT: url, ESPTOOL_CHIP: "esp32s3" });
    assertEquals([wrong.code, wrong.stderr.trim()], [
      2,
      "ERROR: A fatal error occurred: this chip is ESP32, not ESP32-S3; use --chip esp32 or " +
      "--chip auto",
    ]);
    // espdelta's own variables do not reach the esptool personality.
    const none = await esptool(["read-mac"], { ESPDELTA_PORT: url });
    assertEquals(none.code, 2);
  });
});

Deno.test("the espdelta personality takes esptool's spellings and @files, with esptool's notes", async () => {
  await withDevice("esp32", async (url, device) => {
    const dir = await Deno.makeTempDir();
    try {
      const boot = `${FW}bootloader_esp32.bin`;
      await Deno.writeTextFile(
        `${dir}/args`,
        `--flash_mode dio --flash_freq 40m\n0x1000 "${boot}"\n`,
      );
      const r = await espdelta(
        ["-p", url, "--before", "default_reset", "write_flash", "-z", `@${dir}/args`],
      );
      assertEquals(r.code, 0, r.stderr);
      assertEquals(lines(r.stderr), [
        "warning: Deprecated: Choice 'default_reset' for option '--before' is deprecated. Use 'default-reset' instead.",
        "warning: Deprecated: Command 'write_flash' is deprecated. Use 'write-flash' instead.",
        "warning: Deprecated: Option '--flash_mode' is deprecated. Use '--flash-mode' instead.",
        "warning: Deprecated: Option '--flash_freq' is deprecated. Use '--flash-freq' instead.",
      ]);
      assertEquals(lines(r.stdout).at(-1), "full: bootloader 0x1000 (2 of 2 sectors)");
      assertEquals(device.flash.data[0x1002], 0x02); // dio, as asked
      const missing = await espdelta(["-p", url, "write-flash", `@${dir}/nope`]);
      assertEquals([missing.code, missing.stderr.trim()], [
        2,
        `error: cannot read the argument file ${dir}/nope: no such file`,
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

/**
 * The monitor's line source over a real pty (bytes written on the master side
 * arrive through the FFI backend on the slave side, as from a USB bridge), the
 * address decoder against real ELF files, and the boot check against boot
 * logs in the ROM's and ESP-IDF's exact formats.
 */
import { LineReader, monitorLines } from "../../src/monitor/lines.ts";
import { decodeAddresses } from "../../src/monitor/decode.ts";
import { type BootReport, checkBoot } from "../../src/monitor/boot_check.ts";
import { parseElf } from "../../src/image/elf.ts";
import { openPtyPair } from "../../src/serial/pty.ts";
import { openPosix } from "../../src/serial/posix.ts";
import { assertEquals, assertOk } from "../assert.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** A pty pair with the slave opened as a client port; `say` writes on the device side. */
async function pty() {
  const pair = await openPtyPair();
  const port = await openPosix(pair.slavePath, { baud: 115200, exclusive: false });
  return {
    port,
    say: (s: string | Uint8Array) => pair.master.write(typeof s === "string" ? enc(s) : s),
    close: async () => {
      await port.close();
      await pair.close();
    },
  };
}

Deno.test("lines over a pty: CRLF, a UTF-8 character split across writes, a prompt handed over", async () => {
  const p = await pty();
  try {
    const reader = new LineReader(p.port, { partialAfterMs: 80 });
    const degree = enc("°"); // two bytes: c2 b0
    await p.say("I (31) boot: ESP-IDF v5.3.1 2nd stage bootloader\r\ntemp 21");
    await p.say(degree.subarray(0, 1));
    await new Promise((r) => setTimeout(r, 20));
    await p.say(degree.subarray(1));
    await p.say("C\nready> ");
    const got = [];
    for (let i = 0; i < 3; i++) {
      const line = await reader.next(2000);
      assertOk(line, `line ${i} came`);
      got.push([line.text, line.complete]);
    }
    assertEquals(got, [
      ["I (31) boot: ESP-IDF v5.3.1 2nd stage bootloader", true],
      ["temp 21°C", true],
      ["ready> ", false],
    ]);
    // Nothing more: next() answers undefined at its deadline and leaves nothing in flight.
    assertEquals(await reader.next(50), undefined);
    await p.say("help\n");
    assertEquals((await reader.next(2000))?.text, "help");
  } finally {
    await p.close();
  }
});

Deno.test("monitorLines stops when its signal aborts", async () => {
  const p = await pty();
  try {
    const stop = new AbortController();
    const seen: string[] = [];
    await p.say("one\ntwo\n");
    for await (const line of monitorLines(p.port, { signal: stop.signal, readMs: 20 })) {
      seen.push(line.text);
      if (seen.length === 2) stop.abort();
    }
    assertEquals(seen, ["one", "two"]);
  } finally {
    await p.close();
  }
});

Deno.test("addresses: Xtensa backtrace and RISC-V register dump, code only, each once", () => {
  const zephyr = parseElf(
    Deno.readFileSync(new URL("../../testdata/firmware/elf/esp32-zephyr.elf", import.meta.url)),
  );
  assertEquals(
    decodeAddresses(
      "Backtrace: 0x400811a4:0x3ffb0f20 0x40080cfb:0x3ffb0f40 0x400811a4:0x3ffb0f60 |<-CORRUPTED",
      zephyr,
    ),
    [
      "0x400811a4: cbvprintf at /home/esteban/Dev/zephyr/zephyr/lib/os/cbprintf_complete.c:1556",
      "0x40080cfb: extract_conversion at /home/esteban/Dev/zephyr/zephyr/lib/os/cbprintf_complete.c:278",
    ],
  );
  const sdk = parseElf(
    Deno.readFileSync(
      new URL("../../testdata/firmware/elf/esp8266-nonossdkv20-at-v2.elf", import.meta.url),
    ),
  );
  assertEquals(decodeAddresses("PC      : 0x401003d0  SP      : 0x3ffffd50", sdk), [
    "0x401003d0: wdt_feed+0x8",
  ]);
  const own = parseElf(
    Deno.readFileSync(new URL("../../testdata/elf/panic-dwarf5.elf", import.meta.url)),
  );
  assertEquals(
    decodeAddresses("MEPC    : 0x08049000  RA      : 0x0804901a  SP      : 0x3fc8f0a0", own),
    [
      "0x08049000: divide at /build/panic/panic.c:5",
      "0x0804901a: compute at /build/panic/panic.c:10",
    ],
  );
  assertEquals(decodeAddresses("I (31) boot: ESP-IDF v5.3.1 at 0x00010000", own), []);
});

/** Feeds `log` through a real pty to checkBoot, written in one go unless `gapMs` is given. */
async function check(
  log: string[],
  expected = {},
  options: { timeoutMs?: number; settleMs?: number } = {},
): Promise<BootReport> {
  const p = await pty();
  try {
    const reader = new LineReader(p.port);
    if (log.length) await p.say(log.join("\r\n") + "\r\n");
    return await checkBoot(reader, expected, { timeoutMs: 1500, settleMs: 200, ...options });
  } finally {
    await p.close();
  }
}

const ROM_ESP32 = [
  "ets Jul 29 2019 12:21:46",
  "",
  "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)",
  "configsip: 0, SPIWP:0xee",
  "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00",
  "mode:DIO, clock div:2",
  "load:0x3fff0030,len:7112",
  "load:0x40078000,len:15624",
  "load:0x40080400,len:4",
  "entry 0x40080608",
];
const BOOTLOADER = [
  "I (31) boot: ESP-IDF v5.3.1 2nd stage bootloader",
  "I (31) boot: compile time Sep 26 2024 15:19:32",
  "I (91) boot: End of partition table",
  "I (95) esp_image: segment 0: paddr=00010020 vaddr=3f400020 size=20de4h (134628) map",
  "I (405) boot: Loaded app from partition at offset 0x10000",
];
const APP = [
  "I (417) cpu_start: Multicore app",
  "I (426) app_init: Application information:",
  "I (428) app_init: Project name:     lidar",
  "I (434) app_init: App version:      v5",
  "I (438) app_init: Compile time:     May 15 2022 20:11:02",
  "I (444) app_init: ELF file SHA256:  e160c722f...",
  "I (449) app_init: ESP-IDF:          v5.3.1",
];
const SHA = "e160c722f" + "0".repeat(55);

Deno.test("boot check: the new app booted; its identity is compared with the image", async () => {
  const r = await check([...ROM_ESP32, ...BOOTLOADER, ...APP], {
    projectName: "lidar",
    version: "v5",
    elfSha256: SHA,
  });
  assertEquals([r.ok, r.verdict, r.message], [
    true,
    "booted",
    "booted: lidar v5 (ELF SHA-256 e160c722f)",
  ]);
  assertEquals(r.app, { projectName: "lidar", version: "v5", elfSha256Prefix: "e160c722f" });
  assertEquals(r.resets, ["rst:0x1 (POWERON_RESET)"]);
  // ESP-IDF before v5.1 logged these under cpu_start, with 16 digits and colours.
  const old = APP.map((l) => `\x1b[0;32m${l.replace("app_init", "cpu_start")}\x1b[0m`)
    .map((l) => l.replace("e160c722f...", "e160c722f0000000..."));
  const r2 = await check([...ROM_ESP32, ...old], { projectName: "lidar", elfSha256: SHA });
  assertEquals([r2.verdict, r2.message], [
    "booted",
    "booted: lidar v5 (ELF SHA-256 e160c722f0000000)",
  ]);
});

Deno.test("boot check: another app, a reset loop after a panic, and a panic that stays", async () => {
  const wrong = await check([...ROM_ESP32, ...BOOTLOADER, ...APP], {
    projectName: "lidar",
    version: "v6",
    elfSha256: "ffff" + SHA.slice(4),
  });
  assertEquals([wrong.ok, wrong.verdict, wrong.message], [
    false,
    "wrong-app",
    "boot check failed: another app started (version v5, expected v6; " +
    "ELF SHA-256 e160c722f, expected ffffc722f)",
  ]);

  const panic = [
    "Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.",
    "",
    "Backtrace: 0x400811a4:0x3ffb0f20 0x40080cfb:0x3ffb0f40",
    "",
    "Rebooting...",
    "ets Jul 29 2019 12:21:46",
    "",
    "rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)",
  ];
  const loop = await check([...ROM_ESP32, ...BOOTLOADER, ...APP, ...panic], {
    projectName: "lidar",
  });
  assertEquals([loop.ok, loop.verdict, loop.message], [
    false,
    "reset-loop",
    "boot check failed: the app restarted (rst:0xc (SW_CPU_RESET)); it crashed first: " +
    "Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.",
  ]);
  assertEquals(loop.lastLines.at(-1), "rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)");

  const stays = await check([...ROM_ESP32, ...BOOTLOADER, ...APP, ...panic.slice(0, 3)]);
  assertEquals([stays.verdict, stays.message], [
    "panic",
    "boot check failed: the app crashed (Guru Meditation Error: Core  0 panic'ed " +
    "(LoadProhibited). Exception was unhandled.)",
  ]);
});

Deno.test("boot check: erased flash, a refused app, a chip that resets before the app", async () => {
  const erased = await check([
    "ESP-ROM:esp32c3-api1-20210207",
    "Build:Feb  7 2021",
    "rst:0x1 (POWERON),boot:0xc (SPI_FAST_FLASH_BOOT)",
    "invalid header: 0xffffffff",
    "invalid header: 0xffffffff",
  ]);
  assertEquals([erased.verdict, erased.message], [
    "invalid-header",
    "boot check failed: the ROM found no valid bootloader (invalid header: 0xffffffff)",
  ]);

  const refused = await check([
    ...ROM_ESP32,
    ...BOOTLOADER.slice(0, 4),
    "E (105) esp_image: Checksum failed. Calculated 0x1b read 0x4a",
    "E (109) boot: Factory app partition is not bootable",
    "E (113) boot: No bootable app partitions in the partition table",
  ]);
  assertEquals([refused.verdict, refused.message], [
    "image-error",
    "boot check failed: the bootloader refused the app " +
    "(esp_image: Checksum failed. Calculated 0x1b read 0x4a)",
  ]);

  const brownout = Array.from({ length: 3 }, () => [
    "ets Jul 29 2019 12:21:46",
    "rst:0xf (BROWNOUT_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)",
    "load:0x3fff0030,len:7112",
  ]).flat();
  const loop = await check(brownout);
  assertEquals([loop.verdict, loop.message], [
    "reset-loop",
    "boot check failed: 3 resets without the app starting (rst:0xf (BROWNOUT_RESET))",
  ]);
});

Deno.test("boot check: an app without ESP-IDF app information, and silence", async () => {
  const arduino = await check([...ROM_ESP32, "Hello from setup()"], { projectName: "x" }, {
    timeoutMs: 300,
  });
  assertEquals([arduino.ok, arduino.verdict, arduino.message], [
    true,
    "started",
    "started: the chip booted from flash; the app printed no ESP-IDF app information to compare",
  ]);
  const silent = await check([], {}, { timeoutMs: 300 });
  assertEquals([silent.ok, silent.verdict, silent.message], [
    false,
    "silent",
    "boot check failed: the chip printed nothing within 0.3 s",
  ]);
});

Deno.test("after the boot check, the same reader goes on without losing a line", async () => {
  const p = await pty();
  try {
    const reader = new LineReader(p.port);
    await p.say(
      [...ROM_ESP32, ...BOOTLOADER, ...APP, "heartbeat 1", "heartbeat 2"].join("\n") + "\n",
    );
    const r = await checkBoot(reader, { projectName: "lidar" }, { settleMs: 150, timeoutMs: 2000 });
    assertEquals(r.verdict, "booted");
    // The check consumed lines up to its verdict; whatever it did not read is still there.
    const rest: string[] = [];
    for (let line = await reader.next(100); line; line = await reader.next(100)) {
      rest.push(line.text);
    }
    assertEquals(rest, []);
    await p.say("heartbeat 3\n");
    assertEquals((await reader.next(1000))?.text, "heartbeat 3");
    assertEquals(r.lastLines.slice(-2), ["heartbeat 1", "heartbeat 2"]);
  } finally {
    await p.close();
  }
});

/**
 * The virtual chip's boot texts, driven with raw protocol bytes and reset
 * lines (raw.ts), never through the loader: ROM banners per family, what the
 * ROM says about the flash, ESP-IDF's second-stage and app logs, the
 * heartbeat, the panicking test app, and what each kind of reset does to the
 * download mode.
 */

import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice, type VirtualDeviceOptions } from "../../src/emulator/device.ts";
import { ManualClock } from "../../src/emulator/clock.ts";
import { bootText } from "../../src/emulator/boot_text.ts";
import { CHIP_NAMES, CHIPS, RTC_WDT_WKEY } from "../../src/chips/chips.ts";
import { Op, SYNC_PAYLOAD } from "../../src/protocol/opcodes.ts";
import { Bench, firmware, romBench, words } from "./raw.ts";
import { appImage, elfFunctions, otaEntry, partitionTable } from "./images.ts";
import { hardResetSteps, runSequence, usbJtagSteps } from "../../src/serial/reset.ts";
import type { Port } from "../../src/serial/port.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A device on a manual clock with everything it sends, as text. */
function board(options: VirtualDeviceOptions & { parts?: [number, Uint8Array][] }) {
  const clock = new ManualClock();
  const flash = new Uint8Array(options.flashSize ?? 4 << 20).fill(0xff);
  for (const [at, bytes] of options.parts ?? []) flash.set(bytes, at);
  const device = new VirtualDevice({ clock, flash, ...options });
  let out = "";
  device.onTransmit((b) => out += text(b));
  // Power on again with the listener attached, so the first banner is seen too.
  device.powerCycle(options.bootMode ?? "download");
  return {
    clock,
    device,
    take: () => {
      const s = out;
      out = "";
      return s;
    },
  };
}

const lines = (s: string) => s.split("\r\n");
const ANSI = new RegExp(String.fromCharCode(27) + "\\[[0-9;]*m", "g");
const BL32 = firmware("bootloader_esp32_v5_2.bin");
const PT = firmware("partitions_singleapp.bin");
const BLINK = appImage("esp32", { projectName: "blink", version: "1.2.0" });
const ESP32_ROM_LOAD = [
  "configsip: 0, SPIWP:0xee",
  "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00",
  "mode:DOUT, clock div:2",
  "load:0x3fff0030,len:7132",
  "load:0x40078000,len:15648",
  "load:0x40080400,len:4",
  "load:0x40080404,len:3884",
  "entry 0x40080650",
];
const G = (s: string) => `\x1b[0;32m${s}\x1b[0m`;
const R = (s: string) => `\x1b[0;31m${s}\x1b[0m`;
/** The v5.2 bootloader's log up to the partition table, as it prints it on a v0.0 chip. */
const ESP32_BOOTLOADER = [
  G("I (55) boot: ESP-IDF v5.2-dev-254-g1950b15 2nd stage bootloader"),
  G("I (61) boot: compile time Apr 25 2023 00:13:32"),
  G("I (66) boot: Multicore bootloader"),
  G("I (70) boot: chip revision: v3.1"),
  G("I (74) boot.esp32: SPI Speed      : 40MHz"),
  G("I (79) boot.esp32: SPI Mode       : DOUT"),
  G("I (84) boot.esp32: SPI Flash Size : 2MB"),
  G("I (88) boot: Enabling RNG early entropy source..."),
];
const ESP32_TABLE = [
  G("I (93) boot: Partition Table:"),
  G("I (97) boot: ## Label            Usage          Type ST Offset   Length"),
  G("I (104) boot:  0 factory          factory app      00 00 00010000 00100000"),
  G("I (112) boot:  1 rfdata           RF data          01 01 00110000 00040000"),
  G("I (119) boot:  2 wifidata         WiFi data        01 02 00150000 00040000"),
  G("I (127) boot: End of partition table"),
  G("I (131) esp_image: segment 0: paddr=00010020 vaddr=3f400020 size=00400h (  1024) map"),
];

Deno.test("ROM banners: download mode per family, with the DOWNLOAD text each chip prints", () => {
  const expected: Record<string, string> = {
    esp8266: "\r\n ets Jan  8 2013,rst cause:1, boot mode:(1,7)\r\n\r\n",
    esp32: "ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 " +
      "(DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n",
    esp32s2: "ESP-ROM:esp32s2-rc4-20191025\r\nBuild:Oct 25 2019\r\n" +
      "rst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0/1/SPI))\r\nwaiting for download\r\n",
    esp32s3: "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\n" +
      "rst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n",
    esp32c2: "ESP-ROM:esp8684-api2-20220127\r\nBuild:Jan 27 2022\r\n" +
      "rst:0x1 (POWERON),boot:0x4 (DOWNLOAD(UART0))\r\nwaiting for download\r\n",
    esp32c3: "ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\n" +
      "rst:0x1 (POWERON),boot:0x4 (DOWNLOAD(USB/UART0/1))\r\nwaiting for download\r\n",
    esp32c5: "ESP-ROM:esp32c5-eco2-20250121\r\nBuild:Jan 21 2025\r\n" +
      "rst:0x1 (POWERON),boot:0x8 (DOWNLOAD(UART0/USB))\r\nwaiting for download\r\n",
    esp32c6: "ESP-ROM:esp32c6-20220919\r\nBuild:Sep 19 2022\r\n" +
      "rst:0x1 (POWERON),boot:0x4 (DOWNLOAD(USB/UART0/SDIO_FEI_FEO))\r\nwaiting for download\r\n",
    esp32h2: "ESP-ROM:esp32h2-20221101\r\nBuild:Nov  1 2022\r\n" +
      "rst:0x1 (POWERON),boot:0x4 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n",
    esp32p4: "ESP-ROM:esp32p4-eco2-20240710\r\nBuild:Jul 10 2024\r\n" +
      "rst:0x1 (POWERON),boot:0x107 (DOWNLOAD(USB/UART0/SPI))\r\nwaiting for download\r\n",
  };
  for (const chip of CHIP_NAMES) {
    const b = new Bench({ chip });
    b.device.powerCycle("download");
    assertEquals(text(b.sent.at(-1)!.bytes), expected[chip], chip);
    assertEquals(b.sent.at(-1)!.baud, chip === "esp8266" ? 74880 : 115200);
  }
  // Secure Download Mode: the ROM says so instead of "waiting for download".
  const sdm = new Bench({ chip: "esp32s3", securityFlags: 4 });
  sdm.device.powerCycle("download");
  assertEquals(
    text(sdm.sent.at(-1)!.bytes),
    "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\n" +
      "rst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\nwait uart download(secure mode)\r\n",
  );
  // Later chips print the saved PC after any reset but power-on; the ESP32 never does.
  assertEquals(
    bootText("esp32c3", false, "main-watchdog").text,
    "ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\n" +
      "rst:0x7 (TG0WDT_SYS_RST),boot:0xc (SPI_FAST_FLASH_BOOT)\r\nSaved PC:0x4004d1f8\r\n",
  );
  assertEquals(
    bootText("esp32p4", false, "software-cpu").text,
    "ESP-ROM:esp32p4-eco2-20240710\r\nBuild:Jul 10 2024\r\n" +
      "rst:0xc (SW_CPU_RESET),boot:0x10f (SPI_FAST_FLASH_BOOT)\r\n" +
      "Core0 Saved PC:0x4fc098f6\r\nCore1 Saved PC:0x4fc058e0\r\n",
  );
  assertEquals(
    bootText("esp32c6", false, "usb").text,
    "ESP-ROM:esp32c6-20220919\r\nBuild:Sep 19 2022\r\n" +
      "rst:0x15 (USB_UART_HPSYS),boot:0xc (SPI_FAST_FLASH_BOOT)\r\nSaved PC:0x4001975a\r\n",
  );
});

Deno.test("ROM, erased flash: ESP32 'flash read err' and its RTC watchdog loop; later chips 'invalid header'", () => {
  const e = board({ chip: "esp32", bootMode: "flash" });
  const banner = (rst: string) =>
    `ets Jun  8 2016 00:22:57\r\n\r\n${rst},boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n` +
    "flash read err, 1000\r\nets_main.c 371 \r\n";
  assertEquals(e.take(), banner("rst:0x1 (POWERON_RESET)"));
  e.clock.advance(399);
  assertEquals(e.take(), "");
  e.clock.advance(1);
  assertEquals(e.take(), banner("rst:0x10 (RTCWDT_RTC_RESET)"));
  e.clock.advance(400);
  assertEquals([e.take(), e.device.boots], [banner("rst:0x10 (RTCWDT_RTC_RESET)"), 4]);
  e.device.dispose();
  assertEquals(e.clock.pending, 0);

  // Anything else but the magic byte: 'invalid header' every 50 ms, 8 lines to a cycle.
  const bad = board({
    chip: "esp32",
    bootMode: "flash",
    parts: [[0x1000, new Uint8Array([0x25, 0x73, 0x20, 0x25])]],
  });
  bad.clock.advance(399);
  const cycle = lines(bad.take());
  assertEquals(cycle.slice(3, 12), [...new Array(8).fill("invalid header: 0x25207325"), ""]);
  bad.clock.advance(1);
  assertOk(bad.take().startsWith("ets Jun  8 2016 00:22:57\r\n\r\nrst:0x10 (RTCWDT_RTC_RESET)"));
  bad.device.dispose();

  // ESP32-C3: a line every 20 ms until timer group 0's flash-boot watchdog, 1 s after the reset.
  const c3 = board({ chip: "esp32c3", bootMode: "flash" });
  c3.clock.advance(999);
  const first = lines(c3.take());
  assertEquals(first.slice(0, 4), [
    "ESP-ROM:esp32c3-api1-20210207",
    "Build:Feb  7 2021",
    "rst:0x1 (POWERON),boot:0xc (SPI_FAST_FLASH_BOOT)",
    "invalid header: 0xffffffff",
  ]);
  assertEquals(first.filter((l) => l === "invalid header: 0xffffffff").length, 50);
  c3.clock.advance(1);
  assertEquals(lines(c3.take()).slice(0, 5), [
    "ESP-ROM:esp32c3-api1-20210207",
    "Build:Feb  7 2021",
    "rst:0x7 (TG0WDT_SYS_RST),boot:0xc (SPI_FAST_FLASH_BOOT)",
    "Saved PC:0x4004d1f8",
    "invalid header: 0xffffffff",
  ]);
  c3.device.dispose();
});

Deno.test("a valid ESP-IDF app: ROM load lines, the bootloader's own log, the app descriptor, then a heartbeat", () => {
  const b = board({
    chip: "esp32",
    bootMode: "flash",
    parts: [[0x1000, BL32], [0x8000, PT], [0x10000, BLINK]],
  });
  b.clock.advance(2300);
  assertEquals(lines(b.take()), [
    "ets Jun  8 2016 00:22:57",
    "",
    "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)",
    ...ESP32_ROM_LOAD,
    ...ESP32_BOOTLOADER,
    ...ESP32_TABLE,
    G("I (140) esp_image: segment 1: paddr=00010428 vaddr=40080400 size=00200h (   512) load"),
    G("I (148) boot: Loaded app from partition at offset 0x10000"),
    G("I (154) boot: Disabling RNG early entropy source..."),
    "I (170) cpu_start: Multicore app",
    "I (173) cpu_start: Pro cpu start user code",
    "I (177) cpu_start: cpu freq: 160000000 Hz",
    "I (181) app_init: Application information:",
    "I (184) app_init: Project name:     blink",
    "I (188) app_init: App version:      1.2.0",
    "I (192) app_init: Compile time:     Dec  3 2026 12:34:56",
    "I (197) app_init: ELF file SHA256:  031425364...",
    "I (201) app_init: ESP-IDF:          v5.5.5",
    "I (205) main_task: Started on CPU0",
    "I (208) main_task: Calling app_main()",
    "I (1212) main: heartbeat 1",
    "I (2212) main: heartbeat 2",
    "",
  ]);
  // One line a second, timed by the device's clock.
  b.clock.advance(911);
  assertEquals(b.take(), "");
  b.clock.advance(1);
  assertEquals(b.take(), "I (3212) main: heartbeat 3\r\n");
  b.device.dispose();
  assertEquals(b.clock.pending, 0);

  // The app's ESP-IDF version picks its format: before v5.3 the tag is cpu_start, before
  // v5.2 the ELF SHA-256 shows 16 digits, before v5.1 there is no main_task.
  const old = board({
    chip: "esp32",
    bootMode: "flash",
    parts: [[0x1000, BL32], [0x8000, PT], [
      0x10000,
      appImage("esp32", { projectName: "p", version: "v", idfVer: "v5.0.2" }),
    ]],
  });
  old.clock.advance(300);
  const app = lines(old.take()).filter((l) => /^I \(\d+\) (cpu_start|app_init|main_task):/.test(l))
    .map((l) => l.replace(/^I \(\d+\) /, ""));
  assertEquals(app, [
    "cpu_start: Pro cpu start user code",
    "cpu_start: cpu freq: 160000000 Hz",
    "cpu_start: Application information:",
    "cpu_start: Project name:     p",
    "cpu_start: App version:      v",
    "cpu_start: Compile time:     Dec  3 2026 12:34:56",
    "cpu_start: ELF file SHA256:  031425364758697a...",
    "cpu_start: ESP-IDF:          v5.0.2",
  ]);
  old.device.dispose();
});

Deno.test("a corrupt, half-written or erased app: the bootloader's errors, then its software reset loop", () => {
  const cases: [string, Uint8Array, string[]][] = [];
  const flipped = BLINK.slice();
  flipped[0x100] ^= 1; // inside segment 0's data: the checksum no longer matches
  cases.push(["checksum", flipped, [
    G("I (140) esp_image: segment 1: paddr=00010428 vaddr=40080400 size=00200h (   512) load"),
    R("E (148) esp_image: Checksum failed. Calculated 0x9c read 0x9d"),
    R("E (155) boot: Factory app partition is not bootable"),
    R("E (160) boot: No bootable app partitions in the partition table"),
  ]]);
  const hash = BLINK.slice();
  hash[hash.length - 1] ^= 1; // only the appended SHA-256
  cases.push(["hash", hash, [
    G("I (140) esp_image: segment 1: paddr=00010428 vaddr=40080400 size=00200h (   512) load"),
    R("E (148) esp_image: Image hash failed - image is corrupt"),
    R("E (154) boot: Factory app partition is not bootable"),
    R("E (160) boot: No bootable app partitions in the partition table"),
  ]]);
  cases.push(["half-written", BLINK.slice(0, 0x300), [
    R("E (140) esp_image: invalid segment length 0xffffffff"),
    R("E (145) boot: Factory app partition is not bootable"),
    R("E (151) boot: No bootable app partitions in the partition table"),
  ]]);
  for (const [name, app, errors] of cases) {
    const b = board({
      chip: "esp32",
      bootMode: "flash",
      parts: [[0x1000, BL32], [0x8000, PT], [0x10000, app]],
    });
    const log = lines(b.take());
    b.clock.advance(170);
    const all = [...log.slice(0, -1), ...lines(b.take())];
    const end = all.indexOf(errors.at(-1)!);
    assertEquals(all.slice(end - errors.length + 1, end + 1), errors, name);
    // bootloader_reset() is a software reset: straps kept, the same boot again.
    assertEquals(all[end + 1], "ets Jun  8 2016 00:22:57", name);
    assertEquals(all[end + 3], "rst:0x3 (SW_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)", name);
    b.device.dispose();
  }
  // Nothing at 0x10000 at all.
  const none = board({ chip: "esp32", bootMode: "flash", parts: [[0x1000, BL32], [0x8000, PT]] });
  none.clock.advance(150);
  assertOk(
    none.take().includes(
      R("E (131) esp_image: image at 0x10000 has invalid magic byte (nothing flashed here?)") +
        "\r\n",
    ),
  );
  none.device.dispose();
  // No partition table.
  const noTable = board({
    chip: "esp32",
    bootMode: "flash",
    parts: [[0x1000, BL32], [0x10000, BLINK]],
  });
  noTable.clock.advance(130);
  assertEquals(lines(noTable.take()).slice(19, 23), [
    R("E (93) flash_parts: partition 0 invalid magic number 0xffff"),
    R("E (100) boot: Failed to verify partition table"),
    R("E (105) boot: load partition table error!"),
    "ets Jun  8 2016 00:22:57",
  ]);
  noTable.device.dispose();
});

Deno.test("OTA: otadata picks the slot; the table is checked against the bootloader header's flash size", () => {
  const rows = [
    ["nvs", 1, 2, 0x9000, 0x4000],
    ["otadata", 1, 0, 0xd000, 0x2000],
    ["ota_0", 0, 0x10, 0x10000, 0x80000],
    ["ota_1", 0, 0x11, 0x90000, 0x80000],
  ] as [string, number, number, number, number][];
  const otadata = new Uint8Array(0x2000).fill(0xff);
  otadata.set(otaEntry(2), 0x1000); // sequence 2: slot (2 - 1) % 2 = ota_1
  const b = board({
    chip: "esp32c3",
    bootMode: "flash",
    parts: [
      [0, firmware("bootloader_esp32c3.bin")],
      [0x8000, partitionTable(rows)],
      [0xd000, otadata],
      [0x10000, appImage("esp32c3", { projectName: "app-a", version: "1" })],
      [0x90000, appImage("esp32c3", { projectName: "app-b", version: "2", idfVer: "v5.1.2" })],
    ],
  });
  b.clock.advance(300);
  const log = lines(b.take()).map((l) => l.replace(ANSI, "").replace(/^([IE]) \(\d+\) /, "$1 "));
  assertEquals(log.slice(log.indexOf("I boot: Partition Table:")), [
    "I boot: Partition Table:",
    "I boot: ## Label            Usage          Type ST Offset   Length",
    "I boot:  0 nvs              WiFi data        01 02 00009000 00004000",
    "I boot:  1 otadata          OTA data         01 00 0000d000 00002000",
    "I boot:  2 ota_0            OTA app          00 10 00010000 00080000",
    "I boot:  3 ota_1            OTA app          00 11 00090000 00080000",
    "I boot: End of partition table",
    "I esp_image: segment 0: paddr=00090020 vaddr=3c000020 size=00400h (  1024) map",
    "I esp_image: segment 1: paddr=00090428 vaddr=40380000 size=00200h (   512) load",
    "I boot: Loaded app from partition at offset 0x90000",
    "I boot: Disabling RNG early entropy source...",
    "I cpu_start: Unicore app",
    "I cpu_start: Pro cpu start user code",
    "I cpu_start: cpu freq: 160000000 Hz",
    "I cpu_start: Application information:",
    "I cpu_start: Project name:     app-b",
    "I cpu_start: App version:      2",
    "I cpu_start: Compile time:     Dec  3 2026 12:34:56",
    "I cpu_start: ELF file SHA256:  031425364758697a...",
    "I cpu_start: ESP-IDF:          v5.1.2",
    "I main_task: Started on CPU0",
    "I main_task: Calling app_main()",
    "",
  ]);
  b.device.dispose();
  // The same table past the 2 MB the bootloader's header declares is refused, as ESP-IDF does.
  rows[3] = ["ota_1", 0, 0x11, 0x110000, 0x100000];
  const big = board({
    chip: "esp32c3",
    bootMode: "flash",
    parts: [[0, firmware("bootloader_esp32c3.bin")], [0x8000, partitionTable(rows)]],
  });
  big.clock.advance(90);
  assertOk(
    big.take().includes(
      "partition 3 invalid - offset 0x110000 size 0x100000 exceeds flash chip size 0x200000",
    ),
  );
  big.device.dispose();
});

Deno.test("the panicking test app: ESP-IDF's panic text with addresses from the test ELFs, then a reset loop", () => {
  const xt = elfFunctions(firmware("elf/esp32-zephyr.elf"));
  const rv = elfFunctions(firmware("elf/esp32c3-panic.elf"));
  const named = (fns: Map<string, [number, number]>, addr: number) =>
    [...fns].find(([, [at, size]]) => addr >= at && addr < at + size)?.[0];

  const app = appImage("esp32", { projectName: "espdelta-panic", version: "1.0" });
  const b = board({
    chip: "esp32",
    bootMode: "flash",
    parts: [[0x1000, BL32], [0x8000, PT], [0x10000, app]],
  });
  b.clock.advance(300);
  const log = b.take();
  const panic = log.slice(log.indexOf("Guru Meditation"), log.indexOf("Rebooting...") + 14);
  assertEquals(
    panic,
    "Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.\r\n\r\n" +
      "Core  0 register dump:\r\n" +
      "PC      : 0x40080897  PS      : 0x00060030  A0      : 0x80082b12  A1      : 0x3ffb1620  \r\n" +
      "A2      : 0x00000000  A3      : 0x3ffb0418  A4      : 0x00000001  A5      : 0x3ffb1600  \r\n" +
      "A6      : 0x00000000  A7      : 0x00000000  A8      : 0x8008090e  A9      : 0x3ffb1600  \r\n" +
      "A10     : 0x00000000  A11     : 0x00000000  A12     : 0x00000000  A13     : 0x00000000  \r\n" +
      "A14     : 0x00000000  A15     : 0x00000000  SAR     : 0x00000004  EXCCAUSE: 0x0000001c  \r\n" +
      "EXCVADDR: 0x00000000  LBEG    : 0x00000000  LEND    : 0x00000000  LCOUNT  : 0x00000000  \r\n" +
      "\r\n\r\nBacktrace: 0x40080894:0x3ffb1620 0x40082b0f:0x3ffb1640 0x4008090b:0x3ffb1660\r\n\r\n\r\n" +
      "Core  1 register dump:\r\n" +
      "PC      : 0x40083832  PS      : 0x00060534  A0      : 0x800837a0  A1      : 0x3ffb1680  \r\n" +
      "A2      : 0x00000000  A3      : 0x3ffb0418  A4      : 0x00000001  A5      : 0x3ffb1600  \r\n" +
      "A6      : 0x00000000  A7      : 0x00000000  A8      : 0x8008090e  A9      : 0x3ffb1660  \r\n" +
      "A10     : 0x00000000  A11     : 0x00000000  A12     : 0x00000000  A13     : 0x00000000  \r\n" +
      "A14     : 0x00000000  A15     : 0x00000000  SAR     : 0x00000004  EXCCAUSE: 0x00000005  \r\n" +
      "EXCVADDR: 0x00000000  LBEG    : 0x00000000  LEND    : 0x00000000  LCOUNT  : 0x00000000  \r\n" +
      "\r\n\r\nBacktrace: 0x4008382f:0x3ffb1680 0x4008379d:0x3ffb16a0 0x4008090b:0x3ffb16c0\r\n\r\n\r\n" +
      "\r\n\r\nELF file SHA256: 031425364\r\n\r\nRebooting...\r\n",
  );
  // Every backtrace address is inside a function of esp32-zephyr.elf.
  const pcs = [...panic.matchAll(/ 0x([0-9a-f]{8}):0x/g)].map((m) => parseInt(m[1], 16));
  assertEquals(pcs.map((pc) => named(xt, pc)), [
    "main",
    "bg_thread_main",
    "z_thread_entry",
    "arch_cpu_idle",
    "idle",
    "z_thread_entry",
  ]);
  // The reboot is a software CPU reset: the same app, the same panic, again and again.
  b.clock.advance(400);
  const again = b.take();
  assertOk(
    again.startsWith(
      "ets Jun  8 2016 00:22:57\r\n\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n",
    ),
  );
  assertOk(again.includes("Guru Meditation Error: Core  0 panic'ed (LoadProhibited)"));
  b.device.dispose();

  // RISC-V: ESP-IDF's register dump with MEPC and RA, and the stack memory.
  const c3 = board({
    chip: "esp32c3",
    bootMode: "flash",
    parts: [[0, firmware("bootloader_esp32c3.bin")], [0x8000, PT], [
      0x10000,
      appImage("esp32c3", { projectName: "x", version: "espdelta-panic" }),
    ]],
  });
  c3.clock.advance(200);
  const dump = lines(c3.take());
  const at = dump.indexOf(
    "Guru Meditation Error: Core  0 panic'ed (Load access fault). Exception was unhandled.",
  );
  assertEquals(dump.slice(at + 1, at + 5), [
    "",
    "Core  0 register dump:",
    "MEPC    : 0x42000054  RA      : 0x4200003c  SP      : 0x3fc8e9a0  GP      : 0x3fc8bc00  ",
    "TP      : 0x3fc8ea60  T0      : 0x00000000  T1      : 0x00000000  T2      : 0x00000000  ",
  ]);
  assertEquals(dump.slice(at + 12, at + 17), [
    "MHARTID : 0x00000000  ",
    "",
    "Stack memory:",
    "3fc8e9a0: 0x00000000 0x00000000 0x00000000 0x4200003c 0x00000000 0x00000000 0x00000000 0x4200002c",
    "3fc8e9c0: 0x3fc8ea60 0x00000000 0x00000000 0x00000000 0x00000000 0x00000000 0x00000000 0x00000000",
  ]);
  assertEquals(dump.slice(at + 47, at + 54), [
    "",
    "",
    "",
    "ELF file SHA256: 031425364",
    "",
    "Rebooting...",
    "",
  ]);
  assertEquals([named(rv, 0x42000054), named(rv, 0x4200003c), named(rv, 0x4200002c)], [
    "app_main",
    "main_task",
    "vPortTaskWrapper",
  ]);
  c3.clock.advance(400);
  assertOk(
    c3.take().includes(
      "rst:0xc (RTC_SW_CPU_RST),boot:0xc (SPI_FAST_FLASH_BOOT)\r\nSaved PC:0x4004d1f8\r\n",
    ),
  );
  c3.device.dispose();
});

Deno.test("resets and download mode: software resets keep the straps, the RTC watchdog and EN re-sample them", () => {
  // Written over the ROM with raw frames, then booted through the reset lines.
  const b = romBench({ chip: "esp32c3", clock: new ManualClock() });
  const table = PT;
  b.cmd(Op.FLASH_BEGIN, words(table.length, 1, 0x400, 0x8000, 0));
  const block = new Uint8Array(0x400).fill(0xff);
  block.set(table);
  b.data(Op.FLASH_DATA, 0, block);
  assertEquals(b.device.flash.data.subarray(0x8000, 0x8000 + 96), table);

  // FLASH_END(0) from download mode: a software system reset, straps kept: download again.
  b.cmd(Op.FLASH_END, words(0));
  assertEquals(b.device.mode, "rom");
  assertOk(
    text(b.sent.at(-1)!.bytes).includes(
      "rst:0x3 (RTC_SW_SYS_RST),boot:0x4 (DOWNLOAD(USB/UART0/1))",
    ),
  );

  // esptool's watchdog reset (RTC WDT registers, §5) is a system reset that re-samples the
  // boot pin: released now, so the chip boots its flash (erased: invalid header).
  const c = new ManualClock();
  const w = new Bench({ chip: "esp32c3", clock: c });
  const wdt = CHIPS.esp32c3.rtcWdt!;
  w.cmd(Op.SYNC, SYNC_PAYLOAD);
  for (
    const [addr, value] of [[wdt.wprotect, RTC_WDT_WKEY], [wdt.config1, 2000], [
      wdt.config0,
      0xd0000102,
    ], [wdt.wprotect, 0]]
  ) {
    w.cmd(Op.WRITE_REG, words(addr, value, 0xffffffff, 0));
  }
  c.advance(13);
  const log = text(w.sent.at(-2)!.bytes) + text(w.sent.at(-1)!.bytes);
  assertOk(
    log.includes(
      "rst:0x10 (RTCWDT_RTC_RST),boot:0xc (SPI_FAST_FLASH_BOOT)\r\nSaved PC:0x4004d1f8\r\n",
    ),
    log,
  );
  assertEquals(w.device.mode, "app");
  w.device.dispose();
});

/** A port on `device` that only drives its lines (for reset sequences). */
function linesOnly(device: VirtualDevice): Port {
  return {
    path: "lines",
    baud: 115200,
    hasModemLines: true,
    read: () => Promise.resolve(new Uint8Array()),
    write: () => Promise.resolve(),
    drain: () => Promise.resolve(),
    flushInput: () => Promise.resolve(),
    setBaud: () => Promise.resolve(),
    setSignals: (s) => Promise.resolve(device.setLines(s)),
    close: () => Promise.resolve(),
  };
}

Deno.test("USB-Serial/JTAG: esptool's sequence forces download, RTS alone is a core reset that keeps the straps", async () => {
  const b = board({ chip: "esp32s3", usbSerialJtag: true, bootMode: "flash" });
  const sleep = (ms: number) => Promise.resolve(b.clock.advance(ms));
  const port = linesOnly(b.device);
  b.take();
  await runSequence(port, usbJtagSteps(), sleep);
  assertEquals(b.device.mode, "rom");
  const last = (t: string) => t.slice(t.lastIndexOf("ESP-ROM:"));
  assertEquals(
    last(b.take()),
    "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\n" +
      "rst:0x15 (USB_UART_CHIP_RESET),boot:0x0 (DOWNLOAD(USB/UART0))\r\nSaved PC:0x40048839\r\n" +
      "waiting for download\r\n",
  );
  // esptool's USB hard reset: RTS pulse with DTR released: the latched straps say flash.
  await runSequence(port, hardResetSteps(true), sleep);
  assertEquals(b.device.mode, "app");
  assertOk(
    last(b.take()).startsWith(
      "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\n" +
        "rst:0x15 (USB_UART_CHIP_RESET),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\nSaved PC:0x40048839\r\n" +
        "invalid header: 0xffffffff\r\n",
    ),
  );
  b.device.dispose();

  // Download mode entered by hand (BOOT held at power-on): the USB reset cannot leave it,
  // the RTC watchdog can (esptool's troubleshooting notes).
  const held = board({ chip: "esp32c3", usbSerialJtag: true, bootMode: "download" });
  const p2 = linesOnly(held.device);
  await runSequence(p2, hardResetSteps(true), (ms) => Promise.resolve(held.clock.advance(ms)));
  assertEquals(held.device.mode, "rom");
  assertOk(held.take().includes("rst:0x15 (USB_UART_CHIP_RESET),boot:0x4 (DOWNLOAD(USB/UART0/1))"));
  held.device.dispose();
  let thrown = "";
  try {
    new VirtualDevice({ chip: "esp32", usbSerialJtag: true });
  } catch (e) {
    thrown = (e as Error).message;
  }
  assertEquals(thrown, "ESP32 has no USB-Serial/JTAG port");
});

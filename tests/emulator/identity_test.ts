/**
 * Chip identities over raw READ_REG: the revision and package eFuse fields
 * decoded as esptool's target classes decode them (`get_major_chip_version`,
 * `get_minor_chip_version`, `get_pkg_version` in esptool/targets/*.py,
 * written out again below), the ESP32's AHB aliases, and the reset values of
 * the SPI and UART configuration registers.
 */
import { assertEquals, assertThrows } from "../assert.ts";
import { type Bench, romBench, words } from "./raw.ts";
import { type ChipName, CHIPS, macFromWords } from "../../src/chips/chips.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { RevisionError } from "../../src/emulator/identity.ts";
import { Op } from "../../src/protocol/opcodes.ts";
import { readU32 } from "../../src/protocol/bytes.ts";

type Read = (addr: number) => number;
interface Decoded {
  major: number;
  minor: number;
  pkg: number;
}

const bits = (v: number, shift: number, n: number) => (v >>> shift) & ((1 << n) - 1);

/** esptool's decoding, per chip. */
const ESPTOOL: Record<Exclude<ChipName, "esp8266">, (r: Read) => Decoded> = {
  esp32: (r) => {
    const w3 = r(0x3ff5a00c);
    const w5 = r(0x3ff5a014);
    const code = (bits(r(0x3ff6607c), 31, 1) << 2) | (bits(w5, 20, 1) << 1) | bits(w3, 15, 1);
    const major = ({ 0: 0, 1: 1, 3: 2, 7: 3 } as Record<number, number>)[code] ?? 0;
    return { major, minor: bits(w5, 24, 2), pkg: bits(w3, 9, 3) + (bits(w3, 2, 1) << 3) };
  },
  esp32s2: (r) => ({
    major: bits(r(0x3f41a050), 18, 2),
    minor: (bits(r(0x3f41a050), 20, 1) << 3) + bits(r(0x3f41a054), 4, 3),
    pkg: bits(r(0x3f41a054), 0, 4),
  }),
  esp32s3: (r) => ({
    major: bits(r(0x60007058), 24, 2),
    minor: (bits(r(0x60007058), 23, 1) << 3) + bits(r(0x60007050), 18, 3),
    pkg: bits(r(0x60007050), 21, 3),
  }),
  esp32c2: (r) => ({
    major: bits(r(0x60008844), 20, 2),
    minor: bits(r(0x60008844), 16, 4),
    pkg: bits(r(0x60008844), 22, 3),
  }),
  esp32c3: (r) => ({
    major: bits(r(0x60008858), 24, 2),
    minor: (bits(r(0x60008858), 23, 1) << 3) + bits(r(0x60008850), 18, 3),
    pkg: bits(r(0x60008850), 21, 3),
  }),
  esp32c5: (r) => ({
    major: bits(r(0x600b484c), 4, 2),
    minor: bits(r(0x600b484c), 0, 4),
    pkg: bits(r(0x600b484c), 26, 3),
  }),
  esp32c6: (r) => ({
    major: bits(r(0x600b0850), 22, 2),
    minor: bits(r(0x600b0850), 18, 4),
    pkg: bits(r(0x600b0850), 24, 3),
  }),
  esp32h2: (r) => ({
    major: bits(r(0x600b0850), 21, 2),
    minor: bits(r(0x600b0850), 18, 3),
    pkg: bits(r(0x600b0854), 0, 3),
  }),
  esp32p4: (r) => {
    const w = r(0x5012d04c);
    return {
      major: (bits(w, 23, 1) << 2) | bits(w, 4, 2),
      minor: bits(w, 0, 4),
      pkg: bits(w, 20, 3),
    };
  },
};

const reader = (b: Bench): Read => (addr) => readU32(b.cmd(Op.READ_REG, words(addr))[0], 4);

/** The parts on sale the device defaults to: revision and package. */
const DEFAULTS: Record<keyof typeof ESPTOOL, [string, number]> = {
  esp32: ["v3.1", 1], // ESP32-D0WD-V3
  esp32s2: ["v0.0", 0],
  esp32s3: ["v0.2", 0], // QFN56
  esp32c2: ["v1.0", 0],
  esp32c3: ["v0.4", 0], // QFN32
  esp32c5: ["v1.0", 0],
  esp32c6: ["v0.2", 0], // QFN40
  esp32h2: ["v0.1", 0],
  esp32p4: ["v3.1", 0],
};

const fmt = (d: Decoded) => `v${d.major}.${d.minor}`;
const MAC = [0x24, 0x0a, 0xc4, 0x12, 0x34, 0x56];

Deno.test("identity: default revision and package per chip, read as esptool reads them", () => {
  for (
    const [chip, decode] of Object.entries(ESPTOOL) as [
      keyof typeof ESPTOOL,
      typeof ESPTOOL.esp32,
    ][]
  ) {
    const b = romBench({ chip, mac: MAC });
    const d = decode(reader(b));
    assertEquals([fmt(d), d.pkg], DEFAULTS[chip], chip);
    // The MAC still reads right where revision bits share its word (ESP32-C2).
    assertEquals(macFromWords(CHIPS[chip].mac, reader(b)), MAC, chip);
  }
});

Deno.test("identity: --revision is written into the same fields", () => {
  const cases: [keyof typeof ESPTOOL, string][] = [
    ["esp32", "v0.0"],
    ["esp32", "v1.0"],
    ["esp32", "v1.1"],
    ["esp32", "v2.0"],
    ["esp32", "v3.0"],
    ["esp32", "v3.3"],
    ["esp32s2", "v1.0"],
    ["esp32s2", "v0.9"],
    ["esp32s3", "v1.2"],
    ["esp32s3", "v0.15"],
    ["esp32c2", "v2.0"],
    ["esp32c3", "v1.1"],
    ["esp32c3", "v0.3"],
    ["esp32c3", "v0.12"],
    ["esp32c5", "v0.1"],
    ["esp32c6", "v0.15"],
    ["esp32h2", "v1.2"],
    ["esp32p4", "v1.3"],
    ["esp32p4", "v3.2"],
    ["esp32p4", "v7.15"],
  ];
  for (const [chip, revision] of cases) {
    const d = ESPTOOL[chip](reader(romBench({ chip, revision })));
    assertEquals(fmt(d), revision, chip);
  }
});

Deno.test("identity: GET_SECURITY_INFO's API version follows the C3's ROM (3 on v0.x, 7 on v1.x)", () => {
  const api = (revision: string) =>
    readU32(romBench({ chip: "esp32c3", revision }).cmd(Op.GET_SECURITY_INFO)[0], 8 + 16);
  assertEquals([api("v0.4"), api("v0.3"), api("v1.1")], [3, 3, 7]);
});

Deno.test("identity: a revision that is not vX.Y or does not fit the fields is refused", () => {
  assertEquals(
    assertThrows(() => new VirtualDevice({ chip: "esp32", revision: "3" }), RevisionError).message,
    "invalid revision '3': use vMAJOR.MINOR, e.g. v3.1",
  );
  assertEquals(
    assertThrows(() => new VirtualDevice({ chip: "esp32c3", revision: "v4.0" }), RevisionError)
      .message,
    "revision v4.0 does not fit the ESP32-C3: major 0-3, minor 0-15",
  );
  assertEquals(
    assertThrows(() => new VirtualDevice({ chip: "esp32", revision: "v3.4" }), RevisionError)
      .message,
    "revision v3.4 does not fit the ESP32: major 0-3, minor 0-3",
  );
  assertEquals(
    assertThrows(() => new VirtualDevice({ chip: "esp8266", revision: "v1.0" }), RevisionError)
      .message,
    "the ESP8266 has no silicon revision eFuses to set",
  );
});

Deno.test("ESP32: peripherals answer at their AHB aliases too (eFuse 0x6001A000, SPI1 0x60002000)", () => {
  const b = romBench({ chip: "esp32", mac: MAC });
  const r = reader(b);
  for (const off of [0x0, 0x4, 0x8, 0xc, 0x10, 0x14]) {
    assertEquals(r(0x6001a000 + off), r(0x3ff5a000 + off));
  }
  assertEquals(macFromWords({ kind: "esp32", word1: 0x6001a004, word2: 0x6001a008 }, r), MAC);
  // esptool v2 drove SPI1 at 0x60002000: the JEDEC id comes back the same way.
  const w = (addr: number, v: number) => b.cmd(Op.WRITE_REG, words(addr, v, 0xffffffff, 0));
  w(0x6000201c, (1 << 31) | (1 << 28)); // USR: command + MISO
  w(0x6000202c, 23); // MISO_DLEN
  w(0x60002024, (7 << 28) | 0x9f); // USR2: RDID
  w(0x60002080, 0);
  w(0x60002000, 1 << 18);
  assertEquals(r(0x3ff42080), 0x1640ef);
  // A write through one address is read through the other.
  w(0x3ff42004, 0x12345678);
  assertEquals(r(0x60002004), 0x12345678);
});

Deno.test("reset values: SPI flash controller and UART0 configuration registers", () => {
  const esp32 = reader(romBench({ chip: "esp32" }));
  assertEquals(esp32(0x3ff4201c).toString(16), "80000040"); // SPI_USER_REG
  assertEquals(esp32(0x3ff42020).toString(16), "5c000007"); // SPI_USER1_REG
  assertEquals(esp32(0x3ff42018).toString(16), "80003043"); // SPI_CLOCK_REG
  assertEquals(esp32(0x3ff40020).toString(16), "800001c"); // UART_CONF0_REG: 8N1
  assertEquals(esp32(0x60000078).toString(16), "15122500"); // UART_DATE_REG, through the alias
  const c3 = reader(romBench({ chip: "esp32c3" }));
  assertEquals(c3(0x60002018).toString(16), "80000000"); // SPI_MEM_USER_REG
  assertEquals(c3(0x6000007c).toString(16), "2008270"); // UART_DATE_REG
  assertEquals(c3(0x60000020).toString(16), "1000001c"); // UART_CONF0_REG
  // The ESP32-P4's SPI1 changed with hw_ver3 (v3.x) silicon.
  assertEquals(reader(romBench({ chip: "esp32p4" }))(0x5008d00c).toString(16), "1ffffc");
  assertEquals(
    reader(romBench({ chip: "esp32p4", revision: "v1.3" }))(0x5008d00c).toString(16),
    "ffc",
  );
  // The UART clock divider still follows the baud rate, not its reset value.
  assertEquals(esp32(0x3ff40014) & 0xfffff, 347);
});

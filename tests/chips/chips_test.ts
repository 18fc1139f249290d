import { assertEquals } from "../assert.ts";
import {
  CHIP_NAMES,
  chipByImageId,
  chipByMagic,
  CHIPS,
  chipWithShortSecurityInfo,
  flashSizeFromJedec,
  formatMac,
  macFromWords,
  macWords,
  normalizeChipName,
} from "../../src/chips/chips.ts";

Deno.test("every chip is found by its image chip id and by each magic value", () => {
  for (const name of CHIP_NAMES) {
    const c = CHIPS[name];
    if (c.imageChipId !== null) assertEquals(chipByImageId(c.imageChipId)?.name, name);
    for (const m of c.magicValues) assertEquals(chipByMagic(m)?.name, name);
  }
  assertEquals(chipByMagic(0x12345678), undefined);
  // No magic value belongs to two chips: detection does not depend on table order.
  const all = CHIP_NAMES.flatMap((n) => CHIPS[n].magicValues);
  assertEquals(new Set(all).size, all.length);
});

Deno.test("chip quirks are data: which chips have each", () => {
  const having = (f: (n: (typeof CHIP_NAMES)[number]) => unknown) => CHIP_NAMES.filter((n) => f(n));
  assertEquals(having((n) => CHIPS[n].rom.baudDivisorFrom), ["esp32", "esp32c2"]);
  assertEquals(
    CHIP_NAMES.map((n) => CHIPS[n].rom.baudDivisorFrom ?? "-").slice(1, 5),
    ["estimate", "-", "-", "assumes-40mhz"],
  );
  assertEquals(having((n) => CHIPS[n].rom.eraseSizeBug), ["esp8266"]);
  assertEquals(having((n) => CHIPS[n].softReset), ["esp8266"]);
  assertEquals(having((n) => CHIPS[n].cryptCntEfuse), ["esp32"]);
  assertEquals(CHIPS.esp32.cryptCntEfuse, { addr: 0x3ff5a000, shift: 20, mask: 0x7f });
  assertEquals(
    Object.fromEntries(CHIP_NAMES.map((n) => [n, CHIPS[n].encryptionBlock])),
    {
      esp8266: null,
      esp32: 32,
      esp32s2: 16,
      esp32s3: 16,
      esp32c2: 16,
      esp32c3: 16,
      esp32c5: 16,
      esp32c6: 16,
      esp32h2: 16,
      esp32p4: 16,
    },
  );
  assertEquals(chipWithShortSecurityInfo()?.name, "esp32s2");
  // Loaders without GET_SECURITY_INFO: the ESP8266 (no security at all) and the ESP32 (eFuse).
  assertEquals(having((n) => CHIPS[n].rom.securityInfo === "none"), ["esp8266", "esp32"]);
});

Deno.test("chip names are normalised", () => {
  assertEquals(normalizeChipName("ESP32-S3"), "esp32s3");
  assertEquals(normalizeChipName("esp32_c6"), "esp32c6");
  assertEquals(normalizeChipName("esp33"), undefined);
});

Deno.test("bootloader offsets per chip", () => {
  const offsets = Object.fromEntries(CHIP_NAMES.map((n) => [n, CHIPS[n].bootloaderOffset]));
  assertEquals(offsets, {
    esp8266: 0,
    esp32: 0x1000,
    esp32s2: 0x1000,
    esp32s3: 0,
    esp32c2: 0,
    esp32c3: 0,
    esp32c5: 0x2000,
    esp32c6: 0,
    esp32h2: 0,
    esp32p4: 0x2000,
  });
});

Deno.test("MAC assembly for each layout", () => {
  const s3 = macFromWords(
    CHIPS.esp32s3.mac,
    (a) => ({ 0x60007044: 0xf72ca2d4, 0x60007048: 0xfffe6055 })[a] ?? 0,
  );
  assertEquals(formatMac(s3), "60:55:f7:2c:a2:d4");
  const esp32 = macFromWords(
    CHIPS.esp32.mac,
    (a) => ({ 0x3ff5a004: 0x9a8b7c6d, 0x3ff5a008: 0xab0024a4 })[a] ?? 0,
  );
  assertEquals(formatMac(esp32), "24:a4:9a:8b:7c:6d");
  const e8266 = macFromWords(
    CHIPS.esp8266.mac,
    (a) => ({ 0x3ff00050: 0x5e000000, 0x3ff00054: 0x0001a1b2, 0x3ff0005c: 0 })[a] ?? 0,
  );
  assertEquals(formatMac(e8266), "ac:d0:74:a1:b2:5e");
  assertEquals(macWords(CHIPS.esp32.mac), [0x3ff5a004, 0x3ff5a008]);
  assertEquals(macWords(CHIPS.esp32c2.mac), [0x60008840, 0x60008844]);
});

Deno.test("JEDEC capacity decoding", () => {
  assertEquals(flashSizeFromJedec(0x1640ef), 4 * 1024 * 1024); // W25Q32
  assertEquals(flashSizeFromJedec(0x1840c8), 16 * 1024 * 1024);
  assertEquals(flashSizeFromJedec(0x3940c8), 32 * 1024 * 1024);
  assertEquals(flashSizeFromJedec(0x0000ef), undefined);
});

import { assertEquals, assertOk } from "../assert.ts";
import { createHash } from "node:crypto";
import { deflateSync } from "node:zlib";
import { Bench, hexOf, words } from "./raw.ts";
import { CHIP_NAMES, CHIPS } from "../../src/chips/chips.ts";
import { Op, SYNC_PAYLOAD } from "../../src/protocol/opcodes.ts";
import { slipEncode } from "../../src/protocol/slip.ts";
import { encodeCommand } from "../../src/protocol/packet.ts";
import { readU32 } from "../../src/protocol/bytes.ts";

const FW = new URL("../../../shared/testdata/firmware/", import.meta.url);
const md5hex = (b: Uint8Array) => createHash("md5").update(b).digest("hex");

/** A ROM bench, attached (SPI_ATTACH) where the chip needs it. */
function rom(chip: (typeof CHIP_NAMES)[number], options: Record<string, unknown> = {}) {
  const b = new Bench({ chip, ...options });
  if (CHIPS[chip].rom.spiAttach) b.cmd(Op.SPI_ATTACH, words(0, 0));
  return b;
}

/** A bench running "the stub" (a RAM program started inside its segment). */
function stub(chip: (typeof CHIP_NAMES)[number]) {
  const b = new Bench({ chip });
  const code = new Uint8Array(64).fill(0x11);
  b.cmd(Op.MEM_BEGIN, words(code.length, 1, 0x1800, 0x40090000));
  b.data(Op.MEM_DATA, 0, code);
  const out = b.cmd(Op.MEM_END, words(0, 0x40090010));
  assertEquals(new TextDecoder().decode(out[1]), "OHAI");
  return b;
}

Deno.test("SYNC: eight identical replies with the ROM's value, on every chip", () => {
  for (const chip of CHIP_NAMES) {
    const b = new Bench({ chip });
    const replies = b.cmd(Op.SYNC, SYNC_PAYLOAD);
    const expected = CHIPS[chip].rom.statusLength === 2
      ? "01 08 02 00 07 07 12 20 00 00"
      : "01 08 04 00 07 07 12 20 00 00 00 00";
    assertEquals(replies.map(hexOf), Array(8).fill(expected), chip);
  }
});

Deno.test("SYNC with a wrong pattern is refused as invalid format", () => {
  const b = new Bench({ chip: "esp32" });
  const bad = SYNC_PAYLOAD.slice();
  bad[10] = 0x54;
  assertEquals(b.cmd(Op.SYNC, bad).map(hexOf), ["01 08 04 00 07 07 12 20 01 05 00 00"]);
});

Deno.test("READ_REG of the magic word and the MAC eFuse words, per chip", () => {
  const mac = [0x24, 0x0a, 0xc4, 0x12, 0x34, 0x56];
  for (const chip of CHIP_NAMES) {
    const b = new Bench({ chip, mac });
    const [magic] = b.cmd(Op.READ_REG, words(0x40001000));
    assertEquals(readU32(magic, 4), CHIPS[chip].magicValues[0], chip);
    const m = CHIPS[chip].mac;
    if (m.kind === "efuse") {
      assertEquals(readU32(b.cmd(Op.READ_REG, words(m.mac0))[0], 4), 0xc4123456, chip);
      assertEquals(readU32(b.cmd(Op.READ_REG, words(m.mac0 + 4))[0], 4), 0x240a, chip);
    }
  }
});

Deno.test("GET_SECURITY_INFO: unsupported on ESP8266/ESP32, 12 bytes on S2, 20 with chip id later", () => {
  const reply = (chip: (typeof CHIP_NAMES)[number]) =>
    hexOf(new Bench({ chip }).cmd(Op.GET_SECURITY_INFO)[0]);
  assertEquals(reply("esp8266"), "01 14 02 00 07 07 12 20 01 05");
  assertEquals(reply("esp32"), "01 14 04 00 07 07 12 20 01 05 00 00");
  assertEquals(
    reply("esp32s2"),
    "01 14 10 00 07 07 12 20 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
  );
  assertEquals(
    reply("esp32c6"),
    "01 14 18 00 07 07 12 20 00 00 00 00 00 00 00 00 00 00 00 00 0d 00 00 00 00 00 00 00 " +
      "00 00 00 00",
  );
});

Deno.test("ROM errors: unknown opcode, stub-only opcode, bad size field", () => {
  const b = rom("esp32");
  assertEquals(b.cmd(0x55).map(hexOf), ["01 55 04 00 07 07 12 20 01 05 00 00"]);
  assertEquals(b.cmd(Op.ERASE_FLASH).map(hexOf), ["01 d0 04 00 07 07 12 20 01 05 00 00"]);
  // A size field that disagrees with the packet: invalid format.
  const pkt = encodeCommand(Op.READ_REG, words(0x40001000));
  pkt[2] = 5;
  assertEquals(b.raw(slipEncode(pkt)).map(hexOf), ["01 0a 04 00 07 07 12 20 01 05 00 00"]);
});

Deno.test("ROM FLASH_DATA: checksum, sequence and length errors have exact replies", () => {
  const b = rom("esp32");
  assertEquals(b.cmd(Op.FLASH_BEGIN, words(0x2000, 8, 0x400, 0x10000)).map(hexOf), [
    "01 02 04 00 07 07 12 20 00 00 00 00",
  ]);
  const block = new Uint8Array(0x400).fill(0x5a);
  // Wrong checksum.
  assertEquals(b.data(Op.FLASH_DATA, 0, block, 0x12).map(hexOf), [
    "01 03 04 00 07 07 12 20 01 07 00 00",
  ]);
  // Out of order: sequence 1 before 0.
  assertEquals(b.data(Op.FLASH_DATA, 1, block).map(hexOf), ["01 03 04 00 07 07 12 20 01 01 00 00"]);
  // Short block (the ROM wants full, 0xFF-padded blocks).
  assertEquals(b.data(Op.FLASH_DATA, 0, block.subarray(0, 100)).map(hexOf), [
    "01 03 04 00 07 07 12 20 01 01 00 00",
  ]);
  // The right block goes in.
  assertEquals(b.data(Op.FLASH_DATA, 0, block).map(hexOf), ["01 03 04 00 07 07 12 20 00 00 00 00"]);
  assertEquals(b.device.flash.data[0x10000], 0x5a);
});

Deno.test("ROM refuses flash commands before SPI_ATTACH on ESP32-family chips", () => {
  const b = new Bench({ chip: "esp32c3" });
  assertEquals(b.cmd(Op.SPI_FLASH_MD5, words(0, 0x1000, 0, 0)).map(hexOf), [
    "01 13 04 00 07 07 12 20 01 06 00 00",
  ]);
  // 20-byte FLASH_BEGIN on the C3 ROM; 16 bytes is refused.
  b.cmd(Op.SPI_ATTACH, words(0, 0));
  assertEquals(
    hexOf(b.cmd(Op.FLASH_BEGIN, words(0x1000, 1, 0x400, 0))[0]).slice(-11),
    "01 05 00 00",
  );
  assertEquals(
    hexOf(b.cmd(Op.FLASH_BEGIN, words(0x1000, 1, 0x400, 0, 0))[0]).slice(-11),
    "00 00 00 00",
  );
});

Deno.test("raw and compressed ROM writes of a real image, ROM MD5 as hex, exact sectors", () => {
  const image = new Uint8Array(Deno.readFileSync(new URL("bootloader_esp32.bin", FW)));
  for (const compressed of [false, true]) {
    const b = rom("esp32");
    b.device.flash.resetCounters();
    const offset = 0x1000;
    if (compressed) {
      const z = new Uint8Array(deflateSync(image, { level: 9 }));
      const blocks = Math.ceil(z.length / 0x400);
      b.cmd(
        Op.FLASH_DEFL_BEGIN,
        words(Math.ceil(image.length / 0x400) * 0x400, blocks, 0x400, offset),
      );
      for (let i = 0; i < blocks; i++) {
        const r = b.data(Op.FLASH_DEFL_DATA, i, z.subarray(i * 0x400, (i + 1) * 0x400));
        assertEquals(hexOf(r[0]).slice(-11), "00 00 00 00");
      }
    } else {
      const blocks = Math.ceil(image.length / 0x400);
      b.cmd(Op.FLASH_BEGIN, words(image.length, blocks, 0x400, offset));
      for (let i = 0; i < blocks; i++) {
        const block = new Uint8Array(0x400).fill(0xff);
        block.set(image.subarray(i * 0x400, (i + 1) * 0x400));
        assertEquals(hexOf(b.data(Op.FLASH_DATA, i, block)[0]).slice(-11), "00 00 00 00");
      }
    }
    const [r] = b.cmd(Op.SPI_FLASH_MD5, words(offset, image.length, 0, 0));
    assertEquals(new TextDecoder().decode(r.subarray(8, 40)), md5hex(image));
    assertEquals(Array.from(r.subarray(40)), [0, 0, 0, 0]);
    assertEquals(b.device.flash.touchedSectors(), [1, 2]);
    assertEquals(Array.from(b.device.flash.sectorErases.subarray(0, 4)), [0, 1, 1, 0]);
  }
});

Deno.test("ESP8266 ROM erase bug: esptool's corrected size erases exactly the range", () => {
  // (0x3000, 0x40000): esptool sends 0x33000; the ROM erases 0x40000 bytes from 0x3000.
  const b = new Bench({ chip: "esp8266" });
  b.cmd(Op.FLASH_BEGIN, words(0x33000, 0, 0x400, 0x3000));
  assertEquals(b.device.flash.touchedSectors(), [...Array(0x40).keys()].map((i) => i + 3));
  // (0x1000, 0x2000): esptool sends 0x1000; two sectors get erased.
  const c = new Bench({ chip: "esp8266" });
  c.cmd(Op.FLASH_BEGIN, words(0x1000, 0, 0x400, 0x1000));
  assertEquals(c.device.flash.touchedSectors(), [1, 2]);
});

Deno.test("stub: upload refused when corrupted, OHAI when intact, stub error codes", () => {
  const b = new Bench({ chip: "esp32s3" });
  const code = new Uint8Array(0x2000).fill(0x33);
  b.cmd(Op.MEM_BEGIN, words(code.length, 2, 0x1800, 0x40380000));
  assertEquals(
    hexOf(b.data(Op.MEM_DATA, 0, code.subarray(0, 0x1800), 0x00)[0]).slice(-11),
    "01 07 00 00",
  );
  // Only half arrived: MEM_END is refused and nothing starts.
  assertEquals(hexOf(b.cmd(Op.MEM_END, words(0, 0x40380000))[0]).slice(-11), "01 0e 00 00");
  assertEquals(b.device.mode, "rom");

  const s = stub("esp32s3");
  assertEquals(s.device.mode, "stub");
  assertEquals(s.cmd(Op.SYNC, SYNC_PAYLOAD).map(hexOf), ["01 08 02 00 00 00 00 00 00 00"]);
  assertEquals(s.cmd(0x55).map(hexOf), ["01 55 02 00 00 00 00 00 ff 00"]);
  assertEquals(s.data(Op.FLASH_DATA, 0, new Uint8Array(4)).map(hexOf), [
    "01 03 02 00 00 00 00 00 c6 00",
  ]);
  s.cmd(Op.FLASH_BEGIN, words(0x1000, 1, 0x4000, 0));
  assertEquals(s.data(Op.FLASH_DATA, 0, new Uint8Array(16), 0x99).map(hexOf), [
    "01 03 02 00 00 00 00 00 c1 00",
  ]);
  assertEquals(s.cmd(Op.FLASH_BEGIN, words(0x1000, 1, 0x8000, 0)).map(hexOf), [
    "01 02 02 00 00 00 00 00 c2 00",
  ]);
  assertEquals(s.cmd(Op.ERASE_REGION, words(0x800, 0x1000)).map(hexOf), [
    "01 d1 02 00 00 00 00 00 c0 00",
  ]);
});

Deno.test("stub: compressed write, raw MD5, and a 1 MiB READ_FLASH with acks", () => {
  const s = stub("esp32c3");
  const image = new Uint8Array(Deno.readFileSync(new URL("esp_idf_blink_esp32s2.bin", FW)));
  const z = new Uint8Array(deflateSync(image, { level: 9 }));
  const blocks = Math.ceil(z.length / 0x4000);
  s.device.flash.resetCounters();
  s.cmd(Op.FLASH_DEFL_BEGIN, words(image.length, blocks, 0x4000, 0x20000));
  for (let i = 0; i < blocks; i++) {
    assertEquals(
      hexOf(s.data(Op.FLASH_DEFL_DATA, i, z.subarray(i * 0x4000, (i + 1) * 0x4000))[0]).slice(-5),
      "00 00",
    );
  }
  assertEquals(hexOf(s.cmd(Op.FLASH_DEFL_END, words(1))[0]).slice(-5), "00 00");
  const sectors = Math.ceil(image.length / 0x1000);
  assertEquals(s.device.flash.touchedSectors(), [...Array(sectors).keys()].map((i) => i + 0x20));
  const [r] = s.cmd(Op.SPI_FLASH_MD5, words(0x20000, image.length, 0, 0));
  assertEquals(hexOf(r.subarray(8, 24)).replaceAll(" ", ""), md5hex(image));

  const size = 1024 * 1024;
  const first = s.cmd(Op.READ_FLASH, words(0, size, 0x1000, 64));
  assertEquals(hexOf(first[0]), "01 d2 02 00 00 00 00 00 00 00");
  const got: Uint8Array[] = [first[1]];
  let total = first[1].length;
  while (total < size) {
    const next = s.raw(slipEncode(words(total)));
    assertEquals(next.length, 1);
    got.push(next[0]);
    total += next[0].length;
  }
  const digest = s.raw(slipEncode(words(total)));
  const data = new Uint8Array(size);
  let at = 0;
  for (const g of got) {
    data.set(g, at);
    at += g.length;
  }
  assertEquals(got.length, 256);
  assertEquals(data, s.device.flash.data.subarray(0, size));
  assertEquals(hexOf(digest[0]).replaceAll(" ", ""), md5hex(data));
});

Deno.test("stub READ_FLASH with packets over 4 KiB answers and then sends nothing", () => {
  const s = stub("esp32");
  assertEquals(s.cmd(Op.READ_FLASH, words(0, 0x4000, 0x2000, 1)).map(hexOf), [
    "01 d2 02 00 00 00 00 00 00 00",
  ]);
  assertOk(s.device.mode === "stub");
});

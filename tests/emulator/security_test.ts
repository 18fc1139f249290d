import { assertEquals } from "../assert.ts";
import { Bench, hexOf, md5hex, romBench, stubBench, words } from "./raw.ts";
import { esp32Aes, espXts } from "./cipher_ref.ts";
import { randomBytes } from "../rand.ts";
import { readU32 } from "../../src/protocol/bytes.ts";
import { deflateSync } from "node:zlib";
import { Op, SYNC_PAYLOAD } from "../../src/protocol/opcodes.ts";

const KEY = new Uint8Array(32).map((_, i) => 0xa0 + i);
const value = (frame: Uint8Array) => readU32(frame, 4);

for (const stubKind of ["legacy", "esp-flasher-stub"] as const) {
  Deno.test(`ESP32 ${stubKind} stub: encrypted writes are AES-256 ciphertext under the burned key`, () => {
    const b = stubBench({ chip: "esp32", flashCryptCnt: 1, flashEncryptionKey: KEY, stubKind });
    const data = randomBytes(0x1000, 1);
    assertEquals(
      hexOf(b.cmd(Op.FLASH_BEGIN, words(0x1000, 1, 0x4000, 0x10000, 1))[0]).slice(-5),
      "00 00",
    );
    assertEquals(hexOf(b.data(Op.FLASH_DATA, 0, data)[0]).slice(-5), "00 00");
    assertEquals(hexOf(b.cmd(Op.FLASH_END, words(1))[0]).slice(-5), "00 00");
    const stored = b.device.flash.data.subarray(0x10000, 0x11000);
    // A burned key comes with FLASH_CRYPT_CONFIG 0xF: every key bit range tweaked.
    assertEquals(stored, esp32Aes(KEY, 0x10000, data, 0xf));
    const md5 = b.cmd(Op.SPI_FLASH_MD5, words(0x10000, 0x1000, 0, 0))[0];
    assertEquals(hexOf(md5.subarray(8, 24)).replaceAll(" ", ""), md5hex(stored));
  });

  Deno.test(`ESP32 ${stubKind} stub: blank eFuses encrypt with the all-zero key, untweaked`, () => {
    const b = stubBench({ chip: "esp32", stubKind });
    const data = randomBytes(0x400, 2);
    b.cmd(Op.FLASH_BEGIN, words(0x400, 1, 0x4000, 0x8000, 1));
    b.data(Op.FLASH_DATA, 0, data);
    assertEquals(hexOf(b.cmd(Op.FLASH_END, words(1))[0]).slice(-5), "00 00");
    assertEquals(
      b.device.flash.data.subarray(0x8000, 0x8400),
      esp32Aes(new Uint8Array(32), 0x8000, data, 0),
    );
    // The ESP32 engine takes 32-byte blocks: a 16-byte tail fails (C4 from FLASH_END).
    b.cmd(Op.FLASH_BEGIN, words(0x10, 1, 0x4000, 0x9000, 1));
    b.data(Op.FLASH_DATA, 0, new Uint8Array(0x10));
    assertEquals(hexOf(b.cmd(Op.FLASH_END, words(1))[0]).slice(-5), "c4 00");
  });
}

Deno.test("legacy stub: FLASH_ENCRYPT_DATA goes through the engine too", () => {
  const b = stubBench({
    chip: "esp32",
    flashCryptCnt: 1,
    flashEncryptionKey: KEY,
    stubKind: "legacy",
  });
  const data = randomBytes(0x1000, 3);
  b.cmd(Op.FLASH_BEGIN, words(0x1000, 1, 0x4000, 0x20000));
  b.data(Op.FLASH_ENCRYPT_DATA, 0, data);
  assertEquals(b.device.flash.data.subarray(0x20000, 0x21000), esp32Aes(KEY, 0x20000, data));
  // esp-flasher-stub has no FLASH_ENCRYPT_DATA: an invalid command.
  const n = stubBench({ chip: "esp32" });
  n.cmd(Op.FLASH_BEGIN, words(0x1000, 1, 0x4000, 0x20000));
  assertEquals(hexOf(n.data(Op.FLASH_ENCRYPT_DATA, 0, data)[0]), "01 d4 02 00 00 00 00 00 c3 00");
});

Deno.test("without a burned key an encrypted write fails: ROM 0106, legacy C4 at once, new stub C4 later", () => {
  const legacy = stubBench({ chip: "esp32c3", stubKind: "legacy" });
  assertEquals(
    hexOf(legacy.cmd(Op.FLASH_BEGIN, words(0x1000, 1, 0x4000, 0x10000, 1))[0]).slice(-5),
    "c4 00",
  );
  const flasher = stubBench({ chip: "esp32c3" });
  assertEquals(
    hexOf(flasher.cmd(Op.FLASH_BEGIN, words(0x1000, 1, 0x4000, 0x10000, 1))[0]).slice(-5),
    "00 00",
  );
  assertEquals(hexOf(flasher.data(Op.FLASH_DATA, 0, new Uint8Array(0x1000))[0]).slice(-5), "00 00");
  // The write runs after the acknowledgement; its failure answers the next command.
  assertEquals(hexOf(flasher.cmd(Op.FLASH_END, words(1))[0]).slice(-5), "c4 00");
  assertEquals(flasher.device.flash.data.subarray(0x10000, 0x11000).every((x) => x === 0xff), true);
  const rom = romBench({ chip: "esp32c3" });
  assertEquals(
    hexOf(rom.cmd(Op.FLASH_BEGIN, words(0x1000, 4, 0x400, 0x10000, 1))[0]).slice(-11),
    "01 06 00 00",
  );
});

Deno.test("ROM of the C3, S3 and P4: XTS-AES ciphertext, raw and compressed", () => {
  for (
    const [chip, key] of [["esp32c3", KEY], ["esp32s3", randomBytes(64, 4)], [
      "esp32p4",
      KEY,
    ]] as const
  ) {
    const keyed = romBench({ chip, flashCryptCnt: 7, flashEncryptionKey: key });
    assertEquals(
      hexOf(keyed.cmd(Op.FLASH_BEGIN, words(0x400, 1, 0x400, 0x10000, 1))[0]).slice(-11),
      "00 00 00 00",
    );
    const block = randomBytes(0x400, 5);
    assertEquals(hexOf(keyed.data(Op.FLASH_DATA, 0, block)[0]).slice(-11), "00 00 00 00");
    assertEquals(
      keyed.device.flash.data.subarray(0x10000, 0x10400),
      espXts(key, 0x10000, block),
      chip,
    );
    // Compressed: inflated output goes to the engine in whole blocks, the tail at the end.
    const image = randomBytes(0x2f0, 6);
    const z = new Uint8Array(deflateSync(image));
    keyed.cmd(Op.FLASH_DEFL_BEGIN, words(image.length, 1, 0x400, 0x20000, 1));
    assertEquals(hexOf(keyed.data(Op.FLASH_DEFL_DATA, 0, z)[0]).slice(-11), "00 00 00 00");
    assertEquals(
      keyed.device.flash.data.subarray(0x20000, 0x202f0),
      espXts(key, 0x20000, image),
      chip,
    );
  }
});

Deno.test("eFuses: FLASH_CRYPT_CNT, FLASH_CRYPT_CONFIG and key protection (ESP32), purposes (S3)", () => {
  const blank = romBench({ chip: "esp32", flashCryptCnt: 0x03 });
  assertEquals(hexOf(blank.cmd(Op.READ_REG, words(0x3ff5a000))[0].subarray(4, 8)), "00 00 30 00");
  assertEquals(value(blank.cmd(Op.READ_REG, words(0x3ff5a014))[0]) >>> 28, 0);
  // Encryption on: the key is burned read-protected (BLOCK1 reads 0) with config 0xF.
  const on = romBench({ chip: "esp32", flashCryptCnt: 1, flashEncryptionKey: KEY });
  assertEquals(value(on.cmd(Op.READ_REG, words(0x3ff5a000))[0]), (1 << 20) | (1 << 16));
  assertEquals(value(on.cmd(Op.READ_REG, words(0x3ff5a014))[0]) >>> 28, 0xf);
  assertEquals(value(on.cmd(Op.READ_REG, words(0x3ff5a038))[0]), 0);
  // ESP32-S3 with a 512-bit key: KEY0 XTS_AES_256_KEY_1 (2), KEY1 _2 (3); SPI_BOOT_CRYPT_CNT 1.
  const s3 = romBench({
    chip: "esp32s3",
    flashCryptCnt: 1,
    flashEncryptionKey: randomBytes(64, 7),
  });
  const w = value(s3.cmd(Op.READ_REG, words(0x60007034))[0]);
  assertEquals([(w >>> 24) & 0xf, (w >>> 28) & 0xf, (w >>> 18) & 7], [2, 3, 1]);
  const info = s3.cmd(Op.GET_SECURITY_INFO)[0];
  assertEquals(hexOf(info.subarray(13, 20)), "02 03 00 00 00 00 0c");
});

Deno.test("Secure Download Mode: only SYNC, attach, params, baud, plain writes and security info", () => {
  const b = new Bench({ chip: "esp32s3", securityFlags: 0x04 });
  assertEquals(b.cmd(Op.SYNC, SYNC_PAYLOAD).length, 8);
  const refused = (op: number, data: Uint8Array) => hexOf(b.cmd(op, data)[0]).slice(-11);
  assertEquals(refused(Op.READ_REG, words(0x40001000)), "01 05 00 00");
  assertEquals(refused(Op.MEM_BEGIN, words(0x100, 1, 0x1800, 0x40380000)), "01 05 00 00");
  assertEquals(refused(Op.SPI_FLASH_MD5, words(0, 0x1000, 0, 0)), "01 05 00 00");
  assertEquals(refused(Op.FLASH_DEFL_BEGIN, words(0x1000, 1, 0x400, 0, 0)), "01 05 00 00");
  const info = b.cmd(Op.GET_SECURITY_INFO)[0];
  assertEquals(hexOf(info.subarray(8, 12)), "04 00 00 00");
  assertEquals(refused(Op.SPI_ATTACH, words(0, 0)), "00 00 00 00");
  // It believes in 2 MB of flash until told otherwise.
  assertEquals(refused(Op.FLASH_BEGIN, words(0x1000, 4, 0x400, 0x200000, 0)), "01 06 00 00");
  assertEquals(
    refused(Op.SPI_SET_PARAMS, words(0, 0x400000, 0x10000, 0x1000, 0x100, 0xffff)),
    "00 00 00 00",
  );
  assertEquals(refused(Op.FLASH_BEGIN, words(0x1000, 4, 0x400, 0x200000, 0)), "00 00 00 00");
});

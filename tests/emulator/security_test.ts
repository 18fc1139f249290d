import { assertEquals } from "../assert.ts";
import { Bench, hexOf, md5hex, romBench, stubBench, words } from "./raw.ts";
import { FlashCrypt } from "../../src/emulator/crypt.ts";
import { Op, SYNC_PAYLOAD } from "../../src/protocol/opcodes.ts";

const KEY = new Uint8Array(16).map((_, i) => 0xa0 + i);

Deno.test("encryption engine: stored bytes depend on key and address, and undo themselves", () => {
  const plain = new Uint8Array(64).map((_, i) => i);
  const a = new FlashCrypt(KEY);
  const c1 = a.apply(0x10000, plain);
  assertEquals(c1.length, 64);
  assertEquals(c1.some((b, i) => b !== plain[i]), true);
  assertEquals(a.apply(0x10000, c1), plain);
  // Another address, another key: other bytes.
  assertEquals(hexOf(a.apply(0x20000, plain)) === hexOf(c1), false);
  assertEquals(
    hexOf(new FlashCrypt(KEY.map((b) => b ^ 1)).apply(0x10000, plain)) === hexOf(c1),
    false,
  );
  // A write that starts mid-block lines up with the whole-block keystream.
  assertEquals(a.apply(0x10008, plain.subarray(8)), c1.subarray(8));
});

Deno.test("stub: an encrypted write stores ciphertext, and MD5 reports the ciphertext", () => {
  const b = stubBench({ chip: "esp32", flashCryptCnt: 1, flashEncryptionKey: KEY });
  const data = new Uint8Array(0x1000).fill(0x42);
  assertEquals(
    hexOf(b.cmd(Op.FLASH_BEGIN, words(0x1000, 1, 0x4000, 0x10000, 1))[0]).slice(-5),
    "00 00",
  );
  assertEquals(hexOf(b.data(Op.FLASH_DATA, 0, data)[0]).slice(-5), "00 00");
  assertEquals(hexOf(b.cmd(Op.FLASH_END, words(1))[0]).slice(-5), "00 00");
  const stored = b.device.flash.data.subarray(0x10000, 0x11000);
  assertEquals(stored, new FlashCrypt(KEY).apply(0x10000, data));
  const md5 = b.cmd(Op.SPI_FLASH_MD5, words(0x10000, 0x1000, 0, 0))[0];
  assertEquals(hexOf(md5.subarray(8, 24)).replaceAll(" ", ""), md5hex(stored));
  assertEquals(md5hex(stored) === md5hex(data), false);
  // FLASH_ENCRYPT_DATA (the legacy opcode) goes through the engine too.
  b.cmd(Op.FLASH_BEGIN, words(0x1000, 1, 0x4000, 0x20000));
  b.data(Op.FLASH_ENCRYPT_DATA, 0, data);
  assertEquals(
    b.device.flash.data.subarray(0x20000, 0x21000),
    new FlashCrypt(KEY).apply(0x20000, data),
  );
});

Deno.test("stub and ROM: without a burned key an encrypted write fails (C4, 0106)", () => {
  const stub = stubBench({ chip: "esp32" });
  assertEquals(
    hexOf(stub.cmd(Op.FLASH_BEGIN, words(0x1000, 1, 0x4000, 0x10000, 1))[0]).slice(-5),
    "c4 00",
  );
  const rom = romBench({ chip: "esp32c3" });
  assertEquals(
    hexOf(rom.cmd(Op.FLASH_BEGIN, words(0x1000, 4, 0x400, 0x10000, 1))[0]).slice(-11),
    "01 06 00 00",
  );
  const keyed = romBench({ chip: "esp32c3", flashCryptCnt: 7, flashEncryptionKey: KEY });
  assertEquals(
    hexOf(keyed.cmd(Op.FLASH_BEGIN, words(0x400, 1, 0x400, 0x10000, 1))[0]).slice(-11),
    "00 00 00 00",
  );
  const block = new Uint8Array(0x400).fill(0x5a);
  assertEquals(hexOf(keyed.data(Op.FLASH_DATA, 0, block)[0]).slice(-11), "00 00 00 00");
  assertEquals(
    keyed.device.flash.data.subarray(0x10000, 0x10400),
    new FlashCrypt(KEY).apply(0x10000, block),
  );
});

Deno.test("ESP32: FLASH_CRYPT_CNT reads from eFuse block 0 word 0, bits 26..20", () => {
  const b = romBench({ chip: "esp32", flashCryptCnt: 0x03 });
  const r = b.cmd(Op.READ_REG, words(0x3ff5a000))[0];
  assertEquals(hexOf(r.subarray(4, 8)), "00 00 30 00");
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

import { assertEquals, assertOk } from "../assert.ts";
import { deflateSync } from "node:zlib";
import { Bench, firmware, hexOf, md5hex, range, stubBench, uploadStub, words } from "./raw.ts";
import { ramDigest } from "../../src/emulator/known_stubs.ts";
import type { VirtualDeviceOptions } from "../../src/emulator/device.ts";
import { Op, SYNC_PAYLOAD } from "../../src/protocol/opcodes.ts";
import { slipEncode } from "../../src/protocol/slip.ts";
import { encodeCommand, encodeDataPayload } from "../../src/protocol/packet.ts";
import { readU32 } from "../../src/protocol/bytes.ts";

/**
 * The legacy stub (esptool-legacy-flasher-stub, stub.ts): esptool-js 0.7.0's
 * stub binary uploaded, run as the legacy kind.
 */
const legacy = (options: VirtualDeviceOptions) => stubBench({ ...options, stubKind: "legacy" });
const status = (frame: Uint8Array) => hexOf(frame.subarray(-2));
const ok = (op: number) => `01 ${op.toString(16).padStart(2, "0")} 02 00 00 00 00 00 00 00`;
const err = (op: number, e: string) =>
  `01 ${op.toString(16).padStart(2, "0")} 02 00 00 00 00 00 ${e}`;

Deno.test("stub: greets with OHAI, answers SYNC 8 times with value 0 (content unchecked)", () => {
  const b = legacy({ chip: "esp32" });
  assertEquals(b.cmd(Op.SYNC, SYNC_PAYLOAD).map(hexOf), Array(8).fill(ok(Op.SYNC)));
  assertEquals(b.cmd(Op.SYNC, new Uint8Array(36)).length, 8);
  assertEquals(b.cmd(Op.SYNC, new Uint8Array(35)).map(hexOf), [err(Op.SYNC, "c0 00")]);
});

Deno.test("stub errors, exact frames: unknown opcode, checksum, length word, not in flash mode", () => {
  const b = legacy({ chip: "esp32s3" });
  assertEquals(b.one(0x55), err(0x55, "ff 00"));
  assertEquals(hexOf(b.data(Op.FLASH_DATA, 0, new Uint8Array(4))[0]), err(Op.FLASH_DATA, "c6 00"));
  assertEquals(b.one(Op.FLASH_BEGIN, words(0x8000, 2, 0x4000, 0x10000)), ok(Op.FLASH_BEGIN));
  const block = new Uint8Array(0x4000).fill(0x11);
  assertEquals(hexOf(b.data(Op.FLASH_DATA, 0, block, 0x99)[0]), err(Op.FLASH_DATA, "c1 00"));
  const bad = encodeDataPayload(0, block);
  bad[1] = 0x3f; // length word 0x3F00
  assertEquals(b.one(Op.FLASH_DATA, bad, 0xef), err(Op.FLASH_DATA, "c0 00"));
  // A payload shorter than its header sums nothing: the checksum must be the seed.
  assertEquals(b.one(Op.FLASH_DATA, new Uint8Array(8), 0), err(Op.FLASH_DATA, "c1 00"));
  // The stub does not check sequence numbers: blocks land in arrival order.
  assertEquals(hexOf(b.data(Op.FLASH_DATA, 7, block)[0]), ok(Op.FLASH_DATA));
  assertEquals(b.device.flash.data[0x10000], 0x11);
  // Fixed-size payloads of the wrong length; READ_REG's value only for a 4-byte one.
  assertEquals(b.one(Op.READ_REG, new Uint8Array(5)), err(Op.READ_REG, "c0 00"));
  assertEquals(b.one(Op.READ_REG, words(0x40001000)), "01 0a 02 00 09 00 00 00 00 00");
  assertEquals(b.one(Op.CHANGE_BAUDRATE, words(1)), err(Op.CHANGE_BAUDRATE, "c0 00"));
  assertEquals(b.one(Op.WRITE_REG, new Uint8Array(15)), err(Op.WRITE_REG, "c0 00"));
  assertEquals(b.one(Op.WRITE_REG), ok(Op.WRITE_REG));
  assertEquals(b.one(Op.SPI_ATTACH, words(0)), ok(Op.SPI_ATTACH));
  // `error = verify_data_len(...) || handler(...)` in the stub's C yields 1.
  assertEquals(b.one(Op.SPI_ATTACH, words(0, 0)), err(Op.SPI_ATTACH, "01 00"));
  assertEquals(b.one(Op.ERASE_REGION, words(0x800, 0x1000)), err(Op.ERASE_REGION, "01 00"));
  assertEquals(b.one(Op.ERASE_REGION, words(0x1000, 0x800)), err(Op.ERASE_REGION, "01 00"));
  assertEquals(b.one(Op.ERASE_FLASH, words(0)), err(Op.ERASE_FLASH, "01 00"));
  assertEquals(b.device.commandLog.at(-1), { op: Op.ERASE_FLASH, status: 0x0100 });
});

Deno.test("stub: FLASH_BEGIN takes 16 or 20 bytes, blocks up to 0x4000, no encryption here", () => {
  const b = legacy({ chip: "esp32c3" });
  assertEquals(b.one(Op.FLASH_BEGIN, words(0x1000, 1, 0x4000, 0)), ok(Op.FLASH_BEGIN));
  assertEquals(b.one(Op.FLASH_BEGIN, words(0x1000, 1, 0x4000, 0, 0)), ok(Op.FLASH_BEGIN));
  assertEquals(b.one(Op.FLASH_DEFL_BEGIN, words(0x1000, 1, 0x4000)), err(0x10, "c0 00"));
  assertEquals(b.one(Op.FLASH_BEGIN, words(0x1000, 1, 0x4001, 0)), err(0x02, "c2 00"));
  assertEquals(b.one(Op.FLASH_BEGIN, words(0x1000, 1, 0x4000, 0, 1)), err(0x02, "c4 00"));
});

Deno.test("stub: a size field over 0x4010 is C0 EE; a frame over 0x4040 bytes is cut there", () => {
  const b = legacy({ chip: "esp32" });
  // Size field 0x4110, frame 0x4118 bytes: the first 0x4040 are a command whose size
  // field is too large, the remaining 0xD8 zero bytes a command of opcode 0.
  const pkt = encodeCommand(Op.FLASH_DATA, new Uint8Array(0x4110));
  assertEquals(b.raw(slipEncode(pkt)).map(hexOf), [err(Op.FLASH_DATA, "c0 ee"), err(0, "ff 00")]);
  assertEquals(b.device.commandLog.slice(-2), [{ op: 3, status: 0xc0ee }, {
    op: 0,
    status: 0xff00,
  }]);
});

Deno.test("stub: GET_SECURITY_INFO sizes (12 on S2, 20 later, 0xFF on ESP32/ESP8266); MD5 size 18", () => {
  assertEquals(legacy({ chip: "esp32" }).one(Op.GET_SECURITY_INFO), err(0x14, "ff 00"));
  assertEquals(legacy({ chip: "esp8266" }).one(Op.GET_SECURITY_INFO), err(0x14, "ff 00"));
  assertEquals(
    legacy({ chip: "esp32s2" }).one(Op.GET_SECURITY_INFO),
    "01 14 0c 00 00 00 00 00 " + "00 ".repeat(12) + "00 00",
  );
  const c6 = legacy({ chip: "esp32c6", securityFlags: 1 });
  assertEquals(
    c6.one(Op.GET_SECURITY_INFO),
    // The seventh key purpose byte is 0x0c on a real C6, then chip id 13 and API version 0.
    "01 14 14 00 00 00 00 00 01 00 00 00 " + "00 ".repeat(7) + "0c 0d 00 00 00 00 00 00 00 00 00",
  );
  const [md5] = c6.cmd(Op.SPI_FLASH_MD5, words(0, 0x1000, 0, 0));
  assertEquals(
    hexOf(md5),
    "01 13 12 00 00 00 00 00 6a e5 9e 64 85 03 77 ee 54 70 c8 54 76 15 51 ea 00 00",
  );
  // The stub believes a 16 MiB part: past the 4 MiB chip the address wraps; past 16 MiB fails.
  c6.device.flash.data[5] = 0;
  const wrapped = c6.cmd(Op.SPI_FLASH_MD5, words(0x400000, 0x1000, 0, 0))[0];
  assertEquals(wrapped.subarray(8, 24), c6.device.flash.md5(0, 0x1000));
  assertEquals(
    c6.one(Op.SPI_FLASH_MD5, words(0xfff000, 0x1001, 0, 0)),
    "01 13 12 00 00 00 00 00 01 00",
  );
  c6.cmd(Op.SPI_SET_PARAMS, words(0, 0x400000, 0x10000, 0x1000, 0x100, 0xffff));
  assertEquals(c6.one(Op.SPI_FLASH_MD5, words(0x400000, 0x1000, 0, 0)).slice(-5), "01 00");
});

Deno.test("stub writes of real images, raw and compressed: raw MD5, exact sectors, 64 KiB erases", () => {
  const image = firmware("esp_idf_blink_esp32s2.bin"); // 182368 bytes: 45 sectors
  for (const chip of ["esp32c3", "esp8266"] as const) {
    for (const compressed of [false, true]) {
      const b = legacy({ chip });
      b.device.flash.resetCounters();
      const stream = compressed ? new Uint8Array(deflateSync(image, { level: 9 })) : image;
      const blocks = Math.ceil(stream.length / 0x4000);
      const begin = compressed ? Op.FLASH_DEFL_BEGIN : Op.FLASH_BEGIN;
      const dataOp = compressed ? Op.FLASH_DEFL_DATA : Op.FLASH_DATA;
      assertEquals(b.one(begin, words(image.length, blocks, 0x4000, 0x10000)), ok(begin));
      for (let i = 0; i < blocks; i++) {
        let block = stream.subarray(i * 0x4000, (i + 1) * 0x4000);
        if (!compressed && block.length < 0x4000) {
          const padded = new Uint8Array(0x4000).fill(0xff); // the stub trims the padding
          padded.set(block);
          block = padded;
        }
        assertEquals(status(b.data(dataOp, i, block)[0]), "00 00");
      }
      const end = compressed ? Op.FLASH_DEFL_END : Op.FLASH_END;
      assertEquals(b.one(end, words(1)), ok(end));
      assertEquals(b.device.mode, "stub");
      const [r] = b.cmd(Op.SPI_FLASH_MD5, words(0x10000, image.length, 0, 0));
      assertEquals(hexOf(r.subarray(8, 24)).replaceAll(" ", ""), md5hex(image), chip);
      const flash = b.device.flash;
      assertEquals(flash.touchedSectors(), range(0x10, 45), `${chip} ${compressed}`);
      assertOk(range(0x10, 45).every((s) => flash.sectorErases[s] === 1));
      // Two whole aligned 64 KiB blocks ahead, then 13 sectors.
      assertEquals([flash.ops.blockErases, flash.ops.sectorErases], [2, 13]);
    }
  }
});

Deno.test("stub: errors are deferred to the next reply and END; extra and missing data", () => {
  const image = firmware("bootloader_esp32c3.bin");
  const z = new Uint8Array(deflateSync(image));
  // A corrupt stream: block 0 is acknowledged, block 1 carries the error, END reports
  // the missing output first (NOT_ENOUGH_DATA) as the stub's flash_end checks it first.
  const a = legacy({ chip: "esp32c3" });
  a.cmd(Op.FLASH_DEFL_BEGIN, words(image.length, 2, 0x4000, 0));
  const corrupt = z.slice();
  corrupt[2] = 0xff;
  assertEquals(status(a.data(Op.FLASH_DEFL_DATA, 0, corrupt.subarray(0, 0x4000))[0]), "00 00");
  assertEquals(status(a.data(Op.FLASH_DEFL_DATA, 1, z.subarray(0x4000))[0]), "c7 00");
  assertEquals(a.one(Op.FLASH_DEFL_END, words(1)), err(0x12, "c8 00"));
  // A write that fails (past the size set by SPI_SET_PARAMS) is reported by FLASH_END.
  const b = legacy({ chip: "esp32" });
  b.cmd(Op.SPI_SET_PARAMS, words(0, 0x100000, 0x10000, 0x1000, 0x100, 0xffff));
  b.cmd(Op.FLASH_BEGIN, words(0x4000, 1, 0x4000, 0x100000));
  assertEquals(status(b.data(Op.FLASH_DATA, 0, new Uint8Array(0x4000))[0]), "00 00");
  assertEquals(b.one(Op.FLASH_END, words(1)), err(0x04, "c4 00"));
  // After the whole output, a compressed block of more than 4 bytes is TOO_MUCH_DATA;
  // raw data past the announced size is dropped silently.
  const c = legacy({ chip: "esp32" });
  c.cmd(Op.FLASH_DEFL_BEGIN, words(image.length, 3, 0x4000, 0));
  c.data(Op.FLASH_DEFL_DATA, 0, z);
  assertEquals(status(c.data(Op.FLASH_DEFL_DATA, 1, new Uint8Array(4))[0]), "00 00");
  assertEquals(status(c.data(Op.FLASH_DEFL_DATA, 2, new Uint8Array(5))[0]), "00 00");
  assertEquals(c.one(Op.FLASH_DEFL_END, words(1)), err(0x12, "c9 00"));
  assertEquals(c.one(Op.FLASH_DEFL_END, words(1)), err(0x12, "c6 00")); // no longer in flash mode
  const d = legacy({ chip: "esp32" });
  d.cmd(Op.FLASH_BEGIN, words(0x10, 2, 0x4000, 0));
  assertEquals(status(d.data(Op.FLASH_DATA, 0, new Uint8Array(0x20))[0]), "00 00");
  assertEquals(status(d.data(Op.FLASH_DATA, 1, new Uint8Array(0x20))[0]), "00 00");
  assertEquals(d.one(Op.FLASH_END, words(1)), ok(Op.FLASH_END));
  assertEquals([d.device.flash.data[0x0f], d.device.flash.data[0x10]], [0, 0xff]);
  // END before everything arrived.
  const e = legacy({ chip: "esp32" });
  e.cmd(Op.FLASH_BEGIN, words(0x2000, 1, 0x4000, 0));
  assertEquals(e.one(Op.FLASH_END, words(1)), err(0x04, "c8 00"));
});

/** Runs a READ_FLASH stream, acking with the running total; the last ack brings the digest. */
function readFlash(b: Bench, offset: number, length: number, packet: number, inFlight: number) {
  const first = b.cmd(Op.READ_FLASH, words(offset, length, packet, inFlight));
  const packets = first.slice(1);
  let total = packets.reduce((n, p) => n + p.length, 0);
  while (total < length) {
    const out = b.raw(slipEncode(words(total)));
    assertOk(out.length > 0, `no data after ack ${total}`);
    packets.push(...out);
    total += out.reduce((n, p) => n + p.length, 0);
  }
  const tail = b.raw(slipEncode(words(total)));
  assertEquals(tail.length, 1);
  const data = new Uint8Array(total);
  let at = 0;
  for (const p of packets) {
    data.set(p, at);
    at += p.length;
  }
  return { reply: hexOf(first[0]), packets, data, digest: tail[0] };
}

Deno.test("stub READ_FLASH: 1 MiB with acks equals flash, one packet in flight, MD5 trailer", () => {
  const flash = new Uint8Array(0x200000).map((_, i) => (i * 31 + (i >> 12)) & 0xff);
  const b = legacy({ chip: "esp32c3", flash });
  const r = readFlash(b, 0x80000, 0x100000, 0x1000, 64);
  assertEquals(r.reply, ok(Op.READ_FLASH));
  assertEquals(r.packets.length, 256);
  assertOk(r.packets.every((p) => p.length === 0x1000));
  assertEquals(r.data, flash.subarray(0x80000, 0x180000));
  assertEquals(hexOf(r.digest).replaceAll(" ", ""), md5hex(r.data));
  // max_in_flight counts bytes in the legacy stub: 0x3000 lets three packets out per ack.
  const c = legacy({ chip: "esp32c3", flash });
  const d = legacy({ chip: "esp32c3", flash });
  assertEquals(d.cmd(Op.READ_FLASH, words(0, 0x9000, 0x1000, 64)).length, 2); // reply + 1
  assertEquals(c.cmd(Op.READ_FLASH, words(0, 0x9000, 0x1000, 0x3000)).length, 4); // reply + 3
  c.raw(slipEncode(words(0x3000)));
  c.raw(slipEncode(words(0x6000)));
  c.raw(slipEncode(words(0x9000))); // the digest
  const three = readFlash(c, 0, 0x9000, 0x1000, 0x3000);
  assertEquals([three.packets.length, three.data], [9, flash.subarray(0, 0x9000)]);
  // Back to commands afterwards.
  assertEquals(c.one(Op.READ_REG, words(0x40001000)).slice(0, 11), "01 0a 02 00");
});

Deno.test("stub READ_FLASH: packets over 4 KiB send nothing; a short ack ends with the digest", () => {
  const b = legacy({ chip: "esp32" });
  assertEquals(b.cmd(Op.READ_FLASH, words(0, 0x4000, 0x2000, 1)).map(hexOf), [ok(Op.READ_FLASH)]);
  assertEquals(b.one(Op.READ_REG, words(0x40001000)).slice(0, 11), "01 0a 02 00");
  const out = b.cmd(Op.READ_FLASH, words(0, 0x4000, 0x1000, 1));
  assertEquals(out.length, 2);
  const end = b.raw(slipEncode(new Uint8Array([0, 0x10])));
  assertEquals(hexOf(end[0]).replaceAll(" ", ""), md5hex(out[1]));
});

Deno.test("stub CHANGE_BAUDRATE scales its divider by old/new; the wrong old rate breaks the link", () => {
  const b = legacy({ chip: "esp32s3" });
  assertEquals(b.one(Op.CHANGE_BAUDRATE, words(921600, 115200)), ok(Op.CHANGE_BAUDRATE));
  assertEquals([b.sent.at(-1)!.baud, b.device.baud], [115200, 921600]);
  const c = legacy({ chip: "esp32s3" });
  c.cmd(Op.CHANGE_BAUDRATE, words(921600, 230400)); // the host lied about its rate
  assertEquals(c.device.baud, 460800);
  const d = legacy({ chip: "esp32s3" });
  d.cmd(Op.CHANGE_BAUDRATE, words(921600, 0)); // what a host sends to a ROM
  assertEquals(d.device.baud, 0);
  assertEquals(d.raw(slipEncode(encodeCommand(Op.READ_REG, words(0))), 921600), []);
});

Deno.test("stub: MEM_END jumps whenever the entry is non-zero; RUN_USER_CODE; FLASH_END 0/1", () => {
  const b = legacy({ chip: "esp32" });
  // An incomplete upload: MEM_END is refused with the combined-check 1.
  b.cmd(Op.MEM_BEGIN, words(0x100, 1, 0x1800, 0x40080000));
  assertEquals(b.one(Op.MEM_END, words(0, 0x40080010)), err(Op.MEM_END, "01 00"));
  // MEM_DATA checksums are not checked; the jump ignores word 0, and an unknown
  // program takes the chip: nothing answers afterwards.
  b.cmd(Op.MEM_BEGIN, words(0x100, 1, 0x1800, 0x40080000));
  assertEquals(status(b.data(Op.MEM_DATA, 0, new Uint8Array(0x100), 0x42)[0]), "00 00");
  assertEquals(b.cmd(Op.MEM_END, words(1, 0x40080010)).map(hexOf), [ok(Op.MEM_END)]);
  assertEquals([b.device.mode, b.cmd(Op.SYNC, SYNC_PAYLOAD).length], ["app", 0]);
  assertEquals(b.device.log.at(-1)!.includes("is not a flasher stub this device knows"), true);
  // The same program is a stub on a device told so (knownStubs): it greets.
  const program = [{ addr: 0x40080000, data: new Uint8Array(0x100) }];
  const c = legacy({
    chip: "esp32",
    knownStubs: [{
      digest: ramDigest(program),
      kind: "legacy",
      chip: "esp32",
      entry: 0x40080010,
      name: "a test stub",
    }],
  });
  c.cmd(Op.MEM_BEGIN, words(0x100, 1, 0x1800, 0x40080000));
  c.data(Op.MEM_DATA, 0, program[0].data);
  assertEquals(c.cmd(Op.MEM_END, words(1, 0x40080010)).map(hexOf), [ok(Op.MEM_END), "4f 48 41 49"]);
  assertEquals([c.device.mode, c.device.log.at(-1)], ["stub", "a test stub started"]);
  const run = legacy({ chip: "esp8266" });
  assertEquals([run.cmd(Op.RUN_USER_CODE).length, run.device.mode], [0, "app"]);
  const stay = legacy({ chip: "esp32" });
  stay.cmd(Op.FLASH_BEGIN, words(0, 0, 0x4000, 0));
  assertEquals(stay.one(Op.FLASH_END, words(1)), ok(Op.FLASH_END));
  assertEquals(stay.device.mode, "stub");
  stay.cmd(Op.FLASH_BEGIN, words(0, 0, 0x4000, 0));
  const before = stay.sent.length;
  assertEquals(stay.one(Op.FLASH_END, words(0)), ok(Op.FLASH_END));
  const log = new TextDecoder().decode(stay.sent[before + 1].bytes);
  // A software reset keeps the latched straps: back to the ROM's download mode.
  assertOk(log.includes("SW_RESET") && log.includes("waiting for download"), log);
  assertEquals(stay.device.mode, "rom");
});

Deno.test("stub ERASE_REGION and ERASE_FLASH: sectors to a 64 KiB boundary, then blocks", () => {
  const b = legacy({ chip: "esp32h2", flash: new Uint8Array(0x400000) });
  b.device.flash.resetCounters();
  assertEquals(b.one(Op.ERASE_REGION, words(0xe000, 0x32000)), ok(Op.ERASE_REGION));
  assertEquals(b.device.flash.touchedSectors(), range(0xe, 0x32));
  // 2 sectors to 0x10000, blocks while more than 64 KiB is left (2), then 16 sectors.
  assertEquals([b.device.flash.ops.sectorErases, b.device.flash.ops.blockErases], [2 + 16, 2]);
  assertEquals(
    b.device.flash.data.subarray(0xd000, 0x41000).filter((x) => x !== 0xff).length,
    0x2000,
  );
  assertEquals(b.one(Op.ERASE_FLASH), ok(Op.ERASE_FLASH));
  assertOk(b.device.flash.data.every((x) => x === 0xff));
  assertEquals(b.device.flash.ops.chipErases, 1);
});

Deno.test("ESP8266 stub: no GET_SECURITY_INFO or FLASH_ENCRYPT_DATA; ESP32: 32-byte units", () => {
  const e = legacy({ chip: "esp8266" });
  e.cmd(Op.FLASH_BEGIN, words(0x10, 1, 0x4000, 0));
  assertEquals(hexOf(e.data(Op.FLASH_ENCRYPT_DATA, 0, new Uint8Array(16))[0]), err(0xd4, "ff 00"));
  // The ESP32 engine encrypts whole 32-byte blocks: 16 bytes fail at FLASH_END.
  const s = legacy({ chip: "esp32" });
  s.cmd(Op.FLASH_BEGIN, words(0x10, 1, 0x4000, 0));
  assertEquals(hexOf(s.data(Op.FLASH_ENCRYPT_DATA, 0, new Uint8Array(16))[0]), ok(0xd4));
  assertEquals(s.one(Op.FLASH_END, words(1)), err(0x04, "c4 00"));
  // The stub inherits the ROM's UART rate and its own 16 MiB flash size.
  const first = new Bench({ chip: "esp32" });
  uploadStub(first);
  assertEquals(readU32(first.cmd(Op.READ_REG, words(0x3ff40014))[0], 4) & 0xfffff, 347);
});

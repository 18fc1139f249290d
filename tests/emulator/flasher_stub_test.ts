/**
 * RAM programs and the two stub kinds, with raw protocol bytes: which
 * uploads run as stubs (known_stubs.ts), what an unknown program does, and
 * where esp-flasher-stub (esptool v5, esptool-js 0.7.0) answers differently
 * from the legacy stub.
 */
import { assertEquals } from "../assert.ts";
import { deflateSync } from "node:zlib";
import {
  Bench,
  firmware,
  hexOf,
  md5hex,
  range,
  stubBench,
  stubJson,
  stubSegments,
  uploadProgram,
  uploadStub,
  words,
} from "./raw.ts";
import { KNOWN_STUBS, ramDigest } from "../../src/emulator/known_stubs.ts";
import { CHIP_NAMES } from "../../src/chips/chips.ts";
import type { VirtualDeviceOptions } from "../../src/emulator/device.ts";
import { Op, SYNC_PAYLOAD } from "../../src/protocol/opcodes.ts";
import { slipEncode } from "../../src/protocol/slip.ts";
import { encodeCommand } from "../../src/protocol/packet.ts";
import { readU32 } from "../../src/protocol/bytes.ts";

const NEW = "esp-flasher-stub v1.2.x (esptool v5, esptool-js 0.7.0)";
const reply = (op: number, status: string, size = "02 00") =>
  `01 ${op.toString(16).padStart(2, "0")} ${size} 00 00 00 00 ${status}`;
const flasher = (o: VirtualDeviceOptions) => stubBench(o);
const legacy = (o: VirtualDeviceOptions) => stubBench({ ...o, stubKind: "legacy" });
const status = (frame: Uint8Array) => hexOf(frame.subarray(-2));

Deno.test("known stubs: the digests are those of esptool-js 0.7.0's stub files", () => {
  const flasherStubs = KNOWN_STUBS.filter((k) => k.kind === "esp-flasher-stub");
  const files = [...CHIP_NAMES.map((c) => [c, 3] as const), ["esp32p4", 1] as const];
  assertEquals(flasherStubs.length, files.length);
  for (const [chip, major] of files) {
    const json = stubJson(chip, major);
    const known = flasherStubs.find((k) => k.digest === ramDigest(stubSegments(json)));
    assertEquals([known?.chip, known?.entry], [chip, json.entry], `${chip} v${major}`);
  }
});

Deno.test("every chip runs esptool-js 0.7.0's stub as esp-flasher-stub, or as told", () => {
  for (const chip of CHIP_NAMES) {
    const b = flasher({ chip });
    assertEquals([b.device.stubKind, b.device.log.at(-1)], ["esp-flasher-stub", `${NEW} started`]);
  }
  const old = legacy({ chip: "esp32c3" });
  assertEquals([old.device.stubKind, old.device.log.at(-1)], [
    "legacy",
    `${NEW} started, run as the legacy stub`,
  ]);
});

/** A RAM image (esptool's v1 image format): entry and segments. */
function ramImage(file: string) {
  const img = firmware(file);
  const count = img[1];
  let at = img[0] === 0xe9 && !file.includes("esp8266") ? 24 : 8;
  const segments = [];
  for (let i = 0; i < count; i++) {
    const addr = readU32(img, at);
    const len = readU32(img, at + 4);
    segments.push({ addr, data: img.slice(at + 8, at + 8 + len) });
    at += 8 + len;
  }
  return { entry: readU32(img, 4), segments };
}

Deno.test("an unknown RAM program runs: the loader protocol stops, the device's log says why", () => {
  const { entry, segments } = ramImage("ram_helloworld/helloworld-esp32.bin");
  const b = new Bench({ chip: "esp32" });
  b.cmd(Op.SYNC, SYNC_PAYLOAD);
  const out = uploadProgram(b, segments, entry);
  assertEquals(out.map(hexOf), ["01 06 04 00 07 07 12 20 00 00 00 00"]);
  assertEquals(b.device.mode, "app");
  const digest = ramDigest(segments).slice(0, 16);
  const size = segments.reduce((n, s) => n + s.data.length, 0);
  assertEquals(b.device.log, [
    `RAM program at 0x${entry.toString(16)} (${size} bytes in 2 segment(s), sha256 ${digest}) ` +
    "is not a flasher stub this device knows; it runs and the loader protocol stops",
  ]);
  assertEquals(b.cmd(Op.SYNC, SYNC_PAYLOAD), []);
});

Deno.test("a known stub on the wrong chip, revision or entry point does not run either", () => {
  const onC3 = new Bench({ chip: "esp32c3" });
  const esp32 = stubJson("esp32");
  assertEquals(uploadProgram(onC3, stubSegments(esp32), esp32.entry).length, 1);
  assertEquals(onC3.device.mode, "app");
  assertEquals(
    onC3.device.log[0].endsWith(
      `is ${NEW} for esp32, which cannot run on ESP32-C3; it runs and the loader protocol stops`,
    ),
    true,
  );
  // ESP32-P4: the rev1 build below v3.0, the other from v3.0 on (esptool's stub_json_name).
  const rev1 = stubJson("esp32p4", 1);
  const v3 = new Bench({ chip: "esp32p4" });
  uploadProgram(v3, stubSegments(rev1), rev1.entry);
  assertEquals([v3.device.mode, v3.device.log[0].includes("for revisions v0.x-v2.x, not v3.1")], [
    "app",
    true,
  ]);
  const v13 = new Bench({ chip: "esp32p4", revision: "v1.3" });
  assertEquals(uploadProgram(v13, stubSegments(rev1), rev1.entry).map(hexOf).at(-1), "4f 48 41 49");
  // No stub runs on an ESP32-C2 v0.0 (ECO0), which esptool gives the ROM loader.
  const eco0 = new Bench({ chip: "esp32c2", revision: "v0.0" });
  uploadStub(eco0);
  assertEquals([eco0.device.mode, eco0.device.log[0].includes("v1.x-v3.x, not v0.0")], [
    "app",
    true,
  ]);
  const wrongEntry = new Bench({ chip: "esp32" });
  uploadProgram(wrongEntry, stubSegments(esp32), esp32.entry + 4);
  assertEquals(wrongEntry.device.mode, "app");
});

Deno.test("stub kinds side by side: the replies that differ", () => {
  const a = legacy({ chip: "esp32s3" });
  const n = flasher({ chip: "esp32s3" });
  const both = (
    op: number,
    data: Uint8Array = new Uint8Array(),
  ) => [a.one(op, data), n.one(op, data)];
  assertEquals(both(0x55), [reply(0x55, "ff 00"), reply(0x55, "c3 00")]);
  assertEquals(both(0xd5), [reply(0xd5, "ff 00"), reply(0xd5, "ff 00")]); // a plugin opcode
  // A misaligned erase: `check || handler` is 1 in the legacy stub's C.
  assertEquals(both(Op.ERASE_REGION, words(0x800, 0x1000)), [
    reply(0xd1, "01 00"),
    reply(0xd1, "c0 00"),
  ]);
  assertEquals(both(Op.SPI_ATTACH, words(0, 0)), [reply(0x0d, "01 00"), reply(0x0d, "c0 00")]);
  assertEquals(both(Op.WRITE_REG, new Uint8Array(15)), [reply(9, "c0 00"), reply(9, "c8 00")]);
  assertEquals(both(Op.ERASE_FLASH, words(0)), [reply(0xd0, "01 00"), reply(0xd0, "00 00")]);
  assertEquals(both(Op.MEM_END, words(0, 0)), [reply(6, "00 00"), reply(6, "c6 00")]);
  // GET_SECURITY_INFO's size field: the data alone (legacy), data and status (new).
  const [la, nn] = both(Op.GET_SECURITY_INFO);
  assertEquals([la.slice(0, 11), nn.slice(0, 11)], ["01 14 14 00", "01 14 16 00"]);
  assertEquals(la.slice(11), nn.slice(11));
  // The same 20 bytes: flags, crypt count, the seventh key purpose byte 0x0c, chip id 9, API 0.
  assertEquals(
    nn.slice(24, 24 + 20 * 3 - 1),
    "00 00 00 00 00 00 00 00 00 00 00 0c 09 00 00 00 00 00 00 00",
  );
  // FLASH_DATA: a length word that disagrees, and a frame too short for the header.
  const begin = words(0x4000, 1, 0x4000, 0x10000);
  both(Op.FLASH_BEGIN, begin);
  const bad = encodeCommand(Op.FLASH_DATA, new Uint8Array(20), 0xef);
  assertEquals([a.raw(slipEncode(bad)), n.raw(slipEncode(bad))].map((r) => status(r[0])), [
    "c0 00",
    "c9 00",
  ]);
  assertEquals(both(Op.FLASH_DATA, new Uint8Array(8)), [reply(3, "c1 00"), reply(3, "c8 00")]);
  // FLASH_END with data still missing: NOT_ENOUGH_DATA (legacy), BAD_DATA_LEN (new).
  assertEquals(both(Op.FLASH_END, words(1)), [reply(4, "c8 00"), reply(4, "c0 00")]);
  // A frame whose size field disagrees with its length; one not marked as a request.
  const short = encodeCommand(Op.READ_REG, words(0x40001000)).subarray(0, 10);
  assertEquals(status(n.raw(slipEncode(short))[0]), "c0 00");
  const response = encodeCommand(Op.READ_REG, words(0x40001000));
  response[0] = 1;
  assertEquals(status(n.raw(slipEncode(response))[0]), "c3 00");
});

Deno.test("esp-flasher-stub: work after the acknowledgement; its error answers the next command", () => {
  const b = flasher({ chip: "esp32c3" });
  // The flash size comes from the JEDEC id: 4 MiB, not 16.
  b.cmd(Op.FLASH_BEGIN, words(0x1000, 1, 0x4000, 0x3ff000));
  const data = new Uint8Array(0x2000).fill(0x42);
  assertEquals(status(b.data(Op.FLASH_DATA, 0, data)[0]), "00 00"); // trimmed to 0x1000: fits
  b.cmd(Op.FLASH_END, words(1));
  b.cmd(Op.FLASH_BEGIN, words(0x2000, 1, 0x4000, 0x3ff000));
  assertEquals(status(b.data(Op.FLASH_DATA, 0, data)[0]), "00 00"); // ...past the end: fails later
  // The next command is not run: READ_REG answers the error with value 0.
  assertEquals(b.one(Op.READ_REG, words(0x40001000)), reply(0x0a, "c4 00"));
  assertEquals(b.one(Op.READ_REG, words(0x40001000)), "01 0a 02 00 6f 50 21 69 00 00");
  assertEquals(status(b.cmd(Op.SPI_FLASH_MD5, words(0x3ff000, 0x2000, 0, 0))[0]), "c4 00");
  // SPI_SET_PARAMS moves the limit; beyond the part the address wraps.
  b.cmd(Op.SPI_SET_PARAMS, words(0, 0x1000000, 0x10000, 0x1000, 0x100, 0xffff));
  const md5 = b.cmd(Op.SPI_FLASH_MD5, words(0x400000, 0x1000, 0, 0))[0];
  assertEquals(md5.subarray(8, 24), b.device.flash.md5(0, 0x1000));
  // CHANGE_BAUDRATE: the first word is the new rate, the second is not used.
  b.cmd(Op.CHANGE_BAUDRATE, words(921600, 230400));
  assertEquals(b.device.baud, 921600);
});

Deno.test("esp-flasher-stub: blank sectors are not erased until a dirty one is seen (not on ESP8266)", () => {
  const image = firmware("esp_idf_blink_esp32s2.bin").subarray(0, 0x3000);
  for (const chip of ["esp32c6", "esp8266"] as const) {
    const b = flasher({ chip });
    b.device.flash.data[0x11800] = 0; // sector 0x11 is dirty, 0x10 and 0x12 are blank
    b.device.flash.resetCounters();
    const z = new Uint8Array(deflateSync(image));
    b.cmd(Op.FLASH_DEFL_BEGIN, words(image.length, 1, 0x4000, 0x10000));
    assertEquals(status(b.data(Op.FLASH_DEFL_DATA, 0, z)[0]), "00 00");
    assertEquals(status(b.cmd(Op.FLASH_DEFL_END, words(1))[0]), "00 00");
    const erased = range(0x10, 3).map((s) => b.device.flash.sectorErases[s]);
    assertEquals(erased, chip === "esp8266" ? [1, 1, 1] : [0, 1, 1], chip);
    const md5 = b.cmd(Op.SPI_FLASH_MD5, words(0x10000, image.length, 0, 0))[0];
    assertEquals(hexOf(md5.subarray(8, 24)).replaceAll(" ", ""), md5hex(image), chip);
  }
});

Deno.test("esp-flasher-stub READ_FLASH: one packet in flight whatever is asked; over 4 KiB fails", () => {
  const flash = new Uint8Array(0x10000).map((_, i) => (i * 13) & 0xff);
  const b = flasher({ chip: "esp32", flash });
  const first = b.cmd(Op.READ_FLASH, words(0, 0x3000, 0x1000, 64));
  assertEquals([hexOf(first[0]), first.length], [reply(0xd2, "00 00"), 2]);
  assertEquals(b.raw(slipEncode(words(0x1000))).length, 1);
  assertEquals(b.raw(slipEncode(words(0x2000))).length, 1);
  const [digest] = b.raw(slipEncode(words(0x3000)));
  assertEquals(hexOf(digest).replaceAll(" ", ""), md5hex(flash.subarray(0, 0x3000)));
  assertEquals(b.cmd(Op.READ_FLASH, words(0, 0x3000, 0x2000, 1)).map(hexOf), [
    reply(0xd2, "00 00"),
  ]);
  assertEquals(b.one(Op.READ_REG, words(0)), reply(0x0a, "c0 00"));
});

Deno.test("esp-flasher-stub: MEM_END runs only with word 0 = 0; FLASH_END never reboots; RUN_USER_CODE idles", () => {
  const program = [{ addr: 0x40080000, data: new Uint8Array(0x100).fill(7) }];
  const known = [{
    digest: ramDigest(program),
    kind: "esp-flasher-stub" as const,
    chip: "esp32" as const,
    entry: 0x40080000,
    name: "a test stub",
  }];
  const b = flasher({ chip: "esp32", knownStubs: known });
  const upload = (word0: number) => {
    b.cmd(Op.MEM_BEGIN, words(0x100, 1, 0x1800, 0x40080000));
    b.data(Op.MEM_DATA, 0, program[0].data, 0x42); // not checksummed
    return b.cmd(Op.MEM_END, words(word0, 0x40080000)).map(hexOf);
  };
  assertEquals(upload(1), [reply(6, "00 00")]);
  assertEquals(b.device.log.at(-1), `${NEW} started`);
  assertEquals(upload(0), [reply(6, "00 00"), "4f 48 41 49"]);
  assertEquals(b.device.log.at(-1), "a test stub started");
  b.cmd(Op.FLASH_BEGIN, words(0, 0, 0x4000, 0));
  assertEquals(b.one(Op.FLASH_END, words(0)), reply(4, "00 00"));
  assertEquals(b.device.mode, "stub");
  assertEquals([b.cmd(Op.RUN_USER_CODE).length, b.device.mode], [0, "stub"]);
});

Deno.test("SLIP: esp-flasher-stub drops a frame with a bad escape or past its buffer; legacy cuts", () => {
  const frame = slipEncode(encodeCommand(Op.READ_REG, words(0x40001000)));
  const badEscape = new Uint8Array([...frame.subarray(0, 5), 0xdb, 0x01, ...frame.subarray(5)]);
  const read = () => hexOf(n.cmd(Op.READ_REG, words(0x40001000))[0] ?? new Uint8Array());
  const n = flasher({ chip: "esp32" });
  assertEquals(n.raw(badEscape), []);
  // The dropped frame's closing delimiter opened a frame: the next command is lost too,
  // until a lone C0 brings host and stub back in step.
  assertEquals(read(), "");
  n.raw(new Uint8Array([0xc0]));
  assertEquals(read().slice(0, 11), "01 0a 02 00");
  // The legacy stub drops the bad byte and every one after it while it keeps escaping:
  // what is left is too short to be a command, and the next one is answered.
  const a = legacy({ chip: "esp32" });
  assertEquals(a.raw(badEscape), []);
  assertEquals(a.one(Op.READ_REG, words(0x40001000)).slice(0, 11), "01 0a 02 00");
  // 16 647 bytes fit esp-flasher-stub's buffer; one more and the frame is dropped, after which
  // its closing delimiter opens a frame: a lone C0 brings host and stub back in step.
  const long = slipEncode(encodeCommand(Op.FLASH_DATA, new Uint8Array(16647 - 8 + 1)));
  assertEquals(n.raw(long), []);
  n.raw(new Uint8Array([0xc0]));
  assertEquals(read().slice(0, 11), "01 0a 02 00");
});

Deno.test("esp-flasher-stub compressed: a corrupt stream fails every later block; overflow hangs it", () => {
  const image = firmware("bootloader_esp32c3.bin");
  const z = new Uint8Array(deflateSync(image));
  const b = flasher({ chip: "esp32c3" });
  b.cmd(Op.FLASH_DEFL_BEGIN, words(image.length, 3, 0x1000, 0));
  const corrupt = z.slice();
  corrupt[2] = 0xff; // the first deflate block header
  assertEquals(status(b.data(Op.FLASH_DEFL_DATA, 0, corrupt.subarray(0, 0x1000))[0]), "00 00");
  // The inflate error answers the next block, which is not processed...
  assertEquals(status(b.data(Op.FLASH_DEFL_DATA, 1, z.subarray(0x1000, 0x2000))[0]), "c7 00");
  // ...and the one after fails again: the decompressor stays failed.
  assertEquals(status(b.data(Op.FLASH_DEFL_DATA, 2, z.subarray(0x2000, 0x3000))[0]), "00 00");
  assertEquals(b.one(Op.FLASH_DEFL_END, words(1)), reply(0x12, "c7 00"));
  assertEquals(b.one(Op.FLASH_DEFL_END, words(1)), reply(0x12, "c0 00")); // output missing
  // Output past the erased area (FLASH_DEFL_BEGIN announced 4 KiB, 12 KiB come out): the stub
  // spins in its erase loop and never answers again.
  const big = new Uint8Array(0x3000).fill(0x5a);
  const h = flasher({ chip: "esp32c3" });
  h.cmd(Op.FLASH_DEFL_BEGIN, words(0x1000, 1, 0x4000, 0x10000));
  assertEquals(status(h.data(Op.FLASH_DEFL_DATA, 0, new Uint8Array(deflateSync(big)))[0]), "00 00");
  assertEquals(h.cmd(Op.READ_REG, words(0x40001000)), []);
  assertEquals(h.device.mode, "stub");
});

import { assertEquals } from "../assert.ts";
import { Bench, hexOf, romBench, stubBench, words } from "./raw.ts";
import { ManualClock } from "../../src/emulator/clock.ts";
import { Op, SYNC_PAYLOAD } from "../../src/protocol/opcodes.ts";
import { slipEncode } from "../../src/protocol/slip.ts";
import { encodeCommand } from "../../src/protocol/packet.ts";

Deno.test("faults: the link drops after N host bytes, both ways, until healed", () => {
  const b = romBench({ chip: "esp32c3", faults: { dropAfterBytes: 46 + 18 + 6 } });
  // SYNC (46 bytes) and SPI_ATTACH (18) went through; READ_REG (14) is cut after 6.
  const read = slipEncode(encodeCommand(Op.READ_REG, words(0x60008800)));
  assertEquals(read.length, 14);
  assertEquals(b.raw(read), []);
  assertEquals(b.device.faults.counts.droppedBytes, 8);
  assertEquals(b.raw(read), []);
  assertEquals(b.device.faults.linkDown, true);
  b.device.faults.heal();
  assertEquals(b.device.faults.linkDown, false);
  // The half frame that got in is still in the ROM's buffer: the first C0 ends it as garbage.
  b.raw(new Uint8Array([0xc0]));
  assertEquals(b.one(Op.READ_REG, words(0x60008800)).slice(0, 11), "01 0a 04 00");
});

Deno.test("faults: a flipped data bit fails the block's checksum (stub C1, ROM 0107)", () => {
  const stub = stubBench({ chip: "esp32" });
  stub.device.injectFaults({ dataBitFlipRate: 1, seed: 5 });
  stub.one(Op.FLASH_BEGIN, words(1, 1, 0x4000, 0x10000));
  assertEquals(stub.device.faults.counts.dataFlips, 0);
  const r = stub.data(Op.FLASH_DATA, 0, new Uint8Array([0x42]));
  assertEquals(hexOf(r[0]), "01 03 02 00 00 00 00 00 c1 00");
  assertEquals(stub.device.faults.counts.dataFlips, 1);
  assertEquals(stub.device.flash.data[0x10000], 0xff);

  const rom = romBench({ chip: "esp32" });
  rom.device.injectFaults({ dataBitFlipRate: 1, seed: 2 });
  rom.one(Op.FLASH_BEGIN, words(0x400, 1, 0x400, 0x10000));
  const reply = rom.data(Op.FLASH_DATA, 0, new Uint8Array(0x400).fill(0x33));
  assertEquals(rom.device.faults.counts.dataFlips, 0x400);
  assertEquals(hexOf(reply[0]).slice(-11), "01 07 00 00");
});

Deno.test("faults: reply bits flip at the given rate, counted", () => {
  const b = new Bench({ chip: "esp32", faults: { replyBitFlipRate: 1, seed: 3 } });
  const boot = b.device.faults.counts.replyFlips; // the boot log, flipped too
  b.raw(slipEncode(encodeCommand(Op.SYNC, SYNC_PAYLOAD)));
  const bytes = b.sent.reduce((n, s) => n + s.bytes.length, 0);
  assertEquals(bytes, 8 * 14);
  assertEquals(b.device.faults.counts.replyFlips - boot, bytes);
  // Every delimiter is flipped too: not one frame survives.
  assertEquals(b.frames.length, 0);
});

Deno.test("faults: a stall holds every later reply, in order, for its time", () => {
  const clock = new ManualClock();
  const b = romBench({ chip: "esp32", clock, faults: { stall: { atCommand: 3, ms: 250 } } });
  const before = b.frames.length;
  b.raw(slipEncode(encodeCommand(Op.READ_REG, words(0x3ff5a004))));
  b.raw(slipEncode(encodeCommand(Op.READ_REG, words(0x3ff5a008))));
  assertEquals(b.frames.length, before);
  clock.advance(249);
  assertEquals(b.frames.length, before);
  clock.advance(1);
  assertEquals(b.frames.length, before + 2);
  assertEquals(b.device.faults.counts.stalled, 2);
  // Later replies flow again at once.
  b.raw(slipEncode(encodeCommand(Op.READ_REG, words(0x3ff5a004))));
  assertEquals(b.frames.length, before + 3);
});

Deno.test("faults: a reset before a command loses it; after it, only its reply is lost", () => {
  const before = stubBench({ chip: "esp32" });
  // Commands are counted from the injection on: the erase is the first.
  before.device.injectFaults({ resetAt: { atCommand: 1, after: false } });
  before.device.flash.data.fill(0, 0x20000, 0x21000);
  assertEquals(before.cmd(Op.ERASE_REGION, words(0x20000, 0x1000)), []);
  assertEquals([before.device.mode, before.device.flash.data[0x20000]], ["app", 0]);
  assertEquals(before.device.faults.counts.resets, 1);

  const after = stubBench({ chip: "esp32" });
  after.device.injectFaults({ resetAt: { atCommand: 1, after: true } });
  after.device.flash.data.fill(0, 0x20000, 0x21000);
  assertEquals(after.cmd(Op.ERASE_REGION, words(0x20000, 0x1000)), []);
  assertEquals([after.device.mode, after.device.flash.data[0x20000]], ["app", 0xff]);
  // It booted from flash: the boot log went out at 115200.
  const log = after.sent.map((s) => new TextDecoder().decode(s.bytes)).join("");
  assertEquals(log.includes("rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)"), true);
});

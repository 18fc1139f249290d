import { assertEquals, assertThrows } from "../assert.ts";
import { NorFlash } from "../../src/emulator/flash.ts";
import { FlashBus } from "../../src/emulator/flash_bus.ts";

Deno.test("NorFlash: new flash is erased, or holds its initial bytes", () => {
  const f = new NorFlash(0x2000, new Uint8Array([1, 2, 3]));
  assertEquals(Array.from(f.data.subarray(0, 4)), [1, 2, 3, 0xff]);
  assertEquals(f.data.subarray(4).every((b) => b === 0xff), true);
  assertThrows(() => new NorFlash(1000), RangeError);
  assertThrows(() => new NorFlash(0x1000, new Uint8Array(0x1001)), RangeError);
});

Deno.test("NorFlash: erases set 0xFF and count per sector and per command", () => {
  const f = new NorFlash(0x40000, new Uint8Array(0x40000));
  f.eraseRange(0x1800, 0x1000); // overlaps sectors 1 and 2
  assertEquals([f.data[0x0fff], f.data[0x1000], f.data[0x2fff], f.data[0x3000]], [
    0,
    0xff,
    0xff,
    0,
  ]);
  assertEquals(Array.from(f.sectorErases.subarray(0, 4)), [0, 1, 1, 0]);
  f.eraseBlock(2); // 0x20000..0x2FFFF
  assertEquals(f.data.subarray(0x20000, 0x30000).every((b) => b === 0xff), true);
  assertEquals([f.data[0x1ffff], f.data[0x30000]], [0, 0]);
  assertEquals(f.touchedSectors(), [1, 2, ...Array.from({ length: 16 }, (_, i) => 0x20 + i)]);
  assertEquals(f.ops, { pagePrograms: 0, sectorErases: 2, blockErases: 1, chipErases: 0 });
  f.eraseChip();
  assertEquals(f.data.every((b) => b === 0xff), true);
  assertEquals([f.sectorErases[0], f.sectorErases[1], f.sectorErases[0x20]], [1, 2, 2]);
  assertEquals(f.ops.chipErases, 1);
  f.resetCounters();
  assertEquals([f.touchedSectors(), f.ops.chipErases], [[], 0]);
  assertThrows(() => f.eraseSector(0x40), RangeError);
  assertThrows(() => f.eraseBlock(4), RangeError);
});

Deno.test("NorFlash: program can only clear bits (old AND new), one write per page program", () => {
  const f = new NorFlash(0x2000);
  f.program(0, new Uint8Array([0xf0, 0x0f]));
  f.program(0, new Uint8Array([0x3c, 0xff]));
  assertEquals(Array.from(f.data.subarray(0, 3)), [0x30, 0x0f, 0xff]);
  assertEquals([f.sectorWrites[0], f.sectorWrites[1], f.ops.pagePrograms], [2, 0, 2]);
});

Deno.test("NorFlash: a page program wraps inside its page; over 256 bytes keeps the last 256", () => {
  const f = new NorFlash(0x1000);
  f.program(0xfe, new Uint8Array([1, 2, 3, 4]));
  assertEquals(Array.from(f.data.subarray(0xfe, 0x100)), [1, 2]);
  assertEquals(Array.from(f.data.subarray(0, 2)), [3, 4]);
  assertEquals(f.data[0x100], 0xff);
  const g = new NorFlash(0x1000);
  const big = new Uint8Array(258).map((_, i) => i < 2 ? 0x00 : 0x80 | (i & 0x7f));
  g.program(0x100, big); // bytes 0 and 1 are overwritten in the latch by bytes 256 and 257
  assertEquals([g.data[0x100], g.data[0x101], g.data[0x102]], [0x80, 0x81, 0x82]);
  assertEquals(g.data[0x200], 0xff);
  assertEquals(g.sectorWrites[0], 1);
});

Deno.test("NorFlash: write splits at page boundaries, so nothing wraps", () => {
  const f = new NorFlash(0x3000);
  const bytes = new Uint8Array(0x300).map((_, i) => i & 0x7f);
  f.write(0xf80, bytes); // pages 0xF00 (0x80 bytes), 0x1000, 0x1100, 0x1200 (0x80)
  assertEquals(f.data.subarray(0xf80, 0x1280), bytes);
  assertEquals([f.data[0xf7f], f.data[0x1280]], [0xff, 0xff]);
  assertEquals([f.ops.pagePrograms, f.sectorWrites[0], f.sectorWrites[1]], [4, 1, 3]);
  assertEquals(f.touchedSectors(), [0, 1]);
});

Deno.test("NorFlash: reads, MD5 and range checks", () => {
  const f = new NorFlash(0x2000);
  assertEquals(
    Array.from(f.md5(0, 0x1000), (b) => b.toString(16).padStart(2, "0")).join(""),
    "6ae59e64850377ee5470c854761551ea", // MD5 of 4096 x 0xFF
  );
  f.write(0x10, new Uint8Array([9]));
  const copy = f.read(0x10, 1);
  copy[0] = 0;
  assertEquals(f.data[0x10], 9); // read returns a copy
  assertThrows(() => f.read(0x1fff, 2), RangeError);
  assertThrows(() => f.program(0x2000, new Uint8Array(1)), RangeError);
  assertThrows(() => f.md5(-1, 1), RangeError);
});

Deno.test("FlashBus: the firmware's size limit, and the part's address wrap past its end", () => {
  const f = new NorFlash(0x2000);
  const bus = new FlashBus(f);
  assertEquals([bus.fits(0x1000, 0x1000), bus.fits(0x1000, 0x1001)], [true, false]);
  bus.limit = 0x8000; // the firmware believes a larger part
  bus.write(0x2010, new Uint8Array([0x12])); // lands at 0x10
  assertEquals(f.data[0x10], 0x12);
  assertEquals(bus.read(0x1fff, 2), new Uint8Array([0xff, 0xff]));
  assertEquals(bus.read(0x4010, 1), new Uint8Array([0x12]));
  assertEquals(bus.md5(0x2000, 0x2000), f.md5(0, 0x2000));
  bus.eraseSector(0x2000);
  assertEquals([f.data[0x10], f.sectorErases[0]], [0xff, 1]);
});

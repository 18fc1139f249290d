import { assertEquals, assertThrows } from "../assert.ts";
import { NorFlash } from "../../src/emulator/flash.ts";

Deno.test("erase sets 0xFF and counts per sector", () => {
  const f = new NorFlash(0x4000, new Uint8Array(0x4000));
  f.eraseRange(0x1800, 0x1000); // touches sectors 1 and 2
  assertEquals(f.data[0x0fff], 0x00);
  assertEquals(f.data[0x1000], 0xff);
  assertEquals(f.data[0x2fff], 0xff);
  assertEquals(f.data[0x3000], 0x00);
  assertEquals(Array.from(f.sectorErases), [0, 1, 1, 0]);
  assertEquals(f.touchedSectors(), [1, 2]);
});

Deno.test("a write can only clear bits: result is old AND new", () => {
  const f = new NorFlash(0x1000);
  f.write(0, new Uint8Array([0xf0, 0x0f]));
  f.write(0, new Uint8Array([0x3c, 0xff]));
  assertEquals(Array.from(f.data.subarray(0, 3)), [0x30, 0x0f, 0xff]);
  assertEquals(f.sectorWrites[0], 2);
});

Deno.test("page program wraps inside its 256-byte page", () => {
  const f = new NorFlash(0x1000);
  f.pageProgram(0xfe, new Uint8Array([1, 2, 3, 4]));
  assertEquals(Array.from(f.data.subarray(0xfe, 0x100)), [1, 2]);
  assertEquals(Array.from(f.data.subarray(0, 2)), [3, 4]);
  assertEquals(f.data[0x100], 0xff);
});

Deno.test("counters reset; block erase covers 16 sectors; MD5 of a range", () => {
  const f = new NorFlash(0x20000);
  f.eraseBlock(1);
  assertEquals(f.touchedSectors(), [...Array(16).keys()].map((i) => i + 16));
  f.resetCounters();
  assertEquals(f.touchedSectors(), []);
  // MD5 of 4096 bytes of 0xFF.
  assertEquals(
    Array.from(f.md5(0, 0x1000), (b) => b.toString(16).padStart(2, "0")).join(""),
    "6ae59e64850377ee5470c854761551ea",
  );
});

Deno.test("accesses outside the chip are refused", () => {
  const f = new NorFlash(0x1000);
  assertThrows(() => f.read(0xfff, 2), RangeError);
  assertThrows(() => new NorFlash(1000), RangeError);
});

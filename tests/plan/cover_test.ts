import { assertEquals, assertOk } from "../assert.ts";
import { firmwareLike } from "../rand.ts";
import { costParams, eraseMs, writeCost } from "../../src/plan/cost.ts";
import { bestCover, type CoverRegion } from "../../src/plan/cover.ts";
import { Density } from "../../src/plan/density.ts";
import { RegionHashes } from "../../src/plan/hash.ts";
import { Knowledge } from "../../src/plan/knowledge.ts";

const round = (ms: number) => Math.round(ms * 1000) / 1000;

Deno.test("write cost: the stub overlaps wire and flash, so a write costs its slower side plus a fill and a drain", () => {
  const p = costParams(921600, true);
  // One sector, deflated to 2000 bytes: BEGIN's reply (2 + 14 bytes of wire), the block
  // (2016 + 26 + 30 bytes framed, its 14-byte reply, 2 ms), then its erase and program
  // (45 + 16 x 0.4 ms) before END (2 ms + 28 bytes) can answer.
  const one = writeCost(p, 16, 4096, 2000);
  assertEquals([round(one.ms), one.wireBytes, one.roundTrips], [80.49, 2072, 3]);
  const begin = 2 + 14 * 10_000 / 921600;
  const block = 2 + (2072 + 14) * 10_000 / 921600;
  const end = 2 + 28 * 10_000 / 921600;
  assertEquals(round(one.ms), round(begin + block + 45 + 6.4 + end));
  // A whole aligned block: one block erase (150 ms) instead of 16 sector erases.
  const whole = writeCost(p, 16, 0x10000, 0x8000);
  assertEquals(round(whole.ms), 494.259);
  assertOk(whole.ms < writeCost(p, 17, 0xf000, 0x7800).ms);
  // With the ROM nothing overlaps: erase, then every block written before its reply.
  const rom = writeCost(costParams(921600, false), 16, 4096, 2000);
  assertEquals(rom.roundTrips, 3);
});

Deno.test("erase time: whole aligned blocks by block erase, the rest by sector, as the stub erases", () => {
  const p = costParams(115200, true);
  const byLoop = (first: number, n: number) => {
    let ms = 0;
    for (let s = first; s < first + n;) {
      const block = s % 16 === 0 && first + n - s >= 16;
      ms += block ? 150 : 45;
      s += block ? 16 : 1;
    }
    return ms;
  };
  for (let first = 0; first < 40; first++) {
    for (let n = 0; n < 70; n++) assertEquals(eraseMs(p, first, n), byLoop(first, n));
  }
});

Deno.test("compressed size estimates add up: the parts of a range sum to the range", () => {
  const h = new RegionHashes(firmwareLike(64 * 4096, 3));
  assertEquals(
    [h.compressedSize(0, 10), h.compressedSize(10, 30), h.compressedSize(0, 40)],
    [16_055, 56_742, 72_797],
  );
  const blank = new RegionHashes(new Uint8Array(8 * 4096).fill(0xff));
  assertEquals(blank.compressedSize(0, 8), 0);
});

/** A 64-sector region of firmware-like bytes starting on a 64 KiB boundary. */
function region(): CoverRegion {
  const h = new RegionHashes(firmwareLike(64 * 4096, 3));
  return {
    sectors: h.sectors,
    baseSector: 16,
    rangeLength: (f, n) => h.rangeLength(f, n),
    compressedSize: (f, n) => h.compressedSize(f, n),
  };
}

Deno.test("cover: a block with one clean sector is written whole, with one block erase", () => {
  for (const baud of [115200, 921600]) {
    const c = bestCover(region(), costParams(baud, true), true, [[1, 15]]);
    assertEquals(c.ranges, [[0, 16]], `${baud}`);
  }
});

Deno.test("cover: at 921600 three short runs in one block are one write; at 115200 the wire decides", () => {
  const runs: [number, number][] = [[3, 2], [8, 2], [13, 2]];
  assertEquals(bestCover(region(), costParams(921600, true), true, runs).ranges, [[0, 16]]);
  assertEquals(bestCover(region(), costParams(115200, true), true, runs).ranges, runs);
  // Far apart, two sectors stay two writes.
  const apart: [number, number][] = [[0, 1], [40, 1]];
  assertEquals(bestCover(region(), costParams(921600, true), true, apart).ranges, apart);
  assertEquals(bestCover(region(), costParams(921600, true), true, []), { ranges: [], ms: 0 });
});

Deno.test("density: clean neighbours make a range likely clean, differing ones unlikely", () => {
  const sparse = new Density([{ count: 200, state: "clean" }, { count: 16, state: "dirty" }]);
  const dense = new Density([16, 16, 16].map((count) => ({ count, state: "dirty" as const })));
  const none = new Density([]);
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  assertEquals([r3(sparse.clean(8)), r3(none.clean(8)), r3(dense.clean(8))], [0.961, 0.667, 0.148]);
  // Half of a differing range is clean about half the time when changes are rare.
  assertEquals([r3(sparse.leftClean(8, 8)), r3(dense.leftClean(8, 8))], [0.481, 0.092]);
  // Expected differing sectors in a differing range of 16: about one, or about seven.
  assertEquals([r3(sparse.dirty(16, true)), r3(dense.dirty(16, true))], [1.072, 7.072]);
  // Far answers count less.
  const far = new Density([{ count: 200, state: "clean", weight: 0.01 }]);
  assertOk(far.clean(8) < sparse.clean(8));
});

Deno.test("knowledge: segments split and join, differing ones stay apart, must-write runs", () => {
  const k = new Knowledge(32);
  k.set(0, 16, "dirty");
  k.set(16, 16, "dirty");
  k.set(4, 4, "clean");
  assertEquals(k.segments, [
    { first: 0, count: 4, state: "dirty" },
    { first: 4, count: 4, state: "clean" },
    { first: 8, count: 8, state: "dirty" },
    { first: 16, count: 16, state: "dirty" },
  ]);
  k.set(8, 8, "unknown");
  k.set(16, 8, "unknown");
  assertEquals(k.segments.map((s) => [s.first, s.count, s.state]), [
    [0, 4, "dirty"],
    [4, 4, "clean"],
    [8, 16, "unknown"],
    [24, 8, "dirty"],
  ]);
  assertEquals(k.mustRuns(), [[0, 4], [8, 24]]);
  assertEquals(k.mustRuns(2, 10), [[2, 2], [8, 2]]);
  assertEquals(k.at(9).state, "unknown");
});

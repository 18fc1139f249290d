/**
 * The one seeded PRNG: fault injection in the virtual device and test data
 * draw from it, so every run with the same seed repeats exactly.
 * @module
 */

/**
 * A seeded source of uniform floats in [0, 1) (mulberry32): small, fast and
 * the same on every run, which is all fault injection and test data need.
 *
 * @example
 * ```ts
 * import { uniform } from "./random.ts";
 * import assert from "node:assert";
 * const a = uniform(1);
 * const b = uniform(1);
 * const first = a();
 * assert.strictEqual(first, b());
 * assert.ok(first >= 0 && first < 1);
 * assert.notStrictEqual(a(), first);
 * ```
 */
export function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

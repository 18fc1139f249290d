/**
 * The one seeded PRNG: fault injection in the virtual device, its seeded keys
 * and ids, the demo's firmware and test data draw from it, so every run with
 * the same seed repeats exactly.
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

/** `n` pseudo-random bytes from `seed`. */
export function randomBytes(n: number, seed: number): Uint8Array {
  const r = uniform(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 256) | 0;
  return out;
}

/**
 * Firmware-like bytes: runs of structured data and noise that deflate to
 * roughly half, as real app images do.
 */
export function firmwareLike(n: number, seed: number): Uint8Array {
  const r = uniform(seed);
  const out = new Uint8Array(n);
  let i = 0;
  while (i < n) {
    const run = 16 + ((r() * 240) | 0);
    const kind = r();
    for (let k = 0; k < run && i < n; k++, i++) {
      out[i] = kind < 0.5 ? (r() * 256) | 0 : kind < 0.8 ? (k * 4) & 0xff : 0;
    }
  }
  return out;
}

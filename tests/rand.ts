/**
 * Seeded test data from the project's one PRNG (src/random.ts, mulberry32),
 * so tests that use random data are deterministic and reproducible.
 * @module
 */

import { uniform } from "../src/random.ts";

/** Uniform floats in [0, 1) from `seed`: the PRNG the fault model draws from too. */
export const rng: (seed: number) => () => number = uniform;

/** `n` pseudo-random bytes from `seed`. */
export function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 256) | 0;
  return out;
}

/**
 * Firmware-like bytes: runs of structured data and noise that deflate to
 * roughly half, as real app images do.
 */
export function firmwareLike(n: number, seed: number): Uint8Array {
  const r = rng(seed);
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

/**
 * Seeded test data from the project's one PRNG (src/random.ts, mulberry32),
 * so tests that use random data are deterministic and reproducible.
 * @module
 */

import { uniform } from "../src/random.ts";

export { firmwareLike, randomBytes } from "../src/random.ts";

/** Uniform floats in [0, 1) from `seed`: the PRNG the fault model draws from too. */
export const rng: (seed: number) => () => number = uniform;

/**
 * How likely a range of sectors is to be clean, from what the device's MD5s
 * said about the sectors around it. Each sector is taken to differ with
 * probability `rho`, independently; `rho` is unknown, with a prior spread
 * evenly over its orders of magnitude (from 1/4096 to nearly 1), and the
 * probes' answers weigh it: a clean range of n sectors by (1 - rho)^n, a
 * range with at least one differing sector by 1 - (1 - rho)^n. Predictions
 * average over that posterior rather than trusting one estimate, so one
 * differing range does not make a region look dense, while a row of them
 * does.
 * @module
 */

/** What one probed range of sectors showed. */
export interface Evidence {
  /** Sectors in the range. */
  count: number;
  /** `clean`: every sector matches; `dirty`: at least one differs. */
  state: "clean" | "dirty";
  /** How much the answer counts, 0 to 1 (default 1): less the farther away it is. */
  weight?: number;
}

/** Sector change rates the posterior is kept on: 2^(-i/2) for i = 0..24, the first just below 1. */
const GRID: readonly number[] = Array.from(
  { length: 25 },
  (_, i) => i === 0 ? 0.999 : 2 ** (-i / 2),
);

/**
 * The posterior over a region's sector change rate given some evidence.
 *
 * @example
 * ```ts
 * import { Density } from "./density.ts";
 * const sparse = new Density([{ count: 200, state: "clean" }, { count: 16, state: "dirty" }]);
 * const dense = new Density([{ count: 16, state: "dirty" }, { count: 16, state: "dirty" }]);
 * sparse.clean(8) > dense.clean(8); // true
 * ```
 */
export class Density {
  readonly #weights: number[];

  /** Weighs the grid by the likelihood of `evidence`. */
  constructor(evidence: Iterable<Evidence>) {
    const log = GRID.map(() => 0);
    for (const e of evidence) {
      const w = e.weight ?? 1;
      for (let g = 0; g < GRID.length; g++) {
        const q = Math.pow(1 - GRID[g], e.count);
        log[g] += w * (e.state === "clean" ? Math.log(q) : Math.log(Math.max(1e-300, 1 - q)));
      }
    }
    const max = Math.max(...log);
    const w = log.map((l) => Math.exp(l - max));
    const sum = w.reduce((a, b) => a + b, 0);
    this.#weights = w.map((x) => x / sum);
  }

  #expect(f: (rho: number) => number): number {
    let e = 0;
    for (let g = 0; g < GRID.length; g++) e += this.#weights[g] * f(GRID[g]);
    return e;
  }

  /** Probability that `n` sectors nobody has looked at are all clean. */
  clean(n: number): number {
    return this.#expect((rho) => Math.pow(1 - rho, n));
  }

  /**
   * Expected number of differing sectors among `n`; `known` when the range
   * is known to hold at least one.
   */
  dirty(n: number, known: boolean): number {
    const all = this.#expect((rho) => n * rho);
    if (!known) return all;
    const some = this.#expect((rho) => 1 - Math.pow(1 - rho, n));
    return some > 0 ? Math.min(n, Math.max(1, all / some)) : n;
  }

  /**
   * Probability that the first `left` sectors of a range known to hold at
   * least one differing sector are all clean (so the difference is in the
   * other `right`).
   */
  leftClean(left: number, right: number): number {
    const num = this.#expect((rho) => Math.pow(1 - rho, left) * (1 - Math.pow(1 - rho, right)));
    const den = this.#expect((rho) => 1 - Math.pow(1 - rho, left + right));
    return den > 0 ? num / den : 0;
  }
}

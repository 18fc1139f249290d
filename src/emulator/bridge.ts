/**
 * The USB bridge between the host and the chip's UART, as the virtual board
 * models it: up to its top rate bytes cross intact; above it the bridge
 * cannot keep its bit timing and each byte has a chance of arriving with a
 * bit wrong, both ways (seeded, so runs repeat). Espressif's USB-Serial/JTAG
 * has no UART: it ignores the baud rate and never corrupts. The facts per
 * bridge (top rate, latency, USB rate) come from src/chips/bridges.ts.
 * @module
 */

import { bridgeById, type BridgeInfo, BRIDGES } from "../chips/bridges.ts";
import { uniform } from "../random.ts";

/** A bridge for a virtual board. */
export interface BridgeOptions {
  /** A known bridge by id (`cp2102`, `ch340`, `usb-serial-jtag`; chips/bridges.ts), or one's facts. */
  bridge: string | BridgeInfo;
  /** Chance per byte of one flipped bit when the UART runs above the top rate (default 0.01). */
  errorRate?: number;
  /** Seed of the draws (default 1). */
  seed?: number;
}

/** The bridge ids `--bridge` takes. */
export const BRIDGE_IDS: readonly string[] = BRIDGES.map((b) => b.id);

/** Default chance per byte of an error above the top rate. */
export const DEFAULT_BRIDGE_ERROR_RATE = 0.01;

/** Thrown for a bridge id nobody knows. */
export class UnknownBridgeError extends RangeError {
  /** Names the id and the known ones. */
  constructor(id: string) {
    super(`unknown bridge '${id}': use one of ${BRIDGE_IDS.join(", ")}`);
  }
}

/**
 * A bridge on a virtual board.
 *
 * @example
 * ```ts
 * import { VirtualBridge } from "./bridge.ts";
 * import assert from "node:assert";
 * const cp2102 = new VirtualBridge({ bridge: "cp2102", errorRate: 1 });
 * const bytes = new Uint8Array(100).fill(0x55);
 * assert.deepStrictEqual(cp2102.pass(bytes, 921600), bytes); // at or under its 1 Mbps
 * assert.notDeepStrictEqual(cp2102.pass(bytes, 2_000_000), bytes); // above it
 * assert.strictEqual(cp2102.corrupted, 100);
 * ```
 */
export class VirtualBridge {
  /** The bridge's facts. */
  readonly info: BridgeInfo;
  /** Chance per byte of an error above the top rate. */
  readonly errorRate: number;
  /** Bytes corrupted so far. */
  corrupted = 0;
  readonly #random: () => number;

  /** A bridge as `options` describe it; throws {@link UnknownBridgeError} for an unknown id. */
  constructor(options: BridgeOptions) {
    const info = typeof options.bridge === "string" ? bridgeById(options.bridge) : options.bridge;
    if (!info) throw new UnknownBridgeError(String(options.bridge));
    this.info = info;
    this.errorRate = options.errorRate ?? DEFAULT_BRIDGE_ERROR_RATE;
    this.#random = uniform(options.seed ?? 1);
  }

  /** True for Espressif's USB ports: no UART, no baud rate. */
  get ignoresBaud(): boolean {
    return this.info.ignoresBaud ?? false;
  }

  /** Bytes crossing while the chip's UART runs at `baud`: intact up to the top rate. */
  pass(bytes: Uint8Array, baud: number): Uint8Array {
    if (this.ignoresBaud || !(baud > this.info.maxBaud) || this.errorRate <= 0) return bytes;
    let out: Uint8Array | undefined;
    for (let i = 0; i < bytes.length; i++) {
      if (this.#random() >= this.errorRate) continue;
      out ??= bytes.slice();
      out[i] ^= 1 << Math.floor(this.#random() * 8);
      this.corrupted++;
    }
    return out ?? bytes;
  }
}

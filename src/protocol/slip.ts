/**
 * SLIP framing (RFC 1055 as the ESP loaders use it): every frame starts and
 * ends with 0xC0; 0xC0 and 0xDB inside a frame travel as DB DC and DB DD.
 * @module
 */

/** Frame delimiter. */
export const END = 0xc0;
/** Escape byte. */
export const ESC = 0xdb;
/** Escaped END. */
export const ESC_END = 0xdc;
/** Escaped ESC. */
export const ESC_ESC = 0xdd;

/**
 * Wraps one packet in a SLIP frame, delimiter at both ends.
 *
 * @example
 * ```ts
 * import { slipEncode } from "./slip.ts";
 * import assert from "node:assert";
 * assert.deepStrictEqual(
 *   slipEncode(new Uint8Array([0x01, 0xc0, 0xdb])),
 *   new Uint8Array([0xc0, 0x01, 0xdb, 0xdc, 0xdb, 0xdd, 0xc0]),
 * );
 * ```
 */
export function slipEncode(packet: Uint8Array): Uint8Array {
  // Runs between specials are copied whole: indexOf and set are native.
  const specials: number[] = [];
  for (const special of [END, ESC]) {
    for (let i = packet.indexOf(special); i >= 0; i = packet.indexOf(special, i + 1)) {
      specials.push(i);
    }
  }
  const out = new Uint8Array(packet.length + specials.length + 2);
  out[0] = END;
  specials.sort((x, y) => x - y);
  let from = 0;
  let o = 1;
  for (const at of specials) {
    out.set(packet.subarray(from, at), o);
    o += at - from;
    out[o++] = ESC;
    out[o++] = packet[at] === END ? ESC_END : ESC_ESC;
    from = at + 1;
  }
  out.set(packet.subarray(from), o);
  out[out.length - 1] = END;
  return out;
}

/** What the decoder saw besides whole frames. */
export interface SlipStats {
  /** Frames dropped because they held an escape other than DB DC / DB DD. */
  invalidEscapes: number;
  /** Bytes that arrived outside any frame (boot messages, line noise). */
  noiseBytes: number;
}

/**
 * Streaming SLIP decoder: feed it whatever a read returned; it hands back the
 * frames completed so far and keeps partial ones for the next call. Bytes
 * outside frames are kept aside (a ROM boot banner is useful in errors) and a
 * frame with an invalid escape is dropped whole, so one flipped bit costs one
 * frame, never the stream's framing.
 *
 * @example
 * ```ts
 * import { SlipDecoder } from "./slip.ts";
 * import assert from "node:assert";
 * const d = new SlipDecoder();
 * // Noise, then a frame begins: nothing complete yet.
 * assert.deepStrictEqual(d.push(new Uint8Array([0x41, 0xc0, 0x01])), []);
 * assert.deepStrictEqual(d.push(new Uint8Array([0x02, 0xc0])), [new Uint8Array([1, 2])]);
 * assert.deepStrictEqual(d.takeNoise(), new Uint8Array([0x41]));
 * ```
 */
export class SlipDecoder {
  #buf = new Uint8Array(256);
  #len = 0;
  #inFrame = false;
  #escaped = false;
  #bad = false;
  #noise: number[] = [];
  /** Bytes kept of the noise between frames, for error messages. */
  readonly noiseLimit: number;
  /** Counters of dropped input. */
  readonly stats: SlipStats = { invalidEscapes: 0, noiseBytes: 0 };

  /** Creates a decoder that keeps up to `noiseLimit` bytes of inter-frame noise. */
  constructor(noiseLimit = 4096) {
    this.noiseLimit = noiseLimit;
  }

  /** Feeds bytes; returns the frames they completed, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    if (this.#buf.length - this.#len < chunk.length) this.#grow(this.#len + chunk.length);
    const buf = this.#buf;
    let len = this.#len;
    // Next delimiter and escape at or after a position (chunk.length: none), found lazily.
    const find = (b: number, from: number) => {
      const at = chunk.indexOf(b, from);
      return at < 0 ? chunk.length : at;
    };
    let nextEnd = -1;
    let nextEsc = -1;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (!this.#inFrame) {
        if (b === END) {
          this.#inFrame = true;
          len = 0;
          this.#escaped = false;
          this.#bad = false;
        } else {
          this.stats.noiseBytes++;
          if (this.#noise.length < this.noiseLimit) this.#noise.push(b);
        }
        continue;
      }
      if (b === END) {
        if (len > 0 || this.#bad) {
          if (this.#bad || this.#escaped) {
            this.stats.invalidEscapes++;
          } else {
            frames.push(buf.slice(0, len));
          }
          this.#inFrame = false;
        }
        // An empty frame is two delimiters in a row: treat the second as a start.
        len = 0;
        this.#escaped = false;
        this.#bad = false;
        continue;
      }
      if (!this.#escaped && b !== ESC) {
        // Copy the run up to the next delimiter or escape in one go.
        if (nextEnd < i) nextEnd = find(END, i);
        if (nextEsc < i) nextEsc = find(ESC, i);
        const stop = Math.min(nextEnd, nextEsc);
        buf.set(chunk.subarray(i, stop), len);
        len += stop - i;
        i = stop - 1;
        continue;
      }
      if (this.#escaped) {
        this.#escaped = false;
        if (b === ESC_END) buf[len++] = END;
        else if (b === ESC_ESC) buf[len++] = ESC;
        else this.#bad = true;
      } else if (b === ESC) {
        this.#escaped = true;
      } else {
        buf[len++] = b;
      }
    }
    this.#len = len;
    return frames;
  }

  /** True while a frame has begun but not ended. */
  get inFrame(): boolean {
    return this.#inFrame;
  }

  /** Returns and clears the bytes seen outside frames. */
  takeNoise(): Uint8Array {
    const n = new Uint8Array(this.#noise);
    this.#noise = [];
    return n;
  }

  /** Forgets any partial frame and noise (after a port flush or reset). */
  reset(): void {
    this.#len = 0;
    this.#inFrame = false;
    this.#escaped = false;
    this.#bad = false;
    this.#noise = [];
  }

  #grow(min: number): void {
    let size = this.#buf.length * 2;
    while (size < min) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }
}

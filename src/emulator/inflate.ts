/**
 * A streaming zlib (RFC 1950) decoder that reports its state the way the
 * ROM's and the stub's tinfl does: needs more input, done (only after the
 * Adler-32 trailer has arrived and matched), or failed (bad header, bad
 * deflate data, Adler-32 mismatch). Output is handed over as it inflates.
 *
 * The deflate body is decoded by fflate's streaming `Inflate` (pinned); the
 * zlib header and trailer are handled here because fflate's `Unzlib` does
 * not verify the Adler-32 and cannot say where the deflate stream ended.
 * @module
 */

import { Inflate } from "npm:fflate@0.8.3";

/** Where a zlib stream stands. */
export type InflateStatus = "more" | "done" | "error";

/** Why a stream failed. */
export type InflateFailure = "header" | "data" | "adler";

/** fflate's Inflate state, read to learn where the final deflate block ended. */
interface FflateInternals {
  /** Decoder state: `f` final block seen, `l` inside a block, `p` bit position. */
  s: { f?: number; l?: unknown; p?: number };
  /** Input bytes not yet consumed (from the byte holding bit `s.p`). */
  p: Uint8Array;
}

/** Adler-32 of a byte stream, updated piecewise. */
class Adler32 {
  #a = 1;
  #b = 0;
  update(bytes: Uint8Array): void {
    let a = this.#a;
    let b = this.#b;
    for (let i = 0; i < bytes.length; i++) {
      a += bytes[i];
      if (a >= 65521) a -= 65521;
      b += a;
      if (b >= 65521) b -= 65521;
    }
    this.#a = a;
    this.#b = b;
  }
  get value(): number {
    return ((this.#b << 16) | this.#a) >>> 0;
  }
}

/**
 * Incremental zlib inflater.
 *
 * @example
 * ```ts
 * import { deflateSync } from "node:zlib";
 * import { ZlibInflater } from "./inflate.ts";
 * const out: Uint8Array[] = [];
 * const z = new ZlibInflater((chunk) => out.push(chunk));
 * z.push(new Uint8Array(deflateSync(new Uint8Array(10))));
 * z.status; // "done"
 * ```
 */
export class ZlibInflater {
  #status: InflateStatus = "more";
  #failure: InflateFailure | undefined;
  #header: number[] = [];
  #inflate: Inflate | undefined;
  #trailer: number[] | undefined;
  #adler = new Adler32();
  #out = 0;
  readonly #onData: (chunk: Uint8Array) => void;

  /** `onData` receives inflated bytes, in order, during {@link push}. */
  constructor(onData: (chunk: Uint8Array) => void) {
    this.#onData = onData;
  }

  /** "more" until the stream ends with a matching trailer ("done") or fails ("error"). */
  get status(): InflateStatus {
    return this.#status;
  }

  /** What went wrong, once {@link status} is "error". */
  get failure(): InflateFailure | undefined {
    return this.#failure;
  }

  /** Bytes inflated so far. */
  get totalOut(): number {
    return this.#out;
  }

  /** Feeds compressed bytes. Input after the end of the stream is ignored. */
  push(input: Uint8Array): void {
    let at = 0;
    while (this.#status === "more" && at < input.length) {
      if (this.#header.length < 2) {
        this.#header.push(input[at++]);
        if (this.#header.length === 2 && !this.#headerOk()) this.#fail("header");
        continue;
      }
      if (this.#trailer) {
        this.#trailer.push(input[at++]);
        this.#checkTrailer();
        continue;
      }
      this.#feed(input.subarray(at));
      at = input.length;
    }
  }

  #headerOk(): boolean {
    const [cmf, flg] = this.#header;
    // Deflate method, a window tinfl can hold (<= 32 KiB), no preset dictionary.
    return (cmf & 0x0f) === 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 === 0 &&
      (flg & 0x20) === 0;
  }

  #feed(bytes: Uint8Array): void {
    if (!this.#inflate) {
      this.#inflate = new Inflate((chunk) => {
        if (chunk.length === 0) return;
        this.#adler.update(chunk);
        this.#out += chunk.length;
        this.#onData(chunk);
      });
    }
    const inflate = this.#inflate;
    try {
      inflate.push(bytes, false);
    } catch {
      this.#fail("data");
      return;
    }
    const inner = inflate as unknown as FflateInternals;
    if (inner.s.f && !inner.s.l) {
      // The final block ended; what follows its last (partial) byte is the trailer.
      const rest = inner.p.subarray((inner.s.p ?? 0) & 7 ? 1 : 0);
      this.#trailer = [];
      for (const b of rest) {
        if (this.#status !== "more") break;
        this.#trailer.push(b);
        this.#checkTrailer();
      }
    }
  }

  #checkTrailer(): void {
    const t = this.#trailer!;
    if (t.length < 4) return;
    const expected = ((t[0] << 24) | (t[1] << 16) | (t[2] << 8) | t[3]) >>> 0;
    if (expected === this.#adler.value) this.#status = "done";
    else this.#fail("adler");
  }

  #fail(why: InflateFailure): void {
    this.#status = "error";
    this.#failure = why;
  }
}

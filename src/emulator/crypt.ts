/**
 * The flash-encryption engine of a virtual chip. Real chips encrypt with
 * AES-XTS under a key in eFuse that never leaves the chip; what matters to a
 * flasher is only that the stored bytes depend on the key and the address,
 * so the device's MD5s of encrypted flash never match a plaintext image.
 * This model XORs with AES-128 of each 16-byte block's address (a keystream),
 * which has that property and is its own inverse.
 * @module
 */

import { createCipheriv } from "node:crypto";

/** Encrypts what is written through the engine. */
export class FlashCrypt {
  readonly #key: Uint8Array;

  /** An engine holding `key` (16 bytes). */
  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new RangeError(`flash encryption key must be 16 bytes`);
    this.#key = key.slice();
  }

  /** The bytes stored when `plain` is written through the engine at flash address `addr`. */
  apply(addr: number, plain: Uint8Array): Uint8Array {
    const first = Math.floor(addr / 16);
    const last = Math.ceil((addr + plain.length) / 16);
    const counters = new Uint8Array((last - first) * 16);
    const view = new DataView(counters.buffer);
    for (let b = first; b < last; b++) view.setUint32((b - first) * 16, b, true);
    const cipher = createCipheriv("aes-128-ecb", this.#key, null);
    cipher.setAutoPadding(false);
    const stream = cipher.update(counters);
    const skip = addr - first * 16;
    return plain.map((x, i) => x ^ stream[skip + i]);
  }
}

/**
 * The flash-encryption engine of a virtual chip, with Espressif's real
 * ciphers as espsecure (esptool's `espsecure/__init__.py`,
 * `_flash_encryption_operation_esp32` and `_flash_encryption_operation_aes_xts`)
 * computes them on the host, so ciphertext written through the virtual
 * device equals what `espsecure encrypt-flash-data` produces:
 *
 * - ESP32: AES-256 per 16-byte block, the key tweaked for every 32-byte
 *   block by bits 5..23 of its flash address (which key bits take part is
 *   chosen by the 4-bit FLASH_CRYPT_CONFIG eFuse), each block's bytes
 *   reversed on the way in and out, and AES's *decrypt* direction used to
 *   encrypt (the hardware runs AES inverted).
 * - ESP32-S2 and later: XTS-AES (IEEE 1619) over 128-byte data units, the
 *   unit's flash address as the little-endian tweak, each unit's bytes
 *   reversed on the way in and out. A 256-bit key is XTS-AES-128, a 512-bit
 *   key XTS-AES-256, and a 128-bit key (ESP32-C2) is first extended with
 *   SHA-256, as espsecure's `_load_hardware_key` does.
 *
 * Only node:crypto's AES-ECB is used: XTS is built on it here.
 * @module
 */

import { createCipheriv, createDecipheriv, createHash } from "node:crypto";

/** Which cipher a chip's engine runs. */
export type FlashCipher = "esp32-aes" | "xts-aes";

const UNIT = 0x80;

/**
 * The ESP32 key tweak: for each key bit, counted from the most significant
 * bit of the 256-bit key, the bit of the flash address that flips it. Four
 * ranges (FLASH_CRYPT_CONFIG bits 0..3) of 67, 65, 63 and 61 key bits; each
 * is three runs of address bits 23 down to 5, then a run from 14, 12, 10 or
 * 8 down to 5 (espsecure's `_FLASH_ENCRYPTION_TWEAK_PATTERN`).
 */
const TWEAK_RANGES: readonly { start: number; pattern: readonly number[] }[] = (() => {
  const ranges: { start: number; pattern: number[] }[] = [];
  let start = 0;
  for (let g = 0; g < 4; g++) {
    const pattern: number[] = [];
    for (let run = 0; run < 3; run++) for (let b = 23; b >= 5; b--) pattern.push(b);
    for (let b = 14 - 2 * g; b >= 5; b--) pattern.push(b);
    ranges.push({ start, pattern });
    start += pattern.length;
  }
  return ranges;
})();

/** Encrypts what is written through the engine. */
export class FlashCrypt {
  /** The cipher. */
  readonly cipher: FlashCipher;
  /** ESP32 FLASH_CRYPT_CONFIG (which key bits the address tweaks); 0 elsewhere. */
  readonly cryptConfig: number;
  readonly #key: Uint8Array;

  /**
   * An engine holding `key`: for "esp32-aes" 32 bytes (or 24, a 3/4-coded
   * key, extended as the hardware does), for "xts-aes" 32 or 64 bytes (or
   * 16, extended with SHA-256).
   *
   * @example
   * ```ts
   * import { FlashCrypt } from "./crypt.ts";
   * const engine = new FlashCrypt("xts-aes", new Uint8Array(32));
   * engine.apply(0x10000, new Uint8Array(32)).length; // 32
   * ```
   */
  constructor(cipher: FlashCipher, key: Uint8Array, cryptConfig = 0xf) {
    this.cipher = cipher;
    if (cipher === "esp32-aes") {
      if (key.length === 24) key = concat(key, key.subarray(8, 16));
      if (key.length !== 32) {
        throw new RangeError(
          `an ESP32 flash encryption key is 32 bytes (or 24), got ${key.length}`,
        );
      }
      if (!Number.isInteger(cryptConfig) || cryptConfig < 0 || cryptConfig > 0xf) {
        throw new RangeError(`FLASH_CRYPT_CONFIG is 4 bits, got ${cryptConfig}`);
      }
      this.cryptConfig = cryptConfig;
    } else {
      if (key.length === 16) key = new Uint8Array(createHash("sha256").update(key).digest());
      if (key.length !== 32 && key.length !== 64) {
        throw new RangeError(
          `an XTS-AES flash encryption key is 32 or 64 bytes (or 16), got ${key.length}`,
        );
      }
      this.cryptConfig = 0;
    }
    this.#key = key.slice();
  }

  /**
   * The bytes stored when `plain` is written through the engine at flash
   * address `addr`. Both must be multiples of 16 (the callers check the
   * alignment their firmware demands and fail the write otherwise).
   */
  apply(addr: number, plain: Uint8Array): Uint8Array {
    return this.#run(addr, plain, true);
  }

  /** The plaintext of `stored` bytes at `addr` (the inverse of {@link apply}). */
  decrypt(addr: number, stored: Uint8Array): Uint8Array {
    return this.#run(addr, stored, false);
  }

  #run(addr: number, data: Uint8Array, encrypt: boolean): Uint8Array {
    if (addr % 16 !== 0 || data.length % 16 !== 0) {
      throw new RangeError(
        `encrypted flash access must be 16-byte aligned: ${data.length} bytes at 0x${
          addr.toString(16)
        }`,
      );
    }
    return this.cipher === "esp32-aes"
      ? this.#esp32(addr, data, encrypt)
      : this.#xts(addr, data, encrypt);
  }

  #esp32(addr: number, data: Uint8Array, encrypt: boolean): Uint8Array {
    const out = new Uint8Array(data.length);
    for (let at = 0; at < data.length;) {
      const block = addr + at;
      // One tweaked key per 32-byte block (address bits 0..4 never tweak).
      const n = Math.min(data.length - at, 32 - (block % 32));
      const key = this.#tweakedKey(block);
      const aes = encrypt
        ? createDecipheriv("aes-256-ecb", key, null)
        : createCipheriv("aes-256-ecb", key, null);
      aes.setAutoPadding(false);
      const input = reverseBlocks(data.subarray(at, at + n), 16);
      out.set(reverseBlocks(new Uint8Array(aes.update(input)), 16), at);
      at += n;
    }
    return out;
  }

  #tweakedKey(addr: number): Uint8Array {
    const key = this.#key.slice();
    TWEAK_RANGES.forEach((range, g) => {
      if ((this.cryptConfig & (1 << g)) === 0) return;
      range.pattern.forEach((addrBit, i) => {
        const n = range.start + i; // key bit, from the most significant
        if (addr & (1 << addrBit)) key[n >> 3] ^= 0x80 >> (n & 7);
      });
    });
    return key;
  }

  #xts(addr: number, data: Uint8Array, encrypt: boolean): Uint8Array {
    const half = this.#key.length / 2;
    const aesName = half === 16 ? "aes-128-ecb" : "aes-256-ecb";
    const dataKey = this.#key.subarray(0, half);
    const tweakKey = this.#key.subarray(half);
    const blocks = data.length / 16;
    // The tweak of each block: T0 = E_K2(unit address), times alpha^j, where
    // j counts blocks of the byte-reversed unit (so block i of the unit is j = 7 - i).
    const tweaks = new Uint8Array(data.length);
    const firstUnit = addr - (addr % UNIT);
    const lastUnit = addr + data.length - 1 - ((addr + data.length - 1) % UNIT);
    const units = (lastUnit - firstUnit) / UNIT + 1;
    const seeds = new Uint8Array(units * 16);
    for (let u = 0; u < units; u++) {
      new DataView(seeds.buffer).setUint32(u * 16, firstUnit + u * UNIT, true);
    }
    const t0 = ecb(aesName, tweakKey, seeds, true);
    for (let b = 0; b < blocks; b++) {
      const a = addr + b * 16;
      const u = (a - firstUnit - (a % UNIT)) / UNIT;
      const j = 7 - (a % UNIT) / 16;
      const t = t0.slice(u * 16, u * 16 + 16);
      for (let k = 0; k < j; k++) mulAlpha(t);
      tweaks.set(t, b * 16);
    }
    const input = reverseBlocks(data, 16);
    for (let i = 0; i < input.length; i++) input[i] ^= tweaks[i];
    const mid = ecb(aesName, dataKey, input, encrypt);
    for (let i = 0; i < mid.length; i++) mid[i] ^= tweaks[i];
    return reverseBlocks(mid, 16);
  }
}

/** Multiplies an XTS tweak by alpha in GF(2^128), little-endian (IEEE 1619). */
function mulAlpha(t: Uint8Array): void {
  let carry = 0;
  for (let i = 0; i < 16; i++) {
    const next = t[i] >> 7;
    t[i] = ((t[i] << 1) | carry) & 0xff;
    carry = next;
  }
  if (carry) t[0] ^= 0x87;
}

function ecb(name: string, key: Uint8Array, data: Uint8Array, encrypt: boolean): Uint8Array {
  const aes = encrypt ? createCipheriv(name, key, null) : createDecipheriv(name, key, null);
  aes.setAutoPadding(false);
  return new Uint8Array(aes.update(data));
}

/** A copy of `data` with the bytes of every `size`-byte block reversed. */
function reverseBlocks(data: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let b = 0; b < data.length; b += size) {
    for (let i = 0; i < size; i++) out[b + i] = data[b + size - 1 - i];
  }
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

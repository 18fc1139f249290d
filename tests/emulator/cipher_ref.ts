/**
 * Reference computations of Espressif's flash-encryption ciphers for tests,
 * written here from the published descriptions, independently of
 * src/emulator/crypt.ts, with node:crypto's AES-ECB as the only primitive:
 *
 * - XTS-AES as IEEE Std 1619-2007 describes it (section 5: the tweak T =
 *   E_K2(i), then per 16-byte block C = E_K1(P xor T) xor T, T = T * alpha),
 *   applied as espsecure's `_flash_encryption_operation_aes_xts` does: the
 *   flash address of each 128-byte data unit as the little-endian tweak,
 *   each unit's bytes reversed before and after.
 * - The ESP32's AES-256 as espsecure's `_flash_encryption_operation_esp32`
 *   does it: per 16-byte block, the key XOR a tweak computed from the
 *   block's address with espsecure's multiply form (`mul1`, `mul2`,
 *   `mul2_mask`, the FLASH_CRYPT_CONFIG range masks) over the 256-bit key as
 *   a big-endian integer, block bytes reversed, AES decrypt used to encrypt.
 * @module
 */

import { createCipheriv, createDecipheriv, createHash } from "node:crypto";

function ecb(key: Uint8Array, block: Uint8Array, encrypt = true): Uint8Array {
  const name = `aes-${key.length * 8}-ecb`;
  const c = encrypt ? createCipheriv(name, key, null) : createDecipheriv(name, key, null);
  c.setAutoPadding(false);
  return new Uint8Array(c.update(block));
}

/** IEEE 1619 XTS-AES encryption of one data unit; `tweak` is the 16-byte little-endian unit number. */
export function xtsAes(
  key1: Uint8Array,
  key2: Uint8Array,
  tweak: Uint8Array,
  data: Uint8Array,
): Uint8Array {
  let t = ecb(key2, tweak);
  const out = new Uint8Array(data.length);
  for (let j = 0; j < data.length; j += 16) {
    const x = data.slice(j, j + 16).map((b, i) => b ^ t[i]);
    out.set(ecb(key1, x).map((b, i) => b ^ t[i]), j);
    // t * alpha: a 128-bit little-endian shift left, reduced by x^128 + x^7 + x^2 + x + 1.
    const next = new Uint8Array(16);
    for (let i = 0; i < 16; i++) next[i] = ((t[i] << 1) | (i > 0 ? t[i - 1] >> 7 : 0)) & 0xff;
    if (t[15] & 0x80) next[0] ^= 0x87;
    t = next;
  }
  return out;
}

/** espsecure's AES-XTS flash encryption of `plain` at flash address `addr` (16-aligned). */
export function espXts(key: Uint8Array, addr: number, plain: Uint8Array): Uint8Array {
  if (key.length === 16) key = new Uint8Array(createHash("sha256").update(key).digest());
  const half = key.length / 2;
  const padLeft = addr % 0x80;
  const total = Math.ceil((padLeft + plain.length) / 0x80) * 0x80;
  const padded = new Uint8Array(total);
  padded.set(plain, padLeft);
  const out = new Uint8Array(total);
  for (let u = 0; u < total; u += 0x80) {
    const tweak = new Uint8Array(16);
    new DataView(tweak.buffer).setUint32(0, (addr - padLeft + u) >>> 0, true);
    const unit = padded.slice(u, u + 0x80).reverse();
    out.set(xtsAes(key.subarray(0, half), key.subarray(half), tweak, unit).reverse(), u);
  }
  return out.slice(padLeft, padLeft + plain.length);
}

// espsecure's multiply form of the ESP32 key tweak.
const MUL1 = 0x0000200004000080000004000080001000000200004000080000040000800010n;
const MUL2 = 0x0000000000000000200000000000000010000000000000002000000000000001n;
const MUL2_MASK = 0x000000000000007FE00000000000000FF000000000000007E00000000000000Fn;
const RANGES = [
  0xFFFFFFFFFFFFFFFFE00000000000000000000000000000000000000000000000n,
  0x00000000000000001FFFFFFFFFFFFFFFF0000000000000000000000000000000n,
  0x000000000000000000000000000000000FFFFFFFFFFFFFFFE000000000000000n,
  0x0000000000000000000000000000000000000000000000001FFFFFFFFFFFFFFFn,
];

/** espsecure's ESP32 flash encryption of `plain` at `addr` (16-aligned) with FLASH_CRYPT_CONFIG `conf`. */
export function esp32Aes(key: Uint8Array, addr: number, plain: Uint8Array, conf = 0xf): Uint8Array {
  let k = 0n;
  for (const b of key) k = (k << 8n) | BigInt(b);
  const range = RANGES.reduce((r, m, i) => (conf & (1 << i) ? r | m : r), 0n);
  const out = new Uint8Array(plain.length);
  for (let at = 0; at < plain.length; at += 16) {
    const a = BigInt((addr + at) >> 5);
    let tweaked = k ^ (((MUL1 * a) | ((MUL2 * a) & MUL2_MASK)) & range);
    const blockKey = new Uint8Array(32);
    for (let i = 31; i >= 0; i--) {
      blockKey[i] = Number(tweaked & 0xffn);
      tweaked >>= 8n;
    }
    const block = plain.slice(at, at + 16).reverse();
    out.set(ecb(blockKey, block, false).reverse(), at);
  }
  return out;
}

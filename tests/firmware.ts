/**
 * Editing real firmware images in tests: a changed byte inside a segment,
 * with the image's checksum and SHA-256 made right again, as a rebuild
 * would leave them (espdelta refuses corrupted images).
 * @module
 */

import { imageChecksum, parseImage, sha256 } from "../src/image/app.ts";

/** A copy of `image` with byte `at` (inside segment data) XORed with `mask`, still valid. */
export function changeByte(image: Uint8Array, at: number, mask = 0xff): Uint8Array {
  const out = image.slice();
  out[at] ^= mask;
  const parsed = parseImage(out, { verify: false });
  const c = parsed.checksum;
  let sum: number | undefined;
  for (const s of parsed.segments) {
    if (s.inChecksum) sum = imageChecksum(out.subarray(s.dataOffset, s.dataOffset + s.length), sum);
  }
  out[c.offset] = sum ?? 0xef;
  if (parsed.sha256) out.set(sha256(out.subarray(0, c.offset + 1)), c.offset + 1);
  parseImage(out); // throws if the edit is not a valid image
  return out;
}

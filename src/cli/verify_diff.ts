/**
 * `verify-flash --diff`: when a file's MD5 does not match, read the flash and
 * list every differing byte as esptool v5 does (cmds.py `verify_flash`):
 * a count and the first address, then one line per byte, flash value before
 * file value.
 *
 * @example
 * ```ts
 * import { diffLines } from "./verify_diff.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(diffLines(0x1000, new Uint8Array([1, 2, 3]), new Uint8Array([1, 9, 3])), [
 *   "Verification failed: 1 differences, first at 0x00001001:",
 *   "   0x00001001 02 09",
 * ]);
 * ```
 * @module
 */

import { hex } from "../protocol/bytes.ts";

const byte = (b: number) => b.toString(16).padStart(2, "0");

/** esptool's lines for `flash` (read back) against `image` at `offset`. */
export function diffLines(offset: number, flash: Uint8Array, image: Uint8Array): string[] {
  const at: number[] = [];
  for (let i = 0; i < image.length; i++) if (flash[i] !== image[i]) at.push(i);
  if (at.length === 0) return [];
  return [
    `Verification failed: ${at.length} differences, first at ${hex(offset + at[0], 8)}:`,
    ...at.map((i) => `   ${hex(offset + i, 8)} ${byte(flash[i])} ${byte(image[i])}`),
  ];
}

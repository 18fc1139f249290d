/**
 * What a UART does with a baud mismatch: bytes sent at one rate and sampled
 * at another arrive as garbage. The virtual device and the in-memory link
 * both use these two functions, so the rule lives in one place.
 * @module
 */

/**
 * True when a receiver clocked at `a` reads bytes sent at `b` intact. Real
 * UARTs tolerate a few percent of clock error (the stop bit absorbs it); at
 * more than 3 % every byte is corrupted. A rate of 0 (a UART whose divider
 * was set from a zero baud) matches nothing.
 */
export function sameRate(a: number, b: number): boolean {
  if (!(a > 0) || !(b > 0)) return false;
  return Math.abs(a - b) <= 0.03 * Math.max(a, b);
}

/**
 * Deterministic garbage for bytes read at the wrong rate: one byte per byte,
 * never a SLIP delimiter (0xC0) or escape (0xDB), so a mismatch loses frames
 * rather than inventing them.
 *
 * @example
 * ```ts
 * import { garble } from "./uart.ts";
 * garble(new Uint8Array([0xc0, 0x00])); // Uint8Array [ 0x43, 0x03 ]
 * ```
 */
export function garble(bytes: Uint8Array): Uint8Array {
  return bytes.map((b) => (b * 7 + 3) & 0x7f);
}

/**
 * Command timeouts, as esptool computes them: a 3 s floor, and for commands
 * whose work grows with size, seconds per MB (10^6 bytes).
 * @module
 */

/** Default timeout of most commands, and the floor of every scaled one. */
export const DEFAULT_TIMEOUT_MS = 3000;
/** Each SYNC attempt. */
export const SYNC_TIMEOUT_MS = 100;
/** MEM_END sent to a ROM (it may jump before the reply is out). */
export const MEM_END_ROM_TIMEOUT_MS = 200;
/** ERASE_FLASH. */
export const CHIP_ERASE_TIMEOUT_MS = 120_000;
/**
 * How long a session waits for a port whose link died to come back (a
 * serial server restarting, a USB-UART bridge re-enumerating) before it
 * gives up with one line saying a re-run resumes.
 */
export const PORT_RETURN_MS = 3000;
/** Cap of any command. */
export const MAX_TIMEOUT_MS = 240_000;
/** ERASE_REGION and the ROM's up-front erase in FLASH_BEGIN. */
export const ERASE_REGION_S_PER_MB = 40;
/** Writing a (compressed) block. */
export const ERASE_WRITE_S_PER_MB = 40;
/** SPI_FLASH_MD5. */
export const MD5_S_PER_MB = 8;

/**
 * `max(3 s, secondsPerMb × bytes / 10^6)`, capped at 240 s, in milliseconds.
 *
 * @example
 * ```ts
 * import { timeoutForSize } from "./timeouts.ts";
 * import assert from "node:assert";
 * assert.strictEqual(timeoutForSize(40, 1024 * 1024), 41943); // a 1 MiB ROM erase
 * assert.strictEqual(timeoutForSize(8, 1000), 3000); // the floor
 * assert.strictEqual(timeoutForSize(40, 100e6), 240000); // the cap
 * ```
 */
export function timeoutForSize(secondsPerMb: number, bytes: number): number {
  const ms = Math.floor(secondsPerMb * bytes / 1e6 * 1000);
  return Math.min(MAX_TIMEOUT_MS, Math.max(DEFAULT_TIMEOUT_MS, ms));
}

/**
 * Timeout of one compressed block sent to the stub: it may start 64 KiB
 * erases for the data this block carries, so esptool budgets
 * `uncompressed + (ceil(uncompressed / 32 KiB) + 1) × 64 KiB`.
 */
export function stubBlockTimeout(uncompressed: number): number {
  const erase = (Math.ceil(uncompressed / 0x8000) + 1) * 0x10000;
  return timeoutForSize(ERASE_WRITE_S_PER_MB, uncompressed + erase);
}

/**
 * The ESP8266 ROM erases more than it is asked to (it counts the sectors up
 * to the next 64 KiB boundary twice); esptool sends this corrected size so
 * that exactly `size` bytes at `offset` get erased.
 */
export function esp8266EraseSize(offset: number, size: number): number {
  const sector = 0x1000;
  const n = Math.ceil(size / sector);
  const start = Math.floor(offset / sector);
  const head = Math.min(16 - (start % 16), n);
  return n < 2 * head ? Math.floor((n + 1) / 2) * sector : (n - head) * sector;
}

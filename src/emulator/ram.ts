/**
 * What a host has uploaded to a virtual chip's RAM since its last reset or
 * the last program start (MEM_DATA blocks, through the ROM or a running
 * stub), as contiguous
 * segments: a block that overlaps or adjoins a segment is merged into it,
 * later bytes winning, so a retried upload leaves the same image.
 * @module
 */

import type { RamSegment } from "./known_stubs.ts";

/** The uploaded RAM image. */
export class RamImage {
  #segments: { addr: number; data: Uint8Array }[] = [];

  /** Stores `data` at `addr`. */
  write(addr: number, data: Uint8Array): void {
    if (data.length === 0) return;
    let start = addr;
    let end = addr + data.length;
    const touching = this.#segments.filter((s) => s.addr <= end && s.addr + s.data.length >= start);
    for (const s of touching) {
      start = Math.min(start, s.addr);
      end = Math.max(end, s.addr + s.data.length);
    }
    const merged = new Uint8Array(end - start);
    for (const s of touching) merged.set(s.data, s.addr - start);
    merged.set(data, addr - start);
    this.#segments = this.#segments.filter((s) => !touching.includes(s));
    this.#segments.push({ addr: start, data: merged });
    this.#segments.sort((a, b) => a.addr - b.addr);
  }

  /** The segments, by address. */
  segments(): RamSegment[] {
    return this.#segments.map((s) => ({ addr: s.addr, data: s.data }));
  }

  /** Bytes uploaded. */
  get size(): number {
    return this.#segments.reduce((n, s) => n + s.data.length, 0);
  }

  /** Forgets everything (a reset clears RAM). */
  clear(): void {
    this.#segments = [];
  }
}

/**
 * A {@link Port} over a byte stream connection (TCP), with an input buffer
 * filled by a background reader, so `read` can time out without cancelling
 * anything and no byte is ever lost between reads.
 * @module
 */

import type { Port, Signals } from "./port.ts";
import { concat } from "../protocol/bytes.ts";

/** Shared input buffering for stream-based ports. */
export class InputBuffer {
  #chunks: Uint8Array[] = [];
  #waiter: (() => void) | undefined;
  #closed = false;

  /** Appends received bytes and wakes a pending read. */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#chunks.push(bytes);
    this.#wake();
  }

  /** Marks the end of input; pending and later reads resolve empty. */
  end(): void {
    this.#closed = true;
    this.#wake();
  }

  /** True after {@link end}. */
  get ended(): boolean {
    return this.#closed;
  }

  /** Drops buffered input. */
  clear(): void {
    this.#chunks = [];
  }

  /** Waits up to `timeoutMs` for input; returns all buffered bytes or an empty array. */
  async take(timeoutMs: number): Promise<Uint8Array> {
    if (this.#chunks.length === 0 && !this.#closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#waiter = undefined;
          resolve();
        }, timeoutMs);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const parts = this.#chunks;
    this.#chunks = [];
    if (parts.length === 0) return new Uint8Array();
    return parts.length === 1 ? parts[0] : concat(...parts);
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }
}

/** socket://host:port: raw TCP to a serial server or a virtual device. */
export class TcpPort implements Port {
  /** The URL given. */
  readonly path: string;
  /** A raw socket carries no modem lines. */
  readonly hasModemLines = false;
  #baud: number;
  #conn: Deno.TcpConn;
  #input = new InputBuffer();
  #reading: Promise<void>;
  #closed = false;

  /** Wraps an open connection. */
  constructor(path: string, conn: Deno.TcpConn, baud: number) {
    this.path = path;
    this.#conn = conn;
    this.#baud = baud;
    conn.setNoDelay(true);
    this.#reading = this.#pump();
  }

  async #pump(): Promise<void> {
    const buf = new Uint8Array(65536);
    try {
      while (true) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        this.#input.push(buf.slice(0, n));
      }
    } catch {
      // closed
    }
    this.#input.end();
  }

  /** Nominal baud rate (a socket has none; kept for the loader's arithmetic). */
  get baud(): number {
    return this.#baud;
  }

  /** See {@link Port.read}. */
  read(timeoutMs: number): Promise<Uint8Array> {
    return this.#input.take(timeoutMs);
  }

  /** See {@link Port.write}. */
  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) off += await this.#conn.write(data.subarray(off));
  }

  /** TCP writes are handed to the kernel when write resolves. */
  drain(): Promise<void> {
    return Promise.resolve();
  }

  /** See {@link Port.flushInput}. */
  flushInput(): Promise<void> {
    this.#input.clear();
    return Promise.resolve();
  }

  /** Records the rate; the far end of a raw socket decides its own. */
  setBaud(baud: number): Promise<void> {
    this.#baud = baud;
    return Promise.resolve();
  }

  /** No modem lines on a raw socket. */
  setSignals(_signals: Signals): Promise<void> {
    return Promise.resolve();
  }

  /** See {@link Port.close}. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    await this.#reading;
  }
}

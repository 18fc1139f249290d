/**
 * A {@link Port} over a byte stream connection (TCP), with an input buffer
 * filled by a background reader, so `read` can time out without cancelling
 * anything and no byte is ever lost between reads.
 * @module
 */

import type { Port, Signals } from "./port.ts";
import { concat } from "../protocol/bytes.ts";
import { LOSS_REASONS, PortLostError, socketLoss } from "./lost.ts";

/** Shared input buffering for stream-based ports. */
export class InputBuffer {
  #chunks: Uint8Array[] = [];
  #waiter: (() => void) | undefined;
  #closed = false;
  #lost: PortLostError | undefined;

  /** Appends received bytes and wakes a pending read. */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#chunks.push(bytes);
    this.#wake();
  }

  /**
   * Marks the end of input: pending and later reads resolve empty, or, when
   * the link died (`lost`), reject with it once the bytes before are read.
   */
  end(lost?: PortLostError): void {
    this.#closed = true;
    this.#lost = lost;
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

  /**
   * Waits up to `timeoutMs` for input; returns all buffered bytes or an
   * empty array, or rejects with the loss {@link end} was given once nothing
   * is left.
   */
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
    if (parts.length === 0 && this.#lost) throw this.#lost;
    if (parts.length === 0) return new Uint8Array();
    return parts.length === 1 ? parts[0] : concat(...parts);
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }
}

/** How a {@link TcpPort} reaches its server again after the link died. */
export type Dial = () => Promise<Deno.TcpConn>;

/**
 * socket://host:port: raw TCP to a serial server or a virtual device. The
 * server closing or resetting the connection is a {@link PortLostError};
 * {@link reopen} dials it again.
 */
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
  #lost: PortLostError | undefined;
  #dial: Dial | undefined;

  /** Wraps an open connection; `dial` connects again for {@link reopen}. */
  constructor(path: string, conn: Deno.TcpConn, baud: number, dial?: Dial) {
    this.path = path;
    this.#conn = conn;
    this.#baud = baud;
    this.#dial = dial;
    conn.setNoDelay(true);
    this.#reading = this.#pump(conn, this.#input);
  }

  async #pump(conn: Deno.TcpConn, input: InputBuffer): Promise<void> {
    const buf = new Uint8Array(65536);
    let lost: PortLostError | undefined;
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) {
          lost = new PortLostError(this.path, "EOF", LOSS_REASONS.socket);
          break;
        }
        input.push(buf.slice(0, n));
      }
    } catch (e) {
      lost = socketLoss(this.path, e, LOSS_REASONS.socket) ??
        new PortLostError(this.path, "ECONNRESET", LOSS_REASONS.socket);
    }
    // Our own close() ends the input quietly; anything else is the link dying.
    if (this.#closed || conn !== this.#conn) return input.end();
    this.#lost ??= lost;
    input.end(this.#lost);
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
    if (this.#lost) throw this.#lost;
    let off = 0;
    try {
      while (off < data.length) off += await this.#conn.write(data.subarray(off));
    } catch (e) {
      const lost = this.#closed ? undefined : socketLoss(this.path, e, LOSS_REASONS.socket);
      if (!lost) throw e;
      this.#lost ??= lost;
      throw this.#lost;
    }
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

  /** Connects to the server again (a new connection, empty input). */
  async reopen(): Promise<void> {
    if (!this.#dial) throw this.#lost ?? new PortLostError(this.path, "EOF", LOSS_REASONS.socket);
    const conn = await this.#dial();
    const old = this.#conn;
    try {
      old.close();
    } catch { /* already closed */ }
    await this.#reading;
    conn.setNoDelay(true);
    this.#conn = conn;
    this.#input = new InputBuffer();
    this.#lost = undefined;
    this.#closed = false;
    this.#reading = this.#pump(conn, this.#input);
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

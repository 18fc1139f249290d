/**
 * `rfc2217://host:port[?ign_set_control]`: a serial port on another host
 * through a Telnet COM-PORT-OPTION server (RFC 2217, e.g. ser2net).
 *
 * Data bytes 0xFF travel doubled in both directions; the parser keeps its
 * state across reads, so commands split between TCP segments are fine.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";
import type { Port, Signals } from "./port.ts";
import { type Dial, InputBuffer } from "./stream_port.ts";
import { dialTcp, parseHostUrl } from "./tcp.ts";
import { LOSS_REASONS, PortLostError, socketLoss } from "./lost.ts";
import {
  BINARY,
  COM_PORT,
  DO,
  DONT,
  escapeIac,
  IAC,
  SB,
  SE,
  SGA,
  TelnetParser,
  WILL,
  WONT,
} from "./telnet.ts";

/** COM-PORT-OPTION client commands; the server answers with command + 100. */
export const ComPort = {
  SET_BAUDRATE: 1,
  SET_DATASIZE: 2,
  SET_PARITY: 3,
  SET_STOPSIZE: 4,
  SET_CONTROL: 5,
  PURGE_DATA: 12,
} as const;

/** SET-CONTROL values. */
const CONTROL = { DTR_ON: 8, DTR_OFF: 9, RTS_ON: 11, RTS_OFF: 12, NO_FLOW: 1 } as const;

/**
 * An RFC 2217 port. The server closing or resetting the session (ser2net
 * stopped or restarted, kicked by another user) is a {@link PortLostError};
 * {@link reopen} connects again and negotiates afresh.
 */
export class Rfc2217Port implements Port {
  /** The URL given. */
  readonly path: string;
  /** False with `?ign_set_control`. */
  readonly hasModemLines: boolean;
  #conn: Deno.TcpConn;
  #input = new InputBuffer();
  #parser = new TelnetParser();
  #baud: number;
  #acks = new Map<number, () => void>();
  #serverDoesComPort!: Promise<void>;
  #comPortResolve!: () => void;
  #reading: Promise<void>;
  #closed = false;
  #lost: PortLostError | undefined;
  #dial: Dial | undefined;

  /** Wraps a connection; call {@link init} before use. `dial` connects again for {@link reopen}. */
  constructor(
    path: string,
    conn: Deno.TcpConn,
    baud: number,
    ignoreControl: boolean,
    dial?: Dial,
  ) {
    this.path = path;
    this.#conn = conn;
    this.#baud = baud;
    this.#dial = dial;
    this.hasModemLines = !ignoreControl;
    this.#reading = this.#attach(conn);
  }

  /** Starts reading `conn` with fresh negotiation state. */
  #attach(conn: Deno.TcpConn): Promise<void> {
    conn.setNoDelay(true);
    this.#input = new InputBuffer();
    this.#parser = new TelnetParser();
    this.#acks = new Map();
    this.#serverDoesComPort = new Promise((r) => this.#comPortResolve = r);
    return this.#pump(conn, this.#input);
  }

  async #pump(conn: Deno.TcpConn, input: InputBuffer): Promise<void> {
    const buf = new Uint8Array(65536);
    let lost: PortLostError | undefined;
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) {
          lost = new PortLostError(this.path, "EOF", LOSS_REASONS.rfc2217);
          break;
        }
        this.#parser.push(buf.subarray(0, n), {
          data: (d) => input.push(d.slice()),
          option: (verb, opt) => this.#negotiate(verb, opt),
          sub: (p) => {
            if (p[0] === COM_PORT && p.length >= 2) this.#acks.get(p[1])?.();
          },
        });
      }
    } catch (e) {
      lost = socketLoss(this.path, e, LOSS_REASONS.rfc2217) ??
        new PortLostError(this.path, "ECONNRESET", LOSS_REASONS.rfc2217);
    }
    // Our own close() ends the input quietly; anything else is the link dying.
    if (this.#closed || conn !== this.#conn) return input.end();
    this.#lost ??= lost;
    input.end(this.#lost);
  }

  #raw(bytes: number[]): Promise<void> {
    return this.#conn.write(new Uint8Array(bytes)).then(() => {}, () => {});
  }

  #negotiate(verb: number, opt: number): void {
    const known = opt === BINARY || opt === SGA || opt === COM_PORT;
    if (verb === DO) {
      if (opt === COM_PORT) this.#comPortResolve();
      if (!known) void this.#raw([IAC, WONT, opt]);
    } else if (verb === WILL) {
      if (!known) void this.#raw([IAC, DONT, opt]);
    }
  }

  /**
   * Sends a COM-PORT command. Settings wait (up to 1 s) for the server's
   * answer, so data sent next goes out at the new rate; control-line and
   * purge commands do not wait (servers that cannot drive the lines, such as
   * ser2net on a pty, never answer them).
   */
  async #comPort(cmd: number, value: number[], wait = true): Promise<boolean> {
    if (this.#lost) throw this.#lost;
    if (!wait) {
      const payload = Array.from(escapeIac(new Uint8Array(value)));
      await this.#raw([IAC, SB, COM_PORT, cmd, ...payload, IAC, SE]);
      return true;
    }
    const acked = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#acks.delete(cmd + 100);
        resolve(false);
      }, 1000);
      this.#acks.set(cmd + 100, () => {
        clearTimeout(timer);
        this.#acks.delete(cmd + 100);
        resolve(true);
      });
    });
    const payload = Array.from(escapeIac(new Uint8Array(value)));
    await this.#raw([IAC, SB, COM_PORT, cmd, ...payload, IAC, SE]);
    return await acked;
  }

  /** Negotiates options and sets 8N1 at the baud rate. */
  async init(): Promise<void> {
    await this.#raw([
      IAC,
      WILL,
      BINARY,
      IAC,
      DO,
      BINARY,
      IAC,
      WILL,
      SGA,
      IAC,
      DO,
      SGA,
      IAC,
      WILL,
      COM_PORT,
    ]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), 3000));
    const answer = await Promise.race([this.#serverDoesComPort, timeout]);
    clearTimeout(timer);
    if (answer === "timeout") {
      throw new EspdeltaError(
        "PORT_IO",
        `${this.path}: the server did not accept the RFC 2217 COM-PORT option; is it a telnet(rfc2217) port?`,
      );
    }
    await this.setBaud(this.#baud);
    await this.#comPort(ComPort.SET_DATASIZE, [8]);
    await this.#comPort(ComPort.SET_PARITY, [1]);
    await this.#comPort(ComPort.SET_STOPSIZE, [1]);
    if (this.hasModemLines) await this.#comPort(ComPort.SET_CONTROL, [CONTROL.NO_FLOW], false);
  }

  /** Connects to the server again and negotiates afresh, at the current baud rate. */
  async reopen(): Promise<void> {
    if (!this.#dial) throw this.#lost ?? new PortLostError(this.path, "EOF", LOSS_REASONS.rfc2217);
    const conn = await this.#dial();
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    await this.#reading;
    this.#conn = conn;
    this.#lost = undefined;
    this.#closed = false;
    this.#reading = this.#attach(conn);
    try {
      await this.init();
    } catch (e) {
      try {
        conn.close();
      } catch { /* already closed */ }
      throw e;
    }
  }

  /** Current baud rate. */
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
    const bytes = escapeIac(data);
    let off = 0;
    try {
      while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
    } catch (e) {
      const lost = this.#closed ? undefined : socketLoss(this.path, e, LOSS_REASONS.rfc2217);
      if (!lost) throw e;
      this.#lost ??= lost;
      throw this.#lost;
    }
  }

  /** Nothing is buffered on this side once written. */
  drain(): Promise<void> {
    return Promise.resolve();
  }

  /** Drops local input and asks the server to purge its receive buffer. */
  async flushInput(): Promise<void> {
    await this.#comPort(ComPort.PURGE_DATA, [1], false);
    this.#input.clear();
  }

  /** SET-BAUDRATE (32-bit big-endian). */
  async setBaud(baud: number): Promise<void> {
    await this.#comPort(ComPort.SET_BAUDRATE, [
      (baud >>> 24) & 0xff,
      (baud >>> 16) & 0xff,
      (baud >>> 8) & 0xff,
      baud & 0xff,
    ]);
    this.#baud = baud;
  }

  /** SET-CONTROL for DTR and RTS (skipped with ign_set_control). */
  async setSignals(signals: Signals): Promise<void> {
    if (!this.hasModemLines) return;
    if (signals.dtr !== undefined) {
      await this.#comPort(
        ComPort.SET_CONTROL,
        [signals.dtr ? CONTROL.DTR_ON : CONTROL.DTR_OFF],
        false,
      );
    }
    if (signals.rts !== undefined) {
      await this.#comPort(
        ComPort.SET_CONTROL,
        [signals.rts ? CONTROL.RTS_ON : CONTROL.RTS_OFF],
        false,
      );
    }
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

/** Opens an RFC 2217 port. */
export async function openRfc2217(url: string, options: { baud?: number } = {}): Promise<Port> {
  const { query } = parseHostUrl(url);
  const conn = await dialTcp(url);
  const ignore = /ign_set_control/.test(query);
  const p = new Rfc2217Port(url, conn, options.baud ?? 115200, ignore, () => dialTcp(url));
  try {
    await p.init();
  } catch (e) {
    await p.close();
    throw e;
  }
  return p;
}

/**
 * The virtual board behind an RFC 2217 (Telnet COM-PORT-OPTION) server, the
 * way a board sits behind ser2net: any RFC 2217 client (esptool's
 * `rfc2217://`, pyserial, espdelta) opens it, sets the baud rate and drives
 * DTR and RTS, which reach the board's auto-reset circuit (or the chip's
 * USB-Serial/JTAG peripheral when the device serves that port). Opening and
 * closing the connection never resets the chip: a client that reopens the
 * port sees the running app's output, as on a desk. Closing drops DTR and
 * RTS together, as a serial driver does, which resets nothing unless the
 * client left EN held low.
 *
 * Implemented from RFC 854/855 (Telnet), RFC 856 (BINARY), RFC 858 (SUPPRESS
 * GO AHEAD) and RFC 2217: option negotiation (WILL/DO answered once, unknown
 * options refused), IAC doubling in both directions, and the COM-PORT-OPTION
 * commands SIGNATURE, SET-BAUDRATE, SET-DATASIZE, SET-PARITY, SET-STOPSIZE,
 * SET-CONTROL (flow control, BREAK, DTR, RTS; set and query),
 * NOTIFY-LINESTATE, NOTIFY-MODEMSTATE, FLOWCONTROL-SUSPEND/RESUME,
 * SET-LINESTATE-MASK, SET-MODEMSTATE-MASK and PURGE-DATA, each answered with
 * its server code (+100) and the value in force. The board has no modem
 * status inputs wired, so no modem state changes are ever notified.
 *
 * The baud rate is the USB bridge's: bytes cross at it, and a mismatch with
 * the chip's UART garbles them as on a real link (the ROM autobauds on SYNC).
 * A USB-Serial/JTAG port has no baud rate: bytes always pass.
 *
 * One client at a time; a new connection takes the port from the old one
 * (as ser2net's `kickolduser`).
 * @module
 */

import type { VirtualDevice } from "./device.ts";
import { garble, sameRate } from "./uart.ts";
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
} from "../serial/telnet.ts";

const SUPPORTED = new Set([BINARY, SGA, COM_PORT]);

/** RFC 2217 client-to-server command codes; the server answers with code + 100. */
export const Rfc2217Command = {
  SIGNATURE: 0,
  SET_BAUDRATE: 1,
  SET_DATASIZE: 2,
  SET_PARITY: 3,
  SET_STOPSIZE: 4,
  SET_CONTROL: 5,
  NOTIFY_LINESTATE: 6,
  NOTIFY_MODEMSTATE: 7,
  FLOWCONTROL_SUSPEND: 8,
  FLOWCONTROL_RESUME: 9,
  SET_LINESTATE_MASK: 10,
  SET_MODEMSTATE_MASK: 11,
  PURGE_DATA: 12,
} as const;

/** The serial settings a client set, as the server reports them. */
export interface SerialSettings {
  /** Baud rate. */
  baud: number;
  /** Data bits (5-8). */
  dataSize: number;
  /** RFC 2217 parity code: 1 none, 2 odd, 3 even, 4 mark, 5 space. */
  parity: number;
  /** RFC 2217 stop size code: 1 one, 2 two, 3 one and a half. */
  stopSize: number;
  /** RFC 2217 flow control code: 1 none, 2 XON/XOFF, 3 hardware. */
  flow: number;
  /** BREAK asserted. */
  breakOn: boolean;
  /** DTR asserted. */
  dtr: boolean;
  /** RTS asserted. */
  rts: boolean;
}

/** A running server. */
export interface Rfc2217Server {
  /** Bound address. */
  hostname: string;
  /** Bound port (useful when 0 was asked). */
  port: number;
  /** The port's current settings (they outlive connections, as a serial port's do). */
  readonly settings: Readonly<SerialSettings>;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Stops listening, drops the client and stops the device's timers. */
  close(): Promise<void>;
}

/** One client's Telnet stream: data, negotiation and subnegotiation. */
class TelnetSession {
  readonly #parser = new TelnetParser();
  /** Options enabled on our side (we WILL) and on the client's (it WILLs). */
  readonly #us = new Set<number>();
  readonly #him = new Set<number>();

  constructor(
    private readonly on: {
      data(bytes: Uint8Array): void;
      send(bytes: number[]): void;
      sub(payload: Uint8Array): void;
    },
  ) {}

  push(bytes: Uint8Array): void {
    this.#parser.push(bytes, {
      data: this.on.data,
      option: (verb, opt) => this.#negotiate(verb, opt),
      sub: this.on.sub,
    });
  }

  /** Answers a request once; an answer to our own state is not answered again (RFC 854). */
  #negotiate(verb: number, opt: number): void {
    const ok = SUPPORTED.has(opt);
    if (verb === WILL) {
      if (!ok) return this.on.send([IAC, DONT, opt]);
      if (!this.#him.has(opt)) {
        this.#him.add(opt);
        this.on.send([IAC, DO, opt]);
      }
    } else if (verb === DO) {
      if (!ok) return this.on.send([IAC, WONT, opt]);
      if (!this.#us.has(opt)) {
        this.#us.add(opt);
        this.on.send([IAC, WILL, opt]);
      }
    } else if (verb === WONT) {
      if (this.#him.delete(opt)) this.on.send([IAC, DONT, opt]);
    } else if (verb === DONT) {
      if (this.#us.delete(opt)) this.on.send([IAC, WONT, opt]);
    }
  }
}

/**
 * Serves `device` over RFC 2217 on `hostname:port` (port 0 picks a free
 * one) until close().
 *
 * @example
 * ```ts
 * import { VirtualDevice } from "./device.ts";
 * import { serveRfc2217 } from "./rfc2217_server.ts";
 * const device = new VirtualDevice({ chip: "esp32", bootMode: "flash" });
 * const server = await serveRfc2217(device, { hostname: "127.0.0.1", port: 0 });
 * // espdelta -p rfc2217://127.0.0.1:<server.port> chip-id
 * await server.close();
 * ```
 */
export function serveRfc2217(
  device: VirtualDevice,
  options: { hostname: string; port: number; signature?: string },
): Promise<Rfc2217Server> {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const signature = options.signature ?? `espdelta virtual ${device.chip.displayName}`;
  const settings: SerialSettings = {
    baud: 115200,
    dataSize: 8,
    parity: 1,
    stopSize: 1,
    flow: 1,
    breakOn: false,
    dtr: false,
    rts: false,
  };
  let connections = 0;
  let client: Deno.Conn | undefined;
  let closed = false;
  const tasks = new Set<Promise<void>>();
  const usb = device.usbSerialJtag;

  const serve = async (conn: Deno.Conn) => {
    connections++;
    client = conn;
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch { /* not a TCP connection */ }
    let writing = Promise.resolve();
    const send = (bytes: Uint8Array) => {
      if (client !== conn) return;
      writing = writing.then(async () => {
        let off = 0;
        while (off < bytes.length) off += await conn.write(bytes.subarray(off));
      }).catch(() => {});
    };
    const reply = (cmd: number, value: number[]) => {
      const payload: number[] = [];
      for (const b of value) payload.push(...(b === IAC ? [IAC, IAC] : [b]));
      send(new Uint8Array([IAC, SB, COM_PORT, cmd + 100, ...payload, IAC, SE]));
    };
    const lines = (dtr: boolean, rts: boolean) => {
      settings.dtr = dtr;
      settings.rts = rts;
      device.setLines({ dtr, rts });
    };
    const control = (value: number) => {
      switch (value) {
        case 0:
          return reply(5, [settings.flow]);
        case 1:
        case 2:
        case 3:
          settings.flow = value;
          return reply(5, [value]);
        case 4:
          return reply(5, [settings.breakOn ? 5 : 6]);
        case 5:
        case 6:
          settings.breakOn = value === 5;
          return reply(5, [value]);
        case 7:
          return reply(5, [settings.dtr ? 8 : 9]);
        case 8:
        case 9:
          lines(value === 8, settings.rts);
          return reply(5, [value]);
        case 10:
          return reply(5, [settings.rts ? 11 : 12]);
        case 11:
        case 12:
          lines(settings.dtr, value === 11);
          return reply(5, [value]);
        case 13:
          return reply(5, [14]); // inbound flow control: none
        default:
          return reply(5, [value]); // inbound flow settings (14-19): taken as asked
      }
    };
    const sub = (p: Uint8Array) => {
      if (p[0] !== COM_PORT || p.length < 2) return;
      const cmd = p[1];
      const v = p.slice(2);
      switch (cmd) {
        case Rfc2217Command.SIGNATURE:
          return reply(cmd, [...new TextEncoder().encode(signature)]);
        case Rfc2217Command.SET_BAUDRATE: {
          if (v.length >= 4) {
            const baud = ((v[0] << 24) | (v[1] << 16) | (v[2] << 8) | v[3]) >>> 0;
            if (baud > 0) settings.baud = baud;
          }
          const b = settings.baud;
          return reply(cmd, [(b >>> 24) & 0xff, (b >>> 16) & 0xff, (b >>> 8) & 0xff, b & 0xff]);
        }
        case Rfc2217Command.SET_DATASIZE:
          if (v[0] >= 5 && v[0] <= 8) settings.dataSize = v[0];
          return reply(cmd, [settings.dataSize]);
        case Rfc2217Command.SET_PARITY:
          if (v[0] >= 1 && v[0] <= 5) settings.parity = v[0];
          return reply(cmd, [settings.parity]);
        case Rfc2217Command.SET_STOPSIZE:
          if (v[0] >= 1 && v[0] <= 3) settings.stopSize = v[0];
          return reply(cmd, [settings.stopSize]);
        case Rfc2217Command.SET_CONTROL:
          return control(v[0] ?? 0);
        case Rfc2217Command.FLOWCONTROL_SUSPEND:
        case Rfc2217Command.FLOWCONTROL_RESUME:
          return reply(cmd, []);
        case Rfc2217Command.NOTIFY_LINESTATE:
        case Rfc2217Command.NOTIFY_MODEMSTATE:
        case Rfc2217Command.SET_LINESTATE_MASK:
        case Rfc2217Command.SET_MODEMSTATE_MASK:
        case Rfc2217Command.PURGE_DATA:
          return reply(cmd, [v[0] ?? 0]);
      }
    };
    const session = new TelnetSession({
      data: (bytes) => {
        // 8N1 at the bridge's rate; another data size or a parity bit garbles like a rate mismatch.
        const framed = settings.dataSize === 8 && settings.parity === 1;
        device.receive(framed ? bytes : garble(bytes), usb ? undefined : settings.baud);
      },
      send: (bytes) => send(new Uint8Array(bytes)),
      sub,
    });
    device.onTransmit((bytes, baud) => {
      const data = usb || sameRate(settings.baud, baud) ? bytes.slice() : garble(bytes);
      send(escapeIac(data));
    });
    const buf = new Uint8Array(65536);
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null || client !== conn) break;
        session.push(buf.subarray(0, n));
      }
    } catch {
      // Connection reset, or closed by close() or by a newer client.
    } finally {
      await writing;
      if (client === conn) {
        client = undefined;
        device.onTransmit(() => {});
        // The port is closed: the driver drops DTR and RTS together.
        lines(false, false);
      }
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  };

  const accept = (async () => {
    try {
      for await (const conn of listener) {
        if (closed) {
          conn.close();
          break;
        }
        const old = client;
        client = undefined;
        try {
          old?.close();
        } catch { /* already closed */ }
        const t = serve(conn);
        tasks.add(t);
        t.finally(() => tasks.delete(t));
      }
    } catch {
      // listener closed
    }
  })();

  const addr = listener.addr as Deno.NetAddr;
  return Promise.resolve({
    hostname: addr.hostname,
    port: addr.port,
    settings,
    get connections() {
      return connections;
    },
    close: async () => {
      closed = true;
      listener.close();
      const c = client;
      client = undefined;
      try {
        c?.close();
      } catch { /* already closed */ }
      await accept;
      await Promise.all([...tasks]);
      device.onTransmit(() => {});
      device.dispose();
    },
  });
}

/**
 * A Web Serial `SerialPort` look-alike over TCP, for the benchmark's peer
 * part: esptool-js's Transport drives a board through such a port, and
 * this one carries its bytes to a served virtual device (socket://). The
 * connection opens once and stays: a new TCP connection power-cycles the
 * virtual board, as opening a USB port resets a board with auto-reset.
 * @module
 */

/** Minimal Web Serial port over one TCP connection. */
export class TcpSerialPort {
  /** The port's input, once open. */
  readable: ReadableStream<Uint8Array> | null = null;
  /** The port's output, once open. */
  writable: WritableStream<Uint8Array> | null = null;
  #conn: Deno.TcpConn | undefined;
  readonly #host: string;
  readonly #port: number;

  /** A port to `host:port`, not yet open. */
  constructor(host: string, port: number) {
    this.#host = host;
    this.#port = port;
  }

  /** Connects (once) and makes the streams; the baud rate means nothing on a socket. */
  async open(_options: { baudRate: number }): Promise<void> {
    this.#conn ??= await Deno.connect({ hostname: this.#host, port: this.#port });
    const conn = this.#conn;
    this.readable = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const buf = new Uint8Array(65536);
        try {
          const n = await conn.read(buf);
          if (n === null) controller.close();
          else controller.enqueue(buf.slice(0, n));
        } catch {
          controller.close();
        }
      },
    });
    this.writable = new WritableStream<Uint8Array>({
      async write(chunk) {
        for (let off = 0; off < chunk.length;) off += await conn.write(chunk.subarray(off));
      },
    });
  }

  /** A baud change in place (the device follows CHANGE_BAUDRATE; the socket has no rate). */
  setBaudRate(_baud: number): Promise<void> {
    return Promise.resolve();
  }

  /** A socket has no modem lines. */
  setSignals(_s: { dataTerminalReady?: boolean; requestToSend?: boolean }): Promise<void> {
    return Promise.resolve();
  }

  /** No USB ids on a socket. */
  getInfo(): { usbVendorId?: number; usbProductId?: number } {
    return {};
  }

  /** Keeps the connection (a reopen would power-cycle the board); drops the streams. */
  close(): Promise<void> {
    this.readable = null;
    this.writable = null;
    return Promise.resolve();
  }

  /** Closes the connection. */
  shutdown(): void {
    try {
      this.#conn?.close();
    } catch { /* closed */ }
  }
}

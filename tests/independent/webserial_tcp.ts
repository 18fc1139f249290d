/**
 * A Web Serial `SerialPort` look-alike over a TCP connection, so esptool-js
 * (an independent flasher written for browsers) can drive the virtual device
 * through `socket://`-style TCP, exactly as it would drive a board.
 * @module
 */

/** Minimal Web Serial SerialPort over TCP. */
export class TcpSerialPort {
  readable: ReadableStream<Uint8Array> | null = null;
  writable: WritableStream<Uint8Array> | null = null;
  #conn: Deno.TcpConn | undefined;
  readonly #host: string;
  readonly #port: number;
  /** Every baud rate esptool-js asked for. */
  readonly bauds: number[] = [];

  constructor(host: string, port: number) {
    this.#host = host;
    this.#port = port;
  }

  async open(options: { baudRate: number }): Promise<void> {
    this.bauds.push(options.baudRate);
    if (!this.#conn) this.#conn = await Deno.connect({ hostname: this.#host, port: this.#port });
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
        let off = 0;
        while (off < chunk.length) off += await conn.write(chunk.subarray(off));
      },
    });
  }

  /** In-place baud change (esptool-js prefers it to a reopen). */
  setBaudRate(baud: number): Promise<void> {
    this.bauds.push(baud);
    return Promise.resolve();
  }

  setSignals(_s: { dataTerminalReady?: boolean; requestToSend?: boolean }): Promise<void> {
    return Promise.resolve(); // a socket has no modem lines
  }

  getInfo(): { usbVendorId?: number; usbProductId?: number } {
    return {};
  }

  /** Keeps the TCP connection: a reopen on a socket would power-cycle the virtual board. */
  close(): Promise<void> {
    this.readable = null;
    this.writable = null;
    return Promise.resolve();
  }

  /** Really closes the connection. */
  shutdown(): void {
    try {
      this.#conn?.close();
    } catch { /* closed */ }
  }
}

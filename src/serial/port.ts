/**
 * The one interface every byte transport implements: a local serial port
 * through libc, a TCP socket, an RFC 2217 server, or the in-memory link to a
 * virtual device.
 * @module
 */

/** Modem control lines, true = asserted (pin low), as pyserial spells them. */
export interface Signals {
  /** Data Terminal Ready; on ESP boards it drives the boot strap pin. */
  dtr?: boolean;
  /** Request To Send; on ESP boards it drives EN (reset). */
  rts?: boolean;
}

/** A byte stream to a device. */
export interface Port {
  /** What the user named: `/dev/ttyUSB0`, `socket://host:port`, `memory:esp32`. */
  readonly path: string;
  /** Current baud rate of the host side. */
  readonly baud: number;
  /** False when the transport cannot drive DTR/RTS (a pty, a raw socket). */
  readonly hasModemLines: boolean;
  /**
   * Waits up to `timeoutMs` for input and resolves with what has arrived,
   * or with an empty array on timeout (and after close()). Rejects with a
   * PortLostError (lost.ts) once the link has died and what arrived before
   * has been read.
   */
  read(timeoutMs: number): Promise<Uint8Array>;
  /** Queues bytes for sending; rejects with a PortLostError when the link has died. */
  write(data: Uint8Array): Promise<void>;
  /** Resolves when all written bytes have left the host. */
  drain(): Promise<void>;
  /** Discards input received but not yet read. */
  flushInput(): Promise<void>;
  /** Changes the host-side baud rate. */
  setBaud(baud: number): Promise<void>;
  /** Sets DTR and/or RTS; does nothing when {@link hasModemLines} is false. */
  setSignals(signals: Signals): Promise<void>;
  /** Releases the port; a pending read resolves empty. Safe to call twice. */
  close(): Promise<void>;
  /**
   * Opens the link again after a PortLostError, as the same port (path,
   * baud rate): connects to the server again, or opens the device node
   * again once it is back. Rejects while it cannot (yet); the caller decides
   * how long to keep trying. Absent where a link cannot come back.
   */
  reopen?(): Promise<void>;
}

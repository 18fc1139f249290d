/**
 * Windows serial ports through kernel32. Written from the Windows SDK
 * headers (winbase.h: DCB, COMMTIMEOUTS, EscapeCommFunction codes); it
 * cannot run on the Linux CI machines, so it is typed, small and reviewed,
 * not tested here.
 *
 * Reads wait in ReadFile on another thread with a 50 ms total timeout
 * (COMMTIMEOUTS), so, as on POSIX, close() never leaves a read pending
 * for long and the process can always exit.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";
import type { Port, Signals } from "./port.ts";

const SYMBOLS = {
  CreateFileW: {
    parameters: ["buffer", "u32", "u32", "pointer", "u32", "u32", "pointer"],
    result: "pointer",
  },
  CloseHandle: { parameters: ["pointer"], result: "i32" },
  ReadFile: {
    parameters: ["pointer", "buffer", "u32", "buffer", "pointer"],
    result: "i32",
    nonblocking: true,
  },
  WriteFile: { parameters: ["pointer", "buffer", "u32", "buffer", "pointer"], result: "i32" },
  GetCommState: { parameters: ["pointer", "buffer"], result: "i32" },
  SetCommState: { parameters: ["pointer", "buffer"], result: "i32" },
  SetCommTimeouts: { parameters: ["pointer", "buffer"], result: "i32" },
  EscapeCommFunction: { parameters: ["pointer", "u32"], result: "i32" },
  PurgeComm: { parameters: ["pointer", "u32"], result: "i32" },
  FlushFileBuffers: { parameters: ["pointer"], result: "i32" },
  GetLastError: { parameters: [], result: "u32" },
} as const;

const GENERIC_READ_WRITE = 0xc0000000;
const OPEN_EXISTING = 3;
const ERROR_FILE_NOT_FOUND = 2;
const ERROR_ACCESS_DENIED = 5; // also what an open held by another program gives
const SETRTS = 3;
const CLRRTS = 4;
const SETDTR = 5;
const CLRDTR = 6;
const PURGE_RXCLEAR = 0x8;
const DCB_SIZE = 28;
const SLICE_MS = 50;

type Kernel32 = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** A Windows COM port. */
class WindowsPort implements Port {
  readonly path: string;
  readonly hasModemLines = true;
  #k: Kernel32;
  #h: Deno.PointerValue;
  #baud: number;
  #closing = false;
  #pending: Promise<unknown> | undefined;
  #dtr = false;

  constructor(k: Kernel32, handle: Deno.PointerValue, path: string, baud: number) {
    this.#k = k;
    this.#h = handle;
    this.path = path;
    this.#baud = baud;
  }

  get baud(): number {
    return this.#baud;
  }

  async read(timeoutMs: number): Promise<Uint8Array> {
    const buf = new Uint8Array(65536);
    const got = new Uint32Array(1);
    const until = performance.now() + timeoutMs;
    while (!this.#closing) {
      const p = this.#k.ReadFile(this.#h, buf, buf.length, new Uint8Array(got.buffer), null);
      this.#pending = p;
      const ok = await p;
      this.#pending = undefined;
      if (!ok) {
        throw new EspdeltaError("PORT_IO", `${this.path}: read failed (${this.#k.GetLastError()})`);
      }
      if (got[0] > 0) return buf.slice(0, got[0]);
      if (performance.now() >= until) break;
    }
    return new Uint8Array();
  }

  write(data: Uint8Array): Promise<void> {
    const copy = new Uint8Array(data);
    const done = new Uint32Array(1);
    let off = 0;
    while (off < copy.length) {
      if (
        !this.#k.WriteFile(
          this.#h,
          copy.subarray(off),
          copy.length - off,
          new Uint8Array(done.buffer),
          null,
        )
      ) {
        return Promise.reject(
          new EspdeltaError("PORT_IO", `${this.path}: write failed (${this.#k.GetLastError()})`),
        );
      }
      off += done[0];
    }
    return Promise.resolve();
  }

  drain(): Promise<void> {
    this.#k.FlushFileBuffers(this.#h);
    return Promise.resolve();
  }

  flushInput(): Promise<void> {
    this.#k.PurgeComm(this.#h, PURGE_RXCLEAR);
    return Promise.resolve();
  }

  setBaud(baud: number): Promise<void> {
    configure(this.#k, this.#h, this.path, baud);
    this.#baud = baud;
    return Promise.resolve();
  }

  setSignals(signals: Signals): Promise<void> {
    if (signals.dtr !== undefined) {
      this.#dtr = signals.dtr;
      this.#k.EscapeCommFunction(this.#h, signals.dtr ? SETDTR : CLRDTR);
    }
    if (signals.rts !== undefined) {
      this.#k.EscapeCommFunction(this.#h, signals.rts ? SETRTS : CLRRTS);
      // usbser.sys sends the control-line request only on DTR changes:
      // write DTR again so the new RTS reaches the device (esptool does this).
      this.#k.EscapeCommFunction(this.#h, this.#dtr ? SETDTR : CLRDTR);
    }
    return Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    while (this.#pending) await this.#pending.catch(() => {});
    this.#k.CloseHandle(this.#h);
  }
}

/** 8N1 at `baud`, no flow control, DTR/RTS released; reads time out after 50 ms. */
function configure(k: Kernel32, h: Deno.PointerValue, path: string, baud: number): void {
  const dcb = new Uint8Array(DCB_SIZE);
  const v = new DataView(dcb.buffer);
  v.setUint32(0, DCB_SIZE, true);
  if (!k.GetCommState(h, dcb)) {
    throw new EspdeltaError("PORT_IO", `${path}: GetCommState failed (${k.GetLastError()})`);
  }
  v.setUint32(4, baud, true);
  // fBinary = 1; no parity check, CTS/DSR flow, XON/XOFF; DTR and RTS control disabled.
  v.setUint32(8, 0x1, true);
  dcb[18] = 8; // ByteSize
  dcb[19] = 0; // NOPARITY
  dcb[20] = 0; // ONESTOPBIT
  if (!k.SetCommState(h, dcb)) {
    throw new EspdeltaError("PORT_IO", `${path}: cannot set ${baud} baud (${k.GetLastError()})`);
  }
  // ReadFile returns at once with what is there, or after SLICE_MS with nothing.
  const t = new Uint32Array([0xffffffff, 0xffffffff, SLICE_MS, 0, 10_000]);
  k.SetCommTimeouts(h, new Uint8Array(t.buffer));
}

/** Opens COMn (any n: the \\.\ form is used). */
export function openWindows(path: string, options: { baud: number }): Promise<Port> {
  const k = Deno.dlopen("kernel32.dll", SYMBOLS).symbols;
  const full = path.startsWith("\\\\.\\") ? path : `\\\\.\\${path}`;
  const name = new Uint16Array([...full].map((c) => c.charCodeAt(0)).concat(0));
  const h = k.CreateFileW(
    new Uint8Array(name.buffer),
    GENERIC_READ_WRITE,
    0,
    null,
    OPEN_EXISTING,
    0,
    null,
  );
  // INVALID_HANDLE_VALUE is (HANDLE)-1.
  if (h === null || Deno.UnsafePointer.value(h) === 0xffffffffffffffffn) {
    const e = k.GetLastError();
    if (e === ERROR_FILE_NOT_FOUND) {
      return Promise.reject(
        new EspdeltaError(
          "PORT_NOT_FOUND",
          `serial port ${path} does not exist; check the cable or run 'espdelta ports'`,
        ),
      );
    }
    if (e === ERROR_ACCESS_DENIED) {
      return Promise.reject(
        new EspdeltaError(
          "PORT_BUSY",
          `serial port ${path} is busy or access is denied; close other programs using it`,
        ),
      );
    }
    return Promise.reject(new EspdeltaError("PORT_IO", `cannot open ${path} (error ${e})`));
  }
  try {
    configure(k, h, path, options.baud);
  } catch (e) {
    k.CloseHandle(h);
    return Promise.reject(e);
  }
  const port = new WindowsPort(k, h, path, options.baud);
  // esptool releases both lines right after opening.
  return port.setSignals({ dtr: false, rts: false }).then(() => port);
}

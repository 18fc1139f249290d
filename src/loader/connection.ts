/**
 * The connection to one device: SLIP frames in and out, one command round
 * trip (send, skip stale frames, check the status), retries of commands that
 * are safe to repeat, and resynchronising after a lost, stalled or garbled
 * reply. It knows nothing of chips or stubs: when the device comes back as
 * something else than it was, or not at all, the reconnect hook it was
 * handed (connect.ts) decides what to do.
 * @module
 */

import { type Clock, realClock } from "../clock.ts";
import { toHex } from "../protocol/bytes.ts";
import { type CommandRequest, readReg, sync, writeReg } from "../protocol/commands.ts";
import {
  DeviceError,
  EspdeltaError,
  LinkLostError,
  linkLostMessage,
  ProtocolError,
  TimeoutError,
} from "../protocol/errors.ts";
import { Op, opName } from "../protocol/opcodes.ts";
import { checkStatus, decodeResponse, encodeCommand, type Response } from "../protocol/packet.ts";
import { slipEncode } from "../protocol/slip.ts";
import type { Port } from "../serial/port.ts";
import { PortLostError } from "../serial/lost.ts";
import { FrameReader } from "./frames.ts";
import { DEFAULT_TIMEOUT_MS, PORT_RETURN_MS, SYNC_TIMEOUT_MS } from "./timeouts.ts";

export { LinkLostError } from "../protocol/errors.ts";

/** Who answered a SYNC sent to resynchronise: the stub (value 0), a ROM, or nobody. */
export type SyncAnswer = "stub" | "rom" | "none";

/**
 * Called by {@link Connection.recover} once the line is drained and SYNC was
 * answered (or not): brings the device back to where the session had it
 * (reset, stub, baud, attach), or throws.
 */
export type ReconnectHook = (answer: SyncAnswer, connection: Connection) => Promise<void>;

/** Options of a {@link Connection}. */
export interface ConnectionOptions {
  /** Time source (default: the real clock). */
  clock?: Clock;
  /** Receives one line per packet. */
  trace?: (line: string) => void;
  /** What to do after resynchronising (default: nothing more). */
  reconnect?: ReconnectHook;
  /**
   * How long to keep trying to open a port whose link died (a server
   * restarting, a USB device plugged in again) before giving up, in ms
   * (default {@link PORT_RETURN_MS}; 0: never try).
   */
  portReturnMs?: number;
}

/** Options of one {@link Connection.command}. */
export interface CommandOptions {
  /** Reply timeout of the first attempt (default 3 s); each retry doubles it. */
  timeoutMs?: number;
  /** Safe to repeat: recover and try again after a lost, garbled or failed reply. */
  retry?: boolean;
  /**
   * Send an extra END first ({@link Connection.send}'s `reframe`): for a
   * SYNC to a loader whose framing may be out of step with ours.
   */
  reframe?: boolean;
}

/** Attempts of an operation that recovery can repeat safely (a command, a whole write). */
export const OP_ATTEMPTS = 3;

/** Commands whose round trip is all link latency: the chip does no work for them. */
const LATENCY_PROBES: ReadonlySet<number> = new Set([
  Op.READ_REG,
  Op.SPI_ATTACH,
  Op.SPI_SET_PARAMS,
  Op.GET_SECURITY_INFO,
]);

/**
 * Errors after which the link may be fine again once resynchronised: a lost,
 * garbled or refused reply, or a port whose link died (it may come back).
 */
export function transient(e: unknown): boolean {
  return e instanceof TimeoutError || e instanceof ProtocolError || e instanceof DeviceError ||
    e instanceof PortLostError;
}

/**
 * Commands and replies over one port.
 *
 * @example
 * ```ts
 * import { Connection } from "./connection.ts";
 * import { sync } from "../protocol/commands.ts";
 * import { CHIP_DETECT_MAGIC_REG } from "../chips/chips.ts";
 * import { memoryPort } from "../emulator/memory.ts";
 * import { VirtualDevice } from "../emulator/device.ts";
 * import assert from "node:assert";
 * const port = memoryPort(new VirtualDevice({ chip: "esp32s3" }));
 * const conn = new Connection(port);
 * const reply = await conn.command(sync(), { timeoutMs: 100 });
 * assert.notStrictEqual(reply.value, 0); // a ROM answered (the stub says 0)
 * await conn.flush(); // the ROM's seven other SYNC replies
 * assert.strictEqual(await conn.readReg(CHIP_DETECT_MAGIC_REG), 0x00000009); // ESP32-S3
 * await port.close();
 * ```
 */
export class Connection {
  /** The port. */
  readonly port: Port;
  /** The time source. */
  readonly clock: Clock;
  /** Receives one line per packet, when tracing. */
  readonly trace?: (line: string) => void;
  readonly #reader: FrameReader;
  readonly #reconnect?: ReconnectHook;
  readonly #portReturnMs: number;
  #recovering = false;
  #recoveries = 0;
  #latencies: number[] = [];

  /** Talks over `port`. */
  constructor(port: Port, options: ConnectionOptions = {}) {
    this.port = port;
    this.clock = options.clock ?? realClock;
    this.trace = options.trace;
    this.#reconnect = options.reconnect;
    this.#portReturnMs = options.portReturnMs ?? PORT_RETURN_MS;
    this.#reader = new FrameReader(port, this.clock);
  }

  /** Recoveries so far: resyncs and reconnects after a lost or garbled reply. */
  get recoveries(): number {
    return this.#recoveries;
  }

  /** True while {@link recover} runs: nothing retries then, so recovery never nests. */
  get recovering(): boolean {
    return this.#recovering;
  }

  /**
   * Sends one packet in a SLIP frame (a command, or READ_FLASH's
   * acknowledgement). With `reframe`, an extra END goes first. A loader's
   * SLIP receiver (the ROM's, both stubs') ends a frame at any END and
   * ignores bytes outside frames, and an END right after an END ends an
   * empty frame: so after a frame cut in the middle (a link that died, a
   * reply given up on mid-block), the next frame's leading END closes the
   * cut one, its body falls outside any frame, and its trailing END opens
   * one; from then on every frame we send is out of step by one END and
   * the loader hears nothing. One frame sent plainly, then one sent with
   * the extra END, gets through from any state the receiver can be in.
   */
  async send(packet: Uint8Array, reframe = false): Promise<void> {
    const framed = slipEncode(packet);
    if (!reframe) return await this.port.write(framed);
    const out = new Uint8Array(framed.length + 1);
    out[0] = 0xc0;
    out.set(framed, 1);
    await this.port.write(out);
  }

  /** The next frame, or a TimeoutError naming `what` after `timeoutMs`. */
  next(timeoutMs: number, what: string): Promise<Uint8Array> {
    return this.#reader.next(timeoutMs, what);
  }

  /** Drops queued frames and partial input (after a reset or baud change). */
  clear(): void {
    this.#reader.clear();
  }

  /** Empties the port's input and the frame queue. */
  async flush(): Promise<void> {
    await this.port.flushInput();
    this.#reader.clear();
  }

  /** Text that arrived outside frames since the last call (boot messages). */
  takeNoise(): string {
    return this.#reader.takeNoise();
  }

  /**
   * Sends a command and waits for the reply with the same opcode (up to 100
   * other frames are skipped), then checks the status bytes found right
   * after the reply's `replyData` bytes of data. With `retry`, for commands
   * that are safe to repeat, a lost, garbled or failed reply leads to
   * {@link recover} and another try (3 in all, each with twice the timeout
   * of the one before).
   */
  async command(
    req: CommandRequest,
    options: CommandOptions = {},
  ): Promise<{ value: number; data: Uint8Array }> {
    const packet = encodeCommand(req.op, req.data, req.check);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    for (let attempt = 1;; attempt++) {
      try {
        this.trace?.(`TX ${opName(req.op)} ${req.data.length}B ${toHex(packet.subarray(0, 40))}`);
        const sent = this.clock.now();
        await this.send(packet, options.reframe && attempt === 1);
        const r = await this.reply(req.op, timeoutMs * 2 ** (attempt - 1), req.replyData);
        if (LATENCY_PROBES.has(req.op)) {
          this.#sampleLatency(sent, packet.length + 16 + r.data.length);
        }
        return r;
      } catch (e) {
        if (!options.retry || this.#recovering || !transient(e)) throw e;
        if (attempt >= OP_ATTEMPTS) throw this.lost(opName(req.op), e);
        this.trace?.(`${opName(req.op)}: ${(e as Error).message}; recovering`);
        await this.recover(opName(req.op), e);
      }
    }
  }

  /** Waits for the reply to `op` and returns its value and `dataLength` bytes of data. */
  async reply(
    op: number,
    timeoutMs: number,
    dataLength: number,
  ): Promise<{ value: number; data: Uint8Array }> {
    for (let skipped = 0; skipped < 100; skipped++) {
      const frame = await this.#reader.next(timeoutMs, opName(op));
      const resp = decodeResponse(frame);
      this.trace?.(`RX ${toHex(frame.subarray(0, 40))}${frame.length > 40 ? "..." : ""}`);
      if (!resp || resp.op !== op) continue;
      return { value: resp.value, data: checkStatus(resp, dataLength) };
    }
    throw new ProtocolError(`no reply to ${opName(op)} among 100 frames`);
  }

  /**
   * Sends a command whose failure status is an answer, not an error
   * (GET_SECURITY_INFO on a loader without it), and returns its reply
   * undecoded for the caller to read. Neither traced nor retried.
   */
  async query(req: CommandRequest): Promise<Response> {
    await this.send(encodeCommand(req.op, req.data, req.check));
    for (let skipped = 0; skipped < 100; skipped++) {
      const resp = decodeResponse(await this.#reader.next(DEFAULT_TIMEOUT_MS, opName(req.op)));
      if (resp && resp.op === req.op) return resp;
    }
    throw new ProtocolError(`no reply to ${opName(req.op)} among 100 frames`);
  }

  /** READ_REG, retried. */
  async readReg(addr: number): Promise<number> {
    return (await this.command(readReg(addr), { retry: true })).value >>> 0;
  }

  /** WRITE_REG, retried. */
  async writeReg(addr: number, value: number, mask = 0xffffffff, delayUs = 0): Promise<void> {
    await this.command(writeReg(addr, value, mask, delayUs), { retry: true });
  }

  /** One round trip of a command that makes the chip do no work: time beyond the wire. */
  #sampleLatency(sent: number, bytes: number): void {
    const wire = bytes * 10 * 1000 / this.port.baud;
    this.#latencies.push(Math.max(0, this.clock.now() - sent - wire));
    if (this.#latencies.length > 15) this.#latencies.shift();
  }

  /**
   * Median round-trip latency beyond wire time of recent register and
   * attach commands (USB scheduling, a bridge's latency timer, the chip's
   * turnaround), or undefined before any was timed.
   */
  get latencyMs(): number | undefined {
    if (this.#latencies.length === 0) return undefined;
    const sorted = [...this.#latencies].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }

  /**
   * The error that ends a session: `what` failed `OP_ATTEMPTS` times, last
   * with `e` (a link that died and did not come back says so instead).
   */
  lost(what: string, e: unknown): LinkLostError {
    if (e instanceof LinkLostError && !(e instanceof PortLostError)) return e;
    const message = e instanceof PortLostError
      ? linkLostMessage(this.port.path, `during ${what}`, e.reason)
      : linkLostMessage(
        this.port.path,
        `during ${what} after ${OP_ATTEMPTS} attempts`,
        (e as Error).message,
      );
    return new LinkLostError(message, { cause: e });
  }

  /**
   * Brings the port back after its link died (`e`): tries {@link Port.reopen}
   * every 200 ms for up to the port-return window. Throws the session's
   * {@link LinkLostError} (naming `what` was going on) when the port cannot
   * come back or did not within the window.
   */
  async restorePort(what: string, e: PortLostError): Promise<void> {
    const port = this.port;
    const window = this.#portReturnMs;
    if (!port.reopen || window <= 0) throw this.lost(what, e);
    this.trace?.(
      `${port.path}: ${e.reason} (${e.kind}); waiting up to ${window / 1000} s for it to come back`,
    );
    const started = this.clock.now();
    let last: unknown = e;
    // A server that took the connection back but was slow to set the line up
    // (RFC 2217 negotiation after a restart) may use up the window in that one
    // try: it gets one more, since the port is there.
    let grace = 1;
    const again = () =>
      this.clock.now() - started < window ||
      (last instanceof EspdeltaError && !(last instanceof PortLostError) &&
        last.code === "PORT_IO" && grace-- > 0);
    while (again()) {
      try {
        await port.reopen();
        this.#reader.clear();
        this.trace?.(
          `${port.path} is back after ${Math.round(this.clock.now() - started)} ms; reconnecting`,
        );
        return;
      } catch (err) {
        last = err;
        await this.clock.sleep(200);
      }
    }
    this.trace?.(`${port.path} did not come back (${(last as Error).message})`);
    throw new LinkLostError(
      linkLostMessage(
        port.path,
        `during ${what}`,
        `${e.reason}; it did not come back within ${window / 1000} s`,
      ),
      { cause: e },
    );
  }

  /**
   * Brings a session back after a lost, stalled or garbled reply: a port
   * whose link died (`cause`, or found dead on the way) is opened again
   * first ({@link restorePort}); then it drains the line and sends SYNC
   * until a reply comes. Replies come back in order, so everything before
   * the SYNC reply is stale and dropped with it. Then the reconnect hook
   * hears who answered, and connects afresh where needed. `what` names the
   * operation for the error that ends the session.
   */
  async recover(what = "recovery", cause?: unknown): Promise<void> {
    this.#recovering = true;
    this.#recoveries++;
    try {
      let answer: SyncAnswer;
      for (let restored = 0;; restored++) {
        try {
          if (cause instanceof PortLostError) await this.restorePort(what, cause);
          answer = await this.#resync();
          break;
        } catch (e) {
          // The link died (again) while resynchronising: once more, then give up.
          if (!(e instanceof PortLostError) || restored >= 1) throw this.#final(what, e);
          cause = e;
        }
      }
      try {
        await this.#reconnect?.(answer, this);
      } catch (e) {
        throw this.#final(what, e);
      }
    } finally {
      this.#recovering = false;
    }
  }

  /** A port-level loss, made into the session's error naming `what`; anything else as it is. */
  #final(what: string, e: unknown): unknown {
    return e instanceof PortLostError ? this.lost(what, e) : e;
  }

  /**
   * SYNC until a reply; says who answered. Five SYNCs at most, the first
   * two given 3 s (a stub may still be busy with a block), the rest 1 s:
   * plain, plain (the first may simply have been lost), then with an extra END
   * ({@link send}'s `reframe`: the plain ones were swallowed by a receiver
   * left in the middle of a frame), plain again, reframed again. A reply
   * to a reframed SYNC may be a late reply to the plain one before it, the
   * reframed one having put an in-step receiver out of step, so a plain
   * SYNC must be answered after it (but for the last).
   */
  async #resync(): Promise<SyncAnswer> {
    const { op, data } = sync();
    const reframed = [false, false, true, false, true];
    for (let attempt = 0; attempt < reframed.length; attempt++) {
      await this.flush();
      await this.send(encodeCommand(op, data), reframed[attempt]);
      const deadline = this.clock.now() + (attempt < 2 ? DEFAULT_TIMEOUT_MS : 1000);
      try {
        while (this.clock.now() < deadline) {
          const frame = await this.#reader.next(deadline - this.clock.now(), "SYNC");
          const resp = decodeResponse(frame);
          if (!resp || resp.op !== op) continue;
          // The other seven replies, then quiet.
          for (let i = 0; i < 7; i++) {
            try {
              await this.#reader.next(SYNC_TIMEOUT_MS, "SYNC");
            } catch {
              break;
            }
          }
          await this.flush();
          const answer = resp.value === 0 ? "stub" : "rom";
          if (!reframed[attempt] || attempt === reframed.length - 1) return answer;
          break;
        }
      } catch (e) {
        if (!(e instanceof TimeoutError)) throw e;
      }
    }
    return "none";
  }
}

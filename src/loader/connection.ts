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
import { DeviceError, EspdeltaError, ProtocolError, TimeoutError } from "../protocol/errors.ts";
import { Op, opName } from "../protocol/opcodes.ts";
import { checkStatus, decodeResponse, encodeCommand, type Response } from "../protocol/packet.ts";
import { slipEncode } from "../protocol/slip.ts";
import type { Port } from "../serial/port.ts";
import { FrameReader } from "./frames.ts";
import { DEFAULT_TIMEOUT_MS, SYNC_TIMEOUT_MS } from "./timeouts.ts";

/**
 * The device stopped answering and could not be brought back (cable pulled,
 * power lost, a chip that keeps resetting). What was written so far stays;
 * running the same command again re-plans and writes only what is still
 * wrong.
 */
export class LinkLostError extends EspdeltaError {
  /** With what was being done and what the last attempt saw. */
  constructor(message: string) {
    super("LINK_LOST", message);
  }
}

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
}

/** Options of one {@link Connection.command}. */
export interface CommandOptions {
  /** Reply timeout of the first attempt (default 3 s); each retry doubles it. */
  timeoutMs?: number;
  /** Safe to repeat: recover and try again after a lost, garbled or failed reply. */
  retry?: boolean;
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

/** Errors after which the link may be fine again once resynchronised. */
export function transient(e: unknown): boolean {
  return e instanceof TimeoutError || e instanceof ProtocolError || e instanceof DeviceError;
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
  #recovering = false;
  #recoveries = 0;
  #latencies: number[] = [];

  /** Talks over `port`. */
  constructor(port: Port, options: ConnectionOptions = {}) {
    this.port = port;
    this.clock = options.clock ?? realClock;
    this.trace = options.trace;
    this.#reconnect = options.reconnect;
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

  /** Sends one packet in a SLIP frame (a command, or READ_FLASH's acknowledgement). */
  async send(packet: Uint8Array): Promise<void> {
    await this.port.write(slipEncode(packet));
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
        await this.send(packet);
        const r = await this.reply(req.op, timeoutMs * 2 ** (attempt - 1), req.replyData);
        if (LATENCY_PROBES.has(req.op)) {
          this.#sampleLatency(sent, packet.length + 16 + r.data.length);
        }
        return r;
      } catch (e) {
        if (!options.retry || this.#recovering || !transient(e)) throw e;
        if (attempt >= OP_ATTEMPTS) throw this.lost(opName(req.op), e);
        this.trace?.(`${opName(req.op)}: ${(e as Error).message}; recovering`);
        await this.recover();
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

  /** The error that ends a session: `what` failed `OP_ATTEMPTS` times, last with `e`. */
  lost(what: string, e: unknown): LinkLostError {
    return new LinkLostError(
      `lost the device on ${this.port.path} during ${what} after ${OP_ATTEMPTS} attempts ` +
        `(${(e as Error).message}); check the cable and power, then run the same command ` +
        `again: espdelta re-plans and writes only what is still wrong`,
    );
  }

  /**
   * Brings a session back after a lost, stalled or garbled reply: drains the
   * line and sends SYNC until a reply comes. Replies come back in order, so
   * everything before the SYNC reply is stale and dropped with it. Then the
   * reconnect hook hears who answered, and connects afresh where needed.
   */
  async recover(): Promise<void> {
    this.#recovering = true;
    this.#recoveries++;
    try {
      const answer = await this.#resync();
      await this.#reconnect?.(answer, this);
    } finally {
      this.#recovering = false;
    }
  }

  /** SYNC until a reply; says who answered. */
  async #resync(): Promise<SyncAnswer> {
    const { op, data } = sync();
    for (let attempt = 0; attempt < 2; attempt++) {
      await this.flush();
      await this.send(encodeCommand(op, data));
      const deadline = this.clock.now() + DEFAULT_TIMEOUT_MS;
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
          return resp.value === 0 ? "stub" : "rom";
        }
      } catch (e) {
        if (!(e instanceof TimeoutError)) throw e;
      }
    }
    return "none";
  }
}

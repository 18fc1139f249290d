/**
 * The session with one connected device and its flash operations (md5,
 * write, read, erase, flash id) over the ROM or stub command set. Connecting
 * is connect.ts's job, commands and recovery connection.ts's, and the end of
 * a session reset_after.ts's; {@link connect} wires them together.
 * @module
 */

import { deflateSync } from "node:zlib";
import { createHash } from "node:crypto";
import { type ChipInfo, flashSizeFromJedec } from "../chips/chips.ts";
import { hex, toHex } from "../protocol/bytes.ts";
import {
  decodeMd5,
  eraseFlash,
  eraseRegion,
  flashBegin,
  flashData,
  flashEnd,
  READ_FLASH_PACKET,
  readFlash,
  readFlashAck,
  readFlashSlow,
  type SecurityInfo,
  spiFlashMd5,
  spiSetParams,
} from "../protocol/commands.ts";
import { DeviceError, EspdeltaError, ProtocolError } from "../protocol/errors.ts";
import { Sizes } from "../protocol/opcodes.ts";
import type { Port } from "../serial/port.ts";
import {
  changeBaud,
  type ConnectOptions,
  type DeviceSecurity,
  type DeviceState,
  establish,
  readSecurity,
  reconnectHook,
  securityInfo,
  UnsupportedError,
} from "./connect.ts";
import { Connection, OP_ATTEMPTS, transient } from "./connection.ts";
import { type BaudChoice, linkError, LinkSpeed } from "./link_speed.ts";
import { readChipId, readFlashId, readMac } from "./identity.ts";
import { type AfterReset, resetAfter } from "./reset_after.ts";
import {
  CHIP_ERASE_TIMEOUT_MS,
  DEFAULT_TIMEOUT_MS,
  ERASE_REGION_S_PER_MB,
  ERASE_WRITE_S_PER_MB,
  esp8266EraseSize,
  MD5_S_PER_MB,
  stubBlockTimeout,
  timeoutForSize,
} from "./timeouts.ts";

export type { AfterReset } from "./reset_after.ts";
export type { BeforeReset, ConnectOptions } from "./connect.ts";

/** Options of {@link Loader.write}. */
export interface WriteOptions {
  /** Deflate on the wire: `auto` (default) when the loader takes it and it helps. */
  compress?: boolean | "auto";
  /** Called after each block with bytes done and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Write through the chip's flash-encryption engine (stub, or a ROM after the ESP32). */
  encrypt?: boolean;
}

/** Result of a write. */
export interface WriteResult {
  /** Data bytes sent (compressed size when compressed). */
  bytesSent: number;
  /** Whether the data went compressed. */
  compressed: boolean;
}

/** Attempts of one data block the device refused for its checksum. */
const BLOCK_ATTEMPTS = 5;

/** A connected device session. */
export class Loader {
  /** The port. */
  readonly port: Port;
  readonly #conn: Connection;
  readonly #chip: ChipInfo;
  readonly #state: DeviceState;

  /**
   * A session with `chip` over `connection`; `state` is shared with the
   * connection's reconnect hook, which updates it. Use {@link connect}.
   */
  constructor(connection: Connection, chip: ChipInfo, state: DeviceState = { stub: false }) {
    this.port = connection.port;
    this.#conn = connection;
    this.#chip = chip;
    this.#state = state;
  }

  /** The connected chip. */
  get chip(): ChipInfo {
    return this.#chip;
  }

  /** True once the flasher stub runs. */
  get isStub(): boolean {
    return this.#state.stub;
  }

  /** The device's security state, read when connecting (undefined on the ESP8266). */
  get security(): DeviceSecurity | undefined {
    return this.#state.security;
  }

  /**
   * The silicon revision, major * 100 + minor (e.g. 301 for v3.1), read
   * from the chip's eFuses when connecting; undefined on the ESP8266 and in
   * Secure Download Mode.
   */
  get revision(): number | undefined {
    return this.#state.revision;
  }

  /** True when the device can hash its flash (stub, or a ROM with MD5 outside Secure Download Mode). */
  get canHash(): boolean {
    if (this.#state.security?.secureDownload) return false;
    return this.#state.stub || this.#chip.rom.md5;
  }

  /** Recoveries so far: resyncs and reconnects after a lost or garbled reply. */
  get recoveries(): number {
    return this.#conn.recoveries;
  }

  /**
   * Median round-trip latency beyond wire time of recent register and
   * attach commands, or undefined before any was timed.
   */
  get latencyMs(): number | undefined {
    return this.#conn.latencyMs;
  }

  /**
   * Sends a command and waits for its reply; see {@link Connection.command}.
   * `check` is the checksum field, `dataLength` the reply's data before its
   * status bytes.
   */
  command(
    op: number,
    data: Uint8Array,
    options: { check?: number; timeoutMs?: number; dataLength?: number; retry?: boolean } = {},
  ): Promise<{ value: number; data: Uint8Array }> {
    const req = { op, data, check: options.check ?? 0, replyData: options.dataLength ?? 0 };
    return this.#conn.command(req, options);
  }

  /**
   * Brings the session back after a lost, stalled or garbled reply (SYNC
   * until the device answers, then a fresh connect if it lost the stub or
   * went silent). Throws {@link LinkLostError} when that fails.
   */
  recover(): Promise<void> {
    return this.#conn.recover();
  }

  /** READ_REG. */
  readReg(addr: number): Promise<number> {
    return this.#conn.readReg(addr);
  }

  /** WRITE_REG. */
  writeReg(addr: number, value: number, mask = 0xffffffff, delayUs = 0): Promise<void> {
    return this.#conn.writeReg(addr, value, mask, delayUs);
  }

  /** GET_SECURITY_INFO, or null where the loader does not have it. */
  securityInfo(): Promise<SecurityInfo | null> {
    return securityInfo(this.#conn);
  }

  /**
   * Reads the security state: GET_SECURITY_INFO where the loader has it,
   * the chip's eFuse word with FLASH_CRYPT_CNT otherwise. Key blocks are
   * never read.
   */
  readSecurity(): Promise<DeviceSecurity | undefined> {
    return readSecurity(this.#conn, this.#chip, this.#state);
  }

  /** CHANGE_BAUDRATE (corrected for the chip's ROM quirk), then switches the port. */
  async changeBaud(baud: number): Promise<void> {
    await changeBaud(this.#conn, this.#chip, this.#state, baud);
  }

  /** With `baud: "auto"`: the rate in use and why (link_speed.ts); else undefined. */
  get baudChoice(): BaudChoice | undefined {
    return this.#state.speed?.choice;
  }

  /**
   * Bits per second on the wire, for planning: the port's baud rate, or the
   * USB rate of a bridge that ignores it (Espressif's USB-Serial/JTAG).
   */
  get wireBaud(): number {
    return this.#state.speed?.choice?.wireBaud ?? this.port.baud;
  }

  /** The base MAC, 6 bytes. */
  readMac(): Promise<number[]> {
    return readMac(this.#conn, this.#chip);
  }

  /** The chip ID: the ESP8266's; undefined on every later chip, which has none. */
  chipId(): Promise<number | undefined> {
    return readChipId(this.#conn, this.#chip);
  }

  /** SPI_SET_PARAMS: tells the loader the flash size. */
  async setFlashSize(bytes: number): Promise<void> {
    if (!this.#state.stub && !this.#chip.rom.spiAttach) return;
    await this.#conn.command(spiSetParams(bytes), { retry: true });
  }

  /** JEDEC id of the flash, through the SPI registers (manufacturer in the low byte). */
  flashId(): Promise<number> {
    return readFlashId(this.#conn, this.#chip);
  }

  /** Flash size from the JEDEC id, when the id is known. */
  async detectFlashSize(): Promise<number | undefined> {
    return flashSizeFromJedec(await this.flashId());
  }

  /** Lower-case hex MD5 of `size` bytes of flash at `offset`. */
  async md5(offset: number, size: number): Promise<string> {
    if (!this.#state.stub && !this.#chip.rom.md5) {
      throw new UnsupportedError(
        `${this.#chip.displayName} ROM has no flash MD5 command; run with the stub`,
      );
    }
    const r = await this.#conn.command(
      spiFlashMd5(offset, size, this.#state.stub ? "stub" : "rom"),
      { timeoutMs: timeoutForSize(MD5_S_PER_MB, size), retry: true },
    );
    return decodeMd5(r.data);
  }

  /**
   * Writes `bytes` at `offset` (4 KiB aligned): FLASH_BEGIN or
   * FLASH_DEFL_BEGIN, then blocks (0x400 with the ROM, 0x4000 with the stub),
   * and with the stub FLASH(_DEFL)_END to collect deferred errors. A block
   * refused for its checksum is sent again (5 times at most). Any other
   * failure (a lost or garbled reply, an error the stub reports late) cannot
   * be fixed by resending one block, because the stub does not check
   * sequence numbers and may have taken it: the session {@link recover}s
   * and the whole write starts again from its BEGIN, which rewrites the same
   * sectors and nothing else (3 attempts, each with doubled timeouts).
   */
  async write(
    offset: number,
    bytes: Uint8Array,
    options: WriteOptions = {},
  ): Promise<WriteResult> {
    if (offset % Sizes.SECTOR !== 0) {
      throw new EspdeltaError("UNALIGNED", `write offset ${hex(offset)} is not 4 KiB aligned`);
    }
    if (options.encrypt) {
      const unit = this.#chip.encryptionBlock;
      if (unit === null) {
        throw new UnsupportedError(`the ${this.#chip.displayName} has no flash encryption`);
      }
      if (!this.#state.stub && !this.#chip.rom.beginEncryptedWord) {
        throw new UnsupportedError(
          `the ${this.#chip.displayName} ROM cannot write encrypted; run with the stub`,
        );
      }
      // The engine works on whole blocks: pad with erased-flash bytes, as esptool does.
      if (bytes.length % unit !== 0) {
        const padded = new Uint8Array(Math.ceil(bytes.length / unit) * unit).fill(0xff);
        padded.set(bytes);
        bytes = padded;
      }
    }
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#writeOnce(offset, bytes, options, 2 ** (attempt - 1));
      } catch (e) {
        if (this.#conn.recovering || !transient(e)) throw e;
        if (attempt >= OP_ATTEMPTS) throw this.#conn.lost(`the write at ${hex(offset)}`, e);
        this.#conn.trace?.(
          `write at ${hex(offset)}: ${(e as Error).message}; recovering, then again`,
        );
        // With `--baud auto`, a garbled or lost reply means this rate is too fast.
        const speed = this.#state.speed;
        if (speed?.choice && linkError(e)) speed.lower(this.port.baud, (e as Error).message);
        await this.#conn.recover(`the write at ${hex(offset)}`, e);
        if (speed) await speed.enforce(this.#conn, this.#chip, this.#state);
      }
    }
  }

  async #writeOnce(
    offset: number,
    bytes: Uint8Array,
    options: WriteOptions,
    scale: number,
  ): Promise<WriteResult> {
    const stub = this.#state.stub;
    const canDeflate = (stub || this.#chip.rom.compressedWrite) &&
      !this.#state.security?.secureDownload;
    const want = options.compress ?? "auto";
    let compressed = false;
    let payload = bytes;
    if (want !== false && canDeflate) {
      const z = new Uint8Array(deflateSync(bytes, { level: 9 }));
      if (want === true || z.length < bytes.length) {
        compressed = true;
        payload = z;
      }
    } else if (want === true) {
      throw new UnsupportedError(`${this.#chip.displayName} ROM cannot take compressed data`);
    }
    const blockSize = stub ? Sizes.STUB_FLASH_BLOCK : Sizes.ROM_FLASH_BLOCK;
    const blocks = Math.max(1, Math.ceil(payload.length / blockSize));
    let size = bytes.length;
    if (!stub && compressed) size = Math.ceil(size / blockSize) * blockSize;
    if (!stub && this.#chip.rom.eraseSizeBug) size = esp8266EraseSize(offset, size);
    // The ROM erases the whole range before it answers; the stub erases as data arrives.
    await this.#conn.command(
      flashBegin({
        size,
        blocks,
        blockSize,
        offset,
        compressed,
        encrypted: options.encrypt ?? false,
        encryptedWord: !stub && this.#chip.rom.beginEncryptedWord,
      }),
      {
        timeoutMs: scale *
          (stub ? DEFAULT_TIMEOUT_MS : timeoutForSize(ERASE_REGION_S_PER_MB, size)),
      },
    );
    const perBlockRaw = Math.ceil(bytes.length / blocks);
    const blockTimeout = scale *
      (compressed
        ? (stub ? stubBlockTimeout(perBlockRaw) : timeoutForSize(ERASE_WRITE_S_PER_MB, perBlockRaw))
        : DEFAULT_TIMEOUT_MS);
    let sent = 0;
    for (let seq = 0; seq < blocks; seq++) {
      let chunk = payload.subarray(seq * blockSize, (seq + 1) * blockSize);
      if (!compressed && chunk.length < blockSize) {
        // Raw blocks are always full: pad with erased-flash bytes.
        const padded = new Uint8Array(blockSize).fill(0xff);
        padded.set(chunk);
        chunk = padded;
      }
      const req = flashData(seq, chunk, compressed);
      for (let attempt = 1;; attempt++) {
        try {
          await this.#conn.command(req, { timeoutMs: blockTimeout });
          break;
        } catch (e) {
          // Refused for its checksum: the block was not taken, so it can go again.
          if (!(e instanceof DeviceError && e.badChecksum) || attempt >= BLOCK_ATTEMPTS) throw e;
          this.#conn.trace?.(`retrying block ${seq} (${(e as Error).message})`);
          // With `--baud auto`, one rate down first: the stub takes a baud change mid-write.
          const speed = this.#state.speed;
          if (speed?.choice) {
            speed.lower(this.port.baud, (e as Error).message);
            await speed.enforce(this.#conn, this.#chip, this.#state);
          }
        }
      }
      sent += chunk.length;
      options.onProgress?.(
        Math.min(bytes.length, Math.round((seq + 1) / blocks * bytes.length)),
        bytes.length,
      );
    }
    if (stub) {
      // Flushes the stub's buffered writes and reports any deferred error.
      await this.#conn.command(flashEnd({ compressed }), {
        timeoutMs: scale * (timeoutForSize(ERASE_WRITE_S_PER_MB, 0x10000) + DEFAULT_TIMEOUT_MS),
      });
    }
    return { bytesSent: compressed ? payload.length : sent, compressed };
  }

  /** Reads `size` bytes of flash at `offset`. */
  async read(
    offset: number,
    size: number,
    onProgress?: (done: number, total: number) => void,
  ): Promise<Uint8Array> {
    const out = new Uint8Array(size);
    if (this.#state.stub) {
      await this.#conn.command(readFlash(offset, size));
      let got = 0;
      while (got < size) {
        const frame = await this.#conn.next(DEFAULT_TIMEOUT_MS, "READ_FLASH data");
        const short = frame.length < READ_FLASH_PACKET && got + frame.length < size;
        if (got + frame.length > size || short) {
          throw new ProtocolError(
            `READ_FLASH: unexpected ${frame.length}-byte packet at ${got} of ${size}`,
          );
        }
        out.set(frame, got);
        got += frame.length;
        await this.#conn.send(readFlashAck(got));
        onProgress?.(got, size);
      }
      const digest = await this.#conn.next(DEFAULT_TIMEOUT_MS, "READ_FLASH digest");
      const local = createHash("md5").update(out).digest("hex");
      if (toHex(digest) !== local) {
        throw new ProtocolError(
          `READ_FLASH digest ${toHex(digest)} does not match data (${local})`,
        );
      }
      return out;
    }
    if (!this.#chip.rom.readFlashSlow) {
      throw new UnsupportedError(
        `${this.#chip.displayName} ROM cannot read flash; run with the stub`,
      );
    }
    for (let at = 0; at < size; at += Sizes.READ_SLOW_CHUNK) {
      const n = Math.min(Sizes.READ_SLOW_CHUNK, size - at);
      const r = await this.#conn.command(readFlashSlow(offset + at, n));
      out.set(r.data.subarray(0, n), at);
      onProgress?.(at + n, size);
    }
    return out;
  }

  /** Erases whole sectors (stub ERASE_REGION; on the ROM, an erasing FLASH_BEGIN). */
  async eraseRegion(offset: number, size: number): Promise<void> {
    if (offset % Sizes.SECTOR !== 0 || size % Sizes.SECTOR !== 0) {
      throw new EspdeltaError(
        "UNALIGNED",
        `erase region ${hex(offset)}+${hex(size)} must be 4 KiB aligned in offset and size`,
      );
    }
    const timeoutMs = timeoutForSize(ERASE_REGION_S_PER_MB, size);
    if (this.#state.stub) {
      await this.#conn.command(eraseRegion(offset, size), { timeoutMs, retry: true });
      return;
    }
    const begin = flashBegin({
      size: this.#chip.rom.eraseSizeBug ? esp8266EraseSize(offset, size) : size,
      blocks: 0,
      blockSize: Sizes.ROM_FLASH_BLOCK,
      offset,
      encryptedWord: this.#chip.rom.beginEncryptedWord,
    });
    await this.#conn.command(begin, { timeoutMs, retry: true });
  }

  /** Erases the whole flash (stub only). */
  async eraseFlash(): Promise<void> {
    if (!this.#state.stub) {
      throw new UnsupportedError("the ROM loader cannot erase the whole chip; run with the stub");
    }
    await this.#conn.command(eraseFlash(), { timeoutMs: CHIP_ERASE_TIMEOUT_MS });
  }

  /**
   * What to do at the end of a session, by esptool v5's `--after` names.
   * Returns a note for the user when the port could not reset the chip.
   */
  after(mode: AfterReset): Promise<string | undefined> {
    return resetAfter(this.#conn, this.#chip, this.#state.stub, mode);
  }

  /** Ends the session (the caller owns and closes the port). */
  close(): Promise<void> {
    this.#conn.clear();
    return Promise.resolve();
  }
}

/**
 * Connects: resets into the download mode (cycling esptool's strategies),
 * syncs, identifies the chip, starts the stub if given, raises the baud rate
 * and attaches the flash. The session recovers from a lost link through
 * the same steps.
 *
 * @example
 * ```ts
 * import { connect } from "./loader.ts";
 * import { memoryPort } from "../emulator/memory.ts";
 * import { VirtualDevice } from "../emulator/device.ts";
 * import assert from "node:assert";
 * const port = memoryPort(new VirtualDevice({ chip: "esp32c3" }));
 * const loader = await connect(port);
 * assert.deepStrictEqual([loader.chip.displayName, loader.isStub], ["ESP32-C3", false]);
 * await port.close();
 * ```
 */
export async function connect(port: Port, options: ConnectOptions = {}): Promise<Loader> {
  const state: DeviceState = { stub: false };
  if (options.baud === "auto") state.speed = new LinkSpeed(options.link, options.trace);
  const conn = new Connection(port, {
    clock: options.clock,
    trace: options.trace,
    reconnect: reconnectHook(state, options),
    portReturnMs: options.portReturnMs,
  });
  const chip = await establish(conn, state, options);
  return new Loader(conn, chip, state);
}

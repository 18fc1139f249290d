/**
 * The session with one device: connect (reset, sync), detect the chip,
 * optionally start a flasher stub, change baud, attach flash, and the flash
 * operations (md5, write, read, erase) over the ROM or stub command set.
 * @module
 */

import { deflateSync } from "node:zlib";
import { createHash } from "node:crypto";
import {
  CHIP_DETECT_MAGIC_REG,
  chipByImageId,
  chipByMagic,
  type ChipInfo,
  type ChipName,
  CHIPS,
  flashEncryptionOn,
  flashSizeFromJedec,
  macFromWords,
  RTC_WDT_WKEY,
} from "../chips/chips.ts";
import { hex, readU32, toHex, words } from "../protocol/bytes.ts";
import { DeviceError, EspdeltaError, ProtocolError, TimeoutError } from "../protocol/errors.ts";
import { Op, opName, Sizes, STUB_GREETING, SYNC_PAYLOAD } from "../protocol/opcodes.ts";
import {
  checkStatus,
  checksum,
  decodeResponse,
  encodeCommand,
  encodeDataPayload,
} from "../protocol/packet.ts";
import { slipEncode } from "../protocol/slip.ts";
import type { Port } from "../serial/port.ts";
import {
  defaultStrategies,
  hardResetSteps,
  type ResetFn,
  type ResetStrategy,
  runSequence,
} from "../serial/reset.ts";
import { type Clock, realClock } from "../clock.ts";
import { FrameReader } from "./frames.ts";
import type { StubImage } from "./stub.ts";
import {
  CHIP_ERASE_TIMEOUT_MS,
  DEFAULT_TIMEOUT_MS,
  ERASE_REGION_S_PER_MB,
  ERASE_WRITE_S_PER_MB,
  esp8266EraseSize,
  MD5_S_PER_MB,
  MEM_END_ROM_TIMEOUT_MS,
  stubBlockTimeout,
  SYNC_TIMEOUT_MS,
  timeoutForSize,
} from "./timeouts.ts";

/** What to do after the command, by esptool v5's names. */
export type AfterReset =
  | "hard-reset"
  | "soft-reset"
  | "no-reset"
  | "no-reset-stub"
  | "watchdog-reset";

/** How to reset before connecting. */
export type BeforeReset = "default-reset" | "usb-reset" | "no-reset" | "no-reset-no-sync";

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** Expected chip; detection must agree. */
  chip?: ChipName;
  /** Reset before syncing (default: esptool's strategy cycle when the port has modem lines). */
  reset?: BeforeReset | ResetFn;
  /** Reset-and-sync attempts (default 7). */
  attempts?: number;
  /**
   * A flasher stub to upload and start, a function that finds one for the
   * detected chip (undefined: stay with the ROM), or false for the ROM loader.
   */
  stub?: false | StubImage | ((chip: ChipInfo) => Promise<StubImage | undefined>);
  /** Baud rate after connecting; only raised, never lowered. */
  baud?: number;
  /** Receives one line per packet. */
  trace?: (line: string) => void;
  /** Time source. */
  clock?: Clock;
  /** Called with the name of the reset strategy that worked. */
  onReset?: (strategy: string) => void;
}

/** GET_SECURITY_INFO, decoded. */
export interface SecurityInfo {
  /** Flags word (bit 0 secure boot, bit 2 secure download mode...). */
  flags: number;
  /** FLASH_CRYPT_CNT eFuse; an odd number of set bits means encryption is on. */
  flashCryptCnt: number;
  /** Key purposes of the key blocks. */
  keyPurposes: number[];
  /** Chip id (not on ESP32-S2). */
  chipId?: number;
  /** ECO / API version (not on ESP32-S2). */
  ecoVersion?: number;
}

/** What the device's eFuses say about its security, read when connecting. */
export interface DeviceSecurity {
  /** Flash encryption is on (FLASH_CRYPT_CNT has an odd number of bits set). */
  flashEncryption: boolean;
  /** The FLASH_CRYPT_CNT (SPI_BOOT_CRYPT_CNT) eFuse. */
  flashCryptCnt: number;
  /** Secure boot is enabled (flags bit 0). */
  secureBoot: boolean;
  /** Secure Download Mode: only SYNC, attach, params, baud, plain writes and this info. */
  secureDownload: boolean;
  /** Where it came from: GET_SECURITY_INFO, or the ESP32's eFuse block 0. */
  source: "GET_SECURITY_INFO" | "efuse";
}

/** ESP32 eFuse block 0 word 0; FLASH_CRYPT_CNT is bits 26..20 (esptool's EFUSE_RD_REG_BASE). */
const ESP32_EFUSE_BLK0_WORD0 = 0x3ff5a000;

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

/** The device could not be reached or identified. */
export class ConnectError extends EspdeltaError {
  /** With a message that says what was tried (code WRONG_CHIP when --chip disagrees). */
  constructor(message: string, code = "CONNECT_FAILED") {
    super(code, message);
  }
}

/** An operation the connected loader cannot do. */
export class UnsupportedError extends EspdeltaError {
  /** With a message that says what to use instead. */
  constructor(message: string) {
    super("UNSUPPORTED", message);
  }
}

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

const BLOCK_ATTEMPTS = 5;
/** Commands whose round trip is all link latency: the chip does no work for them. */
const LATENCY_PROBES: ReadonlySet<number> = new Set([
  Op.READ_REG,
  Op.SPI_ATTACH,
  Op.SPI_SET_PARAMS,
  Op.GET_SECURITY_INFO,
]);
/** Attempts of an operation that recovery can repeat safely (a command, a whole write). */
const OP_ATTEMPTS = 3;

/** Errors after which the link may be fine again once resynchronised. */
function transient(e: unknown): boolean {
  return e instanceof TimeoutError || e instanceof ProtocolError || e instanceof DeviceError;
}

/** A connected device session. */
export class Loader {
  /** The port. */
  readonly port: Port;
  #chip: ChipInfo;
  #stub = false;
  #reader: FrameReader;
  #clock: Clock;
  #trace?: (line: string) => void;
  #options: ConnectOptions = {};
  #info: SecurityInfo | null | undefined;
  #security: DeviceSecurity | undefined;
  #recovering = false;
  /** Recoveries so far: resyncs and reconnects after a lost or garbled reply. */
  recoveries = 0;

  /** Use {@link connect}. */
  constructor(port: Port, chip: ChipInfo, options: { clock?: Clock; trace?: (l: string) => void }) {
    this.port = port;
    this.#chip = chip;
    this.#clock = options.clock ?? realClock;
    this.#trace = options.trace;
    this.#reader = new FrameReader(port, this.#clock);
  }

  /** The connected chip. */
  get chip(): ChipInfo {
    return this.#chip;
  }

  /** True once the flasher stub runs. */
  get isStub(): boolean {
    return this.#stub;
  }

  /** The device's security state, read when connecting (undefined on the ESP8266). */
  get security(): DeviceSecurity | undefined {
    return this.#security;
  }

  /** True when the device can hash its flash (stub, or a ROM with MD5 outside Secure Download Mode). */
  get canHash(): boolean {
    if (this.#security?.secureDownload) return false;
    return this.#stub || this.#chip.rom.md5;
  }

  /**
   * Reads the security state: GET_SECURITY_INFO where the loader has it,
   * the ESP32's eFuse word with FLASH_CRYPT_CNT otherwise. Key blocks are
   * never read.
   */
  async readSecurity(): Promise<DeviceSecurity | undefined> {
    const info = this.#info !== undefined ? this.#info : await this.securityInfo();
    if (info) {
      this.#security = {
        flashEncryption: flashEncryptionOn(info.flashCryptCnt),
        flashCryptCnt: info.flashCryptCnt,
        secureBoot: (info.flags & 1) !== 0,
        secureDownload: (info.flags & 4) !== 0,
        source: "GET_SECURITY_INFO",
      };
    } else if (this.#chip.name === "esp32") {
      const cnt = (await this.readReg(ESP32_EFUSE_BLK0_WORD0) >>> 20) & 0x7f;
      this.#security = {
        flashEncryption: flashEncryptionOn(cnt),
        flashCryptCnt: cnt,
        secureBoot: false,
        secureDownload: false,
        source: "efuse",
      };
    }
    return this.#security;
  }

  /** @internal set after detection */
  _setChip(chip: ChipInfo): void {
    this.#chip = chip;
  }

  /** @internal the options to reconnect with */
  _remember(options: ConnectOptions): void {
    this.#options = options;
  }

  /** @internal set when a stub is found running or started */
  _setStub(on: boolean): void {
    this.#stub = on;
  }

  /** The frame reader (for streaming commands). */
  get reader(): FrameReader {
    return this.#reader;
  }

  async #send(packet: Uint8Array): Promise<void> {
    await this.port.write(slipEncode(packet));
  }

  /**
   * Sends a command and waits for the reply with the same opcode (up to 100
   * other frames are skipped), then checks the status bytes found right
   * after `dataLength` bytes of response data. With `retry`, for commands
   * that are safe to repeat, a lost, garbled or failed reply leads to
   * {@link recover} and another try (3 in all, each with twice the timeout
   * of the one before).
   */
  async command(
    op: number,
    data: Uint8Array,
    options: { check?: number; timeoutMs?: number; dataLength?: number; retry?: boolean } = {},
  ): Promise<{ value: number; data: Uint8Array }> {
    const packet = encodeCommand(op, data, options.check ?? 0);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    for (let attempt = 1;; attempt++) {
      try {
        this.#trace?.(`TX ${opName(op)} ${data.length}B ${toHex(packet.subarray(0, 40))}`);
        const sent = this.#clock.now();
        await this.#send(packet);
        const r = await this.#reply(op, timeoutMs * 2 ** (attempt - 1), options.dataLength ?? 0);
        if (LATENCY_PROBES.has(op)) this.#sampleLatency(sent, packet.length + 16 + r.data.length);
        return r;
      } catch (e) {
        if (!options.retry || this.#recovering || !transient(e)) throw e;
        if (attempt >= OP_ATTEMPTS) throw this.#lost(opName(op), e);
        this.#trace?.(`${opName(op)}: ${(e as Error).message}; recovering`);
        await this.recover();
      }
    }
  }

  #latencies: number[] = [];

  /** One round trip of a command that makes the chip do no work: time beyond the wire. */
  #sampleLatency(sent: number, bytes: number): void {
    const wire = bytes * 10 * 1000 / this.port.baud;
    this.#latencies.push(Math.max(0, this.#clock.now() - sent - wire));
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

  #lost(what: string, e: unknown): LinkLostError {
    return new LinkLostError(
      `lost the device on ${this.port.path} during ${what} after ${OP_ATTEMPTS} attempts ` +
        `(${(e as Error).message}); check the cable and power, then run the same command ` +
        `again: espdelta re-plans and writes only what is still wrong`,
    );
  }

  /**
   * Brings a session back after a lost, stalled or garbled reply: drains the
   * line and sends SYNC until a reply comes. Replies come back in order, so
   * everything before the SYNC reply is stale and dropped with it. A chip
   * that answers as the ROM although the stub ran, or does not answer at
   * all (it reset, or the link dropped and came back), is connected afresh:
   * reset into the loader, sync, stub, baud, attach, as {@link connect} did.
   * Throws {@link LinkLostError} when that fails too.
   */
  async recover(): Promise<void> {
    this.#recovering = true;
    this.recoveries++;
    try {
      const answer = await this.#resync();
      if (answer === "stub" && this.#stub) return;
      if (answer === "rom" && !this.#stub && !this.#options.stub) return;
      this.#trace?.(`device ${answer === "none" ? "silent" : "back in its ROM"}; reconnecting`);
      await this.port.setBaud(115200);
      this.#stub = false;
      try {
        await establish(this, this.port, {
          ...this.#options,
          chip: this.#chip.name,
          attempts: Math.min(3, this.#options.attempts ?? 7),
        });
      } catch (e) {
        throw this.#lost("reconnect", e);
      }
    } finally {
      this.#recovering = false;
    }
  }

  /** SYNC until a reply; says who answered. */
  async #resync(): Promise<"stub" | "rom" | "none"> {
    for (let attempt = 0; attempt < 2; attempt++) {
      await this.port.flushInput();
      this.#reader.clear();
      await this.#send(encodeCommand(Op.SYNC, SYNC_PAYLOAD));
      const deadline = this.#clock.now() + DEFAULT_TIMEOUT_MS;
      try {
        while (this.#clock.now() < deadline) {
          const frame = await this.#reader.next(deadline - this.#clock.now(), "SYNC");
          const resp = decodeResponse(frame);
          if (!resp || resp.op !== Op.SYNC) continue;
          // The other seven replies, then quiet.
          for (let i = 0; i < 7; i++) {
            try {
              await this.#reader.next(SYNC_TIMEOUT_MS, "SYNC");
            } catch {
              break;
            }
          }
          await this.port.flushInput();
          this.#reader.clear();
          return resp.value === 0 ? "stub" : "rom";
        }
      } catch (e) {
        if (!(e instanceof TimeoutError)) throw e;
      }
    }
    return "none";
  }

  async #reply(
    op: number,
    timeoutMs: number,
    dataLength: number,
  ): Promise<{ value: number; data: Uint8Array }> {
    for (let skipped = 0; skipped < 100; skipped++) {
      const frame = await this.#reader.next(timeoutMs, opName(op));
      const resp = decodeResponse(frame);
      this.#trace?.(`RX ${toHex(frame.subarray(0, 40))}${frame.length > 40 ? "..." : ""}`);
      if (!resp || resp.op !== op) continue;
      return { value: resp.value, data: checkStatus(resp, dataLength) };
    }
    throw new ProtocolError(`no reply to ${opName(op)} among 100 frames`);
  }

  /** One SYNC; resolves with the reply values (8 expected). */
  async sync(): Promise<number[]> {
    const first = await this.command(Op.SYNC, SYNC_PAYLOAD, { timeoutMs: SYNC_TIMEOUT_MS });
    const values = [first.value];
    // The ROM answers a SYNC eight times; collect the rest so they do not linger.
    for (let i = 0; i < 7; i++) {
      try {
        values.push((await this.#reply(Op.SYNC, SYNC_TIMEOUT_MS, 0)).value);
      } catch (e) {
        if (e instanceof TimeoutError) break;
        throw e;
      }
    }
    return values;
  }

  /** READ_REG. */
  async readReg(addr: number): Promise<number> {
    return (await this.command(Op.READ_REG, words(addr), { retry: true })).value >>> 0;
  }

  /** WRITE_REG. */
  async writeReg(addr: number, value: number, mask = 0xffffffff, delayUs = 0): Promise<void> {
    await this.command(Op.WRITE_REG, words(addr, value, mask, delayUs), { retry: true });
  }

  /** GET_SECURITY_INFO, or null where the loader does not have it. */
  async securityInfo(): Promise<SecurityInfo | null> {
    const packet = encodeCommand(Op.GET_SECURITY_INFO, new Uint8Array());
    await this.#send(packet);
    for (let skipped = 0; skipped < 100; skipped++) {
      const resp = decodeResponse(await this.#reader.next(DEFAULT_TIMEOUT_MS, "GET_SECURITY_INFO"));
      if (!resp || resp.op !== Op.GET_SECURITY_INFO) continue;
      // 20 data bytes (12 on ESP32-S2), then 2 (stub) or 4 (ROM) status bytes.
      const len = resp.body.length >= 22 ? 20 : resp.body.length >= 14 ? 12 : 0;
      if (len === 0 || resp.body[len] !== 0) return null;
      const d = resp.body;
      return {
        flags: readU32(d, 0),
        flashCryptCnt: d[4],
        keyPurposes: Array.from(d.subarray(5, 12)),
        ...(len === 20 ? { chipId: readU32(d, 12), ecoVersion: readU32(d, 16) } : {}),
      };
    }
    throw new ProtocolError("no reply to GET_SECURITY_INFO among 100 frames");
  }

  /** Identifies the chip: security-info chip id, else the ROM magic word. */
  async detectChip(): Promise<ChipInfo> {
    const info = await this.securityInfo();
    this.#info = info;
    // An ESP32-S2 answers with 12 bytes (no chip id); in Secure Download Mode
    // it refuses READ_REG too, so the short reply alone says which chip it is.
    if (info && info.chipId === undefined && (info.flags & 4) !== 0) return CHIPS.esp32s2;
    if (info?.chipId !== undefined) {
      const c = chipByImageId(info.chipId);
      if (!c) throw new ConnectError(`unsupported chip: GET_SECURITY_INFO chip id ${info.chipId}`);
      return c;
    }
    const magic = await this.readReg(CHIP_DETECT_MAGIC_REG);
    const c = chipByMagic(magic);
    if (!c) {
      throw new ConnectError(
        `unknown chip: magic value ${hex(magic, 8)} at ${hex(CHIP_DETECT_MAGIC_REG)}`,
      );
    }
    return c;
  }

  /** The base MAC, 6 bytes. */
  async readMac(): Promise<number[]> {
    const m = this.#chip.mac;
    const addrs = m.kind === "efuse"
      ? [m.mac0, m.mac0 + 4]
      : m.kind === "esp32"
      ? [m.word1, m.word2]
      : [m.mac0, m.mac1, m.mac3];
    const values = new Map<number, number>();
    for (const a of addrs) values.set(a, await this.readReg(a));
    return macFromWords(m, (a) => values.get(a) ?? 0);
  }

  /** SPI_ATTACH with the default pins (the ESP8266 ROM attaches in FLASH_BEGIN). */
  async attach(): Promise<void> {
    if (!this.#stub && !this.#chip.rom.spiAttach) return;
    // The ROM takes a second word (is_legacy = 0); the stub only the pin word.
    await this.command(Op.SPI_ATTACH, this.#stub ? words(0) : words(0, 0), { retry: true });
  }

  /** SPI_SET_PARAMS: tells the loader the flash size. */
  async setFlashSize(bytes: number): Promise<void> {
    if (!this.#stub && !this.#chip.rom.spiAttach) return;
    await this.command(Op.SPI_SET_PARAMS, words(0, bytes, 0x10000, 0x1000, 0x100, 0xffff), {
      retry: true,
    });
  }

  /** JEDEC id via the SPI user-command registers (manufacturer in the low byte). */
  async flashId(): Promise<number> {
    const spi = this.#chip.spi;
    const reg = (o: number) => spi.base + o;
    const oldUsr = await this.readReg(reg(spi.usr));
    const oldUsr2 = await this.readReg(reg(spi.usr2));
    const readBits = 24;
    if (spi.misoDlen !== undefined) {
      await this.writeReg(reg(spi.misoDlen), readBits - 1);
    } else {
      await this.writeReg(reg(spi.usr1), (readBits - 1) << 8);
    }
    const USR_COMMAND = 1 << 31;
    const USR_MISO = 1 << 28;
    await this.writeReg(reg(spi.usr), (USR_COMMAND | USR_MISO) >>> 0);
    await this.writeReg(reg(spi.usr2), ((7 << 28) | 0x9f) >>> 0);
    await this.writeReg(reg(spi.w0), 0);
    const CMD_USR = 1 << 18;
    await this.writeReg(spi.base, CMD_USR);
    let done = false;
    for (let i = 0; i < 10 && !done; i++) done = ((await this.readReg(spi.base)) & CMD_USR) === 0;
    if (!done) throw new ProtocolError("SPI flash RDID command did not complete");
    const id = (await this.readReg(reg(spi.w0))) & 0xffffff;
    await this.writeReg(reg(spi.usr), oldUsr);
    await this.writeReg(reg(spi.usr2), oldUsr2);
    return id;
  }

  /** Flash size from the JEDEC id, when the id is known. */
  async detectFlashSize(): Promise<number | undefined> {
    return flashSizeFromJedec(await this.flashId());
  }

  /**
   * CHANGE_BAUDRATE, then switches the port. The ESP32 ROM computes its
   * divider from a drifting crystal estimate, so it is sent a corrected rate.
   */
  async changeBaud(baud: number): Promise<void> {
    if (!this.#stub && !this.#chip.rom.changeBaud) {
      throw new UnsupportedError(`${this.#chip.displayName} ROM cannot change baud; use the stub`);
    }
    let sent = baud;
    if (!this.#stub && (this.#chip.name === "esp32" || this.#chip.name === "esp32c2")) {
      const clkdiv = (await this.readReg(this.#chip.uartClkdivReg)) & 0xfffff;
      const estimate = clkdiv * this.port.baud / 1e6;
      if (this.#chip.name === "esp32") {
        const real = estimate > 33 ? 40 : 26;
        sent = Math.round(baud * estimate / real);
      } else if (estimate < 33) {
        // ESP32-C2 ROM assumes 40 MHz; with a 26 MHz crystal scale up.
        sent = Math.round(baud * 40 / 26);
      }
    }
    const old = this.#stub ? this.port.baud : 0;
    await this.command(Op.CHANGE_BAUDRATE, words(sent, old));
    await this.port.setBaud(baud);
    await this.#clock.sleep(50);
    await this.port.flushInput();
    this.#reader.clear();
  }

  /** Uploads a RAM program and starts it; for a stub, waits for its greeting. */
  async runStub(stub: StubImage): Promise<void> {
    for (
      const [data, addr] of [[stub.text, stub.textStart], [stub.data, stub.dataStart]] as const
    ) {
      if (data.length === 0) continue;
      const blocks = Math.ceil(data.length / Sizes.RAM_BLOCK);
      await this.command(Op.MEM_BEGIN, words(data.length, blocks, Sizes.RAM_BLOCK, addr));
      for (let seq = 0; seq < blocks; seq++) {
        const block = data.subarray(seq * Sizes.RAM_BLOCK, (seq + 1) * Sizes.RAM_BLOCK);
        await this.command(Op.MEM_DATA, encodeDataPayload(seq, block), { check: checksum(block) });
      }
    }
    await this.command(Op.MEM_END, words(stub.entry === 0 ? 1 : 0, stub.entry), {
      timeoutMs: this.#stub ? DEFAULT_TIMEOUT_MS : MEM_END_ROM_TIMEOUT_MS,
    });
    const greeting = await this.#reader.next(DEFAULT_TIMEOUT_MS, "the stub's greeting");
    if (!greeting.every((b, i) => b === STUB_GREETING[i]) || greeting.length !== 4) {
      throw new ProtocolError(`stub did not start: got ${toHex(greeting)} instead of OHAI`);
    }
    this.#stub = true;
  }

  /** Lower-case hex MD5 of `size` bytes of flash at `offset`. */
  async md5(offset: number, size: number): Promise<string> {
    if (!this.#stub && !this.#chip.rom.md5) {
      throw new UnsupportedError(
        `${this.#chip.displayName} ROM has no flash MD5 command; run with the stub`,
      );
    }
    const r = await this.command(Op.SPI_FLASH_MD5, words(offset, size, 0, 0), {
      timeoutMs: timeoutForSize(MD5_S_PER_MB, size),
      dataLength: this.#stub ? 16 : 32,
      retry: true,
    });
    return this.#stub ? toHex(r.data) : new TextDecoder().decode(r.data).toLowerCase();
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
      if (this.#chip.name === "esp8266") {
        throw new UnsupportedError("the ESP8266 has no flash encryption");
      }
      if (!this.#stub && !this.#chip.rom.beginEncryptedWord) {
        throw new UnsupportedError(
          `the ${this.#chip.displayName} ROM cannot write encrypted; run with the stub`,
        );
      }
      // The engine works on 16-byte blocks (32 on the ESP32): pad as esptool does.
      const unit = this.#chip.name === "esp32" ? 32 : 16;
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
        if (this.#recovering || !transient(e)) throw e;
        if (attempt >= OP_ATTEMPTS) throw this.#lost(`the write at ${hex(offset)}`, e);
        this.#trace?.(`write at ${hex(offset)}: ${(e as Error).message}; recovering, then again`);
        await this.recover();
      }
    }
  }

  async #writeOnce(
    offset: number,
    bytes: Uint8Array,
    options: WriteOptions,
    scale: number,
  ): Promise<WriteResult> {
    const canDeflate = (this.#stub || this.#chip.rom.compressedWrite) &&
      !this.#security?.secureDownload;
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
    const block = this.#stub ? Sizes.STUB_FLASH_BLOCK : Sizes.ROM_FLASH_BLOCK;
    const blocks = Math.max(1, Math.ceil(payload.length / block));
    const rom = !this.#stub;
    let size = bytes.length;
    if (rom && compressed) size = Math.ceil(size / block) * block;
    if (rom && this.#chip.name === "esp8266") size = esp8266EraseSize(offset, size);
    const begin = compressed ? Op.FLASH_DEFL_BEGIN : Op.FLASH_BEGIN;
    // The fifth word routes data through the encryption engine: ROMs after the
    // ESP32 always take it; the stub (v1.10+) only when encrypting.
    const encrypted = options.encrypt ? 1 : 0;
    const params = (rom && this.#chip.rom.beginEncryptedWord) || encrypted
      ? words(size, blocks, block, offset, encrypted)
      : words(size, blocks, block, offset);
    // The ROM erases the whole range before it answers; the stub erases as data arrives.
    await this.command(begin, params, {
      timeoutMs: scale *
        (rom ? timeoutForSize(ERASE_REGION_S_PER_MB, size) : DEFAULT_TIMEOUT_MS),
    });
    const dataOp = compressed ? Op.FLASH_DEFL_DATA : Op.FLASH_DATA;
    const perBlockRaw = Math.ceil(bytes.length / blocks);
    const blockTimeout = scale *
      (compressed
        ? (rom ? timeoutForSize(ERASE_WRITE_S_PER_MB, perBlockRaw) : stubBlockTimeout(perBlockRaw))
        : DEFAULT_TIMEOUT_MS);
    let sent = 0;
    for (let seq = 0; seq < blocks; seq++) {
      let chunk = payload.subarray(seq * block, (seq + 1) * block);
      if (!compressed && chunk.length < block) {
        // Raw blocks are always full: pad with erased-flash bytes.
        const padded = new Uint8Array(block).fill(0xff);
        padded.set(chunk);
        chunk = padded;
      }
      const body = encodeDataPayload(seq, chunk);
      const check = checksum(chunk);
      for (let attempt = 1;; attempt++) {
        try {
          await this.command(dataOp, body, { check, timeoutMs: blockTimeout });
          break;
        } catch (e) {
          // Refused for its checksum: the block was not taken, so it can go again.
          const refused = e instanceof DeviceError && (e.status === 0x0107 || e.status === 0xc100);
          if (!refused || attempt >= BLOCK_ATTEMPTS) throw e;
          this.#trace?.(`retrying block ${seq} (${(e as Error).message})`);
        }
      }
      sent += chunk.length;
      options.onProgress?.(
        Math.min(bytes.length, Math.round((seq + 1) / blocks * bytes.length)),
        bytes.length,
      );
    }
    if (this.#stub) {
      // Flushes the stub's buffered writes and reports any deferred error.
      await this.command(compressed ? Op.FLASH_DEFL_END : Op.FLASH_END, words(1), {
        timeoutMs: scale *
          (timeoutForSize(ERASE_WRITE_S_PER_MB, 0x10000) + DEFAULT_TIMEOUT_MS),
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
    if (this.#stub) {
      const packetSize = 0x1000;
      await this.command(Op.READ_FLASH, words(offset, size, packetSize, 64));
      let got = 0;
      while (got < size) {
        const frame = await this.#reader.next(DEFAULT_TIMEOUT_MS, "READ_FLASH data");
        if (got + frame.length > size || (frame.length < packetSize && got + frame.length < size)) {
          throw new ProtocolError(
            `READ_FLASH: unexpected ${frame.length}-byte packet at ${got} of ${size}`,
          );
        }
        out.set(frame, got);
        got += frame.length;
        await this.#send(words(got));
        onProgress?.(got, size);
      }
      const digest = await this.#reader.next(DEFAULT_TIMEOUT_MS, "READ_FLASH digest");
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
      const r = await this.command(Op.READ_FLASH_SLOW, words(offset + at, n), { dataLength: 64 });
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
    if (this.#stub) {
      await this.command(Op.ERASE_REGION, words(offset, size), { timeoutMs, retry: true });
      return;
    }
    const eraseSize = this.#chip.name === "esp8266" ? esp8266EraseSize(offset, size) : size;
    const params = this.#chip.rom.beginEncryptedWord
      ? words(eraseSize, 0, Sizes.ROM_FLASH_BLOCK, offset, 0)
      : words(eraseSize, 0, Sizes.ROM_FLASH_BLOCK, offset);
    await this.command(Op.FLASH_BEGIN, params, { timeoutMs, retry: true });
  }

  /** Erases the whole flash (stub only). */
  async eraseFlash(): Promise<void> {
    if (!this.#stub) {
      throw new UnsupportedError("the ROM loader cannot erase the whole chip; run with the stub");
    }
    await this.command(Op.ERASE_FLASH, new Uint8Array(), { timeoutMs: CHIP_ERASE_TIMEOUT_MS });
  }

  /**
   * Resets the chip into its app by pulsing EN. Ports without modem lines
   * (a pty, a raw socket) cannot reset; the chip stays in the loader.
   * Returns whether a reset was sent.
   */
  async hardReset(): Promise<boolean> {
    if (!this.port.hasModemLines) return false;
    await runSequence(this.port, hardResetSteps(), (ms) => this.#clock.sleep(ms));
    return true;
  }

  /**
   * Resets through the RTC watchdog (esptool's watchdog reset): a full chip
   * reset that re-samples the strap pins, for ports that cannot pulse EN
   * (USB-Serial/JTAG). Not available on the ESP8266 and ESP32.
   */
  async watchdogReset(): Promise<void> {
    const wdt = this.#chip.rtcWdt;
    if (!wdt) {
      throw new UnsupportedError(
        `watchdog reset is not supported on ${this.#chip.displayName}; use --after hard-reset`,
      );
    }
    await this.writeReg(wdt.wprotect, RTC_WDT_WKEY);
    await this.writeReg(wdt.config1, 2000);
    await this.writeReg(wdt.config0, ((1 << 31) | (5 << 28) | (1 << 8) | 2) >>> 0);
    await this.writeReg(wdt.wprotect, 0);
    await this.#clock.sleep(500);
  }

  /**
   * Soft reset: run the app without a reset line. The ESP8266 stub runs it
   * directly; the ESP8266 ROM leaves its loader for the app; other chips
   * cannot (as in esptool).
   */
  async softReset(): Promise<void> {
    if (this.#chip.name !== "esp8266") {
      throw new UnsupportedError(
        `soft reset is only supported on the ESP8266; use --after hard-reset or watchdog-reset`,
      );
    }
    if (this.#stub) {
      await this.#send(encodeCommand(Op.RUN_USER_CODE, new Uint8Array()));
      return;
    }
    await this.command(Op.FLASH_BEGIN, words(0, 0, Sizes.ROM_FLASH_BLOCK, 0));
    await this.command(Op.FLASH_END, words(1));
  }

  /**
   * What to do at the end of a session, by esptool v5's `--after` names.
   * Returns a note for the user when the port could not reset the chip.
   */
  async after(mode: AfterReset): Promise<string | undefined> {
    switch (mode) {
      case "hard-reset":
        return (await this.hardReset())
          ? undefined
          : `${this.port.path} has no reset lines; the chip stays in its loader`;
      case "soft-reset":
        await this.softReset();
        return undefined;
      case "watchdog-reset":
        await this.watchdogReset();
        return undefined;
      case "no-reset":
      case "no-reset-stub":
        return undefined;
    }
  }

  /** Ends the session (the caller owns and closes the port). */
  close(): Promise<void> {
    this.#reader.clear();
    return Promise.resolve();
  }
}

/**
 * Connects: resets into the download mode (cycling esptool's strategies),
 * syncs, identifies the chip, starts the stub if given, raises the baud rate
 * and attaches the flash.
 *
 * @example
 * ```ts
 * import { connect } from "./loader.ts";
 * import { memoryPort } from "../emulator/memory.ts";
 * import { VirtualDevice } from "../emulator/device.ts";
 * const port = memoryPort(new VirtualDevice({ chip: "esp32c3" }));
 * const loader = await connect(port);
 * console.log(loader.chip.displayName); // ESP32-C3
 * await port.close();
 * ```
 */
export async function connect(port: Port, options: ConnectOptions = {}): Promise<Loader> {
  const loader = new Loader(port, CHIPS[options.chip ?? "esp32"], {
    clock: options.clock,
    trace: options.trace,
  });
  loader._remember(options);
  await establish(loader, port, options);
  return loader;
}

/** Reset, sync, detect, stub, baud, attach: connecting, and reconnecting after a lost link. */
async function establish(loader: Loader, port: Port, options: ConnectOptions): Promise<void> {
  const clock = options.clock ?? realClock;
  const attempts = options.attempts ?? 7;
  const reset = options.reset ?? "default-reset";
  let strategies: (ResetStrategy | { name: string; fn: ResetFn })[] = [];
  if (typeof reset === "function") strategies = [{ name: "custom", fn: reset }];
  else if (reset === "default-reset" && port.hasModemLines) strategies = defaultStrategies();
  else if (reset === "usb-reset" && port.hasModemLines) {
    strategies = defaultStrategies({ usbJtag: true });
  } else {strategies = [{
      name: reset === "default-reset" || reset === "usb-reset"
        ? "none (port has no reset lines)"
        : reset,
      steps: [],
    }];}

  let synced: number[] | undefined;
  let lastError: unknown;
  let bootText = "";
  if (reset !== "no-reset-no-sync") {
    for (let attempt = 0; attempt < attempts && !synced; attempt++) {
      const s = strategies[attempt % strategies.length];
      if ("fn" in s) await s.fn(port);
      else if (s.steps.length > 0) await runSequence(port, s.steps, (ms) => clock.sleep(ms));
      await port.flushInput();
      loader.reader.clear();
      for (let tries = 0; tries < 5 && !synced; tries++) {
        try {
          synced = await loader.sync();
          options.onReset?.(s.name);
        } catch (e) {
          lastError = e;
          bootText += loader.reader.takeNoise();
          await clock.sleep(50);
        }
      }
    }
    if (!synced) {
      const boot = /boot:(0x[0-9a-fA-F]+)([^\r\n]*)/.exec(bootText);
      const hint = boot && !/download/i.test(boot[2])
        ? ` The chip printed boot mode ${boot[1]}${
          boot[2]
        }: it is not in download mode; hold BOOT and reset.`
        : "";
      throw new ConnectError(
        `failed to connect to the device on ${port.path}: no reply to SYNC after ${attempts} ` +
          `attempts (${(lastError as Error)?.message ?? "no response"}).${hint}`,
      );
    }
    // The stub answers SYNC with value 0; every ROM with a non-zero value.
    if (synced.every((v) => v === 0)) loader._setStub(true);
  }

  const detected = await loader.detectChip();
  if (options.chip && options.chip !== detected.name) {
    throw new ConnectError(
      `this chip is ${detected.displayName}, not ${CHIPS[options.chip].displayName}; ` +
        `use --chip ${detected.name} or --chip auto`,
      "WRONG_CHIP",
    );
  }
  loader._setChip(detected);
  const security = await loader.readSecurity();
  if (security?.secureDownload && options.stub) {
    options.trace?.("Secure Download Mode: no stub, plain writes only");
  }
  if (options.stub && !loader.isStub && !security?.secureDownload) {
    const stub = typeof options.stub === "function" ? await options.stub(detected) : options.stub;
    if (stub) await loader.runStub(stub);
  }
  if (options.baud && options.baud > port.baud && (loader.isStub || detected.rom.changeBaud)) {
    await loader.changeBaud(options.baud);
  }
  await loader.attach();
}

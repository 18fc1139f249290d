/**
 * The current esptool flasher stub, esp-flasher-stub (the stub of esptool
 * v5 and esptool-js 0.7.0), modelled from its source
 * (https://github.com/espressif/esp-flasher-stub, `src/command_handler.c`,
 * `slip.c`, `frame_buffer.c` as of v1.1.0 and the later versions read, and
 * esp-stub-lib's `src/flash.c`): where it differs from the legacy stub
 * (stub.ts), which is where clients trip.
 *
 * - Replies carry a 16-bit big-endian status: `C0 00` bad length, `C1`
 *   checksum, `C3` invalid command, `C4` SPI operation failed, `C6` not in
 *   flash/RAM mode, `C7` inflate, `C8` not enough data, `C9` too much data,
 *   `FF 00` not implemented. The size field is always data + 2 (14 or 22 for
 *   GET_SECURITY_INFO, 18 for MD5). Every length check gives the handler's
 *   own code, never the legacy stub's `01 00`: a misaligned ERASE_REGION is
 *   `C0 00`, an 8-byte SPI_ATTACH `C0 00`.
 * - A frame whose size field disagrees with its length is `C0 00`; a frame
 *   not marked as a request `C3 00`. Opcodes it lacks: `C3 00`, including
 *   FLASH_ENCRYPT_DATA (D4); plugin opcodes D5-EF `FF 00` (no plugin loaded).
 * - FLASH_DATA, FLASH_DEFL_DATA, MEM_END, CHANGE_BAUDRATE and READ_FLASH
 *   are acknowledged first and acted on afterwards; an error of that work is
 *   the reply to the next command, which is then not executed.
 * - FLASH_DATA: a length word other than the data is `C9 00`, a short frame
 *   `C8 00`; data past the announced size is dropped. FLASH_END with data
 *   still missing is `C0 00`. FLASH_END never reboots (the stub leaves that
 *   to the reset lines).
 * - Erasing is lazy, one sector or block at a time ahead of the writes, and
 *   (except on the ESP8266) sectors that read back blank are skipped until
 *   the first one that is not. An erase is started without waiting for it
 *   (esp-stub-lib's `stub_lib_flash_start_next_erase`, zero timeout), and
 *   only when the flash is idle: at FLASH_BEGIN, at each decompression
 *   round, and in a loop before each write until the erases reach the
 *   data; the write then waits for the flash. So an erase started late in a
 *   block runs on while the next block arrives (flash_bus.ts times it).
 * - The flash size it believes comes from the JEDEC id's capacity byte
 *   (16 MiB, or the chip's maximum, for an unknown one), not a fixed 16 MiB;
 *   reads, MD5 and writes past it fail with `C4 00`.
 * - READ_FLASH keeps one packet in flight whatever the host asks, and a
 *   packet over 4096 bytes fails (after the acknowledgement).
 * - CHANGE_BAUDRATE sets the rate in the first word; the second is unused.
 * - MEM_END starts the program only when its first word is 0; MEM_DATA is
 *   not checksummed. RUN_USER_CODE does nothing and sends nothing.
 * - SLIP: an invalid escape or a frame longer than its 16 647-byte buffer
 *   drops the frame (the legacy stub cuts it).
 * - Inflated output beyond the erased area (more than FLASH_DEFL_BEGIN
 *   announced, past its last sector) leaves the stub spinning in its erase
 *   loop: it never answers again.
 * @module
 */

import { checksum } from "../protocol/packet.ts";
import { concat, readU16, readU32, writeU32 } from "../protocol/bytes.ts";
import { Op } from "../protocol/opcodes.ts";
import type { DeviceCore } from "./core.ts";
import { ZlibInflater } from "./inflate.ts";
import { securityInfo } from "./rom.ts";
import { createHash, type Hash } from "node:crypto";

/** esp-flasher-stub status codes (both bytes, big-endian). */
export const FlasherErr = {
  BAD_DATA_LEN: 0xc000,
  BAD_DATA_CHECKSUM: 0xc100,
  BAD_BLOCKSIZE: 0xc200,
  INVALID_COMMAND: 0xc300,
  FAILED_SPI_OP: 0xc400,
  NOT_IN_FLASH_MODE: 0xc600,
  INFLATE_ERROR: 0xc700,
  NOT_ENOUGH_DATA: 0xc800,
  TOO_MUCH_DATA: 0xc900,
  CMD_NOT_IMPLEMENTED: 0xff00,
} as const;

/** Its two receive buffers: 8-byte header, a 16 KiB block and slack. */
export const FLASHER_FRAME_LIMIT: number = 8 + 0x4000 + 0xff;

const SECTOR = 0x1000;
const BLOCK = 0x10000;
const OUT_BUF = 32768;
const MB = 1024 * 1024;

/** The flash size the stub assumes for a JEDEC id whose capacity byte it does not know. */
function maxFlashSize(chip: string): number {
  if (chip === "esp32s3") return 1024 * MB;
  if (chip === "esp32p4") return 64 * MB;
  if (chip === "esp32c5") return 32 * MB;
  return 16 * MB;
}

interface FlashState {
  inProgress: boolean;
  totalRemaining: number;
  offset: number;
  compressed: boolean;
  encrypt: boolean;
  nextErase: number;
  eraseRemaining: number;
  inflater?: ZlibInflater;
  out: Uint8Array[];
  outLength: number;
}

interface ReadState {
  offset: number;
  remaining: number;
  size: number;
  packetSize: number;
  sent: number;
  acked: number;
  ackedBytes: number;
  md5: Hash;
}

/** The running esp-flasher-stub's command handling. */
export class FlasherStubLoader {
  readonly #core: DeviceCore;
  #flash: FlashState = FlasherStubLoader.#idle();
  #mem = { inProgress: false, remaining: 0, offset: 0 };
  #dirtySeen = false;
  /** The error of the last post-processing step, reported instead of the next command. */
  #accumulated = 0;
  #read: ReadState | undefined;
  /** Spinning in s_ensure_flash_erased_to (output past the erased area): deaf until reset. */
  #hung = false;

  static #idle(): FlashState {
    return {
      inProgress: false,
      totalRemaining: 0,
      offset: 0,
      compressed: false,
      encrypt: false,
      nextErase: 0,
      eraseRemaining: 0,
      out: [],
      outLength: 0,
    };
  }

  /** The stub just started: it attached the flash and sized it from the JEDEC id. */
  constructor(core: DeviceCore) {
    this.#core = core;
    core.regs.attach();
    const capacity = (core.bus.flash.jedecId >> 16) & 0xff;
    const known = (capacity >= 0x12 && capacity <= 0x1c) || capacity === 0x39;
    core.bus.limit = known
      ? (capacity === 0x39 ? 32 * MB : 2 ** capacity)
      : maxFlashSize(core.chip.name);
  }

  /** Its receive buffer; a longer frame is dropped. */
  get frameLimit(): number {
    return FLASHER_FRAME_LIMIT;
  }

  /** Handles one received SLIP frame. */
  frame(frame: Uint8Array): void {
    if (this.#hung) return;
    if (this.#read) return this.#readAck(frame);
    const op = frame.length > 1 ? frame[1] : 0;
    const size = frame.length >= 4 ? readU16(frame, 2) : -1;
    if (frame[0] !== 0x00) return this.#send(op, FlasherErr.INVALID_COMMAND);
    if (frame.length < 8 || frame.length !== size + 8) {
      return this.#send(op, FlasherErr.BAD_DATA_LEN);
    }
    if (this.#accumulated) {
      const error = this.#accumulated;
      this.#accumulated = 0;
      return this.#send(op, error);
    }
    this.#command(op, frame.subarray(8), readU32(frame, 4));
  }

  #command(op: number, data: Uint8Array, check: number): void {
    const core = this.#core;
    const len = data.length;
    const word = (i: number) => (len >= (i + 1) * 4 ? readU32(data, i * 4) : 0);
    let error = 0;
    let value = 0;
    let body: Uint8Array = new Uint8Array();
    let after: (() => number) | undefined;
    switch (op) {
      case Op.SYNC:
        if (len !== 36) {
          error = FlasherErr.BAD_DATA_LEN;
          break;
        }
        // Seven here, the eighth as the command's own reply; all with value 0.
        for (let i = 0; i < 7; i++) this.#packet(op, 0, new Uint8Array(), 0);
        break;
      case Op.FLASH_BEGIN:
      case Op.FLASH_DEFL_BEGIN:
        error = this.#flashBegin(op === Op.FLASH_DEFL_BEGIN, data);
        break;
      case Op.FLASH_DATA:
        if (len < 16) error = FlasherErr.NOT_ENOUGH_DATA;
        else if (!this.#flash.inProgress) error = FlasherErr.NOT_IN_FLASH_MODE;
        else if (word(0) !== len - 16) error = FlasherErr.TOO_MUCH_DATA;
        else if (checksum(data.subarray(16)) !== check) error = FlasherErr.BAD_DATA_CHECKSUM;
        else {
          const block = data.slice(16);
          after = () =>
            this.#write(block.subarray(0, Math.min(block.length, this.#flash.totalRemaining)));
        }
        break;
      case Op.FLASH_DEFL_DATA: {
        if (len < 16) error = FlasherErr.BAD_DATA_LEN;
        else if (!this.#flash.inProgress) error = FlasherErr.NOT_IN_FLASH_MODE;
        else {
          // The length word, not the frame, says how much is checksummed and inflated.
          const stream = data.slice(16, 16 + word(0));
          if (checksum(stream) !== check) error = FlasherErr.BAD_DATA_CHECKSUM;
          else after = () => this.#inflate(stream);
        }
        break;
      }
      case Op.FLASH_END:
      case Op.FLASH_DEFL_END:
        if (len !== 4) error = FlasherErr.BAD_DATA_LEN;
        else if (!this.#flash.inProgress) error = FlasherErr.NOT_IN_FLASH_MODE;
        else if (this.#flash.totalRemaining !== 0) error = FlasherErr.BAD_DATA_LEN;
        else this.#flash = FlasherStubLoader.#idle();
        break;
      case Op.MEM_BEGIN:
        if (len !== 16) error = FlasherErr.BAD_DATA_LEN;
        else this.#mem = { inProgress: true, remaining: word(0), offset: word(3) };
        break;
      case Op.MEM_DATA: {
        const m = this.#mem;
        if (len < 16) error = FlasherErr.NOT_ENOUGH_DATA;
        else if (!m.inProgress) error = FlasherErr.NOT_IN_FLASH_MODE;
        else if (m.remaining < word(0) || word(0) !== len - 16) error = FlasherErr.TOO_MUCH_DATA;
        else {
          core.ramWrite(m.offset, data.slice(16));
          m.offset += len - 16;
          m.remaining -= len - 16;
        }
        break;
      }
      case Op.MEM_END:
        if (len !== 8) error = FlasherErr.BAD_DATA_LEN;
        else if (!this.#mem.inProgress) error = FlasherErr.NOT_IN_FLASH_MODE;
        else {
          this.#mem = { inProgress: false, remaining: 0, offset: 0 };
          const run = word(0) === 0;
          const entry = word(1);
          after = () => {
            if (run) core.jump(entry);
            return 0;
          };
        }
        break;
      case Op.WRITE_REG:
        if (len === 0 || len % 16 !== 0) error = FlasherErr.NOT_ENOUGH_DATA;
        for (let i = 0; !error && i < len; i += 16) {
          core.regs.write(readU32(data, i), readU32(data, i + 4), readU32(data, i + 8));
        }
        break;
      case Op.READ_REG:
        if (len !== 4) error = FlasherErr.BAD_DATA_LEN;
        else value = core.regs.read(word(0));
        break;
      case Op.SPI_ATTACH:
        if (len !== 4) error = FlasherErr.BAD_DATA_LEN;
        else core.regs.attach();
        break;
      case Op.SPI_SET_PARAMS:
        if (len !== 24) error = FlasherErr.BAD_DATA_LEN;
        else core.bus.limit = word(1);
        break;
      case Op.CHANGE_BAUDRATE:
        if (len !== 8) error = FlasherErr.BAD_DATA_LEN;
        else {
          after = () => {
            core.setBaud(word(0));
            return 0;
          };
        }
        break;
      case Op.SPI_FLASH_MD5:
        if (len !== 16) error = FlasherErr.BAD_DATA_LEN;
        else if (!this.#readable(word(0), word(1))) error = FlasherErr.FAILED_SPI_OP;
        else body = core.bus.md5(word(0), word(1));
        break;
      case Op.GET_SECURITY_INFO:
        if (len !== 0) error = FlasherErr.BAD_DATA_LEN;
        else if (core.chip.rom.securityInfo === "none") error = FlasherErr.CMD_NOT_IMPLEMENTED;
        else body = securityInfo(core);
        break;
      case Op.READ_FLASH:
        if (len !== 16) error = FlasherErr.BAD_DATA_LEN;
        else after = () => this.#startRead(word(0), word(1), word(2));
        break;
      case Op.ERASE_FLASH:
        core.bus.eraseChip();
        break;
      case Op.ERASE_REGION:
        if (len !== 8 || word(0) % SECTOR !== 0 || word(1) % SECTOR !== 0) {
          error = FlasherErr.BAD_DATA_LEN;
        } else {
          // Starts each erase as soon as the flash is idle, then waits for the last.
          const region = { next: word(0), remaining: word(1) };
          while (region.remaining > 0) if (!this.#eraseNext(region)) core.bus.waitIdle();
          core.bus.waitIdle();
        }
        break;
      case Op.RUN_USER_CODE:
        // Not implemented by the stub: no reply, nothing happens.
        core.record(op, 0);
        return;
      default:
        error = op >= 0xd5 && op <= 0xef
          ? FlasherErr.CMD_NOT_IMPLEMENTED
          : FlasherErr.INVALID_COMMAND;
    }
    if (error) return this.#send(op, error);
    this.#packet(op, value, body, 0);
    core.record(op, 0);
    if (after) core.afterReply(() => this.#accumulated = after!());
  }

  #send(op: number, error: number): void {
    this.#core.record(op, error);
    this.#packet(op, 0, new Uint8Array(), error);
  }

  #packet(op: number, value: number, body: Uint8Array, status: number): void {
    const p = new Uint8Array(8 + body.length + 2);
    p[0] = 0x01;
    p[1] = op;
    p[2] = (body.length + 2) & 0xff;
    p[3] = (body.length + 2) >> 8;
    writeU32(p, 4, value);
    p.set(body, 8);
    p[8 + body.length] = status >> 8;
    p[9 + body.length] = status & 0xff;
    this.#core.sendPacket(p);
  }

  /** The ROM read routine's check: the 4-byte-aligned span must lie inside the believed size. */
  #readable(addr: number, length: number): boolean {
    if (length === 0) return true;
    const start = addr - (addr % 4);
    const end = Math.ceil((addr + length) / 4) * 4;
    return this.#core.bus.fits(start, end - start);
  }

  // ------------------------------------------------------------- erase

  /**
   * stub_lib_flash_start_next_erase: when the flash is idle, starts a 64 KiB
   * block erase when aligned with one left, else a sector erase, and returns
   * without waiting; when it is still busy, starts nothing (its zero timeout
   * runs out, which the callers take as success). Says whether it started.
   */
  #eraseNext(e: { next: number; remaining: number }): boolean {
    const bus = this.#core.bus;
    if (bus.busy()) return false;
    if (e.remaining >= BLOCK && e.next % BLOCK === 0) {
      bus.startEraseBlock(e.next);
      e.next += BLOCK;
      e.remaining -= BLOCK;
    } else {
      bus.startEraseSector(e.next);
      e.next += SECTOR;
      e.remaining = Math.max(0, e.remaining - SECTOR);
    }
    return true;
  }

  /**
   * One conditional erase: skip a blank sector until a non-blank one has
   * been seen (the blank check reads, so it waits for the flash), else start
   * the next erase if the flash is idle (s_conditional_erase_next).
   */
  #conditionalErase(): number {
    const f = this.#flash;
    if (f.eraseRemaining === 0) return 0;
    if (!this.#dirtySeen && this.#core.chip.name !== "esp8266") {
      if (!this.#readable(f.nextErase, SECTOR)) return FlasherErr.FAILED_SPI_OP;
      const blank = this.#core.bus.read(f.nextErase, SECTOR).every((b) => b === 0xff);
      if (blank) {
        f.nextErase += SECTOR;
        f.eraseRemaining -= Math.min(f.eraseRemaining, SECTOR);
        return 0;
      }
      this.#dirtySeen = true;
    }
    const e = { next: f.nextErase, remaining: f.eraseRemaining };
    this.#eraseNext(e);
    f.nextErase = e.next;
    f.eraseRemaining = e.remaining;
    return 0;
  }

  // ------------------------------------------------------------- write

  #flashBegin(compressed: boolean, data: Uint8Array): number {
    if (data.length !== 16 && data.length !== 20) return FlasherErr.BAD_DATA_LEN;
    const [total, , , offset] = [0, 4, 8, 12].map((o) => readU32(data, o));
    const f = FlasherStubLoader.#idle();
    f.inProgress = true;
    f.totalRemaining = total;
    f.offset = offset;
    f.compressed = compressed;
    f.encrypt = data.length === 20 && readU32(data, 16) !== 0;
    if (compressed) f.inflater = new ZlibInflater((chunk) => this.#collect(chunk));
    const start = offset - (offset % SECTOR);
    f.nextErase = start;
    f.eraseRemaining = Math.ceil((offset + total) / SECTOR) * SECTOR - start;
    this.#flash = f;
    this.#dirtySeen = false;
    return this.#conditionalErase();
  }

  /** s_write_flash_data: erase ahead up to the end of the data, then program it. */
  #write(bytes: Uint8Array): number {
    const f = this.#flash;
    const core = this.#core;
    while (f.nextErase < f.offset + bytes.length) {
      // Nothing left to erase but the data goes further: the stub's loop never ends.
      if (f.eraseRemaining === 0) {
        this.#hung = true;
        return 0;
      }
      // s_ensure_flash_erased_to spins until each erase up to the data has started.
      if (this.#core.bus.busy()) this.#core.bus.waitIdle();
      const error = this.#conditionalErase();
      if (error) return error;
    }
    if (bytes.length > 0) {
      if (f.encrypt) {
        const align = core.chip.encryptionBlock ?? 16;
        const crypt = core.crypt;
        if (!crypt || f.offset % align !== 0 || bytes.length % align !== 0) {
          return FlasherErr.FAILED_SPI_OP;
        }
        if (!core.bus.fits(f.offset, bytes.length)) return FlasherErr.FAILED_SPI_OP;
        core.bus.write(f.offset, crypt.apply(f.offset, bytes));
      } else {
        if (!this.#readable(f.offset, bytes.length)) return FlasherErr.FAILED_SPI_OP;
        core.bus.write(f.offset, bytes);
      }
    }
    // The remaining count is unsigned: more inflated output than announced wraps it.
    f.totalRemaining = (f.totalRemaining - bytes.length) >>> 0;
    f.offset += bytes.length;
    return 0;
  }

  #collect(chunk: Uint8Array): void {
    this.#flash.out.push(chunk);
    this.#flash.outLength += chunk.length;
  }

  /** Takes `n` bytes off the front of the inflated output. */
  #takeOut(n: number): Uint8Array {
    const f = this.#flash;
    const all = concat(...f.out);
    f.out = n < all.length ? [all.subarray(n)] : [];
    f.outLength = all.length - n;
    return all.subarray(0, n);
  }

  /**
   * The FLASH_DEFL_DATA post-process: inflate into the 32 KiB dictionary,
   * one conditional erase per round, a write whenever it fills and when the
   * stream ends. Data after the end of the stream is ignored.
   */
  #inflate(input: Uint8Array): number {
    const f = this.#flash;
    const z = f.inflater!;
    // Read through a function: TypeScript cannot see push() change the status.
    const status = () => z.status;
    if (input.length === 0) return 0;
    let error = this.#conditionalErase();
    if (error) return error;
    // tinfl answers a finished stream with DONE, a failed one with its failure, every time.
    if (status() !== "more") return status() === "error" ? FlasherErr.INFLATE_ERROR : 0;
    for (let at = 0; at < input.length && status() === "more"; at += 256) {
      z.push(input.subarray(at, at + 256));
      while (f.outLength >= OUT_BUF) {
        error = this.#write(this.#takeOut(OUT_BUF)) || this.#conditionalErase();
        if (error) return error;
      }
    }
    if (status() === "error") return FlasherErr.INFLATE_ERROR;
    if (status() === "done" && f.outLength > 0) return this.#write(this.#takeOut(f.outLength));
    return 0;
  }

  // ------------------------------------------------------------- read

  #startRead(offset: number, size: number, packetSize: number): number {
    if (packetSize > 4096) return FlasherErr.BAD_DATA_LEN;
    this.#read = {
      offset,
      remaining: size,
      size,
      packetSize,
      sent: 0,
      acked: 0,
      ackedBytes: 0,
      md5: createHash("md5"),
    };
    return this.#pumpRead();
  }

  /** Sends the next packet when none is in flight; ends with the digest once all is acknowledged. */
  #pumpRead(): number {
    const r = this.#read!;
    if (r.remaining === 0 && r.ackedBytes >= r.size) return this.#endRead();
    if (r.remaining > 0 && r.sent - r.acked < 1) {
      const n = Math.min(r.remaining, r.packetSize);
      if (!this.#readable(r.offset, n)) {
        this.#read = undefined;
        return FlasherErr.FAILED_SPI_OP;
      }
      const chunk = this.#core.bus.read(r.offset, n);
      r.md5.update(chunk);
      this.#core.sendPacket(chunk);
      r.offset += n;
      r.remaining -= n;
      r.sent++;
    }
    return 0;
  }

  #readAck(frame: Uint8Array): void {
    const r = this.#read!;
    // An acknowledgement is exactly 4 bytes; anything else ends the transfer.
    if (frame.length !== 4) {
      this.#endRead();
      return;
    }
    r.ackedBytes = readU32(frame, 0);
    r.acked++;
    this.#accumulated = this.#pumpRead() || this.#accumulated;
  }

  #endRead(): number {
    const r = this.#read!;
    this.#read = undefined;
    this.#core.sendPacket(new Uint8Array(r.md5.digest()));
    return 0;
  }
}

/**
 * The legacy esptool flasher stub (esptool-legacy-flasher-stub v1.10/1.11,
 * the stub of esptool v4.x, kept as set 1 in esptool v5; known_stubs.ts
 * lists the binaries), modelled from its C source:
 * `stub_flasher.c` (command loop), `stub_write_flash.c` (just-in-time erase,
 * deferred errors, streaming inflate), `stub_commands.c` (erase, MD5, read).
 *
 * Faithful quirks worth knowing:
 * - Replies are `[error, status]`; the size field is 2, 18 for MD5 and the
 *   data length alone (12 or 20) for GET_SECURITY_INFO.
 * - Several handlers are written `error = verify_data_len(...) || handler(...)`
 *   in C, which yields 1, not the handler's code: a wrong payload length or
 *   failure of GET_SECURITY_INFO, ERASE_FLASH, ERASE_REGION (e.g. not
 *   sector-aligned), SPI_FLASH_MD5, SPI_SET_PARAMS, SPI_ATTACH, MEM_BEGIN and
 *   MEM_END is reported as status `01 00`.
 * - SYNC is answered 8 times with value 0; its content is not checked.
 * - The size field is trusted, not the frame length (missing bytes read as
 *   0 here; the real stub would read stale buffer bytes). A size over
 *   0x4010 is answered `C0 EE`; a frame over 0x4040 bytes is cut there and
 *   the rest handled as a frame of its own, as the stub's buffer does.
 * - FLASH_DATA / FLASH_DEFL_DATA are acknowledged before they are written;
 *   a write or inflate error sticks and is reported by every later data
 *   reply and by FLASH_END (the block that carries an error is not written).
 *   Sequence numbers are not checked. Raw data past the announced size is
 *   dropped silently; compressed data after the output is complete is
 *   TOO_MUCH_DATA (0xC9) when a block has more than 4 bytes.
 * - MEM_DATA checksums are not checked.
 * - READ_FLASH compares in-flight bytes with `max_in_flight` (a packet
 *   count), so with 4 KiB packets one packet is in flight; packets over
 *   4 KiB send nothing at all, a packet size of 0 hangs the stub.
 * - Unknown opcodes: 0xFF. FLASH_ENCRYPT_DATA (not on ESP8266) is checked
 *   like FLASH_DATA and written through the chip's encryption engine, as is
 *   everything after a FLASH_(DEFL_)BEGIN with the `encrypted` word set
 *   (v1.10+); on a chip without a burned key both fail with 0xC4.
 * @module
 */

import { checksum } from "../protocol/packet.ts";
import { concat, readU16, readU32, writeU32 } from "../protocol/bytes.ts";
import { Op } from "../protocol/opcodes.ts";
import { StubErrorCode } from "../protocol/errors.ts";
import type { DeviceCore } from "./core.ts";
import { ZlibInflater } from "./inflate.ts";
import { securityInfo } from "./rom.ts";
import { createHash, type Hash } from "node:crypto";

/**
 * Stub error codes (first status byte): the protocol's, and what `a || b`
 * in the stub's C yields for any failure of a combined check.
 */
export const StubErr = { COMBINED: 0x01, ...StubErrorCode } as const;

const MAX_WRITE_BLOCK = 0x4000;
const SECTOR = 0x1000;
const OUT_BUF = 32768;

/** The stub's receive buffer: a longer frame is cut here. */
export const STUB_FRAME_LIMIT: number = MAX_WRITE_BLOCK + 64;

interface WriteState {
  inFlashMode: boolean;
  nextWrite: number;
  nextEraseSector: number;
  remaining: number;
  remainingEraseSectors: number;
  lastError: number;
  encrypt: boolean;
  inflater?: ZlibInflater;
  out: Uint8Array[];
  outLength: number;
}

interface ReadStream {
  addr: number;
  length: number;
  packetSize: number;
  maxInFlight: number;
  sent: number;
  acked: number;
  md5: Hash;
}

/** The running flasher stub's command handling. */
export class StubLoader {
  readonly #core: DeviceCore;
  readonly #fs: WriteState = {
    inFlashMode: false,
    nextWrite: 0,
    nextEraseSector: 0,
    remaining: 0,
    remainingEraseSectors: 0,
    lastError: 0,
    encrypt: false,
    out: [],
    outLength: 0,
  };
  #mem: { addr: number; size: number; remaining: number; active: boolean } = {
    addr: 0,
    size: 0,
    remaining: 0,
    active: false,
  };
  #read: ReadStream | undefined;
  #hung = false;

  /** The stub just started: it has attached the flash and set a 16 MiB (or 64 MiB) size. */
  constructor(core: DeviceCore) {
    this.#core = core;
    core.regs.attach();
    const large = ["esp32s3", "esp32p4", "esp32c5"].includes(core.chip.name);
    core.bus.limit = (large ? 64 : 16) * 1024 * 1024;
  }

  /** Largest frame the stub's buffer holds before it cuts it. */
  get frameLimit(): number {
    return this.#read ? Infinity : STUB_FRAME_LIMIT;
  }

  /** Handles one received SLIP frame. */
  frame(frame: Uint8Array): void {
    if (this.#hung) return;
    if (this.#read) return this.#readAck(frame);
    if (frame.length < 8) return; // a stub reading it would act on stale bytes: not modelled
    const op = frame[1];
    const size = readU16(frame, 2);
    const check = readU32(frame, 4);
    const data = new Uint8Array(size);
    data.set(frame.subarray(8, 8 + size));
    this.#command(op, size, check, data);
  }

  #command(op: number, len: number, check: number, data: Uint8Array): void {
    const core = this.#core;
    const chip = core.chip;
    const word = (i: number) => (data.length >= (i + 1) * 4 ? readU32(data, i * 4) : 0);
    const hasSecurityInfo = chip.rom.securityInfo !== "none";
    // The reply header goes out first, with its size field fixed per opcode.
    let value = 0;
    let sizeField = 2;
    if (op === Op.READ_REG && len === 4) value = core.regs.read(word(0));
    if (op === Op.SPI_FLASH_MD5) sizeField = 18;
    if (op === Op.GET_SECURITY_INFO && hasSecurityInfo) {
      sizeField = chip.rom.securityInfo === "short" ? 12 : 20;
    }
    if (len > MAX_WRITE_BLOCK + 16) {
      return this.#send(op, value, sizeField, new Uint8Array(), StubErr.BAD_DATA_LEN, 0xee);
    }
    const need = (n: number) => len === n;
    let error: number = StubErr.CMD_NOT_IMPLEMENTED;
    let body: Uint8Array = new Uint8Array();
    let after: (() => void) | undefined;
    switch (op) {
      case Op.SYNC:
        if (!need(36)) {
          error = StubErr.BAD_DATA_LEN;
          break;
        }
        core.record(op, 0);
        for (let i = 0; i < 8; i++) this.#packet(op, 0, 2, new Uint8Array([0, 0]));
        return;
      case Op.GET_SECURITY_INFO:
        if (!hasSecurityInfo) break;
        error = need(0) ? 0 : StubErr.COMBINED;
        if (!error) body = securityInfo(core);
        break;
      case Op.ERASE_FLASH:
        error = need(0) ? 0 : StubErr.COMBINED;
        if (!error) core.bus.eraseChip();
        break;
      case Op.ERASE_REGION:
        error = need(8) && this.#eraseRegion(word(0), word(1)) ? 0 : StubErr.COMBINED;
        break;
      case Op.CHANGE_BAUDRATE:
        error = need(8) ? 0 : StubErr.BAD_DATA_LEN;
        // The new divider is the current one scaled by old/new: the host must
        // send the rate it really uses as the second word.
        if (!error) after = () => core.setBaud(word(1) ? core.baud * word(0) / word(1) : 0);
        break;
      case Op.READ_FLASH:
        error = need(16) ? 0 : StubErr.BAD_DATA_LEN;
        if (!error) after = () => this.#startRead(word(0), word(1), word(2), word(3));
        break;
      case Op.SPI_FLASH_MD5:
        if (need(16) && core.bus.fits(word(0), word(1))) {
          error = 0;
          body = core.bus.md5(word(0), word(1));
        } else {
          error = StubErr.COMBINED;
        }
        break;
      case Op.FLASH_BEGIN:
      case Op.FLASH_DEFL_BEGIN:
        if (!need(16) && !need(20)) error = StubErr.BAD_DATA_LEN;
        else if (word(2) > MAX_WRITE_BLOCK) error = StubErr.BAD_BLOCKSIZE;
        else error = this.#flashBegin(op === Op.FLASH_DEFL_BEGIN, word(0), word(3), word(4));
        break;
      case Op.FLASH_ENCRYPT_DATA:
      case Op.FLASH_DATA:
      case Op.FLASH_DEFL_DATA: {
        if (op === Op.FLASH_ENCRYPT_DATA && chip.name === "esp8266") break;
        if (!this.#fs.inFlashMode) {
          error = StubErr.NOT_IN_FLASH_MODE;
          break;
        }
        error = this.#fs.lastError;
        const payload = data.subarray(Math.min(16, len));
        if (word(0) !== len - 16) error = StubErr.BAD_DATA_LEN;
        // A negative payload length sums nothing: the checksum is the seed.
        if ((len >= 16 ? checksum(payload) : 0xef) !== check) error = StubErr.BAD_DATA_CHECKSUM;
        if (!error) {
          after = op === Op.FLASH_DATA
            ? () => this.#writeData(payload)
            : op === Op.FLASH_DEFL_DATA
            ? () => this.#inflateData(payload)
            : () => this.#writeData(payload, true);
        }
        break;
      }
      case Op.FLASH_END:
      case Op.FLASH_DEFL_END:
        error = this.#flashEnd();
        // 0 reboots (after the reply is flushed); 1 stays in the stub.
        if (!error && word(0) === 0) after = () => core.reboot();
        break;
      case Op.SPI_SET_PARAMS:
        error = need(24) ? 0 : StubErr.COMBINED;
        if (!error) core.bus.limit = word(1);
        break;
      case Op.SPI_ATTACH:
        error = need(4) ? 0 : StubErr.COMBINED;
        break;
      case Op.WRITE_REG:
        error = len % 16 === 0 ? 0 : StubErr.BAD_DATA_LEN;
        for (let i = 0; !error && i < len; i += 16) {
          core.regs.write(readU32(data, i), readU32(data, i + 4), readU32(data, i + 8));
        }
        break;
      case Op.READ_REG:
        error = need(4) ? 0 : StubErr.BAD_DATA_LEN;
        break;
      case Op.MEM_BEGIN:
        error = need(16) ? 0 : StubErr.COMBINED;
        if (!error) {
          this.#mem = { addr: word(3), size: word(0), remaining: word(0), active: word(3) !== 0 };
        }
        break;
      case Op.MEM_DATA:
        error = this.#memData(len - 16, data.subarray(Math.min(16, len)));
        break;
      case Op.MEM_END: {
        const complete = this.#mem.remaining === 0;
        this.#mem = { addr: 0, size: 0, remaining: 0, active: false };
        error = need(8) && complete ? 0 : StubErr.COMBINED;
        // The stub jumps whenever the entry is non-zero, whatever the first word says.
        if (!error && word(1) !== 0) after = () => core.jump(word(1));
        break;
      }
      case Op.RUN_USER_CODE:
        // No reply: the stub returns into the ROM's normal boot.
        core.record(op, 0);
        core.runApp();
        return;
    }
    this.#send(op, value, sizeField, body, error, 0);
    if (after) core.afterReply(after);
  }

  #send(
    op: number,
    value: number,
    sizeField: number,
    body: Uint8Array,
    error: number,
    status: number,
  ): void {
    this.#core.record(op, (error << 8) | status);
    const out = new Uint8Array(body.length + 2);
    out.set(body);
    out[body.length] = error;
    out[body.length + 1] = status;
    this.#packet(op, value, sizeField, out);
  }

  #packet(op: number, value: number, sizeField: number, body: Uint8Array): void {
    const p = new Uint8Array(8 + body.length);
    p[0] = 0x01;
    p[1] = op;
    p[2] = sizeField & 0xff;
    p[3] = sizeField >> 8;
    writeU32(p, 4, value);
    p.set(body, 8);
    this.#core.sendPacket(p);
  }

  // ------------------------------------------------------------- erase

  /**
   * ERASE_REGION as `handle_flash_erase` does it: sectors up to a 64 KiB
   * boundary, blocks while more than 64 KiB remain, then sectors. False on
   * misalignment or an erase past the believed flash size (after erasing
   * what came before it).
   */
  #eraseRegion(addr: number, len: number): boolean {
    const bus = this.#core.bus;
    if (addr % SECTOR !== 0 || len % SECTOR !== 0) return false;
    const sector = (a: number) => {
      if (!bus.fits(a, SECTOR)) return false;
      bus.eraseSector(a);
      return true;
    };
    while (len > 0 && addr % 0x10000 !== 0) {
      if (!sector(addr)) return false;
      len -= SECTOR;
      addr += SECTOR;
    }
    while (len > 0x10000) {
      if (!bus.fits(addr, 0x10000)) return false;
      bus.eraseBlock(addr);
      len -= 0x10000;
      addr += 0x10000;
    }
    while (len > 0) {
      if (!sector(addr)) return false;
      len -= SECTOR;
      addr += SECTOR;
    }
    return true;
  }

  // ------------------------------------------------------------- write

  #flashBegin(compressed: boolean, total: number, offset: number, encrypt: number): number {
    const fs = this.#fs;
    fs.inFlashMode = true;
    fs.nextWrite = offset;
    fs.nextEraseSector = Math.floor(offset / SECTOR);
    fs.remaining = total;
    fs.remainingEraseSectors = Math.ceil(((offset % SECTOR) + total) / SECTOR);
    fs.lastError = 0;
    fs.encrypt = encrypt !== 0;
    fs.out = [];
    fs.outLength = 0;
    if (compressed) fs.inflater = new ZlibInflater((chunk) => this.#collect(chunk));
    // Without a burned key the encryption engine cannot run.
    return fs.encrypt && !this.#core.crypt ? StubErr.FAILED_SPI_OP : 0;
  }

  /**
   * `start_next_erase`: when the flash is ready, one erase command (a 64 KiB
   * block when aligned with 16 or more sectors left), not waited for; when
   * it is still busy, nothing ("caller will call again if needed").
   */
  #startNextErase(): void {
    const fs = this.#fs;
    if (fs.remainingEraseSectors === 0) return;
    const bus = this.#core.bus;
    if (bus.busy()) return;
    const block = fs.remainingEraseSectors >= 16 && fs.nextEraseSector % 16 === 0;
    // The stub drives the SPI erase commands directly: no size check, the part wraps.
    if (block) bus.startEraseBlock(fs.nextEraseSector * SECTOR);
    else bus.startEraseSector(fs.nextEraseSector * SECTOR);
    const n = block ? 16 : 1;
    fs.remainingEraseSectors -= n;
    fs.nextEraseSector += n;
  }

  /**
   * `handle_flash_data` (and `handle_flash_encrypt_data`, with `encrypt`):
   * trim to what is left, erase ahead, write, through the chip's encryption
   * engine when encrypting. Without a burned key an encrypted write consumes
   * the data and fails, erasing nothing.
   */
  #writeData(bytes: Uint8Array, encrypt = this.#fs.encrypt): void {
    const fs = this.#fs;
    const length = Math.min(bytes.length, fs.remaining);
    if (length === 0) return;
    const crypt = this.#core.crypt;
    const bus = this.#core.bus;
    const align = this.#core.chip.encryptionBlock ?? 16;
    // SPI_Encrypt_Write takes whole engine blocks (32 bytes on the ESP32, 16 later).
    if (encrypt && (!crypt || fs.nextWrite % align !== 0 || length % align !== 0)) {
      fs.lastError = StubErr.FAILED_SPI_OP;
    } else {
      const lastSector = Math.floor((fs.nextWrite + length) / SECTOR);
      // Spins until every erase up to the data has started, then waits for the flash.
      while (fs.remainingEraseSectors > 0 && fs.nextEraseSector <= lastSector) {
        if (bus.busy()) bus.waitIdle();
        this.#startNextErase();
      }
      bus.waitIdle();
      if (bus.fits(fs.nextWrite, length)) {
        const plain = bytes.subarray(0, length);
        bus.write(fs.nextWrite, encrypt ? crypt!.apply(fs.nextWrite, plain) : plain);
      } else {
        fs.lastError = StubErr.FAILED_SPI_OP;
      }
    }
    fs.nextWrite += length;
    fs.remaining -= length;
  }

  #collect(chunk: Uint8Array): void {
    this.#fs.out.push(chunk);
    this.#fs.outLength += chunk.length;
  }

  /** Writes whole 32 KiB output buffers (or everything, when `all`). */
  #flushOut(all: boolean): void {
    const fs = this.#fs;
    while (fs.outLength >= OUT_BUF || (all && fs.outLength > 0)) {
      const n = Math.min(OUT_BUF, fs.outLength);
      const buf = concat(...fs.out);
      fs.out = n < buf.length ? [buf.subarray(n)] : [];
      fs.outLength = buf.length - n;
      this.#writeData(buf.subarray(0, n));
    }
  }

  /**
   * `handle_flash_deflated_data`: inflate into a 32 KiB buffer, starting one
   * erase per decompression round, writing each full buffer; stop once the
   * announced size is written.
   */
  #inflateData(input: Uint8Array): void {
    const fs = this.#fs;
    if (fs.remaining === 0 && input.length > 4) {
      fs.lastError = StubErr.TOO_MUCH_DATA;
      return;
    }
    const z: ZlibInflater = fs.inflater ??= new ZlibInflater((chunk) => this.#collect(chunk));
    // Read through a function: TypeScript cannot see push() change the status.
    const status = () => z.status;
    let at = 0;
    let finishedNow = false;
    while (at < input.length && fs.remaining > 0) {
      this.#startNextErase(); // opportunistic: inflating takes time, erase meanwhile
      if (status() !== "more") {
        // tinfl answers a finished or failed stream at once, consuming nothing.
        finishedNow = status() === "done";
        break;
      }
      // One decompression round: until the output buffer fills or input runs out.
      while (at < input.length && status() === "more" && fs.outLength < OUT_BUF) {
        z.push(input.subarray(at, at + 256));
        at += 256;
      }
      if (status() === "done") {
        this.#flushOut(true);
        finishedNow = true;
        break;
      }
      if (status() === "error") break;
      this.#flushOut(false);
    }
    if (z.status === "error") fs.lastError = StubErr.INFLATE_ERROR;
    if (finishedNow && fs.remaining > 0) fs.lastError = StubErr.NOT_ENOUGH_DATA;
  }

  #flashEnd(): number {
    const fs = this.#fs;
    if (!fs.inFlashMode) return StubErr.NOT_IN_FLASH_MODE;
    if (fs.remaining > 0) return StubErr.NOT_ENOUGH_DATA;
    fs.inFlashMode = false;
    return fs.lastError;
  }

  // ------------------------------------------------------------- RAM

  #memData(length: number, bytes: Uint8Array): number {
    const mem = this.#mem;
    if (!mem.active && length > 0) return StubErr.NOT_IN_FLASH_MODE;
    // A negative length is a huge unsigned one in the stub.
    if (length < 0 || length > mem.remaining) return StubErr.TOO_MUCH_DATA;
    if (length % 4 !== 0) return StubErr.BAD_DATA_LEN;
    if (mem.active) this.#core.ramWrite(mem.addr + mem.size - mem.remaining, bytes);
    mem.remaining -= bytes.length;
    return 0;
  }

  // ------------------------------------------------------------- read

  #startRead(addr: number, length: number, packetSize: number, maxInFlight: number): void {
    if (packetSize > SECTOR) return; // larger than its buffer: the stub returns at once
    if (packetSize === 0 && length > 0) {
      this.#hung = true; // n = 0 forever: the real stub spins until reset
      return;
    }
    this.#read = {
      addr,
      length,
      packetSize,
      maxInFlight,
      sent: 0,
      acked: 0,
      md5: createHash("md5"),
    };
    this.#pumpRead();
  }

  /** Sends while the legacy accounting allows, or ends with the digest. */
  #pumpRead(): void {
    const r = this.#read!;
    const bus = this.#core.bus;
    if (!(r.acked < r.length && r.acked <= r.sent)) return this.#endRead();
    while (r.sent < r.length && r.sent - r.acked < r.maxInFlight) {
      const n = Math.min(r.packetSize, r.length - r.sent);
      if (!bus.fits(r.addr + r.sent, n)) break; // SPIRead fails: nothing sent this round
      const chunk = bus.read(r.addr + r.sent, n);
      this.#core.sendPacket(chunk);
      r.md5.update(chunk);
      r.sent += n;
    }
  }

  #readAck(frame: Uint8Array): void {
    const r = this.#read!;
    // SLIP_recv into a 4-byte buffer: a shorter frame ends the transfer.
    if (frame.length < 4) return this.#endRead();
    r.acked = readU32(frame, 0);
    this.#pumpRead();
  }

  #endRead(): void {
    const r = this.#read!;
    this.#read = undefined;
    this.#core.sendPacket(new Uint8Array(r.md5.digest()));
  }
}

/**
 * The virtual ESP device: a ROM download loader per chip and, once a RAM
 * program is uploaded and started, the flasher stub's command set, over a
 * SLIP byte stream, with a NOR flash behind it.
 *
 * Built from the protocol reference and esptool's behaviour of record, not
 * from espdelta's client. Where the sources are silent the choice is written
 * next to the code (see "Decision").
 *
 * Decision: the emulator cannot execute Xtensa or RISC-V code. A MEM_END
 * whose entry point lies inside an uploaded RAM segment starts "the stub":
 * the device greets with OHAI and speaks the legacy esptool flasher stub
 * protocol (esptool v4 era, the stubs esptool-js ships). Any other entry
 * point starts user code: the device goes quiet (mode "app").
 * @module
 */

import { Unzlib } from "fflate";
import { type ChipInfo, type ChipName, CHIPS } from "../chips/chips.ts";
import { checksum, decodeCommand, encodeResponse } from "../protocol/packet.ts";
import { readU32, words } from "../protocol/bytes.ts";
import { Op, opName, STUB_GREETING, SYNC_PAYLOAD } from "../protocol/opcodes.ts";
import { SlipDecoder, slipEncode } from "../protocol/slip.ts";
import { NorFlash } from "./flash.ts";
import { Registers } from "./registers.ts";

/** ROM error codes used by the virtual ROM (second status byte). */
export const RomErr = {
  INVALID_PARAM: 0x01,
  INVALID_FORMAT: 0x05,
  FAILED: 0x06,
  CHECKSUM: 0x07,
  READ_LENGTH: 0x0a,
  INFLATE: 0x0b,
  RAM_SIZE: 0x0e,
} as const;

/** Stub error codes (first status byte). */
export const StubErr = {
  BAD_DATA_LEN: 0xc0,
  BAD_DATA_CHECKSUM: 0xc1,
  BAD_BLOCKSIZE: 0xc2,
  FAILED_SPI_OP: 0xc4,
  NOT_IN_FLASH_MODE: 0xc6,
  INFLATE_ERROR: 0xc7,
  NOT_ENOUGH_DATA: 0xc8,
  TOO_MUCH_DATA: 0xc9,
  CMD_NOT_IMPLEMENTED: 0xff,
} as const;

/** What the chip is running. */
export type DeviceMode = "rom" | "stub" | "app";

/** Options of a virtual device. */
export interface VirtualDeviceOptions {
  /** Chip family. */
  chip: ChipName;
  /** Flash size in bytes (default 4 MiB). */
  flashSize?: number;
  /** Initial flash contents (default erased). */
  flash?: Uint8Array;
  /** Base MAC, 6 bytes (default derived from `seed`, Espressif OUI 24:0A:C4). */
  mac?: number[];
  /** Seed for defaults such as the MAC. */
  seed?: number;
  /** Flash JEDEC id as W0 holds it (default Winbond 0xEF 0x40 + capacity). */
  jedecId?: number;
  /** State at power-on (default "download"). */
  bootMode?: "download" | "flash";
  /** GET_SECURITY_INFO flags word (default 0). */
  securityFlags?: number;
  /** FLASH_CRYPT_CNT eFuse value (default 0: encryption off). */
  flashCryptCnt?: number;
}

/** One handled command, for tests. */
export interface CommandRecord {
  /** Opcode. */
  op: number;
  /** 0 on success, else the 16-bit status as esptool reports it. */
  status: number;
}

interface FlashOp {
  compressed: boolean;
  offset: number;
  /** ROM: bytes erased up front; stub: exact bytes to write. */
  size: number;
  blocks: number;
  blockSize: number;
  seq: number;
  /** Next flash address to write. */
  writePos: number;
  /** Stub: next sector not yet erased (absolute index). */
  eraseCursor: number;
  inflater?: Unzlib;
  inflateError?: boolean;
  /** Stub: an error to report on the next reply (writes happen after the ACK). */
  deferred?: number;
}

interface MemOp {
  addr: number;
  size: number;
  blocks: number;
  blockSize: number;
  seq: number;
  received: number;
  data: Uint8Array;
}

interface ReadStream {
  offset: number;
  length: number;
  packetSize: number;
  sent: number;
  acked: number;
}

class Reply {
  constructor(readonly data: Uint8Array, readonly error = 0, readonly value?: number) {}
}

const ok = (data: Uint8Array = new Uint8Array(), value?: number) => new Reply(data, 0, value);
const fail = (error: number) => new Reply(new Uint8Array(), error);

function defaultMac(seed: number): number[] {
  const s = (seed * 2654435761) >>> 0;
  return [0x24, 0x0a, 0xc4, (s >>> 16) & 0xff, (s >>> 8) & 0xff, s & 0xff];
}

function jedecFor(size: number): number {
  const capacity = 0x12 + Math.round(Math.log2(size / (256 * 1024)));
  return (capacity << 16) | (0x40 << 8) | 0xef;
}

const ROM_BANNERS: Partial<Record<ChipName, string>> = {
  esp8266: "\r\n ets Jan  8 2013,rst cause:2, boot mode:(1,7)\r\n\r\n",
  esp32: "ets Jun  8 2016 00:22:57\r\n\r\n" +
    "rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\n" +
    "waiting for download\r\n",
};

function romBanner(chip: ChipInfo): string {
  return ROM_BANNERS[chip.name] ??
    `ESP-ROM:${chip.name}-20210327\r\nBuild:Mar 27 2021\r\n` +
      "rst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n";
}

function flashBootText(chip: ChipInfo): string {
  return chip.name === "esp8266"
    ? "\r\n ets Jan  8 2013,rst cause:2, boot mode:(3,7)\r\n\r\n"
    : "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n";
}

/** How long EN must stay high before the chip leaves reset (the board's RC). */
const EN_RC_MS = 5;

/** A virtual ESP chip with its flash. */
export class VirtualDevice {
  /** The chip's facts. */
  readonly chip: ChipInfo;
  /** The flash. */
  readonly flash: NorFlash;
  /** Every command handled, in order. */
  readonly commandLog: CommandRecord[] = [];
  /** Device-side UART baud rate. */
  baud = 115200;
  #mode: DeviceMode = "rom";
  #decoder = new SlipDecoder();
  #tx: (bytes: Uint8Array) => void = () => {};
  #regs: Registers;
  #attached = false;
  #flashParamSize: number;
  #flashOp: FlashOp | undefined;
  #memOp: MemOp | undefined;
  #segments: { addr: number; data: Uint8Array }[] = [];
  #read: ReadStream | undefined;
  #lines = { dtr: false, rts: false };
  #enHighTimer: ReturnType<typeof setTimeout> | undefined;
  #inReset = false;
  #securityFlags: number;
  #flashCryptCnt: number;

  /** Creates a powered-on device. */
  constructor(options: VirtualDeviceOptions) {
    this.chip = CHIPS[options.chip];
    if (!this.chip) throw new RangeError(`unknown chip ${options.chip}`);
    const size = options.flashSize ?? 4 * 1024 * 1024;
    this.flash = new NorFlash(size, options.flash);
    const mac = options.mac ?? defaultMac(options.seed ?? 1);
    this.#regs = new Registers(this.chip, mac, options.jedecId ?? jedecFor(size));
    this.#flashParamSize = size;
    this.#securityFlags = options.securityFlags ?? 0;
    this.#flashCryptCnt = options.flashCryptCnt ?? 0;
    this.#boot(options.bootMode ?? "download", false);
  }

  /** What the chip is running. */
  get mode(): DeviceMode {
    return this.#mode;
  }

  /** Where device output goes (one listener; a transport sets it). */
  onTransmit(cb: (bytes: Uint8Array) => void): void {
    this.#tx = cb;
  }

  /** Commands handled so far, counted by opcode name. */
  commandCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const c of this.commandLog) counts[opName(c.op)] = (counts[opName(c.op)] ?? 0) + 1;
    return counts;
  }

  /** Power-cycles the chip into download mode or a flash boot. Flash is kept. */
  powerCycle(bootMode: "download" | "flash" = "download"): void {
    this.#boot(bootMode, true);
  }

  /** Stops pending timers (a transport calls this when it closes). */
  dispose(): void {
    if (this.#enHighTimer !== undefined) clearTimeout(this.#enHighTimer);
    this.#enHighTimer = undefined;
  }

  /**
   * The auto-reset circuit of Espressif boards: RTS drives EN and DTR the
   * boot pin through two transistors, so EN is low only when RTS is asserted
   * and DTR is not, and the boot pin is low only when DTR is asserted and RTS
   * is not. The chip leaves reset a few milliseconds after EN rises (the RC
   * on EN) and samples the boot pin then.
   */
  setLines(lines: { dtr?: boolean; rts?: boolean }): void {
    if (lines.dtr !== undefined) this.#lines.dtr = lines.dtr;
    if (lines.rts !== undefined) this.#lines.rts = lines.rts;
    const enLow = this.#lines.rts && !this.#lines.dtr;
    if (enLow) {
      this.dispose();
      this.#inReset = true;
      this.#mode = "app"; // held in reset: nothing answers
    } else if (this.#inReset && this.#enHighTimer === undefined) {
      this.#enHighTimer = setTimeout(() => {
        this.#enHighTimer = undefined;
        this.#inReset = false;
        const bootLow = this.#lines.dtr && !this.#lines.rts;
        this.#boot(bootLow ? "download" : "flash", true);
      }, EN_RC_MS);
    }
  }

  /** Bytes from the host. */
  receive(bytes: Uint8Array): void {
    for (const frame of this.#decoder.push(bytes)) this.#frame(frame);
    this.#decoder.takeNoise();
  }

  #boot(mode: "download" | "flash", print: boolean): void {
    this.#decoder.reset();
    this.#attached = false;
    this.#flashOp = undefined;
    this.#memOp = undefined;
    this.#segments = [];
    this.#read = undefined;
    this.#flashParamSize = this.flash.size;
    this.baud = 115200;
    this.#regs.setBaud(this.baud);
    if (mode === "download") {
      this.#mode = "rom";
      if (print) this.#text(romBanner(this.chip));
    } else {
      this.#mode = "app";
      if (print) this.#text(flashBootText(this.chip));
    }
  }

  #text(s: string): void {
    this.#tx(new TextEncoder().encode(s));
  }

  #send(packet: Uint8Array): void {
    this.#tx(slipEncode(packet));
  }

  #frame(frame: Uint8Array): void {
    if (this.#mode === "app") return;
    if (this.#read) {
      this.#readAck(frame);
      return;
    }
    const cmd = decodeCommand(frame);
    if (!cmd) return; // not a command: the loaders ignore it
    if (cmd.size !== cmd.data.length) {
      this.#respond(cmd.op, this.#stub ? fail(StubErr.BAD_DATA_LEN) : fail(RomErr.INVALID_FORMAT));
      return;
    }
    const reply = this.#stub ? this.#stubCommand(cmd.op, cmd.data, cmd.checksum) : this.#romCommand(
      cmd.op,
      cmd.data,
      cmd.checksum,
    );
    if (reply === null) return; // the command sends its own output (or none)
    this.#respond(cmd.op, reply);
    this.#after?.();
    this.#after = undefined;
  }

  /** Something to do after the reply has gone out (baud switch, jump, stream). */
  #after: (() => void) | undefined;

  get #stub(): boolean {
    return this.#mode === "stub";
  }

  #respond(op: number, r: Reply): void {
    let status: Uint8Array;
    let code = 0;
    if (this.#stub) {
      status = new Uint8Array([r.error, 0]);
      code = r.error << 8;
    } else {
      const n = this.chip.rom.statusLength;
      status = new Uint8Array(n);
      if (r.error) {
        status[0] = 1;
        status[1] = r.error;
        code = 0x100 | r.error;
      }
    }
    const body = new Uint8Array(r.data.length + status.length);
    body.set(r.data);
    body.set(status, r.data.length);
    // ROMs leave a constant in the value field of most replies; the stub sends 0.
    const value = r.value ?? (this.#stub ? 0 : 0x20120707);
    this.commandLog.push({ op, status: code });
    this.#send(encodeResponse(op, value, body));
  }

  // ---------------------------------------------------------------- ROM

  #romCommand(op: number, data: Uint8Array, check: number): Reply | null {
    const rom = this.chip.rom;
    const needLen = (n: number) => data.length === n;
    switch (op) {
      case Op.SYNC:
        return this.#sync(data);
      case Op.READ_REG:
        if (!needLen(4)) return fail(RomErr.INVALID_FORMAT);
        return ok(new Uint8Array(), this.#regs.read(readU32(data, 0)));
      case Op.WRITE_REG:
        return this.#writeReg(data, RomErr.INVALID_FORMAT);
      case Op.MEM_BEGIN:
        return this.#memBegin(data, RomErr.INVALID_FORMAT);
      case Op.MEM_DATA:
        return this.#memData(data, check);
      case Op.MEM_END:
        return this.#memEnd(data);
      case Op.SPI_ATTACH:
        if (!rom.spiAttach) return fail(RomErr.INVALID_FORMAT);
        if (!needLen(8)) return fail(RomErr.INVALID_FORMAT);
        this.#attached = true;
        return ok();
      case Op.SPI_SET_PARAMS:
        if (!rom.spiAttach) return fail(RomErr.INVALID_FORMAT);
        if (!needLen(24)) return fail(RomErr.INVALID_FORMAT);
        this.#flashParamSize = readU32(data, 4);
        return ok();
      case Op.FLASH_BEGIN:
      case Op.FLASH_DEFL_BEGIN:
        if (op === Op.FLASH_DEFL_BEGIN && !rom.compressedWrite) return fail(RomErr.INVALID_FORMAT);
        return this.#romFlashBegin(op === Op.FLASH_DEFL_BEGIN, data);
      case Op.FLASH_DATA:
      case Op.FLASH_DEFL_DATA:
        if (op === Op.FLASH_DEFL_DATA && !rom.compressedWrite) return fail(RomErr.INVALID_FORMAT);
        return this.#romFlashData(op === Op.FLASH_DEFL_DATA, data, check);
      case Op.FLASH_END:
      case Op.FLASH_DEFL_END:
        if (op === Op.FLASH_DEFL_END && !rom.compressedWrite) return fail(RomErr.INVALID_FORMAT);
        if (!needLen(4)) return fail(RomErr.INVALID_FORMAT);
        this.#flashOp = undefined;
        // 0 reboots; 1 leaves the loader and runs the app. Either way the ROM stops answering.
        this.#after = () => this.#boot("flash", true);
        return ok();
      case Op.SPI_FLASH_MD5: {
        if (!rom.md5) return fail(RomErr.INVALID_FORMAT);
        if (!needLen(16)) return fail(RomErr.INVALID_FORMAT);
        if (!this.#attached) return fail(RomErr.FAILED);
        const addr = readU32(data, 0);
        const size = readU32(data, 4);
        if (!this.#inFlash(addr, size)) return fail(RomErr.FAILED);
        const hex = Array.from(this.flash.md5(addr, size), (b) => b.toString(16).padStart(2, "0"))
          .join("");
        return ok(new TextEncoder().encode(hex));
      }
      case Op.READ_FLASH_SLOW: {
        if (!rom.readFlashSlow) return fail(RomErr.INVALID_FORMAT);
        if (!needLen(8)) return fail(RomErr.INVALID_FORMAT);
        if (!this.#attached) return fail(RomErr.FAILED);
        const addr = readU32(data, 0);
        const len = readU32(data, 4);
        if (len > 64) return fail(RomErr.READ_LENGTH);
        if (!this.#inFlash(addr, len)) return fail(RomErr.FAILED);
        const buf = new Uint8Array(64);
        buf.set(this.flash.read(addr, len));
        return ok(buf);
      }
      case Op.CHANGE_BAUDRATE:
        if (!rom.changeBaud) return fail(RomErr.INVALID_FORMAT);
        return this.#changeBaud(data, RomErr.INVALID_FORMAT);
      case Op.GET_SECURITY_INFO:
        if (rom.securityInfo === "none") return fail(RomErr.INVALID_FORMAT);
        if (!needLen(0)) return fail(RomErr.INVALID_FORMAT);
        return ok(this.#securityInfo());
      default:
        // Unknown opcodes, and the stub-only D0..D4, get "invalid format".
        return fail(RomErr.INVALID_FORMAT);
    }
  }

  #sync(data: Uint8Array): Reply | null {
    if (data.length !== SYNC_PAYLOAD.length || !data.every((b, i) => b === SYNC_PAYLOAD[i])) {
      return this.#stub ? fail(StubErr.BAD_DATA_LEN) : fail(RomErr.INVALID_FORMAT);
    }
    // The ROM answers one SYNC eight times; the stub answers once, with value 0.
    if (this.#stub) return ok(new Uint8Array(), 0);
    for (let i = 0; i < 8; i++) this.#respond(Op.SYNC, ok(new Uint8Array(), 0x20120707));
    return null;
  }

  #writeReg(data: Uint8Array, lenErr: number): Reply {
    if (data.length === 0 || data.length % 16 !== 0) return fail(lenErr);
    for (let i = 0; i < data.length; i += 16) {
      this.#regs.write(readU32(data, i), readU32(data, i + 4), readU32(data, i + 8));
    }
    return ok();
  }

  #securityInfo(): Uint8Array {
    const short = this.chip.rom.securityInfo === "short";
    const out = new Uint8Array(short ? 12 : 20);
    out.set(words(this.#securityFlags), 0);
    out[4] = this.#flashCryptCnt;
    if (!short) out.set(words(this.chip.imageChipId ?? 0, 0), 12);
    return out;
  }

  #inFlash(addr: number, size: number): boolean {
    return addr + size <= Math.min(this.flash.size, this.#flashParamSize);
  }

  #changeBaud(data: Uint8Array, lenErr: number): Reply {
    if (data.length !== 8) return fail(lenErr);
    const next = readU32(data, 0);
    if (next === 0) return fail(this.#stub ? StubErr.BAD_DATA_LEN : RomErr.INVALID_PARAM);
    this.#after = () => {
      this.baud = next;
      this.#regs.setBaud(next);
    };
    return ok();
  }

  /** ROM sectors erased for a FLASH_BEGIN of `size` bytes at `offset`. */
  #romEraseSectors(offset: number, size: number): [number, number] {
    const first = Math.floor(offset / 0x1000);
    const m = Math.ceil(size / 0x1000);
    if (this.chip.name !== "esp8266") return [first, m];
    // The ESP8266 ROM's erase routine erases the head sectors up to the next
    // 64 KiB boundary twice over in its count: asked for m sectors it erases
    // m + min(m, head). esptool's get_erase_size compensates.
    const head = 16 - (first % 16);
    return [first, m + Math.min(m, head)];
  }

  #romFlashBegin(compressed: boolean, data: Uint8Array): Reply {
    const wantLen = this.chip.rom.beginEncryptedWord ? 20 : 16;
    if (data.length !== wantLen) return fail(RomErr.INVALID_FORMAT);
    if (this.chip.rom.spiAttach && !this.#attached) return fail(RomErr.FAILED);
    if (!this.chip.rom.spiAttach) this.#attached = true; // ESP8266 attaches here
    const size = readU32(data, 0);
    const blocks = readU32(data, 4);
    const blockSize = readU32(data, 8);
    const offset = readU32(data, 12);
    if (wantLen === 20 && readU32(data, 16) > 1) return fail(RomErr.INVALID_PARAM);
    if (wantLen === 20 && readU32(data, 16) === 1) return fail(RomErr.FAILED); // no key in the model
    const [first, sectors] = this.#romEraseSectors(offset, size);
    const end = Math.min((first + sectors) * 0x1000, this.flash.size);
    if (blockSize === 0 || !this.#inFlash(offset, compressed ? size : blocks * blockSize)) {
      return fail(RomErr.FAILED);
    }
    for (let s = first; s * 0x1000 < end; s++) this.flash.eraseSector(s);
    this.#flashOp = {
      compressed,
      offset,
      size,
      blocks,
      blockSize,
      seq: 0,
      writePos: offset,
      eraseCursor: first + sectors,
    };
    if (compressed) this.#startInflate(this.#flashOp);
    return ok();
  }

  #startInflate(op: FlashOp): void {
    op.inflater = new Unzlib((chunk) => {
      if (op.inflateError) return;
      this.#flashWrite(op, chunk);
    });
  }

  /** Writes at the op's cursor; the stub erases ahead as data arrives. */
  #flashWrite(op: FlashOp, bytes: Uint8Array): boolean {
    const end = op.writePos + bytes.length;
    const limit = op.compressed || this.#stub
      ? op.offset + op.size
      : op.offset + op.blocks * op.blockSize;
    if (end > limit || end > this.flash.size) {
      op.inflateError = true;
      return false;
    }
    if (this.#stub) this.#stubEraseAhead(op, end);
    this.flash.write(op.writePos, bytes);
    op.writePos = end;
    return true;
  }

  #romFlashData(compressed: boolean, data: Uint8Array, check: number): Reply {
    const op = this.#flashOp;
    if (!op || op.compressed !== compressed) return fail(RomErr.FAILED);
    if (data.length < 16) return fail(RomErr.INVALID_FORMAT);
    const len = readU32(data, 0);
    const seq = readU32(data, 4);
    const block = data.subarray(16);
    // Decision: a length word that disagrees with the packet, a block of the
    // wrong size, or a sequence number out of order is "input parameter invalid".
    if (len !== block.length) return fail(RomErr.INVALID_PARAM);
    if (compressed ? len > op.blockSize : len !== op.blockSize) return fail(RomErr.INVALID_PARAM);
    if (seq !== op.seq || seq >= op.blocks) return fail(RomErr.INVALID_PARAM);
    if (checksum(block) !== (check & 0xff)) return fail(RomErr.CHECKSUM);
    op.seq++;
    if (compressed) {
      try {
        // The last announced block ends the stream: fflate checks Adler-32 then.
        op.inflater!.push(block, op.seq === op.blocks);
      } catch {
        op.inflateError = true;
      }
      if (op.inflateError) return fail(RomErr.INFLATE);
    } else if (!this.#flashWrite(op, block)) {
      return fail(RomErr.FAILED);
    }
    return ok();
  }

  #memBegin(data: Uint8Array, lenErr: number): Reply {
    if (data.length !== 16) return fail(lenErr);
    const size = readU32(data, 0);
    const blocks = readU32(data, 4);
    const blockSize = readU32(data, 8);
    const addr = readU32(data, 12);
    if (size > 0x80000 || blockSize === 0) {
      return this.#stub ? fail(StubErr.BAD_DATA_LEN) : fail(RomErr.RAM_SIZE);
    }
    this.#memOp = {
      addr,
      size,
      blocks,
      blockSize,
      seq: 0,
      received: 0,
      data: new Uint8Array(size),
    };
    return ok();
  }

  #memData(data: Uint8Array, check: number): Reply {
    const op = this.#memOp;
    const st = this.#stub;
    if (!op) return st ? fail(StubErr.NOT_IN_FLASH_MODE) : fail(RomErr.FAILED);
    if (data.length < 16) return st ? fail(StubErr.BAD_DATA_LEN) : fail(RomErr.INVALID_FORMAT);
    const len = readU32(data, 0);
    const seq = readU32(data, 4);
    const block = data.subarray(16);
    if (len !== block.length || len > op.blockSize) {
      return st ? fail(StubErr.BAD_DATA_LEN) : fail(RomErr.INVALID_PARAM);
    }
    if (seq !== op.seq) return st ? fail(StubErr.BAD_DATA_LEN) : fail(RomErr.INVALID_PARAM);
    if (checksum(block) !== (check & 0xff)) {
      return st ? fail(StubErr.BAD_DATA_CHECKSUM) : fail(RomErr.CHECKSUM);
    }
    if (op.received + len > op.size) {
      return st ? fail(StubErr.TOO_MUCH_DATA) : fail(RomErr.RAM_SIZE);
    }
    op.data.set(block, op.received);
    op.received += len;
    op.seq++;
    if (op.received === op.size) this.#segments.push({ addr: op.addr, data: op.data });
    return ok();
  }

  #memEnd(data: Uint8Array): Reply {
    if (data.length !== 8) {
      return this.#stub ? fail(StubErr.BAD_DATA_LEN) : fail(RomErr.INVALID_FORMAT);
    }
    const op = this.#memOp;
    if (op && op.received !== op.size) {
      // A short or corrupted upload is refused and never started.
      this.#memOp = undefined;
      this.#segments = [];
      return this.#stub ? fail(StubErr.NOT_ENOUGH_DATA) : fail(RomErr.RAM_SIZE);
    }
    this.#memOp = undefined;
    const noExecute = readU32(data, 0);
    const entry = readU32(data, 4);
    if (noExecute === 0) {
      const inside = this.#segments.some((s) => entry >= s.addr && entry < s.addr + s.data.length);
      this.#after = () => {
        this.#flashOp = undefined;
        if (inside) {
          this.#mode = "stub";
          this.#attached = true;
          this.#send(STUB_GREETING);
        } else {
          this.#mode = "app";
        }
      };
    }
    return ok();
  }

  // ---------------------------------------------------------------- stub

  #stubCommand(op: number, data: Uint8Array, check: number): Reply | null {
    const len = (n: number) => data.length === n;
    switch (op) {
      case Op.SYNC:
        return this.#sync(data);
      case Op.READ_REG:
        if (!len(4)) return fail(StubErr.BAD_DATA_LEN);
        return ok(new Uint8Array(), this.#regs.read(readU32(data, 0)));
      case Op.WRITE_REG:
        return this.#writeReg(data, StubErr.BAD_DATA_LEN);
      case Op.MEM_BEGIN:
        return this.#memBegin(data, StubErr.BAD_DATA_LEN);
      case Op.MEM_DATA:
        return this.#memData(data, check);
      case Op.MEM_END:
        return this.#memEnd(data);
      case Op.SPI_ATTACH:
        if (!len(4)) return fail(StubErr.BAD_DATA_LEN);
        this.#attached = true;
        return ok();
      case Op.SPI_SET_PARAMS:
        if (!len(24)) return fail(StubErr.BAD_DATA_LEN);
        this.#flashParamSize = readU32(data, 4);
        return ok();
      case Op.CHANGE_BAUDRATE:
        return this.#changeBaud(data, StubErr.BAD_DATA_LEN);
      case Op.FLASH_BEGIN:
      case Op.FLASH_DEFL_BEGIN:
        return this.#stubFlashBegin(op === Op.FLASH_DEFL_BEGIN, data);
      case Op.FLASH_DATA:
      case Op.FLASH_DEFL_DATA:
        return this.#stubFlashData(op === Op.FLASH_DEFL_DATA, data, check);
      case Op.FLASH_END:
      case Op.FLASH_DEFL_END:
        return this.#stubFlashEnd(data);
      case Op.SPI_FLASH_MD5: {
        if (!len(16)) return fail(StubErr.BAD_DATA_LEN);
        const addr = readU32(data, 0);
        const size = readU32(data, 4);
        if (!this.#inFlash(addr, size)) return fail(StubErr.FAILED_SPI_OP);
        return ok(this.flash.md5(addr, size));
      }
      case Op.GET_SECURITY_INFO:
        if (this.chip.rom.securityInfo === "none") return fail(StubErr.CMD_NOT_IMPLEMENTED);
        return ok(this.#securityInfo());
      case Op.ERASE_FLASH:
        for (let s = 0; s < this.flash.sectors; s++) this.flash.eraseSector(s);
        return ok();
      case Op.ERASE_REGION: {
        if (!len(8)) return fail(StubErr.BAD_DATA_LEN);
        const addr = readU32(data, 0);
        const size = readU32(data, 4);
        if (addr % 0x1000 !== 0 || size % 0x1000 !== 0) return fail(StubErr.BAD_DATA_LEN);
        if (!this.#inFlash(addr, size)) return fail(StubErr.FAILED_SPI_OP);
        this.#eraseRun(addr / 0x1000, size / 0x1000);
        return ok();
      }
      case Op.READ_FLASH:
        return this.#readFlash(data);
      case Op.RUN_USER_CODE:
        this.#mode = "app";
        return null;
      default:
        return fail(StubErr.CMD_NOT_IMPLEMENTED);
    }
  }

  /** Erases `count` sectors from `first`, whole 64 KiB blocks where aligned. */
  #eraseRun(first: number, count: number): void {
    let s = first;
    const end = first + count;
    while (s < end) {
      if (s % 16 === 0 && end - s >= 16) {
        this.flash.eraseBlock(s / 16);
        s += 16;
      } else {
        this.flash.eraseSector(s++);
      }
    }
  }

  #stubEraseAhead(op: FlashOp, writeEnd: number): void {
    const endSector = Math.ceil((op.offset + op.size) / 0x1000);
    while (op.eraseCursor * 0x1000 < writeEnd) {
      const s = op.eraseCursor;
      if (s % 16 === 0 && endSector - s >= 16) {
        this.flash.eraseBlock(s / 16);
        op.eraseCursor += 16;
      } else {
        this.flash.eraseSector(s);
        op.eraseCursor++;
      }
    }
  }

  #stubFlashBegin(compressed: boolean, data: Uint8Array): Reply {
    if (data.length !== 16 && data.length !== 20) return fail(StubErr.BAD_DATA_LEN);
    const size = readU32(data, 0);
    const blocks = readU32(data, 4);
    const blockSize = readU32(data, 8);
    const offset = readU32(data, 12);
    if (blockSize > 0x4000) return fail(StubErr.BAD_BLOCKSIZE);
    if (data.length === 20 && readU32(data, 16) !== 0) return fail(StubErr.FAILED_SPI_OP);
    if (!this.#inFlash(offset, size)) return fail(StubErr.FAILED_SPI_OP);
    this.#flashOp = {
      compressed,
      offset,
      size,
      blocks,
      blockSize,
      seq: 0,
      writePos: offset,
      eraseCursor: Math.floor(offset / 0x1000),
    };
    if (compressed) this.#startInflate(this.#flashOp);
    return ok();
  }

  #stubFlashData(compressed: boolean, data: Uint8Array, check: number): Reply {
    const op = this.#flashOp;
    if (!op || op.compressed !== compressed) return fail(StubErr.NOT_IN_FLASH_MODE);
    if (data.length < 16) return fail(StubErr.BAD_DATA_LEN);
    const len = readU32(data, 0);
    const block = data.subarray(16);
    if (len !== block.length) return fail(StubErr.BAD_DATA_LEN);
    if (len > 0x4000) return fail(StubErr.BAD_BLOCKSIZE);
    if (checksum(block) !== (check & 0xff)) return fail(StubErr.BAD_DATA_CHECKSUM);
    // The legacy stub acknowledges first and writes afterwards, so an error in
    // this block is reported on the next reply.
    const earlier = op.deferred;
    op.deferred = undefined;
    if (compressed) {
      try {
        op.inflater!.push(block, false);
        // The stub knows the stream is complete when all announced bytes are out.
        if (!op.inflateError && op.writePos === op.offset + op.size) {
          op.inflater!.push(new Uint8Array(), true);
        }
      } catch {
        op.inflateError = true;
      }
      if (op.inflateError) op.deferred = StubErr.INFLATE_ERROR;
    } else {
      const room = op.offset + op.size - op.writePos;
      if (room <= 0) op.deferred = StubErr.TOO_MUCH_DATA;
      // Raw blocks are padded to the block size; only `size` bytes are written.
      else this.#flashWrite(op, block.subarray(0, Math.min(room, block.length)));
    }
    op.seq++;
    return earlier ? fail(earlier) : ok();
  }

  #stubFlashEnd(data: Uint8Array): Reply {
    if (data.length !== 4) return fail(StubErr.BAD_DATA_LEN);
    const op = this.#flashOp;
    const reboot = readU32(data, 0) === 0;
    this.#flashOp = undefined;
    if (reboot) this.#after = () => this.#boot("flash", true);
    if (!op) return ok();
    if (op.deferred) return fail(op.deferred);
    if (op.writePos < op.offset + op.size) return fail(StubErr.NOT_ENOUGH_DATA);
    return ok();
  }

  #readFlash(data: Uint8Array): Reply | null {
    if (data.length !== 16) return fail(StubErr.BAD_DATA_LEN);
    const offset = readU32(data, 0);
    const length = readU32(data, 4);
    const packetSize = readU32(data, 8);
    if (!this.#inFlash(offset, length)) return fail(StubErr.FAILED_SPI_OP);
    if (packetSize === 0) return fail(StubErr.BAD_DATA_LEN);
    // The legacy stub answers, then streams; with packets over 4 KiB it
    // answers and sends nothing at all.
    if (packetSize > 0x1000) return ok();
    this.#after = () => {
      this.#read = { offset, length, packetSize, sent: 0, acked: 0 };
      this.#readNext();
    };
    return ok();
  }

  /** Sends the next packet; the legacy stub keeps one packet in flight. */
  #readNext(): void {
    const r = this.#read!;
    if (r.sent >= r.length) {
      this.#read = undefined;
      this.#send(this.flash.md5(r.offset, r.length));
      return;
    }
    const n = Math.min(r.packetSize, r.length - r.sent);
    this.#send(this.flash.read(r.offset + r.sent, n));
    r.sent += n;
  }

  #readAck(frame: Uint8Array): void {
    const r = this.#read!;
    if (frame.length !== 4) return;
    const total = readU32(frame, 0);
    if (total !== r.sent) return; // a stale ACK: keep waiting
    r.acked = total;
    this.#readNext();
  }
}

/**
 * The serial command set of the modelled flash (Winbond W25Q..JV, single
 * SPI), as a chip's SPI controller clocks it in "user command" mode: an
 * opcode, then an address phase, dummy clocks, MOSI data and MISO data, as
 * many bits of each as the controller was set up for. The flash sees one bit
 * stream after the opcode and answers by its own idea of the command's
 * layout, so a controller set up with the wrong address or dummy length
 * reads shifted bits, as on hardware.
 *
 * Commands (W25Q32JV datasheet, "Instructions"): 06h WREN, 04h WRDI, 50h
 * volatile SR write enable, 05h/35h/15h read SR1-3, 01h/31h/11h write SR1-3
 * (01h takes one or two bytes), 9Fh JEDEC id, 90h manufacturer/device id,
 * ABh release power-down / device id, B9h power-down, 4Bh unique id, 5Ah
 * SFDP, 03h read, 0Bh fast read, 02h page program, 20h/52h/D8h sector/32K/64K
 * erase, C7h/60h chip erase, 36h/39h/3Dh individual block lock/unlock/read,
 * 7Eh/98h global block lock/unlock, 66h+99h reset. Program, erase, status
 * and lock writes need WEL and end it; a command whose /CS rises before
 * or after the bits it needs is not executed. Bits the flash does not drive
 * read as 1.
 * @module
 */

import type { NorFlash } from "./flash.ts";

/** One transaction as the controller clocks it. */
export interface SpiTransfer {
  /** Opcode (8 bits). */
  command: number;
  /** Address phase length in bits (0: none). */
  addressBits: number;
  /** Address value, right-aligned. */
  address: number;
  /** Dummy clocks after the address. */
  dummyCycles: number;
  /** MOSI data phase length in bits. */
  mosiBits: number;
  /** MOSI data, first byte first, most significant bit first. */
  mosi: Uint8Array;
  /** MISO data phase length in bits. */
  misoBits: number;
}

interface Layout {
  /** Address bits the flash takes after the opcode. */
  addr: number;
  /** Dummy clocks before its output. */
  dummy: number;
}

/** Output commands: the layout and the byte stream they drive. */
type Reader = Layout & { out: (addr: number) => (i: number) => number };

/** A flash and the state of its reset-enable latch (66h must come right before 99h). */
export class SpiFlashPort {
  /** The part. */
  readonly flash: NorFlash;
  #resetEnabled = false;

  /** A port to `flash`. */
  constructor(flash: NorFlash) {
    this.flash = flash;
  }

  /** Runs one transaction; returns the MISO bits, packed most significant bit first. */
  transfer(t: SpiTransfer): Uint8Array {
    const f = this.flash;
    const hostBits = [
      ...bitsOf(t.address, t.addressBits),
      ...new Array<number>(t.dummyCycles).fill(0),
      ...bytesToBits(t.mosi, t.mosiBits),
    ];
    const clocks = hostBits.length + t.misoBits;
    const reader = f.poweredDown && t.command !== 0xab ? undefined : this.#reader(t.command);
    const miso = new Array<number>(t.misoBits).fill(1);
    if (reader) {
      const addr = bitsValue(hostBits.slice(0, reader.addr));
      const byte = reader.out(addr);
      const start = reader.addr + reader.dummy;
      for (let j = 0; j < t.misoBits; j++) {
        const c = hostBits.length + j - start;
        if (c >= 0) miso[j] = (byte(c >> 3) >> (7 - (c & 7))) & 1;
      }
    }
    const resetEnabled = this.#resetEnabled;
    this.#resetEnabled = false;
    if (!f.poweredDown || t.command === 0xab) {
      this.#execute(t.command, hostBits, clocks, resetEnabled);
    }
    return bitsToBytes(miso);
  }

  #reader(op: number): Reader | undefined {
    const f = this.flash;
    const id = [f.jedecId & 0xff, (f.jedecId >> 8) & 0xff, (f.jedecId >> 16) & 0xff];
    const deviceId = (id[2] - 1) & 0xff; // W25Q32JV: capacity 16h, device id 15h
    const at = (a: number) => (i: number) => f.data[(a + i) % f.size];
    switch (op) {
      case 0x9f:
        return { addr: 0, dummy: 0, out: () => (i) => id[i % 3] };
      case 0x05:
      case 0x35:
      case 0x15: {
        const n = op === 0x05 ? 1 : op === 0x35 ? 2 : 3;
        return { addr: 0, dummy: 0, out: () => () => f.status(n) };
      }
      case 0x5a:
        return { addr: 24, dummy: 8, out: (a) => (i) => f.sfdp[(a + i) & 0xff] };
      case 0x03:
        return { addr: 24, dummy: 0, out: at };
      case 0x0b:
        return { addr: 24, dummy: 8, out: at };
      case 0x90:
        return { addr: 24, dummy: 0, out: (a) => (i) => ((i + (a & 1)) % 2 ? deviceId : id[0]) };
      case 0xab:
        return { addr: 24, dummy: 0, out: () => () => deviceId };
      case 0x4b:
        return { addr: 0, dummy: 32, out: () => (i) => i < 8 ? f.uniqueId[i] : 0xff };
      case 0x3d:
        return { addr: 24, dummy: 0, out: (a) => () => f.blockLock(a) };
      default:
        return undefined;
    }
  }

  /** What the command does when /CS rises after `clocks` clocks past the opcode. */
  #execute(op: number, bits: number[], clocks: number, resetEnabled: boolean): void {
    const f = this.flash;
    const bare = clocks === 0;
    const addressOnly = clocks === 24;
    const addr = bitsValue(bits.slice(0, 24)) % f.size;
    const data = (from: number) =>
      bitsToBytes(bits.slice(from, from + 8 * Math.floor((bits.length - from) / 8)));
    const wholeBytes = (from: number) => clocks === bits.length && (bits.length - from) % 8 === 0;
    switch (op) {
      case 0xab:
        f.poweredDown = false;
        return;
      case 0xb9:
        if (bare) f.poweredDown = true;
        return;
      case 0x06:
        if (bare) f.wel = true;
        return;
      case 0x04:
        if (bare) f.wel = false;
        return;
      case 0x50:
        if (bare) f.volatileWriteEnabled = true;
        return;
      case 0x66:
        this.#resetEnabled = bare;
        return;
      case 0x99:
        if (bare && resetEnabled) f.powerOn();
        return;
      case 0x01:
      case 0x31:
      case 0x11: {
        const bytes = data(0);
        const n = op === 0x01 ? 2 : 1;
        if (!wholeBytes(0) || bytes.length < 1 || bytes.length > n) return;
        f.writeStatus(op === 0x01 ? 1 : op === 0x31 ? 2 : 3, bytes);
        return;
      }
      case 0x02: {
        if (clocks < 32 || !wholeBytes(24)) return;
        if (f.wel) f.program(addr, data(24));
        f.wel = false;
        return;
      }
      case 0x20:
      case 0x52:
      case 0xd8:
        if (!addressOnly) return;
        if (f.wel) {
          if (op === 0x20) f.eraseSector(Math.floor(addr / 0x1000));
          else if (op === 0xd8) f.eraseBlock(Math.floor(addr / 0x10000));
          else this.#erase32k(addr);
        }
        f.wel = false;
        return;
      case 0xc7:
      case 0x60:
        if (!bare) return;
        if (f.wel) f.eraseChip();
        f.wel = false;
        return;
      case 0x36:
      case 0x39:
        if (addressOnly) f.setBlockLock(addr, op === 0x36);
        return;
      case 0x7e:
      case 0x98:
        if (bare) f.setAllBlockLocks(op === 0x7e);
        return;
    }
  }

  /** 52h: the eight sectors of a 32 KiB half block (counted as eight sector erases). */
  #erase32k(addr: number): void {
    const f = this.flash;
    const first = addr - (addr % 0x8000);
    if (f.isProtected(first, 0x8000)) return;
    for (let s = first / 0x1000; s < first / 0x1000 + 8 && s < f.sectors; s++) f.eraseSector(s);
  }
}

function bitsOf(value: number, n: number): number[] {
  const out: number[] = [];
  for (let i = n - 1; i >= 0; i--) out.push(Math.floor(value / 2 ** i) % 2);
  return out;
}

function bytesToBits(bytes: Uint8Array, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(((bytes[i >> 3] ?? 0) >> (7 - (i & 7))) & 1);
  return out;
}

function bitsToBytes(bits: number[]): Uint8Array {
  const out = new Uint8Array(Math.ceil(bits.length / 8));
  bits.forEach((b, i) => {
    if (b) out[i >> 3] |= 0x80 >> (i & 7);
  });
  return out;
}

function bitsValue(bits: number[]): number {
  return bits.reduce((v, b) => v * 2 + b, 0);
}

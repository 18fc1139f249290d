/**
 * Any SPI flash command through the chip's SPI controller in "user command"
 * mode, with register reads and writes only (READ_REG/WRITE_REG), as
 * esptool's `run_spiflash_command` drives it: an opcode, up to 64 bytes out
 * on MOSI, up to 32 bits back on MISO. On it: the flash's status registers
 * (RDSR/RDSR2/RDSR3 to read; WREN or the volatile-write enable 50h, then
 * WRSR/WRSR2/WRSR3 to write, then WRDI), as esptool's `read_status` and
 * `write_status` send them.
 *
 * @example
 * ```ts
 * import { readFlashStatus, writeFlashStatus } from "./spi_command.ts";
 * import { connect } from "./loader.ts";
 * import { memoryPort } from "../emulator/memory.ts";
 * import { VirtualDevice } from "../emulator/device.ts";
 * import assert from "node:assert/strict";
 *
 * const port = memoryPort(new VirtualDevice({ chip: "esp32c3" }));
 * const loader = await connect(port);
 * assert.equal(await readFlashStatus(loader, 2), 0x0200); // QE set, nothing protected
 * await writeFlashStatus(loader, 0x0208, 2); // BP1, volatile
 * assert.equal(await readFlashStatus(loader, 2), 0x0208);
 * await port.close();
 * ```
 * @module
 */

import type { ChipInfo } from "../chips/chips.ts";
import { ProtocolError } from "../protocol/errors.ts";

/** The register access a command needs (a Loader has it). */
export interface RegisterAccess {
  /** The chip whose SPI controller is driven. */
  readonly chip: ChipInfo;
  /** READ_REG. */
  readReg(addr: number): Promise<number>;
  /** WRITE_REG. */
  writeReg(addr: number, value: number): Promise<void>;
}

/** One flash command: the opcode, bytes to send, and bits to read back (at most 32). */
export interface SpiCommand {
  /** Opcode. */
  command: number;
  /** Bytes sent after the opcode (at most 64). */
  data?: Uint8Array;
  /** Bits read back after the data (at most 32). */
  readBits?: number;
}

const USR_COMMAND = 1 << 31;
const USR_MISO = 1 << 28;
const USR_MOSI = 1 << 27;
const CMD_USR = 1 << 18;

/**
 * Runs one command and returns the bits read back (W0, little-endian as the
 * controller shifts them in). The USR and USR2 registers are put back.
 */
export async function runSpiFlashCommand(dev: RegisterAccess, cmd: SpiCommand): Promise<number> {
  const spi = dev.chip.spi;
  const reg = (o: number) => spi.base + o;
  const data = cmd.data ?? new Uint8Array();
  const readBits = cmd.readBits ?? 0;
  if (readBits > 32) throw new RangeError("at most 32 bits can be read back");
  if (data.length > 64) throw new RangeError("at most 64 bytes can be sent");
  const dataBits = data.length * 8;
  const oldUsr = await dev.readReg(reg(spi.usr));
  const oldUsr2 = await dev.readReg(reg(spi.usr2));
  let flags = USR_COMMAND;
  if (readBits > 0) flags |= USR_MISO;
  if (dataBits > 0) flags |= USR_MOSI;
  if (spi.misoDlen !== undefined && spi.mosiDlen !== undefined) {
    if (dataBits > 0) await dev.writeReg(reg(spi.mosiDlen), dataBits - 1);
    if (readBits > 0) await dev.writeReg(reg(spi.misoDlen), readBits - 1);
  } else {
    // ESP8266: both lengths in USR1 (MISO at bit 8, MOSI at bit 17).
    const miso = readBits === 0 ? 0 : readBits - 1;
    const mosi = dataBits === 0 ? 0 : dataBits - 1;
    await dev.writeReg(reg(spi.usr1), ((miso << 8) | (mosi << 17)) >>> 0);
  }
  await dev.writeReg(reg(spi.usr), flags >>> 0);
  await dev.writeReg(reg(spi.usr2), ((7 << 28) | cmd.command) >>> 0);
  if (dataBits === 0) {
    await dev.writeReg(reg(spi.w0), 0);
  } else {
    const padded = new Uint8Array(Math.ceil(data.length / 4) * 4);
    padded.set(data);
    const view = new DataView(padded.buffer);
    for (let i = 0; i < padded.length; i += 4) {
      await dev.writeReg(reg(spi.w0) + i, view.getUint32(i, true));
    }
  }
  await dev.writeReg(spi.base, CMD_USR);
  let done = false;
  for (let i = 0; i < 10 && !done; i++) done = ((await dev.readReg(spi.base)) & CMD_USR) === 0;
  if (!done) {
    throw new ProtocolError(`SPI flash command 0x${cmd.command.toString(16)} did not complete`);
  }
  const status = await dev.readReg(reg(spi.w0));
  await dev.writeReg(reg(spi.usr), oldUsr);
  await dev.writeReg(reg(spi.usr2), oldUsr2);
  return status >>> 0;
}

const RDSR = [0x05, 0x35, 0x15];
const WRSR = [0x01, 0x31, 0x11];
const WREN = 0x06;
const WEVSR = 0x50;
const WRDI = 0x04;

/** Status registers 1..`bytes` (1-3), register 1 in the low byte. */
export async function readFlashStatus(dev: RegisterAccess, bytes: 1 | 2 | 3): Promise<number> {
  let status = 0;
  for (let i = 0; i < bytes; i++) {
    status += ((await runSpiFlashCommand(dev, { command: RDSR[i], readBits: 8 })) & 0xff) *
      2 ** (8 * i);
  }
  return status;
}

/**
 * Writes status registers 1..`bytes` as esptool does: volatile (50h) unless
 * `nonVolatile` (06h), with two bytes first as one 16-bit WRSR (which some
 * parts need), then each register with its own command, then WRDI.
 */
export async function writeFlashStatus(
  dev: RegisterAccess,
  value: number,
  bytes: 1 | 2 | 3,
  nonVolatile = false,
): Promise<void> {
  const enable = nonVolatile ? WREN : WEVSR;
  if (bytes === 2) {
    await runSpiFlashCommand(dev, { command: enable });
    await runSpiFlashCommand(dev, {
      command: WRSR[0],
      data: new Uint8Array([value & 0xff, (value >> 8) & 0xff]),
    });
  }
  let v = value;
  for (let i = 0; i < bytes; i++) {
    await runSpiFlashCommand(dev, { command: enable });
    await runSpiFlashCommand(dev, { command: WRSR[i], data: new Uint8Array([v & 0xff]) });
    v = Math.floor(v / 256);
  }
  await runSpiFlashCommand(dev, { command: WRDI });
}

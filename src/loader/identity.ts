/**
 * What a chip says about itself through its registers: the base MAC from
 * eFuse/OTP words, and the flash's JEDEC id through the SPI controller's
 * user-command unit (RDID, 0x9F), as esptool reads them.
 * @module
 */

import { type ChipInfo, macFromWords, macWords } from "../chips/chips.ts";
import { ProtocolError } from "../protocol/errors.ts";
import type { Connection } from "./connection.ts";

/** The base MAC, 6 bytes. */
export async function readMac(conn: Connection, chip: ChipInfo): Promise<number[]> {
  const values = new Map<number, number>();
  for (const a of macWords(chip.mac)) values.set(a, await conn.readReg(a));
  return macFromWords(chip.mac, (a) => values.get(a) ?? 0);
}

/**
 * JEDEC id via the SPI user-command registers (manufacturer in the low
 * byte). The registers it borrows are put back afterwards.
 */
export async function readFlashId(conn: Connection, chip: ChipInfo): Promise<number> {
  const spi = chip.spi;
  const reg = (o: number) => spi.base + o;
  const oldUsr = await conn.readReg(reg(spi.usr));
  const oldUsr2 = await conn.readReg(reg(spi.usr2));
  const readBits = 24;
  if (spi.misoDlen !== undefined) {
    await conn.writeReg(reg(spi.misoDlen), readBits - 1);
  } else {
    await conn.writeReg(reg(spi.usr1), (readBits - 1) << 8);
  }
  const USR_COMMAND = 1 << 31;
  const USR_MISO = 1 << 28;
  await conn.writeReg(reg(spi.usr), (USR_COMMAND | USR_MISO) >>> 0);
  await conn.writeReg(reg(spi.usr2), ((7 << 28) | 0x9f) >>> 0);
  await conn.writeReg(reg(spi.w0), 0);
  const CMD_USR = 1 << 18;
  await conn.writeReg(spi.base, CMD_USR);
  let done = false;
  for (let i = 0; i < 10 && !done; i++) done = ((await conn.readReg(spi.base)) & CMD_USR) === 0;
  if (!done) throw new ProtocolError("SPI flash RDID command did not complete");
  const id = (await conn.readReg(reg(spi.w0))) & 0xffffff;
  await conn.writeReg(reg(spi.usr), oldUsr);
  await conn.writeReg(reg(spi.usr2), oldUsr2);
  return id;
}

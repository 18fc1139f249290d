/**
 * What a chip says about itself through its registers: the base MAC from
 * eFuse/OTP words, the silicon revision from its eFuse fields, and the flash's JEDEC id through the SPI controller's
 * user-command unit (RDID, 0x9F), as esptool reads them.
 * @module
 */

import {
  type ChipInfo,
  chipRevision,
  macFromWords,
  macWords,
  revisionWords,
} from "../chips/chips.ts";
import { ProtocolError } from "../protocol/errors.ts";
import type { Connection } from "./connection.ts";

/** The base MAC, 6 bytes. */
export async function readMac(conn: Connection, chip: ChipInfo): Promise<number[]> {
  const values = new Map<number, number>();
  for (const a of macWords(chip.mac)) values.set(a, await conn.readReg(a));
  return macFromWords(chip.mac, (a) => values.get(a) ?? 0);
}

/**
 * The chip ID, where a chip has one: only the ESP8266 does (its SDK's
 * `system_get_chip_id()`: the low MAC bytes from OTP, as esptool reads
 * them); later chips have none, and esptool shows their MAC instead.
 */
export async function readChipId(conn: Connection, chip: ChipInfo): Promise<number | undefined> {
  if (chip.mac.kind !== "esp8266") return undefined;
  const id0 = await conn.readReg(chip.mac.mac0);
  const id1 = await conn.readReg(chip.mac.mac1);
  return ((id0 >>> 24) | ((id1 & 0xffffff) << 8)) >>> 0;
}

/**
 * The silicon revision, major * 100 + minor, from the chip's eFuse fields
 * (the chip table's `revision`), or undefined where the chip has none.
 */
export async function readRevision(conn: Connection, chip: ChipInfo): Promise<number | undefined> {
  if (!chip.revision) return undefined;
  const values = new Map<number, number>();
  for (const a of revisionWords(chip.revision)) values.set(a, await conn.readReg(a));
  return chipRevision(chip.revision, (a) => values.get(a) ?? 0);
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

/**
 * What to do with the chip at the end of a session, by esptool v5's
 * `--after` names: pulse EN (hard reset), let the RTC watchdog reset it, or
 * leave the loader for the app without a reset line (soft reset, where the
 * chip's loaders can).
 * @module
 */

import { type ChipInfo, RTC_WDT_WKEY } from "../chips/chips.ts";
import { flashBegin, flashEnd, runUserCode } from "../protocol/commands.ts";
import { encodeCommand } from "../protocol/packet.ts";
import { Sizes } from "../protocol/opcodes.ts";
import { hardResetSteps, runSequence } from "../serial/reset.ts";
import type { Connection } from "./connection.ts";
import { UnsupportedError } from "./connect.ts";

/** What to do after the command, by esptool v5's names. */
export type AfterReset =
  | "hard-reset"
  | "soft-reset"
  | "no-reset"
  | "no-reset-stub"
  | "watchdog-reset";

/**
 * Resets the chip into its app by pulsing EN. Ports without modem lines
 * (a pty, a raw socket) cannot reset; the chip stays in the loader.
 * Returns whether a reset was sent.
 */
export async function hardReset(conn: Connection): Promise<boolean> {
  if (!conn.port.hasModemLines) return false;
  await runSequence(conn.port, hardResetSteps(), (ms) => conn.clock.sleep(ms));
  return true;
}

/**
 * Resets through the RTC watchdog (esptool's watchdog reset): a full chip
 * reset that re-samples the strap pins, for ports that cannot pulse EN
 * (USB-Serial/JTAG). Not available where the chip table lists no watchdog
 * (the ESP8266 and ESP32).
 */
export async function watchdogReset(conn: Connection, chip: ChipInfo): Promise<void> {
  const wdt = chip.rtcWdt;
  if (!wdt) {
    throw new UnsupportedError(
      `watchdog reset is not supported on ${chip.displayName}; use --after hard-reset`,
    );
  }
  await conn.writeReg(wdt.wprotect, RTC_WDT_WKEY);
  await conn.writeReg(wdt.config1, 2000);
  await conn.writeReg(wdt.config0, ((1 << 31) | (5 << 28) | (1 << 8) | 2) >>> 0);
  await conn.writeReg(wdt.wprotect, 0);
  await conn.clock.sleep(500);
}

/**
 * Soft reset: run the app without a reset line, where the chip's loaders
 * can (the chip table's `softReset`: the ESP8266). Its stub runs the app at
 * once (RUN_USER_CODE, no reply); its ROM leaves the loader for the app
 * after an empty FLASH_BEGIN and a FLASH_END, as esptool does it.
 */
export async function softReset(conn: Connection, chip: ChipInfo, stub: boolean): Promise<void> {
  if (!chip.softReset) {
    throw new UnsupportedError(
      `soft reset is only supported on the ESP8266; use --after hard-reset or watchdog-reset`,
    );
  }
  if (stub) {
    const { op, data } = runUserCode();
    await conn.send(encodeCommand(op, data));
    return;
  }
  await conn.command(flashBegin({
    size: 0,
    blocks: 0,
    blockSize: Sizes.ROM_FLASH_BLOCK,
    offset: 0,
    encryptedWord: chip.rom.beginEncryptedWord,
  }));
  await conn.command(flashEnd());
}

/**
 * `--after no-reset` as esptool v5 does it: the chip stays in its serial
 * loader, so a running flasher stub is asked to leave for the ROM loader
 * (an empty FLASH_BEGIN, then FLASH_END asking for a reboot; a software
 * reset keeps the download mode latched). The legacy stub reboots into the
 * ROM; esp-flasher-stub never reboots on FLASH_END, so it keeps running, as
 * it does after esptool. The ROM loader needs nothing. `no-reset-stub`
 * leaves any stub running.
 */
export async function leaveStub(conn: Connection, stub: boolean): Promise<void> {
  if (!stub) return;
  await conn.command(
    flashBegin({ size: 0, blocks: 0, blockSize: Sizes.STUB_FLASH_BLOCK, offset: 0 }),
  );
  await conn.command(flashEnd({ run: true }));
}

/**
 * Ends a session as `mode` says. Returns a note for the user when the port
 * could not reset the chip.
 */
export async function resetAfter(
  conn: Connection,
  chip: ChipInfo,
  stub: boolean,
  mode: AfterReset,
): Promise<string | undefined> {
  switch (mode) {
    case "hard-reset":
      return (await hardReset(conn))
        ? undefined
        : `${conn.port.path} has no reset lines; the chip stays in its loader`;
    case "soft-reset":
      await softReset(conn, chip, stub);
      return undefined;
    case "watchdog-reset":
      await watchdogReset(conn, chip);
      return undefined;
    case "no-reset":
      await leaveStub(conn, stub);
      return undefined;
    case "no-reset-stub":
      return undefined;
  }
}

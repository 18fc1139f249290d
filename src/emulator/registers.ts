/**
 * The register map a virtual chip answers READ_REG / WRITE_REG with: the ROM
 * magic word, MAC eFuse words, UART date and clock divider, the ESP32's
 * 8 MHz-clock calibration words, and the SPI "user command" unit that
 * esptool drives to read the flash JEDEC id (§5.5). Unknown addresses read 0.
 * @module
 */

import { CHIP_DETECT_MAGIC_REG, type ChipInfo, RTC_WDT_WKEY } from "../chips/chips.ts";

const SPI_CMD_USR = 1 << 18;

/** ESP32: RTC calibration word and eFuse word 4, from which its ROM estimates the crystal. */
const ESP32_RTCCALICFG1 = 0x3ff5f06c;
const ESP32_EFUSE_WORD4 = 0x3ff5a010;
/** ESP32 eFuse block 0 word 0: FLASH_CRYPT_CNT in bits 26..20, as esptool reads it. */
const ESP32_EFUSE_WORD0 = 0x3ff5a000;
/** The ESP32 ROM's estimate is cali * 15625 * ck8m / 40 Hz; ck8m is fixed here. */
const ESP32_CK8M = 128;

/** CRC-8 (reflected polynomial 0x8C, initial 0) the ESP32 eFuse MAC CRC uses. */
export function macCrc8(mac: readonly number[]): number {
  let crc = 0;
  for (const b of mac) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >> 1) ^ 0x8c : crc >> 1;
  }
  return crc;
}

/** What the register map needs to know beyond the chip table. */
export interface RegisterOptions {
  /** Base MAC, 6 bytes. */
  mac: readonly number[];
  /** Flash JEDEC id as W0 holds it: manufacturer in the low byte. */
  jedecId: number;
  /** Crystal frequency in Hz. */
  xtalHz: number;
  /** ESP32 only: the crystal frequency its ROM believes (from the 8 MHz clock). */
  romXtalEstimateHz: number;
  /** Called when the unlocked RTC watchdog is enabled, with its stage-0 timeout in ticks. */
  onWatchdog?: (ticks: number) => void;
  /** ESP32: FLASH_CRYPT_CNT, in bits 26..20 of eFuse block 0 word 0 (default 0). */
  flashCryptCnt?: number;
}

/** Register state of one virtual chip. */
export class Registers {
  readonly #chip: ChipInfo;
  readonly #values = new Map<number, number>();
  readonly #jedecId: number;
  readonly #uartClockHz: number;
  readonly #onWatchdog?: (ticks: number) => void;

  /** Fills the map for `chip`. */
  constructor(chip: ChipInfo, options: RegisterOptions) {
    this.#chip = chip;
    this.#jedecId = options.jedecId;
    this.#onWatchdog = options.onWatchdog;
    // The ESP8266 UART is clocked at twice the crystal (esptool divides by 2).
    this.#uartClockHz = options.xtalHz * (chip.name === "esp8266" ? 2 : 1);
    this.#values.set(CHIP_DETECT_MAGIC_REG, chip.magicValues[0] >>> 0);
    // esptool v2 told the ESP8266 and ESP32 apart by this word; others: any value.
    this.#values.set(chip.uartDateReg, chip.name === "esp8266" ? 0x00062000 : 0x15122500);
    this.#setMac(options.mac);
    if (chip.name === "esp32") {
      const cali = Math.round(options.romXtalEstimateHz * 40 / (15625 * ESP32_CK8M));
      this.#values.set(ESP32_RTCCALICFG1, (cali & 0x1ffffff) << 7);
      this.#values.set(ESP32_EFUSE_WORD4, ESP32_CK8M);
      this.#values.set(ESP32_EFUSE_WORD0, ((options.flashCryptCnt ?? 0) & 0x7f) << 20);
    }
    this.setBaud(115200);
  }

  #setMac(mac: readonly number[]): void {
    const m = this.#chip.mac;
    const low = ((mac[2] << 24) | (mac[3] << 16) | (mac[4] << 8) | mac[5]) >>> 0;
    switch (m.kind) {
      case "efuse":
        this.#values.set(m.mac0, low);
        this.#values.set(m.mac0 + 4, (mac[0] << 8) | mac[1]);
        break;
      case "esp32":
        this.#values.set(m.word1, low);
        // Bits 23..16 of word 2 hold the MAC's CRC-8, as espefuse checks it.
        this.#values.set(m.word2, ((macCrc8(mac) << 16) | (mac[0] << 8) | mac[1]) >>> 0);
        break;
      case "esp8266": {
        // MAC1[23:16] picks a built-in OUI (0: 18:FE:34, 1: AC:D0:74); else MAC3 holds it.
        const oui0 = mac[0] === 0x18 && mac[1] === 0xfe && mac[2] === 0x34;
        const oui1 = mac[0] === 0xac && mac[1] === 0xd0 && mac[2] === 0x74;
        this.#values.set(m.mac0, (mac[5] << 24) >>> 0);
        this.#values.set(m.mac1, ((oui1 ? 1 : 0) << 16) | (mac[3] << 8) | mac[4]);
        this.#values.set(m.mac3, oui0 || oui1 ? 0 : (mac[0] << 16) | (mac[1] << 8) | mac[2]);
        break;
      }
    }
  }

  /**
   * Sets the UART clock divider for `baud` (integer part in bits 19..0, and
   * on ESP32 and later a 4-bit fraction in bits 23..20), so a host that
   * estimates the crystal from it (esptool, §5.4) finds the real one.
   */
  setBaud(baud: number): void {
    if (!(baud > 0)) return;
    const reg = this.#chip.uartClkdivReg;
    if (this.#chip.name === "esp8266") {
      this.#values.set(reg, Math.round(this.#uartClockHz / baud) & 0xfffff);
      return;
    }
    const div16 = Math.round(this.#uartClockHz * 16 / baud);
    this.#values.set(reg, (((div16 & 0xf) << 20) | ((div16 >> 4) & 0xfffff)) >>> 0);
  }

  /** READ_REG. Unknown addresses read 0. */
  read(addr: number): number {
    return this.#values.get(addr >>> 0) ?? 0;
  }

  /**
   * WRITE_REG with a mask (bits outside it keep their value). Setting the
   * USR bit of the SPI CMD register runs the user command at once and
   * clears the bit, as the hardware does when the command completes.
   */
  write(addr: number, value: number, mask = 0xffffffff): void {
    const a = addr >>> 0;
    const old = this.#values.get(a) ?? 0;
    const next = ((old & ~mask) | (value & mask)) >>> 0;
    this.#values.set(a, next);
    if (a === this.#chip.spi.base && (next & SPI_CMD_USR)) this.#runSpiCommand();
    const wdt = this.#chip.rtcWdt;
    if (
      wdt && a === wdt.config0 && (next & 0x80000000) !== 0 &&
      this.read(wdt.wprotect) === RTC_WDT_WKEY
    ) {
      this.#onWatchdog?.(this.read(wdt.config1));
    }
  }

  #runSpiCommand(): void {
    const spi = this.#chip.spi;
    const opcode = this.read(spi.base + spi.usr2) & 0xffff;
    // RDID (0x9F) answers the JEDEC id; status reads and anything else answer 0
    // (no write protection, not busy).
    this.#values.set(spi.base + spi.w0, opcode === 0x9f ? this.#jedecId & 0xffffff : 0);
    this.#values.set(spi.base, this.read(spi.base) & ~SPI_CMD_USR);
  }
}

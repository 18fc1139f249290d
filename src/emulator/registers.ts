/**
 * The register map a virtual chip answers READ_REG / WRITE_REG with: the ROM
 * magic word; eFuse words (MAC, revision and package from identity.ts,
 * security fields); the ESP32's 8 MHz-clock calibration; the reset values
 * of the SPI flash controller and UART0 (reset_values.ts), with the UART
 * clock divider following the baud rate; and the SPI controller's "user
 * command" unit, which clocks commands to the flash chip (spi_flash.ts) as
 * esptool's `run_spiflash_command` drives it (§5.5). Other addresses read 0.
 *
 * The ESP32 also answers its peripheral block 0x3FF40000-0x3FF7FFFF at
 * 0x60000000-0x6003FFFF (ESP32 TRM, "Address Mapping": the same registers
 * on the AHB bus), where older flashers read the eFuses (0x6001A000) and
 * drive SPI1 (0x60002000).
 *
 * Until the ROM attaches the flash (SPI_ATTACH; a stub attaches when it
 * starts) the SPI pins are not routed to the flash: commands never reach it,
 * and what is clocked in reads all ones on the ESP32 (its MISO floats high:
 * esptool reads id 0xFFFFFF from a PICO-D4 whose pins are not set up) and
 * all zeros on later chips. The ESP8266's SPI pins are dedicated, so its
 * flash always answers.
 * @module
 */

import { CHIP_DETECT_MAGIC_REG, type ChipInfo, RTC_WDT_WKEY } from "../chips/chips.ts";
import type { ChipIdentity } from "./identity.ts";
import { resetValues } from "./reset_values.ts";
import type { SpiFlashPort } from "./spi_flash.ts";

const SPI_CMD_USR = 1 << 18;
const USR_COMMAND = 1 << 31;
const USR_ADDR = 1 << 30;
const USR_DUMMY = 1 << 29;
const USR_MISO = 1 << 28;
const USR_MOSI = 1 << 27;
/** The data buffer W0..W15. */
const BUFFER_BYTES = 64;

/** ESP32: RTC calibration word and eFuse word 4, from which its ROM estimates the crystal. */
const ESP32_RTCCALICFG1 = 0x3ff5f06c;
const ESP32_EFUSE_WORD4 = 0x3ff5a010;
/** ESP32 eFuse block 0 word 0: FLASH_CRYPT_CNT in bits 26..20, read-disable of BLOCK1 in bit 16. */
const ESP32_EFUSE_WORD0 = 0x3ff5a000;
/** ESP32 eFuse block 0 word 5: FLASH_CRYPT_CONFIG in bits 31..28. */
const ESP32_EFUSE_WORD5 = 0x3ff5a014;
/** The ESP32 ROM's estimate is cali * 15625 * ck8m / 40 Hz; ck8m is fixed here. */
const ESP32_CK8M = 128;
/** ESP32 APB_CTRL_DATE before the revision bit (identity.ts sets bit 31 on v3). */
const ESP32_APB_CTRL_DATE = 0x3ff6607c;
const ESP32_APB_DATE_VALUE = 0x16042000;

/** CRC-8 (reflected polynomial 0x8C, initial 0) the ESP32 eFuse MAC CRC uses. */
export function macCrc8(mac: readonly number[]): number {
  let crc = 0;
  for (const b of mac) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >> 1) ^ 0x8c : crc >> 1;
  }
  return crc;
}

/** The security eFuses besides the ones GET_SECURITY_INFO reports. */
export interface EfuseSecurity {
  /** FLASH_CRYPT_CNT / SPI_BOOT_CRYPT_CNT. */
  flashCryptCnt: number;
  /** ESP32 FLASH_CRYPT_CONFIG (0 on blank eFuses). */
  flashCryptConfig: number;
  /** KEY_PURPOSE_0..5 (chips with key purposes). */
  keyPurposes: readonly number[];
  /** Length of the burned flash encryption key in bytes (0: none); the key block reads as 0, read-protected. */
  keyLength: number;
}

/** What the register map needs to know beyond the chip table. */
export interface RegisterOptions {
  /** Base MAC, 6 bytes. */
  mac: readonly number[];
  /** Crystal frequency in Hz. */
  xtalHz: number;
  /** ESP32 only: the crystal frequency its ROM believes (from the 8 MHz clock). */
  romXtalEstimateHz: number;
  /** Called when the unlocked RTC watchdog is enabled, with its stage-0 timeout in ticks. */
  onWatchdog?: (ticks: number) => void;
  /** The flash on the SPI bus. */
  flash: SpiFlashPort;
  /** Revision and package (identity.ts). */
  identity: ChipIdentity;
  /** Security eFuses (default blank). */
  security?: EfuseSecurity;
}

/** Where a chip family keeps SPI_BOOT_CRYPT_CNT and the key purposes (esptool's target classes). */
function securityFields(chip: ChipInfo) {
  const b = chip.efuseBase;
  switch (chip.name) {
    case "esp32c2":
      return { cnt: { addr: b + 0x30, shift: 7 }, purposes: undefined };
    case "esp32c5":
      return {
        cnt: { addr: b + 0x34, shift: 16 },
        purposes: {
          width: 5,
          at: [[0x34, 22], [0x34, 27], [0x38, 0], [0x38, 5], [0x38, 10], [0x38, 15]],
        },
      };
    case "esp32s2":
    case "esp32s3":
    case "esp32c3":
    case "esp32c6":
    case "esp32h2":
    case "esp32p4":
      return {
        cnt: { addr: b + 0x34, shift: 18 },
        purposes: {
          width: 4,
          at: [[0x34, 24], [0x34, 28], [0x38, 0], [0x38, 4], [0x38, 8], [0x38, 12]],
        },
      };
    default:
      return undefined;
  }
}

/** Register state of one virtual chip. */
export class Registers {
  readonly #chip: ChipInfo;
  readonly #values = new Map<number, number>();
  readonly #flash: SpiFlashPort;
  readonly #uartClockHz: number;
  readonly #onWatchdog?: (ticks: number) => void;
  #attached: boolean;

  /** Fills the map for `chip`, as after a reset. */
  constructor(chip: ChipInfo, options: RegisterOptions) {
    this.#chip = chip;
    this.#flash = options.flash;
    this.#onWatchdog = options.onWatchdog;
    this.#attached = chip.name === "esp8266";
    // The ESP8266 UART is clocked at twice the crystal (esptool divides by 2).
    this.#uartClockHz = options.xtalHz * (chip.name === "esp8266" ? 2 : 1);
    const reset = resetValues(chip.name, options.identity.revision.major);
    for (const [off, v] of reset.spi) this.#values.set(chip.spi.base + off, v);
    for (const [off, v] of reset.uart) this.#values.set(reset.uartBase + off, v);
    this.#values.set(CHIP_DETECT_MAGIC_REG, chip.magicValues[0] >>> 0);
    // esptool v2 told the ESP8266 from the ESP32 by this UART date word.
    if (chip.name === "esp8266") this.#values.set(chip.uartDateReg, 0x00062000);
    if (chip.name === "esp32") this.#values.set(ESP32_APB_CTRL_DATE, ESP32_APB_DATE_VALUE);
    for (const [addr, v] of options.identity.words) this.#or(addr, v);
    this.#setMac(options.mac);
    this.#setSecurity(options.security);
    if (chip.name === "esp32") {
      const cali = Math.round(options.romXtalEstimateHz * 40 / (15625 * ESP32_CK8M));
      this.#values.set(ESP32_RTCCALICFG1, (cali & 0x1ffffff) << 7);
      this.#or(ESP32_EFUSE_WORD4, ESP32_CK8M);
    }
    this.setBaud(115200);
  }

  #or(addr: number, value: number): void {
    this.#values.set(addr, ((this.#values.get(addr) ?? 0) | value) >>> 0);
  }

  #setMac(mac: readonly number[]): void {
    const m = this.#chip.mac;
    const low = ((mac[2] << 24) | (mac[3] << 16) | (mac[4] << 8) | mac[5]) >>> 0;
    switch (m.kind) {
      case "efuse":
        this.#or(m.mac0, low);
        this.#or(m.mac0 + 4, (mac[0] << 8) | mac[1]);
        break;
      case "esp32":
        this.#or(m.word1, low);
        // Bits 23..16 of word 2 hold the MAC's CRC-8, as espefuse checks it.
        this.#or(m.word2, ((macCrc8(mac) << 16) | (mac[0] << 8) | mac[1]) >>> 0);
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

  #setSecurity(s: EfuseSecurity | undefined): void {
    if (!s) return;
    const chip = this.#chip;
    if (chip.name === "esp32") {
      this.#or(ESP32_EFUSE_WORD0, (s.flashCryptCnt & 0x7f) << 20);
      // A burned key is read-protected (EFUSE_RD_DIS bit 0: BLOCK1), as espefuse burns it.
      if (s.keyLength) this.#or(ESP32_EFUSE_WORD0, 1 << 16);
      this.#or(ESP32_EFUSE_WORD5, (s.flashCryptConfig & 0xf) << 28);
      return;
    }
    const fields = securityFields(chip);
    if (!fields) return;
    this.#or(fields.cnt.addr, (s.flashCryptCnt & 7) << fields.cnt.shift);
    if (fields.purposes) {
      const p = fields.purposes;
      p.at.forEach(([off, shift], i) => {
        this.#or(chip.efuseBase + off, ((s.keyPurposes[i] ?? 0) & ((1 << p.width) - 1)) << shift);
      });
    } else if (s.keyLength) {
      // ESP32-C2: XTS_KEY_LENGTH_256 (bit 10) and RD_DIS of the key's block halves (bits 1..0).
      const long = s.keyLength === 32;
      this.#or(chip.efuseBase + 0x30, (long ? 1 << 10 : 0) | (long ? 3 : 1));
    }
  }

  /** The ROM (SPI_ATTACH) or a stub has routed the SPI pins to the flash. */
  attach(): void {
    this.#attached = true;
  }

  /** True once the flash is attached. */
  get attached(): boolean {
    return this.#attached;
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

  /** The address a READ_REG/WRITE_REG of `addr` reaches (the ESP32's AHB alias). */
  #canonical(addr: number): number {
    const a = addr >>> 0;
    if (this.#chip.name === "esp32" && a >= 0x60000000 && a < 0x60040000) {
      return a - 0x60000000 + 0x3ff40000;
    }
    return a;
  }

  /** READ_REG. Unknown addresses read 0. */
  read(addr: number): number {
    return this.#values.get(this.#canonical(addr)) ?? 0;
  }

  /**
   * WRITE_REG with a mask (bits outside it keep their value). Setting the
   * USR bit of the SPI CMD register runs the user command at once and
   * clears the bit, as the hardware does when the command completes.
   */
  write(addr: number, value: number, mask = 0xffffffff): void {
    const a = this.#canonical(addr);
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

  /** The user command as USR, USR1, USR2, ADDR and the data lengths describe it. */
  #runSpiCommand(): void {
    const spi = this.#chip.spi;
    const reg = (off: number) => this.read(spi.base + off);
    const usr = reg(spi.usr);
    const usr1 = reg(spi.usr1);
    const usr2 = reg(spi.usr2);
    const legacy = this.#chip.name === "esp8266" || this.#chip.name === "esp32";
    const addressBits = usr & USR_ADDR ? ((usr1 >>> 26) & 0x3f) + 1 : 0;
    const addrReg = reg(0x4);
    // The ESP32 and ESP8266 send the address from the top of SPI_ADDR, later chips from the bottom.
    const address = addressBits === 0
      ? 0
      : legacy
      ? Math.floor(addrReg / 2 ** (32 - addressBits))
      : addrReg % 2 ** addressBits;
    const dummyCycles = usr & USR_DUMMY ? (usr1 & (legacy ? 0xff : 0x3f)) + 1 : 0;
    const dlen = (off: number | undefined, shift: number) =>
      Math.min(
        BUFFER_BYTES * 8,
        (off === undefined ? (usr1 >>> shift) & 0x1ff : reg(off) & 0xffffff) + 1,
      );
    const mosiBits = usr & USR_MOSI ? dlen(spi.mosiDlen, 17) : 0;
    const misoBits = usr & USR_MISO ? dlen(spi.misoDlen, 8) : 0;
    const buffer = new Uint8Array(BUFFER_BYTES);
    const view = new DataView(buffer.buffer);
    for (let i = 0; i < 16; i++) view.setUint32(i * 4, reg(spi.w0 + i * 4), true);
    let miso: Uint8Array;
    if (!this.#attached) {
      miso = new Uint8Array(Math.ceil(misoBits / 8)).fill(this.#chip.name === "esp32" ? 0xff : 0);
    } else if (usr & USR_COMMAND) {
      miso = this.#flash.transfer({
        command: usr2 & 0xff,
        addressBits,
        address,
        dummyCycles,
        mosiBits,
        mosi: buffer,
        misoBits,
      });
    } else {
      miso = new Uint8Array(Math.ceil(misoBits / 8)).fill(0xff);
    }
    buffer.set(miso);
    for (let i = 0; i < Math.ceil(miso.length / 4); i++) {
      this.#values.set(spi.base + spi.w0 + i * 4, view.getUint32(i * 4, true));
    }
    this.#values.set(spi.base, reg(0) & ~SPI_CMD_USR);
  }
}

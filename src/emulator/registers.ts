/**
 * The register map a virtual chip answers READ_REG / WRITE_REG with: the ROM
 * magic word, MAC eFuse words, UART date and clock divider, and the SPI
 * "user command" unit that esptool drives to read the flash JEDEC id.
 * @module
 */

import { CHIP_DETECT_MAGIC_REG, type ChipInfo } from "../chips/chips.ts";

const SPI_CMD_USR = 1 << 18;

/** Register state of one virtual chip. */
export class Registers {
  readonly #chip: ChipInfo;
  readonly #values = new Map<number, number>();
  readonly #jedecId: number;
  readonly #xtalHz: number;

  /** Fills the map for `chip` with the given MAC and flash JEDEC id. */
  constructor(chip: ChipInfo, mac: readonly number[], jedecId: number) {
    this.#chip = chip;
    this.#jedecId = jedecId;
    this.#xtalHz = chip.name === "esp8266" ? 26_000_000 : 40_000_000;
    this.#values.set(CHIP_DETECT_MAGIC_REG, chip.magicValues[0] >>> 0);
    this.#values.set(chip.uartDateReg, 0x15122500);
    const m = chip.mac;
    switch (m.kind) {
      case "efuse":
        this.#values.set(m.mac0, ((mac[2] << 24) | (mac[3] << 16) | (mac[4] << 8) | mac[5]) >>> 0);
        this.#values.set(m.mac0 + 4, (mac[0] << 8) | mac[1]);
        break;
      case "esp32":
        this.#values.set(m.word1, ((mac[2] << 24) | (mac[3] << 16) | (mac[4] << 8) | mac[5]) >>> 0);
        // Top byte of word 2 holds the MAC CRC on real parts; any value is fine for readers.
        this.#values.set(m.word2, ((0xa5 << 16) | (mac[0] << 8) | mac[1]) >>> 0);
        break;
      case "esp8266": {
        // OUI 18:FE:34 is selected by MAC1[23:16] == 0 and MAC3 == 0.
        const oui0 = mac[0] === 0x18 && mac[1] === 0xfe && mac[2] === 0x34;
        const oui1 = mac[0] === 0xac && mac[1] === 0xd0 && mac[2] === 0x74;
        const sel = oui0 ? 0 : oui1 ? 1 : 0;
        this.#values.set(m.mac0, (mac[5] << 24) >>> 0);
        this.#values.set(m.mac1, (sel << 16) | (mac[3] << 8) | mac[4]);
        this.#values.set(m.mac3, oui0 || oui1 ? 0 : (mac[0] << 16) | (mac[1] << 8) | mac[2]);
        break;
      }
    }
    this.setBaud(115200);
  }

  /** Keeps the UART divider consistent with the crystal at `baud`. */
  setBaud(baud: number): void {
    const factor = this.#chip.name === "esp8266" ? 2 : 1;
    this.#values.set(this.#chip.uartClkdivReg, Math.round(this.#xtalHz * factor / baud) & 0xfffff);
  }

  /** READ_REG. Unknown addresses read 0. */
  read(addr: number): number {
    return this.#values.get(addr >>> 0) ?? 0;
  }

  /** WRITE_REG with a mask; a write of the USR bit to the SPI CMD register runs the command. */
  write(addr: number, value: number, mask = 0xffffffff): void {
    const a = addr >>> 0;
    const old = this.#values.get(a) ?? 0;
    const next = ((old & ~mask) | (value & mask)) >>> 0;
    this.#values.set(a, next);
    if (a === this.#chip.spi.base && (next & SPI_CMD_USR)) this.#runSpiCommand();
  }

  #runSpiCommand(): void {
    const spi = this.#chip.spi;
    const usr2 = this.read(spi.base + spi.usr2);
    const opcode = usr2 & 0xffff;
    // RDID answers the JEDEC id in W0; other commands (status reads) answer 0.
    this.#values.set(spi.base + spi.w0, opcode === 0x9f ? this.#jedecId & 0xffffff : 0);
    this.#values.set(spi.base, this.read(spi.base) & ~SPI_CMD_USR);
  }
}

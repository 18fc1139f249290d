/**
 * Facts about each supported chip family, in one table. Nothing here talks to
 * a device: the loader and the emulator both read these facts.
 * @module
 */

/** Canonical chip names, as esptool v5 spells them on the command line. */
export type ChipName =
  | "esp8266"
  | "esp32"
  | "esp32s2"
  | "esp32s3"
  | "esp32c2"
  | "esp32c3"
  | "esp32c5"
  | "esp32c6"
  | "esp32h2"
  | "esp32p4";

/** Registers of the SPI "user command" unit used to read the flash JEDEC id. */
export interface SpiRegs {
  /** Base address of the SPI controller. */
  base: number;
  /** USR register offset. */
  usr: number;
  /** USR1 register offset. */
  usr1: number;
  /** USR2 register offset (command opcode and length). */
  usr2: number;
  /** MOSI data length register offset; absent on ESP8266 (lengths live in USR1). */
  mosiDlen?: number;
  /** MISO data length register offset; absent on ESP8266. */
  misoDlen?: number;
  /** First data buffer register offset. */
  w0: number;
}

/** How the base MAC is assembled from eFuse/OTP words. */
export type MacLayout =
  | { kind: "esp8266"; mac0: number; mac1: number; mac3: number }
  | { kind: "esp32"; word1: number; word2: number }
  | { kind: "efuse"; mac0: number };

/** What a chip's mask ROM loader can do without a stub. */
export interface RomCaps {
  /** FLASH_DEFL_* commands. */
  compressedWrite: boolean;
  /** SPI_FLASH_MD5. */
  md5: boolean;
  /** CHANGE_BAUDRATE. */
  changeBaud: boolean;
  /** READ_FLASH_SLOW. */
  readFlashSlow: boolean;
  /** SPI_ATTACH is a ROM command (ESP8266 attaches in FLASH_BEGIN). */
  spiAttach: boolean;
  /** GET_SECURITY_INFO reply: none, 12 bytes (no chip id) or 20 bytes. */
  securityInfo: "none" | "short" | "full";
  /** FLASH_BEGIN / FLASH_DEFL_BEGIN carry the fifth "encrypted" word. */
  beginEncryptedWord: boolean;
  /** Status bytes after the data of every ROM reply. */
  statusLength: 2 | 4;
  /**
   * How the ROM's CHANGE_BAUDRATE sets its divider when that is not from the
   * true crystal, so the host must send a corrected rate:
   * - `estimate`: the ESP32 ROM divides its own estimate of the crystal,
   *   derived from the auto-baud at SYNC (in UART_CLKDIV), which drifts from
   *   the real 26 or 40 MHz; the rate sent is scaled by estimate / real.
   * - `assumes-40mhz`: the ESP32-C2 ROM assumes a 40 MHz crystal; on a
   *   26 MHz part the rate sent is scaled by 40 / 26.
   * Absent where the ROM computes the divider from the real clock.
   */
  baudDivisorFrom?: "estimate" | "assumes-40mhz";
  /**
   * With `estimate`: where the ESP32 ROM's crystal estimate can be read, as
   * esptool's `get_rom_cal_crystal_freq` reads it: the RTC calibration value
   * (bits 31..7 of `caliReg`) and the 8 MHz clock's eFuse field (bits 7..0
   * of `ck8mReg`); the estimate is cali × 15625 × ck8m / 40 Hz.
   */
  xtalCalibration?: { caliReg: number; ck8mReg: number };
  /**
   * The ROM's FLASH_BEGIN erases more than asked (the ESP8266 counts the
   * sectors up to the next 64 KiB boundary twice), so the host sends a
   * corrected erase size, as esptool does.
   */
  eraseSizeBug: boolean;
}

/** Everything espdelta needs to know about one chip family. */
export interface ChipInfo {
  /** eFuse controller base address (ESP8266: OTP base). */
  efuseBase: number;
  /** Flash size code (image header byte 3, high nibble) -> size in bytes, as the bootloader reads it. */
  flashSizes: Readonly<Record<number, number>>;
  /**
   * Flash frequency name -> code (image header byte 3, low nibble), in the
   * order the second-stage bootloader names a code: the first name wins.
   * These are the device's reading; image/targets.ts holds esptool's
   * (image-info, header patching), which differ where esptool writes a
   * workaround code (ESP32-C6 "80m" is code 0, which the bootloader reports
   * as 40MHz).
   */
  flashFreqs: Readonly<Record<string, number>>;
  /** Canonical name. */
  name: ChipName;
  /** Human name, e.g. "ESP32-S3". */
  displayName: string;
  /** Chip id of GET_SECURITY_INFO and of the image extended header; null on ESP8266. */
  imageChipId: number | null;
  /** Values of the word at {@link CHIP_DETECT_MAGIC_REG}, for ROMs without chip id. */
  magicValues: number[];
  /** Where the second-stage bootloader lives in flash. */
  bootloaderOffset: number;
  /** What the mask ROM loader can do. */
  rom: RomCaps;
  /** Where the base MAC lives. */
  mac: MacLayout;
  /** UART date register: a harmless register to read or write for a delay. */
  uartDateReg: number;
  /** UART clock divider register (crystal estimate). */
  uartClkdivReg: number;
  /** SPI registers for reading the flash JEDEC id. */
  spi: SpiRegs;
  /**
   * Block size of the flash-encryption engine: encrypted writes are padded
   * to it (32 bytes on the ESP32's AES-256 engine, 16 on later chips'
   * XTS-AES); null where the chip has no flash encryption (ESP8266).
   */
  encryptionBlock: 16 | 32 | null;
  /**
   * Where FLASH_CRYPT_CNT is read on a chip whose loaders lack
   * GET_SECURITY_INFO (the ESP32: eFuse block 0, word 0, bits 26..20, as
   * esptool reads it); absent elsewhere.
   */
  cryptCntEfuse?: EfuseField;
  /**
   * The loaders can leave for the app without a reset line (esptool's soft
   * reset: the ESP8266 ROM through FLASH_BEGIN/FLASH_END, its stub through
   * RUN_USER_CODE); later chips' loaders cannot.
   */
  softReset: boolean;
  /** RTC watchdog registers esptool's watchdog reset programs; absent where it has none. */
  rtcWdt?: RtcWdt;
  /**
   * Where the silicon revision is read (eFuse fields, as esptool's target
   * classes read them in `get_major_chip_version` / `get_minor_chip_version`);
   * absent on the ESP8266, which has none.
   */
  revision?: RevisionFields;
  /**
   * The internal RAM a RAM program (a flasher stub) may be loaded into with
   * MEM_BEGIN/MEM_DATA: the DRAM, IRAM and RTC ranges of esptool's
   * `MEMORY_MAP` for the chip, corrected from the Technical Reference
   * Manuals where esptool's list is narrower than the chip (noted per chip).
   */
  ram: readonly RamRange[];
}

/** A range of a chip's internal RAM, by its address on one bus. */
export interface RamRange {
  /** First address. */
  start: number;
  /** First address past the end. */
  end: number;
  /** esptool's name for it: DRAM, IRAM, DIRAM_IRAM, RTC_DRAM, ... */
  name: string;
}

/**
 * Where a chip keeps its silicon revision: each version is one or more
 * eFuse (or register) bit fields, most significant first, joined.
 */
export interface RevisionFields {
  /** Pieces of the major version, most significant first. */
  major: readonly EfuseField[];
  /** Pieces of the minor version, most significant first. */
  minor: readonly EfuseField[];
  /**
   * The ESP32's major version is a code of three scattered bits: 0, 1, 3
   * and 7 mean v0 to v3, anything else v0 (esptool's table).
   */
  majorCodes?: Readonly<Record<number, number>>;
  /**
   * The ESP32-S3's v0.0 parts with eFuse block version v1.1 used the
   * revision fields for something else: when the minor version's low three
   * bits are 0 and these fields read 1 and 1, the chip is v0.0.
   */
  eco0Block?: { major: EfuseField; minor: EfuseField };
}

/** A bit field of an eFuse word. */
export interface EfuseField {
  /** Address of the word. */
  addr: number;
  /** Position of the field's lowest bit. */
  shift: number;
  /** Mask of the field after shifting. */
  mask: number;
}

/** The RTC watchdog registers used for `--after watchdog-reset`. */
export interface RtcWdt {
  /** WDTCONFIG0: enable bit 31, stage actions. */
  config0: number;
  /** WDTCONFIG1: stage 0 timeout in slow-clock ticks. */
  config1: number;
  /** Write-protect register; {@link RTC_WDT_WKEY} unlocks it. */
  wprotect: number;
}

/** Key that unlocks the RTC watchdog registers. */
export const RTC_WDT_WKEY = 0x50d83aa1;

/**
 * Whether flash encryption is on for a FLASH_CRYPT_CNT (SPI_BOOT_CRYPT_CNT)
 * eFuse value: an odd number of its bits set, as the ROM and esptool read it.
 *
 * @example
 * ```ts
 * import { flashEncryptionOn } from "./chips.ts";
 * import assert from "node:assert";
 * assert.strictEqual(flashEncryptionOn(0b001), true);
 * assert.strictEqual(flashEncryptionOn(0b011), false);
 * assert.strictEqual(flashEncryptionOn(0b111), true);
 * ```
 */
export function flashEncryptionOn(flashCryptCnt: number): boolean {
  let odd = false;
  for (let v = flashCryptCnt >>> 0; v; v >>>= 1) if (v & 1) odd = !odd;
  return odd;
}

const bits = (addr: number, shift: number, width: number): EfuseField => ({
  addr,
  shift,
  mask: (1 << width) - 1,
});

/** The layout most chips after the ESP32 share: major and minor in one BLOCK1 word. */
const oneWord = (word: number, majorShift: number, minorShift: number, minorBits: number) => ({
  major: [bits(word, majorShift, 2)],
  minor: [bits(word, minorShift, minorBits)],
});

/** ESP32-S3 and ESP32-C3: major in BLOCK1 word 5, minor split over words 5 and 3. */
const splitMinor = (block1: number): RevisionFields => ({
  major: [bits(block1 + 20, 24, 2)],
  minor: [bits(block1 + 20, 23, 1), bits(block1 + 12, 18, 3)],
});

const wdt = (base: number, c0: number, c1: number, wp: number): RtcWdt => ({
  config0: base + c0,
  config1: base + c1,
  wprotect: base + wp,
});

/** ROM word whose content tells older chips apart. */
export const CHIP_DETECT_MAGIC_REG = 0x40001000;

const KB = 1024;
const MB = 1024 * KB;

const ROM_MODERN: RomCaps = {
  compressedWrite: true,
  md5: true,
  changeBaud: true,
  readFlashSlow: true,
  spiAttach: true,
  securityInfo: "full",
  beginEncryptedWord: true,
  statusLength: 4,
  eraseSizeBug: false,
};

const spiAt = (base: number): SpiRegs => ({
  base,
  usr: 0x18,
  usr1: 0x1c,
  usr2: 0x20,
  mosiDlen: 0x24,
  misoDlen: 0x28,
  w0: 0x58,
});

const efuseMac = (efuseBase: number): MacLayout => ({ kind: "efuse", mac0: efuseBase + 0x44 });

const ESP32_SIZES: Record<number, number> = {
  0: 1 * MB,
  1: 2 * MB,
  2: 4 * MB,
  3: 8 * MB,
  4: 16 * MB,
  5: 32 * MB,
  6: 64 * MB,
  7: 128 * MB,
};

const ESP8266_SIZES: Record<number, number> = {
  0: 512 * KB,
  1: 256 * KB,
  2: 1 * MB,
  3: 2 * MB,
  4: 4 * MB,
  5: 2 * MB,
  6: 4 * MB,
  8: 8 * MB,
  9: 16 * MB,
};

const FREQ_CLASSIC = { "40m": 0x0, "26m": 0x1, "20m": 0x2, "80m": 0xf };

/** The chip table, keyed by canonical name. */
export const CHIPS: Readonly<Record<ChipName, ChipInfo>> = {
  esp8266: {
    name: "esp8266",
    efuseBase: 0x3ff00050,
    flashSizes: ESP8266_SIZES,
    flashFreqs: FREQ_CLASSIC,
    displayName: "ESP8266",
    imageChipId: null,
    magicValues: [0xfff0c101],
    bootloaderOffset: 0x0,
    rom: {
      compressedWrite: false,
      md5: false,
      changeBaud: false,
      readFlashSlow: false,
      spiAttach: false,
      securityInfo: "none",
      beginEncryptedWord: false,
      statusLength: 2,
      eraseSizeBug: true,
    },
    mac: { kind: "esp8266", mac0: 0x3ff00050, mac1: 0x3ff00054, mac3: 0x3ff0005c },
    uartDateReg: 0x60000078,
    uartClkdivReg: 0x60000014,
    spi: { base: 0x60000200, usr: 0x1c, usr1: 0x20, usr2: 0x24, w0: 0x40 },
    encryptionBlock: null,
    softReset: true,
    // No revision eFuses. RAM: esptool's MEMORY_MAP, with the second 32 KiB of IRAM
    // (0x40108000-0x40110000, the flash cache's when it runs) that the ROM loader leaves free.
    ram: [
      { start: 0x3ffe8000, end: 0x40000000, name: "DRAM" },
      { start: 0x40100000, end: 0x40110000, name: "IRAM" },
    ],
  },
  esp32: {
    name: "esp32",
    efuseBase: 0x3ff5a000,
    flashSizes: ESP32_SIZES,
    flashFreqs: FREQ_CLASSIC,
    displayName: "ESP32",
    imageChipId: 0,
    magicValues: [0x00f01d83],
    bootloaderOffset: 0x1000,
    rom: {
      ...ROM_MODERN,
      securityInfo: "none",
      beginEncryptedWord: false,
      baudDivisorFrom: "estimate",
      xtalCalibration: { caliReg: 0x3ff5f06c, ck8mReg: 0x3ff5a010 },
    },
    mac: { kind: "esp32", word1: 0x3ff5a004, word2: 0x3ff5a008 },
    uartDateReg: 0x60000078,
    uartClkdivReg: 0x3ff40014,
    spi: {
      base: 0x3ff42000,
      usr: 0x1c,
      usr1: 0x20,
      usr2: 0x24,
      mosiDlen: 0x28,
      misoDlen: 0x2c,
      w0: 0x80,
    },
    encryptionBlock: 32,
    cryptCntEfuse: { addr: 0x3ff5a000, shift: 20, mask: 0x7f },
    softReset: false,
    revision: {
      // APB_CTRL_DATE bit 31, eFuse BLOCK0 word 5 bit 20, word 3 bit 15.
      major: [bits(0x3ff6607c, 31, 1), bits(0x3ff5a014, 20, 1), bits(0x3ff5a00c, 15, 1)],
      minor: [bits(0x3ff5a014, 24, 2)],
      majorCodes: { 0: 0, 1: 1, 3: 2, 7: 3 },
    },
    ram: [
      { start: 0x3ff80000, end: 0x3ff82000, name: "RTC_DRAM" },
      { start: 0x3ffae000, end: 0x40000000, name: "DRAM" },
      { start: 0x40080000, end: 0x400a0000, name: "IRAM" },
      { start: 0x400a0000, end: 0x400bfffc, name: "DIRAM_IRAM" },
      { start: 0x400c0000, end: 0x400c2000, name: "RTC_IRAM" },
      { start: 0x50000000, end: 0x50002000, name: "RTC_DATA" },
    ],
  },
  esp32s2: {
    name: "esp32s2",
    efuseBase: 0x3f41a000,
    flashSizes: ESP32_SIZES,
    flashFreqs: FREQ_CLASSIC,
    displayName: "ESP32-S2",
    imageChipId: 2,
    magicValues: [0x000007c6],
    bootloaderOffset: 0x1000,
    rom: { ...ROM_MODERN, securityInfo: "short" },
    mac: efuseMac(0x3f41a000),
    uartDateReg: 0x60000078,
    uartClkdivReg: 0x3f400014,
    spi: spiAt(0x3f402000),
    encryptionBlock: 16,
    softReset: false,
    rtcWdt: wdt(0x3f408000, 0x94, 0x98, 0xac),
    revision: {
      major: [bits(0x3f41a050, 18, 2)],
      minor: [bits(0x3f41a050, 20, 1), bits(0x3f41a054, 4, 3)],
    },
    ram: [
      { start: 0x3ff9e000, end: 0x3ffa0000, name: "RTC_DRAM" },
      { start: 0x3ffb0000, end: 0x40000000, name: "DRAM" },
      { start: 0x40020000, end: 0x40070000, name: "IRAM" },
      { start: 0x40070000, end: 0x40072000, name: "RTC_IRAM" },
      { start: 0x50000000, end: 0x50002000, name: "RTC_DATA" },
    ],
  },
  esp32s3: {
    name: "esp32s3",
    efuseBase: 0x60007000,
    flashSizes: ESP32_SIZES,
    flashFreqs: FREQ_CLASSIC,
    displayName: "ESP32-S3",
    imageChipId: 9,
    magicValues: [0x00000009],
    bootloaderOffset: 0x0,
    rom: ROM_MODERN,
    mac: efuseMac(0x60007000),
    uartDateReg: 0x60000080,
    uartClkdivReg: 0x60000014,
    spi: spiAt(0x60002000),
    encryptionBlock: 16,
    softReset: false,
    rtcWdt: wdt(0x60008000, 0x98, 0x9c, 0xb0),
    revision: {
      ...splitMinor(0x60007044),
      eco0Block: { major: bits(0x6000706c, 0, 2), minor: bits(0x60007050, 24, 3) },
    },
    ram: [
      { start: 0x3fc88000, end: 0x3fd00000, name: "DRAM" },
      { start: 0x40370000, end: 0x403e0000, name: "IRAM" },
      { start: 0x50000000, end: 0x50002000, name: "RTC_DATA" },
      { start: 0x600fe000, end: 0x60100000, name: "RTC_DRAM" },
    ],
  },
  esp32c2: {
    name: "esp32c2",
    efuseBase: 0x60008800,
    flashSizes: ESP32_SIZES,
    flashFreqs: { "30m": 0x0, "20m": 0x1, "15m": 0x2, "60m": 0xf },
    displayName: "ESP32-C2",
    imageChipId: 12,
    magicValues: [0x6f51306f, 0x7c41a06f, 0x0c21e06f],
    bootloaderOffset: 0x0,
    rom: { ...ROM_MODERN, baudDivisorFrom: "assumes-40mhz" },
    // ESP32-C2 keeps the MAC at EFUSE_BASE + 0x40, not + 0x44.
    mac: { kind: "efuse", mac0: 0x60008840 },
    uartDateReg: 0x6000007c,
    uartClkdivReg: 0x60000014,
    spi: spiAt(0x60002000),
    encryptionBlock: 16,
    softReset: false,
    rtcWdt: wdt(0x60008000, 0x84, 0x88, 0x9c),
    // BLOCK2 word 1 (the C2 has no BLOCK1 system data).
    revision: oneWord(0x60008844, 20, 16, 4),
    ram: [
      { start: 0x3fca0000, end: 0x3fce0000, name: "DRAM" },
      { start: 0x4037c000, end: 0x403c0000, name: "IRAM" },
    ],
  },
  esp32c3: {
    name: "esp32c3",
    efuseBase: 0x60008800,
    flashSizes: ESP32_SIZES,
    flashFreqs: FREQ_CLASSIC,
    displayName: "ESP32-C3",
    imageChipId: 5,
    magicValues: [0x6921506f, 0x1b31506f, 0x4881606f, 0x4361606f],
    bootloaderOffset: 0x0,
    rom: ROM_MODERN,
    mac: efuseMac(0x60008800),
    uartDateReg: 0x6000007c,
    uartClkdivReg: 0x60000014,
    spi: spiAt(0x60002000),
    encryptionBlock: 16,
    softReset: false,
    rtcWdt: wdt(0x60008000, 0x90, 0x94, 0xa8),
    revision: splitMinor(0x60008844),
    ram: [
      { start: 0x3fc80000, end: 0x3fce0000, name: "DRAM" },
      { start: 0x4037c000, end: 0x403e0000, name: "IRAM" },
      { start: 0x50000000, end: 0x50002000, name: "RTC_RAM" },
    ],
  },
  esp32c5: {
    name: "esp32c5",
    efuseBase: 0x600b4800,
    flashSizes: ESP32_SIZES,
    flashFreqs: { "40m": 0x0, "20m": 0x2, "80m": 0xf },
    displayName: "ESP32-C5",
    imageChipId: 23,
    magicValues: [0x1101406f, 0x63e1406f, 0x5fd1406f],
    bootloaderOffset: 0x2000,
    rom: ROM_MODERN,
    mac: efuseMac(0x600b4800),
    uartDateReg: 0x6000007c,
    uartClkdivReg: 0x60000014,
    spi: spiAt(0x60003000),
    encryptionBlock: 16,
    softReset: false,
    rtcWdt: wdt(0x600b1c00, 0x0, 0x4, 0x18),
    revision: oneWord(0x600b484c, 4, 0, 4),
    ram: [
      { start: 0x40800000, end: 0x40860000, name: "SRAM" },
      { start: 0x50000000, end: 0x50004000, name: "RTC_RAM" },
    ],
  },
  esp32c6: {
    name: "esp32c6",
    efuseBase: 0x600b0800,
    flashSizes: ESP32_SIZES,
    flashFreqs: { "40m": 0x0, "20m": 0x2, "80m": 0x0 },
    displayName: "ESP32-C6",
    imageChipId: 13,
    magicValues: [0x2ce0806f],
    bootloaderOffset: 0x0,
    rom: ROM_MODERN,
    mac: efuseMac(0x600b0800),
    uartDateReg: 0x6000007c,
    uartClkdivReg: 0x60000014,
    spi: spiAt(0x60003000),
    encryptionBlock: 16,
    softReset: false,
    rtcWdt: wdt(0x600b1c00, 0x0, 0x4, 0x18),
    revision: oneWord(0x600b0850, 22, 18, 4),
    ram: [
      { start: 0x40800000, end: 0x40880000, name: "SRAM" },
      { start: 0x50000000, end: 0x50004000, name: "RTC_RAM" },
    ],
  },
  esp32h2: {
    name: "esp32h2",
    efuseBase: 0x600b0800,
    flashSizes: ESP32_SIZES,
    flashFreqs: { "24m": 0x0, "16m": 0x1, "12m": 0x2, "48m": 0xf },
    displayName: "ESP32-H2",
    imageChipId: 16,
    magicValues: [0xd7b73e80],
    bootloaderOffset: 0x0,
    rom: ROM_MODERN,
    mac: efuseMac(0x600b0800),
    uartDateReg: 0x6000007c,
    uartClkdivReg: 0x60000014,
    spi: spiAt(0x60003000),
    encryptionBlock: 16,
    softReset: false,
    rtcWdt: wdt(0x600b1c00, 0x0, 0x4, 0x1c),
    revision: oneWord(0x600b0850, 21, 18, 3),
    // esptool inherits the C6's 512 KiB map; the H2 has 320 KiB of HP SRAM (TRM, System and Memory).
    ram: [
      { start: 0x40800000, end: 0x40850000, name: "SRAM" },
      { start: 0x50000000, end: 0x50001000, name: "RTC_RAM" },
    ],
  },
  esp32p4: {
    name: "esp32p4",
    efuseBase: 0x5012d000,
    flashSizes: ESP32_SIZES,
    flashFreqs: FREQ_CLASSIC,
    displayName: "ESP32-P4",
    imageChipId: 18,
    // Not unique (0 is a plausible ROM word elsewhere); GET_SECURITY_INFO is preferred.
    magicValues: [0x00000000, 0x0addbad0],
    bootloaderOffset: 0x2000,
    rom: ROM_MODERN,
    mac: efuseMac(0x5012d000),
    uartDateReg: 0x500ca08c,
    uartClkdivReg: 0x500ca014,
    spi: spiAt(0x5008d000),
    encryptionBlock: 16,
    softReset: false,
    rtcWdt: wdt(0x50116000, 0x0, 0x4, 0x18),
    revision: {
      // BLOCK1 word 2: major bit 2 at bit 23, major bits 1..0 at bits 5..4, minor at 3..0.
      major: [bits(0x5012d04c, 23, 1), bits(0x5012d04c, 4, 2)],
      minor: [bits(0x5012d04c, 0, 4)],
    },
    // esptool lists 0x4ff00000-0x4ffa0000; the HP L2MEM is 768 KiB (TRM), and the v3 stub's
    // UART buffer lives at 0x4ffbfeb0 (esptool-js).
    ram: [
      { start: 0x4ff00000, end: 0x4ffc0000, name: "L2MEM" },
      { start: 0x50108000, end: 0x50110000, name: "LP_RAM" },
    ],
  },
};

/** All chip names, in table order. */
export const CHIP_NAMES: readonly ChipName[] = Object.keys(CHIPS) as ChipName[];

/** Accepts `esp32-s3`, `ESP32S3`, `esp32_s3`; returns the canonical name or undefined. */
export function normalizeChipName(name: string): ChipName | undefined {
  const n = name.toLowerCase().replace(/[-_\s]/g, "");
  return (CHIP_NAMES as readonly string[]).includes(n) ? n as ChipName : undefined;
}

/** The chip whose GET_SECURITY_INFO / image header chip id is `id`. */
export function chipByImageId(id: number): ChipInfo | undefined {
  return Object.values(CHIPS).find((c) => c.imageChipId === id);
}

/**
 * The chip whose ROM magic word is `magic`. No two chips share a value (a
 * test holds the table to that), so the order of the search does not matter.
 */
export function chipByMagic(magic: number): ChipInfo | undefined {
  const m = magic >>> 0;
  return Object.values(CHIPS).find((c) => c.magicValues.includes(m));
}

/**
 * The chip whose ROM answers GET_SECURITY_INFO with the short, 12-byte reply
 * that carries no chip id (the ESP32-S2): in Secure Download Mode it refuses
 * READ_REG, so that reply alone says which chip it is.
 */
export function chipWithShortSecurityInfo(): ChipInfo | undefined {
  return Object.values(CHIPS).find((c) => c.rom.securityInfo === "short");
}

/**
 * The addresses of the eFuse/OTP words a {@link MacLayout} assembles the MAC
 * from: what to read before calling {@link macFromWords}.
 *
 * @example
 * ```ts
 * import { CHIPS, macWords } from "./chips.ts";
 * import assert from "node:assert";
 * assert.deepStrictEqual(macWords(CHIPS.esp32s3.mac), [0x60007044, 0x60007048]);
 * assert.deepStrictEqual(macWords(CHIPS.esp8266.mac), [0x3ff00050, 0x3ff00054, 0x3ff0005c]);
 * ```
 */
export function macWords(layout: MacLayout): number[] {
  switch (layout.kind) {
    case "efuse":
      return [layout.mac0, layout.mac0 + 4];
    case "esp32":
      return [layout.word1, layout.word2];
    case "esp8266":
      return [layout.mac0, layout.mac1, layout.mac3];
  }
}

/**
 * Assembles the base MAC from the eFuse/OTP words named by {@link MacLayout},
 * given the values read at those addresses.
 *
 * @example
 * ```ts
 * import { CHIPS, macFromWords } from "./chips.ts";
 * import assert from "node:assert";
 * const mac = macFromWords(
 *   CHIPS.esp32s3.mac,
 *   (addr) => addr === 0x60007044 ? 0x56789abc : 0x1234,
 * );
 * assert.deepStrictEqual(mac, [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc]);
 * ```
 */
export function macFromWords(layout: MacLayout, read: (addr: number) => number): number[] {
  switch (layout.kind) {
    case "efuse":
    case "esp32": {
      // Two words: the low one holds the last four bytes, the high one the first two.
      const [low, high] = macWords(layout).map((a) => read(a) >>> 0);
      return [
        (high >> 8) & 0xff,
        high & 0xff,
        low >>> 24,
        (low >> 16) & 0xff,
        (low >> 8) & 0xff,
        low & 0xff,
      ];
    }
    case "esp8266": {
      const mac0 = read(layout.mac0) >>> 0;
      const mac1 = read(layout.mac1) >>> 0;
      const mac3 = read(layout.mac3) >>> 0;
      let oui: number[];
      if (mac3 !== 0) oui = [(mac3 >> 16) & 0xff, (mac3 >> 8) & 0xff, mac3 & 0xff];
      else if (((mac1 >> 16) & 0xff) === 0) oui = [0x18, 0xfe, 0x34];
      else if (((mac1 >> 16) & 0xff) === 1) oui = [0xac, 0xd0, 0x74];
      else throw new RangeError("unknown OUI in ESP8266 OTP MAC words");
      return [...oui, (mac1 >> 8) & 0xff, mac1 & 0xff, mac0 >>> 24];
    }
  }
}

/** Formats a MAC as `aa:bb:cc:dd:ee:ff`. */
export function formatMac(mac: readonly number[]): string {
  return mac.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** A JEDEC id's parts as esptool prints them, and the flash size it implies. */
export interface JedecParts {
  /** Manufacturer id (the low byte). */
  manufacturer: number;
  /** Device id: memory type, then capacity. */
  device: number;
  /** Flash size in bytes, when the id says it ({@link flashSizeFromJedec}). */
  size: number | undefined;
}

/** Splits a JEDEC id (manufacturer in the low byte, as W0 holds it) as `flash-id` prints it. */
export function jedecParts(id: number): JedecParts {
  return {
    manufacturer: id & 0xff,
    device: (((id >> 8) & 0xff) << 8) | ((id >> 16) & 0xff),
    size: flashSizeFromJedec(id),
  };
}

/** JEDEC id (manufacturer in the low byte, as W0 holds it) -> flash size, as esptool decodes it. */
export function flashSizeFromJedec(id: number): number | undefined {
  const manufacturer = id & 0xff;
  const memType = (id >> 8) & 0xff;
  const capacity = (id >> 16) & 0xff;
  if (manufacturer === 0x1f) {
    // Adesto: low five bits of the memory type byte, 0x04 = 512 KB.
    const code = memType & 0x1f;
    return code >= 0x04 && code <= 0x09 ? (512 * KB) << (code - 0x04) : undefined;
  }
  if (capacity >= 0x12 && capacity <= 0x1c) return (256 * KB) << (capacity - 0x12);
  if (capacity >= 0x20 && capacity <= 0x22) return (64 * MB) << (capacity - 0x20);
  if (capacity >= 0x32 && capacity <= 0x3a) return (256 * KB) << (capacity - 0x32);
  return undefined;
}

/**
 * The addresses of the words a {@link RevisionFields} reads: what to read
 * before calling {@link chipRevision}.
 *
 * @example
 * ```ts
 * import { CHIPS, revisionWords } from "./chips.ts";
 * import assert from "node:assert";
 * assert.deepStrictEqual(revisionWords(CHIPS.esp32c3.revision!), [0x60008858, 0x60008850]);
 * ```
 */
export function revisionWords(fields: RevisionFields): number[] {
  const all = [...fields.major, ...fields.minor];
  if (fields.eco0Block) all.push(fields.eco0Block.major, fields.eco0Block.minor);
  return [...new Set(all.map((f) => f.addr))];
}

/**
 * The silicon revision as esptool's `get_chip_revision` gives it, major *
 * 100 + minor, from the values read at {@link revisionWords}.
 *
 * @example
 * ```ts
 * import { CHIPS, chipRevision, formatChipRevision } from "./chips.ts";
 * import assert from "node:assert";
 * // An ESP32-D0WD-V3 v3.1: all three major bits set, minor 1.
 * const words: Record<number, number> = {
 *   0x3ff6607c: 0x80000000,
 *   0x3ff5a014: (1 << 20) | (1 << 24),
 *   0x3ff5a00c: 1 << 15,
 * };
 * const rev = chipRevision(CHIPS.esp32.revision!, (a) => words[a] ?? 0);
 * assert.deepStrictEqual([rev, formatChipRevision(rev)], [301, "v3.1"]);
 * ```
 */
export function chipRevision(fields: RevisionFields, read: (addr: number) => number): number {
  const join = (pieces: readonly EfuseField[]) =>
    pieces.reduce((v, f) => (v * (f.mask + 1)) + ((read(f.addr) >>> f.shift) & f.mask), 0);
  let major = join(fields.major);
  let minor = join(fields.minor);
  if (fields.majorCodes) major = fields.majorCodes[major] ?? 0;
  const eco0 = fields.eco0Block;
  if (eco0 && (minor & 7) === 0 && join([eco0.major]) === 1 && join([eco0.minor]) === 1) {
    major = 0;
    minor = 0;
  }
  return major * 100 + minor;
}

/** `v3.1` for revision 301 (major * 100 + minor). */
export function formatChipRevision(revision: number): string {
  return `v${Math.floor(revision / 100)}.${revision % 100}`;
}

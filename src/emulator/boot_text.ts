/**
 * What each chip's mask ROM prints when it comes out of reset (§4.3): its
 * banner, the reset cause (`rst:0x1 (POWERON_RESET)`), the latched strap
 * register (`boot:0x13 (SPI_FAST_FLASH_BOOT)`), on chips after the ESP32 the
 * PC saved at a reset other than power-on, and in download mode `waiting for
 * download` (Secure Download Mode: `wait uart download(secure mode)`). Hosts
 * match `boot:(0x..)` and the download line; a monitor reads the reset cause.
 *
 * Sources, per family (ROM texts are not in any public source tree; these are
 * the texts real chips print, as quoted in Espressif's issue trackers, their
 * docs and users' logs):
 * - ESP32: `ets Jun  8 2016 00:22:57`, reasons POWERON_RESET (0x1), SW_RESET
 *   (0x3), TG0WDT_SYS_RESET (0x7), SW_CPU_RESET (0xc), RTCWDT_RTC_RESET
 *   (0x10); `DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2)` (boot:0x3).
 * - ESP32-S2, -S3, -C3, -C2 ("ESP-ROM:" banners): POWERON, RTC_SW_SYS_RST,
 *   TG0WDT_SYS_RST, RTC_SW_CPU_RST, RTCWDT_RTC_RST, USB_UART_CHIP_RESET
 *   (0x15); download texts `DOWNLOAD(USB/UART0/1/SPI)` (S2),
 *   `DOWNLOAD(USB/UART0)` (S3), `DOWNLOAD(USB/UART0/1)` (C3),
 *   `DOWNLOAD(UART0)` (C2).
 * - ESP32-C6, -H2, -C5: POWERON, SW_CPU (0xc), TG0_WDT_HPSYS (0x7),
 *   USB_UART_HPSYS (0x15) as seen; SW_SYS (0x3) and LP_WDT_SYS (0x10) follow
 *   the same naming; `DOWNLOAD(USB/UART0/SDIO_FEI_FEO)` (C6),
 *   `DOWNLOAD(USB/UART0)` (H2), `DOWNLOAD(UART0/USB)` (C5, boot:0x8 against
 *   0x18 for a flash boot); C5 prints `Core0 Saved PC:`.
 * - ESP32-P4: reasons as its ROM header names them (SW_SYS_RESET,
 *   HP_SYS_HP_WDT_RESET, SW_CPU_RESET, CHIP_LP_WDT_RESET,
 *   CHIP_USB_UART_RESET 0x17), strap 0x10f for a flash boot,
 *   `DOWNLOAD(USB/UART0/SPI)`, `Core0 Saved PC:` and `Core1 Saved PC:`.
 * - ESP8266: ` ets Jan  8 2013,rst cause:2, boot mode:(3,7)` at 74880 baud.
 * @module
 */

import type { ChipName } from "../chips/chips.ts";

/**
 * Why the chip (re)started:
 * - `poweron`: power applied;
 * - `external`: the EN (CHIP_PU) pin, which reads as a power-on reset;
 * - `software`: a software system reset (RTC_CNTL SW_SYS_RST: the ROM's
 *   FLASH_END reboot, the second-stage bootloader's `bootloader_reset()`);
 * - `software-cpu`: a software CPU reset (`esp_restart()`, a panic's reboot);
 * - `watchdog`: the RTC watchdog (esptool's watchdog reset; the ESP32 ROM's
 *   flash-boot guard);
 * - `main-watchdog`: timer group 0's watchdog (the flash-boot guard of the
 *   ROMs after the ESP32);
 * - `usb`: the USB-Serial/JTAG peripheral's reset (a core reset).
 */
export type ResetCause =
  | "poweron"
  | "external"
  | "software"
  | "software-cpu"
  | "watchdog"
  | "main-watchdog"
  | "usb";

/** The boot log a ROM prints, and the baud rate it prints it at. */
export interface BootText {
  /** Text, with the ROM's \r\n line ends. */
  text: string;
  /** UART rate of the log: 74880 on the ESP8266 (26 MHz crystal, ROM assumes 40 MHz). */
  baud: number;
}

/** How one ROM family prints a reset. */
interface RomFamily {
  /** Text before the `rst:` line. */
  banner: string;
  /** Reset codes and names, by cause. */
  reasons: Record<ResetCause, [number, string]>;
  /** Strap value and name of a flash boot. */
  flashBoot: number;
  /** Strap value and text of a download boot. */
  downloadBoot: number;
  /** The DOWNLOAD(...) text. */
  downloadName: string;
  /** `Saved PC:` lines after a reset other than power-on (none on the ESP32). */
  savedPc: string[];
}

const ESP_ROM_REASONS: Record<ResetCause, [number, string]> = {
  poweron: [0x1, "POWERON"],
  external: [0x1, "POWERON"],
  software: [0x3, "RTC_SW_SYS_RST"],
  "software-cpu": [0xc, "RTC_SW_CPU_RST"],
  watchdog: [0x10, "RTCWDT_RTC_RST"],
  "main-watchdog": [0x7, "TG0WDT_SYS_RST"],
  usb: [0x15, "USB_UART_CHIP_RESET"],
};

const HPSYS_REASONS: Record<ResetCause, [number, string]> = {
  poweron: [0x1, "POWERON"],
  external: [0x1, "POWERON"],
  software: [0x3, "SW_SYS"],
  "software-cpu": [0xc, "SW_CPU"],
  watchdog: [0x10, "LP_WDT_SYS"],
  "main-watchdog": [0x7, "TG0_WDT_HPSYS"],
  usb: [0x15, "USB_UART_HPSYS"],
};

const espRom = (rom: string, build: string) => `ESP-ROM:${rom}\r\nBuild:${build}\r\n`;

const FAMILIES: Record<Exclude<ChipName, "esp8266">, RomFamily> = {
  esp32: {
    banner: "ets Jun  8 2016 00:22:57\r\n\r\n",
    reasons: {
      poweron: [0x1, "POWERON_RESET"],
      external: [0x1, "POWERON_RESET"],
      software: [0x3, "SW_RESET"],
      "software-cpu": [0xc, "SW_CPU_RESET"],
      watchdog: [0x10, "RTCWDT_RTC_RESET"],
      "main-watchdog": [0x7, "TG0WDT_SYS_RESET"],
      usb: [0x1, "POWERON_RESET"],
    },
    flashBoot: 0x13,
    downloadBoot: 0x3,
    downloadName: "DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2)",
    savedPc: [],
  },
  esp32s2: {
    banner: espRom("esp32s2-rc4-20191025", "Oct 25 2019"),
    reasons: ESP_ROM_REASONS,
    flashBoot: 0x8,
    downloadBoot: 0x0,
    downloadName: "DOWNLOAD(USB/UART0/1/SPI)",
    savedPc: ["Saved PC:0x4002f1c2"],
  },
  esp32s3: {
    banner: espRom("esp32s3-20210327", "Mar 27 2021"),
    reasons: ESP_ROM_REASONS,
    flashBoot: 0x8,
    downloadBoot: 0x0,
    downloadName: "DOWNLOAD(USB/UART0)",
    savedPc: ["Saved PC:0x40048839"],
  },
  esp32c2: {
    banner: espRom("esp8684-api2-20220127", "Jan 27 2022"),
    reasons: ESP_ROM_REASONS,
    flashBoot: 0xc,
    downloadBoot: 0x4,
    downloadName: "DOWNLOAD(UART0)",
    savedPc: ["Saved PC:0x4004a48c"],
  },
  esp32c3: {
    banner: espRom("esp32c3-api1-20210207", "Feb  7 2021"),
    reasons: ESP_ROM_REASONS,
    flashBoot: 0xc,
    downloadBoot: 0x4,
    downloadName: "DOWNLOAD(USB/UART0/1)",
    savedPc: ["Saved PC:0x4004d1f8"],
  },
  esp32c5: {
    banner: espRom("esp32c5-eco2-20250121", "Jan 21 2025"),
    reasons: HPSYS_REASONS,
    flashBoot: 0x18,
    downloadBoot: 0x8,
    downloadName: "DOWNLOAD(UART0/USB)",
    savedPc: ["Core0 Saved PC:0x4000b4f0"],
  },
  esp32c6: {
    banner: espRom("esp32c6-20220919", "Sep 19 2022"),
    reasons: HPSYS_REASONS,
    flashBoot: 0xc,
    downloadBoot: 0x4,
    downloadName: "DOWNLOAD(USB/UART0/SDIO_FEI_FEO)",
    savedPc: ["Saved PC:0x4001975a"],
  },
  esp32h2: {
    banner: espRom("esp32h2-20221101", "Nov  1 2022"),
    reasons: HPSYS_REASONS,
    flashBoot: 0xc,
    downloadBoot: 0x4,
    downloadName: "DOWNLOAD(USB/UART0)",
    savedPc: ["Saved PC:0x400031b6"],
  },
  esp32p4: {
    banner: espRom("esp32p4-eco2-20240710", "Jul 10 2024"),
    reasons: {
      poweron: [0x1, "POWERON"],
      external: [0x1, "POWERON"],
      software: [0x3, "SW_SYS_RESET"],
      "software-cpu": [0xc, "SW_CPU_RESET"],
      watchdog: [0x10, "CHIP_LP_WDT_RESET"],
      "main-watchdog": [0x7, "HP_SYS_HP_WDT_RESET"],
      usb: [0x17, "CHIP_USB_UART_RESET"],
    },
    flashBoot: 0x10f,
    downloadBoot: 0x107,
    downloadName: "DOWNLOAD(USB/UART0/SPI)",
    savedPc: ["Core0 Saved PC:0x4fc098f6", "Core1 Saved PC:0x4fc058e0"],
  },
};

/** The reset code and name a chip's ROM prints for `cause`, e.g. `[0x10, "RTCWDT_RTC_RESET"]`. */
export function resetReason(chip: ChipName, cause: ResetCause): [number, string] {
  if (chip === "esp8266") return cause === "poweron" ? [1, "power on"] : [2, "reset pin"];
  return FAMILIES[chip].reasons[cause];
}

/** Options of {@link bootText}. */
export interface BootTextOptions {
  /** Secure Download Mode: the download line is `wait uart download(secure mode)`. */
  secureDownload?: boolean;
}

/**
 * The ROM's boot log for `chip` coming out of reset with its straps latched
 * for download mode (`download`) or a flash boot. For a flash boot this is
 * only the reset part; what follows (loading the bootloader, or complaining
 * about the flash) is rom_boot.ts's.
 *
 * @example
 * ```ts
 * import { bootText } from "./boot_text.ts";
 * bootText("esp32c3", true, "poweron").text;
 * // "ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\n" +
 * // "rst:0x1 (POWERON),boot:0x4 (DOWNLOAD(USB/UART0/1))\r\nwaiting for download\r\n"
 * ```
 */
export function bootText(
  chip: ChipName,
  download: boolean,
  cause: ResetCause,
  options: BootTextOptions = {},
): BootText {
  if (chip === "esp8266") {
    // rst cause 1 = power-on, 2 = external (EN pin) or software; boot mode 1 = UART, 3 = flash.
    const rst = cause === "poweron" ? 1 : 2;
    return {
      text: `\r\n ets Jan  8 2013,rst cause:${rst}, boot mode:(${download ? 1 : 3},7)\r\n\r\n`,
      baud: 74880,
    };
  }
  const f = FAMILIES[chip];
  const [code, name] = f.reasons[cause];
  const strap = download
    ? `boot:0x${f.downloadBoot.toString(16)} (${f.downloadName})`
    : `boot:0x${f.flashBoot.toString(16)} (SPI_FAST_FLASH_BOOT)`;
  let text = `${f.banner}rst:0x${code.toString(16)} (${name}),${strap}\r\n`;
  if (cause !== "poweron" && cause !== "external") {
    for (const line of f.savedPc) text += `${line}\r\n`;
  }
  if (download) {
    text += options.secureDownload
      ? "wait uart download(secure mode)\r\n"
      : "waiting for download\r\n";
  }
  return { text, baud: 115200 };
}

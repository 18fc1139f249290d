/**
 * What each chip's mask ROM prints when it comes out of reset (§4.3): the
 * reset cause, the strap register (`boot:0x..`), and in download mode the
 * line `waiting for download` that esptool looks for. Hosts only match
 * `boot:(0x..)` and `waiting for download`; the banners of chips after the
 * ESP32 are reproduced as commonly seen and are otherwise cosmetic.
 * @module
 */

import type { ChipName } from "../chips/chips.ts";

/** Why the chip (re)started. */
export type ResetCause = "poweron" | "external" | "software" | "watchdog";

/** The boot log a ROM prints, and the baud rate it prints it at. */
export interface BootText {
  /** Text, with the ROM's \r\n line ends. */
  text: string;
  /** UART rate of the log: 74880 on the ESP8266 (26 MHz crystal, ROM assumes 40 MHz). */
  baud: number;
}

/** ESP-ROM banner (first two lines) of chips after the ESP32. */
const BANNERS: Partial<Record<ChipName, [string, string]>> = {
  esp32s2: ["esp32s2-rc4-20191025", "Oct 25 2019"],
  esp32s3: ["esp32s3-20210327", "Mar 27 2021"],
  esp32c2: ["esp8684-api2-20220127", "Jan 27 2022"],
  esp32c3: ["esp32c3-api1-20210207", "Feb  7 2021"],
  esp32c5: ["esp32c5-eco2-20250121", "Jan 21 2025"],
  esp32c6: ["esp32c6-20220919", "Sep 19 2022"],
  esp32h2: ["esp32h2-20221101", "Nov  1 2022"],
  esp32p4: ["esp32p4-eco2-20240710", "Jul 10 2024"],
};

/**
 * The ROM's boot log for `chip` booting into the download loader
 * (`download`) or from flash.
 *
 * @example
 * ```ts
 * import { bootText } from "./boot_text.ts";
 * bootText("esp32", true, "poweron").text.includes("waiting for download"); // true
 * ```
 */
export function bootText(chip: ChipName, download: boolean, cause: ResetCause): BootText {
  if (chip === "esp8266") {
    // rst cause 1 = power-on, 2 = external (EN pin) or software; boot mode 1 = UART, 3 = flash.
    const rst = cause === "poweron" ? 1 : 2;
    return {
      text: `\r\n ets Jan  8 2013,rst cause:${rst}, boot mode:(${download ? 1 : 3},7)\r\n\r\n`,
      baud: 74880,
    };
  }
  if (chip === "esp32") {
    // EN is the chip's power-up pin: an EN reset reads as a power-on reset.
    const rst = cause === "software" ? "rst:0x3 (SW_RESET)" : "rst:0x1 (POWERON_RESET)";
    const boot = download
      ? "boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n"
      : "boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n";
    return { text: `ets Jun  8 2016 00:22:57\r\n\r\n${rst},${boot}`, baud: 115200 };
  }
  const [rom, build] = BANNERS[chip]!;
  const rst = cause === "software"
    ? "rst:0x3 (RTC_SW_SYS_RST)"
    : cause === "watchdog"
    ? "rst:0x10 (RTCWDT_RTC_RST)"
    : "rst:0x1 (POWERON)";
  // Strap bits: 0x08 = main boot pin, 0x04 = secondary pin (S2/S3 want it low, later chips high).
  const secondary = chip === "esp32s2" || chip === "esp32s3" ? 0 : 4;
  const boot = download
    ? `boot:0x${secondary.toString(16)} (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n`
    : `boot:0x${(8 | secondary).toString(16)} (SPI_FAST_FLASH_BOOT)\r\n`;
  return { text: `ESP-ROM:${rom}\r\nBuild:${build}\r\n${rst},${boot}`, baud: 115200 };
}

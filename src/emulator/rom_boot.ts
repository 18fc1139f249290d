/**
 * What a chip's mask ROM does after its reset banner when its straps say
 * "boot from flash": read the image header at the second-stage bootloader's
 * offset, load its segments and jump to it, or complain and wait for a
 * watchdog. The texts, per ROM family:
 *
 * - ESP32 (ROM of 2016): an erased header reads as `flash read err, 1000`
 *   then `ets_main.c 371 `, any other bad magic as `invalid header: 0x%08x`
 *   every {@link ESP32_INVALID_HEADER_MS} ms; either way the RTC watchdog the
 *   ROM armed for the flash boot resets the chip after
 *   {@link ESP32_ROM_WDT_MS} ms (`rst:0x10 (RTCWDT_RTC_RESET)`), which
 *   re-samples the straps, and it starts again. A loaded bootloader prints
 *   `configsip: 0, SPIWP:0xee`, the `clk_drv` line, `mode:DIO, clock div:2`,
 *   `load:0x3fff0030,len:7104` per segment (decimal lengths) and
 *   `entry 0x...`.
 * - Chips after the ESP32: `invalid header: 0x%08x` every
 *   {@link ESP_ROM_INVALID_HEADER_MS} ms until timer group 0's flash-boot
 *   watchdog resets the system after {@link ESP_ROM_WDT_MS} ms
 *   (`rst:0x7 (TG0WDT_SYS_RST)`, straps kept). A loaded bootloader prints
 *   `SPIWP:0xee`, `mode:DIO, clock div:1` (ESP32-C5 and -P4: `SPI
 *   mode:DIO, clock div:1`), `load:0x...,len:0x...` per segment and `entry
 *   0x...`; when the image carries a SHA-256 that does not match, first
 *   `SHA-256 comparison failed:`, `Calculated: ...`, `Expected: ...`,
 *   `Attempting to boot anyway...`.
 *
 * The timings are this model's (the logs they come from show about 8 lines
 * per ESP32 cycle of some 400 ms and dozens per second on later chips). A
 * bootloader whose checksum or appended SHA-256 is wrong is still jumped to,
 * as the ROM does; the model then lets it hang until the same watchdog
 * resets the chip, since it cannot run corrupt code.
 * @module
 */

import type { ChipInfo } from "../chips/chips.ts";
import type { ResetCause } from "./boot_text.ts";
import {
  checksumPosition,
  type FlashRead,
  hex,
  IMAGE_HEADER_SIZE,
  IMAGE_MAGIC,
  type ImageHeader,
  MAX_SEGMENTS,
  readHeader,
  readSegment,
  segmentChecksum,
  type SegmentInfo,
  sha256Of,
} from "./flash_image.ts";

/** ESP32: one `invalid header` line per this many ms. */
export const ESP32_INVALID_HEADER_MS = 50;
/** ESP32: the ROM's flash-boot RTC watchdog fires this long after the reset. */
export const ESP32_ROM_WDT_MS = 400;
/** Later chips: one `invalid header` line per this many ms. */
export const ESP_ROM_INVALID_HEADER_MS = 20;
/** Later chips: timer group 0's flash-boot watchdog fires this long after the reset. */
export const ESP_ROM_WDT_MS = 1000;

/** What the ROM does with the flash. */
export type RomBootOutcome =
  | {
    /** No bootloader: print `text`, repeat `repeat` (if any), until the watchdog resets the chip. */
    kind: "no-bootloader";
    text: string;
    repeat?: { line: string; everyMs: number };
    wdtMs: number;
    cause: ResetCause;
  }
  | {
    /** A bootloader was loaded: `text` is the ROM's load log; `intact` when it can run. */
    kind: "bootloader";
    text: string;
    header: ImageHeader;
    segments: SegmentInfo[];
    intact: boolean;
    wdtMs: number;
    cause: ResetCause;
  };

const MODES = ["QIO", "QOUT", "DIO", "DOUT", "FAST_READ", "SLOW_READ"];

/** The ROM's clock divider for the header's speed nibble (80 MHz source). */
function clockDiv(speed: number): number {
  return speed === 0xf ? 1 : speed + 2;
}

/** Reads the bootloader at the chip's offset and says what the ROM prints and does. */
export function romFlashBoot(chip: ChipInfo, read: FlashRead): RomBootOutcome {
  const esp32 = chip.name === "esp32";
  const wdtMs = esp32 ? ESP32_ROM_WDT_MS : ESP_ROM_WDT_MS;
  const cause: ResetCause = esp32 ? "watchdog" : "main-watchdog";
  const start = chip.bootloaderOffset;
  const header = readHeader(read, start);
  if (header.magic !== IMAGE_MAGIC) {
    if (esp32 && header.firstWord === 0xffffffff) {
      return {
        kind: "no-bootloader",
        text: `flash read err, ${start.toString(16)}\r\nets_main.c 371 \r\n`,
        wdtMs,
        cause,
      };
    }
    const line = `invalid header: 0x${header.firstWord.toString(16).padStart(8, "0")}\r\n`;
    return {
      kind: "no-bootloader",
      text: line,
      repeat: { line, everyMs: esp32 ? ESP32_INVALID_HEADER_MS : ESP_ROM_INVALID_HEADER_MS },
      wdtMs,
      cause,
    };
  }
  const mode = MODES[header.spiMode] ?? "DIO";
  const div = clockDiv(header.spiSpeed);
  let text = esp32
    ? "configsip: 0, SPIWP:0xee\r\n" +
      "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\n" +
      `mode:${mode}, clock div:${div}\r\n`
    : chip.name === "esp32c5" || chip.name === "esp32p4"
    ? `SPI mode:${mode}, clock div:${div}\r\n`
    : `SPIWP:0xee\r\nmode:${mode}, clock div:${div}\r\n`;
  const segments: SegmentInfo[] = [];
  let at = start + IMAGE_HEADER_SIZE;
  let intact = header.segmentCount <= MAX_SEGMENTS;
  for (let i = 0; i < Math.min(header.segmentCount, MAX_SEGMENTS); i++) {
    const s = readSegment(read, at);
    if (s.length > 0x1000000) {
      intact = false;
      break;
    }
    segments.push(s);
    const len = esp32 ? `${s.length}` : `0x${s.length.toString(16)}`;
    text += `load:0x${s.loadAddr.toString(16).padStart(8, "0")},len:${len}\r\n`;
    at = s.dataOffset + s.length;
  }
  if (intact) {
    const sumAt = checksumPosition(start, at);
    if (read(sumAt, 1)[0] !== segmentChecksum(read, segments)) intact = false;
    if (header.hashAppended) {
      const calculated = sha256Of(read, start, sumAt + 1 - start);
      const expected = read(sumAt + 1, 32);
      if (hex(calculated) !== hex(expected)) {
        intact = false;
        if (!esp32) {
          text += `SHA-256 comparison failed:\r\nCalculated: ${hex(calculated)}\r\n` +
            `Expected: ${hex(expected)}\r\nAttempting to boot anyway...\r\n`;
        }
      }
    }
  }
  text += `entry 0x${header.entry.toString(16).padStart(8, "0")}\r\n`;
  return { kind: "bootloader", text, header, segments, intact, wdtMs, cause };
}

/**
 * Image-format facts for every target esptool v5 knows, including chips
 * espdelta cannot talk to yet (ESP32-C61, H4, H21, E22, S31): image-info must
 * still name their chip ids, flash codes and memory regions as esptool does.
 * Tables keep esptool's key order because image-info prints the first name
 * whose code matches (ESP32-C6 maps both "80m" and "40m" to code 0).
 * @module
 */

import type { ChipName } from "../chips/chips.ts";

/** One address range of a chip's memory map, as image-info labels segments. */
export interface MemoryRange {
  /** First address of the range. */
  start: number;
  /** First address past the range. */
  end: number;
  /** esptool's label, e.g. "DROM", "BYTE_ACCESSIBLE". */
  name: string;
}

/** Image-related facts about one esptool target. */
export interface ImageTarget {
  /** esptool's target name, e.g. "esp32c61". */
  name: string;
  /** Official name, e.g. "ESP32-C61". */
  displayName: string;
  /** Chip id in the extended header; null for ESP8266 (no extended header). */
  imageChipId: number | null;
  /** Flash size name -> header byte 3 high nibble, in esptool order. */
  flashSizes: readonly (readonly [string, number])[];
  /** Flash frequency name -> header byte 3 low nibble, in esptool order. */
  flashFreqs: readonly (readonly [string, number])[];
  /** Memory map used to label segments. */
  memoryMap: readonly MemoryRange[];
}

/** Flash mode names of header byte 2, as esptool spells them. */
export const FLASH_MODES: readonly (readonly [string, number])[] = [
  ["qio", 0],
  ["qout", 1],
  ["dio", 2],
  ["dout", 3],
];

const SIZES_ESP32 = [
  ["1MB", 0x0],
  ["2MB", 0x1],
  ["4MB", 0x2],
  ["8MB", 0x3],
  ["16MB", 0x4],
  ["32MB", 0x5],
  ["64MB", 0x6],
  ["128MB", 0x7],
] as const;

const SIZES_ESP8266 = [
  ["512KB", 0x0],
  ["256KB", 0x1],
  ["1MB", 0x2],
  ["2MB", 0x3],
  ["4MB", 0x4],
  ["2MB-c1", 0x5],
  ["4MB-c1", 0x6],
  ["8MB", 0x8],
  ["16MB", 0x9],
] as const;

const FREQ_CLASSIC = [["80m", 0xf], ["40m", 0x0], ["26m", 0x1], ["20m", 0x2]] as const;
const FREQ_C2 = [["60m", 0xf], ["30m", 0x0], ["20m", 0x1], ["15m", 0x2]] as const;
const FREQ_C5 = [["80m", 0xf], ["40m", 0x0], ["20m", 0x2]] as const;
// esptool writes code 0 for "80m" on the C6 (ROM divider workaround), so 0 reads back as "80m".
const FREQ_C6 = [["80m", 0x0], ["40m", 0x0], ["20m", 0x2]] as const;
const FREQ_H2 = [["48m", 0xf], ["24m", 0x0], ["16m", 0x1], ["12m", 0x2]] as const;

type Row = readonly [number, number, string];
const map = (rows: Row[]): MemoryRange[] =>
  rows.map(([start, end, name]) => ({ start, end, name }));

const MAP_ESP8266 = map([
  [0x3ff00000, 0x3ff00010, "DPORT"],
  [0x3ffe8000, 0x40000000, "DRAM"],
  [0x40100000, 0x40108000, "IRAM"],
  [0x40201010, 0x402e1010, "IROM"],
]);

const MAP_ESP32 = map([
  [0x00000000, 0x00010000, "PADDING"],
  [0x3f400000, 0x3f800000, "DROM"],
  [0x3f800000, 0x3fc00000, "EXTRAM_DATA"],
  [0x3ff80000, 0x3ff82000, "RTC_DRAM"],
  [0x3ff90000, 0x40000000, "BYTE_ACCESSIBLE"],
  [0x3ffae000, 0x40000000, "DRAM"],
  [0x3ffe0000, 0x3ffffffc, "DIRAM_DRAM"],
  [0x40000000, 0x40070000, "IROM"],
  [0x40070000, 0x40078000, "CACHE_PRO"],
  [0x40078000, 0x40080000, "CACHE_APP"],
  [0x40080000, 0x400a0000, "IRAM"],
  [0x400a0000, 0x400bfffc, "DIRAM_IRAM"],
  [0x400c0000, 0x400c2000, "RTC_IRAM"],
  [0x400d0000, 0x40400000, "IROM"],
  [0x50000000, 0x50002000, "RTC_DATA"],
]);

const MAP_ESP32S2 = map([
  [0x00000000, 0x00010000, "PADDING"],
  [0x3f000000, 0x3ff80000, "DROM"],
  [0x3f500000, 0x3ff80000, "EXTRAM_DATA"],
  [0x3ff9e000, 0x3ffa0000, "RTC_DRAM"],
  [0x3ff9e000, 0x40000000, "BYTE_ACCESSIBLE"],
  [0x3ff9e000, 0x40072000, "MEM_INTERNAL"],
  [0x3ffb0000, 0x40000000, "DRAM"],
  [0x40000000, 0x4001a100, "IROM_MASK"],
  [0x40020000, 0x40070000, "IRAM"],
  [0x40070000, 0x40072000, "RTC_IRAM"],
  [0x40080000, 0x40800000, "IROM"],
  [0x50000000, 0x50002000, "RTC_DATA"],
]);

const MAP_ESP32S3 = map([
  [0x00000000, 0x00010000, "PADDING"],
  [0x3c000000, 0x3d000000, "DROM"],
  [0x3d000000, 0x3e000000, "EXTRAM_DATA"],
  [0x600fe000, 0x60100000, "RTC_DRAM"],
  [0x3fc88000, 0x3fd00000, "BYTE_ACCESSIBLE"],
  [0x3fc88000, 0x403e2000, "MEM_INTERNAL"],
  [0x3fc88000, 0x3fd00000, "DRAM"],
  [0x40000000, 0x4001a100, "IROM_MASK"],
  [0x40370000, 0x403e0000, "IRAM"],
  [0x600fe000, 0x60100000, "RTC_IRAM"],
  [0x42000000, 0x42800000, "IROM"],
  [0x50000000, 0x50002000, "RTC_DATA"],
]);

const MAP_ESP32C2 = map([
  [0x00000000, 0x00010000, "PADDING"],
  [0x3c000000, 0x3c400000, "DROM"],
  [0x3fca0000, 0x3fce0000, "DRAM"],
  [0x3fc88000, 0x3fd00000, "BYTE_ACCESSIBLE"],
  [0x3ff00000, 0x3ff50000, "DROM_MASK"],
  [0x40000000, 0x40090000, "IROM_MASK"],
  [0x42000000, 0x42400000, "IROM"],
  [0x4037c000, 0x403c0000, "IRAM"],
]);

const MAP_ESP32C3 = map([
  [0x00000000, 0x00010000, "PADDING"],
  [0x3c000000, 0x3c800000, "DROM"],
  [0x3fc80000, 0x3fce0000, "DRAM"],
  [0x3fc88000, 0x3fd00000, "BYTE_ACCESSIBLE"],
  [0x3ff00000, 0x3ff20000, "DROM_MASK"],
  [0x40000000, 0x40060000, "IROM_MASK"],
  [0x42000000, 0x42800000, "IROM"],
  [0x4037c000, 0x403e0000, "IRAM"],
  [0x50000000, 0x50002000, "RTC_IRAM"],
  [0x50000000, 0x50002000, "RTC_DRAM"],
  [0x600fe000, 0x60100000, "MEM_INTERNAL2"],
]);

/** The RISC-V chips share one shape of memory map; only the bounds differ. */
function riscvMap(
  drom: [number, number],
  ram: [number, number],
  mask: [number, number, number],
  rtcEnd: number,
  rtc = 0x50000000,
  internal2: [number, number] | null = [0x600fe000, 0x60100000],
): MemoryRange[] {
  const rows: Row[] = [
    [0x00000000, 0x00010000, "PADDING"],
    [drom[0], drom[1], "DROM"],
    [ram[0], ram[1], "DRAM"],
    [ram[0], ram[1], "BYTE_ACCESSIBLE"],
    [mask[1], mask[2], "DROM_MASK"],
    [mask[0], mask[1], "IROM_MASK"],
    [drom[0], drom[1], "IROM"],
    [ram[0], ram[1], "IRAM"],
    [rtc, rtcEnd, "RTC_IRAM"],
    [rtc, rtcEnd, "RTC_DRAM"],
  ];
  if (internal2) rows.push([internal2[0], internal2[1], "MEM_INTERNAL2"]);
  return map(rows);
}

const MAP_ESP32C5 = riscvMap(
  [0x42000000, 0x44000000],
  [0x40800000, 0x40860000],
  [0x40000000, 0x4003a000, 0x40040000],
  0x50004000,
);
const MAP_ESP32C6 = riscvMap(
  [0x42000000, 0x43000000],
  [0x40800000, 0x40880000],
  [0x40000000, 0x4004ac00, 0x40050000],
  0x50004000,
);
const MAP_ESP32C61 = riscvMap(
  [0x42000000, 0x44000000],
  [0x40800000, 0x40860000],
  [0x40000000, 0x4004ac00, 0x40050000],
  0x50004000,
);
// ESP32-P4, H4, E22 and S31 give DROM_MASK and IROM_MASK the same range.
const MAP_ESP32P4 = map([
  [0x00000000, 0x00010000, "PADDING"],
  [0x40000000, 0x4c000000, "DROM"],
  [0x4ff00000, 0x4ffa0000, "DRAM"],
  [0x4ff00000, 0x4ffa0000, "BYTE_ACCESSIBLE"],
  [0x4fc00000, 0x4fc20000, "DROM_MASK"],
  [0x4fc00000, 0x4fc20000, "IROM_MASK"],
  [0x40000000, 0x4c000000, "IROM"],
  [0x4ff00000, 0x4ffa0000, "IRAM"],
  [0x50108000, 0x50110000, "RTC_IRAM"],
  [0x50108000, 0x50110000, "RTC_DRAM"],
  [0x600fe000, 0x60100000, "MEM_INTERNAL2"],
]);
const MAP_ESP32H4 = map([
  [0x00000000, 0x00010000, "PADDING"],
  [0x42000000, 0x44000000, "DROM"],
  [0x40810000, 0x40860000, "DRAM"],
  [0x40810000, 0x40860000, "BYTE_ACCESSIBLE"],
  [0x40000000, 0x40050000, "DROM_MASK"],
  [0x40000000, 0x40050000, "IROM_MASK"],
  [0x42000000, 0x44000000, "IROM"],
  [0x40810000, 0x40860000, "IRAM"],
  [0x50000000, 0x50004000, "RTC_IRAM"],
  [0x50000000, 0x50004000, "RTC_DRAM"],
  [0x60000000, 0x60100000, "MEM_INTERNAL2"],
]);
const MAP_ESP32E22 = map([
  [0x00000000, 0x00010000, "PADDING"],
  [0x3c000000, 0x40000000, "DROM"],
  [0x31000000, 0x31200000, "DRAM"],
  [0x31000000, 0x31200000, "BYTE_ACCESSIBLE"],
  [0x30000000, 0x30120000, "DROM_MASK"],
  [0x30000000, 0x30120000, "IROM_MASK"],
  [0x3c000000, 0x40000000, "IROM"],
  [0x30fe0000, 0x31200000, "IRAM"],
  [0xc0000000, 0xc0008000, "RTC_IRAM"],
  [0xc0000000, 0xc0008000, "RTC_DRAM"],
]);
const MAP_ESP32S31 = map([
  [0x00000000, 0x00010000, "PADDING"],
  [0x40000000, 0x54000000, "DROM"],
  [0x2f000000, 0x2f080000, "DRAM"],
  [0x2f000000, 0x2f080000, "BYTE_ACCESSIBLE"],
  [0x2f800000, 0x2f850000, "DROM_MASK"],
  [0x2f800000, 0x2f850000, "IROM_MASK"],
  [0x40000000, 0x54000000, "IROM"],
  [0x2f000000, 0x2f080000, "IRAM"],
  [0x2e000000, 0x2e008000, "RTC_IRAM"],
  [0x2e000000, 0x2e008000, "RTC_DRAM"],
]);

const t = (
  name: string,
  displayName: string,
  imageChipId: number | null,
  flashFreqs: readonly (readonly [string, number])[],
  memoryMap: MemoryRange[],
  flashSizes: readonly (readonly [string, number])[] = SIZES_ESP32,
): ImageTarget => ({ name, displayName, imageChipId, flashSizes, flashFreqs, memoryMap });

/** Every esptool v5 target, in esptool's own order (detection walks it in this order). */
export const IMAGE_TARGETS: readonly ImageTarget[] = [
  t("esp8266", "ESP8266", null, FREQ_CLASSIC, MAP_ESP8266, SIZES_ESP8266),
  t("esp32", "ESP32", 0, FREQ_CLASSIC, MAP_ESP32),
  t("esp32s2", "ESP32-S2", 2, FREQ_CLASSIC, MAP_ESP32S2),
  t("esp32s3", "ESP32-S3", 9, FREQ_CLASSIC, MAP_ESP32S3),
  t("esp32c3", "ESP32-C3", 5, FREQ_CLASSIC, MAP_ESP32C3),
  t("esp32c2", "ESP32-C2", 12, FREQ_C2, MAP_ESP32C2),
  t("esp32c6", "ESP32-C6", 13, FREQ_C6, MAP_ESP32C6),
  t("esp32c61", "ESP32-C61", 20, FREQ_C5, MAP_ESP32C61),
  t("esp32c5", "ESP32-C5", 23, FREQ_C5, MAP_ESP32C5),
  t("esp32e22", "ESP32-E22", 31, FREQ_CLASSIC, MAP_ESP32E22),
  t("esp32h2", "ESP32-H2", 16, FREQ_H2, MAP_ESP32C6),
  t("esp32h21", "ESP32-H21", 25, FREQ_H2, MAP_ESP32C6),
  t("esp32p4", "ESP32-P4", 18, FREQ_CLASSIC, MAP_ESP32P4),
  t("esp32h4", "ESP32-H4", 28, FREQ_H2, MAP_ESP32H4),
  t("esp32s31", "ESP32-S31", 32, FREQ_C5, MAP_ESP32S31),
];

/** The target called `name` (`esp32-s3`, `ESP32S3` and `esp32_s3` all work). */
export function imageTarget(name: string): ImageTarget | undefined {
  const n = name.toLowerCase().replace(/[-_\s()]/g, "");
  return IMAGE_TARGETS.find((x) => x.name === n);
}

/** The ESP32-family target whose extended-header chip id is `id`. */
export function targetByChipId(id: number): ImageTarget | undefined {
  return IMAGE_TARGETS.find((x) => x.imageChipId === id);
}

/** The target of one of espdelta's chips. */
export function targetOf(chip: ChipName): ImageTarget {
  return imageTarget(chip)!;
}

/** The memory labels whose range holds `address`, in map order (esptool's "Memory types"). */
export function memoryTypes(target: ImageTarget, address: number): string[] {
  return target.memoryMap.filter((r) => r.start <= address && address < r.end).map((r) => r.name);
}

/** First name whose code is `code`, like esptool's reverse lookup. */
export function nameOfCode(
  table: readonly (readonly [string, number])[],
  code: number,
): string | undefined {
  return table.find(([, c]) => c === code)?.[0];
}

/** The code of `name` in `table`, or undefined. */
export function codeOfName(
  table: readonly (readonly [string, number])[],
  name: string,
): number | undefined {
  return table.find(([n]) => n === name)?.[1];
}

/** Parses esptool's flash size names ("512KB", "4MB", "2MB-c1") into bytes. */
export function flashSizeBytes(name: string): number | undefined {
  const m = /^(\d+)(KB|MB)(-c1)?$/.exec(name);
  if (!m) return undefined;
  return Number(m[1]) * (m[2] === "MB" ? 1024 * 1024 : 1024);
}

/** Formats a byte count the way esptool names flash sizes ("4MB", "512KB"). */
export function flashSizeName(bytes: number): string {
  const MB = 1024 * 1024;
  return bytes % MB === 0 ? `${bytes / MB}MB` : `${bytes / 1024}KB`;
}

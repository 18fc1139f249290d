/**
 * ESP-IDF's second-stage bootloader as a virtual chip runs it: its banner,
 * the flash settings from its own header, the partition table, the choice of
 * app (factory, or the OTA slot otadata names), and the app image's checks,
 * each with the message ESP-IDF prints (bootloader_init.c,
 * bootloader_flash_config_*.c, bootloader_utility.c, esp_image_format.c,
 * flash_partitions.c and bootloader_common_loader.c of ESP-IDF v5.5).
 *
 * What the bootloader in flash says about itself is read from it: the
 * version and build time from its `esp_bootloader_desc_t` (v5.2 and later)
 * or from the version string it carries, whether its log has colours (its
 * format strings start with `ESC[0;32m`), and the lines it has (`Multicore
 * bootloader`, `efuse block revision`). The rest follows v5.5.
 * @module
 */

import type { ChipInfo } from "../chips/chips.ts";
import {
  type AppDesc,
  checksumPosition,
  type FlashRead,
  hex,
  IMAGE_HEADER_SIZE,
  IMAGE_MAGIC,
  type ImageHeader,
  MAX_SEGMENTS,
  otaSequence,
  parseAppDesc,
  parseBootloaderDesc,
  type PartitionEntry,
  readHeader,
  readPartitionTable,
  readSegment,
  segmentChecksum,
  type SegmentInfo,
  sha256Of,
} from "./flash_image.ts";
import { hexPad, type IdfLog } from "./idf_log.ts";

/** Where ESP-IDF puts the partition table. */
export const PARTITION_TABLE_OFFSET = 0x8000;

/** A log whose lines may carry ESP-IDF's ANSI colours. */
export class ColorLog {
  /** The log written to. */
  readonly log: IdfLog;
  /** Colours on. */
  color: boolean;

  /** Writes to `log`. */
  constructor(log: IdfLog, color: boolean) {
    this.log = log;
    this.color = color;
  }

  /** `I (t) tag: message`. */
  info(tag: string, message: string): void {
    this.#line("I", "32", tag, message);
  }

  /** `W (t) tag: message`. */
  warn(tag: string, message: string): void {
    this.#line("W", "33", tag, message);
  }

  /** `E (t) tag: message`. */
  error(tag: string, message: string): void {
    this.#line("E", "31", tag, message);
  }

  #line(level: string, color: string, tag: string, message: string): void {
    const t = Math.floor(this.log.now);
    this.log.raw(
      this.color
        ? `\x1b[0;${color}m${level} (${t}) ${tag}: ${message}\x1b[0m\r\n`
        : `${level} (${t}) ${tag}: ${message}\r\n`,
    );
  }
}

/** What the second stage did. */
export type IdfBootOutcome =
  | {
    /** An app passed its checks and runs. */
    kind: "app";
    /** Its partition offset. */
    offset: number;
    /** Its header. */
    header: ImageHeader;
    /** Its `esp_app_desc_t`, when it is an ESP-IDF app. */
    desc?: AppDesc;
    /** True when its log format strings carry colours. */
    color: boolean;
  }
  | {
    /** `bootloader_reset()`: a software system reset. */
    kind: "reset";
  };

/** What the second stage needs. */
export interface IdfBootInput {
  /** Chip facts. */
  chip: ChipInfo;
  /** Flash reads. */
  read: FlashRead;
  /** The bootloader image the ROM loaded. */
  bootloader: { header: ImageHeader; segments: SegmentInfo[] };
  /** Chip revision, major * 100 + minor. */
  chipRevision: number;
  /** The log, its clock at the bootloader's first line. */
  log: IdfLog;
}

const enc = new TextEncoder();

/** First index of `needle` in `hay`, or -1. */
function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  const first = needle[0];
  for (
    let i = hay.indexOf(first);
    i >= 0 && i <= hay.length - needle.length;
    i = hay.indexOf(first, i + 1)
  ) {
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

/** The NUL-terminated string that starts at `at`. */
function stringAt(bytes: Uint8Array, at: number): string {
  let end = at;
  while (end < bytes.length && bytes[end] !== 0) end++;
  return new TextDecoder().decode(bytes.subarray(at, end));
}

const has = (bytes: Uint8Array, text: string) => indexOf(bytes, enc.encode(text)) >= 0;
const COLOR_INFO = "\x1b[0;32mI (";

/** What the bootloader binary says about how it logs. */
interface BootloaderStyle {
  color: boolean;
  idfVer?: string;
  compileTime?: string;
  multicore: boolean;
  efuseRev: boolean;
  revisionWithV: boolean;
  mmuPageSize: boolean;
  legacyBanner: boolean;
}

function bootloaderStyle(read: FlashRead, start: number, segments: SegmentInfo[]): BootloaderStyle {
  const last = segments.at(-1);
  const end = last ? last.dataOffset + last.length : start + IMAGE_HEADER_SIZE;
  const image = read(start, Math.min(end - start, 0x40000));
  const first = segments[0] ? read(segments[0].dataOffset, 80) : new Uint8Array();
  const desc = parseBootloaderDesc(first);
  let idfVer = desc?.idfVer;
  if (!idfVer) {
    const m = /\0(v\d+\.\d+[\w.\-+]*)\0/.exec(new TextDecoder("latin1").decode(image));
    if (m) idfVer = m[1];
  }
  let compileTime = desc?.dateTime;
  const ct = indexOf(image, enc.encode("compile time "));
  if (ct >= 0) {
    // The format string ends with the colour reset (when coloured) and "\n".
    const literal = stringAt(image, ct + 13).split("\x1b")[0].replace(/\n$/, "");
    if (!literal.startsWith("%")) compileTime = literal;
  }
  return {
    color: has(image, COLOR_INFO),
    idfVer,
    compileTime,
    multicore: has(image, "Multicore bootloader"),
    efuseRev: has(image, "efuse block revision"),
    revisionWithV: has(image, "chip revision: v"),
    mmuPageSize: has(image, "MMU Page Size"),
    legacyBanner: has(image, "2nd stage bootloader v. "),
  };
}

/** `SPI Speed` text for the header's speed nibble, from the chip's frequency table. */
function speedText(chip: ChipInfo, code: number): string {
  const name = Object.entries(chip.flashFreqs).find(([, c]) => c === code)?.[0];
  if (!name) return "20MHz";
  const mhz = name.replace(/m$/i, "");
  return mhz === "26" || mhz === "26.7" ? "26.7MHz" : `${mhz}MHz`;
}

function sizeText(chip: ChipInfo, code: number): { text: string; bytes: number } {
  const bytes = chip.flashSizes[code];
  if (!bytes) return { text: "2MB", bytes: 2 << 20 };
  return { text: `${bytes >> 20}MB`, bytes };
}

const MODE_TEXT = ["QIO", "QOUT", "DIO", "DOUT", "FAST READ", "SLOW READ"];

/** `partition_usage` of bootloader_utility.c. */
function usage(p: PartitionEntry): string {
  if (p.type === 0) {
    if (p.subtype === 0x00) return "factory app";
    if (p.subtype === 0x20) return "test app";
    return (p.subtype & 0xf0) === 0x10 ? "OTA app" : "Unknown app";
  }
  if (p.type === 1) {
    return ({
      0x00: "OTA data",
      0x01: "RF data",
      0x02: "WiFi data",
      0x04: "NVS keys",
      0x05: "efuse",
    } as Record<
      number,
      string
    >)[p.subtype] ?? "Unknown data";
  }
  if (p.type === 2) {
    return ({ 0: "primary bootloader", 1: "ota bootloader", 2: "recovery bootloader" } as Record<
      number,
      string
    >)[
      p.subtype
    ] ?? "unknown";
  }
  if (p.type === 3) {
    return ({ 0: "primary partition_table", 1: "ota partition_table" } as Record<number, string>)[
      p.subtype
    ] ??
      "unknown";
  }
  return "unknown";
}

/** Address windows the chip maps from flash through its cache (`map` rather than `load`). */
const MAPPED: Record<string, [number, number][]> = {
  esp32: [[0x3f400000, 0x3f800000], [0x400c2000, 0x40c00000]],
  esp32s2: [[0x3f000000, 0x3ff80000], [0x40080000, 0x40800000]],
  esp32s3: [[0x3c000000, 0x3e000000], [0x42000000, 0x44000000]],
  esp32c2: [[0x3c000000, 0x3c400000], [0x42000000, 0x42400000]],
  esp32c3: [[0x3c000000, 0x3c800000], [0x42000000, 0x42800000]],
  esp32c5: [[0x42000000, 0x44000000]],
  esp32c6: [[0x42000000, 0x43000000]],
  esp32h2: [[0x42000000, 0x43000000]],
  esp32p4: [[0x40000000, 0x4c000000]],
};

/** Whether `addr` is flash-mapped on `chip` (`should_map` of esp_image_format.c). */
export function isMapped(chip: ChipInfo, addr: number): boolean {
  return (MAPPED[chip.name] ?? []).some(([a, b]) => addr >= a && addr < b);
}

const FACTORY = -1;
const TEST = -2;
const TAG_IMAGE = "esp_image";

/**
 * `esp_image_load` of an app partition: header, segments (printed), checksum,
 * length, appended SHA-256. Returns the header and segments, or undefined
 * after printing why not.
 */
function loadApp(
  input: IdfBootInput,
  out: ColorLog,
  part: PartitionEntry,
): { header: ImageHeader; segments: SegmentInfo[] } | undefined {
  const { chip, read } = input;
  if (part.size > 0x1000000) {
    out.error(TAG_IMAGE, `partition size 0x${part.size.toString(16)} invalid, larger than 16MB`);
    return undefined;
  }
  const start = part.offset;
  const header = readHeader(read, start);
  if (header.magic !== IMAGE_MAGIC) {
    out.error(
      TAG_IMAGE,
      `image at 0x${start.toString(16)} has invalid magic byte (nothing flashed here?)`,
    );
    return undefined;
  }
  if (chip.imageChipId !== null && header.chipId !== chip.imageChipId) {
    out.error(
      "boot_comm",
      `mismatch chip ID, expected ${chip.imageChipId}, found ${header.chipId}`,
    );
    return undefined;
  }
  if (input.chipRevision < header.minRevFull) {
    const r = input.chipRevision;
    out.error(
      "boot_comm",
      `chip revision check failed. Required >= v${Math.floor(header.minRevFull / 100)}.${
        header.minRevFull % 100
      }, found v${Math.floor(r / 100)}.${r % 100}.`,
    );
    return undefined;
  }
  if (header.segmentCount > MAX_SEGMENTS) {
    out.error(
      TAG_IMAGE,
      `image at 0x${
        start.toString(16)
      } segment count ${header.segmentCount} exceeds max ${MAX_SEGMENTS}`,
    );
    return undefined;
  }
  const segments: SegmentInfo[] = [];
  let at = start + IMAGE_HEADER_SIZE;
  for (let i = 0; i < header.segmentCount; i++) {
    const s = readSegment(read, at);
    if ((s.length & 3) !== 0 || s.length >= 0x1000000) {
      out.error(TAG_IMAGE, `invalid segment length 0x${s.length.toString(16)}`);
      return undefined;
    }
    const map = isMapped(chip, s.loadAddr);
    if (map && (s.dataOffset % 0x10000) !== (s.loadAddr % 0x10000)) {
      out.error(
        TAG_IMAGE,
        `Segment ${i} load address 0x${hexPad(s.loadAddr, 8)}, doesn't match data 0x${
          hexPad(s.dataOffset, 8)
        }`,
      );
      return undefined;
    }
    out.info(
      TAG_IMAGE,
      `segment ${i}: paddr=${hexPad(s.dataOffset, 8)} vaddr=${hexPad(s.loadAddr, 8)} size=${
        hexPad(s.length, 5)
      }h (${String(s.length).padStart(6)}) ${map ? "map" : s.loadAddr < 0x10000 ? "" : "load"}`,
    );
    // Copying into RAM or setting up the cache: about 10 MB/s.
    input.log.spend(s.length / 10_000);
    segments.push(s);
    at = s.dataOffset + s.length;
  }
  const sumAt = checksumPosition(start, at);
  const stored = read(sumAt, 1)[0];
  const calculated = segmentChecksum(read, segments);
  if (stored !== calculated) {
    out.error(
      TAG_IMAGE,
      `Checksum failed. Calculated 0x${calculated.toString(16)} read 0x${stored.toString(16)}`,
    );
    return undefined;
  }
  const length = sumAt + 1 - start + (header.hashAppended ? 32 : 0);
  if (length > part.size) {
    out.error(TAG_IMAGE, `Image length ${length} doesn't fit in partition length ${part.size}`);
    return undefined;
  }
  if (header.hashAppended) {
    const digest = sha256Of(read, start, sumAt + 1 - start);
    if (hex(digest) !== hex(read(sumAt + 1, 32))) {
      out.error(TAG_IMAGE, "Image hash failed - image is corrupt");
      return undefined;
    }
  }
  return { header, segments };
}

/**
 * Runs the second stage: writes its log to `input.log` and says whether an
 * app starts or the bootloader resets the chip.
 */
export function runBootloader(input: IdfBootInput): IdfBootOutcome {
  const { chip, read, bootloader } = input;
  const start = chip.bootloaderOffset;
  const style = bootloaderStyle(read, start, bootloader.segments);
  const out = new ColorLog(input.log, style.color);
  const firstApp = findAppDesc(input);
  const idfVer = style.idfVer ?? firstApp?.idfVer ?? "v5.5.5";
  if (style.legacyBanner) out.info("boot", `Espressif ESP32 2nd stage bootloader v. ${idfVer}`);
  else out.info("boot", `ESP-IDF ${idfVer} 2nd stage bootloader`);
  const time = style.compileTime ?? (firstApp ? `${firstApp.date} ${firstApp.time}` : undefined);
  if (time) out.info("boot", `compile time ${time}`);
  if (style.multicore) out.info("boot", "Multicore bootloader");
  const rev = input.chipRevision;
  out.info(
    "boot",
    style.revisionWithV
      ? `chip revision: v${Math.floor(rev / 100)}.${rev % 100}`
      : `chip revision: ${rev % 100}`,
  );
  if (style.efuseRev && chip.name !== "esp32") out.info("boot", "efuse block revision: v0.0");
  const h = bootloader.header;
  const tag = `boot.${chip.name}`;
  if (style.mmuPageSize) {
    out.info(tag, `MMU Page Size  : ${chip.name === "esp32c2" ? "32K" : "64K"}`);
  }
  out.info(tag, `SPI Speed      : ${speedText(chip, h.spiSpeed)}`);
  out.info(tag, `SPI Mode       : ${MODE_TEXT[h.spiMode] ?? "SLOW READ"}`);
  const size = sizeText(chip, h.spiSize);
  out.info(tag, `SPI Flash Size : ${size.text}`);
  out.info("boot", "Enabling RNG early entropy source...");

  const table = readPartitionTable(read, PARTITION_TABLE_OFFSET, size.bytes);
  if ("error" in table) {
    const e = table.error;
    const msg = e.kind === "bad-magic"
      ? `partition ${e.index} invalid magic number 0x${e.magic.toString(16)}`
      : e.kind === "too-big"
      ? `partition ${e.index} invalid - offset 0x${e.offset.toString(16)} size 0x${
        e.size.toString(16)
      } exceeds flash chip size 0x${e.chipSize.toString(16)}`
      : e.kind === "md5"
      ? "Incorrect MD5 checksum"
      : e.kind === "two-md5"
      ? "Only one MD5 checksum is allowed"
      : "partition table has no terminating entry, not valid";
    out.error("flash_parts", msg);
    out.error("boot", "Failed to verify partition table");
    out.error("boot", "load partition table error!");
    return { kind: "reset" };
  }
  out.info("boot", "Partition Table:");
  out.info("boot", "## Label            Usage          Type ST Offset   Length");
  let factory: PartitionEntry | undefined;
  let test: PartitionEntry | undefined;
  let otaInfo: PartitionEntry | undefined;
  const ota: PartitionEntry[] = [];
  for (const p of table.entries) {
    if (p.type === 0 && p.subtype === 0) factory = p;
    else if (p.type === 0 && p.subtype === 0x20) test = p;
    else if (p.type === 0 && (p.subtype & 0xf0) === 0x10) ota[p.subtype & 0x0f] = p;
    else if (p.type === 1 && p.subtype === 0) otaInfo = p;
    out.info(
      "boot",
      `${String(p.index).padStart(2)} ${p.label.padEnd(16)} ${usage(p).padEnd(16)} ${
        hexPad(p.type, 2)
      } ${hexPad(p.subtype, 2)} ${hexPad(p.offset, 8)} ${hexPad(p.size, 8)}`,
    );
  }
  out.info("boot", "End of partition table");
  const appCount = ota.filter(Boolean).length;

  let index = FACTORY;
  if (otaInfo) {
    const seqs = [0, 1].map((i) => otaSequence(read(otaInfo!.offset + i * 0x1000, 32)));
    if ((seqs[0] === undefined && seqs[1] === undefined) || appCount === 0) {
      if (factory) out.info("boot", "Defaulting to factory image");
      else {
        out.info("boot", "No factory image, trying OTA 0");
        index = 0;
      }
    } else {
      const seq = Math.max(...seqs.filter((s): s is number => s !== undefined));
      index = (seq - 1) % appCount;
    }
  }

  const partition = (i: number) =>
    i === FACTORY ? factory : i === TEST ? test : i < appCount ? ota[i] : undefined;
  const notBootable = (i: number) =>
    out.error(
      "boot",
      i === FACTORY
        ? "Factory app partition is not bootable"
        : i === TEST
        ? "Factory test app partition is not bootable"
        : `OTA app partition slot ${i} is not bootable`,
    );
  const attempt = (p: PartitionEntry): IdfBootOutcome | undefined => {
    if (p.size === 0) return undefined;
    const app = loadApp(input, out, p);
    if (!app) return undefined;
    out.info("boot", `Loaded app from partition at offset 0x${p.offset.toString(16)}`);
    const first = app.segments[0];
    const desc = first ? parseAppDesc(read(first.dataOffset, 256)) : undefined;
    const last = app.segments.at(-1)!;
    const image = read(p.offset, Math.min(last.dataOffset + last.length - p.offset, 0x400000));
    return {
      kind: "app",
      offset: p.offset,
      header: app.header,
      desc,
      color: has(image, COLOR_INFO),
    };
  };
  const started = (app: IdfBootOutcome) => {
    out.info("boot", "Disabling RNG early entropy source...");
    return app;
  };
  for (let i = index; i >= FACTORY; i--) {
    const p = partition(i);
    if (!p) continue;
    const booted = attempt(p);
    if (booted) return started(booted);
    notBootable(i);
  }
  for (let i = index + 1; i < appCount; i++) {
    const p = partition(i);
    if (!p) continue;
    const booted = attempt(p);
    if (booted) return started(booted);
    notBootable(i);
  }
  const fallback = test ? attempt(test) : undefined;
  if (fallback) {
    out.warn("boot", "Falling back to test app as only bootable partition");
    return started(fallback);
  }
  out.error("boot", "No bootable app partitions in the partition table");
  return { kind: "reset" };
}

/** The app descriptor of the first app partition that has one (for a bootloader that names no version). */
function findAppDesc(input: IdfBootInput): AppDesc | undefined {
  const table = readPartitionTable(input.read, PARTITION_TABLE_OFFSET, 1 << 30);
  if ("error" in table) return undefined;
  for (const p of table.entries.filter((e) => e.type === 0)) {
    const h = readHeader(input.read, p.offset);
    if (h.magic !== IMAGE_MAGIC) continue;
    const s = readSegment(input.read, p.offset + IMAGE_HEADER_SIZE);
    const desc = parseAppDesc(input.read(s.dataOffset, 256));
    if (desc) return desc;
  }
  return undefined;
}

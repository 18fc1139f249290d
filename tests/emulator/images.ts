/**
 * Builds the flash contents the boot tests need, byte by byte from ESP-IDF's
 * layouts (esp_app_format.h, esp_app_desc.h, esp_flash_partitions.h), not
 * with espdelta's image code: an app image with an `esp_app_desc_t`, a
 * partition table, an OTA data sector, and a reader of ELF symbol tables so
 * the panic addresses can be checked against the test ELFs.
 * @module
 */

import { createHash } from "node:crypto";
import { type ChipName, CHIPS } from "../../src/chips/chips.ts";
import { crc32le } from "../../src/emulator/flash_image.ts";

/** Where each chip maps flash data (the app descriptor's segment) and loads IRAM. */
const ADDRS: Record<Exclude<ChipName, "esp8266">, [number, number]> = {
  esp32: [0x3f400020, 0x40080400],
  esp32s2: [0x3f000020, 0x40022000],
  esp32s3: [0x3c000020, 0x40370000],
  esp32c2: [0x3c000020, 0x4037c000],
  esp32c3: [0x3c000020, 0x40380000],
  esp32c5: [0x42800020, 0x40800000],
  esp32c6: [0x42800020, 0x40800000],
  esp32h2: [0x42800020, 0x40800000],
  esp32p4: [0x40000020, 0x4ff00000],
};

/** What goes into an app's `esp_app_desc_t`. */
export interface AppDescFields {
  projectName: string;
  version: string;
  idfVer?: string;
  date?: string;
  time?: string;
  elfSha256?: Uint8Array;
}

const put = (b: Uint8Array, at: number, text: string, max: number) =>
  b.set(new TextEncoder().encode(text).subarray(0, max), at);

/** A 256-byte `esp_app_desc_t`. */
export function appDesc(f: AppDescFields): Uint8Array {
  const d = new Uint8Array(256);
  const v = new DataView(d.buffer);
  v.setUint32(0, 0xabcd5432, true);
  put(d, 16, f.version, 32);
  put(d, 48, f.projectName, 32);
  put(d, 80, f.time ?? "12:34:56", 16);
  put(d, 96, f.date ?? "Dec  3 2026", 16);
  put(d, 112, f.idfVer ?? "v5.5.5", 32);
  d.set(f.elfSha256 ?? new Uint8Array(32).map((_, i) => (i * 17 + 3) & 0xff), 144);
  v.setUint16(176, 0, true);
  v.setUint16(178, 0xffff, true);
  d[180] = 16; // 64 KiB MMU pages
  return d;
}

/**
 * A valid app image for `chip`: a mapped segment holding the descriptor, an
 * IRAM segment, the checksum and an appended SHA-256.
 */
export function appImage(chip: Exclude<ChipName, "esp8266">, desc: AppDescFields): Uint8Array {
  const info = CHIPS[chip];
  const [drom, iram] = ADDRS[chip];
  const rodata = new Uint8Array(0x400);
  rodata.set(appDesc(desc));
  const code = new Uint8Array(0x200).map((_, i) => (i * 31 + 7) & 0xff);
  const sizeCode = Number(Object.entries(info.flashSizes).find(([, b]) => b === 4 << 20)![0]);
  const header = new Uint8Array(24);
  header.set([0xe9, 2, 2, (sizeCode << 4) | 0]);
  new DataView(header.buffer).setUint32(4, iram, true);
  header[8] = 0xee;
  new DataView(header.buffer).setUint16(12, info.imageChipId ?? 0, true);
  new DataView(header.buffer).setUint16(17, 0xffff, true);
  header[23] = 1;
  const seg = (addr: number, data: Uint8Array) => {
    const s = new Uint8Array(8 + data.length);
    new DataView(s.buffer).setUint32(0, addr, true);
    new DataView(s.buffer).setUint32(4, data.length, true);
    s.set(data, 8);
    return s;
  };
  const body = [header, seg(drom, rodata), seg(iram, code)];
  const length = body.reduce((n, b) => n + b.length, 0);
  const padded = (length + 1 + 15) & ~15;
  const image = new Uint8Array(padded + 32);
  let at = 0;
  for (const b of body) {
    image.set(b, at);
    at += b.length;
  }
  let sum = 0xef;
  for (const b of [rodata, code]) for (const x of b) sum ^= x;
  image[padded - 1] = sum;
  image.set(createHash("sha256").update(image.subarray(0, padded)).digest(), padded);
  return image;
}

/** One partition table row: [label, type, subtype, offset, size]. */
export type PartitionRow = [string, number, number, number, number];

/** A binary partition table with its MD5 row. */
export function partitionTable(rows: PartitionRow[]): Uint8Array {
  const t = new Uint8Array(0xc00).fill(0xff);
  rows.forEach(([label, type, subtype, offset, size], i) => {
    const e = t.subarray(i * 32, i * 32 + 32);
    e.fill(0);
    e.set([0xaa, 0x50, type, subtype]);
    new DataView(e.buffer, e.byteOffset).setUint32(4, offset, true);
    new DataView(e.buffer, e.byteOffset).setUint32(8, size, true);
    put(e, 12, label, 16);
  });
  const md5 = t.subarray(rows.length * 32, rows.length * 32 + 32);
  md5.fill(0xff);
  md5.set([0xeb, 0xeb]);
  md5.set(createHash("md5").update(t.subarray(0, rows.length * 32)).digest(), 16);
  return t;
}

/** An `esp_ota_select_entry_t` naming sequence `seq`. */
export function otaEntry(seq: number): Uint8Array {
  const e = new Uint8Array(32).fill(0xff);
  const v = new DataView(e.buffer);
  v.setUint32(0, seq, true);
  v.setUint32(24, 2, true); // ESP_OTA_IMG_VALID
  v.setUint32(28, crc32le(0xffffffff, e.subarray(0, 4)), true);
  return e;
}

/** Function symbols of an ELF32 file: name -> [address, size]. */
export function elfFunctions(elf: Uint8Array): Map<string, [number, number]> {
  const v = new DataView(elf.buffer, elf.byteOffset);
  const shoff = v.getUint32(32, true);
  const shentsize = v.getUint16(46, true);
  const shnum = v.getUint16(48, true);
  const section = (i: number) => {
    const o = shoff + i * shentsize;
    return {
      type: v.getUint32(o + 4, true),
      offset: v.getUint32(o + 16, true),
      size: v.getUint32(o + 20, true),
      link: v.getUint32(o + 24, true),
    };
  };
  const out = new Map<string, [number, number]>();
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (s.type !== 2) continue; // SHT_SYMTAB
    const strtab = section(s.link);
    for (let o = s.offset; o < s.offset + s.size; o += 16) {
      const info = elf[o + 12];
      if ((info & 0xf) !== 2) continue; // STT_FUNC
      let end = strtab.offset + v.getUint32(o, true);
      const start = end;
      while (elf[end] !== 0) end++;
      const name = new TextDecoder().decode(elf.subarray(start, end));
      out.set(name, [v.getUint32(o + 4, true), v.getUint32(o + 8, true)]);
    }
  }
  return out;
}

/**
 * The flasher stubs a virtual device recognises in RAM. The device cannot
 * execute the uploaded code; it recognises a program by the SHA-256 of what
 * was uploaded (see {@link ramDigest}) and, for a known stub, speaks that
 * stub's protocol. Anything else runs as an unknown program: the chip stops
 * answering the loader protocol, as it would once real code takes over.
 *
 * Two kinds of stub exist:
 * - "esp-flasher-stub": https://github.com/espressif/esp-flasher-stub, the
 *   stub of esptool v5 (its `targets/stub_flasher/2/`) and of esptool-js
 *   0.7.0 (its `lib/targets/stub_flasher/*.json` are the v1.2.x binaries);
 *   modelled in flasher_stub.ts.
 * - "legacy": https://github.com/espressif/esptool-legacy-flasher-stub,
 *   v1.11.1 in esptool v5's `targets/stub_flasher/1/` (what esptool v4 and
 *   older esptool-js uploaded); modelled in stub.ts.
 *
 * The digests below were computed from those JSON files: esptool-js 0.7.0
 * from npm (tests/emulator/known_stubs_test.ts recomputes them), esptool at
 * commit bb72741 (2026-08-20; the esp-flasher-stub v1.2.2 and legacy v1.11.1
 * sets). A device takes more through its `knownStubs` option.
 * @module
 */

import { createHash } from "node:crypto";
import type { ChipName } from "../chips/chips.ts";

/** Which stub protocol a known program speaks. */
export type StubKind = "legacy" | "esp-flasher-stub";

/** All stub kinds. */
export const STUB_KINDS: readonly StubKind[] = ["legacy", "esp-flasher-stub"];

/** A program the device runs as a flasher stub. */
export interface KnownStub {
  /** {@link ramDigest} of its text and data segments. */
  digest: string;
  /** Its protocol. */
  kind: StubKind;
  /** The chip it is built for. */
  chip: ChipName;
  /** Its entry point. */
  entry: number;
  /**
   * Lowest and highest major silicon revision it runs on: the ESP32-P4's
   * rev1 build below v3.0 and the other from v3.0 (esptool's
   * `stub_json_name`); no ESP32-C2 stub on v0.x, ECO0 ("ESP32C2 ECO0 is no
   * longer supported by the flasher stub", esptool's esp32c2.py).
   */
  majors?: readonly [number, number];
  /** Where it comes from, for the device's log. */
  name: string;
}

/** A span of RAM a host uploaded. */
export interface RamSegment {
  /** Load address. */
  addr: number;
  /** Contents. */
  data: Uint8Array;
}

/**
 * The digest of a RAM image: segments sorted by address, contiguous ones
 * merged, empty ones left out, each hashed as its address and length
 * (32-bit little-endian) and bytes; SHA-256, lower-case hex.
 *
 * @example
 * ```ts
 * import { ramDigest } from "./known_stubs.ts";
 * ramDigest([{ addr: 0x40080000, data: new Uint8Array([1, 2]) }]).length; // 64
 * ```
 */
export function ramDigest(segments: readonly RamSegment[]): string {
  const sorted = segments.filter((s) => s.data.length > 0).sort((a, b) => a.addr - b.addr);
  const merged: { addr: number; parts: Uint8Array[]; length: number }[] = [];
  for (const s of sorted) {
    const last = merged.at(-1);
    if (last && last.addr + last.length === s.addr) {
      last.parts.push(s.data);
      last.length += s.data.length;
    } else {
      merged.push({ addr: s.addr, parts: [s.data], length: s.data.length });
    }
  }
  const hash = createHash("sha256");
  for (const m of merged) {
    const head = new Uint8Array(8);
    const view = new DataView(head.buffer);
    view.setUint32(0, m.addr >>> 0, true);
    view.setUint32(4, m.length, true);
    hash.update(head);
    for (const p of m.parts) hash.update(p);
  }
  return hash.digest("hex");
}

type Row = readonly [ChipName, number, string, (readonly [number, number])?];

const rows = (kind: StubKind, name: string, table: readonly Row[]): KnownStub[] =>
  table.map(([chip, entry, digest, majors]) => ({
    kind,
    name,
    chip,
    entry,
    digest,
    ...(majors ? { majors } : {}),
  }));

/** esp-flasher-stub v1.2.x: esptool-js 0.7.0's stub files, equal to esptool v5's set 2. */
// deno-fmt-ignore
const FLASHER_STUB: readonly Row[] = [
  ["esp8266", 0x4010c504, "31c57d5283a0f267928c5f173bd205cac1c58b30e877348987e43baa4b7c39dd"],
  ["esp32", 0x400a902c, "a0c7b6554cae619cda3a7385fb02476e629c569e67cf44198d0f05131bbedef9"],
  ["esp32s2", 0x400290a4, "ce5be8ab723f0e1ff5bb9cc2c727afee12e97a1514b86589bda3a97a0bb54891"],
  ["esp32s3", 0x40379524, "201b9f22bfa1d17beb41ae316b478ae34c97fd7ff5332965dd2b5cbd4a51115f"],
  ["esp32c2", 0x40380f90, "3d62b04bd49aca85b550cbb710814d2c36349ea0a056b57cc06296f6343a057b", [1, 3]],
  ["esp32c3", 0x40380e9a, "81cd0ba6e545a0ab4db94694fe7357f2c353a2fcc505c0939fdaed3b1c300d48"],
  ["esp32c5", 0x408015d2, "293cb5d86b0382c014c9d0e48ad0138ccbba57a894272394bc7e52c8c14760fe"],
  ["esp32c6", 0x408011bc, "eff5147db87b953b1880a182cf9152cf228907a35e96ad3b74f7a2369f3df3a0"],
  ["esp32h2", 0x40800e92, "8d5adb88c7d9ea8f235121ccc59395dbda67f2071515bacaa269c1cf6e619eec"],
  ["esp32p4", 0x4ff51456, "aba81d3eb99e63e25b28a56376d3e6f6a9d5105865a0f73879ecacb0acc88eda", [3, 7]],
  ["esp32p4", 0x4ff11456, "b4398cf12f4a1a0b7224e94958265f02277072f29009fe37997406f5e5242881", [0, 2]],
];

/** esptool-legacy-flasher-stub v1.11.1: esptool v5's set 1. */
// deno-fmt-ignore
const LEGACY_STUB: readonly Row[] = [
  ["esp8266", 0x4010d004, "90901f193b66b7da66efaf70a1f3f57dcfb3b327e113f68efb4bdaabb676715e"],
  ["esp32", 0x400be658, "a445923b4795bcf0dee6e3ae60747437e510278f624601a582b2a3874d63830c"],
  ["esp32s2", 0x400288ac, "efbed5d636a3c90e71712a24235492303e85ee9f3c7cffa915291b06579d03ed"],
  ["esp32s3", 0x40378c94, "3fbf19b72c83a03da70940a653d88865da978a8e9bbe32fde8a80d0eccda331d"],
  ["esp32c2", 0x403805da, "7a4cf9f46bd8fe3a86b59945fe6d5432e1bb79d0591c2276491ca03f4fb653ae", [1, 3]],
  ["esp32c3", 0x403806d2, "a08ca02563895dd0b9df07366ce9bb1ea462d8c6a99a9e973f064e1fe85adea0"],
  ["esp32c5", 0x40800a88, "6b9b4e522c929493c8890eb78d5c624404993d19e46d1006a4c4793fa6580d50"],
  ["esp32c6", 0x408006c2, "c03bdb3bad7556b2f0d0692024560c5ed71706c72da1205b2bff690f292a2c14"],
  ["esp32h2", 0x408006c2, "ce52dd2eac83973f5c94ceb997375f71718508ec51a4d45a6cb4dea31eafe7d0"],
  ["esp32p4", 0x4ff10ba0, "390263a55a66fb83aa73459036f36724a5ca505aad6081ecdfba44641c3ea7f7", [0, 2]],
];

/** The stubs every virtual device knows. */
export const KNOWN_STUBS: readonly KnownStub[] = [
  ...rows(
    "esp-flasher-stub",
    "esp-flasher-stub v1.2.x (esptool v5, esptool-js 0.7.0)",
    FLASHER_STUB,
  ),
  ...rows("legacy", "esptool-legacy-flasher-stub v1.11.1 (esptool v4)", LEGACY_STUB),
];

/** A stub image as a host holds it: text and data with their load addresses, and the entry. */
export interface StubProgram {
  /** Entry point. */
  entry: number;
  /** Text segment. */
  text: Uint8Array;
  /** Its load address. */
  textStart: number;
  /** Data segment. */
  data: Uint8Array;
  /** Its load address. */
  dataStart: number;
}

/**
 * A {@link KnownStub} for a program of one's own, so a device runs it as a
 * stub of `kind` (a device option, `knownStubs`).
 *
 * @example
 * ```ts
 * import { knownStub } from "./known_stubs.ts";
 * const program = { entry: 0x40090000, text: new Uint8Array(4), textStart: 0x40090000,
 *   data: new Uint8Array(4), dataStart: 0x3ffe0000 };
 * knownStub(program, "esp32", "legacy").kind; // "legacy"
 * ```
 */
export function knownStub(
  program: StubProgram,
  chip: ChipName,
  kind: StubKind,
  name = "a stub of one's own",
): KnownStub {
  const digest = ramDigest([
    { addr: program.textStart, data: program.text },
    { addr: program.dataStart, data: program.data },
  ]);
  return { digest, kind, chip, entry: program.entry, name };
}

/**
 * Who a virtual chip is: its silicon revision and package, written into the
 * eFuse fields at the addresses and bit positions esptool's target classes
 * read them (`get_major_chip_version`, `get_minor_chip_version`,
 * `get_pkg_version` in esptool/targets/*.py, the fields of ESP-IDF's
 * efuse tables), and the ROM facts GET_SECURITY_INFO reports beside the
 * eFuses.
 *
 * Defaults are parts on sale (revisions as esptool prints them from real
 * boards): ESP32-D0WD-V3 v3.1, ESP32-S2 v0.0, ESP32-S3 (QFN56) v0.2,
 * ESP32-C2 v1.0, ESP32-C3 (QFN32) v0.4, ESP32-C5 v1.0, ESP32-C6 (QFN40)
 * v0.2, ESP32-H2 v0.1, ESP32-P4 v3.1. The ESP8266 has no revision fields.
 * @module
 */

import { type ChipName, CHIPS } from "../chips/chips.ts";
import { EspdeltaError } from "../protocol/errors.ts";

/** A silicon revision, vMAJOR.MINOR. */
export interface Revision {
  /** Major (wafer) version. */
  major: number;
  /** Minor version. */
  minor: number;
}

/** A revision argument that is not vX.Y, or that the chip's eFuse fields cannot hold. */
export class RevisionError extends EspdeltaError {
  /** A message naming the value and what is accepted. */
  constructor(message: string) {
    super("BAD_REVISION", message);
  }
}

/** One eFuse (or register) field: `bits` wide at bit `shift` of the word at `addr`. */
interface Field {
  addr: number;
  shift: number;
  bits: number;
}

/** Where a chip keeps its revision and package, and what it reports beside them. */
interface IdentityLayout {
  /** Default part. */
  revision: Revision;
  pkg: number;
  /** Largest revision fields. */
  maxMajor: number;
  maxMinor: number;
  /** Writes the revision and package into eFuse words. */
  encode(r: Revision, pkg: number, set: (f: Field, v: number) => void): void;
  /** GET_SECURITY_INFO's seventh key purpose byte, as the ROM reports it. */
  keyPurpose6: number;
  /** GET_SECURITY_INFO's last word (ROM API / ECO version). */
  apiVersion(r: Revision): number;
}

const f = (addr: number, shift: number, bits: number): Field => ({ addr, shift, bits });

/**
 * The S3's and C3's layout (eFuse block 1 at `b1`): the major in word 5, the
 * minor split in two (its high bit in word 5, its low three bits in word 3),
 * the package in word 3, as esptool's targets read them.
 */
const splitMinorEncoder = (b1: number): IdentityLayout["encode"] => (r, pkg, set) => {
  set(f(b1 + 20, 24, 2), r.major);
  set(f(b1 + 20, 23, 1), r.minor >> 3);
  set(f(b1 + 12, 18, 3), r.minor & 7);
  set(f(b1 + 12, 21, 3), pkg);
};

/** ESP32 eFuse block 0 words 3 and 5, and APB_CTRL_DATE (esptool's ESP32ROM). */
const ESP32_WORD3 = 0x3ff5a00c;
const ESP32_WORD5 = 0x3ff5a014;
/** ESP32 APB_CTRL_DATE: 0x16042000, bit 31 set on revision 3 silicon. */
const ESP32_APB_CTRL_DATE = 0x3ff6607c;

/**
 * Layout of each chip: BLOCK1 (or the C2's BLOCK2) words as esptool
 * numbers them, `EFUSE_BLOCK1_ADDR + 4 * word`.
 */
const LAYOUTS: Readonly<Partial<Record<ChipName, IdentityLayout>>> = {
  esp32: {
    revision: { major: 3, minor: 1 },
    pkg: 1, // ESP32-D0WD(-V3)
    maxMajor: 3,
    maxMinor: 3,
    encode(r, pkg, set) {
      // Major version is three scattered bits read as a code: 0, 1, 3 or 7.
      set(f(ESP32_WORD3, 15, 1), r.major >= 1 ? 1 : 0);
      set(f(ESP32_WORD5, 20, 1), r.major >= 2 ? 1 : 0);
      set(f(ESP32_APB_CTRL_DATE, 31, 1), r.major >= 3 ? 1 : 0);
      set(f(ESP32_WORD5, 24, 2), r.minor);
      set(f(ESP32_WORD3, 9, 3), pkg & 7);
      set(f(ESP32_WORD3, 2, 1), pkg >> 3);
      // CHIP_CPU_FREQ_RATED: a 240 MHz part.
      set(f(ESP32_WORD3, 13, 1), 1);
    },
    keyPurpose6: 0,
    apiVersion: () => 0,
  },
  esp32s2: {
    revision: { major: 0, minor: 0 },
    pkg: 0,
    maxMajor: 3,
    maxMinor: 15,
    encode(r, pkg, set) {
      const b1 = 0x3f41a044;
      set(f(b1 + 12, 18, 2), r.major);
      set(f(b1 + 12, 20, 1), r.minor >> 3);
      set(f(b1 + 16, 4, 3), r.minor & 7);
      set(f(b1 + 16, 0, 4), pkg);
    },
    keyPurpose6: 0,
    apiVersion: () => 0,
  },
  esp32s3: {
    revision: { major: 0, minor: 2 },
    pkg: 0, // QFN56
    maxMajor: 3,
    maxMinor: 15,
    encode: splitMinorEncoder(0x60007044),
    keyPurpose6: 12,
    apiVersion: () => 0,
  },
  esp32c2: {
    revision: { major: 1, minor: 0 },
    pkg: 0,
    maxMajor: 3,
    maxMinor: 15,
    encode(r, pkg, set) {
      const b2 = 0x60008840; // shares word 1 with the MAC's top bytes
      set(f(b2 + 4, 20, 2), r.major);
      set(f(b2 + 4, 16, 4), r.minor);
      set(f(b2 + 4, 22, 3), pkg);
    },
    keyPurpose6: 0,
    apiVersion: () => 0,
  },
  esp32c3: {
    revision: { major: 0, minor: 4 },
    pkg: 0, // QFN32
    maxMajor: 3,
    maxMinor: 15,
    encode: splitMinorEncoder(0x60008844),
    keyPurpose6: 12,
    // v0.4 reports 3 (a real board's get-security-info); v1.x runs the ECO7
    // ROM (esp-stub-lib picks GetSecurityInfoProcEco7 for _rom_eco_version >= 7).
    apiVersion: (r) => (r.major >= 1 ? 7 : 3),
  },
  esp32c5: {
    revision: { major: 1, minor: 0 },
    pkg: 0,
    maxMajor: 3,
    maxMinor: 15,
    encode(r, pkg, set) {
      const b1 = 0x600b4844;
      set(f(b1 + 8, 4, 2), r.major);
      set(f(b1 + 8, 0, 4), r.minor);
      set(f(b1 + 8, 26, 3), pkg);
    },
    keyPurpose6: 19,
    // v1.0 (ECO2) reports 2; earlier revisions their ECO number.
    apiVersion: (r) => (r.major >= 1 ? 2 : r.minor),
  },
  esp32c6: {
    revision: { major: 0, minor: 2 },
    pkg: 0, // QFN40
    maxMajor: 3,
    maxMinor: 15,
    encode(r, pkg, set) {
      const b1 = 0x600b0844;
      set(f(b1 + 12, 22, 2), r.major);
      set(f(b1 + 12, 18, 4), r.minor);
      set(f(b1 + 12, 24, 3), pkg);
    },
    keyPurpose6: 12,
    apiVersion: () => 0,
  },
  esp32h2: {
    revision: { major: 0, minor: 1 },
    pkg: 0,
    maxMajor: 3,
    maxMinor: 7,
    encode(r, pkg, set) {
      const b1 = 0x600b0844;
      set(f(b1 + 12, 21, 2), r.major);
      set(f(b1 + 12, 18, 3), r.minor);
      set(f(b1 + 16, 0, 3), pkg);
    },
    keyPurpose6: 12,
    apiVersion: () => 0,
  },
  esp32p4: {
    revision: { major: 3, minor: 1 },
    pkg: 0,
    maxMajor: 7,
    maxMinor: 15,
    encode(r, pkg, set) {
      const w2 = 0x5012d044 + 8;
      set(f(w2, 4, 2), r.major & 3);
      set(f(w2, 23, 1), r.major >> 2);
      set(f(w2, 0, 4), r.minor);
      set(f(w2, 20, 3), pkg);
    },
    keyPurpose6: 0,
    apiVersion: () => 0,
  },
};

/** A chip's identity as the device presents it. */
export interface ChipIdentity {
  /** The silicon revision. */
  revision: Revision;
  /** Package version (esptool's pkg_version). */
  pkg: number;
  /** Register words carrying the revision and package, to OR into the register map. */
  words: ReadonlyMap<number, number>;
  /** GET_SECURITY_INFO's seventh key purpose byte. */
  keyPurpose6: number;
  /** GET_SECURITY_INFO's ROM API / ECO version word. */
  apiVersion: number;
}

/**
 * Parses "v3.1" or "3.1" into a revision.
 *
 * @example
 * ```ts
 * import { parseRevision } from "./identity.ts";
 * parseRevision("v0.4"); // { major: 0, minor: 4 }
 * ```
 */
export function parseRevision(text: string): Revision {
  const m = /^v?(\d{1,2})\.(\d{1,2})$/.exec(text.trim());
  if (!m) throw new RevisionError(`invalid revision '${text}': use vMAJOR.MINOR, e.g. v3.1`);
  return { major: Number(m[1]), minor: Number(m[2]) };
}

/** "v3.1". */
export function formatRevision(r: Revision): string {
  return `v${r.major}.${r.minor}`;
}

/** The default revision of `chip`, or undefined for the ESP8266 (it has none). */
export function defaultRevision(chip: ChipName): Revision | undefined {
  return LAYOUTS[chip]?.revision;
}

/**
 * The identity of a `chip` of `revision` (default: the part on sale), with
 * the eFuse words that carry it. Throws {@link RevisionError} for a
 * revision the chip's fields cannot hold, or any revision on the ESP8266.
 */
export function chipIdentity(chip: ChipName, revision?: Revision): ChipIdentity {
  const layout = LAYOUTS[chip];
  if (!layout) {
    if (revision) throw new RevisionError(`the ESP8266 has no silicon revision eFuses to set`);
    return {
      revision: { major: 0, minor: 0 },
      pkg: 0,
      words: new Map(),
      keyPurpose6: 0,
      apiVersion: 0,
    };
  }
  const r = revision ?? layout.revision;
  const ok = (n: number, max: number) => Number.isInteger(n) && n >= 0 && n <= max;
  if (!ok(r.major, layout.maxMajor) || !ok(r.minor, layout.maxMinor)) {
    const name = CHIPS[chip].displayName;
    const fields = `major 0-${layout.maxMajor}, minor 0-${layout.maxMinor}`;
    throw new RevisionError(`revision ${formatRevision(r)} does not fit the ${name}: ${fields}`);
  }
  const words = new Map<number, number>();
  layout.encode(r, layout.pkg, (field, v) => {
    const mask = ((1 << field.bits) - 1) << field.shift;
    const old = words.get(field.addr) ?? 0;
    words.set(field.addr, ((old & ~mask) | ((v << field.shift) & mask)) >>> 0);
  });
  return {
    revision: r,
    pkg: layout.pkg,
    words,
    keyPurpose6: layout.keyPurpose6,
    apiVersion: layout.apiVersion(r),
  };
}

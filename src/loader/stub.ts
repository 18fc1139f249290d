/**
 * Flasher stub images in esptool's JSON format: entry point, and base64
 * text and data segments with their load addresses.
 * @module
 */

import { type ChipInfo, CHIPS, type RamRange } from "../chips/chips.ts";
import { hex } from "../protocol/bytes.ts";
import { EspdeltaError } from "../protocol/errors.ts";

/** A RAM program to upload and start. */
export interface StubImage {
  /** Entry point. */
  entry: number;
  /** Code segment. */
  text: Uint8Array;
  /** Load address of `text`. */
  textStart: number;
  /** Data segment (may be empty). */
  data: Uint8Array;
  /** Load address of `data`. */
  dataStart: number;
  /** Where it came from (a file, the cache, esptool-js), for messages. */
  source?: string;
}

function b64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * Parses esptool's stub JSON (`entry`, `text`, `text_start`, `data`,
 * `data_start`). Throws an EspdeltaError with code BAD_STUB when a field is
 * missing or not of the right type.
 */
export function parseStubJson(json: unknown, source = "stub JSON"): StubImage {
  const o = json as Record<string, unknown>;
  const num = (k: string) => {
    if (typeof o?.[k] !== "number") {
      throw new EspdeltaError("BAD_STUB", `${source}: field '${k}' must be a number`);
    }
    return o[k] as number;
  };
  const str = (k: string, optional = false) => {
    if (optional && o?.[k] === undefined) return "";
    if (typeof o?.[k] !== "string") {
      throw new EspdeltaError("BAD_STUB", `${source}: field '${k}' must be a base64 string`);
    }
    return o[k] as string;
  };
  try {
    return {
      entry: num("entry"),
      text: b64(str("text")),
      textStart: num("text_start"),
      data: b64(str("data", true)),
      dataStart: o.data === undefined ? 0 : num("data_start"),
      source,
    };
  } catch (e) {
    if (e instanceof EspdeltaError) throw e;
    throw new EspdeltaError("BAD_STUB", `${source}: invalid base64 in text or data`);
  }
}

/** The segments of a stub that hold bytes: name, first address, first address past the end. */
function segments(stub: StubImage): [string, number, number][] {
  const out: [string, number, number][] = [];
  if (stub.text.length > 0) out.push(["text", stub.textStart, stub.textStart + stub.text.length]);
  if (stub.data.length > 0) out.push(["data", stub.dataStart, stub.dataStart + stub.data.length]);
  return out;
}

const inside = (ram: readonly RamRange[], start: number, end: number) =>
  ram.some((r) => start >= r.start && end <= r.end);

/** Whether every segment of `stub` lies inside one of `chip`'s RAM ranges, its entry in its text. */
function fits(stub: StubImage, chip: ChipInfo): boolean {
  const text = [stub.textStart, stub.textStart + stub.text.length];
  return segments(stub).every(([, a, b]) => inside(chip.ram, a, b)) &&
    stub.entry >= text[0] && stub.entry < text[1];
}

/**
 * Refuses a RAM program that cannot run on `chip` before any of it is sent:
 * a segment outside the chip's RAM (the chip table's `ram`, from esptool's
 * memory maps), or an entry point outside its code. A stub built for
 * another chip is the usual cause, and the message names the chips it
 * would fit. Throws an EspdeltaError with code BAD_STUB.
 *
 * @example
 * ```ts
 * import { throws } from "node:assert";
 * import { CHIPS } from "../chips/chips.ts";
 * import { checkStubFits } from "./stub.ts";
 * const c3 = { entry: 0x40380e9a, text: new Uint8Array(0x16f8), textStart: 0x40380000,
 *   data: new Uint8Array(0xcc), dataStart: 0x3fc96d68, source: "esp32c3.json" };
 * checkStubFits(c3, CHIPS.esp32c3);
 * throws(() => checkStubFits(c3, CHIPS.esp32), {
 *   code: "BAD_STUB",
 *   message: "stub esp32c3.json cannot run on the ESP32: its text segment " +
 *     "(0x40380000-0x403816f8) is outside the chip's RAM; it fits the ESP32-S3 and the " +
 *     "ESP32-C3: give the ESP32's stub, or leave --stub out",
 * });
 * ```
 */
export function checkStubFits(stub: StubImage, chip: ChipInfo): void {
  if (fits(stub, chip)) return;
  const name = stub.source ? `stub ${stub.source}` : "the stub";
  const outside = segments(stub).find(([, a, b]) => !inside(chip.ram, a, b));
  const why = outside
    ? `its ${outside[0]} segment (${hex(outside[1])}-${hex(outside[2])}) is outside the chip's RAM`
    : `its entry point ${hex(stub.entry)} is outside its code ` +
      `(${hex(stub.textStart)}-${hex(stub.textStart + stub.text.length)})`;
  const others = Object.values(CHIPS).filter((c) => c !== chip && fits(stub, c))
    .map((c) => `the ${c.displayName}`);
  const fitsOthers = others.length === 0
    ? ""
    : `; it fits ${others.slice(0, -1).join(", ")}${others.length > 1 ? " and " : ""}${
      others.at(-1)
    }`;
  throw new EspdeltaError(
    "BAD_STUB",
    `${name} cannot run on the ${chip.displayName}: ${why}${fitsOthers}: give the ` +
      `${chip.displayName}'s stub, or leave --stub out`,
  );
}

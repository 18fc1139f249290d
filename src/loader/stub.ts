/**
 * Flasher stub images in esptool's JSON format: entry point, and base64
 * text and data segments with their load addresses.
 * @module
 */

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
    };
  } catch (e) {
    if (e instanceof EspdeltaError) throw e;
    throw new EspdeltaError("BAD_STUB", `${source}: invalid base64 in text or data`);
  }
}

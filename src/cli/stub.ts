/**
 * The stub option of the CLI: `--stub FILE`, else the lookup of
 * src/loader/stubs.ts, else (`--no-stub`) the ROM loader.
 * @module
 */

import type { ChipInfo } from "../chips/chips.ts";
import { EspdeltaError } from "../protocol/errors.ts";
import { parseStubJson, type StubImage } from "../loader/stub.ts";
import { findStub } from "../loader/stubs.ts";
import type { GlobalOptions } from "./options.ts";
import type { Output } from "./output.ts";

/** The stub option for connect(): a file, the lookup, or none. */
export async function loadStub(
  g: GlobalOptions,
  out: Output,
): Promise<StubImage | ((chip: ChipInfo, revision?: number) => Promise<StubImage | undefined>)> {
  if (typeof g.stub === "string") {
    let text: string;
    try {
      text = await Deno.readTextFile(g.stub);
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound
        ? "no such file; check the path"
        : e instanceof Deno.errors.IsADirectory
        ? "it is a folder; give the stub's JSON file"
        : (e as Error).message.replace(/ \(os error \d+\).*$/, "");
      throw new EspdeltaError("FILE_NOT_FOUND", `cannot read stub ${g.stub}: ${why}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new EspdeltaError("BAD_STUB", `${g.stub} is not valid JSON`);
    }
    return parseStubJson(json, g.stub);
  }
  return (chip: ChipInfo, revision?: number) =>
    findStub(chip.name, { trace: (l) => out.trace(l), warn: (l) => out.warn(l) }, revision);
}

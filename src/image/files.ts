/**
 * Reading the files a user names: one-line errors that name the file and say
 * what to do, and `ADDR FILE` pairs read into regions named after their
 * files. A `.csv` is a partition table in ESP-IDF's CSV form, checked with
 * gen_esp32part's rules and turned into the binary table; an Intel HEX file
 * (the output of `merge-bin --format hex`) is placed where its records say,
 * as esptool places it.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { regionsFromFiles } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/partitions.csv`, "nvs, data, nvs, 0x9000, 0x6000\n");
 * const [table] = await regionsFromFiles([{ offset: 0x8000, file: `${dir}/partitions.csv` }]);
 * deepStrictEqual([table.name, table.data.length, table.data[0]], ["partitions.csv", 0xc00, 0xaa]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */

import { InputError, PartitionError } from "./errors.ts";
import { parsePartitionCsv, writePartitionTable } from "./partitions.ts";
import { type HexChunk, parseIntelHex } from "./ihex.ts";

export type { HexChunk } from "./ihex.ts";
import type { Region } from "./region.ts";

/** A file to place at a flash offset, as `ADDR FILE` on the command line. */
export interface FilePair {
  /** Flash offset. */
  offset: number;
  /** Path of the file. */
  file: string;
}

/** Reads a file the user named; throws {@link InputError} saying which file and why. */
export async function readInputFile(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new InputError(
        "FILE_NOT_FOUND",
        `cannot read ${path}: no such file; check the path (or build the project first)`,
      );
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new InputError(
        "FILE_UNREADABLE",
        `cannot read ${path}: permission denied; check the file's permissions`,
      );
    }
    if (e instanceof Deno.errors.IsADirectory) {
      throw new InputError(
        "FILE_UNREADABLE",
        `cannot read ${path}: it is a directory; give an image file, or the folder alone as a ` +
          "build folder",
      );
    }
    throw new InputError("FILE_UNREADABLE", `cannot read ${path}: ${(e as Error).message}`);
  }
}

/**
 * Regions from `ADDR FILE` pairs, in the order given, each named after its
 * file (`app.bin` -> `app`) and read once. A `.csv` file becomes the binary
 * partition table it describes, so `0x8000 partitions.csv` works without
 * running the generator first. No other checks: inputs.ts makes those.
 */
export async function regionsFromFiles(pairs: readonly FilePair[]): Promise<Region[]> {
  const out: Region[] = [];
  for (const { offset, file } of pairs) {
    let data = await readInputFile(file);
    const base = file.split(/[\\/]/).pop()!.replace(/\.(bin|hex)$/i, "");
    const hex = intelHexChunks(data, file);
    if (hex) {
      // esptool reads an Intel HEX file where its records say, whatever address it was given.
      hex.forEach((c, i) =>
        out.push({ name: i === 0 ? base : `${base}+${i}`, offset: c.address, data: c.data, file })
      );
      continue;
    }
    if (/\.csv$/i.test(file)) data = partitionCsv(file, data, offset);
    out.push({ name: base, offset, data, file });
  }
  return out;
}

/**
 * The runs of an Intel HEX file, as esptool splits one (`intel_hex_to_bin`):
 * a file that starts with `:` and parses as Intel HEX. Anything else (a
 * binary that happens to start with `:`, too) is undefined: raw bytes.
 */
export function intelHexChunks(bytes: Uint8Array, name?: string): HexChunk[] | undefined {
  if (bytes[0] !== 0x3a) return undefined;
  try {
    return parseIntelHex(new TextDecoder("utf-8", { fatal: true }).decode(bytes), name);
  } catch {
    return undefined;
  }
}

/** The binary table of a partitions CSV flashed at `offset`. */
function partitionCsv(file: string, bytes: Uint8Array, offset: number): Uint8Array {
  try {
    return writePartitionTable(parsePartitionCsv(new TextDecoder().decode(bytes), { offset }));
  } catch (e) {
    if (!(e instanceof PartitionError)) throw e;
    throw new PartitionError(e.code, `${file}: ${e.message}; fix the CSV`);
  }
}

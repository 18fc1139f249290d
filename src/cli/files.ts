/**
 * Reading the user's files into regions, with one-line errors that name the
 * file and say what to do.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";
import type { Region } from "../image/region.ts";
import { parsePartitionCsv, writePartitionTable } from "../image/partitions.ts";
import { PartitionError } from "../image/errors.ts";

/** Reads a file the user named; errors say which file and why. */
export async function readUserFile(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new EspdeltaError(
        "FILE_NOT_FOUND",
        `cannot read ${path}: no such file; check the path (or build the project first)`,
      );
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new EspdeltaError(
        "FILE_UNREADABLE",
        `cannot read ${path}: permission denied; check the file's permissions`,
      );
    }
    if (e instanceof Deno.errors.IsADirectory) {
      throw new EspdeltaError(
        "FILE_UNREADABLE",
        `cannot read ${path}: it is a directory; give an image file, or the folder alone as a ` +
          "build folder",
      );
    }
    throw new EspdeltaError("FILE_UNREADABLE", `cannot read ${path}: ${(e as Error).message}`);
  }
}

/**
 * Regions from `ADDR FILE` pairs, named after the files. A `.csv` file is a
 * partition table in ESP-IDF's CSV form: it is checked with gen_esp32part's
 * rules and flashed as the binary table, so `0x8000 partitions.csv` works
 * without running the generator first.
 */
export async function regionsFromPairs(
  pairs: { offset: number; file: string }[],
): Promise<Region[]> {
  const out: Region[] = [];
  for (const { offset, file } of pairs) {
    let data = await readUserFile(file);
    if (/\.csv$/i.test(file)) data = partitionCsv(file, data, offset);
    const base = file.split(/[\\/]/).pop()!.replace(/\.bin$/i, "");
    out.push({ name: base, offset, data, file });
  }
  return out;
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

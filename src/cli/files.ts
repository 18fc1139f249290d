/**
 * Reading the user's files into regions, with one-line errors that name the
 * file and say what to do.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";
import type { FlashRegion } from "../plan/types.ts";

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

/** Regions from `ADDR FILE` pairs, named after the files. */
export async function regionsFromPairs(
  pairs: { offset: number; file: string }[],
): Promise<FlashRegion[]> {
  const out: FlashRegion[] = [];
  for (const { offset, file } of pairs) {
    const data = await readUserFile(file);
    const base = file.split(/[\\/]/).pop()!.replace(/\.bin$/i, "");
    out.push({ name: base, offset, data, file });
  }
  return out;
}

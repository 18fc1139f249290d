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
 * Checks that `path` can be written before any work that would be lost if it
 * could not (a 16 MB read-flash at 115200 baud takes 25 minutes): its folder
 * exists and takes new files, or the file exists and opens for writing (it
 * is not truncated here). Throws {@link InputError} `OUTPUT_UNWRITABLE`
 * saying which and what to do.
 *
 * @example
 * ```ts
 * import { rejects } from "node:assert";
 * import { checkOutputPath } from "./files.ts";
 * await checkOutputPath(`${await Deno.makeTempDir()}/backup.bin`); // fine
 * await rejects(checkOutputPath("/missing/dir/x.bin"), {
 *   code: "OUTPUT_UNWRITABLE",
 *   message: "cannot write /missing/dir/x.bin: folder /missing/dir does not exist; create it " +
 *     "or pick another path",
 * });
 * ```
 */
export async function checkOutputPath(path: string): Promise<void> {
  const fail = (why: string) => new InputError("OUTPUT_UNWRITABLE", `cannot write ${path}: ${why}`);
  const reason = (e: unknown) =>
    e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (e as Error).message.replace(/ \(os error \d+\).*$/, "").toLowerCase();
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw fail(reason(e));
  }
  if (info?.isDirectory) throw fail("it is a folder; give a file name in it");
  if (info) {
    try {
      (await Deno.open(path, { write: true })).close();
    } catch (e) {
      throw fail(`${reason(e)}; pick another path`);
    }
    return;
  }
  const cut = path.replace(/[\\/]+$/, "").search(/[\\/][^\\/]*$/);
  const dir = cut < 0 ? "." : cut === 0 ? path[0] : path.slice(0, cut);
  let folder: Deno.FileInfo;
  try {
    folder = await Deno.stat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw fail(`folder ${dir} does not exist; create it or pick another path`);
    }
    throw fail(`${reason(e)}; pick another path`);
  }
  if (!folder.isDirectory) throw fail(`${dir} is not a folder; pick another path`);
  try {
    await Deno.remove(await Deno.makeTempFile({ dir, prefix: ".espdelta-" }));
  } catch (e) {
    throw fail(`${reason(e)} in folder ${dir}; pick another path`);
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

/**
 * The whole way from what a user gives (a build folder, or `ADDR FILE`
 * pairs, partition CSVs among them) to validated, named regions, in two
 * steps around connecting:
 *
 * 1. {@link loadInputs}, before any port is opened: reads each file once,
 *    names the regions after the partition table, and makes every check that
 *    needs no device (readable, aligned, not empty, no overlap, each image
 *    parses with a good checksum and SHA-256, each partition table follows
 *    ESP-IDF's rules). A bad input fails here and the board is never reset.
 * 2. {@link regionsForChip}, once the chip is known: the inputs must be for
 *    it, and the bootloader header gets the flash settings asked for, as
 *    esptool does. Many boards share one loaded input, each with its chip.
 *
 * {@link regionsFromInputs} does both, and checks the flash bounds, for
 * callers that know the chip up front.
 *
 * @example
 * ```ts
 * import { deepStrictEqual, rejects } from "node:assert";
 * import { regionsFromInputs } from "./inputs.ts";
 * import { writeImage } from "./app.ts";
 * const dir = await Deno.makeTempDir();
 * const app = writeImage({ chip: "esp32", segments: [{ loadAddress: 0x3f400020, data: new Uint8Array(64) }] });
 * await Deno.writeFile(`${dir}/app.bin`, app);
 * await Deno.writeTextFile(`${dir}/partitions.csv`, "factory, app, factory, 0x10000, 1M\n");
 * const regions = await regionsFromInputs(
 *   [{ offset: 0x10000, file: `${dir}/app.bin` }, { offset: 0x8000, file: `${dir}/partitions.csv` }],
 *   { chip: "esp32", flashSize: 4 << 20 },
 * );
 * deepStrictEqual(regions.map((r) => [r.name, r.offset, r.kind]), [
 *   ["partition-table", 0x8000, "partition-table"],
 *   ["factory", 0x10000, "app"],
 * ]);
 * // The same app on an ESP32-S3: one line saying so.
 * await rejects(
 *   regionsFromInputs([{ offset: 0x10000, file: `${dir}/app.bin` }], { chip: "esp32s3" }),
 *   { code: "WRONG_CHIP", message: "app at 0x10000: image is built for ESP32, but the device is ESP32-S3; rebuild for ESP32-S3 or pick the right file" },
 * );
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */

import { type ChipName, CHIPS, formatChipRevision } from "../chips/chips.ts";
import { hex } from "../protocol/bytes.ts";
import { type AppImage, type ImageReading, readImage } from "./app.ts";
import {
  type BuildDirOptions,
  type BuildOutput,
  checkBuildChip,
  regionsFromBuildDir,
} from "./build_dir.ts";
import { ImageError, PartitionError, RegionError } from "./errors.ts";
import { type FilePair, regionsFromFiles } from "./files.ts";
import { type FlashParams, patchFlashParams } from "./patch.ts";
import {
  parsePartitionTable,
  partitionAt,
  type PartitionEntry,
  verifyPartitions,
} from "./partitions.ts";
import { holdsImage, nameRegions, type Region, validateRegions } from "./region.ts";

/** What a user gives: a build folder's path, or files at offsets. */
export type Inputs = string | readonly FilePair[];

/** Options of {@link loadInputs}. */
export interface LoadOptions extends BuildDirOptions {
  /** The chip, when known before connecting: a build folder must be for it. */
  chip?: ChipName;
  /**
   * Flash settings for the bootloader header (esptool's `--flash-mode`,
   * `--flash-freq`, `--flash-size`); those not given come from the build
   * folder (ESP-IDF's flasher_args.json), else `keep`.
   */
  flash?: FlashParams;
}

/** Inputs read and checked without a device. */
export interface LoadedInputs {
  /** Named regions sorted by offset, each file read once. */
  regions: Region[];
  /** The flash settings to apply, every one set (`keep` where nothing asks). */
  flash: Required<FlashParams>;
  /** The build folder, when the inputs were one. */
  build?: BuildOutput;
  /** How each region that holds an image read (see `readImage`). */
  images: ReadonlyMap<Region, ImageReading>;
}

/**
 * Reads the inputs and makes every check that needs no device (see the
 * module doc). Throws a one-line error naming the file or region and the
 * fix: `InputError` (unreadable file), `BuildDirError`, {@link PartitionError},
 * {@link RegionError} or {@link ImageError}.
 */
export async function loadInputs(inputs: Inputs, options: LoadOptions = {}): Promise<LoadedInputs> {
  // Each image is parsed once: the build folder reads its bootloader and app
  // for their chip, and the checks below reuse those readings.
  const readings = new Map<Uint8Array, ImageReading>();
  const readOnce = options.readImage ?? readImage;
  const read = (bytes: Uint8Array) => {
    let reading = readings.get(bytes);
    if (!reading) readings.set(bytes, reading = readOnce(bytes));
    return reading;
  };
  let build: BuildOutput | undefined;
  let regions: Region[];
  if (typeof inputs === "string") {
    build = await regionsFromBuildDir(inputs, options.chip, { ...options, readImage: read });
    regions = validateRegions(build.regions);
  } else {
    regions = validateRegions(nameRegions(await regionsFromFiles(inputs)));
  }
  const images = new Map<Region, ImageReading>();
  let table: PartitionEntry[] | undefined;
  for (const r of regions) {
    if (holdsImage(r) && r.data.length > 0) images.set(r, checkImage(r, read));
    if (r.kind === "partition-table") table = checkTable(r);
  }
  if (table) checkPartitionFit(regions, table);
  const asked = options.flash ?? {};
  const fromBuild = build?.flash ?? {};
  const flash = {
    mode: asked.mode ?? fromBuild.mode ?? "keep",
    freq: asked.freq ?? fromBuild.freq ?? "keep",
    size: asked.size ?? fromBuild.size ?? "keep",
  };
  return { regions, flash, ...(build ? { build } : {}), images };
}

const where = (r: Region) => `${r.name} at ${hex(r.offset)}${r.file ? ` (${r.file})` : ""}`;

/**
 * Refuses an app or bootloader image that is truncated or corrupted (its
 * checksum or SHA-256 is wrong): flashing it would leave a board that does
 * not boot. An image for another chip is left to the chip checks, which
 * name both chips.
 */
function checkImage(r: Region, read: (bytes: Uint8Array) => ImageReading): ImageReading {
  let reading: ImageReading | undefined;
  let error: ImageError | undefined;
  try {
    reading = read(r.data);
    error = reading.error;
  } catch (e) {
    // Not an image at all (no magic byte): read() says so by throwing.
    if (!(e instanceof ImageError)) throw e;
    error = e;
  }
  if (error && error.code !== "WRONG_CHIP") {
    throw new ImageError(
      error.code,
      `${where(r)}: ${error.message}; rebuild it or pick the right file`,
    );
  }
  return reading!;
}

/**
 * Refuses a partition table that does not parse (magic, MD5, entries) or
 * breaks gen_esp32part's rules (alignment, overlaps, names, sizes): a binary
 * table gets the checks a CSV gets. Returns its entries.
 */
function checkTable(r: Region): PartitionEntry[] {
  try {
    const { entries } = parsePartitionTable(r.data);
    verifyPartitions(entries, { offset: r.offset });
    return entries;
  } catch (e) {
    if (!(e instanceof PartitionError)) throw e;
    throw new PartitionError(
      e.code,
      `${where(r)}: not a valid partition table (${e.message}); rebuild it`,
    );
  }
}

const kib = (n: number) =>
  n % 0x100000 === 0 ? `${n / 0x100000} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`;
const span = (p: PartitionEntry) => `${p.name} (${kib(p.size)} at ${hex(p.offset)})`;

/**
 * Refuses a region that does not fit the partition it starts in (it would
 * overwrite the next partition, or run past the last), or that starts
 * outside every partition and runs into one, naming both partitions. A
 * merged image at offset 0 spans the table by design and is left alone.
 */
export function checkPartitionFit(
  regions: readonly Region[],
  entries: readonly PartitionEntry[],
): void {
  const sorted = [...entries].sort((a, b) => a.offset - b.offset);
  for (const r of regions) {
    if (r.kind === "partition-table" || (r.kind === "other" && r.offset === 0)) continue;
    const end = r.offset + r.data.length;
    const home = partitionAt(sorted, r.offset);
    const limit = home ? home.offset + home.size : r.offset;
    const next = sorted.find((p) => p.offset >= limit && p.offset < end && p !== home);
    if (home && end <= limit) continue;
    if (!home && !next) continue;
    const what = `${where(r)}: ${kib(r.data.length)}`;
    const fix = home
      ? `; check the offset, or give ${home.name} more room in the partition table`
      : "; check the offset";
    const into = next
      ? `it would overwrite partition ${span(next)}`
      : `it would run ${kib(end - limit)} past its end, outside every partition`;
    throw new RegionError(
      "PARTITION_OVERFLOW",
      home
        ? `${what} does not fit partition ${span(home)}: ${into}${fix}`
        : `${what} starts outside every partition and runs into ${span(next!)}${fix}`,
    );
  }
}

/**
 * Throws when the inputs are not for `chip`: a build folder for another chip
 * (`BuildDirError` `WRONG_CHIP`, in the words reading it for `chip`
 * would have used), or an image of the other family (an ESP8266 image for an
 * ESP32-family chip or the reverse: {@link RegionError} `WRONG_CHIP`). The
 * chip ids of ESP32-family images are checked with the flash bounds by
 * `validateRegions`.
 */
export function checkInputsChip(loaded: LoadedInputs, chip: ChipName): void {
  if (loaded.build) checkBuildChip(loaded.build, chip);
  const device = CHIPS[chip];
  for (const r of loaded.regions) {
    const target = loaded.images.get(r)?.target;
    if (!target || (target.name === "esp8266") === (chip === "esp8266")) continue;
    throw new RegionError(
      "WRONG_CHIP",
      `${r.name} at ${hex(r.offset)}: image is built for ${target.displayName}, but the device ` +
        `is ${device.displayName}; rebuild for ${device.displayName} or pick the right file`,
    );
  }
}

/**
 * The chip revisions an image's extended header accepts, as esptool's
 * write-flash reads it: `min_chip_rev_full`/`max_chip_rev_full` (major *
 * 100 + minor; 65535: no maximum) where the header sets them, else the
 * legacy `min_rev` byte (the minor version on the ESP32-C3, the major
 * elsewhere). Undefined for an image without an extended header.
 */
export function imageRevisionRange(
  image: AppImage,
  chip: ChipName,
): { min: number; max: number } | undefined {
  const x = image.extended;
  if (!x) return undefined;
  // esptool: max_rev_full 0 means the fields predate the header; 65535 with
  // min_rev_full 0 and a legacy min_rev set means only the legacy byte is.
  const full = x.maxRevFull !== 0 && !(x.maxRevFull === 0xffff && x.minRevFull === 0 && x.minRev);
  if (full) return { min: x.minRevFull, max: x.maxRevFull };
  return { min: chip === "esp32c3" ? x.minRev : x.minRev * 100, max: 0xffff };
}

/**
 * Refuses an image (an app, a bootloader) whose chip revision range (see
 * {@link imageRevisionRange}) excludes the connected chip's `revision`
 * (major * 100 + minor): ESP-IDF builds for a minimum revision, and code for
 * a later revision may not run on an earlier one. Throws {@link ImageError}
 * `WRONG_REVISION`; esptool's `--force` skips this check.
 */
export function checkChipRevision(loaded: LoadedInputs, chip: ChipName, revision: number): void {
  const name = CHIPS[chip].displayName;
  for (const [r, reading] of loaded.images) {
    const range = reading.image ? imageRevisionRange(reading.image, chip) : undefined;
    if (!range || (revision >= range.min && revision <= range.max)) continue;
    const wanted = range.max === 0xffff
      ? `${formatChipRevision(range.min)} or later`
      : `${formatChipRevision(range.min)} to ${formatChipRevision(range.max)}`;
    throw new ImageError(
      "WRONG_REVISION",
      `${where(r)}: built for ${name} revision ${wanted}, but this chip is ` +
        `${formatChipRevision(revision)}; rebuild it for this revision, or pass --force to ` +
        "write it anyway",
    );
  }
}

/** Options of {@link regionsForChip}. */
export interface ChipOptions {
  /** The device's flash size in bytes (detected, or assumed): serves a flash size of `detect`. */
  flashSize?: number;
  /**
   * The chip's silicon revision (major * 100 + minor), when known: images
   * must accept it ({@link checkChipRevision}).
   */
  revision?: number;
  /** Skip the revision check, as esptool's `--force` does. */
  force?: boolean;
}

/** Regions for one chip, and what was done to them. */
export interface ChipRegions {
  /** The regions to write, sorted by offset; a patched bootloader is a new array. */
  regions: Region[];
  /** One line per region whose header was patched, worded as esptool's notes. */
  notes: string[];
}

/**
 * The loaded inputs for `chip`: checks them with {@link checkInputsChip}
 * (and, given the chip's revision, {@link checkChipRevision}), then writes the flash settings into the bootloader header exactly when
 * esptool does (`patchFlashParams`). Throws {@link ImageError}
 * `BAD_ARGUMENT` for a setting the chip does not support.
 */
export function regionsForChip(
  loaded: LoadedInputs,
  chip: ChipName,
  options: ChipOptions = {},
): ChipRegions {
  checkInputsChip(loaded, chip);
  if (options.revision !== undefined && !options.force) {
    checkChipRevision(loaded, chip, options.revision);
  }
  const notes: string[] = [];
  const regions = loaded.regions.map((r) => {
    const p = patchFlashParams(r.data, r.offset, chip, loaded.flash, {
      detectedFlashSize: options.flashSize,
      image: loaded.images.get(r)?.image,
    });
    if (!p.changed) return r;
    notes.push(`${r.name}: ${p.message}`);
    return { ...r, data: p.bytes };
  });
  return { regions, notes };
}

/** Options of {@link regionsFromInputs}. */
export interface InputOptions extends LoadOptions {
  /** The device's flash size: regions must fit, and it serves a flash size of `detect`. */
  flashSize?: number;
}

/**
 * What a user gives to validated, named regions, as the CLI's `flash` and
 * `write-flash` make them: {@link loadInputs}, then, with a chip,
 * {@link regionsForChip} and the chip and flash-size checks of
 * `validateRegions`. Throws a one-line error (see {@link loadInputs}).
 */
export async function regionsFromInputs(
  inputs: Inputs,
  options: InputOptions = {},
): Promise<Region[]> {
  const loaded = await loadInputs(inputs, options);
  if (options.chip === undefined) {
    return validateRegions(loaded.regions, undefined, options.flashSize);
  }
  const { regions } = regionsForChip(loaded, options.chip, { flashSize: options.flashSize });
  return validateRegions(regions, CHIPS[options.chip], options.flashSize);
}

/**
 * Flash regions from build folders, named after the partitions they land in.
 *
 * Three layouts are understood:
 * - ESP-IDF: `build/flasher_args.json` (its `flash_files` map, `flash_settings`
 *   and `extra_esptool_args.chip`), given the project or the build folder.
 * - PlatformIO: `.pio/build/<env>/` with `firmware.bin` at the app offset read
 *   from `partitions.bin`, `bootloader.bin` at the chip's bootloader offset,
 *   `partitions.bin` at 0x8000 and Arduino's `boot_app0.bin` at the otadata
 *   partition (0xE000 in every Arduino table) when the folder has one.
 * - Arduino CLI output: `<sketch>.ino.bin`, `.ino.bootloader.bin`,
 *   `.ino.partitions.bin`, or `.ino.merged.bin` at 0x0.
 * ESP8266 builds are a single image at 0x0.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { regionsFromBuildDir } from "./build_dir.ts";
 * import { writeImage } from "./app.ts";
 * // A PlatformIO environment folder holding only the app.
 * const dir = await Deno.makeTempDir();
 * const app = writeImage({ chip: "esp32c3", segments: [{ loadAddress: 0x3c000020, data: new Uint8Array(64) }] });
 * await Deno.writeFile(`${dir}/firmware.bin`, app);
 * const build = await regionsFromBuildDir(dir);
 * deepStrictEqual(
 *   [build.layout, build.chip, build.regions.map((r) => [r.name, r.offset])],
 *   ["platformio", "esp32c3", [["app", 0x10000]]],
 * );
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */

import { join } from "node:path";
import { type ChipName, CHIPS, normalizeChipName } from "../chips/chips.ts";
import { hasImageMagic, IMAGE_MAGIC, type ImageReading, readImage } from "./app.ts";
import { BuildDirError } from "./errors.ts";
import type { FlashParams } from "./patch.ts";
import {
  firstAppPartition,
  PARTITION_TABLE_OFFSET,
  type PartitionEntry,
  tableEntries,
} from "./partitions.ts";
import { nameRegions, type Region, type RegionKind } from "./region.ts";

/** A build folder resolved to regions. */
export interface BuildOutput {
  /** Which tool made the folder. */
  layout: "esp-idf" | "platformio" | "arduino";
  /** Folder the files were read from (the build folder, env folder or output folder). */
  dir: string;
  /** The chip the build is for. */
  chip: ChipName;
  /** Regions sorted by offset and named after their partitions. */
  regions: Region[];
  /** Flash settings from flasher_args.json; empty for the other layouts. */
  flash: FlashParams;
  /** The partition table of the build, when it has one. */
  table?: PartitionEntry[];
  /** The PlatformIO environment or Arduino sketch that was picked. */
  target?: string;
  /**
   * The file that told the chip: flasher_args.json naming it, or an image
   * built for it. Absent when the chip was given and no file names one.
   */
  chipFrom?: { file: string; by: "flasher-args" | "image" };
}

/** Options of {@link regionsFromBuildDir}. */
export interface BuildDirOptions {
  /** PlatformIO environment to use when there are several. */
  env?: string;
  /** Arduino sketch to use when the folder holds several. */
  sketch?: string;
  /** Arduino: flash `<sketch>.ino.merged.bin` at 0x0 instead of the separate files. */
  merged?: boolean;
  /**
   * Reads an image to learn its chip; default {@link readImage}. A caller
   * that checks the images afterwards passes a memoizing one, so that each
   * image is parsed once.
   */
  readImage?: (bytes: Uint8Array) => ImageReading;
}

/** What the layouts share while resolving one folder. */
interface Ctx {
  /** The chip asked for, if any. */
  chip: ChipName | undefined;
  /** The options. */
  options: BuildDirOptions;
  /** Reads an image. */
  read: (bytes: Uint8Array) => ImageReading;
}

async function exists(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw e;
  }
}

async function readFile(path: string, namedBy?: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new BuildDirError(
        "NOT_FOUND",
        namedBy ? `${namedBy} names ${path}, which does not exist` : `${path} does not exist`,
      );
    }
    throw e;
  }
}

async function listDir(dir: string): Promise<Deno.DirEntry[]> {
  const out: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e);
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Where the chip was learnt from, and the chip. */
interface ResolvedChip {
  /** The chip. */
  chip: ChipName;
  /** The file that told it, see {@link BuildOutput.chipFrom}. */
  from?: BuildOutput["chipFrom"];
}

function wrongChip(
  from: NonNullable<BuildOutput["chipFrom"]>,
  found: ChipName,
  wanted: ChipName,
): BuildDirError {
  const says = from.by === "image" ? "is built for" : "is for";
  return new BuildDirError(
    "WRONG_CHIP",
    `${from.file} ${says} ${CHIPS[found].displayName}, not ${CHIPS[wanted].displayName}`,
  );
}

/**
 * Works out the chip from the images (bootloader first, then the app) and
 * checks it against `wanted`. Throws `WRONG_CHIP` or `NO_CHIP`.
 */
function resolveChip(
  ctx: Ctx,
  wanted: ChipName | undefined,
  images: { file: string; data?: Uint8Array }[],
): ResolvedChip {
  for (const img of images) {
    if (!img.data || img.data.length < 8 || !hasImageMagic(img.data)) continue;
    const target = ctx.read(img.data).target;
    const found = normalizeChipName(target.name);
    if (!found) {
      throw new BuildDirError(
        "NO_CHIP",
        `${img.file} is built for ${target.displayName}, which espdelta does not support`,
      );
    }
    const from = { file: img.file, by: "image" } as const;
    if (wanted && found !== wanted) throw wrongChip(from, found, wanted);
    return { chip: found, from };
  }
  if (wanted) return { chip: wanted };
  throw new BuildDirError(
    "NO_CHIP",
    `cannot tell the chip from ${images.map((i) => i.file).join(", ")}; give the chip`,
  );
}

/**
 * Throws {@link BuildDirError} `WRONG_CHIP` when `build` is not for `chip`,
 * with the words {@link regionsFromBuildDir} would have used had it been
 * given `chip`: for a folder read before the chip was known.
 */
export function checkBuildChip(build: BuildOutput, chip: ChipName): void {
  if (build.chip === chip) return;
  throw wrongChip(build.chipFrom ?? { file: build.dir, by: "flasher-args" }, build.chip, chip);
}

/**
 * Resolves a build folder to flash regions for `chip` (detected from the
 * images when not given). Accepts an ESP-IDF project or its `build` folder,
 * a PlatformIO project or one of its `.pio/build/<env>` folders, or an
 * Arduino CLI output folder. Throws {@link BuildDirError} with a one-line
 * message naming the folder or file at fault.
 */
export async function regionsFromBuildDir(
  dir: string,
  chip?: ChipName,
  options: BuildDirOptions = {},
): Promise<BuildOutput> {
  const ctx: Ctx = { chip, options, read: options.readImage ?? readImage };
  const info = await exists(dir);
  if (!info) throw new BuildDirError("NOT_FOUND", `build folder ${dir} does not exist`);
  if (!info.isDirectory) throw new BuildDirError("NOT_FOUND", `${dir} is not a folder`);
  if (await exists(join(dir, "flasher_args.json"))) return await espIdf(ctx, dir);
  if (await exists(join(dir, "build", "flasher_args.json"))) {
    return await espIdf(ctx, join(dir, "build"));
  }
  if (await exists(join(dir, ".pio", "build"))) {
    return await platformioProject(ctx, join(dir, ".pio", "build"));
  }
  if (await exists(join(dir, "firmware.bin"))) return await platformio(ctx, dir);
  const sketches = await arduinoSketches(dir);
  if (sketches.length > 0) return await arduino(ctx, dir, sketches);
  // arduino-cli's default output: <sketch>/build/<fqbn>/.
  if (await exists(join(dir, "build"))) {
    const subdirs = (await listDir(join(dir, "build"))).filter((e) => e.isDirectory);
    for (const s of subdirs) {
      const d = join(dir, "build", s.name);
      const found = await arduinoSketches(d);
      if (found.length > 0 && subdirs.length === 1) return await arduino(ctx, d, found);
    }
  }
  throw new BuildDirError(
    "UNKNOWN_LAYOUT",
    `${dir} is not an ESP-IDF build (flasher_args.json), a PlatformIO project (.pio/build) ` +
      "or an Arduino CLI output (*.ino.bin)",
  );
}

function parseOffset(value: unknown, file: string, what: string): number {
  const n = typeof value === "number"
    ? value
    : typeof value === "string" && /^(0x[0-9a-f]+|\d+)$/i.test(value.trim())
    ? Number(value.trim())
    : NaN;
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new BuildDirError(
      "BAD_JSON",
      `${file}: ${what} has a bad offset ${JSON.stringify(value)}`,
    );
  }
  return n;
}

async function espIdf(ctx: Ctx, buildDir: string): Promise<BuildOutput> {
  const chip = ctx.chip;
  const file = join(buildDir, "flasher_args.json");
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(new TextDecoder().decode(await readFile(file)));
  } catch (e) {
    if (e instanceof BuildDirError) throw e;
    throw new BuildDirError(
      "BAD_JSON",
      `${file} is not valid JSON (${(e as Error).message}); rebuild the project to regenerate it`,
    );
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new BuildDirError("BAD_JSON", `${file} does not hold a JSON object`);
  }
  const files = json.flash_files;
  if (typeof files !== "object" || files === null || Array.isArray(files)) {
    throw new BuildDirError("BAD_JSON", `${file} has no "flash_files" map`);
  }
  const extra = json.extra_esptool_args as Record<string, unknown> | undefined;
  let jsonChip: ChipName | undefined;
  if (extra && typeof extra.chip === "string") {
    jsonChip = normalizeChipName(extra.chip);
    if (!jsonChip) {
      throw new BuildDirError(
        "NO_CHIP",
        `${file} is for chip "${extra.chip}", which espdelta does not support`,
      );
    }
    if (chip && chip !== jsonChip) throw wrongChip({ file, by: "flasher-args" }, jsonChip, chip);
  }
  // Section names ("bootloader", "app", "otadata"...) by offset, a fallback for naming.
  const sections = new Map<number, string>();
  for (const [key, value] of Object.entries(json)) {
    const v = value as Record<string, unknown> | null;
    if (v && typeof v === "object" && "offset" in v && "file" in v) {
      sections.set(parseOffset(v.offset, file, `"${key}"`), key);
    }
  }
  const regions: Region[] = [];
  for (const [off, rel] of Object.entries(files as Record<string, unknown>)) {
    const offset = parseOffset(off, file, `flash_files entry ${JSON.stringify(off)}`);
    if (typeof rel !== "string") {
      throw new BuildDirError("BAD_JSON", `${file}: flash_files entry ${off} is not a file name`);
    }
    const path = join(buildDir, rel);
    const data = await readFile(path, file);
    const section = sections.get(offset);
    const kind: RegionKind | undefined = section === "bootloader"
      ? "bootloader"
      : section === "partition-table" || section === "partition_table"
      ? "partition-table"
      : section === "app"
      ? "app"
      : undefined;
    regions.push({
      name: section ?? rel,
      offset,
      data,
      file: path,
      ...(kind ? { kind } : {}),
    });
  }
  const bootRegion = regions.find((r) => r.kind === "bootloader");
  const appRegion = regions.find((r) => r.kind === "app");
  // The images must agree with the chip flasher_args.json names (or the one asked for).
  const resolved = resolveChip(ctx, jsonChip ?? chip, [
    ...(bootRegion ? [{ file: bootRegion.file!, data: bootRegion.data }] : []),
    ...(appRegion ? [{ file: appRegion.file!, data: appRegion.data }] : []),
    ...(!bootRegion && !appRegion ? [{ file }] : []),
  ]);
  const tableRegion = regions.find((r) => r.kind === "partition-table");
  const tableOffset = tableRegion?.offset ?? PARTITION_TABLE_OFFSET;
  const table = tableEntries(tableRegion?.data);
  const fs = (json.flash_settings ?? {}) as Record<string, unknown>;
  const flash: FlashParams = {};
  if (typeof fs.flash_mode === "string") flash.mode = fs.flash_mode;
  if (typeof fs.flash_freq === "string") flash.freq = fs.flash_freq;
  if (typeof fs.flash_size === "string") flash.size = fs.flash_size;
  const chipFrom = jsonChip ? { file, by: "flasher-args" as const } : resolved.from;
  return {
    layout: "esp-idf",
    dir: buildDir,
    chip: resolved.chip,
    regions: nameRegions(regions, table, {
      tableOffset,
      bootloaderOffset: bootRegion?.offset ?? CHIPS[resolved.chip].bootloaderOffset,
    }),
    flash,
    ...(table ? { table } : {}),
    ...(chipFrom ? { chipFrom } : {}),
  };
}

async function platformioProject(ctx: Ctx, buildRoot: string): Promise<BuildOutput> {
  const options = ctx.options;
  const envs: string[] = [];
  for (const e of await listDir(buildRoot)) {
    if (e.isDirectory && await exists(join(buildRoot, e.name, "firmware.bin"))) envs.push(e.name);
  }
  if (options.env !== undefined) {
    if (!envs.includes(options.env)) {
      throw new BuildDirError(
        "NOT_FOUND",
        `no PlatformIO environment "${options.env}" with firmware.bin in ${buildRoot}` +
          (envs.length ? ` (found: ${envs.join(", ")})` : ""),
      );
    }
    return await platformio(ctx, join(buildRoot, options.env), options.env);
  }
  if (envs.length === 0) {
    throw new BuildDirError(
      "NOT_FOUND",
      `no PlatformIO environment with firmware.bin in ${buildRoot}; build the project first`,
    );
  }
  if (envs.length > 1) {
    throw new BuildDirError(
      "AMBIGUOUS",
      `${buildRoot} has several environments (${envs.join(", ")}); pick one`,
    );
  }
  return await platformio(ctx, join(buildRoot, envs[0]), envs[0]);
}

/** Reads `name` in `dir` if it is there. */
async function optional(dir: string, name: string): Promise<{ file: string; data?: Uint8Array }> {
  const file = join(dir, name);
  return { file, ...(await exists(file) ? { data: await readFile(file) } : {}) };
}

/** The common shape of PlatformIO and Arduino outputs: bootloader, table, app, boot_app0. */
function assemble(
  ctx: Ctx,
  layout: "platformio" | "arduino",
  dir: string,
  files: {
    app: { file: string; data: Uint8Array };
    bootloader: { file: string; data?: Uint8Array };
    partitions: { file: string; data?: Uint8Array };
    bootApp0?: { file: string; data?: Uint8Array };
  },
  target: string | undefined,
): BuildOutput {
  const { chip: resolved, from } = resolveChip(ctx, ctx.chip, [files.bootloader, files.app]);
  const base = {
    layout,
    dir,
    chip: resolved,
    flash: {},
    ...(target ? { target } : {}),
    ...(from ? { chipFrom: from } : {}),
  };
  if (resolved === "esp8266") {
    // Arduino/PlatformIO ESP8266 images carry their own boot code at 0x0.
    const app: Region = { name: "firmware", offset: 0, data: files.app.data, file: files.app.file };
    return { ...base, regions: [{ ...app, kind: "app" }] };
  }
  const table = tableEntries(files.partitions.data);
  const regions: Region[] = [];
  if (files.bootloader.data) {
    regions.push({
      name: "bootloader",
      offset: CHIPS[resolved].bootloaderOffset,
      data: files.bootloader.data,
      file: files.bootloader.file,
      kind: "bootloader",
    });
  }
  if (files.partitions.data) {
    regions.push({
      name: "partition-table",
      offset: PARTITION_TABLE_OFFSET,
      data: files.partitions.data,
      file: files.partitions.file,
      kind: "partition-table",
    });
  }
  if (files.bootApp0?.data) {
    const otadata = table?.find((e) => e.type === 1 && e.subtype === 0x00);
    regions.push({
      name: "otadata",
      offset: otadata?.offset ?? 0xe000,
      data: files.bootApp0.data,
      file: files.bootApp0.file,
      kind: "data",
    });
  }
  const appOffset = (table && firstAppPartition(table)?.offset) ?? 0x10000;
  regions.push({
    name: "app",
    offset: appOffset,
    data: files.app.data,
    file: files.app.file,
    kind: "app",
  });
  return {
    ...base,
    regions: nameRegions(regions, table, { bootloaderOffset: CHIPS[resolved].bootloaderOffset }),
    ...(table ? { table } : {}),
  };
}

async function platformio(ctx: Ctx, envDir: string, env?: string): Promise<BuildOutput> {
  const app = join(envDir, "firmware.bin");
  return assemble(ctx, "platformio", envDir, {
    app: { file: app, data: await readFile(app) },
    bootloader: await optional(envDir, "bootloader.bin"),
    partitions: await optional(envDir, "partitions.bin"),
    bootApp0: await optional(envDir, "boot_app0.bin"),
  }, env);
}

async function arduinoSketches(dir: string): Promise<string[]> {
  const names = new Set<string>();
  for (const e of await listDir(dir)) {
    const m = /^(.+)\.ino\.(?:merged\.)?bin$/.exec(e.name);
    if (e.isFile && m && !/\.ino\.(bootloader|partitions)\.bin$/.test(e.name)) names.add(m[1]);
  }
  return [...names];
}

async function arduino(ctx: Ctx, dir: string, sketches: string[]): Promise<BuildOutput> {
  const options = ctx.options;
  let sketch: string;
  if (options.sketch !== undefined) {
    if (!sketches.includes(options.sketch)) {
      throw new BuildDirError(
        "NOT_FOUND",
        `no sketch "${options.sketch}" in ${dir} (found: ${sketches.join(", ")})`,
      );
    }
    sketch = options.sketch;
  } else if (sketches.length > 1) {
    throw new BuildDirError(
      "AMBIGUOUS",
      `${dir} holds several sketches (${sketches.join(", ")}); pick one`,
    );
  } else {
    sketch = sketches[0];
  }
  const app = await optional(dir, `${sketch}.ino.bin`);
  const merged = await optional(dir, `${sketch}.ino.merged.bin`);
  if (merged.data && (options.merged || !app.data)) {
    // The merged image starts with the bootloader (or 0xFF up to it) at offset 0.
    const bootloader = bootloaderView(merged.data);
    const resolved = resolveChip(ctx, ctx.chip, [{ file: merged.file, data: bootloader }]);
    return {
      layout: "arduino",
      dir,
      chip: resolved.chip,
      regions: [{ name: "merged", offset: 0, data: merged.data, file: merged.file, kind: "other" }],
      flash: {},
      target: sketch,
      ...(resolved.from ? { chipFrom: resolved.from } : {}),
    };
  }
  if (!app.data) throw new BuildDirError("NOT_FOUND", `${app.file} does not exist`);
  return assemble(ctx, "arduino", dir, {
    app: { file: app.file, data: app.data },
    bootloader: await optional(dir, `${sketch}.ino.bootloader.bin`),
    partitions: await optional(dir, `${sketch}.ino.partitions.bin`),
  }, sketch);
}

/** The bootloader inside a merged image: at 0x0, 0x1000 or 0x2000 depending on the chip. */
function bootloaderView(merged: Uint8Array): Uint8Array | undefined {
  for (const at of [0x0, 0x1000, 0x2000]) {
    if (merged[at] === IMAGE_MAGIC) return merged.subarray(at);
  }
  return undefined;
}

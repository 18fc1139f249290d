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
 * import { regionsFromBuildDir } from "./regions.ts";
 * const build = await regionsFromBuildDir("path/to/project");
 * for (const r of build.regions) console.log(r.name, r.offset.toString(16), r.data.length);
 * ```
 * @module
 */

import { join } from "node:path";
import { type ChipName, CHIPS, normalizeChipName } from "../chips/chips.ts";
import { hex } from "../protocol/bytes.ts";
import { identifyImageTarget, IMAGE_MAGIC } from "./app.ts";
import { BuildDirError } from "./errors.ts";
import {
  firstAppPartition,
  parsePartitionTable,
  PARTITION_TABLE_OFFSET,
  partitionAt,
  type PartitionEntry,
  type PartitionTable,
} from "./partitions.ts";

/** What a region holds. */
export type RegionKind = "bootloader" | "partition-table" | "app" | "data" | "other";

/** Bytes to place at a flash offset, with a name people recognise. */
export interface Region {
  /** Partition or file name: `bootloader`, `partition-table`, `factory`, `nvs`... */
  name: string;
  /** Flash offset. */
  offset: number;
  /** The bytes. */
  data: Uint8Array;
  /** File the bytes came from. */
  file?: string;
  /** What the region holds, when known. */
  kind?: RegionKind;
}

/** Flash settings a build asks for (esptool spellings; absent = keep). */
export interface FlashSettings {
  /** "qio", "dio", ... */
  mode?: string;
  /** "40m", "80m", ... */
  freq?: string;
  /** "4MB", "detect", "keep", ... */
  size?: string;
}

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
  flash: FlashSettings;
  /** The partition table of the build, when it has one. */
  table?: PartitionEntry[];
  /** The PlatformIO environment or Arduino sketch that was picked. */
  target?: string;
}

/** Options of {@link regionsFromBuildDir}. */
export interface BuildDirOptions {
  /** PlatformIO environment to use when there are several. */
  env?: string;
  /** Arduino sketch to use when the folder holds several. */
  sketch?: string;
  /** Arduino: flash `<sketch>.ino.merged.bin` at 0x0 instead of the separate files. */
  merged?: boolean;
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

/** The chip an image was built for, if it is an image of a chip espdelta supports. */
function imageChip(data: Uint8Array | undefined): ChipName | "unsupported" | undefined {
  if (!data || data.length < 8 || data[0] !== IMAGE_MAGIC && data[0] !== 0xea) return undefined;
  const target = identifyImageTarget(data);
  return normalizeChipName(target.name) ?? "unsupported";
}

/**
 * Works out the chip from the images (bootloader first, then the app) and
 * checks it against `wanted`. Throws `WRONG_CHIP` or `NO_CHIP`.
 */
function resolveChip(
  wanted: ChipName | undefined,
  images: { file: string; data?: Uint8Array }[],
): ChipName {
  for (const img of images) {
    const found = imageChip(img.data);
    if (found === undefined) continue;
    if (found === "unsupported") {
      const name = identifyImageTarget(img.data!).displayName;
      throw new BuildDirError(
        "NO_CHIP",
        `${img.file} is built for ${name}, which espdelta does not support`,
      );
    }
    if (wanted && found !== wanted) {
      throw new BuildDirError(
        "WRONG_CHIP",
        `${img.file} is built for ${CHIPS[found].displayName}, not ${CHIPS[wanted].displayName}`,
      );
    }
    return found;
  }
  if (wanted) return wanted;
  throw new BuildDirError(
    "NO_CHIP",
    `cannot tell the chip from ${images.map((i) => i.file).join(", ")}; give the chip`,
  );
}

function tableOf(data: Uint8Array | undefined): PartitionEntry[] | undefined {
  if (!data || data[0] !== 0xaa || data[1] !== 0x50) return undefined;
  try {
    return parsePartitionTable(data).entries;
  } catch {
    return undefined;
  }
}

/**
 * Names regions after the partition they start in (its label, e.g.
 * `factory`, `nvs`, `otadata`, `spiffs`), the table region
 * `partition-table` and an image below the table `bootloader`. The table is
 * read from the region at `tableOffset` (0x8000) when not given. Regions
 * that match nothing keep their name. Returns new regions sorted by offset.
 */
export function nameRegions(
  regions: readonly Region[],
  table?: readonly PartitionEntry[] | PartitionTable,
  options: { tableOffset?: number; bootloaderOffset?: number } = {},
): Region[] {
  const tableOffset = options.tableOffset ?? PARTITION_TABLE_OFFSET;
  const entries: readonly PartitionEntry[] = table === undefined
    ? tableOf(regions.find((r) => r.offset === tableOffset)?.data) ?? []
    : Array.isArray(table)
    ? table
    : (table as PartitionTable).entries;
  const kindOf = (type: number): RegionKind =>
    type === 0
      ? "app"
      : type === 1
      ? "data"
      : type === 2
      ? "bootloader"
      : type === 3
      ? "partition-table"
      : "other";
  return [...regions].sort((a, b) => a.offset - b.offset).map((r) => {
    const isTable = r.offset === tableOffset && r.data[0] === 0xaa && r.data[1] === 0x50;
    if (isTable) return { ...r, name: "partition-table", kind: "partition-table" };
    const p = partitionAt(entries, r.offset);
    if (p) return { ...r, name: p.name, kind: kindOf(p.type) };
    const below = r.offset < tableOffset;
    const spans = r.offset + r.data.length > tableOffset;
    if (below && spans && r.offset === 0) return { ...r, name: "merged", kind: "other" };
    const isBoot = options.bootloaderOffset !== undefined
      ? r.offset === options.bootloaderOffset
      : below && r.data[0] === IMAGE_MAGIC;
    if (isBoot && !spans) return { ...r, name: "bootloader", kind: "bootloader" };
    return { ...r };
  });
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
  const info = await exists(dir);
  if (!info) throw new BuildDirError("NOT_FOUND", `build folder ${dir} does not exist`);
  if (!info.isDirectory) throw new BuildDirError("NOT_FOUND", `${dir} is not a folder`);
  if (await exists(join(dir, "flasher_args.json"))) return await espIdf(dir, chip);
  if (await exists(join(dir, "build", "flasher_args.json"))) {
    return await espIdf(join(dir, "build"), chip);
  }
  if (await exists(join(dir, ".pio", "build"))) {
    return await platformioProject(join(dir, ".pio", "build"), chip, options);
  }
  if (await exists(join(dir, "firmware.bin"))) return await platformio(dir, chip);
  const sketches = await arduinoSketches(dir);
  if (sketches.length > 0) return await arduino(dir, sketches, chip, options);
  // arduino-cli's default output: <sketch>/build/<fqbn>/.
  if (await exists(join(dir, "build"))) {
    const subdirs = (await listDir(join(dir, "build"))).filter((e) => e.isDirectory);
    for (const s of subdirs) {
      const d = join(dir, "build", s.name);
      const found = await arduinoSketches(d);
      if (found.length > 0 && subdirs.length === 1) return await arduino(d, found, chip, options);
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

async function espIdf(buildDir: string, chip: ChipName | undefined): Promise<BuildOutput> {
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
    if (chip && chip !== jsonChip) {
      throw new BuildDirError(
        "WRONG_CHIP",
        `${file} is for ${CHIPS[jsonChip].displayName}, not ${CHIPS[chip].displayName}`,
      );
    }
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
  const resolved = resolveChip(jsonChip ?? chip, [
    ...(bootRegion ? [{ file: bootRegion.file!, data: bootRegion.data }] : []),
    ...(appRegion ? [{ file: appRegion.file!, data: appRegion.data }] : []),
    ...(!bootRegion && !appRegion ? [{ file }] : []),
  ]);
  const tableRegion = regions.find((r) => r.kind === "partition-table");
  const tableOffset = tableRegion?.offset ?? PARTITION_TABLE_OFFSET;
  const table = tableOf(tableRegion?.data);
  const fs = (json.flash_settings ?? {}) as Record<string, unknown>;
  const flash: FlashSettings = {};
  if (typeof fs.flash_mode === "string") flash.mode = fs.flash_mode;
  if (typeof fs.flash_freq === "string") flash.freq = fs.flash_freq;
  if (typeof fs.flash_size === "string") flash.size = fs.flash_size;
  return {
    layout: "esp-idf",
    dir: buildDir,
    chip: resolved,
    regions: nameRegions(regions, table, {
      tableOffset,
      bootloaderOffset: bootRegion?.offset ?? CHIPS[resolved].bootloaderOffset,
    }),
    flash,
    ...(table ? { table } : {}),
  };
}

async function platformioProject(
  buildRoot: string,
  chip: ChipName | undefined,
  options: BuildDirOptions,
): Promise<BuildOutput> {
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
    return await platformio(join(buildRoot, options.env), chip, options.env);
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
  return await platformio(join(buildRoot, envs[0]), chip, envs[0]);
}

/** Reads `name` in `dir` if it is there. */
async function optional(dir: string, name: string): Promise<{ file: string; data?: Uint8Array }> {
  const file = join(dir, name);
  return { file, ...(await exists(file) ? { data: await readFile(file) } : {}) };
}

/** The common shape of PlatformIO and Arduino outputs: bootloader, table, app, boot_app0. */
function assemble(
  layout: "platformio" | "arduino",
  dir: string,
  chip: ChipName | undefined,
  files: {
    app: { file: string; data: Uint8Array };
    bootloader: { file: string; data?: Uint8Array };
    partitions: { file: string; data?: Uint8Array };
    bootApp0?: { file: string; data?: Uint8Array };
  },
  target: string | undefined,
): BuildOutput {
  const resolved = resolveChip(chip, [files.bootloader, files.app]);
  const base = { layout, dir, chip: resolved, flash: {}, ...(target ? { target } : {}) };
  if (resolved === "esp8266") {
    // Arduino/PlatformIO ESP8266 images carry their own boot code at 0x0.
    const app: Region = { name: "firmware", offset: 0, data: files.app.data, file: files.app.file };
    return { ...base, regions: [{ ...app, kind: "app" }] };
  }
  const table = tableOf(files.partitions.data);
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

async function platformio(
  envDir: string,
  chip: ChipName | undefined,
  env?: string,
): Promise<BuildOutput> {
  const app = join(envDir, "firmware.bin");
  return assemble("platformio", envDir, chip, {
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

async function arduino(
  dir: string,
  sketches: string[],
  chip: ChipName | undefined,
  options: BuildDirOptions,
): Promise<BuildOutput> {
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
    const bootloader = merged.data;
    const resolved = resolveChip(chip, [{ file: merged.file, data: bootloaderView(bootloader) }]);
    return {
      layout: "arduino",
      dir,
      chip: resolved,
      regions: [{ name: "merged", offset: 0, data: merged.data, file: merged.file, kind: "other" }],
      flash: {},
      target: sketch,
    };
  }
  if (!app.data) throw new BuildDirError("NOT_FOUND", `${app.file} does not exist`);
  return assemble("arduino", dir, chip, {
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

/** Formats a region list as `0x1000 bootloader (file)` lines, for messages and logs. */
export function describeRegions(regions: readonly Region[]): string[] {
  return regions.map((r) =>
    `${hex(r.offset)} ${r.name} (${r.data.length} bytes${r.file ? `, ${r.file}` : ""})`
  );
}

/**
 * The region: bytes to place at a flash offset, with a name people know. One
 * type serves image/ (which makes regions from what the user gives), plan/
 * (which plans and writes them) and cli/. Here too: the one answer to "does
 * this region hold a firmware image", naming regions after the partition
 * table, and the checks a region list must pass before anything is sent to
 * a device.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { nameRegions, validateRegions } from "./region.ts";
 * import { writeImage } from "./app.ts";
 * import { writePartitionTable } from "./partitions.ts";
 * const table = writePartitionTable([
 *   { name: "factory", type: 0, subtype: 0, offset: 0x10000, size: 0x100000, encrypted: false, readonly: false },
 * ]);
 * const app = writeImage({ chip: "esp32", segments: [{ loadAddress: 0x3f400020, data: new Uint8Array(64) }] });
 * const regions = validateRegions(nameRegions([
 *   { name: "app.bin", offset: 0x10000, data: app },
 *   { name: "partitions.bin", offset: 0x8000, data: table },
 * ]));
 * deepStrictEqual(regions.map((r) => [r.name, r.kind]), [
 *   ["partition-table", "partition-table"],
 *   ["factory", "app"],
 * ]);
 * ```
 * @module
 */

import { chipByImageId, type ChipInfo } from "../chips/chips.ts";
import { hex } from "../protocol/bytes.ts";
import { hasImageMagic, IMAGE_MAGIC, imageChipId } from "./app.ts";
import { RegionError } from "./errors.ts";
import {
  PARTITION_TABLE_OFFSET,
  partitionAt,
  type PartitionEntry,
  type PartitionTable,
  tableEntries,
} from "./partitions.ts";

/** What a region holds. */
export type RegionKind = "bootloader" | "partition-table" | "app" | "data" | "other";

/** Bytes to place at a flash offset, with a name people recognise. */
export interface Region {
  /** Partition or file name: `bootloader`, `partition-table`, `factory`, `nvs`... */
  name: string;
  /** Flash offset; must be 4 KiB aligned. */
  offset: number;
  /** The bytes the region must hold. */
  data: Uint8Array;
  /** Where the bytes came from, for messages. */
  file?: string;
  /** What the region holds, when known; `app` regions get their header sector written last. */
  kind?: RegionKind;
}

/** Flash sector size: regions start on sector boundaries. */
const SECTOR = 0x1000;

/**
 * Whether the region holds a firmware image: an app or a bootloader, or, when
 * nothing says what it holds, bytes that start with an image magic (0xE9, or
 * 0xEA for an ESP8266 v2 image). A partition table, data, or a merged binary
 * (`other`) never does.
 */
export function holdsImage(region: Pick<Region, "kind" | "data">): boolean {
  if (region.kind !== undefined) return region.kind === "app" || region.kind === "bootloader";
  return hasImageMagic(region.data);
}

const KIND_OF_TYPE: Record<number, RegionKind> = {
  0: "app",
  1: "data",
  2: "bootloader",
  3: "partition-table",
};

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
    ? tableEntries(regions.find((r) => r.offset === tableOffset)?.data) ?? []
    : Array.isArray(table)
    ? table
    : (table as PartitionTable).entries;
  return [...regions].sort((a, b) => a.offset - b.offset).map((r) => {
    const isTable = r.offset === tableOffset && r.data[0] === 0xaa && r.data[1] === 0x50;
    if (isTable) return { ...r, name: "partition-table", kind: "partition-table" };
    const p = partitionAt(entries, r.offset);
    if (p) return { ...r, name: p.name, kind: KIND_OF_TYPE[p.type] ?? "other" };
    const below = r.offset < tableOffset;
    const spans = r.offset + r.data.length > tableOffset;
    if (below && spans && r.offset === 0) return { ...r, name: "merged", kind: "other" };
    // A second-stage bootloader is an ESP image (0xE9); 0xEA marks an ESP8266 v2 app.
    const isBoot = options.bootloaderOffset !== undefined
      ? r.offset === options.bootloaderOffset
      : below && r.data[0] === IMAGE_MAGIC;
    if (isBoot && !spans) return { ...r, name: "bootloader", kind: "bootloader" };
    return { ...r };
  });
}

/**
 * Checks alignment, emptiness, overlaps, flash bounds and, for regions that
 * hold an image, that the image was built for `chip`. Returns the regions
 * sorted by offset. Throws {@link RegionError} with a one-line message.
 * Without a chip or a flash size (before connecting) those checks are left
 * out.
 */
export function validateRegions(
  regions: readonly Region[],
  chip?: ChipInfo,
  flashSize = Infinity,
): Region[] {
  for (const r of regions) {
    const where = `${r.name} at ${hex(r.offset)}`;
    if (r.offset % SECTOR !== 0) {
      throw new RegionError(
        "UNALIGNED",
        `${where}: offset is not a multiple of 0x1000; flash regions start on 4 KiB sector boundaries`,
      );
    }
    if (r.data.length === 0) {
      throw new RegionError(
        "EMPTY",
        `${where}: ${r.file ?? "data"} is empty; nothing to write (rebuild it or leave it out)`,
      );
    }
    const mb = (n: number) => `${+(n / 1024 / 1024).toFixed(2)} MB`;
    if (r.data.length > flashSize) {
      throw new RegionError(
        "TOO_LARGE",
        `${where}: ${r.file ?? "the data"} is ${mb(r.data.length)}, larger than the whole ` +
          `${mb(flashSize)} flash; check the file, or --flash-size if the flash is larger`,
      );
    }
    if (r.offset + r.data.length > flashSize) {
      throw new RegionError(
        "PAST_END",
        `${where}: ${r.data.length} bytes end at ${
          hex(r.offset + r.data.length)
        }, past the end of ` +
          `the ${mb(flashSize)} flash (${hex(flashSize)}); check the offset, or --flash-size ` +
          "if the flash is larger",
      );
    }
    const id = chip && chip.imageChipId !== null && holdsImage(r) ? imageChipId(r.data) : undefined;
    if (chip && id !== undefined && id !== chip.imageChipId) {
      const other = chipByImageId(id)?.displayName ?? `unknown chip id ${id}`;
      throw new RegionError(
        "WRONG_CHIP",
        `${where}: image is built for ${other}, but the device is ${chip.displayName}; ` +
          `rebuild for ${chip.displayName} or pick the right file`,
      );
    }
  }
  const sorted = [...regions].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1];
    const b = sorted[i];
    if (a.offset + a.data.length > b.offset) {
      throw new RegionError(
        "OVERLAP",
        `${a.name} (${hex(a.offset)}-${hex(a.offset + a.data.length)}) overlaps ${b.name} ` +
          `at ${hex(b.offset)}; fix the offsets so each region ends before the next begins`,
      );
    }
  }
  return sorted;
}

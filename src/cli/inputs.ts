/**
 * Turns command arguments into named regions: `ADDR FILE` pairs, or one
 * build folder (ESP-IDF, PlatformIO, Arduino CLI); then applies the flash
 * mode/frequency/size options to the bootloader header as esptool does.
 * @module
 */

import type { ChipName } from "../chips/chips.ts";
import { nameRegions, type Region, validateRegions } from "../image/region.ts";
import { regionsFromBuildDir } from "../image/build_dir.ts";
import { type FlashParams, patchFlashParams } from "../image/patch.ts";
import { parsePairs } from "./args.ts";
import { regionsFromPairs } from "./files.ts";
import type { Output } from "./output.ts";
import { parseImage } from "../image/app.ts";
import { parsePartitionTable } from "../image/partitions.ts";
import { ImageError, PartitionError } from "../image/errors.ts";
import { hex } from "../protocol/bytes.ts";

/** Flash-setting options as given on the command line (undefined = not given). */
export interface FlashSettingOptions {
  /** --flash-mode. */
  flashMode?: string;
  /** --flash-freq. */
  flashFreq?: string;
  /** --flash-size. */
  flashSize?: string;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Resolves inputs for `chip`. A build folder contributes its own flash
 * settings (ESP-IDF's flasher_args.json); command-line options win; the
 * default is `keep`. `detectedFlashSize` serves `--flash-size detect`.
 */
export async function resolveInputs(
  inputs: string[],
  chip: ChipName,
  options: FlashSettingOptions & { detectedFlashSize?: number | null; out?: Output } = {},
): Promise<Region[]> {
  let regions: Region[];
  let fromBuild: FlashParams = {};
  if (inputs.length === 1 && await isDirectory(inputs[0])) {
    const build = await regionsFromBuildDir(inputs[0], chip);
    regions = build.regions;
    fromBuild = build.flash;
    options.out?.info(
      `Build folder ${build.dir} (${build.layout}${build.target ? `, ${build.target}` : ""}): ` +
        build.regions.map((r) => `${r.name}@0x${r.offset.toString(16)}`).join(", "),
    );
  } else {
    regions = nameRegions(await regionsFromPairs(parsePairs(inputs)));
  }
  const params: FlashParams = {
    mode: options.flashMode ?? fromBuild.mode ?? "keep",
    freq: options.flashFreq ?? fromBuild.freq ?? "keep",
    size: options.flashSize ?? fromBuild.size ?? "keep",
  };
  for (const r of regions) checkContents(r, chip);
  return regions.map((r) => {
    const p = patchFlashParams(r.data, r.offset, chip, params, {
      detectedFlashSize: options.detectedFlashSize,
    });
    if (p.changed) options.out?.info(`${r.name}: ${p.message}`);
    return p.changed ? { ...r, data: p.bytes } : r;
  });
}

/**
 * Refuses an app or bootloader image that is truncated or corrupted (its
 * checksum or SHA-256 is wrong), and a partition table that does not parse:
 * flashing them would leave a board that does not boot. An image for
 * another chip is left to the region checks, which name both chips.
 */
function checkContents(r: Region, chip: ChipName): void {
  const where = `${r.name} at ${hex(r.offset)}${r.file ? ` (${r.file})` : ""}`;
  const looksLikeImage = r.kind === "app" || r.kind === "bootloader" ||
    (r.kind === undefined && (r.data[0] === 0xe9 || r.data[0] === 0xea));
  if (looksLikeImage && r.data.length > 0) {
    try {
      parseImage(r.data, { chip });
    } catch (e) {
      if (!(e instanceof ImageError) || e.code === "WRONG_CHIP") return;
      throw new ImageError(e.code, `${where}: ${e.message}; rebuild it or pick the right file`);
    }
  }
  if (r.kind === "partition-table") {
    try {
      parsePartitionTable(r.data);
    } catch (e) {
      if (!(e instanceof PartitionError)) throw e;
      throw new PartitionError(
        e.code,
        `${where}: not a valid partition table (${e.message}); rebuild it`,
      );
    }
  }
}

/**
 * Reads the inputs once before a port is opened, so a missing or unreadable
 * file, or a broken build folder, fails before the board is reset. The
 * chip-specific checks follow in {@link resolveInputs} after connecting.
 */
export async function preflightInputs(inputs: string[], chip?: ChipName): Promise<void> {
  if (inputs.length === 1 && await isDirectory(inputs[0])) {
    await regionsFromBuildDir(inputs[0], chip);
    return;
  }
  validateRegions(nameRegions(await regionsFromPairs(parsePairs(inputs))));
}

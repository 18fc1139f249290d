/**
 * Turns command arguments into named regions: `ADDR FILE` pairs, or one
 * build folder (ESP-IDF, PlatformIO, Arduino CLI); then applies the flash
 * mode/frequency/size options to the bootloader header as esptool does.
 * @module
 */

import type { ChipName } from "../chips/chips.ts";
import type { FlashRegion } from "../plan/types.ts";
import { nameRegions, regionsFromBuildDir } from "../image/regions.ts";
import { type FlashParams, patchFlashParams } from "../image/patch.ts";
import { parsePairs } from "./args.ts";
import { regionsFromPairs } from "./files.ts";
import type { Output } from "./output.ts";

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
): Promise<FlashRegion[]> {
  let regions: FlashRegion[];
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
  return regions.map((r) => {
    const p = patchFlashParams(r.data, r.offset, chip, params, {
      detectedFlashSize: options.detectedFlashSize,
    });
    if (p.changed) options.out?.info(`${r.name}: ${p.message}`);
    return p.changed ? { ...r, data: p.bytes } : r;
  });
}

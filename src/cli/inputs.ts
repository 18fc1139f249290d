/**
 * From command arguments to src/image/inputs.ts and back to the user: one
 * build folder or `ADDR FILE` pairs, the flash-setting options, and the
 * lines saying what was found and patched.
 * @module
 */

import type { ChipName } from "../chips/chips.ts";
import {
  checkInputsChip,
  type Inputs,
  type LoadedInputs,
  loadInputs,
  regionsForChip,
} from "../image/inputs.ts";
import type { Region } from "../image/region.ts";
import { parseChip, parsePairs } from "./args.ts";
import type { Command, OptionValues } from "./deps.ts";
import type { Output } from "./output.ts";

/**
 * Adds `--flash-mode`, `--flash-freq` and `--flash-size` (undefined when
 * not given: the build's setting, else keep) to a command that takes inputs.
 */
export function withFlashSettings<
  A extends unknown[],
  O extends OptionValues,
  G extends OptionValues,
>(
  command: Command<A, O, G>,
) {
  return command
    .option("--flash-mode <mode>", "bootloader header flash mode: keep, qio, qout, dio, dout")
    .option("--flash-freq <freq>", "bootloader header flash frequency: keep, 40m, 80m, ...")
    .option("--flash-size <size>", "bootloader header flash size: keep, detect, 4MB, ...");
}

/** Help of `--force` on the commands that write images. */
export const FORCE_HELP =
  "write images whose chip-revision range excludes the connected chip (esptool's --force)";

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

/** What the arguments name: one build folder, else `ADDR FILE` pairs. */
async function inputsFromArgs(args: string[]): Promise<Inputs> {
  if (args.length === 1 && await isDirectory(args[0])) return args[0];
  return parsePairs(args);
}

/**
 * Reads and checks the inputs before a port is opened, so a missing file, a
 * broken build folder or a corrupted image fails before the board is reset.
 */
export async function loadArgs(
  args: string[],
  chip: string,
  options: FlashSettingOptions,
): Promise<LoadedInputs> {
  const chipArg = parseChip(chip);
  return await loadInputs(await inputsFromArgs(args), {
    ...(chipArg === "auto" ? {} : { chip: chipArg }),
    flash: { mode: options.flashMode, freq: options.flashFreq, size: options.flashSize },
  });
}

/**
 * The inputs for the connected chip: checked against it (its revision too,
 * unless `force`), the build folder named, and the bootloader header
 * patched as asked (each patch said).
 */
export function regionsForBoard(
  loaded: LoadedInputs,
  chip: ChipName,
  flashSize: number,
  out: Output,
  checks: { revision?: number; force?: boolean } = {},
): Region[] {
  checkInputsChip(loaded, chip);
  const build = loaded.build;
  if (build) {
    out.info(
      `Build folder ${build.dir} (${build.layout}${build.target ? `, ${build.target}` : ""}): ` +
        build.regions.map((r) => `${r.name}@0x${r.offset.toString(16)}`).join(", "),
    );
  }
  const { regions, notes } = regionsForChip(loaded, chip, { flashSize, ...checks });
  for (const note of notes) out.info(note);
  return regions;
}

/**
 * Turns command arguments into regions: `ADDR FILE` pairs, or one build
 * folder (ESP-IDF, PlatformIO, Arduino CLI).
 * @module
 */

import type { ChipName } from "../chips/chips.ts";
import type { FlashRegion } from "../plan/types.ts";
import { parsePairs } from "./args.ts";
import { regionsFromPairs } from "./files.ts";

/** Resolves inputs for `chip`. */
export async function resolveInputs(inputs: string[], _chip: ChipName): Promise<FlashRegion[]> {
  return await regionsFromPairs(parsePairs(inputs));
}

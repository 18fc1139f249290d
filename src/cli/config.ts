/**
 * Defaults from an optional `espdelta.json` in the project folder (the
 * current directory). Precedence: command line, then environment
 * (ESPDELTA_PORT, ESPDELTA_BAUD, ESPDELTA_CHIP), then espdelta.json, then
 * built-in defaults. `--trace` prints where each value came from.
 * @module
 */

import type { Command } from "./deps.ts";
import { UsageError } from "./args.ts";
import { parseBaud, parseChip } from "./args.ts";

/** Keys espdelta.json may set, with their global option names. */
const KEYS = ["port", "baud", "chip", "before", "after", "stub", "connectAttempts"] as const;

/** The config file's name. */
export const CONFIG_FILE = "espdelta.json";

/** Reads espdelta.json from `dir`; undefined when there is none. */
export async function readConfig(dir = "."): Promise<Record<string, unknown> | undefined> {
  const path = `${dir}/${CONFIG_FILE}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new UsageError(`${path} must hold a JSON object, e.g. {"port": "/dev/ttyUSB0"}`);
  }
  for (const k of Object.keys(json)) {
    if (!(KEYS as readonly string[]).includes(k)) {
      throw new UsageError(`${path}: unknown key '${k}'; known keys: ${KEYS.join(", ")}`);
    }
  }
  return json as Record<string, unknown>;
}

/**
 * Applies config values to the program's global options where the command
 * line and environment gave none. Returns lines saying where each value
 * came from, for --trace.
 */
export function applyConfig(
  program: Command,
  config: Record<string, unknown> | undefined,
): string[] {
  const where: string[] = [];
  for (const key of KEYS) {
    const source = program.getOptionValueSource(key);
    const value = config?.[key];
    if (value !== undefined && (source === undefined || source === "default")) {
      let v: unknown = value;
      if (key === "port") v = Array.isArray(value) ? value.map(String) : [String(value)];
      if (key === "baud") v = parseBaud(String(value));
      if (key === "chip") {
        parseChip(String(value));
        v = String(value);
      }
      program.setOptionValueWithSource(key, v, "config");
    }
    const final = program.getOptionValueSource(key);
    const shown = JSON.stringify(program.getOptionValue(key));
    const label = final === "config"
      ? CONFIG_FILE
      : final === "env"
      ? "environment"
      : final ?? "unset";
    where.push(`${key} = ${shown ?? "undefined"} (from ${label})`);
  }
  return where;
}

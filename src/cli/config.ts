/**
 * Defaults from the environment (ESPDELTA_PORT, ESPDELTA_BAUD, ESPDELTA_CHIP)
 * and an optional `espdelta.json` in the project folder (the current
 * directory). Precedence: command line, then environment, then
 * espdelta.json, then built-in defaults. `--trace` prints where each value
 * came from, and an error about a value from a default names its source.
 * @module
 */

import type { Command } from "./deps.ts";
import { parseBaudOrAuto, parseChip, parseCount, UsageError } from "./args.ts";
import type { EspdeltaError } from "../protocol/errors.ts";

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

/** The environment variables espdelta reads, with their global option names. */
export const ENV_VARS = {
  port: "ESPDELTA_PORT",
  baud: "ESPDELTA_BAUD",
  chip: "ESPDELTA_CHIP",
} as const;

type Key = typeof KEYS[number];

const BEFORE = ["default-reset", "usb-reset", "no-reset", "no-reset-no-sync"];
const AFTER = ["hard-reset", "soft-reset", "no-reset", "no-reset-stub", "watchdog-reset"];

/**
 * A default's value as the option holds it, or a UsageError that starts
 * with where the value came from (`ESPDELTA_BAUD: invalid baud rate ...`).
 */
function parseDefault(key: Key, value: unknown, from: string): unknown {
  const fail = (why: string) => new UsageError(`${from}: ${why}`);
  const text = (v: unknown) => {
    if (typeof v !== "string" && typeof v !== "number") {
      throw fail(`'${key}' must be a string, got ${JSON.stringify(v)}`);
    }
    return String(v);
  };
  try {
    switch (key) {
      case "port":
        return Array.isArray(value) ? value.map(text) : [text(value)];
      case "baud":
        return parseBaudOrAuto(text(value));
      case "chip":
        parseChip(text(value));
        return text(value);
      case "before":
      case "after": {
        const choices = key === "before" ? BEFORE : AFTER;
        if (!choices.includes(text(value))) {
          throw fail(`'${key}' must be one of ${choices.join(", ")} (got '${text(value)}')`);
        }
        return text(value);
      }
      case "stub":
        return text(value);
      case "connectAttempts":
        return parseCount(text(value), "connect attempts");
    }
  } catch (e) {
    if (e instanceof UsageError && !e.message.startsWith(`${from}: `)) throw fail(e.message);
    throw e;
  }
}

/**
 * Applies defaults where the command line gave none: `ESPDELTA_*` variables
 * from `env` first, then espdelta.json's values. A bad value is refused
 * naming where it came from. Returns lines saying where each value came
 * from, for --trace.
 */
export function applyConfig(
  program: Command,
  config: Record<string, unknown> | undefined,
  env: Readonly<Record<string, string | undefined>> = {},
  configPath = `./${CONFIG_FILE}`,
): string[] {
  const where: string[] = [];
  const unset = (key: string) => {
    const source = program.getOptionValueSource(key);
    return source === undefined || source === "default";
  };
  for (const [key, name] of Object.entries(ENV_VARS)) {
    const value = env[name];
    if (value !== undefined && value !== "" && unset(key)) {
      program.setOptionValueWithSource(key, parseDefault(key as Key, value, name), "env");
    }
  }
  for (const key of KEYS) {
    const value = config?.[key];
    if (value !== undefined && unset(key)) {
      program.setOptionValueWithSource(key, parseDefault(key, value, configPath), "config");
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

/**
 * Where the value of global option `key` came from, when it was not the
 * command line: the variable's name, or the config file's path.
 */
export function defaultSource(
  program: Command,
  key: Key,
  configPath = `./${CONFIG_FILE}`,
): string | undefined {
  const source = program.getOptionValueSource(key);
  if (source === "env") return ENV_VARS[key as keyof typeof ENV_VARS];
  if (source === "config") return configPath;
  return undefined;
}

/** Port errors (serial/) whose value may have come from a default. */
const PORT_CODES = new Set([
  "PORT_NOT_FOUND",
  "PORT_BUSY",
  "PERMISSION_DENIED",
  "NOT_A_PORT",
  "PORT_IO",
  "USAGE",
]);

/**
 * Adds to an error's line where the value it is about came from, when that
 * was an `ESPDELTA_*` variable or espdelta.json: a port that does not open,
 * a chip that is not the one found, a stub file that does not load. The
 * user then knows what to change.
 */
export function nameSource(e: EspdeltaError, program: Command): void {
  const add = (key: Key, what: string) => {
    const from = defaultSource(program, key);
    if (from) e.message += ` (${what} came from ${from})`;
  };
  const ports = (program.getOptionValue("port") as string[] | undefined) ?? [];
  if (PORT_CODES.has(e.code) && ports.some((p) => e.message.includes(p))) add("port", "the port");
  else if (e.code === "WRONG_CHIP" && e.message.includes("--chip")) add("chip", "the chip");
  else if (
    (e.code === "FILE_NOT_FOUND" || e.code === "BAD_STUB") &&
    e.message.includes(String(program.getOptionValue("stub")))
  ) add("stub", "the stub");
}

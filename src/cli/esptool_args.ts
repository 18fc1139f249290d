/**
 * esptool's command line, as IDEs and build systems write it, turned into
 * espdelta's. esptool v5 spells commands, options and reset modes with
 * hyphens and still takes v4's underscores with a deprecation warning; IDEs
 * write either. This pass runs before the argument parser, in both the
 * `espdelta` and the `esptool` personalities:
 *
 * - `@FILE` arguments are replaced by the file's words (each line split as a
 *   POSIX shell would, as esptool does for ESP-IDF's `@flash_args`);
 * - `write_flash`, `--flash_mode`, `--before default_reset` become
 *   `write-flash`, `--flash-mode`, `--before default-reset`, each with a
 *   one-line note;
 * - esptool's two-letter short options `-fm`, `-ff`, `-fs` become their long
 *   forms (a parser takes `-fm` as `-f -m`);
 * - after `write-flash` and `read-flash`, `-p` is esptool's `--no-progress`,
 *   not the port; `-z`, `-u`, `-e` are spelled out as `--compress`,
 *   `--no-compress`, `--erase-all`;
 * - `--port-filter vid=1 pid=2` (esptool takes several values after one
 *   flag) becomes one flag per value.
 *
 * @example
 * ```ts
 * import { normalizeArgs } from "./esptool_args.ts";
 * import assert from "node:assert/strict";
 *
 * const r = normalizeArgs(
 *   ["--before", "default_reset", "write_flash", "-z", "-fm", "dio", "-p", "0x0", "boot.bin"],
 *   { valueOptions: ["--before"] },
 * );
 * assert.deepEqual(r.args, [
 *   "--before", "default-reset", "write-flash", "--compress", "--flash-mode", "dio",
 *   "--no-progress", "0x0", "boot.bin",
 * ]);
 * assert.equal(r.notes[0], "Deprecated: Choice 'default_reset' for option '--before' is deprecated. Use 'default-reset' instead.");
 * ```
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";

/** An argument file that cannot be read or split. */
export class ArgumentFileError extends EspdeltaError {
  /** Code `BAD_ARGUMENT_FILE`. */
  constructor(message: string) {
    super("BAD_ARGUMENT_FILE", message);
  }
}

/** What {@link normalizeArgs} needs to know about the program it feeds. */
export interface NormalizeOptions {
  /** Global options that take a value (long and short forms), to find the command word. */
  valueOptions: readonly string[];
  /** Reads an `@FILE` argument file (default: Deno.readTextFileSync). */
  readFile?: (path: string) => string;
}

/** The rewritten arguments and the notes to show for deprecated spellings. */
export interface Normalized {
  /** Arguments in espdelta's spelling. */
  args: string[];
  /** One line per deprecated spelling met, as esptool words them. */
  notes: string[];
  /** Whether an `@FILE` was expanded (esptool then echoes the full command). */
  expanded: boolean;
}

/** v4 option names esptool v5 still takes, with their v5 names. */
const RENAMED_OPTIONS: Readonly<Record<string, string>> = {
  "--flash_size": "--flash-size",
  "--flash_freq": "--flash-freq",
  "--flash_mode": "--flash-mode",
  "--use_segments": "--use-segments",
  "--ignore_flash_encryption_efuse_setting": "--ignore-flash-enc-efuse",
  "--fill-flash-size": "--pad-to-size",
  "--no-diff-verify": "--trust-flash-content",
};

/** esptool's two-letter short options. */
const MULTI_SHORT: Readonly<Record<string, string>> = {
  "-fm": "--flash-mode",
  "-ff": "--flash-freq",
  "-fs": "--flash-size",
};

/** Short flags of esptool's write-flash and read-flash, spelled out. */
const COMMAND_SHORT: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  "write-flash": {
    "-p": "--no-progress",
    "-z": "--compress",
    "-u": "--no-compress",
    "-e": "--erase-all",
  },
  "read-flash": { "-p": "--no-progress" },
  "verify-flash": { "-d": "--diff" },
};

/** Options whose values are reset modes, which v4 spelled with underscores. */
const RESET_MODE_OPTIONS = new Set(["--before", "--after", "-a"]);

/** Splits one line into words as a POSIX shell does (quotes, backslashes), as Python's shlex. */
export function shellWords(line: string, where = "argument file"): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else word += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === "\\" && i + 1 < line.length && '"\\$`\n'.includes(line[i + 1])) {
        word += line[++i];
      } else word += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === "\\") {
      if (i + 1 < line.length) word += line[++i];
      inWord = true;
    } else if (ch === "#" && !inWord) {
      break; // A comment, as shlex reads it.
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote) throw new ArgumentFileError(`${where}: a ${quote} quote is not closed`);
  if (inWord) words.push(word);
  return words;
}

/** Replaces each `@FILE` argument with the words of the file, line by line. */
export function expandArgumentFiles(
  argv: readonly string[],
  readFile: (path: string) => string = Deno.readTextFileSync,
): { args: string[]; expanded: boolean } {
  const args: string[] = [];
  let expanded = false;
  for (const arg of argv) {
    if (!arg.startsWith("@") || arg.length === 1) {
      args.push(arg);
      continue;
    }
    const path = arg.slice(1);
    let text: string;
    try {
      text = readFile(path);
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
      throw new ArgumentFileError(`cannot read the argument file ${path}: ${why}`);
    }
    expanded = true;
    for (const line of text.split(/\r?\n/)) args.push(...shellWords(line, path));
  }
  return { args, expanded };
}

/** Rewrites esptool v4/v5 spellings into espdelta's; see the module docs. */
export function normalizeArgs(argv: readonly string[], options: NormalizeOptions): Normalized {
  const { args: input, expanded } = expandArgumentFiles(argv, options.readFile);
  const valueOptions = new Set(options.valueOptions);
  const notes: string[] = [];
  const out: string[] = [];
  let command: string | undefined;

  for (let i = 0; i < input.length; i++) {
    const token = input[i];
    if (token === "--") {
      out.push(...input.slice(i));
      break;
    }
    if (!token.startsWith("-") || token === "-" || /^-\d/.test(token)) {
      if (command === undefined) {
        command = token;
        if (token.includes("_")) {
          const hyphen = token.replaceAll("_", "-");
          notes.push(`Deprecated: Command '${token}' is deprecated. Use '${hyphen}' instead.`);
          command = hyphen;
        }
        out.push(command);
      } else out.push(token);
      continue;
    }

    const eq = token.startsWith("--") ? token.indexOf("=") : -1;
    let name = eq > 0 ? token.slice(0, eq) : token;
    let value = eq > 0 ? token.slice(eq + 1) : undefined;
    if (RENAMED_OPTIONS[name]) {
      notes.push(
        `Deprecated: Option '${name}' is deprecated. Use '${RENAMED_OPTIONS[name]}' instead.`,
      );
      name = RENAMED_OPTIONS[name];
    }
    name = MULTI_SHORT[name] ?? name;
    if (command !== undefined) name = COMMAND_SHORT[command]?.[name] ?? name;

    if (command === undefined && name === "--port-filter") {
      // esptool takes every following key=value word; espdelta one per flag.
      const values = value !== undefined ? [value] : [];
      while (i + 1 < input.length && !input[i + 1].startsWith("-") && input[i + 1].includes("=")) {
        values.push(input[++i]);
      }
      for (const v of values) out.push("--port-filter", v);
      if (values.length === 0) out.push(name);
      continue;
    }

    const takesValue = command === undefined && valueOptions.has(name) && value === undefined;
    if (takesValue && i + 1 < input.length) value = input[++i];
    if (value !== undefined && RESET_MODE_OPTIONS.has(name) && value.includes("_")) {
      const hyphen = value.replaceAll("_", "-");
      const long = name === "-a" ? "--after" : name;
      notes.push(
        `Deprecated: Choice '${value}' for option '${long}' is deprecated. Use '${hyphen}' instead.`,
      );
      value = hyphen;
    }
    if (value === undefined) out.push(name);
    else if (eq > 0) out.push(`${name}=${value}`);
    else out.push(name, value);
  }
  return { args: out, notes, expanded };
}

/** The part of a commander option {@link valueOptionsOf} reads. */
export interface OptionShape {
  /** `--port`. */
  long?: string;
  /** `-p`. */
  short?: string;
  /** Takes a required value. */
  required?: boolean;
  /** Takes an optional value. */
  optional?: boolean;
}

/** The long and short names of a program's options that take a value. */
export function valueOptionsOf(program: { options: readonly OptionShape[] }): string[] {
  return program.options.filter((o) => o.required || o.optional)
    .flatMap((o) => [o.long, o.short])
    .filter((n): n is string => n !== undefined);
}

/**
 * Which command line the program speaks: espdelta's own, or esptool's, so
 * that an IDE configured to run "esptool" runs espdelta. The name the
 * program was started under decides, as busybox's applets do:
 *
 * - `ESPDELTA_PERSONALITY=esptool` (or `espdelta`) in the environment wins;
 *   wrapper scripts and tests set it;
 * - the main module's file name (`deno run -A esptool.py`, or a symlink named
 *   `esptool` to the bundle, which has no relative imports to break);
 * - the name the process was started as (argv[0], from /proc/self/cmdline
 *   on Linux): a symlink named `esptool` to the compiled binary;
 * - the executable's own file name: a copy of the compiled binary named
 *   `esptool` or `esptool.exe`.
 *
 * `espdelta esptool ARGS` asks for the esptool personality explicitly
 * (main.ts).
 *
 * @example
 * ```ts
 * import { detectPersonality } from "./personality.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(detectPersonality({ mainModule: "file:///opt/espdelta/cli.ts" }), "espdelta");
 * assert.equal(detectPersonality({ mainModule: "file:///usr/local/bin/esptool.py" }), "esptool");
 * assert.equal(detectPersonality({ argv0: "/home/me/bin/esptool", execPath: "/opt/espdelta" }), "esptool");
 * assert.equal(detectPersonality({ env: "esptool", mainModule: "file:///x/cli.ts" }), "esptool");
 * ```
 * @module
 */

import { UsageError } from "./args.ts";

/** The two command lines. */
export type Personality = "espdelta" | "esptool";

/** What the process knows about how it was started; every field optional. */
export interface StartFacts {
  /** `ESPDELTA_PERSONALITY`. */
  env?: string;
  /** `Deno.mainModule`. */
  mainModule?: string;
  /** argv[0] as the operating system passed it. */
  argv0?: string;
  /** `Deno.execPath()`. */
  execPath?: string;
}

/** File names esptool is installed under (pip, the release binaries, Arduino's tools folder). */
const ESPTOOL_NAMES = new Set(["esptool", "esptool.py", "esptool.exe", "esptool.py.exe"]);

/** Whether `path` (a file path or a file: URL) names esptool. */
export function isEsptoolName(path: string | undefined): boolean {
  if (!path) return false;
  const base = path.split(/[\\/]/).pop()!.toLowerCase();
  return ESPTOOL_NAMES.has(base);
}

/** The personality `facts` ask for; see the module docs for the order. */
export function detectPersonality(facts: StartFacts): Personality {
  if (facts.env !== undefined && facts.env !== "") {
    const v = facts.env.toLowerCase();
    if (v === "esptool" || v === "espdelta") return v;
    throw new UsageError(
      `ESPDELTA_PERSONALITY is '${facts.env}': use esptool or espdelta, or unset it`,
    );
  }
  return [facts.mainModule, facts.argv0, facts.execPath].some(isEsptoolName)
    ? "esptool"
    : "espdelta";
}

/** argv[0] from /proc/self/cmdline (Linux); undefined elsewhere or when unreadable. */
function procArgv0(): string | undefined {
  try {
    const cmdline = Deno.readFileSync("/proc/self/cmdline");
    const end = cmdline.indexOf(0);
    return new TextDecoder().decode(cmdline.subarray(0, end < 0 ? cmdline.length : end));
  } catch {
    return undefined;
  }
}

/** The facts of this process. */
export function startFacts(): StartFacts {
  let env: string | undefined;
  try {
    env = Deno.env.get("ESPDELTA_PERSONALITY");
  } catch {
    env = undefined; // No --allow-env: names alone decide.
  }
  let execPath: string | undefined;
  try {
    execPath = Deno.execPath();
  } catch {
    execPath = undefined;
  }
  return { env, mainModule: Deno.mainModule, argv0: procArgv0(), execPath };
}

/**
 * Runs the espdelta CLI as a subprocess, as users do.
 * @module
 */

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

/** What a run printed and returned. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `program args` and collects its exit code and output as text. */
export async function runProgram(
  program: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; clearEnv?: boolean } = {},
): Promise<Run> {
  const out = await new Deno.Command(program, {
    args,
    cwd: options.cwd,
    env: options.env,
    clearEnv: options.clearEnv,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/**
 * One cache folder for the runs of this test process (the rates --baud auto
 * remembers), so tests never write into the user's ~/.cache.
 */
let testCache: string | undefined;

/**
 * Runs `espdelta ...args` with NO_COLOR, a clean ESPDELTA_* environment and
 * a cache folder of the test process's own (unless `env` names one).
 */
export function espdelta(
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<Run> {
  testCache ??= Deno.makeTempDirSync({ prefix: "espdelta-test-cache-" });
  return runProgram(Deno.execPath(), ["run", "-A", "--quiet", CLI, ...args], {
    env: { NO_COLOR: "1", XDG_CACHE_HOME: testCache, ...env },
    cwd,
  });
}

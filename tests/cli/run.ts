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

/** Runs `espdelta ...args` with NO_COLOR and a clean ESPDELTA_* environment. */
export function espdelta(
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<Run> {
  return runProgram(Deno.execPath(), ["run", "-A", "--quiet", CLI, ...args], {
    env: { NO_COLOR: "1", ...env },
    cwd,
  });
}

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

/** Runs `espdelta ...args` with NO_COLOR and a clean ESPDELTA_* environment. */
export async function espdelta(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const clean: Record<string, string> = { NO_COLOR: "1", ...env };
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, ...args],
    env: clean,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

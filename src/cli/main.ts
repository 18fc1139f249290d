/**
 * Builds the command tree and runs it; each command lives in its own file.
 * @module
 */

/** Runs the CLI with `args`; resolves with the process exit code. */
export function main(args: string[]): Promise<number> {
  console.error(`espdelta: no commands yet (${args.join(" ")})`);
  return Promise.resolve(2);
}

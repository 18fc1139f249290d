/**
 * Builds the command tree and runs it. Each command lives in its own file and
 * registers itself on the program (global options: options.ts); this file
 * owns exit codes and error reporting.
 *
 * Exit codes: 0 ok, 1 device or protocol failure, 2 usage or bad input,
 * 3 verify mismatch.
 * @module
 */

import { CommanderError } from "./deps.ts";
import { EspdeltaError } from "../protocol/errors.ts";
import { Output } from "./output.ts";
import { applyConfig, nameSource, readConfig } from "./config.ts";
import { createProgram, type Program } from "./options.ts";
import { Interrupt, INTERRUPTED_EXIT_CODE, type StopKind } from "./interrupt.ts";
import { normalizeArgs, valueOptionsOf } from "./esptool_args.ts";
import { detectPersonality, type Personality, startFacts } from "./personality.ts";
import { esptoolMain } from "./esptool.ts";

export { ExitCode, exitCodeFor } from "./exit.ts";
import { ExitCode, exitCodeFor } from "./exit.ts";

/** Builds the program with every command registered. */
async function buildProgram(out: () => Output): Promise<Program> {
  const program = createProgram();
  const modules = await Promise.all([
    import("./chip_id.ts"),
    import("./read_mac.ts"),
    import("./flash_id.ts"),
    import("./write_flash.ts"),
    import("./verify_flash.ts"),
    import("./read_flash.ts"),
    import("./erase.ts"),
    import("./flash.ts"),
    import("./emulate.ts"),
    import("./demo.ts"),
    import("./image_info.ts"),
    import("./merge_bin.ts"),
    import("./ports.ts"),
    import("./security_info.ts"),
    import("./flash_status.ts"),
    import("./memory.ts"),
    import("./ram.ts"),
    import("./version_cmd.ts"),
  ]);
  for (const m of modules) m.register(program, out);
  return program;
}

/**
 * Runs the CLI with `args`; resolves with the exit code. The personality
 * (personality.ts) is the name the program was started under unless given:
 * as `esptool` it takes esptool's command line (esptool.ts), as does
 * `espdelta esptool ARGS`.
 */
export async function main(args: string[], personality?: Personality): Promise<number> {
  let output: Output | undefined;
  let notes: string[] = [];
  try {
    personality ??= detectPersonality(startFacts());
  } catch (e) {
    // The output is non-blocking (sink.ts): let the line out before the exit.
    const o = new Output();
    o.error((e as Error).message, "USAGE", ExitCode.USAGE);
    await o.flush();
    return ExitCode.USAGE;
  }
  if (personality === "esptool") return await esptoolMain(args);
  if (args[0] === "esptool") return await esptoolMain(args.slice(1));
  const out = () => output!;
  const current = () => output ??= new Output({ json: args.includes("--json") });
  // Ctrl-C outside a write (or a second one) stops at once: terminal back, one line, 130.
  const interrupt = new Interrupt((how: StopKind) => {
    const o = current();
    o.restoreTerminal();
    o.interrupted(how);
    o.flush(200).finally(() => Deno.exit(INTERRUPTED_EXIT_CODE));
  });
  const program = await buildProgram(out);
  program.hook("preAction", async (_program, action) => {
    const where = applyConfig(program, await readConfig(), Deno.env.toObject());
    // json, quiet and trace are global options only: the program holds them.
    const g = program.opts();
    output = new Output({ json: g.json, quiet: g.quiet, trace: g.trace, interrupt });
    for (const note of notes) output.warn(note);
    for (const line of where) output.trace(line);
    // emulate serves until a signal and handles it itself.
    if (action.name() !== "emulate") interrupt.listen();
  });
  try {
    // esptool's spellings (v4 and v5) and @FILE argument files, as IDEs write them.
    const normalized = normalizeArgs(args, { valueOptions: valueOptionsOf(program) });
    notes = normalized.notes;
    await program.parseAsync(normalized.args, { from: "user" });
    return ExitCode.OK;
  } catch (e) {
    if (interrupt.signal.aborted) {
      // A write stopped at its safe point (after the block in flight), unless
      // the run is already stopping at once and has said so.
      if (!interrupt.stopping) {
        current().restoreTerminal();
        current().interrupted("safe-point");
      }
      return INTERRUPTED_EXIT_CODE;
    }
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return 0;
      if (e.code === "commander.help") return 0;
      return ExitCode.USAGE;
    }
    if (e instanceof EspdeltaError) nameSource(e, program);
    const code = exitCodeFor(e);
    const message = e instanceof Error ? e.message : String(e);
    current().error(message, e instanceof EspdeltaError ? e.code : "INTERNAL", code);
    if (!(e instanceof EspdeltaError) && e instanceof Error && e.stack) current().trace(e.stack);
    return code;
  } finally {
    interrupt.close();
    // Out before the process exits, unless the reader stopped reading (sink.ts).
    await output?.flush();
  }
}

/**
 * The esptool personality: espdelta started as `esptool` or `esptool.py`
 * (personality.ts), or as `espdelta esptool ARGS`, takes esptool v5's
 * command line exactly as IDEs and build systems write it (v4 spellings and
 * `@FILE` argument files too, esptool_args.ts) and prints esptool's lines,
 * so a tool that runs "esptool" runs espdelta. Global options come before
 * the command, as esptool parses them; the environment's defaults are
 * ESPTOOL_PORT, ESPTOOL_BAUD, ESPTOOL_CHIP (and ESPTOOL_FM/FF/FS for the
 * flash settings); the flashing baud rate defaults to 115200.
 *
 * Exit codes are espdelta's (0 ok, 1 device, 2 usage or input, 3 verify
 * mismatch): every failure is non-zero, as esptool's.
 * @module
 */

import { CommanderError, Option } from "./deps.ts";
import { EspdeltaError } from "../protocol/errors.ts";
import { VERSION } from "../version.ts";
import { Output } from "./output.ts";
import { createProgram, type Program } from "./options.ts";
import { normalizeArgs, valueOptionsOf } from "./esptool_args.ts";
import { ESPTOOL_VERSION } from "./esptool_text.ts";
import { ExitCode, exitCodeFor } from "./exit.ts";
import { UsageError } from "./args.ts";

/** The first line of every command: which program runs, and whose command line it takes. */
export const HEADER = `espdelta ${VERSION} (esptool v${ESPTOOL_VERSION} command line)`;

/** esptool's global options espdelta takes but does not act on, or refuses. */
function addEsptoolOptions(program: Program): void {
  program
    .addOption(new Option("-v, --verbose", "print all output").hideHelp())
    .addOption(new Option("-s, --silent", "only errors and the result line"))
    .addOption(
      new Option("--override-vddsdio <voltage>", "not supported").hideHelp(),
    )
    .addOption(new Option("--stub-version <n>", "esptool's stub flavour").hideHelp());
}

/** Builds the esptool program with its commands. */
async function buildProgram(out: () => Output): Promise<Program> {
  const program = createProgram("esptool");
  // esptool's global options come before the command: `write-flash -p` is --no-progress.
  program.enablePositionalOptions();
  addEsptoolOptions(program);
  const modules = await Promise.all([
    import("./esptool_write.ts"),
    import("./esptool_flash.ts"),
    import("./image_info.ts"),
    import("./merge_bin.ts"),
    import("./security_info.ts"),
    import("./flash_status.ts"),
    import("./memory.ts"),
    import("./ram.ts"),
    import("./version_cmd.ts"),
  ]);
  for (const m of modules) m.register(program, out);
  return program;
}

/** Runs esptool's command line `args`; resolves with the exit code. */
export async function esptoolMain(args: string[]): Promise<number> {
  let output: Output | undefined;
  const out = () => output!;
  const program = await buildProgram(out);
  let notes: string[] = [];
  let echo: string | undefined;
  program.hook("preAction", () => {
    const g = program.opts() as ReturnType<Program["opts"]> & {
      silent?: boolean;
      overrideVddsdio?: string;
      stubVersion?: string;
    };
    output = new Output({
      json: g.json,
      quiet: g.quiet || g.silent,
      trace: g.trace,
      style: "esptool",
    });
    if (echo !== undefined) output.info(echo);
    for (const note of notes) output.warn(note);
    output.info(HEADER);
    if (g.overrideVddsdio !== undefined) {
      throw new UsageError(
        "--override-vddsdio is not supported by espdelta; set the flash voltage with espefuse",
      );
    }
    if (g.stubVersion === "1" && g.stub === undefined) {
      throw new UsageError(
        "--stub-version 1 (esptool v4's stub) is not built in: give its JSON with --stub FILE",
      );
    }
  });
  try {
    const normalized = normalizeArgs(args, { valueOptions: valueOptionsOf(program) });
    notes = normalized.notes;
    // esptool echoes the command line an @FILE expanded to.
    if (normalized.expanded) echo = `esptool ${normalized.args.join(" ")}`;
    await program.parseAsync(normalized.args, { from: "user" });
    return ExitCode.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return 0;
      if (e.code === "commander.help") return 0;
      return ExitCode.USAGE;
    }
    output ??= new Output({ json: args.includes("--json"), style: "esptool" });
    const code = exitCodeFor(e);
    const message = e instanceof Error ? e.message : String(e);
    output.error(message, e instanceof EspdeltaError ? e.code : "INTERNAL", code);
    if (!(e instanceof EspdeltaError) && e instanceof Error && e.stack) output.trace(e.stack);
    return code;
  } finally {
    // Output goes through non-blocking sinks: let them drain before exit.
    await output?.flush();
  }
}

/**
 * Builds the command tree and runs it. Each command lives in its own file and
 * registers itself on the program; this file owns global options, exit codes
 * and error reporting.
 *
 * Exit codes: 0 ok, 1 device or protocol failure, 2 usage or bad input,
 * 3 verify mismatch.
 * @module
 */

import { Command, CommanderError, Option } from "./deps.ts";
import { EspdeltaError } from "../protocol/errors.ts";
import { Output } from "./output.ts";
import { applyConfig, readConfig } from "./config.ts";
import { parseBaud, parseChip, parseCount } from "./args.ts";
import { LICENCE_NOTE, VERSION } from "../version.ts";

export { ExitCode, exitCodeFor } from "./exit.ts";
import { ExitCode, exitCodeFor } from "./exit.ts";

/** Global options every command sees. */
export interface GlobalOptions {
  /** Serial port, socket:// or rfc2217:// URL (several for `flash` on many boards). */
  port?: string[];
  /** `--port-filter` terms (vid=, pid=, name=, serial=). */
  portFilter?: string[];
  /** sysfs and /dev roots for port discovery (tests). */
  sysRoot?: string;
  /** See sysRoot. */
  devRoot?: string;
  /** Baud rate for the session after connecting. */
  baud?: number;
  /** Chip, or auto. */
  chip: string;
  /** Reset before connecting. */
  before: string;
  /** Reset after the command. */
  after: string;
  /** A stub JSON file with --stub FILE, false with --no-stub, else undefined (look up). */
  stub?: string | false;
  /** Custom reset sequence. */
  resetSequence?: string;
  /** Trace packets. */
  trace?: boolean;
  /** Connect attempts. */
  connectAttempts: number;
  /** JSON Lines output. */
  json?: boolean;
  /** Quiet output. */
  quiet?: boolean;
}

/** A command module registers itself with this. */
export type Register = (program: Command, out: () => Output) => void;

/** Builds the program with every command registered. */
export async function buildProgram(out: () => Output): Promise<Command> {
  const program = new Command()
    .name("espdelta")
    .description("Flash Espressif chips and write only what differs.")
    .version(`espdelta ${VERSION}\n${LICENCE_NOTE}`, "-V, --version")
    .addOption(
      new Option(
        "-p, --port <port>",
        "serial port, socket://host:port or rfc2217://host:port (repeat for several boards)",
      ).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v])
        .env("ESPDELTA_PORT"),
    )
    .addOption(
      new Option(
        "--port-filter <filter>",
        "pick ports by USB id or name: vid=0x303a, pid=0x1001, name=ttyUSB, serial=ABC (repeat to narrow)",
      ).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]),
    )
    .addOption(new Option("--sys-root <dir>", "sysfs tree for port discovery").hideHelp())
    .addOption(new Option("--dev-root <dir>", "device folder for port discovery").hideHelp())
    .addOption(
      new Option("-b, --baud <rate>", "baud rate after connecting (default 460800)")
        .argParser(parseBaud).env("ESPDELTA_BAUD"),
    )
    .addOption(
      new Option("-c, --chip <chip>", "target chip, or auto").default("auto").argParser((v) => {
        parseChip(v);
        return v;
      }).env("ESPDELTA_CHIP"),
    )
    .addOption(
      new Option("--before <reset>", "reset before connecting")
        .choices(["default-reset", "usb-reset", "no-reset", "no-reset-no-sync"])
        .default("default-reset"),
    )
    .addOption(
      new Option("--after <reset>", "reset after the command")
        .choices(["hard-reset", "soft-reset", "no-reset", "no-reset-stub", "watchdog-reset"])
        .default("hard-reset"),
    )
    .option("--stub <file>", "flasher stub JSON in esptool's format (default: looked up)")
    .option("--no-stub", "stay with the ROM loader; do not upload a flasher stub")
    .option(
      "--reset-sequence <seq>",
      "custom reset before connecting, e.g. D0|R1|W0.1|D1|R0|W0.05|D0",
    )
    .option("--trace", "print every packet sent and received")
    .addOption(
      new Option("--connect-attempts <n>", "reset and sync attempts").default(7)
        .argParser((v) => parseCount(v, "connect attempts")),
    )
    .option("--json", "JSON Lines events on stdout")
    .option("-q, --quiet", "print only the result line and errors")
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => Deno.stdout.writeSync(new TextEncoder().encode(s)),
      writeErr: (s) => Deno.stderr.writeSync(new TextEncoder().encode(s)),
    });
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
  ]);
  for (const m of modules) m.register(program, out);
  return program;
}

/** Runs the CLI with `args`; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  let output: Output | undefined;
  const out = () => output!;
  const program = await buildProgram(out);
  program.hook("preAction", async (_root, cmd) => {
    const where = applyConfig(program, await readConfig());
    const g = cmd.optsWithGlobals() as unknown as GlobalOptions;
    output = new Output({ json: g.json, quiet: g.quiet, trace: g.trace });
    for (const line of where) output.trace(line);
  });
  try {
    await program.parseAsync(args, { from: "user" });
    return ExitCode.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return 0;
      if (e.code === "commander.help") return 0;
      return ExitCode.USAGE;
    }
    output ??= new Output({ json: args.includes("--json") });
    const code = exitCodeFor(e);
    const message = e instanceof Error ? e.message : String(e);
    output.error(message, e instanceof EspdeltaError ? e.code : "INTERNAL", code);
    if (!(e instanceof EspdeltaError) && e instanceof Error && e.stack) output.trace(e.stack);
    return code;
  }
}

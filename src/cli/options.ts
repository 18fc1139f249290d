/**
 * The program and the global options every command sees, typed by
 * commander's extra-typings: commands register on {@link Program} and read
 * `cmd.optsWithGlobals()` as {@link GlobalOptions} without casts.
 * @module
 */

import { Command, Option } from "./deps.ts";
import { parseBaud, parseChip, parseCount } from "./args.ts";
import { LICENCE_NOTE, VERSION } from "../version.ts";
import type { Output } from "./output.ts";

const addTo = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

/** The program with its global options, before any command is registered. */
export function createProgram() {
  return new Command()
    .name("espdelta")
    .description("Flash Espressif chips and write only what differs.")
    .version(`espdelta ${VERSION}\n${LICENCE_NOTE}`, "-V, --version")
    .addOption(
      new Option(
        "-p, --port <port>",
        "serial port, socket://host:port or rfc2217://host:port (repeat for several boards; " +
          "default: ESPDELTA_PORT)",
      ).argParser(addTo),
    )
    .addOption(
      new Option(
        "--port-filter <filter>",
        "pick ports by USB id or name: vid=0x303a, pid=0x1001, name=ttyUSB, serial=ABC (repeat to narrow)",
      ).argParser(addTo),
    )
    .addOption(new Option("--sys-root <dir>", "sysfs tree for port discovery").hideHelp())
    .addOption(new Option("--dev-root <dir>", "device folder for port discovery").hideHelp())
    .addOption(
      new Option(
        "-b, --baud <rate>",
        "baud rate after connecting (default: ESPDELTA_BAUD, else 460800)",
      ).argParser(parseBaud),
    )
    .addOption(
      new Option("-c, --chip <chip>", "target chip, or auto (default: ESPDELTA_CHIP, else auto)")
        .default("auto").argParser((v) => {
          parseChip(v);
          return v;
        }),
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
      writeOut: (s) => writeQuietly(Deno.stdout, s),
      writeErr: (s) => writeQuietly(Deno.stderr, s),
    });
}

/** Help and usage text: a closed pipe (`espdelta --help | head -1`) is no error. */
function writeQuietly(fd: typeof Deno.stdout | typeof Deno.stderr, text: string): void {
  const bytes = new TextEncoder().encode(text);
  try {
    for (let off = 0; off < bytes.length;) off += fd.writeSync(bytes.subarray(off));
  } catch { /* the reader went away */ }
}

/** The program commands register on. */
export type Program = ReturnType<typeof createProgram>;

/** Global options every command sees, as commander parses them. */
export type GlobalOptions = ReturnType<Program["opts"]>;

/** A command module registers itself with this. */
export type Register = (program: Program, out: () => Output) => void;

/**
 * The program and the global options every command sees, typed by
 * commander's extra-typings: commands register on {@link Program} and read
 * `cmd.optsWithGlobals()` as {@link GlobalOptions} without casts.
 * @module
 */

import { Command, Option } from "./deps.ts";
import { parseBaud, parseBaudOrAuto, parseChip, UsageError } from "./args.ts";
import { LICENCE_NOTE, VERSION } from "../version.ts";
import type { Output } from "./output.ts";

const addTo = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

/**
 * Reset-and-sync attempts as esptool reads them: a positive count, or 0 or
 * a negative number for "until the device answers" (Infinity).
 */
export function parseConnectAttempts(text: string): number {
  const v = Number(text);
  if (!Number.isInteger(v)) {
    throw new UsageError(
      `invalid connect attempts '${text}': use a whole number (0 or negative: keep trying)`,
    );
  }
  return v <= 0 ? Infinity : v;
}

/**
 * The program with its global options, before any command is registered.
 * The `esptool` personality (esptool.ts) takes the same options under
 * esptool's names for the environment (ESPTOOL_PORT, ESPTOOL_BAUD,
 * ESPTOOL_CHIP) and esptool's flashing baud default, 115200.
 */
export function createProgram(personality: "espdelta" | "esptool" = "espdelta") {
  const esptool = personality === "esptool";
  // espdelta's ESPDELTA_* variables are applied, checked and named by
  // config.ts; the esptool personality reads esptool's through commander.
  const env = (option: Option, name: string) => esptool ? option.env(`ESPTOOL_${name}`) : option;
  const prefix = esptool ? "ESPTOOL" : "ESPDELTA";
  const baud = new Option(
    "-b, --baud <rate>",
    esptool
      ? "baud rate after connecting (default: ESPTOOL_BAUD, else 115200)"
      : "baud rate after connecting, or auto: the fastest the chip and its USB bridge carry, " +
        "checked, remembered per port (default: ESPDELTA_BAUD, else auto)",
  ).argParser(esptool ? parseBaud : parseBaudOrAuto);
  env(baud, "BAUD");
  if (esptool) baud.default(115200);
  return new Command()
    .name(personality)
    .description(
      esptool
        ? "esptool's command line, run by espdelta: write-flash writes only what differs."
        : "Flash Espressif chips and write only what differs.",
    )
    .version(`espdelta ${VERSION}\n${LICENCE_NOTE}`, "-V, --version")
    .addOption(
      env(
        new Option(
          "-p, --port <port>",
          "serial port, socket://host:port or rfc2217://host:port (repeat for several boards; " +
            `default: ${prefix}_PORT)`,
        ).argParser(addTo),
        "PORT",
      ) as Option<"-p, --port <port>", undefined, undefined, string[]>,
    )
    .addOption(
      new Option(
        "--port-filter <filter>",
        "pick ports by USB id or name: vid=0x303a, pid=0x1001, name=ttyUSB, serial=ABC (repeat to narrow)",
      ).argParser(addTo),
    )
    .addOption(new Option("--sys-root <dir>", "sysfs tree for port discovery").hideHelp())
    .addOption(new Option("--dev-root <dir>", "device folder for port discovery").hideHelp())
    .addOption(baud as Option<"-b, --baud <rate>", undefined, undefined, number | "auto">)
    .addOption(
      env(
        new Option("-c, --chip <chip>", `target chip, or auto (default: ${prefix}_CHIP, else auto)`)
          .default("auto").argParser((v) => {
            parseChip(v);
            return v;
          }),
        "CHIP",
      ) as Option<"-c, --chip <chip>", undefined, "auto", string>,
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
    .addOption(
      // esptool's -t; espdelta keeps -t free (merge-bin's --target-offset), as its
      // global options are recognised after the command too.
      new Option(
        esptool ? "-t, --trace" : "--trace",
        "print every packet sent and received",
      ) as Option<
        "--trace"
      >,
    )
    .addOption(
      new Option("--connect-attempts <n>", "reset and sync attempts; 0: until the device answers")
        .default(7).argParser(parseConnectAttempts),
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

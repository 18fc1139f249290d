/**
 * `espdelta monitor`: reset the chip into its app and show what it prints,
 * line by line; and the parts `flash --monitor` and `watch` share: the
 * monitor options, the line printer (timestamps, log file, ELF names for
 * code addresses, `--until`) and the monitor loop with its keys.
 *
 * Exit codes: 0 when the user quit, `--until` matched or `--for` ran out
 * without `--until`; 4 when `--until` saw no match within `--for`.
 * @module
 */

import type { ChipName } from "../chips/chips.ts";
import { type Elf, parseElf } from "../image/elf.ts";
import { stripAnsi } from "../monitor/boot_check.ts";
import { decodeAddresses } from "../monitor/decode.ts";
import { LineReader, type MonitorLine } from "../monitor/lines.ts";
import { resetToApp } from "../monitor/monitor.ts";
import { listPorts } from "../serial/list.ts";
import { openPort } from "../serial/open.ts";
import type { Port } from "../serial/port.ts";
import { beforeResetFor } from "../session/session.ts";
import { parseBaud, parseChip, UsageError } from "./args.ts";
import type { Command } from "./deps.ts";
import { pc } from "./deps.ts";
import { MonitorTimeoutError } from "./exit.ts";
import type { GlobalOptions, Program } from "./options.ts";
import type { Output } from "./output.ts";
import { singlePort } from "./session.ts";
import { KEY_HELP, type KeyAction, KeyReader } from "./terminal.ts";

/** The chip's console rate: 115200, the ESP8266's 74880 (its ROM's rate on a 26 MHz crystal). */
export function consoleBaud(chip?: ChipName): number {
  return chip === "esp8266" ? 74880 : 115200;
}

function parseSeconds(text: string): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0) {
    throw new UsageError(`invalid --for '${text}': use a number of seconds such as 10 or 2.5`);
  }
  return v;
}

/**
 * Adds how the monitor prints (baud, timestamps, log, ELF) to a command.
 * The command's typed options are left as they were (commander's inferred
 * option types grow too slow for tsc with every option chained on): read
 * these through {@link MonitorFlags}.
 */
export function withPrinterOptions<C>(command: C): C {
  printerOptions(command as unknown as Command);
  return command;
}

function printerOptions(command: Command): Command {
  return command
    .option(
      "--monitor-baud <rate>",
      "the chip's console rate (default 115200; ESP8266: 74880)",
      parseBaud,
    )
    .option("--timestamps", "prefix each line with the local time it arrived (ms)")
    .option("--log <file>", "append every line, with its date and time, to FILE")
    .option("--elf <file>", "the app's ELF file: name the code addresses of panics and backtraces");
}

/**
 * Adds the monitor's options (printing, and `--until`/`--for` for CI) to a
 * command; read them through {@link MonitorFlags}.
 */
export function withMonitorOptions<C>(command: C): C {
  printerOptions(command as unknown as Command)
    .option("--until <regex>", "exit 0 as soon as a line matches REGEX")
    .option(
      "--for <seconds>",
      "stop after SECONDS (with --until: exit 4 if nothing matched)",
      parseSeconds,
    );
  return command;
}

/** The monitor options as commander gives them. */
export interface MonitorFlags {
  /** --monitor-baud. */
  monitorBaud?: number;
  /** --timestamps. */
  timestamps?: boolean;
  /** --log FILE. */
  log?: string;
  /** --elf FILE. */
  elf?: string;
  /** --until REGEX. */
  until?: string;
  /** --for SECONDS. */
  for?: number;
}

/** The monitor options, checked and loaded. */
export interface MonitorSettings {
  /** The rate to read the chip's console at. */
  baud: number;
  /** Local-time prefix on each line. */
  timestamps: boolean;
  /** Log file, appended to. */
  log?: string;
  /** The app's ELF file, parsed. */
  elf?: Elf;
  /** Where it came from. */
  elfPath?: string;
  /** `--until`. */
  until?: RegExp;
  /** `--for`, in ms. */
  forMs?: number;
}

/**
 * Checks the monitor options before any port is opened: a bad regex or an
 * unreadable ELF file is a usage error. `foundElf` is an ELF file found in
 * the build folder (used when `--elf` is not given; a bad one is skipped
 * with a warning).
 */
export async function monitorSettings(
  flags: MonitorFlags,
  o: Output,
  chip?: ChipName,
  foundElf?: string,
): Promise<MonitorSettings> {
  let until: RegExp | undefined;
  if (flags.until !== undefined) {
    try {
      until = new RegExp(flags.until);
    } catch (e) {
      throw new UsageError(`invalid --until '${flags.until}': ${(e as Error).message}`);
    }
  }
  let elf: Elf | undefined;
  let elfPath: string | undefined;
  if (flags.elf !== undefined) {
    elfPath = flags.elf;
    elf = await readElf(flags.elf, (m) => {
      throw new UsageError(`--elf ${flags.elf}: ${m}`);
    });
  } else if (foundElf) {
    elf = await readElf(foundElf, (m) => {
      o.warn(`${foundElf}: ${m}; addresses will not be named`);
      return undefined;
    });
    if (elf) elfPath = foundElf;
  }
  return {
    baud: flags.monitorBaud ?? consoleBaud(chip),
    timestamps: flags.timestamps ?? false,
    ...(flags.log !== undefined ? { log: flags.log } : {}),
    ...(elf ? { elf, elfPath } : {}),
    ...(until ? { until } : {}),
    ...(flags.for !== undefined ? { forMs: flags.for * 1000 } : {}),
  };
}

async function readElf(
  path: string,
  fail: (message: string) => Elf | undefined,
): Promise<Elf | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    return fail(
      e instanceof Deno.errors.NotFound
        ? "no such file"
        : `cannot read it (${(e as Error).message})`,
    );
  }
  try {
    return parseElf(bytes, path);
  } catch (e) {
    return fail((e as Error).message);
  }
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** `12:34:56.789`, local time. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${
    pad(d.getMilliseconds(), 3)
  }`;
}

/** `2026-12-03 12:34:56.789`, local time. */
export function dateTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clockTime(ms)}`;
}

const encoder = new TextEncoder();

function writeAll(fd: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let off = 0;
  while (off < bytes.length) off += fd.writeSync(bytes.subarray(off));
}

/** Where {@link LinePrinter} writes; injectable for tests. */
export interface PrinterOptions {
  /** Writes text to the terminal (default: stdout). */
  write?: (text: string) => void;
  /** Keep the chip's ANSI colours (default: stdout is a terminal and NO_COLOR is unset). */
  color?: boolean;
  /** True while lines must end in CR LF (a terminal in raw mode). */
  crlf?: () => boolean;
}

/**
 * Prints the chip's lines as the options ask: on stdout in text mode (an
 * unfinished line without its end, so a prompt shows), as `line` events
 * with `--json`, in the log file with date and time, with the ELF's names
 * for code addresses after the line (`--- 0x42000054: app_main at
 * main.c:12`). It also watches for `--until`.
 */
export class LinePrinter {
  /** The first line that matched `--until`, if any. */
  matched: string | undefined;
  readonly #o: Output;
  readonly #settings: MonitorSettings;
  readonly #write: (text: string) => void;
  readonly #color: boolean;
  readonly #crlf: () => boolean;
  #log: Deno.FsFile | undefined;
  #partial = "";
  #midLine = false;

  /** Prints through `o` with `settings`; opens the log file (append). */
  constructor(o: Output, settings: MonitorSettings, options: PrinterOptions = {}) {
    this.#o = o;
    this.#settings = settings;
    this.#write = options.write ?? ((t) => writeAll(Deno.stdout, t));
    this.#color = options.color ??
      (Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR") && pc.isColorSupported);
    this.#crlf = options.crlf ?? (() => false);
    if (settings.log !== undefined) {
      try {
        this.#log = Deno.openSync(settings.log, { append: true, create: true });
      } catch (e) {
        throw new UsageError(`--log ${settings.log}: cannot open it (${(e as Error).message})`);
      }
    }
  }

  /** Prints one line from the reader. */
  line(line: MonitorLine): void {
    const whole = this.#partial + line.text;
    this.#partial = line.complete ? "" : whole;
    const plain = stripAnsi(whole);
    const decoded = line.complete && this.#settings.elf
      ? decodeAddresses(plain, this.#settings.elf)
      : [];
    if (this.#settings.until && this.matched === undefined && this.#settings.until.test(plain)) {
      this.matched = plain;
    }
    if (this.#o.json) {
      this.#o.event("line", {
        time: new Date(line.time).toISOString(),
        text: plain,
        ...(line.complete ? {} : { complete: false }),
        ...(decoded.length ? { decoded } : {}),
      });
    } else {
      const eol = this.#crlf() ? "\r\n" : "\n";
      const stamp = this.#settings.timestamps ? `[${clockTime(line.time)}] ` : "";
      const text = this.#color ? line.text : stripAnsi(line.text);
      let out = (this.#midLine ? "" : stamp) + text + (line.complete ? eol : "");
      for (const d of decoded) {
        out += `${stamp}${this.#color ? pc.yellow(`--- ${d}`) : `--- ${d}`}${eol}`;
      }
      this.#write(out);
      this.#midLine = !line.complete;
    }
    if (this.#log && line.complete) {
      const at = dateTime(line.time);
      writeAll(
        this.#log,
        [plain, ...decoded.map((d) => `--- ${d}`)].map((l) => `${at} ${l}\n`).join(""),
      );
    }
  }

  /** Ends an unfinished line on the terminal, so what follows starts on its own line. */
  endLine(): void {
    if (this.#midLine && !this.#o.json) this.#write(this.#crlf() ? "\r\n" : "\n");
    this.#midLine = false;
  }

  /** Closes the log file. */
  close(): void {
    this.endLine();
    this.#log?.close();
    this.#log = undefined;
  }
}

/** How a monitor ended. */
export type MonitorEnd = "matched" | "timeout" | "time-up" | "quit" | "stopped";

/** What {@link runMonitor} needs. */
export interface MonitorRun {
  /** The port, for keys and resets. */
  port: Port;
  /** The reader on it (perhaps already used by a boot check). */
  reader: LineReader;
  /** The printer (perhaps already used by a boot check). */
  printer: LinePrinter;
  /** The settings. */
  settings: MonitorSettings;
  /** The output. */
  o: Output;
  /** When reading began (after the reset): `--for` counts from here. */
  startedAt: number;
  /** Reset with Espressif's USB-Serial/JTAG sequence. */
  usb?: boolean;
  /** Keys, when stdin is a terminal. */
  keys?: KeyReader;
  /** Stops the monitor from outside (`watch`: the build changed). */
  signal?: AbortSignal;
}

/**
 * Prints lines until the user quits (Ctrl-] or Ctrl-C at a terminal in raw
 * mode), `--until` matches, `--for` runs out, or `signal` aborts. A SIGINT
 * or SIGTERM from outside ends the run through main's interrupt handling
 * (exit 130), as for every command.
 */
export async function runMonitor(run: MonitorRun): Promise<MonitorEnd> {
  const { reader, printer, settings, o, port } = run;
  const deadline = settings.forMs !== undefined ? run.startedAt + settings.forMs : Infinity;
  let quit = false;
  const note = (line: string) => {
    printer.endLine();
    o.note(run.keys?.raw ? line.replaceAll("\n", "\r\n") + "\r" : line);
  };
  const onKey = async (action: KeyAction) => {
    if (action.kind === "quit") quit = true;
    else if (action.kind === "help") note(KEY_HELP.map((l) => `--- ${l}`).join("\n"));
    else if (action.kind === "reset") {
      const reset = await resetToApp(port, { usb: run.usb }).catch(() => false);
      note(reset ? "--- reset" : `--- cannot reset: ${port.path} has no reset lines`);
    } else await port.write(action.bytes).catch(() => {});
  };
  run.keys?.onKey((a) => void onKey(a));
  try {
    for (;;) {
      if (printer.matched !== undefined) return "matched";
      if (quit) return "quit";
      if (run.signal?.aborted) return "stopped";
      const left = deadline - Date.now();
      if (left <= 0) return settings.until ? "timeout" : "time-up";
      const line = await reader.next(Math.min(100, left));
      if (line) printer.line(line);
    }
  } finally {
    run.keys?.onKey(undefined);
    printer.endLine();
  }
}

/**
 * Says how the monitor ended: a note (and a `result` event), or the
 * `--until` timeout as an error (exit code 4).
 */
export function reportMonitorEnd(end: MonitorEnd, settings: MonitorSettings, o: Output): void {
  const secs = settings.forMs !== undefined ? `${settings.forMs / 1000} s` : "";
  if (end === "timeout") {
    throw new MonitorTimeoutError(`no line matched /${settings.until!.source}/ within ${secs}`);
  }
  const message = end === "matched"
    ? `matched /${settings.until!.source}/`
    : end === "time-up"
    ? `monitored for ${secs}`
    : "monitor stopped";
  o.note(`--- ${message}`);
  o.event("result", { message, end });
}

/** Whether resets on `path` go through Espressif's USB-Serial/JTAG (RTS alone resets the core). */
export async function usesUsbReset(g: GlobalOptions, path: string): Promise<boolean> {
  if (g.before === "usb-reset") return true;
  if (g.before !== "default-reset" || !path.startsWith("/dev/")) return false;
  const ports = await listPorts({ sysRoot: g.sysRoot, devRoot: g.devRoot }).catch(() => []);
  return beforeResetFor(path, "default-reset", ports) === "usb-reset";
}

/** Registers `monitor`. */
export function register(program: Program, out: () => Output): void {
  withMonitorOptions(
    program.command("monitor")
      .description("reset the chip into its app and show what it prints"),
  )
    .addHelpText(
      "after",
      "\nKeys (stdin a terminal): " + KEY_HELP.join("; ") +
        "\n--before no-reset attaches without a reset; --after is not used (the chip keeps running)." +
        "\n\nExamples:\n  espdelta -p /dev/ttyUSB0 monitor --elf build/blink.elf\n" +
        "  espdelta -p rfc2217://127.0.0.1:4000 monitor --until 'app_main' --for 10",
    )
    .action(async (_opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const opts = cmd.opts() as MonitorFlags;
      const o = out();
      const chip = parseChip(g.chip);
      const settings = await monitorSettings(opts, o, chip === "auto" ? undefined : chip);
      const path = await singlePort(g, o);
      const usb = await usesUsbReset(g, path);
      const port = await openPort(path, { baud: settings.baud });
      const keys = o.json ? undefined : KeyReader.open();
      const printer = new LinePrinter(o, settings, { crlf: () => keys?.raw ?? false });
      let end: MonitorEnd;
      try {
        const reset = g.before === "default-reset" || g.before === "usb-reset";
        await port.flushInput();
        const startedAt = Date.now();
        o.note(`--- espdelta monitor on ${path} at ${settings.baud} baud ---`);
        if (settings.elfPath) o.note(`--- addresses named from ${settings.elfPath}`);
        if (keys) o.note("--- quit: Ctrl-] | reset: Ctrl-T R | help: Ctrl-T H ---");
        if (reset && !await resetToApp(port, { usb })) {
          o.note(`--- ${path} has no reset lines: showing what the chip prints from now on`);
        }
        end = await runMonitor({
          port,
          reader: new LineReader(port),
          printer,
          settings,
          o,
          startedAt,
          usb,
          keys,
        });
      } finally {
        keys?.close();
        printer.close();
        await port.close();
      }
      reportMonitorEnd(end, settings, o);
    });
}

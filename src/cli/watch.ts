/**
 * `espdelta watch INPUTS`: the deploy loop. Deploys (the delta path, as
 * `flash`, with its boot check), shows what the chip prints, and watches
 * the build outputs: the files of the regions (and a build folder's
 * `flasher_args.json`). When they change and then stay unchanged for the
 * settle time (a build finished writing), the inputs are read again and
 * deployed again; a build that is not readable yet (a half-written image)
 * is reported and the next change awaited.
 *
 * Leaving: at a terminal, Ctrl-] or Ctrl-C while the monitor shows the chip
 * ends the watch with exit code 0 (`--- stopped watching`). A SIGINT or
 * SIGTERM otherwise (Ctrl-C during a deploy, `kill`, a CI runner) is main's
 * interrupt, as for every command: a write in progress stops at its safe
 * point, the terminal is restored, one line says so, exit code 130.
 * @module
 */

import { dirname, resolve } from "node:path";
import type { LoadedInputs } from "../image/inputs.ts";
import { findAppElf } from "../image/app_elf.ts";
import { EspdeltaError } from "../protocol/errors.ts";
import { UsageError } from "./args.ts";
import { exitCodeFor } from "./exit.ts";
import { flashBoard, type FlashOptions } from "./flash.ts";
import { loadArgs, withFlashSettings } from "./inputs.ts";
import {
  LinePrinter,
  type MonitorFlags,
  type MonitorSettings,
  monitorSettings,
  runMonitor,
  usesUsbReset,
  withPrinterOptions,
} from "./monitor.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";
import { namedPorts } from "./session.ts";
import { KeyReader } from "./terminal.ts";

/** Default quiet time after the last change before deploying again, in ms. */
export const SETTLE_MS = 500;

/** The files whose change means a new build, and the folders to watch for them. */
export function watchTargets(loaded: LoadedInputs): { files: Set<string>; dirs: string[] } {
  const files = new Set<string>();
  for (const r of loaded.regions) if (r.file) files.add(resolve(r.file));
  if (loaded.build?.layout === "esp-idf") files.add(resolve(loaded.build.dir, "flasher_args.json"));
  const dirs = [...new Set([...files].map((f) => dirname(f)))].sort();
  return { files, dirs };
}

function parseSettle(text: string): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v < 0) {
    throw new UsageError(`invalid --settle '${text}': use a number of milliseconds such as 500`);
  }
  return v;
}

/**
 * Watches `dirs` for changes to `files`; `changed` resolves once a change
 * was followed by `settleMs` of quiet.
 */
class BuildWatcher {
  #watcher: Deno.FsWatcher | undefined;
  #files: Set<string> = new Set();
  #dirs = "";
  #lastChange = 0;
  #pending = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #wake: (() => void) | undefined;
  readonly #settleMs: number;

  constructor(settleMs: number) {
    this.#settleMs = settleMs;
  }

  /** Watches these targets (restarts the watcher when the folders changed). */
  watch(targets: { files: Set<string>; dirs: string[] }): void {
    this.#files = targets.files;
    const key = targets.dirs.join("\n");
    if (key === this.#dirs && this.#watcher) return;
    this.#watcher?.close();
    this.#dirs = key;
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(targets.dirs, { recursive: false });
    } catch (e) {
      throw new UsageError(`cannot watch ${targets.dirs.join(", ")}: ${(e as Error).message}`);
    }
    this.#watcher = watcher;
    (async () => {
      try {
        for await (const event of watcher) {
          if (event.kind === "access") continue;
          const hit = event.paths.filter((p) => this.#files.has(resolve(p)));
          if (hit.length === 0) continue;
          for (const p of hit) this.#pending.add(resolve(p));
          this.#lastChange = Date.now();
          this.#arm();
        }
      } catch {
        // Closed.
      }
    })();
  }

  #arm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (Date.now() - this.#lastChange >= this.#settleMs) this.#wake?.();
      else this.#arm();
    }, this.#settleMs);
  }

  /** True when a change settled and was not taken yet. */
  get settled(): boolean {
    return this.#pending.size > 0 && this.#timer === undefined;
  }

  /** Resolves when a change has settled (at once if one has). */
  changed(): Promise<void> {
    if (this.settled) return Promise.resolve();
    return new Promise((r) => {
      this.#wake = () => {
        this.#wake = undefined;
        r();
      };
    });
  }

  /** The files changed since the last take, and forgets them. */
  take(): string[] {
    const files = [...this.#pending].sort();
    this.#pending.clear();
    return files;
  }

  /** Stops watching. */
  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
    this.#wake?.();
  }
}

/** Registers `watch`. */
export function register(program: Program, out: () => Output): void {
  withPrinterOptions(withFlashSettings(
    program.command("watch")
      .description("deploy, then deploy again whenever the build outputs change; monitor between")
      .argument("<inputs...>", "a build folder, or ADDRESS FILE pairs")
      .option("--no-boot-check", "do not read the boot log to check that the new app started")
      .option(
        "--settle <ms>",
        `wait until the outputs stayed unchanged this long (default ${SETTLE_MS})`,
        parseSettle,
      ),
  ))
    .addHelpText(
      "after",
      "\nCtrl-] or Ctrl-C at the monitor stops (exit 0); a SIGINT during a deploy stops it at a safe point (exit 130);\nCtrl-T R resets the chip while monitoring." +
        "\n\nExamples:\n  espdelta -p /dev/ttyUSB0 watch build/\n" +
        "  espdelta -p rfc2217://127.0.0.1:4000 watch 0x10000 build/app.bin",
    )
    .action(async (inputs, typed, cmd) => {
      const g = cmd.optsWithGlobals();
      const opts = typed as typeof typed & MonitorFlags;
      const o = out();
      let loaded = await loadArgs(inputs, g.chip, opts);
      const ports = await namedPorts(g);
      if (ports.length > 1) throw new UsageError("watch takes one board; name one port");
      const flashOpts: FlashOptions = { ...opts, monitor: true };
      const found = opts.elf === undefined && loaded.build
        ? await findAppElf(loaded.build)
        : undefined;
      const settings: MonitorSettings = await monitorSettings(opts, o, loaded.build?.chip, found);
      const watcher = new BuildWatcher(opts.settle ?? SETTLE_MS);
      watcher.watch(watchTargets(loaded));
      const keys = o.json ? undefined : KeyReader.open();
      keys?.pause();
      let stop = false;
      const printer = new LinePrinter(o, settings, { crlf: () => keys?.raw ?? false });
      const what = loaded.build ? loaded.build.dir : `${loaded.regions.length} files`;
      o.note(`--- watching ${what}; ${keys ? "Ctrl-] or Ctrl-C" : "SIGINT (exit 130)"} stops`);
      if (settings.elfPath) o.note(`--- addresses named from ${settings.elfPath}`);
      try {
        while (!stop) {
          let monitorEnd: string | undefined;
          try {
            await flashBoard(
              g,
              o,
              loaded,
              flashOpts,
              ports[0],
              async (session, after, board) => {
                printer.endLine();
                if (!o.json) o.result(board.summary);
                if (!after.reader || stop) return;
                // Monitor until the build changes (and reads), or the user stops.
                const change = new AbortController();
                let next: LoadedInputs | undefined;
                const waitForBuild = async () => {
                  while (!change.signal.aborted) {
                    await watcher.changed();
                    if (stop || change.signal.aborted) return;
                    const files = watcher.take();
                    try {
                      next = await loadArgs(inputs, g.chip, opts);
                      o.note(`--- changed: ${files.join(", ")}; deploying`);
                      change.abort();
                    } catch (e) {
                      o.warn(`${(e as Error).message}; waiting for the next change`);
                    }
                  }
                };
                const waiting = waitForBuild();
                keys?.resume();
                try {
                  monitorEnd = await runMonitor({
                    port: session.port,
                    reader: after.reader,
                    printer,
                    settings,
                    o,
                    startedAt: after.startedAt ?? Date.now(),
                    usb: await usesUsbReset(g, session.port.path),
                    keys,
                    signal: change.signal,
                  });
                } finally {
                  keys?.pause();
                  change.abort();
                }
                await waiting.catch(() => {});
                if (next) loaded = next;
              },
              printer,
            );
          } catch (e) {
            // A deploy that failed (the board unplugged, a reset that did not take): say
            // why, and try again at the next change.
            const message = e instanceof Error ? e.message : String(e);
            o.error(message, e instanceof EspdeltaError ? e.code : "INTERNAL", exitCodeFor(e));
            if (stop) break;
            o.note("--- waiting for the next change");
            await watcher.changed();
            if (stop) break;
            watcher.take();
            try {
              loaded = await loadArgs(inputs, g.chip, opts);
            } catch (e2) {
              o.warn(`${(e2 as Error).message}; waiting for the next change`);
            }
            continue;
          }
          if (monitorEnd === "quit") stop = true;
          watcher.watch(watchTargets(loaded));
        }
      } finally {
        watcher.close();
        keys?.close();
        printer.close();
      }
      o.note("--- stopped watching");
      o.event("result", { message: "stopped watching" });
    });
}

/**
 * After `flash` writes: the reset into the app, and the boot check that
 * reads the boot log and says whether the new app started (src/monitor's
 * `checkBoot`), compared with the `esp_app_desc_t` of the app just written.
 * The port stays open for `--monitor`, which goes on with the same reader.
 *
 * When it runs: after every flash whose `--after` restarts the chip
 * (`hard-reset`, `watchdog-reset`, `soft-reset`), unless `--no-boot-check`.
 * A hard reset goes through DTR/RTS; a port without them (a pty, a raw
 * `socket://`) cannot reach the chip's EN pin, the chip stays in its
 * loader, and the boot is reported as `unchecked`, saying so.
 * @module
 */

import type { ChipInfo } from "../chips/chips.ts";
import type { Region } from "../image/region.ts";
import {
  type BootedApp,
  type BootReport,
  type BootVerdict,
  checkBoot,
  expectedBoot,
} from "../monitor/boot_check.ts";
import { LineReader } from "../monitor/lines.ts";
import { LinkLostError } from "../protocol/errors.ts";
import { PortLostError } from "../serial/lost.ts";
import type { AfterReset } from "../loader/loader.ts";
import type { LinePrinter } from "./monitor.ts";
import type { Output } from "./output.ts";
import type { Session } from "./session.ts";

/**
 * How long the check reads: it ends when the verdict is clear, else after
 * 3 s without output or 6 s in all; a started app is watched 1 s more for a
 * crash.
 */
export const BOOT_CHECK_TIMING = { quietMs: 3000, settleMs: 1000, timeoutMs: 6000 } as const;

/** The boot as the `outcome` event carries it. */
export interface BootOutcome {
  /** checkBoot's verdict, or `unchecked` when no reset could reach the chip. */
  verdict: BootVerdict | "unchecked";
  /** One line, as the outcome line ends. */
  message: string;
  /** True for `booted`, `started` and `unchecked`: nothing says the app failed. */
  ok: boolean;
  /** What the app said about itself. */
  app?: BootedApp;
  /** The chip's last lines, for a failed boot. */
  lastLines?: string[];
}

/** What {@link afterFlash} leaves for a monitor. */
export interface AfterFlash {
  /** The boot, when it was checked (or could not be). */
  boot?: BootOutcome;
  /** A reader on the session's port, when the port was kept open. */
  reader?: LineReader;
  /** When reading began. */
  startedAt?: number;
}

/** Whether `after` restarts the chip into its app. */
export function restartsApp(after: AfterReset): boolean {
  return after === "hard-reset" || after === "watchdog-reset" || after === "soft-reset";
}

/** What to tell a user whose port could not reset the chip. */
function noResetHint(chip: ChipInfo): string {
  return chip.rtcWdt
    ? "; --after watchdog-reset restarts it through its RTC watchdog"
    : chip.softReset
    ? "; --after soft-reset starts the app"
    : "; a port with DTR/RTS (a USB serial adapter, rfc2217://) can reset it";
}

/**
 * Resets the chip as `--after` says, keeping the port open, and checks the
 * boot when `check` is on. Lines the check reads go to `printer` when one
 * is given (`--monitor` shows the boot log as it comes). Does nothing, and
 * leaves the reset to the session's close, when neither the check nor a
 * monitor needs the port.
 */
export async function afterFlash(
  session: Session,
  options: {
    after: AfterReset;
    check: boolean;
    monitor: boolean;
    baud: number;
    regions: readonly Region[];
    printer?: LinePrinter;
  },
): Promise<AfterFlash> {
  const check = options.check && restartsApp(options.after);
  if (!check && !options.monitor) return {};
  const { reset, note } = await session.release(options.baud);
  const startedAt = Date.now();
  const reader = new LineReader(session.port);
  if (!check) return { reader, startedAt };
  if (!reset) {
    const why = note ?? `${session.port.path} cannot reset the chip`;
    const message = `boot not checked: ${why.replace(/; the chip stays/, ", so the chip stays")}${
      noResetHint(session.chip)
    }`;
    return { boot: { verdict: "unchecked", message, ok: true }, reader, startedAt };
  }
  const printer = options.printer;
  const source = {
    next: async (ms: number) => {
      const line = await reader.next(ms);
      if (line && printer) printer.line(line);
      return line;
    },
  };
  let report: BootReport;
  try {
    report = await checkBoot(source, expectedBoot(options.regions), BOOT_CHECK_TIMING);
  } catch (e) {
    // A board whose USB port goes away when the chip resets (native USB): the write had
    // ended; what is unknown is the boot, not the flash.
    if (!(e instanceof LinkLostError)) throw e;
    const why = e instanceof PortLostError ? ` (${e.reason})` : "";
    const message = `boot not checked: ${session.port.path} went away after the reset${why}; ` +
      "the write had ended before it";
    return { boot: { verdict: "unchecked", message, ok: true } };
  }
  return { boot: bootOutcome(report), reader, startedAt };
}

/** The report as the outcome carries it. */
export function bootOutcome(report: BootReport): BootOutcome {
  return {
    verdict: report.verdict,
    message: report.message,
    ok: report.ok,
    ...(report.app ? { app: report.app } : {}),
    ...(report.ok ? {} : { lastLines: report.lastLines }),
  };
}

/** Prints a failed boot's last lines (text mode, stderr). */
export function showLastLines(boot: BootOutcome, o: Output): void {
  if (boot.ok || !boot.lastLines?.length) return;
  o.note("--- the chip's last lines:");
  for (const line of boot.lastLines) o.note(`  ${line}`);
}

/**
 * Did the new app start? Reads the boot log after a reset and answers with a
 * verdict, the way a person reading the monitor would:
 *
 * - `booted`: ESP-IDF's app start-up printed the project name, app version
 *   and ELF SHA-256 prefix (from the app's `esp_app_desc_t`), they match the
 *   image just written, and no reset or panic followed within a moment.
 * - `started`: the chip booted from flash without any error or reset, but the
 *   app printed no ESP-IDF app information (log level off, as in Arduino
 *   builds, or not an ESP-IDF app), so there is nothing to compare. After
 *   ESP-IDF's bootloader handed over (`boot: Loaded app from partition at
 *   offset 0x10000`), this is decided once the app stayed quiet about itself
 *   for `settleMs`; otherwise when the log goes quiet or the time is up.
 * - `wrong-app`: an app started, but another one (e.g. the bootloader chose
 *   another OTA slot).
 * - `invalid-header`: the ROM found no valid image (`invalid header: 0x...`).
 * - `image-error`: the second-stage bootloader refused the app (checksum,
 *   hash, magic, no bootable partition).
 * - `panic`: the app crashed (Guru Meditation, abort) and did not reboot yet.
 * - `reset-loop`: the chip reset again and again, or the app crashed and the
 *   chip rebooted.
 * - `silent`: nothing at all within the time allowed.
 *
 * Time: the check ends as soon as the verdict is clear: `settleMs` after the
 * app's information (a crash right after start still counts), after two
 * `invalid header` lines, after the bootloader refused the app and the chip
 * reset, after `loopResets` resets. Otherwise it ends when the chip printed
 * nothing for `quietMs`, or after `timeoutMs` in all.
 *
 * The texts matched are the ROM's (`rst:0x1 (POWERON_RESET),boot:0x13
 * (SPI_FAST_FLASH_BOOT)`, `invalid header: 0xffffffff`, the ESP8266's `rst
 * cause:2`) and ESP-IDF's log format (`I (428) app_init: Project name:
 * smart_config`; before v5.1 the tag was `cpu_start`), with ANSI colours
 * removed.
 *
 * @example
 * ```ts
 * import { checkBoot } from "./boot_check.ts";
 * import assert from "node:assert/strict";
 *
 * const log = [
 *   "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)",
 *   "I (428) app_init: Project name:     blink",
 *   "I (434) app_init: App version:      1.2.0",
 *   "I (444) app_init: ELF file SHA256:  e160c722f...",
 * ];
 * // A LineReader on the port in real use; here, the lines of a log.
 * const lines = { next: async () => {
 *   const text = log.shift();
 *   return text === undefined ? undefined : { text, time: 0, complete: true };
 * } };
 * const report = await checkBoot(lines, {
 *   projectName: "blink",
 *   version: "1.2.0",
 *   elfSha256: "e160c722f0123456789abcdef0123456789abcdef0123456789abcdef0123456",
 * }, { settleMs: 10 });
 * assert.equal(report.verdict, "booted");
 * assert.equal(report.message, "booted: blink 1.2.0 (ELF SHA-256 e160c722f)");
 * ```
 * @module
 */

import { parseAppDesc } from "../image/app_desc.ts";
import type { Region } from "../image/region.ts";
import type { MonitorLine } from "./lines.ts";

/**
 * What to expect of the app the bootloader should start after `regions`
 * are written: the first app region (by offset) whose image carries an
 * `esp_app_desc_t` (ESP-IDF puts it at the start of the first segment,
 * after the 24-byte image header and the 8-byte segment header); nothing
 * to compare when none does.
 */
export function expectedBoot(
  regions: readonly Pick<Region, "offset" | "data" | "kind">[],
): BootExpectation {
  for (const r of [...regions].sort((a, b) => a.offset - b.offset)) {
    if (r.kind !== undefined && r.kind !== "app") continue;
    if (r.data[0] !== 0xe9) continue;
    const desc = parseAppDesc(r.data.subarray(32, 32 + 256));
    if (desc) {
      return { projectName: desc.projectName, version: desc.version, elfSha256: desc.elfSha256 };
    }
  }
  return {};
}

/** Where {@link checkBoot} reads lines: a {@link LineReader}, or anything with its `next`. */
export interface LineSource {
  /** The next line, or `undefined` if none came within `timeoutMs`. */
  next(timeoutMs: number): Promise<MonitorLine | undefined>;
}

/** What the boot log says happened. */
export type BootVerdict =
  | "booted"
  | "started"
  | "wrong-app"
  | "invalid-header"
  | "image-error"
  | "panic"
  | "reset-loop"
  | "silent";

/** The app that should start, from the image's `esp_app_desc_t`. */
export interface BootExpectation {
  /** `project_name`. */
  projectName?: string;
  /** `version`. */
  version?: string;
  /** The ELF file's SHA-256, hex; the log shows a prefix of it. */
  elfSha256?: string;
}

/** What the app said about itself. */
export interface BootedApp {
  /** From `Project name:`. */
  projectName?: string;
  /** From `App version:`. */
  version?: string;
  /** The hex digits after `ELF file SHA256:`. */
  elfSha256Prefix?: string;
}

/** The answer of {@link checkBoot}. */
export interface BootReport {
  /** True for `booted` and `started`. */
  ok: boolean;
  /** See {@link BootVerdict}. */
  verdict: BootVerdict;
  /** One line for a person: `booted: blink 1.2.0 (ELF SHA-256 e160c722f)`. */
  message: string;
  /** What the app printed about itself, if it did. */
  app?: BootedApp;
  /** Every ROM reset line seen, e.g. `rst:0xc (SW_CPU_RESET)`. */
  resets: string[];
  /** The last lines seen (up to 12), for a failed boot's report. */
  lastLines: string[];
}

/** Options of {@link checkBoot}. */
export interface BootCheckOptions {
  /** Give up waiting for the app after this long in all (default 8000 ms). */
  timeoutMs?: number;
  /** Give up when the chip printed nothing for this long (default 3000 ms). */
  quietMs?: number;
  /** After the app's information, watch this long for a crash (default 1000 ms). */
  settleMs?: number;
  /** Resets that make a loop (default 3). */
  loopResets?: number;
  /** Clock in ms (default `Date.now`); lines' own times are not used. */
  now?: () => number;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/** `text` without ANSI colour and cursor sequences (ESP-IDF colours its log lines). */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

const RESET = /^rst:(0x[0-9a-f]+) \(([A-Z0-9_]+)\)/;
const RESET_8266 = /rst cause:(\d+), boot mode:\((\d+),(\d+)\)/;
const INVALID_HEADER = /invalid header: (0x[0-9a-f]+)/;
const IDF_LINE = /^([IWE]) \((\d+)\) ([\w.]+): (.*)$/;
const PANIC =
  /Guru Meditation Error|abort\(\) was called|panic'ed|Stack smashing protect failure|assert failed:/;
const REBOOTING = /^Rebooting\.\.\.$/;
// Bootloader tags whose errors mean the app was refused.
const BOOT_TAGS = new Set(["boot", "esp_image", "bootloader_flash", "flash_parts", "secure_boot"]);
// ESP-IDF's bootloader hands over to the app (bootloader_utility.c).
const HANDOVER = /^Loaded app from partition at offset 0x[0-9a-f]+$/;

/**
 * Reads `lines` (a {@link LineReader} on the port, right after a reset)
 * until a verdict is clear or the time is up. It reads nothing more once it
 * returns, so the same reader can go on feeding a monitor.
 */
export async function checkBoot(
  lines: LineSource,
  expected: BootExpectation = {},
  options: BootCheckOptions = {},
): Promise<BootReport> {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 8000;
  const quietMs = options.quietMs ?? 3000;
  const settleMs = options.settleMs ?? 1000;
  const loopResets = options.loopResets ?? 3;
  const start = now();

  const resets: string[] = [];
  const last: string[] = [];
  const app: BootedApp = {};
  let invalidHeader: string | undefined;
  let invalidHeaders = 0;
  let imageError: string | undefined;
  let panic: string | undefined;
  let panicAt: number | undefined;
  let appSeenAt: number | undefined;
  let resetsBeforeApp = 0;
  let handoverAt: number | undefined;
  let resetsAtHandover = 0;
  let lastLineAt = start;
  let bootedFromFlash = false;
  let partial = "";

  const verdictNow = (): BootReport | undefined => {
    if (appSeenAt !== undefined) {
      if (resets.length > resetsBeforeApp) {
        return fail("reset-loop", `the app restarted (${resets.at(-1)})${crash()}`);
      }
      // A crash usually reboots the chip at once; give the reset a moment to show.
      if (panicAt !== undefined) {
        return now() - panicAt >= settleMs
          ? fail("panic", `the app crashed (${panic})`)
          : undefined;
      }
      if (now() - appSeenAt >= settleMs) return identity();
      return undefined;
    }
    if (handoverAt !== undefined) {
      if (resets.length > resetsAtHandover) {
        return fail("reset-loop", `the app restarted (${resets.at(-1)})${crash()}`);
      }
      if (panicAt !== undefined) {
        return now() - panicAt >= settleMs
          ? fail("panic", `the app crashed (${panic})`)
          : undefined;
      }
      if (now() - handoverAt >= settleMs) return started();
      return undefined;
    }
    // The ROM repeats "invalid header" until its watchdog resets the chip; twice is enough.
    if (invalidHeaders >= 2) return invalidHeaderReport();
    if (imageError && resets.length >= 2) return imageErrorReport();
    if (resets.length >= loopResets) {
      return fail(
        "reset-loop",
        `${resets.length} resets without the app starting (${resets.at(-1)})`,
      );
    }
    return undefined;
  };
  const invalidHeaderReport = () =>
    fail("invalid-header", `the ROM found no valid bootloader (invalid header: ${invalidHeader})`);
  const imageErrorReport = () =>
    fail("image-error", `the bootloader refused the app (${imageError})`);
  const crash = () => (panic ? `; it crashed first: ${panic}` : "");
  const fail = (verdict: BootVerdict, why: string): BootReport => ({
    ok: false,
    verdict,
    message: `boot check failed: ${why}`,
    ...(Object.keys(app).length ? { app } : {}),
    resets,
    lastLines: last.slice(-12),
  });
  const identity = (): BootReport => {
    const mismatch: string[] = [];
    if (
      expected.projectName !== undefined && app.projectName !== undefined &&
      app.projectName !== expected.projectName
    ) {
      mismatch.push(`project ${app.projectName}, expected ${expected.projectName}`);
    }
    if (
      expected.version !== undefined && app.version !== undefined &&
      app.version !== expected.version
    ) {
      mismatch.push(`version ${app.version}, expected ${expected.version}`);
    }
    if (
      expected.elfSha256 !== undefined && app.elfSha256Prefix !== undefined &&
      !expected.elfSha256.toLowerCase().startsWith(app.elfSha256Prefix.toLowerCase())
    ) {
      mismatch.push(
        `ELF SHA-256 ${app.elfSha256Prefix}, expected ${
          expected.elfSha256.slice(0, app.elfSha256Prefix.length)
        }`,
      );
    }
    if (mismatch.length) return fail("wrong-app", `another app started (${mismatch.join("; ")})`);
    const sha = app.elfSha256Prefix ? ` (ELF SHA-256 ${app.elfSha256Prefix})` : "";
    const name = [app.projectName, app.version].filter(Boolean).join(" ");
    return {
      ok: true,
      verdict: "booted",
      message: `booted: ${name || "app"}${sha}`,
      app,
      resets,
      lastLines: last.slice(-12),
    };
  };

  const started = (): BootReport => ({
    ok: true,
    verdict: "started",
    message: bootedFromFlash
      ? "started: the chip booted from flash; the app printed no ESP-IDF app information to compare"
      : "started: the chip printed output and no error; the app printed no ESP-IDF app information to compare",
    resets,
    lastLines: last.slice(-12),
  });

  const see = (raw: string) => {
    const text = raw.replace(ANSI, "").trimEnd();
    if (text === "") return;
    last.push(text);
    if (last.length > 64) last.shift();
    const reset = RESET.exec(text) ?? RESET_8266.exec(text);
    if (reset) {
      resets.push(RESET.test(text) ? `rst:${reset[1]} (${reset[2]})` : `rst cause:${reset[1]}`);
      return;
    }
    const bad = INVALID_HEADER.exec(text);
    if (bad) {
      invalidHeader ??= bad[1];
      invalidHeaders++;
      return;
    }
    if (/^entry 0x[0-9a-f]+$/.test(text)) bootedFromFlash = true;
    if (PANIC.test(text)) {
      panic ??= text;
      panicAt ??= now();
      return;
    }
    if (REBOOTING.test(text)) return;
    const idf = IDF_LINE.exec(text);
    if (!idf) return;
    const [, level, , tag, body] = idf;
    if (level === "E" && BOOT_TAGS.has(tag.split(".")[0]) && appSeenAt === undefined) {
      imageError ??= `${tag}: ${body}`;
    }
    if (tag === "boot" && HANDOVER.test(body) && handoverAt === undefined) {
      bootedFromFlash = true;
      handoverAt = now();
      resetsAtHandover = resets.length;
    }
    const field = /^(Project name|App version|ELF file SHA256):\s+(.*?)\s*$/.exec(body);
    if (!field) return;
    if (field[1] === "Project name") app.projectName = field[2];
    else if (field[1] === "App version") app.version = field[2];
    else app.elfSha256Prefix = /^[0-9a-fA-F]+/.exec(field[2])?.[0] ?? "";
    if (appSeenAt === undefined) {
      appSeenAt = now();
      resetsBeforeApp = resets.length;
    }
  };

  for (;;) {
    const done = verdictNow();
    if (done) return done;
    const watchFrom = panicAt ?? appSeenAt ?? handoverAt;
    const t = now();
    const left = Math.min(
      watchFrom !== undefined ? settleMs - (t - watchFrom) : Infinity,
      timeoutMs - (t - start),
      quietMs - (t - lastLineAt),
    );
    if (left <= 0) break;
    const line = await lines.next(left);
    if (!line) continue;
    lastLineAt = now();
    if (line.complete) {
      see(partial + line.text);
      partial = "";
    } else partial += line.text;
  }
  if (partial) see(partial);
  const done = verdictNow();
  if (done) return done;
  if (appSeenAt !== undefined) return identity();
  if (invalidHeader) return invalidHeaderReport();
  if (imageError) return imageErrorReport();
  if (panic) return fail("panic", `the app crashed (${panic})`);
  if (resets.length > 1) {
    return fail(
      "reset-loop",
      `${resets.length} resets without the app starting (${resets.at(-1)})`,
    );
  }
  if (last.length === 0) {
    const waited = Math.min(timeoutMs, quietMs);
    return fail("silent", `the chip printed nothing within ${(waited / 1000).toFixed(1)} s`);
  }
  return started();
}

/**
 * One boot from flash, run on the device's clock: the ROM's part
 * (rom_boot.ts), the second-stage bootloader (idf_boot.ts) and the app
 * (idf_app.ts). Each line goes out at the time the chip would print it; the
 * run ends in a reset it asks the device for (a watchdog, the bootloader's
 * `bootloader_reset()`, a panic's reboot) or in a running app that prints its
 * heartbeat until the next reset. Cancelling stops everything it scheduled.
 * @module
 */

import type { ChipInfo } from "../chips/chips.ts";
import type { ResetCause } from "./boot_text.ts";
import type { DeviceClock } from "./clock.ts";
import type { FlashRead } from "./flash_image.ts";
import { ColorLog, runBootloader } from "./idf_boot.ts";
import { appStartup, heartbeat, HEARTBEAT_MS, panics, panicText } from "./idf_app.ts";
import { IdfLog, type Timed, uartTimeMs } from "./idf_log.ts";
import { romFlashBoot } from "./rom_boot.ts";

/** What a boot needs from the device. */
export interface FlashBootHost {
  /** Chip facts. */
  chip: ChipInfo;
  /** Flash reads (as the chip's SPI flash reads them). */
  read: FlashRead;
  /** The device's clock. */
  clock: DeviceClock;
  /** Chip revision, major * 100 + minor. */
  chipRevision: number;
  /** Sends text on the UART. */
  transmit(text: string): void;
  /** The chip resets. */
  reset(cause: ResetCause): void;
}

/** The ROM copies the bootloader into RAM at about this rate (bytes per ms). */
const ROM_LOAD_BYTES_PER_MS = 1000;

/** A boot from flash in progress. */
export class FlashBoot {
  readonly #host: FlashBootHost;
  readonly #timers = new Set<() => void>();
  #t0 = 0;
  #cancelled = false;

  /** A boot for `host`; nothing happens before {@link start}. */
  constructor(host: FlashBootHost) {
    this.#host = host;
  }

  /** Stops every line and reset still to come. */
  cancel(): void {
    this.#cancelled = true;
    for (const c of this.#timers) c();
    this.#timers.clear();
  }

  /**
   * Starts at the end of the ROM's reset banner (`bannerChars` long): what
   * is due at once is sent before this returns.
   */
  start(bannerChars: number): void {
    const host = this.#host;
    this.#t0 = host.clock.now();
    const log = new IdfLog(uartTimeMs(bannerChars));
    const rom = romFlashBoot(host.chip, host.read);
    log.raw(rom.text);
    log.out[0].atMs = 0; // the ROM goes on printing right after its banner
    if (rom.kind === "no-bootloader") {
      if (rom.repeat) {
        for (let t = rom.repeat.everyMs; t < rom.wdtMs; t += rom.repeat.everyMs) {
          log.out.push({ atMs: t, text: rom.repeat.line });
        }
      }
      return this.#play(log.out, rom.wdtMs, rom.cause);
    }
    if (!rom.intact) return this.#play(log.out, rom.wdtMs, rom.cause);
    const loaded = rom.segments.reduce((n, s) => n + s.length, 0);
    log.spend(loaded / ROM_LOAD_BYTES_PER_MS);
    const boot = runBootloader({
      chip: host.chip,
      read: host.read,
      bootloader: rom,
      chipRevision: host.chipRevision,
      log,
    });
    if (boot.kind === "reset") return this.#play(log.out, log.now, "software");
    const out = new ColorLog(log, boot.color);
    log.spend(10);
    appStartup(host.chip.name, boot.desc, out);
    if (boot.desc && panics(boot.desc)) {
      log.spend(5);
      log.raw(panicText(host.chip.name, boot.desc));
      return this.#play(log.out, log.now, "software-cpu");
    }
    this.#play(log.out);
    const running = Math.ceil(log.now);
    const beat = (n: number) => {
      this.#at(running + n * HEARTBEAT_MS, () => {
        const line = new IdfLog(this.#host.clock.now() - this.#t0);
        heartbeat(new ColorLog(line, boot.color), n);
        host.transmit(line.out[0].text);
        beat(n + 1);
      });
    };
    beat(1);
  }

  /** Sends `lines` at their times; then, if given, resets at `resetAtMs`. */
  #play(lines: Timed[], resetAtMs?: number, cause?: ResetCause): void {
    const due: Timed[] = [];
    for (const l of lines) {
      if (l.atMs <= 0) this.#host.transmit(l.text);
      else due.push(l);
    }
    // Lines due in the same millisecond go out together.
    const byMs = new Map<number, string>();
    for (const l of due) {
      const ms = Math.floor(l.atMs);
      byMs.set(ms, (byMs.get(ms) ?? "") + l.text);
    }
    for (const [ms, text] of byMs) this.#at(ms, () => this.#host.transmit(text));
    if (resetAtMs !== undefined && cause) {
      this.#at(Math.ceil(resetAtMs), () => this.#host.reset(cause));
    }
  }

  /** Runs `fn` at `ms` after the start. */
  #at(ms: number, fn: () => void): void {
    const delay = Math.max(0, this.#t0 + ms - this.#host.clock.now());
    const cancel = this.#host.clock.setTimer(delay, () => {
      this.#timers.delete(cancel);
      if (!this.#cancelled) fn();
    });
    this.#timers.add(cancel);
  }
}

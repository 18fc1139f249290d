/**
 * The serial monitor as a library: reset the chip into its app through the
 * port's lines ({@link resetToApp}), then read what it prints as an async
 * iterable of timestamped lines ({@link monitor}), each line's code
 * addresses named from the app's ELF file when one is given. The boot check
 * (`checkBoot`) reads the same {@link LineReader} first when a script wants
 * to know whether the app started.
 *
 * @example
 * ```ts
 * import { monitor, resetToApp } from "./monitor.ts";
 * import { parseElf } from "../image/elf.ts";
 * import { VirtualDevice } from "../emulator/device.ts";
 * import { memoryPort } from "../emulator/memory.ts";
 * import assert from "node:assert/strict";
 *
 * // A virtual ESP32-C3 with erased flash: after a reset its ROM finds no bootloader.
 * const port = memoryPort(new VirtualDevice({ chip: "esp32c3" }));
 * assert.equal(await resetToApp(port), true);
 * const seen: string[] = [];
 * for await (const line of monitor(port, { readMs: 50 })) {
 *   seen.push(line.text);
 *   if (line.text.startsWith("invalid header")) break;
 * }
 * assert.deepEqual(seen.slice(0, 3), [
 *   "ESP-ROM:esp32c3-api1-20210207",
 *   "Build:Feb  7 2021",
 *   "rst:0x1 (POWERON),boot:0xc (SPI_FAST_FLASH_BOOT)",
 * ]);
 * assert.equal(seen.at(-1), "invalid header: 0xffffffff");
 * await port.close();
 *
 * // With an ELF file, code addresses in a line are named.
 * const elf = parseElf(Deno.readFileSync("testdata/firmware/elf/esp32c3-panic.elf"));
 * const text = new TextEncoder().encode("MEPC    : 0x42000054  RA      : 0x4200003c\r\n");
 * const replay = {
 *   path: "replay", baud: 115200, hasModemLines: false,
 *   read: async () => text, write: async () => {}, drain: async () => {},
 *   flushInput: async () => {}, setBaud: async () => {}, setSignals: async () => {},
 *   close: async () => {},
 * };
 * for await (const line of monitor(replay, { elf })) {
 *   assert.deepEqual(line.decoded, ["0x42000054: app_main+0xc", "0x4200003c: main_task+0xc"]);
 *   break;
 * }
 * ```
 * @module
 */

import type { Elf } from "../image/elf.ts";
import type { Port } from "../serial/port.ts";
import { hardResetSteps, runSequence, type Sleep } from "../serial/reset.ts";
import { stripAnsi } from "./boot_check.ts";
import { decodeAddresses } from "./decode.ts";
import { LineReader, type MonitorLine, type MonitorOptions } from "./lines.ts";

/** A line of {@link monitor}: the chip's text, its time, and what its code addresses are. */
export interface MonitoredLine extends MonitorLine {
  /**
   * One `0x400d1234: app_main at main.c:42` per code address in the line,
   * when an ELF file was given and the line has any.
   */
  decoded?: string[];
}

/** Options of {@link monitor}. */
export interface MonitorStreamOptions extends MonitorOptions {
  /** The app's ELF file: names the code addresses of backtraces and register dumps. */
  elf?: Elf;
}

/**
 * The lines the chip prints on `port` (or through a reader already in use),
 * until `signal` aborts or the consumer stops. An unfinished line handed
 * over early is decoded once its rest arrives, as one line.
 */
export async function* monitor(
  port: Port | LineReader,
  options: MonitorStreamOptions = {},
): AsyncGenerator<MonitoredLine> {
  const reader = port instanceof LineReader ? port : new LineReader(port, options);
  const readMs = options.readMs ?? 100;
  let partial = "";
  while (!options.signal?.aborted) {
    const line = await reader.next(readMs);
    if (!line) continue;
    if (!line.complete) {
      partial += line.text;
      yield line;
      continue;
    }
    const whole = partial + line.text;
    partial = "";
    const decoded = options.elf ? decodeAddresses(stripAnsi(whole), options.elf) : [];
    yield decoded.length ? { ...line, decoded } : line;
  }
}

/** Options of {@link resetToApp}. */
export interface ResetToAppOptions {
  /**
   * The port is Espressif's USB-Serial/JTAG: RTS alone resets the core
   * (esptool's hard reset for it holds RTS longer). Default false.
   */
  usb?: boolean;
  /** Sleep, injectable for tests. */
  sleep?: Sleep;
}

/**
 * Resets the chip into its app by pulsing EN with the boot pin released, as
 * esptool's hard reset does. What the chip printed before the reset is
 * dropped while EN is held low, so reading afterwards starts with the boot
 * (the ROM's banner first). Returns false, doing nothing, when the port has
 * no modem lines (a pty, a raw socket): nothing can reach the chip's reset.
 */
export async function resetToApp(port: Port, options: ResetToAppOptions = {}): Promise<boolean> {
  if (!port.hasModemLines) return false;
  const steps = options.usb
    ? hardResetSteps(true)
    : [{ set: { dtr: false } }, ...hardResetSteps(false)];
  // Up to the release of EN (RTS low), then drop the old output, then release.
  const release = steps.findIndex((st) => "set" in st && st.set.rts === false);
  await runSequence(port, steps.slice(0, release), options.sleep);
  await port.flushInput();
  await runSequence(port, steps.slice(release), options.sleep);
  return true;
}

/**
 * The lines esptool v5 prints around every device command, for the esptool
 * personality (its cmds.py, loader.py and `prepare_esp_object`): the block
 * after connecting, and the line of the reset at the end. Wrappers and
 * people who read esptool's output see the same shapes; what espdelta does
 * not read from the chip (the package, features, crystal) it leaves out
 * rather than guess.
 *
 * @example
 * ```ts
 * import { afterResetLines, connectedLines } from "./esptool_text.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   connectedLines({ chip: "ESP32", port: "/dev/ttyUSB0", mac: "24:0a:c4:00:00:01", stub: true, baud: 115200 }),
 *   [
 *     "Connected to ESP32 on /dev/ttyUSB0:",
 *     "Chip type:          ESP32",
 *     "MAC:                24:0a:c4:00:00:01",
 *     "",
 *     "Stub flasher running.",
 *     "",
 *   ],
 * );
 * assert.deepEqual(afterResetLines("hard-reset"), ["", "Hard resetting via RTS pin..."]);
 * ```
 * @module
 */

import type { AfterReset } from "../loader/reset_after.ts";

/** The esptool release whose command line and output the esptool personality follows. */
export const ESPTOOL_VERSION = "5.3.1";

/** What {@link connectedLines} shows. */
export interface ConnectedFacts {
  /** Chip name as esptool prints it (`ESP32-C3`). */
  chip: string;
  /** The port as given. */
  port: string;
  /** The base MAC, `aa:bb:...` (undefined in Secure Download Mode). */
  mac?: string;
  /** The flasher stub runs. */
  stub: boolean;
  /** Baud rate after connecting; lines about the change when above 115200. */
  baud: number;
  /** The ROM runs in Secure Download Mode. */
  secureDownload?: boolean;
}

/** A label padded to esptool's 20 columns (`f"{'Chip type:':<20}"`). */
export const label = (name: string) => `${name}:`.padEnd(20);

/** esptool's block after connecting: the chip, its MAC, the stub, the baud change. */
export function connectedLines(f: ConnectedFacts): string[] {
  const lines = [`Connected to ${f.chip} on ${f.port}:`];
  if (f.secureDownload) lines.push(`${label("Chip type")}${f.chip} in Secure Download Mode`);
  else lines.push(`${label("Chip type")}${f.chip}`);
  if (f.mac) lines.push(`${label("MAC")}${f.mac}`);
  lines.push("");
  if (f.stub) lines.push("Stub flasher running.");
  if (f.baud > 115200) lines.push(`Changing baud rate to ${f.baud}...`, "Changed.");
  lines.push("");
  return lines;
}

/** esptool's lines for the reset at the end of a command (`reset_chip`). */
export function afterResetLines(mode: AfterReset): string[] {
  const text: Record<AfterReset, string> = {
    "hard-reset": "Hard resetting via RTS pin...",
    "soft-reset": "Soft resetting...",
    "no-reset": "Staying in bootloader.",
    "no-reset-stub": "Staying in flasher stub.",
    "watchdog-reset": "Hard resetting with a watchdog...",
  };
  return ["", text[mode]];
}

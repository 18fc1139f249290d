/**
 * Reset sequences that put an ESP chip into its download mode (or run its
 * app) by driving DTR and RTS, as esptool v5 names and times them.
 *
 * pyserial semantics: `true` = asserted = line low. On Espressif boards RTS
 * drives EN (reset) and DTR the boot strap pin.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";
import type { Port, Signals } from "./port.ts";

/** Something that resets the chip through the port. */
export type ResetFn = (port: Port) => Promise<void>;

/** Sleep, injectable for tests. */
export type Sleep = (ms: number) => Promise<void>;

const realSleep: Sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One step of a reset sequence. */
export type ResetStep =
  | { set: Signals }
  | { wait: number };

/** Runs steps on the port. */
export async function runSequence(
  port: Port,
  steps: readonly ResetStep[],
  sleep: Sleep = realSleep,
): Promise<void> {
  for (const s of steps) {
    if ("wait" in s) await sleep(s.wait);
    else await port.setSignals(s.set);
  }
}

/**
 * Classic reset: hold EN low with the boot pin high, then release EN with the
 * boot pin low, then release the boot pin after `delayMs`.
 */
export function classicSteps(delayMs = 50): ResetStep[] {
  return [
    { set: { dtr: false } },
    { set: { rts: true } },
    { wait: 100 },
    { set: { dtr: true } },
    { set: { rts: false } },
    { wait: delayMs },
    { set: { dtr: false } },
  ];
}

/** Unix "tight" reset: both lines set together at every step. */
export function tightSteps(delayMs = 50): ResetStep[] {
  return [
    { set: { dtr: false, rts: false } },
    { set: { dtr: true, rts: true } },
    { set: { dtr: false, rts: true } },
    { wait: 100 },
    { set: { dtr: true, rts: false } },
    { wait: delayMs },
    { set: { dtr: false, rts: false } },
    { set: { dtr: false } },
  ];
}

/** USB-Serial/JTAG reset sequence (passes through (1,1), never (0,0)). */
export function usbJtagSteps(): ResetStep[] {
  return [
    { set: { rts: false } },
    { set: { dtr: false } },
    { wait: 100 },
    { set: { dtr: true } },
    { set: { rts: false } },
    { wait: 100 },
    { set: { rts: true } },
    { set: { dtr: false } },
    { set: { rts: true } },
    { wait: 100 },
    { set: { dtr: false } },
    { set: { rts: false } },
  ];
}

/** Hard reset after flashing: pulse EN with the boot pin released (normal boot). */
export function hardResetSteps(usb = false): ResetStep[] {
  return usb
    ? [{ set: { rts: true } }, { wait: 200 }, { set: { rts: false } }, { wait: 200 }]
    : [{ set: { rts: true } }, { wait: 100 }, { set: { rts: false } }];
}

/** A bad custom reset sequence string. */
export class ResetSequenceError extends EspdeltaError {
  /** With the offending part of the sequence. */
  constructor(message: string) {
    super("USAGE", message);
  }
}

/**
 * Parses esptool's custom reset sequence syntax: `D0|R1|W0.1|D1|R0|W0.05|D0`
 * (D = DTR, R = RTS, U<d>,<r> = both at once, W = wait in seconds).
 */
export function parseResetSequence(text: string): ResetStep[] {
  return text.split("|").map((part) => {
    const p = part.trim();
    let m = /^([DR])([01])$/.exec(p);
    if (m) return { set: m[1] === "D" ? { dtr: m[2] === "1" } : { rts: m[2] === "1" } };
    m = /^U([01]),([01])$/.exec(p);
    if (m) return { set: { dtr: m[1] === "1", rts: m[2] === "1" } };
    m = /^W(\d+(?:\.\d+)?)$/.exec(p);
    if (m) return { wait: Math.round(Number(m[1]) * 1000) };
    throw new ResetSequenceError(
      `invalid reset sequence step '${p}' in '${text}': use D0/D1, R0/R1, U<d>,<r> or W<seconds>`,
    );
  });
}

/** A named reset strategy. */
export interface ResetStrategy {
  /** Name for messages, e.g. "tight (50 ms)". */
  name: string;
  /** The steps. */
  steps: ResetStep[];
}

/**
 * The strategies esptool cycles through for `default-reset`: a
 * USB-Serial/JTAG port gets only its own sequence; other ports on POSIX get
 * tight(50), tight(550), classic(50), classic(550); Windows and RFC 2217
 * ports get only the classic pair.
 */
export function defaultStrategies(
  options: { usbJtag?: boolean; tightCapable?: boolean } = {},
): ResetStrategy[] {
  if (options.usbJtag) return [{ name: "usb-jtag-serial", steps: usbJtagSteps() }];
  const classic = [
    { name: "classic (50 ms)", steps: classicSteps(50) },
    { name: "classic (550 ms)", steps: classicSteps(550) },
  ];
  if (options.tightCapable === false) return classic;
  return [
    { name: "tight (50 ms)", steps: tightSteps(50) },
    { name: "tight (550 ms)", steps: tightSteps(550) },
    ...classic,
  ];
}

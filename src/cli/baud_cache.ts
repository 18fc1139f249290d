/**
 * The rate `--baud auto` found working, remembered per port in the cache
 * folder (`$XDG_CACHE_HOME/espdelta/baud.json`, else
 * `~/.cache/espdelta/baud.json`), so the next run starts there and checks
 * it instead of probing from the top. A port is known by its USB serial
 * number (the board follows it from one path to another), else by its
 * VID:PID and path, else (a network port) by its path. The cache is a
 * help, never a requirement: a file that cannot be read or written is
 * passed over, with a note for --trace.
 * @module
 */

import type { PortInfo } from "../serial/list.ts";

/** Entries kept; the oldest go first. */
const MAX_ENTRIES = 64;

/** One remembered rate. */
export interface BaudMemory {
  /** The rate that passed the link check. */
  baud: number;
  /** When, in ms since the epoch. */
  at: number;
}

/** The cache file, from the environment; undefined when there is no home. */
export function baudCacheFile(
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const base = env.XDG_CACHE_HOME ||
    (env.HOME || env.USERPROFILE ? `${env.HOME || env.USERPROFILE}/.cache` : undefined);
  return base ? `${base}/espdelta/baud.json` : undefined;
}

const hex4 = (n: number | undefined) => (n ?? 0).toString(16).padStart(4, "0");

/**
 * The key a port is remembered under.
 *
 * @example
 * ```ts
 * import { portKey } from "./baud_cache.ts";
 * import assert from "node:assert";
 * const info = { path: "/dev/ttyUSB0", vid: 0x10c4, pid: 0xea60, serial: "0001A2" };
 * assert.strictEqual(portKey("/dev/ttyUSB0", info), "usb 10c4:ea60 serial 0001A2");
 * assert.strictEqual(portKey("/dev/ttyUSB1", { path: "/dev/ttyUSB1", vid: 0x1a86, pid: 0x7523 }), "usb 1a86:7523 /dev/ttyUSB1");
 * assert.strictEqual(portKey("socket://127.0.0.1:5555"), "socket://127.0.0.1:5555");
 * ```
 */
export function portKey(path: string, info?: PortInfo): string {
  if (info?.vid === undefined) return path;
  const id = `usb ${hex4(info.vid)}:${hex4(info.pid)}`;
  return info.serial ? `${id} serial ${info.serial}` : `${id} ${path}`;
}

/** The remembered rates in `file`; empty when it is missing or unreadable. */
export async function readBaudCache(
  file: string,
  note?: (line: string) => void,
): Promise<Record<string, BaudMemory>> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) note?.(`baud cache ${file}: ${(e as Error).message}`);
    return {};
  }
  try {
    const json = JSON.parse(text);
    const out: Record<string, BaudMemory> = {};
    for (const [k, v] of Object.entries(json ?? {})) {
      const m = v as Partial<BaudMemory>;
      if (Number.isInteger(m?.baud) && m.baud! > 0 && typeof m.at === "number") {
        out[k] = { baud: m.baud!, at: m.at };
      }
    }
    return out;
  } catch (e) {
    note?.(`baud cache ${file}: not JSON (${(e as Error).message}); starting afresh`);
    return {};
  }
}

/**
 * Remembers `baud` for `key` in `file` (created with its folder), keeping
 * the {@link MAX_ENTRIES} most recent ports. Written to a temporary file
 * and renamed, so a reader never sees half a file.
 */
export async function rememberBaud(
  file: string,
  key: string,
  baud: number,
  now: number,
  note?: (line: string) => void,
): Promise<void> {
  try {
    const all = await readBaudCache(file, note);
    all[key] = { baud, at: now };
    const kept = Object.entries(all).sort((a, b) => b[1].at - a[1].at).slice(0, MAX_ENTRIES);
    const dir = file.replace(/\/[^/]*$/, "");
    await Deno.mkdir(dir, { recursive: true });
    const tmp = `${file}.${Deno.pid}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(Object.fromEntries(kept), null, 1) + "\n");
    await Deno.rename(tmp, file);
  } catch (e) {
    note?.(`baud cache ${file}: cannot write (${(e as Error).message})`);
  }
}

/**
 * Serial port discovery: USB serial ports with their VID:PID, serial
 * number and product, and a guess of the bridge chip. Linux reads sysfs
 * (the root is injectable so tests can build a fake tree); other systems
 * are not supported yet and say so.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";

/** One serial port. */
export interface PortInfo {
  /** Device path, e.g. /dev/ttyUSB0. */
  path: string;
  /** USB vendor id. */
  vid?: number;
  /** USB product id. */
  pid?: number;
  /** USB serial number string. */
  serial?: string;
  /** USB product string. */
  product?: string;
  /** USB manufacturer string. */
  manufacturer?: string;
  /** Guess of the USB-UART bridge (or Espressif's own USB), from VID:PID. */
  bridge?: string;
}

/** Known bridges and Espressif USB ports (§9.2 of the protocol reference). */
const BRIDGES: [number, number | undefined, string][] = [
  [0x10c4, 0xea60, "CP210x"],
  [0x1a86, 0x7523, "CH340"],
  [0x1a86, 0x55d4, "CH9102"],
  [0x0403, 0x6001, "FTDI FT232R"],
  [0x0403, 0x6010, "FTDI FT2232"],
  [0x0403, 0x6011, "FTDI FT4232H"],
  [0x0403, 0x6014, "FTDI FT232H"],
  [0x0403, 0x6015, "FTDI FT-X"],
  [0x303a, 0x1001, "Espressif USB-JTAG-serial"],
  [0x303a, 0x0002, "Espressif USB-OTG (ESP32-S2)"],
  [0x303a, undefined, "Espressif USB"],
];

/** The bridge name for a VID:PID, or undefined. */
export function guessBridge(vid?: number, pid?: number): string | undefined {
  if (vid === undefined) return undefined;
  return BRIDGES.find(([v, p]) => v === vid && (p === undefined || p === pid))?.[2];
}

/** True for Espressif's built-in USB-Serial/JTAG (it needs its own reset sequence). */
export function isUsbJtagSerial(p: PortInfo): boolean {
  return p.vid === 0x303a && p.pid === 0x1001;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await Deno.readTextFile(path)).trim();
  } catch {
    return undefined;
  }
}

/** Lists USB serial ports. `sysRoot` defaults to /sys; `devRoot` to /dev. */
export async function listPorts(
  options: { sysRoot?: string; devRoot?: string } = {},
): Promise<PortInfo[]> {
  if (Deno.build.os !== "linux" && options.sysRoot === undefined) {
    throw new EspdeltaError(
      "UNSUPPORTED",
      `listing ports on ${Deno.build.os} is not supported yet; pass the port with -p`,
    );
  }
  const sys = options.sysRoot ?? "/sys";
  const dev = options.devRoot ?? "/dev";
  const out: PortInfo[] = [];
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(`${sys}/class/tty`)];
  } catch {
    return out;
  }
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    let dir: string;
    try {
      dir = await Deno.realPath(`${sys}/class/tty/${e.name}/device`);
    } catch {
      continue; // virtual terminals and ptys have no device
    }
    // Walk up to the USB device directory (the one with idVendor).
    let usb: string | undefined;
    for (let d = dir, i = 0; i < 6 && d.length > sys.length; i++, d = d.replace(/\/[^/]+$/, "")) {
      if (await readText(`${d}/idVendor`) !== undefined) {
        usb = d;
        break;
      }
    }
    if (!usb) continue; // on-board UARTs (ttyS*) are not where ESP boards hang
    const vid = parseInt((await readText(`${usb}/idVendor`))!, 16);
    const pid = parseInt((await readText(`${usb}/idProduct`)) ?? "", 16);
    out.push({
      path: `${dev}/${e.name}`,
      vid,
      pid: Number.isNaN(pid) ? undefined : pid,
      serial: await readText(`${usb}/serial`),
      product: await readText(`${usb}/product`),
      manufacturer: await readText(`${usb}/manufacturer`),
      bridge: guessBridge(vid, Number.isNaN(pid) ? undefined : pid),
    });
  }
  return out;
}

/** Formats a port as one line for lists and messages. */
export function describePort(p: PortInfo): string {
  const id = p.vid === undefined
    ? ""
    : ` ${p.vid.toString(16).padStart(4, "0")}:${(p.pid ?? 0).toString(16).padStart(4, "0")}`;
  const extra = [p.bridge, p.product, p.serial && `serial ${p.serial}`].filter(Boolean).join(", ");
  return `${p.path}${id}${extra ? ` (${extra})` : ""}`;
}

/**
 * The single port that looks like an ESP board: a known bridge or
 * Espressif's own USB. Throws NO_PORT (none) or AMBIGUOUS_PORT (several,
 * all named) so the user can pass one with -p.
 */
export function pickPort(ports: readonly PortInfo[]): PortInfo {
  const likely = ports.filter((p) => p.bridge !== undefined);
  if (likely.length === 1) return likely[0];
  if (likely.length === 0) {
    throw new EspdeltaError(
      "NO_PORT",
      ports.length === 0
        ? "no serial port found; connect the board, or pass -p PORT (socket:// and rfc2217:// work too)"
        : `no port looks like an ESP board (${ports.map(describePort).join("; ")}); pass -p PORT`,
    );
  }
  throw new EspdeltaError(
    "AMBIGUOUS_PORT",
    `several ports look like ESP boards: ${likely.map(describePort).join("; ")}; pass -p PORT`,
  );
}

/** One `--port-filter` term, as esptool spells them: `vid=0x303a`, `pid=0x1001`, `name=ttyUSB`, `serial=ABC`. */
export interface PortFilter {
  /** USB vendor id. */
  vid?: number;
  /** USB product id. */
  pid?: number;
  /** A substring of the port's path. */
  name?: string;
  /** A substring of the USB serial number. */
  serial?: string;
}

/**
 * Parses `key=value` filter terms (several may be given; a port must match
 * all of them). Numbers are hex with or without `0x`, as esptool reads them.
 *
 * @example
 * ```ts
 * import { parsePortFilter } from "./list.ts";
 * parsePortFilter(["vid=0x303a", "pid=1001"]); // { vid: 0x303a, pid: 0x1001 }
 * ```
 */
export function parsePortFilter(terms: readonly string[]): PortFilter {
  const f: PortFilter = {};
  for (const term of terms) {
    const m = /^(vid|pid|name|serial)=(.+)$/.exec(term.trim());
    if (!m) {
      throw new EspdeltaError(
        "USAGE",
        `invalid --port-filter '${term}': use vid=0x303a, pid=0x1001, name=ttyUSB or serial=ABC`,
      );
    }
    const [, key, value] = m;
    if (key === "vid" || key === "pid") {
      const n = /^(0x)?[0-9a-f]{1,4}$/i.test(value) ? parseInt(value, 16) : NaN;
      if (Number.isNaN(n)) {
        throw new EspdeltaError(
          "USAGE",
          `invalid --port-filter '${term}': ${key} is a hex USB id such as 0x303a`,
        );
      }
      f[key] = n;
    } else {
      f[key as "name" | "serial"] = value;
    }
  }
  return f;
}

/** The ports that match every term of `filter`. */
export function filterPorts(ports: readonly PortInfo[], filter: PortFilter): PortInfo[] {
  return ports.filter((p) =>
    (filter.vid === undefined || p.vid === filter.vid) &&
    (filter.pid === undefined || p.pid === filter.pid) &&
    (filter.name === undefined || p.path.includes(filter.name)) &&
    (filter.serial === undefined || (p.serial ?? "").includes(filter.serial))
  );
}

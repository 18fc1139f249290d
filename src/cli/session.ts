/**
 * The session as the global options ask for it (src/session/ does the work):
 * which ports, the stub and reset options, and the lines saying what
 * connected.
 * @module
 */

import { type ChipInfo, formatChipRevision, formatMac } from "../chips/chips.ts";
import { hex } from "../protocol/bytes.ts";
import type { Loader } from "../loader/loader.ts";
import {
  describePort,
  filterPorts,
  listPorts,
  parsePortFilter,
  pickPort,
  type PortInfo,
} from "../serial/list.ts";
import { bridgeForUsb } from "../chips/bridges.ts";
import type { LinkFacts } from "../loader/link_speed.ts";
import { baudCacheFile, portKey, readBaudCache, rememberBaud } from "./baud_cache.ts";
import { parseResetSequence } from "../serial/reset.ts";
import type { Port } from "../serial/port.ts";
import {
  ASSUMED_FLASH_SIZE,
  openSession as connectSession,
  settleFlashSize,
} from "../session/session.ts";
import { parseChip, UsageError } from "./args.ts";
import type { GlobalOptions } from "./options.ts";
import type { Output } from "./output.ts";
import { loadStub } from "./stub.ts";
import { afterResetLines, connectedLines } from "./esptool_text.ts";

/** An open session. */
export interface Session {
  /** The port. */
  port: Port;
  /** The connected loader. */
  loader: Loader;
  /** The chip. */
  chip: ChipInfo;
  /** Flash size: detected, or 4 MB when detection fails. */
  flashSize: number;
  /**
   * Bits per second on the wire, for planning: the baud rate, or the USB
   * rate where the port ignores the baud rate (Espressif's USB-Serial/JTAG).
   */
  wireBaud: number;
  /** Closes; resets as --after says when `ok`. */
  close(ok?: boolean): Promise<void>;
}

/**
 * The ports the options name: every `-p`, plus every discovered port that
 * matches all `--port-filter` terms. Empty when neither is given.
 */
export async function namedPorts(g: GlobalOptions): Promise<string[]> {
  const ports = [...(g.port ?? [])];
  if (g.portFilter && g.portFilter.length > 0) {
    const filter = parsePortFilter(g.portFilter);
    const found = await listPorts({ sysRoot: g.sysRoot, devRoot: g.devRoot }).catch(() => []);
    const matched = filterPorts(found, filter);
    if (matched.length === 0) {
      throw new UsageError(
        `no serial port matches --port-filter ${g.portFilter.join(" ")}` +
          (found.length > 0 ? ` (found: ${found.map(describePort).join("; ")})` : "") +
          "; check the cable or run 'espdelta ports'",
      );
    }
    ports.push(...matched.map((p) => p.path));
  }
  return [...new Set(ports)];
}

/**
 * The single port named by the options; with none, the single port that
 * looks like an ESP board (or an error listing the candidates).
 */
async function singlePort(g: GlobalOptions, out: Output): Promise<string> {
  const ports = await namedPorts(g);
  if (ports.length === 1) return ports[0];
  if (ports.length === 0) {
    let found: PortInfo[];
    try {
      found = await listPorts({ sysRoot: g.sysRoot, devRoot: g.devRoot });
    } catch {
      found = [];
    }
    if (found.length === 0) {
      throw new UsageError(
        "no port given: use -p /dev/ttyUSB0, -p socket://host:port, or set ESPDELTA_PORT",
      );
    }
    const picked = pickPort(found);
    out.info(`Using ${describePort(picked)}`);
    return picked.path;
  }
  throw new UsageError(
    `this command takes one port; got ${ports.length} (only flash works on several boards)`,
  );
}

/** The discovered port that `path` is (directly, or through a symbolic link). */
async function portInfo(path: string, ports: readonly PortInfo[]): Promise<PortInfo | undefined> {
  const direct = ports.find((p) => p.path === path);
  if (direct || ports.length === 0) return direct;
  const real = (p: string) => Deno.realPath(p).catch(() => p);
  const target = await real(path);
  for (const p of ports) if (await real(p.path) === target) return p;
  return undefined;
}

/** Connects to the device on `path`, and says so. */
export async function openSession(
  g: GlobalOptions,
  out: Output,
  path: string,
  options: { needFlashSize?: boolean } = {},
): Promise<Session> {
  const chipArg = parseChip(g.chip);
  const reset = g.resetSequence ? parseResetSequence(g.resetSequence) : g.before;
  const stub = g.stub === false ? false : await loadStub(g, out);
  const log = { trace: (line: string) => out.trace(line), warn: (line: string) => out.warn(line) };
  const baud = g.baud ?? "auto";
  // Port discovery: the bridge for --baud auto, Espressif's USB-Serial/JTAG for the reset.
  const local = path.startsWith("/dev/") || (g.devRoot !== undefined && path.startsWith(g.devRoot));
  const ports = local
    ? await listPorts({ sysRoot: g.sysRoot, devRoot: g.devRoot }).catch(() => [])
    : [];
  const info = await portInfo(path, ports);
  const cacheFile = baud === "auto" ? baudCacheFile(Deno.env.toObject()) : undefined;
  const key = portKey(path, info);
  let link: LinkFacts | undefined;
  if (baud === "auto") {
    const bridge = bridgeForUsb(info?.vid, info?.pid, info?.product);
    const remembered = cacheFile
      ? (await readBaudCache(cacheFile, log.trace))[key]?.baud
      : undefined;
    link = { ...(bridge ? { bridge } : {}), ...(remembered ? { remembered } : {}) };
    log.trace(
      `baud auto on ${key}: bridge ${
        bridge ? `${bridge.name} (top ${bridge.maxBaud})` : "unknown"
      }, ${remembered ? `${remembered} remembered in ${cacheFile}` : "no rate remembered"}`,
    );
  }
  const session = await connectSession(path, {
    ...(chipArg === "auto" ? {} : { chip: chipArg }),
    reset,
    stub,
    baud,
    ...(link ? { link } : {}),
    attempts: g.connectAttempts,
    after: g.after,
    log,
    ports: () => Promise.resolve(ports),
    ...(g.trace ? { trace: log.trace } : {}),
  });
  const { loader, port, chip } = session;
  const choice = loader.baudChoice;
  const remember = async () => {
    const now = loader.baudChoice;
    if (cacheFile && now && !link?.bridge?.ignoresBaud) {
      await rememberBaud(cacheFile, key, now.baud, Date.now(), log.trace);
    }
  };
  if (choice?.baud !== link?.remembered) await remember();
  if (out.style === "esptool") {
    const sdm = loader.security?.secureDownload ?? false;
    const mac = sdm || out.quiet ? undefined : formatMac(await loader.readMac());
    const facts = { chip: chip.displayName, port: path, stub: loader.isStub, baud: port.baud };
    for (const line of connectedLines({ ...facts, mac, secureDownload: sdm })) out.info(line);
  } else {
    out.info(`Connected to ${chip.displayName} on ${path}${loader.isStub ? " (stub)" : ""}`);
  }
  out.event("connected", {
    port: path,
    chip: chip.name,
    stub: loader.isStub,
    baud: port.baud,
    ...(choice
      ? {
        baudAuto: {
          reason: choice.reason,
          tried: choice.tried,
          wireBaud: choice.wireBaud,
          ...(link?.bridge ? { bridge: link.bridge.id } : {}),
          ...(link?.remembered ? { remembered: link.remembered } : {}),
        },
      }
      : {}),
    reset: session.reset,
    ...(loader.revision !== undefined ? { revision: formatChipRevision(loader.revision) } : {}),
    ...(loader.security ? { security: loader.security } : {}),
  });
  const sec = loader.security;
  if (sec && (sec.flashEncryption || sec.secureDownload || sec.secureBoot)) {
    const notes = [
      sec.flashEncryption ? `flash encryption on (FLASH_CRYPT_CNT ${hex(sec.flashCryptCnt)})` : "",
      sec.secureBoot ? "secure boot on" : "",
      sec.secureDownload ? "Secure Download Mode (no stub, no MD5, plain writes only)" : "",
    ].filter((n) => n);
    out.info(`Security: ${notes.join(", ")}`);
  }
  let flashSize = ASSUMED_FLASH_SIZE;
  if (options.needFlashSize) {
    try {
      flashSize = await settleFlashSize(loader, log);
    } catch (e) {
      await session.close(false);
      throw e;
    }
  }
  return {
    port,
    loader,
    chip,
    flashSize,
    get wireBaud() {
      return loader.baudChoice?.wireBaud ?? port.baud;
    },
    close: async (ok?: boolean) => {
      // A write that stepped the rate down: the next run starts at the rate that held.
      if (loader.baudChoice && loader.baudChoice.baud !== choice?.baud) await remember();
      await session.close(ok);
    },
  };
}

/**
 * Runs `fn` with a session on `options.path`, else on the single given port.
 * `reset: false` leaves the chip as `fn` left it (running a RAM program),
 * whatever `--after` says.
 */
export async function withSession<T>(
  g: GlobalOptions,
  out: Output,
  fn: (s: Session) => Promise<T>,
  options: { needFlashSize?: boolean; path?: string; reset?: boolean } = {},
): Promise<T> {
  const s = await openSession(g, out, options.path ?? await singlePort(g, out), options);
  let result: T;
  try {
    result = await fn(s);
  } catch (e) {
    await s.close(false);
    throw e;
  }
  if (options.reset === false) {
    if (out.style === "esptool") out.info("\nExiting immediately.");
    await s.close(false);
    return result;
  }
  if (out.style === "esptool") out.info(afterResetLines(g.after).join("\n"));
  await s.close(true);
  return result;
}

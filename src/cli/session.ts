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

/** Baud used after connecting when none is given. */
export const DEFAULT_BAUD = 460800;

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
  const session = await connectSession(path, {
    ...(chipArg === "auto" ? {} : { chip: chipArg }),
    reset,
    stub,
    baud: g.baud ?? DEFAULT_BAUD,
    attempts: g.connectAttempts,
    after: g.after,
    log,
    ...(g.trace ? { trace: log.trace } : {}),
  });
  const { loader, port, chip } = session;
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
  return { port, loader, chip, flashSize, close: session.close };
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

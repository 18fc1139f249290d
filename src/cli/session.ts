/**
 * Opens the port and connects the loader as the global options say, and
 * closes both afterwards with the requested after-reset.
 * @module
 */

import type { ChipInfo } from "../chips/chips.ts";
import { hex } from "../protocol/bytes.ts";
import { type BeforeReset, connect, type Loader } from "../loader/loader.ts";
import { openPort } from "../serial/open.ts";
import {
  describePort,
  filterPorts,
  isUsbJtagSerial,
  listPorts,
  parsePortFilter,
  pickPort,
  type PortInfo,
} from "../serial/list.ts";
import { parseResetSequence, runSequence } from "../serial/reset.ts";
import type { Port } from "../serial/port.ts";
import { parseChip, UsageError } from "./args.ts";
import type { GlobalOptions } from "./options.ts";
import type { Output } from "./output.ts";
import { loadStub } from "./stub.ts";

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
export async function singlePort(g: GlobalOptions, out: Output): Promise<string> {
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

/** Connects to the device on `path`. */
export async function openSession(
  g: GlobalOptions,
  out: Output,
  path: string,
  options: { needFlashSize?: boolean } = {},
): Promise<Session> {
  const chipArg = parseChip(g.chip);
  const port = await openPort(path, { baud: 115200 });
  let before: BeforeReset = g.before;
  if (before === "default-reset" && path.startsWith("/dev/")) {
    // Espressif's USB-Serial/JTAG gets its own sequence, as esptool picks it.
    const info = (await listPorts().catch(() => [])).find((p) => p.path === path);
    if (info && isUsbJtagSerial(info)) before = "usb-reset";
  }
  let loader: Loader;
  let strategy = "none";
  try {
    out.trace(`port ${path} opened at 115200 baud`);
    const stub = g.stub === false ? false : await loadStub(g, out);
    loader = await connect(port, {
      chip: chipArg === "auto" ? undefined : chipArg,
      reset: g.resetSequence
        ? ((steps) => (p) => runSequence(p, steps))(parseResetSequence(g.resetSequence))
        : before,
      onReset: (name) => {
        strategy = name;
        out.trace(`reset: ${name}`);
      },
      attempts: g.connectAttempts,
      stub,
      baud: g.baud ?? DEFAULT_BAUD,
      trace: g.trace ? (line) => out.trace(line) : undefined,
    });
  } catch (e) {
    await port.close();
    throw e;
  }
  const chip = loader.chip;
  out.info(`Connected to ${chip.displayName} on ${path}${loader.isStub ? " (stub)" : ""}`);
  out.event("connected", {
    port: path,
    chip: chip.name,
    stub: loader.isStub,
    baud: port.baud,
    reset: strategy,
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
  let flashSize = 4 * 1024 * 1024;
  if (options.needFlashSize) {
    // Secure Download Mode refuses the register access that reads the flash id.
    const detected = sec?.secureDownload ? undefined : await loader.detectFlashSize();
    if (detected) flashSize = detected;
    else out.warn("could not detect the flash size; assuming 4 MB");
    // Tell the loader, as esptool does: a ROM in Secure Download Mode assumes 2 MB.
    await loader.setFlashSize(flashSize);
  }
  return {
    port,
    loader,
    chip,
    flashSize,
    close: async (ok = true) => {
      try {
        // After a failure the chip stays in the loader, as esptool leaves it.
        if (ok) {
          const note = await loader.after(g.after);
          if (note) out.trace(note);
        }
      } finally {
        await loader.close();
        await port.close();
      }
    },
  };
}

/** Runs `fn` with a session on `options.path`, else on the single given port. */
export async function withSession<T>(
  g: GlobalOptions,
  out: Output,
  fn: (s: Session) => Promise<T>,
  options: { needFlashSize?: boolean; path?: string } = {},
): Promise<T> {
  const s = await openSession(g, out, options.path ?? await singlePort(g, out), options);
  let result: T;
  try {
    result = await fn(s);
  } catch (e) {
    await s.close(false);
    throw e;
  }
  await s.close(true);
  return result;
}

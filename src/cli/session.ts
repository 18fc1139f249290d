/**
 * Opens the port and connects the loader as the global options say, and
 * closes both afterwards with the requested after-reset.
 * @module
 */

import type { ChipInfo } from "../chips/chips.ts";
import { connect, type Loader } from "../loader/loader.ts";
import { openPort } from "../serial/open.ts";
import type { Port } from "../serial/port.ts";
import { parseChip, UsageError } from "./args.ts";
import type { GlobalOptions } from "./main.ts";
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

/** The single port named by the options (or the error why there is none). */
export function singlePort(g: GlobalOptions): string {
  const ports = g.port ?? [];
  if (ports.length === 1) return ports[0];
  if (ports.length === 0) {
    throw new UsageError(
      "no port given: use -p /dev/ttyUSB0, -p socket://host:port, or set ESPDELTA_PORT",
    );
  }
  throw new UsageError(`this command takes one port; got ${ports.length}`);
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
  let loader: Loader;
  try {
    out.trace(`port ${path} opened at 115200 baud`);
    const stub = g.stub === false ? false : await loadStub(g, out);
    loader = await connect(port, {
      chip: chipArg === "auto" ? undefined : chipArg,
      reset: g.before as "default-reset" | "no-reset" | "no-reset-no-sync",
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
  out.event("connected", { port: path, chip: chip.name, stub: loader.isStub, baud: port.baud });
  let flashSize = 4 * 1024 * 1024;
  if (options.needFlashSize) {
    const detected = await loader.detectFlashSize();
    if (detected) flashSize = detected;
    else out.warn("could not detect the flash size; assuming 4 MB");
  }
  return {
    port,
    loader,
    chip,
    flashSize,
    close: async (ok = true) => {
      try {
        // After a failure the chip stays in the loader, as esptool leaves it.
        if (ok && g.after === "hard-reset") await loader.hardReset();
      } finally {
        await loader.close();
        await port.close();
      }
    },
  };
}

/** Runs `fn` with a session on the single given port. */
export async function withSession<T>(
  g: GlobalOptions,
  out: Output,
  fn: (s: Session) => Promise<T>,
  options: { needFlashSize?: boolean } = {},
): Promise<T> {
  const s = await openSession(g, out, singlePort(g), options);
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

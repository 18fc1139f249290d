/**
 * One connected device, from opening its port to closing it: the reset
 * before connecting (Espressif's USB-Serial/JTAG gets its own, as esptool
 * picks it), the loader's connect, the flash size to plan with, and the
 * reset after. Built on the loader's and the serial module's public API
 * only; neither of them, nor plan/, imports this.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { openSession, settleFlashSize } from "./session.ts";
 * import { serveTcp } from "../emulator/tcp.ts";
 * import { VirtualDevice } from "../emulator/device.ts";
 * const server = await serveTcp(new VirtualDevice({ chip: "esp32c3" }), { hostname: "127.0.0.1", port: 0 });
 * const session = await openSession(`socket://127.0.0.1:${server.port}`, { after: "no-reset" });
 * const flashSize = await settleFlashSize(session.loader);
 * deepStrictEqual([session.chip.name, session.loader.isStub, flashSize], ["esp32c3", false, 4 << 20]);
 * await session.close();
 * await server.close();
 * ```
 * @module
 */

import type { ChipInfo, ChipName } from "../chips/chips.ts";
import {
  type AfterReset,
  type BeforeReset,
  connect,
  type ConnectOptions,
  type Loader,
} from "../loader/loader.ts";
import type { LinkFacts } from "../loader/link_speed.ts";
import { isUsbJtagSerial, listPorts, type PortInfo } from "../serial/list.ts";
import { openPort } from "../serial/open.ts";
import type { Port } from "../serial/port.ts";
import { type ResetStep, runSequence } from "../serial/reset.ts";

/** Where a session's notes go; both optional. */
export interface SessionLog {
  /** Details for --trace: the port opened, the reset that worked, the after-reset's note. */
  trace?: (line: string) => void;
  /** Something the user should know (e.g. the flash size was assumed). */
  warn?: (line: string) => void;
}

/** Options of {@link openSession}. */
export interface SessionOptions {
  /** The chip expected; detection must agree. Default: any. */
  chip?: ChipName;
  /** Reset before connecting (default `default-reset`), or a custom DTR/RTS sequence. */
  reset?: BeforeReset | readonly ResetStep[];
  /** The flasher stub, as {@link connect} takes it. Default: none (the ROM loader). */
  stub?: ConnectOptions["stub"];
  /**
   * Baud rate after connecting; only raised. `auto`: the fastest the chip and
   * bridge carry, checked (the loader's link_speed.ts). Default: stay at 115200.
   */
  baud?: number | "auto";
  /** What is known about the link, for `baud: "auto"`: its bridge, the rate that worked before. */
  link?: LinkFacts;
  /** Reset-and-sync attempts (default 7). */
  attempts?: number;
  /** Reset after the session when it ends well (default `hard-reset`). */
  after?: AfterReset;
  /** Where notes go. */
  log?: SessionLog;
  /** Port discovery for the USB-Serial/JTAG choice; default {@link listPorts}. */
  ports?: () => Promise<PortInfo[]>;
  /** Receives one line per packet. */
  trace?: (line: string) => void;
}

/** A connected device. */
export interface Session {
  /** The open port. */
  port: Port;
  /** The connected loader. */
  loader: Loader;
  /** The chip, as detected. */
  chip: ChipInfo;
  /** The reset strategy that reached the download mode (`none` when none ran). */
  reset: string;
  /**
   * Ends the session: with `ok` (the default) resets as `after` says, then
   * closes the loader and the port. After a failure the chip stays in its
   * loader, as esptool leaves it.
   */
  close(ok?: boolean): Promise<void>;
}

/**
 * The reset to use before connecting on `path`: `default-reset` becomes
 * `usb-reset` on Espressif's USB-Serial/JTAG (VID 0x303A, PID 0x1001), as
 * esptool picks it; anything else stays as asked.
 */
export function beforeResetFor(
  path: string,
  before: BeforeReset,
  ports: readonly PortInfo[],
): BeforeReset {
  if (before !== "default-reset" || !path.startsWith("/dev/")) return before;
  const info = ports.find((p) => p.path === path);
  return info && isUsbJtagSerial(info) ? "usb-reset" : before;
}

/** Opens `path` at 115200 baud and connects the loader (see the module doc). */
export async function openSession(path: string, options: SessionOptions = {}): Promise<Session> {
  const log = options.log ?? {};
  const port = await openPort(path, { baud: 115200 });
  let reset: ConnectOptions["reset"];
  if (Array.isArray(options.reset)) {
    const steps = options.reset as readonly ResetStep[];
    reset = (p) => runSequence(p, [...steps]);
  } else {
    const before = (options.reset ?? "default-reset") as BeforeReset;
    // Only a local device can be Espressif's USB-Serial/JTAG; ask sysfs only then.
    const ports = before === "default-reset" && path.startsWith("/dev/")
      ? await (options.ports ?? listPorts)().catch(() => [])
      : [];
    reset = beforeResetFor(path, before, ports);
  }
  let loader: Loader;
  let strategy = "none";
  try {
    log.trace?.(`port ${path} opened at 115200 baud`);
    loader = await connect(port, {
      ...(options.chip ? { chip: options.chip } : {}),
      reset,
      onReset: (name) => {
        strategy = name;
        log.trace?.(`reset: ${name}`);
      },
      ...(options.attempts !== undefined ? { attempts: options.attempts } : {}),
      ...(options.stub !== undefined ? { stub: options.stub } : {}),
      ...(options.baud !== undefined ? { baud: options.baud } : {}),
      ...(options.link ? { link: options.link } : {}),
      ...(options.trace ? { trace: options.trace } : {}),
    });
  } catch (e) {
    await port.close();
    throw e;
  }
  const after = options.after ?? "hard-reset";
  return {
    port,
    loader,
    chip: loader.chip,
    reset: strategy,
    close: async (ok = true) => {
      try {
        if (ok) {
          const note = await loader.after(after);
          if (note) log.trace?.(note);
        }
      } finally {
        await loader.close();
        await port.close();
      }
    },
  };
}

/** The flash size assumed when the device cannot tell, as esptool assumes it. */
export const ASSUMED_FLASH_SIZE = 4 * 1024 * 1024;

/**
 * The flash size to plan with: read from the flash chip's JEDEC id, else
 * (Secure Download Mode refuses the register access, or the id is unknown)
 * {@link ASSUMED_FLASH_SIZE}, with a warning. The loader is told the size
 * (SPI_SET_PARAMS), as esptool does: a ROM in Secure Download Mode would
 * otherwise assume 2 MB.
 */
export async function settleFlashSize(loader: Loader, log: SessionLog = {}): Promise<number> {
  const detected = loader.security?.secureDownload ? undefined : await loader.detectFlashSize();
  const flashSize = detected ? detected : ASSUMED_FLASH_SIZE;
  if (!detected) log.warn?.("could not detect the flash size; assuming 4 MB");
  await loader.setFlashSize(flashSize);
  return flashSize;
}

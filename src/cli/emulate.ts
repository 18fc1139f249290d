/**
 * `espdelta emulate`: serve a virtual ESP device over TCP (socket://), over
 * RFC 2217 (rfc2217://, the board's reset circuit driven by DTR/RTS) or on a
 * pseudo-terminal, so any flasher can drive it.
 * @module
 */

import { type ChipName, CHIPS } from "../chips/chips.ts";
import { VirtualDevice } from "../emulator/device.ts";
import { parseRevision, type Revision, RevisionError } from "../emulator/identity.ts";
import { STUB_KINDS, type StubKind } from "../emulator/known_stubs.ts";
import { serveTcp } from "../emulator/tcp.ts";
import { serveRfc2217 } from "../emulator/rfc2217_server.ts";
import { servePty } from "../emulator/pty.ts";
import { FlashFile, FlashFileError } from "../emulator/flash_file.ts";
import { BRIDGE_IDS } from "../emulator/bridge.ts";
import { parseChip, parseSize, UsageError } from "./args.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  program.command("emulate")
    .description("serve a virtual ESP device on TCP, RFC 2217 or a pty, until interrupted")
    .option("--flash-size <size>", "flash size", "4MB")
    .option(
      "--tcp <host:port>",
      "raw socket:// for one client at a time; each connection power-cycles the chip into " +
        "download mode (a raw socket has no DTR/RTS)",
    )
    .option(
      "--rfc2217 <host:port>",
      "an RFC 2217 port (rfc2217://): DTR/RTS drive the board's auto-reset circuit; " +
        "connecting never resets the chip, which powers on booting its flash",
    )
    .option(
      "--usb-serial-jtag",
      "with --rfc2217: serve the chip's USB-Serial/JTAG port instead of a USB-UART bridge " +
        "(ESP32-S3, -C3, -C5, -C6, -H2, -P4)",
    )
    .option(
      "--pty",
      "create a pseudo-terminal and print its path; a board with auto-reset: a flasher's first " +
        "frame finds a chip that was running its app reset into download mode, a monitor sees " +
        "the app, a flasher stub left running stays",
    )
    .option(
      "--link <path>",
      "with --pty: also a symbolic link to the pty at PATH, replaced on each start (a path that " +
        "stays the same across runs, like /dev/serial/by-id/)",
    )
    .option(
      "--flash-file <file>",
      "keep the flash in FILE (created erased if missing), every erase and write written " +
        "through at once, and per-sector erase/write counts in FILE.counters.json",
    )
    .option(
      "--timing",
      "with --tcp or --pty: pace the device in real time by the timing model (the wire at the " +
        "baud rate, USB latency, flash erase and program times), so any flasher can be timed " +
        "against it in wall-clock time",
    )
    .option(
      "--bridge <name>",
      `the board's USB bridge: ${BRIDGE_IDS.join(", ")}; above its top rate bytes arrive ` +
        "with bits wrong; usb-serial-jtag ignores the baud rate (default: an ideal link)",
    )
    .option("--seed <n>", "seed for the device's MAC", "1")
    .option(
      "--revision <vX.Y>",
      "silicon revision (default: the part on sale, e.g. v3.1 for ESP32)",
    )
    .option(
      "--stub-kind <kind>",
      `run known flasher stubs as ${STUB_KINDS.join(" or ")} (default: each as itself)`,
    )
    .addHelpText(
      "after",
      "\nExample:\n  espdelta --chip esp32 emulate --tcp 127.0.0.1:5555\n" +
        "  espdelta -p socket://127.0.0.1:5555 chip-id\n" +
        "  espdelta --chip esp32c3 emulate --rfc2217 127.0.0.1:4000\n" +
        "  espdelta -p rfc2217://127.0.0.1:4000 flash build/\n" +
        "  espdelta --chip esp32c3 emulate --pty --revision v0.3\n" +
        "  espdelta --chip esp32 emulate --tcp 127.0.0.1:5555 --timing --bridge cp2102\n" +
        "\nThe virtual chip boots what its flash holds: the ROM's messages, ESP-IDF's bootloader\n" +
        "and app logs, then 'I (<ms>) main: heartbeat <n>' every second. An app whose project\n" +
        "name or version contains 'espdelta-panic' panics and reboots (a reset loop).",
    )
    .action(async (opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const chipArg = parseChip(g.chip);
      const chip: ChipName = chipArg === "auto" ? "esp32" : chipArg;
      const flashSize = parseSize(opts.flashSize, "flash size");
      if (flashSize % 0x1000 !== 0 || flashSize < 0x10000) {
        throw new UsageError(
          `invalid flash size '${opts.flashSize}': use a multiple of 4 KiB, at least 64K`,
        );
      }
      if ([opts.tcp, opts.rfc2217, opts.pty].filter(Boolean).length !== 1) {
        throw new UsageError(
          "emulate needs exactly one of --tcp HOST:PORT, --rfc2217 HOST:PORT or --pty",
        );
      }
      if (opts.usbSerialJtag && !opts.rfc2217) {
        throw new UsageError(
          "--usb-serial-jtag needs --rfc2217 HOST:PORT: its DTR/RTS need a port that carries them",
        );
      }
      const usbChips = ["esp32s3", "esp32c3", "esp32c5", "esp32c6", "esp32h2", "esp32p4"];
      if (opts.usbSerialJtag && !usbChips.includes(chip)) {
        throw new UsageError(
          `${CHIPS[chip].displayName} has no USB-Serial/JTAG port; use --chip ${
            usbChips.join(", ")
          }`,
        );
      }
      if (opts.timing && opts.rfc2217) {
        throw new UsageError(
          "--timing works with --tcp or --pty (an RFC 2217 port is not paced); drop one of them",
        );
      }
      if (opts.bridge !== undefined && !BRIDGE_IDS.includes(opts.bridge.toLowerCase())) {
        throw new UsageError(
          `unknown bridge '${opts.bridge}': use one of ${BRIDGE_IDS.join(", ")}`,
        );
      }
      const bridge = opts.bridge?.toLowerCase();
      if (bridge === "usb-serial-jtag" && !usbChips.includes(chip)) {
        throw new UsageError(
          `${CHIPS[chip].displayName} has no USB-Serial/JTAG port; use --chip ${
            usbChips.join(", ")
          }`,
        );
      }
      if (opts.link && !opts.pty) {
        throw new UsageError("--link needs --pty: it names the pseudo-terminal");
      }
      let flashFile: FlashFile | undefined;
      if (opts.flashFile) {
        try {
          flashFile = FlashFile.open(opts.flashFile, flashSize);
        } catch (e) {
          if (e instanceof FlashFileError) throw new UsageError(e.message);
          throw e;
        }
      }
      const flash = flashFile?.contents;
      let revision: Revision | undefined;
      try {
        revision = opts.revision === undefined ? undefined : parseRevision(opts.revision);
      } catch (e) {
        if (e instanceof RevisionError) throw new UsageError(e.message);
        throw e;
      }
      const stubKind = opts.stubKind as StubKind | undefined;
      if (stubKind !== undefined && !STUB_KINDS.includes(stubKind)) {
        throw new UsageError(
          `invalid --stub-kind '${opts.stubKind}': use ${STUB_KINDS.join(" or ")}`,
        );
      }
      let device: VirtualDevice;
      try {
        device = new VirtualDevice({
          chip,
          flashSize,
          flash,
          seed: Number(opts.seed),
          revision,
          stubKind,
          // A board on an RFC 2217 port is powered with its BOOT button released.
          bootMode: opts.rfc2217 ? "flash" : "download",
          usbSerialJtag: opts.usbSerialJtag ?? false,
          ...(bridge ? { bridge } : {}),
          onLog: (line) => o.info(`device: ${line}`),
        });
      } catch (e) {
        if (e instanceof RevisionError) throw new UsageError(e.message);
        // A bridge the board model does not carry (the ESP32-S2's USB-OTG).
        if (e instanceof RangeError && bridge) {
          throw new UsageError(`--bridge ${bridge}: ${e.message}; use another bridge`);
        }
        throw e;
      }
      flashFile?.attach(device.flash);
      const extras = (bridge ? `, behind a ${device.bridge!.info.name}` : "") +
        (opts.timing ? ", paced in real time by the timing model" : "");
      let close: () => Promise<void>;
      if (opts.rfc2217) {
        const m = /^(.*):(\d+)$/.exec(opts.rfc2217);
        if (!m) {
          throw new UsageError(
            `invalid --rfc2217 '${opts.rfc2217}': use HOST:PORT, e.g. 127.0.0.1:4000`,
          );
        }
        const server = await listening(
          opts.rfc2217,
          () => serveRfc2217(device, { hostname: m[1], port: Number(m[2]) }),
        );
        close = server.close;
        const url = `rfc2217://${server.hostname}:${server.port}`;
        o.result(
          `${CHIPS[chip].displayName} with ${flashSize / 1024 / 1024} MB flash on ${url}` +
            (opts.usbSerialJtag ? " (USB-Serial/JTAG)" : ""),
          { chip, flashSize, port: url, usbSerialJtag: opts.usbSerialJtag ?? false },
        );
      } else if (opts.tcp) {
        const m = /^(.*):(\d+)$/.exec(opts.tcp);
        if (!m) {
          throw new UsageError(`invalid --tcp '${opts.tcp}': use HOST:PORT, e.g. 127.0.0.1:5555`);
        }
        const server = await listening(
          opts.tcp,
          () =>
            serveTcp(device, {
              hostname: m[1],
              port: Number(m[2]),
              ...(opts.timing ? { timing: {} } : {}),
            }),
        );
        close = server.close;
        o.result(
          `${CHIPS[chip].displayName} with ${flashSize / 1024 / 1024} MB flash on ` +
            `socket://${server.hostname}:${server.port}${extras}`,
          {
            chip,
            flashSize,
            port: `socket://${server.hostname}:${server.port}`,
            timing: opts.timing ?? false,
            ...(bridge ? { bridge } : {}),
          },
        );
      } else {
        const served = await servePty(device, {
          link: opts.link,
          ...(opts.timing ? { timing: {} } : {}),
        });
        close = served.close;
        const where = served.link ? `${served.link} (${served.path})` : served.path;
        o.result(
          `${CHIPS[chip].displayName} with ${
            flashSize / 1024 / 1024
          } MB flash on ${where}${extras}`,
          {
            chip,
            flashSize,
            port: served.link ?? served.path,
            tty: served.path,
            timing: opts.timing ?? false,
            ...(bridge ? { bridge } : {}),
          },
        );
      }
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        Deno.addSignalListener("SIGINT", stop);
        Deno.addSignalListener("SIGTERM", stop);
      });
      await close();
      flashFile?.close();
    });
}

/**
 * Starts a server on `address`, turning the OS's refusals into one line
 * that says what to do (exit 2): the address in use (another emulator, or
 * any other program, listens there), not this machine's, or a port the
 * user may not open.
 */
async function listening<T>(address: string, serve: () => Promise<T>): Promise<T> {
  try {
    return await serve();
  } catch (e) {
    const fail = (why: string) => new UsageError(`cannot serve on ${address}: ${why}`);
    if (e instanceof Deno.errors.AddrInUse) {
      throw fail(
        "the address is in use (another emulator, or another program, listens there); pick " +
          "another port, or stop the program that holds it",
      );
    }
    if (e instanceof Deno.errors.AddrNotAvailable) {
      throw fail("the host is not an address of this machine; use 127.0.0.1 or 0.0.0.0");
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw fail("permission denied (ports below 1024 need privileges); pick a port above 1023");
    }
    throw e;
  }
}

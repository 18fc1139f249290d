/**
 * `espdelta emulate`: serve a virtual ESP device over TCP (socket://) or on a
 * pseudo-terminal, so any flasher can drive it.
 * @module
 */

import type { Command } from "./deps.ts";
import { type ChipName, CHIPS } from "../chips/chips.ts";
import { VirtualDevice } from "../emulator/device.ts";
import { parseRevision, type Revision, RevisionError } from "../emulator/identity.ts";
import { STUB_KINDS, type StubKind } from "../emulator/known_stubs.ts";
import { serveTcp } from "../emulator/tcp.ts";
import { servePty } from "../emulator/pty.ts";
import { parseChip, parseSize, UsageError } from "./args.ts";
import type { GlobalOptions } from "./main.ts";
import type { Output } from "./output.ts";

/** Registers the command. */
export function register(program: Command, out: () => Output): void {
  program.command("emulate")
    .description("serve a virtual ESP device on TCP or a pty, until interrupted")
    .option("--flash-size <size>", "flash size", "4MB")
    .option("--tcp <host:port>", "listen for one socket:// client at a time")
    .option("--pty", "create a pseudo-terminal and print its path")
    .option("--flash-file <file>", "load flash contents from FILE if it exists; save them on exit")
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
        "  espdelta --chip esp32c3 emulate --pty --revision v0.3",
    )
    .action(async (opts, cmd) => {
      const g = cmd.optsWithGlobals() as unknown as GlobalOptions;
      const o = out();
      const chipArg = parseChip(g.chip);
      const chip: ChipName = chipArg === "auto" ? "esp32" : chipArg;
      const flashSize = parseSize(opts.flashSize, "flash size");
      if (flashSize % 0x1000 !== 0 || flashSize < 0x10000) {
        throw new UsageError(
          `invalid flash size '${opts.flashSize}': use a multiple of 4 KiB, at least 64K`,
        );
      }
      if (!opts.tcp === !opts.pty) {
        throw new UsageError("emulate needs exactly one of --tcp HOST:PORT or --pty");
      }
      let flash: Uint8Array | undefined;
      if (opts.flashFile) {
        try {
          flash = await Deno.readFile(opts.flashFile);
          if (flash.length !== flashSize) {
            throw new UsageError(
              `${opts.flashFile} holds ${flash.length} bytes but --flash-size is ${flashSize}`,
            );
          }
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        }
      }
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
          onLog: (line) => o.info(`device: ${line}`),
        });
      } catch (e) {
        if (e instanceof RevisionError) throw new UsageError(e.message);
        throw e;
      }
      let close: () => Promise<void>;
      if (opts.tcp) {
        const m = /^(.*):(\d+)$/.exec(opts.tcp);
        if (!m) {
          throw new UsageError(`invalid --tcp '${opts.tcp}': use HOST:PORT, e.g. 127.0.0.1:5555`);
        }
        const server = await serveTcp(device, { hostname: m[1], port: Number(m[2]) });
        close = server.close;
        o.result(
          `${CHIPS[chip].displayName} with ${flashSize / 1024 / 1024} MB flash on ` +
            `socket://${server.hostname}:${server.port}`,
          { chip, flashSize, port: `socket://${server.hostname}:${server.port}` },
        );
      } else {
        const served = await servePty(device);
        close = served.close;
        o.result(
          `${CHIPS[chip].displayName} with ${flashSize / 1024 / 1024} MB flash on ${served.path}`,
          { chip, flashSize, port: served.path },
        );
      }
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        Deno.addSignalListener("SIGINT", stop);
        Deno.addSignalListener("SIGTERM", stop);
      });
      await close();
      if (opts.flashFile) await Deno.writeFile(opts.flashFile, device.flash.data);
    });
}

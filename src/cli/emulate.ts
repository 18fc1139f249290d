/**
 * `espdelta emulate`: serve a virtual ESP device over TCP (socket://) or on a
 * pseudo-terminal, so any flasher can drive it.
 * @module
 */

import { type ChipName, CHIPS } from "../chips/chips.ts";
import { VirtualDevice } from "../emulator/device.ts";
import { serveTcp } from "../emulator/tcp.ts";
import { servePty } from "../emulator/pty.ts";
import { parseChip, parseSize, UsageError } from "./args.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  program.command("emulate")
    .description("serve a virtual ESP device on TCP or a pty, until interrupted")
    .option("--flash-size <size>", "flash size", "4MB")
    .option("--tcp <host:port>", "listen for one socket:// client at a time")
    .option("--pty", "create a pseudo-terminal and print its path")
    .option("--flash-file <file>", "load flash contents from FILE if it exists; save them on exit")
    .option("--seed <n>", "seed for the device's MAC", "1")
    .addHelpText(
      "after",
      "\nExample:\n  espdelta --chip esp32 emulate --tcp 127.0.0.1:5555\n" +
        "  espdelta -p socket://127.0.0.1:5555 chip-id",
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
      const device = new VirtualDevice({ chip, flashSize, flash, seed: Number(opts.seed) });
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

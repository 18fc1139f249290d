/**
 * `espdelta erase-region ADDR SIZE` and `espdelta erase-flash`.
 * @module
 */

import { hex } from "../protocol/bytes.ts";
import { parseAddress, parseSize, UsageError } from "./args.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";
import { withSession } from "./session.ts";

/** Registers both erase commands. */
export function register(program: Program, out: () => Output): void {
  program.command("erase-region")
    .description("erase SIZE bytes at ADDR (both multiples of 0x1000)")
    .argument("<addr>", "flash address")
    .argument("<size>", "byte count")
    .addHelpText("after", "\nExample:\n  espdelta -p /dev/ttyUSB0 erase-region 0x9000 0x6000")
    .action(async (addrText, sizeText, _opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const offset = parseAddress(addrText);
      const size = parseSize(sizeText, "size");
      if (offset % 0x1000 !== 0 || size % 0x1000 !== 0 || size === 0) {
        throw new UsageError(
          `erase-region needs a 4 KiB aligned address and size (got ${hex(offset)}, ${hex(size)})`,
        );
      }
      await withSession(g, o, async ({ loader, flashSize }) => {
        if (offset + size > flashSize) {
          throw new UsageError(
            `${hex(offset)} + ${hex(size)} is past the end of the ${flashSize / 1048576} MB flash`,
          );
        }
        await loader.eraseRegion(offset, size);
        o.result(`Erased ${size} bytes at ${hex(offset, 8)}.`, { offset, size });
      }, { needFlashSize: true });
    });

  program.command("erase-flash")
    .description("erase the whole flash (needs the stub)")
    .addHelpText("after", "\nExample:\n  espdelta -p /dev/ttyUSB0 erase-flash")
    .action(async (_opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      await withSession(g, o, async ({ loader }) => {
        await loader.eraseFlash();
        o.result("Flash erased.");
      });
    });
}

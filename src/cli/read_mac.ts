/**
 * `espdelta read-mac`: print the base MAC address.
 * @module
 */

import { formatMac } from "../chips/chips.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";
import { withSession } from "./session.ts";

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  program.command("read-mac")
    .description("print the chip's base MAC address")
    .addHelpText("after", "\nExample:\n  espdelta -p /dev/ttyUSB0 read-mac")
    .action(async (_opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      await withSession(g, o, async ({ loader, chip }) => {
        const mac = formatMac(await loader.readMac());
        o.event("chip", { chip: chip.name, mac });
        o.result(`MAC: ${mac}`);
      });
    });
}

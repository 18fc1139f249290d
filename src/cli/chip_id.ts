/**
 * `espdelta chip-id`: connect, identify the chip, print its id and MAC.
 * @module
 */

import { formatMac } from "../chips/chips.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";
import { withSession } from "./session.ts";

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  program.command("chip-id")
    .description("identify the chip and print its chip id and MAC")
    .addHelpText("after", "\nExample:\n  espdelta -p /dev/ttyUSB0 chip-id")
    .action(async (_opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      await withSession(g, o, async ({ loader, chip }) => {
        const info = await loader.securityInfo();
        const mac = formatMac(await loader.readMac());
        o.info(`Chip type: ${chip.displayName}`);
        if (info?.chipId !== undefined) o.info(`Chip ID: ${info.chipId}`);
        o.event("chip", { chip: chip.name, chipId: info?.chipId ?? null, mac });
        o.result(`MAC: ${mac}`);
      });
    });
}

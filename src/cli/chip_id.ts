/**
 * `espdelta chip-id`: connect, identify the chip, print its type and
 * revision, its chip ID and its MAC. Only the ESP8266 has a chip ID; for the
 * others the line says so and the MAC (which esptool shows instead) is the
 * chip's identity. GET_SECURITY_INFO's "chip id" is the chip type's number
 * (5 for every ESP32-C3), not an ID of the part, so it is not shown as one.
 * @module
 */

import { formatChipRevision, formatMac } from "../chips/chips.ts";
import { hex } from "../protocol/bytes.ts";
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
        const chipId = await loader.chipId();
        const mac = formatMac(await loader.readMac());
        const rev = loader.revision;
        const revision = rev === undefined ? null : formatChipRevision(rev);
        o.info(`Chip type: ${chip.displayName}${revision ? ` (revision ${revision})` : ""}`);
        o.info(
          chipId !== undefined
            ? `Chip ID: ${hex(chipId, 8)}`
            : `Chip ID: none (the ${chip.displayName} has no chip ID, only the ESP8266 does; ` +
              "its MAC identifies it)",
        );
        o.event("chip", { chip: chip.name, revision, chipId: chipId ?? null, mac });
        o.result(`MAC: ${mac}`);
      });
    });
}

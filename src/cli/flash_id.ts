/**
 * `espdelta flash-id`: print the SPI flash JEDEC id and detected size.
 * @module
 */

import { jedecParts } from "../chips/chips.ts";
import { hex } from "../protocol/bytes.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";
import { withSession } from "./session.ts";

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  program.command("flash-id")
    .description("print the flash manufacturer, device id and size")
    .addHelpText("after", "\nExample:\n  espdelta -p /dev/ttyUSB0 flash-id")
    .action(async (_opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      await withSession(g, o, async ({ loader }) => {
        const id = await loader.flashId();
        const { manufacturer, device, size } = jedecParts(id);
        o.info(`Manufacturer: ${hex(manufacturer, 2)}`);
        o.info(`Device: ${hex(device, 4)}`);
        const sizeText = size === undefined ? "unknown" : `${size / 1024 / 1024}MB`;
        o.result(`Detected flash size: ${sizeText}`, {
          manufacturer,
          device,
          flashSize: size ?? null,
        });
      });
    });
}

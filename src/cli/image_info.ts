/**
 * `espdelta image-info FILE`: what the image header and segments say, in the
 * same words esptool v5 prints. Needs no device.
 * @module
 */

import { formatImageInfo } from "../image/info.ts";
import { parseChip } from "./args.ts";
import { readInputFile } from "../image/files.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  program.command("image-info")
    .description("print an image's header, segments, checksum and digest (no device needed)")
    .argument("<file>", "image file")
    .addHelpText("after", "\nExample:\n  espdelta image-info build/bootloader/bootloader.bin")
    .action(async (file, _opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const chip = parseChip(g.chip);
      const bytes = await readInputFile(file);
      o.info(`File ${file}:`);
      const text = formatImageInfo(bytes, chip === "auto" ? undefined : chip);
      const lines = text.trimEnd().split("\n");
      if (o.json) o.result(lines.join("\n"), { file, lines });
      else for (const line of lines) o.result(line);
    });
}

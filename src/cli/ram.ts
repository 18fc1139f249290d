/**
 * `load-ram FILE` and `run`: start code other than the flasher. load-ram
 * uploads a RAM-only firmware image's segments and jumps to its entry point,
 * then leaves the port without a reset, as esptool does ("Exiting
 * immediately."); run leaves the loader for the app in flash.
 * @module
 */

import { hex } from "../protocol/bytes.ts";
import { parseImage } from "../image/app.ts";
import { ImageError } from "../image/errors.ts";
import { intelHexChunks, readInputFile } from "../image/files.ts";
import { loadRam, runApp } from "../session/ram.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";
import { withSession } from "./session.ts";

/** Registers both commands. */
export function register(program: Program, out: () => Output): void {
  program.command("load-ram")
    .description("upload a RAM-only firmware image and run it (no reset afterwards)")
    .argument("<file>", "firmware image whose segments all load into RAM")
    .addHelpText(
      "after",
      "\nExample:\n  espdelta -p /dev/ttyUSB0 load-ram helloworld-esp32.bin",
    )
    .action(async (file, _opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      let bytes = await readInputFile(file);
      const chunks = intelHexChunks(bytes, file);
      if (chunks && chunks.length > 1) {
        throw new ImageError(
          "BAD_ARGUMENT",
          `${file}: Merged binary image detected. Only one file can be specified for the ` +
            "load-ram command.",
        );
      }
      if (chunks) bytes = chunks[0].data;
      // Parse before connecting: a file that is no image never resets the board.
      let image = parseImage(bytes);
      await withSession(g, o, async ({ loader, chip }) => {
        if (image.chip !== chip.name) image = parseImage(bytes, { chip: chip.name });
        const segments = image.segments.map((s) => ({
          address: s.loadAddress,
          data: bytes.subarray(s.dataOffset, s.dataOffset + s.length),
        }));
        o.info(`Loading '${file}' to RAM...`);
        await loadRam(loader, segments, image.entry, (s) => {
          o.trace(`Downloading ${s.data.length} bytes at ${hex(s.address, 8)}`);
        });
        o.result(
          `Loaded ${segments.length} segments from '${file}' to RAM, executing at ${
            hex(image.entry, 8)
          }.`,
          { file, segments: segments.length, entry: image.entry },
        );
      }, { reset: false });
    });

  program.command("run")
    .description("leave the loader and run the app in flash")
    .addHelpText("after", "\nExample:\n  espdelta -p /dev/ttyUSB0 --no-stub run")
    .action(async (_opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      await withSession(g, o, async ({ loader }) => {
        await runApp(loader);
        if (o.style !== "esptool") o.result("Running the app in flash.");
      });
    });
}

/**
 * `espdelta read-flash ADDR SIZE FILE`: read flash contents into a file.
 * @module
 */

import { hex } from "../protocol/bytes.ts";
import { parseAddress, parseSize, UsageError } from "./args.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";
import { withSession } from "./session.ts";
import { checkOutputPath } from "../image/files.ts";

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  program.command("read-flash")
    .description("read SIZE bytes of flash at ADDR into FILE")
    .argument("<addr>", "flash address")
    .argument("<size>", "byte count (0x1000, 64K, 4MB, or ALL)")
    .argument("<file>", "output file")
    .addHelpText("after", "\nExample:\n  espdelta -p /dev/ttyUSB0 read-flash 0 0x400000 backup.bin")
    .action(async (addrText, sizeText, file, _opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const offset = parseAddress(addrText);
      const all = sizeText.toUpperCase() === "ALL";
      const size = all ? 0 : parseSize(sizeText, "size");
      if (!all && size === 0) throw new UsageError("size must be greater than 0");
      // Before the port opens: a read of the whole flash can take many minutes.
      await checkOutputPath(file);
      await withSession(g, o, async ({ loader, flashSize }) => {
        const length = all ? flashSize - offset : size;
        if (offset + length > flashSize) {
          throw new UsageError(
            `${hex(offset)} + ${hex(length)} is past the end of the ${
              flashSize / 1048576
            } MB flash`,
          );
        }
        const started = performance.now();
        o.progressStart("read", length);
        const data = await loader.read(
          offset,
          length,
          (done: number, total: number) => o.progress("read", done, total),
        );
        o.progressEnd();
        await Deno.writeFile(file, data);
        const secs = (performance.now() - started) / 1000;
        o.result(
          `Read ${data.length} bytes at ${hex(offset, 8)} in ${
            secs.toFixed(1)
          } seconds into ${file}.`,
          { offset, length: data.length, file },
        );
      }, { needFlashSize: true });
    });
}

/**
 * `espdelta merge-bin -o OUT ADDR FILE [ADDR FILE...]`: one image from
 * several, filled with 0xFF between parts, as esptool merge-bin does.
 * @module
 */

import { mergeBin } from "../image/merge.ts";
import { hex } from "../protocol/bytes.ts";
import { parseAddress, parseChip, parsePairs } from "./args.ts";
import { checkOutputPath, readInputFile } from "../image/files.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  program.command("merge-bin")
    .description("merge ADDRESS FILE pairs into one image (no device needed)")
    .requiredOption("-o, --output <file>", "output file")
    .argument("<addr-file...>", "ADDRESS FILE pairs")
    .option("--flash-mode <mode>", "bootloader header flash mode", "keep")
    .option("--flash-freq <freq>", "bootloader header flash frequency", "keep")
    .option("--flash-size <size>", "bootloader header flash size", "keep")
    .option("--fill-flash-size <size>", "pad the output with 0xFF to this flash size (e.g. 4MB)")
    .option("--target-offset <addr>", "flash offset the output will be written at", "0")
    .addHelpText(
      "after",
      "\nExample:\n  espdelta --chip esp32 merge-bin -o merged.bin 0x1000 bootloader.bin " +
        "0x8000 partitions.bin 0x10000 app.bin --fill-flash-size 4MB",
    )
    .action(async (args, opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const chip = parseChip(g.chip);
      await checkOutputPath(opts.output);
      const parts = [];
      for (const { offset, file } of parsePairs(args)) {
        parts.push({ offset, data: await readInputFile(file), name: file });
      }
      const result = mergeBin(parts, {
        chip: chip === "auto" ? undefined : chip,
        flashMode: opts.flashMode,
        flashFreq: opts.flashFreq,
        flashSize: opts.flashSize,
        fillFlashSize: opts.fillFlashSize,
        targetOffset: parseAddress(opts.targetOffset),
      });
      for (const p of result.patches) {
        if (p.result.changed) o.info(`${p.name}: ${p.result.message}`);
      }
      await Deno.writeFile(opts.output, result.bytes);
      o.result(
        `Wrote ${
          hex(result.bytes.length)
        } bytes to file ${opts.output}, ready to flash to offset ` +
          `${hex(result.targetOffset)}.`,
        { output: opts.output, bytes: result.bytes.length, targetOffset: result.targetOffset },
      );
    });
}

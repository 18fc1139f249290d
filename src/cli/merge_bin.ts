/**
 * `espdelta merge-bin -o OUT ADDR FILE [ADDR FILE...]`: one image from
 * several, as esptool v5's merge-bin makes it: `--format raw` (the default)
 * fills with 0xFF between parts and, with `--pad-to-size`, up to a flash
 * size; `--format hex` writes Intel HEX, parts at their addresses and no
 * padding. Input files may be Intel HEX themselves (placed where their
 * records say).
 * @module
 */

import { mergeBin } from "../image/merge.ts";
import { writeIntelHex } from "../image/ihex.ts";
import { checkOutputPath, regionsFromFiles } from "../image/files.ts";
import { CHIP_NAMES } from "../chips/chips.ts";
import { hex } from "../protocol/bytes.ts";
import { Option } from "./deps.ts";
import { parseAddress, parseChip, parsePairs, UsageError } from "./args.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";

/** The flash sizes esptool's `--pad-to-size` takes. */
const PAD_SIZES = ["256KB", "512KB", "1MB", "2MB", "4MB", "8MB", "16MB", "32MB", "64MB", "128MB"];

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  program.command("merge-bin")
    .description("merge ADDRESS FILE pairs into one image (no device needed)")
    .requiredOption("-o, --output <file>", "output file")
    .argument("<addr-file...>", "ADDRESS FILE pairs")
    .addOption(
      new Option("-f, --format <format>", "output format: raw (0xFF between parts) or hex")
        .choices(["raw", "hex", "uf2"]).default("raw"),
    )
    .option("--flash-mode <mode>", "bootloader header flash mode", "keep")
    .option("--flash-freq <freq>", "bootloader header flash frequency", "keep")
    .option("--flash-size <size>", "bootloader header flash size", "keep")
    .addOption(
      new Option("--pad-to-size <size>", "raw: pad with 0xFF up to this flash size (e.g. 4MB)")
        .choices(PAD_SIZES),
    )
    .option("-t, --target-offset <addr>", "raw: flash offset the output will be written at", "0")
    .addHelpText(
      "after",
      "\nExamples:\n  espdelta --chip esp32 merge-bin -o merged.bin 0x1000 bootloader.bin " +
        "0x8000 partitions.bin 0x10000 app.bin --pad-to-size 4MB\n" +
        "  espdelta --chip esp32 merge-bin --format hex -o merged.hex 0x1000 bootloader.bin " +
        "0x10000 app.bin",
    )
    .action(async (args, opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const chip = parseChip(g.chip);
      if (chip === "auto" && o.style === "esptool") {
        throw new UsageError(`Specify the --chip argument (choose from ${CHIP_NAMES.join(", ")}).`);
      }
      if (opts.format === "uf2") {
        throw new UsageError("--format uf2 is not supported; use --format raw or --format hex");
      }
      await checkOutputPath(opts.output);
      const parts = (await regionsFromFiles(parsePairs(args))).map((r) => ({
        offset: r.offset,
        data: r.data,
        name: r.file ?? r.name,
      }));
      const format = opts.format;
      const result = mergeBin(parts, {
        chip: chip === "auto" ? undefined : chip,
        flashMode: opts.flashMode,
        flashFreq: opts.flashFreq,
        flashSize: opts.flashSize,
        fillFlashSize: format === "raw" ? opts.padToSize : undefined,
        targetOffset: format === "raw" ? parseAddress(opts.targetOffset) : 0,
      });
      for (const p of result.patches) {
        if (p.result.changed) o.info(`${p.name}: ${p.result.message}`);
      }
      let size: number;
      if (format === "hex") {
        if (parts.length === 1) {
          o.warn(
            "Only one input file specified, output may include additional padding if input " +
              "file was previously merged. Please refer to the documentation for more " +
              "information: https://docs.espressif.com/projects/esptool/en/latest/esptool/" +
              "basic-commands.html#hex-output-format",
          );
        }
        // The merged bytes hold each part as patched; Intel HEX keeps only the parts.
        const chunks = [...parts].sort((a, b) => a.offset - b.offset).map((p) => ({
          address: p.offset,
          data: result.bytes.subarray(p.offset, p.offset + p.data.length),
        }));
        const text = writeIntelHex(chunks);
        await Deno.writeTextFile(opts.output, text);
        size = text.length;
      } else {
        o.info(
          "HINT: Consider using --format hex to avoid flashing unused 0xFF padding between " +
            "input regions.",
        );
        await Deno.writeFile(opts.output, result.bytes);
        size = result.bytes.length;
      }
      o.result(
        `Wrote ${hex(size)} bytes to file '${opts.output}', ready to flash to offset ` +
          `${hex(result.targetOffset)}.`,
        { output: opts.output, bytes: size, targetOffset: result.targetOffset, format },
      );
    });
}

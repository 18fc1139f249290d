/**
 * `read-mem`, `write-mem`, `dump-mem`: any 32-bit word of the chip's address
 * space through READ_REG / WRITE_REG, with esptool's output lines.
 * @module
 */

import { hex } from "../protocol/bytes.ts";
import { parseSize, parseU32, UsageError } from "./args.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";
import { withSession } from "./session.ts";

/** Registers the three commands. */
export function register(program: Program, out: () => Output): void {
  program.command("read-mem")
    .description("read one 32-bit word of memory")
    .argument("<address>", "address (word-aligned)")
    .addHelpText("after", "\nExample:\n  espdelta -p /dev/ttyUSB0 read-mem 0x3ff5a004")
    .action(async (addrText, _opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const address = parseU32(addrText, "address");
      await withSession(g, o, async ({ loader }) => {
        const value = await loader.readReg(address);
        o.result(`${hex(address, 8)} = ${hex(value, 8)}`, { address, value });
      });
    });

  program.command("write-mem")
    .description("write one 32-bit word of memory (the bits MASK selects)")
    .argument("<address>", "address (word-aligned)")
    .argument("<value>", "value")
    .argument("[mask]", "bits to change", "0xffffffff")
    .addHelpText("after", "\nExample:\n  espdelta -p /dev/ttyUSB0 write-mem 0x600c0020 0x1 0x1")
    .action(async (addrText, valueText, maskText, _opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const address = parseU32(addrText, "address");
      const value = parseU32(valueText, "value");
      const mask = parseU32(maskText, "mask");
      await withSession(g, o, async ({ loader }) => {
        await loader.writeReg(address, value, mask, 0);
        o.result(`Wrote ${hex(value, 8)} with mask ${hex(mask, 8)} to ${hex(address, 8)}.`, {
          address,
          value,
          mask,
        });
      });
    });

  program.command("dump-mem")
    .description("read SIZE bytes of memory at ADDRESS into FILE, a word at a time")
    .argument("<address>", "address (word-aligned)")
    .argument("<size>", "bytes (whole words are read)")
    .argument("<file>", "output file")
    .addHelpText(
      "after",
      "\nExample:\n  espdelta -p /dev/ttyUSB0 dump-mem 0x3ff90000 0x1000 rom.bin",
    )
    .action(async (addrText, sizeText, file, _opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const address = parseU32(addrText, "address");
      const size = parseSize(sizeText, "size");
      if (size === 0) throw new UsageError("size must be greater than 0");
      await withSession(g, o, async ({ loader }) => {
        o.info(`Dumping ${size} bytes from ${hex(address, 8)} to file '${file}'...`);
        const words = Math.floor(size / 4);
        const data = new Uint8Array(words * 4);
        const view = new DataView(data.buffer);
        const started = performance.now();
        o.progressStart("dump", data.length);
        for (let i = 0; i < words; i++) {
          view.setUint32(i * 4, await loader.readReg(address + i * 4), true);
          if ((i + 1) % 256 === 0 || i + 1 === words) o.progress("dump", (i + 1) * 4, data.length);
        }
        o.progressEnd();
        const secs = (performance.now() - started) / 1000;
        await Deno.writeFile(file, data);
        const rate = secs > 0 ? ` (${(data.length / secs * 8 / 1000).toFixed(1)} kbit/s)` : "";
        o.result(
          `Dumped ${data.length} bytes from ${hex(address, 8)} in ${
            secs.toFixed(1)
          } seconds${rate} to '${file}'.`,
          { address, length: data.length, file },
        );
      });
    });
}

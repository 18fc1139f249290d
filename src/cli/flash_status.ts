/**
 * `read-flash-status` and `write-flash-status`: the SPI flash's status
 * registers 1-3 (write protection, quad enable...), read and written through
 * the SPI controller as esptool does, with its output lines.
 * @module
 */

import { readFlashStatus, writeFlashStatus } from "../loader/spi_command.ts";
import { Option } from "./deps.ts";
import { parseU32 } from "./args.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";
import { withSession } from "./session.ts";

const bytesOption = () =>
  new Option("--bytes <n>", "status bytes (registers 1..n)").choices(["1", "2", "3"]).default("2");

/** `0x` and two hex digits per status byte, as esptool formats a status it writes. */
const fixed = (v: number, bytes: number) => `0x${v.toString(16).padStart(bytes * 2, "0")}`;

/** Registers both commands. */
export function register(program: Program, out: () => Output): void {
  program.command("read-flash-status")
    .description("read the SPI flash status registers")
    .addOption(bytesOption())
    .addHelpText("after", "\nExample:\n  espdelta -p /dev/ttyUSB0 read-flash-status --bytes 3")
    .action(async (opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const n = Number(opts.bytes) as 1 | 2 | 3;
      await withSession(g, o, async ({ loader }) => {
        const status = await readFlashStatus(loader, n);
        // esptool: f"{status:#06x}" (at least four hex digits).
        o.result(`Flash memory status: 0x${status.toString(16).padStart(4, "0")}`, { status });
      });
    });

  program.command("write-flash-status")
    .description("write the SPI flash status registers (volatile unless --non-volatile)")
    .argument("<value>", "new status, register 1 in the low byte")
    .addOption(bytesOption())
    .option("--non-volatile", "write the non-volatile bits (they survive a power cycle)")
    .addHelpText(
      "after",
      "\nExamples:\n  espdelta -p /dev/ttyUSB0 write-flash-status --non-volatile 0\n" +
        "  espdelta -p /dev/ttyUSB0 write-flash-status --bytes 1 0x1c",
    )
    .action(async (valueText, opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const n = Number(opts.bytes) as 1 | 2 | 3;
      const value = parseU32(valueText, "status") % 2 ** (8 * n);
      await withSession(g, o, async ({ loader }) => {
        o.info(`Initial flash memory status: ${fixed(await readFlashStatus(loader, n), n)}`);
        o.info(`Setting flash memory status: ${fixed(value, n)}`);
        await writeFlashStatus(loader, value, n, opts.nonVolatile ?? false);
        const after = await readFlashStatus(loader, n);
        o.result(`After flash memory status:   ${fixed(after, n)}`, { status: after });
      });
    });
}

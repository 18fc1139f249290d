/**
 * `espdelta verify-flash ADDR FILE [ADDR FILE...]`: compare device MD5s with
 * files. Exit code 3 when any differs.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";
import { hex } from "../protocol/bytes.ts";
import { md5Hex } from "../plan/hash.ts";
import { parsePairs } from "./args.ts";
import { regionsFromFiles } from "../image/files.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";
import { withSession } from "./session.ts";
import { diffLines } from "./verify_diff.ts";

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  program.command("verify-flash")
    .description("check that flash holds the given files (device MD5)")
    .argument("<addr-file...>", "ADDRESS FILE pairs")
    .option("-d, --diff", "on a mismatch, read the flash and list the differing bytes")
    .addHelpText("after", "\nExample:\n  espdelta -p /dev/ttyUSB0 verify-flash 0x10000 app.bin")
    .action(async (args, opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      const regions = await regionsFromFiles(parsePairs(args));
      await withSession(g, o, async ({ loader }) => {
        const failed: string[] = [];
        for (const r of regions) {
          const device = await loader.md5(r.offset, r.data.length);
          const ok = device === md5Hex(r.data);
          o.info(
            `Verifying ${hex(r.data.length)} (${r.data.length}) bytes at ${hex(r.offset, 8)} ` +
              `against ${r.file}... ${ok ? "OK (digest matched)" : "FAILED (digest mismatch)"}`,
          );
          o.event("region-done", { region: r.name, offset: r.offset, match: ok });
          if (!ok) failed.push(`${r.file} at ${hex(r.offset)}`);
          if (!ok && opts.diff) {
            for (
              const line of diffLines(r.offset, await loader.read(r.offset, r.data.length), r.data)
            ) {
              o.info(line);
            }
          }
        }
        if (failed.length > 0) {
          throw new EspdeltaError("VERIFY_MISMATCH", `verify failed: ${failed.join(", ")} differ`);
        }
        o.result(`verify-flash: ${regions.length} file${regions.length === 1 ? "" : "s"} match`);
      });
    });
}

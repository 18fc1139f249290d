/**
 * `version`: the version alone, as esptool's `version` prints its own. In
 * the esptool personality that is the esptool release whose command line
 * espdelta takes (tools that ask it choose their spellings by it).
 * @module
 */

import { VERSION } from "../version.ts";
import { ESPTOOL_VERSION } from "./esptool_text.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  program.command("version")
    .description("print the version")
    .addHelpText("after", "\nExample:\n  espdelta version")
    .action(() => {
      const o = out();
      o.result(o.style === "esptool" ? ESPTOOL_VERSION : VERSION, {
        version: VERSION,
        esptool: ESPTOOL_VERSION,
      });
    });
}

/**
 * The npm packages the command line uses, pinned here with full `npm:`
 * specifiers.
 *
 * They are written inline rather than through deno.json's import map because
 * a module run from a URL (`deno run -A https://.../cli.ts`) has no import map:
 * Deno resolves a remote graph by its specifiers alone. The library side pins
 * its two packages where it imports them: fflate in src/emulator/inflate.ts
 * and the esptool-js stub files in src/loader/stubs.ts.
 * @module
 */

export {
  Command,
  CommanderError,
  Option,
  type OptionValues,
} from "npm:@commander-js/extra-typings@15.1.0";
export { default as pc } from "npm:picocolors@1.1.1";
export { default as cliProgress } from "npm:cli-progress@3.12.0";

/**
 * espdelta's version and the licence facts that `--version`, the bundle and
 * the compiled binary state. deno.json carries the same version for JSR; a
 * test checks that they agree.
 * @module
 */

/** This release. */
export const VERSION = "0.1.0";

/** Where the flasher stubs' source lives (GPL-2.0-or-later). */
export const STUB_SOURCE = "https://github.com/espressif/esptool-legacy-flasher-stub";

/**
 * What `--version` prints after the version line, and what heads the bundle
 * and sits beside the compiled binary: espdelta's licence and the stubs'.
 */
export const LICENCE_NOTE = [
  "espdelta is MIT-licensed (see LICENSE).",
  "The flasher stubs it uploads to the chip are Espressif's and Cesanta's programs,",
  "licensed GPL-2.0-or-later, from the esptool-js npm package (or your cache folder);",
  `source: ${STUB_SOURCE}. They run on the chip, not in this process.`,
].join("\n");

/**
 * espdelta's version and the licence facts that `--version`, the bundle and
 * the compiled binary state. deno.json carries the same version for JSR; a
 * test checks that they agree.
 * @module
 */

/** This release. */
export const VERSION = "0.1.0";

/**
 * Where the source of the flasher stubs espdelta loads by default lives:
 * esptool-js 0.7.0 ships esp-flasher-stub v1.2.2's binaries (the same files
 * as esptool v5's `stub_flasher/2/`), dual-licensed Apache-2.0 OR MIT.
 */
export const STUB_SOURCE = "https://github.com/espressif/esp-flasher-stub";

/** The older stub (esptool v4, `--stub` files from it): GPL-2.0-or-later, Espressif and Cesanta. */
export const LEGACY_STUB_SOURCE = "https://github.com/espressif/esptool-legacy-flasher-stub";

/**
 * What `--version` prints after the version line, and what heads the bundle
 * and sits beside the compiled binary: espdelta's licence and the stubs'.
 */
export const LICENCE_NOTE = [
  "espdelta is MIT-licensed (see LICENSE).",
  "The flasher stubs it uploads to the chip by default are Espressif's esp-flasher-stub",
  "v1.2.2, licensed Apache-2.0 OR MIT, from the esptool-js npm package; source:",
  `${STUB_SOURCE}. A legacy stub you give with --stub or put in your cache folder`,
  "(esptool v4's) is Espressif's and Cesanta's, GPL-2.0-or-later. Stubs run on the chip,",
  "not in this process.",
].join("\n");

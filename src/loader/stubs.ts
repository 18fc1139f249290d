/**
 * Where flasher stubs come from. espdelta's source holds no stub binaries: it
 * loads esptool's stub JSON from the user cache folder
 * (`$XDG_CACHE_HOME/espdelta/stubs/<chip>.json`, default `~/.cache/...`), or
 * from the esptool-js npm package (the version pinned below, fetched by Deno
 * on first use; `deno bundle` and `deno compile` embed these files). The stubs
 * esptool-js 0.7.0 ships are esp-flasher-stub v1.2.2 (Apache-2.0 OR MIT); a
 * legacy stub from esptool v4 given as a file is GPL-2.0-or-later (Espressif
 * and Cesanta). Stubs run on the chip, never in this process.
 * @module
 */

import type { ChipName } from "../chips/chips.ts";
import { EspdeltaError } from "../protocol/errors.ts";
import { parseStubJson, type StubImage } from "./stub.ts";

/** Where a stub was found, for --trace. */
export type StubLog = (line: string) => void;

/** The esptool-js release the stubs come from; the specifiers below name it literally. */
export const ESPTOOL_JS_VERSION = "0.7.0";

/**
 * esptool-js's stub files, imported lazily with literal, fully pinned `npm:`
 * specifiers: bundles see them, and a run from a URL needs no import map.
 */
const FROM_ESPTOOL_JS: Record<ChipName, () => Promise<{ default: unknown }>> = {
  esp8266: () =>
    import("npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp8266.json", {
      with: { type: "json" },
    }),
  esp32: () =>
    import("npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32.json", { with: { type: "json" } }),
  esp32s2: () =>
    import("npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32s2.json", {
      with: { type: "json" },
    }),
  esp32s3: () =>
    import("npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32s3.json", {
      with: { type: "json" },
    }),
  esp32c2: () =>
    import("npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32c2.json", {
      with: { type: "json" },
    }),
  esp32c3: () =>
    import("npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32c3.json", {
      with: { type: "json" },
    }),
  esp32c5: () =>
    import("npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32c5.json", {
      with: { type: "json" },
    }),
  esp32c6: () =>
    import("npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32c6.json", {
      with: { type: "json" },
    }),
  esp32h2: () =>
    import("npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32h2.json", {
      with: { type: "json" },
    }),
  esp32p4: () =>
    import("npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32p4.json", {
      with: { type: "json" },
    }),
};

/**
 * The ESP32-P4 before v3.0 (engineering samples, v1.x) has its RAM where
 * later parts do not: esptool (`esp32p4.py`, `get_chip_revision() < 300`)
 * and esptool-js load a stub built for it.
 */
const P4_REV1 = () =>
  import("npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32p4-rev1.json", {
    with: { type: "json" },
  });

/**
 * The stub file's name for `chip` of `revision` (major * 100 + minor):
 * `esp32p4-rev1` for an ESP32-P4 below v3.0, as esptool picks it (esptool-js
 * 0.7.0 does the same, except that it takes a v0.0 part for unknown and
 * loads the v3 stub), else the chip's name.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { stubName } from "./stubs.ts";
 * deepStrictEqual(
 *   [stubName("esp32p4", 100), stubName("esp32p4", 301), stubName("esp32c3", 4)],
 *   ["esp32p4-rev1", "esp32p4", "esp32c3"],
 * );
 * ```
 */
export function stubName(chip: ChipName, revision?: number): string {
  return chip === "esp32p4" && revision !== undefined && revision < 300 ? "esp32p4-rev1" : chip;
}

/** The user cache folder for stubs. */
export function stubCacheDir(): string | undefined {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  const base = xdg ?? (home ? `${home}/.cache` : undefined);
  return base ? `${base}/espdelta/stubs` : undefined;
}

/**
 * Finds the stub for `chip` of `revision` (see {@link stubName}): cache
 * folder, then esptool-js.
 */
export async function findStub(
  chip: ChipName,
  log: { trace?: StubLog; warn?: StubLog } = {},
  revision?: number,
): Promise<StubImage | undefined> {
  const name = stubName(chip, revision);
  const dir = stubCacheDir();
  if (dir) {
    const file = `${dir}/${name}.json`;
    try {
      const stub = parseStubJson(JSON.parse(await Deno.readTextFile(file)), file);
      log.trace?.(`stub ${name} from ${file}`);
      return stub;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  try {
    const m = await (name === "esp32p4-rev1" ? P4_REV1 : FROM_ESPTOOL_JS[chip])();
    log.trace?.(`stub ${name} from npm:esptool-js@${ESPTOOL_JS_VERSION}`);
    return parseStubJson(m.default, `esptool-js ${name}.json`);
  } catch (e) {
    if (e instanceof EspdeltaError) throw e;
    log.warn?.(
      `no flasher stub for ${chip} (esptool-js could not be loaded: ${(e as Error).message}); ` +
        "using the ROM loader",
    );
    return undefined;
  }
}

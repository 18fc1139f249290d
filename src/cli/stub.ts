/**
 * Where flasher stubs come from. espdelta ships no stub binaries: it loads
 * esptool's stub JSON from `--stub-file`, from the user cache folder
 * (`$XDG_CACHE_HOME/espdelta/stubs/<chip>.json`, default `~/.cache/...`), or
 * from the esptool-js npm package (pinned, fetched by Deno on first use).
 * The stubs are GPL-2.0-or-later programs by Espressif and Cesanta.
 * @module
 */

import type { ChipInfo, ChipName } from "../chips/chips.ts";
import { EspdeltaError } from "../protocol/errors.ts";
import { parseStubJson, type StubImage } from "../loader/stub.ts";
import type { GlobalOptions } from "./main.ts";
import type { Output } from "./output.ts";

/** esptool-js 0.7.0 stub files, imported lazily with literal specifiers so bundles see them. */
const FROM_ESPTOOL_JS: Record<ChipName, () => Promise<{ default: unknown }>> = {
  esp8266: () =>
    import("esptool-js/lib/targets/stub_flasher/esp8266.json", { with: { type: "json" } }),
  esp32: () => import("esptool-js/lib/targets/stub_flasher/esp32.json", { with: { type: "json" } }),
  esp32s2: () =>
    import("esptool-js/lib/targets/stub_flasher/esp32s2.json", { with: { type: "json" } }),
  esp32s3: () =>
    import("esptool-js/lib/targets/stub_flasher/esp32s3.json", { with: { type: "json" } }),
  esp32c2: () =>
    import("esptool-js/lib/targets/stub_flasher/esp32c2.json", { with: { type: "json" } }),
  esp32c3: () =>
    import("esptool-js/lib/targets/stub_flasher/esp32c3.json", { with: { type: "json" } }),
  esp32c5: () =>
    import("esptool-js/lib/targets/stub_flasher/esp32c5.json", { with: { type: "json" } }),
  esp32c6: () =>
    import("esptool-js/lib/targets/stub_flasher/esp32c6.json", { with: { type: "json" } }),
  esp32h2: () =>
    import("esptool-js/lib/targets/stub_flasher/esp32h2.json", { with: { type: "json" } }),
  esp32p4: () =>
    import("esptool-js/lib/targets/stub_flasher/esp32p4.json", { with: { type: "json" } }),
};

/** The user cache folder for stubs. */
export function stubCacheDir(): string | undefined {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  const base = xdg ?? (home ? `${home}/.cache` : undefined);
  return base ? `${base}/espdelta/stubs` : undefined;
}

/** Finds the stub for `chip`: cache folder, then esptool-js. */
export async function findStub(chip: ChipName, out?: Output): Promise<StubImage | undefined> {
  const dir = stubCacheDir();
  if (dir) {
    const file = `${dir}/${chip}.json`;
    try {
      const stub = parseStubJson(JSON.parse(await Deno.readTextFile(file)), file);
      out?.trace(`stub for ${chip} from ${file}`);
      return stub;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  try {
    const m = await FROM_ESPTOOL_JS[chip]();
    out?.trace(`stub for ${chip} from npm:esptool-js@0.7.0`);
    return parseStubJson(m.default, `esptool-js stub for ${chip}`);
  } catch (e) {
    if (e instanceof EspdeltaError) throw e;
    out?.warn(
      `no flasher stub for ${chip} (esptool-js could not be loaded: ${(e as Error).message}); ` +
        "using the ROM loader",
    );
    return undefined;
  }
}

/** The stub option for connect(): a file, the lookup, or none. */
export async function loadStub(
  g: GlobalOptions,
  _chip: ChipName | undefined,
  out: Output,
): Promise<StubImage | ((chip: ChipInfo) => Promise<StubImage | undefined>)> {
  if (g.stubFile) {
    let text: string;
    try {
      text = await Deno.readTextFile(g.stubFile);
    } catch (e) {
      throw new EspdeltaError(
        "FILE_NOT_FOUND",
        `cannot read stub ${g.stubFile}: ${(e as Error).message}`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new EspdeltaError("BAD_STUB", `${g.stubFile} is not valid JSON`);
    }
    return parseStubJson(json, g.stubFile);
  }
  return (chip: ChipInfo) => findStub(chip.name, out);
}

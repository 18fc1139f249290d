/**
 * Where a build folder keeps the app's ELF file, for naming the code
 * addresses a panic prints: ESP-IDF's `project_description.json` names it
 * (`build_dir` and `app_elf`, as `idf.py monitor` reads them); otherwise it
 * sits next to the app image with the same name (ESP-IDF's
 * `build/<project>.bin` and `.elf`, PlatformIO's `firmware.bin` and
 * `firmware.elf`, Arduino's `<sketch>.ino.bin` and `<sketch>.ino.elf`).
 *
 * @example
 * ```ts
 * import { findAppElf } from "./app_elf.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/project_description.json`, JSON.stringify({ app_elf: "blink.elf" }));
 * await Deno.writeFile(`${dir}/blink.elf`, new Uint8Array([0x7f, 0x45, 0x4c, 0x46]));
 * assert.equal(await findAppElf({ layout: "esp-idf", dir, regions: [] }), `${dir}/blink.elf`);
 * assert.equal(await findAppElf({ layout: "platformio", dir, regions: [] }), undefined);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */

import type { BuildOutput } from "./build_dir.ts";

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

const join = (dir: string, name: string) =>
  name.startsWith("/") || /^[A-Za-z]:[\\/]/.test(name)
    ? name
    : `${dir.replace(/[\\/]+$/, "")}/${name}`;

/** The app's ELF file of `build`, or undefined when there is none to be found. */
export async function findAppElf(
  build: Pick<BuildOutput, "layout" | "dir" | "regions">,
): Promise<string | undefined> {
  if (build.layout === "esp-idf") {
    try {
      const desc = JSON.parse(await Deno.readTextFile(join(build.dir, "project_description.json")));
      if (typeof desc?.app_elf === "string") {
        // The folder given first: build_dir is where it was built, maybe on another machine.
        const dirs = [build.dir, ...(typeof desc.build_dir === "string" ? [desc.build_dir] : [])];
        for (const dir of dirs) {
          if (await isFile(join(dir, desc.app_elf))) return join(dir, desc.app_elf);
        }
      }
    } catch {
      // No description (or not JSON): look next to the app.
    }
  }
  const app = build.regions.find((r) => r.kind === "app" && r.file);
  if (!app?.file) return undefined;
  const elf = app.file.replace(/\.bin$/i, "") + ".elf";
  return await isFile(elf) ? elf : undefined;
}

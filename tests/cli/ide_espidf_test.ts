/**
 * ESP-IDF's `idf.py flash`, replayed against testdata/rebuilds/lidar-esp32/
 * build, that project's real build folder (ESP-IDF v4.3.1).
 *
 * ESP-IDF v4.3.1's CMake (components/esptool_py/project_include.cmake)
 * writes `flash_args` for the `flash` target as SUB_ARGS joined by spaces,
 * a newline, then one `OFFSET FILE` line per image, in the order the images
 * were added, which is the order of flasher_args.json's `flash_files`.
 * SUB_ARGS is ESPTOOLPY_FLASH_OPTIONS, set from sdkconfig *before* the
 * flash size becomes `detect` for flasher_args.json: the bootloader's header
 * says 2MB (byte 3 is 0x10), so the line is `--flash_mode dio --flash_freq 40m
 * --flash_size 2MB`. run_serial_tool.cmake then runs `<esptool> --chip esp32
 * -p $ESPPORT -b $ESPBAUD --before=default_reset --after=hard_reset
 * write_flash @flash_args` in the build folder.
 *
 * Tools that read flasher_args.json instead put its `write_flash_args`
 * (`--flash_mode dio --flash_size detect --flash_freq 40m`) and `flash_files`
 * after `write_flash`, with `extra_esptool_args` before it, as idf.py's
 * `_get_esptool_args` reads them.
 *
 * ESP-IDF v5.x runs its esptool through `$ESPTOOL_WRAPPER` when set
 * (`python $ESPTOOL_WRAPPER <esptool.py> --chip ...`): tools/
 * idf_esptool_wrapper.py hands that to an `esptool` on PATH.
 */
import { assertEquals, assertOk } from "../assert.ts";
import { patchFlashParams } from "../../src/image/patch.ts";
import { routes, twice, withEsp32 } from "./ide.ts";
import { runProgram } from "./run.ts";

const BUILD = new URL("../../testdata/rebuilds/lidar-esp32/build/", import.meta.url).pathname;
const WRAPPER = new URL("../../tools/idf_esptool_wrapper.py", import.meta.url).pathname;

interface FlasherArgs {
  write_flash_args: string[];
  flash_files: Record<string, string>;
  extra_esptool_args: { after: string; before: string; stub: boolean; chip: string };
}

/** flash_args as ESP-IDF v4.3.1's CMake writes it for this build (see the module docs). */
function flashArgs(json: FlasherArgs): string {
  const options = ["--flash_mode", "dio", "--flash_freq", "40m", "--flash_size", "2MB"];
  const images = Object.entries(json.flash_files).map(([offset, file]) => `${offset} ${file}`);
  return `${options.join(" ")}\n${images.join("\n")}`;
}

/** A copy of the build folder, where flash_args can be written. */
async function copyBuild(dir: string): Promise<string> {
  const build = `${dir}/build`;
  for (const sub of ["bootloader", "partition_table"]) {
    await Deno.mkdir(`${build}/${sub}`, { recursive: true });
  }
  for (
    const f of [
      "flasher_args.json",
      "app-template.bin",
      "bootloader/bootloader.bin",
      "partition_table/partition-table.bin",
    ]
  ) {
    await Deno.copyFile(`${BUILD}${f}`, `${build}/${f}`);
  }
  return build;
}

Deno.test("ESP-IDF idf.py flash (@flash_args, flasher_args.json, ESPTOOL_WRAPPER): a re-run writes nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const build = await copyBuild(dir);
    const json = JSON.parse(await Deno.readTextFile(`${build}/flasher_args.json`)) as FlasherArgs;
    const text = flashArgs(json);
    assertEquals(
      text,
      "--flash_mode dio --flash_freq 40m --flash_size 2MB\n" +
        "0x8000 partition_table/partition-table.bin\n0x1000 bootloader/bootloader.bin\n" +
        "0x10000 app-template.bin",
    );
    await Deno.writeTextFile(`${build}/flash_args`, text);
    const read = (f: string) => Deno.readFile(`${build}/${f}`);
    const boot = await read("bootloader/bootloader.bin");
    const table = await read("partition_table/partition-table.bin");
    const app = await read("app-template.bin");
    const files = [
      { offset: 0x8000, bytes: table, file: "partition_table/partition-table.bin" },
      { offset: 0x1000, bytes: boot, file: "bootloader/bootloader.bin" },
      { offset: 0x10000, bytes: app, file: "app-template.bin" },
    ];
    // --flash_size 2MB is what the header already says: the bootloader goes as built.
    assertEquals(boot[3], 0x10);
    const idf = (url: string) => [
      "--chip",
      "esp32",
      "-p",
      url,
      "-b",
      "460800",
      "--before=default_reset",
      "--after=hard_reset",
      "write_flash",
      "@flash_args",
    ];
    const e = json.extra_esptool_args;
    const fromJson = (url: string) => [
      "--chip",
      e.chip,
      "-p",
      url,
      "-b",
      "460800",
      "--before",
      e.before,
      "--after",
      e.after,
      "write_flash",
      ...json.write_flash_args,
      ...Object.entries(json.flash_files).flat(),
    ];
    // flasher_args.json says `--flash_size detect`: the 4 MB flash goes into the header.
    const detected = patchFlashParams(boot, 0x1000, "esp32", {
      mode: "dio",
      freq: "40m",
      size: "detect",
    }, { detectedFlashSize: 4 << 20 });
    assertEquals(detected.message, "Flash parameters set to 0x0220. SHA digest in image updated.");

    const all = await routes(dir);
    for (const route of all) {
      await withEsp32(async (url, device) => {
        const [first] = await twice(route, device, idf(url), files, build);
        // esptool echoes the command line the @file expanded to.
        assertEquals(
          first.stdout.split("\n")[0],
          `esptool --chip esp32 -p ${url} -b 460800 --before=default-reset --after=hard-reset ` +
            "write-flash --flash-mode dio --flash-freq 40m --flash-size 2MB " +
            "0x8000 partition_table/partition-table.bin 0x1000 bootloader/bootloader.bin " +
            "0x10000 app-template.bin",
        );
      });
      await withEsp32(async (url, device) => {
        const [first] = await twice(route, device, fromJson(url), [
          files[0],
          { ...files[1], bytes: detected.bytes },
          files[2],
        ], build);
        assertOk(first.stdout.includes("Auto-detected flash size: 4MB\n"), first.stdout);
        assertOk(
          first.stdout.includes("Flash parameters set to 0x0220.\nSHA digest in image updated.\n"),
          first.stdout,
        );
      });
    }

    // ESP-IDF v5.x: python $ESPTOOL_WRAPPER <esptool.py> --chip esp32 ... write_flash @flash_args
    const esptool = all[0];
    await withEsp32(async (url, device) => {
      const viaWrapper = {
        name: "ESPTOOL_WRAPPER",
        run: (args: string[], cwd?: string) =>
          runProgram(
            "python3",
            [WRAPPER, "/idf/components/esptool_py/esptool/esptool.py", ...args],
            {
              cwd,
              env: {
                NO_COLOR: "1",
                DENO: Deno.execPath(),
                PATH: `${dir}:${Deno.env.get("PATH") ?? ""}`,
              },
            },
          ),
      };
      assertOk(esptool.name === "esptool symlink");
      await twice(viaWrapper, device, idf(url), files, build);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

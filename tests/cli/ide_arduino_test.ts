/**
 * The Arduino IDE's upload of an ESP32 sketch, replayed verbatim against the
 * virtual device through espdelta's esptool personality.
 *
 * The pattern is `tools.esptool_py.upload.pattern_args` of Arduino-ESP32's
 * platform.txt. Core 3.3 (esptool v5 spellings): the text of
 * platform.txt at version=3.3.10 (read from github.com/lucasssvaz/arduino-
 * esp32, a fork kept by an Arduino-ESP32 maintainer; the stored copies of
 * espressif/arduino-esp32 itself are 2.0.x), the same line third-party
 * projects quote from installed cores 3.3.0 and 3.3.11. Core 3.0.x (esptool
 * v4.x): the same pattern in esptool v4's spellings. The IDE fills the
 * placeholders from boards.txt (an ESP32 Dev Module: bootloader at 0x1000,
 * no upload flags, no erase, no extra images) and splits the line on spaces
 * outside quotes.
 *
 * boot_app0.bin is not Arduino-ESP32's file: it is built here with
 * espdelta's otadata writer (an otadata image selecting ota_0, sequence 1),
 * the same bytes by construction.
 */
import { assertEquals, assertOk } from "../assert.ts";
import { shellWords } from "../../src/cli/esptool_args.ts";
import { otaDataImage } from "../../src/image/otadata.ts";
import { parsePartitionCsv, writePartitionTable } from "../../src/image/partitions.ts";
import { type Expected, routes, twice, withEsp32 } from "./ide.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url).pathname;
const REBUILDS = new URL("../../testdata/rebuilds/lidar-esp32/", import.meta.url).pathname;

/** Arduino-ESP32 core 3.3, platform.txt `tools.esptool_py.upload.pattern_args`. */
const CORE_3_3 = '--chip {build.mcu} --port "{serial.port}" --baud {upload.speed} {upload.flags} ' +
  "--before default-reset --after hard-reset write-flash {upload.erase_cmd} -z --flash-mode keep " +
  '--flash-freq keep --flash-size keep {build.bootloader_addr} "{build.path}/{build.project_name}' +
  '.bootloader.bin" 0x8000 "{build.path}/{build.project_name}.partitions.bin" 0xe000 ' +
  '"{runtime.platform.path}/tools/partitions/boot_app0.bin" 0x10000 ' +
  '"{build.path}/{build.project_name}.bin" {upload.extra_flags}';

/** Core 3.0.x: the same pattern with esptool v4's spellings. */
const CORE_3_0 = '--chip {build.mcu} --port "{serial.port}" --baud {upload.speed} {upload.flags} ' +
  "--before default_reset --after hard_reset write_flash {upload.erase_cmd} -z --flash_mode keep " +
  '--flash_freq keep --flash_size keep {build.bootloader_addr} "{build.path}/{build.project_name}' +
  '.bootloader.bin" 0x8000 "{build.path}/{build.project_name}.partitions.bin" 0xe000 ' +
  '"{runtime.platform.path}/tools/partitions/boot_app0.bin" 0x10000 ' +
  '"{build.path}/{build.project_name}.bin" {upload.extra_flags}';

/** Arduino-ESP32's default partition scheme (tools/partitions/default.csv), as CSV rows. */
const DEFAULT_CSV = "nvs,data,nvs,0x9000,0x5000,\notadata,data,ota,0xe000,0x2000,\n" +
  "app0,app,ota_0,0x10000,0x140000,\napp1,app,ota_1,0x150000,0x140000,\n" +
  "spiffs,data,spiffs,0x290000,0x160000,\ncoredump,data,coredump,0x3F0000,0x10000,\n";

/** The IDE's expansion: placeholders filled, then split on spaces outside quotes. */
function expand(pattern: string, props: Record<string, string>): string[] {
  const filled = pattern.replace(/\{([a-z_.]+)\}/g, (_, k: string) => {
    if (!(k in props)) throw new Error(`no value for {${k}}`);
    return props[k];
  });
  return shellWords(filled);
}

/** An Arduino build folder and core folder in `dir`, with `app` as the sketch's binary. */
async function arduinoBuild(dir: string, app: Uint8Array) {
  const build = `${dir}/build`;
  const platform = `${dir}/packages/esp32/hardware/esp32/3.3.10`;
  await Deno.mkdir(build, { recursive: true });
  await Deno.mkdir(`${platform}/tools/partitions`, { recursive: true });
  const files = {
    boot: await Deno.readFile(`${FW}bootloader_esp32.bin`),
    table: writePartitionTable(parsePartitionCsv(DEFAULT_CSV)),
    otadata: otaDataImage({ sequence: 1 }),
    app,
  };
  await Deno.writeFile(`${build}/sketch.ino.bootloader.bin`, files.boot);
  await Deno.writeFile(`${build}/sketch.ino.partitions.bin`, files.table);
  await Deno.writeFile(`${platform}/tools/partitions/boot_app0.bin`, files.otadata);
  await Deno.writeFile(`${build}/sketch.ino.bin`, files.app);
  const expected: Expected[] = [
    { offset: 0x1000, bytes: files.boot, file: `${build}/sketch.ino.bootloader.bin` },
    { offset: 0x8000, bytes: files.table, file: `${build}/sketch.ino.partitions.bin` },
    { offset: 0xe000, bytes: files.otadata, file: `${platform}/tools/partitions/boot_app0.bin` },
    { offset: 0x10000, bytes: files.app, file: `${build}/sketch.ino.bin` },
  ];
  const props = (port: string) => ({
    "build.mcu": "esp32",
    "serial.port": port,
    "upload.speed": "921600",
    "upload.flags": "",
    "upload.erase_cmd": "",
    "build.bootloader_addr": "0x1000",
    "build.path": build,
    "build.project_name": "sketch.ino",
    "runtime.platform.path": platform,
    "upload.extra_flags": "",
  });
  return { build, expected, props };
}

for (const [core, pattern] of [["3.3", CORE_3_3], ["3.0", CORE_3_0]] as const) {
  Deno.test(`Arduino-ESP32 core ${core} upload: verbatim, a re-run writes nothing`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const app = await Deno.readFile(`${REBUILDS}app-v4.bin`);
      const { build, expected, props } = await arduinoBuild(dir, app);
      for (const route of await routes(dir)) {
        await withEsp32(async (url, device) => {
          const args = expand(pattern, props(url));
          assertEquals(args.slice(0, 6), ["--chip", "esp32", "--port", url, "--baud", "921600"]);
          const [first] = await twice(route, device, args, expected);
          // esptool v5's note for each v4 spelling, on stderr; none for v5's.
          assertEquals(
            first.stderr.trim().split("\n").filter((l) => l !== ""),
            core === "3.3" ? [] : [
              "WARNING: Deprecated: Choice 'default_reset' for option '--before' is deprecated. Use 'default-reset' instead.",
              "WARNING: Deprecated: Choice 'hard_reset' for option '--after' is deprecated. Use 'hard-reset' instead.",
              "WARNING: Deprecated: Command 'write_flash' is deprecated. Use 'write-flash' instead.",
              "WARNING: Deprecated: Option '--flash_mode' is deprecated. Use '--flash-mode' instead.",
              "WARNING: Deprecated: Option '--flash_freq' is deprecated. Use '--flash-freq' instead.",
              "WARNING: Deprecated: Option '--flash_size' is deprecated. Use '--flash-size' instead.",
            ],
          );
          if (core === "3.3") {
            // A rebuild: only the sketch's binary changes, and only it is written.
            await Deno.writeFile(
              `${build}/sketch.ino.bin`,
              await Deno.readFile(`${REBUILDS}app-v5.bin`),
            );
            device.flash.resetCounters();
            const r = await route.run(args);
            assertEquals(r.code, 0, r.stderr);
            const touched = device.flash.touchedSectors();
            assertOk(touched.length > 0 && touched.every((s) => s >= 0x10), String(touched));
            assertOk(
              r.stdout.includes(
                `'${build}/sketch.ino.bootloader.bin' at 0x00001000 already in flash`,
              ),
              r.stdout,
            );
            await Deno.writeFile(`${build}/sketch.ino.bin`, app);
          }
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

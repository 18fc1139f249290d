/**
 * PlatformIO's upload of an espressif32 Arduino project, replayed verbatim.
 *
 * platformio/platform-espressif32 v6.13.0, builder/main.py (upload_protocol
 * "esptool"): UPLOADCMD is `"$PYTHONEXE" "$UPLOADER" $UPLOADERFLAGS
 * $ESP32_APP_OFFSET $SOURCE`, UPLOADERFLAGS `--chip <mcu> --port
 * "$UPLOAD_PORT" --baud $UPLOAD_SPEED --before default_reset --after
 * hard_reset write_flash -z --flash_mode <mode> --flash_freq <f_image>
 * --flash_size <upload.flash_size>` followed by FLASH_EXTRA_IMAGES (the
 * Arduino framework's 0x1000 bootloader, 0x8000 partitions, 0xe000
 * boot_app0, each as an absolute path); the values are boards/esp32dev.json's
 * (dio, 40 MHz, 4MB, 460800 baud). $SOURCE is the project-relative
 * `.pio/build/esp32dev/firmware.bin`, run from the project folder.
 */
import { assertEquals, assertOk } from "../assert.ts";
import { otaDataImage } from "../../src/image/otadata.ts";
import { parsePartitionCsv, writePartitionTable } from "../../src/image/partitions.ts";
import { patchFlashParams } from "../../src/image/patch.ts";
import { routes, twice, withEsp32 } from "./ide.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url).pathname;
const REBUILDS = new URL("../../testdata/rebuilds/lidar-esp32/", import.meta.url).pathname;

const DEFAULT_CSV = "nvs,data,nvs,0x9000,0x5000,\notadata,data,ota,0xe000,0x2000,\n" +
  "app0,app,ota_0,0x10000,0x140000,\napp1,app,ota_1,0x150000,0x140000,\n" +
  "spiffs,data,spiffs,0x290000,0x160000,\ncoredump,data,coredump,0x3F0000,0x10000,\n";

Deno.test("PlatformIO espressif32 upload: verbatim, a re-run writes nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const project = `${dir}/project`;
    const build = `${project}/.pio/build/esp32dev`;
    const framework = `${dir}/packages/framework-arduinoespressif32`;
    await Deno.mkdir(build, { recursive: true });
    await Deno.mkdir(`${framework}/tools/partitions`, { recursive: true });
    const boot = await Deno.readFile(`${FW}bootloader_esp32.bin`);
    const table = writePartitionTable(parsePartitionCsv(DEFAULT_CSV));
    const otadata = otaDataImage({ sequence: 1 });
    const app = await Deno.readFile(`${REBUILDS}app-v5.bin`);
    await Deno.writeFile(`${build}/bootloader.bin`, boot);
    await Deno.writeFile(`${build}/partitions.bin`, table);
    await Deno.writeFile(`${framework}/tools/partitions/boot_app0.bin`, otadata);
    await Deno.writeFile(`${build}/firmware.bin`, app);
    // --flash_mode dio --flash_freq 40m --flash_size 4MB rewrites the bootloader's header,
    // as esptool does (this bootloader says 2MB).
    const patched = patchFlashParams(boot, 0x1000, "esp32", {
      mode: "dio",
      freq: "40m",
      size: "4MB",
    });
    assertEquals(patched.flashParams, "0x0220");
    for (const route of await routes(dir)) {
      await withEsp32(async (url, device) => {
        const args = [
          "--chip",
          "esp32",
          "--port",
          url,
          "--baud",
          "460800",
          "--before",
          "default_reset",
          "--after",
          "hard_reset",
          "write_flash",
          "-z",
          "--flash_mode",
          "dio",
          "--flash_freq",
          "40m",
          "--flash_size",
          "4MB",
          "0x1000",
          `${build}/bootloader.bin`,
          "0x8000",
          `${build}/partitions.bin`,
          "0xe000",
          `${framework}/tools/partitions/boot_app0.bin`,
          "0x10000",
          ".pio/build/esp32dev/firmware.bin",
        ];
        const [first] = await twice(route, device, args, [
          { offset: 0x1000, bytes: patched.bytes, file: `${build}/bootloader.bin` },
          { offset: 0x8000, bytes: table, file: `${build}/partitions.bin` },
          { offset: 0xe000, bytes: otadata, file: `${framework}/tools/partitions/boot_app0.bin` },
          { offset: 0x10000, bytes: app, file: ".pio/build/esp32dev/firmware.bin" },
        ], project);
        assertOk(first.stdout.includes("Flash parameters set to 0x0220.\n"), first.stdout);
        assertOk(
          first.stdout.includes("Changing baud rate to 460800...\nChanged.\n"),
          first.stdout,
        );
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import { join } from "node:path";
import { assertEquals, assertOk } from "../assert.ts";
import { writeImage } from "../../src/image/app.ts";
import { parsePartitionCsv, writePartitionTable } from "../../src/image/partitions.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { type ChipName, CHIPS } from "../../src/chips/chips.ts";
import { espdelta } from "./run.ts";

const CSV = "nvs,data,nvs,0x9000,0x5000\notadata,data,ota,0xe000,0x2000\n" +
  "app0,app,ota_0,0x10000,0x140000\napp1,app,ota_1,0x150000,0x140000\n";

const image = (chip: ChipName, seed: number, size = 64) =>
  writeImage({
    chip,
    entry: 0x40000000 + seed,
    flashSize: "2MB",
    segments: [{
      loadAddress: 0x3fc80000,
      data: new Uint8Array(size).map((_, i) => (i * seed) & 0xff),
    }],
  });

async function put(path: string, data: Uint8Array | string) {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  if (typeof data === "string") await Deno.writeTextFile(path, data);
  else await Deno.writeFile(path, data);
}

async function flashDir(chip: ChipName, dir: string) {
  const device = new VirtualDevice({ chip });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  try {
    const r = await espdelta(["-p", `socket://127.0.0.1:${server.port}`, "flash", dir]);
    return { r, flash: device.flash.data.slice() };
  } finally {
    await server.close();
  }
}

for (const chip of ["esp32", "esp32c3", "esp32p4"] as const) {
  const boot = CHIPS[chip].bootloaderOffset;

  Deno.test(`flash DIR: an ESP-IDF build folder lands at its offsets (${chip}, bootloader ${boot})`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const build = join(dir, "build");
      const h = (n: number) => "0x" + n.toString(16);
      const app = image(chip, 2, 40000);
      const table = writePartitionTable(parsePartitionCsv(CSV));
      await put(join(build, "bootloader", "bootloader.bin"), image(chip, 1));
      await put(join(build, "demo.bin"), app);
      await put(join(build, "partition_table", "partition-table.bin"), table);
      await put(
        join(build, "flasher_args.json"),
        JSON.stringify({
          flash_settings: { flash_mode: "dio", flash_size: "4MB", flash_freq: "40m" },
          flash_files: {
            [h(boot)]: "bootloader/bootloader.bin",
            "0x8000": "partition_table/partition-table.bin",
            "0x10000": "demo.bin",
          },
          extra_esptool_args: { chip, stub: true },
        }),
      );
      const { r, flash } = await flashDir(chip, dir);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(
        r.stdout.trim().split("\n").at(-1),
        "full: bootloader " + h(boot) +
          " (1 of 1 sector), partition-table 0x8000 (1 of 1 sector), " +
          "app0 0x10000 (10 of 10 sectors)",
      );
      assertEquals(flash.subarray(0x10000, 0x10000 + app.length), app);
      assertEquals(flash.subarray(0x8000, 0x8000 + table.length), table);
      // flasher_args.json asks for 4MB: the bootloader header is patched as esptool does.
      assertEquals(flash[boot], 0xe9);
      assertEquals(flash[boot + 3] >> 4, 2);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`flash DIR: a PlatformIO project lands at its offsets (${chip})`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const env = join(dir, ".pio", "build", "board");
      const fw = image(chip, 3, 20000);
      const bl = image(chip, 4);
      await put(join(env, "firmware.bin"), fw);
      await put(join(env, "bootloader.bin"), bl);
      await put(join(env, "partitions.bin"), writePartitionTable(parsePartitionCsv(CSV)));
      await put(join(env, "boot_app0.bin"), new Uint8Array(0x2000).fill(0xa5));
      const { r, flash } = await flashDir(chip, dir);
      assertEquals(r.code, 0, r.stderr);
      assertOk(r.stdout.includes("(platformio, board)"), r.stdout);
      assertEquals(flash.subarray(boot, boot + bl.length), bl);
      assertEquals(flash.subarray(0x10000, 0x10000 + fw.length), fw);
      assertEquals(flash.subarray(0xe000, 0x10000), new Uint8Array(0x2000).fill(0xa5));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

import { join } from "node:path";
import { assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { writeImage } from "../../src/image/app.ts";
import { BuildDirError } from "../../src/image/errors.ts";
import { parsePartitionCsv, writePartitionTable } from "../../src/image/partitions.ts";
import {
  type BuildDirOptions,
  type BuildOutput,
  checkBuildChip,
  regionsFromBuildDir,
} from "../../src/image/build_dir.ts";
import type { ChipName } from "../../src/chips/chips.ts";

const OTA_CSV = "nvs,data,nvs,,0x4000\notadata,data,ota,,0x2000\nphy_init,data,phy,,0x1000\n" +
  "factory,app,factory,,1M\nota_0,app,ota_0,,1M\nota_1,app,ota_1,,1M\nstorage,data,spiffs,,256K\n";
// Arduino-ESP32's default.csv.
const ARDUINO_CSV = "nvs,data,nvs,0x9000,0x5000\notadata,data,ota,0xe000,0x2000\n" +
  "app0,app,ota_0,0x10000,0x140000\napp1,app,ota_1,0x150000,0x140000\n" +
  "spiffs,data,spiffs,0x290000,0x160000\ncoredump,data,coredump,0x3F0000,0x10000\n";

const image = (chip: ChipName, seed: number) =>
  writeImage({
    chip,
    entry: 0x40000000 + seed,
    segments: [{ loadAddress: 0x3fc80000, data: new Uint8Array(64).fill(seed) }],
  });

/** Size of every test image: 24-byte header, one 8+64-byte segment, checksum block, digest. */
const IMG = 144;

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "espdelta-image-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function put(path: string, data: Uint8Array | string): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  if (typeof data === "string") await Deno.writeTextFile(path, data);
  else await Deno.writeFile(path, data);
}

/**
 * A folder read before the chip is known, then checked against the chip
 * (after connecting), fails with the words of reading it for that chip.
 */
async function assertChipCheckedLater(
  dir: string,
  chip: ChipName,
  options: BuildDirOptions = {},
): Promise<void> {
  const early = await assertRejects(() => regionsFromBuildDir(dir, chip, options), BuildDirError);
  const build = await regionsFromBuildDir(dir, undefined, options);
  checkBuildChip(build, build.chip);
  const late = assertThrows(() => checkBuildChip(build, chip), BuildDirError);
  assertEquals([late.code, late.message], [early.code, early.message]);
}

const summary = (b: BuildOutput) => b.regions.map((r) => [r.offset, r.name, r.kind, r.data.length]);

/** An ESP-IDF build folder as idf.py leaves it. */
async function espIdfBuild(build: string, chip: ChipName, bootOffset: number): Promise<void> {
  const h = (n: number) => "0x" + n.toString(16);
  const json = {
    write_flash_args: ["--flash_mode", "dio", "--flash_size", "4MB", "--flash_freq", "80m"],
    flash_settings: { flash_mode: "dio", flash_size: "4MB", flash_freq: "80m" },
    flash_files: {
      [h(bootOffset)]: "bootloader/bootloader.bin",
      "0x10000": "demo.bin",
      "0x8000": "partition_table/partition-table.bin",
      "0xd000": "ota_data_initial.bin",
    },
    bootloader: { offset: h(bootOffset), file: "bootloader/bootloader.bin", encrypted: "false" },
    app: { offset: "0x10000", file: "demo.bin", encrypted: "false" },
    "partition-table": {
      offset: "0x8000",
      file: "partition_table/partition-table.bin",
      encrypted: "false",
    },
    otadata: { offset: "0xd000", file: "ota_data_initial.bin", encrypted: "false" },
    extra_esptool_args: { after: "hard_reset", before: "default_reset", stub: true, chip },
  };
  await put(join(build, "flasher_args.json"), JSON.stringify(json, null, 4));
  await put(join(build, "bootloader", "bootloader.bin"), image(chip, 1));
  await put(join(build, "demo.bin"), image(chip, 2));
  await put(
    join(build, "partition_table", "partition-table.bin"),
    writePartitionTable(parsePartitionCsv(OTA_CSV)),
  );
  await put(join(build, "ota_data_initial.bin"), new Uint8Array(0x2000).fill(0xff));
}

Deno.test("ESP-IDF build folders resolve to the right regions and offsets per chip", async () => {
  await withTemp(async (tmp) => {
    for (
      const [chip, boot] of [["esp32", 0x1000], ["esp32c3", 0x0], ["esp32s3", 0x0], [
        "esp32p4",
        0x2000,
      ]] as const
    ) {
      const project = join(tmp, chip);
      await espIdfBuild(join(project, "build"), chip, boot);
      for (const dir of [project, join(project, "build")]) {
        const b = await regionsFromBuildDir(dir);
        assertEquals(b.layout, "esp-idf");
        assertEquals(b.chip, chip);
        assertEquals(b.dir, join(project, "build"));
        assertEquals(summary(b), [
          [boot, "bootloader", "bootloader", IMG],
          [0x8000, "partition-table", "partition-table", 0xc00],
          [0xd000, "otadata", "data", 0x2000],
          [0x10000, "factory", "app", IMG],
        ]);
        assertEquals(b.regions[0].file, join(project, "build", "bootloader", "bootloader.bin"));
        assertEquals(b.flash, { mode: "dio", freq: "80m", size: "4MB" });
        assertEquals(b.table?.map((e) => e.name), [
          "nvs",
          "otadata",
          "phy_init",
          "factory",
          "ota_0",
          "ota_1",
          "storage",
        ]);
      }
      assertEquals((await regionsFromBuildDir(project, chip)).chip, chip);
    }
  });
});

Deno.test("ESP-IDF: one-line errors naming the file", async () => {
  await withTemp(async (tmp) => {
    const build = join(tmp, "build");
    await espIdfBuild(build, "esp32c3", 0);
    const json = join(build, "flasher_args.json");
    let e = await assertRejects(() => regionsFromBuildDir(tmp, "esp32s3"), BuildDirError);
    assertEquals([e.code, e.message], ["WRONG_CHIP", `${json} is for ESP32-C3, not ESP32-S3`]);
    await assertChipCheckedLater(tmp, "esp32s3");
    assertEquals((await regionsFromBuildDir(tmp)).chipFrom, { file: json, by: "flasher-args" });

    // flasher_args.json and the images disagree.
    const json0 = await Deno.readTextFile(json);
    await Deno.writeTextFile(json, json0.replace('"chip": "esp32c3"', '"chip": "esp32s3"'));
    e = await assertRejects(() => regionsFromBuildDir(tmp), BuildDirError);
    assertEquals([e.code, e.message], [
      "WRONG_CHIP",
      `${join(build, "bootloader", "bootloader.bin")} is built for ESP32-C3, not ESP32-S3`,
    ]);
    await Deno.writeTextFile(json, json0);

    await Deno.remove(join(build, "demo.bin"));
    e = await assertRejects(() => regionsFromBuildDir(tmp), BuildDirError);
    assertEquals([e.code, e.message], [
      "NOT_FOUND",
      `${json} names ${join(build, "demo.bin")}, which does not exist`,
    ]);

    await Deno.writeTextFile(json, "{ not json");
    e = await assertRejects(() => regionsFromBuildDir(tmp), BuildDirError);
    assertEquals(e.code, "BAD_JSON");
    assertEquals(e.message.startsWith(`${json} is not valid JSON (`), true);
    assertEquals(e.message.endsWith("); rebuild the project to regenerate it"), true);
    assertEquals(e.message.includes("\n"), false);

    await Deno.writeTextFile(json, JSON.stringify({ flash_settings: {} }));
    e = await assertRejects(() => regionsFromBuildDir(tmp), BuildDirError);
    assertEquals([e.code, e.message], ["BAD_JSON", `${json} has no "flash_files" map`]);

    await Deno.writeTextFile(json, JSON.stringify({ flash_files: { "0xzz": "x.bin" } }));
    e = await assertRejects(() => regionsFromBuildDir(tmp), BuildDirError);
    assertEquals([e.code, e.message], [
      "BAD_JSON",
      `${json}: flash_files entry "0xzz" has a bad offset "0xzz"`,
    ]);

    await Deno.writeTextFile(
      json,
      JSON.stringify({ flash_files: {}, extra_esptool_args: { chip: "esp32c61" } }),
    );
    e = await assertRejects(() => regionsFromBuildDir(tmp), BuildDirError);
    assertEquals([e.code, e.message], [
      "NO_CHIP",
      `${json} is for chip "esp32c61", which espdelta does not support`,
    ]);
  });
});

Deno.test("ESP-IDF without a chip in flasher_args.json: the chip comes from the bootloader image", async () => {
  await withTemp(async (tmp) => {
    await espIdfBuild(tmp, "esp32s3", 0);
    const json = join(tmp, "flasher_args.json");
    const args = JSON.parse(await Deno.readTextFile(json));
    delete args.extra_esptool_args;
    await Deno.writeTextFile(json, JSON.stringify(args));
    assertEquals((await regionsFromBuildDir(tmp)).chip, "esp32s3");
    const e = await assertRejects(() => regionsFromBuildDir(tmp, "esp32c3"), BuildDirError);
    assertEquals([e.code, e.message], [
      "WRONG_CHIP",
      `${join(tmp, "bootloader", "bootloader.bin")} is built for ESP32-S3, not ESP32-C3`,
    ]);
    await assertChipCheckedLater(tmp, "esp32c3");
  });
});

/** A PlatformIO env folder as `pio run` leaves it for an Arduino-framework project. */
async function pioEnv(envDir: string, chip: ChipName, bootApp0 = true): Promise<void> {
  await put(join(envDir, "firmware.bin"), image(chip, 3));
  await put(join(envDir, "bootloader.bin"), image(chip, 4));
  await put(join(envDir, "partitions.bin"), writePartitionTable(parsePartitionCsv(ARDUINO_CSV)));
  if (bootApp0) await put(join(envDir, "boot_app0.bin"), new Uint8Array(0x2000).fill(0xff));
  await put(join(envDir, "firmware.elf"), new Uint8Array(16));
}

Deno.test("PlatformIO projects resolve per chip: bootloader offset, table, boot_app0, app from the table", async () => {
  await withTemp(async (tmp) => {
    for (
      const [chip, boot] of [["esp32", 0x1000], ["esp32s3", 0x0], ["esp32c6", 0x0], [
        "esp32c5",
        0x2000,
      ]] as const
    ) {
      const project = join(tmp, chip);
      await pioEnv(join(project, ".pio", "build", "board"), chip);
      await put(join(project, ".pio", "build", "project.checksum"), "abc");
      const b = await regionsFromBuildDir(project);
      assertEquals([b.layout, b.chip, b.target], ["platformio", chip, "board"]);
      assertEquals(summary(b), [
        [boot, "bootloader", "bootloader", IMG],
        [0x8000, "partition-table", "partition-table", 0xc00],
        [0xe000, "otadata", "data", 0x2000],
        [0x10000, "app0", "app", IMG],
      ]);
      assertEquals(b.regions[3].file, join(project, ".pio", "build", "board", "firmware.bin"));
      assertEquals(b.flash, {});
      // The env folder itself works too.
      assertEquals(
        summary(await regionsFromBuildDir(join(project, ".pio", "build", "board"))),
        summary(b),
      );
    }
  });
});

Deno.test("PlatformIO: app offset from partitions.bin, no boot_app0, several environments", async () => {
  await withTemp(async (tmp) => {
    const build = join(tmp, ".pio", "build");
    await pioEnv(join(build, "s3"), "esp32s3", false);
    const csv = "nvs,data,nvs,,0x6000\nphy_init,data,phy,,0x1000\nfactory,app,factory,0x20000,1M\n";
    await Deno.writeFile(
      join(build, "s3", "partitions.bin"),
      writePartitionTable(parsePartitionCsv(csv)),
    );
    assertEquals(summary(await regionsFromBuildDir(tmp)), [
      [0x0, "bootloader", "bootloader", IMG],
      [0x8000, "partition-table", "partition-table", 0xc00],
      [0x20000, "factory", "app", IMG],
    ]);

    await pioEnv(join(build, "c3"), "esp32c3");
    let e = await assertRejects(() => regionsFromBuildDir(tmp), BuildDirError);
    assertEquals([e.code, e.message], [
      "AMBIGUOUS",
      `${build} has several environments (c3, s3); pick one`,
    ]);
    const c3 = await regionsFromBuildDir(tmp, undefined, { env: "c3" });
    assertEquals([c3.chip, c3.target], ["esp32c3", "c3"]);
    e = await assertRejects(() => regionsFromBuildDir(tmp, undefined, { env: "x" }), BuildDirError);
    assertEquals(
      e.message,
      `no PlatformIO environment "x" with firmware.bin in ${build} (found: c3, s3)`,
    );
    e = await assertRejects(() => regionsFromBuildDir(tmp, "esp32", { env: "c3" }), BuildDirError);
    assertEquals([e.code, e.message], [
      "WRONG_CHIP",
      `${join(build, "c3", "bootloader.bin")} is built for ESP32-C3, not ESP32`,
    ]);
    await assertChipCheckedLater(tmp, "esp32", { env: "c3" });
  });
});

Deno.test("PlatformIO ESP8266: one image at 0x0", async () => {
  await withTemp(async (tmp) => {
    const env = join(tmp, ".pio", "build", "d1_mini");
    const fw = writeImage({
      chip: "esp8266",
      segments: [{ loadAddress: 0x40100000, data: new Uint8Array(32) }],
    });
    await put(join(env, "firmware.bin"), fw);
    const b = await regionsFromBuildDir(tmp);
    assertEquals([b.chip, summary(b)], ["esp8266", [[0, "firmware", "app", fw.length]]]);
  });
});

Deno.test("Arduino CLI output: separate files, merged file, several sketches", async () => {
  await withTemp(async (tmp) => {
    const out = join(tmp, "out");
    await put(join(out, "Blink.ino.bin"), image("esp32", 5));
    await put(join(out, "Blink.ino.bootloader.bin"), image("esp32", 6));
    await put(
      join(out, "Blink.ino.partitions.bin"),
      writePartitionTable(parsePartitionCsv(ARDUINO_CSV)),
    );
    await put(join(out, "Blink.ino.elf"), new Uint8Array(8));
    const merged = new Uint8Array(0x10000 + IMG).fill(0xff);
    merged.set(image("esp32", 6), 0x1000);
    merged.set(image("esp32", 5), 0x10000);
    await put(join(out, "Blink.ino.merged.bin"), merged);

    const b = await regionsFromBuildDir(out);
    assertEquals([b.layout, b.chip, b.target], ["arduino", "esp32", "Blink"]);
    assertEquals(summary(b), [
      [0x1000, "bootloader", "bootloader", IMG],
      [0x8000, "partition-table", "partition-table", 0xc00],
      [0x10000, "app0", "app", IMG],
    ]);
    assertEquals(b.regions[2].file, join(out, "Blink.ino.bin"));

    const m = await regionsFromBuildDir(out, "esp32", { merged: true });
    assertEquals(summary(m), [[0, "merged", "other", merged.length]]);
    const e1 = await assertRejects(
      () => regionsFromBuildDir(out, "esp32s3", { merged: true }),
      BuildDirError,
    );
    assertEquals(
      e1.message,
      `${join(out, "Blink.ino.merged.bin")} is built for ESP32, not ESP32-S3`,
    );
    await assertChipCheckedLater(out, "esp32s3", { merged: true });
    await assertChipCheckedLater(out, "esp32c3");

    // arduino-cli's default place: <sketch>/build/<fqbn>/.
    const sketchDir = join(tmp, "Blink");
    await put(join(sketchDir, "build", "esp32.esp32.esp32", "Blink.ino.bin"), image("esp32", 5));
    assertEquals(summary(await regionsFromBuildDir(sketchDir)), [[0x10000, "app", "app", IMG]]);

    await put(join(out, "Other.ino.bin"), image("esp32", 7));
    const e2 = await assertRejects(() => regionsFromBuildDir(out), BuildDirError);
    assertEquals([e2.code, e2.message], [
      "AMBIGUOUS",
      `${out} holds several sketches (Blink, Other); pick one`,
    ]);
    assertEquals((await regionsFromBuildDir(out, undefined, { sketch: "Other" })).target, "Other");
  });
});

Deno.test("unknown layouts, missing folders, unsupported chips", async () => {
  await withTemp(async (tmp) => {
    let e = await assertRejects(() => regionsFromBuildDir(join(tmp, "nope")), BuildDirError);
    assertEquals([e.code, e.message], [
      "NOT_FOUND",
      `build folder ${join(tmp, "nope")} does not exist`,
    ]);
    e = await assertRejects(() => regionsFromBuildDir(tmp), BuildDirError);
    assertEquals([e.code, e.message], [
      "UNKNOWN_LAYOUT",
      `${tmp} is not an ESP-IDF build (flasher_args.json), a PlatformIO project (.pio/build) ` +
      "or an Arduino CLI output (*.ino.bin)",
    ]);
    await put(join(tmp, "f.bin"), "x");
    e = await assertRejects(() => regionsFromBuildDir(join(tmp, "f.bin")), BuildDirError);
    assertEquals(e.message, `${join(tmp, "f.bin")} is not a folder`);
    const env = join(tmp, "env");
    await put(join(env, "firmware.bin"), image("esp32c61" as ChipName, 1));
    e = await assertRejects(() => regionsFromBuildDir(env), BuildDirError);
    assertEquals([e.code, e.message], [
      "NO_CHIP",
      `${join(env, "firmware.bin")} is built for ESP32-C61, which espdelta does not support`,
    ]);
    await Deno.writeFile(join(env, "firmware.bin"), new Uint8Array(64));
    e = await assertRejects(() => regionsFromBuildDir(env), BuildDirError);
    assertEquals(
      e.message,
      `cannot tell the chip from ${join(env, "bootloader.bin")}, ${
        join(env, "firmware.bin")
      }; give the chip`,
    );
    assertEquals((await regionsFromBuildDir(env, "esp32c3")).regions.map((r) => r.offset), [
      0x10000,
    ]);
  });
});

import { join } from "node:path";
import { assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { headerFlashParams } from "../../src/image/patch.ts";
import { readImage, writeImage } from "../../src/image/app.ts";
import {
  BuildDirError,
  ImageError,
  InputError,
  PartitionError,
  RegionError,
} from "../../src/image/errors.ts";
import {
  checkInputsChip,
  loadInputs,
  regionsForChip,
  regionsFromInputs,
} from "../../src/image/inputs.ts";
import { parsePartitionCsv, writePartitionTable } from "../../src/image/partitions.ts";
import type { ChipName } from "../../src/chips/chips.ts";
import { EspdeltaError } from "../../src/protocol/errors.ts";
import { toHex } from "../../src/protocol/bytes.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url).pathname;
const CSV = "nvs,data,nvs,0x9000,0x6000\nfactory,app,factory,0x10000,1M\n";

const image = (chip: ChipName, seed: number, size = 64) =>
  writeImage({
    chip,
    entry: 0x40000000 + seed,
    segments: [{ loadAddress: 0x3fc80000, data: new Uint8Array(size).fill(seed) }],
  });

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "espdelta-inputs-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** An ESP-IDF build folder asking for dio/80m/4MB. */
async function espIdf(dir: string, chip: ChipName, boot: Uint8Array, app: Uint8Array) {
  await Deno.mkdir(join(dir, "bootloader"), { recursive: true });
  await Deno.writeFile(join(dir, "bootloader", "bootloader.bin"), boot);
  await Deno.writeFile(join(dir, "app.bin"), app);
  await Deno.writeFile(join(dir, "table.bin"), writePartitionTable(parsePartitionCsv(CSV)));
  await Deno.writeTextFile(
    join(dir, "flasher_args.json"),
    JSON.stringify({
      flash_settings: { flash_mode: "dio", flash_size: "4MB", flash_freq: "80m" },
      flash_files: {
        "0x0": "bootloader/bootloader.bin",
        "0x8000": "table.bin",
        "0x10000": "app.bin",
      },
      bootloader: { offset: "0x0", file: "bootloader/bootloader.bin" },
      app: { offset: "0x10000", file: "app.bin" },
      extra_esptool_args: { chip },
    }),
  );
}

Deno.test("loadInputs: ADDR FILE pairs named after the table, a CSV as the binary table, keep", async () => {
  await withTemp(async (dir) => {
    const app = image("esp32", 1, 4000);
    await Deno.writeFile(`${dir}/app.bin`, app);
    await Deno.writeFile(`${dir}/blob.bin`, new Uint8Array(16).fill(0x55));
    await Deno.writeTextFile(`${dir}/partitions.csv`, CSV);
    const loaded = await loadInputs([
      { offset: 0x10000, file: `${dir}/app.bin` },
      { offset: 0x9000, file: `${dir}/blob.bin` },
      { offset: 0x8000, file: `${dir}/partitions.csv` },
    ]);
    assertEquals(loaded.regions.map((r) => [r.name, r.offset, r.kind, r.file]), [
      ["partition-table", 0x8000, "partition-table", `${dir}/partitions.csv`],
      ["nvs", 0x9000, "data", `${dir}/blob.bin`],
      ["factory", 0x10000, "app", `${dir}/app.bin`],
    ]);
    assertEquals(loaded.regions[0].data, writePartitionTable(parsePartitionCsv(CSV)));
    assertEquals(loaded.regions[2].data, app);
    assertEquals(loaded.flash, { mode: "keep", freq: "keep", size: "keep" });
    assertEquals(loaded.build, undefined);
    // Only the image region was read as an image.
    assertEquals([...loaded.images.keys()], [loaded.regions[2]]);
    assertEquals(loaded.images.get(loaded.regions[2])?.image?.chip, "esp32");
  });
});

Deno.test("loadInputs: every device-free defect is one line, before any chip is known", async () => {
  await withTemp(async (dir) => {
    const app = await Deno.readFile(`${FW}hello-world-signed_esp32.bin`);
    await Deno.writeFile(`${dir}/truncated.bin`, app.subarray(0, 20000));
    const good = image("esp32", 4);
    const noSha = good.slice();
    noSha[good.length - 1] ^= 0x01; // the digest's last byte
    await Deno.writeFile(`${dir}/sha.bin`, noSha);
    await Deno.writeFile(`${dir}/empty.bin`, new Uint8Array());
    await Deno.writeFile(`${dir}/table.bin`, new Uint8Array([0xaa, 0x50, 1, 2, 3]));
    await Deno.mkdir(`${dir}/folder`);
    const at = (offset: number, name: string) => [{ offset, file: `${dir}/${name}` }];
    const cases: [ReturnType<typeof at>, string, string, string][] = [
      [
        at(0x10000, "missing.bin"),
        InputError.name,
        "FILE_NOT_FOUND",
        `cannot read ${dir}/missing.bin: no such file; check the path (or build the project first)`,
      ],
      [
        at(0x10000, "folder"),
        InputError.name,
        "FILE_UNREADABLE",
        `cannot read ${dir}/folder: it is a directory; give an image file, or the folder alone as a build folder`,
      ],
      [
        at(0x10000, "empty.bin"),
        RegionError.name,
        "EMPTY",
        `empty at 0x10000: ${dir}/empty.bin is empty; nothing to write (rebuild it or leave it out)`,
      ],
      [
        at(0x10000, "truncated.bin"),
        ImageError.name,
        "TRUNCATED",
        `truncated at 0x10000 (${dir}/truncated.bin): image is truncated: segment 0 (load 0x3f400020, length 22316) has only 19968 bytes left in the file; rebuild it or pick the right file`,
      ],
      [
        at(0x10000, "sha.bin"),
        ImageError.name,
        "BAD_SHA256",
        `sha at 0x10000 (${dir}/sha.bin): image SHA-256 is ${toHex(noSha.subarray(-32))}, ` +
        `computed ${toHex(good.subarray(-32))}: the image was changed after it was built; ` +
        "rebuild it or pick the right file",
      ],
      [
        at(0x8000, "table.bin"),
        PartitionError.name,
        "BAD_TABLE",
        `partition-table at 0x8000 (${dir}/table.bin): not a valid partition table (partition table length 5 is not a multiple of 32 bytes); rebuild it`,
      ],
    ];
    for (const [pairs, cls, code, message] of cases) {
      const e = await assertRejects(() => loadInputs(pairs), EspdeltaError);
      assertEquals([e.name, e.code, e.message], [cls, code, message], pairs[0].file);
    }
  });
});

Deno.test("a build folder: read once, its settings unless asked otherwise, checked per chip", async () => {
  await withTemp(async (dir) => {
    const boot = image("esp32c3", 1);
    const app = image("esp32c3", 2, 9000);
    await espIdf(dir, "esp32c3", boot, app);
    // Every image is parsed once, though the folder reads two of them for the chip.
    const reads: Uint8Array[] = [];
    const loaded = await loadInputs(dir, {
      flash: { freq: "80m" },
      readImage: (bytes) => (reads.push(bytes), readImage(bytes)),
    });
    assertEquals(reads.length, 2);
    assertEquals(new Set(reads).size, 2);
    assertEquals(loaded.flash, { mode: "dio", freq: "80m", size: "4MB" });
    assertEquals(loaded.build?.chip, "esp32c3");
    assertEquals(loaded.regions.map((r) => [r.name, r.offset]), [
      ["bootloader", 0],
      ["partition-table", 0x8000],
      ["factory", 0x10000],
    ]);

    // For the build's chip: the bootloader header gets dio, 80m, 4MB and its digest.
    const { regions, notes } = regionsForChip(loaded, "esp32c3");
    assertEquals(notes, [
      "bootloader: Flash parameters set to 0x022f. SHA digest in image updated.",
    ]);
    assertEquals(headerFlashParams(regions[0].data, "esp32c3"), {
      mode: "dio",
      freq: "80m",
      size: "4MB",
    });
    assertEquals(readImage(regions[0].data).error, undefined);
    assertEquals([regions[1].data, regions[2].data], [loaded.regions[1].data, app]);
    // The loaded inputs stay as read, for the next board.
    assertEquals(loaded.regions[0].data, boot);

    // Another chip: the words regionsFromBuildDir uses.
    const e = assertThrows(() => checkInputsChip(loaded, "esp32s3"), BuildDirError);
    assertEquals(e.message, `${dir}/flasher_args.json is for ESP32-C3, not ESP32-S3`);
    const early = await assertRejects(() => loadInputs(dir, { chip: "esp32s3" }), BuildDirError);
    assertEquals(early.message, e.message);
  });
});

Deno.test("regionsForChip: a flash size of detect takes the device's; other families refused", async () => {
  await withTemp(async (dir) => {
    const boot = await Deno.readFile(`${FW}bootloader_esp32.bin`);
    await Deno.writeFile(`${dir}/boot.bin`, boot);
    const loaded = await loadInputs([{ offset: 0x1000, file: `${dir}/boot.bin` }], {
      flash: { size: "detect" },
    });
    const r = regionsForChip(loaded, "esp32", { flashSize: 16 << 20 });
    assertEquals(headerFlashParams(r.regions[0].data, "esp32").size, "16MB");
    assertEquals(r.notes, ["bootloader: Flash parameters set to 0x0240."]);
    const e = assertThrows(() => regionsForChip(loaded, "esp32"), ImageError);
    assertEquals(e.code, "DETECT_NEEDED");
    const other = assertThrows(() => regionsForChip(loaded, "esp8266"), RegionError);
    assertEquals([other.code, other.message], [
      "WRONG_CHIP",
      "bootloader at 0x1000: image is built for ESP32, but the device is ESP8266; rebuild for ESP8266 or pick the right file",
    ]);
  });
});

Deno.test("regionsFromInputs: both steps and the flash bounds, as the CLI's flash makes them", async () => {
  await withTemp(async (dir) => {
    const s3 = image("esp32s3", 3, 8000);
    await Deno.writeFile(`${dir}/app.bin`, s3);
    const pairs = [{ offset: 0x3ff000, file: `${dir}/app.bin` }];
    // Without a chip only the device-free checks apply.
    assertEquals((await regionsFromInputs(pairs)).map((r) => r.name), ["app"]);
    let e = await assertRejects(() => regionsFromInputs(pairs, { chip: "esp32" }), RegionError);
    assertEquals([e.code, e.message], [
      "WRONG_CHIP",
      "app at 0x3ff000: image is built for ESP32-S3, but the device is ESP32; rebuild for ESP32 or pick the right file",
    ]);
    e = await assertRejects(
      () => regionsFromInputs(pairs, { chip: "esp32s3", flashSize: 4 << 20 }),
      RegionError,
    );
    assertEquals([e.code, e.message], [
      "PAST_END",
      `app at 0x3ff000: ${s3.length} bytes end at 0x${
        (0x3ff000 + s3.length).toString(16)
      }, past the end of the 4 MB flash (0x400000); check the offset, or --flash-size if the flash is larger`,
    ]);
    const ok = await regionsFromInputs([{ offset: 0x10000, file: `${dir}/app.bin` }], {
      chip: "esp32s3",
      flashSize: 4 << 20,
    });
    assertEquals(ok.map((r) => [r.name, r.offset, r.data.length]), [["app", 0x10000, s3.length]]);
  });
});

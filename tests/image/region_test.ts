import { assertEquals, assertThrows } from "../assert.ts";
import { writeImage } from "../../src/image/app.ts";
import { RegionError } from "../../src/image/errors.ts";
import { parsePartitionCsv, writePartitionTable } from "../../src/image/partitions.ts";
import { holdsImage, nameRegions, type Region, validateRegions } from "../../src/image/region.ts";
import { CHIPS } from "../../src/chips/chips.ts";

const OTA_CSV = "nvs,data,nvs,,0x4000\notadata,data,ota,,0x2000\nphy_init,data,phy,,0x1000\n" +
  "factory,app,factory,,1M\nota_0,app,ota_0,,1M\nota_1,app,ota_1,,1M\nstorage,data,spiffs,,256K\n";

const image = (chip: "esp32" | "esp32s3" | "esp8266", seed: number) =>
  writeImage({
    chip,
    entry: 0x40000000 + seed,
    segments: [{ loadAddress: 0x3fc80000, data: new Uint8Array(64).fill(seed) }],
  });

const r = (offset: number, data: Uint8Array, name = `at ${offset}`): Region => ({
  name,
  offset,
  data,
});

Deno.test("holdsImage: the kind decides, else the magic byte", () => {
  const img = image("esp32", 1);
  const bytes = new Uint8Array([0x12, 0xe9]);
  assertEquals(
    [
      holdsImage({ kind: "app", data: bytes }),
      holdsImage({ kind: "bootloader", data: bytes }),
      holdsImage({ kind: "data", data: img }),
      holdsImage({ kind: "partition-table", data: img }),
      holdsImage({ kind: "other", data: img }),
      holdsImage({ data: img }),
      holdsImage({ data: new Uint8Array([0xea, 4]) }),
      holdsImage({ data: bytes }),
      holdsImage({ data: new Uint8Array() }),
    ],
    [true, true, false, false, false, true, true, false, false],
  );
});

Deno.test("nameRegions labels explicit offset/file pairs by the partition they fall in", () => {
  const table = writePartitionTable(parsePartitionCsv(OTA_CSV));
  const named = nameRegions([
    r(0x210000, new Uint8Array(16)),
    r(0x8000, table),
    r(0x1000, image("esp32", 1)),
    r(0x9000, new Uint8Array(16)),
    r(0x320000, new Uint8Array(16)),
    r(0x400000, new Uint8Array(16), "extra.bin"),
  ]);
  assertEquals(named.map((x) => [x.offset, x.name, x.kind]), [
    [0x1000, "bootloader", "bootloader"],
    [0x8000, "partition-table", "partition-table"],
    [0x9000, "nvs", "data"],
    [0x210000, "ota_1", "app"],
    [0x320000, "storage", "data"],
    [0x400000, "extra.bin", undefined],
  ]);
  // A table passed in wins; a region at 0 that runs past the table offset is a merged image.
  const entries = parsePartitionCsv("fs,data,fat,0x9000,64K\n");
  assertEquals(
    nameRegions([r(0x9000, new Uint8Array(4)), r(0, new Uint8Array(0x9000))], entries).map((x) =>
      x.name
    ),
    ["merged", "fs"],
  );
  assertEquals(
    nameRegions([r(0x2000, new Uint8Array(4), "b")], [], { bootloaderOffset: 0x2000 })[0].name,
    "bootloader",
  );
  // An ESP8266 v2 image (0xEA) below the table is an app, not a second-stage bootloader.
  assertEquals(nameRegions([r(0, new Uint8Array([0xea, 4, 0, 0]), "fw")])[0].name, "fw");
});

Deno.test("validateRegions: one line per defect; chip and flash size only when known", () => {
  const esp32 = CHIPS.esp32;
  const app = image("esp32", 2);
  const cases: [Region[], string, string][] = [
    [
      [r(0x10010, app, "app")],
      "UNALIGNED",
      "app at 0x10010: offset is not a multiple of 0x1000; flash regions start on 4 KiB sector boundaries",
    ],
    [
      [{ ...r(0x10000, new Uint8Array(), "app"), file: "app.bin" }],
      "EMPTY",
      "app at 0x10000: app.bin is empty; nothing to write (rebuild it or leave it out)",
    ],
    [
      [r(0x10000, app, "a"), r(0x10000, app, "b")],
      "OVERLAP",
      "a (0x10000-0x10090) overlaps b at 0x10000; fix the offsets so each region ends before the next begins",
    ],
  ];
  for (const [regions, code, message] of cases) {
    const e = assertThrows(() => validateRegions(regions), RegionError);
    assertEquals([e.code, e.message], [code, message]);
  }
  // Without a chip and a size, a foreign image and a far offset pass.
  const s3 = r(0x3ff000, image("esp32s3", 3), "app");
  assertEquals(validateRegions([s3]).length, 1);
  let e = assertThrows(() => validateRegions([s3], esp32), RegionError);
  assertEquals([e.code, e.message], [
    "WRONG_CHIP",
    "app at 0x3ff000: image is built for ESP32-S3, but the device is ESP32; rebuild for ESP32 or pick the right file",
  ]);
  e = assertThrows(
    () => validateRegions([r(0x3ff000, new Uint8Array(0x2000), "fs")], esp32, 4 << 20),
    RegionError,
  );
  assertEquals([e.code, e.message], [
    "PAST_END",
    "fs at 0x3ff000: 8192 bytes end at 0x401000, past the end of the 4 MB flash (0x400000); check the offset, or --flash-size if the flash is larger",
  ]);
  // Data that is not an image is never checked for its chip; sorted by offset.
  const data = r(0x9000, new Uint8Array([0xe9, 1, 2, 3]), "nvs");
  const sorted = validateRegions([r(0x10000, app), { ...data, kind: "data" }], esp32, 4 << 20);
  assertEquals(sorted.map((x) => x.offset), [0x9000, 0x10000]);
});

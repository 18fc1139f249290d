import { createHash } from "node:crypto";
import { assertEquals, assertThrows } from "../assert.ts";
import { PartitionError } from "../../src/image/errors.ts";
import {
  firstAppPartition,
  formatPartitionCsv,
  parsePartitionCsv,
  parsePartitionTable,
  partitionAt,
  type PartitionEntry,
  subtypeName,
  typeName,
  verifyPartitions,
  writePartitionTable,
} from "../../src/image/partitions.ts";
import { toHex } from "../../src/protocol/bytes.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url);
const SINGLE = Deno.readFileSync(new URL("partitions_singleapp.bin", FW));

const entry = (
  name: string,
  type: number,
  subtype: number,
  offset: number,
  size: number,
  more: Partial<PartitionEntry> = {},
): PartitionEntry => ({
  name,
  type,
  subtype,
  offset,
  size,
  encrypted: false,
  readonly: false,
  ...more,
});

Deno.test("the real partitions_singleapp.bin: three entries, no MD5 row, no end row", () => {
  const t = parsePartitionTable(SINGLE);
  assertEquals(t.entries, [
    entry("factory", 0, 0, 0x10000, 0x100000),
    entry("rfdata", 1, 1, 0x110000, 0x40000),
    entry("wifidata", 1, 2, 0x150000, 0x40000),
  ]);
  assertEquals([t.md5, t.terminated, t.length], [undefined, false, 96]);
  // Written back without MD5 and padding it is the same file, byte for byte.
  assertEquals(writePartitionTable(t.entries, { md5: false, pad: false }), SINGLE);
  assertEquals(
    formatPartitionCsv(t.entries),
    "# ESP-IDF Partition Table\n# Name, Type, SubType, Offset, Size, Flags\n" +
      "factory,app,factory,0x10000,1M,\nrfdata,data,phy,0x110000,256K,\nwifidata,data,nvs,0x150000,256K,\n",
  );
});

Deno.test("binary round trip with the MD5 row and 0xFF padding to 0xC00", () => {
  const entries = parsePartitionTable(SINGLE).entries;
  const bin = writePartitionTable(entries);
  assertEquals(bin.length, 0xc00);
  assertEquals(bin.subarray(0, 96), SINGLE);
  assertEquals(toHex(bin.subarray(96, 112)), "ebeb" + "ff".repeat(14));
  const md5 = new Uint8Array(createHash("md5").update(SINGLE).digest());
  assertEquals(bin.subarray(112, 128), md5);
  assertEquals(bin.subarray(128).every((b) => b === 0xff), true);
  const back = parsePartitionTable(bin);
  assertEquals(back.entries, entries);
  assertEquals(back.md5, { stored: md5, computed: md5, valid: true });
  assertEquals([back.terminated, back.length], [true, 160]);
  // A whole 4 KiB sector read from flash parses the same.
  const sector = new Uint8Array(0x1000).fill(0xff);
  sector.set(bin);
  assertEquals(parsePartitionTable(sector).entries, entries);
});

Deno.test("binary: one entry's exact bytes, flags and labels of 16 bytes", () => {
  const bin = writePartitionTable(
    [
      entry("nvs", 1, 2, 0x9000, 0x6000, { readonly: true, encrypted: true, extraFlags: 0x100 }),
      entry("sixteen_chars_ab", 0x40, 0x05, 0x10000, 0x1000),
    ],
    { md5: false, pad: false },
  );
  assertEquals(
    toHex(bin.subarray(0, 32)),
    "aa50" + "0102" + "00900000" + "00600000" + "6e7673" + "00".repeat(13) + "03010000",
  );
  const t = parsePartitionTable(bin);
  assertEquals(
    t.entries[0],
    entry("nvs", 1, 2, 0x9000, 0x6000, {
      readonly: true,
      encrypted: true,
      extraFlags: 0x100,
    }),
  );
  assertEquals(t.entries[1].name, "sixteen_chars_ab");
  // Longer labels are cut, as gen_esp32part.py's struct.pack does.
  const cut = writePartitionTable([entry("a_very_long_label_indeed", 1, 0x81, 0x9000, 0x1000)], {
    md5: false,
    pad: false,
  });
  assertEquals(parsePartitionTable(cut).entries[0].name, "a_very_long_labe");
});

Deno.test("binary errors: bad row magic, MD5 mismatch, partial row, too many entries", () => {
  const bad = SINGLE.slice();
  bad[32] = 0x12;
  bad[33] = 0x34;
  const e1 = assertThrows(() => parsePartitionTable(bad), PartitionError);
  assertEquals([e1.code, e1.message], [
    "BAD_TABLE",
    "partition table row 1 at 0x20 starts with 0x3412, not an entry (0x50aa), an MD5 row (0xebeb) " +
    "or the 0xff end row",
  ]);
  const withMd5 = writePartitionTable(parsePartitionTable(SINGLE).entries);
  withMd5[100] ^= 1; // inside the MD5 row's padding: not checked
  assertEquals(parsePartitionTable(withMd5).md5?.valid, true);
  withMd5[127] ^= 1;
  const e2 = assertThrows(() => parsePartitionTable(withMd5), PartitionError);
  assertEquals(e2.code, "BAD_MD5");
  assertEquals(e2.message.startsWith("partition table MD5 row holds "), true);
  const e3 = assertThrows(() => parsePartitionTable(SINGLE.subarray(0, 80)), PartitionError);
  assertEquals([e3.code, e3.message], [
    "BAD_TABLE",
    "partition table length 80 is not a multiple of 32 bytes",
  ]);
  const many = Array.from(
    { length: 95 },
    (_, i) => entry(`p${i}`, 1, 0x81, 0x10000 + i * 0x1000, 0x1000),
  );
  const e4 = assertThrows(() => writePartitionTable(many), PartitionError);
  assertEquals([e4.code, e4.message], [
    "TOO_LARGE",
    "binary partition table length (3072) longer than max (3072)",
  ]);
  assertEquals(writePartitionTable(many.slice(0, 94)).length, 0xc00);
  assertEquals(writePartitionTable(many, { md5: false }).length, 0xc00);
});

const SINGLE_CSV = `# Name,   Type, SubType, Offset,  Size, Flags
# Note: if you have increased the bootloader size, make sure to update the offsets to avoid overlap
nvs,      data, nvs,     ,        0x6000,
phy_init, data, phy,     ,        0x1000,
factory,  app,  factory, ,        1M,
`;

const TWO_OTA_CSV = `# Name,   Type, SubType, Offset,   Size, Flags
nvs,      data, nvs,     ,        0x4000,
otadata,  data, ota,     ,        0x2000,
phy_init, data, phy,     ,        0x1000,
factory,  app,  factory, ,        1M,
ota_0,    app,  ota_0,   ,        1M,
ota_1,    app,  ota_1,   ,        1M,
`;

Deno.test("CSV: ESP-IDF's default tables get ESP-IDF's offsets", () => {
  assertEquals(parsePartitionCsv(SINGLE_CSV), [
    entry("nvs", 1, 2, 0x9000, 0x6000, { line: 3 }),
    entry("phy_init", 1, 1, 0xf000, 0x1000, { line: 4 }),
    entry("factory", 0, 0, 0x10000, 0x100000, { line: 5 }),
  ]);
  assertEquals(
    parsePartitionCsv(TWO_OTA_CSV).map((e) => [e.name, e.offset, e.size]),
    [
      ["nvs", 0x9000, 0x4000],
      ["otadata", 0xd000, 0x2000],
      ["phy_init", 0xf000, 0x1000],
      ["factory", 0x10000, 0x100000],
      ["ota_0", 0x110000, 0x100000],
      ["ota_1", 0x210000, 0x100000],
    ],
  );
  // A table moved to 0x9000 pushes the data partitions along.
  assertEquals(parsePartitionCsv(SINGLE_CSV, { offset: 0x9000 }).map((e) => e.offset), [
    0xa000,
    0x10000,
    0x20000,
  ]);
});

Deno.test("CSV round trip through the binary form and back to CSV", () => {
  const entries = parsePartitionCsv(TWO_OTA_CSV);
  const strip = (es: PartitionEntry[]) => es.map(({ line: _, ...e }) => e);
  const bin = writePartitionTable(entries);
  assertEquals(parsePartitionTable(bin).entries, strip(entries));
  const csv = formatPartitionCsv(entries);
  assertEquals(
    csv,
    "# ESP-IDF Partition Table\n# Name, Type, SubType, Offset, Size, Flags\n" +
      "nvs,data,nvs,0x9000,16K,\notadata,data,ota,0xd000,8K,\nphy_init,data,phy,0xf000,4K,\n" +
      "factory,app,factory,0x10000,1M,\nota_0,app,ota_0,0x110000,1M,\nota_1,app,ota_1,0x210000,1M,\n",
  );
  assertEquals(strip(parsePartitionCsv(csv)), strip(entries));
});

Deno.test("CSV field syntax: suffixes, bases, keywords in any case, negative sizes, flags", () => {
  const es = parsePartitionCsv(
    [
      "nvs, DATA, NVS, 0x9000, 24k",
      "keys, data, nvs_keys, , 4K, encrypted",
      "app0, app, ota_0, 0o200000, 0x1M",
      "app1, 0x00, 0x11, , 1_048_576",
      "ota, data, ota, 0b1101000000000000000000, 8K",
      "store, data, littlefs, , -0x400000, readonly",
      "custom, 0x40, 7, , 4K, encrypted:readonly",
      "tee, app, tee_1, , 64K",
      "blank, data, , , 4K",
    ].join("\n"),
  );
  assertEquals(
    es.map((e) => [e.name, e.type, e.subtype, e.offset, e.size, e.encrypted, e.readonly]),
    [
      ["nvs", 1, 2, 0x9000, 0x6000, false, false],
      ["keys", 1, 4, 0xf000, 0x1000, true, false],
      ["app0", 0, 0x10, 0x10000, 0x100000, false, false],
      ["app1", 0, 0x11, 0x110000, 1048576, false, false],
      ["ota", 1, 0, 0x340000, 0x2000, false, false],
      ["store", 1, 0x83, 0x342000, 0x400000 - 0x342000, false, true],
      ["custom", 0x40, 7, 0x400000, 0x1000, true, true],
      ["tee", 0, 0x31, 0x410000, 0x10000, false, false],
      ["blank", 1, 6, 0x420000, 0x1000, false, false],
    ],
  );
  assertEquals([typeName(0x40), subtypeName(0x40, 7), subtypeName(0, 0x31), typeName(3)], [
    "64",
    "7",
    "tee_1",
    "partition_table",
  ]);
});

Deno.test("CSV: bootloader and partition-table entries take their offsets from the options", () => {
  const csv = "bootloader, bootloader, primary, N/A, N/A\n" +
    "partition_table, partition_table, primary, N/A, N/A\n" +
    "nvs, data, nvs, , 0x6000\n" +
    "recovery, bootloader, recovery, N/A, N/A\n";
  const es = parsePartitionCsv(csv, {
    bootloaderOffset: 0x1000,
    recoveryBootloaderOffset: 0x20000,
  });
  assertEquals(es.map((e) => [e.name, e.type, e.subtype, e.offset, e.size]), [
    ["bootloader", 2, 0, 0x1000, 0x7000],
    ["partition_table", 3, 0, 0x8000, 0x1000],
    ["nvs", 1, 2, 0x9000, 0x6000],
    ["recovery", 2, 2, 0x20000, 0x7000],
  ]);
  const e = assertThrows(() => parsePartitionCsv(csv), PartitionError);
  assertEquals([e.code, e.line, e.message], [
    "CSV_SYNTAX",
    1,
    "line 1: Primary bootloader offset is not provided",
  ]);
});

Deno.test("CSV errors carry the line number", () => {
  const cases: [string, string, string][] = [
    ["nvs, , nvs, , 0x6000", "CSV_SYNTAX", "line 1: Field 'type' can't be left empty."],
    [
      "# c\nnvs, data, nvx, , 0x6000",
      "CSV_SYNTAX",
      "line 2: Value 'nvx' is not valid. Known keywords: " +
      "ota, phy, nvs, coredump, nvs_keys, efuse, undefined, esphttpd, fat, spiffs, littlefs, tee_ota",
    ],
    [
      "nvs, dta, nvs, , 0x6000",
      "CSV_SYNTAX",
      "line 1: Value 'dta' is not valid. Known keywords: bootloader, partition_table, app, data",
    ],
    ["factory, app, , , 1M", "CSV_SYNTAX", "line 1: App partition cannot have an empty subtype"],
    ["factory, app, factory, , 1.5M", "CSV_SYNTAX", "line 1: Invalid field value 1.5"],
    ["factory, app, factory, 010000, 1M", "CSV_SYNTAX", "line 1: Invalid field value 010000"],
    ["nvs, data, nvs, ,", "CSV_SYNTAX", "line 1: Size field can't be empty"],
    [
      "nvs, data, nvs, , 0x6000, secret",
      "CSV_SYNTAX",
      "line 1: CSV flag column contains unknown flag 'secret'",
    ],
    ["$NVS_NAME, data, nvs, , 0x6000", "CSV_SYNTAX", "line 1: unknown variable 'NVS_NAME'"],
    [
      "nvs, data, nvs, 0x8000, 0x6000",
      "OVERLAP",
      "line 1: Partitions overlap. Partition sets offset " +
      "0x8000. But partition table occupies the whole sector 0x8000. Use a free offset 0x9000 or higher.",
    ],
    [
      "nvs, data, nvs, , 0x6000\nphy, data, phy, 0xe000, 0x1000",
      "OVERLAP",
      "line 2: Partitions overlap. Partition sets offset 0xe000. Previous partition ends 0xf000",
    ],
    [
      "factory, app, factory, 0x11000, 1M",
      "INVALID_PARTITION",
      "line 1: Partition factory invalid: Offset 0x11000 is not aligned to 0x10000",
    ],
    [
      "nvs, data, nvs, 0x9800, 0x6000",
      "INVALID_PARTITION",
      "line 1: Partition nvs invalid: Offset 0x9800 is not aligned to 0x1000",
    ],
    [
      "factory, app, factory, , 0x100800",
      "INVALID_PARTITION",
      "line 1: Partition factory invalid: Size 0x100800 is not aligned to 0x1000",
    ],
    [
      "nvs, data, nvs, , 0x2000",
      "INVALID_PARTITION",
      "line 1: Partition nvs invalid: 'nvs' partition " +
      "of type 1 and subtype 2 of this size (0x2000) must be flagged as 'readonly' (the size of " +
      "read/write NVS has to be at least 0x3000)",
    ],
    [
      "otadata, data, ota, , 0x2000, readonly",
      "INVALID_PARTITION",
      "line 1: Partition otadata " +
      "invalid: 'otadata' partition of type 1 and subtype 0 is always read-write and cannot be read-only",
    ],
    [
      "nvs, data, nvs, , 0x6000\nnvs, data, fat, , 0x6000",
      "DUPLICATE",
      "line 2: Partition names must be unique: 'nvs'",
    ],
    [
      "otadata, data, ota, , 0x1000",
      "INVALID_PARTITION",
      "line 1: otadata partition must have size = 0x2000",
    ],
    [
      "ota1, data, ota, , 0x2000\nota2, data, ota, , 0x2000",
      "DUPLICATE",
      "line 2: Found multiple " +
      'otadata partitions. Only one partition can be defined with type="data"(1) and subtype="ota"(0).',
    ],
  ];
  for (const [csv, code, message] of cases) {
    const e = assertThrows(() => parsePartitionCsv(csv), PartitionError);
    assertEquals([e.code, e.message], [code, message], csv);
  }
  // With checks off, rule breaks pass; syntax errors do not.
  assertEquals(parsePartitionCsv("nvs, data, nvs, , 0x2000", { verify: false })[0].size, 0x2000);
});

Deno.test("CSV: variables from env, BOM, CRLF line ends, secure boot v1 app sizes", () => {
  const es = parsePartitionCsv(
    "\uFEFF${NAME}, data, nvs, , $SIZE\r\nfactory, app, factory, , 0x11000\r\n",
    {
      env: { NAME: "nvs", SIZE: "0x6000" },
    },
  );
  assertEquals(es.map((e) => [e.name, e.size, e.line]), [["nvs", 0x6000, 1], [
    "factory",
    0x11000,
    2,
  ]]);
  const e = assertThrows(
    () => parsePartitionCsv("factory, app, factory, , 0x11000", { secure: "v1" }),
    PartitionError,
  );
  assertEquals(
    e.message,
    "line 1: Partition factory invalid: Size 0x11000 is not aligned to 0x10000",
  );
});

Deno.test("overlap checks on entries without line numbers", () => {
  const e = assertThrows(
    () =>
      verifyPartitions([entry("a", 1, 0x81, 0x9000, 0x3000), entry("b", 1, 0x82, 0xa000, 0x1000)]),
    PartitionError,
  );
  assertEquals([e.code, e.line, e.message], [
    "OVERLAP",
    undefined,
    "Partition at 0xa000 overlaps 0x9000-0xbfff",
  ]);
  const below = assertThrows(
    () => verifyPartitions([entry("a", 1, 0x81, 0x1000, 0x1000)]),
    PartitionError,
  );
  assertEquals(below.message, "Partition offset 0x1000 is below 0x9000");
});

Deno.test("lookups: the partition holding an offset, the app the bootloader starts", () => {
  const es = parsePartitionCsv(TWO_OTA_CSV);
  assertEquals(partitionAt(es, 0xd000)?.name, "otadata");
  assertEquals(partitionAt(es, 0x10fff)?.name, "factory");
  assertEquals(partitionAt(es, 0x8000), undefined);
  assertEquals(firstAppPartition(es)?.name, "factory");
  assertEquals(firstAppPartition(es.filter((e) => e.name !== "factory"))?.name, "ota_0");
  assertEquals(firstAppPartition([entry("t", 0, 0x20, 0x10000, 0x1000)])?.name, "t");
  assertEquals(firstAppPartition([]), undefined);
});

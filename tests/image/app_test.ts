import { assertEquals, assertOk, assertThrows } from "../assert.ts";
import {
  checksumOffset,
  detectImageTarget,
  esp8266Crc32,
  hasImageMagic,
  identifyImageTarget,
  imageChecksum,
  imageChipId,
  parseImage,
  readImage,
  sha256,
  writeImage,
} from "../../src/image/app.ts";
import { writeAppDesc, writeBootloaderDesc } from "../../src/image/app_desc.ts";
import { ImageError } from "../../src/image/errors.ts";
import { toHex } from "../../src/protocol/bytes.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url);
const read = (name: string) => Deno.readFileSync(new URL(name, FW));

// What SOURCES.md (and esptool image-info, which it quotes) records for each real image.
const REAL: {
  file: string;
  target: string;
  chipId: number | null;
  segments: number;
  sha: boolean;
  checksum: number;
  entry?: number;
  sizeCode?: number;
}[] = [
  {
    file: "bootloader_esp32.bin",
    target: "esp32",
    chipId: 0,
    segments: 4,
    sha: false,
    checksum: 0x83,
    entry: 0x4009816c,
    sizeCode: 1,
  },
  {
    file: "bootloader_esp32_v5_2.bin",
    target: "esp32",
    chipId: 0,
    segments: 4,
    sha: true,
    checksum: 0xbe,
  },
  {
    file: "bootloader_esp32s2.bin",
    target: "esp32s2",
    chipId: 2,
    segments: 3,
    sha: true,
    checksum: 0xe6,
  },
  {
    file: "bootloader_esp32s3.bin",
    target: "esp32s3",
    chipId: 9,
    segments: 3,
    sha: true,
    checksum: 0xaa,
  },
  {
    file: "bootloader_esp32c2.bin",
    target: "esp32c2",
    chipId: 12,
    segments: 3,
    sha: true,
    checksum: 0xe5,
  },
  {
    file: "bootloader_esp32c3.bin",
    target: "esp32c3",
    chipId: 5,
    segments: 4,
    sha: true,
    checksum: 0x77,
    entry: 0x403c0000,
  },
  {
    file: "bootloader_esp32c6.bin",
    target: "esp32c6",
    chipId: 13,
    segments: 3,
    sha: true,
    checksum: 0x70,
  },
  {
    file: "bootloader_esp8266.bin",
    target: "esp8266",
    chipId: null,
    segments: 3,
    sha: false,
    checksum: 0xc0,
    sizeCode: 0,
  },
  {
    file: "esp_idf_blink_esp32s2.bin",
    target: "esp32s2",
    chipId: 2,
    segments: 6,
    sha: true,
    checksum: 0x18,
  },
  {
    file: "hello-world-signed_esp32.bin",
    target: "esp32",
    chipId: 0,
    segments: 7,
    sha: true,
    checksum: 0x30,
  },
  {
    file: "esp8266_deepsleep.bin",
    target: "esp8266",
    chipId: null,
    segments: 1,
    sha: false,
    checksum: 0x2d,
    sizeCode: 4,
  },
  {
    file: "esp32c3_header_min_rev.bin",
    target: "esp32c3",
    chipId: 5,
    segments: 1,
    sha: false,
    checksum: 0xef,
    entry: 0xdeadbeef,
  },
  {
    file: "esp32s3_header.bin",
    target: "esp32s3",
    chipId: 9,
    segments: 1,
    sha: false,
    checksum: 0xef,
    entry: 0xdeadbeef,
  },
  ...(
    [
      ["esp32", 0, 0x14],
      ["esp32c2", 12, 0xa1],
      ["esp32c3", 5, 0x06],
      ["esp32c5", 23, 0xc7],
      ["esp32c6", 13, 0xea],
      ["esp32c61", 20, 0x39],
      ["esp32h2", 16, 0xac],
      ["esp32h4", 28, 0x5b],
      ["esp32p4", 18, 0xe5],
      ["esp32s3", 9, 0xde],
    ] as const
  ).map(([target, chipId, checksum]) => ({
    file: `ram_helloworld/helloworld-${target}.bin`,
    target,
    chipId,
    segments: 2,
    sha: true,
    checksum,
  })),
  {
    file: "ram_helloworld/helloworld-esp8266.bin",
    target: "esp8266",
    chipId: null,
    segments: 2,
    sha: false,
    checksum: 0x12,
  },
];

Deno.test("every real image parses and validates with the recorded chip, segments, checksum and SHA", () => {
  for (const r of REAL) {
    const bytes = read(r.file);
    const image = parseImage(bytes);
    const what = r.file;
    assertEquals(image.target, r.target, what);
    assertEquals(image.extended?.chipId ?? null, r.chipId, what);
    assertEquals(image.segments.length, r.segments, what);
    assertEquals(image.segmentCount, r.segments, what);
    assertEquals(image.checksum.stored, r.checksum, what);
    assertEquals(image.checksum.computed, r.checksum, what);
    assertEquals(image.checksum.valid, true, what);
    assertEquals(image.sha256?.valid, r.sha ? true : undefined, what);
    assertEquals(image.extended?.hashAppended ?? false, r.sha, what);
    if (r.entry !== undefined) assertEquals(image.entry, r.entry, what);
    if (r.sizeCode !== undefined) assertEquals(image.flashSizeCode, r.sizeCode, what);
    if (r.target === "esp8266") {
      assertEquals(image.format, "esp8266-v1", what);
      assertEquals(image.chip, undefined, what); // v1 images carry no chip id
      assertEquals(parseImage(bytes, { chip: "esp8266" }).chip, "esp8266", what);
    } else {
      assertEquals(image.format, "esp32", what);
      assertEquals(parseImage(bytes, { chip: r.target }).target, r.target, what);
    }
    assertEquals(image.warnings, [], what);
  }
});

Deno.test("chip field: set for espdelta's chips, undefined for targets outside the chip table", () => {
  assertEquals(parseImage(read("ram_helloworld/helloworld-esp32c5.bin")).chip, "esp32c5");
  assertEquals(parseImage(read("ram_helloworld/helloworld-esp32c61.bin")).chip, undefined);
  assertEquals(parseImage(read("ram_helloworld/helloworld-esp32c61.bin")).target, "esp32c61");
  assertEquals(parseImage(read("ram_helloworld/helloworld-esp32h4.bin")).chip, undefined);
});

Deno.test("real images: segment layout, end offset, trailing signature, revisions", () => {
  const c3 = parseImage(read("bootloader_esp32c3.bin"));
  assertEquals(
    c3.segments.map((s) => [s.loadAddress, s.length, s.fileOffset, s.memoryTypes.join(",")]),
    [
      [0x3fcd6100, 0x14, 0x18, "DRAM,BYTE_ACCESSIBLE"],
      [0x3fcd6114, 0x1864, 0x34, "DRAM,BYTE_ACCESSIBLE"],
      [0x403c0000, 0xde4, 0x18a0, "IRAM"],
      [0x403c2000, 0x1e8c, 0x268c, "IRAM"],
    ],
  );
  assertEquals(c3.segments[1].dataOffset, 0x3c);
  assertEquals(c3.end, 17744);
  assertEquals(
    toHex(c3.sha256!.stored),
    "4faeab1bd3fd6a7d4adfa0fd38f41bfc67a8c3c0a9d6d882b65580da2e5e6347",
  );
  assertEquals(c3.checksum.offset, 17744 - 33);
  assertEquals(c3.flashMode, 2);
  assertEquals(c3.extended!.wpPin, 0xee);

  // The secure-boot v1 signature block after the digest is not part of the image.
  const signed = parseImage(read("hello-world-signed_esp32.bin"));
  assertEquals(signed.end, 0x2ffb0);
  assertEquals(signed.appDesc?.projectName, "hello-world");

  // ESP8266 app with the IROM data simply following the v1 image.
  assertEquals(parseImage(read("esp8266_deepsleep.bin")).end, 1408);

  const minRev = parseImage(read("esp32c3_header_min_rev.bin")).extended!;
  assertEquals([minRev.minRev, minRev.minRevFull, minRev.maxRevFull], [0, 255, 65535]);
  assertEquals(minRev.wpPin, 0);
  const s3 = parseImage(read("esp32s3_header.bin")).extended!;
  assertEquals([s3.minRev, s3.minRevFull, s3.maxRevFull], [10, 0, 0]);
});

Deno.test("app and bootloader descriptors of real images", () => {
  const blink = parseImage(read("esp_idf_blink_esp32s2.bin"));
  assertEquals(blink.appDesc, {
    secureVersion: 0,
    version: "qa-test-v5.0-20220830-4-g4532e6",
    projectName: "blink",
    time: "19:46:07",
    date: "Sep 13 2022",
    idfVersion: "v5.0-beta1-427-g4532e6e0b2-dirt",
    elfSha256: "3059e6b55a965865febd28fa9f6028ad5cd0dab311febb0a3ea79eaa223ac2b0",
    minEfuseBlkRevFull: 0,
    maxEfuseBlkRevFull: 0,
    mmuPageSizeLog2: 0,
  });
  assertEquals(blink.bootloaderDesc, undefined);
  const boot = parseImage(read("bootloader_esp32_v5_2.bin"));
  assertEquals(boot.bootloaderDesc, {
    version: 1,
    idfVersion: "v5.2-dev-254-g1950b15",
    dateTime: "Apr 25 2023 00:13:32",
  });
  assertEquals(boot.appDesc, undefined);
  assertEquals(parseImage(read("bootloader_esp32.bin")).bootloaderDesc, undefined);
});

Deno.test("the writer rebuilds real images byte for byte from their parsed fields", () => {
  for (const r of REAL.filter((r) => r.target !== "esp8266")) {
    const bytes = read(r.file);
    const image = parseImage(bytes);
    const x = image.extended!;
    const rebuilt = writeImage({
      chip: image.target,
      flashMode: image.flashMode,
      flashSize: image.flashSizeCode,
      flashFreq: image.flashFreqCode,
      entry: image.entry,
      segments: image.segments.map((s) => ({
        loadAddress: s.loadAddress,
        data: bytes.subarray(s.dataOffset, s.dataOffset + s.length),
      })),
      wpPin: x.wpPin,
      drive: { clk: x.clkDrv, q: x.qDrv, d: x.dDrv, cs: x.csDrv, hd: x.hdDrv, wp: x.wpDrv },
      minRev: x.minRev,
      minRevFull: x.minRevFull,
      maxRevFull: x.maxRevFull,
      hashAppended: x.hashAppended,
    });
    assertEquals(toHex(sha256(rebuilt)), toHex(sha256(bytes.subarray(0, image.end))), r.file);
  }
  for (const file of ["bootloader_esp8266.bin", "ram_helloworld/helloworld-esp8266.bin"]) {
    const bytes = read(file);
    const image = parseImage(bytes, { chip: "esp8266" });
    const rebuilt = writeImage({
      chip: "esp8266",
      flashMode: image.flashMode,
      flashSize: image.flashSizeCode,
      flashFreq: image.flashFreqCode,
      entry: image.entry,
      segments: image.segments.map((s) => ({
        loadAddress: s.loadAddress,
        data: bytes.subarray(s.dataOffset, s.dataOffset + s.length),
      })),
    });
    assertEquals(rebuilt, bytes.subarray(0, image.end), file);
  }
});

/** A small valid ESP32-C3 image with an app descriptor in its DROM segment. */
function c3App(extra: Partial<Parameters<typeof writeImage>[0]> = {}): Uint8Array {
  const desc = writeAppDesc({
    version: "1.2.3",
    projectName: "demo",
    time: "12:00:00",
    date: "Jan  1 2025",
    idfVersion: "v5.4",
    elfSha256: "ab".repeat(32),
    secureVersion: 3,
    minEfuseBlkRevFull: 1,
    maxEfuseBlkRevFull: 199,
    mmuPageSizeLog2: 16,
  });
  const drom = new Uint8Array(0x120);
  drom.set(desc);
  return writeImage({
    chip: "esp32c3",
    flashMode: "dio",
    flashSize: "4MB",
    flashFreq: "80m",
    entry: 0x40380080,
    segments: [
      { loadAddress: 0x3c000020, data: drom },
      { loadAddress: 0x3fc80000, data: Uint8Array.from({ length: 0x40 }, (_, i) => i) },
      { loadAddress: 0x40380000, data: new Uint8Array(0x22).fill(0x5a) },
    ],
    ...extra,
  });
}

Deno.test("writer: header fields, padding, checksum and digest round-trip through the parser", () => {
  const bin = c3App({ minRevFull: 3, maxRevFull: 199, drive: { clk: 1, q: 2, hd: 3, wp: 15 } });
  // 24 + (8+0x120) + (8+0x40) + (8+0x24 after padding to 4) = 0x1b4; checksum ends a 16-byte unit.
  assertEquals(checksumOffset(0x1b4), 0x1bf);
  assertEquals(checksumOffset(0x1bf), 0x1bf);
  assertEquals(bin.length, 0x1c0 + 32);
  assertEquals(Array.from(bin.subarray(0, 4)), [0xe9, 3, 2, 0x2f]);
  const image = parseImage(bin, { chip: "esp32c3" });
  assertEquals(image.flashMode, 2);
  assertEquals(image.flashSizeCode, 2);
  assertEquals(image.flashFreqCode, 0xf);
  assertEquals(image.entry, 0x40380080);
  assertEquals(image.extended, {
    wpPin: 0xee,
    clkDrv: 1,
    qDrv: 2,
    dDrv: 0,
    csDrv: 0,
    hdDrv: 3,
    wpDrv: 15,
    chipId: 5,
    minRev: 0,
    minRevFull: 3,
    maxRevFull: 199,
    hashAppended: true,
  });
  assertEquals(image.segments.map((s) => [s.fileOffset, s.length]), [
    [0x18, 0x120],
    [0x140, 0x40],
    [0x188, 0x24],
  ]);
  assertEquals(image.segments.map((s) => s.memoryTypes[0]), ["DROM", "DRAM", "IRAM"]);
  // The 0x22-byte segment was padded with two zero bytes.
  assertEquals(Array.from(bin.subarray(0x190 + 0x20, 0x190 + 0x24)), [0x5a, 0x5a, 0, 0]);
  // 0xEF xor all segment data: 0..63 xor to 0 and the 34 bytes of 0x5a cancel out.
  let expected = 0xef;
  for (const b of bin.subarray(0x20, 0x20 + 0x120)) expected ^= b;
  assertEquals(image.checksum.stored, expected);
  assertEquals(bin[0x1bf], expected);
  assertEquals(imageChecksum(new Uint8Array([1, 2, 3])), 0xef);
  assertEquals(image.sha256!.stored, sha256(bin.subarray(0, 0x1c0)));
  assertEquals(image.end, bin.length);
  assertEquals(image.appDesc?.version, "1.2.3");
  assertEquals(image.appDesc?.date, "Jan  1 2025");
  assertEquals(image.appDesc?.elfSha256, "ab".repeat(32));
  assertEquals(image.appDesc?.mmuPageSizeLog2, 16);
  assertEquals(image.appDesc?.secureVersion, 3);
});

Deno.test("writer: bootloader descriptor in the last DRAM segment of at least 80 bytes", () => {
  const desc = writeBootloaderDesc({
    version: 7,
    idfVersion: "v5.3",
    dateTime: "Jan 2 2025 10:00:00",
  });
  const bin = writeImage({
    chip: "esp32s3",
    segments: [
      { loadAddress: 0x3fc80000, data: desc }, // overridden by the later DRAM segment
      { loadAddress: 0x3fc90000, data: desc.map((b, i) => (i === 4 ? 9 : b)) },
      { loadAddress: 0x3fca0000, data: new Uint8Array(16) }, // too short to count
    ],
  });
  assertEquals(parseImage(bin).bootloaderDesc, {
    version: 9,
    idfVersion: "v5.3",
    dateTime: "Jan 2 2025 10:00:00",
  });
});

const err = (fn: () => unknown) => {
  const e = assertThrows(fn, ImageError);
  return [e.code, e.message];
};

Deno.test("defect: bad magic, empty file", () => {
  assertEquals(err(() => parseImage(read("partitions_singleapp.bin"))), [
    "BAD_MAGIC",
    "not an ESP firmware image: first byte is 0xaa, expected 0xe9",
  ]);
  assertEquals(err(() => parseImage(new Uint8Array(0))), ["EMPTY", "image is empty (0 bytes)"]);
  const v2 = writeImage({ chip: "esp8266", format: "esp8266-v2", segments: [] });
  assertEquals(err(() => parseImage(v2, { chip: "esp32" })), [
    "BAD_MAGIC",
    "first byte 0xea marks an ESP8266 v2 image, not an ESP32 image",
  ]);
});

Deno.test("defect: truncated header, segment, checksum and digest", () => {
  const bin = c3App();
  assertEquals(err(() => parseImage(bin.subarray(0, 20), { chip: "esp32c3" })), [
    "TRUNCATED",
    "image is truncated: 20 bytes, an ESP32-C3 image header needs 24",
  ]);
  assertEquals(err(() => parseImage(bin.subarray(0, 0x150))), [
    "TRUNCATED",
    "image is truncated: segment 1 (load 0x3fc80000, length 64) has only 8 bytes left in the file",
  ]);
  assertEquals(err(() => parseImage(bin.subarray(0, 0x144))), [
    "TRUNCATED",
    "image is truncated: segment 1 header at 0x140 runs past the end of the file (324 bytes)",
  ]);
  assertEquals(err(() => parseImage(bin.subarray(0, 0x1bf))), [
    "TRUNCATED",
    "image is truncated: the checksum byte at 0x1bf is past the end of the file (447 bytes)",
  ]);
  assertEquals(err(() => parseImage(bin.subarray(0, 0x1c0 + 20))), [
    "TRUNCATED",
    "image is truncated: the SHA-256 digest after the checksum has 20 of 32 bytes",
  ]);
  const lenient = parseImage(bin.subarray(0, 0x1c0 + 20), { verify: false });
  assertEquals(lenient.sha256?.valid, false);
  assertEquals(lenient.sha256?.stored.length, 20);
});

Deno.test("defect: wrong checksum, wrong SHA-256, each with its exact error", () => {
  const plain = c3App({ hashAppended: false });
  const corrupt = plain.slice();
  corrupt[0x150] ^= 0x01; // a data byte of segment 1
  assertEquals(plain[0x1bf], 0x02);
  assertEquals(err(() => parseImage(corrupt)), [
    "BAD_CHECKSUM",
    "image checksum is 0x02 at 0x1bf, computed 0x03: the segment data is corrupted",
  ]);
  const lenient = parseImage(corrupt, { verify: false });
  assertEquals(lenient.checksum.valid, false);
  assertEquals(lenient.checksum.computed, plain[0x1bf] ^ 1);

  // The header is covered by the digest but not by the checksum.
  const bin = c3App();
  const patched = bin.slice();
  patched[2] = 3;
  const e = assertThrows(() => parseImage(patched), ImageError);
  assertEquals(e.code, "BAD_SHA256");
  assertEquals(
    e.message,
    `image SHA-256 is ${toHex(bin.subarray(0x1c0))}, computed ` +
      `${toHex(sha256(patched.subarray(0, 0x1c0)))}: the image was changed after it was built`,
  );
  assertEquals(parseImage(patched, { verify: false }).sha256?.valid, false);

  // A corrupted data byte breaks both; the checksum is reported first.
  const both = bin.slice();
  both[0x150] ^= 0x80;
  assertEquals(err(() => parseImage(both))[0], "BAD_CHECKSUM");
});

Deno.test("defect: image for another chip", () => {
  const s3 = c3App({ chip: "esp32s3" });
  assertEquals(err(() => parseImage(s3, { chip: "esp32c3" })), [
    "WRONG_CHIP",
    "image is built for ESP32-S3 (chip id 9), not ESP32-C3",
  ]);
  assertEquals(err(() => parseImage(c3App({ chipId: 0x77 }), { chip: "esp32c3" })), [
    "WRONG_CHIP",
    "image has unknown chip id 119, not ESP32-C3 (5)",
  ]);
  const allowed = parseImage(s3, { chip: "esp32c3", allowOtherChip: true });
  assertEquals(allowed.warnings, [
    "Unexpected chip ID in image. Expected 5 but value was 9. Is this image for a different chip model?",
  ]);
  assertEquals(err(() => parseImage(s3, { chip: "esp99" })), [
    "UNKNOWN_CHIP",
    'unknown chip "esp99"',
  ]);
  assertEquals(parseImage(s3).target, "esp32s3");
});

Deno.test("defect: too many segments, bad hash-appended byte", () => {
  const segments = Array.from({ length: 17 }, (_, i) => ({
    loadAddress: 0x3fc80000 + i * 0x100,
    data: new Uint8Array(4),
  }));
  const many = writeImage({ chip: "esp32c3", segments });
  assertEquals(err(() => parseImage(many)), [
    "TOO_MANY_SEGMENTS",
    "image has 17 segments, the ROM loads at most 16 (linker script problem?)",
  ]);
  assertEquals(parseImage(many, { verify: false }).segments.length, 17);

  const bad = c3App().slice();
  bad[23] = 2;
  assertEquals(err(() => parseImage(bad, { chip: "esp32c3" })), [
    "BAD_HEADER",
    "hash-appended byte at offset 23 is 0x02, must be 0 or 1 (not an ESP32-C3 image?)",
  ]);
  // Without a chip, esptool's rule reads such a file as an ESP8266 image.
  assertEquals(detectImageTarget(bad).name, "esp8266");
});

Deno.test("segment count byte lower than the real count: the rest is trailing data", () => {
  const bin = c3App({ segmentCount: 2, hashAppended: false });
  const image = parseImage(bin, { verify: false });
  assertEquals(image.segments.length, 2);
  assertEquals(image.checksum.valid, false);
});

Deno.test("detection follows esptool: 0xEA and unknown chip ids mean ESP8266", () => {
  assertEquals(detectImageTarget(read("bootloader_esp32c6.bin")).name, "esp32c6");
  assertEquals(detectImageTarget(read("bootloader_esp8266.bin")).name, "esp8266");
  assertEquals(detectImageTarget(c3App({ chipId: 0x77 })).name, "esp8266");
  assertEquals(detectImageTarget(new Uint8Array([0xea, 4, 0, 0])).name, "esp8266");
  assertEquals(err(() => detectImageTarget(new Uint8Array([0xed]))), [
    "BAD_MAGIC",
    "not an ESP firmware image: first byte is 0xed, expected 0xe9",
  ]);
});

Deno.test("ESP8266 v2 images: IROM segment outside the checksum, second header, CRC32", () => {
  const irom = Uint8Array.from({ length: 40 }, (_, i) => i * 3);
  const bin = writeImage({
    chip: "esp8266",
    format: "esp8266-v2",
    flashMode: "qio",
    flashSize: "4MB",
    flashFreq: "80m",
    entry: 0x40100004,
    irom,
    segments: [
      { loadAddress: 0x40100000, data: new Uint8Array(8).fill(1) },
      { loadAddress: 0x3ffe8000, data: new Uint8Array(4).fill(7) },
    ],
  });
  // First header + IROM (padded to 48) + second header + 2 segments + checksum block + CRC.
  assertEquals(bin[0], 0xea);
  assertEquals(bin[1], 4);
  assertEquals(bin[8 + 8 + 48], 0xe9);
  const image = parseImage(bin);
  assertEquals(image.format, "esp8266-v2");
  assertEquals(image.chip, "esp8266");
  assertEquals(image.segmentCount, 2);
  assertEquals(
    image.segments.map((s) => [s.loadAddress, s.length, s.fileOffset, s.inChecksum]),
    [
      [0, 48, 8, false],
      [0x40100000, 8, 72, true],
      [0x3ffe8000, 4, 88, true],
    ],
  );
  assertEquals(image.checksum.stored, 0xef ^ 7 ^ 7 ^ 7 ^ 7);
  assertEquals(image.checksum.valid, true);
  assertEquals(image.crc32?.valid, true);
  assertEquals(image.end, bin.length);
  assertEquals([image.flashMode, image.flashSizeCode, image.flashFreqCode], [0, 4, 0xf]);
  assertEquals(image.warnings, []);

  const odd = bin.slice();
  odd[1] = 5;
  odd[3] = 0x20;
  assertEquals(parseImage(odd).warnings, [
    'V2 header has unexpected "segment" count 5 (usually 4)',
    "Flash size/freq value in first header (0x20) disagrees with second (0x4f). Using second value.",
  ]);
  const badSecond = bin.slice();
  badSecond[64] = 0xe8;
  assertEquals(err(() => parseImage(badSecond)), [
    "BAD_MAGIC",
    "ESP8266 v2 image: second header at 0x40 starts with 0xe8, expected 0xe9",
  ]);
});

Deno.test("ESP8266 CRC32 and suspicious-segment warnings", () => {
  // binascii.crc32(b"123456789") = 0xcbf43926, high bit set: inverted.
  assertEquals(esp8266Crc32(new TextEncoder().encode("123456789")), 0x340bc6d9);
  // High bit clear: plus one. binascii.crc32(b"a") = 0xe8b7be43 (set), b"abc" = 0x352441c2.
  assertEquals(esp8266Crc32(new TextEncoder().encode("abc")), 0x352441c3);
  const bin = writeImage({
    chip: "esp8266",
    segments: [{ loadAddress: 0x60000000, data: new Uint8Array(4) }],
  });
  assertEquals(parseImage(bin).warnings, ["Suspicious segment 0x60000000, length 4"]);
});

Deno.test("writer rejects what it cannot encode", () => {
  assertEquals(err(() => writeImage({ chip: "esp32", format: "esp8266-v1", segments: [] })), [
    "BAD_SPEC",
    "format esp8266-v1 does not fit ESP32",
  ]);
  assertEquals(err(() => writeImage({ chip: "esp32c2", flashFreq: "80m", segments: [] })), [
    "BAD_SPEC",
    'unknown flash frequency "80m"',
  ]);
  assertOk(writeImage({ chip: "esp32c2", flashFreq: "60m", segments: [] })[3] === 0x2f);
});

Deno.test("identifyImageTarget confirms the guess: an ESP8266 image that looks like an ESP32-S31 one", () => {
  const bin = writeImage({
    chip: "esp8266",
    segments: [{ loadAddress: 0x40100000, data: new Uint8Array(32) }],
  });
  // Byte 12 is the segment length (0x20, the ESP32-S31 chip id) and byte 23 is 0.
  assertEquals(detectImageTarget(bin).name, "esp32s31");
  assertEquals(identifyImageTarget(bin).name, "esp8266");
  for (const r of REAL) assertEquals(identifyImageTarget(read(r.file)).name, r.target, r.file);
  // Neither reading validates: esptool's guess stands.
  const broken = bin.slice();
  broken[bin.length - 1] ^= 0xff;
  assertEquals(identifyImageTarget(broken).name, "esp32s31");
});

Deno.test("readImage: the target and the parse in one reading, or why it is not valid", () => {
  for (const r of REAL) {
    const reading = readImage(read(r.file));
    assertEquals([reading.target.name, reading.image?.target, reading.error], [
      r.target,
      r.target,
      undefined,
    ], r.file);
  }
  const bin = writeImage({
    chip: "esp8266",
    segments: [{ loadAddress: 0x40100000, data: new Uint8Array(32) }],
  });
  // Looks like an ESP32-S31 header, reads as the ESP8266 image it is.
  const esp8266 = readImage(bin);
  assertEquals([esp8266.target.name, esp8266.image?.format], ["esp8266", "esp8266-v1"]);
  // Neither reading validates: the guess stands, with the guess's error.
  const broken = bin.slice();
  broken[bin.length - 1] ^= 0xff;
  const b = readImage(broken);
  assertEquals([b.target.name, b.image, b.error?.code], ["esp32s31", undefined, "BAD_CHECKSUM"]);
  const c3 = writeImage({
    chip: "esp32c3",
    segments: [{ loadAddress: 0x3fc80000, data: new Uint8Array(32) }],
  });
  const corrupt = c3.slice();
  corrupt[40] ^= 1;
  const e = readImage(corrupt).error!;
  assertEquals([e.code, e.message], [
    "BAD_CHECKSUM",
    "image checksum is 0xef at 0x4f, computed 0xee: the segment data is corrupted",
  ]);
  assertEquals(readImage(c3.subarray(0, 40)).error?.code, "TRUNCATED");
  assertThrows(() => readImage(new Uint8Array([0x12])), ImageError);
});

Deno.test("hasImageMagic and imageChipId read only the header", () => {
  const c3 = writeImage({ chip: "esp32c3", segments: [] });
  assertEquals(
    [0xe9, 0xea, 0xaa, 0xff].map((b) => hasImageMagic(new Uint8Array([b]))),
    [true, true, false, false],
  );
  assertEquals(hasImageMagic(new Uint8Array()), false);
  assertEquals(imageChipId(c3), undefined); // no segment: not a header imageChipId trusts
  const one = writeImage({
    chip: "esp32c3",
    segments: [{ loadAddress: 0, data: new Uint8Array(4) }],
  });
  assertEquals(imageChipId(one), 5);
  const noHash = one.slice();
  noHash[23] = 2;
  assertEquals([imageChipId(noHash), imageChipId(one.subarray(0, 23))], [undefined, undefined]);
});

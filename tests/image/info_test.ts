import { assertEquals, assertThrows } from "../assert.ts";
import { formatImageInfo } from "../../src/image/info.ts";
import { ImageError } from "../../src/image/errors.ts";
import { writeImage } from "../../src/image/app.ts";
import { writeAppDesc } from "../../src/image/app_desc.ts";

// Expected texts follow esptool v5.3.1's image_info() (cmds.py) line for line: titles
// underlined with "=", Python format specs such as {:#8x} and {:#07x}, warnings as
// "Warning: ..." lines. They were also checked against esptool's own image_info run
// on the same files.

const FW = new URL("../../testdata/firmware/", import.meta.url);
const read = (name: string) => Deno.readFileSync(new URL(name, FW));
const text = (lines: string[]) => lines.join("\n") + "\n";

Deno.test("image-info bootloader_esp32c3.bin: ESP32-C3 bootloader, chip detected (esptool's own test asserts parts of this)", () => {
  assertEquals(
    formatImageInfo(read("bootloader_esp32c3.bin")),
    text([
      "Image size: 17744 bytes",
      "Detected image type: ESP32-C3",
      "",
      "ESP32-C3 Image Header",
      "=====================",
      "Image version: 1",
      "Entry point: 0x403c0000",
      "Segments: 4",
      "Flash size: 2MB",
      "Flash freq: 40m",
      "Flash mode: DIO",
      "",
      "ESP32-C3 Extended Image Header",
      "==============================",
      "WP pin: 0xee (disabled)",
      "Flash pins drive settings: clk_drv: 0x0, q_drv: 0x0, d_drv: 0x0, cs0_drv: 0x0, hd_drv: 0x0, wp_drv: 0x0",
      "Chip ID: 5 (ESP32-C3)",
      "Minimal chip revision: v0.0, (legacy min_rev = 0)",
      "Maximal chip revision: v0.0",
      "",
      "Segments Information",
      "====================",
      "Segment   Length   Load addr   File offs  Memory types",
      "-------  -------  ----------  ----------  ------------",
      "      0  0x00014  0x3fcd6100  0x00000018  DRAM, BYTE_ACCESSIBLE",
      "      1  0x01864  0x3fcd6114  0x00000034  DRAM, BYTE_ACCESSIBLE",
      "      2  0x00de4  0x403c0000  0x000018a0  IRAM",
      "      3  0x01e8c  0x403c2000  0x0000268c  IRAM",
      "",
      "ESP32-C3 Image Footer",
      "=====================",
      "Checksum: 0x77 (valid)",
      "Validation hash: 4faeab1bd3fd6a7d4adfa0fd38f41bfc67a8c3c0a9d6d882b65580da2e5e6347 (valid)",
    ]),
  );
});

Deno.test("image-info bootloader_esp8266.bin: ESP8266 v1 bootloader: no extended header, no digest", () => {
  assertEquals(
    formatImageInfo(read("bootloader_esp8266.bin")),
    text([
      "Image size: 2752 bytes",
      "Detected image type: ESP8266",
      "",
      "ESP8266 Image Header",
      "====================",
      "Image version: 1",
      "Entry point: 0x40100294",
      "Segments: 3",
      "Flash size: 512KB",
      "Flash freq: 40m",
      "Flash mode: QIO",
      "",
      "Segments Information",
      "====================",
      "Segment   Length   Load addr   File offs  Memory types",
      "-------  -------  ----------  ----------  ------------",
      "      0  0x00574  0x40100000  0x00000008  IRAM",
      "      1  0x00308  0x3ffe8000  0x00000584  DRAM",
      "      2  0x0021c  0x3ffe8308  0x00000894  DRAM",
      "",
      "ESP8266 Image Footer",
      "====================",
      "Checksum: 0xc0 (valid)",
    ]),
  );
});

Deno.test("image-info esp_idf_blink_esp32s2.bin: ESP-IDF app: Application Information from esp_app_desc_t", () => {
  assertEquals(
    formatImageInfo(read("esp_idf_blink_esp32s2.bin")),
    text([
      "Image size: 182368 bytes",
      "Detected image type: ESP32-S2",
      "",
      "ESP32-S2 Image Header",
      "=====================",
      "Image version: 1",
      "Entry point: 0x40022f84",
      "Segments: 6",
      "Flash size: 2MB",
      "Flash freq: 80m",
      "Flash mode: DIO",
      "",
      "ESP32-S2 Extended Image Header",
      "==============================",
      "WP pin: 0xee (disabled)",
      "Flash pins drive settings: clk_drv: 0x0, q_drv: 0x0, d_drv: 0x0, cs0_drv: 0x0, hd_drv: 0x0, wp_drv: 0x0",
      "Chip ID: 2 (ESP32-S2)",
      "Minimal chip revision: v0.0, (legacy min_rev = 0)",
      "Maximal chip revision: v0.0",
      "",
      "Segments Information",
      "====================",
      "Segment   Length   Load addr   File offs  Memory types",
      "-------  -------  ----------  ----------  ------------",
      "      0  0x08c18  0x3f000020  0x00000018  DROM",
      "      1  0x0204c  0x3ffbde90  0x00008c38  BYTE_ACCESSIBLE, MEM_INTERNAL, DRAM",
      "      2  0x05384  0x40022000  0x0000ac8c  MEM_INTERNAL, IRAM",
      "      3  0x15ce8  0x40080020  0x00010018  IROM",
      "      4  0x06b0c  0x40027384  0x00025d08  MEM_INTERNAL, IRAM",
      "      5  0x00010  0x50000000  0x0002c81c  RTC_DATA",
      "",
      "ESP32-S2 Image Footer",
      "=====================",
      "Checksum: 0x18 (valid)",
      "Validation hash: 10f48f4a71a48cc4c917d70d13bf717b1bc7f3187b3d564b00192f7e381531b7 (valid)",
      "",
      "Application Information",
      "=======================",
      "Project name: blink",
      "App version: qa-test-v5.0-20220830-4-g4532e6",
      "Compile time: Sep 13 2022 19:46:07",
      "ELF file SHA256: 3059e6b55a965865febd28fa9f6028ad5cd0dab311febb0a3ea79eaa223ac2b0",
      "ESP-IDF: v5.0-beta1-427-g4532e6e0b2-dirt",
      "Minimal eFuse block revision: 0.0",
      "Maximal eFuse block revision: 0.0",
      "Secure version: 0",
    ]),
  );
});

Deno.test("image-info bootloader_esp32_v5_2.bin --chip esp32: chip given: no Detected line; Bootloader Information", () => {
  assertEquals(
    formatImageInfo(read("bootloader_esp32_v5_2.bin"), "esp32"),
    text([
      "Image size: 26768 bytes",
      "",
      "ESP32 Image Header",
      "==================",
      "Image version: 1",
      "Entry point: 0x40080650",
      "Segments: 4",
      "Flash size: 2MB",
      "Flash freq: 40m",
      "Flash mode: DOUT",
      "",
      "ESP32 Extended Image Header",
      "===========================",
      "WP pin: 0xee (disabled)",
      "Flash pins drive settings: clk_drv: 0x0, q_drv: 0x0, d_drv: 0x0, cs0_drv: 0x0, hd_drv: 0x0, wp_drv: 0x0",
      "Chip ID: 0 (ESP32)",
      "Minimal chip revision: v0.0, (legacy min_rev = 0)",
      "Maximal chip revision: v3.99",
      "",
      "Segments Information",
      "====================",
      "Segment   Length   Load addr   File offs  Memory types",
      "-------  -------  ----------  ----------  ------------",
      "      0  0x01bdc  0x3fff0030  0x00000018  BYTE_ACCESSIBLE, DRAM, DIRAM_DRAM",
      "      1  0x03d20  0x40078000  0x00001bfc  CACHE_APP",
      "      2  0x00004  0x40080400  0x00005924  IRAM",
      "      3  0x00f2c  0x40080404  0x00005930  IRAM",
      "",
      "ESP32 Image Footer",
      "==================",
      "Checksum: 0xbe (valid)",
      "Validation hash: 10cec8cf739f34fb0473993b3cb0e3bd78402d6a7cc5b1cb5e1add2b1105f8ac (valid)",
      "",
      "Bootloader Information",
      "======================",
      "Bootloader version: 1",
      "ESP-IDF: v5.2-dev-254-g1950b15",
      "Compile time: Apr 25 2023 00:13:32",
    ]),
  );
});

Deno.test("image-info bootloader_esp32c6.bin: ESP32-C6: frequency code 0xF is invalid for the C6", () => {
  assertEquals(
    formatImageInfo(read("bootloader_esp32c6.bin")),
    text([
      "Image size: 16352 bytes",
      "Detected image type: ESP32-C6",
      "",
      "ESP32-C6 Image Header",
      "=====================",
      "Image version: 1",
      "Entry point: 0x4086c672",
      "Segments: 3",
      "Flash size: 2MB",
      "Warning: Invalid flash frequency (0xf)",
      "Flash mode: DIO",
      "",
      "ESP32-C6 Extended Image Header",
      "==============================",
      "WP pin: 0xee (disabled)",
      "Flash pins drive settings: clk_drv: 0x0, q_drv: 0x0, d_drv: 0x0, cs0_drv: 0x0, hd_drv: 0x0, wp_drv: 0x0",
      "Chip ID: 13 (ESP32-C6)",
      "Minimal chip revision: v0.0, (legacy min_rev = 0)",
      "Maximal chip revision: v0.99",
      "",
      "Segments Information",
      "====================",
      "Segment   Length   Load addr   File offs  Memory types",
      "-------  -------  ----------  ----------  ------------",
      "      0  0x007a0  0x4086c610  0x00000018  DRAM, BYTE_ACCESSIBLE, IRAM",
      "      1  0x02104  0x4086e610  0x000007c0  DRAM, BYTE_ACCESSIBLE, IRAM",
      "      2  0x016e8  0x40875718  0x000028cc  DRAM, BYTE_ACCESSIBLE, IRAM",
      "",
      "ESP32-C6 Image Footer",
      "=====================",
      "Checksum: 0x70 (valid)",
      "Validation hash: dd92f0f77b343d1d866089e2744f1a8913a0ae787bb8a43f3f1c74e5aa58f0ef (valid)",
    ]),
  );
});

Deno.test("image-info esp32s3_header.bin --chip esp32c3: chip given that differs from the header: esptool warns and goes on", () => {
  assertEquals(
    formatImageInfo(read("esp32s3_header.bin"), "esp32c3"),
    text([
      "Image size: 48 bytes",
      "Warning: Unexpected chip ID in image. Expected 5 but value was 9. Is this image for a different chip model?",
      "",
      "ESP32-C3 Image Header",
      "=====================",
      "Image version: 1",
      "Entry point: 0xdeadbeef",
      "Segments: 1",
      "Flash size: 2MB",
      "Flash freq: 40m",
      "Flash mode: DIO",
      "",
      "ESP32-C3 Extended Image Header",
      "==============================",
      "WP pin: 0x0",
      "Flash pins drive settings: clk_drv: 0x0, q_drv: 0x0, d_drv: 0x0, cs0_drv: 0x0, hd_drv: 0x0, wp_drv: 0x0",
      "Chip ID: 9 (ESP32-S3)",
      "Minimal chip revision: v0.0, (legacy min_rev = 10)",
      "Maximal chip revision: v0.0",
      "",
      "Segments Information",
      "====================",
      "Segment   Length   Load addr   File offs  Memory types",
      "-------  -------  ----------  ----------  ------------",
      "      0  0x00000  0xdeadbeef  0x00000018  ",
      "",
      "ESP32-C3 Image Footer",
      "=====================",
      "Checksum: 0xef (valid)",
    ]),
  );
});

Deno.test("image-info esp32c3_header_min_rev.bin: no memory type for 0xdeadbeef, revisions v2.55 and v655.35", () => {
  assertEquals(
    formatImageInfo(read("esp32c3_header_min_rev.bin")),
    text([
      "Image size: 48 bytes",
      "Detected image type: ESP32-C3",
      "",
      "ESP32-C3 Image Header",
      "=====================",
      "Image version: 1",
      "Entry point: 0xdeadbeef",
      "Segments: 1",
      "Flash size: 2MB",
      "Flash freq: 40m",
      "Flash mode: DIO",
      "",
      "ESP32-C3 Extended Image Header",
      "==============================",
      "WP pin: 0x0",
      "Flash pins drive settings: clk_drv: 0x0, q_drv: 0x0, d_drv: 0x0, cs0_drv: 0x0, hd_drv: 0x0, wp_drv: 0x0",
      "Chip ID: 5 (ESP32-C3)",
      "Minimal chip revision: v2.55, (legacy min_rev = 0)",
      "Maximal chip revision: v655.35",
      "",
      "Segments Information",
      "====================",
      "Segment   Length   Load addr   File offs  Memory types",
      "-------  -------  ----------  ----------  ------------",
      "      0  0x00000  0xdeadbeef  0x00000018  ",
      "",
      "ESP32-C3 Image Footer",
      "=====================",
      "Checksum: 0xef (valid)",
    ]),
  );
});

Deno.test("image-info ram_helloworld/helloworld-esp32c61.bin: a chip outside espdelta's table", () => {
  assertEquals(
    formatImageInfo(read("ram_helloworld/helloworld-esp32c61.bin")),
    text([
      "Image size: 128 bytes",
      "Detected image type: ESP32-C61",
      "",
      "ESP32-C61 Image Header",
      "======================",
      "Image version: 1",
      "Entry point: 0x40830000",
      "Segments: 2",
      "Flash size: 1MB",
      "Flash freq: 40m",
      "Flash mode: QIO",
      "",
      "ESP32-C61 Extended Image Header",
      "===============================",
      "WP pin: 0xee (disabled)",
      "Flash pins drive settings: clk_drv: 0x0, q_drv: 0x0, d_drv: 0x0, cs0_drv: 0x0, hd_drv: 0x0, wp_drv: 0x0",
      "Chip ID: 20 (ESP32-C61)",
      "Minimal chip revision: v0.0, (legacy min_rev = 0)",
      "Maximal chip revision: v655.35",
      "",
      "Segments Information",
      "====================",
      "Segment   Length   Load addr   File offs  Memory types",
      "-------  -------  ----------  ----------  ------------",
      "      0  0x00018  0x40830000  0x00000018  DRAM, BYTE_ACCESSIBLE, IRAM",
      "      1  0x00010  0x40830100  0x00000038  DRAM, BYTE_ACCESSIBLE, IRAM",
      "",
      "ESP32-C61 Image Footer",
      "======================",
      "Checksum: 0x39 (valid)",
      "Validation hash: 65fc70d592486e46bedb7d24b43c6b90c7950712b3fc91ce47c14aed2d09b000 (valid)",
    ]),
  );
});

/** An ESP32-C3 app with every extended-header field set and an app descriptor. */
function synthetic(): Uint8Array {
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
    mmuPageSizeLog2: 15,
  });
  const drom = new Uint8Array(0x120);
  drom.set(desc);
  return writeImage({
    chip: "esp32c3",
    flashMode: "dout",
    flashSize: "16MB",
    flashFreq: "80m",
    entry: 0x80,
    wpPin: 7,
    drive: { clk: 1, q: 2, d: 3, cs: 4, hd: 5, wp: 15 },
    minRev: 3,
    minRevFull: 101,
    maxRevFull: 199,
    segments: [
      { loadAddress: 0x3c000020, data: drom },
      { loadAddress: 0x3fc80000, data: new Uint8Array(0x40).fill(1) },
      { loadAddress: 0, data: new Uint8Array(0x10) },
      { loadAddress: 0x12345678, data: new Uint8Array(4) },
    ],
  });
}

Deno.test("image-info of a damaged image: invalid header codes, checksum and hash", () => {
  const bad = synthetic().slice();
  bad[0x150] ^= 0x10; // segment data: checksum and digest break
  bad[bad.length - 1] ^= 1; // stored digest
  bad[2] = 9; // no such flash mode
  bad[3] = 0x9e; // no such size or frequency on the C3
  assertEquals(
    formatImageInfo(bad),
    text([
      "Image size: 464 bytes",
      "Detected image type: ESP32-C3",
      "",
      "ESP32-C3 Image Header",
      "=====================",
      "Image version: 1",
      "Entry point:     0x80",
      "Segments: 4",
      "Warning: Invalid flash size (0x90)",
      "Warning: Invalid flash frequency (0xe)",
      "Warning: Invalid flash mode (9)",
      "",
      "ESP32-C3 Extended Image Header",
      "==============================",
      "WP pin: 0x7",
      "Flash pins drive settings: clk_drv: 0x1, q_drv: 0x2, d_drv: 0x3, cs0_drv: 0x4, hd_drv: 0x5, wp_drv: 0xf",
      "Chip ID: 5 (ESP32-C3)",
      "Minimal chip revision: v1.1, (legacy min_rev = 3)",
      "Maximal chip revision: v1.99",
      "",
      "Segments Information",
      "====================",
      "Segment   Length   Load addr   File offs  Memory types",
      "-------  -------  ----------  ----------  ------------",
      "      0  0x00120  0x3c000020  0x00000018  DROM",
      "      1  0x00040  0x3fc80000  0x00000140  DRAM",
      "      2  0x00010  0x00000000  0x00000188  PADDING",
      "      3  0x00004  0x12345678  0x000001a0  ",
      "",
      "ESP32-C3 Image Footer",
      "=====================",
      "Checksum: 0x1d (invalid - calculated 0x0d)",
      "Validation hash: f5f7aa811fa40c1eddc7ce92f72affe27328035fad68b4e24e9ede596b0c2ab6 (invalid)",
      "",
      "Application Information",
      "=======================",
      "Project name: demo",
      "App version: 1.2.3",
      "Compile time: Jan  1 2025 12:00:00",
      "ELF file SHA256: abababababababababababababababababababababababababababababababab",
      "ESP-IDF: v5.4",
      "Minimal eFuse block revision: 0.1",
      "Maximal eFuse block revision: 1.99",
      "MMU page size: 32 KB",
      "Secure version: 3",
    ]),
  );
});

Deno.test("image-info of an ESP8266 v2 image with header disagreements", () => {
  const v2 = writeImage({
    chip: "esp8266",
    format: "esp8266-v2",
    flashMode: "qio",
    flashSize: "4MB",
    flashFreq: "80m",
    entry: 0x40100004,
    irom: new Uint8Array(40).fill(3),
    segments: [
      { loadAddress: 0x40100000, data: new Uint8Array(8).fill(1) },
      { loadAddress: 0x3ffe8000, data: new Uint8Array(4).fill(7) },
    ],
  });
  v2[1] = 5;
  v2[3] = 0x20;
  assertEquals(
    formatImageInfo(v2),
    text([
      "Image size: 116 bytes",
      "Detected image type: ESP8266",
      'Warning: V2 header has unexpected "segment" count 5 (usually 4)',
      "Warning: Flash size/freq value in first header (0x20) disagrees with second (0x4f). Using second value.",
      "",
      "ESP8266 Image Header",
      "====================",
      "Image version: 2",
      "Entry point: 0x40100004",
      "Segments: 3",
      "Flash size: 4MB",
      "Flash freq: 80m",
      "Flash mode: QIO",
      "",
      "Segments Information",
      "====================",
      "Segment   Length   Load addr   File offs  Memory types",
      "-------  -------  ----------  ----------  ------------",
      "      0  0x00030  0x00000000  0x00000008  ",
      "      1  0x00008  0x40100000  0x00000048  IRAM",
      "      2  0x00004  0x3ffe8000  0x00000058  DRAM",
      "",
      "ESP8266 Image Footer",
      "====================",
      "Checksum: 0xef (valid)",
    ]),
  );
});

Deno.test("image-info: entry point 0 and the H2's own frequency names", () => {
  const h2 = writeImage({
    chip: "esp32h2",
    flashFreq: "48m",
    hashAppended: false,
    segments: [{ loadAddress: 0x40800000, data: new Uint8Array(4) }],
  });
  const lines = formatImageInfo(h2).split("\n");
  assertEquals(lines.slice(5, 11), [
    "Image version: 1",
    "Entry point not set",
    "Segments: 1",
    "Flash size: 4MB",
    "Flash freq: 48m",
    "Flash mode: DIO",
  ]);
  assertEquals(
    lines[lines.indexOf("Segments Information") + 4],
    "      0  0x00004  0x40800000  0x00000018  DRAM, BYTE_ACCESSIBLE, IRAM",
  );
  assertEquals(lines.at(-2), "Checksum: 0xef (valid)");
});

Deno.test("image-info errors use esptool's wording for what is not an image", () => {
  const e1 = assertThrows(() => formatImageInfo(read("partitions_singleapp.bin")), ImageError);
  assertEquals([e1.code, e1.message], [
    "BAD_MAGIC",
    "This is not a valid image (invalid magic number: 0xaa).",
  ]);
  const e2 = assertThrows(() => formatImageInfo(new Uint8Array(0)), ImageError);
  assertEquals([e2.code, e2.message], ["EMPTY", "Image is empty."]);
  const e3 = assertThrows(
    () => formatImageInfo(read("bootloader_esp8266.bin"), "esp32"),
    ImageError,
  );
  assertEquals(e3.code, "BAD_HEADER");
  const e4 = assertThrows(() => formatImageInfo(read("bootloader_esp32.bin"), "esp99"), ImageError);
  assertEquals([e4.code, e4.message], ["UNKNOWN_CHIP", 'unknown chip "esp99"']);
});

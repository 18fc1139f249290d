import { createHash } from "node:crypto";
import { assertEquals, assertThrows } from "../assert.ts";
import { ImageError } from "../../src/image/errors.ts";
import { mergeBin } from "../../src/image/merge.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url);
const read = (name: string) => Deno.readFileSync(new URL(name, FW));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

Deno.test("merge-bin: parts at their offsets, 0xFF between, nothing patched with keep", () => {
  const boot = read("bootloader_esp32.bin");
  const table = read("partitions_singleapp.bin");
  const app = read("hello-world-signed_esp32.bin");
  const { bytes, targetOffset, patches } = mergeBin([
    { offset: 0x10000, data: app, name: "app.bin" },
    { offset: 0x1000, data: boot },
    { offset: 0x8000, data: table },
  ], { chip: "esp32" });
  assertEquals(targetOffset, 0);
  assertEquals(bytes.length, 0x10000 + app.length);
  assertEquals(bytes.subarray(0, 0x1000).every((b) => b === 0xff), true);
  assertEquals(bytes.subarray(0x1000, 0x1000 + boot.length), boot);
  assertEquals(bytes.subarray(0x1000 + boot.length, 0x8000).every((b) => b === 0xff), true);
  assertEquals(bytes.subarray(0x8000, 0x8000 + table.length), table);
  assertEquals(bytes.subarray(0x10000), app);
  assertEquals(patches.map((p) => [p.offset, p.result.reason]), [
    [0x1000, "all-keep"],
    [0x8000, "not-bootloader-offset"],
    [0x10000, "not-bootloader-offset"],
  ]);
  // esptool v5.3.1 merge_bin of the same three files.
  assertEquals(sha(bytes), "fb5bbab05bcaa45e6187f51fc79b7e5559ec12e83fee3eded001e9a95f1dc49a");
});

Deno.test("merge-bin: bootloader header patched, padded to the flash size (esptool's bytes)", () => {
  const r = mergeBin([
    { offset: 0x1000, data: read("bootloader_esp32_v5_2.bin") },
    { offset: 0x8000, data: read("partitions_singleapp.bin") },
    { offset: 0x10000, data: read("hello-world-signed_esp32.bin") },
  ], { chip: "esp32", flashMode: "dio", flashFreq: "80m", flashSize: "4MB", fillFlashSize: "4MB" });
  assertEquals(r.bytes.length, 4 << 20);
  assertEquals([r.bytes[0x1002], r.bytes[0x1003]], [0x02, 0x2f]);
  assertEquals(r.patches.map((p) => p.result.reason), [
    "patched",
    "not-bootloader-offset",
    "not-bootloader-offset",
  ]);
  assertEquals(r.bytes.subarray(0x10000 + 196608).every((b) => b === 0xff), true);
  assertEquals(sha(r.bytes), "23996bbe14e0f7fe02c72b6d8fbd7a6e9dc8bbd7a3aa2cd6e00e35d662d972d1");
});

Deno.test("merge-bin: target offset shifts the output; a bootloader elsewhere is left alone", () => {
  const table = read("partitions_singleapp.bin");
  const boot = read("bootloader_esp32c3.bin");
  const r = mergeBin([
    { offset: 0x10000, data: boot },
    { offset: 0x8000, data: table },
  ], { chip: "esp32c3", flashMode: "qio", flashSize: "8MB", targetOffset: 0x8000 });
  assertEquals(r.targetOffset, 0x8000);
  assertEquals(r.bytes.length, 0x8000 + boot.length);
  assertEquals(r.bytes.subarray(0, table.length), table);
  assertEquals(r.bytes.subarray(0x8000), boot);
  assertEquals(sha(r.bytes), "2aeda82b8006062e80e48352993848b20b05f0417640b1f2af441ae9b1af0ced");

  const s2 = mergeBin([
    { offset: 0x1000, data: read("bootloader_esp32s2.bin") },
    { offset: 0x10000, data: read("esp_idf_blink_esp32s2.bin") },
  ], {
    chip: "esp32s2",
    flashMode: "dout",
    flashFreq: "20m",
    flashSize: "2MB",
    fillFlashSize: 256 * 1024, // smaller than the data: no padding
    targetOffset: 0x1000,
  });
  assertEquals(sha(s2.bytes), "f3715240a232992e451ca853ae87ae6973adf3b278f64aed22f6d736d12ae5cf");
});

Deno.test("merge-bin errors: overlap by sector, input before the target offset, no input", () => {
  const e1 = assertThrows(
    () =>
      mergeBin([
        { offset: 0x0, data: new Uint8Array(0x10), name: "a.bin" },
        { offset: 0x800, data: new Uint8Array(0x10), name: "b.bin" },
      ]),
    ImageError,
  );
  assertEquals([e1.code, e1.message], [
    "OVERLAP",
    "Detected overlap at address: 0x800 for file: b.bin.",
  ]);
  // Ending exactly on a sector boundary is fine.
  assertEquals(
    mergeBin([{ offset: 0x0, data: new Uint8Array(0x1000) }, {
      offset: 0x1000,
      data: new Uint8Array(1),
    }])
      .bytes.length,
    0x1001,
  );
  const e2 = assertThrows(
    () => mergeBin([{ offset: 0x1000, data: new Uint8Array(4) }], { targetOffset: 0x2000 }),
    ImageError,
  );
  assertEquals([e2.code, e2.message], [
    "BAD_OFFSET",
    "Output data target offset is 0x2000. Input data offset 0x1000 is before this.",
  ]);
  const e3 = assertThrows(() => mergeBin([]), ImageError);
  assertEquals([e3.code, e3.message], ["BAD_ARGUMENT", "No input data."]);
  const e4 = assertThrows(
    () => mergeBin([{ offset: 0, data: new Uint8Array(4) }], { flashMode: "dio" }),
    ImageError,
  );
  assertEquals(e4.message, "flash settings need a chip to find the bootloader");
  const e5 = assertThrows(
    () => mergeBin([{ offset: 0, data: new Uint8Array(4) }], { fillFlashSize: "4 megs" }),
    ImageError,
  );
  assertEquals(e5.message, 'bad fill flash size "4 megs"');
});

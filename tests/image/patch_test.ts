import { createHash } from "node:crypto";
import { assertEquals, assertThrows } from "../assert.ts";
import { parseImage, writeImage } from "../../src/image/app.ts";
import { ImageError } from "../../src/image/errors.ts";
import { headerFlashParams, patchFlashParams } from "../../src/image/patch.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url);
const read = (name: string) => Deno.readFileSync(new URL(name, FW));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

// SHA-256 of esptool v5.3.1's _update_image_flash_params output for the same inputs.
const ESPTOOL = {
  c3_dio_80m_4MB: "6762a82f98b48e30842c687d78bebe983d6996206fd285ff151f6f1022604b70",
  esp32_qio_80m_4MB: "38521ead2a83af73a0f61532d0a1d340e657470cfe523b57334b2b7724763aae",
  v52_dout_26m_16MB: "15606dfd6e6964f9e55f9eed9699ae530fb1a75bb3d9063a0db54430f8f09209",
  c6_80m: "b95ae4018730d322f7a1cd42078055dae5059890efd8b3a966477e05a97f6806",
  esp8266_dout_40m_1MB: "1f5b9a75a38ca392fcd906058e44aae9d759c720eea3bd4fd6ad64a6fedce8da",
  s2_128MB: "c7af6003476d2a2aa90c21e753cf622d868cf050839e399ee33d1b16a0193197",
};

Deno.test("patch at the bootloader offset: header bytes rewritten and the digest recomputed", () => {
  const boot = read("bootloader_esp32c3.bin");
  const r = patchFlashParams(boot, 0x0, "esp32c3", { mode: "dio", freq: "80m", size: "4MB" });
  assertEquals(r.reason, "patched");
  assertEquals(r.changed, true);
  assertEquals(r.flashParams, "0x022f");
  assertEquals(r.digestUpdated, true);
  assertEquals(r.message, "Flash parameters set to 0x022f. SHA digest in image updated.");
  assertEquals([r.bytes[2], r.bytes[3]], [0x02, 0x2f]);
  // Only bytes 3 and the 32 digest bytes differ; the result is a valid image again.
  const diff = [...r.bytes.keys()].filter((i) => r.bytes[i] !== boot[i]);
  assertEquals(diff[0], 3);
  assertEquals(diff.every((i) => i === 3 || i >= boot.length - 32), true);
  assertEquals(parseImage(r.bytes).sha256?.valid, true);
  assertEquals(sha(r.bytes), ESPTOOL.c3_dio_80m_4MB);
  assertEquals(headerFlashParams(r.bytes, "esp32c3"), { mode: "dio", freq: "80m", size: "4MB" });
  // The input is not modified.
  assertEquals(boot[3], 0x10);
});

Deno.test("patch matches esptool on real bootloaders of several chips", () => {
  const cases: [string, number, Parameters<typeof patchFlashParams>[2], object, string, string][] =
    [
      [
        "bootloader_esp32.bin",
        0x1000,
        "esp32",
        { mode: "qio", freq: "80m", size: "4MB" },
        "0x002f",
        ESPTOOL.esp32_qio_80m_4MB,
      ],
      [
        "bootloader_esp32_v5_2.bin",
        0x1000,
        "esp32",
        { mode: "dout", freq: "26m", size: "16MB" },
        "0x0341",
        ESPTOOL.v52_dout_26m_16MB,
      ],
      // The C6 writes "80m" as code 0 (ROM divider workaround).
      ["bootloader_esp32c6.bin", 0x0, "esp32c6", { freq: "80m" }, "0x0210", ESPTOOL.c6_80m],
      [
        "bootloader_esp8266.bin",
        0x0,
        "esp8266",
        { mode: "dout", freq: "40m", size: "1MB" },
        "0x0320",
        ESPTOOL.esp8266_dout_40m_1MB,
      ],
      ["bootloader_esp32s2.bin", 0x1000, "esp32s2", { size: "128MB" }, "0x027f", ESPTOOL.s2_128MB],
    ];
  for (const [file, offset, chip, params, flashParams, digest] of cases) {
    const r = patchFlashParams(read(file), offset, chip, params);
    assertEquals([r.reason, r.flashParams, sha(r.bytes)], ["patched", flashParams, digest], file);
  }
  // ESP8266 v1 has no digest: only the header changes.
  const r = patchFlashParams(read("bootloader_esp8266.bin"), 0, "esp8266", { size: "4MB-c1" });
  assertEquals([r.bytes[3], r.digestUpdated], [0x60, false]);
});

Deno.test("no patch away from the bootloader offset, with all keep, or with security on", () => {
  const boot = read("bootloader_esp32c3.bin");
  const all = { mode: "qio", freq: "80m", size: "4MB" };
  const cases: [number, object, object, string, string][] = [
    [0x1000, all, {}, "not-bootloader-offset", "not at the ESP32-C3 bootloader offset 0x0"],
    [0x0, {}, {}, "all-keep", "all flash settings are keep"],
    [
      0x0,
      { mode: "keep", freq: "keep", size: "keep" },
      {},
      "all-keep",
      "all flash settings are keep",
    ],
    [
      0x0,
      all,
      { securityEnabled: true },
      "security-enabled",
      "Security features enabled, so not changing any flash settings.",
    ],
  ];
  for (const [offset, params, options, reason, message] of cases) {
    const r = patchFlashParams(boot, offset, "esp32c3", params, options);
    assertEquals([r.reason, r.message, r.changed, r.bytes === boot], [
      reason,
      message,
      false,
      true,
    ]);
  }
  // ESP32 and ESP32-S2 keep their bootloader at 0x1000, P4 and C5 at 0x2000.
  assertEquals(
    patchFlashParams(read("bootloader_esp32.bin"), 0x0, "esp32", all).reason,
    "not-bootloader-offset",
  );
  const p4 = read("ram_helloworld/helloworld-esp32p4.bin");
  assertEquals(patchFlashParams(p4, 0x2000, "esp32p4", { mode: "dio" }).bytes[2], 2);
});

Deno.test("no patch for data that is not a valid image for the chip", () => {
  const all = { mode: "dio" };
  const notImage = new Uint8Array(64).fill(0xaa);
  const r1 = patchFlashParams(notImage, 0, "esp32c3", all);
  assertEquals([r1.reason, r1.message], [
    "not-an-image",
    "Image file at 0x0 doesn't look like an image file, so not changing any flash settings.",
  ]);
  const r2 = patchFlashParams(read("bootloader_esp32c3.bin").subarray(0, 100), 0, "esp32c3", all);
  assertEquals([r2.reason, r2.message], [
    "invalid-image",
    "Image file at 0x0 is not a valid ESP32-C3 image, so not changing any flash settings.",
  ]);
  // An encrypted-looking blob that happens to start with 0xE9.
  const blob = new Uint8Array(64).fill(0x5c);
  blob[0] = 0xe9;
  assertEquals(patchFlashParams(blob, 0, "esp32c3", all).reason, "invalid-image");
  // 17 segments: esptool's verify() refuses it.
  const many = writeImage({
    chip: "esp32c3",
    segments: Array.from(
      { length: 17 },
      () => ({ loadAddress: 0x3fc80000, data: new Uint8Array(4) }),
    ),
  });
  assertEquals(patchFlashParams(many, 0, "esp32c3", all).reason, "invalid-image");
  assertEquals(
    patchFlashParams(new Uint8Array([0xe9, 0, 0]), 0, "esp32c3", all).reason,
    "too-short",
  );
});

Deno.test("an image for another chip is still patched, as esptool does (write-flash refuses it earlier)", () => {
  const r = patchFlashParams(read("bootloader_esp32c3.bin"), 0x0, "esp32s3", {
    mode: "qio",
    freq: "80m",
    size: "4MB",
  });
  assertEquals([r.reason, r.flashParams], ["patched", "0x002f"]);
  assertEquals(sha(r.bytes), "6488d17402fec4629fc7a866ec84ddeef749c15c7ef5c5b63fa641746e039954");
});

Deno.test("digest: recomputed even when the header already matches, data after it kept", () => {
  const boot = read("bootloader_esp32c3.bin");
  // Header already DIO/2MB/40m and the digest is right: nothing to do.
  const same = patchFlashParams(boot, 0, "esp32c3", { mode: "dio", size: "2MB" });
  assertEquals([same.reason, same.changed, same.bytes === boot], ["unchanged", false, true]);

  // A wrong digest is replaced, as esptool does whenever byte 23 is 1.
  const bad = boot.slice();
  bad[bad.length - 1] ^= 1;
  const fixed = patchFlashParams(bad, 0, "esp32c3", { size: "2MB" });
  assertEquals([fixed.reason, fixed.message, fixed.flashParams], [
    "patched",
    "SHA digest in image updated.",
    undefined,
  ]);
  assertEquals(fixed.bytes, boot);

  // A digest cut short is completed.
  const short = patchFlashParams(boot.subarray(0, boot.length - 10), 0, "esp32c3", { freq: "40m" });
  assertEquals(short.bytes, boot);

  // Merged binary: everything after the digest is kept byte for byte.
  const tail = new Uint8Array(104).fill(0xff);
  tail.set(new TextEncoder().encode("TAIL"), 100);
  const merged = new Uint8Array(boot.length + tail.length);
  merged.set(boot);
  merged.set(tail, boot.length);
  const r = patchFlashParams(merged, 0, "esp32c3", { mode: "qout", freq: "20m", size: "8MB" });
  assertEquals(r.bytes.length, merged.length);
  assertEquals(r.bytes.subarray(boot.length), tail);
  assertEquals(parseImage(r.bytes.subarray(0, boot.length)).sha256?.valid, true);
  assertEquals(sha(r.bytes), "a9d7e982faeb49b6cbc7b43bbc819f81b2503212bebd7c9a91bc8e9d0bcf69b8");
  assertEquals([r.bytes[2], r.bytes[3]], [1, 0x32]);

  // hash_appended = 0: no digest to fix.
  const plain = read("bootloader_esp32.bin");
  const p = patchFlashParams(plain, 0x1000, "esp32", { mode: "qio" });
  assertEquals([p.digestUpdated, p.bytes.length], [false, plain.length]);
});

Deno.test("detect uses the device's size, falls back to 4MB, and must be given", () => {
  const boot = read("bootloader_esp32c3.bin");
  const d8 = patchFlashParams(boot, 0, "esp32c3", { size: "detect" }, {
    detectedFlashSize: 8 << 20,
  });
  assertEquals(d8.bytes[3], 0x30);
  const none = patchFlashParams(boot, 0, "esp32c3", { size: "detect" }, {
    detectedFlashSize: null,
  });
  assertEquals(none.bytes[3], 0x20);
  const e = assertThrows(
    () => patchFlashParams(boot, 0, "esp32c3", { size: "detect" }),
    ImageError,
  );
  assertEquals([e.code, e.message], [
    "DETECT_NEEDED",
    'flash size "detect" needs the size detected on the device; pass detectedFlashSize',
  ]);
  const big = assertThrows(
    () =>
      patchFlashParams(boot, 0, "esp32c3", { size: "detect" }, { detectedFlashSize: 256 << 20 }),
    ImageError,
  );
  assertEquals([big.code, big.message], [
    "BAD_ARGUMENT",
    "flash size 256MB is not supported by ESP32-C3 (supported: 1MB, 2MB, 4MB, 8MB, 16MB, 32MB, 64MB, 128MB)",
  ]);
  // ESP8266 sizes in KB.
  const e8266 = patchFlashParams(read("bootloader_esp8266.bin"), 0, "esp8266", { size: "detect" }, {
    detectedFlashSize: 256 * 1024,
  });
  assertEquals(e8266.bytes[3], 0x10);
});

Deno.test("unsupported settings are errors, but only when a patch is attempted", () => {
  const boot = read("bootloader_esp32c3.bin");
  const e1 = assertThrows(() => patchFlashParams(boot, 0, "esp32c3", { freq: "48m" }), ImageError);
  assertEquals([e1.code, e1.message], [
    "BAD_ARGUMENT",
    "flash frequency 48m is not supported by ESP32-C3 (supported: 80m, 40m, 26m, 20m)",
  ]);
  const e2 = assertThrows(() => patchFlashParams(boot, 0, "esp32c3", { mode: "quad" }), ImageError);
  assertEquals(e2.message, "flash mode quad is not one of qio, qout, dio, dout");
  const e3 = assertThrows(
    () => patchFlashParams(boot, 0, "esp32c3", { size: "2MB-c1" }),
    ImageError,
  );
  assertEquals(e3.code, "BAD_ARGUMENT");
  // Not at the bootloader offset: the bad value is never looked at.
  assertEquals(
    patchFlashParams(boot, 0x10000, "esp32c3", { freq: "48m" }).reason,
    "not-bootloader-offset",
  );
});

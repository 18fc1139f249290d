/**
 * The flash-encryption engine against vectors it did not make: IEEE 1619's
 * published XTS-AES vectors, espsecure's published ciphertexts (esptool's
 * test/secure_images, testdata/secure), and the reference computations of
 * cipher_ref.ts at other addresses, keys and FLASH_CRYPT_CONFIG values.
 */
import { assertEquals, assertThrows } from "../assert.ts";
import { FlashCrypt } from "../../src/emulator/crypt.ts";
import { esp32Aes, espXts, xtsAes } from "./cipher_ref.ts";
import { randomBytes } from "../rand.ts";
import { hexOf } from "./raw.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!, (h) => parseInt(h, 16));
const plainHex = (b: Uint8Array) => hexOf(b).replaceAll(" ", "");
const secure = (name: string) =>
  new Uint8Array(Deno.readFileSync(new URL(`../../testdata/secure/${name}`, import.meta.url)));
const helloWorld = () =>
  new Uint8Array(
    Deno.readFileSync(
      new URL("../../testdata/firmware/hello-world-signed_esp32.bin", import.meta.url),
    ),
  );

Deno.test("reference XTS-AES reproduces IEEE 1619-2007 vectors 1-3", () => {
  const dusn = (n: number) => {
    const t = new Uint8Array(16);
    new DataView(t.buffer).setBigUint64(0, BigInt(n), true);
    return t;
  };
  assertEquals(
    plainHex(xtsAes(new Uint8Array(16), new Uint8Array(16), dusn(0), new Uint8Array(32))),
    "917cf69ebd68b2ec9b9fe9a3eadda692cd43d2f59598ed858c02c2652fbf922e",
  );
  const p = new Uint8Array(32).fill(0x44);
  const k2 = new Uint8Array(16).fill(0x22);
  assertEquals(
    plainHex(xtsAes(new Uint8Array(16).fill(0x11), k2, dusn(0x3333333333), p)),
    "c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0",
  );
  assertEquals(
    plainHex(xtsAes(hex("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0"), k2, dusn(0x3333333333), p)),
    "af85336b597afc1a900b2eb21ec949d292df4c047e0b21532186a5971a227a89",
  );
});

Deno.test("espsecure's published ciphertexts: ESP32 (FLASH_CRYPT_CONFIG 0, 3, 9, C, F) and XTS-AES", () => {
  const boot = secure("bootloader.bin");
  const key256 = secure("256bit_key.bin");
  for (
    const [conf, file] of [
      [0xf, "bootloader-encrypted.bin"],
      [0x0, "bootloader-encrypted-conf0.bin"],
      [0x3, "bootloader-encrypted-conf3.bin"],
      [0x9, "bootloader-encrypted-conf9.bin"],
      [0xc, "bootloader-encrypted-confc.bin"],
    ] as const
  ) {
    const expected = secure(file);
    assertEquals(new FlashCrypt("esp32-aes", key256, conf).apply(0x1000, boot), expected, file);
    assertEquals(esp32Aes(key256, 0x1000, boot, conf), expected, `reference ${file}`);
  }
  const xts = secure("bootloader-encrypted-aes-xts.bin");
  assertEquals(new FlashCrypt("xts-aes", key256).apply(0x1000, boot), xts);
  assertEquals(espXts(key256, 0x1000, boot), xts);
  // The signed hello-world app (its first 16 KiB) at 0x20000 and 0x10000.
  const app = helloWorld().subarray(0, 0x4000);
  const ef = secure("ef-flashencryption-key.bin");
  assertEquals(
    new FlashCrypt("esp32-aes", ef).apply(0x20000, app),
    secure("hello-world-signed-encrypted-16k.bin"),
  );
  assertEquals(
    new FlashCrypt("xts-aes", ef).apply(0x20000, app),
    secure("hello-world-signed-encrypted-aes-xts-16k.bin"),
  );
  assertEquals(
    new FlashCrypt("xts-aes", secure("512bit_key.bin")).apply(0x10000, app),
    secure("hello-world-signed-encrypted-aes-xts-256-16k.bin"),
  );
});

Deno.test("engine equals the references at other addresses, lengths, keys and configs", () => {
  for (let trial = 0; trial < 24; trial++) {
    const addr = (trial * 0x1230 + 0x40 * (trial % 5)) & ~0xf;
    const plain = randomBytes(16 * (1 + ((trial * 7) % 40)), trial);
    const key32 = randomBytes(32, 100 + trial);
    const key64 = randomBytes(64, 200 + trial);
    const key16 = randomBytes(16, 300 + trial);
    const conf = trial % 16;
    assertEquals(
      new FlashCrypt("esp32-aes", key32, conf).apply(addr, plain),
      esp32Aes(key32, addr, plain, conf),
    );
    assertEquals(new FlashCrypt("xts-aes", key32).apply(addr, plain), espXts(key32, addr, plain));
    assertEquals(new FlashCrypt("xts-aes", key64).apply(addr, plain), espXts(key64, addr, plain));
    assertEquals(new FlashCrypt("xts-aes", key16).apply(addr, plain), espXts(key16, addr, plain));
    // A write of part of a data unit gives the same bytes as the whole unit.
    const whole = new FlashCrypt("xts-aes", key32).apply(addr, plain);
    assertEquals(
      new FlashCrypt("xts-aes", key32).apply(addr + 16, plain.subarray(16)),
      whole.subarray(16),
    );
    for (const c of [new FlashCrypt("esp32-aes", key32, conf), new FlashCrypt("xts-aes", key64)]) {
      assertEquals(c.decrypt(addr, c.apply(addr, plain)), plain);
    }
  }
});

Deno.test("engine: misaligned data and wrong key sizes are refused", () => {
  const x = new FlashCrypt("xts-aes", new Uint8Array(32));
  assertEquals(
    assertThrows(() => x.apply(0x1008, new Uint8Array(16)), RangeError).message,
    "encrypted flash access must be 16-byte aligned: 16 bytes at 0x1008",
  );
  assertThrows(() => x.apply(0x1000, new Uint8Array(20)), RangeError);
  assertEquals(
    assertThrows(() => new FlashCrypt("esp32-aes", new Uint8Array(16)), RangeError).message,
    "an ESP32 flash encryption key is 32 bytes (or 24), got 16",
  );
  assertEquals(
    assertThrows(() => new FlashCrypt("xts-aes", new Uint8Array(48)), RangeError).message,
    "an XTS-AES flash encryption key is 32 or 64 bytes (or 16), got 48",
  );
  assertThrows(() => new FlashCrypt("esp32-aes", new Uint8Array(32), 16), RangeError);
  // A 3/4-coded (24-byte) ESP32 key is extended as the hardware does: bytes 8..15 repeated.
  const k24 = randomBytes(24, 9);
  const k32 = new Uint8Array(32);
  k32.set(k24);
  k32.set(k24.subarray(8, 16), 24);
  const p = randomBytes(64, 10);
  assertEquals(new FlashCrypt("esp32-aes", k24).apply(0x3000, p), esp32Aes(k32, 0x3000, p));
});

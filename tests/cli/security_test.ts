/**
 * Security state on the delta path: a device with flash encryption on is
 * refused (its MD5s are of ciphertext) unless --encrypt asks for a whole,
 * encrypted write; a device in Secure Download Mode gets only the commands
 * that mode allows. Key material is never printed.
 */
import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { esp32Aes, espXts } from "../emulator/cipher_ref.ts";
import { espdelta } from "./run.ts";
import { checkEvents } from "./schema.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url).pathname;
const KEY = new Uint8Array(32).map((_, i) => 0x3c ^ (i * 29));
const hexKey = Array.from(KEY, (b) => b.toString(16).padStart(2, "0")).join("");

async function serve(device: VirtualDevice) {
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  return { url: `socket://127.0.0.1:${server.port}`, close: () => server.close() };
}

for (const chip of ["esp32", "esp32c3"] as const) {
  Deno.test(`${chip} with flash encryption on: delta refused, --encrypt writes ciphertext`, async () => {
    const device = new VirtualDevice({ chip, flashCryptCnt: 1, flashEncryptionKey: KEY });
    const s = await serve(device);
    const boot = `${FW}bootloader_${chip}.bin`;
    const at = chip === "esp32" ? 0x1000 : 0x0;
    try {
      const refused = await espdelta([
        "-b",
        "460800",
        "-p",
        s.url,
        "flash",
        `0x${at.toString(16)}`,
        boot,
      ]);
      assertEquals(refused.code, 2);
      assertEquals(
        refused.stderr,
        "error: flash encryption is on (FLASH_CRYPT_CNT 0x1): the device's MD5s are of encrypted " +
          "flash and cannot be compared with plaintext images; pass --encrypt to write every " +
          "region whole through the chip's encryption engine (unverified)\n",
      );
      assertEquals(
        refused.stdout.split("\n")[1],
        "Security: flash encryption on (FLASH_CRYPT_CNT 0x1)",
      );
      assertEquals(device.flash.touchedSectors(), []);
      assertEquals(device.commandCounts()["SPI_FLASH_MD5"], undefined);

      const r = await espdelta([
        "--trace",
        "--json",
        "-b",
        "460800",
        "-p",
        s.url,
        "flash",
        "--encrypt",
        `0x${at.toString(16)}`,
        boot,
      ]);
      assertEquals(r.code, 0, r.stderr);
      const events = checkEvents(r.stdout);
      const connected = events.find((e) => e.type === "connected")!;
      assertEquals(connected.security, {
        flashEncryption: true,
        flashCryptCnt: 1,
        secureBoot: false,
        secureDownload: false,
        source: chip === "esp32" ? "efuse" : "GET_SECURITY_INFO",
      });
      const outcome = events.find((e) => e.type === "outcome")!;
      assertEquals([outcome.outcome, outcome.verified], ["full", false]);
      const image = await Deno.readFile(boot);
      const unit = chip === "esp32" ? 32 : 16;
      const padded = new Uint8Array(Math.ceil(image.length / unit) * unit).fill(0xff);
      padded.set(image);
      assertEquals(
        device.flash.data.subarray(at, at + padded.length),
        chip === "esp32" ? esp32Aes(KEY, at, padded) : espXts(KEY, at, padded),
      );
      // No MD5 was asked for (it would be of ciphertext), and no key byte was printed.
      assertEquals(device.commandCounts()["SPI_FLASH_MD5"], undefined);
      assertOk(!(r.stdout + r.stderr).toLowerCase().includes(hexKey), "key material in the output");
    } finally {
      await s.close();
    }
  });
}

Deno.test("Secure Download Mode: ROM only, plain uncompressed writes, no MD5, no register access", async () => {
  const device = new VirtualDevice({ chip: "esp32s3", securityFlags: 0x04 });
  const s = await serve(device);
  const boot = `${FW}bootloader_esp32s3.bin`;
  try {
    const r = await espdelta(["-b", "460800", "-p", s.url, "flash", "0x0", boot]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout.split("\n").slice(0, 2), [
      `Connected to ESP32-S3 on ${s.url}`,
      "Security: Secure Download Mode (no stub, no MD5, plain writes only)",
    ]);
    assertEquals(r.stdout.trim().split("\n").at(-1), "full: bootloader 0x0 (5 of 5 sectors)");
    assertEquals(r.stderr, "warning: could not detect the flash size; assuming 4 MB\n");
    const image = await Deno.readFile(boot);
    assertEquals(device.flash.data.subarray(0, image.length), image);
    const counts = device.commandCounts();
    for (const op of ["SPI_FLASH_MD5", "READ_REG", "MEM_BEGIN", "FLASH_DEFL_BEGIN"]) {
      assertEquals(counts[op], undefined, op);
    }
    // Every command it sent was one Secure Download Mode allows, and none failed.
    assertEquals(device.commandLog.filter((c) => c.status !== 0), []);
  } finally {
    await s.close();
  }
});

Deno.test("write-flash --encrypt writes ciphertext and says it cannot verify it", async () => {
  const device = new VirtualDevice({ chip: "esp32c6", flashCryptCnt: 1, flashEncryptionKey: KEY });
  const s = await serve(device);
  const boot = `${FW}bootloader_esp32c6.bin`;
  try {
    const r = await espdelta([
      "-b",
      "460800",
      "-p",
      s.url,
      "write-flash",
      "--encrypt",
      "0x0",
      boot,
    ]);
    assertEquals(r.code, 0, r.stderr);
    assertOk(
      r.stdout.includes("Encrypted data cannot be verified by MD5 (the device hashes ciphertext)."),
      r.stdout,
    );
    const image = await Deno.readFile(boot);
    const padded = new Uint8Array(Math.ceil(image.length / 16) * 16).fill(0xff);
    padded.set(image);
    assertEquals(
      device.flash.data.subarray(0, padded.length),
      espXts(KEY, 0, padded),
    );
    assertEquals(device.commandCounts()["SPI_FLASH_MD5"], undefined);
  } finally {
    await s.close();
  }
});

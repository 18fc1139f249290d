/**
 * The virtual device driven by an independent flasher: esptool-js (npm),
 * Espressif's own TypeScript implementation of the protocol, over TCP.
 * None of espdelta's client code takes part.
 */
import { assertEquals, assertOk } from "../assert.ts";
import { createHash } from "node:crypto";
import { ESPLoader, Transport } from "npm:esptool-js@0.7.0";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { TcpSerialPort } from "./webserial_tcp.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url);
const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");
const le = (...w: number[]) => new Uint8Array(new Uint32Array(w).buffer);

async function session(
  chip: "esp32" | "esp32c3",
  fn: (loader: ESPLoader, device: VirtualDevice, log: string[]) => Promise<void>,
) {
  const device = new VirtualDevice({ chip });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const port = new TcpSerialPort("127.0.0.1", server.port);
  const transport = new Transport(port as never, false);
  const log: string[] = [];
  const terminal = {
    clean() {},
    writeLine: (s: string) => log.push(s),
    write: (s: string) => log.push(s),
  };
  const loader = new ESPLoader({ transport, baudrate: 460800, romBaudrate: 115200, terminal });
  try {
    await fn(loader, device, log);
  } finally {
    await transport.disconnect().catch(() => {});
    port.shutdown();
    await server.close();
  }
}

for (const chip of ["esp32", "esp32c3"] as const) {
  const bootName = `bootloader_${chip}.bin`;
  const offset = chip === "esp32" ? 0x1000 : 0x0;

  Deno.test(`esptool-js with its stub: chip id, write (deflated and raw), md5, read, erase region (${chip})`, async () => {
    await session(chip, async (loader, device, log) => {
      const description = await loader.main("no_reset");
      assertOk(description.startsWith(chip === "esp32" ? "ESP32" : "ESP32-C3"), description);
      assertOk(loader.IS_STUB);
      assertEquals(device.mode, "stub");
      assertOk(log.includes("Stub running..."), log.join("|"));
      const boot = await Deno.readFile(new URL(bootName, FW));
      const app = await Deno.readFile(new URL("esp_idf_blink_esp32s2.bin", FW));
      for (const compress of [true, false]) {
        await loader.writeFlash({
          fileArray: [{ data: boot, address: offset }, { data: app, address: 0x20000 }],
          flashMode: "keep",
          flashFreq: "keep",
          flashSize: "keep",
          eraseAll: false,
          compress,
        });
        assertEquals(device.flash.data.subarray(offset, offset + boot.length), boot);
        assertEquals(device.flash.data.subarray(0x20000, 0x20000 + app.length), app);
      }
      // verify-flash: the stub's SPI_FLASH_MD5 (16 raw bytes) through esptool-js's own framing.
      const digest = await loader.checkCommand("md5", 0x13, le(0x20000, app.length, 0, 0), 0, 16);
      assertEquals(
        Array.from(digest as Uint8Array, (b) => b.toString(16).padStart(2, "0")).join(""),
        md5(app),
      );
      // read-flash: streamed READ_FLASH with acks.
      assertEquals(await loader.readFlash(0x20000, 0x5000), app.subarray(0, 0x5000));
      // erase-region.
      device.flash.resetCounters();
      await loader.checkCommand("erase region", 0xd1, le(0x30000, 0x2000));
      assertEquals(device.flash.touchedSectors(), [0x30, 0x31]);
      assertOk(device.flash.data.subarray(0x30000, 0x32000).every((b) => b === 0xff));
    });
  });

  // esptool-js sends the fifth FLASH_BEGIN word to every ROM; the ESP32 ROM takes 16 bytes only
  // (esptool sends 20 only to later ROMs), so the ROM-only run is made on the C3.
  if (chip === "esp32") continue;
  Deno.test(`esptool-js on the ROM alone: detect, attach, write, ROM md5 (${chip})`, async () => {
    await session(chip, async (loader, device) => {
      await loader.detectChip("no_reset");
      assertEquals(loader.IS_STUB, false);
      // esptool-js sends a 4-byte SPI_ATTACH even to a ROM; ROMs take 8 bytes (esptool adds
      // the is_legacy word), so attach the way esptool does, through esptool-js's framing.
      await loader.checkCommand("attach", 0x0d, le(0, 0));
      const boot = await Deno.readFile(new URL(bootName, FW));
      for (const compress of [true, false]) {
        device.flash.resetCounters();
        await loader.writeFlash({
          fileArray: [{ data: boot, address: offset }],
          flashMode: "keep",
          flashFreq: "keep",
          flashSize: "keep",
          eraseAll: false,
          compress,
        });
        assertEquals(device.flash.data.subarray(offset, offset + boot.length), boot);
      }
      assertEquals(device.mode, "rom");
      const hex = await loader.checkCommand("md5", 0x13, le(offset, boot.length, 0, 0), 0, 32);
      assertEquals(new TextDecoder().decode(hex as Uint8Array), md5(boot));
    });
  });
}

import { assertEquals, assertOk, assertRejects } from "../assert.ts";
import { createHash } from "node:crypto";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { memoryPort } from "../../src/emulator/memory.ts";
import { connect } from "../../src/loader/loader.ts";
import { UnsupportedError } from "../../src/loader/connect.ts";
import { findStub } from "../../src/loader/stubs.ts";
import { esp8266EraseSize } from "../../src/loader/timeouts.ts";
import { CHIP_NAMES, type ChipName, CHIPS, formatMac } from "../../src/chips/chips.ts";
import { DeviceError } from "../../src/protocol/errors.ts";
import { Op } from "../../src/protocol/opcodes.ts";
import { words } from "../../src/protocol/bytes.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url);
const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");
const BOOTLOADERS: Partial<Record<ChipName, string>> = {
  esp8266: "bootloader_esp8266.bin",
  esp32: "bootloader_esp32.bin",
  esp32s2: "bootloader_esp32s2.bin",
  esp32s3: "bootloader_esp32s3.bin",
  esp32c2: "bootloader_esp32c2.bin",
  esp32c3: "bootloader_esp32c3.bin",
  esp32c6: "bootloader_esp32c6.bin",
};
const APP = await Deno.readFile(new URL("esp_idf_blink_esp32s2.bin", FW));

function sectorsOf(offset: number, length: number): number[] {
  const first = offset >> 12;
  return [...Array(Math.ceil(length / 0x1000)).keys()].map((i) => first + i);
}

for (const chip of CHIP_NAMES) {
  for (const useStub of [false, true]) {
    Deno.test(`${chip} ${useStub ? "stub" : "ROM"}: detect, MAC, flash id, write, md5, read, erase`, async () => {
      const mac = [0x24, 0x0a, 0xc4, 0x01, 0x02, chip.length];
      const device = new VirtualDevice({ chip, mac, flashSize: 4 * 1024 * 1024 });
      const port = memoryPort(device);
      const resets: string[] = [];
      try {
        const stub = useStub ? await findStub(chip) : false;
        assertOk(stub !== undefined, `esptool-js has a stub for ${chip}`);
        const loader = await connect(port, { stub, baud: 921600, onReset: (s) => resets.push(s) });
        assertEquals(resets, ["tight (50 ms)"]);
        assertEquals([loader.chip.name, loader.isStub, device.mode], [
          chip,
          useStub,
          useStub ? "stub" : "rom",
        ]);
        const canBaud = useStub || CHIPS[chip].rom.changeBaud;
        assertEquals(port.baud, canBaud ? 921600 : 115200);
        assertEquals(formatMac(await loader.readMac()), formatMac(mac));
        assertEquals(await loader.flashId(), 0x1640ef);
        assertEquals(await loader.detectFlashSize(), 4 * 1024 * 1024);

        const bootName = BOOTLOADERS[chip];
        const regions: [number, Uint8Array][] = [[0x10000, APP]];
        if (bootName) {
          regions.unshift([
            CHIPS[chip].bootloaderOffset,
            await Deno.readFile(new URL(bootName, FW)),
          ]);
        }
        for (const [offset, data] of regions) {
          for (const compress of [false, "auto"] as const) {
            device.flash.resetCounters();
            const r = await loader.write(offset, data, { compress });
            const deflates = compress === "auto" && (useStub || CHIPS[chip].rom.compressedWrite);
            assertEquals(r.compressed, deflates);
            assertEquals(device.flash.data.subarray(offset, offset + data.length), data);
            // The ESP8266 ROM's erase bug cannot be corrected for an odd sector count
            // below the next 64 KiB boundary: it erases one sector more, as on hardware.
            let span = data.length;
            if (chip === "esp8266" && !useStub) {
              const m = esp8266EraseSize(offset, data.length) / 0x1000;
              span = Math.max(span, (m + Math.min(m, 16 - ((offset >> 12) % 16))) * 0x1000);
            }
            assertEquals(device.flash.touchedSectors(), sectorsOf(offset, span));
            if (useStub || CHIPS[chip].rom.md5) {
              assertEquals(await loader.md5(offset, data.length), md5(data));
            }
          }
        }
        if (useStub || CHIPS[chip].rom.readFlashSlow) {
          assertEquals(await loader.read(0x10000, 1000), APP.subarray(0, 1000));
        } else {
          await assertRejects(() => loader.read(0x10000, 1000), UnsupportedError);
          await assertRejects(() => loader.md5(0x10000, 1000), UnsupportedError);
        }
        device.flash.resetCounters();
        await loader.eraseRegion(0x11000, 0x2000);
        assertEquals(device.flash.touchedSectors(), [0x11, 0x12]);
        assertOk(device.flash.data.subarray(0x11000, 0x13000).every((b) => b === 0xff));
        await loader.close();
      } finally {
        await port.close();
      }
    });
  }
}

Deno.test("stub: 1 MiB streamed READ_FLASH equals flash; device errors surface with their status", async () => {
  const flash = new Uint8Array(4 * 1024 * 1024);
  for (let i = 0; i < flash.length; i++) flash[i] = (i * 31 + (i >> 12)) & 0xff;
  const device = new VirtualDevice({ chip: "esp32s3", flash });
  const port = memoryPort(device);
  try {
    const loader = await connect(port, { stub: await findStub("esp32s3") });
    const progress: number[] = [];
    const data = await loader.read(0x100000, 0x100000, (done) => progress.push(done));
    assertEquals(data, flash.subarray(0x100000, 0x200000));
    assertEquals(progress.length, 256);
    const e = await assertRejects(
      () => loader.command(Op.ERASE_REGION, words(0x800, 0x1000)),
      DeviceError,
    );
    assertEquals([e.status, e.message], [
      // esptool-js 0.7.0's stub is esp-flasher-stub: a misaligned erase is BAD_DATA_LEN
      // (the legacy stub's `check || handler` made it 0x0100).
      0xc000,
      "ERASE_REGION failed: device status 0xc000 (bad data length)",
    ]);
    const rom = await assertRejects(() => loader.command(0x55, new Uint8Array()), DeviceError);
    assertEquals(rom.status, 0xc300); // INVALID_COMMAND (the legacy stub: 0xff00)
  } finally {
    await port.close();
  }
});

Deno.test("ROM: a checksum error is retried, an unknown opcode is ROM error 0x0105", async () => {
  const device = new VirtualDevice({ chip: "esp32" });
  const port = memoryPort(device);
  try {
    const loader = await connect(port);
    const e = await assertRejects(() => loader.command(0x55, new Uint8Array()), DeviceError);
    assertEquals([e.status, e.romError, e.message], [
      0x0105,
      0x05,
      "0x55 failed: device status 0x0105 (received message has invalid format)",
    ]);
    // Corrupt exactly one data packet on its way: the block is retried and the write succeeds.
    let corrupted = false;
    const write = port.write.bind(port);
    port.write = (d: Uint8Array) => {
      if (!corrupted && d.length > 1000 && d[2] === Op.FLASH_DATA) {
        corrupted = true;
        const bad = d.slice();
        bad[600] ^= 0x01;
        return write(bad);
      }
      return write(d);
    };
    const data = APP.subarray(0, 0x3000);
    await loader.write(0x20000, data, { compress: false });
    assertOk(corrupted);
    assertEquals(device.flash.data.subarray(0x20000, 0x23000), data);
    assertEquals(device.commandLog.filter((c) => c.status === 0x0107).length, 1);
  } finally {
    await port.close();
  }
});

Deno.test("connect refuses a chip other than the one asked for", async () => {
  const port = memoryPort(new VirtualDevice({ chip: "esp32c6" }));
  try {
    const e = await assertRejects(() => connect(port, { chip: "esp32" }), Error);
    assertEquals(e.message, "this chip is ESP32-C6, not ESP32; use --chip esp32c6 or --chip auto");
  } finally {
    await port.close();
  }
});

Deno.test("connect gives up with the boot mode when the chip is not in download mode", async () => {
  const device = new VirtualDevice({ chip: "esp32", bootMode: "flash" });
  const port = memoryPort(device);
  try {
    const e = await assertRejects(
      () => connect(port, { reset: "no-reset", attempts: 1 }),
      Error,
    );
    assertEquals(
      e.message,
      "failed to connect to the device on memory:esp32: no reply to SYNC after 1 attempts " +
        "(no reply to SYNC within 100 ms). The chip printed boot mode 0x13 (SPI_FAST_FLASH_BOOT): " +
        "it is not in download mode; hold BOOT and reset.",
    );
  } finally {
    await port.close();
  }
});

import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { ManualClock } from "../../src/emulator/clock.ts";
import { memoryPort } from "../../src/emulator/memory.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import {
  classicSteps,
  hardResetSteps,
  runSequence,
  tightSteps,
  usbJtagSteps,
} from "../../src/serial/reset.ts";
import { SlipDecoder, slipEncode } from "../../src/protocol/slip.ts";
import { decodeResponse, encodeCommand } from "../../src/protocol/packet.ts";
import { Op, SYNC_PAYLOAD } from "../../src/protocol/opcodes.ts";
import { readU32, words } from "../../src/protocol/bytes.ts";
import type { Port } from "../../src/serial/port.ts";
import { CHIP_NAMES } from "../../src/chips/chips.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Everything the port holds now (reads that resolve at once). */
async function drain(port: Port): Promise<Uint8Array> {
  const parts: number[] = [];
  while (true) {
    const b = await port.read(0);
    if (b.length === 0) return new Uint8Array(parts);
    parts.push(...b);
  }
}

/** A device on a manual clock and its memory port; sequences run by advancing the clock. */
function rig(chip: (typeof CHIP_NAMES)[number], bootMode: "download" | "flash" = "flash") {
  const clock = new ManualClock();
  const device = new VirtualDevice({ chip, bootMode, clock });
  const port = memoryPort(device);
  const sleep = (ms: number) => Promise.resolve(clock.advance(ms));
  return { clock, device, port, sleep };
}

Deno.test("reset circuit: classic and tight sequences boot the download loader with its log", async () => {
  for (const chip of CHIP_NAMES.filter((c) => c !== "esp8266")) {
    for (const steps of [classicSteps(50), tightSteps(50), classicSteps(550)]) {
      const { device, port, sleep, clock } = rig(chip);
      try {
        assertEquals(device.mode, "app");
        await runSequence(port, steps, sleep);
        const log = text(await drain(port));
        assertEquals(device.mode, "rom", chip);
        assertOk(/boot:0x[0-9a-f]+ \(DOWNLOAD[^)]*\)+\r\nwaiting for download\r\n$/.test(log), log);
        assertEquals(clock.pending, 0);
      } finally {
        await port.close();
      }
    }
  }
  const { device, port, sleep } = rig("esp32");
  await runSequence(port, classicSteps(50), sleep);
  assertEquals(
    text(await drain(port)),
    "ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 " +
      "(DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n",
  );
  // A hard reset (EN pulse, boot pin high) runs the app from flash.
  await runSequence(port, hardResetSteps(), sleep);
  assertEquals(device.inReset, true); // EN released, but the RC on EN has not charged yet
  await sleep(5);
  assertEquals([device.inReset, device.mode], [false, "app"]);
  assertEquals(
    text(await drain(port)),
    "ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n" +
      "flash read err, 1000\r\nets_main.c 371 \r\n", // erased flash: no bootloader at 0x1000
  );
  // The USB-Serial/JTAG sequence is for that peripheral: on the two-transistor circuit
  // it ends with EN rising while the boot pin is high, a flash boot.
  await runSequence(port, usbJtagSteps(), sleep);
  assertEquals(device.mode, "app");
  await port.close();
});

Deno.test("reset circuit: both lines asserted leave the chip alone; EN low holds it silent", async () => {
  const { device, port, sleep } = rig("esp32s3", "download");
  try {
    await port.setSignals({ dtr: true, rts: true });
    await sleep(100);
    assertEquals([device.mode, device.inReset], ["rom", false]);
    await port.setSignals({ dtr: false, rts: true }); // EN low
    assertEquals([device.mode, device.inReset], ["app", true]);
    await port.write(slipEncode(encodeCommand(Op.SYNC, SYNC_PAYLOAD)));
    assertEquals(await drain(port), new Uint8Array());
    assertEquals(device.commandLog.length, 0);
    await port.setSignals({ dtr: true, rts: false }); // released with the boot pin low
    await sleep(5);
    assertEquals(device.mode, "rom");
    assertOk(text(await drain(port)).includes("ESP-ROM:esp32s3-20210327"));
  } finally {
    await port.close();
  }
});

Deno.test("ESP8266: the ROM log comes at 74880 baud (garbage at 115200), then 115200", async () => {
  const { device, port, sleep } = rig("esp8266");
  try {
    await runSequence(port, classicSteps(50), sleep);
    const garbled = await drain(port);
    assertEquals(device.mode, "rom");
    assertOk(garbled.length > 0 && !text(garbled).includes("ets Jan"));
    assertOk(!garbled.includes(0xc0));
    await port.setBaud(74880);
    await runSequence(port, classicSteps(50), sleep);
    assertEquals(
      text(await drain(port)),
      "\r\n ets Jan  8 2013,rst cause:2, boot mode:(1,7)\r\n\r\n",
    );
    await port.setBaud(115200);
    await port.write(slipEncode(encodeCommand(Op.SYNC, SYNC_PAYLOAD)));
    assertEquals(new SlipDecoder().push(await drain(port)).length, 8);
  } finally {
    await port.close();
  }
});

Deno.test("baud: the ROM autobauds on its first frame; after CHANGE_BAUDRATE a lagging host reads garbage", async () => {
  const device = new VirtualDevice({ chip: "esp32c6" });
  const port = memoryPort(device, { baud: 230400 });
  try {
    const d = new SlipDecoder();
    // The ROM locks onto the host's 230400 on the SYNC.
    await port.write(slipEncode(encodeCommand(Op.SYNC, SYNC_PAYLOAD)));
    assertEquals([d.push(await drain(port)).length, device.baud], [8, 230400]);
    // Locked now: another rate is garbage to it.
    await port.setBaud(115200);
    await port.write(slipEncode(encodeCommand(Op.READ_REG, words(0x40001000))));
    assertEquals([d.push(await drain(port)).length, device.commandLog.length], [0, 1]);
    await port.setBaud(230400);
    await port.write(slipEncode(encodeCommand(Op.CHANGE_BAUDRATE, words(921600, 0))));
    const reply = d.push(await drain(port));
    assertEquals([decodeResponse(reply[0])?.op, device.baud], [Op.CHANGE_BAUDRATE, 921600]);
    // The host has not switched: the next reply is garbage, never a frame.
    await port.write(slipEncode(encodeCommand(Op.READ_REG, words(0x40001000))));
    assertEquals(d.push(await drain(port)), []);
    await port.setBaud(921600);
    await port.write(slipEncode(encodeCommand(Op.READ_REG, words(0x40001000))));
    const [r] = d.push(await drain(port));
    assertEquals(readU32(r, 4), 0x2ce0806f);
  } finally {
    await port.close();
  }
});

Deno.test("memoryPort: path, modem lines, timeouts resolve empty, close resolves a pending read", async () => {
  const port = memoryPort(new VirtualDevice({ chip: "esp32h2" }));
  assertEquals([port.path, port.hasModemLines, port.baud], ["memory:esp32h2", true, 115200]);
  assertEquals(await port.read(1), new Uint8Array());
  const pending = port.read(10_000);
  await port.close();
  assertEquals(await pending, new Uint8Array());
  await port.close(); // twice is fine
  let refused = false;
  await port.write(new Uint8Array([0xc0])).catch(() => refused = true);
  assertOk(refused);
});

async function readFrames(conn: Deno.Conn, n: number): Promise<Uint8Array[]> {
  const d = new SlipDecoder();
  const frames: Uint8Array[] = [];
  const buf = new Uint8Array(4096);
  while (frames.length < n) {
    const got = await conn.read(buf);
    if (got === null) break;
    frames.push(...d.push(buf.subarray(0, got)));
  }
  return frames;
}

Deno.test("serveTcp: a socket client syncs and reads a register; one client at a time", async () => {
  const device = new VirtualDevice({ chip: "esp32s2", bootMode: "flash" });
  device.flash.data[0] = 0x42;
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await conn.write(slipEncode(encodeCommand(Op.SYNC, SYNC_PAYLOAD)));
    const syncs = await readFrames(conn, 8);
    assertEquals(syncs.length, 8);
    assertEquals(device.mode, "rom"); // the connection power-cycled it into download mode
    await conn.write(slipEncode(encodeCommand(Op.READ_REG, words(0x40001000))));
    const [reg] = await readFrames(conn, 1);
    assertEquals(readU32(reg, 4), 0x7c6);
    assertEquals(device.flash.data[0], 0x42); // flash kept
    const second = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    assertEquals(await second.read(new Uint8Array(16)), null);
    second.close();
  } finally {
    conn.close();
    await server.close();
  }
});

import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { memoryPort } from "../../src/emulator/memory.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { classicSteps, hardResetSteps, runSequence } from "../../src/serial/reset.ts";
import { SlipDecoder, slipEncode } from "../../src/protocol/slip.ts";
import { decodeResponse, encodeCommand } from "../../src/protocol/packet.ts";
import { Op, SYNC_PAYLOAD } from "../../src/protocol/opcodes.ts";
import { words } from "../../src/protocol/bytes.ts";

async function readAll(read: (ms: number) => Promise<Uint8Array>, ms = 150): Promise<Uint8Array> {
  const parts: number[] = [];
  while (true) {
    const b = await read(ms);
    if (b.length === 0) return new Uint8Array(parts);
    parts.push(...b);
  }
}

Deno.test("classic DTR/RTS reset boots into download mode and prints the ROM banner", async () => {
  const device = new VirtualDevice({ chip: "esp32", bootMode: "flash" });
  const port = memoryPort(device);
  try {
    assertEquals(device.mode, "app");
    await runSequence(port, classicSteps(50));
    const text = new TextDecoder().decode(await readAll((ms) => port.read(ms)));
    assertEquals(device.mode, "rom");
    assertOk(text.includes("boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))"), text);
    assertOk(text.includes("waiting for download"), text);
    // A hard reset (EN pulse, boot pin high) runs the app from flash.
    await runSequence(port, hardResetSteps());
    await new Promise((r) => setTimeout(r, 20));
    const boot = new TextDecoder().decode(await readAll((ms) => port.read(ms)));
    assertEquals(device.mode, "app");
    assertOk(boot.includes("boot:0x13 (SPI_FAST_FLASH_BOOT)"), boot);
  } finally {
    await port.close();
  }
});

Deno.test("bytes at the wrong baud arrive as garbage, never as frames", async () => {
  const device = new VirtualDevice({ chip: "esp32c6" });
  const port = memoryPort(device);
  try {
    await port.setBaud(921600); // the device still runs at 115200
    await port.write(slipEncode(encodeCommand(Op.SYNC, SYNC_PAYLOAD)));
    assertEquals(device.commandLog.length, 0);
    await port.setBaud(115200);
    await port.write(slipEncode(encodeCommand(Op.CHANGE_BAUDRATE, words(921600, 0))));
    const d = new SlipDecoder();
    const reply = d.push(await port.read(100));
    assertEquals(decodeResponse(reply[0])?.op, Op.CHANGE_BAUDRATE);
    assertEquals(device.baud, 921600);
    // The host has not switched: the next reply is garbage.
    await port.write(slipEncode(encodeCommand(Op.READ_REG, words(0x40001000))));
    assertEquals(d.push(await port.read(100)), []);
  } finally {
    await port.close();
  }
});

Deno.test("close resolves a pending read empty", async () => {
  const port = memoryPort(new VirtualDevice({ chip: "esp32h2" }));
  const pending = port.read(10_000);
  await port.close();
  assertEquals(await pending, new Uint8Array());
});

Deno.test("serveTcp: a plain socket client syncs; a second client is turned away", async () => {
  const device = new VirtualDevice({ chip: "esp32s2" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await new Promise((r) => setTimeout(r, 50));
    await conn.write(slipEncode(encodeCommand(Op.SYNC, SYNC_PAYLOAD)));
    const d = new SlipDecoder();
    const frames: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    while (frames.length < 8) {
      const n = await conn.read(buf);
      if (n === null) break;
      frames.push(...d.push(buf.subarray(0, n)));
    }
    assertEquals(frames.length, 8);
    const second = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    assertEquals(await second.read(buf), null);
    second.close();
  } finally {
    conn.close();
    await server.close();
  }
});

import { deflateSync } from "node:zlib";
import { assertEquals, assertOk } from "../assert.ts";
import { Bench, romBench, stubBench, words } from "./raw.ts";
import { SimClock, timedLink, uartMs } from "../../src/emulator/timing.ts";
import { slipEncode } from "../../src/protocol/slip.ts";
import { checksum, encodeCommand, encodeDataPayload } from "../../src/protocol/packet.ts";
import { Op, SYNC_PAYLOAD } from "../../src/protocol/opcodes.ts";

// Defaults: 1 ms each way over USB, 0.05 ms turnaround, ROM MD5 1 MB/s,
// 45 ms sector erase, 0.4 ms page program; 115200 baud after boot.
const B = 115200;
const round = (ms: number) => Math.round(ms * 1e6) / 1e6;

Deno.test("timing: a SYNC reply arrives after the wire, USB both ways and the turnaround", async () => {
  const clock = new SimClock();
  const b = new Bench({ chip: "esp32", clock });
  const { port, stats } = timedLink(b.device, clock);
  const sync = slipEncode(encodeCommand(Op.SYNC, SYNC_PAYLOAD));
  assertEquals(sync.length, 46);
  await port.write(sync);
  // ESP32 ROM reply: 8-byte header, 4 status bytes, two delimiters.
  const first = await port.read(100);
  assertEquals(first.length, 14);
  const firstAt = 1 + uartMs(46, B) + 0.05 + uartMs(14, B) + 1;
  assertEquals(round(clock.now()), round(firstAt));
  // The other seven replies follow back to back on the wire.
  assertEquals((await port.read(100)).length, 14);
  assertEquals(round(clock.now()), round(firstAt + uartMs(14, B)));
  assertEquals(stats, { bytesToDevice: 46, bytesToHost: 8 * 14, commands: 1 });
  // Nothing more: a read waits out its whole timeout.
  for (let i = 0; i < 6; i++) await port.read(100);
  const before = clock.now();
  assertEquals((await port.read(250)).length, 0);
  assertEquals(round(clock.now() - before), 250);
  await port.close();
});

Deno.test("timing: ROM MD5 of 1 MiB costs its hashing time at the ROM's rate", async () => {
  const clock = new SimClock();
  const b = romBench({ chip: "esp32", clock });
  const { port } = timedLink(b.device, clock);
  const start = clock.now();
  await port.write(slipEncode(encodeCommand(Op.SPI_FLASH_MD5, words(0, 0x100000, 0, 0))));
  const reply = await port.read(5000);
  // 8-byte header, 32 hex digits, 4 status bytes, delimiters.
  assertEquals(reply.length, 46);
  const ms = 1 + uartMs(26, B) + 0.05 + 1048.576 + uartMs(46, B) + 1;
  assertEquals(round(clock.now() - start), round(ms));
  await port.close();
});

Deno.test("timing: the stub acknowledges a data block at once; the next command waits for its erase and write", async () => {
  const clock = new SimClock();
  // The legacy stub erases ahead unconditionally (esp-flasher-stub skips blank sectors).
  const b = stubBench({ chip: "esp32", clock, stubKind: "legacy" });
  const { port } = timedLink(b.device, clock);
  const send = async (packet: Uint8Array) => {
    await port.write(slipEncode(packet));
    const r = await port.read(1000);
    return { at: clock.now(), reply: r };
  };
  const begin = await send(encodeCommand(Op.FLASH_BEGIN, words(0x400, 1, 0x400, 0x10000)));
  assertEquals(begin.reply.length, 12); // stub reply: header, 2 status bytes, delimiters
  const block = new Uint8Array(0x400).fill(0x11);
  const data = await send(
    encodeCommand(Op.FLASH_DATA, encodeDataPayload(0, block), checksum(block)),
  );
  const arrived = begin.at + 1 + uartMs(8 + 16 + 0x400 + 2, B);
  assertEquals(round(data.at), round(arrived + 0.05 + uartMs(12, B) + 1));
  // One sector erase and four page programs run after the acknowledgement.
  const busyUntil = arrived + 0.05 + 45 + 4 * 0.4;
  const end = await send(encodeCommand(Op.FLASH_END, words(1)));
  assertEquals(round(end.at), round(busyUntil + 0.05 + uartMs(12, B) + 1));
  assertEquals(b.device.flash.data.subarray(0x10000, 0x10400), block);
  await port.close();
});

Deno.test("timing: the ROM replies to a data block only after writing it", async () => {
  const clock = new SimClock();
  const b = romBench({ chip: "esp32", clock });
  const { port } = timedLink(b.device, clock);
  await port.write(slipEncode(encodeCommand(Op.FLASH_BEGIN, words(0x400, 1, 0x400, 0x10000))));
  await port.read(1000);
  const erasedAt = clock.now();
  const block = new Uint8Array(0x400).fill(0x22);
  await port.write(
    slipEncode(encodeCommand(Op.FLASH_DATA, encodeDataPayload(0, block), checksum(block))),
  );
  const reply = await port.read(1000);
  assertEquals(reply.length, 14);
  const ms = 1 + uartMs(8 + 16 + 0x400 + 2, B) + 0.05 + 4 * 0.4 + uartMs(14, B) + 1;
  assertEquals(round(clock.now() - erasedAt), round(ms));
  await port.close();
});

Deno.test("timing: esp-flasher-stub starts erases without waiting; the next block's ack does not wait for them", async () => {
  const clock = new SimClock();
  // Dirty flash under the write, so the stub erases (it skips blank sectors).
  const flash = new Uint8Array(4 << 20).fill(0xff);
  flash.fill(0x00, 0x10000, 0x30000);
  const b = stubBench({ chip: "esp32", clock, flash });
  const { port } = timedLink(b.device, clock);
  const send = async (packet: Uint8Array) => {
    const at = clock.now();
    const framed = slipEncode(packet);
    await port.write(framed);
    const reply = await port.read(5000);
    return { sent: at, at: clock.now(), arrived: at + 1 + uartMs(framed.length, B), reply };
  };
  // 128 KiB of one byte: a stream of a few hundred bytes that inflates to four 32 KiB buffers.
  const image = new Uint8Array(0x20000).fill(0x5a);
  const stream = new Uint8Array(deflateSync(image, { level: 9 }));
  const begin = await send(encodeCommand(Op.FLASH_DEFL_BEGIN, words(0x20000, 1, 0x4000, 0x10000)));
  // BEGIN starts the first 64 KiB block erase and replies at once.
  const erase0 = begin.arrived + 0.05;
  assertEquals(round(begin.at), round(erase0 + uartMs(12, B) + 1));
  await clock.sleep(200); // the first erase is done
  // Block 0, the zlib header alone: its one decompression round starts the second block erase.
  const head = stream.subarray(0, 2);
  const a = await send(
    encodeCommand(Op.FLASH_DEFL_DATA, encodeDataPayload(0, head), checksum(head)),
  );
  const erase1 = a.arrived + 0.05;
  assertEquals(round(a.at), round(erase1 + uartMs(12, B) + 1));
  // Block 1 goes at once: the stub takes it (and acknowledges it) while that erase runs...
  const rest = stream.subarray(2);
  const d = await send(
    encodeCommand(Op.FLASH_DEFL_DATA, encodeDataPayload(1, rest), checksum(rest)),
  );
  assertOk(d.arrived + 0.05 < erase1 + 150);
  assertEquals(round(d.at), round(d.arrived + 0.05 + uartMs(12, B) + 1));
  // ...and its four 32 KiB writes wait for it: 128 page programs each.
  const done = erase1 + 150 + 4 * 128 * 0.4;
  const end = await send(encodeCommand(Op.FLASH_DEFL_END, words(1)));
  assertEquals(round(end.at), round(done + 0.05 + uartMs(12, B) + 1));
  assertEquals(b.device.flash.data.subarray(0x10000, 0x30000), image);
  assertEquals([b.device.flash.ops.blockErases, b.device.flash.ops.sectorErases], [2, 0]);
  await port.close();
});

Deno.test("timing: ERASE_REGION replies when its erases are done", async () => {
  const clock = new SimClock();
  const b = stubBench({ chip: "esp32", clock });
  const { port } = timedLink(b.device, clock);
  const framed = slipEncode(encodeCommand(Op.ERASE_REGION, words(0x10000, 0x11000)));
  await port.write(framed);
  assertEquals((await port.read(5000)).length, 12);
  // One block erase, then one sector erase once the flash is idle.
  const ms = 1 + uartMs(framed.length, B) + 0.05 + 150 + 45 + uartMs(12, B) + 1;
  assertEquals(round(clock.now()), round(ms));
  await port.close();
});

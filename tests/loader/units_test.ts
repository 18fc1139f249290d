import { assertEquals, assertRejects } from "../assert.ts";
import { esp8266EraseSize, stubBlockTimeout, timeoutForSize } from "../../src/loader/timeouts.ts";
import { parseStubJson } from "../../src/loader/stub.ts";
import { EspdeltaError, ProtocolError } from "../../src/protocol/errors.ts";
import { Loader } from "../../src/loader/loader.ts";
import { CHIPS } from "../../src/chips/chips.ts";
import { slipEncode } from "../../src/protocol/slip.ts";
import { encodeResponse } from "../../src/protocol/packet.ts";
import type { Port } from "../../src/serial/port.ts";
import { assertThrows } from "../assert.ts";

Deno.test("timeouts scale per MB (10^6 bytes) with a 3 s floor", () => {
  assertEquals(timeoutForSize(40, 1024 * 1024), 41943); // ROM FLASH_BEGIN of 1 MiB
  assertEquals(timeoutForSize(8, 4 * 1024 * 1024), 33554); // MD5 of 4 MiB
  assertEquals(timeoutForSize(8, 1000), 3000);
  assertEquals(stubBlockTimeout(0x4000), 5898); // a 16 KiB stub block
  assertEquals(timeoutForSize(40, 100e6), 240000); // capped
});

Deno.test("ESP8266 erase-size correction matches esptool's examples", () => {
  assertEquals(esp8266EraseSize(0x1000, 0x2000), 0x1000);
  assertEquals(esp8266EraseSize(0x0, 0x100000), 0xf0000);
  assertEquals(esp8266EraseSize(0x3000, 0x40000), 0x33000);
});

Deno.test("stub JSON parsing", () => {
  const s = parseStubJson({ entry: 5, text: "AAEC", text_start: 16, data: "Aw==", data_start: 32 });
  assertEquals([s.entry, Array.from(s.text), s.textStart, Array.from(s.data), s.dataStart], [
    5,
    [0, 1, 2],
    16,
    [3],
    32,
  ]);
  const e = assertThrows(() => parseStubJson({ text: "AA==" }, "x.json"), EspdeltaError);
  assertEquals([e.code, e.message], ["BAD_STUB", "x.json: field 'entry' must be a number"]);
});

/** A port that answers with scripted bytes and records what was written. */
function scripted(replies: Uint8Array[]): Port & { written: Uint8Array[] } {
  const queue = [...replies];
  return {
    path: "scripted",
    baud: 115200,
    hasModemLines: false,
    written: [] as Uint8Array[],
    read(ms: number) {
      const next = queue.shift();
      return next
        ? Promise.resolve(next)
        : new Promise((r) => setTimeout(() => r(new Uint8Array()), ms));
    },
    write(d: Uint8Array) {
      this.written.push(d);
      return Promise.resolve();
    },
    drain: () => Promise.resolve(),
    flushInput: () => Promise.resolve(),
    setBaud: () => Promise.resolve(),
    setSignals: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

Deno.test("command skips noise, other opcodes and non-responses; reads status by position", async () => {
  const noise = new TextEncoder().encode("waiting for download\r\n");
  const other = slipEncode(encodeResponse(0x08, 0, new Uint8Array([0, 0, 0, 0])));
  const notResponse = slipEncode(new Uint8Array([0x00, 0x0a, 0, 0, 0, 0, 0, 0]));
  // A trailing junk byte after the status must be ignored.
  const mine = slipEncode(encodeResponse(0x0a, 0xdeadbeef, new Uint8Array([0, 0, 0, 0, 0x77])));
  const port = scripted([noise, other, notResponse, mine]);
  const lines: string[] = [];
  const l = new Loader(port, CHIPS.esp32, { trace: (s) => lines.push(s) });
  assertEquals(await l.readReg(0x3ff5a004), 0xdeadbeef);
  assertEquals(lines[0], "TX READ_REG 4B 000a04000000000004a0f53f");
  assertEquals(lines.length, 4);
});

Deno.test("a silent device times out with the command named", async () => {
  const l = new Loader(scripted([]), CHIPS.esp32, {});
  const e = await assertRejects(
    () => l.command(0x13, new Uint8Array(16), { timeoutMs: 50 }),
    EspdeltaError,
  );
  assertEquals([e.code, e.message], ["TIMEOUT", "no reply to SPI_FLASH_MD5 within 50 ms"]);
});

Deno.test("a reply too short for its data is a protocol error", async () => {
  const short = slipEncode(encodeResponse(0x13, 0, new Uint8Array(10)));
  const l = new Loader(scripted([short]), CHIPS.esp32, {});
  await assertRejects(() => l.command(0x13, new Uint8Array(16), { dataLength: 32 }), ProtocolError);
});

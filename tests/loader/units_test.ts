import { assertEquals, assertRejects } from "../assert.ts";
import { esp8266EraseSize, stubBlockTimeout, timeoutForSize } from "../../src/loader/timeouts.ts";
import { parseStubJson } from "../../src/loader/stub.ts";
import { EspdeltaError, ProtocolError } from "../../src/protocol/errors.ts";
import { Loader } from "../../src/loader/loader.ts";
import { Connection, LinkLostError, type SyncAnswer } from "../../src/loader/connection.ts";
import { CHIPS } from "../../src/chips/chips.ts";
import { SlipDecoder, slipEncode } from "../../src/protocol/slip.ts";
import { readReg } from "../../src/protocol/commands.ts";
import { Op } from "../../src/protocol/opcodes.ts";
import { SimClock } from "../../src/emulator/clock.ts";
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
  const l = new Loader(new Connection(port, { trace: (s) => lines.push(s) }), CHIPS.esp32);
  assertEquals(await l.readReg(0x3ff5a004), 0xdeadbeef);
  assertEquals(lines[0], "TX READ_REG 4B 000a04000000000004a0f53f");
  assertEquals(lines.length, 4);
});

Deno.test("a silent device times out with the command named", async () => {
  const l = new Loader(new Connection(scripted([])), CHIPS.esp32);
  const e = await assertRejects(
    () => l.command(0x13, new Uint8Array(16), { timeoutMs: 50 }),
    EspdeltaError,
  );
  assertEquals([e.code, e.message], ["TIMEOUT", "no reply to SPI_FLASH_MD5 within 50 ms"]);
});

Deno.test("a reply too short for its data is a protocol error", async () => {
  const short = slipEncode(encodeResponse(0x13, 0, new Uint8Array(10)));
  const l = new Loader(new Connection(scripted([short])), CHIPS.esp32);
  await assertRejects(() => l.command(0x13, new Uint8Array(16), { dataLength: 32 }), ProtocolError);
});

/**
 * A port whose device answers each packet written with the frames `respond`
 * gives. With a clock, waiting for input moves it instead of real time.
 */
function answering(
  respond: (op: number) => Uint8Array[],
  clock?: SimClock,
): Port & { ops: number[] } {
  let queue: Uint8Array[] = [];
  const decoder = new SlipDecoder();
  return {
    path: "answering",
    baud: 115200,
    hasModemLines: false,
    ops: [] as number[],
    read(ms: number) {
      const next = queue.shift();
      if (next) return Promise.resolve(next);
      if (clock) return clock.sleep(ms).then(() => new Uint8Array());
      return new Promise((r) => setTimeout(() => r(new Uint8Array()), Math.min(ms, 20)));
    },
    write(d: Uint8Array) {
      for (const packet of decoder.push(d)) {
        this.ops.push(packet[1]);
        queue.push(...respond(packet[1]).map(slipEncode));
      }
      return Promise.resolve();
    },
    drain: () => Promise.resolve(),
    flushInput: () => {
      queue = [];
      return Promise.resolve();
    },
    setBaud: () => Promise.resolve(),
    setSignals: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

Deno.test("a lost reply: the connection resyncs, tells its hook who answered, and sends again", async () => {
  let reads = 0;
  const status = new Uint8Array(4); // a ROM's four status bytes, all clear
  const port = answering((op) => {
    if (op === Op.SYNC) return Array(8).fill(encodeResponse(Op.SYNC, 0x20120707, status));
    if (op === Op.READ_REG && reads++ > 0) return [encodeResponse(Op.READ_REG, 0x1234, status)];
    return []; // the first READ_REG's reply is lost
  });
  const answers: SyncAnswer[] = [];
  const conn = new Connection(port, {
    reconnect: (answer, c) => {
      answers.push(answer);
      assertEquals(c, conn);
      return Promise.resolve();
    },
  });
  const r = await conn.command(readReg(0x40001000), { retry: true, timeoutMs: 50 });
  assertEquals([r.value, answers, conn.recoveries], [0x1234, ["rom"], 1]);
  assertEquals(port.ops, [Op.READ_REG, Op.SYNC, Op.READ_REG]);
  // Without retry the same loss is the caller's: a timeout, no recovery.
  const silent = new Connection(answering(() => []));
  const e = await assertRejects(() => silent.command(readReg(0), { timeoutMs: 30 }), EspdeltaError);
  assertEquals([e.code, silent.recoveries], ["TIMEOUT", 0]);
});

Deno.test("a device that stays silent: three attempts, then the link is lost", async () => {
  const answers: SyncAnswer[] = [];
  const clock = new SimClock();
  const conn = new Connection(answering(() => [], clock), {
    clock,
    reconnect: (answer) => {
      answers.push(answer);
      return Promise.resolve();
    },
  });
  const e = await assertRejects(
    () => conn.command(readReg(0), { retry: true, timeoutMs: 10 }),
    LinkLostError,
  );
  // Each recovery sends SYNC five times (plain, plain, reframed, plain, reframed) and waits
  // 3, 3, 1, 1 and 1 s; the attempts wait 10, 20, 40 ms.
  assertEquals([answers, conn.recoveries, clock.now()], [["none", "none"], 2, 18070]);
  assertEquals(
    e.message,
    "lost the device on answering during READ_REG after 3 attempts (no reply to READ_REG " +
      "within 40 ms); check the cable and power, then run the same command again: espdelta " +
      "re-plans and writes only what is still wrong",
  );
});

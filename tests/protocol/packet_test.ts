import { assertEquals, assertThrows } from "../assert.ts";
import {
  checkStatus,
  checksum,
  decodeCommand,
  decodeResponse,
  encodeCommand,
  encodeDataPayload,
  encodeResponse,
} from "../../src/protocol/packet.ts";
import { DeviceError, ProtocolError } from "../../src/protocol/errors.ts";
import { Op, SYNC_PAYLOAD } from "../../src/protocol/opcodes.ts";
import { slipEncode } from "../../src/protocol/slip.ts";
import { toHex, words } from "../../src/protocol/bytes.ts";

Deno.test("checksum is 0xEF xor the data", () => {
  assertEquals(checksum(new Uint8Array([0x12, 0x34, 0x56, 0x78])), 0xe7);
  assertEquals(checksum(new Uint8Array(1024).fill(0xff)), 0xef);
  assertEquals(checksum(new Uint8Array()), 0xef);
});

Deno.test("SYNC command on the wire matches the reference image", () => {
  const wire = slipEncode(encodeCommand(Op.SYNC, SYNC_PAYLOAD));
  assertEquals(wire.length, 46);
  assertEquals(toHex(wire.subarray(0, 13)), "c000082400000000000707122055".slice(0, 26));
  assertEquals(wire[wire.length - 1], 0xc0);
});

Deno.test("READ_REG request bytes match the reference example", () => {
  const wire = slipEncode(encodeCommand(Op.READ_REG, words(0x40001000)));
  assertEquals(toHex(wire), "c0000a0400000000000010" + "0040c0");
});

Deno.test("data payload header: length, sequence, two zero words", () => {
  const p = encodeDataPayload(3, new Uint8Array([9, 8]));
  assertEquals(toHex(p), "02000000" + "03000000" + "00000000" + "00000000" + "0908");
});

Deno.test("command decode round trip", () => {
  const cmd = decodeCommand(encodeCommand(Op.FLASH_DATA, new Uint8Array([1, 2, 3]), 0xee));
  assertEquals(cmd?.op, Op.FLASH_DATA);
  assertEquals(cmd?.size, 3);
  assertEquals(cmd?.checksum, 0xee);
  assertEquals(cmd?.data, new Uint8Array([1, 2, 3]));
  assertEquals(decodeCommand(new Uint8Array([1, 2, 3])), null);
});

Deno.test("status is read by position after the expected data", () => {
  // SYNC reply of an ESP32-family ROM: value 0x20120707, status 00 00 00 00.
  const sync = decodeResponse(
    new Uint8Array([0x01, 0x08, 0x04, 0x00, 0x07, 0x07, 0x12, 0x20, 0, 0, 0, 0]),
  )!;
  assertEquals(sync.value, 0x20120707);
  assertEquals(checkStatus(sync, 0), new Uint8Array());
  // Stub MD5 reply: 16 raw bytes then 2 status bytes; size says 18.
  const digest = new Uint8Array(16).fill(0xab);
  const md5 = decodeResponse(
    encodeResponse(Op.SPI_FLASH_MD5, 0, new Uint8Array([...digest, 0, 0])),
  )!;
  assertEquals(checkStatus(md5, 16), digest);
});

Deno.test("ROM failure status becomes a DeviceError with code 0x0107", () => {
  const r = decodeResponse(
    new Uint8Array([0x01, 0x03, 0x04, 0x00, 0x07, 0x12, 0x20, 0x07, 0x01, 0x07, 0x00, 0x00]),
  )!;
  const err = assertThrows(() => checkStatus(r, 0), DeviceError);
  assertEquals(err.status, 0x0107);
  assertEquals(err.romError, 0x07);
  assertEquals(
    err.message,
    "FLASH_DATA failed: device status 0x0107 (checksum error in data packet)",
  );
});

Deno.test("stub failure status carries the stub code", () => {
  const r = decodeResponse(encodeResponse(Op.FLASH_DEFL_DATA, 0, new Uint8Array([0xc1, 0x00])))!;
  const err = assertThrows(() => checkStatus(r, 0), DeviceError);
  assertEquals(err.stubError, 0xc1);
  assertEquals(err.message, "FLASH_DEFL_DATA failed: device status 0xc100 (bad data checksum)");
});

Deno.test("a reply shorter than data + status is a ProtocolError", () => {
  const r = decodeResponse(encodeResponse(Op.SPI_FLASH_MD5, 0, new Uint8Array(20)))!;
  assertThrows(() => checkStatus(r, 32), ProtocolError);
});

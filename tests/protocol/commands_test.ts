import { assertEquals } from "../assert.ts";
import {
  changeBaudrate,
  type CommandRequest,
  decodeMd5,
  decodeSecurityInfo,
  eraseFlash,
  eraseRegion,
  flashBegin,
  flashData,
  flashEnd,
  getSecurityInfo,
  memBegin,
  memData,
  memEnd,
  readFlash,
  readFlashAck,
  readFlashSlow,
  readReg,
  runUserCode,
  spiAttach,
  spiFlashMd5,
  spiSetParams,
  sync,
  writeReg,
} from "../../src/protocol/commands.ts";
import { DeviceError } from "../../src/protocol/errors.ts";
import { encodeCommand } from "../../src/protocol/packet.ts";
import { toHex } from "../../src/protocol/bytes.ts";

/** The whole packet as hex, with the reply's data length: what goes on the wire. */
const wire = (r: CommandRequest) => [toHex(encodeCommand(r.op, r.data, r.check)), r.replyData];

Deno.test("each encoder builds its command's exact packet", () => {
  const cases: [CommandRequest, string, number][] = [
    [sync(), "0008240000000000" + "07071220" + "55".repeat(32), 0],
    [readReg(0x3ff5a004), "000a04000000000004a0f53f", 0],
    [
      writeReg(0x60008000, 0x50d83aa1),
      "0009100000000000" + "00800060" + "a13ad850" + "ffffffff" + "00000000",
      0,
    ],
    [
      flashBegin({ size: 0x2000, blocks: 2, blockSize: 0x1000, offset: 0x10000 }),
      "0002100000000000" + "00200000" + "02000000" + "00100000" + "00000100",
      0,
    ],
    [
      flashBegin({ size: 0x2000, blocks: 2, blockSize: 0x4000, offset: 0, encryptedWord: true }),
      "0002140000000000" + "00200000" + "02000000" + "00400000" + "00000000" + "00000000",
      0,
    ],
    [
      flashBegin({
        size: 0x400,
        blocks: 1,
        blockSize: 0x400,
        offset: 0,
        compressed: true,
        encrypted: true,
      }),
      "0010140000000000" + "00040000" + "01000000" + "00040000" + "00000000" + "01000000",
      0,
    ],
    [
      flashData(1, new Uint8Array([0x12, 0x34, 0x56, 0x78])),
      "00031400e7000000" + "04000000" + "01000000" + "00000000" + "00000000" + "12345678",
      0,
    ],
    [
      flashData(0, new Uint8Array([0xff]), true),
      "0011110010000000" + "01000000" + "00000000" + "00000000" + "00000000" + "ff",
      0,
    ],
    [flashEnd(), "0004040000000000" + "01000000", 0],
    [flashEnd({ compressed: true, run: true }), "0012040000000000" + "00000000", 0],
    [
      memBegin({ size: 0x1900, blocks: 2, blockSize: 0x1800, offset: 0x40080000 }),
      "0005100000000000" + "00190000" + "02000000" + "00180000" + "00000840",
      0,
    ],
    [
      memData(2, new Uint8Array([1, 2])),
      "00071200ec000000" + "02000000" + "02000000" + "00000000" + "00000000" + "0102",
      0,
    ],
    [memEnd(0x4008_0400), "0006080000000000" + "00000000" + "00040840", 0],
    [memEnd(0), "0006080000000000" + "01000000" + "00000000", 0],
    [spiAttach("rom"), "000d080000000000" + "00000000" + "00000000", 0],
    [spiAttach("stub"), "000d040000000000" + "00000000", 0],
    [
      spiSetParams(4 << 20),
      "000b180000000000" + "00000000" + "00004000" + "00000100" + "00100000" + "00010000" +
      "ffff0000",
      0,
    ],
    [changeBaudrate(921600, 115200), "000f080000000000" + "00100e00" + "00c20100", 0],
    [
      spiFlashMd5(0x1000, 0x2000, "rom"),
      "0013100000000000" + "00100000" + "00200000" + "00000000" + "00000000",
      32,
    ],
    [
      spiFlashMd5(0, 0x1000, "stub"),
      "0013100000000000" + "00000000" + "00100000" + "0".repeat(16),
      16,
    ],
    [getSecurityInfo(), "0014000000000000", 0],
    [eraseFlash(), "00d0000000000000", 0],
    [eraseRegion(0x11000, 0x2000), "00d1080000000000" + "00100100" + "00200000", 0],
    [
      readFlash(0x100000, 0x1000),
      "00d2100000000000" + "00001000" + "00100000" + "00100000" + "40000000",
      0,
    ],
    [readFlashSlow(0x1040, 64), "000e080000000000" + "40100000" + "40000000", 64],
    [runUserCode(), "00d3000000000000", 0],
  ];
  for (const [r, hex, replyData] of cases) assertEquals(wire(r), [hex, replyData], hex);
  assertEquals(toHex(readFlashAck(0x2000)), "00200000");
});

Deno.test("replies with a body decode: MD5 from ROM and stub, security info of 20 and 12 bytes", () => {
  const digest = "0123456789abcdef0123456789abcdef";
  assertEquals(decodeMd5(new TextEncoder().encode(digest.toUpperCase())), digest);
  assertEquals(decodeMd5(Uint8Array.from(digest.match(/../g)!, (h) => parseInt(h, 16))), digest);

  const full = new Uint8Array(24); // 20 data bytes, 4 ROM status bytes
  full.set([0x04, 0, 0, 0, 0x03, 1, 2, 3, 4, 5, 6, 7, 13, 0, 0, 0, 2, 0, 0, 0]);
  assertEquals(decodeSecurityInfo(full), {
    flags: 4,
    flashCryptCnt: 3,
    keyPurposes: [1, 2, 3, 4, 5, 6, 7],
    chipId: 13,
    ecoVersion: 2,
  });
  const short = new Uint8Array(14); // ESP32-S2: 12 data bytes, 2 status bytes
  short.set([0x01, 0, 0, 0, 0x01]);
  assertEquals(decodeSecurityInfo(short), {
    flags: 1,
    flashCryptCnt: 1,
    keyPurposes: [0, 0, 0, 0, 0, 0, 0],
  });
  const failed = new Uint8Array(24);
  failed[20] = 1; // status: failure (a loader without the command)
  assertEquals(decodeSecurityInfo(failed), null);
  assertEquals(decodeSecurityInfo(new Uint8Array([1, 5, 0, 0])), null);
});

Deno.test("a data block refused for its checksum is named so, ROM and stub alike", () => {
  const flags = [0x0107, 0xc100, 0x0105, 0xc000, 0xc101].map((s) =>
    new DeviceError(0x03, s).badChecksum
  );
  assertEquals(flags, [true, true, false, false, false]);
});

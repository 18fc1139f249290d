/**
 * The flash as a chip, driven through the SPI controller's registers with
 * raw READ_REG / WRITE_REG frames, the way esptool's `run_spiflash_command`
 * does (address at the top of SPI_ADDR on the ESP32 and ESP8266, lengths in
 * USR1 on the ESP8266), extended to read up to 64 bytes from W0..W15:
 * JEDEC and SFDP bytes, status registers and their write protection, and
 * the state before the ROM attaches the flash.
 */
import { assertEquals } from "../assert.ts";
import { Bench, hexOf, md5hex, romBench, stubBench, uploadStub, words } from "./raw.ts";
import { NorFlash } from "../../src/emulator/flash.ts";
import { Op, SYNC_PAYLOAD } from "../../src/protocol/opcodes.ts";
import { readU32 } from "../../src/protocol/bytes.ts";

interface SpiOptions {
  data?: Uint8Array;
  readBytes?: number;
  addr?: number;
  addrLen?: number;
  dummy?: number;
}

/** One user command through the registers; returns the bytes read into W0... */
function spi(b: Bench, command: number, o: SpiOptions = {}): Uint8Array {
  const chip = b.device.chip;
  const s = chip.spi;
  const base = s.base;
  const w = (addr: number, v: number) => b.cmd(Op.WRITE_REG, words(addr, v >>> 0, 0xffffffff, 0));
  const r = (addr: number) => readU32(b.cmd(Op.READ_REG, words(addr))[0], 4);
  const data = o.data ?? new Uint8Array();
  const readBits = (o.readBytes ?? 0) * 8;
  const addrLen = o.addrLen ?? 0;
  const dummy = o.dummy ?? 0;
  let flags = 1 << 31;
  if (readBits) flags |= 1 << 28;
  if (data.length) flags |= 1 << 27;
  if (addrLen) flags |= 1 << 30;
  if (dummy) flags |= 1 << 29;
  const lengths = (dummy ? dummy - 1 : 0) | (addrLen ? (addrLen - 1) << 26 : 0);
  if (s.mosiDlen !== undefined) {
    if (data.length) w(base + s.mosiDlen, data.length * 8 - 1);
    if (readBits) w(base + s.misoDlen!, readBits - 1);
    if (lengths) w(base + s.usr1, lengths);
  } else {
    const miso = readBits ? readBits - 1 : 0;
    const mosi = data.length ? data.length * 8 - 1 : 0;
    w(base + s.usr1, lengths | (miso << 8) | (mosi << 17));
  }
  w(base + s.usr, flags);
  w(base + s.usr2, (7 << 28) | command);
  const msb = chip.name === "esp32" || chip.name === "esp8266";
  if (addrLen) w(base + 4, msb ? (o.addr ?? 0) * 2 ** (32 - addrLen) : o.addr ?? 0);
  if (data.length === 0) w(base + s.w0, 0);
  const padded = new Uint8Array(Math.ceil(data.length / 4) * 4);
  padded.set(data);
  for (let i = 0; i < padded.length; i += 4) w(base + s.w0 + i, readU32(padded, i));
  w(base, 1 << 18);
  assertEquals(r(base) & (1 << 18), 0);
  const out = new Uint8Array(Math.ceil((o.readBytes ?? 0) / 4) * 4);
  for (let i = 0; i < out.length; i += 4) {
    new DataView(out.buffer).setUint32(i, r(base + s.w0 + i), true);
  }
  return out.subarray(0, o.readBytes ?? 0);
}

const hx = (b: Uint8Array) => hexOf(b).replaceAll(" ", "");
const sfdp = (b: Bench) => {
  const parts = [0, 0x40, 0x80, 0xc0].map((a) =>
    spi(b, 0x5a, { addr: a, addrLen: 24, dummy: 8, readBytes: 64 })
  );
  return hx(new Uint8Array(parts.flatMap((p) => [...p])));
};
/** esptool's read_status: 05h, 35h, 15h, eight bits each. */
const status = (b: Bench) => [0x05, 0x35, 0x15].map((c) => spi(b, c, { readBytes: 1 })[0]);
/** esptool's write_status: WREN (non-volatile) or 50h, then each register, then WRDI. */
function writeStatus(b: Bench, value: number, nonVolatile = false) {
  const enable = nonVolatile ? 0x06 : 0x50;
  for (const [i, cmd] of [0x01, 0x31, 0x11].entries()) {
    spi(b, enable);
    spi(b, cmd, { data: new Uint8Array([(value >> (8 * i)) & 0xff]) });
  }
  spi(b, 0x04);
}

/** W25Q16JV's SFDP as dumped from a device (Project Cerberus test data), header and BFPT. */
const HEADER = "53464450050100ff00050110800000ff";
const BFPT_16JV =
  "e520f9ffffffff0044eb086b083b42bbfeffffffffff0000ffff40eb0c200f5210d800003602a60082ea14b3e96376337a757a75f7a2d55c19f74dffe930f880";
const BFPT_256JV =
  "e520fbffffffff0f44eb086b083b42bbfeffffffffff0000ffff40eb0c200f5210d800003602a60082ea14d3e96376337a757a75f7a2d55c19f74dffe970f9a5";
const layout = (bfpt: string) => HEADER + "ff".repeat(0x70) + bfpt + "ff".repeat(0x40);

Deno.test("SFDP: the W25Q..JV table, read through SPI1 on ESP32, C3, S3 and ESP8266", () => {
  // 2 MB and 32 MB are the W25Q16JV and W25Q256JV devices' own tables, byte for byte.
  assertEquals(sfdp(romBench({ chip: "esp32", flashSize: 2 << 20 })), layout(BFPT_16JV));
  assertEquals(sfdp(romBench({ chip: "esp32c3", flashSize: 32 << 20 })), layout(BFPT_256JV));
  // The 4 MB W25Q32JV: density 32 Mbit (DWORD 2 = 0x01FFFFFF), chip erase 12 s (0xC2).
  const w25q32 = layout(
    BFPT_16JV.replace("ffffff00", "ffffff01").replace("82ea14b3", "82ea14c2"),
  );
  for (const chip of ["esp32", "esp32c3", "esp32s3", "esp8266"] as const) {
    assertEquals(sfdp(romBench({ chip })), w25q32, chip);
  }
  // The SFDP space is 256 bytes: addresses wrap.
  const b = romBench({ chip: "esp32c6" });
  const wrapped = spi(b, 0x5a, { addr: 0x100, addrLen: 24, dummy: 8, readBytes: 8 });
  assertEquals(hx(wrapped), HEADER.slice(0, 16));
  // Without the 8 dummy clocks the host reads the flash's dummy byte first: one byte late.
  assertEquals(hx(spi(b, 0x5a, { addr: 0, addrLen: 24, readBytes: 4 })), "ff534644");
});

Deno.test("identity commands: JEDEC id (repeating), manufacturer/device id, release power-down, unique id", () => {
  const b = romBench({ chip: "esp32s3", seed: 7 });
  assertEquals(hx(spi(b, 0x9f, { readBytes: 6 })), "ef4016ef4016");
  assertEquals(hx(spi(b, 0x90, { addr: 0, addrLen: 24, readBytes: 4 })), "ef15ef15");
  assertEquals(hx(spi(b, 0x90, { addr: 1, addrLen: 24, readBytes: 2 })), "15ef");
  assertEquals(hx(spi(b, 0xab, { addr: 0, addrLen: 24, readBytes: 2 })), "1515");
  assertEquals(spi(b, 0x4b, { dummy: 32, readBytes: 8 }), b.device.flash.uniqueId);
  // Power-down: nothing answers but ABh.
  spi(b, 0xb9);
  assertEquals(hx(spi(b, 0x9f, { readBytes: 3 })), "ffffff");
  spi(b, 0xab, { addr: 0, addrLen: 24, readBytes: 1 });
  assertEquals(hx(spi(b, 0x9f, { readBytes: 3 })), "ef4016");
});

Deno.test("before SPI_ATTACH the flash does not answer: ESP32 reads ones, later chips zeros", () => {
  const esp32 = new Bench({ chip: "esp32" });
  esp32.cmd(Op.SYNC, SYNC_PAYLOAD);
  assertEquals(hx(spi(esp32, 0x9f, { readBytes: 3 })), "ffffff"); // esptool: id 0xffffff
  writeStatus(esp32, 0x1c, true); // nothing reaches the flash
  esp32.cmd(Op.SPI_ATTACH, words(0, 0));
  assertEquals(hx(spi(esp32, 0x9f, { readBytes: 3 })), "ef4016");
  assertEquals(status(esp32), [0x00, 0x02, 0x60]);
  for (const chip of ["esp32s2", "esp32c3", "esp32p4"] as const) {
    const b = new Bench({ chip });
    b.cmd(Op.SYNC, SYNC_PAYLOAD);
    assertEquals(hx(spi(b, 0x9f, { readBytes: 3 })), "000000", chip);
    b.cmd(Op.SPI_ATTACH, words(0, 0));
    assertEquals(hx(spi(b, 0x9f, { readBytes: 3 })), "ef4016", chip);
  }
  // The ESP8266's flash pins are dedicated: it answers at once.
  const e = new Bench({ chip: "esp8266" });
  e.cmd(Op.SYNC, SYNC_PAYLOAD);
  assertEquals(hx(spi(e, 0x9f, { readBytes: 3 })), "ef4016");
  // A stub attaches the flash when it starts.
  const s = new Bench({ chip: "esp32c3" });
  uploadStub(s);
  assertEquals([s.device.mode, hx(spi(s, 0x9f, { readBytes: 3 }))], ["stub", "ef4016"]);
});

Deno.test("status registers: esptool's write_status / read_status round trip, volatile and not", async () => {
  const b = romBench({ chip: "esp32c3" });
  assertEquals(status(b), [0x00, 0x02, 0x60]); // factory: QE set, drive strength 25 %
  // Volatile (50h): SR1 08 (BP1), SR2 02 (QE), SR3 20 (drive strength 50 %).
  writeStatus(b, 0x200208);
  assertEquals(status(b), [0x08, 0x02, 0x20]);
  // Writes need WREN or 50h: a bare WRSR is ignored.
  spi(b, 0x01, { data: new Uint8Array([0x1c]) });
  assertEquals(status(b)[0], 0x08);
  // WEL shows in SR1 bit 1 after WREN, and WRDI clears it.
  spi(b, 0x06);
  assertEquals(status(b)[0], 0x0a);
  spi(b, 0x04);
  assertEquals(status(b)[0], 0x08);
  // A chip reset leaves the flash powered: the volatile values stay.
  b.cmd(Op.FLASH_END, words(0)); // the ROM reboots into the app...
  b.device.setLines({ dtr: false, rts: true }); // ...and EN pulses into download mode
  b.device.setLines({ dtr: true, rts: false });
  await new Promise((r) => setTimeout(r, 20));
  b.cmd(Op.SYNC, SYNC_PAYLOAD);
  b.cmd(Op.SPI_ATTACH, words(0, 0));
  assertEquals(status(b), [0x08, 0x02, 0x20]);
  // A power cycle reloads the non-volatile values.
  b.device.powerCycle();
  b.cmd(Op.SYNC, SYNC_PAYLOAD);
  b.cmd(Op.SPI_ATTACH, words(0, 0));
  assertEquals(status(b), [0x00, 0x02, 0x60]);
  // Non-volatile (WREN): kept across power cycles.
  writeStatus(b, 0x600240, true);
  b.device.powerCycle();
  b.cmd(Op.SYNC, SYNC_PAYLOAD);
  b.cmd(Op.SPI_ATTACH, words(0, 0));
  assertEquals(status(b), [0x40, 0x02, 0x60]);
  assertEquals(b.device.flash.nonVolatileStatus(1), 0x40);
  // 01h with two bytes writes SR1 and SR2 at once.
  spi(b, 0x06);
  spi(b, 0x01, { data: new Uint8Array([0x00, 0x00]) });
  assertEquals(status(b).slice(0, 2), [0x00, 0x00]);
});

Deno.test("write protection: programs and erases of protected flash change nothing, ROM and stub", () => {
  // BP1 (top 1/32 of 4 MiB: 128 KiB from 0x3E0000), as a board might ship.
  const rom = romBench({ chip: "esp32c3", flashStatus: [0x08, 0x02, 0x60] });
  rom.device.flash.resetCounters();
  // (The ROM compares 8-bit XOR checksums: one zero byte in 0xFF differs from blank.)
  const block = new Uint8Array(0x400).fill(0xff);
  block[0] = 0;
  rom.cmd(Op.FLASH_BEGIN, words(0x400, 1, 0x400, 0x3f0000, 0));
  // The ROM reads back what it wrote: nothing was, so 0x08.
  assertEquals(hexOf(rom.data(Op.FLASH_DATA, 0, block)[0]).slice(-11), "01 08 00 00");
  assertEquals([rom.device.flash.touchedSectors(), rom.device.flash.data[0x3f0000]], [[], 0xff]);
  assertEquals(rom.device.flash.ops, {
    pagePrograms: 0,
    sectorErases: 0,
    blockErases: 0,
    chipErases: 0,
  });
  // Below the protected area all is well.
  rom.cmd(Op.FLASH_BEGIN, words(0x400, 1, 0x400, 0x3d0000, 0));
  assertEquals(hexOf(rom.data(Op.FLASH_DATA, 0, block)[0]).slice(-11), "00 00 00 00");
  assertEquals(rom.device.flash.touchedSectors(), [0x3d0]);
  // Clearing the bits (non-volatile, as `write-flash-status --non-volatile 0` does) unlocks it.
  writeStatus(rom, 0x600200, true);
  rom.cmd(Op.FLASH_BEGIN, words(0x400, 1, 0x400, 0x3f0000, 0));
  assertEquals(hexOf(rom.data(Op.FLASH_DATA, 0, block)[0]).slice(-11), "00 00 00 00");

  // The stub does not read back: every reply is fine, the MD5 tells.
  const stub = stubBench({ chip: "esp32c3", flashStatus: [0x24, 0x02, 0x60] }); // TB: bottom 64 KiB
  const image = new Uint8Array(0x1000).fill(0x33);
  stub.device.flash.data.fill(0x11, 0x8000, 0x9000); // not blank: the stub erases
  stub.cmd(Op.FLASH_BEGIN, words(0x1000, 1, 0x4000, 0x8000));
  assertEquals(hexOf(stub.data(Op.FLASH_DATA, 0, image)[0]).slice(-5), "00 00");
  assertEquals(hexOf(stub.cmd(Op.FLASH_END, words(1))[0]).slice(-5), "00 00");
  const md5 = stub.cmd(Op.SPI_FLASH_MD5, words(0x8000, 0x1000, 0, 0))[0];
  assertEquals(hx(md5.subarray(8, 24)), md5hex(new Uint8Array(0x1000).fill(0x11)));
  // A chip erase is refused while any block is protected.
  stub.device.flash.data[0x200000] = 0;
  assertEquals(hexOf(stub.cmd(Op.ERASE_FLASH)[0]).slice(-5), "00 00");
  assertEquals([stub.device.flash.data[0x200000], stub.device.flash.ops.chipErases], [0, 0]);
});

Deno.test("block protect bits select the areas of the W25Q32JV, W25Q128JV and W25Q256JV tables", () => {
  const range = (size: number, sr1: number, sr2 = 0) => {
    const f = new NorFlash(size, undefined, { status: [sr1, sr2, 0] });
    const prot = [];
    for (let a = 0; a < size; a += 0x1000) if (f.isProtected(a, 0x1000)) prot.push(a);
    return prot.length ? [prot[0], prot.at(-1)! + 0x1000] : [];
  };
  const M4 = 4 << 20;
  assertEquals(range(M4, 0x00), []);
  assertEquals(range(M4, 0x04), [0x3f0000, M4]); // BP0: upper 64 KiB
  assertEquals(range(M4, 0x08), [0x3e0000, M4]); // BP1: upper 128 KiB
  assertEquals(range(M4, 0x18), [0x200000, M4]); // BP2 BP1: upper half
  assertEquals(range(M4, 0x1c), [0, M4]); // all
  assertEquals(range(M4, 0x24), [0, 0x10000]); // TB BP0: lower 64 KiB
  assertEquals(range(M4, 0x44), [0x3ff000, M4]); // SEC BP0: upper 4 KiB
  assertEquals(range(M4, 0x54), [0x3f8000, M4]); // SEC BP2 BP0: upper 32 KiB
  assertEquals(range(M4, 0x64), [0, 0x1000]); // SEC TB BP0: lower 4 KiB
  assertEquals(range(M4, 0x04, 0x40), [0, 0x3f0000]); // CMP: all but the upper 64 KiB
  assertEquals(range(M4, 0x00, 0x40), [0, M4]);
  assertEquals(range(M4, 0x1c, 0x40), []);
  assertEquals(range(16 << 20, 0x04), [0xfc0000, 16 << 20]); // W25Q128JV: 1/64 is 256 KiB
  assertEquals(range(32 << 20, 0x04), [0x1ff0000, 32 << 20]); // W25Q256JV: BP0..BP3, 64 KiB
  assertEquals(range(32 << 20, 0x44), [0, 0x10000]); // its TB is bit 6
});

Deno.test("SRL locks the status registers until power-off; WPS gives individual block locks", () => {
  const b = romBench({ chip: "esp32s3" });
  writeStatus(b, 0x600302); // volatile SR2 = 03: SRL + QE
  writeStatus(b, 0x60021c, true);
  assertEquals(status(b), [0x00, 0x03, 0x60]);
  b.device.powerCycle();
  b.cmd(Op.SYNC, SYNC_PAYLOAD);
  b.cmd(Op.SPI_ATTACH, words(0, 0));
  assertEquals(status(b), [0x00, 0x02, 0x60]);
  // WPS = 1: every block locked at power-on; global unlock, then lock one block.
  const w = romBench({ chip: "esp32s3", flashStatus: [0x00, 0x02, 0x64] });
  const lock = (addr: number) => spi(w, 0x3d, { addr, addrLen: 24, readBytes: 1 })[0];
  assertEquals([lock(0), lock(0x200000), lock(0x3ff000)], [1, 1, 1]);
  spi(w, 0x06);
  spi(w, 0x98);
  assertEquals([lock(0), lock(0x200000)], [0, 0]);
  spi(w, 0x06);
  spi(w, 0x36, { addr: 0x210000, addrLen: 24 });
  assertEquals([lock(0x210000), lock(0x21f000), lock(0x220000)], [1, 1, 0]);
  assertEquals(w.device.flash.isProtected(0x210000, 0x1000), true);
  assertEquals(w.device.flash.isProtected(0x220000, 0x1000), false);
});

Deno.test("page program and sector erase through the registers need WREN, as on the part", () => {
  const b = romBench({ chip: "esp32c6", flash: new Uint8Array(0x2000) });
  spi(b, 0x20, { addr: 0x1000, addrLen: 24 }); // no WREN: ignored
  assertEquals(b.device.flash.data[0x1000], 0x00);
  spi(b, 0x06);
  spi(b, 0x20, { addr: 0x1000, addrLen: 24 });
  assertEquals(b.device.flash.data.subarray(0x1000, 0x2000).every((x) => x === 0xff), true);
  assertEquals(status(b)[0] & 0x02, 0); // the erase ended the latch
  spi(b, 0x02, { addr: 0x1010, addrLen: 24, data: new Uint8Array([1, 2, 3, 4]) });
  assertEquals(hx(b.device.flash.data.subarray(0x1010, 0x1014)), "ffffffff");
  spi(b, 0x06);
  spi(b, 0x02, { addr: 0x1010, addrLen: 24, data: new Uint8Array([1, 2, 3, 4]) });
  assertEquals(hx(spi(b, 0x03, { addr: 0x100f, addrLen: 24, readBytes: 6 })), "ff01020304ff");
  assertEquals(hx(spi(b, 0x0b, { addr: 0x1010, addrLen: 24, dummy: 8, readBytes: 4 })), "01020304");
});

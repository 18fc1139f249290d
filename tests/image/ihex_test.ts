/**
 * Intel HEX as Python's intelhex writes it for `esptool merge-bin --format
 * hex`: 16-byte data records, never across a 64 KiB page or a gap, a type 04
 * record before each page once any address passes 0xFFFF, then EOF. Expected
 * records are written out by hand below (checksums by the record rule: the
 * two's complement of the byte sum).
 */
import { parseIntelHex, writeIntelHex } from "../../src/image/ihex.ts";
import { ImageError } from "../../src/image/errors.ts";
import { assertEquals, assertThrows } from "../assert.ts";

const seq = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

Deno.test("records: 16 bytes each, broken at a 64 KiB page, with a page record per page", () => {
  const hex = writeIntelHex([{ address: 0xfff8, data: seq(24) }]);
  assertEquals(hex.split("\n"), [
    ":020000040000FA",
    ":08FFF8000001020304050607E5",
    ":020000040001F9",
    ":1000000008090A0B0C0D0E0F1011121314151617F8",
    ":00000001FF",
    "",
  ]);
});

Deno.test("small images need no page records; gaps stay gaps", () => {
  const hex = writeIntelHex([
    { address: 0x20, data: seq(2, 0xaa) },
    { address: 0x0, data: seq(17) },
  ]);
  assertEquals(hex.split("\n"), [
    ":10000000000102030405060708090A0B0C0D0E0F78",
    ":0100100010DF",
    ":02002000AAAB89",
    ":00000001FF",
    "",
  ]);
});

Deno.test("real images round-trip: bootloader, table and app at their offsets", () => {
  const fw = new URL("../../testdata/firmware/", import.meta.url);
  const chunks = [
    { address: 0x1000, data: Deno.readFileSync(new URL("bootloader_esp32.bin", fw)) },
    { address: 0x8000, data: Deno.readFileSync(new URL("partitions_singleapp.bin", fw)) },
    { address: 0x10000, data: Deno.readFileSync(new URL("hello-world-signed_esp32.bin", fw)) },
  ];
  const back = parseIntelHex(writeIntelHex(chunks));
  assertEquals(back, chunks);
});

Deno.test("bad Intel HEX: checksum, length, type, no EOF, overlap: one-line errors", () => {
  const bad = (text: string) => assertThrows(() => parseIntelHex(text, "x.hex"), ImageError);
  assertEquals(bad(":0100100010DE\n:00000001FF\n").message, "x.hex line 1: checksum mismatch");
  assertEquals(
    bad(":0200100010DE\n").message,
    "x.hex line 1: the record's length byte says 2 bytes",
  );
  assertEquals(bad(":00000006FA\n").message, "x.hex line 1: unknown record type 6");
  assertEquals(bad(":0100100010DF\n").message, "x.hex has no end-of-file record");
  assertEquals(bad("hello\n").message, "x.hex line 1: not an Intel HEX record");
  assertEquals(
    bad(":0100100010DF\n:0100100010DF\n:00000001FF\n").message,
    "x.hex: two records both hold address 0x10",
  );
  assertEquals(
    assertThrows(
      () => writeIntelHex([{ address: 0, data: seq(4) }, { address: 2, data: seq(4) }]),
      ImageError,
    )
      .message,
    "Intel HEX: data at 0x2 overlaps the data before it",
  );
});

/**
 * The ELF reader against real files: Espressif's test ELFs (DWARF 2 line
 * tables, Xtensa and RISC-V) and two small ones of our own (DWARF 4 and 5).
 * Every expected name and line below is what GNU addr2line 2.40 printed for
 * the same address (`addr2line -f -e FILE ADDR`), except where a comment says
 * how espdelta answers differently and why.
 */
import { ElfError, parseElf } from "../../src/image/elf.ts";
import { assertEquals, assertThrows } from "../assert.ts";

const ELF = new URL("../../testdata/firmware/elf/", import.meta.url);
const OWN = new URL("../../testdata/elf/", import.meta.url);
const read = (dir: URL, name: string) => parseElf(Deno.readFileSync(new URL(name, dir)), name);

Deno.test("Xtensa ELF with DWARF 2: function names and file:line as addr2line gives them", () => {
  const elf = read(ELF, "esp32-zephyr.elf");
  assertEquals([elf.machine, elf.hasLines, elf.entry.toString(16)], ["xtensa", true, "400807f8"]);
  assertEquals(elf.lookup(0x400811a4), {
    address: 0x400811a4,
    symbol: "cbvprintf",
    offset: 0x400811a4 - 0x40080f54, // cbvprintf starts at 0x40080f54 (readelf -s)
    source: { file: "/home/esteban/Dev/zephyr/zephyr/lib/os/cbprintf_complete.c", line: 1556 },
  });
  // addr2line names the inlined callee (extract_decimal, bbpll_configure) from
  // .debug_info; espdelta names the function the code sits in, from the symbol table.
  assertEquals(elf.lookup(0x40080cfb).source, {
    file: "/home/esteban/Dev/zephyr/zephyr/lib/os/cbprintf_complete.c",
    line: 278,
  });
  assertEquals(elf.lookup(0x4008166c).source?.line, 142);
  assertEquals(elf.isCode(0x400811a4), true);
  assertEquals(elf.isCode(0x3ffb0000), false);
});

Deno.test("symbols without line info, and code between symbols takes the one before", () => {
  const elf = read(ELF, "esp8266-nonossdkv20-at-v2.elf");
  assertEquals(elf.lookup(0x401003d0), {
    address: 0x401003d0,
    symbol: "wdt_feed",
    offset: 8,
  });
  const c6 = read(ELF, "esp32c6-appdesc.elf");
  assertEquals([c6.machine, c6.hasLines], ["riscv", false]);
  assertEquals(c6.symbols, [{
    name: "my_app_desc",
    address: 0x42000020,
    size: 256,
    kind: "object",
  }]);
});

Deno.test("DWARF 5 and DWARF 4 line tables", () => {
  const v5 = read(OWN, "panic-dwarf5.elf");
  assertEquals(
    [0x08049000, 0x0804900a, 0x0804901a, 0x0804903c].map((a) => {
      const r = v5.lookup(a);
      return `${r.symbol} ${r.source?.file}:${r.source?.line}`;
    }),
    [
      "divide /build/panic/panic.c:5",
      "compute /build/panic/panic.c:9",
      "compute /build/panic/panic.c:10",
      "app_main /build/panic/panic.c:18",
    ],
  );
  // Before DWARF 5 the compilation directory is named only in .debug_info,
  // which espdelta does not read: the file comes without it.
  const v4 = read(OWN, "panic-dwarf4.elf");
  assertEquals(v4.lookup(0x0804900a).source, { file: "panic.c", line: 9 });
});

Deno.test("not an ELF, a 64-bit ELF, a cut-short ELF: one-line errors", () => {
  const e1 = assertThrows(() => parseElf(new Uint8Array(64), "app.bin"), ElfError);
  assertEquals([e1.code, e1.message], [
    "BAD_ELF",
    "app.bin is not an ELF file (no \\x7fELF magic)",
  ]);
  const elf64 = new Uint8Array(64);
  elf64.set([0x7f, 0x45, 0x4c, 0x46, 2, 1]);
  assertEquals(
    assertThrows(() => parseElf(elf64, "x.elf"), ElfError).message,
    "x.elf is not a 32-bit little-endian ELF file (Espressif chips use that)",
  );
  const whole = Deno.readFileSync(new URL("panic-dwarf5.elf", OWN));
  assertEquals(
    assertThrows(() => parseElf(whole.subarray(0, 4000), "cut.elf"), ElfError).message,
    "cut.elf is cut short (in the section headers)",
  );
});

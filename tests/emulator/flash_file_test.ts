/**
 * `emulate --flash-file`: the flash is kept like NOR flash across power
 * cuts. Every erase and page program is in FILE the moment it happens (a
 * process killed with SIGKILL loses nothing), and FILE.counters.json counts
 * each sector's erases and programs across every process that served it.
 */
import { assertEquals, assertOk, assertThrows } from "../assert.ts";
import { NorFlash } from "../../src/emulator/flash.ts";
import {
  countersPath,
  FlashFile,
  FlashFileError,
  readCounters,
} from "../../src/emulator/flash_file.ts";
import { freePort, startEmulator } from "../cli/processes.ts";
import { espdelta } from "../cli/run.ts";

const SIZE = 0x10000;

Deno.test("FlashFile: erases and programs are in the file at once; counters add up across opens", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/flash.bin`;
  try {
    const first = FlashFile.open(file, SIZE);
    assertEquals(first.contents, new Uint8Array(SIZE).fill(0xff));
    const flash = new NorFlash(SIZE, first.contents);
    first.attach(flash);
    flash.eraseBlock(0);
    flash.write(0x3000, new Uint8Array(0x200).fill(0x5a)); // two pages of sector 3
    // Read while the writer still has the files open, as after a SIGKILL.
    const bytes = await Deno.readFile(file);
    assertEquals(
      bytes.subarray(0x3000, 0x3201),
      new Uint8Array([...Array(0x200).fill(0x5a), 0xff]),
    );
    const c = readCounters(file);
    assertEquals([c.sectors, c.erases, c.writes.slice(0, 5)], [16, Array(16).fill(1), [
      0,
      0,
      0,
      2,
      0,
    ]]);
    // Every number is ten characters wide: one in-place write per update.
    assertOk((await Deno.readTextFile(countersPath(file))).includes('"erases":[         1,'));
    first.close();

    const second = FlashFile.open(file, SIZE);
    const again = new NorFlash(SIZE, second.contents);
    second.attach(again);
    assertEquals(again.sectorWrites[3], 2);
    again.eraseSector(3);
    second.close();
    const after = readCounters(file);
    assertEquals([after.erases[3], after.writes[3], after.erases[4]], [2, 2, 1]);
    assertEquals(
      (await Deno.readFile(file)).subarray(0x3000, 0x3010),
      new Uint8Array(16).fill(0xff),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FlashFile: a file of another size, or counters of another flash, are refused in one line", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/flash.bin`;
  try {
    await Deno.writeFile(file, new Uint8Array(0x8000));
    assertEquals(
      assertThrows(() => FlashFile.open(file, SIZE), FlashFileError).message,
      `${file} holds 32768 bytes but the flash is 65536; use --flash-size 32768 or another file`,
    );
    FlashFile.open(file, 0x8000).close();
    await Deno.writeFile(file, new Uint8Array(SIZE));
    assertEquals(
      assertThrows(() => FlashFile.open(file, SIZE), FlashFileError).message,
      `${file}.counters.json counts 8 sectors but the flash has 16; delete it to count afresh`,
    );
    const r = await espdelta(["emulate", "--pty", "--flash-size", "64K", "--flash-file", file]);
    assertEquals([r.code, r.stderr], [
      2,
      `error: ${file}.counters.json counts 8 sectors but the flash has 16; delete it to count afresh\n`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("emulate --flash-file killed with SIGKILL right after a flash: the file holds it, the next emulator serves it", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/flash.bin`;
  const app = new URL("../../testdata/firmware/hello-world-signed_esp32.bin", import.meta.url)
    .pathname;
  const image = await Deno.readFile(app);
  const args = ["--tcp", `127.0.0.1:${freePort()}`, "--flash-file", file];
  let emu = await startEmulator("esp32", args);
  try {
    const r = await espdelta(["-p", emu.url, "flash", "0x10000", app]);
    assertEquals(r.code, 0, r.stderr);
    await emu.killHard();
    assertEquals((await Deno.readFile(file)).subarray(0x10000, 0x10000 + image.length), image);
    const c = readCounters(file);
    const touched = [...Array(c.sectors).keys()].filter((s) => c.erases[s] || c.writes[s]);
    const appSectors = Math.ceil(image.length / 0x1000);
    assertEquals(touched, [...Array(appSectors).keys()].map((i) => 0x10 + i));
    emu = await startEmulator("esp32", args);
    const verify = await espdelta(["-p", emu.url, "verify-flash", "0x10000", app]);
    assertEquals(verify.code, 0, verify.stderr);
  } finally {
    await emu.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

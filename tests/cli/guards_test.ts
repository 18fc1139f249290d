/**
 * Nothing is written unless the whole run can succeed (issue 15, item 1):
 * partition fit, binary tables under the CSV rules, --encrypt on a chip
 * whose flash encryption is off, and output paths checked before a read.
 * Each case runs the CLI as a subprocess; the virtual device's sector
 * counters prove the flash untouched.
 */
import { assertEquals } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { writePartitionTable } from "../../src/image/partitions.ts";
import { espdelta } from "./run.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url).pathname;
const APP = `${FW}hello-world-signed_esp32.bin`; // 192 KiB

async function withDevice(
  fn: (url: string, device: VirtualDevice, dir: string) => Promise<void>,
  chip: "esp32" | "esp32c3" = "esp32",
) {
  const device = new VirtualDevice({ chip });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const dir = await Deno.makeTempDir();
  try {
    await fn(`socket://127.0.0.1:${server.port}`, device, dir);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A port nothing listens on: a check that ran after connecting would fail there first. */
const DEAD = "socket://127.0.0.1:9";

const entry = (name: string, type: number, subtype: number, offset: number, size: number) => ({
  name,
  type,
  subtype,
  offset,
  size,
  encrypted: false,
  readonly: false,
});

Deno.test("an app larger than its partition is refused naming both partitions, before connecting", async () => {
  await withDevice(async (url, device, dir) => {
    await Deno.writeTextFile(
      `${dir}/partitions.csv`,
      "factory, app, factory, 0x10000, 64K\nnvs, data, nvs, 0x20000, 0x6000\n",
    );
    const r = await espdelta([
      "-p",
      url,
      "flash",
      "0x8000",
      `${dir}/partitions.csv`,
      "0x10000",
      APP,
    ]);
    assertEquals(r.code, 2);
    assertEquals(
      r.stderr,
      `error: factory at 0x10000 (${APP}): 192 KiB does not fit partition factory (64 KiB at ` +
        "0x10000): it would overwrite partition nvs (24 KiB at 0x20000); check the offset, or " +
        "give factory more room in the partition table\n",
    );
    // The same with the binary table, and through write-flash.
    const bin = `${dir}/partitions.bin`;
    await Deno.writeFile(
      bin,
      writePartitionTable([
        entry("factory", 0, 0, 0x10000, 0x10000),
        entry("nvs", 1, 2, 0x20000, 0x6000),
      ]),
    );
    const w = await espdelta(["-p", url, "write-flash", "0x8000", bin, "0x10000", APP]);
    assertEquals(w.code, 2);
    assertEquals(
      w.stderr,
      `error: factory at 0x10000 (${APP}): 192 KiB does not fit partition factory (64 KiB at ` +
        "0x10000): it would overwrite partition nvs (24 KiB at 0x20000); check the offset, or " +
        "give factory more room in the partition table\n",
    );
    // Past the last partition, into flash no partition holds.
    await Deno.writeTextFile(
      `${dir}/last.csv`,
      "nvs, data, nvs, 0x9000, 0x6000\nfactory, app, factory, 0x10000, 64K\n",
    );
    const l = await espdelta(["-p", DEAD, "flash", "0x8000", `${dir}/last.csv`, "0x10000", APP]);
    assertEquals(
      [l.code, l.stderr],
      [
        2,
        `error: factory at 0x10000 (${APP}): 192 KiB does not fit partition factory (64 KiB at ` +
        "0x10000): it would run 128 KiB past its end, outside every partition; check the " +
        "offset, or give factory more room in the partition table\n",
      ],
    );
    assertEquals(device.flash.touchedSectors(), []);
    assertEquals(device.commandLog.length, 0);
  });
});

Deno.test("binary partition tables get the CSV rules: overlapping or unaligned entries are refused", async () => {
  await withDevice(async (_url, _device, dir) => {
    const overlap = `${dir}/overlap.bin`;
    await Deno.writeFile(
      overlap,
      writePartitionTable([
        entry("nvs", 1, 2, 0x9000, 0x6000),
        entry("factory", 0, 0, 0x10000, 0x100000),
        entry("storage", 1, 0x82, 0x80000, 0x10000),
      ]),
    );
    const o = await espdelta(["-p", DEAD, "flash", "0x8000", overlap, "0x10000", APP]);
    assertEquals([o.code, o.stderr], [
      2,
      `error: partition-table at 0x8000 (${overlap}): not a valid partition table (Partition ` +
      "at 0x80000 overlaps 0x10000-0x10ffff); rebuild it\n",
    ]);
    const unaligned = `${dir}/unaligned.bin`;
    await Deno.writeFile(
      unaligned,
      writePartitionTable([
        entry("nvs", 1, 2, 0x9000, 0x6000),
        entry("factory", 0, 0, 0x18000, 0x100000),
      ]),
    );
    const u = await espdelta(["-p", DEAD, "write-flash", "0x8000", unaligned]);
    assertEquals([u.code, u.stderr], [
      2,
      `error: partition-table at 0x8000 (${unaligned}): not a valid partition table (Partition ` +
      "factory invalid: Offset 0x18000 is not aligned to 0x10000); rebuild it\n",
    ]);
    // The same table as CSV: the same rule, in the CSV's words.
    await Deno.writeTextFile(
      `${dir}/unaligned.csv`,
      "nvs, data, nvs, 0x9000, 0x6000\nfactory, app, factory, 0x18000, 1M\n",
    );
    const c = await espdelta(["-p", DEAD, "flash", "0x8000", `${dir}/unaligned.csv`]);
    assertEquals([c.code, c.stderr], [
      2,
      `error: ${dir}/unaligned.csv: line 2: Partition factory invalid: Offset 0x18000 is not ` +
      "aligned to 0x10000; fix the CSV\n",
    ]);
  });
});

Deno.test("--encrypt on a chip whose flash encryption is off is refused before any write", async () => {
  await withDevice(async (url, device) => {
    for (const command of ["flash", "write-flash"]) {
      // A fixed rate: --baud auto's link check sends a FLASH_BEGIN of 0 bytes (it writes
      // nothing), which would blur the command count below.
      const r = await espdelta(["-p", url, "-b", "921600", command, "--encrypt", "0x10000", APP]);
      assertEquals(r.code, 2, r.stderr);
      assertEquals(
        r.stderr,
        "error: --encrypt: flash encryption is off on this ESP32 (FLASH_CRYPT_CNT 0x0): the chip " +
          "would store ciphertext it never decrypts at boot, and the board would not start; " +
          "leave --encrypt out, or enable flash encryption first\n",
      );
    }
    assertEquals(device.flash.touchedSectors(), []);
    const counts = device.commandCounts();
    for (const op of ["FLASH_BEGIN", "FLASH_DEFL_BEGIN", "ERASE_REGION"]) {
      assertEquals(counts[op], undefined, op);
    }
  });
});

Deno.test("read-flash and merge-bin check their output path before reading anything", async () => {
  const r = await espdelta(["-p", DEAD, "read-flash", "0", "ALL", "/missing/dir/x.bin"]);
  assertEquals([r.code, r.stderr], [
    2,
    "error: cannot write /missing/dir/x.bin: folder /missing/dir does not exist; create it or " +
    "pick another path\n",
  ]);
  // /sys refuses new files even to root.
  const s = await espdelta(["-p", DEAD, "read-flash", "0", "0x1000", "/sys/backup.bin"]);
  assertEquals([s.code, s.stderr], [
    2,
    "error: cannot write /sys/backup.bin: permission denied in folder /sys; pick another path\n",
  ]);
  const dir = await Deno.makeTempDir();
  const d = await espdelta(["-p", DEAD, "read-flash", "0", "0x1000", dir]);
  assertEquals([d.code, d.stderr], [
    2,
    `error: cannot write ${dir}: it is a folder; give a file name in it\n`,
  ]);
  await Deno.remove(dir);
  const m = await espdelta([
    "merge-bin",
    "-o",
    "/missing/dir/x.bin",
    "0x1000",
    "/missing/boot.bin",
  ]);
  assertEquals([m.code, m.stderr], [
    2,
    "error: cannot write /missing/dir/x.bin: folder /missing/dir does not exist; create it or " +
    "pick another path\n",
  ]);
});

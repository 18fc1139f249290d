/**
 * Real successive builds (testdata/rebuilds) on the virtual device: what the
 * planner asks, what it writes, and what the flash sees, counted exactly.
 */
import { assertEquals, assertOk } from "../assert.ts";
import { randomBytes } from "../rand.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { knownStub } from "../../src/emulator/known_stubs.ts";
import { memoryPort } from "../../src/emulator/memory.ts";
import { SimClock, timedLink } from "../../src/emulator/timing.ts";
import { connect } from "../../src/loader/loader.ts";
import type { StubImage } from "../../src/loader/stub.ts";
import type { ChipName } from "../../src/chips/chips.ts";
import { planFlash } from "../../src/plan/planner.ts";
import { executePlan } from "../../src/plan/execute.ts";
import { costParams, md5Ms } from "../../src/plan/cost.ts";
import type { Plan, Region } from "../../src/plan/types.ts";

const REBUILDS = new URL("../../testdata/rebuilds/", import.meta.url);
const MiB = 1 << 20;
const SECTOR = 0x1000;

/**
 * A synthetic RAM program, registered with the virtual device as a legacy
 * flasher stub, loaded where `chip` has RAM (the loader refuses a stub
 * outside it).
 */
function stubFor(chip: ChipName): StubImage {
  const [text, data] = chip === "esp32s3" ? [0x4037_8000, 0x3fcb_0000] : [0x4009_0000, 0x3ffe_0000];
  return {
    entry: text,
    text: randomBytes(0x2000, 7),
    textStart: text,
    data: randomBytes(0x300, 8),
    dataStart: data,
  };
}

const read = (path: string) => Deno.readFile(new URL(path, REBUILDS));

/** lidar-esp32's real ESP-IDF build folder (app-v5) and the app built before it. */
async function lidar() {
  const build = "lidar-esp32/build/";
  const regions: Region[] = [
    {
      name: "bootloader",
      offset: 0x1000,
      data: await read(`${build}bootloader/bootloader.bin`),
      kind: "bootloader",
    },
    {
      name: "partition-table",
      offset: 0x8000,
      data: await read(`${build}partition_table/partition-table.bin`),
      kind: "partition-table",
    },
    { name: "factory", offset: 0x10000, data: await read(`${build}app-template.bin`), kind: "app" },
  ];
  return { regions, old: await read("lidar-esp32/app-v4.bin") };
}

async function session(chip: ChipName, regions: Region[], oldApp: Uint8Array) {
  const flash = new Uint8Array(4 * MiB).fill(0xff);
  for (const r of regions) flash.set(r.data, r.offset);
  flash.fill(
    0xff,
    0x10000,
    0x10000 + Math.max(oldApp.length, regions[regions.length - 1].data.length),
  );
  flash.set(oldApp, 0x10000);
  const device = new VirtualDevice({
    chip,
    flashSize: flash.length,
    flash,
    knownStubs: [knownStub(stubFor(chip), chip, "legacy")],
  });
  const port = memoryPort(device);
  const loader = await connect(port, { stub: stubFor(chip) });
  device.flash.resetCounters();
  const before = device.commandCounts();
  const since = (op: string) => (device.commandCounts()[op] ?? 0) - (before[op] ?? 0);
  return {
    device,
    loader,
    since,
    close: async () => {
      await loader.close();
      await port.close();
    },
  };
}

const steps = (plan: Plan) =>
  plan.steps.map((s) => [s.action, s.offset, s.sectors, s.reason, s.blankHeader ?? false]);

Deno.test("lidar v4 -> v5 (158 of 161 sectors differ): planning costs less than one MD5 of the app, and the write is --full's", async () => {
  const { regions, old } = await lidar();
  const app = regions[2].data;
  assertEquals([app.length, old.length], [657_424, 656_704]);
  for (const full of [false, true]) {
    const s = await session("esp32", regions, old);
    try {
      const plan = await planFlash(s.loader, regions, { flashSize: 4 * MiB, baud: 921600, full });
      const p = costParams(921600, true);
      if (!full) {
        assertEquals(plan.regions.map((r) => r.status), ["match", "match", "write"]);
        // The header sector, then parts until one MD5 of the app is spent: nothing came
        // back clean, so nothing is bisected and the rest is written without asking.
        const [boot, table] = [regions[0].data.length, regions[1].data.length];
        assertEquals(s.since("SPI_FLASH_MD5"), 1 + 1 + 1 + 13);
        assertEquals(plan.probe.bytesHashed, boot + table + 507_904);
        assertOk(507_904 <= app.length);
        assertOk(plan.probe.ms <= md5Ms(p, boot) + md5Ms(p, table) + md5Ms(p, app.length));
      } else {
        assertEquals(s.since("SPI_FLASH_MD5"), 0);
      }
      assertEquals(plan.regions[2].ranges, [[0, 161]]);
      // The whole app in one write with its header sector blank, then the header: one
      // BEGIN/END more than a plain write, and block erases kept.
      assertEquals(steps(plan).slice(-2), [
        ["write", 0x10000, 161, full ? "forced-full" : "range-differs", true],
        ["write", 0x10000, 1, "header-last", false],
      ]);
      await executePlan(s.loader, plan, regions);
      const d = s.device.flash;
      // --full also writes the bootloader (7 sectors) and the partition table (1).
      const written = full ? 7 + 1 + 161 : 161;
      assertEquals(s.since("FLASH_DEFL_BEGIN"), full ? 4 : 2);
      // 10 whole blocks of the app erased with one block erase each; its last, partial
      // block sector by sector; the header sector once more for the header-last step.
      assertEquals(d.ops.blockErases, 10);
      assertEquals(d.ops.sectorErases, (full ? 7 + 1 : 0) + 1 + 1);
      assertEquals(d.touchedSectors().length, written);
      assertEquals(d.data.subarray(0x10000, 0x10000 + app.length), app);
    } finally {
      await s.close();
    }
  }
});

Deno.test("meshcore v1 -> v2 (a rebuild without code changes, ESP32-S3): the three sectors that differ, and nothing else", async () => {
  const old = await read("meshcore-esp32s3/app-v1.bin");
  const app = await read("meshcore-esp32s3/app-v2.bin");
  const regions: Region[] = [{ name: "factory", offset: 0x10000, data: app, kind: "app" }];
  const s = await session("esp32s3", regions, old);
  try {
    const plan = await planFlash(s.loader, regions, { flashSize: 4 * MiB, baud: 921600 });
    assertEquals(plan.regions[0].ranges, [[0, 1], [89, 1], [310, 1]]);
    assertEquals(s.since("SPI_FLASH_MD5"), 26);
    assertEquals(plan.probe.bytesHashed, 1_512_528);
    assertOk(plan.probe.bytesHashed <= 1.3 * app.length);
    assertEquals(steps(plan), [
      ["erase", 0x10000, 1, "header-invalidate", false],
      ["write", 0x10000 + 89 * SECTOR, 1, "sectors-differ", false],
      ["write", 0x10000 + 310 * SECTOR, 1, "sectors-differ", false],
      ["write", 0x10000, 1, "header-last", false],
    ]);
    await executePlan(s.loader, plan, regions);
    assertEquals(s.device.flash.touchedSectors(), [0x10, 0x10 + 89, 0x10 + 310]);
    assertEquals(s.device.flash.data.subarray(0x10000, 0x10000 + app.length), app);
  } finally {
    await s.close();
  }
});

/**
 * Runs `regions` onto a device holding `oldApp`, with the cable pulled after
 * `dropAfter` bytes of the execution, and returns the flash afterwards.
 */
async function interrupted(
  chip: ChipName,
  regions: Region[],
  oldApp: Uint8Array,
  dropAfter: number | undefined,
) {
  const flash = new Uint8Array(4 * MiB).fill(0xff);
  for (const r of regions) flash.set(r.data, r.offset);
  flash.fill(0xff, 0x10000, 0x10000 + 0x100000);
  flash.set(oldApp, 0x10000);
  const clock = new SimClock();
  const device = new VirtualDevice({
    chip,
    flashSize: flash.length,
    flash,
    clock,
    knownStubs: [knownStub(stubFor(chip), chip, "legacy")],
  });
  const { port, stats } = timedLink(device, clock);
  const loader = await connect(port, { clock, baud: 921600, stub: stubFor(chip) });
  const plan = await planFlash(loader, regions, { flashSize: flash.length, baud: 921600 });
  device.flash.resetCounters();
  const sent = stats.bytesToDevice;
  if (dropAfter !== undefined) device.injectFaults({ dropAfterBytes: dropAfter });
  let error: string | undefined;
  try {
    await executePlan(loader, plan, regions);
  } catch (e) {
    error = (e as Error).message;
  }
  await port.close();
  return { device, plan, error, executionBytes: stats.bytesToDevice - sent };
}

Deno.test("an app's header is never valid in front of a half-written app: the cable pulled at every 16 KiB of a rebuild", async () => {
  const { regions, old } = await lidar();
  const app = regions[2].data;
  const whole = await interrupted("esp32", regions, old, undefined);
  assertEquals(whole.error, undefined);
  const total = whole.executionBytes;
  const seen = { old: 0, blank: 0, new: 0 };
  const cuts = [...Array(Math.floor(total / 0x4000) + 1).keys()].map((i) => i * 0x4000);
  // And in the verification at the end, after the header went in.
  for (const k of [...cuts, total - 1]) {
    const r = await interrupted("esp32", regions, old, k);
    const f = r.device.flash;
    const on = f.data.subarray(0x10000, 0x10000 + app.length);
    const isOld = on.subarray(0, old.length).every((b, i) => b === old[i]);
    const isNew = on.every((b, i) => b === app[i]);
    if (f.data[0x10000] === 0xe9) {
      assertOk(
        isOld || isNew,
        `cable pulled after ${k} bytes: a valid header on a half-written app`,
      );
      if (isOld) seen.old++;
      else seen.new++;
    } else {
      assertEquals(f.data.subarray(0x10000, 0x11000), new Uint8Array(SECTOR).fill(0xff));
      seen.blank++;
      // The first 64 KiB block went with one block erase, before anything was programmed.
      assertEquals([f.ops.blockErases > 0, f.sectorErases[0x10]], [true, 1], `after ${k} bytes`);
    }
  }
  // Pulled within the first data block, the old app is whole (the stub erases as data
  // arrives); during the write the header sector is blank; the last pull comes after the
  // header went in.
  assertEquals(seen, { old: 2, blank: 24, new: 1 });
});

import { assertEquals, assertOk, assertRejects } from "../assert.ts";
import { firmwareLike, randomBytes, rng } from "../rand.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { knownStub } from "../../src/emulator/known_stubs.ts";
import { memoryPort } from "../../src/emulator/memory.ts";
import { connect } from "../../src/loader/loader.ts";
import { planFlash, summarizePlan } from "../../src/plan/planner.ts";
import { executePlan } from "../../src/plan/execute.ts";
import { RegionError } from "../../src/plan/validate.ts";
import { costParams, md5Ms } from "../../src/plan/cost.ts";
import type { Region } from "../../src/plan/types.ts";
import type { ChipName } from "../../src/chips/chips.ts";
import type { StubImage } from "../../src/loader/stub.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url);
const MiB = 1024 * 1024;
const SECTOR = 0x1000;

/** ESP32 layout: bootloader, partition table, 1 MiB app; NVS at 0x9000 is not flashed. */
async function layout(appSeed = 1): Promise<Region[]> {
  const app = new Uint8Array(MiB);
  app.set(firmwareLike(MiB, appSeed));
  // A real app header in front, so the app looks like one.
  app.set((await Deno.readFile(new URL("hello-world-signed_esp32.bin", FW))).subarray(0, 0x1000));
  return [
    {
      name: "bootloader",
      offset: 0x1000,
      data: await Deno.readFile(new URL("bootloader_esp32.bin", FW)),
      kind: "bootloader",
    },
    {
      name: "partition-table",
      offset: 0x8000,
      data: await Deno.readFile(new URL("partitions_singleapp.bin", FW)),
      kind: "partition-table",
    },
    { name: "factory", offset: 0x10000, data: app, kind: "app" },
  ];
}

/** Flash image holding `regions` plus an NVS area of other data at 0x9000. */
function flashWith(regions: Region[], size = 4 * MiB): Uint8Array {
  const flash = new Uint8Array(size).fill(0xff);
  for (const r of regions) flash.set(r.data, r.offset);
  flash.set(randomBytes(0x6000, 99), 0x9000);
  return flash;
}

/** A synthetic RAM program, registered with the device as a legacy stub. */
const STUB: StubImage = {
  entry: 0x4009_0000,
  text: randomBytes(0x2000, 7),
  textStart: 0x4009_0000,
  data: randomBytes(0x300, 8),
  dataStart: 0x3ffe_0000,
};

async function session(chip: ChipName, flash: Uint8Array, stub = false) {
  // The device runs this program as the legacy stub (known_stubs.ts: it knows only real stubs).
  const knownStubs = [knownStub(STUB, chip, "legacy")];
  const device = new VirtualDevice({ chip, flashSize: flash.length, flash, knownStubs });
  const port = memoryPort(device);
  const loader = await connect(port, { stub: stub ? STUB : false });
  device.flash.resetCounters();
  const before = device.commandCounts()["SPI_FLASH_MD5"] ?? 0;
  return {
    device,
    loader,
    md5Count: () => (device.commandCounts()["SPI_FLASH_MD5"] ?? 0) - before,
    close: async () => {
      await loader.close();
      await port.close();
    },
  };
}

/** Absolute sectors whose content differs between two flash images. */
function dirtySectors(a: Uint8Array, b: Uint8Array): number[] {
  const out: number[] = [];
  for (let s = 0; s < a.length / SECTOR; s++) {
    const x = a.subarray(s * SECTOR, (s + 1) * SECTOR);
    const y = b.subarray(s * SECTOR, (s + 1) * SECTOR);
    for (let i = 0; i < SECTOR; i++) {
      if (x[i] !== y[i]) {
        out.push(s);
        break;
      }
    }
  }
  return out;
}

Deno.test("identical images: zero sectors erased or written, whole small regions, a large one in parts", async () => {
  const regions = await layout();
  const s = await session("esp32", flashWith(regions));
  try {
    const plan = await planFlash(s.loader, regions, { flashSize: 4 * MiB });
    assertEquals(plan.outcome, "verify-skip");
    assertEquals(plan.steps, []);
    const result = await executePlan(s.loader, plan, regions);
    assertEquals(result.bytesSent, 0);
    assertEquals(s.device.flash.touchedSectors(), []);
    // ROM MD5 at 1 MB/s and 2 ms per command: the 1 MiB app is probed as its header sector
    // (which differs in nearly every rebuild, so it is asked about alone), then in parts of
    // about 45 KiB (12 sectors), growing to 64 KiB as more of the app is seen clean.
    assertEquals(s.md5Count(), 1 + 1 + 1 + 11 + 8);
    assertEquals(plan.regions.map((r) => r.deviceMd5 !== undefined), [true, true, false]);
    assertEquals(
      summarizePlan(plan),
      "verify-skip: 3 regions already on the device (bootloader, partition-table, factory)",
    );
  } finally {
    await s.close();
  }
});

Deno.test("one changed byte in a 1 MiB app writes exactly the sector holding it", async () => {
  const regions = await layout();
  const flash = flashWith(regions);
  const app = regions[2].data;
  const changedAt = 0x6_2345; // inside sector 0x62 of the app
  app[changedAt] ^= 0x5a;
  const s = await session("esp32", flash);
  try {
    const plan = await planFlash(s.loader, regions, { flashSize: 4 * MiB });
    assertEquals(plan.outcome, "selective");
    assertEquals(summarizePlan(plan), "selective: factory 0x10000 (1 of 256 sectors)");
    assertEquals(plan.regions[2].ranges, [[0x62, 1]]);
    await executePlan(s.loader, plan, regions);
    const sector = (0x10000 + changedAt) >> 12;
    assertEquals(s.device.flash.touchedSectors(), [sector]);
    assertEquals(s.device.flash.sectorErases[sector], 1);
    assertEquals(s.device.flash.data.subarray(0x10000, 0x10000 + MiB), app);
  } finally {
    await s.close();
  }
});

Deno.test("changing only the app leaves bootloader, partition table and NVS untouched", async () => {
  const regions = await layout(1);
  const flash = flashWith(regions);
  const nvs = flash.slice(0x9000, 0xf000);
  const boot = flash.slice(0x1000, 0x1000 + regions[0].data.length);
  const changed = await layout(2); // a different app body, same header
  const s = await session("esp32", flash);
  try {
    const plan = await planFlash(s.loader, changed, { flashSize: 4 * MiB });
    assertEquals(plan.regions.map((r) => r.status), ["match", "match", "write"]);
    await executePlan(s.loader, plan, changed);
    const d = s.device.flash;
    for (let sector = 0; sector < 0x10; sector++) {
      assertEquals([sector, d.sectorErases[sector], d.sectorWrites[sector]], [sector, 0, 0]);
    }
    assertEquals(d.data.slice(0x9000, 0xf000), nvs);
    assertEquals(d.data.slice(0x1000, 0x1000 + boot.length), boot);
    assertEquals(d.data.subarray(0x10000, 0x10000 + MiB), changed[2].data);
  } finally {
    await s.close();
  }
});

Deno.test("an app header sector is erased first and written last", async () => {
  const regions = await layout();
  const flash = flashWith(regions);
  const app = regions[2].data;
  app[0x10] ^= 1; // header sector
  app[0x8_0010] ^= 1; // and one more sector
  const s = await session("esp32", flash);
  try {
    const plan = await planFlash(s.loader, regions, { flashSize: 4 * MiB });
    assertEquals(
      plan.steps.map((st) => [st.action, st.offset, st.sectors, st.reason]),
      [
        ["erase", 0x10000, 1, "header-invalidate"],
        ["write", 0x90000, 1, "sectors-differ"],
        ["write", 0x10000, 1, "header-last"],
      ],
    );
    await executePlan(s.loader, plan, regions);
    assertEquals(s.device.flash.touchedSectors(), [0x10, 0x90]);
    assertEquals(s.device.flash.data.subarray(0x10000, 0x10000 + MiB), app);
  } finally {
    await s.close();
  }
});

Deno.test("--full writes every region whole without probing", async () => {
  const regions = await layout();
  const s = await session("esp32", flashWith(regions));
  try {
    const plan = await planFlash(s.loader, regions, { flashSize: 4 * MiB, full: true });
    assertEquals(plan.outcome, "full");
    assertEquals(s.md5Count(), 0);
    assertEquals(plan.regions.map((r) => r.writeSectors), [2, 1, 256]);
    await executePlan(s.loader, plan, regions);
    assertEquals(s.device.flash.touchedSectors().length, 2 + 1 + 256);
  } finally {
    await s.close();
  }
});

Deno.test("bad regions are refused before anything is sent", async () => {
  const regions = await layout();
  const s = await session("esp32", flashWith(regions));
  try {
    const cases: [Region[], string, string][] = [
      [
        [{ name: "app", offset: 0x10010, data: new Uint8Array(4) }],
        "UNALIGNED",
        "app at 0x10010: offset is not a multiple of 0x1000; flash regions start on 4 KiB sector boundaries",
      ],
      [
        [{ name: "app", offset: 0x10000, data: new Uint8Array(0), file: "app.bin" }],
        "EMPTY",
        "app at 0x10000: app.bin is empty; nothing to write (rebuild it or leave it out)",
      ],
      [
        [{ name: "a", offset: 0x10000, data: new Uint8Array(0x2000) }, {
          name: "b",
          offset: 0x11000,
          data: new Uint8Array(1),
        }],
        "OVERLAP",
        "a (0x10000-0x12000) overlaps b at 0x11000; fix the offsets so each region ends before the next begins",
      ],
      [
        [{ name: "big", offset: 0x3ff000, data: new Uint8Array(0x2000) }],
        "PAST_END",
        "big at 0x3ff000: 8192 bytes end at 0x401000, past the end of the 4 MB flash (0x400000); check the offset, or --flash-size if the flash is larger",
      ],
      [
        [{
          name: "bootloader",
          offset: 0x1000,
          data: await Deno.readFile(new URL("bootloader_esp32s3.bin", FW)),
          kind: "bootloader",
        }],
        "WRONG_CHIP",
        "bootloader at 0x1000: image is built for ESP32-S3, but the device is ESP32; rebuild for ESP32 or pick the right file",
      ],
    ];
    for (const [bad, code, message] of cases) {
      const e = await assertRejects(
        () => planFlash(s.loader, bad, { flashSize: 4 * MiB }),
        RegionError,
      );
      assertEquals([e.code, e.message], [code, message]);
    }
    assertEquals(s.md5Count(), 0);
    assertEquals(s.device.flash.touchedSectors(), []);
  } finally {
    await s.close();
  }
});

Deno.test("random change patterns converge and touch only dirty sectors (ROM and stub)", async () => {
  const base = await layout();
  const seeds = 40;
  for (let seed = 1; seed <= seeds; seed++) {
    const r = rng(seed);
    const regions = base.map((x) => ({ ...x, data: x.data.slice() }));
    const flash = flashWith(regions);
    // Scatter 1..12 changes: single bytes, runs across sector edges, whole sectors.
    const changes = 1 + ((r() * 12) | 0);
    for (let c = 0; c < changes; c++) {
      const target = regions[(r() * regions.length) | 0];
      const at = (r() * target.data.length) | 0;
      const len = r() < 0.7 ? 1 : (r() * 9000) | 0;
      for (let i = at; i < Math.min(target.data.length, at + len); i++) target.data[i] ^= 0xa5;
    }
    const expected = flash.slice();
    for (const x of regions) expected.set(x.data, x.offset);
    const dirty = dirtySectors(flash, expected);
    const s = await session("esp32", flash, seed % 2 === 0);
    try {
      assertEquals(s.loader.isStub, seed % 2 === 0);
      const plan = await planFlash(s.loader, regions, { flashSize: 4 * MiB });
      await executePlan(s.loader, plan, regions);
      const touched = s.device.flash.touchedSectors();
      assertOk(
        touched.every((t) => dirty.includes(t)),
        `seed ${seed}: touched ${touched} outside dirty ${dirty}`,
      );
      assertEquals(touched, dirty, `seed ${seed}`);
      assertEquals(s.device.flash.data, expected, `seed ${seed}`);
    } finally {
      await s.close();
    }
  }
});

Deno.test("blank flash: the first MD5s show erased flash, so nothing is bisected", async () => {
  const regions = await layout();
  const s = await session("esp32", new Uint8Array(4 * MiB).fill(0xff));
  try {
    const plan = await planFlash(s.loader, regions, { flashSize: 4 * MiB });
    // Every answer is "erased": nothing clean is found, so the first look stops where one
    // MD5 of the app is spent (a round trip kept in reserve), and its last parts are
    // written without asking.
    assertEquals(s.md5Count(), 1 + 1 + 1 + 16);
    assertEquals(plan.regions.map((r) => r.ranges), [[[0, 2]], [[0, 1]], [[0, 256]]]);
    assertEquals(plan.outcome, "full");
    await executePlan(s.loader, plan, regions);
    assertEquals(s.device.flash.touchedSectors().length, 2 + 1 + 256);
  } finally {
    await s.close();
  }
});

Deno.test("an app changed in its first three quarters: the first look's budget is spent there, and the part of its clean end it did not reach is written too", async () => {
  const regions = await layout();
  const flash = flashWith(regions);
  const changed = regions.map((r) => ({ ...r, data: r.data.slice() }));
  // Every sector of the app's first 768 KiB differs; the last 256 KiB do not.
  const app = changed[2].data;
  for (let i = 0x1000; i < 0xc0000; i += 0x800) app[i] ^= 0xff;
  const s = await session("esp32", flash, true);
  try {
    // Parts shrink while they keep differing, and their round trips spend the budget (one
    // MD5 of the app and what clean answers save) before the first look gets to the end.
    const plan = await planFlash(s.loader, changed, { flashSize: 4 * MiB, baud: 921600 });
    assertEquals(plan.regions[2].ranges, [[1, 191], [200, 56]]);
    assertEquals(s.md5Count(), 23);
    assertEquals(plan.probe.bytesHashed, 827_184);
    await executePlan(s.loader, plan, changed);
    assertEquals(s.device.flash.touchedSectors(), [
      ...[...Array(191).keys()].map((i) => 0x11 + i),
      ...[...Array(56).keys()].map((i) => 0x10 + 200 + i),
    ]);
    assertEquals(s.device.flash.data.subarray(0x10000, 0x10000 + MiB), app);
  } finally {
    await s.close();
  }
});

Deno.test("an app changed from its header on is written in one range with its header sector blank, the header last", async () => {
  const regions = await layout();
  const flash = flashWith(regions);
  const app = regions[2].data;
  for (let i = 0x10; i < 0x2_4000; i += 0x800) app[i] ^= 0x33; // sectors 0..0x23
  const s = await session("esp32", flash, true);
  try {
    const plan = await planFlash(s.loader, regions, { flashSize: 4 * MiB, baud: 921600 });
    assertEquals(
      plan.steps.map((
        st,
      ) => [st.action, st.offset, st.sectors, st.reason, st.blankHeader ?? false]),
      [
        ["write", 0x10000, 0x24, "sectors-differ", true],
        ["write", 0x10000, 1, "header-last", false],
      ],
    );
    await executePlan(s.loader, plan, regions);
    const d = s.device.flash;
    // Blocks 0x10 and 0x20 by block erase; 0x30..0x33 by sector; the header sector again.
    assertEquals([d.ops.blockErases, d.ops.sectorErases], [2, 4 + 1]);
    assertEquals(d.sectorErases[0x10], 2);
    assertEquals(d.data.subarray(0x10000, 0x10000 + MiB), app);
  } finally {
    await s.close();
  }
});

Deno.test("an app that differs everywhere: the first look stops within one MD5 of it and nothing is bisected", async () => {
  const regions = await layout();
  const flash = flashWith(regions);
  const changed = regions.map((r) => ({ ...r, data: r.data.slice() }));
  changed[2].data.set(firmwareLike(MiB - 0x1000, 77), 0x1000);
  changed[2].data[0x10] ^= 1;
  const s = await session("esp32", flash, true);
  try {
    const plan = await planFlash(s.loader, changed, { flashSize: 4 * MiB, baud: 921600 });
    const p = costParams(921600, true);
    const appProbes = plan.probe.bytesHashed - regions[0].data.length - regions[1].data.length;
    assertEquals(plan.regions[2].ranges, [[0, 256]]);
    assertEquals([s.md5Count(), appProbes], [2 + 21, 819_200]);
    assertOk(plan.probe.ms - md5Ms(p, regions[0].data.length) - md5Ms(p, 96) <= md5Ms(p, MiB));
  } finally {
    await s.close();
  }
});

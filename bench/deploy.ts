/**
 * The deploy benchmark: time to deploy on the virtual device with the timing
 * model on (simulated time: the wire at the baud rate, USB latency, NOR erase
 * and program times, device MD5 rates; see bench/README.md).
 *
 * Two parts:
 * - scenarios: a 4 MiB ESP32 with bootloader, partition table, NVS, a 1.5 MiB
 *   app and a 1 MiB data partition; seven synthetic changes, each at 115200,
 *   460800 and 921600 baud, for espdelta's plan, for `--full`, and against
 *   the physical limit;
 * - rebuilds: every consecutive pair of the real successive builds in
 *   testdata/rebuilds (the device holds vN, vN+1 is deployed), at 460800 and
 *   921600 baud, espdelta against `--full` and the whole-write limit.
 *
 * Run: `deno task bench` (or `deno run -A bench/deploy.ts`). Writes
 * bench/results/deploy.{json,md,svg}.
 * @module
 */

import { deflateSync } from "node:zlib";
import { VirtualDevice } from "../src/emulator/device.ts";
import { DEFAULT_TIMING, SimClock, timedLink, type TimingParams } from "../src/emulator/timing.ts";
import { connect } from "../src/loader/loader.ts";
import { findStub } from "../src/loader/stubs.ts";
import type { StubImage } from "../src/loader/stub.ts";
import type { ChipName } from "../src/chips/chips.ts";
import { planFlash } from "../src/plan/planner.ts";
import { executePlan } from "../src/plan/execute.ts";
import type { Outcome, Region } from "../src/plan/types.ts";
import type { CostParams } from "../src/plan/cost.ts";
import { writeImage } from "../src/image/app.ts";
import { parsePartitionCsv, writePartitionTable } from "../src/image/partitions.ts";
import { firmwareLike } from "../tests/rand.ts";

const MiB = 1 << 20;
const SECTOR = 0x1000;
const BLOCK = 0x10000;
const FLASH = 4 * MiB;
const BAUDS = [115200, 460800, 921600];
const REBUILD_BAUDS = [460800, 921600];

function appImage(size: number, seed: number): Uint8Array {
  return writeImage({
    chip: "esp32",
    entry: 0x400d0000,
    segments: [{ loadAddress: 0x3f400020, data: firmwareLike(size - 256, seed) }],
  });
}

const CSV = "nvs,data,nvs,0x9000,0x6000\nfactory,app,factory,0x10000,0x180000\n" +
  "storage,data,spiffs,0x190000,0x100000\n";

function baseRegions(): Region[] {
  const table = writePartitionTable(parsePartitionCsv(CSV));
  return [
    { name: "bootloader", offset: 0x1000, data: appImage(26 * 1024, 1), kind: "bootloader" },
    { name: "partition-table", offset: 0x8000, data: table, kind: "partition-table" },
    { name: "nvs", offset: 0x9000, data: firmwareLike(0x6000, 2), kind: "data" },
    { name: "factory", offset: 0x10000, data: appImage(1536 * 1024, 3), kind: "app" },
    { name: "storage", offset: 0x190000, data: firmwareLike(MiB, 4), kind: "data" },
  ];
}

/** A copy of `r` with one byte flipped in each listed sector. */
function touch(r: Region, sectors: number[], seed: number): Region {
  const data = r.data.slice();
  for (const s of sectors) {
    const room = Math.min(SECTOR, data.length - s * SECTOR);
    data[s * SECTOR + ((seed * 2654435761 + s * 97) >>> 0) % room] ^= 0x5a;
  }
  return { ...r, data };
}

const range = (a: number, b: number) => [...Array(b - a).keys()].map((i) => i + a);

interface Scenario {
  name: string;
  /** The chip of the virtual device (default esp32). */
  chip?: ChipName;
  /** What the device holds before ("blank": erased flash). */
  before: Region[] | "blank";
  /** What is deployed. */
  after: Region[];
}

function scenarios(): Scenario[] {
  const base = baseRegions();
  const app = base[3];
  const data = base[4];
  const appSectors = Math.ceil(app.data.length / SECTOR);
  const dataSectors = Math.ceil(data.data.length / SECTOR);
  const replace = (i: number, r: Region) => base.map((x, j) => (j === i ? r : x));
  // 5 % of the sectors, spread evenly by a fixed stride.
  const scatter = (n: number, salt: number) => range(0, n).filter((s) => (s * 19 + salt) % 100 < 5);
  return [
    { name: "cold (blank flash)", before: "blank", after: base },
    { name: "no-op redeploy", before: base, after: base },
    {
      // The header sector (app descriptor, digest) and the last 40 % of the app differ.
      name: "app-only change",
      before: base,
      after: replace(3, touch(app, [0, ...range(Math.floor(appSectors * 0.6), appSectors)], 5)),
    },
    { name: "one changed sector", before: base, after: replace(3, touch(app, [0x123], 6)) },
    {
      name: "5% scattered sectors",
      before: base,
      after: base.map((r, i) =>
        i === 3
          ? touch(r, scatter(appSectors, 11), 7)
          : i === 4
          ? touch(r, scatter(dataSectors, 13), 8)
          : r
      ),
    },
    {
      name: "whole-app change",
      before: base,
      after: replace(3, { ...app, data: appImage(app.data.length, 99) }),
    },
    {
      name: "half data partition",
      before: base,
      after: replace(4, touch(data, range(0, dataSectors / 2), 9)),
    },
  ];
}

/** The real successive builds in testdata/rebuilds: folder and the chip they were built for. */
const REBUILD_APPS: { folder: string; chip: ChipName }[] = [
  { folder: "lidar-esp32", chip: "esp32" },
  { folder: "heidelbridge-esp32", chip: "esp32" },
  { folder: "meshcore-esp32s3", chip: "esp32s3" },
];

/** Every consecutive pair: the device holds app-vN at 0x10000, app-vN+1 is deployed. */
async function rebuildPairs(): Promise<Scenario[]> {
  const out: Scenario[] = [];
  for (const { folder, chip } of REBUILD_APPS) {
    const dir = new URL(`../testdata/rebuilds/${folder}/`, import.meta.url);
    const builds: Uint8Array[] = [];
    for (let v = 1; v <= 5; v++) builds.push(await Deno.readFile(new URL(`app-v${v}.bin`, dir)));
    for (let v = 1; v < builds.length; v++) {
      const app = (data: Uint8Array): Region[] => [
        { name: "factory", offset: 0x10000, data, kind: "app" },
      ];
      out.push({
        name: `${folder} v${v}->v${v + 1}`,
        chip,
        before: app(builds[v - 1]),
        after: app(builds[v]),
      });
    }
  }
  return out;
}

function flashImage(regions: Region[] | "blank"): Uint8Array {
  const f = new Uint8Array(FLASH).fill(0xff);
  if (regions !== "blank") { for (const r of regions) f.set(r.data, r.offset); }
  return f;
}

/** One deploy, measured in simulated time. */
interface Run {
  /** Whole run: connect, plan, write, verify. */
  ms: number;
  /** Reset, sync, stub upload, baud change, attach. */
  connectMs: number;
  /** Planning: the device MD5s asked before anything is written. */
  planMs: number;
  /** From the end of planning to the end of the last write step. */
  writeMs: number;
  /** After the last write step: the device MD5s that verify what was written. */
  verifyMs: number;
  /** Bytes on the wire, both directions. */
  wireBytes: number;
  /** Commands sent. */
  roundTrips: number;
  /** Distinct sectors erased. */
  sectorsErased: number;
  /** Erase commands the flash received, by kind. */
  blockErases: number;
  /** 4 KiB sector erase commands. */
  sectorEraseCommands: number;
  /** FLASH_BEGIN / FLASH_DEFL_BEGIN commands: one per write step. */
  writeCommands: number;
  /** Device MD5 commands while planning and the bytes they hashed. */
  md5Commands: number;
  bytesHashed: number;
  /** Sectors the plan writes. */
  sectorsWritten: number;
  outcome: Outcome;
  /** The planner's own estimate of writing and verifying. */
  estimateMs: number;
}

const stubs = new Map<ChipName, StubImage>();
async function stubFor(chip: ChipName): Promise<StubImage> {
  let s = stubs.get(chip);
  if (!s) {
    s = await findStub(chip);
    if (!s) throw new Error(`no flasher stub for ${chip}`);
    stubs.set(chip, s);
  }
  return s;
}

async function deploy(
  s: Scenario,
  baud: number,
  full: boolean,
  timing: Partial<TimingParams> = {},
  cost: Partial<CostParams> = {},
): Promise<Run> {
  const chip = s.chip ?? "esp32";
  const clock = new SimClock();
  const flash = flashImage(s.before);
  const device = new VirtualDevice({ chip, flashSize: FLASH, flash, clock });
  const { port, stats } = timedLink(device, clock, timing);
  const loader = await connect(port, { clock, baud, stub: await stubFor(chip) });
  const connectMs = clock.now();
  device.flash.resetCounters();
  const commandsBefore = device.commandCounts();
  const plan = await planFlash(loader, s.after, { flashSize: FLASH, baud, full, cost });
  const planned = clock.now();
  let written = planned;
  await executePlan(loader, plan, s.after, {
    onEvent: (e) => {
      if (e.type === "step-done") written = clock.now();
    },
  });
  const ms = clock.now();
  await loader.close();
  await port.close();
  // The images must be on the device; the tail of a region's last sector is erased by
  // the write (as with any flasher), so only the images' own bytes are compared.
  const wrong = s.after.filter((r) =>
    !r.data.every((b, i) => b === device.flash.data[r.offset + i])
  );
  if (wrong.length > 0) {
    throw new Error(
      `${s.name} at ${baud}${full ? " --full" : ""}: ${wrong.map((r) => r.name)} not on the device`,
    );
  }
  const counts = device.commandCounts();
  const since = (op: string) => (counts[op] ?? 0) - (commandsBefore[op] ?? 0);
  return {
    ms,
    connectMs,
    planMs: planned - connectMs,
    writeMs: written - planned,
    verifyMs: ms - written,
    wireBytes: stats.bytesToDevice + stats.bytesToHost,
    roundTrips: stats.commands,
    sectorsErased: device.flash.sectorErases.filter((c) => c > 0).length,
    blockErases: device.flash.ops.blockErases,
    sectorEraseCommands: device.flash.ops.sectorErases,
    writeCommands: since("FLASH_BEGIN") + since("FLASH_DEFL_BEGIN"),
    md5Commands: plan.probe.md5Commands,
    bytesHashed: plan.probe.bytesHashed,
    sectorsWritten: plan.regions.reduce((n, r) => n + r.writeSectors, 0),
    outcome: plan.outcome,
    estimateMs: plan.estimate.ms,
  };
}

/** One device MD5 command with the stub over `bytes`: the wire, USB both ways, the hashing. */
function md5CommandMs(bytes: number, baud: number, t = DEFAULT_TIMING): number {
  // Command 16 + 8 + 2 bytes, reply 8 + 16 + 2 + 2 bytes (SLIP escapes aside).
  return t.usbOutMs + t.usbLatencyMs + t.turnaroundMs + (26 + 28) * 10_000 / baud +
    bytes * 1000 / t.stubMd5BytesPerSec;
}

/**
 * One device MD5 per region with the stub: what any tool that keeps no copy
 * of the old image must pay to learn whether anything changed.
 */
function md5FloorMs(regions: Region[], baud: number): number {
  return regions.reduce((ms, r) => ms + md5CommandMs(r.data.length, baud), 0);
}

/**
 * The physical limit of the changed sectors: their deflated bytes plus
 * minimal framing (one BEGIN, 16 KiB data blocks with their headers, one END,
 * and a 14-byte reply each) at the wire rate, one USB round trip per command,
 * plus erasing (64 KiB blocks where whole aligned blocks changed, sectors
 * otherwise) and programming the changed sectors. Wire and flash time add
 * up here; the stub overlaps them, so a large write can beat this "limit".
 */
function physicalLimit(s: Scenario, baud: number, t = DEFAULT_TIMING) {
  const before = flashImage(s.before);
  const after = flashImage(s.after);
  let ms = 0;
  let sectors = 0;
  let run: number[] = [];
  const flush = () => {
    if (run.length === 0) return;
    const bytes = after.subarray(run[0] * SECTOR, (run[run.length - 1] + 1) * SECTOR);
    const z = deflateSync(bytes, { level: 9 }).length;
    const blocks = Math.ceil(z / 0x4000);
    const commands = blocks + 2;
    const wire = z + blocks * (8 + 16 + 2) + 2 * (8 + 16 + 2) + commands * 14;
    ms += wire * 10_000 / baud + commands * (t.usbOutMs + t.usbLatencyMs);
    for (let i = 0; i < run.length;) {
      const wholeBlock = run[i] % 16 === 0 && i + 16 <= run.length && run[i + 15] === run[i] + 15;
      ms += wholeBlock ? t.blockEraseMs : t.sectorEraseMs;
      i += wholeBlock ? 16 : 1;
    }
    ms += run.length * 16 * t.pageProgramMs;
    run = [];
  };
  for (let sct = 0; sct < FLASH / SECTOR; sct++) {
    const a = before.subarray(sct * SECTOR, (sct + 1) * SECTOR);
    const b = after.subarray(sct * SECTOR, (sct + 1) * SECTOR);
    if (a.every((x, i) => x === b[i])) continue;
    sectors++;
    if (run.length > 0 && run[run.length - 1] !== sct - 1) flush();
    run.push(sct);
  }
  flush();
  return { ms, sectors };
}

/**
 * The whole-write limit (issue 16, item 5): for every 64 KiB flash block a
 * region covers, the larger of the wire time of its deflated bytes (with the
 * 26 bytes of framing each 16 KiB data block carries) and its flash time
 * (one block erase when the region covers the whole aligned block, else a
 * sector erase per sector, plus page programs), summed. The stub overlaps
 * wire and flash one block deep, so no write can beat this. A region's
 * deflated size is shared among its blocks in proportion to the size each
 * block deflates to alone.
 */
function wholeWriteLimitMs(regions: Region[], baud: number, t = DEFAULT_TIMING): number {
  let ms = 0;
  for (const r of regions) {
    const total = deflateSync(r.data, { level: 9 }).length;
    const pieces: { raw: number; whole: boolean; z: number }[] = [];
    for (let at = r.offset; at < r.offset + r.data.length;) {
      const end = Math.min(r.offset + r.data.length, (Math.floor(at / BLOCK) + 1) * BLOCK);
      const bytes = r.data.subarray(at - r.offset, end - r.offset);
      pieces.push({
        raw: bytes.length,
        whole: at % BLOCK === 0 && end - at === BLOCK,
        z: deflateSync(bytes, { level: 9 }).length,
      });
      at = end;
    }
    const scale = total / pieces.reduce((n, p) => n + p.z, 0);
    for (const p of pieces) {
      const z = p.z * scale;
      const wire = (z + Math.ceil(z / 0x4000) * 26) * 10_000 / baud;
      const flash = (p.whole ? t.blockEraseMs : Math.ceil(p.raw / SECTOR) * t.sectorEraseMs) +
        Math.ceil(p.raw / 256) * t.pageProgramMs;
      ms += Math.max(wire, flash);
    }
  }
  return ms;
}

interface Row {
  scenario: string;
  baud: number;
  changedSectors: number;
  espdelta: Run;
  full: Run;
  limitMs: number;
  wholeWriteLimitMs: number;
  md5FloorMs: number;
}

const rows: Row[] = [];
for (const s of scenarios()) {
  for (const baud of BAUDS) {
    const espdelta = await deploy(s, baud, false);
    const full = await deploy(s, baud, true);
    const limit = physicalLimit(s, baud);
    rows.push({
      scenario: s.name,
      baud,
      changedSectors: limit.sectors,
      espdelta,
      full,
      limitMs: limit.ms,
      wholeWriteLimitMs: wholeWriteLimitMs(s.after, baud),
      md5FloorMs: md5FloorMs(s.after, baud),
    });
    console.error(
      `${s.name} @ ${baud}: ${(espdelta.ms / 1000).toFixed(2)} s, --full ${
        (full.ms / 1000).toFixed(2)
      } s`,
    );
  }
}

// With an FTDI bridge's 16 ms latency timer: every response waits for it.
const ftdi: { scenario: string; espdelta: Run; told: Run; full: Run }[] = [];
for (const s of scenarios().filter((x) => /no-op|one changed|app-only/.test(x.name))) {
  ftdi.push({
    scenario: s.name,
    espdelta: await deploy(s, 921600, false, { usbLatencyMs: 16 }),
    // The planner held at its 2 ms default instead of the latency the loader measured.
    told: await deploy(s, 921600, false, { usbLatencyMs: 16 }, { latencyMs: 2 }),
    full: await deploy(s, 921600, true, { usbLatencyMs: 16 }),
  });
}

/**
 * Hook for issue 16, item 3 (the baud rate espdelta picks by itself): a run
 * at the baud the loader chooses. It does not exist yet, so every pair
 * reports `null` in the `ownBaud` column; the work that adds automatic baud
 * selection replaces this function and fills the column.
 */
function ownBaudRun(_s: Scenario): Promise<Run | null> {
  return Promise.resolve(null);
}

/** One rebuild pair at one baud. */
interface RebuildRow {
  pair: string;
  chip: ChipName;
  baud: number;
  appBytes: number;
  changedSectors: number;
  appSectors: number;
  espdelta: Run;
  full: Run;
  /** Issue 16 item 3's column: espdelta at the baud it picks itself; null until that exists. */
  ownBaud: Run | null;
  /** The whole-write limit of the app (item 5). */
  limitMs: number;
  /** One device MD5 of the whole app. */
  appMd5Ms: number;
}

const rebuild: RebuildRow[] = [];
for (const s of await rebuildPairs()) {
  const app = s.after[0].data;
  for (const baud of REBUILD_BAUDS) {
    const espdelta = await deploy(s, baud, false);
    const full = await deploy(s, baud, true);
    rebuild.push({
      pair: s.name,
      chip: s.chip ?? "esp32",
      baud,
      appBytes: app.length,
      changedSectors: physicalLimit(s, baud).sectors,
      appSectors: Math.ceil(app.length / SECTOR),
      espdelta,
      full,
      ownBaud: await ownBaudRun(s),
      limitMs: wholeWriteLimitMs(s.after, baud),
      appMd5Ms: md5CommandMs(app.length, baud),
    });
    console.error(
      `${s.name} @ ${baud}: ${sec(after(espdelta))} s, --full ${sec(after(full))} s`,
    );
  }
}

function sec(ms: number) {
  return (ms / 1000).toFixed(2);
}
function after(r: Run) {
  return r.ms - r.connectMs;
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;

const md: string[] = [
  "# Deploy benchmark",
  "",
  "Virtual ESP32, 4 MiB flash, timing model on (bench/README.md); simulated seconds. Whole runs",
  "include connecting (reset, sync, stub upload at 115200, baud change); *after connect* excludes it.",
  "Every run ends with the device holding the images (checked byte for byte).",
  "",
  "| scenario | baud | changed sectors | espdelta s | after connect s | --full after connect s | physical limit s | whole-write limit s | device MD5s / bytes hashed | wire bytes espdelta / full | round trips espdelta / full | sectors erased espdelta / full |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|",
];
for (const r of rows) {
  md.push(
    `| ${r.scenario} | ${r.baud} | ${r.changedSectors} | ${sec(r.espdelta.ms)} | ${
      sec(after(r.espdelta))
    } | ${sec(after(r.full))} | ${sec(r.limitMs)} | ${
      sec(r.wholeWriteLimitMs)
    } | ${r.espdelta.md5Commands} / ${
      kib(r.espdelta.bytesHashed)
    } | ${r.espdelta.wireBytes} / ${r.full.wireBytes} | ${r.espdelta.roundTrips} / ${r.full.roundTrips} | ${r.espdelta.sectorsErased} / ${r.full.sectorsErased} |`,
  );
}

const at = (name: string, baud: number) =>
  rows.find((r) => r.scenario === name && r.baud === baud)!;
const ratios: Record<string, number | string>[] = [];
md.push("", "## Targets (ratios)", "", "| target | baud | ratio | goal |", "|---|---|---|---|");
const target = (name: string, baud: number | string, ratio: number, goal: string) => {
  ratios.push({ name, baud, ratio: Number(ratio.toFixed(4)), goal });
  md.push(`| ${name} | ${baud} | ${ratio.toFixed(4)} | ${goal} |`);
};
for (const baud of BAUDS) {
  const noop = at("no-op redeploy", baud);
  target(
    "no-op redeploy / (connect + one MD5 per region)",
    baud,
    noop.espdelta.ms / (noop.espdelta.connectMs + noop.md5FloorMs),
    "<= 1.2",
  );
  const one = at("one changed sector", baud);
  target(
    "one changed sector / physical limit (after connect)",
    baud,
    after(one.espdelta) / one.limitMs,
    "<= 1.5",
  );
  target(
    "one changed sector / (physical limit + one MD5 per region) (after connect)",
    baud,
    after(one.espdelta) / (one.limitMs + one.md5FloorMs),
    "(floor without a copy of the old image)",
  );
  target(
    "one changed sector: --full / espdelta (after connect)",
    baud,
    after(one.full) / after(one.espdelta),
    ">= 10",
  );
}
for (const baud of BAUDS) {
  const cold = at("cold (blank flash)", baud);
  target(
    "full write (cold --full, after connect, verified) / whole-write limit: limit / time",
    baud,
    cold.wholeWriteLimitMs / after(cold.full),
    ">= 0.9",
  );
}
for (const baud of REBUILD_BAUDS) {
  const rs = rebuild.filter((r) => r.baud === baud);
  target(
    "rebuild pairs, worst: espdelta / (--full + one app MD5) (after connect)",
    baud,
    Math.max(...rs.map((r) => after(r.espdelta) / (after(r.full) + r.appMd5Ms))),
    "<= 1",
  );
  target(
    "rebuild pairs, worst: device bytes hashed / app bytes",
    baud,
    Math.max(...rs.map((r) => r.espdelta.bytesHashed / r.appBytes)),
    "<= 1.3",
  );
  target(
    "rebuild pairs, worst: --full / whole-write limit: limit / time (after connect, verified)",
    baud,
    Math.min(...rs.map((r) => r.limitMs / after(r.full))),
    ">= 0.9",
  );
}
const cold = at("cold (blank flash)", 921600);
const compressed = baseRegions().reduce((n, r) => n + deflateSync(r.data, { level: 9 }).length, 0);
const rawBytes = baseRegions().reduce((n, r) => n + r.data.length, 0);
md.push(
  "",
  `The regions hold ${(rawBytes / 1024).toFixed(0)} KiB that deflate to ${
    (compressed / 1024).toFixed(0)
  } KiB: ${sec(compressed * 10_000 / 921600)} s on the wire at 921600 baud; the whole-write ` +
    `limit is ${sec(cold.wholeWriteLimitMs)} s, and \`--full\` takes ${
      sec(after(cold.full))
    } s after connecting (${sec(cold.full.writeMs)} s writing, ${
      sec(cold.full.verifyMs)
    } s verifying).`,
  "",
  "A device MD5 pass over every region is the price of knowing what the device holds without a " +
    "copy of the old image; the physical limit leaves it out, so one changed sector cannot come " +
    "within 1.5x of it while the regions take longer to hash than the sector takes to write.",
);

md.push(
  "",
  "## Real rebuilds",
  "",
  "Every consecutive pair of the successive builds in testdata/rebuilds (SOURCES.md): the device",
  "holds app-vN at 0x10000, app-vN+1 is deployed. Times after connecting. *limit* is the",
  "whole-write limit of the app. The target is espdelta's time at most `--full`'s plus one",
  "device MD5 of the app: the column after the ratio sets the two side by side. *own baud* is",
  "espdelta at the baud it picks itself: not there yet (issue 16, item 3), so it stays empty.",
  "",
  "| pair | baud | changed sectors | espdelta s | --full s | limit s | espdelta / --full | espdelta - --full s / one app MD5 s | own baud s | device MD5s | bytes hashed / app | sectors written | write commands espdelta / full | block erases espdelta / full | sector erases espdelta / full |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
);
for (const r of rebuild) {
  md.push(
    `| ${r.pair} | ${r.baud} | ${r.changedSectors} of ${r.appSectors} | ${
      sec(after(r.espdelta))
    } | ${sec(after(r.full))} | ${sec(r.limitMs)} | ${
      (after(r.espdelta) / after(r.full)).toFixed(2)
    } | ${((after(r.espdelta) - after(r.full)) / 1000).toFixed(3)} / ${
      (r.appMd5Ms / 1000).toFixed(3)
    } | ${r.ownBaud ? sec(after(r.ownBaud)) : "-"} | ${r.espdelta.md5Commands} | ${
      (r.espdelta.bytesHashed / r.appBytes).toFixed(2)
    } | ${r.espdelta.sectorsWritten} | ${r.espdelta.writeCommands} / ${r.full.writeCommands} | ${r.espdelta.blockErases} / ${r.full.blockErases} | ${r.espdelta.sectorEraseCommands} / ${r.full.sectorEraseCommands} |`,
  );
}
const summary = REBUILD_BAUDS.map((baud) => {
  const rs = rebuild.filter((r) => r.baud === baud);
  const toFull = rs.map((r) => after(r.espdelta) / after(r.full));
  const toFullMd5 = rs.map((r) => after(r.espdelta) / (after(r.full) + r.appMd5Ms));
  const hashed = rs.map((r) => r.espdelta.bytesHashed / r.appBytes);
  const fullToLimit = rs.map((r) => r.limitMs / after(r.full));
  return {
    baud,
    pairs: rs.length,
    espdeltaToFull: { median: median(toFull), worst: Math.max(...toFull) },
    espdeltaToFullPlusMd5: { median: median(toFullMd5), worst: Math.max(...toFullMd5) },
    bytesHashedToApp: { median: median(hashed), worst: Math.max(...hashed) },
    limitToFull: { median: median(fullToLimit), worst: Math.min(...fullToLimit) },
    fasterThanFull: rs.filter((r) => after(r.espdelta) < after(r.full)).length,
  };
});
md.push(
  "",
  "| baud | pairs | espdelta / --full, median | worst | espdelta / (--full + MD5), worst | bytes hashed / app, median | worst | limit / --full, worst | pairs faster than --full |",
  "|---|---|---|---|---|---|---|---|---|",
  ...summary.map((s) =>
    `| ${s.baud} | ${s.pairs} | ${s.espdeltaToFull.median.toFixed(2)} | ${
      s.espdeltaToFull.worst.toFixed(2)
    } | ${s.espdeltaToFullPlusMd5.worst.toFixed(4)} | ${s.bytesHashedToApp.median.toFixed(2)} | ${
      s.bytesHashedToApp.worst.toFixed(2)
    } | ${s.limitToFull.worst.toFixed(2)} | ${s.fasterThanFull} |`
  ),
);

md.push(
  "",
  "## FTDI bridge (16 ms latency timer), 921600 baud",
  "",
  "The loader times its register commands and the planner uses that latency (about 17 ms here)",
  "when it exceeds the model's 2 ms default, so it probes in fewer, larger parts; the second pair",
  "of columns holds the planner at 2 ms (PlanOptions.cost.latencyMs) to show what measuring buys.",
  "",
  "| scenario | espdelta after connect s | round trips | planner held at 2 ms: after connect s | round trips | --full after connect s |",
  "|---|---|---|---|---|---|",
  ...ftdi.map((f) =>
    `| ${f.scenario} | ${sec(after(f.espdelta))} | ${f.espdelta.roundTrips} | ${
      sec(after(f.told))
    } | ${f.told.roundTrips} | ${sec(after(f.full))} |`
  ),
);

const results = new URL("./results/", import.meta.url);
await Deno.mkdir(results, { recursive: true });
await Deno.writeTextFile(
  new URL("deploy.json", results),
  JSON.stringify(
    { timing: DEFAULT_TIMING, rows, ratios, ftdi, rebuild: { pairs: rebuild, summary } },
    null,
    2,
  ) +
    "\n",
);
await Deno.writeTextFile(new URL("deploy.md", results), md.join("\n") + "\n");
await Deno.writeTextFile(
  new URL("deploy.svg", results),
  chart([
    ...rows.filter((r) => r.baud === 921600).map((r) => ({
      label: r.scenario,
      espdelta: after(r.espdelta),
      full: after(r.full),
      limit: r.limitMs,
    })),
    ...rebuild.filter((r) => r.baud === 921600).map((r) => ({
      label: r.pair,
      espdelta: after(r.espdelta),
      full: after(r.full),
      limit: r.limitMs,
    })),
  ]),
);
console.log(md.join("\n"));

/** A bar chart of time after connecting: espdelta, --full, a limit. */
function chart(bars: { label: string; espdelta: number; full: number; limit: number }[]): string {
  const max = Math.max(...bars.map((r) => Math.max(r.full, r.espdelta)));
  const width = 960;
  const rowH = 54;
  const left = 250;
  const scale = (ms: number) => Math.max(1, ((width - left - 80) * ms) / max);
  const body = bars.map((r, i) => {
    const y = 40 + i * rowH;
    const bar = (ms: number, dy: number, color: string) =>
      `<rect x="${left}" y="${y + dy}" width="${
        scale(ms).toFixed(1)
      }" height="14" fill="${color}"/>` +
      `<text x="${left + scale(ms) + 4}" y="${y + dy + 11}" font-size="11">${sec(ms)} s</text>`;
    return `<text x="8" y="${y + 26}" font-size="12">${r.label}</text>` +
      bar(r.espdelta, 0, "#2a7ab8") + bar(r.full, 16, "#c0504d") + bar(r.limit, 32, "#7f7f7f");
  }).join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${
    60 + bars.length * rowH
  }" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="8" y="20" font-size="14">Time to deploy after connecting, 921600 baud (simulated s): espdelta (blue), --full (red), limit (grey: changed sectors for the scenarios, whole write for the rebuilds)</text>
${body}
</svg>
`;
}

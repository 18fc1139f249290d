/**
 * The deploy benchmark: time to deploy on the virtual device with the timing
 * model on (simulated time: the wire at the baud rate, USB latency, NOR erase
 * and program times, device MD5 rates; see bench/README.md).
 *
 * Parts:
 * - scenarios: a 4 MiB ESP32 with bootloader, partition table, NVS, a 1.5 MiB
 *   app and a 1 MiB data partition; seven synthetic changes, each at 115200,
 *   460800 and 921600 baud, for espdelta's plan, for `--full`, and against
 *   the physical limit;
 * - rebuilds: every consecutive pair of the real successive builds in
 *   testdata/rebuilds (the device holds vN, vN+1 is deployed), at 460800 and
 *   921600 baud, espdelta against `--full` and the whole-write limit, and at
 *   the rate `--baud auto` reaches behind a CP2102N;
 * - autobaud: what `--baud auto` picks behind each modelled bridge and what
 *   it costs against fixed rates;
 * - peers: esptool-js and espdelta side by side on a virtual ESP32 paced in
 *   real time (wall-clock; bench/peers.ts).
 *
 * Run: `deno task bench` (or `deno run -A bench/deploy.ts`). Writes
 * bench/results/deploy.{json,md,svg}.
 * @module
 */

import { deflateSync } from "node:zlib";
import { VirtualDevice } from "../src/emulator/device.ts";
import { DEFAULT_TIMING, SimClock, timedLink, type TimingParams } from "../src/emulator/timing.ts";
import { connect } from "../src/loader/loader.ts";
import type { BaudChoice } from "../src/loader/link_speed.ts";
import { bridgeById } from "../src/chips/bridges.ts";
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
import { PEER_BAUD, PEER_BRIDGE, type PeerRow, type PeerScenario, runPeers } from "./peers.ts";

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
  /** The rate both sides ended at. */
  baud: number;
  /** With `auto`: what the loader chose and why. */
  choice?: BaudChoice;
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

/** A board behind a USB bridge (chips/bridges.ts), and whether the loader is told which. */
interface BoardLink {
  /** Bridge id. */
  bridge: string;
  /** The loader knows the bridge (from the port's USB ids), or probes blind (socket://, unknown ids). */
  told: boolean;
}

async function deploy(
  s: Scenario,
  baud: number | "auto",
  full: boolean,
  timing: Partial<TimingParams> = {},
  cost: Partial<CostParams> = {},
  link?: BoardLink,
): Promise<Run> {
  const chip = s.chip ?? "esp32";
  const clock = new SimClock();
  const flash = flashImage(s.before);
  const device = new VirtualDevice({
    chip,
    flashSize: FLASH,
    flash,
    clock,
    ...(link ? { bridge: link.bridge } : {}),
  });
  const { port, stats } = timedLink(device, clock, timing);
  const facts = link?.told ? { bridge: bridgeById(link.bridge) } : {};
  const loader = await connect(port, {
    clock,
    baud,
    stub: await stubFor(chip),
    ...(baud === "auto" ? { link: facts } : {}),
  });
  const connectMs = clock.now();
  const choice = loader.baudChoice;
  const wire = choice?.wireBaud ?? port.baud;
  device.flash.resetCounters();
  const commandsBefore = device.commandCounts();
  const plan = await planFlash(loader, s.after, { flashSize: FLASH, baud: wire, full, cost });
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
    baud: port.baud,
    ...(choice ? { choice } : {}),
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
 * The board espdelta picks its own rate on (issue 16, item 3): behind a
 * Silicon Labs CP2102N (3 Mbaud), the bridge of Espressif's DevKitC V4,
 * known from the port's USB ids; the ESP32's and ESP32-S3's UARTs stop at
 * 2.5 Mbaud, so the ladder tops out at 2 Mbaud.
 */
const OWN_BOARD: BoardLink = { bridge: "cp2102n", told: true };

function ownBaudRun(s: Scenario): Promise<Run> {
  return deploy(s, "auto", false, {}, {}, OWN_BOARD);
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
  /** Issue 16 item 3's column: espdelta at the baud it picks itself on {@link OWN_BOARD}. */
  ownBaud: Run;
  /** The whole-write limit of the app (item 5). */
  limitMs: number;
  /** One device MD5 of the whole app. */
  appMd5Ms: number;
}

const rebuild: RebuildRow[] = [];
const pairs = await rebuildPairs();
for (const s of pairs) {
  const app = s.after[0].data;
  const own = await ownBaudRun(s);
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
      ownBaud: own,
      limitMs: wholeWriteLimitMs(s.after, baud),
      appMd5Ms: md5CommandMs(app.length, baud),
    });
    console.error(
      `${s.name} @ ${baud}: ${sec(after(espdelta))} s, --full ${sec(after(full))} s`,
    );
  }
}

/**
 * What `--baud auto` picks per bridge model and what it costs against fixed
 * rates: the lidar rebuild pair v4 -> v5 (the ESP32-S3 pair for the
 * USB-Serial/JTAG) deployed at `auto`, at 460800 (espdelta's old default)
 * and at 921600, on a virtual board behind each bridge. *told*: the loader
 * knows the bridge from the port's USB ids; else (socket://, unknown ids) it
 * probes from the chip's top rate and steps down on errors.
 */
const AUTOBAUD_BOARDS: (BoardLink & { pair: string })[] = [
  { bridge: "cp2102", told: true, pair: "lidar-esp32 v4->v5" },
  { bridge: "cp2102", told: false, pair: "lidar-esp32 v4->v5" },
  { bridge: "cp2102n", told: true, pair: "lidar-esp32 v4->v5" },
  { bridge: "ch340", told: true, pair: "lidar-esp32 v4->v5" },
  { bridge: "ch9102", told: true, pair: "lidar-esp32 v4->v5" },
  { bridge: "ft232r", told: true, pair: "lidar-esp32 v4->v5" },
  { bridge: "usb-serial-jtag", told: true, pair: "meshcore-esp32s3 v4->v5" },
];

interface AutobaudRow {
  bridge: string;
  told: boolean;
  pair: string;
  /** The rate chosen, why, and what was tried. */
  choice: BaudChoice;
  auto: Run;
  at460800: Run;
  at921600: Run;
}
const autobaud: AutobaudRow[] = [];
for (const b of AUTOBAUD_BOARDS) {
  const s = pairs.find((p) => p.name === b.pair)!;
  const auto = await deploy(s, "auto", false, {}, {}, b);
  autobaud.push({
    ...b,
    choice: auto.choice!,
    auto,
    at460800: await deploy(s, 460800, false, {}, {}, b),
    at921600: await deploy(s, 921600, false, {}, {}, b),
  });
  console.error(`autobaud ${b.bridge}${b.told ? "" : " (blind)"}: ${auto.choice!.baud}`);
}

/**
 * The peer part (bench/peers.ts): the lidar build (bootloader, partition
 * table, app) on a board paced in real time; cold (blank flash), no-op
 * (v4 again), and the rebuild pair v4 -> v5. The simulated run of espdelta
 * on the same board sits beside it, to show the pacing keeps to the model.
 */
async function peerScenarios(): Promise<PeerScenario[]> {
  const dir = new URL("../testdata/rebuilds/lidar-esp32/", import.meta.url);
  const boot = await Deno.readFile(new URL("build/bootloader/bootloader.bin", dir));
  const table = await Deno.readFile(new URL("build/partition_table/partition-table.bin", dir));
  const v4 = await Deno.readFile(new URL("app-v4.bin", dir));
  const v5 = await Deno.readFile(new URL("app-v5.bin", dir));
  const regions = (app: Uint8Array): Region[] => [
    { name: "bootloader", offset: 0x1000, data: boot, kind: "bootloader" },
    { name: "partition-table", offset: 0x8000, data: table, kind: "partition-table" },
    { name: "factory", offset: 0x10000, data: app, kind: "app" },
  ];
  return [
    { name: "cold (blank flash)", before: "blank", after: regions(v4) },
    { name: "no-op redeploy", before: regions(v4), after: regions(v4) },
    { name: "rebuild lidar v4->v5", before: regions(v4), after: regions(v5) },
  ];
}
const peerList = await peerScenarios();
const peerRows = await runPeers(peerList);
const peers = {
  board: `ESP32 behind a ${PEER_BRIDGE}, paced in real time (emulate --timing)`,
  baud: PEER_BAUD,
  esptoolJs: "npm:esptool-js@0.7.0",
  rows: [] as (PeerRow & { espdeltaSimulated: number })[],
};
for (const [i, r] of peerRows.entries()) {
  const board = { bridge: PEER_BRIDGE, told: true };
  const simulated = await deploy(peerList[i], PEER_BAUD, false, {}, {}, board);
  peers.rows.push({ ...r, espdeltaSimulated: Math.round(simulated.ms) / 1000 });
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
  "include connecting (reset, sync, baud raised, stub upload, attach); *after connect* excludes it.",
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
  "espdelta with `--baud auto` on a board behind a CP2102N (the rate it reached in brackets),",
  "connect included in neither.",
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
    } | ${sec(after(r.ownBaud))} (${r.ownBaud.baud}) | ${r.espdelta.md5Commands} | ${
      (r.espdelta.bytesHashed / r.appBytes).toFixed(2)
    } | ${r.espdelta.sectorsWritten} | ${r.espdelta.writeCommands} / ${r.full.writeCommands} | ${r.espdelta.blockErases} / ${r.full.blockErases} | ${r.espdelta.sectorEraseCommands} / ${r.full.sectorEraseCommands} |`,
  );
}
const ownBaud = (() => {
  const rs = rebuild.filter((r) => r.baud === 921600);
  const toFull = rs.map((r) => after(r.ownBaud) / after(r.full));
  return {
    board: OWN_BOARD.bridge,
    bauds: [...new Set(rs.map((r) => r.ownBaud.baud))],
    ownToFullAt921600: {
      median: median(toFull),
      best: Math.min(...toFull),
      worst: Math.max(...toFull),
    },
  };
})();
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
  `With \`--baud auto\` behind a CP2102N (${ownBaud.bauds.join(", ")} baud), espdelta takes ${
    ownBaud.ownToFullAt921600.median.toFixed(2)
  }x the time of \`--full\` at 921600 on the median pair (best ${
    ownBaud.ownToFullAt921600.best.toFixed(2)
  }, worst ${ownBaud.ownToFullAt921600.worst.toFixed(2)}), after connecting.`,
  "",
  "## --baud auto per bridge",
  "",
  "The rebuild pair deployed with `--baud auto` on a virtual board behind each bridge (errors",
  "above its top rate: each byte 1 % likely to arrive with a bit wrong; USB-Serial/JTAG ignores",
  "the baud rate), against fixed rates on the same board. *told*: the bridge is known from the",
  "port's USB ids; *blind*: not (socket://, unknown ids): the probe starts at the chip's top rate",
  "and steps down on errors. Connect includes the stub upload and the link check.",
  "",
  "| bridge | pair | chose | tried | connect s auto / 460800 | after connect s auto / 460800 / 921600 | whole run auto / 460800 |",
  "|---|---|---|---|---|---|---|",
  ...autobaud.map((a) =>
    `| ${a.bridge}${a.told ? "" : " (blind)"} | ${a.pair} | ${
      a.choice.wireBaud === a.choice.baud
        ? a.choice.baud
        : `any (USB: ${a.choice.wireBaud / 1e6} Mbit/s)`
    } | ${a.choice.tried.map((t) => `${t.baud}${t.ok ? "" : " x"}`).join(", ") || "-"} | ${
      sec(a.auto.connectMs)
    } / ${sec(a.at460800.connectMs)} | ${sec(after(a.auto))} / ${sec(after(a.at460800))} / ${
      sec(after(a.at921600))
    } | ${(a.auto.ms / a.at460800.ms).toFixed(2)} |`
  ),
);

md.push(
  "",
  "## Side by side with esptool-js (wall-clock)",
  "",
  `esptool-js 0.7.0 (npm) and espdelta on the same virtual ESP32 behind a ${PEER_BRIDGE},`,
  "served on TCP and paced in real time by the timing model (`espdelta emulate --timing`), the",
  `lidar build's bootloader, partition table and app, both at ${PEER_BAUD} baud with their stubs,`,
  "compressed writes and an MD5 check; a fresh board per run. Wall-clock seconds from opening",
  "the port to the end; *simulated* is espdelta's run on the simulated-time link, for comparison.",
  "",
  "| scenario | esptool-js s | espdelta s | esptool-js / espdelta | espdelta simulated s |",
  "|---|---|---|---|---|",
  ...peers.rows.map((r) =>
    `| ${r.scenario} | ${r.esptoolJs.toFixed(2)} | ${r.espdelta.toFixed(2)} | ${
      r.ratio.toFixed(2)
    } | ${r.espdeltaSimulated.toFixed(2)} |`
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
    {
      timing: DEFAULT_TIMING,
      rows,
      ratios,
      ftdi,
      rebuild: { pairs: rebuild, summary, ownBaud },
      autobaud: autobaud.map((a) => ({
        bridge: a.bridge,
        told: a.told,
        pair: a.pair,
        baud: a.choice.baud,
        wireBaud: a.choice.wireBaud,
        reason: a.choice.reason,
        tried: a.choice.tried,
        connectMs: { auto: a.auto.connectMs, at460800: a.at460800.connectMs },
        afterConnectMs: {
          auto: after(a.auto),
          at460800: after(a.at460800),
          at921600: after(a.at921600),
        },
        wholeRunMs: { auto: a.auto.ms, at460800: a.at460800.ms, at921600: a.at921600.ms },
      })),
      peers,
    },
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

/**
 * The deploy benchmark: time to deploy on the virtual device with the timing
 * model on (simulated time: the wire at the baud rate, USB latency, NOR erase
 * and program times, device MD5 rates; see bench/README.md). A 4 MiB ESP32
 * with bootloader, partition table, NVS, a 1.5 MiB app and a 1 MiB data
 * partition; seven scenarios, each at 115200, 460800 and 921600 baud, for
 * espdelta's plan, for `--full`, and against the physical limit.
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
import { planFlash } from "../src/plan/planner.ts";
import { executePlan } from "../src/plan/execute.ts";
import type { FlashRegion, Outcome } from "../src/plan/types.ts";
import type { CostParams } from "../src/plan/cost.ts";
import { writeImage } from "../src/image/app.ts";
import { parsePartitionCsv, writePartitionTable } from "../src/image/partitions.ts";
import { firmwareLike } from "../tests/rand.ts";

const MiB = 1 << 20;
const SECTOR = 0x1000;
const FLASH = 4 * MiB;
const BAUDS = [115200, 460800, 921600];

function appImage(size: number, seed: number): Uint8Array {
  return writeImage({
    chip: "esp32",
    entry: 0x400d0000,
    segments: [{ loadAddress: 0x3f400020, data: firmwareLike(size - 256, seed) }],
  });
}

const CSV = "nvs,data,nvs,0x9000,0x6000\nfactory,app,factory,0x10000,0x180000\n" +
  "storage,data,spiffs,0x190000,0x100000\n";

function baseRegions(): FlashRegion[] {
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
function touch(r: FlashRegion, sectors: number[], seed: number): FlashRegion {
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
  /** What the device holds before ("blank": erased flash). */
  before: FlashRegion[] | "blank";
  /** What is deployed. */
  after: FlashRegion[];
}

function scenarios(): Scenario[] {
  const base = baseRegions();
  const app = base[3];
  const data = base[4];
  const appSectors = Math.ceil(app.data.length / SECTOR);
  const dataSectors = Math.ceil(data.data.length / SECTOR);
  const replace = (i: number, r: FlashRegion) => base.map((x, j) => (j === i ? r : x));
  // 5 % of the sectors, spread evenly by a fixed stride.
  const scatter = (n: number, salt: number) => range(0, n).filter((s) => (s * 19 + salt) % 100 < 5);
  return [
    { name: "cold (blank flash)", before: "blank", after: base },
    { name: "no-op redeploy", before: base, after: base },
    {
      // A code change shifts what follows it: the header sector (app
      // descriptor, digest) and the last 40 % of the app differ.
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

function flashImage(regions: FlashRegion[] | "blank"): Uint8Array {
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
  /** Bytes on the wire, both directions. */
  wireBytes: number;
  /** Commands sent. */
  roundTrips: number;
  /** Distinct sectors erased. */
  sectorsErased: number;
  outcome: Outcome;
  /** The planner's own estimate of writing and verifying. */
  estimateMs: number;
}

const stub = await findStub("esp32");

async function deploy(
  s: Scenario,
  baud: number,
  full: boolean,
  timing: Partial<TimingParams> = {},
  cost: Partial<CostParams> = {},
): Promise<Run> {
  const clock = new SimClock();
  const flash = flashImage(s.before);
  const device = new VirtualDevice({ chip: "esp32", flashSize: FLASH, flash, clock });
  const { port, stats } = timedLink(device, clock, timing);
  const loader = await connect(port, { clock, baud, stub });
  const connectMs = clock.now();
  device.flash.resetCounters();
  const plan = await planFlash(loader, s.after, { flashSize: FLASH, baud, full, cost });
  await executePlan(loader, plan, s.after);
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
  return {
    ms,
    connectMs,
    wireBytes: stats.bytesToDevice + stats.bytesToHost,
    roundTrips: stats.commands,
    sectorsErased: device.flash.sectorErases.filter((c) => c > 0).length,
    outcome: plan.outcome,
    estimateMs: plan.estimate.ms,
  };
}

/**
 * One device MD5 per region with the stub: what any tool that keeps no copy
 * of the old image must pay to learn whether anything changed.
 */
function md5FloorMs(regions: FlashRegion[], baud: number, t = DEFAULT_TIMING): number {
  // Command 16 + 8 + 2 bytes, reply 8 + 16 + 2 + 2 bytes (SLIP escapes aside).
  const perCommand = t.usbOutMs + t.usbLatencyMs + t.turnaroundMs + (26 + 28) * 10_000 / baud;
  return regions.reduce(
    (ms, r) => ms + perCommand + r.data.length * 1000 / t.stubMd5BytesPerSec,
    0,
  );
}

/**
 * The physical limit of the issue: the changed sectors' deflated bytes plus
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

interface Row {
  scenario: string;
  baud: number;
  changedSectors: number;
  espdelta: Run;
  full: Run;
  limitMs: number;
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

const sec = (ms: number) => (ms / 1000).toFixed(2);
const after = (r: Run) => r.ms - r.connectMs;
const md: string[] = [
  "# Deploy benchmark",
  "",
  "Virtual ESP32, 4 MiB flash, timing model on (bench/README.md); simulated seconds. Whole runs",
  "include connecting (reset, sync, stub upload at 115200, baud change); *after connect* excludes it.",
  "Every run ends with the device holding the images (checked byte for byte).",
  "",
  "| scenario | baud | changed sectors | espdelta s | after connect s | --full after connect s | physical limit s | wire bytes espdelta / full | round trips espdelta / full | sectors erased espdelta / full |",
  "|---|---|---|---|---|---|---|---|---|---|",
];
for (const r of rows) {
  md.push(
    `| ${r.scenario} | ${r.baud} | ${r.changedSectors} | ${sec(r.espdelta.ms)} | ${
      sec(after(r.espdelta))
    } | ${sec(after(r.full))} | ${
      sec(r.limitMs)
    } | ${r.espdelta.wireBytes} / ${r.full.wireBytes} | ${r.espdelta.roundTrips} / ${r.full.roundTrips} | ${r.espdelta.sectorsErased} / ${r.full.sectorsErased} |`,
  );
}

const at = (name: string, baud: number) =>
  rows.find((r) => r.scenario === name && r.baud === baud)!;
const ratios: Record<string, number | string>[] = [];
md.push("", "## Targets (ratios)", "", "| target | baud | ratio | goal |", "|---|---|---|---|");
const target = (name: string, baud: number | string, ratio: number, goal: string) => {
  ratios.push({ name, baud, ratio: Number(ratio.toFixed(3)), goal });
  md.push(`| ${name} | ${baud} | ${ratio.toFixed(2)} | ${goal} |`);
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
const cold = at("cold (blank flash)", 921600);
const compressed = baseRegions().reduce((n, r) => n + deflateSync(r.data, { level: 9 }).length, 0);
const rawBytes = baseRegions().reduce((n, r) => n + r.data.length, 0);
const wireOnlyMs = compressed * 10_000 / 921600;
target(
  "full write: effective throughput / wire limit at the compression ratio",
  921600,
  wireOnlyMs / after(cold.full),
  ">= 0.9",
);
md.push(
  "",
  `The regions hold ${(rawBytes / 1024).toFixed(0)} KiB that deflate to ${
    (compressed / 1024).toFixed(0)
  } KiB: ${sec(wireOnlyMs)} s on the wire at 921600 baud, ` +
    `${sec(after(cold.full))} s for the whole write and its verification. The stub acknowledges ` +
    "a block when its command loop takes it, after the previous block is written, so blocks that " +
    "start a 64 KiB erase (150 ms) hold the wire idle: erase and program time overlap the wire " +
    "only one block deep.",
  "",
  "A device MD5 pass over every region is the price of knowing what the device holds without a " +
    "copy of the old image; the physical limit leaves it out, so one changed sector cannot come " +
    "within 1.5x of it while the regions take longer to hash than the sector takes to write.",
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
  JSON.stringify({ timing: DEFAULT_TIMING, rows, ratios, ftdi }, null, 2) + "\n",
);
await Deno.writeTextFile(new URL("deploy.md", results), md.join("\n") + "\n");
await Deno.writeTextFile(
  new URL("deploy.svg", results),
  chart(rows.filter((r) => r.baud === 921600)),
);
console.log(md.join("\n"));

/** A bar chart of time per scenario after connecting: espdelta, --full, the physical limit. */
function chart(chartRows: Row[]): string {
  const max = Math.max(...chartRows.map((r) => after(r.full)));
  const width = 900;
  const rowH = 54;
  const left = 190;
  const scale = (ms: number) => Math.max(1, ((width - left - 80) * ms) / max);
  const bars = chartRows.map((r, i) => {
    const y = 40 + i * rowH;
    const bar = (ms: number, dy: number, color: string) =>
      `<rect x="${left}" y="${y + dy}" width="${
        scale(ms).toFixed(1)
      }" height="14" fill="${color}"/>` +
      `<text x="${left + scale(ms) + 4}" y="${y + dy + 11}" font-size="11">${sec(ms)} s</text>`;
    return `<text x="8" y="${y + 26}" font-size="12">${r.scenario}</text>` +
      bar(after(r.espdelta), 0, "#2a7ab8") + bar(after(r.full), 16, "#c0504d") +
      bar(r.limitMs, 32, "#7f7f7f");
  }).join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${
    60 + chartRows.length * rowH
  }" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="8" y="20" font-size="14">Time to deploy after connecting, 921600 baud (simulated s): espdelta (blue), --full (red), physical limit (grey)</text>
${bars}
</svg>
`;
}

/**
 * The fault campaign: real faults over real transports, seeded and bounded.
 * Each trial puts a seeded older state on a virtual ESP32 (`espdelta
 * emulate` as a process, its flash in a --flash-file), starts `espdelta
 * flash` as a process, and at a random moment of the write (after the plan,
 * within the time a clean write takes) does one of:
 *
 * - kill the emulator with SIGKILL (socket:// and pty), or ser2net in front
 *   of a pty emulator (rfc2217://), and start it again, either soon (the
 *   run may get the port back within its 3 s and resume) or after the run
 *   gave up (a pty's link is removed at the kill, as udev removes a
 *   /dev/serial/by-id link: the node is gone until the device is back);
 * - close the client's stdout (its output pipe goes away);
 * - send the client SIGINT.
 *
 * A run that fails is run again. Then the device must hold the images, every
 * byte outside the images' sectors must be as it was, and the per-sector
 * counters the emulators kept across all their processes must show no
 * sector erased or written outside the plans of the runs (each run's plan
 * read from its JSON events). A run whose link died ends in the one lost
 * line and exit 1 (or resumes by itself when the port came back in time),
 * a SIGINT in one `interrupted` line, the event and exit 130, and a run
 * whose stdout was closed finishes the write with exit 0.
 *
 * ESPDELTA_CAMPAIGN_SEED picks another campaign; the same seed draws the
 * same trials (the moments are times, so what they hit varies a little).
 */
import { assertEquals, assertOk } from "../assert.ts";
import { rng } from "../rand.ts";
import { readCounters } from "../../src/emulator/flash_file.ts";
import { type Emulator, freePort, type Proc, spawnEspdelta, startEmulator } from "./processes.ts";
import { type Ser2net, startSer2net } from "../serial/ser2net.ts";

const SEED = Number(Deno.env.get("ESPDELTA_CAMPAIGN_SEED") ?? 15);
const LIDAR = new URL("../../testdata/rebuilds/lidar-esp32/", import.meta.url).pathname;
const BOOTLOADER = `${LIDAR}build/bootloader/bootloader.bin`;
const TABLE = `${LIDAR}build/partition_table/partition-table.bin`;
const APPS = [1, 2, 3, 4, 5].map((v) => `${LIDAR}app-v${v}.bin`);
const FLASH_SIZE = 4 << 20;
const SECTOR = 0x1000;
/** Trials running at once (each mostly waits: process start-up, the 3 s port window). */
const LANES = 4;

type Transport = "tcp" | "pty" | "rfc2217";
type Fault = "kill" | "stdout" | "sigint";

interface Trial {
  n: number;
  transport: Transport;
  fault: Fault;
  /** Kill faults: start the killed part again soon, or after the run gave up. */
  restart: "soon" | "late";
  /** Restart delay after the kill for "soon", ms. */
  restartMs: number;
  /** The fault's moment, as a fraction of a clean write's duration after the plan. */
  at: number;
  /** Target app and what the device holds before. */
  app: number;
  before: "older-build" | "random" | "erased";
  older: number;
  seed: number;
}

/** The seeded list of trials: 54 kills (18 per transport), 6 closed stdouts, 6 SIGINTs. */
function trials(): Trial[] {
  const r = rng(SEED);
  const out: Trial[] = [];
  const kinds: [Transport, Fault][] = [];
  for (let i = 0; i < 18; i++) kinds.push(["tcp", "kill"], ["pty", "kill"], ["rfc2217", "kill"]);
  for (const t of ["tcp", "pty", "rfc2217"] as const) {
    kinds.push([t, "stdout"], [t, "stdout"], [t, "sigint"], [t, "sigint"]);
  }
  kinds.forEach(([transport, fault], n) => {
    const app = (r() * APPS.length) | 0;
    const b = r();
    out.push({
      n,
      transport,
      fault,
      restart: r() < 0.6 ? "soon" : "late",
      restartMs: Math.round(r() * 1500),
      at: r() * 1.2,
      app,
      before: b < 0.5 ? "older-build" : b < 0.75 ? "random" : "erased",
      older: (app + 1 + ((r() * (APPS.length - 1)) | 0)) % APPS.length,
      seed: (r() * 2 ** 31) | 0,
    });
  });
  return out;
}

/** The images a run flashes: [offset, bytes]. */
async function images(app: number): Promise<[number, Uint8Array][]> {
  return [
    [0x1000, await Deno.readFile(BOOTLOADER)],
    [0x8000, await Deno.readFile(TABLE)],
    [0x10000, await Deno.readFile(APPS[app])],
  ];
}

// No boot check: ser2net in front of a pty cannot pass DTR/RTS on to the
// board, so the chip is never reset into the app there (link_death_test.ts
// does the same); the campaign is about the flash.
const flashArgs = (app: number) => [
  "flash",
  "--no-boot-check",
  "0x1000",
  BOOTLOADER,
  "0x8000",
  TABLE,
  "0x10000",
  APPS[app],
];

/** The device's flash before the trial: foreign bytes everywhere, the regions as `before` says. */
async function initialFlash(t: Trial): Promise<Uint8Array> {
  const r = rng(t.seed);
  const flash = new Uint8Array(FLASH_SIZE);
  for (let i = 0; i < flash.length; i += 4) {
    const v = (r() * 2 ** 32) >>> 0;
    flash[i] = v;
    flash[i + 1] = v >>> 8;
    flash[i + 2] = v >>> 16;
    flash[i + 3] = v >>> 24;
  }
  const target = await images(t.app);
  if (t.before === "older-build") {
    for (const [at, data] of await images(t.older)) flash.set(data, at);
  } else if (t.before === "erased") {
    for (const [at, data] of target) {
      flash.fill(0xff, at, at + Math.ceil(data.length / SECTOR) * SECTOR);
    }
  }
  return flash;
}

/** Absolute sectors a plan event's steps erase or write. */
function planSectors(events: Record<string, unknown>[]): Set<number> {
  const out = new Set<number>();
  for (const e of events) {
    if (e.type !== "plan") continue;
    const steps = (e.plan as { steps: { firstSector: number; sectors: number }[] }).steps;
    for (const s of steps) for (let i = 0; i < s.sectors; i++) out.add(s.firstSector + i);
  }
  return out;
}

function events(p: Proc): Record<string, unknown>[] {
  return p.stdout.lines.flatMap((l) => {
    try {
      return [JSON.parse(l)];
    } catch {
      return [];
    }
  });
}

/** What one trial came to. */
interface Outcome {
  trial: Trial;
  /** The client was still running when the fault came. */
  landed: boolean;
  firstCode: number;
  reran: boolean;
  seconds: number;
}

/** The device side of a trial: emulator, and ser2net for rfc2217. */
interface Rig {
  url: string;
  /** Kills the part the trial's fault kills (emulator or ser2net). */
  kill(): Promise<void>;
  /** Starts it again. */
  restart(): Promise<void>;
  /** Stops everything. */
  stop(): Promise<void>;
}

async function rig(t: Trial, dir: string): Promise<Rig> {
  const file = `${dir}/flash.bin`;
  if (t.transport === "tcp" || t.transport === "pty") {
    const args = t.transport === "tcp"
      ? ["--tcp", `127.0.0.1:${freePort()}`, "--flash-file", file]
      : ["--pty", "--link", `${dir}/tty`, "--flash-file", file];
    let emu: Emulator = await startEmulator("esp32", args);
    return {
      url: emu.url,
      kill: async () => {
        await emu.killHard();
        // The node is gone with its device (udev removes the by-id link).
        if (t.transport === "pty") await Deno.remove(`${dir}/tty`).catch(() => {});
      },
      restart: async () => {
        emu = await startEmulator("esp32", args);
      },
      stop: () => emu.stop(),
    };
  }
  const emu = await startEmulator("esp32", ["--pty", "--flash-file", file]);
  const ser2net: Ser2net = await startSer2net(emu.url);
  return {
    url: ser2net.url,
    kill: () => ser2net.kill(),
    restart: () => ser2net.restart(),
    stop: async () => {
      await ser2net.stop();
      await emu.stop();
    },
  };
}

/** Waits for the client to end, killing it after `ms` (a hang fails the trial). */
async function ended(p: Proc, ms = 60_000): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watchdog = new Promise<void>((r) => timer = setTimeout(r, ms));
  const code = await Promise.race([p.code(), watchdog.then(() => undefined)]);
  clearTimeout(timer);
  if (code === undefined) {
    p.kill("SIGKILL");
    await p.code();
    throw new Error(`the client hung for ${ms / 1000} s: ${p.stderr.text.slice(-1000)}`);
  }
  return code;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LOST =
  /^error: lost the device on \S+ (during .+ )?\(.+\); check the cable and power, then run the same command again: espdelta re-plans and writes only what is still wrong$/;

async function runTrial(t: Trial, writeMs: Record<Transport, number>): Promise<Outcome> {
  const started = performance.now();
  const dir = await Deno.makeTempDir({ prefix: "espdelta-campaign-" });
  const where = () => `trial ${t.n} (${JSON.stringify(t)})`;
  const before = await initialFlash(t);
  await Deno.writeFile(`${dir}/flash.bin`, before);
  const device = await rig(t, dir);
  try {
    const first = spawnEspdelta(["-p", device.url, "--json", ...flashArgs(t.app)]);
    const plan = await first.stdout.waitLine((l) => l.includes('"type":"plan"'), 30_000);
    if (plan) await sleep(t.at * writeMs[t.transport]);
    let landed = false;
    const running = () => first.child.status.then(() => false, () => false);
    const stillRunning = await Promise.race([running(), sleep(0).then(() => true)]);
    if (t.fault === "kill") {
      landed = stillRunning;
      await device.kill();
      if (t.restart === "soon") {
        await sleep(t.restartMs);
        await device.restart();
      }
    } else if (t.fault === "stdout") {
      landed = stillRunning;
      await first.stdout.close();
    } else {
      landed = stillRunning;
      first.kill("SIGINT");
    }
    const firstCode = await ended(first);
    if (t.fault === "kill" && t.restart === "late") await device.restart();
    const runs = [first];
    if (firstCode !== 0) {
      const lines = first.stderr.lines;
      if (t.fault === "kill") {
        assertEquals(lines.length, 1, `${where()}: ${first.stderr.text}`);
        assertOk(LOST.test(lines[0]), `${where()}: ${lines[0]}`);
        assertEquals(firstCode, 1, where());
      } else if (t.fault === "sigint") {
        // One line, an `interrupted` event, exit 130 (README "When things go wrong").
        assertEquals(firstCode, 130, where());
        assertEquals(lines.length, 1, `${where()}: ${first.stderr.text}`);
        assertOk(lines[0].startsWith("interrupted (SIGINT)"), `${where()}: ${lines[0]}`);
        assertOk(events(first).some((e) => e.type === "interrupted"), where());
      } else {
        assertEquals(firstCode, 0, `${where()}: a closed stdout stopped the write`);
      }
      const again = spawnEspdelta(["-p", device.url, "--json", ...flashArgs(t.app)]);
      const code = await ended(again);
      assertEquals(code, 0, `${where()}: the re-run failed: ${again.stderr.text}`);
      runs.push(again);
    } else if (t.fault === "kill" && landed) {
      // Recovered within the run: the same plan, written to the end.
      assertOk(events(first).some((e) => e.type === "outcome"), where());
    }
    await device.stop();

    const flash = await Deno.readFile(`${dir}/flash.bin`);
    const target = await images(t.app);
    const inImages = new Set<number>();
    for (const [at, data] of target) {
      assertOk(
        flash.subarray(at, at + data.length).every((b, i) => b === data[i]),
        `${where()}: the image at 0x${at.toString(16)} is not on the device`,
      );
      for (let s = at / SECTOR; s < Math.ceil((at + data.length) / SECTOR); s++) inImages.add(s);
    }
    for (let s = 0; s < FLASH_SIZE / SECTOR; s++) {
      if (inImages.has(s)) continue;
      const a = before.subarray(s * SECTOR, (s + 1) * SECTOR);
      const b = flash.subarray(s * SECTOR, (s + 1) * SECTOR);
      assertOk(a.every((x, i) => x === b[i]), `${where()}: sector ${s} outside the images changed`);
    }
    const plans = planSectors(runs.flatMap(events));
    const counters = readCounters(`${dir}/flash.bin`);
    const outside = [];
    for (let s = 0; s < counters.sectors; s++) {
      if ((counters.erases[s] || counters.writes[s]) && !plans.has(s)) outside.push(s);
    }
    assertEquals(outside, [], `${where()}: sectors touched outside the plans`);
    return {
      trial: t,
      landed,
      firstCode,
      reran: firstCode !== 0,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await device.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** How long a clean write takes on each transport, from the plan event to the outcome. */
async function calibrate(): Promise<Record<Transport, number>> {
  const out = {} as Record<Transport, number>;
  for (const transport of ["tcp", "pty", "rfc2217"] as const) {
    const dir = await Deno.makeTempDir({ prefix: "espdelta-campaign-" });
    const t: Trial = {
      n: -1,
      transport,
      fault: "kill",
      restart: "soon",
      restartMs: 0,
      at: 0,
      app: 0,
      before: "erased",
      older: 1,
      seed: 1,
    };
    await Deno.writeFile(`${dir}/flash.bin`, await initialFlash(t));
    const device = await rig(t, dir);
    try {
      const p = spawnEspdelta(["-p", device.url, "--json", ...flashArgs(0)]);
      await p.stdout.waitLine((l) => l.includes('"type":"plan"'), 30_000);
      const from = performance.now();
      await p.stdout.waitLine((l) => l.includes('"type":"outcome"'), 30_000);
      out[transport] = performance.now() - from;
      assertEquals(await ended(p), 0, p.stderr.text);
    } finally {
      await device.stop();
      await Deno.remove(dir, { recursive: true });
    }
  }
  return out;
}

Deno.test(`fault campaign: ${trials().length} seeded trials over socket://, pty and rfc2217:// (ser2net)`, async () => {
  const started = performance.now();
  const writeMs = await calibrate();
  const all = trials();
  const outcomes: Outcome[] = [];
  await Promise.all(
    Array.from({ length: LANES }, async (_, lane) => {
      for (let i = lane; i < all.length; i += LANES) outcomes.push(await runTrial(all[i], writeMs));
    }),
  );
  const kills = outcomes.filter((o) => o.trial.fault === "kill");
  assertOk(kills.length >= 50, `${kills.length} kill trials`);
  const landed = outcomes.filter((o) => o.landed);
  // Not a vacuous campaign: nearly every fault came while the client was running.
  assertOk(landed.length >= outcomes.length * 0.9, `${landed.length} faults mid-run`);
  const summary = {
    seed: SEED,
    trials: outcomes.length,
    faultsMidRun: landed.length,
    firstRunsFailed: outcomes.filter((o) => o.firstCode !== 0).length,
    recoveredWithinRun: kills.filter((o) => o.landed && o.firstCode === 0).length,
    neededRerun: outcomes.filter((o) => o.reran).length,
    byFault: Object.fromEntries(
      (["kill", "stdout", "sigint"] as const).map((f) => {
        const of = outcomes.filter((o) => o.trial.fault === f);
        return [f, {
          trials: of.length,
          midRun: of.filter((o) => o.landed).length,
          reran: of.filter((o) => o.reran).length,
        }];
      }),
    ),
    sectorsTouchedOutsidePlans: 0,
    writeMs: Object.fromEntries(Object.entries(writeMs).map(([k, v]) => [k, Math.round(v)])),
    seconds: Math.round((performance.now() - started) / 1000),
  };
  console.log(`fault campaign: ${JSON.stringify(summary)}`);
});

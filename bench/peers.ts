/**
 * The side-by-side part of the deploy benchmark (issue 16, item 6):
 * esptool-js 0.7.0 (Espressif's TypeScript flasher, npm) and espdelta on
 * the same virtual ESP32, served on TCP and paced in real time by the
 * timing model (`espdelta emulate --timing`; src/emulator/paced.ts) behind
 * a CP2102 bridge, the same images, one after the other in the same run;
 * wall-clock seconds. Both run in this process, at 921600 baud, with their
 * own flasher stub, compressed writes and an MD5 check of what they wrote;
 * each deploy gets a fresh board holding the scenario's starting contents.
 * @module
 */

import { createHash } from "node:crypto";
import { ESPLoader, Transport } from "npm:esptool-js@0.7.0";
import { VirtualDevice } from "../src/emulator/device.ts";
import { serveTcp } from "../src/emulator/tcp.ts";
import { findStub } from "../src/loader/stubs.ts";
import { openSession, settleFlashSize } from "../src/session/session.ts";
import { planFlash } from "../src/plan/planner.ts";
import { executePlan } from "../src/plan/execute.ts";
import type { Region } from "../src/plan/types.ts";
import { TcpSerialPort } from "../tests/independent/webserial_tcp.ts";

/** Baud both flashers use. */
export const PEER_BAUD = 921600;
/** The bridge on the paced board. */
export const PEER_BRIDGE = "cp2102";
const FLASH = 4 << 20;

/** One peer scenario: the board's contents before, the images deployed. */
export interface PeerScenario {
  /** Name, e.g. "cold". */
  name: string;
  /** What the board holds before ("blank": erased). */
  before: Region[] | "blank";
  /** What is deployed. */
  after: Region[];
}

/** One scenario's wall-clock seconds per flasher. */
export interface PeerRow {
  /** Scenario. */
  scenario: string;
  /** esptool-js: connect, stub, baud change, write with MD5 check. */
  esptoolJs: number;
  /** espdelta: connect, stub, baud change, plan, write, verify. */
  espdelta: number;
  /** esptool-js / espdelta. */
  ratio: number;
}

/** A fresh paced board holding `before`, served until `fn` ends. */
async function board<T>(
  before: Region[] | "blank",
  fn: (host: string, port: number, device: VirtualDevice) => Promise<T>,
): Promise<T> {
  const flash = new Uint8Array(FLASH).fill(0xff);
  if (before !== "blank") { for (const r of before) flash.set(r.data, r.offset); }
  const device = new VirtualDevice({ chip: "esp32", flashSize: FLASH, flash, bridge: PEER_BRIDGE });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0, timing: {} });
  try {
    return await fn("127.0.0.1", server.port, device);
  } finally {
    await server.close();
  }
}

function check(device: VirtualDevice, regions: Region[], who: string): void {
  for (const r of regions) {
    if (!r.data.every((b, i) => b === device.flash.data[r.offset + i])) {
      throw new Error(`${who}: ${r.name} not on the device`);
    }
  }
}

/** esptool-js's write of `regions`, in wall-clock ms. */
async function esptoolJs(s: PeerScenario): Promise<number> {
  return await board(s.before, async (host, port, device) => {
    const serial = new TcpSerialPort(host, port);
    const transport = new Transport(serial as never, false);
    const terminal = { clean() {}, writeLine() {}, write() {} };
    const started = performance.now();
    const loader = new ESPLoader({
      transport,
      baudrate: PEER_BAUD,
      romBaudrate: 115200,
      terminal,
    });
    try {
      await loader.main("no_reset");
      await loader.writeFlash({
        fileArray: s.after.map((r) => ({ data: r.data, address: r.offset })),
        flashMode: "keep",
        flashFreq: "keep",
        flashSize: "keep",
        eraseAll: false,
        compress: true,
        calculateMD5Hash: (image: Uint8Array) => createHash("md5").update(image).digest("hex"),
      } as never);
      const ms = performance.now() - started;
      check(device, s.after, "esptool-js");
      return ms;
    } finally {
      await transport.disconnect().catch(() => {});
      serial.shutdown();
    }
  });
}

/** espdelta's deploy of `regions` (what `espdelta -b 921600 flash` does), in wall-clock ms. */
async function espdelta(s: PeerScenario): Promise<number> {
  const stub = await findStub("esp32");
  return await board(s.before, async (host, port, device) => {
    const started = performance.now();
    const session = await openSession(`socket://${host}:${port}`, {
      baud: PEER_BAUD,
      stub,
      after: "no-reset",
    });
    try {
      const flashSize = await settleFlashSize(session.loader);
      const plan = await planFlash(session.loader, s.after, { flashSize, baud: PEER_BAUD });
      await executePlan(session.loader, plan, s.after);
      const ms = performance.now() - started;
      check(device, s.after, "espdelta");
      return ms;
    } finally {
      await session.close(false);
    }
  });
}

/** Runs every scenario with both flashers; seconds, rounded to the ms. */
export async function runPeers(scenarios: PeerScenario[]): Promise<PeerRow[]> {
  const rows: PeerRow[] = [];
  for (const s of scenarios) {
    const e = await esptoolJs(s);
    const d = await espdelta(s);
    rows.push({
      scenario: s.name,
      esptoolJs: Math.round(e) / 1000,
      espdelta: Math.round(d) / 1000,
      ratio: Number((e / d).toFixed(3)),
    });
    console.error(
      `peers ${s.name}: esptool-js ${(e / 1000).toFixed(2)} s, espdelta ${(d / 1000).toFixed(2)} s`,
    );
  }
  return rows;
}

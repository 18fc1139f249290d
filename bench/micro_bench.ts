/**
 * Micro-benchmarks (`deno bench`): the SLIP codec, packet building, local
 * hashing of a 16 MiB image, and planning a 16 MiB image with 1 % of its
 * sectors changed. Names say the bytes per iteration, so iter/s reads as
 * MiB/s where it matters. bench/run.ts turns the JSON output into ratios
 * against the targets.
 * @module
 */

import { SlipDecoder, slipEncode } from "../src/protocol/slip.ts";
import { checksum, encodeCommand, encodeDataPayload } from "../src/protocol/packet.ts";
import { Op } from "../src/protocol/opcodes.ts";
import { md5Hex, RegionHashes } from "../src/plan/hash.ts";
import { planFlash } from "../src/plan/planner.ts";
import type { PlanDevice } from "../src/plan/types.ts";
import { CHIPS } from "../src/chips/chips.ts";
import { firmwareLike, rng } from "../tests/rand.ts";

const MiB = 1 << 20;
const SECTOR = 0x1000;

// Firmware-like bytes hold C0 and DB at about their natural rate (~1 %).
const packet = firmwareLike(MiB, 1);
const frame = slipEncode(packet);

Deno.bench("slip encode, 1 MiB", { group: "slip", n: 200 }, () => {
  slipEncode(packet);
});

Deno.bench("slip decode, 1 MiB in 4 KiB reads", { group: "slip", n: 200 }, () => {
  const d = new SlipDecoder();
  for (let at = 0; at < frame.length; at += 4096) d.push(frame.subarray(at, at + 4096));
});

const block = firmwareLike(0x4000, 2);
Deno.bench("packet: FLASH_DEFL_DATA, 16 KiB block, framed", { n: 2000 }, () => {
  slipEncode(encodeCommand(Op.FLASH_DEFL_DATA, encodeDataPayload(7, block), checksum(block)));
});

const image = firmwareLike(16 * MiB, 3);
Deno.bench("local hashing: 16 MiB image, whole and every sector", { n: 10 }, () => {
  const h = new RegionHashes(image);
  for (let i = 0; i < h.sectors; i++) h.sectorMd5(i);
});

// The device holds `image`; the local image differs in 1 % of its sectors.
const local = image.slice();
const r = rng(4);
const sectors = image.length / SECTOR;
for (let n = 0; n < sectors / 100; n++) local[((r() * sectors) | 0) * SECTOR + 17] ^= 0xff;

/**
 * A device that answers MD5s from a table filled on the first run, so the
 * measured time is the planner's own (local hashing, probing decisions,
 * merging), not the device's.
 */
function recordedDevice(): PlanDevice {
  const answers = new Map<string, string>();
  return {
    chip: CHIPS.esp32,
    isStub: true,
    md5(offset, size) {
      const key = `${offset}:${size}`;
      let a = answers.get(key);
      if (a === undefined) {
        a = md5Hex(image.subarray(offset - 0x10000, offset - 0x10000 + size));
        answers.set(key, a);
      }
      return Promise.resolve(a);
    },
    write: () => Promise.reject(new Error("planning writes nothing")),
    eraseRegion: () => Promise.reject(new Error("planning erases nothing")),
  };
}

const device = recordedDevice();
const regions = [{ name: "app", offset: 0x10000, data: local, kind: "data" as const }];
const planOptions = { flashSize: 32 * MiB, baud: 921600 };
await planFlash(device, regions, planOptions); // fills the answer table

Deno.bench("plan: 16 MiB image, 1 % of sectors changed", { n: 10 }, async () => {
  await planFlash(device, regions, planOptions);
});

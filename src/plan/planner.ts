/**
 * Makes a plan: hashes regions locally, asks the device for MD5s (search.ts:
 * within a budget of one MD5 of each region plus what the answers save),
 * chooses the write ranges that cover what differs for the least time
 * (cover.ts), and orders the writes (steps.ts).
 * @module
 */

import { Sizes } from "../protocol/opcodes.ts";
import { EspdeltaError } from "../protocol/errors.ts";
import { hex } from "../protocol/bytes.ts";
import { type CostParams, costParams, DEFAULT_COST, md5Ms } from "./cost.ts";
import { bestCover } from "./cover.ts";
import { erasedMd5, RegionHashes } from "./hash.ts";
import { type Probe, searchRegion } from "./search.ts";
import { isApp, regionSteps } from "./steps.ts";
import type {
  Outcome,
  Plan,
  PlanDevice,
  PlanStep,
  Region,
  RegionPlan,
  StepReason,
} from "./types.ts";
import { validateRegions } from "./validate.ts";
import { verifyRanges } from "./verify.ts";

/**
 * Flash encryption is on: the device's MD5s are of encrypted flash and can
 * never match plaintext images, so the delta path cannot work.
 */
export class EncryptedFlashError extends EspdeltaError {
  /** From the FLASH_CRYPT_CNT eFuse value. */
  constructor(flashCryptCnt: number) {
    super(
      "ENCRYPTED_FLASH",
      `flash encryption is on (FLASH_CRYPT_CNT ${hex(flashCryptCnt)}): the device's MD5s are ` +
        "of encrypted flash and cannot be compared with plaintext images; pass --encrypt to " +
        "write every region whole through the chip's encryption engine (unverified)",
    );
  }
}

/**
 * `--encrypt` on a chip whose flash encryption is off (or that has none):
 * the engine would store ciphertext that the chip never decrypts at boot,
 * so the board would not start. Refused before anything is written.
 */
export class EncryptionOffError extends EspdeltaError {
  /** For `chip` (its display name), with its FLASH_CRYPT_CNT when it has flash encryption. */
  constructor(chip: string, flashCryptCnt?: number) {
    super(
      "ENCRYPTION_OFF",
      flashCryptCnt === undefined
        ? `--encrypt: the ${chip} has no flash encryption; leave --encrypt out`
        : `--encrypt: flash encryption is off on this ${chip} (FLASH_CRYPT_CNT ` +
          `${hex(flashCryptCnt)}): the chip would store ciphertext it never decrypts at boot, ` +
          "and the board would not start; leave --encrypt out, or enable flash encryption first",
    );
  }
}

/**
 * Throws {@link EncryptionOffError} unless the device's flash encryption is
 * on: what `--encrypt` needs before anything is written.
 */
export function checkEncryptionOn(dev: Pick<PlanDevice, "chip" | "security">): void {
  if (dev.chip.encryptionBlock === null || !dev.security) {
    throw new EncryptionOffError(dev.chip.displayName);
  }
  if (!dev.security.flashEncryption) {
    throw new EncryptionOffError(dev.chip.displayName, dev.security.flashCryptCnt);
  }
}

/** Options of {@link planFlash}. */
export interface PlanOptions {
  /** Flash size to check regions against (detected or given). */
  flashSize: number;
  /** Baud rate the writes will run at (default 115200). */
  baud?: number;
  /** Overrides of the cost model parameters. */
  cost?: Partial<CostParams>;
  /** Write every region whole without probing (`--full`). */
  full?: boolean;
  /**
   * Write every region whole through the chip's flash-encryption engine
   * (`--encrypt`). Required when flash encryption is on: the device's MD5s
   * are then of encrypted flash, so nothing can be compared or verified.
   */
  encrypt?: boolean;
  /** Called after each device MD5 while probing. */
  onProbe?: (probe: { region: string; offset: number; length: number; match: boolean }) => void;
}

/**
 * Asks the device for the MD5 of sectors [first, first + count) of a region
 * and compares it with the local one and with the MD5 of blank flash.
 */
function prober(
  dev: PlanDevice,
  region: Region,
  h: RegionHashes,
  p: CostParams,
  stats: Plan["probe"],
  onProbe: PlanOptions["onProbe"],
  onDeviceMd5: (md5: string, first: number, count: number) => void,
): (first: number, count: number) => Promise<Probe> {
  return async (first, count) => {
    const offset = region.offset + first * Sizes.SECTOR;
    const length = h.rangeLength(first, count);
    const device = await dev.md5(offset, length);
    onDeviceMd5(device, first, count);
    stats.md5Commands++;
    stats.bytesHashed += length;
    stats.ms += md5Ms(p, length);
    const match = device === h.rangeMd5(first, count);
    onProbe?.({ region: region.name, offset, length, match });
    return match ? "match" : device === erasedMd5(length) ? "erased" : "differs";
  };
}

/** The region's lengths and compressed sizes, as the cover asks for them. */
function rangeFns(h: RegionHashes) {
  return {
    rangeLength: (first: number, count: number) => h.rangeLength(first, count),
    compressedSize: (first: number, count: number) => h.compressedSize(first, count),
  };
}

/**
 * Plans writing `regions` to the device: validates them, compares device MD5s
 * with local ones, narrows differences down to sectors, and returns a
 * {@link Plan}. The device is only read (MD5 commands); nothing is written.
 *
 * @example
 * ```ts ignore
 * import { connect, planFlash, executePlan } from "@espdelta/espdelta";
 * const loader = await connect(port);
 * const regions = [{ name: "app", offset: 0x10000, data: await Deno.readFile("app.bin") }];
 * const plan = await planFlash(loader, regions, { flashSize: 4 << 20 });
 * console.log(plan.outcome); // "selective"
 * await executePlan(loader, plan, regions);
 * ```
 */
export async function planFlash(
  dev: PlanDevice,
  regions: readonly Region[],
  options: PlanOptions,
): Promise<Plan> {
  const sorted = validateRegions(regions, dev.chip, options.flashSize);
  // A slow link (an FTDI bridge's 16 ms latency timer) makes every probe dearer: use what
  // the loader measured when it is worse than the model's default.
  const measured = dev.latencyMs !== undefined && dev.latencyMs > DEFAULT_COST.latencyMs
    ? { latencyMs: dev.latencyMs }
    : {};
  const p = costParams(options.baud ?? 115200, dev.isStub, { ...measured, ...options.cost });
  const sec = dev.security;
  if (sec?.flashEncryption && !options.encrypt) throw new EncryptedFlashError(sec.flashCryptCnt);
  if (options.encrypt) checkEncryptionOn(dev);
  const canHash = !options.encrypt && (dev.canHash ?? (dev.isStub || dev.chip.rom.md5));
  const stats: Plan["probe"] = { md5Commands: 0, bytesHashed: 0, ms: 0 };
  const regionPlans: RegionPlan[] = [];
  const steps: PlanStep[] = [];

  for (const region of sorted) {
    const h = new RegionHashes(region.data);
    const rp: RegionPlan = {
      name: region.name,
      offset: region.offset,
      length: region.data.length,
      sectors: h.sectors,
      md5: h.md5,
      status: "match",
      writeSectors: 0,
      ranges: [],
    };
    regionPlans.push(rp);
    if (options.full || !canHash) {
      const reason: StepReason = options.encrypt
        ? "encrypted"
        : options.full
        ? "forced-full"
        : "no-device-md5";
      const detail = options.encrypt
        ? "written whole through the flash-encryption engine (cannot be verified by MD5)"
        : options.full
        ? "full write requested"
        : sec?.secureDownload
        ? "Secure Download Mode allows no flash MD5; writing whole regions, unverified"
        : `${dev.chip.displayName} ROM cannot hash flash; writing whole regions (use the stub)`;
      rp.status = "forced";
      rp.ranges = [[0, h.sectors]];
      rp.writeSectors = h.sectors;
      const forced = regionSteps(region, h, rp.ranges, reason, detail, p);
      steps.push(...(options.encrypt ? forced.map((st) => ({ ...st, encrypt: true })) : forced));
      continue;
    }
    const probe = prober(dev, region, h, p, stats, options.onProbe, (md5, first, count) => {
      if (first === 0 && count === h.sectors) rp.deviceMd5 = md5;
    });
    const baseSector = region.offset / Sizes.SECTOR;
    const must = await searchRegion({
      h,
      baseSector,
      p,
      verify: canHash,
      app: isApp(region),
      probe,
    });
    if (must.length === 0) continue;
    const ranges = bestCover(
      { sectors: h.sectors, baseSector, ...rangeFns(h) },
      p,
      canHash,
      must,
    ).ranges;
    rp.status = "write";
    rp.ranges = ranges;
    rp.writeSectors = ranges.reduce((n, r) => n + r[1], 0);
    const narrowed = rp.writeSectors < h.sectors;
    steps.push(...regionSteps(
      region,
      h,
      ranges,
      narrowed ? "sectors-differ" : "range-differs",
      narrowed ? "device MD5 differs in these sectors" : "region differs on the device",
      p,
    ));
  }

  const totalSectors = regionPlans.reduce((n, r) => n + r.sectors, 0);
  const written = regionPlans.reduce((n, r) => n + r.writeSectors, 0);
  const outcome: Outcome = written === 0
    ? "verify-skip"
    : written === totalSectors
    ? "full"
    : "selective";
  const verify = canHash;
  let ms = 0;
  let wireBytes = 0;
  let roundTrips = 0;
  for (const s of steps) {
    ms += s.ms;
    wireBytes += s.wireBytes;
    roundTrips += s.action === "erase"
      ? 1
      : Math.max(1, Math.ceil(s.compressedBytes / (p.stub ? 0x4000 : 0x400))) + 2;
  }
  if (verify) {
    for (const v of verifyRanges(regionPlans, steps)) {
      ms += md5Ms(p, v.length);
      roundTrips++;
    }
  }
  return {
    chip: dev.chip.name,
    flashSize: options.flashSize,
    stub: dev.isStub,
    outcome,
    regions: regionPlans,
    steps,
    verify,
    probe: stats,
    estimate: { ms, wireBytes, roundTrips },
    cost: p,
  };
}

/**
 * The plan in one line, e.g. `selective: app 0x10000 (12 of 240 sectors)`.
 */
export function summarizePlan(plan: Plan): string {
  if (plan.outcome === "verify-skip") {
    const names = plan.regions.map((r) => r.name).join(", ");
    return `verify-skip: ${plan.regions.length} region${
      plan.regions.length === 1 ? "" : "s"
    } already on the device (${names})`;
  }
  const parts = plan.regions.filter((r) => r.writeSectors > 0).map((r) =>
    `${r.name} ${hex(r.offset)} (${r.writeSectors} of ${r.sectors} sector${
      r.sectors === 1 ? "" : "s"
    })`
  );
  return `${plan.outcome}: ${parts.join(", ")}`;
}

/**
 * The plan as a value: what to write, why, and what it should cost. Plain
 * data, so it prints, serialises to JSON and tests without a device.
 * @module
 */

import type { ChipInfo, ChipName } from "../chips/chips.ts";
import type { CostParams } from "./cost.ts";

export type { Region, RegionKind } from "../image/region.ts";

/** What the planner and executor need from a device session (a Loader fits). */
export interface PlanDevice {
  /** The connected chip. */
  readonly chip: ChipInfo;
  /** True when the flasher stub runs. */
  readonly isStub: boolean;
  /** Whether the device can hash flash (default: stub, or a ROM with MD5). */
  readonly canHash?: boolean;
  /** Round-trip latency beyond wire time measured on this link, if known. */
  readonly latencyMs?: number;
  /** Security state read when connecting, if known. */
  readonly security?: { flashEncryption: boolean; flashCryptCnt: number; secureDownload: boolean };
  /** Lower-case hex MD5 of `size` bytes of flash at `offset`. */
  md5(offset: number, size: number): Promise<string>;
  /** Erases and writes `data` at `offset` (4 KiB aligned). */
  write(
    offset: number,
    data: Uint8Array,
    options?: { onProgress?: (done: number, total: number) => void; encrypt?: boolean },
  ): Promise<{ bytesSent: number }>;
  /** Erases whole sectors. */
  eraseRegion(offset: number, size: number): Promise<void>;
}

/** The class of a plan's result. */
export type Outcome = "verify-skip" | "selective" | "full";

/** Why a step is in the plan. */
export type StepReason =
  | "sectors-differ"
  | "range-differs"
  | "forced-full"
  | "no-device-md5"
  | "encrypted"
  | "header-invalidate"
  | "header-last";

/** One step of the plan, in execution order. */
export interface PlanStep {
  /** `write` sends data; `erase` invalidates an app header before its body is written. */
  action: "write" | "erase";
  /** Region name. */
  region: string;
  /** Absolute flash offset. */
  offset: number;
  /** Bytes written (or erased). */
  length: number;
  /** First absolute sector index. */
  firstSector: number;
  /** Sectors covered. */
  sectors: number;
  /** Machine-readable reason. */
  reason: StepReason;
  /** Readable reason. */
  detail: string;
  /** Estimated deflated size of the data. */
  compressedBytes: number;
  /** Estimated milliseconds. */
  ms: number;
  /** Estimated bytes on the wire, host to device. */
  wireBytes: number;
  /** Written through the chip's flash-encryption engine. */
  encrypt?: boolean;
  /**
   * The step's first sector (an app's header sector) is sent blank (0xFF):
   * the step erases it with the rest of its range, and a later `header-last`
   * step writes the header once the rest of the app is in place.
   */
  blankHeader?: boolean;
}

/** What the plan does with one region. */
export interface RegionPlan {
  /** Region name. */
  name: string;
  /** Flash offset. */
  offset: number;
  /** Byte length. */
  length: number;
  /** Sectors spanned. */
  sectors: number;
  /** Local MD5 of the region's bytes. */
  md5: string;
  /** What the device held, when asked. */
  deviceMd5?: string;
  /** `match`: skipped; `write`: some sectors written; `forced`: written whole without probing. */
  status: "match" | "write" | "forced";
  /** Sectors the plan writes in this region. */
  writeSectors: number;
  /** Sector ranges written, relative to the region start: [first, count]. */
  ranges: [number, number][];
}

/** The plan. */
export interface Plan {
  /** Chip the plan was made for. */
  chip: ChipName;
  /** Flash size the regions were checked against. */
  flashSize: number;
  /** Whether the stub ran while probing (changes the cost model). */
  stub: boolean;
  /** The result class. */
  outcome: Outcome;
  /** Per region. */
  regions: RegionPlan[];
  /** Steps in execution order. */
  steps: PlanStep[];
  /** Whether the executor can verify by device MD5. */
  verify: boolean;
  /** Probing done while planning. */
  probe: { md5Commands: number; bytesHashed: number; ms: number };
  /** Estimate of executing the steps and verifying. */
  estimate: { ms: number; wireBytes: number; roundTrips: number };
  /** The cost model parameters used. */
  cost: CostParams;
}

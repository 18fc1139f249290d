/**
 * esptool's plain write: every region whole, each verified by the device's
 * MD5 right after it is written. `flash` plans instead (src/plan/); this is
 * `write-flash`, for when a whole write is what is wanted.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { writeRegions } from "./write.ts";
 * import { connect } from "../loader/loader.ts";
 * import { memoryPort } from "../emulator/memory.ts";
 * import { VirtualDevice } from "../emulator/device.ts";
 * const device = new VirtualDevice({ chip: "esp32" });
 * const port = memoryPort(device);
 * const loader = await connect(port);
 * const data = new Uint8Array(5000).fill(0x5a);
 * const seen: string[] = [];
 * const result = await writeRegions(loader, [{ name: "fs", offset: 0x300000, data }], {
 *   flashSize: 4 << 20,
 *   onEvent: (e) => e.type !== "progress" && seen.push(e.type),
 * });
 * deepStrictEqual(seen, ["region-start", "region-written", "region-done"]);
 * deepStrictEqual(device.flash.data.subarray(0x300000, 0x300000 + data.length), data);
 * deepStrictEqual(result.regions.map((r) => r.name), ["fs"]);
 * await port.close();
 * ```
 * @module
 */

import { type Region, validateRegions } from "../image/region.ts";
import type { Loader } from "../loader/loader.ts";
import { VerifyError } from "../plan/execute.ts";
import { checkEncryptionOn } from "../plan/planner.ts";
import { md5Hex } from "../plan/hash.ts";

/** What {@link writeRegions} is doing, in order. */
export type WriteEvent =
  | { type: "erase-all" }
  | { type: "region-start"; region: Region }
  | { type: "progress"; region: Region; done: number; total: number }
  | { type: "region-written"; region: Region; bytesSent: number; compressed: boolean }
  | {
    type: "region-done";
    region: Region;
    /** Data bytes sent for the region. */
    bytesSent: number;
    /**
     * `md5`: the device's MD5 matched; `encrypted`: written as ciphertext,
     * which MD5 cannot check; `none`: the loader cannot hash.
     */
    verified: "md5" | "encrypted" | "none";
  };

/** Options of {@link writeRegions}. */
export interface WriteRegionsOptions {
  /** The device's flash size: regions must fit. Default: not checked. */
  flashSize?: number;
  /** Deflate on the wire: `auto` (default) when the loader takes it and it helps. */
  compress?: boolean | "auto";
  /** Write through the chip's flash-encryption engine; such writes cannot be checked by MD5. */
  encrypt?: boolean;
  /** Erase the whole flash first (stub only). */
  eraseAll?: boolean;
  /** Receives each step. */
  onEvent?: (event: WriteEvent) => void;
  /**
   * Stops at the next safe point once aborted (before a region, after the
   * data block in flight, before a check), throwing the signal's reason.
   */
  signal?: AbortSignal;
}

/** What {@link writeRegions} did. */
export interface WriteRegionsResult {
  /** The regions in the order written (by offset). */
  regions: Region[];
  /** Data bytes sent in all (compressed sizes where compressed). */
  bytesSent: number;
}

/**
 * Validates `regions` for the loader's chip and `flashSize`
 * (`validateRegions`), and with `encrypt` that the chip's flash encryption
 * is on (`checkEncryptionOn`), then writes each whole, in offset order, and checks
 * it by device MD5. Throws {@link VerifyError} when the device holds other
 * bytes than were sent, and the validation's `RegionError` before anything
 * is written or erased.
 */
export async function writeRegions(
  loader: Loader,
  regions: readonly Region[],
  options: WriteRegionsOptions = {},
): Promise<WriteRegionsResult> {
  const emit = options.onEvent ?? (() => {});
  const stopHere = () => options.signal?.throwIfAborted();
  const sorted = validateRegions(regions, loader.chip, options.flashSize);
  if (options.encrypt) checkEncryptionOn(loader);
  stopHere();
  if (options.eraseAll) {
    emit({ type: "erase-all" });
    await loader.eraseFlash();
  }
  let bytesSent = 0;
  for (const region of sorted) {
    stopHere();
    emit({ type: "region-start", region });
    const res = await loader.write(region.offset, region.data, {
      compress: options.compress ?? "auto",
      onProgress: (done, total) => {
        emit({ type: "progress", region, done, total });
        stopHere(); // the block in flight is written: a safe point
      },
      ...(options.encrypt ? { encrypt: true } : {}),
    });
    bytesSent += res.bytesSent;
    emit({ type: "region-written", region, ...res });
    let verified: "md5" | "encrypted" | "none" = "none";
    if (options.encrypt) {
      verified = "encrypted";
    } else if (loader.canHash) {
      stopHere();
      const device = await loader.md5(region.offset, region.data.length);
      const local = md5Hex(region.data);
      if (device !== local) throw new VerifyError(region.name, region.offset, local, device);
      verified = "md5";
    }
    emit({ type: "region-done", region, bytesSent: res.bytesSent, verified });
  }
  return { regions: sorted, bytesSent };
}

/**
 * Running code other than the flasher: a RAM program uploaded and started
 * (esptool's `load-ram`), and the app in flash started from the loader
 * (esptool's `run`). Both leave the loader protocol: what runs next is the
 * chip's business, so nothing waits for an answer the program will not give.
 *
 * @example
 * ```ts
 * import { loadRam } from "./ram.ts";
 * import { connect } from "../loader/loader.ts";
 * import { memoryPort } from "../emulator/memory.ts";
 * import { VirtualDevice } from "../emulator/device.ts";
 * import assert from "node:assert/strict";
 *
 * const device = new VirtualDevice({ chip: "esp32" });
 * const port = memoryPort(device);
 * const loader = await connect(port);
 * const program = [{ address: 0x40080000, data: new Uint8Array(64).fill(0x55) }];
 * await loadRam(loader, program, 0x40080004);
 * assert.equal(device.mode, "app"); // not a stub it knows: the chip runs it and goes quiet
 * await port.close();
 * ```
 * @module
 */

import type { Loader } from "../loader/loader.ts";
import { transient } from "../loader/connection.ts";
import { DeviceError } from "../protocol/errors.ts";
import { flashBegin, flashEnd, memBegin, memData, memEnd } from "../protocol/commands.ts";
import type { CommandRequest } from "../protocol/commands.ts";
import { Sizes } from "../protocol/opcodes.ts";

/** One piece of a RAM program. */
export interface RamSegment {
  /** Load address. */
  address: number;
  /** The bytes. */
  data: Uint8Array;
}

/** How long the ROM gets to answer MEM_END before the program it started takes the UART. */
const MEM_END_ROM_TIMEOUT_MS = 200;

const send = (loader: Loader, req: CommandRequest, timeoutMs?: number) =>
  loader.command(req.op, req.data, {
    check: req.check,
    dataLength: req.replyData,
    ...(timeoutMs ? { timeoutMs } : {}),
  });

/**
 * Uploads `segments` with MEM_BEGIN / MEM_DATA (0x1800-byte blocks) and
 * jumps to `entry` with MEM_END. The ROM may start the program before its
 * reply leaves the UART, so a missing reply from the ROM is no error, as in
 * esptool; the stub's reply is awaited. `onSegment` hears each segment
 * before it is sent.
 */
export async function loadRam(
  loader: Loader,
  segments: readonly RamSegment[],
  entry: number,
  onSegment: (segment: RamSegment, index: number) => void = () => {},
): Promise<void> {
  const blockSize = Sizes.RAM_BLOCK;
  for (const [i, s] of segments.entries()) {
    onSegment(s, i);
    const blocks = Math.ceil(s.data.length / blockSize);
    await send(loader, memBegin({ size: s.data.length, blocks, blockSize, offset: s.address }));
    for (let seq = 0; seq < blocks; seq++) {
      await send(loader, memData(seq, s.data.subarray(seq * blockSize, (seq + 1) * blockSize)));
    }
  }
  if (loader.isStub) {
    await send(loader, memEnd(entry));
    return;
  }
  try {
    await send(loader, memEnd(entry), MEM_END_ROM_TIMEOUT_MS);
  } catch (e) {
    // No reply: the program already runs. A refusal (an incomplete upload) is an error.
    if (!transient(e) || e instanceof DeviceError) throw e;
  }
}

/**
 * Leaves the loader for the app in flash, as esptool's `run` does: an empty
 * FLASH_BEGIN, then FLASH_END asking to run rather than reboot. The ROM
 * starts the app; the flasher stub stays (a hard reset afterwards starts it).
 */
export async function runApp(loader: Loader): Promise<void> {
  const stub = loader.isStub;
  await send(
    loader,
    flashBegin({
      size: 0,
      blocks: 0,
      blockSize: stub ? Sizes.STUB_FLASH_BLOCK : Sizes.ROM_FLASH_BLOCK,
      offset: 0,
      encryptedWord: !stub && loader.chip.rom.beginEncryptedWord,
    }),
  );
  await send(loader, flashEnd());
}

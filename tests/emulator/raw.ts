/**
 * Drives a VirtualDevice with raw protocol bytes built here from the
 * reference, not through the loader: the emulator's tests must not share
 * the client's assumptions.
 * @module
 */

import { VirtualDevice, type VirtualDeviceOptions } from "../../src/emulator/device.ts";
import { SlipDecoder, slipEncode } from "../../src/protocol/slip.ts";
import { checksum, encodeCommand, encodeDataPayload } from "../../src/protocol/packet.ts";
import { words } from "../../src/protocol/bytes.ts";
import { Op, SYNC_PAYLOAD } from "../../src/protocol/opcodes.ts";
import { createHash } from "node:crypto";

/** A device plus a capture of every frame and every text byte it sends. */
export class Bench {
  readonly device: VirtualDevice;
  readonly frames: Uint8Array[] = [];
  readonly #decoder = new SlipDecoder();
  /** Everything sent, with the rate it was sent at. */
  readonly sent: { bytes: Uint8Array; baud: number }[] = [];

  constructor(options: VirtualDeviceOptions) {
    this.device = new VirtualDevice(options);
    this.device.onTransmit((b, baud) => {
      this.sent.push({ bytes: b.slice(), baud });
      this.frames.push(...this.#decoder.push(b));
    });
  }

  /** Sends a command; returns the frames it produced. */
  cmd(op: number, data: Uint8Array = new Uint8Array(), check = 0): Uint8Array[] {
    return this.raw(slipEncode(encodeCommand(op, data, check)));
  }

  /** Sends a *_DATA command with a correct checksum unless `check` is given. */
  data(op: number, seq: number, block: Uint8Array, check?: number): Uint8Array[] {
    return this.cmd(op, encodeDataPayload(seq, block), check ?? checksum(block));
  }

  /** Sends raw bytes (already framed), optionally tagged with a host baud rate. */
  raw(bytes: Uint8Array, baud?: number): Uint8Array[] {
    const before = this.frames.length;
    this.device.receive(bytes, baud);
    return this.frames.slice(before);
  }

  /** The hex of the only reply to a command (fails when there is not exactly one). */
  one(op: number, data: Uint8Array = new Uint8Array(), check = 0): string {
    const r = this.cmd(op, data, check);
    if (r.length !== 1) throw new Error(`expected one reply, got ${r.length}: ${r.map(hexOf)}`);
    return hexOf(r[0]);
  }
}

export { words };

/** Hex of a frame, for exact comparisons. */
export function hexOf(frame: Uint8Array): string {
  return Array.from(frame, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** Lower-case hex MD5, from node:crypto. */
export function md5hex(b: Uint8Array): string {
  return createHash("md5").update(b).digest("hex");
}

/** A real firmware image from testdata/firmware (copied from esptool, see its SOURCES.md). */
export function firmware(name: string): Uint8Array {
  return new Uint8Array(
    Deno.readFileSync(new URL(`../../testdata/firmware/${name}`, import.meta.url)),
  );
}

/** Sectors [first, first + count). */
export function range(first: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => first + i);
}

/**
 * Uploads a small synthetic two-segment "stub" (text and data) through the
 * ROM and starts it, as esptool's run_stub does; returns the frames of
 * MEM_END (its reply, then the greeting).
 */
export function uploadStub(b: Bench, textStart = 0x40090000, entry = textStart + 0x10) {
  const text = new Uint8Array(0x2000).map((_, i) => (i * 7) & 0xff);
  const data = new Uint8Array(0x300).map((_, i) => (i * 3) & 0xff);
  for (const [seg, addr] of [[text, textStart], [data, 0x3ffe0000]] as const) {
    const blocks = Math.ceil(seg.length / 0x1800);
    b.cmd(Op.MEM_BEGIN, words(seg.length, blocks, 0x1800, addr));
    for (let i = 0; i < blocks; i++) {
      b.data(Op.MEM_DATA, i, seg.subarray(i * 0x1800, (i + 1) * 0x1800));
    }
  }
  return b.cmd(Op.MEM_END, words(0, entry));
}

/** A bench whose ROM has synced and attached the flash (where the chip needs SPI_ATTACH). */
export function romBench(options: VirtualDeviceOptions): Bench {
  const b = new Bench(options);
  b.cmd(Op.SYNC, SYNC_PAYLOAD);
  if (b.device.chip.rom.spiAttach) b.cmd(Op.SPI_ATTACH, words(0, 0));
  return b;
}

/** A bench running the stub. */
export function stubBench(options: VirtualDeviceOptions): Bench {
  const b = new Bench(options);
  const out = uploadStub(b);
  if (b.device.mode !== "stub" || new TextDecoder().decode(out[1]) !== "OHAI") {
    throw new Error(`stub did not start: ${out.map(hexOf)}`);
  }
  return b;
}

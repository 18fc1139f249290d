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
import type { ChipName } from "../../src/chips/chips.ts";
import esp8266Stub from "npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp8266.json" with {
  type: "json",
};
import esp32Stub from "npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32.json" with {
  type: "json",
};
import esp32s2Stub from "npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32s2.json" with {
  type: "json",
};
import esp32s3Stub from "npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32s3.json" with {
  type: "json",
};
import esp32c2Stub from "npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32c2.json" with {
  type: "json",
};
import esp32c3Stub from "npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32c3.json" with {
  type: "json",
};
import esp32c5Stub from "npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32c5.json" with {
  type: "json",
};
import esp32c6Stub from "npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32c6.json" with {
  type: "json",
};
import esp32h2Stub from "npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32h2.json" with {
  type: "json",
};
import esp32p4Stub from "npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32p4.json" with {
  type: "json",
};
import esp32p4rev1Stub from "npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32p4-rev1.json" with {
  type: "json",
};

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

/** A stub file as esptool ships it: base64 text and data with their load addresses. */
export interface StubJson {
  entry: number;
  text: string;
  text_start: number;
  data: string;
  data_start: number;
}

const STUBS: Record<string, StubJson> = {
  esp8266: esp8266Stub,
  esp32: esp32Stub,
  esp32s2: esp32s2Stub,
  esp32s3: esp32s3Stub,
  esp32c2: esp32c2Stub,
  esp32c3: esp32c3Stub,
  esp32c5: esp32c5Stub,
  esp32c6: esp32c6Stub,
  esp32h2: esp32h2Stub,
  esp32p4: esp32p4Stub,
  "esp32p4-rev1": esp32p4rev1Stub,
};

/** esptool-js 0.7.0's stub for `chip` (the ESP32-P4's rev1 build below v3). */
export function stubJson(chip: ChipName, major = 3): StubJson {
  return STUBS[chip === "esp32p4" && major < 3 ? "esp32p4-rev1" : chip];
}

const b64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** A stub file's RAM segments, text first. */
export function stubSegments(stub: StubJson): { addr: number; data: Uint8Array }[] {
  return [
    { addr: stub.text_start, data: b64(stub.text) },
    { addr: stub.data_start, data: b64(stub.data) },
  ];
}

/**
 * Uploads `segments` through the ROM (or a stub) with MEM_BEGIN / MEM_DATA
 * in 0x1800-byte blocks, as esptool's run_stub does, and starts `entry`;
 * returns the frames of MEM_END (its reply, then the greeting if any).
 */
export function uploadProgram(
  b: Bench,
  segments: { addr: number; data: Uint8Array }[],
  entry: number,
): Uint8Array[] {
  for (const { addr, data } of segments) {
    const blocks = Math.ceil(data.length / 0x1800);
    b.cmd(Op.MEM_BEGIN, words(data.length, blocks, 0x1800, addr));
    for (let i = 0; i < blocks; i++) {
      b.data(Op.MEM_DATA, i, data.subarray(i * 0x1800, (i + 1) * 0x1800));
    }
  }
  return b.cmd(Op.MEM_END, words(0, entry));
}

/** Uploads and starts esptool-js 0.7.0's stub for the bench's chip and revision. */
export function uploadStub(b: Bench): Uint8Array[] {
  const stub = stubJson(b.device.chip.name, b.device.identity.revision.major);
  return uploadProgram(b, stubSegments(stub), stub.entry);
}

/** A program no device knows: two segments of filler, entered at its first byte. */
export function unknownProgram(textStart = 0x40090000): { addr: number; data: Uint8Array }[] {
  return [
    { addr: textStart, data: new Uint8Array(0x2000).map((_, i) => (i * 7) & 0xff) },
    { addr: 0x3ffe0000, data: new Uint8Array(0x300).map((_, i) => (i * 3) & 0xff) },
  ];
}

/** A bench whose ROM has synced and attached the flash (where the chip needs SPI_ATTACH). */
export function romBench(options: VirtualDeviceOptions): Bench {
  const b = new Bench(options);
  b.cmd(Op.SYNC, SYNC_PAYLOAD);
  if (b.device.chip.rom.spiAttach) b.cmd(Op.SPI_ATTACH, words(0, 0));
  return b;
}

/**
 * A bench running esptool-js 0.7.0's stub: the esp-flasher-stub kind unless
 * `options.stubKind` says otherwise.
 */
export function stubBench(options: VirtualDeviceOptions): Bench {
  const b = new Bench(options);
  const out = uploadStub(b);
  if (b.device.mode !== "stub" || new TextDecoder().decode(out[1]) !== "OHAI") {
    throw new Error(`stub did not start: ${out.map(hexOf)}`);
  }
  return b;
}

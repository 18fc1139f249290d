import { assertEquals } from "../assert.ts";
import { deflateSync } from "node:zlib";
import { ZlibInflater } from "../../src/emulator/inflate.ts";
import { firmware } from "./raw.ts";

function run(z: Uint8Array, step: number) {
  const out: Uint8Array[] = [];
  const inflater = new ZlibInflater((c) => out.push(c.slice()));
  const statuses: string[] = [];
  for (let i = 0; i < z.length; i += step) {
    inflater.push(z.subarray(i, i + step));
    statuses.push(inflater.status);
  }
  const all = new Uint8Array(out.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of out) {
    all.set(c, at);
    at += c.length;
  }
  return { inflater, all, statuses };
}

Deno.test("ZlibInflater: a real image, fed in any split, done only after the trailer", () => {
  const image = firmware("esp_idf_blink_esp32s2.bin");
  const z = new Uint8Array(deflateSync(image, { level: 9 }));
  // Byte by byte on a small image (fflate copies its window on every push), larger steps on both.
  const small = firmware("bootloader_esp32c3.bin");
  const zs = new Uint8Array(deflateSync(small, { level: 9 }));
  for (
    const [img, zz, step] of [
      [small, zs, 1],
      [small, zs, 3],
      [image, z, 1000],
      [image, z, 0x4000],
      [image, z, z.length],
    ] as const
  ) {
    const { inflater, all, statuses } = run(zz, step);
    assertEquals([inflater.status, inflater.totalOut, all], ["done", img.length, img], `${step}`);
    // "more" until the chunk that holds the last trailer byte.
    assertEquals(statuses.indexOf("done"), statuses.length - 1, `${step}`);
  }
  // Stored (level 0) blocks and an empty stream.
  const stored = new Uint8Array(deflateSync(image.subarray(0, 5000), { level: 0 }));
  assertEquals(run(stored, 1).all, image.subarray(0, 5000));
  assertEquals(run(new Uint8Array(deflateSync(new Uint8Array())), 1).inflater.status, "done");
});

Deno.test("ZlibInflater: bad header, bad data, Adler-32 mismatch, truncation, trailing bytes", () => {
  const image = firmware("bootloader_esp32.bin");
  const z = new Uint8Array(deflateSync(image));
  const header = run(new Uint8Array([0x78, 0x00, 1, 2]), 1).inflater; // (0x7800 % 31) != 0
  assertEquals([header.status, header.failure], ["error", "header"]);
  const dict = run(new Uint8Array([0x78, 0xbb, 0, 0, 0, 0]), 6).inflater; // FDICT set
  assertEquals([dict.status, dict.failure], ["error", "header"]);
  const data = z.slice();
  data[2] = 0xff; // block type 3 is invalid
  assertEquals(run(data, 100).inflater.failure, "data");
  const adler = z.slice();
  adler[adler.length - 1] ^= 1;
  const a = run(adler, 7);
  assertEquals([a.inflater.status, a.inflater.failure, a.all], ["error", "adler", image]);
  assertEquals(run(z.subarray(0, z.length - 1), 1).inflater.status, "more");
  const extra = new Uint8Array(z.length + 3);
  extra.set(z);
  assertEquals(run(extra, 5).inflater.status, "done");
});

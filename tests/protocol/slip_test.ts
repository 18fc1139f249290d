import { assertEquals } from "../assert.ts";
import { SlipDecoder, slipEncode } from "../../src/protocol/slip.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

Deno.test("slipEncode escapes C0 and DB and frames both ends", () => {
  assertEquals(
    slipEncode(bytes(0x01, 0xc0, 0x02, 0xdb, 0x03)),
    bytes(0xc0, 0x01, 0xdb, 0xdc, 0x02, 0xdb, 0xdd, 0x03, 0xc0),
  );
  assertEquals(slipEncode(bytes()), bytes(0xc0, 0xc0));
});

Deno.test("SlipDecoder reassembles frames split across reads, byte by byte", () => {
  const packet = bytes(0x01, 0x08, 0xc0, 0xdb, 0x55, 0x00);
  const wire = slipEncode(packet);
  const d = new SlipDecoder();
  const out: Uint8Array[] = [];
  for (const b of wire) out.push(...d.push(bytes(b)));
  assertEquals(out, [packet]);
});

Deno.test("SlipDecoder skips garbage between frames and keeps it as noise", () => {
  const d = new SlipDecoder();
  const boot = new TextEncoder().encode("waiting for download\r\n");
  const wire = new Uint8Array([...boot, ...slipEncode(bytes(1, 2)), 0x41, ...slipEncode(bytes(3))]);
  assertEquals(d.push(wire), [bytes(1, 2), bytes(3)]);
  assertEquals(new TextDecoder().decode(d.takeNoise()), "waiting for download\r\nA");
  assertEquals(d.stats.noiseBytes, boot.length + 1);
});

Deno.test("SlipDecoder drops a frame with an invalid escape and recovers", () => {
  const d = new SlipDecoder();
  const wire = bytes(0xc0, 0x01, 0xdb, 0x11, 0x02, 0xc0, 0xc0, 0x07, 0xc0);
  assertEquals(d.push(wire), [bytes(0x07)]);
  assertEquals(d.stats.invalidEscapes, 1);
});

Deno.test("SlipDecoder treats back-to-back delimiters as one frame start", () => {
  const d = new SlipDecoder();
  assertEquals(d.push(bytes(0xc0, 0xc0, 0xc0, 0x09, 0xc0)), [bytes(0x09)]);
});

Deno.test("SlipDecoder round-trips every byte value in large frames", () => {
  const packet = new Uint8Array(70000);
  for (let i = 0; i < packet.length; i++) packet[i] = (i * 7919) & 0xff;
  const wire = slipEncode(packet);
  const d = new SlipDecoder();
  const frames = [...d.push(wire.subarray(0, 12345)), ...d.push(wire.subarray(12345))];
  assertEquals(frames.length, 1);
  assertEquals(frames[0], packet);
});

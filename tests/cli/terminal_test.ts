/**
 * The monitor's key map (src/cli/terminal.ts), without a terminal: Ctrl-]
 * and Ctrl-C quit, Ctrl-T R resets (across reads), Ctrl-T H helps, Ctrl-T
 * twice sends one Ctrl-T, Enter goes out as CR LF.
 */
import { assertEquals } from "../assert.ts";
import { type KeyAction, KeyParser } from "../../src/cli/terminal.ts";

const send = (...b: number[]): KeyAction => ({ kind: "send", bytes: new Uint8Array(b) });

Deno.test("keys: typed text goes to the chip, Enter as CR LF; Ctrl-] and Ctrl-C quit", () => {
  const k = new KeyParser();
  assertEquals(k.feed(new TextEncoder().encode("help\r")), [
    send(0x68, 0x65, 0x6c, 0x70, 0x0d, 0x0a),
  ]);
  assertEquals(k.feed(new Uint8Array([0x61, 0x1d, 0x62])), [send(0x61), { kind: "quit" }]);
  assertEquals(k.feed(new Uint8Array([0x03])), [{ kind: "quit" }]);
});

Deno.test("keys: Ctrl-T R resets even split across reads; Ctrl-T H helps; Ctrl-T Ctrl-T sends one", () => {
  const k = new KeyParser();
  assertEquals(k.feed(new Uint8Array([0x78, 0x14])), [send(0x78)]);
  assertEquals(k.feed(new Uint8Array([0x52])), [{ kind: "reset" }]);
  assertEquals(k.feed(new Uint8Array([0x14, 0x72, 0x14, 0x68])), [{ kind: "reset" }, {
    kind: "help",
  }]);
  assertEquals(k.feed(new Uint8Array([0x14, 0x14, 0x79])), [send(0x14, 0x79)]);
  // Another key after Ctrl-T is dropped, as the menu's unknown keys are.
  assertEquals(k.feed(new Uint8Array([0x14, 0x71, 0x7a])), [send(0x7a)]);
});

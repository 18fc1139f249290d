/**
 * The boot check after a flash (src/cli/boot.ts) where a real board can
 * surprise it: a port that goes away when the chip resets (native USB
 * re-enumerating) leaves the boot unchecked, not the flash failed.
 */
import { assertEquals } from "../assert.ts";
import { afterFlash } from "../../src/cli/boot.ts";
import type { Session } from "../../src/cli/session.ts";
import { CHIPS } from "../../src/chips/chips.ts";
import { PortLostError } from "../../src/serial/lost.ts";
import type { Port } from "../../src/serial/port.ts";

Deno.test("boot check: the port lost after the reset is an unchecked boot, said in one line", async () => {
  const port: Port = {
    path: "/dev/ttyACM0",
    baud: 115200,
    hasModemLines: true,
    read: () => Promise.reject(new PortLostError("/dev/ttyACM0", "HANGUP", "the device is gone")),
    write: async () => {},
    drain: async () => {},
    flushInput: async () => {},
    setBaud: async () => {},
    setSignals: async () => {},
    close: async () => {},
  };
  const session = {
    port,
    chip: CHIPS.esp32s3,
    release: () => Promise.resolve({ reset: true }),
  } as unknown as Session;
  const after = await afterFlash(session, {
    after: "hard-reset",
    check: true,
    monitor: false,
    baud: 115200,
    regions: [],
  });
  assertEquals(after, {
    boot: {
      verdict: "unchecked",
      message: "boot not checked: /dev/ttyACM0 went away after the reset (the device is gone); " +
        "the write had ended before it",
      ok: true,
    },
  });
});

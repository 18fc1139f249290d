import { assertEquals, assertThrows } from "../assert.ts";
import {
  classicSteps,
  defaultStrategies,
  hardResetSteps,
  parseResetSequence,
  ResetSequenceError,
  type ResetStep,
  runSequence,
  tightSteps,
  usbJtagSteps,
} from "../../src/serial/reset.ts";
import type { Port, Signals } from "../../src/serial/port.ts";

/** Records (dtr, rts, time) after every line change, with a virtual clock. */
async function record(steps: ResetStep[]): Promise<string[]> {
  let t = 0;
  const lines = { dtr: false, rts: false };
  const log: string[] = [];
  const port = {
    setSignals(s: Signals) {
      if (s.dtr !== undefined) lines.dtr = s.dtr;
      if (s.rts !== undefined) lines.rts = s.rts;
      log.push(`${t}ms D${+lines.dtr} R${+lines.rts}`);
      return Promise.resolve();
    },
  } as unknown as Port;
  await runSequence(port, steps, (ms) => {
    t += ms;
    return Promise.resolve();
  });
  return log;
}

Deno.test("classic reset: EN low with boot high, then EN high with boot low, then release", async () => {
  assertEquals(await record(classicSteps(50)), [
    "0ms D0 R0",
    "0ms D0 R1",
    "100ms D1 R1",
    "100ms D1 R0",
    "150ms D0 R0",
  ]);
});

Deno.test("tight reset sets both lines at once at every step", async () => {
  assertEquals(await record(tightSteps(550)), [
    "0ms D0 R0",
    "0ms D1 R1",
    "0ms D0 R1",
    "100ms D1 R0",
    "650ms D0 R0",
    "650ms D0 R0",
  ]);
});

Deno.test("USB-JTAG-serial sequence passes through (1,1), never (0,0) mid-way", async () => {
  assertEquals(await record(usbJtagSteps()), [
    "0ms D0 R0",
    "0ms D0 R0",
    "100ms D1 R0",
    "100ms D1 R0",
    "200ms D1 R1",
    "200ms D0 R1",
    "200ms D0 R1",
    "300ms D0 R1",
    "300ms D0 R0",
  ]);
  assertEquals(await record(hardResetSteps()), ["0ms D0 R1", "100ms D0 R0"]);
});

Deno.test("custom sequences parse esptool's syntax; errors name the bad step", async () => {
  assertEquals(
    await record(parseResetSequence("D0|R1|W0.1|D1|R0|W0.05|D0")),
    await record(classicSteps(50)),
  );
  assertEquals(parseResetSequence("U1,0|W2"), [{ set: { dtr: true, rts: false } }, { wait: 2000 }]);
  const e = assertThrows(() => parseResetSequence("D0|X1"), ResetSequenceError);
  assertEquals(
    e.message,
    "invalid reset sequence step 'X1' in 'D0|X1': use D0/D1, R0/R1, U<d>,<r> or W<seconds>",
  );
});

Deno.test("default strategy order follows esptool", () => {
  assertEquals(defaultStrategies().map((s) => s.name), [
    "tight (50 ms)",
    "tight (550 ms)",
    "classic (50 ms)",
    "classic (550 ms)",
  ]);
  assertEquals(defaultStrategies({ usbJtag: true }).map((s) => s.name), ["usb-jtag-serial"]);
  assertEquals(defaultStrategies({ tightCapable: false }).map((s) => s.name), [
    "classic (50 ms)",
    "classic (550 ms)",
  ]);
});

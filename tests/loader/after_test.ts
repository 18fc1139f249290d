import { assertEquals, assertOk, assertRejects } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { memoryPort } from "../../src/emulator/memory.ts";
import { connect } from "../../src/loader/loader.ts";
import { UnsupportedError } from "../../src/loader/connect.ts";
import { parseResetSequence, runSequence } from "../../src/serial/reset.ts";

async function collect(port: { read(ms: number): Promise<Uint8Array> }, ms = 700): Promise<string> {
  const until = performance.now() + ms;
  let text = "";
  while (performance.now() < until) text += new TextDecoder("latin1").decode(await port.read(50));
  return text;
}

Deno.test("--after watchdog-reset: the RTC watchdog resets the chip into its app", async () => {
  const device = new VirtualDevice({ chip: "esp32c3" });
  const port = memoryPort(device);
  try {
    const loader = await connect(port);
    assertEquals(device.mode, "rom");
    assertEquals(await loader.after("watchdog-reset"), undefined);
    const text = await collect(port, 100);
    assertEquals(device.mode, "app");
    assertOk(text.includes("rst:0x10 (RTCWDT_RTC_RST),boot:0xc (SPI_FAST_FLASH_BOOT)"), text);
  } finally {
    await port.close();
  }
});

Deno.test("--after hard-reset pulses EN: the app boots; ESP32 has no watchdog reset", async () => {
  const device = new VirtualDevice({ chip: "esp32" });
  const port = memoryPort(device);
  try {
    const loader = await connect(port);
    const e = await assertRejects(() => loader.after("watchdog-reset"), UnsupportedError);
    assertEquals(e.message, "watchdog reset is not supported on ESP32; use --after hard-reset");
    assertEquals(await loader.after("hard-reset"), undefined);
    await collect(port, 50);
    assertEquals(device.mode, "app");
  } finally {
    await port.close();
  }
});

Deno.test("a custom reset sequence enters download mode", async () => {
  const device = new VirtualDevice({ chip: "esp32s3", bootMode: "flash" });
  const port = memoryPort(device);
  try {
    const steps = parseResetSequence("D0|R1|W0.1|D1|R0|W0.05|D0");
    const names: string[] = [];
    const loader = await connect(port, {
      reset: (p) => runSequence(p, steps),
      onReset: (n) => names.push(n),
    });
    assertEquals([loader.chip.name, names], ["esp32s3", ["custom"]]);
  } finally {
    await port.close();
  }
});

/**
 * `baud: "auto"` in the loader against virtual boards behind modelled
 * bridges: the rate the probe settles on, and a write that steps down and
 * resumes when data blocks start arriving corrupted.
 * @module
 */

import { assertEquals, assertOk } from "../assert.ts";
import { memoryPort } from "../../src/emulator/memory.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { connect } from "../../src/loader/loader.ts";
import { findStub } from "../../src/loader/stubs.ts";
import { bridgeById } from "../../src/chips/bridges.ts";
import { firmwareLike } from "../rand.ts";

const SEED = 2;

Deno.test("baud auto: a blind probe behind a CH340 takes 2 Mbaud; a CP2102 named by its USB ids starts at 921600", async () => {
  const stub = await findStub("esp32");
  for (
    const [bridge, told, baud, tried] of [
      ["ch340", false, 2_000_000, [2_000_000]],
      ["cp2102", true, 921_600, [921_600]],
    ] as const
  ) {
    const device = new VirtualDevice({ chip: "esp32", bridge });
    const port = memoryPort(device);
    const loader = await connect(port, {
      baud: "auto",
      stub,
      link: told ? { bridge: bridgeById(bridge) } : {},
    });
    assertEquals([port.baud, device.baud], [baud, baud], bridge);
    assertEquals(loader.baudChoice!.tried.map((t) => t.baud), [...tried], bridge);
    assertEquals(device.bridge!.corrupted, 0, bridge);
    await port.close();
  }
});

Deno.test("baud auto: a bridge that fails mid-write at the rate it passed the check at steps down one rung and the write resumes", async () => {
  // A CH340 that cannot quite keep its 2 Mbaud: rare errors above 1.5 Mbaud, rare enough that
  // the 4 KiB link check passes (this seed), not a 128 KiB write.
  const ch340 = bridgeById("ch340")!;
  const device = new VirtualDevice({
    chip: "esp32",
    bridge: { bridge: { ...ch340, maxBaud: 1_500_000 }, errorRate: 0.00002, seed: SEED },
  });
  const port = memoryPort(device);
  const loader = await connect(port, {
    baud: "auto",
    stub: await findStub("esp32"),
    link: { bridge: ch340 },
  });
  assertEquals(loader.baudChoice!.baud, 2_000_000);
  assertEquals(device.bridge!.corrupted, 0);
  const image = firmwareLike(0x20000, 5);
  await loader.write(0x10000, image);
  assertEquals(device.flash.data.subarray(0x10000, 0x10000 + image.length), image);
  const choice = loader.baudChoice!;
  assertEquals([choice.baud, choice.stepDowns], [1_500_000, 1]);
  assertEquals(choice.reason, "stepped down from 2000000 after a link error in a write");
  assertEquals([port.baud, device.baud], [1_500_000, 1_500_000]);
  assertOk(device.bridge!.corrupted > 0);
  await port.close();
});

/**
 * A loader's SLIP receiver ends a frame at any END and an END after an END
 * ends an empty frame (esp-flasher-stub's src/slip.c, the legacy stub's
 * slip.c): after a frame cut in the middle, every whole frame sent after it
 * is out of step by one END, and the chip hears nothing until it is reset.
 * Where no reset reaches it (a pty, ser2net in front of one, --before
 * no-reset), espdelta's SYNCs get it back in step.
 */
import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { memoryPort } from "../../src/emulator/memory.ts";
import { connect } from "../../src/loader/loader.ts";
import { findStub } from "../../src/loader/stubs.ts";
import { encodeCommand } from "../../src/protocol/packet.ts";
import { SlipDecoder, slipEncode } from "../../src/protocol/slip.ts";
import { sync } from "../../src/protocol/commands.ts";
import { Op } from "../../src/protocol/opcodes.ts";
import { CHIP_DETECT_MAGIC_REG } from "../../src/chips/chips.ts";
import { SimClock, timedLink } from "../../src/emulator/timing.ts";

const SYNC = (() => {
  const s = sync();
  return slipEncode(encodeCommand(s.op, s.data));
})();

Deno.test("a stub left mid-frame by a cut link: plain SYNC frames go unheard; connecting without a reset gets it back", async () => {
  const device = new VirtualDevice({ chip: "esp32" });
  const stub = await findStub("esp32");
  const first = memoryPort(device);
  await connect(first, { stub });
  // The link dies 100 bytes into a data block.
  const block = slipEncode(encodeCommand(Op.FLASH_DEFL_DATA, new Uint8Array(1040).fill(0x5a)));
  await first.write(block.subarray(0, 100));
  await first.close();

  // Whole SYNC frames, as any flasher sends them: the stub answers none.
  const probe = memoryPort(device);
  const frames = new SlipDecoder();
  const replies: Uint8Array[] = [];
  for (let i = 0; i < 3; i++) {
    await probe.write(SYNC);
    replies.push(...frames.push(await probe.read(150)));
  }
  await probe.close();
  assertEquals(replies.filter((f) => f[0] === 1 && f[1] === Op.SYNC).length, 0);

  // espdelta's connect without a reset: its third SYNC goes with an extra END.
  const port = memoryPort(device);
  const trace: string[] = [];
  try {
    const loader = await connect(port, {
      reset: "no-reset",
      stub,
      trace: (l) => trace.push(l),
    });
    assertOk(
      trace.includes("the flasher stub is already running (it answered SYNC with 0): no upload"),
      trace.join("\n"),
    );
    assertEquals(trace.filter((l) => l.startsWith("TX SYNC")).length, 3);
    assertEquals(loader.chip.name, "esp32");
    assertEquals(await loader.readReg(CHIP_DETECT_MAGIC_REG), 0x00f01d83);
  } finally {
    await port.close();
  }
});

Deno.test("a frame cut mid-session: the retried command's recovery reframes its SYNC and the session goes on", async () => {
  const clock = new SimClock();
  const device = new VirtualDevice({ chip: "esp32", clock });
  const { port } = timedLink(device, clock);
  const trace: string[] = [];
  try {
    const loader = await connect(port, {
      clock,
      stub: await findStub("esp32"),
      trace: (l) => trace.push(l),
    });
    // Half a data block reaches the stub, as when a bridge dropped the rest.
    const block = slipEncode(encodeCommand(Op.FLASH_DEFL_DATA, new Uint8Array(1040).fill(0x5a)));
    await port.write(block.subarray(0, 100));
    trace.length = 0;
    const boots = device.boots;
    assertEquals(await loader.readReg(CHIP_DETECT_MAGIC_REG), 0x00f01d83);
    assertOk(trace.some((l) => l.startsWith("READ_REG: no reply")), trace.join("\n"));
    assertOk(!trace.some((l) => l.includes("reconnecting")), trace.join("\n"));
    assertEquals(device.boots, boots, "no reset was needed");
  } finally {
    await port.close();
  }
});

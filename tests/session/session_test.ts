import { assertEquals, assertRejects } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { memoryPort } from "../../src/emulator/memory.ts";
import { servePty } from "../../src/emulator/pty.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { connect } from "../../src/loader/loader.ts";
import { VerifyError } from "../../src/plan/execute.ts";
import { RegionError } from "../../src/image/errors.ts";
import type { PortInfo } from "../../src/serial/list.ts";
import {
  ASSUMED_FLASH_SIZE,
  beforeResetFor,
  openSession,
  settleFlashSize,
} from "../../src/session/session.ts";
import { type WriteEvent, writeRegions } from "../../src/session/write.ts";

const port = (path: string, vid: number, pid: number): PortInfo => ({ path, vid, pid });

Deno.test("beforeResetFor: default-reset on Espressif's USB-Serial/JTAG is usb-reset", () => {
  const ports = [port("/dev/ttyACM0", 0x303a, 0x1001), port("/dev/ttyUSB0", 0x10c4, 0xea60)];
  assertEquals(
    [
      beforeResetFor("/dev/ttyACM0", "default-reset", ports),
      beforeResetFor("/dev/ttyUSB0", "default-reset", ports),
      beforeResetFor("/dev/ttyACM1", "default-reset", ports),
      beforeResetFor("/dev/ttyACM0", "no-reset", ports),
      beforeResetFor("socket://127.0.0.1:5555", "default-reset", ports),
    ],
    ["usb-reset", "default-reset", "default-reset", "no-reset", "default-reset"],
  );
});

Deno.test("openSession: connects, traces the port and the reset, closes with the after-reset", async () => {
  const device = new VirtualDevice({ chip: "esp32s3", flashSize: 16 << 20 });
  const served = await servePty(device);
  const lines: string[] = [];
  let asked = 0;
  try {
    const s = await openSession(served.path, {
      reset: "default-reset",
      log: { trace: (l) => lines.push(l) },
      // Discovery is asked for a local device only; this one is not an ESP USB bridge.
      ports: () => (asked++, Promise.resolve([port(served.path, 0x10c4, 0xea60)])),
    });
    assertEquals([s.chip.name, s.loader.isStub, s.reset, asked], [
      "esp32s3",
      false,
      "none (port has no reset lines)",
      1,
    ]);
    assertEquals(await settleFlashSize(s.loader), 16 << 20);
    await s.close();
    assertEquals(lines, [
      `port ${served.path} opened at 115200 baud`,
      "reset: none (port has no reset lines)",
      `${served.path} has no reset lines; the chip stays in its loader`,
    ]);
  } finally {
    await served.close();
  }
});

Deno.test("openSession: a failed connect closes the port; the next session can open it", async () => {
  const device = new VirtualDevice({ chip: "esp32" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const url = `socket://127.0.0.1:${server.port}`;
  try {
    const e = await assertRejects(
      () => openSession(url, { chip: "esp32c3", after: "no-reset" }),
      Error,
    );
    assertEquals(
      e.message,
      "this chip is ESP32, not ESP32-C3; use --chip esp32 or --chip auto",
    );
    const s = await openSession(url, { chip: "esp32", after: "no-reset" });
    assertEquals(s.chip.name, "esp32");
    await s.close();
  } finally {
    await server.close();
  }
});

Deno.test("settleFlashSize: Secure Download Mode cannot tell, so 4 MB with a warning", async () => {
  const device = new VirtualDevice({ chip: "esp32s3", securityFlags: 0x04, flashSize: 8 << 20 });
  const p = memoryPort(device);
  try {
    const loader = await connect(p);
    const warnings: string[] = [];
    assertEquals(
      await settleFlashSize(loader, { warn: (l) => warnings.push(l) }),
      ASSUMED_FLASH_SIZE,
    );
    assertEquals(warnings, ["could not detect the flash size; assuming 4 MB"]);
    assertEquals(device.commandCounts()["READ_REG"], undefined);
    assertEquals(device.commandCounts()["SPI_SET_PARAMS"], 1);
  } finally {
    await p.close();
  }
});

Deno.test("writeRegions: validated first, written in offset order, each checked by device MD5", async () => {
  const device = new VirtualDevice({ chip: "esp32" });
  const p = memoryPort(device);
  try {
    const loader = await connect(p);
    const a = { name: "a", offset: 0x20000, data: new Uint8Array(0x1800).fill(0xa5) };
    const b = { name: "b", offset: 0x10000, data: new Uint8Array(0x100).fill(0x5b) };
    const events: string[] = [];
    // The ROM loader sends whole 1 KiB blocks: b goes as 1024 bytes.
    const result = await writeRegions(loader, [a, b], {
      flashSize: 4 << 20,
      compress: false,
      onEvent: (e: WriteEvent) => {
        if (e.type === "progress") return;
        const name = "region" in e ? e.region.name : "";
        const extra = e.type === "region-done" ? ` ${e.verified} ${e.bytesSent}` : "";
        events.push(`${e.type} ${name}${extra}`);
      },
    });
    assertEquals(events, [
      "region-start b",
      "region-written b",
      "region-done b md5 1024",
      "region-start a",
      "region-written a",
      "region-done a md5 6144",
    ]);
    assertEquals([result.regions.map((r) => r.name), result.bytesSent], [["b", "a"], 7168]);
    assertEquals(device.flash.data.subarray(0x20000, 0x21800), a.data);

    // A region past the end fails before anything is written.
    device.flash.resetCounters();
    const far = { name: "far", offset: 0x3ff000, data: new Uint8Array(0x2000) };
    const e = await assertRejects(
      () => writeRegions(loader, [b, far], { flashSize: 4 << 20, eraseAll: true }),
      RegionError,
    );
    assertEquals(e.code, "PAST_END");
    assertEquals(device.flash.touchedSectors(), []);

    // The flash does not hold what was sent (a cell that lost a bit): exit-code-3 error.
    const lost = await assertRejects(
      () =>
        writeRegions(loader, [b], {
          onEvent: (ev) => {
            if (ev.type === "region-written") device.flash.data[0x10010] &= 0xfe;
          },
        }),
      VerifyError,
    );
    assertEquals([lost.code, lost.region], ["VERIFY_MISMATCH", "b"]);
  } finally {
    await p.close();
  }
});

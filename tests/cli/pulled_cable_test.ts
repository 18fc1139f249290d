/**
 * A cable pulled in the middle of `espdelta flash`, over a real socket: the
 * run stops with one line saying what was lost and what to do (exit code
 * 1), and the same command, run again once the cable is back, finishes the
 * job by writing only what is still wrong.
 */
import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { espdelta } from "./run.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url).pathname;

Deno.test("a pulled cable mid-write: one clear line, exit 1; the re-run converges", async () => {
  const device = new VirtualDevice({ chip: "esp32" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const url = `socket://127.0.0.1:${server.port}`;
  const app = `${FW}hello-world-signed_esp32.bin`;
  const image = await Deno.readFile(app);
  try {
    // How many bytes connecting and planning take, so the cut lands in the write.
    const counter = device.injectFaults({});
    assertEquals((await espdelta(["-b", "460800", "-p", url, "plan", "0x10000", app])).code, 0);
    const before = counter.hostBytes;

    device.injectFaults({ dropAfterBytes: before + 30_000 });
    const cut = await espdelta(["-b", "460800", "-p", url, "flash", "0x10000", app]);
    assertEquals(cut.code, 1);
    const lines = cut.stderr.trim().split("\n");
    assertEquals(lines.length, 1, cut.stderr);
    assertOk(
      lines[0].startsWith(`error: lost the device on ${url} during `) &&
        lines[0].endsWith(
          "; check the cable and power, then run the same command again: espdelta re-plans " +
            "and writes only what is still wrong",
        ),
      lines[0],
    );
    const written = device.flash.touchedSectors();
    assertOk(written.length > 0 && written.every((s) => s >= 0x10 && s < 0x40), `${written}`);

    device.faults.heal();
    device.flash.resetCounters();
    const again = await espdelta(["-b", "460800", "-p", url, "flash", "0x10000", app]);
    assertEquals(again.code, 0, again.stderr);
    assertEquals(device.flash.data.subarray(0x10000, 0x10000 + image.length), image);
    // Only app sectors were touched, and fewer than a full write.
    const rewritten = device.flash.touchedSectors();
    assertOk(rewritten.every((s) => s >= 0x10 && s < 0x40), `${rewritten}`);
    assertOk(rewritten.length < 48, `${rewritten.length} sectors rewritten`);
  } finally {
    await server.close();
  }
});

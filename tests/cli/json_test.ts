import { assertEquals } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { espdelta } from "./run.ts";
import { checkEvents } from "./schema.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url).pathname;

Deno.test("--json: every command's events follow the documented schema", async () => {
  const device = new VirtualDevice({ chip: "esp32" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const out = await Deno.makeTempFile();
  try {
    const p = ["--json", "-p", `socket://127.0.0.1:${server.port}`];
    const boot = `${FW}bootloader_esp32.bin`;
    const runs: [string[], string[]][] = [
      [["chip-id"], ["connected", "chip", "result"]],
      [["read-mac"], ["connected", "chip", "result"]],
      [["flash-id"], ["connected", "result"]],
      [["write-flash", "0x1000", boot], [
        "connected",
        "progress",
        "progress",
        "region-done",
        "result",
      ]],
      [["verify-flash", "0x1000", boot], ["connected", "region-done", "result"]],
      [["plan", "0x1000", boot], ["connected", "plan", "result"]],
      [["flash", "0x1000", boot], ["connected", "plan", "region-done", "outcome"]],
      [["read-flash", "0x1000", "0x100", out], ["connected", "progress", "progress", "result"]],
      [["erase-region", "0x20000", "0x1000"], ["connected", "result"]],
      [["image-info", boot], ["result"]],
      [["verify-flash", "0x2000", boot], ["connected", "region-done", "error"]],
    ];
    for (const [args, types] of runs) {
      const r = await espdelta([...p, ...args]);
      const events = checkEvents(r.stdout);
      assertEquals(events.map((e) => e.type), types, args.join(" "));
    }
    const bad = await espdelta(["--json", "-p", "/dev/ttyNOPE1", "chip-id"]);
    assertEquals(checkEvents(bad.stdout).map((e) => [e.type, e.code, e.exitCode]), [
      ["error", "PORT_NOT_FOUND", 2],
    ]);
  } finally {
    await server.close();
    await Deno.remove(out);
  }
});

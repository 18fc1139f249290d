/**
 * The monitor's keys on a real terminal: script(1) gives the CLI a pty as
 * its stdin and stdout, so Ctrl-T R and Ctrl-] go through the terminal in raw
 * mode as a user's keys do. The board is behind RFC 2217, whose DTR/RTS reach
 * its modelled reset circuit.
 */

import { assertEquals, assertOk } from "../assert.ts";
import { appImage } from "../emulator/images.ts";
import { freePort, startEmulator } from "./processes.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url).pathname;
const CLI = new URL("../../cli.ts", import.meta.url).pathname;
const BANNER = "ESP-ROM:esp32c3-api1-20210207";
const VERSION_LINE = /app_init: App version: +1\.2\.0/g;

Deno.test("monitor on a terminal: Ctrl-T R resets the chip (its boot log again), Ctrl-] quits with 0", async () => {
  const dir = await Deno.makeTempDir();
  const flash = new Uint8Array(4 << 20).fill(0xff);
  flash.set(await Deno.readFile(`${FW}bootloader_esp32c3.bin`), 0);
  flash.set(await Deno.readFile(`${FW}partitions_singleapp.bin`), 0x8000);
  flash.set(appImage("esp32c3", { projectName: "blink", version: "1.2.0" }), 0x10000);
  await Deno.writeFile(`${dir}/flash.bin`, flash);
  const emu = await startEmulator("esp32c3", [
    "--rfc2217",
    `127.0.0.1:${freePort()}`,
    "--flash-file",
    `${dir}/flash.bin`,
  ]);
  try {
    const cmd = [Deno.execPath(), "run", "-A", "--quiet", CLI, "-p", emu.url, "monitor"].join(" ");
    const child = new Deno.Command("script", {
      args: ["-qefc", cmd, "/dev/null"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", TERM: "xterm" },
    }).spawn();
    const keys = child.stdin.getWriter();
    let text = "";
    let step = 0;
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      const booted = (text.match(VERSION_LINE) ?? []).length;
      if (step === 0 && booted === 1) {
        step = 1;
        await keys.write(new Uint8Array([0x14, 0x72])); // Ctrl-T R
      } else if (step === 1 && booted === 2) {
        step = 2;
        await keys.write(new Uint8Array([0x1d])); // Ctrl-]
      }
    }
    clearTimeout(timer);
    await keys.close().catch(() => {});
    const status = await child.status;
    assertEquals(status.code, 0, text);
    assertEquals(step, 2, text);
    const lines = text.split(/\r?\n/).map((l) => l.trimEnd());
    assertOk(lines.includes("--- quit: Ctrl-] | reset: Ctrl-T R | help: Ctrl-T H ---"), text);
    // The ROM's banner once after the monitor's own reset, once after Ctrl-T R, with
    // the monitor's note between the first boot's app lines and the second banner.
    const banners = lines.flatMap((l, i) => l === BANNER ? [i] : []);
    assertEquals(banners.length, 2, text);
    const note = lines.indexOf("--- reset");
    assertOk(note > banners[0] && note < banners[1], text);
  } finally {
    await emu.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

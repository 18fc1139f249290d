/**
 * The deploy loop as users run it: the CLI as a subprocess against the
 * virtual ESP32-C3 served on a real pty (`espdelta emulate --pty`). A pty
 * carries no DTR/RTS, so these flashes end with `--after watchdog-reset`
 * (the C3's RTC watchdog restarts it into its app through the loader, no
 * reset line needed): the boot check then reads the real boot log the
 * virtual chip prints from its flash.
 */
import { assertEquals, assertOk } from "../assert.ts";
import { appImage } from "../emulator/images.ts";
import {
  type Emulator,
  freePort,
  spawnEspdelta,
  spawnOnTerminal,
  startEmulator,
} from "./processes.ts";
import { espdelta } from "./run.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url).pathname;
const BOOTLOADER = `${FW}bootloader_esp32c3.bin`;
const TABLE = `${FW}partitions_singleapp.bin`;
const PANIC_ELF = `${FW}elf/esp32c3-panic.elf`;
/** ESP-IDF v5.5's ELF SHA-256 prefix of the test images (their descriptor's digest). */
const SHA = "031425364";

/** A temp folder with the C3 app `blink 1.2.0`, and an emulator on a pty with `flash` in it. */
async function bench(
  flash?: Uint8Array,
): Promise<{ dir: string; emu: Emulator; close(): Promise<void> }> {
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(
    `${dir}/app.bin`,
    appImage("esp32c3", { projectName: "blink", version: "1.2.0" }),
  );
  const args = ["--pty"];
  if (flash) {
    await Deno.writeFile(`${dir}/flash.bin`, flash);
    args.push("--flash-file", `${dir}/flash.bin`);
  }
  const emu = await startEmulator("esp32c3", args);
  return {
    dir,
    emu,
    close: async () => {
      await emu.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** `espdelta -p PTY --chip esp32c3 --after watchdog-reset ...args`. */
const run = (emu: Emulator, args: string[]) =>
  espdelta(["-p", emu.url, "--chip", "esp32c3", "--after", "watchdog-reset", ...args]);

const allThree = (dir: string) => ["0x0", BOOTLOADER, "0x8000", TABLE, "0x10000", `${dir}/app.bin`];

Deno.test("flash: the new app booted, by its project name, version and ELF SHA-256; JSON says so", async () => {
  const b = await bench();
  try {
    const r = await run(b.emu, ["flash", ...allThree(b.dir)]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(
      r.stdout.trim().split("\n").at(-1),
      "full: bootloader 0x0 (5 of 5 sectors), partition-table 0x8000 (1 of 1 sector), " +
        `factory 0x10000 (1 of 1 sector); booted: blink 1.2.0 (ELF SHA-256 ${SHA})`,
    );
    // Again, as JSON: nothing to write, and the boot confirmed in the outcome event.
    const j = await run(b.emu, ["--json", "flash", ...allThree(b.dir)]);
    assertEquals(j.code, 0, j.stderr);
    const outcome = j.stdout.trim().split("\n").map((l) => JSON.parse(l)).find((e) =>
      e.type === "outcome"
    );
    assertEquals(outcome.outcome, "verify-skip");
    assertEquals(outcome.boot, {
      verdict: "booted",
      message: `booted: blink 1.2.0 (ELF SHA-256 ${SHA})`,
      ok: true,
      app: { projectName: "blink", version: "1.2.0", elfSha256Prefix: SHA },
    });
    // --no-boot-check: the outcome line alone.
    const n = await run(b.emu, ["flash", "--no-boot-check", ...allThree(b.dir)]);
    assertEquals(n.code, 0, n.stderr);
    assertEquals(
      n.stdout.trim().split("\n").at(-1),
      "verify-skip: 3 regions already on the device (bootloader, partition-table, factory)",
    );
  } finally {
    await b.close();
  }
});

Deno.test("flash: a half-written app is a failed boot, exit 5, with the chip's last lines", async () => {
  // The flash as an interrupted write left it: the app's first 800 bytes, the rest erased.
  const app = appImage("esp32c3", { projectName: "blink", version: "1.2.0" });
  const flash = new Uint8Array(4 << 20).fill(0xff);
  flash.set(app.subarray(0, 800), 0x10000);
  const b = await bench(flash);
  try {
    const r = await run(b.emu, ["flash", "0x0", BOOTLOADER, "0x8000", TABLE]);
    assertEquals(r.code, 5, r.stderr);
    assertEquals(
      r.stdout.trim().split("\n").at(-1),
      "full: bootloader 0x0 (5 of 5 sectors), partition-table 0x8000 (1 of 1 sector); " +
        "boot check failed: the bootloader refused the app " +
        "(esp_image: invalid segment length 0xffffffff)",
    );
    const err = r.stderr.trim().split("\n");
    assertEquals(err[0], "--- the chip's last lines:");
    assertOk(
      err.some((l) =>
        l.includes("E (") && l.includes("esp_image: invalid segment length 0xffffffff")
      ),
      r.stderr,
    );
    assertEquals(err.at(-1), "error: the new app did not boot (image-error)");
  } finally {
    await b.close();
  }
});

Deno.test("flash --monitor shows the boot log; --until exits 0 on the app's banner", async () => {
  const b = await bench();
  try {
    const r = await run(b.emu, [
      "flash",
      "--monitor",
      "--until",
      "main: heartbeat 1$",
      "--for",
      "10",
      ...allThree(b.dir),
    ]);
    assertEquals(r.code, 0, r.stderr);
    const out = r.stdout.split("\n");
    // The ROM's banner, the bootloader's log, the app's information, in order, then the heartbeat.
    const at = (s: string) => out.findIndex((l) => l.includes(s));
    const order = [
      "ESP-ROM:esp32c3-api1-20210207",
      "rst:0x10 (RTCWDT_RTC_RST),boot:0xc (SPI_FAST_FLASH_BOOT)",
      "boot: Loaded app from partition at offset 0x10000",
      "app_init: Project name:     blink",
      "app_init: App version:      1.2.0",
      "main: heartbeat 1",
    ].map(at);
    assertOk(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1])), r.stdout);
    assertOk(r.stdout.includes(`; booted: blink 1.2.0 (ELF SHA-256 ${SHA})\n`), r.stdout);
    assertOk(r.stderr.includes("--- matched /main: heartbeat 1$/"), r.stderr);
  } finally {
    await b.close();
  }
});

Deno.test("monitor: --until matches the running app's output (0), or times out (4)", async () => {
  const b = await bench();
  try {
    assertEquals((await run(b.emu, ["flash", ...allThree(b.dir)])).code, 0);
    // The app keeps running; a monitor on a pty (no reset lines) shows it from now on.
    const m = await espdelta([
      "-p",
      b.emu.url,
      "monitor",
      "--until",
      "heartbeat \\d+",
      "--for",
      "5",
    ]);
    assertEquals(m.code, 0, m.stderr);
    assertOk(/^I \(\d+\) main: heartbeat \d+$/m.test(m.stdout), m.stdout);
    assertOk(m.stderr.includes("has no reset lines"), m.stderr);
    // As JSON: one `line` event per line, then the result.
    const j = await espdelta([
      "-p",
      b.emu.url,
      "--json",
      "monitor",
      "--until",
      "heartbeat",
      "--for",
      "5",
    ]);
    assertEquals(j.code, 0, j.stderr);
    const events = j.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const line = events.find((e) => e.type === "line" && e.text.includes("heartbeat"));
    assertOk(/^I \(\d+\) main: heartbeat \d+$/.test(line.text), j.stdout);
    assertOk(!Number.isNaN(Date.parse(line.time)), j.stdout);
    assertEquals(events.at(-1).type, "result");
    assertEquals([events.at(-1).message, events.at(-1).end], ["matched /heartbeat/", "matched"]);
    const t = await espdelta([
      "-p",
      b.emu.url,
      "monitor",
      "--until",
      "never printed",
      "--for",
      "1.5",
    ]);
    assertEquals(t.code, 4, t.stderr);
    assertOk(/^I \(\d+\) main: heartbeat \d+$/m.test(t.stdout), t.stdout);
    assertEquals(
      t.stderr.trim().split("\n").at(-1),
      "error: no line matched /never printed/ within 1.5 s",
    );
  } finally {
    await b.close();
  }
});

Deno.test("monitor --elf: a panic's RISC-V register dump named from the app's ELF", async () => {
  const b = await bench();
  try {
    await Deno.writeFile(
      `${b.dir}/app.bin`,
      appImage("esp32c3", { projectName: "blink", version: "espdelta-panic" }),
    );
    // The panicking app fails its boot check, then keeps crashing and rebooting.
    const f = await run(b.emu, ["flash", ...allThree(b.dir)]);
    assertEquals(f.code, 5, f.stderr);
    const m = await espdelta([
      "-p",
      b.emu.url,
      "monitor",
      "--elf",
      PANIC_ELF,
      "--until",
      "^Rebooting",
      "--for",
      "10",
    ]);
    assertEquals(m.code, 0, m.stderr);
    const out = m.stdout.split("\n");
    const mepc = out.findIndex((l) => l.startsWith("MEPC    : 0x42000054  RA      : 0x4200003c"));
    assertOk(mepc >= 0, m.stdout);
    assertEquals(out.slice(mepc + 1, mepc + 3), [
      "--- 0x42000054: app_main+0xc",
      "--- 0x4200003c: main_task+0xc",
    ]);
  } finally {
    await b.close();
  }
});

Deno.test("flash --monitor on an ESP-IDF build folder finds the app's ELF from project_description.json", async () => {
  const b = await bench();
  try {
    // A build folder as ESP-IDF leaves it: the files, flasher_args.json, and the
    // description naming the ELF (build_dir is where it was built, elsewhere).
    const build = `${b.dir}/build`;
    await Deno.mkdir(`${build}/bootloader`, { recursive: true });
    await Deno.mkdir(`${build}/partition_table`);
    await Deno.copyFile(BOOTLOADER, `${build}/bootloader/bootloader.bin`);
    await Deno.copyFile(TABLE, `${build}/partition_table/partition-table.bin`);
    await Deno.writeFile(
      `${build}/crash.bin`,
      appImage("esp32c3", { projectName: "crash", version: "espdelta-panic" }),
    );
    // Named unlike the app image, so only the description can lead to it.
    await Deno.copyFile(PANIC_ELF, `${build}/project.elf`);
    const files = {
      "0x0": "bootloader/bootloader.bin",
      "0x8000": "partition_table/partition-table.bin",
      "0x10000": "crash.bin",
    };
    await Deno.writeTextFile(
      `${build}/flasher_args.json`,
      JSON.stringify({
        write_flash_args: ["--flash_mode", "dio", "--flash_size", "2MB", "--flash_freq", "80m"],
        flash_files: files,
        app: { offset: "0x10000", file: "crash.bin", encrypted: "false" },
        extra_esptool_args: { after: "hard_reset", before: "default_reset", chip: "esp32c3" },
      }),
    );
    await Deno.writeTextFile(
      `${build}/project_description.json`,
      JSON.stringify({ app_elf: "project.elf", build_dir: "/home/someone/crash/build" }),
    );
    const r = await run(b.emu, [
      "flash",
      "--monitor",
      "--until",
      "^Rebooting",
      "--for",
      "10",
      build,
    ]);
    // The monitor ran to its match; then the failed boot (a panic) gives exit 5.
    assertEquals(r.code, 5, r.stderr);
    assertOk(r.stderr.includes(`--- addresses named from ${build}/project.elf`), r.stderr);
    const out = r.stdout.split("\n");
    const mepc = out.findIndex((l) => l.startsWith("MEPC    : 0x42000054  RA      : 0x4200003c"));
    assertOk(mepc >= 0, r.stdout);
    assertEquals(out.slice(mepc + 1, mepc + 3), [
      "--- 0x42000054: app_main+0xc",
      "--- 0x4200003c: main_task+0xc",
    ]);
  } finally {
    await b.close();
  }
});

Deno.test("watch: redeploys when the app changes, verify-skip when it was rewritten the same; SIGINT leaves", async () => {
  const b = await bench();
  const w = spawnEspdelta([
    "-p",
    b.emu.url,
    "--chip",
    "esp32c3",
    "--after",
    "watchdog-reset",
    "watch",
    "--settle",
    "300",
    ...allThree(b.dir),
  ]);
  try {
    const booted = (v: string) => (l: string) =>
      l.endsWith(`booted: blink ${v} (ELF SHA-256 ${SHA})`);
    assertOk(await w.stdout.waitLine(booted("1.2.0"), 30_000), w.stdout.text + w.stderr.text);
    assertOk(await w.stdout.waitLine((l) => l.includes("main: heartbeat 1"), 10_000));
    // A new build: the app changes; watch deploys it and checks its boot.
    await Deno.writeFile(
      `${b.dir}/app.bin`,
      appImage("esp32c3", { projectName: "blink", version: "1.3.0" }),
    );
    const second = await w.stdout.waitLine(booted("1.3.0"), 30_000);
    assertOk(
      second?.startsWith("selective: factory 0x10000 (1 of 1 sector)"),
      w.stdout.text + w.stderr.text,
    );
    assertOk(w.stderr.text.includes(`--- changed: ${b.dir}/app.bin; deploying`), w.stderr.text);
    // The same bytes written again (a build that changed nothing): deployed, nothing written.
    await Deno.writeFile(
      `${b.dir}/app.bin`,
      appImage("esp32c3", { projectName: "blink", version: "1.3.0" }),
    );
    const third = await w.stdout.waitLine(
      (l) => l.startsWith("verify-skip:") && l.endsWith(`booted: blink 1.3.0 (ELF SHA-256 ${SHA})`),
      30_000,
    );
    assertOk(third, w.stdout.text + w.stderr.text);
    // Without a terminal (no keys), SIGINT is the way out: main's interrupt, exit 130.
    w.kill("SIGINT");
    assertEquals(await w.code(), 130, w.stderr.text);
    assertOk(
      w.stderr.text.includes("--- watching 3 files; SIGINT (exit 130) stops"),
      w.stderr.text,
    );
    assertOk(
      w.stderr.text.trim().split("\n").at(-1)?.startsWith("interrupted (SIGINT)"),
      w.stderr.text,
    );
  } finally {
    w.kill();
    await w.code();
    await b.close();
  }
});

/**
 * A C3 board behind RFC 2217 (its DTR/RTS reach the modelled reset circuit)
 * whose flash holds the bootloader, the table and `blink 1.2.0`.
 */
async function rfc2217Board(): Promise<{ dir: string; emu: Emulator }> {
  const dir = await Deno.makeTempDir();
  const flash = new Uint8Array(4 << 20).fill(0xff);
  flash.set(await Deno.readFile(BOOTLOADER), 0);
  flash.set(await Deno.readFile(TABLE), 0x8000);
  flash.set(appImage("esp32c3", { projectName: "blink", version: "1.2.0" }), 0x10000);
  await Deno.writeFile(`${dir}/flash.bin`, flash);
  const emu = await startEmulator("esp32c3", [
    "--rfc2217",
    `127.0.0.1:${freePort()}`,
    "--flash-file",
    `${dir}/flash.bin`,
  ]);
  return { dir, emu };
}

Deno.test("monitor over RFC 2217: its reset reaches the board (DTR/RTS), the boot log from the ROM's first line", async () => {
  const { dir, emu } = await rfc2217Board();
  try {
    const m = await espdelta([
      "-p",
      emu.url,
      "monitor",
      "--timestamps",
      "--log",
      `${dir}/monitor.log`,
      "--until",
      "app_init: App version: +1\\.2\\.0",
      "--for",
      "10",
    ]);
    assertEquals(m.code, 0, m.stderr);
    const out = m.stdout.trim().split("\n");
    // Every line stamped with the local time; the first is the ROM's banner after the reset.
    assertOk(out.every((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\] /.test(l)), m.stdout);
    assertEquals(out[0].slice(15), "ESP-ROM:esp32c3-api1-20210207");
    assertOk(/^I \(\d+\) app_init: App version: {6}1\.2\.0$/.test(out.at(-1)!.slice(15)), m.stdout);
    assertOk(out.some((l) => l.endsWith(") app_init: Project name:     blink")), m.stdout);
    assertEquals(m.stderr.split("\n")[0], `--- espdelta monitor on ${emu.url} at 115200 baud ---`);
    // The log holds the same lines with date and time.
    const log = (await Deno.readTextFile(`${dir}/monitor.log`)).trim().split("\n");
    assertEquals(log.length, out.length);
    assertOk(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ESP-ROM:esp32c3-api1-20210207$/.test(log[0]),
      log[0],
    );
    // flash with its default hard reset through DTR/RTS: the boot checked at once.
    await Deno.writeFile(
      `${dir}/app.bin`,
      appImage("esp32c3", { projectName: "blink", version: "1.3.0" }),
    );
    const f = await espdelta(["-p", emu.url, "flash", "0x10000", `${dir}/app.bin`]);
    assertEquals(f.code, 0, f.stderr);
    assertEquals(
      f.stdout.trim().split("\n").at(-1),
      `full: app 0x10000 (1 of 1 sector); booted: blink 1.3.0 (ELF SHA-256 ${SHA})`,
    );
  } finally {
    await emu.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("monitor on a terminal: Ctrl-T R resets the chip (its boot log again), Ctrl-] quits with 0", async () => {
  const { dir, emu } = await rfc2217Board();
  try {
    const child = spawnOnTerminal(["-p", emu.url, "monitor"]);
    const keys = child.stdin.getWriter();
    const versionLine = /app_init: App version: +1\.2\.0/g;
    let text = "";
    let step = 0;
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      const booted = (text.match(versionLine) ?? []).length;
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
    assertEquals((await child.status).code, 0, text);
    assertEquals(step, 2, text);
    const lines = text.split(/\r?\n/).map((l) => l.trimEnd());
    assertOk(lines.includes("--- quit: Ctrl-] | reset: Ctrl-T R | help: Ctrl-T H ---"), text);
    // The ROM's banner once after the monitor's own reset, once after Ctrl-T R, with
    // the monitor's note between the first boot's app lines and the second banner.
    const banners = lines.flatMap((l, i) => l === "ESP-ROM:esp32c3-api1-20210207" ? [i] : []);
    assertEquals(banners.length, 2, text);
    const note = lines.indexOf("--- reset");
    assertOk(note > banners[0] && note < banners[1], text);
  } finally {
    await emu.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

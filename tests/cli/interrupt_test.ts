/**
 * The flash never depends on stdout or stderr, and a signal stops it at a
 * safe point (issue 15, item 3): each case runs the CLI as a subprocess
 * against the virtual ESP32 over socket://, through a relay that slows the
 * link so the write is still going when the test acts.
 */
import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { slowLink } from "./slow_link.ts";
import { checkEvents } from "./schema.ts";
import { spawnOnTerminal } from "./processes.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;
const OFFSET = 0x100000;
const SECTORS = 128;
const RESUME = "run the same command again to resume: it writes only what is still missing";

/** 512 KiB that deflate cannot shrink much: the write takes its time on a slow link. */
function image(seed: number): Uint8Array {
  const out = new Uint8Array(SECTORS * 0x1000);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Sectors of the region whose bytes on the device are the image's. */
function sectorsHeld(device: VirtualDevice, img: Uint8Array): number {
  let n = 0;
  for (let s = 0; s < SECTORS; s++) {
    const dev = device.flash.data.subarray(OFFSET + s * 0x1000, OFFSET + (s + 1) * 0x1000);
    if (dev.every((b, i) => b === img[s * 0x1000 + i])) n++;
  }
  return n;
}

const inRegion = (sectors: number[]) =>
  sectors.every((s) => s >= OFFSET / 0x1000 && s < OFFSET / 0x1000 + SECTORS);

async function withBoard(
  rate: number,
  fn: (ctx: {
    device: VirtualDevice;
    url: string;
    direct: string;
    file: string;
    img: Uint8Array;
    pause: () => void;
  }) => Promise<void>,
) {
  const device = new VirtualDevice({ chip: "esp32" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const link = slowLink(server.port, rate);
  const dir = await Deno.makeTempDir();
  const img = image(rate);
  const file = `${dir}/big.bin`;
  await Deno.writeFile(file, img);
  try {
    await fn({
      device,
      url: link.url,
      direct: `socket://127.0.0.1:${server.port}`,
      file,
      img,
      pause: link.pause,
    });
  } finally {
    await link.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function spawn(args: string[], options: { stderr?: "piped" | "null" } = {}) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, ...args],
    stdout: "piped",
    stderr: options.stderr ?? "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

/** Reads JSON Lines from `stream`, calling `onEvent` for each, until it ends. */
async function readEvents(
  stream: ReadableStream<Uint8Array>,
  onEvent: (e: Record<string, unknown>) => void,
): Promise<string> {
  let all = "";
  let buf = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    all += text;
    buf += text;
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      onEvent(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  }
  return all;
}

Deno.test("SIGINT mid-flash stops after the block in flight: one line, an interrupted event, exit 130; the re-run resumes", async () => {
  await withBoard(100_000, async ({ device, url, file, img }) => {
    const child = spawn(["-b", "460800", "-p", url, "--json", "flash", hexOffset(), file]);
    let signalled = false;
    // A quarter in: a stop in the first sectors would leave the re-run nothing to
    // resume (rewriting the few written sectors' block whole is then the cheaper plan).
    const stdout = await readEvents(child.stdout, (e) => {
      if (!signalled && e.type === "progress" && (e.done as number) >= (e.total as number) / 4) {
        signalled = true;
        child.kill("SIGINT");
      }
    });
    const status = await child.status;
    const stderr = await new Response(child.stderr).text();
    assertEquals(status.code, 130, stderr);
    const events = checkEvents(stdout);
    const last = events.at(-1)!;
    assertEquals(
      [last.type, last.signal, last.stopped, last.sectors, last.exitCode],
      ["interrupted", "SIGINT", "safe-point", SECTORS, 130],
    );
    const written = last.sectorsWritten as number;
    assertEquals(
      last.message,
      `interrupted (SIGINT) after writing about ${written} of ${SECTORS} sectors; ${RESUME}`,
    );
    assertEquals(stderr, `${last.message}\n`);
    assertOk(!events.some((e) => e.type === "error" || e.type === "outcome"));
    // Stopped within the write, near where it said (one 16 KiB block of deflate's guess).
    const held = sectorsHeld(device, img);
    assertOk(written > 0 && written < SECTORS && held > 0 && held < SECTORS, `${written} ${held}`);
    assertOk(Math.abs(held - written) <= 4, `said ${written}, device holds ${held}`);
    assertOk(inRegion(device.flash.touchedSectors()), `${device.flash.touchedSectors()}`);

    device.flash.resetCounters();
    const again = spawn(["-b", "460800", "-p", url, "flash", hexOffset(), file]);
    const [st, out] = await Promise.all([again.status, new Response(again.stdout).text()]);
    assertEquals(st.code, 0, await new Response(again.stderr).text());
    assertEquals(sectorsHeld(device, img), SECTORS);
    const rewritten = device.flash.touchedSectors();
    assertOk(inRegion(rewritten) && rewritten.length < SECTORS, `${rewritten.length} ${out}`);
  });
});

Deno.test("SIGTERM mid-write-flash: the same safe-point stop, worded for write-flash", async () => {
  await withBoard(100_000, async ({ device, url, file, img }) => {
    const child = spawn(["-b", "460800", "-p", url, "--json", "write-flash", hexOffset(), file]);
    let signalled = false;
    const stdout = await readEvents(child.stdout, (e) => {
      if (!signalled && e.type === "progress" && (e.done as number) > 0) {
        signalled = true;
        child.kill("SIGTERM");
      }
    });
    const status = await child.status;
    const stderr = await new Response(child.stderr).text();
    assertEquals(status.code, 130, stderr);
    const last = checkEvents(stdout).at(-1)!;
    const written = last.sectorsWritten as number;
    assertEquals([last.type, last.signal, last.stopped], ["interrupted", "SIGTERM", "safe-point"]);
    assertEquals(
      stderr.trim(),
      `interrupted (SIGTERM) after writing about ${written} of ${SECTORS} sectors; run the same ` +
        "command again to finish: write-flash writes only what is still wrong",
    );
    const held = sectorsHeld(device, img);
    assertOk(held > 0 && held < SECTORS && Math.abs(held - written) <= 4, `${written} ${held}`);
  });
});

Deno.test("Ctrl-C on a terminal: the progress bar's cursor and line wrap come back, one line, exit 130", async () => {
  await withBoard(100_000, async ({ device, url, file, img }) => {
    // A real terminal: ^C typed into it is the line discipline's SIGINT.
    const child = spawnOnTerminal(["-p", url, "flash", hexOffset(), file]);
    const keys = child.stdin.getWriter();
    let text = "";
    let typed = false;
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      if (!typed && /\| [1-9]\d*\/524288 bytes/.test(text)) {
        typed = true;
        await keys.write(new Uint8Array([0x03]));
      }
    }
    await keys.close().catch(() => {});
    const status = await child.status;
    assertEquals(status.code, 130, text);
    // The bar hid the cursor and turned line wrap off; both are back at the end.
    const hidden = text.indexOf("\x1b[?25l");
    assertOk(hidden >= 0 && text.indexOf("\x1b[?7l") >= 0, JSON.stringify(text.slice(0, 300)));
    const restored = "\x1b[?25h\x1b[?7h";
    const tail = text.slice(text.lastIndexOf(restored) + restored.length);
    const m = /^(interrupted \(SIGINT\) after writing about (\d+) of 128 sectors; .*)\r\n$/
      .exec(tail);
    assertOk(m, JSON.stringify(text.slice(-300)));
    assertEquals(
      m[1],
      `interrupted (SIGINT) after writing about ${m[2]} of 128 sectors; ${RESUME}`,
    );
    assertOk(text.lastIndexOf("\x1b[?25l") < text.lastIndexOf("\x1b[?25h"));
    const held = sectorsHeld(device, img);
    assertOk(held > 0 && held < SECTORS, `${held}`);
  });
});

Deno.test("a second Ctrl-C stops at once, mid-block", async () => {
  await withBoard(100_000, async ({ url, file, pause }) => {
    const child = spawn(["-b", "460800", "-p", url, "--json", "flash", hexOffset(), file]);
    let signalled = false;
    const stdout = await readEvents(child.stdout, (e) => {
      if (!signalled && e.type === "progress" && (e.done as number) > 0) {
        signalled = true;
        // The block in flight never completes: only a second signal can end the run.
        pause();
        child.kill("SIGINT");
        setTimeout(() => child.kill("SIGINT"), 300);
      }
    });
    const status = await child.status;
    const stderr = await new Response(child.stderr).text();
    assertEquals(status.code, 130, stderr);
    const last = checkEvents(stdout).at(-1)!;
    const written = last.sectorsWritten as number;
    assertEquals([last.type, last.stopped], ["interrupted", "at-once"]);
    assertEquals(
      stderr.trim(),
      `interrupted again (SIGINT), stopped at once mid-block after writing about ${written} of ` +
        `${SECTORS} sectors; ${RESUME}`,
    );
  });
});

Deno.test("Ctrl-C before anything is written stops at once and says so", async () => {
  await withBoard(100_000, async ({ url, file, pause, device }) => {
    const child = spawn(["-b", "460800", "-p", url, "--json", "flash", hexOffset(), file]);
    let signalled = false;
    const stdout = await readEvents(child.stdout, (e) => {
      if (!signalled && e.type === "connected") {
        signalled = true;
        pause(); // planning waits for the device: the run is not writing
        child.kill("SIGINT");
      }
    });
    const status = await child.status;
    const stderr = await new Response(child.stderr).text();
    assertEquals([status.code, stderr], [130, "interrupted (SIGINT); nothing was written\n"]);
    const last = checkEvents(stdout).at(-1)!;
    assertEquals([last.type, last.stopped, last.sectorsWritten], ["interrupted", "at-once", 0]);
    assertEquals(device.flash.touchedSectors(), []);
  });
});

Deno.test("a closed stdout (| head -3) stops the output, not the flash: exit 0, image written", async () => {
  await withBoard(200_000, async ({ device, url, file, img }) => {
    const child = spawn(["-b", "460800", "-p", url, "--json", "flash", hexOffset(), file]);
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (text.split("\n").length <= 3) text += (await reader.read()).value ?? "";
    await reader.cancel(); // the reader goes away, as head does after three lines
    const types = text.split("\n").slice(0, 3).map((l) => JSON.parse(l).type);
    assertEquals(types, ["connected", "plan", "progress"]);
    const status = await child.status;
    const stderr = await new Response(child.stderr).text();
    assertEquals([status.code, stderr], [0, ""]);
    assertEquals(sectorsHeld(device, img), SECTORS);
  });
});

Deno.test("a full stderr pipe (a reader that stopped reading) stops the output, not the flash", async () => {
  // --trace through the ROM loader writes far more than a pipe holds; nothing reads it
  // until the run has ended. Writing it synchronously would block the run for good.
  const device = new VirtualDevice({ chip: "esp32" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const dir = await Deno.makeTempDir();
  const img = image(7).subarray(0, 64 * 0x1000);
  const big = new Uint8Array(4 * img.length);
  for (let i = 0; i < 4; i++) big.set(img, i * img.length);
  await Deno.writeFile(`${dir}/big.bin`, big);
  try {
    const url = `socket://127.0.0.1:${server.port}`;
    const child = spawn([
      "-b",
      "460800",
      "-p",
      url,
      "--trace",
      "--no-stub",
      "flash",
      "0x100000",
      `${dir}/big.bin`,
    ]);
    const [status, stdout] = await Promise.all([child.status, new Response(child.stdout).text()]);
    const stderr = await new Response(child.stderr).text();
    assertEquals(status.code, 0);
    // The pipe filled (64 KiB on Linux); what did not fit was dropped, not waited for.
    assertOk(stderr.length > 60_000, `${stderr.length} bytes of trace`);
    assertEquals(stdout.trim().split("\n").at(-1), "full: big 0x100000 (256 of 256 sectors)");
    assertEquals(device.flash.data.subarray(OFFSET, OFFSET + big.length), big);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

function hexOffset(): string {
  return `0x${OFFSET.toString(16)}`;
}

Deno.test("many boards: one SIGINT stops every board at its safe point; the line sums them up", async () => {
  await withBoard(100_000, async (a) => {
    await withBoard(100_000, async (b) => {
      const child = spawn(["-p", a.url, "-p", b.url, "--json", "flash", hexOffset(), a.file]);
      let signalled = false;
      const stdout = await readEvents(child.stdout, (e) => {
        if (!signalled && e.type === "progress" && (e.done as number) > 0) {
          signalled = true;
          child.kill("SIGINT");
        }
      });
      const status = await child.status;
      const stderr = await new Response(child.stderr).text();
      assertEquals(status.code, 130, stderr);
      const events = checkEvents(stdout);
      const boards = events.filter((e) => e.type === "board");
      assertEquals(boards.map((e) => [e.ok, e.exitCode]), [[false, 130], [false, 130]]);
      const last = events.at(-1)!;
      assertEquals([last.type, last.sectors], ["interrupted", 2 * SECTORS]);
      assertEquals(
        stderr.trim().split("\n").at(-1),
        `interrupted (SIGINT) after writing about ${last.sectorsWritten} of ${2 * SECTORS} ` +
          `sectors; ${RESUME}`,
      );
      for (const d of [a, b]) assertOk(inRegion(d.device.flash.touchedSectors()));
    });
  });
});

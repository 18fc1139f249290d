import { assertEquals, assertOk, assertRejects } from "../assert.ts";
import { openPtyPair } from "../../src/serial/pty.ts";
import { openPosix, PortError } from "../../src/serial/posix.ts";
import type { Port } from "../../src/serial/port.ts";

/** Reads exactly `n` bytes within 5 s, or fails (never hangs the suite). */
async function readExactly(port: Port, n: number): Promise<Uint8Array> {
  const out: number[] = [];
  const until = performance.now() + 5000;
  while (out.length < n && performance.now() < until) out.push(...await port.read(200));
  assertEquals(out.length, n, `read ${out.length} of ${n} bytes`);
  return new Uint8Array(out);
}

Deno.test("pty through the FFI backend: raw bytes both ways at any baud, no modem lines said once", async () => {
  const pair = await openPtyPair();
  const warnings: string[] = [];
  const port = await openPosix(pair.slavePath, { baud: 1234567, onWarn: (m) => warnings.push(m) });
  try {
    assertEquals(port.hasModemLines, false);
    assertEquals(warnings, [
      `${pair.slavePath} has no DTR/RTS lines (a pseudo-terminal?); reset by hand if needed`,
    ]);
    const all = new Uint8Array(256).map((_, i) => i); // CR, LF, XON, 0xC0, 0xFF untouched
    await port.write(all);
    assertEquals(await readExactly(pair.master, 256), all);
    await pair.master.write(all.slice().reverse());
    assertEquals(await readExactly(port, 256), all.slice().reverse());
    await port.setBaud(921600);
    assertEquals(port.baud, 921600);
  } finally {
    await port.close();
    await pair.close();
  }
});

Deno.test("open errors: missing port, port held by another process", async () => {
  const missing = await assertRejects(
    () => openPosix("/dev/ttyNOPE0", { baud: 115200 }),
    PortError,
  );
  assertEquals([missing.code, missing.message], [
    "PORT_NOT_FOUND",
    "serial port /dev/ttyNOPE0 does not exist; check the cable or run 'espdelta ports'",
  ]);
  const pair = await openPtyPair();
  const first = await openPosix(pair.slavePath, { baud: 115200 });
  try {
    const busy = await assertRejects(() => openPosix(pair.slavePath, { baud: 115200 }), PortError);
    assertEquals([busy.code, busy.message], [
      "PORT_BUSY",
      `serial port ${pair.slavePath} is held by another process; close the other program (monitor, IDE) and retry`,
    ]);
  } finally {
    await first.close();
    await pair.close();
  }
});

Deno.test("a pending read is cancelled by close: resolves empty, and no byte is lost on reopen", async () => {
  const pair = await openPtyPair();
  try {
    const port = await openPosix(pair.slavePath, { baud: 115200 });
    const pending = port.read(10_000);
    const started = performance.now();
    await port.close();
    assertEquals(await pending, new Uint8Array());
    assertOk(performance.now() - started < 1000, "close returned within a poll slice");
    // Bytes sent while nobody has the port open wait in the tty; the reopened port gets all.
    await pair.master.write(new TextEncoder().encode("after-close"));
    const again = await openPosix(pair.slavePath, { baud: 115200 });
    assertEquals(new TextDecoder().decode(await readExactly(again, 11)), "after-close");
    await again.close();
  } finally {
    await pair.close();
  }
});

Deno.test("a process with a pending read exits by itself once the port is closed", async () => {
  const script = `
    import { openPtyPair } from ${
    JSON.stringify(new URL("../../src/serial/pty.ts", import.meta.url).href)
  };
    import { openPosix } from ${
    JSON.stringify(new URL("../../src/serial/posix.ts", import.meta.url).href)
  };
    const pair = await openPtyPair();
    const port = await openPosix(pair.slavePath, { baud: 115200 });
    const pending = port.read(60_000);
    setTimeout(() => port.close().then(() => pair.close()), 50);
    console.log((await pending).length);
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  const out = await child.output();
  clearTimeout(timer);
  assertEquals([out.code, new TextDecoder().decode(out.stdout)], [0, "0\n"]);
});

/**
 * `espdelta emulate --revision` and `--stub-kind`: the revision lands in the
 * eFuse fields a flasher reads, known stubs run as the kind asked for (the
 * device's own log says so on stdout), and bad values are one-line usage
 * errors.
 */
import { assertEquals, assertOk } from "../assert.ts";
import { espdelta } from "./run.ts";
import { SlipDecoder, slipEncode } from "../../src/protocol/slip.ts";
import { encodeCommand } from "../../src/protocol/packet.ts";
import { readU32, words } from "../../src/protocol/bytes.ts";
import { Op, SYNC_PAYLOAD } from "../../src/protocol/opcodes.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

/** Sends one command over TCP and returns the first reply to it. */
async function command(conn: Deno.Conn, decoder: SlipDecoder, op: number, data: Uint8Array) {
  await conn.write(slipEncode(encodeCommand(op, data)));
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("connection closed");
    const reply = decoder.push(buf.subarray(0, n)).find((f) => f[0] === 1 && f[1] === op);
    if (reply) return reply;
  }
}

Deno.test("emulate --revision v0.3 --stub-kind legacy: eFuse fields and the stub's kind", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      CLI,
      "--chip",
      "esp32c3",
      "emulate",
      "--tcp",
      `127.0.0.1:${port}`,
    ]
      .concat(["--revision", "v0.3", "--stub-kind", "legacy"]),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  let out = "";
  const readLine = async () => {
    while (!out.includes("\n")) {
      const { value } = await reader.read();
      out += new TextDecoder().decode(value);
    }
    const line = out.slice(0, out.indexOf("\n"));
    out = out.slice(out.indexOf("\n") + 1);
    return line;
  };
  try {
    assertEquals(await readLine(), `ESP32-C3 with 4 MB flash on socket://127.0.0.1:${port}`);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const decoder = new SlipDecoder();
    await command(conn, decoder, Op.SYNC, SYNC_PAYLOAD);
    // esptool's ESP32-C3 minor version: BLOCK1 word 3 bits 20..18 (and word 5 bit 23).
    const word3 = readU32(await command(conn, decoder, Op.READ_REG, words(0x60008850)), 4);
    const word5 = readU32(await command(conn, decoder, Op.READ_REG, words(0x60008858)), 4);
    assertEquals([(word5 >> 24) & 3, ((word5 >> 23) & 1) * 8 + ((word3 >> 18) & 7)], [0, 3]);
    conn.close();
    // Our own client uploads esptool-js's stub: the device runs it as the legacy stub.
    const r = await espdelta(["-p", `socket://127.0.0.1:${port}`, "read-mac"]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(
      await readLine(),
      "device: esp-flasher-stub v1.2.x (esptool v5, esptool-js 0.7.0) started, " +
        "run as the legacy stub",
    );
  } finally {
    child.kill("SIGTERM");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel();
  }
});

Deno.test("emulate: a revision or stub kind it cannot take is a one-line usage error", async () => {
  const cases: [string[], string][] = [
    [
      ["--chip", "esp32c3", "emulate", "--pty", "--revision", "v9.0"],
      "error: revision v9.0 does not fit the ESP32-C3: major 0-3, minor 0-15\n",
    ],
    [
      ["--chip", "esp32", "emulate", "--pty", "--revision", "three"],
      "error: invalid revision 'three': use vMAJOR.MINOR, e.g. v3.1\n",
    ],
    [
      ["--chip", "esp8266", "emulate", "--pty", "--revision", "v1.0"],
      "error: the ESP8266 has no silicon revision eFuses to set\n",
    ],
    [
      ["--chip", "esp32", "emulate", "--pty", "--stub-kind", "new"],
      "error: invalid --stub-kind 'new': use legacy or esp-flasher-stub\n",
    ],
  ];
  for (const [args, stderr] of cases) {
    const r = await espdelta(args);
    assertEquals([r.code, r.stderr, r.stdout], [2, stderr, ""], args.join(" "));
  }
  const help = await espdelta(["emulate", "--help"]);
  assertOk(help.stdout.includes("--revision <vX.Y>"), help.stdout);
});

Deno.test("emulate --timing --bridge: replies paced in real time by the timing model; bad combinations are one-line errors", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, "--chip", "esp32", "emulate", "--tcp", `127.0.0.1:${port}`]
      .concat(["--timing", "--bridge", "ch340"]),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  try {
    let out = "";
    while (!out.includes("\n")) out += new TextDecoder().decode((await reader.read()).value);
    assertEquals(
      out.trim(),
      `ESP32 with 4 MB flash on socket://127.0.0.1:${port}, behind a WCH CH340, ` +
        "paced in real time by the timing model",
    );
    // 32 KiB read with the ROM loader at 115200: the reply alone takes 10 bits a byte on the
    // wire, 2.84 s, and cannot arrive sooner.
    const started = performance.now();
    const r = await espdelta([
      "-p",
      `socket://127.0.0.1:${port}`,
      "-b",
      "115200",
      "--no-stub",
      "read-flash",
      "0",
      "0x8000",
      `/dev/null`,
    ]);
    const seconds = (performance.now() - started) / 1000;
    assertEquals(r.code, 0, r.stderr);
    assertOk(seconds >= 0x8000 * 10 / 115200, `took ${seconds} s`);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
  }
  const cases: [string[], string][] = [
    [
      ["--chip", "esp32", "emulate", "--rfc2217", "127.0.0.1:0", "--timing"],
      "error: --timing works with --tcp or --pty (an RFC 2217 port is not paced); drop one of them\n",
    ],
    [
      ["--chip", "esp32", "emulate", "--pty", "--bridge", "pl2303"],
      "error: unknown bridge 'pl2303': use one of cp2102n, cp2104, cp2102, cp2105, cp2108, " +
      "ch340, ch341, ch343, ch9102, ft232r, ft2232h, ft2232, ft4232h, ft232h, ft-x, " +
      "usb-serial-jtag, usb-otg\n",
    ],
    [
      ["--chip", "esp32", "emulate", "--pty", "--bridge", "usb-serial-jtag"],
      "error: ESP32 has no USB-Serial/JTAG port; use --chip esp32s3, esp32c3, esp32c5, esp32c6, esp32h2, esp32p4\n",
    ],
    [
      ["--chip", "esp32s2", "emulate", "--pty", "--bridge", "usb-otg"],
      "error: --bridge usb-otg: the Espressif USB-OTG CDC (ESP32-S2) is not modelled; use another bridge\n",
    ],
  ];
  for (const [args, stderr] of cases) {
    const r = await espdelta(args);
    assertEquals([r.code, r.stderr, r.stdout], [2, stderr, ""], args.join(" "));
  }
});

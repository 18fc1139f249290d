/**
 * The messages a new user's trial found misleading (issue 15, item 6), and
 * stubs checked against the chip before upload: each case through the CLI
 * as a subprocess, with its exact line and exit code.
 */
import { assertEquals } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { espdelta } from "./run.ts";

async function withDevice(
  chip: "esp32" | "esp32c6",
  fn: (url: string, d: VirtualDevice) => Promise<void>,
) {
  const device = new VirtualDevice({ chip });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  try {
    await fn(`socket://127.0.0.1:${server.port}`, device);
  } finally {
    await server.close();
  }
}

Deno.test("rfc2217:// and socket:// without a host or port say what is missing, in their scheme", async () => {
  const cases: [string, string][] = [
    ["rfc2217://", "no host; use rfc2217://HOST:PORT, e.g. rfc2217://localhost:4000"],
    ["rfc2217://:4000", "no host; use rfc2217://HOST:PORT, e.g. rfc2217://localhost:4000"],
    ["rfc2217://board", "no port number; use rfc2217://HOST:PORT, e.g. rfc2217://localhost:4000"],
    [
      "socket://board:99999",
      "'99999' is not a port number (0-65535); use socket://HOST:PORT, e.g. socket://localhost:5555",
    ],
  ];
  for (const [url, why] of cases) {
    const r = await espdelta(["-p", url, "chip-id"]);
    assertEquals([r.code, r.stderr], [2, `error: invalid port '${url}': ${why}\n`]);
  }
});

Deno.test("-p /dev/null, a file or a folder: exit 2, not a serial port", async () => {
  const file = await Deno.makeTempFile();
  const dir = await Deno.makeTempDir();
  const cases: [string, string][] = [
    ["/dev/null", "a device that takes no serial settings"],
    [file, "a regular file"],
    [dir, "a folder"],
  ];
  for (const [path, what] of cases) {
    const r = await espdelta(["-p", path, "chip-id"]);
    assertEquals([r.code, r.stderr], [
      2,
      `error: ${path} is not a serial port (it is ${what}); give the board's port, e.g. ` +
      "/dev/ttyUSB0, or run 'espdelta ports'\n",
    ]);
  }
  await Deno.remove(file);
  await Deno.remove(dir);
});

Deno.test("values from ESPDELTA_* and espdelta.json name where they came from", async () => {
  const baud = await espdelta(["chip-id"], { ESPDELTA_BAUD: "fast" });
  assertEquals([baud.code, baud.stderr], [
    2,
    "error: ESPDELTA_BAUD: invalid baud rate 'fast': use auto, or a number such as 115200 or 921600\n",
  ]);
  const port = await espdelta(["chip-id"], { ESPDELTA_PORT: "/dev/ttyESPDELTA9" });
  assertEquals([port.code, port.stderr], [
    2,
    "error: serial port /dev/ttyESPDELTA9 does not exist; check the cable or run 'espdelta " +
    "ports' (the port came from ESPDELTA_PORT)\n",
  ]);
  // The command line still wins over the environment.
  const cli = await espdelta(["-b", "115200", "-p", "/dev/null", "chip-id"], {
    ESPDELTA_BAUD: "fast",
  });
  assertEquals(cli.stderr.startsWith("error: /dev/null is not a serial port"), true, cli.stderr);
  await withDevice("esp32c6", async (url) => {
    const chip = await espdelta(["-p", url, "chip-id"], { ESPDELTA_CHIP: "esp32" });
    assertEquals([chip.code, chip.stderr], [
      2,
      "error: this chip is ESP32-C6, not ESP32; use --chip esp32c6 or --chip auto (the chip " +
      "came from ESPDELTA_CHIP)\n",
    ]);
  });
  const dir = await Deno.makeTempDir();
  const inDir = async (config: unknown) => {
    await Deno.writeTextFile(`${dir}/espdelta.json`, JSON.stringify(config));
    return await espdelta(["chip-id"], {}, dir);
  };
  const before = await inDir({ port: "/dev/null", before: "bogus" });
  assertEquals([before.code, before.stderr], [
    2,
    "error: ./espdelta.json: 'before' must be one of default-reset, usb-reset, no-reset, " +
    "no-reset-no-sync (got 'bogus')\n",
  ]);
  const attempts = await inDir({ connectAttempts: 0 });
  assertEquals(
    attempts.stderr,
    "error: ./espdelta.json: invalid connect attempts '0': use a whole number >= 1\n",
  );
  const null_ = await inDir({ port: "/dev/null" });
  assertEquals([null_.code, null_.stderr], [
    2,
    "error: /dev/null is not a serial port (it is a device that takes no serial settings); give " +
    "the board's port, e.g. /dev/ttyUSB0, or run 'espdelta ports' (the port came from " +
    "./espdelta.json)\n",
  ]);
  const stub = await inDir({ port: "socket://127.0.0.1:9", stub: "/no/stub.json" });
  assertEquals([stub.code, stub.stderr], [
    2,
    "error: cannot read stub /no/stub.json: no such file; check the path (the stub came from " +
    "./espdelta.json)\n",
  ]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("emulate on a busy address: one line saying so, exit 2", async () => {
  const holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const address = `127.0.0.1:${(holder.addr as Deno.NetAddr).port}`;
  try {
    for (const flag of ["--tcp", "--rfc2217"]) {
      const r = await espdelta(["emulate", flag, address]);
      assertEquals([r.code, r.stderr], [
        2,
        `error: cannot serve on ${address}: the address is in use (another emulator, or another ` +
        "program, listens there); pick another port, or stop the program that holds it\n",
      ]);
    }
  } finally {
    holder.close();
  }
});

Deno.test("a stub built for another chip is refused before upload, saying whose it is", async () => {
  const { default: json } = await import(
    "npm:esptool-js@0.7.0/lib/targets/stub_flasher/esp32c3.json",
    { with: { type: "json" } }
  );
  const file = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(file, JSON.stringify(json));
  try {
    await withDevice("esp32", async (url, device) => {
      const r = await espdelta(["-p", url, "--stub", file, "chip-id"]);
      assertEquals([r.code, r.stderr], [
        2,
        `error: stub ${file} cannot run on the ESP32: its text segment (0x40380000-0x403816f8) ` +
        "is outside the chip's RAM; it fits the ESP32-S3 and the ESP32-C3: give the ESP32's " +
        "stub, or leave --stub out\n",
      ]);
      // Nothing of it reached the chip.
      assertEquals(device.commandCounts()["MEM_BEGIN"], undefined);
    });
  } finally {
    await Deno.remove(file);
  }
});

/**
 * Every bad input to `espdelta flash` gets one line naming the problem and
 * the fix, exit code 2, and leaves the virtual device's flash untouched (no
 * erase, no page program). Those that can be found without the device are
 * found before the port is opened: the device sees no command at all.
 */
import { assertEquals } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { servePty } from "../../src/emulator/pty.ts";
import { openPort } from "../../src/serial/open.ts";
import { parsePartitionCsv, writePartitionTable } from "../../src/image/partitions.ts";
import { writeImage } from "../../src/image/app.ts";
import { createHash } from "node:crypto";
import { espdelta, type Run, runProgram } from "./run.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url).pathname;
const APP = `${FW}hello-world-signed_esp32.bin`;

/** Asserts the device's flash saw no erase and no program. */
function untouched(device: VirtualDevice, what: string) {
  assertEquals(
    [device.flash.ops, device.flash.touchedSectors()],
    [{ pagePrograms: 0, sectorErases: 0, blockErases: 0, chipErases: 0 }, []],
    what,
  );
}

function oneLine(r: Run, code: number, message: string, what: string) {
  assertEquals([r.code, r.stderr], [code, `error: ${message}\n`], what);
}

Deno.test("bad input to flash: the message, exit code 2, flash untouched", async () => {
  const device = new VirtualDevice({ chip: "esp32" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const dir = await Deno.makeTempDir();
  const url = `socket://127.0.0.1:${server.port}`;
  try {
    const app = await Deno.readFile(APP);
    await Deno.writeFile(`${dir}/empty.bin`, new Uint8Array());
    await Deno.writeFile(`${dir}/truncated.bin`, app.subarray(0, 20000));
    const corrupt = app.slice();
    corrupt[0x5000] ^= 0x01;
    await Deno.writeFile(`${dir}/corrupt.bin`, corrupt);
    await Deno.writeFile(`${dir}/big.bin`, new Uint8Array(5 << 20).fill(0x11));
    await Deno.mkdir(`${dir}/idf`);
    await Deno.writeTextFile(`${dir}/idf/flasher_args.json`, "{ not json");
    await Deno.writeTextFile(
      `${dir}/partitions.csv`,
      "nvs, data, nvs, 0x9000, 0x6000\nfactory, app, factory, 0x10001, 1M\n",
    );
    // A table whose MD5 row no longer matches: "nvs" became "Nvs" after it was written.
    const table = writePartitionTable(parsePartitionCsv("nvs, data, nvs, 0x9000, 0x6000\n"));
    const badTable = table.slice();
    badTable[12] ^= 0x20;
    await Deno.writeFile(`${dir}/table.bin`, badTable);
    const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");
    const mismatch = `partition table MD5 row holds ${
      md5(table.subarray(0, 32))
    }, the entries hash to ${md5(badTable.subarray(0, 32))}`;

    // Found before connecting: the device never hears a byte.
    const early: [string[], string][] = [
      [
        ["0x10000", `${dir}/missing.bin`],
        `cannot read ${dir}/missing.bin: no such file; check the path (or build the project first)`,
      ],
      [
        ["0x10000", dir],
        `cannot read ${dir}: it is a directory; give an image file, or the folder alone as a build folder`,
      ],
      [
        ["0x10000", `${dir}/empty.bin`],
        `empty at 0x10000: ${dir}/empty.bin is empty; nothing to write (rebuild it or leave it out)`,
      ],
      [
        ["0x10010", APP],
        "hello-world-signed_esp32 at 0x10010: offset is not a multiple of 0x1000; flash regions start on 4 KiB sector boundaries",
      ],
      [
        ["0x10000", APP, "0x20000", APP],
        "hello-world-signed_esp32 (0x10000-0x40000) overlaps hello-world-signed_esp32 at 0x20000; fix the offsets so each region ends before the next begins",
      ],
      [
        [`${dir}/idf`],
        `${dir}/idf/flasher_args.json is not valid JSON (Expected property name or '}' in JSON at position 2 (line 1 column 3)); rebuild the project to regenerate it`,
      ],
      [
        ["0x8000", `${dir}/partitions.csv`],
        `${dir}/partitions.csv: line 2: Partition factory invalid: Offset 0x10001 is not aligned to 0x10000; fix the CSV`,
      ],
      [
        ["0x10000", `${dir}/truncated.bin`],
        `truncated at 0x10000 (${dir}/truncated.bin): image is truncated: segment 0 (load 0x3f400020, length 22316) has only 19968 bytes left in the file; rebuild it or pick the right file`,
      ],
      [
        ["0x10000", `${dir}/corrupt.bin`],
        `corrupt at 0x10000 (${dir}/corrupt.bin): image checksum is 0x30 at 0x2ff8f, computed 0x31: the segment data is corrupted; rebuild it or pick the right file`,
      ],
      [
        ["0x8000", `${dir}/table.bin`],
        `partition-table at 0x8000 (${dir}/table.bin): not a valid partition table (${mismatch}); rebuild it`,
      ],
    ];
    for (const [inputs, message] of early) {
      oneLine(await espdelta(["-p", url, "flash", ...inputs]), 2, message, inputs.join(" "));
      assertEquals(device.commandLog.length, 0, inputs.join(" "));
    }
    const chip = await espdelta(["-p", url, "--chip", "esp31", "flash", "0x10000", APP]);
    oneLine(
      chip,
      2,
      "unknown chip 'esp31': choose one of auto, esp8266, esp32, esp32s2, esp32s3, esp32c2, esp32c3, esp32c5, esp32c6, esp32h2, esp32p4",
      "--chip esp31",
    );
    assertEquals(device.commandLog.length, 0);

    // Found once the chip and its flash are known: connected, nothing written.
    const late: [string[], string][] = [
      [
        ["0x10000", `${FW}esp_idf_blink_esp32s2.bin`],
        "esp_idf_blink_esp32s2 at 0x10000: image is built for ESP32-S2, but the device is ESP32; rebuild for ESP32 or pick the right file",
      ],
      [
        ["0x3f0000", APP],
        "hello-world-signed_esp32 at 0x3f0000: 196608 bytes end at 0x420000, past the end of the 4 MB flash (0x400000); check the offset, or --flash-size if the flash is larger",
      ],
      [
        ["0x0", `${dir}/big.bin`],
        `merged at 0x0: ${dir}/big.bin is 5 MB, larger than the whole 4 MB flash; check the file, or --flash-size if the flash is larger`,
      ],
    ];
    for (const [inputs, message] of late) {
      oneLine(await espdelta(["-p", url, "flash", ...inputs]), 2, message, inputs.join(" "));
    }
    untouched(device, "after every bad input");
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("after connecting: a build folder or an image for the other chip family; exit code 2, nothing written", async () => {
  const dir = await Deno.makeTempDir();
  const devices = [
    new VirtualDevice({ chip: "esp32" }),
    new VirtualDevice({ chip: "esp8266" }),
  ];
  const [esp32, esp8266] = await Promise.all(
    devices.map((d) => serveTcp(d, { hostname: "127.0.0.1", port: 0 })),
  );
  try {
    const env = `${dir}/.pio/build/c3`;
    await Deno.mkdir(env, { recursive: true });
    await Deno.writeFile(
      `${env}/firmware.bin`,
      writeImage({
        chip: "esp32c3",
        segments: [{ loadAddress: 0x3c000020, data: new Uint8Array(64) }],
      }),
    );
    const cases: [number, string[], string][] = [
      [esp32.port, [dir], `${env}/firmware.bin is built for ESP32-C3, not ESP32`],
      [
        esp32.port,
        ["0x0", `${FW}bootloader_esp8266.bin`],
        "bootloader at 0x0: image is built for ESP8266, but the device is ESP32; rebuild for ESP32 or pick the right file",
      ],
      [
        esp8266.port,
        ["0x1000", `${FW}bootloader_esp32.bin`],
        "bootloader at 0x1000: image is built for ESP32, but the device is ESP8266; rebuild for ESP8266 or pick the right file",
      ],
    ];
    for (const [port, inputs, message] of cases) {
      const r = await espdelta(["-p", `socket://127.0.0.1:${port}`, "flash", ...inputs]);
      oneLine(r, 2, message, inputs.join(" "));
    }
    for (const d of devices) untouched(d, d.chip.name);
  } finally {
    await Promise.all([esp32.close(), esp8266.close()]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad ports: missing, held by another process, permission denied; exit code 2", async () => {
  const device = new VirtualDevice({ chip: "esp32" });
  const served = await servePty(device);
  try {
    oneLine(
      await espdelta(["-p", "/dev/ttyNOPE7", "flash", "0x10000", APP]),
      2,
      "serial port /dev/ttyNOPE7 does not exist; check the cable or run 'espdelta ports'",
      "missing port",
    );
    // This process holds the pty (espdelta locks ports it opens, as a monitor would).
    const held = await openPort(served.path, { baud: 115200 });
    try {
      oneLine(
        await espdelta(["-p", served.path, "flash", "0x10000", APP]),
        2,
        `serial port ${served.path} is held by another process; close the other program (monitor, IDE) and retry`,
        "busy port",
      );
    } finally {
      await held.close();
    }
    // Without read/write permission on the device node.
    await Deno.chmod(served.path, 0o600);
    const denied = await asAnotherUser(["-p", served.path, "flash", "0x10000", APP]);
    oneLine(
      denied,
      2,
      `permission denied opening ${served.path}; add your user to the 'dialout' group and log in again`,
      "permission denied",
    );
    untouched(device, "bad ports");
    assertEquals(device.commandLog.length, 0);
  } finally {
    await served.close();
  }
});

Deno.test("an unreadable file: permission denied, exit code 2, before connecting", async () => {
  const device = new VirtualDevice({ chip: "esp32" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  const dir = await Deno.makeTempDir();
  try {
    await Deno.chmod(dir, 0o755);
    const file = `${dir}/app.bin`;
    await Deno.copyFile(APP, file);
    await Deno.chmod(file, 0o000);
    const r = await asAnotherUser([
      "-p",
      `socket://127.0.0.1:${server.port}`,
      "flash",
      "0x10000",
      file,
    ]);
    oneLine(
      r,
      2,
      `cannot read ${file}: permission denied; check the file's permissions`,
      "unreadable file",
    );
    assertEquals(device.commandLog.length, 0);
    untouched(device, "unreadable file");
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Runs espdelta as a user without rights on root's files: as root (where
 * permissions do not apply), through setpriv as nobody, with a copy of the
 * deno binary nobody can execute and the CLI as one bundled file (nobody
 * cannot read root's npm cache, and must not need the network); otherwise as
 * the current user, for whom a mode-0 file or a mode-0600 root-owned node is
 * already out of reach.
 */
async function asAnotherUser(args: string[]): Promise<Run> {
  if (Deno.uid() !== 0) return await espdelta(args);
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.chmod(tmp, 0o777);
    const deno = `${tmp}/deno`;
    await Deno.copyFile(Deno.execPath(), deno);
    await Deno.chmod(deno, 0o755);
    const bundle = `${tmp}/espdelta.js`;
    const root = new URL("../../", import.meta.url).pathname;
    const b = await runProgram(
      Deno.execPath(),
      ["bundle", "--quiet", "--platform", "deno", "-o", bundle, "cli.ts"],
      { cwd: root },
    );
    if (b.code !== 0) throw new Error(`deno bundle failed: ${b.stderr}`);
    await Deno.chmod(bundle, 0o644);
    return await runProgram("setpriv", [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      "env",
      `HOME=${tmp}`,
      `DENO_DIR=${tmp}/cache`,
      "NO_COLOR=1",
      deno,
      "run",
      "-A",
      "--quiet",
      "--cached-only",
      bundle,
      ...args,
    ], { clearEnv: true, cwd: tmp });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

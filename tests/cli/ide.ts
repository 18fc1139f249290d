/**
 * What the IDE tests share: the two ways an IDE reaches espdelta's esptool
 * personality (an `esptool` symlink to tools/espdelta, the checkout's
 * launcher; and `espdelta esptool ARGS`), a virtual ESP32 on socket://, and
 * the check every IDE line must pass: the first run leaves exactly the files
 * in flash, verified; a second run writes nothing.
 * @module
 */

import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { espdelta, type Run, runProgram } from "./run.ts";
import { HEADER } from "../../src/cli/esptool.ts";

const LAUNCHER = new URL("../../tools/espdelta", import.meta.url).pathname;

/** One way to run esptool's command line. */
export interface Route {
  /** For messages. */
  name: string;
  /** Runs `args` in `cwd`. */
  run(args: string[], cwd?: string): Promise<Run>;
}

/**
 * The routes: `esptool` (a symlink in `dir` to the launcher, run by path as
 * an IDE runs its configured tool) and `espdelta esptool`.
 */
export async function routes(dir: string): Promise<Route[]> {
  const link = `${dir}/esptool`;
  await Deno.symlink(LAUNCHER, link);
  const env = { NO_COLOR: "1", DENO: Deno.execPath() };
  return [
    { name: "esptool symlink", run: (args, cwd) => runProgram(link, args, { env, cwd }) },
    { name: "espdelta esptool", run: (args, cwd) => espdelta(["esptool", ...args], {}, cwd) },
  ];
}

/** A virtual ESP32 (4 MB flash) on socket:// for the duration of `fn`. */
export async function withEsp32(
  fn: (url: string, device: VirtualDevice) => Promise<void>,
): Promise<void> {
  const device = new VirtualDevice({ chip: "esp32" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  try {
    await fn(`socket://127.0.0.1:${server.port}`, device);
  } finally {
    await server.close();
  }
}

/** Bytes expected at an offset, and the file they came from as the command line names it. */
export interface Expected {
  /** Flash offset. */
  offset: number;
  /** What the flash must hold there. */
  bytes: Uint8Array;
  /** The file as the command line names it (esptool's lines quote it). */
  file: string;
}

/**
 * Runs `args` twice on `device` through `route`: the first run must leave
 * `expected` in flash with every file verified by MD5; the second must
 * write nothing and say so per file. Returns both runs.
 */
export async function twice(
  route: Route,
  device: VirtualDevice,
  args: string[],
  expected: readonly Expected[],
  cwd?: string,
): Promise<[Run, Run]> {
  const where = `${route.name}: esptool ${args.join(" ")}`;
  const first = await route.run(args, cwd);
  assertEquals(first.code, 0, `${where}\n${first.stdout}\n${first.stderr}`);
  for (const e of expected) {
    assertEquals(
      device.flash.data.subarray(e.offset, e.offset + e.bytes.length),
      e.bytes,
      `${where}: flash at 0x${e.offset.toString(16)}`,
    );
  }
  const lines = first.stdout.split("\n");
  assertEquals(lines.filter((l) => l === "Hash of data verified.").length, expected.length, where);
  assertOk(lines.includes(HEADER), first.stdout);
  device.flash.resetCounters();
  const again = await route.run(args, cwd);
  assertEquals(again.code, 0, `${where}\n${again.stderr}`);
  assertEquals(device.flash.touchedSectors(), [], `${where}: the second run wrote`);
  const sectors = expected.reduce((n, e) => n + Math.ceil(e.bytes.length / 0x1000), 0);
  const skipped = expected.map((e) =>
    `'${e.file}' at 0x${e.offset.toString(16).padStart(8, "0")} already in flash, skipping write.`
  );
  const againLines = again.stdout.split("\n");
  for (const s of skipped) {
    assertOk(againLines.includes(s), `${where}: no line ${s}\n${again.stdout}`);
  }
  assertOk(
    againLines.includes(`espdelta: verify-skip, 0 of ${sectors} sectors written`),
    again.stdout,
  );
  return [first, again];
}

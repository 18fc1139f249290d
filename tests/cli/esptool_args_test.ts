/**
 * esptool's command lines as the IDEs write them, normalised to espdelta's
 * spelling: every rewrite and every deprecation note, exactly.
 */
import {
  ArgumentFileError,
  expandArgumentFiles,
  normalizeArgs,
  shellWords,
} from "../../src/cli/esptool_args.ts";
import { assertEquals, assertThrows } from "../assert.ts";

const GLOBAL_VALUES = [
  "-p",
  "--port",
  "-b",
  "--baud",
  "-c",
  "--chip",
  "--before",
  "--after",
  "-a",
  "--connect-attempts",
];
const norm = (argv: string[], files: Record<string, string> = {}) =>
  normalizeArgs(argv, {
    valueOptions: GLOBAL_VALUES,
    readFile: (p) => {
      if (!(p in files)) throw new Deno.errors.NotFound(p);
      return files[p];
    },
  });

Deno.test("Arduino-ESP32 core 3.0 (esptool v4 spellings): hyphens, with one note each", () => {
  const r = norm([
    "--chip",
    "esp32",
    "--port",
    "/dev/ttyUSB0",
    "--baud",
    "921600",
    "--before",
    "default_reset",
    "--after",
    "hard_reset",
    "write_flash",
    "-z",
    "--flash_mode",
    "keep",
    "--flash_freq",
    "keep",
    "--flash_size",
    "keep",
    "0x1000",
    "/b/sketch.ino.bootloader.bin",
    "0x8000",
    "/b/sketch.ino.partitions.bin",
    "0xe000",
    "/p/boot_app0.bin",
    "0x10000",
    "/b/sketch.ino.bin",
  ]);
  assertEquals(r.args, [
    "--chip",
    "esp32",
    "--port",
    "/dev/ttyUSB0",
    "--baud",
    "921600",
    "--before",
    "default-reset",
    "--after",
    "hard-reset",
    "write-flash",
    "--compress",
    "--flash-mode",
    "keep",
    "--flash-freq",
    "keep",
    "--flash-size",
    "keep",
    "0x1000",
    "/b/sketch.ino.bootloader.bin",
    "0x8000",
    "/b/sketch.ino.partitions.bin",
    "0xe000",
    "/p/boot_app0.bin",
    "0x10000",
    "/b/sketch.ino.bin",
  ]);
  assertEquals(r.notes, [
    "Deprecated: Choice 'default_reset' for option '--before' is deprecated. Use 'default-reset' instead.",
    "Deprecated: Choice 'hard_reset' for option '--after' is deprecated. Use 'hard-reset' instead.",
    "Deprecated: Command 'write_flash' is deprecated. Use 'write-flash' instead.",
    "Deprecated: Option '--flash_mode' is deprecated. Use '--flash-mode' instead.",
    "Deprecated: Option '--flash_freq' is deprecated. Use '--flash-freq' instead.",
    "Deprecated: Option '--flash_size' is deprecated. Use '--flash-size' instead.",
  ]);
  assertEquals(r.expanded, false);
});

Deno.test("esptool v5 spellings pass through untouched, with no notes", () => {
  const argv = [
    "--chip",
    "esp32s3",
    "--port",
    "/dev/ttyACM0",
    "--baud",
    "921600",
    "--before",
    "default-reset",
    "--after",
    "hard-reset",
    "write-flash",
    "--flash-mode",
    "keep",
    "0x0",
    "a.bin",
  ];
  assertEquals(norm(argv), { args: argv, notes: [], expanded: false });
});

Deno.test("ESP-IDF: --before=default_reset and @flash_args, split as a shell would", () => {
  const flashArgs = [
    "--flash_mode dio --flash_freq 40m --flash_size 2MB",
    "0x1000 bootloader/bootloader.bin",
    "0x10000 app-template.bin",
    "0x8000 partition_table/partition-table.bin",
    "",
  ].join("\n");
  const r = norm(
    [
      "-p",
      "/dev/ttyUSB0",
      "-b",
      "460800",
      "--before=default_reset",
      "--after=hard_reset",
      "write_flash",
      "@flash_args",
    ],
    { flash_args: flashArgs },
  );
  assertEquals(r.args, [
    "-p",
    "/dev/ttyUSB0",
    "-b",
    "460800",
    "--before=default-reset",
    "--after=hard-reset",
    "write-flash",
    "--flash-mode",
    "dio",
    "--flash-freq",
    "40m",
    "--flash-size",
    "2MB",
    "0x1000",
    "bootloader/bootloader.bin",
    "0x10000",
    "app-template.bin",
    "0x8000",
    "partition_table/partition-table.bin",
  ]);
  assertEquals(r.expanded, true);
  assertEquals(r.notes.length, 6);
});

Deno.test("short options: -fm/-ff/-fs, write-flash -p -e -u, verify-flash -d, read-flash -p", () => {
  assertEquals(
    norm([
      "-p",
      "COM3",
      "write-flash",
      "-p",
      "-e",
      "-u",
      "-fm",
      "qio",
      "-ff",
      "80m",
      "-fs",
      "detect",
      "0x0",
      "x.bin",
    ]).args,
    [
      "-p",
      "COM3",
      "write-flash",
      "--no-progress",
      "--erase-all",
      "--no-compress",
      "--flash-mode",
      "qio",
      "--flash-freq",
      "80m",
      "--flash-size",
      "detect",
      "0x0",
      "x.bin",
    ],
  );
  assertEquals(norm(["read_flash", "-p", "0", "ALL", "out.bin"]).args, [
    "read-flash",
    "--no-progress",
    "0",
    "ALL",
    "out.bin",
  ]);
  assertEquals(norm(["verify-flash", "-d", "0x0", "x.bin"]).args, [
    "verify-flash",
    "--diff",
    "0x0",
    "x.bin",
  ]);
  // Before the command, -p is the port; a value that looks like a command word stays a value.
  assertEquals(norm(["-p", "write_flash", "chip_id"]).args, ["-p", "write_flash", "chip-id"]);
});

Deno.test("--port-filter with several values becomes one flag per value", () => {
  assertEquals(norm(["--port-filter", "vid=0x303a", "pid=0x1001", "chip-id"]).args, [
    "--port-filter",
    "vid=0x303a",
    "--port-filter",
    "pid=0x1001",
    "chip-id",
  ]);
});

Deno.test("shell words: quotes, escapes, comments; unreadable and broken argument files", () => {
  assertEquals(shellWords(`0x10000 "my app.bin" 'it''s' a\\ b # note`), [
    "0x10000",
    "my app.bin",
    "its",
    "a b",
  ]);
  assertEquals(shellWords(`"a \\"quoted\\" word"`), [`a "quoted" word`]);
  const missing = assertThrows(() =>
    expandArgumentFiles(["@nope"], () => {
      throw new Deno.errors.NotFound("x");
    }), ArgumentFileError);
  assertEquals(missing.message, "cannot read the argument file nope: no such file");
  const open = assertThrows(
    () => expandArgumentFiles(["@f"], () => `0x0 "app.bin`),
    ArgumentFileError,
  );
  assertEquals(open.message, `f: a " quote is not closed`);
});

/**
 * Which command line runs: the name the program was started under, in the
 * order personality.ts gives, and the launcher's names.
 */
import { assertEquals, assertThrows } from "../assert.ts";
import { detectPersonality, isEsptoolName } from "../../src/cli/personality.ts";
import { HEADER } from "../../src/cli/esptool.ts";
import { UsageError } from "../../src/cli/args.ts";
import { runProgram } from "./run.ts";

Deno.test("detectPersonality: environment, then main module, argv[0], executable", () => {
  const cases: [Parameters<typeof detectPersonality>[0], string][] = [
    [{}, "espdelta"],
    [
      { mainModule: "file:///opt/espdelta/cli.ts", argv0: "deno", execPath: "/usr/bin/deno" },
      "espdelta",
    ],
    [{ mainModule: "file:///home/me/bin/esptool" }, "esptool"],
    [{ mainModule: "file:///home/me/bin/esptool.py" }, "esptool"],
    [{ mainModule: "file:///tmp/deno-compile-espdelta/cli.ts", argv0: "./esptool" }, "esptool"],
    [{ execPath: "C:\\Arduino\\tools\\esptool.exe" }, "esptool"],
    [{ execPath: "/usr/local/bin/espdelta" }, "espdelta"],
    [{ env: "espdelta", mainModule: "file:///x/esptool.py" }, "espdelta"],
    [{ env: "ESPTOOL", mainModule: "file:///x/cli.ts" }, "esptool"],
    [{ env: "", mainModule: "file:///x/esptool" }, "esptool"],
  ];
  for (const [facts, want] of cases) {
    assertEquals(detectPersonality(facts), want, JSON.stringify(facts));
  }
  assertEquals(
    assertThrows(() => detectPersonality({ env: "avrdude" }), UsageError).message,
    "ESPDELTA_PERSONALITY is 'avrdude': use esptool or espdelta, or unset it",
  );
  assertEquals(["esptool", "esptool.py", "ESPTOOL.EXE", "esptool.py.exe"].map(isEsptoolName), [
    true,
    true,
    true,
    true,
  ]);
  assertEquals(["esptool-js", "myesptool", "esptool.ts", undefined].map(isEsptoolName), [
    false,
    false,
    false,
    false,
  ]);
});

Deno.test("the launcher speaks as it is named: esptool, esptool.py, espdelta", async () => {
  const launcher = new URL("../../tools/espdelta", import.meta.url).pathname;
  const dir = await Deno.makeTempDir();
  try {
    const env = { NO_COLOR: "1", DENO: Deno.execPath() };
    for (const name of ["esptool", "esptool.py", "espdelta"]) {
      await Deno.symlink(launcher, `${dir}/${name}`);
      const r = await runProgram(`${dir}/${name}`, ["version"], { env });
      assertEquals(
        [r.code, r.stdout],
        [0, name === "espdelta" ? "0.1.0\n" : `${HEADER}\n5.3.1\n`],
        name,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * The three ways users meet espdelta, each run for real: from a URL (a clone
 * served over HTTP with `.ts` as text/plain, an empty DENO_DIR, no deno.json
 * around), from JSR (the publish dry run's file list), and as one file (the
 * bundle, run with an empty DENO_DIR and --cached-only, so offline) or a
 * compiled binary where Deno can download its runtime. And the licence facts
 * each of them states.
 */
import { runProgram } from "../cli/run.ts";
import { assertEquals, assertOk } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { LEGACY_STUB_SOURCE, LICENCE_NOTE, STUB_SOURCE, VERSION } from "../../src/version.ts";
import { HEADER } from "../../src/cli/esptool.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FW = `${ROOT}testdata/firmware/`;

/**
 * Runs deno in `cwd` (no deno.json there) with a fresh, empty DENO_DIR. The
 * rest of the environment is kept: it says how this machine reaches the npm
 * registry (proxy, certificate store).
 */
async function freshDeno(args: string[], cwd: string) {
  const denoDir = await Deno.makeTempDir({ prefix: "espdelta-denodir-" });
  try {
    return await runProgram(Deno.execPath(), args, {
      cwd,
      env: { NO_COLOR: "1", DENO_DIR: denoDir, XDG_CACHE_HOME: `${cwd}/cache` },
    });
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
}

const versionText = `espdelta ${VERSION}\n${LICENCE_NOTE}\n`;

Deno.test("the version in deno.json (JSR) is the one the CLI prints", async () => {
  const denoJson = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  assertEquals(denoJson.version, VERSION);
  assertEquals(denoJson.license, "MIT");
});

Deno.test("LICENSE and README state the stubs' licence, origin and where they run", async () => {
  const licence = await Deno.readTextFile(`${ROOT}LICENSE`);
  assertOk(licence.startsWith("MIT License\n"), "LICENSE is the MIT licence");
  for (const raw of [licence, await Deno.readTextFile(`${ROOT}README.md`)]) {
    const text = raw.replace(/\s+/g, " ");
    for (
      const fact of [
        "Apache-2.0 OR MIT",
        "esp-flasher-stub v1.2.2",
        STUB_SOURCE,
        "GPL-2.0-or-later",
        "Cesanta",
        LEGACY_STUB_SOURCE,
        "run on the chip",
      ]
    ) {
      assertOk(text.includes(fact), `missing: ${fact}`);
    }
  }
  assertOk(LICENCE_NOTE.includes("Apache-2.0 OR MIT") && LICENCE_NOTE.includes(STUB_SOURCE));
});

Deno.test("testdata: every folder names its sources and licences; nothing reads the shared folder beside the clone", async () => {
  for (const dir of ["firmware", "rebuilds"]) {
    const sources = await Deno.readTextFile(`${ROOT}testdata/${dir}/SOURCES.md`);
    assertOk(/licen[cs]e/i.test(sources), `${dir}/SOURCES.md names licences`);
  }
  // Built, so this file does not hold the path it looks for.
  const shared = ["..", "shared"].join("/");
  const offenders: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts") && (await Deno.readTextFile(path)).includes(shared)) {
        offenders.push(path.slice(ROOT.length));
      }
    }
  };
  for (const dir of ["src", "tests", "bench", "tools"]) await walk(`${ROOT}${dir}`);
  assertEquals(offenders, []);
});

Deno.test("from a URL: a served clone runs --version and the demo with an empty DENO_DIR", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.includes("..")) return new Response("bad path", { status: 400 });
    try {
      const body = await Deno.readFile(`${ROOT}${path.slice(1)}`);
      // A plain static server: every file as text/plain, as raw.githubusercontent.com does.
      return new Response(body, { headers: { "content-type": "text/plain; charset=utf-8" } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  const cwd = await Deno.makeTempDir({ prefix: "espdelta-url-" });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/cli.ts`;
    const v = await freshDeno(["run", "--quiet", "-A", url, "--version"], cwd);
    assertEquals([v.code, v.stdout], [0, versionText], v.stderr);
    const demo = await freshDeno(["run", "--quiet", "-A", url, "demo"], cwd);
    assertEquals(demo.code, 0, demo.stderr);
    const lines = demo.stdout.trim().split("\n");
    assertEquals(
      lines.filter((l) => l.startsWith("no-op redeploy:")),
      [
        "no-op redeploy: verify-skip: 3 regions already on the device " +
        "(bootloader, partition-table, factory)",
      ],
    );
  } finally {
    await server.shutdown();
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("JSR: the publish dry run is clean and publishes the library and CLI only", async () => {
  const r = await runProgram(Deno.execPath(), ["publish", "--dry-run", "--allow-dirty"], {
    cwd: ROOT,
    env: { NO_COLOR: "1" },
  });
  assertEquals(r.code, 0, r.stderr);
  const out = r.stdout + r.stderr;
  assertOk(!/warning/i.test(out), out);
  const listed = [...out.matchAll(/^\s+file:\/\/(\S+) \(/gm)].map((m) => m[1].slice(ROOT.length))
    .sort();
  const expected = ["LICENSE", "README.md", "cli.ts", "deno.json", "deno.lock", "mod.ts"];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(`${ROOT}${dir}`)) {
      if (e.isDirectory) await walk(`${dir}/${e.name}`);
      else expected.push(`${dir}/${e.name}`);
    }
  };
  await walk("src");
  assertEquals(listed, expected.sort());
});

Deno.test("one file: the bundle states the licences and runs offline against the virtual device", async () => {
  const dir = await Deno.makeTempDir({ prefix: "espdelta-bundle-" });
  const bundle = `${dir}/espdelta.js`;
  const device = new VirtualDevice({ chip: "esp32c3" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  try {
    const b = await runProgram(Deno.execPath(), ["task", "--quiet", "bundle", bundle], {
      cwd: ROOT,
      env: { NO_COLOR: "1" },
    });
    assertEquals(b.code, 0, b.stderr);
    const text = await Deno.readTextFile(bundle);
    const head = text.split("\n").slice(0, 2 + LICENCE_NOTE.split("\n").length).join("\n");
    assertEquals(
      head,
      "#!/usr/bin/env -S deno run -A\n" +
        `// espdelta ${VERSION}, bundled by deno bundle.\n` +
        LICENCE_NOTE.split("\n").map((l) => `// ${l}`).join("\n"),
    );
    const notice = await Deno.readTextFile(`${dir}/NOTICE.md`);
    assertOk(notice.includes(LICENCE_NOTE) && notice.includes("MIT License"), notice);

    const offline = (args: string[]) =>
      freshDeno(["run", "--cached-only", "--quiet", "-A", bundle, ...args], dir);
    const v = await offline(["--version"]);
    assertEquals([v.code, v.stdout], [0, versionText], v.stderr);
    const image = `${FW}bootloader_esp32c3.bin`;
    const w = await offline(["-p", `socket://127.0.0.1:${server.port}`, "flash", "0x0", image]);
    assertEquals([w.code, w.stdout.trim().split("\n").at(-1)], [
      0,
      "full: bootloader 0x0 (5 of 5 sectors)",
    ], w.stderr);
    const bytes = await Deno.readFile(image);
    assertEquals(device.flash.data.subarray(0, bytes.length), bytes);
    // The stub came from the bundle itself: nothing could be downloaded.
    assertEquals(device.mode, "stub");
    // Named esptool (a symlink: the bundle has no relative imports to break), it is esptool.
    await Deno.symlink(bundle, `${dir}/esptool`);
    const e = await freshDeno([
      "run",
      "--cached-only",
      "--quiet",
      "-A",
      `${dir}/esptool`,
      "version",
    ], dir);
    assertEquals([e.code, e.stdout], [0, `${HEADER}\n5.3.1\n`], e.stderr);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compiled binary: built and run where the runtime download works, else one clear line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "espdelta-compile-" });
  try {
    const binary = `${dir}/espdelta`;
    const c = await runProgram(Deno.execPath(), ["task", "--quiet", "compile", binary], {
      cwd: ROOT,
      env: { NO_COLOR: "1" },
    });
    if (c.code === 0) {
      const v = await runProgram(binary, ["--version"], { env: { NO_COLOR: "1" } });
      assertEquals([v.code, v.stdout], [0, versionText]);
      // A symlink named esptool: argv[0] says so (the executable's own path would not).
      await Deno.symlink(binary, `${dir}/esptool`);
      const e = await runProgram(`${dir}/esptool`, ["version"], { env: { NO_COLOR: "1" } });
      assertEquals([e.code, e.stdout], [0, `${HEADER}\n5.3.1\n`]);
      assertOk((await Deno.readTextFile(`${dir}/NOTICE.md`)).includes(LICENCE_NOTE));
    } else {
      // No network to dl.deno.land (as on the CI machines): the task says why and what to use.
      assertEquals(c.code, 1);
      const lines = c.stderr.trim().split("\n");
      assertEquals(lines.length, 1, c.stderr);
      assertOk(
        lines[0].startsWith("deno compile failed (") &&
          lines[0].endsWith(
            "it downloads the Deno runtime on first use, so it needs network access to " +
              "dl.deno.land once. Offline, `deno task bundle` writes dist/espdelta.js, one file " +
              "that `deno run -A` runs.",
          ),
        c.stderr,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * `deno task bundle` and `deno task compile`: builds dist/espdelta.js (one
 * file that `deno run -A` runs offline) or dist/espdelta (a binary), and
 * states the licences of what they carry. Both embed esptool-js's flasher stub
 * files (Espressif's esp-flasher-stub, Apache-2.0 OR MIT, programs that run on
 * the chip), so the bundle starts
 * with that notice as a comment and dist/NOTICE.md sits beside both.
 *
 * Usage: deno run -A tools/dist.ts bundle|compile [OUT]
 * @module
 */

import { LICENCE_NOTE, VERSION } from "../src/version.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** The notice, as a comment block for the top of the bundle. */
export function bundleHeader(): string {
  const lines = [`espdelta ${VERSION}, bundled by deno bundle.`, ...LICENCE_NOTE.split("\n")];
  return lines.map((l) => `// ${l}`).join("\n") + "\n";
}

/** Runs deno; on failure returns its last error line. */
async function deno(args: string[]): Promise<string | undefined> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "inherit",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (out.code === 0) return undefined;
  // Deno prints "error: what it did", then "Caused by:" with numbered reasons; the
  // second reason is the one a user can act on (e.g. the failed download's URL).
  const text = new TextDecoder().decode(out.stderr);
  const causes = [...text.matchAll(/^\s+\d+: (.+)$/gm)].map((m) => m[1]);
  return causes[1] ?? causes[0] ?? text.split("\n").find((l) => l.trim()) ?? "";
}

async function writeNotice(dir: string): Promise<void> {
  const licence = await Deno.readTextFile(`${ROOT}LICENSE`);
  await Deno.writeTextFile(
    `${dir}/NOTICE.md`,
    `# espdelta ${VERSION}: licences of what this folder holds\n\n${LICENCE_NOTE}\n\n` +
      "The full text of espdelta's licence and of this notice:\n\n```text\n" + licence + "```\n",
  );
}

async function main(kind: string | undefined, out: string | undefined): Promise<number> {
  if (kind !== "bundle" && kind !== "compile") {
    console.error("usage: deno run -A tools/dist.ts bundle|compile [OUT]");
    return 2;
  }
  const target = out ?? `${ROOT}dist/espdelta${kind === "bundle" ? ".js" : ""}`;
  const dir = target.slice(0, Math.max(target.lastIndexOf("/"), 0)) || ".";
  await Deno.mkdir(dir, { recursive: true });
  if (kind === "bundle") {
    const failed = await deno(["bundle", "--quiet", "--platform", "deno", "-o", target, "cli.ts"]);
    if (failed !== undefined) {
      console.error(`deno bundle failed: ${failed}`);
      return 1;
    }
    const body = await Deno.readTextFile(target);
    // Keep the shebang first so the file stays directly executable.
    const nl = body.startsWith("#!") ? body.indexOf("\n") + 1 : 0;
    await Deno.writeTextFile(target, body.slice(0, nl) + bundleHeader() + body.slice(nl));
  } else {
    const failed = await deno(["compile", "--quiet", "-A", "--output", target, "cli.ts"]);
    if (failed !== undefined) {
      // deno compile downloads its runtime (denort) from dl.deno.land on first use.
      console.error(
        `deno compile failed (${failed}); it downloads the Deno runtime on first use, so it ` +
          "needs network access to dl.deno.land once. Offline, `deno task bundle` writes " +
          "dist/espdelta.js, one file that `deno run -A` runs.",
      );
      return 1;
    }
  }
  await writeNotice(dir);
  console.log(`wrote ${target} and ${dir}/NOTICE.md`);
  console.log(LICENCE_NOTE);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args[0], Deno.args[1]));

/**
 * The JSDoc examples of src/image/ and src/session/ run and assert, as
 * `deno test --doc` runs them: an example that drifts from the code fails
 * here.
 */
import { assertEquals } from "../assert.ts";
import { runProgram } from "../cli/run.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("JSDoc examples of image/ and session/ run and assert", async () => {
  const r = await runProgram(
    Deno.execPath(),
    ["test", "--doc", "--quiet", "-A", "src/image/", "src/session/"],
    { cwd: ROOT, env: { NO_COLOR: "1" } },
  );
  assertEquals(r.code, 0, r.stdout + r.stderr);
  const summary = r.stdout.trim().split("\n").at(-1) ?? "";
  assertEquals(/^ok \| (\d+) passed \| 0 failed/.exec(summary)?.[1], "12", summary);
});

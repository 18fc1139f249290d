/**
 * `deno task bench`: runs the micro-benchmarks with `deno bench --json`,
 * writes bench/results/micro.{json,md} with the targets as ratios, then runs
 * the deploy benchmark (deploy.ts).
 * @module
 */

const here = new URL(".", import.meta.url);
const results = new URL("results/", here);
await Deno.mkdir(results, { recursive: true });

const out = await new Deno.Command(Deno.execPath(), {
  args: ["bench", "-A", "--json", new URL("micro_bench.ts", here).pathname],
  stdout: "piped",
  stderr: "inherit",
}).output();
if (!out.success) Deno.exit(out.code);

interface BenchResult {
  name: string;
  results: { ok?: { avg: number; min: number; p75: number; n: number } }[];
}
const report = JSON.parse(new TextDecoder().decode(out.stdout)) as {
  runtime: string;
  cpu: string;
  benches: BenchResult[];
};
const avgMs = (prefix: string) => {
  const b = report.benches.find((x) => x.name.startsWith(prefix));
  const ok = b?.results[0]?.ok;
  if (!ok) throw new Error(`benchmark "${prefix}" did not run`);
  return ok.avg / 1e6;
};
const MiB = 1 << 20;
const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

const rows = [
  { what: "SLIP encode", value: mbps(MiB, avgMs("slip encode")), unit: "MB/s", goal: 200 },
  { what: "SLIP decode", value: mbps(MiB, avgMs("slip decode")), unit: "MB/s", goal: 200 },
  {
    what: "packet build (16 KiB FLASH_DEFL_DATA, framed)",
    value: mbps(0x4000, avgMs("packet:")),
    unit: "MB/s",
    goal: undefined,
  },
  {
    what: "local hashing, 16 MiB (whole + every sector)",
    value: mbps(32 * MiB, avgMs("local hashing")),
    unit: "MB/s hashed",
    goal: undefined,
  },
  { what: "planning a 16 MiB image, 1 % changed", value: avgMs("plan:"), unit: "ms", goal: 100 },
];

const md = [
  "# Micro-benchmarks",
  "",
  `${report.runtime}, ${report.cpu}; averages of \`deno bench\` runs (bench/micro_bench.ts).`,
  "",
  "| benchmark | value | target | ratio (>= 1 meets it) |",
  "|---|---|---|---|",
  ...rows.map((r) => {
    if (r.goal === undefined) return `| ${r.what} | ${r.value.toFixed(1)} ${r.unit} | - | - |`;
    const ratio = r.unit === "ms" ? r.goal / r.value : r.value / r.goal;
    const goal = r.unit === "ms" ? `< ${r.goal} ms` : `>= ${r.goal} ${r.unit}`;
    return `| ${r.what} | ${r.value.toFixed(1)} ${r.unit} | ${goal} | ${ratio.toFixed(2)} |`;
  }),
  "",
  "Planning time is the planner's own: the benchmark's device answers MD5s from a table filled",
  "on a first run, so device hashing is not counted. Planning hashes locally every range it asks",
  "the device about (1.4 passes of the image here) plus the whole image once for the plan's MD5.",
];
await Deno.writeTextFile(
  new URL("micro.json", results),
  JSON.stringify({ ...report, rows }, null, 2) + "\n",
);
await Deno.writeTextFile(new URL("micro.md", results), md.join("\n") + "\n");
console.log(md.join("\n") + "\n");

const deploy = await new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL("deploy.ts", here).pathname],
  stdout: "inherit",
  stderr: "inherit",
}).output();
Deno.exit(deploy.code);

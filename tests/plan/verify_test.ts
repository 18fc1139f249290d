import { assertEquals } from "../assert.ts";
import { verifyRanges } from "../../src/plan/verify.ts";
import type { PlanStep } from "../../src/plan/types.ts";

const step = (region: string, offset: number, length: number, action = "write"): PlanStep => ({
  action: action as PlanStep["action"],
  region,
  offset,
  length,
  firstSector: offset >> 12,
  sectors: Math.ceil(length / 0x1000),
  reason: "sectors-differ",
  detail: "",
  compressedBytes: 0,
  ms: 0,
  wireBytes: 0,
});

Deno.test("verify ranges: each written 64 KiB block, clipped to its region, merged", () => {
  const regions = [
    { name: "boot", offset: 0x1000, length: 0x6000 },
    { name: "app", offset: 0x10000, length: 0x18_0000 },
  ];
  assertEquals(
    verifyRanges(regions, [
      step("app", 0x10000, 0x1000, "erase"),
      step("app", 0x42000, 0x1000),
      step("app", 0x4f000, 0x2000), // crosses into the next block
      step("app", 0x17f000, 0x1000),
      step("boot", 0x3000, 0x1000),
      step("app", 0x10000, 0x1000),
    ]),
    [
      { region: "boot", offset: 0x1000, length: 0x6000 },
      { region: "app", offset: 0x10000, length: 0x10000 },
      { region: "app", offset: 0x40000, length: 0x20000 },
      { region: "app", offset: 0x170000, length: 0x10000 },
    ],
  );
  assertEquals(verifyRanges(regions, []), []);
});

/**
 * The client's revision fields (chips.ts, from esptool's target classes)
 * against the virtual chip's (emulator/identity.ts, written into the eFuse
 * words): every chip, its default part and its extreme revisions, read by
 * the loader after detection; and every stub esptool-js ships fits its
 * chip's RAM map and no stub fits a chip of another family's map.
 */
import { assertEquals, assertOk, assertThrows } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { memoryPort } from "../../src/emulator/memory.ts";
import { connect } from "../../src/loader/loader.ts";
import { checkStubFits } from "../../src/loader/stub.ts";
import { findStub } from "../../src/loader/stubs.ts";
import { EspdeltaError } from "../../src/protocol/errors.ts";
import { CHIP_NAMES, type ChipName, CHIPS, formatChipRevision } from "../../src/chips/chips.ts";

/** The part on sale each chip models by default (see emulator/identity.ts). */
const DEFAULTS: Record<ChipName, string | undefined> = {
  esp8266: undefined,
  esp32: "v3.1",
  esp32s2: "v0.0",
  esp32s3: "v0.2",
  esp32c2: "v1.0",
  esp32c3: "v0.4",
  esp32c5: "v1.0",
  esp32c6: "v0.2",
  esp32h2: "v0.1",
  esp32p4: "v3.1",
};

/** Revisions that exercise every bit of each chip's fields. */
const OTHERS: Partial<Record<ChipName, string[]>> = {
  esp32: ["v0.0", "v1.0", "v2.3", "v3.0"],
  esp32s2: ["v1.15", "v3.8"],
  esp32s3: ["v1.15", "v3.7"],
  esp32c2: ["v3.15", "v0.1"],
  esp32c3: ["v1.1", "v3.15", "v0.8"],
  esp32c5: ["v0.1", "v3.15"],
  esp32c6: ["v1.15", "v3.0"],
  esp32h2: ["v1.7", "v3.0"],
  esp32p4: ["v1.0", "v7.15", "v4.0"],
};

async function revisionOf(chip: ChipName, revision?: string): Promise<string | undefined> {
  const port = memoryPort(new VirtualDevice({ chip, ...(revision ? { revision } : {}) }));
  try {
    const loader = await connect(port);
    return loader.revision === undefined ? undefined : formatChipRevision(loader.revision);
  } finally {
    await port.close();
  }
}

for (const chip of CHIP_NAMES) {
  Deno.test(`${chip}: the loader reads the revision the chip's eFuses hold`, async () => {
    assertEquals(await revisionOf(chip), DEFAULTS[chip]);
    for (const r of OTHERS[chip] ?? []) assertEquals(await revisionOf(chip, r), r, r);
  });
}

Deno.test("every stub esptool-js ships fits its own chip's RAM, and no other family's", async () => {
  const stubs: [ChipName, number | undefined][] = CHIP_NAMES.map((c) => [c, undefined]);
  stubs.push(["esp32p4", 100]); // the v1.x build
  for (const [chip, revision] of stubs) {
    const stub = await findStub(chip, {}, revision);
    assertOk(stub, chip);
    checkStubFits(stub, CHIPS[chip]);
    for (const other of ["esp8266", "esp32", "esp32c6", "esp32p4"] as const) {
      if (other === chip || (chip === "esp32c5" && other === "esp32c6")) continue;
      if (chip === "esp32h2" && other === "esp32c6") continue; // the same address map
      const e = assertThrows(() => checkStubFits(stub, CHIPS[other]), EspdeltaError);
      assertEquals(e.code, "BAD_STUB", `${chip} stub on ${other}`);
    }
  }
});

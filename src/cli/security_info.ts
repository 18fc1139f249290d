/**
 * `get-security-info`: the chip's GET_SECURITY_INFO reply, in esptool v5's
 * words and layout (cmds.py `get_security_info`): the flags word, the key
 * purposes by name, chip id and API version, secure boot and flash
 * encryption state. Nothing key-like is read: the reply holds none.
 * @module
 */

import type { ChipName } from "../chips/chips.ts";
import { UnsupportedError } from "../loader/connect.ts";
import type { SecurityInfo } from "../protocol/commands.ts";
import type { Program } from "./options.ts";
import type { Output } from "./output.ts";
import { withSession } from "./session.ts";

const COMMON = [
  "USER/EMPTY",
  "RESERVED",
  "XTS_AES_256_KEY_1",
  "XTS_AES_256_KEY_2",
  "XTS_AES_128_KEY",
  "HMAC_DOWN_ALL",
  "HMAC_DOWN_JTAG",
  "HMAC_DOWN_DIGITAL_SIGNATURE",
  "HMAC_UP",
  "SECURE_BOOT_DIGEST0",
  "SECURE_BOOT_DIGEST1",
  "SECURE_BOOT_DIGEST2",
];
const table = (names: (string | undefined)[], extra: Record<number, string> = {}) => {
  const t: Record<number, string> = {};
  names.forEach((n, i) => n && (t[i] = n));
  return { ...t, ...extra };
};

/** Key purpose names per chip, as esptool's targets name them (`KEY_PURPOSES`). */
const KEY_PURPOSES: Partial<Record<ChipName, Record<number, string>>> = {
  esp32s2: table(COMMON),
  esp32s3: table(COMMON),
  esp32c3: table(COMMON.map((n, i) => (i === 2 || i === 3 ? undefined : n))),
  esp32c6: table(COMMON.map((n, i) => (i === 2 || i === 3 ? undefined : n))),
  esp32c5: table(
    COMMON.map((n, i) => (i === 1 ? "ECDSA_KEY" : i === 2 || i === 3 ? undefined : n)),
    {
      12: "KM_INIT_KEY",
      15: "XTS_AES_128_PSRAM_KEY",
      16: "ECDSA_KEY_P192",
      17: "ECDSA_KEY_P384_L",
      18: "ECDSA_KEY_P384_H",
    },
  ),
  esp32h2: table(COMMON.map((n, i) => (i === 1 ? "ECDSA_KEY" : n))),
  esp32p4: table(COMMON.map((n, i) => (i === 1 ? "ECDSA_KEY" : n)), { 12: "KM_INIT_KEY" }),
};

/** Key blocks esptool lists (`EFUSE_MAX_KEY`). */
const MAX_KEY = 5;

/** The flags word's bits, as the ROM defines them. */
const FLAG = {
  SECURE_BOOT_EN: 1 << 0,
  SECURE_BOOT_AGGRESSIVE_REVOKE: 1 << 1,
  SECURE_BOOT_KEY_REVOKE0: 1 << 3,
  SOFT_DIS_JTAG: 1 << 6,
  HARD_DIS_JTAG: 1 << 7,
  DIS_USB: 1 << 8,
  DIS_DOWNLOAD_DCACHE: 1 << 9,
  DIS_DOWNLOAD_ICACHE: 1 << 10,
};

const bits = (n: number) => n.toString(2).split("").filter((b) => b === "1").length;

/**
 * esptool's report of a GET_SECURITY_INFO reply on `chip`.
 *
 * @example
 * ```ts
 * import { securityReport } from "./security_info.ts";
 * import assert from "node:assert/strict";
 *
 * const lines = securityReport("esp32c3", {
 *   flags: 0, flashCryptCnt: 0, keyPurposes: [0, 0, 0, 0, 0, 0, 12], chipId: 5, ecoVersion: 7,
 * });
 * assert.deepEqual(lines.slice(0, 5), [
 *   "Security Information:",
 *   "=====================",
 *   "Flags: 0x00000000 (0b0)",
 *   "Key Purposes: (0, 0, 0, 0, 0, 0, 12)",
 *   "  BLOCK_KEY0 - USER/EMPTY",
 * ]);
 * assert.deepEqual(lines.slice(-5), [
 *   "Chip ID: 5",
 *   "API Version: 7",
 *   "Secure Boot: Disabled",
 *   "Flash Encryption: Disabled",
 *   "SPI Boot Crypt Count (SPI_BOOT_CRYPT_CNT): 0x0",
 * ]);
 * ```
 */
export function securityReport(chip: ChipName, si: SecurityInfo): string[] {
  const title = "Security Information:";
  const lines = [title, "=".repeat(title.length)];
  lines.push(`Flags: 0x${si.flags.toString(16).padStart(8, "0")} (0b${si.flags.toString(2)})`);
  const purposes = KEY_PURPOSES[chip];
  if (purposes && Object.keys(purposes).length > 0) {
    lines.push(`Key Purposes: (${si.keyPurposes.join(", ")})`);
    si.keyPurposes.slice(0, MAX_KEY + 1)
      .forEach((p, i) => lines.push(`  BLOCK_KEY${i} - ${purposes[p] ?? "UNKNOWN"}`));
  }
  if (si.chipId !== undefined && si.ecoVersion !== undefined) {
    lines.push(`Chip ID: ${si.chipId}`, `API Version: ${si.ecoVersion}`);
  }
  const flag = (f: number) => (si.flags & f) !== 0;
  if (flag(FLAG.SECURE_BOOT_EN)) {
    lines.push("Secure Boot: Enabled");
    if (flag(FLAG.SECURE_BOOT_AGGRESSIVE_REVOKE)) {
      lines.push("Secure Boot Aggressive key revocation: Enabled");
    }
    const revoked = [0, 1, 2].filter((i) => flag(FLAG.SECURE_BOOT_KEY_REVOKE0 << i));
    if (revoked.length > 0) {
      lines.push("Secure Boot Key Revocation Status:\n");
      for (const i of revoked) lines.push(`\tSecure Boot Key${i} is Revoked\n`);
    }
  } else {
    lines.push("Secure Boot: Disabled");
  }
  lines.push(`Flash Encryption: ${bits(si.flashCryptCnt) % 2 !== 0 ? "Enabled" : "Disabled"}`);
  // esptool compares its chip name with "esp32", which never matches "ESP32": always this label.
  lines.push(`SPI Boot Crypt Count (SPI_BOOT_CRYPT_CNT): 0x${si.flashCryptCnt.toString(16)}`);
  if (flag(FLAG.DIS_DOWNLOAD_DCACHE)) lines.push("Dcache in UART download mode: Disabled");
  if (flag(FLAG.DIS_DOWNLOAD_ICACHE)) lines.push("Icache in UART download mode: Disabled");
  if (flag(FLAG.HARD_DIS_JTAG)) lines.push("JTAG: Permanently Disabled");
  else if (flag(FLAG.SOFT_DIS_JTAG)) lines.push("JTAG: Software Access Disabled");
  if (flag(FLAG.DIS_USB)) lines.push("USB Access: Disabled");
  return lines;
}

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  program.command("get-security-info")
    .description("print the chip's security information (GET_SECURITY_INFO)")
    .addHelpText("after", "\nExample:\n  espdelta -p /dev/ttyUSB0 get-security-info")
    .action(async (_opts, cmd) => {
      const g = cmd.optsWithGlobals();
      const o = out();
      await withSession(g, o, async ({ loader, chip }) => {
        const si = await loader.securityInfo();
        if (!si) {
          throw new UnsupportedError(
            `the ${chip.displayName} ${
              loader.isStub ? "flasher stub" : "ROM"
            } has no GET_SECURITY_INFO command`,
          );
        }
        const lines = securityReport(chip.name, si);
        for (const line of lines.slice(0, -1)) o.info(line);
        o.result(lines.at(-1)!, {
          flags: si.flags,
          flashCryptCnt: si.flashCryptCnt,
          keyPurposes: si.keyPurposes,
          chipId: si.chipId ?? null,
          apiVersion: si.ecoVersion ?? null,
        });
      });
    });
}

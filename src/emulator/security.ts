/**
 * A virtual chip's security state from its options: the flash-encryption
 * engine with its key, the eFuse fields that describe it (registers.ts) and
 * the facts GET_SECURITY_INFO reports (rom.ts).
 *
 * - ESP32: the engine always exists. Blank eFuses hold the all-zero key and
 *   FLASH_CRYPT_CONFIG 0 (no address tweak), and the chip encrypts with
 *   them; a burned key comes with FLASH_CRYPT_CONFIG 0xF, as the bootloader
 *   burns them, and is read-protected.
 * - Later chips: without a key the engine has nothing to encrypt with (an
 *   encrypted write fails). A 32-byte key is KEY0 with purpose
 *   XTS_AES_128_KEY (4), a 64-byte one KEY0 and KEY1 with XTS_AES_256_KEY_1
 *   and _2 (2, 3); the ESP32-C2 has no key purposes (its XTS_KEY_LENGTH_256
 *   eFuse says 256 or 128 bits).
 * @module
 */

import { type ChipInfo, flashEncryptionOn } from "../chips/chips.ts";
import type { SecurityFacts } from "./core.ts";
import { FlashCrypt } from "./crypt.ts";
import type { ChipIdentity } from "./identity.ts";
import type { EfuseSecurity } from "./registers.ts";

/** The security options of a virtual device (see VirtualDeviceOptions). */
export interface SecurityOptions {
  /** GET_SECURITY_INFO flags word. */
  securityFlags?: number;
  /** FLASH_CRYPT_CNT / SPI_BOOT_CRYPT_CNT. */
  flashCryptCnt?: number;
  /** The seven key purpose bytes of GET_SECURITY_INFO. */
  keyPurposes?: number[];
  /** GET_SECURITY_INFO's last word. */
  ecoVersion?: number;
  /** The burned flash encryption key. */
  flashEncryptionKey?: Uint8Array;
  /** ESP32 FLASH_CRYPT_CONFIG. */
  flashCryptConfig?: number;
}

/** The engine, the eFuses and the GET_SECURITY_INFO facts of one chip. */
export interface ChipSecurity {
  /** The engine (undefined: encrypted writes fail). */
  crypt: FlashCrypt | undefined;
  /** eFuse fields for the register map. */
  efuse: EfuseSecurity;
  /** GET_SECURITY_INFO facts. */
  facts: SecurityFacts;
}

/** Key lengths each chip's eFuses can hold. */
function keyLengths(chip: ChipInfo): readonly number[] {
  switch (chip.name) {
    case "esp32":
      return [32, 24];
    case "esp32c2":
      return [16, 32];
    case "esp32s2":
    case "esp32s3":
    case "esp32c5":
    case "esp32p4":
      return [32, 64];
    case "esp8266":
      return [];
    default:
      return [32];
  }
}

/**
 * Builds the security state. `derivedKey(length)` supplies the key burned
 * when encryption is on and none was given. Throws RangeError for a key the
 * chip cannot hold.
 */
export function chipSecurity(
  chip: ChipInfo,
  identity: ChipIdentity,
  options: SecurityOptions,
  derivedKey: (length: number) => Uint8Array,
): ChipSecurity {
  const cnt = options.flashCryptCnt ?? 0;
  const lengths = keyLengths(chip);
  let key = options.flashEncryptionKey;
  if (!key && flashEncryptionOn(cnt) && lengths.length > 0) key = derivedKey(lengths[0]);
  if (key && !lengths.includes(key.length)) {
    throw new RangeError(
      lengths.length === 0
        ? `the ${chip.displayName} has no flash encryption`
        : `a ${chip.displayName} flash encryption key is ${
          lengths.join(" or ")
        } bytes, got ${key.length}`,
    );
  }
  const cryptConfig = options.flashCryptConfig ?? (key ? 0xf : 0);
  let crypt: FlashCrypt | undefined;
  if (chip.name === "esp32") {
    crypt = new FlashCrypt("esp32-aes", key ?? new Uint8Array(32), cryptConfig);
  } else if (key) crypt = new FlashCrypt("xts-aes", key);
  const purposes = !key || chip.name === "esp32" || chip.name === "esp32c2"
    ? [0, 0, 0, 0, 0, 0]
    : key.length === 64
    ? [2, 3, 0, 0, 0, 0]
    : [4, 0, 0, 0, 0, 0];
  const keyPurposes = options.keyPurposes ?? [...purposes, identity.keyPurpose6];
  return {
    crypt,
    efuse: {
      flashCryptCnt: cnt,
      flashCryptConfig: chip.name === "esp32" ? cryptConfig : 0,
      keyPurposes: keyPurposes.slice(0, 6),
      keyLength: key?.length ?? 0,
    },
    facts: {
      flags: options.securityFlags ?? 0,
      flashCryptCnt: cnt,
      keyPurposes,
      ecoVersion: options.ecoVersion ?? identity.apiVersion,
    },
  };
}

/**
 * What the ROM loader and the stub models need from the device that runs
 * them: its facts, its flash and registers, one way out for frames, and the
 * transitions (jump to RAM code, reboot, run the app, change baud). Internal
 * to the emulator.
 * @module
 */

import type { ChipInfo } from "../chips/chips.ts";
import type { FlashBus } from "./flash_bus.ts";
import type { Registers } from "./registers.ts";
import type { FlashCrypt } from "./crypt.ts";

/** eFuse-backed security facts GET_SECURITY_INFO reports. */
export interface SecurityFacts {
  /** The flags word (bit 0 secure boot, bit 2 secure download, ...). */
  flags: number;
  /** FLASH_CRYPT_CNT / SPI_BOOT_CRYPT_CNT eFuse value. */
  flashCryptCnt: number;
  /** The seven key purpose bytes. */
  keyPurposes: readonly number[];
  /** ROM API / ECO version word (20-byte replies only). */
  ecoVersion: number;
}

/** The device, as seen by the program it runs. */
export interface DeviceCore {
  /** Chip facts. */
  readonly chip: ChipInfo;
  /** The flash as firmware addresses it. */
  readonly bus: FlashBus;
  /** Register map. */
  readonly regs: Registers;
  /** Crystal frequency in Hz. */
  readonly xtalHz: number;
  /** The crystal frequency the ROM's baud-rate code assumes. */
  readonly romXtalHz: number;
  /** GET_SECURITY_INFO facts. */
  readonly security: SecurityFacts;
  /**
   * The flash-encryption engine: on the ESP32 always (blank eFuses give the
   * all-zero key), elsewhere when a key is burned (undefined: encrypted
   * writes fail).
   */
  readonly crypt: FlashCrypt | undefined;
  /** True in Secure Download Mode (flags bit 2): the ROM takes only a few commands. */
  readonly secureDownload: boolean;
  /** Current UART rate. */
  readonly baud: number;
  /** Sends one packet as a SLIP frame. */
  sendPacket(packet: Uint8Array): void;
  /** Records a handled command: its opcode and its status as esptool reads it. */
  record(op: number, status: number): void;
  /** Runs `fn` once the reply being sent has left the UART. */
  afterReply(fn: () => void): void;
  /** Stores a MEM_DATA block in RAM. */
  ramWrite(addr: number, data: Uint8Array): void;
  /**
   * Jumps to RAM code at `entry`: a known flasher stub starts (it greets with
   * OHAI and speaks its protocol), any other program runs and the loader
   * protocol stops.
   */
  jump(entry: number): void;
  /** A line for the device's own log (what the chip did that the host cannot see). */
  log(line: string): void;
  /** Software reset: prints the flash boot log and runs the app. */
  reboot(): void;
  /** Leaves the loader for the app in flash (no reset, nothing printed). */
  runApp(): void;
  /** Changes the UART rate (after the reply, at the old rate, has gone). */
  setBaud(baud: number): void;
  /**
   * The ROM keeps the rate a CHANGE_BAUDRATE asked for in its UART record
   * (`UartDev.baud_rate`), which esp-flasher-stub reads when it starts on the
   * ESP32, -S2 and -P4. An assumption: the ROM's source is not public, and
   * the stub's change (PR #96) calls the value "the active ROM download-mode
   * baud rate".
   */
  recordRomBaud(baud: number): void;
}

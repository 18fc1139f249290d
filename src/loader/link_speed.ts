/**
 * `--baud auto`: the fastest rate the chip and its USB bridge reach, checked
 * before it is trusted, and stepped down when it fails later.
 *
 * - The ladder: the standard rates up to the lower of the chip's UART limit
 *   and the bridge's top rate (chips/bridges.ts; an unknown bridge is
 *   limited by the chip alone). Espressif's USB-Serial/JTAG ignores the
 *   baud rate: nothing to choose.
 * - Before the stub goes up, the ROM is raised to a rate nearly every
 *   bridge takes (921600, or the rate remembered for the port, or the
 *   bridge's top if lower), so the stub does not crawl at 115200.
 * - With the stub running, the probe starts at the remembered rate, else at
 *   the top of the ladder, and checks each rate with a short burst of real
 *   commands that writes nothing to flash: a register read that must match
 *   the value read at the safe rate, an MD5 of the first 4 KiB of flash, a
 *   READ_FLASH of the same 4 KiB (device to host, checked against both the
 *   MD5 and the stub's own digest), and 4 KiB of data to the stub as one
 *   checksummed FLASH_DATA block of a write announced as 0 bytes long.
 *   Both stubs take such a write and write nothing: esp-flasher-stub
 *   (`s_init_flash_operation`) computes an erase size of 0 and its data
 *   post-process writes `MIN(block, total_remaining)` = 0 bytes; the
 *   legacy stub (`handle_flash_begin`) erases 0 sectors and
 *   `handle_flash_data` trims the block to the 0 bytes remaining (its BEGIN
 *   runs the ROM's SPIUnlock, as every legacy-stub write does). The block's
 *   checksum is checked by both before the data is dropped, so a corrupted
 *   byte on the way in is refused.
 * - A rate that fails is never tried again in the session: the next one
 *   down is reached with CHANGE_BAUDRATE over the failing link when it gets
 *   through, else by resynchronising or, when that fails too, by a reset
 *   and a fresh connect (which raises no higher than the rates not yet
 *   failed).
 * - Later, a checksum refusal or a garbled or lost reply in a write steps
 *   down one rung and the write resumes through the loader's recovery.
 * @module
 */

import { createHash } from "node:crypto";
import { baudLadder, type BridgeInfo, chipMaxBaud } from "../chips/bridges.ts";
import { CHIP_DETECT_MAGIC_REG, type ChipInfo } from "../chips/chips.ts";
import { toHex } from "../protocol/bytes.ts";
import {
  changeBaudrate,
  decodeMd5,
  flashBegin,
  flashData,
  flashEnd,
  READ_FLASH_PACKET,
  readFlash,
  readFlashAck,
  readReg,
  spiFlashMd5,
} from "../protocol/commands.ts";
import { DeviceError, EspdeltaError, ProtocolError, TimeoutError } from "../protocol/errors.ts";
import { encodeCommand } from "../protocol/packet.ts";
import type { Connection } from "./connection.ts";
import { changeBaud, type DeviceState, romBaudFactor } from "./connect.ts";

/** What the session knows about the link before connecting. */
export interface LinkFacts {
  /** The USB bridge of the port, from its VID:PID and product string; undefined when unknown. */
  bridge?: BridgeInfo;
  /** The rate that worked last time on this port (the cache). */
  remembered?: number;
}

/** One rate tried by the probe. */
export interface BaudAttempt {
  /** The rate. */
  baud: number;
  /** It passed the link check. */
  ok: boolean;
  /** Why it failed. */
  error?: string;
}

/** The rate in use, and why. */
export interface BaudChoice {
  /** The rate both sides use now. */
  baud: number;
  /** One line saying why this rate. */
  reason: string;
  /** The rates the probe tried, in order. */
  tried: BaudAttempt[];
  /** Times a write stepped the rate down after a link error. */
  stepDowns: number;
  /** Bits per second on the wire: the baud rate, or the USB rate where the baud is ignored. */
  wireBaud: number;
}

/** A rate failed the link check. */
export class LinkCheckError extends EspdeltaError {
  /** Says what did not match. */
  constructor(message: string) {
    super("LINK_CHECK", message);
  }
}

/** The rate the ROM is raised to before the stub when nothing better is known. */
export const SAFE_ROM_BAUD = 921_600;
/** Bytes each way in the link check. */
export const CHECK_BYTES = 0x1000;
/** Reply timeout of each command of the link check. */
const CHECK_TIMEOUT_MS = 500;
/** The host waits this long after a baud change before sending (esptool: 50 ms). */
const BAUD_SETTLE_MS = 50;

/**
 * Device statuses a corrupted frame causes: a data checksum refused (stub
 * `C1`, ROM `01 07`), a length that disagrees with the frame (stub `C0`),
 * a direction or opcode byte hit (stub `C3`), a malformed command (ROM
 * `01 05`).
 */
const FRAMING_STATUSES = new Set([0xc000, 0xc100, 0xc300, 0x0105, 0x0107]);

/** Errors a bad link causes: lost, garbled or refused bytes. */
export function linkError(e: unknown): boolean {
  return e instanceof TimeoutError || e instanceof ProtocolError ||
    e instanceof LinkCheckError || (e instanceof DeviceError && FRAMING_STATUSES.has(e.status));
}

/** The payload of the check: every byte value, SLIP's own among them. */
function checkPayload(): Uint8Array {
  const out = new Uint8Array(CHECK_BYTES);
  for (let i = 0; i < out.length; i++) out[i] = (i * 37 + (i >> 8)) & 0xff;
  return out;
}

const mbaud = (b: number) => b >= 1e6 ? `${b / 1e6} Mbaud` : `${b / 1e3} kbaud`;

/**
 * The automatic choice of a link's rate for one session (kept across
 * reconnects: a rate that failed stays failed).
 *
 * @example
 * ```ts
 * import { LinkSpeed } from "./link_speed.ts";
 * import { bridgeById } from "../chips/bridges.ts";
 * import { CHIPS } from "../chips/chips.ts";
 * import assert from "node:assert";
 * const speed = new LinkSpeed({ bridge: bridgeById("cp2102") });
 * assert.deepStrictEqual(speed.ladder(CHIPS.esp32), [921600, 460800, 230400, 115200]);
 * assert.strictEqual(speed.preStubBaud(CHIPS.esp32), 921600);
 * ```
 */
export class LinkSpeed {
  /** What was known about the link. */
  readonly facts: LinkFacts;
  readonly #trace?: (line: string) => void;
  #ceiling = Infinity;
  #tried: BaudAttempt[] = [];
  #choice: BaudChoice | undefined;
  #probing = false;

  /** Chooses for a link with `facts`; `trace` hears each step. */
  constructor(facts: LinkFacts = {}, trace?: (line: string) => void) {
    this.facts = facts;
    this.#trace = trace;
  }

  /** The rate in use and why, once chosen. */
  get choice(): BaudChoice | undefined {
    return this.#choice;
  }

  /** True when the bridge carries bytes whatever the baud rate (Espressif's USB ports). */
  get ignoresBaud(): boolean {
    return this.facts.bridge?.ignoresBaud ?? false;
  }

  /** The rates still open for `chip`, fastest first (ending with 115200). */
  ladder(chip: ChipInfo): number[] {
    const all = baudLadder(chip.name, this.facts.bridge);
    const open = all.filter((r) => r <= this.#ceiling);
    return open.length > 0 ? open : [all[all.length - 1]];
  }

  /** The rate to raise the ROM to before the stub goes up; undefined: stay. */
  preStubBaud(chip: ChipInfo): number | undefined {
    if (this.ignoresBaud || !chip.rom.changeBaud) return undefined;
    const ladder = this.ladder(chip);
    const remembered = this.facts.remembered;
    if (remembered !== undefined && ladder.includes(remembered)) return remembered;
    return ladder.find((r) => r <= SAFE_ROM_BAUD);
  }

  /** Marks `baud` as failed (with `why`): only slower rates are tried from now on. */
  lower(baud: number, why: string): void {
    this.#ceiling = Math.min(this.#ceiling, baud - 1);
    this.#trace?.(`baud ${baud}: ${why}; not trying it again`);
  }

  /** Records a rate the probe tried. */
  #attempt(baud: number, ok: boolean, error?: string): void {
    this.#tried.push({ baud, ok, ...(error ? { error } : {}) });
  }

  #choose(conn: Connection, chip: ChipInfo, reason: string): void {
    const baud = conn.port.baud;
    const bridge = this.facts.bridge;
    const wireBaud = bridge?.ignoresBaud ? (bridge.usbBytesPerSec ?? baud / 10) * 10 : baud;
    this.#choice = {
      baud,
      reason,
      tried: [...this.#tried],
      stepDowns: this.#choice?.stepDowns ?? 0,
      wireBaud,
    };
    this.#trace?.(`baud ${baud} chosen for the ${chip.displayName}: ${reason}`);
  }

  /** Why the top of the ladder is where it is. */
  #limits(chip: ChipInfo): string {
    const bridge = this.facts.bridge;
    const chipTop = `the ${chip.displayName} ${mbaud(chipMaxBaud(chip.name))}`;
    return bridge
      ? `${chipTop}, the ${bridge.name} ${mbaud(bridge.maxBaud)}`
      : `${chipTop}, bridge unknown`;
  }

  /**
   * Chooses the rate once the loader is connected (stub running and flash
   * attached, or the ROM alone): probes the ladder from the remembered rate
   * or its top, checking each rate, stepping down on any failure. Inside a
   * reconnect that the probe itself caused, does nothing: the probe goes on.
   */
  async settle(conn: Connection, chip: ChipInfo, state: DeviceState): Promise<void> {
    if (this.#probing) return;
    if (this.ignoresBaud) {
      return this.#choose(
        conn,
        chip,
        `the ${this.facts.bridge!.name} carries bytes at its USB rate whatever the baud rate`,
      );
    }
    if (state.security?.secureDownload) {
      return this.#choose(conn, chip, "Secure Download Mode: no register reads to check a rate");
    }
    if (!state.stub && !chip.rom.changeBaud) {
      return this.#choose(conn, chip, `the ${chip.displayName} ROM cannot change its baud rate`);
    }
    this.#probing = true;
    try {
      const magic = await conn.readReg(CHIP_DETECT_MAGIC_REG);
      const factor = await romBaudFactor(conn, chip, state);
      const remembered = this.facts.remembered;
      for (;;) {
        const ladder = this.ladder(chip);
        const start = remembered !== undefined && ladder.includes(remembered) &&
            this.#tried.length === 0
          ? remembered
          : ladder[0];
        const rate = start;
        try {
          if (rate !== conn.port.baud) {
            this.#trace?.(`baud: trying ${rate}`);
            await changeBaud(conn, chip, state, rate);
          }
          await checkLink(conn, magic, state.stub);
          this.#attempt(rate, true);
          const failed = this.#tried.filter((t) => !t.ok).map((t) => t.baud);
          const why = rate === remembered && failed.length === 0
            ? "remembered for this port, checked"
            : failed.length > 0
            ? `${failed.join(", ")} failed the link check; the next rate down, checked`
            : `the fastest both reach (${this.#limits(chip)}), checked`;
          return this.#choose(conn, chip, `${why}${state.stub ? "" : " (ROM loader)"}`);
        } catch (e) {
          if (!linkError(e)) throw e;
          const why = (e as Error).message;
          this.#attempt(rate, false, why);
          if (rate === ladder[ladder.length - 1]) throw e;
          this.lower(rate, `link check failed (${why})`);
          await this.#reach(conn, state, this.ladder(chip)[0], magic, factor);
        }
      }
    } finally {
      this.#probing = false;
    }
  }

  /**
   * After a link error at the current rate (marked with {@link lower}) and
   * the loader's recovery: when the rate in use is above what is still
   * open, goes down to the fastest open rate (a reconnect during the
   * recovery may have done so already). Says whether the rate changed.
   */
  async enforce(conn: Connection, chip: ChipInfo, state: DeviceState): Promise<boolean> {
    const before = this.#choice;
    if (this.ignoresBaud || !before) return false;
    const top = this.ladder(chip)[0];
    if (conn.port.baud > top) {
      const magic = await conn.readReg(CHIP_DETECT_MAGIC_REG);
      await this.#reach(conn, state, top, magic, await romBaudFactor(conn, chip, state));
    }
    if (conn.port.baud === before.baud) return false;
    this.#choose(conn, chip, `stepped down from ${before.baud} after a link error in a write`);
    this.#choice = { ...this.#choice!, stepDowns: before.stepDowns + 1 };
    return true;
  }

  /**
   * Gets both sides to `baud` from a rate whose link fails: CHANGE_BAUDRATE
   * over it (to a ROM, the rate times its divider `factor`), a few times,
   * each checked with a register read at the new rate; failing that, the
   * loader's recovery (a resync, else a reset and a fresh connect, which
   * raises to an open rate on its own).
   */
  async #reach(
    conn: Connection,
    state: DeviceState,
    baud: number,
    magic: number,
    factor: number,
  ): Promise<void> {
    const from = conn.port.baud;
    for (let i = 0; i < 3; i++) {
      const sent = state.stub ? baud : Math.round(baud * factor);
      const { op, data, check } = changeBaudrate(sent, state.stub ? from : 0);
      await conn.send(encodeCommand(op, data, check));
      await conn.reply(op, 200, 0).catch(() => {}); // the reply may be lost on this link
      await conn.port.setBaud(baud);
      await conn.clock.sleep(BAUD_SETTLE_MS);
      await conn.flush();
      if (await ping(conn, magic)) return;
      // Still at the old rate? Then try again from there.
      await conn.port.setBaud(from);
      await conn.flush();
      if (!await ping(conn, magic)) break;
    }
    if (conn.recovering) throw new LinkCheckError(`cannot reach ${baud} baud from ${from}`);
    this.#trace?.(`baud: cannot reach ${baud} over the failing link; recovering`);
    await conn.recover();
  }
}

/** A register read at the current rate that returns `magic`, within 200 ms. */
async function ping(conn: Connection, magic: number): Promise<boolean> {
  try {
    return (await conn.command(readReg(CHIP_DETECT_MAGIC_REG), { timeoutMs: 200 })).value >>> 0 ===
      magic;
  } catch (e) {
    if (linkError(e) || e instanceof DeviceError) return false;
    throw e;
  }
}

/**
 * The link check at the current rate (see the module doc); throws a
 * {@link LinkCheckError} or the error of the command that failed. With the
 * ROM loader: the register read and the ROM's MD5 only (a ROM FLASH_DATA
 * writes, whatever the BEGIN said).
 */
export async function checkLink(conn: Connection, magic: number, stub: boolean): Promise<void> {
  const o = { timeoutMs: CHECK_TIMEOUT_MS };
  const value = (await conn.command(readReg(CHIP_DETECT_MAGIC_REG), o)).value >>> 0;
  if (value !== magic) {
    throw new LinkCheckError(
      `READ_REG returned 0x${value.toString(16)}, not 0x${magic.toString(16)}`,
    );
  }
  const md5 = decodeMd5(
    (await conn.command(spiFlashMd5(0, CHECK_BYTES, stub ? "stub" : "rom"), o)).data,
  );
  if (!stub) return;
  // Device to host: READ_FLASH of the same bytes, one packet, acknowledged.
  await conn.command(readFlash(0, CHECK_BYTES), o);
  const data = await conn.next(CHECK_TIMEOUT_MS, "READ_FLASH data");
  if (data.length !== Math.min(CHECK_BYTES, READ_FLASH_PACKET)) {
    throw new LinkCheckError(`READ_FLASH sent ${data.length} bytes instead of ${CHECK_BYTES}`);
  }
  await conn.send(readFlashAck(data.length));
  const digest = toHex(await conn.next(CHECK_TIMEOUT_MS, "READ_FLASH digest"));
  const local = createHash("md5").update(data).digest("hex");
  if (local !== md5 || digest !== md5) {
    throw new LinkCheckError(
      `READ_FLASH data hashes to ${local}, its digest says ${digest}, SPI_FLASH_MD5 ${md5}`,
    );
  }
  // Host to device: one checksummed block of a write announced as 0 bytes: nothing is written.
  const payload = checkPayload();
  await conn.command(
    flashBegin({ size: 0, blocks: 1, blockSize: CHECK_BYTES, offset: 0 }),
    o,
  );
  await conn.command(flashData(0, payload), o);
  await conn.command(flashEnd(), o);
}

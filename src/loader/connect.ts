/**
 * Connecting to a device, and connecting again after it was lost: reset into
 * the download mode (cycling esptool's strategies), sync, detect the chip,
 * read its security state, start the flasher stub, raise the baud rate and
 * attach the flash. The same steps run from {@link reconnectHook} when a
 * {@link Connection} finds the device back in its ROM, or silent.
 * @module
 */

import {
  CHIP_DETECT_MAGIC_REG,
  chipByImageId,
  chipByMagic,
  type ChipInfo,
  type ChipName,
  CHIPS,
  chipWithShortSecurityInfo,
  flashEncryptionOn,
} from "../chips/chips.ts";
import { hex, toHex } from "../protocol/bytes.ts";
import {
  changeBaudrate,
  decodeSecurityInfo,
  getSecurityInfo,
  memBegin,
  memData,
  memEnd,
  SECURITY_FLAG_SECURE_BOOT,
  SECURITY_FLAG_SECURE_DOWNLOAD,
  type SecurityInfo,
  spiAttach,
  sync as syncCommand,
} from "../protocol/commands.ts";
import { EspdeltaError, ProtocolError, TimeoutError } from "../protocol/errors.ts";
import { Op, Sizes, STUB_GREETING } from "../protocol/opcodes.ts";
import type { Port } from "../serial/port.ts";
import { PortLostError } from "../serial/lost.ts";
import {
  defaultStrategies,
  type ResetFn,
  type ResetStrategy,
  runSequence,
} from "../serial/reset.ts";
import type { Clock } from "../clock.ts";
import type { Connection, ReconnectHook, SyncAnswer } from "./connection.ts";
import { checkStubFits, type StubImage } from "./stub.ts";
import { readRevision } from "./identity.ts";
import { linkError, type LinkFacts, type LinkSpeed } from "./link_speed.ts";
import { DEFAULT_TIMEOUT_MS, MEM_END_ROM_TIMEOUT_MS, SYNC_TIMEOUT_MS } from "./timeouts.ts";

/** How to reset before connecting. */
export type BeforeReset = "default-reset" | "usb-reset" | "no-reset" | "no-reset-no-sync";

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** Expected chip; detection must agree. */
  chip?: ChipName;
  /** Reset before syncing (default: esptool's strategy cycle when the port has modem lines). */
  reset?: BeforeReset | ResetFn;
  /** Reset-and-sync attempts (default 7). */
  attempts?: number;
  /**
   * A flasher stub to upload and start, a function that finds one for the
   * detected chip (undefined: stay with the ROM), or false for the ROM loader.
   */
  stub?:
    | false
    | StubImage
    | ((chip: ChipInfo, revision?: number) => Promise<StubImage | undefined>);
  /**
   * Baud rate after connecting; only raised, never lowered. With a stub it
   * is raised in the ROM before the stub goes up (all ROMs but the
   * ESP8266's). `auto`: the fastest rate the chip and the bridge reach,
   * checked (link_speed.ts).
   */
  baud?: number | "auto";
  /** What is known about the link, for `baud: "auto"`: its bridge, the rate that worked before. */
  link?: LinkFacts;
  /** Receives one line per packet. */
  trace?: (line: string) => void;
  /** Time source. */
  clock?: Clock;
  /** Called with the name of the reset strategy that worked. */
  onReset?: (strategy: string) => void;
  /**
   * How long to keep trying to open a port whose link died before giving up,
   * in ms (default 3 s, `PORT_RETURN_MS`; 0: never try).
   */
  portReturnMs?: number;
}

/** What the device's eFuses say about its security, read when connecting. */
export interface DeviceSecurity {
  /** Flash encryption is on (FLASH_CRYPT_CNT has an odd number of bits set). */
  flashEncryption: boolean;
  /** The FLASH_CRYPT_CNT (SPI_BOOT_CRYPT_CNT) eFuse. */
  flashCryptCnt: number;
  /** Secure boot is enabled (flags bit 0). */
  secureBoot: boolean;
  /** Secure Download Mode: only SYNC, attach, params, baud, plain writes and this info. */
  secureDownload: boolean;
  /** Where it came from: GET_SECURITY_INFO, or an eFuse word (the ESP32). */
  source: "GET_SECURITY_INFO" | "efuse";
}

/**
 * What connecting found out about the device, shared by the connect steps
 * and the Loader; a reconnect updates it in place.
 */
export interface DeviceState {
  /** The detected chip (undefined until detection). */
  chip?: ChipInfo;
  /** The flasher stub runs. */
  stub: boolean;
  /** GET_SECURITY_INFO as read during detection (null: the loader lacks it). */
  info?: SecurityInfo | null;
  /** The security state, once read. */
  security?: DeviceSecurity;
  /**
   * The silicon revision, major * 100 + minor (undefined on the ESP8266, and
   * in Secure Download Mode, which refuses READ_REG).
   */
  revision?: number;
  /** The automatic rate choice, with `baud: "auto"` (kept across reconnects). */
  speed?: LinkSpeed;
}

/** The device could not be reached or identified. */
export class ConnectError extends EspdeltaError {
  /** With a message that says what was tried (code WRONG_CHIP when --chip disagrees). */
  constructor(message: string, code = "CONNECT_FAILED") {
    super(code, message);
  }
}

/** An operation the connected loader cannot do. */
export class UnsupportedError extends EspdeltaError {
  /** With a message that says what to use instead. */
  constructor(message: string) {
    super("UNSUPPORTED", message);
  }
}

/**
 * One SYNC; resolves with the reply values (8 expected). With `reframe`, an
 * extra END goes first ({@link Connection.send}), for a loader whose
 * receiver may be out of step with our framing.
 */
export async function sync(conn: Connection, reframe = false): Promise<number[]> {
  const first = await conn.command(syncCommand(), { timeoutMs: SYNC_TIMEOUT_MS, reframe });
  const values = [first.value];
  // The ROM answers a SYNC eight times; collect the rest so they do not linger.
  for (let i = 0; i < 7; i++) {
    try {
      values.push((await conn.reply(Op.SYNC, SYNC_TIMEOUT_MS, 0)).value);
    } catch (e) {
      if (e instanceof TimeoutError) break;
      throw e;
    }
  }
  return values;
}

/** GET_SECURITY_INFO, or null where the loader does not have it. */
export async function securityInfo(conn: Connection): Promise<SecurityInfo | null> {
  return decodeSecurityInfo((await conn.query(getSecurityInfo())).body);
}

/** Identifies the chip: security-info chip id, else the ROM magic word. */
export async function detectChip(
  conn: Connection,
): Promise<{ chip: ChipInfo; info: SecurityInfo | null }> {
  const info = await securityInfo(conn);
  if (info && info.chipId === undefined && (info.flags & SECURITY_FLAG_SECURE_DOWNLOAD) !== 0) {
    // In Secure Download Mode READ_REG is refused: the short reply alone names the chip.
    const chip = chipWithShortSecurityInfo();
    if (chip) return { chip, info };
  }
  if (info?.chipId !== undefined) {
    const chip = chipByImageId(info.chipId);
    if (!chip) {
      throw new ConnectError(`unsupported chip: GET_SECURITY_INFO chip id ${info.chipId}`);
    }
    return { chip, info };
  }
  const magic = await conn.readReg(CHIP_DETECT_MAGIC_REG);
  const chip = chipByMagic(magic);
  if (!chip) {
    throw new ConnectError(
      `unknown chip: magic value ${hex(magic, 8)} at ${hex(CHIP_DETECT_MAGIC_REG)}`,
    );
  }
  return { chip, info };
}

/**
 * Reads the security state: GET_SECURITY_INFO where the loader has it (the
 * reply detection read, when there was one), else the chip's eFuse word
 * with FLASH_CRYPT_CNT. Key blocks are never read. Leaves `state.security`
 * as it was where the chip has neither (the ESP8266).
 */
export async function readSecurity(
  conn: Connection,
  chip: ChipInfo,
  state: DeviceState,
): Promise<DeviceSecurity | undefined> {
  const info = state.info !== undefined ? state.info : await securityInfo(conn);
  if (info) {
    state.security = {
      flashEncryption: flashEncryptionOn(info.flashCryptCnt),
      flashCryptCnt: info.flashCryptCnt,
      secureBoot: (info.flags & SECURITY_FLAG_SECURE_BOOT) !== 0,
      secureDownload: (info.flags & SECURITY_FLAG_SECURE_DOWNLOAD) !== 0,
      source: "GET_SECURITY_INFO",
    };
  } else if (chip.cryptCntEfuse) {
    const { addr, shift, mask } = chip.cryptCntEfuse;
    const cnt = (await conn.readReg(addr) >>> shift) & mask;
    state.security = {
      flashEncryption: flashEncryptionOn(cnt),
      flashCryptCnt: cnt,
      secureBoot: false,
      secureDownload: false,
      source: "efuse",
    };
  }
  return state.security;
}

/**
 * Uploads a RAM program and starts it; for a stub, waits for its greeting.
 * A program whose segments lie outside the chip's RAM (a stub for another
 * chip) is refused before anything is sent (`checkStubFits`).
 */
export async function runStub(
  conn: Connection,
  state: DeviceState,
  stub: StubImage,
): Promise<void> {
  if (state.chip) checkStubFits(stub, state.chip);
  for (
    const [data, addr] of [[stub.text, stub.textStart], [stub.data, stub.dataStart]] as const
  ) {
    if (data.length === 0) continue;
    const blockSize = Sizes.RAM_BLOCK;
    const blocks = Math.ceil(data.length / blockSize);
    await conn.command(memBegin({ size: data.length, blocks, blockSize, offset: addr }));
    for (let seq = 0; seq < blocks; seq++) {
      await conn.command(memData(seq, data.subarray(seq * blockSize, (seq + 1) * blockSize)));
    }
  }
  await conn.command(memEnd(stub.entry), {
    timeoutMs: state.stub ? DEFAULT_TIMEOUT_MS : MEM_END_ROM_TIMEOUT_MS,
  });
  const greeting = await conn.next(DEFAULT_TIMEOUT_MS, "the stub's greeting");
  if (!greeting.every((b, i) => b === STUB_GREETING[i]) || greeting.length !== 4) {
    throw new ProtocolError(`stub did not start: got ${toHex(greeting)} instead of OHAI`);
  }
  state.stub = true;
}

/**
 * What a ROM whose CHANGE_BAUDRATE divides something else than the true
 * crystal (the chip table's `baudDivisorFrom`) must be sent, as a factor of
 * the rate wanted: the crystal as the ROM sees it (its UART clock divider
 * times the current rate) over the true one. 1 for the stub and the other
 * ROMs.
 */
export async function romBaudFactor(
  conn: Connection,
  chip: ChipInfo,
  state: DeviceState,
): Promise<number> {
  const quirk = state.stub ? undefined : chip.rom.baudDivisorFrom;
  if (!quirk) return 1;
  // The crystal, in MHz, from the UART divider the autobaud set at the current rate.
  const detected = ((await conn.readReg(chip.uartClkdivReg)) & 0xfffff) * conn.port.baud / 1e6;
  const crystal = detected > 33 ? 40 : 26;
  const cal = chip.rom.xtalCalibration;
  if (quirk === "estimate" && cal) {
    // The ESP32 ROM divides its own estimate, from its 8 MHz clock's calibration (esptool).
    const cali = (await conn.readReg(cal.caliReg) >>> 7) & 0x1ffffff;
    const ck8m = (await conn.readReg(cal.ck8mReg)) & 0xff;
    const estimate = cali * 15625 * ck8m / 40 / 1e6;
    return estimate > 0 ? estimate / crystal : 1;
  }
  if (quirk === "estimate") return detected / crystal;
  return crystal === 26 ? 40 / 26 : 1;
}

/**
 * CHANGE_BAUDRATE, then switches the port; returns the rate sent. A ROM
 * that derives its divider from something else than the true crystal is
 * sent a rate corrected for it ({@link romBaudFactor}).
 */
export async function changeBaud(
  conn: Connection,
  chip: ChipInfo,
  state: DeviceState,
  baud: number,
): Promise<number> {
  if (!state.stub && !chip.rom.changeBaud) {
    throw new UnsupportedError(`${chip.displayName} ROM cannot change baud; use the stub`);
  }
  const sent = Math.round(baud * await romBaudFactor(conn, chip, state));
  await conn.command(changeBaudrate(sent, state.stub ? conn.port.baud : 0));
  await conn.port.setBaud(baud);
  await conn.clock.sleep(50);
  await conn.flush();
  return sent;
}

/**
 * Uploads and starts the stub, the ROM first raised to `raise` baud when
 * given (item 4 of issue 16: the upload does not crawl at 115200). When the
 * greeting does not come at the raised rate, looks for the stub at the
 * rates it may have started at: esp-flasher-stub on the ESP32, -S2 and -P4
 * boosts its clock and sets its UART afresh from the ROM's record of the
 * rate (the value sent, which differs where the ROM's divider is
 * corrected), or from 115200 when the ROM keeps no record; a stub that
 * answers SYNC there is taken to the raised rate.
 */
async function startStub(
  conn: Connection,
  chip: ChipInfo,
  state: DeviceState,
  stub: StubImage,
  raise: number | undefined,
  trace?: (line: string) => void,
): Promise<void> {
  let sent: number | undefined;
  if (raise !== undefined && raise > conn.port.baud && chip.rom.changeBaud) {
    trace?.(`raising the ROM to ${raise} baud for the stub upload`);
    sent = await changeBaud(conn, chip, state, raise);
  }
  try {
    await runStub(conn, state, stub);
  } catch (e) {
    if (sent === undefined || raise === undefined || !linkError(e)) throw e;
    for (const rate of [...new Set([sent, 115200])].filter((r) => r !== raise)) {
      await conn.port.setBaud(rate);
      await conn.flush();
      let values: number[] = [];
      try {
        values = await sync(conn);
      } catch (err) {
        if (!linkError(err)) throw err;
      }
      await conn.flush();
      if (values.length > 0 && values.every((v) => v === 0)) {
        trace?.(`the stub's greeting was lost; the stub answers at ${rate} baud`);
        state.stub = true;
        await changeBaud(conn, chip, state, raise);
        return;
      }
    }
    await conn.port.setBaud(raise);
    throw e;
  }
}

/** SPI_ATTACH with the default pins (the ESP8266 ROM attaches in FLASH_BEGIN). */
export async function attach(conn: Connection, chip: ChipInfo, state: DeviceState): Promise<void> {
  if (!state.stub && !chip.rom.spiAttach) return;
  await conn.command(spiAttach(state.stub ? "stub" : "rom"), { retry: true });
}

/** The reset strategies to cycle through for `reset` on `port`. */
function strategiesFor(
  reset: BeforeReset | ResetFn,
  port: Port,
): (ResetStrategy | { name: string; fn: ResetFn })[] {
  if (typeof reset === "function") return [{ name: "custom", fn: reset }];
  if (reset === "default-reset" && port.hasModemLines) return defaultStrategies();
  if (reset === "usb-reset" && port.hasModemLines) return defaultStrategies({ usbJtag: true });
  const name = reset === "default-reset" || reset === "usb-reset"
    ? "none (port has no reset lines)"
    : reset;
  return [{ name, steps: [] }];
}

/** Resets and syncs until the device answers; returns the SYNC reply values. */
async function resetAndSync(conn: Connection, options: ConnectOptions): Promise<number[]> {
  const { port, clock } = conn;
  const attempts = options.attempts ?? 7;
  const strategies = strategiesFor(options.reset ?? "default-reset", port);
  let lastError: unknown;
  let bootText = "";
  for (let attempt = 0; attempt < attempts; attempt++) {
    const s = strategies[attempt % strategies.length];
    if ("fn" in s) await s.fn(port);
    else if (s.steps.length > 0) await runSequence(port, s.steps, (ms) => clock.sleep(ms));
    await conn.flush();
    for (let tries = 0; tries < 5; tries++) {
      try {
        // Every other try after the first reframes: a chip the reset did not reach (a pty,
        // ser2net in front of one, --before no-reset) may hold a stub whose receiver a cut
        // frame left out of step; a chip just reset is in step, and answers the first.
        const synced = await sync(conn, tries % 2 === 0 && tries > 0);
        options.onReset?.(s.name);
        return synced;
      } catch (e) {
        // A dead link is no failed sync: bring the port back (or end with one line), then go on.
        if (e instanceof PortLostError) {
          if (conn.recovering) throw e;
          await conn.restorePort("connecting", e);
          continue;
        }
        lastError = e;
        bootText += conn.takeNoise();
        await clock.sleep(50);
      }
    }
  }
  const boot = /boot:(0x[0-9a-fA-F]+)([^\r\n]*)/.exec(bootText);
  const hint = boot && !/download/i.test(boot[2])
    ? ` The chip printed boot mode ${boot[1]}${
      boot[2]
    }: it is not in download mode; hold BOOT and reset.`
    : "";
  throw new ConnectError(
    `failed to connect to the device on ${port.path}: no reply to SYNC after ${attempts} ` +
      `attempts (${(lastError as Error)?.message ?? "no response"}).${hint}`,
  );
}

/**
 * Reset, sync, detect, security, stub, baud, attach: connecting, and
 * reconnecting after a lost link. Fills `state` in place as it goes and
 * returns the detected chip.
 */
export async function establish(
  conn: Connection,
  state: DeviceState,
  options: ConnectOptions,
): Promise<ChipInfo> {
  if (options.reset !== "no-reset-no-sync") {
    const synced = await resetAndSync(conn, options);
    // The stub answers SYNC with value 0; every ROM with a non-zero value. A stub left
    // running (--after no-reset-stub, or a reset that could not reach the chip) is used as is.
    if (synced.every((v) => v === 0)) {
      state.stub = true;
      options.trace?.("the flasher stub is already running (it answered SYNC with 0): no upload");
    }
  }
  const { chip, info } = await detectChip(conn);
  state.info = info;
  if (options.chip && options.chip !== chip.name) {
    throw new ConnectError(
      `this chip is ${chip.displayName}, not ${CHIPS[options.chip].displayName}; ` +
        `use --chip ${chip.name} or --chip auto`,
      "WRONG_CHIP",
    );
  }
  state.chip = chip;
  const security = await readSecurity(conn, chip, state);
  if (!security?.secureDownload) state.revision = await readRevision(conn, chip);
  if (security?.secureDownload && options.stub) {
    options.trace?.("Secure Download Mode: no stub, plain writes only");
  }
  if (options.stub && !state.stub && !security?.secureDownload) {
    const stub = typeof options.stub === "function"
      ? await options.stub(chip, state.revision)
      : options.stub;
    const raise = state.speed
      ? state.speed.preStubBaud(chip)
      : typeof options.baud === "number"
      ? options.baud
      : undefined;
    if (stub) {
      try {
        await startStub(conn, chip, state, stub, raise, options.trace);
      } catch (e) {
        // A raised rate the link cannot carry: never again, and connect afresh.
        if (!state.speed || raise === undefined || !linkError(e) || state.stub) throw e;
        state.speed.lower(raise, `the stub upload failed (${(e as Error).message})`);
        await conn.port.setBaud(115200);
        return establish(conn, state, options);
      }
    }
  }
  const port = conn.port;
  if (state.speed) {
    await attach(conn, chip, state);
    await state.speed.settle(conn, chip, state);
    return chip;
  }
  const baud = options.baud;
  if (typeof baud === "number" && baud > port.baud && (state.stub || chip.rom.changeBaud)) {
    await changeBaud(conn, chip, state, baud);
  }
  await attach(conn, chip, state);
  return chip;
}

/**
 * The reconnect hook of a session connected with `options`: a device that
 * answers as it should (the stub that ran, or the ROM of a session without
 * a stub) needs nothing more; one back in its ROM although the stub ran, or
 * silent (it reset, or the link dropped and came back), is connected afresh
 * at 115200 baud, as the same chip, with fewer attempts. Throws
 * {@link LinkLostError} when that fails.
 */
export function reconnectHook(state: DeviceState, options: ConnectOptions): ReconnectHook {
  return async (answer: SyncAnswer, c: Connection) => {
    if (answer === "stub" && state.stub) return;
    if (answer === "rom" && !state.stub && !options.stub) return;
    c.trace?.(`device ${answer === "none" ? "silent" : "back in its ROM"}; reconnecting`);
    await c.port.setBaud(115200);
    state.stub = false;
    try {
      await establish(c, state, {
        ...options,
        chip: state.chip?.name ?? options.chip,
        attempts: Math.min(3, options.attempts ?? 7),
      });
    } catch (e) {
      throw c.lost("reconnect", e);
    }
  };
}

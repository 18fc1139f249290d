/**
 * The virtual ESP device: a chip with its flash, its board's auto-reset
 * circuit and a UART, running the mask ROM's download loader and, once RAM
 * code is uploaded and started, the flasher stub's command set (§1-3).
 * Built from the protocol reference and esptool's behaviour of record, not
 * from espdelta's client; the choices where the sources are silent are
 * written in rom.ts and stub.ts.
 *
 * Decision: the emulator cannot execute Xtensa or RISC-V code. It keeps what
 * was uploaded to RAM and, on a jump (MEM_END), recognises the flasher stubs
 * it knows by their contents (known_stubs.ts): a known stub built for this
 * chip and revision, started at its entry point, sends the single
 * unsolicited frame `OHAI` and from then on speaks its protocol (the
 * esp-flasher-stub of esptool v5 and esptool-js 0.7.0, flasher_stub.ts, or
 * the legacy stub, stub.ts). Any other program runs as user code: the loader
 * protocol stops (mode "app") and the device's own log says why.
 *
 * Every byte the device sends goes through one place (#transmit), tagged
 * with the UART rate it is sent at; time comes from an injected clock. The
 * timing model (timing.ts) times what crosses; the fault model (faults.ts)
 * cuts, corrupts, stalls and resets at the UART and the command loop.
 * @module
 */

import { type ChipInfo, type ChipName, CHIPS } from "../chips/chips.ts";
import { Op, opName, STUB_GREETING } from "../protocol/opcodes.ts";
import { slipEncode } from "../protocol/slip.ts";
import { bootText, type ResetCause } from "./boot_text.ts";
import { FlashBoot } from "./flash_boot.ts";
import { type DeviceClock, realClock } from "./clock.ts";
import type { DeviceCore, SecurityFacts } from "./core.ts";
import { NorFlash, winbondJedecId } from "./flash.ts";
import { FlashBus, type FlashTimer, UNTIMED } from "./flash_bus.ts";
import { type BridgeOptions, VirtualBridge } from "./bridge.ts";
import { type EfuseSecurity, Registers } from "./registers.ts";
import { RomLoader } from "./rom.ts";
import { StubLoader } from "./stub.ts";
import { FlasherStubLoader } from "./flasher_stub.ts";
import { garble, sameRate } from "./uart.ts";
import { FaultModel, type FaultOptions } from "./faults.ts";
import type { FlashCrypt } from "./crypt.ts";
import {
  type ChipIdentity,
  chipIdentity,
  formatRevision,
  parseRevision,
  type Revision,
} from "./identity.ts";
import { KNOWN_STUBS, type KnownStub, ramDigest, type StubKind } from "./known_stubs.ts";
import { RamImage } from "./ram.ts";
import { SpiFlashPort } from "./spi_flash.ts";
import { chipSecurity } from "./security.ts";
import { randomBytes } from "../random.ts";

export { RomErr } from "./rom.ts";
export { StubErr } from "./stub.ts";
export { FlasherErr } from "./flasher_stub.ts";

/** What the chip is running: the ROM download loader, the flasher stub, or anything else. */
export type DeviceMode = "rom" | "stub" | "app";

/** Options of a virtual device. */
export interface VirtualDeviceOptions {
  /** Chip family. */
  chip: ChipName;
  /** Flash size in bytes, a multiple of 4 KiB (default 4 MiB). */
  flashSize?: number;
  /** Initial flash contents from offset 0 (default erased). */
  flash?: Uint8Array;
  /** Base MAC, 6 bytes (default derived from `seed`, Espressif OUI 24:0A:C4). */
  mac?: number[];
  /** Seed for defaults such as the MAC (default 1). */
  seed?: number;
  /** Flash JEDEC id as W0 holds it (default Winbond: 0xEF, 0x40, capacity code of flashSize). */
  jedecId?: number;
  /** Non-volatile flash status registers 1-3 at power-on (default 00 02 60; flash.ts). */
  flashStatus?: number[];
  /**
   * Silicon revision, "v3.1" or {major, minor} (default: the part on sale,
   * identity.ts); written into the eFuse fields esptool reads.
   */
  revision?: string | Revision;
  /** Run every known stub as this kind instead of its own (default: each its own). */
  stubKind?: StubKind;
  /** More programs to run as flasher stubs, beside the known ones (known_stubs.ts). */
  knownStubs?: KnownStub[];
  /** Called with each line of the device's own log (also kept in {@link VirtualDevice.log}). */
  onLog?: (line: string) => void;
  /** State at power-on (default "download"). */
  bootMode?: "download" | "flash";
  /**
   * Clock for the reset circuit and, later, timing (default the real clock;
   * see DeviceClock and ManualClock in clock.ts).
   */
  clock?: { now(): number; setTimer(ms: number, fn: () => void): () => void };
  /** Crystal frequency in Hz (default 26 MHz on ESP8266, 32 MHz on ESP32-H2, else 40 MHz). */
  xtalHz?: number;
  /**
   * ESP32 only: the crystal frequency the ROM estimates from its drifting
   * 8 MHz clock (default exact). The ROM's CHANGE_BAUDRATE divides this by
   * the rate asked for, so a host must send `baud × estimate / crystal`, as
   * esptool does from the RTC calibration registers it reads.
   */
  romXtalEstimateHz?: number;
  /** GET_SECURITY_INFO flags word (default 0). */
  securityFlags?: number;
  /** FLASH_CRYPT_CNT eFuse value (default 0: encryption off). */
  flashCryptCnt?: number;
  /**
   * The seven key purpose bytes of GET_SECURITY_INFO (default: KEY0/KEY1 as
   * the burned flash encryption key needs them, and the seventh byte as the
   * chip's ROM reports it, identity.ts).
   */
  keyPurposes?: number[];
  /** ECO / API version word of GET_SECURITY_INFO (default: the chip's, identity.ts). */
  ecoVersion?: number;
  /** Delay between EN release and the chip sampling its boot pin, in ms (the RC on EN; default 5). */
  enDelayMs?: number;
  /** Faults to inject (faults.ts; default none). */
  faults?: FaultOptions;
  /**
   * Serve the chip's USB-Serial/JTAG port instead of a UART behind a USB
   * bridge (ESP32-S3, -C3, -C5, -C6, -H2, -P4 only). Its DTR/RTS are not
   * wired to pins: entering RTS-without-DTR resets the chip at once (a core
   * reset, straps not re-sampled), into download mode if DTR was asserted in
   * the state before (esptool's USB-JTAG sequence), else as the straps
   * latched at the last power-on, EN or RTC watchdog reset say.
   */
  usbSerialJtag?: boolean;
  /**
   * The USB bridge between host and chip (bridge.ts): a known one by id
   * (`cp2102`, `ch340`, `ft232r`, ...) or {@link BridgeOptions}. Above its
   * top rate bytes may arrive corrupted, both ways. `usb-serial-jtag` serves
   * the chip's USB-Serial/JTAG port instead (as `usbSerialJtag`): no UART,
   * the baud rate is ignored. Default: none (an ideal link).
   */
  bridge?: string | BridgeOptions;
  /**
   * Flash-encryption key of the chip's engine (crypt.ts): 32 bytes on the
   * ESP32 (AES-256); 32 (XTS-AES-128) on the S2, S3, C3, C5, C6, H2 and P4,
   * or 64 (XTS-AES-256) on the S2, S3, C5 and P4; 16 or 32 on the C2.
   * Default: one derived from `seed` when `flashCryptCnt` has an odd number
   * of bits set (encryption on); else none, which on the ESP32 means the
   * all-zero key of blank eFuses and elsewhere that encrypted writes fail.
   * It is never sent to the host.
   */
  flashEncryptionKey?: Uint8Array;
  /** ESP32 FLASH_CRYPT_CONFIG (default 0xF with a key, 0 on blank eFuses). */
  flashCryptConfig?: number;
}

/** One handled command, for tests. */
export interface CommandRecord {
  /** Opcode. */
  op: number;
  /** 0 on success, else the two status bytes as one big-endian number (0x0105, 0xC100). */
  status: number;
}

/** Where device output goes: the bytes, and the UART rate they are sent at. */
export type TransmitListener = (bytes: Uint8Array, baud: number) => void;

const KB = 1024;

/** Chips on which esp-flasher-stub boosts the clock over UART and re-programs the divider. */
const CLOCK_BOOST_ON_UART = new Set<ChipName>(["esp32", "esp32s2", "esp32p4"]);

/** Chips with a USB-Serial/JTAG peripheral. */
const USB_SERIAL_JTAG = new Set<ChipName>([
  "esp32s3",
  "esp32c3",
  "esp32c5",
  "esp32c6",
  "esp32h2",
  "esp32p4",
]);

function defaultMac(seed: number): number[] {
  const s = Math.imul(seed >>> 0, 2654435761) >>> 0;
  return [0x24, 0x0a, 0xc4, (s >>> 16) & 0xff, (s >>> 8) & 0xff, s & 0xff];
}

/** `length` pseudo-random bytes from the seed and a salt (a burned key, the flash's unique id). */
function seededBytes(seed: number, length: number, salt = 0): Uint8Array {
  return randomBytes(length, (Math.imul(seed >>> 0, 0x9e3779b1) ^ salt) >>> 0);
}

function defaultXtal(chip: ChipName): number {
  return chip === "esp8266" ? 26_000_000 : chip === "esp32h2" ? 32_000_000 : 40_000_000;
}

/**
 * SLIP receiver as the legacy stub's `SLIP_recv_byte` works (the ROM is
 * assumed alike), or, `strict`, as esp-flasher-stub's `slip_recv_byte`: an
 * invalid escape or a frame past the buffer drops the frame.
 */
class SlipReceiver {
  #state: "idle" | "frame" | "escape" = "idle";
  #buf: number[] = [];

  reset(): void {
    this.#state = "idle";
    this.#buf = [];
  }

  /**
   * Feeds bytes; `limit` cuts a frame at that length, the rest starting a
   * new one (strict: a longer frame is dropped).
   */
  push(
    bytes: Uint8Array,
    limit: () => number,
    deliver: (frame: Uint8Array) => void,
    strict: () => boolean = () => false,
  ): void {
    for (const b of bytes) {
      if (b === 0xc0) {
        if (this.#state === "idle") {
          this.#state = "frame";
        } else {
          // An empty frame (C0 C0) ends here without a command.
          if (this.#buf.length > 0) deliver(new Uint8Array(this.#buf));
          this.#buf = [];
          this.#state = "idle";
        }
        continue;
      }
      if (this.#state === "idle") continue; // noise between frames
      let out = -1;
      if (this.#state === "escape") {
        // An invalid escape drops the byte and stays escaping, as the legacy stub does.
        if (b === 0xdc) out = 0xc0;
        else if (b === 0xdd) out = 0xdb;
        if (out >= 0) this.#state = "frame";
        else if (strict()) {
          this.reset();
          continue;
        }
      } else if (b === 0xdb) {
        this.#state = "escape";
      } else {
        out = b;
      }
      if (out < 0) continue;
      this.#buf.push(out);
      if (strict()) {
        if (this.#buf.length > limit()) this.reset();
      } else if (this.#buf.length >= limit()) {
        deliver(new Uint8Array(this.#buf));
        this.#buf = [];
      }
    }
  }
}

/** A virtual ESP chip with its flash. */
export class VirtualDevice {
  /** The chip's facts. */
  readonly chip: ChipInfo;
  /** The flash chip. */
  readonly flash: NorFlash;
  /** Revision, package and the ROM facts that go with them. */
  readonly identity: ChipIdentity;
  /** Every command handled, in order. */
  readonly commandLog: CommandRecord[] = [];
  /** The device's own log: what the chip did that the host cannot see (never sent). */
  readonly log: string[] = [];
  #faults: FaultModel;
  readonly #bus: FlashBus;
  readonly #spiFlash: SpiFlashPort;
  readonly #clock: DeviceClock;
  readonly #mac: number[];
  readonly #xtalHz: number;
  readonly #romXtalEstimateHz: number;
  readonly #security: SecurityFacts;
  readonly #efuseSecurity: EfuseSecurity;
  readonly #enDelayMs: number;
  readonly #crypt: FlashCrypt | undefined;
  readonly #knownStubs: readonly KnownStub[];
  readonly #stubKind: StubKind | undefined;
  readonly #onLog: ((line: string) => void) | undefined;
  readonly #receiver = new SlipReceiver();
  readonly #bridge: VirtualBridge | undefined;
  #regs: Registers;
  #baud = 115200;
  /** The rate the ROM's CHANGE_BAUDRATE was last asked for (its UART record). */
  #romBaudRecord = 115200;
  #autobaud = true;
  #mode: DeviceMode = "rom";
  #program: RomLoader | StubLoader | FlasherStubLoader | undefined;
  #runningStub: StubKind | undefined;
  readonly #ram = new RamImage();
  #after: (() => void)[] = [];
  #tx: TransmitListener = () => {};
  #lines = { dtr: false, rts: false };
  /** The straps as latched at the last power-on, EN or RTC watchdog reset. */
  #strap: "download" | "flash" = "download";
  readonly #usbJtag: boolean;
  #run: FlashBoot | undefined;
  #inReset = false;
  #cancelEnTimer: (() => void) | undefined;
  readonly #core: DeviceCore;

  /**
   * A powered-on device.
   *
   * @example
   * ```ts
   * import { VirtualDevice } from "./device.ts";
   * const device = new VirtualDevice({ chip: "esp32c3", flashSize: 2 * 1024 * 1024 });
   * device.mode; // "rom"
   * ```
   */
  constructor(options: VirtualDeviceOptions) {
    const chip = CHIPS[options.chip];
    if (!chip) throw new RangeError(`unknown chip ${options.chip}`);
    this.chip = chip;
    const size = options.flashSize ?? 4 * 1024 * KB;
    const seed = options.seed ?? 1;
    const revision = typeof options.revision === "string"
      ? parseRevision(options.revision)
      : options.revision;
    this.identity = chipIdentity(chip.name, revision);
    this.flash = new NorFlash(size, options.flash, {
      jedecId: options.jedecId ?? winbondJedecId(size),
      uniqueId: seededBytes(seed, 8, 0x4b),
      status: options.flashStatus,
    });
    this.#bus = new FlashBus(this.flash);
    this.#spiFlash = new SpiFlashPort(this.flash);
    this.#clock = options.clock ?? realClock;
    this.#mac = options.mac ?? defaultMac(seed);
    if (this.#mac.length !== 6 || this.#mac.some((b) => !(b >= 0 && b <= 255))) {
      throw new RangeError(`mac must be 6 bytes, got ${JSON.stringify(this.#mac)}`);
    }
    this.#xtalHz = options.xtalHz ?? defaultXtal(chip.name);
    this.#romXtalEstimateHz = options.romXtalEstimateHz ?? this.#xtalHz;
    const security = chipSecurity(chip, this.identity, options, (n) => seededBytes(seed, n));
    this.#security = security.facts;
    this.#efuseSecurity = security.efuse;
    this.#crypt = security.crypt;
    this.#enDelayMs = options.enDelayMs ?? 5;
    if (options.bridge !== undefined) {
      this.#bridge = new VirtualBridge(
        typeof options.bridge === "string"
          ? { bridge: options.bridge, seed }
          : { seed, ...options.bridge },
      );
      if (this.#bridge.ignoresBaud && this.#bridge.info.id !== "usb-serial-jtag") {
        throw new RangeError(`the ${this.#bridge.info.name} is not modelled`);
      }
    }
    this.#usbJtag = (options.usbSerialJtag ?? false) || (this.#bridge?.ignoresBaud ?? false);
    if (this.#usbJtag && !USB_SERIAL_JTAG.has(chip.name)) {
      throw new RangeError(`${chip.displayName} has no USB-Serial/JTAG port`);
    }
    this.#knownStubs = [...KNOWN_STUBS, ...(options.knownStubs ?? [])];
    this.#stubKind = options.stubKind;
    this.#onLog = options.onLog;
    this.#faults = new FaultModel(options.faults ?? {});
    this.#regs = this.#newRegisters();
    this.#core = this.#makeCore();
    this.#strap = options.bootMode ?? "download";
    this.#boot(this.#strap, "poweron");
  }

  /** The fault model in force (inert unless faults were given); `faults.heal()` ends them. */
  get faults(): FaultModel {
    return this.#faults;
  }

  /** Starts injecting `options` from now on (commands counted from here). */
  injectFaults(options: FaultOptions): FaultModel {
    this.#faults = new FaultModel(options);
    return this.#faults;
  }

  /** What the chip is running ("app" also while it is held in reset). */
  get mode(): DeviceMode {
    return this.#inReset ? "app" : this.#mode;
  }

  /** A register as READ_REG would answer it now (tests look at what WRITE_REG left). */
  peekRegister(addr: number): number {
    return this.#regs.read(addr);
  }

  /** True while EN is held low by the reset circuit. */
  get inReset(): boolean {
    return this.#inReset;
  }

  /** Device-side UART rate (115200 after boot; 0 if a CHANGE_BAUDRATE left no usable divider). */
  get baud(): number {
    return this.#baud;
  }

  /** Where device output goes (one listener; a transport sets it). */
  onTransmit(cb: (bytes: Uint8Array, baud: number) => void): void {
    this.#tx = cb;
  }

  /** Commands handled so far, counted by opcode name (`SYNC`, `FLASH_DATA`, `0x55`). */
  commandCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const c of this.commandLog) counts[opName(c.op)] = (counts[opName(c.op)] ?? 0) + 1;
    return counts;
  }

  /** Power-cycles the chip into the download loader or a flash boot. Flash contents stay. */
  powerCycle(bootMode: "download" | "flash" = "download"): void {
    this.dispose();
    this.#inReset = false;
    this.#strap = bootMode;
    this.flash.powerOn();
    this.#boot(bootMode, "poweron");
  }

  /**
   * EN pulsed with the boot pin held as `bootMode` says: what a host's reset
   * sequence does through the auto-reset circuit (esptool's classic reset
   * gives "download"), for links that cannot carry DTR and RTS (a pty). An
   * external reset: the straps are latched afresh, the flash chip stays
   * powered.
   */
  pulseEn(bootMode: "download" | "flash"): void {
    this.dispose();
    this.#inReset = false;
    this.#strap = bootMode;
    this.#boot(bootMode, "external");
  }

  /** True when the board serves the chip's USB-Serial/JTAG port (no UART: the baud rate is ignored). */
  get usbSerialJtag(): boolean {
    return this.#usbJtag;
  }

  /** The board's USB bridge, when one was given. */
  get bridge(): VirtualBridge | undefined {
    return this.#bridge;
  }

  /**
   * Where the time of flash work goes (flash_bus.ts); the timing model sets
   * it, undefined takes it away (nothing takes time).
   */
  setFlashTimer(timer: FlashTimer | undefined): void {
    this.#bus.timer = timer ?? UNTIMED;
  }

  /**
   * Cancels pending timers (a transport calls this when it closes): the
   * reset circuit, the RTC watchdog and a boot from flash in progress (its
   * further output and its heartbeat).
   */
  dispose(): void {
    this.#cancelEnTimer?.();
    this.#cancelEnTimer = undefined;
    this.#cancelWdt?.();
    this.#cancelWdt = undefined;
    this.#run?.cancel();
    this.#run = undefined;
  }

  /** The boot pin as the board drives it: low only while DTR is asserted and RTS is not. */
  #bootPinLow(): boolean {
    return !this.#usbJtag && this.#lines.dtr && !this.#lines.rts;
  }

  /**
   * A reset. Power-on, EN and the RTC watchdog latch the straps afresh;
   * software resets, timer group 0's watchdog and the USB-Serial/JTAG
   * peripheral's core reset keep what was latched (as Espressif's datasheets
   * and esptool's documentation describe).
   */
  #reset(cause: ResetCause, usbDownload = false): void {
    this.dispose();
    if (cause === "poweron" || cause === "external" || cause === "watchdog") {
      this.#strap = this.#bootPinLow() ? "download" : "flash";
    }
    this.#boot(usbDownload ? "download" : this.#strap, cause);
  }

  /**
   * The auto-reset circuit of Espressif boards (§4.1): RTS drives EN and DTR
   * the boot pin through two transistors, so EN is low only when RTS is
   * asserted and DTR is not, and the boot pin is low only when DTR is
   * asserted and RTS is not. The chip leaves reset a few milliseconds after
   * EN rises (the RC on EN, `enDelayMs`) and samples the boot pin then:
   * low boots the ROM download loader, high boots from flash.
   */
  setLines(lines: { dtr?: boolean; rts?: boolean }): void {
    const before = { ...this.#lines };
    if (lines.dtr !== undefined) this.#lines.dtr = lines.dtr;
    if (lines.rts !== undefined) this.#lines.rts = lines.rts;
    if (this.#usbJtag) {
      const resetNow = this.#lines.rts && !this.#lines.dtr;
      if (resetNow && !(before.rts && !before.dtr)) this.#reset("usb", before.dtr);
      return;
    }
    const enLow = this.#lines.rts && !this.#lines.dtr;
    if (enLow) {
      this.dispose();
      this.#inReset = true;
    } else if (this.#inReset && !this.#cancelEnTimer) {
      this.#cancelEnTimer = this.#clock.setTimer(this.#enDelayMs, () => {
        this.#cancelEnTimer = undefined;
        this.#inReset = false;
        this.#reset("external");
      });
    }
  }

  /**
   * Bytes from the host. `baud` is the rate they were sent at (omit it for a
   * link without one, such as TCP). Bytes at a rate the UART is not set to
   * arrive garbled, except that the ROM follows the host's rate until it
   * has decoded its first frame (it autobauds on the SYNC pattern).
   */
  receive(bytes: Uint8Array, baud?: number): void {
    bytes = this.#faults.incoming(bytes);
    if (this.#inReset || bytes.length === 0) return;
    if (this.#bridge) bytes = this.#bridge.pass(bytes, this.#baud);
    if (baud !== undefined && !this.#usbJtag && !sameRate(baud, this.#baud)) {
      if (this.#mode === "rom" && this.#autobaud) this.#setBaud(baud);
      else bytes = garble(bytes);
    }
    if (this.#mode === "app" || !this.#program) return;
    const strict = () => this.#program instanceof FlasherStubLoader;
    this.#receiver.push(bytes, () => this.#program?.frameLimit ?? Infinity, (frame) => {
      const program = this.#program;
      if (!program || this.#mode === "app") return; // the code jumped away: nobody listens
      if (this.#mode === "rom") this.#autobaud = false;
      const fault = frame.length >= 8 && frame[0] === 0 ? this.#commandFault(frame) : undefined;
      if (fault === "before") return this.#faultReset();
      if (fault === "after") this.#muted = true;
      program.frame(frame);
      const after = this.#after;
      this.#after = [];
      for (const fn of after) fn();
      if (fault === "after") {
        this.#muted = false;
        this.#faultReset();
      }
    }, strict);
  }

  /** Applies the fault model to a command frame; says whether the chip resets on it. */
  #commandFault(frame: Uint8Array): "before" | "after" | undefined {
    const f = this.#faults.command();
    const op = frame[1];
    if (op === Op.FLASH_DATA || op === Op.FLASH_DEFL_DATA || op === Op.MEM_DATA) {
      this.#faults.corruptData(frame);
    }
    if (f.stallMs !== undefined) this.#stallUntil = this.#clock.now() + f.stallMs;
    return f.reset;
  }

  /** A reset the fault model injects: EN pulses with the straps as the lines hold them. */
  #faultReset(): void {
    this.#reset("external");
  }

  #muted = false;
  #boots = 0;

  /** Times the chip has booted (power-on, resets, watchdog); a reset ends whatever it was doing. */
  get boots(): number {
    return this.#boots;
  }

  #stallUntil = 0;
  #held: { bytes: Uint8Array; baud: number }[] = [];

  #newRegisters(): Registers {
    return new Registers(this.chip, {
      mac: this.#mac,
      xtalHz: this.#xtalHz,
      romXtalEstimateHz: this.#romXtalEstimateHz,
      onWatchdog: (ticks) => this.#armWatchdog(ticks),
      flash: this.#spiFlash,
      identity: this.identity,
      security: this.#efuseSecurity,
    });
  }

  /**
   * The RTC watchdog resets the whole chip, straps included, after its
   * timeout (ticks of the ~150 kHz slow clock), as esptool's watchdog reset
   * relies on when USB-JTAG cannot pulse EN.
   */
  #armWatchdog(ticks: number): void {
    this.#cancelWdt?.();
    const ms = Math.max(1, Math.round(ticks / 150));
    this.#cancelWdt = this.#clock.setTimer(ms, () => {
      this.#cancelWdt = undefined;
      this.#reset("watchdog");
    });
  }

  #cancelWdt: (() => void) | undefined;

  #makeCore(): DeviceCore {
    // deno-lint-ignore no-this-alias
    const device = this;
    const romXtalHz = this.chip.name === "esp32"
      ? this.#romXtalEstimateHz
      : this.chip.name === "esp32c2"
      ? 40_000_000 // the C2 ROM assumes 40 MHz whatever the crystal
      : this.#xtalHz;
    return {
      chip: this.chip,
      bus: this.#bus,
      get regs() {
        return device.#regs;
      },
      xtalHz: this.#xtalHz,
      romXtalHz,
      security: this.#security,
      crypt: this.#crypt,
      secureDownload: (this.#security.flags & 4) !== 0 && this.chip.rom.securityInfo !== "none",
      get baud() {
        return device.#baud;
      },
      sendPacket: (packet) => this.#transmit(slipEncode(packet)),
      record: (op, status) => this.commandLog.push({ op, status }),
      afterReply: (fn) => this.#after.push(fn),
      ramWrite: (addr, data) => this.#ram.write(addr, data),
      jump: (entry) => this.#jump(entry),
      log: (line) => this.#log(line),
      reboot: () => this.#reset("software"),
      runApp: () => this.#runFromFlash(0),
      setBaud: (baud) => this.#setBaud(baud),
      recordRomBaud: (baud) => this.#romBaudRecord = baud,
    };
  }

  #setBaud(baud: number): void {
    this.#baud = baud;
    this.#regs.setBaud(baud);
  }

  /** The one way out: every byte the device sends, at the current UART rate. */
  #transmit(bytes: Uint8Array): void {
    if (this.#muted || this.#faults.linkDown) return;
    let out = this.#faults.corruptReply(bytes);
    if (this.#bridge) out = this.#bridge.pass(out, this.#baud);
    if (this.#faults.healed) this.#held = [];
    const stalled = !this.#faults.healed && this.#clock.now() < this.#stallUntil;
    if (this.#held.length === 0 && !stalled) return this.#tx(out, this.#baud);
    // A stall holds output, in order, until it ends.
    this.#faults.counts.stalled++;
    if (this.#held.length === 0) {
      this.#clock.setTimer(this.#stallUntil - this.#clock.now(), () => {
        const held = this.#held;
        this.#held = [];
        if (this.#faults.healed) return;
        for (const h of held) if (!this.#faults.linkDown) this.#tx(h.bytes, h.baud);
      });
    }
    this.#held.push({ bytes: out, baud: this.#baud });
  }

  #boot(mode: "download" | "flash", cause: ResetCause): void {
    this.#run?.cancel();
    this.#run = undefined;
    this.#boots++;
    this.#cancelWdt?.();
    this.#cancelWdt = undefined;
    this.#receiver.reset();
    this.#after = [];
    this.#ram.clear();
    this.#regs = this.#newRegisters();
    this.#bus.limit = this.flash.size;
    const secureDownload = (this.#security.flags & 4) !== 0 &&
      this.chip.rom.securityInfo !== "none";
    const log = bootText(this.chip.name, mode === "download", cause, { secureDownload });
    this.#setBaud(log.baud);
    this.#transmit(new TextEncoder().encode(log.text));
    // After its log the UART runs at 115200 and the ROM autobauds on the first SYNC.
    this.#setBaud(115200);
    this.#romBaudRecord = 115200;
    this.#autobaud = true;
    if (mode === "download") this.#enter("rom");
    else this.#runFromFlash(log.text.length);
  }

  /**
   * Boots what the flash holds (flash_boot.ts), `bannerChars` after the
   * reset banner began; the ESP8266's flash boot is not modelled (its app
   * runs silently).
   */
  #runFromFlash(bannerChars: number): void {
    this.#run?.cancel();
    this.#enter("app");
    if (this.chip.name === "esp8266") return;
    const encoder = new TextEncoder();
    const run = new FlashBoot({
      chip: this.chip,
      read: (offset, length) => this.#readFlash(offset, length),
      clock: this.#clock,
      chipRevision: this.identity.revision.major * 100 + this.identity.revision.minor,
      transmit: (text) => this.#transmit(encoder.encode(text)),
      reset: (cause) => this.#reset(cause),
    });
    this.#run = run;
    run.start(bannerChars);
  }

  /** Flash as the chip reads it at boot; past the end reads as erased. */
  #readFlash(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, length)).fill(0xff);
    const end = Math.min(this.flash.size, offset + length);
    if (offset < end && offset >= 0) out.set(this.flash.data.subarray(offset, end));
    return out;
  }

  #enter(mode: DeviceMode, kind?: StubKind): void {
    this.#mode = mode;
    this.#runningStub = mode === "stub" ? kind : undefined;
    this.#receiver.reset();
    this.#program = mode === "rom"
      ? new RomLoader(this.#core)
      : mode === "stub"
      ? (kind === "legacy" ? new StubLoader(this.#core) : new FlasherStubLoader(this.#core))
      : undefined;
  }

  /** The kind of flasher stub running (undefined unless mode is "stub"). */
  get stubKind(): StubKind | undefined {
    return this.#mode === "stub" ? this.#runningStub : undefined;
  }

  #log(line: string): void {
    this.log.push(line);
    this.#onLog?.(line);
  }

  /**
   * The uploaded program starts at `entry`. A known stub for this chip and
   * revision, entered at its entry point, greets and serves; anything else
   * runs as user code and the loader protocol stops.
   */
  #jump(entry: number): void {
    const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;
    // The program is what was uploaded since the last one started.
    const segments = this.#ram.segments();
    const size = this.#ram.size;
    this.#ram.clear();
    const digest = ramDigest(segments);
    const known = this.#knownStubs.find((k) => k.digest === digest);
    const where = `${size} bytes in ${segments.length} segment(s), sha256 ${digest.slice(0, 16)}`;
    const stop = (why: string) => {
      this.#log(
        `RAM program at ${hex(entry)} (${where}) ${why}; it runs and the loader protocol stops`,
      );
      this.#enter("app");
    };
    if (!known) return stop("is not a flasher stub this device knows");
    const r = this.identity.revision;
    if (known.chip !== this.chip.name) {
      return stop(
        `is ${known.name} for ${known.chip}, which cannot run on ${this.chip.displayName}`,
      );
    }
    if (known.majors && (r.major < known.majors[0] || r.major > known.majors[1])) {
      return stop(
        `is ${known.name} for revisions v${known.majors[0]}.x-v${known.majors[1]}.x, not ${
          formatRevision(r)
        }`,
      );
    }
    if (entry !== known.entry) {
      return stop(`is ${known.name}, entered at ${hex(entry)} instead of ${hex(known.entry)}`);
    }
    const kind = this.#stubKind ?? known.kind;
    this.#log(`${known.name} started${kind === known.kind ? "" : `, run as the ${kind} stub`}`);
    this.#enter("stub", kind);
    if (kind === "esp-flasher-stub" && CLOCK_BOOST_ON_UART.has(this.chip.name)) {
      // esp-flasher-stub (main.c, v1.1.0 on) raises the CPU/APB clock on these
      // chips and sets the UART divider afresh for the rate in the ROM's UART
      // record: the last CHANGE_BAUDRATE the ROM took, else 115200.
      this.#setBaud(this.#romBaudRecord);
    }
    this.#transmit(slipEncode(STUB_GREETING));
  }
}

/**
 * Facts about the USB bridges ESP boards hang behind: which bridge a USB
 * VID:PID (and, where several parts share one, the product string) names,
 * the fastest UART rate each is specified for, the latency its driver adds,
 * and Espressif's own USB ports, which ignore the baud rate. A leaf like the
 * chip table: the loader picks rates from it, the virtual device models the
 * bridges it names.
 *
 * Sources of the top rates (datasheets, as the vendors state them):
 * Silicon Labs CP2102/9 datasheet ("300 bps to 1 Mbps"; the Linux cp210x
 * driver keeps the older parts under 1 Mbaud), CP2102N datasheet (3 Mbaud),
 * CP2104/CP2105/CP2108 datasheets (2 Mbps); WCH CH340 datasheet (50 bps to
 * 2 Mbps), CH343 (6 Mbps), CH9102 (4 Mbps); FTDI FT232R and FT-X datasheets
 * (3 Mbaud), FT2232H/FT4232H/FT232H (12 Mbaud; the full-speed FT2232C/D:
 * 3 Mbaud). Latency: FTDI parts hold short reads for their latency timer,
 * 16 ms by default (FTDI AN232B-04); the others answer within a USB frame.
 * Espressif's USB-Serial/JTAG (VID 0x303A, PID 0x1001) and the ESP32-S2's
 * USB-OTG CDC port carry bytes over USB whatever the baud rate (esptool's
 * documentation: the baud setting has no effect there); their rate is the
 * USB full-speed bulk ceiling, 19 packets of 64 bytes per 1 ms frame.
 * @module
 */

import type { ChipName } from "./chips.ts";

/** One USB bridge (or Espressif USB port). */
export interface BridgeInfo {
  /** Short name, as `--bridge` takes it: `cp2102`, `ch340`, `usb-serial-jtag`. */
  id: string;
  /** What the vendor calls it. */
  name: string;
  /** USB vendor id. */
  vid: number;
  /** USB product id. */
  pid: number;
  /** The USB product string, where parts share a VID:PID (CP2102 and CP2102N). */
  product?: RegExp;
  /** Fastest UART rate the part is specified for. */
  maxBaud: number;
  /** Device-to-host latency of a short read through its driver, in ms. */
  usbLatencyMs: number;
  /** Espressif's USB ports: no UART, the baud rate is ignored. */
  ignoresBaud?: boolean;
  /** Bytes per second over USB where the baud rate is ignored. */
  usbBytesPerSec?: number;
}

/** USB full-speed bulk ceiling: 19 packets of 64 bytes in each 1 ms frame. */
const USB_FULL_SPEED_BULK = 19 * 64 * 1000;

/**
 * The known bridges. Where several share a VID:PID, the entries with a
 * product pattern come first and the last one (no pattern) is the
 * conservative fallback for that id.
 */
export const BRIDGES: readonly BridgeInfo[] = [
  {
    id: "cp2102n",
    name: "Silicon Labs CP2102N",
    vid: 0x10c4,
    pid: 0xea60,
    product: /CP2102N/i,
    maxBaud: 3_000_000,
    usbLatencyMs: 1,
  },
  {
    id: "cp2104",
    name: "Silicon Labs CP2104",
    vid: 0x10c4,
    pid: 0xea60,
    product: /CP2104/i,
    maxBaud: 2_000_000,
    usbLatencyMs: 1,
  },
  {
    id: "cp2102",
    name: "Silicon Labs CP2102",
    vid: 0x10c4,
    pid: 0xea60,
    maxBaud: 1_000_000,
    usbLatencyMs: 1,
  },
  {
    id: "cp2105",
    name: "Silicon Labs CP2105",
    vid: 0x10c4,
    pid: 0xea70,
    maxBaud: 2_000_000,
    usbLatencyMs: 1,
  },
  {
    id: "cp2108",
    name: "Silicon Labs CP2108",
    vid: 0x10c4,
    pid: 0xea71,
    maxBaud: 2_000_000,
    usbLatencyMs: 1,
  },
  { id: "ch340", name: "WCH CH340", vid: 0x1a86, pid: 0x7523, maxBaud: 2_000_000, usbLatencyMs: 1 },
  { id: "ch341", name: "WCH CH341", vid: 0x1a86, pid: 0x5523, maxBaud: 2_000_000, usbLatencyMs: 1 },
  { id: "ch343", name: "WCH CH343", vid: 0x1a86, pid: 0x55d3, maxBaud: 6_000_000, usbLatencyMs: 1 },
  {
    id: "ch9102",
    name: "WCH CH9102",
    vid: 0x1a86,
    pid: 0x55d4,
    maxBaud: 4_000_000,
    usbLatencyMs: 1,
  },
  {
    id: "ft232r",
    name: "FTDI FT232R",
    vid: 0x0403,
    pid: 0x6001,
    maxBaud: 3_000_000,
    usbLatencyMs: 16,
  },
  {
    id: "ft2232h",
    name: "FTDI FT2232H",
    vid: 0x0403,
    pid: 0x6010,
    product: /RS232-HS|2232H/i,
    maxBaud: 12_000_000,
    usbLatencyMs: 16,
  },
  {
    id: "ft2232",
    name: "FTDI FT2232C/D",
    vid: 0x0403,
    pid: 0x6010,
    maxBaud: 3_000_000,
    usbLatencyMs: 16,
  },
  {
    id: "ft4232h",
    name: "FTDI FT4232H",
    vid: 0x0403,
    pid: 0x6011,
    maxBaud: 12_000_000,
    usbLatencyMs: 16,
  },
  {
    id: "ft232h",
    name: "FTDI FT232H",
    vid: 0x0403,
    pid: 0x6014,
    maxBaud: 12_000_000,
    usbLatencyMs: 16,
  },
  { id: "ft-x", name: "FTDI FT-X", vid: 0x0403, pid: 0x6015, maxBaud: 3_000_000, usbLatencyMs: 16 },
  {
    id: "usb-serial-jtag",
    name: "Espressif USB-Serial/JTAG",
    vid: 0x303a,
    pid: 0x1001,
    maxBaud: Infinity,
    usbLatencyMs: 1,
    ignoresBaud: true,
    usbBytesPerSec: USB_FULL_SPEED_BULK,
  },
  {
    id: "usb-otg",
    name: "Espressif USB-OTG CDC (ESP32-S2)",
    vid: 0x303a,
    pid: 0x0002,
    maxBaud: Infinity,
    usbLatencyMs: 1,
    ignoresBaud: true,
    usbBytesPerSec: USB_FULL_SPEED_BULK,
  },
];

/**
 * The bridge a USB port is, from its VID:PID and product string; undefined
 * for an unknown one.
 *
 * @example
 * ```ts
 * import { bridgeForUsb } from "./bridges.ts";
 * import assert from "node:assert";
 * const n = bridgeForUsb(0x10c4, 0xea60, "CP2102N USB to UART Bridge Controller");
 * assert.strictEqual(n?.id, "cp2102n");
 * assert.strictEqual(bridgeForUsb(0x10c4, 0xea60, "CP2102 USB to UART Bridge Controller")?.id, "cp2102");
 * assert.strictEqual(bridgeForUsb(0x1234, 0x5678), undefined);
 * ```
 */
export function bridgeForUsb(vid?: number, pid?: number, product?: string): BridgeInfo | undefined {
  if (vid === undefined || pid === undefined) return undefined;
  return BRIDGES.find((b) =>
    b.vid === vid && b.pid === pid && (b.product === undefined || b.product.test(product ?? ""))
  );
}

/** The bridge named `id` (`--bridge`), or undefined. */
export function bridgeById(id: string): BridgeInfo | undefined {
  return BRIDGES.find((b) => b.id === id.toLowerCase());
}

/**
 * The rates `--baud auto` tries, fastest first: the standard rates from
 * esptool's documentation ("most hardware works with 230400, some with
 * 460800, 921600 and/or 1500000 or higher") up to 3 Mbaud.
 */
export const BAUD_LADDER: readonly number[] = [
  3_000_000,
  2_000_000,
  1_500_000,
  921_600,
  460_800,
  230_400,
  115_200,
];

/**
 * The fastest rate a chip's UART runs at in the download loaders. The
 * ESP32-family UARTs need a divider of at least 16 (ESP32 datasheet: 5 Mbps
 * from the 80 MHz APB clock), and the ROMs and stubs keep the UART on the
 * crystal: 40 MHz, so 2.5 Mbaud (32 MHz and 2 Mbaud on the ESP32-H2; the
 * ESP32-C2 also comes with a 26 MHz crystal, the case assumed here). The
 * ESP8266EX datasheet gives 4.5 Mbps.
 *
 * @example
 * ```ts
 * import { chipMaxBaud } from "./bridges.ts";
 * import assert from "node:assert";
 * assert.strictEqual(chipMaxBaud("esp32"), 2_500_000);
 * assert.strictEqual(chipMaxBaud("esp32c2"), 1_625_000);
 * ```
 */
export function chipMaxBaud(chip: ChipName): number {
  if (chip === "esp8266") return 4_500_000;
  const crystal = chip === "esp32h2" ? 32_000_000 : chip === "esp32c2" ? 26_000_000 : 40_000_000;
  return crystal / 16;
}

/**
 * The ladder rates that both the chip and the bridge reach, fastest first;
 * for an unknown bridge, those the chip reaches. Always ends with 115200.
 *
 * @example
 * ```ts
 * import { baudLadder, bridgeById } from "./bridges.ts";
 * import assert from "node:assert";
 * assert.deepStrictEqual(baudLadder("esp32", bridgeById("cp2102")), [921600, 460800, 230400, 115200]);
 * assert.deepStrictEqual(baudLadder("esp32", bridgeById("ch340"))[0], 2_000_000);
 * ```
 */
export function baudLadder(chip: ChipName, bridge?: BridgeInfo): number[] {
  const top = Math.min(chipMaxBaud(chip), bridge?.maxBaud ?? Infinity);
  return BAUD_LADDER.filter((r) => r <= top);
}

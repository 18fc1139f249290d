/**
 * espdelta: flash Espressif chips over the serial ROM bootloader protocol and
 * write only what differs on the device.
 *
 * @example
 * ```ts
 * import { CHIPS, slipEncode } from "@espdelta/espdelta";
 * console.log(CHIPS.esp32s3.bootloaderOffset, slipEncode(new Uint8Array([0xc0])));
 * ```
 * @module
 */

export * from "./src/protocol/bytes.ts";
export * from "./src/protocol/slip.ts";
export * from "./src/protocol/packet.ts";
export * from "./src/protocol/errors.ts";
export * from "./src/protocol/opcodes.ts";
export * from "./src/chips/chips.ts";
export type { Port, Signals } from "./src/serial/port.ts";

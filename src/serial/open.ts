/**
 * Opens a port by name: `socket://`, `rfc2217://`, or a local serial device.
 * @module
 */

import type { Port } from "./port.ts";
import { openTcp } from "./tcp.ts";

/** Opens `path` at `baud`. */
export async function openPort(path: string, options: { baud: number }): Promise<Port> {
  if (/^socket:\/\//i.test(path)) return await openTcp(path, options);
  if (/^rfc2217:\/\//i.test(path)) {
    const { openRfc2217 } = await import("./rfc2217.ts");
    return await openRfc2217(path, options);
  }
  const { openLocal } = await import("./local.ts");
  return await openLocal(path, options);
}

/**
 * Local serial devices: the libc backend on Linux; macOS and Windows
 * backends are chosen by OS.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";
import type { Port } from "./port.ts";

/** Opens a local serial port for this OS. */
export async function openLocal(
  path: string,
  options: { baud: number; onWarn?: (m: string) => void },
): Promise<Port> {
  if (Deno.build.os === "linux") {
    const { openPosix } = await import("./posix.ts");
    return await openPosix(path, options);
  }
  if (Deno.build.os === "darwin") {
    const [{ openPosix }, { darwinSys }] = await Promise.all([
      import("./posix.ts"),
      import("./darwin.ts"),
    ]);
    return await openPosix(path, { ...options, sys: darwinSys() });
  }
  if (Deno.build.os === "windows") {
    const { openWindows } = await import("./windows.ts");
    return await openWindows(path, options);
  }
  throw new EspdeltaError(
    "UNSUPPORTED",
    `local serial ports on ${Deno.build.os} are not supported yet; use socket:// or rfc2217://`,
  );
}

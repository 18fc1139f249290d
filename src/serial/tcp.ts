/**
 * `socket://host:port` ports.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";
import type { Port } from "./port.ts";
import { TcpPort } from "./stream_port.ts";

/** Splits `scheme://host:port[?query]`. */
export function parseHostUrl(url: string): { host: string; port: number; query: string } {
  const m = /^[a-z0-9]+:\/\/(\[[^\]]+\]|[^:/?]+):(\d+)\/?(?:\?(.*))?$/i.exec(url);
  if (!m || Number(m[2]) > 65535) {
    throw new EspdeltaError("USAGE", `invalid port URL '${url}': use socket://HOST:PORT`);
  }
  return { host: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2]), query: m[3] ?? "" };
}

/** Opens a raw TCP port. */
export async function openTcp(url: string, options: { baud?: number } = {}): Promise<Port> {
  const { host, port } = parseHostUrl(url);
  try {
    const conn = await Deno.connect({ hostname: host, port });
    return new TcpPort(url, conn, options.baud ?? 115200);
  } catch (e) {
    throw new EspdeltaError(
      "PORT_NOT_FOUND",
      `cannot connect to ${url}: ${(e as Error).message.split(" (os error")[0]}`,
    );
  }
}

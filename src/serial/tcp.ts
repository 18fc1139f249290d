/**
 * `socket://` ports.
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

/** Connects to `url`'s host and port, or throws PORT_NOT_FOUND with the reason in words. */
export async function dialTcp(url: string): Promise<Deno.TcpConn> {
  const { host, port } = parseHostUrl(url);
  try {
    return await Deno.connect({ hostname: host, port });
  } catch (e) {
    throw new EspdeltaError(
      "PORT_NOT_FOUND",
      `cannot connect to ${url}: ${(e as Error).message.split(" (os error")[0]}`,
    );
  }
}

/** Opens a raw TCP port; it can dial its server again after the link died. */
export async function openTcp(url: string, options: { baud?: number } = {}): Promise<Port> {
  const conn = await dialTcp(url);
  return new TcpPort(url, conn, options.baud ?? 115200, () => dialTcp(url));
}

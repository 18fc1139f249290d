/**
 * `socket://` ports.
 * @module
 */

import { EspdeltaError } from "../protocol/errors.ts";
import type { Port } from "./port.ts";
import { TcpPort } from "./stream_port.ts";

/**
 * Splits `scheme://host:port[?query]`. A URL that does not parse is
 * refused with a line that says what is missing, in its own scheme.
 *
 * @example
 * ```ts
 * import { deepStrictEqual, throws } from "node:assert";
 * import { parseHostUrl } from "./tcp.ts";
 * deepStrictEqual(parseHostUrl("rfc2217://[::1]:4000?ign_set_control"),
 *   { host: "::1", port: 4000, query: "ign_set_control" });
 * throws(() => parseHostUrl("rfc2217://"), {
 *   code: "USAGE",
 *   message: "invalid port 'rfc2217://': no host; use rfc2217://HOST:PORT, e.g. " +
 *     "rfc2217://localhost:4000",
 * });
 * ```
 */
export function parseHostUrl(url: string): { host: string; port: number; query: string } {
  const m = /^([a-z0-9]+):\/\/(\[[^\]]+\]|[^:/?]+):(\d+)\/?(?:\?(.*))?$/i.exec(url);
  if (m && Number(m[3]) <= 65535) {
    return { host: m[2].replace(/^\[|\]$/g, ""), port: Number(m[3]), query: m[4] ?? "" };
  }
  const scheme = (/^([a-z0-9]+):\/\//i.exec(url)?.[1] ?? "socket").toLowerCase();
  const example = scheme === "rfc2217" ? "localhost:4000" : "localhost:5555";
  const rest = url.replace(/^[a-z0-9]+:\/\//i, "").replace(/[/?].*$/, "");
  const hostPort = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(rest)!;
  const why = hostPort[1] === ""
    ? "no host"
    : hostPort[2] === undefined || hostPort[2] === ""
    ? "no port number"
    : !/^\d+$/.test(hostPort[2]) || Number(hostPort[2]) > 65535
    ? `'${hostPort[2]}' is not a port number (0-65535)`
    : "it does not parse";
  throw new EspdeltaError(
    "USAGE",
    `invalid port '${url}': ${why}; use ${scheme}://HOST:PORT, e.g. ${scheme}://${example}`,
  );
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

/**
 * Telnet (RFC 854/855) as RFC 2217 uses it, for both ends: the command and
 * option codes, IAC doubling of data, and a parser that splits a stream into
 * data, option negotiations and subnegotiations. The client (rfc2217.ts) and
 * the virtual board's server (emulator/rfc2217_server.ts) share it; each
 * answers negotiations its own way.
 * @module
 */

/** Interpret As Command. */
export const IAC = 255;
/** Negotiation verbs. */
export const DONT = 254;
/** Negotiation verbs. */
export const DO = 253;
/** Negotiation verbs. */
export const WONT = 252;
/** Negotiation verbs. */
export const WILL = 251;
/** Subnegotiation begin. */
export const SB = 250;
/** Subnegotiation end. */
export const SE = 240;
/** Option: binary transmission (RFC 856). */
export const BINARY = 0;
/** Option: suppress go-ahead (RFC 858). */
export const SGA = 3;
/** Option: COM-PORT-OPTION (RFC 2217). */
export const COM_PORT = 44;

/** Doubles 0xFF bytes of data for the Telnet stream. */
export function escapeIac(data: Uint8Array): Uint8Array {
  let n = 0;
  for (const b of data) if (b === IAC) n++;
  if (n === 0) return data;
  const out = new Uint8Array(data.length + n);
  let o = 0;
  for (const b of data) {
    out[o++] = b;
    if (b === IAC) out[o++] = IAC;
  }
  return out;
}

/**
 * Splits a Telnet stream into data, option negotiations and
 * subnegotiations, keeping partial sequences across calls.
 */
export class TelnetParser {
  #state: "data" | "iac" | "opt" | "sb" | "sb-iac" = "data";
  #verb = 0;
  #sb: number[] = [];

  /** Feeds bytes; calls back for each piece. */
  push(
    bytes: Uint8Array,
    on: {
      data: (b: Uint8Array) => void;
      option: (verb: number, option: number) => void;
      sub: (payload: Uint8Array) => void;
    },
  ): void {
    const out: number[] = [];
    for (const b of bytes) {
      switch (this.#state) {
        case "data":
          if (b === IAC) this.#state = "iac";
          else out.push(b);
          break;
        case "iac":
          if (b === IAC) {
            out.push(IAC);
            this.#state = "data";
          } else if (b === SB) {
            this.#sb = [];
            this.#state = "sb";
          } else if (b >= WILL && b <= DONT) {
            this.#verb = b;
            this.#state = "opt";
          } else {
            this.#state = "data"; // NOP, GA and friends
          }
          break;
        case "opt":
          if (out.length) on.data(new Uint8Array(out.splice(0)));
          on.option(this.#verb, b);
          this.#state = "data";
          break;
        case "sb":
          if (b === IAC) this.#state = "sb-iac";
          else this.#sb.push(b);
          break;
        case "sb-iac":
          if (b === SE) {
            if (out.length) on.data(new Uint8Array(out.splice(0)));
            on.sub(new Uint8Array(this.#sb));
            this.#state = "data";
          } else {
            this.#sb.push(b); // IAC IAC inside SB is one 0xFF
            this.#state = "sb";
          }
          break;
      }
    }
    if (out.length) on.data(new Uint8Array(out));
  }
}

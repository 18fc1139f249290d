/**
 * The JSON Lines event schema of `--json`, as README documents it, checked
 * field by field.
 * @module
 */
import { assertOk } from "../assert.ts";

type Check = (v: unknown) => boolean;
const str: Check = (v) => typeof v === "string";
const num: Check = (v) => typeof v === "number" && Number.isFinite(v);
const bool: Check = (v) => typeof v === "boolean";
const obj: Check = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const arr: Check = (v) => Array.isArray(v);
const oneOf = (...xs: unknown[]): Check => (v) => xs.includes(v);

/** Required fields per event type (every event also has `type` and `time`). */
export const SCHEMA: Record<string, Record<string, Check>> = {
  connected: { port: str, chip: str, stub: bool, baud: num, reset: str },
  chip: { chip: str, mac: str },
  plan: { plan: obj },
  progress: { phase: str, done: num, total: num },
  "region-done": { region: str, offset: num },
  outcome: {
    outcome: oneOf("verify-skip", "selective", "full"),
    regions: arr,
    bytesSent: num,
    verified: bool,
    rewritten: arr,
    seconds: num,
  },
  result: { message: str },
  board: { port: str, ok: bool, exitCode: num, seconds: num, summary: str },
  summary: { boards: arr, ok: num, failed: num },
  error: { code: str, message: str, exitCode: num },
  interrupted: {
    signal: oneOf("SIGINT", "SIGTERM"),
    message: str,
    stopped: oneOf("safe-point", "at-once"),
    sectorsWritten: num,
    sectors: num,
    exitCode: oneOf(130),
  },
};

/** Parses stdout as JSON Lines and checks every event against the schema. */
export function checkEvents(stdout: string): Record<string, unknown>[] {
  const events = stdout.trim().split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
  for (const e of events) {
    const fields = SCHEMA[e.type];
    assertOk(fields, `unknown event type ${e.type}`);
    assertOk(str(e.time) && !Number.isNaN(Date.parse(e.time)), `bad time in ${JSON.stringify(e)}`);
    for (const [k, check] of Object.entries(fields)) {
      assertOk(check(e[k]), `${e.type}.${k} is wrong in ${JSON.stringify(e).slice(0, 200)}`);
    }
    if (e.type === "outcome") {
      for (const r of e.regions) {
        assertOk(str(r.name) && num(r.offset) && num(r.sectors) && num(r.written) && arr(r.ranges));
      }
    }
  }
  return events;
}

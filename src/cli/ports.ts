/**
 * `espdelta ports`: list serial ports with USB ids and the bridge guess.
 * @module
 */

import { describePort, listPorts } from "../serial/list.ts";
import type { Output } from "./output.ts";
import type { Program } from "./options.ts";

/** Registers the command. */
export function register(program: Program, out: () => Output): void {
  program.command("ports")
    .description("list serial ports with USB VID:PID, serial number, product and bridge")
    .addHelpText("after", "\nExample:\n  espdelta ports")
    .action(async (_opts, cmd) => {
      const o = out();
      const g = cmd.optsWithGlobals();
      const ports = await listPorts({ sysRoot: g.sysRoot, devRoot: g.devRoot });
      if (o.json) {
        o.result(`${ports.length} port${ports.length === 1 ? "" : "s"}`, { ports });
        return;
      }
      for (const p of ports) o.info(describePort(p));
      o.result(`${ports.length} serial port${ports.length === 1 ? "" : "s"} found`);
    });
}

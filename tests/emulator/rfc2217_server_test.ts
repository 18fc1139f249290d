/**
 * The RFC 2217 server of the virtual board, checked twice: with a raw socket
 * speaking Telnet bytes built here from RFC 854 and RFC 2217 (so the server is
 * held to the RFC, not to our client), and with espdelta's own rfc2217://
 * client and loader, whose reset sequences reach the board's reset circuit.
 */

import { assertEquals, assertOk, assertRejects } from "../assert.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveRfc2217 } from "../../src/emulator/rfc2217_server.ts";
import { openRfc2217 } from "../../src/serial/rfc2217.ts";
import { connect } from "../../src/loader/loader.ts";
import { parseResetSequence, runSequence } from "../../src/serial/reset.ts";
import { SlipDecoder, slipEncode } from "../../src/protocol/slip.ts";
import { encodeCommand } from "../../src/protocol/packet.ts";
import { Op, SYNC_PAYLOAD } from "../../src/protocol/opcodes.ts";
import { words } from "../../src/protocol/bytes.ts";
import { firmware } from "./raw.ts";
import { appImage } from "./images.ts";
import type { Port } from "../../src/serial/port.ts";
import { CHIPS } from "../../src/chips/chips.ts";

const IAC = 255, SB = 250, SE = 240, WILL = 251, WONT = 252, DO = 253, DONT = 254;
const COM = 44;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An ESP32 board whose flash holds a bootloader, a partition table and an app. */
function esp32Board(): VirtualDevice {
  const flash = new Uint8Array(4 << 20).fill(0xff);
  flash.set(firmware("bootloader_esp32_v5_2.bin"), 0x1000);
  flash.set(firmware("partitions_singleapp.bin"), 0x8000);
  flash.set(appImage("esp32", { projectName: "blink", version: "1.2.0" }), 0x10000);
  return new VirtualDevice({ chip: "esp32", flash, bootMode: "flash" });
}

/** A raw Telnet client: separates data from commands, as RFC 854 defines them. */
class RawTelnet {
  readonly conn: Deno.TcpConn;
  data: number[] = [];
  /** Option negotiations and subnegotiations received, as byte lists. */
  commands: number[][] = [];
  #reading: Promise<void>;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    this.#reading = this.#pump();
  }

  async #pump() {
    const buf = new Uint8Array(4096);
    let state = "data";
    let cmd: number[] = [];
    try {
      while (true) {
        const n = await this.conn.read(buf);
        if (n === null) break;
        for (const b of buf.subarray(0, n)) {
          if (state === "data") {
            if (b === IAC) state = "iac";
            else this.data.push(b);
          } else if (state === "iac") {
            if (b === IAC) {
              this.data.push(IAC);
              state = "data";
            } else if (b === SB) {
              cmd = [SB];
              state = "sb";
            } else {
              cmd = [b];
              state = "opt";
            }
          } else if (state === "opt") {
            this.commands.push([...cmd, b]);
            state = "data";
          } else if (state === "sb") {
            if (b === IAC) state = "sb-iac";
            else cmd.push(b);
          } else if (state === "sb-iac") {
            if (b === SE) {
              this.commands.push(cmd);
              state = "data";
            } else {
              cmd.push(b);
              state = "sb";
            }
          }
        }
      }
    } catch { /* closed */ }
  }

  send(bytes: number[]): Promise<number> {
    return this.conn.write(new Uint8Array(bytes));
  }

  /** Waits until `test` holds (up to 3 s). */
  async until(test: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 300 && !test(); i++) await sleep(10);
    assertOk(test(), `timed out waiting for ${what}`);
  }

  /** Sends a COM-PORT command and waits for the server's answer (code + 100). */
  async comPort(cmd: number, value: number[]): Promise<number[]> {
    const before = this.commands.length;
    const escaped = value.flatMap((b) => b === IAC ? [IAC, IAC] : [b]);
    await this.send([IAC, SB, COM, cmd, ...escaped, IAC, SE]);
    await this.until(
      () => this.commands.slice(before).some((c) => c[0] === SB && c[2] === cmd + 100),
      `answer to COM-PORT ${cmd}`,
    );
    return this.commands.slice(before).find((c) => c[0] === SB && c[2] === cmd + 100)!.slice(3);
  }

  text(): string {
    return new TextDecoder().decode(new Uint8Array(this.data));
  }

  async close() {
    try {
      this.conn.close();
    } catch { /* closed */ }
    await this.#reading;
  }
}

Deno.test("RFC 2217 server, raw Telnet bytes: negotiation, every COM-PORT answer, IAC doubling, lines to the reset circuit", async () => {
  const device = esp32Board();
  const server = await serveRfc2217(device, { hostname: "127.0.0.1", port: 0 });
  try {
    await sleep(300); // the board has booted its app
    const bootsBefore = device.boots;
    const t = new RawTelnet(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    // WILL/DO COM-PORT-OPTION are accepted once; an unknown option (24, TERMINAL-TYPE) is refused.
    await t.send([IAC, WILL, COM, IAC, DO, COM, IAC, WILL, 24, IAC, DO, 24, IAC, WILL, COM]);
    await t.until(() => t.commands.length >= 4, "negotiation answers");
    assertEquals(t.commands.slice(0, 4), [[DO, COM], [WILL, COM], [DONT, 24], [WONT, 24]]);
    await sleep(50);
    assertEquals(t.commands.length, 4); // the repeated WILL is not answered again
    assertEquals(
      new TextDecoder().decode(new Uint8Array(await t.comPort(0, []))),
      "espdelta virtual ESP32",
    );
    assertEquals(await t.comPort(1, [0x00, 0x01, 0xc2, 0x00]), [0x00, 0x01, 0xc2, 0x00]);
    assertEquals(await t.comPort(1, [0, 0, 0, 0]), [0x00, 0x01, 0xc2, 0x00]); // 0 asks
    assertEquals(await t.comPort(2, [8]), [8]);
    assertEquals(await t.comPort(3, [1]), [1]);
    assertEquals(await t.comPort(4, [1]), [1]);
    assertEquals(await t.comPort(5, [1]), [1]); // no flow control
    assertEquals(await t.comPort(5, [7]), [9]); // DTR? off
    assertEquals(await t.comPort(5, [10]), [12]); // RTS? off
    assertEquals(await t.comPort(12, [1]), [1]); // purge
    assertEquals(await t.comPort(11, [0xff]), [0xff]); // modem state mask, IAC doubled both ways
    assertEquals(server.settings.baud, 115200);
    // Connecting reset nothing: the running app's heartbeat arrives, no ROM banner.
    await t.until(() => t.text().includes("main: heartbeat"), "the app's heartbeat");
    assertEquals([device.boots, t.text().includes("ets Jun"), device.mode], [
      bootsBefore,
      false,
      "app",
    ]);

    // esptool's classic reset through SET-CONTROL: RTS holds EN low, DTR pulls IO0 low on release.
    t.data = [];
    assertEquals(await t.comPort(5, [9]), [9]);
    assertEquals(await t.comPort(5, [11]), [11]);
    assertEquals(device.inReset, true);
    await sleep(100);
    // DTR on and RTS off in one write, as a host sets them back to back: EN rises with IO0 low
    // before the RC on EN lets the chip sample it.
    const n = t.commands.length;
    await t.send([IAC, SB, COM, 5, 8, IAC, SE, IAC, SB, COM, 5, 12, IAC, SE]);
    await t.until(() => t.commands.length >= n + 2, "both answers");
    assertEquals(t.commands.slice(n), [[SB, COM, 105, 8], [SB, COM, 105, 12]]);
    await sleep(50);
    assertEquals(await t.comPort(5, [9]), [9]);
    await t.until(() => t.text().includes("waiting for download"), "the download banner");
    assertOk(
      t.text().endsWith(
        "rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n",
      ),
    );

    // Data both ways with 0xFF doubled: write 0xFFFFFFFF to a register and read it back.
    t.data = [];
    const frames: Uint8Array[] = [];
    const decoder = new SlipDecoder();
    const command = async (op: number, payload: Uint8Array) => {
      const n = frames.length;
      await t.send(
        [...slipEncode(encodeCommand(op, payload))].flatMap((b) => b === IAC ? [IAC, IAC] : [b]),
      );
      await t.until(() => {
        frames.push(...decoder.push(new Uint8Array(t.data.splice(0))));
        return frames.slice(n).some((f) => f[0] === 1 && f[1] === op);
      }, `reply to ${op}`);
      return frames.slice(n).find((f) => f[0] === 1 && f[1] === op)!;
    };
    assertEquals((await command(Op.SYNC, SYNC_PAYLOAD)).subarray(0, 2), new Uint8Array([1, 8]));
    await command(Op.WRITE_REG, words(0x3ff40078, 0xffffffff, 0xffffffff, 0));
    const value = await command(Op.READ_REG, words(0x3ff40078));
    assertEquals(Array.from(value.subarray(4, 8)), [0xff, 0xff, 0xff, 0xff]);

    // Closing the connection does not reset the chip; reopening finds the ROM still waiting.
    const boots = device.boots;
    await t.close();
    await sleep(50);
    const again = new RawTelnet(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    await again.send([IAC, WILL, COM]);
    await again.until(() => again.commands.length >= 1, "DO COM-PORT");
    await sleep(100);
    assertEquals([device.boots, device.mode, again.text()], [boots, "rom", ""]);
    assertEquals(server.connections, 2);
    await again.close();
  } finally {
    await server.close();
  }
});

Deno.test("RFC 2217 server with espdelta's client: the default reset connects, a custom sequence with IO0 high boots the app", async () => {
  const device = esp32Board();
  const server = await serveRfc2217(device, { hostname: "127.0.0.1", port: 0 });
  const url = `rfc2217://127.0.0.1:${server.port}`;
  let port: Port | undefined;
  try {
    port = await openRfc2217(url);
    let strategy = "";
    const loader = await connect(port, { chip: "esp32", onReset: (s) => strategy = s });
    assertEquals([loader.chip.name, device.mode], ["esp32", "rom"]);
    assertOk(strategy.length > 0 && strategy !== "no-reset", strategy);
    // --after hard-reset: EN pulsed with IO0 high, the app boots.
    assertEquals(await loader.after("hard-reset"), undefined);
    await port.close();
    port = undefined;
    await sleep(400);
    assertEquals(device.mode, "app");
    // A tool that reopens the port to watch sees the app running, not a fresh banner.
    port = await openRfc2217(url);
    let seen = "";
    for (let i = 0; i < 15 && !seen.includes("heartbeat"); i++) {
      seen += new TextDecoder().decode(await port.read(100));
    }
    assertOk(/^I \(\d+\) main: heartbeat \d+\r\n/.test(seen), JSON.stringify(seen));
    await port.close();
    port = undefined;

    // A custom sequence that pulses EN with IO0 held high boots the app: the loader cannot sync
    // and says what the chip printed.
    port = await openRfc2217(url);
    const steps = parseResetSequence("D0|R1|W0.1|R0");
    let log = "";
    const e = await assertRejects(
      () => connect(port!, { chip: "esp32", attempts: 1, reset: (p) => runSequence(p, steps) }),
      Error,
    );
    assertOk(
      e.message.endsWith(
        "The chip printed boot mode 0x13 (SPI_FAST_FLASH_BOOT): it is not in download mode; hold BOOT and reset.",
      ),
      e.message,
    );
    for (let i = 0; i < 5; i++) log += new TextDecoder().decode(await port.read(100));
    assertEquals(device.mode, "app");
    assertOk(log.includes("main: heartbeat") || log.includes("main_task: Calling app_main()"), log);
  } finally {
    await port?.close();
    await server.close();
  }
});

Deno.test("RFC 2217 server, USB-Serial/JTAG variant: esptool's USB sequence and reset lines, no baud rate", async () => {
  const device = new VirtualDevice({ chip: "esp32c3", bootMode: "flash", usbSerialJtag: true });
  const server = await serveRfc2217(device, { hostname: "127.0.0.1", port: 0 });
  const port = await openRfc2217(`rfc2217://127.0.0.1:${server.port}`);
  try {
    let strategy = "";
    const loader = await connect(port, {
      chip: "esp32c3",
      reset: "usb-reset",
      onReset: (s) => strategy = s,
    });
    assertEquals([loader.chip.name, strategy, device.mode], ["esp32c3", "usb-jtag-serial", "rom"]);
    // A USB port has no baud rate: a rate change on the host side garbles nothing.
    await port.setBaud(921600);
    assertEquals(await loader.readReg(0x40001000), CHIPS.esp32c3.magicValues[0]);
    await loader.after("hard-reset");
    await sleep(50);
    assertEquals(device.mode, "app");
  } finally {
    await port.close();
    await server.close();
  }
});

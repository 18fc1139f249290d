/**
 * Each transport turns its link dying into a PortLostError with the kind
 * the operating system reported, after handing over what arrived before,
 * and can open the link again once the other side is back.
 */
import net from "node:net";
import { assertEquals, assertOk, assertRejects } from "../assert.ts";
import { openTcp } from "../../src/serial/tcp.ts";
import { openRfc2217 } from "../../src/serial/rfc2217.ts";
import { openPtyPair } from "../../src/serial/pty.ts";
import { openPosix } from "../../src/serial/posix.ts";
import { LOSS_REASONS, PortLostError, socketLoss } from "../../src/serial/lost.ts";
import type { Port } from "../../src/serial/port.ts";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { serveRfc2217 } from "../../src/emulator/rfc2217_server.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A node:net server that sends `hello` to each client, then ends or resets it on demand. */
async function server() {
  const clients: net.Socket[] = [];
  const s = net.createServer((c) => {
    c.on("error", () => {});
    c.write("hello");
    clients.push(c);
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return {
    port: (s.address() as net.AddressInfo).port,
    clients,
    close: () => new Promise<void>((r) => s.close(() => r())),
  };
}

async function readUntilLost(port: Port): Promise<{ data: string; lost: PortLostError }> {
  let data = "";
  for (;;) {
    try {
      data += text(await port.read(200));
    } catch (e) {
      assertOk(e instanceof PortLostError, String(e));
      return { data, lost: e };
    }
  }
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assertOk(cond());
}

Deno.test("socket://: the server closing (EOF) or resetting (ECONNRESET) the connection; reopen dials again", async () => {
  const srv = await server();
  const url = `socket://127.0.0.1:${srv.port}`;
  const port = await openTcp(url);
  try {
    await until(() => srv.clients.length === 1);
    srv.clients[0].end();
    const eof = await readUntilLost(port);
    assertEquals([eof.data, eof.lost.kind, eof.lost.reason], ["hello", "EOF", LOSS_REASONS.socket]);
    // Later reads and writes give the same loss.
    assertEquals(await assertRejects(() => port.read(10), PortLostError), eof.lost);
    assertEquals(await assertRejects(() => port.write(enc("x")), PortLostError), eof.lost);

    await port.reopen!();
    await until(() => srv.clients.length === 2);
    assertEquals(text(await port.read(1000)), "hello"); // a reset drops what was not read yet
    srv.clients[1].resetAndDestroy();
    const rst = await readUntilLost(port);
    assertEquals([rst.data, rst.lost.kind], ["", "ECONNRESET"]);
    assertEquals(
      rst.lost.message,
      `lost the device on ${url} (the connection was closed by the other side); check the ` +
        "cable and power, then run the same command again: espdelta re-plans and writes only " +
        "what is still wrong",
    );
    // With nobody listening, reopening fails and the port stays lost.
    await srv.close();
    await assertRejects(() => port.reopen!(), Error);
    await assertRejects(() => port.read(10), PortLostError);
  } finally {
    await port.close();
  }
});

Deno.test("socket errors Deno reports map to the kinds: BrokenPipe is EPIPE, ConnectionReset ECONNRESET", () => {
  const r = LOSS_REASONS.socket;
  assertEquals(socketLoss("p", new Deno.errors.BrokenPipe("x"), r)?.kind, "EPIPE");
  assertEquals(socketLoss("p", new Deno.errors.ConnectionReset("x"), r)?.kind, "ECONNRESET");
  assertEquals(socketLoss("p", new Deno.errors.NotConnected("x"), r)?.kind, "ECONNRESET");
  assertEquals(socketLoss("p", new Error("other"), r), undefined);
});

Deno.test("rfc2217://: the server dropping the session is a loss; reopen negotiates afresh", async () => {
  const device = new VirtualDevice({ chip: "esp32" });
  const server = await serveRfc2217(device, { hostname: "127.0.0.1", port: 0 });
  const url = `rfc2217://127.0.0.1:${server.port}`;
  const port = await openRfc2217(url);
  try {
    await server.close();
    const { lost } = await readUntilLost(port);
    assertEquals([lost.kind, lost.reason], ["EOF", LOSS_REASONS.rfc2217]);
    await assertRejects(() => port.setBaud(460800), PortLostError);
    const again = await serveRfc2217(device, { hostname: "127.0.0.1", port: server.port });
    try {
      await port.reopen!();
      await port.setBaud(460800);
      assertEquals(port.baud, 460800);
    } finally {
      await port.close();
      await again.close();
    }
  } finally {
    await port.close();
  }
});

Deno.test("tty: the other side of a pty closing is a hang-up, a write after it EIO; reopen finds the node back", async () => {
  const dir = await Deno.makeTempDir();
  const link = `${dir}/tty`;
  let pair = await openPtyPair();
  await Deno.symlink(pair.slavePath, link);
  const port = await openPosix(link, { baud: 115200 });
  try {
    await pair.master.write(enc("boot"));
    const first = text(await port.read(500));
    assertEquals(first, "boot");
    await pair.close();
    const hup = await readUntilLost(port);
    assertEquals([hup.lost.kind, hup.lost.reason], ["HANGUP", LOSS_REASONS.tty]);

    // A port that has not read yet finds out by writing: EIO.
    pair = await openPtyPair();
    const other = await openPosix(pair.slavePath, { baud: 115200 });
    await pair.close();
    const eio = await assertRejects(() => other.write(enc("x")), PortLostError);
    assertEquals(eio.kind, "EIO");
    await other.close();

    // The node is gone: reopening fails until a device is there again.
    await Deno.remove(link);
    await assertRejects(() => port.reopen!(), Error);
    pair = await openPtyPair();
    await Deno.symlink(pair.slavePath, link);
    await port.reopen!();
    await pair.master.write(enc("back"));
    assertEquals(text(await port.read(1000)), "back");
  } finally {
    await port.close();
    await pair.close();
    await Deno.remove(dir, { recursive: true });
  }
});

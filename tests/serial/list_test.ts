import { assertEquals, assertThrows } from "../assert.ts";
import { describePort, listPorts, pickPort } from "../../src/serial/list.ts";
import { EspdeltaError } from "../../src/protocol/errors.ts";
import { espdelta } from "../cli/run.ts";

/** A fake sysfs: two USB bridges, an Espressif USB-JTAG port, an on-board UART and a pty. */
async function fakeSys(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "espdelta-sys-" });
  const usb = async (bus: string, name: string, ids: Record<string, string>, iface = true) => {
    const dev = `${root}/devices/pci0000:00/usb1/${bus}`;
    await Deno.mkdir(`${dev}/${bus}:1.0/${name}`, { recursive: true });
    for (const [k, v] of Object.entries(ids)) await Deno.writeTextFile(`${dev}/${k}`, v + "\n");
    await Deno.mkdir(`${root}/class/tty/${name}`, { recursive: true });
    const target = iface ? `${dev}/${bus}:1.0/${name}` : `${dev}/${bus}:1.0`;
    await Deno.symlink(target, `${root}/class/tty/${name}/device`);
  };
  await usb("1-1", "ttyUSB0", {
    idVendor: "10c4",
    idProduct: "ea60",
    serial: "0001",
    product: "CP2102N USB to UART",
  });
  await usb("1-2", "ttyACM0", {
    idVendor: "303a",
    idProduct: "1001",
    serial: "F4:12:FA",
    product: "USB JTAG/serial debug unit",
  }, false);
  await usb("1-3", "ttyUSB1", { idVendor: "1a86", idProduct: "55d4" });
  await Deno.mkdir(`${root}/devices/platform/serial8250/tty/ttyS0`, { recursive: true });
  await Deno.mkdir(`${root}/class/tty/ttyS0`, { recursive: true });
  await Deno.symlink(`${root}/devices/platform/serial8250`, `${root}/class/tty/ttyS0/device`);
  await Deno.mkdir(`${root}/class/tty/tty1`, { recursive: true });
  return root;
}

Deno.test("listPorts reads VID:PID, serial and product, and names the bridge", async () => {
  const root = await fakeSys();
  try {
    const ports = await listPorts({ sysRoot: root });
    assertEquals(ports.map(describePort), [
      "/dev/ttyACM0 303a:1001 (Espressif USB-JTAG-serial, USB JTAG/serial debug unit, serial F4:12:FA)",
      "/dev/ttyUSB0 10c4:ea60 (CP210x, CP2102N USB to UART, serial 0001)",
      "/dev/ttyUSB1 1a86:55d4 (CH9102)",
    ]);
    const e = assertThrows(() => pickPort(ports), EspdeltaError);
    assertEquals(e.code, "AMBIGUOUS_PORT");
    assertEquals(pickPort(ports.slice(1, 2)).path, "/dev/ttyUSB0");
    const none = assertThrows(() => pickPort([]), EspdeltaError);
    assertEquals(
      none.message,
      "no serial port found; connect the board, or pass -p PORT (socket:// and rfc2217:// work too)",
    );
    const r = await espdelta(["ports", "--sys-root", root]);
    assertEquals(r.stdout.trim().split("\n").at(-1), "3 serial ports found");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

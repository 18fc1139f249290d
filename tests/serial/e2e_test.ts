import { assertEquals } from "../assert.ts";
import { createHash } from "node:crypto";
import { VirtualDevice } from "../../src/emulator/device.ts";
import { servePty } from "../../src/emulator/pty.ts";
import { serveTcp } from "../../src/emulator/tcp.ts";
import { openPort } from "../../src/serial/open.ts";
import { connect } from "../../src/loader/loader.ts";
import { startSer2net } from "./ser2net.ts";

const FW = new URL("../../testdata/firmware/", import.meta.url);
const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");

/** Full loader round trip: sync, detect, write, md5, read; flash bytes asserted on the device. */
async function roundTrip(url: string, device: VirtualDevice, offset: number, image: Uint8Array) {
  const port = await openPort(url, { baud: 115200 });
  try {
    const loader = await connect(port, { baud: 460800 });
    assertEquals(loader.chip.name, device.chip.name);
    const r = await loader.write(offset, image);
    assertEquals(r.compressed, true);
    assertEquals(await loader.md5(offset, image.length), md5(image));
    assertEquals(await loader.read(offset, 300), image.subarray(0, 300));
    assertEquals(device.flash.data.subarray(offset, offset + image.length), image);
    await loader.close();
  } finally {
    await port.close();
  }
}

Deno.test("loader over a real pty through the FFI backend", async () => {
  const device = new VirtualDevice({ chip: "esp32c3" });
  const served = await servePty(device);
  try {
    const image = await Deno.readFile(new URL("bootloader_esp32c3.bin", FW));
    await roundTrip(served.path, device, 0x0, image);
  } finally {
    await served.close();
  }
});

Deno.test("loader over socket:// to the TCP-served device", async () => {
  const device = new VirtualDevice({ chip: "esp32s3" });
  const server = await serveTcp(device, { hostname: "127.0.0.1", port: 0 });
  try {
    const image = await Deno.readFile(new URL("bootloader_esp32s3.bin", FW));
    await roundTrip(`socket://127.0.0.1:${server.port}`, device, 0x0, image);
  } finally {
    await server.close();
  }
});

Deno.test("loader over rfc2217:// through a real ser2net to a pty", async () => {
  const device = new VirtualDevice({ chip: "esp32" });
  const served = await servePty(device);
  const ser2net = await startSer2net(served.path);
  try {
    const image = await Deno.readFile(new URL("bootloader_esp32.bin", FW));
    await roundTrip(ser2net.url, device, 0x1000, image);
  } finally {
    await ser2net.stop();
    await served.close();
  }
});

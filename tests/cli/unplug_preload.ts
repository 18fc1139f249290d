/**
 * Loaded with `deno run --preload` into an espdelta process under test: at a
 * chosen byte it makes the port's link die as the operating system reports
 * a device that is gone, where this machine cannot produce that for real
 * (no USB device to unplug; a socket write that fails before the reader
 * saw the reset). Everything else in the process is the real CLI.
 *
 * ESPDELTA_TEST_UNPLUG="KIND:BYTES": after BYTES bytes were written to the
 * port, KIND happens and the device stays gone:
 * - `EPIPE`: socket writes fail with BrokenPipe; connecting again is refused.
 * - `EIO`, `ENXIO`: libc write and read on the port fail with that errno;
 *   opening the device node fails with ENOENT (the node is gone).
 * @module
 */

const spec = Deno.env.get("ESPDELTA_TEST_UNPLUG") ?? "";
const [kind, bytesText] = spec.split(":");
const after = Number(bytesText);
let written = 0;
let gone = false;

const ERRNO: Record<string, number> = { EIO: 5, ENXIO: 6, ENOENT: 2 };

if (kind === "EPIPE") {
  const connect = Deno.connect;
  // deno-lint-ignore no-explicit-any
  (Deno as any).connect = async (options: Deno.ConnectOptions) => {
    if (gone) throw new Deno.errors.ConnectionRefused("Connection refused (os error 111)");
    const conn = await connect(options);
    const write = conn.write.bind(conn);
    conn.write = async (p: Uint8Array) => {
      if (!gone && written + p.length >= after) gone = true;
      if (gone) throw new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
      const n = await write(p);
      written += n;
      return n;
    };
    return conn;
  };
} else if (kind === "EIO" || kind === "ENXIO") {
  const dlopen = Deno.dlopen;
  // deno-lint-ignore no-explicit-any
  (Deno as any).dlopen = (path: string, symbols: Deno.ForeignLibraryInterface) => {
    const lib = dlopen(path, symbols);
    if (path !== "libc.so.6") return lib;
    // deno-lint-ignore no-explicit-any
    const s = lib.symbols as any;
    const setErrno = (e: number) => {
      const p = s.__errno_location();
      new DataView(Deno.UnsafePointerView.getArrayBuffer(p, 4)).setInt32(0, e, true);
    };
    const fail = (e: number, result: number | bigint) => {
      setErrno(e);
      return result;
    };
    const wrapped = {
      ...s,
      write: (fd: number, buf: Uint8Array, n: bigint) => {
        if (!gone && written + Number(n) >= after) gone = true;
        if (gone) return fail(ERRNO[kind], -1n);
        const r = s.write(fd, buf, n);
        if (r > 0n) written += Number(r);
        return r;
      },
      read: (fd: number, buf: Uint8Array, n: bigint) =>
        gone ? fail(ERRNO[kind], -1n) : s.read(fd, buf, n),
      open: (path: Uint8Array, flags: number, mode: number) =>
        gone ? fail(ERRNO.ENOENT, -1) : s.open(path, flags, mode),
    };
    return { symbols: wrapped, close: () => lib.close() };
  };
}

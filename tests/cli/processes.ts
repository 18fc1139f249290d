/**
 * The CLI and the virtual board as real processes, for tests that kill
 * them: `espdelta emulate ...` and `espdelta flash ...` spawned with piped
 * output read in the background (so a pipe never fills), lines waited for
 * with deadlines, and SIGKILL for real.
 * @module
 */

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

export { freePort } from "../free_port.ts";

/** Collects a stream's text; lets a test wait for a line. */
class Lines {
  text = "";
  #waiters: (() => void)[] = [];
  done: Promise<void>;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
    this.done = this.#pump();
  }

  async #pump(): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await this.#reader!.read();
        if (done) break;
        this.text += decoder.decode(value, { stream: true });
        for (const w of this.#waiters.splice(0)) w();
      }
    } catch {
      // cancelled
    }
    this.#reader = undefined;
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Complete lines so far. */
  get lines(): string[] {
    const all = this.text.split("\n");
    return all.slice(0, -1);
  }

  /** Waits (up to `ms`) for a line `match` accepts; returns it, or undefined at the end or timeout. */
  async waitLine(match: (line: string) => boolean, ms = 20_000): Promise<string | undefined> {
    const until = performance.now() + ms;
    for (;;) {
      const hit = this.lines.find(match);
      if (hit !== undefined) return hit;
      if (!this.#reader || performance.now() > until) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, until - performance.now()));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Stops reading: the writer's next write finds the pipe closed (EPIPE). */
  async close(): Promise<void> {
    const r = this.#reader;
    this.#reader = undefined;
    await r?.cancel().catch(() => {});
    await this.done;
  }
}

/** A spawned espdelta process. */
export interface Proc {
  /** The process. */
  child: Deno.ChildProcess;
  /** Its stdout. */
  stdout: Lines;
  /** Its stderr. */
  stderr: Lines;
  /** Resolves with the exit code once it ended and its output is read. */
  code(): Promise<number>;
  /** Sends `signal` (no error when it is gone already). */
  kill(signal?: Deno.Signal): void;
}

/** Spawns `espdelta ...args` (deno run -A --quiet cli.ts), output piped and read in the background. */
export function spawnEspdelta(
  args: string[],
  options: { env?: Record<string, string>; denoArgs?: string[] } = {},
): Proc {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", ...(options.denoArgs ?? []), CLI, ...args],
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new Lines(child.stdout);
  const stderr = new Lines(child.stderr);
  return {
    child,
    stdout,
    stderr,
    code: async () => {
      const status = await child.status;
      await Promise.all([stdout.done, stderr.done]);
      return status.code;
    },
    kill: (signal: Deno.Signal = "SIGKILL") => {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
    },
  };
}

/**
 * Runs `espdelta ...args` on a real terminal: script(1) gives it a pty as
 * stdin and stdout, so keys written to the child's stdin go through the line
 * discipline (^C is SIGINT; raw mode passes every byte) as a user's do.
 */
export function spawnOnTerminal(args: string[]): Deno.ChildProcess {
  const cmd = [Deno.execPath(), "run", "-A", "--quiet", CLI, ...args].join(" ");
  return new Deno.Command("script", {
    args: ["-qefc", cmd, "/dev/null"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", TERM: "xterm" },
  }).spawn();
}

/** A running `espdelta emulate`. */
export interface Emulator extends Proc {
  /** The port clients use: socket://..., rfc2217://..., or the pty (its --link when given). */
  url: string;
  /** Kills it with SIGKILL and waits until it is gone. */
  killHard(): Promise<void>;
  /** Stops it with SIGTERM (it closes its ports and files) and waits. */
  stop(): Promise<void>;
}

/**
 * Starts `espdelta --chip CHIP emulate ...args` and waits for its first line,
 * `<chip> with N MB flash on <port>`.
 */
export async function startEmulator(chip: string, args: string[]): Promise<Emulator> {
  const p = spawnEspdelta(["--chip", chip, "emulate", ...args]);
  const first = await p.stdout.waitLine(() => true, 30_000);
  const m = first && / flash on (\S+)/.exec(first);
  if (!m) {
    p.kill();
    await p.code();
    throw new Error(`emulate did not start: ${first ?? ""} ${p.stderr.text}`);
  }
  return {
    ...p,
    url: m[1],
    killHard: async () => {
      p.kill("SIGKILL");
      await p.code();
    },
    stop: async () => {
      p.kill("SIGTERM");
      await p.code();
    },
  };
}

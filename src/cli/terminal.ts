/**
 * The monitor's keyboard: with stdin a terminal, it is put in raw mode and
 * read key by key. Ctrl-] and Ctrl-C quit, Ctrl-T then R resets the chip,
 * Ctrl-T then H lists the keys, Ctrl-T twice sends one Ctrl-T; every other
 * key goes to the chip, Enter as CR LF (as ESP-IDF's monitor sends it). The
 * terminal's mode is restored on every way out: {@link KeyReader.close},
 * the process's `unload`, and SIGTERM while the keys are read.
 * @module
 */

/** What a key asks for. */
export type KeyAction =
  | { kind: "quit" }
  | { kind: "reset" }
  | { kind: "help" }
  | { kind: "send"; bytes: Uint8Array };

/** The key help, one line per key. */
export const KEY_HELP = [
  "Ctrl-] or Ctrl-C  quit",
  "Ctrl-T R          reset the chip (EN through the port's RTS line)",
  "Ctrl-T H          this help",
  "Ctrl-T Ctrl-T     send Ctrl-T to the chip",
];

const CTRL_C = 0x03;
const CTRL_T = 0x14;
const CTRL_R = 0x12;
const CTRL_H = 0x08;
const CTRL_RBRACKET = 0x1d;
const CR = 0x0d;
const LF = 0x0a;

/**
 * Turns typed bytes into actions, keeping the Ctrl-T prefix across reads.
 * Pure, so the key map is tested without a terminal.
 */
export class KeyParser {
  #menu = false;

  /** The actions for `bytes`, in order; runs of plain keys come as one `send`. */
  feed(bytes: Uint8Array): KeyAction[] {
    const out: KeyAction[] = [];
    let plain: number[] = [];
    const flush = () => {
      if (plain.length) out.push({ kind: "send", bytes: new Uint8Array(plain) });
      plain = [];
    };
    for (const b of bytes) {
      if (this.#menu) {
        this.#menu = false;
        const k = b | 0x20; // lower-case letters
        if (k === 0x72 || b === CTRL_R) {
          flush();
          out.push({ kind: "reset" });
        } else if (k === 0x68 || b === CTRL_H) {
          flush();
          out.push({ kind: "help" });
        } else if (b === CTRL_T) {
          plain.push(CTRL_T);
        }
        continue;
      }
      if (b === CTRL_RBRACKET || b === CTRL_C) {
        flush();
        out.push({ kind: "quit" });
        return out;
      }
      if (b === CTRL_T) {
        this.#menu = true;
        continue;
      }
      if (b === CR) plain.push(CR, LF);
      else plain.push(b);
    }
    flush();
    return out;
  }
}

/** Keys from a terminal in raw mode. */
export class KeyReader {
  #parser = new KeyParser();
  #restored = false;
  readonly #restore = () => this.close();
  readonly #onTerm = () => {
    this.close();
    Deno.exit(143);
  };

  private constructor() {
    Deno.stdin.setRaw(true, { cbreak: false });
    globalThis.addEventListener("unload", this.#restore);
    try {
      Deno.addSignalListener("SIGTERM", this.#onTerm);
    } catch {
      // No SIGTERM on this platform (Windows).
    }
  }

  /** True while the terminal is in raw mode: lines written must end in CR LF. */
  get raw(): boolean {
    return !this.#restored && !this.#paused;
  }

  #paused = false;

  /**
   * Back to the terminal's own mode for a while (a deploy in `watch`: its
   * lines print as usual and Ctrl-C is a signal again); keys typed meanwhile
   * arrive after {@link resume}.
   */
  pause(): void {
    if (this.#restored || this.#paused) return;
    this.#paused = true;
    Deno.stdin.setRaw(false);
  }

  /** Raw mode again after {@link pause}. */
  resume(): void {
    if (this.#restored || !this.#paused) return;
    this.#paused = false;
    Deno.stdin.setRaw(true, { cbreak: false });
  }

  /** A reader when stdin is a terminal; undefined otherwise (CI, pipes: no keys). */
  static open(): KeyReader | undefined {
    if (!Deno.stdin.isTerminal()) return undefined;
    return new KeyReader();
  }

  #handler: ((action: KeyAction) => void) | undefined;
  #reading = false;

  /**
   * Sends each key's action to `handler` from now on (undefined: keys are
   * dropped). One read of stdin runs for the reader's life, so switching
   * handlers never loses a key to a read left pending.
   */
  onKey(handler: ((action: KeyAction) => void) | undefined): void {
    this.#handler = handler;
    if (this.#reading) return;
    this.#reading = true;
    (async () => {
      const buf = new Uint8Array(64);
      while (!this.#restored) {
        const n = await Deno.stdin.read(buf).catch(() => null);
        if (n === null || this.#restored) break;
        for (const action of this.#parser.feed(buf.subarray(0, n))) this.#handler?.(action);
      }
    })();
  }

  /** Leaves raw mode (once; safe to call again). */
  close(): void {
    if (this.#restored) return;
    this.#restored = true;
    try {
      if (!this.#paused) Deno.stdin.setRaw(false);
    } catch {
      // stdin already gone: nothing to restore.
    }
    globalThis.removeEventListener("unload", this.#restore);
    try {
      Deno.removeSignalListener("SIGTERM", this.#onTerm);
    } catch {
      // See the constructor.
    }
  }
}

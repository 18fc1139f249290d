/**
 * A virtual ESP-IDF app: what it prints when it starts, the steady line it
 * prints while it runs, and the panic it prints when it is the test app that
 * crashes. The start-up lines follow the app's own ESP-IDF version (from its
 * `esp_app_desc_t.idf_ver`), as ESP-IDF's sources print them:
 *
 * - `cpu_start: Multicore app` / `Unicore app` (v5.1 and later),
 *   `cpu_start: Pro cpu start user code`, `cpu_start: cpu freq: 160000000 Hz`
 *   (before v5.0 without ` Hz`);
 * - `Application information:`, `Project name:     %s`, `App version:      %s`,
 *   `Compile time:     %s %s`, `ELF file SHA256:  %s...`, `ESP-IDF:          %s`
 *   under the tag `cpu_start` before v5.3 and `app_init` from v5.3; the ELF
 *   SHA-256 is shown to 16 hex digits before v5.2 and to 9 from v5.2
 *   (CONFIG_APP_RETRIEVE_LEN_ELF_SHA);
 * - `main_task: Started on CPU0`, `main_task: Calling app_main()` (v5.1 and
 *   later).
 *
 * Heartbeat: once the app runs it prints `I (<ms>) main: heartbeat <n>`
 * every {@link HEARTBEAT_MS} ms of the device's clock (n from 1, ms since the
 * reset), in the ESP-IDF log format, so a reader can tell a running app from
 * a hung one.
 *
 * Panic trigger: an app whose descriptor's project name or version contains
 * {@link PANIC_MARKER} panics right after `Calling app_main()`: a load from
 * address 0, printed as ESP-IDF v5.5's panic handler prints it (panic.c,
 * panic_handler.c, port/arch/xtensa and riscv panic_arch.c,
 * debug_helpers.c), then `Rebooting...` and a software CPU reset, which runs
 * it again: a reset loop. The code addresses are those of real functions in
 * the test ELFs: on Xtensa chips `main` (0x4008088c), `bg_thread_main` and
 * `z_thread_entry` of testdata/firmware/elf/esp32-zephyr.elf (and
 * `arch_cpu_idle`, `idle` for the second core); on RISC-V chips `app_main`,
 * `main_task` and `vPortTaskWrapper` of testdata/firmware/elf/esp32c3-panic.elf.
 * @module
 */

import type { ChipName } from "../chips/chips.ts";
import type { AppDesc } from "./flash_image.ts";
import { hex } from "./flash_image.ts";
import type { ColorLog } from "./idf_boot.ts";
import { hexPad } from "./idf_log.ts";

/** Project name or version text that makes the virtual app panic. */
export const PANIC_MARKER = "espdelta-panic";
/** Period of the heartbeat line, in ms. */
export const HEARTBEAT_MS = 1000;

const DUAL_CORE = new Set<ChipName>(["esp32", "esp32s3", "esp32p4"]);
const XTENSA = new Set<ChipName>(["esp32", "esp32s2", "esp32s3"]);
const CPU_HZ: Partial<Record<ChipName, number>> = {
  esp32c2: 120_000_000,
  esp32h2: 96_000_000,
  esp32c5: 240_000_000,
  esp32p4: 360_000_000,
};

/** ESP-IDF version numbers from `idf_ver` (`v5.2-dev-254-g...` -> [5, 2]); v5.5 when unknown. */
export function idfVersion(idfVer: string | undefined): [number, number] {
  const m = /v?(\d+)\.(\d+)/.exec(idfVer ?? "");
  return m ? [Number(m[1]), Number(m[2])] : [5, 5];
}

const atLeast = (v: [number, number], major: number, minor: number) =>
  v[0] > major || (v[0] === major && v[1] >= minor);

/** True when this app is the crashing test app. */
export function panics(desc: AppDesc | undefined): boolean {
  return !!desc && (desc.projectName.includes(PANIC_MARKER) || desc.version.includes(PANIC_MARKER));
}

/** The app's start-up lines, up to `Calling app_main()`. */
export function appStartup(chip: ChipName, desc: AppDesc | undefined, out: ColorLog): void {
  const v = idfVersion(desc?.idfVer);
  if (atLeast(v, 5, 1)) {
    out.info("cpu_start", DUAL_CORE.has(chip) ? "Multicore app" : "Unicore app");
  }
  out.info("cpu_start", "Pro cpu start user code");
  const hz = CPU_HZ[chip] ?? 160_000_000;
  out.info("cpu_start", atLeast(v, 5, 0) ? `cpu freq: ${hz} Hz` : `cpu freq: ${hz}`);
  if (desc) {
    const tag = atLeast(v, 5, 3) ? "app_init" : "cpu_start";
    out.info(tag, "Application information:");
    out.info(tag, `Project name:     ${desc.projectName}`);
    out.info(tag, `App version:      ${desc.version}`);
    out.info(tag, `Compile time:     ${desc.date} ${desc.time}`);
    out.info(tag, `ELF file SHA256:  ${elfShaText(desc)}...`);
    out.info(tag, `ESP-IDF:          ${desc.idfVer}`);
  }
  if (atLeast(v, 5, 1)) {
    out.info("main_task", "Started on CPU0");
    out.info("main_task", "Calling app_main()");
  }
}

/** The ELF SHA-256 prefix the app prints (and its panic handler), by its ESP-IDF version. */
export function elfShaText(desc: AppDesc): string {
  return hex(desc.elfSha256).slice(0, atLeast(idfVersion(desc.idfVer), 5, 2) ? 9 : 16);
}

/** The heartbeat line `n` (from 1). */
export function heartbeat(out: ColorLog, n: number): void {
  out.info("main", `heartbeat ${n}`);
}

// Xtensa: esp32-zephyr.elf's main (0x4008088c, 14 bytes), bg_thread_main
// (0x40082af4, 46), z_thread_entry (0x40080900, 20), idle (0x40083778, 61),
// arch_cpu_idle (0x4008382c, 8); stacks in z_main_stack (0x3ffb0ee0).
const XT_CORE0 = { pc: 0x40080897, a0: 0x80082b12, sp: 0x3ffb1620, next: 0x8008090e };
const XT_CORE1 = { pc: 0x40083832, a0: 0x800837a0, sp: 0x3ffb1680, next: 0x8008090e };
// RISC-V: esp32c3-panic.elf's app_main (0x42000048), main_task (0x42000030),
// vPortTaskWrapper (0x42000020).
const RV = { mepc: 0x42000054, ra: 0x4200003c, sp: 0x3fc8e9a0, caller: 0x4200002c };

/** `esp_cpu_process_stack_pc`: a return address as the instruction before it. */
function stackPc(pc: number): number {
  const p = (pc & 0x80000000) ? ((pc & 0x3fffffff) | 0x40000000) >>> 0 : pc;
  return (p - 3) >>> 0;
}

function xtensaCore(core: number, f: typeof XT_CORE0, faulting: boolean): string {
  const regs = [
    ["PC      ", f.pc],
    ["PS      ", faulting ? 0x00060030 : 0x00060534],
    ["A0      ", f.a0],
    ["A1      ", f.sp],
    ["A2      ", 0],
    ["A3      ", 0x3ffb0418],
    ["A4      ", 0x00000001],
    ["A5      ", 0x3ffb1600],
    ["A6      ", 0],
    ["A7      ", 0],
    ["A8      ", f.next],
    ["A9      ", (f.sp - 0x20) >>> 0],
    ["A10     ", 0],
    ["A11     ", 0],
    ["A12     ", 0],
    ["A13     ", 0],
    ["A14     ", 0],
    ["A15     ", 0],
    ["SAR     ", 0x00000004],
    ["EXCCAUSE", faulting ? 0x1c : 0x05],
    ["EXCVADDR", 0],
    ["LBEG    ", 0],
    ["LEND    ", 0],
    ["LCOUNT  ", 0],
  ] as const;
  let s = `Core ${core < 10 ? " " : ""}${core} register dump:`;
  regs.forEach(([name, value], i) => {
    if (i % 4 === 0) s += "\r\n";
    s += `${name}: 0x${hexPad(value, 8)}  `;
  });
  s += "\r\n";
  const frames = [
    [stackPc(f.pc), f.sp],
    [stackPc(f.a0), f.sp + 0x20],
    [stackPc(f.next), f.sp + 0x40],
  ];
  s += "\r\n\r\nBacktrace:" +
    frames.map(([pc, sp]) => ` 0x${hexPad(pc, 8)}:0x${hexPad(sp, 8)}`).join("") +
    "\r\n\r\n";
  return s;
}

function riscvCore(core: number): string {
  const names = [
    "MEPC    ",
    "RA      ",
    "SP      ",
    "GP      ",
    "TP      ",
    "T0      ",
    "T1      ",
    "T2      ",
    "S0/FP   ",
    "S1      ",
    "A0      ",
    "A1      ",
    "A2      ",
    "A3      ",
    "A4      ",
    "A5      ",
    "A6      ",
    "A7      ",
    "S2      ",
    "S3      ",
    "S4      ",
    "S5      ",
    "S6      ",
    "S7      ",
    "S8      ",
    "S9      ",
    "S10     ",
    "S11     ",
    "T3      ",
    "T4      ",
    "T5      ",
    "T6      ",
    "MSTATUS ",
    "MTVEC   ",
    "MCAUSE  ",
    "MTVAL   ",
    "MHARTID ",
  ];
  const values: Record<string, number> = {
    "MEPC    ": RV.mepc,
    "RA      ": RV.ra,
    "SP      ": RV.sp,
    "GP      ": 0x3fc8bc00,
    "TP      ": 0x3fc8ea60,
    "S0/FP   ": RV.sp + 0x20,
    "A0      ": 0x00000000,
    "MSTATUS ": 0x00001881,
    "MTVEC   ": 0x40380001,
    "MCAUSE  ": 0x00000005,
    "MTVAL   ": 0x00000000,
    "MHARTID ": core,
  };
  let s = `Core ${core < 10 ? " " : ""}${core} register dump:`;
  names.forEach((name, i) => {
    if (i % 4 === 0) s += "\r\n";
    s += `${name}: 0x${hexPad(values[name] ?? 0, 8)}  `;
  });
  s += "\r\n";
  // Stack memory: app_main's frame saves RA (into main_task), main_task's saves vPortTaskWrapper's.
  s += "\r\nStack memory:\r\n";
  const words = new Array(256).fill(0);
  words[3] = RV.ra;
  words[7] = RV.caller;
  words[8] = 0x3fc8ea60;
  for (let line = 0; line < 32; line++) {
    s += `${hexPad(RV.sp + line * 32, 8)}: ` +
      words.slice(line * 8, line * 8 + 8).map((w) => `0x${hexPad(w, 8)}`).join(" ") + "\r\n";
  }
  return s;
}

/**
 * The panic handler's output for the test app, from `Guru Meditation Error`
 * to `Rebooting...`.
 */
export function panicText(chip: ChipName, desc: AppDesc): string {
  const xtensa = XTENSA.has(chip);
  let s = "Guru Meditation Error: Core  0 panic'ed (" +
    (xtensa ? "LoadProhibited" : "Load access fault") +
    "). Exception was unhandled.\r\n\r\n";
  s += (xtensa ? xtensaCore(0, XT_CORE0, true) : riscvCore(0)) + "\r\n";
  if (DUAL_CORE.has(chip)) s += (xtensa ? xtensaCore(1, XT_CORE1, false) : riscvCore(1)) + "\r\n";
  s += "\r\n";
  s += `\r\nELF file SHA256: ${elfShaText(desc)}\r\n`;
  s += "\r\nRebooting...\r\n";
  return s;
}

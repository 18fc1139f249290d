/**
 * espdelta: flash Espressif chips over the serial ROM bootloader protocol and
 * write only what differs on the device.
 *
 * The usual flow: open a port, connect a loader, plan from device MD5s, and
 * execute the plan.
 *
 * @example
 * ```ts
 * import { connect, executePlan, memoryPort, planFlash, VirtualDevice } from "@espdelta/espdelta";
 *
 * // A virtual ESP32 stands in for a board; use openPort("/dev/ttyUSB0", { baud: 115200 }) for real.
 * const port = memoryPort(new VirtualDevice({ chip: "esp32" }));
 * const loader = await connect(port, { baud: 921600 });
 * const regions = [{ name: "app", offset: 0x10000, data: new Uint8Array(8192).fill(7) }];
 * const plan = await planFlash(loader, regions, { flashSize: 4 << 20 });
 * console.log(plan.outcome); // "full" the first time, "verify-skip" after
 * await executePlan(loader, plan, regions);
 * await port.close();
 * ```
 * @module
 */

// Planning and executing: the heart of espdelta.
export {
  EncryptedFlashError,
  planFlash,
  type PlanOptions,
  summarizePlan,
} from "./src/plan/planner.ts";
export {
  type ExecuteEvent,
  type ExecuteOptions,
  executePlan,
  type ExecuteResult,
  VerifyError,
} from "./src/plan/execute.ts";
export type {
  FlashRegion,
  Outcome,
  Plan,
  PlanDevice,
  PlanStep,
  RegionPlan,
  StepReason,
} from "./src/plan/types.ts";
export { type CostParams, costParams, DEFAULT_COST } from "./src/plan/cost.ts";
export { RegionError, validateRegions } from "./src/plan/validate.ts";

// The device session.
export {
  type AfterReset,
  type BeforeReset,
  connect,
  ConnectError,
  type ConnectOptions,
  type DeviceSecurity,
  LinkLostError,
  Loader,
  type SecurityInfo,
  UnsupportedError,
  type WriteOptions,
  type WriteResult,
} from "./src/loader/loader.ts";
export { parseStubJson, type StubImage } from "./src/loader/stub.ts";
export { findStub, type StubLog } from "./src/loader/stubs.ts";
export { type Clock, FrameReader } from "./src/loader/frames.ts";

// Ports.
export type { Port, Signals } from "./src/serial/port.ts";
export { openPort } from "./src/serial/open.ts";
export {
  describePort,
  guessBridge,
  isUsbJtagSerial,
  listPorts,
  pickPort,
  type PortInfo,
} from "./src/serial/list.ts";
export {
  classicSteps,
  hardResetSteps,
  parseResetSequence,
  type ResetFn,
  type ResetStep,
  runSequence,
  type Sleep,
  tightSteps,
  usbJtagSteps,
} from "./src/serial/reset.ts";

// The virtual device.
export {
  type CommandRecord,
  type DeviceMode,
  FlasherErr,
  RomErr,
  StubErr,
  VirtualDevice,
  type VirtualDeviceOptions,
} from "./src/emulator/device.ts";
export {
  type ChipIdentity,
  chipIdentity,
  defaultRevision,
  formatRevision,
  parseRevision,
  type Revision,
  RevisionError,
} from "./src/emulator/identity.ts";
export {
  KNOWN_STUBS,
  type KnownStub,
  knownStub,
  ramDigest,
  type RamSegment,
  STUB_KINDS,
  type StubKind,
  type StubProgram,
} from "./src/emulator/known_stubs.ts";
export { type FlashCipher, FlashCrypt } from "./src/emulator/crypt.ts";
export { type DeviceClock, ManualClock, realClock, SimClock } from "./src/emulator/clock.ts";
export {
  DEFAULT_TIMING,
  type LinkStats,
  type TimedLink,
  timedLink,
  type TimingParams,
  uartMs,
} from "./src/emulator/timing.ts";
export { type FlashChipOptions, NorFlash, winbondJedecId } from "./src/emulator/flash.ts";
export { type FaultCounts, FaultModel, type FaultOptions, uniform } from "./src/emulator/faults.ts";
export { memoryPort } from "./src/emulator/memory.ts";
export { serveTcp, type TcpServer } from "./src/emulator/tcp.ts";
export { type Served, servePty } from "./src/emulator/pty.ts";

// Images, partition tables, build folders.
export { detectImageTarget, identifyImageTarget, parseImage, writeImage } from "./src/image/app.ts";
export type * from "./src/image/app.ts";
export type * from "./src/image/app_desc.ts";
export type * from "./src/image/targets.ts";
export { formatImageInfo } from "./src/image/info.ts";
export { patchFlashParams } from "./src/image/patch.ts";
export type * from "./src/image/patch.ts";
export { mergeBin } from "./src/image/merge.ts";
export type * from "./src/image/merge.ts";
export {
  formatPartitionCsv,
  parsePartitionCsv,
  parsePartitionTable,
  verifyPartitions,
  writePartitionTable,
} from "./src/image/partitions.ts";
export type * from "./src/image/partitions.ts";
export { nameRegions, regionsFromBuildDir } from "./src/image/regions.ts";
export type * from "./src/image/regions.ts";
export { BuildDirError, ImageError, PartitionError } from "./src/image/errors.ts";
export type * from "./src/image/errors.ts";

// Chips and protocol building blocks.
export {
  CHIP_NAMES,
  type ChipInfo,
  type ChipName,
  CHIPS,
  formatMac,
  type MacLayout,
  normalizeChipName,
  type RomCaps,
  RTC_WDT_WKEY,
  type RtcWdt,
  type SpiRegs,
} from "./src/chips/chips.ts";
export { DeviceError, EspdeltaError, ProtocolError, TimeoutError } from "./src/protocol/errors.ts";
export { SlipDecoder, slipEncode, type SlipStats } from "./src/protocol/slip.ts";

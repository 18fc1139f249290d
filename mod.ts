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
 * import assert from "node:assert";
 *
 * // A virtual ESP32 stands in for a board; use openPort("/dev/ttyUSB0", { baud: 115200 }) for real.
 * const device = new VirtualDevice({ chip: "esp32" });
 * const port = memoryPort(device);
 * const loader = await connect(port, { baud: 921600 });
 * const regions = [{ name: "app", offset: 0x10000, data: new Uint8Array(8192).fill(7) }];
 * const plan = await planFlash(loader, regions, { flashSize: 4 << 20 });
 * assert.strictEqual(plan.outcome, "full"); // the device's flash is erased
 * await executePlan(loader, plan, regions);
 * assert.deepStrictEqual(device.flash.data.subarray(0x10000, 0x12000), regions[0].data);
 * const again = await planFlash(loader, regions, { flashSize: 4 << 20 });
 * assert.strictEqual(again.outcome, "verify-skip"); // nothing left to write
 * await port.close();
 * ```
 * @module
 */

// Planning and executing: the heart of espdelta.
export {
  checkEncryptionOn,
  EncryptedFlashError,
  EncryptionOffError,
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
  Outcome,
  Plan,
  PlanDevice,
  PlanStep,
  Region,
  RegionPlan,
  StepReason,
} from "./src/plan/types.ts";
export { type CostParams, costParams, DEFAULT_COST } from "./src/plan/cost.ts";

// The device session.
export {
  type AfterReset,
  type BeforeReset,
  connect,
  type ConnectOptions,
  Loader,
  type WriteOptions,
  type WriteResult,
} from "./src/loader/loader.ts";
export {
  type BaudAttempt,
  type BaudChoice,
  type LinkFacts,
  LinkSpeed,
} from "./src/loader/link_speed.ts";
export {
  baudLadder,
  bridgeById,
  bridgeForUsb,
  type BridgeInfo,
  BRIDGES,
} from "./src/chips/bridges.ts";
export {
  ConnectError,
  type DeviceSecurity,
  type DeviceState,
  UnsupportedError,
} from "./src/loader/connect.ts";
export {
  type CommandOptions,
  Connection,
  type ConnectionOptions,
  LinkLostError,
  type ReconnectHook,
  type SyncAnswer,
} from "./src/loader/connection.ts";
export type { CommandRequest, SecurityInfo } from "./src/protocol/commands.ts";
export { checkStubFits, parseStubJson, type StubImage } from "./src/loader/stub.ts";
export {
  ASSUMED_FLASH_SIZE,
  beforeResetFor,
  openSession,
  type Session,
  type SessionLog,
  type SessionOptions,
  settleFlashSize,
} from "./src/session/session.ts";
export {
  type WriteEvent,
  writeRegions,
  type WriteRegionsOptions,
  type WriteRegionsResult,
} from "./src/session/write.ts";
export { findStub, type StubLog, stubName } from "./src/loader/stubs.ts";
export { FrameReader } from "./src/loader/frames.ts";

// Time and randomness, injected.
export { type Clock, realClock, type TimerClock } from "./src/clock.ts";
export { uniform } from "./src/random.ts";

// Ports.
export type { Port, Signals } from "./src/serial/port.ts";
export { LOSS_REASONS, type LossKind, PortLostError } from "./src/serial/lost.ts";
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
export { type DeviceClock, ManualClock, SimClock } from "./src/emulator/clock.ts";
export {
  DEFAULT_TIMING,
  type LinkStats,
  type TimedLink,
  timedLink,
  type TimingParams,
  uartMs,
} from "./src/emulator/timing.ts";
export {
  type FlashChipOptions,
  type FlashStore,
  NorFlash,
  winbondJedecId,
} from "./src/emulator/flash.ts";
export {
  countersPath,
  FlashFile,
  FlashFileError,
  readCounters,
  type SectorCounters,
} from "./src/emulator/flash_file.ts";
export { type FaultCounts, FaultModel, type FaultOptions } from "./src/emulator/faults.ts";
export { memoryPort } from "./src/emulator/memory.ts";
export { type BridgeOptions, VirtualBridge } from "./src/emulator/bridge.ts";
export type { FlashOp, FlashTimer } from "./src/emulator/flash_bus.ts";
export { serveTcp, type TcpOptions, type TcpServer } from "./src/emulator/tcp.ts";
export { type PtyOptions, type Served, servePty } from "./src/emulator/pty.ts";
export {
  type Rfc2217Server,
  type SerialSettings,
  serveRfc2217,
} from "./src/emulator/rfc2217_server.ts";
export { HEARTBEAT_MS, PANIC_MARKER } from "./src/emulator/idf_app.ts";

// Images, partition tables, build folders.
export {
  detectImageTarget,
  hasImageMagic,
  identifyImageTarget,
  parseImage,
  readImage,
  writeImage,
} from "./src/image/app.ts";
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
export {
  checkChipRevision,
  checkInputsChip,
  checkPartitionFit,
  imageRevisionRange,
  loadInputs,
  regionsForChip,
  regionsFromInputs,
} from "./src/image/inputs.ts";
export type * from "./src/image/inputs.ts";
export { checkOutputPath, readInputFile, regionsFromFiles } from "./src/image/files.ts";
export type * from "./src/image/files.ts";
export { holdsImage, nameRegions, validateRegions } from "./src/image/region.ts";
export type * from "./src/image/region.ts";
export { checkBuildChip, regionsFromBuildDir } from "./src/image/build_dir.ts";
export type * from "./src/image/build_dir.ts";
export {
  BuildDirError,
  ImageError,
  InputError,
  PartitionError,
  RegionError,
} from "./src/image/errors.ts";
export type * from "./src/image/errors.ts";

// Chips and protocol building blocks.
export {
  CHIP_NAMES,
  type ChipInfo,
  type ChipName,
  chipRevision,
  CHIPS,
  type EfuseField,
  formatChipRevision,
  formatMac,
  type MacLayout,
  normalizeChipName,
  type RamRange,
  type RevisionFields,
  revisionWords,
  type RomCaps,
  RTC_WDT_WKEY,
  type RtcWdt,
  type SpiRegs,
} from "./src/chips/chips.ts";
export {
  DeviceError,
  EspdeltaError,
  ProtocolError,
  RomErrorCode,
  StubErrorCode,
  TimeoutError,
} from "./src/protocol/errors.ts";
export type { Response } from "./src/protocol/packet.ts";
export { SlipDecoder, slipEncode, type SlipStats } from "./src/protocol/slip.ts";

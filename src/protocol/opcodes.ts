/**
 * Command opcodes of the ROM loader and the flasher stub.
 * @module
 */

/** Opcodes, named as in esptool's loader. */
export const Op = {
  FLASH_BEGIN: 0x02,
  FLASH_DATA: 0x03,
  FLASH_END: 0x04,
  MEM_BEGIN: 0x05,
  MEM_END: 0x06,
  MEM_DATA: 0x07,
  SYNC: 0x08,
  WRITE_REG: 0x09,
  READ_REG: 0x0a,
  SPI_SET_PARAMS: 0x0b,
  SPI_ATTACH: 0x0d,
  READ_FLASH_SLOW: 0x0e,
  CHANGE_BAUDRATE: 0x0f,
  FLASH_DEFL_BEGIN: 0x10,
  FLASH_DEFL_DATA: 0x11,
  FLASH_DEFL_END: 0x12,
  SPI_FLASH_MD5: 0x13,
  GET_SECURITY_INFO: 0x14,
  ERASE_FLASH: 0xd0,
  ERASE_REGION: 0xd1,
  READ_FLASH: 0xd2,
  RUN_USER_CODE: 0xd3,
  FLASH_ENCRYPT_DATA: 0xd4,
} as const;

/** One of the known opcodes. */
export type Opcode = typeof Op[keyof typeof Op];

/** The opcode's name, or its hex value when unknown. */
export function opName(op: number): string {
  for (const [name, value] of Object.entries(Op)) if (value === op) return name;
  return `0x${op.toString(16).padStart(2, "0")}`;
}

/** Block and sector sizes that the protocol fixes. */
export const Sizes = {
  /** FLASH_DATA / FLASH_DEFL_DATA block size with the ROM loader. */
  ROM_FLASH_BLOCK: 0x400,
  /** FLASH_DATA / FLASH_DEFL_DATA block size with the stub. */
  STUB_FLASH_BLOCK: 0x4000,
  /** MEM_DATA block size used to upload RAM code. */
  RAM_BLOCK: 0x1800,
  /** Smallest erasable unit of SPI NOR flash. */
  SECTOR: 0x1000,
  /** 64 KiB erase block. */
  BLOCK: 0x10000,
  /** Page program unit. */
  PAGE: 0x100,
  /** Largest READ_FLASH_SLOW chunk. */
  READ_SLOW_CHUNK: 64,
} as const;

/** The 36-byte SYNC payload: 07 07 12 20 then 32 x 0x55. */
export const SYNC_PAYLOAD: Uint8Array = (() => {
  const p = new Uint8Array(36).fill(0x55);
  p.set([0x07, 0x07, 0x12, 0x20], 0);
  return p;
})();

/** The stub's one unsolicited frame after it starts. */
export const STUB_GREETING: Uint8Array = new TextEncoder().encode("OHAI");

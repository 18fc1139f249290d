/**
 * The SFDP table (JESD216, read with opcode 0x5A) of the modelled flash, a
 * Winbond W25Q..JV-IQ part of the device's capacity (JEDEC id EF 40 xx).
 *
 * Sources: a device dump of a W25Q16JV (EF 40 15) and of a W25Q256JV
 * (EF 40 19) in Microsoft's Project Cerberus test data (Azure/Project-Cerberus,
 * `core/testing/flash/spi_flash_sfdp_test.c`): a 16-byte SFDP header (revision
 * 1.5, one parameter header) pointing at a 16-DWORD JEDEC Basic Flash
 * Parameter Table at 0x80, 0xFF everywhere else in the 256-byte SFDP space.
 * The Linux kernel's W25Q128 dump (`mtd: spi-nor: Correct flags for Winbond
 * w25q128`) shows the same header.
 *
 * Those two capacities are served byte for byte. The W25Q32JV (the 4 MB
 * default), W25Q64JV and W25Q128JV are constructed, as their datasheets'
 * SFDP bytes were not available here: the W25Q16JV table with DWORD 2 (the
 * density in bits, minus one) of their capacity and DWORD 11's typical chip
 * erase time (bits 30..24: count and unit per JESD216B) from their
 * datasheets' tCE (10 s, 20 s, 40 s, rounded up to 4 s units as the
 * W25Q256JV's own table rounds its 80 s). Other capacities get the same
 * layout with their density; a part above 16 MB gets the W25Q256JV table.
 * @module
 */

const MB = 1024 * 1024;

/** W25Q16JV's Basic Flash Parameter Table, DWORDs 1-16. */
const BFPT_W25Q16JV = [
  0xfff920e5,
  0x00ffffff,
  0x6b08eb44,
  0xbb423b08,
  0xfffffffe,
  0x0000ffff,
  0xeb40ffff,
  0x520f200c,
  0x0000d810,
  0x00a60236,
  0xb314ea82,
  0x337663e9,
  0x757a757a,
  0x5cd5a2f7,
  0xff4df719,
  0x80f830e9,
];

/** W25Q256JV's table: 3- or 4-byte addressing (DWORD 1), its erase time and 4-byte modes. */
const BFPT_W25Q256JV = [
  0xfffb20e5,
  0x0fffffff,
  0x6b08eb44,
  0xbb423b08,
  0xfffffffe,
  0x0000ffff,
  0xeb40ffff,
  0x520f200c,
  0x0000d810,
  0x00a60236,
  0xd314ea82,
  0x337663e9,
  0x757a757a,
  0x5cd5a2f7,
  0xff4df719,
  0xa5f970e9,
];

/** DWORD 11's top byte (reserved bit 31 set, chip erase time) by capacity, from tCE typical. */
const CHIP_ERASE_BYTE: Readonly<Record<number, number>> = {
  [4 * MB]: 0xc2, // 10 s -> 3 x 4 s
  [8 * MB]: 0xc4, // 20 s -> 5 x 4 s
  [16 * MB]: 0xc9, // 40 s -> 10 x 4 s
};

/** The 256-byte SFDP space of the modelled part for a flash of `size` bytes. */
export function sfdpTable(size: number): Uint8Array {
  const table = new Uint8Array(256).fill(0xff);
  const view = new DataView(table.buffer);
  // Header: "SFDP", revision 1.5, one parameter header (NPH 0), 0xFF.
  table.set([0x53, 0x46, 0x44, 0x50, 0x05, 0x01, 0x00, 0xff]);
  // Parameter header 0: JEDEC BFPT (id 0xFF00), revision 1.5, 16 DWORDs at 0x80.
  table.set([0x00, 0x05, 0x01, 0x10, 0x80, 0x00, 0x00, 0xff], 8);
  const large = size > 16 * MB;
  const dwords = (large ? BFPT_W25Q256JV : BFPT_W25Q16JV).slice();
  dwords[1] = (size * 8 - 1) >>> 0;
  const erase = CHIP_ERASE_BYTE[size];
  if (!large && erase !== undefined) dwords[10] = ((erase << 24) | (dwords[10] & 0xffffff)) >>> 0;
  dwords.forEach((d, i) => view.setUint32(0x80 + i * 4, d, true));
  return table;
}

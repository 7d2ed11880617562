/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRC32C (Castagnoli, iSCSI polynomial 0x1EDC6F41, reflected, initial value
 * and final XOR 0xFFFFFFFF): the checksum of every on-disk batch and wire
 * frame. Computed by ISA-L, which picks SSE4.2/PCLMUL code at run time.
 *
 * sl_crc32c(0, "123456789", 9) == 0xE3069283. Chaining is plain:
 * sl_crc32c(sl_crc32c(0, a, n), b, m) == sl_crc32c(0, a||b, n+m).
 */
#ifndef SL_COMMON_CRC32C_H
#define SL_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t sl_crc32c(uint32_t crc, const void *buf, size_t len);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ISA-L's crc32_iscsi() keeps the CRC register un-inverted and takes an int
 * length; this wrapper gives the standard (inverted in, inverted out) form
 * and splits lengths above INT_MAX.
 */
#include "crc32c.h"

#include <isa-l/crc.h>
#include <limits.h>

uint32_t sl_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	unsigned int reg = ~crc;

	while (len > 0) {
		int n = len > (size_t)INT_MAX ? INT_MAX : (int)len;

		reg = crc32_iscsi((unsigned char *)p, n, reg);
		p += n;
		len -= (size_t)n;
	}
	return ~reg;
}

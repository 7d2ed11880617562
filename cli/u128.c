/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decimal 128-bit hash keys for sluicectl. Kinesis writes hash keys as
 * decimal strings (pattern 0|([1-9]\d{0,38})); sluicectl reads them from
 * the user (split --at, put --hash-key) and from ListShards.
 */
#include "u128.h"

#include <errno.h>

int sl_u128_parse(const char *s, sl_u128 *ret)
{
	const sl_u128 max = ~(sl_u128)0;
	sl_u128 v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -EINVAL;
		d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

sl_u128 sl_u128_midpoint(sl_u128 start, sl_u128 end)
{
	sl_u128 d = end - start;

	return start + d / 2 + (d & 1);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Hash-key arithmetic (see hashkey.h). */
#include "hashkey.h"

/* floor(2^128 / n), computed without a 129-bit type. */
static sl_u128 even_width(uint32_t n)
{
	sl_u128 max = ~(sl_u128)0;
	sl_u128 q = max / n;

	if (max % n + 1 == n)
		q++;
	return q;
}

sl_u128 sl_hashkey_even_start(uint32_t k, uint32_t n)
{
	return even_width(n) * k;
}

uint32_t sl_hashkey_even_shard(sl_u128 v, uint32_t n)
{
	sl_u128 k = n == 1 ? 0 : v / even_width(n);

	return k >= n ? n - 1 : (uint32_t)k;
}

void sl_u128_format(sl_u128 v, char buf[40])
{
	char tmp[40];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	for (int i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = 0;
}

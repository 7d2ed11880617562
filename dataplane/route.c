/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Routing table helpers (see route.h). The lookup itself is inline: a
 * binary search over at most a few thousand 16-byte starts, a handful of
 * cache lines per record.
 */
#include "route.h"

#include <stdlib.h>

sl_u128 sl_route_even_start(uint32_t k, uint32_t n)
{
	/* q = floor(2^128 / n), computed without a 129-bit type. */
	sl_u128 max = ~(sl_u128)0;
	sl_u128 q = max / n;

	if (max % n + 1 == n)
		q++;
	return q * k;
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

void sl_routes_free(struct sl_routes *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < r->nstreams; i++)
		free(r->streams[i].shards);
	free(r->streams);
	free(r->by_id);
	free(r);
}

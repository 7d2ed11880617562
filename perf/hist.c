/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Log-linear latency histogram (see hist.h). Bucket i >= SL_HIST_SUB covers
 * [m << s, (m + 1) << s) with s = i / SL_HIST_SUB - 1 and
 * m = SL_HIST_SUB + i % SL_HIST_SUB; buckets below SL_HIST_SUB hold one
 * value each.
 */
#include "hist.h"

#include <string.h>

void sl_hist_reset(struct sl_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static uint64_t bucket_high(unsigned i)
{
	unsigned shift;
	uint64_t m;

	if (i < SL_HIST_SUB)
		return i;
	shift = i / SL_HIST_SUB - 1;
	m = SL_HIST_SUB + i % SL_HIST_SUB;
	return (m << shift) + ((1ull << shift) - 1);
}

uint64_t sl_hist_percentile(const struct sl_hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	if (p >= 100.0)
		return h->max;
	/* The smallest value with at least p % of the samples at or below it. */
	rank = (uint64_t)(p / 100.0 * (double)h->count);
	if ((double)rank < p / 100.0 * (double)h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < SL_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = bucket_high(i);

			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

double sl_hist_mean(const struct sl_hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}

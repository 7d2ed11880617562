/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A log-linear histogram of nanosecond latencies for the benchmarks: each
 * power of two is split into 2^SL_HIST_SUB_BITS equal buckets, so a value is
 * kept within 1/64 (1.6 %) of itself from 1 ns to 2^64 ns, in a fixed 30 KiB
 * table, with an O(1) add and no allocation. Percentiles report the upper
 * edge of the bucket (never below the true value), capped at the exact max.
 */
#ifndef SL_PERF_HIST_H
#define SL_PERF_HIST_H

#include <stdint.h>

#define SL_HIST_SUB_BITS 6
#define SL_HIST_SUB      (1u << SL_HIST_SUB_BITS)
#define SL_HIST_BUCKETS  ((64 - SL_HIST_SUB_BITS + 1) * SL_HIST_SUB)

struct sl_hist {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	double sum;
	uint64_t b[SL_HIST_BUCKETS];
};

void sl_hist_reset(struct sl_hist *h);

static inline unsigned sl_hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < SL_HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - SL_HIST_SUB_BITS;
	return ((shift + 1) << SL_HIST_SUB_BITS) + (unsigned)((v >> shift) - SL_HIST_SUB);
}

static inline void sl_hist_add(struct sl_hist *h, uint64_t v)
{
	h->b[sl_hist_index(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

/* Adds a signed sample; negative ones (clock misuse) count as 0. */
static inline void sl_hist_add_ns(struct sl_hist *h, int64_t v)
{
	sl_hist_add(h, v < 0 ? 0 : (uint64_t)v);
}

/* The value at percentile p (0 < p <= 100), or 0 if the histogram is empty. */
uint64_t sl_hist_percentile(const struct sl_hist *h, double p);
double sl_hist_mean(const struct sl_hist *h);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Clocks, one unit everywhere: nanoseconds in an int64_t.
 * sl_wall_ns() is CLOCK_REALTIME (arrival timestamps, retention by age);
 * sl_mono_ns() is CLOCK_MONOTONIC (latencies, timeouts).
 */
#ifndef SL_COMMON_CLOCK_H
#define SL_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t sl_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t sl_wall_ns(void)
{
	return sl_clock_ns(CLOCK_REALTIME);
}

static inline int64_t sl_mono_ns(void)
{
	return sl_clock_ns(CLOCK_MONOTONIC);
}

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compiler helpers shared by every layer. Each one needs a reason where it
 * is used (STYLE.md): branch hints only on paths measured to be hot.
 */
#ifndef SL_COMMON_COMPILER_H
#define SL_COMMON_COMPILER_H

#include <stddef.h>
#include <stdint.h>

#define sl_likely(x)   __builtin_expect(!!(x), 1)
#define sl_unlikely(x) __builtin_expect(!!(x), 0)

#define SL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SL_MIN(a, b)     ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b)     ((a) > (b) ? (a) : (b))

#define SL_CACHE_LINE    64
#define SL_CACHE_ALIGNED __attribute__((aligned(SL_CACHE_LINE)))
#define SL_COLD          __attribute__((cold))
#define SL_PRINTF(f, a)  __attribute__((format(printf, f, a)))

/* Round up/down to a power-of-two alignment. */
static inline uint64_t sl_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static inline uint64_t sl_align_down(uint64_t v, uint64_t a)
{
	return v & ~(a - 1);
}

#endif

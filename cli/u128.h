/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kinesis hash keys as decimal text: parsing (formatting is
 * sl_u128_format() in common/hashkey.h) and the split point of a range.
 */
#ifndef SL_CLI_U128_H
#define SL_CLI_U128_H

#include "hashkey.h"

/* Decimal digits only (no sign, no spaces), 0 .. 2^128 - 1; -EINVAL or
 * -ERANGE otherwise. */
int sl_u128_parse(const char *s, sl_u128 *ret);

/*
 * Where SplitShard should cut [start, end] into two halves of equal size
 * (the upper one a key smaller when the size is odd): start +
 * ceil((end - start) / 2), computed without the overflow of (start + end).
 * For the whole space it is 2^127, where a 2-shard stream's second shard
 * starts.
 */
sl_u128 sl_u128_midpoint(sl_u128 start, sl_u128 end);

#endif

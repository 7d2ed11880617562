/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kinesis hash keys as integers: a record's 128-bit hash key (the MD5 of
 * its partition key, or an explicit one; big-endian on the wire and on
 * disk) and the even split of the 2^128 key space that a new stream gets.
 * One copy for the engine's routing, the producer's per-shard batching and
 * the catalog.
 */
#ifndef SL_COMMON_HASHKEY_H
#define SL_COMMON_HASHKEY_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

typedef unsigned __int128 sl_u128;

/* Big-endian 16 bytes -> integer. */
static inline sl_u128 sl_hashkey_value(const uint8_t h[16])
{
	uint64_t hi, lo;

	memcpy(&hi, h, 8);
	memcpy(&lo, h + 8, 8);
	return (sl_u128)be64toh(hi) << 64 | be64toh(lo);
}

/* Start of shard k of n as Kinesis lays out a new stream: k * floor(2^128
 * / n); the last shard also takes the remainder up to 2^128 - 1. */
sl_u128 sl_hashkey_even_start(uint32_t k, uint32_t n);

/* The shard of key v under that even split of n shards (n >= 1). */
uint32_t sl_hashkey_even_shard(sl_u128 v, uint32_t n);

/* Decimal text of a 128-bit value (up to 39 digits + NUL). */
void sl_u128_format(sl_u128 v, char buf[40]);

#endif

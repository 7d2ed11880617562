/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for dataplane/route.{h,c}: the even split of the 2^128 hash space
 * (against the starting hash keys Kinesis prints for CreateStream, and
 * against this file's own long division of 2^128 by n (times k) in 32-bit
 * limbs), decimal formatting of 128-bit values (against a two-step
 * printf by 10^19), the big-endian hash key load, the binary search at
 * every range boundary and in uneven tables (against a linear scan), and
 * the stream lookup by id.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

#define U128_MAX (~(sl_u128)0)

TestSuite(route, .timeout = 30);

/* ---- independent references ---- */

/* k * floor(2^128 / n) for k < n (Kinesis's CreateStream layout):
 * floor(2^128 / n) by schoolbook division of the five 32-bit limbs
 * [1, 0, 0, 0, 0] (most significant first) by n, then times k. */
static sl_u128 ref_even_start(uint32_t k, uint32_t n)
{
	uint64_t rem = 1 % n; /* the top limb's quotient, 1 / n, is 0 unless n == 1 */
	sl_u128 q = n == 1 ? 1 : 0;

	for (int i = 0; i < 4; i++) {
		uint64_t cur = rem << 32;

		q = q << 32 | (uint32_t)(cur / n);
		rem = cur % n;
	}
	return n == 1 ? 0 : q * k; /* n == 1: one shard starting at 0 */
}

/* Decimal text by splitting at 10^19 (fits in uint64_t) twice. */
static void ref_format(sl_u128 v, char *buf, size_t cap)
{
	const uint64_t e19 = 10000000000000000000ull;
	uint64_t lo = (uint64_t)(v % e19);
	sl_u128 rest = v / e19;
	uint64_t mid = (uint64_t)(rest % e19);
	uint64_t hi = (uint64_t)(rest / e19); /* 2^128 / 10^38 < 4 */

	if (hi)
		snprintf(buf, cap, "%" PRIu64 "%019" PRIu64 "%019" PRIu64, hi, mid, lo);
	else if (mid)
		snprintf(buf, cap, "%" PRIu64 "%019" PRIu64, mid, lo);
	else
		snprintf(buf, cap, "%" PRIu64, lo);
}

/* Largest i with starts[i] <= h (starts[0] == 0). */
static uint32_t ref_find(const struct sl_route_stream *s, sl_u128 h)
{
	uint32_t ans = 0;

	for (uint32_t i = 0; i < s->nshards; i++)
		if (s->shards[i].start <= h)
			ans = i;
	return ans;
}

static const char *fmt(sl_u128 v, char buf[40])
{
	sl_u128_format(v, buf);
	return buf;
}

static struct sl_route_stream *even_stream(uint32_t n)
{
	struct sl_route_stream *s = calloc(1, sizeof(*s));

	cr_assert_not_null(s);
	s->nshards = n;
	s->shards = calloc(n, sizeof(*s->shards));
	cr_assert_not_null(s->shards);
	for (uint32_t k = 0; k < n; k++) {
		s->shards[k].start = sl_hashkey_even_start(k, n);
		s->shards[k].shard_id = k;
	}
	return s;
}

static void stream_free(struct sl_route_stream *s)
{
	free(s->shards);
	free(s);
}

/* ---- sl_u128_format ---- */

Test(route, format_known_values)
{
	static const struct {
		sl_u128 v;
		const char *want;
	} cases[] = {
	        {0, "0"},
	        {1, "1"},
	        {9, "9"},
	        {10, "10"},
	        {UINT64_MAX, "18446744073709551615"},
	        {(sl_u128)UINT64_MAX + 1, "18446744073709551616"},
	        {(sl_u128)1 << 127, "170141183460469231731687303715884105728"},
	        {U128_MAX, "340282366920938463463374607431768211455"},
	};
	char buf[40];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_str_eq(fmt(cases[i].v, buf), cases[i].want);
}

Test(route, format_matches_reference_at_powers_of_ten_and_random)
{
	char got[40], want[48];
	sl_u128 p = 1;
	uint64_t x = 0x2545f4914f6cdd1dull;

	/* 10^i - 1, 10^i, 10^i + 1 for every power that fits. */
	for (int i = 0; i <= 38; i++, p *= 10) {
		for (int d = -1; d <= 1; d++) {
			sl_u128 v = p + (sl_u128)(__int128)d;

			ref_format(v, want, sizeof(want));
			cr_assert_str_eq(fmt(v, got), want, "10^%d%+d", i, d);
		}
	}
	for (int i = 0; i < 10000; i++) {
		sl_u128 v;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		v = (sl_u128)x << 64;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		v |= x;
		v >>= i % 128; /* every length of number */
		ref_format(v, want, sizeof(want));
		cr_assert_str_eq(fmt(v, got), want);
	}
}

/* ---- sl_hashkey_even_start ---- */

Test(route, even_start_matches_kinesis_create_stream)
{
	char buf[40];

	cr_expect_str_eq(fmt(sl_hashkey_even_start(0, 1), buf), "0");

	cr_expect_str_eq(fmt(sl_hashkey_even_start(0, 2), buf), "0");
	cr_expect_str_eq(fmt(sl_hashkey_even_start(1, 2), buf),
	                 "170141183460469231731687303715884105728");

	cr_expect_str_eq(fmt(sl_hashkey_even_start(0, 3), buf), "0");
	cr_expect_str_eq(fmt(sl_hashkey_even_start(1, 3), buf),
	                 "113427455640312821154458202477256070485");
	cr_expect_str_eq(fmt(sl_hashkey_even_start(2, 3), buf),
	                 "226854911280625642308916404954512140970");

	/* 4 shards: quarters. */
	cr_expect_str_eq(fmt(sl_hashkey_even_start(1, 4), buf),
	                 "85070591730234615865843651857942052864");
	cr_expect_str_eq(fmt(sl_hashkey_even_start(3, 4), buf),
	                 "255211775190703847597530955573826158592");
}

/* Every start of n shards is floor(k * 2^128 / n), strictly increasing, and
 * every range (the last one ending at 2^128 - 1) is floor or ceil of 2^128/n
 * keys wide. */
static void check_even(uint32_t n, uint32_t step)
{
	/* floor(2^128 / n); wraps to 0 for n == 1, where q - 1 is still right */
	sl_u128 q = U128_MAX / n + (U128_MAX % n == n - 1);
	sl_u128 prev = 0;
	char a[40], b[40];

	cr_assert_eq(sl_hashkey_even_start(0, n), 0, "n=%u", n);
	for (uint64_t k = 0; k < n; k += step) {
		sl_u128 s = sl_hashkey_even_start((uint32_t)k, n);
		sl_u128 want = ref_even_start((uint32_t)k, n);

		cr_assert(s == want, "n=%u k=%" PRIu64 ": %s, want %s", n, k, fmt(s, a),
		          fmt(want, b));
		if (k)
			cr_assert(s > prev, "n=%u k=%" PRIu64 " not after k-1", n, k);
		prev = s;
	}
	for (uint64_t k = 0; k < n; k += step) {
		sl_u128 s = sl_hashkey_even_start((uint32_t)k, n);
		sl_u128 last = k + 1 < n ? sl_hashkey_even_start((uint32_t)k + 1, n) - 1 : U128_MAX;
		sl_u128 width_m1 = last - s; /* width - 1, no overflow for n == 1 */

		/* Every shard is q keys wide; the last one also takes the
		 * remainder 2^128 mod n (Kinesis's layout). */
		sl_u128 rem = (U128_MAX % n + 1) % n;
		sl_u128 want_m1 = k + 1 < n ? q - 1 : q - 1 + rem;

		cr_assert(width_m1 == want_m1, "n=%u k=%" PRIu64 ": width %s", n, k,
		          fmt(width_m1, a));
	}
}

Test(route, even_start_exact_for_every_shard_count_to_300)
{
	for (uint32_t n = 1; n <= 300; n++)
		check_even(n, 1);
}

Test(route, even_start_exact_for_large_counts)
{
	static const uint32_t ns[] = {1000, 1023, 1024, 1025, 4093, 4095, 4096, 65536, 999983};

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		check_even(ns[i], ns[i] > 5000 ? 97 : 1);
	/* The k * r product stays below 2^64 even at the type's limits. */
	cr_assert(sl_hashkey_even_start(UINT32_MAX - 1, UINT32_MAX) ==
	          ref_even_start(UINT32_MAX - 1, UINT32_MAX));
	cr_assert(sl_hashkey_even_start(12345, UINT32_MAX) == ref_even_start(12345, UINT32_MAX));
}

Test(route, even_start_4096_monotone_and_last_range_reaches_max)
{
	sl_u128 prev = 0;
	char buf[40];

	for (uint32_t k = 1; k < 4096; k++) {
		sl_u128 s = sl_hashkey_even_start(k, 4096);

		cr_assert(s > prev);
		cr_assert(s == (sl_u128)k << 116, "k=%u: %s", k, fmt(s, buf));
		prev = s;
	}
	/* The last shard owns [start, 2^128 - 1]: as wide as the others. */
	cr_assert(U128_MAX - prev + 1 == (sl_u128)1 << 116);
	cr_expect_str_eq(fmt(sl_hashkey_even_start(4095, 4096), buf),
	                 "340199290171201906221318119490500689920");
}

/* ---- sl_hashkey_value ---- */

Test(route, hash_is_big_endian)
{
	uint8_t buf[17];
	char s[40];

	/* At an odd address too: the loads must not assume alignment. */
	for (int off = 0; off <= 1; off++) {
		uint8_t *h = buf + off;

		for (int i = 0; i < 16; i++)
			h[i] = (uint8_t)(i + 1);
		cr_assert(sl_hashkey_value(h) ==
		          ((sl_u128)0x0102030405060708ull << 64 | 0x090a0b0c0d0e0f10ull));
		memset(h, 0, 16);
		cr_assert(sl_hashkey_value(h) == 0);
		h[15] = 1;
		cr_assert(sl_hashkey_value(h) == 1);
		h[15] = 0;
		h[7] = 1;
		cr_assert(sl_hashkey_value(h) == (sl_u128)1 << 64);
		h[7] = 0;
		h[0] = 0x80;
		cr_expect_str_eq(fmt(sl_hashkey_value(h), s),
		                 "170141183460469231731687303715884105728");
		memset(h, 0xff, 16);
		cr_assert(sl_hashkey_value(h) == U128_MAX);
	}
}

Test(route, hash_of_kinesis_md5_lands_in_the_right_half)
{
	/* MD5("a") = 0cc175b9c0f1b6a831c399e269772661: below 2^127, so shard 0
	 * of 2; MD5("b") = 92eb5ffee6ae2fec3ad71c777531578f: shard 1. */
	static const uint8_t a[16] = {0x0c, 0xc1, 0x75, 0xb9, 0xc0, 0xf1, 0xb6, 0xa8,
	                              0x31, 0xc3, 0x99, 0xe2, 0x69, 0x77, 0x26, 0x61};
	static const uint8_t b[16] = {0x92, 0xeb, 0x5f, 0xfe, 0xe6, 0xae, 0x2f, 0xec,
	                              0x3a, 0xd7, 0x1c, 0x77, 0x75, 0x31, 0x57, 0x8f};
	struct sl_route_stream *s = even_stream(2);
	char buf[40];

	cr_expect_str_eq(fmt(sl_hashkey_value(a), buf), "16955237001963240173058271559858726497");
	cr_expect_eq(sl_route_find(s, sl_hashkey_value(a)), 0);
	cr_expect_eq(sl_route_find(s, sl_hashkey_value(b)), 1);
	stream_free(s);
}

/* ---- sl_route_find ---- */

static void check_boundaries(const struct sl_route_stream *s)
{
	char buf[40];

	cr_assert_eq(sl_route_find(s, 0), 0);
	cr_assert_eq(sl_route_find(s, U128_MAX), s->nshards - 1);
	for (uint32_t k = 0; k < s->nshards; k++) {
		sl_u128 st = s->shards[k].start;
		sl_u128 probes[3] = {st - 1, st, st + 1};

		for (int j = 0; j < 3; j++) {
			uint32_t got = sl_route_find(s, probes[j]);
			uint32_t want = ref_find(s, probes[j]);

			cr_assert_eq(got, want, "n=%u k=%u h=%s: %u, want %u", s->nshards, k,
			             fmt(probes[j], buf), got, want);
		}
		cr_assert_eq(sl_route_find(s, st), k, "n=%u: start of %u", s->nshards, k);
	}
}

Test(route, find_at_every_boundary_for_1_to_64_shards)
{
	for (uint32_t n = 1; n <= 64; n++) {
		struct sl_route_stream *s = even_stream(n);

		check_boundaries(s);
		stream_free(s);
	}
}

Test(route, find_at_every_boundary_for_large_counts)
{
	static const uint32_t ns[] = {127, 128, 129, 1000, 4095, 4096};

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		struct sl_route_stream *s = even_stream(ns[i]);

		check_boundaries(s);
		stream_free(s);
	}
}

/* After splits and merges ranges are uneven: random sorted starts, some
 * adjacent (one-key ranges), and in every third table all but the first
 * crowded against the top of the space. */
Test(route, find_in_uneven_tables_matches_linear_scan)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (int t = 0; t < 300; t++) {
		uint32_t n = 1 + (uint32_t)(t % 67);
		struct sl_route_stream *s = even_stream(n);
		sl_u128 cur = 0;

		for (uint32_t k = 1; k < n; k++) {
			sl_u128 gap;

			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			if (k == 1 && t % 3 == 0)
				gap = U128_MAX - 2 * (sl_u128)n;
			else if (x % 4 == 0)
				gap = 1;
			else if (x % 4 == 1 || t % 3 == 0)
				gap = x % 2 + 1;
			else
				gap = ((sl_u128)x << 64 | x) / (2 * n) + 1;
			cr_assert(U128_MAX - cur >= gap);
			cur += gap;
			s->shards[k].start = cur;
		}
		check_boundaries(s);
		for (int i = 0; i < 2000; i++) {
			sl_u128 h;

			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			h = (sl_u128)x << 64;
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			h |= x;
			if (i % 3 == 1) /* among the crowded starts too */
				h %= cur + 2;
			else if (i % 3 == 2)
				h = U128_MAX - h % (3 * (sl_u128)n);
			cr_assert_eq(sl_route_find(s, h), ref_find(s, h));
		}
		stream_free(s);
	}
}

/* ---- sl_routes_stream, sl_routes_free ---- */

static struct sl_routes *routes_with_ids(const uint32_t *ids, uint32_t n)
{
	struct sl_routes *r = calloc(1, sizeof(*r));

	cr_assert_not_null(r);
	for (uint32_t i = 0; i < n; i++)
		r->max_id = ids[i] > r->max_id ? ids[i] : r->max_id;
	r->streams = calloc(n ? n : 1, sizeof(*r->streams));
	r->by_id = calloc(r->max_id + 1, sizeof(*r->by_id));
	cr_assert(r->streams && r->by_id);
	for (uint32_t i = 0; i < n; i++) {
		struct sl_route_stream *s = &r->streams[i];

		s->id = ids[i];
		s->nshards = i + 1;
		s->shards = calloc(s->nshards, sizeof(*s->shards));
		cr_assert_not_null(s->shards);
		snprintf(s->name, sizeof(s->name), "s%u", ids[i]);
		r->by_id[ids[i]] = s;
		r->nstreams++;
	}
	return r;
}

Test(route, stream_by_id_and_out_of_range_ids)
{
	static const uint32_t ids[] = {2, 5, 3};
	struct sl_routes *r = routes_with_ids(ids, 3);

	cr_assert_eq(r->max_id, 5);
	cr_expect_null(sl_routes_stream(r, 0));
	cr_expect_null(sl_routes_stream(r, 1));
	cr_expect_null(sl_routes_stream(r, 4));
	cr_expect_null(sl_routes_stream(r, 6));
	cr_expect_null(sl_routes_stream(r, 1000));
	cr_expect_null(sl_routes_stream(r, UINT32_MAX));
	cr_expect_eq(sl_routes_stream(r, 2), &r->streams[0]);
	cr_expect_eq(sl_routes_stream(r, 5), &r->streams[1]);
	cr_expect_eq(sl_routes_stream(r, 3), &r->streams[2]);
	cr_expect_str_eq(sl_routes_stream(r, 5)->name, "s5");
	sl_routes_free(r); /* the ASan build checks nothing leaks */
}

Test(route, empty_table_finds_nothing)
{
	struct sl_routes *r = routes_with_ids(NULL, 0);

	cr_expect_null(sl_routes_stream(r, 0));
	cr_expect_null(sl_routes_stream(r, 1));
	cr_expect_null(sl_routes_stream(r, UINT32_MAX));
	sl_routes_free(r);
}

Test(route, free_accepts_null)
{
	sl_routes_free(NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for dataplane/dedup.{h,c}: lookups by the whole key, FIFO eviction
 * at the rounded-up capacity, generation-checked references across slot
 * reuse, and a long randomized run against a reference model (the newest
 * insert of a key is found while it is among the last cap inserts, and not
 * after). Small key universes put the same key in the ring more than once
 * and, with 16 buckets, make long chains, so unlinking from the middle and
 * the end of a chain is exercised.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"

TestSuite(dedup, .timeout = 30);

static struct sl_dedup *make(uint32_t cap)
{
	struct sl_dedup *d = NULL;

	cr_assert_eq(sl_dedup_create(cap, 64, 1000000000, &d), 0);
	cr_assert_not_null(d);
	return d;
}

/* Capacity as seen from outside: inserts before the first eviction. */
static uint32_t observed_cap(struct sl_dedup *d)
{
	uint32_t n = 0;

	while (sl_dedup_evictions(d) == 0) {
		sl_dedup_insert(d, 1, n, 0, 0, 0);
		n++;
		cr_assert_lt(n, 1u << 20);
	}
	return n - 1;
}

Test(dedup, capacity_is_rounded_up_to_a_power_of_two)
{
	static const struct {
		uint32_t ask, want;
	} cases[] = {
	        {0, 16},    {1, 16},    {16, 16},   {17, 32},
	        {100, 128}, {128, 128}, {129, 256}, {4000, 4096},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sl_dedup *d = make(cases[i].ask);

		cr_expect_eq(observed_cap(d), cases[i].want, "cap %u", cases[i].ask);
		sl_dedup_free(d);
	}
}

Test(dedup, find_after_insert_returns_the_entry)
{
	struct sl_dedup *d = make(64);
	struct sl_dedup_entry *e;

	cr_expect_null(sl_dedup_find(d, 7, 9, 1, 2));
	e = sl_dedup_insert(d, 7, 9, 1, 2, 0);
	cr_assert_not_null(e);
	cr_expect_eq(e->producer_id, 7);
	cr_expect_eq(e->batch_seq, 9);
	cr_expect_eq(e->stream, 1);
	cr_expect_eq(e->shard_id, 2);
	cr_expect_eq(e->first_seq, 0);
	cr_expect_eq(e->count, 0);
	cr_expect_eq(e->level, 0);
	cr_expect_eq(e->failed, 0);
	cr_expect_eq(sl_dedup_find(d, 7, 9, 1, 2), e);

	/* What the caller writes into the entry is what find gives back. */
	e->first_seq = 1234;
	e->count = 5;
	e->level = 2;
	cr_expect_eq(sl_dedup_find(d, 7, 9, 1, 2)->first_seq, 1234);
	cr_expect_eq(sl_dedup_find(d, 7, 9, 1, 2)->count, 5);
	cr_expect_eq(sl_dedup_evictions(d), 0);
	sl_dedup_free(d);
}

Test(dedup, every_key_field_matters)
{
	static const uint64_t keys[][4] = {
	        {1, 2, 3, 4},
	        {9, 2, 3, 4}, /* producer */
	        {1, 9, 3, 4}, /* batch */
	        {1, 2, 9, 4}, /* stream */
	        {1, 2, 3, 9}, /* shard */
	        /* Values whose low or high halves alone agree with key 0. */
	        {1ull << 32 | 1, 2, 3, 4},
	        {1, 1ull << 32 | 2, 3, 4},
	        {1, 2, 4, 3}, /* stream and shard swapped */
	        {2, 1, 3, 4}, /* producer and batch swapped */
	        {0, 0, 0, 0},
	};
	const size_t n = sizeof(keys) / sizeof(keys[0]);
	struct sl_dedup_entry *e[sizeof(keys) / sizeof(keys[0])];
	struct sl_dedup *d = make(16);

	/* One at a time: only the inserted key is found. */
	for (size_t i = 0; i < n; i++) {
		struct sl_dedup *one = make(16);

		sl_dedup_insert(one, keys[i][0], keys[i][1], (uint32_t)keys[i][2],
		                (uint32_t)keys[i][3], 0);
		for (size_t j = 0; j < n; j++) {
			struct sl_dedup_entry *f =
			        sl_dedup_find(one, keys[j][0], keys[j][1], (uint32_t)keys[j][2],
			                      (uint32_t)keys[j][3]);

			cr_expect_eq(f != NULL, i == j, "inserted %zu, looked up %zu", i, j);
		}
		sl_dedup_free(one);
	}
	/* All together: each finds its own entry. */
	for (size_t i = 0; i < n; i++)
		e[i] = sl_dedup_insert(d, keys[i][0], keys[i][1], (uint32_t)keys[i][2],
		                       (uint32_t)keys[i][3], 0);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(sl_dedup_find(d, keys[i][0], keys[i][1], (uint32_t)keys[i][2],
		                           (uint32_t)keys[i][3]),
		             e[i], "key %zu", i);
	sl_dedup_free(d);
}

Test(dedup, eviction_is_fifo_and_counted)
{
	const uint32_t cap = 100, real = 128;
	struct sl_dedup *d = make(cap);

	for (uint32_t i = 0; i < real; i++)
		cr_assert_not_null(sl_dedup_insert(d, 42, i, 1, i % 3, 0));
	cr_assert_eq(sl_dedup_evictions(d), 0);
	for (uint32_t i = 0; i < real; i++)
		cr_assert_not_null(sl_dedup_find(d, 42, i, 1, i % 3), "batch %u", i);

	/* Each further insert evicts exactly the oldest one left. */
	for (uint32_t i = real; i < 3 * real + 7; i++) {
		sl_dedup_insert(d, 42, i, 1, i % 3, 0);
		cr_assert_eq(sl_dedup_evictions(d), i - real + 1);
		cr_assert_null(sl_dedup_find(d, 42, i - real, 1, (i - real) % 3), "batch %u",
		               i - real);
		cr_assert_not_null(sl_dedup_find(d, 42, i - real + 1, 1, (i - real + 1) % 3));
		cr_assert_not_null(sl_dedup_find(d, 42, i, 1, i % 3));
	}
	for (uint32_t i = 0; i < 3 * real + 7; i++)
		cr_assert_eq(sl_dedup_find(d, 42, i, 1, i % 3) != NULL, i >= 2 * real + 7,
		             "batch %u", i);
	sl_dedup_free(d);
}

Test(dedup, reinserting_a_slot_clears_the_old_values)
{
	struct sl_dedup *d = make(16);
	struct sl_dedup_entry *e = sl_dedup_insert(d, 1, 1, 1, 1, 0), *f;

	e->first_seq = 99;
	e->count = 3;
	e->level = 2;
	e->failed = 1;
	for (uint32_t i = 0; i < 15; i++)
		sl_dedup_insert(d, 2, i, 1, 1, 0);
	f = sl_dedup_insert(d, 3, 3, 3, 3, 0); /* takes e's slot */
	cr_assert_eq(f, e);
	cr_expect_eq(f->first_seq, 0);
	cr_expect_eq(f->count, 0);
	cr_expect_eq(f->level, 0);
	cr_expect_eq(f->failed, 0);
	cr_expect_null(sl_dedup_find(d, 1, 1, 1, 1));
	cr_expect_eq(sl_dedup_find(d, 3, 3, 3, 3), f);
	sl_dedup_free(d);
}

Test(dedup, stale_generation_is_refused_after_reuse)
{
	struct sl_dedup *d = make(16);
	struct sl_dedup_entry *e = sl_dedup_insert(d, 5, 6, 7, 8, 0), *f;
	uint32_t idx = sl_dedup_index(d, e), gen = e->gen, gen2;

	cr_assert_lt(idx, 16);
	cr_expect_eq(sl_dedup_get(d, idx, gen), e);
	cr_expect_null(sl_dedup_get(d, idx, gen + 1));
	cr_expect_null(sl_dedup_get(d, idx, gen - 1));

	/* Sixteen more inserts reuse e's slot. */
	for (uint32_t i = 0; i < 15; i++)
		sl_dedup_insert(d, 9, i, 7, 8, 0);
	cr_expect_eq(sl_dedup_get(d, idx, gen), e, "not reused yet");
	f = sl_dedup_insert(d, 9, 100, 7, 8, 0);
	cr_assert_eq(sl_dedup_index(d, f), idx);
	cr_expect_null(sl_dedup_get(d, idx, gen));
	cr_expect_neq(f->gen, gen);
	cr_expect_eq(sl_dedup_get(d, idx, f->gen), f);
	gen2 = f->gen;

	/* And again: each reuse is a new generation. */
	for (uint32_t i = 0; i < 16; i++)
		sl_dedup_insert(d, 9, 200 + i, 7, 8, 0);
	cr_expect_null(sl_dedup_get(d, idx, gen));
	cr_expect_null(sl_dedup_get(d, idx, gen2));
	cr_expect_not_null(sl_dedup_get(d, idx, f->gen)); /* the slot's newest */
	sl_dedup_free(d);
}

Test(dedup, get_refuses_unused_slots_and_bad_indexes)
{
	struct sl_dedup *d = make(16);

	/* Nothing inserted: no slot is in use, whatever the generation. */
	for (uint32_t i = 0; i < 16; i++) {
		cr_expect_null(sl_dedup_get(d, i, 0));
		cr_expect_null(sl_dedup_get(d, i, 1));
	}
	sl_dedup_insert(d, 1, 1, 1, 1, 0);
	cr_expect_null(sl_dedup_get(d, 16, 1));
	cr_expect_null(sl_dedup_get(d, 1u << 20, 1));
	cr_expect_null(sl_dedup_get(d, UINT32_MAX, 1));
	sl_dedup_free(d);
}

Test(dedup, same_key_twice_finds_the_newest_until_it_is_evicted)
{
	struct sl_dedup *d = make(16);
	struct sl_dedup_entry *a = sl_dedup_insert(d, 1, 1, 1, 1, 0), *b;

	a->first_seq = 1;
	for (uint32_t i = 0; i < 7; i++)
		sl_dedup_insert(d, 2, i, 1, 1, 0);
	b = sl_dedup_insert(d, 1, 1, 1, 1, 0);
	b->first_seq = 2;
	cr_expect_eq(sl_dedup_find(d, 1, 1, 1, 1), b);
	/* Evicting the older copy leaves the newer one findable. */
	for (uint32_t i = 0; i < 8; i++)
		sl_dedup_insert(d, 3, i, 1, 1, 0);
	cr_assert_eq(sl_dedup_evictions(d), 1);
	cr_expect_eq(sl_dedup_find(d, 1, 1, 1, 1), b);
	for (uint32_t i = 0; i < 8; i++)
		sl_dedup_insert(d, 4, i, 1, 1, 0);
	cr_expect_null(sl_dedup_find(d, 1, 1, 1, 1));
	sl_dedup_free(d);
}

Test(dedup, free_accepts_null)
{
	sl_dedup_free(NULL);
}

/* ---- randomized against a reference model ---- */

static uint64_t rng(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Key number u of the universe, spread over all four fields. */
static void key_of(uint32_t u, uint64_t *p, uint64_t *b, uint32_t *st, uint32_t *sh)
{
	*p = 1000 + u % 5;
	*b = (uint64_t)(u / 5 % 7) << 40 | u / 35;
	*st = u % 3;
	*sh = u / 3 % 4;
}

struct ref {
	uint32_t index, gen;
	uint64_t op; /* insert number */
	uint32_t u;  /* key number */
};

/* ops operations on a dedup of capacity cap over a universe of nkeys keys:
 * inserts, finds, and get() on references kept from past inserts. The model: key u was last inserted as insert number last[u]; it
 * is found iff last[u] is among the last cap inserts, and find returns that
 * very insert (its first_seq carries the insert number). */
static void run_model(uint32_t ask, uint32_t nkeys, uint32_t ops, uint64_t seed)
{
	struct sl_dedup *d = make(ask);
	uint32_t cap = 16;
	uint64_t *last = malloc(nkeys * sizeof(*last)); /* insert number, 0 = never */
	struct ref *refs;
	uint64_t ninserts = 0, s = seed, finds = 0, hits = 0;

	while (cap < ask)
		cap <<= 1;
	refs = calloc(4 * (size_t)cap, sizeof(*refs));
	cr_assert(last && refs);
	memset(last, 0, nkeys * sizeof(*last));
	for (uint32_t op = 0; op < ops; op++) {
		uint64_t r = rng(&s), p, b;
		uint32_t u = (uint32_t)(r >> 32) % nkeys, st, sh;
		struct sl_dedup_entry *e;

		key_of(u, &p, &b, &st, &sh);
		switch (r % 8) {
		case 0:
		case 1:
		case 2: /* insert */
			e = sl_dedup_insert(d, p, b, st, sh, 0);
			cr_assert_not_null(e);
			e->first_seq = ++ninserts;
			last[u] = ninserts;
			refs[ninserts % (4 * cap)] = (struct ref){.index = sl_dedup_index(d, e),
			                                          .gen = e->gen,
			                                          .op = ninserts,
			                                          .u = u};
			cr_assert_eq(sl_dedup_evictions(d), ninserts > cap ? ninserts - cap : 0);
			break;
		case 3: { /* get on a reference, maybe stale */
			struct ref *rf = &refs[(r >> 8) % (4 * cap)];
			bool live = rf->op && rf->op + cap > ninserts;

			if (!rf->op)
				break;
			e = sl_dedup_get(d, rf->index, rf->gen);
			cr_assert_eq(e != NULL, live, "op %u: ref to insert %llu of %llu", op,
			             (unsigned long long)rf->op, (unsigned long long)ninserts);
			if (e)
				cr_assert_eq(e->first_seq, rf->op);
			break;
		}
		default: { /* find: any key, or half the time one inserted lately */
			uint64_t back = (r >> 16) % (2 * cap);
			bool live;

			if ((r >> 12) & 1 && back < ninserts) {
				u = refs[(ninserts - back) % (4 * cap)].u;
				key_of(u, &p, &b, &st, &sh);
			}
			live = last[u] && last[u] + cap > ninserts;
			e = sl_dedup_find(d, p, b, st, sh);
			finds++;
			cr_assert_eq(e != NULL, live, "op %u: key %u last inserted %llu of %llu",
			             op, u, (unsigned long long)last[u],
			             (unsigned long long)ninserts);
			if (e) {
				hits++;
				cr_assert_eq(e->first_seq, last[u], "op %u: found an older copy",
				             op);
				cr_assert_eq(e->producer_id, p);
				cr_assert_eq(e->batch_seq, b);
				cr_assert_eq(e->stream, st);
				cr_assert_eq(e->shard_id, sh);
			}
			break;
		}
		}
	}
	/* The run is only meaningful if both outcomes were common. */
	cr_assert_gt(hits, finds / 20, "hits %llu of %llu finds", (unsigned long long)hits,
	             (unsigned long long)finds);
	cr_assert_lt(hits, finds - finds / 20, "hits %llu of %llu finds", (unsigned long long)hits,
	             (unsigned long long)finds);
	free(last);
	free(refs);
	sl_dedup_free(d);
}

Test(dedup, model_16_entries_few_keys)
{
	/* 16 buckets, 40 keys: chains of several entries and repeated keys. */
	run_model(16, 40, 100000, 0x1234567887654321ull);
}

Test(dedup, model_16_entries_many_keys)
{
	run_model(16, 5000, 100000, 0xdeadbeefcafef00dull);
}

Test(dedup, model_1000_entries)
{
	/* Rounded to 1024. */
	run_model(1000, 2500, 150000, 0x0123456789abcdefull);
}

/* Entries a producer may still retry are never forgotten: the insert is
 * refused (the shard answers THROTTLED) until the producer's floor passes
 * them or it goes quiet. */
Test(dedup, keeps_live_batches_until_the_floor_passes_them)
{
	struct sl_dedup *d;
	int64_t idle = 1000000000;

	cr_assert_eq(sl_dedup_create(16, 64, idle, &d), 0);
	cr_assert_eq(sl_dedup_producer_seen(d, 7, 1, 0), 0);
	for (uint64_t b = 1; b <= 16; b++)
		cr_assert_not_null(sl_dedup_insert(d, 7, b, 1, 0, 0));
	/* Full of batches producer 7 may still resend. */
	cr_assert_null(sl_dedup_insert(d, 7, 17, 1, 0, 0));
	cr_assert_eq(sl_dedup_refusals(d), 1);
	cr_assert_not_null(sl_dedup_find(d, 7, 1, 1, 0));
	/* The floor moves past batches 1 and 2: exactly two inserts fit. */
	cr_assert_eq(sl_dedup_producer_seen(d, 7, 3, 10), 0);
	cr_assert_not_null(sl_dedup_insert(d, 7, 17, 1, 0, 10));
	cr_assert_not_null(sl_dedup_insert(d, 7, 18, 1, 0, 10));
	cr_assert_null(sl_dedup_insert(d, 7, 19, 1, 0, 10));
	cr_assert_null(sl_dedup_find(d, 7, 1, 1, 0));
	cr_assert_not_null(sl_dedup_find(d, 7, 3, 1, 0));
	/* A floor never moves back. */
	cr_assert_eq(sl_dedup_producer_seen(d, 7, 1, 20), 0);
	cr_assert_null(sl_dedup_insert(d, 7, 19, 1, 0, 20));
	/* Silent for longer than idle: everything of it may go. */
	cr_assert_not_null(sl_dedup_insert(d, 7, 19, 1, 0, 20 + idle + 1));
	cr_assert_eq(sl_dedup_evictions(d), 3);
	sl_dedup_free(d);
}

Test(dedup, cancel_gives_the_slot_back)
{
	struct sl_dedup *d;
	struct sl_dedup_entry *e;

	cr_assert_eq(sl_dedup_create(16, 64, 1000000000, &d), 0);
	cr_assert_eq(sl_dedup_producer_seen(d, 5, 1, 0), 0);
	for (uint64_t b = 1; b <= 15; b++)
		cr_assert_not_null(sl_dedup_insert(d, 5, b, 1, 0, 0));
	e = sl_dedup_insert(d, 5, 16, 1, 0, 0);
	cr_assert_not_null(e);
	sl_dedup_cancel(d, e);
	cr_assert_null(sl_dedup_find(d, 5, 16, 1, 0));
	/* The slot is free again: one more fits, then the table is full. */
	cr_assert_not_null(sl_dedup_insert(d, 5, 17, 1, 0, 0));
	cr_assert_null(sl_dedup_insert(d, 5, 18, 1, 0, 0));
	sl_dedup_free(d);
}

Test(dedup, producer_table_full_of_live_producers_refuses)
{
	struct sl_dedup *d;
	int64_t idle = 1000;
	unsigned ok = 0;

	cr_assert_eq(sl_dedup_create(16, 16, idle, &d), 0);
	for (uint64_t p = 1; p <= 64; p++)
		ok += sl_dedup_producer_seen(d, p, 1, 0) == 0;
	cr_assert_eq(ok, 16, "16 producers fit");
	cr_assert_eq(sl_dedup_producer_seen(d, 1000, 1, 0), -ENOSPC);
	/* Once they are idle, a new producer takes a place. */
	cr_assert_eq(sl_dedup_producer_seen(d, 1000, 1, idle + 1), 0);
	sl_dedup_free(d);
}

Test(dedup, a_stopped_producer_holds_only_its_own_entries)
{
	/* Producer 1 stops with 8 batches in flight (the oldest entries);
	 * producer 2 keeps going with a floor right behind it: it must never
	 * be refused, and producer 1's entries must survive until it is idle. */
	struct sl_dedup *d;
	int64_t idle = 1000000;

	cr_assert_eq(sl_dedup_create(64, 64, idle, &d), 0);
	cr_assert_eq(sl_dedup_producer_seen(d, 1, 1, 0), 0);
	for (uint64_t b = 1; b <= 8; b++)
		cr_assert_not_null(sl_dedup_insert(d, 1, b, 1, 0, 0));
	for (uint64_t b = 1; b <= 1000; b++) {
		cr_assert_eq(sl_dedup_producer_seen(d, 2, b > 4 ? b - 4 : 1, 10), 0);
		cr_assert_not_null(sl_dedup_insert(d, 2, b, 1, 0, 10), "batch %lu",
		                   (unsigned long)b);
	}
	for (uint64_t b = 1; b <= 8; b++)
		cr_assert_not_null(sl_dedup_find(d, 1, b, 1, 0), "producer 1's batch %lu",
		                   (unsigned long)b);
	cr_assert_eq(sl_dedup_refusals(d), 0);
	/* Once producer 1 has been silent long enough its slots are reused. */
	for (uint64_t b = 1001; b <= 1100; b++) {
		cr_assert_eq(sl_dedup_producer_seen(d, 2, b - 4, idle + 100), 0);
		cr_assert_not_null(sl_dedup_insert(d, 2, b, 1, 0, idle + 100));
	}
	cr_assert_null(sl_dedup_find(d, 1, 1, 1, 0));
	sl_dedup_free(d);
}

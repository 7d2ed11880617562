/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Producer batch memory (see dedup.h): a ring of entries in insertion
 * order, chained into a bucket array of the same size. Inserting takes the
 * ring's next slot, unlinking whatever it held from its chain first; with
 * as many buckets as entries the chains stay short.
 *
 * Producers live in an open-addressing table (linear probing, bounded
 * probe length) that never deletes: a producer idle for idle_ns is replaced
 * in place by a new one, which is safe because its entries are then safe to
 * forget too.
 */
#include "dedup.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#define PROBE_MAX 32

struct producer {
	uint64_t id; /* 0: empty slot (producer ids are never 0) */
	uint64_t floor;
	int64_t last_ns;
};

struct sl_dedup {
	uint32_t mask;
	uint32_t next; /* ring position of the next insert */
	uint32_t pmask;
	int64_t idle_ns;
	uint64_t evictions;
	uint64_t refusals;
	uint32_t *buckets; /* entry index + 1, 0 = empty */
	struct sl_dedup_entry *e;
	struct producer *p;
};

static uint32_t producer_hash(const struct sl_dedup *d, uint64_t id)
{
	id *= 0x9e3779b97f4a7c15ull;
	return (uint32_t)(id >> 32) & d->pmask;
}

static struct producer *producer_find(struct sl_dedup *d, uint64_t id)
{
	uint32_t h = producer_hash(d, id);

	for (uint32_t i = 0; i < PROBE_MAX && i <= d->pmask; i++) {
		struct producer *p = &d->p[(h + i) & d->pmask];

		if (p->id == id)
			return p;
		if (p->id == 0)
			return NULL;
	}
	return NULL;
}

int sl_dedup_producer_seen(struct sl_dedup *d, uint64_t producer_id, uint64_t floor, int64_t now_ns)
{
	uint32_t h = producer_hash(d, producer_id);
	struct producer *take = NULL;

	for (uint32_t i = 0; i < PROBE_MAX && i <= d->pmask; i++) {
		struct producer *p = &d->p[(h + i) & d->pmask];

		if (p->id == producer_id) {
			if (floor > p->floor)
				p->floor = floor;
			p->last_ns = now_ns;
			return 0;
		}
		if (p->id == 0) {
			if (!take)
				take = p;
			break;
		}
		if (!take && now_ns - p->last_ns > d->idle_ns)
			take = p;
	}
	if (!take)
		return -ENOSPC;
	*take = (struct producer){.id = producer_id, .floor = floor, .last_ns = now_ns};
	return 0;
}

/* Whether the entry may be forgotten: its producer will never resend it. */
static bool entry_safe(struct sl_dedup *d, const struct sl_dedup_entry *e, int64_t now_ns)
{
	const struct producer *p = producer_find(d, e->producer_id);

	return !p || e->batch_seq < p->floor || now_ns - p->last_ns > d->idle_ns;
}

static uint32_t bucket_of(const struct sl_dedup *d, uint64_t producer_id, uint64_t batch_seq,
                          uint32_t stream, uint32_t shard_id)
{
	uint64_t h = producer_id * 0x9e3779b97f4a7c15ull;

	h ^= batch_seq + 0x7f4a7c159e3779b9ull + (h << 6) + (h >> 2);
	h ^= ((uint64_t)stream << 32 | shard_id) * 0xc2b2ae3d27d4eb4full;
	h ^= h >> 29;
	return (uint32_t)h & d->mask;
}

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t n = 16;

	while (n < v && n < (1u << 30))
		n <<= 1;
	return n;
}

int sl_dedup_create(uint32_t cap, uint32_t max_producers, int64_t idle_ns, struct sl_dedup **ret)
{
	struct sl_dedup *d;
	uint32_t n = pow2_at_least(cap), np = pow2_at_least(max_producers);

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->mask = n - 1;
	d->pmask = np - 1;
	d->idle_ns = idle_ns;
	d->buckets = calloc(n, sizeof(*d->buckets));
	d->e = calloc(n, sizeof(*d->e));
	d->p = calloc(np, sizeof(*d->p));
	if (!d->buckets || !d->e || !d->p) {
		sl_dedup_free(d);
		return -ENOMEM;
	}
	*ret = d;
	return 0;
}

void sl_dedup_free(struct sl_dedup *d)
{
	if (!d)
		return;
	free(d->buckets);
	free(d->e);
	free(d->p);
	free(d);
}

struct sl_dedup_entry *sl_dedup_find(struct sl_dedup *d, uint64_t producer_id, uint64_t batch_seq,
                                     uint32_t stream, uint32_t shard_id)
{
	uint32_t i = d->buckets[bucket_of(d, producer_id, batch_seq, stream, shard_id)];

	while (i) {
		struct sl_dedup_entry *e = &d->e[i - 1];

		if (e->producer_id == producer_id && e->batch_seq == batch_seq &&
		    e->stream == stream && e->shard_id == shard_id)
			return e;
		i = e->next;
	}
	return NULL;
}

static void unlink_entry(struct sl_dedup *d, uint32_t idx)
{
	struct sl_dedup_entry *e = &d->e[idx];
	uint32_t *link =
	        &d->buckets[bucket_of(d, e->producer_id, e->batch_seq, e->stream, e->shard_id)];

	while (*link && *link != idx + 1)
		link = &d->e[*link - 1].next;
	if (*link)
		*link = e->next;
}

/*
 * Finds the slot for the next insert: the oldest in ring order that is
 * unused or safe to forget, looking at most PROBE_SLOTS ahead. Unsafe
 * entries it passes stay where they are and are looked at again one lap
 * later, so a producer that stopped with batches in flight holds only its
 * own entries (until dedup_idle_ms), not the whole ring.
 */
#define PROBE_SLOTS 256

struct sl_dedup_entry *sl_dedup_insert(struct sl_dedup *d, uint64_t producer_id, uint64_t batch_seq,
                                       uint32_t stream, uint32_t shard_id, int64_t now_ns)
{
	uint32_t probes = PROBE_SLOTS < d->mask + 1 ? PROBE_SLOTS : d->mask + 1;
	uint32_t idx = d->next;
	struct sl_dedup_entry *e = NULL;
	uint32_t b, gen;

	for (uint32_t i = 0; i < probes; i++, idx = (idx + 1) & d->mask) {
		if (!d->e[idx].used || entry_safe(d, &d->e[idx], now_ns)) {
			e = &d->e[idx];
			break;
		}
	}
	if (!e) {
		/* Every slot looked at is live: refuse, and start the next
		 * look past them. */
		d->next = idx;
		d->refusals++;
		return NULL;
	}
	d->next = (idx + 1) & d->mask;
	if (e->used) {
		unlink_entry(d, idx);
		d->evictions++;
	}
	gen = e->gen + 1;
	*e = (struct sl_dedup_entry){
	        .producer_id = producer_id,
	        .batch_seq = batch_seq,
	        .stream = stream,
	        .shard_id = shard_id,
	        .gen = gen,
	        .used = 1,
	};
	b = bucket_of(d, producer_id, batch_seq, stream, shard_id);
	e->next = d->buckets[b];
	d->buckets[b] = idx + 1;
	return e;
}

void sl_dedup_cancel(struct sl_dedup *d, struct sl_dedup_entry *e)
{
	uint32_t idx = (uint32_t)(e - d->e);

	unlink_entry(d, idx);
	e->used = 0;
	d->next = idx; /* it was the last insert: the ring position goes back */
}

uint32_t sl_dedup_index(const struct sl_dedup *d, const struct sl_dedup_entry *e)
{
	return (uint32_t)(e - d->e);
}

struct sl_dedup_entry *sl_dedup_get(struct sl_dedup *d, uint32_t index, uint32_t gen)
{
	if (index > d->mask || !d->e[index].used || d->e[index].gen != gen)
		return NULL;
	return &d->e[index];
}

uint64_t sl_dedup_evictions(const struct sl_dedup *d)
{
	return d->evictions;
}

uint64_t sl_dedup_refusals(const struct sl_dedup *d)
{
	return d->refusals;
}

void sl_dedup_foreach(const struct sl_dedup *d,
                      void (*fn)(void *arg, const struct sl_dedup_entry *e), void *arg)
{
	for (uint32_t i = 0; i <= d->mask; i++) {
		const struct sl_dedup_entry *e = &d->e[(d->next + i) & d->mask];

		if (e->used)
			fn(arg, e);
	}
}

bool sl_dedup_producer(const struct sl_dedup *d, uint64_t producer_id, uint64_t *ret_floor,
                       int64_t *ret_last_ns)
{
	const struct producer *p = producer_find((struct sl_dedup *)d, producer_id);

	if (!p)
		return false;
	*ret_floor = p->floor;
	*ret_last_ns = p->last_ns;
	return true;
}

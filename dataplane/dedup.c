/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Producer batch memory (see dedup.h): a ring of entries in insertion
 * order, chained into a bucket array of the same size. Inserting takes the
 * ring's next slot, unlinking whatever it held from its chain first; with
 * as many buckets as entries the chains stay short.
 */
#include "dedup.h"

#include <errno.h>
#include <stdlib.h>

struct sl_dedup {
	uint32_t mask;
	uint32_t next; /* ring position of the next insert */
	uint64_t evictions;
	uint32_t *buckets; /* entry index + 1, 0 = empty */
	struct sl_dedup_entry *e;
};

static uint32_t bucket_of(const struct sl_dedup *d, uint64_t producer_id, uint64_t batch_seq,
                          uint32_t stream, uint32_t shard_id)
{
	uint64_t h = producer_id * 0x9e3779b97f4a7c15ull;

	h ^= batch_seq + 0x7f4a7c159e3779b9ull + (h << 6) + (h >> 2);
	h ^= ((uint64_t)stream << 32 | shard_id) * 0xc2b2ae3d27d4eb4full;
	h ^= h >> 29;
	return (uint32_t)h & d->mask;
}

int sl_dedup_create(uint32_t cap, struct sl_dedup **ret)
{
	struct sl_dedup *d;
	uint32_t n = 16;

	while (n < cap && n < (1u << 30))
		n <<= 1;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->mask = n - 1;
	d->buckets = calloc(n, sizeof(*d->buckets));
	d->e = calloc(n, sizeof(*d->e));
	if (!d->buckets || !d->e) {
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

struct sl_dedup_entry *sl_dedup_insert(struct sl_dedup *d, uint64_t producer_id, uint64_t batch_seq,
                                       uint32_t stream, uint32_t shard_id)
{
	uint32_t idx = d->next;
	struct sl_dedup_entry *e = &d->e[idx];
	uint32_t b, gen;

	d->next = (d->next + 1) & d->mask;
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

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Routing: which shard, on which shard lcore, owns a record's hash key.
 *
 * A routing table is immutable once published. The control side builds a
 * new one and swaps the engine's pointer (RCU, rte_rcu_qsbr in engine.c);
 * readers on the rx and shard lcores use whichever table they loaded for
 * the rest of their burst. Each table has a generation number; state that
 * outlives a burst (an index stored with a frame in a ring) carries it, so
 * a reader can tell a route computed against an older table.
 *
 * DPDK-free: the unit suite tests it directly.
 */
#ifndef SL_DATAPLANE_ROUTE_H
#define SL_DATAPLANE_ROUTE_H

#include <stdint.h>

#include <sluice/wire.h>

#include "hashkey.h"

struct sl_route_shard {
	sl_u128 start;     /* first hash key of the range; the range ends where the next starts */
	uint32_t shard_id; /* Kinesis shardId-<12 digits> number */
	uint16_t lcore;    /* index of the owning shard lcore */
	uint16_t rsvd;
	uint32_t slot; /* the log's slot on that lcore */
};

struct sl_route_stream {
	uint32_t id;
	uint32_t nshards;
	uint32_t max_record_bytes;
	char name[SL_WIRE_MAX_NAME + 1];
	struct sl_route_shard *shards; /* sorted by start; shards[0].start == 0 */
};

struct sl_routes {
	uint64_t generation;
	uint32_t nstreams;
	uint32_t max_id;
	struct sl_route_stream *streams; /* nstreams, in creation order */
	struct sl_route_stream **by_id;  /* max_id + 1 entries, NULL where none */
};

/* Index into s->shards of the shard owning hash h (binary search). */
static inline uint32_t sl_route_find(const struct sl_route_stream *s, sl_u128 h)
{
	uint32_t lo = 0, hi = s->nshards; /* answer in [lo, hi) */

	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (s->shards[mid].start <= h)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static inline const struct sl_route_stream *sl_routes_stream(const struct sl_routes *r, uint32_t id)
{
	return id <= r->max_id ? r->by_id[id] : NULL;
}

/* Frees a table built by the caller with malloc'd streams/shards. NULL-safe. */
void sl_routes_free(struct sl_routes *r);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Producer batch memory of one shard lcore: which (producer, batch) parts
 * it already appended to which shard, with the sequence numbers it
 * assigned, so a retried PUT is answered with the original sequence numbers
 * instead of being appended twice.
 *
 * Bounded: `cap` entries in insertion order and `max_producers` producers.
 * An entry is forgotten only when it is safe: its producer said (the PUT
 * floor, <sluice/wire.h>) that the batch is final and will never be resent,
 * or the producer has sent nothing for idle_ns (longer than any producer's
 * retry budget), or it was replaced after that. When the oldest entry is
 * not yet safe, sl_dedup_insert() refuses and the shard answers THROTTLED:
 * memory follows what producers have in flight, not the ingest rate, and a
 * retry is never appended twice for lack of room.
 *
 * The memory is per process: after a restart, a retry of a batch appended
 * before it is appended again (documented at-least-once across restarts).
 *
 * DPDK-free and single-threaded (its lcore owns it).
 */
#ifndef SL_DATAPLANE_DEDUP_H
#define SL_DATAPLANE_DEDUP_H

#include <stdbool.h>
#include <stdint.h>

struct sl_dedup_entry {
	uint64_t producer_id;
	uint64_t batch_seq;
	uint64_t first_seq;
	uint32_t stream;
	uint32_t shard_id;
	uint32_t gen;  /* bumped each time the slot is reused */
	uint32_t next; /* bucket chain: index + 1, 0 ends */
	uint16_t count;
	uint8_t level;  /* highest enum sl_wire_ack_mode reached */
	uint8_t failed; /* the log failed before the batch became durable */
	uint8_t used;
};

struct sl_dedup;

/* cap and max_producers are rounded up to powers of two. */
int sl_dedup_create(uint32_t cap, uint32_t max_producers, int64_t idle_ns, struct sl_dedup **ret);
void sl_dedup_free(struct sl_dedup *d);

/*
 * Notes a PUT from producer_id at now_ns with its floor. Returns 0, or
 * -ENOSPC when the producer table is full of producers heard from within
 * idle_ns (the caller answers THROTTLED). A floor never moves back.
 */
int sl_dedup_producer_seen(struct sl_dedup *d, uint64_t producer_id, uint64_t floor,
                           int64_t now_ns);

struct sl_dedup_entry *sl_dedup_find(struct sl_dedup *d, uint64_t producer_id, uint64_t batch_seq,
                                     uint32_t stream, uint32_t shard_id);

/* Takes the oldest slot that is free or safe to forget (looking a bounded
 * way ahead in insertion order) for a new entry with the key filled in and
 * the rest zero, or returns NULL when every slot looked at may still be
 * retried (see above). */
struct sl_dedup_entry *sl_dedup_insert(struct sl_dedup *d, uint64_t producer_id, uint64_t batch_seq,
                                       uint32_t stream, uint32_t shard_id, int64_t now_ns);

/* Undoes the last sl_dedup_insert() (the append it was for failed). */
void sl_dedup_cancel(struct sl_dedup *d, struct sl_dedup_entry *e);

/* A reference that survives eviction checks: index and generation. */
uint32_t sl_dedup_index(const struct sl_dedup *d, const struct sl_dedup_entry *e);
/* The entry at index if it still has generation gen, else NULL. */
struct sl_dedup_entry *sl_dedup_get(struct sl_dedup *d, uint32_t index, uint32_t gen);

/* Calls fn for every remembered entry, oldest first. */
void sl_dedup_foreach(const struct sl_dedup *d,
                      void (*fn)(void *arg, const struct sl_dedup_entry *e), void *arg);

/* What the table knows of a producer: its floor and when it was last seen.
 * Returns false if it knows nothing of it. */
bool sl_dedup_producer(const struct sl_dedup *d, uint64_t producer_id, uint64_t *ret_floor,
                       int64_t *ret_last_ns);

uint64_t sl_dedup_evictions(const struct sl_dedup *d);
/* Inserts refused because the oldest entry was not safe to forget. */
uint64_t sl_dedup_refusals(const struct sl_dedup *d);

#endif

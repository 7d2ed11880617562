/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Producer batch memory of one shard lcore: which (producer, batch) parts
 * it already appended to which shard, with the sequence numbers it
 * assigned, so a retried PUT is answered with the original sequence numbers
 * instead of being appended twice.
 *
 * A fixed number of entries (a limit from the config), evicted oldest
 * first: a retry that arrives after its entry was evicted is appended
 * again. Sized by the engine so that eviction takes far longer than a
 * producer's retry budget at full rate (see sluiced --dedup-entries).
 * The memory is per process: after a restart, a retry of a batch appended
 * before it is appended again (documented at-least-once across restarts).
 *
 * DPDK-free and single-threaded (its lcore owns it).
 */
#ifndef SL_DATAPLANE_DEDUP_H
#define SL_DATAPLANE_DEDUP_H

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

/* cap is rounded up to a power of two. */
int sl_dedup_create(uint32_t cap, struct sl_dedup **ret);
void sl_dedup_free(struct sl_dedup *d);

struct sl_dedup_entry *sl_dedup_find(struct sl_dedup *d, uint64_t producer_id, uint64_t batch_seq,
                                     uint32_t stream, uint32_t shard_id);

/* Takes the oldest slot (evicting what it held) for a new entry with the
 * key filled in and everything else zero. */
struct sl_dedup_entry *sl_dedup_insert(struct sl_dedup *d, uint64_t producer_id, uint64_t batch_seq,
                                       uint32_t stream, uint32_t shard_id);

/* A reference that survives eviction checks: index and generation. */
uint32_t sl_dedup_index(const struct sl_dedup *d, const struct sl_dedup_entry *e);
/* The entry at index if it still has generation gen, else NULL. */
struct sl_dedup_entry *sl_dedup_get(struct sl_dedup *d, uint32_t index, uint32_t gen);

uint64_t sl_dedup_evictions(const struct sl_dedup *d);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dataplane engine: one DPDK port, rx lcores that parse producer frames
 * and steer records to the shard lcores that own their shards, shard lcores
 * that append through storage and ack producers. Roles are agents
 * (rx_do_work, shard_do_work) composed onto lcores: one lcore may play both.
 *
 *   port rxq k --> rx lcore k --(ring per rx x shard lcore)--> shard lcore j
 *                                                              | sl_log_append
 *   port txq i <-- acks, ARP/ICMP/ND replies (each lcore has its own txq)
 *
 * Call after rte_eal_init(). The engine owns the port from create to free.
 */
#ifndef SL_DATAPLANE_ENGINE_H
#define SL_DATAPLANE_ENGINE_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hashkey.h"
#include "log.h"
#include "pkt.h"
#include "streams.h"

#define SL_ENGINE_MAX_LCORES 64

/* X(name, type, default, min, max, doc) */
#define SL_ENGINE_CONFIG(X)                                                                        \
	X(rx_burst, uint32_t, 32, 1, 512, "packets per rx burst")                                  \
	X(ring_size, uint32_t, 1024, 64, 65536, "frames each rx->shard ring holds (power of two)") \
	X(nb_rxd, uint32_t, 1024, 64, 16384, "rx descriptors per queue")                           \
	X(nb_txd, uint32_t, 1024, 64, 16384, "tx descriptors per queue")                           \
	X(mtu, uint32_t, 1500, 576, 9600,                                                          \
	  "port MTU (jumbo frames: 9000); mbufs are sized to hold a whole frame")                  \
	X(store_poll_us, uint32_t, 10, 0, 1000,                                                    \
	  "a shard lcore polls its store this often, or after 32 appends (0: every loop)")         \
	X(tx_backlog, uint32_t, 4096, 64, 1u << 20,                                                \
	  "answers an lcore holds while the port is full (power of two); beyond it dropped")       \
	X(max_pending_acks, uint32_t, 4096, 16, 1u << 20,                                          \
	  "acks a shard lcore holds until their level is reached; beyond it THROTTLED")            \
	X(dedup_entries, uint32_t, 1u << 18, 16, 1u << 24,                                         \
	  "producer batch parts a shard lcore can remember for retries (48 bytes each)")           \
	X(dedup_producers, uint32_t, 1u << 14, 16, 1u << 22,                                       \
	  "producers a shard lcore tracks (their floors and last frame times)")                    \
	X(dedup_idle_ms, uint32_t, 30000, 100, 3600000,                                            \
	  "a producer silent this long will not retry: its batches may be forgotten")              \
	X(max_record_bytes, uint32_t, 65535, 1, 65535, "largest record data a stream accepts")     \
	X(idle_sleep_us, uint32_t, 0, 0, 100000,                                                   \
	  "sleep this long after idle_polls empty loop passes (0: always spin)")                   \
	X(idle_polls, uint32_t, 1024, 1, 1u << 20,                                                 \
	  "empty loop passes before a nap of idle_sleep_us")                                       \
	X(discard, uint32_t, 0, 0, 1,                                                              \
	  "benchmarks only: shard lcores free frames instead of appending (rx path alone)")        \
	X(fault_seed, uint64_t, 0, 0, UINT64_MAX,                                                  \
	  "tests only: seed of the fault shim below (0: off)")                                     \
	X(fault_rx_drop_ppm, uint32_t, 0, 0, 1000000, "tests only: received packets dropped")      \
	X(fault_rx_dup_ppm, uint32_t, 0, 0, 1000000, "tests only: received packets duplicated")    \
	X(fault_rx_delay_ppm, uint32_t, 0, 0, 1000000,                                             \
	  "tests only: received packets held back one burst (reordering)")                         \
	X(fault_tx_drop_ppm, uint32_t, 0, 0, 1000000, "tests only: answers dropped")

struct sl_engine_config {
#define SL_X_FIELD(name, type, def, min, max, doc) type name;
	SL_ENGINE_CONFIG(SL_X_FIELD)
#undef SL_X_FIELD
	uint16_t port_id;
	struct sl_pkt_self self; /* mac is filled from the port when all zero */
	const char *data_dir;
	unsigned nrx, nshard;
	unsigned rx_lcores[SL_ENGINE_MAX_LCORES];    /* DPDK lcore ids */
	unsigned shard_lcores[SL_ENGINE_MAX_LCORES]; /* may repeat rx ones */
	struct sl_store_config store;
};

void sl_engine_config_default(struct sl_engine_config *c);

/* Engine counters (per lcore, summed on read). X(name, doc) */
#define SL_ENGINE_COUNTERS(X)                                                                      \
	X(rx_packets, "packets received")                                                          \
	X(rx_bytes, "bytes received")                                                              \
	X(rx_other, "packets not for the engine (other hosts, protocols)")                         \
	X(rx_segmented, "multi-segment packets dropped")                                           \
	X(arp_replies, "ARP replies sent")                                                         \
	X(icmp_replies, "ICMP/ICMPv6 echo replies sent")                                           \
	X(nd_replies, "neighbour advertisements sent")                                             \
	X(resolves, "RESOLVE requests answered")                                                   \
	X(frames, "valid PUT frames")                                                              \
	X(records, "records in valid PUT frames")                                                  \
	X(unknown_stream, "records for an unknown stream")                                         \
	X(too_large, "records over the stream's size limit")                                       \
	X(throttled_ring, "records answered THROTTLED: shard ring full")                           \
	X(throttled_store, "records answered THROTTLED: storage back-pressure")                    \
	X(throttled_acks, "records answered THROTTLED: too many pending acks")                     \
	X(route_moved, "records answered THROTTLED: routing changed in flight")                    \
	X(throttled_dedup, "records answered THROTTLED: retry memory full of live batches")        \
	X(dedup_evictions, "batch parts forgotten (safe: final at their producer or idle)")        \
	X(appended, "records appended")                                                            \
	X(append_batches, "batches appended")                                                      \
	X(append_failed, "records whose log failed")                                               \
	X(dedup_hits, "retried batch parts answered from memory")                                  \
	X(batch_reused, "records answered INVALID: a batch number reused for other records")       \
	X(dedup_pending, "retried batch parts answered PENDING")                                   \
	X(acks, "ACK frames sent")                                                                 \
	X(tx_dropped, "frames the port would not take")                                            \
	X(fault_injected, "packets the fault shim dropped, duplicated or delayed")                 \
	X(nombuf, "answers not sent: no mbuf")                                                     \
	X(stop_dropped, "frames still queued when the engine was freed (unanswered)")

enum sl_engine_counter {
#define SL_X_ENUM(n, d) SL_EC_##n,
	SL_ENGINE_COUNTERS(SL_X_ENUM)
#undef SL_X_ENUM
	        SL_EC_COUNT
};

struct sl_engine_stats {
	uint64_t c[SL_EC_COUNT];
	uint64_t pkt_drops[SL_PKT_DROP_COUNT];
	uint64_t wire_drops[SL_WIRE_DROP_COUNT];
};

struct sl_engine;

/* Private area the engine needs in every mbuf it receives. PMDs that pass
 * the sender's mbufs through (net_ring) need pools created with it. */
uint16_t sl_engine_mbuf_priv_size(void);
/* Data room of the engine's mbufs for a port MTU. */
uint16_t sl_engine_mbuf_data_room(uint32_t mtu);

/* Sets up pools, rings and the port, and opens every stream's shard logs
 * (each on its shard lcore's store). Blocks. Errors carry sl_errmsg(). */
int sl_engine_create(const struct sl_engine_config *c, const struct sl_stream_set *streams,
                     struct sl_engine **ret);

/* Runs the lcores until sl_engine_stop(); the calling (main) lcore takes
 * its own roles, if any. Returns 0, or -errno when an lcore could not be
 * launched. */
int sl_engine_run(struct sl_engine *e);

/* The same in two halves, for callers whose main lcore has no role (tests,
 * benchmarks): start launches the worker lcores and returns; wait joins
 * them after sl_engine_stop(). */
int sl_engine_start(struct sl_engine *e);
void sl_engine_wait(struct sl_engine *e);

/* Async-signal-safe. */
void sl_engine_stop(struct sl_engine *e);

/* Batch parts the retry memory loaded at create from a clean stop's file,
 * and lines of it skipped (malformed, unknown shard, no room). */
void sl_engine_retry_memory(const struct sl_engine *e, uint64_t *ret_loaded, uint64_t *ret_skipped);

/* The storage backend the shard lcores' stores got, and when io_uring was
 * wanted but unavailable, why (-errno; 0 otherwise). */
const char *sl_engine_storage_backend(const struct sl_engine *e, int *ret_uring_error);

/*
 * Publishes a rebuilt routing table (same streams, a new generation) while
 * the lcores run, and frees the old one after an RCU grace period: the path
 * the control plane will use to reshard without stopping the dataplane.
 * Frames routed under the old table are re-routed by their shard lcore.
 * Control thread only; blocks for the grace period.
 */
int sl_engine_republish_routes(struct sl_engine *e);

/* ---- the control plane's side (one control thread) ----
 *
 * Streams and shards change while the lcores run: the control thread asks
 * the shard lcores to open, close and drop logs over a command ring per
 * lcore (the lcore runs the command between bursts; an open or a close
 * blocks that lcore for the file work), and publishes routing tables under
 * RCU. Before sl_engine_start() and after sl_engine_wait() the same calls
 * do the work on the calling thread.
 */

/* A shard as the catalog has it. */
struct sl_engine_shard {
	sl_u128 start; /* first hash key (open shards of a stream tile 0..2^128-1) */
	uint32_t id;
	bool open; /* routed; a closed shard keeps its log for readers */
};

/* A shard that sl_engine_sync_stream() closed. */
struct sl_engine_shard_end {
	uint32_t shard_id;
	uint64_t last_seq; /* its last record; 0: it holds none */
};

/*
 * Brings stream id in line with shards[0..n): opens (creating) a log for
 * each shard it lacks, on the least loaded shard lcore; publishes a table
 * routing to the open ones; then closes shards no longer open (reported in
 * ends[], up to n) and drops (closes, deletes the data of) shards not
 * listed. Logs live in <data_dir>/data/<name>/shardId-<12 digits>. Blocks.
 * 0 or -errno with sl_errmsg().
 */
int sl_engine_sync_stream(struct sl_engine *e, uint32_t id, const char *name,
                          const struct sl_engine_shard *shards, uint32_t n,
                          struct sl_engine_shard_end *ends, uint32_t *ret_nends);
/* Unroutes stream id, closes its logs and deletes its data. Blocks. */
int sl_engine_drop_stream(struct sl_engine *e, uint32_t id);

/* The log of a shard the engine holds (open or closed): readers may use it
 * on the control thread until the next sync/drop of that stream. */
struct sl_log *sl_engine_log(struct sl_engine *e, uint32_t stream_id, uint32_t shard_id);

/*
 * An append from the control plane (the HTTP API): the records go through
 * the shard's own lcore, log and group commit, like a producer frame's.
 * The caller owns p and the records' memory until sl_engine_put_poll()
 * returns p. status: 0, -EAGAIN (nothing appended: back-pressure), -ENOENT
 * (shard not open), -ESHUTDOWN, or the log's error; seqs[i] is record i's
 * sequence number when status is 0.
 */
struct sl_engine_put {
	uint32_t stream_id;
	uint32_t shard_id;
	uint32_t n;
	uint8_t level; /* SL_WIRE_ACK_RECEIVED, _WRITTEN or _DURABLE */
	const struct sl_record_in *recs;
	uint64_t *seqs;
	int status;
	void *user;
	/* the engine's */
	uint32_t slot_;
	uint32_t pending_;
};

/* Queues p (control thread). 0, or -EAGAIN (queue full, or the lcores not
 * started yet), -ENOENT (no such open shard), -ESHUTDOWN (stopped): then p
 * is not queued. */
int sl_engine_put(struct sl_engine *e, struct sl_engine_put *p);
/* Finished puts, up to max. Control thread. */
unsigned sl_engine_put_poll(struct sl_engine *e, struct sl_engine_put **ret, unsigned max);
/* Readable (an eventfd; read it to reset) when finished puts are waiting. */
int sl_engine_put_fd(const struct sl_engine *e);

/* Per-shard log counters, for metrics (relaxed snapshot). -ENOENT if none. */
int sl_engine_shard_stats(struct sl_engine *e, uint32_t stream_id, uint32_t shard_id,
                          struct sl_log_stats *ret);

/* CPUs for threads that are not lcores (the control plane's, workers):
 * every online CPU no lcore polls on, or all of them when lcores take
 * every CPU. Threads that EAL's main thread creates inherit its lcore's
 * single CPU; they should move here, or they share it with a busy poller. */
void sl_engine_helper_cpus(const struct sl_engine *e, cpu_set_t *ret);

/* Per lcore: time in loop iterations that found work vs all (TSC cycles
 * since start: the duty cycle), and frames waiting in the rings into it. */
struct sl_engine_lcore_stats {
	unsigned lcore_id;
	char roles[16]; /* "rx", "shard", "rx+shard" */
	uint64_t busy_tsc;
	uint64_t total_tsc;
	unsigned ring_used;
	unsigned ring_capacity; /* 0 for an lcore without the shard role */
};
unsigned sl_engine_lcore_stats(const struct sl_engine *e, struct sl_engine_lcore_stats *ret,
                               unsigned max);

/* fdatasync latency over every shard lcore's store, cumulative buckets
 * (Prometheus style): cum[b] counts syncs of at most
 * sl_engine_fsync_bucket_us(b), for b < SL_ENGINE_FSYNC_BUCKETS - 1; count
 * is the +Inf bucket. */
#define SL_ENGINE_FSYNC_BUCKETS SL_FSYNC_BUCKETS
static inline uint64_t sl_engine_fsync_bucket_us(unsigned b)
{
	return sl_fsync_bucket_us(b);
}
struct sl_engine_fsync_hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t cum[SL_ENGINE_FSYNC_BUCKETS];
};
void sl_engine_fsync_hist(const struct sl_engine *e, struct sl_engine_fsync_hist *ret);

/*
 * Memory the engine holds: its DPDK mempools, the DPDK heap they and the
 * rings live in, and the storage staging rings of the logs it has open.
 * Any thread, also while the lcores run (no locks the lcores take, except
 * the heap's own spinlock, which they never need in the loop). The pool
 * counts are approximations: an object in an lcore's mempool cache counts
 * as available, and the caches are read without stopping their owners, so
 * in_use may be off by up to 1.5 x cache_size per lcore for an instant.
 */
#define SL_ENGINE_MEM_POOLS 4
struct sl_engine_mempool_stats {
	char name[32];        /* the DPDK name, e.g. "sl_mbufs" */
	uint32_t size;        /* objects */
	uint32_t in_use;      /* size - available */
	uint32_t available;   /* in the pool and in the lcores' caches */
	uint32_t cache_size;  /* per lcore */
	uint32_t elt_size;    /* bytes of one object (an mbuf: header, private area, data) */
	uint64_t total_bytes; /* memory reserved for the objects, with DPDK's headers */
};
struct sl_engine_mem {
	unsigned npools;
	struct sl_engine_mempool_stats pool[SL_ENGINE_MEM_POOLS];
	uint64_t pools_in_use; /* sums over pool[0..npools) */
	uint64_t pools_size;
	uint64_t pools_bytes;
	uint64_t heap_alloc_bytes; /* DPDK heap, every socket: allocated */
	uint64_t heap_total_bytes; /* ... and its size (allocated + free) */
	uint64_t store_logs;       /* shard logs open on the shard lcores */
	uint64_t store_ring_bytes; /* their staging rings (store buffer_bytes each) */
};
void sl_engine_mem_stats(const struct sl_engine *e, struct sl_engine_mem *ret);
/* "name value" lines for a stats file: mem_dpdk_heap_alloc_bytes,
 * mem_dpdk_heap_total_bytes, mem_store_logs, mem_store_ring_bytes,
 * mempool_in_use, mempool_size, mempool_bytes, and per pool
 * mempool_<name>_in_use, _size, _bytes. */
void sl_engine_mem_print(const struct sl_engine_mem *m, FILE *out);

/* Sums the lcores' counters (any thread; values are relaxed snapshots). */
void sl_engine_stats(const struct sl_engine *e, struct sl_engine_stats *ret);
void sl_engine_stats_print(const struct sl_engine_stats *s, FILE *out);

/* Stops the port, closes the logs (waiting for durability), frees. NULL-safe. */
void sl_engine_free(struct sl_engine *e);

#endif

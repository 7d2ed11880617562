/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dataplane engine (see engine.h for the shape).
 *
 * Frames move by pointer. An rx lcore validates a whole PUT frame (packet
 * headers, wire CRC, every record's bounds), routes each record by its hash
 * key, writes the destination of every record into the mbuf's private area
 * (struct frame_meta) and enqueues the mbuf once per destination shard lcore
 * (one burst per ring per rx burst; the mbuf's reference count covers every
 * destination). A shard lcore appends the records it owns, one storage
 * batch per shard, and answers with an ACK frame built at append time in a
 * fresh mbuf that it holds until the ack level is reached (the cookie of the
 * storage batch is that mbuf).
 *
 * Nothing is dropped silently: a full ring, a full log, too many pending
 * acks or a route that moved while a frame was in flight are answered
 * THROTTLED, so the producer retries; malformed packets are counted per
 * reason.
 *
 * Threads: each lcore owns its counters, tx queue, store, logs and dedup
 * memory. The only shared mutable things are the rings (SP/SC, one per rx x
 * shard pair) and the routing table pointer, swapped under rte_rcu_qsbr:
 * every lcore reports a quiescent state once per loop iteration, after
 * which it holds no table pointer.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "clock.h"
#include "compiler.h"
#include "dedup.h"
#include "err.h"
#include "fs.h"
#include "route.h"
#include "wire.h"

#define TX_MAX             64
#define EV_MAX             256
#define SHARD_BURST        32
#define STORE_POLL_BATCHES 32 /* appends that call for a store poll at once */
/* Packets one rx burst can hand on: the burst, plus what the fault shim
 * (tests only) may add to it by duplicating and releasing held packets. */
#define RX_BURST_ROOM(b) (2 * (b) + 32)

/* What an rx lcore leaves in a PUT mbuf's private area for shard lcores. */
struct frame_meta {
	uint64_t generation; /* of the routing table route[] was computed with */
	struct sl_pkt_reply reply;
	uint64_t producer_id;
	uint64_t batch_seq;
	uint64_t floor;
	uint32_t stream;
	uint16_t payload_off;
	uint16_t payload_len;
	uint16_t count;
	uint8_t ack_mode;
	uint8_t lcore[SL_WIRE_MAX_RECORDS];  /* shard lcore index per record */
	uint16_t route[SL_WIRE_MAX_RECORDS]; /* index into the stream's shards */
};

/* What a shard lcore keeps in a held ACK mbuf's private area. */
struct ack_meta {
	struct sl_pkt_reply reply;
	uint32_t dedup_idx;
	uint32_t dedup_gen;
	uint32_t payload_len;
	uint16_t entries;
	uint8_t level;
};

union mbuf_meta {
	struct frame_meta f;
	struct ack_meta a;
};

struct slot {
	struct sl_log *log;
	uint32_t stream;
	uint32_t shard_id;
	uint64_t last_seq; /* last record appended; 0: none (epochs start at 1) */
	bool used;
	bool closed; /* resharded away: takes no more records, stays readable */
};

/* A control command for a shard lcore (the ring also carries puts, tagged). */
enum cmd_kind { CMD_OPEN, CMD_CLOSE, CMD_DROP };

struct cmd {
	enum cmd_kind kind;
	int done; /* set (release) by the lcore once rc and the results are in */
	int rc;
	uint32_t slot;
	uint32_t stream;
	uint32_t shard_id;
	uint64_t end_seq; /* CMD_CLOSE: the shard's last record, 0 if none */
	char dir[PATH_MAX];
};

#define PUT_TAG 1u

/* The control side's view of a stream's shards (control thread only). */
struct ctl_shard {
	sl_u128 start;
	uint32_t id;
	uint32_t slot;
	uint16_t lcore; /* shard lcore index */
	bool open;
};

struct ctl_stream {
	uint32_t id;
	uint32_t n;
	char name[SL_WIRE_MAX_NAME + 1];
	struct ctl_shard *shards; /* by id */
};

struct lcore {
	struct sl_engine *e;
	unsigned lcore_id;
	unsigned idx; /* engine thread index: qsbr thread id and tx queue */
	int rx_idx;   /* -1 when not an rx lcore */
	int shard_idx;
	uint16_t rxq;
	uint16_t txq;
	uint32_t ntx;      /* answers waiting in txb */
	uint32_t txb_head; /* oldest waiting answer */
	uint32_t txb_mask;
	uint32_t pending;
	uint32_t idle;
	uint32_t appends_since_poll;
	uint64_t last_poll_tsc;
	uint64_t rng;      /* fault shim state (xorshift64*) */
	uint16_t ndelayed; /* fault shim: packets held back to the next burst */
	struct rte_mbuf *delayed[32];
	struct rte_ring **out;  /* rx role: one ring per shard lcore */
	struct rte_ring **in;   /* shard role: one ring per rx lcore */
	struct rte_mbuf **outq; /* rx role: [shard lcore][rx_burst] frames of one burst */
	unsigned *nout;
	struct sl_store *store;
	struct slot *slots;
	uint32_t nslots; /* slots[0..nslots) were ever used */
	uint32_t slots_cap;
	struct rte_ring *cmd;  /* control -> lcore: commands and puts, in order */
	struct rte_ring *done; /* lcore -> control: finished puts */
	uint32_t puts_active;  /* puts with appends not yet at their level */
	bool signal;           /* a put finished this loop: poke the eventfd */
	uint64_t busy_tsc;     /* loop time with work (relaxed: read by metrics) */
	uint64_t total_tsc;
	bool loop_on; /* lcore_main is taking commands (under cmd_lock) */
	/* control thread only */
	uint32_t puts_inflight;
	uint32_t ctl_used;
	bool *ctl_busy; /* slots_cap entries */
	struct sl_dedup *dedup;
	struct rte_mbuf **txb; /* tx_backlog answers, a ring */
	struct sl_engine_stats st;
} __rte_cache_aligned;

struct sl_engine {
	struct sl_engine_config c;
	struct ctl_stream **ctl; /* by stream id, SL_STREAMS_MAX_ID + 1 entries */
	uint32_t ctl_streams;
	pthread_mutex_t cmd_lock;
	int efd; /* eventfd: puts finished */
	bool retry_loaded;
	struct rte_mempool *pool;
	struct rte_rcu_qsbr *qs;
	struct sl_routes *routes; /* RCU-published; see load_routes() */
	bool port_started;
	bool started_ok; /* created completely: a stop may save the retry memory */
	volatile int stop;
	uint64_t launched;             /* lcores running lcore_main, by index */
	uint64_t poll_interval_tsc;    /* store_poll_us in TSC cycles */
	uint64_t retry_memory_loaded;  /* batch parts loaded at create */
	uint64_t retry_memory_skipped; /* lines of the file not loaded */
	unsigned nlcores;
	struct lcore *lc[SL_ENGINE_MAX_LCORES];
	struct lcore *shard_lc[SL_ENGINE_MAX_LCORES];
	struct rte_ring *rings[SL_ENGINE_MAX_LCORES][SL_ENGINE_MAX_LCORES]; /* [rx][shard] */
};

#define CNT(l, name, n)                                                                            \
	__atomic_store_n(&(l)->st.c[SL_EC_##name],                                                 \
	                 __atomic_load_n(&(l)->st.c[SL_EC_##name], __ATOMIC_RELAXED) + (n),        \
	                 __ATOMIC_RELAXED)
#define CNT_ARR(l, arr, i)                                                                         \
	__atomic_store_n(&(l)->st.arr[i], __atomic_load_n(&(l)->st.arr[i], __ATOMIC_RELAXED) + 1,  \
	                 __ATOMIC_RELAXED)

void sl_engine_config_default(struct sl_engine_config *c)
{
	memset(c, 0, sizeof(*c));
#define SL_X_DEF(name, type, def, min, max, doc) c->name = (def);
	SL_ENGINE_CONFIG(SL_X_DEF)
#undef SL_X_DEF
	sl_store_config_default(&c->store);
	/* A UDP record fits one datagram, but the Kinesis API puts records of
	 * up to 1 MiB through the same logs: the store's defaults (1 MiB
	 * records, a 4 MiB staging ring per shard) hold them. */
	c->self.udp_port = SL_WIRE_DEFAULT_PORT;
}

static bool in_range(uint64_t v, uint64_t min, uint64_t max)
{
	return v >= min && v <= max;
}

static int config_validate(const struct sl_engine_config *c)
{
#define SL_X_CHECK(name, type, def, min, max, doc)                                                 \
	if (!in_range(c->name, (min), (max)))                                                      \
		return sl_err_set(-EINVAL, "%s=%" PRIu64 " not in %" PRIu64 "..%" PRIu64, #name,   \
		                  (uint64_t)c->name, (uint64_t)(min), (uint64_t)(max));
	SL_ENGINE_CONFIG(SL_X_CHECK)
#undef SL_X_CHECK
	if (c->ring_size & (c->ring_size - 1))
		return sl_err_set(-EINVAL, "ring_size=%u is not a power of two", c->ring_size);
	if (c->tx_backlog & (c->tx_backlog - 1))
		return sl_err_set(-EINVAL, "tx_backlog=%u is not a power of two", c->tx_backlog);
	if (c->nrx == 0 || c->nshard == 0 || c->nrx > SL_ENGINE_MAX_LCORES ||
	    c->nshard > SL_ENGINE_MAX_LCORES)
		return sl_err_set(-EINVAL, "need 1..%d rx and shard lcores", SL_ENGINE_MAX_LCORES);
	if (!c->data_dir)
		return sl_err_set(-EINVAL, "no data directory");
	if (c->max_record_bytes > c->store.max_record_bytes)
		return sl_err_set(-EINVAL, "max_record_bytes=%u exceeds store.max_record_bytes=%u",
		                  c->max_record_bytes, c->store.max_record_bytes);
	if (!c->self.has_ip4 && !c->self.has_ip6)
		return sl_err_set(-EINVAL, "the engine needs an IPv4 or IPv6 address");
	return sl_store_config_validate(&c->store);
}

uint16_t sl_engine_mbuf_data_room(uint32_t mtu)
{
	/* A whole frame in one segment: Ethernet, two VLAN tags, FCS. */
	uint32_t room = RTE_PKTMBUF_HEADROOM + mtu + RTE_ETHER_HDR_LEN + 8 + RTE_ETHER_CRC_LEN;

	return (uint16_t)RTE_MAX(room, (uint32_t)RTE_MBUF_DEFAULT_BUF_SIZE);
}

uint16_t sl_engine_mbuf_priv_size(void)
{
	return (uint16_t)RTE_ALIGN(sizeof(union mbuf_meta), RTE_MBUF_PRIV_ALIGN);
}

static inline union mbuf_meta *meta_of(struct rte_mbuf *m)
{
	return rte_mbuf_to_priv(m);
}

/* ---- routing table publication (RCU) ---- */

/* Readers: the table stays valid until this lcore's next quiescent report. */
static inline const struct sl_routes *load_routes(struct sl_engine *e)
{
	/* acquire: pairs with the release in publish_routes(); the table's
	 * contents were written before its pointer. */
	return __atomic_load_n(&e->routes, __ATOMIC_ACQUIRE);
}

/* Swaps in next and frees the previous table once every lcore has passed
 * a quiescent state. Control thread only; blocks while lcores run. */
static void publish_routes(struct sl_engine *e, struct sl_routes *next)
{
	struct sl_routes *prev;

	/* release: the table is complete before readers can see it. */
	prev = __atomic_exchange_n(&e->routes, next, __ATOMIC_ACQ_REL);
	/* Returns at once when no lcore is registered (create, after wait);
	 * a main lcore running its roles counts too. */
	if (prev)
		rte_rcu_qsbr_synchronize(e->qs, RTE_QSBR_THRID_INVALID);
	sl_routes_free(prev);
}

/* ---- transmit ---- */

/*
 * Answers wait in a per-lcore backlog (a ring of tx_backlog mbufs) until
 * the port takes them: a peer whose receive ring is full for a moment (a
 * group commit releases thousands of acks at once) delays answers instead
 * of losing them. Only a full backlog drops, counted in tx_dropped.
 */
static void tx_flush(struct lcore *l)
{
	while (l->ntx) {
		uint32_t n = SL_MIN(l->ntx, l->txb_mask + 1 - l->txb_head);
		uint16_t sent;

		n = SL_MIN(n, TX_MAX);
		sent = rte_eth_tx_burst(l->e->c.port_id, l->txq, &l->txb[l->txb_head], (uint16_t)n);
		l->txb_head = (l->txb_head + sent) & l->txb_mask;
		l->ntx -= sent;
		if (sent < n)
			break; /* the port is full: the rest goes next iteration */
	}
}

static uint32_t fault_roll(struct lcore *l)
{
	l->rng ^= l->rng >> 12;
	l->rng ^= l->rng << 25;
	l->rng ^= l->rng >> 27;
	return (uint32_t)((l->rng * 0x2545f4914f6cdd1dull) >> 32) % 1000000u;
}

static void tx_push(struct lcore *l, struct rte_mbuf *m)
{
	if (sl_unlikely(l->e->c.fault_seed) && fault_roll(l) < l->e->c.fault_tx_drop_ppm) {
		CNT(l, fault_injected, 1);
		rte_pktmbuf_free(m);
		return;
	}
	if (l->ntx > l->txb_mask) {
		CNT(l, tx_dropped, 1);
		rte_pktmbuf_free(m);
		return;
	}
	l->txb[(l->txb_head + l->ntx) & l->txb_mask] = m;
	if (++l->ntx >= TX_MAX)
		tx_flush(l);
}

/* ---- ack frames ---- */

/* Starts an answer frame in m for reply path rep; returns the wire payload. */
static uint8_t *answer_begin(struct rte_mbuf *m, const struct sl_pkt_reply *rep,
                             enum sl_wire_type type, uint16_t flags, uint64_t producer_id,
                             uint64_t batch_seq, uint32_t stream)
{
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *) + sl_pkt_udp_hdr_len(rep);

	sl_wire_begin(p, type, flags, producer_id, batch_seq, stream);
	return p;
}

static void answer_finish(struct rte_mbuf *m, const struct sl_pkt_reply *rep, uint32_t len,
                          uint16_t count)
{
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *) + sl_pkt_udp_hdr_len(rep);
	uint32_t total;

	sl_wire_finish(p, len, count);
	total = sl_pkt_udp_write(rte_pktmbuf_mtod(m, uint8_t *), rep, len);
	m->data_len = (uint16_t)total;
	m->pkt_len = total;
}

/* Entries for records idx[0..n) (ascending), one per run of consecutive
 * indices; with SL_WIRE_OK the k-th record has first_seq + k. */
/* Entries for records idx[0..n) (ascending), one per run of consecutive
 * indices on one shard: shards[k] is record k's shard, or all are on
 * `shard` when shards is NULL. With SL_WIRE_OK the k-th record has
 * first_seq + k. */
static uint16_t add_runs(uint8_t *p, uint32_t *len, const uint16_t *idx, const uint32_t *shards,
                         unsigned n, uint64_t first_seq, uint32_t shard, enum sl_wire_status status)
{
	uint16_t entries = 0;
	unsigned i = 0;

	while (i < n) {
		uint32_t sh = shards ? shards[i] : shard;
		unsigned j = i;

		while (j + 1 < n && idx[j + 1] == idx[j] + 1 && (!shards || shards[j + 1] == sh))
			j++;
		sl_wire_ack_add(p, len, status == SL_WIRE_OK ? first_seq + i : 0, sh, idx[i],
		                (uint16_t)(j - i + 1), status);
		entries++;
		i = j + 1;
	}
	return entries;
}

/* Sends one answer frame with one status for records idx[0..n) of frame
 * fm, on `shard` or, when shards is not NULL, each on its own shard. */
static void answer_records(struct lcore *l, const struct frame_meta *fm, const uint16_t *idx,
                           const uint32_t *shards, unsigned n, uint64_t first_seq, uint32_t shard,
                           enum sl_wire_status status, uint8_t level)
{
	struct rte_mbuf *m;
	uint8_t *p;
	uint32_t len = SL_WIRE_HDR_BYTES;
	uint16_t entries;

	if (fm->ack_mode == SL_WIRE_ACK_NONE || n == 0)
		return;
	m = rte_pktmbuf_alloc(l->e->pool);
	if (!m) {
		CNT(l, nombuf, 1);
		return;
	}
	p = answer_begin(m, &fm->reply, SL_WIRE_ACK, level, fm->producer_id, fm->batch_seq,
	                 fm->stream);
	entries = add_runs(p, &len, idx, shards, n, first_seq, shard, status);
	answer_finish(m, &fm->reply, len, entries);
	CNT(l, acks, 1);
	tx_push(l, m);
}

/* The same, all on one shard. */
static void answer_now(struct lcore *l, const struct frame_meta *fm, const uint16_t *idx,
                       unsigned n, uint64_t first_seq, uint32_t shard, enum sl_wire_status status,
                       uint8_t level)
{
	answer_records(l, fm, idx, NULL, n, first_seq, shard, status, level);
}

/* ---- rx role ---- */

static unsigned csum_flags(const struct rte_mbuf *m)
{
	unsigned f = 0;
	uint64_t ip = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;

	if (ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
		f |= SL_PKT_CSUM_IP_GOOD;
	else if (ip == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		f |= SL_PKT_CSUM_IP_BAD;
	if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		f |= SL_PKT_CSUM_L4_GOOD;
	else if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		f |= SL_PKT_CSUM_L4_BAD;
	return f;
}

static void rx_resolve(struct lcore *l, const struct sl_routes *rt, struct rte_mbuf *m,
                       const struct sl_pkt_info *info, const struct sl_wire_hdr *h)
{
	const uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
	const struct sl_route_stream *s = NULL;
	char name[SL_WIRE_MAX_NAME + 1];
	uint32_t n = info->payload_len - SL_WIRE_HDR_BYTES;
	struct sl_pkt_reply rep;
	uint8_t *p;

	memcpy(name, frame + info->payload_off + SL_WIRE_HDR_BYTES, n);
	name[n] = 0;
	for (uint32_t i = 0; i < rt->nstreams; i++) {
		if (strcmp(rt->streams[i].name, name) == 0) {
			s = &rt->streams[i];
			break;
		}
	}
	/* The answer is never longer than the request: build it in place. */
	sl_pkt_reply_from(frame, info, &rep);
	p = answer_begin(m, &rep, SL_WIRE_RESOLVED, 0, h->producer_id, h->batch_seq, s ? s->id : 0);
	(void)p;
	answer_finish(m, &rep, SL_WIRE_HDR_BYTES, s ? (uint16_t)s->nshards : 0);
	CNT(l, resolves, 1);
	tx_push(l, m);
}

/* Answers THROTTLED for the records of fm that were bound for shard lcore
 * dst (its ring was full). */
static void rx_throttle(struct lcore *l, const struct sl_routes *rt, const struct frame_meta *fm,
                        unsigned dst)
{
	const struct sl_route_stream *s = sl_routes_stream(rt, fm->stream);
	uint16_t idx[SL_WIRE_MAX_RECORDS];
	uint32_t shards[SL_WIRE_MAX_RECORDS];
	unsigned n = 0;

	for (unsigned i = 0; i < fm->count; i++) {
		if (fm->lcore[i] != dst)
			continue;
		idx[n] = (uint16_t)i;
		shards[n++] = s->shards[fm->route[i]].shard_id;
	}
	CNT(l, throttled_ring, n);
	answer_records(l, fm, idx, shards, n, 0, 0, SL_WIRE_THROTTLED, fm->ack_mode);
}

/* Validates and routes a producer frame; returns the mask of shard lcores
 * it must go to (0: answered or dropped here). */
static uint64_t rx_producer(struct lcore *l, const struct sl_routes *rt, struct rte_mbuf *m,
                            const struct sl_pkt_info *info)
{
	const uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
	const uint8_t *payload = frame + info->payload_off;
	const struct sl_route_stream *s;
	struct frame_meta *fm;
	struct sl_wire_hdr h;
	uint64_t mask = 0;
	uint32_t off;
	int rc;

	rc = sl_wire_check(payload, info->payload_len, &h);
	if (rc < 0) {
		CNT_ARR(l, wire_drops, sl_wire_drop_of(rc));
		rte_pktmbuf_free(m);
		return 0;
	}
	if (h.type == SL_WIRE_RESOLVE) {
		rx_resolve(l, rt, m, info, &h);
		return 0;
	}
	if (h.type != SL_WIRE_PUT) {
		CNT_ARR(l, wire_drops, SL_WIRE_DROP_TYPE);
		rte_pktmbuf_free(m);
		return 0;
	}
	CNT(l, frames, 1);
	CNT(l, records, h.count);
	fm = &meta_of(m)->f;
	fm->generation = rt->generation;
	sl_pkt_reply_from(frame, info, &fm->reply);
	fm->producer_id = h.producer_id;
	fm->batch_seq = h.batch_seq;
	fm->floor = h.floor;
	fm->stream = h.stream;
	fm->payload_off = info->payload_off;
	fm->payload_len = info->payload_len;
	fm->count = h.count;
	fm->ack_mode = h.flags & SL_WIRE_FLAG_ACK_MASK;

	s = sl_routes_stream(rt, h.stream);
	if (!s) {
		uint16_t idx[SL_WIRE_MAX_RECORDS];

		for (unsigned i = 0; i < h.count; i++)
			idx[i] = (uint16_t)i;
		CNT(l, unknown_stream, h.count);
		answer_now(l, fm, idx, h.count, 0, 0, SL_WIRE_UNKNOWN_STREAM, fm->ack_mode);
		rte_pktmbuf_free(m);
		return 0;
	}
	off = SL_WIRE_HDR_BYTES;
	for (unsigned i = 0; i < h.count; i++) {
		struct sl_wire_rec r;
		uint32_t ri;

		sl_wire_rec_next(payload, &off, &r);
		ri = sl_route_find(s, sl_hashkey_value(r.hash_key));
		fm->route[i] = (uint16_t)ri;
		fm->lcore[i] = (uint8_t)s->shards[ri].lcore;
		mask |= 1ull << s->shards[ri].lcore;
	}
	return mask;
}

/*
 * The fault shim (tests only, off unless fault_seed is set): drops,
 * duplicates and holds back received packets by a seeded generator, so the
 * end-to-end suite can show that loss, duplication and reordering cost
 * retries but never an acked record or a duplicate.
 */
static uint16_t fault_rx(struct lcore *l, struct rte_mbuf **pkts, uint16_t n, unsigned cap)
{
	const struct sl_engine_config *c = &l->e->c;
	struct rte_mbuf *in[512];
	struct rte_mbuf *held[32];
	uint16_t out = 0, nheld = 0;

	/* pkts is rewritten (duplicates make it grow): read from a copy. */
	memcpy(in, pkts, n * sizeof(*pkts));
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = in[i];

		if (fault_roll(l) < c->fault_rx_drop_ppm) {
			CNT(l, fault_injected, 1);
			rte_pktmbuf_free(m);
			continue;
		}
		if (nheld < RTE_DIM(held) && fault_roll(l) < c->fault_rx_delay_ppm) {
			CNT(l, fault_injected, 1);
			held[nheld++] = m;
			continue;
		}
		pkts[out++] = m;
		if (out < cap && fault_roll(l) < c->fault_rx_dup_ppm) {
			struct rte_mbuf *d = rte_pktmbuf_copy(m, l->e->pool, 0, UINT32_MAX);

			if (d) {
				CNT(l, fault_injected, 1);
				pkts[out++] = d;
			}
		}
	}
	/* What was held back last time goes after this burst's packets. */
	for (uint16_t i = 0; i < l->ndelayed; i++) {
		if (out < cap)
			pkts[out++] = l->delayed[i];
		else
			rte_pktmbuf_free(l->delayed[i]);
	}
	memcpy(l->delayed, held, nheld * sizeof(held[0]));
	l->ndelayed = nheld;
	return out;
}

/*
 * The rx role: one burst from the port, classified, validated and routed,
 * then one enqueue per destination ring.
 *
 * Measured (perf/perf_rx, net_pcap replay, one lcore running rx and a
 * discarding shard role, 2 GHz VM, software UDP checksum and the frame's
 * CRC32C over every byte): ~330-420 cycles per 1-record frame (the PMD
 * alone ~110), ~170-210 cycles per record at 11 records per 1.4 KB frame
 * (~140 above the PMD), of which the CRC32C is ~20 and the UDP checksum
 * ~15 per record; the rest is the per-record walk, route and meta writes.
 */
static int rx_do_work(struct lcore *l)
{
	struct sl_engine *e = l->e;
	const struct sl_routes *rt = load_routes(e);
	struct rte_mbuf *pkts[RX_BURST_ROOM(512)];
	struct rte_mbuf **outq = l->outq;
	unsigned *nout = l->nout;
	unsigned burst = RX_BURST_ROOM(e->c.rx_burst);
	uint64_t used = 0;
	uint16_t n;

	n = rte_eth_rx_burst(e->c.port_id, l->rxq, pkts, (uint16_t)e->c.rx_burst);
	if (sl_unlikely(e->c.fault_seed))
		n = fault_rx(l, pkts, n, burst);
	if (n == 0)
		return 0;
	CNT(l, rx_packets, n);

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct sl_pkt_info info;
		enum sl_pkt_drop why;
		enum sl_pkt_kind kind;
		uint32_t len;
		uint64_t mask;

		if (i + 2 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 2], void *));
		CNT(l, rx_bytes, m->pkt_len);
		if (m->nb_segs != 1) {
			CNT(l, rx_segmented, 1);
			rte_pktmbuf_free(m);
			continue;
		}
		kind = sl_pkt_classify(rte_pktmbuf_mtod(m, uint8_t *), m->data_len, &e->c.self,
		                       csum_flags(m), &info, &why);
		switch (kind) {
		case SL_PKT_PRODUCER:
			mask = rx_producer(l, rt, m, &info);
			if (!mask)
				break;
			/* One reference per destination beyond the first. */
			if (__builtin_popcountll(mask) > 1)
				rte_mbuf_refcnt_update(m,
				                       (int16_t)(__builtin_popcountll(mask) - 1));
			while (mask) {
				unsigned d = (unsigned)__builtin_ctzll(mask);

				mask &= mask - 1;
				if (!(used & (1ull << d))) {
					used |= 1ull << d;
					nout[d] = 0;
				}
				outq[d * burst + nout[d]++] = m;
			}
			break;
		case SL_PKT_ARP_REQUEST:
		case SL_PKT_ICMP_ECHO:
		case SL_PKT_ICMP6_ECHO:
		case SL_PKT_ND_SOLICIT: {
			uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
			uint32_t cap = rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m);

			if (kind == SL_PKT_ARP_REQUEST) {
				len = sl_pkt_arp_reply(f, m->data_len, cap, &info, &e->c.self);
				CNT(l, arp_replies, len != 0);
			} else if (kind == SL_PKT_ND_SOLICIT) {
				len = sl_pkt_nd_advert(f, m->data_len, cap, &info, &e->c.self);
				CNT(l, nd_replies, len != 0);
			} else {
				len = kind == SL_PKT_ICMP_ECHO
				              ? sl_pkt_icmp_echo_reply(f, m->data_len, cap, &info,
				                                       &e->c.self)
				              : sl_pkt_icmp6_echo_reply(f, m->data_len, cap, &info,
				                                        &e->c.self);
				CNT(l, icmp_replies, len != 0);
			}
			if (len == 0) {
				rte_pktmbuf_free(m);
				break;
			}
			m->data_len = (uint16_t)len;
			m->pkt_len = len;
			m->ol_flags = 0;
			tx_push(l, m);
			break;
		}
		case SL_PKT_DROP:
			CNT_ARR(l, pkt_drops, why);
			rte_pktmbuf_free(m);
			break;
		case SL_PKT_OTHER:
		default:
			CNT(l, rx_other, 1);
			rte_pktmbuf_free(m);
			break;
		}
	}

	/* One enqueue per destination ring per burst. */
	while (used) {
		unsigned d = (unsigned)__builtin_ctzll(used);
		unsigned k;

		used &= used - 1;
		k = rte_ring_sp_enqueue_burst(l->out[d], (void **)&outq[d * burst], nout[d], NULL);
		for (unsigned j = k; j < nout[d]; j++) {
			rx_throttle(l, rt, &meta_of(outq[d * burst + j])->f, d);
			rte_pktmbuf_free(outq[d * burst + j]);
		}
	}
	return n;
}

/* ---- shard role ---- */

static void send_held_ack(struct lcore *l, struct rte_mbuf *am, bool failed)
{
	struct ack_meta *a = &meta_of(am)->a;

	if (failed) {
		uint8_t *p = rte_pktmbuf_mtod(am, uint8_t *) + sl_pkt_udp_hdr_len(&a->reply);

		for (unsigned i = 0; i < a->entries; i++) {
			uint8_t *ent = p + SL_WIRE_HDR_BYTES + (size_t)i * SL_WIRE_ACK_ENTRY_BYTES;

			if (sl_le16(ent + 16) == SL_WIRE_OK) {
				sl_put_le64(ent, 0);
				sl_put_le16(ent + 16, SL_WIRE_FAILED);
			}
		}
		answer_finish(am, &a->reply, a->payload_len, a->entries);
	}
	CNT(l, acks, 1);
	tx_push(l, am);
}

/* Appends the records idx[0..n) of frame fm (payload at payload) that go to
 * slot sl, and answers them. */
static void shard_append(struct lcore *l, const struct sl_route_stream *s, struct slot *sl,
                         const struct frame_meta *fm, const uint8_t *payload, const uint16_t *idx,
                         const uint32_t *offs, unsigned n, int64_t mono)
{
	struct sl_engine *e = l->e;
	struct sl_record_in recs[SL_WIRE_MAX_RECORDS];
	uint16_t ok[SL_WIRE_MAX_RECORDS], big[SL_WIRE_MAX_RECORDS];
	unsigned nok = 0, nbig = 0;
	struct sl_dedup_entry *de;
	struct rte_mbuf *am = NULL;
	uint64_t first_seq, evictions;
	int64_t now = sl_wall_ns();
	unsigned notify = 0;
	int rc;

	de = sl_dedup_find(l->dedup, fm->producer_id, fm->batch_seq, fm->stream, sl->shard_id);
	for (unsigned i = 0; i < n; i++) {
		uint32_t off = offs[i];
		struct sl_wire_rec r;

		sl_wire_rec_next(payload, &off, &r);
		if (r.data_len > s->max_record_bytes) {
			big[nbig++] = idx[i];
			continue;
		}
		recs[nok] = (struct sl_record_in){
		        .key = r.key,
		        .data = r.data,
		        .data_len = r.data_len,
		        .key_len = r.key_len,
		        .arrival_ns = now,
		};
		memcpy(recs[nok].hash_key, r.hash_key, 16);
		ok[nok++] = idx[i];
	}
	if (nbig) {
		CNT(l, too_large, nbig);
		answer_now(l, fm, big, nbig, 0, sl->shard_id, SL_WIRE_TOO_LARGE, fm->ack_mode);
	}
	if (nok == 0)
		return;

	if (de && de->count != nok) {
		/* The same (producer, batch) with other records: a producer
		 * reusing a batch number. Appending would duplicate; refuse. */
		CNT(l, batch_reused, nok);
		answer_now(l, fm, ok, nok, 0, sl->shard_id, SL_WIRE_INVALID, fm->ack_mode);
		return;
	}
	if (de) {
		/* A retry of a part already appended: the original numbers. */
		if (de->failed) {
			answer_now(l, fm, ok, nok, 0, sl->shard_id, SL_WIRE_FAILED, fm->ack_mode);
		} else if (de->level >= fm->ack_mode) {
			CNT(l, dedup_hits, 1);
			answer_now(l, fm, ok, nok, de->first_seq, sl->shard_id, SL_WIRE_OK,
			           fm->ack_mode);
		} else {
			CNT(l, dedup_pending, 1);
			answer_now(l, fm, ok, nok, 0, sl->shard_id, SL_WIRE_PENDING, de->level);
		}
		return;
	}

	/* Room to remember the part comes first: a part appended but not
	 * remembered could be appended again by a retry. */
	evictions = sl_dedup_evictions(l->dedup);
	de = sl_dedup_insert(l->dedup, fm->producer_id, fm->batch_seq, fm->stream, sl->shard_id,
	                     mono);
	if (!de) {
		CNT(l, throttled_dedup, nok);
		answer_now(l, fm, ok, nok, 0, sl->shard_id, SL_WIRE_THROTTLED, fm->ack_mode);
		return;
	}
	if (sl_dedup_evictions(l->dedup) != evictions)
		CNT(l, dedup_evictions, 1);

	if (fm->ack_mode >= SL_WIRE_ACK_WRITTEN) {
		if (l->pending >= e->c.max_pending_acks) {
			sl_dedup_cancel(l->dedup, de);
			CNT(l, throttled_acks, nok);
			answer_now(l, fm, ok, nok, 0, sl->shard_id, SL_WIRE_THROTTLED,
			           fm->ack_mode);
			return;
		}
		am = rte_pktmbuf_alloc(e->pool);
		if (!am) {
			sl_dedup_cancel(l->dedup, de);
			CNT(l, nombuf, 1);
			CNT(l, throttled_acks, nok);
			answer_now(l, fm, ok, nok, 0, sl->shard_id, SL_WIRE_THROTTLED,
			           fm->ack_mode);
			return;
		}
		notify =
		        fm->ack_mode == SL_WIRE_ACK_WRITTEN ? SL_NOTIFY_WRITTEN : SL_NOTIFY_DURABLE;
	}

	rc = sl_log_append(sl->log, recs, nok, (uint64_t)(uintptr_t)am, notify, &first_seq);
	if (rc < 0) {
		sl_dedup_cancel(l->dedup, de);
		rte_pktmbuf_free(am);
		if (rc == -EAGAIN) {
			CNT(l, throttled_store, nok);
			answer_now(l, fm, ok, nok, 0, sl->shard_id, SL_WIRE_THROTTLED,
			           fm->ack_mode);
		} else {
			CNT(l, append_failed, nok);
			answer_now(l, fm, ok, nok, 0, sl->shard_id, SL_WIRE_FAILED, fm->ack_mode);
		}
		return;
	}
	CNT(l, appended, nok);
	CNT(l, append_batches, 1);
	l->appends_since_poll++;
	de->first_seq = first_seq;
	de->count = (uint16_t)nok;
	de->level = SL_WIRE_ACK_RECEIVED;

	if (!am) {
		answer_now(l, fm, ok, nok, first_seq, sl->shard_id, SL_WIRE_OK, fm->ack_mode);
		return;
	}
	/* Build the final answer now, send it when storage reports the level. */
	{
		struct ack_meta *a = &meta_of(am)->a;
		uint32_t len = SL_WIRE_HDR_BYTES;
		uint8_t *p;

		a->reply = fm->reply;
		a->dedup_idx = sl_dedup_index(l->dedup, de);
		a->dedup_gen = de->gen;
		a->level = fm->ack_mode;
		p = answer_begin(am, &a->reply, SL_WIRE_ACK, fm->ack_mode, fm->producer_id,
		                 fm->batch_seq, fm->stream);
		a->entries = add_runs(p, &len, ok, NULL, nok, first_seq, sl->shard_id, SL_WIRE_OK);
		a->payload_len = len;
		answer_finish(am, &a->reply, len, a->entries);
		l->pending++;
	}
}

static void shard_frame(struct lcore *l, const struct sl_routes *rt, struct rte_mbuf *m)
{
	const struct frame_meta *fm = &meta_of(m)->f;
	const uint8_t *payload = rte_pktmbuf_mtod(m, uint8_t *) + fm->payload_off;
	const struct sl_route_stream *s = sl_routes_stream(rt, fm->stream);
	uint16_t idx[SL_WIRE_MAX_RECORDS], moved[SL_WIRE_MAX_RECORDS];
	uint32_t offs[SL_WIRE_MAX_RECORDS], slot_of[SL_WIRE_MAX_RECORDS];
	bool same_gen = fm->generation == rt->generation;
	int64_t mono = sl_mono_ns();
	unsigned mine = 0, nmoved = 0;
	uint32_t off = SL_WIRE_HDR_BYTES;

	for (unsigned i = 0; i < fm->count; i++) {
		uint32_t at = off;
		struct sl_wire_rec r;
		uint32_t ri;

		sl_wire_rec_next(payload, &off, &r);
		if (fm->lcore[i] != (unsigned)l->shard_idx)
			continue;
		ri = same_gen ? fm->route[i]
		              : (s ? sl_route_find(s, sl_hashkey_value(r.hash_key)) : 0);
		if (!s || s->shards[ri].lcore != (unsigned)l->shard_idx) {
			moved[nmoved++] = (uint16_t)i;
			continue;
		}
		idx[mine] = (uint16_t)i;
		offs[mine] = at;
		slot_of[mine] = s->shards[ri].slot;
		mine++;
	}
	if (nmoved) {
		/* The stream was resharded while the frame was queued: retry. */
		CNT(l, route_moved, nmoved);
		answer_now(l, fm, moved, nmoved, 0, 0, SL_WIRE_THROTTLED, fm->ack_mode);
	}
	if (mine && sl_dedup_producer_seen(l->dedup, fm->producer_id, fm->floor, mono) < 0) {
		/* Too many live producers to remember their retries: retry later. */
		uint32_t shards[SL_WIRE_MAX_RECORDS];

		for (unsigned i = 0; i < mine; i++)
			shards[i] = l->slots[slot_of[i]].shard_id;
		CNT(l, throttled_dedup, mine);
		answer_records(l, fm, idx, shards, mine, 0, 0, SL_WIRE_THROTTLED, fm->ack_mode);
		rte_pktmbuf_free(m);
		return;
	}

	/* One append per slot, records in frame order. Usually one slot. */
	for (unsigned i = 0; i < mine; i++) {
		uint16_t gidx[SL_WIRE_MAX_RECORDS];
		uint32_t goffs[SL_WIRE_MAX_RECORDS];
		uint32_t slot = slot_of[i];
		unsigned g = 0;

		if (slot == UINT32_MAX)
			continue;
		for (unsigned j = i; j < mine; j++) {
			if (slot_of[j] != slot)
				continue;
			gidx[g] = idx[j];
			goffs[g++] = offs[j];
			slot_of[j] = UINT32_MAX;
		}
		shard_append(l, s, &l->slots[slot], fm, payload, gidx, goffs, g, mono);
	}
	rte_pktmbuf_free(m);
}

/* ---- control commands and puts on a shard lcore ---- */

static void put_finish(struct lcore *l, struct sl_engine_put *p)
{
	/* Never full: sl_engine_put() keeps fewer puts in flight per lcore
	 * than the ring holds. */
	(void)rte_ring_sp_enqueue(l->done, p);
	l->signal = true;
}

/* Records of one storage batch: a quarter of the staging ring, so a put of
 * any size moves through it in pieces. */
static unsigned put_chunk(const struct sl_engine *e, const struct sl_engine_put *p, unsigned i)
{
	uint64_t max = e->c.store.buffer_bytes / 4, bytes = 0;
	unsigned j = i;

	while (j < p->n) {
		uint64_t b = SL_RECORD_HDR_BYTES + p->recs[j].key_len + p->recs[j].data_len;

		if (j > i && bytes + b > max)
			break;
		bytes += b;
		j++;
	}
	return j;
}

static int shard_poll_store(struct lcore *l);

static void shard_put(struct lcore *l, struct sl_engine_put *p)
{
	struct sl_engine *e = l->e;
	struct slot *sl = p->slot_ < l->nslots ? &l->slots[p->slot_] : NULL;
	unsigned notify = p->level >= SL_WIRE_ACK_DURABLE   ? SL_NOTIFY_DURABLE
	                  : p->level >= SL_WIRE_ACK_WRITTEN ? SL_NOTIFY_WRITTEN
	                                                    : 0;
	unsigned i = 0;

	p->status = 0;
	if (!sl || !sl->used || sl->closed || !sl->log || sl->stream != p->stream_id ||
	    sl->shard_id != p->shard_id) {
		p->status = -ENOENT;
		put_finish(l, p);
		return;
	}
	p->pending_ = 1; /* held until every piece is appended */
	l->puts_active++;
	while (i < p->n) {
		unsigned j = put_chunk(e, p, i);
		uint64_t first = 0;
		int rc;

		for (unsigned tries = 0;; tries++) {
			rc = sl_log_append(sl->log, p->recs + i, j - i,
			                   notify ? ((uint64_t)(uintptr_t)p | PUT_TAG) : 0, notify,
			                   &first);
			/* The first piece may be refused (the caller retries the
			 * whole put); a later one waits for room, since part of
			 * the put is already in. */
			if (rc != -EAGAIN || i == 0 || tries >= 100000)
				break;
			shard_poll_store(l);
		}
		if (rc < 0) {
			p->status = rc;
			if (rc == -EAGAIN)
				CNT(l, throttled_store, j - i);
			else
				CNT(l, append_failed, j - i);
			break;
		}
		for (unsigned k = i; k < j; k++)
			p->seqs[k] = first + (k - i);
		sl->last_seq = first + (j - i) - 1;
		CNT(l, appended, j - i);
		CNT(l, append_batches, 1);
		l->appends_since_poll++;
		if (notify)
			p->pending_++;
		i = j;
	}
	if (--p->pending_ == 0) {
		l->puts_active--;
		put_finish(l, p);
	}
}

/* A storage event for a put's piece. */
static void put_event(struct lcore *l, struct sl_engine_put *p, const struct sl_log_event *ev)
{
	if (ev->kind == SL_EV_FAILED) {
		CNT(l, append_failed, ev->count);
		if (p->status == 0)
			p->status = ev->err ? ev->err : -EIO;
	}
	if (--p->pending_ == 0) {
		l->puts_active--;
		put_finish(l, p);
	}
}

static void exec_cmd(struct lcore *l, struct cmd *c)
{
	struct slot *sl = &l->slots[c->slot];
	struct sl_log_report rep;

	switch (c->kind) {
	case CMD_OPEN:
		c->rc = sl_mkdir_p(c->dir);
		if (c->rc < 0) {
			c->rc = sl_err_set(c->rc, "%s: %s", c->dir, strerror(-c->rc));
			break;
		}
		c->rc = sl_log_open(l->store, c->dir, c->shard_id, sl, &rep, &sl->log);
		if (c->rc < 0)
			break;
		sl->stream = c->stream;
		sl->shard_id = c->shard_id;
		sl->last_seq = rep.last_seq;
		sl->closed = false;
		sl->used = true;
		if (c->slot >= l->nslots)
			l->nslots = c->slot + 1;
		break;
	case CMD_CLOSE:
		sl->closed = true;
		c->end_seq = sl->last_seq;
		c->rc = 0;
		break;
	case CMD_DROP:
		c->rc = sl->log ? sl_log_close(sl->log) : 0;
		memset(sl, 0, sizeof(*sl));
		break;
	}
}

/* Commands and puts from the control thread, in the order it sent them. */
static unsigned shard_cmds(struct lcore *l)
{
	void *m[SHARD_BURST];
	unsigned n = rte_ring_sc_dequeue_burst(l->cmd, m, SHARD_BURST, NULL);

	for (unsigned i = 0; i < n; i++) {
		uintptr_t v = (uintptr_t)m[i];

		if (v & PUT_TAG) {
			shard_put(l, (struct sl_engine_put *)(v & ~(uintptr_t)PUT_TAG));
		} else {
			struct cmd *c = m[i];

			exec_cmd(l, c);
			__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
		}
	}
	return n;
}

static void shard_signal(struct lcore *l)
{
	uint64_t one = 1;

	if (!l->signal)
		return;
	l->signal = false;
	if (write(l->e->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, so the reader is woken anyway. */
	}
}

static int shard_poll_store(struct lcore *l)
{
	struct sl_log_event ev[EV_MAX];
	int n = sl_store_poll(l->store, ev, EV_MAX);

	for (int i = 0; i < n; i++) {
		struct rte_mbuf *am = (struct rte_mbuf *)(uintptr_t)ev[i].cookie;
		struct ack_meta *a;
		struct sl_dedup_entry *de;
		bool failed = ev[i].kind == SL_EV_FAILED;

		if (ev[i].cookie & PUT_TAG) {
			put_event(l,
			          (struct sl_engine_put *)(uintptr_t)(ev[i].cookie &
			                                              ~(uint64_t)PUT_TAG),
			          &ev[i]);
			continue;
		}
		if (!am)
			continue;
		a = &meta_of(am)->a;
		de = sl_dedup_get(l->dedup, a->dedup_idx, a->dedup_gen);
		if (de) {
			if (failed)
				de->failed = 1;
			else
				de->level = ev[i].kind == SL_EV_DURABLE ? SL_WIRE_ACK_DURABLE
				                                        : SL_WIRE_ACK_WRITTEN;
		}
		if (failed)
			CNT(l, append_failed, ev[i].count);
		/* One event per held ack (storage reports a WRITTEN-only batch
		 * once, even if the log fails later). */
		if (l->pending)
			l->pending--;
		send_held_ack(l, am, failed);
	}
	return n < 0 ? 0 : n;
}

/*
 * The shard role: frames from every rx ring, one append per shard part,
 * then (every 32 appends or store_poll_us) the store poll that submits
 * writes and fdatasyncs and hands back the events that release held acks.
 *
 * Measured (perf/e2e.sh over net_memif, 11 x 100 B records per frame, each
 * frame on one shard, one 2 GHz lcore running rx and shard roles): 2.6 M
 * records/s with received-level acks while the loop still idled ~16 %:
 * ~650 cycles per record all in (rx, append, ack build and send); with
 * frames spanning 8 shards the per-part costs (a storage batch, a retry
 * entry, an ACK) take it to ~3000.
 */
static int shard_do_work(struct lcore *l)
{
	struct sl_engine *e = l->e;
	const struct sl_routes *rt = load_routes(e);
	int work = (int)shard_cmds(l);

	for (unsigned r = 0; r < e->c.nrx; r++) {
		struct rte_mbuf *frames[SHARD_BURST];
		unsigned n =
		        rte_ring_sc_dequeue_burst(l->in[r], (void **)frames, SHARD_BURST, NULL);

		if (e->c.discard) {
			rte_pktmbuf_free_bulk(frames, n);
			work += (int)n;
			continue;
		}
		for (unsigned i = 0; i < n; i++)
			shard_frame(l, rt, frames[i]);
		work += (int)n;
	}
	/*
	 * A store poll visits every open log; at a few frames per loop it was
	 * a quarter of the lcore (perf/e2e.sh, 16 shards). Poll when enough
	 * was appended to make a write worth it, or store_poll_us after the
	 * last poll: that bounds what it adds to an ack (the fdatasync it
	 * waits for takes 10x longer).
	 */
	{
		uint64_t now = rte_rdtsc();

		if (l->appends_since_poll >= STORE_POLL_BATCHES ||
		    now - l->last_poll_tsc >= e->poll_interval_tsc) {
			l->last_poll_tsc = now;
			l->appends_since_poll = 0;
			work += shard_poll_store(l);
		}
	}
	shard_signal(l);
	return work;
}

/* ---- lcore loop ---- */

static int lcore_main(void *arg)
{
	struct lcore *l = arg;
	struct sl_engine *e = l->e;

	rte_rcu_qsbr_thread_register(e->qs, l->idx);
	rte_rcu_qsbr_thread_online(e->qs, l->idx);
	uint64_t t0 = rte_rdtsc();

	while (!__atomic_load_n(&e->stop, __ATOMIC_RELAXED)) {
		int work = 0;
		uint64_t t1;

		if (l->rx_idx >= 0)
			work += rx_do_work(l);
		if (l->shard_idx >= 0)
			work += shard_do_work(l);
		if (l->ntx)
			tx_flush(l);
		rte_rcu_qsbr_quiescent(e->qs, l->idx);
		t1 = rte_rdtsc();
		__atomic_store_n(&l->total_tsc, l->total_tsc + (t1 - t0), __ATOMIC_RELAXED);
		if (work)
			__atomic_store_n(&l->busy_tsc, l->busy_tsc + (t1 - t0), __ATOMIC_RELAXED);
		t0 = t1;
		if (work) {
			l->idle = 0;
		} else if (e->c.idle_sleep_us && ++l->idle > e->c.idle_polls) {
			rte_rcu_qsbr_thread_offline(e->qs, l->idx);
			usleep(e->c.idle_sleep_us);
			rte_rcu_qsbr_thread_online(e->qs, l->idx);
		}
	}
	/* Drain: frames already queued are appended and everything appended
	 * gets its answer (bounded by 5 s; then storage is waited for). */
	if (l->shard_idx >= 0) {
		int64_t until = sl_mono_ns() + 5000000000ll;

		for (;;) {
			const struct sl_routes *rt = load_routes(e);
			unsigned got = shard_cmds(l);

			for (unsigned r = 0; r < e->c.nrx; r++) {
				struct rte_mbuf *frames[SHARD_BURST];
				unsigned n = rte_ring_sc_dequeue_burst(l->in[r], (void **)frames,
				                                       SHARD_BURST, NULL);

				for (unsigned i = 0; i < n; i++)
					shard_frame(l, rt, frames[i]);
				got += n;
			}
			shard_poll_store(l);
			if (l->ntx)
				tx_flush(l);
			rte_rcu_qsbr_quiescent(e->qs, l->idx);
			if ((!l->pending && !l->puts_active && got == 0) || sl_mono_ns() >= until)
				break;
		}
		if (l->pending || l->puts_active) {
			/* Blocking is fine now: wait for durability, then answer. */
			for (uint32_t k = 0; k < l->nslots; k++)
				if (l->slots[k].log)
					(void)sl_log_sync(l->slots[k].log);
			for (int tries = 0; (l->pending || l->puts_active) && tries < 1000; tries++)
				shard_poll_store(l);
		}
		/* From here the control thread runs commands itself; puts still
		 * queued are refused. */
		pthread_mutex_lock(&e->cmd_lock);
		for (;;) {
			void *m;

			if (rte_ring_sc_dequeue(l->cmd, &m) != 0)
				break;
			if ((uintptr_t)m & PUT_TAG) {
				struct sl_engine_put *p =
				        (struct sl_engine_put *)((uintptr_t)m &
				                                 ~(uintptr_t)PUT_TAG);

				p->status = -ESHUTDOWN;
				put_finish(l, p);
			} else {
				exec_cmd(l, m);
				__atomic_store_n(&((struct cmd *)m)->done, 1, __ATOMIC_RELEASE);
			}
		}
		l->loop_on = false;
		pthread_mutex_unlock(&e->cmd_lock);
		shard_signal(l);
	}
	/* Answers still waiting for the port get up to 100 ms more. */
	for (int tries = 0; l->ntx && tries < 1000; tries++) {
		tx_flush(l);
		if (l->ntx)
			usleep(100);
	}
	rte_rcu_qsbr_thread_offline(e->qs, l->idx);
	rte_rcu_qsbr_thread_unregister(e->qs, l->idx);
	return 0;
}

/* ---- setup ---- */

static struct lcore *lcore_get(struct sl_engine *e, unsigned lcore_id)
{
	struct lcore *l;

	for (unsigned i = 0; i < e->nlcores; i++)
		if (e->lc[i]->lcore_id == lcore_id)
			return e->lc[i];
	if (e->nlcores == SL_ENGINE_MAX_LCORES)
		return NULL;
	l = rte_zmalloc("sl_lcore", sizeof(*l), RTE_CACHE_LINE_SIZE);
	if (!l)
		return NULL;
	l->e = e;
	l->lcore_id = lcore_id;
	l->idx = e->nlcores;
	l->txq = (uint16_t)e->nlcores;
	l->rx_idx = -1;
	l->shard_idx = -1;
	l->rng = e->c.fault_seed ^ (0x9e3779b97f4a7c15ull * (e->nlcores + 1));
	e->lc[e->nlcores++] = l;
	return l;
}

/* CPUs for helper threads: every online CPU that no engine lcore polls on,
 * or all of them when the lcores take every CPU. */
static void helper_cpus(const struct sl_engine *e, cpu_set_t *ret)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t all;

	CPU_ZERO(&all);
	for (long cpu = 0; cpu < n && cpu < CPU_SETSIZE; cpu++)
		CPU_SET((int)cpu, &all);
	*ret = all;
	for (unsigned i = 0; i < e->nlcores; i++) {
		rte_cpuset_t busy = rte_lcore_cpuset(e->lc[i]->lcore_id);

		for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
			if (CPU_ISSET(cpu, &busy))
				CPU_CLR(cpu, ret);
	}
	if (CPU_COUNT(ret) == 0)
		*ret = all;
}

void sl_engine_helper_cpus(const struct sl_engine *e, cpu_set_t *ret)
{
	helper_cpus(e, ret);
}

static int port_setup(struct sl_engine *e)
{
	struct sl_engine_config *c = &e->c;
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	uint16_t nrxd = (uint16_t)c->nb_rxd, ntxd = (uint16_t)c->nb_txd;
	int rc;

	rc = rte_eth_dev_info_get(c->port_id, &info);
	if (rc < 0)
		return sl_err_set(rc, "port %u: no such port", c->port_id);
	if (c->nrx > info.max_rx_queues || e->nlcores > info.max_tx_queues)
		return sl_err_set(-EINVAL,
		                  "port %u (%s) has %u rx / %u tx queues; %u rx and %u tx needed "
		                  "(one tx queue per engine lcore)",
		                  c->port_id, info.driver_name, info.max_rx_queues,
		                  info.max_tx_queues, c->nrx, e->nlcores);
	memset(&conf, 0, sizeof(conf));
	if (c->mtu != RTE_ETHER_MTU && strcmp(info.driver_name, "net_memif") == 0) {
		/* memif reports a 1518-byte frame limit, which configure would
		 * enforce, but it carries longer frames over linked ring slots
		 * and copies them into one of our mbufs, which mtu already
		 * sizes: leave the port's setting alone. */
	} else if (c->mtu != RTE_ETHER_MTU) {
		if (c->mtu > info.max_mtu || c->mtu < info.min_mtu)
			return sl_err_set(-EINVAL, "port %u (%s): mtu=%u not in %u..%u", c->port_id,
			                  info.driver_name, c->mtu, info.min_mtu, info.max_mtu);
		conf.rxmode.mtu = c->mtu;
	}
	if (c->nrx > 1 && info.flow_type_rss_offloads) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
		        (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
	}
	conf.rxmode.offloads = info.rx_offload_capa &
	                       (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
	rc = rte_eth_dev_configure(c->port_id, (uint16_t)c->nrx, (uint16_t)e->nlcores, &conf);
	if (rc < 0)
		return sl_err_set(rc, "port %u: configure: %s", c->port_id, rte_strerror(-rc));
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(c->port_id, &nrxd, &ntxd);
	if (rc < 0)
		return sl_err_set(rc, "port %u: descriptors: %s", c->port_id, rte_strerror(-rc));
	for (uint16_t q = 0; q < c->nrx; q++) {
		struct rte_eth_rxconf rxc = info.default_rxconf;

		rxc.offloads = conf.rxmode.offloads;
		rc = rte_eth_rx_queue_setup(c->port_id, q, nrxd, rte_eth_dev_socket_id(c->port_id),
		                            &rxc, e->pool);
		if (rc < 0)
			return sl_err_set(rc, "port %u: rx queue %u: %s", c->port_id, q,
			                  rte_strerror(-rc));
	}
	for (uint16_t q = 0; q < e->nlcores; q++) {
		rc = rte_eth_tx_queue_setup(c->port_id, q, ntxd, rte_eth_dev_socket_id(c->port_id),
		                            &info.default_txconf);
		if (rc < 0)
			return sl_err_set(rc, "port %u: tx queue %u: %s", c->port_id, q,
			                  rte_strerror(-rc));
	}
	rc = rte_eth_dev_start(c->port_id);
	if (rc < 0)
		return sl_err_set(rc, "port %u: start: %s", c->port_id, rte_strerror(-rc));
	e->port_started = true;
	e->started_ok = true;
	/* Neighbour solicitations go to a solicited-node multicast group. */
	(void)rte_eth_allmulticast_enable(c->port_id);
	{
		static const uint8_t zero[6];

		if (memcmp(c->self.mac, zero, 6) == 0) {
			struct rte_ether_addr a;

			rte_eth_macaddr_get(c->port_id, &a);
			memcpy(c->self.mac, a.addr_bytes, 6);
		}
	}
	return 0;
}

/* ---- the control side: streams, shards, commands ---- */

static int ctl_shard_cmp(const void *a, const void *b)
{
	const struct ctl_shard *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static struct ctl_shard *ctl_find(const struct ctl_stream *s, uint32_t id)
{
	struct ctl_shard key = {.id = id};

	return s->n ? bsearch(&key, s->shards, s->n, sizeof(*s->shards), ctl_shard_cmp) : NULL;
}

static int route_start_cmp(const void *a, const void *b)
{
	const struct sl_route_shard *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* A table routing to the open shards of every stream that has any. */
static int routes_build(struct sl_engine *e, uint64_t generation, struct sl_routes **ret)
{
	struct sl_routes *rt = calloc(1, sizeof(*rt));
	uint32_t max_id = 0;

	if (!rt)
		return -ENOMEM;
	rt->generation = generation;
	for (uint32_t id = 1; id <= SL_STREAMS_MAX_ID; id++)
		if (e->ctl[id])
			max_id = id;
	rt->max_id = max_id;
	rt->streams = calloc(e->ctl_streams ? e->ctl_streams : 1, sizeof(*rt->streams));
	rt->by_id = calloc(max_id + 1, sizeof(*rt->by_id));
	if (!rt->streams || !rt->by_id)
		goto fail;
	for (uint32_t id = 1; id <= max_id; id++) {
		const struct ctl_stream *cs = e->ctl[id];
		struct sl_route_stream *s;
		uint32_t nopen = 0;

		if (!cs)
			continue;
		for (uint32_t k = 0; k < cs->n; k++)
			nopen += cs->shards[k].open;
		if (nopen == 0)
			continue;
		s = &rt->streams[rt->nstreams];
		s->id = id;
		s->max_record_bytes = e->c.max_record_bytes;
		memcpy(s->name, cs->name, sizeof(s->name));
		s->shards = calloc(nopen, sizeof(*s->shards));
		if (!s->shards)
			goto fail;
		rt->nstreams++;
		for (uint32_t k = 0; k < cs->n; k++) {
			const struct ctl_shard *sh = &cs->shards[k];

			if (!sh->open)
				continue;
			s->shards[s->nshards++] = (struct sl_route_shard){
			        .start = sh->start,
			        .shard_id = sh->id,
			        .lcore = sh->lcore,
			        .slot = sh->slot,
			};
		}
		qsort(s->shards, s->nshards, sizeof(*s->shards), route_start_cmp);
		rt->by_id[id] = s;
	}
	*ret = rt;
	return 0;
fail:
	sl_routes_free(rt);
	return -ENOMEM;
}

static int routes_republish(struct sl_engine *e)
{
	const struct sl_routes *cur = load_routes(e);
	struct sl_routes *next;
	int rc = routes_build(e, cur ? cur->generation + 1 : 1, &next);

	if (rc < 0)
		return sl_err_set(rc, "routing table: out of memory");
	publish_routes(e, next);
	return 0;
}

/* Runs c on lcore l: through its command ring while its loop runs, here
 * otherwise. Control thread; blocks until done. */
static int run_cmd(struct sl_engine *e, struct lcore *l, struct cmd *c)
{
	c->done = 0;
	pthread_mutex_lock(&e->cmd_lock);
	while (l->loop_on && rte_ring_sp_enqueue(l->cmd, c) != 0) {
		pthread_mutex_unlock(&e->cmd_lock);
		usleep(50);
		pthread_mutex_lock(&e->cmd_lock);
	}
	if (!l->loop_on) {
		exec_cmd(l, c);
		pthread_mutex_unlock(&e->cmd_lock);
		return c->rc;
	}
	pthread_mutex_unlock(&e->cmd_lock);
	while (!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE))
		usleep(20);
	return c->rc;
}

static struct cmd *cmd_new(enum cmd_kind kind, uint32_t slot)
{
	struct cmd *c = calloc(1, sizeof(*c));

	if (c) {
		c->kind = kind;
		c->slot = slot;
	}
	return c;
}

/* Opens shard sh of stream cs on the least loaded shard lcore. */
static int ctl_open(struct sl_engine *e, const struct ctl_stream *cs, struct ctl_shard *sh)
{
	struct lcore *l = NULL;
	struct cmd *c;
	uint32_t slot;
	int rc;

	for (unsigned j = 0; j < e->c.nshard; j++) {
		struct lcore *x = e->shard_lc[j];

		if (x->ctl_used < x->slots_cap && (!l || x->ctl_used < l->ctl_used))
			l = x;
	}
	if (!l)
		return sl_err_set(-ENOSPC, "every shard lcore holds %u logs (raise max_logs)",
		                  e->c.store.max_logs);
	for (slot = 0; l->ctl_busy[slot]; slot++)
		;
	c = cmd_new(CMD_OPEN, slot);
	if (!c)
		return -ENOMEM;
	c->stream = cs->id;
	c->shard_id = sh->id;
	if (snprintf(c->dir, sizeof(c->dir), "%s/data/%s/shardId-%012u", e->c.data_dir, cs->name,
	             sh->id) >= (int)sizeof(c->dir)) {
		free(c);
		return sl_err_set(-ENAMETOOLONG, "%s: path too long", e->c.data_dir);
	}
	rc = run_cmd(e, l, c);
	free(c);
	if (rc < 0)
		return rc;
	l->ctl_busy[slot] = true;
	/* relaxed: sl_engine_mem_stats() reads it from other threads. */
	__atomic_store_n(&l->ctl_used, l->ctl_used + 1, __ATOMIC_RELAXED);
	sh->lcore = (uint16_t)l->shard_idx;
	sh->slot = slot;
	return 0;
}

static int ctl_simple(struct sl_engine *e, const struct ctl_shard *sh, enum cmd_kind kind,
                      uint64_t *ret_end)
{
	struct lcore *l = e->shard_lc[sh->lcore];
	struct cmd *c = cmd_new(kind, sh->slot);
	int rc;

	if (!c)
		return -ENOMEM;
	rc = run_cmd(e, l, c);
	if (ret_end)
		*ret_end = c->end_seq;
	free(c);
	if (kind == CMD_DROP) {
		l->ctl_busy[sh->slot] = false;
		__atomic_store_n(&l->ctl_used, l->ctl_used - 1, __ATOMIC_RELAXED);
	}
	return rc;
}

static void ctl_rm_shard_dir(struct sl_engine *e, const char *name, uint32_t id)
{
	char dir[PATH_MAX];

	if (snprintf(dir, sizeof(dir), "%s/data/%s/shardId-%012u", e->c.data_dir, name, id) <
	    (int)sizeof(dir))
		(void)sl_rm_rf(dir);
}

int sl_engine_sync_stream(struct sl_engine *e, uint32_t id, const char *name,
                          const struct sl_engine_shard *shards, uint32_t n,
                          struct sl_engine_shard_end *ends, uint32_t *ret_nends)
{
	struct ctl_stream *cs;
	struct ctl_shard *keep, *gone;
	uint32_t nkeep = 0, ngone = 0, nends = 0;
	bool changed = false;
	int rc = 0;

	*ret_nends = 0;
	if (id == 0 || id > SL_STREAMS_MAX_ID || !sl_stream_name_valid(name))
		return sl_err_set(-EINVAL, "stream %u '%s': bad id or name", id, name);
	cs = e->ctl[id];
	if (!cs) {
		cs = calloc(1, sizeof(*cs));
		if (!cs)
			return -ENOMEM;
		cs->id = id;
		snprintf(cs->name, sizeof(cs->name), "%s", name);
		e->ctl[id] = cs;
		e->ctl_streams++;
	}
	keep = calloc((size_t)cs->n + n + 1, sizeof(*keep));
	gone = calloc((size_t)cs->n + 1, sizeof(*gone));
	if (!keep || !gone) {
		free(keep);
		free(gone);
		return -ENOMEM;
	}
	/* Shards no longer listed go; listed ones are kept or opened. */
	for (uint32_t k = 0; k < cs->n; k++) {
		bool listed = false;

		for (uint32_t i = 0; i < n && !listed; i++)
			listed = shards[i].id == cs->shards[k].id;
		if (listed)
			keep[nkeep++] = cs->shards[k];
		else
			gone[ngone++] = cs->shards[k];
	}
	for (uint32_t i = 0; i < n; i++) {
		struct ctl_shard *have = NULL;

		for (uint32_t k = 0; k < nkeep && !have; k++)
			if (keep[k].id == shards[i].id)
				have = &keep[k];
		if (have)
			continue;
		keep[nkeep] = (struct ctl_shard){.id = shards[i].id, .start = shards[i].start};
		rc = ctl_open(e, cs, &keep[nkeep]);
		if (rc < 0)
			break;
		keep[nkeep].open = shards[i].open;
		changed |= shards[i].open;
		nkeep++;
	}
	/* Shards to close: open ones the caller lists as closed, and closed
	 * ones opened just now (their last record comes from recovery). */
	uint32_t *report = calloc((size_t)n + 1, sizeof(*report));
	uint32_t nreport = 0;

	if (!report) {
		rc = rc < 0 ? rc : -ENOMEM;
	} else {
		for (uint32_t i = 0; i < n; i++) {
			bool was_open = false, known = false;

			for (uint32_t k = 0; k < cs->n; k++) {
				if (cs->shards[k].id == shards[i].id) {
					known = true;
					was_open = cs->shards[k].open;
				}
			}
			if (shards[i].open)
				continue;
			if (was_open || !known)
				report[nreport++] = shards[i].id;
		}
		for (uint32_t k = 0; k < nkeep; k++) {
			for (uint32_t i = 0; i < n; i++) {
				if (shards[i].id == keep[k].id && keep[k].open && !shards[i].open) {
					keep[k].open = false;
					changed = true;
				}
			}
		}
	}
	for (uint32_t g = 0; g < ngone; g++)
		changed |= gone[g].open;
	free(cs->shards);
	qsort(keep, nkeep, sizeof(*keep), ctl_shard_cmp);
	cs->shards = keep;
	cs->n = nkeep;
	keep = NULL;
	if (changed) {
		int r = routes_republish(e);

		rc = rc < 0 ? rc : r;
	}
	/* After the grace period no rx lcore routes to a closing shard: its
	 * last record is final. */
	for (uint32_t i = 0; i < nreport; i++) {
		struct ctl_shard *sh = ctl_find(cs, report[i]);
		uint64_t end = 0;
		int r;

		if (!sh)
			continue; /* its open failed */
		r = ctl_simple(e, sh, CMD_CLOSE, &end);
		if (r < 0) {
			rc = rc < 0 ? rc : r;
			continue;
		}
		if (ends)
			ends[nends++] =
			        (struct sl_engine_shard_end){.shard_id = sh->id, .last_seq = end};
	}
	free(report);
	for (uint32_t g = 0; g < ngone; g++) {
		(void)ctl_simple(e, &gone[g], CMD_DROP, NULL);
		ctl_rm_shard_dir(e, cs->name, gone[g].id);
	}
	free(keep);
	free(gone);
	*ret_nends = nends;
	return rc;
}

int sl_engine_drop_stream(struct sl_engine *e, uint32_t id)
{
	struct ctl_stream *cs = id && id <= SL_STREAMS_MAX_ID ? e->ctl[id] : NULL;
	char dir[PATH_MAX];
	int rc;

	if (!cs)
		return 0;
	e->ctl[id] = NULL;
	e->ctl_streams--;
	rc = routes_republish(e);
	for (uint32_t k = 0; k < cs->n; k++)
		(void)ctl_simple(e, &cs->shards[k], CMD_DROP, NULL);
	if (snprintf(dir, sizeof(dir), "%s/data/%s", e->c.data_dir, cs->name) < (int)sizeof(dir))
		(void)sl_rm_rf(dir);
	free(cs->shards);
	free(cs);
	return rc;
}

struct sl_log *sl_engine_log(struct sl_engine *e, uint32_t stream_id, uint32_t shard_id)
{
	const struct ctl_stream *cs =
	        stream_id && stream_id <= SL_STREAMS_MAX_ID ? e->ctl[stream_id] : NULL;
	const struct ctl_shard *sh = cs ? ctl_find(cs, shard_id) : NULL;

	if (!sh)
		return NULL;
	/* acquire: the lcore wrote the slot before it released the command. */
	return __atomic_load_n(&e->shard_lc[sh->lcore]->slots[sh->slot].log, __ATOMIC_ACQUIRE);
}

int sl_engine_shard_stats(struct sl_engine *e, uint32_t stream_id, uint32_t shard_id,
                          struct sl_log_stats *ret)
{
	struct sl_log *log = sl_engine_log(e, stream_id, shard_id);

	if (!log)
		return -ENOENT;
	sl_log_stats(log, ret);
	return 0;
}

int sl_engine_put(struct sl_engine *e, struct sl_engine_put *p)
{
	const struct ctl_stream *cs =
	        p->stream_id && p->stream_id <= SL_STREAMS_MAX_ID ? e->ctl[p->stream_id] : NULL;
	const struct ctl_shard *sh = cs ? ctl_find(cs, p->shard_id) : NULL;
	struct lcore *l;
	int rc = 0;

	if (!sh || !sh->open)
		return -ENOENT;
	l = e->shard_lc[sh->lcore];
	if (l->puts_inflight + 1 >= rte_ring_get_capacity(l->done))
		return -EAGAIN;
	p->slot_ = sh->slot;
	p->pending_ = 0;
	pthread_mutex_lock(&e->cmd_lock);
	if (!l->loop_on) /* not started yet (the caller retries) or stopped */
		rc = __atomic_load_n(&e->stop, __ATOMIC_RELAXED) ? -ESHUTDOWN : -EAGAIN;
	else if (rte_ring_sp_enqueue(l->cmd, (void *)((uintptr_t)p | PUT_TAG)) != 0)
		rc = -EAGAIN;
	pthread_mutex_unlock(&e->cmd_lock);
	if (rc == 0)
		l->puts_inflight++;
	return rc;
}

unsigned sl_engine_put_poll(struct sl_engine *e, struct sl_engine_put **ret, unsigned max)
{
	unsigned got = 0;

	for (unsigned j = 0; j < e->c.nshard && got < max; j++) {
		struct lcore *l = e->shard_lc[j];
		unsigned n =
		        rte_ring_sc_dequeue_burst(l->done, (void **)(ret + got), max - got, NULL);

		l->puts_inflight -= n;
		got += n;
	}
	return got;
}

int sl_engine_put_fd(const struct sl_engine *e)
{
	return e->efd;
}

/* ---- retry memory across a clean restart ----
 *
 * At a clean stop, once every log has closed (so every batch appended is
 * durable), each shard lcore's remembered batch parts are written to
 * <data_dir>/retry-memory (temporary file, fsync, rename); the next start
 * loads them into the lcore that then owns each shard and removes the file.
 * A producer retrying across a planned restart therefore gets its original
 * sequence numbers. After a crash there is no file: retries that reach a
 * restarted engine are appended again (at-least-once). One line per part:
 *
 *   E <producer> <batch> <stream> <shard> <first_seq> <count> <floor> <age_ms>
 *
 * after a first line "sluice-retry-memory 1". The file is data: a line that
 * does not parse or names no current shard is skipped and counted.
 */
#define RETRY_MEMORY_FILE  "retry-memory"
#define RETRY_MEMORY_MAGIC "sluice-retry-memory 1"

struct save_ctx {
	FILE *f;
	const struct sl_dedup *d;
	const bool *log_ok; /* per slot of the lcore: its log closed cleanly */
	const struct lcore *l;
	int64_t now;
	uint64_t saved;
};

static void save_entry(void *arg, const struct sl_dedup_entry *de)
{
	struct save_ctx *x = arg;
	uint64_t floor = 0;
	int64_t last = x->now;
	bool ok = false;

	if (de->failed || de->count == 0)
		return;
	for (uint32_t k = 0; k < x->l->nslots; k++)
		if (x->l->slots[k].stream == de->stream && x->l->slots[k].shard_id == de->shard_id)
			ok = x->log_ok[k];
	if (!ok)
		return;
	(void)sl_dedup_producer(x->d, de->producer_id, &floor, &last);
	fprintf(x->f, "E %" PRIu64 " %" PRIu64 " %u %u %" PRIu64 " %u %" PRIu64 " %" PRId64 "\n",
	        de->producer_id, de->batch_seq, de->stream, de->shard_id, de->first_seq,
	        (unsigned)de->count, floor, (x->now - last) / 1000000);
	x->saved++;
}

static int retry_memory_path(const struct sl_engine *e, const char *suffix, char *buf, size_t cap)
{
	if (snprintf(buf, cap, "%s/%s%s", e->c.data_dir, RETRY_MEMORY_FILE, suffix) >= (int)cap)
		return -ENAMETOOLONG;
	return 0;
}

/* Owner threads are gone: runs on the freeing thread. log_ok[lcore][slot]. */
static void retry_memory_save(struct sl_engine *e, bool **log_ok)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct save_ctx x = {.now = sl_mono_ns()};
	int fd;

	if (retry_memory_path(e, "", path, sizeof(path)) < 0 ||
	    retry_memory_path(e, ".tmp", tmp, sizeof(tmp)) < 0)
		return;
	x.f = fopen(tmp, "we");
	if (!x.f)
		return;
	fprintf(x.f, "%s\n", RETRY_MEMORY_MAGIC);
	for (unsigned j = 0; j < e->c.nshard; j++) {
		struct lcore *l = e->shard_lc[j];

		if (!l || !l->dedup || !log_ok[j])
			continue;
		x.d = l->dedup;
		x.l = l;
		x.log_ok = log_ok[j];
		sl_dedup_foreach(l->dedup, save_entry, &x);
	}
	if (fflush(x.f) != 0 || fsync(fileno(x.f)) != 0) {
		fclose(x.f);
		unlink(tmp);
		return;
	}
	fclose(x.f);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return;
	}
	fd = open(e->c.data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

static uint32_t route_by_id(const struct sl_route_stream *s, uint32_t shard_id)
{
	for (uint32_t i = 0; i < s->nshards; i++)
		if (s->shards[i].shard_id == shard_id)
			return i;
	return UINT32_MAX;
}

/* Before the lcores run: loads and removes the file a clean stop left. */
static void retry_memory_load(struct sl_engine *e, const struct sl_routes *rt)
{
	char path[PATH_MAX], line[256];
	int64_t now = sl_mono_ns();
	FILE *f;

	if (retry_memory_path(e, "", path, sizeof(path)) < 0)
		return;
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(line, sizeof(line), f) ||
	    strncmp(line, RETRY_MEMORY_MAGIC, strlen(RETRY_MEMORY_MAGIC)) != 0) {
		e->retry_memory_skipped++;
		goto out;
	}
	while (fgets(line, sizeof(line), f)) {
		uint64_t producer, batch, first_seq, floor;
		unsigned stream, shard, count;
		int64_t age_ms;
		const struct sl_route_stream *s;
		struct sl_dedup_entry *de;
		struct lcore *l;
		uint32_t ri;
		char end;

		if (sscanf(line,
		           "E %" SCNu64 " %" SCNu64 " %u %u %" SCNu64 " %u %" SCNu64 " %" SCNd64
		           "%c",
		           &producer, &batch, &stream, &shard, &first_seq, &count, &floor, &age_ms,
		           &end) != 9 ||
		    end != '\n' || producer == 0 || count == 0 || count > SL_WIRE_MAX_RECORDS ||
		    age_ms < 0 || (s = sl_routes_stream(rt, stream)) == NULL ||
		    (ri = route_by_id(s, shard)) == UINT32_MAX) {
			e->retry_memory_skipped++;
			continue;
		}
		l = e->shard_lc[s->shards[ri].lcore];
		if (sl_dedup_producer_seen(l->dedup, producer, floor, now - age_ms * 1000000) < 0) {
			e->retry_memory_skipped++;
			continue;
		}
		de = sl_dedup_insert(l->dedup, producer, batch, stream, shard, now);
		if (!de) {
			e->retry_memory_skipped++;
			continue;
		}
		de->first_seq = first_seq;
		de->count = (uint16_t)count;
		de->level = SL_WIRE_ACK_DURABLE; /* saved after a clean close */
		e->retry_memory_loaded++;
	}
out:
	fclose(f);
	unlink(path);
}

int sl_engine_create(const struct sl_engine_config *c, const struct sl_stream_set *streams,
                     struct sl_engine **ret)
{
	struct sl_engine *e;
	unsigned nmbufs;
	size_t qsz;
	int rc;

	rc = config_validate(c);
	if (rc < 0)
		return rc;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->c = *c;
	e->efd = -1;
	pthread_mutex_init(&e->cmd_lock, NULL);
	e->ctl = calloc(SL_STREAMS_MAX_ID + 1, sizeof(*e->ctl));
	e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!e->ctl || e->efd < 0) {
		rc = -ENOMEM;
		goto fail;
	}
	e->poll_interval_tsc = rte_get_tsc_hz() / 1000000 * c->store_poll_us;

	for (unsigned i = 0; i < c->nrx; i++) {
		struct lcore *l = lcore_get(e, c->rx_lcores[i]);

		if (!l || l->rx_idx >= 0) {
			rc = sl_err_set(-EINVAL, "rx lcore %u: repeated or out of memory",
			                c->rx_lcores[i]);
			goto fail;
		}
		l->rx_idx = (int)i;
		l->rxq = (uint16_t)i;
	}
	for (unsigned i = 0; i < c->nshard; i++) {
		struct lcore *l = lcore_get(e, c->shard_lcores[i]);
		char name[RTE_RING_NAMESIZE];

		if (!l || l->shard_idx >= 0) {
			rc = sl_err_set(-EINVAL, "shard lcore %u: repeated or out of memory",
			                c->shard_lcores[i]);
			goto fail;
		}
		l->shard_idx = (int)i;
		e->shard_lc[i] = l;
		/* A store holds max_logs logs: so many slots per lcore. */
		l->slots_cap = c->store.max_logs;
		l->slots = calloc(l->slots_cap, sizeof(*l->slots));
		l->ctl_busy = calloc(l->slots_cap, sizeof(*l->ctl_busy));
		if (!l->slots || !l->ctl_busy) {
			rc = -ENOMEM;
			goto fail;
		}
		/* Puts in flight per lcore stay below the done ring's size. */
		snprintf(name, sizeof(name), "sl_cmd%u", i);
		l->cmd = rte_ring_create(name, 4096, (int)rte_socket_id(),
		                         RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "sl_done%u", i);
		l->done = rte_ring_create(name, 4096, (int)rte_socket_id(),
		                          RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!l->cmd || !l->done) {
			rc = sl_err_set(-ENOMEM, "command rings: %s", rte_strerror(rte_errno));
			goto fail;
		}
		rc = sl_dedup_create(c->dedup_entries, c->dedup_producers,
		                     (int64_t)c->dedup_idle_ms * 1000000, &l->dedup);
		if (rc < 0)
			goto fail;
	}
	for (unsigned i = 0; i < e->nlcores; i++) {
		if (!rte_lcore_is_enabled(e->lc[i]->lcore_id)) {
			rc = sl_err_set(-EINVAL, "lcore %u is not in the EAL core list (-l)",
			                e->lc[i]->lcore_id);
			goto fail;
		}
	}

	/* Every mbuf that can be held at once: rx and tx descriptors, rings,
	 * held acks, per-lcore caches and bursts. */
	nmbufs = c->nrx * c->nb_rxd + e->nlcores * c->nb_txd + c->nrx * c->nshard * c->ring_size +
	         c->nshard * c->max_pending_acks + e->nlcores * (256 + 2 * 512 + c->tx_backlog) +
	         1024;
	e->pool = rte_pktmbuf_pool_create("sl_mbufs", nmbufs, 256, sl_engine_mbuf_priv_size(),
	                                  sl_engine_mbuf_data_room(c->mtu), (int)rte_socket_id());
	if (!e->pool) {
		rc = sl_err_set(-ENOMEM, "mbuf pool of %u: %s (raise -m)", nmbufs,
		                rte_strerror(rte_errno));
		goto fail;
	}
	for (unsigned r = 0; r < c->nrx; r++) {
		for (unsigned s = 0; s < c->nshard; s++) {
			char name[RTE_RING_NAMESIZE];

			snprintf(name, sizeof(name), "sl_rx%u_sh%u", r, s);
			e->rings[r][s] = rte_ring_create(name, c->ring_size, (int)rte_socket_id(),
			                                 RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (!e->rings[r][s]) {
				rc = sl_err_set(-ENOMEM, "ring %s: %s", name,
				                rte_strerror(rte_errno));
				goto fail;
			}
		}
	}
	for (unsigned i = 0; i < e->nlcores; i++) {
		struct lcore *l = e->lc[i];

		l->out = calloc(c->nshard, sizeof(*l->out));
		l->in = calloc(c->nrx, sizeof(*l->in));
		l->outq = calloc((size_t)c->nshard * RX_BURST_ROOM(c->rx_burst), sizeof(*l->outq));
		l->nout = calloc(c->nshard, sizeof(*l->nout));
		l->txb = calloc(c->tx_backlog, sizeof(*l->txb));
		l->txb_mask = c->tx_backlog - 1;
		if (!l->out || !l->in || !l->outq || !l->nout || !l->txb) {
			rc = -ENOMEM;
			goto fail;
		}
		if (l->rx_idx >= 0)
			for (unsigned s = 0; s < c->nshard; s++)
				l->out[s] = e->rings[l->rx_idx][s];
		if (l->shard_idx >= 0)
			for (unsigned r = 0; r < c->nrx; r++)
				l->in[r] = e->rings[r][l->shard_idx];
	}
	qsz = rte_rcu_qsbr_get_memsize(e->nlcores);
	e->qs = rte_zmalloc("sl_qsbr", qsz, RTE_CACHE_LINE_SIZE);
	if (!e->qs || rte_rcu_qsbr_init(e->qs, e->nlcores) != 0) {
		rc = sl_err_set(-ENOMEM, "qsbr");
		goto fail;
	}

	for (unsigned j = 0; j < c->nshard; j++) {
		cpu_set_t helpers;

		rc = sl_store_create(&c->store, &e->shard_lc[j]->store);
		if (rc < 0)
			goto fail;
		/* The store's janitor threads and io_uring workers would
		 * otherwise share the busy-polling lcore's core. */
		helper_cpus(e, &helpers);
		(void)sl_store_set_helper_cpus(e->shard_lc[j]->store, &helpers);
	}
	/* The streams given here get even layouts with shards 0..n-1 (the
	 * control plane syncs its own later). Logs are opened here and then
	 * driven by their lcore: the launch orders these writes before its
	 * first use. */
	for (uint32_t i = 0; i < streams->n; i++) {
		const struct sl_stream_def *d = &streams->s[i];
		struct sl_engine_shard *sh = calloc(d->shards, sizeof(*sh));
		uint32_t nends;

		if (!sh) {
			rc = -ENOMEM;
			goto fail;
		}
		for (uint32_t k = 0; k < d->shards; k++)
			sh[k] = (struct sl_engine_shard){
			        .start = sl_hashkey_even_start(k, d->shards),
			        .id = k,
			        .open = true};
		rc = sl_engine_sync_stream(e, d->id, d->name, sh, d->shards, NULL, &nends);
		free(sh);
		if (rc < 0)
			goto fail;
	}
	rc = routes_republish(e);
	if (rc < 0)
		goto fail;
	rc = port_setup(e);
	if (rc < 0)
		goto fail;
	*ret = e;
	return 0;
fail:
	sl_engine_free(e);
	return rc;
}

int sl_engine_start(struct sl_engine *e)
{
	unsigned main_id = rte_get_main_lcore();

	if (!e->retry_loaded) {
		/* Once the control plane has set up the streams. */
		retry_memory_load(e, load_routes(e));
		e->retry_loaded = true;
	}

	for (unsigned i = 0; i < e->nlcores; i++) {
		struct lcore *l = e->lc[i];
		int rc;

		if (l->lcore_id == main_id)
			continue;
		pthread_mutex_lock(&e->cmd_lock);
		l->loop_on = l->shard_idx >= 0;
		pthread_mutex_unlock(&e->cmd_lock);
		rc = rte_eal_remote_launch(lcore_main, l, l->lcore_id);
		if (rc < 0) {
			pthread_mutex_lock(&e->cmd_lock);
			l->loop_on = false;
			pthread_mutex_unlock(&e->cmd_lock);
			sl_engine_stop(e);
			sl_engine_wait(e);
			return sl_err_set(rc, "launch on lcore %u failed", l->lcore_id);
		}
		e->launched |= 1ull << i;
	}
	return 0;
}

void sl_engine_wait(struct sl_engine *e)
{
	for (unsigned i = 0; i < e->nlcores; i++)
		if (e->launched & (1ull << i))
			rte_eal_wait_lcore(e->lc[i]->lcore_id);
	e->launched = 0;
	/* What an rx lcore queued after its shard lcore's last look is not
	 * answered: counted, so the stop is not silent about it. */
	for (unsigned r = 0; r < e->c.nrx; r++)
		for (unsigned s = 0; s < e->c.nshard; s++) {
			struct rte_mbuf *m;

			while (rte_ring_dequeue(e->rings[r][s], (void **)&m) == 0) {
				CNT(e->shard_lc[s], stop_dropped, 1);
				rte_pktmbuf_free(m);
			}
		}
}

int sl_engine_run(struct sl_engine *e)
{
	unsigned main_id = rte_get_main_lcore();
	struct lcore *main_lc = NULL;
	int rc;

	rc = sl_engine_start(e);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < e->nlcores; i++)
		if (e->lc[i]->lcore_id == main_id)
			main_lc = e->lc[i];
	if (main_lc) {
		pthread_mutex_lock(&e->cmd_lock);
		main_lc->loop_on = main_lc->shard_idx >= 0;
		pthread_mutex_unlock(&e->cmd_lock);
		lcore_main(main_lc);
	} else
		while (!__atomic_load_n(&e->stop, __ATOMIC_RELAXED))
			usleep(1000);
	sl_engine_wait(e);
	return 0;
}

int sl_engine_republish_routes(struct sl_engine *e)
{
	return routes_republish(e);
}

void sl_engine_retry_memory(const struct sl_engine *e, uint64_t *ret_loaded, uint64_t *ret_skipped)
{
	*ret_loaded = e->retry_memory_loaded;
	*ret_skipped = e->retry_memory_skipped;
}

const char *sl_engine_storage_backend(const struct sl_engine *e, int *ret_uring_error)
{
	const struct sl_store *st = e->shard_lc[0]->store;

	*ret_uring_error = sl_store_uring_error(st);
	return sl_io_backend_name(sl_store_backend(st));
}

void sl_engine_stop(struct sl_engine *e)
{
	__atomic_store_n(&e->stop, 1, __ATOMIC_RELAXED);
}

void sl_engine_stats(const struct sl_engine *e, struct sl_engine_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (unsigned i = 0; i < e->nlcores; i++) {
		const struct sl_engine_stats *s = &e->lc[i]->st;

		for (unsigned k = 0; k < SL_EC_COUNT; k++)
			ret->c[k] += __atomic_load_n(&s->c[k], __ATOMIC_RELAXED);
		for (unsigned k = 0; k < SL_PKT_DROP_COUNT; k++)
			ret->pkt_drops[k] += __atomic_load_n(&s->pkt_drops[k], __ATOMIC_RELAXED);
		for (unsigned k = 0; k < SL_WIRE_DROP_COUNT; k++)
			ret->wire_drops[k] += __atomic_load_n(&s->wire_drops[k], __ATOMIC_RELAXED);
	}
}

unsigned sl_engine_lcore_stats(const struct sl_engine *e, struct sl_engine_lcore_stats *ret,
                               unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < e->nlcores && n < max; i++, n++) {
		const struct lcore *l = e->lc[i];
		struct sl_engine_lcore_stats *r = &ret[n];

		memset(r, 0, sizeof(*r));
		r->lcore_id = l->lcore_id;
		snprintf(r->roles, sizeof(r->roles), "%s",
		         l->rx_idx >= 0 && l->shard_idx >= 0 ? "rx+shard"
		         : l->rx_idx >= 0                    ? "rx"
		                                             : "shard");
		r->busy_tsc = __atomic_load_n(&l->busy_tsc, __ATOMIC_RELAXED);
		r->total_tsc = __atomic_load_n(&l->total_tsc, __ATOMIC_RELAXED);
		if (l->shard_idx >= 0) {
			for (unsigned k = 0; k < e->c.nrx; k++) {
				r->ring_used += rte_ring_count(l->in[k]);
				r->ring_capacity += rte_ring_get_capacity(l->in[k]);
			}
		}
	}
	return n;
}

void sl_engine_fsync_hist(const struct sl_engine *e, struct sl_engine_fsync_hist *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (unsigned j = 0; j < e->c.nshard; j++) {
		struct sl_fsync_hist h;
		uint64_t run = 0;

		sl_store_fsync_hist(e->shard_lc[j]->store, &h);
		ret->count += h.count;
		ret->sum_ns += h.sum_ns;
		for (unsigned b = 0; b < SL_FSYNC_BUCKETS; b++) {
			run += h.bucket[b];
			ret->cum[b] += run;
		}
	}
}

static void pool_chunk_bytes(struct rte_mempool *mp, void *arg, struct rte_mempool_memhdr *h,
                             unsigned idx)
{
	(void)mp;
	(void)idx;
	*(uint64_t *)arg += h->len;
}

static void pool_stats(struct rte_mempool *mp, struct sl_engine_mempool_stats *ret)
{
	uint64_t bytes = 0;

	memset(ret, 0, sizeof(*ret));
	snprintf(ret->name, sizeof(ret->name), "%s", mp->name);
	/* The chunk list is written only while the pool is populated (at
	 * create), so walking it here races with nothing. */
	rte_mempool_mem_iter(mp, pool_chunk_bytes, &bytes);
	ret->size = mp->size;
	/* One read of the free count (ring plus caches), so that in_use and
	 * available add up to size even while lcores allocate. */
	ret->available = rte_mempool_avail_count(mp);
	ret->in_use = mp->size - ret->available;
	ret->cache_size = mp->cache_size;
	ret->elt_size = mp->elt_size;
	ret->total_bytes = bytes;
}

void sl_engine_mem_stats(const struct sl_engine *e, struct sl_engine_mem *ret)
{
	struct rte_mempool *pools[] = {e->pool};

	memset(ret, 0, sizeof(*ret));
	for (unsigned i = 0; i < SL_ARRAY_SIZE(pools) && ret->npools < SL_ENGINE_MEM_POOLS; i++) {
		struct sl_engine_mempool_stats *p = &ret->pool[ret->npools];

		if (!pools[i])
			continue;
		pool_stats(pools[i], p);
		ret->pools_in_use += p->in_use;
		ret->pools_size += p->size;
		ret->pools_bytes += p->total_bytes;
		ret->npools++;
	}
	for (unsigned i = 0; i < rte_socket_count(); i++) {
		struct rte_malloc_socket_stats h;

		if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &h) != 0)
			continue;
		ret->heap_alloc_bytes += h.heap_allocsz_bytes;
		ret->heap_total_bytes += h.heap_totalsz_bytes;
	}
	/* Each open log holds one staging ring of buffer_bytes (storage
	 * allocates it at open, touches every page, frees it at close). */
	for (unsigned j = 0; j < e->c.nshard; j++)
		if (e->shard_lc[j])
			ret->store_logs +=
			        __atomic_load_n(&e->shard_lc[j]->ctl_used, __ATOMIC_RELAXED);
	ret->store_ring_bytes = ret->store_logs * e->c.store.buffer_bytes;
}

void sl_engine_mem_print(const struct sl_engine_mem *m, FILE *out)
{
	fprintf(out,
	        "mem_dpdk_heap_alloc_bytes %" PRIu64 "\n"
	        "mem_dpdk_heap_total_bytes %" PRIu64 "\n"
	        "mem_store_logs %" PRIu64 "\n"
	        "mem_store_ring_bytes %" PRIu64 "\n"
	        "mempool_in_use %" PRIu64 "\n"
	        "mempool_size %" PRIu64 "\n"
	        "mempool_bytes %" PRIu64 "\n",
	        m->heap_alloc_bytes, m->heap_total_bytes, m->store_logs, m->store_ring_bytes,
	        m->pools_in_use, m->pools_size, m->pools_bytes);
	for (unsigned i = 0; i < m->npools; i++) {
		const struct sl_engine_mempool_stats *p = &m->pool[i];

		fprintf(out,
		        "mempool_%s_in_use %u\n"
		        "mempool_%s_size %u\n"
		        "mempool_%s_bytes %" PRIu64 "\n",
		        p->name, p->in_use, p->name, p->size, p->name, p->total_bytes);
	}
}

void sl_engine_stats_print(const struct sl_engine_stats *s, FILE *out)
{
	static const char *const names[] = {
#define SL_X_NAME(n, d) #n,
	        SL_ENGINE_COUNTERS(SL_X_NAME)
#undef SL_X_NAME
	};

	for (unsigned k = 0; k < SL_EC_COUNT; k++)
		fprintf(out, "%s %" PRIu64 "\n", names[k], s->c[k]);
	for (unsigned k = 0; k < SL_PKT_DROP_COUNT; k++)
		fprintf(out, "drop_pkt_%s %" PRIu64 "\n", sl_pkt_drop_name(k), s->pkt_drops[k]);
	for (unsigned k = 0; k < SL_WIRE_DROP_COUNT; k++)
		fprintf(out, "drop_wire_%s %" PRIu64 "\n", sl_wire_drop_name(k), s->wire_drops[k]);
}

void sl_engine_free(struct sl_engine *e)
{
	if (!e)
		return;
	if (e->launched) {
		sl_engine_stop(e);
		sl_engine_wait(e);
	}
	if (e->port_started) {
		rte_eth_dev_stop(e->c.port_id);
		rte_eth_dev_close(e->c.port_id);
	}
	{
		/* Logs first (every batch durable), then what the retry memory
		 * says about them, then the rest. */
		bool *log_ok[SL_ENGINE_MAX_LCORES] = {0};

		for (unsigned j = 0; j < e->c.nshard; j++) {
			struct lcore *l = e->shard_lc[j];

			if (!l || !l->store)
				continue;
			log_ok[j] = calloc(l->slots_cap ? l->slots_cap : 1, sizeof(bool));
			for (uint32_t k = 0; k < l->nslots; k++) {
				int rc = l->slots[k].log ? sl_log_close(l->slots[k].log) : -1;

				l->slots[k].log = NULL;
				if (log_ok[j])
					log_ok[j][k] = rc == 0;
			}
		}
		if (e->started_ok)
			retry_memory_save(e, log_ok);
		for (unsigned j = 0; j < SL_ENGINE_MAX_LCORES; j++)
			free(log_ok[j]);
	}
	for (unsigned i = 0; i < e->nlcores; i++) {
		struct lcore *l = e->lc[i];

		if (l->store) {
			for (uint32_t k = 0; k < l->nslots; k++)
				sl_log_close(l->slots[k].log);
			sl_store_free(l->store);
		}
		if (l->done) {
			/* Puts finished but never polled belong to the caller. */
			rte_ring_free(l->done);
			rte_ring_free(l->cmd);
		}
		free(l->ctl_busy);
		rte_pktmbuf_free_bulk(l->delayed, l->ndelayed);
		for (uint32_t k = 0; l->txb && k < l->ntx; k++)
			rte_pktmbuf_free(l->txb[(l->txb_head + k) & l->txb_mask]);
		free(l->txb);
		free(l->slots);
		free(l->in);
		free(l->out);
		free(l->outq);
		free(l->nout);
		sl_dedup_free(l->dedup);
		rte_free(l);
	}
	for (unsigned r = 0; r < SL_ENGINE_MAX_LCORES; r++)
		for (unsigned s = 0; s < SL_ENGINE_MAX_LCORES; s++)
			if (e->rings[r][s]) {
				struct rte_mbuf *m;

				while (rte_ring_dequeue(e->rings[r][s], (void **)&m) == 0)
					rte_pktmbuf_free(m);
				rte_ring_free(e->rings[r][s]);
			}
	sl_routes_free(e->routes);
	for (uint32_t id = 0; e->ctl && id <= SL_STREAMS_MAX_ID; id++) {
		if (e->ctl[id]) {
			free(e->ctl[id]->shards);
			free(e->ctl[id]);
		}
	}
	free(e->ctl);
	if (e->efd >= 0)
		close(e->efd);
	pthread_mutex_destroy(&e->cmd_lock);
	rte_free(e->qs);
	rte_mempool_free(e->pool);
	free(e);
}

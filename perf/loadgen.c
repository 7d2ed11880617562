/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loadgen: an end-to-end producer load generator for the engine, as a DPDK
 * process of its own on one lcore, talking to sluiced over a port (net_memif
 * by default: the two processes share memory rings, nothing reaches any
 * network). It measures what a producer sees: records/s acknowledged at the
 * requested level (durable by default) and the per-record ack latency.
 *
 *   loadgen [OPTIONS]                 EAL defaults: no hugepages, lcore 1,
 *                                     net_memif client on --socket
 *   loadgen EAL-ARGS -- [OPTIONS]     any port: the EAL arguments pass through
 *
 * Start-up: wait for the port's link (memif: the engine accepted us), learn
 * the engine's MAC with an ARP request for its address (memif has no MAC
 * learning, and the engine answers from the destination MAC of what it got,
 * so a broadcast PUT would be answered from ff:ff:ff:ff:ff:ff), then RESOLVE
 * the stream name to its id and shard count. An engine with N lcores
 * answers from N tx queues, and memif gives each of them a ring of its own:
 * --rx-queues N makes as many here and polls them all.
 *
 * Load: PUT frames of N records (100 B data by default, 9-byte keys
 * k<8 hex digits> with their MD5 hash keys), as many as fit one frame of
 * the --mtu (1500 bytes; a frame is one UDP datagram, never IP fragments)
 * unless --records says otherwise, one producer_id and increasing
 * batch_seq. Keys go round-robin over --keys keys (every frame spans several
 * shards, as the project's client sends them) or, with --spread frame, each
 * frame holds keys of one shard only (a producer that batches per shard).
 *
 *  - closed loop (default): at most --window frames in flight; a frame is
 *    sent when an earlier one is done. Latency runs from the send.
 *  - open loop (--rate R records/s): frame k is due at start + k * nrec / R
 *    whatever the answers do; latency runs from that scheduled time, so a
 *    stall is charged to every frame queued behind it (no coordinated
 *    omission). --window still bounds the frames in flight; a frame that
 *    finds it full is sent late and its latency shows it.
 *
 * Every PUT carries a floor, the lowest batch_seq still in flight when it
 * was first sent (resends keep it), as the project's client does: the
 * engine's retry memory may forget the batches below it.
 *
 * A frame is done when every record has a final answer. THROTTLED records
 * make the whole frame go again after a backoff (200 us doubling to 20 ms);
 * a frame without a final answer after --timeout-ms goes again too; the
 * engine's dedup answers the parts it already has. PENDING (appended, level
 * not reached yet) is not final and needs no resend. After --attempts sends
 * the frame is given up and its unanswered records counted.
 *
 * Window: --warmup seconds, then --seconds measured. Throughput counts the
 * records acknowledged OK inside the window; latency counts every record of
 * a frame whose start (send or scheduled time) was inside it. After the
 * window nothing new is sent and the frames in flight drain (bounded); a
 * record still unanswered then enters the histogram at its age (a lower
 * bound) and is counted. A hard deadline (--deadline) ends everything;
 * SIGINT or SIGTERM too, at once (the run is reported as interrupted).
 *
 * Exit status: 0 when the run completed, 77 when EAL or the port cannot
 * start here or the engine never answered (the reason is printed), 1 on
 * other errors, 2 on bad options.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_version.h>

#include "clock.h"
#include "compiler.h"
#include "hist.h"
#include "machine.h"
#include "pkt.h"
#include "route.h"
#include "wire.h"

#define EXIT_SKIP     77
#define IP4_UDP_HDR   28 /* IPv4 + UDP headers: the UDP payload is the MTU less these */
#define MAX_RXQ       16
#define KEY_LEN       9 /* "k" + 8 hex digits */
#define RX_BURST      64
#define RX_ROUNDS     16
#define TX_BURST      32
#define NB_DESC       1024
#define NB_MBUFS      8191
#define MAX_REC_WORDS ((SL_WIRE_MAX_RECORDS + 63) / 64)
#define SCAN_NS       100000ll   /* resend scan period */
#define BACKOFF_MIN   200000ll   /* THROTTLED: first backoff ... */
#define BACKOFF_MAX   20000000ll /* ... doubling up to this */
#define LATE_NS       1000000ll  /* open loop: a send this late is counted */
#define SRC_PORT      40001
#define IDLE_POLLS    64 /* polls with nothing to do before a nap */

/* One PUT frame in flight. Slots are indexed by batch_seq & mask. */
struct batch {
	uint64_t seq;   /* 0: free */
	uint64_t floor; /* of its first send; resends keep it */
	int64_t t0;     /* send (closed loop) or scheduled (open loop) time */
	int64_t deadline;
	int64_t backoff;
	uint16_t nfinal;
	uint16_t attempts;
	bool throttled; /* deadline is a throttle backoff, not a timeout */
	bool measured;  /* t0 inside the window */
	uint64_t final[MAX_REC_WORDS];
};

struct key {
	char s[KEY_LEN + 1];
	uint8_t hash[16];
};

struct opts {
	const char *socket;
	unsigned lcore;
	unsigned rsize;   /* memif ring: log2 of its slots */
	unsigned nrxq;    /* rx queues to poll: one per engine lcore (its tx queue) */
	unsigned mtu;     /* IP MTU of our frames: the UDP payload is mtu - 28 */
	unsigned idle_us; /* nap when idle (0: spin) */
	const char *stream;
	uint8_t ip[4], engine_ip[4];
	uint16_t udp_port;
	bool has_engine_mac;
	uint8_t engine_mac[6];
	unsigned records; /* per frame; 0: as many as fit */
	unsigned size;
	unsigned keys;
	bool spread_frame;
	unsigned ack;
	unsigned window;
	double rate; /* records/s; 0: closed loop */
	double seconds, warmup, drain, deadline;
	unsigned timeout_ms;
	unsigned attempts;
	bool udp_csum;
	bool quick;
	const char *json;
	const char *label;
};

/* Counters, whole run unless named otherwise. */
struct counters {
	uint64_t frames_sent; /* first sends */
	uint64_t resends_throttled;
	uint64_t resends_timeout;
	uint64_t tx_full;           /* tx_burst took fewer than offered (retried) */
	uint64_t acks;              /* ACK frames matched to a batch */
	uint64_t acks_stale;        /* for a batch already done or unknown */
	uint64_t answers_throttled; /* records answered THROTTLED */
	uint64_t answers_pending;   /* records answered PENDING (or OK below the level) */
	uint64_t rx_other;
	uint64_t gave_up_records;
	uint64_t late_sends; /* open loop: sent more than LATE_NS after due */
	int64_t max_lag;     /* open loop: worst send lag, ns */
	/* Records of measured frames, by final status. */
	uint64_t status[SL_WIRE_STATUS_COUNT];
	uint64_t unanswered; /* measured records with no final answer at the end */
};

struct result {
	double window_s;
	uint64_t ok_records; /* acked OK inside the window */
	uint64_t done_frames;
	double records_per_s, frames_per_s, data_mb_per_s;
	double offered;
	uint64_t p50, p90, p99, p999, max, min;
	double mean;
	uint64_t lat_count;
};

static struct opts o;
static struct counters ct;
static struct result res;
static struct sl_hist hist;
static volatile sig_atomic_t stop;

static struct {
	uint16_t port;
	struct rte_mempool *pool;
	uint8_t mac[6];
	struct sl_pkt_self self; /* us, to classify answers */
	struct sl_pkt_reply to_engine;
	uint32_t hl; /* Ethernet + IP + UDP header bytes */
	uint64_t producer_id;
	uint32_t stream_id;
	uint32_t shards;
	unsigned nrec;
	uint32_t frame_bytes; /* Ethernet frame of a PUT */
	uint32_t payload_max; /* UDP payload the MTU allows */
	struct key *keys;
	uint32_t *by_shard; /* --spread frame: key indices grouped by shard */
	uint32_t *shard_first, *shard_n;
	uint8_t *data;
	struct batch *tab;
	uint64_t mask;
	uint64_t next_seq, lo_seq;
	unsigned inflight;
	/* tx backlog: built frames tx_burst did not take yet */
	struct rte_mbuf *txq[TX_BURST * 2];
	unsigned ntxq;
	int64_t win_start, win_end;
	uint64_t ok_in_window, frames_in_window;
	char cpu[128], kernel[320], loadavg[2][64], driver[64];
} g;

static void on_signal(int sig)
{
	if (sig == SIGALRM)
		_exit(3); /* the hard deadline passed and the loop did not stop */
	stop = 1;
}

static const char *ack_name(unsigned a)
{
	static const char *const n[] = {"none", "received", "written", "durable"};

	return a < 4 ? n[a] : "?";
}

/* ---- frames ---- */

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Index of the key of record i of frame seq (frames are a pure function of
 * their batch_seq, so a resend rebuilds the identical frame). */
static uint32_t key_of(uint64_t seq, unsigned i)
{
	uint64_t r = (seq - 1) * g.nrec + i;

	if (o.spread_frame) {
		uint32_t s = (uint32_t)((seq - 1) % g.shards);
		uint64_t k = (seq - 1) / g.shards * g.nrec + i;

		return g.by_shard[g.shard_first[s] + k % g.shard_n[s]];
	}
	return (uint32_t)(r % o.keys);
}

/* Writes PUT frame seq (Ethernet to UDP payload) at buf; returns its length. */
static uint32_t put_build(uint8_t *buf, uint64_t seq, uint64_t floor)
{
	uint8_t *payload = buf + g.hl;
	uint32_t len = sl_wire_begin(payload, SL_WIRE_PUT, (uint16_t)o.ack, g.producer_id, seq,
	                             g.stream_id);
	uint32_t flen;

	for (unsigned i = 0; i < g.nrec; i++) {
		const struct key *k = &g.keys[key_of(seq, i)];
		uint64_t r = (seq - 1) * g.nrec + i;

		/* Fits: checked once at start-up for the longest key. */
		sl_wire_put_add(payload, g.payload_max, &len, k->s, KEY_LEN, k->hash, false,
		                g.data + r % 64, o.size);
	}
	sl_wire_set_floor(payload, floor);
	sl_wire_finish(payload, len, (uint16_t)g.nrec);
	flen = sl_pkt_udp_write(buf, &g.to_engine, len);
	if (!o.udp_csum)
		memset(buf + g.hl - 2, 0, 2); /* "no checksum", legal over IPv4 */
	return flen;
}

static int keys_make(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	g.keys = calloc(o.keys, sizeof(*g.keys));
	g.data = malloc(o.size + 64);
	if (!g.keys || !g.data)
		return -ENOMEM;
	for (unsigned i = 0; i < o.keys; i++) {
		snprintf(g.keys[i].s, sizeof(g.keys[i].s), "k%08x", i);
		sl_wire_hash_key(g.keys[i].s, KEY_LEN, g.keys[i].hash);
	}
	/* Incompressible-looking data; records take windows of it. */
	for (unsigned i = 0; i < o.size + 64; i++)
		g.data[i] = (uint8_t)xorshift(&x);
	return 0;
}

/* --spread frame: the keys grouped by the shard that owns them (the engine
 * splits the hash space evenly, as Kinesis does at CreateStream). */
static int keys_by_shard(void)
{
	struct sl_route_stream s = {.nshards = g.shards};
	uint32_t *shard_of = calloc(o.keys, sizeof(*shard_of));
	uint32_t *fill = calloc(g.shards, sizeof(*fill));
	int rc = 0;

	s.shards = calloc(g.shards, sizeof(*s.shards));
	g.by_shard = calloc(o.keys, sizeof(*g.by_shard));
	g.shard_first = calloc(g.shards, sizeof(*g.shard_first));
	g.shard_n = calloc(g.shards, sizeof(*g.shard_n));
	if (!shard_of || !fill || !s.shards || !g.by_shard || !g.shard_first || !g.shard_n) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t k = 0; k < g.shards; k++)
		s.shards[k].start = sl_hashkey_even_start(k, g.shards);
	for (unsigned i = 0; i < o.keys; i++) {
		shard_of[i] = sl_route_find(&s, sl_hashkey_value(g.keys[i].hash));
		g.shard_n[shard_of[i]]++;
	}
	for (uint32_t k = 0; k < g.shards; k++) {
		if (g.shard_n[k] == 0) {
			fprintf(stderr, "loadgen: no key of %u falls in shard %u: raise --keys\n",
			        o.keys, k);
			rc = -EINVAL;
			goto out;
		}
		if (k)
			g.shard_first[k] = g.shard_first[k - 1] + g.shard_n[k - 1];
	}
	for (unsigned i = 0; i < o.keys; i++)
		g.by_shard[g.shard_first[shard_of[i]] + fill[shard_of[i]]++] = i;
out:
	free(shard_of);
	free(fill);
	free(s.shards);
	return rc;
}

/* ---- port ---- */

static int port_up(void)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	struct rte_ether_addr a;
	uint16_t nrxd = NB_DESC, ntxd = NB_DESC;
	int rc;

	if (rte_eth_dev_count_avail() == 0) {
		fprintf(stderr, "loadgen: SKIP: no DPDK port (the memif vdev did not probe)\n");
		return -ENODEV;
	}
	g.port = 0;
	rc = rte_eth_dev_info_get(g.port, &info);
	if (rc < 0)
		return rc;
	snprintf(g.driver, sizeof(g.driver), "%s", info.driver_name);
	/* A PUT is built whole in one mbuf, so the data room holds the
	 * largest Ethernet frame of the MTU. */
	g.pool = rte_pktmbuf_pool_create(
	        "loadgen", NB_MBUFS, 256, 0,
	        (uint16_t)(RTE_PKTMBUF_HEADROOM + SL_MAX(o.mtu + RTE_ETHER_HDR_LEN, 2048u)),
	        (int)rte_socket_id());
	if (!g.pool) {
		fprintf(stderr, "loadgen: mbuf pool: %s\n", rte_strerror(rte_errno));
		return -ENOMEM;
	}
	/* The port's own MTU stays at its default: it only checks what we
	 * receive (ACKs, small), and memif reports 1518-byte frames at most
	 * while carrying larger ones in chained slots. nrxq rx queues, one per
	 * engine lcore: memif gives each of the server's tx queues a ring of
	 * its own, and a client with fewer would leave the engine's extra tx
	 * queues without one. */
	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_configure(g.port, (uint16_t)o.nrxq, 1, &conf);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(g.port, &nrxd, &ntxd);
	for (uint16_t q = 0; rc == 0 && q < o.nrxq; q++)
		rc = rte_eth_rx_queue_setup(g.port, q, nrxd, rte_eth_dev_socket_id(g.port), NULL,
		                            g.pool);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(g.port, 0, ntxd, rte_eth_dev_socket_id(g.port), NULL);
	if (rc < 0) {
		fprintf(stderr, "loadgen: port setup: %s\n", rte_strerror(-rc));
		return rc;
	}
	rte_eth_macaddr_get(g.port, &a);
	memcpy(g.mac, a.addr_bytes, 6);
	return 0;
}

/*
 * Starts the port and waits for its link: a memif client that finds no
 * server fails its start, so the start is retried until the timeout.
 */
static int link_wait(double timeout_s)
{
	int64_t end = sl_mono_ns() + (int64_t)(timeout_s * 1e9);
	bool started = false;
	int rc = 0;

	while (!stop && sl_mono_ns() < end) {
		struct rte_eth_link link;

		if (!started) {
			rc = rte_eth_dev_start(g.port);
			started = rc == 0;
		}
		if (started && rte_eth_link_get_nowait(g.port, &link) == 0 && link.link_status)
			return 0;
		usleep(20000);
	}
	fprintf(stderr,
	        "loadgen: SKIP: the port's link did not come up in %.0f s (%s %d): is the engine "
	        "running as the memif server on %s?\n",
	        timeout_s, started ? "port started, link down" : "port start failed:", rc,
	        o.socket);
	return -ETIMEDOUT;
}

static void tx_one(struct rte_mbuf *m)
{
	if (rte_eth_tx_burst(g.port, 0, &m, 1) != 1)
		rte_pktmbuf_free(m);
}

static struct rte_mbuf *frame_alloc(void)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(g.pool);

	if (m)
		m->ol_flags = 0;
	return m;
}

static void frame_len(struct rte_mbuf *m, uint32_t len)
{
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
}

/* ARP request for the engine's address from us, to broadcast. */
static void arp_send(void)
{
	struct rte_mbuf *m = frame_alloc();
	uint8_t *p;

	if (!m)
		return;
	p = rte_pktmbuf_mtod(m, uint8_t *);
	memset(p, 0, 60);
	memset(p, 0xff, 6);
	memcpy(p + 6, g.mac, 6);
	p[12] = 0x08, p[13] = 0x06;
	p[14] = 0, p[15] = 1;    /* Ethernet */
	p[16] = 0x08, p[17] = 0; /* IPv4 */
	p[18] = 6, p[19] = 4;
	p[20] = 0, p[21] = 1; /* request */
	memcpy(p + 22, g.mac, 6);
	memcpy(p + 28, o.ip, 4);
	memcpy(p + 38, o.engine_ip, 4);
	frame_len(m, 60); /* padded to the Ethernet minimum */
	tx_one(m);
}

/* An ARP reply from the engine's address: returns true and its MAC. */
static bool arp_is_reply(const uint8_t *p, uint32_t len, uint8_t ret_mac[6])
{
	if (len < 42 || p[12] != 0x08 || p[13] != 0x06 || p[20] != 0 || p[21] != 2 ||
	    memcmp(p + 28, o.engine_ip, 4) != 0)
		return false;
	memcpy(ret_mac, p + 22, 6);
	return true;
}

static void resolve_send(void)
{
	struct rte_mbuf *m = frame_alloc();
	uint8_t *p;
	uint32_t len, n = (uint32_t)strlen(o.stream);

	if (!m)
		return;
	p = rte_pktmbuf_mtod(m, uint8_t *);
	len = sl_wire_begin(p + g.hl, SL_WIRE_RESOLVE, 0, g.producer_id, 0, 0);
	memcpy(p + g.hl + len, o.stream, n);
	len = sl_wire_finish(p + g.hl, len + n, 0);
	frame_len(m, sl_pkt_udp_write(p, &g.to_engine, len));
	tx_one(m);
}

/*
 * ARP, then RESOLVE, each resent every 100 ms, for at most timeout_s.
 * Returns 0, -ENOENT (no such stream) or -ETIMEDOUT.
 */
static int engine_find(double timeout_s)
{
	int64_t end = sl_mono_ns() + (int64_t)(timeout_s * 1e9), next = 0;
	bool have_mac = o.has_engine_mac;

	if (have_mac)
		memcpy(g.to_engine.dst_mac, o.engine_mac, 6);
	while (!stop && sl_mono_ns() < end) {
		struct rte_mbuf *b[RX_BURST];
		uint16_t n = 0;
		int64_t now = sl_mono_ns();

		if (now >= next) {
			if (have_mac)
				resolve_send();
			else
				arp_send();
			next = now + 100000000ll;
		}
		for (uint16_t q = 0;
		     q < o.nrxq && (n = rte_eth_rx_burst(g.port, q, b, RX_BURST)) == 0; q++)
			;
		for (uint16_t i = 0; i < n; i++) {
			const uint8_t *p = rte_pktmbuf_mtod(b[i], const uint8_t *);
			uint32_t len = rte_pktmbuf_data_len(b[i]);
			struct sl_pkt_info info;
			struct sl_wire_hdr h;
			enum sl_pkt_drop why;
			uint8_t mac[6];

			if (!have_mac && arp_is_reply(p, len, mac)) {
				memcpy(g.to_engine.dst_mac, mac, 6);
				have_mac = true;
				next = 0; /* RESOLVE at once */
			} else if (have_mac &&
			           sl_pkt_classify(p, len, &g.self, 0, &info, &why) ==
			                   SL_PKT_PRODUCER &&
			           sl_wire_check(p + info.payload_off, info.payload_len, &h) == 0 &&
			           h.type == SL_WIRE_RESOLVED && h.producer_id == g.producer_id) {
				rte_pktmbuf_free_bulk(b + i, n - i);
				if (h.stream == 0) {
					fprintf(stderr, "loadgen: the engine has no stream '%s'\n",
					        o.stream);
					return -ENOENT;
				}
				g.stream_id = h.stream;
				g.shards = h.count;
				return 0;
			}
			rte_pktmbuf_free(b[i]);
		}
		if (n == 0)
			usleep(1000);
	}
	fprintf(stderr,
	        "loadgen: SKIP: the engine did not answer %s in %.0f s (is it at %u.%u.%u.%u "
	        "port %u?)\n",
	        have_mac ? "RESOLVE" : "ARP", timeout_s, o.engine_ip[0], o.engine_ip[1],
	        o.engine_ip[2], o.engine_ip[3], o.udp_port);
	return -ETIMEDOUT;
}

/* ---- the load ---- */

static inline struct batch *slot_of(uint64_t seq)
{
	return &g.tab[seq & g.mask];
}

static inline bool in_window(int64_t t)
{
	return t >= g.win_start && t < g.win_end;
}

static void tx_flush(void)
{
	uint16_t k;

	if (g.ntxq == 0)
		return;
	k = rte_eth_tx_burst(g.port, 0, g.txq, (uint16_t)g.ntxq);
	if (k < g.ntxq) {
		ct.tx_full++;
		memmove(g.txq, g.txq + k, (g.ntxq - k) * sizeof(g.txq[0]));
	}
	g.ntxq -= k;
}

/* Queues frame seq for transmission (built afresh: resends are identical). */
static bool tx_frame(uint64_t seq, uint64_t floor)
{
	struct rte_mbuf *m;

	if (g.ntxq == RTE_DIM(g.txq))
		return false;
	m = frame_alloc();
	if (!m)
		return false;
	frame_len(m, put_build(rte_pktmbuf_mtod(m, uint8_t *), seq, floor));
	g.txq[g.ntxq++] = m;
	return true;
}

/* Sends the next batch, due at t0 (the send time in a closed loop). */
static bool batch_start(int64_t t0, int64_t now)
{
	uint64_t seq = g.next_seq;
	struct batch *b = slot_of(seq);

	/* The floor: the lowest batch_seq we may still send (this one, when
	 * nothing older is in flight), so the engine may forget older ones. */
	if (b->seq != 0 || !tx_frame(seq, g.lo_seq))
		return false;
	memset(b, 0, sizeof(*b));
	b->seq = seq;
	b->floor = g.lo_seq;
	b->t0 = t0;
	b->deadline = now + (int64_t)o.timeout_ms * 1000000;
	b->backoff = BACKOFF_MIN;
	b->attempts = 1;
	b->measured = in_window(t0);
	g.next_seq++;
	g.inflight++;
	ct.frames_sent++;
	return true;
}

static void batch_done(struct batch *b)
{
	b->seq = 0;
	g.inflight--;
	while (g.lo_seq < g.next_seq && slot_of(g.lo_seq)->seq != g.lo_seq)
		g.lo_seq++;
}

/* Gives up on b: its unanswered records count, at their age so far. */
static void batch_abandon(struct batch *b, int64_t now)
{
	unsigned left = g.nrec - b->nfinal;

	ct.gave_up_records += left;
	if (b->measured) {
		ct.unanswered += left;
		for (unsigned i = 0; i < left; i++)
			sl_hist_add_ns(&hist, now - b->t0);
	}
	batch_done(b);
}

static void on_ack(const uint8_t *buf, uint32_t len, int64_t now)
{
	struct sl_wire_hdr h;
	struct sl_wire_ack_entry e;
	struct batch *b;
	bool level_ok, throttled = false, pending = false;

	if (sl_wire_check(buf, len, &h) != 0 || h.type != SL_WIRE_ACK ||
	    h.producer_id != g.producer_id || h.stream != g.stream_id) {
		ct.rx_other++;
		return;
	}
	b = slot_of(h.batch_seq);
	if (b->seq != h.batch_seq || h.batch_seq == 0) {
		ct.acks_stale++;
		return;
	}
	for (unsigned i = 0; i < h.count; i++) {
		sl_wire_ack_entry(buf, i, &e);
		if (e.nrec == 0 || (uint32_t)e.index + e.nrec > g.nrec) {
			ct.rx_other++;
			return;
		}
	}
	ct.acks++;
	level_ok = (h.flags & SL_WIRE_FLAG_ACK_MASK) >= o.ack;
	for (unsigned i = 0; i < h.count; i++) {
		sl_wire_ack_entry(buf, i, &e);
		if (e.status == SL_WIRE_THROTTLED) {
			ct.answers_throttled += e.nrec;
			throttled = true;
			continue;
		}
		if (e.status == SL_WIRE_PENDING || (e.status == SL_WIRE_OK && !level_ok)) {
			ct.answers_pending += e.nrec;
			pending = true;
			continue;
		}
		for (unsigned k = e.index; k < (unsigned)e.index + e.nrec; k++) {
			uint64_t bit = 1ull << (k % 64);

			if (b->final[k / 64] & bit)
				continue; /* a duplicate answer (a resend crossed it) */
			b->final[k / 64] |= bit;
			b->nfinal++;
			if (e.status == SL_WIRE_OK && in_window(now))
				g.ok_in_window++;
			if (b->measured) {
				ct.status[e.status < SL_WIRE_STATUS_COUNT ? e.status
				                                          : SL_WIRE_INVALID]++;
				sl_hist_add_ns(&hist, now - b->t0);
			}
		}
	}
	if (b->nfinal == g.nrec) {
		if (in_window(now))
			g.frames_in_window++;
		batch_done(b);
	} else if (throttled && !b->throttled) {
		b->throttled = true;
		b->deadline = now + b->backoff;
		b->backoff = SL_MIN(b->backoff * 2, BACKOFF_MAX);
	} else if (pending && !b->throttled) {
		b->deadline = now + (int64_t)o.timeout_ms * 1000000;
	}
}

static uint16_t rx_burst(uint16_t q, int64_t now)
{
	struct rte_mbuf *b[RX_BURST];
	uint16_t n = rte_eth_rx_burst(g.port, q, b, RX_BURST);

	for (uint16_t i = 0; i < n; i++) {
		const uint8_t *p = rte_pktmbuf_mtod(b[i], const uint8_t *);
		struct sl_pkt_info info;
		enum sl_pkt_drop why;

		if (i + 2 < n)
			rte_prefetch0(rte_pktmbuf_mtod(b[i + 2], void *));
		if (b[i]->nb_segs == 1 && sl_pkt_classify(p, rte_pktmbuf_data_len(b[i]), &g.self, 0,
		                                          &info, &why) == SL_PKT_PRODUCER)
			on_ack(p + info.payload_off, info.payload_len, now);
		else
			ct.rx_other++;
	}
	if (n)
		rte_pktmbuf_free_bulk(b, n);
	return n;
}

/* Receives until each ring is empty (at most RX_ROUNDS bursts per queue):
 * the engine releases the acks of a whole fdatasync at once, and what does
 * not fit our rx ring it drops after a few tries. */
static unsigned rx_poll(int64_t now)
{
	unsigned got = 0;

	for (uint16_t q = 0; q < o.nrxq; q++) {
		for (unsigned r = 0; r < RX_ROUNDS; r++) {
			uint16_t n = rx_burst(q, now);

			got += n;
			if (n < RX_BURST)
				break;
		}
	}
	return got;
}

/* Resends what timed out or finished its throttle backoff. */
static void resend_scan(int64_t now)
{
	for (uint64_t s = g.lo_seq; s < g.next_seq; s++) {
		struct batch *b = slot_of(s);

		if (b->seq != s || b->deadline > now)
			continue;
		if (b->attempts >= o.attempts) {
			batch_abandon(b, now);
			continue;
		}
		if (!tx_frame(s, b->floor))
			return; /* backlog full: the next scan */
		if (b->throttled)
			ct.resends_throttled++;
		else
			ct.resends_timeout++;
		b->attempts++;
		b->throttled = false;
		b->deadline = now + (int64_t)o.timeout_ms * 1000000;
	}
}

/*
 * The loop (one lcore, never blocks): receive and match answers, start
 * what the mode allows, resend what is due, transmit. Ends after the
 * window once everything drained, at the drain limit or the hard deadline.
 */
static void run(void)
{
	int64_t start = sl_mono_ns(), hard = start + (int64_t)(o.deadline * 1e9);
	int64_t drain_end, next_scan = 0;
	double interval = o.rate > 0 ? 1e9 * g.nrec / o.rate : 0; /* ns per frame */
	uint64_t k = 0;                                           /* open loop: frames due */
	uint64_t sent;
	unsigned cap = o.window, work, idle = 0;

	g.win_start = start + (int64_t)(o.warmup * 1e9);
	g.win_end = g.win_start + (int64_t)(o.seconds * 1e9);
	drain_end = g.win_end + (int64_t)(o.drain * 1e9);
	g.next_seq = g.lo_seq = 1;

	for (;;) {
		int64_t now = sl_mono_ns();
		bool sending = now < g.win_end && !stop;

		/* SIGINT/SIGTERM end the run at once, without the drain: whoever
		 * sent it may not wait (e2e.sh's cleanup, timeout -k). */
		if (now >= hard || stop || (!sending && (g.inflight == 0 || now >= drain_end)))
			break;
		work = rx_poll(now);
		sent = ct.frames_sent + ct.resends_throttled + ct.resends_timeout;
		if (sending && interval == 0) {
			while (g.inflight < cap && g.ntxq < TX_BURST && batch_start(now, now))
				;
		} else if (sending) {
			for (unsigned n = 0; n < TX_BURST; n++) {
				int64_t due = start + (int64_t)((double)k * interval);

				if (due > now || g.inflight >= cap || !batch_start(due, now))
					break;
				if (now - due > LATE_NS)
					ct.late_sends++;
				if (now - due > ct.max_lag)
					ct.max_lag = now - due;
				k++;
			}
		}
		if (now >= next_scan) {
			resend_scan(now);
			next_scan = now + SCAN_NS;
		}
		tx_flush();
		work += (unsigned)(ct.frames_sent + ct.resends_throttled + ct.resends_timeout -
		                   sent);
		if (work || g.ntxq) {
			idle = 0;
		} else if (o.idle_us && ++idle >= IDLE_POLLS) {
			int64_t nap = o.idle_us * 1000ll;

			if (sending && interval > 0) {
				int64_t due = start + (int64_t)((double)k * interval) - now;

				nap = SL_MIN(nap, due);
			}
			if (nap > 0)
				usleep((useconds_t)(nap / 1000));
		}
	}
	/* What is still in flight was not answered in time. */
	{
		int64_t now = sl_mono_ns();

		for (uint64_t s = g.lo_seq; s < g.next_seq; s++)
			if (slot_of(s)->seq == s)
				batch_abandon(slot_of(s), now);
	}
	rte_pktmbuf_free_bulk(g.txq, g.ntxq);
	g.ntxq = 0;
	if (stop || sl_mono_ns() < g.win_end)
		g.win_end = SL_MIN(g.win_end, sl_mono_ns());
}

/* ---- report ---- */

static void setup_collect(void)
{

	sl_machine_cpu_model(g.cpu, sizeof(g.cpu));
	sl_machine_kernel(g.kernel, sizeof(g.kernel));
	sl_machine_read_line("/proc/loadavg", g.loadavg[0], sizeof(g.loadavg[0]));
}

static void mac_str(char *buf, size_t cap, const uint8_t *m)
{
	snprintf(buf, cap, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void setup_print(void)
{
	char mine[24], theirs[24];

	mac_str(mine, sizeof(mine), g.mac);
	mac_str(theirs, sizeof(theirs), g.to_engine.dst_mac);
	printf("loadgen: end-to-end producer load, %s acks%s%s\n", ack_name(o.ack),
	       o.label ? ": " : "", o.label ? o.label : "");
	printf("setup\n");
	printf("  cpu:       %s, %ld online; lcore %u\n", g.cpu, sysconf(_SC_NPROCESSORS_ONLN),
	       rte_lcore_id());
	printf("  kernel:    %s; %s\n", g.kernel, rte_version());
	printf("  port:      %s (%s), us %s %u.%u.%u.%u:%u\n", g.driver,
	       strcmp(g.driver, "net_memif") == 0 ? "shared-memory rings to the engine" : "?", mine,
	       o.ip[0], o.ip[1], o.ip[2], o.ip[3], SRC_PORT);
	printf("  engine:    %s %u.%u.%u.%u:%u (MAC %s), stream '%s' id %u, %u shards\n", theirs,
	       o.engine_ip[0], o.engine_ip[1], o.engine_ip[2], o.engine_ip[3], o.udp_port,
	       o.has_engine_mac ? "given" : "by ARP", o.stream, g.stream_id, g.shards);
	printf("  frames:    %u records of %u B data, %d-byte keys over %u keys (%s), %u-byte "
	       "Ethernet frames (MTU %u), UDP checksum %s; %u rx queue(s)\n",
	       g.nrec, o.size, KEY_LEN, o.keys,
	       o.spread_frame ? "one shard per frame" : "round-robin: frames span shards",
	       g.frame_bytes, o.mtu, o.udp_csum ? "filled" : "zero", o.nrxq);
	if (o.rate > 0)
		printf("  load:      open loop, %.0f records/s offered (%.0f frames/s), latency "
		       "from "
		       "the scheduled send time; at most %u frames in flight\n",
		       o.rate, o.rate / g.nrec, o.window);
	else
		printf("  load:      closed loop, %u frames (%u records) in flight, latency from "
		       "the "
		       "send\n",
		       o.window, o.window * g.nrec);
	printf("  window:    %.2f s after %.2f s warm-up; drain <= %.1f s; resend after %u ms "
	       "or THROTTLED, <= %u sends\n",
	       o.seconds, o.warmup, o.drain, o.timeout_ms, o.attempts);
	printf("  load avg:  %s\n", g.loadavg[0]);
	fflush(stdout);
}

static void result_compute(void)
{
	res.window_s = (double)(g.win_end - g.win_start) / 1e9;
	if (res.window_s <= 0)
		res.window_s = 1e-9;
	res.ok_records = g.ok_in_window;
	res.done_frames = g.frames_in_window;
	res.records_per_s = (double)res.ok_records / res.window_s;
	res.frames_per_s = (double)res.done_frames / res.window_s;
	res.data_mb_per_s = res.records_per_s * o.size / 1e6;
	res.offered = o.rate;
	res.lat_count = hist.count;
	res.p50 = sl_hist_percentile(&hist, 50);
	res.p90 = sl_hist_percentile(&hist, 90);
	res.p99 = sl_hist_percentile(&hist, 99);
	res.p999 = sl_hist_percentile(&hist, 99.9);
	res.max = hist.count ? hist.max : 0;
	res.min = hist.count ? hist.min : 0;
	res.mean = sl_hist_mean(&hist);
	sl_machine_read_line("/proc/loadavg", g.loadavg[1], sizeof(g.loadavg[1]));
}

static void result_print(void)
{
	printf("results (%.2f s window%s)\n", res.window_s, stop ? ", interrupted" : "");
	printf("  records/s:  %.0f acked %s (%.2f MB/s of record data), %.0f frames/s done\n",
	       res.records_per_s, ack_name(o.ack), res.data_mb_per_s, res.frames_per_s);
	if (o.rate > 0)
		printf("  offered:    %.0f records/s; achieved / offered %.3f; %" PRIu64
		       " sends more than 1 ms late, worst %.3f ms\n",
		       o.rate, res.records_per_s / o.rate, ct.late_sends, (double)ct.max_lag / 1e6);
	printf("  ack latency (us, per record, %" PRIu64 " records): p50 %.1f  p90 %.1f  p99 %.1f  "
	       "p99.9 %.1f  max %.1f  mean %.1f\n",
	       res.lat_count, res.p50 / 1e3, res.p90 / 1e3, res.p99 / 1e3, res.p999 / 1e3,
	       res.max / 1e3, res.mean / 1e3);
	printf("  statuses:  ");
#define SL_X_PRINT(n, v, t)                                                                        \
	if (ct.status[v])                                                                          \
		printf(" %s %" PRIu64, #n, ct.status[v]);
	SL_WIRE_STATUSES(SL_X_PRINT)
#undef SL_X_PRINT
	printf(" unanswered %" PRIu64 "\n", ct.unanswered);
	printf("  retries:    %" PRIu64 " after THROTTLED, %" PRIu64 " after a timeout; %" PRIu64
	       " records given up; answers THROTTLED %" PRIu64 ", PENDING %" PRIu64 "\n",
	       ct.resends_throttled, ct.resends_timeout, ct.gave_up_records, ct.answers_throttled,
	       ct.answers_pending);
	printf("  frames:     %" PRIu64 " sent, %" PRIu64 " ACK frames, %" PRIu64 " stale, %" PRIu64
	       " other packets, tx ring full %" PRIu64 " times\n",
	       ct.frames_sent, ct.acks, ct.acks_stale, ct.rx_other, ct.tx_full);
	printf("  load avg:   %s (at the end)\n", g.loadavg[1]);
	fflush(stdout);
}

static int json_write(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	fprintf(f, "{\n  \"benchmark\": \"loadgen\",\n  \"label\": ");
	sl_machine_json_str(f, o.label ? o.label : "");
	fprintf(f, ",\n  \"setup\": {\"cpu\": ");
	sl_machine_json_str(f, g.cpu);
	fprintf(f, ", \"kernel\": ");
	sl_machine_json_str(f, g.kernel);
	fprintf(f, ", \"dpdk\": ");
	sl_machine_json_str(f, rte_version());
	fprintf(f, ", \"pmd\": ");
	sl_machine_json_str(f, g.driver);
	fprintf(f, ", \"stream\": ");
	sl_machine_json_str(f, o.stream);
	fprintf(f,
	        ", \"shards\": %u, \"records_per_frame\": %u, \"record_bytes\": %u, "
	        "\"key_bytes\": %d, \"keys\": %u, \"spread\": \"%s\", \"frame_bytes\": %u, "
	        "\"mtu\": %u, \"rx_queues\": %u, \"udp_csum\": %s, \"ack\": \"%s\", \"mode\": "
	        "\"%s\", \"window_frames\": %u, "
	        "\"offered_records_per_s\": %.0f, \"warmup_s\": %.3f, \"seconds\": %.3f, "
	        "\"timeout_ms\": %u, \"attempts\": %u, \"loadavg_start\": ",
	        g.shards, g.nrec, o.size, KEY_LEN, o.keys, o.spread_frame ? "frame" : "record",
	        g.frame_bytes, o.mtu, o.nrxq, o.udp_csum ? "true" : "false", ack_name(o.ack),
	        o.rate > 0 ? "open" : "closed", o.window, o.rate, o.warmup, o.seconds, o.timeout_ms,
	        o.attempts);
	sl_machine_json_str(f, g.loadavg[0]);
	fprintf(f, ", \"loadavg_end\": ");
	sl_machine_json_str(f, g.loadavg[1]);
	fprintf(f,
	        "},\n  \"result\": {\"window_s\": %.4f, \"interrupted\": %s, \"records\": %" PRIu64
	        ", \"records_per_s\": %.0f, \"frames_per_s\": %.0f, \"data_mb_per_s\": %.3f, "
	        "\"achieved_over_offered\": %.4f,\n    \"latency_us\": {\"count\": %" PRIu64
	        ", \"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"p99_9\": %.1f, \"max\": %.1f, "
	        "\"min\": %.1f, \"mean\": %.1f},\n    \"statuses\": {",
	        res.window_s, stop ? "true" : "false", res.ok_records, res.records_per_s,
	        res.frames_per_s, res.data_mb_per_s, o.rate > 0 ? res.records_per_s / o.rate : 0,
	        res.lat_count, res.p50 / 1e3, res.p90 / 1e3, res.p99 / 1e3, res.p999 / 1e3,
	        res.max / 1e3, res.min / 1e3, res.mean / 1e3);
#define SL_X_JSON(n, v, t) fprintf(f, "\"%s\": %" PRIu64 ", ", #n, ct.status[v]);
	SL_WIRE_STATUSES(SL_X_JSON)
#undef SL_X_JSON
	fprintf(f,
	        "\"unanswered\": %" PRIu64 "},\n    \"frames_sent\": %" PRIu64
	        ", \"resends_throttled\": %" PRIu64 ", \"resends_timeout\": %" PRIu64
	        ", \"gave_up_records\": %" PRIu64 ", \"answers_throttled\": %" PRIu64
	        ", \"answers_pending\": %" PRIu64 ", \"acks\": %" PRIu64
	        ", \"acks_stale\": %" PRIu64 ", \"rx_other\": %" PRIu64 ", \"tx_full\": %" PRIu64
	        ", \"late_sends\": %" PRIu64 ", \"max_lag_us\": %.1f}\n}\n",
	        ct.unanswered, ct.frames_sent, ct.resends_throttled, ct.resends_timeout,
	        ct.gave_up_records, ct.answers_throttled, ct.answers_pending, ct.acks,
	        ct.acks_stale, ct.rx_other, ct.tx_full, ct.late_sends, (double)ct.max_lag / 1e3);
	return fclose(f) == 0 ? 0 : -errno;
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: loadgen [OPTIONS]                  (net_memif client on --socket, lcore "
	        "--lcore, no hugepages)\n"
	        "       loadgen EAL-ARGS -- [OPTIONS]      (any port)\n"
	        "\n"
	        "  --socket PATH       the engine's memif socket (a file: socket-abstract=no)\n"
	        "  --lcore N           the lcore (CPU) to run on (1)\n"
	        "  --memif-rsize N     memif rings of 2^N slots, both ways (the client sets it; "
	        "10)\n"
	        "  --rx-queues N       rx queues to poll, one per engine lcore (memif: one ring "
	        "per\n"
	        "                      engine tx queue; 1)\n"
	        "  --idle-sleep-us N   sleep N us after %d polls with nothing to do (0: spin;\n"
	        "                      default), leaving the core to the kernel meanwhile\n"
	        "  --stream NAME       stream to write (bench)\n"
	        "  --engine-ip ADDR    the engine's IPv4 address (198.18.0.2)\n"
	        "  --engine-mac MAC    skip ARP and send to this MAC\n"
	        "  --ip ADDR           our IPv4 address (198.18.0.1)\n"
	        "  --udp-port N        the engine's port (%d)\n"
	        "  --mtu N             IP MTU of our frames: UDP payload N - 28 bytes, one "
	        "datagram\n"
	        "                      per frame, no fragments (1500; jumbo: 9000, if the engine\n"
	        "                      runs with --set mtu=N too)\n"
	        "  --records N         records per frame (0: as many as fit the MTU)\n"
	        "  --size B            record data bytes (100)\n"
	        "  --keys N            distinct partition keys (65536)\n"
	        "  --spread MODE       record: keys round-robin, frames span shards (default);\n"
	        "                      frame: each frame's keys belong to one shard\n"
	        "  --ack LEVEL         none|received|written|durable (durable)\n"
	        "  --window N          most frames in flight (64)\n"
	        "  --rate R            open loop at R records/s (default: closed loop)\n"
	        "  --seconds S         measured window (5)\n"
	        "  --warmup S          before the window (1)\n"
	        "  --drain S           most time to wait for answers after the window (5)\n"
	        "  --deadline S        hard limit on the whole run (warm-up + window + drain + "
	        "30)\n"
	        "  --timeout-ms N      resend a frame unanswered this long (1000)\n"
	        "  --attempts N        sends of one frame before it is given up (10)\n"
	        "  --no-udp-csum       send zero UDP checksums (the engine then skips its check)\n"
	        "  --quick             0.5 s warm-up, 1 s window (a smoke run)\n"
	        "  --label TEXT        a name for this run in the output\n"
	        "  --json FILE         write setup and results as JSON\n",
	        IDLE_POLLS, SL_WIRE_DEFAULT_PORT);
}

static int parse_ip(const char *s, uint8_t out[4])
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	memcpy(out, &a, 4);
	return 0;
}

static int parse_mac(const char *s, uint8_t out[6])
{
	unsigned v[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -EINVAL;
		out[i] = (uint8_t)v[i];
	}
	return 0;
}

static int num(const char *s, double min, double max, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_opts(int argc, char **argv)
{
	static const struct option lo[] = {
	        {"socket", required_argument, NULL, 'S'},
	        {"lcore", required_argument, NULL, 'l'},
	        {"memif-rsize", required_argument, NULL, 'Z'},
	        {"rx-queues", required_argument, NULL, 'Q'},
	        {"mtu", required_argument, NULL, 'm'},
	        {"idle-sleep-us", required_argument, NULL, 'i'},
	        {"stream", required_argument, NULL, 'n'},
	        {"engine-ip", required_argument, NULL, 'E'},
	        {"engine-mac", required_argument, NULL, 'M'},
	        {"ip", required_argument, NULL, 'I'},
	        {"udp-port", required_argument, NULL, 'u'},
	        {"records", required_argument, NULL, 'r'},
	        {"size", required_argument, NULL, 'z'},
	        {"keys", required_argument, NULL, 'k'},
	        {"spread", required_argument, NULL, 'p'},
	        {"ack", required_argument, NULL, 'a'},
	        {"window", required_argument, NULL, 'w'},
	        {"rate", required_argument, NULL, 'R'},
	        {"seconds", required_argument, NULL, 's'},
	        {"warmup", required_argument, NULL, 'W'},
	        {"drain", required_argument, NULL, 'D'},
	        {"deadline", required_argument, NULL, 'd'},
	        {"timeout-ms", required_argument, NULL, 't'},
	        {"attempts", required_argument, NULL, 'A'},
	        {"no-udp-csum", no_argument, NULL, 'U'},
	        {"quick", no_argument, NULL, 'q'},
	        {"label", required_argument, NULL, 'L'},
	        {"json", required_argument, NULL, 'j'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *bad = NULL;
	int ch;
	double v;

	o.socket = "/var/tmp/sluice-memif.sock";
	o.lcore = 1;
	o.rsize = 10;
	o.nrxq = 1;
	o.mtu = 1500;
	o.idle_us = 0;
	o.stream = "bench";
	parse_ip("198.18.0.1", o.ip);
	parse_ip("198.18.0.2", o.engine_ip);
	o.udp_port = SL_WIRE_DEFAULT_PORT;
	o.size = 100;
	o.keys = 65536;
	o.ack = SL_WIRE_ACK_DURABLE;
	o.window = 64;
	o.seconds = 5;
	o.warmup = 1;
	o.drain = 5;
	o.timeout_ms = 1000;
	o.attempts = 10;
	o.udp_csum = true;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		int rc = 0;

		switch (ch) {
		case 'S':
			o.socket = optarg;
			break;
		case 'l':
			rc = num(optarg, 0, RTE_MAX_LCORE - 1, &v);
			o.lcore = (unsigned)v;
			break;
		case 'Z':
			rc = num(optarg, 1, 14, &v);
			o.rsize = (unsigned)v;
			break;
		case 'Q':
			rc = num(optarg, 1, MAX_RXQ, &v);
			o.nrxq = (unsigned)v;
			break;
		case 'm':
			rc = num(optarg, 576, 9600, &v);
			o.mtu = (unsigned)v;
			break;
		case 'i':
			rc = num(optarg, 0, 100000, &v);
			o.idle_us = (unsigned)v;
			break;
		case 'n':
			o.stream = optarg;
			if (strlen(optarg) == 0 || strlen(optarg) > SL_WIRE_MAX_NAME)
				rc = -EINVAL;
			break;
		case 'E':
			rc = parse_ip(optarg, o.engine_ip);
			break;
		case 'M':
			rc = parse_mac(optarg, o.engine_mac);
			o.has_engine_mac = rc == 0;
			break;
		case 'I':
			rc = parse_ip(optarg, o.ip);
			break;
		case 'u':
			rc = num(optarg, 1, 65535, &v);
			o.udp_port = (uint16_t)v;
			break;
		case 'r':
			rc = num(optarg, 0, SL_WIRE_MAX_RECORDS, &v);
			o.records = (unsigned)v;
			break;
		case 'z':
			rc = num(optarg, 0, 65535, &v); /* frame_shape checks the fit */
			o.size = (unsigned)v;
			break;
		case 'k':
			rc = num(optarg, 1, 1 << 24, &v);
			o.keys = (unsigned)v;
			break;
		case 'p':
			if (strcmp(optarg, "frame") == 0)
				o.spread_frame = true;
			else if (strcmp(optarg, "record") == 0)
				o.spread_frame = false;
			else
				rc = -EINVAL;
			break;
		case 'a':
			rc = -EINVAL;
			for (unsigned a = 0; a < 4; a++)
				if (strcmp(optarg, ack_name(a)) == 0) {
					o.ack = a;
					rc = 0;
				}
			break;
		case 'w':
			rc = num(optarg, 1, 1 << 20, &v);
			o.window = (unsigned)v;
			break;
		case 'R':
			rc = num(optarg, 1, 1e9, &o.rate);
			break;
		case 's':
			rc = num(optarg, 0.01, 3600, &o.seconds);
			break;
		case 'W':
			rc = num(optarg, 0, 600, &o.warmup);
			break;
		case 'D':
			rc = num(optarg, 0, 600, &o.drain);
			break;
		case 'd':
			rc = num(optarg, 1, 7200, &o.deadline);
			break;
		case 't':
			rc = num(optarg, 1, 60000, &v);
			o.timeout_ms = (unsigned)v;
			break;
		case 'A':
			rc = num(optarg, 1, 1000, &v);
			o.attempts = (unsigned)v;
			break;
		case 'U':
			o.udp_csum = false;
			break;
		case 'q':
			o.quick = true;
			break;
		case 'L':
			o.label = optarg;
			break;
		case 'j':
			o.json = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
		if (rc < 0) {
			bad = argv[optind - 1];
			fprintf(stderr, "loadgen: bad value for %s: '%s'\n", bad, optarg);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "loadgen: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (o.quick) {
		o.warmup = SL_MIN(o.warmup, 0.5);
		o.seconds = SL_MIN(o.seconds, 1);
		o.drain = SL_MIN(o.drain, 2);
	}
	if (o.deadline == 0)
		o.deadline = o.warmup + o.seconds + o.drain + 30;
	if (o.ack == SL_WIRE_ACK_NONE) {
		fprintf(stderr, "loadgen: --ack none gets no answers to measure\n");
		return -EINVAL;
	}
	return 0;
}

/* Records per frame: as asked, or as many as fit the MTU. */
static int frame_shape(void)
{
	uint32_t per = sl_wire_rec_bytes(KEY_LEN, o.size);
	unsigned fit;

	g.payload_max = o.mtu - IP4_UDP_HDR;
	fit = (g.payload_max - SL_WIRE_HDR_BYTES) / per;

	if (fit > SL_WIRE_MAX_RECORDS)
		fit = SL_WIRE_MAX_RECORDS;
	if (fit == 0 || (o.records && o.records > fit)) {
		fprintf(stderr,
		        "loadgen: %u records of %u B with %d-byte keys do not fit one %u-byte UDP "
		        "payload of a %u-byte MTU (at most %u; a frame is one datagram, never IP "
		        "fragments)\n",
		        o.records ? o.records : 1, o.size, KEY_LEN, g.payload_max, o.mtu, fit);
		return -EMSGSIZE;
	}
	g.nrec = o.records ? o.records : fit;
	g.frame_bytes = g.hl + SL_WIRE_HDR_BYTES + g.nrec * per;
	return 0;
}

/* ---- main ---- */

/* Splits argv at "--": EAL arguments before it, or defaults without it. */
static int eal_up(int argc, char **argv, int *ret_first_opt)
{
	static char prefix[64], lcores[32], vdev[PATH_MAX + 96];
	char *def[16];
	int sep = -1, n = 0, rc;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			sep = i;
			break;
		}
	if (sep > 0) {
		*ret_first_opt = sep + 1;
		rc = rte_eal_init(sep, argv);
		return rc < 0 ? -rte_errno : 0;
	}
	*ret_first_opt = 1;
	snprintf(prefix, sizeof(prefix), "--file-prefix=lg-%ld", (long)getpid());
	snprintf(lcores, sizeof(lcores), "%u", o.lcore);
	snprintf(vdev, sizeof(vdev),
	         "--vdev=net_memif0,role=client,socket=%s,socket-abstract=no,rsize=%u", o.socket,
	         o.rsize);
	def[n++] = argv[0];
	def[n++] = "--no-huge";
	def[n++] = "-m";
	def[n++] = "512";
	def[n++] = "--no-pci";
	def[n++] = "--no-shconf";
	def[n++] = prefix;
	def[n++] = "-l";
	def[n++] = lcores;
	def[n++] = vdev;
	def[n++] = "--log-level=*:warning";
	def[n++] = "--no-telemetry";
	rc = rte_eal_init(n, def);
	return rc < 0 ? -rte_errno : 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	int first = 1, rc, ret = 1;
	uint64_t tabn = 1024;
	char rundir[PATH_MAX];

	/* Options first, so --help and bad options need no EAL. */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			first = i + 1;
			break;
		}
	{
		char **oargv = calloc((size_t)(argc - first + 2), sizeof(*oargv));
		int oargc = 1;

		if (!oargv)
			return 1;
		oargv[0] = argv[0];
		for (int i = first; i < argc; i++)
			oargv[oargc++] = argv[i];
		rc = parse_opts(oargc, oargv);
		free(oargv);
		if (rc < 0)
			return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	alarm((unsigned)o.deadline + 20); /* connect and ARP/RESOLVE waits included */
	setup_collect();

	rc = eal_up(argc, argv, &first);
	if (rc < 0) {
		fprintf(stderr,
		        "loadgen: SKIP: EAL cannot start here (%s): it needs lcore %u, 512 MiB "
		        "without hugepages and the net_memif PMD\n",
		        rte_strerror(-rc), o.lcore);
		return EXIT_SKIP;
	}
	if (port_up() < 0) {
		ret = EXIT_SKIP;
		goto out;
	}

	/* Who we are and where the engine is. */
	{
		uint64_t x = (uint64_t)sl_wall_ns() ^ ((uint64_t)getpid() << 32);

		g.producer_id = xorshift(&x) | 1; /* never 0 */
	}
	memcpy(g.self.mac, g.mac, 6);
	g.self.has_ip4 = true;
	memcpy(g.self.ip4, o.ip, 4);
	g.self.udp_port = SRC_PORT;
	g.to_engine.ip_version = 4;
	memcpy(g.to_engine.src_mac, g.mac, 6);
	memcpy(g.to_engine.src_ip, o.ip, 4);
	memcpy(g.to_engine.dst_ip, o.engine_ip, 4);
	g.to_engine.src_port = SRC_PORT;
	g.to_engine.dst_port = o.udp_port;
	g.hl = sl_pkt_udp_hdr_len(&g.to_engine);
	if (frame_shape() < 0 || keys_make() < 0)
		goto out;

	if (link_wait(10) < 0) {
		ret = EXIT_SKIP;
		goto out;
	}
	rc = engine_find(10);
	if (rc == -ETIMEDOUT)
		ret = EXIT_SKIP;
	if (rc < 0)
		goto out;
	if (o.spread_frame && keys_by_shard() < 0)
		goto out;
	while (tabn < 2ull * o.window)
		tabn <<= 1;
	g.tab = calloc(tabn, sizeof(*g.tab));
	if (!g.tab)
		goto out;
	g.mask = tabn - 1;
	sl_hist_reset(&hist);
	setup_print();

	run();
	result_compute();
	result_print();
	ret = stop ? 1 : 0;
	if (o.json && (rc = json_write(o.json)) < 0) {
		fprintf(stderr, "loadgen: %s: %s\n", o.json, strerror(-rc));
		ret = 1;
	}
out:
	if (g.pool) {
		rte_eth_dev_stop(g.port);
		rte_eth_dev_close(g.port);
	}
	/* EAL leaves its runtime directory behind even with --no-shconf (one
	 * per run: the prefix has our pid); it is empty then, and goes. */
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	if (rundir[0])
		rmdir(rundir);
	free(g.tab);
	free(g.keys);
	free(g.data);
	free(g.by_shard);
	free(g.shard_first);
	free(g.shard_n);
	return ret;
}

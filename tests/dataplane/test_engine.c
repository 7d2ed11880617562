/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine end to end inside one process (dpdk suite): EAL with no
 * hugepages, a net_ring port whose rx ring the test fills with producer
 * frames and whose tx ring it drains for answers. Checks that records land
 * in storage on the shard their hash key names, in order, that acks carry
 * the sequence numbers storage assigned, that retries are answered from
 * memory, and that bad frames are counted and never answered.
 *
 * Each test is its own process (Criterion forks), so each initialises EAL
 * with its own file prefix.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "clock.h"
#include "engine.h"
#include "err.h"
#include "log.h"
#include "pkt.h"
#include "procmem.h"
#include "route.h"
#include "t_util.h"
#include "wire.h"

static struct rte_ring *rxr, *rxr2, *txr;
static unsigned rx_queues = 1; /* two: the second rx lcore polls rxr2 */
static unsigned sent_frames;
static unsigned tx_ring_size = 65536; /* the port's tx side: what the peer takes */
static struct rte_mempool *pool;
static uint16_t port, port2; /* port2: the same rings, for a second engine */
static struct sl_engine *eng;
static char *dir;
static struct sl_pkt_reply to_engine;
static struct sl_pkt_self producer_self;
static const uint8_t producer_mac[6] = {0x02, 0, 0, 0, 0, 0x01};

static void eal_up(const char *lcores)
{
	char prefix[64];
	char lc[64];
	char *argv[] = {"test",        "--no-huge",      "-m",   "768", "--no-pci",
	                "--no-shconf", "--no-telemetry", prefix, lc,    "--log-level=*:error"};
	struct rte_ring *txs[4];

	snprintf(prefix, sizeof(prefix), "--file-prefix=sl-test-%d", (int)getpid());
	snprintf(lc, sizeof(lc), "--lcores=%s", lcores);
	if (rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])), argv) < 0)
		cr_skip_test("EAL does not start here (no --no-huge support?)");
	rxr = rte_ring_create("t_rx", 8192, 0, 0);
	rxr2 = rte_ring_create("t_rx2", 8192, 0, 0);
	txr = rte_ring_create("t_tx", tx_ring_size, 0, 0);
	cr_assert(rxr && txr);
	for (int i = 0; i < 4; i++)
		txs[i] = txr;
	{
		struct rte_ring *rxs[2] = {rxr, rxr2};

		port = (uint16_t)rte_eth_from_rings("sl_t", rxs, 2, txs, 4, 0);
		port2 = (uint16_t)rte_eth_from_rings("sl_t2", rxs, 2, txs, 4, 0);
	}
	pool = rte_pktmbuf_pool_create("t_pool", 8191, 64, sl_engine_mbuf_priv_size(),
	                               sl_engine_mbuf_data_room(9000), 0);
	cr_assert(pool);
}

/* The producer's side of the exchange: where frames go, where answers come. */
static void addresses(const uint8_t engine_mac[6])
{
	memcpy(to_engine.dst_mac, engine_mac, 6);
	memcpy(to_engine.src_mac, producer_mac, 6);
	to_engine.ip_version = 4;
	memcpy(to_engine.dst_ip, (uint8_t[]){198, 18, 0, 2}, 4);
	memcpy(to_engine.src_ip, (uint8_t[]){198, 18, 0, 1}, 4);
	to_engine.dst_port = SL_WIRE_DEFAULT_PORT;
	to_engine.src_port = 40000;
	memcpy(producer_self.mac, producer_mac, 6);
	producer_self.has_ip4 = true;
	memcpy(producer_self.ip4, (uint8_t[]){198, 18, 0, 1}, 4);
	producer_self.udp_port = 40000;
}

static void engine_up(unsigned nshard_lcores, const char *streams_spec, uint32_t shards,
                      void (*tweak)(struct sl_engine_config *))
{
	struct sl_engine_config c;
	struct sl_stream_set *set = calloc(1, sizeof(*set));
	struct rte_ether_addr mac;

	cr_assert(set);
	if (!dir)
		dir = t_tmpdir("engine");
	sl_engine_config_default(&c);
	c.port_id = port;
	c.data_dir = dir;
	c.self.has_ip4 = true;
	memcpy(c.self.ip4, (uint8_t[]){198, 18, 0, 2}, 4);
	c.nrx = rx_queues;
	for (unsigned i = 0; i < rx_queues; i++)
		c.rx_lcores[i] = 1 + i;
	c.nshard = nshard_lcores;
	for (unsigned i = 0; i < nshard_lcores; i++)
		c.shard_lcores[i] = 1 + i;
	c.store.segment_bytes = 4u << 20;
	c.store.buffer_bytes = 1u << 20;
	c.store.max_record_bytes = 65535; /* UDP records only here */
	if (tweak)
		tweak(&c);
	cr_assert_eq(sl_streams_add(set, streams_spec, shards), 0);
	cr_assert_eq(sl_engine_create(&c, set, &eng), 0, "engine: %s", sl_errmsg());
	free(set);
	cr_assert_eq(sl_engine_start(eng), 0);

	rte_eth_macaddr_get(port, &mac);
	addresses(mac.addr_bytes);
}

static void engine_down(void)
{
	sl_engine_stop(eng);
	sl_engine_wait(eng);
}

/* Sends a UDP datagram with payload to the engine. */
static void send_payload(const uint8_t *payload, uint32_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint32_t hl = sl_pkt_udp_hdr_len(&to_engine), total;

	cr_assert(m);
	memcpy(rte_pktmbuf_mtod(m, uint8_t *) + hl, payload, len);
	total = sl_pkt_udp_write(rte_pktmbuf_mtod(m, uint8_t *), &to_engine, len);
	m->data_len = (uint16_t)total;
	m->pkt_len = total;
	/* Frames alternate between the rx queues when there are two, as RSS
	 * would spread producers. */
	while (rte_ring_enqueue(rx_queues > 1 && (sent_frames & 1) ? rxr2 : rxr, m) != 0)
		usleep(100);
	sent_frames++;
}

struct rec {
	char key[32];
	uint8_t data[128];
	uint16_t key_len;
	uint16_t data_len;
};

static void make_rec(struct rec *r, unsigned i)
{
	r->key_len = (uint16_t)snprintf(r->key, sizeof(r->key), "key-%u", i);
	r->data_len = (uint16_t)(16 + i % 80);
	for (unsigned k = 0; k < r->data_len; k++)
		r->data[k] = (uint8_t)(i * 7 + k);
	memcpy(r->data, &i, sizeof(i));
}

static uint32_t build_put_cap(uint8_t *buf, uint32_t cap, uint64_t producer, uint64_t batch,
                              uint32_t stream, unsigned mode, const struct rec *recs, unsigned n)
{
	uint32_t len = sl_wire_begin(buf, SL_WIRE_PUT, (uint16_t)mode, producer, batch, stream);

	for (unsigned i = 0; i < n; i++) {
		uint8_t h[16];

		sl_wire_hash_key(recs[i].key, recs[i].key_len, h);
		cr_assert_eq(sl_wire_put_add(buf, cap, &len, recs[i].key, recs[i].key_len, h, false,
		                             recs[i].data, recs[i].data_len),
		             0);
	}
	return sl_wire_finish(buf, len, (uint16_t)n);
}

static uint32_t build_put(uint8_t *buf, uint64_t producer, uint64_t batch, uint32_t stream,
                          unsigned mode, const struct rec *recs, unsigned n)
{
	return build_put_cap(buf, 1472, producer, batch, stream, mode, recs, n);
}

/* One answer frame from the engine: header and a copy of the payload. */
struct answer {
	struct sl_wire_hdr h;
	uint8_t payload[9000];
};

/* Waits (bounded) for the next answer; false if none came. */
static bool next_answer(struct answer *a, int timeout_ms)
{
	int64_t until = sl_mono_ns() + (int64_t)timeout_ms * 1000000;

	while (sl_mono_ns() < until) {
		struct rte_mbuf *m;
		struct sl_pkt_info info;
		enum sl_pkt_drop why;
		enum sl_pkt_kind k;

		if (rte_ring_dequeue(txr, (void **)&m) != 0) {
			usleep(50);
			continue;
		}
		k = sl_pkt_classify(rte_pktmbuf_mtod(m, uint8_t *), m->data_len, &producer_self, 0,
		                    &info, &why);
		if (k != SL_PKT_PRODUCER) {
			rte_pktmbuf_free(m);
			continue;
		}
		memcpy(a->payload, rte_pktmbuf_mtod(m, uint8_t *) + info.payload_off,
		       info.payload_len);
		cr_assert_eq(sl_wire_check(a->payload, info.payload_len, &a->h), 0,
		             "engine sent an invalid frame");
		rte_pktmbuf_free(m);
		return true;
	}
	return false;
}

static uint64_t counter(enum sl_engine_counter c)
{
	struct sl_engine_stats s;

	sl_engine_stats(eng, &s);
	return s.c[c];
}

struct result {
	uint64_t seq;
	uint32_t shard;
	int status; /* -1: none yet */
};

/* Collects ACK entries into res (indexed by batch-1 and record index). */
static unsigned collect(struct result *res, unsigned per_batch, unsigned nbatches, unsigned expect,
                        int timeout_ms)
{
	unsigned got = 0;
	struct answer a;

	while (got < expect && next_answer(&a, timeout_ms)) {
		cr_assert_eq(a.h.type, SL_WIRE_ACK);
		cr_assert(a.h.batch_seq >= 1 && a.h.batch_seq <= nbatches);
		for (unsigned i = 0; i < a.h.count; i++) {
			struct sl_wire_ack_entry e;

			sl_wire_ack_entry(a.payload, i, &e);
			for (unsigned k = 0; k < e.nrec; k++) {
				struct result *r =
				        &res[(a.h.batch_seq - 1) * per_batch + e.index + k];

				cr_assert(e.index + k < per_batch);
				if (r->status != -1 && r->status != SL_WIRE_PENDING)
					continue;
				r->status = e.status;
				r->shard = e.shard;
				r->seq = e.status == SL_WIRE_OK ? e.first_seq + k : 0;
				if (e.status != SL_WIRE_PENDING)
					got++;
			}
		}
	}
	return got;
}

static uint32_t expected_shard(const struct rec *r, uint32_t nshards)
{
	uint8_t h[16];
	sl_u128 v;
	uint32_t s = 0;

	sl_wire_hash_key(r->key, r->key_len, h);
	v = sl_hashkey_value(h);
	while (s + 1 < nshards && sl_hashkey_even_start(s + 1, nshards) <= v)
		s++;
	return s;
}

/* Opens shard k's log read-only-ish (a fresh store) and checks that it
 * holds exactly the records acked on it, in ack-sequence order. */
static void verify_storage(const char *stream, uint32_t nshards, const struct rec *recs,
                           const struct result *res, unsigned n)
{
	struct sl_store_config sc;
	struct sl_store *st;

	sl_store_config_default(&sc);
	sc.segment_bytes = 4u << 20;
	sc.buffer_bytes = 1u << 20;
	sc.max_record_bytes = 65535;
	cr_assert_eq(sl_store_create(&sc, &st), 0);
	for (uint32_t k = 0; k < nshards; k++) {
		char path[4096];
		struct sl_log *log;
		struct sl_reader *rd;
		struct sl_record_out out[256];
		struct sl_log_report rep;
		uint64_t last = 0;
		unsigned seen = 0, want = 0;
		int got;

		snprintf(path, sizeof(path), "%s/data/%s/shardId-%012u", dir, stream, k);
		cr_assert_eq(sl_log_open(st, path, k, NULL, &rep, &log), 0);
		cr_assert_eq(sl_reader_open(log, 0, &rd), 0);
		cr_assert_eq(sl_reader_seek_trim_horizon(rd), 0);
		for (unsigned i = 0; i < n; i++)
			want += res[i].status == SL_WIRE_OK && res[i].shard == k;
		while ((got = sl_reader_read(rd, out, 256, 1u << 20)) > 0) {
			for (int j = 0; j < got; j++) {
				unsigned i;

				cr_assert_gt(out[j].seq, last, "sequence numbers go up");
				last = out[j].seq;
				memcpy(&i, out[j].data, sizeof(i));
				cr_assert_lt(i, n);
				cr_assert_eq(res[i].status, SL_WIRE_OK);
				cr_assert_eq(res[i].shard, k, "record %u on shard %u, acked on %u",
				             i, k, res[i].shard);
				cr_assert_eq(res[i].seq, out[j].seq, "record %u: acked seq", i);
				cr_assert_eq(out[j].key_len, recs[i].key_len);
				cr_assert_eq(memcmp(out[j].key, recs[i].key, recs[i].key_len), 0);
				cr_assert_eq(out[j].data_len, recs[i].data_len);
				cr_assert_eq(memcmp(out[j].data, recs[i].data, recs[i].data_len),
				             0);
				seen++;
			}
		}
		cr_assert_geq(got, 0);
		cr_assert_eq(seen, want, "shard %u holds %u records, %u acked", k, seen, want);
		sl_reader_free(rd);
		sl_log_close(log);
	}
	sl_store_free(st);
}

static void fini(void)
{
	if (eng) {
		sl_engine_free(eng);
		eng = NULL;
	}
	if (rte_eal_get_runtime_dir()[0] && rxr) {
		/* EAL's runtime directory (one per test process) goes too. */
		char rundir[4096];

		snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
		rte_eal_cleanup();
		if (rmdir(rundir) != 0)
			fprintf(stderr, "rmdir %s: %s\n", rundir, strerror(errno));
	}
	if (dir) {
		t_rm_rf(dir);
		free(dir);
		dir = NULL;
	}
}

TestSuite(engine, .fini = fini, .timeout = 120);

static void run_frames_to_storage(unsigned shard_lcores, unsigned mode)
{
	enum { BATCHES = 400, PER = 11, N = BATCHES * PER, SHARDS = 4 };
	struct rec *recs = calloc(N, sizeof(*recs));
	struct result *res = calloc(N, sizeof(*res));
	uint8_t buf[1500];

	cr_assert(recs && res);
	engine_up(shard_lcores, "orders", SHARDS, NULL);
	for (unsigned i = 0; i < N; i++) {
		make_rec(&recs[i], i);
		res[i].status = -1;
	}
	for (unsigned b = 0; b < BATCHES; b++) {
		uint32_t len = build_put(buf, 77, b + 1, 1, mode, &recs[b * PER], PER);

		send_payload(buf, len);
	}
	cr_assert_eq(collect(res, PER, BATCHES, N, 10000), N, "every record answered");
	for (unsigned i = 0; i < N; i++) {
		cr_assert_eq(res[i].status, SL_WIRE_OK, "record %u: status %d", i, res[i].status);
		cr_assert_eq(res[i].shard, expected_shard(&recs[i], SHARDS), "record %u's shard",
		             i);
	}
	/* Within a shard, later records got later sequence numbers (across
	 * frames only when every frame came through one rx queue). */
	for (unsigned i = 0; i < N; i++)
		for (unsigned j = i + 1; j < N && j < i + 64; j++)
			if (res[i].shard == res[j].shard && (rx_queues == 1 || i / PER == j / PER))
				cr_assert_lt(res[i].seq, res[j].seq);
	cr_assert_eq(counter(SL_EC_appended), N);
	engine_down();
	sl_engine_free(eng); /* closes the logs */
	eng = NULL;
	verify_storage("orders", SHARDS, recs, res, N);
	free(recs);
	free(res);
}

Test(engine, durable_acks_name_the_stored_records_one_lcore)
{
	eal_up("0@0,1@0");
	run_frames_to_storage(1, SL_WIRE_ACK_DURABLE);
}

Test(engine, frames_split_across_two_shard_lcores)
{
	/* rx on lcore 1 which also owns shards; lcore 2 owns the others: a
	 * frame's records go to both by one mbuf with two references. */
	eal_up("0@0,1@0,2@0");
	run_frames_to_storage(2, SL_WIRE_ACK_DURABLE);
}

Test(engine, written_acks_name_the_stored_records)
{
	eal_up("0@0,1@0");
	run_frames_to_storage(1, SL_WIRE_ACK_WRITTEN);
}

Test(engine, retry_is_answered_with_the_original_sequence_numbers)
{
	enum { PER = 11 };
	struct rec recs[PER];
	struct result first[PER], second[PER];
	uint8_t buf[1500];
	uint32_t len;

	eal_up("0@0,1@0");
	engine_up(1, "s", 3, NULL);
	for (unsigned i = 0; i < PER; i++) {
		make_rec(&recs[i], i);
		first[i].status = second[i].status = -1;
	}
	len = build_put(buf, 5, 1, 1, SL_WIRE_ACK_DURABLE, recs, PER);
	send_payload(buf, len);
	cr_assert_eq(collect(first, PER, 1, PER, 10000), PER);
	send_payload(buf, len); /* the same bytes: a retry */
	cr_assert_eq(collect(second, PER, 1, PER, 10000), PER);
	for (unsigned i = 0; i < PER; i++) {
		cr_assert_eq(second[i].status, SL_WIRE_OK);
		cr_assert_eq(second[i].seq, first[i].seq);
		cr_assert_eq(second[i].shard, first[i].shard);
	}
	cr_assert_eq(counter(SL_EC_appended), PER, "appended once");
	cr_assert_geq(counter(SL_EC_dedup_hits), 1);
}

Test(engine, unknown_stream_and_resolve)
{
	enum { PER = 3 };
	struct rec recs[PER];
	struct result res[PER];
	uint8_t buf[1500];
	struct answer a;
	uint32_t len;

	eal_up("0@0,1@0");
	engine_up(1, "clicks", 5, NULL);
	for (unsigned i = 0; i < PER; i++) {
		make_rec(&recs[i], i);
		res[i].status = -1;
	}
	len = build_put(buf, 9, 1, 42, SL_WIRE_ACK_DURABLE, recs, PER);
	send_payload(buf, len);
	cr_assert_eq(collect(res, PER, 1, PER, 10000), PER);
	for (unsigned i = 0; i < PER; i++)
		cr_assert_eq(res[i].status, SL_WIRE_UNKNOWN_STREAM);

	len = sl_wire_begin(buf, SL_WIRE_RESOLVE, 0, 9, 2, 0);
	memcpy(buf + len, "clicks", 6);
	len = sl_wire_finish(buf, len + 6, 0);
	send_payload(buf, len);
	cr_assert(next_answer(&a, 10000));
	cr_assert_eq(a.h.type, SL_WIRE_RESOLVED);
	cr_assert_eq(a.h.stream, 1);
	cr_assert_eq(a.h.count, 5);
	cr_assert_eq(a.h.batch_seq, 2);

	len = sl_wire_begin(buf, SL_WIRE_RESOLVE, 0, 9, 3, 0);
	memcpy(buf + len, "nope", 4);
	len = sl_wire_finish(buf, len + 4, 0);
	send_payload(buf, len);
	cr_assert(next_answer(&a, 10000));
	cr_assert_eq(a.h.type, SL_WIRE_RESOLVED);
	cr_assert_eq(a.h.stream, 0);
}

Test(engine, bad_frames_are_counted_and_never_answered)
{
	struct rec r;
	uint8_t buf[1500];
	struct answer a;
	struct sl_engine_stats s;
	uint32_t len;

	eal_up("0@0,1@0");
	engine_up(1, "s", 1, NULL);
	make_rec(&r, 1);
	len = build_put(buf, 1, 1, 1, SL_WIRE_ACK_DURABLE, &r, 1);
	buf[len - 1] ^= 1; /* CRC mismatch */
	send_payload(buf, len);
	send_payload(buf, 10); /* shorter than a header */
	buf[len - 1] ^= 1;
	buf[12] = 9; /* version */
	sl_wire_reseal(buf, len);
	send_payload(buf, len);
	cr_assert_not(next_answer(&a, 300));
	sl_engine_stats(eng, &s);
	cr_assert_eq(s.wire_drops[SL_WIRE_DROP_CRC], 1);
	cr_assert_eq(s.wire_drops[SL_WIRE_DROP_SHORT], 1);
	cr_assert_eq(s.wire_drops[SL_WIRE_DROP_VERSION], 1);
	cr_assert_eq(s.c[SL_EC_appended], 0);
}

static void tiny_acks(struct sl_engine_config *c)
{
	c->max_pending_acks = 16;
}

Test(engine, back_pressure_is_answered_throttled_never_dropped)
{
	enum { BATCHES = 300, PER = 11, N = BATCHES * PER };
	struct rec *recs = calloc(N, sizeof(*recs));
	struct result *res = calloc(N, sizeof(*res));
	uint8_t buf[1500];
	unsigned ok = 0, thr = 0;

	cr_assert(recs && res);
	eal_up("0@0,1@0");
	engine_up(1, "s", 2, tiny_acks);
	for (unsigned i = 0; i < N; i++) {
		make_rec(&recs[i], i);
		res[i].status = -1;
	}
	for (unsigned b = 0; b < BATCHES; b++)
		send_payload(buf,
		             build_put(buf, 3, b + 1, 1, SL_WIRE_ACK_DURABLE, &recs[b * PER], PER));
	cr_assert_eq(collect(res, PER, BATCHES, N, 10000), N, "every record answered once");
	for (unsigned i = 0; i < N; i++) {
		cr_assert(res[i].status == SL_WIRE_OK || res[i].status == SL_WIRE_THROTTLED,
		          "record %u: %d", i, res[i].status);
		ok += res[i].status == SL_WIRE_OK;
		thr += res[i].status == SL_WIRE_THROTTLED;
	}
	cr_log_info("%u ok, %u throttled", ok, thr);
	cr_assert_eq(counter(SL_EC_appended), ok);
	engine_down();
	sl_engine_free(eng);
	eng = NULL;
	verify_storage("s", 2, recs, res, N);
	free(recs);
	free(res);
}

Test(engine, answers_arp_and_ping)
{
	uint8_t f[128];
	struct rte_mbuf *m;
	int64_t until;
	bool arp = false;

	eal_up("0@0,1@0");
	engine_up(1, "s", 1, NULL);
	/* ARP who-has 198.18.0.2 tell 198.18.0.1 */
	memset(f, 0, sizeof(f));
	memset(f, 0xff, 6);
	memcpy(f + 6, producer_mac, 6);
	f[12] = 0x08;
	f[13] = 0x06;
	f[14] = 0;
	f[15] = 1;
	f[16] = 0x08;
	f[17] = 0;
	f[18] = 6;
	f[19] = 4;
	f[20] = 0;
	f[21] = 1;
	memcpy(f + 22, producer_mac, 6);
	memcpy(f + 28, (uint8_t[]){198, 18, 0, 1}, 4);
	memcpy(f + 38, (uint8_t[]){198, 18, 0, 2}, 4);
	m = rte_pktmbuf_alloc(pool);
	memcpy(rte_pktmbuf_mtod(m, uint8_t *), f, 60);
	m->data_len = m->pkt_len = 60;
	cr_assert_eq(rte_ring_enqueue(rxr, m), 0);
	until = sl_mono_ns() + 10000000000ll;
	while (!arp && sl_mono_ns() < until) {
		if (rte_ring_dequeue(txr, (void **)&m) != 0) {
			usleep(100);
			continue;
		}
		{
			const uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);

			if (p[12] == 0x08 && p[13] == 0x06 && p[21] == 2) {
				cr_assert_eq(memcmp(p, producer_mac, 6), 0);
				cr_assert_eq(memcmp(p + 28, (uint8_t[]){198, 18, 0, 2}, 4), 0);
				arp = true;
			}
		}
		rte_pktmbuf_free(m);
	}
	cr_assert(arp, "an ARP reply");
	cr_assert_eq(counter(SL_EC_arp_replies), 1);
}

Test(engine, received_acks_name_the_stored_records)
{
	eal_up("0@0,1@0");
	run_frames_to_storage(1, SL_WIRE_ACK_RECEIVED);
}

static void small_records(struct sl_engine_config *c)
{
	c->max_record_bytes = 50;
}

Test(engine, records_over_the_limit_are_answered_too_large)
{
	enum { PER = 11 };
	struct rec recs[PER];
	struct result res[PER];
	uint8_t buf[1500];
	unsigned big = 0;

	eal_up("0@0,1@0");
	engine_up(1, "s", 2, small_records);
	for (unsigned i = 0; i < PER; i++) {
		make_rec(&recs[i], i * 7);
		res[i].status = -1;
	}
	send_payload(buf, build_put(buf, 4, 1, 1, SL_WIRE_ACK_DURABLE, recs, PER));
	cr_assert_eq(collect(res, PER, 1, PER, 10000), PER);
	for (unsigned i = 0; i < PER; i++) {
		if (recs[i].data_len > 50) {
			cr_assert_eq(res[i].status, SL_WIRE_TOO_LARGE, "record %u (%u bytes)", i,
			             recs[i].data_len);
			big++;
		} else {
			cr_assert_eq(res[i].status, SL_WIRE_OK, "record %u (%u bytes)", i,
			             recs[i].data_len);
		}
	}
	cr_assert_gt(big, 0);
	cr_assert_lt(big, PER);
	cr_assert_eq(counter(SL_EC_too_large), big);
	cr_assert_eq(counter(SL_EC_appended), PER - big);
}

Test(engine, routing_table_swapped_under_traffic)
{
	/* Frames routed under one table generation are appended under the
	 * next: the shard lcore re-routes them. Nothing is lost or doubled. */
	enum { BATCHES = 600, PER = 11, N = BATCHES * PER, SHARDS = 4 };
	struct rec *recs = calloc(N, sizeof(*recs));
	struct result *res = calloc(N, sizeof(*res));
	uint8_t buf[1500];

	cr_assert(recs && res);
	eal_up("0@0,1@0,2@0");
	engine_up(2, "swap", SHARDS, NULL);
	for (unsigned i = 0; i < N; i++) {
		make_rec(&recs[i], i);
		res[i].status = -1;
	}
	for (unsigned b = 0; b < BATCHES; b++) {
		send_payload(buf,
		             build_put(buf, 8, b + 1, 1, SL_WIRE_ACK_DURABLE, &recs[b * PER], PER));
		if (b % 20 == 0)
			cr_assert_eq(sl_engine_republish_routes(eng), 0);
	}
	cr_assert_eq(collect(res, PER, BATCHES, N, 10000), N, "every record answered");
	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(res[i].status, SL_WIRE_OK, "record %u: %d", i, res[i].status);
	cr_assert_eq(counter(SL_EC_appended), N);
	engine_down();
	sl_engine_free(eng);
	eng = NULL;
	verify_storage("swap", SHARDS, recs, res, N);
	free(recs);
	free(res);
}

Test(engine, rejects_bad_config_with_a_reason)
{
	struct sl_engine_config c;
	struct sl_stream_set set = {0};
	struct sl_engine *e = NULL;

	/* Validation comes before any DPDK call: no EAL needed. */
	sl_engine_config_default(&c);
	c.data_dir = "/nonexistent";
	c.self.has_ip4 = true;
	c.nrx = c.nshard = 1;
	c.ring_size = 1000; /* not a power of two */
	cr_assert_eq(sl_engine_create(&c, &set, &e), -EINVAL);
	cr_assert(strstr(sl_errmsg(), "ring_size"), "%s", sl_errmsg());
	c.ring_size = 1024;
	c.max_pending_acks = 0;
	cr_assert_eq(sl_engine_create(&c, &set, &e), -EINVAL);
	cr_assert(strstr(sl_errmsg(), "max_pending_acks"), "%s", sl_errmsg());
	c.max_pending_acks = 64;
	c.nrx = 0;
	cr_assert_eq(sl_engine_create(&c, &set, &e), -EINVAL);
	c.nrx = 1;
	c.self.has_ip4 = false;
	cr_assert_eq(sl_engine_create(&c, &set, &e), -EINVAL);
	cr_assert_null(e);
}

Test(engine, two_rx_queues_two_rx_lcores)
{
	/* Each rx lcore polls its own queue and steers to both shard lcores
	 * in software: per-shard order holds within one producer's frames only
	 * when they come through one queue, so this checks acks and disk. */
	rx_queues = 2;
	eal_up("0@0,1@0,2@0");
	run_frames_to_storage(2, SL_WIRE_ACK_DURABLE);
}

static void jumbo(struct sl_engine_config *c)
{
	c->mtu = 9000;
}

Test(engine, jumbo_frames_with_mtu_9000)
{
	/* 60 records in one ~7 KB datagram: the engine's mbufs hold a whole
	 * jumbo frame (one segment) and the answer. */
	enum { PER = 60 };
	struct rec recs[PER];
	struct result res[PER];
	uint8_t buf[9000];
	uint32_t len;

	eal_up("0@0,1@0");
	engine_up(1, "big", 4, jumbo);
	for (unsigned i = 0; i < PER; i++) {
		make_rec(&recs[i], i);
		res[i].status = -1;
	}
	len = build_put_cap(buf, 8972, 6, 1, 1, SL_WIRE_ACK_DURABLE, recs, PER);
	cr_assert_gt(len, 4000);
	send_payload(buf, len);
	cr_assert_eq(collect(res, PER, 1, PER, 10000), PER);
	for (unsigned i = 0; i < PER; i++)
		cr_assert_eq(res[i].status, SL_WIRE_OK, "record %u", i);
	cr_assert_eq(counter(SL_EC_rx_segmented), 0);
	cr_assert_eq(counter(SL_EC_appended), PER);
}

Test(engine, a_batch_number_reused_for_other_records_is_refused)
{
	/* Same producer and batch number, one record fewer the second time:
	 * not a retry, so it must not be appended (nor answered OK). */
	enum { PER = 5 };
	struct rec recs[PER];
	struct result first[PER], second[PER];
	uint8_t buf[1500];

	eal_up("0@0,1@0");
	engine_up(1, "s", 1, NULL);
	for (unsigned i = 0; i < PER; i++) {
		make_rec(&recs[i], i);
		first[i].status = second[i].status = -1;
	}
	send_payload(buf, build_put(buf, 11, 1, 1, SL_WIRE_ACK_DURABLE, recs, PER));
	cr_assert_eq(collect(first, PER, 1, PER, 10000), PER);
	send_payload(buf, build_put(buf, 11, 1, 1, SL_WIRE_ACK_DURABLE, recs, PER - 1));
	cr_assert_eq(collect(second, PER, 1, PER - 1, 10000), PER - 1);
	for (unsigned i = 0; i < PER - 1; i++)
		cr_assert_eq(second[i].status, SL_WIRE_INVALID, "record %u", i);
	cr_assert_eq(counter(SL_EC_appended), PER);
	cr_assert_eq(counter(SL_EC_batch_reused), PER - 1);
}

Test(engine, retry_after_a_clean_restart_gets_the_original_numbers)
{
	/* The retry memory survives a clean stop: a producer whose ack was
	 * lost resends after the restart and must not be appended twice. */
	enum { PER = 11 };
	struct rec recs[PER];
	struct result first[PER], second[PER];
	uint64_t loaded, skipped;
	uint8_t buf[1500];
	uint32_t len;

	eal_up("0@0,1@0");
	engine_up(1, "keep", 3, NULL);
	for (unsigned i = 0; i < PER; i++) {
		make_rec(&recs[i], i);
		first[i].status = second[i].status = -1;
	}
	len = build_put(buf, 21, 1, 1, SL_WIRE_ACK_DURABLE, recs, PER);
	send_payload(buf, len);
	cr_assert_eq(collect(first, PER, 1, PER, 10000), PER);
	sl_engine_free(eng); /* clean stop: saves the retry memory */
	eng = NULL;

	port = port2;                  /* the first engine closed its port */
	engine_up(1, "keep", 3, NULL); /* same data directory */
	sl_engine_retry_memory(eng, &loaded, &skipped);
	cr_assert_geq(loaded, 1);
	cr_assert_eq(skipped, 0);
	send_payload(buf, len); /* the retry */
	cr_assert_eq(collect(second, PER, 1, PER, 10000), PER);
	for (unsigned i = 0; i < PER; i++) {
		cr_assert_eq(second[i].status, SL_WIRE_OK);
		cr_assert_eq(second[i].seq, first[i].seq, "record %u", i);
	}
	cr_assert_eq(counter(SL_EC_appended), 0, "nothing appended twice");
}

static void small_backlog(struct sl_engine_config *c)
{
	c->tx_backlog = 64;
}

Test(engine, answers_wait_in_the_tx_backlog_and_only_its_overflow_is_dropped)
{
	/* The peer takes nothing (its ring is full): the engine keeps up to
	 * tx_backlog answers, counts the rest as dropped, and sends the kept
	 * ones once the peer has room again. */
	enum { N = 100, BACKLOG = 64 };
	struct rec r;
	uint8_t buf[1500];
	struct rte_mbuf *filler[256];
	unsigned nfill = 0, got = 0;
	struct answer a;
	int64_t until;

	tx_ring_size = 256;
	eal_up("0@0,1@0");
	engine_up(1, "s", 1, small_backlog);
	while (nfill < RTE_DIM(filler) && (filler[nfill] = rte_pktmbuf_alloc(pool)) != NULL &&
	       rte_ring_enqueue(txr, filler[nfill]) == 0)
		nfill++;
	if (nfill < RTE_DIM(filler))
		rte_pktmbuf_free(filler[nfill]);
	cr_assert_eq(rte_ring_free_count(txr), 0, "the peer's ring is full");
	make_rec(&r, 1);
	for (unsigned b = 0; b < N; b++)
		send_payload(buf, build_put(buf, 31, b + 1, 1, SL_WIRE_ACK_RECEIVED, &r, 1));
	until = sl_mono_ns() + 10000000000ll;
	while (counter(SL_EC_appended) < N && sl_mono_ns() < until)
		usleep(1000);
	cr_assert_eq(counter(SL_EC_appended), N);
	until = sl_mono_ns() + 10000000000ll;
	while (counter(SL_EC_tx_dropped) < N - BACKLOG && sl_mono_ns() < until)
		usleep(1000);
	cr_assert_eq(counter(SL_EC_tx_dropped), N - BACKLOG);
	/* Room again: the held answers go out. */
	for (unsigned i = 0; i < nfill; i++) {
		struct rte_mbuf *m;

		cr_assert_eq(rte_ring_dequeue(txr, (void **)&m), 0);
		rte_pktmbuf_free(m);
	}
	while (got < BACKLOG && next_answer(&a, 5000))
		got++;
	cr_assert_eq(got, BACKLOG);
	cr_assert_not(next_answer(&a, 200), "nothing beyond the backlog");
}

enum { FULL_BATCHES = 300, FULL_PER = 3, FULL_N = FULL_BATCHES * FULL_PER, FULL_SHARDS = 4 };
static struct rec *full_recs;

/* Queues every frame before the engine starts, so that its first rx burst
 * (512) takes them all and the 64-frame ring to the shard role overflows. */
static void small_ring_prefilled(struct sl_engine_config *c)
{
	uint8_t buf[1500];

	c->rx_burst = 512;
	c->ring_size = 64;
	for (unsigned b = 0; b < FULL_BATCHES; b++)
		send_payload(buf, build_put(buf, 41, b + 1, 1, SL_WIRE_ACK_DURABLE,
		                            &full_recs[b * FULL_PER], FULL_PER));
}

Test(engine, a_full_shard_ring_is_answered_throttled_with_each_records_shard)
{
	struct result *res = calloc(FULL_N, sizeof(*res));
	unsigned ok = 0, thr = 0;

	full_recs = calloc(FULL_N, sizeof(*full_recs));
	cr_assert(res && full_recs);
	eal_up("0@0,1@0");
	addresses((uint8_t[]){0x02, 0, 0, 0, 0, 0x02}); /* the engine does not check it */
	for (unsigned i = 0; i < FULL_N; i++) {
		make_rec(&full_recs[i], i);
		res[i].status = -1;
	}
	engine_up(1, "s", FULL_SHARDS, small_ring_prefilled);
	cr_assert_eq(collect(res, FULL_PER, FULL_BATCHES, FULL_N, 10000), FULL_N);
	for (unsigned i = 0; i < FULL_N; i++) {
		cr_assert(res[i].status == SL_WIRE_OK || res[i].status == SL_WIRE_THROTTLED,
		          "record %u: %d", i, res[i].status);
		cr_assert_eq(res[i].shard, expected_shard(&full_recs[i], FULL_SHARDS),
		             "record %u's shard (status %d)", i, res[i].status);
		ok += res[i].status == SL_WIRE_OK;
		thr += res[i].status == SL_WIRE_THROTTLED;
	}
	cr_assert_eq(thr, counter(SL_EC_throttled_ring));
	cr_assert_gt(thr, 0, "the ring overflowed");
	cr_assert_eq(counter(SL_EC_appended), ok);
	engine_down();
	sl_engine_free(eng);
	eng = NULL;
	verify_storage("s", FULL_SHARDS, full_recs, res, FULL_N);
	free(full_recs);
	free(res);
}

Test(engine, memory_stats_show_the_mbuf_pool_and_the_answers_held_from_it)
{
	/* Answers the peer has not taken yet are mbufs of the engine's pool
	 * (frames come from the test's pool over net_ring): while the tx ring
	 * holds N of them, N more of the pool are in use. The engine is idle
	 * when the counts are read, so its lcore caches do not move them. */
	enum { N = 200 };
	struct sl_engine_mem m0, held, after;
	const struct sl_engine_mempool_stats *p;
	struct sl_procmem pm;
	struct rec r;
	uint8_t buf[1500];
	struct answer a;
	unsigned got = 0;
	int64_t until;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	eal_up("0@0,1@0");
	engine_up(1, "s", 2, NULL);
	sl_engine_mem_stats(eng, &m0);
	cr_assert_eq(m0.npools, 1);
	p = &m0.pool[0];
	cr_assert_str_eq(p->name, "sl_mbufs");
	cr_assert_gt(p->size, 0);
	cr_assert_leq(p->in_use, p->size);
	cr_assert_eq(p->in_use + p->available, p->size);
	cr_assert_geq(p->elt_size, sl_engine_mbuf_data_room(1500));
	cr_assert_geq(p->total_bytes, (uint64_t)p->size * p->elt_size);
	cr_assert_eq(m0.pools_size, p->size);
	cr_assert_eq(m0.pools_in_use, p->in_use);
	cr_assert_eq(m0.pools_bytes, p->total_bytes);
	cr_assert_geq(m0.heap_alloc_bytes, p->total_bytes, "the pool lives in the DPDK heap");
	cr_assert_geq(m0.heap_total_bytes, m0.heap_alloc_bytes);
	cr_assert_eq(m0.store_logs, 2, "one log per shard");
	cr_assert_eq(m0.store_ring_bytes, 2u << 20, "engine_up's 1 MiB staging rings");
	cr_assert_eq(sl_procmem_read(&pm), 0);
	cr_assert_gt(pm.rss_bytes, 0);
	cr_assert_geq(pm.rss_peak_bytes, pm.rss_bytes);

	make_rec(&r, 1);
	for (unsigned b = 0; b < N; b++)
		send_payload(buf, build_put(buf, 61, b + 1, 1, SL_WIRE_ACK_RECEIVED, &r, 1));
	until = sl_mono_ns() + 10000000000ll;
	while (rte_ring_count(txr) < N && sl_mono_ns() < until)
		usleep(1000);
	cr_assert_eq(rte_ring_count(txr), N, "every frame answered");
	sl_engine_mem_stats(eng, &held);
	cr_assert_geq(held.pool[0].in_use, m0.pool[0].in_use + N, "in use: %u before, %u held",
	              m0.pool[0].in_use, held.pool[0].in_use);
	cr_assert_leq(held.pool[0].in_use, held.pool[0].size);

	while (got < N && next_answer(&a, 5000))
		got++;
	cr_assert_eq(got, N);
	sl_engine_mem_stats(eng, &after);
	cr_assert_leq(after.pool[0].in_use + N, held.pool[0].in_use,
	              "answers taken by the peer went back: %u held, %u after", held.pool[0].in_use,
	              after.pool[0].in_use);

	/* The stats file's lines. */
	f = open_memstream(&text, &len);
	cr_assert(f);
	sl_engine_mem_print(&after, f);
	fclose(f);
	cr_assert_not_null(strstr(text, "mempool_sl_mbufs_in_use "), "%s", text);
	cr_assert_not_null(strstr(text, "mempool_sl_mbufs_size "), "%s", text);
	cr_assert_not_null(strstr(text, "\nmempool_size "), "%s", text);
	cr_assert_not_null(strstr(text, "mem_dpdk_heap_alloc_bytes "), "%s", text);
	free(text);
}

/* ---- the control plane's side: streams and shards at run time, puts ---- */

/* Puts n records (recs[from..from+n)) on one shard through the engine's
 * put path and waits (bounded) for the answer. */
static int local_put(uint32_t stream, uint32_t shard, const struct rec *recs, unsigned n,
                     uint64_t *seqs)
{
	struct sl_record_in in[64];
	struct sl_engine_put p = {.stream_id = stream,
	                          .shard_id = shard,
	                          .n = n,
	                          .level = SL_WIRE_ACK_DURABLE,
	                          .recs = in,
	                          .seqs = seqs};
	struct sl_engine_put *done = NULL;
	int64_t until = sl_mono_ns() + 10000000000ll;
	int rc;

	cr_assert_leq(n, 64);
	for (unsigned i = 0; i < n; i++) {
		in[i] = (struct sl_record_in){.key = recs[i].key,
		                              .key_len = recs[i].key_len,
		                              .data = recs[i].data,
		                              .data_len = recs[i].data_len,
		                              .arrival_ns = sl_wall_ns()};
		sl_wire_hash_key(recs[i].key, recs[i].key_len, in[i].hash_key);
	}
	rc = sl_engine_put(eng, &p);
	if (rc < 0)
		return rc;
	while (sl_engine_put_poll(eng, &done, 1) == 0) {
		cr_assert_lt(sl_mono_ns(), until, "put answered");
		usleep(100);
	}
	cr_assert_eq(done, &p);
	return p.status;
}

/* Reads a shard through the engine's own log and returns the data words
 * (the record index make_rec() put first) in order. */
static unsigned read_shard(uint32_t stream, uint32_t shard, unsigned *idx, unsigned cap,
                           uint64_t *last_seq)
{
	struct sl_log *log = sl_engine_log(eng, stream, shard);
	struct sl_reader *rd;
	struct sl_record_out out[64];
	unsigned n = 0;
	int got;

	cr_assert_not_null(log, "stream %u shard %u has a log", stream, shard);
	cr_assert_eq(sl_reader_open(log, 0, &rd), 0);
	cr_assert_eq(sl_reader_seek_trim_horizon(rd), 0);
	*last_seq = 0;
	while ((got = sl_reader_read(rd, out, 64, 1u << 20)) > 0) {
		for (int j = 0; j < got && n < cap; j++) {
			cr_assert_gt(out[j].seq, *last_seq);
			*last_seq = out[j].seq;
			memcpy(&idx[n++], out[j].data, sizeof(unsigned));
		}
	}
	cr_assert_geq(got, 0);
	sl_reader_free(rd);
	return n;
}

Test(engine, streams_added_split_and_dropped_while_running)
{
	enum { N = 40 };
	struct rec recs[3 * N];
	struct result res[3 * N];
	uint8_t buf[1500];
	uint64_t seqs[64], last;
	unsigned idx[256];
	struct sl_engine_shard one[1] = {{.start = 0, .id = 0, .open = true}};
	const sl_u128 mid = (sl_u128)1 << 127;
	struct sl_engine_shard split[3] = {
	        {.start = 0, .id = 0, .open = false},
	        {.start = 0, .id = 1, .open = true},
	        {.start = mid, .id = 2, .open = true},
	};
	struct sl_engine_shard_end ends[3];
	uint32_t nends = 9;
	char path[4096];

	eal_up("0@0,1@0,2@0");
	engine_up(2, "base", 1, NULL);
	for (unsigned i = 0; i < 3 * N; i++) {
		make_rec(&recs[i], i);
		res[i].status = -1;
	}

	/* A new stream (id 2) while the lcores run: frames and puts reach it. */
	cr_assert_eq(sl_engine_sync_stream(eng, 2, "live", one, 1, ends, &nends), 0, "%s",
	             sl_errmsg());
	cr_assert_eq(nends, 0);
	for (unsigned b = 0; b < N / 10; b++)
		send_payload(buf,
		             build_put(buf, 9, b + 1, 2, SL_WIRE_ACK_DURABLE, &recs[b * 10], 10));
	cr_assert_eq(collect(res, 10, N / 10, N, 10000), N);
	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(res[i].status, SL_WIRE_OK);
	cr_assert_eq(local_put(2, 0, &recs[N], 10, seqs), 0);
	cr_assert_gt(seqs[0], res[N - 1].seq, "a put follows the frames on the shard");
	for (unsigned i = 1; i < 10; i++)
		cr_assert_eq(seqs[i], seqs[0] + i);
	cr_assert_eq(read_shard(2, 0, idx, 256, &last), N + 10);
	for (unsigned i = 0; i < N + 10; i++)
		cr_assert_eq(idx[i], i, "record %u in order", i);

	/* Split: the parent closes with its last record, children take over. */
	cr_assert_eq(sl_engine_sync_stream(eng, 2, "live", split, 3, ends, &nends), 0, "%s",
	             sl_errmsg());
	cr_assert_eq(nends, 1);
	cr_assert_eq(ends[0].shard_id, 0);
	cr_assert_eq(ends[0].last_seq, seqs[9], "the parent's last record");
	cr_assert_eq(local_put(2, 0, &recs[N], 1, seqs), -ENOENT, "a closed shard takes nothing");
	for (unsigned b = 0; b < N / 10; b++)
		send_payload(buf, build_put(buf, 9, 100 + b + 1, 2, SL_WIRE_ACK_DURABLE,
		                            &recs[2 * N + b * 10], 10));
	{
		struct result r2[N];

		for (unsigned i = 0; i < N; i++)
			r2[i].status = -1;
		/* collect() indexes by batch - 1: batches 101.. shifted. */
		unsigned got = 0;
		struct answer a;

		while (got < N && next_answer(&a, 10000)) {
			cr_assert_eq(a.h.type, SL_WIRE_ACK);
			for (unsigned i = 0; i < a.h.count; i++) {
				struct sl_wire_ack_entry en;

				sl_wire_ack_entry(a.payload, i, &en);
				for (unsigned k = 0; k < en.nrec; k++) {
					struct result *r =
					        &r2[(a.h.batch_seq - 101) * 10 + en.index + k];

					r->status = en.status;
					r->shard = en.shard;
					got++;
				}
			}
		}
		cr_assert_eq(got, N);
		for (unsigned i = 0; i < N; i++) {
			uint8_t h[16];

			sl_wire_hash_key(recs[2 * N + i].key, recs[2 * N + i].key_len, h);
			cr_assert_eq(r2[i].status, SL_WIRE_OK, "record %u: %d", i, r2[i].status);
			cr_assert_eq(r2[i].shard, sl_hashkey_value(h) < mid ? 1u : 2u,
			             "record %u goes to the child owning its hash key", i);
		}
	}
	/* The parent still reads back whole. */
	cr_assert_eq(read_shard(2, 0, idx, 256, &last), N + 10);
	cr_assert_eq(last, ends[0].last_seq);

	/* Drop: gone from routing and from disk. */
	cr_assert_eq(sl_engine_drop_stream(eng, 2), 0);
	cr_assert_null(sl_engine_log(eng, 2, 1));
	snprintf(path, sizeof(path), "%s/data/live", dir);
	cr_assert_neq(access(path, F_OK), 0, "the stream's data is deleted");
	res[0].status = -1;
	send_payload(buf, build_put(buf, 9, 1, 2, SL_WIRE_ACK_DURABLE, recs, 1));
	{
		struct answer a;
		struct sl_wire_ack_entry en;

		cr_assert(next_answer(&a, 10000));
		sl_wire_ack_entry(a.payload, 0, &en);
		cr_assert_eq(en.status, SL_WIRE_UNKNOWN_STREAM);
	}
	engine_down();
	/* After the lcores stopped, puts are refused and syncs run inline. */
	cr_assert_eq(local_put(1, 0, recs, 1, seqs), -ESHUTDOWN);
	cr_assert_eq(sl_engine_sync_stream(eng, 3, "late", one, 1, ends, &nends), 0);
	cr_assert_not_null(sl_engine_log(eng, 3, 0));
}

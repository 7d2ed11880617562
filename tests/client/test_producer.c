/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for client/producer.c against a fake engine: a thread with a UDP
 * socket that decodes RESOLVE and PUT frames with sl_wire_check() and
 * answers RESOLVED and ACK frames, with scripted misbehaviour (drops,
 * duplicate, split, THROTTLED, PENDING, garbage, silence).
 *
 * Every network test first moves its (forked) process into a network
 * namespace of its own with only `lo` up, so tests cannot meet each other's
 * or the host's traffic; without the privilege for that they skip.
 *
 * Records carry their index: data is the index as 4 bytes little-endian,
 * then byte j is (index + j) mod 256. The engine checks that content and
 * the MD5 hash key, and writes down the shard and sequence number it gave
 * each index, which the callbacks must report back exactly once.
 *
 * The engine routes like the real one (an even split of the 128-bit hash
 * space over its shard count, computed here independently of the
 * producer's arithmetic) and counts what per-shard batching must never
 * do: a frame with records of two shards, a shard's frames or records
 * arriving out of order, a PUT below a floor announced earlier.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sluice/client.h>

#include "clock.h"
#include "wire.h"

#define MAXR       4096 /* record indices a test may use */
#define MAXB       4096 /* batch_seqs the engine tracks */
#define STREAM_ID  7
#define NSHARDS    4          /* the default shard count */
#define MAXSHARDS  64         /* the most a test may ask for */
#define SHARD_BASE 1000000ull /* shard s numbers from s * SHARD_BASE + 1 */
#define BAD_SEQ    999999999ull

/* ---- network namespace ---- */

static void enter_netns(void)
{
	struct ifreq ifr = {0};
	int s;

	if (unshare(CLONE_NEWNET) != 0)
		cr_skip_test("unshare(CLONE_NEWNET): %s (needs root or CAP_SYS_ADMIN)",
		             strerror(errno));
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(s, 0);
	strcpy(ifr.ifr_name, "lo");
	cr_assert_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0, "SIOCGIFFLAGS lo: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	cr_assert_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0, "SIOCSIFFLAGS lo: %s", strerror(errno));
	close(s);
}

/* ---- the fake engine ---- */

struct engine_cfg {
	int family;              /* AF_INET (default) or AF_INET6 */
	unsigned drop_first;     /* drop the first N PUT datagrams */
	bool silent;             /* never answer a PUT */
	bool silent_resolve;     /* never answer a RESOLVE */
	bool dup_acks;           /* send every ACK frame twice */
	bool split;              /* one ACK frame per record, last record first */
	unsigned throttle_first; /* THROTTLED to the first N sends of each batch */
	bool throttle_forever;
	bool pending_then_ok; /* PENDING now, OK pending_ms later */
	unsigned pending_ms;
	bool pending_forever;
	bool garbage;         /* bad datagrams before every ACK frame */
	uint16_t fail_status; /* answer for records whose key starts with 'x' */
	uint16_t ack_level;   /* ACK level flags; 0: the PUT's mode */
	uint32_t nshards;     /* shard count at RESOLVED; 0: NSHARDS */
};

struct batch {
	unsigned sends;
	uint8_t *bytes; /* the first send, to compare retries with */
	uint32_t len;
	uint16_t nrec;
	bool stored;
	uint32_t *shard;
	uint64_t *seq;
	uint16_t *status;
	struct sl_wire_hdr hdr;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	int64_t ok_at; /* pending_then_ok: when to send the OK */
	bool ok_sent;
};

struct engine {
	struct engine_cfg cfg;
	int fd;
	uint16_t port;
	pthread_t thread;
	atomic_bool stop;
	uint32_t nshards;
	uint64_t next_seq[MAXSHARDS];
	struct batch *b; /* MAXB, indexed by batch_seq */
	struct {
		uint32_t shard;
		uint64_t seq;
		unsigned stores;
	} rec[MAXR];
	/* what the engine saw (read after engine_stop) */
	unsigned puts;    /* PUT datagrams received, dropped ones included */
	unsigned dropped; /* dropped by drop_first */
	unsigned resolves;
	unsigned mismatch; /* retries whose bytes differ from the first send */
	unsigned bad_data; /* records whose data is not the index pattern */
	unsigned bad_hash; /* MD5 hash keys that are not the MD5 of the key */
	unsigned disorder; /* first sends whose batch_seq did not increase on their shard */
	uint64_t last_first[MAXSHARDS]; /* per shard: batch_seq of its latest first send */
	unsigned mixed;                 /* frames with records of more than one shard */
	unsigned rec_disorder;          /* records stored below an earlier index of their shard */
	int64_t last_index[MAXSHARDS];  /* per shard: index of the latest stored record */
	unsigned below_floor;           /* PUTs whose batch_seq is below an earlier floor */
	uint64_t max_floor;             /* highest floor seen */
	uint64_t max_batch;
	uint32_t max_len;
	uint16_t max_count;
	uint16_t last_flags;
	unsigned explicit_hashes;
	unsigned garbage_sent;
};

static struct engine *eng;

typedef unsigned __int128 u128;

/* k * floor(2^128 / n), the start of shard k of n as Kinesis lays out a
 * new stream (dataplane/route.c), computed here on its own. */
static u128 even_start(uint32_t k, uint32_t n)
{
	u128 max = ~(u128)0, q = max / n;

	if (max % n + 1 == n)
		q++;
	return q * k;
}

static u128 hash_value(const uint8_t *h)
{
	u128 v = 0;

	for (int i = 0; i < 16; i++)
		v = v << 8 | h[i];
	return v;
}

/* Shard of a hash key: the last shard whose start is at or below it. */
static uint32_t route(const uint8_t *hash_key)
{
	u128 v = hash_value(hash_key);
	uint32_t k = 0;

	while (k + 1 < eng->nshards && even_start(k + 1, eng->nshards) <= v)
		k++;
	return k;
}

/* The big-endian hash key of value v. */
static void hash_of(u128 v, uint8_t h[16])
{
	for (int i = 15; i >= 0; i--, v >>= 8)
		h[i] = (uint8_t)v;
}

static void make_data(uint8_t *d, uint32_t idx, size_t len)
{
	for (size_t j = 0; j < len; j++)
		d[j] = j < 4 ? (uint8_t)(idx >> (8 * j)) : (uint8_t)(idx + j);
}

/* The record's index, or -1 if its data is not make_data()'s. */
static int data_index(const struct sl_wire_rec *r)
{
	uint32_t idx;

	if (r->data_len < 4)
		return -1;
	idx = sl_le32(r->data);
	if (idx >= MAXR)
		return -1;
	for (uint32_t j = 4; j < r->data_len; j++)
		if (r->data[j] != (uint8_t)(idx + j))
			return -1;
	return (int)idx;
}

static void reply(struct engine *e, const struct batch *b, const uint8_t *buf, uint32_t len)
{
	sendto(e->fd, buf, len, 0, (const struct sockaddr *)&b->peer, b->peerlen);
}

static uint32_t ack_begin(struct engine *e, uint8_t *buf, const struct batch *b)
{
	uint16_t level = e->cfg.ack_level ? e->cfg.ack_level : (b->hdr.flags & 3u);

	return sl_wire_begin(buf, SL_WIRE_ACK, level, b->hdr.producer_id, b->hdr.batch_seq,
	                     b->hdr.stream);
}

/* Seven datagrams a producer must drop, each of which would finish record
 * 0 with a wrong sequence number if it were believed. */
static void send_garbage(struct engine *e, const struct batch *b)
{
	uint8_t buf[128];
	uint32_t len;

	memset(buf, 0xa5, 64);
	reply(e, b, buf, 64);
	for (int kind = 0; kind < 6; kind++) {
		uint64_t pid = b->hdr.producer_id, bseq = b->hdr.batch_seq;
		uint32_t stream = b->hdr.stream;
		uint16_t index = 0;
		enum sl_wire_type type = SL_WIRE_ACK;

		switch (kind) {
		case 0:
			pid ^= 1;
			break;
		case 1:
			bseq = 1ull << 40;
			break;
		case 2:
			index = b->nrec;
			break;
		case 3:
			stream++;
			break;
		case 5:
			type = SL_WIRE_RESOLVED;
			break;
		}
		len = sl_wire_begin(buf, type, type == SL_WIRE_ACK ? (b->hdr.flags & 3u) : 0, pid,
		                    bseq, stream);
		if (type == SL_WIRE_ACK) {
			sl_wire_ack_add(buf, &len, BAD_SEQ, 0, index, 1, SL_WIRE_OK);
			sl_wire_finish(buf, len, 1);
		} else {
			sl_wire_finish(buf, len, e->nshards);
		}
		if (kind == 4)
			buf[SL_WIRE_OFF_CRC] ^= 1;
		reply(e, b, buf, len);
	}
	e->garbage_sent += 7;
}

static void send_frame(struct engine *e, const struct batch *b, const uint8_t *buf, uint32_t len)
{
	if (e->cfg.garbage)
		send_garbage(e, b);
	reply(e, b, buf, len);
	if (e->cfg.dup_acks)
		reply(e, b, buf, len);
}

/* Answers batch b: records with `status` (THROTTLED, PENDING), or with
 * what was stored when status < 0. Entries are runs of records on one
 * shard with one status and consecutive numbers. */
static void send_acks(struct engine *e, const struct batch *b, int status)
{
	uint8_t buf[SL_WIRE_HDR_BYTES + SL_WIRE_ACK_ENTRY_BYTES * SL_WIRE_MAX_RECORDS];
	uint32_t len;
	uint16_t n = 0;

	if (e->cfg.split) {
		for (int i = b->nrec - 1; i >= 0; i--) {
			uint16_t st = status >= 0 ? (uint16_t)status : b->status[i];

			len = ack_begin(e, buf, b);
			sl_wire_ack_add(buf, &len, st == SL_WIRE_OK ? b->seq[i] : 0, b->shard[i],
			                (uint16_t)i, 1, st);
			send_frame(e, b, buf, sl_wire_finish(buf, len, 1));
		}
		return;
	}
	len = ack_begin(e, buf, b);
	for (uint16_t i = 0; i < b->nrec;) {
		uint16_t st = status >= 0 ? (uint16_t)status : b->status[i];
		uint16_t k = 1;

		while (i + k < b->nrec && b->shard[i + k] == b->shard[i] &&
		       (status >= 0 ? (uint16_t)status : b->status[i + k]) == st &&
		       (st != SL_WIRE_OK || b->seq[i + k] == b->seq[i] + k))
			k++;
		sl_wire_ack_add(buf, &len, st == SL_WIRE_OK ? b->seq[i] : 0, b->shard[i], i, k,
		                (enum sl_wire_status)st);
		n++;
		i += k;
	}
	send_frame(e, b, buf, sl_wire_finish(buf, len, n));
}

/* First acceptance of batch b: route, number and check its records. */
static void store(struct engine *e, struct batch *b)
{
	struct sl_wire_rec r;
	uint32_t off = SL_WIRE_HDR_BYTES;

	b->shard = calloc(b->nrec, sizeof(*b->shard));
	b->seq = calloc(b->nrec, sizeof(*b->seq));
	b->status = calloc(b->nrec, sizeof(*b->status));
	for (uint16_t i = 0; i < b->nrec; i++) {
		uint8_t md5[16];
		int idx;

		sl_wire_rec_next(b->bytes, &off, &r);
		if (r.flags & SL_WIRE_REC_EXPLICIT_HASH) {
			e->explicit_hashes++;
		} else {
			/* One-shot EVP_Digest: an independent MD5, and no
			 * per-thread context left behind by this thread. */
			if (!EVP_Digest(r.key, r.key_len, md5, NULL, EVP_md5(), NULL) ||
			    memcmp(md5, r.hash_key, 16) != 0)
				e->bad_hash++;
		}
		b->shard[i] = route(r.hash_key);
		if (e->cfg.fail_status && r.key[0] == 'x') {
			b->status[i] = e->cfg.fail_status;
			continue;
		}
		b->seq[i] = ++e->next_seq[b->shard[i]];
		idx = data_index(&r);
		if (idx < 0) {
			e->bad_data++;
			continue;
		}
		e->rec[idx].shard = b->shard[i];
		e->rec[idx].seq = b->seq[i];
		e->rec[idx].stores++;
		if (idx < e->last_index[b->shard[i]])
			e->rec_disorder++;
		e->last_index[b->shard[i]] = idx;
	}
	b->stored = true;
}

/* Checks a first send: all its records on one shard, and a higher
 * batch_seq than that shard's previous frame. */
static void note_first_send(struct engine *e, const struct batch *b)
{
	struct sl_wire_rec r;
	uint32_t off = SL_WIRE_HDR_BYTES, shard = 0;

	for (uint16_t i = 0; i < b->nrec; i++) {
		sl_wire_rec_next(b->bytes, &off, &r);
		if (i == 0)
			shard = route(r.hash_key);
		else if (route(r.hash_key) != shard) {
			e->mixed++;
			break;
		}
	}
	if (b->hdr.batch_seq <= e->last_first[shard])
		e->disorder++;
	e->last_first[shard] = b->hdr.batch_seq;
}

static void on_put(struct engine *e, const uint8_t *buf, size_t len, const struct sl_wire_hdr *h,
                   const struct sockaddr_storage *from, socklen_t fromlen)
{
	struct batch *b;

	e->puts++;
	if (e->dropped < e->cfg.drop_first) {
		e->dropped++;
		return;
	}
	if (h->batch_seq == 0 || h->batch_seq >= MAXB)
		return;
	/* "Every batch below floor is final": none may come again. */
	if (h->batch_seq < e->max_floor)
		e->below_floor++;
	if (h->floor > e->max_floor)
		e->max_floor = h->floor;
	b = &e->b[h->batch_seq];
	e->last_flags = h->flags;
	if (len > e->max_len)
		e->max_len = (uint32_t)len;
	if (h->count > e->max_count)
		e->max_count = h->count;
	if (h->batch_seq > e->max_batch)
		e->max_batch = h->batch_seq;
	if (b->sends++ == 0) {
		b->bytes = malloc(len);
		memcpy(b->bytes, buf, len);
		b->len = (uint32_t)len;
		b->nrec = h->count;
		b->hdr = *h;
		note_first_send(e, b);
	} else if (b->len != len || memcmp(b->bytes, buf, len) != 0) {
		e->mismatch++;
	}
	b->peer = *from;
	b->peerlen = fromlen;
	if (e->cfg.silent)
		return;
	if (e->cfg.throttle_forever || b->sends <= e->cfg.throttle_first) {
		if (!b->shard) {
			/* Shards for the THROTTLED entries, nothing stored. */
			struct sl_wire_rec r;
			uint32_t off = SL_WIRE_HDR_BYTES;

			b->shard = calloc(b->nrec, sizeof(*b->shard));
			for (uint16_t i = 0; i < b->nrec; i++) {
				sl_wire_rec_next(b->bytes, &off, &r);
				b->shard[i] = route(r.hash_key);
			}
		}
		send_acks(e, b, SL_WIRE_THROTTLED);
		return;
	}
	if (!b->stored) {
		free(b->shard);
		store(e, b);
		if (e->cfg.pending_then_ok)
			b->ok_at = sl_mono_ns() + (int64_t)e->cfg.pending_ms * 1000000;
	}
	if (e->cfg.pending_forever || (e->cfg.pending_then_ok && !b->ok_sent))
		send_acks(e, b, SL_WIRE_PENDING);
	else
		send_acks(e, b, -1);
}

static void on_resolve(struct engine *e, const uint8_t *buf, size_t len,
                       const struct sl_wire_hdr *h, const struct sockaddr_storage *from,
                       socklen_t fromlen)
{
	uint8_t out[SL_WIRE_HDR_BYTES];
	bool known = len - SL_WIRE_HDR_BYTES == 1 && buf[SL_WIRE_HDR_BYTES] == 's';
	uint32_t n;

	e->resolves++;
	if (e->cfg.silent_resolve)
		return;
	n = sl_wire_begin(out, SL_WIRE_RESOLVED, 0, h->producer_id, h->batch_seq,
	                  known ? STREAM_ID : 0);
	n = sl_wire_finish(out, n, known ? e->nshards : 0);
	sendto(e->fd, out, n, 0, (const struct sockaddr *)from, fromlen);
}

static void run_delayed(struct engine *e)
{
	int64_t now = sl_mono_ns();

	if (!e->cfg.pending_then_ok)
		return;
	for (uint64_t s = 1; s <= e->max_batch; s++) {
		struct batch *b = &e->b[s];

		if (b->stored && !b->ok_sent && now >= b->ok_at) {
			b->ok_sent = true;
			send_acks(e, b, -1);
		}
	}
}

static void *engine_main(void *arg)
{
	struct engine *e = arg;
	static uint8_t buf[SL_WIRE_MAX_FRAME + 1];

	while (!atomic_load(&e->stop)) {
		struct pollfd pfd = {.fd = e->fd, .events = POLLIN};

		poll(&pfd, 1, 2);
		run_delayed(e);
		for (;;) {
			struct sockaddr_storage from;
			socklen_t fromlen = sizeof(from);
			struct sl_wire_hdr h;
			ssize_t n = recvfrom(e->fd, buf, sizeof(buf), MSG_DONTWAIT,
			                     (struct sockaddr *)&from, &fromlen);

			if (n < 0)
				break;
			if (sl_wire_check(buf, (size_t)n, &h) != 0)
				continue;
			if (h.type == SL_WIRE_PUT)
				on_put(e, buf, (size_t)n, &h, &from, fromlen);
			else if (h.type == SL_WIRE_RESOLVE)
				on_resolve(e, buf, (size_t)n, &h, &from, fromlen);
		}
	}
	return NULL;
}

/* Enters a fresh network namespace and starts the engine in it. */
static void engine_start(const struct engine_cfg *cfg)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	int family, rcvbuf = 32 << 20;

	enter_netns();
	eng = calloc(1, sizeof(*eng));
	eng->b = calloc(MAXB, sizeof(*eng->b));
	cr_assert(eng && eng->b);
	if (cfg)
		eng->cfg = *cfg;
	family = eng->cfg.family ? eng->cfg.family : AF_INET;
	eng->nshards = eng->cfg.nshards ? eng->cfg.nshards : NSHARDS;
	cr_assert_leq(eng->nshards, MAXSHARDS);
	for (int s = 0; s < MAXSHARDS; s++) {
		eng->next_seq[s] = (uint64_t)s * SHARD_BASE;
		eng->last_index[s] = -1;
	}
	eng->fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(eng->fd, 0);
	/* Room for every frame a test sends: a datagram lost to a full
	 * buffer would be retried and arrive out of order. */
	if (setsockopt(eng->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
		setsockopt(eng->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*a);
	}
	if (bind(eng->fd, (struct sockaddr *)&ss, sl) != 0) {
		if (family == AF_INET6)
			cr_skip_test("no IPv6 loopback: %s", strerror(errno));
		cr_assert_fail("bind: %s", strerror(errno));
	}
	cr_assert_eq(getsockname(eng->fd, (struct sockaddr *)&ss, &sl), 0);
	eng->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                     : ((struct sockaddr_in *)&ss)->sin_port);
	cr_assert_eq(pthread_create(&eng->thread, NULL, engine_main, eng), 0);
}

static void engine_stop(void)
{
	if (!eng || atomic_load(&eng->stop))
		return;
	atomic_store(&eng->stop, true);
	pthread_join(eng->thread, NULL);
	close(eng->fd);
}

/* ---- the producer side ---- */

static struct sl_producer *prod;

static struct {
	unsigned calls[MAXR];
	struct sl_put_result res[MAXR];
	unsigned total;
	unsigned follow_ups; /* callback_may_put: records still to put from callbacks */
	int poll_rc;         /* what poll returned inside a callback */
} got;

static void on_result(void *arg, const struct sl_put_result *r)
{
	uintptr_t i = (uintptr_t)r->user;

	(void)arg;
	cr_assert_lt(i, MAXR);
	got.calls[i]++;
	got.res[i] = *r;
	got.total++;
}

static void config(struct sl_producer_config *c)
{
	sl_producer_config_default(c);
	c->host = eng && eng->cfg.family == AF_INET6 ? "::1" : "127.0.0.1";
	c->port = eng ? eng->port : SL_WIRE_DEFAULT_PORT;
	c->stream = "s";
	c->linger_us = 1000;
	c->timeout_ms = 1000;
}

static void create(const struct sl_producer_config *c)
{
	int rc = sl_producer_create(c, on_result, NULL, &prod);

	cr_assert_eq(rc, 0, "create: %d (%s)", rc, sl_producer_errmsg());
}

/* Puts record i: key "k<i>" (or prefix<i>), data make_data(i, len). */
static int put_rec(const char *prefix, uint32_t i, size_t len)
{
	char key[32];
	uint8_t data[2048];

	cr_assert_leq(len, sizeof(data));
	snprintf(key, sizeof(key), "%s%u", prefix, i);
	make_data(data, i, len);
	return sl_producer_put(prod, key, strlen(key), data, len, (void *)(uintptr_t)i);
}

/* Puts records [from, to), polling whenever the producer is full. */
static void put_range(const char *prefix, uint32_t from, uint32_t to, size_t len)
{
	for (uint32_t i = from; i < to; i++) {
		int rc, spins = 0;

		while ((rc = put_rec(prefix, i, len)) == -EAGAIN) {
			cr_assert_geq(sl_producer_poll(prod, 100), 0);
			cr_assert_lt(++spins, 1000, "put %u stays -EAGAIN", i);
		}
		cr_assert_eq(rc, 0, "put %u: %d", i, rc);
	}
}

static void put_all(const char *prefix, uint32_t n, size_t len)
{
	put_range(prefix, 0, n, len);
}

static void flush_all(void)
{
	int rc = sl_producer_flush(prod, 30000);

	cr_assert_eq(rc, 0, "flush left %d records outstanding", rc);
	cr_assert_eq(sl_producer_outstanding(prod), 0);
}

/* Each of records [0, n) had exactly one callback with status `status`. */
static void expect_once(uint32_t n, int status)
{
	for (uint32_t i = 0; i < n; i++) {
		cr_assert_eq(got.calls[i], 1, "record %u: %u callbacks", i, got.calls[i]);
		cr_expect_eq(got.res[i].status, status, "record %u: status %d", i,
		             got.res[i].status);
	}
	cr_assert_eq(got.total, n);
}

/* Each OK result names the shard and number the engine gave the record. */
static void expect_engine_numbers(uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (got.res[i].status != SL_WIRE_OK)
			continue;
		cr_assert_eq(eng->rec[i].stores, 1, "record %u stored %u times", i,
		             eng->rec[i].stores);
		cr_expect_eq(got.res[i].shard, eng->rec[i].shard, "record %u shard", i);
		cr_expect_eq(got.res[i].seq, eng->rec[i].seq, "record %u seq", i);
		cr_expect_eq(got.res[i].seq / SHARD_BASE, got.res[i].shard, "record %u", i);
	}
	cr_expect_eq(eng->bad_data, 0);
	cr_expect_eq(eng->bad_hash, 0);
	cr_expect_eq(eng->mismatch, 0, "a retry was not byte-identical");
	cr_expect_eq(eng->mixed, 0, "frames with records of several shards");
	/* A dropped first send arrives later, as a retry. */
	if (!eng->cfg.drop_first)
		cr_expect_eq(eng->disorder, 0, "a shard's frames left out of batch_seq order");
	cr_expect_eq(eng->below_floor, 0, "a PUT below a floor sent earlier");
}

static void stats(struct sl_producer_stats *st)
{
	sl_producer_stats(prod, st);
}

static void teardown(void)
{
	sl_producer_free(prod);
	prod = NULL;
	engine_stop();
	if (eng) {
		for (unsigned s = 0; s < MAXB; s++) {
			free(eng->b[s].bytes);
			free(eng->b[s].shard);
			free(eng->b[s].seq);
			free(eng->b[s].status);
		}
		free(eng->b);
		free(eng);
		eng = NULL;
	}
}

TestSuite(producer, .fini = teardown, .timeout = 60);

/* ---- configuration and arguments ---- */

struct bad_config {
	const char *what;
	void (*set)(struct sl_producer_config *c);
};

#define BAD(name, stmt)                                                                            \
	static void bad_##name(struct sl_producer_config *c)                                       \
	{                                                                                          \
		stmt;                                                                              \
	}
BAD(no_host, c->host = NULL)
BAD(no_stream, c->stream = NULL)
BAD(empty_stream, c->stream = "")
BAD(long_stream, c->stream = "0123456789012345678901234567890123456789012345678901234567890123"
                             "01234567890123456789012345678901234567890123456789012345678901234")
BAD(port_0, c->port = 0)
BAD(frame_small, c->max_frame_bytes = SL_PRODUCER_MIN_FRAME - 1)
BAD(frame_big, c->max_frame_bytes = SL_WIRE_MAX_FRAME + 1)
BAD(batch_0, c->max_batch_records = 0)
BAD(batch_big, c->max_batch_records = SL_WIRE_MAX_RECORDS + 1)
BAD(timeout_0, c->timeout_ms = 0)
BAD(attempts_0, c->max_attempts = 0)
BAD(inflight_0, c->max_inflight = 0)
BAD(queued_0, c->max_queued_records = 0)
BAD(linger_big, c->linger_us = SL_PRODUCER_MAX_LINGER + 1)
BAD(ack_mode, c->ack_mode = (enum sl_wire_ack_mode)4)
BAD(open_big, c->max_open_frames = SL_PRODUCER_MAX_OPEN + 1)

static const struct bad_config bad_configs[] = {
        {"no host", bad_no_host},
        {"no stream", bad_no_stream},
        {"empty stream", bad_empty_stream},
        {"129-byte stream", bad_long_stream},
        {"port 0", bad_port_0},
        {"frame below minimum", bad_frame_small},
        {"frame above maximum", bad_frame_big},
        {"0 records per batch", bad_batch_0},
        {"501 records per batch", bad_batch_big},
        {"timeout 0", bad_timeout_0},
        {"0 attempts", bad_attempts_0},
        {"0 in flight", bad_inflight_0},
        {"0 queued", bad_queued_0},
        {"linger above maximum", bad_linger_big},
        {"ack mode 4", bad_ack_mode},
        {"max_open_frames above maximum", bad_open_big},
};

Test(producer, rejects_bad_config_before_touching_the_network)
{
	for (size_t i = 0; i < sizeof(bad_configs) / sizeof(bad_configs[0]); i++) {
		struct sl_producer_config c;
		struct sl_producer *p = (struct sl_producer *)&c; /* must stay untouched */

		config(&c);
		bad_configs[i].set(&c);
		cr_expect_eq(sl_producer_create(&c, on_result, NULL, &p), -EINVAL, "%s",
		             bad_configs[i].what);
		cr_expect_eq(p, (struct sl_producer *)&c, "%s: ret_producer written",
		             bad_configs[i].what);
		cr_expect_neq(sl_producer_errmsg()[0], '\0', "%s: no cause", bad_configs[i].what);
	}
	sl_producer_free(NULL);
}

Test(producer, put_rejects_bad_sizes)
{
	struct sl_producer_config c;
	uint8_t data[2048], hash[16] = {0};
	char key[SL_WIRE_MAX_KEY + 1];
	uint32_t room = 1472 - SL_WIRE_HDR_BYTES - SL_WIRE_REC_HDR_BYTES;

	engine_start(NULL);
	config(&c);
	create(&c);
	memset(key, 'k', sizeof(key));
	make_data(data, 0, sizeof(data));
	cr_expect_eq(sl_producer_put(prod, key, 0, data, 4, NULL), -EINVAL);
	cr_expect_eq(sl_producer_put(prod, key, SL_WIRE_MAX_KEY + 1, data, 4, NULL), -EINVAL);
	cr_expect_eq(sl_producer_put(prod, NULL, 1, data, 4, NULL), -EINVAL);
	cr_expect_eq(sl_producer_put(prod, key, 1, NULL, 4, NULL), -EINVAL);
	cr_expect_eq(sl_producer_put_hash(prod, NULL, key, 1, data, 4, NULL), -EINVAL);
	cr_expect_eq(sl_producer_put_hash(prod, hash, key, 0, data, 4, NULL), -EINVAL);
	cr_expect_eq(sl_producer_put(prod, key, 1, data, room, NULL), -EMSGSIZE);
	cr_expect_eq(
	        sl_producer_put(prod, key, SL_WIRE_MAX_KEY, data, room - SL_WIRE_MAX_KEY + 1, NULL),
	        -EMSGSIZE);
	cr_expect_eq(sl_producer_put(prod, key, 1, data, 70000, NULL), -EMSGSIZE);
	cr_expect_eq(sl_producer_outstanding(prod), 0, "a rejected record was queued");

	/* The largest records that fit are accepted, sent and stored. */
	make_data(data, 0, room - 1);
	cr_assert_eq(sl_producer_put(prod, key, 1, data, room - 1, (void *)0), 0);
	make_data(data, 1, room - SL_WIRE_MAX_KEY);
	cr_assert_eq(sl_producer_put(prod, key, SL_WIRE_MAX_KEY, data, room - SL_WIRE_MAX_KEY,
	                             (void *)1),
	             0);
	cr_assert_eq(sl_producer_put(prod, key, 1, NULL, 0, (void *)2), 0);
	flush_all();
	engine_stop();
	cr_expect_eq(eng->max_len, 1472);
	cr_expect_eq(eng->bad_data, 1, "the empty record carries no index");
	expect_once(3, SL_WIRE_OK);
	cr_expect_eq(eng->rec[0].stores, 1);
	cr_expect_eq(eng->rec[1].stores, 1);
}

/* ---- resolve ---- */

Test(producer, resolves_stream_id_and_shard_count)
{
	struct sl_producer_config c;

	engine_start(NULL);
	config(&c);
	create(&c);
	cr_expect_eq(sl_producer_stream_id(prod), STREAM_ID);
	cr_expect_eq(sl_producer_shard_count(prod), NSHARDS);
	cr_expect_geq(sl_producer_fd(prod), 0);
	cr_expect_neq(sl_producer_id(prod), 0);
	cr_expect_eq(sl_producer_next_timeout_us(prod), -1, "idle producer has no timer");
	cr_expect_eq(sl_producer_poll(prod, -1), 0, "idle poll must return at once");
}

Test(producer, unknown_stream_is_enoent)
{
	struct sl_producer_config c;

	engine_start(NULL);
	config(&c);
	c.stream = "nope";
	cr_expect_eq(sl_producer_create(&c, on_result, NULL, &prod), -ENOENT);
	cr_expect_null(prod);
}

Test(producer, silent_engine_at_resolve_is_etimedout)
{
	struct engine_cfg e = {.silent_resolve = true};
	struct sl_producer_config c;

	engine_start(&e);
	config(&c);
	c.timeout_ms = 20;
	c.max_attempts = 3;
	cr_expect_eq(sl_producer_create(&c, on_result, NULL, &prod), -ETIMEDOUT);
	cr_expect_null(prod);
	engine_stop();
	cr_expect_eq(eng->resolves, 3);
}

Test(producer, no_listener_at_resolve_is_etimedout)
{
	struct sl_producer_config c;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int s;

	enter_netns();
	/* A port nothing listens on: the ICMP errors must not end the wait
	 * early or make create fail with another error. */
	s = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &al), 0);
	close(s);
	config(&c);
	c.port = ntohs(a.sin_port);
	c.timeout_ms = 20;
	c.max_attempts = 3;
	cr_expect_eq(sl_producer_create(&c, on_result, NULL, &prod), -ETIMEDOUT);
}

/* ---- the normal path ---- */

Test(producer, every_record_gets_one_callback_with_the_engines_seq_and_shard)
{
	struct sl_producer_config c;
	struct sl_producer_stats st;
	uint32_t n = 2000;

	engine_start(NULL);
	config(&c);
	create(&c);
	put_all("key", n, 40);
	flush_all();
	engine_stop();
	expect_once(n, SL_WIRE_OK);
	expect_engine_numbers(n);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t md5[16];
		char key[32];

		snprintf(key, sizeof(key), "key%u", i);
		sl_wire_hash_key(key, strlen(key), md5);
		cr_expect_eq(got.res[i].shard, route(md5), "record %u routed by its key's MD5", i);
	}
	/* batch_seq starts at 1, none is skipped, and each shard's records
	 * arrive in put order (expect_engine_numbers checked the frames). */
	cr_expect_eq(eng->rec_disorder, 0);
	cr_expect_neq(eng->b[1].sends, 0, "batch_seq 1 never sent");
	for (uint64_t s = 1; s <= eng->max_batch; s++)
		cr_expect_neq(eng->b[s].sends, 0, "batch_seq %lu skipped", (unsigned long)s);
	cr_expect_eq(eng->last_flags, SL_WIRE_ACK_DURABLE);
	stats(&st);
	cr_expect_eq(st.records_put, n);
	cr_expect_eq(st.records_ok, n);
	cr_expect_eq(st.records_failed, 0);
	cr_expect_eq(st.frames_sent, eng->max_batch);
	cr_expect_eq(st.acks_dropped, 0);
}

Test(producer, linger_packs_records_into_one_frame_per_shard)
{
	struct sl_producer_config c;
	struct sl_producer_stats st;
	bool used[NSHARDS] = {0};
	unsigned nused = 0, nrec = 0;

	engine_start(NULL);
	config(&c);
	c.linger_us = SL_PRODUCER_MAX_LINGER;
	create(&c);
	put_all("k", 10, 20);
	cr_expect_eq(sl_producer_poll(prod, 0), 0);
	stats(&st);
	cr_expect_eq(st.frames_sent, 0, "a frame left before its linger");
	cr_expect_gt(sl_producer_next_timeout_us(prod), 0);
	flush_all();
	engine_stop();
	expect_once(10, SL_WIRE_OK);
	expect_engine_numbers(10);
	for (uint32_t i = 0; i < 10; i++)
		if (!used[got.res[i].shard]) {
			used[got.res[i].shard] = true;
			nused++;
		}
	stats(&st);
	cr_expect_eq(st.frames_sent, nused, "one frame per shard used");
	cr_expect_eq(eng->max_batch, nused);
	for (uint64_t s = 1; s <= eng->max_batch; s++)
		nrec += eng->b[s].nrec;
	cr_expect_eq(nrec, 10);
}

Test(producer, max_open_frames_1_packs_all_shards_into_one_frame)
{
	struct sl_producer_config c;
	struct sl_producer_stats st;

	engine_start(NULL);
	config(&c);
	c.linger_us = SL_PRODUCER_MAX_LINGER;
	c.max_open_frames = 1;
	create(&c);
	put_all("k", 10, 20);
	flush_all();
	engine_stop();
	stats(&st);
	cr_expect_eq(st.frames_sent, 1);
	cr_expect_eq(eng->max_batch, 1);
	cr_expect_eq(eng->b[1].nrec, 10);
	cr_expect_gt(eng->mixed, 0, "ten random keys on one shard");
	cr_expect_eq(eng->rec_disorder, 0);
	expect_once(10, SL_WIRE_OK);
}

Test(producer, linger_expiry_sends_without_flush)
{
	struct sl_producer_config c;
	int delivered = 0;

	engine_start(NULL);
	config(&c);
	c.linger_us = 2000;
	create(&c);
	put_all("k", 3, 20);
	for (int i = 0; i < 1000 && delivered < 3; i++) {
		int rc = sl_producer_poll(prod, 10);

		cr_assert_geq(rc, 0);
		delivered += rc;
	}
	cr_expect_eq(delivered, 3);
	expect_once(3, SL_WIRE_OK);
}

Test(producer, frames_respect_byte_and_record_limits)
{
	struct sl_producer_config c;
	struct sl_producer_stats st;
	uint32_t n = 400;

	engine_start(NULL);
	config(&c);
	c.max_frame_bytes = 600;
	c.max_batch_records = 7;
	create(&c);
	for (uint32_t i = 0; i < n; i++) {
		char key[64];
		uint8_t data[256];
		size_t klen = 1 + i % 20, len = 4 + (i * 37) % 60;
		int rc;

		memset(key, 'a' + i % 26, sizeof(key));
		make_data(data, i, len);
		while ((rc = sl_producer_put(prod, key, klen, data, len, (void *)(uintptr_t)i)) ==
		       -EAGAIN)
			cr_assert_geq(sl_producer_poll(prod, 100), 0);
		cr_assert_eq(rc, 0);
	}
	flush_all();
	engine_stop();
	cr_expect_leq(eng->max_len, 600);
	cr_expect_eq(eng->max_count, 7, "some frame should fill to the record limit");
	stats(&st);
	cr_expect_geq(st.frames_sent, n / 7);
	expect_once(n, SL_WIRE_OK);
	expect_engine_numbers(n);
}

Test(producer, works_over_ipv6)
{
	struct engine_cfg e = {.family = AF_INET6};
	struct sl_producer_config c;

	engine_start(&e);
	config(&c);
	create(&c);
	put_all("k", 50, 30);
	flush_all();
	engine_stop();
	expect_once(50, SL_WIRE_OK);
	expect_engine_numbers(50);
}

Test(producer, explicit_hash_key_is_sent_and_routes)
{
	struct sl_producer_config c;
	uint8_t hash[16], data[16];

	engine_start(NULL);
	config(&c);
	create(&c);
	memset(hash, 0xff, sizeof(hash));
	make_data(data, 0, sizeof(data));
	cr_assert_eq(sl_producer_put_hash(prod, hash, "a", 1, data, sizeof(data), (void *)0), 0);
	memset(hash, 0, sizeof(hash));
	make_data(data, 1, sizeof(data));
	cr_assert_eq(sl_producer_put_hash(prod, hash, "a", 1, data, sizeof(data), (void *)1), 0);
	flush_all();
	engine_stop();
	expect_once(2, SL_WIRE_OK);
	cr_expect_eq(eng->explicit_hashes, 2);
	cr_expect_eq(got.res[0].shard, NSHARDS - 1);
	cr_expect_eq(got.res[1].shard, 0);
	expect_engine_numbers(2);
}

Test(producer, ack_none_is_final_once_sent)
{
	struct engine_cfg e = {.silent = true};
	struct sl_producer_config c;

	engine_start(&e);
	config(&c);
	c.ack_mode = SL_WIRE_ACK_NONE;
	create(&c);
	put_all("k", 20, 10);
	flush_all();
	engine_stop();
	expect_once(20, SL_WIRE_OK);
	for (uint32_t i = 0; i < 20; i++) {
		cr_expect_eq(got.res[i].seq, 0);
		cr_expect_eq(got.res[i].shard, SL_PRODUCER_NO_SHARD);
	}
	cr_expect_eq(eng->last_flags, SL_WIRE_ACK_NONE);
}

/* ---- loss and misbehaviour ---- */

Test(producer, retries_dropped_frames_with_the_same_batch_seq_and_bytes)
{
	struct engine_cfg e = {.drop_first = 3};
	struct sl_producer_config c;
	struct sl_producer_stats st;

	engine_start(&e);
	config(&c);
	c.linger_us = 0;
	c.max_batch_records = 5;
	c.timeout_ms = 30;
	create(&c);
	put_all("k", 40, 30);
	flush_all();
	engine_stop();
	expect_once(40, SL_WIRE_OK);
	expect_engine_numbers(40);
	cr_expect_eq(eng->dropped, 3);
	stats(&st);
	cr_expect_geq(st.retries, 3);
	cr_expect_eq(eng->puts, st.frames_sent + st.retries);
	cr_expect_eq(st.frames_sent, eng->max_batch);
}

Test(producer, duplicate_acks_are_ignored)
{
	struct engine_cfg e = {.dup_acks = true, .split = true};
	struct sl_producer_config c;
	struct sl_producer_stats st;

	engine_start(&e);
	config(&c);
	c.max_batch_records = 5;
	create(&c);
	put_all("k", 50, 30);
	flush_all();
	/* Let late copies arrive; none may produce a callback. */
	cr_expect_eq(sl_producer_poll(prod, 100), 0);
	usleep(50000);
	cr_expect_eq(sl_producer_poll(prod, 0), 0);
	engine_stop();
	expect_once(50, SL_WIRE_OK);
	expect_engine_numbers(50);
	stats(&st);
	cr_expect_gt(st.answers_duplicate, 0, "copies of partial answers");
	cr_expect_gt(st.acks_stale, 0, "copies of the answer that finished a frame");
	cr_expect_eq(st.acks_dropped, 0);
}

Test(producer, partial_acks_in_several_frames)
{
	struct engine_cfg e = {.split = true};
	struct sl_producer_config c;
	struct sl_producer_stats st;

	engine_start(&e);
	config(&c);
	create(&c);
	put_all("k", 300, 20);
	flush_all();
	engine_stop();
	expect_once(300, SL_WIRE_OK);
	expect_engine_numbers(300);
	stats(&st);
	cr_expect_eq(st.acks_received, 300);
	cr_expect_eq(st.answers_duplicate, 0);
}

Test(producer, garbage_datagrams_are_dropped_and_counted)
{
	struct engine_cfg e = {.garbage = true};
	struct sl_producer_config c;
	struct sl_producer_stats st;

	engine_start(&e);
	config(&c);
	c.max_batch_records = 4;
	create(&c);
	put_all("k", 40, 20);
	flush_all();
	engine_stop();
	expect_once(40, SL_WIRE_OK);
	expect_engine_numbers(40);
	stats(&st);
	/* Each burst of garbage went out before the ACK it precedes. */
	cr_expect_eq(st.acks_dropped, eng->garbage_sent);
	cr_expect_gt(eng->garbage_sent, 0);
}

Test(producer, throttled_then_ok_resends_the_whole_frame)
{
	struct engine_cfg e = {.throttle_first = 2};
	struct sl_producer_config c;
	struct sl_producer_stats st;

	engine_start(&e);
	config(&c);
	c.max_batch_records = 10;
	c.timeout_ms = 40;
	create(&c);
	put_all("k", 60, 20);
	flush_all();
	engine_stop();
	expect_once(60, SL_WIRE_OK);
	expect_engine_numbers(60);
	stats(&st);
	cr_expect_geq(st.retries, 2 * st.frames_sent);
	cr_expect_geq(st.answers_throttled, 2 * st.frames_sent);
	for (uint64_t s = 1; s <= eng->max_batch; s++)
		cr_expect_geq(eng->b[s].sends, 3);
}

Test(producer, throttled_until_attempts_run_out_fails_as_throttled)
{
	struct engine_cfg e = {.throttle_forever = true};
	struct sl_producer_config c;

	engine_start(&e);
	config(&c);
	c.timeout_ms = 20;
	c.max_attempts = 3;
	create(&c);
	put_all("k", 10, 20);
	flush_all();
	engine_stop();
	expect_once(10, SL_WIRE_THROTTLED);
	for (uint64_t s = 1; s <= eng->max_batch; s++)
		cr_expect_eq(eng->b[s].sends, 3, "batch %lu", (unsigned long)s);
}

Test(producer, pending_then_ok_is_ok)
{
	struct engine_cfg e = {.pending_then_ok = true, .pending_ms = 30};
	struct sl_producer_config c;
	struct sl_producer_stats st;

	engine_start(&e);
	config(&c);
	c.timeout_ms = 200;
	create(&c);
	put_all("k", 30, 20);
	flush_all();
	engine_stop();
	expect_once(30, SL_WIRE_OK);
	expect_engine_numbers(30);
	stats(&st);
	cr_expect_gt(st.answers_pending, 0);
}

Test(producer, pending_is_not_final)
{
	struct engine_cfg e = {.pending_forever = true};
	struct sl_producer_config c;

	engine_start(&e);
	config(&c);
	c.timeout_ms = 20;
	c.max_attempts = 3;
	create(&c);
	put_all("k", 10, 20);
	flush_all();
	engine_stop();
	expect_once(10, -ETIMEDOUT);
	for (uint64_t s = 1; s <= eng->max_batch; s++)
		cr_expect_eq(eng->b[s].sends, 3, "batch %lu", (unsigned long)s);
}

Test(producer, ok_below_the_requested_level_is_not_final)
{
	struct engine_cfg e = {.ack_level = SL_WIRE_ACK_RECEIVED};
	struct sl_producer_config c;

	engine_start(&e);
	config(&c);
	c.timeout_ms = 20;
	c.max_attempts = 2;
	create(&c);
	put_all("k", 5, 20);
	flush_all();
	expect_once(5, -ETIMEDOUT);
}

Test(producer, ok_at_a_higher_level_is_final)
{
	struct engine_cfg e = {.ack_level = SL_WIRE_ACK_DURABLE};
	struct sl_producer_config c;

	engine_start(&e);
	config(&c);
	c.ack_mode = SL_WIRE_ACK_RECEIVED;
	create(&c);
	put_all("k", 5, 20);
	flush_all();
	engine_stop();
	expect_once(5, SL_WIRE_OK);
	expect_engine_numbers(5);
}

Test(producer, error_status_is_final_without_retry)
{
	struct engine_cfg e = {.fail_status = SL_WIRE_TOO_LARGE};
	struct sl_producer_config c;
	struct sl_producer_stats st;

	engine_start(&e);
	config(&c);
	c.timeout_ms = 10000; /* only a lost datagram could cause a retry */
	create(&c);
	for (uint32_t i = 0; i < 20; i++)
		cr_assert_eq(put_rec(i % 2 ? "x" : "k", i, 20), 0);
	flush_all();
	engine_stop();
	for (uint32_t i = 0; i < 20; i++) {
		cr_assert_eq(got.calls[i], 1);
		cr_expect_eq(got.res[i].status, i % 2 ? SL_WIRE_TOO_LARGE : SL_WIRE_OK, "record %u",
		             i);
		if (i % 2) {
			cr_expect_eq(got.res[i].seq, 0);
			cr_expect_neq(got.res[i].shard, SL_PRODUCER_NO_SHARD);
		}
	}
	stats(&st);
	cr_expect_eq(st.retries, 0);
	cr_expect_eq(st.records_failed, 10);
	cr_expect_eq(st.records_ok, 10);
}

Test(producer, silent_engine_fails_records_with_etimedout_after_max_attempts)
{
	struct engine_cfg e = {.silent = true};
	struct sl_producer_config c;
	struct sl_producer_stats st;

	engine_start(&e);
	config(&c);
	c.timeout_ms = 10;
	c.max_attempts = 4;
	c.max_batch_records = 3;
	create(&c);
	put_all("k", 10, 20);
	flush_all();
	engine_stop();
	expect_once(10, -ETIMEDOUT);
	for (uint32_t i = 0; i < 10; i++)
		cr_expect_eq(got.res[i].shard, SL_PRODUCER_NO_SHARD);
	stats(&st);
	cr_expect_eq(st.frames_sent, 4);
	cr_expect_eq(st.retries, 3 * 4);
	cr_expect_eq(st.records_failed, 10);
	for (uint64_t s = 1; s <= 4; s++)
		cr_expect_eq(eng->b[s].sends, 4, "batch %lu", (unsigned long)s);
	cr_expect_eq(eng->mismatch, 0, "a retry was not byte-identical");
}

/* ---- limits ---- */

Test(producer, put_returns_eagain_at_max_inflight)
{
	struct engine_cfg e = {.silent = true};
	struct sl_producer_config c;
	struct sl_producer_stats st;

	engine_start(&e);
	config(&c);
	c.max_inflight = 2;
	c.max_batch_records = 1;
	c.linger_us = 0;
	c.timeout_ms = 20;
	c.max_attempts = 2;
	c.max_open_frames = 1; /* else the fourth could open a frame for its shard */
	create(&c);
	/* Two sealed frames and a full open one; the fourth needs a frame. */
	for (uint32_t i = 0; i < 3; i++)
		cr_assert_eq(put_rec("k", i, 10), 0);
	cr_expect_eq(put_rec("k", 3, 10), -EAGAIN);
	cr_expect_eq(sl_producer_poll(prod, 0), 0);
	stats(&st);
	cr_expect_eq(st.frames_sent, 2);
	cr_expect_eq(put_rec("k", 3, 10), -EAGAIN, "still 2 frames in flight");
	cr_expect_eq(sl_producer_outstanding(prod), 3);
	/* Room comes back when frames end (here, by timing out). */
	put_range("k", 3, 6, 10);
	flush_all();
	expect_once(6, -ETIMEDOUT);
}

Test(producer, put_returns_eagain_at_max_queued_records)
{
	struct engine_cfg e = {.silent = true};
	struct sl_producer_config c;

	engine_start(&e);
	config(&c);
	c.max_queued_records = 5;
	c.linger_us = SL_PRODUCER_MAX_LINGER;
	c.max_attempts = 1000; /* nothing fails during the test */
	create(&c);
	for (uint32_t i = 0; i < 5; i++)
		cr_assert_eq(put_rec("k", i, 10), 0);
	cr_expect_eq(put_rec("k", 5, 10), -EAGAIN);
	cr_expect_eq(sl_producer_poll(prod, 0), 0);
	cr_expect_eq(put_rec("k", 5, 10), -EAGAIN, "lingering records are still queued");
	/* Sent records no longer count as queued. */
	cr_expect_eq(sl_producer_flush(prod, 0), 5);
	cr_expect_eq(put_rec("k", 5, 10), 0);
	cr_expect_eq(sl_producer_flush(prod, 50), 6, "nothing answers: flush times out");
}

/* ---- callbacks and teardown ---- */

static void put_from_callback(void *arg, const struct sl_put_result *r)
{
	uintptr_t i = (uintptr_t)r->user;

	on_result(arg, r);
	got.poll_rc = sl_producer_poll(prod, 0);
	if (got.follow_ups > 0 && i < 50) {
		got.follow_ups--;
		cr_assert_eq(put_rec("k", (uint32_t)(i + 50), 20), 0);
	}
}

Test(producer, callback_may_put_but_not_poll)
{
	struct sl_producer_config c;

	engine_start(NULL);
	config(&c);
	cr_assert_eq(sl_producer_create(&c, put_from_callback, NULL, &prod), 0);
	got.follow_ups = 50;
	put_all("k", 50, 20);
	flush_all();
	engine_stop();
	cr_expect_eq(got.poll_rc, -EBUSY);
	expect_once(100, SL_WIRE_OK);
	expect_engine_numbers(100);
}

Test(producer, free_drops_outstanding_records_without_callbacks)
{
	struct engine_cfg e = {.silent = true};
	struct sl_producer_config c;

	engine_start(&e);
	config(&c);
	c.linger_us = 0;
	create(&c);
	put_range("k", 0, 5, 20);
	cr_expect_eq(sl_producer_poll(prod, 0), 0);
	put_range("k", 5, 8, 20);
	sl_producer_free(prod);
	prod = NULL;
	cr_expect_eq(got.total, 0);
}

/* ---- per-shard batching ---- */

/* Puts record i with the explicit hash key v. */
static int put_hash_rec(uint32_t i, u128 v)
{
	uint8_t h[16], data[16];

	hash_of(v, h);
	make_data(data, i, sizeof(data));
	return sl_producer_put_hash(prod, h, "h", 1, data, sizeof(data), (void *)(uintptr_t)i);
}

/* Puts record i to the start of shard k. */
static void put_to_shard(uint32_t i, uint32_t k)
{
	cr_assert_eq(put_hash_rec(i, even_start(k, eng->nshards)), 0, "put %u", i);
}

static uint64_t frames_sent(void)
{
	struct sl_producer_stats st;

	stats(&st);
	return st.frames_sent;
}

Test(producer, frames_hold_one_shards_records_in_put_order)
{
	struct engine_cfg e = {.nshards = 16};
	struct sl_producer_config c;
	uint32_t n = 3000;

	engine_start(&e);
	config(&c);
	create(&c);
	cr_expect_eq(sl_producer_shard_count(prod), 16);
	put_all("key", n, 40);
	flush_all();
	engine_stop();
	expect_once(n, SL_WIRE_OK);
	expect_engine_numbers(n);
	cr_expect_eq(eng->rec_disorder, 0, "a shard's records were stored out of put order");
	/* 21 such records fill a frame: frames are full but for a tail per shard. */
	cr_expect_leq(frames_sent(), n / 21 + 16 + 16);
}

/* Records at both sides of every shard boundary of n shards land where
 * the engine routes them, in frames of one shard: the producer's
 * arithmetic agrees with even_start() exactly (at start(k) the shortcut
 * floor(h * n / 2^128) would say k - 1 for most n). */
static void boundaries(uint32_t n)
{
	struct engine_cfg e = {.nshards = n};
	struct sl_producer_config c;
	uint32_t i = 0, want[2 * MAXSHARDS + 2];

	engine_start(&e);
	config(&c);
	c.linger_us = SL_PRODUCER_MAX_LINGER;
	create(&c);
	for (uint32_t k = 1; k < n; k++) {
		want[i] = k - 1;
		cr_assert_eq(put_hash_rec(i++, even_start(k, n) - 1), 0);
		want[i] = k;
		cr_assert_eq(put_hash_rec(i++, even_start(k, n)), 0);
	}
	want[i] = 0;
	cr_assert_eq(put_hash_rec(i++, 0), 0);
	want[i] = n - 1;
	cr_assert_eq(put_hash_rec(i++, ~(u128)0), 0);
	flush_all();
	engine_stop();
	expect_once(i, SL_WIRE_OK);
	expect_engine_numbers(i);
	for (uint32_t j = 0; j < i; j++)
		cr_expect_eq(got.res[j].shard, want[j], "record %u", j);
	cr_expect_eq(frames_sent(), n, "one frame per shard");
}

Test(producer, routes_like_the_engine_at_boundaries_of_7_shards)
{
	boundaries(7);
}

Test(producer, routes_like_the_engine_at_boundaries_of_64_shards)
{
	boundaries(64);
}

Test(producer, one_shard_shares_one_frame)
{
	struct engine_cfg e = {.nshards = 1};
	struct sl_producer_config c;

	engine_start(&e);
	config(&c);
	c.linger_us = SL_PRODUCER_MAX_LINGER;
	create(&c);
	put_all("k", 10, 20);
	flush_all();
	engine_stop();
	expect_once(10, SL_WIRE_OK);
	expect_engine_numbers(10);
	cr_expect_eq(frames_sent(), 1);
	cr_expect_eq(eng->b[1].nrec, 10);
}

Test(producer, each_open_frame_lingers_on_its_own)
{
	struct sl_producer_config c;
	int64_t t_b, t1, t2;

	engine_start(NULL);
	config(&c);
	c.linger_us = 100000;
	create(&c);
	put_to_shard(0, 0);
	usleep(50000);
	t_b = sl_mono_ns();
	put_to_shard(1, 1);
	while (frames_sent() == 0)
		cr_assert_geq(sl_producer_poll(prod, 5), 0);
	t1 = sl_mono_ns();
	cr_expect_eq(frames_sent(), 1, "shard 1's frame left with shard 0's");
	cr_expect_lt(t1 - t_b, 100000000, "shard 0's frame waited for shard 1's linger");
	while (frames_sent() < 2)
		cr_assert_geq(sl_producer_poll(prod, 5), 0);
	t2 = sl_mono_ns();
	cr_expect_geq(t2 - t_b, 100000000, "shard 1's frame left before its linger");
	flush_all();
	engine_stop();
	expect_once(2, SL_WIRE_OK);
	expect_engine_numbers(2);
	cr_expect_eq(eng->b[1].nrec, 1);
	cr_expect_eq(eng->b[2].nrec, 1);
	cr_expect_eq(got.res[0].shard, 0);
	cr_expect_eq(got.res[1].shard, 1);
}

Test(producer, max_open_frames_seals_the_oldest)
{
	struct sl_producer_config c;

	engine_start(NULL);
	config(&c);
	c.linger_us = SL_PRODUCER_MAX_LINGER;
	c.max_open_frames = 2;
	create(&c);
	put_to_shard(0, 0); /* batch 1 */
	put_to_shard(1, 1); /* batch 2 */
	put_to_shard(2, 0);
	cr_expect_eq(sl_producer_poll(prod, 0), 0);
	cr_expect_eq(frames_sent(), 0, "two open frames are within the limit");
	put_to_shard(3, 2); /* batch 3; seals batch 1, the oldest */
	cr_expect_geq(sl_producer_poll(prod, 0), 0);
	cr_expect_eq(frames_sent(), 1);
	put_to_shard(4, 1);
	put_to_shard(5, 0); /* batch 4; seals batch 2 */
	cr_expect_geq(sl_producer_poll(prod, 0), 0);
	cr_expect_eq(frames_sent(), 2);
	flush_all();
	engine_stop();
	expect_once(6, SL_WIRE_OK);
	expect_engine_numbers(6);
	cr_expect_eq(frames_sent(), 4);
	cr_expect_eq(eng->b[1].nrec, 2, "records 0 and 2");
	cr_expect_eq(eng->b[2].nrec, 2, "records 1 and 4");
	cr_expect_eq(eng->b[3].nrec, 1);
	cr_expect_eq(eng->b[4].nrec, 1);
	cr_expect_eq(eng->rec[2].seq, eng->rec[0].seq + 1);
	cr_expect_eq(eng->rec[4].seq, eng->rec[1].seq + 1);
	cr_expect_eq(eng->rec[5].seq, eng->rec[2].seq + 1);
	/* Each floor is the lowest batch open or unanswered at its seal. */
	cr_expect_eq(eng->b[1].hdr.floor, 1);
	cr_expect_leq(eng->b[2].hdr.floor, 2);
	cr_expect_leq(eng->b[3].hdr.floor, 3);
}

Test(producer, open_frame_limit_returns_eagain_at_max_inflight)
{
	struct engine_cfg e = {.silent = true};
	struct sl_producer_config c;

	engine_start(&e);
	config(&c);
	c.linger_us = SL_PRODUCER_MAX_LINGER;
	c.max_open_frames = 2;
	c.max_inflight = 1;
	c.timeout_ms = 20;
	c.max_attempts = 2;
	create(&c);
	put_to_shard(0, 0);
	put_to_shard(1, 1);
	put_to_shard(2, 2); /* seals shard 0's frame: max_inflight reached */
	cr_expect_eq(sl_producer_poll(prod, 0), 0);
	cr_expect_eq(frames_sent(), 1);
	/* A fourth shard needs the oldest sealed, and there is no room. */
	cr_expect_eq(put_hash_rec(3, even_start(3, NSHARDS)), -EAGAIN);
	cr_expect_eq(sl_producer_outstanding(prod), 3, "EAGAIN changed something");
	/* Shards with an open frame still take records. */
	put_to_shard(3, 1);
	put_to_shard(4, 2);
	flush_all();
	expect_once(5, -ETIMEDOUT);
	engine_stop();
	cr_expect_eq(eng->mixed, 0);
	cr_expect_eq(eng->below_floor, 0);
}

Test(producer, floor_stays_below_open_frames)
{
	struct sl_producer_config c;

	engine_start(NULL);
	config(&c);
	c.linger_us = SL_PRODUCER_MAX_LINGER;
	c.max_batch_records = 2;
	create(&c);
	put_to_shard(0, 0); /* batch 1 stays open */
	for (uint32_t i = 1; i <= 4; i++)
		put_to_shard(i, 1); /* batches 2 and 3, full: sealed */
	while (got.total < 4)
		cr_assert_geq(sl_producer_poll(prod, 10), 0);
	put_to_shard(5, 1);
	put_to_shard(6, 1); /* batch 4, after 2 and 3 are final */
	flush_all();
	engine_stop();
	expect_once(7, SL_WIRE_OK);
	expect_engine_numbers(7);
	for (uint64_t s = 2; s <= 4; s++)
		cr_expect_eq(eng->b[s].hdr.floor, 1, "batch %lu: batch 1 was still open",
		             (unsigned long)s);
	cr_expect_eq(eng->b[1].nrec, 1);
	cr_expect_eq(eng->b[1].hdr.floor, 1);
}

Test(producer, retried_frames_stay_above_every_floor)
{
	struct engine_cfg e = {.drop_first = 10, .nshards = 16};
	struct sl_producer_config c;

	engine_start(&e);
	config(&c);
	c.linger_us = 200;
	c.max_batch_records = 4;
	c.timeout_ms = 30;
	create(&c);
	/* In waves, so that retries of the dropped frames meet later frames
	 * whose floors rose as earlier ones ended. */
	for (uint32_t w = 0; w < 10; w++) {
		put_range("k", w * 40, (w + 1) * 40, 30);
		usleep(10000);
		cr_assert_geq(sl_producer_poll(prod, 0), 0);
	}
	flush_all();
	engine_stop();
	expect_once(400, SL_WIRE_OK);
	expect_engine_numbers(400);
	cr_expect_gt(eng->max_floor, 10, "floors never rose above the dropped frames");
}

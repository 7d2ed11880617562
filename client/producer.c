/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The producer client (<sluice/client.h>): records go into frames, frames
 * into UDP datagrams, ACKs back into per-record callbacks.
 *
 * Records are batched per shard, as the Kinesis Producer Library
 * aggregates them: the engine splits a frame into one part per shard, and
 * each part costs it a storage batch, a retry-memory entry and an ACK, so
 * a frame of one shard's records is several times cheaper to ingest than
 * one of mixed records (~550k records/s a core with random keys over 16
 * shards in mixed frames, 900k+ with single-shard frames). The producer
 * maps a hash key to a shard as the engine's even split does
 * (sl_hashkey_even_shard(), common/hashkey.h), from the shard count RESOLVED reported; with 0 or 1 shards every record
 * shares one open frame, as before.
 *
 * A frame moves through open -> ready -> in flight -> free. Invariants:
 * - at most one frame per shard is open, at most max_open of them in all;
 *   an open frame always holds at least one record and is on the `oldest`
 *   list, ordered by when it opened (so its linger deadlines are sorted);
 * - nsealed (ready + in flight) <= max_inflight, so at most max_inflight +
 *   max_open frames ever exist and `all` holds every one of them for the
 *   destructor;
 * - batch_seq is assigned when a frame opens; frames of one shard are
 *   sealed in batch_seq order and the ready queue is FIFO, so each shard's
 *   frames go out in batch_seq order (retries aside). Across shards they
 *   need not: a frame opened earlier may seal later. The floor stays right
 *   because it is the lowest batch_seq of any live frame, open ones
 *   included (floor_of());
 * - an in-flight frame is in the batch_seq hash table and keeps its encoded
 *   bytes untouched until every record in it is final: a retry resends
 *   the very same datagram;
 * - a record is final exactly once (rec.final), and only then does its
 *   callback run and `outstanding` drop.
 *
 * Nothing here blocks except create's RESOLVE exchange and the waits in
 * poll/flush that the caller asked for. After the frame pool has grown to
 * its high-water mark nothing allocates: put encodes straight into the open
 * frame's buffer, poll moves whole bursts with sendmmsg/recvmmsg.
 */
#include <sluice/client.h>

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "compiler.h"
#include "err.h"
#include "hashkey.h"
#include "wire.h"

#define TX_BURST       64
#define RX_BURST       32
#define RX_BURSTS      16 /* per poll, so a flood of ACKs cannot starve sends */
#define RESOLVE_TRIES  5u
#define SOCK_BUF_BYTES (4 << 20)
#define NS_PER_MS      1000000
#define NS_PER_US      1000
#define NEVER          INT64_MAX

struct rec {
	void *user;
	uint16_t last; /* last non-final answer: 0, PENDING or THROTTLED */
	bool final;
};

struct frame {
	struct frame *next;  /* ready queue or free list */
	struct frame *older; /* open: the `oldest` list, by open time */
	struct frame *newer;
	uint8_t *buf;    /* max_frame_bytes */
	struct rec *rec; /* rec_cap */
	uint64_t batch_seq;
	int64_t opened;   /* when the first record was put (linger) */
	int64_t deadline; /* in flight: resend or give up at this time */
	int64_t backoff;  /* next THROTTLED wait */
	uint32_t len;
	uint32_t shard; /* open: its slot in p->open */
	uint16_t nrec;
	uint16_t nfinal;
	uint16_t attempts; /* sends so far */
	bool throttled;    /* deadline is a throttle backoff: PENDING does not move it */
	bool live;         /* opened and not yet returned to the free list */
};

struct sl_producer {
	struct sl_producer_config cfg; /* host and stream cleared: not kept */
	sl_put_cb *cb;
	void *cb_arg;
	int fd;
	uint64_t producer_id;
	uint32_t stream_id;
	uint32_t shard_count;
	uint32_t nroute;   /* open frame slots: shard_count, or 1 when max_open is 1 */
	uint32_t max_open; /* open frames at most: max_open_frames, resolved */
	uint16_t rec_cap;  /* records per frame: batch limit and what bytes allow */
	uint64_t next_batch_seq;
	int64_t linger_ns;
	int64_t timeout_ns;
	int64_t backoff_max_ns;

	struct frame **open;  /* nroute slots: each shard's open frame or NULL */
	struct frame *oldest; /* open frames, oldest first */
	struct frame *newest;
	uint32_t nopen;      /* open frames */
	uint32_t nopen_full; /* open frames with rec_cap records (no room to seal) */
	struct frame *ready_head;
	struct frame *ready_tail;
	struct frame *free_list;
	struct frame **all; /* every frame allocated, max_inflight + max_open slots */
	uint32_t nall;
	struct frame **table; /* in-flight frames by batch_seq, linear probing */
	uint32_t table_mask;
	struct frame **due; /* scratch for the timer scan, max_inflight */

	uint32_t nsealed;      /* ready + in flight */
	uint32_t queued;       /* records in the open and ready frames */
	uint32_t outstanding;  /* records put and not final */
	int64_t next_deadline; /* no in-flight deadline is earlier */
	bool tx_blocked;       /* the socket said EAGAIN: wait for POLLOUT */
	bool flushing;         /* seal open frames whatever their linger */
	unsigned in_cb;
	int delivered; /* callbacks in this do_work */
	struct sl_producer_stats st;

	uint8_t *rx_buf;
	uint32_t rx_cap;
	struct mmsghdr rx_msgs[RX_BURST];
	struct iovec rx_iov[RX_BURST];
	struct mmsghdr tx_msgs[TX_BURST];
	struct iovec tx_iov[TX_BURST];
	struct frame *tx_frames[TX_BURST];
};

void sl_producer_config_default(struct sl_producer_config *c)
{
	*c = (struct sl_producer_config){
	        .host = "127.0.0.1",
	        .port = SL_WIRE_DEFAULT_PORT,
	        .stream = NULL,
	        .linger_us = 500,
	        .max_frame_bytes = 1472,
	        .max_batch_records = SL_WIRE_MAX_RECORDS,
	        .timeout_ms = 100,
	        .max_attempts = 20,
	        .max_inflight = 256,
	        .max_queued_records = 65536,
	        .ack_mode = SL_WIRE_ACK_DURABLE,
	        .max_open_frames = 0,
	};
}

const char *sl_producer_errmsg(void)
{
	return sl_errmsg();
}

/* ---- configuration ---- */

#define CHECK_RANGE(field, lo, hi)                                                                 \
	do {                                                                                       \
		if (c->field < (lo) || c->field > (hi))                                            \
			return sl_err_set(-EINVAL, #field "=%lu outside %lu..%lu",                 \
			                  (unsigned long)c->field, (unsigned long)(lo),            \
			                  (unsigned long)(hi));                                    \
	} while (0)

static int check_config(const struct sl_producer_config *c)
{
	size_t n;

	if (!c)
		return sl_err_set(-EINVAL, "no config");
	if (!c->host || !c->host[0])
		return sl_err_set(-EINVAL, "host not set");
	if (!c->stream)
		return sl_err_set(-EINVAL, "stream not set");
	n = strlen(c->stream);
	if (n == 0 || n > SL_WIRE_MAX_NAME)
		return sl_err_set(-EINVAL, "stream name of %zu bytes outside 1..%u", n,
		                  SL_WIRE_MAX_NAME);
	CHECK_RANGE(port, 1u, 65535u);
	if (c->linger_us > SL_PRODUCER_MAX_LINGER)
		return sl_err_set(-EINVAL, "linger_us=%u above %u", c->linger_us,
		                  SL_PRODUCER_MAX_LINGER);
	CHECK_RANGE(max_frame_bytes, (uint32_t)SL_PRODUCER_MIN_FRAME, (uint32_t)SL_WIRE_MAX_FRAME);
	CHECK_RANGE(max_batch_records, 1u, (uint32_t)SL_WIRE_MAX_RECORDS);
	CHECK_RANGE(timeout_ms, 1u, SL_PRODUCER_MAX_TIMEOUT);
	CHECK_RANGE(max_attempts, 1u, SL_PRODUCER_MAX_ATTEMPTS);
	CHECK_RANGE(max_inflight, 1u, SL_PRODUCER_MAX_INFLIGHT);
	CHECK_RANGE(max_queued_records, 1u, SL_PRODUCER_MAX_QUEUED);
	if ((unsigned)c->ack_mode > SL_WIRE_ACK_DURABLE)
		return sl_err_set(-EINVAL, "ack_mode=%u outside 0..3", (unsigned)c->ack_mode);
	if (c->max_open_frames > SL_PRODUCER_MAX_OPEN)
		return sl_err_set(-EINVAL, "max_open_frames=%u above %u", c->max_open_frames,
		                  SL_PRODUCER_MAX_OPEN);
	return 0;
}

/* ---- in-flight table: open addressing on batch_seq ---- */

static struct frame *table_find(const struct sl_producer *p, uint64_t batch_seq)
{
	for (uint32_t i = (uint32_t)batch_seq & p->table_mask;; i = (i + 1) & p->table_mask) {
		struct frame *f = p->table[i];

		if (!f || f->batch_seq == batch_seq)
			return f;
	}
}

static void table_insert(struct sl_producer *p, struct frame *f)
{
	uint32_t i = (uint32_t)f->batch_seq & p->table_mask;

	/* The table has at least twice as many slots as frames in flight. */
	while (p->table[i])
		i = (i + 1) & p->table_mask;
	p->table[i] = f;
}

/* Removes f and shifts back the entries after it whose probe run crossed
 * its slot, so lookups never need tombstones. */
static void table_remove(struct sl_producer *p, const struct frame *f)
{
	uint32_t m = p->table_mask, i = (uint32_t)f->batch_seq & m, j;

	while (p->table[i] != f)
		i = (i + 1) & m;
	for (j = (i + 1) & m; p->table[j]; j = (j + 1) & m) {
		uint32_t home = (uint32_t)p->table[j]->batch_seq & m;

		/* Entry j may move to i unless its home lies cyclically in (i, j]. */
		if (((j - home) & m) >= ((j - i) & m)) {
			p->table[i] = p->table[j];
			i = j;
		}
	}
	p->table[i] = NULL;
}

/* ---- frames ---- */

static struct frame *frame_get(struct sl_producer *p)
{
	struct frame *f = p->free_list;
	size_t recs = (size_t)p->rec_cap * sizeof(struct rec);

	if (f) {
		p->free_list = f->next;
		return f;
	}
	/* Called to open a frame while nopen < max_open, and nsealed <=
	 * max_inflight: the pool never needs more than max_inflight +
	 * max_open. */
	assert(p->nall < p->cfg.max_inflight + p->max_open);
	f = malloc(sizeof(*f) + recs + p->cfg.max_frame_bytes);
	if (!f)
		return NULL;
	f->rec = (struct rec *)(f + 1);
	f->buf = (uint8_t *)f->rec + recs;
	p->all[p->nall++] = f;
	return f;
}

static void frame_put(struct sl_producer *p, struct frame *f)
{
	f->live = false;
	f->next = p->free_list;
	p->free_list = f;
}

static void arm(struct sl_producer *p, int64_t deadline)
{
	if (deadline < p->next_deadline)
		p->next_deadline = deadline;
}

/* The PUT floor: the lowest batch_seq this producer may still send. A
 * frame is live from open to final, so open frames (which may seal after
 * frames opened later) hold the floor down too. Frames are at most
 * max_inflight + max_open, so a scan per sealed frame is cheap next to
 * encoding its records. */
static uint64_t floor_of(const struct sl_producer *p)
{
	uint64_t floor = p->next_batch_seq;

	for (uint32_t i = 0; i < p->nall; i++)
		if (p->all[i]->live && p->all[i]->batch_seq < floor)
			floor = p->all[i]->batch_seq;
	return floor;
}

/* Takes open frame f off the `oldest` list and its shard's slot. */
static void unlink_open(struct sl_producer *p, struct frame *f)
{
	if (f->older)
		f->older->newer = f->newer;
	else
		p->oldest = f->newer;
	if (f->newer)
		f->newer->older = f->older;
	else
		p->newest = f->older;
	p->open[f->shard] = NULL;
	p->nopen--;
	if (f->nrec == p->rec_cap)
		p->nopen_full--;
}

/* Open frame f goes to the ready queue. nsealed < max_inflight. */
static void seal(struct sl_producer *p, struct frame *f)
{
	unlink_open(p, f);
	sl_wire_set_floor(f->buf, floor_of(p));
	sl_wire_finish(f->buf, f->len, f->nrec);
	f->next = NULL;
	if (p->ready_tail)
		p->ready_tail->next = f;
	else
		p->ready_head = f;
	p->ready_tail = f;
	p->nsealed++;
}

/* Records the final result of record i of f and runs the callback. */
static void finish_rec(struct sl_producer *p, struct frame *f, unsigned i, int status,
                       uint32_t shard, uint64_t seq)
{
	struct rec *r = &f->rec[i];

	r->final = true;
	f->nfinal++;
	p->outstanding--;
	if (status == SL_WIRE_OK)
		p->st.records_ok++;
	else
		p->st.records_failed++;
	p->delivered++;
	if (p->cb) {
		struct sl_put_result res = {
		        .user = r->user, .seq = seq, .shard = shard, .status = status};

		p->in_cb++;
		p->cb(p->cb_arg, &res);
		p->in_cb--;
	}
}

/* f is in flight and every record in it is final. */
static void frame_done(struct sl_producer *p, struct frame *f)
{
	table_remove(p, f);
	p->nsealed--;
	frame_put(p, f);
}

/* f used its last attempt: its unanswered records fail. */
static void frame_fail(struct sl_producer *p, struct frame *f)
{
	for (unsigned i = 0; i < f->nrec; i++) {
		if (f->rec[i].final)
			continue;
		finish_rec(p, f, i,
		           f->rec[i].last == SL_WIRE_THROTTLED ? SL_WIRE_THROTTLED : -ETIMEDOUT,
		           SL_PRODUCER_NO_SHARD, 0);
	}
	frame_done(p, f);
}

/* ---- put ----
 *
 * Measured: ~0.4 µs per put of a 100-byte record (MD5 of the key included,
 * most of it), ~0.7-1.0 µs per record end to end with 11 records a frame
 * (`sluice-put --ack none --count 2000000 --size 100 --keys 1024` to a
 * loopback sink, 2-core VM): the sendmmsg per frame is the rest.
 */

/* Opens a frame for shard slot `shard`, newest on the `oldest` list.
 * nopen < max_open. */
static struct frame *open_frame(struct sl_producer *p, uint32_t shard)
{
	struct frame *f = frame_get(p);

	if (!f)
		return NULL;
	f->batch_seq = p->next_batch_seq++;
	f->len = sl_wire_begin(f->buf, SL_WIRE_PUT, (uint16_t)p->cfg.ack_mode, p->producer_id,
	                       f->batch_seq, p->stream_id);
	f->nrec = 0;
	f->nfinal = 0;
	f->attempts = 0;
	f->throttled = false;
	f->live = true;
	f->opened = sl_mono_ns();
	f->shard = shard;
	f->newer = NULL;
	f->older = p->newest;
	if (p->newest)
		p->newest->newer = f;
	else
		p->oldest = f;
	p->newest = f;
	p->open[shard] = f;
	p->nopen++;
	return f;
}

static int put(struct sl_producer *p, const uint8_t hash_key[16], bool explicit_hash,
               const void *key, size_t key_len, const void *data, size_t len, void *user)
{
	struct frame *f;
	uint32_t need, shard;
	int rc;

	if (!p || !key || key_len == 0 || key_len > SL_WIRE_MAX_KEY || (!data && len))
		return -EINVAL;
	/* max_frame_bytes >= SL_PRODUCER_MIN_FRAME: no underflow. */
	if (len > p->cfg.max_frame_bytes ||
	    key_len + len > p->cfg.max_frame_bytes - SL_WIRE_HDR_BYTES - SL_WIRE_REC_HDR_BYTES)
		return -EMSGSIZE;
	if (p->queued >= p->cfg.max_queued_records)
		return -EAGAIN;
	need = sl_wire_rec_bytes((uint16_t)key_len, (uint32_t)len);
	shard = p->nroute > 1 ? sl_hashkey_even_shard(sl_hashkey_value(hash_key), p->nroute) : 0;
	f = p->open[shard];
	/* At most one seal per put, and only when it frees what the record
	 * needs: its shard's full frame, or else (a new frame at the open
	 * limit) the oldest open frame. */
	if (f && (f->nrec == p->rec_cap || p->cfg.max_frame_bytes - f->len < need)) {
		if (p->nsealed >= p->cfg.max_inflight)
			return -EAGAIN;
		seal(p, f);
		f = NULL;
	} else if (!f && p->nopen >= p->max_open) {
		if (p->nsealed >= p->cfg.max_inflight)
			return -EAGAIN;
		seal(p, p->oldest);
	}
	if (!f) {
		f = open_frame(p, shard);
		if (!f)
			return -ENOMEM;
	}
	rc = sl_wire_put_add(f->buf, p->cfg.max_frame_bytes, &f->len, key, (uint16_t)key_len,
	                     hash_key, explicit_hash, data, (uint32_t)len);
	assert(rc == 0); /* sizes and room were checked above */
	(void)rc;
	f->rec[f->nrec++] = (struct rec){.user = user};
	p->queued++;
	p->outstanding++;
	p->st.records_put++;
	/* A full frame has nothing to linger for; one that cannot seal yet
	 * is sealed by the next do_work with room. */
	if (f->nrec == p->rec_cap) {
		p->nopen_full++;
		if (p->nsealed < p->cfg.max_inflight)
			seal(p, f);
	}
	return 0;
}

int sl_producer_put(struct sl_producer *p, const void *key, size_t key_len, const void *data,
                    size_t len, void *user)
{
	uint8_t hash[16];

	if (!key || key_len == 0 || key_len > SL_WIRE_MAX_KEY)
		return -EINVAL;
	sl_wire_hash_key(key, key_len, hash);
	return put(p, hash, false, key, key_len, data, len, user);
}

int sl_producer_put_hash(struct sl_producer *p, const uint8_t hash_key[16], const void *key,
                         size_t key_len, const void *data, size_t len, void *user)
{
	if (!hash_key)
		return -EINVAL;
	return put(p, hash_key, true, key, key_len, data, len, user);
}

/* ---- sending ---- */

/*
 * Hands frames fs[0..n) to the kernel, in order, in bursts. Returns how
 * many it handed over; it stops early only when the socket buffer is full
 * (tx_blocked). A datagram the kernel refuses for another reason (an
 * ICMP error reported on this send, ENOBUFS, a firewall's EPERM, EMSGSIZE
 * above the path MTU) counts as sent and lost: its timeout retries it.
 */
static unsigned send_frames(struct sl_producer *p, struct frame *const *fs, unsigned n)
{
	unsigned done = 0;

	while (done < n) {
		unsigned m = SL_MIN(n - done, (unsigned)TX_BURST);
		int rc;

		for (unsigned j = 0; j < m; j++) {
			p->tx_iov[j] = (struct iovec){.iov_base = fs[done + j]->buf,
			                              .iov_len = fs[done + j]->len};
			p->tx_msgs[j] = (struct mmsghdr){
			        .msg_hdr = {.msg_iov = &p->tx_iov[j], .msg_iovlen = 1}};
		}
		rc = sendmmsg(p->fd, p->tx_msgs, m, MSG_DONTWAIT);
		if (rc > 0) {
			done += (unsigned)rc;
			continue;
		}
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
			p->tx_blocked = true;
			break;
		}
		p->st.send_errors++;
		done++;
	}
	return done;
}

/* First send of f went out. */
static void sent_first(struct sl_producer *p, struct frame *f, int64_t now)
{
	p->queued -= f->nrec;
	p->st.frames_sent++;
	f->attempts = 1;
	if (p->cfg.ack_mode == SL_WIRE_ACK_NONE) {
		/* Nothing will answer: handed to the kernel is final. */
		for (unsigned i = 0; i < f->nrec; i++)
			finish_rec(p, f, i, SL_WIRE_OK, SL_PRODUCER_NO_SHARD, 0);
		p->nsealed--;
		frame_put(p, f);
		return;
	}
	f->deadline = now + p->timeout_ns;
	f->backoff = SL_MAX(p->timeout_ns / 4, NS_PER_MS);
	arm(p, f->deadline);
	table_insert(p, f);
}

/* Sends the ready queue, oldest first, until it is empty or the socket is
 * full. */
static void send_ready(struct sl_producer *p, int64_t now)
{
	while (p->ready_head && !p->tx_blocked) {
		struct frame *f = p->ready_head;
		unsigned n = 0, k;

		for (; f && n < TX_BURST; f = f->next)
			p->tx_frames[n++] = f;
		k = send_frames(p, p->tx_frames, n);
		/* Unlink the k sent frames before any callback can put and
		 * append to the queue. */
		p->ready_head = k < n ? p->tx_frames[k] : f;
		if (!p->ready_head)
			p->ready_tail = NULL;
		for (unsigned i = 0; i < k; i++)
			sent_first(p, p->tx_frames[i], now);
	}
}

/* ---- timers ---- */

/* Scans the in-flight frames once something is due: frames out of
 * attempts fail, the others are resent. O(table) per scan, and a scan
 * happens only when the earliest deadline has passed. */
static void run_timers(struct sl_producer *p, int64_t now)
{
	unsigned n = 0, m = 0, k;
	int64_t next = NEVER;

	for (uint32_t i = 0; i <= p->table_mask; i++) {
		struct frame *f = p->table[i];

		if (!f)
			continue;
		if (f->deadline <= now)
			p->due[n++] = f;
		else if (f->deadline < next)
			next = f->deadline;
	}
	p->next_deadline = next;
	/* Failing runs callbacks, which may put but cannot touch frames in
	 * flight: due[] stays valid. */
	for (unsigned i = 0; i < n; i++) {
		if (p->due[i]->attempts >= p->cfg.max_attempts)
			frame_fail(p, p->due[i]);
		else
			p->due[m++] = p->due[i];
	}
	k = send_frames(p, p->due, m);
	for (unsigned i = 0; i < k; i++) {
		struct frame *f = p->due[i];

		f->attempts++;
		f->throttled = false;
		f->deadline = now + p->timeout_ns;
		arm(p, f->deadline);
		p->st.retries++;
	}
	/* Those the full socket refused stay due for the next scan. */
	for (unsigned i = k; i < m; i++)
		arm(p, p->due[i]->deadline);
}

/* ---- receiving ---- */

static bool is_wait(uint16_t status, bool level_ok)
{
	return status == SL_WIRE_PENDING || (status == SL_WIRE_OK && !level_ok);
}

static void on_ack(struct sl_producer *p, const uint8_t *buf, size_t len, int64_t now)
{
	struct sl_wire_hdr h;
	struct sl_wire_ack_entry e;
	struct frame *f;
	bool level_ok, throttled = false, pending = false;

	if (sl_wire_check(buf, len, &h) != 0 || h.type != SL_WIRE_ACK ||
	    h.producer_id != p->producer_id || h.stream != p->stream_id) {
		p->st.acks_dropped++;
		return;
	}
	f = table_find(p, h.batch_seq);
	if (!f) {
		/* A batch_seq we issued and finished: a late duplicate. */
		if (h.batch_seq != 0 && h.batch_seq < p->next_batch_seq)
			p->st.acks_stale++;
		else
			p->st.acks_dropped++;
		return;
	}
	/* Every entry must fit the frame before any is applied. */
	for (unsigned i = 0; i < h.count; i++) {
		sl_wire_ack_entry(buf, i, &e);
		if (e.nrec == 0 || (uint32_t)e.index + e.nrec > f->nrec) {
			p->st.acks_dropped++;
			return;
		}
	}
	p->st.acks_received++;
	level_ok = (h.flags & SL_WIRE_FLAG_ACK_MASK) >= (unsigned)p->cfg.ack_mode;
	for (unsigned i = 0; i < h.count; i++) {
		sl_wire_ack_entry(buf, i, &e);
		if (e.status == SL_WIRE_THROTTLED) {
			p->st.answers_throttled++;
			throttled = true;
		} else if (is_wait(e.status, level_ok)) {
			p->st.answers_pending++;
			pending = true;
		}
		for (unsigned k = 0; k < e.nrec; k++) {
			unsigned idx = e.index + k;

			if (f->rec[idx].final) {
				p->st.answers_duplicate++;
			} else if (e.status == SL_WIRE_THROTTLED) {
				f->rec[idx].last = SL_WIRE_THROTTLED;
			} else if (is_wait(e.status, level_ok)) {
				f->rec[idx].last = SL_WIRE_PENDING;
			} else {
				bool ok = e.status == SL_WIRE_OK;

				finish_rec(p, f, idx, e.status, e.shard, ok ? e.first_seq + k : 0);
			}
		}
	}
	if (f->nfinal == f->nrec) {
		frame_done(p, f);
		return;
	}
	if (throttled && !f->throttled) {
		/* Resend the whole frame after a backoff; the engine's dedup
		 * re-acks what it already stored. */
		f->throttled = true;
		f->deadline = now + f->backoff;
		f->backoff = SL_MIN(f->backoff * 2, p->backoff_max_ns);
		arm(p, f->deadline);
	} else if (pending && !f->throttled) {
		/* Appended, not at the level yet: the answer will come without
		 * a resend. */
		f->deadline = now + p->timeout_ns;
	}
}

static int receive(struct sl_producer *p, int64_t now)
{
	for (unsigned b = 0; b < RX_BURSTS; b++) {
		int n;

		for (unsigned i = 0; i < RX_BURST; i++) {
			p->rx_iov[i] = (struct iovec){.iov_base = p->rx_buf + (size_t)i * p->rx_cap,
			                              .iov_len = p->rx_cap};
			p->rx_msgs[i] = (struct mmsghdr){
			        .msg_hdr = {.msg_iov = &p->rx_iov[i], .msg_iovlen = 1}};
		}
		n = recvmmsg(p->fd, p->rx_msgs, RX_BURST, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			if (errno == ECONNREFUSED) {
				/* ICMP port unreachable for an earlier send:
				 * that datagram was lost. */
				p->st.send_errors++;
				continue;
			}
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			const struct msghdr *m = &p->rx_msgs[i].msg_hdr;

			/* Longer than any ACK of ours: not one. */
			if (m->msg_flags & MSG_TRUNC)
				p->st.acks_dropped++;
			else
				on_ack(p, p->rx_buf + (size_t)i * p->rx_cap, p->rx_msgs[i].msg_len,
				       now);
		}
		if (n < RX_BURST)
			return 0;
	}
	return 0;
}

/* ---- poll ---- */

/* Seals the open frames that are due (flush, full, or linger expired),
 * oldest first, while max_inflight allows. The `oldest` list is sorted by
 * linger deadline: past the first frame not due, only full ones can be. */
static void seal_due(struct sl_producer *p, int64_t now)
{
	struct frame *f = p->oldest, *newer;

	for (; f && p->nsealed < p->cfg.max_inflight; f = newer) {
		newer = f->newer;
		if (p->flushing || f->nrec == p->rec_cap || now - f->opened >= p->linger_ns)
			seal(p, f);
		else if (p->nopen_full == 0)
			break;
	}
}

/* One round of everything there is to do now. Returns callbacks run, or
 * -errno from the socket. */
static int do_work(struct sl_producer *p)
{
	int64_t now = sl_mono_ns();
	int rc;

	p->delivered = 0;
	p->tx_blocked = false;
	seal_due(p, now);
	/* ACKs before timers: an answer waiting in the socket must not
	 * trigger a resend. */
	rc = receive(p, now);
	if (now >= p->next_deadline)
		run_timers(p, now);
	send_ready(p, now);
	return rc < 0 ? rc : p->delivered;
}

/* When do_work next has something to do without a datagram arriving. */
static int64_t next_event(const struct sl_producer *p, int64_t now)
{
	int64_t t = NEVER;

	/* Due retries the full socket refused wait for POLLOUT, not the clock. */
	if (!p->tx_blocked || p->next_deadline > now)
		t = p->next_deadline;
	if (p->oldest && p->nsealed < p->cfg.max_inflight)
		t = SL_MIN(t,
		           p->flushing || p->nopen_full ? now : p->oldest->opened + p->linger_ns);
	if (p->ready_head && !p->tx_blocked)
		t = now;
	return t;
}

static int poll_until(struct sl_producer *p, int64_t end)
{
	for (;;) {
		struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
		struct timespec ts;
		int64_t now, wait;
		int rc = do_work(p);

		if (rc != 0 || p->outstanding == 0)
			return rc;
		now = sl_mono_ns();
		if (now >= end)
			return 0;
		wait = SL_MIN(end, next_event(p, now)) - now;
		if (wait < 0)
			wait = 0;
		ts.tv_sec = wait / 1000000000;
		ts.tv_nsec = wait % 1000000000;
		if (p->tx_blocked)
			pfd.events |= POLLOUT;
		if (ppoll(&pfd, 1, &ts, NULL) < 0 && errno != EINTR)
			return -errno;
	}
}

static int64_t end_of(int timeout_ms)
{
	return timeout_ms < 0 ? NEVER : sl_mono_ns() + (int64_t)timeout_ms * NS_PER_MS;
}

int sl_producer_poll(struct sl_producer *p, int timeout_ms)
{
	if (p->in_cb)
		return -EBUSY;
	return poll_until(p, end_of(timeout_ms));
}

int sl_producer_flush(struct sl_producer *p, int timeout_ms)
{
	int64_t end = end_of(timeout_ms);
	int rc;

	if (p->in_cb)
		return -EBUSY;
	p->flushing = true;
	/* At least one round, even with timeout 0; the clock ends it even
	 * if callbacks keep putting. */
	do
		rc = poll_until(p, end);
	while (rc >= 0 && p->outstanding > 0 && sl_mono_ns() < end);
	p->flushing = false;
	return rc < 0 ? rc : (int)p->outstanding;
}

int64_t sl_producer_next_timeout_us(const struct sl_producer *p)
{
	int64_t now = sl_mono_ns(), t = next_event(p, now);

	if (t == NEVER)
		return -1;
	return t <= now ? 0 : (t - now + NS_PER_US - 1) / NS_PER_US;
}

/* ---- create / free ---- */

static void tune_socket(int fd, int family)
{
	int v = SOCK_BUF_BYTES;

	/* Best effort: the kernel caps these at its rmem/wmem maxima. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	/* The engine drops IP fragments: a frame above the path MTU should
	 * fail here (EMSGSIZE, counted) rather than leave as fragments. */
	if (family == AF_INET) {
		v = IP_PMTUDISC_DO;
		(void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v));
	} else if (family == AF_INET6) {
		v = IPV6_PMTUDISC_DO;
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof(v));
	}
}

/*
 * RESOLVE over the connected socket fd: up to min(max_attempts, 5) sends,
 * timeout_ms apart. RESOLVE uses batch_seq 0, which no PUT uses, and the
 * answer must echo it with our producer_id.
 */
static int resolve(struct sl_producer *p, int fd, const char *name)
{
	uint8_t req[SL_WIRE_HDR_BYTES + SL_WIRE_MAX_NAME];
	uint8_t ans[SL_WIRE_HDR_BYTES + 64];
	size_t n = strlen(name);
	uint32_t len = sl_wire_begin(req, SL_WIRE_RESOLVE, 0, p->producer_id, 0, 0);
	unsigned tries = SL_MIN(p->cfg.max_attempts, RESOLVE_TRIES);

	memcpy(req + len, name, n);
	len = sl_wire_finish(req, len + (uint32_t)n, 0);
	for (unsigned a = 0; a < tries; a++) {
		/* Each wait doubles up to 1 s, so the tries span a lost ARP or
		 * neighbour exchange (the kernel asks again after 1 s). */
		int64_t wait = a < 20 ? p->timeout_ns << a : 1000000000;
		int64_t end = sl_mono_ns() + SL_MAX(p->timeout_ns, SL_MIN(wait, 1000000000));

		if (send(fd, req, len, 0) < 0 && errno != ECONNREFUSED && errno != EAGAIN &&
		    errno != EPERM && errno != ENOBUFS)
			return sl_err_set(-errno, "send RESOLVE: %s", strerror(errno));
		for (int64_t now = sl_mono_ns(); now < end; now = sl_mono_ns()) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			struct timespec ts = {.tv_sec = (end - now) / 1000000000,
			                      .tv_nsec = (end - now) % 1000000000};
			struct sl_wire_hdr h;
			ssize_t got;

			if (ppoll(&pfd, 1, &ts, NULL) < 0 && errno != EINTR)
				return sl_err_set(-errno, "poll: %s", strerror(errno));
			got = recv(fd, ans, sizeof(ans), MSG_DONTWAIT | MSG_TRUNC);
			if (got < 0) {
				/* ECONNREFUSED: nothing listens yet; keep waiting
				 * out this attempt. */
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
				    errno == ECONNREFUSED)
					continue;
				return sl_err_set(-errno, "recv: %s", strerror(errno));
			}
			if ((size_t)got > sizeof(ans) || sl_wire_check(ans, (size_t)got, &h) != 0 ||
			    h.type != SL_WIRE_RESOLVED || h.producer_id != p->producer_id ||
			    h.batch_seq != 0) {
				p->st.acks_dropped++;
				continue;
			}
			if (h.stream == 0)
				return sl_err_set(-ENOENT, "no stream named \"%s\"", name);
			p->stream_id = h.stream;
			p->shard_count = h.count;
			return 0;
		}
	}
	return -ETIMEDOUT;
}

/* Tries every address of the host in turn until one answers RESOLVE. */
static int connect_engine(struct sl_producer *p, const struct sl_producer_config *c)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_DGRAM,
	                         .ai_protocol = IPPROTO_UDP,
	                         .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res, *ai;
	char port[8];
	bool tried = false;
	int rc, err = -EHOSTUNREACH;

	snprintf(port, sizeof(port), "%u", (unsigned)c->port);
	rc = getaddrinfo(c->host, port, &hints, &res);
	if (rc != 0)
		return sl_err_set(-EHOSTUNREACH, "host %s: %s", c->host, gai_strerror(rc));
	for (ai = res; ai && p->fd < 0; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			err = -errno;
			continue;
		}
		tune_socket(fd, ai->ai_family);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			err = -errno;
			close(fd);
			continue;
		}
		tried = true;
		rc = resolve(p, fd, c->stream);
		if (rc == 0) {
			p->fd = fd;
		} else {
			close(fd);
			/* An answer (no such stream) or a hard error ends the
			 * search; silence moves on to the next address. */
			if (rc != -ETIMEDOUT) {
				freeaddrinfo(res);
				return rc;
			}
		}
	}
	freeaddrinfo(res);
	if (p->fd >= 0)
		return 0;
	if (tried)
		return sl_err_set(-ETIMEDOUT, "no engine answered at %s port %u", c->host,
		                  (unsigned)c->port);
	return sl_err_set(err, "%s port %u: %s", c->host, (unsigned)c->port, strerror(-err));
}

static int random_id(uint64_t *ret_id)
{
	uint64_t id = 0;

	for (unsigned i = 0; i < 16 && id == 0; i++) {
		ssize_t n = getrandom(&id, sizeof(id), 0);

		if (n < 0 && errno != EINTR)
			return sl_err_set(-errno, "getrandom: %s", strerror(errno));
		if (n != (ssize_t)sizeof(id))
			id = 0;
	}
	if (id == 0)
		return sl_err_set(-EIO, "getrandom gave no non-zero id");
	*ret_id = id;
	return 0;
}

int sl_producer_create(const struct sl_producer_config *c, sl_put_cb *cb, void *cb_arg,
                       struct sl_producer **ret_producer)
{
	struct sl_producer *p;
	uint32_t slots = 16;
	int rc;

	sl_err_clear();
	rc = check_config(c);
	if (rc < 0)
		return rc;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->fd = -1;
	p->cfg = *c;
	p->cfg.host = NULL;
	p->cfg.stream = NULL;
	p->cb = cb;
	p->cb_arg = cb_arg;
	p->rec_cap =
	        (uint16_t)SL_MIN(c->max_batch_records, (c->max_frame_bytes - SL_WIRE_HDR_BYTES) /
	                                                       (SL_WIRE_REC_HDR_BYTES + 1u));
	p->next_batch_seq = 1;
	p->linger_ns = (int64_t)c->linger_us * NS_PER_US;
	p->timeout_ns = (int64_t)c->timeout_ms * NS_PER_MS;
	p->backoff_max_ns = 4 * p->timeout_ns;
	p->next_deadline = NEVER;
	/* An ACK is never larger than its PUT, nor than an entry per record. */
	p->rx_cap = SL_MIN(c->max_frame_bytes,
	                   SL_WIRE_HDR_BYTES + SL_WIRE_ACK_ENTRY_BYTES * (uint32_t)p->rec_cap);
	while (slots < 2 * c->max_inflight)
		slots *= 2;
	p->table_mask = slots - 1;
	p->table = calloc(slots, sizeof(*p->table));
	p->due = calloc(c->max_inflight, sizeof(*p->due));
	p->rx_buf = malloc((size_t)RX_BURST * p->rx_cap);
	if (!p->table || !p->due || !p->rx_buf) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = random_id(&p->producer_id);
	if (rc < 0)
		goto fail;
	rc = connect_engine(p, c);
	if (rc < 0)
		goto fail;
	/* Open frames: one per shard up to max_open_frames (default
	 * min(shard_count, SL_PRODUCER_DEFAULT_OPEN)), never more than there
	 * are shards. */
	p->max_open = c->max_open_frames ? c->max_open_frames : SL_PRODUCER_DEFAULT_OPEN;
	p->max_open = SL_MIN(p->max_open, SL_MAX(p->shard_count, 1u));
	/* One open frame: records share it in put order, whatever their
	 * shards (sealing it at every change of shard would only cut frames
	 * short). */
	p->nroute = p->max_open > 1 ? p->shard_count : 1;
	p->open = calloc(p->nroute, sizeof(*p->open));
	p->all = calloc((size_t)c->max_inflight + p->max_open, sizeof(*p->all));
	if (!p->open || !p->all) {
		rc = -ENOMEM;
		goto fail;
	}
	*ret_producer = p;
	return 0;
fail:
	sl_producer_free(p);
	return rc;
}

void sl_producer_free(struct sl_producer *p)
{
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	for (uint32_t i = 0; i < p->nall; i++)
		free(p->all[i]);
	free(p->all);
	free(p->open);
	free(p->table);
	free(p->due);
	free(p->rx_buf);
	free(p);
}

/* ---- accessors ---- */

int sl_producer_fd(const struct sl_producer *p)
{
	return p->fd;
}

uint32_t sl_producer_stream_id(const struct sl_producer *p)
{
	return p->stream_id;
}

uint32_t sl_producer_shard_count(const struct sl_producer *p)
{
	return p->shard_count;
}

uint64_t sl_producer_id(const struct sl_producer *p)
{
	return p->producer_id;
}

uint32_t sl_producer_outstanding(const struct sl_producer *p)
{
	return p->outstanding;
}

void sl_producer_stats(const struct sl_producer *p, struct sl_producer_stats *ret_stats)
{
	*ret_stats = p->st;
}

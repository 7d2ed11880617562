/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kinesis data operations (control/api_data.c): sequence number
 * strings, shard iterator tokens, and PutRecord, PutRecords,
 * GetShardIterator and GetRecords through sl_api_handle() against a fake
 * backend on real storage: one log per shard in a temporary directory, a
 * put appended at once and completed when the store reports it durable (or
 * held until the test releases it, or throttled / failed on demand).
 * Streams are made and resharded through the catalog directly, so these
 * tests need only the data half of the API.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "api_internal.h"
#include "catalog.h"
#include "clock.h"
#include "err.h"
#include "hashkey.h"
#include "log.h"
#include "t_util.h"

#define ACC        "000000000000"
#define MAXK       (~(sl_u128)0)
#define MAXK_STR   "340282366920938463463374607431768211455"
#define NO_SHARD   UINT32_MAX
#define MIB        (1u << 20)
#define MAX_LOGS   32
#define ENTRY_NAME "com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry@c965e310"

static const uint8_t KEY[32] = "sluice-test-iterator-key-32bytes";

/* ---- the fake backend ---- */

struct fb_log {
	uint32_t stream, shard;
	struct sl_log *log;
	bool closed;
	uint64_t last_seq; /* 0: nothing appended */
};

struct fb_put {
	struct sl_api_put *p;
	uint64_t cookie;
	int status; /* 1: waiting for the store */
	struct fb_put *next;
};

static struct fb {
	struct sl_store *st;
	char *dir;
	struct fb_log logs[MAX_LOGS];
	unsigned nlogs;
	struct fb_put *waiting;  /* appended or decided, not yet delivered */
	struct fb_put *deferred; /* held until fb_release() */
	uint64_t cookie;
	struct sl_api *api;
	/* knobs */
	uint32_t throttle_now;   /* put() answers -EAGAIN for this shard */
	uint32_t throttle_later; /* completes with -EAGAIN */
	uint32_t fail_later;     /* completes with -EIO */
	bool defer;              /* hold every put until fb_release() */
	bool inline_done;        /* complete inside put() */
	unsigned puts;           /* put() calls */
} fb;

static struct fb_log *fb_find(uint32_t stream, uint32_t shard)
{
	for (unsigned i = 0; i < fb.nlogs; i++)
		if (fb.logs[i].stream == stream && fb.logs[i].shard == shard && fb.logs[i].log)
			return &fb.logs[i];
	return NULL;
}

static void fb_queue(struct fb_put *w)
{
	struct fb_put **pp = &fb.waiting;

	while (*pp) /* keep the order puts came in */
		pp = &(*pp)->next;
	w->next = NULL;
	*pp = w;
}

static void fb_start(struct fb_put *w)
{
	struct sl_api_put *p = w->p;
	struct fb_log *l = fb_find(p->stream_id, p->shard_id);
	uint64_t first;
	int rc;

	w->cookie = ++fb.cookie;
	if (!l || l->closed) {
		w->status = -ENOENT;
	} else if (p->shard_id == fb.throttle_later) {
		w->status = -EAGAIN;
	} else if (p->shard_id == fb.fail_later) {
		w->status = -EIO;
	} else {
		rc = sl_log_append(l->log, p->recs, p->n, w->cookie, SL_NOTIFY_DURABLE, &first);
		if (rc < 0) {
			w->status = rc;
		} else {
			for (uint32_t i = 0; i < p->n; i++)
				p->seqs[i] = first + i;
			l->last_seq = first + p->n - 1;
			w->status = 1;
		}
	}
	fb_queue(w);
}

/* Delivers what is decided: puts that failed or were throttled, and those
 * the store reports durable. Returns how many. */
static unsigned fb_pump(void)
{
	struct sl_log_event ev[64];
	unsigned done = 0;
	int n;

	n = sl_store_poll(fb.st, ev, 64);
	for (int i = 0; i < n; i++)
		for (struct fb_put *w = fb.waiting; w; w = w->next)
			if (w->cookie == ev[i].cookie && w->status == 1)
				w->status = ev[i].kind == SL_EV_DURABLE
				                    ? 0
				                    : (ev[i].err ? ev[i].err : -EIO);
	for (struct fb_put **pp = &fb.waiting; *pp;) {
		struct fb_put *w = *pp;

		if (w->status == 1) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		w->p->status = w->status;
		sl_api_put_done(fb.api, w->p);
		free(w);
		done++;
		pp = &fb.waiting; /* put_done may have queued more (re-routing) */
	}
	return done;
}

static int fb_put(void *arg, struct sl_api_put *p)
{
	struct fb_put *w;

	(void)arg;
	fb.puts++;
	if (p->shard_id == fb.throttle_now)
		return -EAGAIN;
	w = calloc(1, sizeof(*w));
	cr_assert_not_null(w);
	w->p = p;
	if (fb.defer) {
		w->next = fb.deferred;
		fb.deferred = w;
		return 0;
	}
	fb_start(w);
	if (fb.inline_done) {
		struct fb_log *l = fb_find(p->stream_id, p->shard_id);

		if (w->status == 1)
			sl_log_sync(l->log);
		while (fb.waiting) /* w is freed once delivered */
			if (fb_pump() == 0)
				usleep(100);
	}
	return 0;
}

/* Starts the held puts (oldest first). */
static void fb_release(void)
{
	struct fb_put *list = NULL;

	while (fb.deferred) { /* reverse: the list is newest first */
		struct fb_put *w = fb.deferred;

		fb.deferred = w->next;
		w->next = list;
		list = w;
	}
	while (list) {
		struct fb_put *w = list;

		list = w->next;
		fb_start(w);
	}
}

static int fb_sync(void *arg, const struct sl_cat_stream *s, struct sl_api_shard_end *ends,
                   uint32_t *ret_nends)
{
	uint32_t k = 0;

	(void)arg;
	for (uint32_t i = 0; i < s->nshards; i++) {
		const struct sl_cat_shard *sh = &s->shards[i];
		struct fb_log *l = fb_find(s->id, sh->id);

		if (!l) {
			char path[512];
			int rc;

			cr_assert_lt(fb.nlogs, MAX_LOGS);
			l = &fb.logs[fb.nlogs++];
			snprintf(path, sizeof(path), "%s/%u-%u", fb.dir, s->id, sh->id);
			rc = sl_log_open(fb.st, path, sh->id, NULL, NULL, &l->log);
			cr_assert_eq(rc, 0, "sl_log_open: %d", rc);
			l->stream = s->id;
			l->shard = sh->id;
		}
		if (sh->closed && !l->closed) {
			l->closed = true;
			sl_log_sync(l->log);
			if (ends)
				ends[k++] = (struct sl_api_shard_end){.shard_id = sh->id,
				                                      .end_seq = l->last_seq,
				                                      .empty = !l->last_seq};
		}
	}
	*ret_nends = k;
	return 0;
}

static int fb_drop(void *arg, uint32_t stream_id, const char *name)
{
	(void)arg;
	(void)name;
	for (unsigned i = 0; i < fb.nlogs; i++)
		if (fb.logs[i].stream == stream_id && fb.logs[i].log) {
			sl_log_close(fb.logs[i].log);
			fb.logs[i].log = NULL;
		}
	return 0;
}

static struct sl_log *fb_log(void *arg, uint32_t stream_id, uint32_t shard_id)
{
	struct fb_log *l = fb_find(stream_id, shard_id);

	(void)arg;
	return l ? l->log : NULL;
}

static double dabs(double x)
{
	return x < 0 ? -x : x;
}

/* a equals b (b stolen). */
static bool jeq(json_t *a, json_t *b)
{
	bool eq = json_equal(a, b);

	json_decref(b);
	return eq;
}

/* ---- fixture ---- */

static struct answer {
	bool done;
	int status;
	char type[128];
	json_t *body;
} ans;

static struct sl_catalog *cat;
static struct sl_api *api;
static struct sl_api_config acfg;

static void start_api(void)
{
	struct sl_api_backend be = {
	        .sync_stream = fb_sync, .drop_stream = fb_drop, .put = fb_put, .log = fb_log};

	cr_assert_eq(sl_api_create(&acfg, cat, &be, &api), 0, "sl_api_create: %s", sl_errmsg());
	fb.api = api;
}

static void setup(void)
{
	struct sl_store_config sc;
	struct sl_catalog_config cc;

	memset(&fb, 0, sizeof(fb));
	fb.throttle_now = fb.throttle_later = fb.fail_later = NO_SHARD;
	fb.dir = t_tmpdir("api-data");
	sl_store_config_default(&sc);
	sc.max_logs = MAX_LOGS;
	sc.buffer_bytes = 16 * MIB; /* a 5 MiB PutRecords to one shard is one batch */
	sc.segment_bytes = 32 * MIB;
	cr_assert_eq(sl_store_create(&sc, &fb.st), 0, "%s", sl_errmsg());
	sl_catalog_config_default(&cc);
	cr_assert_eq(sl_catalog_open(&cc, &cat), 0, "%s", sl_errmsg());
	sl_api_config_default(&acfg);
	acfg.iterator_key = KEY;
	start_api();
}

static void teardown(void)
{
	json_decref(ans.body);
	ans.body = NULL;
	sl_api_free(api);
	api = NULL;
	while (fb.waiting) {
		struct fb_put *w = fb.waiting;

		fb.waiting = w->next;
		free(w);
	}
	for (unsigned i = 0; i < fb.nlogs; i++)
		sl_log_close(fb.logs[i].log);
	sl_store_free(fb.st);
	sl_catalog_close(cat);
	t_rm_rf(fb.dir);
	free(fb.dir);
}

/* ---- requests ---- */

static void respond(void *req, const struct sl_api_answer *a)
{
	struct answer *x = req;

	cr_assert(!x->done, "answered twice");
	x->done = true;
	x->status = a->status;
	snprintf(x->type, sizeof(x->type), "%s", a->error_type ? a->error_type : "");
	json_decref(x->body);
	x->body = a->len ? json_loadb(a->body, a->len, 0, NULL) : NULL;
}

/* Sends op with body in (stolen); does not wait. */
static void send_req(const char *op, json_t *in)
{
	char target[128], date[32], *body;
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(target, sizeof(target), "Kinesis_20131202.%s", op);
	body = json_dumps(in, JSON_COMPACT);
	json_decref(in);
	cr_assert_not_null(body);
	struct sl_api_request r = {
	        .method = "POST",
	        .target = target,
	        .content_type = "application/x-amz-json-1.1",
	        .authorization = "AWS4-HMAC-SHA256 "
	                         "Credential=AKIDEXAMPLE/20261201/us-east-1/kinesis/aws4_request, "
	                         "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
	                         "Signature=0000000000000000000000000000000000000000000000000000000"
	                         "000000000",
	        .amz_date = date,
	        .body = body,
	        .len = strlen(body),
	        .path = "/",
	};
	ans.done = false;
	sl_api_handle(api, &r, respond, &ans);
	free(body);
}

static void wait_answer(void)
{
	for (int i = 0; !ans.done; i++) {
		cr_assert_lt(i, 200000, "no answer");
		if (fb_pump() == 0)
			usleep(50);
	}
}

/* Sends and waits; the answer's body (owned by ans). */
static json_t *call(const char *op, json_t *in)
{
	send_req(op, in);
	wait_answer();
	return ans.body;
}

static const char *err_message(void)
{
	const char *m = json_string_value(json_object_get(ans.body, "message"));

	return m ? m : json_string_value(json_object_get(ans.body, "Message"));
}

static void expect_ok(void)
{
	cr_assert_eq(ans.status, 200, "status %d %s: %s", ans.status, ans.type,
	             err_message() ? err_message() : "");
}

/* msg NULL: any message. */
static void expect_err(int status, const char *type, const char *msg)
{
	const char *m = err_message();

	cr_assert_eq(ans.status, status, "status %d (%s: %s), expected %d %s", ans.status, ans.type,
	             m ? m : "", status, type);
	cr_assert_str_eq(ans.type, type, "type %s (%s)", ans.type, m ? m : "");
	cr_assert_str_eq(json_string_value(json_object_get(ans.body, "__type")), type);
	if (msg)
		cr_assert_str_eq(m ? m : "(none)", msg);
}

/* ---- streams ---- */

static const struct sl_cat_stream *stream(const char *name)
{
	const struct sl_cat_stream *s = sl_catalog_stream(cat, name);

	cr_assert_not_null(s, "no stream %s", name);
	return s;
}

static void sync_ends(const char *name)
{
	const struct sl_cat_stream *s = stream(name);
	struct sl_api_shard_end ends[64];
	uint32_t n = 0;

	cr_assert_eq(fb_sync(NULL, s, ends, &n), 0);
	for (uint32_t i = 0; i < n; i++)
		cr_assert_eq(sl_catalog_set_end_seq(cat, name, ends[i].shard_id, ends[i].end_seq),
		             0, "%s", sl_errmsg());
}

/* A stream with n shards, as CREATING (active false) or ACTIVE. */
static void mkstream_status(const char *name, uint32_t n, bool active)
{
	struct sl_catalog_create req = {
	        .name = name, .mode = SL_CATALOG_PROVISIONED, .shard_count = n};

	cr_assert_eq(sl_catalog_create_stream(cat, &req), 0, "%s", sl_errmsg());
	sync_ends(name);
	if (active)
		cr_assert_eq(sl_catalog_set_active(cat, name), 0);
}

static void mkstream(const char *name, uint32_t n)
{
	mkstream_status(name, n, true);
}

/* Splits and lets the backend follow; end_seq reported unless keep_open. */
static void split(const char *name, uint32_t shard, sl_u128 at, bool report_end)
{
	cr_assert_eq(sl_catalog_split_shard(cat, name, shard, at), 0, "%s", sl_errmsg());
	if (report_end)
		sync_ends(name);
	cr_assert_eq(sl_catalog_set_active(cat, name), 0);
}

/* ---- data ---- */

static char *b64(const void *p, size_t len)
{
	char *s = malloc(4 * ((len + 2) / 3) + 1);

	cr_assert_not_null(s);
	EVP_EncodeBlock((unsigned char *)s, p, (int)len);
	return s;
}

/* Record i's data: len bytes of (seed, i). */
static uint8_t *mkdata(uint32_t i, size_t len)
{
	uint8_t *d = malloc(len ? len : 1);
	uint32_t x = i * 2654435761u + 12345;

	for (size_t j = 0; j < len; j++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		d[j] = (uint8_t)x;
	}
	return d;
}

static json_t *jdata(uint32_t i, size_t len)
{
	uint8_t *d = mkdata(i, len);
	char *s = b64(d, len);
	json_t *j = json_string(s);

	free(d);
	free(s);
	return j;
}

static void check_data(json_t *rec, uint32_t i, size_t len)
{
	json_t *want = jdata(i, len);

	cr_assert_str_eq(json_string_value(json_object_get(rec, "Data")), json_string_value(want),
	                 "data of record %u", i);
	json_decref(want);
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	cr_assert_not_null(d);
	return d;
}

/* PutRecord; returns the sequence number (malloc'd). */
static char *put1(const char *name, const char *key, uint32_t i, size_t len, const char *ehk)
{
	json_t *in = json_pack("{s:s, s:s, s:o}", "StreamName", name, "PartitionKey", key, "Data",
	                       jdata(i, len));

	if (ehk)
		json_object_set_new(in, "ExplicitHashKey", json_string(ehk));
	call("PutRecord", in);
	expect_ok();
	return xstrdup(json_string_value(json_object_get(ans.body, "SequenceNumber")));
}

static char *iterator(const char *name, const char *shard, const char *type, const char *seq)
{
	json_t *in = json_pack("{s:s, s:s, s:s}", "StreamName", name, "ShardId", shard,
	                       "ShardIteratorType", type);

	if (seq)
		json_object_set_new(in, "StartingSequenceNumber", json_string(seq));
	call("GetShardIterator", in);
	expect_ok();
	return xstrdup(json_string_value(json_object_get(ans.body, "ShardIterator")));
}

/* GetRecords (limit 0: none given); the body, owned by ans. */
static json_t *get(const char *it, int limit)
{
	json_t *in = json_pack("{s:s}", "ShardIterator", it);

	if (limit)
		json_object_set_new(in, "Limit", json_integer(limit));
	call("GetRecords", in);
	expect_ok();
	return ans.body;
}

static char *next_it(json_t *body)
{
	json_t *n = json_object_get(body, "NextShardIterator");

	return n && json_is_string(n) ? xstrdup(json_string_value(n)) : NULL;
}

static const char *rec_seq(json_t *body, size_t i)
{
	return json_string_value(json_object_get(
	        json_array_get(json_object_get(body, "Records"), i), "SequenceNumber"));
}

static size_t nrecs(json_t *body)
{
	return json_array_size(json_object_get(body, "Records"));
}

static char *u128_str(sl_u128 v)
{
	char buf[40];

	sl_u128_format(v, buf);
	return xstrdup(buf);
}

static char *repeat(const char *unit, size_t n)
{
	size_t ul = strlen(unit);
	char *s = malloc(ul * n + 1);

	for (size_t i = 0; i < n; i++)
		memcpy(s + i * ul, unit, ul);
	s[ul * n] = 0;
	return s;
}

/* ================= sequence numbers ================= */

Test(seq, round_trip_and_order)
{
	static const struct {
		uint32_t shard;
		uint64_t seq;
	} cases[] = {{0, 0},          {0, 1},          {1, 1ull << 40},         {7, 123456789},
	             {UINT32_MAX, 0}, {0, UINT64_MAX}, {UINT32_MAX, UINT64_MAX}};
	char buf[SL_API_SEQ_DIGITS + 1], prev[SL_API_SEQ_DIGITS + 1] = "";

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		uint32_t sh;
		uint64_t v;

		sl_api_seq_format(cases[i].shard, cases[i].seq, buf);
		cr_assert_eq(strlen(buf), SL_API_SEQ_DIGITS, "%s", buf);
		cr_assert_eq(strncmp(buf, "49", 2), 0);
		cr_assert_eq(sl_api_seq_parse(buf, &sh, &v), 0, "%s", buf);
		cr_assert_eq(sh, cases[i].shard);
		cr_assert_eq(v, cases[i].seq);
	}
	/* String order is numeric order within a shard. */
	for (uint64_t s = 1; s < (1ull << 62); s = s * 3 + 1) {
		sl_api_seq_format(3, s, buf);
		cr_assert_gt(strcmp(buf, prev), 0);
		memcpy(prev, buf, sizeof(buf));
	}
	sl_api_seq_format(1, 5, buf);
	cr_assert_str_eq(buf, "49000000000001000000000000000000000000000000000000000005");
}

Test(seq, rejects_malformed)
{
	static const char *const bad[] = {
	        "",
	        "5",
	        "0",
	        "4900000000000100000000000000000000000000000000000000000",   /* 55 */
	        "490000000000010000000000000000000000000000000000000000055", /* 57 */
	        "48000000000001000000000000000000000000000000000000000005",  /* prefix */
	        "49000000000001000001000000000000000000000000000000000005",  /* zeros */
	        "4900000000000a000000000000000000000000000000000000000005",  /* digit */
	        "49000000000001000000000000000000000000000000000000000-05",
	        "49999999999999000000000000000000000000000000000000000005", /* shard > 2^32-1 */
	        "49000004294967296000000000000000000000000000000000000005", /* shard = 2^32 */
	        "49000000000001000000000000000000000099999999999999999999", /* seq > 2^64-1 */
	        "49000000000001000000000000000000000018446744073709551616", /* seq = 2^64 */
	        " 9000000000001000000000000000000000000000000000000000005",
	};
	uint32_t sh = 77;
	uint64_t v = 77;

	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++)
		cr_assert_eq(sl_api_seq_parse(bad[i], &sh, &v), -EINVAL, "accepted '%s'", bad[i]);
	cr_assert_eq(sl_api_seq_parse(NULL, &sh, &v), -EINVAL);
	cr_assert_eq(sh, 77, "output written on failure");
	cr_assert_eq(v, 77);
	cr_assert_eq(sl_api_seq_parse("49"
	                              "004294967295"
	                              "0000000000000000000000"
	                              "18446744073709551615",
	                              &sh, &v),
	             0);
	cr_assert_eq(sh, UINT32_MAX);
	cr_assert_eq(v, UINT64_MAX);
}

/* ================= iterator tokens ================= */

static struct sl_api_iterator some_iterator(void)
{
	struct sl_api_iterator it = {.stream_id = 3,
	                             .shard_id = 17,
	                             .seq = (5ull << 40) + 99,
	                             .issued_ms = 1767225600123,
	                             .stream_created_ms = 1767225000000,
	                             .flags = SL_API_ITERATOR_LATEST};

	snprintf(it.stream, sizeof(it.stream), "clicks");
	return it;
}

Test(iterator, round_trip)
{
	struct sl_api_iterator it = some_iterator(), back;
	char tok[SL_API_ITERATOR_BUF];
	int n;

	n = sl_api_iterator_encode(KEY, &it, tok);
	cr_assert_gt(n, 0);
	cr_assert_eq((size_t)n, strlen(tok));
	cr_assert_eq(sl_api_iterator_decode(KEY, tok, &back), 0);
	cr_assert_eq(back.stream_id, it.stream_id);
	cr_assert_eq(back.shard_id, it.shard_id);
	cr_assert_eq(back.seq, it.seq);
	cr_assert_eq(back.issued_ms, it.issued_ms);
	cr_assert_eq(back.stream_created_ms, it.stream_created_ms);
	cr_assert_eq(back.flags, it.flags);
	cr_assert_str_eq(back.stream, "clicks");

	/* The longest name still fits Kinesis's 512 characters. */
	memset(it.stream, 'n', SL_CATALOG_NAME_MAX);
	it.stream[SL_CATALOG_NAME_MAX] = 0;
	n = sl_api_iterator_encode(KEY, &it, tok);
	cr_assert_gt(n, 0);
	cr_assert_leq(n, 512);
	cr_assert_eq(sl_api_iterator_decode(KEY, tok, &back), 0);
	cr_assert_str_eq(back.stream, it.stream);

	it.stream[0] = 0;
	cr_assert_eq(sl_api_iterator_encode(KEY, &it, tok), -EINVAL);
}

Test(iterator, every_altered_character_is_rejected)
{
	static const char alphabet[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_.!";
	struct sl_api_iterator it = some_iterator(), back;
	char tok[SL_API_ITERATOR_BUF], t[SL_API_ITERATOR_BUF];
	size_t n;

	n = (size_t)sl_api_iterator_encode(KEY, &it, tok);
	for (size_t i = 0; i < n; i++) {
		for (const char *a = alphabet; *a; a++) {
			if (*a == tok[i])
				continue;
			memcpy(t, tok, n + 1);
			t[i] = *a;
			cr_assert_eq(sl_api_iterator_decode(KEY, t, &back), -EINVAL,
			             "accepted %s (char %zu -> %c)", t, i, *a);
		}
	}
	/* Shorter, longer, another key, garbage. */
	for (size_t len = 0; len < n; len++) {
		memcpy(t, tok, len);
		t[len] = 0;
		cr_assert_eq(sl_api_iterator_decode(KEY, t, &back), -EINVAL);
	}
	memcpy(t, tok, n);
	memcpy(t + n, "AAAA", 5);
	cr_assert_eq(sl_api_iterator_decode(KEY, t, &back), -EINVAL);
	uint8_t other[32];

	memcpy(other, KEY, 32);
	other[31] ^= 1;
	cr_assert_eq(sl_api_iterator_decode(other, tok, &back), -EINVAL);
	cr_assert_eq(sl_api_iterator_decode(KEY, "", &back), -EINVAL);
	cr_assert_eq(sl_api_iterator_decode(KEY, NULL, &back), -EINVAL);
	cr_assert_eq(sl_api_iterator_decode(KEY, "not a token at all", &back), -EINVAL);
	char *big = repeat("A", 600);

	cr_assert_eq(sl_api_iterator_decode(KEY, big, &back), -EINVAL);
	free(big);
}

Test(iterator, every_altered_byte_is_rejected)
{
	/* Flip bits in the decoded bytes and encode again (a forger who
	 * knows the format but not the key). */
	struct sl_api_iterator it = some_iterator(), back;
	char tok[SL_API_ITERATOR_BUF], t[SL_API_ITERATOR_BUF];
	uint8_t raw[SL_API_ITERATOR_BUF];
	int n = sl_api_iterator_encode(KEY, &it, tok);
	int len = EVP_DecodeBlock(raw, (const unsigned char *)tok, n);

	len -= (tok[n - 1] == '=') + (tok[n - 2] == '=');
	for (int i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			raw[i] ^= (uint8_t)(1u << bit);
			EVP_EncodeBlock((unsigned char *)t, raw, len);
			cr_assert_eq(sl_api_iterator_decode(KEY, t, &back), -EINVAL,
			             "byte %d bit %d", i, bit);
			raw[i] ^= (uint8_t)(1u << bit);
		}
	}
	EVP_EncodeBlock((unsigned char *)t, raw, len);
	cr_assert_eq(sl_api_iterator_decode(KEY, t, &back), 0);
}

/* ================= the operations ================= */

TestSuite(api_data, .init = setup, .fini = teardown, .timeout = 120);

Test(api_data, round_trip_with_every_iterator_type)
{
	char *seq[8], *it, *nit;
	json_t *b;
	uint32_t i;

	mkstream("s1", 1);
	for (i = 0; i < 5; i++) {
		char key[16];

		snprintf(key, sizeof(key), "key-%u", i);
		seq[i] = put1("s1", key, i, 10 + i, NULL);
		cr_assert_str_eq(json_string_value(json_object_get(ans.body, "ShardId")),
		                 "shardId-000000000000");
		cr_assert_eq(strlen(seq[i]), 56);
		if (i)
			cr_assert_gt(strcmp(seq[i], seq[i - 1]), 0, "sequence numbers increase");
	}

	/* TRIM_HORIZON: everything, in order, as it was put. */
	it = iterator("s1", "shardId-000000000000", "TRIM_HORIZON", NULL);
	b = get(it, 0);
	cr_assert_eq(nrecs(b), 5);
	for (i = 0; i < 5; i++) {
		json_t *r = json_array_get(json_object_get(b, "Records"), i);
		char key[16];

		snprintf(key, sizeof(key), "key-%u", i);
		cr_assert_str_eq(rec_seq(b, i), seq[i]);
		cr_assert_str_eq(json_string_value(json_object_get(r, "PartitionKey")), key);
		check_data(r, i, 10 + i);
		json_t *ts = json_object_get(r, "ApproximateArrivalTimestamp");

		cr_assert(json_is_number(ts));
		cr_assert_lt(dabs(json_number_value(ts) - (double)time(NULL)), 120.0);
	}
	cr_assert_eq(json_integer_value(json_object_get(b, "MillisBehindLatest")), 0);
	nit = next_it(b);
	cr_assert_not_null(nit);
	cr_assert_null(json_object_get(b, "ChildShards"));
	/* Caught up: no records, an iterator at the same place. */
	b = get(nit, 0);
	cr_assert_eq(nrecs(b), 0);
	free(nit);
	nit = next_it(b);
	cr_assert_not_null(nit);
	seq[5] = put1("s1", "late", 5, 3, NULL);
	b = get(nit, 0);
	cr_assert_eq(nrecs(b), 1);
	cr_assert_str_eq(rec_seq(b, 0), seq[5]);
	free(nit);
	free(it);

	/* An iterator reads the same records twice. */
	it = iterator("s1", "shardId-000000000000", "AT_SEQUENCE_NUMBER", seq[1]);
	for (int round = 0; round < 2; round++) {
		b = get(it, 2);
		cr_assert_eq(nrecs(b), 2);
		cr_assert_str_eq(rec_seq(b, 0), seq[1]);
		cr_assert_str_eq(rec_seq(b, 1), seq[2]);
	}
	free(it);
	it = iterator("s1", "shardId-000000000000", "AFTER_SEQUENCE_NUMBER", seq[1]);
	b = get(it, 0);
	cr_assert_eq(nrecs(b), 4);
	cr_assert_str_eq(rec_seq(b, 0), seq[2]);
	free(it);
	/* The last record: AFTER it is where new ones will be. */
	it = iterator("s1", "shardId-000000000000", "AFTER_SEQUENCE_NUMBER", seq[5]);
	b = get(it, 0);
	cr_assert_eq(nrecs(b), 0);
	free(it);

	/* LATEST: only what comes after. */
	it = iterator("s1", "shardId-000000000000", "LATEST", NULL);
	b = get(it, 0);
	cr_assert_eq(nrecs(b), 0);
	seq[6] = put1("s1", "after-latest", 6, 4, NULL);
	seq[7] = put1("s1", "after-latest", 7, 4, NULL);
	b = get(it, 0); /* the same iterator: stable, resolved when issued */
	cr_assert_eq(nrecs(b), 2);
	cr_assert_str_eq(rec_seq(b, 0), seq[6]);
	cr_assert_str_eq(rec_seq(b, 1), seq[7]);
	free(it);

	/* AT_TIMESTAMP: from the first record that arrived at or after it. */
	it = iterator("s1", "shardId-000000000000", "TRIM_HORIZON", NULL);
	b = get(it, 0);
	cr_assert_eq(nrecs(b), 8);
	double arr[8];

	for (i = 0; i < 8; i++)
		arr[i] = json_number_value(
		        json_object_get(json_array_get(json_object_get(b, "Records"), i),
		                        "ApproximateArrivalTimestamp"));
	free(it);
	for (uint32_t k = 0; k < 8; k++) {
		json_t *in = json_pack("{s:s, s:s, s:s, s:f}", "StreamName", "s1", "ShardId",
		                       "shardId-000000000000", "ShardIteratorType", "AT_TIMESTAMP",
		                       "Timestamp", arr[k]);
		uint32_t first = k;

		while (first > 0 && arr[first - 1] >= arr[k] - 0.0005)
			first--;
		call("GetShardIterator", in);
		expect_ok();
		it = xstrdup(json_string_value(json_object_get(ans.body, "ShardIterator")));
		b = get(it, 0);
		cr_assert_eq(nrecs(b), 8 - first, "AT_TIMESTAMP %f: %zu records", arr[k], nrecs(b));
		cr_assert_str_eq(rec_seq(b, 0), seq[first]);
		free(it);
	}
	/* Before everything: all of it. */
	call("GetShardIterator",
	     json_pack("{s:s, s:s, s:s, s:i}", "StreamName", "s1", "ShardId", "shardId-0",
	               "ShardIteratorType", "AT_TIMESTAMP", "Timestamp", 1000));
	expect_ok();
	it = xstrdup(json_string_value(json_object_get(ans.body, "ShardIterator")));
	cr_assert_eq(nrecs(get(it, 0)), 8);
	free(it);
	for (i = 0; i < 8; i++)
		free(seq[i]);
}

Test(api_data, next_iterator_chain_and_limit)
{
	char *it;
	uint32_t seen = 0;

	mkstream("chain", 1);
	json_t *recs = json_array();

	for (uint32_t i = 0; i < 30; i++)
		json_array_append_new(
		        recs, json_pack("{s:s, s:o}", "PartitionKey", "p", "Data", jdata(i, 100)));
	call("PutRecords", json_pack("{s:s, s:o}", "StreamName", "chain", "Records", recs));
	expect_ok();
	cr_assert_eq(json_integer_value(json_object_get(ans.body, "FailedRecordCount")), 0);

	it = iterator("chain", "shardId-000000000000", "TRIM_HORIZON", NULL);
	while (seen < 30) {
		json_t *b = get(it, 7);
		size_t n = nrecs(b);

		cr_assert_eq(n, SL_MIN(7u, 30 - seen));
		for (size_t k = 0; k < n; k++)
			check_data(json_array_get(json_object_get(b, "Records"), k),
			           seen + (uint32_t)k, 100);
		if (seen + n < 30)
			cr_assert_gt(json_integer_value(json_object_get(b, "MillisBehindLatest")),
			             -1);
		seen += (uint32_t)n;
		free(it);
		it = next_it(b);
		cr_assert_not_null(it);
	}
	cr_assert_eq(nrecs(get(it, 0)), 0);
	free(it);
}

Test(api_data, put_records_partial_failure_in_request_order)
{
	const uint32_t nshards = 4, n = 120;
	char *ehk[120];

	mkstream("pf", nshards);
	fb.throttle_later = 1; /* completes throttled */
	fb.throttle_now = 2;   /* put() refuses */
	fb.fail_later = 3;     /* completes failed */
	json_t *recs = json_array();

	for (uint32_t i = 0; i < n; i++) {
		/* Shards in a scrambled order: 0, 3, 1, 2, 0, ... */
		uint32_t sh = (i * 7) % nshards;

		ehk[i] = u128_str(sl_hashkey_even_start(sh, nshards) + i);
		json_array_append_new(recs,
		                      json_pack("{s:s, s:s, s:o}", "PartitionKey", "k",
		                                "ExplicitHashKey", ehk[i], "Data", jdata(i, 20)));
	}
	call("PutRecords", json_pack("{s:s, s:o}", "StreamName", "pf", "Records", recs));
	expect_ok();
	json_t *out = json_object_get(ans.body, "Records");
	uint32_t failed = 0, ok_seen = 0;

	cr_assert_eq(json_array_size(out), n);
	for (uint32_t i = 0; i < n; i++) {
		json_t *r = json_array_get(out, i);
		uint32_t sh = (i * 7) % nshards;
		char sid[SL_CATALOG_SHARD_ID_BUF], msg[256];

		sl_catalog_shard_id_format(sh, sid);
		if (sh == 0) {
			cr_assert_str_eq(json_string_value(json_object_get(r, "ShardId")), sid);
			cr_assert_not_null(json_object_get(r, "SequenceNumber"));
			cr_assert_null(json_object_get(r, "ErrorCode"));
			ok_seen++;
			continue;
		}
		failed++;
		cr_assert_null(json_object_get(r, "SequenceNumber"));
		if (sh == 3) {
			cr_assert_str_eq(json_string_value(json_object_get(r, "ErrorCode")),
			                 "InternalFailure");
			cr_assert_str_eq(json_string_value(json_object_get(r, "ErrorMessage")),
			                 "Internal Service Failure");
		} else {
			snprintf(msg, sizeof(msg),
			         "Rate exceeded for shard %s in stream pf under account " ACC ".",
			         sid);
			cr_assert_str_eq(json_string_value(json_object_get(r, "ErrorCode")),
			                 "ProvisionedThroughputExceededException");
			cr_assert_str_eq(json_string_value(json_object_get(r, "ErrorMessage")),
			                 msg);
		}
	}
	cr_assert_eq(json_integer_value(json_object_get(ans.body, "FailedRecordCount")), failed);
	cr_assert_eq(ok_seen, n / 4);

	/* The records that went in, in request order within the shard. */
	char *it = iterator("pf", "shardId-000000000000", "TRIM_HORIZON", NULL);
	json_t *b = get(it, 0);

	cr_assert_eq(nrecs(b), n / 4);
	for (uint32_t k = 0, i = 0; i < n; i++) {
		if ((i * 7) % nshards)
			continue;
		check_data(json_array_get(json_object_get(b, "Records"), k++), i, 20);
	}
	free(it);
	/* Nothing reached the others. */
	for (uint32_t sh = 1; sh < nshards; sh++) {
		char sid[SL_CATALOG_SHARD_ID_BUF];

		sl_catalog_shard_id_format(sh, sid);
		it = iterator("pf", sid, "TRIM_HORIZON", NULL);
		cr_assert_eq(nrecs(get(it, 0)), 0);
		free(it);
	}
	for (uint32_t i = 0; i < n; i++)
		free(ehk[i]);
}

Test(api_data, put_record_throttled_and_failed)
{
	char msg[256];

	mkstream("pt", 2);
	fb.throttle_now = 0;
	call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "pt", "PartitionKey", "a",
	                            "ExplicitHashKey", "0", "Data", "AAAA"));
	snprintf(msg, sizeof(msg),
	         "Rate exceeded for shard shardId-000000000000 in stream pt under account " ACC
	         ".");
	expect_err(400, "ProvisionedThroughputExceededException", msg);
	fb.throttle_now = NO_SHARD;
	fb.throttle_later = 1;
	call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "pt", "PartitionKey", "a",
	                            "ExplicitHashKey", MAXK_STR, "Data", "AAAA"));
	snprintf(msg, sizeof(msg),
	         "Rate exceeded for shard shardId-000000000001 in stream pt under account " ACC
	         ".");
	expect_err(400, "ProvisionedThroughputExceededException", msg);
	fb.throttle_later = NO_SHARD;
	fb.fail_later = 1;
	call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "pt", "PartitionKey", "a",
	                            "ExplicitHashKey", MAXK_STR, "Data", "AAAA"));
	expect_err(500, "InternalFailure", NULL);
	fb.fail_later = NO_SHARD;
	struct sl_api_stats st;

	sl_api_stats(api, &st);
	cr_assert_geq(st.put_throttled, 2);
	cr_assert_eq(st.inflight, 0);
}

Test(api_data, completions_inside_put)
{
	/* A backend may call sl_api_put_done() from inside put(). */
	mkstream("inl", 3);
	fb.inline_done = true;
	fb.throttle_later = 2;
	json_t *recs = json_array();

	for (uint32_t i = 0; i < 9; i++) {
		char *k = u128_str(sl_hashkey_even_start(i % 3, 3));

		json_array_append_new(recs, json_pack("{s:s, s:s, s:o}", "PartitionKey", "k",
		                                      "ExplicitHashKey", k, "Data", jdata(i, 8)));
		free(k);
	}
	send_req("PutRecords", json_pack("{s:s, s:o}", "StreamName", "inl", "Records", recs));
	cr_assert(ans.done, "answered within sl_api_handle()");
	expect_ok();
	cr_assert_eq(json_integer_value(json_object_get(ans.body, "FailedRecordCount")), 3);
	for (uint32_t i = 0; i < 9; i++) {
		json_t *r = json_array_get(json_object_get(ans.body, "Records"), i);

		cr_assert_eq(json_object_get(r, "ErrorCode") != NULL, i % 3 == 2);
	}
}

Test(api_data, explicit_hash_key_routing_and_md5)
{
	static const struct {
		const char *ehk;
		const char *shard;
	} ok[] = {
	        {"0", "shardId-000000000000"},
	        {"113427455640312821154458202477256070484", "shardId-000000000000"},
	        {"113427455640312821154458202477256070485", "shardId-000000000001"},
	        {"226854911280625642308916404954512140969", "shardId-000000000001"},
	        {"226854911280625642308916404954512140970", "shardId-000000000002"},
	        {MAXK_STR, "shardId-000000000002"},
	};

	mkstream("r3", 3);
	for (size_t i = 0; i < SL_ARRAY_SIZE(ok); i++) {
		char *s = put1("r3", "whatever", (uint32_t)i, 5, ok[i].ehk);

		cr_assert_str_eq(json_string_value(json_object_get(ans.body, "ShardId")),
		                 ok[i].shard, "%s", ok[i].ehk);
		cr_assert_eq(strncmp(s, "49", 2), 0);
		free(s);
	}
	/* The hash key the log keeps is the explicit one, big-endian. */
	{
		struct sl_reader *r;
		struct sl_record_out o;
		const struct sl_cat_stream *s = stream("r3");

		cr_assert_eq(sl_reader_open(fb_log(NULL, s->id, 2), 0, &r), 0);
		cr_assert_eq(sl_reader_read(r, &o, 1, 1), 1);
		cr_assert(sl_hashkey_value(o.hash_key) == sl_hashkey_even_start(2, 3));
		cr_assert_eq(sl_reader_read(r, &o, 1, 1), 1);
		cr_assert(sl_hashkey_value(o.hash_key) == MAXK);
		sl_reader_free(r);
	}

	/* md5("k") = 187279361568289349169310600456257773043: shard 1 of 2. */
	mkstream("r2", 2);
	free(put1("r2", "k", 0, 1, NULL));
	cr_assert_str_eq(json_string_value(json_object_get(ans.body, "ShardId")),
	                 "shardId-000000000001");
	{
		struct sl_reader *r;
		struct sl_record_out o;
		const struct sl_cat_stream *s = stream("r2");
		char buf[40];

		cr_assert_eq(sl_reader_open(fb_log(NULL, s->id, 1), 0, &r), 0);
		cr_assert_eq(sl_reader_read(r, &o, 1, 1), 1);
		sl_u128_format(sl_hashkey_value(o.hash_key), buf);
		cr_assert_str_eq(buf, "187279361568289349169310600456257773043");
		sl_reader_free(r);
	}

	/* Out of range: InvalidArgumentException with the value; not a
	 * number: the pattern. */
	call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "r3", "PartitionKey", "a",
	                            "ExplicitHashKey", "340282366920938463463374607431768211456",
	                            "Data", "AAAA"));
	expect_err(400, "InvalidArgumentException",
	           "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. "
	           "Specified value was 340282366920938463463374607431768211456");
	call("PutRecords",
	     json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s, s:s}]}", "StreamName", "r3", "Records",
	               "PartitionKey", "a", "Data", "", "PartitionKey", "a", "Data", "",
	               "ExplicitHashKey", "999999999999999999999999999999999999999"));
	expect_err(400, "InvalidArgumentException",
	           "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. "
	           "Specified value was 999999999999999999999999999999999999999");
	call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "r3", "PartitionKey", "a",
	                            "ExplicitHashKey", "-1", "Data", "AAAA"));
	expect_err(
	        400, "ValidationException",
	        "1 validation error detected: Value '-1' at 'explicitHashKey' failed to satisfy "
	        "constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})");
	call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "r3", "PartitionKey", "a",
	                            "ExplicitHashKey", "01", "Data", "AAAA"));
	expect_err(400, "ValidationException", NULL);
	call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "r3", "PartitionKey", "a",
	                            "ExplicitHashKey", "1000000000000000000000000000000000000000",
	                            "Data", "AAAA"));
	expect_err(400, "ValidationException", NULL);
}

Test(api_data, put_to_missing_or_creating_stream)
{
	mkstream_status("young", 1, false);
	call("PutRecord", json_pack("{s:s, s:s, s:s}", "StreamName", "young", "PartitionKey", "a",
	                            "Data", "AAAA"));
	expect_err(400, "ResourceNotFoundException",
	           "Stream young under account " ACC " not found.");
	call("PutRecords", json_pack("{s:s, s:[{s:s, s:s}]}", "StreamName", "young", "Records",
	                             "PartitionKey", "a", "Data", "AAAA"));
	expect_err(400, "ResourceNotFoundException",
	           "Stream young under account " ACC " not found.");
	call("PutRecord", json_pack("{s:s, s:s, s:s}", "StreamName", "nope", "PartitionKey", "a",
	                            "Data", "AAAA"));
	expect_err(400, "ResourceNotFoundException",
	           "Stream nope under account " ACC " not found.");
	call("GetShardIterator", json_pack("{s:s, s:s, s:s}", "StreamName", "young", "ShardId",
	                                   "shardId-000000000000", "ShardIteratorType", "LATEST"));
	expect_err(400, "ResourceNotFoundException",
	           "Shard shardId-000000000000 in stream young under account " ACC
	           " does not exist");
	cr_assert_eq(fb.puts, 0);
}

Test(api_data, put_validation_messages)
{
	mkstream("v", 1);
	call("PutRecord", json_object());
	expect_err(400, "ValidationException",
	           "3 validation errors detected: Value null at 'partitionKey' failed to satisfy "
	           "constraint: Member must not be null; Value null at 'data' failed to satisfy "
	           "constraint: Member must not be null; Value null at 'streamName' failed to "
	           "satisfy constraint: Member must not be null");
	call("PutRecords", json_pack("{s:s, s:[]}", "StreamName", "v", "Records"));
	expect_err(400, "ValidationException",
	           "1 validation error detected: Value '[]' at 'records' failed to satisfy "
	           "constraint: Member must have length greater than or equal to 1");
	call("PutRecords", json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "StreamName", "v", "Records",
	                             "PartitionKey", "", "Data", "", "ExplicitHashKey", ""));
	expect_err(
	        400, "ValidationException",
	        "2 validation errors detected: Value '' at 'records.1.member.partitionKey' failed "
	        "to satisfy constraint: Member must have length greater than or equal to 1; "
	        "Value '' at 'records.1.member.explicitHashKey' failed to satisfy constraint: "
	        "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})");
	call("PutRecords", json_pack("{s:s, s:[{s:s}]}", "StreamName", "v", "Records", "Data", ""));
	expect_err(
	        400, "ValidationException",
	        "1 validation error detected: Value null at 'records.1.member.partitionKey' failed "
	        "to satisfy constraint: Member must not be null");
	call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "v", "PartitionKey", "a",
	                            "Data", "AAAA", "SequenceNumberForOrdering", "x1"));
	expect_err(
	        400, "ValidationException",
	        "1 validation error detected: Value 'x1' at 'sequenceNumberForOrdering' failed to "
	        "satisfy constraint: Member must satisfy regular expression pattern: "
	        "0|([1-9]\\d{0,128})");
	call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "v", "PartitionKey", "a",
	                            "Data", "AAAA", "SequenceNumberForOrdering", "5"));
	expect_err(
	        400, "InvalidArgumentException",
	        "ExclusiveMinimumSequenceNumber 5 used in PutRecord on stream v under account " ACC
	        " is invalid.");
	/* A real one is accepted and ignored. */
	char *s1 = put1("v", "a", 0, 1, NULL);

	call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "v", "PartitionKey", "a",
	                            "Data", "AAAA", "SequenceNumberForOrdering", s1));
	expect_ok();
	free(s1);
	/* Entries of the wrong JSON type. */
	call("PutRecords", json_pack("{s:s, s:[i]}", "StreamName", "v", "Records", 5));
	expect_err(400, "SerializationException", NULL);
	call("PutRecords", json_pack("{s:s, s:[{s:i, s:s}]}", "StreamName", "v", "Records",
	                             "PartitionKey", 5, "Data", ""));
	expect_err(400, "SerializationException",
	           "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be "
	           "converted to an String");
	cr_assert_eq(fb.puts, 2);
}

Test(api_data, limits_entries_and_request_size)
{
	mkstream("lim", 2);
	/* 500 entries: fine. 501: not. */
	json_t *recs = json_array();

	for (uint32_t i = 0; i < 500; i++)
		json_array_append_new(
		        recs, json_pack("{s:s, s:o}", "PartitionKey", "p", "Data", jdata(i, 1)));
	call("PutRecords", json_pack("{s:s, s:O}", "StreamName", "lim", "Records", recs));
	expect_ok();
	cr_assert_eq(json_array_size(json_object_get(ans.body, "Records")), 500);
	cr_assert_eq(json_integer_value(json_object_get(ans.body, "FailedRecordCount")), 0);
	json_array_append_new(recs, json_pack("{s:s, s:s}", "PartitionKey", "p", "Data", ""));
	call("PutRecords", json_pack("{s:s, s:O}", "StreamName", "lim", "Records", recs));
	{
		/* The whole list as Coral prints it, however long. */
		char *list = repeat(ENTRY_NAME ", ", 501), *want;

		list[strlen(list) - 2] = 0;
		cr_assert_gt(
		        asprintf(&want,
		                 "1 validation error detected: Value '[%s]' at 'records' failed "
		                 "to satisfy constraint: Member must have length less than or "
		                 "equal to 500",
		                 list),
		        0);
		expect_err(400, "ValidationException", want);
		free(want);
		free(list);
	}
	/* With other problems too: the list first, then the entries'. */
	json_array_set_new(recs, 3, json_pack("{s:s, s:s}", "PartitionKey", "", "Data", ""));
	call("PutRecords", json_pack("{s:s, s:O}", "StreamName", "lim", "Records", recs));
	expect_err(400, "ValidationException", NULL);
	cr_assert_eq(
	        strncmp(err_message(), "2 validation errors detected: Value '[" ENTRY_NAME, 40), 0,
	        "%.200s", err_message());
	cr_assert_not_null(strstr(err_message(), ENTRY_NAME
	                          "]' at 'records' failed to satisfy constraint: Member "
	                          "must have length less than or equal to 500; Value '' at "
	                          "'records.4.member.partitionKey' failed to satisfy "
	                          "constraint: Member must have length greater than or "
	                          "equal to 1"));
	json_decref(recs);
	unsigned puts = fb.puts;

	/* 5 MiB of data and keys in all: fine; one byte more: not. */
	recs = json_array();
	for (uint32_t i = 0; i < 5; i++)
		json_array_append_new(recs, json_pack("{s:s, s:o}", "PartitionKey", "p", "Data",
		                                      jdata(i, MIB - 1)));
	call("PutRecords", json_pack("{s:s, s:O}", "StreamName", "lim", "Records", recs));
	expect_ok();
	cr_assert_eq(json_integer_value(json_object_get(ans.body, "FailedRecordCount")), 0);
	json_array_append_new(recs, json_pack("{s:s, s:s}", "PartitionKey", "p", "Data", ""));
	puts = fb.puts;
	call("PutRecords", json_pack("{s:s, s:o}", "StreamName", "lim", "Records", recs));
	expect_err(400, "InvalidArgumentException", "Records size exceeds 5 MB limit");
	cr_assert_eq(fb.puts, puts);
}

Test(api_data, limits_record_size_and_key_length)
{
	char *k;
	json_t *d;

	mkstream("lim", 1);
	/* data + key = 1 MiB: fine. */
	call("PutRecord", json_pack("{s:s, s:s, s:o}", "StreamName", "lim", "PartitionKey", "k",
	                            "Data", jdata(0, MIB - 1)));
	expect_ok();
	call("PutRecord", json_pack("{s:s, s:s, s:o}", "StreamName", "lim", "PartitionKey", "kk",
	                            "Data", jdata(0, MIB - 1)));
	expect_err(400, "InvalidArgumentException", NULL);
	call("PutRecord", json_pack("{s:s, s:s, s:o}", "StreamName", "lim", "PartitionKey", "k",
	                            "Data", jdata(0, MIB + 1)));
	expect_err(400, "ValidationException",
	           "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 "
	           "cap=1048577]' at 'data' failed to satisfy constraint: Member must have length "
	           "less than or equal to 1048576");
	call("PutRecords", json_pack("{s:s, s:[{s:s, s:o}]}", "StreamName", "lim", "Records",
	                             "PartitionKey", "k", "Data", jdata(0, MIB + 1)));
	expect_err(400, "ValidationException",
	           "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 "
	           "cap=1048577]' at 'records.1.member.data' failed to satisfy constraint: Member "
	           "must have length less than or equal to 1048576");

	/* Keys: 1..256 characters, counted as Unicode characters. */
	call("PutRecord",
	     json_pack("{s:s, s:s, s:s}", "StreamName", "lim", "PartitionKey", "", "Data", "AAAA"));
	expect_err(400, "ValidationException",
	           "1 validation error detected: Value '' at 'partitionKey' failed to satisfy "
	           "constraint: Member must have length greater than or equal to 1");
	k = repeat("a", 256);
	free(put1("lim", k, 1, 1, NULL));
	free(k);
	k = repeat("a", 257);
	call("PutRecord",
	     json_pack("{s:s, s:s, s:s}", "StreamName", "lim", "PartitionKey", k, "Data", "AAAA"));
	char want[1024];

	snprintf(want, sizeof(want),
	         "1 validation error detected: Value '%s' at 'partitionKey' failed to satisfy "
	         "constraint: Member must have length less than or equal to 256",
	         k);
	expect_err(400, "ValidationException", want);
	free(k);
	k = repeat("\xc3\xa9", 128); /* é: 128 characters, 256 bytes */
	free(put1("lim", k, 2, 1, NULL));
	char *it = iterator("lim", "shardId-000000000000", "AT_SEQUENCE_NUMBER",
	                    json_string_value(json_object_get(ans.body, "SequenceNumber")));
	json_t *b = get(it, 1);

	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_array_get(json_object_get(b, "Records"), 0), "PartitionKey")),
	                 k);
	free(it);
	free(k);
	k = repeat("\xe2\x82\xac", 257); /* €: 257 characters */
	call("PutRecords", json_pack("{s:s, s:[{s:s, s:s}]}", "StreamName", "lim", "Records",
	                             "PartitionKey", k, "Data", ""));
	expect_err(400, "ValidationException", NULL);
	cr_assert_not_null(strstr(err_message(), "at 'records.1.member.partitionKey' failed to "
	                                         "satisfy constraint: Member must have length less "
	                                         "than or equal to 256"));
	free(k);
	/* 256 characters that take 768 bytes of UTF-8: as Kinesis, taken. */
	k = repeat("\xe2\x82\xac", 256);
	free(put1("lim", k, 3, 1, NULL));
	free(k);
	(void)d;
}

Test(api_data, get_records_limit_and_size_cap)
{
	mkstream("big", 1);
	/* 12 records of 1,000,000 bytes: 10 fit in the 10 MiB of one answer. */
	for (uint32_t r = 0; r < 3; r++) {
		json_t *recs = json_array();

		for (uint32_t i = 0; i < 4; i++)
			json_array_append_new(recs, json_pack("{s:s, s:o}", "PartitionKey", "p",
			                                      "Data", jdata(r * 4 + i, 1000000)));
		call("PutRecords", json_pack("{s:s, s:o}", "StreamName", "big", "Records", recs));
		expect_ok();
		cr_assert_eq(json_integer_value(json_object_get(ans.body, "FailedRecordCount")), 0);
	}
	char *it = iterator("big", "shardId-000000000000", "TRIM_HORIZON", NULL), *nit;
	json_t *b = get(it, 0);

	cr_assert_eq(nrecs(b), 10);
	for (uint32_t i = 0; i < 10; i++)
		check_data(json_array_get(json_object_get(b, "Records"), i), i, 1000000);
	nit = next_it(b);
	b = get(nit, 0);
	cr_assert_eq(nrecs(b), 2);
	check_data(json_array_get(json_object_get(b, "Records"), 0), 10, 1000000);
	free(nit);
	/* Limit is honoured. */
	b = get(it, 3);
	cr_assert_eq(nrecs(b), 3);
	b = get(it, 1);
	cr_assert_eq(nrecs(b), 1);
	/* And checked. */
	call("GetRecords", json_pack("{s:s, s:i}", "ShardIterator", it, "Limit", 0));
	expect_err(
	        400, "ValidationException",
	        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
	        "Member must have value greater than or equal to 1");
	call("GetRecords", json_pack("{s:s, s:i}", "ShardIterator", it, "Limit", 10001));
	expect_err(400, "ValidationException",
	           "1 validation error detected: Value '10001' at 'limit' failed to satisfy "
	           "constraint: Member must have value less than or equal to 10000");
	b = get(it, 10000);
	cr_assert_eq(nrecs(b), 10);
	free(it);
}

Test(api_data, get_records_limit_10000_of_many)
{
	mkstream("many", 1);
	for (uint32_t r = 0; r < 21; r++) {
		json_t *recs = json_array();

		for (uint32_t i = 0; i < 500; i++)
			json_array_append_new(
			        recs, json_pack("{s:s, s:s}", "PartitionKey", "p", "Data", "AQID"));
		call("PutRecords", json_pack("{s:s, s:o}", "StreamName", "many", "Records", recs));
		expect_ok();
	}
	char *it = iterator("many", "shardId-000000000000", "TRIM_HORIZON", NULL), *nit;
	json_t *b = get(it, 0);

	cr_assert_eq(nrecs(b), 10000);
	cr_assert_geq(json_integer_value(json_object_get(b, "MillisBehindLatest")), 0);
	nit = next_it(b);
	b = get(nit, 0);
	cr_assert_eq(nrecs(b), 500);
	cr_assert_eq(json_integer_value(json_object_get(b, "MillisBehindLatest")), 0);
	free(nit);
	free(it);
}

Test(api_data, iterator_tampering_and_expiry)
{
	char msg[512];

	mkstream("t", 1);
	free(put1("t", "a", 0, 4, NULL));
	char *it = iterator("t", "shardId-000000000000", "TRIM_HORIZON", NULL);
	size_t n = strlen(it);

	cr_assert_leq(n, 512);
	for (size_t i = 0; i < n; i++) {
		char *t = xstrdup(it);

		t[i] = t[i] == 'A' ? 'B' : 'A';
		call("GetRecords", json_pack("{s:s}", "ShardIterator", t));
		expect_err(400, "InvalidArgumentException", "Invalid ShardIterator.");
		free(t);
	}
	call("GetRecords", json_pack("{s:s}", "ShardIterator", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	expect_err(400, "InvalidArgumentException", "Invalid ShardIterator.");
	call("GetRecords", json_pack("{s:s}", "ShardIterator", ""));
	expect_err(400, "ValidationException",
	           "1 validation error detected: Value '' at 'shardIterator' failed to satisfy "
	           "constraint: Member must have length greater than or equal to 1");
	call("GetRecords", json_object());
	expect_err(400, "ValidationException",
	           "1 validation error detected: Value null at 'shardIterator' failed to satisfy "
	           "constraint: Member must not be null");
	cr_assert_eq(nrecs(get(it, 0)), 1);

	/* An old token, made with the key: expired, with both times. */
	const struct sl_cat_stream *s = stream("t");
	struct sl_api_iterator old = {.stream_id = s->id,
	                              .shard_id = 0,
	                              .seq = 0,
	                              .issued_ms = sl_wall_ns() / 1000000 - 300000 - 60000,
	                              .stream_created_ms = s->created_ms};
	char tok[SL_API_ITERATOR_BUF], when[64];
	time_t t = (time_t)(old.issued_ms / 1000);
	struct tm tm;

	snprintf(old.stream, sizeof(old.stream), "t");
	sl_api_iterator_encode(KEY, &old, tok);
	call("GetRecords", json_pack("{s:s}", "ShardIterator", tok));
	expect_err(400, "ExpiredIteratorException", NULL);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%a %b %d %H:%M:%S UTC %Y", &tm);
	snprintf(msg, sizeof(msg),
	         "Iterator expired. The iterator was created at time %s while right now it is ",
	         when);
	cr_assert_eq(strncmp(err_message(), msg, strlen(msg)), 0, "%s\nvs %s", err_message(), msg);
	cr_assert_not_null(strstr(err_message(), " which is further in the future than the "
	                                         "tolerated delay of 300000 milliseconds."));
	/* Just inside the TTL: fine. */
	old.issued_ms = sl_wall_ns() / 1000000 - 300000 + 60000;
	sl_api_iterator_encode(KEY, &old, tok);
	cr_assert_eq(nrecs(get(tok, 0)), 1);
	/* Made with another key: invalid, not expired. */
	uint8_t other[32] = {1};

	old.issued_ms = sl_wall_ns() / 1000000 - 300000 - 60000;
	sl_api_iterator_encode(other, &old, tok);
	call("GetRecords", json_pack("{s:s}", "ShardIterator", tok));
	expect_err(400, "InvalidArgumentException", "Invalid ShardIterator.");

	/* Another stream's id or creation time: that shard does not exist. */
	old.issued_ms = sl_wall_ns() / 1000000;
	old.stream_created_ms = s->created_ms + 1;
	sl_api_iterator_encode(KEY, &old, tok);
	call("GetRecords", json_pack("{s:s}", "ShardIterator", tok));
	expect_err(400, "ResourceNotFoundException",
	           "Shard shardId-000000000000 in stream t under account " ACC " does not exist");
	old.stream_created_ms = s->created_ms;
	old.shard_id = 5;
	sl_api_iterator_encode(KEY, &old, tok);
	call("GetRecords", json_pack("{s:s}", "ShardIterator", tok));
	expect_err(400, "ResourceNotFoundException",
	           "Shard shardId-000000000005 in stream t under account " ACC " does not exist");
	free(it);
}

Test(api_data, short_ttl_from_config)
{
	sl_api_free(api);
	acfg.iterator_ttl_ms = 1000;
	start_api();
	mkstream("ttl", 1);
	const struct sl_cat_stream *s = stream("ttl");
	struct sl_api_iterator it = {.stream_id = s->id,
	                             .issued_ms = sl_wall_ns() / 1000000 - 5000,
	                             .stream_created_ms = s->created_ms};
	char tok[SL_API_ITERATOR_BUF];

	snprintf(it.stream, sizeof(it.stream), "ttl");
	sl_api_iterator_encode(KEY, &it, tok);
	call("GetRecords", json_pack("{s:s}", "ShardIterator", tok));
	expect_err(400, "ExpiredIteratorException", NULL);
	cr_assert_not_null(strstr(err_message(), "tolerated delay of 1000 milliseconds."));
}

Test(api_data, recreated_stream_refuses_old_iterators)
{
	mkstream("re", 1);
	free(put1("re", "a", 0, 4, NULL));
	char *it = iterator("re", "shardId-000000000000", "TRIM_HORIZON", NULL);
	const struct sl_cat_stream *s = stream("re");
	uint32_t old_id = s->id;

	cr_assert_eq(sl_catalog_delete_stream(cat, "re"), 0);
	fb_drop(NULL, old_id, "re");
	cr_assert_eq(sl_catalog_purge_stream(cat, "re"), 0);
	call("GetRecords", json_pack("{s:s}", "ShardIterator", it));
	expect_err(400, "ResourceNotFoundException",
	           "Shard shardId-000000000000 in stream re under account " ACC " does not exist");
	mkstream("re", 1);
	call("GetRecords", json_pack("{s:s}", "ShardIterator", it));
	expect_err(400, "ResourceNotFoundException",
	           "Shard shardId-000000000000 in stream re under account " ACC " does not exist");
	free(it);
}

Test(api_data, get_shard_iterator_errors)
{
	mkstream("g", 2);
	char *s0 = put1("g", "a", 0, 1, "0");
	char *s1 = put1("g", "a", 1, 1, MAXK_STR);

	call("GetShardIterator",
	     json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "g", "ShardId", "shardId-000000000000",
	               "ShardIteratorType", "AT_SEQUENCE_NUMBER", "StartingSequenceNumber", s1));
	expect_err(400, "InvalidArgumentException",
	           "Invalid StartingSequenceNumber. It encodes shardId-000000000001, while it was "
	           "used in a call to a shard with shardId-000000000000");
	call("GetShardIterator",
	     json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "g", "ShardId", "shardId-000000000001",
	               "ShardIteratorType", "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber", s0));
	expect_err(400, "InvalidArgumentException",
	           "Invalid StartingSequenceNumber. It encodes shardId-000000000000, while it was "
	           "used in a call to a shard with shardId-000000000001");
	call("GetShardIterator",
	     json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "g", "ShardId", "shardId-0",
	               "ShardIteratorType", "AT_SEQUENCE_NUMBER", "StartingSequenceNumber", "5"));
	expect_err(
	        400, "InvalidArgumentException",
	        "StartingSequenceNumber 5 used in GetShardIterator on shard shardId-000000000000 "
	        "in stream g under account " ACC " is invalid.");
	for (int k = 0; k < 2; k++) {
		const char *type = k ? "AFTER_SEQUENCE_NUMBER" : "AT_SEQUENCE_NUMBER";
		char want[512];

		call("GetShardIterator", json_pack("{s:s, s:s, s:s}", "StreamName", "g", "ShardId",
		                                   "shardId-0", "ShardIteratorType", type));
		snprintf(want, sizeof(want),
		         "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and "
		         "StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no "
		         "StartingSequenceNumber. Request specified %s and no "
		         "StartingSequenceNumber.",
		         type);
		expect_err(400, "InvalidArgumentException", want);
		type = k ? "LATEST" : "TRIM_HORIZON";
		call("GetShardIterator",
		     json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "g", "ShardId", "shardId-0",
		               "ShardIteratorType", type, "StartingSequenceNumber", s0));
		snprintf(want, sizeof(want),
		         "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and "
		         "StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no "
		         "StartingSequenceNumber. Request specified %s and also a "
		         "StartingSequenceNumber.",
		         type);
		expect_err(400, "InvalidArgumentException", want);
	}
	call("GetShardIterator", json_pack("{s:s, s:s, s:s}", "StreamName", "g", "ShardId",
	                                   "shardId-0", "ShardIteratorType", "AT_TIMESTAMP"));
	expect_err(400, "InvalidArgumentException",
	           "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. "
	           "Current request has no timestamp parameter.");
	call("GetShardIterator", json_pack("{s:s, s:s, s:s, s:f}", "StreamName", "g", "ShardId",
	                                   "shardId-0", "ShardIteratorType", "AT_TIMESTAMP",
	                                   "Timestamp", (double)time(NULL) + 3600));
	expect_err(400, "InvalidArgumentException", NULL);
	cr_assert_eq(strncmp(err_message(),
	                     "The timestampInMillis parameter cannot be greater than the "
	                     "currentTimestampInMillis. timestampInMillis: ",
	                     strlen("The timestampInMillis parameter cannot be greater than the "
	                            "currentTimestampInMillis. timestampInMillis: ")),
	             0, "%s", err_message());
	cr_assert_not_null(strstr(err_message(), ", currentTimestampInMillis: "));
	/* Shards that are not there. */
	call("GetShardIterator", json_pack("{s:s, s:s, s:s}", "StreamName", "g", "ShardId",
	                                   "shardId-000000000009", "ShardIteratorType", "LATEST"));
	expect_err(400, "ResourceNotFoundException",
	           "Shard shardId-000000000009 in stream g under account " ACC " does not exist");
	call("GetShardIterator", json_pack("{s:s, s:s, s:s}", "StreamName", "g", "ShardId", "9",
	                                   "ShardIteratorType", "LATEST"));
	expect_err(400, "ResourceNotFoundException",
	           "Shard shardId-000000000009 in stream g under account " ACC " does not exist");
	call("GetShardIterator", json_pack("{s:s, s:s, s:s}", "StreamName", "g", "ShardId",
	                                   "ABKLFD8", "ShardIteratorType", "LATEST"));
	expect_err(400, "ResourceNotFoundException",
	           "Could not find shard ABKLFD8 in stream g under account " ACC ".");
	call("GetShardIterator", json_pack("{s:s, s:s, s:s}", "StreamName", "nope", "ShardId",
	                                   "shardId-000000000000", "ShardIteratorType", "LATEST"));
	expect_err(400, "ResourceNotFoundException",
	           "Shard shardId-000000000000 in stream nope under account " ACC
	           " does not exist");
	/* Validation. */
	call("GetShardIterator",
	     json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "g", "ShardId", "shardId-0",
	               "ShardIteratorType", "SOMEWHERE", "StartingSequenceNumber", "x"));
	expect_err(
	        400, "ValidationException",
	        "2 validation errors detected: Value 'SOMEWHERE' at 'shardIteratorType' failed to "
	        "satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, "
	        "LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]; Value 'x' at "
	        "'startingSequenceNumber' failed to satisfy constraint: Member must satisfy "
	        "regular expression pattern: 0|([1-9]\\d{0,128})");
	call("GetShardIterator", json_pack("{s:s}", "StreamName", "g"));
	expect_err(400, "ValidationException", NULL);
	cr_assert_not_null(strstr(err_message(), "2 validation errors detected: "));
	cr_assert_not_null(strstr(err_message(), "Value null at 'shardIteratorType'"));
	free(s0);
	free(s1);
}

Test(api_data, reading_across_a_split)
{
	char *seqs[3], *it, *nit;
	json_t *b, *ch;
	char half[40];

	mkstream("sp", 1);
	for (uint32_t i = 0; i < 3; i++)
		seqs[i] = put1("sp", "k", i, 16, NULL);
	it = iterator("sp", "shardId-000000000000", "TRIM_HORIZON", NULL);

	/* Closed, but its end not known yet: the reader keeps an iterator. */
	split("sp", 0, (sl_u128)1 << 127, false);
	b = get(it, 0);
	cr_assert_eq(nrecs(b), 3);
	nit = next_it(b);
	cr_assert_not_null(nit, "no end before end_seq is known");
	cr_assert_null(json_object_get(b, "ChildShards"));
	sync_ends("sp");
	b = get(nit, 0);
	cr_assert_eq(nrecs(b), 0);
	cr_assert_null(json_object_get(b, "NextShardIterator"));
	ch = json_object_get(b, "ChildShards");
	cr_assert_eq(json_array_size(ch), 2);
	sl_u128_format(((sl_u128)1 << 127) - 1, half);
	cr_assert(jeq(json_array_get(ch, 0),
	              json_pack("{s:s, s:[s], s:{s:s, s:s}}", "ShardId", "shardId-000000000001",
	                        "ParentShards", "shardId-000000000000", "HashKeyRange",
	                        "StartingHashKey", "0", "EndingHashKey", half)));
	sl_u128_format((sl_u128)1 << 127, half);
	cr_assert(jeq(json_array_get(ch, 1),
	              json_pack("{s:s, s:[s], s:{s:s, s:s}}", "ShardId", "shardId-000000000002",
	                        "ParentShards", "shardId-000000000000", "HashKeyRange",
	                        "StartingHashKey", half, "EndingHashKey", MAXK_STR)));
	free(nit);
	/* Reading it again in small steps: the last records come with the
	 * end. */
	b = get(it, 2);
	cr_assert_eq(nrecs(b), 2);
	nit = next_it(b);
	cr_assert_not_null(nit);
	b = get(nit, 2);
	cr_assert_eq(nrecs(b), 1);
	cr_assert_str_eq(rec_seq(b, 0), seqs[2]);
	cr_assert_null(json_object_get(b, "NextShardIterator"));
	cr_assert_eq(json_array_size(json_object_get(b, "ChildShards")), 2);
	free(nit);
	free(it);
	/* A closed shard still gives iterators. */
	it = iterator("sp", "shardId-000000000000", "AT_SEQUENCE_NUMBER", seqs[1]);
	b = get(it, 0);
	cr_assert_eq(nrecs(b), 2);
	cr_assert_null(json_object_get(b, "NextShardIterator"));
	free(it);
	it = iterator("sp", "shardId-000000000000", "LATEST", NULL);
	b = get(it, 0);
	cr_assert_eq(nrecs(b), 0);
	cr_assert_null(json_object_get(b, "NextShardIterator"));
	cr_assert_eq(json_array_size(json_object_get(b, "ChildShards")), 2);
	free(it);

	/* New records go to the children, by hash key. */
	free(put1("sp", "x", 10, 8, "5"));
	cr_assert_str_eq(json_string_value(json_object_get(ans.body, "ShardId")),
	                 "shardId-000000000001");
	free(put1("sp", "x", 11, 8, MAXK_STR));
	cr_assert_str_eq(json_string_value(json_object_get(ans.body, "ShardId")),
	                 "shardId-000000000002");
	it = iterator("sp", "shardId-000000000001", "TRIM_HORIZON", NULL);
	b = get(it, 0);
	cr_assert_eq(nrecs(b), 1);
	check_data(json_array_get(json_object_get(b, "Records"), 0), 10, 8);
	cr_assert_not_null(json_object_get(b, "NextShardIterator"));
	free(it);

	/* Merge the children: each, once read, names the one child with both
	 * parents. Shard 1 got a record, shard 2 one too. */
	cr_assert_eq(sl_catalog_merge_shards(cat, "sp", 1, 2), 0, "%s", sl_errmsg());
	sync_ends("sp");
	cr_assert_eq(sl_catalog_set_active(cat, "sp"), 0);
	for (int k = 1; k <= 2; k++) {
		char sid[SL_CATALOG_SHARD_ID_BUF];

		sl_catalog_shard_id_format((uint32_t)k, sid);
		it = iterator("sp", sid, "TRIM_HORIZON", NULL);
		b = get(it, 0);
		cr_assert_eq(nrecs(b), 1);
		cr_assert_null(json_object_get(b, "NextShardIterator"));
		ch = json_object_get(b, "ChildShards");
		cr_assert_eq(json_array_size(ch), 1);
		cr_assert(jeq(json_object_get(json_array_get(ch, 0), "ParentShards"),
		              json_pack("[s, s]", "shardId-000000000001", "shardId-000000000002")));
		cr_assert_str_eq(
		        json_string_value(json_object_get(json_array_get(ch, 0), "ShardId")),
		        "shardId-000000000003");
		free(it);
	}
	for (int i = 0; i < 3; i++)
		free(seqs[i]);
}

Test(api_data, empty_closed_shard_ends_at_once)
{
	mkstream("e", 1);
	char *it = iterator("e", "shardId-000000000000", "TRIM_HORIZON", NULL);

	split("e", 0, (sl_u128)1 << 100, true);
	json_t *b = get(it, 0);

	cr_assert_eq(nrecs(b), 0);
	cr_assert_null(json_object_get(b, "NextShardIterator"));
	cr_assert_eq(json_array_size(json_object_get(b, "ChildShards")), 2);
	free(it);
}

Test(api_data, put_rerouted_after_a_split)
{
	/* The parts were routed to shard 0; the backend closes it before
	 * taking them (-ENOENT): they go again, to the children. */
	mkstream("rr", 1);
	fb.defer = true;
	json_t *recs =
	        json_pack("[{s:s, s:s, s:o}, {s:s, s:s, s:o}, {s:s, s:s, s:o}]", "PartitionKey",
	                  "a", "ExplicitHashKey", "1", "Data", jdata(0, 9), "PartitionKey", "b",
	                  "ExplicitHashKey", MAXK_STR, "Data", jdata(1, 9), "PartitionKey", "c",
	                  "ExplicitHashKey", "2", "Data", jdata(2, 9));

	send_req("PutRecords", json_pack("{s:s, s:o}", "StreamName", "rr", "Records", recs));
	cr_assert(!ans.done);
	fb.defer = false;
	split("rr", 0, (sl_u128)1 << 127, true);
	fb_release();
	wait_answer();
	expect_ok();
	cr_assert_eq(json_integer_value(json_object_get(ans.body, "FailedRecordCount")), 0);
	json_t *out = json_object_get(ans.body, "Records");
	static const char *const want[] = {"shardId-000000000001", "shardId-000000000002",
	                                   "shardId-000000000001"};

	for (int i = 0; i < 3; i++)
		cr_assert_str_eq(
		        json_string_value(json_object_get(json_array_get(out, i), "ShardId")),
		        want[i]);
	char *it = iterator("rr", "shardId-000000000001", "TRIM_HORIZON", NULL);
	json_t *b = get(it, 0);

	cr_assert_eq(nrecs(b), 2);
	check_data(json_array_get(json_object_get(b, "Records"), 0), 0, 9);
	check_data(json_array_get(json_object_get(b, "Records"), 1), 2, 9);
	free(it);

	/* A PutRecord whose shard goes away twice fails. */
	fb.defer = true;
	send_req("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "rr", "PartitionKey",
	                                "a", "ExplicitHashKey", "1", "Data", "AAAA"));
	fb.defer = false;
	split("rr", 1, (sl_u128)1 << 126, true);
	/* The backend closes the child too, but the catalog still routes to
	 * it: the retry fails. */
	fb_find(stream("rr")->id, 3)->closed = true;
	fb_release();
	wait_answer();
	expect_err(500, "InternalFailure", NULL);
}

Test(api_data, millis_behind_latest)
{
	mkstream("mb", 1);
	const struct sl_cat_stream *s = stream("mb");
	struct sl_log *log = fb_log(NULL, s->id, 0);
	struct sl_record_in recs[4];
	int64_t now = sl_wall_ns();
	uint64_t first;

	/* Records that arrived 60, 50, 40 and 30 s ago, appended directly. */
	for (int i = 0; i < 4; i++)
		recs[i] = (struct sl_record_in){.key = "k",
		                                .key_len = 1,
		                                .data = "d",
		                                .data_len = 1,
		                                .arrival_ns =
		                                        now - (int64_t)(60 - 10 * i) * 1000000000};
	cr_assert_eq(sl_log_append(log, recs, 4, 0, 0, &first), 0);
	sl_log_sync(log);
	char *it = iterator("mb", "shardId-000000000000", "TRIM_HORIZON", NULL), *nit;
	json_t *b = get(it, 1);
	int64_t behind = json_integer_value(json_object_get(b, "MillisBehindLatest"));

	cr_assert_geq(behind, 60000);
	cr_assert_lt(behind, 60000 + 30000);
	double ts = json_number_value(json_object_get(
	        json_array_get(json_object_get(b, "Records"), 0), "ApproximateArrivalTimestamp"));

	cr_assert_lt(dabs(ts - (double)(now / 1000000) / 1000.0 + 60.0), 0.002);
	nit = next_it(b);
	b = get(nit, 2);
	behind = json_integer_value(json_object_get(b, "MillisBehindLatest"));
	cr_assert_geq(behind, 40000);
	cr_assert_lt(behind, 40000 + 30000);
	free(nit);
	nit = next_it(b);
	b = get(nit, 5);
	cr_assert_eq(nrecs(b), 1);
	cr_assert_eq(json_integer_value(json_object_get(b, "MillisBehindLatest")), 0);
	free(nit);
	/* Exactly at the end with the Limit: caught up too. */
	b = get(it, 4);
	cr_assert_eq(nrecs(b), 4);
	cr_assert_eq(json_integer_value(json_object_get(b, "MillisBehindLatest")), 0);
	free(it);
}

Test(api_data, partition_keys_that_are_not_utf8_come_back_replaced)
{
	mkstream("u", 1);
	struct sl_log *log = fb_log(NULL, stream("u")->id, 0);
	struct sl_record_in rec = {.key = "a\xff"
	                                  "b",
	                           .key_len = 3,
	                           .data = "x",
	                           .data_len = 1,
	                           .arrival_ns = sl_wall_ns()};
	uint64_t first;

	cr_assert_eq(sl_log_append(log, &rec, 1, 0, 0, &first), 0);
	sl_log_sync(log);
	char *it = iterator("u", "shardId-000000000000", "TRIM_HORIZON", NULL);
	json_t *b = get(it, 0);

	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_array_get(json_object_get(b, "Records"), 0), "PartitionKey")),
	                 "a\xef\xbf\xbd"
	                 "b");
	free(it);
}

Test(api_data, stream_arn_is_accepted)
{
	char arn[256];

	mkstream("arn", 1);
	sl_catalog_stream_arn(cat, stream("arn"), arn, sizeof(arn));
	call("PutRecord",
	     json_pack("{s:s, s:s, s:s}", "StreamARN", arn, "PartitionKey", "a", "Data", "AAAA"));
	expect_ok();
	call("GetShardIterator",
	     json_pack("{s:s, s:s, s:s}", "StreamARN", arn, "ShardId", "shardId-000000000000",
	               "ShardIteratorType", "TRIM_HORIZON"));
	expect_ok();
	char *it = xstrdup(json_string_value(json_object_get(ans.body, "ShardIterator")));

	call("GetRecords", json_pack("{s:s, s:s}", "ShardIterator", it, "StreamARN", arn));
	expect_ok();
	cr_assert_eq(nrecs(ans.body), 1);
	free(it);
}

Test(api_data, puts_in_flight_at_free_are_answered_503)
{
	mkstream("bye", 1);
	fb.defer = true;
	send_req("PutRecord", json_pack("{s:s, s:s, s:s}", "StreamName", "bye", "PartitionKey", "a",
	                                "Data", "AAAA"));
	cr_assert(!ans.done);
	struct sl_api_stats st;

	sl_api_stats(api, &st);
	cr_assert_eq(st.inflight, 1);
	sl_api_free(api);
	api = NULL;
	cr_assert(ans.done);
	expect_err(503, "ServiceUnavailable", NULL);
	/* The backend, stopped, drops what it held. */
	while (fb.deferred) {
		struct fb_put *w = fb.deferred;

		fb.deferred = w->next;
		free(w);
	}
}

Test(api_data, counters)
{
	struct sl_api_stats st;

	mkstream("cnt", 2);
	fb.throttle_now = 1;
	call("PutRecords",
	     json_pack("{s:s, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}]}", "StreamName",
	               "cnt", "Records", "PartitionKey", "a", "ExplicitHashKey", "0", "Data",
	               "AAAA", "PartitionKey", "a", "ExplicitHashKey", "1", "Data", "AAAA",
	               "PartitionKey", "a", "ExplicitHashKey", MAXK_STR, "Data", "AAAA"));
	expect_ok();
	char *it = iterator("cnt", "shardId-000000000000", "TRIM_HORIZON", NULL);

	cr_assert_eq(nrecs(get(it, 0)), 2);
	free(it);
	sl_api_stats(api, &st);
	cr_assert_eq(st.put_records, 2);
	cr_assert_eq(st.put_throttled, 1);
	cr_assert_eq(st.get_records, 2);
	cr_assert_eq(st.inflight, 0);
}

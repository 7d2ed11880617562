/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kinesis data operations: PutRecord, PutRecords, GetShardIterator and
 * GetRecords, the shard iterators they hand out and the sequence numbers
 * they show (research/kinesis-api.md 2.2, 2.5-2.8).
 *
 * Writes: the API routes. Each record's hash key (its ExplicitHashKey, or
 * the MD5 of its partition key read as a big-endian 128-bit integer) picks
 * the open shard of the catalog stream whose range holds it. A request's
 * records are grouped by shard into parts (request order kept within a
 * part) and each part goes to the backend's put(); the answer goes out when
 * every part came back through sl_api_data_put_done(). A part the backend
 * no longer routes (-ENOENT: a reshard closed the shard in between) is
 * routed once more against the catalog as it is then. The request owns the
 * records' memory (keys inside the parsed body, decoded data) until it is
 * answered, so it outlives every part.
 *
 * Reads: a shard iterator is a position in one shard's log, resolved when
 * the iterator is made, so that reading it twice gives the same records.
 * GetRecords reads from that position on the API's thread (records that
 * are durable only: an acknowledged put is durable, and nothing that a
 * crash could take back is ever shown), and hands out the next position.
 * Once the position passes the last record of a closed shard, there is no
 * next iterator and the answer names the shard's children instead.
 *
 * Shard iterator token (all integers little-endian), standard base64 with
 * padding, at most 240 characters:
 *
 *      0   1   2   3   4       8       12              20
 *     +---+---+---+---+-------+-------+---------------+
 *     |ver|flg|nln| 0 |stream | shard |  position     |
 *     +---+---+---+---+-------+-------+---------------+
 *     20              28              36          36+nln    +16
 *     +---------------+---------------+-----------+--------+
 *     | issued (ms)   | stream created| name      |  MAC   |
 *     +---------------+---------------+-----------+--------+
 *
 * - ver = 1; flg bit 0: made by LATEST (informational); nln = stream name
 *   length (1..128); position = the log sequence number the next read
 *   starts at (the first record at or after it); issued = Unix ms when the
 *   token was made; stream created = the catalog's created_ms, so that a
 *   stream deleted and created again under the same name does not accept
 *   its predecessor's iterators (stream ids are never reused either).
 * - MAC = the first 16 bytes of HMAC-SHA256(api->iterator_key, bytes
 *   [0, 36 + nln)). A token that does not decode to exactly this (wrong
 *   length, non-canonical base64, bad MAC, other version) is "Invalid
 *   ShardIterator."; one older than iterator_ttl_ms is expired.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "api_internal.h"
#include "hashkey.h"
#include "wire.h"

/* GetRecords: Kinesis's cap on one answer (key and data bytes here). */
#define GET_MAX_BYTES     (10u << 20)
#define GET_MAX_LIMIT     10000
#define GET_CHUNK         512 /* records per sl_reader_read() */
#define PUT_MAX_ENTRIES   500
#define KEY_MAX_CHARS     256
#define SEQ_PATTERN       "0|([1-9]\\d{0,128})"
#define HASH_KEY_PATTERN  "0|([1-9]\\d{0,38})"
#define ENTRY_STRUCT_NAME "com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry@c965e310"
#define LIST_MARK         "\x01records\x01"

/* A record of a put request. */
struct put_entry {
	uint8_t *data; /* decoded Data (malloc'd; NULL when empty) */
	size_t data_len;
	const char *key; /* the PartitionKey string inside c->in */
	size_t key_len;
	uint8_t hash[16]; /* big-endian */
	uint32_t shard_id;
	int status; /* 0 appended, 1 not yet, -EAGAIN throttled, -errno failed */
	uint64_t seq;
};

struct put_req {
	struct put_req *next, **pprev; /* api->data->reqs: requests in flight */
	struct sl_api_call *c;
	bool single; /* PutRecord (else PutRecords) */
	uint32_t stream_id;
	int64_t stream_created_ms;
	char stream[SL_CATALOG_NAME_MAX + 1];
	int64_t arrival_ns;
	struct put_part *parts; /* the backend holds these */
	uint32_t pending;       /* how many */
	uint32_t depth;         /* dispatch() calls on the stack (put_done may come inside put()) */
	uint32_t n;
	struct put_entry e[];
};

/* One shard's share of a request, as handed to the backend. */
struct put_part {
	struct sl_api_put p;
	struct put_req *req;
	struct put_part *next, **pprev; /* req->parts */
	bool rerouted;                  /* a -ENOENT now is final */
	uint32_t *idx;                  /* p.n entries: which request entry each record is */
};

struct sl_api_data {
	struct put_req *reqs;
};

/* ---- sequence numbers ---- */

#define SEQ_PREFIX     "49"
#define SEQ_SHARD_DIGS 12
#define SEQ_ZERO_DIGS  22
#define SEQ_LOG_DIGS   20

static void put_digits(char *p, int width, uint64_t v)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

void sl_api_seq_format(uint32_t shard_id, uint64_t seq, char buf[SL_API_SEQ_DIGITS + 1])
{
	/* By hand, not snprintf: PutRecords formats one per record. */
	static_assert(sizeof(SEQ_PREFIX) - 1 + 12 + 22 + 20 == SL_API_SEQ_DIGITS, "56 digits");
	memcpy(buf, SEQ_PREFIX, sizeof(SEQ_PREFIX) - 1);
	put_digits(buf + 2, 12, shard_id);
	memset(buf + 14, '0', 22);
	put_digits(buf + 36, 20, seq);
	buf[SL_API_SEQ_DIGITS] = 0;
}

/* n decimal digits at s as an integer (n <= 20; overflow beyond 64 bits is
 * -ERANGE). */
static int digits(const char *s, unsigned n, uint64_t *ret)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

int sl_api_seq_parse(const char *s, uint32_t *ret_shard_id, uint64_t *ret_seq)
{
	uint64_t shard, seq;

	if (!s || strlen(s) != SL_API_SEQ_DIGITS || memcmp(s, SEQ_PREFIX, 2) != 0)
		return -EINVAL;
	if (digits(s + 2, SEQ_SHARD_DIGS, &shard) < 0 || shard > UINT32_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < SEQ_ZERO_DIGS; i++)
		if (s[2 + SEQ_SHARD_DIGS + i] != '0')
			return -EINVAL;
	if (digits(s + 2 + SEQ_SHARD_DIGS + SEQ_ZERO_DIGS, SEQ_LOG_DIGS, &seq) < 0)
		return -EINVAL;
	*ret_shard_id = (uint32_t)shard;
	*ret_seq = seq;
	return 0;
}

/* ---- shard iterators ---- */

#define IT_HDR     36
#define IT_MAC     16
#define IT_MAX     (IT_HDR + SL_CATALOG_NAME_MAX + IT_MAC)
#define B64_LEN(n) (4 * (((n) + 2) / 3))

static_assert(B64_LEN(IT_MAX) < SL_API_ITERATOR_BUF, "token fits its buffer");
static_assert(B64_LEN(IT_MAX) <= 512, "Kinesis allows 512 characters");

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void iterator_mac(const uint8_t key[32], const uint8_t *msg, size_t len, uint8_t mac[IT_MAC])
{
	uint8_t full[EVP_MAX_MD_SIZE];
	unsigned flen = 0;

	HMAC(EVP_sha256(), key, 32, msg, len, full, &flen);
	memcpy(mac, full, IT_MAC);
}

int sl_api_iterator_encode(const uint8_t key[32], const struct sl_api_iterator *it,
                           char buf[SL_API_ITERATOR_BUF])
{
	uint8_t raw[IT_MAX];
	size_t nlen = strnlen(it->stream, sizeof(it->stream));
	size_t len;

	if (nlen == 0 || nlen > SL_CATALOG_NAME_MAX)
		return -EINVAL;
	raw[0] = SL_API_ITERATOR_VERSION;
	raw[1] = it->flags;
	raw[2] = (uint8_t)nlen;
	raw[3] = 0;
	put_le32(raw + 4, it->stream_id);
	put_le32(raw + 8, it->shard_id);
	put_le64(raw + 12, it->seq);
	put_le64(raw + 20, (uint64_t)it->issued_ms);
	put_le64(raw + 28, (uint64_t)it->stream_created_ms);
	memcpy(raw + IT_HDR, it->stream, nlen);
	len = IT_HDR + nlen;
	iterator_mac(key, raw, len, raw + len);
	len += IT_MAC;
	return EVP_EncodeBlock((unsigned char *)buf, raw, (int)len);
}

int sl_api_iterator_decode(const uint8_t key[32], const char *s, struct sl_api_iterator *ret)
{
	uint8_t raw[IT_MAX + 3], mac[IT_MAC];
	char again[SL_API_ITERATOR_BUF];
	size_t slen = s ? strnlen(s, SL_API_ITERATOR_BUF) : 0;
	struct sl_api_iterator it;
	size_t len, nlen;
	int n;

	if (slen < B64_LEN(IT_HDR + 1 + IT_MAC) || slen > B64_LEN(IT_MAX) || slen % 4)
		return -EINVAL;
	n = EVP_DecodeBlock(raw, (const unsigned char *)s, (int)slen);
	if (n < 0)
		return -EINVAL;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	len = (size_t)n - (s[slen - 1] == '=') - (s[slen - 2] == '=');
	/* Only the canonical encoding of a token is one (no spare bits set,
	 * no stray padding): a flipped character never decodes to the same
	 * bytes. */
	if (len < IT_HDR + 1 + IT_MAC || len > IT_MAX ||
	    EVP_EncodeBlock((unsigned char *)again, raw, (int)len) != (int)slen ||
	    memcmp(again, s, slen) != 0)
		return -EINVAL;
	nlen = raw[2];
	if (raw[0] != SL_API_ITERATOR_VERSION || raw[3] != 0 || nlen == 0 ||
	    len != IT_HDR + nlen + IT_MAC)
		return -EINVAL;
	iterator_mac(key, raw, IT_HDR + nlen, mac);
	if (CRYPTO_memcmp(mac, raw + IT_HDR + nlen, IT_MAC) != 0)
		return -EINVAL;
	memset(&it, 0, sizeof(it));
	it.flags = raw[1];
	it.stream_id = get_le32(raw + 4);
	it.shard_id = get_le32(raw + 8);
	it.seq = get_le64(raw + 12);
	it.issued_ms = (int64_t)get_le64(raw + 20);
	it.stream_created_ms = (int64_t)get_le64(raw + 28);
	memcpy(it.stream, raw + IT_HDR, nlen);
	it.stream[nlen] = 0;
	*ret = it;
	return 0;
}

/* "Thu Jan 22 01:22:02 UTC 2015", as Kinesis prints times in messages. */
static void amz_time(int64_t ms, char buf[64])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, 64, "%a %b %d %H:%M:%S UTC %Y", &tm))
		snprintf(buf, 64, "%lld", (long long)ms);
}

/* ---- helpers ---- */

static const char *account(const struct sl_api_call *c)
{
	return c->api->account;
}

static bool stream_writable(const struct sl_cat_stream *s)
{
	return s->status == SL_CATALOG_ACTIVE || s->status == SL_CATALOG_UPDATING;
}

/* Unicode characters in a UTF-8 string (jansson checked it is UTF-8). */
static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((uint8_t)s[i] & 0xc0) != 0x80;
	return n;
}

/* s matches 0|([1-9]\d{0,max_digits-1}) */
static bool decimal_pattern(const char *s, size_t max_digits)
{
	size_t n = strlen(s);

	if (n == 0 || n > max_digits || (s[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static void u128_to_be(sl_u128 v, uint8_t out[16])
{
	for (int i = 15; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* The wire codec's MD5: a fetched digest and a context per thread, where
 * EVP_Digest(EVP_md5()) would look the implementation up (under OpenSSL's
 * locks) for every record. */
static void md5_key(const char *key, size_t len, uint8_t out[16])
{
	sl_wire_hash_key(key, len, out);
}

/* Type checks of a member of a nested object, worded as Kinesis's
 * SerializationException (the top-level ones are api.c's helpers). */
static bool entry_string(struct sl_api_call *c, json_t *obj, const char *name, const char **ret,
                         size_t *ret_len)
{
	json_t *v = json_object_get(obj, name);
	const char *msg;

	if (!v || json_is_null(v)) {
		*ret = NULL;
		*ret_len = 0;
		return true;
	}
	if (json_is_string(v)) {
		*ret = json_string_value(v);
		*ret_len = json_string_length(v);
		return true;
	}
	if (json_is_boolean(v))
		msg = "class java.lang.Boolean can not be converted to an String";
	else if (json_is_number(v))
		msg = "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be "
		      "converted to an String";
	else if (json_is_array(v))
		msg = "Start of list found where not expected";
	else
		msg = "Start of structure or map found where not expected.";
	sl_api_send_error(c, 400, "SerializationException", "%s", msg);
	return false;
}

/* The stream name a StreamARN names (for messages), or the ARN. */
static const char *arn_stream_name(const char *arn)
{
	const char *p = arn ? strstr(arn, ":stream/") : NULL;

	return p ? p + 8 : (arn ? arn : "");
}

/* ---- routing ---- */

struct route {
	uint32_t n;
	struct route_shard {
		sl_u128 start, end;
		uint32_t id;
	} * r;
};

static int route_cmp(const void *a, const void *b)
{
	const struct route_shard *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* The open shards of s by start key. */
static int route_build(const struct sl_cat_stream *s, struct route *rt)
{
	rt->n = 0;
	rt->r = malloc(sizeof(*rt->r) * (s->nshards ? s->nshards : 1));
	if (!rt->r)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->nshards; i++) {
		const struct sl_cat_shard *sh = &s->shards[i];

		if (!sh->closed)
			rt->r[rt->n++] = (struct route_shard){sh->start, sh->end, sh->id};
	}
	qsort(rt->r, rt->n, sizeof(*rt->r), route_cmp);
	return 0;
}

static uint32_t route_find(const struct route *rt, sl_u128 v)
{
	uint32_t lo = 0, hi = rt->n;

	/* The last shard starting at or before v. */
	while (hi > lo) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (rt->r[mid].start <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || v > rt->r[lo - 1].end)
		return SL_CATALOG_NO_SHARD;
	return rt->r[lo - 1].id;
}

/* ---- puts: dispatch and completion ---- */

static void part_free(struct put_part *pt)
{
	if (pt->pprev) {
		*pt->pprev = pt->next;
		if (pt->next)
			pt->next->pprev = pt->pprev;
	}
	free(pt);
}

static void put_finish(struct put_req *q);

static void entries_fail(struct put_req *q, const uint32_t *idx, uint32_t n, int status)
{
	for (uint32_t i = 0; i < n; i++)
		q->e[idx[i]].status = status;
}

static int idx_shard_cmp_arg(const void *a, const void *b, void *arg)
{
	const struct put_req *q = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	uint32_t sx = q->e[x].shard_id, sy = q->e[y].shard_id;

	if (sx != sy)
		return sx < sy ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Hands the entries idx[0..n) (routed: shard_id set) to the backend, one
 * part per shard. Entries that cannot go get their status now. */
static void dispatch(struct put_req *q, uint32_t *idx, uint32_t n, bool rerouted)
{
	struct sl_api *api = q->c->api;

	q->depth++;
	qsort_r(idx, n, sizeof(*idx), idx_shard_cmp_arg, q);
	for (uint32_t i = 0; i < n;) {
		uint32_t shard = q->e[idx[i]].shard_id, j = i;
		struct put_part *pt;
		struct sl_record_in *recs;
		size_t m;
		int rc;

		while (j < n && q->e[idx[j]].shard_id == shard)
			j++;
		m = j - i;
		if (shard == SL_CATALOG_NO_SHARD) {
			entries_fail(q, idx + i, (uint32_t)m, -ENOENT);
			i = j;
			continue;
		}
		pt = calloc(1, sizeof(*pt) +
		                       m * (sizeof(*recs) + sizeof(uint64_t) + sizeof(uint32_t)));
		if (!pt) {
			entries_fail(q, idx + i, (uint32_t)m, -ENOMEM);
			i = j;
			continue;
		}
		recs = (struct sl_record_in *)(pt + 1);
		pt->p.seqs = (uint64_t *)(recs + m);
		pt->idx = (uint32_t *)(pt->p.seqs + m);
		for (size_t k = 0; k < m; k++) {
			const struct put_entry *e = &q->e[idx[i + k]];

			pt->idx[k] = idx[i + k];
			recs[k] = (struct sl_record_in){
			        .key = e->key,
			        .data = e->data ? (const void *)e->data : (const void *)"",
			        .data_len = (uint32_t)e->data_len,
			        .key_len = (uint16_t)e->key_len,
			        .arrival_ns = q->arrival_ns,
			};
			memcpy(recs[k].hash_key, e->hash, 16);
		}
		pt->req = q;
		pt->rerouted = rerouted;
		pt->p.stream_id = q->stream_id;
		pt->p.shard_id = shard;
		pt->p.n = (uint32_t)m;
		pt->p.recs = recs;
		pt->p.api_priv = pt;
		pt->next = q->parts;
		if (pt->next)
			pt->next->pprev = &pt->next;
		pt->pprev = &q->parts;
		q->parts = pt;
		q->pending++;
		rc = api->be.put(api->be.arg, &pt->p);
		if (rc < 0) {
			/* Not taken: nothing of it was appended. */
			q->pending--;
			entries_fail(q, pt->idx, pt->p.n, rc);
			part_free(pt);
		}
		i = j;
	}
	q->depth--;
}

/* Routes entries idx[0..n) against the catalog as it is now and hands
 * them out. */
static void reroute(struct put_req *q, uint32_t *idx, uint32_t n)
{
	struct sl_api *api = q->c->api;
	const struct sl_cat_stream *s = sl_catalog_stream(api->cat, q->stream);
	struct route rt;

	if (!s || s->id != q->stream_id || s->created_ms != q->stream_created_ms ||
	    !stream_writable(s) || route_build(s, &rt) < 0) {
		entries_fail(q, idx, n, -ENOENT);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct put_entry *e = &q->e[idx[i]];

		e->shard_id = route_find(&rt, sl_hashkey_value(e->hash));
	}
	free(rt.r);
	dispatch(q, idx, n, true);
}

void sl_api_data_put_done(struct sl_api *api, struct sl_api_put *p)
{
	struct put_part *pt = p->api_priv;
	struct put_req *q = pt->req;

	(void)api;
	q->pending--;
	if (p->status == 0) {
		for (uint32_t i = 0; i < p->n; i++) {
			struct put_entry *e = &q->e[pt->idx[i]];

			e->status = 0;
			e->seq = p->seqs[i];
			e->shard_id = p->shard_id;
		}
	} else if (p->status == -ENOENT && !pt->rerouted) {
		q->depth++;
		reroute(q, pt->idx, p->n);
		q->depth--;
	} else {
		entries_fail(q, pt->idx, p->n, p->status < 0 ? p->status : -EIO);
	}
	part_free(pt);
	if (q->pending == 0 && q->depth == 0)
		put_finish(q);
}

static void put_req_free(struct put_req *q)
{
	if (!q)
		return;
	if (q->pprev) {
		*q->pprev = q->next;
		if (q->next)
			q->next->pprev = q->pprev;
	}
	while (q->parts) /* only when the API goes away with the backend stopped */
		part_free(q->parts);
	for (uint32_t i = 0; i < q->n; i++)
		free(q->e[i].data);
	free(q);
}

static void put_finish(struct put_req *q)
{
	struct sl_api_call *c = q->c;
	struct sl_api *api = c->api;
	char sid[SL_CATALOG_SHARD_ID_BUF], seq[SL_API_SEQ_DIGITS + 1];
	uint32_t ok = 0, throttled = 0;
	json_t *out = NULL, *recs = NULL;

	for (uint32_t i = 0; i < q->n; i++) {
		ok += q->e[i].status == 0;
		throttled += q->e[i].status == -EAGAIN;
	}
	api->st.put_records += ok;
	api->st.put_throttled += throttled;
	api->st.inflight--;
	if (q->single) {
		const struct put_entry *e = &q->e[0];

		sl_catalog_shard_id_format(e->shard_id, sid);
		if (e->status == 0) {
			sl_api_seq_format(e->shard_id, e->seq, seq);
			out = json_pack("{s:s, s:s}", "ShardId", sid, "SequenceNumber", seq);
		} else if (e->status == -EAGAIN) {
			sl_api_send_error(
			        c, 400, "ProvisionedThroughputExceededException",
			        "Rate exceeded for shard %s in stream %s under account %s.", sid,
			        q->stream, account(c));
			goto done;
		}
		if (!out) {
			sl_api_send_error(c, 500, "InternalFailure", "Internal Service Failure");
			goto done;
		}
		sl_api_send_ok(c, out);
		goto done;
	}
	{
		/*
		 * The answer by hand (it was a third of the API thread in jansson
		 * at 100-record requests): every string in it is digits, fixed
		 * ASCII, or a stream name ([A-Za-z0-9_.-]), none needing escapes.
		 */
		size_t cap = 64 + (size_t)q->n * (120 + SL_CATALOG_NAME_MAX + 64), len = 0;
		char *b = malloc(cap);

		if (!b)
			goto oom;
		len += (size_t)snprintf(b, cap, "{\"FailedRecordCount\":%u,\"Records\":[",
		                        q->n - ok);
		for (uint32_t i = 0; i < q->n; i++) {
			const struct put_entry *e = &q->e[i];

			if (i)
				b[len++] = ',';
			sl_catalog_shard_id_format(e->shard_id, sid);
			if (e->status == 0) {
				sl_api_seq_format(e->shard_id, e->seq, seq);
				memcpy(b + len, "{\"SequenceNumber\":\"", 19);
				len += 19;
				memcpy(b + len, seq, SL_API_SEQ_DIGITS);
				len += SL_API_SEQ_DIGITS;
				memcpy(b + len, "\",\"ShardId\":\"", 13);
				len += 13;
				memcpy(b + len, sid, SL_CATALOG_SHARD_ID_BUF - 1);
				len += SL_CATALOG_SHARD_ID_BUF - 1;
				memcpy(b + len, "\"}", 2);
				len += 2;
			} else if (e->status == -EAGAIN) {
				len += (size_t)snprintf(
				        b + len, cap - len,
				        "{\"ErrorCode\":\"ProvisionedThroughputExceededException\","
				        "\"ErrorMessage\":\"Rate exceeded for shard %s in stream "
				        "%s under "
				        "account %s.\"}",
				        sid, q->stream, account(c));
			} else {
				len += (size_t)snprintf(
				        b + len, cap - len,
				        "{\"ErrorCode\":\"InternalFailure\","
				        "\"ErrorMessage\":\"Internal Service Failure\"}");
			}
		}
		memcpy(b + len, "]}", 2);
		len += 2;
		sl_api_send_ok_raw(c, b, len);
		free(b);
	}
	goto done;
oom:
	json_decref(recs);
	json_decref(out);
	sl_api_send_error(c, 500, "InternalFailure", "Internal Service Failure");
done:
	put_req_free(q);
}

/* A new request with n entries, in flight. */
static struct put_req *put_req_new(struct sl_api_call *c, uint32_t n, bool single)
{
	struct put_req *q = calloc(1, sizeof(*q) + (size_t)n * sizeof(q->e[0]));

	if (!q)
		return NULL;
	q->c = c;
	q->single = single;
	q->n = n;
	for (uint32_t i = 0; i < n; i++)
		q->e[i].status = 1;
	return q;
}

/*
 * The checks after validation, then routing and dispatch: the stream must
 * take writes, hash keys must be in range, sizes within the limits. Sends
 * the error and frees q on failure.
 */
static void put_start(struct put_req *q, const struct sl_cat_stream *s,
                      const char *const *explicit_keys, const char *seq_for_ordering)
{
	struct sl_api_call *c = q->c;
	struct sl_api *api = c->api;
	uint64_t total = 0;
	uint32_t *idx = NULL;
	struct route rt = {0};

	if (!stream_writable(s)) {
		sl_api_send_error(c, 400, "ResourceNotFoundException",
		                  "Stream %s under account %s not found.", s->name, account(c));
		goto fail;
	}
	if (seq_for_ordering) {
		uint32_t sh;
		uint64_t v;

		if (sl_api_seq_parse(seq_for_ordering, &sh, &v) < 0) {
			sl_api_send_error(
			        c, 400, "InvalidArgumentException",
			        "ExclusiveMinimumSequenceNumber %s used in PutRecord on stream "
			        "%s under account %s is invalid.",
			        seq_for_ordering, s->name, account(c));
			goto fail;
		}
	}
	for (uint32_t i = 0; i < q->n; i++) {
		struct put_entry *e = &q->e[i];

		if (explicit_keys[i]) {
			sl_u128 v;

			if (sl_catalog_hash_key_parse(explicit_keys[i], &v) < 0) {
				sl_api_send_error(
				        c, 400, "InvalidArgumentException",
				        "Invalid ExplicitHashKey. ExplicitHashKey must be in "
				        "the range: [0, 2^128-1]. Specified value was %s",
				        explicit_keys[i]);
				goto fail;
			}
			u128_to_be(v, e->hash);
		} else {
			md5_key(e->key, e->key_len, e->hash);
		}
		/* The log keeps keys of up to SL_MAX_KEY_BYTES bytes; Kinesis
		 * allows 256 characters, which may take more in UTF-8. */
		if (e->key_len > SL_MAX_KEY_BYTES) {
			sl_api_send_error(
			        c, 400, "InvalidArgumentException",
			        "Partition key of %zu UTF-8 bytes is longer than the %u bytes "
			        "this server stores.",
			        e->key_len, SL_MAX_KEY_BYTES);
			goto fail;
		}
		if (e->data_len + e->key_len > api->c.max_record_bytes) {
			sl_api_send_error(
			        c, 400, "InvalidArgumentException",
			        "Record size (data and partition key) of %zu bytes exceeds "
			        "the limit of %u bytes.",
			        e->data_len + e->key_len, api->c.max_record_bytes);
			goto fail;
		}
		total += e->data_len + e->key_len;
	}
	if (!q->single && total > api->c.max_request_bytes) {
		sl_api_send_error(c, 400, "InvalidArgumentException",
		                  "Records size exceeds %u MB limit",
		                  api->c.max_request_bytes >> 20);
		goto fail;
	}
	idx = malloc(sizeof(*idx) * q->n);
	if (!idx || route_build(s, &rt) < 0) {
		sl_api_send_error(c, 500, "InternalFailure", "Internal Service Failure");
		goto fail;
	}
	for (uint32_t i = 0; i < q->n; i++) {
		idx[i] = i;
		q->e[i].shard_id = route_find(&rt, sl_hashkey_value(q->e[i].hash));
	}
	free(rt.r);
	q->stream_id = s->id;
	q->stream_created_ms = s->created_ms;
	snprintf(q->stream, sizeof(q->stream), "%s", s->name);
	q->arrival_ns = c->now_ms * 1000000;
	q->next = api->data->reqs;
	if (q->next)
		q->next->pprev = &q->next;
	q->pprev = &api->data->reqs;
	api->data->reqs = q;
	api->st.inflight++;
	dispatch(q, idx, q->n, false);
	free(idx);
	if (q->pending == 0 && q->depth == 0)
		put_finish(q);
	return;
fail:
	free(idx);
	free(rt.r);
	put_req_free(q);
}

/* Coral text of a blob value. */
static void blob_value(char *buf, size_t cap, size_t len)
{
	snprintf(buf, cap, "java.nio.HeapByteBuffer[pos=0 lim=%zu cap=%zu]", len, len);
}

/* The rules of one record's members (field prefix "" or
 * "records.<i>.member."). */
static void verr_record(struct sl_api *api, struct sl_api_verr *v, const char *prefix,
                        const char *key, size_t key_len, const char *ehk, bool data_present,
                        size_t data_len)
{
	char field[64], val[112];

	/* The usual record breaks no rule: say so without formatting. */
	if (key && key_len > 0 && key_len <= KEY_MAX_CHARS && (!ehk || decimal_pattern(ehk, 39)) &&
	    data_present && data_len <= api->c.max_record_bytes)
		return;

	snprintf(field, sizeof(field), "%spartitionKey", prefix);
	if (!key)
		sl_api_verr_add(v, NULL, field, "Member must not be null");
	else if (key_len == 0)
		sl_api_verr_add(v, key, field,
		                "Member must have length greater than or equal to 1");
	else if (utf8_chars(key, key_len) > KEY_MAX_CHARS)
		sl_api_verr_add(v, key, field, "Member must have length less than or equal to 256");
	snprintf(field, sizeof(field), "%sexplicitHashKey", prefix);
	if (ehk && !decimal_pattern(ehk, 39))
		sl_api_verr_add(
		        v, ehk, field,
		        "Member must satisfy regular expression pattern: " HASH_KEY_PATTERN);
	snprintf(field, sizeof(field), "%sdata", prefix);
	if (!data_present) {
		sl_api_verr_add(v, NULL, field, "Member must not be null");
	} else if (data_len > api->c.max_record_bytes) {
		char rule[80];

		blob_value(val, sizeof(val), data_len);
		snprintf(rule, sizeof(rule), "Member must have length less than or equal to %u",
		         api->c.max_record_bytes);
		sl_api_verr_add(v, val, field, rule);
	}
}

void sl_api_op_put_record(struct sl_api_call *c)
{
	struct sl_api *api = c->api;
	const char *name, *arn, *key, *ehk, *sfo;
	const struct sl_cat_stream *s;
	struct sl_api_verr v = {0};
	struct put_req *q;
	bool present;

	if (!sl_api_member_string(c, "SequenceNumberForOrdering", &sfo) ||
	    !sl_api_member_string(c, "PartitionKey", &key) ||
	    !sl_api_member_string(c, "ExplicitHashKey", &ehk))
		return;
	q = put_req_new(c, 1, true);
	if (!q) {
		sl_api_send_error(c, 500, "InternalFailure", "Internal Service Failure");
		return;
	}
	if (!sl_api_member_blob(c, c->in, "Data", "data", &q->e[0].data, &q->e[0].data_len,
	                        &present))
		goto freed;
	if (!sl_api_member_string(c, "StreamName", &name) ||
	    !sl_api_member_string(c, "StreamARN", &arn))
		goto freed;
	if (sfo && !decimal_pattern(sfo, 129))
		sl_api_verr_add(&v, sfo, "sequenceNumberForOrdering",
		                "Member must satisfy regular expression pattern: " SEQ_PATTERN);
	q->e[0].key = key;
	q->e[0].key_len = key ? strlen(key) : 0;
	verr_record(api, &v, "", key, q->e[0].key_len, ehk, present, q->e[0].data_len);
	sl_api_verr_stream_name(&v, name, arn == NULL);
	if (arn)
		sl_api_verr_stream_arn(&v, arn);
	if (sl_api_verr_send(c, &v))
		goto freed;
	s = sl_api_stream(c, name, arn);
	if (!s)
		goto freed;
	put_start(q, s, &ehk, sfo);
	return;
freed: /* c was answered */
	put_req_free(q);
}

void sl_api_op_put_records(struct sl_api_call *c)
{
	struct sl_api *api = c->api;
	const char *name, *arn, **ehk = NULL, *mark;
	const struct sl_cat_stream *s;
	struct sl_api_verr v = {0};
	struct put_req *q = NULL;
	char *list_val = NULL;
	json_t *list;
	size_t n;
	bool *present = NULL;

	if (!sl_api_member_array(c, "Records", &list))
		return;
	n = list ? json_array_size(list) : 0;
	q = put_req_new(c, (uint32_t)n, false);
	ehk = calloc(n ? n : 1, sizeof(*ehk));
	present = calloc(n ? n : 1, sizeof(*present));
	if (!q || !ehk || !present) {
		sl_api_send_error(c, 500, "InternalFailure", "Internal Service Failure");
		goto out;
	}
	/* Types first, every entry, as Kinesis checks them before any rule. */
	for (size_t i = 0; i < n; i++) {
		json_t *r = json_array_get(list, i);
		struct put_entry *e = &q->e[i];
		if (json_is_null(r))
			continue;
		if (!json_is_object(r)) {
			sl_api_send_error(c, 400, "SerializationException", "%s",
			                  json_is_array(r)
			                          ? "Start of list found where not expected"
			                          : "Expected null");
			goto out;
		}
		if (!entry_string(c, r, "PartitionKey", &e->key, &e->key_len) ||
		    !entry_string(c, r, "ExplicitHashKey", &ehk[i], &(size_t){0}) ||
		    !sl_api_member_blob(c, r, "Data", "data", &e->data, &e->data_len, &present[i]))
			goto out;
	}
	if (!sl_api_member_string(c, "StreamName", &name) ||
	    !sl_api_member_string(c, "StreamARN", &arn))
		goto out;

	if (!list) {
		sl_api_verr_add(&v, NULL, "records", "Member must not be null");
	} else if (n == 0) {
		sl_api_verr_add(&v, "[]", "records",
		                "Member must have length greater than or equal to 1");
	} else if (n > PUT_MAX_ENTRIES) {
		/* The list as Coral prints it, one Java object name per entry,
		 * is longer than sl_api_verr holds: a marker stands for it
		 * until the message is sent. */
		size_t cap = n * (sizeof(ENTRY_STRUCT_NAME) + 2) + 3, len = 0;

		list_val = malloc(cap);
		if (!list_val) {
			sl_api_send_error(c, 500, "InternalFailure", "Internal Service Failure");
			goto out;
		}
		list_val[len++] = '[';
		for (size_t i = 0; i < n; i++)
			len += (size_t)snprintf(list_val + len, cap - len, "%s%s", i ? ", " : "",
			                        ENTRY_STRUCT_NAME);
		snprintf(list_val + len, cap - len, "]");
		sl_api_verr_add(&v, LIST_MARK, "records",
		                "Member must have length less than or equal to 500");
	}
	for (size_t i = 0; i < n; i++) {
		char prefix[40];

		if (q->e[i].key && q->e[i].key_len > 0 && q->e[i].key_len <= KEY_MAX_CHARS &&
		    !ehk[i] && present[i] && q->e[i].data_len <= api->c.max_record_bytes)
			continue; /* the usual record: nothing to format */
		snprintf(prefix, sizeof(prefix), "records.%zu.member.", i + 1);
		verr_record(api, &v, prefix, q->e[i].key, q->e[i].key_len, ehk[i], present[i],
		            q->e[i].data_len);
	}
	sl_api_verr_stream_name(&v, name, arn == NULL);
	if (arn)
		sl_api_verr_stream_arn(&v, arn);
	if (list_val && (mark = strstr(v.msg, LIST_MARK))) {
		/* sl_api_verr_send() with the list in place of its marker. */
		sl_api_send_error(c, 400, "ValidationException",
		                  "%u validation error%s detected: %.*s%s%s", v.n,
		                  v.n > 1 ? "s" : "", (int)(mark - v.msg), v.msg, list_val,
		                  mark + strlen(LIST_MARK));
		goto out;
	}
	if (sl_api_verr_send(c, &v))
		goto out;
	s = sl_api_stream(c, name, arn);
	if (!s)
		goto out;
	put_start(q, s, ehk, NULL);
	q = NULL;
out:
	put_req_free(q);
	free(ehk);
	free(present);
	free(list_val);
}

/* ---- GetShardIterator ---- */

static const char *const iterator_types[] = {
        "AFTER_SEQUENCE_NUMBER", "LATEST", "AT_TIMESTAMP", "AT_SEQUENCE_NUMBER", "TRIM_HORIZON",
};
enum { IT_AFTER_SEQ, IT_LATEST, IT_AT_TIMESTAMP, IT_AT_SEQ, IT_TRIM_HORIZON };

/*
 * A ShardId as Kinesis resolves it: the digits after the first '-' (up to
 * the next), or the whole string, as a number up to 2^31-1. So
 * "shardId-000000000001", "shardId-1" and "1" name the same shard.
 */
static int resolve_shard_id(const char *s, uint32_t *ret)
{
	const char *p = strchr(s, '-'), *end;
	uint64_t v = 0;

	if (p && p[1] && p[1] != '-') {
		p++;
		end = strchr(p, '-');
		if (!end)
			end = p + strlen(p);
	} else {
		p = s;
		end = s + strlen(s);
	}
	if (end == p)
		return -EINVAL;
	for (const char *q = p; q < end; q++) {
		if (*q < '0' || *q > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*q - '0');
		if (v > INT32_MAX)
			return -EINVAL;
	}
	*ret = (uint32_t)v;
	return 0;
}

/* Resolves a log position with a reader: TRIM_HORIZON, LATEST or
 * AT_TIMESTAMP. */
static int resolve_position(struct sl_log *log, int type, int64_t ts_ms, uint64_t *ret)
{
	struct sl_reader *r;
	struct sl_record_out o;
	int rc;

	rc = sl_reader_open(log, 0, &r);
	if (rc < 0)
		return rc;
	if (type == IT_TRIM_HORIZON) {
		rc = sl_reader_seek_trim_horizon(r);
	} else if (type == IT_LATEST) {
		rc = sl_reader_seek_latest(r);
	} else {
		rc = sl_reader_seek_at_timestamp(r, ts_ms * 1000000);
		/* The seek lands on an indexed batch before the time; the first
		 * record that qualifies is found by reading (one at a time,
		 * older ones are skipped inside the reader). */
		if (rc == 0) {
			rc = sl_reader_read(r, &o, 1, 1);
			if (rc > 0) {
				*ret = o.seq;
				sl_reader_free(r);
				return 0;
			}
		}
	}
	if (rc >= 0) {
		*ret = sl_reader_position(r);
		rc = 0;
	}
	sl_reader_free(r);
	return rc;
}

static void send_iterator(struct sl_api_call *c, const struct sl_api_iterator *it)
{
	char tok[SL_API_ITERATOR_BUF];

	if (sl_api_iterator_encode(c->api->iterator_key, it, tok) < 0) {
		sl_api_send_error(c, 500, "InternalFailure", "Internal Service Failure");
		return;
	}
	sl_api_send_ok(c, json_pack("{s:s}", "ShardIterator", tok));
}

void sl_api_op_get_shard_iterator(struct sl_api_call *c)
{
	struct sl_api *api = c->api;
	const char *name, *arn, *shard_str, *type_str, *seq_str, *sname;
	const struct sl_cat_stream *s;
	char sid[SL_CATALOG_SHARD_ID_BUF];
	struct sl_api_verr v = {0};
	struct sl_api_iterator it = {0};
	struct sl_log *log;
	bool ts_present;
	int64_t ts_ms;
	uint32_t shard_id;
	int type = -1;

	if (!sl_api_member_string(c, "ShardId", &shard_str) ||
	    !sl_api_member_string(c, "ShardIteratorType", &type_str) ||
	    !sl_api_member_string(c, "StartingSequenceNumber", &seq_str) ||
	    !sl_api_member_string(c, "StreamName", &name) ||
	    !sl_api_member_string(c, "StreamARN", &arn) ||
	    !sl_api_member_timestamp(c, "Timestamp", &ts_present, &ts_ms))
		return;

	sl_api_verr_shard_id(&v, "shardId", shard_str, true);
	for (size_t i = 0; type_str && i < SL_ARRAY_SIZE(iterator_types); i++)
		if (strcmp(type_str, iterator_types[i]) == 0)
			type = (int)i;
	if (!type_str)
		sl_api_verr_add(&v, NULL, "shardIteratorType", "Member must not be null");
	else if (type < 0)
		sl_api_verr_add(
		        &v, type_str, "shardIteratorType",
		        "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, "
		        "AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]");
	if (seq_str && !decimal_pattern(seq_str, 129))
		sl_api_verr_add(&v, seq_str, "startingSequenceNumber",
		                "Member must satisfy regular expression pattern: " SEQ_PATTERN);
	sl_api_verr_stream_name(&v, name, arn == NULL);
	if (arn)
		sl_api_verr_stream_arn(&v, arn);
	if (sl_api_verr_send(c, &v))
		return;

	sname = name ? name : arn_stream_name(arn);
	if (resolve_shard_id(shard_str, &shard_id) < 0) {
		sl_api_send_error(c, 400, "ResourceNotFoundException",
		                  "Could not find shard %s in stream %s under account %s.",
		                  shard_str, sname, account(c));
		return;
	}
	sl_catalog_shard_id_format(shard_id, sid);
	s = name ? sl_catalog_stream(api->cat, name) : sl_catalog_stream_by_arn(api->cat, arn);
	if (s && name && arn) {
		/* Both given: api.c decides whether they agree. */
		s = sl_api_stream(c, name, arn);
		if (!s)
			return;
	}
	if (!s || !stream_writable(s) || !sl_catalog_shard(s, shard_id)) {
		sl_api_send_error(c, 400, "ResourceNotFoundException",
		                  "Shard %s in stream %s under account %s does not exist", sid,
		                  s ? s->name : sname, account(c));
		return;
	}

	it.stream_id = s->id;
	it.shard_id = shard_id;
	it.stream_created_ms = s->created_ms;
	it.issued_ms = c->now_ms;
	snprintf(it.stream, sizeof(it.stream), "%s", s->name);
	if (seq_str && (type == IT_TRIM_HORIZON || type == IT_LATEST)) {
		sl_api_send_error(
		        c, 400, "InvalidArgumentException",
		        "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER "
		        "and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no "
		        "StartingSequenceNumber. Request specified %s and also a "
		        "StartingSequenceNumber.",
		        type_str);
		return;
	}
	if (type == IT_AT_SEQ || type == IT_AFTER_SEQ) {
		uint32_t seq_shard;
		uint64_t seq;

		if (!seq_str) {
			sl_api_send_error(
			        c, 400, "InvalidArgumentException",
			        "Must either specify (1) AT_SEQUENCE_NUMBER or "
			        "AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) "
			        "TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request "
			        "specified %s and no StartingSequenceNumber.",
			        type_str);
			return;
		}
		if (sl_api_seq_parse(seq_str, &seq_shard, &seq) < 0) {
			sl_api_send_error(
			        c, 400, "InvalidArgumentException",
			        "StartingSequenceNumber %s used in GetShardIterator on shard %s "
			        "in stream %s under account %s is invalid.",
			        seq_str, sid, s->name, account(c));
			return;
		}
		if (seq_shard != shard_id) {
			char other[SL_CATALOG_SHARD_ID_BUF];

			sl_catalog_shard_id_format(seq_shard, other);
			sl_api_send_error(
			        c, 400, "InvalidArgumentException",
			        "Invalid StartingSequenceNumber. It encodes %s, while it was "
			        "used in a call to a shard with %s",
			        other, sid);
			return;
		}
		it.seq = type == IT_AT_SEQ || seq == UINT64_MAX ? seq : seq + 1;
		send_iterator(c, &it);
		return;
	}
	if (type == IT_AT_TIMESTAMP) {
		if (!ts_present) {
			sl_api_send_error(
			        c, 400, "InvalidArgumentException",
			        "Must specify timestampInMillis parameter for iterator of type "
			        "AT_TIMESTAMP. Current request has no timestamp parameter.");
			return;
		}
		if (ts_ms > c->now_ms) {
			sl_api_send_error(
			        c, 400, "InvalidArgumentException",
			        "The timestampInMillis parameter cannot be greater than the "
			        "currentTimestampInMillis. timestampInMillis: %lld, "
			        "currentTimestampInMillis: %lld",
			        (long long)ts_ms, (long long)c->now_ms);
			return;
		}
	}
	log = api->be.log(api->be.arg, s->id, shard_id);
	if (!log || resolve_position(log, type, ts_ms, &it.seq) < 0) {
		sl_api_send_error(c, 500, "InternalFailure", "Internal Service Failure");
		return;
	}
	if (type == IT_LATEST)
		it.flags |= SL_API_ITERATOR_LATEST;
	send_iterator(c, &it);
}

/* ---- GetRecords ---- */

/* Length of the valid UTF-8 sequence at s[0..len) (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_seq(const uint8_t *s, size_t len)
{
	uint32_t cp;
	size_t k;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		k = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		k = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		k = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (k > len)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k;
}

/* A JSON string of bytes that should be UTF-8 (keys written through this
 * API are; other producers' need not be): invalid bytes become U+FFFD. */
static json_t *json_key(const void *p, size_t len)
{
	const uint8_t *s = p;
	json_t *j;
	char *fix;
	size_t n = 0;

	j = json_stringn(p, len);
	if (j)
		return j;
	fix = malloc(len * 3 + 1);
	if (!fix)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t k = s[i] ? utf8_seq(s + i, len - i) : 1;

		if (k) {
			memcpy(fix + n, s + i, k);
			n += k;
			i += k;
		} else {
			memcpy(fix + n, "\xef\xbf\xbd", 3);
			n += 3;
			i++;
		}
	}
	j = json_stringn(fix, n);
	free(fix);
	return j;
}

/* The shards whose parent or adjacent parent is sh. */
static json_t *child_shards(const struct sl_cat_stream *s, uint32_t id)
{
	json_t *arr = json_array();
	char sid[SL_CATALOG_SHARD_ID_BUF], a[SL_CATALOG_SHARD_ID_BUF], b[SL_CATALOG_SHARD_ID_BUF];
	char start[SL_CATALOG_HASH_KEY_BUF], end[SL_CATALOG_HASH_KEY_BUF];

	for (uint32_t i = 0; arr && i < s->nshards; i++) {
		const struct sl_cat_shard *ch = &s->shards[i];
		json_t *parents;

		if (ch->parent != id && ch->adjacent_parent != id)
			continue;
		sl_catalog_shard_id_format(ch->id, sid);
		sl_u128_format(ch->start, start);
		sl_u128_format(ch->end, end);
		parents = json_array();
		if (ch->parent != SL_CATALOG_NO_SHARD) {
			sl_catalog_shard_id_format(ch->parent, a);
			json_array_append_new(parents, json_string(a));
		}
		if (ch->adjacent_parent != SL_CATALOG_NO_SHARD) {
			sl_catalog_shard_id_format(ch->adjacent_parent, b);
			json_array_append_new(parents, json_string(b));
		}
		json_array_append_new(arr,
		                      json_pack("{s:s, s:o, s:{s:s, s:s}}", "ShardId", sid,
		                                "ParentShards", parents, "HashKeyRange",
		                                "StartingHashKey", start, "EndingHashKey", end));
	}
	return arr;
}

void sl_api_op_get_records(struct sl_api_call *c)
{
	struct sl_api *api = c->api;
	const char *tok, *arn;
	const struct sl_cat_stream *s;
	const struct sl_cat_shard *sh;
	char sid[SL_CATALOG_SHARD_ID_BUF], seq[SL_API_SEQ_DIGITS + 1];
	struct sl_api_verr v = {0};
	struct sl_api_iterator it;
	struct sl_record_out *out = NULL;
	struct sl_reader *r = NULL;
	struct sl_log *log;
	json_t *res = NULL, *recs = NULL;
	char *b64 = NULL;
	size_t b64cap = 0, bytes = 0;
	uint64_t next;
	int64_t limit = GET_MAX_LIMIT, last_arrival_ms = 0;
	uint32_t got = 0;
	bool limit_present, caught_up = false, capped = false, at_end;
	int rc;

	if (!sl_api_member_int(c, "Limit", &limit_present, &limit) ||
	    !sl_api_member_string(c, "ShardIterator", &tok) ||
	    !sl_api_member_string(c, "StreamARN", &arn))
		return;
	if (!limit_present) {
		limit = GET_MAX_LIMIT;
	} else if (limit < 1 || limit > GET_MAX_LIMIT) {
		char val[32];

		snprintf(val, sizeof(val), "%lld", (long long)limit);
		sl_api_verr_add(&v, val, "limit",
		                limit < 1 ? "Member must have value greater than or equal to 1"
		                          : "Member must have value less than or equal to 10000");
	}
	if (!tok)
		sl_api_verr_add(&v, NULL, "shardIterator", "Member must not be null");
	else if (tok[0] == 0)
		sl_api_verr_add(&v, tok, "shardIterator",
		                "Member must have length greater than or equal to 1");
	else if (utf8_chars(tok, strlen(tok)) > 512)
		sl_api_verr_add(&v, tok, "shardIterator",
		                "Member must have length less than or equal to 512");
	if (arn)
		sl_api_verr_stream_arn(&v, arn);
	if (sl_api_verr_send(c, &v))
		return;

	if (sl_api_iterator_decode(api->iterator_key, tok, &it) < 0 ||
	    (arn && strcmp(arn_stream_name(arn), it.stream) != 0)) {
		sl_api_send_error(c, 400, "InvalidArgumentException", "Invalid ShardIterator.");
		return;
	}
	if (c->now_ms - it.issued_ms > (int64_t)api->c.iterator_ttl_ms) {
		char then[64], now[64];

		amz_time(it.issued_ms, then);
		amz_time(c->now_ms, now);
		sl_api_send_error(
		        c, 400, "ExpiredIteratorException",
		        "Iterator expired. The iterator was created at time %s while right "
		        "now it is %s which is further in the future than the tolerated "
		        "delay of %u milliseconds.",
		        then, now, api->c.iterator_ttl_ms);
		return;
	}
	sl_catalog_shard_id_format(it.shard_id, sid);
	s = sl_catalog_stream(api->cat, it.stream);
	if (!s || s->id != it.stream_id || s->created_ms != it.stream_created_ms ||
	    s->status == SL_CATALOG_CREATING || !(sh = sl_catalog_shard(s, it.shard_id))) {
		sl_api_send_error(c, 400, "ResourceNotFoundException",
		                  "Shard %s in stream %s under account %s does not exist", sid,
		                  it.stream, account(c));
		return;
	}
	log = api->be.log(api->be.arg, s->id, it.shard_id);
	out = malloc(sizeof(*out) * GET_CHUNK);
	res = json_object();
	recs = json_array();
	if (!log || !out || !res || !recs || sl_reader_open(log, 0, &r) < 0 ||
	    sl_reader_seek_at_seq(r, it.seq) < 0)
		goto fail;

	/* This loop is what a polling consumer pays: ~100 ms for 10000 small
	 * records and ~330 ms for a 10 MiB answer, request to parsed answer
	 * (unit test fixture, -O2, page cache warm; mostly jansson and
	 * base64). Reading in chunks keeps the reader's arena small. */
	next = it.seq;
	while (!capped && got < limit) {
		unsigned want = (unsigned)SL_MIN((int64_t)GET_CHUNK, limit - (int64_t)got);
		size_t room = GET_MAX_BYTES - bytes;

		rc = sl_reader_read(r, out, want, room ? room : 1);
		if (rc < 0)
			goto fail;
		if (rc == 0) {
			caught_up = true;
			break;
		}
		for (int i = 0; i < rc; i++) {
			const struct sl_record_out *o = &out[i];
			size_t sz = (size_t)o->key_len + o->data_len,
			       need = 4 * ((o->data_len + 2) / 3) + 1;
			json_t *rec, *data, *key;

			/* A closed shard ends at end_seq; nothing after it is its. */
			if (sh->closed && sh->end_seq_known && o->seq > sh->end_seq) {
				caught_up = true;
				capped = true;
				break;
			}
			if (got > 0 && bytes + sz > GET_MAX_BYTES) {
				capped = true;
				break;
			}
			if (need > b64cap) {
				char *nb = realloc(b64, need);

				if (!nb)
					goto fail;
				b64 = nb;
				b64cap = need;
			}
			EVP_EncodeBlock((unsigned char *)b64, o->data, (int)o->data_len);
			sl_api_seq_format(it.shard_id, o->seq, seq);
			data = json_stringn(b64, need - 1);
			key = json_key(o->key, o->key_len);
			if (!data || !key) {
				json_decref(data);
				json_decref(key);
				goto fail;
			}
			/* Epoch seconds with the milliseconds as the fraction. */
			rec = json_pack("{s:s, s:f, s:o, s:o}", "SequenceNumber", seq,
			                "ApproximateArrivalTimestamp",
			                (double)(o->arrival_ns / 1000000) / 1000.0, "Data", data,
			                "PartitionKey", key);
			if (!rec || json_array_append_new(recs, rec) < 0)
				goto fail;
			bytes += sz;
			got++;
			next = o->seq + 1;
			last_arrival_ms = o->arrival_ns / 1000000;
		}
	}
	if (!caught_up && !capped) {
		/* Stopped by Limit: is there more? */
		rc = sl_reader_read(r, out, 1, 1);
		if (rc < 0)
			goto fail;
		caught_up =
		        rc == 0 || (sh->closed && sh->end_seq_known && out[0].seq > sh->end_seq);
	}
	sl_reader_free(r);
	r = NULL;
	api->st.get_records += got;

	/* end_seq 0 is an empty closed shard (0 is never a log sequence
	 * number). */
	at_end = sh->closed && sh->end_seq_known && (sh->end_seq == 0 || next > sh->end_seq);
	if (json_object_set_new(res, "Records", recs) < 0) {
		recs = NULL;
		goto fail;
	}
	recs = NULL;
	if (!at_end) {
		char ntok[SL_API_ITERATOR_BUF];

		it.seq = next;
		it.issued_ms = c->now_ms;
		it.flags = 0;
		if (sl_api_iterator_encode(api->iterator_key, &it, ntok) < 0 ||
		    json_object_set_new(res, "NextShardIterator", json_string(ntok)) < 0)
			goto fail;
	}
	if (json_object_set_new(res, "MillisBehindLatest",
	                        json_integer(caught_up || got == 0
	                                             ? 0
	                                             : SL_MAX(0, c->now_ms - last_arrival_ms))) < 0)
		goto fail;
	if (at_end && json_object_set_new(res, "ChildShards", child_shards(s, it.shard_id)) < 0)
		goto fail;
	free(out);
	free(b64);
	sl_api_send_ok(c, res);
	return;
fail:
	sl_reader_free(r);
	free(out);
	free(b64);
	json_decref(recs);
	json_decref(res);
	sl_api_send_error(c, 500, "InternalFailure", "Internal Service Failure");
}

/* ---- lifecycle ---- */

int sl_api_data_create(struct sl_api *api)
{
	api->data = calloc(1, sizeof(*api->data));
	return api->data ? 0 : -ENOMEM;
}

/* Requests still waiting for the backend are answered 503: the backend
 * must not complete their parts after this (it is stopped first). */
void sl_api_data_free(struct sl_api *api)
{
	if (!api || !api->data)
		return;
	while (api->data->reqs) {
		struct put_req *q = api->data->reqs;

		sl_api_send_error(q->c, 503, "ServiceUnavailable", "The service is shutting down.");
		api->st.inflight--;
		put_req_free(q);
	}
	free(api->data);
	api->data = NULL;
}

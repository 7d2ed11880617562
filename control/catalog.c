/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stream catalog (see catalog.h for the model and the file format).
 *
 * Every change is made on a deep copy of the model ("next"), checked, then
 * persisted, and only then swapped in: the model in memory is always the one
 * on disk, and a failed change leaves nothing half-done. A copy costs what
 * writing the file costs anyway, and this is a cold path (a few changes a
 * second at most).
 *
 * Invariants of a model (checked when a file is loaded, kept by every
 * change): names unique and sorted; ids unique, below next_stream_id; the
 * shards of a stream sorted by id, below next_shard_id; the open ones
 * cover 0..2^128-1 exactly; open_shards counts them; tags sorted by key,
 * unique, at most SL_CATALOG_TAGS_MAX.
 */
#include "catalog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "fs.h"
#include "streams.h" /* sl_stream_name_valid */

#define FILE_VERSION 1
#define U128_MAX     (~(sl_u128)0)
#define MS_PER_HOUR  3600000ll
#define ACCOUNT_MAX  32
#define REGION_MAX   32
#define ARN_PREFIX   "arn:aws:kinesis:"
#define TIME_MAX     (INT64_MAX / 2) /* ms; leaves room to add a retention period */

struct model {
	uint32_t nstreams;
	uint32_t next_stream_id;
	struct sl_cat_stream *streams; /* sorted by name */
};

struct sl_catalog {
	struct sl_catalog_config cfg;
	char dir[PATH_MAX];
	char region[REGION_MAX + 1];
	char account[ACCOUNT_MAX + 1];
	bool persist;
	struct model *m;
};

/* ---- names ---- */

enum sl_catalog_err sl_catalog_err_kind(int rc)
{
	switch (-rc) {
	case 0:
		return SL_CATALOG_ERR_NONE;
	case SL_CATALOG_E_NOT_FOUND:
		return SL_CATALOG_ERR_RESOURCE_NOT_FOUND;
	case SL_CATALOG_E_IN_USE:
		return SL_CATALOG_ERR_RESOURCE_IN_USE;
	case SL_CATALOG_E_INVALID:
		return SL_CATALOG_ERR_INVALID_ARGUMENT;
	case SL_CATALOG_E_LIMIT:
		return SL_CATALOG_ERR_LIMIT_EXCEEDED;
	case SL_CATALOG_E_VALIDATION:
		return SL_CATALOG_ERR_VALIDATION;
	default:
		return rc > 0 ? SL_CATALOG_ERR_NONE : SL_CATALOG_ERR_INTERNAL_FAILURE;
	}
}

const char *sl_catalog_err_name(enum sl_catalog_err kind)
{
	static const char *const names[] = {
#define X(n, s) s,
	        SL_CATALOG_ERRORS(X)
#undef X
	};

	return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "";
}

static const char *const status_names[] = {
#define X(n) #n,
        SL_CATALOG_STATUSES(X)
#undef X
};

static const char *const mode_names[] = {
#define X(n) #n,
        SL_CATALOG_MODES(X)
#undef X
};

#define NSTATUS (sizeof(status_names) / sizeof(status_names[0]))
#define NMODE   (sizeof(mode_names) / sizeof(mode_names[0]))

const char *sl_catalog_status_name(enum sl_catalog_status s)
{
	return (unsigned)s < NSTATUS ? status_names[s] : "";
}

const char *sl_catalog_mode_name(enum sl_catalog_mode m)
{
	return (unsigned)m < NMODE ? mode_names[m] : "";
}

void sl_catalog_shard_id_format(uint32_t id, char buf[SL_CATALOG_SHARD_ID_BUF])
{
	/* By hand: PutRecords formats one per record. */
	memcpy(buf, "shardId-", 8);
	for (int i = 19; i >= 8; i--) {
		buf[i] = (char)('0' + id % 10);
		id /= 10;
	}
	buf[20] = 0;
}

int sl_catalog_shard_id_parse(const char *s, uint32_t *ret_id)
{
	uint64_t v = 0;
	const char *p;

	if (strncmp(s, "shardId-", 8) != 0 || !s[8])
		return sl_err_set(-EINVAL, "'%s' is not a shard id", s);
	for (p = s + 8; *p; p++) {
		if (*p < '0' || *p > '9' || p - s >= 8 + 20)
			return sl_err_set(-EINVAL, "'%s' is not a shard id", s);
		v = v * 10 + (uint64_t)(*p - '0');
		if (v >= SL_CATALOG_NO_SHARD)
			return sl_err_set(-EINVAL, "'%s' is not a shard id", s);
	}
	*ret_id = (uint32_t)v;
	return 0;
}

int sl_catalog_hash_key_parse(const char *s, sl_u128 *ret)
{
	sl_u128 v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 39 || (s[0] == '0' && n > 1))
		return sl_err_set(-EINVAL, "'%.64s' is not a hash key in [0, 2^128-1]", s);
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || v > (U128_MAX - d) / 10)
			return sl_err_set(-EINVAL, "'%.64s' is not a hash key in [0, 2^128-1]", s);
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

static int u64_parse(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

/* ---- tags: Kinesis's characters (letters, digits, white space,
 * _ . / = + - % @); any non-ASCII code point counts as a letter, since we
 * carry no Unicode tables. Returns the length in code points, or -1. ---- */

static long tag_text_chars(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	long chars = 0;

	while (*p) {
		unsigned c = *p, need, cp;

		if (c < 0x80) {
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == ' ' || c == '\t' || c == '\n' ||
			      c == '\r' || strchr("_./=+-%@", (int)c)))
				return -1;
			p++;
			chars++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return -1;
		}
		p++;
		for (unsigned i = 0; i < need; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return -1;
			cp = cp << 6 | (*p & 0x3f);
		}
		if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return -1;
		chars++;
	}
	return chars;
}

static int tag_check(const struct sl_cat_tag *t)
{
	long k, v;

	if (!memchr(t->key, 0, sizeof(t->key)) || !memchr(t->value, 0, sizeof(t->value)))
		return sl_err_set(-EINVAL, "A tag key or value is not terminated.");
	k = tag_text_chars(t->key);
	v = tag_text_chars(t->value);
	if (k < 0 || v < 0)
		return sl_err_set(-EINVAL,
		                  "Some tags contain invalid characters. Valid characters: "
		                  "Unicode letters, digits, white space, _ . / = + - %% @.");
	if (k < 1 || k > SL_CATALOG_TAG_KEY_MAX)
		return sl_err_set(-EINVAL, "Tag key must be 1 to %d characters long.",
		                  SL_CATALOG_TAG_KEY_MAX);
	if (v > SL_CATALOG_TAG_VALUE_MAX)
		return sl_err_set(-EINVAL, "Tag value must be at most %d characters long.",
		                  SL_CATALOG_TAG_VALUE_MAX);
	return 0;
}

/* ---- the model ---- */

static void stream_fini(struct sl_cat_stream *s)
{
	free(s->shards);
	free(s->tags);
	s->shards = NULL;
	s->tags = NULL;
}

static void model_free(struct model *m)
{
	if (!m)
		return;
	for (uint32_t i = 0; i < m->nstreams; i++)
		stream_fini(&m->streams[i]);
	free(m->streams);
	free(m);
}

static struct model *model_clone(const struct model *m)
{
	struct model *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->next_stream_id = m->next_stream_id;
	/* One spare slot so that create can insert without reallocating. */
	c->streams = calloc(m->nstreams + 1, sizeof(*c->streams));
	if (!c->streams)
		goto fail;
	for (uint32_t i = 0; i < m->nstreams; i++) {
		const struct sl_cat_stream *s = &m->streams[i];
		struct sl_cat_stream *d = &c->streams[i];

		*d = *s;
		d->shards = NULL;
		d->tags = NULL;
		c->nstreams++;
		if (s->nshards) {
			d->shards = malloc(s->nshards * sizeof(*d->shards));
			if (!d->shards)
				goto fail;
			memcpy(d->shards, s->shards, s->nshards * sizeof(*d->shards));
		}
		if (s->ntags) {
			d->tags = malloc(s->ntags * sizeof(*d->tags));
			if (!d->tags)
				goto fail;
			memcpy(d->tags, s->tags, s->ntags * sizeof(*d->tags));
		}
	}
	return c;
fail:
	model_free(c);
	return NULL;
}

static struct sl_cat_stream *find_stream(const struct model *m, const char *name, uint32_t *ret_at)
{
	uint32_t lo = 0, hi = m->nstreams;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->streams[mid].name, name);

		if (c == 0) {
			if (ret_at)
				*ret_at = mid;
			return &m->streams[mid];
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (ret_at)
		*ret_at = lo;
	return NULL;
}

static struct sl_cat_shard *find_shard(const struct sl_cat_stream *s, uint32_t id)
{
	uint32_t lo = 0, hi = s->nshards;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (s->shards[mid].id == id)
			return &s->shards[mid];
		if (s->shards[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static uint32_t model_open_shards(const struct model *m)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < m->nstreams; i++)
		n += m->streams[i].open_shards;
	return n;
}

static uint32_t model_shard_records(const struct model *m)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < m->nstreams; i++)
		n += m->streams[i].nshards;
	return n;
}

static int64_t now_ms(const struct sl_catalog *cat)
{
	struct timespec ts;

	if (cat->cfg.now_ms)
		return cat->cfg.now_ms(cat->cfg.clock_arg);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends a new open shard; the caller has checked the limits. */
static struct sl_cat_shard *add_shard(struct sl_cat_stream *s, sl_u128 start, sl_u128 end,
                                      uint32_t parent, uint32_t adjacent)
{
	struct sl_cat_shard *v = realloc(s->shards, (s->nshards + 1) * sizeof(*v));

	if (!v)
		return NULL;
	s->shards = v;
	v[s->nshards] = (struct sl_cat_shard){
	        .start = start,
	        .end = end,
	        .id = s->next_shard_id++,
	        .parent = parent,
	        .adjacent_parent = adjacent,
	};
	s->open_shards++;
	return &v[s->nshards++];
}

static void close_shard(struct sl_cat_stream *s, struct sl_cat_shard *sh, int64_t now)
{
	sh->closed = true;
	sh->closed_ms = now;
	s->open_shards--;
}

/* ---- persistence ---- */

static json_t *u128_json(sl_u128 v)
{
	char buf[SL_CATALOG_HASH_KEY_BUF];

	sl_u128_format(v, buf);
	return json_string(buf);
}

static json_t *u64_json(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string(buf);
}

static json_t *shard_ref_json(uint32_t id)
{
	return id == SL_CATALOG_NO_SHARD ? json_null() : json_integer(id);
}

static json_t *model_to_json(const struct model *m)
{
	json_t *root = json_object(), *streams = json_array();

	if (!root || !streams)
		goto fail;
	if (json_object_set_new(root, "version", json_integer(FILE_VERSION)) ||
	    json_object_set_new(root, "next_stream_id", json_integer(m->next_stream_id)) ||
	    json_object_set(root, "streams", streams))
		goto fail;
	for (uint32_t i = 0; i < m->nstreams; i++) {
		const struct sl_cat_stream *s = &m->streams[i];
		json_t *js, *tags = json_array(), *shards = json_array();

		js = json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:o, s:o}", "name", s->name,
		               "id", (json_int_t)s->id, "status", status_names[s->status], "mode",
		               mode_names[s->mode], "created_ms", (json_int_t)s->created_ms,
		               "retention_hours", (json_int_t)s->retention_hours, "next_shard_id",
		               (json_int_t)s->next_shard_id, "tags", tags, "shards", shards);
		if (!js || json_array_append_new(streams, js))
			goto fail;
		for (uint32_t t = 0; t < s->ntags; t++) {
			json_t *jt = json_pack("{s:s, s:s}", "key", s->tags[t].key, "value",
			                       s->tags[t].value);

			if (!jt || json_array_append_new(tags, jt))
				goto fail;
		}
		for (uint32_t k = 0; k < s->nshards; k++) {
			const struct sl_cat_shard *sh = &s->shards[k];
			json_t *jsh = json_pack(
			        "{s:I, s:o, s:o, s:o, s:o, s:o, s:b, s:I, s:o}", "id",
			        (json_int_t)sh->id, "start", u128_json(sh->start), "end",
			        u128_json(sh->end), "parent", shard_ref_json(sh->parent),
			        "adjacent_parent", shard_ref_json(sh->adjacent_parent), "start_seq",
			        u64_json(sh->start_seq), "closed", (int)sh->closed, "closed_ms",
			        (json_int_t)sh->closed_ms, "end_seq",
			        sh->end_seq_known ? u64_json(sh->end_seq) : json_null());

			if (!jsh || json_array_append_new(shards, jsh))
				goto fail;
		}
	}
	json_decref(streams);
	return root;
fail:
	json_decref(streams);
	json_decref(root);
	return NULL;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Temporary file, fsync, rename, directory fsync: a crash at any point
 * leaves catalog.json old or new. Any failure is -EIO (an internal
 * failure to the API), with the real cause in the message. */
static int persist(const struct sl_catalog *cat, const struct model *m)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 32];
	json_t *root;
	char *text;
	size_t len;
	int fd, rc;

	if (!cat->persist)
		return 0;
	root = model_to_json(m);
	if (!root)
		return sl_err_set(-ENOMEM, "catalog: out of memory");
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!text)
		return sl_err_set(-ENOMEM, "catalog: out of memory");
	len = strlen(text);
	if (len + 1 > SL_CATALOG_MAX_FILE_BYTES) {
		free(text);
		return sl_err_set(-EIO, "catalog: %zu bytes exceed the %u-byte file limit", len,
		                  SL_CATALOG_MAX_FILE_BYTES);
	}
	snprintf(path, sizeof(path), "%s/catalog.json", cat->dir);
	snprintf(tmp, sizeof(tmp), "%s/catalog.json.tmp", cat->dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = sl_err_set(-EIO, "%s: %s", tmp, strerror(errno));
		free(text);
		return rc;
	}
	rc = write_all(fd, text, len);
	if (rc == 0)
		rc = write_all(fd, "\n", 1);
	free(text);
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc)
		return sl_err_set(-EIO, "%s: %s", tmp, strerror(-rc));
	if (rename(tmp, path) != 0)
		return sl_err_set(-EIO, "rename to %s: %s", path, strerror(errno));
	fd = open(cat->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sl_err_set(-EIO, "%s: %s", cat->dir, strerror(errno));
	rc = fsync(fd) != 0 ? sl_err_set(-EIO, "%s: fsync: %s", cat->dir, strerror(errno)) : 0;
	close(fd);
	return rc;
}

/* Persists next and swaps it in, or frees it. */
static int commit(struct sl_catalog *cat, struct model *next)
{
	int rc = persist(cat, next);

	if (rc < 0) {
		model_free(next);
		return rc;
	}
	model_free(cat->m);
	cat->m = next;
	return 0;
}

/* ---- loading: every member checked; the file is data ---- */

#define BAD(...) sl_err_set(-EBADMSG, __VA_ARGS__)

static int get_uint(json_t *o, const char *key, int64_t max, int64_t *ret)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
		return -1;
	*ret = json_integer_value(v);
	return 0;
}

/* A string member without NUL bytes, at most max bytes. */
static const char *get_str(json_t *o, const char *key, size_t max)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	if (json_string_length(v) > max || strlen(s) != json_string_length(v))
		return NULL;
	return s;
}

static int get_enum(json_t *o, const char *key, const char *const *names, unsigned n, unsigned *ret)
{
	const char *s = get_str(o, key, 32);

	for (unsigned i = 0; s && i < n; i++) {
		if (strcmp(s, names[i]) == 0) {
			*ret = i;
			return 0;
		}
	}
	return -1;
}

static int get_shard_ref(json_t *o, const char *key, uint32_t *ret)
{
	json_t *v = json_object_get(o, key);
	int64_t x;

	if (json_is_null(v)) {
		*ret = SL_CATALOG_NO_SHARD;
		return 0;
	}
	if (get_uint(o, key, SL_CATALOG_NO_SHARD - 1, &x) < 0)
		return -1;
	*ret = (uint32_t)x;
	return 0;
}

static int shard_from_json(json_t *j, struct sl_cat_shard *sh)
{
	const char *start = get_str(j, "start", 39), *end = get_str(j, "end", 39);
	const char *sseq = get_str(j, "start_seq", 20);
	json_t *closed = json_object_get(j, "closed"), *eseq = json_object_get(j, "end_seq");
	int64_t id, closed_ms;

	if (!json_is_object(j) || get_uint(j, "id", SL_CATALOG_NO_SHARD - 1, &id) < 0 || !start ||
	    !end || !sseq || !json_is_boolean(closed) ||
	    get_uint(j, "closed_ms", TIME_MAX, &closed_ms) < 0 ||
	    get_shard_ref(j, "parent", &sh->parent) < 0 ||
	    get_shard_ref(j, "adjacent_parent", &sh->adjacent_parent) < 0)
		return -1;
	if (sl_catalog_hash_key_parse(start, &sh->start) < 0 ||
	    sl_catalog_hash_key_parse(end, &sh->end) < 0 || sh->start > sh->end ||
	    u64_parse(sseq, &sh->start_seq) < 0)
		return -1;
	sh->id = (uint32_t)id;
	sh->closed = json_is_true(closed);
	sh->closed_ms = closed_ms;
	sh->end_seq_known = false;
	sh->end_seq = 0;
	if (!sh->closed && (closed_ms != 0 || !json_is_null(eseq)))
		return -1;
	if (json_is_string(eseq)) {
		const char *e = get_str(j, "end_seq", 20);

		if (!e || u64_parse(e, &sh->end_seq) < 0)
			return -1;
		sh->end_seq_known = true;
	} else if (!json_is_null(eseq)) {
		return -1;
	}
	return 0;
}

static int cmp_open_by_start(const void *a, const void *b)
{
	const struct sl_cat_shard *x = *(struct sl_cat_shard *const *)a;
	const struct sl_cat_shard *y = *(struct sl_cat_shard *const *)b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* The open shards cover 0..2^128-1 exactly. */
static int check_cover(const struct sl_cat_stream *s)
{
	const struct sl_cat_shard **open;
	uint32_t n = 0;
	int rc = 0;

	if (s->open_shards == 0)
		return -1;
	open = malloc(s->open_shards * sizeof(*open));
	if (!open)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->nshards; i++)
		if (!s->shards[i].closed)
			open[n++] = &s->shards[i];
	qsort(open, n, sizeof(*open), cmp_open_by_start);
	if (open[0]->start != 0 || open[n - 1]->end != U128_MAX)
		rc = -1;
	for (uint32_t i = 1; i < n && rc == 0; i++)
		if (open[i - 1]->end == U128_MAX || open[i]->start != open[i - 1]->end + 1)
			rc = -1;
	free(open);
	return rc;
}

static int stream_from_json(json_t *j, uint32_t next_stream_id, struct sl_cat_stream *s,
                            uint32_t *shard_budget)
{
	const char *name = get_str(j, "name", SL_CATALOG_NAME_MAX);
	json_t *tags = json_object_get(j, "tags"), *shards = json_object_get(j, "shards");
	int64_t id, created, ret, next_shard;
	unsigned status, mode;
	size_t i;
	int rc;

	if (!json_is_object(j) || !name || !sl_stream_name_valid(name))
		return BAD("a stream without a valid name");
	snprintf(s->name, sizeof(s->name), "%s", name);
	if (get_uint(j, "id", SL_CATALOG_MAX_STREAM_ID, &id) < 0 || id == 0 ||
	    id >= next_stream_id || get_enum(j, "status", status_names, NSTATUS, &status) < 0 ||
	    get_enum(j, "mode", mode_names, NMODE, &mode) < 0 ||
	    get_uint(j, "created_ms", TIME_MAX, &created) < 0 ||
	    get_uint(j, "retention_hours", SL_CATALOG_RETENTION_MAX, &ret) < 0 ||
	    ret < SL_CATALOG_RETENTION_MIN ||
	    get_uint(j, "next_shard_id", SL_CATALOG_NO_SHARD - 1, &next_shard) < 0 ||
	    !json_is_array(tags) || !json_is_array(shards))
		return BAD("stream %s: a missing or bad member", name);
	s->id = (uint32_t)id;
	s->status = status;
	s->mode = mode;
	s->created_ms = created;
	s->retention_hours = (uint32_t)ret;
	s->next_shard_id = (uint32_t)next_shard;
	if (json_array_size(tags) > SL_CATALOG_TAGS_MAX)
		return BAD("stream %s: more than %d tags", name, SL_CATALOG_TAGS_MAX);
	if (json_array_size(shards) > *shard_budget)
		return BAD("stream %s: more than %d shards in the catalog", name,
		           SL_CATALOG_MAX_SHARD_RECS);
	*shard_budget -= (uint32_t)json_array_size(shards);
	if (json_array_size(tags)) {
		s->tags = calloc(json_array_size(tags), sizeof(*s->tags));
		if (!s->tags)
			return -ENOMEM;
	}
	for (i = 0; i < json_array_size(tags); i++) {
		json_t *t = json_array_get(tags, i);
		const char *k = get_str(t, "key", sizeof(s->tags[0].key) - 1);
		const char *v = get_str(t, "value", sizeof(s->tags[0].value) - 1);
		struct sl_cat_tag *tag = &s->tags[i];

		if (!json_is_object(t) || !k || !v)
			return BAD("stream %s: a bad tag", name);
		memcpy(tag->key, k, strlen(k) + 1);
		memcpy(tag->value, v, strlen(v) + 1);
		if (tag_check(tag) < 0 || (i > 0 && strcmp(s->tags[i - 1].key, tag->key) >= 0))
			return BAD("stream %s: a bad, duplicate or unsorted tag", name);
		s->ntags++;
	}
	if (json_array_size(shards)) {
		s->shards = calloc(json_array_size(shards), sizeof(*s->shards));
		if (!s->shards)
			return -ENOMEM;
	}
	for (i = 0; i < json_array_size(shards); i++) {
		struct sl_cat_shard *sh = &s->shards[i];

		if (shard_from_json(json_array_get(shards, i), sh) < 0)
			return BAD("stream %s: shard %zu is malformed", name, i);
		if (sh->id >= s->next_shard_id || (i > 0 && s->shards[i - 1].id >= sh->id))
			return BAD("stream %s: shard ids out of order or above next_shard_id",
			           name);
		s->nshards++;
		if (!sh->closed)
			s->open_shards++;
	}
	rc = check_cover(s);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return BAD("stream %s: open shards do not cover the hash key space exactly", name);
	return 0;
}

static int model_from_json(json_t *root, struct model **ret)
{
	json_t *streams = json_object_get(root, "streams");
	uint32_t shard_budget = SL_CATALOG_MAX_SHARD_RECS;
	struct model *m;
	int64_t version, next_id;
	int rc = 0;

	if (!json_is_object(root) || get_uint(root, "version", INT32_MAX, &version) < 0)
		return BAD("not a sluice catalog");
	if (version != FILE_VERSION)
		return BAD("catalog version %" PRId64 ", this build reads %d", version,
		           FILE_VERSION);
	if (get_uint(root, "next_stream_id", SL_CATALOG_MAX_STREAM_ID + 1, &next_id) < 0 ||
	    next_id == 0 || !json_is_array(streams))
		return BAD("a missing or bad next_stream_id or streams");
	if (json_array_size(streams) > SL_CATALOG_MAX_STREAMS)
		return BAD("more than %d streams", SL_CATALOG_MAX_STREAMS);
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->next_stream_id = (uint32_t)next_id;
	m->streams = calloc(json_array_size(streams) + 1, sizeof(*m->streams));
	if (!m->streams) {
		rc = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(streams); i++) {
		struct sl_cat_stream *s = &m->streams[i];

		m->nstreams++;
		rc = stream_from_json(json_array_get(streams, i), m->next_stream_id, s,
		                      &shard_budget);
		if (rc < 0)
			goto fail;
		if (i > 0 && strcmp(m->streams[i - 1].name, s->name) >= 0) {
			rc = BAD("stream %s: names duplicate or out of order", s->name);
			goto fail;
		}
		for (size_t k = 0; k < i; k++) {
			if (m->streams[k].id == s->id) {
				rc = BAD("stream %s: id %u used twice", s->name, s->id);
				goto fail;
			}
		}
	}
	*ret = m;
	return 0;
fail:
	model_free(m);
	return rc;
}

static int load(struct sl_catalog *cat, struct model **ret)
{
	char path[PATH_MAX + 32];
	json_error_t jerr;
	struct stat st;
	json_t *root;
	char *buf;
	size_t have = 0;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/catalog.json", cat->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			return sl_err_set(-errno, "%s: %s", path, strerror(errno));
		*ret = calloc(1, sizeof(**ret));
		if (!*ret)
			return -ENOMEM;
		(*ret)->next_stream_id = 1;
		return 0;
	}
	if (fstat(fd, &st) != 0) {
		rc = sl_err_set(-errno, "%s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > SL_CATALOG_MAX_FILE_BYTES) {
		close(fd);
		return sl_err_set(-EBADMSG, "%s: not a regular file of at most %u bytes", path,
		                  SL_CATALOG_MAX_FILE_BYTES);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (have < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + have, (size_t)st.st_size - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	root = json_loadb(buf, have, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (!root)
		return sl_err_set(-EBADMSG, "%s:%d:%d: %s", path, jerr.line, jerr.column,
		                  jerr.text);
	rc = model_from_json(root, ret);
	json_decref(root);
	if (rc == -EBADMSG) {
		char why[256];

		snprintf(why, sizeof(why), "%s", sl_errmsg());
		rc = sl_err_set(-EBADMSG, "%s: %s", path, why);
	}
	return rc;
}

/* ---- open / close ---- */

void sl_catalog_config_default(struct sl_catalog_config *c)
{
	*c = (struct sl_catalog_config){
	        .shard_limit = 500,
	        .stream_shard_limit = 10000,
	        .max_streams = 1024,
	        .max_shard_records = SL_CATALOG_MAX_SHARD_RECS,
	        .on_demand_shards = 4,
	        .region = "us-east-1",
	        .account = "000000000000",
	};
}

int sl_catalog_open(const struct sl_catalog_config *c, struct sl_catalog **ret)
{
	struct sl_catalog *cat;
	int rc;

	if (c->shard_limit == 0 || c->stream_shard_limit == 0 || c->max_streams == 0 ||
	    c->max_streams > SL_CATALOG_MAX_STREAMS || c->max_shard_records == 0 ||
	    c->max_shard_records > SL_CATALOG_MAX_SHARD_RECS || c->on_demand_shards == 0 ||
	    !c->region || !c->account || strlen(c->region) > REGION_MAX ||
	    strlen(c->account) > ACCOUNT_MAX)
		return sl_err_set(-EINVAL, "catalog: a limit is 0 or above its hard cap, or the "
		                           "region or account is missing or too long");
	if (c->dir && strlen(c->dir) >= PATH_MAX)
		return sl_err_set(-ENAMETOOLONG, "%s: path too long", c->dir);
	cat = calloc(1, sizeof(*cat));
	if (!cat)
		return -ENOMEM;
	cat->cfg = *c;
	snprintf(cat->region, sizeof(cat->region), "%s", c->region);
	snprintf(cat->account, sizeof(cat->account), "%s", c->account);
	cat->cfg.region = cat->region;
	cat->cfg.account = cat->account;
	if (c->dir) {
		cat->persist = true;
		snprintf(cat->dir, sizeof(cat->dir), "%s", c->dir);
		cat->cfg.dir = cat->dir;
		rc = sl_mkdir_p(cat->dir);
		if (rc < 0) {
			rc = sl_err_set(rc, "%s: cannot create: %s", cat->dir, strerror(-rc));
			goto fail;
		}
		rc = load(cat, &cat->m);
	} else {
		cat->cfg.dir = NULL;
		cat->m = calloc(1, sizeof(*cat->m));
		rc = cat->m ? 0 : -ENOMEM;
		if (cat->m)
			cat->m->next_stream_id = 1;
	}
	if (rc < 0)
		goto fail;
	*ret = cat;
	return 0;
fail:
	sl_catalog_close(cat);
	return rc;
}

void sl_catalog_close(struct sl_catalog *cat)
{
	if (!cat)
		return;
	model_free(cat->m);
	free(cat);
}

/* ---- lookups ---- */

uint32_t sl_catalog_nstreams(const struct sl_catalog *cat)
{
	return cat->m->nstreams;
}

const struct sl_cat_stream *sl_catalog_stream_at(const struct sl_catalog *cat, uint32_t i)
{
	return i < cat->m->nstreams ? &cat->m->streams[i] : NULL;
}

const struct sl_cat_stream *sl_catalog_stream(const struct sl_catalog *cat, const char *name)
{
	return find_stream(cat->m, name, NULL);
}

const struct sl_cat_stream *sl_catalog_stream_by_arn(const struct sl_catalog *cat, const char *arn)
{
	size_t pl = strlen(ARN_PREFIX), rl = strlen(cat->region), al = strlen(cat->account);

	if (strncmp(arn, ARN_PREFIX, pl) != 0 || strncmp(arn + pl, cat->region, rl) != 0 ||
	    arn[pl + rl] != ':' || strncmp(arn + pl + rl + 1, cat->account, al) != 0 ||
	    strncmp(arn + pl + rl + 1 + al, ":stream/", 8) != 0)
		return NULL;
	return find_stream(cat->m, arn + pl + rl + 1 + al + 8, NULL);
}

const struct sl_cat_shard *sl_catalog_shard(const struct sl_cat_stream *s, uint32_t shard_id)
{
	return find_shard(s, shard_id);
}

int sl_catalog_stream_arn(const struct sl_catalog *cat, const struct sl_cat_stream *s, char *buf,
                          size_t cap)
{
	int n = snprintf(buf, cap, ARN_PREFIX "%s:%s:stream/%s", cat->region, cat->account,
	                 s->name);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : n;
}

uint32_t sl_catalog_open_shards(const struct sl_catalog *cat)
{
	return model_open_shards(cat->m);
}

uint32_t sl_catalog_shard_limit(const struct sl_catalog *cat)
{
	return cat->cfg.shard_limit;
}

uint32_t sl_catalog_on_demand_streams(const struct sl_catalog *cat)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < cat->m->nstreams; i++)
		n += cat->m->streams[i].mode == SL_CATALOG_ON_DEMAND;
	return n;
}

bool sl_catalog_equal(const struct sl_catalog *a, const struct sl_catalog *b)
{
	const struct model *x = a->m, *y = b->m;

	if (x->nstreams != y->nstreams || x->next_stream_id != y->next_stream_id)
		return false;
	for (uint32_t i = 0; i < x->nstreams; i++) {
		const struct sl_cat_stream *s = &x->streams[i], *t = &y->streams[i];

		if (strcmp(s->name, t->name) || s->id != t->id || s->status != t->status ||
		    s->mode != t->mode || s->created_ms != t->created_ms ||
		    s->retention_hours != t->retention_hours ||
		    s->next_shard_id != t->next_shard_id || s->open_shards != t->open_shards ||
		    s->nshards != t->nshards || s->ntags != t->ntags)
			return false;
		for (uint32_t k = 0; k < s->ntags; k++)
			if (strcmp(s->tags[k].key, t->tags[k].key) ||
			    strcmp(s->tags[k].value, t->tags[k].value))
				return false;
		for (uint32_t k = 0; k < s->nshards; k++) {
			const struct sl_cat_shard *p = &s->shards[k], *q = &t->shards[k];

			if (p->start != q->start || p->end != q->end || p->id != q->id ||
			    p->parent != q->parent || p->adjacent_parent != q->adjacent_parent ||
			    p->start_seq != q->start_seq || p->closed != q->closed ||
			    p->closed_ms != q->closed_ms || p->end_seq_known != q->end_seq_known ||
			    p->end_seq != q->end_seq)
				return false;
		}
	}
	return true;
}

/* ---- changes ---- */

static int not_found(const struct sl_catalog *cat, const char *name)
{
	return sl_err_set(-SL_CATALOG_E_NOT_FOUND, "Stream %.128s under account %s not found.",
	                  name, cat->account);
}

static int not_active(const struct sl_catalog *cat, const struct sl_cat_stream *s)
{
	return sl_err_set(-SL_CATALOG_E_IN_USE,
	                  "Stream %s under account %s not ACTIVE, instead in state %s", s->name,
	                  cat->account, status_names[s->status]);
}

static int shard_limit_exceeded(const struct sl_catalog *cat, const struct model *m, uint32_t extra)
{
	return sl_err_set(-SL_CATALOG_E_LIMIT,
	                  "This request would exceed the shard limit for the account %s in %s. "
	                  "Current shard count for the account: %u. Limit: %u. Number of "
	                  "additional shards that would have resulted from this request: %u. "
	                  "Refer to the AWS Service Limits page "
	                  "(http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) "
	                  "for current limits and how to request higher limits.",
	                  cat->account, cat->region, model_open_shards(m), cat->cfg.shard_limit,
	                  extra);
}

/* Whether a stream may go from open_now to open_after open shards and keep
 * records more shard records, within every limit. */
static int check_shard_limits(const struct sl_catalog *cat, const struct model *m,
                              const struct sl_cat_stream *s, uint32_t open_now, uint32_t open_after,
                              uint32_t records)
{
	uint64_t total = (uint64_t)model_open_shards(m) - open_now + open_after;

	if (open_after > open_now && total > cat->cfg.shard_limit)
		return shard_limit_exceeded(cat, m, open_after - open_now);
	if (open_after > open_now && open_after > cat->cfg.stream_shard_limit)
		return sl_err_set(-SL_CATALOG_E_LIMIT,
		                  "Stream %s under account %s would have %u open shards; the limit "
		                  "per stream is %u.",
		                  s ? s->name : "", cat->account, open_after,
		                  cat->cfg.stream_shard_limit);
	if ((uint64_t)model_shard_records(m) + records > cat->cfg.max_shard_records)
		return sl_err_set(
		        -SL_CATALOG_E_LIMIT,
		        "The catalog keeps at most %u shards, open and closed, until closed "
		        "ones age out of retention; it holds %u and this request adds %u.",
		        cat->cfg.max_shard_records, model_shard_records(m), records);
	return 0;
}

static int tags_merge(struct sl_cat_stream *s, const struct sl_cat_tag *tags, uint32_t n,
                      const struct sl_catalog *cat)
{
	for (uint32_t i = 0; i < n; i++) {
		int rc = tag_check(&tags[i]);

		if (rc < 0)
			return rc;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t at = 0;
		struct sl_cat_tag *v;

		while (at < s->ntags && strcmp(s->tags[at].key, tags[i].key) < 0)
			at++;
		if (at < s->ntags && strcmp(s->tags[at].key, tags[i].key) == 0) {
			s->tags[at] = tags[i];
			continue;
		}
		if (s->ntags == SL_CATALOG_TAGS_MAX)
			return sl_err_set(
			        -SL_CATALOG_E_INVALID,
			        "Failed to add tags to stream %s under account %s because a "
			        "given stream cannot have more than %d tags associated with "
			        "it.",
			        s->name, cat->account, SL_CATALOG_TAGS_MAX);
		v = realloc(s->tags, (s->ntags + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->tags = v;
		memmove(&v[at + 1], &v[at], (s->ntags - at) * sizeof(*v));
		v[at] = tags[i];
		s->ntags++;
	}
	return 0;
}

int sl_catalog_create_stream(struct sl_catalog *cat, const struct sl_catalog_create *req)
{
	struct sl_cat_stream *s;
	struct model *next;
	uint32_t at, n;
	int rc;

	if (!req->name || !sl_stream_name_valid(req->name))
		return sl_err_set(
		        -SL_CATALOG_E_VALIDATION,
		        "1 validation error detected: Value '%.200s' at 'streamName' failed "
		        "to satisfy constraint: Member must satisfy regular expression "
		        "pattern: [a-zA-Z0-9_.-]+",
		        req->name ? req->name : "null");
	if ((unsigned)req->mode >= NMODE)
		return sl_err_set(-SL_CATALOG_E_INVALID, "Unknown stream mode %d.", (int)req->mode);
	if (req->mode == SL_CATALOG_ON_DEMAND && req->shard_count)
		return sl_err_set(-SL_CATALOG_E_INVALID,
		                  "ShardCount is not expected when StreamMode=ON_DEMAND");
	if (req->mode == SL_CATALOG_PROVISIONED && req->shard_count == 0)
		return sl_err_set(
		        -SL_CATALOG_E_VALIDATION,
		        "1 validation error detected: Value '0' at 'shardCount' failed to "
		        "satisfy constraint: Member must have value greater than or equal "
		        "to 1");
	if (req->ntags > SL_CATALOG_TAGS_MAX)
		return sl_err_set(-SL_CATALOG_E_INVALID,
		                  "Failed to create stream %s under account %s because a given "
		                  "stream cannot have more than %d tags associated with it.",
		                  req->name, cat->account, SL_CATALOG_TAGS_MAX);
	if (find_stream(cat->m, req->name, &at))
		return sl_err_set(-SL_CATALOG_E_IN_USE,
		                  "Stream %s under account %s already exists.", req->name,
		                  cat->account);
	if (cat->m->nstreams >= cat->cfg.max_streams)
		return sl_err_set(
		        -SL_CATALOG_E_LIMIT,
		        "This request would exceed the stream limit for the account %s in "
		        "%s. Limit: %u.",
		        cat->account, cat->region, cat->cfg.max_streams);
	if (cat->m->next_stream_id > SL_CATALOG_MAX_STREAM_ID)
		return sl_err_set(-SL_CATALOG_E_LIMIT, "All %d stream ids have been used.",
		                  SL_CATALOG_MAX_STREAM_ID);
	n = req->mode == SL_CATALOG_ON_DEMAND ? cat->cfg.on_demand_shards : req->shard_count;
	rc = check_shard_limits(cat, cat->m, NULL, 0, n, n);
	if (rc < 0)
		return rc;

	next = model_clone(cat->m);
	if (!next)
		return -ENOMEM;
	s = &next->streams[at];
	memmove(s + 1, s, (next->nstreams - at) * sizeof(*s));
	next->nstreams++;
	*s = (struct sl_cat_stream){
	        .id = next->next_stream_id++,
	        .status = SL_CATALOG_CREATING,
	        .mode = req->mode,
	        .created_ms = now_ms(cat),
	        .retention_hours = SL_CATALOG_RETENTION_MIN,
	};
	snprintf(s->name, sizeof(s->name), "%s", req->name);
	rc = tags_merge(s, req->tags, req->ntags, cat);
	for (uint32_t k = 0; k < n && rc == 0; k++) {
		sl_u128 end = k + 1 == n ? U128_MAX : sl_hashkey_even_start(k + 1, n) - 1;

		if (!add_shard(s, sl_hashkey_even_start(k, n), end, SL_CATALOG_NO_SHARD,
		               SL_CATALOG_NO_SHARD))
			rc = -ENOMEM;
	}
	if (rc < 0) {
		model_free(next);
		return rc;
	}
	return commit(cat, next);
}

/* Clones the model and finds name in the clone. */
static int begin(struct sl_catalog *cat, const char *name, struct model **ret_next,
                 struct sl_cat_stream **ret_s)
{
	struct model *next;

	if (!find_stream(cat->m, name, NULL))
		return not_found(cat, name);
	next = model_clone(cat->m);
	if (!next)
		return -ENOMEM;
	*ret_next = next;
	*ret_s = find_stream(next, name, NULL);
	return 0;
}

static int abort_change(struct model *next, int rc)
{
	model_free(next);
	return rc;
}

int sl_catalog_set_active(struct sl_catalog *cat, const char *name)
{
	const struct sl_cat_stream *cur = find_stream(cat->m, name, NULL);
	struct sl_cat_stream *s;
	struct model *next;
	int rc;

	if (!cur)
		return not_found(cat, name);
	if (cur->status == SL_CATALOG_ACTIVE)
		return 0;
	if (cur->status == SL_CATALOG_DELETING)
		return not_active(cat, cur);
	rc = begin(cat, name, &next, &s);
	if (rc < 0)
		return rc;
	s->status = SL_CATALOG_ACTIVE;
	return commit(cat, next);
}

int sl_catalog_delete_stream(struct sl_catalog *cat, const char *name)
{
	const struct sl_cat_stream *cur = find_stream(cat->m, name, NULL);
	struct sl_cat_stream *s;
	struct model *next;
	int rc;

	if (!cur)
		return not_found(cat, name);
	if (cur->status == SL_CATALOG_DELETING)
		return not_active(cat, cur);
	rc = begin(cat, name, &next, &s);
	if (rc < 0)
		return rc;
	s->status = SL_CATALOG_DELETING;
	return commit(cat, next);
}

int sl_catalog_purge_stream(struct sl_catalog *cat, const char *name)
{
	const struct sl_cat_stream *cur = find_stream(cat->m, name, NULL);
	struct sl_cat_stream *s;
	struct model *next;
	int rc;

	if (!cur)
		return not_found(cat, name);
	if (cur->status != SL_CATALOG_DELETING)
		return sl_err_set(-SL_CATALOG_E_IN_USE,
		                  "Stream %s under account %s is %s, not DELETING", name,
		                  cat->account, status_names[cur->status]);
	rc = begin(cat, name, &next, &s);
	if (rc < 0)
		return rc;
	stream_fini(s);
	memmove(s, s + 1, (size_t)(&next->streams[next->nstreams] - (s + 1)) * sizeof(*s));
	next->nstreams--;
	return commit(cat, next);
}

/* Status and mode checks shared by split, merge and update shard count. */
static int check_reshardable(const struct sl_catalog *cat, const struct sl_cat_stream *s,
                             const char *op)
{
	if (s->mode == SL_CATALOG_ON_DEMAND)
		return sl_err_set(
		        -SL_CATALOG_E_VALIDATION,
		        "%s is not supported for stream %s under account %s because it is "
		        "in ON_DEMAND capacity mode.",
		        op, s->name, cat->account);
	if (s->status != SL_CATALOG_ACTIVE)
		return not_active(cat, s);
	return 0;
}

/* Looks up an open shard for split/merge with Kinesis's texts. */
static int resharding_shard(const struct sl_catalog *cat, const struct sl_cat_stream *s,
                            uint32_t id, const struct sl_cat_shard **ret)
{
	const struct sl_cat_shard *sh = find_shard(s, id);
	char sid[SL_CATALOG_SHARD_ID_BUF];

	sl_catalog_shard_id_format(id, sid);
	if (!sh)
		return sl_err_set(-SL_CATALOG_E_NOT_FOUND,
		                  "Could not find shard %s in stream %s under account %s.", sid,
		                  s->name, cat->account);
	if (sh->closed)
		return sl_err_set(
		        -SL_CATALOG_E_INVALID,
		        "Shard %s in stream %s under account %s has already been merged or "
		        "split, and thus is not eligible for merging or splitting.",
		        sid, s->name, cat->account);
	*ret = sh;
	return 0;
}

/* Closes shard at index i and adds its two children split at k
 * (start < k <= end). */
static int do_split(struct sl_cat_stream *s, uint32_t i, sl_u128 k, int64_t now)
{
	struct sl_cat_shard parent;

	close_shard(s, &s->shards[i], now);
	parent = s->shards[i]; /* add_shard may move the array */
	if (!add_shard(s, parent.start, k - 1, parent.id, SL_CATALOG_NO_SHARD) ||
	    !add_shard(s, k, parent.end, parent.id, SL_CATALOG_NO_SHARD))
		return -ENOMEM;
	return 0;
}

/* Closes the open shards a and b (a.end + 1 == b.start, by id) and adds
 * their child with parent first and adjacent second. */
static int do_merge(struct sl_cat_stream *s, uint32_t parent, uint32_t adjacent, int64_t now)
{
	struct sl_cat_shard *p = find_shard(s, parent), *a = find_shard(s, adjacent);
	sl_u128 start = p->start < a->start ? p->start : a->start;
	sl_u128 end = p->end > a->end ? p->end : a->end;

	close_shard(s, p, now);
	close_shard(s, a, now);
	return add_shard(s, start, end, parent, adjacent) ? 0 : -ENOMEM;
}

int sl_catalog_split_shard(struct sl_catalog *cat, const char *name, uint32_t shard_id,
                           sl_u128 new_start)
{
	const struct sl_cat_stream *cur = find_stream(cat->m, name, NULL);
	const struct sl_cat_shard *sh;
	struct sl_cat_stream *s;
	struct model *next;
	int rc;

	if (!cur)
		return not_found(cat, name);
	rc = check_reshardable(cat, cur, "SplitShard");
	if (rc == 0)
		rc = resharding_shard(cat, cur, shard_id, &sh);
	if (rc < 0)
		return rc;
	if (new_start <= sh->start + 1 || new_start >= sh->end) {
		char k[SL_CATALOG_HASH_KEY_BUF], st[SL_CATALOG_HASH_KEY_BUF],
		        en[SL_CATALOG_HASH_KEY_BUF], sid[SL_CATALOG_SHARD_ID_BUF];

		sl_u128_format(new_start, k);
		sl_u128_format(sh->start, st);
		sl_u128_format(sh->end, en);
		sl_catalog_shard_id_format(shard_id, sid);
		return sl_err_set(
		        -SL_CATALOG_E_INVALID,
		        "NewStartingHashKey %s used in SplitShard() on shard %s in stream "
		        "%s under account %s is not both greater than one plus the shard's "
		        "StartingHashKey %s and less than the shard's EndingHashKey %s.",
		        k, sid, name, cat->account, st, en);
	}
	rc = check_shard_limits(cat, cat->m, cur, cur->open_shards, cur->open_shards + 1, 2);
	if (rc < 0)
		return rc;
	rc = begin(cat, name, &next, &s);
	if (rc < 0)
		return rc;
	rc = do_split(s, (uint32_t)(find_shard(s, shard_id) - s->shards), new_start, now_ms(cat));
	if (rc < 0)
		return abort_change(next, rc);
	s->status = SL_CATALOG_UPDATING;
	return commit(cat, next);
}

int sl_catalog_merge_shards(struct sl_catalog *cat, const char *name, uint32_t shard_id,
                            uint32_t adjacent_id)
{
	const struct sl_cat_stream *cur = find_stream(cat->m, name, NULL);
	const struct sl_cat_shard *a, *b;
	struct sl_cat_stream *s;
	struct model *next;
	int rc;

	if (!cur)
		return not_found(cat, name);
	rc = check_reshardable(cat, cur, "MergeShards");
	if (rc == 0)
		rc = resharding_shard(cat, cur, shard_id, &a);
	if (rc == 0)
		rc = resharding_shard(cat, cur, adjacent_id, &b);
	if (rc < 0)
		return rc;
	if (shard_id == adjacent_id || !((a->end != U128_MAX && a->end + 1 == b->start) ||
	                                 (b->end != U128_MAX && b->end + 1 == a->start))) {
		char x[SL_CATALOG_SHARD_ID_BUF], y[SL_CATALOG_SHARD_ID_BUF];

		sl_catalog_shard_id_format(shard_id, x);
		sl_catalog_shard_id_format(adjacent_id, y);
		return sl_err_set(
		        -SL_CATALOG_E_INVALID,
		        "Shards %s and %s in stream %s under account %s are not an adjacent "
		        "pair of shards eligible for merging",
		        x, y, name, cat->account);
	}
	rc = check_shard_limits(cat, cat->m, cur, cur->open_shards, cur->open_shards - 1, 1);
	if (rc < 0)
		return rc;
	rc = begin(cat, name, &next, &s);
	if (rc < 0)
		return rc;
	rc = do_merge(s, shard_id, adjacent_id, now_ms(cat));
	if (rc < 0)
		return abort_change(next, rc);
	s->status = SL_CATALOG_UPDATING;
	return commit(cat, next);
}

/* Index of the open shard containing hash key k. */
static int32_t open_containing(const struct sl_cat_stream *s, sl_u128 k)
{
	for (uint32_t i = 0; i < s->nshards; i++)
		if (!s->shards[i].closed && s->shards[i].start <= k && k <= s->shards[i].end)
			return (int32_t)i;
	return -1;
}

/* Shard records UNIFORM_SCALING to target adds, without changing s. */
static uint32_t scaling_records(const struct sl_cat_stream *s, uint32_t target)
{
	uint32_t recs = 0, open_after_splits = s->open_shards;

	for (uint32_t j = 1; j < target; j++) {
		sl_u128 b = sl_hashkey_even_start(j, target);
		int32_t i = open_containing(s, b);

		if (i >= 0 && s->shards[i].start != b) {
			recs += 2;
			open_after_splits++;
		}
	}
	/* Each merge adds one child and removes one open shard. */
	return recs + (open_after_splits - target);
}

int sl_catalog_update_shard_count(struct sl_catalog *cat, const char *name, uint32_t target)
{
	const struct sl_cat_stream *cur = find_stream(cat->m, name, NULL);
	struct sl_cat_stream *s;
	struct model *next;
	int64_t now;
	int rc;

	if (!cur)
		return not_found(cat, name);
	rc = check_reshardable(cat, cur, "UpdateShardCount");
	if (rc < 0)
		return rc;
	if (target == 0)
		return sl_err_set(
		        -SL_CATALOG_E_VALIDATION,
		        "1 validation error detected: Value '0' at 'targetShardCount' "
		        "failed to satisfy constraint: Member must have value greater than "
		        "or equal to 1");
	if ((uint64_t)target > 2ull * cur->open_shards || target < (cur->open_shards + 1) / 2)
		return sl_err_set(
		        -SL_CATALOG_E_INVALID,
		        "UpdateShardCount on stream %s under account %s: target shard count "
		        "%u must be between half (%u) and double (%u) the current open "
		        "shard count %u.",
		        name, cat->account, target, (cur->open_shards + 1) / 2,
		        2 * cur->open_shards, cur->open_shards);
	if (target == cur->open_shards && scaling_records(cur, target) == 0)
		return 0;
	rc = check_shard_limits(cat, cat->m, cur, cur->open_shards, target,
	                        scaling_records(cur, target));
	if (rc < 0)
		return rc;
	rc = begin(cat, name, &next, &s);
	if (rc < 0)
		return rc;
	now = now_ms(cat);
	/* Split at every boundary of the target layout that falls inside an
	 * open shard: then each open shard lies within one target range. */
	for (uint32_t j = 1; j < target && rc == 0; j++) {
		sl_u128 b = sl_hashkey_even_start(j, target);
		int32_t i = open_containing(s, b);

		if (i >= 0 && s->shards[i].start != b)
			rc = do_split(s, (uint32_t)i, b, now);
	}
	/* Merge, left to right, what lies within each target range. */
	for (uint32_t j = 0; j < target && rc == 0; j++) {
		sl_u128 end = j + 1 == target ? U128_MAX : sl_hashkey_even_start(j + 1, target) - 1;
		int32_t i = open_containing(s, sl_hashkey_even_start(j, target));

		while (rc == 0 && s->shards[i].end != end) {
			uint32_t left = s->shards[i].id;
			int32_t r = open_containing(s, s->shards[i].end + 1);

			rc = do_merge(s, left, s->shards[r].id, now);
			i = (int32_t)(s->nshards - 1);
		}
	}
	if (rc < 0)
		return abort_change(next, rc);
	s->status = SL_CATALOG_UPDATING;
	return commit(cat, next);
}

int sl_catalog_set_end_seq(struct sl_catalog *cat, const char *name, uint32_t shard_id,
                           uint64_t end_seq)
{
	const struct sl_cat_stream *cur = find_stream(cat->m, name, NULL);
	const struct sl_cat_shard *sh;
	struct sl_cat_stream *s;
	struct model *next;
	char sid[SL_CATALOG_SHARD_ID_BUF];
	int rc;

	if (!cur)
		return not_found(cat, name);
	sh = find_shard(cur, shard_id);
	sl_catalog_shard_id_format(shard_id, sid);
	if (!sh)
		return sl_err_set(-SL_CATALOG_E_NOT_FOUND,
		                  "Shard %s in stream %s under account %s does not exist", sid,
		                  name, cat->account);
	if (!sh->closed)
		return sl_err_set(-SL_CATALOG_E_INVALID,
		                  "Shard %s in stream %s under account %s is open; only a closed "
		                  "shard has an ending sequence number.",
		                  sid, name, cat->account);
	if (sh->end_seq_known && sh->end_seq == end_seq)
		return 0;
	rc = begin(cat, name, &next, &s);
	if (rc < 0)
		return rc;
	struct sl_cat_shard *w = find_shard(s, shard_id);

	w->end_seq = end_seq;
	w->end_seq_known = true;
	return commit(cat, next);
}

static int set_retention(struct sl_catalog *cat, const char *name, uint32_t hours, bool increase)
{
	const struct sl_cat_stream *cur = find_stream(cat->m, name, NULL);
	struct sl_cat_stream *s;
	struct model *next;
	int rc;

	if (!cur)
		return not_found(cat, name);
	if (hours < SL_CATALOG_RETENTION_MIN)
		return sl_err_set(
		        -SL_CATALOG_E_INVALID,
		        "Minimum allowed retention period is %d hours. Requested retention "
		        "period (%u hours) is too short.",
		        SL_CATALOG_RETENTION_MIN, hours);
	if (hours > SL_CATALOG_RETENTION_MAX)
		return sl_err_set(
		        -SL_CATALOG_E_INVALID,
		        "Maximum allowed retention period is %d hours. Requested retention "
		        "period (%u hours) is too long.",
		        SL_CATALOG_RETENTION_MAX, hours);
	if (cur->status != SL_CATALOG_ACTIVE)
		return not_active(cat, cur);
	if (increase && hours < cur->retention_hours)
		return sl_err_set(-SL_CATALOG_E_INVALID,
		                  "Requested retention period (%u hours) for stream %s can not be "
		                  "shorter than existing retention period (%u hours). Use "
		                  "DecreaseRetentionPeriod API.",
		                  hours, name, cur->retention_hours);
	if (!increase && hours > cur->retention_hours)
		return sl_err_set(-SL_CATALOG_E_INVALID,
		                  "Requested retention period (%u hours) for stream %s can not be "
		                  "longer than existing retention period (%u hours). Use "
		                  "IncreaseRetentionPeriod API.",
		                  hours, name, cur->retention_hours);
	if (hours == cur->retention_hours)
		return 0;
	rc = begin(cat, name, &next, &s);
	if (rc < 0)
		return rc;
	s->retention_hours = hours;
	return commit(cat, next);
}

int sl_catalog_increase_retention(struct sl_catalog *cat, const char *name, uint32_t hours)
{
	return set_retention(cat, name, hours, true);
}

int sl_catalog_decrease_retention(struct sl_catalog *cat, const char *name, uint32_t hours)
{
	return set_retention(cat, name, hours, false);
}

static int check_taggable(const struct sl_catalog *cat, const char *name)
{
	const struct sl_cat_stream *cur = find_stream(cat->m, name, NULL);

	if (!cur)
		return not_found(cat, name);
	if (cur->status == SL_CATALOG_DELETING)
		return not_active(cat, cur);
	return 0;
}

int sl_catalog_add_tags(struct sl_catalog *cat, const char *name, const struct sl_cat_tag *tags,
                        uint32_t n)
{
	struct sl_cat_stream *s;
	struct model *next;
	int rc = check_taggable(cat, name);

	if (rc < 0)
		return rc;
	if (n == 0)
		return sl_err_set(
		        -SL_CATALOG_E_VALIDATION,
		        "1 validation error detected: Value '{}' at 'tags' failed to satisfy "
		        "constraint: Member must have length greater than or equal to 1");
	rc = begin(cat, name, &next, &s);
	if (rc < 0)
		return rc;
	rc = tags_merge(s, tags, n, cat);
	if (rc < 0)
		return abort_change(next, rc);
	return commit(cat, next);
}

int sl_catalog_remove_tags(struct sl_catalog *cat, const char *name, const char *const *keys,
                           uint32_t n)
{
	struct sl_cat_stream *s;
	struct model *next;
	int rc = check_taggable(cat, name);

	if (rc < 0)
		return rc;
	if (n == 0 || n > SL_CATALOG_TAGS_MAX)
		return sl_err_set(
		        -SL_CATALOG_E_VALIDATION,
		        "1 validation error detected: Value at 'tagKeys' failed to satisfy "
		        "constraint: Member must have length between 1 and %d",
		        SL_CATALOG_TAGS_MAX);
	rc = begin(cat, name, &next, &s);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t t = 0; t < s->ntags; t++) {
			if (strcmp(s->tags[t].key, keys[i]) == 0) {
				memmove(&s->tags[t], &s->tags[t + 1],
				        (s->ntags - t - 1) * sizeof(s->tags[0]));
				s->ntags--;
				break;
			}
		}
	}
	return commit(cat, next);
}

int sl_catalog_list_tags(const struct sl_catalog *cat, const char *name,
                         const char *exclusive_start_key, uint32_t limit,
                         const struct sl_cat_tag **ret_tags, uint32_t *ret_n, bool *ret_more)
{
	const struct sl_cat_stream *s = find_stream(cat->m, name, NULL);
	uint32_t first = 0, n;

	if (!s)
		return not_found(cat, name);
	if (limit == 0 || limit > SL_CATALOG_TAGS_MAX)
		return sl_err_set(-SL_CATALOG_E_VALIDATION,
		                  "1 validation error detected: Value '%u' at 'limit' failed to "
		                  "satisfy constraint: Member must have value between 1 and %d",
		                  limit, SL_CATALOG_TAGS_MAX);
	if (exclusive_start_key)
		while (first < s->ntags && strcmp(s->tags[first].key, exclusive_start_key) <= 0)
			first++;
	n = s->ntags - first < limit ? s->ntags - first : limit;
	*ret_tags = s->tags ? &s->tags[first] : NULL;
	*ret_n = n;
	*ret_more = first + n < s->ntags;
	return 0;
}

int sl_catalog_expire_shards(struct sl_catalog *cat, int64_t now)
{
	struct model *next;
	int removed = 0, rc;

	for (uint32_t i = 0; i < cat->m->nstreams; i++) {
		const struct sl_cat_stream *s = &cat->m->streams[i];

		for (uint32_t k = 0; k < s->nshards; k++)
			removed += s->shards[k].closed &&
			           s->shards[k].closed_ms + s->retention_hours * MS_PER_HOUR <= now;
	}
	if (removed == 0)
		return 0;
	next = model_clone(cat->m);
	if (!next)
		return -ENOMEM;
	for (uint32_t i = 0; i < next->nstreams; i++) {
		struct sl_cat_stream *s = &next->streams[i];
		uint32_t kept = 0;

		for (uint32_t k = 0; k < s->nshards; k++)
			if (!(s->shards[k].closed &&
			      s->shards[k].closed_ms + s->retention_hours * MS_PER_HOUR <= now))
				s->shards[kept++] = s->shards[k];
		s->nshards = kept;
	}
	rc = commit(cat, next);
	return rc < 0 ? rc : removed;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluicectl get: reads records with GetShardIterator and GetRecords.
 *
 * Shards known to the reader are WAITING (a parent it reads is not done),
 * READING (it holds an iterator) or DONE (ended: GetRecords gave no next
 * iterator; or stopped: caught up without --follow; or not read at all,
 * such as the closed shards under --from latest). A shard that ends names
 * its children (ChildShards); a child is read from its start once every
 * parent the reader knows is DONE, so within a lineage parents come out
 * before children, as Kinesis consumers are expected to read them.
 *
 * READING shards are polled in turn. Without --follow a shard stops when a
 * GetRecords answer is empty and MillisBehindLatest is 0; with it, a round
 * that brought nothing makes the reader sleep, 100 ms doubling up to 2 s,
 * reset by the next record. SIGINT and SIGTERM end the loop, exit 0.
 * An iterator that expired (ExpiredIteratorException) is replaced by one
 * after the last record read, or at the shard's starting position.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "ctl.h"

#define IDLE_FIRST_MS   100
#define IDLE_MAX_MS     2000
#define MAX_SHARDS      100000
#define MAX_EMPTY_READS 1000  /* empty answers while behind before giving up on a shard */
#define GET_MAX_RECORDS 10000 /* GetRecords Limit at most */

enum state { WAITING, READING, DONE };

struct gshard {
	char *id;
	char *parents[2];
	unsigned nparents;
	enum state state;
	bool ended; /* reached its end (a closed shard) */
	bool first; /* not reached through a parent: starts at --from */
	char *iter;
	char *last_seq; /* of the last record printed */
	unsigned empty; /* consecutive empty answers while behind */
};

enum from { FROM_TRIM, FROM_LATEST, FROM_AT, FROM_AFTER, FROM_TIME };

struct get {
	struct sl_ctl *ctl;
	const char *name;
	enum from from;
	const char *seq; /* at:/after: */
	double time;     /* time: */
	bool follow, b64;
	uint64_t limit; /* 0: none */
	uint64_t printed;
	struct gshard *s;
	size_t n, cap;
	uint8_t *buf; /* decoded data */
	size_t bufcap;
};

static struct gshard *find(struct get *g, const char *id)
{
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->s[i].id, id) == 0)
			return &g->s[i];
	return NULL;
}

/* Adds shard id with its parents (NULL-safe), WAITING; NULL when full.
 * Moves g->s: pointers to shards taken before are stale afterwards. */
static struct gshard *add(struct get *g, const char *id, const char *p1, const char *p2)
{
	struct gshard *s;

	if (g->n == MAX_SHARDS)
		return NULL;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		struct gshard *a = realloc(g->s, cap * sizeof(*a));

		if (!a)
			return NULL;
		g->s = a;
		g->cap = cap;
	}
	s = &g->s[g->n];
	memset(s, 0, sizeof(*s));
	s->id = strdup(id);
	if (!s->id)
		return NULL;
	if (p1 && !(s->parents[s->nparents++] = strdup(p1)))
		return NULL;
	if (p2 && !(s->parents[s->nparents++] = strdup(p2)))
		return NULL;
	g->n++;
	return s;
}

static void free_shards(struct get *g)
{
	for (size_t i = 0; i < g->n; i++) {
		free(g->s[i].id);
		free(g->s[i].parents[0]);
		free(g->s[i].parents[1]);
		free(g->s[i].iter);
		free(g->s[i].last_seq);
	}
	free(g->s);
}

/* Gets an iterator for s: after its last record, at --from for a first
 * shard, else at its start (or --from's time). 0 or an exit code. */
static int open_iterator(struct get *g, struct gshard *s)
{
	struct sl_ctl *ctl = g->ctl;
	json_t *req = sl_ctl_stream_request(g->name), *out = NULL;
	const char *type = "TRIM_HORIZON", *it;
	int rc;

	if (!req)
		return sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
	json_object_set_new(req, "ShardId", json_string(s->id));
	if (s->last_seq) {
		type = "AFTER_SEQUENCE_NUMBER";
		json_object_set_new(req, "StartingSequenceNumber", json_string(s->last_seq));
	} else if (g->from == FROM_TIME) {
		type = "AT_TIMESTAMP";
		if (g->time == floor(g->time))
			json_object_set_new(req, "Timestamp", json_integer((json_int_t)g->time));
		else
			json_object_set_new(req, "Timestamp", json_real(g->time));
	} else if (s->first && g->from == FROM_LATEST) {
		type = "LATEST";
	} else if (s->first && (g->from == FROM_AT || g->from == FROM_AFTER)) {
		type = g->from == FROM_AT ? "AT_SEQUENCE_NUMBER" : "AFTER_SEQUENCE_NUMBER";
		json_object_set_new(req, "StartingSequenceNumber", json_string(g->seq));
	}
	json_object_set_new(req, "ShardIteratorType", json_string(type));
	rc = sl_kinesis_call(ctl->k, "GetShardIterator", req, &out);
	json_decref(req);
	if (rc < 0)
		return sl_ctl_fail(ctl, rc);
	it = sl_ctl_str(out, "ShardIterator");
	if (!it) {
		json_decref(out);
		return sl_ctl_error(ctl, SL_CTL_EXIT_PROTOCOL,
		                    "GetShardIterator: no ShardIterator");
	}
	free(s->iter);
	s->iter = strdup(it);
	json_decref(out);
	if (!s->iter)
		return sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
	s->state = READING;
	return 0;
}

/* Starts every WAITING shard whose known parents are all DONE. */
static int start_ready(struct get *g)
{
	for (size_t i = 0; i < g->n; i++) {
		struct gshard *s = &g->s[i];
		bool ready = s->state == WAITING;
		int rc;

		for (unsigned j = 0; ready && j < s->nparents; j++) {
			struct gshard *p = find(g, s->parents[j]);

			if (p && (p->state != DONE || !p->ended))
				ready = false;
		}
		if (!ready)
			continue;
		rc = open_iterator(g, s);
		if (rc)
			return rc;
	}
	return 0;
}

struct list_arg {
	struct get *g;
	bool full;
};

static int on_listed(void *arg, json_t *js)
{
	struct list_arg *la = arg;
	struct get *g = la->g;
	json_t *sr = json_object_get(js, "SequenceNumberRange");
	struct gshard *s;

	s = add(g, sl_ctl_str(js, "ShardId"), sl_ctl_str(js, "ParentShardId"),
	        sl_ctl_str(js, "AdjacentParentShardId"));
	if (!s) {
		la->full = true;
		return 1;
	}
	/* Under --from latest only the open shards are read. */
	if (g->from == FROM_LATEST && sl_ctl_str(sr, "EndingSequenceNumber")) {
		s->state = DONE;
		s->ended = true;
	}
	return 0;
}

/* The initial set: one shard, or every listed shard whose parents are not
 * listed (the roots; their descendants wait). */
static int init_shards(struct get *g, const char *shard)
{
	struct list_arg la = {.g = g};
	int rc;

	if (shard) {
		struct gshard *s = add(g, shard, NULL, NULL);

		if (!s)
			return sl_ctl_error(g->ctl, SL_CTL_EXIT_SERVICE, "out of memory");
		s->first = true;
		return open_iterator(g, s);
	}
	rc = sl_ctl_list_shards(g->ctl, g->name, false, on_listed, &la);
	if (rc)
		return rc;
	if (la.full)
		return sl_ctl_error(g->ctl, SL_CTL_EXIT_SERVICE,
		                    "more than %d shards, or out of memory", MAX_SHARDS);
	for (size_t i = 0; i < g->n; i++) {
		struct gshard *s = &g->s[i];
		bool root = true;

		for (unsigned j = 0; j < s->nparents; j++) {
			struct gshard *p = find(g, s->parents[j]);

			/* Under latest a closed parent is not read. */
			if (p && !(p->state == DONE && p->ended))
				root = false;
		}
		if (s->state == WAITING && root)
			s->first = true;
	}
	return start_ready(g);
}

static int print_record(struct get *g, const struct gshard *s, json_t *r)
{
	const char *data = sl_ctl_str(r, "Data");
	size_t len;

	if (!data)
		return -EPROTO;
	len = strlen(data);
	if (g->ctl->json) {
		json_t *o = json_deep_copy(r);
		char *txt;

		if (!o)
			return -ENOMEM;
		json_object_set_new(o, "ShardId", json_string(s->id));
		txt = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(16));
		json_decref(o);
		if (!txt)
			return -ENOMEM;
		puts(txt);
		free(txt);
	} else if (g->b64) {
		puts(data);
	} else {
		long n;

		if (len / 4 * 3 > g->bufcap) {
			uint8_t *b = realloc(g->buf, len / 4 * 3);

			if (!b)
				return -ENOMEM;
			g->buf = b;
			g->bufcap = len / 4 * 3;
		}
		n = sl_base64_decode(data, len, g->buf);
		if (n < 0)
			return -EPROTO;
		fwrite(g->buf, 1, (size_t)n, stdout);
		if (n == 0 || g->buf[n - 1] != '\n')
			putchar('\n');
	}
	return 0;
}

/* Adds the children an ended shard names. */
static int add_children(struct get *g, json_t *children)
{
	json_t *c;
	size_t i;

	json_array_foreach(children, i, c)
	{
		const char *id = sl_ctl_str(c, "ShardId");
		json_t *ps = json_object_get(c, "ParentShards");

		if (!id || find(g, id))
			continue;
		if (!add(g, id, json_string_value(json_array_get(ps, 0)),
		         json_string_value(json_array_get(ps, 1))))
			return sl_ctl_error(g->ctl, SL_CTL_EXIT_SERVICE,
			                    "more than %d shards, or out of memory", MAX_SHARDS);
	}
	return 0;
}

/* One GetRecords on s; *ret_got gets the records printed. 0 or an exit
 * code. */
static int read_once(struct get *g, struct gshard *s, uint64_t *ret_got)
{
	struct sl_ctl *ctl = g->ctl;
	uint64_t want = GET_MAX_RECORDS;
	json_t *req, *out = NULL, *recs, *r, *next, *behind;
	size_t i;
	int rc;

	*ret_got = 0;
	if (g->limit && g->limit - g->printed < want)
		want = g->limit - g->printed;
	req = json_pack("{s:s, s:I}", "ShardIterator", s->iter, "Limit", (json_int_t)want);
	if (!req)
		return sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
	rc = sl_kinesis_call(ctl->k, "GetRecords", req, &out);
	json_decref(req);
	if (rc == -EREMOTEIO &&
	    strcmp(sl_kinesis_error_type(ctl->k), "ExpiredIteratorException") == 0)
		return open_iterator(g, s);
	if (rc == -EREMOTEIO && sl_kinesis_type_is_throttle(sl_kinesis_error_type(ctl->k)))
		return 0; /* counts as an idle round */
	if (rc < 0)
		return sl_ctl_fail(ctl, rc);
	recs = json_object_get(out, "Records");
	if (!json_is_array(recs)) {
		json_decref(out);
		return sl_ctl_error(ctl, SL_CTL_EXIT_PROTOCOL, "GetRecords: no Records list");
	}
	json_array_foreach(recs, i, r)
	{
		const char *seq = sl_ctl_str(r, "SequenceNumber");

		if (g->limit && g->printed == g->limit)
			break;
		rc = print_record(g, s, r);
		if (rc < 0 || !seq) {
			json_decref(out);
			return rc == -ENOMEM
			               ? sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory")
			               : sl_ctl_error(ctl, SL_CTL_EXIT_PROTOCOL,
			                              "GetRecords: a malformed record");
		}
		free(s->last_seq);
		s->last_seq = strdup(seq);
		g->printed++;
		(*ret_got)++;
	}
	next = json_object_get(out, "NextShardIterator");
	behind = json_object_get(out, "MillisBehindLatest");
	rc = 0;
	if (!json_string_value(next)) {
		/* The end of a closed shard. */
		s->state = DONE;
		s->ended = true;
		rc = add_children(g, json_object_get(out, "ChildShards"));
		if (!rc)
			rc = start_ready(g);
	} else {
		free(s->iter);
		s->iter = strdup(json_string_value(next));
		if (!s->iter)
			rc = sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
		else if (*ret_got)
			s->empty = 0;
		else if (!g->follow &&
		         (!json_is_integer(behind) || json_integer_value(behind) == 0))
			s->state = DONE; /* caught up */
		else if (!g->follow && ++s->empty >= MAX_EMPTY_READS)
			s->state = DONE;
	}
	json_decref(out);
	return rc;
}

static int parse_from(struct get *g, const char *v, const char *shard)
{
	char *end;

	if (!v || strcmp(v, "trim-horizon") == 0) {
		g->from = FROM_TRIM;
	} else if (strcmp(v, "latest") == 0) {
		g->from = FROM_LATEST;
	} else if (strncmp(v, "at:", 3) == 0 || strncmp(v, "after:", 6) == 0) {
		g->from = v[1] == 't' ? FROM_AT : FROM_AFTER;
		g->seq = strchr(v, ':') + 1;
		if (!*g->seq || strspn(g->seq, "0123456789") != strlen(g->seq) ||
		    strlen(g->seq) > 129)
			return sl_ctl_usage(g->ctl,
			                    "--from %s: a sequence number is decimal digits", v);
		if (!shard)
			return sl_ctl_usage(g->ctl,
			                    "--from %s needs --shard: a sequence number "
			                    "belongs to one shard",
			                    v);
	} else if (strncmp(v, "time:", 5) == 0) {
		g->from = FROM_TIME;
		errno = 0;
		g->time = strtod(v + 5, &end);
		if (errno || end == v + 5 || *end || !isfinite(g->time) || g->time < 0 ||
		    v[5] < '0' || v[5] > '9')
			return sl_ctl_usage(g->ctl, "--from %s: time: wants epoch seconds", v);
	} else {
		return sl_ctl_usage(g->ctl,
		                    "--from wants trim-horizon, latest, at:SEQ, after:SEQ or "
		                    "time:EPOCH, not '%s'",
		                    v);
	}
	return 0;
}

int sl_ctl_get(struct sl_ctl *ctl, const struct sl_ctl_args *a)
{
	struct get g = {.ctl = ctl, .name = a->argv[0]};
	const char *shard = sl_ctl_opt(a, OPT_SHARD), *v;
	uint32_t idle = IDLE_FIRST_MS;
	int rc;

	g.follow = sl_ctl_opt(a, OPT_FOLLOW) != NULL;
	g.b64 = sl_ctl_opt(a, OPT_BASE64) != NULL;
	if (g.b64 && ctl->json)
		return sl_ctl_usage(ctl, "--base64 and --json exclude each other");
	if ((v = sl_ctl_opt(a, OPT_LIMIT)) && !sl_ctl_parse_u64(v, 1, UINT64_MAX, &g.limit))
		return sl_ctl_usage(ctl, "--limit wants a count of records, not '%s'", v);
	rc = parse_from(&g, sl_ctl_opt(a, OPT_FROM), shard);
	if (rc)
		return rc;
	rc = init_shards(&g, shard);
	while (!rc && !ctl->stop && (!g.limit || g.printed < g.limit)) {
		uint64_t got = 0, n;
		bool reading = false;

		for (size_t i = 0; !rc && i < g.n && !ctl->stop; i++) {
			if (g.s[i].state != READING || (g.limit && g.printed >= g.limit))
				continue;
			reading = true;
			rc = read_once(&g, &g.s[i], &n);
			got += n;
		}
		fflush(stdout);
		if (rc || !reading)
			break;
		if (got) {
			idle = IDLE_FIRST_MS;
		} else if (g.follow) {
			if (sl_kinesis_sleep(ctl->k, idle) < 0)
				break;
			idle = idle * 2 > IDLE_MAX_MS ? IDLE_MAX_MS : idle * 2;
		}
	}
	/* An interrupt ends get cleanly: what was read has been printed. */
	if (ctl->stop && (rc == 0 || rc == SL_CTL_EXIT_INTERRUPTED))
		rc = 0;
	free_shards(&g);
	free(g.buf);
	return rc;
}

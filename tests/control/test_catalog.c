/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stream catalog: every operation and its errors (each limit has a
 * test), lineage after split, merge and UpdateShardCount, the file's round
 * trip, malformed files (a table, and a valid file truncated at every
 * byte), and a kill -9 test: a child applies a seeded sequence of random
 * operations and reports each completed one over a pipe; the parent kills
 * it at a random moment, reopens, and checks that the catalog is the state
 * after the last reported operation or the one after it, by replaying the
 * same sequence on an in-memory catalog.
 *
 * SLUICE_CATALOG_CRASH_CYCLES sets the kill -9 cycles (default 30);
 * SLUICE_CATALOG_CRASH_SEED replays a run (the seed is printed).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "err.h"
#include "t_util.h"

#define MAXK (~(sl_u128)0)
#define ACC  "000000000000"

static char *dir;
static int64_t fake_now = 1700000000000;

static int64_t fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

static void setup(void)
{
	dir = t_tmpdir("catalog");
}

static void teardown(void)
{
	if (dir) {
		t_rm_rf(dir);
		free(dir);
		dir = NULL;
	}
}

TestSuite(catalog, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ---- */

static void config(struct sl_catalog_config *c, const char *d)
{
	sl_catalog_config_default(c);
	c->dir = d;
	c->now_ms = fake_clock;
}

static struct sl_catalog *open_mem(void)
{
	struct sl_catalog_config c;
	struct sl_catalog *cat;

	config(&c, NULL);
	cr_assert_eq(sl_catalog_open(&c, &cat), 0, "%s", sl_errmsg());
	return cat;
}

static struct sl_catalog *open_dir(void)
{
	struct sl_catalog_config c;
	struct sl_catalog *cat;

	config(&c, dir);
	cr_assert_eq(sl_catalog_open(&c, &cat), 0, "%s", sl_errmsg());
	return cat;
}

static int create(struct sl_catalog *cat, const char *name, uint32_t n)
{
	struct sl_catalog_create req = {.name = name, .shard_count = n};

	return sl_catalog_create_stream(cat, &req);
}

static void create_active(struct sl_catalog *cat, const char *name, uint32_t n)
{
	cr_assert_eq(create(cat, name, n), 0, "%s", sl_errmsg());
	cr_assert_eq(sl_catalog_set_active(cat, name), 0, "%s", sl_errmsg());
}

static const struct sl_cat_stream *S(struct sl_catalog *cat, const char *name)
{
	const struct sl_cat_stream *s = sl_catalog_stream(cat, name);

	cr_assert_not_null(s, "no stream %s", name);
	return s;
}

static const struct sl_cat_shard *shard(struct sl_catalog *cat, const char *name, uint32_t id)
{
	const struct sl_cat_shard *sh = sl_catalog_shard(S(cat, name), id);

	cr_assert_not_null(sh, "no shard %u in %s", id, name);
	return sh;
}

static void expect_err(int rc, enum sl_catalog_err kind, const char *needle)
{
	cr_assert_lt(rc, 0, "expected %s, got %d", sl_catalog_err_name(kind), rc);
	cr_assert_eq(sl_catalog_err_kind(rc), kind, "expected %s, got %s (%s)",
	             sl_catalog_err_name(kind), sl_catalog_err_name(sl_catalog_err_kind(rc)),
	             sl_errmsg());
	if (needle)
		cr_assert_not_null(strstr(sl_errmsg(), needle), "'%s' not in '%s'", needle,
		                   sl_errmsg());
}

static sl_u128 dec(const char *s)
{
	sl_u128 v;

	cr_assert_eq(sl_catalog_hash_key_parse(s, &v), 0, "%s", s);
	return v;
}

static sl_u128 kinesis_start(uint32_t k, uint32_t n)
{
	sl_u128 h;

	if (k == 0)
		return 0;
	h = MAXK / n + (MAXK % n + 1 == n);
	return h * k;
}

static int cmp_start(const void *a, const void *b)
{
	const struct sl_cat_shard *x = *(const struct sl_cat_shard *const *)a;
	const struct sl_cat_shard *y = *(const struct sl_cat_shard *const *)b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Invariants any stream must keep: open shards cover the space, every
 * closed shard has a child (a reader at its end learns where to go) unless
 * its children expired, at most two parents per shard. */
static void check_stream(const struct sl_cat_stream *s)
{
	const struct sl_cat_shard *open[1024];
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->nshards; i++) {
		const struct sl_cat_shard *sh = &s->shards[i];

		if (i > 0)
			cr_assert_lt(s->shards[i - 1].id, sh->id);
		cr_assert_lt(sh->id, s->next_shard_id);
		cr_assert_leq(sh->start, sh->end);
		if (!sh->closed) {
			cr_assert_lt(n, 1024);
			open[n++] = sh;
			continue;
		}
		bool child = false;

		for (uint32_t k = 0; k < s->nshards; k++)
			child |= s->shards[k].parent == sh->id ||
			         s->shards[k].adjacent_parent == sh->id;
		cr_assert(child, "closed shard %u of %s has no child", sh->id, s->name);
	}
	cr_assert_eq(n, s->open_shards);
	cr_assert_gt(n, 0);
	qsort(open, n, sizeof(open[0]), cmp_start);
	cr_assert(open[0]->start == 0 && open[n - 1]->end == MAXK);
	for (uint32_t i = 1; i < n; i++)
		cr_assert(open[i]->start == open[i - 1]->end + 1, "gap or overlap in %s", s->name);
}

/* The open shards are exactly the even layout of n. */
static void check_even(const struct sl_cat_stream *s, uint32_t n)
{
	const struct sl_cat_shard *open[1024];
	uint32_t k = 0;

	check_stream(s);
	cr_assert_eq(s->open_shards, n);
	for (uint32_t i = 0; i < s->nshards; i++)
		if (!s->shards[i].closed)
			open[k++] = &s->shards[i];
	qsort(open, k, sizeof(open[0]), cmp_start);
	for (uint32_t i = 0; i < n; i++) {
		cr_assert(open[i]->start == kinesis_start(i, n));
		cr_assert(open[i]->end == (i + 1 == n ? MAXK : kinesis_start(i + 1, n) - 1));
	}
}

/* ---- names, formats ---- */

Test(catalog, formats_and_parses_ids_and_hash_keys)
{
	char buf[SL_CATALOG_SHARD_ID_BUF];
	uint32_t id;
	sl_u128 v;

	sl_catalog_shard_id_format(7, buf);
	cr_assert_str_eq(buf, "shardId-000000000007");
	cr_assert_eq(sl_catalog_shard_id_parse("shardId-000000000042", &id), 0);
	cr_assert_eq(id, 42);
	cr_assert_lt(sl_catalog_shard_id_parse("shardId-", &id), 0);
	cr_assert_lt(sl_catalog_shard_id_parse("shard-1", &id), 0);
	cr_assert_lt(sl_catalog_shard_id_parse("shardId-99999999999", &id), 0);
	cr_assert_eq(sl_catalog_hash_key_parse("340282366920938463463374607431768211455", &v), 0);
	cr_assert(v == MAXK);
	cr_assert_lt(sl_catalog_hash_key_parse("340282366920938463463374607431768211456", &v), 0);
	cr_assert_lt(sl_catalog_hash_key_parse("01", &v), 0);
	cr_assert_lt(sl_catalog_hash_key_parse("", &v), 0);
	cr_assert_lt(sl_catalog_hash_key_parse("-1", &v), 0);
	cr_assert_eq(sl_catalog_hash_key_parse("0", &v), 0);
	cr_assert(v == 0);
}

Test(catalog, maps_errnos_to_kinesis_exceptions)
{
	cr_assert_str_eq(sl_catalog_err_name(sl_catalog_err_kind(-ENOENT)),
	                 "ResourceNotFoundException");
	cr_assert_str_eq(sl_catalog_err_name(sl_catalog_err_kind(-EBUSY)),
	                 "ResourceInUseException");
	cr_assert_str_eq(sl_catalog_err_name(sl_catalog_err_kind(-EINVAL)),
	                 "InvalidArgumentException");
	cr_assert_str_eq(sl_catalog_err_name(sl_catalog_err_kind(-EDQUOT)),
	                 "LimitExceededException");
	cr_assert_str_eq(sl_catalog_err_name(sl_catalog_err_kind(-EOPNOTSUPP)),
	                 "ValidationException");
	cr_assert_str_eq(sl_catalog_err_name(sl_catalog_err_kind(-EIO)),
	                 "InternalFailureException");
	cr_assert_eq(sl_catalog_err_kind(0), SL_CATALOG_ERR_NONE);
}

/* ---- create, activate, delete ---- */

Test(catalog, creates_with_kinesis_layout_and_lifecycle)
{
	struct sl_catalog *cat = open_mem();
	const struct sl_cat_stream *s;
	char arn[256];

	fake_now = 1700000000123;
	cr_assert_eq(create(cat, "clicks", 3), 0, "%s", sl_errmsg());
	s = S(cat, "clicks");
	cr_assert_eq(s->status, SL_CATALOG_CREATING);
	cr_assert_eq(s->id, 1);
	cr_assert_eq(s->created_ms, 1700000000123);
	cr_assert_eq(s->retention_hours, 24);
	cr_assert_eq(s->mode, SL_CATALOG_PROVISIONED);
	cr_assert_eq(s->open_shards, 3);
	/* research 2.2: kinesalite's AWS-checked 3-shard layout. */
	cr_assert(s->shards[0].start == 0);
	cr_assert(s->shards[0].end == dec("113427455640312821154458202477256070484"));
	cr_assert(s->shards[1].start == dec("113427455640312821154458202477256070485"));
	cr_assert(s->shards[1].end == dec("226854911280625642308916404954512140969"));
	cr_assert(s->shards[2].start == dec("226854911280625642308916404954512140970"));
	cr_assert(s->shards[2].end == MAXK);
	for (uint32_t i = 0; i < 3; i++) {
		cr_assert_eq(s->shards[i].id, i);
		cr_assert_eq(s->shards[i].parent, SL_CATALOG_NO_SHARD);
		cr_assert_eq(s->shards[i].adjacent_parent, SL_CATALOG_NO_SHARD);
		cr_assert_not(s->shards[i].closed);
	}
	check_stream(s);
	cr_assert_gt(sl_catalog_stream_arn(cat, s, arn, sizeof(arn)), 0);
	cr_assert_str_eq(arn, "arn:aws:kinesis:us-east-1:" ACC ":stream/clicks");
	cr_assert_eq(sl_catalog_stream_by_arn(cat, arn), s);
	cr_assert_null(
	        sl_catalog_stream_by_arn(cat, "arn:aws:kinesis:eu-west-1:" ACC ":stream/clicks"));
	cr_assert_eq(sl_catalog_set_active(cat, "clicks"), 0);
	cr_assert_eq(S(cat, "clicks")->status, SL_CATALOG_ACTIVE);
	cr_assert_eq(sl_catalog_open_shards(cat), 3);

	cr_assert_eq(sl_catalog_delete_stream(cat, "clicks"), 0);
	cr_assert_eq(S(cat, "clicks")->status, SL_CATALOG_DELETING);
	expect_err(sl_catalog_delete_stream(cat, "clicks"), SL_CATALOG_ERR_RESOURCE_IN_USE,
	           "instead in state DELETING");
	expect_err(sl_catalog_set_active(cat, "clicks"), SL_CATALOG_ERR_RESOURCE_IN_USE, NULL);
	cr_assert_eq(sl_catalog_purge_stream(cat, "clicks"), 0);
	cr_assert_null(sl_catalog_stream(cat, "clicks"));
	expect_err(sl_catalog_purge_stream(cat, "clicks"), SL_CATALOG_ERR_RESOURCE_NOT_FOUND,
	           "Stream clicks under account " ACC " not found.");
	/* Ids are never reused. */
	cr_assert_eq(create(cat, "clicks", 1), 0);
	cr_assert_eq(S(cat, "clicks")->id, 2);
	sl_catalog_close(cat);
}

Test(catalog, two_shards_split_at_2_127)
{
	struct sl_catalog *cat = open_mem();

	cr_assert_eq(create(cat, "a", 2), 0);
	cr_assert(S(cat, "a")->shards[1].start == dec("170141183460469231731687303715884105728"));
	for (uint32_t n = 1; n <= 40; n++) {
		char name[8];

		snprintf(name, sizeof(name), "n%u", n);
		cr_assert_eq(create(cat, name, n), 0, "%s", sl_errmsg());
		check_even(S(cat, name), n);
		cr_assert_eq(sl_catalog_delete_stream(cat, name), 0);
		cr_assert_eq(sl_catalog_purge_stream(cat, name), 0);
	}
	sl_catalog_close(cat);
}

Test(catalog, create_rejects_bad_requests)
{
	struct sl_catalog *cat = open_mem();
	struct sl_catalog_create od = {
	        .name = "od", .mode = SL_CATALOG_ON_DEMAND, .shard_count = 2};
	char longname[SL_CATALOG_NAME_MAX + 2];

	expect_err(create(cat, "bad name!", 1), SL_CATALOG_ERR_VALIDATION,
	           "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
	expect_err(create(cat, "", 1), SL_CATALOG_ERR_VALIDATION, NULL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	expect_err(create(cat, longname, 1), SL_CATALOG_ERR_VALIDATION, NULL);
	longname[SL_CATALOG_NAME_MAX] = 0;
	cr_assert_eq(create(cat, longname, 1), 0, "128 bytes is allowed");
	expect_err(create(cat, "a", 0), SL_CATALOG_ERR_VALIDATION, "shardCount");
	cr_assert_eq(create(cat, "a", 1), 0);
	expect_err(create(cat, "a", 1), SL_CATALOG_ERR_RESOURCE_IN_USE,
	           "Stream a under account " ACC " already exists.");
	expect_err(sl_catalog_create_stream(cat, &od), SL_CATALOG_ERR_INVALID_ARGUMENT,
	           "ShardCount is not expected when StreamMode=ON_DEMAND");
	od.shard_count = 0;
	cr_assert_eq(sl_catalog_create_stream(cat, &od), 0);
	cr_assert_eq(S(cat, "od")->mode, SL_CATALOG_ON_DEMAND);
	check_even(S(cat, "od"), 4);
	cr_assert_eq(sl_catalog_on_demand_streams(cat), 1);
	expect_err(sl_catalog_set_active(cat, "zz"), SL_CATALOG_ERR_RESOURCE_NOT_FOUND, NULL);
	expect_err(sl_catalog_delete_stream(cat, "zz"), SL_CATALOG_ERR_RESOURCE_NOT_FOUND, NULL);
	expect_err(sl_catalog_purge_stream(cat, "a"), SL_CATALOG_ERR_RESOURCE_IN_USE, NULL);
	sl_catalog_close(cat);
}

Test(catalog, lists_streams_in_name_order)
{
	struct sl_catalog *cat = open_mem();
	const char *names[] = {"m", "a", "z", "b.c", "B", "_"};

	for (size_t i = 0; i < 6; i++)
		cr_assert_eq(create(cat, names[i], 1), 0);
	cr_assert_eq(sl_catalog_nstreams(cat), 6);
	for (uint32_t i = 1; i < 6; i++)
		cr_assert_lt(strcmp(sl_catalog_stream_at(cat, i - 1)->name,
		                    sl_catalog_stream_at(cat, i)->name),
		             0);
	cr_assert_null(sl_catalog_stream_at(cat, 6));
	sl_catalog_close(cat);
}

/* ---- limits: each one ---- */

Test(catalog, limit_total_open_shards)
{
	struct sl_catalog_config c;
	struct sl_catalog *cat;

	config(&c, NULL);
	c.shard_limit = 10;
	cr_assert_eq(sl_catalog_open(&c, &cat), 0);
	cr_assert_eq(sl_catalog_shard_limit(cat), 10);
	create_active(cat, "a", 3);
	expect_err(create(cat, "b", 8), SL_CATALOG_ERR_LIMIT_EXCEEDED,
	           "This request would exceed the shard limit for the account " ACC
	           " in us-east-1. Current shard count for the account: 3. Limit: 10. Number of "
	           "additional shards that would have resulted from this request: 8.");
	cr_assert_null(sl_catalog_stream(cat, "b"));
	create_active(cat, "b", 7);
	expect_err(sl_catalog_split_shard(cat, "a", 0, dec("1000")), SL_CATALOG_ERR_LIMIT_EXCEEDED,
	           "Limit: 10");
	expect_err(sl_catalog_update_shard_count(cat, "a", 4), SL_CATALOG_ERR_LIMIT_EXCEEDED, NULL);
	/* Merging frees a shard, and shrinking never needs room. */
	cr_assert_eq(sl_catalog_update_shard_count(cat, "b", 4), 0, "%s", sl_errmsg());
	cr_assert_eq(sl_catalog_open_shards(cat), 7);
	sl_catalog_close(cat);
}

Test(catalog, limit_open_shards_per_stream)
{
	struct sl_catalog_config c;
	struct sl_catalog *cat;

	config(&c, NULL);
	c.stream_shard_limit = 4;
	cr_assert_eq(sl_catalog_open(&c, &cat), 0);
	expect_err(create(cat, "a", 5), SL_CATALOG_ERR_LIMIT_EXCEEDED, "limit per stream is 4");
	create_active(cat, "a", 3);
	expect_err(sl_catalog_update_shard_count(cat, "a", 5), SL_CATALOG_ERR_LIMIT_EXCEEDED,
	           "limit per stream is 4");
	cr_assert_eq(sl_catalog_split_shard(cat, "a", 0, dec("1000")), 0);
	cr_assert_eq(sl_catalog_set_active(cat, "a"), 0);
	expect_err(sl_catalog_split_shard(cat, "a", 4, dec("2000")), SL_CATALOG_ERR_LIMIT_EXCEEDED,
	           NULL);
	sl_catalog_close(cat);
}

Test(catalog, limit_streams)
{
	struct sl_catalog_config c;
	struct sl_catalog *cat;

	config(&c, NULL);
	c.max_streams = 2;
	cr_assert_eq(sl_catalog_open(&c, &cat), 0);
	cr_assert_eq(create(cat, "a", 1), 0);
	cr_assert_eq(create(cat, "b", 1), 0);
	expect_err(create(cat, "c", 1), SL_CATALOG_ERR_LIMIT_EXCEEDED, "stream limit");
	cr_assert_eq(sl_catalog_delete_stream(cat, "a"), 0);
	expect_err(create(cat, "c", 1), SL_CATALOG_ERR_LIMIT_EXCEEDED, NULL);
	cr_assert_eq(sl_catalog_purge_stream(cat, "a"), 0);
	cr_assert_eq(create(cat, "c", 1), 0);
	sl_catalog_close(cat);
}

Test(catalog, limit_shard_records_until_expiry)
{
	struct sl_catalog_config c;
	struct sl_catalog *cat;

	config(&c, NULL);
	c.max_shard_records = 5;
	cr_assert_eq(sl_catalog_open(&c, &cat), 0);
	fake_now = 1000;
	create_active(cat, "a", 1);
	cr_assert_eq(sl_catalog_split_shard(cat, "a", 0, dec("1000")), 0); /* 3 records */
	cr_assert_eq(sl_catalog_set_active(cat, "a"), 0);
	cr_assert_eq(sl_catalog_merge_shards(cat, "a", 1, 2), 0); /* 4 */
	cr_assert_eq(sl_catalog_set_active(cat, "a"), 0);
	expect_err(sl_catalog_split_shard(cat, "a", 3, dec("1000")), SL_CATALOG_ERR_LIMIT_EXCEEDED,
	           "at most 5 shards");
	cr_assert_eq(sl_catalog_expire_shards(cat, 1000 + 24 * 3600000ll - 1), 0);
	cr_assert_eq(sl_catalog_expire_shards(cat, 1000 + 24 * 3600000ll), 3);
	cr_assert_eq(S(cat, "a")->nshards, 1);
	cr_assert_eq(S(cat, "a")->shards[0].id, 3);
	cr_assert_eq(S(cat, "a")->next_shard_id, 4);
	cr_assert_eq(sl_catalog_split_shard(cat, "a", 3, dec("1000")), 0, "%s", sl_errmsg());
	cr_assert_eq(shard(cat, "a", 4)->parent, 3);
	sl_catalog_close(cat);
}

Test(catalog, rejects_bad_config)
{
	struct sl_catalog_config c;
	struct sl_catalog *cat = NULL;

	config(&c, NULL);
	c.shard_limit = 0;
	cr_assert_eq(sl_catalog_open(&c, &cat), -EINVAL);
	config(&c, NULL);
	c.max_shard_records = SL_CATALOG_MAX_SHARD_RECS + 1;
	cr_assert_eq(sl_catalog_open(&c, &cat), -EINVAL);
	config(&c, NULL);
	c.max_streams = SL_CATALOG_MAX_STREAMS + 1;
	cr_assert_eq(sl_catalog_open(&c, &cat), -EINVAL);
	cr_assert_null(cat);
}

/* ---- split, merge, update shard count ---- */

Test(catalog, split_closes_parent_and_adds_children)
{
	struct sl_catalog *cat = open_mem();
	const struct sl_cat_shard *p, *a, *b;
	sl_u128 k = dec("100000000000000000000");

	create_active(cat, "s", 2);
	fake_now = 1700000005000;
	cr_assert_eq(sl_catalog_split_shard(cat, "s", 0, k), 0, "%s", sl_errmsg());
	cr_assert_eq(S(cat, "s")->status, SL_CATALOG_UPDATING);
	p = shard(cat, "s", 0);
	a = shard(cat, "s", 2);
	b = shard(cat, "s", 3);
	cr_assert(p->closed);
	cr_assert_eq(p->closed_ms, 1700000005000);
	cr_assert_not(p->end_seq_known);
	cr_assert(a->start == 0 && a->end == k - 1 && a->parent == 0);
	cr_assert(b->start == k && b->end == p->end && b->parent == 0);
	cr_assert_eq(a->adjacent_parent, SL_CATALOG_NO_SHARD);
	cr_assert_eq(S(cat, "s")->open_shards, 3);
	check_stream(S(cat, "s"));
	/* UPDATING refuses another reshard until the dataplane caught up. */
	expect_err(sl_catalog_split_shard(cat, "s", 2, dec("1000")), SL_CATALOG_ERR_RESOURCE_IN_USE,
	           "Stream s under account " ACC " not ACTIVE, instead in state UPDATING");
	cr_assert_eq(sl_catalog_set_active(cat, "s"), 0);
	expect_err(sl_catalog_split_shard(cat, "s", 0, dec("1000")),
	           SL_CATALOG_ERR_INVALID_ARGUMENT,
	           "Shard shardId-000000000000 in stream s under account " ACC
	           " has already been merged or split, and thus is not eligible for merging or "
	           "splitting.");
	expect_err(sl_catalog_split_shard(cat, "s", 9, dec("1000")),
	           SL_CATALOG_ERR_RESOURCE_NOT_FOUND,
	           "Could not find shard shardId-000000000009 in stream s under account " ACC ".");
	/* The new key must be > start + 1 and < end. */
	expect_err(
	        sl_catalog_split_shard(cat, "s", 2, 1), SL_CATALOG_ERR_INVALID_ARGUMENT,
	        "NewStartingHashKey 1 used in SplitShard() on shard shardId-000000000002 in "
	        "stream s under account " ACC " is not both greater than one plus the shard's "
	        "StartingHashKey 0 and less than the shard's EndingHashKey 99999999999999999999.");
	expect_err(sl_catalog_split_shard(cat, "s", 2, k - 1), SL_CATALOG_ERR_INVALID_ARGUMENT,
	           NULL);
	cr_assert_eq(sl_catalog_split_shard(cat, "s", 2, 2), 0, "%s", sl_errmsg());
	cr_assert_eq(sl_catalog_set_active(cat, "s"), 0);
	cr_assert_eq(sl_catalog_split_shard(cat, "s", 1, MAXK - 1), 0, "%s", sl_errmsg());
	check_stream(S(cat, "s"));
	expect_err(sl_catalog_split_shard(cat, "nope", 0, 5), SL_CATALOG_ERR_RESOURCE_NOT_FOUND,
	           NULL);
	sl_catalog_close(cat);
}

Test(catalog, merge_closes_parents_and_adds_one_child)
{
	struct sl_catalog *cat = open_mem();
	const struct sl_cat_shard *c;

	create_active(cat, "m", 4);
	expect_err(sl_catalog_merge_shards(cat, "m", 0, 2), SL_CATALOG_ERR_INVALID_ARGUMENT,
	           "Shards shardId-000000000000 and shardId-000000000002 in stream m under "
	           "account " ACC " are not an adjacent pair of shards eligible for merging");
	expect_err(sl_catalog_merge_shards(cat, "m", 1, 1), SL_CATALOG_ERR_INVALID_ARGUMENT, NULL);
	expect_err(sl_catalog_merge_shards(cat, "m", 1, 7), SL_CATALOG_ERR_RESOURCE_NOT_FOUND,
	           NULL);
	/* Either order; the child names ShardToMerge as parent. */
	cr_assert_eq(sl_catalog_merge_shards(cat, "m", 2, 1), 0, "%s", sl_errmsg());
	cr_assert_eq(S(cat, "m")->status, SL_CATALOG_UPDATING);
	c = shard(cat, "m", 4);
	cr_assert_eq(c->parent, 2);
	cr_assert_eq(c->adjacent_parent, 1);
	cr_assert(c->start == shard(cat, "m", 1)->start && c->end == shard(cat, "m", 2)->end);
	cr_assert(shard(cat, "m", 1)->closed && shard(cat, "m", 2)->closed);
	cr_assert_eq(S(cat, "m")->open_shards, 3);
	check_stream(S(cat, "m"));
	expect_err(sl_catalog_merge_shards(cat, "m", 0, 4), SL_CATALOG_ERR_RESOURCE_IN_USE, NULL);
	cr_assert_eq(sl_catalog_set_active(cat, "m"), 0);
	expect_err(sl_catalog_merge_shards(cat, "m", 0, 1), SL_CATALOG_ERR_INVALID_ARGUMENT,
	           "already been merged or split");
	cr_assert_eq(sl_catalog_merge_shards(cat, "m", 0, 4), 0);
	cr_assert_eq(sl_catalog_set_active(cat, "m"), 0);
	cr_assert_eq(sl_catalog_merge_shards(cat, "m", 5, 3), 0);
	check_even(S(cat, "m"), 1);
	sl_catalog_close(cat);
}

Test(catalog, resharding_refused_for_on_demand_and_creating)
{
	struct sl_catalog *cat = open_mem();
	struct sl_catalog_create od = {.name = "od", .mode = SL_CATALOG_ON_DEMAND};

	cr_assert_eq(sl_catalog_create_stream(cat, &od), 0);
	cr_assert_eq(sl_catalog_set_active(cat, "od"), 0);
	expect_err(sl_catalog_split_shard(cat, "od", 0, 1000), SL_CATALOG_ERR_VALIDATION,
	           "ON_DEMAND");
	expect_err(sl_catalog_merge_shards(cat, "od", 0, 1), SL_CATALOG_ERR_VALIDATION, NULL);
	expect_err(sl_catalog_update_shard_count(cat, "od", 2), SL_CATALOG_ERR_VALIDATION, NULL);
	cr_assert_eq(create(cat, "c", 2), 0);
	expect_err(sl_catalog_split_shard(cat, "c", 0, 1000), SL_CATALOG_ERR_RESOURCE_IN_USE,
	           "not ACTIVE, instead in state CREATING");
	expect_err(sl_catalog_merge_shards(cat, "c", 0, 1), SL_CATALOG_ERR_RESOURCE_IN_USE, NULL);
	expect_err(sl_catalog_update_shard_count(cat, "c", 1), SL_CATALOG_ERR_RESOURCE_IN_USE,
	           NULL);
	sl_catalog_close(cat);
}

Test(catalog, update_shard_count_doubles_and_halves_with_lineage)
{
	struct sl_catalog *cat = open_mem();
	const struct sl_cat_stream *s;

	create_active(cat, "u", 2);
	cr_assert_eq(sl_catalog_update_shard_count(cat, "u", 4), 0, "%s", sl_errmsg());
	s = S(cat, "u");
	cr_assert_eq(s->status, SL_CATALOG_UPDATING);
	check_even(s, 4);
	/* Doubling is one split per parent: children have a single parent. */
	for (uint32_t id = 2; id < 6; id++) {
		cr_assert_eq(shard(cat, "u", id)->parent, (id - 2) / 2);
		cr_assert_eq(shard(cat, "u", id)->adjacent_parent, SL_CATALOG_NO_SHARD);
	}
	cr_assert_eq(sl_catalog_set_active(cat, "u"), 0);
	expect_err(sl_catalog_update_shard_count(cat, "u", 9), SL_CATALOG_ERR_INVALID_ARGUMENT,
	           "between half (2) and double (8)");
	expect_err(sl_catalog_update_shard_count(cat, "u", 1), SL_CATALOG_ERR_INVALID_ARGUMENT,
	           NULL);
	expect_err(sl_catalog_update_shard_count(cat, "u", 0), SL_CATALOG_ERR_VALIDATION, NULL);
	cr_assert_eq(sl_catalog_update_shard_count(cat, "u", 2), 0, "%s", sl_errmsg());
	s = S(cat, "u");
	check_even(s, 2);
	cr_assert_eq(shard(cat, "u", 6)->parent, 2);
	cr_assert_eq(shard(cat, "u", 6)->adjacent_parent, 3);
	cr_assert_eq(shard(cat, "u", 7)->parent, 4);
	cr_assert_eq(shard(cat, "u", 7)->adjacent_parent, 5);
	cr_assert_eq(sl_catalog_set_active(cat, "u"), 0);
	/* Same count, already even: nothing to do. */
	cr_assert_eq(sl_catalog_update_shard_count(cat, "u", 2), 0);
	cr_assert_eq(S(cat, "u")->nshards, 8);
	cr_assert_eq(S(cat, "u")->status, SL_CATALOG_ACTIVE);
	expect_err(sl_catalog_update_shard_count(cat, "zz", 2), SL_CATALOG_ERR_RESOURCE_NOT_FOUND,
	           NULL);
	sl_catalog_close(cat);
}

Test(catalog, update_shard_count_from_any_layout)
{
	struct sl_catalog *cat = open_mem();

	/* Every count to every count reachable in one step, from an uneven
	 * layout too: the result is the even layout and lineage holds. */
	for (uint32_t from = 1; from <= 12; from++) {
		for (uint32_t to = (from + 1) / 2; to <= 2 * from; to++) {
			char name[16];

			snprintf(name, sizeof(name), "s%u_%u", from, to);
			create_active(cat, name, from);
			if (from > 1) {
				cr_assert_eq(sl_catalog_split_shard(cat, name, 0, 12345), 0);
				cr_assert_eq(sl_catalog_set_active(cat, name), 0);
				cr_assert_eq(sl_catalog_merge_shards(cat, name, from + 1, 1), 0,
				             "%s", sl_errmsg());
				cr_assert_eq(sl_catalog_set_active(cat, name), 0);
			}
			cr_assert_eq(sl_catalog_update_shard_count(cat, name, to), 0, "%u->%u: %s",
			             from, to, sl_errmsg());
			check_even(S(cat, name), to);
			cr_assert_eq(sl_catalog_delete_stream(cat, name), 0);
			cr_assert_eq(sl_catalog_purge_stream(cat, name), 0);
		}
	}
	sl_catalog_close(cat);
}

Test(catalog, records_ending_sequence_numbers)
{
	struct sl_catalog *cat = open_mem();

	create_active(cat, "e", 1);
	expect_err(sl_catalog_set_end_seq(cat, "e", 0, 5), SL_CATALOG_ERR_INVALID_ARGUMENT, "open");
	cr_assert_eq(sl_catalog_split_shard(cat, "e", 0, 1u << 20), 0);
	cr_assert_eq(sl_catalog_set_end_seq(cat, "e", 0, 4242), 0);
	cr_assert(shard(cat, "e", 0)->end_seq_known);
	cr_assert_eq(shard(cat, "e", 0)->end_seq, 4242);
	expect_err(sl_catalog_set_end_seq(cat, "e", 99, 5), SL_CATALOG_ERR_RESOURCE_NOT_FOUND,
	           "Shard shardId-000000000099 in stream e under account " ACC " does not exist");
	expect_err(sl_catalog_set_end_seq(cat, "x", 0, 5), SL_CATALOG_ERR_RESOURCE_NOT_FOUND, NULL);
	sl_catalog_close(cat);
}

/* ---- retention ---- */

Test(catalog, retention_increase_and_decrease)
{
	struct sl_catalog *cat = open_mem();

	create_active(cat, "r", 1);
	expect_err(sl_catalog_increase_retention(cat, "r", 23), SL_CATALOG_ERR_INVALID_ARGUMENT,
	           "Minimum allowed retention period is 24 hours. Requested retention period (23 "
	           "hours) is too short.");
	expect_err(sl_catalog_increase_retention(cat, "r", 8761), SL_CATALOG_ERR_INVALID_ARGUMENT,
	           "Maximum allowed retention period is 8760 hours.");
	cr_assert_eq(sl_catalog_increase_retention(cat, "r", 8760), 0);
	cr_assert_eq(S(cat, "r")->retention_hours, 8760);
	expect_err(sl_catalog_increase_retention(cat, "r", 100), SL_CATALOG_ERR_INVALID_ARGUMENT,
	           "Requested retention period (100 hours) for stream r can not be shorter than "
	           "existing retention period (8760 hours). Use DecreaseRetentionPeriod API.");
	cr_assert_eq(sl_catalog_decrease_retention(cat, "r", 48), 0);
	cr_assert_eq(S(cat, "r")->retention_hours, 48);
	expect_err(sl_catalog_decrease_retention(cat, "r", 72), SL_CATALOG_ERR_INVALID_ARGUMENT,
	           "can not be longer than existing retention period (48 hours). Use "
	           "IncreaseRetentionPeriod API.");
	expect_err(sl_catalog_decrease_retention(cat, "r", 23), SL_CATALOG_ERR_INVALID_ARGUMENT,
	           "too short");
	cr_assert_eq(sl_catalog_decrease_retention(cat, "r", 24), 0);
	expect_err(sl_catalog_increase_retention(cat, "q", 48), SL_CATALOG_ERR_RESOURCE_NOT_FOUND,
	           NULL);
	cr_assert_eq(create(cat, "c", 1), 0);
	expect_err(sl_catalog_increase_retention(cat, "c", 48), SL_CATALOG_ERR_RESOURCE_IN_USE,
	           NULL);
	sl_catalog_close(cat);
}

/* ---- tags ---- */

static struct sl_cat_tag tag(const char *k, const char *v)
{
	struct sl_cat_tag t;

	memset(&t, 0, sizeof(t));
	snprintf(t.key, sizeof(t.key), "%s", k);
	snprintf(t.value, sizeof(t.value), "%s", v);
	return t;
}

Test(catalog, tags_add_overwrite_remove_list)
{
	struct sl_catalog *cat = open_mem();
	struct sl_cat_tag in[3] = {tag("team", "web"), tag("env", "prod"), tag("é t_./=+-%@", "ü")};
	struct sl_catalog_create req = {.name = "t", .shard_count = 1, .tags = in, .ntags = 2};
	const struct sl_cat_tag *out;
	const char *rm[] = {"env", "nope"};
	uint32_t n;
	bool more;

	cr_assert_eq(sl_catalog_create_stream(cat, &req), 0, "%s", sl_errmsg());
	cr_assert_eq(S(cat, "t")->ntags, 2);
	cr_assert_str_eq(S(cat, "t")->tags[0].key, "env"); /* sorted */
	in[0] = tag("team", "data");
	cr_assert_eq(sl_catalog_add_tags(cat, "t", in, 3), 0, "%s", sl_errmsg());
	cr_assert_eq(sl_catalog_list_tags(cat, "t", NULL, 2, &out, &n, &more), 0);
	cr_assert_eq(n, 2);
	cr_assert(more);
	cr_assert_str_eq(out[0].key, "env");
	cr_assert_str_eq(out[1].key, "team");
	cr_assert_str_eq(out[1].value, "data");
	cr_assert_eq(sl_catalog_list_tags(cat, "t", "team", 50, &out, &n, &more), 0);
	cr_assert_eq(n, 1);
	cr_assert_not(more);
	cr_assert_str_eq(out[0].value, "ü");
	cr_assert_eq(sl_catalog_remove_tags(cat, "t", rm, 2), 0);
	cr_assert_eq(S(cat, "t")->ntags, 2);
	cr_assert_str_eq(S(cat, "t")->tags[0].key, "team");
	expect_err(sl_catalog_list_tags(cat, "t", NULL, 0, &out, &n, &more),
	           SL_CATALOG_ERR_VALIDATION, NULL);
	expect_err(sl_catalog_list_tags(cat, "x", NULL, 5, &out, &n, &more),
	           SL_CATALOG_ERR_RESOURCE_NOT_FOUND, NULL);
	expect_err(sl_catalog_add_tags(cat, "t", in, 0), SL_CATALOG_ERR_VALIDATION, NULL);
	expect_err(sl_catalog_remove_tags(cat, "t", rm, 0), SL_CATALOG_ERR_VALIDATION, NULL);
	sl_catalog_close(cat);
}

Test(catalog, tags_rejects_bad_text_and_limits)
{
	struct sl_catalog *cat = open_mem();
	struct sl_cat_tag t, many[SL_CATALOG_TAGS_MAX + 1];
	char key[SL_CATALOG_TAG_KEY_MAX + 2];

	create_active(cat, "t", 1);
	t = tag("bad!", "v");
	expect_err(sl_catalog_add_tags(cat, "t", &t, 1), SL_CATALOG_ERR_INVALID_ARGUMENT,
	           "Some tags contain invalid characters. Valid characters: Unicode letters, "
	           "digits, white space, _ . / = + - % @.");
	t = tag("k", "\xff");
	expect_err(sl_catalog_add_tags(cat, "t", &t, 1), SL_CATALOG_ERR_INVALID_ARGUMENT,
	           "invalid characters");
	t = tag("", "v");
	expect_err(sl_catalog_add_tags(cat, "t", &t, 1), SL_CATALOG_ERR_INVALID_ARGUMENT, NULL);
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = 0;
	t = tag(key, "");
	expect_err(sl_catalog_add_tags(cat, "t", &t, 1), SL_CATALOG_ERR_INVALID_ARGUMENT, NULL);
	key[SL_CATALOG_TAG_KEY_MAX] = 0;
	t = tag(key, "");
	cr_assert_eq(sl_catalog_add_tags(cat, "t", &t, 1), 0, "128 characters allowed");
	/* 128 two-byte characters are 128 characters, not 256. */
	memset(&t, 0, sizeof(t));
	for (int i = 0; i < SL_CATALOG_TAG_KEY_MAX; i++)
		memcpy(t.key + 2 * i, "é", 2);
	cr_assert_eq(sl_catalog_add_tags(cat, "t", &t, 1), 0, "%s", sl_errmsg());
	memset(t.value, 'v', SL_CATALOG_TAG_VALUE_MAX + 1);
	expect_err(sl_catalog_add_tags(cat, "t", &t, 1), SL_CATALOG_ERR_INVALID_ARGUMENT, NULL);

	for (int i = 0; i <= SL_CATALOG_TAGS_MAX; i++) {
		char k[8];

		snprintf(k, sizeof(k), "k%02d", i);
		many[i] = tag(k, "v");
	}
	/* 2 present + 48 = 50 is fine; one more is not, and nothing changes. */
	cr_assert_eq(sl_catalog_add_tags(cat, "t", many, 48), 0, "%s", sl_errmsg());
	cr_assert_eq(S(cat, "t")->ntags, 50);
	cr_assert_eq(sl_catalog_add_tags(cat, "t", many, 10), 0, "overwrites need no room");
	expect_err(sl_catalog_add_tags(cat, "t", &many[48], 1), SL_CATALOG_ERR_INVALID_ARGUMENT,
	           "cannot have more than 50 tags");
	cr_assert_eq(S(cat, "t")->ntags, 50);
	{
		struct sl_catalog_create req = {
		        .name = "u", .shard_count = 1, .tags = many, .ntags = 51};

		expect_err(sl_catalog_create_stream(cat, &req), SL_CATALOG_ERR_INVALID_ARGUMENT,
		           "more than 50 tags");
	}
	cr_assert_eq(sl_catalog_delete_stream(cat, "t"), 0);
	expect_err(sl_catalog_add_tags(cat, "t", many, 1), SL_CATALOG_ERR_RESOURCE_IN_USE, NULL);
	sl_catalog_close(cat);
}

/* ---- persistence ---- */

/* A catalog with a bit of everything. */
static void populate(struct sl_catalog *cat)
{
	struct sl_cat_tag tags[2] = {tag("owner", "ünïcode team"), tag("cost", "")};
	struct sl_catalog_create req = {
	        .name = "tagged", .shard_count = 3, .tags = tags, .ntags = 2};
	struct sl_catalog_create od = {.name = "od", .mode = SL_CATALOG_ON_DEMAND};

	fake_now = 1700000000000;
	cr_assert_eq(sl_catalog_create_stream(cat, &req), 0, "%s", sl_errmsg());
	cr_assert_eq(sl_catalog_create_stream(cat, &od), 0, "%s", sl_errmsg());
	create_active(cat, "a", 2);
	fake_now += 1000;
	cr_assert_eq(sl_catalog_split_shard(cat, "a", 0, dec("12345678901234567890")), 0);
	cr_assert_eq(sl_catalog_set_end_seq(cat, "a", 0, UINT64_MAX), 0);
	cr_assert_eq(sl_catalog_set_active(cat, "a"), 0);
	cr_assert_eq(sl_catalog_merge_shards(cat, "a", 3, 1), 0);
	cr_assert_eq(sl_catalog_set_active(cat, "a"), 0);
	cr_assert_eq(sl_catalog_increase_retention(cat, "a", 100), 0);
	create_active(cat, "gone", 1);
	cr_assert_eq(sl_catalog_delete_stream(cat, "gone"), 0);
}

Test(catalog, reopen_round_trip)
{
	struct sl_catalog *mem = open_mem(), *cat = open_dir(), *again;

	populate(mem);
	populate(cat);
	cr_assert(sl_catalog_equal(mem, cat));
	sl_catalog_close(cat);
	again = open_dir();
	cr_assert(sl_catalog_equal(mem, again), "reopened catalog differs");
	cr_assert_eq(shard(again, "a", 0)->end_seq, UINT64_MAX);
	cr_assert_str_eq(S(again, "tagged")->tags[1].value, "ünïcode team");
	/* A failed change leaves the file alone too. */
	expect_err(create(again, "a", 1), SL_CATALOG_ERR_RESOURCE_IN_USE, NULL);
	sl_catalog_close(again);
	again = open_dir();
	cr_assert(sl_catalog_equal(mem, again));
	sl_catalog_close(again);
	sl_catalog_close(mem);
}

Test(catalog, missing_file_is_empty_and_leftover_tmp_is_ignored)
{
	char path[4096];
	struct sl_catalog *cat;
	FILE *f;

	snprintf(path, sizeof(path), "%s/sub", dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/sub/catalog.json.tmp", dir);
	f = fopen(path, "w");
	fputs("{garbage", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/sub", dir);
	{
		struct sl_catalog_config c;

		config(&c, path);
		cr_assert_eq(sl_catalog_open(&c, &cat), 0, "%s", sl_errmsg());
		cr_assert_eq(sl_catalog_nstreams(cat), 0);
		cr_assert_eq(create(cat, "x", 1), 0, "%s", sl_errmsg());
		sl_catalog_close(cat);
		cr_assert_eq(sl_catalog_open(&c, &cat), 0, "%s", sl_errmsg());
		cr_assert_eq(sl_catalog_nstreams(cat), 1);
		sl_catalog_close(cat);
	}
}

Test(catalog, persist_failure_changes_nothing)
{
	struct sl_catalog *cat = open_dir();
	char path[4096];

	cr_assert_eq(create(cat, "a", 1), 0);
	/* A directory where the temporary file goes makes the write fail. */
	snprintf(path, sizeof(path), "%s/catalog.json.tmp", dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	expect_err(create(cat, "b", 1), SL_CATALOG_ERR_INTERNAL_FAILURE, "catalog.json.tmp");
	cr_assert_eq(sl_catalog_nstreams(cat), 1);
	cr_assert_null(sl_catalog_stream(cat, "b"));
	cr_assert_eq(rmdir(path), 0);
	cr_assert_eq(create(cat, "b", 1), 0);
	sl_catalog_close(cat);
}

static char *read_text(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 20);
	size_t n;

	cr_assert_not_null(f);
	n = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	buf[n] = 0;
	*ret_len = n;
	return buf;
}

static void write_text(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(text, 1, len, f), len);
	fclose(f);
}

static int open_rc(void)
{
	struct sl_catalog_config c;
	struct sl_catalog *cat = NULL;
	int rc;

	config(&c, dir);
	rc = sl_catalog_open(&c, &cat);
	if (rc == 0) {
		for (uint32_t i = 0; i < sl_catalog_nstreams(cat); i++)
			check_stream(sl_catalog_stream_at(cat, i));
		sl_catalog_close(cat);
	}
	return rc;
}

Test(catalog, truncated_at_every_byte)
{
	struct sl_catalog *cat = open_dir();
	char path[4096];
	size_t len;
	char *text;
	unsigned ok = 0;

	populate(cat);
	sl_catalog_close(cat);
	snprintf(path, sizeof(path), "%s/catalog.json", dir);
	text = read_text(path, &len);
	cr_assert_gt(len, 500);
	for (size_t n = 0; n < len; n++) {
		int rc;

		write_text(path, text, n);
		rc = open_rc();
		cr_assert(rc == 0 || rc == -EBADMSG, "truncated at %zu: %d", n, rc);
		if (rc == -EBADMSG)
			cr_assert_gt(strlen(sl_errmsg()), 0);
		ok += rc == 0;
	}
	/* Only the complete object (before its trailing newline) loads. */
	cr_assert_eq(ok, 1);
	write_text(path, text, len);
	cr_assert_eq(open_rc(), 0);
	free(text);
}

/* Each case replaces the first occurrence of `from` in a valid file. */
static const struct {
	const char *from, *to, *why;
} bad_cases[] = {
        {"\"version\":1", "\"version\":2", "version"},
        {"\"version\":1", "\"version\":1,\"version\":1", "duplicate"},
        {"\"next_stream_id\":3", "\"next_stream_id\":0", "next_stream_id"},
        {"\"next_stream_id\":3", "\"next_stream_id\":2", "member"},
        {"\"streams\":[", "\"streams\":{", ""},
        {"\"name\":\"a\"", "\"name\":\"a b\"", "name"},
        {"\"name\":\"b\"", "\"name\":\"a\"", "names"},
        {"\"name\":\"a\"", "\"name\":\"c\"", "order"},
        {"\"name\":\"a\"", "\"name\":\"a\\u0000\"", "u0000"},
        {"\"id\":2", "\"id\":1", "id"},
        {"\"status\":\"ACTIVE\"", "\"status\":\"BOGUS\"", "member"},
        {"\"mode\":\"PROVISIONED\"", "\"mode\":1", "member"},
        {"\"retention_hours\":24", "\"retention_hours\":23", "member"},
        {"\"retention_hours\":24", "\"retention_hours\":8761", "member"},
        {"\"created_ms\":", "\"created_ms\":-", "member"},
        {"\"next_shard_id\":2", "\"next_shard_id\":1", "shard"},
        {"\"start\":\"0\"", "\"start\":\"1\"", "cover"},
        {"\"start\":\"170141183460469231731687303715884105728\"",
         "\"start\":\"170141183460469231731687303715884105727\"", "cover"},
        {"\"end\":\"340282366920938463463374607431768211455\"",
         "\"end\":\"340282366920938463463374607431768211456\"", "malformed"},
        {"\"end\":\"340282366920938463463374607431768211455\"", "\"end\":\"0\"", "malformed"},
        {"\"start\":\"0\"", "\"start\":\"00\"", "malformed"},
        {"\"closed\":false", "\"closed\":true", "cover"},
        {"\"closed\":false", "\"closed\":0", "malformed"},
        {"\"closed_ms\":0", "\"closed_ms\":5", "malformed"},
        {"\"end_seq\":null", "\"end_seq\":\"1\"", "malformed"},
        {"\"parent\":null", "\"parent\":\"x\"", "malformed"},
        {"\"start_seq\":\"0\"", "\"start_seq\":\"-1\"", "malformed"},
        {"\"start_seq\":\"0\"", "\"start_seq\":\"18446744073709551616\"", "malformed"},
        {"\"tags\":[]", "\"tags\":[{\"key\":\"k!\",\"value\":\"v\"}]", "tag"},
        {"\"tags\":[]", "\"tags\":[{\"key\":\"b\",\"value\":\"\"},{\"key\":\"a\",\"value\":\"\"}]",
         "tag"},
        {"\"tags\":[]", "\"tags\":[{\"key\":\"b\",\"value\":\"\"},{\"key\":\"b\",\"value\":\"\"}]",
         "tag"},
        {"\"tags\":[]", "\"tags\":[{\"key\":\"b\"}]", "tag"},
        {"\"shards\":[", "\"shards\":[7,", "malformed"},
};

static char *replace_first(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	size_t n = strlen(text) + strlen(to) + 1;
	char *out = malloc(n);

	cr_assert_not_null(at, "'%s' not in the file", from);
	snprintf(out, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	return out;
}

Test(catalog, refuses_malformed_files)
{
	struct sl_catalog *cat = open_dir();
	char path[4096];
	size_t len;
	char *text;

	create_active(cat, "a", 2);
	create_active(cat, "b", 1);
	sl_catalog_close(cat);
	snprintf(path, sizeof(path), "%s/catalog.json", dir);
	text = read_text(path, &len);
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		char *bad = replace_first(text, bad_cases[i].from, bad_cases[i].to);
		int rc;

		write_text(path, bad, strlen(bad));
		rc = open_rc();
		cr_assert_eq(rc, -EBADMSG, "case %zu (%s -> %s) loaded", i, bad_cases[i].from,
		             bad_cases[i].to);
		cr_assert_not_null(strstr(sl_errmsg(), bad_cases[i].why), "case %zu: '%s'", i,
		                   sl_errmsg());
		free(bad);
	}
	/* The unmodified file still loads: the cases broke it, not the setup. */
	write_text(path, text, len);
	cr_assert_eq(open_rc(), 0, "%s", sl_errmsg());
	free(text);

	/* Not JSON, the wrong JSON, nesting deep enough to exhaust a naive
	 * parser, too big. */
	const char *others[] = {"", "\n", "null", "[]", "{}", "{\"version\":1}", "\xff\xfe"};

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		write_text(path, others[i], strlen(others[i]));
		cr_assert_eq(open_rc(), -EBADMSG, "'%s'", others[i]);
	}
	{
		size_t depth = 100000;
		char *deep = malloc(2 * depth);

		memset(deep, '[', depth);
		memset(deep + depth, ']', depth);
		write_text(path, deep, 2 * depth);
		cr_assert_eq(open_rc(), -EBADMSG);
		free(deep);
	}
	{
		int fd = open(path, O_WRONLY | O_TRUNC);

		cr_assert_geq(fd, 0);
		cr_assert_eq(ftruncate(fd, (off_t)SL_CATALOG_MAX_FILE_BYTES + 1), 0);
		close(fd);
		cr_assert_eq(open_rc(), -EBADMSG);
		cr_assert_not_null(strstr(sl_errmsg(), "at most"));
	}
	write_text(path, "{\"version\":1,\"next_stream_id\":1,\"streams\":[]}", 45);
	cr_assert_eq(open_rc(), 0, "%s", sl_errmsg());
}

/* ---- kill -9 ---- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rnd(uint64_t *s, uint32_t n)
{
	return (uint32_t)(splitmix(s) % n);
}

static const struct sl_cat_shard *random_open(const struct sl_cat_stream *s, uint64_t *rng)
{
	uint32_t k = rnd(rng, s->open_shards);

	for (uint32_t i = 0; i < s->nshards; i++)
		if (!s->shards[i].closed && k-- == 0)
			return &s->shards[i];
	return NULL;
}

#define CRASH_STEP_MS (10 * 60 * 1000ll) /* clock advance per operation */

/* Operation i of the sequence seeded by rng: a function of the rng and the
 * catalog's state only, so a replay on an in-memory catalog makes the same
 * choices. Returns the operation's result (failures such as limits are
 * part of the sequence). */
static int random_op(struct sl_catalog *cat, uint64_t *rng, uint32_t i)
{
	uint32_t ns = sl_catalog_nstreams(cat), pick = rnd(rng, 100);
	const struct sl_cat_stream *s = ns ? sl_catalog_stream_at(cat, rnd(rng, ns)) : NULL;
	char name[SL_CATALOG_NAME_MAX + 1];

	fake_now = 1700000000000 + (int64_t)i * CRASH_STEP_MS;
	if (!s || pick < 10) {
		struct sl_cat_tag t = tag("k", "v");
		struct sl_catalog_create req = {.shard_count = 1 + rnd(rng, 4), .tags = &t};

		snprintf(name, sizeof(name), "s%u", rnd(rng, 10));
		req.name = name;
		req.ntags = rnd(rng, 2);
		if (rnd(rng, 8) == 0) {
			req.mode = SL_CATALOG_ON_DEMAND;
			req.shard_count = 0;
		}
		return sl_catalog_create_stream(cat, &req);
	}
	snprintf(name, sizeof(name), "%s", s->name);
	if (pick < 30)
		return sl_catalog_set_active(cat, name);
	if (pick < 42) {
		const struct sl_cat_shard *sh = random_open(s, rng);
		sl_u128 r = (sl_u128)splitmix(rng) << 64 | splitmix(rng);

		if (sh->end - sh->start <= 2)
			return sl_catalog_split_shard(cat, name, sh->id, sh->start);
		return sl_catalog_split_shard(cat, name, sh->id,
		                              sh->start + 2 + r % (sh->end - sh->start - 2));
	}
	if (pick < 54) {
		const struct sl_cat_shard *a = random_open(s, rng);

		for (uint32_t k = 0; k < s->nshards; k++) {
			const struct sl_cat_shard *b = &s->shards[k];

			if (!b->closed && a->end != MAXK && b->start == a->end + 1)
				return sl_catalog_merge_shards(cat, name, a->id, b->id);
		}
		return sl_catalog_merge_shards(cat, name, a->id, a->id);
	}
	if (pick < 62) {
		uint32_t lo = (s->open_shards + 1) / 2, hi = 2 * s->open_shards;

		return sl_catalog_update_shard_count(cat, name, lo + rnd(rng, hi - lo + 1));
	}
	if (pick < 67)
		return sl_catalog_increase_retention(cat, name, s->retention_hours + rnd(rng, 48));
	if (pick < 71)
		return sl_catalog_decrease_retention(cat, name, 24 + rnd(rng, s->retention_hours));
	if (pick < 78) {
		struct sl_cat_tag t[3];
		uint32_t n = 1 + rnd(rng, 3);

		for (uint32_t k = 0; k < n; k++) {
			char key[8], val[8];

			snprintf(key, sizeof(key), "k%u", rnd(rng, 60));
			snprintf(val, sizeof(val), "v%u", rnd(rng, 1000));
			t[k] = tag(key, val);
		}
		return sl_catalog_add_tags(cat, name, t, n);
	}
	if (pick < 82) {
		char key[8];
		const char *keys[1] = {key};

		snprintf(key, sizeof(key), "k%u", rnd(rng, 60));
		return sl_catalog_remove_tags(cat, name, keys, 1);
	}
	if (pick < 87) {
		for (uint32_t k = 0; k < s->nshards; k++)
			if (s->shards[k].closed && !s->shards[k].end_seq_known)
				return sl_catalog_set_end_seq(cat, name, s->shards[k].id,
				                              splitmix(rng));
		return 0;
	}
	if (pick < 91)
		return sl_catalog_delete_stream(cat, name);
	if (pick < 96)
		return sl_catalog_purge_stream(cat, name);
	return sl_catalog_expire_shards(cat, fake_now);
}

static void crash_config(struct sl_catalog_config *c, const char *d)
{
	config(c, d);
	c->shard_limit = 48;
	c->stream_shard_limit = 24;
	c->max_shard_records = 600;
	c->max_streams = 8;
}

#define CRASH_MAX_OPS 400

static void crash_fini(void)
{
	teardown();
}

TestSuite(catalog_crash, .init = setup, .fini = crash_fini, .timeout = 600);

static void child_main(int fd, uint64_t seed)
{
	struct sl_catalog_config c;
	struct sl_catalog *cat;
	uint64_t rng = seed;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	crash_config(&c, dir);
	if (sl_catalog_open(&c, &cat) < 0)
		_exit(2);
	for (uint32_t i = 1; i <= CRASH_MAX_OPS; i++) {
		int rc = random_op(cat, &rng, i);

		if (rc < 0 && sl_catalog_err_kind(rc) == SL_CATALOG_ERR_INTERNAL_FAILURE) {
			fprintf(stderr, "child: op %u: %s\n", i, sl_errmsg());
			_exit(3);
		}
		if (write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(4);
	}
	_exit(0);
}

Test(catalog_crash, kill9_leaves_last_or_next_state)
{
	const char *env = getenv("SLUICE_CATALOG_CRASH_CYCLES");
	const char *senv = getenv("SLUICE_CATALOG_CRASH_SEED");
	unsigned cycles = env && *env ? (unsigned)strtoul(env, NULL, 0) : 30;
	uint64_t seed = senv && *senv ? strtoull(senv, NULL, 0) : (uint64_t)time(NULL) ^ getpid();
	uint64_t plan = seed;
	unsigned matched_next = 0, completed = 0;

	fprintf(stderr, "catalog_crash: seed %" PRIu64 ", %u cycles\n", seed, cycles);
	for (unsigned cycle = 0; cycle < cycles; cycle++) {
		uint64_t op_seed = splitmix(&plan);
		uint32_t kill_after = 1 + rnd(&plan, 200), delay_us = rnd(&plan, 3000);
		uint32_t last = 0, v;
		struct sl_catalog_config c;
		struct sl_catalog *got, *want;
		uint64_t rng = op_seed;
		int fds[2], status;
		pid_t pid;
		char sub[4096];
		bool killed = false;

		snprintf(sub, sizeof(sub), "%s/c%u", dir, cycle);
		cr_assert_eq(mkdir(sub, 0755), 0);
		cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
		fflush(stderr);
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			free(dir);
			dir = strdup(sub);
			child_main(fds[1], op_seed);
		}
		close(fds[1]);
		/* Read reports; once kill_after came, let it run a random
		 * moment more (the kill lands anywhere in an operation) and
		 * kill it. Then read what it reported before it died. */
		while (read(fds[0], &v, sizeof(v)) == sizeof(v)) {
			last = v;
			if (!killed && v >= kill_after) {
				usleep(delay_us);
				kill(pid, SIGKILL);
				killed = true;
			}
		}
		close(fds[0]);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
		                  (WIFEXITED(status) && WEXITSTATUS(status) == 0),
		          "child failed: status %d", status);
		completed += WIFEXITED(status);

		crash_config(&c, sub);
		cr_assert_eq(sl_catalog_open(&c, &got), 0, "cycle %u: reopen: %s", cycle,
		             sl_errmsg());
		for (uint32_t i = 0; i < sl_catalog_nstreams(got); i++)
			check_stream(sl_catalog_stream_at(got, i));
		crash_config(&c, NULL);
		cr_assert_eq(sl_catalog_open(&c, &want), 0);
		for (uint32_t i = 1; i <= last; i++)
			random_op(want, &rng, i);
		if (!sl_catalog_equal(got, want)) {
			cr_assert_lt(last, CRASH_MAX_OPS,
			             "cycle %u: state after the last op differs", cycle);
			random_op(want, &rng, last + 1);
			cr_assert(sl_catalog_equal(got, want),
			          "cycle %u (seed %" PRIu64 "): after kill at op %u the catalog is "
			          "neither the state after op %u nor after op %u",
			          cycle, seed, last, last, last + 1);
			matched_next++;
		}
		sl_catalog_close(got);
		sl_catalog_close(want);
		t_rm_rf(sub);
	}
	fprintf(stderr,
	        "catalog_crash: %u cycles, %u ended one op ahead of the last report, %u "
	        "children finished before the kill\n",
	        cycles, matched_next, completed);
}

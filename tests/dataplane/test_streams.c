/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for dataplane/streams.{h,c}: name validation, sl_streams_add (ids,
 * duplicates, conflicts, limits), the save/load round trip, the file
 * parser against a table of malformed files, every truncation of a good
 * file and random garbage (an error or a set, never a crash; the ASan build
 * checks the reads), a stale streams.tmp left by a crash, and the
 * --stream NAME[:SHARDS] argument parser.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "streams.h"
#include "t_util.h"

static char *dir;
static struct sl_stream_set *set, *got;

static void setup(void)
{
	dir = t_tmpdir("streams");
	set = calloc(1, sizeof(*set));
	got = calloc(1, sizeof(*got));
	cr_assert(set && got);
}

static void teardown(void)
{
	t_rm_rf(dir);
	free(dir);
	free(set);
	free(got);
}

TestSuite(streams, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers ---- */

static void name_of(char *buf, size_t len, char c)
{
	memset(buf, c, len);
	buf[len] = 0;
}

static void write_file(const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static bool file_exists(const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

static void expect_same(const struct sl_stream_set *a, const struct sl_stream_set *b)
{
	cr_assert_eq(a->n, b->n);
	for (uint32_t i = 0; i < a->n; i++) {
		cr_expect_eq(a->s[i].id, b->s[i].id, "stream %u", i);
		cr_expect_eq(a->s[i].shards, b->s[i].shards, "stream %u", i);
		cr_expect_str_eq(a->s[i].name, b->s[i].name, "stream %u", i);
	}
}

/* A set that a failed load must leave as it was. */
static void poison(struct sl_stream_set *s)
{
	memset(s, 0xa5, sizeof(*s));
	s->n = 7;
}

static bool is_poisoned(const struct sl_stream_set *s)
{
	struct sl_stream_set *p = malloc(sizeof(*p));
	bool same;

	cr_assert_not_null(p);
	poison(p);
	same = memcmp(p, s, sizeof(*s)) == 0;
	free(p);
	return same;
}

/* ---- names ---- */

Test(streams, name_validation)
{
	char n128[130], n129[131];
	static const struct {
		const char *name;
		bool ok;
	} cases[] = {
	        {"a", true},
	        {"Z", true},
	        {"0", true},
	        {"orders", true},
	        {"my-stream_1.v2", true},
	        {"...", true},
	        {"-_.", true},
	        {"", false},
	        {"a b", false},
	        {"a/b", false},
	        {"a:b", false},
	        {"a\tb", false},
	        {"a\nb", false},
	        {"caf\xc3\xa9", false},
	        {"a*", false},
	        {"\x7f", false},
	        {"a\r", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(sl_stream_name_valid(cases[i].name), cases[i].ok, "'%s'",
		             cases[i].name);
	name_of(n128, 128, 'x');
	name_of(n129, 129, 'x');
	cr_expect(sl_stream_name_valid(n128));
	cr_expect_not(sl_stream_name_valid(n129));
}

/* ---- sl_streams_add ---- */

Test(streams, add_assigns_increasing_ids)
{
	cr_assert_eq(sl_streams_add(set, "a", 1), 0);
	cr_assert_eq(sl_streams_add(set, "b", 4), 0);
	cr_assert_eq(sl_streams_add(set, "c", 4096 - 5), 0);
	cr_assert_eq(set->n, 3);
	cr_expect_eq(set->s[0].id, 1);
	cr_expect_eq(set->s[1].id, 2);
	cr_expect_eq(set->s[2].id, 3);
	cr_expect_eq(set->s[1].shards, 4);
	cr_expect_str_eq(set->s[2].name, "c");
}

Test(streams, add_takes_the_id_after_the_highest)
{
	/* As a loaded file may have them: out of order, with gaps. */
	set->n = 2;
	set->s[0] = (struct sl_stream_def){.id = 9, .shards = 1, .name = "x"};
	set->s[1] = (struct sl_stream_def){.id = 4, .shards = 1, .name = "y"};
	cr_assert_eq(sl_streams_add(set, "z", 2), 0);
	cr_expect_eq(set->s[2].id, 10);
}

Test(streams, add_existing_same_count_is_1_other_count_is_eexist)
{
	cr_assert_eq(sl_streams_add(set, "a", 3), 0);
	cr_expect_eq(sl_streams_add(set, "a", 3), 1);
	cr_expect_eq(set->n, 1);
	sl_err_clear();
	cr_expect_eq(sl_streams_add(set, "a", 4), -EEXIST);
	cr_expect_str_neq(sl_errmsg(), "");
	cr_expect_eq(sl_streams_add(set, "a", 1), -EEXIST);
	cr_expect_eq(set->n, 1);
	cr_expect_eq(set->s[0].shards, 3);
	/* Names are case-sensitive. */
	cr_expect_eq(sl_streams_add(set, "A", 4), 0);
}

Test(streams, add_rejects_bad_names_and_counts)
{
	char n128[130], n129[131];
	static const char *bad[] = {"", "a b", "a/b", "a:1", "caf\xc3\xa9", "a\n"};

	name_of(n128, 128, 'q');
	name_of(n129, 129, 'q');
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sl_err_clear();
		cr_expect_eq(sl_streams_add(set, bad[i], 1), -EINVAL, "'%s'", bad[i]);
		cr_expect_str_neq(sl_errmsg(), "");
	}
	cr_expect_eq(sl_streams_add(set, n129, 1), -EINVAL);
	cr_expect_eq(sl_streams_add(set, "a", 0), -EINVAL);
	cr_expect_eq(sl_streams_add(set, "a", SL_STREAMS_MAX_SHARDS + 1), -EINVAL);
	cr_expect_eq(sl_streams_add(set, "a", UINT32_MAX), -EINVAL);
	cr_expect_eq(set->n, 0);
	cr_expect_eq(sl_streams_add(set, n128, SL_STREAMS_MAX_SHARDS), 0);
	cr_expect_str_eq(set->s[0].name, n128);
}

Test(streams, add_stops_at_the_stream_limit)
{
	char name[16];

	for (int i = 0; i < SL_STREAMS_MAX; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		cr_assert_eq(sl_streams_add(set, name, 1), 0, "%s", name);
	}
	cr_assert_eq(set->n, SL_STREAMS_MAX);
	cr_expect_eq(set->s[SL_STREAMS_MAX - 1].id, SL_STREAMS_MAX);
	sl_err_clear();
	cr_expect_eq(sl_streams_add(set, "one-more", 1), -ENOSPC);
	cr_expect_str_neq(sl_errmsg(), "");
	cr_expect_eq(set->n, SL_STREAMS_MAX);
	/* An existing stream is still recognised when full. */
	cr_expect_eq(sl_streams_add(set, "s5", 1), 1);
	cr_expect_eq(sl_streams_add(set, "s5", 2), -EEXIST);
}

Test(streams, add_stops_at_the_total_shard_limit)
{
	cr_assert_eq(sl_streams_add(set, "big", SL_STREAMS_MAX_SHARDS - 10), 0);
	cr_assert_eq(sl_streams_add(set, "mid", 9), 0);
	cr_expect_eq(sl_streams_add(set, "two", 2), -ENOSPC);
	cr_expect_eq(sl_streams_add(set, "huge", SL_STREAMS_MAX_SHARDS), -ENOSPC);
	cr_expect_eq(set->n, 2);
	cr_expect_eq(sl_streams_add(set, "last", 1), 0); /* exactly at the limit */
	cr_expect_eq(sl_streams_add(set, "over", 1), -ENOSPC);
	cr_expect_eq(set->n, 3);
}

Test(streams, add_refuses_when_ids_run_out)
{
	set->n = 1;
	set->s[0] = (struct sl_stream_def){.id = SL_STREAMS_MAX_ID, .shards = 1, .name = "x"};
	cr_expect_eq(sl_streams_add(set, "y", 1), -ENOSPC);
	cr_expect_eq(set->n, 1);
	set->s[0].id = SL_STREAMS_MAX_ID - 1;
	cr_expect_eq(sl_streams_add(set, "y", 1), 0);
	cr_expect_eq(set->s[1].id, SL_STREAMS_MAX_ID);
}

/* ---- save / load ---- */

Test(streams, save_load_round_trip)
{
	char n128[130];

	name_of(n128, 128, 'L');
	cr_assert_eq(sl_streams_add(set, "orders", 4), 0);
	cr_assert_eq(sl_streams_add(set, n128, 1), 0);
	cr_assert_eq(sl_streams_add(set, "a.b-c_d", 4000), 0);
	cr_assert_eq(sl_streams_save(dir, set), 0);
	poison(got);
	cr_assert_eq(sl_streams_load(dir, got), 0);
	expect_same(set, got);
	cr_expect_not(file_exists("streams.tmp"));

	/* A second save replaces the list. */
	set->n = 1;
	cr_assert_eq(sl_streams_save(dir, set), 0);
	cr_assert_eq(sl_streams_load(dir, got), 0);
	expect_same(set, got);
}

Test(streams, save_load_round_trip_at_the_limits)
{
	char name[16];

	/* Ids with gaps and the largest values the file may hold. */
	for (int i = 0; i < SL_STREAMS_MAX; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		cr_assert_eq(sl_streams_add(set, name, i == 0 ? SL_STREAMS_MAX_SHARDS - 255 : 1),
		             0);
	}
	set->s[7].id = SL_STREAMS_MAX_ID;
	cr_assert_eq(sl_streams_save(dir, set), 0);
	cr_assert_eq(sl_streams_load(dir, got), 0);
	expect_same(set, got);
}

Test(streams, save_load_of_an_empty_set)
{
	cr_assert_eq(sl_streams_save(dir, set), 0);
	cr_assert(file_exists("streams"));
	poison(got);
	cr_assert_eq(sl_streams_load(dir, got), 0);
	cr_expect_eq(got->n, 0);
}

Test(streams, save_creates_missing_directories)
{
	char sub[4096];

	snprintf(sub, sizeof(sub), "%s/x/y", dir);
	cr_assert_eq(sl_streams_add(set, "a", 2), 0);
	cr_assert_eq(sl_streams_save(sub, set), 0);
	cr_assert_eq(sl_streams_load(sub, got), 0);
	expect_same(set, got);
}

Test(streams, load_of_a_missing_file_is_empty)
{
	char sub[4096];

	poison(got);
	cr_assert_eq(sl_streams_load(dir, got), 0);
	cr_expect_eq(got->n, 0);
	snprintf(sub, sizeof(sub), "%s/no/such/dir", dir);
	poison(got);
	cr_assert_eq(sl_streams_load(sub, got), 0);
	cr_expect_eq(got->n, 0);
}

Test(streams, load_accepts_the_exact_format)
{
	static const char text[] = "3 2 orders\n1 4094 a\n";

	write_file("streams", text, sizeof(text) - 1);
	cr_assert_eq(sl_streams_load(dir, got), 0, "%s", sl_errmsg());
	cr_assert_eq(got->n, 2);
	cr_expect_eq(got->s[0].id, 3);
	cr_expect_eq(got->s[0].shards, 2);
	cr_expect_str_eq(got->s[0].name, "orders");
	cr_expect_eq(got->s[1].id, 1);
	cr_expect_eq(got->s[1].shards, 4094);
	/* The next id follows the highest loaded. */
	cr_assert_eq(sl_streams_add(got, "new", 1), -ENOSPC); /* 4097 shards */
	got->s[1].shards = 1;
	cr_assert_eq(sl_streams_add(got, "new", 1), 0);
	cr_expect_eq(got->s[2].id, 4);
}

Test(streams, ids_up_to_the_id_limit_load)
{
	char text[64];
	int n;

	n = snprintf(text, sizeof(text), "%d 1 a\n", SL_STREAMS_MAX_ID);
	write_file("streams", text, (size_t)n);
	cr_assert_eq(sl_streams_load(dir, got), 0, "%s", sl_errmsg());
	cr_expect_eq(got->s[0].id, SL_STREAMS_MAX_ID);

	n = snprintf(text, sizeof(text), "%d 1 a\n", SL_STREAMS_MAX_ID + 1);
	write_file("streams", text, (size_t)n);
	poison(got);
	cr_expect_eq(sl_streams_load(dir, got), -EBADMSG);
	cr_expect(is_poisoned(got));
}

/* Each of these is a whole streams file that must load as -EBADMSG. */
static const struct bad_file {
	const char *what;
	const char *text;
} bad_files[] = {
        {"letters for an id", "x 1 a\n"},
        {"letters for a count", "1 x a\n"},
        {"no name", "1 1\n"},
        {"no name, trailing space", "1 1 \n"},
        {"id only", "1\n"},
        {"empty line", "\n"},
        {"empty line after a good one", "1 1 a\n\n"},
        {"id 0", "0 1 a\n"},
        {"zero shards", "1 0 a\n"},
        {"too many shards", "1 4097 a\n"},
        {"negative id", "-1 1 a\n"},
        {"negative count", "1 -1 a\n"},
        {"negative count that wraps to 1", "1 -4294967295 a\n"},
        {"plus sign", "+1 1 a\n"},
        {"hex id", "0x1 1 a\n"},
        {"id over 32 bits", "4294967297 1 a\n"},
        {"id of 20 digits", "99999999999999999999 1 a\n"},
        {"id of 32 bits", "4294967295 1 a\n"},
        {"count glued to garbage", "1 2x a\n"},
        {"id glued to garbage", "1x 2 a\n"},
        {"a second word after the name", "1 2 a b\n"},
        {"trailing space", "1 2 a \n"},
        {"leading space", " 1 2 a\n"},
        {"two spaces", "1  2 a\n"},
        {"tab separated", "1\t2\ta\n"},
        {"CRLF", "1 2 a\r\n"},
        {"duplicate id", "1 1 a\n1 1 b\n"},
        {"duplicate id, far apart", "1 1 a\n2 1 b\n3 1 c\n2 1 d\n"},
        {"duplicate name", "1 1 a\n2 1 a\n"},
        {"duplicate name, other count", "1 1 a\n2 3 a\n"},
        {"slash in name", "1 1 a/b\n"},
        {"colon in name", "1 1 a:b\n"},
        {"non-ASCII name", "1 1 caf\xc3\xa9\n"},
        {"name of 129 bytes",
         "1 1 "
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"},
        {"truncated last line", "1 1 a\n2 1 b"},
        {"truncated after the count", "1 1 a\n2 1"},
        {"truncated after an id", "1 1 a\n2"},
        {"only a truncated line", "1 1 abc"},
        {"more shards than the total limit", "1 4096 a\n2 1 b\n"},
        {"total over the limit in small steps", "1 2048 a\n2 2048 b\n3 1 c\n"},
};

Test(streams, malformed_files_are_ebadmsg)
{
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		const struct bad_file *b = &bad_files[i];
		int rc;

		write_file("streams", b->text, strlen(b->text));
		poison(got);
		sl_err_clear();
		rc = sl_streams_load(dir, got);
		cr_expect_eq(rc, -EBADMSG, "%s: %d", b->what, rc);
		cr_expect(is_poisoned(got), "%s: output written on failure", b->what);
		cr_expect_str_neq(sl_errmsg(), "", "%s: no cause", b->what);
	}
}

Test(streams, embedded_nul_is_ebadmsg)
{
	static const char text[] = "1 1 a\0b\n";

	write_file("streams", text, sizeof(text) - 1);
	cr_expect_eq(sl_streams_load(dir, got), -EBADMSG);
}

Test(streams, overlong_line_is_ebadmsg)
{
	/* Longer than any valid line, and than the reader's line buffer: the
	 * tail must not be read as a line of its own. */
	char text[2048];
	int n = snprintf(text, sizeof(text), "1 1 a%*s\n2 1 b\n", 1000, "");

	write_file("streams", text, (size_t)n);
	cr_expect_eq(sl_streams_load(dir, got), -EBADMSG);

	memset(text, 'a', sizeof(text));
	memcpy(text, "1 1 ", 4);
	text[600] = '\n';
	memcpy(text + 601, "2 1 b\n", 6);
	write_file("streams", text, 607);
	cr_expect_eq(sl_streams_load(dir, got), -EBADMSG);
}

Test(streams, too_many_lines_is_ebadmsg)
{
	char *text = malloc(64 * (SL_STREAMS_MAX + 1)), *p = text;

	cr_assert_not_null(text);
	for (int i = 1; i <= SL_STREAMS_MAX + 1; i++)
		p += sprintf(p, "%d 1 s%d\n", i, i);
	write_file("streams", text, (size_t)(p - text));
	cr_expect_eq(sl_streams_load(dir, got), -EBADMSG);

	/* One fewer is the limit, and fine. */
	p = text;
	for (int i = 1; i <= SL_STREAMS_MAX; i++)
		p += sprintf(p, "%d 1 s%d\n", i, i);
	write_file("streams", text, (size_t)(p - text));
	cr_expect_eq(sl_streams_load(dir, got), 0, "%s", sl_errmsg());
	cr_expect_eq(got->n, SL_STREAMS_MAX);
	free(text);
}

/* Every prefix of a good file: whole lines load as those lines, anything
 * else is -EBADMSG. */
Test(streams, every_truncation_is_a_prefix_or_ebadmsg)
{
	char path[4096], *text;
	size_t len, lines = 0;
	FILE *f;

	cr_assert_eq(sl_streams_add(set, "orders", 4), 0);
	cr_assert_eq(sl_streams_add(set, "clicks", 100), 0);
	cr_assert_eq(sl_streams_add(set, "x", 1), 0);
	set->s[2].id = 1234;
	cr_assert_eq(sl_streams_save(dir, set), 0);
	snprintf(path, sizeof(path), "%s/streams", dir);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	text = malloc(4096);
	len = fread(text, 1, 4096, f);
	fclose(f);
	cr_assert_eq(len, strlen("1 4 orders\n2 100 clicks\n1234 1 x\n"));
	for (size_t cut = 0; cut <= len; cut++) {
		int rc;

		write_file("streams", text, cut);
		poison(got);
		rc = sl_streams_load(dir, got);
		if (cut == 0 || text[cut - 1] == '\n') {
			cr_assert_eq(rc, 0, "cut %zu: %s", cut, sl_errmsg());
			cr_assert_eq(got->n, lines, "cut %zu", cut);
			for (uint32_t i = 0; i < got->n; i++)
				cr_assert_str_eq(got->s[i].name, set->s[i].name);
		} else {
			cr_assert_eq(rc, -EBADMSG, "cut %zu", cut);
			cr_assert(is_poisoned(got));
		}
		if (cut < len && text[cut] == '\n')
			lines++;
	}
	free(text);
}

/* Random bytes and random edits of a good file: 0 or -EBADMSG, and a set
 * that would pass the same checks as sl_streams_add's. */
Test(streams, garbage_never_crashes)
{
	static const char good[] = "1 4 orders\n2 100 clicks\n1234 1 x\n";
	static const char alphabet[] = "0123456789 \n-abx:/\t\r\0";
	uint64_t s = 0x853c49e6748fea9bull;
	char text[256];

	for (int iter = 0; iter < 3000; iter++) {
		size_t len;
		int rc;

		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		if (iter % 2) { /* a good file with a few bytes changed */
			len = sizeof(good) - 1;
			memcpy(text, good, len);
			for (int k = 0; k < 1 + (int)(s % 3); k++) {
				s ^= s << 13, s ^= s >> 7, s ^= s << 17;
				text[s % len] = alphabet[(s >> 16) % (sizeof(alphabet) - 1)];
			}
		} else { /* short strings over the format's alphabet */
			len = s % 64;
			for (size_t k = 0; k < len; k++) {
				s ^= s << 13, s ^= s >> 7, s ^= s << 17;
				text[k] = alphabet[s % (sizeof(alphabet) - 1)];
			}
		}
		write_file("streams", text, len);
		rc = sl_streams_load(dir, got);
		cr_assert(rc == 0 || rc == -EBADMSG, "iter %d: %d", iter, rc);
		if (rc == 0) {
			uint32_t total = 0;

			cr_assert_leq(got->n, SL_STREAMS_MAX);
			for (uint32_t i = 0; i < got->n; i++) {
				cr_assert(got->s[i].id >= 1 && got->s[i].id <= SL_STREAMS_MAX_ID);
				cr_assert(got->s[i].shards >= 1);
				cr_assert(sl_stream_name_valid(got->s[i].name));
				total += got->s[i].shards;
			}
			cr_assert_leq(total, SL_STREAMS_MAX_SHARDS);
		}
	}
}

Test(streams, stale_tmp_file_does_not_affect_load)
{
	static const char junk[] = "9 9 junk\ngarbage";

	/* A crash before the rename leaves streams.tmp next to the old list. */
	cr_assert_eq(sl_streams_add(set, "kept", 3), 0);
	cr_assert_eq(sl_streams_save(dir, set), 0);
	write_file("streams.tmp", junk, sizeof(junk) - 1);
	cr_assert_eq(sl_streams_load(dir, got), 0);
	expect_same(set, got);

	/* The next save replaces it. */
	cr_assert_eq(sl_streams_add(set, "more", 1), 0);
	cr_assert_eq(sl_streams_save(dir, set), 0);
	cr_expect_not(file_exists("streams.tmp"));
	cr_assert_eq(sl_streams_load(dir, got), 0);
	expect_same(set, got);
}

Test(streams, stale_tmp_file_alone_is_an_empty_list)
{
	static const char good[] = "1 1 a\n";

	/* A crash before the first rename: no list was ever written. */
	write_file("streams.tmp", good, sizeof(good) - 1);
	poison(got);
	cr_assert_eq(sl_streams_load(dir, got), 0);
	cr_expect_eq(got->n, 0);
}

/* ---- sl_streams_parse_arg ---- */

Test(streams, parse_arg_cases)
{
	char n128[140], n129[140], n128s[160], n129s[160];
	static const struct {
		const char *arg;
		int rc;
		const char *name;
		uint32_t shards;
	} cases[] = {
	        {"a", 0, "a", 1},
	        {"a:3", 0, "a", 3},
	        {"orders.v2:1", 0, "orders.v2", 1},
	        {"a:4096", 0, "a", 4096},
	        {"a:007", 0, "a", 7},
	        {"a:", -EINVAL, NULL, 0},
	        {":3", -EINVAL, NULL, 0},
	        {":", -EINVAL, NULL, 0},
	        {"", -EINVAL, NULL, 0},
	        {"a:0", -EINVAL, NULL, 0},
	        {"a:4097", -EINVAL, NULL, 0},
	        {"a:99999", -EINVAL, NULL, 0},
	        {"a:3x", -EINVAL, NULL, 0},
	        {"a:x", -EINVAL, NULL, 0},
	        {"a:3:4", -EINVAL, NULL, 0},
	        {"a:-1", -EINVAL, NULL, 0},
	        {"a:-18446744073709551615", -EINVAL, NULL, 0}, /* strtoul: 1 */
	        {"a:18446744073709551616", -EINVAL, NULL, 0},
	        {"a:+3", -EINVAL, NULL, 0},
	        {"a: 3", -EINVAL, NULL, 0},
	        {"a:3 ", -EINVAL, NULL, 0},
	        {"a b:3", -EINVAL, NULL, 0},
	        {"a/b", -EINVAL, NULL, 0},
	        {"caf\xc3\xa9:2", -EINVAL, NULL, 0},
	};
	char name[SL_WIRE_MAX_NAME + 1];
	uint32_t shards;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		shards = 12345;
		sl_err_clear();
		rc = sl_streams_parse_arg(cases[i].arg, name, &shards);
		cr_expect_eq(rc, cases[i].rc, "'%s': %d", cases[i].arg, rc);
		if (rc == 0 && cases[i].rc == 0) {
			cr_expect_str_eq(name, cases[i].name, "'%s'", cases[i].arg);
			cr_expect_eq(shards, cases[i].shards, "'%s'", cases[i].arg);
		} else if (rc < 0) {
			cr_expect_eq(shards, 12345, "'%s': shards written on failure",
			             cases[i].arg);
			cr_expect_str_neq(sl_errmsg(), "", "'%s'", cases[i].arg);
		}
	}

	/* Names at and over the length limit, with and without a count. */
	name_of(n128, 128, 'n');
	name_of(n129, 129, 'n');
	snprintf(n128s, sizeof(n128s), "%s:2", n128);
	snprintf(n129s, sizeof(n129s), "%s:2", n129);
	cr_expect_eq(sl_streams_parse_arg(n128, name, &shards), 0);
	cr_expect_str_eq(name, n128);
	cr_expect_eq(shards, 1);
	cr_expect_eq(sl_streams_parse_arg(n128s, name, &shards), 0);
	cr_expect_str_eq(name, n128);
	cr_expect_eq(shards, 2);
	cr_expect_eq(sl_streams_parse_arg(n129, name, &shards), -EINVAL);
	cr_expect_eq(sl_streams_parse_arg(n129s, name, &shards), -EINVAL);
}

Test(streams, parse_arg_then_add_then_save_and_load)
{
	char name[SL_WIRE_MAX_NAME + 1];
	uint32_t shards;

	cr_assert_eq(sl_streams_parse_arg("clicks:16", name, &shards), 0);
	cr_assert_eq(sl_streams_add(set, name, shards), 0);
	cr_assert_eq(sl_streams_parse_arg("views", name, &shards), 0);
	cr_assert_eq(sl_streams_add(set, name, shards), 0);
	cr_assert_eq(sl_streams_save(dir, set), 0);
	cr_assert_eq(sl_streams_load(dir, got), 0);
	expect_same(set, got);
	cr_expect_eq(got->s[0].shards, 16);
	cr_expect_eq(got->s[1].shards, 1);
}

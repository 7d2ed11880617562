/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for retention in storage/log.c: by size and by age, whole segments,
 * oldest first, never the active one; the trim horizon and readers follow. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "t_util.h"

static char *dir;
static struct sl_store *st;
static struct sl_log *lg;

static void setup(void)
{
	struct sl_store_config cfg;

	dir = t_tmpdir("retention");
	t_small_config(&cfg);
	cr_assert_eq(sl_store_create(&cfg, &st), 0);
	cr_assert_eq(sl_log_open(st, dir, 3, NULL, NULL, &lg), 0);
}

static void teardown(void)
{
	sl_store_free(st);
	t_rm_rf(dir);
	free(dir);
}

TestSuite(retention, .init = setup, .fini = teardown, .timeout = 60);

Test(retention, by_size_deletes_oldest_sealed_segments_only)
{
	uint64_t bases[64], after[64];
	uint64_t first = t_fill(st, lg, 0, 5000, 10, 1000, 1);
	int n, m;

	cr_assert_eq(t_drain(st, lg, NULL), 0);
	n = t_list_segments(dir, bases, 64);
	cr_assert_geq(n, 5);
	cr_assert_eq(sl_log_trim_horizon(lg), first);
	/* A limit below one segment deletes every sealed segment but keeps
	 * the active one. */
	cr_assert_eq(sl_log_retain(lg, sl_wall_ns(), 0, 1), n - 1);
	m = t_list_segments(dir, after, 64);
	cr_assert_eq(m, 1);
	cr_assert_eq(after[0], bases[n - 1]);
	cr_assert_eq(sl_log_trim_horizon(lg), bases[n - 1]);
	cr_assert_leq(sl_log_disk_bytes(lg), 1u << 20);
}

Test(retention, by_size_keeps_the_newest_data_within_the_limit)
{
	struct sl_record_out out[1];
	struct sl_reader *r;
	uint64_t bases[64];
	uint64_t limit = 3u << 20;
	int n;

	t_fill(st, lg, 0, 6000, 10, 1000, 2);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_gt(sl_log_disk_bytes(lg), limit);
	cr_assert_gt(sl_log_retain(lg, sl_wall_ns(), 0, limit), 0);
	cr_assert_leq(sl_log_disk_bytes(lg), limit);
	n = t_list_segments(dir, bases, 64);
	cr_assert_eq(sl_log_trim_horizon(lg), bases[0]);
	/* A reader from the trim horizon starts at the first retained record. */
	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	cr_assert_eq(sl_reader_seek_trim_horizon(r), 0);
	cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1);
	cr_assert_eq(out[0].seq, bases[0]);
	/* Nothing more to delete at the same limit. */
	cr_assert_eq(sl_log_retain(lg, sl_wall_ns(), 0, limit), 0);
	cr_assert_eq(t_list_segments(dir, bases, 64), n);
	sl_reader_free(r);
}

Test(retention, by_age_deletes_segments_whose_newest_record_expired)
{
	struct sl_record_in rec;
	char key[32];
	static uint8_t data[1000];
	uint64_t seq, bases[64];
	int64_t t0 = 1000000000000000000ll; /* arrival times under test control */
	int n, i = 0;

	/* Old records (t0 .. t0+3s), then new ones an hour later. */
	for (; i < 3000; i++) {
		int r;

		t_record(&rec, key, data, (uint32_t)i, 1000, 3);
		rec.arrival_ns = t0 + (int64_t)i * 1000000;
		while ((r = sl_log_append(lg, &rec, 1, 0, 0, &seq)) == -EAGAIN)
			sl_store_poll(st, NULL, 0);
		cr_assert_eq(r, 0);
	}
	for (; i < 4500; i++) {
		int r;

		t_record(&rec, key, data, (uint32_t)i, 1000, 3);
		rec.arrival_ns = t0 + 3600ll * 1000000000;
		while ((r = sl_log_append(lg, &rec, 1, 0, 0, &seq)) == -EAGAIN)
			sl_store_poll(st, NULL, 0);
		cr_assert_eq(r, 0);
	}
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	n = t_list_segments(dir, bases, 64);
	/* Retention of 10 minutes, "now" just after the new records: every
	 * segment holding only old records goes, the rest stay. */
	int removed = sl_log_retain(lg, t0 + 3601ll * 1000000000, 600ll * 1000000000, 0);
	cr_assert_geq(removed, 2);
	cr_assert_lt(removed, n);
	struct sl_reader *r;
	struct sl_record_out out[1];
	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1);
	/* The first record left is in the segment that held the switch to new
	 * records: anything older than it was in a fully expired segment. */
	cr_assert_geq(out[0].seq, bases[removed]);
	sl_reader_free(r);
	/* A zero age limit never deletes by age. */
	cr_assert_eq(sl_log_retain(lg, INT64_MAX, 0, 0), 0);
}

Test(retention, reader_on_a_deleted_segment_moves_to_the_trim_horizon)
{
	struct sl_record_out out[4];
	struct sl_reader *r;
	uint64_t first = t_fill(st, lg, 0, 5000, 10, 1000, 4);

	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	cr_assert_eq(sl_reader_seek_at_seq(r, first + 10), 0);
	cr_assert_gt(sl_log_retain(lg, sl_wall_ns(), 0, 2u << 20), 0);
	/* The reader's position expired: it continues from the trim horizon. */
	cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1);
	cr_assert_eq(out[0].seq, sl_log_trim_horizon(lg));
	sl_reader_free(r);
}

Test(retention, survives_reopen)
{
	struct sl_log_report rep;
	uint64_t bases[64];
	int n;

	t_fill(st, lg, 0, 5000, 10, 1000, 5);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_gt(sl_log_retain(lg, sl_wall_ns(), 0, 2u << 20), 0);
	uint64_t th = sl_log_trim_horizon(lg);
	n = t_list_segments(dir, bases, 64);
	cr_assert_eq(sl_log_close(lg), 0);
	cr_assert_eq(sl_log_open(st, dir, 3, NULL, &rep, &lg), 0);
	cr_assert_eq(rep.first_seq, th);
	cr_assert_eq(rep.segments, (uint32_t)n);
}

static int count_spares(const char *d)
{
	DIR *dd = opendir(d);
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(dd);
	while ((de = readdir(dd)))
		if (strncmp(de->d_name, "spare-", 6) == 0)
			n++;
	closedir(dd);
	return n;
}

static uint32_t read_from(struct sl_log *l, uint64_t seq, uint32_t i0, uint32_t len, uint32_t seed)
{
	struct sl_record_out out[64];
	struct sl_reader *r;
	uint32_t got = 0;
	int n;

	cr_assert_eq(sl_reader_open(l, 0, &r), 0);
	cr_assert_eq(sl_reader_seek_at_seq(r, seq), 0);
	while ((n = sl_reader_read(r, out, 64, SIZE_MAX)) > 0) {
		for (int k = 0; k < n; k++, got++) {
			cr_assert_eq(out[k].seq, seq + got);
			cr_assert(t_record_check(&out[k], i0 + got, len, seed), "record %u", got);
		}
	}
	cr_assert_geq(n, 0);
	sl_reader_free(r);
	return got;
}

Test(retention, retired_segments_are_reused_and_old_bytes_never_read_as_records)
{
	struct sl_log_report rep;
	uint64_t bases[64];
	int n;

	t_fill(st, lg, 0, 5000, 10, 1000, 6);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	n = t_list_segments(dir, bases, 64);
	cr_assert_geq(n, 5);
	cr_assert_eq(sl_log_retain(lg, sl_wall_ns(), 0, 1), n - 1);
	cr_assert_eq(count_spares(dir), 2,
	             "two kept for reuse (spare_segments=2), the rest deleted");
	cr_assert_eq(t_list_segments(dir, bases, 64), 1);

	/* About 1.5 segments of smaller records: the next rolls take the
	 * spares, so the active segment is a reused file whose old, valid
	 * batches lie after the new data. */
	uint64_t first = t_fill(st, lg, 10000, 1500, 10, 700, 7);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_lt(count_spares(dir), 2, "a roll reused a spare");
	cr_assert_eq(read_from(lg, first, 10000, 700, 7), 1500, "exactly the new records");

	/* A crash now leaves the reused segment unsealed with old batches
	 * after its data: recovery must end the data there (a copy of the
	 * directory taken while the log is open is what a crash leaves). The
	 * last write padded its block with zeros, so nothing is torn. */
	char *crash = t_tmpdir("recycled-crash"), cmd[8192];
	struct sl_log *lc;

	snprintf(cmd, sizeof(cmd), "cp -a %s/. %s/", dir, crash);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(sl_log_open(st, crash, 4, NULL, &rep, &lc), 0);
	cr_assert_eq(rep.torn_segments, 0, "zeros after the data, then old bytes");
	cr_assert_eq(rep.corrupt_batches, 0);
	cr_assert_eq(read_from(lc, first, 10000, 700, 7), 1500);
	cr_assert_eq(sl_log_close(lc), 0);
	t_rm_rf(crash);
	free(crash);

	/* A closed and reopened log holds the same, reports nothing wrong,
	 * and a reader stops at the end of the data. */
	cr_assert_eq(sl_log_close(lg), 0);
	cr_assert_eq(sl_log_open(st, dir, 3, NULL, &rep, &lg), 0);
	cr_assert_eq(rep.torn_segments, 0);
	cr_assert_eq(rep.corrupt_batches, 0);
	cr_assert_eq(rep.bad_headers, 0);
	cr_assert_eq(read_from(lg, first, 10000, 700, 7), 1500);
	uint64_t more = t_fill(st, lg, 20000, 10, 10, 700, 8);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(read_from(lg, more, 20000, 700, 8), 10);
}

Test(retention, no_spares_when_spare_segments_is_zero)
{
	struct sl_store_config c;
	struct sl_store *s2;
	struct sl_log *l2;
	char *d2 = t_tmpdir("nospare");

	t_small_config(&c);
	c.spare_segments = 0;
	cr_assert_eq(sl_store_create(&c, &s2), 0);
	cr_assert_eq(sl_log_open(s2, d2, 1, NULL, NULL, &l2), 0);
	t_fill(s2, l2, 0, 4000, 10, 1000, 9);
	cr_assert_eq(t_drain(s2, l2, NULL), 0);
	cr_assert_gt(sl_log_retain(l2, sl_wall_ns(), 0, 1), 0);
	cr_assert_eq(count_spares(d2), 0);
	sl_store_free(s2);
	t_rm_rf(d2);
	free(d2);
}

Test(retention, a_reader_in_a_segment_retired_and_reused_meanwhile_moves_on_without_corruption)
{
	struct sl_record_out out[4];
	struct sl_reader_stats rs;
	struct sl_reader *r;
	uint64_t first = t_fill(st, lg, 0, 5000, 10, 1000, 11);

	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	cr_assert_eq(sl_reader_seek_at_seq(r, first + 5), 0);
	cr_assert_eq(sl_reader_read(r, out, 3, SIZE_MAX), 3, "the reader holds the oldest segment");
	/* Retire just that segment; it becomes the only spare ... */
	cr_assert_eq(sl_log_retain(lg, sl_wall_ns(), 0, sl_log_disk_bytes(lg) - 1), 1);
	cr_assert_eq(count_spares(dir), 1);
	/* ... which the next roll reuses, overwriting its old records. */
	t_fill(st, lg, 5000, 1200, 10, 1000, 11);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(count_spares(dir), 0, "the spare was reused");
	cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1);
	cr_assert_eq(out[0].seq, sl_log_trim_horizon(lg), "expired: on at the trim horizon");
	sl_reader_stats(r, &rs);
	cr_assert_eq(rs.corrupt_batches, 0, "overwritten after retirement is not corruption");
	sl_reader_free(r);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for storage/log.c and storage/reader.c: append, group commit events,
 * segment roll, reopen, every iterator type, limits, retention. Run once per
 * I/O backend (SLUICE_IO_BACKEND=uring|sync, set by meson). */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "t_util.h"

static char *dir;
static struct sl_store *st;
static struct sl_log *lg;
static struct sl_store_config cfg;

static void setup(void)
{
	dir = t_tmpdir("log");
	t_small_config(&cfg);
	cr_assert_eq(sl_store_create(&cfg, &st), 0, "%s", strerror(errno));
	cr_assert_eq(sl_log_open(st, dir, 7, NULL, NULL, &lg), 0);
}

static void teardown(void)
{
	sl_store_free(st);
	t_rm_rf(dir);
	free(dir);
}

TestSuite(log, .init = setup, .fini = teardown, .timeout = 60);

/* Reads everything from the reader's position; checks records i0.. */
static uint32_t read_all_check(struct sl_reader *r, uint32_t i0, uint64_t seq0, uint32_t len,
                               uint32_t seed)
{
	struct sl_record_out out[100];
	uint32_t got = 0;
	int n;

	while ((n = sl_reader_read(r, out, 100, SIZE_MAX)) > 0) {
		for (int k = 0; k < n; k++) {
			cr_assert_eq(out[k].seq, seq0 + got, "seq %lu at %u", out[k].seq, got);
			cr_assert(t_record_check(&out[k], i0 + got, len, seed), "record %u", got);
			got++;
		}
	}
	cr_assert_geq(n, 0);
	return got;
}

Test(log, reads_back_what_it_appended)
{
	struct sl_reader *r;
	uint64_t first = t_fill(st, lg, 0, 1000, 10, 100, 1);

	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	cr_assert_eq(read_all_check(r, 0, first, 100, 1), 1000);
	sl_reader_free(r);
}

Test(log, first_sequence_number_is_in_epoch_one_and_decimal)
{
	char buf[SL_SEQ_STR_MAX];
	uint64_t v;

	cr_assert_eq(sl_log_next_seq(lg), 1ull << 40);
	cr_assert_eq(sl_seq_format(1ull << 40, buf), 13);
	cr_assert_str_eq(buf, "1099511627776");
	cr_assert_eq(sl_seq_parse(buf, strlen(buf), &v), 0);
	cr_assert_eq(v, 1ull << 40);
	cr_assert_eq(sl_seq_parse("0123", 4, &v), -EINVAL);
	cr_assert_eq(sl_seq_parse("", 0, &v), -EINVAL);
	cr_assert_eq(sl_seq_parse("12a", 3, &v), -EINVAL);
	cr_assert_eq(sl_seq_parse("18446744073709551616", 20, &v), -ERANGE);
	cr_assert_eq(sl_seq_parse("18446744073709551615", 20, &v), 0);
	cr_assert_eq(v, UINT64_MAX);
}

Test(log, reports_each_batch_written_then_durable_in_order)
{
	struct sl_record_in rec;
	char key[32];
	uint8_t data[64];
	struct sl_log_event ev[64];
	uint64_t seqs[20];
	int durable = 0, written = 0;

	for (unsigned i = 0; i < 20; i++) {
		t_record(&rec, key, data, i, 64, 2);
		cr_assert_eq(sl_log_append(lg, &rec, 1, 100 + i,
		                           SL_NOTIFY_WRITTEN | SL_NOTIFY_DURABLE, &seqs[i]),
		             0);
		if (i > 0)
			cr_assert_eq(seqs[i], seqs[i - 1] + 1);
	}
	cr_assert_eq(sl_log_sync(lg), 0);
	for (int tries = 0; tries < 1000 && durable < 20; tries++) {
		int n = sl_store_poll(st, ev, 64);

		cr_assert_geq(n, 0);
		for (int k = 0; k < n; k++) {
			if (ev[k].kind == SL_EV_WRITTEN) {
				cr_assert_eq(ev[k].cookie, 100u + (unsigned)written);
				cr_assert_eq(ev[k].first_seq, seqs[written]);
				written++;
			} else {
				cr_assert_eq(ev[k].kind, SL_EV_DURABLE);
				cr_assert_eq(ev[k].cookie, 100u + (unsigned)durable);
				cr_assert_lt(durable, written, "durable before written");
				durable++;
			}
			cr_assert_eq(ev[k].count, 1);
		}
	}
	cr_assert_eq(durable, 20);
	cr_assert_geq(sl_log_durable_next(lg), seqs[19] + 1);
}

Test(log, reader_never_sees_records_that_are_not_durable)
{
	struct sl_record_in rec;
	char key[32];
	uint8_t data[16];
	struct sl_record_out out[4];
	struct sl_reader *r;
	uint64_t seq;

	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	t_record(&rec, key, data, 0, 16, 3);
	cr_assert_eq(sl_log_append(lg, &rec, 1, 0, SL_NOTIFY_DURABLE, &seq), 0);
	/* Staged, not even submitted: invisible. */
	cr_assert_eq(sl_reader_read(r, out, 4, SIZE_MAX), 0);
	cr_assert_eq(sl_log_sync(lg), 0);
	cr_assert_eq(sl_reader_read(r, out, 4, SIZE_MAX), 1);
	cr_assert_eq(out[0].seq, seq);
	sl_reader_free(r);
}

Test(log, rolls_segments_and_reads_across_them)
{
	struct sl_reader *r;
	struct sl_log_stats s;
	uint64_t bases[64];
	uint64_t first = t_fill(st, lg, 0, 4000, 8, 1000, 4);

	cr_assert_eq(t_drain(st, lg, NULL), 0);
	sl_log_stats(lg, &s);
	cr_assert_geq(s.segments_rolled, 3, "4 MB in 1 MiB segments");
	cr_assert_geq(t_list_segments(dir, bases, 64), 4);
	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	cr_assert_eq(read_all_check(r, 0, first, 1000, 4), 4000);
	sl_reader_free(r);
}

Test(log, reopen_recovers_everything_and_starts_a_new_epoch)
{
	struct sl_log_report rep;
	struct sl_reader *r;
	uint64_t first = t_fill(st, lg, 0, 3000, 10, 500, 5);
	uint64_t last = sl_log_next_seq(lg) - 1;

	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(sl_log_close(lg), 0);
	cr_assert_eq(sl_log_open(st, dir, 7, NULL, &rep, &lg), 0);
	cr_assert_eq(rep.first_seq, first);
	cr_assert_eq(rep.last_seq, last);
	cr_assert_eq(rep.torn_segments, 0);
	cr_assert_eq(rep.corrupt_batches, 0);
	cr_assert_eq(rep.index_rebuilt, 0);
	cr_assert_eq(rep.sealed, rep.segments);
	cr_assert_eq(rep.next_seq, 2ull << 40, "new epoch");
	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	cr_assert_eq(read_all_check(r, 0, first, 500, 5), 3000);
	/* Appends after reopen continue in the new epoch, readable after the
	 * old records. */
	uint64_t f2 = t_fill(st, lg, 3000, 10, 5, 500, 5);
	cr_assert_eq(f2, 2ull << 40);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(read_all_check(r, 3000, f2, 500, 5), 10);
	sl_reader_free(r);
}

Test(log, iterators_at_after_latest_trim_horizon)
{
	struct sl_record_out out[8];
	struct sl_reader *r;
	uint64_t first = t_fill(st, lg, 0, 2000, 7, 300, 6);

	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	for (uint32_t i = 0; i < 2000; i += 97) {
		cr_assert_eq(sl_reader_seek_at_seq(r, first + i), 0);
		cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1);
		cr_assert_eq(out[0].seq, first + i);
		cr_assert(t_record_check(&out[0], i, 300, 6));
		cr_assert_eq(sl_reader_seek_after_seq(r, first + i), 0);
		if (i + 1 < 2000) {
			cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1);
			cr_assert_eq(out[0].seq, first + i + 1);
		}
	}
	cr_assert_eq(sl_reader_seek_trim_horizon(r), 0);
	cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1);
	cr_assert_eq(out[0].seq, first);
	cr_assert_eq(sl_reader_seek_latest(r), 0);
	cr_assert_eq(sl_reader_read(r, out, 8, SIZE_MAX), 0);
	uint64_t more = t_fill(st, lg, 2000, 3, 3, 300, 6);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(sl_reader_read(r, out, 8, SIZE_MAX), 3);
	cr_assert_eq(out[0].seq, more);
	/* A sequence number before the trim horizon starts at it. */
	cr_assert_eq(sl_reader_seek_at_seq(r, 1), 0);
	cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1);
	cr_assert_eq(out[0].seq, first);
	sl_reader_free(r);
}

Test(log, at_timestamp_finds_the_first_record_at_or_after)
{
	struct sl_record_in rec;
	char key[32];
	uint8_t data[200];
	struct sl_record_out out[1];
	struct sl_reader *r;
	uint64_t seqs[600];
	int64_t base = sl_wall_ns();

	/* Arrival times 1 ms apart, across several segments. */
	for (unsigned i = 0; i < 600; i++) {
		t_record(&rec, key, data, i, 200, 7);
		rec.arrival_ns = base + (int64_t)i * 1000000;
		int rc;
		while ((rc = sl_log_append(lg, &rec, 1, i, 0, &seqs[i])) == -EAGAIN)
			sl_store_poll(st, NULL, 0);
		cr_assert_eq(rc, 0);
		if (i % 50 == 0)
			sl_store_poll(st, NULL, 0);
	}
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	for (unsigned i = 0; i < 600; i += 37) {
		cr_assert_eq(sl_reader_seek_at_timestamp(r, base + (int64_t)i * 1000000), 0);
		cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1);
		cr_assert_eq(out[0].seq, seqs[i], "ts %u", i);
		/* Between two records: the later one. */
		cr_assert_eq(sl_reader_seek_at_timestamp(r, base + (int64_t)i * 1000000 + 1), 0);
		if (i + 1 < 600) {
			cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1);
			cr_assert_eq(out[0].seq, seqs[i + 1]);
		}
	}
	cr_assert_eq(sl_reader_seek_at_timestamp(r, base - 1000000000), 0);
	cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1);
	cr_assert_eq(out[0].seq, seqs[0]);
	cr_assert_eq(sl_reader_seek_at_timestamp(r, base + 3600ll * 1000000000), 0);
	cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 0);
	sl_reader_free(r);
}

Test(log, arrival_times_never_go_back)
{
	struct sl_record_in rec[2];
	char key[2][32];
	uint8_t data[2][8];
	struct sl_record_out out[4];
	struct sl_reader *r;
	uint64_t seq;

	t_record(&rec[0], key[0], data[0], 0, 8, 8);
	t_record(&rec[1], key[1], data[1], 1, 8, 8);
	rec[0].arrival_ns = 2000;
	rec[1].arrival_ns = 1000;
	cr_assert_eq(sl_log_append(lg, rec, 2, 0, 0, &seq), 0);
	rec[0].arrival_ns = 500;
	cr_assert_eq(sl_log_append(lg, rec, 1, 0, 0, &seq), 0);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	cr_assert_eq(sl_reader_read(r, out, 4, SIZE_MAX), 3);
	cr_assert_eq(out[0].arrival_ns, 2000);
	cr_assert_eq(out[1].arrival_ns, 2000);
	cr_assert_eq(out[2].arrival_ns, 2000);
	sl_reader_free(r);
}

Test(log, read_limits_records_and_bytes)
{
	struct sl_record_out out[50];
	struct sl_reader *r;
	uint64_t first = t_fill(st, lg, 0, 100, 10, 1000, 9);

	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	cr_assert_eq(sl_reader_read(r, out, 7, SIZE_MAX), 7);
	cr_assert_eq(sl_reader_position(r), first + 7);
	/* key "k7".."k9" is 2 bytes + 1000 data: 3 records fit in 3100. */
	cr_assert_eq(sl_reader_read(r, out, 50, 3100), 3);
	cr_assert_eq(out[0].seq, first + 7);
	/* At least one record even if it alone exceeds max_bytes. */
	cr_assert_eq(sl_reader_read(r, out, 50, 10), 1);
	cr_assert_eq(out[0].seq, first + 10);
	sl_reader_free(r);
}

Test(log, rejects_bad_keys_and_oversized_records)
{
	struct sl_record_in rec;
	char key[SL_MAX_KEY_BYTES + 8];
	static uint8_t data[200000];
	uint64_t seq;

	memset(key, 'x', sizeof(key));
	t_record(&rec, key, data, 0, 10, 1);
	rec.key_len = 0;
	cr_assert_eq(sl_log_append(lg, &rec, 1, 0, 0, &seq), -EINVAL);
	rec.key = key;
	rec.key_len = SL_MAX_KEY_BYTES + 1;
	cr_assert_eq(sl_log_append(lg, &rec, 1, 0, 0, &seq), -EINVAL);
	rec.key_len = SL_MAX_KEY_BYTES;
	cr_assert_eq(sl_log_append(lg, &rec, 1, 0, 0, &seq), 0);
	rec.data_len = cfg.max_record_bytes + 1;
	cr_assert_eq(sl_log_append(lg, &rec, 1, 0, 0, &seq), -EMSGSIZE);
	rec.data_len = cfg.max_record_bytes;
	cr_assert_eq(sl_log_append(lg, &rec, 1, 0, 0, &seq), 0);
	cr_assert_eq(sl_log_append(lg, &rec, 0, 0, 0, &seq), -EINVAL);
	/* A batch larger than half the staging ring can never be taken. */
	struct sl_record_in many[3] = {rec, rec, rec};
	cr_assert_eq(sl_log_append(lg, many, 3, 0, 0, &seq), -EMSGSIZE);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
}

Test(log, throttles_when_the_ring_is_full_and_recovers)
{
	struct sl_record_in rec;
	char key[32];
	static uint8_t data[60000];
	uint64_t seq;
	int r = 0, taken = 0;

	t_record(&rec, key, data, 0, 60000, 1);
	/* 256 KiB ring, no polling: the ring fills and appends say EAGAIN. */
	for (int i = 0; i < 10 && (r = sl_log_append(lg, &rec, 1, 0, 0, &seq)) == 0; i++)
		taken++;
	cr_assert_eq(r, -EAGAIN);
	cr_assert_geq(taken, 3);
	cr_assert_lt(taken, 5);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(sl_log_append(lg, &rec, 1, 0, 0, &seq), 0);
	struct sl_log_stats s;
	sl_log_stats(lg, &s);
	cr_assert_geq(s.throttled, 1);
}

Test(log, throttles_when_pending_batches_are_full)
{
	struct sl_store *st2;
	struct sl_log *l2;
	struct sl_store_config c;
	struct sl_record_in rec;
	char key[32];
	uint8_t data[8];
	uint64_t seq;
	char *d2 = t_tmpdir("pend");
	int i, r = 0;

	t_small_config(&c);
	c.pending_batches = 16;
	cr_assert_eq(sl_store_create(&c, &st2), 0);
	cr_assert_eq(sl_log_open(st2, d2, 1, NULL, NULL, &l2), 0);
	t_record(&rec, key, data, 0, 8, 1);
	for (i = 0; i < 100 && (r = sl_log_append(l2, &rec, 1, 0, 0, &seq)) == 0; i++)
		;
	cr_assert_eq(r, -EAGAIN);
	cr_assert_eq(i, 16);
	cr_assert_eq(t_drain(st2, l2, NULL), 0);
	cr_assert_eq(sl_log_append(l2, &rec, 1, 0, 0, &seq), 0);
	sl_store_free(st2);
	t_rm_rf(d2);
	free(d2);
}

Test(log, config_limits_are_enforced)
{
	struct sl_store_config c;
	struct sl_store *s2;

	sl_store_config_default(&c);
	cr_assert_eq(sl_store_config_validate(&c), 0);
	c.buffer_bytes = 3u << 20;
	cr_assert_eq(sl_store_create(&c, &s2), -EINVAL, "not a power of two");
	sl_store_config_default(&c);
	c.max_record_bytes = SL_MAX_RECORD_BYTES_LIMIT + 1;
	cr_assert_eq(sl_store_config_validate(&c), -EINVAL);
	c.max_record_bytes = SL_MAX_RECORD_BYTES_LIMIT;
	cr_assert_eq(sl_store_config_validate(&c), -EINVAL, "ring too small for 10 MiB");
	c.buffer_bytes = 32u << 20;
	cr_assert_eq(sl_store_config_validate(&c), 0);
	sl_store_config_default(&c);
	c.segment_bytes = (1u << 20) + 512;
	cr_assert_eq(sl_store_config_validate(&c), -EINVAL);
	sl_store_config_default(&c);
	c.write_depth = 0;
	cr_assert_eq(sl_store_config_validate(&c), -EINVAL);
}

Test(log, max_logs_is_enforced)
{
	struct sl_log *more[8];
	char *dirs[8];
	struct sl_log *extra;
	int i;

	for (i = 0; i < 7; i++) {
		dirs[i] = t_tmpdir("many");
		cr_assert_eq(sl_log_open(st, dirs[i], (uint32_t)i, NULL, NULL, &more[i]), 0);
	}
	cr_assert_eq(sl_log_open(st, dir, 99, NULL, NULL, &extra), -ENOSPC);
	for (i = 0; i < 7; i++) {
		cr_assert_eq(sl_log_close(more[i]), 0);
		t_rm_rf(dirs[i]);
		free(dirs[i]);
	}
}

Test(log, ten_mib_records_when_configured)
{
	struct sl_store *s2;
	struct sl_log *l2;
	struct sl_store_config c;
	struct sl_record_in rec;
	struct sl_record_out out[1];
	struct sl_reader *r;
	char key[32];
	uint8_t *data = malloc(SL_MAX_RECORD_BYTES_LIMIT);
	char *d2 = t_tmpdir("big");
	uint64_t seq;

	sl_store_config_default(&c);
	c.max_logs = 1;
	c.max_record_bytes = SL_MAX_RECORD_BYTES_LIMIT;
	c.buffer_bytes = 32u << 20;
	c.segment_bytes = 64u << 20;
	cr_assert_eq(sl_store_create(&c, &s2), 0);
	cr_assert_eq(sl_log_open(s2, d2, 1, NULL, NULL, &l2), 0);
	t_record(&rec, key, data, 1, SL_MAX_RECORD_BYTES_LIMIT, 11);
	cr_assert_eq(sl_log_append(l2, &rec, 1, 0, SL_NOTIFY_DURABLE, &seq), 0);
	cr_assert_eq(t_drain(s2, l2, NULL), 0);
	cr_assert_eq(sl_reader_open(l2, 0, &r), 0);
	cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1);
	cr_assert(t_record_check(&out[0], 1, SL_MAX_RECORD_BYTES_LIMIT, 11));
	sl_reader_free(r);
	sl_store_free(s2);
	t_rm_rf(d2);
	free(d2);
	free(data);
}

/* A store whose writes are one 8 KiB chunk at a time, for the write-failure
 * tests: RLIMIT_FSIZE makes the kernel cut or refuse writes past a file
 * offset, as a full or failing disk would. The limit holds for the first
 * poll (the first write only: one write in flight) and is lifted before the
 * rest, so that later writes succeed. */
static void fail_first_write_past(rlim_t limit, uint32_t len, struct sl_log_event *ret_ev,
                                  int *ret_n, uint64_t *ret_seq, struct sl_log **ret_log,
                                  struct sl_store **ret_st, char **ret_dir)
{
	struct sl_store_config c;
	struct sl_record_in rec;
	static uint8_t data[20000];
	char key[32];
	struct rlimit rl = {.rlim_cur = limit, .rlim_max = RLIM_INFINITY};
	struct timespec pause = {0, 200000000};
	int n = 0;

	signal(SIGXFSZ, SIG_IGN);
	t_small_config(&c);
	c.write_depth = 1;
	c.write_chunk_bytes = 8192;
	*ret_dir = t_tmpdir("wfail");
	cr_assert_eq(sl_store_create(&c, ret_st), 0);
	cr_assert_eq(sl_log_open(*ret_st, *ret_dir, 1, NULL, NULL, ret_log), 0);
	t_record(&rec, key, data, 0, len, 1);
	cr_assert_eq(sl_log_append(*ret_log, &rec, 1, 42, SL_NOTIFY_WRITTEN | SL_NOTIFY_DURABLE,
	                           ret_seq),
	             0);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	cr_assert_geq(sl_store_poll(*ret_st, ret_ev, 8), 0); /* submits the first write */
	nanosleep(&pause, NULL);                             /* which completes meanwhile */
	rl.rlim_cur = RLIM_INFINITY;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	cr_assert_lt(sl_log_sync(*ret_log), 0, "the log must fail");
	for (int tries = 0; tries < 100 && n < 8; tries++) {
		int k = sl_store_poll(*ret_st, ret_ev + n, (unsigned)(8 - n));

		cr_assert_geq(k, 0);
		n += k;
	}
	*ret_n = n;
}

Test(log, a_short_write_fails_the_log_and_its_batch_is_never_durable)
{
	struct sl_log_event ev[8];
	struct sl_log *l2;
	struct sl_store *s2;
	char *d2;
	uint64_t seq;
	int n;

	/* The first 8 KiB write of a 20 KB batch stops after 6 KiB; the writes
	 * after it would succeed, and a fdatasync after them must not be taken
	 * to cover the hole. */
	fail_first_write_past(SL_SEG_HDR_BYTES + 6144, 20000, ev, &n, &seq, &l2, &s2, &d2);
	cr_assert_eq(n, 1, "one event for the batch");
	cr_assert_eq(ev[0].kind, SL_EV_FAILED, "got kind %u", ev[0].kind);
	cr_assert_eq(ev[0].cookie, 42);
	cr_assert_lt(ev[0].err, 0);
	cr_assert_leq(sl_log_durable_next(l2), seq, "nothing of the batch is durable");
	cr_assert_leq(sl_log_written_next(l2), seq, "nor written");
	uint64_t dummy;
	struct sl_record_in rec = {.key = "k", .key_len = 1};
	cr_assert_lt(sl_log_append(l2, &rec, 1, 0, 0, &dummy), 0, "a failed log takes nothing");
	sl_store_free(s2);
	t_rm_rf(d2);
	free(d2);
}

Test(log, a_failed_write_is_never_reported_written)
{
	struct sl_log_event ev[8];
	struct sl_log *l2;
	struct sl_store *s2;
	char *d2;
	uint64_t seq;
	int n;

	/* A small batch in one write that fails with EFBIG. */
	fail_first_write_past(SL_SEG_HDR_BYTES, 1000, ev, &n, &seq, &l2, &s2, &d2);
	cr_assert_eq(n, 1, "only the failure is reported, got %d events", n);
	cr_assert_eq(ev[0].kind, SL_EV_FAILED, "got kind %u", ev[0].kind);
	cr_assert_eq(ev[0].err, -EFBIG);
	cr_assert_leq(sl_log_written_next(l2), seq);
	sl_store_free(s2);
	t_rm_rf(d2);
	free(d2);
}

Test(log, a_log_directory_has_one_writer)
{
	struct sl_log *again;

	cr_assert_eq(sl_log_open(st, dir, 8, NULL, NULL, &again), -EBUSY);
	/* Closing the first releases the directory. */
	cr_assert_eq(sl_log_close(lg), 0);
	cr_assert_eq(sl_log_open(st, dir, 8, NULL, NULL, &lg), 0);
}

Test(log, open_refuses_when_every_epoch_is_used)
{
	char path[4096];
	struct sl_log *l2;
	char *d2 = t_tmpdir("epoch");
	uint64_t last = sl_seq_first_of_epoch((1ull << SL_SEQ_EPOCH_BITS) - 1);
	FILE *f;

	t_seg_path(path, sizeof(path), d2, last, "log");
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_assert_eq(sl_log_open(st, d2, 9, NULL, NULL, &l2), -EOVERFLOW);
	t_rm_rf(d2);
	free(d2);
}

Test(log, index_files_without_their_segment_are_removed_at_open)
{
	char path[4096];
	char *d2 = t_tmpdir("orphan");
	struct sl_log *l2;
	FILE *f;

	t_seg_path(path, sizeof(path), d2, 12345, "idx");
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_assert_eq(sl_log_open(st, d2, 9, NULL, NULL, &l2), 0);
	cr_assert_eq(access(path, F_OK), -1, "the orphan index is gone");
	cr_assert_eq(sl_log_close(l2), 0);
	t_rm_rf(d2);
	free(d2);
}

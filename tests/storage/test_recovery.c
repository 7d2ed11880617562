/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for storage/recovery.c and the reader's handling of damaged data:
 * torn tails cut at every byte, single-bit flips in segment headers, batch
 * headers and payloads, short, empty and missing files, corrupt indexes,
 * garbage in the log directory. Each test builds a log, copies its directory
 * as a crash would leave it (or after a clean close), damages the copy and
 * opens it. Run once per I/O backend (SLUICE_IO_BACKEND=uring|sync).
 *
 * Loops over many damage cases tally each property separately, so that one
 * wrong report field does not hide the others; record contents are always
 * compared in full against a model of what must be readable. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "crc32c.h"
#include "log.h"
#include "t_util.h"

#define PATH_CAP 512

static char *dir; /* the test's tree: log/, snap/, work/ live under it */
static struct sl_store *st;
static struct sl_store_config cfg;

static void setup(void)
{
	dir = t_tmpdir("recovery");
	t_small_config(&cfg);
	cr_assert_eq(sl_store_create(&cfg, &st), 0, "%s", strerror(errno));
}

static void teardown(void)
{
	sl_store_free(st);
	t_rm_rf(dir);
	free(dir);
}

TestSuite(recovery, .init = setup, .fini = teardown, .timeout = 120);

/* ---- paths and files ---- */

static void join(char *buf, const char *d, const char *name)
{
	int n = snprintf(buf, PATH_CAP, "%s/%s", d, name);

	cr_assert(n > 0 && n < PATH_CAP, "path too long: %s/%s", d, name);
}

static void sub(char *buf, const char *name)
{
	join(buf, dir, name);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Copies a file; all-zero blocks become holes, which read back as zeros like
 * the preallocated tail of a segment. */
static void copy_file(const char *src, const char *dst)
{
	static uint8_t buf[64 << 10];
	int in = open(src, O_RDONLY), out;
	struct stat sb;
	off_t off = 0;
	ssize_t n;

	cr_assert_geq(in, 0, "open %s: %s", src, strerror(errno));
	cr_assert_eq(fstat(in, &sb), 0);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(out, 0, "open %s: %s", dst, strerror(errno));
	while ((n = pread(in, buf, sizeof(buf), off)) > 0) {
		for (ssize_t b = 0; b < n; b += 4096) {
			size_t len = (size_t)(n - b < 4096 ? n - b : 4096);

			if (!all_zero(buf + b, len))
				cr_assert_eq(pwrite(out, buf + b, len, off + b), (ssize_t)len);
		}
		off += n;
	}
	cr_assert_eq(n, 0, "read %s: %s", src, strerror(errno));
	cr_assert_eq(ftruncate(out, sb.st_size), 0);
	close(in);
	close(out);
}

/* Makes dst (which must not exist) a copy of the regular files in src. */
static void copy_dir(const char *src, const char *dst)
{
	char a[PATH_CAP], b[PATH_CAP];
	struct dirent *de;
	DIR *d;

	cr_assert_eq(mkdir(dst, 0755), 0, "mkdir %s: %s", dst, strerror(errno));
	d = opendir(src);
	cr_assert_not_null(d, "opendir %s", src);
	while ((de = readdir(d))) {
		struct stat sb;

		join(a, src, de->d_name);
		if (stat(a, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		join(b, dst, de->d_name);
		copy_file(a, b);
	}
	closedir(d);
}

/* Replaces dst with a fresh copy of src. */
static void restore(const char *src, const char *dst)
{
	t_rm_rf(dst);
	copy_dir(src, dst);
}

static void write_bytes(const char *path, uint64_t off, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0644);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(pwrite(fd, p, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void write_zeros(const char *path, uint64_t off, size_t len)
{
	uint8_t *z = calloc(1, len ? len : 1);

	write_bytes(path, off, z, len);
	free(z);
}

/* Reads a whole file (malloc'd, *ret_len bytes). */
static uint8_t *read_file(const char *path, size_t *ret_len)
{
	size_t len = (size_t)t_file_size(path);
	uint8_t *p = malloc(len ? len : 1);
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	for (size_t done = 0; done < len;) {
		ssize_t n = pread(fd, p + done, len - done, (off_t)done);

		cr_assert_gt(n, 0, "read %s", path);
		done += (size_t)n;
	}
	close(fd);
	*ret_len = len;
	return p;
}

static bool exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/* ---- what the writer put on disk (read from healthy files only) ---- */

struct bat {
	uint64_t off, seq;
	uint32_t len, count;
};

/* The batches of a healthy segment file, in order; returns the count. */
static int walk_batches(const char *path, struct bat *out, int max)
{
	size_t len;
	uint8_t *p = read_file(path, &len);
	uint64_t off = SL_SEG_HDR_BYTES;
	int n = 0;

	while (off + SL_BATCH_HDR_BYTES <= len && n < max) {
		struct sl_batch_hdr h;

		memcpy(&h, p + off, sizeof(h));
		if (h.magic != SL_BATCH_MAGIC || h.length == 0 || off + h.length > len)
			break;
		out[n++] = (struct bat){off, h.base_seq, h.length, h.count};
		off += h.length;
	}
	free(p);
	return n;
}

/* How many index entries the format prescribes for these batches. */
static uint32_t index_points(const struct bat *b, int n)
{
	uint64_t last = 0;
	uint32_t k = 0;

	for (int i = 0; i < n; i++) {
		if (k == 0 || b[i].off - last >= cfg.index_interval_bytes) {
			k++;
			last = b[i].off;
		}
	}
	return k;
}

/* Index files are written behind the data, unsynced: poll until the active
 * segment's indexes hold n entries, so that the copy is deterministic. */
static void wait_index(const char *d, uint64_t base, uint32_t n)
{
	char ip[PATH_CAP], tp[PATH_CAP];
	struct sl_log_event ev[64];
	const struct timespec ms = {0, 1000000};

	t_seg_path(ip, sizeof(ip), d, base, "idx");
	t_seg_path(tp, sizeof(tp), d, base, "tix");
	for (int tries = 0; tries < 30000; tries++) {
		if (t_file_size(ip) == n * sizeof(struct sl_idx_entry) &&
		    t_file_size(tp) == n * sizeof(struct sl_tix_entry))
			return;
		cr_assert_geq(sl_store_poll(st, ev, 64), 0);
		nanosleep(&ms, NULL);
	}
	cr_assert_fail("index of %" PRIu64 " never reached %u entries (%" PRIu64 " bytes)", base, n,
	               t_file_size(ip));
}

/* ---- the model of what must be readable ---- */

struct exp {
	uint64_t seq;
	int64_t ts; /* 0: not checked */
	uint32_t i, len, seed;
};

struct model {
	struct exp *e;
	size_t n, cap;
};

static void model_add(struct model *m, uint64_t seq, uint32_t i, uint32_t len, uint32_t seed,
                      int64_t ts)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->e = realloc(m->e, m->cap * sizeof(*m->e));
		cr_assert_not_null(m->e);
	}
	m->e[m->n++] = (struct exp){seq, ts, i, len, seed};
}

/* Removes the records lo..hi (inclusive); returns how many. */
static size_t model_drop(struct model *m, uint64_t lo, uint64_t hi)
{
	size_t j = 0, n0 = m->n;

	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].seq < lo || m->e[i].seq > hi)
			m->e[j++] = m->e[i];
	m->n = j;
	return n0 - j;
}

static void model_copy(struct model *dst, const struct model *src)
{
	dst->n = dst->cap = src->n;
	dst->e = malloc((src->n ? src->n : 1) * sizeof(*dst->e));
	cr_assert_not_null(dst->e);
	memcpy(dst->e, src->e, src->n * sizeof(*dst->e));
}

static void model_free(struct model *m)
{
	free(m->e);
	*m = (struct model){0};
}

/* Appends count records with t_fill and adds them to m. */
static uint64_t fill(struct model *m, struct sl_log *lg, uint32_t first_i, uint32_t count,
                     uint32_t per_batch, uint32_t len, uint32_t seed)
{
	uint64_t first = t_fill(st, lg, first_i, count, per_batch, len, seed);

	for (uint32_t k = 0; k < count; k++)
		model_add(m, first + k, first_i + k, len, seed, 0);
	return first;
}

/* Appends count records whose arrival times are t0 + i * step, and adds
 * them to m. */
static uint64_t fill_ts(struct model *m, struct sl_log *lg, uint32_t first_i, uint32_t count,
                        uint32_t per_batch, uint32_t len, uint32_t seed, int64_t t0, int64_t step)
{
	uint64_t first = t_fill_ts(st, lg, first_i, count, per_batch, len, seed, t0, step);

	for (uint32_t k = 0; k < count; k++)
		model_add(m, first + k, first_i + k, len, seed, t0 + (int64_t)k * step);
	return first;
}

/*
 * Reads the whole log from the trim horizon and compares it with m: same
 * sequence numbers, in order, each record intact. Returns NULL when equal,
 * else what differs first. Reader stats go to *ret_stats if not NULL.
 */
static const char *diff_log(struct sl_log *lg, const struct model *m,
                            struct sl_reader_stats *ret_stats)
{
	static char msg[256];
	struct sl_record_out out[64];
	struct sl_reader *r;
	size_t got = 0;
	int n;

	if (sl_reader_open(lg, 0, &r) < 0)
		return "sl_reader_open failed";
	msg[0] = '\0';
	while (!msg[0] && (n = sl_reader_read(r, out, 64, SIZE_MAX)) > 0) {
		for (int k = 0; k < n && !msg[0]; k++, got++) {
			const struct exp *e = got < m->n ? &m->e[got] : NULL;

			if (!e)
				snprintf(msg, sizeof(msg), "record %zu (seq %" PRIu64 ") is extra",
				         got, out[k].seq);
			else if (out[k].seq != e->seq)
				snprintf(msg, sizeof(msg),
				         "record %zu: seq %" PRIu64 ", expected %" PRIu64, got,
				         out[k].seq, e->seq);
			else if (!t_record_check(&out[k], e->i, e->len, e->seed))
				snprintf(msg, sizeof(msg), "record %zu (seq %" PRIu64 ") damaged",
				         got, e->seq);
			else if (e->ts && out[k].arrival_ns != e->ts)
				snprintf(msg, sizeof(msg),
				         "record %zu: arrival %" PRId64 " not %" PRId64, got,
				         out[k].arrival_ns, e->ts);
		}
	}
	if (!msg[0] && n < 0)
		snprintf(msg, sizeof(msg), "read: %s after %zu records", strerror(-n), got);
	else if (!msg[0] && got != m->n)
		snprintf(msg, sizeof(msg), "read %zu records, expected %zu (next %" PRIu64 ")", got,
		         m->n, got < m->n ? m->e[got].seq : 0);
	if (ret_stats)
		sl_reader_stats(r, ret_stats);
	sl_reader_free(r);
	return msg[0] ? msg : NULL;
}

#define assert_log_is(lg, m)                                                                       \
	do {                                                                                       \
		const char *d_ = diff_log((lg), (m), NULL);                                        \
		cr_assert(d_ == NULL, "%s", d_ ? d_ : "");                                         \
	} while (0)

/* Opens dir, or fails the test. */
static struct sl_log *open_log(const char *d, struct sl_log_report *rep)
{
	struct sl_log *lg = NULL;
	int r = sl_log_open(st, d, 7, NULL, rep, &lg);

	cr_assert_eq(r, 0, "sl_log_open %s: %s", d, strerror(-r));
	return lg;
}

/* Creates a log in d holding count records, closed cleanly (every segment
 * sealed). Returns the number of segments. */
static int build_sealed_log(const char *d, struct model *m, uint32_t count, uint32_t per_batch,
                            uint32_t len, uint32_t seed)
{
	uint64_t bases[64];
	struct sl_log *lg = open_log(d, NULL);

	fill(m, lg, 0, count, per_batch, len, seed);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(sl_log_close(lg), 0);
	return t_list_segments(d, bases, 64);
}

/* ---- tallies: per property, how many cases got it wrong ---- */

#define TALLY_MAX 24

struct tally {
	unsigned cases, n;
	const char *what[TALLY_MAX];
	unsigned fails[TALLY_MAX];
	char first[TALLY_MAX][256];
};

static void tally(struct tally *t, const char *what, bool ok, const char *fmt, ...)
{
	unsigned k;

	for (k = 0; k < t->n && strcmp(t->what[k], what) != 0; k++)
		;
	if (k == t->n) {
		cr_assert_lt(t->n, TALLY_MAX);
		t->what[t->n++] = what;
	}
	if (!ok && t->fails[k]++ == 0) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(t->first[k], sizeof(t->first[k]), fmt, ap);
		va_end(ap);
	}
}

static void tally_assert(const struct tally *t)
{
	unsigned bad = 0;

	cr_assert_gt(t->cases, 0);
	for (unsigned k = 0; k < t->n; k++) {
		cr_expect_eq(t->fails[k], 0, "%s: wrong in %u of %u cases; first: %s", t->what[k],
		             t->fails[k], t->cases, t->first[k]);
		bad += t->fails[k];
	}
	cr_assert_eq(bad, 0);
}

#define TALLY_EQ(t, what, got, want, ctx)                                                          \
	tally((t), (what), (uint64_t)(got) == (uint64_t)(want),                                    \
	      "%s: got %" PRIu64 ", want %" PRIu64, (ctx), (uint64_t)(got), (uint64_t)(want))

/* ---- 1. torn tails ---- */

/* The header block of a segment file as found on disk; false if it fails
 * its checks. */
static bool read_seg_hdr(const char *path, struct sl_seg_hdr *h)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	cr_assert_geq(fd, 0);
	n = pread(fd, h, sizeof(*h), 0);
	close(fd);
	if (n != (ssize_t)sizeof(*h) || h->magic != SL_SEG_MAGIC)
		return false;
	struct sl_seg_hdr c = *h;

	c.hdr_crc = 0;
	return sl_crc32c(0, &c, sizeof(c)) == h->hdr_crc;
}

/*
 * A log that crashed with an unsealed segment: a first session writes a few
 * batches and closes cleanly (epoch 1); a second one writes 10 batches and a
 * last, small one, makes them durable, and the directory is copied while the
 * log is still open (its active segment says SL_SEG_OPEN). Then, for every
 * byte offset c of the last batch, a copy is damaged from c on (zeroed up to
 * the end of the batch, as a torn write into the preallocated file leaves
 * it, or truncated at c) and opened.
 */
static void torn_tail_at_every_offset(bool zero)
{
	char logd[PATH_CAP], snap[PATH_CAP], work[PATH_CAP], seg[PATH_CAP];
	struct model base = {0};
	struct bat b[64];
	struct tally t = {0};
	struct sl_log *lg;
	uint64_t bases[8], e2;
	uint8_t *orig;
	size_t flen;
	int nb;

	sub(logd, "log");
	sub(snap, "snap");
	sub(work, "work");
	lg = open_log(logd, NULL);
	fill(&base, lg, 0, 20, 4, 40, 11);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(sl_log_close(lg), 0);
	lg = open_log(logd, NULL);
	fill(&base, lg, 20, 50, 5, 40, 12);
	fill(&base, lg, 70, 3, 3, 40, 12);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(sl_log_durable_next(lg), sl_log_next_seq(lg), "all durable");
	cr_assert_eq(t_list_segments(logd, bases, 8), 2);
	e2 = bases[1];
	cr_assert_eq(sl_seq_epoch(e2), 2);
	t_seg_path(seg, sizeof(seg), logd, e2, "log");
	nb = walk_batches(seg, b, 64);
	cr_assert_eq(nb, 11);
	cr_assert_eq(b[10].count, 3);
	cr_assert_eq(b[10].seq, e2 + 50);
	wait_index(logd, e2, index_points(b, nb));
	copy_dir(logd, snap);
	cr_assert_eq(sl_log_close(lg), 0);

	/* What must survive: everything but the last batch. */
	const uint64_t B = b[10].off, L = b[10].len;
	struct model keep = {0};

	model_copy(&keep, &base);
	cr_assert_eq(model_drop(&keep, b[10].seq, b[10].seq + 2), 3);
	t_seg_path(seg, sizeof(seg), snap, e2, "log");
	orig = read_file(seg, &flen);
	cr_assert_geq(flen, B + L);

	for (uint64_t c = B; c < B + L; c++) {
		struct sl_log_report rep, rep2;
		struct sl_seg_hdr h = {0};
		struct model m = {0};
		char ctx[96];
		const char *d;
		/* Zeroing bytes that were zeros already (the padding at the
		 * end) leaves the batch whole. */
		bool whole = zero && all_zero(orig + c, B + L - c);
		uint64_t end = whole ? B + L : B, seq;

		snprintf(ctx, sizeof(ctx), "%s at batch+%" PRIu64, zero ? "zeroed" : "truncated",
		         c - B);
		t.cases++;
		restore(snap, work);
		t_seg_path(seg, sizeof(seg), work, e2, "log");
		if (zero)
			write_zeros(seg, c, (size_t)(B + L - c));
		else
			t_truncate(seg, c);

		model_copy(&m, whole ? &base : &keep);
		lg = open_log(work, &rep);
		TALLY_EQ(&t, "torn_segments", rep.torn_segments, c > B && !whole, ctx);
		if (c > B && !whole)
			TALLY_EQ(&t, "torn_offset", rep.torn_offset, B, ctx);
		TALLY_EQ(&t, "segments", rep.segments, 2, ctx);
		TALLY_EQ(&t, "sealed", rep.sealed, 1, ctx);
		TALLY_EQ(&t, "corrupt_batches", rep.corrupt_batches, 0, ctx);
		TALLY_EQ(&t, "bad_headers", rep.bad_headers, 0, ctx);
		TALLY_EQ(&t, "removed_empty", rep.removed_empty, 0, ctx);
		TALLY_EQ(&t, "first_seq", rep.first_seq, base.e[0].seq, ctx);
		TALLY_EQ(&t, "last_seq", rep.last_seq, m.e[m.n - 1].seq, ctx);
		TALLY_EQ(&t, "next_seq", rep.next_seq, sl_seq_first_of_epoch(3), ctx);
		d = diff_log(lg, &m, NULL);
		tally(&t, "records read", d == NULL, "%s: %s", ctx, d);
		/* The segment was cut and sealed at the end of its data, and
		 * nothing of the torn batch is left after it. */
		tally(&t, "sealed header", read_seg_hdr(seg, &h) && h.state == SL_SEG_SEALED,
		      "%s: header %s, state %u", ctx, read_seg_hdr(seg, &h) ? "ok" : "bad",
		      h.state);
		TALLY_EQ(&t, "end_offset in header", h.end_offset, end, ctx);
		{
			size_t len;
			uint8_t *p = read_file(seg, &len);

			tally(&t, "zeros after the cut", len >= end && all_zero(p + end, len - end),
			      "%s: %zu bytes in file, non-zero bytes after %" PRIu64, ctx, len,
			      end);
			free(p);
		}
		/* New appends go to a new epoch, after the old ones. */
		seq = fill(&m, lg, 1000, 1, 1, 40, 13);
		TALLY_EQ(&t, "first new seq", seq, rep.next_seq, ctx);
		cr_assert_eq(t_drain(st, lg, NULL), 0);
		cr_assert_eq(sl_log_close(lg), 0);

		lg = open_log(work, &rep2);
		TALLY_EQ(&t, "reopen torn_segments", rep2.torn_segments, 0, ctx);
		TALLY_EQ(&t, "reopen corrupt_batches", rep2.corrupt_batches, 0, ctx);
		TALLY_EQ(&t, "reopen index_rebuilt", rep2.index_rebuilt, 0, ctx);
		TALLY_EQ(&t, "reopen sealed", rep2.sealed, 3, ctx);
		TALLY_EQ(&t, "reopen last_seq", rep2.last_seq, seq, ctx);
		TALLY_EQ(&t, "reopen next_seq", rep2.next_seq, sl_seq_first_of_epoch(4), ctx);
		d = diff_log(lg, &m, NULL);
		tally(&t, "reopen records read", d == NULL, "%s: %s", ctx, d);
		cr_assert_eq(sl_log_close(lg), 0);
		model_free(&m);
	}
	cr_assert_eq(t.cases, L);
	free(orig);
	model_free(&keep);
	model_free(&base);
	tally_assert(&t);
}

Test(recovery, torn_tail_zeroed_from_every_byte_of_the_last_batch_is_cut_and_sealed)
{
	torn_tail_at_every_offset(true);
}

Test(recovery, torn_tail_truncated_at_every_byte_of_the_last_batch_is_cut_and_sealed)
{
	torn_tail_at_every_offset(false);
}

/* ---- 2. bit flips ---- */

Test(recovery, segment_header_bit_flips_are_reported_and_every_record_stays_readable)
{
	char logd[PATH_CAP], snap[PATH_CAP], seg[PATH_CAP];
	struct model m = {0};
	struct tally t = {0};
	uint64_t bases[8];
	int nseg;

	sub(logd, "log");
	sub(snap, "snap");
	nseg = build_sealed_log(snap, &m, 2200, 8, 1000, 21);
	cr_assert_eq(nseg, 3, "segment 0 is old, 1 and 2 are the newest two");
	cr_assert_eq(t_list_segments(snap, bases, 8), 3);

	for (int s = 0; s < nseg; s++) {
		for (unsigned byte = 0; byte < sizeof(struct sl_seg_hdr); byte++) {
			struct sl_log_report rep;
			struct sl_log *lg;
			char ctx[96];
			const char *d;

			snprintf(ctx, sizeof(ctx), "segment %d byte %u bit %u", s, byte, byte % 8);
			t.cases++;
			restore(snap, logd);
			t_seg_path(seg, sizeof(seg), logd, bases[s], "log");
			t_flip_bit(seg, byte, (int)(byte % 8));
			lg = open_log(logd, &rep);
			TALLY_EQ(&t, "bad_headers", rep.bad_headers, 1, ctx);
			TALLY_EQ(&t, "segments", rep.segments, 3, ctx);
			TALLY_EQ(&t, "torn_segments", rep.torn_segments, 0, ctx);
			TALLY_EQ(&t, "corrupt_batches", rep.corrupt_batches, 0, ctx);
			TALLY_EQ(&t, "removed_empty", rep.removed_empty, 0, ctx);
			TALLY_EQ(&t, "first_seq", rep.first_seq, m.e[0].seq, ctx);
			TALLY_EQ(&t, "last_seq", rep.last_seq, m.e[m.n - 1].seq, ctx);
			TALLY_EQ(&t, "next_seq", rep.next_seq, sl_seq_first_of_epoch(2), ctx);
			d = diff_log(lg, &m, NULL);
			tally(&t, "records read", d == NULL, "%s: %s", ctx, d);
			cr_assert_eq(sl_log_close(lg), 0);
		}
	}
	cr_assert_eq(t.cases, 3 * 64);
	model_free(&m);
	tally_assert(&t);
}

/*
 * One sealed segment of 40 batches of 5 records (448 bytes each, an index
 * point every 10 batches). A single bit is flipped in one batch: in a batch
 * recovery does not scan (15: before the last index point, found by the
 * reader), in the batch of the last index point (30) and in one after it
 * (35, in the tail recovery scans).
 */
Test(recovery, batch_bit_flips_in_a_sealed_segment_lose_only_that_batch)
{
	char logd[PATH_CAP], snap[PATH_CAP], seg[PATH_CAP];
	static const int victims[] = {15, 30, 35};
	struct model m = {0};
	struct tally t = {0};
	struct bat b[64];
	uint64_t bases[4];
	int nb;

	sub(logd, "log");
	sub(snap, "snap");
	cr_assert_eq(build_sealed_log(snap, &m, 200, 5, 40, 31), 1);
	cr_assert_eq(t_list_segments(snap, bases, 4), 1);
	t_seg_path(seg, sizeof(seg), snap, bases[0], "log");
	nb = walk_batches(seg, b, 64);
	cr_assert_eq(nb, 40);
	cr_assert_eq(index_points(b, nb), 4);

	for (size_t v = 0; v < sizeof(victims) / sizeof(victims[0]); v++) {
		const struct bat *x = &b[victims[v]];
		uint64_t lo = x->seq, hi = x->seq + x->count - 1;
		/* Each byte of the batch header, then bytes of the first
		 * record: its header, key, data, and the batch's last byte. */
		uint32_t offs[SL_BATCH_HDR_BYTES + 5];
		unsigned no = 0;

		for (uint32_t i = 0; i < SL_BATCH_HDR_BYTES; i++)
			offs[no++] = i;
		offs[no++] = SL_BATCH_HDR_BYTES + 2;
		offs[no++] = SL_BATCH_HDR_BYTES + SL_RECORD_HDR_BYTES;
		offs[no++] = SL_BATCH_HDR_BYTES + SL_RECORD_HDR_BYTES + 10;
		offs[no++] = x->len / 2;
		offs[no++] = x->len - 1;

		for (unsigned k = 0; k < no; k++) {
			struct sl_log_report rep;
			struct sl_reader_stats rs;
			struct sl_log *lg;
			struct model keep = {0};
			char ctx[96];
			const char *d;

			snprintf(ctx, sizeof(ctx), "batch %d byte %u bit %u", victims[v], offs[k],
			         k % 8);
			t.cases++;
			restore(snap, logd);
			t_seg_path(seg, sizeof(seg), logd, bases[0], "log");
			t_flip_bit(seg, x->off + offs[k], (int)(k % 8));
			model_copy(&keep, &m);
			cr_assert_eq(model_drop(&keep, lo, hi), x->count);

			lg = open_log(logd, &rep);
			TALLY_EQ(&t, "torn_segments", rep.torn_segments, 0, ctx);
			TALLY_EQ(&t, "bad_headers", rep.bad_headers, 0, ctx);
			TALLY_EQ(&t, "first_seq", rep.first_seq, m.e[0].seq, ctx);
			TALLY_EQ(&t, "last_seq", rep.last_seq, m.e[m.n - 1].seq, ctx);
			TALLY_EQ(&t, "next_seq", rep.next_seq, sl_seq_first_of_epoch(2), ctx);
			if (victims[v] >= 30) {
				/* In the tail recovery scans: found at open. */
				TALLY_EQ(&t, "corrupt_batches at open", rep.corrupt_batches, 1,
				         ctx);
			}
			if (rep.corrupt_batches > 0) {
				TALLY_EQ(&t, "corrupt_first_seq", rep.corrupt_first_seq, lo, ctx);
				TALLY_EQ(&t, "corrupt_last_seq", rep.corrupt_last_seq, hi, ctx);
			}
			d = diff_log(lg, &keep, &rs);
			tally(&t, "records read", d == NULL, "%s: %s", ctx, d);
			tally(&t, "reader corrupt_batches", rs.corrupt_batches >= 1,
			      "%s: reader saw %" PRIu64 " corrupt batches", ctx,
			      rs.corrupt_batches);
			TALLY_EQ(&t, "reader corrupt_first_seq", rs.corrupt_first_seq, lo, ctx);
			TALLY_EQ(&t, "reader corrupt_last_seq", rs.corrupt_last_seq, hi, ctx);
			cr_assert_eq(sl_log_close(lg), 0);
			model_free(&keep);
		}
	}
	cr_assert_eq(t.cases, 3 * (SL_BATCH_HDR_BYTES + 5));
	model_free(&m);
	tally_assert(&t);
}

/* ---- 3. truncated and zero-length files ---- */

/*
 * A segment's .log cut to 0, 1, 63, 64, 100 and 4095 bytes, in the oldest
 * segment (sealed by a roll, not among the two newest) and in the newest
 * one. The records of that segment are gone; every other one must stay
 * readable, and the empty segment is dropped.
 */
Test(recovery, short_segment_file_loses_only_that_segment_and_is_kept_if_sealed)
{
	char logd[PATH_CAP], snap[PATH_CAP], seg[PATH_CAP];
	static const uint64_t sizes[] = {0, 1, 63, 64, 100, 4095};
	static const int which[] = {0, 2};
	struct model m = {0};
	struct tally t = {0};
	uint64_t bases[8];

	sub(logd, "log");
	sub(snap, "snap");
	cr_assert_eq(build_sealed_log(snap, &m, 2200, 8, 1000, 41), 3);
	cr_assert_eq(t_list_segments(snap, bases, 8), 3);

	for (size_t w = 0; w < 2; w++) {
		int s = which[w];
		uint64_t lo = bases[s], hi = s + 1 < 3 ? bases[s + 1] - 1 : UINT64_MAX;

		for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
			struct sl_log_report rep, rep2;
			struct sl_log *lg;
			struct model keep = {0};
			char ctx[96];
			const char *d;
			size_t lost;

			snprintf(ctx, sizeof(ctx), "segment %d cut to %" PRIu64, s, sizes[z]);
			t.cases++;
			restore(snap, logd);
			t_seg_path(seg, sizeof(seg), logd, bases[s], "log");
			t_truncate(seg, sizes[z]);
			model_copy(&keep, &m);
			lost = model_drop(&keep, lo, hi);
			cr_assert_gt(lost, 100);

			/* With its header gone the file is a crash leftover and
			 * is dropped as empty; with the header intact it is a
			 * sealed segment that lost data: kept, and reported as
			 * corrupt at every open, never deleted by recovery. */
			bool hdr_intact = sizes[z] >= 64;

			lg = open_log(logd, &rep);
			TALLY_EQ(&t, "segments", rep.segments, hdr_intact ? 3 : 2, ctx);
			TALLY_EQ(&t, "removed_empty", rep.removed_empty, hdr_intact ? 0 : 1, ctx);
			tally(&t, "a damaged segment is reported",
			      !hdr_intact || rep.corrupt_batches > 0, "%s: corrupt_batches 0", ctx);
			tally(&t, "corruption reported only inside the cut segment",
			      rep.corrupt_batches == 0 ||
			              (rep.corrupt_first_seq >= lo && rep.corrupt_last_seq <= hi),
			      "%s: corrupt %" PRIu64 "..%" PRIu64, ctx, rep.corrupt_first_seq,
			      rep.corrupt_last_seq);
			TALLY_EQ(&t, "first_seq", rep.first_seq, keep.e[0].seq, ctx);
			TALLY_EQ(&t, "last_seq", rep.last_seq, keep.e[keep.n - 1].seq, ctx);
			TALLY_EQ(&t, "next_seq", rep.next_seq, sl_seq_first_of_epoch(2), ctx);
			d = diff_log(lg, &keep, NULL);
			tally(&t, "records read", d == NULL, "%s: %s", ctx, d);
			cr_assert_eq(sl_log_close(lg), 0);

			lg = open_log(logd, &rep2);
			TALLY_EQ(&t, "reopen bad_headers", rep2.bad_headers, 0, ctx);
			TALLY_EQ(&t, "reopen index_rebuilt", rep2.index_rebuilt, 0, ctx);
			TALLY_EQ(&t, "reopen corrupt_batches", rep2.corrupt_batches > 0, hdr_intact,
			         ctx);
			TALLY_EQ(&t, "reopen next_seq", rep2.next_seq, sl_seq_first_of_epoch(3),
			         ctx);
			d = diff_log(lg, &keep, NULL);
			tally(&t, "reopen records read", d == NULL, "%s: %s", ctx, d);
			cr_assert_eq(sl_log_close(lg), 0);
			model_free(&keep);
		}
	}
	model_free(&m);
	tally_assert(&t);
}

/*
 * The format says an invalid batch before a sealed segment's end_offset is
 * corruption, reported with its sequence range. A sealed segment whose file
 * was cut short (its header intact) has lost acked records: the report must
 * say so, as corruption starting at the first lost record, not stay silent
 * or call it a torn tail (a torn tail holds nothing that was acked).
 */
Test(recovery, cutting_a_sealed_segment_short_is_reported_as_corruption)
{
	char logd[PATH_CAP], snap[PATH_CAP], seg[PATH_CAP];
	static const int which[] = {0, 2};
	struct model m = {0};
	struct tally t = {0};
	struct bat b[256];
	uint64_t bases[8];

	sub(logd, "log");
	sub(snap, "snap");
	cr_assert_eq(build_sealed_log(snap, &m, 2200, 8, 1000, 42), 3);
	cr_assert_eq(t_list_segments(snap, bases, 8), 3);

	for (size_t w = 0; w < 2; w++) {
		int s = which[w];
		int nb;

		t_seg_path(seg, sizeof(seg), snap, bases[s], "log");
		nb = walk_batches(seg, b, 256);
		cr_assert_geq(nb, 20);
		/* Cut inside the header block (header kept), and in the middle
		 * of batch 10. */
		const uint64_t cuts[] = {100, b[10].off + b[10].len / 2};
		const uint64_t first_lost[] = {bases[s], b[10].seq};

		for (int c = 0; c < 2; c++) {
			struct sl_log_report rep;
			struct sl_log *lg;
			struct model keep = {0};
			char ctx[96];
			const char *d;

			snprintf(ctx, sizeof(ctx), "segment %d cut to %" PRIu64, s, cuts[c]);
			t.cases++;
			restore(snap, logd);
			t_seg_path(seg, sizeof(seg), logd, bases[s], "log");
			t_truncate(seg, cuts[c]);
			model_copy(&keep, &m);
			cr_assert_gt(model_drop(&keep, first_lost[c],
			                        s + 1 < 3 ? bases[s + 1] - 1 : UINT64_MAX),
			             10);
			lg = open_log(logd, &rep);
			TALLY_EQ(&t, "torn_segments", rep.torn_segments, 0, ctx);
			tally(&t, "corrupt_batches", rep.corrupt_batches >= 1,
			      "%s: corrupt_batches %u, bad_headers %u, torn %u", ctx,
			      rep.corrupt_batches, rep.bad_headers, rep.torn_segments);
			TALLY_EQ(&t, "corrupt_first_seq", rep.corrupt_first_seq, first_lost[c],
			         ctx);
			/* The old segment's records end where the next one begins. */
			if (s + 1 < 3)
				TALLY_EQ(&t, "corrupt_last_seq", rep.corrupt_last_seq,
				         bases[s + 1] - 1, ctx);
			d = diff_log(lg, &keep, NULL);
			tally(&t, "records read", d == NULL, "%s: %s", ctx, d);
			cr_assert_eq(sl_log_close(lg), 0);
			model_free(&keep);
		}
	}
	model_free(&m);
	tally_assert(&t);
}

/* A crash while a new segment was being created leaves its .log empty (or a
 * bare header): it holds nothing, is dropped, and its epoch is not reused. */
Test(recovery, empty_newest_segment_file_is_dropped_and_its_epoch_skipped)
{
	char logd[PATH_CAP], seg[PATH_CAP];
	struct sl_log_report rep;
	struct model m = {0};
	struct sl_log *lg;
	uint64_t bases[8], dead = sl_seq_first_of_epoch(5);

	sub(logd, "log");
	cr_assert_eq(build_sealed_log(logd, &m, 300, 10, 100, 43), 1);
	t_seg_path(seg, sizeof(seg), logd, dead, "log");
	write_bytes(seg, 0, "", 0);
	cr_assert_eq(t_file_size(seg), 0);

	lg = open_log(logd, &rep);
	cr_assert_eq(rep.removed_empty, 1);
	cr_assert_eq(rep.segments, 1);
	cr_assert_eq(rep.first_seq, m.e[0].seq);
	cr_assert_eq(rep.last_seq, m.e[m.n - 1].seq);
	cr_assert_eq(rep.next_seq, sl_seq_first_of_epoch(6), "past the dead segment's epoch");
	cr_assert(!exists(seg), "the empty segment was deleted");
	assert_log_is(lg, &m);
	fill(&m, lg, 300, 5, 5, 100, 43);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	assert_log_is(lg, &m);
	cr_assert_eq(sl_log_close(lg), 0);
	cr_assert_eq(t_list_segments(logd, bases, 8), 2);
	cr_assert_eq(bases[1], sl_seq_first_of_epoch(6));
	model_free(&m);
}

/* Damage to index files: what is done to them, and whether the report must
 * count a rebuild. */
enum idx_damage {
	IDX_PARTIAL,  /* .idx cut to a non-multiple of 16 */
	IDX_ZERO,     /* .idx zero-length */
	TIX_ZERO,     /* .tix zero-length */
	BOTH_ZERO,    /* both zero-length */
	IDX_MISSING,  /* .idx deleted */
	TIX_MISSING,  /* .tix deleted */
	BOTH_MISSING, /* both deleted */
	IDX_FLIP,     /* a bit flipped in the middle entry of the .idx */
	TIX_FLIP,     /* a bit flipped in the middle entry of the .tix */
	TIX_PARTIAL,  /* .tix cut to a non-multiple of 24 */
};

static const char *const damage_name[] = {
        "idx partial", "idx zero-length", "tix zero-length", "both zero-length", "idx missing",
        "tix missing", "both missing",    "idx bit flip",    "tix bit flip",     "tix partial",
};

static void damage_index(const char *d, uint64_t base, enum idx_damage how)
{
	char ip[PATH_CAP], tp[PATH_CAP];
	uint64_t in, tn;

	t_seg_path(ip, sizeof(ip), d, base, "idx");
	t_seg_path(tp, sizeof(tp), d, base, "tix");
	in = t_file_size(ip) / sizeof(struct sl_idx_entry);
	tn = t_file_size(tp) / sizeof(struct sl_tix_entry);
	cr_assert_geq(in, 8, "enough index entries to damage one in the middle");
	cr_assert_eq(in, tn);
	switch (how) {
	case IDX_PARTIAL:
		t_truncate(ip, in / 2 * sizeof(struct sl_idx_entry) + 7);
		break;
	case TIX_PARTIAL:
		t_truncate(tp, tn / 2 * sizeof(struct sl_tix_entry) + 11);
		break;
	case IDX_ZERO:
		t_truncate(ip, 0);
		break;
	case TIX_ZERO:
		t_truncate(tp, 0);
		break;
	case BOTH_ZERO:
		t_truncate(ip, 0);
		t_truncate(tp, 0);
		break;
	case IDX_MISSING:
		t_unlink(ip);
		break;
	case TIX_MISSING:
		t_unlink(tp);
		break;
	case BOTH_MISSING:
		t_unlink(ip);
		t_unlink(tp);
		break;
	case IDX_FLIP:
		/* The offset field of the middle entry. */
		t_flip_bit(ip, in / 2 * sizeof(struct sl_idx_entry) + 5, 3);
		break;
	case TIX_FLIP:
		/* The timestamp of the middle entry. */
		t_flip_bit(tp, tn / 2 * sizeof(struct sl_tix_entry) + 2, 6);
		break;
	}
}

/*
 * Seeks by sequence number and by timestamp at many records, at every
 * segment boundary, and between records: each lands exactly. Records have
 * arrival times t0 + i * 1000.
 */
static void check_seeks(struct sl_log *lg, const struct model *m, const uint64_t *bases, int nseg,
                        const char *ctx)
{
	struct sl_record_out out[2];
	struct sl_reader *r;
	size_t checked = 0;

	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	for (size_t i = 0; i < m->n; i++) {
		const struct exp *e = &m->e[i];
		bool edge = i + 1 == m->n;

		for (int s = 0; s < nseg; s++)
			edge = edge || e->seq == bases[s] || e->seq + 1 == bases[s];
		if (i % 97 != 0 && !edge)
			continue;
		cr_assert_eq(sl_reader_seek_at_seq(r, e->seq), 0);
		cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1, "%s: at seq %" PRIu64, ctx,
		             e->seq);
		cr_assert_eq(out[0].seq, e->seq, "%s: at seq", ctx);
		cr_assert(t_record_check(&out[0], e->i, e->len, e->seed), "%s", ctx);
		cr_assert_eq(sl_reader_seek_at_timestamp(r, e->ts), 0);
		cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1, "%s: at ts of %zu", ctx, i);
		cr_assert_eq(out[0].seq, e->seq, "%s: at ts of record %zu: got seq %" PRIu64, ctx,
		             i, out[0].seq);
		cr_assert_eq(out[0].arrival_ns, e->ts);
		cr_assert_eq(sl_reader_seek_at_timestamp(r, e->ts + 1), 0);
		if (i + 1 < m->n) {
			cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1, "%s", ctx);
			cr_assert_eq(out[0].seq, m->e[i + 1].seq, "%s: just after ts of %zu", ctx,
			             i);
		} else {
			cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 0, "%s", ctx);
		}
		checked++;
	}
	cr_assert_geq(checked, m->n / 97);
	sl_reader_free(r);
}

/* Builds a sealed 2-segment log with known arrival times in snap. */
static int build_ts_log(const char *snap, struct model *m, uint64_t *bases)
{
	struct sl_log *lg = open_log(snap, NULL);
	int n;

	/* 1248-byte batches: an index point every 4th batch. */
	fill_ts(m, lg, 0, 6000, 5, 200, 51, sl_wall_ns(), 1000);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(sl_log_close(lg), 0);
	n = t_list_segments(snap, bases, 8);
	cr_assert_eq(n, 2);
	return n;
}

/* Damages the index of every segment (how), reopens: rebuilt (counted when
 * count_rebuilt), byte-identical to what the writer made, reads and seeks
 * exact; a second reopen rebuilds nothing. */
static void index_damage_case(enum idx_damage how)
{
	char logd[PATH_CAP], snap[PATH_CAP], ip[PATH_CAP], tp[PATH_CAP];
	struct sl_log_report rep;
	struct model m = {0};
	struct sl_log *lg;
	uint64_t bases[8];
	const char *ctx = damage_name[how];
	int nseg;

	sub(logd, "log");
	sub(snap, "snap");
	nseg = build_ts_log(snap, &m, bases);
	restore(snap, logd);
	for (int s = 0; s < nseg; s++)
		damage_index(logd, bases[s], how);

	lg = open_log(logd, &rep);
	cr_expect_eq(rep.index_rebuilt, (uint32_t)nseg, "%s: index_rebuilt %u, want %d", ctx,
	             rep.index_rebuilt, nseg);
	cr_assert_eq(rep.corrupt_batches, 0, "%s", ctx);
	cr_assert_eq(rep.torn_segments, 0, "%s", ctx);
	cr_assert_eq(rep.bad_headers, 0, "%s", ctx);
	cr_assert_eq(rep.first_seq, m.e[0].seq);
	cr_assert_eq(rep.last_seq, m.e[m.n - 1].seq);
	/* Rebuilt indexes are the ones the writer made. */
	for (int s = 0; s < nseg; s++) {
		const char *ext[2] = {"idx", "tix"};

		for (int k = 0; k < 2; k++) {
			size_t la, lb;
			uint8_t *a, *b;

			t_seg_path(ip, sizeof(ip), snap, bases[s], ext[k]);
			t_seg_path(tp, sizeof(tp), logd, bases[s], ext[k]);
			cr_assert(exists(tp), "%s: %s not rebuilt", ctx, tp);
			a = read_file(ip, &la);
			b = read_file(tp, &lb);
			cr_assert_gt(la, 0);
			cr_assert_eq(lb, la, "%s: segment %d .%s is %zu bytes, writer made %zu",
			             ctx, s, ext[k], lb, la);
			cr_assert(memcmp(a, b, la) == 0, "%s: segment %d .%s differs", ctx, s,
			          ext[k]);
			free(a);
			free(b);
		}
	}
	assert_log_is(lg, &m);
	check_seeks(lg, &m, bases, nseg, ctx);
	cr_assert_eq(sl_log_close(lg), 0);

	lg = open_log(logd, &rep);
	cr_assert_eq(rep.index_rebuilt, 0, "%s: second reopen rebuilt %u", ctx, rep.index_rebuilt);
	check_seeks(lg, &m, bases, nseg, ctx);
	cr_assert_eq(sl_log_close(lg), 0);
	model_free(&m);
}

Test(recovery, idx_cut_to_a_partial_entry_is_rebuilt)
{
	index_damage_case(IDX_PARTIAL);
}

Test(recovery, tix_cut_to_a_partial_entry_is_rebuilt)
{
	index_damage_case(TIX_PARTIAL);
}

Test(recovery, zero_length_idx_is_rebuilt)
{
	index_damage_case(IDX_ZERO);
}

Test(recovery, zero_length_tix_is_rebuilt)
{
	index_damage_case(TIX_ZERO);
}

Test(recovery, zero_length_idx_and_tix_are_rebuilt)
{
	index_damage_case(BOTH_ZERO);
}

/* ---- 4. missing index files ---- */

Test(recovery, missing_idx_is_rebuilt_and_seeks_land_exactly)
{
	index_damage_case(IDX_MISSING);
}

Test(recovery, missing_tix_is_rebuilt_and_seeks_land_exactly)
{
	index_damage_case(TIX_MISSING);
}

Test(recovery, missing_idx_and_tix_are_rebuilt_and_seeks_land_exactly)
{
	index_damage_case(BOTH_MISSING);
}

/* ---- 5. corrupt index entries ---- */

Test(recovery, bit_flip_in_an_idx_entry_is_rebuilt_and_reads_stay_exact)
{
	index_damage_case(IDX_FLIP);
}

Test(recovery, bit_flip_in_a_tix_entry_is_rebuilt_and_reads_stay_exact)
{
	index_damage_case(TIX_FLIP);
}

/* Rewrites entry k of a segment's .idx and .tix to name the batch at off
 * (whose crc is crc), keeping rel_seq and ts_ns, with valid entry CRCs. */
static void misdirect_entry(const char *d, uint64_t base, uint32_t k, uint32_t off, uint32_t crc)
{
	char ip[PATH_CAP], tp[PATH_CAP];
	struct sl_idx_entry e;
	struct sl_tix_entry x;
	int fd;

	t_seg_path(ip, sizeof(ip), d, base, "idx");
	t_seg_path(tp, sizeof(tp), d, base, "tix");
	fd = open(ip, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &e, sizeof(e), (off_t)(k * sizeof(e))), (ssize_t)sizeof(e));
	e.offset = off;
	e.batch_crc = crc;
	e.entry_crc = sl_crc32c(0, &e, offsetof(struct sl_idx_entry, entry_crc));
	cr_assert_eq(pwrite(fd, &e, sizeof(e), (off_t)(k * sizeof(e))), (ssize_t)sizeof(e));
	close(fd);
	fd = open(tp, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &x, sizeof(x), (off_t)(k * sizeof(x))), (ssize_t)sizeof(x));
	x.offset = off;
	x.batch_crc = crc;
	x.entry_crc = sl_crc32c(0, &x, offsetof(struct sl_tix_entry, entry_crc));
	cr_assert_eq(pwrite(fd, &x, sizeof(x), (off_t)(k * sizeof(x))), (ssize_t)sizeof(x));
	close(fd);
}

/*
 * An index entry that passes every check of its own (entry CRCs, increasing
 * offsets, .idx and .tix agreeing) but names another real batch, with that
 * batch's crc (a stale or misdirected write): whoever uses it must verify
 * it against the batch's sequence number, so seeks still land exactly.
 */
Test(recovery, index_entry_naming_another_valid_batch_is_not_trusted)
{
	char logd[PATH_CAP], seg[PATH_CAP], ip[PATH_CAP];
	struct sl_log_report rep;
	struct sl_reader_stats rs;
	struct sl_record_out out[1];
	struct sl_reader *r;
	struct model m = {0};
	struct sl_log *lg;
	struct sl_idx_entry e[2];
	struct sl_batch_hdr h;
	static struct bat b[2048];
	uint64_t bases[8];
	int nseg, nb, j, fd, seeks = 0;

	sub(logd, "log");
	nseg = build_ts_log(logd, &m, bases);
	t_seg_path(seg, sizeof(seg), logd, bases[0], "log");
	t_seg_path(ip, sizeof(ip), logd, bases[0], "idx");
	nb = walk_batches(seg, b, 2048);
	cr_assert_gt(nb, 100);
	fd = open(ip, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, e, sizeof(e), 10 * sizeof(e[0])), (ssize_t)sizeof(e));
	close(fd);
	for (j = 0; j < nb && b[j].off != e[0].offset; j++)
		;
	cr_assert_lt(j + 2, nb);
	cr_assert_lt(b[j + 2].off, e[1].offset, "the batch named is between entries 10 and 11");
	fd = open(seg, O_RDONLY);
	cr_assert_eq(pread(fd, &h, sizeof(h), (off_t)b[j + 2].off), (ssize_t)sizeof(h));
	close(fd);
	misdirect_entry(logd, bases[0], 10, (uint32_t)b[j + 2].off, h.crc);

	lg = open_log(logd, &rep);
	assert_log_is(lg, &m);
	/* Every record the entry covers, by sequence number... */
	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	for (uint64_t seq = b[j].seq; seq < b[j + 4].seq; seq++, seeks++) {
		size_t i = (size_t)(seq - m.e[0].seq);

		cr_assert_eq(m.e[i].seq, seq);
		cr_assert_eq(sl_reader_seek_at_seq(r, seq), 0);
		cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1);
		cr_assert_eq(out[0].seq, seq);
		cr_assert(t_record_check(&out[0], m.e[i].i, m.e[i].len, m.e[i].seed));
		/* ... and by timestamp. */
		cr_assert_eq(sl_reader_seek_at_timestamp(r, m.e[i].ts), 0);
		cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1);
		cr_assert_eq(out[0].seq, seq, "at ts: got %" PRIu64 ", want %" PRIu64, out[0].seq,
		             seq);
	}
	cr_assert_eq(seeks, 20);
	sl_reader_stats(r, &rs);
	sl_reader_free(r);
	cr_assert(rep.index_rebuilt == 1 || rs.index_misses >= 1,
	          "the bad entry was caught (index_rebuilt %u, index_misses %" PRIu64 ")",
	          rep.index_rebuilt, rs.index_misses);
	check_seeks(lg, &m, bases, nseg, "misdirected index entry");
	cr_assert_eq(sl_log_close(lg), 0);
	model_free(&m);
}

/* ---- 6. garbage in the directory ---- */

Test(recovery, garbage_files_in_the_directory_are_ignored)
{
	static const char *const names[] = {
	        "foo",
	        "123.log",
	        "00000000000000000000.log", /* base 0: never a segment */
	        "00000000000000000000.idx",
	        "0000000000000000001.log",   /* 19 digits */
	        "000000000000000000001.log", /* 21 digits */
	        "99999999999999999999.log",  /* over 64 bits */
	        "0000000000000000000x.log",
	        "00000000000000000001.log~",
	        "00000000000000000001.LOG",
	        ".00000000000000000001.log",
	        "00000000000000000001.tmp",
	        "foo.log",
	        "foo.idx",
	};
	const size_t nn = sizeof(names) / sizeof(names[0]);
	char logd[PATH_CAP], p[PATH_CAP];
	static const char junk[] = "not a sluice segment\n";
	struct sl_log_report rep;
	struct model m = {0};
	struct sl_log *lg;

	sub(logd, "log");
	cr_assert_eq(build_sealed_log(logd, &m, 2200, 8, 1000, 61), 3);
	for (size_t i = 0; i < nn; i++) {
		join(p, logd, names[i]);
		write_bytes(p, 0, junk, sizeof(junk) - 1);
	}
	join(p, logd, "00000000000000000009.log.d");
	cr_assert_eq(mkdir(p, 0755), 0);

	for (int round = 0; round < 2; round++) {
		lg = open_log(logd, &rep);
		cr_assert_eq(rep.segments, 3 + round, "round %d", round);
		cr_assert_eq(rep.bad_headers, 0);
		cr_assert_eq(rep.removed_empty, 0);
		cr_assert_eq(rep.corrupt_batches, 0);
		cr_assert_eq(rep.torn_segments, 0);
		cr_assert_eq(rep.first_seq, m.e[0].seq);
		cr_assert_eq(rep.last_seq, m.e[m.n - 1].seq);
		cr_assert_eq(rep.next_seq, sl_seq_first_of_epoch(2 + (uint64_t)round));
		assert_log_is(lg, &m);
		if (round == 0) {
			fill(&m, lg, 5000, 7, 7, 100, 62);
			cr_assert_eq(t_drain(st, lg, NULL), 0);
		}
		cr_assert_eq(sl_log_close(lg), 0);
		/* Left alone. */
		for (size_t i = 0; i < nn; i++) {
			join(p, logd, names[i]);
			cr_assert_eq(t_file_size(p), sizeof(junk) - 1, "%s", names[i]);
		}
	}
	model_free(&m);
}

/* A file that has a segment's name but not its content: not readable data,
 * reported as a bad header and dropped, while the real segments stay. */
Test(recovery, file_with_a_segment_name_and_garbage_content_does_not_break_open)
{
	char logd[PATH_CAP], p[PATH_CAP];
	static const char junk[] = "not a sluice segment\n";
	struct sl_log_report rep;
	struct model m = {0};
	struct sl_log *lg;

	sub(logd, "log");
	cr_assert_eq(build_sealed_log(logd, &m, 500, 10, 100, 63), 1);
	/* Base 7 in epoch 0: sorts before the real segment. */
	join(p, logd, "00000000000000000007.log");
	write_bytes(p, 0, junk, sizeof(junk) - 1);

	lg = open_log(logd, &rep);
	cr_assert_eq(rep.bad_headers, 1);
	cr_assert_eq(rep.segments, 1);
	cr_assert_eq(rep.removed_empty, 1);
	cr_assert_eq(rep.corrupt_batches, 0);
	cr_assert_eq(rep.first_seq, m.e[0].seq);
	cr_assert_eq(rep.last_seq, m.e[m.n - 1].seq);
	cr_assert_eq(rep.next_seq, sl_seq_first_of_epoch(2));
	assert_log_is(lg, &m);
	cr_assert_eq(sl_log_close(lg), 0);
	model_free(&m);
}

/* ---- 7. corruption that the index proves, and segments with nothing left ---- */

/*
 * A log that crashed with 40 batches of 4 records of 200 bytes (1008 bytes
 * each: an index point every 5th batch, 0 to 35) in its active segment: the
 * directory is copied to snap while the log is open, once the index files
 * hold all 8 points. Returns the segment's base; its batches go to b.
 */
static uint64_t build_crashed_log(const char *snap, struct model *m, struct bat *b)
{
	char logd[PATH_CAP], seg[PATH_CAP];
	uint64_t bases[4];
	struct sl_log *lg;

	sub(logd, "log");
	lg = open_log(logd, NULL);
	fill(m, lg, 0, 160, 4, 200, 71);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(sl_log_durable_next(lg), sl_log_next_seq(lg), "all durable");
	cr_assert_eq(t_list_segments(logd, bases, 4), 1);
	t_seg_path(seg, sizeof(seg), logd, bases[0], "log");
	cr_assert_eq(walk_batches(seg, b, 64), 40);
	cr_assert_eq(b[0].len, 1008);
	cr_assert_eq(index_points(b, 40), 8);
	cr_assert_eq(b[35].off - b[30].off, 5 * 1008, "the last index point is batch 35");
	wait_index(logd, bases[0], 8);
	copy_dir(logd, snap);
	cr_assert_eq(sl_log_close(lg), 0);
	return bases[0];
}

/* What the index files of the crashed copy hold when it is opened. */
enum crash_index {
	CI_WHOLE,      /* all 8 points, as written */
	CI_TIX_BEHIND, /* .tix cut to 2 entries: the index is rebuilt by a full scan */
	CI_IDX_BEHIND, /* .idx cut to 2 entries (batches 0 and 5), .tix whole: rebuilt */
	CI_FIRST_ONLY, /* both cut to the entry of batch 0: nothing after batch 3 */
};

struct crash_case {
	int corrupt; /* a batch whose payload has a flipped bit, proven durable; -1: none */
	int torn;    /* likewise, but no index point after it verifies; -1: none */
	enum crash_index index;
	const char *what;
};

/* Cuts an index file of the crashed segment in work to n entries of esize. */
static void cut_index(const char *work, uint64_t base, const char *ext, size_t esize, uint32_t n)
{
	char p[PATH_CAP];

	t_seg_path(p, sizeof(p), work, base, ext);
	cr_assert_gt(t_file_size(p), n * esize);
	t_truncate(p, n * esize);
}

/*
 * Opens a copy of the crashed log damaged as c says, twice (appending a few
 * records in between), and tallies what recovery and the readers report.
 * The torn batch is a torn tail: cut at the first open, with everything
 * after it. The corrupt one is corruption: reported with exactly its range,
 * nothing cut, every other record readable.
 */
static void crashed_flip_case(struct tally *t, const char *snap, const struct model *m,
                              const struct bat *b, uint64_t base, const struct crash_case *c)
{
	char work[PATH_CAP], seg[PATH_CAP];
	const struct bat *x = c->corrupt >= 0 ? &b[c->corrupt] : NULL;
	const struct bat *y = c->torn >= 0 ? &b[c->torn] : NULL;
	const uint64_t lo = x ? x->seq : 0, hi = x ? x->seq + x->count - 1 : 0;
	/* Where the valid data ends once the torn tail is cut. */
	const uint64_t data_end = y ? y->off : b[39].off + b[39].len;
	struct model keep = {0};

	sub(work, "work");
	restore(snap, work);
	t_seg_path(seg, sizeof(seg), work, base, "log");
	if (x)
		t_flip_bit(seg, x->off + x->len / 2, 5);
	if (y)
		t_flip_bit(seg, y->off + y->len / 3, 2);
	switch (c->index) {
	case CI_WHOLE:
		break;
	case CI_TIX_BEHIND:
		cut_index(work, base, "tix", sizeof(struct sl_tix_entry), 2);
		break;
	case CI_IDX_BEHIND:
		cut_index(work, base, "idx", sizeof(struct sl_idx_entry), 2);
		break;
	case CI_FIRST_ONLY:
		cut_index(work, base, "idx", sizeof(struct sl_idx_entry), 1);
		cut_index(work, base, "tix", sizeof(struct sl_tix_entry), 1);
		break;
	}
	model_copy(&keep, m);
	if (y)
		cr_assert_eq(model_drop(&keep, y->seq, UINT64_MAX), (size_t)(40 - c->torn) * 4);
	if (x)
		cr_assert_eq(model_drop(&keep, lo, hi), x->count);

	for (int round = 0; round < 2; round++) {
		struct sl_log_report rep;
		struct sl_reader_stats rs;
		struct sl_seg_hdr h = {0};
		struct sl_log *lg;
		char ctx[160];
		const char *d;
		/* A full scan at open meets the corrupt batch; one that starts
		 * at the last index point does not, and leaves it to the
		 * readers, as in a sealed segment. */
		bool scanned = round == 0 && c->index != CI_WHOLE;

		snprintf(ctx, sizeof(ctx), "%s, %s open", c->what, round ? "second" : "first");
		t->cases++;
		lg = open_log(work, &rep);
		TALLY_EQ(t, "bad_headers", rep.bad_headers, 0, ctx);
		TALLY_EQ(t, "segments", rep.segments, 1 + round, ctx);
		TALLY_EQ(t, "removed_empty", rep.removed_empty, 0, ctx);
		TALLY_EQ(t, "first_seq", rep.first_seq, keep.e[0].seq, ctx);
		TALLY_EQ(t, "last_seq", rep.last_seq, keep.e[keep.n - 1].seq, ctx);
		TALLY_EQ(t, "next_seq", rep.next_seq, sl_seq_first_of_epoch(2 + (uint64_t)round),
		         ctx);
		TALLY_EQ(t, "torn_segments", rep.torn_segments, y && round == 0, ctx);
		if (y && round == 0)
			TALLY_EQ(t, "torn_offset", rep.torn_offset, y->off, ctx);
		if (x && scanned)
			TALLY_EQ(t, "corrupt_batches", rep.corrupt_batches, 1, ctx);
		else if (x)
			tally(t, "corrupt_batches", rep.corrupt_batches <= 1,
			      "%s: corrupt_batches %u", ctx, rep.corrupt_batches);
		else
			TALLY_EQ(t, "corrupt_batches", rep.corrupt_batches, 0, ctx);
		if (rep.corrupt_batches > 0) {
			TALLY_EQ(t, "corrupt_first_seq", rep.corrupt_first_seq, lo, ctx);
			TALLY_EQ(t, "corrupt_last_seq", rep.corrupt_last_seq, hi, ctx);
		}
		d = diff_log(lg, &keep, &rs);
		tally(t, "records read", d == NULL, "%s: %s", ctx, d);
		TALLY_EQ(t, "reader corrupt_batches", rs.corrupt_batches, x != NULL, ctx);
		if (x) {
			TALLY_EQ(t, "reader corrupt_first_seq", rs.corrupt_first_seq, lo, ctx);
			TALLY_EQ(t, "reader corrupt_last_seq", rs.corrupt_last_seq, hi, ctx);
			/* Nothing cut: the damaged batch and every valid one
			 * after it are still in the file. */
			tally(t, "data kept", t_file_size(seg) >= data_end,
			      "%s: segment file is %" PRIu64 " bytes, data ends at %" PRIu64, ctx,
			      t_file_size(seg), data_end);
			tally(t, "the damaged batch stays on disk",
			      walk_batches(seg, (struct bat[64]){0}, 64) >= c->corrupt + 1,
			      "%s: batch %d is gone", ctx, c->corrupt);
		}
		if (y)
			tally(t, "sealed at the cut",
			      read_seg_hdr(seg, &h) && h.state == SL_SEG_SEALED &&
			              h.end_offset == y->off,
			      "%s: state %u, end_offset %" PRIu64 ", want %" PRIu64, ctx, h.state,
			      h.end_offset, y->off);
		if (round == 0) {
			fill(&keep, lg, 1000, 6, 3, 200, 72);
			cr_assert_eq(t_drain(st, lg, NULL), 0);
		}
		cr_assert_eq(sl_log_close(lg), 0);
	}
	model_free(&keep);
}

/* Builds one crashed log, then runs each damage case on a copy of it. */
static void run_crash_cases(const struct crash_case *cases, size_t n)
{
	char snap[PATH_CAP];
	struct model m = {0};
	struct tally t = {0};
	struct bat b[64];
	uint64_t base;

	sub(snap, "snap");
	base = build_crashed_log(snap, &m, b);
	for (size_t i = 0; i < n; i++)
		crashed_flip_case(&t, snap, &m, b, base, &cases[i]);
	cr_assert_eq(t.cases, 2 * n);
	model_free(&m);
	tally_assert(&t);
}

/*
 * In an unsealed segment, an invalid batch is a torn tail unless an index
 * entry that verifies against its batch lies after it: index entries are
 * written only for durable batches, so that entry proves the invalid batch
 * was durable (acked) too. It is then corruption: reported with its range,
 * nothing is cut, and the batches after it stay readable. Batch 3 lies
 * between the index points of batches 0 and 5; with the index whole,
 * recovery scans only from batch 35 on, so the other cases make it scan the
 * whole segment, as it does when one index file lags behind the other. The
 * last case also has a torn last batch, after the last index point.
 */
Test(recovery, corruption_before_an_index_point_in_an_unsealed_segment_is_not_cut)
{
	static const struct crash_case cases[] = {
	        {3, -1, CI_WHOLE, "batch 3, index whole"},
	        {3, -1, CI_TIX_BEHIND, "batch 3, .tix behind (full scan)"},
	        {3, -1, CI_IDX_BEHIND, "batch 3, .idx holds batches 0 and 5 (full scan)"},
	        {20, -1, CI_TIX_BEHIND, "batch 20, .tix behind (full scan)"},
	        {3, 39, CI_TIX_BEHIND, "batch 3, torn batch 39, .tix behind (full scan)"},
	};
	run_crash_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* The counterparts: with no index entry after it that verifies, the invalid
 * batch is a torn tail, cut with everything after it: the last batch (after
 * the last index point), and batch 3 when the index holds only batch 0. */
Test(recovery, invalid_batch_with_no_index_point_after_it_in_an_unsealed_segment_is_a_torn_tail)
{
	static const struct crash_case cases[] = {
	        {-1, 39, CI_WHOLE, "torn batch 39 (the last), index whole"},
	        {-1, 37, CI_WHOLE, "torn batch 37 (after the last index point), index whole"},
	        {-1, 39, CI_TIX_BEHIND, "torn batch 39 (the last), .tix behind (full scan)"},
	        {-1, 3, CI_FIRST_ONLY, "torn batch 3, index holds only batch 0"},
	};
	run_crash_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/*
 * A sealed segment in which recovery finds corruption is never deleted as
 * empty, even when not one of its batches is valid: it held acked records,
 * and the report must keep saying so. One bit of every batch of one segment
 * (the oldest, the middle one, the newest) is flipped; the other segments
 * read back intact, at the open and after a reopen.
 */
Test(recovery, a_sealed_segment_with_no_valid_batch_is_kept_and_reported)
{
	char logd[PATH_CAP], snap[PATH_CAP], seg[PATH_CAP];
	static struct bat b[256];
	struct model m = {0};
	struct tally t = {0};
	uint64_t bases[8];

	sub(logd, "log");
	sub(snap, "snap");
	cr_assert_eq(build_sealed_log(snap, &m, 2200, 8, 1000, 73), 3);
	cr_assert_eq(t_list_segments(snap, bases, 8), 3);

	for (int s = 0; s < 3; s++) {
		uint64_t lo = bases[s], hi = s + 1 < 3 ? bases[s + 1] - 1 : UINT64_MAX;
		struct model keep = {0};
		int nb;

		restore(snap, logd);
		t_seg_path(seg, sizeof(seg), logd, bases[s], "log");
		nb = walk_batches(seg, b, 256);
		cr_assert_geq(nb, 20);
		for (int k = 0; k < nb; k++)
			t_flip_bit(seg,
			           b[k].off + SL_BATCH_HDR_BYTES +
			                   (k * 97) % (b[k].len - SL_BATCH_HDR_BYTES),
			           k % 8);
		cr_assert_eq(walk_batches(seg, b, 256), nb, "headers intact, payloads damaged");
		model_copy(&keep, &m);
		cr_assert_gt(model_drop(&keep, lo, hi), 100);

		for (int round = 0; round < 2; round++) {
			struct sl_log_report rep;
			struct sl_log *lg;
			char ctx[96];
			const char *d;

			snprintf(ctx, sizeof(ctx), "segment %d, %s open", s,
			         round ? "second" : "first");
			t.cases++;
			lg = open_log(logd, &rep);
			TALLY_EQ(&t, "segments", rep.segments, 3 + round, ctx);
			TALLY_EQ(&t, "removed_empty", rep.removed_empty, 0, ctx);
			TALLY_EQ(&t, "bad_headers", rep.bad_headers, 0, ctx);
			TALLY_EQ(&t, "torn_segments", rep.torn_segments, 0, ctx);
			tally(&t, "corrupt_batches", rep.corrupt_batches >= 1,
			      "%s: corrupt_batches 0", ctx);
			TALLY_EQ(&t, "corrupt_first_seq", rep.corrupt_first_seq, lo, ctx);
			/* The newest segment's records end where nothing says. */
			if (s + 1 < 3)
				TALLY_EQ(&t, "corrupt_last_seq", rep.corrupt_last_seq, hi, ctx);
			TALLY_EQ(&t, "first_seq", rep.first_seq, keep.e[0].seq, ctx);
			TALLY_EQ(&t, "last_seq", rep.last_seq, keep.e[keep.n - 1].seq, ctx);
			TALLY_EQ(&t, "next_seq", rep.next_seq,
			         sl_seq_first_of_epoch(2 + (uint64_t)round), ctx);
			tally(&t, "segment file kept", exists(seg), "%s: %s deleted", ctx, seg);
			d = diff_log(lg, &keep, NULL);
			tally(&t, "records read", d == NULL, "%s: %s", ctx, d);
			if (round == 0) {
				fill(&keep, lg, 5000, 7, 7, 100, 74);
				cr_assert_eq(t_drain(st, lg, NULL), 0);
			}
			cr_assert_eq(sl_log_close(lg), 0);
		}
		model_free(&keep);
	}
	cr_assert_eq(t.cases, 6);
	model_free(&m);
	tally_assert(&t);
}

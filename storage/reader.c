/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Readers: shard iterators over a log, on any thread.
 *
 * A reader's position is a sequence number (next_seq) and, once located,
 * the segment file and the offset of the batch holding it. Locating goes
 * through the segment list (binary search by base sequence number) and the
 * segment's offset index (binary search by relative sequence number); the
 * entry found is verified against the batch it names before it is used.
 * Reading stops at the log's durable (or written) watermark, so a reader
 * never returns a record that could still be lost, unless it asked to.
 *
 * Inside sealed data an invalid batch is corruption: it is counted, its
 * range kept in the stats, and the reader resumes at the next valid batch.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler.h"
#include "internal.h"

struct sl_reader {
	struct sl_log *log;
	unsigned flags;
	uint64_t next_seq;
	int64_t min_ts; /* skip records that arrived before this (AT_TIMESTAMP) */

	int fd; /* -1: not located */
	struct segdesc seg;
	uint64_t off;
	uint64_t expect; /* base_seq the batch at off must have: a segment's
	                    batches are contiguous, so anything else there
	                    (stale or foreign bytes) ends the data */

	uint8_t *bbuf;
	size_t bcap;
	uint8_t *arena;
	size_t arena_cap;

	struct sl_reader_stats stats;
};

int sl_reader_open(struct sl_log *log, unsigned flags, struct sl_reader **ret)
{
	struct sl_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->log = log;
	r->flags = flags;
	r->fd = -1;
	r->min_ts = INT64_MIN;
	r->next_seq = sl_log_trim_horizon(log);
	*ret = r;
	return 0;
}

void sl_reader_free(struct sl_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->bbuf);
	free(r->arena);
	free(r);
}

static void unlocate(struct sl_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

static uint64_t limit(const struct sl_reader *r)
{
	return r->flags & SL_READER_WRITTEN ? sl_log_written_next(r->log)
	                                    : sl_log_durable_next(r->log);
}

/* Index of the last segment whose base is <= seq, or 0. Caller locks. */
static unsigned seg_lookup_locked(const struct sl_log *log, uint64_t seq)
{
	unsigned lo = 0, hi = log->nsegs;

	while (hi - lo > 1) {
		unsigned mid = lo + (hi - lo) / 2;

		if (log->segs[mid].base_seq <= seq)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Copies the descriptor of the segment that holds (or follows) seq. */
static int seg_for_seq(struct sl_log *log, uint64_t seq, struct segdesc *ret)
{
	int r = -ENOENT;

	pthread_mutex_lock(&log->lock);
	if (log->nsegs > 0) {
		*ret = log->segs[seg_lookup_locked(log, seq)];
		r = 0;
	}
	pthread_mutex_unlock(&log->lock);
	return r;
}

static int seg_refresh(struct sl_log *log, struct segdesc *d)
{
	int r = -ENOENT;

	pthread_mutex_lock(&log->lock);
	for (unsigned i = log->nsegs; i-- > 0;) {
		if (log->segs[i].base_seq == d->base_seq) {
			*d = log->segs[i];
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&log->lock);
	return r;
}

static int seg_next(struct sl_log *log, uint64_t base, struct segdesc *ret)
{
	int r = -ENOENT;

	pthread_mutex_lock(&log->lock);
	for (unsigned i = 0; i < log->nsegs; i++) {
		if (log->segs[i].base_seq > base) {
			*ret = log->segs[i];
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&log->lock);
	return r;
}

static uint64_t seg_room(const struct sl_reader *r)
{
	/* Only a sealed segment's end is known; in the active one a batch is
	 * bounded by the file and the length checks. */
	uint64_t end = r->seg.sealed ? r->seg.end_offset : r->seg.file_bytes;

	return r->off < end ? end - r->off : 0;
}

/* Opens the segment holding next_seq and finds the batch to start from. */
static int locate(struct sl_reader *r)
{
	char name[SL_SEG_NAME_MAX];
	struct sl_idx_entry *idx = NULL;
	uint32_t n = 0;

	for (int tries = 0;; tries++) {
		int err = seg_for_seq(r->log, r->next_seq, &r->seg);

		if (err < 0)
			return err;
		if (r->next_seq < r->seg.base_seq)
			r->next_seq = r->seg.base_seq; /* expired: move to the trim horizon */
		sl_seg_name(name, r->seg.base_seq, "log");
		r->fd = openat(r->log->dirfd, name, O_RDONLY | O_CLOEXEC);
		if (r->fd >= 0)
			break;
		/* Deleted by retention between the lookup and the open. */
		if (errno != ENOENT || tries > 8)
			return -errno;
	}
	r->off = SL_SEG_HDR_BYTES;
	r->expect = r->seg.base_seq;
	sl_index_load_idx(r->log->dirfd, r->seg.base_seq, &idx, &n);
	if (n > 0) {
		uint64_t rel = r->next_seq - r->seg.base_seq;
		uint32_t lo = 0, hi = n;
		struct sl_batch_hdr h;

		while (hi - lo > 1) {
			uint32_t mid = lo + (hi - lo) / 2;

			if (idx[mid].rel_seq <= rel)
				lo = mid;
			else
				hi = mid;
		}
		r->off = idx[lo].offset;
		r->expect = r->seg.base_seq + idx[lo].rel_seq;
		if (sl_seg_read_batch(r->fd, r->off, seg_room(r), r->expect, &r->bbuf, &r->bcap,
		                      &h) < 0 ||
		    h.crc != idx[lo].batch_crc) {
			r->stats.index_misses++;
			r->off = SL_SEG_HDR_BYTES;
			r->expect = r->seg.base_seq;
		}
	}
	free(idx);
	return 0;
}

static int arena_reserve(struct sl_reader *r, size_t need)
{
	if (need <= r->arena_cap)
		return 0;
	size_t cap = SL_MAX(need, r->arena_cap * 2);
	uint8_t *a = realloc(r->arena, cap);

	if (!a)
		return -ENOMEM;
	r->arena = a;
	r->arena_cap = cap;
	return 0;
}

/* Moves to the segment after the current one; false if there is none. */
static bool advance_segment(struct sl_reader *r)
{
	struct segdesc next;

	if (seg_next(r->log, r->seg.base_seq, &next) < 0)
		return false;
	unlocate(r);
	r->next_seq = SL_MAX(r->next_seq, next.base_seq);
	return true;
}

int sl_reader_read(struct sl_reader *r, struct sl_record_out *out, unsigned max_records,
                   size_t max_bytes)
{
	uint64_t lim = limit(r);
	size_t used = 0, bytes = 0;
	unsigned n = 0;
	int err;

	while (n < max_records && r->next_seq < lim) {
		struct sl_batch_hdr h;
		uint32_t roff = SL_BATCH_HDR_BYTES;
		bool full = false;

		if (r->fd < 0 && (err = locate(r)) < 0)
			return n > 0 ? (int)n : (err == -ENOENT ? 0 : err);
		err = sl_seg_read_batch(r->fd, r->off, seg_room(r), r->expect, &r->bbuf, &r->bcap,
		                        &h);
		if (err == -EBADMSG || err == -ENODATA) {
			uint64_t noff;

			if (!r->seg.sealed) {
				/* The end of what the active segment holds, or it
				 * has been sealed since we looked. */
				if (seg_refresh(r->log, &r->seg) == 0 && !r->seg.active &&
				    r->seg.sealed)
					continue;
				if (!r->seg.active && r->seg.next_seq && advance_segment(r))
					continue;
				break;
			}
			if (r->off >= r->seg.end_offset) {
				if (!advance_segment(r))
					break;
				continue;
			}
			/* A segment retention retired while this reader had it open
			 * may since have been reused and overwritten: its records
			 * expired, they are not corrupt. */
			struct segdesc now = r->seg;

			if (seg_refresh(r->log, &now) < 0) {
				unlocate(r);
				r->next_seq = SL_MAX(r->next_seq, sl_log_trim_horizon(r->log));
				continue;
			}
			/* Corruption inside sealed data. */
			uint64_t max_seq =
			        r->seg.next_seq
			                ? r->seg.next_seq
			                : sl_seq_first_of_epoch(sl_seq_epoch(r->seg.base_seq) + 1);

			if (sl_seg_resync(r->fd, r->off + 8, r->seg.end_offset, r->next_seq + 1,
			                  max_seq, &noff, &h) == 0) {
				r->stats.corrupt_batches++;
				r->stats.corrupt_first_seq = r->next_seq;
				r->stats.corrupt_last_seq = h.base_seq - 1;
				r->next_seq = h.base_seq;
				r->off = noff;
				r->expect = h.base_seq;
				continue;
			}
			r->stats.corrupt_batches++;
			r->stats.corrupt_first_seq = r->next_seq;
			r->stats.corrupt_last_seq =
			        r->seg.next_seq ? r->seg.next_seq - 1 : r->next_seq;
			if (!advance_segment(r))
				break;
			continue;
		}
		if (err < 0)
			return n > 0 ? (int)n : err;
		if (h.base_seq + h.count <= r->next_seq) {
			r->off += h.length;
			r->expect = h.base_seq + h.count;
			continue;
		}
		if (h.base_seq >= lim)
			break;
		if (h.base_seq > r->next_seq)
			r->next_seq = h.base_seq;
		for (uint32_t i = 0; i < h.count; i++) {
			struct sl_record_hdr rh;
			const uint8_t *key, *data;
			uint64_t seq = h.base_seq + i;
			size_t sz;

			sl_batch_record_at(r->bbuf, &roff, &rh, &key, &data);
			if (seq < r->next_seq)
				continue;
			if (rh.arrival_ns < r->min_ts) {
				r->next_seq = seq + 1;
				continue;
			}
			sz = (size_t)rh.key_len + rh.data_len;
			if (n == max_records || (n > 0 && bytes + sz > max_bytes)) {
				full = true;
				break;
			}
			if (arena_reserve(r, used + sz) < 0)
				return n > 0 ? (int)n : -ENOMEM;
			memcpy(r->arena + used, key, rh.key_len);
			memcpy(r->arena + used + rh.key_len, data, rh.data_len);
			out[n] = (struct sl_record_out){
			        .seq = seq,
			        .arrival_ns = rh.arrival_ns,
			        .key = (const void *)(uintptr_t)used,
			        .key_len = rh.key_len,
			        .data_len = rh.data_len,
			};
			memcpy(out[n].hash_key, rh.hash_key, sizeof(rh.hash_key));
			r->min_ts = INT64_MIN; /* arrival times never decrease after */
			used += sz;
			bytes += sz;
			n++;
			r->next_seq = seq + 1;
		}
		if (full)
			break;
		r->off += h.length;
		r->expect = h.base_seq + h.count;
	}
	/* Offsets became pointers only now: the arena may have moved. */
	for (unsigned i = 0; i < n; i++) {
		uintptr_t o = (uintptr_t)out[i].key;

		out[i].key = r->arena + o;
		out[i].data = r->arena + o + out[i].key_len;
	}
	return (int)n;
}

int sl_reader_seek_at_seq(struct sl_reader *r, uint64_t seq)
{
	unlocate(r);
	r->min_ts = INT64_MIN;
	r->next_seq = SL_MAX(seq, sl_log_trim_horizon(r->log));
	return 0;
}

int sl_reader_seek_after_seq(struct sl_reader *r, uint64_t seq)
{
	return sl_reader_seek_at_seq(r, seq == UINT64_MAX ? seq : seq + 1);
}

int sl_reader_seek_trim_horizon(struct sl_reader *r)
{
	return sl_reader_seek_at_seq(r, 0);
}

int sl_reader_seek_latest(struct sl_reader *r)
{
	return sl_reader_seek_at_seq(r, limit(r));
}

int sl_reader_seek_at_timestamp(struct sl_reader *r, int64_t ts_ns)
{
	struct sl_log *log = r->log;
	struct sl_tix_entry *tix = NULL;
	struct segdesc d;
	bool found = false;
	uint32_t n = 0;

	/* The first segment that has a record at or after ts_ns: a sealed one
	 * whose last record is not older, or the active one. */
	pthread_mutex_lock(&log->lock);
	for (unsigned i = 0; i < log->nsegs; i++) {
		const struct segdesc *s = &log->segs[i];

		if (s->first_ts == INT64_MIN && !s->active)
			continue;
		if (s->active || s->last_ts >= ts_ns) {
			d = *s;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&log->lock);
	if (!found)
		return sl_reader_seek_latest(r);

	unlocate(r);
	r->next_seq = d.base_seq;
	/* Start at the last indexed batch that began before ts_ns; records
	 * before ts_ns in it and after it are skipped while reading. */
	sl_index_load_tix(log->dirfd, d.base_seq, &tix, &n);
	for (uint32_t lo = 0, hi = n; hi > lo;) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (tix[mid].ts_ns < ts_ns) {
			r->next_seq = d.base_seq + tix[mid].rel_seq;
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	free(tix);
	r->min_ts = ts_ns;
	return 0;
}

uint64_t sl_reader_position(const struct sl_reader *r)
{
	return r->next_seq;
}

void sl_reader_stats(const struct sl_reader *r, struct sl_reader_stats *ret)
{
	*ret = r->stats;
}

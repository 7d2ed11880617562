/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shard logs and the store that drives their I/O: append into a staging
 * ring, group commit, events, segment roll and seal, retention.
 *
 * Write path. An append encodes a whole batch into the log's staging ring
 * (a registered buffer) and returns; nothing is written yet. A poll turns
 * staged bytes into O_DIRECT writes of whole blocks, at most write_depth per
 * log and write_chunk_bytes each, and keeps one fdatasync per segment in
 * flight: when it completes, every batch whose write had completed before
 * it was issued is durable. While a fdatasync runs, new appends accumulate
 * and the next one covers them all (group commit). When nothing else is in
 * flight, the fdatasync is linked to the write (IOSQE_IO_LINK), so an idle
 * log acks in one write + one fdatasync round trip. A write issued while
 * another of the same log is in flight goes to io_uring's workers
 * (IOSQE_ASYNC, async_writes), so that ext4's extent work on preallocated
 * blocks does not block the poll thread in io_uring_enter().
 *
 * The last block of a write is usually partial; the next write starts at
 * that block again and rewrites it. Two writes never cover the same block
 * at the same time: a write starting inside a block waits for the write
 * that ended in it.
 *
 * Rolls. When a batch does not fit the active segment, the log moves on to
 * a new one at the next block of the ring at once; the janitor creates its
 * files (with the directory fsync that makes the name durable) while
 * appends go on, and writes to it start when they exist. The previous
 * segment, once durable with nothing in flight, goes to the janitor to be
 * sealed. A batch in the new segment is durable only after the previous
 * one is wholly durable.
 *
 * Invariants: durable <= written <= sub <= tail (see internal.h); a batch
 * is reported durable only when durable >= its end, and never before every
 * batch appended before it; a segment is sealed only when all its bytes are
 * durable and no operation refers to it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compiler.h"
#include "crc32c.h"
#include "err.h"
#include "fs.h"
#include "internal.h"

/* ---- configuration ---- */

void sl_store_config_default(struct sl_store_config *c)
{
	memset(c, 0, sizeof(*c));
#define SL_X_DEF(name, type, def, min, max, doc) c->name = (type)(def);
	SL_STORE_CONFIG(SL_X_DEF)
#undef SL_X_DEF
	c->backend = SL_IO_AUTO;
}

static bool is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

int sl_store_config_validate(const struct sl_store_config *c)
{
	uint64_t max_batch;

#define SL_X_CHECK(name, type, def, min, max, doc)                                                 \
	if ((uint64_t)c->name < (uint64_t)(min) || (uint64_t)c->name > (uint64_t)(max))            \
		return sl_err_set(-EINVAL, #name "=%llu is outside [%llu, %llu]",                  \
		                  (unsigned long long)c->name, (unsigned long long)(min),          \
		                  (unsigned long long)(max));
	SL_STORE_CONFIG(SL_X_CHECK)
#undef SL_X_CHECK
	if (!is_pow2(c->buffer_bytes))
		return sl_err_set(-EINVAL, "buffer_bytes=%u is not a power of two",
		                  c->buffer_bytes);
	if (c->segment_bytes % SL_BLOCK || c->write_chunk_bytes % SL_BLOCK)
		return sl_err_set(-EINVAL,
		                  "segment_bytes and write_chunk_bytes must be multiples "
		                  "of %u",
		                  SL_BLOCK);
	/* One record of the largest size, with the largest key, must fit half
	 * the ring (the other half drains) and one segment. */
	max_batch =
	        SL_BATCH_HDR_BYTES + sl_record_disk_bytes(SL_MAX_KEY_BYTES, c->max_record_bytes);
	if (max_batch > c->buffer_bytes / 2)
		return sl_err_set(-EINVAL,
		                  "buffer_bytes=%u cannot hold a batch of one max_record_bytes=%u "
		                  "record (needs at least %llu)",
		                  c->buffer_bytes, c->max_record_bytes,
		                  (unsigned long long)(max_batch * 2));
	if (c->buffer_bytes > c->segment_bytes - SL_SEG_HDR_BYTES)
		return sl_err_set(-EINVAL, "segment_bytes=%llu must exceed buffer_bytes=%u",
		                  (unsigned long long)c->segment_bytes, c->buffer_bytes);
	if (c->io_depth < c->write_depth + 4)
		return sl_err_set(-EINVAL, "io_depth=%u must exceed write_depth=%u by 4",
		                  c->io_depth, c->write_depth);
	return 0;
}

/* ---- store ---- */

int sl_store_create(const struct sl_store_config *c, struct sl_store **ret)
{
	struct sl_store *st;
	const char *env = getenv("SLUICE_IO_BACKEND");
	int r;

	r = sl_store_config_validate(c);
	if (r < 0)
		return r;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->cfg = *c;
	if (env && strcmp(env, "sync") == 0)
		st->cfg.backend = SL_IO_SYNC;
	else if (env && strcmp(env, "uring") == 0)
		st->cfg.backend = SL_IO_URING;
	st->logs = calloc(c->max_logs, sizeof(*st->logs));
	st->open = calloc(c->max_logs, sizeof(*st->open));
	st->cqe_cap = 256;
	st->cqes = calloc(st->cqe_cap, sizeof(*st->cqes));
	if (!st->logs || !st->open || !st->cqes) {
		r = -ENOMEM;
		goto fail;
	}
	r = sl_janitor_start(&st->janitor);
	if (r < 0)
		goto fail;
	r = sl_io_create(st->cfg.backend, c->io_depth, c->max_logs * 2, c->max_logs, &st->uring_err,
	                 &st->io);
	if (r < 0) {
		sl_err_set(r, "cannot set up the %s I/O backend",
		           sl_io_backend_name(st->cfg.backend));
		goto fail;
	}
	*ret = st;
	return 0;
fail:
	sl_store_free(st);
	return r;
}

void sl_store_free(struct sl_store *st)
{
	if (!st)
		return;
	while (st->open && st->nopen > 0)
		sl_log_close(st->open[st->nopen - 1]);
	sl_janitor_stop(st->janitor);
	sl_io_free(st->io);
	free(st->logs);
	free(st->open);
	free(st->cqes);
	free(st);
}

enum sl_io_backend sl_store_backend(const struct sl_store *st)
{
	return sl_io_backend(st->io);
}

int sl_store_set_helper_cpus(struct sl_store *st, const cpu_set_t *set)
{
	sl_io_set_worker_cpus(st->io, set);
	return sl_janitor_set_cpus(st->janitor, set);
}

int sl_store_uring_error(const struct sl_store *st)
{
	return st->uring_err;
}

/* ---- segment descriptors (shared with readers) ---- */

int sl_log_segs_push(struct sl_log *log, const struct segdesc *d)
{
	int r = 0;

	pthread_mutex_lock(&log->lock);
	if (log->nsegs == log->segs_cap) {
		unsigned cap = log->segs_cap ? log->segs_cap * 2 : 16;
		struct segdesc *n = realloc(log->segs, cap * sizeof(*n));

		if (!n) {
			r = -ENOMEM;
			goto out;
		}
		log->segs = n;
		log->segs_cap = cap;
	}
	log->segs[log->nsegs++] = *d;
out:
	pthread_mutex_unlock(&log->lock);
	return r;
}

static struct segdesc *segs_find_locked(struct sl_log *log, uint64_t base_seq)
{
	for (unsigned i = log->nsegs; i-- > 0;)
		if (log->segs[i].base_seq == base_seq)
			return &log->segs[i];
	return NULL;
}

/* ---- writer segments ---- */

static void log_fail(struct sl_log *log, int err)
{
	if (!log->err)
		log->err = err < 0 ? err : -EIO;
}

static void wseg_free(struct sl_log *log, struct wseg *s)
{
	if (!s)
		return;
	if (s->file.fd >= 0) {
		struct sl_io_file f;

		if (s->file.slot >= 0)
			sl_io_file_set(log->st->io, (unsigned)s->file.slot, -1, &f);
		close(s->file.fd);
	}
	if (s->new_fd >= 0)
		close(s->new_fd);
	if (s->idx_fd >= 0)
		close(s->idx_fd);
	if (s->tix_fd >= 0)
		close(s->tix_fd);
	free(s->idx);
	free(s->tix);
	free(s->idx_end);
	free(s);
}

/* Makes the writer state of the segment that starts at base_seq at
 * position tail; its files come from wseg_create_now() or the janitor. */
static struct wseg *wseg_alloc(struct sl_log *log, uint64_t base_seq)
{
	const struct sl_store_config *c = &log->st->cfg;
	struct wseg *s = calloc(1, sizeof(*s));
	struct segdesc d;

	if (!s)
		return NULL;
	s->log = log;
	s->file.fd = s->idx_fd = s->tix_fd = s->new_fd = -1;
	s->file.slot = -1;
	s->idx_cap =
	        (uint32_t)((c->segment_bytes - SL_SEG_HDR_BYTES) / c->index_interval_bytes + 2);
	s->idx = calloc(s->idx_cap, sizeof(*s->idx));
	s->tix = calloc(s->idx_cap, sizeof(*s->tix));
	s->idx_end = calloc(s->idx_cap, sizeof(*s->idx_end));
	if (!s->idx || !s->tix || !s->idx_end)
		goto fail;
	s->gen = log->gen++;
	s->base_seq = base_seq;
	s->capacity = c->segment_bytes;
	s->pos_base = log->tail;
	s->pos_end = UINT64_MAX;
	s->synced = s->pos_base;
	s->next_seq = base_seq;
	s->first_ts = s->last_ts = INT64_MIN;
	s->sync_op = (struct io_op){.kind = OP_SYNC, .log = log, .seg = s};
	s->idx_op = (struct io_op){.kind = OP_IDX, .log = log, .seg = s};
	s->tix_op = (struct io_op){.kind = OP_TIX, .log = log, .seg = s};
	d = (struct segdesc){.base_seq = base_seq,
	                     .first_ts = INT64_MIN,
	                     .last_ts = INT64_MIN,
	                     .file_bytes = c->segment_bytes,
	                     .active = true};
	if (sl_log_segs_push(log, &d) < 0)
		goto fail;
	return s;
fail:
	wseg_free(log, s);
	return NULL;
}

static int wseg_create_files(struct wseg *s)
{
	struct sl_log *log = s->log;
	int r = sl_seg_create(log->dirfd, s->base_seq, s->spare, s->capacity, log->shard_id,
	                      &s->new_fd, &s->idx_fd, &s->tix_fd);

	if (r < 0)
		sl_err_set(r, "cannot create segment %llu in %s", (unsigned long long)s->base_seq,
		           log->dir);
	return r;
}

/* Janitor: creates the files, then publishes them. */
static void job_create(struct sl_job *job)
{
	struct wseg *s = (struct wseg *)((char *)job - offsetof(struct wseg, job));
	struct sl_log *log = s->log;
	int r = wseg_create_files(s);

	/* Release: the descriptors written above are visible to the owner
	 * that reads state with acquire. */
	atomic_store_explicit(&s->state, r < 0 ? r : 1, memory_order_release);
	atomic_fetch_sub_explicit(&log->jpending, 1, memory_order_release);
}

/* Whether s has its files; registers them on first sight. Owner only. */
static bool wseg_ready(struct sl_log *log, struct wseg *s)
{
	int st;

	if (sl_likely(s->installed))
		return true;
	st = atomic_load_explicit(&s->state, memory_order_acquire);
	if (st == 0)
		return false;
	if (st < 0) {
		log_fail(log, st);
		return false;
	}
	sl_io_file_set(log->st->io, log->id * 2 + (s->gen & 1), s->new_fd, &s->file);
	s->new_fd = -1;
	s->installed = true;
	return true;
}

/* Starts the segment at base_seq now, blocking until its files exist: for
 * the first segment of an open and for a new epoch, whose name must be
 * durable before any of its sequence numbers is handed out (recovery
 * derives the next epoch from the names it finds). */
static int wseg_start_now(struct sl_log *log, uint64_t base_seq, struct wseg **ret)
{
	struct wseg *s = wseg_alloc(log, base_seq);
	int r;

	if (!s)
		return -ENOMEM;
	r = wseg_create_files(s);
	if (r < 0) {
		pthread_mutex_lock(&log->lock);
		log->nsegs--; /* the descriptor wseg_alloc() pushed */
		pthread_mutex_unlock(&log->lock);
		wseg_free(log, s);
		return r;
	}
	atomic_store_explicit(&s->state, 1, memory_order_relaxed);
	wseg_ready(log, s);
	*ret = s;
	return 0;
}

static void ring_zero(struct sl_log *log, uint64_t from, uint64_t to)
{
	while (from < to) {
		uint64_t i = from & log->ring_mask;
		uint64_t n = SL_MIN(to - from, log->ring_mask + 1 - i);

		memset(log->ring + i, 0, n);
		from += n;
	}
}

/*
 * Closes the active segment to appends and starts the next. Within an epoch
 * the janitor creates the files while appends go on into the ring (writes
 * wait for the files; a full ring throttles); a new epoch blocks here.
 */
static int roll(struct sl_log *log, uint64_t new_base)
{
	struct wseg *old = log->cur, *s;
	uint64_t old_tail = log->tail;
	bool new_epoch = sl_seq_epoch(new_base) != sl_seq_epoch(old->base_seq);
	struct segdesc *d;
	int r;

	/* The next segment starts on a block boundary of the ring, so no block
	 * is shared by two files. The gap is never written. */
	log->tail = sl_align_up(old_tail, SL_BLOCK);
	ring_zero(log, old_tail, log->tail);
	if (new_epoch) {
		r = wseg_start_now(log, new_base, &s);
		if (r < 0) {
			log->tail = old_tail;
			return r;
		}
	} else {
		s = wseg_alloc(log, new_base);
		if (!s) {
			log->tail = old_tail;
			return -ENOMEM;
		}
		pthread_mutex_lock(&log->lock);
		if (log->nspares > 0)
			s->spare = log->spares[--log->nspares];
		pthread_mutex_unlock(&log->lock);
		s->job.kind = SL_JOB_CREATE;
		s->job.fn = job_create;
		atomic_fetch_add_explicit(&log->jpending, 1, memory_order_relaxed);
		sl_janitor_push(log->st->janitor, &s->job);
	}
	log->cur = s;
	old->pos_end = old_tail;
	log->prev = old;
	pthread_mutex_lock(&log->lock);
	d = segs_find_locked(log, old->base_seq);
	if (d) {
		d->active = false;
		d->next_seq = old->next_seq;
		d->last_ts = old->last_ts;
	}
	pthread_mutex_unlock(&log->lock);
	log->stats.segments_rolled++;
	return 0;
}

/* Writes the rest of the index and the sealed header, gives back the
 * unused preallocation. Blocks: runs on the janitor, or in close. No data
 * write or fdatasync of s may be in flight (index writes may: they cover
 * entries below idx_sub, this writes the rest). */
static int seal(struct sl_log *log, struct wseg *s)
{
	uint64_t end_off = SL_SEG_HDR_BYTES + (s->pos_end - s->pos_base);
	struct sl_seg_hdr h;
	struct segdesc *d;
	int r = 0;

	if (s->idx_n > s->idx_sub) {
		size_t k = s->idx_n - s->idx_sub;

		if (pwrite(s->idx_fd, s->idx + s->idx_sub, k * sizeof(*s->idx),
		           (off_t)s->idx_sub * (off_t)sizeof(*s->idx)) < 0 ||
		    pwrite(s->tix_fd, s->tix + s->idx_sub, k * sizeof(*s->tix),
		           (off_t)s->idx_sub * (off_t)sizeof(*s->tix)) < 0)
			atomic_fetch_add_explicit(&log->jindex_errors, 1, memory_order_relaxed);
		s->idx_sub = s->idx_n;
	}
	memset(&h, 0, sizeof(h));
	h.magic = SL_SEG_MAGIC;
	h.version = SL_FORMAT_VERSION;
	h.base_seq = s->base_seq;
	h.capacity = s->capacity;
	h.shard_id = log->shard_id;
	h.state = SL_SEG_SEALED;
	h.end_offset = end_off;
	h.create_ns = s->first_ts == INT64_MIN ? 0 : s->first_ts;
	h.hdr_crc = sl_seg_hdr_crc(&h);
	r = sl_seg_hdr_write(s->file.fd, &h);
	if (r < 0)
		sl_err_set(r, "cannot seal segment %llu in %s", (unsigned long long)s->base_seq,
		           log->dir);
	if (r == 0 && fdatasync(s->file.fd) < 0)
		r = -errno;
	/* Giving back the preallocated tail is an optimisation: if the new size
	 * is lost in a crash the file is merely longer. */
	if (r == 0 && ftruncate(s->file.fd, (off_t)sl_align_up(end_off, SL_BLOCK)) < 0)
		r = 0;
	pthread_mutex_lock(&log->lock);
	d = segs_find_locked(log, s->base_seq);
	if (d) {
		d->sealed = r == 0;
		d->active = false;
		d->end_offset = end_off;
		d->file_bytes = sl_align_up(end_off, SL_BLOCK);
		d->next_seq = s->next_seq;
		d->first_ts = s->first_ts;
		d->last_ts = s->last_ts;
	}
	pthread_mutex_unlock(&log->lock);
	return r;
}

/* Janitor: seals a segment the owner has finished with, then frees it. */
static void job_seal(struct sl_job *job)
{
	struct wseg *s = (struct wseg *)((char *)job - offsetof(struct wseg, job));
	struct sl_log *log = s->log;
	int r = seal(log, s);

	if (r < 0) {
		int zero = 0;

		atomic_compare_exchange_strong(&log->jerr, &zero, r);
	}
	wseg_free(log, s);
	atomic_fetch_sub_explicit(&log->jpending, 1, memory_order_release);
}

/* Hands a fully durable segment with no operation in flight to the janitor.
 * Its file leaves the I/O queue here, on the owner thread. */
static void retire(struct sl_log *log, struct wseg *s)
{
	struct sl_io_file f;

	if (s->file.slot >= 0)
		sl_io_file_set(log->st->io, (unsigned)s->file.slot, -1, &f);
	s->file.slot = -1;
	s->job.kind = SL_JOB_SEAL;
	s->job.fn = job_seal;
	atomic_fetch_add_explicit(&log->jpending, 1, memory_order_relaxed);
	sl_janitor_push(log->st->janitor, &s->job);
}

/* Waits for this log's janitor jobs. Blocking callers only. */
static void wait_janitor(struct sl_log *log)
{
	while (atomic_load_explicit(&log->jpending, memory_order_acquire) > 0) {
		struct timespec ts = {0, 50000};

		nanosleep(&ts, NULL);
	}
}

/* ---- open and close ---- */

static void log_free(struct sl_log *log)
{
	if (!log)
		return;
	wait_janitor(log);
	wseg_free(log, log->prev);
	wseg_free(log, log->cur);
	if (log->st && log->st->logs[log->id] == log) {
		struct sl_store *st = log->st;

		st->logs[log->id] = NULL;
		for (unsigned i = 0; i < st->nopen; i++) {
			if (st->open[i] == log) {
				st->open[i] = st->open[--st->nopen];
				break;
			}
		}
	}
	if (log->dirfd >= 0)
		close(log->dirfd); /* also drops the directory lock */
	if (log->buf_slot >= 0)
		sl_io_buffer_unregister(log->st->io, (unsigned)log->buf_slot);
	pthread_mutex_destroy(&log->lock);
	free(log->segs);
	free(log->ring);
	free(log->wq);
	free(log->pend);
	free(log->dir);
	free(log);
}

/* Deletes segments that hold no batch (left by a crash right after a roll
 * or an open). Called once the new segment, in a higher epoch, is durable,
 * so the epochs they carried cannot be reused. */
static void drop_empty_segments(struct sl_log *log, struct sl_log_report *rep)
{
	unsigned j = 0;

	pthread_mutex_lock(&log->lock);
	for (unsigned i = 0; i < log->nsegs; i++) {
		struct segdesc *d = &log->segs[i];

		if (!d->active && !d->damaged && d->first_ts == INT64_MIN) {
			if (sl_seg_remove(log->dirfd, d->base_seq) == 0) {
				rep->removed_empty++;
				rep->segments--;
				continue;
			}
		}
		log->segs[j++] = *d;
	}
	log->nsegs = j;
	pthread_mutex_unlock(&log->lock);
	fsync(log->dirfd);
}

int sl_log_open(struct sl_store *st, const char *dir, uint32_t shard_id, void *user,
                struct sl_log_report *ret_report, struct sl_log **ret)
{
	const struct sl_store_config *c = &st->cfg;
	struct sl_log_report rep;
	struct sl_log *log;
	uint64_t epoch;
	unsigned id;
	int r;

	for (id = 0; id < c->max_logs; id++)
		if (!st->logs[id])
			break;
	if (id == c->max_logs)
		return sl_err_set(-ENOSPC, "store already holds max_logs=%u logs", c->max_logs);
	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	log->st = st;
	log->id = id;
	log->shard_id = shard_id;
	log->user = user;
	log->dirfd = -1;
	log->buf_slot = -1;
	pthread_mutex_init(&log->lock, NULL);
	log->dir = strdup(dir);
	log->wq = calloc(c->write_depth, sizeof(*log->wq));
	log->pend_cap = c->pending_batches;
	log->pend = calloc(log->pend_cap, sizeof(*log->pend));
	if (!log->dir || !log->wq || !log->pend ||
	    posix_memalign((void **)&log->ring, SL_BLOCK, c->buffer_bytes) != 0) {
		log->ring = NULL;
		r = -ENOMEM;
		goto fail;
	}
	/* Touch every page now: the poll loop must not take page faults, and
	 * bytes past the tail must read as zeros in the first write. */
	memset(log->ring, 0, c->buffer_bytes);
	log->ring_mask = c->buffer_bytes - 1;
	if (sl_io_buffer_register(st->io, id, log->ring, c->buffer_bytes) == 0)
		log->buf_slot = (int)id;

	r = sl_mkdir_p(dir);
	if (r < 0) {
		sl_err_set(r, "cannot create log directory %s", dir);
		goto fail;
	}
	log->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dirfd < 0) {
		r = sl_err_set(-errno, "cannot open log directory %s", dir);
		goto fail;
	}
	/* One writer per log directory, in this process or another. */
	if (flock(log->dirfd, LOCK_EX | LOCK_NB) < 0) {
		r = sl_err_set(errno == EWOULDBLOCK ? -EBUSY : -errno,
		               "log directory %s is open elsewhere", dir);
		goto fail;
	}
	memset(&rep, 0, sizeof(rep));
	r = sl_recover(log, &rep, &epoch);
	if (r < 0)
		goto fail;
	if (epoch >= (1ull << SL_SEQ_EPOCH_BITS)) {
		r = sl_err_set(-EOVERFLOW, "log %s has used every sequence epoch", dir);
		goto fail;
	}
	r = wseg_start_now(log, sl_seq_first_of_epoch(epoch), &log->cur);
	if (r < 0)
		goto fail;
	drop_empty_segments(log, &rep);
	log->next_seq = log->cur->base_seq;
	atomic_store_explicit(&log->written_next, log->next_seq, memory_order_release);
	atomic_store_explicit(&log->durable_next, log->next_seq, memory_order_release);
	rep.next_seq = log->next_seq;
	st->logs[id] = log;
	st->open[st->nopen++] = log;
	if (ret_report)
		*ret_report = rep;
	*ret = log;
	return 0;
fail:
	log_free(log);
	return r;
}

/* ---- append ---- */

static inline void ring_put(struct sl_log *log, uint64_t pos, const void *src, size_t len)
{
	uint64_t i = pos & log->ring_mask;
	size_t first = (size_t)SL_MIN((uint64_t)len, log->ring_mask + 1 - i);

	memcpy(log->ring + i, src, first);
	if (first < len)
		memcpy(log->ring, (const uint8_t *)src + first, len - first);
}

static uint32_t ring_crc(const struct sl_log *log, uint64_t pos, uint64_t len)
{
	uint64_t i = pos & log->ring_mask;
	uint64_t first = SL_MIN(len, log->ring_mask + 1 - i);
	uint32_t crc = sl_crc32c(0, log->ring + i, first);

	if (first < len)
		crc = sl_crc32c(crc, log->ring, len - first);
	return crc;
}

static uint64_t ring_free(const struct sl_log *log)
{
	return log->ring_mask + 1 - (log->tail - sl_align_down(log->written, SL_BLOCK));
}

static void add_index_entry(struct sl_log *log, struct wseg *s, uint64_t pos, uint64_t end,
                            uint64_t seq, int64_t ts, uint32_t crc)
{
	struct sl_idx_entry *e;
	struct sl_tix_entry *t;

	if (s->has_batch && pos - s->last_index_pos < log->st->cfg.index_interval_bytes)
		return;
	if (s->idx_n == s->idx_cap)
		return;
	e = &s->idx[s->idx_n];
	t = &s->tix[s->idx_n];
	e->rel_seq = (uint32_t)(seq - s->base_seq);
	e->offset = (uint32_t)(SL_SEG_HDR_BYTES + (pos - s->pos_base));
	e->batch_crc = crc;
	e->entry_crc = sl_idx_entry_crc(e);
	t->ts_ns = ts;
	t->rel_seq = e->rel_seq;
	t->offset = e->offset;
	t->batch_crc = crc;
	t->entry_crc = sl_tix_entry_crc(t);
	s->idx_end[s->idx_n] = end;
	s->idx_n++;
	s->last_index_pos = pos;
}

/*
 * Encoding cost is a memcpy of each record plus one CRC32C pass over the
 * batch: ~65 ns per 100 B record at 64 records per batch (perf/perf_append
 * 100b-1: appends take half of one thread at 7.5 M durable records/s).
 */
int sl_log_append(struct sl_log *log, const struct sl_record_in *recs, unsigned n, uint64_t cookie,
                  unsigned notify, uint64_t *ret_first_seq)
{
	const struct sl_store_config *c = &log->st->cfg;
	static const uint8_t zeros[8];
	struct sl_batch_hdr h;
	struct wseg *s = log->cur;
	uint64_t len = SL_BATCH_HDR_BYTES, pos, seq;
	int64_t ts;
	int r;

	if (sl_unlikely(log->err))
		return log->err;
	if (n == 0)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (recs[i].key_len == 0 || recs[i].key_len > SL_MAX_KEY_BYTES)
			return -EINVAL;
		if (recs[i].data_len > c->max_record_bytes)
			return -EMSGSIZE;
		len += sl_record_disk_bytes(recs[i].key_len, recs[i].data_len);
	}
	if (len > (log->ring_mask + 1) / 2 || len > UINT32_MAX)
		return -EMSGSIZE;
	if (log->pend_tail - log->ev_d == log->pend_cap)
		goto throttle;

	/* Roll when the batch does not fit the segment, when the segment's
	 * relative sequence numbers would overflow the index, or when the
	 * epoch's counter runs out. */
	if (log->tail - s->pos_base + len > s->capacity - SL_SEG_HDR_BYTES ||
	    log->next_seq + n - s->base_seq > UINT32_MAX ||
	    sl_seq_epoch(log->next_seq + n) != sl_seq_epoch(log->next_seq)) {
		uint64_t base = log->next_seq;

		if (log->prev)
			goto throttle; /* the previous roll is still draining */
		if (sl_seq_epoch(log->next_seq + n) != sl_seq_epoch(log->next_seq)) {
			if (sl_seq_epoch(log->next_seq) + 1 >= (1ull << SL_SEQ_EPOCH_BITS))
				return -EOVERFLOW; /* every sequence number is used */
			base = sl_seq_first_of_epoch(sl_seq_epoch(log->next_seq) + 1);
		}
		r = roll(log, base);
		if (r < 0)
			return r;
		s = log->cur;
		log->next_seq = base;
	}
	if (len > ring_free(log))
		goto throttle;

	pos = log->tail;
	seq = log->next_seq;
	ts = SL_MAX(recs[0].arrival_ns, log->last_ts);
	h = (struct sl_batch_hdr){
	        .magic = SL_BATCH_MAGIC,
	        .length = (uint32_t)len,
	        .version = SL_FORMAT_VERSION,
	        .base_seq = seq,
	        .count = n,
	        .first_ts_ns = ts,
	};
	uint64_t p = pos + SL_BATCH_HDR_BYTES;
	for (unsigned i = 0; i < n; i++) {
		const struct sl_record_in *in = &recs[i];
		struct sl_record_hdr rh = {
		        .data_len = in->data_len,
		        .key_len = in->key_len,
		        .arrival_ns = ts = SL_MAX(in->arrival_ns, ts),
		};
		uint32_t raw = SL_RECORD_HDR_BYTES + in->key_len + in->data_len;
		uint32_t sz = sl_record_disk_bytes(in->key_len, in->data_len);

		memcpy(rh.hash_key, in->hash_key, sizeof(rh.hash_key));
		ring_put(log, p, &rh, sizeof(rh));
		ring_put(log, p + SL_RECORD_HDR_BYTES, in->key, in->key_len);
		ring_put(log, p + SL_RECORD_HDR_BYTES + in->key_len, in->data, in->data_len);
		ring_put(log, p + raw, zeros, sz - raw);
		p += sz;
	}
	h.last_ts_ns = ts;
	ring_put(log, pos, &h, sizeof(h));
	h.crc = ring_crc(log, pos + 8, len - 8);
	ring_put(log, pos + 4, &h.crc, sizeof(h.crc));

	add_index_entry(log, s, pos, pos + len, seq, h.first_ts_ns, h.crc);
	if (!s->has_batch) {
		struct segdesc *d;

		s->has_batch = true;
		s->first_ts = h.first_ts_ns;
		pthread_mutex_lock(&log->lock);
		d = segs_find_locked(log, s->base_seq);
		if (d)
			d->first_ts = h.first_ts_ns;
		pthread_mutex_unlock(&log->lock);
	}
	s->last_ts = ts;
	s->next_seq = seq + n;
	log->last_ts = ts;
	log->next_seq = seq + n;
	log->tail = pos + len;
	log->pend[log->pend_tail % log->pend_cap] = (struct pend){
	        .cookie = cookie,
	        .first_seq = seq,
	        .end_pos = log->tail,
	        .count = n,
	        .notify = (uint8_t)notify,
	};
	log->pend_tail++;
	log->stats.appended_batches++;
	log->stats.appended_records += n;
	log->stats.appended_bytes += len;
	*ret_first_seq = seq;
	return 0;
throttle:
	log->stats.throttled++;
	return -EAGAIN;
}

/* ---- group commit ---- */

static struct wslot *wq_last(struct sl_log *log)
{
	return &log->wq[(log->wq_head + log->wq_n - 1) % log->st->cfg.write_depth];
}

/* Bytes of seg that have been written (completed), as a position. */
static uint64_t seg_written(const struct sl_log *log, const struct wseg *s)
{
	uint64_t end = SL_MIN(s->pos_end, log->tail);

	if (log->written <= s->pos_base)
		return s->pos_base;
	return SL_MIN(log->written, end);
}

static void fsync_record(struct sl_store *st, int64_t t0)
{
	struct timespec ts;
	int64_t ns;
	unsigned b = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - t0;
	if (ns < 0)
		ns = 0;
	while (b + 1 < SL_FSYNC_BUCKETS && (uint64_t)ns > sl_fsync_bucket_us(b) * 1000)
		b++;
	__atomic_store_n(&st->fsync_bucket[b], st->fsync_bucket[b] + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&st->fsync_sum_ns, st->fsync_sum_ns + (uint64_t)ns, __ATOMIC_RELAXED);
	__atomic_store_n(&st->fsync_count, st->fsync_count + 1, __ATOMIC_RELAXED);
}

void sl_store_fsync_hist(const struct sl_store *st, struct sl_fsync_hist *ret)
{
	ret->count = __atomic_load_n(&st->fsync_count, __ATOMIC_RELAXED);
	ret->sum_ns = __atomic_load_n(&st->fsync_sum_ns, __ATOMIC_RELAXED);
	for (unsigned b = 0; b < SL_FSYNC_BUCKETS; b++)
		ret->bucket[b] = __atomic_load_n(&st->fsync_bucket[b], __ATOMIC_RELAXED);
}

static void prep_sync(struct sl_log *log, struct wseg *s, uint64_t cover)
{
	s->sync_op.arg = cover;
	if (sl_io_prep_fdatasync(log->st->io, &s->file, (uint64_t)(uintptr_t)&s->sync_op) == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		s->sync_t0 = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		s->sync_busy = true;
		s->inflight++;
		log->stats.fdatasyncs++;
	}
}

static void flush_writes(struct sl_log *log)
{
	const struct sl_store_config *c = &log->st->cfg;
	struct sl_io *io = log->st->io;

	for (;;) {
		struct wseg *s;
		uint64_t seg_end, start, end, ridx;
		bool link;
		struct wslot *w;

		if (log->prev && log->sub == log->prev->pos_end && log->sub < log->cur->pos_base)
			log->sub = log->cur->pos_base; /* skip the alignment gap */
		if (log->sub >= log->tail || log->wq_n == c->write_depth || !sl_io_has_room(io, 2))
			return;
		s = log->prev && log->sub < log->prev->pos_end ? log->prev : log->cur;
		if (!wseg_ready(log, s))
			return; /* the janitor is still creating its files */
		seg_end = SL_MIN(s->pos_end, log->tail);
		start = sl_align_down(log->sub, SL_BLOCK);
		/* The block holding sub is being written by the last write. */
		if (start != log->sub && log->wq_n > 0 && wq_last(log)->end == log->sub &&
		    !wq_last(log)->done)
			return;
		end = SL_MIN(seg_end, start + c->write_chunk_bytes);
		ridx = start & log->ring_mask;
		end = SL_MIN(end, start + (log->ring_mask + 1 - ridx));
		if (end == log->tail)
			ring_zero(log, end, sl_align_up(end, SL_BLOCK));
		link = log->wq_n == 0 && !s->sync_busy && end == seg_end;

		w = &log->wq[(log->wq_head + log->wq_n) % c->write_depth];
		*w = (struct wslot){.start = log->sub,
		                    .end = end,
		                    .len = (uint32_t)(sl_align_up(end, SL_BLOCK) - start)};
		w->op = (struct io_op){.kind = OP_WRITE, .log = log, .seg = s, .arg = end};
		if (sl_io_prep_write(io, &s->file, log->ring + ridx, w->len,
		                     (off_t)(SL_SEG_HDR_BYTES + (start - s->pos_base)),
		                     log->buf_slot,
		                     (link ? SL_IO_LINK : 0) |
		                             (c->async_writes && log->wq_n > 0 ? SL_IO_ASYNC : 0),
		                     (uint64_t)(uintptr_t)&w->op) < 0)
			return;
		log->wq_n++;
		s->inflight++;
		log->sub = end;
		log->stats.writes++;
		if (link)
			prep_sync(log, s, end);
	}
}

/* Index entries whose batch is durable go to the index files, buffered and
 * unsynced: an index is derived data that recovery checks and rebuilds. */
static void flush_index(struct sl_log *log, struct wseg *s)
{
	struct sl_io *io = log->st->io;
	uint32_t k = s->idx_sub;

	if (s->idx_busy || s->tix_busy || !sl_io_has_room(io, 2))
		return;
	while (k < s->idx_n && s->idx_end[k] <= s->synced)
		k++;
	if (k == s->idx_sub)
		return;
	s->idx_op.arg = k;
	s->tix_op.arg = k;
	if (sl_io_prep_write_plain(io, s->idx_fd, s->idx + s->idx_sub,
	                           (k - s->idx_sub) * sizeof(*s->idx),
	                           (off_t)s->idx_sub * (off_t)sizeof(*s->idx),
	                           (uint64_t)(uintptr_t)&s->idx_op) < 0)
		return;
	s->idx_busy = true;
	s->inflight++;
	if (sl_io_prep_write_plain(io, s->tix_fd, s->tix + s->idx_sub,
	                           (k - s->idx_sub) * sizeof(*s->tix),
	                           (off_t)s->idx_sub * (off_t)sizeof(*s->tix),
	                           (uint64_t)(uintptr_t)&s->tix_op) == 0) {
		s->tix_busy = true;
		s->inflight++;
	}
	s->idx_sub = k;
}

static void update_durable(struct sl_log *log)
{
	if (log->prev && log->prev->synced < log->prev->pos_end)
		log->durable = SL_MAX(log->durable, log->prev->synced);
	else
		log->durable = SL_MAX(log->durable, log->cur->synced);
}

static void complete(struct sl_store *st, const struct sl_io_cqe *cqe)
{
	struct io_op *op = (struct io_op *)(uintptr_t)cqe->user_data;
	struct sl_log *log = op->log;
	struct wseg *s = op->seg;

	s->inflight--;
	switch (op->kind) {
	case OP_WRITE: {
		struct wslot *w = (struct wslot *)((char *)op - offsetof(struct wslot, op));

		/* A short write is a failed one: the bytes after it are not on
		 * disk, and a later fdatasync must not be taken to cover them. */
		if (cqe->res < 0 || (uint32_t)cqe->res != w->len) {
			log_fail(log, cqe->res < 0 ? cqe->res : -EIO);
			w->failed = true;
		}
		w->done = true;
		while (log->wq_n > 0 && log->wq[log->wq_head].done &&
		       !log->wq[log->wq_head].failed) {
			log->written = SL_MAX(log->written, log->wq[log->wq_head].end);
			log->wq_head = (log->wq_head + 1) % st->cfg.write_depth;
			log->wq_n--;
		}
		break;
	}
	case OP_SYNC:
		s->sync_busy = false;
		fsync_record(log->st, s->sync_t0);
		if (cqe->res < 0)
			log_fail(log, cqe->res); /* after a failed fdatasync nothing is known */
		else
			s->synced = SL_MAX(s->synced, op->arg);
		update_durable(log);
		break;
	case OP_IDX:
	case OP_TIX:
		if (op->kind == OP_IDX)
			s->idx_busy = false;
		else
			s->tix_busy = false;
		if (cqe->res < 0)
			log->stats.index_write_errors++;
		break;
	}
}

/* Moves the watermark cursors over the pending batches and publishes them. */
static void advance_marks(struct sl_log *log)
{
	uint64_t wn = 0, dn = 0;

	while (log->wm_w < log->pend_tail &&
	       log->pend[log->wm_w % log->pend_cap].end_pos <= log->written) {
		const struct pend *p = &log->pend[log->wm_w % log->pend_cap];

		wn = p->first_seq + p->count;
		log->wm_w++;
	}
	while (log->wm_d < log->wm_w &&
	       log->pend[log->wm_d % log->pend_cap].end_pos <= log->durable) {
		const struct pend *p = &log->pend[log->wm_d % log->pend_cap];

		dn = p->first_seq + p->count;
		log->wm_d++;
	}
	/* Release: the records below these numbers are complete on disk; a
	 * reader that loads them with acquire may read them. */
	if (wn)
		atomic_store_explicit(&log->written_next, wn, memory_order_release);
	if (dn)
		atomic_store_explicit(&log->durable_next, dn, memory_order_release);
}

/* Submits, for one log, what its state calls for; seals a finished segment. */
static void log_work(struct sl_log *log)
{
	struct wseg *p = log->prev;

	int jerr = atomic_load_explicit(&log->jerr, memory_order_relaxed);

	if (jerr)
		log_fail(log, jerr);
	if (log->err)
		return;
	flush_writes(log);
	for (int i = 0; i < 2; i++) {
		struct wseg *s = i == 0 ? log->prev : log->cur;
		uint64_t w;

		if (!s || !wseg_ready(log, s))
			continue;
		w = seg_written(log, s);
		if (!s->sync_busy && w > s->synced && sl_io_has_room(log->st->io, 1))
			prep_sync(log, s, w);
		flush_index(log, s);
	}
	if (p && p->synced >= p->pos_end && p->inflight == 0) {
		log->prev = NULL;
		retire(log, p);
		update_durable(log);
	}
}

static void put_event(struct sl_log *log, const struct pend *p, uint32_t kind, int err,
                      struct sl_log_event *ev)
{
	*ev = (struct sl_log_event){log, log->user, p->cookie, p->first_seq, p->count, kind, err};
}

/* Reports events in append order; batches that asked for no event pass
 * without taking room in ev. */
static int emit(struct sl_log *log, struct sl_log_event *ev, unsigned max)
{
	unsigned n = 0;

	for (; log->ev_w < log->wm_w; log->ev_w++) {
		const struct pend *p = &log->pend[log->ev_w % log->pend_cap];

		if (p->notify & SL_NOTIFY_WRITTEN) {
			if (n == max)
				return (int)n;
			put_event(log, p, SL_EV_WRITTEN, 0, &ev[n++]);
		}
	}
	for (; log->ev_d < log->wm_d; log->ev_d++) {
		const struct pend *p = &log->pend[log->ev_d % log->pend_cap];

		if (p->notify & SL_NOTIFY_DURABLE) {
			if (n == max)
				return (int)n;
			put_event(log, p, SL_EV_DURABLE, 0, &ev[n++]);
		}
	}
	/* A failed log reports every batch that will never be durable, except
	 * one that asked only for WRITTEN and already got it: its caller had
	 * its one event (and may have released what the cookie names). */
	for (; log->err && log->ev_d < log->pend_tail; log->ev_d++) {
		const struct pend *p = &log->pend[log->ev_d % log->pend_cap];
		bool reported = !(p->notify & SL_NOTIFY_DURABLE) && log->ev_d < log->ev_w;

		if (p->notify && !reported) {
			if (n == max)
				return (int)n;
			put_event(log, p, SL_EV_FAILED, log->err, &ev[n++]);
		}
		log->ev_w = SL_MAX(log->ev_w, log->ev_d + 1);
	}
	return (int)n;
}

/* Reaps, moves marks, submits; wait blocks for at least one completion. */
static int store_work(struct sl_store *st, bool wait)
{
	int r, reaped = 0;

	do {
		r = sl_io_reap(st->io, st->cqes, st->cqe_cap, wait && reaped == 0);
		if (r < 0)
			return r;
		for (int i = 0; i < r; i++)
			complete(st, &st->cqes[i]);
		reaped += r;
	} while ((unsigned)r == st->cqe_cap);
	for (unsigned i = 0; i < st->nopen; i++) {
		struct sl_log *log = st->open[i];

		log_work(log);
		advance_marks(log);
	}
	r = sl_io_submit(st->io);
	return r < 0 ? r : reaped;
}

int sl_store_poll(struct sl_store *st, struct sl_log_event *ev, unsigned max)
{
	int r = store_work(st, false), n = 0;

	if (r < 0)
		return r;
	/* Start where the last poll stopped, so that no log's events wait
	 * behind the others' when ev is too small for all. */
	for (unsigned k = 0; k < st->nopen; k++) {
		unsigned i = (st->emit_next + k) % st->nopen;

		n += emit(st->open[i], ev + n, max - (unsigned)n);
		if ((unsigned)n == max && max > 0) {
			st->emit_next = i + 1;
			break;
		}
	}
	return n;
}

static bool log_settled(const struct sl_log *log)
{
	/* Durable, and a segment left by a roll sealed too, so that what
	 * follows a sync (retention, a reader) sees a settled directory. */
	return log->err ||
	       (log->durable >= log->tail && log->wm_d == log->pend_tail && !log->prev &&
	        atomic_load_explicit(&log->jpending, memory_order_acquire) == 0);
}

int sl_log_sync(struct sl_log *log)
{
	while (!log_settled(log)) {
		int r = store_work(log->st, true);

		if (r < 0)
			return r;
		if (r == 0 && sl_io_inflight(log->st->io) == 0) {
			/* Nothing in flight and nothing done: make progress, and
			 * give the janitor time if it holds the next step. */
			struct timespec ts = {0, 20000};

			r = store_work(log->st, false);
			if (r < 0)
				return r;
			if (sl_io_inflight(log->st->io) == 0)
				nanosleep(&ts, NULL);
		}
	}
	return log->err;
}

int sl_log_close(struct sl_log *log)
{
	struct sl_store *st;
	int r;

	if (!log)
		return 0;
	st = log->st;
	r = sl_log_sync(log);
	/* The previous segment seals itself in log_work(); then the active one. */
	while (r == 0 && !log->err && log->prev) {
		int w = store_work(st, sl_io_inflight(st->io) > 0);

		if (w < 0)
			r = w;
	}
	if (r == 0 && !log->err && wseg_ready(log, log->cur)) {
		log->cur->pos_end = log->tail;
		r = seal(log, log->cur);
	}
	/* Operations still in flight (index writes, or those of a failed log)
	 * refer to memory freed below: wait them out. */
	while ((log->cur && log->cur->inflight) || (log->prev && log->prev->inflight)) {
		int w = store_work(st, true);

		if (w < 0) {
			/* The queue itself failed: completions may still come
			 * for this log's memory, so it is leaked, not freed. */
			log->st->logs[log->id] = NULL;
			for (unsigned i = 0; i < st->nopen; i++)
				if (st->open[i] == log)
					st->open[i] = st->open[--st->nopen];
			return w;
		}
	}
	if (r == 0)
		r = log->err;
	log_free(log);
	return r;
}

/* ---- watermarks, stats ---- */

uint64_t sl_log_written_next(const struct sl_log *log)
{
	return atomic_load_explicit(&log->written_next, memory_order_acquire);
}

uint64_t sl_log_durable_next(const struct sl_log *log)
{
	return atomic_load_explicit(&log->durable_next, memory_order_acquire);
}

uint64_t sl_log_next_seq(const struct sl_log *log)
{
	return log->next_seq;
}

uint64_t sl_log_trim_horizon(struct sl_log *log)
{
	uint64_t v = 0;

	pthread_mutex_lock(&log->lock);
	if (log->nsegs > 0)
		v = log->segs[0].base_seq;
	pthread_mutex_unlock(&log->lock);
	return v;
}

uint64_t sl_log_disk_bytes(struct sl_log *log)
{
	uint64_t v = 0;

	pthread_mutex_lock(&log->lock);
	for (unsigned i = 0; i < log->nsegs; i++)
		v += log->segs[i].file_bytes;
	pthread_mutex_unlock(&log->lock);
	return v;
}

void sl_log_stats(const struct sl_log *log, struct sl_log_stats *ret)
{
	*ret = log->stats;
	ret->index_write_errors += atomic_load_explicit(&log->jindex_errors, memory_order_relaxed);
}

/* ---- retention ---- */

/* Deletes a segment dropped by retention, or keeps its file as a spare for
 * a later roll (renamed, so recovery never takes it for data). */
static void retire_files(struct sl_log *log, uint64_t base)
{
	char name[SL_SEG_NAME_MAX], spare[SL_SEG_NAME_MAX];
	bool keep;

	pthread_mutex_lock(&log->lock);
	keep = log->nspares < SL_MIN(log->st->cfg.spare_segments, SL_SPARES_MAX);
	pthread_mutex_unlock(&log->lock);
	sl_seg_name(name, base, "log");
	sl_seg_spare_name(spare, base);
	if (!keep || renameat(log->dirfd, name, log->dirfd, spare) < 0) {
		sl_seg_remove(log->dirfd, base);
		return;
	}
	sl_seg_name(name, base, "idx");
	unlinkat(log->dirfd, name, 0);
	sl_seg_name(name, base, "tix");
	unlinkat(log->dirfd, name, 0);
	pthread_mutex_lock(&log->lock);
	keep = log->nspares < SL_SPARES_MAX;
	if (keep)
		log->spares[log->nspares++] = base;
	pthread_mutex_unlock(&log->lock);
	if (!keep)
		unlinkat(log->dirfd, spare, 0);
}

int sl_log_retain(struct sl_log *log, int64_t now_ns, int64_t max_age_ns, uint64_t max_bytes)
{
	uint64_t total = 0, victims[64];
	int removed = 0, n = 0;

	/* Descriptors leave the list under the lock; the files are deleted
	 * after it is released, so readers never wait on an unlink. A reader
	 * that already opened a file keeps reading it. */
	do {
		pthread_mutex_lock(&log->lock);
		total = 0;
		for (unsigned i = 0; i < log->nsegs; i++)
			total += log->segs[i].file_bytes;
		for (n = 0; log->nsegs > 1 && n < (int)SL_ARRAY_SIZE(victims); n++) {
			struct segdesc *d = &log->segs[0];
			bool old = max_age_ns > 0 && d->last_ts < now_ns - max_age_ns;
			bool big = max_bytes > 0 && total > max_bytes;

			/* Only sealed segments go: the active one and one still
			 * draining after a roll stay. */
			if (!d->sealed || d->active || (!old && !big))
				break;
			victims[n] = d->base_seq;
			total -= d->file_bytes;
			memmove(&log->segs[0], &log->segs[1], (log->nsegs - 1) * sizeof(*d));
			log->nsegs--;
		}
		pthread_mutex_unlock(&log->lock);
		for (int i = 0; i < n; i++)
			retire_files(log, victims[i]);
		removed += n;
	} while (n == (int)SL_ARRAY_SIZE(victims));
	return removed;
}

/* ---- sequence number strings ---- */

int sl_seq_format(uint64_t seq, char buf[SL_SEQ_STR_MAX])
{
	char tmp[SL_SEQ_STR_MAX];
	int n = 0, len;

	do {
		tmp[n++] = (char)('0' + seq % 10);
		seq /= 10;
	} while (seq);
	len = n;
	for (int i = 0; i < len; i++)
		buf[i] = tmp[len - 1 - i];
	buf[len] = '\0';
	return len;
}

int sl_seq_parse(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || (len > 1 && s[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
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

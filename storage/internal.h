/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private structures of the storage library, shared by its modules:
 * log.c (append, group commit, events), segment.c (files), batch.c (format
 * checks), recovery.c (open) and reader.c (iterators).
 *
 * Positions. A log numbers the bytes it has ever staged with a 64-bit
 * position. Segment s holds positions [s.pos_base, s.pos_end) at file
 * offsets SL_SEG_HDR_BYTES + (pos - s.pos_base); pos_base is block aligned,
 * so a block of the staging ring maps to exactly one block of one file.
 * Watermarks, in increasing order:
 *
 *   durable <= written <= sub <= tail
 *
 * tail: end of staged data; sub: end of data submitted for writing;
 * written: every write below it completed; durable: covered by completed
 * fdatasyncs. The ring keeps [align_down(written), tail), because the
 * partial last block is rewritten by the next write.
 */
#ifndef SL_STORAGE_INTERNAL_H
#define SL_STORAGE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sluice/log_format.h>

#include "io.h"
#include "janitor.h"
#include "log.h"

#define SL_BLOCK      4096u
#define SL_SPARES_MAX 8

enum op_kind {
	OP_WRITE = 1,
	OP_SYNC,
	OP_IDX,
	OP_TIX,
};

/* What a completion's user_data points at. */
struct io_op {
	uint8_t kind;
	struct sl_log *log;
	struct wseg *seg;
	uint64_t arg; /* OP_WRITE: end position; OP_SYNC: covered position;
			 OP_IDX/OP_TIX: entry count written through */
};

/* A segment the owner still writes or waits on. */
struct wseg {
	struct sl_job job; /* creation, then sealing, by the janitor */
	struct sl_log *log;
	/* Files made by the janitor: 0 while it works, 1 when fd, idx_fd and
	 * tix_fd are set (release by the janitor, acquire by the owner), or
	 * -errno. */
	_Atomic int state;
	int new_fd;
	bool installed; /* owner: file registered, writes may go */
	uint64_t base_seq;
	uint64_t spare; /* retired segment to reuse for the files, or 0 */
	uint64_t pos_base;
	int64_t sync_t0;  /* CLOCK_MONOTONIC ns when the fdatasync in flight went out */
	uint64_t pos_end; /* UINT64_MAX while it takes appends */
	uint64_t capacity;
	uint32_t gen; /* parity picks the registered file slot */
	struct sl_io_file file;
	int idx_fd, tix_fd;

	struct sl_idx_entry *idx;
	struct sl_tix_entry *tix;
	uint64_t *idx_end;       /* end position of each entry's batch */
	uint32_t idx_cap, idx_n; /* entries made */
	uint32_t idx_sub;        /* entries submitted for writing */
	bool idx_busy, tix_busy;
	uint64_t last_index_pos; /* position of the batch of the last entry */

	uint64_t synced; /* positions below are durable */
	bool sync_busy;
	unsigned inflight; /* ops referencing this wseg */

	uint64_t next_seq; /* one past the last record appended */
	int64_t first_ts, last_ts;
	bool has_batch;

	struct io_op sync_op, idx_op, tix_op;
};

/* A write in flight, in position order. */
struct wslot {
	uint64_t start, end; /* data positions [start, end) it makes written */
	uint32_t len;        /* bytes asked of the write, whole blocks */
	bool done;
	bool failed; /* written never passes a failed (or short) write */
	struct io_op op;
};

/* A batch between append and its durable event. */
struct pend {
	uint64_t cookie;
	uint64_t first_seq;
	uint64_t end_pos;
	uint32_t count;
	uint8_t notify;
};

/* What readers know of a segment; guarded by log->lock. */
struct segdesc {
	uint64_t base_seq;
	uint64_t next_seq; /* one past the last record; for the active segment, 0 */
	int64_t first_ts;  /* INT64_MIN: no batch yet */
	int64_t last_ts;
	uint64_t end_offset;
	uint64_t file_bytes;
	bool sealed;
	bool active;
	bool damaged; /* recovery found corruption in it: never dropped as empty */
};

struct sl_log {
	struct sl_store *st;
	unsigned id;
	uint32_t shard_id;
	void *user;
	char *dir;
	int dirfd;

	uint8_t *ring;
	uint64_t ring_mask;
	int buf_slot; /* registered buffer slot or -1 */

	uint64_t tail, sub, written, durable;
	struct wslot *wq; /* write_depth entries, a FIFO */
	unsigned wq_head, wq_n;

	struct wseg *cur, *prev;
	uint32_t gen;

	uint64_t next_seq;
	int64_t last_ts;

	struct pend *pend;
	uint32_t pend_cap;
	uint64_t pend_tail, ev_w, ev_d, wm_w, wm_d;

	int err;
	/* Janitor jobs of this log not finished yet, and the first error one
	 * met (sealing); the owner folds it into err. */
	_Atomic int jpending;
	_Atomic int jerr;
	_Atomic uint64_t jindex_errors;

	/* Release stores by the owner publish record visibility to readers,
	 * which load them with acquire: records below are complete on disk. */
	_Atomic uint64_t written_next;
	_Atomic uint64_t durable_next;

	pthread_mutex_t lock; /* guards segs, nsegs, spares */
	struct segdesc *segs;
	unsigned nsegs, segs_cap;
	uint64_t spares[SL_SPARES_MAX]; /* old bases of spare-*.log files */
	unsigned nspares;

	struct sl_log_stats stats;
};

struct sl_store {
	struct sl_store_config cfg;
	struct sl_io *io;
	struct sl_janitor *janitor;
	int uring_err;
	struct sl_log **logs; /* max_logs slots, by log id */
	struct sl_log **open; /* the open logs, compact */
	unsigned nopen;
	unsigned emit_next; /* where the next poll starts reporting */
	struct sl_io_cqe *cqes;
	unsigned cqe_cap;
	/* fdatasync latencies (owner writes, anyone reads: relaxed) */
	uint64_t fsync_count;
	uint64_t fsync_sum_ns;
	uint64_t fsync_bucket[SL_FSYNC_BUCKETS];
};

/* ---- batch.c ---- */

/* Checks the fixed fields of a batch header found at a file offset, given
 * the bytes that remain in the segment. 0 or -EBADMSG. */
int sl_batch_hdr_check(const struct sl_batch_hdr *h, uint64_t room);
/* Checks CRC and record framing of a whole batch in memory. 0 or -EBADMSG. */
int sl_batch_body_check(const void *batch, uint32_t length);
/* Iterates the records of a checked batch: *off starts at SL_BATCH_HDR_BYTES. */
void sl_batch_record_at(const uint8_t *batch, uint32_t *off, struct sl_record_hdr *ret_hdr,
                        const uint8_t **ret_key, const uint8_t **ret_data);
uint32_t sl_idx_entry_crc(const struct sl_idx_entry *e);
uint32_t sl_tix_entry_crc(const struct sl_tix_entry *e);

/* ---- segment.c ---- */

void sl_seg_name(char buf[SL_SEG_NAME_MAX], uint64_t base_seq, const char *ext);
/* Parses "<20 digits>.log"; false for any other name. */
bool sl_seg_name_parse(const char *name, uint64_t *ret_base);
uint32_t sl_seg_hdr_crc(const struct sl_seg_hdr *h);
/* Reads and checks a segment header. 0, -EBADMSG, or -errno. */
int sl_seg_hdr_read(int fd, struct sl_seg_hdr *ret);
/* Writes a header block at offset 0 (pwrite, any open mode). */
int sl_seg_hdr_write(int fd, const struct sl_seg_hdr *h);
/* Creates <base>.log (preallocated, header written), empty .idx/.tix, and
 * fsyncs the directory. With spare (the old base of a retired segment, or
 * 0) the spare file is renamed and reused instead of a new one. Returns the
 * open O_DIRECT (if possible) fd. */
int sl_seg_create(int dirfd, uint64_t base_seq, uint64_t spare, uint64_t capacity,
                  uint32_t shard_id, int *ret_fd, int *ret_idx_fd, int *ret_tix_fd);
/* "spare-<20 digits>.log": a retired segment kept for reuse. */
void sl_seg_spare_name(char buf[SL_SEG_NAME_MAX], uint64_t old_base);
/* Takes the writer's lock of a segment file (flock), waiting up to
 * timeout_ms for a writer that still holds it: a process being torn down
 * after a crash, whose io_uring still completes writes. 0 or -EBUSY. */
int sl_seg_lock_writer(int fd, int timeout_ms);
/* Unlinks the three files of a segment. */
int sl_seg_remove(int dirfd, uint64_t base_seq);
/* Reads exactly len bytes at off (short reads at EOF give -ENODATA). */
int sl_pread_full(int fd, void *buf, size_t len, uint64_t off);

/*
 * Finds the next valid batch at or after offset start (8-byte steps) whose
 * records lie in [min_seq, max_seq), within [start, end). Returns 0 and its
 * offset and header, or -ENOENT.
 */
int sl_seg_resync(int fd, uint64_t start, uint64_t end, uint64_t min_seq, uint64_t max_seq,
                  uint64_t *ret_off, struct sl_batch_hdr *ret_hdr);

/*
 * Reads the batch at off into *buf (grown as needed, up to room bytes) and
 * checks it fully, including base_seq == expect (0: any). Returns 0, or
 * -EBADMSG (not a valid batch), -ENODATA (all zero header: end of data), or
 * -errno.
 */
int sl_seg_read_batch(int fd, uint64_t off, uint64_t room, uint64_t expect, uint8_t **buf,
                      size_t *buf_cap, struct sl_batch_hdr *ret_hdr);

/* ---- log.c, for recovery.c ---- */

int sl_log_segs_push(struct sl_log *log, const struct segdesc *d);

/* ---- recovery.c ---- */

/* Scans dir, repairs what it can, fills log->segs and the report, and
 * returns the epoch the new segment must use. */
int sl_recover(struct sl_log *log, struct sl_log_report *rep, uint64_t *ret_next_epoch);

/* ---- index loading (recovery.c), used by reader.c ---- */

/* Loads the valid prefix of a segment's offset or time index. The caller
 * frees *ret. */
int sl_index_load_idx(int dirfd, uint64_t base_seq, struct sl_idx_entry **ret, uint32_t *ret_n);
int sl_index_load_tix(int dirfd, uint64_t base_seq, struct sl_tix_entry **ret, uint32_t *ret_n);

#endif

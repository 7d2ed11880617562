/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The storage library's front door: a store (one per shard lcore) owns an
 * I/O queue and the shard logs that lcore appends to; a log is one shard's
 * segmented log in one directory (format: <sluice/log_format.h>).
 *
 * Threading: a store and its logs are driven by one thread (the owner):
 * sl_log_append(), sl_store_poll() and the open/close/retention calls. Readers
 * (sl_reader_*) may run on any other threads at the same time.
 *
 * Blocking: sl_log_append() and sl_store_poll() never wait for I/O or for
 * file creation. The store's janitor thread (storage/janitor.h) creates the
 * next segment after a roll, while appends go on into the staging ring, and
 * seals the previous one. Only a roll into a new epoch (once per 2^40
 * records of a shard) creates its segment inline. sl_log_open(),
 * sl_log_close(), sl_log_sync(), sl_log_retain() and every reader call
 * block.
 *
 * Acks: an append returns the sequence numbers it assigned; sl_store_poll()
 * later reports, per batch, when the batch is written (its write completed:
 * the data survives a process crash) and when it is durable (an fdatasync
 * that started after the write completed has completed: the data survives a
 * machine crash). One fdatasync covers every batch written before it (group
 * commit).
 */
#ifndef SL_STORAGE_LOG_H
#define SL_STORAGE_LOG_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/log_format.h>

#include "io.h"

struct sl_store;
struct sl_log;
struct sl_reader;

/* One table: name, type, default, min, max, meaning. Drives defaults,
 * validation and the benchmark's --help. */
#define SL_STORE_CONFIG(X)                                                                         \
	X(max_logs, uint32_t, 256, 1, 65536, "shard logs one store can hold open")                 \
	X(segment_bytes, uint64_t, 64ull << 20, 1ull << 20, 2ull << 30,                            \
	  "preallocated size of each segment file")                                                \
	X(buffer_bytes, uint32_t, 4u << 20, 64u << 10, 1u << 30,                                   \
	  "staging ring per log (a power of two); bounds one batch to half of it")                 \
	X(max_record_bytes, uint32_t, 1u << 20, 1, SL_MAX_RECORD_BYTES_LIMIT,                      \
	  "largest record data accepted")                                                          \
	X(write_chunk_bytes, uint32_t, 512u << 10, 4096, 16u << 20, "largest single write")        \
	X(write_depth, uint32_t, 4, 1, 64, "writes in flight per log")                             \
	X(index_interval_bytes, uint32_t, 16u << 10, 512, 64u << 20,                               \
	  "bytes of log between two index entries")                                                \
	X(pending_batches, uint32_t, 4096, 16, 1u << 20,                                           \
	  "batches a log tracks between append and durable ack")                                   \
	X(io_depth, uint32_t, 1024, 8, 32768, "operations in flight per store")                    \
	X(spare_segments, uint32_t, 2, 0, 8,                                                       \
	  "segments retention keeps per log for reuse instead of deleting them")                   \
	X(async_writes, uint32_t, 0, 0, 1,                                                         \
	  "1: a write behind another of its log runs on io_uring's workers (see io.h)")

struct sl_store_config {
#define SL_X_FIELD(name, type, def, min, max, doc) type name;
	SL_STORE_CONFIG(SL_X_FIELD)
#undef SL_X_FIELD
	enum sl_io_backend backend; /* SL_IO_AUTO; SLUICE_IO_BACKEND=sync|uring overrides */
};

void sl_store_config_default(struct sl_store_config *c);
/* 0, or -EINVAL with sl_errmsg() naming the offending field. */
int sl_store_config_validate(const struct sl_store_config *c);

int sl_store_create(const struct sl_store_config *c, struct sl_store **ret);
/* Closes every log still open (see sl_log_close()), then frees. NULL-safe. */
void sl_store_free(struct sl_store *st);
enum sl_io_backend sl_store_backend(const struct sl_store *st);

/*
 * Keeps the store's helper threads (janitor threads now, io_uring workers
 * after the owner's next submit) on the CPUs in set, away from the owner's
 * core when the owner busy-polls. Owner thread. 0 or -errno (janitor).
 */
int sl_store_set_helper_cpus(struct sl_store *st, const cpu_set_t *set);
/* When AUTO fell back to the pwrite backend: why io_uring failed (-errno). */
int sl_store_uring_error(const struct sl_store *st);

/* fdatasync latency histogram of a store: bucket b < SL_FSYNC_BUCKETS - 1
 * counts syncs that took at most sl_fsync_bucket_us(b) (and more than
 * bucket b-1's bound); the last bucket counts the slower ones. Any thread
 * (a relaxed snapshot). */
#define SL_FSYNC_BUCKETS 17
static inline uint64_t sl_fsync_bucket_us(unsigned b)
{
	return 16ull << b; /* 16 us .. ~0.5 s; the last bucket is beyond */
}
struct sl_fsync_hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t bucket[SL_FSYNC_BUCKETS];
};
void sl_store_fsync_hist(const struct sl_store *st, struct sl_fsync_hist *ret);

/* What recovery found when a log was opened. */
struct sl_log_report {
	uint32_t segments;          /* segment files kept */
	uint32_t sealed;            /* of which were sealed by a clean close or roll */
	uint32_t torn_segments;     /* unsealed segments whose tail was cut */
	uint32_t removed_empty;     /* segments with no batch, deleted */
	uint32_t index_rebuilt;     /* index files missing, short or corrupt, rebuilt */
	uint32_t bad_headers;       /* segment headers that failed their CRC */
	uint32_t corrupt_batches;   /* invalid batches found inside sealed data */
	uint64_t corrupt_first_seq; /* first sequence number lost to corruption, or 0 */
	uint64_t corrupt_last_seq;  /* last one (inclusive) */
	uint64_t batches;           /* valid batches scanned at open (tails only) */
	uint64_t torn_offset;       /* file offset where the last torn tail was cut */
	uint64_t first_seq;         /* trim horizon, 0 if the log holds no record */
	uint64_t last_seq;          /* last record on disk, 0 if none */
	uint64_t next_seq;          /* first sequence number this run hands out */
	uint64_t bytes;             /* bytes of batches on disk */
};

/*
 * Opens (creating if needed) the log in dir, recovers it, and starts a new
 * segment in a new epoch. user is returned in events. Blocks.
 */
int sl_log_open(struct sl_store *st, const char *dir, uint32_t shard_id, void *user,
                struct sl_log_report *ret_report, struct sl_log **ret);

/* Waits until everything appended is durable, seals the active segment,
 * closes the log. Events not yet polled for it are dropped. NULL-safe.
 * Returns the first I/O error the log met, if any. */
int sl_log_close(struct sl_log *log);

struct sl_record_in {
	const void *key;
	const void *data;
	uint32_t data_len;
	uint16_t key_len;
	uint8_t hash_key[16]; /* big-endian 128-bit */
	int64_t arrival_ns;   /* CLOCK_REALTIME; raised to the shard's last if earlier */
};

enum {
	SL_NOTIFY_WRITTEN = 1u << 0,
	SL_NOTIFY_DURABLE = 1u << 1,
};

/*
 * Appends n records as one batch, assigning consecutive sequence numbers.
 * Returns 0 and writes the first into *ret_first_seq, or
 *   -EINVAL   a record has an empty or over-long key, or n == 0
 *   -EMSGSIZE a record's data exceeds max_record_bytes, or the batch could
 *             never fit the staging ring (over buffer_bytes / 2)
 *   -EAGAIN   no room now (ring, pending batches or segment roll under way):
 *             back-pressure, try again after a poll
 *   -EIO etc. the log failed an earlier write; it accepts nothing more
 * notify selects which events sl_store_poll() reports for this batch; cookie
 * comes back in them.
 */
int sl_log_append(struct sl_log *log, const struct sl_record_in *recs, unsigned n, uint64_t cookie,
                  unsigned notify, uint64_t *ret_first_seq);

enum sl_log_event_kind {
	SL_EV_WRITTEN = 1,
	SL_EV_DURABLE = 2,
	SL_EV_FAILED = 3, /* the batch will never be durable: the log failed (not
	                   * reported for a WRITTEN-only batch already reported
	                   * written) */
};

struct sl_log_event {
	struct sl_log *log;
	void *user;
	uint64_t cookie;
	uint64_t first_seq;
	uint32_t count;
	uint32_t kind;
	int32_t err; /* with SL_EV_FAILED */
};

/*
 * Does the store's I/O work: submits writes and fdatasyncs for what was
 * appended, reaps completions, seals and creates segments, and reports up to
 * max events (in append order per log). Returns the number of events.
 */
int sl_store_poll(struct sl_store *st, struct sl_log_event *ev, unsigned max);

/* Blocks until every batch appended to log so far is durable and a segment
 * closed by a roll is sealed (or the log failed). Events stay queued for
 * sl_store_poll(). */
int sl_log_sync(struct sl_log *log);

/* Published watermarks (any thread): every record below is written/durable. */
uint64_t sl_log_written_next(const struct sl_log *log);
uint64_t sl_log_durable_next(const struct sl_log *log);
/* Next sequence number an append would get. Owner thread. */
uint64_t sl_log_next_seq(const struct sl_log *log);
/* First sequence number still retained (0 if none). Any thread. */
uint64_t sl_log_trim_horizon(struct sl_log *log);

/*
 * Retention: deletes whole sealed segments, oldest first, while the oldest
 * one's newest record is older than now_ns - max_age_ns (0: no age limit) or
 * while the log holds more than max_bytes (0: no size limit). The active
 * segment is never deleted. Returns the number of segments deleted. Any
 * thread; blocks on the unlinks (made outside the segment list's lock, so
 * readers do not wait for them): the owner should not call it.
 */
int sl_log_retain(struct sl_log *log, int64_t now_ns, int64_t max_age_ns, uint64_t max_bytes);

/* Bytes the log's segment files occupy (allocated sizes). Any thread. */
uint64_t sl_log_disk_bytes(struct sl_log *log);

struct sl_log_stats {
	uint64_t appended_batches;
	uint64_t appended_records;
	uint64_t appended_bytes;
	uint64_t writes;
	uint64_t fdatasyncs;
	uint64_t segments_rolled;
	uint64_t throttled; /* appends answered -EAGAIN */
	uint64_t index_write_errors;
};
void sl_log_stats(const struct sl_log *log, struct sl_log_stats *ret);

/* ---- readers ---- */

enum {
	/* Return records once written (completed write) instead of durable. */
	SL_READER_WRITTEN = 1u << 0,
};

struct sl_record_out {
	uint64_t seq;
	int64_t arrival_ns;
	uint8_t hash_key[16];
	const void *key;
	const void *data;
	uint32_t key_len;
	uint32_t data_len;
};

struct sl_reader_stats {
	uint64_t corrupt_batches;   /* invalid batches skipped inside sealed data */
	uint64_t corrupt_first_seq; /* range of the last one skipped */
	uint64_t corrupt_last_seq;
	uint64_t index_misses; /* index entries that did not verify */
};

int sl_reader_open(struct sl_log *log, unsigned flags, struct sl_reader **ret);
void sl_reader_free(struct sl_reader *r);

/* Positions: the next read returns the first record whose sequence number
 * is >= seq (at), > seq (after), the oldest retained record (trim horizon),
 * the first record appended after this call (latest), or the first whose
 * arrival time is >= ts_ns (at timestamp). A position before the trim
 * horizon moves to it. */
int sl_reader_seek_at_seq(struct sl_reader *r, uint64_t seq);
int sl_reader_seek_after_seq(struct sl_reader *r, uint64_t seq);
int sl_reader_seek_trim_horizon(struct sl_reader *r);
int sl_reader_seek_latest(struct sl_reader *r);
int sl_reader_seek_at_timestamp(struct sl_reader *r, int64_t ts_ns);

/*
 * Reads up to max_records records, stopping before the total of key and data
 * bytes would exceed max_bytes (at least one record is returned if one is
 * there). Returned pointers stay valid until the next call on r. Returns the
 * count (0: nothing more yet) or -errno.
 */
int sl_reader_read(struct sl_reader *r, struct sl_record_out *out, unsigned max_records,
                   size_t max_bytes);

/* Sequence number the next read starts from (a lower bound). */
uint64_t sl_reader_position(const struct sl_reader *r);
void sl_reader_stats(const struct sl_reader *r, struct sl_reader_stats *ret);

/* ---- sequence numbers as decimal strings ---- */

#define SL_SEQ_STR_MAX 21 /* 20 digits + NUL */
/* Writes seq in decimal; returns the length. */
int sl_seq_format(uint64_t seq, char buf[SL_SEQ_STR_MAX]);
/* Parses a decimal string with no sign, no leading zeros (but "0"), that
 * fits 64 bits. Returns 0 or -EINVAL / -ERANGE. */
int sl_seq_parse(const char *s, size_t len, uint64_t *ret);

#endif

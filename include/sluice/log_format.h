/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file log_format.h
 * The on-disk format of a sluice shard log, version 1.
 *
 * A reader compatible with sluice can be written from this comment alone.
 *
 * ## Layout
 *
 * One directory per shard. In it, per segment, three files named by the
 * segment's base sequence number as 20 zero-padded decimal digits:
 *
 *     00000001099511627776.log   segment: header block + record batches
 *     00000001099511627776.idx   sparse offset index  (struct sl_idx_entry)
 *     00000001099511627776.tix   sparse time index    (struct sl_tix_entry)
 *
 * The .log file is preallocated (fallocate) to its capacity when created.
 * Bytes after the last batch are zeros, or, in a segment file reused from a
 * retired one (kept meanwhile as "spare-<20 digits>.log", which is never
 * data), the old segment's bytes: a reader must not rely on zeros, only on
 * the torn-tail rule below, whose base_seq check rejects old batches. The
 * index files are derived data: a reader that finds one missing, short or
 * corrupt rebuilds it by scanning the .log file. Only the .log file is
 * fsynced with the data.
 *
 * ## Byte order and alignment
 *
 * Every integer is little-endian. Every batch starts at a multiple of 8
 * bytes from the start of the file, and its length is a multiple of 8.
 *
 * ## Segment file
 *
 *     offset 0                      4096                                 capacity
 *     +-----------------------------+---------+---------+-----+---------+--------+
 *     | segment header (4096 bytes) | batch 0 | batch 1 | ... | batch n | zeros  |
 *     +-----------------------------+---------+---------+-----+---------+--------+
 *
 * Segment header (first 64 bytes of the block, the rest zero):
 *
 *      0       8       12      16              24              32
 *     +-------+-------+-------+---------------+---------------+
 *     | magic |version|hdr_crc|   base_seq    |   create_ns   |
 *     +-------+-------+-------+---------------+---------------+
 *     32              40      44      48              56      64
 *     +---------------+-------+-------+---------------+-------+
 *     |   capacity    | shard | state |   end_offset  | rsvd  |
 *     +---------------+-------+-------+---------------+-------+
 *
 * - magic is SL_SEG_MAGIC; version is SL_FORMAT_VERSION.
 * - hdr_crc is the CRC32C of the 64 header bytes with hdr_crc set to zero.
 * - state is SL_SEG_OPEN while the segment takes appends and SL_SEG_SEALED
 *   once every batch in it is durable; end_offset is then the file offset
 *   just past the last batch (zero while open). The header is written
 *   first when the segment is created and rewritten once when it is sealed.
 *
 * ## Record batch (at any 8-aligned offset >= 4096)
 *
 *      0       4       8       12      14      16              24
 *     +-------+-------+-------+-------+-------+---------------+
 *     | magic |  crc  |length |version| flags |   base_seq    |
 *     +-------+-------+-------+-------+-------+---------------+
 *     24      28      32              40              48
 *     +-------+-------+---------------+---------------+-------------+
 *     | count | rsvd  |  first_ts_ns  |  last_ts_ns   | records ... |
 *     +-------+-------+---------------+---------------+-------------+
 *
 * - length is the whole batch in bytes, header included, a multiple of 8.
 * - crc is the CRC32C of bytes [8, length) of the batch: the rest of the
 *   header after the crc field and every record, padding included.
 * - base_seq is the sequence number of the first record; record i has
 *   base_seq + i. Within a segment, sequence numbers are contiguous: the
 *   first batch has the segment's base_seq and each next batch starts where
 *   the previous one ended.
 * - count >= 1; first_ts_ns <= last_ts_ns are the arrival timestamps
 *   (CLOCK_REALTIME nanoseconds) of the first and last record. Arrival
 *   timestamps never decrease along a shard.
 *
 * Record (inside a batch, at an 8-aligned offset from the batch start):
 *
 *      0          4       6       8               16                32
 *     +----------+-------+-------+---------------+-----------------+
 *     | data_len |key_len| flags |  arrival_ns   | hash_key (16 B) |
 *     +----------+-------+-------+---------------+-----------------+
 *     32                                        32+key_len+data_len
 *     +-------------------+--------------------+---------+
 *     | partition key     | data               | 0 pad   |  to a multiple of 8
 *     +-------------------+--------------------+---------+
 *
 * - hash_key is the 128-bit hash key, big-endian (the MD5 digest of the
 *   partition key as Kinesis computes it, or the explicit hash key).
 * - 1 <= key_len <= SL_MAX_KEY_BYTES; data_len <= SL_MAX_RECORD_BYTES_LIMIT
 *   (the configured limit is at most this).
 * - The records of a batch fill it exactly: the sum of their padded sizes is
 *   length - 48.
 *
 * ## Torn-tail rule
 *
 * A reader scans batches from offset 4096. A batch is valid when its magic
 * and version match, 48 < length, length is a multiple of 8, the batch lies
 * within the file, its CRC matches, its base_seq is the expected next
 * sequence number, and its records fill it exactly. The first batch that is
 * not valid ends the segment's data:
 *
 * - in a segment whose header says SL_SEG_OPEN (the writer stopped without
 *   sealing it: a crash), everything from that batch on is a torn tail and
 *   recovery overwrites it with zeros; nothing there was ever durable-acked,
 *   because an ack follows an fdatasync covering the whole batch.
 * - in a SL_SEG_SEALED segment, an invalid batch before end_offset is
 *   corruption: it is reported with its sequence range, and reading resumes
 *   at the next valid batch (found through the index, or by searching
 *   forward for a valid batch at 8-byte steps).
 *
 * ## Index files
 *
 * Both files are arrays of fixed-size entries with no header, written in
 * increasing order: one entry for the first batch of the segment and then
 * one for the first batch that starts at least index_interval bytes after
 * the previous entry's batch. Each entry names a batch by its offset and
 * repeats its crc, so a reader verifies an entry against the batch it points
 * at; entry_crc covers the entry's other bytes so a flipped bit in the index
 * itself is seen without touching the log. An index may lag the segment (the
 * tail is found by scanning from its last entry) but never points past
 * durable data.
 *
 * ## Sequence numbers
 *
 * A sequence number is an unsigned 64-bit integer, shown as its decimal
 * string. The top 24 bits are an epoch, the low 40 a counter. Each time a
 * log is opened it starts a new segment in a new epoch (the largest epoch
 * found on disk plus one), so numbers handed out before a crash but never
 * made durable are never handed out again. Epoch 0 is never used, so 0 is
 * never a valid sequence number.
 */
#ifndef SLUICE_LOG_FORMAT_H
#define SLUICE_LOG_FORMAT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "sluice's on-disk format is little-endian; this build assumes a little-endian host"
#endif

#define SL_FORMAT_VERSION 1

/** Segment header block size; batches start at this offset. */
#define SL_SEG_HDR_BYTES 4096u
/** "SLUICESG" read as a little-endian u64. */
#define SL_SEG_MAGIC 0x4753454349554c53ull
/** "SLB1" read as a little-endian u32. */
#define SL_BATCH_MAGIC 0x31424c53u

#define SL_SEG_OPEN   1u
#define SL_SEG_SEALED 2u

#define SL_BATCH_HDR_BYTES  48u
#define SL_RECORD_HDR_BYTES 32u
/** Kinesis allows 256 characters of partition key: up to 1024 bytes of UTF-8. */
#define SL_MAX_KEY_BYTES 1024u
/** The largest record data any configuration may allow (Kinesis's 10 MiB). */
#define SL_MAX_RECORD_BYTES_LIMIT (10u << 20)

#define SL_SEQ_COUNTER_BITS 40
#define SL_SEQ_EPOCH_BITS   24

/** Segment file name: 20 digits + ".log" + NUL. */
#define SL_SEG_NAME_MAX 32

struct sl_seg_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_crc;
	uint64_t base_seq;
	int64_t create_ns;
	uint64_t capacity;
	uint32_t shard_id;
	uint32_t state;
	uint64_t end_offset;
	uint64_t reserved;
};

struct sl_batch_hdr {
	uint32_t magic;
	uint32_t crc;
	uint32_t length;
	uint16_t version;
	uint16_t flags;
	uint64_t base_seq;
	uint32_t count;
	uint32_t reserved;
	int64_t first_ts_ns;
	int64_t last_ts_ns;
};

struct sl_record_hdr {
	uint32_t data_len;
	uint16_t key_len;
	uint16_t flags;
	int64_t arrival_ns;
	uint8_t hash_key[16];
};

/** Offset index entry: the batch holding base_seq + rel_seq starts at offset. */
struct sl_idx_entry {
	uint32_t rel_seq;
	uint32_t offset;
	uint32_t batch_crc;
	uint32_t entry_crc; /**< CRC32C of the 12 bytes before it */
};

/** Time index entry: the batch at offset is the first with first_ts_ns >= ts_ns. */
struct sl_tix_entry {
	int64_t ts_ns;
	uint32_t rel_seq;
	uint32_t offset;
	uint32_t batch_crc;
	uint32_t entry_crc; /**< CRC32C of the 20 bytes before it */
};

static_assert(sizeof(struct sl_seg_hdr) == 64, "segment header is 64 bytes");
static_assert(offsetof(struct sl_seg_hdr, base_seq) == 16, "segment header layout");
static_assert(offsetof(struct sl_seg_hdr, capacity) == 32, "segment header layout");
static_assert(offsetof(struct sl_seg_hdr, end_offset) == 48, "segment header layout");
static_assert(sizeof(struct sl_batch_hdr) == SL_BATCH_HDR_BYTES, "batch header is 48 bytes");
static_assert(offsetof(struct sl_batch_hdr, crc) == 4, "crc at 4");
static_assert(offsetof(struct sl_batch_hdr, length) == 8, "crc covers from length on");
static_assert(offsetof(struct sl_batch_hdr, base_seq) == 16, "batch header layout");
static_assert(offsetof(struct sl_batch_hdr, first_ts_ns) == 32, "batch header layout");
static_assert(sizeof(struct sl_record_hdr) == SL_RECORD_HDR_BYTES, "record header is 32 bytes");
static_assert(offsetof(struct sl_record_hdr, hash_key) == 16, "record header layout");
static_assert(sizeof(struct sl_idx_entry) == 16, "offset index entry is 16 bytes");
static_assert(sizeof(struct sl_tix_entry) == 24, "time index entry is 24 bytes");
static_assert(SL_SEQ_COUNTER_BITS + SL_SEQ_EPOCH_BITS == 64, "seq is 64 bits");

/** Padded on-disk size of one record. */
static inline uint32_t sl_record_disk_bytes(uint32_t key_len, uint32_t data_len)
{
	return (SL_RECORD_HDR_BYTES + key_len + data_len + 7u) & ~7u;
}

static inline uint64_t sl_seq_epoch(uint64_t seq)
{
	return seq >> SL_SEQ_COUNTER_BITS;
}

static inline uint64_t sl_seq_first_of_epoch(uint64_t epoch)
{
	return epoch << SL_SEQ_COUNTER_BITS;
}

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file wire.h
 * The sluice producer wire protocol, version 1: what producers send to the
 * engine and what the engine answers, one frame per UDP datagram.
 *
 * A compatible producer or engine can be written from this comment alone.
 *
 * ## Transport
 *
 * Each frame is the whole payload of one UDP datagram (IPv4 or IPv6). IP
 * fragments are not accepted: a frame must fit the path MTU (1472 bytes of
 * UDP payload on a 1500-byte Ethernet MTU). The engine listens on one UDP
 * port (SL_WIRE_DEFAULT_PORT unless configured) and answers from that port
 * to the source address and port of the frame it answers.
 *
 * ## Byte order
 *
 * Every integer is little-endian, except hash keys: a hash key is a 128-bit
 * unsigned integer stored big-endian (most significant byte first), which is
 * exactly the byte order of an MD5 digest.
 *
 * ## Frame header (every frame type, 48 bytes)
 *
 *      0       4       8       12  13  14      16              24
 *     +-------+-------+-------+---+---+-------+---------------+
 *     | magic |  crc  |length |ver|typ| flags |  producer_id  |
 *     +-------+-------+-------+---+---+-------+---------------+
 *     24              32      36      38      40              48
 *     +---------------+-------+-------+-------+---------------+------ - -
 *     |   batch_seq   |stream | count | rsvd  |     floor     | body ...
 *     +---------------+-------+-------+-------+---------------+------ - -
 *
 * - magic is SL_WIRE_MAGIC ("SLWP" in memory order).
 * - crc is the CRC32C (Castagnoli, as in iSCSI and ext4) of bytes
 *   [8, length) of the frame: everything after the crc field.
 * - length is the whole frame in bytes, header included; it must equal the
 *   UDP payload length (trailing bytes are an error, not padding).
 * - ver is SL_WIRE_VERSION. A frame of another version is dropped and
 *   counted; a later version changes this byte, so an old engine rejects a
 *   new producer cleanly instead of misreading it.
 * - typ is one of enum sl_wire_type. flags depend on the type; bits not
 *   defined for a type must be zero.
 * - producer_id names the producer (random 64-bit, chosen once per producer
 *   instance, never 0); batch_seq numbers its PUT frames (starting at 1,
 *   increasing). A retry resends the identical frame, same producer_id and
 *   batch_seq; the engine recognises a batch it already appended and
 *   answers with the sequence numbers it assigned the first time.
 * - stream is the stream id (see RESOLVE). count is the number of records
 *   (PUT) or of ack entries (ACK). rsvd is zero.
 * - floor (PUT only, zero in other types): every batch of this producer
 *   numbered below floor is final at the producer and will never be sent
 *   again, so the engine may forget it. A producer sends the lowest batch_seq
 *   it still has outstanding (this one included), so floor <= batch_seq; a
 *   retry keeps the floor of its first send. The engine keeps what it needs
 *   to recognise retries of every batch at or above a producer's latest
 *   floor (and of every batch of a producer it heard from recently, when the
 *   floor is 0: unknown), and answers THROTTLED rather than forget one.
 *
 * ## PUT (producer -> engine)
 *
 * flags bits 0-1: the ack mode (enum sl_wire_ack_mode). count is 1 to
 * SL_WIRE_MAX_RECORDS. The body is count records, back to back, no padding:
 *
 *      0       2   3   4                               20
 *     +-------+---+---+-------------------------------+-----+------+
 *     |data_len|kl|flg|  hash_key (16, big-endian)    | key | data |
 *     +-------+---+---+-------------------------------+-----+------+
 *
 * - data_len: bytes of data, 0 to 65535.
 * - kl: partition key length minus one (keys are 1 to 256 bytes).
 * - flg: bit 0 set when hash_key is an explicit hash key chosen by the
 *   producer, clear when it is the MD5 of the partition key (the producer
 *   computes it, the engine does not). Other bits zero.
 * - The engine routes a record by hash_key to the shard whose hash-key range
 *   holds it, and stores key, hash_key and data.
 * - The records must end exactly at length.
 *
 * ## ACK (engine -> producer)
 *
 * Echoes producer_id, batch_seq and stream of the PUT it answers; flags
 * bits 0-1 hold the ack level this frame reports (received, written or
 * durable). count is 1 to SL_WIRE_MAX_RECORDS entries of 20 bytes:
 *
 *      0               8       12      14      16      18      20
 *     +---------------+-------+-------+-------+-------+-------+
 *     |   first_seq   | shard | index | nrec  |status | rsvd  |
 *     +---------------+-------+-------+-------+-------+-------+
 *
 * An entry reports records index .. index+nrec-1 of the PUT (indices count
 * from 0 in frame order), all on shard `shard`. With status SL_WIRE_OK the
 * k-th of them has sequence number first_seq + k; otherwise first_seq is 0
 * and status says why none of them were stored.
 *
 * The records of one PUT may go to several shards owned by different engine
 * cores, so one PUT may be answered by several ACK frames, each covering a
 * subset of its records; every record is covered exactly once at a given ack
 * level. A producer is done with a PUT when every record has a final answer.
 * SL_WIRE_PENDING is not final: the records were appended but have not
 * reached the requested level yet (it answers a retry that arrives early);
 * the final ACK follows without another retry.
 *
 * An ACK is never larger than the PUT it answers (the headers are the same
 * size, an entry is 20 bytes, a record at least 21), so it fits the same
 * path.
 *
 * ## RESOLVE / RESOLVED (stream name -> id)
 *
 * RESOLVE: stream = 0, count = 0, the body is the stream name (1 to
 * SL_WIRE_MAX_NAME bytes, no NUL). RESOLVED echoes producer_id and batch_seq
 * and carries the stream id in `stream` (0 if no such stream) and the
 * stream's shard count in `count` (0 if none); its body is empty.
 *
 * ## Limits
 *
 * The engine drops (and counts, per reason, enum sl_wire_drop) any frame
 * that fails a rule above. Drops are silent on the wire: a frame that fails
 * its CRC cannot be trusted to name its sender. Record-level problems that
 * the frame itself is sound about (an unknown stream, a record larger than
 * the stream accepts, back-pressure) are answered in the ACK.
 */
#ifndef SLUICE_WIRE_H
#define SLUICE_WIRE_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SL_WIRE_MAGIC           0x50574c53u /* "SLWP" little-endian */
#define SL_WIRE_VERSION         1
#define SL_WIRE_DEFAULT_PORT    7447
#define SL_WIRE_HDR_BYTES       48
#define SL_WIRE_REC_HDR_BYTES   20
#define SL_WIRE_ACK_ENTRY_BYTES 20
#define SL_WIRE_MAX_RECORDS     500 /* per PUT, as Kinesis PutRecords */
#define SL_WIRE_MAX_KEY         256
#define SL_WIRE_MAX_NAME        128
#define SL_WIRE_MAX_FRAME       65507 /* largest IPv4 UDP payload */

enum sl_wire_type {
	SL_WIRE_PUT = 1,
	SL_WIRE_ACK = 2,
	SL_WIRE_RESOLVE = 3,
	SL_WIRE_RESOLVED = 4,
};

enum sl_wire_ack_mode {
	SL_WIRE_ACK_NONE = 0,     /* no ACK at all, errors included */
	SL_WIRE_ACK_RECEIVED = 1, /* the owning shard assigned sequence numbers */
	SL_WIRE_ACK_WRITTEN = 2,  /* the write completed: survives a process crash */
	SL_WIRE_ACK_DURABLE = 3,  /* fdatasync completed: survives a machine crash */
};
#define SL_WIRE_FLAG_ACK_MASK     0x3u
#define SL_WIRE_REC_EXPLICIT_HASH 0x1u

/* Per-record status in an ACK entry. X(name, value, text) */
#define SL_WIRE_STATUSES(X)                                                                        \
	X(OK, 0, "ok")                                                                             \
	X(UNKNOWN_STREAM, 1, "no such stream")                                                     \
	X(TOO_LARGE, 2, "record data larger than the stream accepts")                              \
	X(THROTTLED, 3, "engine busy: back-pressure, retry later")                                 \
	X(PENDING, 4, "appended, not yet at the requested ack level")                              \
	X(FAILED, 5, "storage failed: the records will never be durable")                          \
	X(INVALID, 6, "record rejected by the shard (bad key)")                                    \
	X(CLOSED, 7, "shard closed")

enum sl_wire_status {
#define SL_X_ENUM(n, v, t) SL_WIRE_##n = v,
	SL_WIRE_STATUSES(SL_X_ENUM)
#undef SL_X_ENUM
	        SL_WIRE_STATUS_COUNT
};

/* Why the engine dropped a frame. X(name, text) */
#define SL_WIRE_DROPS(X)                                                                           \
	X(SHORT, "shorter than a frame header")                                                    \
	X(MAGIC, "bad magic")                                                                      \
	X(VERSION, "unsupported version")                                                          \
	X(LENGTH, "length field disagrees with the datagram")                                      \
	X(CRC, "CRC32C mismatch")                                                                  \
	X(TYPE, "unknown or unexpected frame type")                                                \
	X(FLAGS, "reserved bits set")                                                              \
	X(NRECORDS, "record count zero or over the limit")                                         \
	X(RECORD, "record runs past the frame end or has a bad header")                            \
	X(TRAILING, "bytes after the last record")                                                 \
	X(FLOOR, "floor above the batch sequence, or set outside a PUT")                           \
	X(PRODUCER, "producer id 0 on a PUT")                                                      \
	X(NAME, "stream name empty or too long")

enum sl_wire_drop {
#define SL_X_ENUM(n, t) SL_WIRE_DROP_##n,
	SL_WIRE_DROPS(SL_X_ENUM)
#undef SL_X_ENUM
	        SL_WIRE_DROP_COUNT
};

/* Field offsets, for encoders and decoders that do not overlay structs. */
enum {
	SL_WIRE_OFF_MAGIC = 0,
	SL_WIRE_OFF_CRC = 4,
	SL_WIRE_OFF_LENGTH = 8,
	SL_WIRE_OFF_VERSION = 12,
	SL_WIRE_OFF_TYPE = 13,
	SL_WIRE_OFF_FLAGS = 14,
	SL_WIRE_OFF_PRODUCER = 16,
	SL_WIRE_OFF_BATCH_SEQ = 24,
	SL_WIRE_OFF_STREAM = 32,
	SL_WIRE_OFF_COUNT = 36,
	SL_WIRE_OFF_RSVD = 38,
	SL_WIRE_OFF_FLOOR = 40,
};

/* The header as a struct; matches the bytes on a little-endian host. */
struct sl_wire_hdr {
	uint32_t magic;
	uint32_t crc;
	uint32_t length;
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint64_t producer_id;
	uint64_t batch_seq;
	uint32_t stream;
	uint16_t count;
	uint16_t rsvd;
	uint64_t floor;
};
static_assert(sizeof(struct sl_wire_hdr) == SL_WIRE_HDR_BYTES, "wire header size");
static_assert(offsetof(struct sl_wire_hdr, floor) == SL_WIRE_OFF_FLOOR, "floor");
static_assert(offsetof(struct sl_wire_hdr, producer_id) == SL_WIRE_OFF_PRODUCER, "producer_id");
static_assert(offsetof(struct sl_wire_hdr, batch_seq) == SL_WIRE_OFF_BATCH_SEQ, "batch_seq");
static_assert(offsetof(struct sl_wire_hdr, stream) == SL_WIRE_OFF_STREAM, "stream");
static_assert(offsetof(struct sl_wire_hdr, count) == SL_WIRE_OFF_COUNT, "count");

struct sl_wire_ack_entry {
	uint64_t first_seq;
	uint32_t shard;
	uint16_t index;
	uint16_t nrec;
	uint16_t status;
	uint16_t rsvd;
} __attribute__((packed));
static_assert(sizeof(struct sl_wire_ack_entry) == SL_WIRE_ACK_ENTRY_BYTES, "ack entry size");

/* A record of a PUT, as the decoder presents it (pointers into the frame). */
struct sl_wire_rec {
	const uint8_t *hash_key; /* 16 bytes, big-endian */
	const uint8_t *key;
	const uint8_t *data;
	uint32_t data_len;
	uint16_t key_len;
	uint8_t flags;
};

#endif

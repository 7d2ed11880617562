/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file client.h
 * The sluice producer: batches records into PUT frames (<sluice/wire.h>),
 * sends them over UDP, matches the engine's ACKs and retries what was not
 * answered, and reports one final result per record through a callback.
 *
 * ## Threading and driving
 *
 * A producer is single-threaded and has no hidden threads: the caller's
 * thread calls sl_producer_put() to queue records and sl_producer_poll()
 * (or sl_producer_flush()) to move them. poll sends frames that are due,
 * reads ACKs, retries frames that timed out and delivers callbacks, all on
 * the caller's thread. sl_producer_fd() gives the socket for an epoll loop
 * that wants to sleep elsewhere; call poll with timeout 0 when it is
 * readable or when the time sl_producer_next_timeout_us() returned passes.
 *
 * Callbacks run inside poll/flush. A callback may call sl_producer_put()
 * (poll and flush return -EBUSY from inside a callback); it must not free
 * the producer.
 *
 * ## Life of a record
 *
 *      put ──▶ its shard's open frame ──(linger_us, or full)──▶ sealed ──▶ sent ──▶ final
 *                                                                 ▲         │
 *                                                                 └─ retry ─┘
 *
 * - Records are batched per shard, as the Kinesis Producer Library does:
 *   the producer maps each hash key (the MD5 of the partition key, or the
 *   explicit one) to a shard with the engine's even split of the 128-bit
 *   hash space over the shard count RESOLVED reported (shard k of n owns
 *   [floor(k * 2^128 / n), floor((k + 1) * 2^128 / n))), and keeps one open
 *   frame per shard, so a frame's records all go to one shard and the
 *   engine stores and answers it as one part. With a shard count of 0 or 1
 *   all records share one open frame. (A stream whose shards were split or
 *   merged unevenly still works: frames just may span two shards.)
 * - put copies key and data into its shard's open frame (no reference is
 *   kept), opening one if there is none.
 * - An open frame is sealed when the next record of its shard does not fit
 *   it, when it holds max_batch_records, when its first record has waited
 *   linger_us (each open frame has its own linger deadline), at flush, or
 *   when a record for another shard needs a new open frame while
 *   max_open_frames are open: then the oldest open frame is sealed.
 * - Each frame gets the next batch_seq (1, 2, ...) when it is opened. The
 *   frames of one shard are sealed and sent in batch_seq order, so one
 *   shard's records leave in put order; frames of different shards need
 *   not leave in batch_seq order (one opened earlier may seal later). The
 *   floor of a PUT is the lowest batch_seq of any frame not yet final, open
 *   frames included.
 * - A sent frame keeps its encoded bytes until every record in it has a
 *   final answer, so a retry resends identical bytes (same producer_id and
 *   batch_seq) and the engine's dedup answers it with the sequence numbers
 *   it already assigned.
 * - A frame not fully answered within timeout_ms is resent, up to
 *   max_attempts sends in all; then its unanswered records fail with
 *   -ETIMEDOUT (or SL_WIRE_THROTTLED if the engine's last word on them was
 *   THROTTLED).
 * - SL_WIRE_PENDING, and SL_WIRE_OK at an ack level below the requested
 *   one, are not final: they push the frame's deadline timeout_ms out
 *   without a resend (every resend still counts against max_attempts, so a
 *   record cannot stay pending for ever).
 * - SL_WIRE_THROTTLED is retryable: the whole frame is resent after a
 *   backoff that starts at timeout_ms / 4 and doubles per THROTTLED answer
 *   for that frame, up to 4 * timeout_ms.
 * - Any other status is final for the records it covers. The first final
 *   answer for a record wins; later answers for it are counted and ignored.
 * - With SL_WIRE_ACK_NONE the engine answers nothing: a record is final,
 *   SL_WIRE_OK with seq 0 and shard SL_PRODUCER_NO_SHARD, once its frame
 *   has been handed to the kernel.
 *
 * ## Bounded memory
 *
 * A producer allocates at most max_inflight + O frame buffers, where O =
 * min(max_open_frames or, if that is 0, min(shard count,
 * SL_PRODUCER_DEFAULT_OPEN), max(shard count, 1)) (lazily, as the load
 * first needs them, and keeps them until it is freed): up to O open frames
 * and up to max_inflight sealed ones, sent or waiting to be sent. Each
 * buffer is max_frame_bytes plus 16 bytes per record slot; with the
 * defaults (1472-byte frames, 16 or more shards) that is at most
 * 320 frames of ~2.6 KB. The producer also keeps a pointer per shard. put
 * returns -EAGAIN, changing nothing, when accepting the record would
 * exceed max_queued_records records not yet sent or max_inflight sealed
 * frames (including sealing a frame to make room: its shard's full frame,
 * or the oldest open frame when O are open); the caller polls and tries
 * again.
 */
#ifndef SLUICE_CLIENT_H
#define SLUICE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <sluice/wire.h>

/** Shard of a result that no engine reported (ack mode NONE, -ETIMEDOUT). */
#define SL_PRODUCER_NO_SHARD UINT32_MAX

/** Bounds of the configuration; sl_producer_create() rejects values outside. */
#define SL_PRODUCER_MIN_FRAME    (SL_WIRE_HDR_BYTES + SL_WIRE_REC_HDR_BYTES + 1)
#define SL_PRODUCER_MAX_LINGER   10000000u /* µs: 10 s */
#define SL_PRODUCER_MAX_TIMEOUT  600000u   /* ms: 10 min */
#define SL_PRODUCER_MAX_ATTEMPTS 1000u
#define SL_PRODUCER_MAX_INFLIGHT 65536u
#define SL_PRODUCER_MAX_QUEUED   (1u << 24)
#define SL_PRODUCER_MAX_OPEN     65536u
/** Open frames at most when max_open_frames is 0 (and the stream has at
 *  least this many shards). */
#define SL_PRODUCER_DEFAULT_OPEN 64u

/** A producer's settings. Start from sl_producer_config_default(). */
struct sl_producer_config {
	/** Engine address: an IPv4 or IPv6 literal or a name for getaddrinfo().
	 *  Every address of a name is tried in turn at create. Default
	 *  "127.0.0.1". */
	const char *host;
	/** Engine UDP port. Default SL_WIRE_DEFAULT_PORT. */
	uint16_t port;
	/** Stream name (1 to SL_WIRE_MAX_NAME bytes), resolved at create. No
	 *  default: it must be set. */
	const char *stream;
	/** How long a partial frame waits for more records, µs. Default 500;
	 *  0 sends at the next poll. */
	uint32_t linger_us;
	/** Largest datagram, bytes: the UDP payload the path carries without IP
	 *  fragmentation. Default 1472 (1500-byte MTU); SL_PRODUCER_MIN_FRAME to
	 *  SL_WIRE_MAX_FRAME. */
	uint32_t max_frame_bytes;
	/** Records per frame at most. Default and maximum SL_WIRE_MAX_RECORDS. */
	uint32_t max_batch_records;
	/** Resend a frame not fully answered after this, ms. Default 100. */
	uint32_t timeout_ms;
	/** Sends of one frame, the first included, before its unanswered records
	 *  fail. Default 20. */
	uint32_t max_attempts;
	/** Frames sealed and not final (waiting to be sent or sent); beyond it
	 *  put returns -EAGAIN. Default 256. */
	uint32_t max_inflight;
	/** Records put and not yet sent; beyond it put returns -EAGAIN.
	 *  Default 65536. */
	uint32_t max_queued_records;
	/** Ack level a record waits for. Default SL_WIRE_ACK_DURABLE. */
	enum sl_wire_ack_mode ack_mode;
	/** Open frames (one per shard) at most; a record that needs one more
	 *  seals the oldest. 0 (the default) means min(shard count,
	 *  SL_PRODUCER_DEFAULT_OPEN); 1 packs every shard's records into one
	 *  frame in put order; never more than the shard count.
	 *  0 to SL_PRODUCER_MAX_OPEN. */
	uint32_t max_open_frames;
};

/** The final result of one record, passed to the callback. */
struct sl_put_result {
	/** The caller's pointer given to put. */
	void *user;
	/** Sequence number the shard assigned (status SL_WIRE_OK), else 0. */
	uint64_t seq;
	/** Shard the engine reported, or SL_PRODUCER_NO_SHARD. */
	uint32_t shard;
	/** SL_WIRE_OK (0); another enum sl_wire_status (> 0) the engine
	 *  answered (SL_WIRE_THROTTLED when attempts ran out while throttled);
	 *  or a negative errno: -ETIMEDOUT when max_attempts sends went
	 *  unanswered. */
	int status;
};

/** Called once per record with its final result, from poll or flush. */
typedef void sl_put_cb(void *arg, const struct sl_put_result *r);

/** Producer counters, X(name, description). */
#define SL_PRODUCER_STATS(X)                                                                       \
	X(records_put, "records accepted by put")                                                  \
	X(records_ok, "records final with SL_WIRE_OK")                                             \
	X(records_failed, "records final with any other status")                                   \
	X(frames_sent, "PUT frames sent for the first time")                                       \
	X(retries, "PUT frames sent again (timeout or throttle)")                                  \
	X(acks_received, "ACK frames accepted")                                                    \
	X(acks_dropped, "datagrams dropped: invalid, foreign, unknown batch, bad indices")         \
	X(acks_stale, "ACK frames for frames already final")                                       \
	X(answers_duplicate, "ACK answers for records already final")                              \
	X(answers_throttled, "THROTTLED ACK entries")                                              \
	X(answers_pending, "PENDING ACK entries, and OK below the requested level")                \
	X(send_errors, "datagrams the kernel refused (treated as lost)")

/** A snapshot of the counters (sl_producer_stats()). */
struct sl_producer_stats {
#define SL_X_FIELD(n, d) uint64_t n;
	SL_PRODUCER_STATS(SL_X_FIELD)
#undef SL_X_FIELD
};

struct sl_producer;

/** Fills c with the defaults documented in struct sl_producer_config
 *  (stream NULL: the caller must set it). */
void sl_producer_config_default(struct sl_producer_config *c);

/**
 * Creates a producer: checks the config, opens a non-blocking UDP socket
 * connected to the engine, picks a random non-zero producer_id and
 * resolves the stream name. Blocks for the RESOLVE exchange: up to
 * min(max_attempts, 5) sends per address of host, the first timeout_ms
 * after the previous, each wait twice the last up to 1 s (so the tries
 * outlast a lost ARP or neighbour exchange).
 *
 * @param c   settings (copied; the strings are not kept).
 * @param cb  called once per record with its final result; may be NULL.
 * @param cb_arg  first argument of cb.
 * @param ret_producer  the producer, on success only.
 * @return 0; -EINVAL for a bad setting; -EHOSTUNREACH if host does not
 *   resolve; -ENOENT if the engine has no such stream; -ETIMEDOUT if no
 *   engine answered; -ENOMEM; another -errno from the socket calls.
 *   sl_producer_errmsg() then says why.
 */
int sl_producer_create(const struct sl_producer_config *c, sl_put_cb *cb, void *cb_arg,
                       struct sl_producer **ret_producer);

/** Why the last sl_producer_create() on this thread failed, or "". */
const char *sl_producer_errmsg(void);

/**
 * Queues one record routed by the MD5 of its partition key.
 *
 * @param key  partition key, 1 to SL_WIRE_MAX_KEY bytes.
 * @param data  record data, len bytes (NULL allowed when len is 0).
 * @param user  passed back in the record's result.
 * @return 0; -EINVAL for a key of bad length or NULL pointers; -EMSGSIZE
 *   if the record cannot fit one frame (len > max_frame_bytes -
 *   SL_WIRE_HDR_BYTES - SL_WIRE_REC_HDR_BYTES - key_len); -EAGAIN if a
 *   limit is reached (poll, then retry); -ENOMEM.
 */
int sl_producer_put(struct sl_producer *p, const void *key, size_t key_len, const void *data,
                    size_t len, void *user);

/** sl_producer_put() with an explicit 128-bit hash key (big-endian, as
 *  <sluice/wire.h>) instead of the MD5 of key. */
int sl_producer_put_hash(struct sl_producer *p, const uint8_t hash_key[16], const void *key,
                         size_t key_len, const void *data, size_t len, void *user);

/**
 * Does the producer's work: seals open frames whose linger expired,
 * sends sealed frames, reads ACKs, resends timed-out frames, fails frames
 * out of attempts, and delivers callbacks. Then, if no callback was
 * delivered and records are outstanding, waits up to timeout_ms (-1: no
 * limit, 0: not at all) for something to do and does it.
 *
 * @return callbacks delivered (0 also when nothing is outstanding), or
 *   -EBUSY from inside a callback, or another -errno from the socket.
 */
int sl_producer_poll(struct sl_producer *p, int timeout_ms);

/**
 * Seals the open frames whatever their linger and polls until every record
 * put so far (and put by callbacks meanwhile) has a final result, or
 * timeout_ms passes (-1: no limit; records still end, after max_attempts).
 *
 * @return records still outstanding (0: all done), or -errno as poll.
 */
int sl_producer_flush(struct sl_producer *p, int timeout_ms);

/** Microseconds until the producer next has timed work (a linger or a
 *  retry deadline), 0 if it has some now, -1 if none; for callers that
 *  wait in their own epoll. */
int64_t sl_producer_next_timeout_us(const struct sl_producer *p);

/** The UDP socket, for the caller's epoll (readable: ACKs to poll). */
int sl_producer_fd(const struct sl_producer *p);

/** Stream id the engine resolved the name to. */
uint32_t sl_producer_stream_id(const struct sl_producer *p);

/** Shard count the engine reported at resolve. */
uint32_t sl_producer_shard_count(const struct sl_producer *p);

/** The 64-bit producer_id this producer puts in its frames. */
uint64_t sl_producer_id(const struct sl_producer *p);

/** Records put and without a final result yet. */
uint32_t sl_producer_outstanding(const struct sl_producer *p);

/** Copies the counters into *ret_stats. */
void sl_producer_stats(const struct sl_producer *p, struct sl_producer_stats *ret_stats);

/** Closes the socket and frees everything. NULL-safe. Records still
 *  outstanding are dropped without callbacks. Not from a callback. */
void sl_producer_free(struct sl_producer *p);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stream catalog: which streams exist, their shards and hash-key ranges,
 * the parent/child lineage that split and merge leave behind, status,
 * retention, capacity mode and tags. It is the control plane's source of
 * truth; the HTTP API answers from it and the dataplane's routing tables
 * are built from its open shards.
 *
 * Semantics follow Kinesis Data Streams (research/kinesis-api.md 2.1-2.4,
 * 2.9, 2.10, section 3). Every failing call returns -errno and leaves a
 * sentence in sl_errmsg() worded as Kinesis words it, so the HTTP layer can
 * send it as the message; sl_catalog_err_kind() tells which exception.
 *
 * Persistence: when opened with a directory, every successful change
 * rewrites the whole catalog to <dir>/catalog.json.tmp, fsyncs it, renames
 * it over <dir>/catalog.json and fsyncs the directory, before the call
 * returns. A crash (kill -9, power loss) leaves the old file or the new one.
 * A change that cannot be persisted is not applied (-EIO). A leftover .tmp
 * is ignored and overwritten.
 *
 * catalog.json, UTF-8 JSON, written compact on one line (shown indented):
 *
 *   { "version": 1,
 *     "next_stream_id": 3,              -- ids are never reused; 1..65535
 *     "streams": [                      -- sorted by name, names unique
 *       { "name": "clicks", "id": 1,
 *         "status": "ACTIVE",           -- CREATING|ACTIVE|UPDATING|DELETING
 *         "mode": "PROVISIONED",        -- PROVISIONED|ON_DEMAND
 *         "created_ms": 1700000000000,  -- Unix time, milliseconds
 *         "retention_hours": 24,        -- 24..8760
 *         "next_shard_id": 3,
 *         "tags": [ {"key": "team", "value": "web"} ],   -- sorted by key, <= 50
 *         "shards": [                   -- sorted by id, ids < next_shard_id
 *           { "id": 0, "start": "0", "end": "340282366920938463463374607431768211455",
 *             "parent": null, "adjacent_parent": null,
 *             "start_seq": "0", "closed": true, "closed_ms": 1700000000500,
 *             "end_seq": null },        -- decimal or null (not yet reported)
 *           ... ] } ] }
 *
 * Hash keys and sequence numbers are decimal strings (they exceed JSON's
 * safe integers). The open shards of a stream cover 0..2^128-1 exactly,
 * without gaps or overlaps. A file that is not exactly this (unknown
 * version, missing or extra-typed members, bad ranges, duplicates, over
 * the limits below, larger than SL_CATALOG_MAX_FILE_BYTES) is refused with
 * -EBADMSG and a reason; members not listed here are ignored.
 *
 * Threads: a catalog is not thread-safe; the control plane owns it on one
 * thread. Pointers returned by the lookups stay valid until the next
 * successful change.
 */
#ifndef SL_CONTROL_CATALOG_H
#define SL_CONTROL_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "route.h" /* sl_u128 */

#define SL_CATALOG_NAME_MAX       128   /* stream name bytes ([A-Za-z0-9_.-]) */
#define SL_CATALOG_TAGS_MAX       50    /* tags per stream */
#define SL_CATALOG_TAG_KEY_MAX    128   /* characters */
#define SL_CATALOG_TAG_VALUE_MAX  256   /* characters */
#define SL_CATALOG_RETENTION_MIN  24    /* hours */
#define SL_CATALOG_RETENTION_MAX  8760  /* hours */
#define SL_CATALOG_MAX_STREAMS    4096  /* hard cap on streams */
#define SL_CATALOG_MAX_STREAM_ID  65535 /* ids index the engine's by-id table */
#define SL_CATALOG_MAX_SHARD_RECS 65536 /* hard cap on shards kept (open + closed) */
#define SL_CATALOG_MAX_FILE_BYTES (64u << 20)
#define SL_CATALOG_NO_SHARD       UINT32_MAX
#define SL_CATALOG_SHARD_ID_BUF   21 /* "shardId-" + 12 digits + NUL */
#define SL_CATALOG_HASH_KEY_BUF   40 /* 39 digits + NUL */

/* Kinds of failure, named as the Kinesis exceptions the HTTP layer sends. */
#define SL_CATALOG_ERRORS(X)                                                                       \
	X(NONE, "")                                                                                \
	X(RESOURCE_NOT_FOUND, "ResourceNotFoundException")                                         \
	X(RESOURCE_IN_USE, "ResourceInUseException")                                               \
	X(INVALID_ARGUMENT, "InvalidArgumentException")                                            \
	X(LIMIT_EXCEEDED, "LimitExceededException")                                                \
	X(VALIDATION, "ValidationException")                                                       \
	X(INTERNAL_FAILURE, "InternalFailureException")

enum sl_catalog_err {
#define X(n, s) SL_CATALOG_ERR_##n,
	SL_CATALOG_ERRORS(X)
#undef X
};

#define SL_CATALOG_STATUSES(X) X(CREATING) X(ACTIVE) X(UPDATING) X(DELETING)

enum sl_catalog_status {
#define X(n) SL_CATALOG_##n,
	SL_CATALOG_STATUSES(X)
#undef X
};

#define SL_CATALOG_MODES(X) X(PROVISIONED) X(ON_DEMAND)

enum sl_catalog_mode {
#define X(n) SL_CATALOG_##n,
	SL_CATALOG_MODES(X)
#undef X
};

/* The errno each kind is returned as; anything else (-EIO, -ENOMEM,
 * -EBADMSG, ...) is an internal failure. */
#define SL_CATALOG_E_NOT_FOUND  ENOENT
#define SL_CATALOG_E_IN_USE     EBUSY
#define SL_CATALOG_E_INVALID    EINVAL
#define SL_CATALOG_E_LIMIT      EDQUOT
#define SL_CATALOG_E_VALIDATION EOPNOTSUPP

enum sl_catalog_err sl_catalog_err_kind(int rc);
const char *sl_catalog_err_name(enum sl_catalog_err kind);
const char *sl_catalog_status_name(enum sl_catalog_status s);
const char *sl_catalog_mode_name(enum sl_catalog_mode m);

struct sl_catalog_config {
	const char *dir;             /* NULL: in memory only, nothing persisted */
	uint32_t shard_limit;        /* open shards in all streams (Kinesis: 500) */
	uint32_t stream_shard_limit; /* open shards in one stream */
	uint32_t max_streams;        /* streams, whatever their status */
	uint32_t max_shard_records;  /* shards kept, open and closed, in all streams */
	uint32_t on_demand_shards;   /* shards an ON_DEMAND stream starts with */
	const char *region;          /* for ARNs and messages */
	const char *account;         /* 12 digits */
	/* Wall clock in Unix milliseconds; NULL: CLOCK_REALTIME. Tests pass
	 * their own to make timestamps reproducible. */
	int64_t (*now_ms)(void *arg);
	void *clock_arg;
};

void sl_catalog_config_default(struct sl_catalog_config *c);

struct sl_cat_shard {
	sl_u128 start; /* first hash key */
	sl_u128 end;   /* last hash key, inclusive */
	uint64_t start_seq;
	uint64_t end_seq;  /* valid when closed && end_seq_known */
	int64_t closed_ms; /* when it closed; 0 while open */
	uint32_t id;       /* shardId-<12 digits> */
	uint32_t parent;   /* SL_CATALOG_NO_SHARD if none */
	uint32_t adjacent_parent;
	bool closed;
	bool end_seq_known;
};

struct sl_cat_tag {
	char key[SL_CATALOG_TAG_KEY_MAX * 4 + 1];     /* UTF-8 */
	char value[SL_CATALOG_TAG_VALUE_MAX * 4 + 1]; /* UTF-8 */
};

struct sl_cat_stream {
	char name[SL_CATALOG_NAME_MAX + 1];
	uint32_t id; /* the engine's stream id, never reused */
	enum sl_catalog_status status;
	enum sl_catalog_mode mode;
	int64_t created_ms;
	uint32_t retention_hours;
	uint32_t next_shard_id;
	uint32_t open_shards;
	uint32_t nshards; /* open and closed */
	uint32_t ntags;
	struct sl_cat_shard *shards; /* sorted by id */
	struct sl_cat_tag *tags;     /* sorted by key (bytewise) */
};

struct sl_catalog;

/* Loads <dir>/catalog.json (missing: an empty catalog; the directory is
 * created). -EBADMSG with a reason for a malformed file, -EINVAL for a bad
 * config. */
int sl_catalog_open(const struct sl_catalog_config *c, struct sl_catalog **ret);
void sl_catalog_close(struct sl_catalog *cat); /* NULL-safe */

/* ---- lookups ---- */

uint32_t sl_catalog_nstreams(const struct sl_catalog *cat);
/* i-th stream in name order (ListStreams order). */
const struct sl_cat_stream *sl_catalog_stream_at(const struct sl_catalog *cat, uint32_t i);
/* NULL if no stream has that name. */
const struct sl_cat_stream *sl_catalog_stream(const struct sl_catalog *cat, const char *name);
/* By "arn:aws:kinesis:<region>:<account>:stream/<name>"; NULL if none. */
const struct sl_cat_stream *sl_catalog_stream_by_arn(const struct sl_catalog *cat, const char *arn);
/* NULL if the stream has no such shard (or it expired). */
const struct sl_cat_shard *sl_catalog_shard(const struct sl_cat_stream *s, uint32_t shard_id);
int sl_catalog_stream_arn(const struct sl_catalog *cat, const struct sl_cat_stream *s, char *buf,
                          size_t cap);
/* Open shards in all streams. */
uint32_t sl_catalog_open_shards(const struct sl_catalog *cat);
uint32_t sl_catalog_shard_limit(const struct sl_catalog *cat);
uint32_t sl_catalog_on_demand_streams(const struct sl_catalog *cat);

/* Same streams, shards, tags and counters. */
bool sl_catalog_equal(const struct sl_catalog *a, const struct sl_catalog *b);

/* "shardId-000000000007". */
void sl_catalog_shard_id_format(uint32_t id, char buf[SL_CATALOG_SHARD_ID_BUF]);
/* Parses "shardId-<digits>" (what Kinesis returns); -EINVAL otherwise. */
int sl_catalog_shard_id_parse(const char *s, uint32_t *ret_id);
/* Parses a hash key: decimal "0|[1-9][0-9]{0,38}" up to 2^128-1. */
int sl_catalog_hash_key_parse(const char *s, sl_u128 *ret);

/* ---- changes (persisted before they return 0) ---- */

struct sl_catalog_create {
	const char *name;
	enum sl_catalog_mode mode;
	uint32_t shard_count; /* PROVISIONED: >= 1; ON_DEMAND: 0 (config's count) */
	const struct sl_cat_tag *tags;
	uint32_t ntags;
};

/* A new stream in CREATING with its shards splitting the hash space as
 * Kinesis does (h = floor(2^128 / n); shard i covers [i*h, (i+1)*h - 1],
 * the last ends at 2^128-1). */
int sl_catalog_create_stream(struct sl_catalog *cat, const struct sl_catalog_create *req);
/* CREATING or UPDATING -> ACTIVE, once the dataplane has applied the
 * change. */
int sl_catalog_set_active(struct sl_catalog *cat, const char *name);
/* -> DELETING (from any other status). */
int sl_catalog_delete_stream(struct sl_catalog *cat, const char *name);
/* DELETING -> gone, once the dataplane has let go of it. */
int sl_catalog_purge_stream(struct sl_catalog *cat, const char *name);

/* ACTIVE PROVISIONED stream, open shard, new_start > start + 1 and
 * new_start < end: closes the shard, adds children [start, new_start - 1]
 * and [new_start, end]; the stream goes UPDATING. */
int sl_catalog_split_shard(struct sl_catalog *cat, const char *name, uint32_t shard_id,
                           sl_u128 new_start);
/* Two open shards with adjacent ranges (either order): closes both, adds
 * one child covering both with parent = shard_id and adjacent_parent =
 * adjacent_id; the stream goes UPDATING. */
int sl_catalog_merge_shards(struct sl_catalog *cat, const char *name, uint32_t shard_id,
                            uint32_t adjacent_id);
/* UNIFORM_SCALING to target open shards, ceil(open/2) <= target <=
 * 2 * open: splits at the boundaries of the even layout of target shards,
 * then merges what lies within each target range, as Kinesis does (so
 * lineage always has at most two parents, and short-lived intermediate
 * shards may appear). The stream goes UPDATING. */
int sl_catalog_update_shard_count(struct sl_catalog *cat, const char *name, uint32_t target);
/* Records the last sequence number of a closed shard once its lcore
 * reports it. */
int sl_catalog_set_end_seq(struct sl_catalog *cat, const char *name, uint32_t shard_id,
                           uint64_t end_seq);
int sl_catalog_increase_retention(struct sl_catalog *cat, const char *name, uint32_t hours);
int sl_catalog_decrease_retention(struct sl_catalog *cat, const char *name, uint32_t hours);
/* Adds or overwrites; at most SL_CATALOG_TAGS_MAX after the change. */
int sl_catalog_add_tags(struct sl_catalog *cat, const char *name, const struct sl_cat_tag *tags,
                        uint32_t n);
/* Unknown keys are ignored. */
int sl_catalog_remove_tags(struct sl_catalog *cat, const char *name, const char *const *keys,
                           uint32_t n);
/* Forgets closed shards whose data has aged out (closed_ms + retention
 * <= now_ms). Returns how many it removed. */
int sl_catalog_expire_shards(struct sl_catalog *cat, int64_t now_ms);

/* ListTagsForStream: up to limit tags after exclusive_start_key (NULL:
 * from the first), in key order. */
int sl_catalog_list_tags(const struct sl_catalog *cat, const char *name,
                         const char *exclusive_start_key, uint32_t limit,
                         const struct sl_cat_tag **ret_tags, uint32_t *ret_n, bool *ret_more);

#endif

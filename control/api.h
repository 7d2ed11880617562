/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kinesis Data Streams API (JSON 1.1) over the stream catalog and a data
 * backend. Transport-free: the HTTP glue hands over the target header, the
 * content type and the body, and gets back status, headers and body through
 * a callback. Research: ../shared/research/kinesis-api.md.
 *
 * Threads: one thread (the control plane's loop) makes every call here and
 * every backend call; the backend reports put completions on that thread
 * too (sl_api_put_done()).
 *
 * Control operations change the catalog first (persisted), then call the
 * backend's sync_stream() to bring the data side in line (blocking; the
 * dataplane keeps running), then move the stream to ACTIVE on a later
 * sl_api_tick(), so that clients see CREATING/UPDATING first as with
 * Kinesis.
 */
#ifndef SL_CONTROL_API_H
#define SL_CONTROL_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "log.h" /* storage: struct sl_log, sl_record_in, readers */

/* ---- the data backend (the engine in sluiced; a storage-only fake in tests) ---- */

/* One shard's records of one PutRecord(s) request. The API owns it and the
 * records' key/data memory until sl_api_put_done(). */
struct sl_api_put {
	uint32_t stream_id;
	uint32_t shard_id;
	uint32_t n;
	const struct sl_record_in *recs;
	/* Filled by the backend before sl_api_put_done(): */
	int status;     /* 0: appended and acked at the API's level; -EAGAIN: throttled
	                  * (no record of the part was appended); -ENOENT: shard not open;
	                  * other -errno: failed */
	uint64_t *seqs; /* n entries, the API's array: each record's sequence number */
	void *api_priv; /* the API's */
	void *be_priv;  /* the backend's */
};

/* A shard the backend closed for writes during sync_stream(). */
struct sl_api_shard_end {
	uint32_t shard_id;
	uint64_t end_seq; /* last sequence number appended to it; */
	bool empty;       /* true when it never held a record (end_seq meaningless) */
};

struct sl_api_backend {
	void *arg;
	/*
	 * Brings the data side in line with s: a log opened for every shard of
	 * s it does not have yet (routed when open), shards s lists as closed
	 * stop taking records (each reported in ends[], at most s->nshards),
	 * shards it has that s no longer lists (expired) dropped with their
	 * data. Blocks. 0 or -errno with sl_errmsg().
	 */
	int (*sync_stream)(void *arg, const struct sl_cat_stream *s, struct sl_api_shard_end *ends,
	                   uint32_t *ret_nends);
	/* The stream is gone from the catalog: unroute it, close its logs and
	 * delete its data. Blocks. */
	int (*drop_stream)(void *arg, uint32_t stream_id, const char *name);
	/* Starts an append (async). 0: sl_api_put_done() follows; -EAGAIN: no
	 * room to queue it now (the API answers throttled). */
	int (*put)(void *arg, struct sl_api_put *p);
	/* The log of a shard the backend has (open or closed), for readers on
	 * the API's thread; NULL if none. Valid until the next sync_stream()
	 * or drop_stream() for that stream. */
	struct sl_log *(*log)(void *arg, uint32_t stream_id, uint32_t shard_id);
};

/* ---- the API ---- */

struct sl_api_config {
	uint32_t iterator_ttl_ms;   /* 300000, as Kinesis */
	uint32_t max_record_bytes;  /* data + partition key per record; 1 MiB */
	uint32_t max_request_bytes; /* PutRecords data + keys; 5 MiB */
	uint32_t state_delay_ms;    /* CREATING/UPDATING shown this long before ACTIVE; 0 */
	const char *access_key;     /* NULL: any SigV4 signature is accepted */
	const char *secret_key;
	/* 32 bytes keying the shard iterators' MAC; NULL: random per process. */
	const uint8_t *iterator_key;
};

void sl_api_config_default(struct sl_api_config *c);

struct sl_api;

int sl_api_create(const struct sl_api_config *c, struct sl_catalog *cat,
                  const struct sl_api_backend *be, struct sl_api **ret);
void sl_api_free(struct sl_api *api); /* NULL-safe; requests in flight are answered 503 */

/* An answer: status, the x-amzn-RequestId and (on errors) x-amzn-ErrorType
 * values, content type and body. Pointers are valid during the call only. */
struct sl_api_answer {
	int status;
	const char *request_id;
	const char *error_type; /* NULL on success */
	const char *content_type;
	const char *body;
	size_t len;
};
typedef void (*sl_api_respond_fn)(void *req, const struct sl_api_answer *a);

/* The parts of an HTTP request the API needs. */
struct sl_api_request {
	const char *method;        /* "POST" */
	const char *target;        /* X-Amz-Target or NULL */
	const char *content_type;  /* or NULL */
	const char *authorization; /* or NULL */
	const char *amz_date;      /* X-Amz-Date or Date, or NULL */
	const void *body;
	size_t len;
	/* For SigV4 verification when credentials are configured: */
	const char *path; /* with the query */
	size_t nheaders;
	const char *const *header_names; /* lower case */
	const char *const *header_values;
	/* The body parsed already (by a worker thread, off the loop):
	 * 0 not parsed (the API parses it), 1 parsed into parsed_body (which
	 * the API takes over), -1 it is not JSON. */
	int parsed;
	void *parsed_body; /* json_t * */
};

/* Parses a request body as sl_api_handle() would (any thread): a json_t *
 * for sl_api_request.parsed_body, or NULL when it is not JSON. */
void *sl_api_parse_body(const void *body, size_t len);

/* Handles one request; respond(req, ...) is called exactly once, now or
 * later (a put waits for its acks). A body already parsed (parsed = 1) is
 * the API's from here, also when the request fails before it is used. */
void sl_api_handle(struct sl_api *api, const struct sl_api_request *r, sl_api_respond_fn respond,
                   void *req);

/* The backend finished p. */
void sl_api_put_done(struct sl_api *api, struct sl_api_put *p);

/* Periodic work (every ~100 ms): CREATING/UPDATING -> ACTIVE, DELETING ->
 * dropped, expired closed shards forgotten, retention applied to logs. */
void sl_api_tick(struct sl_api *api, int64_t now_ms);

/* Counters for /metrics. */
struct sl_api_stats {
	uint64_t requests;
	uint64_t errors_4xx;
	uint64_t errors_5xx;
	uint64_t put_records;
	uint64_t put_throttled;
	uint64_t get_records;
	uint64_t inflight;
};
void sl_api_stats(const struct sl_api *api, struct sl_api_stats *ret);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the API's two halves share: api.c (dispatch, framework errors,
 * SigV4, validation helpers, stream management operations, tick) and
 * api_data.c (PutRecord, PutRecords, GetShardIterator, GetRecords, shard
 * iterators, sequence number strings). Not a public header.
 */
#ifndef SL_CONTROL_API_INTERNAL_H
#define SL_CONTROL_API_INTERNAL_H

#include <stdarg.h>

#include <jansson.h>

#include "api.h"
#include "compiler.h"

struct sl_api {
	struct sl_api_config c;
	struct sl_catalog *cat;
	struct sl_api_backend be;
	uint8_t iterator_key[32];
	char region[32];
	char account[16];
	struct sl_api_stats st;
	/* api_data.c's state (requests waiting for puts); opaque to api.c */
	struct sl_api_data *data;
};

/* One request being handled. Freed by whichever sl_api_send_*() answers it. */
struct sl_api_call {
	struct sl_api *api;
	sl_api_respond_fn respond;
	void *req;
	json_t *in;          /* the parsed body (an object) */
	const char *op;      /* operation name after "Kinesis_20131202." */
	char request_id[40]; /* a UUID */
	int64_t now_ms;      /* wall clock when the request arrived */
};

/* ---- answers (each frees c) ---- */

/* 200 with out as body (stolen; NULL: empty body, Content-Length 0). */
void sl_api_send_ok(struct sl_api_call *c, json_t *out);
/* 200 with body, already JSON (the hot PutRecords answer, built without
 * jansson). */
void sl_api_send_ok_raw(struct sl_api_call *c, const char *body, size_t len);
/* status with {"__type": type, "message": <fmt...>} (fmt NULL: no message
 * member), x-amzn-ErrorType: type. */
void sl_api_send_error(struct sl_api_call *c, int status, const char *type, const char *fmt, ...)
        SL_PRINTF(4, 5);
/* The catalog's failure rc (sl_errmsg() holds the text) as its exception. */
void sl_api_send_catalog_error(struct sl_api_call *c, int rc);

/* ---- request members ---- */

/*
 * Type checks as Kinesis does them (SerializationException on a wrong JSON
 * type, sent by these helpers, which then return false and free c). An
 * absent member or JSON null gives *present = false (or NULL).
 */
bool sl_api_member_string(struct sl_api_call *c, const char *name, const char **ret);
bool sl_api_member_int(struct sl_api_call *c, const char *name, bool *present, int64_t *ret);
/* A number of epoch seconds with a fraction (Timestamp), as milliseconds. */
bool sl_api_member_timestamp(struct sl_api_call *c, const char *name, bool *present,
                             int64_t *ret_ms);
bool sl_api_member_array(struct sl_api_call *c, const char *name, json_t **ret);
bool sl_api_member_object(struct sl_api_call *c, const char *name, json_t **ret);
/* Base64 blob (Data): decoded into a malloc'd buffer (*ret NULL if absent).
 * A malformed blob is a SerializationException with Kinesis's text. */
bool sl_api_member_blob(struct sl_api_call *c, json_t *obj, const char *name, const char *path,
                        uint8_t **ret, size_t *ret_len, bool *present);

/*
 * Constraint failures gathered into one ValidationException, Coral style:
 * "N validation error(s) detected: Value '<v>' at '<field>' failed to
 * satisfy constraint: <rule>; Value ..." (research 4.2).
 */
struct sl_api_verr {
	unsigned n;
	size_t len;
	char msg[4096];
};
/* value NULL: "Value null at ..."; field is the lowerCamel path, e.g.
 * "records.1.member.partitionKey". */
void sl_api_verr_add(struct sl_api_verr *v, const char *value, const char *field,
                     const char *constraint);
/* Common rules, phrased as Kinesis phrases them. */
void sl_api_verr_stream_name(struct sl_api_verr *v, const char *name, bool required);
void sl_api_verr_stream_arn(struct sl_api_verr *v, const char *arn);
void sl_api_verr_shard_id(struct sl_api_verr *v, const char *field, const char *id, bool required);
/* Sends the ValidationException if any rule failed: returns true (c freed). */
bool sl_api_verr_send(struct sl_api_call *c, struct sl_api_verr *v);

/*
 * The stream a request names by StreamName or StreamARN (either; both must
 * agree). Sends ResourceNotFoundException ("Stream <name> under account
 * <acct> not found.") or InvalidArgumentException and returns NULL when
 * there is none. Call after the members were validated.
 */
const struct sl_cat_stream *sl_api_stream(struct sl_api_call *c, const char *name, const char *arn);

/* ---- api_data.c ---- */

int sl_api_data_create(struct sl_api *api);
void sl_api_data_free(struct sl_api *api);
void sl_api_op_put_record(struct sl_api_call *c);
void sl_api_op_put_records(struct sl_api_call *c);
void sl_api_op_get_shard_iterator(struct sl_api_call *c);
void sl_api_op_get_records(struct sl_api_call *c);
/* From sl_api_put_done(). */
void sl_api_data_put_done(struct sl_api *api, struct sl_api_put *p);

/*
 * Sequence numbers as the API shows them: 56 decimal digits,
 *   "49" | shard id, 12 digits | 22 zeros | log sequence number, 20 digits
 * so string order is numeric order within a shard, a number names its shard
 * (a number from another shard is InvalidArgumentException), and the log's
 * own 64-bit numbers map back exactly.
 */
#define SL_API_SEQ_DIGITS 56
void sl_api_seq_format(uint32_t shard_id, uint64_t seq, char buf[SL_API_SEQ_DIGITS + 1]);
/* 0, or -EINVAL when s is not a number of that form. */
int sl_api_seq_parse(const char *s, uint32_t *ret_shard_id, uint64_t *ret_seq);

/*
 * Shard iterator tokens (format: api_data.c's opening comment), exposed
 * for tests. A token carries a log position in one shard, when it was
 * issued, and the stream's name and creation time; an HMAC-SHA256 under
 * key makes it unforgeable.
 */
#define SL_API_ITERATOR_VERSION 1
#define SL_API_ITERATOR_LATEST  0x01 /* flags: made by a LATEST request */
#define SL_API_ITERATOR_BUF     256  /* base64 token + NUL */

struct sl_api_iterator {
	uint32_t stream_id;
	uint32_t shard_id;
	uint64_t seq;              /* the next read starts at the first record >= seq */
	int64_t issued_ms;         /* Unix ms */
	int64_t stream_created_ms; /* the catalog's created_ms */
	uint8_t flags;
	char stream[SL_CATALOG_NAME_MAX + 1];
};

/* Writes the NUL-terminated token and returns its length, or -EINVAL
 * (stream name empty or too long). */
int sl_api_iterator_encode(const uint8_t key[32], const struct sl_api_iterator *it,
                           char buf[SL_API_ITERATOR_BUF]);
/* 0, or -EINVAL when s is not a token made with key (malformed, altered,
 * another version). Expiry is the caller's check (issued_ms). */
int sl_api_iterator_decode(const uint8_t key[32], const char *s, struct sl_api_iterator *ret);

#endif

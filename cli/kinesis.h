/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluicectl's client for the Kinesis JSON 1.1 API: one libcurl handle (one
 * kept-alive connection), SigV4-signed POSTs of one operation each, answers
 * parsed with jansson, and errors turned into -errno plus the service's
 * __type and message. Also a plain GET for /metrics.
 *
 * Results: 0 on success; otherwise one of
 *   -ENOENT      the service answered ResourceNotFoundException
 *   -EREMOTEIO   the service answered another error (sl_kinesis_error())
 *   -ECONNREFUSED, -ETIMEDOUT, -EIO   the request did not get an answer
 *   -EPROTO      the answer was not Kinesis JSON
 *   -EFBIG       the answer was larger than max_response_bytes
 *   -EINTR       *stop was set while the call was waiting
 *   -EINVAL, -ENOMEM   local failures (the request could not be built)
 * sl_kinesis_error() holds a sentence for every one of them.
 */
#ifndef SL_CLI_KINESIS_H
#define SL_CLI_KINESIS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct sl_kinesis_config {
	const char *endpoint;              /* "http://127.0.0.1:4567" */
	const char *region;                /* "us-east-1" */
	const char *access_key;            /* "sluice" */
	const char *secret_key;            /* "sluice" */
	uint32_t connect_timeout_ms;       /* 5000 */
	uint32_t timeout_ms;               /* whole request, 30000 */
	uint32_t max_attempts;             /* sends of a throttled or 5xx request, 3 */
	size_t max_response_bytes;         /* 64 MiB */
	const volatile sig_atomic_t *stop; /* NULL, or a flag that aborts waits */
};

void sl_kinesis_config_default(struct sl_kinesis_config *c);

struct sl_kinesis;

/* -EINVAL for an endpoint that is not an http(s) URL. */
int sl_kinesis_create(const struct sl_kinesis_config *c, struct sl_kinesis **ret);
void sl_kinesis_free(struct sl_kinesis *k); /* NULL-safe */

/*
 * Sends operation op ("CreateStream") with body in (borrowed). On success
 * *ret_out (may be NULL) gets the parsed answer, or NULL for an empty body;
 * the caller frees it. Throttling (ProvisionedThroughputExceededException,
 * ThrottlingException) and HTTP 5xx answers are sent again after a backoff,
 * up to max_attempts sends in all.
 */
int sl_kinesis_call(struct sl_kinesis *k, const char *op, json_t *in, json_t **ret_out);

/* The body of the last answer (error answers too), NUL-terminated. */
const char *sl_kinesis_body(const struct sl_kinesis *k, size_t *ret_len);

/* GET path on the endpoint, unsigned; 200 or -EREMOTEIO ("HTTP <status>"). */
int sl_kinesis_get(struct sl_kinesis *k, const char *path);

/* Why the last call failed: the error type (the service's __type with any
 * "namespace#" prefix and ":suffix" removed, or "HTTP 503", or a local
 * kind such as "ConnectionError") and its message. */
const char *sl_kinesis_error_type(const struct sl_kinesis *k);
const char *sl_kinesis_error(const struct sl_kinesis *k);

/* Whether an error type is worth a retry after a pause (throttling). */
bool sl_kinesis_type_is_throttle(const char *type);

/* Sleeps ms, or less when *stop is set (then returns -EINTR). */
int sl_kinesis_sleep(const struct sl_kinesis *k, uint32_t ms);

/* The first pause of a retry sequence, in ms, for sl_kinesis_backoff(). */
#define SL_KINESIS_BACKOFF_FIRST_MS 100

/* Sleeps a random time in [*pause_ms / 2, *pause_ms] (jitter, so that
 * clients throttled together do not come back together), then doubles
 * *pause_ms up to 5 s. -EINTR when *stop was set. */
int sl_kinesis_backoff(struct sl_kinesis *k, uint32_t *pause_ms);

#endif

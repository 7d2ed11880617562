/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kinesis data operations: PutRecord, PutRecords, GetShardIterator and
 * GetRecords, the shard iterators they hand out and the sequence number
 * strings they show. (Skeleton: the operations follow.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

struct sl_api_data {
	uint64_t inflight;
};

/* ---- sequence numbers ---- */

#define SEQ_PREFIX     "49"
#define SEQ_SHARD_DIGS 12
#define SEQ_ZERO_DIGS  22
#define SEQ_LOG_DIGS   20

void sl_api_seq_format(uint32_t shard_id, uint64_t seq, char buf[SL_API_SEQ_DIGITS + 1])
{
	snprintf(buf, SL_API_SEQ_DIGITS + 1, "%s%012u%022u%020llu", SEQ_PREFIX, (unsigned)shard_id,
	         0u, (unsigned long long)seq);
}

/* n decimal digits at s as an integer (n <= 20; overflow beyond 64 bits is
 * -ERANGE). */
static int digits(const char *s, unsigned n, uint64_t *ret)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++) {
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

int sl_api_seq_parse(const char *s, uint32_t *ret_shard_id, uint64_t *ret_seq)
{
	uint64_t shard, seq;

	if (!s || strlen(s) != SL_API_SEQ_DIGITS || memcmp(s, SEQ_PREFIX, 2) != 0)
		return -EINVAL;
	if (digits(s + 2, SEQ_SHARD_DIGS, &shard) < 0 || shard > UINT32_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < SEQ_ZERO_DIGS; i++)
		if (s[2 + SEQ_SHARD_DIGS + i] != '0')
			return -EINVAL;
	if (digits(s + 2 + SEQ_SHARD_DIGS + SEQ_ZERO_DIGS, SEQ_LOG_DIGS, &seq) < 0)
		return -EINVAL;
	*ret_shard_id = (uint32_t)shard;
	*ret_seq = seq;
	return 0;
}

/* ---- lifecycle ---- */

int sl_api_data_create(struct sl_api *api)
{
	api->data = calloc(1, sizeof(*api->data));
	return api->data ? 0 : -ENOMEM;
}

void sl_api_data_free(struct sl_api *api)
{
	if (!api)
		return;
	free(api->data);
	api->data = NULL;
}

/* ---- operations (first cut: not implemented yet) ---- */

static void not_yet(struct sl_api_call *c)
{
	sl_api_send_error(c, 500, "InternalFailure", "%s is not implemented yet", c->op);
}

void sl_api_op_put_record(struct sl_api_call *c)
{
	not_yet(c);
}

void sl_api_op_put_records(struct sl_api_call *c)
{
	not_yet(c);
}

void sl_api_op_get_shard_iterator(struct sl_api_call *c)
{
	not_yet(c);
}

void sl_api_op_get_records(struct sl_api_call *c)
{
	not_yet(c);
}

void sl_api_data_put_done(struct sl_api *api, struct sl_api_put *p)
{
	(void)api;
	(void)p;
}

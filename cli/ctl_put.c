/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluicectl put: records from the arguments or from stdin lines, sent in
 * PutRecords batches of at most 500 records and 5 MiB of data and keys
 * (Kinesis's limits). A batch is finished before the next is read: the
 * entries the answer marks ProvisionedThroughputExceededException or
 * InternalFailure are sent again, alone, after a pause that doubles (100 ms
 * to 5 s, jittered), up to --max-attempts sends each. Results are printed
 * in input order once the batch is finished, so memory is one batch.
 *
 * A record is numbered from 0 in input order (skipped ones included); that
 * number is also its partition key unless --key is given.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64.h"
#include "clock.h"
#include "ctl.h"
#include "lines.h"
#include "u128.h"

struct entry {
	uint64_t index;
	char key[24]; /* the index, when no --key */
	char *data;   /* base64, malloc'd */
	char *shard;  /* results, malloc'd */
	char *seq;
	char *error;
	uint32_t sends;
	bool done;
};

struct put {
	struct sl_ctl *ctl;
	const char *name;
	const char *key;      /* --key or NULL */
	const char *hash_key; /* --hash-key or NULL */
	uint32_t max_attempts;
	bool quiet;
	struct entry e[SL_CTL_MAX_BATCH_RECORDS];
	size_t n;
	size_t bytes; /* data + keys of the batch */
	uint64_t next_index;
	uint64_t ok, failed, resent;
};

static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static const char *key_of(const struct put *p, const struct entry *e)
{
	return p->key ? p->key : e->key;
}

static void clear_batch(struct put *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->e[i].data);
		free(p->e[i].shard);
		free(p->e[i].seq);
		free(p->e[i].error);
	}
	memset(p->e, 0, p->n * sizeof(p->e[0]));
	p->n = 0;
	p->bytes = 0;
}

/* One request with the entries not done yet, in order. */
static json_t *build(struct put *p)
{
	json_t *recs = json_array(), *req = sl_ctl_stream_request(p->name);

	if (!recs || !req)
		goto fail;
	for (size_t i = 0; i < p->n; i++) {
		const struct entry *e = &p->e[i];
		json_t *r;

		if (e->done)
			continue;
		r = json_object();
		if (!r || json_array_append_new(recs, r) < 0)
			goto fail;
		/* Base64 is ASCII: no UTF-8 check needed. */
		if (json_object_set_new(r, "Data", json_string_nocheck(e->data)) < 0 ||
		    json_object_set_new(r, "PartitionKey", json_string(key_of(p, e))) < 0)
			goto fail;
		if (p->hash_key &&
		    json_object_set_new(r, "ExplicitHashKey", json_string(p->hash_key)) < 0)
			goto fail;
	}
	if (json_object_set_new(req, "Records", recs) < 0) {
		recs = NULL;
		goto fail;
	}
	return req;
fail:
	json_decref(recs);
	json_decref(req);
	return NULL;
}

static bool resendable(const char *code)
{
	return sl_kinesis_type_is_throttle(code) || strcmp(code, "InternalFailure") == 0;
}

/* Applies an answer to the entries it covers; -EPROTO if it does not fit. */
static int apply(struct put *p, json_t *out, size_t sent)
{
	json_t *recs = json_object_get(out, "Records");
	size_t j = 0;

	if (!json_is_array(recs) || json_array_size(recs) != sent)
		return -EPROTO;
	for (size_t i = 0; i < p->n; i++) {
		struct entry *e = &p->e[i];
		json_t *r;
		const char *code, *shard, *seq;

		if (e->done)
			continue;
		r = json_array_get(recs, j++);
		code = sl_ctl_str(r, "ErrorCode");
		if (code) {
			const char *msg = sl_ctl_str(r, "ErrorMessage");

			if (resendable(code) && e->sends < p->max_attempts)
				continue;
			e->done = true;
			if (asprintf(&e->error, "%s%s%s", code, msg ? ": " : "", msg ? msg : "") <
			    0)
				e->error = NULL;
			continue;
		}
		shard = sl_ctl_str(r, "ShardId");
		seq = sl_ctl_str(r, "SequenceNumber");
		if (!shard || !seq)
			return -EPROTO;
		e->done = true;
		e->shard = strdup(shard);
		e->seq = strdup(seq);
	}
	return 0;
}

static void report(struct put *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct entry *e = &p->e[i];

		if (e->shard)
			p->ok++;
		else
			p->failed++;
		if (p->quiet || p->ctl->json)
			continue;
		if (e->shard)
			printf("%" PRIu64 " %s %s\n", e->index, e->shard, e->seq ? e->seq : "-");
		else
			printf("%" PRIu64 " FAILED %s\n", e->index,
			       e->error ? e->error : "(no reason)");
	}
}

/* Sends the batch until every entry is done; 0 or an exit code. */
static int flush(struct put *p)
{
	struct sl_ctl *ctl = p->ctl;
	uint32_t pause = SL_KINESIS_BACKOFF_FIRST_MS;

	for (bool first = true;; first = false) {
		size_t sent = 0;
		json_t *req, *out = NULL;
		int rc;

		for (size_t i = 0; i < p->n; i++)
			sent += !p->e[i].done;
		if (!sent)
			break;
		/* A pause before the throttled ones go again. */
		if (!first && sl_kinesis_backoff(ctl->k, &pause) < 0)
			return SL_CTL_EXIT_INTERRUPTED;
		for (size_t i = 0; i < p->n; i++)
			if (!p->e[i].done && ++p->e[i].sends > 1)
				p->resent++;
		req = build(p);
		if (!req)
			return sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
		rc = sl_kinesis_call(ctl->k, "PutRecords", req, &out);
		json_decref(req);
		if (rc < 0)
			return sl_ctl_fail(ctl, rc);
		sl_ctl_print_raw(ctl);
		rc = apply(p, out, sent);
		json_decref(out);
		if (rc < 0)
			return sl_ctl_error(
			        ctl, SL_CTL_EXIT_PROTOCOL,
			        "PutRecords: the answer does not match the %zu records sent", sent);
	}
	report(p);
	clear_batch(p);
	return 0;
}

/* Adds one record (flushing first when it does not fit); 0 or an exit code. */
static int add(struct put *p, const void *data, size_t len)
{
	uint64_t index = p->next_index++;
	char kb[24];
	size_t klen, bytes;
	struct entry *e;
	int rc;

	snprintf(kb, sizeof(kb), "%" PRIu64, index);
	klen = strlen(p->key ? p->key : kb);
	bytes = len + klen;
	if (bytes > SL_CTL_MAX_RECORD_BYTES) {
		fprintf(stderr,
		        "sluicectl put: record %" PRIu64 ": %zu bytes of data and key, over the "
		        "%u-byte limit; skipped\n",
		        index, bytes, SL_CTL_MAX_RECORD_BYTES);
		p->failed++;
		return 0;
	}
	if (p->n == SL_CTL_MAX_BATCH_RECORDS || p->bytes + bytes > SL_CTL_MAX_BATCH_BYTES) {
		rc = flush(p);
		if (rc)
			return rc;
	}
	e = &p->e[p->n];
	e->index = index;
	memcpy(e->key, kb, sizeof(kb));
	e->data = malloc(sl_base64_encoded_size(len));
	if (!e->data)
		return sl_ctl_error(p->ctl, SL_CTL_EXIT_SERVICE, "out of memory");
	sl_base64_encode(data, len, e->data);
	p->n++;
	p->bytes += bytes;
	return 0;
}

static int from_stdin(struct put *p)
{
	struct sl_lines *l;
	const char *line;
	size_t len;
	int rc;

	if (sl_lines_open(STDIN_FILENO, SL_CTL_MAX_RECORD_BYTES, &l) < 0)
		return sl_ctl_error(p->ctl, SL_CTL_EXIT_SERVICE, "out of memory");
	for (;;) {
		rc = sl_lines_next(l, &line, &len);
		if (rc == 0)
			break;
		if (p->ctl->stop) {
			rc = SL_CTL_EXIT_INTERRUPTED;
			break;
		}
		if (rc == -EINTR)
			continue;
		if (rc == -EMSGSIZE) {
			fprintf(stderr,
			        "sluicectl put: record %" PRIu64 ": a line of %zu bytes, over the "
			        "%u-byte limit; skipped\n",
			        p->next_index++, len, SL_CTL_MAX_RECORD_BYTES);
			p->failed++;
			continue;
		}
		if (rc < 0) {
			rc = sl_ctl_error(p->ctl, SL_CTL_EXIT_SERVICE, "reading stdin: %s",
			                  strerror(-rc));
			break;
		}
		rc = add(p, line, len);
		if (rc)
			break;
	}
	sl_lines_close(l);
	return rc;
}

int sl_ctl_put(struct sl_ctl *ctl, const struct sl_ctl_args *a)
{
	struct put *p = calloc(1, sizeof(*p));
	const char *v;
	uint64_t n = 10;
	sl_u128 h;
	int64_t t0 = sl_mono_ns();
	int rc = 0;

	if (!p)
		return sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
	p->ctl = ctl;
	p->name = a->argv[0];
	p->key = sl_ctl_opt(a, OPT_KEY);
	p->hash_key = sl_ctl_opt(a, OPT_HASH_KEY);
	p->quiet = sl_ctl_opt(a, OPT_QUIET) != NULL;
	if (p->key) {
		json_t *k = json_string(p->key);

		if (!k || !*p->key || utf8_chars(p->key) > SL_CTL_MAX_KEY_CHARS)
			rc = sl_ctl_usage(ctl, "--key wants 1..%d UTF-8 characters",
			                  SL_CTL_MAX_KEY_CHARS);
		json_decref(k);
	}
	if (!rc && p->hash_key && sl_u128_parse(p->hash_key, &h) < 0)
		rc = sl_ctl_usage(ctl, "--hash-key wants a decimal 0..2^128-1, not '%s'",
		                  p->hash_key);
	if (!rc && (v = sl_ctl_opt(a, OPT_MAX_ATTEMPTS)) && !sl_ctl_parse_u64(v, 1, 1000, &n))
		rc = sl_ctl_usage(ctl, "--max-attempts wants 1..1000, not '%s'", v);
	p->max_attempts = (uint32_t)n;
	if (!rc) {
		json_t *req = sl_ctl_stream_request(p->name);

		if (!req)
			rc = sl_ctl_usage(ctl, "stream name is not valid UTF-8");
		json_decref(req);
	}

	if (!rc && a->argc > 1) {
		for (int i = 1; i < a->argc && !rc; i++)
			rc = add(p, a->argv[i], strlen(a->argv[i]));
	} else if (!rc) {
		rc = from_stdin(p);
	}
	if (!rc)
		rc = flush(p);
	if (rc != SL_CTL_EXIT_USAGE) {
		if (p->quiet && !ctl->json)
			printf("%" PRIu64 " records put to %s, %" PRIu64 " failed, %" PRIu64
			       " resent, %.2f s\n",
			       p->ok, p->name, p->failed, p->resent, (sl_mono_ns() - t0) / 1e9);
		if (!rc && p->failed) {
			rc = sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE,
			                  "%" PRIu64 " of %" PRIu64 " records failed", p->failed,
			                  p->failed + p->ok);
		}
	}
	clear_batch(p);
	free(p);
	return rc;
}

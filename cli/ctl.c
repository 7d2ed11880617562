/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers every sluicectl command uses: options given, error reporting and
 * exit codes, stream references, pagination of ListShards and waiting for
 * a stream's status.
 *
 * Messages go to stderr as "sluicectl CMD: ...", once, from the command
 * that decides to give up; answers and tables go to stdout.
 */
#include "ctl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

#define WAIT_FIRST_MS 250  /* first pause between polls of --wait */
#define WAIT_MAX_MS   2000 /* longest pause */

const char *sl_ctl_opt(const struct sl_ctl_args *a, int id)
{
	for (size_t i = a->nset; i-- > 0;)
		if (a->set[i].id == id)
			return a->set[i].val;
	return NULL;
}

const char *sl_ctl_opt_next(const struct sl_ctl_args *a, int id, size_t *pos)
{
	for (; *pos < a->nset; (*pos)++)
		if (a->set[*pos].id == id)
			return a->set[(*pos)++].val;
	return NULL;
}

int sl_ctl_exit_of(int rc)
{
	switch (rc) {
	case 0:
		return SL_CTL_EXIT_OK;
	case -ENOENT:
		return SL_CTL_EXIT_NOT_FOUND;
	case -ECONNREFUSED:
	case -ETIMEDOUT:
	case -EIO:
		return SL_CTL_EXIT_CONNECT;
	case -EPROTO:
	case -EFBIG:
		return SL_CTL_EXIT_PROTOCOL;
	case -EINTR:
		return SL_CTL_EXIT_INTERRUPTED;
	default:
		return SL_CTL_EXIT_SERVICE;
	}
}

int sl_ctl_fail(struct sl_ctl *ctl, int rc)
{
	if (rc != -EINTR)
		fprintf(stderr, "sluicectl %s: %s: %s\n", ctl->cmd, sl_kinesis_error_type(ctl->k),
		        sl_kinesis_error(ctl->k));
	return sl_ctl_exit_of(rc);
}

int sl_ctl_error(struct sl_ctl *ctl, int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sluicectl %s: ", ctl->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int sl_ctl_usage(struct sl_ctl *ctl, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sluicectl%s%s: ", ctl->cmd ? " " : "", ctl->cmd ? ctl->cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see sluicectl%s%s --help)\n", ctl->cmd ? " " : "",
	        ctl->cmd ? ctl->cmd : "");
	return SL_CTL_EXIT_USAGE;
}

void sl_ctl_print_raw(struct sl_ctl *ctl)
{
	size_t len;
	const char *b = sl_kinesis_body(ctl->k, &len);

	if (!ctl->json || !len)
		return;
	fwrite(b, 1, len, stdout);
	if (b[len - 1] != '\n')
		fputc('\n', stdout);
}

bool sl_ctl_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*ret = v;
	return true;
}

bool sl_ctl_set_stream(json_t *req, const char *name)
{
	json_t *v = json_string(name);

	if (!v)
		return false;
	return json_object_set_new(req, strncmp(name, "arn:", 4) == 0 ? "StreamARN" : "StreamName",
	                           v) == 0;
}

json_t *sl_ctl_stream_request(const char *name)
{
	json_t *req = json_object();

	if (req && !sl_ctl_set_stream(req, name)) {
		json_decref(req);
		return NULL;
	}
	return req;
}

void sl_ctl_format_time(json_t *t, char *buf, size_t cap)
{
	time_t s;
	struct tm tm;

	if (!json_is_number(t)) {
		snprintf(buf, cap, "-");
		return;
	}
	s = (time_t)json_number_value(t);
	if (!gmtime_r(&s, &tm) || !strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, cap, "%.3f", json_number_value(t));
}

const char *sl_ctl_str(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

int sl_ctl_list_shards(struct sl_ctl *ctl, const char *name, bool print_raw,
                       int (*cb)(void *arg, json_t *shard), void *arg)
{
	json_t *req = sl_ctl_stream_request(name), *out = NULL;
	int rc = 0;

	for (unsigned page = 0; req && page < SL_CTL_MAX_PAGES; page++) {
		const char *next;
		json_t *shards, *s;
		size_t i;

		rc = sl_kinesis_call(ctl->k, "ListShards", req, &out);
		json_decref(req);
		req = NULL;
		if (rc < 0)
			return sl_ctl_fail(ctl, rc);
		if (print_raw)
			sl_ctl_print_raw(ctl);
		shards = json_object_get(out, "Shards");
		if (!json_is_array(shards)) {
			json_decref(out);
			return sl_ctl_error(ctl, SL_CTL_EXIT_PROTOCOL,
			                    "ListShards: no Shards list");
		}
		json_array_foreach(shards, i, s)
		{
			if (!json_is_object(s) || !sl_ctl_str(s, "ShardId"))
				continue;
			rc = cb(arg, s);
			if (rc) {
				json_decref(out);
				return rc == 1 ? 0 : rc;
			}
		}
		next = sl_ctl_str(out, "NextToken");
		if (next && *next) {
			req = json_pack("{s:s}", "NextToken", next);
			if (!req) {
				json_decref(out);
				return sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
			}
		}
		json_decref(out);
		out = NULL;
	}
	if (req) {
		json_decref(req);
		return sl_ctl_error(ctl, SL_CTL_EXIT_PROTOCOL, "ListShards: more than %u pages",
		                    SL_CTL_MAX_PAGES);
	}
	return 0;
}

int sl_ctl_wait(struct sl_ctl *ctl, const char *name, const char *want)
{
	int64_t deadline = sl_mono_ns() + (int64_t)ctl->wait_timeout_ms * 1000000;
	uint32_t pause = WAIT_FIRST_MS;
	char last[32] = "unknown";

	for (;;) {
		json_t *req = sl_ctl_stream_request(name), *out = NULL;
		const char *status;
		int rc;

		if (!req)
			return sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
		rc = sl_kinesis_call(ctl->k, "DescribeStreamSummary", req, &out);
		json_decref(req);
		if (rc == -ENOENT && !want)
			return 0;
		if (rc < 0)
			return sl_ctl_fail(ctl, rc);
		status = sl_ctl_str(json_object_get(out, "StreamDescriptionSummary"),
		                    "StreamStatus");
		snprintf(last, sizeof(last), "%s", status ? status : "unknown");
		json_decref(out);
		if (want && strcmp(last, want) == 0) {
			sl_ctl_print_raw(ctl);
			return 0;
		}
		if (sl_mono_ns() + (int64_t)pause * 1000000 > deadline)
			break;
		if (sl_kinesis_sleep(ctl->k, pause) < 0)
			return SL_CTL_EXIT_INTERRUPTED;
		pause = pause * 2 > WAIT_MAX_MS ? WAIT_MAX_MS : pause * 2;
	}
	return sl_ctl_error(ctl, SL_CTL_EXIT_CONNECT,
	                    "timed out after %" PRIu32 " s waiting for %s to %s%s (status %s)",
	                    ctl->wait_timeout_ms / 1000, name, want ? "become " : "be deleted",
	                    want ? want : "", last);
}

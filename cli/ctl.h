/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What sluicectl's command files share: exit codes, the parsed command
 * line, the context every command runs with, and helpers for printing
 * errors and raw answers. Not a public header.
 */
#ifndef SL_CLI_CTL_H
#define SL_CLI_CTL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "compiler.h"
#include "kinesis.h"

/* Exit codes: one list for the enum and for --help. */
#define SL_CTL_EXITS(X)                                                                            \
	X(OK, 0, "success")                                                                        \
	X(SERVICE, 1,                                                                              \
	  "the service answered an error (its __type and message go to stderr), a record "         \
	  "failed to put, or a local failure")                                                     \
	X(USAGE, 2, "usage error: unknown command or option, bad or missing argument")             \
	X(CONNECT, 3, "no answer: connection refused or reset, a timeout (--timeout, --wait)")     \
	X(NOT_FOUND, 4, "not found: ResourceNotFoundException, or a shard not in the stream")      \
	X(PROTOCOL, 5, "the answer was not Kinesis JSON, or larger than 64 MiB")                   \
	X(INTERRUPTED, 130, "interrupted by SIGINT or SIGTERM (get exits 0 instead)")

enum sl_ctl_exit {
#define X(n, v, s) SL_CTL_EXIT_##n = v,
	SL_CTL_EXITS(X)
#undef X
};

/* Limits (Kinesis's, research/kinesis-api.md 2.2 and 2.8). */
#define SL_CTL_MAX_RECORD_BYTES  (1u << 20) /* data + partition key */
#define SL_CTL_MAX_BATCH_RECORDS 500
#define SL_CTL_MAX_BATCH_BYTES   (5u << 20)
#define SL_CTL_MAX_KEY_CHARS     256
/* Pages of a paginated list followed at most (a server that keeps saying
 * "more" cannot keep sluicectl forever). */
#define SL_CTL_MAX_PAGES 100000

/* Option ids: one namespace for global and command options. */
enum sl_ctl_opt_id {
	OPT_HELP = 256,
	OPT_ENDPOINT,
	OPT_REGION,
	OPT_ACCESS_KEY,
	OPT_SECRET_KEY,
	OPT_JSON,
	OPT_TIMEOUT,
	OPT_SHARDS,
	OPT_ON_DEMAND,
	OPT_TAG,
	OPT_WAIT,
	OPT_WAIT_TIMEOUT,
	OPT_AT,
	OPT_KEY,
	OPT_HASH_KEY,
	OPT_QUIET,
	OPT_MAX_ATTEMPTS,
	OPT_SHARD,
	OPT_FROM,
	OPT_LIMIT,
	OPT_FOLLOW,
	OPT_BASE64,
	OPT_RAW,
};

/* The options given, in order, and the positional arguments. */
struct sl_ctl_args {
	int argc;
	char **argv;
	size_t nset;
	struct {
		int id;
		const char *val; /* "" for a flag */
	} * set;
};

/* The last value of option id, NULL if absent. */
const char *sl_ctl_opt(const struct sl_ctl_args *a, int id);
/* Iterates over every value of id: *pos starts at 0; NULL at the end. */
const char *sl_ctl_opt_next(const struct sl_ctl_args *a, int id, size_t *pos);

struct sl_ctl {
	const char *cmd; /* the command's name, for messages */
	struct sl_kinesis *k;
	bool json;
	uint32_t wait_timeout_ms;
	volatile sig_atomic_t stop; /* SIGINT or SIGTERM arrived */
};

/* -errno from sl_kinesis_*() as an exit code. */
int sl_ctl_exit_of(int rc);
/* Prints "sluicectl CMD: TYPE: message" for the last failed call and
 * returns the exit code of rc (SIGINT: nothing printed). */
int sl_ctl_fail(struct sl_ctl *ctl, int rc);
/* Prints "sluicectl CMD: <text>" and returns code. */
int sl_ctl_error(struct sl_ctl *ctl, int code, const char *fmt, ...) SL_PRINTF(3, 4);
/* A usage error: the text, a hint at --help; returns SL_CTL_EXIT_USAGE. */
int sl_ctl_usage(struct sl_ctl *ctl, const char *fmt, ...) SL_PRINTF(2, 3);
/* With --json: the last answer's body and a newline (nothing when empty). */
void sl_ctl_print_raw(struct sl_ctl *ctl);

/* Parses a decimal integer in [lo, hi]. */
bool sl_ctl_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *ret);
/* Sets StreamARN when name starts with "arn:", else StreamName. false: not
 * UTF-8 or out of memory. */
bool sl_ctl_set_stream(json_t *req, const char *name);
/* A fresh request object naming the stream (NULL: see above). */
json_t *sl_ctl_stream_request(const char *name);
/* "YYYY-MM-DD HH:MM:SS UTC" from a JSON number of epoch seconds, or "-". */
void sl_ctl_format_time(json_t *t, char *buf, size_t cap);
/* The string member name of o, or NULL. */
const char *sl_ctl_str(json_t *o, const char *name);

/*
 * Calls every page of ListShards (StreamName first, then NextToken) and cb
 * for each shard object; with print_raw and --json each page is printed.
 * cb returns 0 to go on, 1 to stop early, or an exit code (> 1) to fail.
 * Returns 0 or an exit code.
 */
int sl_ctl_list_shards(struct sl_ctl *ctl, const char *name, bool print_raw,
                       int (*cb)(void *arg, json_t *shard), void *arg);

/*
 * Polls DescribeStreamSummary until the stream's status is want, or (want
 * NULL) until the stream is gone, for at most wait_timeout_ms. Returns 0
 * or an exit code; with --json the last summary is printed.
 */
int sl_ctl_wait(struct sl_ctl *ctl, const char *name, const char *want);

/* The commands: each returns an exit code. */
int sl_ctl_create(struct sl_ctl *ctl, const struct sl_ctl_args *a);
int sl_ctl_delete(struct sl_ctl *ctl, const struct sl_ctl_args *a);
int sl_ctl_list(struct sl_ctl *ctl, const struct sl_ctl_args *a);
int sl_ctl_describe(struct sl_ctl *ctl, const struct sl_ctl_args *a);
int sl_ctl_split(struct sl_ctl *ctl, const struct sl_ctl_args *a);
int sl_ctl_merge(struct sl_ctl *ctl, const struct sl_ctl_args *a);
int sl_ctl_scale(struct sl_ctl *ctl, const struct sl_ctl_args *a);
int sl_ctl_retention(struct sl_ctl *ctl, const struct sl_ctl_args *a);
int sl_ctl_tag(struct sl_ctl *ctl, const struct sl_ctl_args *a);
int sl_ctl_untag(struct sl_ctl *ctl, const struct sl_ctl_args *a);
int sl_ctl_tags(struct sl_ctl *ctl, const struct sl_ctl_args *a);
int sl_ctl_put(struct sl_ctl *ctl, const struct sl_ctl_args *a);
int sl_ctl_get(struct sl_ctl *ctl, const struct sl_ctl_args *a);
int sl_ctl_stats(struct sl_ctl *ctl, const struct sl_ctl_args *a);

#endif

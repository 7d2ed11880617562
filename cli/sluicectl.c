/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluicectl: the control-plane command line of sluice. It speaks the
 * Kinesis JSON 1.1 API of sluiced's HTTP endpoint (or of anything
 * Kinesis-compatible) through kinesis.c, and GETs /metrics for `stats`.
 *
 * One table of commands, each with its own table of options, drives
 * parsing, validation of counts and `--help`; global options are accepted
 * before and after the command. The exit codes (ctl.h) are the contract
 * with scripts and are listed in --help.
 */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define DEFAULT_ENDPOINT "http://127.0.0.1:4567"
#define HELP_WIDTH       78

struct opt {
	const char *name;
	int id;
	char short_name; /* 0: none */
	const char *arg; /* NULL: a flag */
	const char *help;
};

struct cmd {
	const char *name;
	const char *synopsis; /* after "sluicectl NAME " */
	const char *summary;
	const char *details;
	const struct opt *opts; /* terminated by a NULL name */
	int min_args, max_args; /* positional arguments; max -1: any */
	int (*run)(struct sl_ctl *ctl, const struct sl_ctl_args *a);
};

static const struct opt global_opts[] = {
        {"endpoint", OPT_ENDPOINT, 0, "URL",
         "the Kinesis API (env SLUICE_ENDPOINT; default " DEFAULT_ENDPOINT ")"},
        {"region", OPT_REGION, 0, "R",
         "SigV4 region (env AWS_REGION, AWS_DEFAULT_REGION; us-east-1)"},
        {"access-key", OPT_ACCESS_KEY, 0, "K",
         "SigV4 access key (env AWS_ACCESS_KEY_ID; \"sluice\")"},
        {"secret-key", OPT_SECRET_KEY, 0, "S",
         "SigV4 secret key (env AWS_SECRET_ACCESS_KEY; \"sluice\")"},
        {"json", OPT_JSON, 0, NULL, "print the raw JSON answers instead of tables"},
        {"timeout", OPT_TIMEOUT, 0, "SECS", "give up on a request after SECS (30; connect: 5)"},
        {"help", OPT_HELP, 'h', NULL, "this text"},
        {NULL, 0, 0, NULL, NULL},
};

#define WAIT_OPTS                                                                                  \
	{"wait", OPT_WAIT, 0, NULL, "poll until the change is done (ACTIVE again)"},               \
	{                                                                                          \
		"wait-timeout", OPT_WAIT_TIMEOUT, 0, "SECS", "give up waiting after SECS (300)"    \
	}

static const struct opt create_opts[] = {
        {"shards", OPT_SHARDS, 0, "N", "provisioned, with N shards (default 1)"},
        {"on-demand", OPT_ON_DEMAND, 0, NULL, "on-demand capacity mode (no shard count)"},
        {"tag", OPT_TAG, 0, "K=V", "a tag (repeat for more)"},
        {"wait", OPT_WAIT, 0, NULL, "poll until the stream is ACTIVE"},
        {"wait-timeout", OPT_WAIT_TIMEOUT, 0, "SECS", "give up waiting after SECS (300)"},
        {NULL, 0, 0, NULL, NULL},
};

static const struct opt delete_opts[] = {
        {"wait", OPT_WAIT, 0, NULL, "poll until the stream is gone"},
        {"wait-timeout", OPT_WAIT_TIMEOUT, 0, "SECS", "give up waiting after SECS (300)"},
        {NULL, 0, 0, NULL, NULL},
};

static const struct opt split_opts[] = {
        {"at", OPT_AT, 0, "HASHKEY", "the new shard's starting hash key (default: the midpoint)"},
        WAIT_OPTS,
        {NULL, 0, 0, NULL, NULL},
};

static const struct opt wait_opts[] = {
        WAIT_OPTS,
        {NULL, 0, 0, NULL, NULL},
};

static const struct opt no_opts[] = {
        {NULL, 0, 0, NULL, NULL},
};

static const struct opt put_opts[] = {
        {"key", OPT_KEY, 0, "K", "partition key of every record (default: the record's index)"},
        {"hash-key", OPT_HASH_KEY, 0, "H", "explicit hash key (decimal, 0 .. 2^128-1)"},
        {"max-attempts", OPT_MAX_ATTEMPTS, 0, "N",
         "sends of a throttled record before it fails (10)"},
        {"quiet", OPT_QUIET, 'q', NULL, "one summary line instead of a line per record"},
        {NULL, 0, 0, NULL, NULL},
};

static const struct opt get_opts[] = {
        {"shard", OPT_SHARD, 0, "ID", "read this shard (and its children) only"},
        {"from", OPT_FROM, 0, "POS",
         "trim-horizon (default), latest, at:SEQ, after:SEQ (need --shard), time:EPOCH"},
        {"limit", OPT_LIMIT, 0, "N", "stop after N records"},
        {"follow", OPT_FOLLOW, 'f', NULL, "keep polling for new records, like tail -f"},
        {"base64", OPT_BASE64, 0, NULL, "print each record's data as base64"},
        {NULL, 0, 0, NULL, NULL},
};

static const struct opt stats_opts[] = {
        {"raw", OPT_RAW, 0, NULL, "print the Prometheus text as served"},
        {NULL, 0, 0, NULL, NULL},
};

static const struct cmd cmds[] = {
        {"create", "NAME [--shards N | --on-demand] [--tag K=V ...] [--wait]", "create a stream",
         "Creates stream NAME (CreateStream): provisioned with N shards (1 if neither "
         "--shards nor --on-demand is given), or on-demand.",
         create_opts, 1, 1, sl_ctl_create},
        {"delete", "NAME [--wait]", "delete a stream", "Deletes stream NAME (DeleteStream).",
         delete_opts, 1, 1, sl_ctl_delete},
        {"list", "", "list the streams",
         "Lists every stream (ListStreams, all pages): name, status, capacity mode and "
         "creation time.",
         no_opts, 0, 0, sl_ctl_list},
        {"describe", "NAME", "a stream's settings and shards",
         "Prints the stream's summary (DescribeStreamSummary) and a table of its shards "
         "(ListShards, all pages, closed ones included): id, parent(s), hash key range, "
         "sequence number range, open or closed. NAME may also be a stream ARN, here and in "
         "every command but create.",
         no_opts, 1, 1, sl_ctl_describe},
        {"split", "NAME SHARD [--at HASHKEY]", "split a shard in two",
         "Splits SHARD (SplitShard). Without --at the new shard starts at the midpoint of "
         "SHARD's hash key range, start + ceil((end - start) / 2), so both halves are as "
         "large as can be.",
         split_opts, 2, 2, sl_ctl_split},
        {"merge", "NAME SHARD ADJACENT", "merge two adjacent shards",
         "Merges SHARD with ADJACENT, the shard whose hash key range follows or precedes it "
         "(MergeShards).",
         wait_opts, 3, 3, sl_ctl_merge},
        {"scale", "NAME COUNT", "change the number of open shards",
         "Sets the number of open shards to COUNT (UpdateShardCount, UNIFORM_SCALING).", wait_opts,
         2, 2, sl_ctl_scale},
        {"retention", "NAME HOURS", "change the retention period",
         "Sets the retention period to HOURS: IncreaseStreamRetentionPeriod or "
         "DecreaseStreamRetentionPeriod after comparing with the current one "
         "(DescribeStreamSummary); nothing is sent when they are equal.",
         wait_opts, 2, 2, sl_ctl_retention},
        {"tag", "NAME K=V ...", "add or overwrite tags",
         "Adds tags to the stream (AddTagsToStream).", no_opts, 2, -1, sl_ctl_tag},
        {"untag", "NAME K ...", "remove tags",
         "Removes the tags with keys K from the stream (RemoveTagsFromStream).", no_opts, 2, -1,
         sl_ctl_untag},
        {"tags", "NAME", "list a stream's tags", "Lists the stream's tags (ListTagsForStream).",
         no_opts, 1, 1, sl_ctl_tags},
        {"put", "NAME [--key K] [--hash-key H] [-q] [DATA ...]", "put records",
         "Puts each DATA argument as a record, or each line of stdin (without its newline) when "
         "no DATA is given. Records go in PutRecords batches of at most 500 records and 5 MiB; "
         "records refused as throttled (or InternalFailure) are sent again with a backoff. A "
         "record whose data and key exceed 1 MiB is skipped and counted as failed. Prints "
         "'INDEX SHARD SEQUENCE' per record in input order (INDEX from 0; 'INDEX FAILED "
         "reason' for a failure), or with -q one summary line; with --json each PutRecords "
         "answer. Exit 1 if any record failed.",
         put_opts, 1, -1, sl_ctl_put},
        {"get", "NAME [--shard ID] [--from POS] [--limit N] [--follow]", "read records",
         "Reads records from one shard, or from every shard of the stream, parents before "
         "children: when a shard ends, the children GetRecords names (ChildShards) are read "
         "once all their parents are done. Without --follow, stops when every shard is caught "
         "up; with it, keeps polling, sleeping longer (up to 2 s) while nothing comes, until "
         "SIGINT (exit 0). Prints each record's data and a newline (unless it ends in one), or "
         "--base64, or with --json one JSON object per record (its GetRecords fields plus "
         "ShardId).",
         get_opts, 1, 1, sl_ctl_get},
        {"stats", "[--raw]", "the service's metrics",
         "Fetches /metrics from the endpoint's host and prints a summary (histogram buckets "
         "left out); --raw prints the Prometheus text, --json the samples as JSON.",
         stats_opts, 0, 0, sl_ctl_stats},
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static struct sl_ctl ctl_g;

static void on_signal(int sig)
{
	(void)sig;
	ctl_g.stop = 1;
}

/* Prints text wrapped at HELP_WIDTH, each line indented by indent (the
 * first by first, already printed). */
static void wrap(FILE *out, const char *text, int indent, int first)
{
	int col = first;

	while (*text) {
		size_t w = strcspn(text, " ");

		if (col > indent && col + 1 + (int)w > HELP_WIDTH) {
			fprintf(out, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', out);
			col++;
		}
		fwrite(text, 1, w, out);
		col += (int)w;
		text += w;
		while (*text == ' ')
			text++;
	}
	fputc('\n', out);
}

static void print_opts(FILE *out, const struct opt *o)
{
	for (; o->name; o++) {
		char left[64];
		int n;

		if (o->short_name)
			n = snprintf(left, sizeof(left), "  -%c, --%s%s%s", o->short_name, o->name,
			             o->arg ? " " : "", o->arg ? o->arg : "");
		else
			n = snprintf(left, sizeof(left), "  --%s%s%s", o->name, o->arg ? " " : "",
			             o->arg ? o->arg : "");
		fprintf(out, "%-26s", left);
		wrap(out, o->help, 26, n < 26 ? 26 : n);
	}
}

static void print_exits(FILE *out)
{
	fprintf(out, "\nExit status:\n");
#define X(n, v, s) fprintf(out, "  %-4d", v), wrap(out, s, 6, 6);
	SL_CTL_EXITS(X)
#undef X
}

static void main_help(FILE *out)
{
	fprintf(out, "usage: sluicectl [GLOBAL OPTIONS] COMMAND [ARGS] [OPTIONS]\n\n");
	wrap(out,
	     "Manages sluice streams through the Kinesis-compatible API (JSON 1.1 over HTTP, "
	     "SigV4-signed), and reads and writes records. `sluicectl COMMAND --help` describes "
	     "a command.",
	     0, 0);
	fprintf(out, "\nCommands:\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(out, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(out, "\nGlobal options (before or after the command):\n");
	print_opts(out, global_opts);
	print_exits(out);
}

static void cmd_help(FILE *out, const struct cmd *c)
{
	fprintf(out, "usage: sluicectl %s %s\n\n", c->name, c->synopsis);
	wrap(out, c->details, 0, 0);
	if (c->opts[0].name) {
		fprintf(out, "\nOptions:\n");
		print_opts(out, c->opts);
	}
	fprintf(out, "\nGlobal options:\n");
	print_opts(out, global_opts);
	print_exits(out);
}

static const struct opt *find_long(const struct cmd *c, const char *name, size_t len)
{
	for (int t = 0; t < 2; t++) {
		const struct opt *o = t == 0 ? global_opts : (c ? c->opts : no_opts);

		for (; o->name; o++)
			if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
				return o;
	}
	return NULL;
}

static const struct opt *find_short(const struct cmd *c, char ch)
{
	for (int t = 0; t < 2; t++) {
		const struct opt *o = t == 0 ? global_opts : (c ? c->opts : no_opts);

		for (; o->name; o++)
			if (o->short_name == ch)
				return o;
	}
	return NULL;
}

/*
 * Parses argv[from..argc) into a: options of c (or only global ones when
 * c is NULL, stopping at the first positional argument, the command),
 * positional arguments in order, "--" ending options. Returns the index
 * where it stopped, or -1 after printing a usage error.
 */
static int parse(struct sl_ctl *ctl, const struct cmd *c, int argc, char **argv, int from,
                 struct sl_ctl_args *a)
{
	bool opts_done = false;
	int i;

	for (i = from; i < argc; i++) {
		const char *s = argv[i];
		const struct opt *o;
		const char *val = NULL;

		if (opts_done || s[0] != '-' || s[1] == '\0') {
			if (!c)
				return i;
			a->argv[a->argc++] = argv[i];
			continue;
		}
		if (strcmp(s, "--") == 0) {
			opts_done = true;
			continue;
		}
		if (s[1] == '-') {
			const char *eq = strchr(s + 2, '=');
			size_t len = eq ? (size_t)(eq - s - 2) : strlen(s + 2);

			o = find_long(c, s + 2, len);
			if (!o)
				goto unknown;
			if (eq) {
				if (!o->arg) {
					sl_ctl_usage(ctl, "--%s takes no value", o->name);
					return -1;
				}
				val = eq + 1;
			}
		} else {
			o = s[2] == '\0' ? find_short(c, s[1]) : NULL;
			if (!o)
				goto unknown;
		}
		if (o->arg && !val) {
			if (i + 1 >= argc) {
				sl_ctl_usage(ctl, "--%s needs a value (%s)", o->name, o->arg);
				return -1;
			}
			val = argv[++i];
		}
		a->set[a->nset].id = o->id;
		a->set[a->nset].val = val ? val : "";
		a->nset++;
	}
	return i;
unknown:
	sl_ctl_usage(ctl, "unknown option %s", argv[i]);
	return -1;
}

/* Applies the global options and the environment to ctl and c. */
static int configure(struct sl_ctl *ctl, const struct sl_ctl_args *a, struct sl_kinesis_config *kc)
{
	const char *v;
	uint64_t secs;

	sl_kinesis_config_default(kc);
	kc->stop = &ctl->stop;
	if ((v = sl_ctl_opt(a, OPT_ENDPOINT)) || ((v = getenv("SLUICE_ENDPOINT")) && *v))
		kc->endpoint = v;
	if ((v = sl_ctl_opt(a, OPT_REGION)) || ((v = getenv("AWS_REGION")) && *v) ||
	    ((v = getenv("AWS_DEFAULT_REGION")) && *v))
		kc->region = v;
	if ((v = sl_ctl_opt(a, OPT_ACCESS_KEY)) || ((v = getenv("AWS_ACCESS_KEY_ID")) && *v))
		kc->access_key = v;
	if ((v = sl_ctl_opt(a, OPT_SECRET_KEY)) || ((v = getenv("AWS_SECRET_ACCESS_KEY")) && *v))
		kc->secret_key = v;
	if ((v = sl_ctl_opt(a, OPT_TIMEOUT))) {
		if (!sl_ctl_parse_u64(v, 1, 3600, &secs))
			return sl_ctl_usage(ctl, "--timeout wants 1..3600 seconds, not '%s'", v);
		kc->timeout_ms = (uint32_t)secs * 1000;
		if (kc->connect_timeout_ms > kc->timeout_ms)
			kc->connect_timeout_ms = kc->timeout_ms;
	}
	ctl->wait_timeout_ms = 300000;
	if ((v = sl_ctl_opt(a, OPT_WAIT_TIMEOUT))) {
		if (!sl_ctl_parse_u64(v, 1, 86400, &secs))
			return sl_ctl_usage(ctl, "--wait-timeout wants 1..86400 seconds, not '%s'",
			                    v);
		ctl->wait_timeout_ms = (uint32_t)secs * 1000;
	}
	ctl->json = sl_ctl_opt(a, OPT_JSON) != NULL;
	return 0;
}

int main(int argc, char **argv)
{
	struct sl_ctl *ctl = &ctl_g;
	struct sl_ctl_args a = {0};
	struct sl_kinesis_config kc;
	const struct cmd *c = NULL;
	struct sigaction sa;
	int i, rc;

	/* Every argument is at most one option or positional argument. */
	a.argv = calloc((size_t)argc + 1, sizeof(*a.argv));
	a.set = calloc((size_t)argc + 1, sizeof(*a.set));
	if (!a.argv || !a.set) {
		fprintf(stderr, "sluicectl: out of memory\n");
		return SL_CTL_EXIT_SERVICE;
	}
	i = parse(ctl, NULL, argc, argv, 1, &a);
	if (i < 0) {
		rc = SL_CTL_EXIT_USAGE;
		goto out;
	}
	if (i >= argc) {
		if (sl_ctl_opt(&a, OPT_HELP)) {
			main_help(stdout);
			rc = SL_CTL_EXIT_OK;
		} else {
			rc = sl_ctl_usage(ctl, "no command given");
		}
		goto out;
	}
	for (size_t j = 0; j < NCMDS; j++)
		if (strcmp(argv[i], cmds[j].name) == 0)
			c = &cmds[j];
	if (!c) {
		rc = sl_ctl_usage(ctl, "unknown command '%s'", argv[i]);
		goto out;
	}
	ctl->cmd = c->name;
	/* --help wins over anything else on the line. */
	for (int j = i + 1; j < argc && strcmp(argv[j], "--") != 0; j++)
		if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
			cmd_help(stdout, c);
			rc = SL_CTL_EXIT_OK;
			goto out;
		}
	if (sl_ctl_opt(&a, OPT_HELP)) {
		cmd_help(stdout, c);
		rc = SL_CTL_EXIT_OK;
		goto out;
	}
	if (parse(ctl, c, argc, argv, i + 1, &a) < 0) {
		rc = SL_CTL_EXIT_USAGE;
		goto out;
	}
	if (a.argc < c->min_args || (c->max_args >= 0 && a.argc > c->max_args)) {
		rc = sl_ctl_usage(ctl, "%s arguments: %s",
		                  a.argc < c->min_args ? "missing" : "too many", c->synopsis);
		goto out;
	}
	rc = configure(ctl, &a, &kc);
	if (rc)
		goto out;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: sleeps and reads return early */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		rc = sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "cannot initialise libcurl");
		goto out;
	}
	rc = sl_kinesis_create(&kc, &ctl->k);
	if (rc < 0) {
		rc = rc == -EINVAL ? sl_ctl_usage(ctl, "--endpoint '%s' is not an http(s) URL",
		                                  kc.endpoint)
		                   : sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
	} else {
		rc = c->run(ctl, &a);
		if (fflush(stdout) != 0 && rc == SL_CTL_EXIT_OK)
			rc = sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "cannot write the output");
	}
	sl_kinesis_free(ctl->k);
	curl_global_cleanup();
out:
	free(a.argv);
	free(a.set);
	return rc;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluicectl's stream management commands: create, delete, list, describe,
 * split, merge, scale, retention, tag, untag, tags. Each checks its
 * arguments before sending anything, so a usage error never changes a
 * stream. Paginated operations are followed to their last page (bounded).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "table.h"
#include "u128.h"

/* Sends op with req (consumed); prints the answer with --json. */
static int simple_call(struct sl_ctl *ctl, const char *op, json_t *req, json_t **ret_out)
{
	int rc;

	if (!req)
		return sl_ctl_error(ctl, SL_CTL_EXIT_USAGE, "an argument is not valid UTF-8");
	rc = sl_kinesis_call(ctl->k, op, req, ret_out);
	json_decref(req);
	if (rc < 0)
		return sl_ctl_fail(ctl, rc);
	sl_ctl_print_raw(ctl);
	return 0;
}

/* "K=V" into a tag map; false for a malformed tag. */
static bool add_tag(json_t *tags, const char *kv)
{
	const char *eq = strchr(kv, '=');
	json_t *k, *v;
	bool ok;

	if (!eq || eq == kv)
		return false;
	k = json_stringn(kv, (size_t)(eq - kv));
	v = json_string(eq + 1);
	ok = k && v && json_object_set(tags, json_string_value(k), v) == 0;
	json_decref(k);
	json_decref(v);
	return ok;
}

int sl_ctl_create(struct sl_ctl *ctl, const struct sl_ctl_args *a)
{
	const char *name = a->argv[0], *shards = sl_ctl_opt(a, OPT_SHARDS), *tag;
	bool on_demand = sl_ctl_opt(a, OPT_ON_DEMAND) != NULL;
	json_t *req, *tags = NULL;
	uint64_t n = 1;
	size_t pos = 0;
	int rc;

	if (shards && on_demand)
		return sl_ctl_usage(ctl, "--shards and --on-demand exclude each other");
	if (shards && !sl_ctl_parse_u64(shards, 1, 1000000, &n))
		return sl_ctl_usage(ctl, "--shards wants 1..1000000, not '%s'", shards);
	req = json_pack("{s:s}", "StreamName", name);
	if (!req)
		return sl_ctl_usage(ctl, "stream name is not valid UTF-8");
	if (on_demand)
		json_object_set_new(req, "StreamModeDetails",
		                    json_pack("{s:s}", "StreamMode", "ON_DEMAND"));
	else
		json_object_set_new(req, "ShardCount", json_integer((json_int_t)n));
	while ((tag = sl_ctl_opt_next(a, OPT_TAG, &pos))) {
		if (!tags)
			tags = json_object();
		if (!tags || !add_tag(tags, tag)) {
			json_decref(tags);
			json_decref(req);
			return sl_ctl_usage(ctl, "--tag wants KEY=VALUE, not '%s'", tag);
		}
	}
	if (tags)
		json_object_set_new(req, "Tags", tags);
	rc = simple_call(ctl, "CreateStream", req, NULL);
	if (rc)
		return rc;
	if (sl_ctl_opt(a, OPT_WAIT)) {
		rc = sl_ctl_wait(ctl, name, "ACTIVE");
		if (rc)
			return rc;
		if (!ctl->json)
			printf("stream %s is ACTIVE\n", name);
	} else if (!ctl->json) {
		if (on_demand)
			printf("creating stream %s (on-demand)\n", name);
		else
			printf("creating stream %s (%" PRIu64 " shard%s)\n", name, n,
			       n == 1 ? "" : "s");
	}
	return 0;
}

int sl_ctl_delete(struct sl_ctl *ctl, const struct sl_ctl_args *a)
{
	const char *name = a->argv[0];
	int rc = simple_call(ctl, "DeleteStream", sl_ctl_stream_request(name), NULL);

	if (rc)
		return rc;
	if (sl_ctl_opt(a, OPT_WAIT)) {
		rc = sl_ctl_wait(ctl, name, NULL);
		if (rc)
			return rc;
		if (!ctl->json)
			printf("stream %s is deleted\n", name);
	} else if (!ctl->json) {
		printf("deleting stream %s\n", name);
	}
	return 0;
}

/* For the commands that change a stream and take --wait. */
static int after_change(struct sl_ctl *ctl, const struct sl_ctl_args *a, const char *name)
{
	if (!sl_ctl_opt(a, OPT_WAIT))
		return 0;
	return sl_ctl_wait(ctl, name, "ACTIVE");
}

int sl_ctl_list(struct sl_ctl *ctl, const struct sl_ctl_args *a)
{
	static const char *const head[] = {"NAME", "STATUS", "MODE", "CREATED"};
	/* Servers without StreamSummaries (older ones) get a list of names. */
	struct sl_table *t = NULL, *names_only = NULL;
	json_t *req = json_object(), *out = NULL;
	bool summaries = false;
	int rc = 0;

	(void)a;
	if (!req || sl_table_create(4, head, &t) < 0 || sl_table_create(1, head, &names_only) < 0) {
		json_decref(req);
		sl_table_free(t);
		return sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
	}
	for (unsigned page = 0; req; page++) {
		json_t *names, *sums, *v;
		const char *next, *last = NULL;
		size_t i;

		if (page == SL_CTL_MAX_PAGES) {
			rc = sl_ctl_error(ctl, SL_CTL_EXIT_PROTOCOL, "ListStreams: too many pages");
			break;
		}
		rc = sl_kinesis_call(ctl->k, "ListStreams", req, &out);
		json_decref(req);
		req = NULL;
		if (rc < 0) {
			rc = sl_ctl_fail(ctl, rc);
			break;
		}
		sl_ctl_print_raw(ctl);
		names = json_object_get(out, "StreamNames");
		sums = json_object_get(out, "StreamSummaries");
		if (!json_is_array(names)) {
			rc = sl_ctl_error(ctl, SL_CTL_EXIT_PROTOCOL, "ListStreams: no StreamNames");
			break;
		}
		json_array_foreach(names, i, v)
		{
			const char *cells[4] = {json_string_value(v), NULL, NULL, NULL};
			char created[40] = "-";
			json_t *s = NULL, *x;
			size_t j;

			if (!cells[0])
				continue;
			last = cells[0];
			json_array_foreach(sums, j, x)
			{
				if (json_is_object(x) && sl_ctl_str(x, "StreamName") &&
				    strcmp(sl_ctl_str(x, "StreamName"), cells[0]) == 0)
					s = x;
			}
			if (s) {
				summaries = true;
				cells[1] = sl_ctl_str(s, "StreamStatus");
				cells[2] = sl_ctl_str(json_object_get(s, "StreamModeDetails"),
				                      "StreamMode");
				sl_ctl_format_time(json_object_get(s, "StreamCreationTimestamp"),
				                   created, sizeof(created));
				cells[3] = created;
			}
			if (sl_table_add(t, cells) < 0 || sl_table_add(names_only, cells) < 0) {
				rc = sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
				break;
			}
		}
		if (rc)
			break;
		/* Next page: NextToken when the service gives one, else the
		 * older ExclusiveStartStreamName. */
		next = sl_ctl_str(out, "NextToken");
		if (json_is_true(json_object_get(out, "HasMoreStreams"))) {
			if (next && *next)
				req = json_pack("{s:s}", "NextToken", next);
			else if (last)
				req = json_pack("{s:s}", "ExclusiveStartStreamName", last);
			else
				rc = sl_ctl_error(ctl, SL_CTL_EXIT_PROTOCOL,
				                  "ListStreams: HasMoreStreams on an empty page");
		}
		json_decref(out);
		out = NULL;
	}
	json_decref(out);
	json_decref(req);
	if (!rc && !ctl->json)
		sl_table_print(summaries ? t : names_only, stdout);
	sl_table_free(t);
	sl_table_free(names_only);
	return rc;
}

static int add_shard_row(void *arg, json_t *s)
{
	struct sl_table *t = arg;
	json_t *hr = json_object_get(s, "HashKeyRange");
	json_t *sr = json_object_get(s, "SequenceNumberRange");
	const char *parent = sl_ctl_str(s, "ParentShardId");
	const char *adj = sl_ctl_str(s, "AdjacentParentShardId");
	const char *end_seq = sl_ctl_str(sr, "EndingSequenceNumber");
	const char *start_seq = sl_ctl_str(sr, "StartingSequenceNumber");
	char *parents = NULL, *hash = NULL, *seq = NULL;
	int rc;

	if (parent && adj)
		rc = asprintf(&parents, "%s,%s", parent, adj);
	else
		rc = asprintf(&parents, "%s", parent ? parent : adj ? adj : "-");
	if (rc >= 0)
		rc = asprintf(&hash, "%s..%s", sl_ctl_str(hr, "StartingHashKey") ?: "?",
		              sl_ctl_str(hr, "EndingHashKey") ?: "?");
	if (rc >= 0)
		rc = asprintf(&seq, "%s..%s", start_seq ? start_seq : "?", end_seq ? end_seq : "");
	if (rc >= 0) {
		const char *cells[] = {sl_ctl_str(s, "ShardId"), parents, hash, seq,
		                       end_seq ? "closed" : "open"};

		rc = sl_table_add(t, cells);
	}
	free(parents);
	free(hash);
	free(seq);
	return rc < 0 ? SL_CTL_EXIT_SERVICE : 0;
}

static void print_summary(json_t *s)
{
	const char *mode = sl_ctl_str(json_object_get(s, "StreamModeDetails"), "StreamMode");
	json_t *v;
	char created[40];

	sl_ctl_format_time(json_object_get(s, "StreamCreationTimestamp"), created, sizeof(created));
	printf("Stream:          %s\n", sl_ctl_str(s, "StreamName") ?: "-");
	printf("ARN:             %s\n", sl_ctl_str(s, "StreamARN") ?: "-");
	printf("Status:          %s\n", sl_ctl_str(s, "StreamStatus") ?: "-");
	printf("Mode:            %s\n", mode ? mode : "-");
	if (json_is_integer(v = json_object_get(s, "RetentionPeriodHours")))
		printf("Retention:       %" JSON_INTEGER_FORMAT " hours\n", json_integer_value(v));
	if (json_is_integer(v = json_object_get(s, "OpenShardCount")))
		printf("Open shards:     %" JSON_INTEGER_FORMAT "\n", json_integer_value(v));
	if (json_is_integer(v = json_object_get(s, "ConsumerCount")))
		printf("Consumers:       %" JSON_INTEGER_FORMAT "\n", json_integer_value(v));
	printf("Created:         %s\n", created);
	printf("Encryption:      %s\n", sl_ctl_str(s, "EncryptionType") ?: "NONE");
	if (json_is_integer(v = json_object_get(s, "MaxRecordSizeInKiB")))
		printf("Max record size: %" JSON_INTEGER_FORMAT " KiB\n", json_integer_value(v));
}

int sl_ctl_describe(struct sl_ctl *ctl, const struct sl_ctl_args *a)
{
	static const char *const head[] = {"SHARD", "PARENTS", "HASH KEY RANGE", "SEQUENCE RANGE",
	                                   "STATE"};
	const char *name = a->argv[0];
	struct sl_table *t = NULL;
	json_t *out = NULL, *sum;
	int rc;

	rc = simple_call(ctl, "DescribeStreamSummary", sl_ctl_stream_request(name), &out);
	if (rc)
		return rc;
	sum = json_object_get(out, "StreamDescriptionSummary");
	if (!json_is_object(sum)) {
		json_decref(out);
		return sl_ctl_error(ctl, SL_CTL_EXIT_PROTOCOL,
		                    "DescribeStreamSummary: no StreamDescriptionSummary");
	}
	if (sl_table_create(5, head, &t) < 0) {
		json_decref(out);
		return sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
	}
	rc = sl_ctl_list_shards(ctl, name, true, add_shard_row, t);
	if (!rc && !ctl->json) {
		print_summary(sum);
		printf("\n");
		sl_table_print(t, stdout);
	}
	sl_table_free(t);
	json_decref(out);
	return rc;
}

struct find_shard {
	const char *id;
	sl_u128 start, end;
	bool found, bad;
};

static int find_shard(void *arg, json_t *s)
{
	struct find_shard *f = arg;
	json_t *hr = json_object_get(s, "HashKeyRange");
	const char *start = sl_ctl_str(hr, "StartingHashKey");
	const char *end = sl_ctl_str(hr, "EndingHashKey");

	if (strcmp(sl_ctl_str(s, "ShardId"), f->id) != 0)
		return 0;
	f->found = true;
	f->bad = !start || !end || sl_u128_parse(start, &f->start) < 0 ||
	         sl_u128_parse(end, &f->end) < 0 || f->end < f->start;
	return 1;
}

int sl_ctl_split(struct sl_ctl *ctl, const struct sl_ctl_args *a)
{
	const char *name = a->argv[0], *shard = a->argv[1], *at = sl_ctl_opt(a, OPT_AT);
	struct find_shard f = {.id = shard};
	char key[40];
	sl_u128 v;
	json_t *req;
	int rc;

	if (at) {
		if (sl_u128_parse(at, &v) < 0)
			return sl_ctl_usage(
			        ctl, "--at wants a decimal hash key 0..2^128-1, not '%s'", at);
	} else {
		rc = sl_ctl_list_shards(ctl, name, false, find_shard, &f);
		if (rc)
			return rc;
		if (!f.found)
			return sl_ctl_error(ctl, SL_CTL_EXIT_NOT_FOUND, "no shard %s in stream %s",
			                    shard, name);
		if (f.bad)
			return sl_ctl_error(ctl, SL_CTL_EXIT_PROTOCOL,
			                    "ListShards: bad HashKeyRange for %s", shard);
		v = sl_u128_midpoint(f.start, f.end);
	}
	sl_u128_format(v, key);
	req = sl_ctl_stream_request(name);
	if (req && json_object_set_new(req, "ShardToSplit", json_string(shard)) < 0) {
		json_decref(req);
		req = NULL;
	}
	if (req)
		json_object_set_new(req, "NewStartingHashKey", json_string(key));
	rc = simple_call(ctl, "SplitShard", req, NULL);
	if (!rc && !ctl->json)
		printf("splitting %s of %s at hash key %s\n", shard, name, key);
	return rc ? rc : after_change(ctl, a, name);
}

int sl_ctl_merge(struct sl_ctl *ctl, const struct sl_ctl_args *a)
{
	const char *name = a->argv[0];
	json_t *req = sl_ctl_stream_request(name);
	json_t *s1 = json_string(a->argv[1]), *s2 = json_string(a->argv[2]);
	int rc;

	if (!req || !s1 || !s2) {
		json_decref(req);
		req = NULL;
	} else {
		json_object_set(req, "ShardToMerge", s1);
		json_object_set(req, "AdjacentShardToMerge", s2);
	}
	json_decref(s1);
	json_decref(s2);
	rc = simple_call(ctl, "MergeShards", req, NULL);
	if (!rc && !ctl->json)
		printf("merging %s and %s of %s\n", a->argv[1], a->argv[2], name);
	return rc ? rc : after_change(ctl, a, name);
}

int sl_ctl_scale(struct sl_ctl *ctl, const struct sl_ctl_args *a)
{
	const char *name = a->argv[0];
	json_t *req, *out = NULL;
	uint64_t n;
	int rc;

	if (!sl_ctl_parse_u64(a->argv[1], 1, 1000000, &n))
		return sl_ctl_usage(ctl, "COUNT wants 1..1000000, not '%s'", a->argv[1]);
	req = sl_ctl_stream_request(name);
	if (req) {
		json_object_set_new(req, "TargetShardCount", json_integer((json_int_t)n));
		json_object_set_new(req, "ScalingType", json_string("UNIFORM_SCALING"));
	}
	rc = simple_call(ctl, "UpdateShardCount", req, &out);
	if (!rc && !ctl->json) {
		json_t *cur = json_object_get(out, "CurrentShardCount");

		if (json_is_integer(cur))
			printf("scaling %s from %" JSON_INTEGER_FORMAT " to %" PRIu64 " shards\n",
			       name, json_integer_value(cur), n);
		else
			printf("scaling %s to %" PRIu64 " shards\n", name, n);
	}
	json_decref(out);
	return rc ? rc : after_change(ctl, a, name);
}

int sl_ctl_retention(struct sl_ctl *ctl, const struct sl_ctl_args *a)
{
	const char *name = a->argv[0], *op;
	json_t *out = NULL, *cur, *req;
	json_int_t now;
	uint64_t hours;
	int rc;

	if (!sl_ctl_parse_u64(a->argv[1], 1, 1000000, &hours))
		return sl_ctl_usage(ctl, "HOURS wants a whole number of hours, not '%s'",
		                    a->argv[1]);
	req = sl_ctl_stream_request(name);
	if (!req)
		return sl_ctl_usage(ctl, "stream name is not valid UTF-8");
	rc = sl_kinesis_call(ctl->k, "DescribeStreamSummary", req, &out);
	json_decref(req);
	if (rc < 0)
		return sl_ctl_fail(ctl, rc);
	cur = json_object_get(json_object_get(out, "StreamDescriptionSummary"),
	                      "RetentionPeriodHours");
	if (!json_is_integer(cur)) {
		json_decref(out);
		return sl_ctl_error(ctl, SL_CTL_EXIT_PROTOCOL,
		                    "DescribeStreamSummary: no RetentionPeriodHours");
	}
	now = json_integer_value(cur);
	json_decref(out);
	if ((json_int_t)hours == now) {
		if (!ctl->json)
			printf("retention of %s is already %" PRIu64 " hours\n", name, hours);
		return 0;
	}
	op = (json_int_t)hours > now ? "IncreaseStreamRetentionPeriod"
	                             : "DecreaseStreamRetentionPeriod";
	req = sl_ctl_stream_request(name);
	if (req)
		json_object_set_new(req, "RetentionPeriodHours", json_integer((json_int_t)hours));
	rc = simple_call(ctl, op, req, NULL);
	if (!rc && !ctl->json)
		printf("retention of %s: %" JSON_INTEGER_FORMAT " -> %" PRIu64 " hours\n", name,
		       now, hours);
	return rc ? rc : after_change(ctl, a, name);
}

int sl_ctl_tag(struct sl_ctl *ctl, const struct sl_ctl_args *a)
{
	json_t *req, *tags = json_object();

	if (!tags)
		return sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
	for (int i = 1; i < a->argc; i++)
		if (!add_tag(tags, a->argv[i])) {
			json_decref(tags);
			return sl_ctl_usage(ctl, "a tag is KEY=VALUE, not '%s'", a->argv[i]);
		}
	req = sl_ctl_stream_request(a->argv[0]);
	if (req)
		json_object_set(req, "Tags", tags);
	json_decref(tags);
	int rc = simple_call(ctl, "AddTagsToStream", req, NULL);
	if (!rc && !ctl->json)
		printf("tagged %s (%d tag%s)\n", a->argv[0], a->argc - 1, a->argc == 2 ? "" : "s");
	return rc;
}

int sl_ctl_untag(struct sl_ctl *ctl, const struct sl_ctl_args *a)
{
	json_t *req, *keys = json_array();

	if (!keys)
		return sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
	for (int i = 1; i < a->argc; i++) {
		json_t *k = json_string(a->argv[i]);

		if (!k || !*a->argv[i]) {
			json_decref(k);
			json_decref(keys);
			return sl_ctl_usage(ctl, "a tag key is 1..128 UTF-8 characters, not '%s'",
			                    a->argv[i]);
		}
		json_array_append_new(keys, k);
	}
	req = sl_ctl_stream_request(a->argv[0]);
	if (req)
		json_object_set(req, "TagKeys", keys);
	json_decref(keys);
	int rc = simple_call(ctl, "RemoveTagsFromStream", req, NULL);
	if (!rc && !ctl->json)
		printf("untagged %s (%d key%s)\n", a->argv[0], a->argc - 1,
		       a->argc == 2 ? "" : "s");
	return rc;
}

int sl_ctl_tags(struct sl_ctl *ctl, const struct sl_ctl_args *a)
{
	static const char *const head[] = {"KEY", "VALUE"};
	const char *name = a->argv[0];
	json_t *req = sl_ctl_stream_request(name), *out = NULL;
	struct sl_table *t;
	int rc = 0;

	if (!req)
		return sl_ctl_usage(ctl, "stream name is not valid UTF-8");
	if (sl_table_create(2, head, &t) < 0) {
		json_decref(req);
		return sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
	}
	for (unsigned page = 0; req; page++) {
		json_t *tags, *tag;
		const char *last = NULL;
		size_t i;

		if (page == SL_CTL_MAX_PAGES) {
			rc = sl_ctl_error(ctl, SL_CTL_EXIT_PROTOCOL,
			                  "ListTagsForStream: too many pages");
			break;
		}
		rc = sl_kinesis_call(ctl->k, "ListTagsForStream", req, &out);
		json_decref(req);
		req = NULL;
		if (rc < 0) {
			rc = sl_ctl_fail(ctl, rc);
			break;
		}
		sl_ctl_print_raw(ctl);
		tags = json_object_get(out, "Tags");
		if (!json_is_array(tags)) {
			rc = sl_ctl_error(ctl, SL_CTL_EXIT_PROTOCOL, "ListTagsForStream: no Tags");
			break;
		}
		json_array_foreach(tags, i, tag)
		{
			const char *cells[] = {sl_ctl_str(tag, "Key"), sl_ctl_str(tag, "Value")};

			if (!cells[0])
				continue;
			last = cells[0];
			if (!cells[1])
				cells[1] = "";
			if (sl_table_add(t, cells) < 0) {
				rc = sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
				break;
			}
		}
		if (!rc && json_is_true(json_object_get(out, "HasMoreTags"))) {
			if (!last)
				rc = sl_ctl_error(
				        ctl, SL_CTL_EXIT_PROTOCOL,
				        "ListTagsForStream: HasMoreTags on an empty page");
			else if ((req = sl_ctl_stream_request(name)))
				json_object_set_new(req, "ExclusiveStartTagKey", json_string(last));
		}
		json_decref(out);
		out = NULL;
		if (rc)
			break;
	}
	json_decref(req);
	if (!rc && !ctl->json)
		sl_table_print(t, stdout);
	sl_table_free(t);
	return rc;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kinesis API's framework and stream operations (control/api.c):
 * requests built by hand go through sl_api_handle() against an in-memory
 * catalog and a fake backend that records sync/drop calls, reports the
 * shards a sync closed with made-up last sequence numbers, and has no logs.
 * Every framework error, type error, Coral validation message and limit,
 * each operation's answer, paging, lifecycle and resharding lineage.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_internal.h"
#include "catalog.h"
#include "clock.h"
#include "err.h"
#include "sigv4.h"

#define ACC      "000000000000"
#define ARN_OF   "arn:aws:kinesis:us-east-1:" ACC ":stream/"
#define MAXK_STR "340282366920938463463374607431768211455"
#define HALF_STR "170141183460469231731687303715884105728"
#define HOUR_MS  3600000ll
#define AUTH                                                                                       \
	"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/us-east-1/kinesis/aws4_request, "        \
	"SignedHeaders=content-type;host;x-amz-date;x-amz-target, "                                \
	"Signature=0000000000000000000000000000000000000000000000000000000000000000"

static const uint8_t KEY[32] = "sluice-test-iterator-key-32bytes";

/* ---- the fake backend ---- */

#define FB_MAX_ENDS 256

static struct fb {
	unsigned syncs, drops, logs;
	uint32_t sync_stream, drop_stream;
	char drop_name[SL_CATALOG_NAME_MAX + 1];
	int sync_rc;       /* what sync answers */
	bool empty;        /* closed shards held no record */
	uint64_t end_base; /* a closed shard's last record: end_base + shard id */
	struct {
		uint32_t stream, shard;
	} ended[FB_MAX_ENDS]; /* closes already reported */
	unsigned nended;
} fb;

static bool fb_was_ended(uint32_t stream, uint32_t shard)
{
	for (unsigned i = 0; i < fb.nended; i++)
		if (fb.ended[i].stream == stream && fb.ended[i].shard == shard)
			return true;
	return false;
}

static int fb_sync(void *arg, const struct sl_cat_stream *s, struct sl_api_shard_end *ends,
                   uint32_t *ret_nends)
{
	uint32_t k = 0;

	(void)arg;
	fb.syncs++;
	fb.sync_stream = s->id;
	*ret_nends = 0;
	if (fb.sync_rc < 0)
		return fb.sync_rc;
	for (uint32_t i = 0; i < s->nshards; i++) {
		const struct sl_cat_shard *sh = &s->shards[i];

		if (!sh->closed || fb_was_ended(s->id, sh->id))
			continue;
		cr_assert_lt(fb.nended, FB_MAX_ENDS);
		fb.ended[fb.nended].stream = s->id;
		fb.ended[fb.nended++].shard = sh->id;
		ends[k++] = (struct sl_api_shard_end){
		        .shard_id = sh->id, .end_seq = fb.end_base + sh->id, .empty = fb.empty};
	}
	*ret_nends = k;
	return 0;
}

static int fb_drop(void *arg, uint32_t stream_id, const char *name)
{
	(void)arg;
	fb.drops++;
	fb.drop_stream = stream_id;
	snprintf(fb.drop_name, sizeof(fb.drop_name), "%s", name);
	return 0;
}

static int fb_put(void *arg, struct sl_api_put *p)
{
	(void)arg;
	(void)p;
	return -EAGAIN;
}

static struct sl_log *fb_log(void *arg, uint32_t stream_id, uint32_t shard_id)
{
	(void)arg;
	(void)stream_id;
	(void)shard_id;
	fb.logs++;
	return NULL;
}

/* ---- fixture ---- */

static struct answer {
	bool done;
	int status;
	char type[128];
	char request_id[64];
	char content_type[64];
	char raw[1024];
	size_t len;
	json_t *body;
} ans;

static struct sl_catalog *cat;
static struct sl_api *api;
static struct sl_api_config acfg;
static struct sl_catalog_config ccfg;
static int64_t fixed_clock_ms; /* 0: the real clock */

static int64_t test_clock(void *arg)
{
	(void)arg;
	return fixed_clock_ms ? fixed_clock_ms : sl_wall_ns() / 1000000;
}

static int64_t now_ms(void)
{
	return sl_wall_ns() / 1000000;
}

static void start(void)
{
	struct sl_api_backend be = {
	        .sync_stream = fb_sync, .drop_stream = fb_drop, .put = fb_put, .log = fb_log};

	cr_assert_eq(sl_catalog_open(&ccfg, &cat), 0, "%s", sl_errmsg());
	cr_assert_eq(sl_api_create(&acfg, cat, &be, &api), 0, "sl_api_create: %s", sl_errmsg());
}

static void stop(void)
{
	json_decref(ans.body);
	ans.body = NULL;
	sl_api_free(api);
	api = NULL;
	sl_catalog_close(cat);
	cat = NULL;
}

static void setup(void)
{
	memset(&fb, 0, sizeof(fb));
	fb.end_base = 40;
	fixed_clock_ms = 0;
	sl_catalog_config_default(&ccfg);
	ccfg.shard_limit = 200;
	ccfg.now_ms = test_clock;
	sl_api_config_default(&acfg);
	acfg.iterator_key = KEY;
	start();
}

static void teardown(void)
{
	stop();
}

/* Starts again with the configs as the test changed them. */
static void restart(void)
{
	stop();
	start();
}

/* ---- requests ---- */

static void respond(void *req, const struct sl_api_answer *a)
{
	struct answer *x = req;

	cr_assert(!x->done, "answered twice");
	x->done = true;
	x->status = a->status;
	snprintf(x->type, sizeof(x->type), "%s", a->error_type ? a->error_type : "");
	snprintf(x->request_id, sizeof(x->request_id), "%s", a->request_id ? a->request_id : "");
	snprintf(x->content_type, sizeof(x->content_type), "%s",
	         a->content_type ? a->content_type : "");
	x->len = a->len;
	snprintf(x->raw, sizeof(x->raw), "%.*s", (int)(a->len < 1000 ? a->len : 1000), a->body);
	json_decref(x->body);
	x->body = a->len ? json_loadb(a->body, a->len, 0, NULL) : NULL;
}

static void send_raw(const char *method, const char *target, const char *ctype, const char *auth,
                     const void *body, size_t len)
{
	struct sl_api_request r = {
	        .method = method,
	        .target = target,
	        .content_type = ctype,
	        .authorization = auth,
	        .amz_date = "20261201T012521Z",
	        .body = body,
	        .len = len,
	        .path = "/",
	};

	ans.done = false;
	sl_api_handle(api, &r, respond, &ans);
	cr_assert(ans.done, "no answer");
}

/* Sends op with body in (stolen; NULL: "{}"); the answer's body. */
static json_t *call(const char *op, json_t *in)
{
	char target[128], *body;

	snprintf(target, sizeof(target), "Kinesis_20131202.%s", op);
	body = in ? json_dumps(in, JSON_COMPACT) : strdup("{}");
	json_decref(in);
	cr_assert_not_null(body);
	send_raw("POST", target, "application/x-amz-json-1.1", AUTH, body, strlen(body));
	free(body);
	return ans.body;
}

/* Sends op with a body given as text. */
static void send_body(const char *op, const char *body)
{
	char target[128];

	snprintf(target, sizeof(target), "Kinesis_20131202.%s", op);
	send_raw("POST", target, "application/x-amz-json-1.1", AUTH, body, strlen(body));
}

static const char *err_message(void)
{
	const char *m = json_string_value(json_object_get(ans.body, "message"));

	return m ? m : json_string_value(json_object_get(ans.body, "Message"));
}

static void expect_ok(void)
{
	cr_assert_eq(ans.status, 200, "status %d %s: %s", ans.status, ans.type,
	             err_message() ? err_message() : "");
	cr_assert_str_eq(ans.type, "");
	cr_assert_str_eq(ans.content_type, "application/x-amz-json-1.1");
}

/* msg NULL: no message member at all. */
static void expect_err(int status, const char *type, const char *msg)
{
	const char *m = err_message();

	cr_assert_eq(ans.status, status, "status %d (%s: %s), expected %d %s", ans.status, ans.type,
	             m ? m : "", status, type);
	cr_assert_str_eq(ans.type, type, "type %s (%s)", ans.type, m ? m : "");
	cr_assert_str_eq(json_string_value(json_object_get(ans.body, "__type")), type);
	if (msg)
		cr_assert_str_eq(m ? m : "(none)", msg);
	else
		cr_assert_null(m, "unexpected message %s", m);
}

static void expect_validation(const char *msg)
{
	expect_err(400, "ValidationException", msg);
}

static void expect_serialization(const char *msg)
{
	expect_err(400, "SerializationException", msg);
	cr_assert_not_null(json_object_get(ans.body, "Message"), "Coral says Message here");
}

/* ---- helpers for streams ---- */

static void create(const char *name, int shards)
{
	call("CreateStream", json_pack("{s:s,s:i}", "StreamName", name, "ShardCount", shards));
	expect_ok();
	cr_assert_eq(ans.len, 0, "CreateStream answers an empty body");
}

static void tick(void)
{
	sl_api_tick(api, now_ms());
}

static void create_active(const char *name, int shards)
{
	create(name, shards);
	tick();
}

static const char *status_of(const char *name)
{
	call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", name));
	expect_ok();
	return json_string_value(json_object_get(
	        json_object_get(ans.body, "StreamDescriptionSummary"), "StreamStatus"));
}

static json_t *describe(const char *name)
{
	call("DescribeStream", json_pack("{s:s}", "StreamName", name));
	expect_ok();
	return json_object_get(ans.body, "StreamDescription");
}

/* a equals b (b stolen). */
static bool jeq(json_t *a, json_t *b)
{
	bool eq = json_equal(a, b);

	json_decref(b);
	return eq;
}

static const char *shard_field(json_t *shard, const char *a, const char *b)
{
	json_t *v = json_object_get(shard, a);

	if (b)
		v = json_object_get(v, b);
	return json_string_value(v);
}

static char *seq_str(uint32_t shard, uint64_t seq)
{
	static char buf[SL_API_SEQ_DIGITS + 1];

	sl_api_seq_format(shard, seq, buf);
	return buf;
}

/* The ShardIds of a list, comma separated. */
static const char *ids_of(json_t *shards)
{
	static char buf[1024];
	size_t len = 0, i;
	json_t *sh;

	buf[0] = 0;
	for (i = 0; i < json_array_size(shards) && (sh = json_array_get(shards, i)); i++) {
		if (len + 16 >= sizeof(buf))
			break;
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? "," : "",
		                        json_string_value(json_object_get(sh, "ShardId")) + 8);
	}
	return buf;
}

static char *repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);

	cr_assert_not_null(s);
	memset(s, ch, n);
	s[n] = 0;
	return s;
}

TestSuite(api, .init = setup, .fini = teardown, .timeout = 10);

/* ==== framework ==== */

static bool is_uuid_v4(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!strchr("0123456789abcdef", s[i])) {
			return false;
		}
	}
	return s[14] == '4' && strchr("89ab", s[19]);
}

Test(api, every_answer_has_a_uuid_v4_request_id)
{
	char first[64];

	call("ListStreams", NULL);
	expect_ok();
	cr_assert(is_uuid_v4(ans.request_id), "%s", ans.request_id);
	snprintf(first, sizeof(first), "%s", ans.request_id);
	call("DescribeStream", json_pack("{s:s}", "StreamName", "nope"));
	cr_assert(is_uuid_v4(ans.request_id), "%s", ans.request_id);
	cr_assert_str_neq(first, ans.request_id);
	send_raw("GET", NULL, NULL, NULL, "", 0);
	cr_assert(is_uuid_v4(ans.request_id), "%s", ans.request_id);
}

Test(api, rejects_methods_other_than_post)
{
	static const char xml[] = "<AccessDeniedException>\n"
	                          "  <Message>Unable to determine service/operation name to be "
	                          "authorized</Message>\n"
	                          "</AccessDeniedException>\n";

	send_raw("GET", "Kinesis_20131202.ListStreams", "application/x-amz-json-1.1", AUTH, "{}",
	         2);
	cr_assert_eq(ans.status, 403);
	cr_assert_str_eq(ans.type, "AccessDeniedException");
	cr_assert_str_eq(ans.raw, xml);
	send_raw("PUT", "Kinesis_20131202.ListStreams", "application/x-amz-json-1.1", AUTH, "{}",
	         2);
	cr_assert_eq(ans.status, 403);
}

Test(api, other_content_types_are_unknown_operations)
{
	static const char *const types[] = {
	        "application/x-amz-json-1.0",
	        "application/x-amz-cbor-1.1", /* CBOR: not yet */
	        "text/plain",
	        "application/xml",
	        "",
	        NULL,
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		send_raw("POST", "Kinesis_20131202.ListStreams", types[i], AUTH, "{}", 2);
		cr_assert_eq(ans.status, 404, "%s: %d", types[i] ? types[i] : "(none)", ans.status);
		cr_assert_str_eq(ans.type, "UnknownOperationException");
		cr_assert_str_eq(ans.raw, "<UnknownOperationException/>\n");
	}
	/* Without a "<service>.<operation>" target Coral cannot even name it. */
	send_raw("POST", NULL, "application/x-amz-json-1.0", AUTH, "{}", 2);
	cr_assert_eq(ans.status, 403);
	cr_assert_str_eq(ans.type, "AccessDeniedException");
	send_raw("POST", "Kinesis_20131202", "text/plain", AUTH, "{}", 2);
	cr_assert_eq(ans.status, 403);
}

Test(api, json_1_1_with_parameters_and_any_case_is_served)
{
	send_raw("POST", "Kinesis_20131202.ListStreams",
	         "Application/X-Amz-Json-1.1; charset=utf-8", AUTH, "{}", 2);
	expect_ok();
}

Test(api, plain_json_gets_corals_answers)
{
	send_raw("POST", "Kinesis_20131202.ListStreams", "application/json", AUTH, "{}", 2);
	cr_assert_eq(ans.status, 200);
	cr_assert_str_eq(ans.raw,
	                 "{\"Output\":{\"__type\":\"com.amazon.coral.service#"
	                 "UnknownOperationException\",\"message\":null},\"Version\":\"1.0\"}");
	send_raw("POST", "Kinesis_20131202.ListStreams", "application/json", AUTH, "{", 1);
	cr_assert_eq(ans.status, 200);
	cr_assert_str_eq(ans.raw,
	                 "{\"Output\":{\"__type\":\"com.amazon.coral.service#"
	                 "SerializationException\",\"Message\":null},\"Version\":\"1.0\"}");
}

Test(api, empty_body_is_a_serialization_error_or_unknown_operation)
{
	send_raw("POST", "Kinesis_20131202.ListStreams", "application/x-amz-json-1.1", AUTH, "", 0);
	expect_err(400, "SerializationException", NULL);
	send_raw("POST", "Kinesis_20131202.Nope", "application/x-amz-json-1.1", AUTH, "", 0);
	expect_err(400, "UnknownOperationException", NULL);
}

Test(api, garbage_json_is_a_serialization_error)
{
	static const char *const bodies[] = {
	        "{",
	        "[]",
	        "null",
	        "\"x\"",
	        "1",
	        "{\"a\":}",
	        "{} x",
	        "\xff\xfe",
	        "{\"a\":\"\xc3\"}",
	        "{\"StreamName\": \"a\", }",
	        "true",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		send_raw("POST", "Kinesis_20131202.ListStreams", "application/x-amz-json-1.1", AUTH,
		         bodies[i], strlen(bodies[i]));
		expect_err(400, "SerializationException", NULL);
	}
}

Test(api, unknown_targets_are_unknown_operations)
{
	static const char *const targets[] = {
	        NULL,
	        "",
	        "Kinesis_20131202",
	        "Kinesis_20131202.",
	        "Kinesis_20131202.Nope",
	        "Kinesis_20131202.listStreams",
	        "Kinesis_20131203.ListStreams",
	        "DynamoDB_20120810.ListStreams",
	        "Kinesis_20131202.SubscribeToShard", /* not served yet */
	};

	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		send_raw("POST", targets[i], "application/x-amz-json-1.1", AUTH, "{}", 2);
		expect_err(400, "UnknownOperationException", NULL);
	}
}

Test(api, unsigned_requests_are_refused)
{
	send_raw("POST", "Kinesis_20131202.ListStreams", "application/x-amz-json-1.1", NULL, "{}",
	         2);
	expect_err(400, "MissingAuthenticationTokenException", "Missing Authentication Token");
	send_raw("POST", "Kinesis_20131202.ListStreams", "application/x-amz-json-1.1",
	         "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host", "{}", 2);
	cr_assert_eq(ans.status, 400);
	cr_assert_str_eq(ans.type, "IncompleteSignatureException");
	cr_assert(strstr(err_message(), "Authorization header requires 'Signature' parameter."),
	          "%s", err_message());
}

Test(api, signatures_are_verified_when_credentials_are_configured)
{
	const char *names[4] = {"content-type", "host", "x-amz-date", "x-amz-target"};
	const char *values[4] = {"application/x-amz-json-1.1", "localhost:4567", "20261201T012521Z",
	                         "Kinesis_20131202.ListStreams"};
	struct sl_sigv4_request sr = {.method = "POST",
	                              .path = "/",
	                              .nheaders = 4,
	                              .header_names = names,
	                              .header_values = values,
	                              .body = "{}",
	                              .len = 2};
	char auth[512];
	const char *all_names[5], *all_values[5];
	struct sl_api_request r = {
	        .method = "POST",
	        .target = values[3],
	        .content_type = values[0],
	        .authorization = auth,
	        .amz_date = values[2],
	        .body = "{}",
	        .len = 2,
	        .path = "/",
	        .nheaders = 5,
	        .header_names = all_names,
	        .header_values = all_values,
	};

	acfg.access_key = "AKIDEXAMPLE";
	acfg.secret_key = "secret";
	restart();
	cr_assert_eq(sl_sigv4_sign(&sr, "AKIDEXAMPLE", "secret", "us-east-1", "kinesis",
	                           "20261201T012521Z", auth, sizeof(auth)),
	             0);
	for (int i = 0; i < 4; i++) {
		all_names[i] = names[i];
		all_values[i] = values[i];
	}
	all_names[4] = "authorization";
	all_values[4] = auth;
	ans.done = false;
	sl_api_handle(api, &r, respond, &ans);
	expect_ok();

	cr_assert_eq(sl_sigv4_sign(&sr, "AKIDEXAMPLE", "wrong", "us-east-1", "kinesis",
	                           "20261201T012521Z", auth, sizeof(auth)),
	             0);
	ans.done = false;
	sl_api_handle(api, &r, respond, &ans);
	cr_assert_eq(ans.status, 400);
	cr_assert_str_eq(ans.type, "InvalidSignatureException");

	cr_assert_eq(sl_sigv4_sign(&sr, "OTHERKEY", "secret", "us-east-1", "kinesis",
	                           "20261201T012521Z", auth, sizeof(auth)),
	             0);
	ans.done = false;
	sl_api_handle(api, &r, respond, &ans);
	cr_assert_eq(ans.status, 400);
	cr_assert_str_eq(ans.type, "UnrecognizedClientException");
}

Test(api, checks_run_in_kinesis_order)
{
	/* Unknown operation before authentication, authentication before
	 * types, types before validation, validation before existence. */
	send_raw("POST", "Kinesis_20131202.Nope", "application/x-amz-json-1.1", NULL, "{}", 2);
	expect_err(400, "UnknownOperationException", NULL);
	send_raw("POST", "Kinesis_20131202.DescribeStream", "application/x-amz-json-1.1", NULL,
	         "{\"Limit\":\"x\"}", 13);
	cr_assert_str_eq(ans.type, "MissingAuthenticationTokenException");
	call("DescribeStream", json_pack("{s:s,s:s}", "Limit", "x", "StreamName", "bad name"));
	expect_serialization("class java.lang.String can not be converted to an Integer");
	call("DescribeStream", json_pack("{s:i,s:s}", "Limit", 0, "StreamName", "nope"));
	expect_validation("1 validation error detected: Value '0' at 'limit' failed to satisfy "
	                  "constraint: Member must have value greater than or equal to 1");
	call("DescribeStream", json_pack("{s:s}", "StreamName", "nope"));
	expect_err(400, "ResourceNotFoundException",
	           "Stream nope under account " ACC " not found.");
}

Test(api, counts_requests_and_errors)
{
	struct sl_api_stats st;

	call("ListStreams", NULL);
	call("DescribeStream", json_pack("{s:s}", "StreamName", "nope"));
	send_raw("GET", NULL, NULL, NULL, "", 0);
	sl_api_stats(api, &st);
	cr_assert_eq(st.requests, 3);
	cr_assert_eq(st.errors_4xx, 2);
	cr_assert_eq(st.errors_5xx, 0);
}

Test(api, unknown_members_are_ignored)
{
	call("ListStreams", json_pack("{s:s,s:i,s:n}", "Whatever", "x", "Other", 3, "Limit"));
	expect_ok();
}

/* ==== type checks ==== */

struct type_case {
	const char *op;
	const char *body;
	const char *message;
};

Test(api, wrong_json_types_are_serialization_errors)
{
	static const struct type_case cases[] = {
	        {"ListStreams", "{\"Limit\":\"1\"}",
	         "class java.lang.String can not be converted to an Integer"},
	        {"ListStreams", "{\"Limit\":true}",
	         "class java.lang.Boolean can not be converted to an Integer"},
	        {"ListStreams", "{\"Limit\":[]}", "Start of list found where not expected"},
	        {"ListStreams", "{\"Limit\":{}}",
	         "Start of structure or map found where not expected."},
	        {"ListStreams", "{\"ExclusiveStartStreamName\":1}",
	         "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be "
	         "converted to an String"},
	        {"DescribeStream", "{\"StreamName\":false}",
	         "class java.lang.Boolean can not be converted to an String"},
	        {"DescribeStream", "{\"StreamARN\":[1]}", "Start of list found where not expected"},
	        {"CreateStream", "{\"StreamName\":\"s\",\"Tags\":\"x\"}", "Expected map or null"},
	        {"CreateStream", "{\"StreamName\":\"s\",\"Tags\":[]}",
	         "Start of list found where not expected"},
	        {"CreateStream", "{\"StreamName\":\"s\",\"Tags\":{\"k\":1}}",
	         "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be "
	         "converted to an String"},
	        {"CreateStream", "{\"StreamName\":\"s\",\"StreamModeDetails\":\"x\"}",
	         "Expected null"},
	        {"CreateStream", "{\"StreamName\":\"s\",\"StreamModeDetails\":{\"StreamMode\":1}}",
	         "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be "
	         "converted to an String"},
	        {"CreateStream", "{\"StreamName\":\"s\",\"ShardCount\":\"2\"}",
	         "class java.lang.String can not be converted to an Integer"},
	        {"RemoveTagsFromStream", "{\"StreamName\":\"s\",\"TagKeys\":\"a\"}",
	         "Expected list or null"},
	        {"RemoveTagsFromStream", "{\"StreamName\":\"s\",\"TagKeys\":{}}",
	         "Start of structure or map found where not expected."},
	        {"RemoveTagsFromStream", "{\"StreamName\":\"s\",\"TagKeys\":[true]}",
	         "class java.lang.Boolean can not be converted to an String"},
	        {"ListShards", "{\"StreamName\":\"s\",\"ShardFilter\":[]}",
	         "Start of list found where not expected"},
	        {"ListShards", "{\"StreamName\":\"s\",\"StreamCreationTimestamp\":\"x\"}",
	         "class java.lang.String can not be converted to milliseconds since epoch"},
	        {"ListShards",
	         "{\"StreamName\":\"s\",\"ShardFilter\":{\"Type\":\"AT_TIMESTAMP\",\"Timestamp\":"
	         "true}}",
	         "class java.lang.Boolean can not be converted to milliseconds since epoch"},
	        {"DeleteStream", "{\"StreamName\":\"s\",\"EnforceConsumerDeletion\":\"yes\"}",
	         "'YES' can not be converted to an Boolean"},
	        {"DeleteStream", "{\"StreamName\":\"s\",\"EnforceConsumerDeletion\":1}",
	         "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be "
	         "converted to an Boolean"},
	        {"IncreaseStreamRetentionPeriod",
	         "{\"StreamName\":\"s\",\"RetentionPeriodHours\":\"48\"}",
	         "class java.lang.String can not be converted to an Integer"},
	        {"UpdateShardCount", "{\"StreamName\":\"s\",\"TargetShardCount\":{}}",
	         "Start of structure or map found where not expected."},
	        {"PutRecord", "{\"StreamName\":\"s\",\"PartitionKey\":\"k\",\"Data\":\"abc\"}",
	         "'abc' can not be converted to a Blob: Base64 encoded length is expected a "
	         "multiple of 4 bytes but found: 3"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char target[96];

		snprintf(target, sizeof(target), "Kinesis_20131202.%s", cases[i].op);
		send_raw("POST", target, "application/x-amz-json-1.1", AUTH, cases[i].body,
		         strlen(cases[i].body));
		cr_assert_eq(ans.status, 400, "%s %s: %d", cases[i].op, cases[i].body, ans.status);
		cr_assert_str_eq(ans.type, "SerializationException", "%s %s: %s", cases[i].op,
		                 cases[i].body, ans.type);
		cr_assert_str_eq(err_message(), cases[i].message, "%s %s", cases[i].op,
		                 cases[i].body);
		cr_assert_not_null(json_object_get(ans.body, "Message"));
	}
}

Test(api, booleans_as_strings_and_integers_as_reals_are_taken_as_coral_takes_them)
{
	create_active("s", 1);
	send_body("DescribeStream", "{\"StreamName\":\"s\",\"Limit\":1.9}");
	expect_ok();
	/* Far beyond an int: clamped, then out of range. */
	send_body("DescribeStream", "{\"StreamName\":\"s\",\"Limit\":1e20}");
	expect_validation("1 validation error detected: Value '2147483647' at 'limit' failed to "
	                  "satisfy constraint: Member must have value less than or equal to 10000");
	send_body("DeleteStream", "{\"StreamName\":\"s\",\"EnforceConsumerDeletion\":\"TRUE\"}");
	expect_ok();
}

/* ==== validation: names, ARNs ==== */

Test(api, stream_name_rules)
{
	char *n128 = repeat('a', 128), *n129 = repeat('a', 129);

	call("DescribeStream", json_pack("{s:s}", "StreamName", ""));
	expect_validation(
	        "2 validation errors detected: Value '' at 'streamName' failed to satisfy "
	        "constraint: Member must satisfy regular expression pattern: "
	        "[a-zA-Z0-9_.-]+; Value '' at 'streamName' failed to satisfy constraint: "
	        "Member must have length greater than or equal to 1");
	call("DescribeStream", json_pack("{s:s}", "StreamName", "bad name!"));
	expect_validation(
	        "1 validation error detected: Value 'bad name!' at 'streamName' failed to "
	        "satisfy constraint: Member must satisfy regular expression pattern: "
	        "[a-zA-Z0-9_.-]+");
	call("DescribeStream", json_pack("{s:s}", "StreamName", n129));
	cr_assert_str_eq(ans.type, "ValidationException");
	cr_assert(strstr(err_message(), "1 validation error detected: Value 'aaaa"));
	cr_assert(strstr(err_message(), "at 'streamName' failed to satisfy constraint: Member must "
	                                "have length less than or equal to 128"));
	create(n128, 1);
	call("DescribeStream", json_pack("{s:s}", "StreamName", n128));
	expect_ok();
	call("DescribeStream", NULL);
	expect_validation("1 validation error detected: Value null at 'streamName' failed to "
	                  "satisfy constraint: Member must not be null");
	create("a-b_c.D9", 1);
	free(n128);
	free(n129);
}

Test(api, stream_arn_rules)
{
	char *long_arn = malloc(2100);

	create_active("s", 1);
	call("DescribeStream",
	     json_pack("{s:s}", "StreamARN", "arn:aws:kinesis:us-east-1:123:stream/s"));
	expect_validation("1 validation error detected: Value "
	                  "'arn:aws:kinesis:us-east-1:123:stream/s' at 'streamARN' failed to "
	                  "satisfy constraint: Member must satisfy regular expression pattern: "
	                  "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+");
	call("DescribeStream", json_pack("{s:s}", "StreamARN", ""));
	cr_assert(strstr(err_message(), "2 validation errors detected: Value '' at 'streamARN' "
	                                "failed to satisfy constraint: Member must have length "
	                                "greater than or equal to 1"),
	          "%s", err_message());
	snprintf(long_arn, 2100, ARN_OF "%s", "s");
	memset(long_arn + strlen(long_arn), 'x', 2049 - strlen(long_arn));
	long_arn[2049] = 0;
	call("DescribeStream", json_pack("{s:s}", "StreamARN", long_arn));
	cr_assert(strstr(err_message(), "Member must have length less than or equal to 2048"), "%s",
	          err_message());
	call("DescribeStream", json_pack("{s:s}", "StreamARN", ARN_OF "s x"));
	cr_assert_str_eq(ans.type, "ValidationException");
	/* Partitions other than aws match the pattern. */
	call("DescribeStream",
	     json_pack("{s:s}", "StreamARN", "arn:aws-cn:kinesis:cn-north-1:" ACC ":stream/s"));
	expect_err(400, "ResourceNotFoundException", "Stream s under account " ACC " not found.");
	free(long_arn);
}

Test(api, streams_are_addressed_by_name_or_arn)
{
	json_t *d;

	create_active("s", 1);
	call("DescribeStream", json_pack("{s:s}", "StreamARN", ARN_OF "s"));
	expect_ok();
	d = json_object_get(ans.body, "StreamDescription");
	cr_assert_str_eq(json_string_value(json_object_get(d, "StreamName")), "s");
	cr_assert_str_eq(json_string_value(json_object_get(d, "StreamARN")), ARN_OF "s");
	call("DescribeStream", json_pack("{s:s,s:s}", "StreamName", "s", "StreamARN", ARN_OF "s"));
	expect_ok();
	/* Another account or region is another stream, not here. */
	call("DescribeStream",
	     json_pack("{s:s}", "StreamARN", "arn:aws:kinesis:us-east-1:111111111111:stream/s"));
	expect_err(400, "ResourceNotFoundException", "Stream s under account " ACC " not found.");
	call("DescribeStream",
	     json_pack("{s:s}", "StreamARN", "arn:aws:kinesis:eu-west-1:" ACC ":stream/s"));
	expect_err(400, "ResourceNotFoundException", "Stream s under account " ACC " not found.");
	call("DescribeStream", json_pack("{s:s,s:s}", "StreamName", "t", "StreamARN", ARN_OF "s"));
	expect_err(400, "InvalidArgumentException",
	           "StreamARN " ARN_OF "s and StreamName t name different streams.");
	call("DeleteStream", json_pack("{s:s}", "StreamARN", ARN_OF "s"));
	expect_ok();
	cr_assert_str_eq(status_of("s"), "DELETING");
}

Test(api, validation_lists_at_most_ten_failures)
{
	call("ListShards", json_pack("{s:s,s:s,s:s,s:s,s:i,s:{s:s}}", "StreamName", "", "StreamARN",
	                             "", "NextToken", "", "ExclusiveStartShardId", "", "MaxResults",
	                             0, "ShardFilter", "ShardId", ""));
	cr_assert_str_eq(ans.type, "ValidationException");
	cr_assert(strncmp(err_message(), "10 validation errors detected: ", 31) == 0, "%s",
	          err_message());
	/* Exactly ten items, nine separators. */
	{
		int seps = 0;

		for (const char *p = err_message(); (p = strstr(p, "; Value")); p++)
			seps++;
		cr_assert_eq(seps, 9);
	}
}

/* ==== CreateStream ==== */

Test(api, create_stream_validation)
{
	call("CreateStream", NULL);
	expect_validation("2 validation errors detected: Value null at 'streamName' failed to "
	                  "satisfy constraint: Member must not be null; Value null at 'shardCount' "
	                  "failed to satisfy constraint: Member must not be null");
	call("CreateStream", json_pack("{s:s,s:i}", "StreamName", "s", "ShardCount", 0));
	expect_validation(
	        "1 validation error detected: Value '0' at 'shardCount' failed to satisfy "
	        "constraint: Member must have value greater than or equal to 1");
	call("CreateStream",
	     json_pack("{s:s,s:i,s:{}}", "StreamName", "s", "ShardCount", 1, "StreamModeDetails"));
	expect_validation(
	        "1 validation error detected: Value null at 'streamModeDetails.streamMode' "
	        "failed to satisfy constraint: Member must not be null");
	call("CreateStream", json_pack("{s:s,s:i,s:{s:s}}", "StreamName", "s", "ShardCount", 1,
	                               "StreamModeDetails", "StreamMode", "FAST"));
	expect_validation(
	        "1 validation error detected: Value 'FAST' at "
	        "'streamModeDetails.streamMode' failed to satisfy constraint: Member must "
	        "satisfy enum value set: [PROVISIONED, ON_DEMAND]");
	call("CreateStream", json_pack("{s:s,s:i,s:i}", "StreamName", "s", "ShardCount", 1,
	                               "MaxRecordSizeInKiB", 1023));
	expect_validation(
	        "1 validation error detected: Value '1023' at 'maxRecordSizeInKiB' failed "
	        "to satisfy constraint: Member must have value greater than or equal to "
	        "1024");
	call("CreateStream", json_pack("{s:s,s:i,s:i}", "StreamName", "s", "ShardCount", 1,
	                               "MaxRecordSizeInKiB", 10241));
	cr_assert(strstr(err_message(), "less than or equal to 10240"), "%s", err_message());
	call("CreateStream", json_pack("{s:s,s:i,s:i}", "StreamName", "s", "ShardCount", 1,
	                               "WarmThroughputMiBps", -1));
	cr_assert(strstr(err_message(), "'warmThroughputMiBps'"), "%s", err_message());
	cr_assert_eq(sl_catalog_nstreams(cat), 0);
	cr_assert_eq(fb.syncs, 0);
}

Test(api, create_stream_lifecycle)
{
	json_t *d, *shards;

	create("s", 2);
	cr_assert_eq(fb.syncs, 1, "the backend takes the layout at once");
	cr_assert_eq(fb.sync_stream, sl_catalog_stream(cat, "s")->id);
	d = describe("s");
	cr_assert_str_eq(json_string_value(json_object_get(d, "StreamStatus")), "CREATING");
	cr_assert_eq(json_array_size(json_object_get(d, "Shards")), 0, "no shards while CREATING");
	cr_assert(json_is_false(json_object_get(d, "HasMoreShards")));
	call("ListShards", json_pack("{s:s}", "StreamName", "s"));
	expect_ok();
	cr_assert_eq(json_array_size(json_object_get(ans.body, "Shards")), 0);
	call("CreateStream", json_pack("{s:s,s:i}", "StreamName", "s", "ShardCount", 1));
	expect_err(400, "ResourceInUseException", "Stream s under account " ACC " already exists.");
	call("SplitShard", json_pack("{s:s,s:s,s:s}", "StreamName", "s", "ShardToSplit",
	                             "shardId-000000000000", "NewStartingHashKey", "5"));
	expect_err(400, "ResourceInUseException",
	           "Stream s under account " ACC " not ACTIVE, instead in state CREATING");

	tick();
	cr_assert_eq(fb.syncs, 1, "a synced stream is not synced again");
	d = describe("s");
	cr_assert_str_eq(json_string_value(json_object_get(d, "StreamStatus")), "ACTIVE");
	shards = json_object_get(d, "Shards");
	cr_assert_eq(json_array_size(shards), 2);
	cr_assert_str_eq(shard_field(json_array_get(shards, 0), "ShardId", NULL),
	                 "shardId-000000000000");
	cr_assert_str_eq(shard_field(json_array_get(shards, 0), "HashKeyRange", "StartingHashKey"),
	                 "0");
	cr_assert_str_eq(shard_field(json_array_get(shards, 0), "HashKeyRange", "EndingHashKey"),
	                 "170141183460469231731687303715884105727");
	cr_assert_str_eq(shard_field(json_array_get(shards, 1), "HashKeyRange", "StartingHashKey"),
	                 HALF_STR);
	cr_assert_str_eq(shard_field(json_array_get(shards, 1), "HashKeyRange", "EndingHashKey"),
	                 MAXK_STR);
	cr_assert_str_eq(shard_field(json_array_get(shards, 1), "SequenceNumberRange",
	                             "StartingSequenceNumber"),
	                 seq_str(1, 0));
	cr_assert_eq(strlen(shard_field(json_array_get(shards, 1), "SequenceNumberRange",
	                                "StartingSequenceNumber")),
	             56);
	cr_assert_null(
	        json_object_get(json_object_get(json_array_get(shards, 1), "SequenceNumberRange"),
	                        "EndingSequenceNumber"));
	cr_assert_null(json_object_get(json_array_get(shards, 1), "ParentShardId"));
}

Test(api, create_stream_three_shards_as_kinesis_lays_them_out)
{
	json_t *shards;

	create_active("s", 3);
	shards = json_object_get(describe("s"), "Shards");
	cr_assert_str_eq(shard_field(json_array_get(shards, 0), "HashKeyRange", "EndingHashKey"),
	                 "113427455640312821154458202477256070484");
	cr_assert_str_eq(shard_field(json_array_get(shards, 1), "HashKeyRange", "StartingHashKey"),
	                 "113427455640312821154458202477256070485");
	cr_assert_str_eq(shard_field(json_array_get(shards, 2), "HashKeyRange", "StartingHashKey"),
	                 "226854911280625642308916404954512140970");
}

Test(api, the_state_delay_holds_creating_until_it_passed)
{
	int64_t t0;

	acfg.state_delay_ms = 3600000;
	restart();
	t0 = now_ms();
	create("s", 1);
	sl_api_tick(api, t0);
	cr_assert_str_eq(status_of("s"), "CREATING");
	sl_api_tick(api, t0 + 2 * HOUR_MS);
	cr_assert_str_eq(status_of("s"), "ACTIVE");
	/* DELETING too stays until the delay passed. */
	call("DeleteStream", json_pack("{s:s}", "StreamName", "s"));
	expect_ok();
	sl_api_tick(api, t0);
	cr_assert_str_eq(status_of("s"), "DELETING");
	cr_assert_eq(fb.drops, 0);
	sl_api_tick(api, now_ms() + 2 * HOUR_MS);
	cr_assert_eq(fb.drops, 1);
	call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "s"));
	expect_err(400, "ResourceNotFoundException", "Stream s under account " ACC " not found.");
}

Test(api, a_failed_sync_keeps_the_stream_creating_until_it_succeeds)
{
	fb.sync_rc = -EIO;
	create("s", 1);
	tick();
	tick();
	cr_assert_str_eq(status_of("s"), "CREATING");
	cr_assert_eq(fb.syncs, 3);
	fb.sync_rc = 0;
	tick();
	cr_assert_eq(fb.syncs, 4);
	cr_assert_str_eq(status_of("s"), "ACTIVE");
}

Test(api, create_stream_on_demand)
{
	json_t *s;

	call("CreateStream", json_pack("{s:s,s:{s:s}}", "StreamName", "od", "StreamModeDetails",
	                               "StreamMode", "ON_DEMAND"));
	expect_ok();
	tick();
	call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "od"));
	expect_ok();
	s = json_object_get(ans.body, "StreamDescriptionSummary");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(s, "StreamModeDetails"),
	                                                   "StreamMode")),
	                 "ON_DEMAND");
	cr_assert_eq(json_integer_value(json_object_get(s, "OpenShardCount")), 4);
	call("CreateStream", json_pack("{s:s,s:i,s:{s:s}}", "StreamName", "od2", "ShardCount", 2,
	                               "StreamModeDetails", "StreamMode", "ON_DEMAND"));
	expect_err(400, "InvalidArgumentException",
	           "ShardCount is not expected when StreamMode=ON_DEMAND");
	call("SplitShard", json_pack("{s:s,s:s,s:s}", "StreamName", "od", "ShardToSplit",
	                             "shardId-000000000000", "NewStartingHashKey", "5"));
	expect_err(400, "ValidationException",
	           "SplitShard is not supported for stream od under account " ACC
	           " because it is in ON_DEMAND capacity mode.");
	call("DescribeLimits", NULL);
	expect_ok();
	cr_assert_eq(json_integer_value(json_object_get(ans.body, "OnDemandStreamCount")), 1);
}

Test(api, create_stream_shard_limit)
{
	call("CreateStream", json_pack("{s:s,s:i}", "StreamName", "big", "ShardCount", 201));
	expect_err(
	        400, "LimitExceededException",
	        "This request would exceed the shard limit for the account " ACC
	        " in us-east-1. Current shard count for the account: 0. Limit: 200. Number of "
	        "additional shards that would have resulted from this request: 201. Refer to the "
	        "AWS Service Limits page "
	        "(http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for "
	        "current limits and how to request higher limits.");
	create("big", 200);
	call("CreateStream", json_pack("{s:s,s:i}", "StreamName", "one", "ShardCount", 1));
	cr_assert_str_eq(ans.type, "LimitExceededException");
	cr_assert(strstr(err_message(), "Current shard count for the account: 200. Limit: 200."));
}

Test(api, create_stream_with_tags)
{
	call("CreateStream", json_pack("{s:s,s:i,s:{s:s,s:s}}", "StreamName", "s", "ShardCount", 1,
	                               "Tags", "team", "web", "env", ""));
	expect_ok();
	call("ListTagsForStream", json_pack("{s:s}", "StreamName", "s"));
	expect_ok();
	cr_assert(jeq(json_object_get(ans.body, "Tags"),
	              json_pack("[{s:s,s:s},{s:s,s:s}]", "Key", "env", "Value", "", "Key", "team",
	                        "Value", "web")));
}

/* ==== tags: every limit ==== */

static json_t *tag_map(int n, const char *prefix)
{
	json_t *m = json_object();

	for (int i = 0; i < n; i++) {
		char k[64];

		snprintf(k, sizeof(k), "%s%03d", prefix, i);
		json_object_set_new(m, k, json_string("v"));
	}
	return m;
}

Test(api, tag_validation)
{
	char *k128 = repeat('k', 128), *k129 = repeat('k', 129), *v256 = repeat('v', 256),
	     *v257 = repeat('v', 257);
	json_t *m;

	create_active("s", 1);
	call("AddTagsToStream", json_pack("{s:s}", "StreamName", "s"));
	expect_validation("1 validation error detected: Value null at 'tags' failed to satisfy "
	                  "constraint: Member must not be null");
	call("AddTagsToStream", json_pack("{s:s,s:{}}", "StreamName", "s", "Tags"));
	expect_validation("1 validation error detected: Value '{}' at 'tags' failed to satisfy "
	                  "constraint: Member must have length greater than or equal to 1");
	call("AddTagsToStream", json_pack("{s:s,s:{s:s}}", "StreamName", "s", "Tags", "", "v"));
	expect_validation(
	        "1 validation error detected: Value '{=v}' at 'tags' failed to satisfy "
	        "constraint: Map keys must satisfy constraint: [Member must have length "
	        "less than or equal to 128, Member must have length greater than or equal "
	        "to 1]");
	call("AddTagsToStream", json_pack("{s:s,s:{s:s}}", "StreamName", "s", "Tags", k129, "v"));
	cr_assert(strstr(err_message(), "Map keys must satisfy constraint"), "%s", err_message());
	call("AddTagsToStream", json_pack("{s:s,s:{s:s}}", "StreamName", "s", "Tags", "k", v257));
	cr_assert(strstr(err_message(),
	                 "Map value must satisfy constraint: [Member must have length "
	                 "less than or equal to 256, Member must have length greater "
	                 "than or equal to 0]"),
	          "%s", err_message());
	m = tag_map(201, "k");
	call("AddTagsToStream", json_pack("{s:s,s:o}", "StreamName", "s", "Tags", m));
	cr_assert(strstr(err_message(), "Member must have length less than or equal to 200"), "%s",
	          err_message());
	call("AddTagsToStream", json_pack("{s:s,s:{s:s}}", "StreamName", "s", "Tags", k128, v256));
	expect_ok();
	call("AddTagsToStream", json_pack("{s:s,s:{s:s}}", "StreamName", "s", "Tags", "bad*", "v"));
	expect_err(
	        400, "InvalidArgumentException",
	        "Some tags contain invalid characters. Valid characters: Unicode letters, digits, "
	        "white space, _ . / = + - % @.");
	/* Characters, not bytes: 128 two-byte letters are a fine key. */
	{
		char key[257 * 2];

		for (int i = 0; i < 128; i++)
			memcpy(key + 2 * i, "\xc3\xa9", 2);
		key[256] = 0;
		call("AddTagsToStream",
		     json_pack("{s:s,s:{s:s}}", "StreamName", "s", "Tags", key, "v"));
		expect_ok();
	}
	free(k128);
	free(k129);
	free(v256);
	free(v257);
}

Test(api, a_stream_holds_at_most_fifty_tags)
{
	create_active("s", 1);
	call("AddTagsToStream",
	     json_pack("{s:s,s:o}", "StreamName", "s", "Tags", tag_map(50, "a")));
	expect_ok();
	/* Overwriting is not adding. */
	call("AddTagsToStream",
	     json_pack("{s:s,s:{s:s}}", "StreamName", "s", "Tags", "a000", "changed"));
	expect_ok();
	call("AddTagsToStream", json_pack("{s:s,s:{s:s}}", "StreamName", "s", "Tags", "b", "v"));
	expect_err(400, "InvalidArgumentException",
	           "Failed to add tags to stream s under account " ACC
	           " because a given stream cannot have more than 50 tags associated with it.");
	call("CreateStream", json_pack("{s:s,s:i,s:o}", "StreamName", "t", "ShardCount", 1, "Tags",
	                               tag_map(51, "a")));
	expect_err(400, "InvalidArgumentException",
	           "Failed to create stream t under account " ACC
	           " because a given stream cannot have more than 50 tags associated with it.");
}

Test(api, tags_add_list_remove)
{
	json_t *tags;

	create_active("s", 1);
	call("AddTagsToStream", json_pack("{s:s,s:{s:s,s:s,s:s}}", "StreamName", "s", "Tags", "c",
	                                  "3", "a", "1", "b", "2"));
	expect_ok();
	cr_assert_eq(ans.len, 0);
	call("ListTagsForStream", json_pack("{s:s,s:i}", "StreamName", "s", "Limit", 2));
	expect_ok();
	tags = json_object_get(ans.body, "Tags");
	cr_assert(jeq(tags, json_pack("[{s:s,s:s},{s:s,s:s}]", "Key", "a", "Value", "1", "Key", "b",
	                              "Value", "2")));
	cr_assert(json_is_true(json_object_get(ans.body, "HasMoreTags")));
	call("ListTagsForStream",
	     json_pack("{s:s,s:s}", "StreamName", "s", "ExclusiveStartTagKey", "b"));
	expect_ok();
	cr_assert(jeq(json_object_get(ans.body, "Tags"),
	              json_pack("[{s:s,s:s}]", "Key", "c", "Value", "3")));
	cr_assert(json_is_false(json_object_get(ans.body, "HasMoreTags")));
	call("RemoveTagsFromStream",
	     json_pack("{s:s,s:[s,s]}", "StreamName", "s", "TagKeys", "a", "unknown"));
	expect_ok();
	call("ListTagsForStream", json_pack("{s:s}", "StreamARN", ARN_OF "s"));
	expect_ok();
	cr_assert_eq(json_array_size(json_object_get(ans.body, "Tags")), 2);
}

Test(api, tag_list_limits)
{
	json_t *keys = json_array();
	char *k129 = repeat('k', 129);

	create_active("s", 1);
	call("ListTagsForStream", json_pack("{s:s,s:i}", "StreamName", "s", "Limit", 0));
	expect_validation("1 validation error detected: Value '0' at 'limit' failed to satisfy "
	                  "constraint: Member must have value greater than or equal to 1");
	call("ListTagsForStream", json_pack("{s:s,s:i}", "StreamName", "s", "Limit", 51));
	expect_validation("1 validation error detected: Value '51' at 'limit' failed to satisfy "
	                  "constraint: Member must have value less than or equal to 50");
	call("ListTagsForStream", json_pack("{s:s,s:i}", "StreamName", "s", "Limit", 50));
	expect_ok();
	call("ListTagsForStream",
	     json_pack("{s:s,s:s}", "StreamName", "s", "ExclusiveStartTagKey", ""));
	cr_assert(strstr(err_message(), "at 'exclusiveStartTagKey' failed to satisfy constraint: "
	                                "Member must have length greater than or equal to 1"));
	call("RemoveTagsFromStream", json_pack("{s:s}", "StreamName", "s"));
	expect_validation("1 validation error detected: Value null at 'tagKeys' failed to satisfy "
	                  "constraint: Member must not be null");
	call("RemoveTagsFromStream", json_pack("{s:s,s:[]}", "StreamName", "s", "TagKeys"));
	expect_validation("1 validation error detected: Value '[]' at 'tagKeys' failed to satisfy "
	                  "constraint: Member must have length greater than or equal to 1");
	call("RemoveTagsFromStream",
	     json_pack("{s:s,s:[s,s]}", "StreamName", "s", "TagKeys", "a", ""));
	expect_validation("1 validation error detected: Value '[a, ]' at 'tagKeys' failed to "
	                  "satisfy constraint: Member must satisfy constraint: [Member must have "
	                  "length less than or equal to 128, Member must have length greater than "
	                  "or equal to 1]");
	call("RemoveTagsFromStream", json_pack("{s:s,s:[s]}", "StreamName", "s", "TagKeys", k129));
	cr_assert_str_eq(ans.type, "ValidationException");
	for (int i = 0; i < 51; i++)
		json_array_append_new(keys, json_sprintf("k%d", i));
	call("RemoveTagsFromStream", json_pack("{s:s,s:O}", "StreamName", "s", "TagKeys", keys));
	cr_assert(strstr(err_message(), "Member must have length less than or equal to 50"), "%s",
	          err_message());
	json_array_remove(keys, 0);
	call("RemoveTagsFromStream", json_pack("{s:s,s:o}", "StreamName", "s", "TagKeys", keys));
	expect_ok();
	free(k129);
}

/* ==== DeleteStream ==== */

Test(api, delete_stream_goes_deleting_then_gone)
{
	uint32_t id;

	create_active("s", 1);
	id = sl_catalog_stream(cat, "s")->id;
	call("DeleteStream",
	     json_pack("{s:s,s:b}", "StreamName", "s", "EnforceConsumerDeletion", 1));
	expect_ok();
	cr_assert_eq(ans.len, 0);
	cr_assert_str_eq(status_of("s"), "DELETING");
	call("ListStreams", NULL);
	cr_assert_eq(json_array_size(json_object_get(ans.body, "StreamNames")), 1);
	cr_assert_eq(fb.drops, 0);
	tick();
	cr_assert_eq(fb.drops, 1);
	cr_assert_eq(fb.drop_stream, id);
	cr_assert_str_eq(fb.drop_name, "s");
	call("DescribeStream", json_pack("{s:s}", "StreamName", "s"));
	expect_err(400, "ResourceNotFoundException", "Stream s under account " ACC " not found.");
	call("DeleteStream", json_pack("{s:s}", "StreamName", "s"));
	expect_err(400, "ResourceNotFoundException", "Stream s under account " ACC " not found.");
	/* The name is free again; the new stream is another one. */
	create_active("s", 1);
	cr_assert_neq(sl_catalog_stream(cat, "s")->id, id);
}

Test(api, a_creating_stream_may_be_deleted)
{
	create("s", 1);
	call("DeleteStream", json_pack("{s:s}", "StreamName", "s"));
	expect_ok();
	tick();
	cr_assert_eq(sl_catalog_nstreams(cat), 0);
	cr_assert_eq(fb.drops, 1);
}

/* ==== DescribeStream, DescribeStreamSummary ==== */

Test(api, describe_stream_fields)
{
	json_t *d;

	fixed_clock_ms = 1796088588123;
	create_active("s", 1);
	d = describe("s");
	cr_assert(jeq(d, json_pack("{s:s,s:s,s:s,s:{s:s},s:[{s:s,s:{s:s,s:s},s:{s:s}}],s:b,"
	                           "s:i,s:f,s:[{s:[]}],s:s}",
	                           "StreamName", "s", "StreamARN", ARN_OF "s", "StreamStatus",
	                           "ACTIVE", "StreamModeDetails", "StreamMode", "PROVISIONED",
	                           "Shards", "ShardId", "shardId-000000000000", "HashKeyRange",
	                           "StartingHashKey", "0", "EndingHashKey", MAXK_STR,
	                           "SequenceNumberRange", "StartingSequenceNumber", seq_str(0, 0),
	                           "HasMoreShards", 0, "RetentionPeriodHours", 24,
	                           "StreamCreationTimestamp", 1796088588.123, "EnhancedMonitoring",
	                           "ShardLevelMetrics", "EncryptionType", "NONE")),
	          "%s", ans.raw);
	/* Whole seconds are an integer. */
	fixed_clock_ms = 1796088589000;
	create_active("t", 1);
	cr_assert_eq(json_integer_value(json_object_get(describe("t"), "StreamCreationTimestamp")),
	             1796088589);
}

Test(api, describe_stream_summary_fields)
{
	json_t *s;

	fixed_clock_ms = 1796088588000;
	create_active("s", 3);
	call("DescribeStreamSummary", json_pack("{s:s}", "StreamARN", ARN_OF "s"));
	expect_ok();
	s = json_object_get(ans.body, "StreamDescriptionSummary");
	cr_assert(jeq(s, json_pack("{s:s,s:s,s:s,s:{s:s},s:i,s:i,s:[{s:[]}],s:s,s:i,s:i,s:i}",
	                           "StreamName", "s", "StreamARN", ARN_OF "s", "StreamStatus",
	                           "ACTIVE", "StreamModeDetails", "StreamMode", "PROVISIONED",
	                           "RetentionPeriodHours", 24, "StreamCreationTimestamp",
	                           1796088588, "EnhancedMonitoring", "ShardLevelMetrics",
	                           "EncryptionType", "NONE", "OpenShardCount", 3, "ConsumerCount",
	                           0, "MaxRecordSizeInKiB", 1024)),
	          "%s", ans.raw);
}

Test(api, describe_stream_pages_by_limit_and_exclusive_start)
{
	json_t *d;

	create_active("s", 5);
	call("DescribeStream", json_pack("{s:s,s:i}", "StreamName", "s", "Limit", 2));
	expect_ok();
	d = json_object_get(ans.body, "StreamDescription");
	cr_assert_str_eq(ids_of(json_object_get(d, "Shards")), "000000000000,000000000001");
	cr_assert(json_is_true(json_object_get(d, "HasMoreShards")));
	call("DescribeStream", json_pack("{s:s,s:i,s:s}", "StreamName", "s", "Limit", 2,
	                                 "ExclusiveStartShardId", "shardId-000000000001"));
	d = json_object_get(ans.body, "StreamDescription");
	cr_assert_str_eq(ids_of(json_object_get(d, "Shards")), "000000000002,000000000003");
	cr_assert(json_is_true(json_object_get(d, "HasMoreShards")));
	call("DescribeStream", json_pack("{s:s,s:i,s:s}", "StreamName", "s", "Limit", 2,
	                                 "ExclusiveStartShardId", "shardId-000000000003"));
	d = json_object_get(ans.body, "StreamDescription");
	cr_assert_str_eq(ids_of(json_object_get(d, "Shards")), "000000000004");
	cr_assert(json_is_false(json_object_get(d, "HasMoreShards")));
	call("DescribeStream",
	     json_pack("{s:s,s:s}", "StreamName", "s", "ExclusiveStartShardId", "shardId-3"));
	d = json_object_get(ans.body, "StreamDescription");
	cr_assert_str_eq(ids_of(json_object_get(d, "Shards")), "000000000004");
	/* Exactly the limit left: no more. */
	call("DescribeStream", json_pack("{s:s,s:i}", "StreamName", "s", "Limit", 5));
	d = json_object_get(ans.body, "StreamDescription");
	cr_assert_eq(json_array_size(json_object_get(d, "Shards")), 5);
	cr_assert(json_is_false(json_object_get(d, "HasMoreShards")));
}

Test(api, describe_stream_limits)
{
	json_t *d;

	create_active("s", 101);
	call("DescribeStream", json_pack("{s:s,s:i}", "StreamName", "s", "Limit", 10001));
	expect_validation("1 validation error detected: Value '10001' at 'limit' failed to satisfy "
	                  "constraint: Member must have value less than or equal to 10000");
	call("DescribeStream", json_pack("{s:s,s:i}", "StreamName", "s", "Limit", 10000));
	expect_ok();
	d = json_object_get(ans.body, "StreamDescription");
	cr_assert_eq(json_array_size(json_object_get(d, "Shards")), 100, "at most 100 returned");
	cr_assert(json_is_true(json_object_get(d, "HasMoreShards")));
	call("DescribeStream", json_pack("{s:s}", "StreamName", "s"));
	d = json_object_get(ans.body, "StreamDescription");
	cr_assert_eq(json_array_size(json_object_get(d, "Shards")), 100, "default 100");
	call("DescribeStream", json_pack("{s:s,s:i}", "StreamName", "s", "Limit", 1));
	expect_ok();
	call("DescribeStream",
	     json_pack("{s:s,s:s}", "StreamName", "s", "ExclusiveStartShardId", "bad id"));
	expect_validation("1 validation error detected: Value 'bad id' at 'exclusiveStartShardId' "
	                  "failed to satisfy constraint: Member must satisfy regular expression "
	                  "pattern: [a-zA-Z0-9_.-]+");
}

/* ==== ListStreams ==== */

Test(api, list_streams_pages_with_next_token)
{
	const char *names[] = {"e", "a", "c", "b", "d"};
	json_t *b;
	char token[512];

	for (int i = 0; i < 5; i++)
		create(names[i], 1);
	tick();
	call("ListStreams", json_pack("{s:i}", "Limit", 2));
	expect_ok();
	b = ans.body;
	cr_assert(jeq(json_object_get(b, "StreamNames"), json_pack("[s,s]", "a", "b")));
	cr_assert(json_is_true(json_object_get(b, "HasMoreStreams")));
	cr_assert(jeq(json_array_get(json_object_get(b, "StreamSummaries"), 0),
	              json_pack("{s:s,s:s,s:s,s:{s:s},s:o}", "StreamName", "a", "StreamARN",
	                        ARN_OF "a", "StreamStatus", "ACTIVE", "StreamModeDetails",
	                        "StreamMode", "PROVISIONED", "StreamCreationTimestamp",
	                        json_deep_copy(json_object_get(
	                                json_array_get(json_object_get(b, "StreamSummaries"), 0),
	                                "StreamCreationTimestamp")))));
	cr_assert_not_null(json_string_value(json_object_get(b, "NextToken")));
	snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(b, "NextToken")));
	call("ListStreams", json_pack("{s:s,s:i}", "NextToken", token, "Limit", 2));
	expect_ok();
	cr_assert(jeq(json_object_get(ans.body, "StreamNames"), json_pack("[s,s]", "c", "d")));
	snprintf(token, sizeof(token), "%s",
	         json_string_value(json_object_get(ans.body, "NextToken")));
	call("ListStreams", json_pack("{s:s}", "NextToken", token));
	expect_ok();
	cr_assert(jeq(json_object_get(ans.body, "StreamNames"), json_pack("[s]", "e")));
	cr_assert(json_is_false(json_object_get(ans.body, "HasMoreStreams")));
	cr_assert_null(json_object_get(ans.body, "NextToken"));
	call("ListStreams", json_pack("{s:s}", "ExclusiveStartStreamName", "b"));
	cr_assert(
	        jeq(json_object_get(ans.body, "StreamNames"), json_pack("[s,s,s]", "c", "d", "e")));
	call("ListStreams", json_pack("{s:s}", "ExclusiveStartStreamName", "zz"));
	cr_assert_eq(json_array_size(json_object_get(ans.body, "StreamNames")), 0);
	cr_assert(json_is_false(json_object_get(ans.body, "HasMoreStreams")));
}

Test(api, list_streams_empty)
{
	call("ListStreams", NULL);
	expect_ok();
	cr_assert(jeq(ans.body, json_pack("{s:[],s:b,s:[]}", "StreamNames", "HasMoreStreams", 0,
	                                  "StreamSummaries")),
	          "%s", ans.raw);
}

Test(api, list_streams_limits)
{
	char name[16];

	for (int i = 0; i < 101; i++) {
		snprintf(name, sizeof(name), "s%03d", i);
		create(name, 1);
	}
	call("ListStreams", json_pack("{s:i}", "Limit", 0));
	expect_validation("1 validation error detected: Value '0' at 'limit' failed to satisfy "
	                  "constraint: Member must have value greater than or equal to 1");
	call("ListStreams", json_pack("{s:i}", "Limit", 10001));
	expect_validation("1 validation error detected: Value '10001' at 'limit' failed to satisfy "
	                  "constraint: Member must have value less than or equal to 10000");
	call("ListStreams", json_pack("{s:i}", "Limit", 10000));
	expect_ok();
	cr_assert_eq(json_array_size(json_object_get(ans.body, "StreamNames")), 100);
	cr_assert(json_is_true(json_object_get(ans.body, "HasMoreStreams")));
	call("ListStreams", NULL);
	cr_assert_eq(json_array_size(json_object_get(ans.body, "StreamNames")), 100, "default 100");
	call("ListStreams", json_pack("{s:i}", "Limit", 1));
	cr_assert_eq(json_array_size(json_object_get(ans.body, "StreamNames")), 1);
	call("ListStreams", json_pack("{s:s}", "ExclusiveStartStreamName", "bad name"));
	cr_assert_str_eq(ans.type, "ValidationException");
	call("ListStreams", json_pack("{s:s}", "NextToken", ""));
	expect_validation("1 validation error detected: Value '' at 'nextToken' failed to satisfy "
	                  "constraint: Member must have length greater than or equal to 1");
}

Test(api, next_tokens_are_checked)
{
	char token[512];

	create_active("a", 3);
	create_active("b", 1);
	call("ListStreams", json_pack("{s:s}", "NextToken", "garbage"));
	expect_err(400, "InvalidArgumentException", "Invalid NextToken.");
	call("ListStreams", json_pack("{s:i}", "Limit", 1));
	snprintf(token, sizeof(token), "%s",
	         json_string_value(json_object_get(ans.body, "NextToken")));
	/* Altered: one character changed. */
	token[5] = token[5] == 'A' ? 'B' : 'A';
	call("ListStreams", json_pack("{s:s}", "NextToken", token));
	expect_err(400, "InvalidArgumentException", "Invalid NextToken.");
	token[5] = token[5] == 'A' ? 'B' : 'A';
	/* A ListStreams token is no ListShards token. */
	call("ListShards", json_pack("{s:s}", "NextToken", token));
	expect_err(400, "InvalidArgumentException", "Invalid NextToken.");
	/* Another server's key does not make our tokens. */
	{
		static const uint8_t other[32] = "another-iterator-key-of-32-bytes";

		acfg.iterator_key = other;
		stop();
		start();
		create_active("a", 1);
		create_active("b", 1);
		call("ListStreams", json_pack("{s:s}", "NextToken", token));
		expect_err(400, "InvalidArgumentException", "Invalid NextToken.");
	}
}

Test(api, next_tokens_expire)
{
	char token[512];

	acfg.iterator_ttl_ms = 1;
	restart();
	create_active("a", 2);
	create_active("b", 1);
	call("ListStreams", json_pack("{s:i}", "Limit", 1));
	snprintf(token, sizeof(token), "%s",
	         json_string_value(json_object_get(ans.body, "NextToken")));
	usleep(20000); /* well past the 1 ms they live */
	call("ListStreams", json_pack("{s:s}", "NextToken", token));
	cr_assert_eq(ans.status, 400);
	cr_assert_str_eq(ans.type, "ExpiredNextTokenException");
	call("ListShards", json_pack("{s:s,s:i}", "StreamName", "a", "MaxResults", 1));
	snprintf(token, sizeof(token), "%s",
	         json_string_value(json_object_get(ans.body, "NextToken")));
	usleep(20000);
	call("ListShards", json_pack("{s:s}", "NextToken", token));
	cr_assert_str_eq(ans.type, "ExpiredNextTokenException");
}

/* ==== ListShards ==== */

/* ListShards with extra members (stolen); the Shards' ids. */
static const char *list_shards(json_t *in)
{
	call("ListShards", in);
	expect_ok();
	return ids_of(json_object_get(ans.body, "Shards"));
}

Test(api, list_shards_pages_with_next_token)
{
	char token[512];
	const char *ids;
	json_t *first;

	create_active("s", 3);
	ids = list_shards(json_pack("{s:s,s:i}", "StreamName", "s", "MaxResults", 2));
	cr_assert_str_eq(ids, "000000000000,000000000001");
	snprintf(token, sizeof(token), "%s",
	         json_string_value(json_object_get(ans.body, "NextToken")));
	ids = list_shards(json_pack("{s:s,s:i}", "NextToken", token, "MaxResults", 2));
	cr_assert_str_eq(ids, "000000000002");
	cr_assert_null(json_object_get(ans.body, "NextToken"));
	ids = list_shards(json_pack("{s:s}", "StreamARN", ARN_OF "s"));
	cr_assert_str_eq(ids, "000000000000,000000000001,000000000002");
	cr_assert_null(json_object_get(ans.body, "NextToken"));
	ids = list_shards(json_pack("{s:s,s:s}", "StreamName", "s", "ExclusiveStartShardId",
	                            "shardId-000000000000"));
	cr_assert_str_eq(ids, "000000000001,000000000002");
	/* Short spellings of an id are that id, not a string to compare. */
	ids = list_shards(
	        json_pack("{s:s,s:s}", "StreamName", "s", "ExclusiveStartShardId", "shardId-1"));
	cr_assert_str_eq(ids, "000000000002");
	ids = list_shards(json_pack("{s:s,s:s}", "StreamName", "s", "ExclusiveStartShardId", "0"));
	cr_assert_str_eq(ids, "000000000001,000000000002");
	ids = list_shards(
	        json_pack("{s:s,s:s}", "StreamName", "s", "ExclusiveStartShardId", "abc"));
	cr_assert_str_eq(ids, "000000000000,000000000001,000000000002");
	ids = list_shards(
	        json_pack("{s:s,s:s}", "StreamName", "s", "ExclusiveStartShardId", "zzz"));
	cr_assert_str_eq(ids, "");
	/* Full shard objects, as DescribeStream shows them. */
	list_shards(json_pack("{s:s,s:i}", "StreamName", "s", "MaxResults", 1));
	first = json_deep_copy(json_array_get(json_object_get(ans.body, "Shards"), 0));
	cr_assert(json_equal(first, json_array_get(json_object_get(describe("s"), "Shards"), 0)));
	json_decref(first);
}

Test(api, list_shards_argument_rules)
{
	char token[512];

	create_active("s", 2);
	list_shards(json_pack("{s:s,s:i}", "StreamName", "s", "MaxResults", 1));
	snprintf(token, sizeof(token), "%s",
	         json_string_value(json_object_get(ans.body, "NextToken")));
	call("ListShards", NULL);
	expect_err(400, "InvalidArgumentException",
	           "Either NextToken or StreamName should be provided.");
	call("ListShards", json_pack("{s:s,s:s}", "StreamName", "s", "NextToken", token));
	expect_err(400, "InvalidArgumentException",
	           "NextToken and StreamName cannot be provided together.");
	call("ListShards", json_pack("{s:s,s:s}", "StreamARN", ARN_OF "s", "NextToken", token));
	expect_err(400, "InvalidArgumentException",
	           "NextToken and StreamName cannot be provided together.");
	call("ListShards", json_pack("{s:s,s:s}", "NextToken", token, "ExclusiveStartShardId",
	                             "shardId-000000000000"));
	expect_err(400, "InvalidArgumentException",
	           "NextToken cannot be provided together with ExclusiveStartShardId.");
	call("ListShards",
	     json_pack("{s:s,s:i}", "NextToken", token, "StreamCreationTimestamp", 5));
	expect_err(400, "InvalidArgumentException",
	           "NextToken cannot be provided together with StreamCreationTimestamp.");
	call("ListShards",
	     json_pack("{s:s,s:{s:s}}", "NextToken", token, "ShardFilter", "Type", "AT_LATEST"));
	expect_err(400, "InvalidArgumentException",
	           "NextToken cannot be provided together with ShardFilter.");
	call("ListShards", json_pack("{s:s,s:i}", "StreamName", "s", "MaxResults", 0));
	expect_validation(
	        "1 validation error detected: Value '0' at 'maxResults' failed to satisfy "
	        "constraint: Member must have value greater than or equal to 1");
	call("ListShards", json_pack("{s:s,s:i}", "StreamName", "s", "MaxResults", 10001));
	expect_validation("1 validation error detected: Value '10001' at 'maxResults' failed to "
	                  "satisfy constraint: Member must have value less than or equal to 10000");
	call("ListShards", json_pack("{s:s,s:{}}", "StreamName", "s", "ShardFilter"));
	expect_validation("1 validation error detected: Value null at 'shardFilter.type' failed to "
	                  "satisfy constraint: Member must not be null");
	call("ListShards",
	     json_pack("{s:s,s:{s:s}}", "StreamName", "s", "ShardFilter", "Type", "X"));
	expect_validation(
	        "1 validation error detected: Value 'X' at 'shardFilter.type' failed to "
	        "satisfy constraint: Member must satisfy enum value set: [AFTER_SHARD_ID, "
	        "AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, "
	        "FROM_TIMESTAMP]");
	call("ListShards", json_pack("{s:s,s:{s:s}}", "StreamName", "s", "ShardFilter", "Type",
	                             "AFTER_SHARD_ID"));
	expect_err(400, "InvalidArgumentException",
	           "A ShardFilter of type AFTER_SHARD_ID needs a ShardId and no Timestamp.");
	call("ListShards",
	     json_pack("{s:s,s:{s:s}}", "StreamName", "s", "ShardFilter", "Type", "AT_TIMESTAMP"));
	expect_err(400, "InvalidArgumentException",
	           "A ShardFilter of type AT_TIMESTAMP needs a Timestamp and no ShardId.");
	call("ListShards", json_pack("{s:s,s:{s:s,s:i}}", "StreamName", "s", "ShardFilter", "Type",
	                             "AT_LATEST", "Timestamp", 5));
	expect_err(400, "InvalidArgumentException",
	           "A ShardFilter of type AT_LATEST takes neither a ShardId nor a Timestamp.");
	call("ListShards", json_pack("{s:s}", "StreamName", "nope"));
	expect_err(400, "ResourceNotFoundException",
	           "Stream nope under account " ACC " not found.");
}

Test(api, list_shards_max_results_caps_at_a_thousand)
{
	create_active("s", 150);
	list_shards(json_pack("{s:s,s:i}", "StreamName", "s", "MaxResults", 10000));
	cr_assert_eq(json_array_size(json_object_get(ans.body, "Shards")), 150);
	cr_assert_null(json_object_get(ans.body, "NextToken"));
	list_shards(json_pack("{s:s,s:i}", "StreamName", "s", "MaxResults", 149));
	cr_assert_eq(json_array_size(json_object_get(ans.body, "Shards")), 149);
	cr_assert_not_null(json_object_get(ans.body, "NextToken"));
}

Test(api, list_shards_stream_creation_timestamp_names_the_incarnation)
{
	fixed_clock_ms = 1796088588123;
	create_active("s", 1);
	fixed_clock_ms = 0;
	list_shards(json_pack("{s:s,s:f}", "StreamName", "s", "StreamCreationTimestamp",
	                      1796088588.123));
	call("ListShards",
	     json_pack("{s:s,s:i}", "StreamName", "s", "StreamCreationTimestamp", 1700000000));
	expect_err(400, "ResourceNotFoundException", "Stream s under account " ACC " not found.");
}

/* Splits shard id of s at key and ticks it ACTIVE. */
static void split(const char *s, const char *shard, const char *key)
{
	call("SplitShard", json_pack("{s:s,s:s,s:s}", "StreamName", s, "ShardToSplit", shard,
	                             "NewStartingHashKey", key));
	expect_ok();
	cr_assert_eq(ans.len, 0);
	cr_assert_str_eq(status_of(s), "UPDATING");
	tick();
	cr_assert_str_eq(status_of(s), "ACTIVE");
}

Test(api, list_shards_filters)
{
	char token[512];
	int64_t t;

	/* Created 10 s ago, split 5 s ago (the catalog's clock). */
	t = now_ms();
	fixed_clock_ms = t - 10000;
	create_active("s", 2);
	fixed_clock_ms = t - 5000;
	split("s", "shardId-000000000000", "1000");
	fixed_clock_ms = 0;
	cr_assert_str_eq(list_shards(json_pack("{s:s}", "StreamName", "s")),
	                 "000000000000,000000000001,000000000002,000000000003");
	cr_assert_str_eq(list_shards(json_pack("{s:s,s:{s:s}}", "StreamName", "s", "ShardFilter",
	                                       "Type", "FROM_TRIM_HORIZON")),
	                 "000000000000,000000000001,000000000002,000000000003");
	cr_assert_str_eq(list_shards(json_pack("{s:s,s:{s:s}}", "StreamName", "s", "ShardFilter",
	                                       "Type", "AT_LATEST")),
	                 "000000000001,000000000002,000000000003");
	/* The stream is younger than its retention: its start is the horizon. */
	cr_assert_str_eq(list_shards(json_pack("{s:s,s:{s:s}}", "StreamName", "s", "ShardFilter",
	                                       "Type", "AT_TRIM_HORIZON")),
	                 "000000000000,000000000001");
	cr_assert_str_eq(
	        list_shards(json_pack("{s:s,s:{s:s,s:s}}", "StreamName", "s", "ShardFilter", "Type",
	                              "AFTER_SHARD_ID", "ShardId", "shardId-000000000001")),
	        "000000000002,000000000003");
	/* Before the stream: moved up to its creation, so the first shards. */
	cr_assert_str_eq(
	        list_shards(json_pack("{s:s,s:{s:s,s:i}}", "StreamName", "s", "ShardFilter", "Type",
	                              "AT_TIMESTAMP", "Timestamp", 1000)),
	        "000000000000,000000000001");
	/* An hour on: only what is open then. */
	cr_assert_str_eq(
	        list_shards(json_pack("{s:s,s:{s:s,s:f}}", "StreamName", "s", "ShardFilter", "Type",
	                              "AT_TIMESTAMP", "Timestamp", (double)(t + HOUR_MS) / 1000)),
	        "000000000001,000000000002,000000000003");
	cr_assert_str_eq(
	        list_shards(json_pack("{s:s,s:{s:s,s:f}}", "StreamName", "s", "ShardFilter", "Type",
	                              "FROM_TIMESTAMP", "Timestamp", (double)(t + HOUR_MS) / 1000)),
	        "000000000001,000000000002,000000000003");
	cr_assert_str_eq(
	        list_shards(json_pack("{s:s,s:{s:s,s:i}}", "StreamName", "s", "ShardFilter", "Type",
	                              "FROM_TIMESTAMP", "Timestamp", 1000)),
	        "000000000000,000000000001,000000000002,000000000003");
	/* A token keeps the filter. */
	cr_assert_str_eq(list_shards(json_pack("{s:s,s:i,s:{s:s}}", "StreamName", "s", "MaxResults",
	                                       1, "ShardFilter", "Type", "AT_LATEST")),
	                 "000000000001");
	snprintf(token, sizeof(token), "%s",
	         json_string_value(json_object_get(ans.body, "NextToken")));
	cr_assert_str_eq(list_shards(json_pack("{s:s}", "NextToken", token)),
	                 "000000000002,000000000003");
}

/* ==== SplitShard, MergeShards, UpdateShardCount ==== */

Test(api, split_shard_lineage)
{
	json_t *shards, *sh;

	create_active("s", 1);
	split("s", "shardId-000000000000", HALF_STR);
	cr_assert_eq(fb.syncs, 2);
	shards = json_deep_copy(json_object_get(describe("s"), "Shards"));
	cr_assert_eq(json_array_size(shards), 3);
	sh = json_array_get(shards, 0);
	cr_assert_str_eq(shard_field(sh, "SequenceNumberRange", "EndingSequenceNumber"),
	                 seq_str(0, 40), "the backend's last record of the parent");
	sh = json_array_get(shards, 1);
	cr_assert_str_eq(shard_field(sh, "ShardId", NULL), "shardId-000000000001");
	cr_assert_str_eq(shard_field(sh, "ParentShardId", NULL), "shardId-000000000000");
	cr_assert_null(json_object_get(sh, "AdjacentParentShardId"));
	cr_assert_str_eq(shard_field(sh, "HashKeyRange", "StartingHashKey"), "0");
	cr_assert_str_eq(shard_field(sh, "HashKeyRange", "EndingHashKey"),
	                 "170141183460469231731687303715884105727");
	sh = json_array_get(shards, 2);
	cr_assert_str_eq(shard_field(sh, "ParentShardId", NULL), "shardId-000000000000");
	cr_assert_str_eq(shard_field(sh, "HashKeyRange", "StartingHashKey"), HALF_STR);
	cr_assert_str_eq(shard_field(sh, "HashKeyRange", "EndingHashKey"), MAXK_STR);
	cr_assert_null(json_object_get(json_object_get(sh, "SequenceNumberRange"),
	                               "EndingSequenceNumber"));
	/* The same lineage in ListShards. */
	call("ListShards", json_pack("{s:s}", "StreamName", "s"));
	cr_assert(json_equal(json_object_get(ans.body, "Shards"), shards));
	json_decref(shards);
}

Test(api, an_empty_closed_shard_ends_at_zero)
{
	fb.empty = true;
	create_active("s", 1);
	split("s", "shardId-000000000000", HALF_STR);
	cr_assert_str_eq(shard_field(json_array_get(json_object_get(describe("s"), "Shards"), 0),
	                             "SequenceNumberRange", "EndingSequenceNumber"),
	                 seq_str(0, 0));
}

Test(api, split_shard_errors)
{
	create_active("s", 1);
	call("SplitShard", json_pack("{s:s}", "StreamName", "s"));
	expect_validation("2 validation errors detected: Value null at 'newStartingHashKey' failed "
	                  "to satisfy constraint: Member must not be null; Value null at "
	                  "'shardToSplit' failed to satisfy constraint: Member must not be null");
	call("SplitShard", json_pack("{s:s,s:s,s:s}", "StreamName", "s", "ShardToSplit",
	                             "shardId-000000000000", "NewStartingHashKey", "-1"));
	expect_validation("1 validation error detected: Value '-1' at 'newStartingHashKey' failed "
	                  "to satisfy constraint: Member must satisfy regular expression pattern: "
	                  "0|([1-9]\\d{0,38})");
	call("SplitShard", json_pack("{s:s,s:s,s:s}", "StreamName", "s", "ShardToSplit",
	                             "shardId-000000000000", "NewStartingHashKey", "1"));
	expect_err(
	        400, "InvalidArgumentException",
	        "NewStartingHashKey 1 used in SplitShard() on shard shardId-000000000000 in stream "
	        "s under account " ACC " is not both greater than one plus the shard's "
	        "StartingHashKey 0 and less than the shard's EndingHashKey " MAXK_STR ".");
	call("SplitShard",
	     json_pack("{s:s,s:s,s:s}", "StreamName", "s", "ShardToSplit", "shardId-000000000000",
	               "NewStartingHashKey", "999999999999999999999999999999999999999"));
	expect_err(
	        400, "InvalidArgumentException",
	        "NewStartingHashKey 999999999999999999999999999999999999999 used in SplitShard() "
	        "on shard shardId-000000000000 in stream s under account " ACC
	        " is not both greater than one plus the shard's StartingHashKey 0 and less than "
	        "the shard's EndingHashKey " MAXK_STR ".");
	call("SplitShard", json_pack("{s:s,s:s,s:s}", "StreamName", "s", "ShardToSplit",
	                             "shardId-000000000009", "NewStartingHashKey", "5"));
	expect_err(400, "ResourceNotFoundException",
	           "Could not find shard shardId-000000000009 in stream s under account " ACC ".");
	call("SplitShard", json_pack("{s:s,s:s,s:s}", "StreamName", "s", "ShardToSplit", "abc",
	                             "NewStartingHashKey", "5"));
	expect_err(400, "ResourceNotFoundException",
	           "Could not find shard abc in stream s under account " ACC ".");
	call("SplitShard", json_pack("{s:s,s:s,s:s}", "StreamName", "s", "ShardToSplit", "0",
	                             "NewStartingHashKey", "5"));
	expect_ok(); /* "0" is shard 0, as Kinesis resolves it */
	call("SplitShard", json_pack("{s:s,s:s,s:s}", "StreamName", "s", "ShardToSplit",
	                             "shardId-000000000001", "NewStartingHashKey", "3"));
	expect_err(400, "ResourceInUseException",
	           "Stream s under account " ACC " not ACTIVE, instead in state UPDATING");
	tick();
	call("SplitShard", json_pack("{s:s,s:s,s:s}", "StreamName", "s", "ShardToSplit",
	                             "shardId-000000000000", "NewStartingHashKey", "5"));
	expect_err(400, "InvalidArgumentException",
	           "Shard shardId-000000000000 in stream s under account " ACC
	           " has already been merged or split, and thus is not eligible for merging or "
	           "splitting.");
	call("SplitShard", json_pack("{s:s,s:s,s:s}", "StreamName", "nope", "ShardToSplit",
	                             "shardId-000000000000", "NewStartingHashKey", "5"));
	expect_err(400, "ResourceNotFoundException",
	           "Stream nope under account " ACC " not found.");
}

Test(api, split_shard_respects_the_shard_limit)
{
	create_active("s", 200);
	call("SplitShard", json_pack("{s:s,s:s,s:s}", "StreamName", "s", "ShardToSplit",
	                             "shardId-000000000000", "NewStartingHashKey", "5"));
	cr_assert_eq(ans.status, 400);
	cr_assert_str_eq(ans.type, "LimitExceededException");
	cr_assert(strstr(err_message(), "Limit: 200. Number of additional shards that would have "
	                                "resulted from this request: 1."),
	          "%s", err_message());
}

Test(api, merge_shards_lineage)
{
	json_t *sh;

	create_active("s", 2);
	call("MergeShards",
	     json_pack("{s:s,s:s,s:s}", "StreamName", "s", "ShardToMerge", "shardId-000000000001",
	               "AdjacentShardToMerge", "shardId-000000000000"));
	expect_ok();
	cr_assert_eq(ans.len, 0);
	cr_assert_str_eq(status_of("s"), "UPDATING");
	tick();
	cr_assert_str_eq(list_shards(json_pack("{s:s,s:{s:s}}", "StreamName", "s", "ShardFilter",
	                                       "Type", "AT_LATEST")),
	                 "000000000002");
	sh = json_array_get(json_object_get(ans.body, "Shards"), 0);
	cr_assert_str_eq(shard_field(sh, "ParentShardId", NULL), "shardId-000000000001");
	cr_assert_str_eq(shard_field(sh, "AdjacentParentShardId", NULL), "shardId-000000000000");
	cr_assert_str_eq(shard_field(sh, "HashKeyRange", "StartingHashKey"), "0");
	cr_assert_str_eq(shard_field(sh, "HashKeyRange", "EndingHashKey"), MAXK_STR);
	sh = json_array_get(json_object_get(describe("s"), "Shards"), 1);
	cr_assert_str_eq(shard_field(sh, "SequenceNumberRange", "EndingSequenceNumber"),
	                 seq_str(1, 41));
}

Test(api, merge_shards_errors)
{
	create_active("s", 3);
	call("MergeShards", json_pack("{s:s}", "StreamName", "s"));
	expect_validation("2 validation errors detected: Value null at 'shardToMerge' failed to "
	                  "satisfy constraint: Member must not be null; Value null at "
	                  "'adjacentShardToMerge' failed to satisfy constraint: Member must not be "
	                  "null");
	call("MergeShards",
	     json_pack("{s:s,s:s,s:s}", "StreamName", "s", "ShardToMerge", "shardId-000000000000",
	               "AdjacentShardToMerge", "shardId-000000000002"));
	expect_err(400, "InvalidArgumentException",
	           "Shards shardId-000000000000 and shardId-000000000002 in stream s under "
	           "account " ACC " are not an adjacent pair of shards eligible for merging");
	call("MergeShards",
	     json_pack("{s:s,s:s,s:s}", "StreamName", "s", "ShardToMerge", "shardId-000000000000",
	               "AdjacentShardToMerge", "shardId-000000000007"));
	expect_err(400, "ResourceNotFoundException",
	           "Could not find shard shardId-000000000007 in stream s under account " ACC ".");
}

Test(api, update_shard_count)
{
	create_active("s", 2);
	call("UpdateShardCount", json_pack("{s:s,s:i,s:s}", "StreamName", "s", "TargetShardCount",
	                                   4, "ScalingType", "UNIFORM_SCALING"));
	expect_ok();
	cr_assert(
	        jeq(ans.body, json_pack("{s:s,s:i,s:i,s:s}", "StreamName", "s", "CurrentShardCount",
	                                2, "TargetShardCount", 4, "StreamARN", ARN_OF "s")),
	        "%s", ans.raw);
	cr_assert_str_eq(status_of("s"), "UPDATING");
	tick();
	cr_assert_str_eq(status_of("s"), "ACTIVE");
	call("ListShards",
	     json_pack("{s:s,s:{s:s}}", "StreamName", "s", "ShardFilter", "Type", "AT_LATEST"));
	cr_assert_eq(json_array_size(json_object_get(ans.body, "Shards")), 4);
	cr_assert_str_eq(shard_field(json_array_get(json_object_get(ans.body, "Shards"), 0),
	                             "HashKeyRange", "StartingHashKey"),
	                 "0");
	/* Back to 1 by ARN: two halvings are not one call. */
	call("UpdateShardCount",
	     json_pack("{s:s,s:i,s:s}", "StreamARN", ARN_OF "s", "TargetShardCount", 1,
	               "ScalingType", "UNIFORM_SCALING"));
	expect_err(
	        400, "InvalidArgumentException",
	        "UpdateShardCount on stream s under account " ACC
	        ": target shard count 1 must be between half (2) and double (8) the current open "
	        "shard count 4.");
	call("UpdateShardCount",
	     json_pack("{s:s,s:i,s:s}", "StreamARN", ARN_OF "s", "TargetShardCount", 2,
	               "ScalingType", "UNIFORM_SCALING"));
	expect_ok();
	cr_assert_eq(json_integer_value(json_object_get(ans.body, "CurrentShardCount")), 4);
	tick();
	call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "s"));
	cr_assert_eq(
	        json_integer_value(json_object_get(
	                json_object_get(ans.body, "StreamDescriptionSummary"), "OpenShardCount")),
	        2);
}

Test(api, update_shard_count_validation)
{
	create_active("s", 2);
	call("UpdateShardCount", json_pack("{s:s}", "StreamName", "s"));
	expect_validation(
	        "2 validation errors detected: Value null at 'targetShardCount' failed to "
	        "satisfy constraint: Member must not be null; Value null at 'scalingType' "
	        "failed to satisfy constraint: Member must not be null");
	call("UpdateShardCount", json_pack("{s:s,s:i,s:s}", "StreamName", "s", "TargetShardCount",
	                                   0, "ScalingType", "UNIFORM_SCALING"));
	expect_validation("1 validation error detected: Value '0' at 'targetShardCount' failed to "
	                  "satisfy constraint: Member must have value greater than or equal to 1");
	call("UpdateShardCount", json_pack("{s:s,s:i,s:s}", "StreamName", "s", "TargetShardCount",
	                                   3, "ScalingType", "FAST"));
	expect_validation(
	        "1 validation error detected: Value 'FAST' at 'scalingType' failed to "
	        "satisfy constraint: Member must satisfy enum value set: [UNIFORM_SCALING]");
	/* Same count: nothing to do, the stream stays ACTIVE. */
	call("UpdateShardCount", json_pack("{s:s,s:i,s:s}", "StreamName", "s", "TargetShardCount",
	                                   2, "ScalingType", "UNIFORM_SCALING"));
	expect_ok();
	cr_assert_str_eq(status_of("s"), "ACTIVE");
}

Test(api, closed_shards_expire_with_retention)
{
	unsigned syncs;

	create_active("s", 1);
	split("s", "shardId-000000000000", HALF_STR);
	syncs = fb.syncs;
	sl_api_tick(api, now_ms() + 23 * HOUR_MS);
	cr_assert_str_eq(list_shards(json_pack("{s:s}", "StreamName", "s")),
	                 "000000000000,000000000001,000000000002");
	sl_api_tick(api, now_ms() + 25 * HOUR_MS);
	cr_assert_str_eq(list_shards(json_pack("{s:s}", "StreamName", "s")),
	                 "000000000001,000000000002");
	cr_assert_eq(fb.syncs, syncs + 1, "the backend drops the expired shard");
	/* The children's parent is gone; they still name it. */
	cr_assert_str_eq(shard_field(json_array_get(json_object_get(ans.body, "Shards"), 0),
	                             "ParentShardId", NULL),
	                 "shardId-000000000000");
}

/* ==== retention ==== */

Test(api, retention_limits)
{
	create_active("s", 1);
	call("IncreaseStreamRetentionPeriod", json_pack("{s:s}", "StreamName", "s"));
	expect_validation(
	        "1 validation error detected: Value null at 'retentionPeriodHours' failed "
	        "to satisfy constraint: Member must not be null");
	call("IncreaseStreamRetentionPeriod",
	     json_pack("{s:s,s:i}", "StreamName", "s", "RetentionPeriodHours", 0));
	expect_validation(
	        "1 validation error detected: Value '0' at 'retentionPeriodHours' failed "
	        "to satisfy constraint: Member must have value greater than or equal to 1");
	call("IncreaseStreamRetentionPeriod",
	     json_pack("{s:s,s:i}", "StreamName", "s", "RetentionPeriodHours", 23));
	expect_err(400, "InvalidArgumentException",
	           "Minimum allowed retention period is 24 hours. Requested retention period (23 "
	           "hours) is too short.");
	call("IncreaseStreamRetentionPeriod",
	     json_pack("{s:s,s:i}", "StreamName", "s", "RetentionPeriodHours", 8761));
	expect_err(400, "InvalidArgumentException",
	           "Maximum allowed retention period is 8760 hours. Requested retention period "
	           "(8761 hours) is too long.");
	call("IncreaseStreamRetentionPeriod",
	     json_pack("{s:s,s:i}", "StreamName", "s", "RetentionPeriodHours", 8760));
	expect_ok();
	cr_assert_eq(ans.len, 0);
	call("DecreaseStreamRetentionPeriod",
	     json_pack("{s:s,s:i}", "StreamName", "s", "RetentionPeriodHours", 8761));
	expect_err(400, "InvalidArgumentException",
	           "Maximum allowed retention period is 8760 hours. Requested retention period "
	           "(8761 hours) is too long.");
	call("DecreaseStreamRetentionPeriod",
	     json_pack("{s:s,s:i}", "StreamName", "s", "RetentionPeriodHours", 48));
	expect_ok();
	call("DecreaseStreamRetentionPeriod",
	     json_pack("{s:s,s:i}", "StreamName", "s", "RetentionPeriodHours", 23));
	expect_err(400, "InvalidArgumentException",
	           "Minimum allowed retention period is 24 hours. Requested retention period (23 "
	           "hours) is too short.");
	call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "s"));
	cr_assert_eq(json_integer_value(
	                     json_object_get(json_object_get(ans.body, "StreamDescriptionSummary"),
	                                     "RetentionPeriodHours")),
	             48);
}

Test(api, retention_direction)
{
	create_active("s", 1);
	call("IncreaseStreamRetentionPeriod",
	     json_pack("{s:s,s:i}", "StreamARN", ARN_OF "s", "RetentionPeriodHours", 100));
	expect_ok();
	call("IncreaseStreamRetentionPeriod",
	     json_pack("{s:s,s:i}", "StreamName", "s", "RetentionPeriodHours", 50));
	expect_err(400, "InvalidArgumentException",
	           "Requested retention period (50 hours) for stream s can not be shorter than "
	           "existing retention period (100 hours). Use DecreaseRetentionPeriod API.");
	call("DecreaseStreamRetentionPeriod",
	     json_pack("{s:s,s:i}", "StreamName", "s", "RetentionPeriodHours", 200));
	expect_err(400, "InvalidArgumentException",
	           "Requested retention period (200 hours) for stream s can not be longer than "
	           "existing retention period (100 hours). Use IncreaseRetentionPeriod API.");
	call("DecreaseStreamRetentionPeriod",
	     json_pack("{s:s,s:i}", "StreamName", "nope", "RetentionPeriodHours", 24));
	expect_err(400, "ResourceNotFoundException",
	           "Stream nope under account " ACC " not found.");
}

Test(api, the_tick_applies_retention_to_every_shard_log_once_a_second)
{
	int64_t t = now_ms();

	create_active("a", 2);
	create_active("b", 3);
	fb.logs = 0;
	sl_api_tick(api, t + 10000);
	cr_assert_eq(fb.logs, 5);
	sl_api_tick(api, t + 10500);
	cr_assert_eq(fb.logs, 5, "not again within the second");
	sl_api_tick(api, t + 11000);
	cr_assert_eq(fb.logs, 10);
}

/* ==== DescribeLimits ==== */

Test(api, describe_limits)
{
	create_active("a", 3);
	create_active("b", 2);
	call("DescribeLimits", NULL);
	expect_ok();
	cr_assert(
	        jeq(ans.body, json_pack("{s:i,s:i,s:i,s:i}", "ShardLimit", 200, "OpenShardCount", 5,
	                                "OnDemandStreamCount", 0, "OnDemandStreamCountLimit", 50)),
	        "%s", ans.raw);
}

Test(api, on_demand_streams_are_limited)
{
	ccfg.shard_limit = 500;
	restart();
	for (int i = 0; i < 50; i++) {
		char name[16];

		snprintf(name, sizeof(name), "od%d", i);
		call("CreateStream", json_pack("{s:s,s:{s:s}}", "StreamName", name,
		                               "StreamModeDetails", "StreamMode", "ON_DEMAND"));
		expect_ok();
	}
	call("CreateStream", json_pack("{s:s,s:{s:s}}", "StreamName", "more", "StreamModeDetails",
	                               "StreamMode", "ON_DEMAND"));
	expect_err(
	        400, "LimitExceededException",
	        "This request would exceed the limit of 50 streams in ON_DEMAND capacity mode for "
	        "the account " ACC " in us-east-1.");
}

/* ==== the data operations are dispatched ==== */

Test(api, data_operations_reach_api_data)
{
	create_active("s", 1);
	call("PutRecord", NULL);
	cr_assert_str_eq(ans.type, "ValidationException");
	cr_assert(strncmp(err_message(), "3 validation errors detected", 28) == 0, "%s",
	          err_message());
	call("PutRecords", json_pack("{s:s,s:[]}", "StreamName", "s", "Records"));
	cr_assert_str_eq(ans.type, "ValidationException");
	call("GetShardIterator", json_pack("{s:s,s:s,s:s}", "StreamName", "s", "ShardId",
	                                   "shardId-000000000009", "ShardIteratorType", "LATEST"));
	expect_err(400, "ResourceNotFoundException",
	           "Shard shardId-000000000009 in stream s under account " ACC " does not exist");
	call("GetRecords", json_pack("{s:s}", "ShardIterator", "x"));
	cr_assert_str_eq(ans.type, "InvalidArgumentException");
	/* The backend throttles every put here. */
	call("PutRecord", json_pack("{s:s,s:s,s:s}", "StreamName", "s", "PartitionKey", "k", "Data",
	                            "aGVsbG8="));
	cr_assert_str_eq(ans.type, "ProvisionedThroughputExceededException");
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kinesis JSON 1.1 API: the framework every operation goes through
 * (method, content type, body, target, SigV4, type checks, Coral
 * validation messages, answers with a request id) and the stream
 * management operations over the catalog. The data operations live in
 * api_data.c and use the helpers here (api_internal.h).
 *
 * Checks run in the order Kinesis (and kinesalite, whose tests ran against
 * Kinesis) runs them, research/kinesis-api.md 1.3: method -> content type
 * -> empty body -> JSON -> X-Amz-Target -> SigV4 -> member types
 * (SerializationException) -> constraints (one ValidationException listing
 * up to ten failures) -> the operation. Only application/x-amz-json-1.1 is
 * served; application/json gets Coral's quirky 200 answers and everything
 * else, CBOR included (not implemented yet), 404 <UnknownOperationException/>.
 *
 * Stream changes follow catalog -> backend: the catalog change is persisted,
 * then the backend's sync_stream() brings the data side in line and the
 * last sequence numbers of shards it closed are recorded, and a later
 * sl_api_tick() (once state_delay_ms passed) moves the stream to ACTIVE, or, for a
 * deleted one, drops its data and forgets it. A sync that failed is retried
 * by the tick before the stream may go ACTIVE, so the catalog never shows
 * ACTIVE for a layout the data side does not have.
 *
 * Pagination tokens (ListStreams, ListShards NextToken) are ours: standard
 * base64 of
 *
 *      0   1    2     3    4          8            16           24
 *     +---+----+-----+----+----------+------------+------------+
 *     |ver|kind|filt |nlen|last shard| issued (ms)| created(ms)|
 *     +---+----+-----+----+----------+------------+------------+
 *     24           32          32+nlen
 *     +------------+-----------+--------+
 *     | filter (ms)| name      |  MAC   |
 *     +------------+-----------+--------+
 *
 * little-endian; ver 1; kind 1 ListStreams (name = last stream listed),
 * 2 ListShards (name = the stream, created = its creation time, last shard
 * = the last shard listed, filt/filter = the ShardFilter in force); MAC =
 * the first 16 bytes of HMAC-SHA256 under a key derived from the iterator
 * key. Tokens are valid for iterator_ttl_ms (300 s, as Kinesis).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "api_internal.h"
#include "clock.h"
#include "err.h"
#include "hashkey.h"
#include "sigv4.h"

#define CT_JSON           "application/x-amz-json-1.1"
#define CT_PLAIN_JSON     "application/json"
#define TARGET_SERVICE    "Kinesis_20131202"
#define NAME_PATTERN      "[a-zA-Z0-9_.-]+"
#define ARN_PATTERN       "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+"
#define HASH_KEY_PATTERN  "0|([1-9]\\d{0,38})"
#define ARN_MAX           2048
#define VERR_MAX          10    /* Coral lists at most ten failures */
#define PAGE_MAX          100   /* DescribeStream, ListStreams: at most 100 returned */
#define LIST_SHARDS_MAX   1000  /* ListShards: default and most returned */
#define LIMIT_MAX         10000 /* Limit / MaxResults accepted */
#define TAGS_PER_CALL_MAX 200   /* AddTagsToStream / CreateStream map size */
#define TAG_KEYS_MAX      50    /* RemoveTagsFromStream list size */
#define LIST_TAGS_MAX     50
#define ON_DEMAND_LIMIT   50 /* on-demand streams per account (Kinesis default) */
#define RETAIN_EVERY_MS   1000
#define MS_PER_HOUR       3600000ll
#define NO_SHARD          SL_CATALOG_NO_SHARD
#define ACCESS_DENIED_XML                                                                          \
	"<AccessDeniedException>\n"                                                                \
	"  <Message>Unable to determine service/operation name to be authorized</Message>\n"       \
	"</AccessDeniedException>\n"

/* A stream whose status is waiting for a tick. */
struct pending {
	uint32_t id;    /* catalog stream id (never reused) */
	int64_t due_ms; /* earliest ACTIVE / purge */
	bool need_sync; /* the backend has not taken the layout yet */
};

/* api.c's state around the shared struct. */
struct api_full {
	struct sl_api api;
	uint8_t token_key[32];
	struct pending *pend;
	uint32_t npend, cap;
	int64_t next_retain_ms;
};

static struct api_full *full(struct sl_api *api)
{
	return (struct api_full *)((char *)api - offsetof(struct api_full, api));
}

static int64_t wall_ms(void)
{
	return sl_wall_ns() / 1000000;
}

/* ---- answers ---- */

static void call_free(struct sl_api_call *c)
{
	json_decref(c->in);
	free(c);
}

static void answer(struct sl_api_call *c, int status, const char *type, const char *ctype,
                   const char *body, size_t len)
{
	struct sl_api_answer a = {
	        .status = status,
	        .request_id = c->request_id,
	        .error_type = type,
	        .content_type = ctype,
	        .body = body ? body : "",
	        .len = body ? len : 0,
	};

	if (status >= 500)
		c->api->st.errors_5xx++;
	else if (status >= 400)
		c->api->st.errors_4xx++;
	c->respond(c->req, &a);
	call_free(c);
}

static void answer_json(struct sl_api_call *c, int status, const char *type, const char *ctype,
                        json_t *out)
{
	char *body = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(16));

	json_decref(out);
	if (!body) {
		static const char fail[] = "{\"__type\":\"InternalFailure\"}";

		answer(c, 500, "InternalFailure", CT_JSON, fail, sizeof(fail) - 1);
		return;
	}
	answer(c, status, type, ctype, body, strlen(body));
	free(body);
}

void sl_api_send_ok(struct sl_api_call *c, json_t *out)
{
	if (!out) {
		answer(c, 200, NULL, CT_JSON, "", 0);
		return;
	}
	answer_json(c, 200, NULL, CT_JSON, out);
}

void sl_api_send_ok_raw(struct sl_api_call *c, const char *body, size_t len)
{
	answer(c, 200, NULL, CT_JSON, body, len);
}

void sl_api_send_error(struct sl_api_call *c, int status, const char *type, const char *fmt, ...)
{
	json_t *out = json_object();
	char *msg = NULL;

	if (fmt) {
		va_list ap;

		va_start(ap, fmt);
		if (vasprintf(&msg, fmt, ap) < 0)
			msg = NULL;
		va_end(ap);
	}
	if (out) {
		json_object_set_new(out, "__type", json_string(type));
		/* Kinesis's type-check failures say "Message", everything else
		 * "message" (research 1.3); botocore reads either. */
		if (msg)
			json_object_set_new(out,
			                    strcmp(type, "SerializationException") == 0 ? "Message"
			                                                                : "message",
			                    json_stringn_nocheck(msg, strlen(msg)));
	}
	free(msg);
	answer_json(c, status, type, CT_JSON, out);
}

void sl_api_send_catalog_error(struct sl_api_call *c, int rc)
{
	enum sl_catalog_err kind = sl_catalog_err_kind(rc);

	if (kind == SL_CATALOG_ERR_NONE || kind == SL_CATALOG_ERR_INTERNAL_FAILURE) {
		sl_api_send_error(c, 500, "InternalFailure", "%s", sl_errmsg());
		return;
	}
	sl_api_send_error(c, 400, sl_catalog_err_name(kind), "%s", sl_errmsg());
}

static void send_internal(struct sl_api_call *c)
{
	sl_api_send_error(c, 500, "InternalFailure", "Internal Service Failure");
}

/* ---- request members: type checks ---- */

static bool type_error(struct sl_api_call *c, const char *msg)
{
	sl_api_send_error(c, 400, "SerializationException", "%s", msg);
	return false;
}

/* What Coral says when a JSON value is not of the type expected; java is
 * the Java type name ("String", "Integer", ...). */
static bool scalar_type_error(struct sl_api_call *c, json_t *v, const char *java)
{
	char msg[160];

	if (json_is_array(v))
		return type_error(c, "Start of list found where not expected");
	if (json_is_object(v))
		return type_error(c, "Start of structure or map found where not expected.");
	if (json_is_boolean(v))
		snprintf(msg, sizeof(msg), "class java.lang.Boolean can not be converted to %s",
		         java);
	else if (json_is_number(v))
		snprintf(msg, sizeof(msg),
		         "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be "
		         "converted to %s",
		         java);
	else
		snprintf(msg, sizeof(msg), "class java.lang.String can not be converted to %s",
		         java);
	return type_error(c, msg);
}

static bool string_of(struct sl_api_call *c, json_t *v, const char **ret)
{
	if (!v || json_is_null(v)) {
		*ret = NULL;
		return true;
	}
	if (!json_is_string(v))
		return scalar_type_error(c, v, "an String");
	*ret = json_string_value(v);
	return true;
}

/* Integer members: the fraction dropped, clamped to Java's int as Coral's
 * TruncatingBigNumber does. */
static bool int_of(struct sl_api_call *c, json_t *v, bool *present, int64_t *ret)
{
	double d;

	*present = false;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_number(v))
		return scalar_type_error(c, v, "an Integer");
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		*ret = i > INT32_MAX ? INT32_MAX : i < INT32_MIN ? INT32_MIN : (int64_t)i;
	} else {
		d = json_real_value(v);
		*ret = d >= (double)INT32_MAX   ? INT32_MAX
		       : d <= (double)INT32_MIN ? INT32_MIN
		                                : (int64_t)(d < 0 && d != (int64_t)d ? d - 1 : d);
	}
	*present = true;
	return true;
}

static bool timestamp_of(struct sl_api_call *c, json_t *v, bool *present, int64_t *ret_ms)
{
	double d;

	*present = false;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_number(v))
		return scalar_type_error(c, v, "milliseconds since epoch");
	d = json_number_value(v) * 1000.0;
	*ret_ms = d >= 9.2e18 ? INT64_MAX / 2 : d <= -9.2e18 ? INT64_MIN / 2 : (int64_t)d;
	*present = true;
	return true;
}

static bool bool_of(struct sl_api_call *c, json_t *v, bool *present, bool *ret)
{
	*present = false;
	if (!v || json_is_null(v))
		return true;
	if (json_is_boolean(v)) {
		*ret = json_is_true(v);
	} else if (json_is_string(v) && (strcasecmp(json_string_value(v), "true") == 0 ||
	                                 strcasecmp(json_string_value(v), "false") == 0)) {
		*ret = strcasecmp(json_string_value(v), "true") == 0;
	} else if (json_is_string(v)) {
		char *msg = NULL, *up = strdup(json_string_value(v));

		for (char *p = up; p && *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		if (up && asprintf(&msg, "'%s' can not be converted to an Boolean", up) < 0)
			msg = NULL;
		free(up);
		type_error(c, msg ? msg : "can not be converted to an Boolean");
		free(msg);
		return false;
	} else {
		return scalar_type_error(c, v, "an Boolean");
	}
	*present = true;
	return true;
}

bool sl_api_member_string(struct sl_api_call *c, const char *name, const char **ret)
{
	return string_of(c, json_object_get(c->in, name), ret);
}

bool sl_api_member_int(struct sl_api_call *c, const char *name, bool *present, int64_t *ret)
{
	return int_of(c, json_object_get(c->in, name), present, ret);
}

bool sl_api_member_timestamp(struct sl_api_call *c, const char *name, bool *present,
                             int64_t *ret_ms)
{
	return timestamp_of(c, json_object_get(c->in, name), present, ret_ms);
}

bool sl_api_member_array(struct sl_api_call *c, const char *name, json_t **ret)
{
	json_t *v = json_object_get(c->in, name);

	*ret = NULL;
	if (!v || json_is_null(v))
		return true;
	if (json_is_array(v)) {
		*ret = v;
		return true;
	}
	return type_error(c, json_is_object(v)
	                             ? "Start of structure or map found where not expected."
	                             : "Expected list or null");
}

/* A structure member (StreamModeDetails, ShardFilter). */
bool sl_api_member_object(struct sl_api_call *c, const char *name, json_t **ret)
{
	json_t *v = json_object_get(c->in, name);

	*ret = NULL;
	if (!v || json_is_null(v))
		return true;
	if (json_is_object(v)) {
		*ret = v;
		return true;
	}
	return type_error(c, json_is_array(v) ? "Start of list found where not expected"
	                                      : "Expected null");
}

/* A map of strings (Tags): its values type-checked too. */
static bool member_string_map(struct sl_api_call *c, const char *name, json_t **ret)
{
	json_t *v = json_object_get(c->in, name), *val;
	const char *k;

	*ret = NULL;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_object(v))
		return type_error(c, json_is_array(v) ? "Start of list found where not expected"
		                                      : "Expected map or null");
	for (void *it = json_object_iter(v);
	     it && (k = json_object_iter_key(it)) && (val = json_object_iter_value(it));
	     it = json_object_iter_next(v, it)) {
		const char *s;

		if (!string_of(c, val, &s))
			return false;
	}
	*ret = v;
	return true;
}

/* A list of strings (TagKeys). */
static bool member_string_list(struct sl_api_call *c, const char *name, json_t **ret)
{
	json_t *val;
	size_t i;

	if (!sl_api_member_array(c, name, ret))
		return false;
	for (i = 0; i < json_array_size(*ret) && (val = json_array_get(*ret, i)); i++) {
		const char *s;

		if (!string_of(c, val, &s))
			return false;
	}
	return true;
}

static int b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/*
 * Standard base64 with padding, canonical (unused bits zero), as Coral
 * accepts a Blob; why is Kinesis's complaint when it is not. Returns the
 * decoded length or -1.
 */
/* Decodes with the checks (and messages) Kinesis's Coral makes. */
static long b64_decode_checked(const char *s, size_t n, uint8_t *out, char *why, size_t cap)
{
	size_t pad = 0, o = 0;

	if (n % 4) {
		snprintf(why, cap,
		         "Base64 encoded length is expected a multiple of 4 bytes but found: %zu",
		         n);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=') {
			if ((i + 1 < n && s[i + 1] != '=') || n - i > 2) {
				snprintf(why, cap, "Invalid Base64 character: '='");
				return -1;
			}
			pad++;
		} else if (b64_value(s[i]) < 0) {
			snprintf(why, cap, "Invalid Base64 character: '%c'", s[i]);
			return -1;
		}
	}
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		int last = i + 4 == n ? (int)pad : 0;

		for (int k = 0; k < 4; k++)
			v = v << 6 | (uint32_t)(k < 4 - last ? b64_value(s[i + k]) : 0);
		if ((last == 1 && (v & 0xff)) || (last == 2 && (v & 0xffff))) {
			snprintf(why, cap, "Invalid last non-pad Base64 character dectected");
			return -1;
		}
		out[o++] = (uint8_t)(v >> 16);
		if (last < 2)
			out[o++] = (uint8_t)(v >> 8);
		if (last < 1)
			out[o++] = (uint8_t)v;
	}
	return (long)o;
}

/*
 * Base64 blobs through OpenSSL's decoder (measured: the byte-at-a-time
 * checked decoder above was a quarter of the API thread at 100-byte
 * records); anything it would take that Coral refuses (a '=' inside, a
 * non-canonical last quartet, white space at the ends) goes to the checked
 * decoder for its message.
 */
static long b64_decode(const char *s, size_t n, uint8_t *out, char *why, size_t cap)
{
	size_t pad;
	int got;

	if (n == 0 || n % 4 || n > INT_MAX || (unsigned char)s[0] <= ' ' ||
	    memchr(s, '=', n - 2) != NULL)
		return b64_decode_checked(s, n, out, why, cap);
	got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	pad = (size_t)(s[n - 1] == '=') + (size_t)(s[n - 2] == '=');
	if (got != (int)(n / 4 * 3) || (pad == 1 && out[got - 1] != 0) ||
	    (pad == 2 && out[got - 2] != 0))
		return b64_decode_checked(s, n, out, why, cap);
	return (long)((size_t)got - pad);
}

bool sl_api_member_blob(struct sl_api_call *c, json_t *obj, const char *name, const char *path,
                        uint8_t **ret, size_t *ret_len, bool *present)
{
	json_t *v = json_object_get(obj, name);
	const char *s;
	uint8_t *buf;
	char why[96];
	size_t n;
	long got;

	(void)path; /* Coral's type messages do not name the member */
	*ret = NULL;
	*ret_len = 0;
	*present = false;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_string(v))
		return scalar_type_error(c, v, "a Blob");
	s = json_string_value(v);
	n = json_string_length(v);
	buf = malloc(n / 4 * 3 + 1);
	if (!buf) {
		send_internal(c);
		return false;
	}
	got = b64_decode(s, n, buf, why, sizeof(why));
	if (got < 0) {
		free(buf);
		sl_api_send_error(c, 400, "SerializationException",
		                  "'%s' can not be converted to a Blob: %s", s, why);
		return false;
	}
	if (got == 0) {
		free(buf);
		buf = NULL;
	}
	*ret = buf;
	*ret_len = (size_t)got;
	*present = true;
	return true;
}

/* ---- constraint failures ---- */

void sl_api_verr_add(struct sl_api_verr *v, const char *value, const char *field,
                     const char *constraint)
{
	int k;

	if (v->n >= VERR_MAX)
		return;
	if (v->len >= sizeof(v->msg) - 1) {
		v->n++;
		return;
	}
	if (value)
		k = snprintf(v->msg + v->len, sizeof(v->msg) - v->len,
		             "%sValue '%s' at '%s' failed to satisfy constraint: %s",
		             v->n ? "; " : "", value, field, constraint);
	else
		k = snprintf(v->msg + v->len, sizeof(v->msg) - v->len,
		             "%sValue null at '%s' failed to satisfy constraint: %s",
		             v->n ? "; " : "", field, constraint);
	v->len += k < 0 ? 0 : (size_t)k;
	if (v->len >= sizeof(v->msg))
		v->len = sizeof(v->msg) - 1;
	v->n++;
}

bool sl_api_verr_send(struct sl_api_call *c, struct sl_api_verr *v)
{
	if (v->n == 0)
		return false;
	sl_api_send_error(c, 400, "ValidationException", "%u validation error%s detected: %s", v->n,
	                  v->n > 1 ? "s" : "", v->msg);
	return true;
}

/* Length as Java counts it (UTF-16 code units) of a UTF-8 string. */
static size_t java_length(const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += (*p & 0xc0) == 0x80 ? 0 : *p >= 0xf0 ? 2 : 1;
	return n;
}

static bool name_chars(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
			return false;
	return true;
}

static void verr_min_len(struct sl_api_verr *v, const char *s, const char *field, size_t min)
{
	char rule[80];

	if (java_length(s) >= min)
		return;
	snprintf(rule, sizeof(rule), "Member must have length greater than or equal to %zu", min);
	sl_api_verr_add(v, s, field, rule);
}

static void verr_max_len(struct sl_api_verr *v, const char *s, const char *field, size_t max)
{
	char rule[80];

	if (java_length(s) <= max)
		return;
	snprintf(rule, sizeof(rule), "Member must have length less than or equal to %zu", max);
	sl_api_verr_add(v, s, field, rule);
}

static void verr_not_null(struct sl_api_verr *v, const void *p, const char *field)
{
	if (!p)
		sl_api_verr_add(v, NULL, field, "Member must not be null");
}

/* [a-zA-Z0-9_.-]+, 1..128: stream names and shard ids. */
static void verr_name(struct sl_api_verr *v, const char *field, const char *s, bool required)
{
	if (!s) {
		if (required)
			verr_not_null(v, s, field);
		return;
	}
	if (!name_chars(s))
		sl_api_verr_add(v, s, field,
		                "Member must satisfy regular expression pattern: " NAME_PATTERN);
	verr_min_len(v, s, field, 1);
	verr_max_len(v, s, field, SL_CATALOG_NAME_MAX);
}

void sl_api_verr_stream_name(struct sl_api_verr *v, const char *name, bool required)
{
	verr_name(v, "streamName", name, required);
}

void sl_api_verr_shard_id(struct sl_api_verr *v, const char *field, const char *id, bool required)
{
	verr_name(v, field, id, required);
}

/* arn:aws.*:kinesis:.*:\d{12}:stream/\S+ as Java matches it (whole
 * string; '.' is anything but a line terminator). */
static bool arn_matches(const char *s)
{
	size_t n = strlen(s);

	if (strncmp(s, "arn:aws", 7) != 0 || strpbrk(s, "\n\r"))
		return false;
	for (const char *k = strstr(s + 7, ":kinesis:"); k; k = strstr(k + 1, ":kinesis:")) {
		for (const char *p = k + 8; p + 1 + 12 + 8 < s + n; p++) {
			const char *q = p + 1, *rest;
			bool ok = *p == ':';

			for (int i = 0; ok && i < 12; i++)
				ok = q[i] >= '0' && q[i] <= '9';
			if (!ok || strncmp(q + 12, ":stream/", 8) != 0)
				continue;
			rest = q + 20;
			if (!*rest)
				continue;
			for (ok = true; *rest && ok; rest++)
				ok = !strchr(" \t\n\v\f\r", *rest);
			if (ok)
				return true;
		}
	}
	return false;
}

void sl_api_verr_stream_arn(struct sl_api_verr *v, const char *arn)
{
	if (!arn)
		return;
	verr_min_len(v, arn, "streamARN", 1);
	verr_max_len(v, arn, "streamARN", ARN_MAX);
	if (!arn_matches(arn))
		sl_api_verr_add(v, arn, "streamARN",
		                "Member must satisfy regular expression pattern: " ARN_PATTERN);
}

static void verr_range(struct sl_api_verr *v, bool present, int64_t x, const char *field,
                       int64_t min, int64_t max)
{
	char val[24], rule[80];

	if (!present)
		return;
	snprintf(val, sizeof(val), "%" PRId64, x);
	if (x < min) {
		snprintf(rule, sizeof(rule),
		         "Member must have value greater than or equal to %" PRId64, min);
		sl_api_verr_add(v, val, field, rule);
	} else if (x > max) {
		snprintf(rule, sizeof(rule),
		         "Member must have value less than or equal to %" PRId64, max);
		sl_api_verr_add(v, val, field, rule);
	}
}

static void verr_enum(struct sl_api_verr *v, const char *s, const char *field,
                      const char *const *names, size_t n, int *ret)
{
	char rule[256];
	size_t len;

	*ret = -1;
	if (!s)
		return;
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0) {
			*ret = (int)i;
			return;
		}
	len = (size_t)snprintf(rule, sizeof(rule), "Member must satisfy enum value set: [");
	for (size_t i = 0; i < n && len < sizeof(rule); i++)
		len += (size_t)snprintf(rule + len, sizeof(rule) - len, "%s%s", i ? ", " : "",
		                        names[i]);
	if (len < sizeof(rule))
		snprintf(rule + len, sizeof(rule) - len, "]");
	sl_api_verr_add(v, s, field, rule);
}

/* A map as Coral prints it: {k=v, k2=v2}. */
static char *map_text(json_t *m)
{
	size_t cap = 3, len = 0;
	const char *k;
	json_t *val;
	char *s;

	for (void *it = json_object_iter(m);
	     it && (k = json_object_iter_key(it)) && (val = json_object_iter_value(it));
	     it = json_object_iter_next(m, it)) {
		cap += strlen(k) + 3 + (json_is_string(val) ? json_string_length(val) : 4);
	}
	s = malloc(cap);
	if (!s)
		return NULL;
	s[len++] = '{';
	for (void *it = json_object_iter(m);
	     it && (k = json_object_iter_key(it)) && (val = json_object_iter_value(it));
	     it = json_object_iter_next(m, it)) {
		len += (size_t)snprintf(s + len, cap - len, "%s%s=%s", len > 1 ? ", " : "", k,
		                        json_is_string(val) ? json_string_value(val) : "null");
	}
	snprintf(s + len, cap - len, "}");
	return s;
}

/* A list of strings as Coral prints it: [a, b]. */
static char *list_text(json_t *l)
{
	size_t cap = 3, len = 0, i;
	json_t *val;
	char *s;

	for (i = 0; i < json_array_size(l) && (val = json_array_get(l, i)); i++) {
		cap += 2 + (json_is_string(val) ? json_string_length(val) : 4);
	}
	s = malloc(cap);
	if (!s)
		return NULL;
	s[len++] = '[';
	for (i = 0; i < json_array_size(l) && (val = json_array_get(l, i)); i++) {
		len += (size_t)snprintf(s + len, cap - len, "%s%s", i ? ", " : "",
		                        json_is_string(val) ? json_string_value(val) : "null");
	}
	snprintf(s + len, cap - len, "]");
	return s;
}

/* Tags (CreateStream, AddTagsToStream): 1..200 entries, keys 1..128,
 * values 0..256 characters. */
static void verr_tags(struct sl_api_verr *v, json_t *tags, bool required)
{
	bool keys_ok = true, values_ok = true;
	size_t n = tags ? json_object_size(tags) : 0;
	const char *k;
	json_t *val;
	char *text;

	if (!tags) {
		if (required)
			verr_not_null(v, tags, "tags");
		return;
	}
	for (void *it = json_object_iter(tags);
	     it && (k = json_object_iter_key(it)) && (val = json_object_iter_value(it));
	     it = json_object_iter_next(tags, it)) {
		size_t kl = java_length(k);

		keys_ok = keys_ok && kl >= 1 && kl <= SL_CATALOG_TAG_KEY_MAX;
		values_ok = values_ok &&
		            (!json_is_string(val) ||
		             java_length(json_string_value(val)) <= SL_CATALOG_TAG_VALUE_MAX);
	}
	if (n >= 1 && n <= TAGS_PER_CALL_MAX && keys_ok && values_ok)
		return;
	text = map_text(tags);
	if (n < 1)
		sl_api_verr_add(v, text ? text : "{}", "tags",
		                "Member must have length greater than or equal to 1");
	if (n > TAGS_PER_CALL_MAX)
		sl_api_verr_add(v, text ? text : "{...}", "tags",
		                "Member must have length less than or equal to 200");
	if (!keys_ok)
		sl_api_verr_add(
		        v, text ? text : "{...}", "tags",
		        "Map keys must satisfy constraint: [Member must have length less than "
		        "or equal to 128, Member must have length greater than or equal to 1]");
	if (!values_ok)
		sl_api_verr_add(
		        v, text ? text : "{...}", "tags",
		        "Map value must satisfy constraint: [Member must have length less "
		        "than or equal to 256, Member must have length greater than or equal "
		        "to 0]");
	free(text);
}

/* Tags as catalog records; *ret NULL when there are none. */
static int tags_collect(json_t *tags, struct sl_cat_tag **ret, uint32_t *ret_n)
{
	size_t n = tags ? json_object_size(tags) : 0, i = 0;
	struct sl_cat_tag *t;
	const char *k;
	json_t *val;

	*ret = NULL;
	*ret_n = 0;
	if (n == 0)
		return 0;
	t = calloc(n, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (void *it = json_object_iter(tags);
	     it && (k = json_object_iter_key(it)) && (val = json_object_iter_value(it));
	     it = json_object_iter_next(tags, it)) {
		const char *s = json_is_string(val) ? json_string_value(val) : "";

		/* Lengths were validated in characters; bytes fit the buffers. */
		snprintf(t[i].key, sizeof(t[i].key), "%s", k);
		snprintf(t[i].value, sizeof(t[i].value), "%s", s);
		i++;
	}
	*ret = t;
	*ret_n = (uint32_t)n;
	return 0;
}

/* ---- streams ---- */

static const char *arn_name(const char *arn)
{
	const char *p = strstr(arn, ":stream/");

	return p ? p + 8 : arn;
}

const struct sl_cat_stream *sl_api_stream(struct sl_api_call *c, const char *name, const char *arn)
{
	struct sl_api *api = c->api;
	const struct sl_cat_stream *s;

	if (!name && !arn) {
		sl_api_send_error(
		        c, 400, "ValidationException",
		        "1 validation error detected: Value null at 'streamName' failed to "
		        "satisfy constraint: Member must not be null");
		return NULL;
	}
	if (name && arn && strcmp(arn_name(arn), name) != 0) {
		sl_api_send_error(c, 400, "InvalidArgumentException",
		                  "StreamARN %s and StreamName %s name different streams.", arn,
		                  name);
		return NULL;
	}
	/* By the ARN when there is one: an ARN of another account or region
	 * names a stream that is not here. */
	s = arn ? sl_catalog_stream_by_arn(api->cat, arn) : sl_catalog_stream(api->cat, name);
	if (!s) {
		sl_api_send_error(c, 400, "ResourceNotFoundException",
		                  "Stream %s under account %s not found.",
		                  name ? name : arn_name(arn), api->account);
		return NULL;
	}
	return s;
}

/* ---- pagination tokens ---- */

#define TOK_VERSION 1
#define TOK_HDR     32
#define TOK_MAC     16
#define TOK_MAX     (TOK_HDR + SL_CATALOG_NAME_MAX + TOK_MAC)
#define TOK_B64_MAX ((TOK_MAX + 2) / 3 * 4 + 1)

enum { TOK_LIST_STREAMS = 1, TOK_LIST_SHARDS = 2 };

struct next_token {
	uint8_t kind;
	uint8_t filter;      /* ListShards: the ShardFilter type + 1, 0 none */
	uint32_t last_shard; /* ListShards: exclusive start */
	int64_t issued_ms;
	int64_t created_ms; /* ListShards: the stream's creation */
	int64_t filter_ms;  /* ListShards: the filter's timestamp */
	char name[SL_CATALOG_NAME_MAX + 1];
};

static void le_put(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le_get(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void token_mac(const uint8_t key[32], const uint8_t *msg, size_t len, uint8_t mac[TOK_MAC])
{
	uint8_t full_mac[EVP_MAX_MD_SIZE];
	unsigned flen = 0;

	HMAC(EVP_sha256(), key, 32, msg, len, full_mac, &flen);
	memcpy(mac, full_mac, TOK_MAC);
}

static int token_encode(struct sl_api *api, const struct next_token *t, char buf[TOK_B64_MAX])
{
	uint8_t raw[TOK_MAX];
	size_t nlen = strlen(t->name);

	if (nlen == 0 || nlen > SL_CATALOG_NAME_MAX)
		return -EINVAL;
	raw[0] = TOK_VERSION;
	raw[1] = t->kind;
	raw[2] = t->filter;
	raw[3] = (uint8_t)nlen;
	le_put(raw + 4, t->last_shard, 4);
	le_put(raw + 8, (uint64_t)t->issued_ms, 8);
	le_put(raw + 16, (uint64_t)t->created_ms, 8);
	le_put(raw + 24, (uint64_t)t->filter_ms, 8);
	memcpy(raw + TOK_HDR, t->name, nlen);
	token_mac(full(api)->token_key, raw, TOK_HDR + nlen, raw + TOK_HDR + nlen);
	return EVP_EncodeBlock((unsigned char *)buf, raw, (int)(TOK_HDR + nlen + TOK_MAC));
}

/* 0, or -EINVAL for anything that is not a token of this kind made here. */
static int token_decode(struct sl_api *api, const char *s, uint8_t kind, struct next_token *ret)
{
	uint8_t raw[TOK_MAX + 3], mac[TOK_MAC];
	char why[96];
	size_t slen = strlen(s), nlen;
	long len;

	if (slen > TOK_B64_MAX)
		return -EINVAL;
	len = b64_decode(s, slen, raw, why, sizeof(why));
	if (len < TOK_HDR + 1 + TOK_MAC || raw[0] != TOK_VERSION || raw[1] != kind)
		return -EINVAL;
	nlen = raw[3];
	if (nlen == 0 || nlen > SL_CATALOG_NAME_MAX || (size_t)len != TOK_HDR + nlen + TOK_MAC)
		return -EINVAL;
	token_mac(full(api)->token_key, raw, TOK_HDR + nlen, mac);
	if (CRYPTO_memcmp(mac, raw + TOK_HDR + nlen, TOK_MAC) != 0)
		return -EINVAL;
	*ret = (struct next_token){
	        .kind = raw[1],
	        .filter = raw[2],
	        .last_shard = (uint32_t)le_get(raw + 4, 4),
	        .issued_ms = (int64_t)le_get(raw + 8, 8),
	        .created_ms = (int64_t)le_get(raw + 16, 8),
	        .filter_ms = (int64_t)le_get(raw + 24, 8),
	};
	memcpy(ret->name, raw + TOK_HDR, nlen);
	ret->name[nlen] = 0;
	return 0;
}

/* Answers a bad or expired token and returns false. */
static bool token_check(struct sl_api_call *c, const char *s, uint8_t kind, struct next_token *ret)
{
	if (token_decode(c->api, s, kind, ret) < 0) {
		sl_api_send_error(c, 400, "InvalidArgumentException", "Invalid NextToken.");
		return false;
	}
	if (c->now_ms - ret->issued_ms > (int64_t)c->api->c.iterator_ttl_ms) {
		sl_api_send_error(c, 400, "ExpiredNextTokenException",
		                  "The NextToken has expired: it was issued %" PRId64
		                  " ms ago and is valid for %u ms.",
		                  c->now_ms - ret->issued_ms, c->api->c.iterator_ttl_ms);
		return false;
	}
	return true;
}

/* ---- the backend and the pending state changes ---- */

static struct pending *pending_find(struct api_full *a, uint32_t id)
{
	for (uint32_t i = 0; i < a->npend; i++)
		if (a->pend[i].id == id)
			return &a->pend[i];
	return NULL;
}

static struct pending *pending_get(struct api_full *a, uint32_t id, int64_t due_ms)
{
	struct pending *p = pending_find(a, id);

	if (p)
		return p;
	if (a->npend == a->cap) {
		uint32_t cap = a->cap ? 2 * a->cap : 16;
		struct pending *np = realloc(a->pend, cap * sizeof(*np));

		if (!np)
			return NULL;
		a->pend = np;
		a->cap = cap;
	}
	p = &a->pend[a->npend++];
	*p = (struct pending){.id = id, .due_ms = due_ms, .need_sync = true};
	return p;
}

static void pending_del(struct api_full *a, uint32_t id)
{
	struct pending *p = pending_find(a, id);

	if (p)
		*p = a->pend[--a->npend];
}

static int64_t due_after(const struct sl_api *api, int64_t now_ms)
{
	return api->c.state_delay_ms ? now_ms + api->c.state_delay_ms : INT64_MIN;
}

/*
 * Brings the backend in line with the catalog's stream name and records
 * the last sequence numbers of the shards it closed. 0 or -errno.
 */
static int sync_stream(struct sl_api *api, const char *name)
{
	const struct sl_cat_stream *s = sl_catalog_stream(api->cat, name);
	struct sl_api_shard_end *ends;
	uint32_t nends = 0;
	int rc;

	if (!s)
		return -ENOENT;
	if (!api->be.sync_stream)
		return 0;
	ends = calloc(s->nshards + 1, sizeof(*ends));
	if (!ends)
		return -ENOMEM;
	rc = api->be.sync_stream(api->be.arg, s, ends, &nends);
	for (uint32_t i = 0; i < nends && rc == 0; i++) {
		const struct sl_cat_shard *sh;
		uint64_t end = ends[i].empty ? 0 : ends[i].end_seq; /* 0: never held a record */

		s = sl_catalog_stream(api->cat, name);
		sh = s ? sl_catalog_shard(s, ends[i].shard_id) : NULL;
		if (sh && sh->closed && !(sh->end_seq_known && sh->end_seq == end))
			rc = sl_catalog_set_end_seq(api->cat, name, ends[i].shard_id, end);
	}
	free(ends);
	return rc;
}

/* After a catalog change that left name CREATING or UPDATING: the backend
 * takes the layout now, the tick makes the stream ACTIVE. Without an entry
 * (no memory) the tick finds the stream by its status and syncs again. */
static void stream_changed(struct sl_api_call *c, const char *name)
{
	struct sl_api *api = c->api;
	const struct sl_cat_stream *s = sl_catalog_stream(api->cat, name);
	struct pending *p = s ? pending_get(full(api), s->id, 0) : NULL;
	int rc = sync_stream(api, name);

	if (p) {
		p->due_ms = due_after(api, c->now_ms);
		p->need_sync = rc < 0;
	}
}

static void stream_deleted(struct sl_api_call *c, const struct sl_cat_stream *s)
{
	struct pending *p = pending_get(full(c->api), s->id, due_after(c->api, c->now_ms));

	if (p)
		p->due_ms = due_after(c->api, c->now_ms);
}

/* ---- operations: shared pieces ---- */

static json_t *epoch_json(int64_t ms)
{
	if (ms % 1000 == 0)
		return json_integer(ms / 1000);
	return json_real((double)ms / 1000.0);
}

static json_t *arn_json(struct sl_api *api, const struct sl_cat_stream *s)
{
	char arn[256];

	if (sl_catalog_stream_arn(api->cat, s, arn, sizeof(arn)) < 0)
		return json_string("");
	return json_string(arn);
}

static json_t *mode_json(const struct sl_cat_stream *s)
{
	return json_pack("{s:s}", "StreamMode", sl_catalog_mode_name(s->mode));
}

static json_t *seq_json(uint32_t shard_id, uint64_t seq)
{
	char buf[SL_API_SEQ_DIGITS + 1];

	sl_api_seq_format(shard_id, seq, buf);
	return json_string(buf);
}

static json_t *hash_key_json(sl_u128 v)
{
	char buf[40];

	sl_u128_format(v, buf);
	return json_string(buf);
}

static json_t *shard_json(const struct sl_cat_shard *sh)
{
	char id[SL_CATALOG_SHARD_ID_BUF];
	json_t *o = json_object(), *seqs = json_object();

	if (!o || !seqs) {
		json_decref(o);
		json_decref(seqs);
		return NULL;
	}
	sl_catalog_shard_id_format(sh->id, id);
	json_object_set_new(o, "ShardId", json_string(id));
	if (sh->parent != NO_SHARD) {
		sl_catalog_shard_id_format(sh->parent, id);
		json_object_set_new(o, "ParentShardId", json_string(id));
	}
	if (sh->adjacent_parent != NO_SHARD) {
		sl_catalog_shard_id_format(sh->adjacent_parent, id);
		json_object_set_new(o, "AdjacentParentShardId", json_string(id));
	}
	json_object_set_new(o, "HashKeyRange",
	                    json_pack("{s:o,s:o}", "StartingHashKey", hash_key_json(sh->start),
	                              "EndingHashKey", hash_key_json(sh->end)));
	json_object_set_new(seqs, "StartingSequenceNumber", seq_json(sh->id, sh->start_seq));
	/* A closed shard always shows an end, so clients see it closed; until
	 * the backend reported the last record, the largest number. */
	if (sh->closed)
		json_object_set_new(seqs, "EndingSequenceNumber",
		                    seq_json(sh->id, sh->end_seq_known ? sh->end_seq : UINT64_MAX));
	json_object_set_new(o, "SequenceNumberRange", seqs);
	return o;
}

/* StreamName and StreamARN members, type-checked. */
static bool stream_members(struct sl_api_call *c, const char **name, const char **arn)
{
	return sl_api_member_string(c, "StreamName", name) &&
	       sl_api_member_string(c, "StreamARN", arn);
}

static void verr_stream(struct sl_api_verr *v, const char *name, const char *arn)
{
	sl_api_verr_stream_name(v, name, arn == NULL);
	sl_api_verr_stream_arn(v, arn);
}

/*
 * A shard id as Kinesis resolves it in requests: "shardId-000000000001",
 * "shardId-1" and "1" are the same shard (digits after the last '-', or the
 * whole string). -EINVAL when there are no such digits.
 */
static int resolve_shard_id(const char *s, uint32_t *ret)
{
	const char *p = strrchr(s, '-');
	uint64_t v = 0;

	p = p ? p + 1 : s;
	if (!*p)
		return -EINVAL;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
		if (v >= NO_SHARD)
			return -EINVAL;
	}
	*ret = (uint32_t)v;
	return 0;
}

/*
 * An exclusive start shard: what is listed comes after it. A shard id as
 * Kinesis resolves it ("shardId-000000000001", "shardId-1", "1") compares
 * as a number; anything else as a string against the ids as Kinesis spells
 * them (zero-padded, so string order is id order there).
 */
struct shard_start {
	const char *text; /* NULL: no start */
	bool numeric;
	uint32_t id;
};

static struct shard_start shard_start_of(const char *text)
{
	struct shard_start st = {.text = text};

	st.numeric = text && resolve_shard_id(text, &st.id) == 0;
	return st;
}

static bool shard_after(const struct shard_start *st, uint32_t id)
{
	char buf[SL_CATALOG_SHARD_ID_BUF];

	if (!st->text)
		return true;
	if (st->numeric)
		return id > st->id;
	sl_catalog_shard_id_format(id, buf);
	return strcmp(buf, st->text) > 0;
}

/* ---- CreateStream ---- */

static const char *const mode_names[] = {"PROVISIONED", "ON_DEMAND"};

static void op_create_stream(struct sl_api_call *c)
{
	struct sl_api *api = c->api;
	const char *name, *mode_str = NULL;
	bool count_present, warm_present, max_present;
	int64_t count = 0, warm = 0, max_kib = 0;
	json_t *details, *tags;
	struct sl_api_verr v = {0};
	struct sl_cat_tag *t = NULL;
	uint32_t nt = 0;
	int mode = 0, rc;

	if (!sl_api_member_string(c, "StreamName", &name) ||
	    !sl_api_member_int(c, "ShardCount", &count_present, &count) ||
	    !sl_api_member_object(c, "StreamModeDetails", &details) ||
	    (details && !string_of(c, json_object_get(details, "StreamMode"), &mode_str)) ||
	    !member_string_map(c, "Tags", &tags) ||
	    !sl_api_member_int(c, "WarmThroughputMiBps", &warm_present, &warm) ||
	    !sl_api_member_int(c, "MaxRecordSizeInKiB", &max_present, &max_kib))
		return;
	sl_api_verr_stream_name(&v, name, true);
	verr_range(&v, count_present, count, "shardCount", 1, INT32_MAX);
	if (details) {
		verr_not_null(&v, mode_str, "streamModeDetails.streamMode");
		verr_enum(&v, mode_str, "streamModeDetails.streamMode", mode_names,
		          SL_ARRAY_SIZE(mode_names), &mode);
	}
	/* A provisioned stream needs its shard count (kinesalite's AWS-checked
	 * rule; what Kinesis does with neither member is open, research 2.9). */
	if ((!details || mode == SL_CATALOG_PROVISIONED) && !count_present)
		verr_not_null(&v, NULL, "shardCount");
	verr_tags(&v, tags, false);
	verr_range(&v, warm_present, warm, "warmThroughputMiBps", 0, INT32_MAX);
	verr_range(&v, max_present, max_kib, "maxRecordSizeInKiB", 1024, 10240);
	if (sl_api_verr_send(c, &v))
		return;
	if (mode == SL_CATALOG_ON_DEMAND && !count_present &&
	    sl_catalog_on_demand_streams(api->cat) >= ON_DEMAND_LIMIT) {
		sl_api_send_error(c, 400, "LimitExceededException",
		                  "This request would exceed the limit of %d streams in ON_DEMAND "
		                  "capacity mode for the account %s in %s.",
		                  ON_DEMAND_LIMIT, api->account, api->region);
		return;
	}
	if (tags_collect(tags, &t, &nt) < 0) {
		send_internal(c);
		return;
	}
	rc = sl_catalog_create_stream(api->cat,
	                              &(struct sl_catalog_create){
	                                      .name = name,
	                                      .mode = (enum sl_catalog_mode)mode,
	                                      .shard_count = count_present ? (uint32_t)count : 0,
	                                      .tags = t,
	                                      .ntags = nt,
	                              });
	free(t);
	if (rc < 0) {
		sl_api_send_catalog_error(c, rc);
		return;
	}
	stream_changed(c, name);
	sl_api_send_ok(c, NULL);
}

/* ---- DeleteStream ---- */

static void op_delete_stream(struct sl_api_call *c)
{
	const char *name, *arn;
	const struct sl_cat_stream *s;
	struct sl_api_verr v = {0};
	bool enforce_present, enforce;
	char sname[SL_CATALOG_NAME_MAX + 1];
	int rc;

	if (!stream_members(c, &name, &arn) ||
	    !bool_of(c, json_object_get(c->in, "EnforceConsumerDeletion"), &enforce_present,
	             &enforce))
		return;
	verr_stream(&v, name, arn);
	if (sl_api_verr_send(c, &v))
		return;
	s = sl_api_stream(c, name, arn);
	if (!s)
		return;
	/* No consumers exist yet, so EnforceConsumerDeletion changes nothing. */
	snprintf(sname, sizeof(sname), "%s", s->name);
	rc = sl_catalog_delete_stream(c->api->cat, sname);
	if (rc < 0) {
		sl_api_send_catalog_error(c, rc);
		return;
	}
	s = sl_catalog_stream(c->api->cat, sname);
	if (s)
		stream_deleted(c, s);
	sl_api_send_ok(c, NULL);
}

/* ---- DescribeStream, DescribeStreamSummary ---- */

static json_t *enhanced_monitoring_json(void)
{
	return json_pack("[{s:[]}]", "ShardLevelMetrics");
}

static void op_describe_stream(struct sl_api_call *c)
{
	struct sl_api *api = c->api;
	const char *name, *arn, *start;
	const struct sl_cat_stream *s;
	struct sl_api_verr v = {0};
	json_t *shards, *d;
	bool limit_present, more = false;
	int64_t limit = PAGE_MAX;
	struct shard_start st;

	if (!stream_members(c, &name, &arn) ||
	    !sl_api_member_int(c, "Limit", &limit_present, &limit) ||
	    !sl_api_member_string(c, "ExclusiveStartShardId", &start))
		return;
	verr_range(&v, limit_present, limit, "limit", 1, LIMIT_MAX);
	sl_api_verr_shard_id(&v, "exclusiveStartShardId", start, false);
	verr_stream(&v, name, arn);
	if (sl_api_verr_send(c, &v))
		return;
	s = sl_api_stream(c, name, arn);
	if (!s)
		return;
	if (!limit_present || limit > PAGE_MAX)
		limit = PAGE_MAX;
	shards = json_array();
	st = shard_start_of(start);
	/* A CREATING stream shows no shards yet, as Kinesis. */
	for (uint32_t i = 0; shards && s->status != SL_CATALOG_CREATING && i < s->nshards; i++) {
		if (!shard_after(&st, s->shards[i].id))
			continue;
		if ((int64_t)json_array_size(shards) == limit) {
			more = true;
			break;
		}
		json_array_append_new(shards, shard_json(&s->shards[i]));
	}
	d = json_pack("{s:s,s:o,s:s,s:o,s:o,s:b,s:i,s:o,s:o,s:s}", "StreamName", s->name,
	              "StreamARN", arn_json(api, s), "StreamStatus",
	              sl_catalog_status_name(s->status), "StreamModeDetails", mode_json(s),
	              "Shards", shards, "HasMoreShards", more, "RetentionPeriodHours",
	              (int)s->retention_hours, "StreamCreationTimestamp", epoch_json(s->created_ms),
	              "EnhancedMonitoring", enhanced_monitoring_json(), "EncryptionType", "NONE");
	if (!d) {
		send_internal(c);
		return;
	}
	sl_api_send_ok(c, json_pack("{s:o}", "StreamDescription", d));
}

static void op_describe_stream_summary(struct sl_api_call *c)
{
	struct sl_api *api = c->api;
	const char *name, *arn;
	const struct sl_cat_stream *s;
	struct sl_api_verr v = {0};
	json_t *d;

	if (!stream_members(c, &name, &arn))
		return;
	verr_stream(&v, name, arn);
	if (sl_api_verr_send(c, &v))
		return;
	s = sl_api_stream(c, name, arn);
	if (!s)
		return;
	d = json_pack("{s:s,s:o,s:s,s:o,s:i,s:o,s:o,s:s,s:i,s:i,s:i}", "StreamName", s->name,
	              "StreamARN", arn_json(api, s), "StreamStatus",
	              sl_catalog_status_name(s->status), "StreamModeDetails", mode_json(s),
	              "RetentionPeriodHours", (int)s->retention_hours, "StreamCreationTimestamp",
	              epoch_json(s->created_ms), "EnhancedMonitoring", enhanced_monitoring_json(),
	              "EncryptionType", "NONE", "OpenShardCount",
	              s->status == SL_CATALOG_CREATING ? 0 : (int)s->open_shards, "ConsumerCount",
	              0, "MaxRecordSizeInKiB", (int)(api->c.max_record_bytes / 1024));
	if (!d) {
		send_internal(c);
		return;
	}
	sl_api_send_ok(c, json_pack("{s:o}", "StreamDescriptionSummary", d));
}

/* ---- ListStreams ---- */

static void op_list_streams(struct sl_api_call *c)
{
	struct sl_api *api = c->api;
	const char *start, *token;
	struct sl_api_verr v = {0};
	struct next_token t;
	json_t *names, *sums, *out;
	bool limit_present;
	int64_t limit = PAGE_MAX;
	uint32_t n = sl_catalog_nstreams(api->cat), i = 0, taken = 0;

	if (!sl_api_member_int(c, "Limit", &limit_present, &limit) ||
	    !sl_api_member_string(c, "ExclusiveStartStreamName", &start) ||
	    !sl_api_member_string(c, "NextToken", &token))
		return;
	verr_range(&v, limit_present, limit, "limit", 1, LIMIT_MAX);
	verr_name(&v, "exclusiveStartStreamName", start, false);
	if (token)
		verr_min_len(&v, token, "nextToken", 1);
	if (sl_api_verr_send(c, &v))
		return;
	if (token && *token) {
		/* The token carries where the last page ended; it wins over
		 * ExclusiveStartStreamName. */
		if (!token_check(c, token, TOK_LIST_STREAMS, &t))
			return;
		start = t.name;
	}
	if (!limit_present || limit > PAGE_MAX)
		limit = PAGE_MAX;
	while (start && i < n && strcmp(sl_catalog_stream_at(api->cat, i)->name, start) <= 0)
		i++;
	names = json_array();
	sums = json_array();
	out = json_object();
	if (!names || !sums || !out)
		goto fail;
	for (; i < n && taken < limit; i++, taken++) {
		const struct sl_cat_stream *s = sl_catalog_stream_at(api->cat, i);

		json_array_append_new(names, json_string(s->name));
		json_array_append_new(
		        sums, json_pack("{s:s,s:o,s:s,s:o,s:o}", "StreamName", s->name, "StreamARN",
		                        arn_json(api, s), "StreamStatus",
		                        sl_catalog_status_name(s->status), "StreamModeDetails",
		                        mode_json(s), "StreamCreationTimestamp",
		                        epoch_json(s->created_ms)));
	}
	json_object_set_new(out, "StreamNames", names);
	json_object_set_new(out, "HasMoreStreams", json_boolean(i < n));
	if (i < n && taken > 0) {
		char buf[TOK_B64_MAX];

		t = (struct next_token){.kind = TOK_LIST_STREAMS, .issued_ms = c->now_ms};
		snprintf(t.name, sizeof(t.name), "%s", sl_catalog_stream_at(api->cat, i - 1)->name);
		if (token_encode(api, &t, buf) > 0)
			json_object_set_new(out, "NextToken", json_string(buf));
	}
	json_object_set_new(out, "StreamSummaries", sums);
	sl_api_send_ok(c, out);
	return;
fail:
	json_decref(names);
	json_decref(sums);
	json_decref(out);
	send_internal(c);
}

/* ---- ListShards ---- */

static const char *const filter_names[] = {
        "AFTER_SHARD_ID", "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON",
        "AT_LATEST",      "AT_TIMESTAMP",    "FROM_TIMESTAMP",
};
enum {
	F_AFTER_SHARD_ID,
	F_AT_TRIM_HORIZON,
	F_FROM_TRIM_HORIZON,
	F_AT_LATEST,
	F_AT_TIMESTAMP,
	F_FROM_TIMESTAMP
};

/* When a shard started taking records: its parent's close, or the
 * stream's creation. A parent that expired closed before the trim horizon,
 * so INT64_MIN puts the child there too. */
static int64_t shard_start_ms(const struct sl_cat_stream *s, const struct sl_cat_shard *sh)
{
	const struct sl_cat_shard *p;

	if (sh->parent == NO_SHARD)
		return s->created_ms;
	p = sl_catalog_shard(s, sh->parent);
	return p ? p->closed_ms : INT64_MIN;
}

/* Whether a shard passes a ShardFilter (type f, timestamp ts_ms) now. */
static bool shard_filter_match(const struct sl_cat_stream *s, const struct sl_cat_shard *sh, int f,
                               int64_t ts_ms, int64_t now_ms)
{
	/* The trim horizon, never before the stream existed. */
	int64_t horizon = now_ms - (int64_t)s->retention_hours * MS_PER_HOUR;

	if (horizon < s->created_ms)
		horizon = s->created_ms;
	if ((f == F_AT_TIMESTAMP || f == F_FROM_TIMESTAMP) && ts_ms < horizon)
		ts_ms = horizon;
	switch (f) {
	case F_AT_LATEST:
		return !sh->closed;
	case F_AT_TRIM_HORIZON:
		return shard_start_ms(s, sh) <= horizon &&
		       (!sh->closed || sh->closed_ms >= horizon);
	case F_AT_TIMESTAMP:
		return shard_start_ms(s, sh) <= ts_ms && (!sh->closed || sh->closed_ms >= ts_ms);
	case F_FROM_TIMESTAMP:
		return !sh->closed || sh->closed_ms >= ts_ms;
	default: /* none, AFTER_SHARD_ID (by start), FROM_TRIM_HORIZON: all kept */
		return true;
	}
}

static void op_list_shards(struct sl_api_call *c)
{
	struct sl_api *api = c->api;
	const char *name, *arn, *token, *start, *f_type = NULL, *f_shard = NULL;
	const struct sl_cat_stream *s;
	struct sl_api_verr v = {0};
	struct next_token t = {0};
	json_t *filter, *shards = NULL, *out = NULL;
	bool max_present, created_present, f_ts_present = false;
	int64_t max = LIST_SHARDS_MAX, created = 0, f_ts = 0;
	uint32_t after = NO_SHARD, last = NO_SHARD;
	struct shard_start st1, st2;
	int f = -1;

	if (!stream_members(c, &name, &arn) || !sl_api_member_string(c, "NextToken", &token) ||
	    !sl_api_member_string(c, "ExclusiveStartShardId", &start) ||
	    !sl_api_member_int(c, "MaxResults", &max_present, &max) ||
	    !sl_api_member_timestamp(c, "StreamCreationTimestamp", &created_present, &created) ||
	    !sl_api_member_object(c, "ShardFilter", &filter) ||
	    (filter &&
	     (!string_of(c, json_object_get(filter, "Type"), &f_type) ||
	      !string_of(c, json_object_get(filter, "ShardId"), &f_shard) ||
	      !timestamp_of(c, json_object_get(filter, "Timestamp"), &f_ts_present, &f_ts))))
		return;
	sl_api_verr_stream_name(&v, name, false);
	sl_api_verr_stream_arn(&v, arn);
	if (token)
		verr_min_len(&v, token, "nextToken", 1);
	sl_api_verr_shard_id(&v, "exclusiveStartShardId", start, false);
	verr_range(&v, max_present, max, "maxResults", 1, LIMIT_MAX);
	if (filter) {
		verr_not_null(&v, f_type, "shardFilter.type");
		verr_enum(&v, f_type, "shardFilter.type", filter_names, SL_ARRAY_SIZE(filter_names),
		          &f);
		sl_api_verr_shard_id(&v, "shardFilter.shardId", f_shard, false);
	}
	if (sl_api_verr_send(c, &v))
		return;

	if (token && (name || arn)) {
		sl_api_send_error(c, 400, "InvalidArgumentException",
		                  "NextToken and StreamName cannot be provided together.");
		return;
	}
	if (!token && !name && !arn) {
		sl_api_send_error(c, 400, "InvalidArgumentException",
		                  "Either NextToken or StreamName should be provided.");
		return;
	}
	if (token && (start || created_present || filter)) {
		sl_api_send_error(c, 400, "InvalidArgumentException",
		                  "NextToken cannot be provided together with %s.",
		                  start    ? "ExclusiveStartShardId"
		                  : filter ? "ShardFilter"
		                           : "StreamCreationTimestamp");
		return;
	}
	if (filter) {
		bool needs_shard = f == F_AFTER_SHARD_ID;
		bool needs_ts = f == F_AT_TIMESTAMP || f == F_FROM_TIMESTAMP;

		if (needs_shard != (f_shard != NULL) || needs_ts != f_ts_present) {
			sl_api_send_error(c, 400, "InvalidArgumentException",
			                  "A ShardFilter of type %s %s.", f_type,
			                  needs_shard ? "needs a ShardId and no Timestamp"
			                  : needs_ts  ? "needs a Timestamp and no ShardId"
			                              : "takes neither a ShardId nor a Timestamp");
			return;
		}
	}
	if (token) {
		if (!token_check(c, token, TOK_LIST_SHARDS, &t))
			return;
		s = sl_catalog_stream(api->cat, t.name);
		if (!s || s->created_ms != t.created_ms) {
			sl_api_send_error(c, 400, "ResourceNotFoundException",
			                  "Stream %s under account %s not found.", t.name,
			                  api->account);
			return;
		}
		f = (int)t.filter - 1;
		f_ts = t.filter_ms;
		after = t.last_shard;
	} else {
		s = sl_api_stream(c, name, arn);
		if (!s)
			return;
		/* Names a stream by its incarnation: another creation time is
		 * another stream, long gone. */
		if (created_present && created / 1000 != s->created_ms / 1000) {
			sl_api_send_error(c, 400, "ResourceNotFoundException",
			                  "Stream %s under account %s not found.", s->name,
			                  api->account);
			return;
		}
	}
	if (!max_present || max > LIST_SHARDS_MAX)
		max = LIST_SHARDS_MAX;

	/* The exclusive starts: the token's, or ExclusiveStartShardId and an
	 * AFTER_SHARD_ID filter's ShardId (both apply). */
	st1 = shard_start_of(start);
	st2 = shard_start_of(f == F_AFTER_SHARD_ID ? f_shard : NULL);
	if (after != NO_SHARD)
		st1 = (struct shard_start){.text = "", .numeric = true, .id = after};

	shards = json_array();
	out = json_object();
	if (!shards || !out)
		goto fail;
	for (uint32_t i = 0; s->status != SL_CATALOG_CREATING && i < s->nshards; i++) {
		const struct sl_cat_shard *sh = &s->shards[i];

		if (!shard_after(&st1, sh->id) || !shard_after(&st2, sh->id) ||
		    !shard_filter_match(s, sh, f, f_ts, c->now_ms))
			continue;
		if ((int64_t)json_array_size(shards) == max) {
			char buf[TOK_B64_MAX];

			t = (struct next_token){.kind = TOK_LIST_SHARDS,
			                        .filter = (uint8_t)(f + 1),
			                        .last_shard = last,
			                        .issued_ms = c->now_ms,
			                        .created_ms = s->created_ms,
			                        .filter_ms = f_ts};
			snprintf(t.name, sizeof(t.name), "%s", s->name);
			if (token_encode(api, &t, buf) > 0)
				json_object_set_new(out, "NextToken", json_string(buf));
			break;
		}
		json_array_append_new(shards, shard_json(sh));
		last = sh->id;
	}
	json_object_set_new(out, "Shards", shards);
	sl_api_send_ok(c, out);
	return;
fail:
	json_decref(shards);
	json_decref(out);
	send_internal(c);
}

/* ---- SplitShard, MergeShards, UpdateShardCount ---- */

static bool hash_key_pattern(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 39 || (s[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Answers "Could not find shard" when id does not resolve. */
static bool reshard_shard_id(struct sl_api_call *c, const struct sl_cat_stream *s, const char *id,
                             uint32_t *ret)
{
	if (resolve_shard_id(id, ret) == 0)
		return true;
	sl_api_send_error(c, 400, "ResourceNotFoundException",
	                  "Could not find shard %s in stream %s under account %s.", id, s->name,
	                  c->api->account);
	return false;
}

static void op_split_shard(struct sl_api_call *c)
{
	const char *name, *arn, *shard, *key;
	const struct sl_cat_stream *s;
	struct sl_api_verr v = {0};
	char sname[SL_CATALOG_NAME_MAX + 1];
	uint32_t id;
	sl_u128 k;
	int rc;

	if (!stream_members(c, &name, &arn) || !sl_api_member_string(c, "ShardToSplit", &shard) ||
	    !sl_api_member_string(c, "NewStartingHashKey", &key))
		return;
	verr_not_null(&v, key, "newStartingHashKey");
	if (key && !hash_key_pattern(key))
		sl_api_verr_add(
		        &v, key, "newStartingHashKey",
		        "Member must satisfy regular expression pattern: " HASH_KEY_PATTERN);
	verr_stream(&v, name, arn);
	sl_api_verr_shard_id(&v, "shardToSplit", shard, true);
	if (sl_api_verr_send(c, &v))
		return;
	s = sl_api_stream(c, name, arn);
	if (!s || !reshard_shard_id(c, s, shard, &id))
		return;
	snprintf(sname, sizeof(sname), "%s", s->name);
	if (sl_catalog_hash_key_parse(key, &k) < 0) {
		/* 39 digits above 2^128-1: no shard ends there. */
		const struct sl_cat_shard *sh = sl_catalog_shard(s, id);
		char sid[SL_CATALOG_SHARD_ID_BUF], st[40], en[40];

		if (!sh || sh->closed || s->status != SL_CATALOG_ACTIVE ||
		    s->mode != SL_CATALOG_PROVISIONED) {
			k = 0; /* let the catalog say what else is wrong */
		} else {
			sl_catalog_shard_id_format(id, sid);
			sl_u128_format(sh->start, st);
			sl_u128_format(sh->end, en);
			sl_api_send_error(
			        c, 400, "InvalidArgumentException",
			        "NewStartingHashKey %s used in SplitShard() on shard %s in "
			        "stream %s under account %s is not both greater than one "
			        "plus the shard's StartingHashKey %s and less than the "
			        "shard's EndingHashKey %s.",
			        key, sid, sname, c->api->account, st, en);
			return;
		}
	}
	rc = sl_catalog_split_shard(c->api->cat, sname, id, k);
	if (rc < 0) {
		sl_api_send_catalog_error(c, rc);
		return;
	}
	stream_changed(c, sname);
	sl_api_send_ok(c, NULL);
}

static void op_merge_shards(struct sl_api_call *c)
{
	const char *name, *arn, *a_str, *b_str;
	const struct sl_cat_stream *s;
	struct sl_api_verr v = {0};
	char sname[SL_CATALOG_NAME_MAX + 1];
	uint32_t a, b;
	int rc;

	if (!stream_members(c, &name, &arn) || !sl_api_member_string(c, "ShardToMerge", &a_str) ||
	    !sl_api_member_string(c, "AdjacentShardToMerge", &b_str))
		return;
	sl_api_verr_shard_id(&v, "shardToMerge", a_str, true);
	sl_api_verr_shard_id(&v, "adjacentShardToMerge", b_str, true);
	verr_stream(&v, name, arn);
	if (sl_api_verr_send(c, &v))
		return;
	s = sl_api_stream(c, name, arn);
	if (!s || !reshard_shard_id(c, s, a_str, &a) || !reshard_shard_id(c, s, b_str, &b))
		return;
	snprintf(sname, sizeof(sname), "%s", s->name);
	rc = sl_catalog_merge_shards(c->api->cat, sname, a, b);
	if (rc < 0) {
		sl_api_send_catalog_error(c, rc);
		return;
	}
	stream_changed(c, sname);
	sl_api_send_ok(c, NULL);
}

static const char *const scaling_names[] = {"UNIFORM_SCALING"};

static void op_update_shard_count(struct sl_api_call *c)
{
	struct sl_api *api = c->api;
	const char *name, *arn, *scaling;
	const struct sl_cat_stream *s;
	struct sl_api_verr v = {0};
	char sname[SL_CATALOG_NAME_MAX + 1];
	bool target_present;
	int64_t target = 0;
	uint32_t current;
	json_t *out;
	int scaling_ix, rc;

	if (!stream_members(c, &name, &arn) ||
	    !sl_api_member_int(c, "TargetShardCount", &target_present, &target) ||
	    !sl_api_member_string(c, "ScalingType", &scaling))
		return;
	verr_not_null(&v, target_present ? &target : NULL, "targetShardCount");
	verr_range(&v, target_present, target, "targetShardCount", 1, INT32_MAX);
	verr_not_null(&v, scaling, "scalingType");
	verr_enum(&v, scaling, "scalingType", scaling_names, SL_ARRAY_SIZE(scaling_names),
	          &scaling_ix);
	verr_stream(&v, name, arn);
	if (sl_api_verr_send(c, &v))
		return;
	s = sl_api_stream(c, name, arn);
	if (!s)
		return;
	snprintf(sname, sizeof(sname), "%s", s->name);
	current = s->open_shards;
	rc = sl_catalog_update_shard_count(api->cat, sname, (uint32_t)target);
	if (rc < 0) {
		sl_api_send_catalog_error(c, rc);
		return;
	}
	s = sl_catalog_stream(api->cat, sname);
	if (s && s->status == SL_CATALOG_UPDATING)
		stream_changed(c, sname);
	s = sl_catalog_stream(api->cat, sname);
	out = s ? json_pack("{s:s,s:i,s:i,s:o}", "StreamName", sname, "CurrentShardCount",
	                    (int)current, "TargetShardCount", (int)target, "StreamARN",
	                    arn_json(api, s))
	        : NULL;
	if (!out) {
		send_internal(c);
		return;
	}
	sl_api_send_ok(c, out);
}

/* ---- Increase/DecreaseStreamRetentionPeriod ---- */

static void retention(struct sl_api_call *c, bool increase)
{
	const char *name, *arn;
	const struct sl_cat_stream *s;
	struct sl_api_verr v = {0};
	char sname[SL_CATALOG_NAME_MAX + 1];
	bool present;
	int64_t hours = 0;
	int rc;

	if (!stream_members(c, &name, &arn) ||
	    !sl_api_member_int(c, "RetentionPeriodHours", &present, &hours))
		return;
	verr_not_null(&v, present ? &hours : NULL, "retentionPeriodHours");
	/* 1 as Coral's rule (kinesalite, AWS-checked); 24..8760 are the
	 * catalog's InvalidArgumentException texts. */
	verr_range(&v, present, hours, "retentionPeriodHours", 1, INT32_MAX);
	verr_stream(&v, name, arn);
	if (sl_api_verr_send(c, &v))
		return;
	s = sl_api_stream(c, name, arn);
	if (!s)
		return;
	snprintf(sname, sizeof(sname), "%s", s->name);
	rc = increase ? sl_catalog_increase_retention(c->api->cat, sname, (uint32_t)hours)
	              : sl_catalog_decrease_retention(c->api->cat, sname, (uint32_t)hours);
	if (rc < 0) {
		sl_api_send_catalog_error(c, rc);
		return;
	}
	/* The logs follow on the next retention pass of the tick. */
	sl_api_send_ok(c, NULL);
}

static void op_increase_retention(struct sl_api_call *c)
{
	retention(c, true);
}

static void op_decrease_retention(struct sl_api_call *c)
{
	retention(c, false);
}

/* ---- AddTagsToStream, RemoveTagsFromStream, ListTagsForStream ---- */

static void op_add_tags(struct sl_api_call *c)
{
	const char *name, *arn;
	const struct sl_cat_stream *s;
	struct sl_api_verr v = {0};
	struct sl_cat_tag *t;
	char sname[SL_CATALOG_NAME_MAX + 1];
	json_t *tags;
	uint32_t nt;
	int rc;

	if (!stream_members(c, &name, &arn) || !member_string_map(c, "Tags", &tags))
		return;
	verr_tags(&v, tags, true);
	verr_stream(&v, name, arn);
	if (sl_api_verr_send(c, &v))
		return;
	s = sl_api_stream(c, name, arn);
	if (!s)
		return;
	snprintf(sname, sizeof(sname), "%s", s->name);
	if (tags_collect(tags, &t, &nt) < 0) {
		send_internal(c);
		return;
	}
	rc = sl_catalog_add_tags(c->api->cat, sname, t, nt);
	free(t);
	if (rc < 0) {
		sl_api_send_catalog_error(c, rc);
		return;
	}
	sl_api_send_ok(c, NULL);
}

static void op_remove_tags(struct sl_api_call *c)
{
	const char *name, *arn, **keys;
	const struct sl_cat_stream *s;
	struct sl_api_verr v = {0};
	char sname[SL_CATALOG_NAME_MAX + 1];
	json_t *list, *val;
	size_t n, i;
	int rc;

	if (!stream_members(c, &name, &arn) || !member_string_list(c, "TagKeys", &list))
		return;
	n = list ? json_array_size(list) : 0;
	verr_not_null(&v, list, "tagKeys");
	if (list) {
		bool lens_ok = true;
		char *text = list_text(list);

		for (i = 0; i < json_array_size(list) && (val = json_array_get(list, i)); i++) {
			size_t kl = json_is_string(val) ? java_length(json_string_value(val)) : 1;

			lens_ok = lens_ok && kl >= 1 && kl <= SL_CATALOG_TAG_KEY_MAX;
		}
		if (n < 1)
			sl_api_verr_add(&v, "[]", "tagKeys",
			                "Member must have length greater than or equal to 1");
		if (n > TAG_KEYS_MAX)
			sl_api_verr_add(&v, text ? text : "[...]", "tagKeys",
			                "Member must have length less than or equal to 50");
		if (!lens_ok)
			sl_api_verr_add(
			        &v, text ? text : "[...]", "tagKeys",
			        "Member must satisfy constraint: [Member must have length less "
			        "than or equal to 128, Member must have length greater than "
			        "or equal to 1]");
		free(text);
	}
	verr_stream(&v, name, arn);
	if (sl_api_verr_send(c, &v))
		return;
	s = sl_api_stream(c, name, arn);
	if (!s)
		return;
	snprintf(sname, sizeof(sname), "%s", s->name);
	keys = calloc(n, sizeof(*keys));
	if (!keys) {
		send_internal(c);
		return;
	}
	for (i = 0; i < json_array_size(list) && (val = json_array_get(list, i)); i++) {
		keys[i] = json_is_string(val) ? json_string_value(val) : "";
	}
	rc = sl_catalog_remove_tags(c->api->cat, sname, keys, (uint32_t)n);
	free(keys);
	if (rc < 0) {
		sl_api_send_catalog_error(c, rc);
		return;
	}
	sl_api_send_ok(c, NULL);
}

static void op_list_tags(struct sl_api_call *c)
{
	const char *name, *arn, *start;
	const struct sl_cat_stream *s;
	const struct sl_cat_tag *tags;
	struct sl_api_verr v = {0};
	bool limit_present, more;
	int64_t limit = LIST_TAGS_MAX;
	uint32_t n;
	json_t *list;
	int rc;

	if (!stream_members(c, &name, &arn) ||
	    !sl_api_member_string(c, "ExclusiveStartTagKey", &start) ||
	    !sl_api_member_int(c, "Limit", &limit_present, &limit))
		return;
	if (start) {
		verr_min_len(&v, start, "exclusiveStartTagKey", 1);
		verr_max_len(&v, start, "exclusiveStartTagKey", SL_CATALOG_TAG_KEY_MAX);
	}
	verr_range(&v, limit_present, limit, "limit", 1, LIST_TAGS_MAX);
	verr_stream(&v, name, arn);
	if (sl_api_verr_send(c, &v))
		return;
	s = sl_api_stream(c, name, arn);
	if (!s)
		return;
	rc = sl_catalog_list_tags(c->api->cat, s->name, start, (uint32_t)limit, &tags, &n, &more);
	if (rc < 0) {
		sl_api_send_catalog_error(c, rc);
		return;
	}
	list = json_array();
	for (uint32_t i = 0; list && i < n; i++)
		json_array_append_new(
		        list, json_pack("{s:s,s:s}", "Key", tags[i].key, "Value", tags[i].value));
	if (!list) {
		send_internal(c);
		return;
	}
	sl_api_send_ok(c, json_pack("{s:o,s:b}", "Tags", list, "HasMoreTags", more));
}

/* ---- DescribeLimits ---- */

static void op_describe_limits(struct sl_api_call *c)
{
	struct sl_catalog *cat = c->api->cat;

	sl_api_send_ok(c, json_pack("{s:i,s:i,s:i,s:i}", "ShardLimit",
	                            (int)sl_catalog_shard_limit(cat), "OpenShardCount",
	                            (int)sl_catalog_open_shards(cat), "OnDemandStreamCount",
	                            (int)sl_catalog_on_demand_streams(cat),
	                            "OnDemandStreamCountLimit", ON_DEMAND_LIMIT));
}

/* ---- dispatch ---- */

/* Every operation served, by its X-Amz-Target name. */
#define API_OPS(X)                                                                                 \
	X(AddTagsToStream, op_add_tags)                                                            \
	X(CreateStream, op_create_stream)                                                          \
	X(DecreaseStreamRetentionPeriod, op_decrease_retention)                                    \
	X(DeleteStream, op_delete_stream)                                                          \
	X(DescribeLimits, op_describe_limits)                                                      \
	X(DescribeStream, op_describe_stream)                                                      \
	X(DescribeStreamSummary, op_describe_stream_summary)                                       \
	X(GetRecords, sl_api_op_get_records)                                                       \
	X(GetShardIterator, sl_api_op_get_shard_iterator)                                          \
	X(IncreaseStreamRetentionPeriod, op_increase_retention)                                    \
	X(ListShards, op_list_shards)                                                              \
	X(ListStreams, op_list_streams)                                                            \
	X(ListTagsForStream, op_list_tags)                                                         \
	X(MergeShards, op_merge_shards)                                                            \
	X(PutRecord, sl_api_op_put_record)                                                         \
	X(PutRecords, sl_api_op_put_records)                                                       \
	X(RemoveTagsFromStream, op_remove_tags)                                                    \
	X(SplitShard, op_split_shard)                                                              \
	X(UpdateShardCount, op_update_shard_count)

static const struct op {
	const char *name;
	void (*fn)(struct sl_api_call *c);
} ops[] = {
#define X(n, f) {#n, f},
        API_OPS(X)
#undef X
};

/* The operation X-Amz-Target names, or NULL; *has_parts tells whether it
 * has the "<service>.<operation>" shape at all. */
static const struct op *find_op(const char *target, bool *has_parts)
{
	const char *dot = target ? strchr(target, '.') : NULL;
	size_t sl = strlen(TARGET_SERVICE);

	*has_parts = dot && dot > target && dot[1];
	if (!*has_parts || (size_t)(dot - target) != sl || strncmp(target, TARGET_SERVICE, sl) != 0)
		return NULL;
	for (size_t i = 0; i < SL_ARRAY_SIZE(ops); i++)
		if (strcmp(dot + 1, ops[i].name) == 0)
			return &ops[i];
	return NULL;
}

/* The media type of a Content-Type value, without parameters, trimmed. */
static bool media_is(const char *ct, const char *type)
{
	size_t n = strlen(type);

	if (!ct)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, type, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == 0 || *ct == ';';
}

static void request_id(char buf[40])
{
	uint8_t b[16];

	if (RAND_bytes(b, sizeof(b)) != 1) {
		uint64_t x = (uint64_t)sl_wall_ns() * 0x9e3779b97f4a7c15ull;

		for (int i = 0; i < 16;
		     i++, x = x * 6364136223846793005ull + 1442695040888963407ull)
			b[i] = (uint8_t)(x >> 56);
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(buf, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
}

static bool check_auth(struct sl_api_call *c, const struct sl_api_request *r)
{
	struct sl_api *api = c->api;
	const char *names[4], *values[4];
	struct sl_sigv4_request sr = {
	        .method = r->method,
	        .path = r->path ? r->path : "/",
	        .nheaders = r->nheaders,
	        .header_names = r->header_names,
	        .header_values = r->header_values,
	        .body = r->body,
	        .len = r->len,
	};
	enum sl_sigv4_result res;
	char msg[1024];

	/* A caller that gave only the parsed fields (tests): the headers the
	 * presence checks look at. */
	if (r->nheaders == 0) {
		size_t n = 0;

		if (r->authorization) {
			names[n] = "authorization";
			values[n++] = r->authorization;
		}
		if (r->amz_date) {
			names[n] = "x-amz-date";
			values[n++] = r->amz_date;
		}
		if (r->content_type) {
			names[n] = "content-type";
			values[n++] = r->content_type;
		}
		if (r->target) {
			names[n] = "x-amz-target";
			values[n++] = r->target;
		}
		sr.nheaders = n;
		sr.header_names = names;
		sr.header_values = values;
	}
	msg[0] = 0;
	res = sl_sigv4_check(&sr, api->c.access_key, api->c.secret_key, NULL, msg, sizeof(msg));
	if (res == SL_SIGV4_OK)
		return true;
	sl_api_send_error(c, 400, sl_sigv4_result_name(res), "%s", msg);
	return false;
}

void *sl_api_parse_body(const void *body, size_t len)
{
	json_error_t jerr;

	return json_loadb(body, len, JSON_DECODE_INT_AS_REAL, &jerr);
}

void sl_api_handle(struct sl_api *api, const struct sl_api_request *r, sl_api_respond_fn respond,
                   void *req)
{
	struct sl_api_call *c = calloc(1, sizeof(*c));
	const struct op *op;
	bool json11, plain, has_parts;

	api->st.requests++;
	if (!c) {
		static const char fail[] = "{\"__type\":\"InternalFailure\"}";
		struct sl_api_answer a = {500,
		                          "00000000-0000-4000-8000-000000000000",
		                          "InternalFailure",
		                          CT_JSON,
		                          fail,
		                          sizeof(fail) - 1};

		api->st.errors_5xx++;
		if (r->parsed > 0)
			json_decref(r->parsed_body);
		respond(req, &a);
		return;
	}
	c->api = api;
	c->respond = respond;
	c->req = req;
	if (r->parsed > 0)
		c->in = r->parsed_body; /* freed with c whatever happens */
	c->now_ms = wall_ms();
	request_id(c->request_id);

	if (!r->method || strcmp(r->method, "POST") != 0) {
		answer(c, 403, "AccessDeniedException", "application/xml", ACCESS_DENIED_XML,
		       strlen(ACCESS_DENIED_XML));
		return;
	}
	op = find_op(r->target, &has_parts);
	c->op = op ? op->name : NULL;
	json11 = media_is(r->content_type, CT_JSON);
	plain = media_is(r->content_type, CT_PLAIN_JSON);
	/* CBOR (application/x-amz-cbor-1.1) is not served yet: like any
	 * other type, it gets Coral's answer for an unknown one. */
	if (!json11 && !plain) {
		if (!has_parts)
			answer(c, 403, "AccessDeniedException", "application/xml",
			       ACCESS_DENIED_XML, strlen(ACCESS_DENIED_XML));
		else
			answer(c, 404, "UnknownOperationException", "application/xml",
			       "<UnknownOperationException/>\n", 29);
		return;
	}
	if (r->len == 0 && json11) {
		sl_api_send_error(
		        c, 400, op ? "SerializationException" : "UnknownOperationException", NULL);
		return;
	}
	if (r->parsed == 0 && r->len)
		c->in = sl_api_parse_body(r->body, r->len);
	if (!c->in || !json_is_object(c->in)) {
		if (plain)
			answer_json(c, 200, "SerializationException", CT_PLAIN_JSON,
			            json_pack("{s:{s:s,s:n},s:s}", "Output", "__type",
			                      "com.amazon.coral.service#SerializationException",
			                      "Message", "Version", "1.0"));
		else
			sl_api_send_error(c, 400, "SerializationException", NULL);
		return;
	}
	/* Coral goes no further with application/json. */
	if (plain) {
		answer_json(c, 200, "UnknownOperationException", CT_PLAIN_JSON,
		            json_pack("{s:{s:s,s:n},s:s}", "Output", "__type",
		                      "com.amazon.coral.service#UnknownOperationException",
		                      "message", "Version", "1.0"));
		return;
	}
	if (!op) {
		sl_api_send_error(c, 400, "UnknownOperationException", NULL);
		return;
	}
	if (!check_auth(c, r))
		return;
	op->fn(c);
}

void sl_api_put_done(struct sl_api *api, struct sl_api_put *p)
{
	sl_api_data_put_done(api, p);
}

/* ---- tick ---- */

struct stream_ref {
	uint32_t id;
	uint32_t nshards;
	enum sl_catalog_status status;
	char name[SL_CATALOG_NAME_MAX + 1];
};

/* The streams as they are now (pointers into the catalog do not survive
 * a change). */
static struct stream_ref *stream_refs(struct sl_catalog *cat, uint32_t *ret_n)
{
	uint32_t n = sl_catalog_nstreams(cat);
	struct stream_ref *r = calloc(n + 1, sizeof(*r));

	if (!r)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		const struct sl_cat_stream *s = sl_catalog_stream_at(cat, i);

		r[i].id = s->id;
		r[i].nshards = s->nshards;
		r[i].status = s->status;
		snprintf(r[i].name, sizeof(r[i].name), "%s", s->name);
	}
	*ret_n = n;
	return r;
}

static void tick_states(struct sl_api *api, int64_t now_ms)
{
	struct api_full *a = full(api);
	struct stream_ref *r;
	uint32_t n;

	r = stream_refs(api->cat, &n);
	if (!r)
		return;
	for (uint32_t i = 0; i < n; i++) {
		struct pending *p;

		switch (r[i].status) {
		case SL_CATALOG_CREATING:
		case SL_CATALOG_UPDATING:
			/* No entry: a change from before a restart; sync again,
			 * the backend's sync is idempotent. */
			p = pending_get(a, r[i].id, due_after(api, now_ms));
			if (!p)
				break;
			if (p->need_sync && sync_stream(api, r[i].name) < 0)
				break;
			p = pending_find(a, r[i].id);
			p->need_sync = false;
			if (now_ms >= p->due_ms && sl_catalog_set_active(api->cat, r[i].name) == 0)
				pending_del(a, r[i].id);
			break;
		case SL_CATALOG_DELETING:
			p = pending_get(a, r[i].id, due_after(api, now_ms));
			if (!p || now_ms < p->due_ms)
				break;
			if (api->be.drop_stream &&
			    api->be.drop_stream(api->be.arg, r[i].id, r[i].name) < 0)
				break;
			if (sl_catalog_purge_stream(api->cat, r[i].name) == 0)
				pending_del(a, r[i].id);
			break;
		default:
			pending_del(a, r[i].id);
			break;
		}
	}
	/* Entries of streams that are gone. */
	for (uint32_t k = 0; k < a->npend;) {
		bool found = false;

		for (uint32_t i = 0; i < n && !found; i++)
			found = r[i].id == a->pend[k].id;
		if (found)
			k++;
		else
			a->pend[k] = a->pend[--a->npend];
	}
	free(r);
}

/* Closed shards whose data aged out leave the catalog, then the backend. */
static void tick_expire(struct sl_api *api, int64_t now_ms)
{
	struct stream_ref *r;
	uint32_t n;

	r = stream_refs(api->cat, &n);
	if (!r)
		return;
	if (sl_catalog_expire_shards(api->cat, now_ms) > 0) {
		for (uint32_t i = 0; i < n; i++) {
			const struct sl_cat_stream *s = sl_catalog_stream(api->cat, r[i].name);

			if (s && s->id == r[i].id && s->nshards != r[i].nshards &&
			    s->status != SL_CATALOG_DELETING && sync_stream(api, r[i].name) < 0) {
				/* Retried with the next state change of the stream. */
				struct pending *p = pending_find(full(api), s->id);

				if (p)
					p->need_sync = true;
			}
		}
	}
	free(r);
}

static void tick_retention(struct sl_api *api, int64_t now_ms)
{
	struct api_full *a = full(api);

	if (!api->be.log || now_ms < a->next_retain_ms)
		return;
	a->next_retain_ms = now_ms + RETAIN_EVERY_MS;
	for (uint32_t i = 0; i < sl_catalog_nstreams(api->cat); i++) {
		const struct sl_cat_stream *s = sl_catalog_stream_at(api->cat, i);
		int64_t age_ns = (int64_t)s->retention_hours * MS_PER_HOUR * 1000000;

		if (s->status == SL_CATALOG_DELETING)
			continue;
		for (uint32_t k = 0; k < s->nshards; k++) {
			struct sl_log *log = api->be.log(api->be.arg, s->id, s->shards[k].id);

			if (log)
				(void)sl_log_retain(log, now_ms * 1000000, age_ns, 0);
		}
	}
}

void sl_api_tick(struct sl_api *api, int64_t now_ms)
{
	tick_states(api, now_ms);
	tick_expire(api, now_ms);
	tick_retention(api, now_ms);
}

/* ---- lifecycle ---- */

void sl_api_config_default(struct sl_api_config *c)
{
	*c = (struct sl_api_config){
	        .iterator_ttl_ms = 300000,
	        .max_record_bytes = 1u << 20,
	        .max_request_bytes = 5u << 20,
	        .state_delay_ms = 0,
	};
}

/* Region and account as the catalog writes them into ARNs. */
static int catalog_identity(struct sl_api *api)
{
	struct sl_cat_stream probe = {.name = "x"};
	char arn[256], *region, *account, *end;

	if (sl_catalog_stream_arn(api->cat, &probe, arn, sizeof(arn)) < 0 ||
	    strncmp(arn, "arn:aws:kinesis:", 16) != 0)
		return -EINVAL;
	region = arn + 16;
	account = strchr(region, ':');
	if (!account)
		return -EINVAL;
	*account++ = 0;
	end = strchr(account, ':');
	if (!end)
		return -EINVAL;
	*end = 0;
	if (strlen(region) >= sizeof(api->region) || strlen(account) >= sizeof(api->account))
		return -EINVAL;
	snprintf(api->region, sizeof(api->region), "%s", region);
	snprintf(api->account, sizeof(api->account), "%s", account);
	return 0;
}

int sl_api_create(const struct sl_api_config *c, struct sl_catalog *cat,
                  const struct sl_api_backend *be, struct sl_api **ret)
{
	static const char label[] = "sluice pagination tokens";
	struct api_full *a;
	struct sl_api *api;
	unsigned klen = 0;
	int rc;

	if (!c || !cat || !be || c->iterator_ttl_ms == 0 || c->max_record_bytes == 0 ||
	    c->max_request_bytes == 0 || (!c->access_key != !c->secret_key))
		return sl_err_set(-EINVAL, "api: iterator_ttl_ms, max_record_bytes and "
		                           "max_request_bytes must be > 0, access_key and "
		                           "secret_key set together");
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	api = &a->api;
	api->c = *c;
	api->cat = cat;
	api->be = *be;
	if (c->iterator_key)
		memcpy(api->iterator_key, c->iterator_key, sizeof(api->iterator_key));
	else if (RAND_bytes(api->iterator_key, sizeof(api->iterator_key)) != 1) {
		rc = sl_err_set(-EIO, "api: no random bytes for the iterator key");
		goto fail;
	}
	api->c.iterator_key = api->iterator_key;
	/* A key of its own for pagination tokens, so that no token can pass
	 * for another kind. */
	HMAC(EVP_sha256(), api->iterator_key, sizeof(api->iterator_key), (const uint8_t *)label,
	     sizeof(label) - 1, a->token_key, &klen);
	rc = catalog_identity(api);
	if (rc < 0) {
		rc = sl_err_set(rc, "api: the catalog's region or account does not fit");
		goto fail;
	}
	rc = sl_api_data_create(api);
	if (rc < 0)
		goto fail;
	*ret = api;
	return 0;
fail:
	sl_api_free(api);
	return rc;
}

void sl_api_free(struct sl_api *api)
{
	struct api_full *a;

	if (!api)
		return;
	a = full(api);
	sl_api_data_free(api);
	OPENSSL_cleanse(api->iterator_key, sizeof(api->iterator_key));
	OPENSSL_cleanse(a->token_key, sizeof(a->token_key));
	free(a->pend);
	free(a);
}

void sl_api_stats(const struct sl_api *api, struct sl_api_stats *ret)
{
	*ret = api->st;
}

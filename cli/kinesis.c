/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kinesis JSON 1.1 client behind sluicectl. Every operation is one
 * POST to the endpoint's path with X-Amz-Target "Kinesis_20131202.<Op>",
 * Content-Type application/x-amz-json-1.1, X-Amz-Date and a SigV4
 * Authorization over host, content-type, x-amz-date and x-amz-target
 * (control/sigv4.h). Answers are read into one buffer bounded by
 * max_response_bytes; a transfer is bounded by connect_timeout_ms and
 * timeout_ms and aborted when the caller's stop flag is set.
 *
 * Error answers follow research/kinesis-api.md 1.3: the type comes from
 * __type (or the x-amzn-ErrorType header), with anything up to the last '#'
 * and from the first ':' removed; the message from "message" or "Message".
 */
#include "kinesis.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "compiler.h"
#include "sigv4.h"

#define TARGET_PREFIX "Kinesis_20131202."
#define CONTENT_TYPE  "application/x-amz-json-1.1"
#define BACKOFF_MAX   5000 /* longest pause between retries, ms */

struct sl_kinesis {
	struct sl_kinesis_config c;
	CURL *curl;
	char *url;      /* the endpoint as given */
	char *get_base; /* scheme://host[:port] for GETs */
	char *host;     /* Host header value */
	char *path;     /* path with query, as signed */
	/* the last answer */
	char *body;
	size_t len, cap;
	bool too_large;
	long status;
	char type_header[128]; /* x-amzn-ErrorType */
	char errbuf[CURL_ERROR_SIZE];
	char err_type[128];
	char err[1024];
	uint64_t rnd;
};

void sl_kinesis_config_default(struct sl_kinesis_config *c)
{
	*c = (struct sl_kinesis_config){
	        .endpoint = "http://127.0.0.1:4567",
	        .region = "us-east-1",
	        .access_key = "sluice",
	        .secret_key = "sluice",
	        .connect_timeout_ms = 5000,
	        .timeout_ms = 30000,
	        .max_attempts = 3,
	        .max_response_bytes = 64u << 20,
	};
}

static void set_error(struct sl_kinesis *k, const char *type, const char *fmt, ...) SL_PRINTF(3, 4);

static void set_error(struct sl_kinesis *k, const char *type, const char *fmt, ...)
{
	va_list ap;

	snprintf(k->err_type, sizeof(k->err_type), "%s", type);
	va_start(ap, fmt);
	vsnprintf(k->err, sizeof(k->err), fmt, ap);
	va_end(ap);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct sl_kinesis *k = arg;
	size_t add = size * n;

	if (add > k->c.max_response_bytes - k->len) {
		k->too_large = true;
		return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
	}
	if (k->len + add + 1 > k->cap) {
		size_t cap = k->cap ? k->cap : 16384;
		char *b;

		while (cap < k->len + add + 1)
			cap *= 2;
		if (cap > k->c.max_response_bytes + 1)
			cap = k->c.max_response_bytes + 1;
		b = realloc(k->body, cap);
		if (!b)
			return 0;
		k->body = b;
		k->cap = cap;
	}
	memcpy(k->body + k->len, p, add);
	k->len += add;
	k->body[k->len] = '\0';
	return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct sl_kinesis *k = arg;
	size_t len = size * n;
	static const char name[] = "x-amzn-errortype:";
	size_t nl = sizeof(name) - 1;

	if (len > nl && strncasecmp(p, name, nl) == 0) {
		const char *v = p + nl;
		size_t vl = len - nl;

		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (vl >= sizeof(k->type_header))
			vl = sizeof(k->type_header) - 1;
		memcpy(k->type_header, v, vl);
		k->type_header[vl] = '\0';
	}
	return len;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const struct sl_kinesis *k = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	return k->c.stop && *k->c.stop ? 1 : 0;
}

static char *url_part(CURLU *u, CURLUPart part)
{
	char *s = NULL;

	if (curl_url_get(u, part, &s, 0) != CURLUE_OK)
		return NULL;
	return s;
}

/* Splits the endpoint into what the Host header, the signature and GETs
 * need. */
static int parse_endpoint(struct sl_kinesis *k)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
	int rc = -EINVAL;
	size_t cap;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, k->url, 0) != CURLUE_OK)
		goto out;
	scheme = url_part(u, CURLUPART_SCHEME);
	host = url_part(u, CURLUPART_HOST);
	port = url_part(u, CURLUPART_PORT);
	path = url_part(u, CURLUPART_PATH);
	query = url_part(u, CURLUPART_QUERY);
	if (!scheme || !host || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		goto out;
	cap = strlen(host) + (port ? strlen(port) : 0) + 2;
	k->host = malloc(cap);
	cap += strlen(scheme) + 3;
	k->get_base = malloc(cap);
	cap = (path ? strlen(path) : 1) + (query ? strlen(query) + 1 : 0) + 1;
	k->path = malloc(cap);
	if (!k->host || !k->get_base || !k->path) {
		rc = -ENOMEM;
		goto out;
	}
	sprintf(k->host, "%s%s%s", host, port ? ":" : "", port ? port : "");
	sprintf(k->get_base, "%s://%s", scheme, k->host);
	sprintf(k->path, "%s%s%s", path && *path ? path : "/", query ? "?" : "",
	        query ? query : "");
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	return rc;
}

int sl_kinesis_create(const struct sl_kinesis_config *c, struct sl_kinesis **ret)
{
	struct sl_kinesis *k = calloc(1, sizeof(*k));
	int rc = -ENOMEM;

	if (!k)
		return -ENOMEM;
	k->c = *c;
	k->rnd = (uint64_t)sl_mono_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	k->url = strdup(c->endpoint);
	k->curl = curl_easy_init();
	if (!k->url || !k->curl)
		goto fail;
	rc = parse_endpoint(k);
	if (rc < 0)
		goto fail;
	curl_easy_setopt(k->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(k->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
	curl_easy_setopt(k->curl, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(k->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(k->curl, CURLOPT_WRITEDATA, k);
	curl_easy_setopt(k->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(k->curl, CURLOPT_HEADERDATA, k);
	curl_easy_setopt(k->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(k->curl, CURLOPT_XFERINFODATA, k);
	curl_easy_setopt(k->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(k->curl, CURLOPT_ERRORBUFFER, k->errbuf);
	curl_easy_setopt(k->curl, CURLOPT_USERAGENT, "sluicectl/" SLUICE_VERSION);
	curl_easy_setopt(k->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	*ret = k;
	return 0;
fail:
	sl_kinesis_free(k);
	return rc;
}

void sl_kinesis_free(struct sl_kinesis *k)
{
	if (!k)
		return;
	if (k->curl)
		curl_easy_cleanup(k->curl);
	free(k->url);
	free(k->get_base);
	free(k->host);
	free(k->path);
	free(k->body);
	free(k);
}

const char *sl_kinesis_body(const struct sl_kinesis *k, size_t *ret_len)
{
	if (ret_len)
		*ret_len = k->len;
	return k->body ? k->body : "";
}

const char *sl_kinesis_error_type(const struct sl_kinesis *k)
{
	return k->err_type;
}

const char *sl_kinesis_error(const struct sl_kinesis *k)
{
	return k->err;
}

bool sl_kinesis_type_is_throttle(const char *type)
{
	return strcmp(type, "ProvisionedThroughputExceededException") == 0 ||
	       strcmp(type, "ThrottlingException") == 0;
}

int sl_kinesis_sleep(const struct sl_kinesis *k, uint32_t ms)
{
	int64_t end = sl_mono_ns() + (int64_t)ms * 1000000;

	for (;;) {
		int64_t left = end - sl_mono_ns();
		struct timespec ts;

		if (k->c.stop && *k->c.stop)
			return -EINTR;
		if (left <= 0)
			return 0;
		/* Slices of at most 50 ms, so a stop flag set by a signal that
		 * arrived just before nanosleep() is seen soon anyway. */
		if (left > 50000000)
			left = 50000000;
		ts.tv_sec = 0;
		ts.tv_nsec = left;
		nanosleep(&ts, NULL);
	}
}

int sl_kinesis_backoff(struct sl_kinesis *k, uint32_t *pause_ms)
{
	uint32_t p = *pause_ms;

	k->rnd ^= k->rnd << 13, k->rnd ^= k->rnd >> 7, k->rnd ^= k->rnd << 17; /* xorshift64 */
	*pause_ms = p * 2 > BACKOFF_MAX ? BACKOFF_MAX : p * 2;
	return sl_kinesis_sleep(k, p / 2 + (uint32_t)(k->rnd % (p / 2 + 1)));
}

/* Runs the transfer set up on k->curl; maps curl's failure to -errno. */
static int perform(struct sl_kinesis *k, const char *what)
{
	CURLcode cc;

	k->len = 0;
	if (k->body)
		k->body[0] = '\0';
	k->too_large = false;
	k->status = 0;
	k->type_header[0] = '\0';
	k->errbuf[0] = '\0';
	k->err_type[0] = k->err[0] = '\0';
	cc = curl_easy_perform(k->curl);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &k->status);
		return 0;
	}
	if (k->too_large) {
		set_error(k, "ResponseTooLarge", "%s: the answer is larger than %zu bytes", what,
		          k->c.max_response_bytes);
		return -EFBIG;
	}
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		set_error(k, "Interrupted", "%s: interrupted", what);
		return -EINTR;
	}
	set_error(k, cc == CURLE_OPERATION_TIMEDOUT ? "Timeout" : "ConnectionError", "%s: %s: %s",
	          what, k->url, k->errbuf[0] ? k->errbuf : curl_easy_strerror(cc));
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return -ETIMEDOUT;
	if (cc == CURLE_COULDNT_CONNECT)
		return -ECONNREFUSED;
	return -EIO;
}

/* The error of a non-200 answer, from its body or headers. */
static int parse_error(struct sl_kinesis *k)
{
	json_t *j = k->len ? json_loadb(k->body, k->len, 0, NULL) : NULL;
	const char *type = NULL, *msg = NULL;
	char tbuf[128];
	int rc;

	if (json_is_object(j)) {
		type = json_string_value(json_object_get(j, "__type"));
		msg = json_string_value(json_object_get(j, "message"));
		if (!msg)
			msg = json_string_value(json_object_get(j, "Message"));
	}
	if (!type && k->type_header[0])
		type = k->type_header;
	if (type) {
		const char *hash = strrchr(type, '#');
		size_t n;

		if (hash)
			type = hash + 1;
		n = strcspn(type, ":");
		snprintf(tbuf, sizeof(tbuf), "%.*s", (int)n, type);
	} else {
		snprintf(tbuf, sizeof(tbuf), "HTTP %ld", k->status);
	}
	if (!msg && !j && k->len) {
		/* Not JSON: show the start of what came, printable bytes only. */
		char snip[160];
		size_t n = 0;

		for (size_t i = 0; i < k->len && n < sizeof(snip) - 1; i++)
			snip[n++] = k->body[i] >= 0x20 && k->body[i] < 0x7f ? k->body[i] : ' ';
		snip[n] = '\0';
		set_error(k, tbuf, "%s", snip);
	} else {
		set_error(k, tbuf, "%s", msg ? msg : "(no message)");
	}
	rc = strcmp(tbuf, "ResourceNotFoundException") == 0 ? -ENOENT : -EREMOTEIO;
	json_decref(j);
	return rc;
}

static int call_once(struct sl_kinesis *k, const char *op, const char *body, size_t len,
                     json_t **ret_out)
{
	char date[20], target[128], auth[1024];
	const char *names[] = {"content-type", "host", "x-amz-date", "x-amz-target"};
	const char *values[] = {CONTENT_TYPE, k->host, date, target};
	struct sl_sigv4_request r = {
	        .method = "POST",
	        .path = k->path,
	        .nheaders = 4,
	        .header_names = names,
	        .header_values = values,
	        .body = body,
	        .len = len,
	};
	struct curl_slist *h = NULL, *t;
	char line[1200];
	time_t now = time(NULL);
	struct tm tm;
	json_t *out;
	int rc;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(target, sizeof(target), TARGET_PREFIX "%s", op);
	rc = sl_sigv4_sign(&r, k->c.access_key, k->c.secret_key, k->c.region, "kinesis", date, auth,
	                   sizeof(auth));
	if (rc < 0) {
		set_error(k, "SigningError", "%s: cannot sign the request (%s)", op, strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < 4; i++) {
		snprintf(line, sizeof(line), "%s: %s", names[i], values[i]);
		t = curl_slist_append(h, line);
		if (!t)
			goto nomem;
		h = t;
	}
	snprintf(line, sizeof(line), "authorization: %s", auth);
	/* Kinesis clients send neither Expect nor Accept. */
	if (!(t = curl_slist_append(h, line)) || !(h = t, t = curl_slist_append(h, "Expect:")) ||
	    !(h = t, t = curl_slist_append(h, "Accept:")))
		goto nomem;
	h = t;
	curl_easy_setopt(k->curl, CURLOPT_URL, k->url);
	curl_easy_setopt(k->curl, CURLOPT_HTTPGET, 0L);
	curl_easy_setopt(k->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(k->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(k->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, h);
	rc = perform(k, op);
	curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(h);
	if (rc < 0)
		return rc;
	if (k->status != 200)
		return parse_error(k);
	if (k->len == 0) {
		if (ret_out)
			*ret_out = NULL;
		return 0;
	}
	out = json_loadb(k->body, k->len, 0, NULL);
	if (!json_is_object(out)) {
		json_decref(out);
		set_error(k, "ProtocolError", "%s: the answer is not a JSON object", op);
		return -EPROTO;
	}
	if (ret_out)
		*ret_out = out;
	else
		json_decref(out);
	return 0;
nomem:
	curl_slist_free_all(h);
	set_error(k, "OutOfMemory", "%s: out of memory", op);
	return -ENOMEM;
}

static bool retryable(const struct sl_kinesis *k, int rc)
{
	if (rc != -EREMOTEIO)
		return false;
	return k->status >= 500 || sl_kinesis_type_is_throttle(k->err_type);
}

int sl_kinesis_call(struct sl_kinesis *k, const char *op, json_t *in, json_t **ret_out)
{
	char *body = json_dumps(in, JSON_COMPACT);
	uint32_t pause = SL_KINESIS_BACKOFF_FIRST_MS;
	int rc;

	if (!body) {
		set_error(k, "OutOfMemory", "%s: cannot encode the request", op);
		return -ENOMEM;
	}
	for (uint32_t attempt = 1;; attempt++) {
		rc = call_once(k, op, body, strlen(body), ret_out);
		if (rc == 0 || attempt >= k->c.max_attempts || !retryable(k, rc))
			break;
		if (sl_kinesis_backoff(k, &pause) < 0)
			break;
	}
	free(body);
	return rc;
}

int sl_kinesis_get(struct sl_kinesis *k, const char *path)
{
	size_t n = strlen(k->get_base) + strlen(path) + 1;
	char *url = malloc(n);
	int rc;

	if (!url)
		return -ENOMEM;
	snprintf(url, n, "%s%s", k->get_base, path);
	curl_easy_setopt(k->curl, CURLOPT_URL, url);
	curl_easy_setopt(k->curl, CURLOPT_HTTPGET, 1L);
	rc = perform(k, path);
	free(url);
	if (rc == 0 && k->status != 200) {
		set_error(k, "HTTPError", "GET %s: HTTP %ld", path, k->status);
		rc = -EREMOTEIO;
	}
	return rc;
}

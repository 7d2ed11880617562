/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http_load: a Kinesis PutRecords load client over HTTP, the same for every
 * server (sluiced's API, kinesalite), so perf/http_bench.sh can compare them
 * with one client and one workload. One thread drives libcurl's multi
 * interface.
 *
 * Requests: PutRecords of --batch B records of --size S random bytes with
 * random 16-character partition keys, so records spread over every shard.
 * B is cut to what Kinesis takes in one request: at most 500 records and
 * 5 MiB of data and keys (and S + key at most 1 MiB per record), so 64 KiB
 * records go 79 to a request; the count used is printed. The bodies are
 * built before the run, --bodies K of them (each with its own keys and
 * data; fewer when K bodies would pass 64 MiB) and sent in turn, so the
 * client spends its time on the wire and not on JSON. Each body is signed
 * once with SigV4 (dummy credentials, the date of the start; neither server
 * verifies by default), as the SDKs sign. HTTP/1.1 with keep-alive by
 * default, one connection per request in flight; --http2 sends cleartext
 * HTTP/2 with prior knowledge (h2c) and curl multiplexes the requests on
 * its connections (libcurl 8 and later; with 7.x one connection per
 * request, see h2_fresh_easy).
 *
 * Load, two ways:
 *  - closed loop (default): --connections N requests in flight at once; a
 *    request goes when the one before it on its connection is answered.
 *    Latency runs from the moment a request is handed to curl.
 *  - open loop (--rate R records/s): request k is due at start + k * B / R
 *    whatever the answers do, and its latency runs from that scheduled time,
 *    so a stall is charged to every request queued behind it (no
 *    coordinated omission). A send more than 1 ms after its time is counted
 *    late. --max-inflight bounds the requests in flight (and so the
 *    connections and memory a slow server can make this client take); a
 *    request due while it is full waits, is counted, and is sent late.
 *
 * Window: --warmup seconds, then --seconds measured. records/s counts the
 * records answered OK (HTTP 200, minus the response's FailedRecordCount)
 * by requests that completed inside the window; the latency histogram
 * (perf/hist.h) gets every request that started (closed loop) or was due
 * (open loop) inside it, failed ones included, until its answer was
 * complete. An open-loop request due inside the window but still unsent at
 * its end (the in-flight bound held it) enters the histogram at its age
 * then, a lower bound, and is counted. --max-requests bounds the count as
 * well. After the window nothing new is sent and the requests in flight
 * finish (each bounded by --timeout-ms).
 *
 * Also reported: this process's CPU over the window and, with --server-pid,
 * the server's (utime + stime from /proc), so a reader can see on a small
 * machine whether the client or the server was the limit.
 *
 * --create SHARDS first creates the stream (an existing one is fine) and
 * waits until it is ACTIVE (30 s at most).
 *
 * Exit: 0 the run completed and most requests succeeded, 1 errors (no
 * server, or more than 1 % of requests failed), 2 bad options.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "machine.h"
#include "sigv4.h"

#define KEY_CHARS     16
#define MAX_CONNS     1024
#define MAX_INFLIGHT  16384
#define MAX_BATCH     500        /* Kinesis: records per PutRecords */
#define MAX_PUT_BYTES (5u << 20) /* Kinesis: data + keys per PutRecords */
#define MAX_RECORD    (1u << 20) /* Kinesis: data + key per record */
#define BODIES_BYTES  (64u << 20)
#define MAX_ANSWER    (4u << 20)
#define LATE_NS       1000000ll /* open loop: a send this late is counted */
#define ACCESS_KEY    "AKIDSLUICEBENCH"
#define SECRET_KEY    "sluice-bench-secret"
#define TARGET_PREFIX "Kinesis_20131202."

static struct {
	const char *url;
	const char *stream;
	const char *label;
	const char *json;
	unsigned create;
	unsigned conns;
	unsigned max_inflight;
	unsigned batch;
	unsigned size;
	unsigned bodies;
	double rate; /* records/s; 0: closed loop */
	double warmup;
	double seconds;
	uint64_t max_requests;
	unsigned timeout_ms;
	long server_pid;
	bool http2;
} o = {
        .url = "http://127.0.0.1:4567/",
        .stream = "bench",
        .conns = 16,
        .max_inflight = 1000,
        .batch = 100,
        .size = 100,
        .bodies = 64,
        .warmup = 1.0,
        .seconds = 5.0,
        .timeout_ms = 10000,
};

struct body {
	char *json;
	size_t len;
	struct curl_slist *headers;
};

/* One request slot: an easy handle (and, over HTTP/1.1, the connection
 * curl gives it). Closed loop: --connections of them, each always busy.
 * Open loop: made on demand up to --max-inflight, idle ones on g.idle. */
struct conn {
	CURL *e;
	char *ans;
	size_t len, cap;
	int64_t t0;     /* handed to curl (closed loop) or due (open loop) */
	bool in_window; /* started (closed) or due (open) inside the window */
	bool busy;
	bool used; /* has sent a request */
};

static struct {
	struct body *bodies;
	unsigned nbodies;
	unsigned nrec; /* records per request: --batch cut to the Kinesis limits */
	struct conn *conns;
	unsigned nconns; /* slots: --connections, or --max-inflight in open loop */
	unsigned nmade;  /* slots with an easy handle */
	struct conn **idle;
	unsigned nidle;
	CURLM *multi;
	int timer_fd; /* open loop: wakes the poll at the next due time */
	char host[256];
	char amz_date[17];
	char cpu[256];
	char kernel[256];
	char loadavg[2][128];
	char answer[8192]; /* the last set-up answer */
	/* libcurl 7.88 fails every h2c (prior knowledge) request after the
	 * first on a connection ("Error in the HTTP2 framing layer"; against
	 * sluiced and against node's http2 server alike, and the curl tool's
	 * --next shows it too), whether the easy handle is new or not: there
	 * each request gets a fresh easy handle and a fresh connection. */
	bool h2_fresh_easy;
	unsigned shards;
	uint64_t next_body;
	unsigned inflight;
	unsigned max_inflight_seen;
} g = {.timer_fd = -1};

/* Counts inside the measured window. */
static struct {
	uint64_t requests;   /* started (closed) or due (open) in the window */
	uint64_t done_ok;    /* HTTP 200, completed in the window */
	uint64_t records_ok; /* their records minus FailedRecordCount */
	uint64_t records_failed;
	uint64_t http_errors;    /* non-200 answers */
	uint64_t net_errors;     /* curl errors: refused, reset, timeout */
	uint64_t bytes_data;     /* record data bytes acknowledged */
	uint64_t late_sends;     /* open loop: sent more than LATE_NS after due */
	uint64_t cap_waits;      /* open loop: due while --max-inflight were in flight */
	uint64_t not_sent;       /* open loop: due in the window, never sent */
	int64_t max_lag;         /* open loop: worst send time minus due time, ns */
	uint64_t all_requests;   /* every request sent, warm-up and drain included */
	uint64_t all_failed;     /* of those, not a 200 */
	uint64_t all_records_ok; /* records answered OK, warm-up and drain included */
	int64_t t_first, t_last; /* first send, last answer */
	int last_status;
	char last_error[512];
} ct;

static struct sl_hist hist;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Standard base64 with padding of n bytes into out (4 * ceil(n / 3) + 1). */
static size_t base64(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i = 0, j = 0;

	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[j++] = tab[v >> 18];
		out[j++] = tab[(v >> 12) & 63];
		out[j++] = tab[(v >> 6) & 63];
		out[j++] = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

		out[j++] = tab[v >> 18];
		out[j++] = tab[(v >> 12) & 63];
		out[j++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[j++] = '=';
	}
	out[j] = 0;
	return j;
}

/* The headers of one request to operation op with body, signed. */
static struct curl_slist *headers_for(const char *op, const char *body, size_t len)
{
	char target[96], auth[512], line[640];
	const char *names[] = {"content-type", "host", "x-amz-date", "x-amz-target"};
	const char *values[] = {"application/x-amz-json-1.1", g.host, g.amz_date, target};
	struct sl_sigv4_request r = {.method = "POST",
	                             .path = "/",
	                             .nheaders = 4,
	                             .header_names = names,
	                             .header_values = values,
	                             .body = body,
	                             .len = len};
	struct curl_slist *h = NULL, *t;
	const char *lines[] = {"Content-Type: application/x-amz-json-1.1", line, NULL, NULL,
	                       /* Kinesis clients send neither Expect nor Accept. */
	                       "Expect:", "Accept:"};
	char date[64], auth_line[640];

	snprintf(target, sizeof(target), TARGET_PREFIX "%s", op);
	if (sl_sigv4_sign(&r, ACCESS_KEY, SECRET_KEY, "us-east-1", "kinesis", g.amz_date, auth,
	                  sizeof(auth)) < 0)
		return NULL;
	snprintf(line, sizeof(line), "X-Amz-Target: %s", target);
	snprintf(date, sizeof(date), "X-Amz-Date: %s", g.amz_date);
	snprintf(auth_line, sizeof(auth_line), "Authorization: %s", auth);
	lines[2] = date;
	lines[3] = auth_line;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		t = curl_slist_append(h, lines[i]);
		if (!t) {
			curl_slist_free_all(h);
			return NULL;
		}
		h = t;
	}
	return h;
}

/* Records per request: --batch, cut to what one PutRecords may carry. */
static unsigned records_per_request(void)
{
	unsigned fit = MAX_PUT_BYTES / (o.size + KEY_CHARS);

	return o.batch < fit ? o.batch : fit;
}

/* The bodies: --bodies of them (fewer past BODIES_BYTES) of g.nrec records
 * each. */
static int bodies_make(void)
{
	uint64_t seed = (uint64_t)mono_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	size_t b64 = 4 * ((o.size + 2) / 3) + 1;
	size_t cap = 64 + strlen(o.stream) + (size_t)g.nrec * (48 + KEY_CHARS + b64);
	uint8_t *data = malloc(o.size + 8);
	char *enc = malloc(b64);

	g.nbodies = o.bodies;
	if ((size_t)g.nbodies * cap > BODIES_BYTES)
		g.nbodies = (unsigned)(BODIES_BYTES / cap) ? (unsigned)(BODIES_BYTES / cap) : 1;
	g.bodies = calloc(g.nbodies, sizeof(*g.bodies));
	if (!data || !enc || !g.bodies)
		goto nomem;
	for (unsigned k = 0; k < g.nbodies; k++) {
		struct body *b = &g.bodies[k];
		size_t n;

		b->json = malloc(cap);
		if (!b->json)
			goto nomem;
		n = (size_t)snprintf(b->json, cap, "{\"StreamName\":\"%s\",\"Records\":[",
		                     o.stream);
		for (unsigned i = 0; i < g.nrec; i++) {
			char key[KEY_CHARS + 1];

			for (unsigned j = 0; j < o.size; j += 8) {
				uint64_t x = xorshift(&seed);

				memcpy(data + j, &x, 8); /* data has 8 bytes of slack */
			}
			base64(data, o.size, enc);
			snprintf(key, sizeof(key), "%016" PRIx64, xorshift(&seed));
			n += (size_t)snprintf(b->json + n, cap - n,
			                      "%s{\"Data\":\"%s\",\"PartitionKey\":\"%s\"}",
			                      i ? "," : "", enc, key);
		}
		n += (size_t)snprintf(b->json + n, cap - n, "]}");
		b->len = n;
		b->headers = headers_for("PutRecords", b->json, b->len);
		if (!b->headers)
			goto nomem;
	}
	free(data);
	free(enc);
	return 0;
nomem:
	free(data);
	free(enc);
	fprintf(stderr, "http_load: out of memory building bodies\n");
	return -ENOMEM;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct conn *c = arg;
	size_t len = size * n;

	if (c->len + len + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		char *a;

		while (cap < c->len + len + 1)
			cap *= 2;
		if (cap > MAX_ANSWER)
			return 0; /* curl fails the transfer: an answer this big is wrong */
		a = realloc(c->ans, cap);
		if (!a)
			return 0;
		c->ans = a;
		c->cap = cap;
	}
	memcpy(c->ans + c->len, p, len);
	c->len += len;
	c->ans[c->len] = 0;
	return len;
}

static void easy_setup(CURL *e, struct conn *c)
{
	curl_easy_setopt(e, CURLOPT_URL, o.url);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o.timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	                 o.http2 ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
	                         : (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)c);
	if (g.h2_fresh_easy)
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
}

/* One blocking call (set-up only): returns the HTTP status, the answer in
 * c->ans, or -1 on a transport error. */
static int call_once(const char *op, const char *body)
{
	struct conn c = {0};
	struct curl_slist *h;
	CURL *e = curl_easy_init();
	long status = -1;

	h = headers_for(op, body, strlen(body));
	if (!e || !h) {
		curl_slist_free_all(h);
		curl_easy_cleanup(e);
		return -1;
	}
	easy_setup(e, &c);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	snprintf(g.answer, sizeof(g.answer), "%s", c.ans ? c.ans : "");
	snprintf(ct.last_error, sizeof(ct.last_error), "%s: HTTP %ld %.300s", op, status,
	         c.ans ? c.ans : "");
	free(c.ans);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return (int)status;
}

/* The integer after "key": in text (-1 if absent). */
static long json_int(const char *text, const char *key)
{
	const char *p = text ? strstr(text, key) : NULL;

	if (!p)
		return -1;
	p += strlen(key);
	while (*p == '"' || *p == ':' || isspace((unsigned char)*p))
		p++;
	return isdigit((unsigned char)*p) ? strtol(p, NULL, 10) : -1;
}

/* CreateStream (an existing stream is fine), then DescribeStreamSummary
 * until ACTIVE. Learns the open shard count. */
static int stream_create(void)
{
	char body[256];
	int st;
	int64_t end;

	snprintf(body, sizeof(body), "{\"StreamName\":\"%s\",\"ShardCount\":%u}", o.stream,
	         o.create);
	st = call_once("CreateStream", body);
	if (st != 200 && !(st == 400 && strstr(ct.last_error, "ResourceInUseException"))) {
		fprintf(stderr, "http_load: CreateStream: %s\n", ct.last_error);
		return -EIO;
	}
	snprintf(body, sizeof(body), "{\"StreamName\":\"%s\"}", o.stream);
	for (end = mono_ns() + 30 * 1000000000ll; mono_ns() < end && !stop; usleep(50000)) {
		if (call_once("DescribeStreamSummary", body) == 200 &&
		    strstr(g.answer, "\"ACTIVE\"")) {
			long n = json_int(g.answer, "\"OpenShardCount\"");

			g.shards = n > 0 ? (unsigned)n : 0;
			return 0;
		}
	}
	fprintf(stderr, "http_load: %s not ACTIVE after 30 s: %s\n", o.stream, ct.last_error);
	return -ETIMEDOUT;
}

/* An idle slot, made on first use (open loop); NULL when all are busy or
 * curl has no memory. */
static struct conn *conn_get(void)
{
	struct conn *c;

	if (g.nidle)
		return g.idle[--g.nidle];
	if (g.nmade == g.nconns)
		return NULL;
	c = &g.conns[g.nmade];
	c->e = curl_easy_init();
	if (!c->e)
		return NULL;
	easy_setup(c->e, c);
	g.nmade++;
	return c;
}

/* Hands a request on c to curl; t0 is its start for latency (now, or the
 * due time in open loop). False if c cannot be used. */
static bool request_start(struct conn *c, int64_t t0, bool in_window)
{
	struct body *b = &g.bodies[g.next_body++ % g.nbodies];

	if (g.h2_fresh_easy && c->used) {
		CURL *e = curl_easy_init();

		if (!e)
			return false; /* this slot stops; the others go on */
		curl_easy_cleanup(c->e);
		c->e = e;
		easy_setup(e, c);
	}
	c->used = true;
	c->len = 0;
	c->in_window = in_window;
	curl_easy_setopt(c->e, CURLOPT_POSTFIELDS, b->json);
	curl_easy_setopt(c->e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
	curl_easy_setopt(c->e, CURLOPT_HTTPHEADER, b->headers);
	c->t0 = t0;
	c->busy = true;
	curl_multi_add_handle(g.multi, c->e);
	g.inflight++;
	if (g.inflight > g.max_inflight_seen)
		g.max_inflight_seen = g.inflight;
	ct.all_requests++;
	if (in_window)
		ct.requests++;
	return true;
}

static void request_done(struct conn *c, CURLcode rc, bool count)
{
	int64_t t1 = mono_ns();
	long status = 0;

	curl_multi_remove_handle(g.multi, c->e);
	c->busy = false;
	g.inflight--;
	if (rc == CURLE_OK)
		curl_easy_getinfo(c->e, CURLINFO_RESPONSE_CODE, &status);
	if (c->in_window)
		sl_hist_add_ns(&hist, t1 - c->t0);
	if (rc != CURLE_OK || status != 200) {
		ct.all_failed++;
		if (count)
			rc != CURLE_OK ? ct.net_errors++ : ct.http_errors++;
		ct.last_status = (int)status;
		snprintf(ct.last_error, sizeof(ct.last_error), "%s %.300s",
		         rc != CURLE_OK ? curl_easy_strerror(rc) : "", c->ans ? c->ans : "");
		return;
	}
	{
		long failed = json_int(c->ans, "\"FailedRecordCount\"");

		if (failed < 0)
			failed = 0;
		if ((unsigned long)failed > g.nrec)
			failed = g.nrec;
		ct.all_records_ok += g.nrec - (uint64_t)failed;
		ct.t_last = t1;
		if (!count)
			return;
		ct.done_ok++;
		ct.records_ok += g.nrec - (uint64_t)failed;
		ct.records_failed += (uint64_t)failed;
		ct.bytes_data += (uint64_t)(g.nrec - (uint64_t)failed) * o.size;
	}
}

/* CPU seconds (user + system) of a process from /proc/PID/stat, or -1. */
static double proc_cpu_s(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, stt;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')))
		return -1;
	/* After ") ": state(3) ... utime(14) stime(15). */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt) != 2)
		return -1;
	return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static struct {
	double window_s, client_cores, server_cores;
	double records_per_s, requests_per_s, data_mb_per_s;
	double run_s, whole_records_per_s; /* first send to last answer */
	double p50, p90, p99, p999, max, mean;
	bool interrupted;
} res;

/* Arms the timer at absolute monotonic time t (0: disarms). */
static void timer_at(int64_t t)
{
	struct itimerspec its = {0};

	if (g.timer_fd < 0)
		return;
	if (t > 0) {
		its.it_value.tv_sec = t / 1000000000;
		its.it_value.tv_nsec = t % 1000000000;
	}
	timerfd_settime(g.timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Open loop: sends what is due by now (request k at t_start + k * interval)
 * while a slot is free; returns the due time of the next one. */
static int64_t open_send_due(int64_t t_start, double interval, uint64_t *k, int64_t now,
                             int64_t t_win, int64_t t_end)
{
	static uint64_t cap_k = UINT64_MAX; /* the request last counted in cap_waits */

	for (;;) {
		int64_t due = t_start + (int64_t)((double)*k * interval);
		struct conn *c;

		if (due > now || due >= t_end ||
		    (o.max_requests && ct.all_requests >= o.max_requests))
			return due;
		c = conn_get();
		if (!c) {
			if (cap_k != *k) {
				cap_k = *k;
				ct.cap_waits++;
			}
			return due;
		}
		if (!request_start(c, due, due >= t_win)) {
			g.idle[g.nidle++] = c;
			return due;
		}
		if (now - due > LATE_NS)
			ct.late_sends++;
		if (now - due > ct.max_lag)
			ct.max_lag = now - due;
		(*k)++;
	}
}

/* Warm-up, window, drain; closed loop, or open loop with --rate. */
static void run(void)
{
	bool open = o.rate > 0;
	double interval = open ? 1e9 * g.nrec / o.rate : 0; /* ns between requests */
	int64_t t_start = ct.t_first = mono_ns();
	int64_t t_win = t_start + (int64_t)(o.warmup * 1e9);
	int64_t t_end = t_win + (int64_t)(o.seconds * 1e9), t_stop = 0;
	int64_t drain_end = 0, next_due = 0;
	uint64_t k = 0; /* open loop: the next request to send */
	double cpu0 = 0, srv0 = 0;
	bool in_window = o.warmup <= 0, issuing = true;

	if (in_window) {
		cpu0 = self_cpu_s();
		srv0 = o.server_pid ? proc_cpu_s(o.server_pid) : 0;
	}
	if (!open) {
		for (unsigned i = 0; i < g.nconns; i++) {
			struct conn *c = conn_get();

			if (c && !request_start(c, mono_ns(), in_window))
				g.idle[g.nidle++] = c;
		}
	}
	for (;;) {
		int running, left;
		CURLMsg *m;
		int64_t now;

		curl_multi_perform(g.multi, &running);
		while ((m = curl_multi_info_read(g.multi, &left))) {
			struct conn *c;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
			now = mono_ns();
			request_done(c, m->data.result, in_window && now < t_end);
			if (!open && issuing && !stop && request_start(c, now, in_window))
				continue;
			g.idle[g.nidle++] = c;
		}
		now = mono_ns();
		if (!in_window && now >= t_win) {
			in_window = true;
			if (!open)
				t_win = now; /* open loop: the schedule fixes the window */
			t_end = t_win + (int64_t)(o.seconds * 1e9);
			cpu0 = self_cpu_s();
			srv0 = o.server_pid ? proc_cpu_s(o.server_pid) : 0;
		}
		if (open && issuing && !stop)
			next_due = open_send_due(t_start, interval, &k, now, t_win, t_end);
		if (issuing && (stop || (in_window && now >= t_end) ||
		                (o.max_requests && ct.all_requests >= o.max_requests))) {
			issuing = false;
			t_stop = now < t_end ? now : t_end;
			res.window_s = in_window ? (double)(t_stop - t_win) / 1e9 : 0;
			res.client_cores =
			        res.window_s > 0 ? (self_cpu_s() - cpu0) / res.window_s : 0;
			if (o.server_pid && res.window_s > 0)
				res.server_cores = (proc_cpu_s(o.server_pid) - srv0) / res.window_s;
			drain_end = now + (int64_t)o.timeout_ms * 1000000 + 1000000000;
			if (o.max_requests && now < t_end)
				t_end = now; /* what completes after this is drain */
			/* Due in the window and never sent: charged their age. */
			for (; open && !o.max_requests; k++) {
				int64_t due = t_start + (int64_t)((double)k * interval);

				if (due >= t_stop)
					break;
				if (due >= t_win) {
					sl_hist_add_ns(&hist, t_stop - due);
					ct.not_sent++;
					ct.requests++;
				}
			}
			timer_at(0);
		}
		if (!issuing && (g.inflight == 0 || now > drain_end))
			break; /* curl's own timeouts should have ended them */
		if (open && issuing) {
			/* Wake at the next due time unless every slot is busy (an
			 * answer wakes the poll then); the window's end too. */
			int64_t wake = g.nidle || g.nmade < g.nconns ? next_due : t_end;

			timer_at(wake < t_end ? wake : t_end);
			{
				struct curl_waitfd w = {.fd = g.timer_fd,
				                        .events = CURL_WAIT_POLLIN};
				uint64_t ticks;

				curl_multi_poll(g.multi, &w, 1, 100, NULL);
				if (read(g.timer_fd, &ticks, sizeof(ticks)) < 0)
					(void)0; /* not expired yet: EAGAIN */
			}
		} else {
			curl_multi_poll(g.multi, NULL, 0, 5, NULL);
		}
	}
	res.interrupted = stop;
}

static void result_compute(void)
{
	double w = res.window_s > 0 ? res.window_s : 1e-9;

	res.records_per_s = (double)ct.records_ok / w;
	res.run_s = ct.t_last > ct.t_first ? (double)(ct.t_last - ct.t_first) / 1e9 : 0;
	res.whole_records_per_s = res.run_s > 0 ? (double)ct.all_records_ok / res.run_s : 0;
	res.requests_per_s = (double)ct.done_ok / w;
	res.data_mb_per_s = (double)ct.bytes_data / w / 1e6;
	res.p50 = (double)sl_hist_percentile(&hist, 50);
	res.p90 = (double)sl_hist_percentile(&hist, 90);
	res.p99 = (double)sl_hist_percentile(&hist, 99);
	res.p999 = (double)sl_hist_percentile(&hist, 99.9);
	res.max = (double)hist.max;
	res.mean = sl_hist_mean(&hist);
}

static void setup_print(void)
{
	printf("http_load%s%s: %s stream %s (%u open shards), %s, PutRecords of %u records x %u B"
	       "%s, random %d-char keys, %u distinct bodies of %zu B\n",
	       o.label ? " " : "", o.label ? o.label : "", o.url, o.stream, g.shards,
	       o.http2 ? "HTTP/2 (h2c prior knowledge)" : "HTTP/1.1 keep-alive", g.nrec, o.size,
	       g.nrec < o.batch ? " (--batch cut to Kinesis' 5 MiB per request)" : "", KEY_CHARS,
	       g.nbodies, g.bodies[0].len);
	if (o.rate > 0)
		printf("  load:       open loop, %.0f records/s offered (%.1f requests/s), latency "
		       "from the scheduled send; at most %u requests in flight\n",
		       o.rate, o.rate / g.nrec, g.nconns);
	else
		printf("  load:       closed loop, %u requests in flight, latency from the send\n",
		       g.nconns);
	printf("  machine:    %s, %ld CPUs, %s; load avg %s\n", g.cpu,
	       sysconf(_SC_NPROCESSORS_ONLN), g.kernel, g.loadavg[0]);
	printf("  window:     %.1f s after %.1f s warm-up%s\n", o.seconds, o.warmup,
	       o.max_requests ? " (or --max-requests)" : "");
	if (g.h2_fresh_easy)
		printf("  note:       libcurl %s cannot send a second h2c request on a "
		       "connection: one connection per request (see the source)\n",
		       curl_version_info(CURLVERSION_NOW)->version);
	fflush(stdout);
}

static void result_print(void)
{
	printf("  result:     %.0f records/s, %.0f requests/s, %.2f MB/s of record data over "
	       "%.2f s%s\n",
	       res.records_per_s, res.requests_per_s, res.data_mb_per_s, res.window_s,
	       res.interrupted ? " (interrupted)" : "");
	if (ct.done_ok < 5)
		printf("  note:       only %" PRIu64 " requests completed in the window; over the "
		       "whole run (first send to last answer, %.2f s) %.1f records/s\n",
		       ct.done_ok, res.run_s, res.whole_records_per_s);
	if (o.rate > 0)
		printf("  open loop:  %.0f records/s offered, achieved %.3f of it; %" PRIu64
		       " sends more than 1 ms late (worst %.3f ms), %" PRIu64
		       " waited for a free slot, %" PRIu64 " never sent; at most %u in flight\n",
		       o.rate, res.records_per_s / o.rate, ct.late_sends, (double)ct.max_lag / 1e6,
		       ct.cap_waits, ct.not_sent, g.max_inflight_seen);
	printf("  latency:    per request, ms: p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  "
	       "(n=%" PRIu64 ")\n",
	       res.p50 / 1e6, res.p90 / 1e6, res.p99 / 1e6, res.p999 / 1e6, res.max / 1e6,
	       hist.count);
	printf("  errors:     %" PRIu64 " HTTP, %" PRIu64 " transport, %" PRIu64
	       " failed records (in the window); %" PRIu64 " of %" PRIu64
	       " requests failed in all\n",
	       ct.http_errors, ct.net_errors, ct.records_failed, ct.all_failed, ct.all_requests);
	if (ct.all_failed)
		printf("  last error: HTTP %d %s\n", ct.last_status, ct.last_error);
	printf("  cpu:        client %.2f cores", res.client_cores);
	if (o.server_pid)
		printf(", server %.2f cores (pid %ld): %.0f records per server CPU-second",
		       res.server_cores, o.server_pid,
		       res.server_cores > 0 ? res.records_per_s / res.server_cores : 0);
	printf("; load avg at the end %s\n", g.loadavg[1]);
	fflush(stdout);
}

/* The run in the harness's common form (perf/README.md: "runs"). */
static void json_run(FILE *f)
{
	fprintf(f, "  \"runs\": [{\"label\": ");
	sl_machine_json_str(f, o.label ? o.label : "");
	fprintf(f, ", \"loop\": \"%s\", \"offered_rps\": ", o.rate > 0 ? "open" : "closed");
	if (o.rate > 0)
		fprintf(f, "%.1f", o.rate);
	else
		fprintf(f, "null");
	fprintf(f,
	        ", \"in_flight\": %u, \"record_bytes\": %u, \"records_per_request\": %u, "
	        "\"shards\": %u, \"http\": \"%s\",\n    \"records_per_s\": %.1f, \"mb_per_s\": "
	        "%.4f, \"requests_per_s\": %.1f, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": "
	        "%.1f, \"p999_us\": %.1f, \"max_us\": %.1f, \"mean_us\": %.1f, \"latency_count\": "
	        "%" PRIu64 ",\n    \"late_sends\": %" PRIu64 ", \"max_lag_us\": %.1f, "
	        "\"cap_waits\": %" PRIu64 ", \"not_sent\": %" PRIu64
	        ", \"max_in_flight_seen\": %u, \"window_s\": %.4f, \"requests_ok\": %" PRIu64
	        ", \"records_per_s_whole_run\": %.1f, \"run_s\": %.3f}],\n",
	        g.nconns, o.size, g.nrec, g.shards, o.http2 ? "h2c" : "http/1.1", res.records_per_s,
	        res.data_mb_per_s, res.requests_per_s, res.p50 / 1e3, res.p90 / 1e3, res.p99 / 1e3,
	        res.p999 / 1e3, res.max / 1e3, res.mean / 1e3, hist.count, ct.late_sends,
	        (double)ct.max_lag / 1e3, ct.cap_waits, ct.not_sent, g.max_inflight_seen,
	        res.window_s, ct.done_ok, res.whole_records_per_s, res.run_s);
}

static int json_write(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	fprintf(f, "{\n  \"benchmark\": \"http_load\",\n  \"label\": ");
	sl_machine_json_str(f, o.label ? o.label : "");
	fprintf(f, ",\n  \"setup\": {\"cpu\": ");
	sl_machine_json_str(f, g.cpu);
	fprintf(f, ", \"cpus\": %ld, \"kernel\": ", sysconf(_SC_NPROCESSORS_ONLN));
	sl_machine_json_str(f, g.kernel);
	fprintf(f, ", \"libcurl\": ");
	sl_machine_json_str(f, curl_version_info(CURLVERSION_NOW)->version);
	fprintf(f, ", \"url\": ");
	sl_machine_json_str(f, o.url);
	fprintf(f, ", \"stream\": ");
	sl_machine_json_str(f, o.stream);
	fprintf(f,
	        ", \"shards\": %u, \"http\": \"%s\", \"loop\": \"%s\", \"offered_rps\": %.1f, "
	        "\"in_flight\": %u, \"records_per_request\": %u, \"batch_requested\": %u, "
	        "\"record_bytes\": %u, \"key_chars\": %d, \"bodies\": %u, \"body_bytes\": %zu, "
	        "\"warmup_s\": %.3f, \"seconds\": %.3f, \"max_requests\": %" PRIu64
	        ", \"timeout_ms\": %u, \"loadavg_start\": ",
	        g.shards, o.http2 ? "h2c" : "http/1.1", o.rate > 0 ? "open" : "closed", o.rate,
	        g.nconns, g.nrec, o.batch, o.size, KEY_CHARS, g.nbodies, g.bodies[0].len, o.warmup,
	        o.seconds, o.max_requests, o.timeout_ms);
	sl_machine_json_str(f, g.loadavg[0]);
	fprintf(f, ", \"loadavg_end\": ");
	sl_machine_json_str(f, g.loadavg[1]);
	fprintf(f, "},\n");
	json_run(f);
	fprintf(f,
	        "  \"result\": {\"window_s\": %.4f, \"interrupted\": %s, \"records_per_s\": "
	        "%.1f, \"requests_per_s\": %.1f, \"data_mb_per_s\": %.4f, \"records_ok\": %" PRIu64
	        ", \"requests_ok\": %" PRIu64 ", \"all_records_ok\": %" PRIu64
	        ", \"run_s\": %.3f, \"records_per_s_whole_run\": %.1f,\n    \"latency_ms\": "
	        "{\"count\": %" PRIu64
	        ", \"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"p99_9\": %.3f, \"max\": %.3f, "
	        "\"mean\": %.3f},\n    \"open_loop\": {\"offered_rps\": %.1f, "
	        "\"achieved_over_offered\": %.4f, \"late_sends\": %" PRIu64
	        ", \"max_lag_ms\": %.3f, \"cap_waits\": %" PRIu64 ", \"not_sent\": %" PRIu64
	        ", \"max_in_flight_seen\": %u},\n    \"errors\": {\"http\": %" PRIu64
	        ", \"transport\": %" PRIu64 ", \"failed_records\": %" PRIu64
	        ", \"all_failed\": %" PRIu64 ", \"all_requests\": %" PRIu64
	        "},\n    \"cpu\": {\"client_cores\": %.3f",
	        res.window_s, res.interrupted ? "true" : "false", res.records_per_s,
	        res.requests_per_s, res.data_mb_per_s, ct.records_ok, ct.done_ok, ct.all_records_ok,
	        res.run_s, res.whole_records_per_s, hist.count, res.p50 / 1e6, res.p90 / 1e6,
	        res.p99 / 1e6, res.p999 / 1e6, res.max / 1e6, res.mean / 1e6, o.rate,
	        o.rate > 0 ? res.records_per_s / o.rate : 0, ct.late_sends,
	        (double)ct.max_lag / 1e6, ct.cap_waits, ct.not_sent, g.max_inflight_seen,
	        ct.http_errors, ct.net_errors, ct.records_failed, ct.all_failed, ct.all_requests,
	        res.client_cores);
	if (o.server_pid)
		fprintf(f, ", \"server_cores\": %.3f, \"server_pid\": %ld", res.server_cores,
		        o.server_pid);
	fprintf(f, "}}\n}\n");
	return fclose(f) == 0 ? 0 : -errno;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: http_load [OPTIONS]   Kinesis PutRecords load over HTTP (see the file's "
	        "comment)\n"
	        "  --url URL           the server (http://127.0.0.1:4567/)\n"
	        "  --stream NAME       the stream (bench)\n"
	        "  --create SHARDS     create it first (an existing one is fine), wait for ACTIVE\n"
	        "  --connections N     closed loop: requests in flight (16; at most %d)\n"
	        "  --rate R            open loop at R records/s (default: closed loop)\n"
	        "  --max-inflight N    open loop: at most N requests in flight (1000; at most %d)\n"
	        "  --batch B           records per PutRecords (100; 1..%d), cut to what fits "
	        "5 MiB\n"
	        "  --size S            data bytes per record (100; S + 16-char key <= 1 MiB)\n"
	        "  --bodies K          distinct prebuilt request bodies sent in turn (64; fewer "
	        "past 64 MiB)\n"
	        "  --warmup S          seconds before the window (1)\n"
	        "  --seconds S         measured seconds (5)\n"
	        "  --max-requests M    stop sending after M requests in all (0: no limit)\n"
	        "  --timeout-ms MS     per request (10000)\n"
	        "  --http2             h2c (HTTP/2 prior knowledge) instead of HTTP/1.1\n"
	        "  --server-pid PID    also report that process's CPU over the window\n"
	        "  --label TEXT        a name for the run (printed, and in the JSON)\n"
	        "  --json FILE         write setup and results as JSON\n",
	        MAX_CONNS, MAX_INFLIGHT, MAX_BATCH);
}

static int parse_opts(int argc, char **argv)
{
	static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
	                                     {"stream", required_argument, NULL, 's'},
	                                     {"create", required_argument, NULL, 'C'},
	                                     {"connections", required_argument, NULL, 'c'},
	                                     {"rate", required_argument, NULL, 'r'},
	                                     {"max-inflight", required_argument, NULL, 'i'},
	                                     {"batch", required_argument, NULL, 'b'},
	                                     {"size", required_argument, NULL, 'z'},
	                                     {"bodies", required_argument, NULL, 'k'},
	                                     {"warmup", required_argument, NULL, 'w'},
	                                     {"seconds", required_argument, NULL, 't'},
	                                     {"max-requests", required_argument, NULL, 'm'},
	                                     {"timeout-ms", required_argument, NULL, 'T'},
	                                     {"http2", no_argument, NULL, '2'},
	                                     {"server-pid", required_argument, NULL, 'p'},
	                                     {"label", required_argument, NULL, 'l'},
	                                     {"json", required_argument, NULL, 'j'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end = NULL;
		double d = 0;
		unsigned long long v = 0;

		if (optarg) {
			errno = 0;
			d = strtod(optarg, &end);
			if (errno || end == optarg || *end)
				d = -1;
			v = d >= 0 && d < 1.8e19 && d == (double)(unsigned long long)d
			            ? (unsigned long long)d
			            : ~0ull;
		}
		switch (c) {
		case 'u':
			o.url = optarg;
			break;
		case 's':
			o.stream = optarg;
			break;
		case 'C':
			o.create = (unsigned)v;
			if (v < 1 || v > 10000)
				goto bad;
			break;
		case 'c':
			o.conns = (unsigned)v;
			if (v < 1 || v > MAX_CONNS)
				goto bad;
			break;
		case 'r':
			o.rate = d;
			if (d < 1 || d > 1e9)
				goto bad;
			break;
		case 'i':
			o.max_inflight = (unsigned)v;
			if (v < 1 || v > MAX_INFLIGHT)
				goto bad;
			break;
		case 'b':
			o.batch = (unsigned)v;
			if (v < 1 || v > MAX_BATCH)
				goto bad;
			break;
		case 'z':
			o.size = (unsigned)v;
			if (v + KEY_CHARS > MAX_RECORD)
				goto bad;
			break;
		case 'k':
			o.bodies = (unsigned)v;
			if (v < 1 || v > 100000)
				goto bad;
			break;
		case 'w':
			o.warmup = d;
			if (d < 0 || d > 3600)
				goto bad;
			break;
		case 't':
			o.seconds = d;
			if (d <= 0 || d > 3600)
				goto bad;
			break;
		case 'm':
			o.max_requests = v;
			if (v == ~0ull)
				goto bad;
			break;
		case 'T':
			o.timeout_ms = (unsigned)v;
			if (v < 1 || v > 600000)
				goto bad;
			break;
		case '2':
			o.http2 = true;
			break;
		case 'p':
			o.server_pid = (long)v;
			if (v < 1 || v > 1u << 30)
				goto bad;
			break;
		case 'l':
			o.label = optarg;
			break;
		case 'j':
			o.json = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
		continue;
	bad:
		for (const struct option *p = opts; p->name; p++)
			if (p->val == c)
				fprintf(stderr, "http_load: bad value '%s' for --%s (see --help)\n",
				        optarg, p->name);
		return -EINVAL;
	}
	if (optind < argc) {
		usage(stderr);
		return -EINVAL;
	}
	if (strlen(o.stream) > 128 || strncmp(o.url, "http://", 7) != 0) {
		fprintf(stderr, "http_load: --url must be http://HOST[:PORT]/..., --stream at most "
		                "128 characters\n");
		return -EINVAL;
	}
	return 0;
}

/* Open loop: every request in flight may hold a socket; raise the soft
 * descriptor limit to the hard one and keep --max-inflight under it. */
static int fd_room(void)
{
	struct rlimit rl;
	unsigned room;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	room = rl.rlim_cur > 64 + MAX_INFLIGHT ? MAX_INFLIGHT : (unsigned)rl.rlim_cur - 64;
	if (g.nconns > room) {
		fprintf(stderr,
		        "http_load: --max-inflight %u needs that many sockets; the descriptor "
		        "limit allows %u\n",
		        g.nconns, room);
		return -EMFILE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	int ret = 1, rc;
	time_t now = time(NULL);
	struct tm tm;

	if (parse_opts(argc, argv) < 0)
		return 2;
	g.nrec = records_per_request();
	g.nconns = o.rate > 0 ? o.max_inflight : o.conns;
	if (fd_room() < 0)
		return 2;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A hard bound on the whole run, set-up and drain included. */
	sigaction(SIGALRM, &sa, NULL);
	alarm((unsigned)(o.warmup + o.seconds) + o.timeout_ms / 1000 + 60);

	{
		const char *h = o.url + 7;
		size_t n = strcspn(h, "/");

		snprintf(g.host, sizeof(g.host), "%.*s", (int)n, h);
	}
	gmtime_r(&now, &tm);
	strftime(g.amz_date, sizeof(g.amz_date), "%Y%m%dT%H%M%SZ", &tm);
	sl_machine_cpu_model(g.cpu, sizeof(g.cpu));
	sl_machine_kernel(g.kernel, sizeof(g.kernel));
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "http_load: curl_global_init failed\n");
		return 1;
	}
	g.h2_fresh_easy = o.http2 && curl_version_info(CURLVERSION_NOW)->version_num < 0x080000;
	if (o.create && stream_create() < 0)
		goto out;
	if (bodies_make() < 0)
		goto out;
	g.multi = curl_multi_init();
	g.conns = calloc(g.nconns, sizeof(*g.conns));
	g.idle = calloc(g.nconns, sizeof(*g.idle));
	if (!g.multi || !g.conns || !g.idle)
		goto out;
	if (o.rate > 0) {
		g.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (g.timer_fd < 0) {
			perror("http_load: timerfd_create");
			goto out;
		}
	}
	/* Never more connections than requests in flight, and all of them kept
	 * for reuse (curl's default cache is sized by the handles added). */
	curl_multi_setopt(g.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)g.nconns);
	curl_multi_setopt(g.multi, CURLMOPT_MAXCONNECTS, (long)g.nconns);
	sl_hist_reset(&hist);
	sl_machine_read_line("/proc/loadavg", g.loadavg[0], sizeof(g.loadavg[0]));
	setup_print();
	run();
	sl_machine_read_line("/proc/loadavg", g.loadavg[1], sizeof(g.loadavg[1]));
	result_compute();
	result_print();
	ret = 0;
	if (ct.all_requests == 0 || ct.done_ok == 0 ||
	    (double)ct.all_failed > 0.01 * (double)ct.all_requests || res.interrupted) {
		fprintf(stderr, "http_load: %" PRIu64 " of %" PRIu64 " requests failed%s\n",
		        ct.all_failed, ct.all_requests, res.interrupted ? " (interrupted)" : "");
		ret = 1;
	}
	if (o.json && (rc = json_write(o.json)) < 0) {
		fprintf(stderr, "http_load: %s: %s\n", o.json, strerror(-rc));
		ret = 1;
	}
out:
	for (unsigned i = 0; g.conns && i < g.nmade; i++) {
		if (g.conns[i].busy)
			curl_multi_remove_handle(g.multi, g.conns[i].e);
		curl_easy_cleanup(g.conns[i].e);
		free(g.conns[i].ans);
	}
	free(g.conns);
	free(g.idle);
	if (g.multi)
		curl_multi_cleanup(g.multi);
	if (g.timer_fd >= 0)
		close(g.timer_fd);
	for (unsigned k = 0; g.bodies && k < g.nbodies; k++) {
		free(g.bodies[k].json);
		curl_slist_free_all(g.bodies[k].headers);
	}
	free(g.bodies);
	curl_global_cleanup();
	return ret;
}

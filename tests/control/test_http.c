/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP server, talked to with plain sockets: HTTP/1.1 keep-alive and
 * pipelining, the body limit, the io timeout, garbage, max_connections,
 * max_pending, answers from a timer and after the client left; HTTP/2 with
 * prior knowledge through curl (when it speaks HTTP/2) and through a small
 * hand-built client (preface, SETTINGS, HEADERS with HPACK literals, DATA)
 * that also sends bad frames. The server runs on port 0 in a thread; no
 * assertion depends on how long anything takes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "http.h"

#define MAX_BODY   65536
#define IO_TIMEOUT 5000 /* long enough that no test trips it by being slow */
#define SHORT_IO   300  /* the tests of the timeout itself */
#define MAX_HELD   64

/*
 * Not ours, for LeakSanitizer: h2o 2.2 keeps freed buffers in per-thread
 * caches that die with the loop thread, and never frees the struct of the
 * queue its context makes (h2o_multithread_destroy_queue on evloop).
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:h2o_mem_alloc_recycle\n"
	       "leak:h2o_multithread_create_queue\n";
}

/* ---- the server under test ---- */

struct srv {
	struct sl_http *h;
	pthread_t th;
	bool running;
	uint16_t port;
	int ctl_fd; /* the test writes: answer every held request */
	atomic_int handled, held, gone, ticks;
	/* loop thread only (and the test after the loop stopped) */
	struct sl_http_req *hold[MAX_HELD], *later[MAX_HELD];
	int nhold, nlater;
};

static struct srv S;

static bool starts(const char *s, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && memcmp(s, prefix, k) == 0;
}

/* /headers: a dump of what the handler sees, as the body. */
static void dump_headers(struct sl_http_req *r)
{
	char buf[8192];
	size_t off = 0, n, vl;
	const char *name, *value, *v;

	off += (size_t)snprintf(buf + off, sizeof(buf) - off, "version: %s\n",
	                        sl_http_req_version(r));
	for (size_t i = 0; sl_http_req_header_at(r, i, &name, &n, &value, &vl); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%.*s: %.*s\n", (int)n, name,
		                        (int)vl, value);
	v = sl_http_req_header(r, "X-AMZ-TARGET", &vl);
	if (v)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "lookup: %.*s\n", (int)vl, v);
	sl_http_respond(r, 200, "text/plain", buf, SL_MIN(off, sizeof(buf) - 1));
}

static void handler(void *arg, struct sl_http_req *r)
{
	struct srv *s = arg;
	size_t plen, blen;
	const char *path = sl_http_req_path(r, &plen);
	const void *body = sl_http_req_body(r, &blen);
	char num[32];

	atomic_fetch_add(&s->handled, 1);
	if (starts(path, plen, "/hold") && s->nhold < MAX_HELD) {
		s->hold[s->nhold++] = r;
		atomic_fetch_add(&s->held, 1);
		return;
	}
	if (starts(path, plen, "/later") && s->nlater < MAX_HELD) {
		s->later[s->nlater++] = r;
		return;
	}
	if (starts(path, plen, "/headers")) {
		dump_headers(r);
		return;
	}
	snprintf(num, sizeof(num), "%zu", blen);
	sl_http_add_header(r, "X-Body-Len", num);
	sl_http_add_header(r, "X-Version", sl_http_req_version(r));
	sl_http_add_header(r, "X-Bad", "a\r\nInjected: 1"); /* refused */
	sl_http_add_header(r, "Bad Name", "x");             /* refused */
	sl_http_respond(r, 200, "application/octet-stream", body, blen);
}

/* Every 5 ms: answers /later, and counts held requests whose client left. */
static void on_tick(void *arg)
{
	struct srv *s = arg;
	int gone = 0;

	for (int i = 0; i < s->nlater; i++) {
		size_t plen;
		const char *p = sl_http_req_path(s->later[i], &plen);
		char buf[128];
		int n = snprintf(buf, sizeof(buf), "late:%.*s", (int)plen, p);

		sl_http_respond(s->later[i], 200, "text/plain", buf, (size_t)n);
	}
	s->nlater = 0;
	for (int i = 0; i < s->nhold; i++)
		gone += sl_http_req_gone(s->hold[i]) != 0;
	atomic_store(&s->gone, gone);
	atomic_fetch_add(&s->ticks, 1);
}

static void on_ctl(void *arg)
{
	struct srv *s = arg;
	uint64_t v;

	struct sl_http_req *hold[MAX_HELD];
	int n = s->nhold;

	if (read(s->ctl_fd, &v, sizeof(v)) != sizeof(v))
		return;
	/* Counters first: the client may read the answer before we return. */
	memcpy(hold, s->hold, sizeof(hold[0]) * (size_t)n);
	s->nhold = 0;
	atomic_store(&s->held, 0);
	atomic_store(&s->gone, 0);
	for (int i = 0; i < n; i++)
		sl_http_respond(hold[i], 200, "text/plain", "released", 8);
}

static void *run_thread(void *arg)
{
	struct srv *s = arg;

	(void)sl_http_run(s->h);
	return NULL;
}

static void test_config(struct sl_http_config *c)
{
	sl_http_config_default(c);
	c->host = "127.0.0.1";
	c->port = 0;
	c->max_body_bytes = MAX_BODY;
	c->io_timeout_ms = IO_TIMEOUT;
	c->max_connections = 16;
	c->max_pending = 16;
}

static void start(const struct sl_http_config *c)
{
	memset(&S, 0, sizeof(S));
	S.ctl_fd = eventfd(0, EFD_CLOEXEC);
	cr_assert_geq(S.ctl_fd, 0);
	cr_assert_eq(sl_http_create(c, handler, &S, &S.h), 0, "%s", sl_errmsg());
	S.port = sl_http_port(S.h);
	cr_assert_neq(S.port, 0);
	cr_assert_eq(sl_http_watch_fd(S.h, S.ctl_fd, on_ctl, &S), 0);
	cr_assert_eq(sl_http_every(S.h, 5, on_tick, &S), 0);
	cr_assert_eq(pthread_create(&S.th, NULL, run_thread, &S), 0);
	S.running = true;
}

static void start_default(void)
{
	struct sl_http_config c;

	test_config(&c);
	start(&c);
}

static void start_short_io(void)
{
	struct sl_http_config c;

	test_config(&c);
	c.io_timeout_ms = SHORT_IO;
	start(&c);
}

static void stop(void)
{
	if (!S.running)
		return;
	sl_http_stop(S.h);
	pthread_join(S.th, NULL);
	S.running = false;
	/* Requests still held are valid until answered; the answers go nowhere. */
	for (int i = 0; i < S.nhold; i++)
		sl_http_respond(S.hold[i], 200, NULL, NULL, 0);
	for (int i = 0; i < S.nlater; i++)
		sl_http_respond(S.later[i], 200, NULL, NULL, 0);
	S.nhold = S.nlater = 0;
	sl_http_free(S.h);
	S.h = NULL;
	close(S.ctl_fd);
}

static void release_held(void)
{
	uint64_t one = 1;

	cr_assert_eq(write(S.ctl_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

static void wait_atomic_geq(atomic_int *v, int n)
{
	while (atomic_load(v) < n)
		usleep(1000);
}

TestSuite(http, .fini = stop, .timeout = 120);

/* ---- a minimal HTTP/1.1 client ---- */

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	cr_assert_geq(fd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Sends all of buf; false if the server closed first (never SIGPIPE). */
static bool send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

static void send_str(int fd, const char *s)
{
	cr_assert(send_all(fd, s, strlen(s)));
}

struct resp {
	int status;
	char head[8192];
	char *body;
	size_t len;
};

/* Per connection: bytes read past the last response (pipelining). */
struct conn_buf {
	char data[1 << 18];
	size_t len;
};

static struct conn_buf CB;

static ssize_t fill(int fd, struct conn_buf *b)
{
	ssize_t k;

	if (b->len == sizeof(b->data))
		return -1;
	do
		k = recv(fd, b->data + b->len, sizeof(b->data) - b->len, 0);
	while (k < 0 && errno == EINTR);
	if (k > 0)
		b->len += (size_t)k;
	return k;
}

static void consume(struct conn_buf *b, size_t n)
{
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

/* Reads one response with a Content-Length; false if the connection closed
 * before it was whole. The caller frees r->body. */
static bool read_response_buf(int fd, struct conn_buf *b, struct resp *r)
{
	char *end, *cl;
	size_t hlen, blen = 0;

	memset(r, 0, sizeof(*r));
	while (!(end = memmem(b->data, b->len, "\r\n\r\n", 4)))
		if (fill(fd, b) <= 0)
			return false;
	hlen = (size_t)(end - b->data) + 4;
	cr_assert_lt(hlen, sizeof(r->head));
	memcpy(r->head, b->data, hlen);
	r->head[hlen] = '\0';
	cr_assert_eq(sscanf(r->head, "HTTP/1.%*d %d", &r->status), 1, "%s", r->head);
	cl = strcasestr(r->head, "\r\ncontent-length:");
	if (cl)
		blen = strtoul(cl + 17, NULL, 10);
	while (b->len < hlen + blen)
		if (fill(fd, b) <= 0)
			return false;
	r->body = malloc(blen + 1);
	memcpy(r->body, b->data + hlen, blen);
	r->body[blen] = '\0';
	r->len = blen;
	consume(b, hlen + blen);
	return true;
}

static bool read_response(int fd, struct resp *r)
{
	return read_response_buf(fd, &CB, r);
}

static bool has_header(const struct resp *r, const char *line)
{
	return strcasestr(r->head, line) != NULL;
}

/* Reads until the server closes (EOF or reset); true when it did. */
static bool wait_closed(int fd)
{
	char buf[4096];

	for (;;) {
		ssize_t k = recv(fd, buf, sizeof(buf), 0);

		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return true;
		if (k < 0 && errno != EINTR)
			return false;
	}
}

/* A fresh connection, one request, one response: the server is well. */
static void assert_healthy(void)
{
	struct resp r;
	int fd = tcp_connect(S.port);

	CB.len = 0;
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok");
	cr_assert(read_response(fd, &r));
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "ok");
	free(r.body);
	close(fd);
}

/* ---- HTTP/1.1 ---- */

Test(http, serves_keep_alive_requests_on_one_connection)
{
	struct resp r;
	char req[256];
	int fd;

	start_default();
	fd = tcp_connect(S.port);
	CB.len = 0;
	for (int i = 0; i < 5; i++) {
		snprintf(req, sizeof(req),
		         "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\nbody-%d",
		         6 + (i >= 10), i);
		send_str(fd, req);
		cr_assert(read_response(fd, &r), "request %d", i);
		cr_assert_eq(r.status, 200);
		cr_assert(has_header(&r, "\r\nx-body-len: 6\r\n"), "%s", r.head);
		cr_assert(has_header(&r, "\r\nx-version: HTTP/1.1\r\n"), "%s", r.head);
		cr_assert(has_header(&r, "\r\ncontent-type: application/octet-stream\r\n"));
		cr_assert(!has_header(&r, "injected"), "%s", r.head);
		cr_assert(!has_header(&r, "x-bad"), "%s", r.head);
		cr_assert(!has_header(&r, "connection: close"), "%s", r.head);
		snprintf(req, sizeof(req), "body-%d", i);
		cr_assert_str_eq(r.body, req);
		free(r.body);
	}
	close(fd);
	cr_assert_eq(atomic_load(&S.handled), 5);
}

Test(http, answers_pipelined_requests_in_order)
{
	const char *reqs = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\none"
	                   "GET /later/two HTTP/1.1\r\nHost: t\r\n\r\n"
	                   "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nthree";
	static const char *const want[] = {"one", "late:/later/two", "three"};
	struct resp r;
	int fd;

	start_default();
	fd = tcp_connect(S.port);
	CB.len = 0;
	send_str(fd, reqs);
	for (int i = 0; i < 3; i++) {
		cr_assert(read_response(fd, &r), "response %d", i);
		cr_assert_eq(r.status, 200);
		cr_assert_str_eq(r.body, want[i]);
		free(r.body);
	}
	close(fd);
}

Test(http, answers_later_from_a_timer)
{
	struct resp r;
	int fd;

	start_default();
	fd = tcp_connect(S.port);
	CB.len = 0;
	send_str(fd, "GET /later?x=1 HTTP/1.1\r\nHost: t\r\n\r\n");
	cr_assert(read_response(fd, &r));
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "late:/later?x=1");
	free(r.body);
	close(fd);
}

Test(http, accepts_a_body_at_the_limit_and_refuses_one_over_it)
{
	char *body = malloc(MAX_BODY + 1), head[256];
	struct resp r;
	int fd;

	start_default();
	for (size_t i = 0; i <= MAX_BODY; i++)
		body[i] = (char)('a' + i % 26);

	fd = tcp_connect(S.port);
	CB.len = 0;
	snprintf(head, sizeof(head), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n",
	         MAX_BODY);
	send_str(fd, head);
	cr_assert(send_all(fd, body, MAX_BODY));
	cr_assert(read_response(fd, &r));
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.len, MAX_BODY);
	cr_assert_eq(memcmp(r.body, body, MAX_BODY), 0);
	free(r.body);

	/* One byte more: 413 from the server as soon as it sees the length,
	 * and the handler never runs. */
	int seen = atomic_load(&S.handled);

	snprintf(head, sizeof(head), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n",
	         MAX_BODY + 1);
	send_str(fd, head);
	cr_assert(read_response(fd, &r));
	cr_assert_eq(r.status, 413);
	free(r.body);
	cr_assert(wait_closed(fd));
	close(fd);

	/* Chunked, over the limit: 413 too. */
	fd = tcp_connect(S.port);
	CB.len = 0;
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	/* Two chunks make the limit: the server answers, nothing is left unread. */
	for (int i = 0; i < 2; i++) {
		snprintf(head, sizeof(head), "%x\r\n", MAX_BODY / 2);
		send_str(fd, head);
		cr_assert(send_all(fd, body, MAX_BODY / 2));
		send_str(fd, "\r\n");
	}
	cr_assert(read_response(fd, &r));
	cr_assert_eq(r.status, 413);
	free(r.body);
	close(fd);
	cr_assert_eq(atomic_load(&S.handled), seen);

	/* A chunked body under the limit is reassembled. */
	fd = tcp_connect(S.port);
	CB.len = 0;
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	             "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
	cr_assert(read_response(fd, &r));
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "abcde");
	free(r.body);
	close(fd);
	free(body);
}

Test(http, closes_half_sent_and_idle_connections_after_the_io_timeout)
{
	static const char *const partial[] = {
	        "",                                           /* nothing */
	        "POST /echo HTT",                             /* request line */
	        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-", /* headers */
	        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc", /* body */
	};
	int fds[4];

	start_short_io();
	for (int i = 0; i < 4; i++) {
		fds[i] = tcp_connect(S.port);
		if (*partial[i])
			send_str(fds[i], partial[i]);
	}
	for (int i = 0; i < 4; i++) {
		cr_assert(wait_closed(fds[i]), "case %d", i);
		close(fds[i]);
	}
	/* Idle after a complete request (keep-alive) is closed the same way. */
	struct resp r;
	int fd = tcp_connect(S.port);

	CB.len = 0;
	send_str(fd, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
	cr_assert(read_response(fd, &r));
	free(r.body);
	cr_assert(wait_closed(fd));
	close(fd);
	cr_assert_eq(atomic_load(&S.handled), 1);
	assert_healthy();
}

Test(http, keeps_a_slow_upload_that_keeps_moving)
{
	struct sl_http_config c;
	struct resp r;
	int fd;

	/* Pieces every 100 ms against a 2 s timeout, 2.5 s in all: the whole
	 * request takes longer than the timeout, no gap comes near it. */
	test_config(&c);
	c.io_timeout_ms = 2000;
	start(&c);
	fd = tcp_connect(S.port);
	CB.len = 0;
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 25\r\n\r\n");
	for (int i = 0; i < 25; i++) {
		usleep(100 * 1000);
		send_str(fd, "x");
	}
	cr_assert(read_response(fd, &r));
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.len, 25);
	free(r.body);
	close(fd);
}

struct garbage {
	const char *name;
	const char *data;
	size_t len;
};

Test(http, answers_garbage_with_a_4xx_or_a_close)
{
	static char binary[4096], longline[500000], manyhdrs[200 * 16 + 64];
#define G(name, lit)                                                                               \
	{                                                                                          \
		name, lit, sizeof(lit) - 1                                                         \
	}
	const struct garbage cases[] = {
	        {"binary", binary, sizeof(binary)},
	        G("crlf only", "\r\n\r\n"),
	        G("no version", "GET /\r\n\r\n"),
	        G("no colon", "GET / HTTP/1.1\r\nHost\r\n\r\n"),
	        G("space in name", "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"),
	        G("negative length", "POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"),
	        G("huge length", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"),
	        G("unknown coding", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
	        G("bad chunk", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
	        G("nul in line", "GET /\0 HTTP/1.1\r\n\r\n"),
	        G("http/2 preface cut", "PRI * HTTP/2.0\r\n\r\nSM"),
	        {"line longer than h2o takes", longline, sizeof(longline)},
	        {"more headers than h2o takes", manyhdrs, 0},
	};
#undef G
	unsigned seed = 7;

	start_default();
	for (size_t i = 0; i < sizeof(binary); i++) {
		seed = seed * 1103515245u + 12345u;
		binary[i] = (char)(seed >> 16);
	}
	memset(longline, 'A', sizeof(longline));
	memcpy(longline, "GET /", 5);
	size_t off = (size_t)sprintf(manyhdrs, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 200; i++)
		off += (size_t)sprintf(manyhdrs + off, "X-H%03d: v\r\n", i);
	off += (size_t)sprintf(manyhdrs + off, "\r\n");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conn_buf *b = &CB;
		size_t len = cases[i].len ? cases[i].len : off;
		struct resp r;
		int fd = tcp_connect(S.port);

		b->len = 0;
		(void)send_all(fd, cases[i].data, len); /* the server may close mid-way */
		shutdown(fd, SHUT_WR);
		if (read_response(fd, &r)) {
			cr_assert(r.status >= 400 && r.status < 500, "%s: %d", cases[i].name,
			          r.status);
			free(r.body);
		}
		cr_assert(wait_closed(fd), "%s", cases[i].name);
		close(fd);
	}
	cr_assert_eq(atomic_load(&S.handled), 0);
	assert_healthy();
}

Test(http, closes_connections_beyond_max_connections)
{
	struct sl_http_config c;
	int fds[4], extra;
	struct resp r;

	test_config(&c);
	c.max_connections = 4;
	start(&c);
	for (int i = 0; i < 4; i++) {
		fds[i] = tcp_connect(S.port);
		CB.len = 0;
		send_str(fds[i], "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
		cr_assert(read_response(fds[i], &r));
		cr_assert_eq(r.status, 200);
		free(r.body);
	}
	/* The fifth is accepted and closed at once. */
	extra = tcp_connect(S.port);
	(void)send_all(extra, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", 32);
	cr_assert(wait_closed(extra));
	close(extra);
	/* The four still work. */
	for (int i = 0; i < 4; i++) {
		CB.len = 0;
		send_str(fds[i], "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
		cr_assert(read_response(fds[i], &r));
		free(r.body);
	}
	/* When one goes, a new one gets its place (once the server noticed). */
	close(fds[0]);
	for (;;) {
		int fd = tcp_connect(S.port);
		bool ok;

		CB.len = 0;
		ok = send_all(fd, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", 32) &&
		     read_response(fd, &r);
		close(fd);
		if (ok) {
			cr_assert_eq(r.status, 200);
			free(r.body);
			break;
		}
		usleep(1000);
	}
	for (int i = 1; i < 4; i++)
		close(fds[i]);
}

Test(http, rests_the_listener_when_out_of_fds)
{
	struct rlimit old, low;
	struct resp r;
	int c1, c2, next;

	start_default();
	c1 = tcp_connect(S.port);
	CB.len = 0;
	send_str(c1, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
	cr_assert(read_response(c1, &r));
	free(r.body);
	/* Room for one more client socket and nothing for the server: its
	 * accept fails with EMFILE and the listener rests instead of spinning. */
	next = dup(0);
	cr_assert_geq(next, 0);
	close(next);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)next + 1;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	c2 = tcp_connect(S.port);
	send_str(c2, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
	wait_atomic_geq(&S.ticks, atomic_load(&S.ticks) + 40); /* a few accept attempts */
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	/* With fds back, the waiting connection is taken and served. */
	CB.len = 0;
	cr_assert(read_response(c2, &r));
	cr_assert_eq(r.status, 200);
	free(r.body);
	close(c1);
	close(c2);
	assert_healthy();
}

Test(http, answers_503_beyond_max_pending)
{
	struct sl_http_config c;
	struct resp r;
	int fds[2], fd;

	test_config(&c);
	c.max_pending = 2;
	start(&c);
	for (int i = 0; i < 2; i++) {
		fds[i] = tcp_connect(S.port);
		send_str(fds[i], "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
	}
	wait_atomic_geq(&S.held, 2);

	fd = tcp_connect(S.port);
	CB.len = 0;
	send_str(fd, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
	cr_assert(read_response(fd, &r));
	cr_assert_eq(r.status, 503);
	free(r.body);

	release_held();
	for (int i = 0; i < 2; i++) {
		CB.len = 0;
		cr_assert(read_response(fds[i], &r));
		cr_assert_eq(r.status, 200);
		cr_assert_str_eq(r.body, "released");
		free(r.body);
		close(fds[i]);
	}
	/* The same connection is served again once there is room. */
	CB.len = 0;
	send_str(fd, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
	cr_assert(read_response(fd, &r));
	cr_assert_eq(r.status, 200);
	free(r.body);
	close(fd);
}

Test(http, drops_the_answer_when_an_http1_client_left)
{
	int fd;

	start_default();
	fd = tcp_connect(S.port);
	send_str(fd, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
	wait_atomic_geq(&S.held, 1);
	close(fd);
	release_held(); /* the answer is written to a closed socket, or dropped */
	while (atomic_load(&S.held) != 0)
		usleep(1000);
	assert_healthy();
}

Test(http, presents_host_and_content_length_among_the_headers)
{
	struct resp r;
	int fd;

	start_default();
	fd = tcp_connect(S.port);
	CB.len = 0;
	send_str(fd, "POST /headers HTTP/1.1\r\nHost: example:1\r\nX-Amz-Target: K.Put\r\n"
	             "Content-Length: 3\r\n\r\nabc");
	cr_assert(read_response(fd, &r));
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "version: HTTP/1.1\n"), "%s", r.body);
	cr_assert(strstr(r.body, "host: example:1\n"), "%s", r.body);
	cr_assert(strstr(r.body, "x-amz-target: K.Put\n"), "%s", r.body);
	cr_assert(strstr(r.body, "content-length: 3\n"), "%s", r.body);
	cr_assert(strstr(r.body, "lookup: K.Put\n"), "%s", r.body);
	free(r.body);

	/* Without Host and body, neither is made up. */
	send_str(fd, "GET /headers HTTP/1.0\r\n\r\n");
	cr_assert(read_response(fd, &r));
	cr_assert(strstr(r.body, "version: HTTP/1.0\n"), "%s", r.body);
	cr_assert(!strstr(r.body, "host:"), "%s", r.body);
	cr_assert(!strstr(r.body, "content-length:"), "%s", r.body);
	free(r.body);
	close(fd);
}

Test(http, calls_timers_and_watched_fds)
{
	start_default();
	wait_atomic_geq(&S.ticks, 5);
	/* The watched eventfd: each write is one callback that drains it. */
	for (int i = 0; i < 3; i++) {
		int fd = tcp_connect(S.port);
		struct resp r;

		CB.len = 0;
		send_str(fd, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
		wait_atomic_geq(&S.held, 1);
		release_held();
		cr_assert(read_response(fd, &r));
		cr_assert_str_eq(r.body, "released");
		free(r.body);
		close(fd);
	}
}

/* ---- stop, free, errors ---- */

Test(http, stop_before_run_returns_at_once)
{
	struct sl_http_config c;
	struct sl_http *h;

	test_config(&c);
	cr_assert_eq(sl_http_create(&c, handler, &S, &h), 0);
	sl_http_stop(h);
	cr_assert_eq(sl_http_run(h), 0);
	sl_http_free(h);
	sl_http_free(NULL);
}

static struct sl_http *signal_target;

static void on_usr1(int sig)
{
	(void)sig;
	sl_http_stop(signal_target);
}

Test(http, stops_from_a_signal_handler)
{
	struct sigaction sa = {.sa_handler = on_usr1};

	start_default();
	signal_target = S.h;
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	wait_atomic_geq(&S.ticks, 1);
	pthread_kill(S.th, SIGUSR1);
	pthread_join(S.th, NULL);
	S.running = false;
	sl_http_free(S.h);
	close(S.ctl_fd);
}

Test(http, answers_held_requests_at_stop_and_drops_late_answers)
{
	struct resp r;
	int fds[2];
	size_t n;

	start_default();
	for (int i = 0; i < 2; i++) {
		fds[i] = tcp_connect(S.port);
		send_str(fds[i], "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
	}
	wait_atomic_geq(&S.held, 2);
	sl_http_stop(S.h);
	pthread_join(S.th, NULL);
	S.running = false;
	/* The clients got a 503 or a close. */
	for (int i = 0; i < 2; i++) {
		CB.len = 0;
		if (read_response(fds[i], &r)) {
			cr_assert_eq(r.status, 503);
			free(r.body);
		}
		close(fds[i]);
	}
	/* The requests are still readable; answering them, before or after
	 * sl_http_free(), only frees them. */
	cr_assert_eq(S.nhold, 2);
	for (int i = 0; i < 2; i++) {
		cr_assert(sl_http_req_gone(S.hold[i]));
		cr_assert_str_eq(sl_http_req_path(S.hold[i], &n), "/hold");
	}
	sl_http_add_header(S.hold[0], "X-Late", "1");
	sl_http_respond(S.hold[0], 200, "text/plain", "late", 4);
	sl_http_free(S.h);
	cr_assert_str_eq(sl_http_req_method(S.hold[1], &n), "GET");
	sl_http_respond(S.hold[1], 200, "text/plain", "later", 5);
	S.nhold = 0;
	close(S.ctl_fd);
}

Test(http, refuses_to_watch_a_regular_file)
{
	char path[] = "/tmp/sl_http_file_XXXXXX";
	struct sl_http_config c;
	struct sl_http *h;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	test_config(&c);
	cr_assert_eq(sl_http_create(&c, handler, &S, &h), 0);
	cr_assert_eq(sl_http_watch_fd(h, fd, on_ctl, &S), -EPERM);
	cr_assert_eq(sl_http_watch_fd(h, -1, on_ctl, &S), -EINVAL);
	sl_http_free(h);
	close(fd);
	unlink(path);
}

Test(http, reports_an_address_in_use)
{
	struct sl_http_config c;
	struct sl_http *h;

	start_default();
	test_config(&c);
	c.port = S.port;
	cr_assert_eq(sl_http_create(&c, handler, &S, &h), -EADDRINUSE);
	cr_assert(strstr(sl_errmsg(), "127.0.0.1"), "%s", sl_errmsg());
	c.port = 0;
	c.io_timeout_ms = 0;
	cr_assert_eq(sl_http_create(&c, handler, &S, &h), -EINVAL);
}

/* ---- HTTP/2 through curl ---- */

static bool curl_has_http2(void)
{
	return system("curl -V 2>/dev/null | grep -q '^Features:.* HTTP2'") == 0;
}

/* Runs curl; its -w output lands in out. Returns curl's exit status. */
static int run_curl(const char *args, char *out, size_t cap)
{
	char cmd[1024];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd), "curl -sS --http2-prior-knowledge --max-time 60 %s 2>/dev/null",
	         args);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	return WEXITSTATUS(pclose(p));
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 20);

	cr_assert_not_null(f);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

Test(http, speaks_http2_with_prior_knowledge_to_curl)
{
	char dir[] = "/tmp/sl_http_curl_XXXXXX", in[128], out[128], hdr[128], args[768], w[256];
	char *body, *got;
	size_t len;
	FILE *f;

	if (!curl_has_http2())
		cr_skip_test("curl with HTTP/2 support is not installed");
	start_default();
	cr_assert_not_null(mkdtemp(dir));
	snprintf(in, sizeof(in), "%s/in", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(hdr, sizeof(hdr), "%s/hdr", dir);
	body = malloc(MAX_BODY + 1);
	for (int i = 0; i < MAX_BODY; i++)
		body[i] = (char)('A' + i % 23);
	f = fopen(in, "wb");
	fwrite(body, 1, 40000, f);
	fclose(f);

	/* A body across several DATA frames, echoed. */
	snprintf(args, sizeof(args),
	         "-o %s -D %s -w '%%{http_version} %%{http_code}' --data-binary @%s "
	         "-H 'Content-Type: application/x-amz-json-1.1' http://127.0.0.1:%u/echo",
	         out, hdr, in, S.port);
	cr_assert_eq(run_curl(args, w, sizeof(w)), 0);
	cr_assert_str_eq(w, "2 200");
	got = slurp(out, &len);
	cr_assert_eq(len, 40000);
	cr_assert_eq(memcmp(got, body, len), 0);
	free(got);
	got = slurp(hdr, &len);
	cr_assert(strstr(got, "x-body-len: 40000"), "%s", got);
	cr_assert(strstr(got, "x-version: HTTP/2"), "%s", got);
	free(got);

	/* What the handler sees: version, host from :authority, content-length. */
	snprintf(args, sizeof(args),
	         "-o %s -w '%%{http_code}' -d abc -H 'X-Amz-Target: K.Put' "
	         "http://127.0.0.1:%u/headers",
	         out, S.port);
	cr_assert_eq(run_curl(args, w, sizeof(w)), 0);
	cr_assert_str_eq(w, "200");
	got = slurp(out, &len);
	char host[64];
	snprintf(host, sizeof(host), "host: 127.0.0.1:%u\n", S.port);
	cr_assert(strstr(got, "version: HTTP/2\n"), "%s", got);
	cr_assert(strstr(got, host), "%s", got);
	cr_assert(strstr(got, "content-length: 3\n"), "%s", got);
	cr_assert(strstr(got, "lookup: K.Put\n"), "%s", got);
	free(got);

	/* Answered later, from the timer. */
	snprintf(args, sizeof(args), "-o %s -w '%%{http_code}' http://127.0.0.1:%u/later", out,
	         S.port);
	cr_assert_eq(run_curl(args, w, sizeof(w)), 0);
	got = slurp(out, &len);
	cr_assert_str_eq(got, "late:/later");
	free(got);

	/* Over the limit: h2o 2.2 resets the stream (REFUSED_STREAM) instead
	 * of a 413; either way, no 200 and no handler call. */
	int seen = atomic_load(&S.handled);

	f = fopen(in, "wb");
	fwrite(body, 1, MAX_BODY, f);
	fwrite("x", 1, 1, f);
	fclose(f);
	snprintf(args, sizeof(args),
	         "-o %s -w '%%{http_code}' --data-binary @%s http://127.0.0.1:%u/echo", out, in,
	         S.port);
	(void)run_curl(args, w, sizeof(w));
	cr_assert_str_neq(w, "200");
	cr_assert_eq(atomic_load(&S.handled), seen);

	free(body);
	unlink(in);
	unlink(out);
	unlink(hdr);
	rmdir(dir);
	assert_healthy();
}

/* ---- HTTP/2 through a hand-built client ---- */

enum { F_DATA = 0, F_HEADERS = 1, F_RST = 3, F_SETTINGS = 4, F_GOAWAY = 7, F_CONT = 9 };
enum { FL_END_STREAM = 1, FL_ACK = 1, FL_END_HEADERS = 4 };

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static void frame(int fd, uint8_t type, uint8_t flags, uint32_t stream, const void *p, size_t n)
{
	uint8_t h[9] = {(uint8_t)(n >> 16),
	                (uint8_t)(n >> 8),
	                (uint8_t)n,
	                type,
	                flags,
	                (uint8_t)(stream >> 24),
	                (uint8_t)(stream >> 16),
	                (uint8_t)(stream >> 8),
	                (uint8_t)stream};

	(void)send_all(fd, h, 9);
	if (n)
		(void)send_all(fd, p, n);
}

/* HPACK integer with an n-bit prefix. */
static size_t hpack_int(uint8_t *out, uint8_t first, int nbits, size_t v)
{
	size_t max = (1u << nbits) - 1, k = 0;

	if (v < max) {
		out[k++] = (uint8_t)(first | v);
		return k;
	}
	out[k++] = (uint8_t)(first | max);
	v -= max;
	while (v >= 128) {
		out[k++] = (uint8_t)(v % 128 + 128);
		v /= 128;
	}
	out[k++] = (uint8_t)v;
	return k;
}

/* A literal header field without indexing, new name, no Huffman. */
static size_t hpack_literal(uint8_t *out, const char *name, const char *value)
{
	size_t k = 0, nl = strlen(name), vl = strlen(value);

	out[k++] = 0x00;
	k += hpack_int(out + k, 0, 7, nl);
	memcpy(out + k, name, nl);
	k += nl;
	k += hpack_int(out + k, 0, 7, vl);
	memcpy(out + k, value, vl);
	return k + vl;
}

static int h2_open(void)
{
	int fd = tcp_connect(S.port);

	send_str(fd, PREFACE);
	frame(fd, F_SETTINGS, 0, 0, NULL, 0);
	return fd;
}

static void h2_request(int fd, uint32_t stream, const char *method, const char *path,
                       const void *body, size_t len)
{
	uint8_t block[1024];
	size_t k = 0;

	k += hpack_literal(block + k, ":method", method);
	k += hpack_literal(block + k, ":scheme", "http");
	k += hpack_literal(block + k, ":path", path);
	k += hpack_literal(block + k, ":authority", "h2.test:1");
	k += hpack_literal(block + k, "x-amz-target", "K.Get");
	frame(fd, F_HEADERS, FL_END_HEADERS | (len ? 0 : FL_END_STREAM), stream, block, k);
	if (len)
		frame(fd, F_DATA, FL_END_STREAM, stream, body, len);
}

/* The status from a response header block's first field (h2o sends common
 * ones indexed, others as a literal with :status's name index). */
static int h2_status(const uint8_t *b, size_t n)
{
	static const int indexed[] = {200, 204, 206, 304, 400, 404, 500};

	if (n >= 1 && b[0] >= 0x88 && b[0] <= 0x8e)
		return indexed[b[0] - 0x88];
	if (n >= 5 && ((b[0] & 0xc0) == 0x40 || (b[0] & 0xf0) == 0x00 || (b[0] & 0xf0) == 0x10) &&
	    (b[0] & 0x0f) == 8 && b[1] == 3)
		return (b[2] - '0') * 100 + (b[3] - '0') * 10 + (b[4] - '0');
	return -1;
}

struct h2_resp {
	int status;   /* -1: unknown, 0: none */
	uint32_t rst; /* RST_STREAM error code + 1, 0 if none */
	bool goaway;
	char body[1 << 17];
	size_t len;
};

/* Reads frames until stream's response ends (or a reset, or GOAWAY, or EOF). */
static bool h2_read(int fd, uint32_t stream, struct h2_resp *r)
{
	struct conn_buf *b = &CB;

	memset(r, 0, sizeof(*r));
	for (;;) {
		while (b->len < 9)
			if (fill(fd, b) <= 0)
				return false;
		size_t n = (size_t)(uint8_t)b->data[0] << 16 | (size_t)(uint8_t)b->data[1] << 8 |
		           (uint8_t)b->data[2];
		uint8_t type = (uint8_t)b->data[3], flags = (uint8_t)b->data[4];
		uint32_t sid =
		        ((uint32_t)(uint8_t)b->data[5] << 24 | (uint32_t)(uint8_t)b->data[6] << 16 |
		         (uint32_t)(uint8_t)b->data[7] << 8 | (uint8_t)b->data[8]) &
		        0x7fffffff;

		while (b->len < 9 + n)
			if (fill(fd, b) <= 0)
				return false;
		const uint8_t *p = (const uint8_t *)b->data + 9;
		bool done = false;

		if (type == F_SETTINGS && !(flags & FL_ACK))
			frame(fd, F_SETTINGS, FL_ACK, 0, NULL, 0);
		else if (type == F_GOAWAY)
			r->goaway = done = true;
		else if (sid == stream && type == F_HEADERS) {
			r->status = h2_status(p, n);
			done = flags & FL_END_STREAM;
		} else if (sid == stream && type == F_DATA) {
			cr_assert_leq(r->len + n, sizeof(r->body));
			memcpy(r->body + r->len, p, n);
			r->len += n;
			done = flags & FL_END_STREAM;
		} else if (sid == stream && type == F_RST) {
			r->rst = 1 + ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			              (uint32_t)p[2] << 8 | p[3]);
			done = true;
		}
		consume(b, 9 + n);
		if (done)
			return true;
	}
}

Test(http, speaks_http2_with_prior_knowledge_to_a_hand_built_client)
{
	static struct h2_resp r;
	int fd;

	start_default();
	fd = h2_open();
	CB.len = 0;
	h2_request(fd, 1, "POST", "/echo", "hello h2", 8);
	cr_assert(h2_read(fd, 1, &r));
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.len, 8);
	cr_assert_eq(memcmp(r.body, "hello h2", 8), 0);

	/* A second stream on the same connection, answered by the timer. */
	h2_request(fd, 3, "GET", "/later", NULL, 0);
	cr_assert(h2_read(fd, 3, &r));
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.len, 11);
	cr_assert_eq(memcmp(r.body, "late:/later", 11), 0);

	h2_request(fd, 5, "POST", "/headers", "xyz", 3);
	cr_assert(h2_read(fd, 5, &r));
	r.body[r.len] = '\0';
	cr_assert(strstr(r.body, "version: HTTP/2\n"), "%s", r.body);
	cr_assert(strstr(r.body, "host: h2.test:1\n"), "%s", r.body);
	cr_assert(strstr(r.body, "lookup: K.Get\n"), "%s", r.body);
	close(fd);
}

Test(http, drops_the_answer_when_an_http2_client_left)
{
	static struct h2_resp r;
	int fd;

	start_default();
	/* Reset the stream, keep the connection: the request is gone, the
	 * connection serves the next stream. */
	fd = h2_open();
	CB.len = 0;
	h2_request(fd, 1, "GET", "/hold", NULL, 0);
	wait_atomic_geq(&S.held, 1);
	uint8_t cancel[4] = {0, 0, 0, 8};
	frame(fd, F_RST, 0, 1, cancel, 4);
	wait_atomic_geq(&S.gone, 1);
	release_held();
	h2_request(fd, 3, "POST", "/echo", "again", 5);
	cr_assert(h2_read(fd, 3, &r));
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.len, 5);
	close(fd);

	/* Close the connection while the handler holds the request. */
	while (atomic_load(&S.held) != 0)
		usleep(1000);
	fd = h2_open();
	h2_request(fd, 1, "GET", "/hold", NULL, 0);
	wait_atomic_geq(&S.held, 1);
	close(fd);
	wait_atomic_geq(&S.gone, 1);
	release_held();
	assert_healthy();
}

Test(http, survives_bad_http2_frames)
{
	uint8_t big[64];
	const struct {
		const char *name;
		uint8_t type, flags;
		uint32_t stream;
		const void *p;
		size_t n;
		bool raw; /* send p as bytes, no frame header */
	} cases[] = {
	        {"data on stream 0", F_DATA, 0, 0, "abcd", 4, false},
	        {"headers on an even stream", F_HEADERS, FL_END_HEADERS, 2, "\x82", 1, false},
	        {"bad hpack", F_HEADERS, FL_END_HEADERS | FL_END_STREAM, 1, "\xff\xff\xff\xff", 4,
	         false},
	        {"index out of table", F_HEADERS, FL_END_HEADERS, 1, "\xbf\x7f", 2, false},
	        {"continuation alone", F_CONT, FL_END_HEADERS, 1, "\x82", 1, false},
	        {"settings with junk", F_SETTINGS, 0, 0, "\x00\x04\xff\xff\xff\xff", 6, false},
	        {"settings not a multiple of 6", F_SETTINGS, 0, 0, "\x00\x04\x00", 3, false},
	        {"oversized frame", 0, 0, 0, "\xff\xff\xff\x00\x00\x00\x00\x00\x01", 9, true},
	        {"cut frame header", 0, 0, 0, "\x00\x00\x10\x01", 4, true},
	        {"random", 0, 0, 0, big, sizeof(big), true},
	        {"missing pseudo headers", F_HEADERS, FL_END_HEADERS | FL_END_STREAM, 1,
	         "\x00\x01x\x01y", 5, false},
	};

	start_short_io();
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 37 + 11);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = h2_open();

		if (cases[i].raw)
			(void)send_all(fd, cases[i].p, cases[i].n);
		else
			frame(fd, cases[i].type, cases[i].flags, cases[i].stream, cases[i].p,
			      cases[i].n);
		shutdown(fd, SHUT_WR);
		cr_assert(wait_closed(fd), "%s", cases[i].name);
		close(fd);
	}
	/* A body that never ends: the stream is open, the connection idles out. */
	int fd = h2_open();
	uint8_t block[256];
	size_t k = 0;

	k += hpack_literal(block + k, ":method", "POST");
	k += hpack_literal(block + k, ":scheme", "http");
	k += hpack_literal(block + k, ":path", "/echo");
	frame(fd, F_HEADERS, FL_END_HEADERS, 1, block, k);
	frame(fd, F_DATA, 0, 1, "part", 4);
	cr_assert(wait_closed(fd));
	close(fd);
	cr_assert_eq(atomic_load(&S.handled), 0);
	assert_healthy();
}

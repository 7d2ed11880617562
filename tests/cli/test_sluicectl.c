/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluicectl, the binary, against a fake Kinesis endpoint in a thread of
 * the test: an HTTP/1.1 server on 127.0.0.1 (plain sockets, one connection
 * at a time, "Connection: close") that records every request and answers
 * from canned bodies per X-Amz-Target (a queue per operation whose last
 * entry sticks) or from a test's own handler. The tests check what
 * sluicectl sends (JSON bodies, headers, SigV4 with control/sigv4.c's
 * check), what it prints (tables, --json, --help) and its exit codes;
 * sluiced is not needed.
 *
 * $SLUICECTL is the binary (meson passes it).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sigv4.h"

#define MAX_REQS    8192
#define MAX_HEADERS 32
#define MAX_HEAD    65536
#define MAX_BODY    (64u << 20)
#define TARGET      "Kinesis_20131202."
#define FULL_RANGE  "340282366920938463463374607431768211455" /* 2^128 - 1 */
#define ERR_RNF                                                                                    \
	"{\"__type\":\"ResourceNotFoundException\",\"message\":\"Stream s under account "          \
	"000000000000 not found.\"}"

/* ---- the fake endpoint ---- */

struct req {
	char method[8];
	char path[256];
	char op[64]; /* X-Amz-Target without the prefix ("" if none) */
	size_t nh;
	char *hn[MAX_HEADERS], *hv[MAX_HEADERS];
	char *body;
	size_t len;
};

struct canned {
	char op[64];
	int status;
	char *body;
	struct canned *next;
};

/* Answers r: true with *status and a malloc'd *body, or false for the
 * canned answer. Runs on the server thread. */
typedef bool (*handler_fn)(const struct req *r, size_t nth, int *status, char **body);

static struct {
	int lfd;
	uint16_t port;
	char url[64];
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	volatile bool stop;
	struct req *reqs[MAX_REQS];
	size_t nreqs;
	struct canned *canned;
	handler_fn handler;
} F;

static const char *sluicectl;

/* Queues an answer for op ("GET /metrics" for the metrics page). */
static void can(const char *op, int status, const char *body)
{
	struct canned *c = calloc(1, sizeof(*c)), **p;

	cr_assert(c);
	snprintf(c->op, sizeof(c->op), "%s", op);
	c->status = status;
	c->body = strdup(body);
	pthread_mutex_lock(&F.mu);
	for (p = &F.canned; *p; p = &(*p)->next)
		;
	*p = c;
	pthread_mutex_unlock(&F.mu);
}

/* Drops every canned answer for op. */
static void uncan(const char *op)
{
	pthread_mutex_lock(&F.mu);
	for (struct canned **p = &F.canned; *p;) {
		struct canned *c = *p;

		if (strcmp(c->op, op) == 0) {
			*p = c->next;
			free(c->body);
			free(c);
		} else {
			p = &c->next;
		}
	}
	pthread_mutex_unlock(&F.mu);
}

/* The next canned answer for op (the last one stays); under F.mu. */
static bool take_canned(const char *op, int *status, char **body)
{
	struct canned **p, **last = NULL;
	int n = 0;

	for (p = &F.canned; *p; p = &(*p)->next)
		if (strcmp((*p)->op, op) == 0) {
			if (!last)
				last = p;
			n++;
		}
	if (!last)
		return false;
	*status = (*last)->status;
	*body = strdup((*last)->body);
	if (n > 1) {
		struct canned *c = *last;

		*last = c->next;
		free(c->body);
		free(c);
	}
	return true;
}

static bool read_full(int fd, char *buf, size_t n)
{
	while (n) {
		ssize_t k = read(fd, buf, n);

		if (k <= 0)
			return false;
		buf += k;
		n -= (size_t)k;
	}
	return true;
}

static void write_full(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t k = write(fd, buf, n);

		if (k <= 0)
			return;
		buf += k;
		n -= (size_t)k;
	}
}

static void free_req(struct req *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nh; i++) {
		free(r->hn[i]);
		free(r->hv[i]);
	}
	free(r->body);
	free(r);
}

/* Reads one request from fd; NULL on EOF or garbage. */
static struct req *read_req(int fd)
{
	char *head = malloc(MAX_HEAD + 1), *p, *eol, *end;
	struct req *r = calloc(1, sizeof(*r));
	size_t have = 0, clen = 0, extra;

	if (!head || !r)
		goto fail;
	for (;;) {
		ssize_t k;

		if (have == MAX_HEAD)
			goto fail;
		k = read(fd, head + have, MAX_HEAD - have);
		if (k <= 0)
			goto fail;
		have += (size_t)k;
		head[have] = '\0';
		end = strstr(head, "\r\n\r\n");
		if (end)
			break;
	}
	if (sscanf(head, "%7s %255s", r->method, r->path) != 2)
		goto fail;
	for (p = strstr(head, "\r\n") + 2; p < end; p = eol + 2) {
		char *colon, *v;

		eol = strstr(p, "\r\n");
		*eol = '\0';
		colon = strchr(p, ':');
		if (!colon || r->nh == MAX_HEADERS)
			continue;
		*colon = '\0';
		for (v = colon + 1; *v == ' '; v++)
			;
		for (char *c = p; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		r->hn[r->nh] = strdup(p);
		r->hv[r->nh] = strdup(v);
		if (strcmp(p, "content-length") == 0)
			clen = strtoul(v, NULL, 10);
		if (strcmp(p, "x-amz-target") == 0 && strncmp(v, TARGET, strlen(TARGET)) == 0)
			snprintf(r->op, sizeof(r->op), "%s", v + strlen(TARGET));
		r->nh++;
	}
	if (clen > MAX_BODY)
		goto fail;
	r->body = malloc(clen + 1);
	if (!r->body)
		goto fail;
	extra = have - (size_t)(end + 4 - head);
	if (extra > clen)
		extra = clen;
	memcpy(r->body, end + 4, extra);
	if (!read_full(fd, r->body + extra, clen - extra))
		goto fail;
	r->body[clen] = '\0';
	r->len = clen;
	free(head);
	return r;
fail:
	free(head);
	free_req(r);
	return NULL;
}

static void serve(int fd)
{
	struct req *r = read_req(fd);
	const char *reason = "OK";
	char *body = NULL, hdr[256];
	int status = 200;
	size_t nth = 0;
	bool handled = false;

	if (!r)
		return;
	pthread_mutex_lock(&F.mu);
	for (size_t i = 0; i < F.nreqs; i++)
		if (strcmp(F.reqs[i]->op, r->op) == 0)
			nth++;
	pthread_mutex_unlock(&F.mu);
	if (F.handler)
		handled = F.handler(r, nth, &status, &body);
	pthread_mutex_lock(&F.mu);
	if (!handled) {
		char key[300];

		if (strcmp(r->method, "GET") == 0)
			snprintf(key, sizeof(key), "GET %s", r->path);
		else
			snprintf(key, sizeof(key), "%s", r->op);
		if (!take_canned(key, &status, &body)) {
			status = 400;
			body = strdup("{\"__type\":\"UnknownOperationException\"}");
		}
	}
	if (F.nreqs < MAX_REQS)
		F.reqs[F.nreqs++] = r;
	else
		free_req(r);
	pthread_cond_broadcast(&F.cv);
	pthread_mutex_unlock(&F.mu);
	if (status != 200)
		reason = "Bad Request";
	snprintf(hdr, sizeof(hdr),
	         "HTTP/1.1 %d %s\r\nContent-Type: application/x-amz-json-1.1\r\n"
	         "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	         status, reason, strlen(body));
	write_full(fd, hdr, strlen(hdr));
	write_full(fd, body, strlen(body));
	free(body);
}

static void *server(void *arg)
{
	(void)arg;
	while (!F.stop) {
		struct pollfd p = {.fd = F.lfd, .events = POLLIN};
		struct timeval tv = {.tv_sec = 10};
		int fd;

		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept4(F.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		serve(fd);
		close(fd);
	}
	return NULL;
}

/* A port on 127.0.0.1 that nothing listens on (bound, then closed). */
static uint16_t dead_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void setup(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int one = 1;

	sluicectl = getenv("SLUICECTL");
	cr_assert(sluicectl && *sluicectl, "SLUICECTL must name the sluicectl binary");
	signal(SIGPIPE, SIG_IGN);
	memset(&F, 0, sizeof(F));
	pthread_mutex_init(&F.mu, NULL);
	pthread_cond_init(&F.cv, NULL);
	F.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(F.lfd >= 0);
	setsockopt(F.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(F.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(F.lfd, 64), 0);
	cr_assert_eq(getsockname(F.lfd, (struct sockaddr *)&a, &al), 0);
	F.port = ntohs(a.sin_port);
	snprintf(F.url, sizeof(F.url), "http://127.0.0.1:%u", F.port);
	cr_assert_eq(pthread_create(&F.th, NULL, server, NULL), 0);
}

static void teardown(void)
{
	F.stop = true;
	pthread_join(F.th, NULL);
	close(F.lfd);
	for (size_t i = 0; i < F.nreqs; i++)
		free_req(F.reqs[i]);
	while (F.canned) {
		struct canned *c = F.canned;

		F.canned = c->next;
		free(c->body);
		free(c);
	}
}

TestSuite(sluicectl, .init = setup, .fini = teardown, .timeout = 120);

/* ---- running sluicectl ---- */

struct run {
	int code; /* exit code, or 128 + signal */
	char *out, *err;
};

static int memfd_with(const char *name, const void *data, size_t len)
{
	int fd = memfd_create(name, 0);

	cr_assert(fd >= 0);
	if (len)
		write_full(fd, data, len);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static char *slurp(int fd)
{
	off_t n = lseek(fd, 0, SEEK_END);
	char *s = malloc((size_t)n + 1);

	cr_assert(s);
	lseek(fd, 0, SEEK_SET);
	cr_assert(read_full(fd, s, (size_t)n) || n == 0);
	s[n] = '\0';
	close(fd);
	return s;
}

struct opts {
	const char *in;   /* stdin (NULL: empty) */
	size_t inlen;     /* 0: strlen(in) */
	const char **env; /* "K=V" to set, "K" to unset */
	bool no_endpoint; /* leave --endpoint out */
};

/* Starts sluicectl with args (NULL-terminated); fds receive its output. */
static pid_t spawn(const struct opts *o, const char *const *args, int *ret_out, int *ret_err)
{
	const char *argv[64];
	int n = 0, in, out, err;
	pid_t pid;

	argv[n++] = sluicectl;
	if (!o->no_endpoint) {
		argv[n++] = "--endpoint";
		argv[n++] = F.url;
	}
	for (; *args; args++) {
		cr_assert(n < 62);
		argv[n++] = *args;
	}
	argv[n] = NULL;
	in = memfd_with("in", o->in ? o->in : "",
	                o->in ? (o->inlen ? o->inlen : strlen(o->in)) : 0);
	out = memfd_with("out", NULL, 0);
	err = memfd_with("err", NULL, 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		static const char *clean[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		                              "AWS_REGION",        "AWS_DEFAULT_REGION",
		                              "SLUICE_ENDPOINT",   "http_proxy",
		                              "HTTP_PROXY",        "https_proxy",
		                              "HTTPS_PROXY",       "ALL_PROXY",
		                              "all_proxy"};

		for (size_t i = 0; i < sizeof(clean) / sizeof(clean[0]); i++)
			unsetenv(clean[i]);
		for (const char **e = o->env; e && *e; e++) {
			if (strchr(*e, '='))
				putenv((char *)*e);
			else
				unsetenv(*e);
		}
		dup2(in, 0);
		dup2(out, 1);
		dup2(err, 2);
		signal(SIGPIPE, SIG_DFL);
		execv(sluicectl, (char **)argv);
		_exit(127);
	}
	close(in);
	*ret_out = out;
	*ret_err = err;
	return pid;
}

static void finish(pid_t pid, int out, int err, struct run *r)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->out = slurp(out);
	r->err = slurp(err);
}

static struct run run_with(const struct opts *o, const char *const *args)
{
	struct run r;
	int out, err;
	pid_t pid = spawn(o, args, &out, &err);

	finish(pid, out, err, &r);
	return r;
}

#define RUN(...) run_with(&(struct opts){0}, (const char *const[]){__VA_ARGS__, NULL})
/* o must be a variable: braces do not protect commas in macro arguments. */
#define RUN_O(o, ...) run_with(o, (const char *const[]){__VA_ARGS__, NULL})
#define EXPECT(r, c)                                                                               \
	cr_assert_eq((r).code, (c), "exit %d, want %d\nstdout:\n%s\nstderr:\n%s", (r).code, (c),   \
	             (r).out, (r).err)

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* ---- looking at what was sent ---- */

static size_t count(const char *op)
{
	size_t n = 0;

	pthread_mutex_lock(&F.mu);
	for (size_t i = 0; i < F.nreqs; i++)
		n += strcmp(F.reqs[i]->op, op) == 0;
	pthread_mutex_unlock(&F.mu);
	return n;
}

/* The nth request for op (from 0). */
static struct req *nth(const char *op, size_t n)
{
	struct req *r = NULL;

	pthread_mutex_lock(&F.mu);
	for (size_t i = 0; i < F.nreqs && !r; i++)
		if (strcmp(F.reqs[i]->op, op) == 0 && n-- == 0)
			r = F.reqs[i];
	pthread_mutex_unlock(&F.mu);
	cr_assert(r, "no request %s #%zu", op, n);
	return r;
}

static const char *hdr(const struct req *r, const char *name)
{
	for (size_t i = 0; i < r->nh; i++)
		if (strcmp(r->hn[i], name) == 0)
			return r->hv[i];
	return NULL;
}

static json_t *body_of(const struct req *r)
{
	json_error_t e;
	json_t *j = json_loadb(r->body, r->len, 0, &e);

	cr_assert(j, "body is not JSON (%s): %.200s", e.text, r->body);
	return j;
}

/* The number of Records in the nth body of op. */
static size_t records_in(const char *op, size_t n)
{
	json_t *j = body_of(nth(op, n));
	size_t k = json_array_size(json_object_get(j, "Records"));

	json_decref(j);
	return k;
}

/* The string member name of the nth body of op, compared with want. */
static void expect_member(const char *op, size_t n, const char *name, const char *want)
{
	json_t *j = body_of(nth(op, n));
	const char *v = json_string_value(json_object_get(j, name));

	cr_assert(v && strcmp(v, want) == 0, "%s #%zu: %s is %s, want %s", op, n, name,
	          v ? v : "(none)", want);
	json_decref(j);
}

/* The nth body of op equals the JSON text want. */
static void expect_body(const char *op, size_t n, const char *want)
{
	json_t *w = json_loads(want, 0, NULL), *got = body_of(nth(op, n));
	char *gs = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);

	cr_assert(w, "bad JSON in the test: %s", want);
	cr_assert(json_equal(got, w), "%s #%zu sent %s, want %s", op, n, gs, want);
	free(gs);
	json_decref(w);
	json_decref(got);
}

static void expect_in(const char *hay, const char *needle)
{
	cr_assert(strstr(hay, needle), "'%s' not in:\n%s", needle, hay);
}

static void b64(const void *data, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, data, (int)n);
}

/* Decodes base64 text into out (NUL-terminated). */
static void unb64(const char *text, char *out)
{
	size_t n = strlen(text);
	int len = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)text, (int)n);

	cr_assert_geq(len, 0, "bad base64 %s", text);
	/* EVP_DecodeBlock counts the bytes the padding stands for. */
	len -= (n && text[n - 1] == '=') + (n > 1 && text[n - 2] == '=');
	out[len] = '\0';
}

static size_t lines_of(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* ---- help and usage ---- */

static const char *const commands[] = {"create", "delete", "list",      "describe", "split",
                                       "merge",  "scale",  "retention", "tag",      "untag",
                                       "tags",   "put",    "get",       "stats"};

Test(sluicectl, help_lists_every_command_and_the_exit_codes)
{
	struct run r = RUN("--help");

	EXPECT(r, 0);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char line[64];

		snprintf(line, sizeof(line), "\n  %s ", commands[i]);
		expect_in(r.out, line);
	}
	expect_in(r.out, "Exit status:");
	for (int c = 0; c <= 5; c++) {
		char line[16];

		snprintf(line, sizeof(line), "\n  %-4d", c);
		expect_in(r.out, line);
	}
	cr_assert_eq(F.nreqs, 0);
	run_free(&r);
}

Test(sluicectl, every_command_has_help_and_sends_nothing)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char want[64];
		struct run r = RUN(commands[i], "--help");
		struct run r2 = RUN("--json", commands[i], "x", "-h");

		EXPECT(r, 0);
		EXPECT(r2, 0);
		snprintf(want, sizeof(want), "usage: sluicectl %s ", commands[i]);
		cr_assert(strncmp(r.out, want, strlen(want)) == 0, "%s --help:\n%s", commands[i],
		          r.out);
		expect_in(r.out, "Exit status:");
		expect_in(r.out, "--endpoint URL");
		cr_assert_str_eq(r.out, r2.out);
		run_free(&r);
		run_free(&r2);
	}
	cr_assert_eq(F.nreqs, 0);
}

/* Each of these is a usage error (exit 2) found before anything is sent. */
Test(sluicectl, usage_errors_exit_2_and_send_nothing)
{
	static const char *const cases[][8] = {
	        {NULL},
	        {"bogus"},
	        {"create"},
	        {"create", "a", "b"},
	        {"create", "s", "--shards", "0"},
	        {"create", "s", "--shards", "abc"},
	        {"create", "s", "--shards", "-1"},
	        {"create", "s", "--shards", "2", "--on-demand"},
	        {"create", "s", "--tag", "novalue"},
	        {"create", "s", "--tag", "=v"},
	        {"create", "s", "--shards"},
	        {"create", "s", "--frobnicate"},
	        {"create", "s", "--wait=yes"},
	        {"create", "s", "--wait", "--wait-timeout", "0"},
	        {"delete"},
	        {"list", "extra"},
	        {"describe"},
	        {"split", "s"},
	        {"split", "s", "shardId-000000000000", "--at", "x1"},
	        {"split", "s", "shardId-000000000000", "--at",
	         "340282366920938463463374607431768211456"},
	        {"split", "s", "shardId-000000000000", "--at", "-5"},
	        {"merge", "s", "a"},
	        {"scale", "s", "0"},
	        {"scale", "s", "many"},
	        {"retention", "s", "24h"},
	        {"tag", "s"},
	        {"tag", "s", "k"},
	        {"untag", "s"},
	        {"untag", "s", ""},
	        {"tags"},
	        {"put"},
	        {"put", "s", "--hash-key", "-1", "x"},
	        {"put", "s", "--hash-key", "340282366920938463463374607431768211456", "x"},
	        {"put", "s", "--key", "", "x"},
	        {"put", "s", "--max-attempts", "0", "x"},
	        {"get", "s", "--from", "bogus"},
	        {"get", "s", "--from", "at:123"},
	        {"get", "s", "--shard", "x", "--from", "at:12a"},
	        {"get", "s", "--from", "time:yesterday"},
	        {"get", "s", "--limit", "0"},
	        {"get", "s", "--base64", "--json"},
	        {"stats", "x"},
	        {"--timeout", "0", "list"},
	        {"--endpoint", "ftp://127.0.0.1:1", "list"},
	        {"--endpoint", "not a url", "list"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[10];
		size_t n = 0;
		struct run r;

		for (; n < 8 && cases[i][n]; n++)
			args[n] = cases[i][n];
		args[n] = NULL;
		r = run_with(&(struct opts){0}, args);
		cr_assert_eq(r.code, 2, "case %zu (%s %s %s ...): exit %d\n%s%s", i,
		             args[0] ? args[0] : "", n > 1 ? args[1] : "", n > 2 ? args[2] : "",
		             r.code, r.out, r.err);
		cr_assert(strstr(r.err, "--help"), "case %zu: no hint at --help: %s", i, r.err);
		run_free(&r);
	}
	cr_assert_eq(F.nreqs, 0, "a usage error sent %zu requests", F.nreqs);
}

/* ---- transport, errors, signing ---- */

Test(sluicectl, connection_refused_exits_3)
{
	char url[64], env[96];
	const char *envs[] = {env, NULL};
	struct opts o = {.no_endpoint = true, .env = envs};
	struct run r;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u", dead_port());
	o.env = NULL;
	r = RUN_O(&o, "--endpoint", url, "list");
	EXPECT(r, 3);
	expect_in(r.err, "sluicectl list: ConnectionError");
	run_free(&r);

	/* The same through SLUICE_ENDPOINT. */
	snprintf(env, sizeof(env), "SLUICE_ENDPOINT=%s", url);
	o.env = envs;
	r = RUN_O(&o, "describe", "s");
	EXPECT(r, 3);
	run_free(&r);
}

Test(sluicectl, endpoint_comes_from_the_environment)
{
	char env[96];
	const char *envs[] = {env, NULL};
	struct opts o = {.no_endpoint = true, .env = envs};
	struct run r;

	snprintf(env, sizeof(env), "SLUICE_ENDPOINT=%s", F.url);
	can("ListStreams", 200, "{\"StreamNames\":[],\"HasMoreStreams\":false}");
	r = RUN_O(&o, "list");
	EXPECT(r, 0);
	cr_assert_eq(count("ListStreams"), 1);
	run_free(&r);
}

Test(sluicectl, not_found_exits_4_with_type_and_message)
{
	struct run r;

	can("DescribeStreamSummary", 400, ERR_RNF);
	r = RUN("describe", "s");
	EXPECT(r, 4);
	expect_in(r.err, "ResourceNotFoundException");
	expect_in(r.err, "Stream s under account 000000000000 not found.");
	run_free(&r);
}

Test(sluicectl, service_error_exits_1_and_prefixes_are_stripped)
{
	struct run r;

	can("CreateStream", 400,
	    "{\"__type\":\"com.amazonaws.kinesis.v20131202#LimitExceededException:http://x\","
	    "\"Message\":\"too many shards\"}");
	r = RUN("create", "s", "--shards", "3");
	EXPECT(r, 1);
	expect_in(r.err, "sluicectl create: LimitExceededException: too many shards");
	run_free(&r);
}

Test(sluicectl, malformed_answers_exit_5)
{
	struct run r;

	can("ListStreams", 200, "this is not json");
	r = RUN("list");
	EXPECT(r, 5);
	run_free(&r);

	can("DescribeStreamSummary", 200, "{\"Nothing\":1}");
	r = RUN("describe", "s");
	EXPECT(r, 5);
	run_free(&r);
}

Test(sluicectl, throttled_calls_are_retried)
{
	struct run r;

	can("ListStreams", 400,
	    "{\"__type\":\"ProvisionedThroughputExceededException\",\"message\":\"slow down\"}");
	can("ListStreams", 200, "{\"StreamNames\":[\"a\"],\"HasMoreStreams\":false}");
	r = RUN("list");
	EXPECT(r, 0);
	cr_assert_eq(count("ListStreams"), 2);
	run_free(&r);
}

/* Checks request n with control/sigv4.c against key/secret. */
static void expect_signed(struct req *q, const char *key, const char *secret, const char *region)
{
	struct sl_sigv4_request sr = {
	        .method = q->method,
	        .path = q->path,
	        .nheaders = q->nh,
	        .header_names = (const char *const *)q->hn,
	        .header_values = (const char *const *)q->hv,
	        .body = q->body,
	        .len = q->len,
	};
	struct sl_sigv4_scope scope;
	char msg[512];

	cr_assert_eq(sl_sigv4_check(&sr, key, secret, &scope, msg, sizeof(msg)), SL_SIGV4_OK, "%s",
	             msg);
	cr_assert_str_eq(scope.access_key, key);
	cr_assert_str_eq(scope.region, region);
	cr_assert_str_eq(scope.service, "kinesis");
}

Test(sluicectl, requests_are_kinesis_json_and_signed)
{
	const char *env[] = {"AWS_ACCESS_KEY_ID=AKIDENV", "AWS_SECRET_ACCESS_KEY=envsecret",
	                     "AWS_REGION=eu-west-3", NULL};
	struct run r;
	struct req *q;

	can("ListStreams", 200, "{\"StreamNames\":[],\"HasMoreStreams\":false}");
	r = RUN("list");
	EXPECT(r, 0);
	q = nth("ListStreams", 0);
	cr_assert_str_eq(q->method, "POST");
	cr_assert_str_eq(q->path, "/");
	cr_assert_str_eq(hdr(q, "x-amz-target"), "Kinesis_20131202.ListStreams");
	cr_assert_str_eq(hdr(q, "content-type"), "application/x-amz-json-1.1");
	cr_assert(hdr(q, "x-amz-date"));
	cr_assert_null(hdr(q, "expect"));
	expect_signed(q, "sluice", "sluice", "us-east-1");
	run_free(&r);

	/* From the environment. */
	struct opts o = {.env = env};

	r = RUN_O(&o, "list");
	EXPECT(r, 0);
	expect_signed(nth("ListStreams", 1), "AKIDENV", "envsecret", "eu-west-3");
	run_free(&r);

	/* Options win over the environment. */
	r = RUN_O(&o, "list", "--access-key", "AKIDOPT", "--secret-key", "optsecret", "--region",
	          "ap-south-1");
	EXPECT(r, 0);
	expect_signed(nth("ListStreams", 2), "AKIDOPT", "optsecret", "ap-south-1");
	run_free(&r);
}

/* ---- stream commands ---- */

Test(sluicectl, create_sends_shards_and_tags)
{
	struct run r;

	can("CreateStream", 200, "");
	r = RUN("create", "s1", "--shards", "3", "--tag", "env=prod", "--tag", "team=a=b", "--tag",
	        "empty=");
	EXPECT(r, 0);
	expect_body("CreateStream", 0,
	            "{\"StreamName\":\"s1\",\"ShardCount\":3,"
	            "\"Tags\":{\"env\":\"prod\",\"team\":\"a=b\",\"empty\":\"\"}}");
	expect_in(r.out, "s1");
	run_free(&r);

	r = RUN("create", "s2");
	EXPECT(r, 0);
	expect_body("CreateStream", 1, "{\"StreamName\":\"s2\",\"ShardCount\":1}");
	run_free(&r);

	r = RUN("create", "s3", "--on-demand");
	EXPECT(r, 0);
	expect_body("CreateStream", 2,
	            "{\"StreamName\":\"s3\",\"StreamModeDetails\":{\"StreamMode\":\"ON_DEMAND\"}}");
	run_free(&r);
}

Test(sluicectl, create_wait_polls_until_active)
{
	struct run r;

	can("CreateStream", 200, "");
	can("DescribeStreamSummary", 200,
	    "{\"StreamDescriptionSummary\":{\"StreamName\":\"s\",\"StreamStatus\":\"CREATING\"}}");
	can("DescribeStreamSummary", 200,
	    "{\"StreamDescriptionSummary\":{\"StreamName\":\"s\",\"StreamStatus\":\"CREATING\"}}");
	can("DescribeStreamSummary", 200,
	    "{\"StreamDescriptionSummary\":{\"StreamName\":\"s\",\"StreamStatus\":\"ACTIVE\"}}");
	r = RUN("create", "s", "--wait");
	EXPECT(r, 0);
	cr_assert_eq(count("DescribeStreamSummary"), 3);
	expect_body("DescribeStreamSummary", 2, "{\"StreamName\":\"s\"}");
	expect_in(r.out, "ACTIVE");
	run_free(&r);
}

Test(sluicectl, create_wait_gives_up_after_wait_timeout)
{
	struct run r;

	can("CreateStream", 200, "");
	can("DescribeStreamSummary", 200,
	    "{\"StreamDescriptionSummary\":{\"StreamName\":\"s\",\"StreamStatus\":\"CREATING\"}}");
	r = RUN("create", "s", "--wait", "--wait-timeout", "1");
	EXPECT(r, 3);
	expect_in(r.err, "timed out");
	expect_in(r.err, "CREATING");
	run_free(&r);
}

Test(sluicectl, delete_wait_polls_until_gone)
{
	struct run r;

	can("DeleteStream", 200, "");
	can("DescribeStreamSummary", 200,
	    "{\"StreamDescriptionSummary\":{\"StreamName\":\"s\",\"StreamStatus\":\"DELETING\"}}");
	can("DescribeStreamSummary", 400, ERR_RNF);
	r = RUN("delete", "s", "--wait");
	EXPECT(r, 0);
	expect_body("DeleteStream", 0, "{\"StreamName\":\"s\"}");
	cr_assert_eq(count("DescribeStreamSummary"), 2);
	run_free(&r);

	/* An ARN names the stream by StreamARN. */
	r = RUN("delete", "arn:aws:kinesis:us-east-1:000000000000:stream/s");
	EXPECT(r, 0);
	expect_body("DeleteStream", 1,
	            "{\"StreamARN\":\"arn:aws:kinesis:us-east-1:000000000000:stream/s\"}");
	run_free(&r);
}

Test(sluicectl, list_follows_pages_and_prints_a_table)
{
	const char *p1 = "{\"StreamNames\":[\"alpha\",\"beta\"],\"HasMoreStreams\":true,"
	                 "\"NextToken\":\"tok1\",\"StreamSummaries\":[{\"StreamName\":\"alpha\","
	                 "\"StreamStatus\":\"ACTIVE\",\"StreamModeDetails\":{\"StreamMode\":"
	                 "\"PROVISIONED\"},\"StreamCreationTimestamp\":1764547200}]}";
	const char *p2 = "{\"StreamNames\":[\"gamma\"],\"HasMoreStreams\":true}";
	const char *p3 = "{\"StreamNames\":[\"zeta\"],\"HasMoreStreams\":false}";
	struct run r;

	can("ListStreams", 200, p1);
	can("ListStreams", 200, p2);
	can("ListStreams", 200, p3);
	r = RUN("list");
	EXPECT(r, 0);
	cr_assert_eq(count("ListStreams"), 3);
	expect_body("ListStreams", 0, "{}");
	expect_body("ListStreams", 1, "{\"NextToken\":\"tok1\"}");
	expect_body("ListStreams", 2, "{\"ExclusiveStartStreamName\":\"gamma\"}");
	expect_in(r.out, "NAME ");
	expect_in(r.out, "alpha  ACTIVE  PROVISIONED  2025-12-01 00:00:00 UTC\n");
	expect_in(r.out, "\nbeta ");
	expect_in(r.out, "\ngamma ");
	expect_in(r.out, "\nzeta ");
	cr_assert_eq(lines_of(r.out), 5);
	run_free(&r);
}

Test(sluicectl, list_without_summaries_prints_names)
{
	struct run r;

	can("ListStreams", 200, "{\"StreamNames\":[\"a\",\"b\"],\"HasMoreStreams\":false}");
	r = RUN("list");
	EXPECT(r, 0);
	cr_assert_str_eq(r.out, "NAME\na\nb\n");
	run_free(&r);
}

Test(sluicectl, json_prints_each_raw_answer)
{
	const char *p1 = "{\"StreamNames\":[\"a\"],\"HasMoreStreams\":true,\"NextToken\":\"t\"}";
	const char *p2 = "{\"StreamNames\":[\"b\"],\"HasMoreStreams\":false}";
	char want[256];
	struct run r;

	can("ListStreams", 200, p1);
	can("ListStreams", 200, p2);
	r = RUN("list", "--json");
	EXPECT(r, 0);
	snprintf(want, sizeof(want), "%s\n%s\n", p1, p2);
	cr_assert_str_eq(r.out, want);
	run_free(&r);
}

static const char *summary_json =
        "{\"StreamDescriptionSummary\":{\"StreamName\":\"s\",\"StreamARN\":"
        "\"arn:aws:kinesis:us-east-1:000000000000:stream/s\",\"StreamStatus\":\"ACTIVE\","
        "\"StreamModeDetails\":{\"StreamMode\":\"PROVISIONED\"},\"RetentionPeriodHours\":24,"
        "\"StreamCreationTimestamp\":1764547200,\"OpenShardCount\":2,\"ConsumerCount\":0,"
        "\"EncryptionType\":\"NONE\"}}";

/* Shard 0 was split at 2^127 into 1 and 2. */
static const char *shards_json =
        "{\"Shards\":["
        "{\"ShardId\":\"shardId-000000000000\",\"HashKeyRange\":{\"StartingHashKey\":\"0\","
        "\"EndingHashKey\":\"" FULL_RANGE "\"},\"SequenceNumberRange\":{"
        "\"StartingSequenceNumber\":\"100\",\"EndingSequenceNumber\":\"199\"}},"
        "{\"ShardId\":\"shardId-000000000001\",\"ParentShardId\":\"shardId-000000000000\","
        "\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":"
        "\"170141183460469231731687303715884105727\"},\"SequenceNumberRange\":{"
        "\"StartingSequenceNumber\":\"200\"}}],\"NextToken\":\"page2\"}";

static const char *shards2_json =
        "{\"Shards\":["
        "{\"ShardId\":\"shardId-000000000003\",\"ParentShardId\":\"shardId-000000000001\","
        "\"AdjacentParentShardId\":\"shardId-000000000002\",\"HashKeyRange\":{"
        "\"StartingHashKey\":\"0\",\"EndingHashKey\":\"" FULL_RANGE "\"},"
        "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"300\"}}]}";

Test(sluicectl, describe_prints_summary_and_shard_table)
{
	struct run r;

	can("DescribeStreamSummary", 200, summary_json);
	can("ListShards", 200, shards_json);
	can("ListShards", 200, shards2_json);
	r = RUN("describe", "s");
	EXPECT(r, 0);
	expect_body("ListShards", 0, "{\"StreamName\":\"s\"}");
	expect_body("ListShards", 1, "{\"NextToken\":\"page2\"}");
	expect_in(r.out, "Stream:          s\n");
	expect_in(r.out, "Status:          ACTIVE\n");
	expect_in(r.out, "Retention:       24 hours\n");
	expect_in(r.out, "Open shards:     2\n");
	expect_in(r.out, "SHARD ");
	expect_in(r.out, "PARENTS");
	expect_in(r.out, "shardId-000000000000  -  ");
	expect_in(r.out, "0.." FULL_RANGE "  100..199 ");
	expect_in(r.out, " closed\n");
	expect_in(r.out, "200..  ");
	expect_in(r.out, "shardId-000000000001,shardId-000000000002");
	expect_in(r.out, "300..  ");
	cr_assert(strstr(r.out, "  open\n"));
	run_free(&r);

	uncan("ListShards");
	can("ListShards", 200, shards_json);
	can("ListShards", 200, shards2_json);
	r = RUN("describe", "s", "--json");
	EXPECT(r, 0);
	cr_assert_eq(lines_of(r.out), 3);
	cr_assert(strncmp(r.out, summary_json, strlen(summary_json)) == 0);
	run_free(&r);
}

/* A shard [start, end] in a ListShards answer. */
static void can_one_shard(const char *id, const char *start, const char *end)
{
	char b[512];

	snprintf(b, sizeof(b),
	         "{\"Shards\":[{\"ShardId\":\"shardId-000000000009\",\"HashKeyRange\":{"
	         "\"StartingHashKey\":\"1\",\"EndingHashKey\":\"5\"},\"SequenceNumberRange\":{"
	         "\"StartingSequenceNumber\":\"1\"}},{\"ShardId\":\"%s\",\"HashKeyRange\":{"
	         "\"StartingHashKey\":\"%s\",\"EndingHashKey\":\"%s\"},\"SequenceNumberRange\":{"
	         "\"StartingSequenceNumber\":\"1\"}}]}",
	         id, start, end);
	can("ListShards", 200, b);
}

/* The midpoint is start + ceil((end - start) / 2), in 128 bits: (start +
 * end) would overflow for the upper half of the key space. */
Test(sluicectl, split_defaults_to_the_midpoint_in_128_bits)
{
	static const struct {
		const char *start, *end, *mid;
	} cases[] = {
	        {"0", FULL_RANGE, "170141183460469231731687303715884105728"}, /* 2^127 */
	        {"170141183460469231731687303715884105728", FULL_RANGE,
	         "255211775190703847597530955573826158592"}, /* 2^127 + 2^126 */
	        {"113427455640312821154458202477256070485",
	         "226854911280625642308916404954512140969",
	         "170141183460469231731687303715884105727"},
	        {"10", "13", "12"},
	        {"10", "12", "11"},
	        {"340282366920938463463374607431768211453", FULL_RANGE,
	         "340282366920938463463374607431768211454"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[256];
		struct run r;

		can_one_shard("shardId-000000000004", cases[i].start, cases[i].end);
		can("SplitShard", 200, "");
		r = RUN("split", "s", "shardId-000000000004");
		EXPECT(r, 0);
		snprintf(want, sizeof(want),
		         "{\"StreamName\":\"s\",\"ShardToSplit\":\"shardId-000000000004\","
		         "\"NewStartingHashKey\":\"%s\"}",
		         cases[i].mid);
		expect_body("SplitShard", i, want);
		expect_in(r.out, cases[i].mid);
		run_free(&r);
		/* The next case's ListShards answer replaces this one. */
		uncan("ListShards");
	}
}

Test(sluicectl, split_at_an_explicit_key_and_unknown_shards)
{
	struct run r;

	can("SplitShard", 200, "");
	r = RUN("split", "s", "shardId-000000000000", "--at", FULL_RANGE);
	EXPECT(r, 0);
	cr_assert_eq(count("ListShards"), 0);
	expect_body("SplitShard", 0,
	            "{\"StreamName\":\"s\",\"ShardToSplit\":\"shardId-000000000000\","
	            "\"NewStartingHashKey\":\"" FULL_RANGE "\"}");
	run_free(&r);

	can_one_shard("shardId-000000000004", "0", "7");
	r = RUN("split", "s", "shardId-000000000077");
	EXPECT(r, 4);
	expect_in(r.err, "shardId-000000000077");
	cr_assert_eq(count("SplitShard"), 1);
	run_free(&r);
}

Test(sluicectl, merge_scale_and_tags_send_what_kinesis_expects)
{
	struct run r;

	can("MergeShards", 200, "");
	r = RUN("merge", "s", "shardId-000000000001", "shardId-000000000002");
	EXPECT(r, 0);
	expect_body("MergeShards", 0,
	            "{\"StreamName\":\"s\",\"ShardToMerge\":\"shardId-000000000001\","
	            "\"AdjacentShardToMerge\":\"shardId-000000000002\"}");
	run_free(&r);

	can("UpdateShardCount", 200,
	    "{\"StreamName\":\"s\",\"CurrentShardCount\":2,\"TargetShardCount\":4}");
	r = RUN("scale", "s", "4");
	EXPECT(r, 0);
	expect_body("UpdateShardCount", 0,
	            "{\"StreamName\":\"s\",\"TargetShardCount\":4,\"ScalingType\":"
	            "\"UNIFORM_SCALING\"}");
	expect_in(r.out, "from 2 to 4");
	run_free(&r);

	can("AddTagsToStream", 200, "");
	r = RUN("tag", "s", "a=1", "b=");
	EXPECT(r, 0);
	expect_body("AddTagsToStream", 0,
	            "{\"StreamName\":\"s\",\"Tags\":{\"a\":\"1\",\"b\":\"\"}}");
	run_free(&r);

	can("RemoveTagsFromStream", 200, "");
	r = RUN("untag", "s", "a", "b");
	EXPECT(r, 0);
	expect_body("RemoveTagsFromStream", 0, "{\"StreamName\":\"s\",\"TagKeys\":[\"a\",\"b\"]}");
	run_free(&r);

	can("ListTagsForStream", 200,
	    "{\"Tags\":[{\"Key\":\"a\",\"Value\":\"1\"},{\"Key\":\"team\",\"Value\":\"x\"}],"
	    "\"HasMoreTags\":true}");
	can("ListTagsForStream", 200,
	    "{\"Tags\":[{\"Key\":\"z\",\"Value\":\"\"}],"
	    "\"HasMoreTags\":false}");
	r = RUN("tags", "s");
	EXPECT(r, 0);
	expect_body("ListTagsForStream", 0, "{\"StreamName\":\"s\"}");
	expect_body("ListTagsForStream", 1,
	            "{\"StreamName\":\"s\",\"ExclusiveStartTagKey\":\"team\"}");
	cr_assert_str_eq(r.out, "KEY   VALUE\na     1\nteam  x\nz\n");
	run_free(&r);
}

static void can_retention(int hours)
{
	char b[256];

	snprintf(b, sizeof(b),
	         "{\"StreamDescriptionSummary\":{\"StreamName\":\"s\",\"StreamStatus\":\"ACTIVE\","
	         "\"RetentionPeriodHours\":%d}}",
	         hours);
	can("DescribeStreamSummary", 200, b);
}

Test(sluicectl, retention_picks_increase_or_decrease)
{
	struct run r;

	can_retention(48);
	can("IncreaseStreamRetentionPeriod", 200, "");
	can("DecreaseStreamRetentionPeriod", 200, "");
	r = RUN("retention", "s", "168");
	EXPECT(r, 0);
	expect_body("IncreaseStreamRetentionPeriod", 0,
	            "{\"StreamName\":\"s\",\"RetentionPeriodHours\":168}");
	cr_assert_eq(count("DecreaseStreamRetentionPeriod"), 0);
	run_free(&r);

	r = RUN("retention", "s", "24");
	EXPECT(r, 0);
	expect_body("DecreaseStreamRetentionPeriod", 0,
	            "{\"StreamName\":\"s\",\"RetentionPeriodHours\":24}");
	run_free(&r);

	r = RUN("retention", "s", "48");
	EXPECT(r, 0);
	cr_assert_eq(count("IncreaseStreamRetentionPeriod"), 1);
	cr_assert_eq(count("DecreaseStreamRetentionPeriod"), 1);
	expect_in(r.out, "already 48");
	run_free(&r);
}

/* ---- put ---- */

/* PutRecords: every entry succeeds on shard "shardId-<n mod 2>" with
 * sequence number 1000 * call + index; entries whose data starts with
 * "fail" are throttled on their first send, "dead" always. */
static bool put_handler(const struct req *r, size_t call, int *status, char **body)
{
	json_t *in, *recs, *out, *res, *rec;
	size_t i;
	int failed = 0;

	if (strcmp(r->op, "PutRecords") != 0)
		return false;
	in = json_loadb(r->body, r->len, 0, NULL);
	recs = json_object_get(in, "Records");
	res = json_array();
	json_array_foreach(recs, i, rec)
	{
		const char *d = json_string_value(json_object_get(rec, "Data"));
		char seq[32], data[64] = "";

		if (strlen(d) < 80)
			unb64(d, data);
		if ((call == 0 && strncmp(data, "fail", 4) == 0) || strncmp(data, "dead", 4) == 0) {
			json_array_append_new(res,
			                      json_pack("{s:s, s:s}", "ErrorCode",
			                                "ProvisionedThroughputExceededException",
			                                "ErrorMessage", "Rate exceeded for shard"));
			failed++;
			continue;
		}
		snprintf(seq, sizeof(seq), "%zu", 1000 * call + i);
		json_array_append_new(
		        res, json_pack("{s:s, s:s}", "ShardId",
		                       i % 2 ? "shardId-000000000001" : "shardId-000000000000",
		                       "SequenceNumber", seq));
	}
	out = json_pack("{s:i, s:o}", "FailedRecordCount", failed, "Records", res);
	*body = json_dumps(out, JSON_COMPACT);
	*status = 200;
	json_decref(out);
	json_decref(in);
	return true;
}

Test(sluicectl, put_from_arguments)
{
	struct run r;

	F.handler = put_handler;
	r = RUN("put", "s", "--key", "k", "a", "bc", "");
	EXPECT(r, 0);
	cr_assert_eq(count("PutRecords"), 1);
	expect_body("PutRecords", 0,
	            "{\"StreamName\":\"s\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"k\"},"
	            "{\"Data\":\"YmM=\",\"PartitionKey\":\"k\"},{\"Data\":\"\",\"PartitionKey\":"
	            "\"k\"}]}");
	cr_assert_str_eq(r.out, "0 shardId-000000000000 0\n1 shardId-000000000001 1\n"
	                        "2 shardId-000000000000 2\n");
	run_free(&r);

	r = RUN("put", "s", "--hash-key", "12345678901234567890123456789", "-q", "x");
	EXPECT(r, 0);
	expect_body("PutRecords", 1,
	            "{\"StreamName\":\"s\",\"Records\":[{\"Data\":\"eA==\",\"PartitionKey\":\"0\","
	            "\"ExplicitHashKey\":\"12345678901234567890123456789\"}]}");
	expect_in(r.out, "1 records put to s, 0 failed");
	cr_assert_eq(lines_of(r.out), 1);
	run_free(&r);
}

Test(sluicectl, put_from_stdin_in_batches_of_500)
{
	size_t n = 1201, len = 0;
	char *in = malloc(n * 16);
	struct run r;

	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(in + len, "line %zu\n", i);
	F.handler = put_handler;
	struct opts o = {.in = in};

	r = RUN_O(&o, "put", "s", "-q");
	EXPECT(r, 0);
	cr_assert_eq(count("PutRecords"), 3);
	for (size_t b = 0, idx = 0; b < 3; b++) {
		json_t *j = body_of(nth("PutRecords", b)), *recs = json_object_get(j, "Records"),
		       *rec;
		size_t i;

		cr_assert_eq(json_array_size(recs), b < 2 ? 500 : 201);
		json_array_foreach(recs, i, rec)
		{
			char want_key[24], want_data[32], want_b64[48];
			const char *d = json_string_value(json_object_get(rec, "Data"));

			snprintf(want_key, sizeof(want_key), "%zu", idx);
			snprintf(want_data, sizeof(want_data), "line %zu", idx);
			cr_assert_str_eq(json_string_value(json_object_get(rec, "PartitionKey")),
			                 want_key);
			b64(want_data, strlen(want_data), want_b64);
			cr_assert_str_eq(d, want_b64, "record %zu", idx);
			idx++;
		}
		json_decref(j);
	}
	expect_in(r.out, "1201 records put to s, 0 failed, 0 resent");
	run_free(&r);
	free(in);
}

Test(sluicectl, put_batches_stay_under_5_mib)
{
	size_t n = 60, rec = 100 * 1024, len = 0, total = 0;
	char *in = malloc(n * (rec + 1));
	struct run r;

	for (size_t i = 0; i < n; i++) {
		memset(in + len, 'a' + (char)(i % 26), rec);
		len += rec;
		in[len++] = '\n';
	}
	F.handler = put_handler;
	struct opts o = {.in = in, .inlen = len};

	r = RUN_O(&o, "put", "s", "-q");
	EXPECT(r, 0);
	cr_assert_gt(count("PutRecords"), 1);
	for (size_t b = 0; b < count("PutRecords"); b++) {
		json_t *j = body_of(nth("PutRecords", b)), *recs = json_object_get(j, "Records"),
		       *e;
		size_t i, bytes = 0;

		json_array_foreach(recs, i, e)
		{
			bytes += strlen(json_string_value(json_object_get(e, "Data"))) / 4 * 3;
			bytes += strlen(json_string_value(json_object_get(e, "PartitionKey")));
		}
		cr_assert_leq(bytes, 5u << 20, "batch %zu has %zu bytes", b, bytes);
		total += json_array_size(recs);
		json_decref(j);
	}
	cr_assert_eq(total, n);
	/* 51 records of 100 KiB + key fit in 5 MiB. */
	cr_assert_eq(records_in("PutRecords", 0), 51);
	run_free(&r);
	free(in);
}

Test(sluicectl, put_resends_throttled_entries_only)
{
	struct run r;

	F.handler = put_handler;
	r = RUN("put", "s", "ok0", "fail1", "ok2", "fail3");
	EXPECT(r, 0);
	cr_assert_eq(count("PutRecords"), 2);
	/* The second send holds the two throttled entries, in order. */
	expect_body("PutRecords", 1,
	            "{\"StreamName\":\"s\",\"Records\":[{\"Data\":\"ZmFpbDE=\",\"PartitionKey\":"
	            "\"1\"},{\"Data\":\"ZmFpbDM=\",\"PartitionKey\":\"3\"}]}");
	/* Results in input order, with the resent ones' numbers. */
	cr_assert_str_eq(r.out, "0 shardId-000000000000 0\n1 shardId-000000000000 1000\n"
	                        "2 shardId-000000000000 2\n3 shardId-000000000001 1001\n");
	run_free(&r);
}

Test(sluicectl, put_gives_up_after_max_attempts)
{
	struct run r;

	F.handler = put_handler;
	r = RUN("put", "s", "--max-attempts", "3", "ok0", "dead1");
	EXPECT(r, 1);
	cr_assert_eq(count("PutRecords"), 3);
	expect_in(r.out, "0 shardId-000000000000 0\n");
	expect_in(r.out, "1 FAILED ProvisionedThroughputExceededException: Rate exceeded");
	expect_in(r.err, "1 of 2 records failed");
	run_free(&r);
}

Test(sluicectl, put_skips_lines_over_1_mib)
{
	size_t big = (1u << 20) + 10, len = 0;
	char *in = malloc(big + 64);
	struct run r;

	len += (size_t)sprintf(in, "first\n");
	memset(in + len, 'x', big);
	len += big;
	in[len++] = '\n';
	len += (size_t)sprintf(in + len, "last\n");
	F.handler = put_handler;
	struct opts o = {.in = in, .inlen = len};

	r = RUN_O(&o, "put", "s");
	EXPECT(r, 1);
	expect_in(r.err, "record 1");
	expect_in(r.err, "skipped");
	cr_assert_eq(count("PutRecords"), 1);
	expect_body("PutRecords", 0,
	            "{\"StreamName\":\"s\",\"Records\":[{\"Data\":\"Zmlyc3Q=\",\"PartitionKey\":"
	            "\"0\"},{\"Data\":\"bGFzdA==\",\"PartitionKey\":\"2\"}]}");
	run_free(&r);
	free(in);
}

Test(sluicectl, put_stops_on_a_missing_stream)
{
	struct run r;

	can("PutRecords", 400, ERR_RNF);
	r = RUN("put", "s", "x");
	EXPECT(r, 4);
	run_free(&r);
}

/* ---- get ---- */

/* GetRecords answers keyed by iterator: iterator -> body. */
static const char *const *get_table;

static bool get_handler(const struct req *r, size_t call, int *status, char **body)
{
	json_t *in;
	const char *it;

	(void)call;
	if (strcmp(r->op, "GetRecords") != 0)
		return false;
	in = json_loadb(r->body, r->len, 0, NULL);
	it = json_string_value(json_object_get(in, "ShardIterator"));
	*status = 400;
	*body = strdup("{\"__type\":\"InvalidArgumentException\",\"message\":\"Invalid "
	               "ShardIterator.\"}");
	for (size_t i = 0; it && get_table[i]; i += 2)
		if (strcmp(get_table[i], it) == 0) {
			free(*body);
			*status = 200;
			*body = strdup(get_table[i + 1]);
		}
	json_decref(in);
	return true;
}

/* GetShardIterator: "it-<ShardId>" for every shard. */
static bool iter_handler(const struct req *r, size_t call, int *status, char **body)
{
	json_t *in;

	if (strcmp(r->op, "GetShardIterator") != 0)
		return get_handler(r, call, status, body);
	in = json_loadb(r->body, r->len, 0, NULL);
	*status = 200;
	cr_assert(asprintf(body, "{\"ShardIterator\":\"it-%s\"}",
	                   json_string_value(json_object_get(in, "ShardId"))) > 0);
	json_decref(in);
	return true;
}

#define REC(seq, data)                                                                             \
	"{\"SequenceNumber\":\"" seq                                                               \
	"\",\"ApproximateArrivalTimestamp\":1764547200.5,\"Data\":\"" data                         \
	"\",\"PartitionKey\":\"k\"}"

Test(sluicectl, get_one_shard_until_caught_up)
{
	static const char *const table[] = {
	        "it-shardId-000000000000",
	        "{\"Records\":[" REC("1", "aGVsbG8=") "," REC(
	                "2", "d29ybGQK") "],"
	                                 "\"NextShardIterator\":\"i2\",\"MillisBehindLatest\":5}",
	        "i2",
	        "{\"Records\":[],\"NextShardIterator\":\"i3\",\"MillisBehindLatest\":5}",
	        "i3",
	        "{\"Records\":[],\"NextShardIterator\":\"i4\",\"MillisBehindLatest\":0}",
	        NULL,
	};
	struct run r;

	get_table = table;
	F.handler = iter_handler;
	r = RUN("get", "s", "--shard", "shardId-000000000000");
	EXPECT(r, 0);
	expect_body("GetShardIterator", 0,
	            "{\"StreamName\":\"s\",\"ShardId\":\"shardId-000000000000\","
	            "\"ShardIteratorType\":\"TRIM_HORIZON\"}");
	expect_body("GetRecords", 0,
	            "{\"ShardIterator\":\"it-shardId-000000000000\","
	            "\"Limit\":10000}");
	cr_assert_eq(count("GetRecords"), 3);
	/* "world\n" keeps its newline, "hello" gets one. */
	cr_assert_str_eq(r.out, "hello\nworld\n");
	run_free(&r);

	r = RUN("get", "s", "--shard", "shardId-000000000000", "--base64");
	EXPECT(r, 0);
	cr_assert_str_eq(r.out, "aGVsbG8=\nd29ybGQK\n");
	run_free(&r);

	r = RUN("get", "s", "--shard", "shardId-000000000000", "--json", "--limit", "1");
	EXPECT(r, 0);
	{
		json_t *j = json_loads(r.out, 0, NULL);

		cr_assert(j, "%s", r.out);
		cr_assert_str_eq(json_string_value(json_object_get(j, "ShardId")),
		                 "shardId-000000000000");
		cr_assert_str_eq(json_string_value(json_object_get(j, "SequenceNumber")), "1");
		cr_assert_str_eq(json_string_value(json_object_get(j, "Data")), "aGVsbG8=");
		cr_assert_eq(json_real_value(json_object_get(j, "ApproximateArrivalTimestamp")),
		             1764547200.5);
		json_decref(j);
	}
	cr_assert_eq(lines_of(r.out), 1);
	expect_body("GetRecords", count("GetRecords") - 1,
	            "{\"ShardIterator\":\"it-shardId-000000000000\",\"Limit\":1}");
	run_free(&r);
}

Test(sluicectl, get_from_positions)
{
	static const char *const table[] = {"it-shardId-000000000001",
	                                    "{\"Records\":[],\"NextShardIterator\":\"x\"}", NULL};
	static const struct {
		const char *from, *want;
	} cases[] = {
	        {"latest", "\"ShardIteratorType\":\"LATEST\""},
	        {"at:49", "\"ShardIteratorType\":\"AT_SEQUENCE_NUMBER\",\"StartingSequenceNumber\":"
	                  "\"49\""},
	        {"after:50", "\"ShardIteratorType\":\"AFTER_SEQUENCE_NUMBER\","
	                     "\"StartingSequenceNumber\":\"50\""},
	        {"time:1767225600", "\"ShardIteratorType\":\"AT_TIMESTAMP\",\"Timestamp\":"
	                            "1767225600"},
	        {"time:1767225600.5", "\"ShardIteratorType\":\"AT_TIMESTAMP\",\"Timestamp\":"
	                              "1767225600.5"},
	};

	get_table = table;
	F.handler = iter_handler;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[256];
		struct run r =
		        RUN("get", "s", "--shard", "shardId-000000000001", "--from", cases[i].from);

		EXPECT(r, 0);
		snprintf(want, sizeof(want),
		         "{\"StreamName\":\"s\",\"ShardId\":\"shardId-000000000001\",%s}",
		         cases[i].want);
		expect_body("GetShardIterator", i, want);
		run_free(&r);
	}
}

/*
 * Shard 0 (closed) was split into 1 and 2; 1 and 2 were merged into 3.
 * Reading every shard: 0 first, then 1 and 2 (children named at 0's end),
 * then 3 once both its parents ended.
 */
Test(sluicectl, get_all_shards_reads_parents_before_children)
{
	static const char *const table[] = {
	        "it-shardId-000000000000",
	        "{\"Records\":[" REC("1", "cDA=") "],\"ChildShards\":["
	                                          "{\"ShardId\":\"shardId-000000000001\","
	                                          "\"ParentShards\":[\"shardId-000000000000\"],"
	                                          "\"HashKeyRange\":{\"StartingHashKey\":\"0\","
	                                          "\"EndingHashKey\":\"1\"}},"
	                                          "{\"ShardId\":\"shardId-000000000002\","
	                                          "\"ParentShards\":[\"shardId-000000000000\"],"
	                                          "\"HashKeyRange\":{\"StartingHashKey\":\"2\","
	                                          "\"EndingHashKey\":\"3\"}}],"
	                                          "\"MillisBehindLatest\":0}",
	        "it-shardId-000000000001",
	        "{\"Records\":[" REC(
	                "2", "YzE=") "],\"ChildShards\":[{\"ShardId\":"
	                             "\"shardId-000000000003\",\"ParentShards\":[\"shardId-"
	                             "000000000001\","
	                             "\"shardId-000000000002\"]}],\"MillisBehindLatest\":0}",
	        "it-shardId-000000000002",
	        "{\"Records\":[" REC("3", "YzI=") "],\"NextShardIterator\":\"c2b\","
	                                          "\"MillisBehindLatest\":9}",
	        "c2b",
	        "{\"Records\":[" REC(
	                "4", "YzJi") "],\"ChildShards\":[{\"ShardId\":"
	                             "\"shardId-000000000003\",\"ParentShards\":[\"shardId-"
	                             "000000000001\","
	                             "\"shardId-000000000002\"]}],\"MillisBehindLatest\":0}",
	        "it-shardId-000000000003",
	        "{\"Records\":[" REC("5", "bTM=") "],\"NextShardIterator\":\"m3b\","
	                                          "\"MillisBehindLatest\":0}",
	        "m3b",
	        "{\"Records\":[],\"NextShardIterator\":\"m3c\",\"MillisBehindLatest\":0}",
	        NULL,
	};
	struct run r;

	get_table = table;
	F.handler = iter_handler;
	/* ListShards knows 0, 1, 2 and 3 (3 under both parents). */
	can("ListShards", 200, shards_json);
	can("ListShards", 200,
	    "{\"Shards\":[{\"ShardId\":\"shardId-000000000002\",\"ParentShardId\":"
	    "\"shardId-000000000000\",\"HashKeyRange\":{\"StartingHashKey\":\"1\","
	    "\"EndingHashKey\":\"2\"},\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"1\","
	    "\"EndingSequenceNumber\":\"9\"}},"
	    "{\"ShardId\":\"shardId-000000000003\",\"ParentShardId\":\"shardId-000000000001\","
	    "\"AdjacentParentShardId\":\"shardId-000000000002\",\"HashKeyRange\":{"
	    "\"StartingHashKey\":\"0\",\"EndingHashKey\":\"2\"},\"SequenceNumberRange\":{"
	    "\"StartingSequenceNumber\":\"1\"}}]}");
	r = RUN("get", "s");
	EXPECT(r, 0);
	cr_assert_str_eq(r.out, "p0\nc1\nc2\nc2b\nm3\n");
	/* Iterators in lineage order: 0, then 1 and 2, then 3. */
	cr_assert_eq(count("GetShardIterator"), 4);
	expect_member("GetShardIterator", 0, "ShardId", "shardId-000000000000");
	expect_member("GetShardIterator", 3, "ShardId", "shardId-000000000003");
	run_free(&r);

	/* One shard follows its own lineage: 1, then 3 (2 is not waited for). */
	r = RUN("get", "s", "--shard", "shardId-000000000001");
	EXPECT(r, 0);
	cr_assert_str_eq(r.out, "c1\nm3\n");
	run_free(&r);
}

Test(sluicectl, get_missing_shard_exits_4)
{
	struct run r;

	can("GetShardIterator", 400,
	    "{\"__type\":\"ResourceNotFoundException\",\"message\":\"Shard shardId-000000000009 "
	    "in stream s under account 000000000000 does not exist\"}");
	r = RUN("get", "s", "--shard", "shardId-000000000009");
	EXPECT(r, 4);
	expect_in(r.err, "does not exist");
	run_free(&r);
}

/* GetRecords on an idle shard always answers empty. */
static bool idle_handler(const struct req *r, size_t call, int *status, char **body)
{
	(void)call;
	if (strcmp(r->op, "GetShardIterator") == 0) {
		*status = 200;
		*body = strdup("{\"ShardIterator\":\"idle\"}");
		return true;
	}
	if (strcmp(r->op, "GetRecords") == 0) {
		*status = 200;
		*body = strdup("{\"Records\":[],\"NextShardIterator\":\"idle\","
		               "\"MillisBehindLatest\":0}");
		return true;
	}
	return false;
}

Test(sluicectl, get_follow_keeps_polling_and_sigint_exits_0)
{
	struct run r;
	int out, err;
	pid_t pid;

	F.handler = idle_handler;
	pid = spawn(&(struct opts){0},
	            (const char *const[]){"get", "s", "--shard", "shardId-000000000000", "--follow",
	                                  NULL},
	            &out, &err);
	/* Without --follow one empty answer would end it; wait for three. */
	pthread_mutex_lock(&F.mu);
	for (;;) {
		size_t n = 0;

		for (size_t i = 0; i < F.nreqs; i++)
			n += strcmp(F.reqs[i]->op, "GetRecords") == 0;
		if (n >= 3)
			break;
		pthread_cond_wait(&F.cv, &F.mu);
	}
	pthread_mutex_unlock(&F.mu);
	cr_assert_eq(kill(pid, SIGINT), 0);
	finish(pid, out, err, &r);
	EXPECT(r, 0);
	cr_assert_str_eq(r.err, "");
	run_free(&r);
}

/* ---- stats ---- */

Test(sluicectl, stats_summarises_prometheus_text)
{
	const char *text = "# HELP sluice_api_requests_total Requests answered.\n"
	                   "# TYPE sluice_api_requests_total counter\n"
	                   "sluice_api_requests_total{op=\"PutRecords\"} 1234\n"
	                   "sluice_api_requests_total{op=\"GetRecords\"} 56\n"
	                   "# HELP sluice_store_bytes Bytes in the logs.\n"
	                   "# TYPE sluice_store_bytes gauge\n"
	                   "sluice_store_bytes 3145728\n"
	                   "# TYPE sluice_lat_seconds histogram\n"
	                   "sluice_lat_seconds_bucket{le=\"0.1\"} 3\n"
	                   "sluice_lat_seconds_sum 0.25\n"
	                   "sluice_lat_seconds_count 3\n";
	struct run r;

	can("GET /metrics", 200, text);
	r = RUN("stats", "--raw");
	EXPECT(r, 0);
	cr_assert_str_eq(r.out, text);
	run_free(&r);

	r = RUN("stats");
	EXPECT(r, 0);
	expect_in(r.out, "METRIC");
	expect_in(r.out, "op=\"PutRecords\"");
	expect_in(r.out, "1234");
	expect_in(r.out, "Requests answered.");
	expect_in(r.out, "3145728 (3.0 MiB)");
	expect_in(r.out, "sluice_lat_seconds_sum");
	cr_assert_null(strstr(r.out, "_bucket"));
	run_free(&r);

	r = RUN("stats", "--json");
	EXPECT(r, 0);
	{
		json_t *j = json_loads(r.out, 0, NULL), *m;

		cr_assert(j, "%s", r.out);
		m = json_array_get(json_object_get(j, "metrics"), 0);
		cr_assert_str_eq(json_string_value(json_object_get(m, "name")),
		                 "sluice_api_requests_total");
		cr_assert_str_eq(
		        json_string_value(json_object_get(json_object_get(m, "labels"), "op")),
		        "PutRecords");
		cr_assert_eq(json_integer_value(json_object_get(m, "value")), 1234);
		cr_assert_eq(json_array_size(json_object_get(j, "metrics")), 6);
		json_decref(j);
	}
	run_free(&r);

	/* Requests for /metrics are plain GETs. */
	cr_assert_str_eq(F.reqs[0]->method, "GET");
	cr_assert_str_eq(F.reqs[0]->path, "/metrics");
}

Test(sluicectl, stats_without_metrics_is_a_service_error)
{
	struct run r = RUN("stats");

	/* The fake answers 400 for anything it does not know. */
	EXPECT(r, 1);
	expect_in(r.err, "HTTP 400");
	run_free(&r);
}

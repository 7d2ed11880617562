/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Acked Kinesis API writes survive kill -9 (e2e suite, test `api_crash`).
 *
 * The real sluiced runs in a network namespace of its own (TAP defaults,
 * --data-dir in the test's directory, the API on the namespace's
 * 127.0.0.1:4567). For SLUICE_API_CRASH_CYCLES cycles (default 5):
 *
 *   start sluiced (the first time: CreateStream "crash" with 3 shards)
 *     -> read every shard from TRIM_HORIZON and check it (below)
 *     -> a writer process sends PutRecords batches of 50 records as fast
 *        as it can, one request at a time, and appends one line per record
 *        acked with a SequenceNumber to a file
 *     -> after 100-800 ms sluiced gets SIGKILL, mid-request
 *     -> the writer is stopped, its file read
 *
 * then a last restart and check, and a split: SplitShard, SIGKILL as soon
 * as it returns, restart, and the parent must be closed with an
 * EndingSequenceNumber, its two children open, and GetRecords at its end
 * must name them in ChildShards.
 *
 * The check, after each restart, over everything ever sent:
 *
 *   - every acked record is read back, on the shard and at the sequence
 *     number of its ack, with the partition key and data it was sent with;
 *   - no record is read twice (the writer never retries, so not even an
 *     unacked one may be), and nothing is read that was never sent;
 *   - sequence numbers strictly increase along each shard;
 *   - numbers acked after a restart are above every number the shard held
 *     when it restarted, so nothing handed out before a crash is reused.
 *
 * Sent but unacked records may or may not be there (at-least-once); they
 * are counted. Each record's partition key is "cycle.batch.index.random"
 * and its data starts with the same identity followed by bytes from a
 * seeded generator, so any record read back names the request it came
 * from and its expected contents. The seed is printed
 * (SLUICE_API_CRASH_SEED repeats a run's keys, data and delays).
 *
 * Sockets to the API are made inside the namespace: the writer setns()es
 * into it after fork, the test's own libcurl handle opens each socket
 * there through CURLOPT_OPENSOCKETFUNCTION; nothing outside is addressed.
 * Every wait is bounded; .fini kills what is left by PID and deletes the
 * namespace. Needs root, /dev/net/tun and the `ip` tool, and an EAL that
 * starts; skips with the reason otherwise. SLUICED names the executable.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "t_util.h"

#define STREAM         "crash"
#define SHARDS         3
#define MAX_SHARDS     8
#define BATCH          50
#define DATA_BYTES     200
#define B64_BYTES      (4 * ((DATA_BYTES + 2) / 3))
#define MAX_CYCLES     50
#define MAX_BATCHES    40000 /* per cycle: 2 M records, far above what 800 ms can ack */
#define WRITER_MS      (30 * 1000)
#define FIRST_ACK_MS   (10 * 1000)
#define WRITER_EXIT_MS 2000
#define MAX_PROCS      8
#define MAX_ARGS       24
#define READY_MS       (60 * 1000)
#define TOOL_MS        (30 * 1000)
#define HTTP_MS        20000L
#define GET_LIMIT      10000
#define GET_ROUNDS     2000
#define EXEC_FAILED    127
#define API_URL        "http://127.0.0.1:4567/"
#define SEQ_DIGITS     56

/* ---- per-test state; .fini undoes it ---- */

static char ns[64];
static bool ns_made;
static int ns_fd = -1;   /* the namespace, for setns() */
static int self_fd = -1; /* the namespace we run in */
static char *dir;
static pid_t live[MAX_PROCS];
static unsigned nlive;
static CURL *api_h;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void forget(pid_t pid)
{
	for (unsigned i = 0; i < nlive; i++)
		if (live[i] == pid) {
			live[i] = live[--nlive];
			return;
		}
}

/* Forks and execs argv[0] (found on PATH) with stdout and stderr to the
 * given files (NULL: inherited). Returns the PID. */
static pid_t spawn(char *const argv[], const char *out, const char *err)
{
	pid_t pid;

	cr_assert(nlive < MAX_PROCS, "too many processes");
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (out) {
			int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

			if (fd < 0 || dup2(fd, 1) < 0)
				_exit(EXEC_FAILED);
			close(fd);
		}
		if (err) {
			int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

			if (fd < 0 || dup2(fd, 2) < 0)
				_exit(EXEC_FAILED);
			close(fd);
		}
		/* Criterion's pipes to its runner stay out of sluiced. */
		close_range(3, ~0u, 0);
		execvp(argv[0], argv);
		_exit(EXEC_FAILED);
	}
	live[nlive++] = pid;
	return pid;
}

/* Waits up to ms for pid; returns 0 with its wait status, or -ETIMEDOUT
 * (the process is left running). */
static int wait_for(pid_t pid, int64_t ms, int *ret_status)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			forget(pid);
			*ret_status = st;
			return 0;
		}
		cr_assert(r == 0, "waitpid %d: %s", (int)pid, strerror(errno));
		if (now_ms() >= end)
			return -ETIMEDOUT;
		usleep(2000);
	}
}

static void kill_hard(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	forget(pid);
}

/* Runs a short command to completion (bounded); returns its exit status,
 * EXEC_FAILED if it could not be run, or -1 if it was killed. */
static int run_tool(char *const argv[], const char *out, const char *err)
{
	pid_t pid = spawn(argv, out, err);
	int st;

	if (wait_for(pid, TOOL_MS, &st) < 0) {
		kill_hard(pid);
		cr_assert_fail("%s did not finish in %d ms", argv[0], TOOL_MS);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *path_in(const char *name)
{
	char *p;

	cr_assert(asprintf(&p, "%s/%s", dir, name) >= 0);
	return p;
}

/* The whole of a file, NUL-terminated (empty if absent); its length in
 * *ret_len if not NULL. */
static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;

	if (f) {
		cr_assert(fseek(f, 0, SEEK_END) == 0);
		len = (size_t)ftell(f);
		rewind(f);
	}
	buf = calloc(1, len + 1);
	cr_assert_not_null(buf);
	if (f) {
		len = fread(buf, 1, len, f);
		buf[len] = 0;
		fclose(f);
	}
	if (ret_len)
		*ret_len = len;
	return buf;
}

/* First line of text that contains needle, for skip and failure reasons. */
static const char *line_with(char *text, const char *needle)
{
	char *p = strstr(text, needle), *nl;

	if (!p)
		return NULL;
	while (p > text && p[-1] != '\n')
		p--;
	nl = strchr(p, '\n');
	if (nl)
		*nl = 0;
	return p;
}

static void api_close(void)
{
	if (api_h)
		curl_easy_cleanup(api_h);
	api_h = NULL;
}

static void teardown(void)
{
	api_close();
	while (nlive)
		kill_hard(live[nlive - 1]);
	if (ns_made) {
		char *argv[] = {"ip", "netns", "delete", ns, NULL};
		pid_t pid = spawn(argv, NULL, NULL);
		int st;

		if (wait_for(pid, TOOL_MS, &st) < 0)
			kill_hard(pid);
		ns_made = false;
	}
	if (ns_fd >= 0)
		close(ns_fd);
	if (self_fd >= 0)
		close(self_fd);
	ns_fd = self_fd = -1;
	if (dir) {
		if (getenv("SLUICE_E2E_KEEP"))
			fprintf(stderr, "api_crash: kept %s\n", dir);
		else
			t_rm_rf(dir);
		free(dir);
		dir = NULL;
	}
}

TestSuite(e2e, .fini = teardown, .timeout = 300);

/* Skips unless this machine can run the test; makes the namespace (lo up)
 * and the test's directory. */
static void env_up(const char *tag)
{
	char *argv[] = {"ip", "netns", "add", ns, NULL};
	char path[128];
	int fd;

	if (geteuid() != 0)
		cr_skip_test("needs root (network namespaces, TAP devices)");
	if (!getenv("SLUICED"))
		cr_skip_test("SLUICED must name the executable (meson sets it)");
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		cr_skip_test("/dev/net/tun: %s (sluiced's TAP port needs it)", strerror(errno));
	close(fd);
	dir = t_tmpdir(tag);
	snprintf(ns, sizeof(ns), "sl-crash-%d", (int)getpid());
	if (run_tool(argv, NULL, NULL) != 0)
		cr_skip_test("`ip netns add %s` failed (no ip tool or no namespaces here)", ns);
	ns_made = true;
	{
		char *lo[] = {"ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up", NULL};

		cr_assert_eq(run_tool(lo, NULL, NULL), 0, "lo up in %s", ns);
	}
	snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
	ns_fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(ns_fd, 0, "%s: %s", path, strerror(errno));
	self_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(self_fd, 0, "/proc/thread-self/ns/net: %s", strerror(errno));
}

/* ---- sluiced ---- */

struct daemon {
	pid_t pid;
	char out[4096];
	char err[4096];
};

/* Starts sluiced in the namespace and waits until its API is ready. Skips
 * if EAL or the TAP port cannot start here. Returns the ms it took. */
static int64_t sluiced_start(struct daemon *d, const char *tag)
{
	char *data_dir = path_in("data-dir");
	char *argv[] = {"ip",         "netns",  "exec",      ns,        getenv("SLUICED"),
	                "--data-dir", data_dir, "--api-ack", "durable", NULL};
	int64_t t0 = now_ms(), end = t0 + READY_MS;

	snprintf(d->out, sizeof(d->out), "%s/sluiced-%s.out", dir, tag);
	snprintf(d->err, sizeof(d->err), "%s/sluiced-%s.err", dir, tag);
	d->pid = spawn(argv, d->out, d->err);
	for (;;) {
		char *text = slurp(d->out, NULL);
		bool ready = strstr(text, "ready: Kinesis API on") != NULL;
		int st;

		free(text);
		if (ready)
			break;
		if (wait_for(d->pid, 0, &st) == 0) {
			char *e = slurp(d->err, NULL), reason[256] = "";
			const char *why = line_with(e, "EAL init failed");

			if (!why)
				why = line_with(e, "no DPDK port");
			if (why) {
				snprintf(reason, sizeof(reason), "%s", why);
				free(e);
				free(data_dir);
				cr_skip_test("sluiced cannot start here: %s", reason);
			}
			cr_assert_fail("sluiced (%s) exited (status 0x%x) before it was ready:\n%s",
			               tag, st, e);
		}
		cr_assert_lt(now_ms(), end, "sluiced (%s) not ready after %d ms", tag, READY_MS);
		usleep(5000);
	}
	free(data_dir);
	return now_ms() - t0;
}

/* SIGKILL by PID and reap it (bounded). */
static void sluiced_kill9(struct daemon *d)
{
	int st;

	cr_assert_eq(kill(d->pid, SIGKILL), 0, "kill -9 %d: %s", (int)d->pid, strerror(errno));
	cr_assert_eq(wait_for(d->pid, TOOL_MS, &st), 0, "sluiced survived SIGKILL");
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
	          "sluiced ended with status 0x%x before the kill", st);
	api_close();
}

/* ---- the API from this process ---- */

/* Every socket libcurl opens here is made inside the namespace: this
 * thread enters it for the socket() call and comes straight back. */
static curl_socket_t ns_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	curl_socket_t s;

	(void)arg;
	(void)purpose;
	if (setns(ns_fd, CLONE_NEWNET) < 0)
		return CURL_SOCKET_BAD;
	s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (setns(self_fd, CLONE_NEWNET) < 0) {
		/* Cannot happen to root with both fds open; never go on in
		 * the wrong namespace. */
		abort();
	}
	return s;
}

struct buf {
	char *p;
	size_t len, cap;
};

static size_t buf_write(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = size * n;

	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		char *p;

		while (cap < b->len + len + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = 0;
	return len;
}

/* Headers of a Kinesis JSON 1.1 call; any signature is accepted. */
static struct curl_slist *api_headers(const char *op)
{
	char target[128];
	struct curl_slist *h = NULL;

	snprintf(target, sizeof(target), "X-Amz-Target: Kinesis_20131202.%s", op);
	h = curl_slist_append(h, target);
	h = curl_slist_append(h, "Content-Type: application/x-amz-json-1.1");
	h = curl_slist_append(h, "X-Amz-Date: 20261201T000000Z");
	h = curl_slist_append(h, "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261201/"
	                         "us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, "
	                         "Signature=00");
	/* No 100-continue round trip for bodies over 1 KiB. */
	h = curl_slist_append(h, "Expect:");
	return h;
}

/* One call; returns the HTTP status and the parsed body (NULL if empty). */
static int api(const char *op, const char *body, json_t **ret)
{
	struct curl_slist *h = api_headers(op);
	struct buf b = {0};
	long status = 0;
	CURLcode rc;

	cr_assert_not_null(h);
	if (!api_h) {
		api_h = curl_easy_init();
		cr_assert_not_null(api_h);
		curl_easy_setopt(api_h, CURLOPT_OPENSOCKETFUNCTION, ns_socket);
		curl_easy_setopt(api_h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(api_h, CURLOPT_TIMEOUT_MS, HTTP_MS);
		curl_easy_setopt(api_h, CURLOPT_URL, API_URL);
		curl_easy_setopt(api_h, CURLOPT_WRITEFUNCTION, buf_write);
	}
	curl_easy_setopt(api_h, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(api_h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(api_h, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(api_h);
	curl_slist_free_all(h);
	cr_assert_eq(rc, CURLE_OK, "%s: %s", op, curl_easy_strerror(rc));
	curl_easy_getinfo(api_h, CURLINFO_RESPONSE_CODE, &status);
	*ret = NULL;
	if (b.len) {
		json_error_t err;

		*ret = json_loadb(b.p, b.len, 0, &err);
		cr_assert_not_null(*ret, "%s: not JSON: %.300s", op, b.p);
	}
	free(b.p);
	return (int)status;
}

static json_t *api_ok(const char *op, const char *body)
{
	json_t *j = NULL;
	int st = api(op, body, &j);

	if (st != 200) {
		char *s = j ? json_dumps(j, 0) : NULL;

		cr_assert_fail("%s %.200s: HTTP %d %s", op, body, st, s ? s : "");
	}
	return j;
}

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void wait_active(void)
{
	int64_t end = now_ms() + 30000;

	for (;;) {
		json_t *j = api_ok("DescribeStreamSummary", "{\"StreamName\":\"" STREAM "\"}");
		const char *st =
		        jstr(json_object_get(j, "StreamDescriptionSummary"), "StreamStatus");
		bool active = st && strcmp(st, "ACTIVE") == 0;

		cr_assert_not_null(st);
		json_decref(j);
		if (active)
			return;
		cr_assert_lt(now_ms(), end, STREAM " not ACTIVE after 30 s");
		usleep(20000);
	}
}

/* ---- records: identity, key and data ---- */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static const char b64c[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0, o = 0;

	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = b64c[v >> 18];
		out[o++] = b64c[(v >> 12) & 63];
		out[o++] = b64c[(v >> 6) & 63];
		out[o++] = b64c[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

		out[o++] = b64c[v >> 18];
		out[o++] = b64c[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64c[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = 0;
}

/*
 * The partition key and base64 data of record (cycle, batch, index) under
 * seed: the key "c.b.i.<16 random hex>" (random, so records spread over
 * the shards; the identity, so a record read back says which it is), the
 * data "c.b.i:" and then random bytes, DATA_BYTES in all.
 */
static void rec_make(uint64_t seed, unsigned c, unsigned b, unsigned i, char key[64],
                     char b64[B64_BYTES + 1])
{
	uint64_t x = seed ^ ((uint64_t)c << 56) ^ ((uint64_t)b << 8) ^ i;
	uint8_t data[DATA_BYTES];
	int n;

	splitmix(&x);
	snprintf(key, 64, "%u.%u.%u.%016" PRIx64, c, b, i, splitmix(&x));
	n = snprintf((char *)data, sizeof(data), "%u.%u.%u:", c, b, i);
	for (size_t k = (size_t)n; k < DATA_BYTES; k += 8) {
		uint64_t r = splitmix(&x);

		memcpy(data + k, &r, DATA_BYTES - k < 8 ? DATA_BYTES - k : 8);
	}
	b64_encode(data, DATA_BYTES, b64);
}

/* A sequence number as the API shows it, "49" | 12-digit shard | 22 zeros
 * | 20-digit log number: 0 with the log number, or -1. */
static int seq_parse(const char *s, unsigned shard, uint64_t *ret)
{
	char want[20];
	uint64_t v = 0;

	if (!s || strlen(s) != SEQ_DIGITS)
		return -1;
	snprintf(want, sizeof(want), "49%012u", shard);
	if (memcmp(s, want, 14) != 0)
		return -1;
	for (unsigned k = 14; k < 36; k++)
		if (s[k] != '0')
			return -1;
	for (unsigned k = 36; k < SEQ_DIGITS; k++) {
		if (s[k] < '0' || s[k] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[k] - '0');
	}
	*ret = v;
	return 0;
}

static int shard_parse(const char *s, unsigned *ret)
{
	unsigned v;
	int n = 0;

	if (!s || sscanf(s, "shardId-%12u%n", &v, &n) != 1 || n != 20 || s[n] || v >= MAX_SHARDS)
		return -1;
	*ret = v;
	return 0;
}

/* ---- the writer (a forked child; no Criterion in it) ---- */

/*
 * Its file, one line per event, each written whole by one write() (a line
 * without its '\n' was cut by the kill and is ignored):
 *   S c b           batch b of cycle c is about to be sent
 *   A c b i SHARD SEQ   its record i was acked on SHARD at SEQ
 *   T c b n         n of its records came back failed (throttled)
 *   E c b WHAT      the request failed (the writer then exits: no retries)
 */
static void line_out(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(3);
		s += w;
		n -= (size_t)w;
	}
}

static void linef(int fd, const char *fmt, ...)
{
	char s[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(s, sizeof(s), fmt, ap);
	va_end(ap);
	line_out(fd, s, (size_t)n < sizeof(s) ? (size_t)n : sizeof(s) - 1);
}

static void writer_main(const char *path, uint64_t seed, unsigned cycle)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	size_t cap = 64 + BATCH * (B64_BYTES + 128), acap = BATCH * 160;
	char *body = malloc(cap), *acks = malloc(acap);
	struct curl_slist *h = api_headers("PutRecords");
	int64_t end = now_ms() + WRITER_MS;
	CURL *c;

	if (fd < 0 || !body || !acks || !h)
		_exit(2);
	if (setns(ns_fd, CLONE_NEWNET) < 0) {
		linef(fd, "E %u 0 setns: %s\n", cycle, strerror(errno));
		_exit(2);
	}
	c = curl_easy_init();
	if (!c)
		_exit(2);
	curl_easy_setopt(c, CURLOPT_URL, API_URL);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, HTTP_MS);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	for (unsigned b = 0; b < MAX_BATCHES && now_ms() < end; b++) {
		struct buf resp = {0};
		size_t n =
		        (size_t)snprintf(body, cap, "{\"StreamName\":\"" STREAM "\",\"Records\":[");
		long status = 0;
		size_t an = 0;
		json_t *j, *recs;
		unsigned failed = 0;
		CURLcode rc;

		for (unsigned i = 0; i < BATCH; i++) {
			char key[64], b64[B64_BYTES + 1];

			rec_make(seed, cycle, b, i, key, b64);
			n += (size_t)snprintf(body + n, cap - n,
			                      "%s{\"Data\":\"%s\",\"PartitionKey\":\"%s\"}",
			                      i ? "," : "", b64, key);
		}
		n += (size_t)snprintf(body + n, cap - n, "]}");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)n);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
		linef(fd, "S %u %u\n", cycle, b);
		rc = curl_easy_perform(c);
		if (rc != CURLE_OK) {
			linef(fd, "E %u %u curl: %s\n", cycle, b, curl_easy_strerror(rc));
			_exit(0);
		}
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		j = resp.len ? json_loadb(resp.p, resp.len, 0, NULL) : NULL;
		recs = json_object_get(j, "Records");
		if (status != 200 || !json_is_array(recs) || json_array_size(recs) != BATCH) {
			linef(fd, "E %u %u HTTP %ld: %.200s\n", cycle, b, status,
			      resp.p ? resp.p : "");
			_exit(0);
		}
		for (unsigned i = 0; i < BATCH; i++) {
			json_t *r = json_array_get(recs, i);
			const char *seq = jstr(r, "SequenceNumber"), *sid = jstr(r, "ShardId");

			if (!seq || !sid) {
				failed++;
				continue;
			}
			an += (size_t)snprintf(acks + an, acap - an, "A %u %u %u %.40s %.60s\n",
			                       cycle, b, i, sid, seq);
		}
		if (failed)
			an += (size_t)snprintf(acks + an, acap - an, "T %u %u %u\n", cycle, b,
			                       failed);
		line_out(fd, acks, an);
		json_decref(j);
		free(resp.p);
	}
	_exit(0);
}

static pid_t writer_start(const char *path, uint64_t seed, unsigned cycle)
{
	pid_t pid;

	cr_assert(nlive < MAX_PROCS);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		writer_main(path, seed, cycle);
	live[nlive++] = pid;
	return pid;
}

/* ---- what was sent and acked ---- */

struct rec {
	uint64_t seq; /* log number of its ack */
	int8_t shard; /* -1: not acked */
	uint8_t seen; /* read back in the current pass */
	uint8_t _pad[6];
};

struct cycle {
	unsigned batches; /* sent: 0..batches-1 */
	struct rec *r;    /* [batch * BATCH + index] */
	uint64_t acked, throttled;
	int64_t delay_ms, writer_ms;
	bool in_flight; /* a batch was sent and not answered when sluiced died */
	char error[256];
};

static struct cycle cycles[MAX_CYCLES + 1];
static unsigned ncycles;
static uint64_t seed;

/* Reads cycle c's writer file into cycles[c]; returns the number of lines. */
static unsigned acks_read(unsigned c, const char *path)
{
	struct cycle *cy = &cycles[c];
	size_t len;
	char *text = slurp(path, &len), *p = text, *nl;
	unsigned lines = 0, last_s = 0, last_a = 0;
	bool any_s = false;

	/* Pass 1: how many batches were sent. */
	for (char *q = text; (nl = strchr(q, '\n')); q = nl + 1) {
		unsigned cc, b;

		if (q[0] == 'S' && sscanf(q, "S %u %u", &cc, &b) == 2) {
			cr_assert_eq(cc, c);
			cr_assert_lt(b, MAX_BATCHES);
			if (b + 1 > cy->batches)
				cy->batches = b + 1;
		}
	}
	cy->r = calloc((size_t)cy->batches * BATCH + 1, sizeof(*cy->r));
	cr_assert_not_null(cy->r);
	for (size_t k = 0; k < (size_t)cy->batches * BATCH; k++)
		cy->r[k].shard = -1;
	for (; (nl = strchr(p, '\n')); p = nl + 1) {
		unsigned cc, b, i, shard;
		char sid[48], seqs[72];
		uint64_t seq;

		*nl = 0;
		lines++;
		switch (p[0]) {
		case 'S':
			sscanf(p, "S %u %u", &cc, &last_s);
			any_s = true;
			break;
		case 'A':
			cr_assert(sscanf(p, "A %u %u %u %47s %71s", &cc, &b, &i, sid, seqs) == 5,
			          "%s: bad line '%s'", path, p);
			cr_assert(cc == c && b < cy->batches && i < BATCH, "%s: '%s'", path, p);
			cr_assert_eq(shard_parse(sid, &shard), 0, "%s: ShardId in '%s'", path, p);
			cr_assert_eq(seq_parse(seqs, shard, &seq), 0,
			             "%s: SequenceNumber %s is not of shard %s", path, seqs, sid);
			cr_assert_eq(cy->r[b * BATCH + i].shard, -1, "%s: record %u.%u acked twice",
			             path, b, i);
			cy->r[b * BATCH + i] = (struct rec){.seq = seq, .shard = (int8_t)shard};
			cy->acked++;
			last_a = b;
			break;
		case 'T':
			cr_assert(sscanf(p, "T %u %u %u", &cc, &b, &i) == 3);
			cy->throttled += i;
			break;
		case 'E':
			snprintf(cy->error, sizeof(cy->error), "%s", p);
			break;
		default:
			cr_assert_fail("%s: bad line '%s'", path, p);
		}
	}
	/* The last batch sent got no answer: the kill caught a request. */
	cy->in_flight = any_s && (cy->acked == 0 || last_s > last_a);
	free(text);
	return lines;
}

/* ---- reading everything back ---- */

struct shard_view {
	bool present, closed;
	uint64_t end_seq;  /* closed: EndingSequenceNumber's log number */
	uint64_t max_seq;  /* the highest read back, 0 if none */
	uint64_t records;  /* read back */
	unsigned child[2]; /* closed: its children from ChildShards */
	unsigned nchild;
};

struct pass {
	struct shard_view sh[MAX_SHARDS];
	uint64_t records, acked_found, unacked_found;
	int64_t ms;
};

/* One record read back from shard: it was sent, is read once, has its
 * key and data, and sits where its ack said. */
static void check_one(struct pass *ps, unsigned shard, json_t *r, uint64_t *last)
{
	const char *seqs = jstr(r, "SequenceNumber"), *key = jstr(r, "PartitionKey"),
	           *data = jstr(r, "Data");
	char want_key[64], want_data[B64_BYTES + 1];
	unsigned c, b, i;
	uint64_t seq;
	struct rec *x;

	cr_assert(seqs && key && data, "shard %u: a record without SequenceNumber, key or data",
	          shard);
	cr_assert_eq(seq_parse(seqs, shard, &seq), 0, "shard %u: SequenceNumber %s", shard, seqs);
	cr_assert_gt(seq, *last,
	             "shard %u: seq %" PRIu64 " read after %" PRIu64 ": not strictly increasing",
	             shard, seq, *last);
	*last = seq;
	cr_assert(sscanf(key, "%u.%u.%u.", &c, &b, &i) == 3 && c < ncycles &&
	                  b < cycles[c].batches && i < BATCH,
	          "shard %u seq %" PRIu64 ": key '%s' was never sent", shard, seq, key);
	rec_make(seed, c, b, i, want_key, want_data);
	cr_assert_str_eq(key, want_key, "shard %u seq %" PRIu64 ": key", shard, seq);
	cr_assert_str_eq(data, want_data, "shard %u seq %" PRIu64 ": data of record %u.%u.%u",
	                 shard, seq, c, b, i);
	x = &cycles[c].r[b * BATCH + i];
	cr_assert_not(x->seen,
	              "record %u.%u.%u read twice (again on shard %u at seq %" PRIu64
	              "); the writer never retries",
	              c, b, i, shard, seq);
	x->seen = 1;
	if (x->shard >= 0) {
		cr_assert(x->shard == (int8_t)shard && x->seq == seq,
		          "record %u.%u.%u acked on shard %d at seq %" PRIu64
		          ", read back on shard %u at seq %" PRIu64,
		          c, b, i, x->shard, x->seq, shard, seq);
		ps->acked_found++;
	} else {
		ps->unacked_found++;
	}
	ps->records++;
}

/* Reads shard from TRIM_HORIZON to its end (closed: no NextShardIterator;
 * open: an empty answer) and checks each record. */
static void read_shard(struct pass *ps, unsigned shard)
{
	struct shard_view *v = &ps->sh[shard];
	char body[512];
	uint64_t last = 0;
	json_t *j;
	char *it;

	snprintf(body, sizeof(body),
	         "{\"StreamName\":\"" STREAM "\",\"ShardId\":\"shardId-%012u\","
	         "\"ShardIteratorType\":\"TRIM_HORIZON\"}",
	         shard);
	j = api_ok("GetShardIterator", body);
	it = strdup(jstr(j, "ShardIterator"));
	cr_assert_not_null(it);
	json_decref(j);
	for (int round = 0;; round++) {
		char *req;
		json_t *recs, *children;
		const char *next;
		size_t n;

		cr_assert_lt(round, GET_ROUNDS, "shard %u: still records after %d GetRecords",
		             shard, GET_ROUNDS);
		cr_assert(asprintf(&req, "{\"ShardIterator\":\"%s\",\"Limit\":%d}", it, GET_LIMIT) >
		          0);
		j = api_ok("GetRecords", req);
		free(req);
		free(it);
		it = NULL;
		recs = json_object_get(j, "Records");
		cr_assert(json_is_array(recs));
		n = json_array_size(recs);
		for (size_t k = 0; k < n; k++)
			check_one(ps, shard, json_array_get(recs, k), &last);
		v->records += n;
		next = jstr(j, "NextShardIterator");
		children = json_object_get(j, "ChildShards");
		if (!next) {
			size_t nc = json_array_size(children);

			cr_assert(v->closed,
			          "shard %u: open, yet GetRecords gave no NextShardIterator",
			          shard);
			cr_assert_eq(nc, 2, "shard %u: closed, %zu ChildShards at its end", shard,
			             nc);
			for (size_t k = 0; k < nc; k++)
				cr_assert_eq(
				        shard_parse(jstr(json_array_get(children, k), "ShardId"),
				                    &v->child[k]),
				        0);
			v->nchild = 2;
			json_decref(j);
			break;
		}
		if (n == 0 && !v->closed) {
			json_decref(j);
			break;
		}
		it = strdup(next);
		cr_assert_not_null(it);
		json_decref(j);
	}
	free(it);
	v->max_seq = last;
	if (v->closed)
		cr_assert_leq(last, v->end_seq,
		              "shard %u: record at %" PRIu64
		              " beyond its EndingSequenceNumber %" PRIu64,
		              shard, last, v->end_seq);
}

/* The stream's shards as DescribeStream shows them. */
static void describe(struct pass *ps, json_t **ret)
{
	json_t *j = api_ok("DescribeStream", "{\"StreamName\":\"" STREAM "\"}");
	json_t *d = json_object_get(j, "StreamDescription"), *shards = json_object_get(d, "Shards");
	size_t k;
	json_t *s;

	cr_assert(json_is_array(shards));
	cr_assert(!json_is_true(json_object_get(d, "HasMoreShards")));
	json_array_foreach(shards, k, s)
	{
		unsigned id;
		const char *end =
		        jstr(json_object_get(s, "SequenceNumberRange"), "EndingSequenceNumber");

		cr_assert_eq(shard_parse(jstr(s, "ShardId"), &id), 0);
		ps->sh[id].present = true;
		if (end) {
			ps->sh[id].closed = true;
			cr_assert_eq(seq_parse(end, id, &ps->sh[id].end_seq), 0,
			             "shard %u: EndingSequenceNumber %s", id, end);
		}
	}
	if (ret)
		*ret = j;
	else
		json_decref(j);
}

/* Reads every shard back and checks it against everything ever sent. */
static void verify(struct pass *ps, const char *when)
{
	int64_t t0 = now_ms();
	uint64_t acked = 0;

	memset(ps, 0, sizeof(*ps));
	for (unsigned c = 0; c < ncycles; c++)
		for (size_t k = 0; k < (size_t)cycles[c].batches * BATCH; k++)
			cycles[c].r[k].seen = 0;
	describe(ps, NULL);
	for (unsigned s = 0; s < MAX_SHARDS; s++)
		if (ps->sh[s].present)
			read_shard(ps, s);
	for (unsigned c = 0; c < ncycles; c++)
		for (size_t k = 0; k < (size_t)cycles[c].batches * BATCH; k++) {
			const struct rec *x = &cycles[c].r[k];

			if (x->shard < 0)
				continue;
			acked++;
			cr_assert(x->seen,
			          "%s: record %u.%zu.%zu, acked on shard %d at seq %" PRIu64
			          ", is gone",
			          when, c, k / BATCH, k % BATCH, x->shard, x->seq);
		}
	cr_assert_eq(ps->acked_found, acked);
	ps->ms = now_ms() - t0;
	fprintf(stderr,
	        "api_crash %s: read %" PRIu64 " records in %" PRId64 " ms: all %" PRIu64
	        " acked, %" PRIu64 " sent but unacked\n",
	        when, ps->records, ps->ms, acked, ps->unacked_found);
}

/* ---- the test ---- */

static unsigned env_uint(const char *name, unsigned def, unsigned max)
{
	const char *v = getenv(name);
	char *end;
	unsigned long n;

	if (!v || !*v)
		return def;
	n = strtoul(v, &end, 0);
	cr_assert(!*end && n >= 1 && n <= max, "%s=%s: expected 1..%u", name, v, max);
	return (unsigned)n;
}

/* One cycle's writer against a running sluiced, killed with it. */
static void crash_cycle(struct daemon *d, unsigned c, const uint64_t before[MAX_SHARDS])
{
	struct cycle *cy = &cycles[c];
	char name[64], *path;
	pid_t w;
	int64_t t0, first_by;
	int st;
	uint64_t min_after[MAX_SHARDS];

	snprintf(name, sizeof(name), "writer-%u.txt", c);
	path = path_in(name);
	cy->delay_ms = 100 + (int64_t)(splitmix(&(uint64_t){seed ^ c}) % 701);
	ncycles = c + 1;
	t0 = now_ms();
	w = writer_start(path, seed, c);
	sleep_ms(cy->delay_ms);
	/* Not before the first ack: a cycle that acks nothing proves nothing. */
	first_by = now_ms() + FIRST_ACK_MS;
	for (;;) {
		char *text = slurp(path, NULL);
		bool acked = strstr(text, "\nA ") != NULL;

		free(text);
		if (acked)
			break;
		if (wait_for(w, 0, &st) == 0) {
			char *e = slurp(path, NULL);

			cr_assert_fail("cycle %u: the writer ended before any ack:\n%s", c, e);
		}
		cr_assert_lt(now_ms(), first_by, "cycle %u: no ack within %d ms", c,
		             FIRST_ACK_MS + (int)cy->delay_ms);
		usleep(2000);
	}
	cr_assert_eq(waitpid(w, &st, WNOHANG), 0,
	             "cycle %u: the writer stopped before the kill (status 0x%x)", c, st);
	sluiced_kill9(d);
	cy->writer_ms = now_ms() - t0;
	/* Its request fails now and it exits; whatever it has not written by
	 * then counts as unacked. */
	if (wait_for(w, WRITER_EXIT_MS, &st) < 0)
		kill_hard(w);
	acks_read(c, path);
	free(path);
	if (cy->error[0] && !strstr(cy->error, "curl: "))
		cr_assert_fail("cycle %u: the writer got an error answer while sluiced ran: %s", c,
		               cy->error);
	cr_assert_gt(cy->acked, 0, "cycle %u: nothing acked", c);

	/* Numbers acked after a restart are above all the shard held. */
	for (unsigned s = 0; s < MAX_SHARDS; s++)
		min_after[s] = UINT64_MAX;
	for (size_t k = 0; k < (size_t)cy->batches * BATCH; k++)
		if (cy->r[k].shard >= 0 && cy->r[k].seq < min_after[cy->r[k].shard])
			min_after[cy->r[k].shard] = cy->r[k].seq;
	for (unsigned s = 0; s < MAX_SHARDS; s++)
		if (min_after[s] != UINT64_MAX)
			cr_assert_gt(min_after[s], before[s],
			             "cycle %u shard %u: seq %" PRIu64
			             " acked after the restart, not above the %" PRIu64
			             " held before",
			             c, s, min_after[s], before[s]);
	fprintf(stderr,
	        "api_crash cycle %u: killed after %" PRId64 " ms (delay %" PRId64 "): %u batches "
	        "sent, %" PRIu64 " records acked (%.0f/s), %" PRIu64 " throttled, a request %s "
	        "in flight\n",
	        c, cy->writer_ms, cy->delay_ms, cy->batches, cy->acked,
	        (double)cy->acked * 1000.0 / (double)(cy->writer_ms ? cy->writer_ms : 1),
	        cy->throttled, cy->in_flight ? "was" : "was not");
}

/*
 * SplitShard on shard 0 at the middle of its range, SIGKILL as soon as it
 * returns, restart: the parent is closed with an EndingSequenceNumber
 * that covers its records, its two children are open, and GetRecords at
 * its end names them.
 */
static void split_then_kill(struct daemon *d, const struct pass *before)
{
	struct pass ps;
	json_t *j, *shards, *s, *r;
	unsigned __int128 lo = 0, hi = 0, mid;
	char body[512], mids[48], *p;
	const char *end_s = NULL;
	size_t k;
	unsigned children = 0;

	describe(&ps, &j);
	shards = json_object_get(json_object_get(j, "StreamDescription"), "Shards");
	json_array_foreach(shards, k, s)
	{
		if (strcmp(jstr(s, "ShardId"), "shardId-000000000000") != 0)
			continue;
		for (const char *q = jstr(json_object_get(s, "HashKeyRange"), "StartingHashKey");
		     *q; q++)
			lo = lo * 10 + (unsigned)(*q - '0');
		for (const char *q = jstr(json_object_get(s, "HashKeyRange"), "EndingHashKey"); *q;
		     q++)
			hi = hi * 10 + (unsigned)(*q - '0');
	}
	json_decref(j);
	cr_assert_gt(hi, lo + 1);
	mid = lo + (hi - lo) / 2;
	p = mids + sizeof(mids) - 1;
	*p = 0;
	do {
		*--p = (char)('0' + (unsigned)(mid % 10));
		mid /= 10;
	} while (mid);
	snprintf(body, sizeof(body),
	         "{\"StreamName\":\"" STREAM "\",\"ShardToSplit\":\"shardId-000000000000\","
	         "\"NewStartingHashKey\":\"%s\"}",
	         p);
	json_decref(api_ok("SplitShard", body));
	sluiced_kill9(d);

	fprintf(stderr, "api_crash split: restarted in %" PRId64 " ms\n",
	        sluiced_start(d, "split"));
	wait_active();
	describe(&ps, &j);
	cr_assert(ps.sh[0].closed, "the split's parent is open after the restart");
	shards = json_object_get(json_object_get(j, "StreamDescription"), "Shards");
	json_array_foreach(shards, k, s)
	{
		const char *parent = jstr(s, "ParentShardId");

		if (parent && strcmp(parent, "shardId-000000000000") == 0) {
			unsigned id;

			cr_assert_eq(shard_parse(jstr(s, "ShardId"), &id), 0);
			cr_assert_not(ps.sh[id].closed, "child shard %u is closed", id);
			children++;
		}
		if (strcmp(jstr(s, "ShardId"), "shardId-000000000000") == 0)
			end_s = jstr(json_object_get(s, "SequenceNumberRange"),
			             "EndingSequenceNumber");
	}
	cr_assert_eq(children, 2, "%u children of shard 0", children);
	for (unsigned sh = 1; sh < SHARDS; sh++)
		cr_assert(ps.sh[sh].present && !ps.sh[sh].closed, "shard %u not open", sh);
	cr_assert_not_null(end_s);
	cr_assert_geq(ps.sh[0].end_seq, before->sh[0].max_seq,
	              "EndingSequenceNumber %" PRIu64 " below the parent's last record %" PRIu64,
	              ps.sh[0].end_seq, before->sh[0].max_seq);

	/* GetRecords just after the end: no records, no next, the children. */
	snprintf(body, sizeof(body),
	         "{\"StreamName\":\"" STREAM "\",\"ShardId\":\"shardId-000000000000\","
	         "\"ShardIteratorType\":\"AFTER_SEQUENCE_NUMBER\",\"StartingSequenceNumber\":\"%"
	         "s\"}",
	         end_s);
	r = api_ok("GetShardIterator", body);
	p = NULL;
	cr_assert(asprintf(&p, "{\"ShardIterator\":\"%s\"}", jstr(r, "ShardIterator")) > 0);
	json_decref(r);
	r = api_ok("GetRecords", p);
	free(p);
	cr_assert_eq(json_array_size(json_object_get(r, "Records")), 0);
	cr_assert_null(json_object_get(r, "NextShardIterator"));
	cr_assert_eq(json_array_size(json_object_get(r, "ChildShards")), 2,
	             "GetRecords at the parent's end: %zu ChildShards",
	             json_array_size(json_object_get(r, "ChildShards")));
	json_array_foreach(json_object_get(r, "ChildShards"), k, s)
	{
		unsigned id;
		json_t *parents = json_object_get(s, "ParentShards");

		cr_assert_eq(shard_parse(jstr(s, "ShardId"), &id), 0);
		cr_assert(ps.sh[id].present && !ps.sh[id].closed, "ChildShards names shard %u", id);
		cr_assert_eq(json_array_size(parents), 1);
		cr_assert_str_eq(json_string_value(json_array_get(parents, 0)),
		                 "shardId-000000000000");
	}
	json_decref(r);
	json_decref(j);
	fprintf(stderr,
	        "api_crash split: parent closed at %" PRIu64 " (its last record %" PRIu64
	        "), 2 children\n",
	        ps.sh[0].end_seq, before->sh[0].max_seq);

	/* Everything is still there, the parent read through to its children. */
	verify(&ps, "after split + kill -9");
	cr_assert_eq(ps.sh[0].max_seq, before->sh[0].max_seq);
}

Test(e2e, acked_api_writes_survive_kill_9, .timeout = 300)
{
	unsigned n = env_uint("SLUICE_API_CRASH_CYCLES", 5, MAX_CYCLES);
	uint64_t before[MAX_SHARDS] = {0}, acked = 0;
	const char *seed_env = getenv("SLUICE_API_CRASH_SEED");
	struct daemon d;
	struct pass ps;
	int64_t t0 = now_ms(), start_ms = 0;
	char tag[32];

	env_up("api-crash");
	seed = seed_env ? strtoull(seed_env, NULL, 0)
	                : (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid() ^ (uint64_t)now_ms();
	fprintf(stderr, "api_crash: %u cycles, seed %" PRIu64 " (SLUICE_API_CRASH_SEED)\n", n,
	        seed);
	cr_assert_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);

	for (unsigned c = 0; c < n; c++) {
		int64_t ms;

		snprintf(tag, sizeof(tag), "%u", c);
		ms = sluiced_start(&d, tag);
		start_ms += ms;
		if (c == 0) {
			json_decref(api_ok("CreateStream",
			                   "{\"StreamName\":\"" STREAM "\",\"ShardCount\":3}"));
			wait_active();
		} else {
			char when[64];

			snprintf(when, sizeof(when), "restart %u (%" PRId64 " ms)", c, ms);
			verify(&ps, when);
			for (unsigned s = 0; s < MAX_SHARDS; s++)
				before[s] = ps.sh[s].max_seq;
		}
		crash_cycle(&d, c, before);
		acked += cycles[c].acked;
	}
	snprintf(tag, sizeof(tag), "%u", n);
	start_ms += sluiced_start(&d, tag);
	verify(&ps, "last restart");
	for (unsigned s = 0; s < SHARDS; s++)
		cr_assert_gt(ps.sh[s].records, 0, "shard %u took no record", s);
	split_then_kill(&d, &ps);
	sluiced_kill9(&d);
	fprintf(stderr,
	        "api_crash: %u kill -9 cycles + split, %" PRIu64 " records acked, none lost; "
	        "sluiced ready in %" PRId64 " ms on average over %u starts; %" PRId64
	        " ms in all\n",
	        n, acked, start_ms / (n + 1), n + 1, now_ms() - t0);
	for (unsigned c = 0; c < n; c++) {
		free(cycles[c].r);
		cycles[c].r = NULL;
	}
	curl_global_cleanup();
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * End to end (e2e suite): the real sluiced on a TAP port and real sluice-put
 * processes, each test in a network namespace of its own, and the logs that
 * sluiced left on disk read back through the storage reader afterwards.
 *
 * What every test proves, from the producers' --print files (which record
 * of which producer got which shard and sequence number) and the logs:
 *
 *   - every record was acked OK (retries may be needed, failures are not);
 *   - each shard's log holds exactly the records acked on it: same count,
 *     and the record at each acked (shard, seq) has the key and data of the
 *     record acked with it, so nothing is lost, duplicated or misplaced;
 *   - sequence numbers strictly increase along each log;
 *   - one key always lands on one shard.
 *
 * The lossy tests also assert that the fault actually happened (nftables
 * counters, the engine's dedup and fault counters), so they cannot pass
 * without exercising the retry and duplicate paths.
 *
 * Processes are started as `ip netns exec NS BINARY ...` (which execs in
 * place: the child's PID is the binary's), every wait is bounded, and the
 * suite's .fini kills what is left by PID and deletes the namespace, so a
 * failed assertion leaves nothing behind. Needs root, /dev/net/tun and the
 * `ip` tool; skips with the reason otherwise. SLUICED and SLUICE_PUT name
 * the executables (meson sets them).
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

#include <jansson.h>

#include "log.h"
#include "t_util.h"

#define ENGINE_IP4  "198.18.0.2"
#define ENGINE_IP6  "2001:2::2"
#define REC_BYTES   100
#define LOAD_KEYS   997
#define MAX_PROCS   16
#define MAX_ARGS    40
#define MAX_SHARDS  16
#define MAX_RUNS    8
#define READY_MS    (60 * 1000)
#define STOP_MS     (60 * 1000)
#define PUT_MS      (240 * 1000)
#define TOOL_MS     (30 * 1000)
#define EXEC_FAILED 127

/* ---- per-test state (each test is its own process); .fini undoes it ---- */

static char ns[64];
static bool ns_made;
static char *dir;
static pid_t live[MAX_PROCS];
static unsigned nlive;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
		usleep(10000);
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

/* The whole of a small file, NUL-terminated (empty if absent). */
static char *slurp(const char *path)
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

static void teardown(void)
{
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
	if (dir) {
		if (getenv("SLUICE_E2E_KEEP"))
			fprintf(stderr, "e2e: kept %s\n", dir);
		else
			t_rm_rf(dir);
		free(dir);
		dir = NULL;
	}
}

TestSuite(e2e, .fini = teardown, .timeout = 600);

/* Skips unless this machine can run the suite; makes the namespace and the
 * test's directory. */
static void env_up(const char *tag)
{
	static unsigned n;
	char *argv[] = {"ip", "netns", "add", ns, NULL};
	int fd;

	if (geteuid() != 0)
		cr_skip_test("needs root (network namespaces, TAP devices)");
	if (!getenv("SLUICED") || !getenv("SLUICE_PUT"))
		cr_skip_test("SLUICED and SLUICE_PUT must name the executables (meson sets them)");
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		cr_skip_test("/dev/net/tun: %s (sluiced's TAP port needs it)", strerror(errno));
	close(fd);
	dir = t_tmpdir(tag);
	snprintf(ns, sizeof(ns), "sl-e2e-%d-%u", (int)getpid(), n++);
	if (run_tool(argv, NULL, NULL) != 0)
		cr_skip_test("`ip netns add %s` failed (no ip tool or no namespaces here)", ns);
	ns_made = true;
	{
		/* The Kinesis API listens on the namespace's 127.0.0.1. */
		char *lo[] = {"ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up", NULL};

		cr_assert_eq(run_tool(lo, NULL, NULL), 0, "lo up in %s", ns);
	}
}

/* ---- sluiced ---- */

struct daemon {
	pid_t pid;
	char out[4096];   /* its stdout */
	char err[4096];   /* its stderr */
	char stats[4096]; /* --stats-file */
};

/* Starts sluiced in the namespace with extra options (NULL-terminated) and
 * waits for "ready:". Skips if EAL or the TAP port cannot start here. */
static void sluiced_start(struct daemon *d, const char *tag, ...)
{
	char *argv[MAX_ARGS];
	char *data_dir = path_in("data-dir");
	unsigned n = 0;
	int64_t end;
	va_list ap;

	snprintf(d->out, sizeof(d->out), "%s/sluiced-%s.out", dir, tag);
	snprintf(d->err, sizeof(d->err), "%s/sluiced-%s.err", dir, tag);
	snprintf(d->stats, sizeof(d->stats), "%s/stats-%s", dir, tag);
	argv[n++] = "ip";
	argv[n++] = "netns";
	argv[n++] = "exec";
	argv[n++] = ns;
	argv[n++] = getenv("SLUICED");
	argv[n++] = "--data-dir";
	argv[n++] = data_dir;
	argv[n++] = "--stats-file";
	argv[n++] = d->stats;
	va_start(ap, tag);
	for (char *a = va_arg(ap, char *); a; a = va_arg(ap, char *)) {
		cr_assert(n < MAX_ARGS - 1);
		argv[n++] = a;
	}
	va_end(ap);
	argv[n] = NULL;
	d->pid = spawn(argv, d->out, d->err);

	end = now_ms() + READY_MS;
	for (;;) {
		char *text = slurp(d->out);
		bool ready = strstr(text, "ready:") != NULL;
		int st;

		free(text);
		if (ready)
			break;
		if (wait_for(d->pid, 0, &st) == 0) {
			char *e = slurp(d->err), reason[256] = "";
			const char *why = line_with(e, "EAL init failed");

			if (!why)
				why = line_with(e, "no DPDK port");
			if (why) {
				snprintf(reason, sizeof(reason), "%s", why);
				free(e);
				free(data_dir);
				cr_skip_test("sluiced cannot start here: %s", reason);
			}
			cr_assert_fail("sluiced exited (status 0x%x) before it was ready:\n%s", st,
			               e);
		}
		if (now_ms() >= end)
			cr_assert_fail("sluiced not ready after %d ms", READY_MS);
		usleep(20000);
	}
	free(data_dir);
}

/* SIGTERM, then waits (bounded) for a clean exit. */
static void sluiced_stop(struct daemon *d)
{
	int st;

	cr_assert(kill(d->pid, SIGTERM) == 0);
	if (wait_for(d->pid, STOP_MS, &st) < 0) {
		kill_hard(d->pid);
		cr_assert_fail("sluiced did not stop within %d ms of SIGTERM", STOP_MS);
	}
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sluiced exit status 0x%x", st);
}

/* A counter from the stats file sluiced wrote at exit (fails if absent). */
static uint64_t stat_of(const struct daemon *d, const char *name)
{
	FILE *f = fopen(d->stats, "re");
	char k[128];
	uint64_t v;

	cr_assert_not_null(f, "%s: %s", d->stats, strerror(errno));
	while (fscanf(f, "%127s %" SCNu64, k, &v) == 2)
		if (strcmp(k, name) == 0) {
			fclose(f);
			return v;
		}
	fclose(f);
	cr_assert_fail("counter %s not in %s", name, d->stats);
	return 0;
}

/* ---- producers ---- */

struct acked {
	uint64_t seq;
	uint32_t shard;
};

struct run {
	uint64_t count;
	struct acked *a; /* by record index */
	pid_t pid;
	char *print;
	char *summary;
	/* from sluice-put's summary line */
	uint64_t ok, failed, frames, retries;
	double secs;
};

/* Starts sluice-put in load mode: count records of REC_BYTES, keys
 * k<i mod keys>, --print to a file. */
static void put_start(struct run *r, const char *tag, const char *host, const char *stream,
                      uint64_t count, unsigned keys)
{
	char cnt[32], nkeys[32], size[32], name[96];
	char *argv[] = {"ip",
	                "netns",
	                "exec",
	                ns,
	                getenv("SLUICE_PUT"),
	                "--host",
	                (char *)host,
	                "--stream",
	                (char *)stream,
	                "--count",
	                cnt,
	                "--size",
	                size,
	                "--keys",
	                nkeys,
	                "--print",
	                NULL};

	snprintf(cnt, sizeof(cnt), "%" PRIu64, count);
	snprintf(size, sizeof(size), "%d", REC_BYTES);
	snprintf(nkeys, sizeof(nkeys), "%u", keys);
	snprintf(name, sizeof(name), "put-%s.txt", tag);
	r->print = path_in(name);
	snprintf(name, sizeof(name), "put-%s.err", tag);
	r->summary = path_in(name);
	r->count = count;
	r->pid = spawn(argv, r->print, r->summary);
}

/* Waits for every producer (bounded); each must exit 0. */
static void put_wait(struct run *runs, unsigned n)
{
	int64_t end = now_ms() + PUT_MS;

	for (unsigned i = 0; i < n; i++) {
		int64_t left = end - now_ms();
		int st;

		if (wait_for(runs[i].pid, left > 0 ? left : 0, &st) < 0) {
			for (unsigned j = i; j < n; j++)
				kill_hard(runs[j].pid);
			cr_assert_fail("producers still running after %d ms", PUT_MS);
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			char *e = slurp(runs[i].summary);

			cr_assert_fail("sluice-put %u exit status 0x%x: %s", i, st, e);
		}
	}
}

/* Reads a producer's --print file: every record exactly once, OK, with
 * its load-mode key; fills r->a. */
static void put_parse(struct run *r, unsigned keys)
{
	FILE *f = fopen(r->print, "re");
	char line[256], key[64], shard[16], status[32], want[32];
	uint64_t idx, seq, lines = 0;
	char *e = slurp(r->summary);
	const char *sum = line_with(e, "sluice-put: ");

	cr_assert_not_null(f, "%s: %s", r->print, strerror(errno));
	r->a = calloc(r->count, sizeof(*r->a));
	cr_assert_not_null(r->a);
	while (fgets(line, sizeof(line), f)) {
		cr_assert(sscanf(line, "%" SCNu64 " %63s %15s %" SCNu64 " %31s", &idx, key, shard,
		                 &seq, status) == 5,
		          "%s: bad line '%s'", r->print, line);
		cr_assert(idx < r->count, "%s: index %" PRIu64 " out of range", r->print, idx);
		cr_assert(strcmp(status, "OK") == 0, "%s: record %" PRIu64 " ended %s", r->print,
		          idx, status);
		cr_assert(r->a[idx].seq == 0, "%s: record %" PRIu64 " reported twice", r->print,
		          idx);
		snprintf(want, sizeof(want), "k%" PRIu64, idx % keys);
		cr_assert_str_eq(key, want, "%s: record %" PRIu64, r->print, idx);
		cr_assert(seq != 0, "%s: record %" PRIu64 " OK with seq 0", r->print, idx);
		r->a[idx].seq = seq;
		r->a[idx].shard = (uint32_t)strtoul(shard, NULL, 10);
		cr_assert(r->a[idx].shard < MAX_SHARDS, "%s: shard %s", r->print, shard);
		lines++;
	}
	fclose(f);
	cr_assert_eq(lines, r->count, "%s: %" PRIu64 " results for %" PRIu64 " records", r->print,
	             lines, r->count);
	cr_assert(sum && sscanf(sum,
	                        "sluice-put: %" SCNu64 " ok, %" SCNu64 " failed, %" SCNu64
	                        " frames, %" SCNu64 " retries, %lf s",
	                        &r->ok, &r->failed, &r->frames, &r->retries, &r->secs) == 5,
	          "%s: no summary line: %s", r->summary, e);
	cr_assert_eq(r->ok, r->count);
	free(e);
}

/* Runs n producers of count records each against stream in parallel and
 * checks their results; prints the figures. */
static void put_load(struct run *runs, unsigned n, const char *tag, const char *host,
                     const char *stream, uint64_t count, unsigned keys)
{
	uint64_t frames = 0, retries = 0;
	int64_t t0 = now_ms();
	double secs;

	for (unsigned i = 0; i < n; i++) {
		char t[64];

		snprintf(t, sizeof(t), "%s-%u", tag, i);
		put_start(&runs[i], t, host, stream, count, keys);
	}
	put_wait(runs, n);
	secs = (double)(now_ms() - t0) / 1000.0;
	for (unsigned i = 0; i < n; i++) {
		put_parse(&runs[i], keys);
		frames += runs[i].frames;
		retries += runs[i].retries;
	}
	fprintf(stderr,
	        "e2e %s: %u producers x %" PRIu64 " records in %.2f s = %.0f records/s; %" PRIu64
	        " frames, %" PRIu64 " retries (%.2f%%)\n",
	        tag, n, count, secs, (double)n * (double)count / secs, frames, retries,
	        frames ? 100.0 * (double)retries / (double)frames : 0.0);
}

static void runs_free(struct run *runs, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(runs[i].a);
		free(runs[i].print);
		free(runs[i].summary);
	}
}

/* ---- what is on disk ---- */

struct expect {
	uint64_t seq;
	uint32_t run;
	uint32_t index;
};

static int by_seq(const void *a, const void *b)
{
	const struct expect *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void check_record(const struct sl_record_out *o, const struct expect *e, uint32_t shard,
                         unsigned keys)
{
	char key[32];
	int kl = snprintf(key, sizeof(key), "k%u", e->index % keys);
	const uint8_t *d = o->data;

	cr_assert(o->key_len == (uint32_t)kl && memcmp(o->key, key, (size_t)kl) == 0,
	          "shard %u seq %" PRIu64 ": key '%.*s', acked record (run %u, index %u) has %s",
	          shard, o->seq, (int)o->key_len, (const char *)o->key, e->run, e->index, key);
	cr_assert_eq(o->data_len, REC_BYTES, "shard %u seq %" PRIu64 ": %u data bytes", shard,
	             o->seq, o->data_len);
	for (uint32_t j = 0; j < REC_BYTES; j++) {
		uint8_t want =
		        j < 8 ? (uint8_t)((uint64_t)e->index >> (8 * j)) : (uint8_t)(e->index + j);

		cr_assert(d[j] == want,
		          "shard %u seq %" PRIu64 ": data byte %u is %u, record (run %u, "
		          "index %u) has %u",
		          shard, o->seq, j, d[j], e->run, e->index, want);
	}
}

/* A record on disk that no ack reported: says which record it holds (from
 * its data) and where that record was acked, so a duplicate shows as one. */
static void explain_extra(const struct sl_record_out *o, uint32_t shard, const struct run *runs,
                          unsigned nruns)
{
	uint64_t idx = 0;

	for (unsigned j = 0; j < 8 && j < o->data_len; j++)
		idx |= (uint64_t)((const uint8_t *)o->data)[j] << (8 * j);
	fprintf(stderr, "e2e: shard %u seq %" PRIu64 " on disk holds key '%.*s' index %" PRIu64,
	        shard, o->seq, (int)o->key_len, (const char *)o->key, idx);
	for (unsigned r = 0; r < nruns; r++)
		if (idx < runs[r].count)
			fprintf(stderr, "; run %u acked it as shard %u seq %" PRIu64, r,
			        runs[r].a[idx].shard, runs[r].a[idx].seq);
	fprintf(stderr, "\n");
}

/*
 * Checks the stream's shard logs against what the runs were acked: per
 * shard, the log's records in order are exactly the acked records sorted
 * by sequence number (so same count, each acked (shard, seq) once, with its
 * record's key and data, and sequence numbers strictly increasing). Also
 * checks that one key went to one shard. sluiced must be stopped.
 */
static void verify_disk(const char *stream, uint32_t shards, struct run *runs, unsigned nruns,
                        unsigned keys)
{
	struct expect *exp[MAX_SHARDS] = {0};
	uint64_t nexp[MAX_SHARDS] = {0}, total = 0, cap = 0;
	int32_t *key_shard = malloc(keys * sizeof(*key_shard));
	struct sl_store_config c;
	struct sl_store *st;
	struct sl_record_out out[256];

	cr_assert_not_null(key_shard);
	for (unsigned k = 0; k < keys; k++)
		key_shard[k] = -1;
	for (unsigned r = 0; r < nruns; r++)
		cap += runs[r].count;
	for (uint32_t s = 0; s < shards; s++) {
		exp[s] = malloc(cap * sizeof(*exp[s]));
		cr_assert_not_null(exp[s]);
	}
	for (unsigned r = 0; r < nruns; r++)
		for (uint64_t i = 0; i < runs[r].count; i++) {
			const struct acked *a = &runs[r].a[i];
			unsigned k = (unsigned)(i % keys);

			cr_assert(a->shard < shards, "run %u record %" PRIu64 ": shard %u of %u", r,
			          i, a->shard, shards);
			if (key_shard[k] < 0)
				key_shard[k] = (int32_t)a->shard;
			cr_assert_eq(key_shard[k], (int32_t)a->shard,
			             "key k%u went to shards %d and %u", k, key_shard[k], a->shard);
			exp[a->shard][nexp[a->shard]++] =
			        (struct expect){.seq = a->seq, .run = r, .index = (uint32_t)i};
		}

	sl_store_config_default(&c);
	c.max_record_bytes = 65535;
	c.buffer_bytes = 1u << 20;
	cr_assert_eq(sl_store_create(&c, &st), 0);
	for (uint32_t s = 0; s < shards; s++) {
		char path[4096];
		struct sl_log_report rep;
		struct sl_log *log;
		struct sl_reader *rd;
		uint64_t at = 0, last = 0;
		int n;

		qsort(exp[s], nexp[s], sizeof(*exp[s]), by_seq);
		for (uint64_t i = 1; i < nexp[s]; i++)
			cr_assert(exp[s][i].seq != exp[s][i - 1].seq,
			          "shard %u seq %" PRIu64 " acked to two records: (run %u, index "
			          "%u) and (run %u, index %u)",
			          s, exp[s][i].seq, exp[s][i - 1].run, exp[s][i - 1].index,
			          exp[s][i].run, exp[s][i].index);
		snprintf(path, sizeof(path), "%s/data-dir/data/%s/shardId-%012u", dir, stream, s);
		cr_assert_eq(sl_log_open(st, path, s, NULL, &rep, &log), 0, "open %s", path);
		cr_assert_eq(rep.corrupt_batches, 0, "%s: %u corrupt batches", path,
		             rep.corrupt_batches);
		cr_assert_eq(sl_reader_open(log, 0, &rd), 0);
		cr_assert_eq(sl_reader_seek_trim_horizon(rd), 0);
		while ((n = sl_reader_read(rd, out, 256, 1u << 20)) > 0)
			for (int k = 0; k < n; k++) {
				cr_assert(out[k].seq > last,
				          "shard %u: seq %" PRIu64 " after %" PRIu64 " on disk", s,
				          out[k].seq, last);
				last = out[k].seq;
				cr_assert(at < nexp[s],
				          "shard %u: record seq %" PRIu64
				          " on disk beyond the %" PRIu64 " acked",
				          s, out[k].seq, nexp[s]);
				if (out[k].seq != exp[s][at].seq)
					explain_extra(&out[k], s, runs, nruns);
				cr_assert_eq(out[k].seq, exp[s][at].seq,
				             "shard %u: on disk seq %" PRIu64
				             " where the next acked "
				             "is %" PRIu64 " (run %u, index %u)",
				             s, out[k].seq, exp[s][at].seq, exp[s][at].run,
				             exp[s][at].index);
				check_record(&out[k], &exp[s][at], s, keys);
				at++;
			}
		cr_assert_geq(n, 0, "shard %u: read: %s", s, strerror(-n));
		cr_assert_eq(at, nexp[s],
		             "shard %u: %" PRIu64 " records on disk, %" PRIu64 " acked (next "
		             "missing: seq %" PRIu64 ")",
		             s, at, nexp[s], at < nexp[s] ? exp[s][at].seq : 0);
		sl_reader_free(rd);
		cr_assert_eq(sl_log_close(log), 0);
		total += at;
		free(exp[s]);
	}
	sl_store_free(st);
	free(key_shard);
	cr_assert_eq(total, cap);
}

/* ---- the tests ---- */

#define LOAD_PRODUCERS 4
#define LOAD_COUNT     250000

/* The 1 M record run of tests 1-3 on a started sluiced with stream e2e:4. */
static void load_and_verify(struct daemon *d, const char *tag, struct run *runs)
{
	put_load(runs, LOAD_PRODUCERS, tag, ENGINE_IP4, "e2e", LOAD_COUNT, LOAD_KEYS);
	sluiced_stop(d);
	verify_disk("e2e", 4, runs, LOAD_PRODUCERS, LOAD_KEYS);
	fprintf(stderr,
	        "e2e %s: engine: appended %" PRIu64 ", frames %" PRIu64 ", dedup_hits %" PRIu64
	        ", dedup_pending %" PRIu64 ", throttled ring/store/acks %" PRIu64 "/%" PRIu64
	        "/%" PRIu64 ", fault_injected %" PRIu64 "\n",
	        tag, stat_of(d, "appended"), stat_of(d, "frames"), stat_of(d, "dedup_hits"),
	        stat_of(d, "dedup_pending"), stat_of(d, "throttled_ring"),
	        stat_of(d, "throttled_store"), stat_of(d, "throttled_acks"),
	        stat_of(d, "fault_injected"));
	cr_assert_eq(stat_of(d, "appended"), (uint64_t)LOAD_PRODUCERS * LOAD_COUNT,
	             "the engine appended records that no ack reports");
}

/* The memory lines of the stats file sluiced wrote at exit. */
static void check_memory_stats(const struct daemon *d)
{
	uint64_t size = stat_of(d, "mempool_size");

	cr_assert_gt(stat_of(d, "mem_rss_bytes"), 0);
	cr_assert_geq(stat_of(d, "mem_rss_peak_bytes"), stat_of(d, "mem_rss_bytes"));
	cr_assert_gt(stat_of(d, "mem_dpdk_heap_alloc_bytes"), 0);
	cr_assert_geq(stat_of(d, "mem_dpdk_heap_total_bytes"),
	              stat_of(d, "mem_dpdk_heap_alloc_bytes"));
	cr_assert_gt(size, 0);
	cr_assert_leq(stat_of(d, "mempool_in_use"), size);
	cr_assert_eq(stat_of(d, "mempool_sl_mbufs_size"), size, "one pool: sl_mbufs");
	cr_assert_eq(stat_of(d, "mempool_sl_mbufs_in_use"), stat_of(d, "mempool_in_use"));
	cr_assert_geq(stat_of(d, "mem_dpdk_heap_alloc_bytes"), stat_of(d, "mempool_bytes"));
	fprintf(stderr,
	        "e2e memory: rss %" PRIu64 " (peak %" PRIu64 "), DPDK heap %" PRIu64 " of %" PRIu64
	        ", mbufs %" PRIu64 " of %" PRIu64 " in use\n",
	        stat_of(d, "mem_rss_bytes"), stat_of(d, "mem_rss_peak_bytes"),
	        stat_of(d, "mem_dpdk_heap_alloc_bytes"), stat_of(d, "mem_dpdk_heap_total_bytes"),
	        stat_of(d, "mempool_in_use"), size);
}

Test(e2e, clean_network)
{
	struct daemon d;
	struct run runs[LOAD_PRODUCERS] = {0};

	env_up("e2e-clean");
	sluiced_start(&d, "clean", "--stream", "e2e:4", NULL);
	load_and_verify(&d, "clean_network", runs);
	check_memory_stats(&d);
	runs_free(runs, LOAD_PRODUCERS);
}

/* nft in the namespace; returns its exit status (EXEC_FAILED: no nft). */
static int nft(const char *tag, char *const args[])
{
	char *argv[MAX_ARGS] = {"ip", "netns", "exec", ns, "nft"};
	char name[64], *err;
	unsigned n = 5;
	int rc;

	for (; *args; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	snprintf(name, sizeof(name), "nft-%s.out", tag);
	err = path_in(name);
	rc = run_tool(argv, err, err);
	free(err);
	return rc;
}

/* "counter packets N" of the rule in the listing file that contains what. */
static uint64_t nft_counter(const char *tag, const char *what)
{
	char name[64], *path, *text;
	const char *line, *c;
	uint64_t v = 0;

	snprintf(name, sizeof(name), "nft-%s.out", tag);
	path = path_in(name);
	text = slurp(path);
	line = line_with(text, what);
	cr_assert_not_null(line, "no rule with '%s' in %s", what, path);
	c = strstr(line, "counter packets ");
	cr_assert(c && sscanf(c, "counter packets %" SCNu64, &v) == 1, "%s", line);
	free(text);
	free(path);
	return v;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert(fputs(text, f) >= 0 && fclose(f) == 0);
}

/*
 * 5% loss each way and 5% of producer datagrams duplicated, by nftables in
 * the namespace. The inet family has no dup statement (nft: "unsupported
 * family"), so duplication lives in an ip table whose output chain runs
 * before the loss (priority -10); a copy then passes the loss rule too.
 */
static const char loss_rules[] =
        "table inet sl_e2e_loss {\n"
        "	chain out {\n"
        "		type filter hook output priority 0; policy accept;\n"
        "		udp dport 7447 numgen random mod 100 < 5 counter drop comment "
        "\"loss-out\"\n"
        "	}\n"
        "	chain in {\n"
        "		type filter hook input priority 0; policy accept;\n"
        "		udp sport 7447 numgen random mod 100 < 5 counter drop comment \"loss-in\"\n"
        "	}\n"
        "}\n";
static const char dup_rules[] =
        "table ip sl_e2e_dup {\n"
        "	chain out {\n"
        "		type filter hook output priority -10; policy accept;\n"
        "		udp dport 7447 numgen random mod 100 < 5 counter dup to " ENGINE_IP4
        " device \"sluice0\" comment \"dup\"\n"
        "	}\n"
        "}\n";

Test(e2e, nft_loss_and_duplication)
{
	struct daemon d;
	struct run runs[LOAD_PRODUCERS] = {0};
	char *loss = NULL, *dupf = NULL;
	char *version[] = {"--version", NULL};
	char *list[] = {"list", "ruleset", NULL};
	char *load_loss[] = {"-f", NULL, NULL}, *load_dup[] = {"-f", NULL, NULL};
	uint64_t sent = 0, lost_out, lost_in, copies, frames;
	bool nft_dup;
	int rc;

	env_up("e2e-nft");
	rc = nft("version", version);
	if (rc == EXEC_FAILED)
		cr_skip_test("nft is not installed");
	cr_assert_eq(rc, 0, "nft --version: status %d", rc);
	loss = path_in("loss.nft");
	dupf = path_in("dup.nft");
	write_file(loss, loss_rules);
	write_file(dupf, dup_rules);
	load_loss[1] = loss;
	load_dup[1] = dupf;
	if (nft("loss", load_loss) != 0) {
		char *p = path_in("nft-loss.out"), *e = slurp(p), reason[512];

		snprintf(reason, sizeof(reason), "%s", e);
		free(e);
		free(p);
		free(loss);
		free(dupf);
		cr_skip_test("nftables rules cannot be loaded here: %s", reason);
	}

	/* The dup rule names sluice0, which exists once sluiced runs. */
	sluiced_start(&d, "nft", "--stream", "e2e:4", NULL);
	nft_dup = nft("dup", load_dup) == 0;
	if (!nft_dup) {
		char *p = path_in("nft-dup.out"), *e = slurp(p);

		/* Fall back on the engine's shim for the duplicates; nft still
		 * drops both ways. */
		fprintf(stderr,
		        "e2e nft: the dup statement is not available here (%s); duplicating "
		        "in the engine's fault shim instead\n",
		        e);
		free(e);
		free(p);
		sluiced_stop(&d);
		sluiced_start(&d, "nft-shim", "--stream", "e2e:4", "--set", "fault_seed=7447",
		              "--set", "fault_rx_dup_ppm=50000", NULL);
	}

	load_and_verify(&d, "nft_loss_and_duplication", runs);
	cr_assert_eq(nft("list", list), 0);
	lost_out = nft_counter("list", "loss-out");
	lost_in = nft_counter("list", "loss-in");
	copies = nft_dup ? nft_counter("list", "\"dup\"") : stat_of(&d, "fault_injected");
	frames = stat_of(&d, "frames");
	for (unsigned i = 0; i < LOAD_PRODUCERS; i++)
		sent += runs[i].frames + runs[i].retries;
	fprintf(stderr,
	        "e2e nft_loss_and_duplication: producers sent %" PRIu64
	        " PUTs; nft dropped %" PRIu64 " out, %" PRIu64 " in, duplicated %" PRIu64
	        "; engine got %" PRIu64 " PUTs\n",
	        sent, lost_out, lost_in, copies, frames);
	cr_assert_gt(lost_out, 0, "nft dropped nothing on the way to the engine");
	cr_assert_gt(lost_in, 0, "nft dropped no answer");
	cr_assert_gt(copies, 0, "nothing was duplicated");
	cr_assert_gt(stat_of(&d, "dedup_hits") + stat_of(&d, "dedup_pending"), 0,
	             "no retry or copy reached the engine's dedup");
	/* Copies reached the engine: a copy arrives microseconds after its
	 * original, before the batch is durable, and is answered PENDING; a
	 * retry comes a timeout (100 ms) later and is answered from memory.
	 * With the loss rules alone dedup_pending stays 0. */
	cr_assert_gt(stat_of(&d, "dedup_pending"), 0,
	             "no duplicate reached the engine while its original was in flight");
	runs_free(runs, LOAD_PRODUCERS);
	free(loss);
	free(dupf);
}

Test(e2e, engine_fault_shim_reorder)
{
	struct daemon d;
	struct run runs[LOAD_PRODUCERS] = {0};

	env_up("e2e-shim");
	sluiced_start(&d, "shim", "--stream", "e2e:4", "--set", "fault_seed=20240611", "--set",
	              "fault_rx_drop_ppm=50000", "--set", "fault_rx_dup_ppm=50000", "--set",
	              "fault_rx_delay_ppm=50000", "--set", "fault_tx_drop_ppm=50000", NULL);
	load_and_verify(&d, "engine_fault_shim_reorder", runs);
	cr_assert_gt(stat_of(&d, "fault_injected"), 0, "the fault shim did nothing");
	cr_assert_gt(stat_of(&d, "dedup_hits") + stat_of(&d, "dedup_pending"), 0,
	             "no retry or copy reached the engine's dedup");
	cr_assert_gt(stat_of(&d, "dedup_pending"), 0, "no duplicate reached the engine's dedup");
	runs_free(runs, LOAD_PRODUCERS);
}

#define KEEP_SHARDS 3
#define KEEP_COUNT  10000
#define KEEP_KEYS   100

Test(e2e, restart_keeps_streams_and_records)
{
	struct daemon d1, d2;
	struct run runs[2] = {0};
	uint64_t max1[KEEP_SHARDS] = {0}, min2[KEEP_SHARDS];
	char *out;

	env_up("e2e-keep");
	sluiced_start(&d1, "keep-1", "--stream", "keep:3", NULL);
	put_load(&runs[0], 1, "keep-1", ENGINE_IP4, "keep", KEEP_COUNT, KEEP_KEYS);
	sluiced_stop(&d1);

	/* No --stream: the stream must come back from the data directory. */
	sluiced_start(&d2, "keep-2", NULL);
	out = slurp(d2.out);
	cr_assert_not_null(strstr(out, "stream keep (id "),
	                   "the restarted sluiced lists no 'keep':\n%s", out);
	free(out);
	put_load(&runs[1], 1, "keep-2", ENGINE_IP4, "keep", KEEP_COUNT, KEEP_KEYS);
	sluiced_stop(&d2);

	for (uint32_t s = 0; s < KEEP_SHARDS; s++)
		min2[s] = UINT64_MAX;
	for (uint64_t i = 0; i < KEEP_COUNT; i++) {
		const struct acked *a = &runs[0].a[i], *b = &runs[1].a[i];

		cr_assert(a->shard < KEEP_SHARDS && b->shard < KEEP_SHARDS);
		if (a->seq > max1[a->shard])
			max1[a->shard] = a->seq;
		if (b->seq < min2[b->shard])
			min2[b->shard] = b->seq;
	}
	for (uint32_t s = 0; s < KEEP_SHARDS; s++)
		cr_assert_gt(min2[s], max1[s],
		             "shard %u: after the restart seq %" PRIu64
		             " was handed out, not above the %" PRIu64 " from before",
		             s, min2[s], max1[s]);
	/* Both runs' records, in one order per shard, and each key on the
	 * same shard before and after. */
	verify_disk("keep", KEEP_SHARDS, runs, 2, KEEP_KEYS);
	cr_assert_eq(stat_of(&d2, "appended"), KEEP_COUNT);
	runs_free(runs, 2);
}

/* Waits (bounded) until the kernel side's IPv6 address has passed duplicate
 * address detection: before that the kernel has no source address for
 * 2001:2::2 and a producer's connect() fails with EADDRNOTAVAIL. */
static void wait_ipv6_dad(void)
{
	char *argv[] = {"ip",   "netns", "exec", ns,        "ip",        "-6",
	                "addr", "show",  "dev",  "sluice0", "tentative", NULL};
	char *out = path_in("dad.out");
	int64_t t0 = now_ms();

	for (;;) {
		char *text;
		bool tentative;

		cr_assert_eq(run_tool(argv, out, NULL), 0, "ip -6 addr show failed");
		text = slurp(out);
		tentative = strstr(text, "inet6") != NULL;
		free(text);
		if (!tentative)
			break;
		cr_assert_lt(now_ms() - t0, 10000, "2001:2::1 still tentative after 10 s");
		usleep(50000);
	}
	fprintf(stderr, "e2e ipv6: kernel address usable %" PRId64 " ms after ready\n",
	        now_ms() - t0);
	free(out);
}

Test(e2e, ipv6_producer)
{
	struct daemon d;
	struct run runs[1] = {0};

	env_up("e2e-ipv6");
	sluiced_start(&d, "ipv6", "--stream", "v6:2", NULL);
	wait_ipv6_dad();
	put_load(runs, 1, "ipv6", ENGINE_IP6, "v6", 2000, 50);
	sluiced_stop(&d);
	verify_disk("v6", 2, runs, 1, 50);
	runs_free(runs, 1);
}

/* Runs sluiced with args (no network: every case fails or exits before EAL
 * starts) and returns its exit status; its stderr goes to errbuf. */
static int run_sluiced(const char *const *args, char *errbuf, size_t cap)
{
	int pipefd[2], status = -1;
	pid_t pid;
	ssize_t got = 0, r;

	cr_assert_eq(pipe(pipefd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		const char *argv[16] = {getenv("SLUICED")};
		unsigned n = 1;

		for (; args[n - 1] && n < 15; n++)
			argv[n] = args[n - 1];
		argv[n] = NULL;
		dup2(pipefd[1], 2);
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		/* Should a case wrongly start the engine, it stays in this
		 * test's namespace and dies within 20 s (SIGALRM survives exec). */
		alarm(20);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	while (got < (ssize_t)cap - 1 && (r = read(pipefd[0], errbuf + got, cap - 1 - got)) > 0)
		got += r;
	errbuf[got] = 0;
	close(pipefd[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(e2e, sluiced_rejects_bad_arguments_with_a_reason)
{
	char out[8192];

	if (!getenv("SLUICED"))
		cr_skip_test("SLUICED not set");
	if (unshare(CLONE_NEWNET) != 0)
		cr_skip_test("cannot create a network namespace: %s", strerror(errno));
	cr_assert_eq(run_sluiced((const char *[]){"--stream", "bad/name", NULL}, out, sizeof(out)),
	             2, "%s", out);
	cr_assert(strstr(out, "bad/name"), "%s", out);
	cr_assert_eq(run_sluiced((const char *[]){"--stream", "s:0", NULL}, out, sizeof(out)), 2);
	cr_assert_eq(run_sluiced((const char *[]){"--set", "no_such=1", NULL}, out, sizeof(out)),
	             2);
	cr_assert(strstr(out, "no_such"), "%s", out);
	cr_assert_eq(run_sluiced((const char *[]){"--set", "rx_burst=x", NULL}, out, sizeof(out)),
	             2);
	cr_assert_eq(run_sluiced((const char *[]){"--ip4", "300.1.1.1", NULL}, out, sizeof(out)),
	             2);
	cr_assert_eq(run_sluiced((const char *[]){"--udp-port", "0", NULL}, out, sizeof(out)), 2);
	cr_assert_eq(run_sluiced((const char *[]){"extra", NULL}, out, sizeof(out)), 2);
	cr_assert_eq(run_sluiced((const char *[]){"--help", NULL}, out, sizeof(out)), 0);
	cr_assert(strstr(out, "--stream"), "%s", out);
	cr_assert_eq(run_sluiced((const char *[]){"--print-config", NULL}, out, sizeof(out)), 0);
	cr_assert(strstr(out, "dedup_entries") && strstr(out, "store.segment_bytes"), "%s", out);
}

/* ---- the Kinesis API and the UDP dataplane on the same streams ---- */

#define API_URL "http://127.0.0.1:4567/"

/* One Kinesis API call with curl inside the namespace; returns the HTTP
 * status and the parsed body (NULL when empty). */
static int api(const char *op, const char *body, json_t **ret)
{
	char target[128], *outp = path_in("api.out"), *code = path_in("api.code");
	char *argv[] = {"ip",
	                "netns",
	                "exec",
	                ns,
	                "curl",
	                "-s",
	                "--max-time",
	                "20",
	                "-o",
	                outp,
	                "-w",
	                "%{http_code}",
	                "-H",
	                target,
	                "-H",
	                "Content-Type: application/x-amz-json-1.1",
	                "-H",
	                "X-Amz-Date: 20261201T000000Z",
	                "-H",
	                "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/"
	                "kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
	                "--data-binary",
	                (char *)body,
	                API_URL,
	                NULL};
	char *text;
	int status;

	snprintf(target, sizeof(target), "X-Amz-Target: Kinesis_20131202.%s", op);
	cr_assert_eq(run_tool(argv, code, NULL), 0, "curl %s failed", op);
	text = slurp(code);
	status = atoi(text);
	free(text);
	text = slurp(outp);
	*ret = NULL;
	if (*text) {
		json_error_t err;

		*ret = json_loads(text, 0, &err);
		cr_assert_not_null(*ret, "%s: not JSON: %s", op, text);
	}
	free(text);
	free(outp);
	free(code);
	return status;
}

static void api_ok(const char *op, const char *body, json_t **ret)
{
	json_t *j = NULL;
	int st = api(op, body, &j);

	if (st != 200) {
		char *s = j ? json_dumps(j, 0) : NULL;

		cr_assert_fail("%s %s: HTTP %d %s", op, body, st, s ? s : "");
	}
	if (ret)
		*ret = j;
	else
		json_decref(j);
}

static void wait_active(const char *stream)
{
	char body[256];
	int64_t end = now_ms() + 30000;

	snprintf(body, sizeof(body), "{\"StreamName\":\"%s\"}", stream);
	for (;;) {
		json_t *j;
		const char *st;

		api_ok("DescribeStreamSummary", body, &j);
		st = json_string_value(json_object_get(
		        json_object_get(j, "StreamDescriptionSummary"), "StreamStatus"));
		cr_assert_not_null(st);
		if (strcmp(st, "ACTIVE") == 0) {
			json_decref(j);
			return;
		}
		json_decref(j);
		cr_assert_lt(now_ms(), end, "%s not ACTIVE after 30 s", stream);
		usleep(100000);
	}
}

/* Every record of one shard from TRIM_HORIZON through the API. */
static unsigned api_count_shard(const char *stream, const char *shard)
{
	char body[1024];
	json_t *j;
	unsigned n = 0;
	char *it;

	snprintf(
	        body, sizeof(body),
	        "{\"StreamName\":\"%s\",\"ShardId\":\"%s\",\"ShardIteratorType\":\"TRIM_HORIZON\"}",
	        stream, shard);
	api_ok("GetShardIterator", body, &j);
	it = strdup(json_string_value(json_object_get(j, "ShardIterator")));
	json_decref(j);
	for (int rounds = 0; rounds < 100; rounds++) {
		json_t *recs;
		const char *next;

		snprintf(body, sizeof(body), "{\"ShardIterator\":\"%s\",\"Limit\":10000}", it);
		api_ok("GetRecords", body, &j);
		recs = json_object_get(j, "Records");
		cr_assert(json_is_array(recs));
		n += (unsigned)json_array_size(recs);
		next = json_string_value(json_object_get(j, "NextShardIterator"));
		free(it);
		if (json_array_size(recs) == 0 || !next) {
			json_decref(j);
			return n;
		}
		it = strdup(next);
		json_decref(j);
	}
	cr_assert_fail("%s %s: still records after 100 GetRecords", stream, shard);
	return n;
}

/* The value of the sample line "<sample> v" (name and labels as served);
 * fails if absent. */
static double sample(const char *text, const char *name)
{
	char needle[256];
	const char *p;

	snprintf(needle, sizeof(needle), "\n%s ", name);
	p = strstr(text, needle);
	cr_assert_not_null(p, "no sample %s in /metrics", name);
	return strtod(p + strlen(needle), NULL);
}

/* The metric line value for stream/shard (0 if absent). */
static uint64_t metric(const char *text, const char *name, const char *stream, const char *shard)
{
	char needle[256];
	const char *p;

	snprintf(needle, sizeof(needle), "%s{stream=\"%s\",shard=\"%s\"} ", name, stream, shard);
	p = strstr(text, needle);
	return p ? strtoull(p + strlen(needle), NULL, 10) : 0;
}

Test(e2e, kinesis_api_and_udp_producers_share_streams)
{
	enum { UDP = 2000 };
	struct daemon d;
	struct run runs[1] = {0};
	char body[8192];
	json_t *j;
	unsigned total = 0;

	env_up("e2e-api");
	sluiced_start(&d, "api", "--http", "127.0.0.1:4567", NULL);

	/* A stream made through the API, written by a UDP producer and by
	 * PutRecords, read back by GetRecords. */
	api_ok("CreateStream", "{\"StreamName\":\"mix\",\"ShardCount\":2}", NULL);
	wait_active("mix");
	put_load(runs, 1, "api", ENGINE_IP4, "mix", UDP, 101);
	{
		size_t n = (size_t)snprintf(body, sizeof(body),
		                            "{\"StreamName\":\"mix\",\"Records\":[");

		for (int i = 0; i < 10; i++)
			n += (size_t)snprintf(body + n, sizeof(body) - n,
			                      "%s{\"Data\":\"aGVsbG8=\",\"PartitionKey\":\"pk%d\"}",
			                      i ? "," : "", i);
		snprintf(body + n, sizeof(body) - n, "]}");
	}
	api_ok("PutRecords", body, &j);
	cr_assert_eq(json_integer_value(json_object_get(j, "FailedRecordCount")), 0);
	json_decref(j);
	total = api_count_shard("mix", "shardId-000000000000") +
	        api_count_shard("mix", "shardId-000000000001");
	cr_assert_eq(total, UDP + 10, "GetRecords sees %u records, %u were acked", total, UDP + 10);

	/* /metrics counts them per shard; /healthz answers. */
	{
		char *mout = path_in("metrics.txt");
		char *argv[] = {"ip",
		                "netns",
		                "exec",
		                ns,
		                "curl",
		                "-sf",
		                "--max-time",
		                "20",
		                "-o",
		                mout,
		                "http://127.0.0.1:4567/metrics",
		                NULL};
		char *hz[] = {"ip",         "netns", "exec",
		              ns,           "curl",  "-sf",
		              "--max-time", "20",    "http://127.0.0.1:4567/healthz",
		              NULL};
		char *text;
		uint64_t m;

		cr_assert_eq(run_tool(argv, NULL, NULL), 0, "GET /metrics");
		text = slurp(mout);
		m = metric(text, "sluice_shard_records_total", "mix", "shardId-000000000000") +
		    metric(text, "sluice_shard_records_total", "mix", "shardId-000000000001");
		cr_assert_eq(m, UDP + 10, "metrics count %" PRIu64 " records", m);
		cr_assert_not_null(strstr(text, "sluice_fdatasync_seconds_count "));
		cr_assert_not_null(strstr(text, "sluice_lcore_busy_ratio{"));
		/* Memory: the process, the DPDK heap, the engine's mbuf pool. */
		{
			static const char *const families[] = {
			        "sluice_process_resident_memory_bytes",
			        "sluice_process_resident_memory_peak_bytes",
			        "sluice_dpdk_heap_bytes",
			        "sluice_store_ring_bytes",
			        "sluice_mempool_objects",
			        "sluice_mempool_size",
			        "sluice_mempool_bytes",
			};
			char head[256];
			double size = sample(text, "sluice_mempool_size{pool=\"sl_mbufs\"}");
			double used = sample(
			        text, "sluice_mempool_objects{pool=\"sl_mbufs\",state=\"in_use\"}");
			double avail = sample(
			        text,
			        "sluice_mempool_objects{pool=\"sl_mbufs\",state=\"available\"}");

			for (unsigned i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
				snprintf(head, sizeof(head), "# TYPE %s gauge\n", families[i]);
				cr_assert_not_null(strstr(text, head), "%s", head);
				snprintf(head, sizeof(head), "# HELP %s ", families[i]);
				cr_assert_not_null(strstr(text, head), "%s", head);
			}
			cr_assert_gt(sample(text, "sluice_process_resident_memory_bytes"), 0);
			cr_assert_geq(sample(text, "sluice_process_resident_memory_peak_bytes"),
			              sample(text, "sluice_process_resident_memory_bytes"));
			cr_assert_gt(sample(text, "sluice_dpdk_heap_bytes{state=\"allocated\"}"),
			             0);
			cr_assert_geq(sample(text, "sluice_dpdk_heap_bytes{state=\"total\"}"),
			              sample(text, "sluice_dpdk_heap_bytes{state=\"allocated\"}"));
			cr_assert_gt(size, 0);
			cr_assert_leq(used, size);
			cr_assert_eq(used + avail, size, "%g in use + %g available", used, avail);
			cr_assert_gt(sample(text, "sluice_mempool_bytes{pool=\"sl_mbufs\"}"), size,
			             "more than a byte per mbuf");
			cr_assert_gt(sample(text, "sluice_store_ring_bytes"), 0, "2 logs open");
		}
		free(text);
		free(mout);
		cr_assert_eq(run_tool(hz, NULL, NULL), 0, "GET /healthz");
	}

	/* Split shard 0 while sluiced runs: new UDP records go to the
	 * children, the parent keeps what it had and ends. */
	api_ok("SplitShard",
	       "{\"StreamName\":\"mix\",\"ShardToSplit\":\"shardId-000000000000\","
	       "\"NewStartingHashKey\":\"85070591730234615865843651857942052864\"}",
	       NULL);
	wait_active("mix");
	{
		unsigned before0 = api_count_shard("mix", "shardId-000000000000");
		unsigned after;
		struct run more[1] = {0};

		put_load(more, 1, "api-split", ENGINE_IP4, "mix", UDP, 101);
		cr_assert_eq(api_count_shard("mix", "shardId-000000000000"), before0,
		             "the closed parent takes no more records");
		after = api_count_shard("mix", "shardId-000000000001") +
		        api_count_shard("mix", "shardId-000000000002") +
		        api_count_shard("mix", "shardId-000000000003");
		cr_assert_eq(after + before0, total + UDP, "after the split: %u + %u records",
		             after, before0);
		cr_assert_gt(api_count_shard("mix", "shardId-000000000002") +
		                     api_count_shard("mix", "shardId-000000000003"),
		             0, "the children took records");
		runs_free(more, 1);
	}
	/* Delete: the stream goes, and so does its data once DELETING ends. */
	api_ok("DeleteStream", "{\"StreamName\":\"mix\"}", NULL);
	{
		int64_t end = now_ms() + 30000;
		int st;

		while ((st = api("DescribeStreamSummary", "{\"StreamName\":\"mix\"}", &j)) == 200) {
			json_decref(j);
			cr_assert_lt(now_ms(), end, "mix still there 30 s after DeleteStream");
			usleep(100000);
		}
		cr_assert_eq(st, 400);
		cr_assert_str_eq(json_string_value(json_object_get(j, "__type")),
		                 "ResourceNotFoundException");
		json_decref(j);
	}
	sluiced_stop(&d);
	{
		char *p = path_in("data-dir/data/mix");

		cr_assert_neq(access(p, F_OK), 0, "the deleted stream's data is gone");
		free(p);
	}
	runs_free(runs, 1);
}

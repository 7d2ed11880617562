/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kill -9 crash test for the storage library.
 *
 * Each cycle forks a child that opens the log in one directory (the same in
 * every cycle) and appends under load, asking for durable acks; it tells the
 * parent through a pipe what it opened, what it appended and every
 * SL_EV_DURABLE event. The parent SIGKILLs it at a random moment (after a
 * random number of acks, or after a random delay that may fall inside
 * sl_log_open()). Some cycles run a second child after the first, so that a
 * kill also lands in the recovery of a crashed log. Then the parent reopens
 * the log itself and checks that:
 *
 *   - every acked record is there, intact, under the sequence number the ack
 *     gave it; every other record that survived is a valid record, and the
 *     one the child appended under that number if the child reported it;
 *   - records come back in strictly increasing sequence order;
 *   - sequence numbers never go back: the reopened log hands out numbers
 *     above every number ever handed out, seen or acked, and above the last
 *     open's.
 *
 * Record content is a function of a record index (t_record() with a fixed
 * seed; the length too), so any record read back can be checked from its key
 * alone. The next child continues with indexes after the last acked ones.
 *
 * SLUICE_CRASH_CYCLES sets the number of cycles (default 5);
 * SLUICE_CRASH_SEED replays a run (the seed is printed at the start);
 * SLUICE_CRASH_KEEP=1 keeps the directory of a failed run;
 * SLUICE_CRASH_TRACE=1 prints a line per child and per reopen.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "log.h"
#include "t_util.h"

#define SHARD_ID          3
#define DATA_SEED         0x5eedu
#define MAX_BATCH         256                /* records per batch */
#define BATCH_DATA        (96u << 10)        /* data bytes per batch, under half the ring */
#define MAX_ACKS_LOG2     11                 /* kill after at most 2^11 = 2048 acks */
#define MAX_DELAY         (50 * 1000000)     /* largest kill delay, ns */
#define CHILD_LIMIT       (5ll * 1000000000) /* a child never killed stops by itself */
#define CHILD_MAX_BATCHES 200000u
#define CYCLE_LIMIT       (60ll * 1000000000) /* a cycle that takes this long is stuck */
#define FULL_SCAN_EVERY   10                  /* cycles; in between, the last two cycles' data */
#define SPOT_CHECKS       32                  /* acked batches re-read by seeking, per cycle */

/* ---- child -> parent messages ---- */

enum msg_kind {
	MSG_OPEN = 1, /* seq: next_seq of the child's open; a, b: torn, corrupt */
	MSG_APPEND,   /* seq, count: what an append assigned; a: first record index */
	MSG_ACK,      /* seq, count: a durable event; a: its first record index */
	MSG_FAIL,     /* a: the failing step; seq: -errno */
};

struct msg {
	uint32_t kind;
	uint32_t count;
	uint64_t seq;
	uint32_t a, b;
};

_Static_assert(sizeof(struct msg) <= PIPE_BUF, "pipe writes of a message are atomic");

/* A batch a child appended: consecutive sequence numbers and indexes. */
struct span {
	uint64_t seq;
	uint32_t count;
	uint32_t idx;
	bool acked;
};

struct spans {
	struct span *v;
	size_t n, cap;
};

enum kill_mode { KILL_AFTER_ACKS, KILL_AFTER_DELAY };

struct plan {
	enum kill_mode mode;
	uint32_t acks;    /* KILL_AFTER_ACKS: kill once this many acks came */
	int64_t delay_ns; /* KILL_AFTER_DELAY: kill this long after the fork */
	uint64_t segment_bytes;
	uint32_t pace_us; /* 0: append flat out; else sleep up to this per batch */
	uint64_t child_seed;
	uint32_t first_idx;
	uint64_t retain_bytes; /* 0: no retention; else sl_log_retain() to this size */
	uint32_t retain_every; /* batches between two sl_log_retain() calls */
};

/* ---- state shared by the test and its fini ---- */

static char *dir;
static pid_t child = -1;
static uint64_t seed;
static unsigned cycle;
static struct spans appended;  /* every append a child reported, in seq order */
static struct spans acked;     /* the acked ones among them */
static uint64_t acked_records; /* records in acked */
static bool passed;

static void fini(void)
{
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = -1;
	}
	free(acked.v);
	free(appended.v);
	acked = (struct spans){0};
	appended = (struct spans){0};
	acked_records = 0;
	if (dir) {
		const char *keep = getenv("SLUICE_CRASH_KEEP");

		if (!passed && keep && strcmp(keep, "1") == 0)
			fprintf(stderr, "crash: keeping %s\n", dir);
		else
			t_rm_rf(dir);
		free(dir);
		dir = NULL;
	}
}

TestSuite(crash, .fini = fini);

/* ---- helpers ---- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rnd(uint64_t *s, uint32_t n)
{
	return (uint32_t)(splitmix(s) % n);
}

/* Data length of record i: mostly small, some medium, a few large. */
static uint32_t rec_len(uint32_t i)
{
	uint64_t s = (uint64_t)i * 0x2545f4914f6cdd1dull + DATA_SEED;
	uint64_t h = splitmix(&s);
	uint32_t pick = (uint32_t)(h % 100), v = (uint32_t)(h >> 32);

	if (pick < 75)
		return v % 256;
	if (pick < 97)
		return 256 + v % 3840;
	return 4096 + v % 16384;
}

static void spans_push(struct spans *sp, uint64_t seq, uint32_t count, uint32_t idx)
{
	if (sp->n == sp->cap) {
		size_t cap = sp->cap ? sp->cap * 2 : 1024;
		struct span *v = realloc(sp->v, cap * sizeof(*v));

		cr_assert_not_null(v);
		sp->v = v;
		sp->cap = cap;
	}
	sp->v[sp->n++] = (struct span){seq, count, idx, false};
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

/* ---- the child ---- */

static int child_fd = -1;

static void child_send(uint32_t kind, uint64_t seq, uint32_t count, uint32_t a, uint32_t b)
{
	struct msg m = {.kind = kind, .count = count, .seq = seq, .a = a, .b = b};

	if (write(child_fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
		_exit(3);
}

static _Noreturn void child_fail(uint32_t step, int err)
{
	fprintf(stderr, "crash child: step %u failed: %s (%s)\n", step, strerror(-err),
	        sl_errmsg());
	child_send(MSG_FAIL, (uint64_t)(int64_t)err, 0, step, 0);
	_exit(4);
}

static void child_poll(struct sl_store *st)
{
	struct sl_log_event ev[64];
	int n;

	do {
		n = sl_store_poll(st, ev, 64);
		if (n < 0)
			child_fail(3, n);
		for (int k = 0; k < n; k++) {
			if (ev[k].kind == SL_EV_DURABLE)
				child_send(MSG_ACK, ev[k].first_seq, ev[k].count,
				           (uint32_t)ev[k].cookie, 0);
			else if (ev[k].kind == SL_EV_FAILED)
				child_fail(4, ev[k].err);
		}
	} while (n == 64);
}

static _Noreturn void child_main(const struct plan *p, pid_t parent)
{
	static struct sl_record_in recs[MAX_BATCH];
	static char keys[MAX_BATCH][32];
	static uint8_t data[BATCH_DATA];
	struct sl_store_config cfg;
	struct sl_log_report rep;
	struct sl_store *st;
	struct sl_log *lg;
	uint64_t rs = p->child_seed;
	uint32_t idx = p->first_idx;
	int64_t deadline = sl_mono_ns() + CHILD_LIMIT;
	int r;

	/* Die with the test process, whatever happens to it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(5);

	t_small_config(&cfg);
	cfg.segment_bytes = p->segment_bytes;
	r = sl_store_create(&cfg, &st);
	if (r < 0)
		child_fail(1, r);
	r = sl_log_open(st, dir, SHARD_ID, NULL, &rep, &lg);
	if (r < 0)
		child_fail(2, r);
	child_send(MSG_OPEN, rep.next_seq, 0, rep.torn_segments, rep.corrupt_batches);

	for (uint32_t batches = 0; batches < CHILD_MAX_BATCHES; batches++) {
		uint32_t want, n = 0, used = 0;
		uint64_t seq;

		/* Batch sizes: mostly a few records, sometimes dozens or more. */
		switch (rnd(&rs, 10)) {
		case 0:
			want = 1 + rnd(&rs, MAX_BATCH);
			break;
		case 1:
		case 2:
		case 3:
			want = 4 + rnd(&rs, 29);
			break;
		default:
			want = 1 + rnd(&rs, 3);
			break;
		}
		while (n < want) {
			uint32_t len = rec_len(idx + n);

			if (n > 0 && used + len > BATCH_DATA)
				break;
			t_record(&recs[n], keys[n], data + used, idx + n, len, DATA_SEED);
			used += len;
			n++;
		}
		for (;;) {
			if (sl_mono_ns() > deadline)
				_exit(0);
			r = sl_log_append(lg, recs, n, idx, SL_NOTIFY_DURABLE, &seq);
			if (r != -EAGAIN)
				break;
			child_poll(st);
		}
		if (r < 0)
			child_fail(5, r);
		child_send(MSG_APPEND, seq, n, idx, 0);
		idx += n;
		child_poll(st);
		/* Retention from the owner thread: it blocks on the renames and
		 * unlinks, which is what a kill should land in. */
		if (p->retain_bytes && batches % p->retain_every == p->retain_every - 1) {
			r = sl_log_retain(lg, 0, 0, p->retain_bytes);
			if (r < 0)
				child_fail(6, r);
		}
		if (p->pace_us)
			usleep(rnd(&rs, p->pace_us));
	}
	_exit(0);
}

/* ---- the parent ---- */

static char failure[512];

#define DEFER_FAIL(...)                                                                            \
	do {                                                                                       \
		if (!failure[0])                                                                   \
			snprintf(failure, sizeof(failure), __VA_ARGS__);                           \
	} while (0)

/* What the parent knows while one child runs. */
struct child_state {
	const struct plan *plan;
	bool after_clean_close; /* the parent closed the log before this child */
	uint64_t prev_next;     /* next_seq of the last open (parent's or child's) */
	uint64_t max_seen;      /* the largest sequence number handed out so far */
	size_t first_app;       /* this child's appends start here in appended */
	uint64_t child_next;    /* next_seq of the child's open */
	uint32_t acks;          /* durable events received from this child */
	bool opened;            /* the child reported its open */
};

static void on_msg(struct child_state *cs, const struct msg *m)
{
	switch (m->kind) {
	case MSG_OPEN:
		cs->opened = true;
		cs->child_next = m->seq;
		if (m->seq <= cs->prev_next || m->seq <= cs->max_seen)
			DEFER_FAIL("child opened with next_seq %" PRIu64 ", not above the last "
			           "open's %" PRIu64 " and every seq handed out (%" PRIu64 ")",
			           m->seq, cs->prev_next, cs->max_seen);
		if ((cs->after_clean_close && m->a != 0) || m->b != 0)
			DEFER_FAIL("child open (after a %s): torn_segments %u corrupt_batches %u",
			           cs->after_clean_close ? "clean close" : "crash", m->a, m->b);
		break;
	case MSG_APPEND:
		if (!cs->opened || m->count == 0 || m->seq < cs->child_next ||
		    m->seq <= cs->max_seen) {
			DEFER_FAIL("append got seq %" PRIu64 " (+%u): below the open's %" PRIu64
			           " or not above the last handed out %" PRIu64,
			           m->seq, m->count, cs->child_next, cs->max_seen);
			break;
		}
		cs->max_seen = m->seq + m->count - 1;
		spans_push(&appended, m->seq, m->count, m->a);
		break;
	case MSG_ACK: {
		size_t k = cs->first_app + cs->acks;
		struct span *want = k < appended.n ? &appended.v[k] : NULL;

		/* Every batch asked for a durable event: they come one per
		 * batch, in append order. */
		if (!want || want->seq != m->seq || want->count != m->count || want->idx != m->a) {
			DEFER_FAIL("durable event %u (seq %" PRIu64
			           " +%u record %u) does not match "
			           "append %u (seq %" PRIu64 " +%u record %u)",
			           cs->acks, m->seq, m->count, m->a, cs->acks, want ? want->seq : 0,
			           want ? want->count : 0, want ? want->idx : 0);
			break;
		}
		want->acked = true;
		spans_push(&acked, m->seq, m->count, m->a);
		acked_records += m->count;
		cs->acks++;
		break;
	}
	case MSG_FAIL:
		DEFER_FAIL("child failed at step %u: %s", m->a, strerror(-(int)(int64_t)m->seq));
		break;
	default:
		DEFER_FAIL("unknown message kind %u", m->kind);
		break;
	}
}

/*
 * Spare reuse, seen from the directory while children run and between
 * cycles: a spare-*.log file
 * whose inode shows up later under another name (a segment, or a spare of
 * that segment) was renamed into place by a roll. Retention never deletes a
 * spare while spare_segments is not exceeded, so inode numbers are not
 * recycled under our feet.
 */
struct spare_seen {
	ino_t ino;
	char name[64];
};

struct spare_watch {
	struct spare_seen v[64];
	unsigned n;
	unsigned reused;               /* spare inodes seen again under another name */
	unsigned count_min, count_max; /* spare-*.log files in one look */
	unsigned count_drops;          /* looks with fewer spares than the one before */
	unsigned last_count;
	bool looked;
};

static void watch_spares(struct spare_watch *w)
{
	struct spare_seen now[64];
	unsigned nnow = 0, count = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d) { /* no assertion here: a child may be running */
		DEFER_FAIL("opendir %s: %s", dir, strerror(errno));
		return;
	}
	while ((de = readdir(d))) {
		bool spare = strncmp(de->d_name, "spare-", 6) == 0;
		size_t len = strlen(de->d_name);
		struct stat sb;

		if (len < 4 || strcmp(de->d_name + len - 4, ".log") != 0 || len >= 64)
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, 0) < 0)
			continue;
		for (unsigned i = 0; i < w->n; i++)
			if (w->v[i].ino == sb.st_ino && strcmp(w->v[i].name, de->d_name) != 0) {
				w->reused++;
				w->v[i] = w->v[--w->n]; /* count one reuse once */
				break;
			}
		if (spare) {
			count++;
			if (nnow < SL_ARRAY_SIZE(now)) {
				now[nnow].ino = sb.st_ino;
				strcpy(now[nnow].name, de->d_name);
				nnow++;
			}
		}
	}
	closedir(d);
	/* Keep the spares seen before that are gone now (they may come back
	 * later under a segment's name, after the next reopen renamed it),
	 * then add the current ones. */
	for (unsigned i = 0; i < nnow; i++) {
		unsigned j;

		for (j = 0; j < w->n && w->v[j].ino != now[i].ino; j++)
			;
		if (j == w->n) {
			if (w->n == SL_ARRAY_SIZE(w->v))
				memmove(&w->v[0], &w->v[1], --w->n * sizeof(w->v[0]));
			j = w->n++;
		}
		w->v[j] = now[i];
	}
	if (!w->looked || count < w->count_min)
		w->count_min = count;
	if (!w->looked || count > w->count_max)
		w->count_max = count;
	if (w->looked && count < w->last_count)
		w->count_drops++;
	w->last_count = count;
	w->looked = true;
}

/* Runs one child and kills it; returns once it is reaped. No assertion
 * while it lives, so that no child outlives a failure. */
static void run_child(struct child_state *cs, struct spare_watch *sw, bool *ret_exited)
{
	const struct plan *p = cs->plan;
	uint8_t buf[sizeof(struct msg) * 256];
	size_t have = 0;
	int fds[2], status = 0;
	int64_t t0, hard;
	bool killed = false;
	pid_t parent = getpid();

	cr_assert_eq(pipe2(fds, O_CLOEXEC), 0, "pipe2: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	t0 = sl_mono_ns();
	child = fork();
	cr_assert_geq(child, 0, "fork: %s", strerror(errno));
	if (child == 0) {
		close(fds[0]);
		child_fd = fds[1];
		child_main(p, parent);
	}
	close(fds[1]);
	hard = t0 + CYCLE_LIMIT;

	/* Until the pipe's end: after the kill, the messages still in it are
	 * read too, since an ack the child sent before dying counts. */
	for (;;) {
		int64_t now = sl_mono_ns(), wait_ns;
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
		struct timespec ts;
		size_t off = 0;
		ssize_t n;

		if (now >= hard + CYCLE_LIMIT) {
			DEFER_FAIL("killed child did not go away");
			break;
		}
		if (!killed && now >= hard) {
			DEFER_FAIL("cycle stuck: child still running after %lld s",
			           (long long)(CYCLE_LIMIT / 1000000000));
			kill(child, SIGKILL);
			killed = true;
		}
		if (!killed && p->mode == KILL_AFTER_DELAY && now >= t0 + p->delay_ns) {
			kill(child, SIGKILL);
			killed = true;
		}
		if (!killed && p->mode == KILL_AFTER_DELAY)
			wait_ns = t0 + p->delay_ns - now;
		else
			wait_ns = 100000000;
		/* Look often enough to see spares made and reused by one child. */
		if (sw && !killed) {
			watch_spares(sw);
			wait_ns = SL_MIN(wait_ns, 2000000);
		}
		ts.tv_sec = wait_ns / 1000000000;
		ts.tv_nsec = wait_ns % 1000000000;
		if (ppoll(&pfd, 1, &ts, NULL) < 0 && errno != EINTR) {
			DEFER_FAIL("ppoll: %s", strerror(errno));
			break;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(fds[0], buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			DEFER_FAIL("read: %s", strerror(errno));
		if (n <= 0)
			break;
		have += (size_t)n;
		for (; have - off >= sizeof(struct msg); off += sizeof(struct msg)) {
			struct msg m;

			memcpy(&m, buf + off, sizeof(m));
			on_msg(cs, &m);
		}
		memmove(buf, buf + off, have - off);
		have -= off;
		if (!killed &&
		    (failure[0] || (p->mode == KILL_AFTER_ACKS && cs->acks >= p->acks))) {
			kill(child, SIGKILL);
			killed = true;
		}
	}
	kill(child, SIGKILL); /* harmless if it is gone already */
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	child = -1;
	close(fds[0]);

	*ret_exited = WIFEXITED(status);
	cr_assert(!failure[0], "seed %" PRIu64 " cycle %u: %s", seed, cycle, failure);
	cr_assert_eq(have, 0, "seed %" PRIu64 " cycle %u: partial message in the pipe", seed,
	             cycle);
	cr_assert((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
	                  (WIFEXITED(status) && WEXITSTATUS(status) == 0),
	          "seed %" PRIu64 " cycle %u: child ended with status %#x", seed, cycle, status);
}

/* Checks a record against the index its key names; returns the index. */
static uint32_t check_record(const struct sl_record_out *o)
{
	const char *k = o->key;
	uint32_t i = 0;

	cr_assert(o->key_len >= 2 && o->key_len <= 10 && k[0] == 'k',
	          "seed %" PRIu64 " cycle %u: seq %" PRIu64 " has a key that no child wrote", seed,
	          cycle, o->seq);
	for (uint32_t j = 1; j < o->key_len; j++) {
		cr_assert(k[j] >= '0' && k[j] <= '9',
		          "seed %" PRIu64 " cycle %u: seq %" PRIu64 " has a bad key", seed, cycle,
		          o->seq);
		i = i * 10 + (uint32_t)(k[j] - '0');
	}
	cr_assert(t_record_check(o, i, rec_len(i), DATA_SEED),
	          "seed %" PRIu64 " cycle %u: seq %" PRIu64 " (record %u, %u bytes) is damaged",
	          seed, cycle, o->seq, i, o->data_len);
	return i;
}

/* First span of sp that ends after seq. */
static size_t span_from(const struct spans *sp, uint64_t seq)
{
	size_t lo = 0, hi = sp->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sp->v[mid].seq + sp->v[mid].count <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Acked records at or after seq. */
static uint64_t acked_records_from(uint64_t seq)
{
	uint64_t n = 0;

	for (size_t a = span_from(&acked, seq); a < acked.n; a++)
		n += acked.v[a].count - (seq > acked.v[a].seq ? seq - acked.v[a].seq : 0);
	return n;
}

/*
 * Reads the log from seq from to its end: records in strictly increasing
 * order, each one valid; each one a child reported appending holds the
 * record it appended; none of the acked ones missing. Returns the acked
 * records verified; *ret_last is the last seq read.
 */
static uint64_t scan(struct sl_log *lg, uint64_t from, uint64_t *ret_last)
{
	static struct sl_record_out out[256];
	struct sl_reader *r;
	struct sl_reader_stats rs;
	size_t a = span_from(&appended, from);
	/* The next seq of span a not read yet. */
	uint64_t need = a < appended.n ? SL_MAX(appended.v[a].seq, from) : 0;
	uint64_t last = 0, verified = 0;
	int n;

#define MISSING_MSG                                                                                \
	"seed %" PRIu64 " cycle %u: acked seq %" PRIu64 " (record %u) is missing; last read "      \
	"%" PRIu64,                                                                                \
	        seed, cycle, need, appended.v[a].idx + (uint32_t)(need - appended.v[a].seq), last

	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	cr_assert_eq(sl_reader_seek_at_seq(r, from), 0);
	while ((n = sl_reader_read(r, out, 256, 4u << 20)) > 0) {
		for (int k = 0; k < n; k++) {
			uint64_t s = out[k].seq;
			uint32_t i = check_record(&out[k]);
			const struct span *sp;

			cr_assert_gt(s, last,
			             "seed %" PRIu64 " cycle %u: seq %" PRIu64
			             " read after %" PRIu64,
			             seed, cycle, s, last);
			cr_assert_geq(s, from);
			while (a < appended.n && s >= appended.v[a].seq + appended.v[a].count) {
				if (appended.v[a].acked)
					cr_assert_eq(need, appended.v[a].seq + appended.v[a].count,
					             MISSING_MSG);
				if (++a < appended.n)
					need = appended.v[a].seq;
			}
			last = s;
			if (a == appended.n || s < appended.v[a].seq)
				continue; /* an append the child did not report: valid will do */
			sp = &appended.v[a];
			if (sp->acked)
				cr_assert_eq(s, need, MISSING_MSG);
			cr_assert_eq(i, sp->idx + (uint32_t)(s - sp->seq),
			             "seed %" PRIu64 " cycle %u: seq %" PRIu64 " holds record %u, "
			             "appended%s as %u",
			             seed, cycle, s, i, sp->acked ? " and acked" : "",
			             sp->idx + (uint32_t)(s - sp->seq));
			need = s + 1;
			verified += sp->acked;
		}
	}
	cr_assert_geq(n, 0, "seed %" PRIu64 " cycle %u: read: %s", seed, cycle, strerror(-n));
	for (; a < appended.n; a++, need = a < appended.n ? appended.v[a].seq : 0)
		if (appended.v[a].acked)
			cr_assert_eq(need, appended.v[a].seq + appended.v[a].count, MISSING_MSG);
#undef MISSING_MSG
	sl_reader_stats(r, &rs);
	cr_assert_eq(rs.corrupt_batches, 0,
	             "seed %" PRIu64 " cycle %u: reader skipped corrupt seqs %" PRIu64 "..%" PRIu64,
	             seed, cycle, rs.corrupt_first_seq, rs.corrupt_last_seq);
	sl_reader_free(r);
	*ret_last = last;
	return verified;
}

/* Seeks to random acked records at or after min_seq, old and new, and
 * reads them. */
static void spot_check(struct sl_log *lg, uint64_t *rs, uint64_t min_seq)
{
	struct sl_record_out out[1];
	struct sl_reader *r;
	size_t first = span_from(&acked, min_seq);

	if (first == acked.n)
		return;
	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	for (int k = 0; k < SPOT_CHECKS; k++) {
		const struct span *sp = &acked.v[first + rnd(rs, (uint32_t)(acked.n - first))];
		uint32_t o = rnd(rs, sp->count);

		if (sp->seq + o < min_seq)
			o = (uint32_t)(min_seq - sp->seq);

		cr_assert_eq(sl_reader_seek_at_seq(r, sp->seq + o), 0);
		cr_assert_eq(sl_reader_read(r, out, 1, SIZE_MAX), 1,
		             "seed %" PRIu64 " cycle %u: acked seq %" PRIu64
		             " not found by seeking",
		             seed, cycle, sp->seq + o);
		cr_assert_eq(out[0].seq, sp->seq + o,
		             "seed %" PRIu64 " cycle %u: seek to acked seq %" PRIu64
		             " read %" PRIu64,
		             seed, cycle, sp->seq + o, out[0].seq);
		cr_assert_eq(check_record(&out[0]), sp->idx + o);
	}
	sl_reader_free(r);
}

static void make_plan(struct plan *p, uint64_t *rs, uint32_t first_idx, bool second, bool retention)
{
	static const uint64_t seg_sizes[4] = {1u << 20, 1u << 20, (1u << 20) + (256u << 10),
	                                      2u << 20};

	memset(p, 0, sizeof(*p));
	/* The first cycle always reaches an ack, so that something is
	 * verified from the start; a second child is often killed early. */
	if (cycle == 0)
		p->mode = KILL_AFTER_ACKS;
	else
		p->mode = rnd(rs, second ? 2 : 4) != 0 ? KILL_AFTER_ACKS : KILL_AFTER_DELAY;
	/* Roughly log-uniform in [1, 2^MAX_ACKS_LOG2]. */
	p->acks = 1 + rnd(rs, 2u << rnd(rs, MAX_ACKS_LOG2));
	/* With retention, the first child lives long enough for several rolls
	 * (a batch is ~18 KiB on average): segments retired to spares and
	 * spares reused, even in a 5-cycle run. */
	if (retention && cycle == 0)
		p->acks = SL_MAX(p->acks, 1024);
	/* Half the delays are short enough to land inside sl_log_open(). */
	p->delay_ns = (int64_t)rnd(rs, rnd(rs, 2) ? MAX_DELAY + 1 : MAX_DELAY / 10 + 1);
	p->segment_bytes = seg_sizes[rnd(rs, 4)];
	p->pace_us = rnd(rs, 4) == 0 ? 200 : 0;
	p->child_seed = splitmix(rs);
	p->first_idx = first_idx;
	if (retention) {
		/* Three segments' worth: the segment of the last acked record
		 * outlives its child's retention, older ones go to spares. */
		p->retain_bytes = 3 * p->segment_bytes;
		p->retain_every = 1 + rnd(rs, 8);
	}
}

static const char *plan_str(const struct plan *p, char *buf, size_t cap)
{
	if (p->mode == KILL_AFTER_ACKS)
		snprintf(buf, cap, "kill after %u acks", p->acks);
	else
		snprintf(buf, cap, "kill after %" PRId64 " us", p->delay_ns / 1000);
	return buf;
}

/*
 * The crash test proper. With retention, every child also runs
 * sl_log_retain() every few batches, so that segments are retired to spares
 * and reused by rolls; acked records below the reopened log's trim horizon
 * were deleted by retention, so only those at or above it must be there.
 */
static void crash_run(bool retention)
{
	struct sl_store_config cfg;
	struct sl_store *st;
	struct sl_log *lg;
	struct sl_log_report rep;
	uint64_t rs, prev_next = 0, max_seen = 0, total_verified = 0, last_read;
	unsigned cycles = (unsigned)env_u64("SLUICE_CRASH_CYCLES", 5);
	uint32_t next_idx = 0;
	unsigned kills = 0, by_delay = 0, in_open = 0, self_exit = 0, full_scans = 0, torn = 0;
	uint64_t scan_from[2] = {0, 0}; /* next_seq of the parent's last two opens */
	uint64_t horizon = 0, prev_horizon = 0, below_horizon = 0;
	struct spare_watch sw = {0};
	bool trace = getenv("SLUICE_CRASH_TRACE") != NULL;
	int r;
	int64_t t_start = sl_mono_ns();

	seed = env_u64("SLUICE_CRASH_SEED", (uint64_t)sl_wall_ns() ^ ((uint64_t)getpid() << 32));
	rs = seed;
	dir = t_tmpdir("crash");
	t_small_config(&cfg);
	cr_assert_eq(sl_store_create(&cfg, &st), 0);
	fprintf(stderr,
	        "crash: seed %" PRIu64 " (SLUICE_CRASH_SEED), %u cycles, %s backend, %s%s\n", seed,
	        cycles, sl_io_backend_name(sl_store_backend(st)), dir,
	        retention ? ", with retention" : "");
	sl_store_free(st);
	cr_assert_gt(cycles, 0);

	for (cycle = 0; cycle < cycles; cycle++) {
		unsigned children = cycle > 0 && rnd(&rs, 4) == 0 ? 2 : 1;
		uint64_t verified, from;
		bool full;

		for (unsigned c = 0; c < children; c++) {
			struct child_state cs;
			struct plan p;
			char pbuf[64];
			bool exited;

			make_plan(&p, &rs, next_idx, c > 0, retention);
			cs = (struct child_state){.plan = &p,
			                          .after_clean_close = c == 0,
			                          .prev_next = prev_next,
			                          .max_seen = max_seen,
			                          .first_app = appended.n};
			run_child(&cs, retention ? &sw : NULL, &exited);
			kills++;
			by_delay += p.mode == KILL_AFTER_DELAY;
			in_open += !cs.opened;
			self_exit += exited;
			if (p.mode == KILL_AFTER_ACKS && !exited)
				cr_assert_geq(cs.acks, p.acks);
			max_seen = cs.max_seen;
			prev_next = SL_MAX(prev_next, cs.child_next);
			if (acked.n > 0)
				next_idx = acked.v[acked.n - 1].idx + acked.v[acked.n - 1].count;
			if (trace)
				fprintf(stderr,
				        "crash: cycle %u child %u: %s, segments of %" PRIu64
				        " KiB: %s, %u acks, %zu appends\n",
				        cycle, c, plan_str(&p, pbuf, sizeof(pbuf)),
				        p.segment_bytes >> 10,
				        !cs.opened ? "killed in open"
				        : exited   ? "stopped by itself"
				                   : "killed",
				        cs.acks, appended.n - cs.first_app);
		}

		if (retention)
			watch_spares(&sw);

		/* Reopen and check what recovery reports. */
		t_small_config(&cfg);
		cr_assert_eq(sl_store_create(&cfg, &st), 0);
		r = sl_log_open(st, dir, SHARD_ID, NULL, &rep, &lg);
		cr_assert_eq(r, 0, "seed %" PRIu64 " cycle %u: reopen: %s (%s)", seed, cycle,
		             sl_errmsg(), strerror(-r));
		torn += rep.torn_segments;
		cr_assert_eq(rep.corrupt_batches, 0,
		             "seed %" PRIu64 " cycle %u: a crash corrupted sealed data: seqs "
		             "%" PRIu64 "..%" PRIu64,
		             seed, cycle, rep.corrupt_first_seq, rep.corrupt_last_seq);
		cr_assert_gt(rep.next_seq, prev_next,
		             "seed %" PRIu64 " cycle %u: next_seq %" PRIu64
		             " not above the last open's %" PRIu64,
		             seed, cycle, rep.next_seq, prev_next);
		cr_assert_gt(rep.next_seq, max_seen,
		             "seed %" PRIu64 " cycle %u: next_seq %" PRIu64
		             " not above seq %" PRIu64 " handed out before the crash",
		             seed, cycle, rep.next_seq, max_seen);
		if (retention) {
			/* Retention only moves the horizon forward: a retired
			 * segment never comes back, and is never lost before
			 * its turn. */
			horizon = sl_log_trim_horizon(lg);
			cr_assert_gt(horizon, 0, "seed %" PRIu64 " cycle %u: no trim horizon", seed,
			             cycle);
			cr_assert_geq(horizon, prev_horizon,
			              "seed %" PRIu64 " cycle %u: trim horizon %" PRIu64
			              " went back from %" PRIu64,
			              seed, cycle, horizon, prev_horizon);
			cr_assert_leq(horizon, rep.next_seq);
			cr_assert(rep.first_seq == 0 || horizon <= rep.first_seq,
			          "seed %" PRIu64 " cycle %u: trim horizon %" PRIu64
			          " after the first record on disk %" PRIu64,
			          seed, cycle, horizon, rep.first_seq);
			prev_horizon = horizon;
		} else if (acked.n > 0) {
			const struct span *l = &acked.v[acked.n - 1];

			cr_assert(rep.first_seq != 0 && rep.first_seq <= acked.v[0].seq,
			          "seed %" PRIu64 " cycle %u: trim horizon %" PRIu64
			          " after the first acked seq %" PRIu64,
			          seed, cycle, rep.first_seq, acked.v[0].seq);
			cr_assert_geq(rep.last_seq, l->seq + l->count - 1,
			              "seed %" PRIu64 " cycle %u: last_seq %" PRIu64
			              " below the last acked %" PRIu64,
			              seed, cycle, rep.last_seq, l->seq + l->count - 1);
		}

		/* Read back: everything every few cycles, else the data of the
		 * last two cycles (where the last recoveries worked). */
		full = cycles <= 2 * FULL_SCAN_EVERY || cycle % FULL_SCAN_EVERY == 0 ||
		       cycle + 1 == cycles;
		from = SL_MAX(full ? 0 : scan_from[0], horizon);
		verified = scan(lg, from, &last_read);
		full_scans += full;
		cr_assert_eq(verified, acked_records_from(from),
		             "seed %" PRIu64 " cycle %u: verified %" PRIu64
		             " acked records of %" PRIu64,
		             seed, cycle, verified, acked_records_from(from));
		cr_assert_leq(last_read, rep.last_seq);
		spot_check(lg, &rs, horizon);
		total_verified += verified;
		if (retention)
			below_horizon = acked_records - acked_records_from(horizon);
		cr_assert_gt(total_verified, 0,
		             "seed %" PRIu64 " cycle %u: no acked record verified yet", seed,
		             cycle);
		if (trace)
			fprintf(stderr,
			        "crash: cycle %u reopen: %u segments, %u torn, %u bad headers, "
			        "%u indexes rebuilt, trim horizon %" PRIu64 ", %u spares, %" PRIu64
			        " acked records verified%s\n",
			        cycle, rep.segments, rep.torn_segments, rep.bad_headers,
			        rep.index_rebuilt, horizon, sw.last_count, verified,
			        full ? " (full scan)" : "");

		prev_next = rep.next_seq;
		scan_from[0] = scan_from[1];
		scan_from[1] = rep.next_seq;
		cr_assert_eq(sl_log_close(lg), 0);
		sl_store_free(st);
		if (retention)
			watch_spares(&sw);
	}

	/* A clean close after the last crash: the next open finds nothing to
	 * repair, and everything still reads back. */
	t_small_config(&cfg);
	cr_assert_eq(sl_store_create(&cfg, &st), 0);
	cr_assert_eq(sl_log_open(st, dir, SHARD_ID, NULL, &rep, &lg), 0);
	cr_assert_eq(rep.torn_segments, 0);
	cr_assert_eq(rep.corrupt_batches, 0);
	cr_assert_eq(rep.bad_headers, 0);
	cr_assert_eq(rep.index_rebuilt, 0);
	cr_assert_gt(rep.next_seq, prev_next);
	if (retention) {
		horizon = sl_log_trim_horizon(lg);
		cr_assert_geq(horizon, prev_horizon);
	}
	cr_assert_eq(scan(lg, horizon, &last_read), acked_records_from(horizon));
	cr_assert_eq(sl_log_close(lg), 0);
	sl_store_free(st);

	fprintf(stderr,
	        "crash: %u cycles, %u kills (%u by delay, %u inside open, %u children stopped by "
	        "themselves), %u torn segments cut, %zu acked batches, %" PRIu64 " acked records "
	        "(%" PRIu64 " verifications, %u full scans), %.1f s\n",
	        cycles, kills, by_delay, in_open, self_exit, torn, acked.n, acked_records,
	        total_verified, full_scans, (double)(sl_mono_ns() - t_start) / 1e9);
	cr_assert_gt(acked_records, 0);
	if (retention) {
		fprintf(stderr,
		        "crash: retention: trim horizon %" PRIu64 ", %" PRIu64
		        " acked records below it, %u spare reuses seen, %u..%u spares per look "
		        "(%u drops)\n",
		        horizon, below_horizon, sw.reused, sw.count_min, sw.count_max,
		        sw.count_drops);
		/* Not vacuous: retention ran, spares were made and reused. */
		cr_assert_gt(below_horizon, 0, "seed %" PRIu64 ": retention deleted nothing", seed);
		cr_assert_gt(sw.count_max, 0, "seed %" PRIu64 ": no spare ever seen", seed);
		cr_assert_gt(sw.reused, 0, "seed %" PRIu64 ": no spare seen reused by a roll",
		             seed);
	}
	/* "segments: segment files kept; sealed: of which were sealed". */
	cr_assert_eq(rep.sealed, rep.segments,
	             "seed %" PRIu64 ": after a clean close, %u of %u segments kept are sealed "
	             "(%u empty ones removed)",
	             seed, rep.sealed, rep.segments, rep.removed_empty);
	passed = true;
}

Test(crash, kill_9_loses_no_acked_record, .timeout = 1500)
{
	crash_run(false);
}

Test(crash, kill_9_with_retention_and_reused_segments_loses_no_retained_acked_record,
     .timeout = 1500)
{
	crash_run(true);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_load: one load client for the peers sluice is compared with, Redis
 * Streams (XADD) and NATS JetStream (a publish acknowledged by a PubAck), so
 * perf/peers.sh measures every peer with the same client, the same record
 * and the same latency accounting as sluice's own load generators.
 *
 * One thread, one epoll loop, --clients N connections (a unix socket with
 * --unix PATH, else TCP to --host:--port, IPv4), each with up to --pipeline
 * P commands in flight. A command is one record of --size bytes (100 by
 * default, sluice's benchmark record); 64 distinct random payloads are built
 * before the run and sent in turn.
 *
 *  - redis: `XADD <stream> * d <payload>`, or with --maxlen N
 *    `XADD <stream> MAXLEN ~ N * d <payload>` so a long run cannot fill the
 *    server's memory (trimming is part of the measured cost then). Answers
 *    on a connection come in order: a bulk string (the entry ID) is OK, an
 *    error reply (-ERR ...) a counted failure.
 *  - nats: the text protocol. CONNECT (verbose off, headers and
 *    no_responders on, so a publish nobody answers fails at once), one
 *    `SUB _INBOX.<conn>.* 1`, then `PUB <stream>.in _INBOX.<conn>.<token> <len>`
 *    per record. JetStream answers on the reply subject with a PubAck
 *    ({"stream":..,"seq":..}, OK) or {"error":{..}} (a counted failure); a
 *    status header (503 no responders) is a failure too. Answers are matched
 *    to commands by the token (slot index and generation), not by order.
 *    Before the run the stream is created with a request on
 *    $JS.API.STREAM.CREATE.<stream>: file storage, subject <stream>.in,
 *    limits retention, discard old at --max-bytes, so a run cannot fill the
 *    disk (an existing stream of that name is fine).
 *
 * The wire protocols are written here by hand: Debian has no C client for
 * NATS, and hiredis would be a dependency for the thirty lines of RESP this
 * needs.
 *
 * Load:
 *  - closed loop (default): each connection keeps --pipeline commands in
 *    flight, sending the next as soon as an answer is in. Latency runs from
 *    the send.
 *  - open loop (--rate R records/s in all): command k is due at
 *    start + k / R whatever the answers do, and goes to the next connection
 *    (round-robin) with room; latency runs from the scheduled time, so a
 *    stall is charged to every command queued behind it (no coordinated
 *    omission). --pipeline then only bounds what is in flight per connection
 *    (1024 by default); a command that finds every connection full is sent
 *    late and its latency shows it. Sends more than 1 ms late are counted.
 *
 * Window: --warmup seconds, then --seconds measured. records/s counts the OK
 * answers received inside the window; the histogram (perf/hist.h) gets
 * every command whose start (send or scheduled time) was inside it, OK or
 * not. A command that ends without an answer (its connection failed, no
 * answer within --timeout-ms, or still in flight when the drain ends)
 * enters the histogram at its age at that moment, a lower bound, and is
 * counted. A failed connection is not reopened; the others go on. After the
 * window the closed loop sends nothing new; the open loop still sends, late,
 * what was due inside the window (for --timeout-ms at most; what is left
 * then is counted as unsent and enters the histogram at its age). What is in
 * flight then drains for --timeout-ms at most; an alarm bounds the whole
 * run.
 *
 * Exit: 0 the run completed and at most 1 % of the commands failed, 1 no
 * server, a failed set-up or more failures, 2 bad options.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "machine.h"

#define MAX_CONNS    1024
#define MAX_PIPELINE 65536 /* slots per connection: a NATS token keeps the index in 16 bits */
#define MAX_RECORD   (1u << 20)
#define CMDS         64           /* distinct prebuilt records, sent in turn */
#define RX_CAP       (256u << 10) /* per connection; an answer never comes near it */
#define TX_MIN       (256u << 10) /* per connection, at least */
#define CTRL_ROOM    64           /* tx room kept free for a PONG */
#define LATE_NS      1000000ll    /* open loop: a send this late is counted */
#define SPIN_NS      20000ll      /* open loop: this close to a due time, poll, don't sleep */
#define SCAN_NS      100000000ll  /* how often in-flight commands are checked for timeouts */
#define ISSUE_BURST  1024         /* open loop: most commands issued per loop turn */
#define EVENTS       256
#define SETUP_NS     (10ll * 1000000000) /* connect and handshake, per connection */

enum target { TARGET_REDIS, TARGET_NATS };

static struct {
	const char *target_name;
	const char *unix_path;
	const char *host;
	unsigned port;
	unsigned clients;
	unsigned pipeline;
	double rate;
	unsigned size;
	double seconds;
	double warmup;
	bool quick;
	const char *stream;
	uint64_t maxlen;
	uint64_t max_bytes;
	bool no_create;
	unsigned timeout_ms;
	unsigned server_pid;
	const char *label;
	const char *peer;
	const char *durability;
	const char *json;
	enum target target;
} o = {
        .target_name = "redis",
        .host = "127.0.0.1",
        .clients = 16,
        .size = 100,
        .seconds = 5,
        .warmup = 1,
        .stream = "bench",
        .max_bytes = 1ull << 30,
        .timeout_ms = 5000,
};

/* One command in flight: when it started (send or scheduled time) and when
 * it went out (for the timeout). NATS reuses slots by a free list and tells
 * a late answer for an earlier user of the slot by the generation. */
struct slot {
	int64_t t0;
	int64_t sent;
	uint32_t gen;
	bool in_window;
	bool busy;
};

struct conn {
	int fd;
	unsigned id;
	bool dead;
	bool want_out; /* EPOLLOUT armed: the kernel buffer was full */
	bool got_info; /* NATS: the server's INFO line */
	unsigned pongs;
	char *rx;
	size_t rx_len;
	char *tx;
	size_t tx_len, tx_off, tx_cap;
	struct slot *slots;
	unsigned head, count; /* redis: FIFO of slots from head; both: in flight */
	uint32_t *free_idx;   /* nats: free slot indices */
	unsigned nfree;
};

static struct {
	struct conn *conns;
	int ep;
	bool pwait2;  /* epoll_pwait2 works (ns timeouts) */
	unsigned cap; /* in flight per connection */
	char *cmd[CMDS];
	size_t cmd_len[CMDS];
	size_t cmd_max; /* the longest command on the wire */
	uint64_t next_cmd;
	unsigned inflight, alive;
	int64_t win_start, win_end;
	char subject[96];
	char cpu[256], kernel[256], loadavg[2][128];
	char address[160];
	char server_version[64];
	bool jetstream; /* NATS INFO said so */
	bool setup_got;
	char setup_answer[4096];
	char last_error[512];
} g = {.ep = -1};

/* Whole-run counts, warm-up and drain included, unless the name says. */
static struct {
	uint64_t sent;
	uint64_t ok;
	uint64_t ok_in_window;
	uint64_t err_replies;   /* -ERR, a PubAck with "error", a failure status */
	uint64_t lost;          /* in flight on a connection that failed */
	uint64_t timed_out;     /* no answer within --timeout-ms */
	uint64_t unanswered;    /* in flight when the drain ended */
	uint64_t unsent;        /* open loop: due in the window, never sent */
	uint64_t stale;         /* NATS: an answer for no command in flight */
	uint64_t server_errors; /* NATS -ERR lines */
	uint64_t disconnects;
	uint64_t late_sends;
	int64_t max_lag;
} ct;

static struct {
	double window_s, client_cores, server_cores;
	double records_per_s, mb_per_s;
	double p50, p90, p99, p999, max, min, mean;
	bool interrupted;
} res;

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

static void error_set(const char *what, const char *text, size_t len)
{
	snprintf(g.last_error, sizeof(g.last_error), "%s%.*s", what, (int)(len > 400 ? 400 : len),
	         text);
}

/* Digits [s, e) as an unsigned number; false if empty, not digits or too big. */
static bool parse_u64(const char *s, const char *e, uint64_t *ret)
{
	uint64_t v = 0;

	if (s >= e || e - s > 19)
		return false;
	for (; s < e; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return true;
}

/* ---- commands ---- */

static int commands_make(void)
{
	uint64_t seed = (uint64_t)mono_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	static const char alnum[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	char maxlen[32];
	size_t head;

	snprintf(maxlen, sizeof(maxlen), "%" PRIu64, o.maxlen);
	/* NATS: "PUB <subject> _INBOX.<conn>.<token> <len>\r\n" comes per send;
	 * the prebuilt part is the payload and its CRLF. */
	head = o.target == TARGET_REDIS ? 96 + strlen(o.stream) + strlen(maxlen)
	                                : 64 + strlen(g.subject);
	for (unsigned k = 0; k < CMDS; k++) {
		char *c = malloc(head + o.size + 2);
		size_t n = 0;

		if (!c)
			return -ENOMEM;
		if (o.target == TARGET_REDIS) {
			if (o.maxlen)
				n = (size_t)sprintf(
				        c,
				        "*8\r\n$4\r\nXADD\r\n$%zu\r\n%s\r\n$6\r\nMAXLEN\r\n"
				        "$1\r\n~\r\n$%zu\r\n%s\r\n",
				        strlen(o.stream), o.stream, strlen(maxlen), maxlen);
			else
				n = (size_t)sprintf(c, "*5\r\n$4\r\nXADD\r\n$%zu\r\n%s\r\n",
				                    strlen(o.stream), o.stream);
			n += (size_t)sprintf(c + n, "$1\r\n*\r\n$1\r\nd\r\n$%u\r\n", o.size);
		}
		for (unsigned i = 0; i < o.size; i++)
			c[n++] = alnum[xorshift(&seed) % (sizeof(alnum) - 1)];
		c[n++] = '\r';
		c[n++] = '\n';
		g.cmd[k] = c;
		g.cmd_len[k] = n;
	}
	g.cmd_max = o.target == TARGET_REDIS ? g.cmd_len[0] : head + o.size + 2;
	return 0;
}

/* ---- connections ---- */

static void conn_arm(struct conn *c, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};

	if (c->want_out != out && epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->want_out = out;
}

/*
 * Ends a connection: what it had in flight is lost (entering the histogram
 * at its age if it started in the window). `timeout` says why it is
 * counted: no answer in time rather than a failed connection.
 */
static void conn_fail(struct conn *c, const char *why, bool timeout)
{
	int64_t now = mono_ns();

	if (c->dead)
		return;
	for (unsigned i = 0; i < g.cap; i++) {
		struct slot *s = &c->slots[i];

		if (!s->busy)
			continue;
		if (s->in_window)
			sl_hist_add_ns(&hist, now - s->t0);
		s->busy = false;
	}
	timeout ? (ct.timed_out += c->count) : (ct.lost += c->count);
	g.inflight -= c->count;
	c->count = 0;
	close(c->fd);
	c->fd = -1;
	c->dead = true;
	g.alive--;
	ct.disconnects++;
	snprintf(g.last_error, sizeof(g.last_error), "connection %u: %s", c->id, why);
}

/* Writes what the connection has queued; arms EPOLLOUT if the kernel's
 * buffer is full. */
static void conn_flush(struct conn *c)
{
	while (!c->dead && c->tx_off < c->tx_len) {
		ssize_t w = write(c->fd, c->tx + c->tx_off, c->tx_len - c->tx_off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			conn_fail(c, w < 0 ? strerror(errno) : "write returned 0", false);
			return;
		}
		c->tx_off += (size_t)w;
	}
	if (c->dead)
		return;
	if (c->tx_off == c->tx_len) {
		c->tx_off = c->tx_len = 0;
	} else if (c->tx_off) {
		memmove(c->tx, c->tx + c->tx_off, c->tx_len - c->tx_off);
		c->tx_len -= c->tx_off;
		c->tx_off = 0;
	}
	if (g.ep >= 0)
		conn_arm(c, c->tx_len > 0);
}

static void conn_append(struct conn *c, const char *p, size_t n)
{
	if (c->tx_cap - c->tx_len < n) {
		conn_fail(c, "send buffer overflow (bug)", false);
		return;
	}
	memcpy(c->tx + c->tx_len, p, n);
	c->tx_len += n;
}

static int conn_connect(struct conn *c)
{
	int fd, one = 1;

	if (o.unix_path) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", o.unix_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			goto fail;
	} else {
		struct sockaddr_in sa = {.sin_family = AF_INET,
		                         .sin_port = htons((uint16_t)o.port)};
		struct pollfd p;
		socklen_t len = sizeof(int);
		int err = 0;

		if (inet_pton(AF_INET, o.host, &sa.sin_addr) != 1)
			return -EINVAL;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -errno;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			if (errno != EINPROGRESS)
				goto fail;
			p = (struct pollfd){.fd = fd, .events = POLLOUT};
			if (poll(&p, 1, 5000) != 1) {
				errno = ETIMEDOUT;
				goto fail;
			}
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
				errno = err ? err : EIO;
				goto fail;
			}
		}
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		goto fail;
	c->fd = fd;
	return 0;
fail:
	one = -errno;
	close(fd);
	return one;
}

/* ---- answers ---- */

/* An answer for slot s arrived at now. */
static void slot_done(struct slot *s, int64_t now, bool ok)
{
	if (s->in_window)
		sl_hist_add_ns(&hist, now - s->t0);
	s->busy = false;
	g.inflight--;
	if (ok) {
		ct.ok++;
		if (now >= g.win_start && now < g.win_end)
			ct.ok_in_window++;
	} else {
		ct.err_replies++;
	}
}

/*
 * RESP answers, in order: $<n>\r\n<n bytes>\r\n (the entry ID: OK; $-1 is a
 * nil: not OK), +simple or :integer (OK), -error (a failure). Anything else
 * is a protocol error. Returns -EPROTO on one, else 0.
 */
static int redis_parse(struct conn *c, int64_t now)
{
	size_t off = 0;

	while (off < c->rx_len) {
		char *p = c->rx + off, *end = c->rx + c->rx_len, *nl;
		size_t need;
		bool ok;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		if (nl == p || nl[-1] != '\r')
			return -EPROTO;
		need = (size_t)(nl + 1 - p);
		switch (*p) {
		case '$':
			if (nl - p == 4 && memcmp(p, "$-1", 3) == 0) {
				ok = false;
				error_set("redis: nil answer", "", 0);
			} else {
				uint64_t n;

				if (!parse_u64(p + 1, nl - 1, &n) || n > RX_CAP)
					return -EPROTO;
				need += n + 2;
				ok = true;
			}
			break;
		case '+':
		case ':':
			ok = true;
			break;
		case '-':
			ok = false;
			error_set("redis: ", p, (size_t)(nl - 1 - p));
			break;
		default:
			return -EPROTO;
		}
		if (need > (size_t)(end - p))
			break; /* the bulk string is not all here yet */
		if (c->count == 0)
			return -EPROTO; /* an answer to nothing */
		slot_done(&c->slots[c->head], now, ok);
		c->head = (c->head + 1) % g.cap;
		c->count--;
		off += need;
	}
	if (off) {
		memmove(c->rx, c->rx + off, c->rx_len - off);
		c->rx_len -= off;
	}
	return 0;
}

/* A NATS message for us: subject _INBOX.<conn>.<token>, hlen header bytes
 * then the payload. Token "s" is the set-up request's answer. */
static void nats_msg(struct conn *c, const char *subj, size_t slen, const char *data, size_t hlen,
                     size_t total, int64_t now)
{
	const char *tok = memrchr(subj, '.', slen), *body = data + hlen;
	size_t blen = total - hlen;
	uint64_t token;
	bool ok;

	if (!tok) {
		ct.stale++;
		return;
	}
	tok++;
	if (subj + slen - tok == 1 && *tok == 's') {
		size_t n = total < sizeof(g.setup_answer) - 1 ? total : sizeof(g.setup_answer) - 1;

		memcpy(g.setup_answer, data, n);
		g.setup_answer[n] = '\0';
		g.setup_got = true;
		return;
	}
	if (!parse_u64(tok, subj + slen, &token) || (token & 0xffff) >= g.cap ||
	    !c->slots[token & 0xffff].busy || c->slots[token & 0xffff].gen != (token >> 16)) {
		ct.stale++;
		return;
	}
	/* "NATS/1.0 503\r\n..." is a status (no responders, timeout): no PubAck. */
	if (hlen >= 12 && memcmp(data, "NATS/1.0 ", 9) == 0 && data[9] >= '1' && data[9] <= '9') {
		ok = false;
		error_set("nats: status ", data + 9, 3);
	} else if (memmem(body, blen, "\"error\"", 7)) {
		ok = false;
		error_set("nats: ", body, blen);
	} else {
		ok = memmem(body, blen, "\"seq\"", 5) != NULL;
		if (!ok)
			error_set("nats: not a PubAck: ", body, blen);
	}
	c->free_idx[c->nfree++] = (uint32_t)(token & 0xffff);
	c->count--;
	slot_done(&c->slots[token & 0xffff], now, ok);
}

/* INFO {...}: the server's version and whether JetStream is on. */
static void nats_info(const char *p, size_t n)
{
	const char *v = memmem(p, n, "\"version\":\"", 11);

	if (v && !g.server_version[0]) {
		size_t len = strcspn(v + 11, "\"");

		snprintf(g.server_version, sizeof(g.server_version), "%.*s",
		         (int)(len < 60 ? len : 60), v + 11);
	}
	if (memmem(p, n, "\"jetstream\":true", 16))
		g.jetstream = true;
}

/*
 * NATS server lines: MSG/HMSG with their payload, PING (answered), PONG,
 * +OK, -ERR (counted; the server closes the connection if it is fatal),
 * INFO. Returns -EPROTO on anything else.
 */
static int nats_parse(struct conn *c, int64_t now)
{
	size_t off = 0;

	while (off < c->rx_len && !c->dead) {
		char *p = c->rx + off, *end = c->rx + c->rx_len, *nl;
		size_t line;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		if (nl == p || nl[-1] != '\r')
			return -EPROTO;
		line = (size_t)(nl + 1 - p);
		if (memcmp(p, "MSG ", 4) == 0 || memcmp(p, "HMSG ", 5) == 0) {
			bool hdr = *p == 'H';
			const char *tok[7], *tend[7], *q = p, *e = nl - 1;
			unsigned n = 0;
			uint64_t hlen = 0, total;

			while (q < e && n < 7) {
				tok[n] = q;
				while (q < e && *q != ' ')
					q++;
				tend[n++] = q;
				while (q < e && *q == ' ')
					q++;
			}
			if (q != e || n < (hdr ? 5u : 4u) || n > (hdr ? 6u : 5u) ||
			    !parse_u64(tok[n - 1], tend[n - 1], &total) || total > RX_CAP ||
			    (hdr && (!parse_u64(tok[n - 2], tend[n - 2], &hlen) || hlen > total)))
				return -EPROTO;
			if (line + total + 2 > (size_t)(end - p))
				break; /* the payload is not all here yet */
			nats_msg(c, tok[1], (size_t)(tend[1] - tok[1]), p + line, hlen, total, now);
			off += line + total + 2;
			continue;
		}
		if (line == 6 && memcmp(p, "PING", 4) == 0) {
			conn_append(c, "PONG\r\n", 6);
		} else if (line == 6 && memcmp(p, "PONG", 4) == 0) {
			c->pongs++;
		} else if (memcmp(p, "+OK", 3) == 0) {
		} else if (memcmp(p, "-ERR", 4) == 0) {
			ct.server_errors++;
			error_set("nats: ", p, line - 2);
		} else if (memcmp(p, "INFO ", 5) == 0) {
			nats_info(p, line);
			c->got_info = true;
		} else {
			return -EPROTO;
		}
		off += line;
	}
	if (off) {
		memmove(c->rx, c->rx + off, c->rx_len - off);
		c->rx_len -= off;
	}
	return 0;
}

/* Reads what the socket has (a few buffers at most per call) and handles
 * the answers. */
static void conn_read(struct conn *c)
{
	for (int i = 0; i < 4 && !c->dead; i++) {
		size_t room = RX_CAP - c->rx_len;
		ssize_t r;
		int rc;

		if (room == 0) {
			conn_fail(c, "an answer larger than the receive buffer", false);
			return;
		}
		r = read(c->fd, c->rx + c->rx_len, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			break;
		if (r <= 0) {
			conn_fail(c, r < 0 ? strerror(errno) : "closed by the server", false);
			return;
		}
		c->rx_len += (size_t)r;
		rc = o.target == TARGET_REDIS ? redis_parse(c, mono_ns())
		                              : nats_parse(c, mono_ns());
		if (rc < 0) {
			conn_fail(c, "protocol error in the server's answer", false);
			return;
		}
		if ((size_t)r < room)
			break;
	}
	if (!c->dead && c->tx_len)
		conn_flush(c); /* a PONG */
}

/* ---- set-up (blocking, bounded) ---- */

/* Waits for input until deadline and handles it. */
static int conn_pump(struct conn *c, int64_t deadline)
{
	int64_t left = deadline - mono_ns();
	struct pollfd p = {.fd = c->fd, .events = POLLIN | (c->tx_len ? POLLOUT : 0)};

	if (left <= 0 || stop)
		return -ETIMEDOUT;
	if (poll(&p, 1, (int)(left / 1000000) + 1) < 0 && errno != EINTR)
		return -errno;
	if (p.revents & POLLOUT)
		conn_flush(c);
	if (p.revents & (POLLIN | POLLHUP | POLLERR))
		conn_read(c);
	return c->dead ? -ECONNRESET : 0;
}

/* INFO, then CONNECT + SUB + PING, and the PONG that says both were taken. */
static int nats_hello(struct conn *c, int64_t deadline)
{
	char buf[512];
	int n, rc;

	while (!c->got_info)
		if ((rc = conn_pump(c, deadline)) < 0)
			return rc;
	n = snprintf(buf, sizeof(buf),
	             "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,"
	             "\"name\":\"peer_load-%u\",\"lang\":\"c\",\"version\":\"1\",\"protocol\":1,"
	             "\"headers\":true,\"no_responders\":true}\r\nSUB _INBOX.%u.* 1\r\nPING\r\n",
	             c->id, c->id);
	conn_append(c, buf, (size_t)n);
	conn_flush(c);
	while (c->pongs == 0) {
		if (ct.server_errors)
			return -EPROTO;
		if ((rc = conn_pump(c, deadline)) < 0)
			return rc;
	}
	return ct.server_errors ? -EPROTO : 0;
}

/* Creates the JetStream stream (an existing one is fine). */
static int nats_stream_create(struct conn *c, int64_t deadline)
{
	char body[768], head[256];
	int n, h, rc;

	n = snprintf(body, sizeof(body),
	             "{\"name\":\"%s\",\"subjects\":[\"%s\"],\"retention\":\"limits\","
	             "\"storage\":\"file\",\"max_bytes\":%" PRIu64 ",\"max_msgs\":-1,"
	             "\"max_age\":0,\"max_msg_size\":-1,\"discard\":\"old\",\"num_replicas\":1}",
	             o.stream, g.subject, o.max_bytes);
	h = snprintf(head, sizeof(head), "PUB $JS.API.STREAM.CREATE.%s _INBOX.%u.s %d\r\n",
	             o.stream, c->id, n);
	conn_append(c, head, (size_t)h);
	conn_append(c, body, (size_t)n);
	conn_append(c, "\r\n", 2);
	conn_flush(c);
	g.setup_got = false;
	while (!g.setup_got)
		if ((rc = conn_pump(c, deadline)) < 0)
			return rc;
	if (strncmp(g.setup_answer, "NATS/1.0 503", 12) == 0) {
		fprintf(stderr,
		        "peer_load: no JetStream answered $JS.API.STREAM.CREATE.%s (is jetstream "
		        "enabled?)\n",
		        o.stream);
		return -ENOENT;
	}
	if (strstr(g.setup_answer, "\"error\"") && !strstr(g.setup_answer, "already in use")) {
		fprintf(stderr, "peer_load: stream create: %s\n", g.setup_answer);
		return -EIO;
	}
	return 0;
}

static int conns_open(void)
{
	g.conns = calloc(o.clients, sizeof(*g.conns));
	if (!g.conns)
		return -ENOMEM;
	for (unsigned i = 0; i < o.clients; i++) {
		struct conn *c = &g.conns[i];
		int rc;

		c->fd = -1;
		c->id = i;
		c->dead = true; /* until it is open */
		c->tx_cap = g.cmd_max * 4 + CTRL_ROOM > TX_MIN ? g.cmd_max * 4 + CTRL_ROOM : TX_MIN;
		c->rx = malloc(RX_CAP);
		c->tx = malloc(c->tx_cap);
		c->slots = calloc(g.cap, sizeof(*c->slots));
		c->free_idx = calloc(g.cap, sizeof(*c->free_idx));
		if (!c->rx || !c->tx || !c->slots || !c->free_idx)
			return -ENOMEM;
		for (unsigned k = 0; k < g.cap; k++)
			c->free_idx[k] = g.cap - 1 - k;
		c->nfree = g.cap;
		rc = conn_connect(c);
		if (rc < 0) {
			fprintf(stderr, "peer_load: connection %u to %s: %s\n", i, g.address,
			        strerror(-rc));
			return rc;
		}
		c->dead = false;
		g.alive++;
		if (o.target == TARGET_NATS) {
			int64_t deadline = mono_ns() + SETUP_NS;

			rc = nats_hello(c, deadline);
			if (rc == 0 && i == 0 && !o.no_create)
				rc = nats_stream_create(c, deadline);
			if (rc < 0) {
				fprintf(stderr, "peer_load: NATS set-up on connection %u: %s%s%s\n",
				        i, strerror(-rc), g.last_error[0] ? ": " : "",
				        g.last_error);
				return rc;
			}
		}
	}
	return 0;
}

static int epoll_open(void)
{
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	if (g.ep < 0)
		return -errno;
	for (unsigned i = 0; i < o.clients; i++) {
		struct conn *c = &g.conns[i];
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

		if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			return -errno;
	}
	return 0;
}

static void conns_close(void)
{
	for (unsigned i = 0; g.conns && i < o.clients; i++) {
		struct conn *c = &g.conns[i];

		if (c->fd >= 0)
			close(c->fd);
		free(c->rx);
		free(c->tx);
		free(c->slots);
		free(c->free_idx);
	}
	free(g.conns);
	g.conns = NULL;
	if (g.ep >= 0)
		close(g.ep);
	g.ep = -1;
	for (unsigned k = 0; k < CMDS; k++)
		free(g.cmd[k]);
}

/* ---- the loop ---- */

static bool conn_has_room(const struct conn *c)
{
	return !c->dead && c->count < g.cap && c->tx_cap - c->tx_len >= g.cmd_max + CTRL_ROOM;
}

/* Queues one command on c, started at t0 (send or scheduled time). */
static void issue(struct conn *c, int64_t t0, int64_t now)
{
	unsigned k = (unsigned)(g.next_cmd++ % CMDS);
	struct slot *s;

	if (o.target == TARGET_REDIS) {
		s = &c->slots[(c->head + c->count) % g.cap];
	} else {
		uint32_t idx = c->free_idx[--c->nfree];
		char head[160];
		int n;

		s = &c->slots[idx];
		s->gen++;
		n = snprintf(head, sizeof(head), "PUB %s _INBOX.%u.%" PRIu64 " %u\r\n", g.subject,
		             c->id, (uint64_t)s->gen << 16 | idx, o.size);
		conn_append(c, head, (size_t)n);
	}
	conn_append(c, g.cmd[k], g.cmd_len[k]);
	s->t0 = t0;
	s->sent = now;
	s->in_window = t0 >= g.win_start && t0 < g.win_end;
	s->busy = true;
	c->count++;
	g.inflight++;
	ct.sent++;
}

/* The next connection with room after the last one used, or NULL. */
static struct conn *conn_pick(unsigned *rr)
{
	for (unsigned n = 0; n < o.clients; n++) {
		struct conn *c = &g.conns[(*rr + n) % o.clients];

		if (conn_has_room(c)) {
			*rr = (*rr + n + 1) % o.clients;
			return c;
		}
	}
	return NULL;
}

/* Commands without an answer after --timeout-ms: a NATS slot is freed and
 * counted; a Redis connection is closed (its answers come in order, so
 * nothing behind the stuck one can arrive). */
static void timeout_scan(int64_t now)
{
	int64_t limit = (int64_t)o.timeout_ms * 1000000;

	for (unsigned i = 0; i < o.clients; i++) {
		struct conn *c = &g.conns[i];

		if (c->dead || c->count == 0)
			continue;
		if (o.target == TARGET_REDIS) {
			if (now - c->slots[c->head].sent > limit)
				conn_fail(c, "no answer within --timeout-ms", true);
			continue;
		}
		for (unsigned k = 0; k < g.cap; k++) {
			struct slot *s = &c->slots[k];

			if (!s->busy || now - s->sent <= limit)
				continue;
			if (s->in_window)
				sl_hist_add_ns(&hist, now - s->t0);
			s->busy = false;
			c->free_idx[c->nfree++] = k;
			c->count--;
			g.inflight--;
			ct.timed_out++;
		}
	}
}

static int wait_events(struct epoll_event *ev, int64_t ns)
{
	int n;

	if (ns < 0)
		ns = 0;
	if (g.pwait2) {
		struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};

		n = epoll_pwait2(g.ep, ev, EVENTS, &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n < 0 ? 0 : n;
		g.pwait2 = false;
	}
	n = epoll_wait(g.ep, ev, EVENTS, (int)((ns + 999999) / 1000000));
	return n < 0 ? 0 : n;
}

/* CPU seconds (user + system) of a process from /proc/PID/stat, or -1. */
static double proc_cpu_s(unsigned pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, stt;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')))
		return -1;
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

/*
 * Warm-up, window, drain. Per turn: issue what the mode allows (closed:
 * refill every connection to --pipeline; open: every command due by now,
 * up to ISSUE_BURST), write, check timeouts, then wait for answers until
 * the next due time (open loop) or 10 ms.
 */
static void run(void)
{
	struct epoll_event ev[EVENTS];
	int64_t start = mono_ns(), drain_end = 0, hard, next_scan;
	double interval = o.rate > 0 ? 1e9 / o.rate : 0, cpu0 = 0, srv0 = 0;
	uint64_t k = 0; /* open loop: the next command's index */
	unsigned rr = 0;
	bool counting = false, closed = false, draining = false;

	g.win_start = start + (int64_t)(o.warmup * 1e9);
	g.win_end = g.win_start + (int64_t)(o.seconds * 1e9);
	hard = g.win_end + 2 * (int64_t)o.timeout_ms * 1000000 + 2000000000;
	next_scan = start + SCAN_NS;
	for (;;) {
		int64_t now = mono_ns(), wait = 10000000;
		bool sending;
		int n;

		if (!counting && now >= g.win_start) {
			counting = true;
			cpu0 = self_cpu_s();
			srv0 = o.server_pid ? proc_cpu_s(o.server_pid) : 0;
		}
		if (!closed && (now >= g.win_end || stop || g.alive == 0)) {
			closed = true;
			if (now < g.win_end)
				g.win_end = now > g.win_start ? now : g.win_start;
			res.window_s = (double)(g.win_end - g.win_start) / 1e9;
			if (counting && res.window_s > 0) {
				res.client_cores = (self_cpu_s() - cpu0) / res.window_s;
				if (o.server_pid)
					res.server_cores =
					        (proc_cpu_s(o.server_pid) - srv0) / res.window_s;
			}
		}
		/* The open loop still sends, late, what was due inside the
		 * window (for --timeout-ms at most); the closed loop stops. */
		sending = !stop && g.alive > 0 &&
		          (now < g.win_end ||
		           (interval > 0 && start + (int64_t)((double)k * interval) < g.win_end &&
		            now < g.win_end + (int64_t)o.timeout_ms * 1000000));
		if (!sending && !draining) {
			draining = true;
			/* Open loop: what was due in the window but never went out. */
			for (; interval > 0; k++) {
				int64_t due = start + (int64_t)((double)k * interval);

				if (due >= g.win_end)
					break;
				if (due >= g.win_start)
					sl_hist_add_ns(&hist, now - due);
				ct.unsent++;
			}
			drain_end = now + (int64_t)o.timeout_ms * 1000000;
		}
		if (now >= hard ||
		    (draining && (g.inflight == 0 || g.alive == 0 || now >= drain_end)))
			break;
		if (sending && interval == 0) {
			for (unsigned i = 0; i < o.clients; i++)
				while (conn_has_room(&g.conns[i]))
					issue(&g.conns[i], now, now);
		} else if (sending) {
			int64_t due = 0;
			unsigned i;

			for (i = 0; i < ISSUE_BURST; i++) {
				struct conn *c;

				due = start + (int64_t)((double)k * interval);
				if (due > now || due >= g.win_end || !(c = conn_pick(&rr)))
					break;
				issue(c, due, now);
				if (now - due > LATE_NS)
					ct.late_sends++;
				if (now - due > ct.max_lag)
					ct.max_lag = now - due;
				k++;
			}
			/* Sleep until the next due time, or (all full, or behind)
			 * until answers come, 1 ms at most. */
			wait = due > now ? due - now : 1000000;
			if (i == ISSUE_BURST)
				wait = 0;
			if (wait <= SPIN_NS)
				wait = 0;
		}
		for (unsigned i = 0; i < o.clients; i++)
			if (g.conns[i].tx_len && !g.conns[i].want_out)
				conn_flush(&g.conns[i]);
		if (now >= next_scan) {
			timeout_scan(now);
			next_scan = now + SCAN_NS;
		}
		if (sending && now < g.win_end && g.win_end - now < wait)
			wait = g.win_end - now;
		n = wait_events(ev, wait);
		for (int i = 0; i < n; i++) {
			struct conn *c = ev[i].data.ptr;

			if (c->dead)
				continue;
			if (ev[i].events & EPOLLOUT)
				conn_flush(c);
			if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				conn_read(c);
		}
	}
	/* What is still in flight was not answered in time. */
	{
		int64_t now = mono_ns();

		for (unsigned i = 0; i < o.clients; i++) {
			struct conn *c = &g.conns[i];

			for (unsigned s = 0; !c->dead && s < g.cap; s++) {
				if (!c->slots[s].busy)
					continue;
				if (c->slots[s].in_window)
					sl_hist_add_ns(&hist, now - c->slots[s].t0);
				c->slots[s].busy = false;
				ct.unanswered++;
			}
		}
	}
	res.interrupted = stop;
}

/* ---- report ---- */

static const char *loop_name(void)
{
	return o.rate > 0 ? "open" : "closed";
}

static void result_compute(void)
{
	double w = res.window_s > 0 ? res.window_s : 1e-9;

	res.records_per_s = (double)ct.ok_in_window / w;
	res.mb_per_s = res.records_per_s * o.size / 1e6;
	res.p50 = (double)sl_hist_percentile(&hist, 50);
	res.p90 = (double)sl_hist_percentile(&hist, 90);
	res.p99 = (double)sl_hist_percentile(&hist, 99);
	res.p999 = (double)sl_hist_percentile(&hist, 99.9);
	res.max = hist.count ? (double)hist.max : 0;
	res.min = hist.count ? (double)hist.min : 0;
	res.mean = sl_hist_mean(&hist);
}

static uint64_t failed(void)
{
	return ct.err_replies + ct.lost + ct.timed_out + ct.unanswered;
}

static void setup_print(void)
{
	printf("peer_load%s%s: %s %s, ", o.label ? " " : "", o.label ? o.label : "", o.target_name,
	       g.address);
	if (o.target == TARGET_REDIS) {
		printf("XADD %s ", o.stream);
		if (o.maxlen)
			printf("MAXLEN ~ %" PRIu64 " ", o.maxlen);
		printf("* d <%u B>", o.size);
	} else {
		printf("JetStream %s (file, discard old at %" PRIu64 " B), PUB %s <%u B> + PubAck",
		       o.stream, o.max_bytes, g.subject, o.size);
	}
	if (o.rate > 0)
		printf(", open loop at %.0f records/s over %u connections (<= %u in flight each)\n",
		       o.rate, o.clients, g.cap);
	else
		printf(", closed loop, %u connections x %u pipelined\n", o.clients, g.cap);
	printf("  machine:    %s, %ld CPUs, %s; load avg %s\n", g.cpu,
	       sysconf(_SC_NPROCESSORS_ONLN), g.kernel, g.loadavg[0]);
	if (g.server_version[0] || o.durability)
		printf("  server:     %s%s%s\n", g.server_version[0] ? g.server_version : "",
		       g.server_version[0] && o.durability ? "; " : "",
		       o.durability ? o.durability : "");
	printf("  window:     %.1f s after %.1f s warm-up; latency from the %s\n", o.seconds,
	       o.warmup, o.rate > 0 ? "scheduled send time" : "send");
	fflush(stdout);
}

static void result_print(void)
{
	printf("  result:     %.0f records/s, %.2f MB/s of record data over %.2f s%s\n",
	       res.records_per_s, res.mb_per_s, res.window_s,
	       res.interrupted ? " (interrupted)" : "");
	printf("  latency:    per record, us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  "
	       "(n=%" PRIu64 ")\n",
	       res.p50 / 1e3, res.p90 / 1e3, res.p99 / 1e3, res.p999 / 1e3, res.max / 1e3,
	       hist.count);
	if (o.rate > 0)
		printf("  open loop:  offered %.0f/s, achieved/offered %.3f; %" PRIu64
		       " sends more than 1 ms late, worst %.3f ms; %" PRIu64
		       " due but never sent\n",
		       o.rate, res.records_per_s / o.rate, ct.late_sends, (double)ct.max_lag / 1e6,
		       ct.unsent);
	printf("  errors:     %" PRIu64 " of %" PRIu64 " failed: %" PRIu64
	       " error answers, %" PRIu64 " lost with a connection (%" PRIu64 " closed), %" PRIu64
	       " timed out, %" PRIu64 " unanswered at the end",
	       failed(), ct.sent, ct.err_replies, ct.lost, ct.disconnects, ct.timed_out,
	       ct.unanswered);
	if (o.target == TARGET_NATS)
		printf(", %" PRIu64 " stale answers, %" PRIu64 " -ERR", ct.stale, ct.server_errors);
	printf("\n");
	if (g.last_error[0])
		printf("  last error: %s\n", g.last_error);
	printf("  cpu:        client %.2f cores", res.client_cores);
	if (o.server_pid)
		printf(", server %.2f cores (pid %u)", res.server_cores, o.server_pid);
	printf("; load avg at the end %s\n", g.loadavg[1]);
	fflush(stdout);
}

static void json_str_or_null(FILE *f, const char *s)
{
	if (s)
		sl_machine_json_str(f, s);
	else
		fputs("null", f);
}

static int json_write(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	fprintf(f, "{\n  \"benchmark\": \"peer_load\",\n  \"label\": ");
	sl_machine_json_str(f, o.label ? o.label : "");
	fprintf(f, ",\n  \"setup\": {\"cpu\": ");
	sl_machine_json_str(f, g.cpu);
	fprintf(f, ", \"cpus\": %ld, \"kernel\": ", sysconf(_SC_NPROCESSORS_ONLN));
	sl_machine_json_str(f, g.kernel);
	fprintf(f, ", \"target\": \"%s\", \"transport\": \"%s\", \"address\": ", o.target_name,
	        o.unix_path ? "unix" : "tcp");
	sl_machine_json_str(f, g.address);
	fprintf(f, ", \"server_version\": ");
	json_str_or_null(f, g.server_version[0] ? g.server_version : NULL);
	fprintf(f, ", \"peer\": ");
	json_str_or_null(f, o.peer);
	fprintf(f, ", \"durability\": ");
	json_str_or_null(f, o.durability);
	fprintf(f, ", \"stream\": ");
	sl_machine_json_str(f, o.stream);
	if (o.target == TARGET_REDIS)
		fprintf(f, ", \"command\": \"XADD\", \"maxlen\": %" PRIu64, o.maxlen);
	else
		fprintf(f, ", \"subject\": \"%s\", \"storage\": \"file\", \"max_bytes\": %" PRIu64,
		        g.subject, o.max_bytes);
	fprintf(f,
	        ", \"ack\": \"%s\", \"record_bytes\": %u, \"shards\": 1, \"clients\": %u, "
	        "\"pipeline\": %u, \"loop\": \"%s\", \"offered_rps\": ",
	        o.target == TARGET_REDIS ? "XADD reply" : "JetStream PubAck", o.size, o.clients,
	        g.cap, loop_name());
	if (o.rate > 0)
		fprintf(f, "%.0f", o.rate);
	else
		fprintf(f, "null");
	fprintf(f,
	        ", \"warmup_s\": %.3f, \"seconds\": %.3f, \"timeout_ms\": %u, \"loadavg_start\": ",
	        o.warmup, o.seconds, o.timeout_ms);
	sl_machine_json_str(f, g.loadavg[0]);
	fprintf(f, ", \"loadavg_end\": ");
	sl_machine_json_str(f, g.loadavg[1]);
	fprintf(f, "},\n  \"runs\": [{\"label\": ");
	sl_machine_json_str(f, o.label ? o.label : "");
	fprintf(f, ", \"peer\": ");
	json_str_or_null(f, o.peer);
	fprintf(f, ", \"durability\": ");
	json_str_or_null(f, o.durability);
	fprintf(f, ", \"target\": \"%s\", \"loop\": \"%s\", \"offered_rps\": ", o.target_name,
	        loop_name());
	if (o.rate > 0)
		fprintf(f, "%.0f", o.rate);
	else
		fprintf(f, "null");
	fprintf(f,
	        ", \"records_per_s\": %.1f, \"mb_per_s\": %.4f, \"p50_us\": %.1f, \"p90_us\": "
	        "%.1f, "
	        "\"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f, \"min_us\": %.1f, "
	        "\"mean_us\": %.1f, \"latency_count\": %" PRIu64 ",\n    \"record_bytes\": %u, "
	        "\"clients\": %u, \"pipeline\": %u, \"window_s\": %.4f, \"interrupted\": %s, "
	        "\"records_ok\": %" PRIu64 ", \"achieved_over_offered\": ",
	        res.records_per_s, res.mb_per_s, res.p50 / 1e3, res.p90 / 1e3, res.p99 / 1e3,
	        res.p999 / 1e3, res.max / 1e3, res.min / 1e3, res.mean / 1e3, hist.count, o.size,
	        o.clients, g.cap, res.window_s, res.interrupted ? "true" : "false",
	        ct.ok_in_window);
	if (o.rate > 0)
		fprintf(f, "%.4f", res.records_per_s / o.rate);
	else
		fprintf(f, "null");
	fprintf(f,
	        ", \"late_sends\": %" PRIu64 ", \"max_lag_us\": %.1f, \"unsent\": %" PRIu64
	        ",\n    \"errors\": {\"failed\": %" PRIu64 ", \"sent\": %" PRIu64
	        ", \"error_answers\": %" PRIu64 ", \"lost\": %" PRIu64 ", \"disconnects\": %" PRIu64
	        ", \"timed_out\": %" PRIu64 ", \"unanswered\": %" PRIu64 ", \"stale\": %" PRIu64
	        ", \"server_errors\": %" PRIu64 ", \"last\": ",
	        ct.late_sends, (double)ct.max_lag / 1e3, ct.unsent, failed(), ct.sent,
	        ct.err_replies, ct.lost, ct.disconnects, ct.timed_out, ct.unanswered, ct.stale,
	        ct.server_errors);
	sl_machine_json_str(f, g.last_error);
	fprintf(f, "},\n    \"client_cores\": %.3f, \"server_cores\": ", res.client_cores);
	if (o.server_pid)
		fprintf(f, "%.3f, \"server_pid\": %u", res.server_cores, o.server_pid);
	else
		fprintf(f, "null");
	fprintf(f, "}]\n}\n");
	return fclose(f) == 0 ? 0 : -errno;
}

/* ---- options: one table drives parsing, ranges and --help ---- */

enum opt_kind { OPT_STR, OPT_UINT, OPT_U64, OPT_DBL, OPT_FLAG };

struct opt_def {
	const char *name;
	enum opt_kind kind;
	void *dst;
	double min, max;
	const char *arg;
	const char *help;
};

static const struct opt_def opt_defs[] = {
        {"target", OPT_STR, &o.target_name, 0, 0, "redis|nats", "the protocol (redis)"},
        {"unix", OPT_STR, &o.unix_path, 0, 0, "PATH", "connect to a unix socket (redis)"},
        {"host", OPT_STR, &o.host, 0, 0, "IPV4", "TCP address (127.0.0.1)"},
        {"port", OPT_UINT, &o.port, 1, 65535, "N", "TCP port (6379 redis, 4222 nats)"},
        {"clients", OPT_UINT, &o.clients, 1, MAX_CONNS, "N", "connections (16)"},
        {"pipeline", OPT_UINT, &o.pipeline, 1, MAX_PIPELINE, "P",
         "commands in flight per connection (closed 16; open: the cap, 1024)"},
        {"rate", OPT_DBL, &o.rate, 1, 1e9, "R", "open loop at R records/s in all (closed loop)"},
        {"size", OPT_UINT, &o.size, 1, MAX_RECORD, "B", "record bytes (100)"},
        {"seconds", OPT_DBL, &o.seconds, 0.1, 3600, "S", "measured seconds (5)"},
        {"warmup", OPT_DBL, &o.warmup, 0, 600, "S", "seconds before the window (1)"},
        {"quick", OPT_FLAG, &o.quick, 0, 0, NULL, "a smoke run: 0.5 s warm-up, 2 s window"},
        {"stream", OPT_STR, &o.stream, 0, 0, "NAME", "stream name (bench; nats: subject NAME.in)"},
        {"maxlen", OPT_U64, &o.maxlen, 0, 1e15, "N",
         "redis: XADD MAXLEN ~ N bounds the server's memory (0: unbounded)"},
        {"max-bytes", OPT_U64, &o.max_bytes, 1 << 20, 1e15, "B",
         "nats: the stream's max_bytes, discard old (1 GiB)"},
        {"no-create", OPT_FLAG, &o.no_create, 0, 0, NULL, "nats: the stream exists already"},
        {"timeout-ms", OPT_UINT, &o.timeout_ms, 1, 600000, "MS",
         "a command without an answer this long fails; also the drain (5000)"},
        {"server-pid", OPT_UINT, &o.server_pid, 1, 1 << 30, "PID",
         "also report that process's CPU over the window"},
        {"label", OPT_STR, &o.label, 0, 0, "TEXT", "a name for the run (printed, in the JSON)"},
        {"peer", OPT_STR, &o.peer, 0, 0, "NAME", "the peer's name, for the JSON"},
        {"durability", OPT_STR, &o.durability, 0, 0, "TEXT",
         "what an ack means on this server, for the output and JSON"},
        {"json", OPT_STR, &o.json, 0, 0, "FILE", "write setup and result as JSON"},
};
#define NOPTS (sizeof(opt_defs) / sizeof(opt_defs[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: peer_load [OPTIONS]   Redis XADD / NATS JetStream publish load (see the "
	           "file's comment)\n");
	for (size_t i = 0; i < NOPTS; i++) {
		char left[40];

		snprintf(left, sizeof(left), "--%s%s%s", opt_defs[i].name,
		         opt_defs[i].arg ? " " : "", opt_defs[i].arg ? opt_defs[i].arg : "");
		fprintf(f, "  %-22s %s\n", left, opt_defs[i].help);
	}
}

static int opt_set(const struct opt_def *d, const char *arg)
{
	char *end;
	double v;

	if (d->kind == OPT_FLAG) {
		*(bool *)d->dst = true;
		return 0;
	}
	if (d->kind == OPT_STR) {
		*(const char **)d->dst = arg;
		return 0;
	}
	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= d->min && v <= d->max))
		return -EINVAL;
	if (d->kind == OPT_DBL)
		*(double *)d->dst = v;
	else if (v != (double)(uint64_t)v)
		return -EINVAL;
	else if (d->kind == OPT_UINT)
		*(unsigned *)d->dst = (unsigned)v;
	else
		*(uint64_t *)d->dst = (uint64_t)v;
	return 0;
}

static int parse_opts(int argc, char **argv)
{
	struct option lo[NOPTS + 2];
	int c, idx;

	for (size_t i = 0; i < NOPTS; i++)
		lo[i] = (struct option){opt_defs[i].name,
		                        opt_defs[i].kind == OPT_FLAG ? no_argument
		                                                     : required_argument,
		                        NULL, (int)i};
	lo[NOPTS] = (struct option){"help", no_argument, NULL, 'h'};
	lo[NOPTS + 1] = (struct option){0};
	while ((c = getopt_long(argc, argv, "", lo, &idx)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c < 0 || (size_t)c >= NOPTS) {
			usage(stderr);
			return -EINVAL;
		}
		if (opt_set(&opt_defs[c], optarg) < 0) {
			fprintf(stderr, "peer_load: bad value '%s' for --%s (see --help)\n", optarg,
			        opt_defs[c].name);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return -EINVAL;
	}
	if (strcmp(o.target_name, "redis") == 0) {
		o.target = TARGET_REDIS;
	} else if (strcmp(o.target_name, "nats") == 0) {
		o.target = TARGET_NATS;
	} else {
		fprintf(stderr, "peer_load: --target is redis or nats\n");
		return -EINVAL;
	}
	if (o.target == TARGET_NATS && o.unix_path) {
		fprintf(stderr, "peer_load: NATS has no unix sockets: use --host/--port\n");
		return -EINVAL;
	}
	if (o.unix_path && strlen(o.unix_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		fprintf(stderr, "peer_load: --unix path too long\n");
		return -EINVAL;
	}
	if (!o.stream[0] || strlen(o.stream) > 64 ||
	    strspn(o.stream, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
	            strlen(o.stream)) {
		fprintf(stderr, "peer_load: --stream: 1-64 of A-Z a-z 0-9 _ -\n");
		return -EINVAL;
	}
	if (!o.pipeline)
		o.pipeline = o.rate > 0 ? 1024 : 16;
	if (!o.port)
		o.port = o.target == TARGET_REDIS ? 6379 : 4222;
	if (o.quick) {
		o.warmup = 0.5;
		o.seconds = 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	int ret = 1, rc;

	if (parse_opts(argc, argv) < 0)
		return 2;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A hard bound on the whole run, set-up and drain included. */
	sigaction(SIGALRM, &sa, NULL);
	alarm((unsigned)(o.warmup + o.seconds) + o.timeout_ms / 1000 + 60);
	/* Open-loop sends are due at precise times: no 50 us timer slack. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	g.pwait2 = true;
	g.cap = o.pipeline;
	if (o.unix_path)
		snprintf(g.address, sizeof(g.address), "unix:%s", o.unix_path);
	else
		snprintf(g.address, sizeof(g.address), "tcp:%s:%u", o.host, o.port);
	snprintf(g.subject, sizeof(g.subject), "%s.in", o.stream);
	sl_machine_cpu_model(g.cpu, sizeof(g.cpu));
	sl_machine_kernel(g.kernel, sizeof(g.kernel));
	sl_hist_reset(&hist);
	if (commands_make() < 0) {
		fprintf(stderr, "peer_load: out of memory\n");
		goto out;
	}
	if (conns_open() < 0)
		goto out;
	if ((rc = epoll_open()) < 0) {
		fprintf(stderr, "peer_load: epoll: %s\n", strerror(-rc));
		goto out;
	}
	sl_machine_read_line("/proc/loadavg", g.loadavg[0], sizeof(g.loadavg[0]));
	setup_print();
	run();
	sl_machine_read_line("/proc/loadavg", g.loadavg[1], sizeof(g.loadavg[1]));
	result_compute();
	result_print();
	ret = 0;
	if (ct.sent == 0 || ct.ok == 0 || (double)failed() > 0.01 * (double)ct.sent ||
	    res.interrupted) {
		fprintf(stderr, "peer_load: %" PRIu64 " of %" PRIu64 " commands failed%s%s%s\n",
		        failed(), ct.sent, res.interrupted ? " (interrupted)" : "",
		        g.last_error[0] ? "; last: " : "", g.last_error);
		ret = 1;
	}
	if (o.json && (rc = json_write(o.json)) < 0) {
		fprintf(stderr, "peer_load: %s: %s\n", o.json, strerror(-rc));
		ret = 1;
	}
out:
	conns_close();
	return ret;
}

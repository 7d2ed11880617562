/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice-put: puts records into a stream from the command line, from stdin
 * (one record per line) or generated (load mode), and reports each record's
 * result. One option table drives parsing and --help.
 *
 * Load mode data format, so a reader can check what it gets back: record i
 * of BYTES bytes holds i as 8 bytes little-endian (cut to BYTES if shorter),
 * then byte j (j >= 8) is (i + j) mod 256.
 *
 * Exit status: 0 if every record was stored, 1 if any failed (or the
 * producer could not start), 2 for a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice/client.h>

#include "clock.h"
#include "wire.h"

#define EXIT_USAGE     2
#define LINE_MAX_BYTES (SL_WIRE_MAX_FRAME + 1)

enum opt_id {
	OPT_HOST = 'h' + 256,
	OPT_PORT,
	OPT_STREAM,
	OPT_ACK,
	OPT_KEY,
	OPT_LINGER,
	OPT_TIMEOUT,
	OPT_ATTEMPTS,
	OPT_FRAME,
	OPT_INFLIGHT,
	OPT_OPEN,
	OPT_QUIET,
	OPT_PRINT,
	OPT_COUNT,
	OPT_SIZE,
	OPT_KEYS,
	OPT_HELP,
};

static const struct {
	const char *name;
	enum opt_id id;
	const char *arg; /* NULL: a flag */
	const char *help;
} opts[] = {
        {"host", OPT_HOST, "H", "engine address, IPv4/IPv6 literal or name (127.0.0.1)"},
        {"port", OPT_PORT, "P", "engine UDP port (7447)"},
        {"stream", OPT_STREAM, "NAME", "stream to put into (required)"},
        {"ack", OPT_ACK, "MODE", "none|received|written|durable (durable)"},
        {"key", OPT_KEY, "K", "partition key of every record (default: record index)"},
        {"linger-us", OPT_LINGER, "N", "how long a partial frame waits for more records (500)"},
        {"timeout-ms", OPT_TIMEOUT, "N", "resend a frame not answered after this (100)"},
        {"max-attempts", OPT_ATTEMPTS, "N", "sends per frame before its records fail (20)"},
        {"frame-bytes", OPT_FRAME, "N", "largest datagram (1472)"},
        {"max-inflight", OPT_INFLIGHT, "N", "frames sent and not answered at most (256)"},
        {"max-open-frames", OPT_OPEN, "N",
         "frames filling at once, one per shard (0: min(shards, 64); 1: one mixed frame)"},
        {"quiet", OPT_QUIET, NULL, "no summary on stderr"},
        {"print", OPT_PRINT, NULL, "one line per record: <index> <key> <shard> <seq> <STATUS>"},
        {"count", OPT_COUNT, "N", "load mode: generate N records"},
        {"size", OPT_SIZE, "BYTES", "load mode: record size (100)"},
        {"keys", OPT_KEYS, "K", "load mode: keys k<i mod K> (default: k<i>)"},
        {"help", OPT_HELP, NULL, "this text"},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

struct run {
	bool print;
	const char *key; /* --key */
	bool load;       /* keys k<i mod keys> */
	uint64_t keys;   /* 0: k<i> */
	uint64_t ok;
	uint64_t failed;
	uint64_t rejected; /* put refused the record */
};

static void usage(FILE *out)
{
	fprintf(out, "usage: sluice-put [options] --stream NAME [RECORD ...]\n"
	             "       sluice-put [options] --stream NAME --count N [--size BYTES] "
	             "[--keys K]\n"
	             "Puts each RECORD, or each line of stdin when none is given, or N\n"
	             "generated records (load mode: 8-byte little-endian index, then byte j\n"
	             "is (index + j) mod 256). Exit 0 if all were stored, 1 if any failed,\n"
	             "2 on a usage error.\n\n");
	for (size_t i = 0; i < NOPTS; i++) {
		char left[40];

		snprintf(left, sizeof(left), "--%s%s%s", opts[i].name, opts[i].arg ? " " : "",
		         opts[i].arg ? opts[i].arg : "");
		fprintf(out, "  %-22s %s\n", left, opts[i].help);
	}
}

static const char *opt_name(int id)
{
	for (size_t i = 0; i < NOPTS; i++)
		if ((int)opts[i].id == id)
			return opts[i].name;
	return "?";
}

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		return false;
	*ret = v;
	return true;
}

static const char *status_str(int status, char *buf, size_t cap)
{
	const char *s = NULL;

	if (status >= 0 && status < SL_WIRE_STATUS_COUNT)
		s = sl_wire_status_name((enum sl_wire_status)status);
	else if (status < 0)
		s = strerrorname_np(-status);
	if (s)
		return s;
	snprintf(buf, cap, "STATUS%d", status);
	return buf;
}

static const char *key_of(const struct run *r, uint64_t i, char *buf, size_t cap)
{
	if (r->key)
		return r->key;
	if (r->load)
		snprintf(buf, cap, "k%" PRIu64, r->keys ? i % r->keys : i);
	else
		snprintf(buf, cap, "%" PRIu64, i);
	return buf;
}

static void report(struct run *r, uint64_t i, uint32_t shard, uint64_t seq, int status)
{
	char kb[32], sb[32], hb[16];

	if (status == SL_WIRE_OK)
		r->ok++;
	else
		r->failed++;
	if (!r->print)
		return;
	if (shard == SL_PRODUCER_NO_SHARD)
		snprintf(hb, sizeof(hb), "-");
	else
		snprintf(hb, sizeof(hb), "%" PRIu32, shard);
	printf("%" PRIu64 " %s %s %" PRIu64 " %s\n", i, key_of(r, i, kb, sizeof(kb)), hb, seq,
	       status_str(status, sb, sizeof(sb)));
}

static void on_result(void *arg, const struct sl_put_result *res)
{
	report(arg, (uint64_t)(uintptr_t)res->user, res->shard, res->seq, res->status);
}

/* Puts one record, polling while the producer is full. */
static int put_one(struct sl_producer *p, struct run *r, uint64_t i, const void *data, size_t len)
{
	char kb[32];
	const char *key = key_of(r, i, kb, sizeof(kb));
	int rc;

	while ((rc = sl_producer_put(p, key, strlen(key), data, len, (void *)(uintptr_t)i)) ==
	       -EAGAIN) {
		rc = sl_producer_poll(p, 100);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		r->rejected++;
		report(r, i, SL_PRODUCER_NO_SHARD, 0, rc);
		if (!r->print)
			fprintf(stderr, "sluice-put: record %" PRIu64 ": %s\n", i, strerror(-rc));
		return rc;
	}
	/* Send sealed frames now and then while putting fast. */
	if ((i & 63) == 63)
		return sl_producer_poll(p, 0) < 0 ? -EIO : 0;
	return 0;
}

static void fill_load(uint8_t *d, uint64_t size, uint64_t i)
{
	for (uint64_t j = 0; j < size; j++)
		d[j] = j < 8 ? (uint8_t)(i >> (8 * j)) : (uint8_t)(i + j);
}

/* Reads stdin a chunk at a time and puts each line, while keeping the
 * producer moving between chunks (an interactive stdin may pause). */
static int put_stdin(struct sl_producer *p, struct run *r)
{
	char *buf = malloc(LINE_MAX_BYTES);
	size_t have = 0;
	uint64_t i = 0;
	bool eof = false, skipping = false;

	if (!buf)
		return -ENOMEM;
	while (!eof) {
		struct pollfd pfd[2] = {{.fd = 0, .events = POLLIN},
		                        {.fd = sl_producer_fd(p), .events = POLLIN}};
		int64_t us = sl_producer_next_timeout_us(p);
		int ms = us < 0 ? -1 : (int)((us + 999) / 1000);
		ssize_t n;
		size_t start = 0;

		if (poll(pfd, 2, ms) < 0 && errno != EINTR)
			break;
		if (sl_producer_poll(p, 0) < 0)
			break;
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(0, buf + have, LINE_MAX_BYTES - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			eof = true;
		} else {
			have += (size_t)n;
		}
		for (;;) {
			char *nl = memchr(buf + start, '\n', have - start);
			size_t len;
			bool whole = true;

			if (nl) {
				len = (size_t)(nl - (buf + start));
			} else if (eof && have > start) {
				len = have - start;
			} else if (have == LINE_MAX_BYTES && start == 0) {
				/* Longer than any frame: put reports it too
				 * large, the rest of the line is dropped. */
				len = have;
				whole = false;
			} else {
				break;
			}
			if (!skipping)
				put_one(p, r, i++, buf + start, len);
			skipping = !whole;
			start += len + (nl ? 1 : 0);
		}
		memmove(buf, buf + start, have - start);
		have -= start;
	}
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	struct option lopts[NOPTS + 1];
	struct sl_producer_config c;
	struct sl_producer_stats st;
	struct sl_producer *p;
	struct run r = {0};
	bool quiet = false;
	uint64_t count = 0, size = 100, v;
	int64_t t0;
	double secs;
	int rc, o;

	sl_producer_config_default(&c);
	for (size_t i = 0; i < NOPTS; i++)
		lopts[i] =
		        (struct option){opts[i].name, opts[i].arg ? required_argument : no_argument,
		                        NULL, (int)opts[i].id};
	lopts[NOPTS] = (struct option){0};
	while ((o = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		bool ok = true;

		switch (o) {
		case OPT_HOST:
			c.host = optarg;
			break;
		case OPT_PORT:
			ok = parse_u64(optarg, 1, 65535, &v);
			c.port = (uint16_t)v;
			break;
		case OPT_STREAM:
			c.stream = optarg;
			break;
		case OPT_ACK:
			if (!strcmp(optarg, "none"))
				c.ack_mode = SL_WIRE_ACK_NONE;
			else if (!strcmp(optarg, "received"))
				c.ack_mode = SL_WIRE_ACK_RECEIVED;
			else if (!strcmp(optarg, "written"))
				c.ack_mode = SL_WIRE_ACK_WRITTEN;
			else if (!strcmp(optarg, "durable"))
				c.ack_mode = SL_WIRE_ACK_DURABLE;
			else
				ok = false;
			break;
		case OPT_KEY:
			r.key = optarg;
			ok = strlen(optarg) >= 1 && strlen(optarg) <= SL_WIRE_MAX_KEY;
			break;
		case OPT_LINGER:
			ok = parse_u64(optarg, 0, SL_PRODUCER_MAX_LINGER, &v);
			c.linger_us = (uint32_t)v;
			break;
		case OPT_TIMEOUT:
			ok = parse_u64(optarg, 1, SL_PRODUCER_MAX_TIMEOUT, &v);
			c.timeout_ms = (uint32_t)v;
			break;
		case OPT_ATTEMPTS:
			ok = parse_u64(optarg, 1, SL_PRODUCER_MAX_ATTEMPTS, &v);
			c.max_attempts = (uint32_t)v;
			break;
		case OPT_FRAME:
			ok = parse_u64(optarg, SL_PRODUCER_MIN_FRAME, SL_WIRE_MAX_FRAME, &v);
			c.max_frame_bytes = (uint32_t)v;
			break;
		case OPT_INFLIGHT:
			ok = parse_u64(optarg, 1, SL_PRODUCER_MAX_INFLIGHT, &v);
			c.max_inflight = (uint32_t)v;
			break;
		case OPT_OPEN:
			ok = parse_u64(optarg, 0, SL_PRODUCER_MAX_OPEN, &v);
			c.max_open_frames = (uint32_t)v;
			break;
		case OPT_QUIET:
			quiet = true;
			break;
		case OPT_PRINT:
			r.print = true;
			break;
		case OPT_COUNT:
			ok = parse_u64(optarg, 1, UINT64_MAX / 2, &count);
			r.load = true;
			break;
		case OPT_SIZE:
			ok = parse_u64(optarg, 0, SL_WIRE_MAX_FRAME, &size);
			break;
		case OPT_KEYS:
			ok = parse_u64(optarg, 1, UINT64_MAX / 2, &r.keys);
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
		if (!ok) {
			fprintf(stderr, "sluice-put: bad value for --%s: %s\n", opt_name(o),
			        optarg);
			return EXIT_USAGE;
		}
	}
	if (!c.stream) {
		fprintf(stderr, "sluice-put: --stream is required\n");
		return EXIT_USAGE;
	}
	if (r.load && optind < argc) {
		fprintf(stderr, "sluice-put: --count and RECORD arguments exclude each other\n");
		return EXIT_USAGE;
	}

	rc = sl_producer_create(&c, on_result, &r, &p);
	if (rc < 0) {
		fprintf(stderr, "sluice-put: %s\n",
		        sl_producer_errmsg()[0] ? sl_producer_errmsg() : strerror(-rc));
		return 1;
	}
	t0 = sl_mono_ns();
	if (r.load) {
		uint8_t *d = malloc(size ? size : 1);

		if (!d) {
			sl_producer_free(p);
			return 1;
		}
		for (uint64_t i = 0; i < count; i++) {
			fill_load(d, size, i);
			if (put_one(p, &r, i, d, size) == -EIO)
				break;
		}
		free(d);
	} else if (optind < argc) {
		for (int i = optind; i < argc; i++)
			if (put_one(p, &r, (uint64_t)(i - optind), argv[i], strlen(argv[i])) ==
			    -EIO)
				break;
	} else {
		put_stdin(p, &r);
	}
	/* Every record ends after max_attempts at worst. */
	while ((rc = sl_producer_flush(p, 1000)) > 0)
		continue;
	if (rc < 0)
		fprintf(stderr, "sluice-put: %s\n", strerror(-rc));
	secs = (double)(sl_mono_ns() - t0) / 1e9;
	sl_producer_stats(p, &st);
	if (!quiet)
		fprintf(stderr,
		        "sluice-put: %" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64
		        " frames, %" PRIu64 " retries, %.3f s, %.0f records/s\n",
		        r.ok, r.failed, st.frames_sent, st.retries, secs,
		        secs > 0 ? (double)r.ok / secs : 0.0);
	sl_producer_free(p);
	fflush(stdout);
	return r.failed || rc < 0 ? 1 : 0;
}

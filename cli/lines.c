/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A line reader over read(2) with one buffer of max_line + CHUNK bytes:
 * unread bytes are [start, end); a line is returned in place. When no
 * newline is in the buffer and it holds more than max_line bytes, the line
 * is too long and the reader skips to the next newline, counting.
 */
#include "lines.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK 65536

struct sl_lines {
	int fd;
	size_t max;
	char *buf;
	size_t cap, start, end;
	bool eof;
	bool skipping;  /* inside a line over the limit */
	size_t skipped; /* its bytes so far */
};

int sl_lines_open(int fd, size_t max_line, struct sl_lines **ret)
{
	struct sl_lines *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->fd = fd;
	l->max = max_line;
	l->cap = max_line + CHUNK;
	l->buf = malloc(l->cap);
	if (!l->buf) {
		free(l);
		return -ENOMEM;
	}
	*ret = l;
	return 0;
}

void sl_lines_close(struct sl_lines *l)
{
	if (!l)
		return;
	free(l->buf);
	free(l);
}

/* Reads more after compacting; 0 at end of input. */
static ssize_t fill(struct sl_lines *l)
{
	ssize_t n;

	if (l->start) {
		memmove(l->buf, l->buf + l->start, l->end - l->start);
		l->end -= l->start;
		l->start = 0;
	}
	n = read(l->fd, l->buf + l->end, l->cap - l->end);
	if (n < 0)
		return -errno;
	if (n == 0)
		l->eof = true;
	l->end += (size_t)n;
	return n;
}

int sl_lines_next(struct sl_lines *l, const char **ret_line, size_t *ret_len)
{
	for (;;) {
		char *p = l->buf + l->start;
		size_t have = l->end - l->start;
		char *nl = memchr(p, '\n', have);
		ssize_t n;

		if (nl) {
			size_t len = (size_t)(nl - p);

			l->start += len + 1;
			if (l->skipping || len > l->max) {
				*ret_len = l->skipped + len;
				l->skipping = false;
				l->skipped = 0;
				return -EMSGSIZE;
			}
			*ret_line = p;
			*ret_len = len;
			return 1;
		}
		if (have > l->max) {
			l->skipping = true;
			l->skipped += have;
			l->start = l->end = 0;
			have = 0;
		}
		if (l->eof) {
			l->start = l->end;
			if (l->skipping) {
				*ret_len = l->skipped + have;
				l->skipping = false;
				l->skipped = 0;
				return -EMSGSIZE;
			}
			if (!have)
				return 0;
			*ret_line = p;
			*ret_len = have;
			return 1;
		}
		n = fill(l);
		if (n < 0)
			return (int)n;
	}
}

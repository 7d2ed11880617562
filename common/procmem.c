/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resident memory of this process from /proc/self/status, whose "VmRSS:"
 * and "VmHWM:" lines give kibibytes ("VmRSS:\t  123456 kB"). Read with one
 * read() into a stack buffer: the file is a few KiB and nothing here
 * allocates, so a stats thread can call it while the daemon runs.
 */
#include "procmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The value of the "<key>\t... kB" line in text, in bytes. */
static bool field_kib(const char *text, const char *key, uint64_t *ret)
{
	size_t kl = strlen(key);
	const char *p = text;

	while (p) {
		if (strncmp(p, key, kl) == 0) {
			char *end;
			unsigned long long v = strtoull(p + kl, &end, 10);

			if (end == p + kl)
				return false;
			*ret = (uint64_t)v * 1024;
			return true;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

int sl_procmem_read(struct sl_procmem *ret)
{
	char buf[8192];
	size_t len = 0;
	uint64_t rss, hwm;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (!field_kib(buf, "VmRSS:", &rss) || !field_kib(buf, "VmHWM:", &hwm))
		return -ENOENT;
	ret->rss_bytes = rss;
	/* VmHWM is sampled by the kernel and may trail a fresh VmRSS. */
	ret->rss_peak_bytes = hwm > rss ? hwm : rss;
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Segment files: names, headers, creation with preallocation, and the
 * untrusting batch reader shared by recovery and readers. Everything here is
 * a cold path (once per segment, or per reader seek).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compiler.h"
#include "crc32c.h"
#include "internal.h"

void sl_seg_name(char buf[SL_SEG_NAME_MAX], uint64_t base_seq, const char *ext)
{
	snprintf(buf, SL_SEG_NAME_MAX, "%020" PRIu64 ".%s", base_seq, ext);
}

bool sl_seg_name_parse(const char *name, uint64_t *ret_base)
{
	uint64_t v = 0;

	for (int i = 0; i < 20; i++) {
		unsigned d;

		if (name[i] < '0' || name[i] > '9')
			return false;
		d = (unsigned)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (strcmp(name + 20, ".log") != 0 || v == 0)
		return false;
	*ret_base = v;
	return true;
}

uint32_t sl_seg_hdr_crc(const struct sl_seg_hdr *h)
{
	struct sl_seg_hdr c = *h;

	c.hdr_crc = 0;
	return sl_crc32c(0, &c, sizeof(c));
}

int sl_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENODATA;
		done += (size_t)n;
	}
	return 0;
}

int sl_seg_hdr_read(int fd, struct sl_seg_hdr *ret)
{
	struct sl_seg_hdr h;
	int r = sl_pread_full(fd, &h, sizeof(h), 0);

	if (r < 0)
		return r == -ENODATA ? -EBADMSG : r;
	if (h.magic != SL_SEG_MAGIC || h.version != SL_FORMAT_VERSION ||
	    h.hdr_crc != sl_seg_hdr_crc(&h))
		return -EBADMSG;
	*ret = h;
	return 0;
}

int sl_seg_hdr_write(int fd, const struct sl_seg_hdr *h)
{
	void *blk;
	ssize_t n;
	int r = 0;

	/* One aligned block, so that the write works on an O_DIRECT fd. */
	if (posix_memalign(&blk, SL_BLOCK, SL_SEG_HDR_BYTES) != 0)
		return -ENOMEM;
	memset(blk, 0, SL_SEG_HDR_BYTES);
	memcpy(blk, h, sizeof(*h));
	do {
		n = pwrite(fd, blk, SL_SEG_HDR_BYTES, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		r = -errno;
	else if (n != SL_SEG_HDR_BYTES)
		r = -EIO;
	free(blk);
	return r;
}

static int open_data(int dirfd, const char *name, int flags)
{
	int fd = openat(dirfd, name, flags | O_DIRECT | O_CLOEXEC, 0644);

	/* tmpfs and some FUSE file systems refuse O_DIRECT: write through the
	 * page cache there; fdatasync still gives the same guarantee. */
	if (fd < 0 && errno == EINVAL)
		fd = openat(dirfd, name, flags | O_CLOEXEC, 0644);
	return fd < 0 ? -errno : fd;
}

void sl_seg_spare_name(char buf[SL_SEG_NAME_MAX], uint64_t old_base)
{
	snprintf(buf, SL_SEG_NAME_MAX, "spare-%020" PRIu64 ".log", old_base);
}

int sl_seg_create(int dirfd, uint64_t base_seq, uint64_t spare, uint64_t capacity,
                  uint32_t shard_id, int *ret_fd, int *ret_idx_fd, int *ret_tix_fd)
{
	char name[SL_SEG_NAME_MAX], old[SL_SEG_NAME_MAX];
	struct sl_seg_hdr h;
	int fd = -1, ifd = -1, tfd = -1, r;

	sl_seg_name(name, base_seq, "log");
	if (spare) {
		/* A retired segment's blocks are already written: appends over
		 * them skip ext4's unwritten-extent conversion. Its old bytes
		 * after the new data never pass as records: batches must carry
		 * this segment's sequence numbers, contiguously. */
		sl_seg_spare_name(old, spare);
		if (renameat(dirfd, old, dirfd, name) == 0)
			fd = open_data(dirfd, name, O_RDWR);
		else
			unlinkat(dirfd, old, 0);
	}
	if (fd < 0)
		fd = open_data(dirfd, name, O_RDWR | O_CREAT | O_EXCL);
	if (fd < 0)
		return fd;
	/* Held as long as the file is open, and so as long as an io_uring
	 * holds it: after a crash, the kernel may still complete the dead
	 * writer's writes when its process is gone, and recovery waits for
	 * this lock before it touches the file (see sl_seg_lock_writer()). */
	flock(fd, LOCK_EX | LOCK_NB);
	r = fallocate(fd, 0, 0, (off_t)capacity);
	if (r < 0 && (errno == EOPNOTSUPP || errno == ENOSYS))
		r = ftruncate(fd, (off_t)capacity);
	if (r < 0) {
		r = -errno;
		goto fail;
	}
	h = (struct sl_seg_hdr){
	        .magic = SL_SEG_MAGIC,
	        .version = SL_FORMAT_VERSION,
	        .base_seq = base_seq,
	        .create_ns = 0,
	        .capacity = capacity,
	        .shard_id = shard_id,
	        .state = SL_SEG_OPEN,
	};
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	h.create_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	h.hdr_crc = sl_seg_hdr_crc(&h);
	r = sl_seg_hdr_write(fd, &h);
	if (r < 0)
		goto fail;
	sl_seg_name(name, base_seq, "idx");
	ifd = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	sl_seg_name(name, base_seq, "tix");
	tfd = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ifd < 0 || tfd < 0) {
		r = -errno;
		goto fail;
	}
	/* The name must be durable before any data written to the file is
	 * taken as durable (and, for a new epoch, before any of its sequence
	 * numbers is handed out: recovery derives the next epoch from the names
	 * it finds). The header and the allocation need no fdatasync of their
	 * own: the first fdatasync of the data covers them, and a header lost
	 * before it is one recovery already handles. */
	if (fsync(dirfd) < 0) {
		r = -errno;
		goto fail;
	}
	*ret_fd = fd;
	*ret_idx_fd = ifd;
	*ret_tix_fd = tfd;
	return 0;
fail:
	if (ifd >= 0)
		close(ifd);
	if (tfd >= 0)
		close(tfd);
	close(fd);
	sl_seg_remove(dirfd, base_seq);
	return r;
}

int sl_seg_lock_writer(int fd, int timeout_ms)
{
	for (int waited = 0;; waited += 10) {
		struct timespec ts = {0, 10 * 1000000};

		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (waited >= timeout_ms)
			return -EBUSY;
		nanosleep(&ts, NULL);
	}
}

int sl_seg_remove(int dirfd, uint64_t base_seq)
{
	static const char *const exts[] = {"idx", "tix", "log"};
	char name[SL_SEG_NAME_MAX];
	int ret = 0;

	/* Indexes first: a crash in between leaves a segment without index
	 * (rebuilt) rather than an index without segment. */
	for (size_t i = 0; i < SL_ARRAY_SIZE(exts); i++) {
		sl_seg_name(name, base_seq, exts[i]);
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT && ret == 0)
			ret = -errno;
	}
	return ret;
}

int sl_seg_read_batch(int fd, uint64_t off, uint64_t room, uint64_t expect, uint8_t **buf,
                      size_t *buf_cap, struct sl_batch_hdr *ret_hdr)
{
	static const struct sl_batch_hdr zero;
	struct sl_batch_hdr h;
	size_t want = (size_t)SL_MIN(room, (uint64_t)sizeof(h));
	ssize_t got;

	/* Fewer bytes than a header (end of room or of file): the end of the
	 * data if they are zeros, a torn batch if not. */
	memset(&h, 0, sizeof(h));
	do {
		got = pread(fd, &h, want, (off_t)off);
	} while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	if (memcmp(&h, &zero, sizeof(h)) == 0)
		return -ENODATA;
	if ((size_t)got < sizeof(h))
		return -EBADMSG;
	if (sl_batch_hdr_check(&h, room) < 0 || (expect != 0 && h.base_seq != expect))
		return -EBADMSG;
	if (*buf_cap < h.length) {
		size_t cap = SL_MAX(h.length, *buf_cap * 2);
		uint8_t *nb = realloc(*buf, cap);

		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*buf_cap = cap;
	}
	int r = sl_pread_full(fd, *buf, h.length, off);

	if (r < 0)
		return r == -ENODATA ? -EBADMSG : r;
	/* The header was read twice; the CRC check covers the second copy. */
	if (memcmp(*buf, &h, sizeof(h)) != 0 || sl_batch_body_check(*buf, h.length) < 0)
		return -EBADMSG;
	*ret_hdr = h;
	return 0;
}

int sl_seg_resync(int fd, uint64_t start, uint64_t end, uint64_t min_seq, uint64_t max_seq,
                  uint64_t *ret_off, struct sl_batch_hdr *ret_hdr)
{
	enum { CHUNK = 1 << 20 };
	uint8_t *chunk = NULL, *bbuf = NULL;
	size_t bcap = 0;
	int ret = -ENOENT;

	chunk = malloc(CHUNK);
	if (!chunk)
		return -ENOMEM;
	start = sl_align_up(start, 8);
	for (uint64_t base = start; base < end && ret == -ENOENT; base += CHUNK - 8) {
		size_t n = (size_t)SL_MIN((uint64_t)CHUNK, end - base);
		int r = sl_pread_full(fd, chunk, n, base);

		if (r < 0) {
			ret = r == -ENODATA ? -ENOENT : r;
			break;
		}
		for (size_t o = 0; o + 4 <= n; o += 8) {
			uint32_t magic;
			struct sl_batch_hdr h;

			memcpy(&magic, chunk + o, 4);
			if (magic != SL_BATCH_MAGIC)
				continue;
			if (sl_seg_read_batch(fd, base + o, end - (base + o), 0, &bbuf, &bcap,
			                      &h) == 0 &&
			    h.base_seq >= min_seq && h.base_seq + h.count <= max_seq) {
				*ret_off = base + o;
				*ret_hdr = h;
				ret = 0;
				break;
			}
		}
		if (n < CHUNK)
			break;
	}
	free(chunk);
	free(bbuf);
	return ret;
}

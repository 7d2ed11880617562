/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for storage/io.c: backend choice (including the automatic fallback
 * when io_uring is forbidden by seccomp), write and fdatasync completions,
 * and the linked-operation semantics both backends share. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "t_util.h"

static char *dir;

static void setup(void)
{
	dir = t_tmpdir("io");
}

static void teardown(void)
{
	t_rm_rf(dir);
	free(dir);
}

TestSuite(io, .init = setup, .fini = teardown, .timeout = 30);

/* Makes io_uring_setup(2) fail with ENOSYS in this (forked test) process,
 * as a seccomp policy of a container would. */
static void forbid_io_uring(void)
{
	struct sock_filter f[] = {
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = (unsigned short)(sizeof(f) / sizeof(f[0])), .filter = f};

	cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
}

Test(io, falls_back_to_pwrite_when_io_uring_is_forbidden)
{
	struct sl_store_config c;
	struct sl_store *st;
	struct sl_log *lg;
	struct sl_reader *r;

	unsetenv("SLUICE_IO_BACKEND");
	forbid_io_uring();
	t_small_config(&c);
	cr_assert_eq(sl_store_create(&c, &st), 0);
	cr_assert_eq(sl_store_backend(st), SL_IO_SYNC);
	cr_assert_eq(sl_store_uring_error(st), -ENOSYS, "the reason is kept for the one message");
	/* And the log works on it. */
	cr_assert_eq(sl_log_open(st, dir, 1, NULL, NULL, &lg), 0);
	uint64_t first = t_fill(st, lg, 0, 500, 10, 200, 1);
	cr_assert_eq(t_drain(st, lg, NULL), 0);
	cr_assert_eq(sl_reader_open(lg, 0, &r), 0);
	struct sl_record_out out[500];
	cr_assert_eq(sl_reader_read(r, out, 500, SIZE_MAX), 500);
	cr_assert_eq(out[0].seq, first);
	cr_assert(t_record_check(&out[499], 499, 200, 1));
	sl_reader_free(r);
	sl_store_free(st);
}

Test(io, asking_for_io_uring_where_it_is_forbidden_fails)
{
	struct sl_io *io;
	int err = 0;

	forbid_io_uring();
	cr_assert_eq(sl_io_create(SL_IO_URING, 8, 0, 0, &err, &io), -ENOSYS);
}

static int open_file(const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	return fd;
}

static void both_backends(void (*fn)(enum sl_io_backend))
{
	fn(SL_IO_SYNC);
	fn(SL_IO_URING);
}

static void writes_complete_with_their_user_data(enum sl_io_backend b)
{
	struct sl_io *io;
	struct sl_io_file f;
	struct sl_io_cqe cqe[8];
	char buf[3][100];
	int fd = open_file("w"), n = 0, r;

	if (sl_io_create(b, 8, 2, 0, NULL, &io) < 0) {
		cr_assert_eq(b, SL_IO_URING);
		cr_log_warn("io_uring unavailable here: only the pwrite backend was checked");
		close(fd);
		return;
	}
	sl_io_file_set(io, 0, fd, &f);
	for (int i = 0; i < 3; i++) {
		memset(buf[i], 'a' + i, sizeof(buf[i]));
		cr_assert_eq(sl_io_prep_write(io, &f, buf[i], 100, i * 100, -1,
		                              i == 1 ? SL_IO_ASYNC : 0, 10 + i),
		             0);
	}
	cr_assert_eq(sl_io_prep_fdatasync(io, &f, 99), 0);
	cr_assert_eq(sl_io_submit(io), 4);
	while (n < 4) {
		r = sl_io_reap(io, cqe + n, 8 - n, true);
		cr_assert_geq(r, 0);
		n += r;
	}
	uint64_t seen = 0;
	for (int i = 0; i < 4; i++) {
		if (cqe[i].user_data == 99) {
			cr_assert_eq(cqe[i].res, 0);
		} else {
			cr_assert_eq(cqe[i].res, 100);
		}
		seen |= 1ull << (cqe[i].user_data % 64);
	}
	cr_assert_eq(seen, (1ull << 10) | (1ull << 11) | (1ull << 12) | (1ull << (99 % 64)));
	cr_assert_eq(sl_io_inflight(io), 0);
	char back[300];
	cr_assert_eq(pread(fd, back, 300, 0), 300);
	cr_assert_eq(back[0], 'a');
	cr_assert_eq(back[299], 'c');
	sl_io_file_set(io, 0, -1, &f);
	sl_io_free(io);
	close(fd);
}

Test(io, writes_and_fdatasync_complete_with_their_user_data)
{
	both_backends(writes_complete_with_their_user_data);
}

static void failed_write_cancels_its_linked_successor(enum sl_io_backend b)
{
	struct sl_io *io;
	struct sl_io_file f = {.fd = -1, .slot = -1}, good;
	struct sl_io_cqe cqe[4];
	char buf[16] = {0};
	int fd = open_file("l"), n = 0;

	if (sl_io_create(b, 8, 0, 0, NULL, &io) < 0) {
		close(fd);
		return;
	}
	/* A write to a read-only descriptor fails; the fdatasync linked after it
	 * must not run as if it had covered the write. */
	f.fd = open(dir, O_RDONLY | O_DIRECTORY);
	good.fd = fd;
	good.slot = -1;
	cr_assert_eq(sl_io_prep_write(io, &f, buf, sizeof(buf), 0, -1, SL_IO_LINK, 1), 0);
	cr_assert_eq(sl_io_prep_fdatasync(io, &good, 2), 0);
	cr_assert_eq(sl_io_submit(io), 2);
	while (n < 2) {
		int r = sl_io_reap(io, cqe + n, 4 - n, true);

		cr_assert_geq(r, 0);
		n += r;
	}
	for (int i = 0; i < 2; i++) {
		if (cqe[i].user_data == 1)
			cr_assert_lt(cqe[i].res, 0, "the write fails");
		else
			cr_assert_eq(cqe[i].res, -ECANCELED, "its linked fdatasync is cancelled");
	}
	sl_io_free(io);
	close(f.fd);
	close(fd);
}

Test(io, a_failed_write_cancels_its_linked_fdatasync)
{
	both_backends(failed_write_cancels_its_linked_successor);
}

Test(io, depth_is_a_limit)
{
	struct sl_io *io;
	struct sl_io_file f;
	char buf[8] = {0};
	int fd = open_file("d");

	cr_assert_eq(sl_io_create(SL_IO_SYNC, 2, 0, 0, NULL, &io), 0);
	f.fd = fd;
	f.slot = -1;
	cr_assert(sl_io_has_room(io, 2));
	cr_assert_eq(sl_io_prep_write(io, &f, buf, 8, 0, -1, 0, 1), 0);
	cr_assert_eq(sl_io_prep_write(io, &f, buf, 8, 8, -1, 0, 2), 0);
	cr_assert_not(sl_io_has_room(io, 1));
	cr_assert_eq(sl_io_prep_write(io, &f, buf, 8, 16, -1, 0, 3), -EBUSY);
	sl_io_free(io);
	cr_assert_eq(sl_io_create(SL_IO_SYNC, 0, 0, 0, NULL, &io), -EINVAL);
	close(fd);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * I/O queue backends (see io.h). Invariant for both: every prepared
 * operation produces exactly one completion, in any order for io_uring and
 * in submission order for the sync backend; a linked successor of a failed
 * operation completes with -ECANCELED, as io_uring does.
 */
#include "io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler.h"

#ifdef SL_HAVE_LIBURING
#include <liburing.h>
#endif

enum op_kind { OP_WRITE, OP_FDATASYNC };

struct sync_op {
	enum op_kind kind;
	int fd;
	const void *buf;
	size_t len;
	off_t off;
	bool link;
	uint64_t user_data;
};

struct sl_io {
	enum sl_io_backend backend;
	unsigned depth;
	unsigned inflight; /* submitted or prepared, not reaped */
	unsigned prepared; /* prepared, not submitted */
	bool files_registered;
	bool buffers_registered;
#ifdef SL_HAVE_LIBURING
	struct io_uring ring;
	bool ring_ready;
	bool aff_pending; /* apply aff to the workers after the next submit */
	cpu_set_t aff;
#endif
	/* sync backend: prepared ops, then completions */
	struct sync_op *ops;
	struct sl_io_cqe *done;
	unsigned done_head, done_count;
};

const char *sl_io_backend_name(enum sl_io_backend b)
{
	switch (b) {
	case SL_IO_URING:
		return "io_uring";
	case SL_IO_SYNC:
		return "pwrite+fdatasync";
	default:
		return "auto";
	}
}

enum sl_io_backend sl_io_backend(const struct sl_io *io)
{
	return io->backend;
}

void sl_io_set_worker_cpus(struct sl_io *io, const cpu_set_t *set)
{
#ifdef SL_HAVE_LIBURING
	if (io->backend == SL_IO_URING) {
		io->aff = *set;
		io->aff_pending = true;
	}
#else
	(void)io;
	(void)set;
#endif
}

#ifdef SL_HAVE_LIBURING
static int uring_setup(struct sl_io *io, unsigned nr_file_slots, unsigned nr_buf_slots)
{
	struct io_uring_params p;
	int r;

	memset(&p, 0, sizeof(p));
	/* The CQ ring must hold a completion for every op in flight.
	 * COOP_TASKRUN: completions are not pushed into the owner with an
	 * interrupt (an IPI and a trip through the kernel per completion batch
	 * on a busy-polling core, ~15 % of the engine's cycles under load);
	 * the owner picks them up when it next enters the kernel, which
	 * sl_io_reap() does when TASKRUN_FLAG says work is waiting (5.19+;
	 * older kernels get the plain setup). */
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	p.cq_entries = io->depth * 2;
	r = io_uring_queue_init_params(io->depth, &io->ring, &p);
	if (r == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = io->depth * 2;
		r = io_uring_queue_init_params(io->depth, &io->ring, &p);
	}
	if (r < 0)
		return r;
	io->ring_ready = true;
	/* Registered files and buffers save a fget/fput and a page pinning per
	 * write; a kernel that refuses them still gets correct unregistered I/O. */
	if (nr_file_slots > 0 && io_uring_register_files_sparse(&io->ring, nr_file_slots) == 0)
		io->files_registered = true;
	if (nr_buf_slots > 0 && io_uring_register_buffers_sparse(&io->ring, nr_buf_slots) == 0)
		io->buffers_registered = true;
	return 0;
}
#endif

void sl_io_free(struct sl_io *io)
{
	if (!io)
		return;
#ifdef SL_HAVE_LIBURING
	if (io->ring_ready)
		io_uring_queue_exit(&io->ring);
#endif
	free(io->ops);
	free(io->done);
	free(io);
}

int sl_io_create(enum sl_io_backend want, unsigned depth, unsigned nr_file_slots,
                 unsigned nr_buf_slots, int *ret_uring_err, struct sl_io **ret)
{
	struct sl_io *io;
	int uring_err = -EOPNOTSUPP;

	if (depth == 0 || depth > 32768)
		return -EINVAL;
	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->depth = depth;
#ifdef SL_HAVE_LIBURING
	if (want != SL_IO_SYNC) {
		uring_err = uring_setup(io, nr_file_slots, nr_buf_slots);
		if (uring_err == 0) {
			io->backend = SL_IO_URING;
			goto done;
		}
	}
#else
	(void)nr_file_slots;
	(void)nr_buf_slots;
#endif
	if (want == SL_IO_URING) {
		sl_io_free(io);
		return uring_err;
	}
	io->backend = SL_IO_SYNC;
	io->ops = calloc(depth, sizeof(*io->ops));
	io->done = calloc(depth, sizeof(*io->done));
	if (!io->ops || !io->done) {
		sl_io_free(io);
		return -ENOMEM;
	}
#ifdef SL_HAVE_LIBURING
done:
#endif
	if (ret_uring_err)
		*ret_uring_err = want == SL_IO_SYNC || io->backend == SL_IO_URING ? 0 : uring_err;
	*ret = io;
	return 0;
}

int sl_io_file_set(struct sl_io *io, unsigned slot, int fd, struct sl_io_file *file)
{
	file->fd = fd;
	file->slot = -1;
#ifdef SL_HAVE_LIBURING
	if (io->backend == SL_IO_URING && io->files_registered) {
		int r = io_uring_register_files_update(&io->ring, slot, &fd, 1);

		if (r == 1 && fd >= 0)
			file->slot = (int)slot;
	}
#else
	(void)io;
	(void)slot;
#endif
	return 0;
}

int sl_io_buffer_register(struct sl_io *io, unsigned slot, void *base, size_t len)
{
#ifdef SL_HAVE_LIBURING
	if (io->backend == SL_IO_URING && io->buffers_registered) {
		struct iovec iov = {.iov_base = base, .iov_len = len};
		__u64 tag = 0;
		int r = io_uring_register_buffers_update_tag(&io->ring, slot, &iov, &tag, 1);

		return r == 1 ? 0 : (r < 0 ? r : -EIO);
	}
#else
	(void)io;
	(void)slot;
	(void)base;
	(void)len;
#endif
	return -EOPNOTSUPP;
}

void sl_io_buffer_unregister(struct sl_io *io, unsigned slot)
{
#ifdef SL_HAVE_LIBURING
	if (io->backend == SL_IO_URING && io->buffers_registered) {
		struct iovec iov = {.iov_base = NULL, .iov_len = 0};
		__u64 tag = 0;

		io_uring_register_buffers_update_tag(&io->ring, slot, &iov, &tag, 1);
	}
#else
	(void)io;
	(void)slot;
#endif
}

bool sl_io_has_room(const struct sl_io *io, unsigned n)
{
	return io->inflight + n <= io->depth;
}

unsigned sl_io_inflight(const struct sl_io *io)
{
	return io->inflight;
}

static int sync_prep(struct sl_io *io, enum op_kind kind, int fd, const void *buf, size_t len,
                     off_t off, bool link, uint64_t user_data)
{
	struct sync_op *op;

	if (io->inflight >= io->depth)
		return -EBUSY;
	op = &io->ops[io->prepared];
	*op = (struct sync_op){kind, fd, buf, len, off, link, user_data};
	io->prepared++;
	io->inflight++;
	return 0;
}

#ifdef SL_HAVE_LIBURING
static struct io_uring_sqe *uring_sqe(struct sl_io *io)
{
	if (io->inflight >= io->depth)
		return NULL;
	return io_uring_get_sqe(&io->ring);
}
#endif

int sl_io_prep_write(struct sl_io *io, const struct sl_io_file *f, const void *buf, size_t len,
                     off_t off, int buf_slot, unsigned flags, uint64_t user_data)
{
#ifdef SL_HAVE_LIBURING
	if (io->backend == SL_IO_URING) {
		struct io_uring_sqe *sqe = uring_sqe(io);
		int fd = f->slot >= 0 ? f->slot : f->fd;

		if (!sqe)
			return -EBUSY;
		if (buf_slot >= 0 && io->buffers_registered)
			io_uring_prep_write_fixed(sqe, fd, buf, (unsigned)len, (__u64)off,
			                          buf_slot);
		else
			io_uring_prep_write(sqe, fd, buf, (unsigned)len, (__u64)off);
		if (f->slot >= 0)
			sqe->flags |= IOSQE_FIXED_FILE;
		if (flags & SL_IO_LINK)
			sqe->flags |= IOSQE_IO_LINK;
		if (flags & SL_IO_ASYNC)
			sqe->flags |= IOSQE_ASYNC;
		io_uring_sqe_set_data64(sqe, user_data);
		io->prepared++;
		io->inflight++;
		return 0;
	}
#endif
	(void)buf_slot;
	return sync_prep(io, OP_WRITE, f->fd, buf, len, off, flags & SL_IO_LINK, user_data);
}

int sl_io_prep_write_plain(struct sl_io *io, int fd, const void *buf, size_t len, off_t off,
                           uint64_t user_data)
{
	struct sl_io_file f = {.fd = fd, .slot = -1};

	return sl_io_prep_write(io, &f, buf, len, off, -1, 0, user_data);
}

int sl_io_prep_fdatasync(struct sl_io *io, const struct sl_io_file *f, uint64_t user_data)
{
#ifdef SL_HAVE_LIBURING
	if (io->backend == SL_IO_URING) {
		struct io_uring_sqe *sqe = uring_sqe(io);

		if (!sqe)
			return -EBUSY;
		io_uring_prep_fsync(sqe, f->slot >= 0 ? f->slot : f->fd, IORING_FSYNC_DATASYNC);
		if (f->slot >= 0)
			sqe->flags |= IOSQE_FIXED_FILE;
		io_uring_sqe_set_data64(sqe, user_data);
		io->prepared++;
		io->inflight++;
		return 0;
	}
#endif
	return sync_prep(io, OP_FDATASYNC, f->fd, NULL, 0, 0, false, user_data);
}

static int32_t sync_exec(const struct sync_op *op)
{
	if (op->kind == OP_FDATASYNC)
		return fdatasync(op->fd) == 0 ? 0 : -errno;

	size_t done = 0;

	while (done < op->len) {
		ssize_t n = pwrite(op->fd, (const char *)op->buf + done, op->len - done,
		                   op->off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return (int32_t)done;
}

int sl_io_submit(struct sl_io *io)
{
	unsigned n = io->prepared;

#ifdef SL_HAVE_LIBURING
	if (io->backend == SL_IO_URING) {
		int r;

		if (n == 0 && io_uring_sq_ready(&io->ring) == 0)
			return 0;
		do {
			r = io_uring_submit(&io->ring);
		} while (r == -EINTR);
		if (r < 0)
			return r;
		if (io->aff_pending && r > 0) {
			/* The submitting thread now has its io-wq: best effort. */
			(void)io_uring_register_iowq_aff(&io->ring, sizeof(io->aff), &io->aff);
			io->aff_pending = false;
		}
		/* What the kernel did not take stays prepared for the next call. */
		io->prepared -= SL_MIN((unsigned)r, io->prepared);
		return r;
	}
#endif
	bool cancel = false;

	for (unsigned i = 0; i < n; i++) {
		const struct sync_op *op = &io->ops[i];
		int32_t res = cancel ? -ECANCELED : sync_exec(op);
		unsigned tail = (io->done_head + io->done_count) % io->depth;

		if (!cancel && op->kind == OP_WRITE && res >= 0 && (size_t)res != op->len)
			res = -EIO;
		io->done[tail] = (struct sl_io_cqe){op->user_data, res};
		io->done_count++;
		cancel = op->link && res < 0;
	}
	io->prepared = 0;
	return (int)n;
}

int sl_io_reap(struct sl_io *io, struct sl_io_cqe *out, unsigned max, bool wait)
{
	unsigned n = 0;

#ifdef SL_HAVE_LIBURING
	if (io->backend == SL_IO_URING) {
		struct io_uring_cqe *cqe;
		unsigned head;

		if (wait && io->inflight > 0 && max > 0) {
			int r;

			do {
				r = io_uring_wait_cqe(&io->ring, &cqe);
			} while (r == -EINTR);
			if (r < 0)
				return r;
		}
		/* Completions waiting as task work (COOP_TASKRUN): run it. */
		if (IO_URING_READ_ONCE(*io->ring.sq.kflags) & IORING_SQ_TASKRUN)
			(void)io_uring_get_events(&io->ring);
		io_uring_for_each_cqe(&io->ring, head, cqe)
		{
			if (n == max)
				break;
			out[n].user_data = io_uring_cqe_get_data64(cqe);
			out[n].res = cqe->res;
			n++;
		}
		io_uring_cq_advance(&io->ring, n);
		io->inflight -= n;
		return (int)n;
	}
#endif
	(void)wait;
	while (n < max && io->done_count > 0) {
		out[n++] = io->done[io->done_head];
		io->done_head = (io->done_head + 1) % io->depth;
		io->done_count--;
	}
	io->inflight -= n;
	return (int)n;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The storage layer's I/O queue: writes and fdatasyncs are prepared, submitted
 * in one batch per poll, and reaped as completions carrying the caller's
 * user_data and a result (bytes written or -errno).
 *
 * Two backends with the same semantics:
 * - io_uring: one ring per store; registered files and buffers when the
 *   kernel accepts them (a write then uses IORING_OP_WRITE_FIXED and a fixed
 *   file slot); a fdatasync can be linked after the write before it.
 * - sync: pwrite(2)/fdatasync(2) executed in submission order at
 *   sl_io_submit(), completions queued for the next reap. It serves kernels
 *   where io_uring is missing or forbidden (sysctl kernel.io_uring_disabled,
 *   seccomp), and tests.
 *
 * sl_io_create() picks io_uring unless told otherwise or unless setting it
 * up fails; sl_io_backend() says which one it got (the daemon prints it once).
 */
#ifndef SL_STORAGE_IO_H
#define SL_STORAGE_IO_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum sl_io_backend {
	SL_IO_AUTO = 0,
	SL_IO_URING,
	SL_IO_SYNC,
};

struct sl_io;

struct sl_io_cqe {
	uint64_t user_data;
	int32_t res;
};

/* A file the queue writes to: its descriptor and, when registered, its slot. */
struct sl_io_file {
	int fd;
	int slot; /* -1 when not registered */
};

/*
 * Creates a queue for up to depth operations in flight, with room for
 * nr_file_slots registered files and nr_buf_slots registered buffers.
 * want is SL_IO_AUTO, SL_IO_URING (fail if unavailable) or SL_IO_SYNC.
 * *ret_uring_err is set to the io_uring setup error when AUTO fell back
 * to sync (0 otherwise).
 */
int sl_io_create(enum sl_io_backend want, unsigned depth, unsigned nr_file_slots,
                 unsigned nr_buf_slots, int *ret_uring_err, struct sl_io **ret);
void sl_io_free(struct sl_io *io);

enum sl_io_backend sl_io_backend(const struct sl_io *io);

/*
 * Asks that io_uring's worker threads for this queue (writes it punts to
 * them) run on the CPUs in set, not on the owner's (typically a busy-polling
 * core). Applied from the owner thread right after its next submit, when
 * the kernel has its worker pool; best effort. No effect on the pwrite
 * backend, which has no workers.
 */
void sl_io_set_worker_cpus(struct sl_io *io, const cpu_set_t *set);
const char *sl_io_backend_name(enum sl_io_backend b);

/* Registers fd in slot; afterwards file->slot is slot, or -1 if the backend
 * has no registered files. Passing fd -1 clears the slot. */
int sl_io_file_set(struct sl_io *io, unsigned slot, int fd, struct sl_io_file *file);

/* Registers [base, base+len) as buffer slot. Returns 0, or -errno if the
 * kernel refused (the caller then writes unregistered). */
int sl_io_buffer_register(struct sl_io *io, unsigned slot, void *base, size_t len);

/* Gives the pages of a registered buffer back (before they are freed). */
void sl_io_buffer_unregister(struct sl_io *io, unsigned slot);

/* Room for n more prepared operations without exceeding depth. */
bool sl_io_has_room(const struct sl_io *io, unsigned n);

enum {
	/* The next prepared operation starts only after this one succeeded. */
	SL_IO_LINK = 1u << 0,
	/* io_uring: run the write on io_uring's workers (IOSQE_ASYNC) instead
	 * of trying it inline. A direct write into preallocated (unwritten)
	 * ext4 extents takes the inode's extent lock in the submitting thread,
	 * which then waits behind the conversion of the file's previous write;
	 * a write to a file with no write in flight is better inline, since
	 * punted writes queue before the fdatasyncs in the same workers. */
	SL_IO_ASYNC = 1u << 1,
};

/* Prepares a write of [buf, buf+len) at off. buf_slot is the registered
 * buffer that holds buf, or -1. flags: SL_IO_LINK, SL_IO_ASYNC. */
int sl_io_prep_write(struct sl_io *io, const struct sl_io_file *f, const void *buf, size_t len,
                     off_t off, int buf_slot, unsigned flags, uint64_t user_data);

/* Prepares a buffered (unregistered) write, for index files. */
int sl_io_prep_write_plain(struct sl_io *io, int fd, const void *buf, size_t len, off_t off,
                           uint64_t user_data);

int sl_io_prep_fdatasync(struct sl_io *io, const struct sl_io_file *f, uint64_t user_data);

/* Submits everything prepared. Returns the number submitted or -errno. */
int sl_io_submit(struct sl_io *io);

/* Reaps up to max completions without blocking; with wait, blocks until at
 * least one is there (if any operation is in flight). */
int sl_io_reap(struct sl_io *io, struct sl_io_cqe *out, unsigned max, bool wait);

/* Operations submitted and not yet reaped. */
unsigned sl_io_inflight(const struct sl_io *io);

#endif

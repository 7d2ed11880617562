/* SPDX-License-Identifier: Apache-2.0 */
/* Shared test helpers: temporary directories, record builders, file pokes. */
#ifndef SL_TESTS_T_UTIL_H
#define SL_TESTS_T_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

/* Makes a fresh directory under $SLUICE_TEST_TMPDIR (default /var/tmp, a
 * disk-backed file system where O_DIRECT works). Returns a malloc'd path. */
char *t_tmpdir(const char *tag);
/* Removes a directory tree (test-made only). */
void t_rm_rf(const char *path);

/* A small config so that tests roll segments quickly. */
void t_small_config(struct sl_store_config *c);

/* Fills rec with key "k<i>", data of len bytes derived from (seed, i). */
void t_record(struct sl_record_in *rec, char *keybuf, uint8_t *databuf, uint32_t i, uint32_t len,
              uint32_t seed);
/* Whether data matches what t_record() made for (seed, i). */
int t_record_check(const struct sl_record_out *o, uint32_t i, uint32_t len, uint32_t seed);

/* Polls st until every batch appended is durable; returns durable events
 * seen (events are counted into *ret_events if not NULL). */
int t_drain(struct sl_store *st, struct sl_log *log, unsigned *ret_events);

/* Appends count records of len bytes in batches of per_batch; returns the
 * first sequence number. Retries -EAGAIN by polling. */
uint64_t t_fill(struct sl_store *st, struct sl_log *log, uint32_t first_i, uint32_t count,
                uint32_t per_batch, uint32_t len, uint32_t seed);

/* t_fill with arrival times t0 + i * step for the i-th record (t0 == 0:
 * now). */
uint64_t t_fill_ts(struct sl_store *st, struct sl_log *log, uint32_t first_i, uint32_t count,
                   uint32_t per_batch, uint32_t len, uint32_t seed, int64_t t0, int64_t step);

/* Path of a segment file "<dir>/<20 digits>.<ext>". */
void t_seg_path(char *buf, size_t cap, const char *dir, uint64_t base, const char *ext);
/* Base sequence numbers of the segments in dir, sorted; returns the count. */
int t_list_segments(const char *dir, uint64_t *bases, int max);
uint64_t t_file_size(const char *path);
void t_truncate(const char *path, uint64_t size);
void t_flip_bit(const char *path, uint64_t off, int bit);
void t_unlink(const char *path);

#endif

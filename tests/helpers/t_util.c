/* SPDX-License-Identifier: Apache-2.0 */
#include "t_util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"

char *t_tmpdir(const char *tag)
{
	const char *base = getenv("SLUICE_TEST_TMPDIR");
	char *p;

	if (!base)
		base = "/var/tmp";
	if (asprintf(&p, "%s/sluice-test-%s-XXXXXX", base, tag) < 0)
		cr_assert_fail("asprintf");
	cr_assert_not_null(mkdtemp(p), "mkdtemp %s: %s", p, strerror(errno));
	return p;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void t_rm_rf(const char *path)
{
	if (path && strstr(path, "sluice-test-"))
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void t_small_config(struct sl_store_config *c)
{
	sl_store_config_default(c);
	c->max_logs = 8;
	c->segment_bytes = 1u << 20;
	c->buffer_bytes = 256u << 10;
	c->max_record_bytes = 64u << 10;
	c->write_chunk_bytes = 64u << 10;
	c->index_interval_bytes = 4096;
	c->io_depth = 128;
}

static uint8_t data_byte(uint32_t seed, uint32_t i, uint32_t j)
{
	uint32_t x = seed * 2654435761u ^ i * 40503u ^ j * 2246822519u;

	x ^= x >> 15;
	return (uint8_t)x;
}

void t_record(struct sl_record_in *rec, char *keybuf, uint8_t *databuf, uint32_t i, uint32_t len,
              uint32_t seed)
{
	int kl = snprintf(keybuf, 32, "k%u", i);

	for (uint32_t j = 0; j < len; j++)
		databuf[j] = data_byte(seed, i, j);
	memset(rec, 0, sizeof(*rec));
	rec->key = keybuf;
	rec->key_len = (uint16_t)kl;
	rec->data = databuf;
	rec->data_len = len;
	rec->hash_key[0] = (uint8_t)i;
	rec->hash_key[15] = (uint8_t)(i >> 8);
	rec->arrival_ns = sl_wall_ns();
}

int t_record_check(const struct sl_record_out *o, uint32_t i, uint32_t len, uint32_t seed)
{
	char key[32];
	int kl = snprintf(key, sizeof(key), "k%u", i);
	const uint8_t *d = o->data;

	if (o->key_len != (uint32_t)kl || memcmp(o->key, key, (size_t)kl) != 0)
		return 0;
	if (o->data_len != len)
		return 0;
	for (uint32_t j = 0; j < len; j++)
		if (d[j] != data_byte(seed, i, j))
			return 0;
	return 1;
}

int t_drain(struct sl_store *st, struct sl_log *log, unsigned *ret_events)
{
	struct sl_log_event ev[64];
	unsigned events = 0;
	int r;

	r = sl_log_sync(log);
	if (r < 0)
		return r;
	while ((r = sl_store_poll(st, ev, 64)) > 0)
		events += (unsigned)r;
	if (ret_events)
		*ret_events = events;
	return r < 0 ? r : 0;
}

uint64_t t_fill_ts(struct sl_store *st, struct sl_log *log, uint32_t first_i, uint32_t count,
                   uint32_t per_batch, uint32_t len, uint32_t seed, int64_t t0, int64_t step)
{
	struct sl_record_in *recs = calloc(per_batch, sizeof(*recs));
	char(*keys)[32] = calloc(per_batch, 32);
	uint8_t *data = malloc((size_t)per_batch * (len ? len : 1));
	struct sl_log_event ev[64];
	uint64_t first = 0;

	for (uint32_t i = 0; i < count;) {
		uint32_t n = count - i < per_batch ? count - i : per_batch;
		uint64_t seq;
		int r;

		for (uint32_t k = 0; k < n; k++) {
			t_record(&recs[k], keys[k], data + (size_t)k * len, first_i + i + k, len,
			         seed);
			if (t0)
				recs[k].arrival_ns = t0 + (int64_t)(i + k) * step;
		}
		while ((r = sl_log_append(log, recs, n, i, SL_NOTIFY_DURABLE, &seq)) == -EAGAIN)
			cr_assert_geq(sl_store_poll(st, ev, 64), 0);
		cr_assert_eq(r, 0, "append: %s", strerror(-r));
		if (i == 0)
			first = seq;
		i += n;
		sl_store_poll(st, ev, 64);
	}
	free(recs);
	free(keys);
	free(data);
	return first;
}

uint64_t t_fill(struct sl_store *st, struct sl_log *log, uint32_t first_i, uint32_t count,
                uint32_t per_batch, uint32_t len, uint32_t seed)
{
	return t_fill_ts(st, log, first_i, count, per_batch, len, seed, 0, 0);
}

void t_seg_path(char *buf, size_t cap, const char *dir, uint64_t base, const char *ext)
{
	snprintf(buf, cap, "%s/%020" PRIu64 ".%s", dir, base, ext);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int t_list_segments(const char *dir, uint64_t *bases, int max)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)) && n < max) {
		size_t l = strlen(de->d_name);

		if (l == 24 && strcmp(de->d_name + 20, ".log") == 0)
			bases[n++] = strtoull(de->d_name, NULL, 10);
	}
	closedir(d);
	qsort(bases, (size_t)n, sizeof(*bases), cmp_u64);
	return n;
}

uint64_t t_file_size(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "stat %s", path);
	return (uint64_t)st.st_size;
}

void t_truncate(const char *path, uint64_t size)
{
	cr_assert_eq(truncate(path, (off_t)size), 0, "truncate %s", path);
}

void t_flip_bit(const char *path, uint64_t off, int bit)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &b, 1, (off_t)off), 1);
	b ^= (uint8_t)(1u << bit);
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

void t_unlink(const char *path)
{
	cr_assert_eq(unlink(path), 0, "unlink %s", path);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf_append: durable append bandwidth and ack latency of the storage layer
 * on one thread, as a ratio to what the same file system gives raw, measured
 * in the same run.
 *
 * Cases: record size (100 B, 1 KiB, 64 KiB) x shard logs in one store (1, 16,
 * 256). One thread round-robins one append of a fixed number of records to
 * each log, then calls sl_store_poll(). A record counts when the durable
 * event of its batch arrives; its latency runs from the append call to the
 * return of the poll that reported it (the append time is kept per batch in
 * a ring indexed by cookie). Only events that arrive in the measured window,
 * after a warm-up, count.
 *
 * Limits, measured on the same file system right after each case:
 *  (a) io_uring O_DIRECT sequential writes into fallocated files, at the
 *      average write size and the queue depth the log could use
 *      (write_depth x shards, capped at io_depth): bandwidth;
 *  (b) 4 KiB O_DIRECT pwrite + fdatasync at queue depth 1, appending into a
 *      fallocated file as the log does: latency percentiles and rate.
 * Then an open-loop run of 1 KiB x 1 shard at half the rate that case
 * reached, appends scheduled at fixed intervals and latency counted from the
 * scheduled time, so a stall delays every append behind it in the numbers
 * too (no coordinated omission).
 *
 * Sweeps, new case families run instead of the cases above unless --cases
 * is given too: --sizes (record bytes on 1 shard log) and --shards (shard
 * logs of 1 KiB records on the one thread, so shards per core). Each point is
 * a closed-loop case like the others, with records per append chosen as for
 * the cases (about 16 KiB of data, 1 to 64 records) and its own raw limit (a)
 * at the write size it issued.
 *
 * Disk use is bounded: a case whose worst case does not fit the free space
 * (with a margin) is skipped; retention (two segments per log) runs inside
 * the window only when free space gets short, else once after it, timed;
 * every case removes its files. A case whose rings would take more than half
 * of the available memory, or whose files the open-file limit cannot hold,
 * is skipped too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifdef SL_HAVE_LIBURING
#include <liburing.h>
#endif

#include "clock.h"
#include "compiler.h"
#include "err.h"
#include "fs.h"
#include "hist.h"
#include "log.h"
#include "machine.h"

#define KIB (1ull << 10)
#define MIB (1ull << 20)
#define GIB (1ull << 30)
#define MB  1e6 /* bandwidths are in 10^6 bytes per second */

#define MIN_FREE_BYTES       (4 * GIB) /* refuse to start below this */
#define MIN_FREE_BYTES_QUICK (GIB)     /* --quick uses small segments */
#define EXIT_SKIP            77        /* the machine lacks what the run needs */
#define FREE_MARGIN          GIB       /* never plan to use the last GiB */
#define KEY_BYTES            16
#define EV_MAX               4096
#define SLOW_CALL_NS         1000000  /* a call this long is a stall */
#define RETAIN_EVERY_NS      50000000 /* how often free space is checked */
#define RAW_SYNC_BS          4096
#define MAX_SETS             32
#define MAX_SWEEP            32         /* points per sweep */
#define SWEEP_BATCH_BYTES    (16 * KIB) /* record data per append in a sweep ... */
#define SWEEP_MAX_BATCH      64         /* ... in at most this many records */
#define SWEEP_MAX_REC_BYTES  (64 * KIB) /* the records' data is one 64 KiB buffer */
#define SWEEP_MAX_SHARDS     4096
#define SHARDS_REC_BYTES     1024 /* record size of the shard sweep */
#define FDS_PER_LOG          10   /* directory + 3 segments (active, next, sealing) x 3 files */

struct case_def {
	const char *name;
	uint32_t rec_bytes;
	uint32_t shards;
	uint32_t batch; /* records per append */
};

/* Batches of ~10-16 KiB for small records: large enough that the per-append
 * cost is spread, small enough that 256 logs x a few batches fit the rings. */
static const struct case_def cases[] = {
        {"100b-1", 100, 1, 64}, {"100b-16", 100, 16, 64}, {"100b-256", 100, 256, 64},
        {"1k-1", 1024, 1, 16},  {"1k-16", 1024, 16, 16},  {"1k-256", 1024, 256, 16},
        {"64k-1", 65536, 1, 1}, {"64k-16", 65536, 16, 1}, {"64k-256", 65536, 256, 1},
};
#define NCASES      SL_ARRAY_SIZE(cases)
#define CASE_1K_1   3
#define CASE_1K_256 5
#define CASE_100_1  0

struct opts {
	const char *dir;
	double seconds;
	bool quick;
	bool steady; /* retention inside the window: logs at their size limit */
	const char *csv;
	const char *json;
	bool want[NCASES];
	bool want_half;
	const char *sets[MAX_SETS];
	unsigned nsets;
	double load;               /* of the 1k-1 maximum, for the open-loop run */
	uint32_t sizes[MAX_SWEEP]; /* --sizes: record bytes, 1 shard */
	unsigned nsizes;
	uint32_t shards[MAX_SWEEP]; /* --shards: logs of 1 KiB records */
	unsigned nshards;
};

/* Where the main thread's time went in the measured window. */
struct loop_time {
	int64_t append_ns, poll_ns, retain_ns;
	int64_t max_append_ns, max_poll_ns;
	uint64_t slow_appends, slow_polls;
	uint64_t retained; /* segments removed in the window */
};

struct raw_bw {
	uint32_t bs;
	unsigned qd;
	double mbps;
	double final_sync_ms;
	bool uring;
	bool valid;
};

struct case_result {
	bool ran;
	char skipped[160];
	struct sl_store_config cfg;
	double interval_ns;  /* open loop: one append per interval; 0: closed loop */
	double target_rec_s; /* open loop */
	double max_behind_ms;
	double window_s;
	uint64_t records, batches;
	double rec_per_s, data_mbps, log_mbps, dev_mbps;
	struct sl_hist lat;
	struct sl_log_stats st; /* summed over logs, window deltas */
	double avg_write;       /* appended bytes per write */
	double cpu_cores, main_cores;
	double other_cores; /* other processes during the case */
	struct loop_time lt;
	int retain_after; /* segments removed right after the window */
	double retain_after_ms;
	struct raw_bw raw;
	double ratio_data, ratio_log;
};

struct raw_sync {
	bool ran;
	struct sl_hist lat;
	double rate;
	double window_s;
};

struct setup {
	char cpu[128];
	long cpus;
	char kernel[320];
	char fs[32];
	char mount[1100];
	char blockdev[80];
	char devinfo[400];
	char devstat[96];
	char backend[64];
	int uring_err;
	uint64_t free_bytes;
	char journal[64];
	char loadavg[64];
	struct raw_bw drift[2]; /* raw (a) at 512 KiB x 4 at the start and the end */
};

static struct opts o;
static struct setup su;
static struct case_result res[NCASES];
static struct raw_sync rsync, rsync_over;

/* The write+fdatasync latency a case is held to: over written blocks when
 * the log overwrites reused segments (--steady), else appending into
 * fallocated ones, as the log does. */
static const struct raw_sync *rsync_ref(void)
{
	return o.steady && rsync_over.ran ? &rsync_over : &rsync;
}
static struct case_result half;

/* One point of a sweep: a case made at run time. */
struct sweep_point {
	char name[24];
	struct case_def d;
	struct case_result r;
};

static struct sweep_point size_pts[MAX_SWEEP], shard_pts[MAX_SWEEP];
static char run_dir[PATH_MAX];
static bool made_base_dir;
static volatile sig_atomic_t stop;
static uint8_t *data_buf;

/* ---- small helpers ---- */

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double ms(int64_t ns)
{
	return (double)ns / 1e6;
}

/* Formats a latency with a unit that keeps three significant digits. */
static const char *fmt_ns(char *buf, size_t cap, uint64_t ns)
{
	if (ns < 10000)
		snprintf(buf, cap, "%.2f us", (double)ns / 1e3);
	else if (ns < 1000000)
		snprintf(buf, cap, "%.0f us", (double)ns / 1e3);
	else if (ns < 100000000)
		snprintf(buf, cap, "%.2f ms", (double)ns / 1e6);
	else
		snprintf(buf, cap, "%.0f ms", (double)ns / 1e6);
	return buf;
}

static const char *fmt_bytes(char *buf, size_t cap, uint64_t v)
{
	if (v >= GIB && v % GIB == 0)
		snprintf(buf, cap, "%llu GiB", (unsigned long long)(v / GIB));
	else if (v >= MIB && v % MIB == 0)
		snprintf(buf, cap, "%llu MiB", (unsigned long long)(v / MIB));
	else if (v >= KIB && v % KIB == 0)
		snprintf(buf, cap, "%llu KiB", (unsigned long long)(v / KIB));
	else
		snprintf(buf, cap, "%llu B", (unsigned long long)v);
	return buf;
}

static uint64_t next_pow2(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static uint64_t free_bytes(const char *path)
{
	struct statvfs v;

	if (statvfs(path, &v) < 0)
		return 0;
	return (uint64_t)v.f_bavail * v.f_frsize;
}

/* Sectors written by the device holding the benchmark directory, in bytes
 * (journal and metadata included), or 0 if unknown. */
static uint64_t dev_written_bytes(void)
{
	char line[512];
	unsigned long long v[7] = {0};

	if (!su.devstat[0])
		return 0;
	sl_machine_read_line(su.devstat, line, sizeof(line));
	if (sscanf(line, "%llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
	           &v[5], &v[6]) != 7)
		return 0;
	return v[6] * 512;
}

/*
 * CPU seconds used so far by the other user processes on the machine (and
 * the children they reaped): work this run competes with for two cores.
 * Kernel threads are left out; they also do this process's I/O.
 */
static double other_cpu_s(void)
{
	long tick = sysconf(_SC_CLK_TCK);
	pid_t self = getpid();
	unsigned long long sum = 0;
	struct dirent *de;
	DIR *d = opendir("/proc");

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[300], buf[1024], *p;
		unsigned long long flags = 0, ut = 0, st = 0, cut = 0, cst = 0;
		long pid = strtol(de->d_name, &p, 10);
		FILE *f;
		int n;

		if (*p || pid <= 0 || pid == self)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		n = fgets(buf, sizeof(buf), f) != NULL;
		fclose(f);
		/* Fields after the command, which may hold spaces: state is 3. */
		p = n ? strrchr(buf, ')') : NULL;
		if (!p || sscanf(p + 2,
		                 "%*c %*d %*d %*d %*d %*d %llu %*u %*u %*u %*u %llu %llu %llu %llu",
		                 &flags, &ut, &st, &cut, &cst) != 5)
			continue;
		if (flags & 0x00200000) /* PF_KTHREAD */
			continue;
		sum += ut + st + cut + cst;
	}
	closedir(d);
	return tick > 0 ? (double)sum / (double)tick : 0;
}

static double cpu_s(const struct rusage *u)
{
	return (double)u->ru_utime.tv_sec + (double)u->ru_utime.tv_usec / 1e6 +
	       (double)u->ru_stime.tv_sec + (double)u->ru_stime.tv_usec / 1e6;
}

static void stats_sum(struct sl_log **logs, unsigned n, struct sl_log_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (unsigned i = 0; i < n; i++) {
		struct sl_log_stats s;

		sl_log_stats(logs[i], &s);
		ret->appended_batches += s.appended_batches;
		ret->appended_records += s.appended_records;
		ret->appended_bytes += s.appended_bytes;
		ret->writes += s.writes;
		ret->fdatasyncs += s.fdatasyncs;
		ret->segments_rolled += s.segments_rolled;
		ret->throttled += s.throttled;
		ret->index_write_errors += s.index_write_errors;
	}
}

static void stats_sub(struct sl_log_stats *a, const struct sl_log_stats *b)
{
	a->appended_batches -= b->appended_batches;
	a->appended_records -= b->appended_records;
	a->appended_bytes -= b->appended_bytes;
	a->writes -= b->writes;
	a->fdatasyncs -= b->fdatasyncs;
	a->segments_rolled -= b->segments_rolled;
	a->throttled -= b->throttled;
	a->index_write_errors -= b->index_write_errors;
}

/* Lets the device finish what the previous phase left behind (discards of
 * removed files, the host's write-back) before the next phase is measured. */
static void settle(void)
{
	int fd = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
	if (!o.quick)
		usleep(250 * 1000);
}

static double warm_s(void)
{
	return o.quick ? 0.02 : SL_MAX(0.1, o.seconds / 4);
}

static double measure_s(void)
{
	return o.quick ? 0.1 : o.seconds;
}

/* ---- store configuration ---- */

static int config_set(struct sl_store_config *c, const char *name, unsigned long long v)
{
#define SL_X_SET(n, type, def, min, max, doc)                                                      \
	if (strcmp(name, #n) == 0) {                                                               \
		c->n = (type)v;                                                                    \
		return 0;                                                                          \
	}
	SL_STORE_CONFIG(SL_X_SET)
#undef SL_X_SET
	return -ENOENT;
}

static int apply_set(struct sl_store_config *c, const char *s)
{
	char name[64];
	const char *eq = strchr(s, '=');
	char *end;
	unsigned long long v;

	if (!eq || (size_t)(eq - s) >= sizeof(name))
		return -EINVAL;
	memcpy(name, s, (size_t)(eq - s));
	name[eq - s] = '\0';
	errno = 0;
	v = strtoull(eq + 1, &end, 0);
	if (errno || end == eq + 1)
		return -EINVAL;
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	else if (*end == 'g' || *end == 'G')
		v <<= 30, end++;
	if (*end)
		return -EINVAL;
	return config_set(c, name, v);
}

/*
 * The store each case runs: defaults, except that records are at most
 * 64 KiB (so rings can be small), and 256 logs get 8 MiB segments and 1 MiB
 * rings (256 x 64 MiB of preallocation per core would be a poor config).
 * --quick shrinks segments so that rolls happen in its short runs.
 */
static void case_config(const struct case_def *d, struct sl_store_config *c)
{
	sl_store_config_default(c);
	c->max_logs = SL_MAX(d->shards, 1u);
	c->max_record_bytes = 64 * KIB;
	if (d->shards >= 64) {
		c->segment_bytes = 8 * MIB;
		c->buffer_bytes = 1 * MIB;
	}
	if (o.quick) {
		c->segment_bytes = d->shards >= 64 ? 1 * MIB : 8 * MIB;
		c->buffer_bytes = d->shards >= 64 ? 256 * KIB : 2 * MIB;
	}
	for (unsigned i = 0; i < o.nsets; i++)
		apply_set(c, o.sets[i]);
}

static void config_print(FILE *f, const struct sl_store_config *c)
{
	char b[32];
	int col = 4;

	fprintf(f, "    ");
#define SL_X_PRINT(n, type, def, min, max, doc)                                                    \
	{                                                                                          \
		char item[96];                                                                     \
		int len;                                                                           \
		if (strstr(#n, "bytes"))                                                           \
			len = snprintf(item, sizeof(item), "%s=%s", #n,                            \
			               fmt_bytes(b, sizeof(b), (uint64_t)c->n));                   \
		else                                                                               \
			len = snprintf(item, sizeof(item), "%s=%llu", #n,                          \
			               (unsigned long long)c->n);                                  \
		if (col + len + 1 > 100) {                                                         \
			fprintf(f, "\n    ");                                                      \
			col = 4;                                                                   \
		}                                                                                  \
		col += fprintf(f, "%s ", item);                                                    \
	}
	SL_STORE_CONFIG(SL_X_PRINT)
#undef SL_X_PRINT
	fprintf(f, "\n");
}

static void config_json(FILE *f, const struct sl_store_config *c)
{
	bool first = true;

	fprintf(f, "{");
#define SL_X_JSON(n, type, def, min, max, doc)                                                     \
	fprintf(f, "%s\"%s\": %llu", first ? "" : ", ", #n, (unsigned long long)c->n);             \
	first = false;
	SL_STORE_CONFIG(SL_X_JSON)
#undef SL_X_JSON
	fprintf(f, "}");
}

/* ---- setup ---- */

static const char *fs_name(long type)
{
	static const struct {
		long magic;
		const char *name;
	} t[] = {
	        {0xEF53, "ext2/3/4"},  {0x58465342, "xfs"},     {0x9123683E, "btrfs"},
	        {0x01021994, "tmpfs"}, {0x794c7630, "overlay"}, {0x2FC12FC1, "zfs"},
	        {0xF2F52010, "f2fs"},  {0x6969, "nfs"},         {0x65735546, "fuse"},
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(t); i++)
		if (t[i].magic == type)
			return t[i].name;
	return "unknown";
}

static void setup_collect(const char *dir)
{
	struct statfs sf;
	struct stat sb;
	char real[PATH_MAX], line[1024], path[64], link[PATH_MAX];
	size_t best = 0;
	FILE *f;

	sl_machine_cpu_model(su.cpu, sizeof(su.cpu));
	su.cpus = sysconf(_SC_NPROCESSORS_ONLN);
	sl_machine_kernel(su.kernel, sizeof(su.kernel));
	snprintf(su.fs, sizeof(su.fs), "unknown");
	if (statfs(dir, &sf) == 0)
		snprintf(su.fs, sizeof(su.fs), "%s", fs_name((long)sf.f_type));

	/* The mount holding dir: the longest mount point that prefixes it. */
	if (!realpath(dir, real))
		snprintf(real, sizeof(real), "%s", dir);
	f = fopen("/proc/mounts", "re");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			char dev[256], mnt[256], type[64], opts[400];
			size_t n;

			if (sscanf(line, "%255s %255s %63s %399s", dev, mnt, type, opts) != 4)
				continue;
			n = strlen(mnt);
			if (strncmp(real, mnt, n) != 0 ||
			    (n > 1 && real[n] != '/' && real[n] != '\0'))
				continue;
			if (n >= best) {
				best = n;
				snprintf(su.mount, sizeof(su.mount), "%s on %s type %s (%s)", dev,
				         mnt, type, opts);
			}
		}
		fclose(f);
	}

	/* The block device, by the directory's st_dev. */
	if (stat(dir, &sb) == 0) {
		unsigned maj = major(sb.st_dev), min = minor(sb.st_dev);
		char wc[64] = "", rot[16] = "", sched[128] = "", model[128] = "";
		ssize_t n;

		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", maj, min);
		n = readlink(path, link, sizeof(link) - 1);
		if (n > 0) {
			const char *base;
			char q[128], p[160];

			link[n] = '\0';
			base = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
			snprintf(su.blockdev, sizeof(su.blockdev), "%.48s (%u:%u)", base, maj, min);
			snprintf(su.devstat, sizeof(su.devstat), "%s/stat", path);
			/* A partition's queue is its parent's. */
			snprintf(q, sizeof(q), "%s/queue", path);
			if (access(q, F_OK) != 0)
				snprintf(q, sizeof(q), "%s/../queue", path);
			snprintf(p, sizeof(p), "%s/write_cache", q);
			sl_machine_read_line(p, wc, sizeof(wc));
			snprintf(p, sizeof(p), "%s/rotational", q);
			sl_machine_read_line(p, rot, sizeof(rot));
			snprintf(p, sizeof(p), "%s/scheduler", q);
			sl_machine_read_line(p, sched, sizeof(sched));
			snprintf(p, sizeof(p), "%s/device/model", path);
			sl_machine_read_line(p, model, sizeof(model));
			snprintf(su.devinfo, sizeof(su.devinfo),
			         "write_cache=%s rotational=%s scheduler=%s%s%s", wc[0] ? wc : "?",
			         rot[0] ? rot : "?", sched[0] ? sched : "?",
			         model[0] ? " model=" : "", model);
		} else {
			snprintf(su.blockdev, sizeof(su.blockdev), "none (%u:%u)", maj, min);
		}
	}
	su.free_bytes = free_bytes(dir);
	sl_machine_read_line("/proc/loadavg", su.loadavg, sizeof(su.loadavg));

	/* ext4 without a journal syncs metadata buffers itself on fdatasync. */
	if (strcmp(su.fs, "ext2/3/4") == 0 && su.blockdev[0] && strncmp(su.blockdev, "none", 4)) {
		char name[96], jp[160];
		struct stat js;

		snprintf(name, sizeof(name), "%s", su.blockdev);
		name[strcspn(name, " ")] = '\0';
		snprintf(jp, sizeof(jp), "/proc/fs/jbd2/%s-8", name);
		snprintf(su.journal, sizeof(su.journal), "%s",
		         stat(jp, &js) == 0 ? "jbd2 (ext4 journal)"
		                            : "none (no /proc/fs/jbd2 entry)");
	}
}

static void setup_print(void)
{
	char b[32];

	printf("perf_append: durable appends on one thread vs the raw file system\n");
	printf("setup\n");
	printf("  cpu:        %s, %ld online\n", su.cpu, su.cpus);
	printf("  kernel:     %s\n", su.kernel);
	printf("  directory:  %s (statfs: %s)\n", run_dir, su.fs);
	printf("  mount:      %s\n", su.mount[0] ? su.mount : "unknown");
	printf("  device:     %s %s\n", su.blockdev[0] ? su.blockdev : "unknown", su.devinfo);
	if (su.journal[0])
		printf("  journal:    %s\n", su.journal);
	printf("  free:       %s\n", fmt_bytes(b, sizeof(b), su.free_bytes / MIB * MIB));
	printf("  load:       %s (/proc/loadavg at start)\n", su.loadavg);
	printf("  duration:   %.2f s per case after %.2f s warm-up%s\n", measure_s(), warm_s(),
	       o.quick ? " (--quick)" : "");
#ifdef SL_HAVE_LIBURING
	printf("  liburing:   built in (raw limit (a) uses io_uring)\n");
#else
	printf("  liburing:   not built (raw limit (a) uses pwrite at queue depth 1)\n");
#endif
	printf("  units:      MB = 10^6 bytes; data = record payload bytes; log = encoded\n"
	       "              batch bytes (headers, keys, padding); device = sectors the\n"
	       "              block device wrote (journal and metadata included)\n");
	fflush(stdout);
}

/* ---- raw limits ---- */

struct raw_file {
	int fd;
	unsigned inflight;
	char path[PATH_MAX + 32];
};

static int raw_file_open(const char *dir, unsigned gen, uint64_t bytes, struct raw_file *f)
{
	int r;

	snprintf(f->path, sizeof(f->path), "%s/raw-%u.dat", dir, gen);
	f->inflight = 0;
	f->fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0644);
	if (f->fd < 0 && errno == EINVAL) /* as the log does where O_DIRECT is refused */
		f->fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (f->fd < 0)
		return -errno;
	if (fallocate(f->fd, 0, 0, (off_t)bytes) < 0) {
		r = -errno;
		close(f->fd);
		unlink(f->path);
		f->fd = -1;
		return r;
	}
	return 0;
}

/* --steady: the log overwrites reused segments, so the raw limit it is
 * compared with overwrites written blocks too. */
static int raw_file_prefill(struct raw_file *f, uint64_t bytes)
{
	void *blk;
	int r = 0;

	if (posix_memalign(&blk, 4096, MIB) != 0)
		return -ENOMEM;
	memset(blk, 0, MIB);
	for (uint64_t off = 0; off < bytes && r == 0; off += MIB)
		if (pwrite(f->fd, blk, (size_t)SL_MIN((uint64_t)MIB, bytes - off), (off_t)off) < 0)
			r = -errno;
	if (r == 0 && fdatasync(f->fd) < 0)
		r = -errno;
	free(blk);
	return r;
}

static void raw_file_close(struct raw_file *f)
{
	if (f->fd < 0)
		return;
	close(f->fd);
	unlink(f->path);
	f->fd = -1;
}

static uint64_t raw_file_bytes(void)
{
	return o.quick ? 64 * MIB : GIB;
}

#ifdef SL_HAVE_LIBURING
/* Reaps completions; counts bytes of those reaped at or after t0. */
static int raw_reap(struct io_uring *ring, struct raw_file *files, unsigned *inflight, uint32_t bs,
                    bool wait, int64_t t0, uint64_t *bytes)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	int64_t now;
	int r;

	if (wait && *inflight > 0) {
		do {
			r = io_uring_submit_and_wait(ring, 1);
		} while (r == -EINTR);
		if (r < 0)
			return r;
	}
	now = sl_mono_ns();
	io_uring_for_each_cqe(ring, head, cqe)
	{
		if (cqe->res != (int)bs)
			return cqe->res < 0 ? cqe->res : -EIO;
		files[io_uring_cqe_get_data64(cqe)].inflight--;
		n++;
		if (now >= t0)
			*bytes += bs;
	}
	io_uring_cq_advance(ring, n);
	*inflight -= n;
	return (int)n;
}
#endif

#define RAW_MAX_FILES 64

/*
 * (a): sequential O_DIRECT writes of bs bytes with qd in flight, into 1 GiB
 * fallocated files, a new one when one is full (as the log rolls segments).
 * Full files are removed after the window, not in it: on a file system
 * mounted with discard, an unlink discards synchronously (0.5 s for 1 GiB
 * here), which would measure the unlink, not the writes. Only if free space
 * gets short is the oldest finished file removed on the spot. Bandwidth over
 * a window like a case's; the final fdatasync is timed but not counted.
 */
static int raw_bandwidth(const char *dir, uint32_t bs, unsigned qd, double secs, struct raw_bw *ret)
{
	uint64_t fbytes = raw_file_bytes(), off = 0, bytes = 0;
	uint64_t floor = 2 * GIB + 2 * fbytes;

	settle();
	struct raw_file files[RAW_MAX_FILES];
	unsigned nfiles = 0, oldest = 0;
	int64_t start, t0, t1, tend = 0, ts;
	void *buf = NULL;
	int r;

	for (unsigned i = 0; i < RAW_MAX_FILES; i++)
		files[i].fd = -1;
	/* Never have more than a quarter of a file in flight. */
	qd = (unsigned)SL_MAX(1, SL_MIN((uint64_t)qd, fbytes / 4 / bs));
	if (posix_memalign(&buf, 4096, bs) != 0)
		return -ENOMEM;
	for (size_t i = 0; i < bs; i += 64 * KIB)
		memcpy((uint8_t *)buf + i, data_buf, SL_MIN((size_t)(bs - i), (size_t)(64 * KIB)));
	r = raw_file_open(dir, nfiles, fbytes, &files[nfiles]);
	if (r < 0)
		goto out;
	nfiles++;
	if (o.steady && (r = raw_file_prefill(&files[0], fbytes)) < 0)
		goto out;
	start = sl_mono_ns();
	t0 = start + (int64_t)(warm_s() * 1e9);
	t1 = t0 + (int64_t)(secs * 1e9);
#ifdef SL_HAVE_LIBURING
	struct io_uring ring;
	struct iovec iov = {.iov_base = buf, .iov_len = bs};
	unsigned inflight = 0;
	bool fixed;

	r = io_uring_queue_init(SL_MAX(qd, 8u), &ring, 0);
	if (r < 0)
		goto out;
	fixed = io_uring_register_buffers(&ring, &iov, 1) == 0;
	ret->uring = true;
	while (!stop && sl_mono_ns() < t1) {
		while (inflight < qd) {
			struct io_uring_sqe *sqe;
			unsigned cur;

			if (off + bs > fbytes && o.steady) {
				off = 0; /* overwrite the written file again */
			} else if (off + bs > fbytes) {
				/* Short of space (or of slots): drop the oldest
				 * file whose writes are done. */
				while (nfiles - oldest > 1 &&
				       (nfiles == RAW_MAX_FILES || free_bytes(dir) < floor)) {
					while (files[oldest].inflight > 0) {
						r = raw_reap(&ring, files, &inflight, bs, true, t0,
						             &bytes);
						if (r < 0)
							goto out_ring;
					}
					raw_file_close(&files[oldest++]);
				}
				if (nfiles == RAW_MAX_FILES) {
					r = -ENOSPC;
					goto out_ring;
				}
				r = raw_file_open(dir, nfiles, fbytes, &files[nfiles]);
				if (r < 0)
					goto out_ring;
				nfiles++;
				off = 0;
			}
			sqe = io_uring_get_sqe(&ring);
			if (!sqe)
				break;
			cur = nfiles - 1;
			if (fixed)
				io_uring_prep_write_fixed(sqe, files[cur].fd, buf, bs, off, 0);
			else
				io_uring_prep_write(sqe, files[cur].fd, buf, bs, off);
			io_uring_sqe_set_data64(sqe, cur);
			files[cur].inflight++;
			inflight++;
			off += bs;
		}
		r = raw_reap(&ring, files, &inflight, bs, true, t0, &bytes);
		if (r < 0)
			goto out_ring;
	}
	tend = sl_mono_ns();
	while (inflight > 0) {
		uint64_t ignore = 0;

		r = raw_reap(&ring, files, &inflight, bs, true, INT64_MAX, &ignore);
		if (r < 0)
			goto out_ring;
	}
	r = 0;
out_ring:
	io_uring_queue_exit(&ring);
	if (r < 0)
		goto out;
#else
	ret->uring = false;
	qd = 1;
	while (!stop && sl_mono_ns() < t1) {
		if (off + bs > fbytes && o.steady) {
			off = 0;
		} else if (off + bs > fbytes) {
			while (nfiles - oldest > 1 &&
			       (nfiles == RAW_MAX_FILES || free_bytes(dir) < floor))
				raw_file_close(&files[oldest++]);
			if (nfiles == RAW_MAX_FILES) {
				r = -ENOSPC;
				goto out;
			}
			r = raw_file_open(dir, nfiles, fbytes, &files[nfiles]);
			if (r < 0)
				goto out;
			nfiles++;
			off = 0;
		}
		if (pwrite(files[nfiles - 1].fd, buf, bs, (off_t)off) != (ssize_t)bs) {
			r = errno ? -errno : -EIO;
			goto out;
		}
		off += bs;
		if (sl_mono_ns() >= t0)
			bytes += bs;
	}
	tend = sl_mono_ns();
#endif
	if (stop) {
		r = -EINTR;
		goto out;
	}
	ts = sl_mono_ns();
	if (fdatasync(files[nfiles - 1].fd) < 0) {
		r = -errno;
		goto out;
	}
	ret->final_sync_ms = ms(sl_mono_ns() - ts);
	ret->bs = bs;
	ret->qd = qd;
	ret->mbps = tend > t0 ? (double)bytes / MB / ((double)(tend - t0) / 1e9) : 0;
	ret->valid = true;
	r = 0;
out:
	for (unsigned i = 0; i < nfiles; i++)
		raw_file_close(&files[i]);
	free(buf);
	return r;
}

/*
 * (b): 4 KiB O_DIRECT pwrite + fdatasync at queue depth 1, appending into a
 * fallocated file (each fdatasync then also commits the unwritten-extent
 * conversion, as the log's do). With overwrite, the same blocks are
 * rewritten instead: the device round trip alone.
 */
static int raw_fsync_latency(const char *dir, double secs, bool overwrite, struct raw_sync *ret)
{
	uint64_t fbytes = o.quick ? 16 * MIB : 256 * MIB, off = 0, n = 0;
	struct raw_file f = {.fd = -1};
	int64_t start, end;
	void *buf = NULL;
	int r;

	sl_hist_reset(&ret->lat);
	if (posix_memalign(&buf, 4096, RAW_SYNC_BS) != 0)
		return -ENOMEM;
	memcpy(buf, data_buf, RAW_SYNC_BS);
	r = raw_file_open(dir, 100 + overwrite, fbytes, &f);
	if (r < 0)
		goto out;
	if (overwrite) {
		/* Make the first MiB written and durable, then cycle over it. */
		for (uint64_t p = 0; p < MIB; p += RAW_SYNC_BS)
			if (pwrite(f.fd, buf, RAW_SYNC_BS, (off_t)p) != RAW_SYNC_BS) {
				r = errno ? -errno : -EIO;
				goto out;
			}
		if (fsync(f.fd) < 0) {
			r = -errno;
			goto out;
		}
		fbytes = MIB;
	}
	start = sl_mono_ns();
	end = start + (int64_t)(secs * 1e9);
	for (int64_t now = start; now < end && !stop;) {
		int64_t t = now;

		if (off + RAW_SYNC_BS > fbytes) {
			if (!overwrite)
				break;
			off = 0;
		}
		if (pwrite(f.fd, buf, RAW_SYNC_BS, (off_t)off) != RAW_SYNC_BS ||
		    fdatasync(f.fd) < 0) {
			r = errno ? -errno : -EIO;
			goto out;
		}
		now = sl_mono_ns();
		sl_hist_add_ns(&ret->lat, now - t);
		off += RAW_SYNC_BS;
		n++;
		ret->window_s = (double)(now - start) / 1e9;
	}
	ret->rate = ret->window_s > 0 ? (double)n / ret->window_s : 0;
	ret->ran = true;
	r = 0;
out:
	raw_file_close(&f);
	free(buf);
	return r;
}

/* ---- records ---- */

struct recs {
	struct sl_record_in *in;
	char (*keys)[KEY_BYTES];
	unsigned n;
};

static int recs_make(struct recs *rs, unsigned n, uint32_t len)
{
	rs->n = n;
	rs->in = calloc(n, sizeof(*rs->in));
	rs->keys = calloc(n, sizeof(*rs->keys));
	if (!rs->in || !rs->keys)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		struct sl_record_in *r = &rs->in[i];

		snprintf(rs->keys[i], KEY_BYTES, "key-%011u", i);
		r->key = rs->keys[i];
		r->key_len = KEY_BYTES - 1;
		r->data = data_buf;
		r->data_len = len;
		for (unsigned j = 0; j < 16; j++)
			r->hash_key[j] = (uint8_t)(i * 31 + j * 7);
	}
	return 0;
}

static void recs_free(struct recs *rs)
{
	free(rs->in);
	free(rs->keys);
}

/* One wall-clock read per round: the records' arrival times. */
static void recs_stamp(struct recs *rs)
{
	int64_t now = sl_wall_ns();

	for (unsigned i = 0; i < rs->n; i++)
		rs->in[i].arrival_ns = now;
}

/* ---- the closed-loop cases ---- */

static uint64_t case_disk_budget(const struct sl_store_config *c, uint32_t shards)
{
	/* Per log: the active segment, one draining after a roll, one sealed
	 * that retention has not removed yet. Then the raw run's two files. */
	return SL_MAX((uint64_t)shards * c->segment_bytes * 3, 2 * raw_file_bytes());
}

/* Below this much free space, retention runs inside the measured window. */
static uint64_t retain_floor(const struct sl_store_config *c, uint32_t shards)
{
	return 2 * GIB + (uint64_t)shards * c->segment_bytes * 2;
}

/*
 * Whether the open-file limit lets a store of shards logs open everything,
 * raising the soft limit towards the hard one if it must. A case that cannot
 * have its files is skipped, as one that cannot have its disk space is.
 */
static bool fds_enough(uint32_t shards, uint64_t *ret_need, uint64_t *ret_have)
{
	uint64_t need = (uint64_t)shards * FDS_PER_LOG + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return true; /* unknown: let sl_log_open() say */
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		struct rlimit up = rl;

		up.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : SL_MIN(need, rl.rlim_max);
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	*ret_need = need;
	*ret_have = rl.rlim_cur;
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need;
}

/* MemAvailable from /proc/meminfo in bytes, or 0 if unknown. */
static uint64_t mem_available(void)
{
	char line[256];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * KIB;
}

/* What a case holds in memory: the logs' staging rings and the append-time
 * ring (the largest parts; 256 logs of 1 MiB rings: 264 MiB). */
static uint64_t case_mem_budget(const struct sl_store_config *c, uint32_t shards)
{
	return (uint64_t)shards * c->buffer_bytes +
	       next_pow2((uint64_t)shards * c->pending_batches) * sizeof(uint64_t);
}

static int retain_all(struct sl_log **logs, unsigned n, uint64_t keep)
{
	int removed = 0;

	for (unsigned i = 0; i < n; i++) {
		int r;

		if (sl_log_disk_bytes(logs[i]) <= keep)
			continue;
		r = sl_log_retain(logs[i], 0, 0, keep);
		if (r > 0)
			removed += r;
	}
	return removed;
}

static int open_logs(struct sl_store *st, const char *dir, unsigned n, struct sl_log **logs)
{
	char path[PATH_MAX + 64];
	int r;

	for (unsigned i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/s%03u", dir, i);
		r = sl_log_open(st, path, i, NULL, NULL, &logs[i]);
		if (r < 0) {
			fprintf(stderr, "perf_append: sl_log_open %s: %s (%s)\n", path,
			        strerror(-r), sl_errmsg());
			return r;
		}
	}
	return 0;
}

static int store_make(const struct sl_store_config *c, struct sl_store **ret)
{
	int r = sl_store_create(c, ret);

	if (r < 0) {
		fprintf(stderr, "perf_append: sl_store_create: %s (%s)\n", strerror(-r),
		        sl_errmsg());
		return r;
	}
	if (!su.backend[0]) {
		snprintf(su.backend, sizeof(su.backend), "%s",
		         sl_io_backend_name(sl_store_backend(*ret)));
		su.uring_err = sl_store_uring_error(*ret);
	}
	return 0;
}

/* What one drive() needs besides the store. */
struct drive_ctx {
	const struct case_def *d;
	struct case_result *cr;
	struct sl_store *st;
	struct sl_log **logs;
	struct sl_log_event *ev;
	uint64_t *ring; /* append (or scheduled) time per batch, by cookie */
	uint64_t mask;
	struct recs rs;
	uint64_t keep, floor;
};

/* Polls until a poll returns fewer than EV_MAX events; counts the durable
 * ones that arrive inside the window (in_window, up to t1). *t becomes the
 * time after the last poll. Returns 0 or -errno. */
static int poll_events(struct drive_ctx *x, int64_t *t, bool in_window, int64_t t1)
{
	struct case_result *cr = x->cr;
	struct loop_time *lt = &cr->lt;
	int n;

	do {
		int64_t t2;

		n = sl_store_poll(x->st, x->ev, EV_MAX);
		t2 = sl_mono_ns();
		lt->poll_ns += t2 - *t;
		lt->max_poll_ns = SL_MAX(lt->max_poll_ns, t2 - *t);
		lt->slow_polls += t2 - *t >= SLOW_CALL_NS;
		*t = t2;
		if (n < 0) {
			fprintf(stderr, "perf_append: sl_store_poll: %s\n", strerror(-n));
			return n;
		}
		for (int k = 0; k < n; k++) {
			const struct sl_log_event *e = &x->ev[k];

			if (e->kind == SL_EV_FAILED) {
				fprintf(stderr, "perf_append: batch failed: %s\n",
				        strerror(-e->err));
				return e->err < 0 ? e->err : -EIO;
			}
			if (e->kind != SL_EV_DURABLE || !in_window || t2 > t1)
				continue;
			cr->records += e->count;
			cr->batches++;
			sl_hist_add_ns(&cr->lat, t2 - (int64_t)x->ring[e->cookie & x->mask]);
		}
	} while (n == EV_MAX);
	return 0;
}

static int append_one(struct drive_ctx *x, struct sl_log *log, uint64_t *cookie, int64_t *t,
                      int64_t stamp)
{
	struct loop_time *lt = &x->cr->lt;
	uint64_t seq;
	int64_t t2;
	int r;

	r = sl_log_append(log, x->rs.in, x->rs.n, *cookie, SL_NOTIFY_DURABLE, &seq);
	t2 = sl_mono_ns();
	lt->append_ns += t2 - *t;
	lt->max_append_ns = SL_MAX(lt->max_append_ns, t2 - *t);
	lt->slow_appends += t2 - *t >= SLOW_CALL_NS;
	*t = t2;
	if (r == 0) {
		x->ring[(*cookie)++ & x->mask] = (uint64_t)stamp;
	} else if (r != -EAGAIN) {
		fprintf(stderr, "perf_append: sl_log_append: %s\n", strerror(-r));
		return r;
	}
	return r;
}

/*
 * The measured loop. Closed loop (interval_ns 0): one append per log, then
 * poll, as fast as the logs take them. Open loop: appends to the one log at
 * start + k x interval, as many as are due, each stamped with its scheduled
 * time, then poll. One clock read per call: the time after a call is the
 * time before the next. Retention runs only if free space gets short.
 */
static int drive(struct drive_ctx *x)
{
	const struct case_def *d = x->d;
	struct case_result *cr = x->cr;
	struct loop_time *lt = &cr->lt;
	struct sl_log_stats s0, s1;
	struct rusage u0, u1, m0, m1;
	uint64_t cookie = 0, dev0 = 0, dev1;
	int64_t start, t0, t1, t, next_check, w0 = 0;
	double next;
	bool in_window = false;
	int r;

	start = sl_mono_ns();
	t0 = start + (int64_t)(warm_s() * 1e9);
	t1 = t0 + (int64_t)(measure_s() * 1e9);
	next_check = start + RETAIN_EVERY_NS;
	next = (double)start;
	t = start;
	while (!stop) {
		if (!in_window && t >= t0) {
			in_window = true;
			w0 = t;
			memset(lt, 0, sizeof(*lt));
			cr->max_behind_ms = 0;
			stats_sum(x->logs, d->shards, &s0);
			getrusage(RUSAGE_SELF, &u0);
			getrusage(RUSAGE_THREAD, &m0);
			dev0 = dev_written_bytes();
		}
		if (t >= t1)
			break;
		recs_stamp(&x->rs);
		t = sl_mono_ns();
		if (cr->interval_ns == 0) {
			for (unsigned i = 0; i < d->shards; i++) {
				r = append_one(x, x->logs[i], &cookie, &t, t);
				if (r < 0 && r != -EAGAIN)
					return r;
			}
		} else {
			while (next <= (double)t) {
				r = append_one(x, x->logs[0], &cookie, &t, (int64_t)next);
				if (r == -EAGAIN)
					break;
				if (r < 0)
					return r;
				next += cr->interval_ns;
			}
			if (in_window)
				cr->max_behind_ms =
				        SL_MAX(cr->max_behind_ms, ((double)t - next) / 1e6);
		}
		r = poll_events(x, &t, in_window, t1);
		if (r < 0)
			return r;
		if (t >= next_check) {
			if (o.steady || free_bytes(run_dir) < x->floor) {
				int64_t t2;

				lt->retained += (uint64_t)retain_all(x->logs, d->shards, x->keep);
				t2 = sl_mono_ns();
				lt->retain_ns += t2 - t;
				t = t2;
			}
			next_check = t + RETAIN_EVERY_NS;
		}
	}
	if (stop || !in_window)
		return -EINTR;
	stats_sum(x->logs, d->shards, &s1);
	getrusage(RUSAGE_SELF, &u1);
	getrusage(RUSAGE_THREAD, &m1);
	dev1 = dev_written_bytes();

	{
		double w = (double)(t - w0) / 1e9;
		uint64_t log_batch =
		        SL_BATCH_HDR_BYTES +
		        (uint64_t)d->batch * sl_record_disk_bytes(KEY_BYTES - 1, d->rec_bytes);

		stats_sub(&s1, &s0);
		cr->st = s1;
		cr->window_s = w;
		cr->rec_per_s = (double)cr->records / w;
		cr->data_mbps = (double)cr->records * d->rec_bytes / MB / w;
		cr->log_mbps = (double)cr->batches * (double)log_batch / MB / w;
		cr->dev_mbps = dev1 >= dev0 && su.devstat[0] ? (double)(dev1 - dev0) / MB / w : 0;
		cr->avg_write = s1.writes ? (double)s1.appended_bytes / (double)s1.writes : 0;
		cr->cpu_cores = (cpu_s(&u1) - cpu_s(&u0)) / w;
		cr->main_cores = (cpu_s(&m1) - cpu_s(&m0)) / w;
	}

	/* What retention would have cost: time it once, outside the window. */
	t = sl_mono_ns();
	cr->retain_after = retain_all(x->logs, d->shards, x->keep);
	cr->retain_after_ms = ms(sl_mono_ns() - t);
	return 0;
}

/*
 * Runs case d into cr: closed loop if interval_ns is 0, else open loop on
 * one log. The closed loop is followed by the raw bandwidth limit (a).
 */
static int run_case(const struct case_def *d, struct case_result *cr, double interval_ns)
{
	struct sl_store_config *c = &cr->cfg;
	struct drive_ctx x = {.d = d, .cr = cr};
	char dir[PATH_MAX + 32], b1[32], b2[32];
	uint64_t budget;
	int r;

	case_config(d, c);
	sl_hist_reset(&cr->lat);
	cr->interval_ns = interval_ns;
	budget = case_disk_budget(c, d->shards);
	if (free_bytes(run_dir) < budget + FREE_MARGIN) {
		snprintf(cr->skipped, sizeof(cr->skipped), "needs %s free, has %s",
		         fmt_bytes(b1, sizeof(b1), (budget + FREE_MARGIN) / MIB * MIB),
		         fmt_bytes(b2, sizeof(b2), free_bytes(run_dir) / MIB * MIB));
		printf("\n%s: skipped: %s\n", d->name, cr->skipped);
		return 0;
	}
	{
		uint64_t need = case_mem_budget(c, d->shards), have = mem_available();

		/* At most half of what is available: the machine is shared. */
		if (have && need > have / 2) {
			snprintf(cr->skipped, sizeof(cr->skipped),
			         "needs %s of memory, half of MemAvailable is %s",
			         fmt_bytes(b1, sizeof(b1), sl_align_up(need, MIB)),
			         fmt_bytes(b2, sizeof(b2), have / 2 / MIB * MIB));
			printf("\n%s: skipped: %s\n", d->name, cr->skipped);
			return 0;
		}
		if (!fds_enough(d->shards, &need, &have)) {
			snprintf(cr->skipped, sizeof(cr->skipped),
			         "needs %llu open files, RLIMIT_NOFILE allows %llu",
			         (unsigned long long)need, (unsigned long long)have);
			printf("\n%s: skipped: %s\n", d->name, cr->skipped);
			return 0;
		}
	}
	if (interval_ns == 0)
		printf("\ncase %s: %u B records x %u shard log%s, %u record%s per append, one "
		       "thread, closed loop\n",
		       d->name, d->rec_bytes, d->shards, d->shards > 1 ? "s" : "", d->batch,
		       d->batch > 1 ? "s" : "");
	else
		printf("\n%s: %s open loop at %.0f records/s (%.0f%% of the case's %.0f): "
		       "one append\n  of %u records every %.1f us; latency from the scheduled "
		       "time\n",
		       o.load == 0.5 ? "half load" : "open loop", d->name, cr->target_rec_s,
		       o.load * 100, cr->target_rec_s / o.load, d->batch, interval_ns / 1e3);
	config_print(stdout, c);
	fflush(stdout);

	snprintf(dir, sizeof(dir), "%s/%s%s", run_dir, d->name, interval_ns ? "-open" : "");
	x.keep = 2 * c->segment_bytes;
	x.floor = retain_floor(c, d->shards);
	x.logs = calloc(d->shards, sizeof(*x.logs));
	x.ev = calloc(EV_MAX, sizeof(*x.ev));
	x.mask = next_pow2((uint64_t)d->shards * c->pending_batches) - 1;
	x.ring = calloc(x.mask + 1, sizeof(*x.ring));
	if (!x.logs || !x.ev || !x.ring || recs_make(&x.rs, d->batch, d->rec_bytes) < 0) {
		r = -ENOMEM;
		goto out;
	}
	r = sl_mkdir_p(dir);
	if (r < 0)
		goto out;
	r = store_make(c, &x.st);
	if (r < 0)
		goto out;
	r = open_logs(x.st, dir, d->shards, x.logs);
	if (r < 0)
		goto out;
	settle();
	{
		double o0 = other_cpu_s();
		int64_t d0 = sl_mono_ns();

		r = drive(&x);
		cr->other_cores = (other_cpu_s() - o0) / ((double)(sl_mono_ns() - d0) / 1e9);
	}
out:
	sl_store_free(x.st); /* closes the logs: waits for durability, seals */
	sl_machine_rm_rf(dir, run_dir);
	free(x.logs);
	free(x.ev);
	free(x.ring);
	recs_free(&x.rs);
	if (r < 0)
		return r;
	cr->ran = true;
	if (interval_ns == 0) {
		/* The raw limit at the log's write size and possible depth. */
		uint32_t bs = (uint32_t)sl_align_up(
		        cr->avg_write > 0 ? (uint64_t)cr->avg_write : c->write_chunk_bytes, 4096);
		unsigned qd = SL_MIN(c->write_depth * d->shards, c->io_depth);

		bs = SL_MAX(4096u, SL_MIN(bs, c->write_chunk_bytes));
		r = raw_bandwidth(run_dir, bs, qd, measure_s(), &cr->raw);
		if (r < 0) {
			fprintf(stderr, "perf_append: raw bandwidth: %s\n", strerror(-r));
			return r;
		}
		cr->ratio_data = cr->raw.mbps > 0 ? cr->data_mbps / cr->raw.mbps : 0;
		cr->ratio_log = cr->raw.mbps > 0 ? cr->log_mbps / cr->raw.mbps : 0;
	}
	return 0;
}

static void case_print(const struct case_result *cr)
{
	const struct loop_time *lt = &cr->lt;
	double wns = cr->window_s * 1e9;
	char a[32], b[32], c[32], e[32];

	printf("  durable:    %.0f records/s, %.1f MB/s data, %.1f MB/s log", cr->rec_per_s,
	       cr->data_mbps, cr->log_mbps);
	if (su.devstat[0])
		printf(", %.1f MB/s device", cr->dev_mbps);
	printf(" (%.2f s window)\n", cr->window_s);
	if (cr->interval_ns)
		printf("  schedule:   at most %.2f ms behind\n", SL_MAX(0.0, cr->max_behind_ms));
	printf("  ack:        p50 %s  p99 %s  p99.9 %s  max %s  (%llu batches)\n",
	       fmt_ns(a, sizeof(a), sl_hist_percentile(&cr->lat, 50)),
	       fmt_ns(b, sizeof(b), sl_hist_percentile(&cr->lat, 99)),
	       fmt_ns(c, sizeof(c), sl_hist_percentile(&cr->lat, 99.9)),
	       fmt_ns(e, sizeof(e), cr->lat.count ? cr->lat.max : 0),
	       (unsigned long long)cr->lat.count);
	printf("  log I/O:    %llu writes (%.1f KiB appended per write), %llu fdatasyncs "
	       "(%.0f/s), %llu rolls, %llu appends throttled\n",
	       (unsigned long long)cr->st.writes, cr->avg_write / 1024,
	       (unsigned long long)cr->st.fdatasyncs, (double)cr->st.fdatasyncs / cr->window_s,
	       (unsigned long long)cr->st.segments_rolled, (unsigned long long)cr->st.throttled);
	printf("  thread:     append %.0f%%, poll %.0f%% of the window; main thread %.2f cores, "
	       "process %.2f cores\n",
	       100.0 * (double)lt->append_ns / wns, 100.0 * (double)lt->poll_ns / wns,
	       cr->main_cores, cr->cpu_cores);
	printf("  stalls:     %llu appends >= 1 ms (max %s), %llu polls >= 1 ms (max %s)\n",
	       (unsigned long long)lt->slow_appends,
	       fmt_ns(a, sizeof(a), (uint64_t)lt->max_append_ns),
	       (unsigned long long)lt->slow_polls, fmt_ns(b, sizeof(b), (uint64_t)lt->max_poll_ns));
	printf("  machine:    other processes used %.2f cores during the case%s\n", cr->other_cores,
	       cr->other_cores > 0.2 ? " (results are disturbed)" : "");
	if (lt->retain_ns)
		printf("  retention:  ran in the window (%s): %llu segments, %.0f%% "
		       "of the window\n",
		       o.steady ? "--steady" : "free space short", (unsigned long long)lt->retained,
		       100.0 * (double)lt->retain_ns / wns);
	if (cr->retain_after > 0)
		printf("  retention:  after the window, sl_log_retain removed %d segments in %.1f "
		       "ms "
		       "(%.2f ms each)\n",
		       cr->retain_after, cr->retain_after_ms,
		       cr->retain_after_ms / cr->retain_after);
	if (cr->raw.valid) {
		printf("  raw (a):    %s O_DIRECT writes of %s at queue depth %u: %.1f MB/s "
		       "(final fdatasync %.1f ms)\n",
		       cr->raw.uring ? "io_uring" : "pwrite", fmt_bytes(a, sizeof(a), cr->raw.bs),
		       cr->raw.qd, cr->raw.mbps, cr->raw.final_sync_ms);
		printf("  ratio:      %.3f of raw (record data), %.3f (log bytes)\n",
		       cr->ratio_data, cr->ratio_log);
	}
	if (cr->interval_ns && rsync_ref()->ran && rsync_ref()->lat.count)
		printf("  ratio:      p99 is %.2f x the raw write+fdatasync p99 (%s%s)\n",
		       (double)sl_hist_percentile(&cr->lat, 99) /
		               (double)sl_hist_percentile(&rsync_ref()->lat, 99),
		       fmt_ns(a, sizeof(a), sl_hist_percentile(&rsync_ref()->lat, 99)),
		       o.steady ? ", over written blocks" : "");
	fflush(stdout);
}

/* ---- report ---- */

static void raw_sync_print(const char *what, const struct raw_sync *s)
{
	char a[32], b[32], c[32], e[32];

	printf("  %s p50 %s  p99 %s  p99.9 %s  max %s  (%llu ops, %.0f/s)\n", what,
	       fmt_ns(a, sizeof(a), sl_hist_percentile(&s->lat, 50)),
	       fmt_ns(b, sizeof(b), sl_hist_percentile(&s->lat, 99)),
	       fmt_ns(c, sizeof(c), sl_hist_percentile(&s->lat, 99.9)),
	       fmt_ns(e, sizeof(e), s->lat.count ? s->lat.max : 0),
	       (unsigned long long)s->lat.count, s->rate);
}

static void summary_row(const char *name, double rate, double data, double log, double raw,
                        double ratio, double ratio_log, const struct sl_hist *h)
{
	char a[32], b[32], c[32], e[32], v[5][16];
	const double x[5] = {data, log, raw, ratio, ratio_log};

	for (int i = 0; i < 5; i++) {
		if (x[i] <= 0)
			snprintf(v[i], sizeof(v[i]), "-");
		else
			snprintf(v[i], sizeof(v[i]), i < 3 ? "%.1f" : "%.3f", x[i]);
	}
	printf("%-9s %11.0f %9s %9s %9s %6s %6s %9s %9s %9s %9s\n", name, rate, v[0], v[1], v[2],
	       v[3], v[4], fmt_ns(a, sizeof(a), sl_hist_percentile(h, 50)),
	       fmt_ns(b, sizeof(b), sl_hist_percentile(h, 99)),
	       fmt_ns(c, sizeof(c), sl_hist_percentile(h, 99.9)),
	       fmt_ns(e, sizeof(e), h->count ? h->max : 0));
}

/* Whether any fixed case (or the open-loop run) was asked for. */
static bool fixed_wanted(void)
{
	for (unsigned i = 0; i < NCASES; i++)
		if (o.want[i])
			return true;
	return o.want_half;
}

static const char *half_name(void)
{
	return o.load == 0.5 ? "half-load" : "open-loop";
}

/* One table per sweep: a point per row, with the raw limit it is held to. */
static void sweep_print(const char *what, const struct sweep_point *pts, unsigned n)
{
	char a[32], b[32], c[32], e[32], w[40];

	if (n == 0)
		return;
	printf("\n%s (durable, one thread; ratio = record data MB/s / raw (a) MB/s at the "
	       "point's\nwrite size x queue depth, (log) = log bytes / raw)\n",
	       what);
	printf("%-10s %6s %6s %5s %11s %9s %9s %9s %12s %6s %6s %9s %9s %9s %9s\n", "case", "rec B",
	       "shards", "batch", "records/s", "data MB/s", "log MB/s", "raw MB/s", "raw write",
	       "ratio", "(log)", "ack p50", "p99", "p99.9", "max");
	for (unsigned i = 0; i < n; i++) {
		const struct case_def *d = &pts[i].d;
		const struct case_result *cr = &pts[i].r;

		if (!cr->ran) {
			printf("%-10s %6u %6u skipped: %s\n", d->name, d->rec_bytes, d->shards,
			       cr->skipped[0] ? cr->skipped : "not run");
			continue;
		}
		snprintf(w, sizeof(w), "%s x%u", fmt_bytes(a, sizeof(a), cr->raw.bs), cr->raw.qd);
		printf("%-10s %6u %6u %5u %11.0f %9.1f %9.1f %9.1f %12s %6.3f %6.3f %9s %9s %9s "
		       "%9s\n",
		       d->name, d->rec_bytes, d->shards, d->batch, cr->rec_per_s, cr->data_mbps,
		       cr->log_mbps, cr->raw.mbps, w, cr->ratio_data, cr->ratio_log,
		       fmt_ns(a, sizeof(a), sl_hist_percentile(&cr->lat, 50)),
		       fmt_ns(b, sizeof(b), sl_hist_percentile(&cr->lat, 99)),
		       fmt_ns(c, sizeof(c), sl_hist_percentile(&cr->lat, 99.9)),
		       fmt_ns(e, sizeof(e), cr->lat.count ? cr->lat.max : 0));
	}
}

static void summary_print(void)
{
	if (fixed_wanted()) {
		printf("\nsummary (backend %s; ratio = durable record data MB/s / raw (a) MB/s, "
		       "(log) = log bytes / raw)\n",
		       su.backend[0] ? su.backend : "?");
		printf("%-9s %11s %9s %9s %9s %6s %6s %9s %9s %9s %9s\n", "case", "records/s",
		       "data MB/s", "log MB/s", "raw MB/s", "ratio", "(log)", "ack p50", "p99",
		       "p99.9", "max");
		for (unsigned i = 0; i < NCASES; i++) {
			const struct case_result *cr = &res[i];

			if (cr->ran)
				summary_row(cases[i].name, cr->rec_per_s, cr->data_mbps,
				            cr->log_mbps, cr->raw.mbps, cr->ratio_data,
				            cr->ratio_log, &cr->lat);
			else if (cr->skipped[0])
				printf("%-9s skipped: %s\n", cases[i].name, cr->skipped);
		}
		if (rsync.ran)
			summary_row("raw-fsync", rsync.rate, 0, 0, 0, 0, 0, &rsync.lat);
		if (half.ran)
			summary_row(half_name(), half.rec_per_s, half.data_mbps, half.log_mbps, 0,
			            0, 0, &half.lat);
	}
	sweep_print("size sweep", size_pts, o.nsizes);
	sweep_print("shard sweep", shard_pts, o.nshards);
	if (!fixed_wanted() && rsync.ran) {
		printf("\n");
		raw_sync_print("raw (b) 4 KiB write+fdatasync:", &rsync);
	}

	double busy = half.other_cores;

	for (unsigned i = 0; i < NCASES; i++)
		busy = SL_MAX(busy, res[i].other_cores);
	for (unsigned i = 0; i < o.nsizes; i++)
		busy = SL_MAX(busy, size_pts[i].r.other_cores);
	for (unsigned i = 0; i < o.nshards; i++)
		busy = SL_MAX(busy, shard_pts[i].r.other_cores);
	if (su.drift[0].valid && su.drift[1].valid) {
		double a = su.drift[0].mbps, b = su.drift[1].mbps, dd = a > b ? a - b : b - a;

		printf("raw (a) at 512 KiB x 4, start vs end of the run: %.1f vs %.1f MB/s (%.0f%% "
		       "apart)%s\n",
		       a, b, 200.0 * dd / (a + b),
		       dd > 0.15 * (a + b) / 2
		               ? ": the device's limit drifts; ratios are this uncertain"
		               : "");
	}
	if (busy > 0.2)
		printf("warning: other processes used up to %.2f cores during a case; the numbers "
		       "are disturbed\n",
		       busy);
}

/* The targets, judged on what this run measured. */
struct target {
	const char *what;
	bool known;
	bool pass;
	double value, limit;
	char detail[200];
};

static unsigned targets_eval(struct target *t)
{
	const struct case_result *c1 = &res[CASE_1K_1], *c256 = &res[CASE_1K_256];
	const struct case_result *s1 = &res[CASE_100_1];
	unsigned n = 0;

	t[n] = (struct target){.what = "1 KiB x 1 shard: durable data >= 0.90 x raw bandwidth",
	                       .known = c1->ran,
	                       .limit = 0.90};
	if (c1->ran) {
		t[n].value = c1->ratio_data;
		t[n].pass = c1->ratio_data >= 0.90;
		snprintf(t[n].detail, sizeof(t[n].detail),
		         "%.3f (%.1f of %.1f MB/s; log bytes %.3f)", c1->ratio_data, c1->data_mbps,
		         c1->raw.mbps, c1->ratio_log);
	}
	n++;
	t[n] = (struct target){.what = "1 KiB x 256 shards, one core: >= 0.70 x raw bandwidth",
	                       .known = c256->ran,
	                       .limit = 0.70};
	if (c256->ran) {
		t[n].value = c256->ratio_data;
		t[n].pass = c256->ratio_data >= 0.70;
		snprintf(t[n].detail, sizeof(t[n].detail),
		         "%.3f (%.1f of %.1f MB/s; log bytes %.3f)", c256->ratio_data,
		         c256->data_mbps, c256->raw.mbps, c256->ratio_log);
	}
	n++;
	t[n] = (struct target){.what = "100 B x 1 shard: >= 3 M durable records/s per core",
	                       .known = s1->ran,
	                       .limit = 3e6};
	if (s1->ran) {
		int len;

		t[n].value = s1->rec_per_s;
		t[n].pass = s1->rec_per_s >= 3e6;
		len = snprintf(t[n].detail, sizeof(t[n].detail), "%.2f M/s", s1->rec_per_s / 1e6);
		for (unsigned i = CASE_100_1 + 1; i < CASE_100_1 + 3; i++)
			if (res[i].ran && len > 0 && (size_t)len < sizeof(t[n].detail))
				len += snprintf(t[n].detail + len,
				                sizeof(t[n].detail) - (size_t)len, "; %s: %.2f M/s",
				                cases[i].name, res[i].rec_per_s / 1e6);
	}
	n++;
	t[n] = (struct target){.what = "half load: ack p99 <= 2 x raw write+fdatasync p99",
	                       .known = half.ran && o.load == 0.5 && rsync_ref()->ran &&
	                                half.lat.count && rsync_ref()->lat.count,
	                       .limit = 2.0};
	if (t[n].known) {
		uint64_t hp = sl_hist_percentile(&half.lat, 99);
		uint64_t rp = sl_hist_percentile(&rsync_ref()->lat, 99);
		char a[32], b[32];

		t[n].value = (double)hp / (double)rp;
		t[n].pass = t[n].value <= 2.0;
		snprintf(t[n].detail, sizeof(t[n].detail), "%.2f x (%s vs raw %s)", t[n].value,
		         fmt_ns(a, sizeof(a), hp), fmt_ns(b, sizeof(b), rp));
	}
	n++;
	return n;
}

static void targets_print(const struct target *t, unsigned n)
{
	printf("\ntargets\n");
	for (unsigned i = 0; i < n; i++)
		printf("  %-4s  %-56s %s\n",
		       !t[i].known ? "n/a"
		       : t[i].pass ? "PASS"
		                   : "MISS",
		       t[i].what,
		       t[i].known           ? t[i].detail
		       : i == 3 && half.ran ? "not run at --load 0.5"
		                            : "not run");
}

static void json_lat(FILE *f, const struct sl_hist *h)
{
	fprintf(f,
	        "{\"count\": %llu, \"mean_ns\": %.0f, \"p50_ns\": %llu, \"p99_ns\": %llu, "
	        "\"p999_ns\": %llu, \"max_ns\": %llu}",
	        (unsigned long long)h->count, sl_hist_mean(h),
	        (unsigned long long)sl_hist_percentile(h, 50),
	        (unsigned long long)sl_hist_percentile(h, 99),
	        (unsigned long long)sl_hist_percentile(h, 99.9),
	        (unsigned long long)(h->count ? h->max : 0));
}

static void json_case(FILE *f, const struct case_def *d, const struct case_result *cr)
{
	fprintf(f,
	        "{\"case\": \"%s\", \"record_bytes\": %u, \"shards\": %u, \"batch_records\": %u, "
	        "\"open_loop_interval_ns\": %.0f, \"window_s\": %.4f,\n",
	        d->name, d->rec_bytes, d->shards, d->batch, cr->interval_ns, cr->window_s);
	fprintf(f,
	        "     \"records_per_s\": %.1f, \"data_MBps\": %.3f, \"log_MBps\": %.3f, "
	        "\"device_MBps\": %.3f, \"max_behind_ms\": %.3f,\n",
	        cr->rec_per_s, cr->data_mbps, cr->log_mbps, cr->dev_mbps, cr->max_behind_ms);
	fprintf(f, "     \"ack_latency\": ");
	json_lat(f, &cr->lat);
	if (cr->raw.valid)
		fprintf(f,
		        ",\n     \"raw\": {\"block_bytes\": %u, \"queue_depth\": %u, \"MBps\": "
		        "%.3f, "
		        "\"io_uring\": %s, \"final_fdatasync_ms\": %.3f},\n"
		        "     \"ratio_data\": %.4f, \"ratio_log\": %.4f",
		        cr->raw.bs, cr->raw.qd, cr->raw.mbps, cr->raw.uring ? "true" : "false",
		        cr->raw.final_sync_ms, cr->ratio_data, cr->ratio_log);
	fprintf(f,
	        ",\n     \"log_stats\": {\"writes\": %llu, \"appended_bytes\": %llu, "
	        "\"fdatasyncs\": %llu, \"segments_rolled\": %llu, \"throttled\": %llu},\n",
	        (unsigned long long)cr->st.writes, (unsigned long long)cr->st.appended_bytes,
	        (unsigned long long)cr->st.fdatasyncs, (unsigned long long)cr->st.segments_rolled,
	        (unsigned long long)cr->st.throttled);
	fprintf(f,
	        "     \"thread\": {\"append_ns\": %lld, \"poll_ns\": %lld, \"retain_ns\": %lld, "
	        "\"slow_appends\": %llu, \"max_append_ns\": %lld, \"slow_polls\": %llu, "
	        "\"max_poll_ns\": %lld, \"main_cores\": %.3f, \"process_cores\": %.3f, "
	        "\"other_processes_cores\": %.3f},\n",
	        (long long)cr->lt.append_ns, (long long)cr->lt.poll_ns, (long long)cr->lt.retain_ns,
	        (unsigned long long)cr->lt.slow_appends, (long long)cr->lt.max_append_ns,
	        (unsigned long long)cr->lt.slow_polls, (long long)cr->lt.max_poll_ns,
	        cr->main_cores, cr->cpu_cores, cr->other_cores);
	fprintf(f, "     \"retention_after\": {\"segments\": %d, \"ms\": %.3f},\n",
	        cr->retain_after, cr->retain_after_ms);
	fprintf(f, "     \"config\": ");
	config_json(f, &cr->cfg);
	fprintf(f, "}");
}

static void json_us(FILE *f, const char *name, uint64_t ns)
{
	fprintf(f, "\"%s\": %.3f", name, (double)ns / 1e3);
}

/* One entry of "runs", the schema every benchmark here shares: family is
 * "cases", "sizes", "shards" or "open_loop". */
static void json_run(FILE *f, const char *family, const struct case_def *d, const char *name,
                     const struct case_result *cr)
{
	const struct sl_hist *h = &cr->lat;
	bool open = cr->interval_ns > 0;

	fprintf(f, "{\"label\": ");
	sl_machine_json_str(f, name);
	fprintf(f, ", \"case\": ");
	sl_machine_json_str(f, name);
	fprintf(f, ", \"family\": \"%s\", \"loop\": \"%s\", \"offered_rps\": ", family,
	        open ? "open" : "closed");
	if (open)
		fprintf(f, "%.1f", cr->target_rec_s);
	else
		fprintf(f, "null");
	fprintf(f,
	        ", \"shards\": %u, \"record_bytes\": %u, \"batch_records\": %u, "
	        "\"threads\": 1, \"ack\": \"durable\", \"window_s\": %.4f,\n      "
	        "\"records_per_s\": %.1f, \"mb_per_s\": %.3f, \"log_mb_per_s\": %.3f, "
	        "\"device_mb_per_s\": %.3f, \"acks\": %llu, ",
	        d->shards, d->rec_bytes, d->batch, cr->window_s, cr->rec_per_s, cr->data_mbps,
	        cr->log_mbps, cr->dev_mbps, (unsigned long long)h->count);
	json_us(f, "p50_us", sl_hist_percentile(h, 50));
	fprintf(f, ", ");
	json_us(f, "p99_us", sl_hist_percentile(h, 99));
	fprintf(f, ", ");
	json_us(f, "p999_us", sl_hist_percentile(h, 99.9));
	fprintf(f, ", ");
	json_us(f, "max_us", h->count ? h->max : 0);
	fprintf(f, ",\n      ");
	if (cr->raw.valid)
		fprintf(f,
		        "\"limit_mb_per_s\": %.3f, \"limit_block_bytes\": %u, "
		        "\"limit_queue_depth\": %u, \"limit_io_uring\": %s, \"ratio\": %.4f, "
		        "\"ratio_log\": %.4f",
		        cr->raw.mbps, cr->raw.bs, cr->raw.qd, cr->raw.uring ? "true" : "false",
		        cr->ratio_data, cr->ratio_log);
	else
		fprintf(f, "\"limit_mb_per_s\": null, \"ratio\": null");
	if (open) {
		const struct raw_sync *rs = rsync_ref();

		fprintf(f, ", \"max_behind_ms\": %.3f", cr->max_behind_ms);
		if (rs->ran && rs->lat.count && h->count) {
			uint64_t rp = sl_hist_percentile(&rs->lat, 99);

			fprintf(f, ", ");
			json_us(f, "limit_p99_us", rp);
			fprintf(f, ", \"p99_ratio\": %.4f",
			        (double)sl_hist_percentile(h, 99) / (double)rp);
		}
	}
	fprintf(f, ", \"other_processes_cores\": %.3f,\n      \"config\": ", cr->other_cores);
	config_json(f, &cr->cfg);
	fprintf(f, "}");
}

/* The "runs" array: every measured run of the system under test. */
static void json_runs(FILE *f)
{
	bool first = true;

	fprintf(f, "  \"runs\": [");
	for (unsigned i = 0; i < NCASES; i++) {
		if (!res[i].ran)
			continue;
		fprintf(f, "%s\n    ", first ? "" : ",");
		json_run(f, "cases", &cases[i], cases[i].name, &res[i]);
		first = false;
	}
	if (half.ran) {
		fprintf(f, "%s\n    ", first ? "" : ",");
		json_run(f, "open_loop", &cases[CASE_1K_1], half_name(), &half);
		first = false;
	}
	for (unsigned i = 0; i < o.nsizes; i++) {
		if (!size_pts[i].r.ran)
			continue;
		fprintf(f, "%s\n    ", first ? "" : ",");
		json_run(f, "sizes", &size_pts[i].d, size_pts[i].name, &size_pts[i].r);
		first = false;
	}
	for (unsigned i = 0; i < o.nshards; i++) {
		if (!shard_pts[i].r.ran)
			continue;
		fprintf(f, "%s\n    ", first ? "" : ",");
		json_run(f, "shards", &shard_pts[i].d, shard_pts[i].name, &shard_pts[i].r);
		first = false;
	}
	fprintf(f, "\n  ],\n");
}

/* A sweep's points in the detail format of "cases", skipped ones with why. */
static void json_sweep(FILE *f, const char *key, const struct sweep_point *pts, unsigned n)
{
	bool first = true;

	fprintf(f, "  \"%s\": [", key);
	for (unsigned i = 0; i < n; i++) {
		fprintf(f, "%s\n    ", first ? "" : ",");
		first = false;
		if (pts[i].r.ran) {
			json_case(f, &pts[i].d, &pts[i].r);
			continue;
		}
		fprintf(f, "{\"case\": \"%s\", \"record_bytes\": %u, \"shards\": %u, \"skipped\": ",
		        pts[i].name, pts[i].d.rec_bytes, pts[i].d.shards);
		sl_machine_json_str(f, pts[i].r.skipped[0] ? pts[i].r.skipped : "not run");
		fprintf(f, "}");
	}
	fprintf(f, "%s],\n", first ? "" : "\n  ");
}

static void json_u32_list(FILE *f, const uint32_t *v, unsigned n)
{
	fprintf(f, "[");
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "%s%u", i ? ", " : "", v[i]);
	fprintf(f, "]");
}

static int json_write(const char *path, const struct target *t, unsigned nt)
{
	FILE *f = fopen(path, "we");
	bool first = true;

	if (!f)
		return -errno;
	fprintf(f, "{\n  \"benchmark\": \"perf_append\",\n  \"setup\": {\"cpu\": ");
	sl_machine_json_str(f, su.cpu);
	fprintf(f, ", \"cpus\": %ld, \"kernel\": ", su.cpus);
	sl_machine_json_str(f, su.kernel);
	fprintf(f, ", \"fs\": ");
	sl_machine_json_str(f, su.fs);
	fprintf(f, ", \"mount\": ");
	sl_machine_json_str(f, su.mount);
	fprintf(f, ", \"device\": ");
	sl_machine_json_str(f, su.blockdev);
	fprintf(f, ", \"device_info\": ");
	sl_machine_json_str(f, su.devinfo);
	fprintf(f, ", \"journal\": ");
	sl_machine_json_str(f, su.journal);
	fprintf(f, ", \"loadavg\": ");
	sl_machine_json_str(f, su.loadavg);
	fprintf(f, ", \"raw_reference_MBps\": [%.3f, %.3f]", su.drift[0].mbps, su.drift[1].mbps);
	fprintf(f, ", \"backend\": ");
	sl_machine_json_str(f, su.backend);
	fprintf(f, ", \"seconds\": %.3f, \"warmup_seconds\": %.3f, \"quick\": %s", measure_s(),
	        warm_s(), o.quick ? "true" : "false");
	{
		struct sl_store_config base;

		sl_store_config_default(&base);
		for (unsigned i = 0; i < o.nsets; i++)
			apply_set(&base, o.sets[i]);
		fprintf(f, ",\n    \"dir\": ");
		sl_machine_json_str(f, o.dir);
		fprintf(f, ", \"free_bytes\": %llu, \"uring_error\": ",
		        (unsigned long long)su.free_bytes);
		if (su.uring_err)
			sl_machine_json_str(f, strerror(-su.uring_err));
		else
			fprintf(f, "null");
#ifdef SL_HAVE_LIBURING
		fprintf(f, ", \"liburing\": true");
#else
		fprintf(f, ", \"liburing\": false");
#endif
		fprintf(f,
		        ", \"threads\": 1, \"ack\": \"durable\", \"durability\": \"fdatasync "
		        "(SL_EV_DURABLE)\", \"steady\": %s, \"open_loop_load\": %.3f,\n    "
		        "\"limit\": \"raw (a): io_uring O_DIRECT sequential writes into fallocated "
		        "files at the run's average write size and queue depth, same file system, "
		        "same run\", \"ratio\": \"record data MB/s / raw (a) MB/s\",\n    "
		        "\"store_config\": ",
		        o.steady ? "true" : "false", o.load);
		config_json(f, &base);
		fprintf(f, ",\n    \"store_config_per_case\": \"max_record_bytes 64 KiB; 64 "
		           "or more shards: 8 MiB segments, 1 MiB rings; --quick: 8 MiB / 2 MiB "
		           "(1 MiB / 256 KiB at 64+ shards); --set overrides; each run has its "
		           "config\", \"store_overrides\": [");
		for (unsigned i = 0; i < o.nsets; i++) {
			fprintf(f, "%s", i ? ", " : "");
			sl_machine_json_str(f, o.sets[i]);
		}
		fprintf(f, "],\n    \"sweep\": {\"sizes\": ");
		json_u32_list(f, o.sizes, o.nsizes);
		fprintf(f, ", \"shards\": ");
		json_u32_list(f, o.shards, o.nshards);
		fprintf(f,
		        ", \"shards_record_bytes\": %u, \"batch_data_bytes\": %llu, "
		        "\"max_batch_records\": %d}},\n",
		        SHARDS_REC_BYTES, (unsigned long long)SWEEP_BATCH_BYTES, SWEEP_MAX_BATCH);
	}
	json_runs(f);
	fprintf(f, "  \"cases\": [");
	for (unsigned i = 0; i < NCASES; i++) {
		if (!res[i].ran)
			continue;
		fprintf(f, "%s\n    ", first ? "" : ",");
		json_case(f, &cases[i], &res[i]);
		first = false;
	}
	fprintf(f, "\n  ],\n");
	json_sweep(f, "size_sweep", size_pts, o.nsizes);
	json_sweep(f, "shard_sweep", shard_pts, o.nshards);
	if (rsync.ran) {
		fprintf(f,
		        "  \"raw_fsync\": {\"block_bytes\": %u, \"rate_per_s\": %.1f, "
		        "\"latency\": ",
		        RAW_SYNC_BS, rsync.rate);
		json_lat(f, &rsync.lat);
		fprintf(f, "},\n");
	}
	if (rsync_over.ran) {
		fprintf(f,
		        "  \"raw_fsync_overwrite\": {\"block_bytes\": %u, \"rate_per_s\": %.1f, "
		        "\"latency\": ",
		        RAW_SYNC_BS, rsync_over.rate);
		json_lat(f, &rsync_over.lat);
		fprintf(f, "},\n");
	}
	if (half.ran) {
		fprintf(f,
		        "  \"open_loop\": {\"load\": %.3f, \"target_records_per_s\": %.1f, "
		        "\"result\":\n    ",
		        o.load, half.target_rec_s);
		json_case(f, &cases[CASE_1K_1], &half);
		fprintf(f, "},\n");
	}
	fprintf(f, "  \"targets\": [");
	for (unsigned i = 0; i < nt; i++) {
		fprintf(f, "%s\n    {\"target\": ", i ? "," : "");
		sl_machine_json_str(f, t[i].what);
		fprintf(f, ", \"result\": \"%s\", \"value\": %.4g, \"limit\": %.4g}",
		        !t[i].known ? "n/a"
		        : t[i].pass ? "PASS"
		                    : "MISS",
		        t[i].value, t[i].limit);
	}
	fprintf(f, "\n  ]\n}\n");
	return fclose(f) == 0 ? 0 : -errno;
}

static void csv_lat(FILE *f, const struct sl_hist *h)
{
	fprintf(f, "%.1f,%.1f,%.1f,%.1f", (double)sl_hist_percentile(h, 50) / 1e3,
	        (double)sl_hist_percentile(h, 99) / 1e3, (double)sl_hist_percentile(h, 99.9) / 1e3,
	        (double)(h->count ? h->max : 0) / 1e3);
}

static void csv_case(FILE *f, const char *kind, const struct case_def *d,
                     const struct case_result *cr)
{
	fprintf(f, "%s,%s,%u,%u,%u,%.4f,%.1f,%.3f,%.3f,%.3f,", kind, d->name, d->rec_bytes,
	        d->shards, d->batch, cr->window_s, cr->rec_per_s, cr->data_mbps, cr->log_mbps,
	        cr->dev_mbps);
	csv_lat(f, &cr->lat);
	if (cr->raw.valid)
		fprintf(f, ",%u,%u,%.3f,%.4f,%.4f", cr->raw.bs, cr->raw.qd, cr->raw.mbps,
		        cr->ratio_data, cr->ratio_log);
	else
		fprintf(f, ",,,,,");
	fprintf(f, ",%llu,%llu,%llu,%llu,%.3f,%.3f\n", (unsigned long long)cr->st.writes,
	        (unsigned long long)cr->st.fdatasyncs, (unsigned long long)cr->st.segments_rolled,
	        (unsigned long long)cr->st.throttled, cr->main_cores, cr->cpu_cores);
}

static void csv_sync(FILE *f, const char *what, const struct raw_sync *s)
{
	fprintf(f, "raw_fsync,%s,%u,,,%.4f,%.1f,,,,", what, RAW_SYNC_BS, s->window_s, s->rate);
	csv_lat(f, &s->lat);
	fprintf(f, ",,,,,,,,,,,\n");
}

static int csv_write(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	fprintf(f, "kind,case,record_bytes,shards,batch_records,window_s,records_per_s,data_MBps,"
	           "log_MBps,device_MBps,p50_us,p99_us,p999_us,max_us,raw_block_bytes,raw_qd,"
	           "raw_MBps,ratio_data,ratio_log,writes,fdatasyncs,rolls,throttled,main_cores,"
	           "process_cores\n");
	for (unsigned i = 0; i < NCASES; i++)
		if (res[i].ran)
			csv_case(f, "case", &cases[i], &res[i]);
	if (rsync.ran)
		csv_sync(f, "append", &rsync);
	if (rsync_over.ran)
		csv_sync(f, "overwrite", &rsync_over);
	if (half.ran)
		csv_case(f, "open_loop", &cases[CASE_1K_1], &half);
	for (unsigned i = 0; i < o.nsizes; i++)
		if (size_pts[i].r.ran)
			csv_case(f, "sizes", &size_pts[i].d, &size_pts[i].r);
	for (unsigned i = 0; i < o.nshards; i++)
		if (shard_pts[i].r.ran)
			csv_case(f, "shards", &shard_pts[i].d, &shard_pts[i].r);
	return fclose(f) == 0 ? 0 : -errno;
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: perf_append [options]\n"
	        "  --dir DIR         where to write (default /var/tmp/sluice-perf); needs 4 GiB "
	        "free\n"
	        "  --seconds S       measured seconds per case (default 2), after S/4 warm-up\n"
	        "  --quick           0.1 s per case, small segments: a smoke test for CI\n"
	        "  --steady          run retention inside the window (two segments per log):\n"
	        "                    the steady state of logs at their size limit, where\n"
	        "                    retired segments are reused (spare_segments)\n"
	        "  --cases LIST      comma-separated subset: all, a case name, a size (100b, 1k,\n"
	        "                    64k), or half (needs 1k-1, which then runs too)\n"
	        "  --load F          the open-loop run's rate as a fraction of 1k-1's (default "
	        "0.5;\n"
	        "                    the latency target is judged only at 0.5)\n"
	        "  --csv FILE        write the results as CSV\n"
	        "  --json FILE       write the results as JSON\n"
	        "  --set NAME=VALUE  override a store setting in every case (k/m/g suffixes)\n"
	        "  --sizes [LIST]    sweep record size on 1 shard log: record bytes, k suffix\n"
	        "                    (default 16,64,256,1k,4k,16k,64k; 1 B to 64 KiB)\n"
	        "  --shards [LIST]   sweep shard logs on the one thread (shards per core) at\n"
	        "                    1 KiB records (default 1,4,16,64,256; at most %u)\n"
	        "                    a sweep runs instead of the cases unless --cases is given\n"
	        "cases:",
	        SWEEP_MAX_SHARDS);
	for (unsigned i = 0; i < NCASES; i++)
		fprintf(f, " %s", cases[i].name);
	fprintf(f, " half\nstore settings (defaults before the per-case choices):\n");
#define SL_X_HELP(n, type, def, min, max, doc)                                                     \
	fprintf(f, "  %-22s %-12llu [%llu, %llu] %s\n", #n, (unsigned long long)(def),             \
	        (unsigned long long)(min), (unsigned long long)(max), doc);
	SL_STORE_CONFIG(SL_X_HELP)
#undef SL_X_HELP
}

static int parse_cases(const char *list)
{
	char *copy = strdup(list), *save = NULL;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		bool all = strcmp(tok, "all") == 0, hit = false;
		size_t n = strlen(tok);

		if (all || strcmp(tok, "half") == 0)
			o.want_half = hit = true;
		for (unsigned i = 0; i < NCASES; i++) {
			if (all || strcmp(tok, cases[i].name) == 0 ||
			    (strncmp(tok, cases[i].name, n) == 0 && cases[i].name[n] == '-'))
				o.want[i] = hit = true;
		}
		if (!hit) {
			fprintf(stderr, "perf_append: unknown case '%s'\n", tok);
			r = -EINVAL;
		}
	}
	free(copy);
	return r;
}

static const uint32_t default_sizes[] = {16, 64, 256, 1024, 4096, 16384, 65536};
static const uint32_t default_shards[] = {1, 4, 16, 64, 256};

/* "16", "100b", "1k", "64K": a count, with k = 1024. */
static int parse_count(const char *tok, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(tok, &end, 10);
	if (errno || end == tok || v > UINT32_MAX)
		return -EINVAL;
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end)
		return -EINVAL;
	*ret = v;
	return 0;
}

/*
 * A sweep's points from list (or the defaults for NULL, "" or "default"),
 * each within [1, max], into out. Duplicates run twice, in the order given.
 */
static int parse_sweep(const char *opt, const char *list, const uint32_t *def, unsigned ndef,
                       uint64_t max, uint32_t *out, unsigned *ret_n)
{
	char *copy, *save = NULL;
	unsigned n = 0;
	int r = 0;

	if (!list || !list[0] || strcmp(list, "default") == 0) {
		memcpy(out, def, ndef * sizeof(*def));
		*ret_n = ndef;
		return 0;
	}
	copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (parse_count(tok, &v) < 0 || v < 1 || v > max || n == MAX_SWEEP) {
			fprintf(stderr, "perf_append: bad --%s entry '%s' (1..%llu, at most %d)\n",
			        opt, tok, (unsigned long long)max, MAX_SWEEP);
			r = -EINVAL;
			break;
		}
		out[n++] = (uint32_t)v;
	}
	free(copy);
	if (r == 0 && n == 0) {
		fprintf(stderr, "perf_append: --%s: empty list\n", opt);
		r = -EINVAL;
	}
	if (r == 0)
		*ret_n = n;
	return r;
}

/* The sweeps' cases: names, sizes and records per append (as the fixed
 * cases choose them: about 16 KiB of data, 1 to 64 records). */
static uint32_t sweep_batch(uint32_t rec_bytes)
{
	return (uint32_t)SL_MAX(
	        1u, SL_MIN((uint32_t)SWEEP_MAX_BATCH, (uint32_t)(SWEEP_BATCH_BYTES / rec_bytes)));
}

static void sweeps_make(void)
{
	for (unsigned i = 0; i < o.nsizes; i++) {
		struct sweep_point *p = &size_pts[i];
		uint32_t b = o.sizes[i];

		if (b >= KIB && b % KIB == 0)
			snprintf(p->name, sizeof(p->name), "size-%uk", b / (uint32_t)KIB);
		else
			snprintf(p->name, sizeof(p->name), "size-%u", b);
		p->d = (struct case_def){p->name, b, 1, sweep_batch(b)};
	}
	for (unsigned i = 0; i < o.nshards; i++) {
		struct sweep_point *p = &shard_pts[i];

		snprintf(p->name, sizeof(p->name), "shards-%u", o.shards[i]);
		p->d = (struct case_def){p->name, SHARDS_REC_BYTES, o.shards[i],
		                         sweep_batch(SHARDS_REC_BYTES)};
	}
}

static int parse_opts(int argc, char **argv)
{
	static const struct option lo[] = {
	        {"dir", required_argument, NULL, 'd'},
	        {"seconds", required_argument, NULL, 's'},
	        {"quick", no_argument, NULL, 'q'},
	        {"csv", required_argument, NULL, 'c'},
	        {"json", required_argument, NULL, 'j'},
	        {"cases", required_argument, NULL, 'k'},
	        {"set", required_argument, NULL, 'S'},
	        {"load", required_argument, NULL, 'l'},
	        {"help", no_argument, NULL, 'h'},
	        {"steady", no_argument, NULL, 'y'},
	        {"sizes", optional_argument, NULL, 'z'},
	        {"shards", optional_argument, NULL, 'n'},
	        {NULL, 0, NULL, 0},
	};
	const char *list = NULL;
	int ch;

	o.dir = "/var/tmp/sluice-perf";
	o.seconds = 2;
	o.load = 0.5;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o.dir = optarg;
			break;
		case 's':
			o.seconds = strtod(optarg, NULL);
			if (!(o.seconds > 0 && o.seconds <= 3600)) {
				fprintf(stderr, "perf_append: --seconds must be in (0, 3600]\n");
				return -EINVAL;
			}
			break;
		case 'q':
			o.quick = true;
			break;
		case 'y':
			o.steady = true;
			break;
		case 'c':
			o.csv = optarg;
			break;
		case 'j':
			o.json = optarg;
			break;
		case 'k':
			list = optarg;
			break;
		case 'l':
			o.load = strtod(optarg, NULL);
			if (!(o.load > 0 && o.load <= 1)) {
				fprintf(stderr, "perf_append: --load must be in (0, 1]\n");
				return -EINVAL;
			}
			break;
		case 'S': {
			struct sl_store_config c;

			sl_store_config_default(&c);
			if (o.nsets == MAX_SETS || apply_set(&c, optarg) < 0) {
				fprintf(stderr, "perf_append: bad --set '%s' (see --help)\n",
				        optarg);
				return -EINVAL;
			}
			o.sets[o.nsets++] = optarg;
			break;
		}
		case 'z':
		case 'n': {
			/* The list may follow as the next word: --sizes 16,1k. */
			const char *arg = optarg;

			if (!arg && optind < argc && argv[optind][0] != '-')
				arg = argv[optind++];
			if (ch == 'z' ? parse_sweep("sizes", arg, default_sizes,
			                            SL_ARRAY_SIZE(default_sizes),
			                            SWEEP_MAX_REC_BYTES, o.sizes, &o.nsizes) < 0
			              : parse_sweep("shards", arg, default_shards,
			                            SL_ARRAY_SIZE(default_shards), SWEEP_MAX_SHARDS,
			                            o.shards, &o.nshards) < 0)
				return -EINVAL;
			break;
		}
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return -EINVAL;
	}
	sweeps_make();
	/* Without --cases, a sweep runs alone; with neither, every case. */
	if (!list && !o.nsizes && !o.nshards)
		list = "all";
	if (list && parse_cases(list) < 0)
		return -EINVAL;
	if (o.want_half)
		o.want[CASE_1K_1] = true; /* the open-loop rate comes from it */
	return 0;
}

/* Runs the points of a sweep, each a closed-loop case with its raw limit. */
static int run_sweep(struct sweep_point *pts, unsigned n)
{
	for (unsigned i = 0; i < n && !stop; i++) {
		int r = run_case(&pts[i].d, &pts[i].r, 0);

		if (r < 0) {
			if (r != -EINTR)
				fprintf(stderr, "perf_append: case %s: %s\n", pts[i].name,
				        strerror(-r));
			return r;
		}
		if (pts[i].r.ran)
			case_print(&pts[i].r);
	}
	return 0;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct target t[8];
	struct stat sb;
	unsigned nt;
	int r, ret = 1;

	if (parse_opts(argc, argv) < 0)
		return 2;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	data_buf = malloc(64 * KIB);
	if (!data_buf)
		return 1;
	/* Incompressible data, in case the device compresses. */
	for (uint64_t i = 0, x = 0x9e3779b97f4a7c15ull; i < 64 * KIB; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		data_buf[i] = (uint8_t)x;
	}

	made_base_dir = stat(o.dir, &sb) != 0;
	r = sl_mkdir_p(o.dir);
	if (r < 0) {
		fprintf(stderr, "perf_append: cannot create %s: %s\n", o.dir, strerror(-r));
		return 1;
	}
	snprintf(run_dir, sizeof(run_dir), "%s/run-%ld", o.dir, (long)getpid());
	if (free_bytes(o.dir) < (o.quick ? MIN_FREE_BYTES_QUICK : MIN_FREE_BYTES)) {
		fprintf(stderr,
		        "perf_append: %s has %llu MiB free; refusing to run below %llu MiB\n",
		        o.dir, (unsigned long long)(free_bytes(o.dir) / MIB),
		        (unsigned long long)((o.quick ? MIN_FREE_BYTES_QUICK : MIN_FREE_BYTES) /
		                             MIB));
		ret = EXIT_SKIP;
		goto out_base;
	}
	r = sl_mkdir_p(run_dir);
	if (r < 0) {
		fprintf(stderr, "perf_append: cannot create %s: %s\n", run_dir, strerror(-r));
		goto out_base;
	}
	setup_collect(run_dir);
	setup_print();

	/* (b) first: the open-loop target needs it, and it is cheap. */
	printf("\nraw (b): %u B O_DIRECT pwrite + fdatasync, queue depth 1\n", RAW_SYNC_BS);
	r = raw_fsync_latency(run_dir, o.quick ? 0.2 : o.seconds, false, &rsync);
	if (r == 0)
		r = raw_fsync_latency(run_dir, o.quick ? 0.1 : o.seconds / 2, true, &rsync_over);
	if (r < 0) {
		fprintf(stderr, "perf_append: raw fdatasync: %s\n", strerror(-r));
		goto out;
	}
	raw_sync_print("appending into fallocated blocks:", &rsync);
	raw_sync_print("overwriting written blocks:      ", &rsync_over);
	/* The same reference point at the start and the end: how much the
	 * device's own limit moves during the run. */
	r = raw_bandwidth(run_dir, 512 * KIB, 4, o.quick ? 0.1 : 1, &su.drift[0]);
	if (r < 0) {
		fprintf(stderr, "perf_append: raw bandwidth: %s\n", strerror(-r));
		goto out;
	}
	printf("raw (a) reference, 512 KiB writes at queue depth 4: %.1f MB/s\n", su.drift[0].mbps);
	fflush(stdout);

	for (unsigned i = 0; i < NCASES && !stop; i++) {
		if (!o.want[i])
			continue;
		r = run_case(&cases[i], &res[i], 0);
		if (r < 0) {
			if (r != -EINTR)
				fprintf(stderr, "perf_append: case %s: %s\n", cases[i].name,
				        strerror(-r));
			goto out;
		}
		if (res[i].ran)
			case_print(&res[i]);
	}
	if (o.want_half && !stop) {
		const struct case_result *c1 = &res[CASE_1K_1];

		if (c1->ran && c1->rec_per_s > 0) {
			half.target_rec_s = c1->rec_per_s * o.load;
			r = run_case(&cases[CASE_1K_1], &half,
			             (double)cases[CASE_1K_1].batch * 1e9 / half.target_rec_s);
			if (r < 0) {
				if (r != -EINTR)
					fprintf(stderr, "perf_append: open loop: %s\n",
					        strerror(-r));
				goto out;
			}
			if (half.ran)
				case_print(&half);
		} else {
			printf("\nhalf load: skipped (case %s did not run)\n",
			       cases[CASE_1K_1].name);
		}
	}
	if (o.nsizes && !stop) {
		printf("\nsize sweep: 1 shard log, durable, one thread, closed loop; records per "
		       "append:\n  %llu KiB of data in 1 to %d records; each point with raw (a) at "
		       "its write size\n",
		       (unsigned long long)(SWEEP_BATCH_BYTES / KIB), SWEEP_MAX_BATCH);
		r = run_sweep(size_pts, o.nsizes);
		if (r < 0)
			goto out;
	}
	if (o.nshards && !stop) {
		printf("\nshard sweep: %u B records, durable, one thread (shards per core = "
		       "shards), closed loop;\n  each point with raw (a) at its write size and "
		       "queue depth\n",
		       SHARDS_REC_BYTES);
		r = run_sweep(shard_pts, o.nshards);
		if (r < 0)
			goto out;
	}
	if (!stop && raw_bandwidth(run_dir, 512 * KIB, 4, o.quick ? 0.1 : 1, &su.drift[1]) == 0)
		printf("\nraw (a) reference again at the end: %.1f MB/s\n", su.drift[1].mbps);
	printf("\nI/O backend: %s", su.backend[0] ? su.backend : "?");
	if (su.uring_err)
		printf(" (io_uring unavailable: %s)", strerror(-su.uring_err));
	printf("\n");
	summary_print();
	nt = targets_eval(t);
	if (fixed_wanted())
		targets_print(t, nt);
	ret = stop ? 1 : 0;
	if (o.csv && (r = csv_write(o.csv)) < 0) {
		fprintf(stderr, "perf_append: %s: %s\n", o.csv, strerror(-r));
		ret = 1;
	}
	if (o.json && (r = json_write(o.json, t, nt)) < 0) {
		fprintf(stderr, "perf_append: %s: %s\n", o.json, strerror(-r));
		ret = 1;
	}
out:
	sl_machine_rm_rf(run_dir, run_dir);
out_base:
	if (made_base_dir)
		rmdir(o.dir);
	free(data_buf);
	return ret;
}

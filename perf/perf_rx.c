/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf_rx: what one core of the engine's rx path (parse + steer + enqueue)
 * gets out of a port, as a ratio to what the same PMD delivers to a loop that
 * only receives and frees, measured in the same run.
 *
 * The port is net_pcap with infinite_rx=1 replaying a file of producer
 * frames this program writes first: 4096 distinct PUT frames per case, each
 * of N records of 100 B data with keys "key-<n>" (their MD5 hash keys spread
 * them over the 16 shards of the stream), one producer, increasing batch_seq,
 * ack mode NONE, Ethernet/IPv4/UDP to 198.18.0.2:SL_WIRE_DEFAULT_PORT with the
 * engine's MAC. Cases: N = 1 and 11 (--records).
 *
 * Per case, two net_pcap ports replay the same file, each on lcore 1:
 *  - limit: rte_eth_rx_burst(32) + rte_pktmbuf_free_bulk in a loop;
 *  - engine: sl_engine with one lcore as its rx and its shard lcore and
 *    discard=1, so the shard role frees each frame where it would append.
 * Both are sampled by the main lcore, which sleeps meanwhile: a warm-up,
 * then the window; counters and the TSC are read at both ends of the window.
 * Cycles per packet and per record are the TSC cycles the worker thread
 * spent on its CPU in the window (its schedstat run time at the TSC rate)
 * divided by the count: the TSC over the window when it had the core
 * throughout, and not inflated when the machine took the core away (its
 * on-CPU share and the hypervisor's steal are printed next to them).
 *
 * Every frame must pass the engine's checks: a packet or wire drop, a packet
 * the engine did not recognise as a producer frame or a record it throttled
 * fails the run, since the figures would then be of a different path.
 *
 * Exit status: 0 when every case ran (targets are reported, not enforced),
 * 77 when EAL cannot start here (the reason is printed), 1 otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_version.h>

#include "clock.h"
#include "compiler.h"
#include "engine.h"
#include "err.h"
#include "fs.h"
#include "machine.h"
#include "pkt.h"
#include "wire.h"

#define EXIT_SKIP     77
#define MAX_CASES     8
#define NFRAMES       4096 /* distinct frames per pcap file */
#define REC_DATA      100
#define MTU_PAYLOAD   1472 /* UDP payload of a 1500-byte IPv4 packet */
#define BURST         32   /* as the engine's rx_burst default */
#define NB_DESC       1024 /* as the engine's nb_rxd/nb_txd defaults */
#define WORKER_LCORE  1
#define STREAM_SHARDS 16
#define PRODUCER_ID   0x5e5e0000c0ffee01ull
#define STREAM_NAME   "perf"

/* The targets. */
#define TARGET_RATIO    0.60
#define TARGET_RECS     10e6 /* records/s per core ... */
#define TARGET_RECS_PER 11   /* ... at this many records per frame */

static const uint8_t engine_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
static const uint8_t producer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t engine_ip[4] = {198, 18, 0, 2};
static const uint8_t producer_ip[4] = {198, 18, 0, 1};

struct opts {
	const char *dir;
	double seconds;
	bool quick;
	bool udp_csum;
	const char *csv;
	const char *json;
	unsigned recs[MAX_CASES];
	unsigned ncases;
};

/* One measured window of a loop on the worker lcore. */
struct window {
	double s;            /* wall seconds */
	uint64_t cycles;     /* TSC over the window */
	uint64_t cpu_cycles; /* TSC cycles the worker was on its CPU (= cycles if unknown) */
	double cpu_share;    /* worker thread's on-CPU time / wall, -1 unknown */
	double steal;        /* of the worker's CPU, by the hypervisor, / wall */
	uint64_t packets;
	uint64_t frames;
	uint64_t records;
};

struct case_result {
	unsigned recs; /* per frame */
	bool ran;
	double frame_bytes; /* average Ethernet frame, without FCS */
	char pcap[PATH_MAX + 32];
	uint16_t port_limit, port_engine;
	struct window lim, eng;
	double lim_pps, eng_pps, eng_rps, ratio;
	double ratio_cpu;                            /* of the rates per on-CPU second */
	double lim_cpp, eng_cpp, eng_cpr, above_cpr; /* cycles per packet / record */
	bool met_ratio, met_recs;
};

struct setup {
	char cpu[128];
	long cpus;
	char kernel[320];
	char loadavg[2][64];
	uint64_t tsc_hz;
	double warm_s, window_s;
};

static struct opts o;
static struct setup su;
static struct case_result res[MAX_CASES];
static char run_dir[PATH_MAX];
static volatile sig_atomic_t stop;
static pid_t worker_tid;
static int worker_cpu = -1;

/* ---- small helpers ---- */

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Sleeps s seconds, or less on a signal. */
static void nap(double s)
{
	int64_t end = sl_mono_ns() + (int64_t)(s * 1e9);

	while (!stop) {
		int64_t left = end - sl_mono_ns();

		if (left <= 0)
			break;
		usleep((useconds_t)SL_MIN(left / 1000, 10000));
	}
}

/* Nanoseconds the worker thread has spent on a CPU, or 0 if unknown. */
static uint64_t worker_run_ns(void)
{
	char path[64], line[128];
	unsigned long long v = 0;

	if (worker_tid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", (int)worker_tid);
	sl_machine_read_line(path, line, sizeof(line));
	if (sscanf(line, "%llu", &v) != 1)
		return 0;
	return v;
}

/* Ticks the hypervisor took from the worker's CPU (/proc/stat "steal"). */
static uint64_t steal_ticks(void)
{
	char line[512], name[16];
	unsigned long long v[8];
	uint64_t r = 0;
	FILE *f = fopen("/proc/stat", "re");

	if (!f)
		return 0;
	snprintf(name, sizeof(name), "cpu%d ", worker_cpu);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, strlen(name)) != 0)
			continue;
		if (sscanf(line + strlen(name), "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		           &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8)
			r = v[7];
		break;
	}
	fclose(f);
	return r;
}

static int tid_main(void *arg)
{
	(void)arg;
	worker_tid = (pid_t)syscall(SYS_gettid);
	worker_cpu = sched_getcpu();
	return 0;
}

/* ---- setup ---- */

static void setup_collect(void)
{

	sl_machine_cpu_model(su.cpu, sizeof(su.cpu));
	su.cpus = sysconf(_SC_NPROCESSORS_ONLN);
	sl_machine_kernel(su.kernel, sizeof(su.kernel));
	sl_machine_read_line("/proc/loadavg", su.loadavg[0], sizeof(su.loadavg[0]));
	su.warm_s = o.quick ? 0.1 : 0.5;
	su.window_s = o.quick ? 0.3 : o.seconds;
}

static void setup_print(void)
{
	printf("perf_rx: the engine's rx path (parse + steer + enqueue) on one core vs rx-only\n");
	printf("setup\n");
	printf("  cpu:        %s, %ld online\n", su.cpu, su.cpus);
	printf("  kernel:     %s\n", su.kernel);
	printf("  dpdk:       %s, TSC %.3f GHz\n", rte_version(), (double)su.tsc_hz / 1e9);
	printf("  pmd:        net_pcap, infinite_rx=1 (each rx copies the stored frame into a\n"
	       "              fresh mbuf), no rx checksum offload, tx dropped by the PMD\n");
	printf("  lcores:     main 0 (sleeps), worker %d runs the loop under test\n", WORKER_LCORE);
	printf("  frames:     %d distinct PUT frames per case, %d B records, keys key-<n>,\n"
	       "              ack mode NONE, IPv4 UDP checksum %s\n",
	       NFRAMES, REC_DATA,
	       o.udp_csum ? "filled (the engine verifies it in software)"
	                  : "zero (not verified, as with NIC offload)");
	printf("  limit:      rte_eth_rx_burst(%d) + rte_pktmbuf_free_bulk on a second port\n"
	       "              replaying the same file, same mbuf pool parameters\n",
	       BURST);
	printf("  engine:     1 rx lcore = 1 shard lcore, rx_burst %d, stream of %d shards,\n"
	       "              discard=1 (shard role frees frames instead of appending)\n",
	       BURST, STREAM_SHARDS);
	printf("  window:     %.2f s per loop after %.2f s warm-up%s\n", su.window_s, su.warm_s,
	       o.quick ? " (--quick)" : "");
	printf("  load:       %s (/proc/loadavg at start)\n", su.loadavg[0]);
	printf("  directory:  %s\n", run_dir);
	fflush(stdout);
}

/* ---- producer frames ---- */

static void to_engine(struct sl_pkt_reply *r)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->dst_mac, engine_mac, 6);
	memcpy(r->src_mac, producer_mac, 6);
	r->ip_version = 4;
	memcpy(r->dst_ip, engine_ip, 4);
	memcpy(r->src_ip, producer_ip, 4);
	r->dst_port = SL_WIRE_DEFAULT_PORT;
	r->src_port = 40000;
}

static void put_le32(FILE *f, uint32_t v)
{
	uint8_t b[4];

	sl_put_le32(b, v);
	fwrite(b, 1, 4, f);
}

static void put_le16(FILE *f, uint16_t v)
{
	uint8_t b[2];

	sl_put_le16(b, v);
	fwrite(b, 1, 2, f);
}

/*
 * Writes NFRAMES producer frames of recs records each as a classic pcap
 * file (magic 0xa1b2c3d4 little-endian, v2.4, snaplen 65535, Ethernet),
 * checking each one with the engine's own classifier and wire validator
 * first, so that a bad frame is an error here, before any measurement.
 */
static int pcap_write(const char *path, unsigned recs, double *ret_avg_bytes)
{
	struct sl_pkt_self self = {.has_ip4 = true, .udp_port = SL_WIRE_DEFAULT_PORT};
	struct sl_pkt_reply rep;
	uint8_t frame[2048], data[REC_DATA + 64];
	uint32_t hl;
	uint64_t total = 0, x = 0x9e3779b97f4a7c15ull;
	FILE *f;
	int r = 0;

	memcpy(self.mac, engine_mac, 6);
	memcpy(self.ip4, engine_ip, 4);
	to_engine(&rep);
	hl = sl_pkt_udp_hdr_len(&rep);
	/* Incompressible-looking data; records take windows of it. */
	for (size_t i = 0; i < sizeof(data); i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		data[i] = (uint8_t)x;
	}
	f = fopen(path, "we");
	if (!f)
		return -errno;
	put_le32(f, 0xa1b2c3d4u);
	put_le16(f, 2);
	put_le16(f, 4);
	put_le32(f, 0);     /* thiszone */
	put_le32(f, 0);     /* sigfigs */
	put_le32(f, 65535); /* snaplen */
	put_le32(f, 1);     /* LINKTYPE_ETHERNET */
	for (unsigned fi = 0; fi < NFRAMES && r == 0; fi++) {
		uint8_t *payload = frame + hl;
		uint32_t len = sl_wire_begin(payload, SL_WIRE_PUT, SL_WIRE_ACK_NONE, PRODUCER_ID,
		                             fi + 1, 1);
		uint32_t flen;
		struct sl_pkt_info info;
		struct sl_wire_hdr h;
		enum sl_pkt_drop why;

		for (unsigned i = 0; i < recs; i++) {
			char key[32];
			uint8_t hash[16];
			unsigned n = fi * recs + i;
			int klen = snprintf(key, sizeof(key), "key-%u", n);

			sl_wire_hash_key(key, (size_t)klen, hash);
			r = sl_wire_put_add(payload, MTU_PAYLOAD, &len, key, (uint16_t)klen, hash,
			                    false, data + n % 64, REC_DATA);
			if (r < 0) {
				fprintf(stderr,
				        "perf_rx: %u records of %d B do not fit one %d-byte UDP "
				        "payload (a 1500-byte MTU)\n",
				        recs, REC_DATA, MTU_PAYLOAD);
				break;
			}
		}
		if (r < 0)
			break;
		sl_wire_finish(payload, len, (uint16_t)recs);
		flen = sl_pkt_udp_write(frame, &rep, len);
		if (!o.udp_csum)
			memset(frame + hl - 2, 0, 2); /* "no checksum", legal over IPv4 */
		if (sl_pkt_classify(frame, flen, &self, 0, &info, &why) != SL_PKT_PRODUCER ||
		    sl_wire_check(frame + info.payload_off, info.payload_len, &h) != 0 ||
		    h.count != recs) {
			fprintf(stderr, "perf_rx: frame %u does not pass the engine's checks\n",
			        fi);
			r = -EBADMSG;
			break;
		}
		put_le32(f, fi / 1000);          /* ts_sec */
		put_le32(f, (fi % 1000) * 1000); /* ts_usec */
		put_le32(f, flen);               /* incl_len */
		put_le32(f, flen);               /* orig_len */
		fwrite(frame, 1, flen, f);
		total += flen;
	}
	if (ferror(f) && r == 0)
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0)
		*ret_avg_bytes = (double)total / NFRAMES;
	return r;
}

/* ---- the limit: rx-only ---- */

struct rxonly {
	uint16_t port;
	int stop;
	uint64_t packets; /* worker writes, main reads (relaxed) */
};

/* The loop the engine's rx role is compared with: the same burst size,
 * nothing between receive and free. */
static int rxonly_main(void *arg)
{
	struct rxonly *ro = arg;
	struct rte_mbuf *b[BURST];
	uint64_t n = 0;

	while (!__atomic_load_n(&ro->stop, __ATOMIC_RELAXED)) {
		uint16_t k = rte_eth_rx_burst(ro->port, 0, b, BURST);

		if (k == 0)
			continue;
		rte_pktmbuf_free_bulk(b, k);
		n += k;
		__atomic_store_n(&ro->packets, n, __ATOMIC_RELAXED);
	}
	return 0;
}

struct sample {
	int64_t ns;
	uint64_t tsc;
	uint64_t run_ns;
	uint64_t steal_ticks;
	uint64_t packets, frames, records;
};

static void sample_take(struct sample *s)
{
	s->ns = sl_mono_ns();
	s->tsc = rte_rdtsc();
	s->run_ns = worker_run_ns();
	s->steal_ticks = steal_ticks();
}

static void window_of(const struct sample *a, const struct sample *b, struct window *w)
{
	w->s = (double)(b->ns - a->ns) / 1e9;
	w->cycles = b->tsc - a->tsc;
	w->cpu_share = a->run_ns && b->run_ns
	                       ? (double)(b->run_ns - a->run_ns) / (double)(b->ns - a->ns)
	                       : -1;
	w->cpu_cycles =
	        w->cpu_share >= 0
	                ? (uint64_t)((double)(b->run_ns - a->run_ns) / 1e9 * (double)su.tsc_hz)
	                : w->cycles;
	w->steal = (double)(b->steal_ticks - a->steal_ticks) / (double)sysconf(_SC_CLK_TCK) / w->s;
	w->packets = b->packets - a->packets;
	w->frames = b->frames - a->frames;
	w->records = b->records - a->records;
}

static int run_limit(struct case_result *cr)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	struct rte_mempool *mp;
	struct rte_eth_conf conf;
	struct rxonly ro = {.port = cr->port_limit};
	struct sample a, b;
	uint16_t nrxd = NB_DESC, ntxd = NB_DESC;
	uint16_t port = cr->port_limit;
	int sock = rte_eth_dev_socket_id(port), rc;

	/* The engine's pool parameters: the same private area, data room
	 * and cache, room for the file the PMD keeps in mbufs. */
	snprintf(name, sizeof(name), "perf_rx_lim%u", cr->recs);
	mp = rte_pktmbuf_pool_create(name, NFRAMES + 8191, 256, sl_engine_mbuf_priv_size(),
	                             RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (!mp) {
		fprintf(stderr, "perf_rx: mbuf pool: %s\n", rte_strerror(rte_errno));
		return -ENOMEM;
	}
	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_configure(port, 1, 1, &conf);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrxd, &ntxd);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(port, 0, nrxd, sock < 0 ? 0 : (unsigned)sock, NULL, mp);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(port, 0, ntxd, sock < 0 ? 0 : (unsigned)sock, NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(port);
	if (rc < 0) {
		fprintf(stderr, "perf_rx: rx-only port %u: %s\n", port, rte_strerror(-rc));
		goto out;
	}
	rc = rte_eal_remote_launch(rxonly_main, &ro, WORKER_LCORE);
	if (rc < 0) {
		fprintf(stderr, "perf_rx: launch on lcore %d: %s\n", WORKER_LCORE,
		        rte_strerror(-rc));
		goto out_stop;
	}
	nap(su.warm_s);
	sample_take(&a);
	a.packets = __atomic_load_n(&ro.packets, __ATOMIC_RELAXED);
	nap(su.window_s);
	b.packets = __atomic_load_n(&ro.packets, __ATOMIC_RELAXED);
	sample_take(&b);
	__atomic_store_n(&ro.stop, 1, __ATOMIC_RELAXED);
	rte_eal_wait_lcore(WORKER_LCORE);
	a.frames = a.records = b.frames = b.records = 0;
	window_of(&a, &b, &cr->lim);
	rc = stop ? -EINTR : 0;
	if (rc == 0 && cr->lim.packets == 0) {
		fprintf(stderr, "perf_rx: the rx-only port received nothing\n");
		rc = -EIO;
	}
out_stop:
	rte_eth_dev_stop(port);
out:
	rte_eth_dev_close(port);
	rte_mempool_free(mp);
	return rc;
}

/* ---- the engine ---- */

static void stats_print_nonzero(const struct sl_engine_stats *s)
{
	static const char *const names[] = {
#define SL_X_NAME(n, d) #n,
	        SL_ENGINE_COUNTERS(SL_X_NAME)
#undef SL_X_NAME
	};

	for (unsigned k = 0; k < SL_EC_COUNT; k++)
		if (s->c[k])
			fprintf(stderr, "    %s %" PRIu64 "\n", names[k], s->c[k]);
	for (unsigned k = 0; k < SL_PKT_DROP_COUNT; k++)
		if (s->pkt_drops[k])
			fprintf(stderr, "    drop_pkt_%s %" PRIu64 "\n", sl_pkt_drop_name(k),
			        s->pkt_drops[k]);
	for (unsigned k = 0; k < SL_WIRE_DROP_COUNT; k++)
		if (s->wire_drops[k])
			fprintf(stderr, "    drop_wire_%s %" PRIu64 "\n", sl_wire_drop_name(k),
			        s->wire_drops[k]);
}

/* Every packet must have been a valid PUT of recs records that reached
 * its shard lcore; anything else means the frames or the engine are wrong
 * and the figures would not be of the path under test. */
static int stats_check(const struct sl_engine_stats *s, unsigned recs)
{
	uint64_t drops = 0;
	bool ok;

	for (unsigned k = 0; k < SL_PKT_DROP_COUNT; k++)
		drops += s->pkt_drops[k];
	for (unsigned k = 0; k < SL_WIRE_DROP_COUNT; k++)
		drops += s->wire_drops[k];
	ok = drops == 0 && s->c[SL_EC_rx_other] == 0 && s->c[SL_EC_rx_segmented] == 0 &&
	     s->c[SL_EC_unknown_stream] == 0 && s->c[SL_EC_throttled_ring] == 0 &&
	     s->c[SL_EC_frames] == s->c[SL_EC_rx_packets] &&
	     s->c[SL_EC_records] == s->c[SL_EC_frames] * recs && s->c[SL_EC_rx_packets] > 0;
	if (ok)
		return 0;
	fprintf(stderr,
	        "perf_rx: FAIL: the engine did not take every frame as a valid PUT of %u "
	        "records (expected frames == rx_packets, records == %u x frames, no drops, "
	        "no rx_other, no throttled_ring); its counters:\n",
	        recs, recs);
	stats_print_nonzero(s);
	return -EBADMSG;
}

static int run_engine(struct case_result *cr)
{
	struct sl_stream_set *set = calloc(1, sizeof(*set));
	struct sl_engine *e = NULL;
	struct sl_engine_config c;
	struct sl_engine_stats st;
	struct sample a, b;
	char dir[PATH_MAX + 32];
	int rc;

	if (!set)
		return -ENOMEM;
	snprintf(dir, sizeof(dir), "%s/engine-%u", run_dir, cr->recs);
	rc = sl_mkdir_p(dir);
	if (rc < 0) {
		fprintf(stderr, "perf_rx: %s: %s\n", dir, strerror(-rc));
		goto out;
	}
	rc = sl_streams_add(set, STREAM_NAME, STREAM_SHARDS);
	if (rc < 0) {
		fprintf(stderr, "perf_rx: stream: %s\n", strerror(-rc));
		goto out;
	}
	sl_engine_config_default(&c);
	c.port_id = cr->port_engine;
	memcpy(c.self.mac, engine_mac, 6);
	c.self.has_ip4 = true;
	memcpy(c.self.ip4, engine_ip, 4);
	c.data_dir = dir;
	c.rx_burst = BURST;
	c.nb_rxd = NB_DESC;
	c.nb_txd = NB_DESC;
	c.nrx = 1;
	c.rx_lcores[0] = WORKER_LCORE;
	c.nshard = 1;
	c.shard_lcores[0] = WORKER_LCORE;
	c.discard = 1;
	/* Nothing is appended; keep the preallocated segments small. */
	c.store.segment_bytes = 1u << 20;
	c.store.buffer_bytes = 256u << 10;
	c.store.max_record_bytes = 65535;
	rc = sl_engine_create(&c, set, &e);
	if (rc < 0) {
		fprintf(stderr, "perf_rx: engine: %s (%s)\n", sl_errmsg(), strerror(-rc));
		goto out;
	}
	rc = sl_engine_start(e);
	if (rc < 0) {
		fprintf(stderr, "perf_rx: engine start: %s (%s)\n", sl_errmsg(), strerror(-rc));
		goto out;
	}
	nap(su.warm_s);
	sl_engine_stats(e, &st);
	sample_take(&a);
	a.packets = st.c[SL_EC_rx_packets];
	a.frames = st.c[SL_EC_frames];
	a.records = st.c[SL_EC_records];
	nap(su.window_s);
	sl_engine_stats(e, &st);
	sample_take(&b);
	b.packets = st.c[SL_EC_rx_packets];
	b.frames = st.c[SL_EC_frames];
	b.records = st.c[SL_EC_records];
	sl_engine_stop(e);
	sl_engine_wait(e);
	window_of(&a, &b, &cr->eng);
	sl_engine_stats(e, &st);
	rc = stop ? -EINTR : stats_check(&st, cr->recs);
out:
	sl_engine_free(e);
	sl_machine_rm_rf(dir, run_dir);
	free(set);
	return rc;
}

static int run_case(struct case_result *cr)
{
	int rc;

	printf("\ncase %u record%s per frame (%.0f B frames): rx-only ...", cr->recs,
	       cr->recs == 1 ? "" : "s", cr->frame_bytes);
	fflush(stdout);
	rc = run_limit(cr);
	if (rc < 0)
		return rc;
	printf(" %.2f Mpps; engine ...", (double)cr->lim.packets / cr->lim.s / 1e6);
	fflush(stdout);
	rc = run_engine(cr);
	if (rc < 0)
		return rc;
	cr->lim_pps = (double)cr->lim.packets / cr->lim.s;
	cr->eng_pps = (double)cr->eng.packets / cr->eng.s;
	cr->eng_rps = (double)cr->eng.records / cr->eng.s;
	cr->ratio = cr->lim_pps > 0 ? cr->eng_pps / cr->lim_pps : 0;
	cr->ratio_cpu = (double)cr->eng.packets / (double)cr->eng.cpu_cycles /
	                ((double)cr->lim.packets / (double)cr->lim.cpu_cycles);
	cr->lim_cpp = (double)cr->lim.cpu_cycles / (double)cr->lim.packets;
	cr->eng_cpp = (double)cr->eng.cpu_cycles / (double)cr->eng.packets;
	cr->eng_cpr = (double)cr->eng.cpu_cycles / (double)cr->eng.records;
	cr->above_cpr = (cr->eng_cpp - cr->lim_cpp) / cr->recs;
	cr->met_ratio = cr->ratio >= TARGET_RATIO;
	cr->met_recs = cr->recs != TARGET_RECS_PER || cr->eng_rps >= TARGET_RECS;
	cr->ran = true;
	printf(" %.2f Mpps, %.2f M records/s\n", cr->eng_pps / 1e6, cr->eng_rps / 1e6);
	return 0;
}

/* ---- report ---- */

static void share_str(char *buf, size_t cap, double share)
{
	if (share < 0)
		snprintf(buf, cap, "?");
	else
		snprintf(buf, cap, "%.2f", share);
}

static void table_print(void)
{
	bool disturbed = false;

	printf("\nresults (M = 10^6; cycles: TSC cycles the worker thread spent on its CPU in\n"
	       "the window / count, the TSC over the window when it had the core throughout)\n");
	printf("%-6s %8s %8s %8s %6s %6s %8s %8s %8s %8s %11s %s\n", "recs/", "rx-only", "engine",
	       "engine", "ratio", "ratio", "rx-only", "engine", "engine", "above rx", "cpu share",
	       "targets");
	printf("%-6s %8s %8s %8s %6s %6s %8s %8s %8s %8s %11s %s\n", "frame", "Mpps", "Mpps",
	       "Mrec/s", "", "on-cpu", "cyc/pkt", "cyc/pkt", "cyc/rec", "cyc/rec", "rx / eng",
	       "met");
	for (unsigned i = 0; i < o.ncases; i++) {
		const struct case_result *cr = &res[i];
		char s1[16], s2[16], sh[40];

		if (!cr->ran)
			continue;
		share_str(s1, sizeof(s1), cr->lim.cpu_share);
		share_str(s2, sizeof(s2), cr->eng.cpu_share);
		snprintf(sh, sizeof(sh), "%s / %s", s1, s2);
		printf("%-6u %8.3f %8.3f %8.3f %6.3f %6.3f %8.0f %8.0f %8.1f %8.1f %11s %s\n",
		       cr->recs, cr->lim_pps / 1e6, cr->eng_pps / 1e6, cr->eng_rps / 1e6, cr->ratio,
		       cr->ratio_cpu, cr->lim_cpp, cr->eng_cpp, cr->eng_cpr, cr->above_cpr, sh,
		       cr->met_ratio && cr->met_recs ? "yes" : "no");
		if ((cr->lim.cpu_share >= 0 && cr->lim.cpu_share < 0.95) ||
		    (cr->eng.cpu_share >= 0 && cr->eng.cpu_share < 0.95) || cr->lim.steal > 0.05 ||
		    cr->eng.steal > 0.05)
			disturbed = true;
	}
	printf("  ratio: engine Mpps / rx-only Mpps, as measured (the targets use it);\n"
	       "  on-cpu: the same per second the worker was on its CPU (less noise-prone)\n");
	printf("  above rx: the engine's cycles per packet minus rx-only's, per record: what\n"
	       "  parse + steer + enqueue and the shard role's free cost on top of the PMD\n");
	printf("  cpu share: on-CPU time of the worker thread / window (1.00: it had its core)\n");
	for (unsigned i = 0; i < o.ncases; i++)
		if (res[i].ran && (res[i].lim.steal > 0.005 || res[i].eng.steal > 0.005))
			printf("  steal time on cpu %d, case %u: rx-only %.1f %%, engine %.1f %%\n",
			       worker_cpu, res[i].recs, 100 * res[i].lim.steal,
			       100 * res[i].eng.steal);
	if (disturbed)
		printf("  WARNING: the worker lost more than 5 %% of its core in some window "
		       "(other processes or the hypervisor): figures are low and noisy\n");
	sl_machine_read_line("/proc/loadavg", su.loadavg[1], sizeof(su.loadavg[1]));
	printf("  load at the end: %s\n", su.loadavg[1]);

	printf("\ntargets (from the issue)\n");
	for (unsigned i = 0; i < o.ncases; i++) {
		const struct case_result *cr = &res[i];

		if (!cr->ran)
			continue;
		printf("  %-4s %2u rec/frame: engine / rx-only >= %.2f: %.3f\n",
		       cr->met_ratio ? "PASS" : "MISS", cr->recs, TARGET_RATIO, cr->ratio);
		if (cr->recs == TARGET_RECS_PER)
			printf("  %-4s %2u rec/frame: >= %.0f M records/s per core: %.2f M\n",
			       cr->met_recs ? "PASS" : "MISS", cr->recs, TARGET_RECS / 1e6,
			       cr->eng_rps / 1e6);
	}
	fflush(stdout);
}

static int csv_write(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	fprintf(f, "records_per_frame,frame_bytes,record_bytes,window_s,udp_csum,rx_only_pps,"
	           "rx_only_cycles_per_packet,rx_only_window_cycles_per_packet,rx_only_cpu_share,"
	           "rx_only_steal,engine_pps,engine_records_per_s,ratio,ratio_on_cpu,"
	           "engine_cycles_per_packet,engine_window_cycles_per_packet,"
	           "engine_cycles_per_record,above_rx_cycles_per_record,engine_cpu_share,"
	           "engine_steal,met_ratio,met_records\n");
	for (unsigned i = 0; i < o.ncases; i++) {
		const struct case_result *cr = &res[i];

		if (!cr->ran)
			continue;
		fprintf(f,
		        "%u,%.1f,%d,%.4f,%d,%.0f,%.1f,%.1f,%.3f,%.3f,%.0f,%.0f,%.4f,%.4f,%.1f,%.1f,"
		        "%.2f,%.2f,%.3f,%.3f,%d,%d\n",
		        cr->recs, cr->frame_bytes, REC_DATA, cr->eng.s, o.udp_csum, cr->lim_pps,
		        cr->lim_cpp, (double)cr->lim.cycles / (double)cr->lim.packets,
		        cr->lim.cpu_share, cr->lim.steal, cr->eng_pps, cr->eng_rps, cr->ratio,
		        cr->ratio_cpu, cr->eng_cpp,
		        (double)cr->eng.cycles / (double)cr->eng.packets, cr->eng_cpr,
		        cr->above_cpr, cr->eng.cpu_share, cr->eng.steal, cr->met_ratio,
		        cr->met_recs);
	}
	return fclose(f) == 0 ? 0 : -errno;
}

/*
 * The "runs" array, the schema every benchmark here shares: one closed-loop
 * run of the engine per case, with the rx-only rate as its limit. The
 * engine's receive path gives no per-record latency, so those are null.
 */
static void json_runs(FILE *f)
{
	bool first = true;

	fprintf(f, "  \"runs\": [");
	for (unsigned i = 0; i < o.ncases; i++) {
		const struct case_result *cr = &res[i];

		if (!cr->ran)
			continue;
		fprintf(f,
		        "%s\n    {\"label\": \"rx-%u\", \"loop\": \"closed\", \"offered_rps\": "
		        "null, \"records_per_frame\": %u, \"record_bytes\": %d, "
		        "\"frame_bytes\": %.1f, \"shards\": %d, \"lcores\": 1, \"ack\": "
		        "\"none\", \"window_s\": %.4f,\n     \"records_per_s\": %.0f, "
		        "\"packets_per_s\": %.0f, \"mb_per_s\": %.3f, \"p50_us\": null, "
		        "\"p99_us\": null, \"p999_us\": null, \"max_us\": null, "
		        "\"limit_packets_per_s\": %.0f, \"ratio\": %.4f, \"ratio_on_cpu\": "
		        "%.4f, \"cycles_per_record\": %.2f, \"cpu_share\": %.3f}",
		        first ? "" : ",", cr->recs, cr->recs, REC_DATA, cr->frame_bytes,
		        STREAM_SHARDS, cr->eng.s, cr->eng_rps, cr->eng_pps,
		        cr->eng_rps * REC_DATA / 1e6, cr->lim_pps, cr->ratio, cr->ratio_cpu,
		        cr->eng_cpr, cr->eng.cpu_share);
		first = false;
	}
	fprintf(f, "\n  ],\n");
}

static int json_write(const char *path)
{
	FILE *f = fopen(path, "we");
	bool first = true;

	if (!f)
		return -errno;
	fprintf(f, "{\n  \"benchmark\": \"perf_rx\",\n  \"setup\": {\"cpu\": ");
	sl_machine_json_str(f, su.cpu);
	fprintf(f, ", \"cpus\": %ld, \"kernel\": ", su.cpus);
	sl_machine_json_str(f, su.kernel);
	fprintf(f, ", \"dpdk\": ");
	sl_machine_json_str(f, rte_version());
	fprintf(f, ", \"tsc_hz\": %" PRIu64 ", \"pmd\": \"net_pcap infinite_rx=1\", ", su.tsc_hz);
	fprintf(f,
	        "\"record_bytes\": %d, \"frames_per_file\": %d, \"burst\": %d, "
	        "\"stream_shards\": %d, \"udp_csum\": %s, \"warmup_s\": %.3f, \"window_s\": "
	        "%.3f, \"quick\": %s, \"loadavg_start\": ",
	        REC_DATA, NFRAMES, BURST, STREAM_SHARDS, o.udp_csum ? "true" : "false", su.warm_s,
	        su.window_s, o.quick ? "true" : "false");
	sl_machine_json_str(f, su.loadavg[0]);
	fprintf(f, ", \"loadavg_end\": ");
	sl_machine_json_str(f, su.loadavg[1]);
	fprintf(f, ", \"limit\": \"rx-only: rte_eth_rx_burst + rte_pktmbuf_free_bulk on the same "
	           "PMD, same run\", \"ratio\": \"engine packets/s / rx-only packets/s\"},\n");
	json_runs(f);
	fprintf(f, "  \"cases\": [");
	for (unsigned i = 0; i < o.ncases; i++) {
		const struct case_result *cr = &res[i];

		if (!cr->ran)
			continue;
		fprintf(f,
		        "%s\n    {\"records_per_frame\": %u, \"frame_bytes\": %.1f, "
		        "\"rx_only\": {\"window_s\": %.4f, \"packets\": %" PRIu64
		        ", \"pps\": %.0f, \"cycles_per_packet\": %.1f, "
		        "\"window_cycles_per_packet\": %.1f, \"cpu_share\": %.3f, \"steal\": "
		        "%.3f}, "
		        "\"engine\": {\"window_s\": %.4f, \"packets\": %" PRIu64
		        ", \"records\": %" PRIu64 ", \"pps\": %.0f, \"records_per_s\": %.0f, "
		        "\"cycles_per_packet\": %.1f, \"window_cycles_per_packet\": %.1f, "
		        "\"cycles_per_record\": %.2f, \"above_rx_cycles_per_record\": %.2f, "
		        "\"cpu_share\": %.3f, \"steal\": %.3f}, \"ratio\": %.4f, "
		        "\"ratio_on_cpu\": %.4f}",
		        first ? "" : ",", cr->recs, cr->frame_bytes, cr->lim.s, cr->lim.packets,
		        cr->lim_pps, cr->lim_cpp, (double)cr->lim.cycles / (double)cr->lim.packets,
		        cr->lim.cpu_share, cr->lim.steal, cr->eng.s, cr->eng.packets,
		        cr->eng.records, cr->eng_pps, cr->eng_rps, cr->eng_cpp,
		        (double)cr->eng.cycles / (double)cr->eng.packets, cr->eng_cpr,
		        cr->above_cpr, cr->eng.cpu_share, cr->eng.steal, cr->ratio, cr->ratio_cpu);
		first = false;
	}
	fprintf(f, "\n  ],\n  \"targets\": [");
	first = true;
	for (unsigned i = 0; i < o.ncases; i++) {
		const struct case_result *cr = &res[i];

		if (!cr->ran)
			continue;
		fprintf(f,
		        "%s\n    {\"name\": \"ratio_%u\", \"value\": %.4f, \"min\": %.2f, "
		        "\"met\": %s}",
		        first ? "" : ",", cr->recs, cr->ratio, TARGET_RATIO,
		        cr->met_ratio ? "true" : "false");
		first = false;
		if (cr->recs == TARGET_RECS_PER)
			fprintf(f,
			        ",\n    {\"name\": \"records_per_s_%u\", \"value\": %.0f, \"min\": "
			        "%.0f, \"met\": %s}",
			        cr->recs, cr->eng_rps, TARGET_RECS,
			        cr->met_recs ? "true" : "false");
	}
	fprintf(f, "\n  ]\n}\n");
	return fclose(f) == 0 ? 0 : -errno;
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: perf_rx [options]\n"
	        "  --records LIST    records per frame, comma-separated (default 1,11; at most\n"
	        "                    11 of 100 B fit a 1500-byte MTU)\n"
	        "  --seconds S       measured seconds per loop (default 3), after 0.5 s warm-up\n"
	        "  --quick           0.3 s windows: a smoke test for CI (exit 0 if it ran, 77 if\n"
	        "                    EAL cannot start here)\n"
	        "  --no-udp-csum     zero UDP checksums: the engine then skips its software\n"
	        "                    check, as it does when the NIC has verified it\n"
	        "  --dir DIR         where the pcap files and the engine's logs go (default\n"
	        "                    /var/tmp)\n"
	        "  --csv FILE        write the results as CSV\n"
	        "  --json FILE       write the results and setup as JSON\n");
}

static int parse_records(const char *list)
{
	char *copy = strdup(list), *save = NULL;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	o.ncases = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long v = strtoul(tok, &end, 10);

		if (*end || v < 1 || v > SL_WIRE_MAX_RECORDS || o.ncases == MAX_CASES) {
			fprintf(stderr, "perf_rx: bad --records entry '%s' (1..%d, at most %d)\n",
			        tok, SL_WIRE_MAX_RECORDS, MAX_CASES);
			r = -EINVAL;
			break;
		}
		o.recs[o.ncases++] = (unsigned)v;
	}
	free(copy);
	if (r == 0 && o.ncases == 0)
		r = -EINVAL;
	return r;
}

static int parse_opts(int argc, char **argv)
{
	static const struct option lo[] = {
	        {"records", required_argument, NULL, 'r'},
	        {"seconds", required_argument, NULL, 's'},
	        {"quick", no_argument, NULL, 'q'},
	        {"no-udp-csum", no_argument, NULL, 'u'},
	        {"dir", required_argument, NULL, 'd'},
	        {"csv", required_argument, NULL, 'c'},
	        {"json", required_argument, NULL, 'j'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *list = "1,11";
	int ch;

	o.dir = "/var/tmp";
	o.seconds = 3;
	o.udp_csum = true;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'r':
			list = optarg;
			break;
		case 's':
			o.seconds = strtod(optarg, NULL);
			if (!(o.seconds > 0 && o.seconds <= 3600)) {
				fprintf(stderr, "perf_rx: --seconds must be in (0, 3600]\n");
				return -EINVAL;
			}
			break;
		case 'q':
			o.quick = true;
			break;
		case 'u':
			o.udp_csum = false;
			break;
		case 'd':
			o.dir = optarg;
			break;
		case 'c':
			o.csv = optarg;
			break;
		case 'j':
			o.json = optarg;
			break;
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
	return parse_records(list);
}

/* ---- main ---- */

#define MAX_EAL_ARGS (16 + 2 * MAX_CASES)

/*
 * One EAL per process, so every port is declared up front: per case a
 * limit port (net_pcap<2i>) and an engine port (net_pcap<2i+1>) replaying
 * the same file. rx_pcap alone makes the PMD drop what is sent (the engine
 * sends nothing here anyway: ack mode NONE and discard=1).
 */
static int eal_up(char *prog)
{
	static char prefix[64], vdev[2 * MAX_CASES][PATH_MAX + 96];
	char *argv[MAX_EAL_ARGS];
	int argc = 0, rc;

	snprintf(prefix, sizeof(prefix), "--file-prefix=perf-rx-%ld", (long)getpid());
	argv[argc++] = prog;
	argv[argc++] = "--no-huge";
	argv[argc++] = "-m";
	argv[argc++] = "1024";
	argv[argc++] = "--no-pci";
	argv[argc++] = "--no-shconf";
	argv[argc++] = prefix;
	argv[argc++] = "-l";
	argv[argc++] = "0,1";
	argv[argc++] = "--log-level=*:warning";
	argv[argc++] = "--no-telemetry";
	for (unsigned i = 0; i < o.ncases; i++) {
		for (unsigned k = 0; k < 2; k++) {
			snprintf(vdev[2 * i + k], sizeof(vdev[0]),
			         "--vdev=net_pcap%u,rx_pcap=%s,infinite_rx=1", 2 * i + k,
			         res[i].pcap);
			argv[argc++] = vdev[2 * i + k];
		}
	}
	rc = rte_eal_init(argc, argv);
	if (rc < 0)
		return -rte_errno;
	for (unsigned i = 0; i < o.ncases; i++) {
		char n0[32], n1[32];

		snprintf(n0, sizeof(n0), "net_pcap%u", 2 * i);
		snprintf(n1, sizeof(n1), "net_pcap%u", 2 * i + 1);
		if (rte_eth_dev_get_port_by_name(n0, &res[i].port_limit) != 0 ||
		    rte_eth_dev_get_port_by_name(n1, &res[i].port_engine) != 0)
			return -ENODEV;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	int rc, ret = 1;
	bool eal = false;

	if (parse_opts(argc, argv) < 0)
		return 2;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	snprintf(run_dir, sizeof(run_dir), "%s/sluice-perf-rx-%ld", o.dir, (long)getpid());
	rc = sl_mkdir_p(run_dir);
	if (rc < 0) {
		fprintf(stderr, "perf_rx: cannot create %s: %s\n", run_dir, strerror(-rc));
		run_dir[0] = '\0';
		return 1;
	}
	for (unsigned i = 0; i < o.ncases; i++) {
		res[i].recs = o.recs[i];
		snprintf(res[i].pcap, sizeof(res[i].pcap), "%s/put-%u.pcap", run_dir, o.recs[i]);
		rc = pcap_write(res[i].pcap, o.recs[i], &res[i].frame_bytes);
		if (rc < 0) {
			fprintf(stderr, "perf_rx: %s: %s\n", res[i].pcap, strerror(-rc));
			goto out;
		}
	}
	setup_collect();

	rc = eal_up(argv[0]);
	if (rc == -ENODEV) {
		fprintf(stderr, "perf_rx: SKIP: EAL started but the net_pcap ports are missing "
		                "(PMD not installed?)\n");
		ret = EXIT_SKIP;
		goto out;
	}
	if (rc < 0) {
		fprintf(stderr,
		        "perf_rx: SKIP: EAL cannot start here (%s): it needs 2 lcores (-l 0,1), "
		        "1 GiB without hugepages and the net_pcap PMD\n",
		        rte_strerror(-rc));
		ret = EXIT_SKIP;
		goto out;
	}
	eal = true;
	su.tsc_hz = rte_get_tsc_hz();
	rte_eal_remote_launch(tid_main, NULL, WORKER_LCORE);
	rte_eal_wait_lcore(WORKER_LCORE);
	setup_print();

	for (unsigned i = 0; i < o.ncases && !stop; i++) {
		rc = run_case(&res[i]);
		if (rc < 0) {
			if (rc != -EINTR)
				fprintf(stderr, "perf_rx: case %u records per frame failed: %s\n",
				        res[i].recs, strerror(-rc));
			goto out;
		}
	}
	if (stop)
		goto out;
	table_print();
	ret = 0;
	if (o.csv && (rc = csv_write(o.csv)) < 0) {
		fprintf(stderr, "perf_rx: %s: %s\n", o.csv, strerror(-rc));
		ret = 1;
	}
	if (o.json && (rc = json_write(o.json)) < 0) {
		fprintf(stderr, "perf_rx: %s: %s\n", o.json, strerror(-rc));
		ret = 1;
	}
out:
	if (eal) {
		/* EAL leaves its (by then empty) runtime directory behind
		 * even with --no-shconf: one per run, so it goes too. */
		char rundir[PATH_MAX];

		snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
		rte_eal_cleanup();
		if (rundir[0])
			rmdir(rundir);
	}
	sl_machine_rm_rf(run_dir, run_dir);
	return ret;
}

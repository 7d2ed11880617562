/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluiced: the engine daemon.
 *
 *   sluiced [OPTIONS]                 EAL defaults for a machine without a
 *                                     DPDK NIC: a TAP port, no hugepages
 *   sluiced EAL-ARGS -- [OPTIONS]     any PMD: the EAL arguments pass through
 *
 * With the TAP defaults it also gives the kernel side of the TAP an address,
 * so producers on this machine reach the engine at once, and prints where
 * they should send. Streams live in the control plane's catalog
 * (<data-dir>/catalog.json): created with --stream NAME[:SHARDS] or through
 * the Kinesis API (sluicectl, aws CLI, SDKs) on --http, 127.0.0.1:4567 by
 * default.
 *
 * With the TAP defaults the lcore also naps when idle (idle_sleep_us=100).
 *
 * Two threads that are not lcores: the control plane's (HTTP server, API,
 * every catalog change) and a small one for signals' requests: SIGINT/
 * SIGTERM stop the engine (what was appended is answered, then the logs
 * close), SIGUSR1 writes the counters to --stats-file.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/ipv6.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "catalog.h"
#include "control_plane.h"
#include "engine.h"
#include "err.h"
#include "fs.h"
#include "procmem.h"

#define DEFAULT_TAP        "sluice0"
#define DEFAULT_IP4        "198.18.0.2"
#define DEFAULT_KERNEL_IP4 "198.18.0.1"
#define DEFAULT_IP6        "2001:2::2"
#define DEFAULT_KERNEL_IP6 "2001:2::1"

static struct sl_engine *engine;
static volatile sig_atomic_t want_stats;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		want_stats = 1;
	else if (engine)
		sl_engine_stop(engine);
	/* The control thread is stopped once the engine returns. */
}

struct opts {
	const char *data_dir;
	const char *stats_file;
	const char *tap_iface; /* configure the kernel side of this TAP */
	const char *kernel_ip4;
	const char *kernel_ip6;
	unsigned stats_interval;
	bool print_config;
	char *rx_list;
	char *shard_list;
	struct sl_stream_set *add;
	struct sl_cp_config cp;
	struct sl_catalog_config cat;
	char http_host[64];
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: sluiced [OPTIONS]                (TAP port, no hugepages: a machine "
	        "without a DPDK NIC)\n"
	        "       sluiced EAL-ARGS -- [OPTIONS]    (any PMD; e.g. -l 0-3 -a 0000:3b:00.0)\n"
	        "\n"
	        "  --data-dir DIR          where logs and the stream list live (/var/lib/sluice)\n"
	        "  --stream NAME[:SHARDS]  create a stream unless it exists (repeatable)\n"
	        "  --http HOST:PORT        serve the Kinesis API (127.0.0.1:4567)\n"
	        "  --no-http               no API: streams from --stream only\n"
	        "  --access-key KEY        with --secret-key: verify SigV4 signatures (default:\n"
	        "  --secret-key SECRET       any signature is accepted); or SLUICE_ACCESS_KEY/\n"
	        "                            SLUICE_SECRET_KEY in the environment\n"
	        "  --region NAME           region in ARNs (us-east-1)\n"
	        "  --account ID            12-digit account in ARNs and messages (000000000000)\n"
	        "  --shard-limit N         open shards in all streams (500)\n"
	        "  --iterator-ttl SEC      shard iterators expire after SEC seconds (300, as "
	        "Kinesis)\n"
	        "  --api-workers N         threads parsing API request bodies (1; 0: on the "
	        "API's thread)\n"
	        "  --api-ack LEVEL         what API puts wait for: received|written|durable "
	        "(durable)\n"
	        "  --ip4 ADDR              the engine's IPv4 address (TAP default %s)\n"
	        "  --ip6 ADDR              the engine's IPv6 address (TAP default %s)\n"
	        "  --udp-port N            producer port (%d)\n"
	        "  --port-id N             DPDK port (0)\n"
	        "  --rx-lcores LIST        lcores that poll the port (default: the main lcore)\n"
	        "  --shard-lcores LIST     lcores that own shards (default: the others, or the "
	        "main one)\n"
	        "  --tap-kernel IFACE      give the kernel side of this TAP the addresses below\n"
	        "  --kernel-ip4 ADDR       (TAP default %s/24)\n"
	        "  --kernel-ip6 ADDR       (TAP default %s/64)\n"
	        "  --stats-file PATH       write counters here on SIGUSR1, every --stats-interval "
	        "and at exit\n"
	        "  --stats-interval SEC    (0: only on SIGUSR1 and exit)\n"
	        "  --set NAME=VALUE        an engine or store setting (see --print-config)\n"
	        "  --print-config          print every setting with its default, range and "
	        "meaning\n"
	        "  --help\n",
	        DEFAULT_IP4, DEFAULT_IP6, SL_WIRE_DEFAULT_PORT, DEFAULT_KERNEL_IP4,
	        DEFAULT_KERNEL_IP6);
}

static void print_config(const struct sl_engine_config *c)
{
#define SL_X_PRINT(name, type, def, min, max, doc)                                                 \
	printf("%-22s %-12" PRIu64 " [%" PRIu64 "..%" PRIu64 "] %s\n", #name, (uint64_t)c->name,   \
	       (uint64_t)(min), (uint64_t)(max), doc);
	SL_ENGINE_CONFIG(SL_X_PRINT)
#undef SL_X_PRINT
#define SL_X_PRINT(name, type, def, min, max, doc)                                                 \
	printf("store.%-16s %-12" PRIu64 " [%" PRIu64 "..%" PRIu64 "] %s\n", #name,                \
	       (uint64_t)c->store.name, (uint64_t)(min), (uint64_t)(max), doc);
	SL_STORE_CONFIG(SL_X_PRINT)
#undef SL_X_PRINT
}

static int set_option(struct sl_engine_config *c, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *end;
	unsigned long long v;

	if (!eq)
		return sl_err_set(-EINVAL, "--set %s: expected NAME=VALUE", arg);
	errno = 0;
	v = strtoull(eq + 1, &end, 0);
	if (errno || end == eq + 1 || *end)
		return sl_err_set(-EINVAL, "--set %s: not a number", arg);
#define SL_X_SET(name, type, def, min, max, doc)                                                   \
	if ((size_t)(eq - arg) == strlen(#name) && strncmp(arg, #name, strlen(#name)) == 0) {      \
		c->name = (type)v;                                                                 \
		return 0;                                                                          \
	}
	SL_ENGINE_CONFIG(SL_X_SET)
#undef SL_X_SET
#define SL_X_SET(name, type, def, min, max, doc)                                                   \
	if ((size_t)(eq - arg) == strlen("store." #name) &&                                        \
	    strncmp(arg, "store." #name, strlen("store." #name)) == 0) {                           \
		c->store.name = (type)v;                                                           \
		return 0;                                                                          \
	}
	SL_STORE_CONFIG(SL_X_SET)
#undef SL_X_SET
	return sl_err_set(-EINVAL, "--set %s: no such setting (see --print-config)", arg);
}

static int parse_lcores(const char *list, unsigned *out, unsigned *n)
{
	char *copy = strdup(list), *save = NULL;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	*n = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long v = strtoul(t, &end, 10);

		if (*end || v >= RTE_MAX_LCORE || *n == SL_ENGINE_MAX_LCORES) {
			rc = sl_err_set(-EINVAL, "lcore list '%s': bad entry '%s'", list, t);
			break;
		}
		out[(*n)++] = (unsigned)v;
	}
	free(copy);
	return rc;
}

/* Gives the kernel side of TAP iface an address and brings it up. */
static int tap_kernel_setup(const char *iface, const char *ip4, const char *ip6)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = 0;

	if (fd < 0)
		return sl_err_set(-errno, "socket: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
	if (ip4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

		sin->sin_family = AF_INET;
		if (inet_pton(AF_INET, ip4, &sin->sin_addr) != 1) {
			rc = sl_err_set(-EINVAL, "kernel IPv4 address '%s'", ip4);
			goto out;
		}
		if (ioctl(fd, SIOCSIFADDR, &ifr) < 0 && errno != EEXIST) {
			rc = sl_err_set(-errno, "%s: set address %s: %s", iface, ip4,
			                strerror(errno));
			goto out;
		}
		inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
		if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0) {
			rc = sl_err_set(-errno, "%s: set netmask: %s", iface, strerror(errno));
			goto out;
		}
	}
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		rc = sl_err_set(-errno, "%s: %s", iface, strerror(errno));
		goto out;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
		rc = sl_err_set(-errno, "%s: up: %s", iface, strerror(errno));
		goto out;
	}
	if (ip6) {
		struct in6_ifreq r6;
		int fd6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		char dad[128];
		FILE *f;

		/* The link is point to point with the engine: skip duplicate
		 * address detection, so the address works when "ready" prints
		 * (instead of ~2 s later). Best effort. */
		snprintf(dad, sizeof(dad), "/proc/sys/net/ipv6/conf/%s/accept_dad", iface);
		f = fopen(dad, "we");
		if (f) {
			fputs("0", f);
			fclose(f);
		}

		if (fd6 < 0)
			goto out; /* no IPv6 on this host: IPv4 still works */
		memset(&r6, 0, sizeof(r6));
		if (ioctl(fd, SIOCGIFINDEX, &ifr) == 0 &&
		    inet_pton(AF_INET6, ip6, &r6.ifr6_addr) == 1) {
			r6.ifr6_ifindex = ifr.ifr_ifindex;
			r6.ifr6_prefixlen = 64;
			if (ioctl(fd6, SIOCSIFADDR, &r6) < 0 && errno != EEXIST)
				fprintf(stderr, "sluiced: %s: IPv6 address %s: %s (IPv4 only)\n",
				        iface, ip6, strerror(errno));
		}
		close(fd6);
	}
out:
	close(fd);
	return rc;
}

/* EAL leaves its runtime directory (/var/run/dpdk/<prefix>, one per run:
 * the prefix carries our pid) behind even with --no-shconf, holding only
 * the telemetry socket by then: both go with us. */
static void eal_cleanup(void)
{
	char rundir[PATH_MAX];
	DIR *d;

	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	if (!rundir[0])
		return;
	d = opendir(rundir);
	if (d) {
		struct dirent *de;

		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(rundir);
}

static void write_stats(const char *path)
{
	char tmp[PATH_MAX];
	struct sl_engine_stats s;
	struct sl_engine_mem mem;
	struct sl_procmem pm;
	FILE *f;

	if (!path || !engine)
		return;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return;
	f = fopen(tmp, "we");
	if (!f)
		return;
	sl_engine_stats(engine, &s);
	sl_engine_stats_print(&s, f);
	if (sl_procmem_read(&pm) == 0)
		fprintf(f, "mem_rss_bytes %" PRIu64 "\nmem_rss_peak_bytes %" PRIu64 "\n",
		        pm.rss_bytes, pm.rss_peak_bytes);
	sl_engine_mem_stats(engine, &mem);
	sl_engine_mem_print(&mem, f);
	if (fclose(f) == 0)
		rename(tmp, path);
}

struct control {
	const struct opts *o;
	volatile int done;
};

static void *control_main(void *arg)
{
	struct control *ctl = arg;
	unsigned ticks = 0;

	while (!ctl->done) {
		usleep(100000);
		ticks++;
		if (want_stats ||
		    (ctl->o->stats_interval && ticks % (ctl->o->stats_interval * 10) == 0)) {
			want_stats = 0;
			write_stats(ctl->o->stats_file);
		}
	}
	return NULL;
}

/* Splits argv at "--" into EAL and sluiced arguments; without "--", EAL
 * gets the TAP defaults and every argument is sluiced's. */
static int eal_args(int argc, char **argv, char ***ret_eal, int *ret_neal, int *ret_first_opt,
                    bool *ret_tap_default)
{
	static char prefix[64];
	static char *defaults[] = {
	        NULL,
	        "--no-huge",
	        "-m",
	        "512",
	        "--no-pci",
	        "--no-shconf",
	        NULL,
	        "-l",
	        "0",
	        "--vdev=net_tap0,iface=" DEFAULT_TAP,
	        "--log-level=*:warning",
	};
	int sep = -1;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			sep = i;
			break;
		}
	if (sep > 0) {
		*ret_eal = argv;
		*ret_neal = sep;
		*ret_first_opt = sep + 1;
		*ret_tap_default = false;
		return 0;
	}
	snprintf(prefix, sizeof(prefix), "--file-prefix=sluiced-%d", (int)getpid());
	defaults[0] = argv[0];
	defaults[6] = prefix;
	*ret_eal = defaults;
	*ret_neal = (int)(sizeof(defaults) / sizeof(defaults[0]));
	*ret_first_opt = 1;
	*ret_tap_default = true;
	return 0;
}

static int parse_addr(const char *s, struct sl_pkt_self *self, bool v6)
{
	if (v6) {
		if (inet_pton(AF_INET6, s, self->ip6) != 1)
			return sl_err_set(-EINVAL, "--ip6 %s: not an IPv6 address", s);
		self->has_ip6 = true;
	} else {
		if (inet_pton(AF_INET, s, self->ip4) != 1)
			return sl_err_set(-EINVAL, "--ip4 %s: not an IPv4 address", s);
		self->has_ip4 = true;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"data-dir", required_argument, NULL, 'd'},
	        {"stream", required_argument, NULL, 's'},
	        {"ip4", required_argument, NULL, '4'},
	        {"ip6", required_argument, NULL, '6'},
	        {"udp-port", required_argument, NULL, 'u'},
	        {"port-id", required_argument, NULL, 'p'},
	        {"rx-lcores", required_argument, NULL, 'r'},
	        {"shard-lcores", required_argument, NULL, 'S'},
	        {"tap-kernel", required_argument, NULL, 't'},
	        {"kernel-ip4", required_argument, NULL, 'k'},
	        {"kernel-ip6", required_argument, NULL, 'K'},
	        {"stats-file", required_argument, NULL, 'f'},
	        {"stats-interval", required_argument, NULL, 'i'},
	        {"set", required_argument, NULL, 'o'},
	        {"print-config", no_argument, NULL, 'P'},
	        {"http", required_argument, NULL, 'H'},
	        {"no-http", no_argument, NULL, 'N'},
	        {"access-key", required_argument, NULL, 'A'},
	        {"secret-key", required_argument, NULL, 'B'},
	        {"region", required_argument, NULL, 'R'},
	        {"account", required_argument, NULL, 'C'},
	        {"shard-limit", required_argument, NULL, 'L'},
	        {"api-ack", required_argument, NULL, 'a'},
	        {"iterator-ttl", required_argument, NULL, 'T'},
	        {"api-workers", required_argument, NULL, 'W'},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	struct opts o = {.data_dir = "/var/lib/sluice"};
	struct sl_engine_config c;
	struct sl_stream_set *streams = NULL;
	struct sl_catalog *cat = NULL;
	struct sl_cp *cp = NULL;
	struct control ctl = {.o = &o};
	pthread_t ctl_thread;
	char **eal;
	int neal, first_opt, rc, opt;
	bool tap_default;
	char ip4s[INET_ADDRSTRLEN] = "", ip6s[INET6_ADDRSTRLEN] = "";

	sl_engine_config_default(&c);
	o.cp.http = true;
	sl_http_config_default(&o.cp.http_c);
	sl_api_config_default(&o.cp.api_c);
	sl_catalog_config_default(&o.cat);
	o.cp.ack_level = SL_WIRE_ACK_DURABLE;
	o.cp.parse_workers = 1;
	o.cp.api_c.access_key = getenv("SLUICE_ACCESS_KEY");
	o.cp.api_c.secret_key = getenv("SLUICE_SECRET_KEY");
	o.add = calloc(1, sizeof(*o.add));
	streams = calloc(1, sizeof(*streams));
	if (!o.add || !streams)
		return 1;
	eal_args(argc, argv, &eal, &neal, &first_opt, &tap_default);
	/* The TAP default is a development machine shared with its producers:
	 * the lcore naps 100 us after ~1024 empty polls instead of spinning a
	 * core flat out while idle (--set idle_sleep_us=0 to spin). */
	if (tap_default)
		c.idle_sleep_us = 100;

	/* Options first (so --help works without EAL). */
	{
		int oargc = argc - first_opt + 1;
		char **oargv = calloc((size_t)oargc + 1, sizeof(*oargv));

		if (!oargv)
			return 1;
		oargv[0] = argv[0];
		for (int i = 1; i < oargc; i++)
			oargv[i] = argv[first_opt + i - 1];
		while ((opt = getopt_long(oargc, oargv, "h", longopts, NULL)) != -1) {
			char name[SL_WIRE_MAX_NAME + 1];
			uint32_t shards;
			unsigned long v;

			rc = 0;
			switch (opt) {
			case 'd':
				o.data_dir = optarg;
				break;
			case 's':
				rc = sl_streams_parse_arg(optarg, name, &shards);
				if (rc == 0)
					rc = sl_streams_add(o.add, name, shards);
				break;
			case '4':
				rc = parse_addr(optarg, &c.self, false);
				break;
			case '6':
				rc = parse_addr(optarg, &c.self, true);
				break;
			case 'u':
				v = strtoul(optarg, NULL, 10);
				if (v == 0 || v > 65535)
					rc = sl_err_set(-EINVAL, "--udp-port %s", optarg);
				c.self.udp_port = (uint16_t)v;
				break;
			case 'p':
				c.port_id = (uint16_t)strtoul(optarg, NULL, 10);
				break;
			case 'r':
				o.rx_list = optarg;
				break;
			case 'S':
				o.shard_list = optarg;
				break;
			case 't':
				o.tap_iface = optarg;
				break;
			case 'k':
				o.kernel_ip4 = optarg;
				break;
			case 'K':
				o.kernel_ip6 = optarg;
				break;
			case 'f':
				o.stats_file = optarg;
				break;
			case 'i':
				o.stats_interval = (unsigned)strtoul(optarg, NULL, 10);
				break;
			case 'o':
				rc = set_option(&c, optarg);
				break;
			case 'P':
				o.print_config = true;
				break;
			case 'H': {
				const char *colon = strrchr(optarg, ':');

				v = colon ? strtoul(colon + 1, NULL, 10) : 0;
				if (!colon || colon == optarg || v > 65535 ||
				    (size_t)(colon - optarg) >= sizeof(o.http_host))
					rc = sl_err_set(-EINVAL, "--http %s: expected HOST:PORT",
					                optarg);
				else {
					memcpy(o.http_host, optarg, (size_t)(colon - optarg));
					o.http_host[colon - optarg] = 0;
					o.cp.http_c.host = o.http_host;
					o.cp.http_c.port = (uint16_t)v;
				}
				break;
			}
			case 'N':
				o.cp.http = false;
				break;
			case 'A':
				o.cp.api_c.access_key = optarg;
				break;
			case 'B':
				o.cp.api_c.secret_key = optarg;
				break;
			case 'R':
				o.cat.region = optarg;
				break;
			case 'C':
				o.cat.account = optarg;
				break;
			case 'L':
				v = strtoul(optarg, NULL, 10);
				if (v == 0 || v > 100000)
					rc = sl_err_set(-EINVAL, "--shard-limit %s", optarg);
				o.cat.shard_limit = (uint32_t)v;
				break;
			case 'W':
				v = strtoul(optarg, NULL, 10);
				if (v > 16)
					rc = sl_err_set(-EINVAL, "--api-workers %s: 0..16", optarg);
				o.cp.parse_workers = (unsigned)v;
				break;
			case 'T':
				v = strtoul(optarg, NULL, 10);
				if (v == 0 || v > 86400)
					rc = sl_err_set(-EINVAL,
					                "--iterator-ttl %s: 1..86400 seconds",
					                optarg);
				o.cp.api_c.iterator_ttl_ms = (uint32_t)v * 1000;
				break;
			case 'a':
				if (strcmp(optarg, "received") == 0)
					o.cp.ack_level = SL_WIRE_ACK_RECEIVED;
				else if (strcmp(optarg, "written") == 0)
					o.cp.ack_level = SL_WIRE_ACK_WRITTEN;
				else if (strcmp(optarg, "durable") == 0)
					o.cp.ack_level = SL_WIRE_ACK_DURABLE;
				else
					rc = sl_err_set(-EINVAL, "--api-ack %s", optarg);
				break;
			case 'h':
				usage(stdout);
				return 0;
			default:
				usage(stderr);
				return 2;
			}
			if (rc < 0) {
				fprintf(stderr, "sluiced: %s\n", sl_errmsg());
				return 2;
			}
		}
		if (optind < oargc) {
			fprintf(stderr, "sluiced: unexpected argument '%s'\n", oargv[optind]);
			usage(stderr);
			return 2;
		}
		free(oargv);
	}
	if (o.print_config) {
		print_config(&c);
		return 0;
	}
	if (tap_default) {
		if (!c.self.has_ip4 && !c.self.has_ip6) {
			parse_addr(DEFAULT_IP4, &c.self, false);
			parse_addr(DEFAULT_IP6, &c.self, true);
		}
		if (!o.tap_iface)
			o.tap_iface = DEFAULT_TAP;
		if (!o.kernel_ip4)
			o.kernel_ip4 = DEFAULT_KERNEL_IP4;
		if (!o.kernel_ip6)
			o.kernel_ip6 = DEFAULT_KERNEL_IP6;
	}

	if (!o.cp.api_c.access_key != !o.cp.api_c.secret_key) {
		fprintf(stderr, "sluiced: --access-key and --secret-key go together\n");
		return 2;
	}
	/* The catalog: what exists, plus what --stream asks for. */
	o.cat.dir = o.data_dir;
	rc = sl_catalog_open(&o.cat, &cat);
	if (rc < 0) {
		fprintf(stderr, "sluiced: catalog in %s: %s\n", o.data_dir, sl_errmsg());
		return 1;
	}
	if (sl_catalog_nstreams(cat) == 0) {
		/* Streams an older sluiced kept in <data-dir>/streams. */
		struct sl_stream_set *old = calloc(1, sizeof(*old));

		if (old && sl_streams_load(o.data_dir, old) == 0)
			for (uint32_t i = 0; i < old->n; i++)
				(void)sl_streams_add(o.add, old->s[i].name, old->s[i].shards);
		free(old);
	}
	if (o.add->n == 0 && sl_catalog_nstreams(cat) == 0) {
		sl_streams_add(o.add, "default", 2);
		printf("sluiced: no streams yet; creating 'default' with 2 shards (add your own "
		       "with --stream NAME:SHARDS or the API)\n");
	}
	for (uint32_t i = 0; i < o.add->n; i++) {
		const struct sl_cat_stream *have = sl_catalog_stream(cat, o.add->s[i].name);
		struct sl_catalog_create req = {.name = o.add->s[i].name,
		                                .mode = SL_CATALOG_PROVISIONED,
		                                .shard_count = o.add->s[i].shards};

		if (have)
			continue;
		rc = sl_catalog_create_stream(cat, &req);
		if (rc < 0) {
			fprintf(stderr, "sluiced: --stream %s: %s\n", o.add->s[i].name,
			        sl_errmsg());
			sl_catalog_close(cat);
			return 1;
		}
	}

	rc = rte_eal_init(neal, eal);
	if (rc < 0) {
		fprintf(stderr, "sluiced: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	if (rte_eth_dev_count_avail() == 0) {
		fprintf(stderr, "sluiced: no DPDK port (give a NIC with -a or a --vdev)\n");
		eal_cleanup();
		return 1;
	}

	/* Roles: by default the main lcore polls the port and the others own
	 * shards; with one lcore it does both. */
	rc = 0;
	if (o.rx_list)
		rc = parse_lcores(o.rx_list, c.rx_lcores, &c.nrx);
	else {
		c.rx_lcores[0] = rte_get_main_lcore();
		c.nrx = 1;
	}
	if (rc == 0 && o.shard_list)
		rc = parse_lcores(o.shard_list, c.shard_lcores, &c.nshard);
	else if (rc == 0) {
		unsigned id;

		RTE_LCORE_FOREACH_WORKER(id)
		{
			if (c.nshard < SL_ENGINE_MAX_LCORES)
				c.shard_lcores[c.nshard++] = id;
		}
		if (c.nshard == 0)
			c.shard_lcores[c.nshard++] = rte_get_main_lcore();
	}
	if (rc < 0) {
		fprintf(stderr, "sluiced: %s\n", sl_errmsg());
		eal_cleanup();
		return 2;
	}
	c.data_dir = o.data_dir;

	rc = sl_engine_create(&c, streams, &engine);
	if (rc == 0)
		rc = sl_cp_restore(engine, cat, stdout);
	if (rc == 0 && o.cp.http)
		rc = sl_cp_create(&o.cp, engine, cat, &cp);
	if (rc < 0) {
		fprintf(stderr, "sluiced: %s\n", *sl_errmsg() ? sl_errmsg() : strerror(-rc));
		sl_engine_free(engine);
		sl_catalog_close(cat);
		eal_cleanup();
		return 1;
	}
	if (o.tap_iface) {
		rc = tap_kernel_setup(o.tap_iface, o.kernel_ip4, o.kernel_ip6);
		if (rc < 0)
			fprintf(stderr, "sluiced: TAP %s: %s\n", o.tap_iface, sl_errmsg());
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);
	if (pthread_create(&ctl_thread, NULL, control_main, &ctl) == 0) {
		cpu_set_t set;

		/* Off the main lcore's CPU, which it inherited. */
		sl_engine_helper_cpus(engine, &set);
		(void)pthread_setaffinity_np(ctl_thread, sizeof(set), &set);
	}

	if (c.self.has_ip4)
		inet_ntop(AF_INET, c.self.ip4, ip4s, sizeof(ip4s));
	if (c.self.has_ip6)
		inet_ntop(AF_INET6, c.self.ip6, ip6s, sizeof(ip6s));
	printf("sluiced: data in %s", o.data_dir);
	{
		int uring_err;
		const char *backend = sl_engine_storage_backend(engine, &uring_err);

		printf("\nsluiced: %u rx lcore(s), %u shard lcore(s); storage writes with %s",
		       c.nrx, c.nshard, backend);
		if (uring_err)
			printf(" (io_uring unavailable: %s)", strerror(-uring_err));
		printf("\n");
	}
	{
		uint64_t loaded, skipped;

		sl_engine_retry_memory(engine, &loaded, &skipped);
		if (loaded || skipped)
			printf("sluiced: retry memory from the last clean stop: %" PRIu64
			       " batch parts loaded, %" PRIu64 " lines skipped\n",
			       loaded, skipped);
	}
	printf("sluiced: ready: producers send UDP to %s%s%s%s%s port %u%s%s\n", ip4s,
	       *ip4s && *ip6s ? " and [" : (*ip6s ? "[" : ""), ip6s, *ip6s ? "]" : "", "",
	       c.self.udp_port, o.tap_iface ? " via " : "", o.tap_iface ? o.tap_iface : "");
	if (cp)
		printf("sluiced: ready: Kinesis API on http://%s:%u (HTTP/1.1 and h2c)\n",
		       o.cp.http_c.host, sl_cp_port(cp));
	if (o.tap_iface && sl_catalog_nstreams(cat))
		printf("sluiced: try: sluice-put --host %s --stream %s hello world\n",
		       *ip4s ? ip4s : ip6s, sl_catalog_stream_at(cat, 0)->name);
	fflush(stdout);

	if (cp)
		rc = sl_cp_start(cp);
	if (rc == 0)
		rc = sl_engine_run(engine);
	ctl.done = 1;
	pthread_join(ctl_thread, NULL);
	write_stats(o.stats_file);
	{
		struct sl_engine_stats s;

		sl_engine_stats(engine, &s);
		printf("sluiced: stopping: %" PRIu64 " records appended, %" PRIu64 " acks sent\n",
		       s.c[SL_EC_appended], s.c[SL_EC_acks]);
	}
	/* The API's thread goes first (it calls into the engine), then the
	 * engine (its logs close), then the catalog. */
	sl_cp_free(cp);
	sl_engine_free(engine);
	engine = NULL;
	sl_catalog_close(cat);
	eal_cleanup();
	free(streams);
	free(o.add);
	return rc < 0 ? 1 : 0;
}

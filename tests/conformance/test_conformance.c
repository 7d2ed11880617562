/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kinesis API conformance (e2e suite): the real clients that users run —
 * boto3, aws CLI v1, aws CLI v2 and the AWS SDK for JavaScript v3 — each
 * against a freshly started server in a network namespace of its own, one
 * Criterion test per client. The scenarios are the scripts beside this file
 * (client_boto3.py, client_cli.sh, client_js.mjs); this driver makes the
 * namespace, starts the server, runs one script inside the namespace with
 * a sealed AWS environment and judges its exit status: 0 passed, 77 the
 * client is missing here (skip, with the script's reason), anything else
 * failed (the script's FAIL lines are the reason).
 *
 * The server is sluiced (`--data-dir TMP --http 127.0.0.1:4567`, TAP
 * defaults inside the namespace), or with SLUICE_CONFORMANCE_TARGET=
 * kinesalite the reference emulator (tests/conformance/kinesalite.js on
 * 127.0.0.1:4567 in the namespace), against which the scripts skip what
 * only sluice does. Every process is started as `ip netns exec NS ...`
 * (which execs in place: the PID is the program's), every wait is bounded,
 * and .fini kills what is left by PID, deletes the namespace and the
 * temporary directory. Needs root and the ip tool (and /dev/net/tun for
 * sluiced); skips with the reason otherwise. SLUICED and SLUICE_CONF_DIR
 * come from meson.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t_util.h"

#define API_PORT    4567
#define MAX_PROCS   8
#define MAX_ARGS    32
#define READY_MS    (60 * 1000)
#define STOP_MS     (15 * 1000)
#define TOOL_MS     (30 * 1000)
#define SETUP_MS    (300 * 1000)
#define CLIENT_MS   (240 * 1000)
#define EXEC_FAILED 127
#define SKIP_STATUS 77

/* ---- per-test state (each test is its own process); .fini undoes it ---- */

static char ns[64];
static bool ns_made;
static char *dir;
static pid_t live[MAX_PROCS];
static unsigned nlive;
static pid_t server;
static const char *target; /* "sluiced" or "kinesalite" */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void forget(pid_t pid)
{
	for (unsigned i = 0; i < nlive; i++)
		if (live[i] == pid) {
			live[i] = live[--nlive];
			return;
		}
}

/* Forks and execs argv[0] (found on PATH) with stdout and stderr to the
 * given file (NULL: inherited) and env (NAME=VALUE, NULL-terminated, may be
 * NULL) added to the environment. Returns the PID. */
static pid_t spawn(char *const argv[], const char *out, char *const env[])
{
	pid_t pid;

	cr_assert(nlive < MAX_PROCS, "too many processes");
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* A group of its own: a script's children go with it. */
		setpgid(0, 0);
		if (out) {
			int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

			if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
				_exit(EXEC_FAILED);
			close(fd);
		}
		for (unsigned i = 0; env && env[i]; i++)
			putenv(env[i]);
		/* Criterion's pipes to its runner stay out of the children. */
		close_range(3, ~0u, 0);
		execvp(argv[0], argv);
		_exit(EXEC_FAILED);
	}
	live[nlive++] = pid;
	return pid;
}

/* Waits up to ms for pid; returns 0 with its wait status, or -ETIMEDOUT
 * (the process is left running). */
static int wait_for(pid_t pid, int64_t ms, int *ret_status)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			forget(pid);
			*ret_status = st;
			return 0;
		}
		cr_assert(r == 0, "waitpid %d: %s", (int)pid, strerror(errno));
		if (now_ms() >= end)
			return -ETIMEDOUT;
		usleep(10000);
	}
}

/* SIGKILL to the process and its group (the children of a script). */
static void kill_hard(pid_t pid)
{
	int st;

	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	forget(pid);
}

/* SIGTERM, then SIGKILL if it has not gone within STOP_MS. */
static void stop(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	if (wait_for(pid, STOP_MS, &st) < 0)
		kill_hard(pid);
}

/* Runs a command to completion within ms; returns its exit status,
 * EXEC_FAILED if it could not be run, or -1 if it was killed. */
static int run_tool(char *const argv[], const char *out, char *const env[], int64_t ms)
{
	pid_t pid = spawn(argv, out, env);
	int st;

	if (wait_for(pid, ms, &st) < 0) {
		kill_hard(pid);
		cr_assert_fail("%s did not finish in %lld ms", argv[0], (long long)ms);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *path_in(const char *name)
{
	char *p;

	cr_assert(asprintf(&p, "%s/%s", dir, name) >= 0);
	return p;
}

/* The whole of a small file, NUL-terminated (empty if absent). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t len = 0;

	if (f) {
		cr_assert(fseek(f, 0, SEEK_END) == 0);
		len = (size_t)ftell(f);
		rewind(f);
	}
	buf = calloc(1, len + 1);
	cr_assert_not_null(buf);
	if (f) {
		len = fread(buf, 1, len, f);
		buf[len] = 0;
		fclose(f);
	}
	return buf;
}

/* The lines of text that start with prefix, joined (at most cap bytes). */
static void lines_with(const char *text, const char *prefix, char *buf, size_t cap)
{
	size_t n = 0, plen = strlen(prefix);

	buf[0] = 0;
	for (const char *p = text; *p && n + 1 < cap;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len >= plen && strncmp(p, prefix, plen) == 0)
			n += (size_t)snprintf(buf + n, cap - n, "%.*s\n", (int)len, p);
		if (!nl)
			break;
		p = nl + 1;
	}
	if (n >= cap)
		n = cap - 1;
	while (n && buf[n - 1] == '\n')
		buf[--n] = 0;
}

static void teardown(void)
{
	while (nlive)
		stop(live[nlive - 1]);
	if (ns_made) {
		char *argv[] = {"ip", "netns", "delete", ns, NULL};
		pid_t pid = spawn(argv, NULL, NULL);
		int st;

		if (wait_for(pid, TOOL_MS, &st) < 0)
			kill_hard(pid);
		ns_made = false;
	}
	if (dir) {
		if (getenv("SLUICE_E2E_KEEP"))
			fprintf(stderr, "conformance: kept %s\n", dir);
		else
			t_rm_rf(dir);
		free(dir);
		dir = NULL;
	}
}

TestSuite(conformance, .fini = teardown, .timeout = 300);

/* cr_skip_test() exits the test process at once, without .fini: whatever
 * was started or made is undone first. */
#define SKIP(...)                                                                                  \
	do {                                                                                       \
		char why_[8192];                                                                   \
                                                                                                   \
		snprintf(why_, sizeof(why_), __VA_ARGS__);                                         \
		teardown();                                                                        \
		cr_skip_test("%s", why_);                                                          \
	} while (0)

static const char *conf_dir(void)
{
	const char *d = getenv("SLUICE_CONF_DIR");

	if (!d)
		SKIP("SLUICE_CONF_DIR must name tests/conformance (meson sets it)");
	return d;
}

/* Installs the Node dependencies (setup.sh: npm ci, quiet when present);
 * skips with its reason when node, npm or the registry is missing. */
static void node_deps(void)
{
	char script[512], *log = path_in("setup.log"), *text;
	char *argv[] = {"bash", script, NULL};
	int rc;

	snprintf(script, sizeof(script), "%s/setup.sh", conf_dir());
	rc = run_tool(argv, log, NULL, SETUP_MS);
	text = slurp(log);
	if (rc == SKIP_STATUS)
		SKIP("Node dependencies: %s", text);
	cr_assert_eq(rc, 0, "setup.sh exit %d: %s", rc, text);
	free(text);
	free(log);
}

/* Whether the sluiced binary serves the Kinesis API (--help lists --http). */
static bool sluiced_has_http(void)
{
	char *log = path_in("help.txt"), *text;
	char *argv[] = {getenv("SLUICED"), "--help", NULL};
	bool yes;

	run_tool(argv, log, NULL, TOOL_MS);
	text = slurp(log);
	yes = strstr(text, "--http") != NULL;
	free(text);
	free(log);
	return yes;
}

/* Skips unless this machine can run the test; makes the namespace (with lo
 * up) and the test's directory, and picks the target. */
static void env_up(const char *tag)
{
	char *add[] = {"ip", "netns", "add", ns, NULL};
	char *lo[] = {"ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up", NULL};
	const char *t = getenv("SLUICE_CONFORMANCE_TARGET");

	target = t && *t ? t : "sluiced";
	if (strcmp(target, "sluiced") != 0 && strcmp(target, "kinesalite") != 0)
		cr_assert_fail("SLUICE_CONFORMANCE_TARGET=%s: expected sluiced or kinesalite",
		               target);
	if (geteuid() != 0)
		SKIP("needs root (network namespaces)");
	conf_dir();
	if (strcmp(target, "sluiced") == 0) {
		int fd;

		if (!getenv("SLUICED"))
			SKIP("SLUICED must name the executable (meson sets it)");
		fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
		if (fd < 0)
			SKIP("/dev/net/tun: %s (sluiced's TAP port needs it)", strerror(errno));
		close(fd);
	}
	dir = t_tmpdir(tag);
	if (strcmp(target, "kinesalite") == 0)
		node_deps();
	if (strcmp(target, "sluiced") == 0 && !sluiced_has_http())
		SKIP("this sluiced has no --http (no Kinesis API yet); "
		     "SLUICE_CONFORMANCE_TARGET=kinesalite runs the suite against "
		     "kinesalite");
	snprintf(ns, sizeof(ns), "sluice-conf-%d", (int)getpid());
	if (run_tool(add, NULL, NULL, TOOL_MS) != 0)
		SKIP("`ip netns add %s` failed (no ip tool or no namespaces here)", ns);
	ns_made = true;
	cr_assert_eq(run_tool(lo, NULL, NULL, TOOL_MS), 0, "lo up in %s", ns);
}

/* Whether something accepts TCP connections on 127.0.0.1:API_PORT inside
 * the namespace: a child joins it and tries once. */
static bool port_answers(void)
{
	char path[128];
	pid_t pid;
	int st;

	snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
	pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct sockaddr_in a = {.sin_family = AF_INET,
		                        .sin_port = htons(API_PORT),
		                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int nfd = open(path, O_RDONLY | O_CLOEXEC), s;

		if (nfd < 0 || setns(nfd, CLONE_NEWNET) < 0)
			_exit(2);
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		_exit(s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 ? 0 : 1);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(!(WIFEXITED(st) && WEXITSTATUS(st) == 2), "cannot enter namespace %s", ns);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Starts the target in the namespace and waits until its port answers.
 * Skips if sluiced cannot start here (EAL, TAP). */
#define CONF_ITERATOR_TTL_S "20"

static void server_start(void)
{
	char *log = path_in("server.log"), *data = path_in("data-dir");
	char port[16], listen[32], script[512];
	int64_t end = now_ms() + READY_MS;

	snprintf(port, sizeof(port), "%d", API_PORT);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", API_PORT);
	if (strcmp(target, "sluiced") == 0) {
		/* Iterators live CONF_ITERATOR_TTL_S, not 300 s, so that boto3's
		 * expired-iterator case can wait one out. */
		char *argv[] = {"ip",
		                "netns",
		                "exec",
		                ns,
		                getenv("SLUICED"),
		                "--data-dir",
		                data,
		                "--http",
		                listen,
		                "--iterator-ttl",
		                CONF_ITERATOR_TTL_S,
		                NULL};

		server = spawn(argv, log, NULL);
	} else {
		char *argv[] = {"ip", "netns", "exec", ns, "node", script, "--host", "127.0.0.1",
		                "--port", port,
		                /* Short CREATING/UPDATING/DELETING phases. */
		                "--createStreamMs", "100", "--deleteStreamMs", "100",
		                "--updateStreamMs", "100", "--shardLimit", "100", NULL};

		snprintf(script, sizeof(script), "%s/kinesalite.js", conf_dir());
		server = spawn(argv, log, NULL);
	}
	for (;;) {
		int st;

		if (port_answers())
			break;
		if (wait_for(server, 0, &st) == 0) {
			char *text = slurp(log);

			if (strstr(text, "EAL init failed") || strstr(text, "no DPDK port"))
				SKIP("%s cannot start here: %s", target, text);
			cr_assert_fail("%s exited (status 0x%x) before its port answered:\n%s",
			               target, st, text);
		}
		if (now_ms() >= end) {
			char *text = slurp(log);

			cr_assert_fail("%s: port %d not answering after %d ms:\n%s", target,
			               API_PORT, READY_MS, text);
		}
		usleep(50000);
	}
	free(log);
	free(data);
}

/*
 * Runs one client script in the namespace against the server and judges
 * it. argv is the command after `ip netns exec NS`.
 */
static void run_client(const char *name, char *const cmd[])
{
	char *argv[MAX_ARGS], *log, *text, endpoint[96], tgt[64], why[4096];
	char *env[] = {endpoint, tgt, "AWS_ACCESS_KEY_ID=AKIDSLUICECONFORMANCE",
	               "AWS_SECRET_ACCESS_KEY=conformance-secret", "AWS_DEFAULT_REGION=us-east-1",
	               "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true",
	               /* The scripts point these into temporary directories of
	                * their own; until then nothing of the host's is read. */
	               "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", NULL};
	unsigned n = 0;
	int64_t t0 = now_ms();
	int rc;

	snprintf(endpoint, sizeof(endpoint), "SLUICE_CONF_ENDPOINT=http://127.0.0.1:%d", API_PORT);
	snprintf(tgt, sizeof(tgt), "SLUICE_CONF_TARGET=%s", target);
	argv[n++] = "ip";
	argv[n++] = "netns";
	argv[n++] = "exec";
	argv[n++] = ns;
	for (unsigned i = 0; cmd[i]; i++) {
		cr_assert(n < MAX_ARGS - 1);
		argv[n++] = cmd[i];
	}
	argv[n] = NULL;
	log = path_in("client.log");
	rc = run_tool(argv, log, env, CLIENT_MS);
	text = slurp(log);
	fprintf(stderr, "---- conformance %s against %s (%.1f s, exit %d) ----\n%s", name, target,
	        (double)(now_ms() - t0) / 1000.0, rc, text);
	if (rc == SKIP_STATUS) {
		lines_with(text, "skip", why, sizeof(why));
		SKIP("%s: %s", name, *why ? why : text);
	}
	lines_with(text, "FAIL", why, sizeof(why));
	cr_assert_eq(rc, 0, "%s against %s: exit %d\n%s", name, target, rc, *why ? why : text);
	free(text);
	free(log);
}

static char *script(const char *name)
{
	char *p;

	cr_assert(asprintf(&p, "%s/%s", conf_dir(), name) >= 0);
	return p;
}

Test(conformance, boto3)
{
	char *probe[] = {"python3", "-c", "import boto3", NULL};
	char *cmd[] = {"python3", script("client_boto3.py"), NULL};

	env_up("conf-boto3");
	if (strcmp(target, "sluiced") == 0)
		setenv("SLUICE_CONF_ITERATOR_TTL_S", CONF_ITERATOR_TTL_S, 1);
	if (run_tool(probe, NULL, NULL, TOOL_MS) != 0)
		SKIP("python3 with boto3 is not installed");
	server_start();
	run_client("boto3", cmd);
	free(cmd[1]);
}

Test(conformance, aws_cli_v1)
{
	char *cmd[] = {"bash", script("client_cli.sh"), "v1", NULL};

	env_up("conf-cli1");
	server_start();
	run_client("aws CLI v1", cmd);
	free(cmd[1]);
}

Test(conformance, aws_cli_v2)
{
	char *cmd[] = {"bash", script("client_cli.sh"), "v2", NULL};

	env_up("conf-cli2");
	if (access("/usr/bin/aws", X_OK) != 0)
		SKIP("no /usr/bin/aws (Debian's awscli, the CLI v2)");
	server_start();
	run_client("aws CLI v2", cmd);
	free(cmd[1]);
}

Test(conformance, sdk_js_v3_h2c)
{
	char *cmd[] = {"node", script("client_js.mjs"), NULL};

	env_up("conf-js");
	node_deps();
	server_start();
	run_client("AWS SDK for JS v3", cmd);
	free(cmd[1]);
}

#!/usr/bin/env bash
# perf/http_bench.sh: the Kinesis API over HTTP, sluiced against kinesalite,
# with one client (perf/http_load) and one workload.
#
# Both servers run in a network namespace this script makes (sluiced needs
# one anyway: its TAP defaults create an interface), on 127.0.0.1:4567
# there, one at a time, each freshly started for every run: kinesalite
# (tests/conformance/kinesalite.js, in memory, from the Node dependencies
# that tests/conformance/setup.sh installs) and sluiced (--http, its data on
# --dir, acks at each --ack level: durable is its default and the headline;
# received shows the API without the wait for fdatasync). http_load sends
# PutRecords of B records x S bytes with random partition keys over
# HTTP/1.1 keep-alive (kinesalite has no HTTP/2) and reports records/s,
# latency per request (p50/p99/p99.9/max) and the CPU the server used.
#
# Steps (--steps, any of them, in this order):
#   closed  closed loop, each N in --connections requests in flight; a
#           server's best is its max (sluiced once per --ack level). With
#           --http2 sluiced also runs over h2c.
#   open    open loop at each fraction in --loads of that server's own max
#           (latency from the scheduled send: no coordinated omission). Without
#           the closed step, one closed run at the last N of --connections
#           measures the max first.
#   sizes   closed loop at --size-conns in flight for each record size in
#           --sizes, kinesalite and sluiced (the first --ack level); records
#           per request are cut to what one PutRecords may carry (5 MiB).
# While each server runs its window, its VmRSS/VmHWM are read from /proc,
# and sluiced's /metrics is scraped once (curl in the namespace) for the
# sluice_process_* and sluice_mempool_* series.
#
# Every process it starts is stopped by the PID it saved (also on exit and
# Ctrl-C), every run is bounded in time (warm-up + window + --timeout-ms +
# 40 s at most), and the namespace and data are removed at the end.
#
# Target (from the issue): sluice records/s >= 20 x kinesalite's, same client
# and workload, closed loop. Reported (PASS/MISS), not enforced.
#
# Exit: 0 it ran, 77 something it needs is missing (the reason is printed),
# 1 a step failed (a sluiced run failed, or a server has no closed-loop
# result; a kinesalite run that fails in the open or sizes step is only
# reported: it may be too slow for 64 KiB records), 2 bad options.
set -uo pipefail

usage() {
	cat <<EOF
usage: perf/http_bench.sh [--build DIR] [options]
  --build DIR        meson build directory with daemon/sluiced and perf/http_load (build)
  --dir DIR          where sluiced's logs go: the file system under test (/var/tmp)
  --steps LIST       which steps, comma- or space-separated: closed,open,sizes (all)
  --seconds S        measured seconds per run (10)
  --warmup S         warm-up seconds per run (2)
  --connections LIST closed loop: requests in flight to try ("4 16 64")
  --loads LIST       open loop: fractions of each server's closed-loop max ("0.1 0.5 0.9")
  --max-inflight N   open loop: at most N requests in flight (1000)
  --sizes LIST       record sizes in bytes for the sweep ("16 256 1024 4096 16384 65536")
  --size-conns N     the sweep's requests in flight (4)
  --batch B          records per PutRecords (100; cut to what fits 5 MiB)
  --size S           data bytes per record in the closed and open steps (100)
  --shards K         shards of the stream (4)
  --ack LIST         sluiced --api-ack levels to run ("durable received"); the first is the
                       headline and the one the sweep uses
  --timeout-ms MS    per request (30000)
  --http2            also run sluiced over h2c (closed step)
  --quick            a smoke run for CI (< 60 s): 2 s windows after 1 s, 16 in flight, durable
                       only, one open-loop load (0.5), sizes "256 65536" at 1 in flight; no
                       verdict
  --results DIR      where the per-run files go (perf/results/http-<date>)
  --json FILE        also write the combined results (setup + runs) here
  --csv FILE         write one line per run as CSV
EOF
}

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
dir=/var/tmp
steps="closed,open,sizes"
seconds=10
warmup=2
conns="4 16 64"
loads="0.1 0.5 0.9"
max_inflight=1000
sizes="16 256 1024 4096 16384 65536"
size_conns=4
batch=100
size=100
shards=4
acks="durable received"
timeout_ms=30000
http2=0
quick=0
results=
json_out=
csv_out=
declare -A given=()
while [ $# -gt 0 ]; do
	case $1 in
	--build | --dir | --steps | --seconds | --warmup | --connections | --loads | \
		--max-inflight | --sizes | --size-conns | --batch | --size | --shards | --ack | \
		--timeout-ms | --results | --json | --csv)
		[ $# -ge 2 ] || { usage >&2; exit 2; }
		given[$1]=1
		case $1 in
		--build) build=$2 ;;
		--dir) dir=$2 ;;
		--steps) steps=$2 ;;
		--seconds) seconds=$2 ;;
		--warmup) warmup=$2 ;;
		--connections) conns=$2 ;;
		--loads) loads=$2 ;;
		--max-inflight) max_inflight=$2 ;;
		--sizes) sizes=$2 ;;
		--size-conns) size_conns=$2 ;;
		--batch) batch=$2 ;;
		--size) size=$2 ;;
		--shards) shards=$2 ;;
		--ack) acks=$2 ;;
		--timeout-ms) timeout_ms=$2 ;;
		--results) results=$2 ;;
		--json) json_out=$2 ;;
		--csv) csv_out=$2 ;;
		esac
		shift
		;;
	--http2) http2=1 ;;
	--quick) quick=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
case $build in /*) ;; *) build=$PWD/$build ;; esac
for f in json_out csv_out; do
	case ${!f} in "" | /*) ;; *) printf -v "$f" '%s' "$PWD/${!f}" ;; esac
done
# --quick shortens what was not given explicitly.
if [ $quick = 1 ]; then
	[ -n "${given[--seconds]:-}" ] || seconds=2
	[ -n "${given[--warmup]:-}" ] || warmup=1
	[ -n "${given[--connections]:-}" ] || conns=16
	[ -n "${given[--ack]:-}" ] || acks=durable
	[ -n "${given[--loads]:-}" ] || loads=0.5
	[ -n "${given[--sizes]:-}" ] || sizes="256 65536"
	[ -n "${given[--size-conns]:-}" ] || size_conns=1
	[ -n "${given[--timeout-ms]:-}" ] || timeout_ms=10000
fi
steps=${steps//,/ }
do_closed=0 do_open=0 do_sizes=0
for s in $steps; do
	case $s in
	closed) do_closed=1 ;;
	open) do_open=1 ;;
	sizes) do_sizes=1 ;;
	*) echo "http_bench: unknown step '$s' (closed, open, sizes)" >&2; exit 2 ;;
	esac
done
[ $((do_closed + do_open + do_sizes)) -gt 0 ] || { echo "http_bench: no --steps" >&2; exit 2; }
isnum() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
isint() { [[ $1 =~ ^[0-9]+$ ]]; }
for v in "$seconds" "$warmup" $loads; do
	isnum "$v" || { echo "http_bench: '$v' is not a number" >&2; exit 2; }
done
for v in $conns $sizes "$size_conns" "$max_inflight" "$batch" "$size" "$shards" "$timeout_ms"; do
	isint "$v" || { echo "http_bench: '$v' is not a whole number" >&2; exit 2; }
done
for a in $acks; do
	case $a in received | written | durable) ;; *)
		echo "http_bench: --ack '$a' (received, written, durable)" >&2; exit 2 ;;
	esac
done
[ -n "$conns" ] && [ -n "$acks" ] || { echo "http_bench: empty --connections or --ack" >&2; exit 2; }
[ $do_open = 0 ] || [ -n "$loads" ] || { echo "http_bench: empty --loads" >&2; exit 2; }
[ $do_sizes = 0 ] || [ -n "$sizes" ] || { echo "http_bench: empty --sizes" >&2; exit 2; }
results=${results:-$top/perf/results/http-$(date +%Y%m%d-%H%M%S)}
headline=${acks%% *}

skip() {
	echo "http_bench: SKIP: $*" >&2
	exit 77
}
die() {
	echo "http_bench: $*" >&2
	exit 1
}

# ---- what it needs ----
[ "$(id -u)" = 0 ] || skip "needs root (a network namespace for the servers)"
for c in ip python3 timeout curl; do
	command -v $c >/dev/null || skip "no $c (Debian: iproute2, python3, coreutils, curl)"
done
[ -x "$build/perf/http_load" ] || skip "no $build/perf/http_load (libcurl missing at build time?)"
[ -x "$build/daemon/sluiced" ] || skip "no $build/daemon/sluiced (built only with DPDK)"
"$build/daemon/sluiced" --help 2>&1 | grep -q -- --http ||
	skip "this sluiced has no --http (no Kinesis API)"
[ -e /dev/net/tun ] || skip "no /dev/net/tun (sluiced's TAP port)"
bash "$top/tests/conformance/setup.sh" || skip "kinesalite: tests/conformance/setup.sh failed"
mkdir -p "$dir" || die "cannot make $dir"
free_kib=$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')
[ "${free_kib:-0}" -ge $((2 * 1024 * 1024)) ] || skip "less than 2 GiB free in $dir"
mkdir -p "$results" || die "cannot make $results"
results=$(cd "$results" && pwd)

ns=sluice-bench-$$
data=$dir/sluice-http-bench-$$
spid=
scrape_pid=
loadavg_start=$(cat /proc/loadavg)

stop_scrape() {
	[ -n "$scrape_pid" ] || return 0
	# The scraper is a subshell of this script; its sleep or curl is its child.
	pkill -TERM -P "$scrape_pid" 2>/dev/null
	kill -TERM "$scrape_pid" 2>/dev/null
	wait "$scrape_pid" 2>/dev/null
	scrape_pid=
}

stop_server() {
	local i
	[ -n "$spid" ] || return 0
	kill -TERM "$spid" 2>/dev/null
	for i in $(seq 300); do
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	spid=
}

cleanup() {
	stop_scrape
	stop_server
	ip netns delete "$ns" 2>/dev/null
	rm -rf "$data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns" || skip "ip netns add $ns failed"
ip netns exec "$ns" ip link set lo up || die "lo up in $ns"

# Waits (20 s at most) until the port answers; fails if the server exited.
wait_port() {
	local _
	for _ in $(seq 200); do
		kill -0 "$spid" 2>/dev/null || return 1
		timeout 2 ip netns exec "$ns" bash -c 'exec 3<>/dev/tcp/127.0.0.1/4567' 2>/dev/null &&
			return 0
		sleep 0.1
	done
	return 1
}

# start_server NAME LOG [ACK]: ip netns exec execs in place, so $! is the
# server itself.
start_server() {
	case $1 in
	kinesalite)
		ip netns exec "$ns" node "$top/tests/conformance/kinesalite.js" --host 127.0.0.1 \
			--port 4567 --createStreamMs 50 --deleteStreamMs 50 --updateStreamMs 50 \
			--shardLimit 1000 >"$2" 2>&1 &
		;;
	sluiced)
		rm -rf "$data"
		ip netns exec "$ns" "$build/daemon/sluiced" --data-dir "$data" \
			--http 127.0.0.1:4567 --api-ack "$3" >"$2" 2>&1 &
		;;
	esac
	spid=$!
	wait_port || { tail -n 20 "$2" >&2; die "$1 did not answer on 127.0.0.1:4567"; }
}

# scrape LABEL DELAY SERVER (in the background): once, in the middle of the
# window, the server's memory from /proc and sluiced's /metrics.
scrape() {
	sleep "$2"
	kill -0 "$spid" 2>/dev/null || exit 0
	grep -E '^(VmRSS|VmHWM):' "/proc/$spid/status" >"$results/$1.status" 2>/dev/null
	[ "$3" = sluiced ] || exit 0
	timeout 5 ip netns exec "$ns" curl -sS --max-time 4 http://127.0.0.1:4567/metrics \
		>"$results/$1.metrics" 2>"$results/$1.metrics.err"
}

# jnum FILE EXPR: a number from a JSON file (EXPR indexes d), or nothing
jnum() {
	python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d$2)" "$1" 2>/dev/null
}

runs=()
failed_runs=()
n_run=0
# run_one STEP SERVER LABEL ACK [http_load args]: one run against a freshly
# started server; $results/LABEL.{json,txt,meta}
run_one() {
	local step=$1 server=$2 label=$3 ack=$4 rc delay bound
	shift 4
	n_run=$((n_run + 1))
	echo "http_bench: [$n_run] $step: $label"
	start_server "$server" "$results/$label.server.log" "$ack"
	# Stream creation takes a moment before the warm-up starts.
	delay=$(awk -v w="$warmup" -v s="$seconds" 'BEGIN { print 0.5 + w + s / 2 }')
	scrape "$label" "$delay" "$server" &
	scrape_pid=$!
	bound=$(awk -v w="$warmup" -v s="$seconds" -v t="$timeout_ms" \
		'BEGIN { printf "%d", w + s + t / 1000 + 40 }')
	rm -f "$results/$label.json"
	timeout -k 5 "$bound" ip netns exec "$ns" "$build/perf/http_load" \
		--url http://127.0.0.1:4567/ --stream bench --create "$shards" --batch "$batch" \
		--seconds "$seconds" --warmup "$warmup" --timeout-ms "$timeout_ms" \
		--server-pid "$spid" --label "$label" --json "$results/$label.json" "$@" \
		>"$results/$label.txt" 2>&1
	rc=$?
	stop_scrape
	stop_server
	sed 's/^/  | /' "$results/$label.txt"
	printf '{"label": "%s", "step": "%s", "server": "%s", "ack": %s, "exit_code": %d}\n' \
		"$label" "$step" "$server" "$([ -n "$ack" ] && echo "\"$ack\"" || echo null)" "$rc" \
		>"$results/$label.meta"
	runs+=("$label")
	if [ $rc != 0 ]; then
		echo "http_bench: $label: http_load exit $rc"
		failed_runs+=("$label")
	fi
	return $rc
}

# best_of LABEL...: the label with the most records/s among runs that passed
best_of() {
	local l r best="" best_r=0
	for l in "$@"; do
		r=$(jnum "$results/$l.json" "['result']['records_per_s']") || continue
		[ -n "$r" ] || continue
		grep -q '"exit_code": 0' "$results/$l.meta" || continue
		if awk -v a="$r" -v b="$best_r" 'BEGIN { exit !(a > b) }'; then
			best=$l
			best_r=$r
		fi
	done
	echo "$best"
}

# The servers: kinesalite, then sluiced at each ack level.
specs=(kinesalite)
for a in $acks; do
	specs+=("sluiced:$a")
done
spec_server() { echo "${1%%:*}"; }
spec_ack() { case $1 in *:*) echo "${1#*:}" ;; esac; }
spec_name() { echo "${1/:/-}"; }

echo "http_bench: results in $results; steps: $steps"
declare -A max_label=()

# ---- closed loop ----
if [ $do_closed = 1 ]; then
	for sp in "${specs[@]}"; do
		labels=()
		for c in $conns; do
			l="$(spec_name "$sp")-c$c"
			run_one closed "$(spec_server "$sp")" "$l" "$(spec_ack "$sp")" --connections "$c" \
				--size "$size"
			labels+=("$l")
			if [ $http2 = 1 ] && [ "$(spec_server "$sp")" = sluiced ]; then
				run_one closed sluiced "$(spec_name "$sp")-h2c-c$c" "$(spec_ack "$sp")" \
					--connections "$c" --size "$size" --http2
			fi
		done
		max_label[$sp]=$(best_of "${labels[@]}")
	done
fi

# ---- open loop ----
if [ $do_open = 1 ]; then
	for sp in "${specs[@]}"; do
		if [ -z "${max_label[$sp]:-}" ] && [ $do_closed = 0 ]; then
			c=${conns##* }
			l="$(spec_name "$sp")-c$c"
			run_one calibrate "$(spec_server "$sp")" "$l" "$(spec_ack "$sp")" \
				--connections "$c" --size "$size"
			max_label[$sp]=$(best_of "$l")
		fi
		if [ -z "${max_label[$sp]:-}" ]; then
			echo "http_bench: $sp has no closed-loop max: no open-loop runs"
			continue
		fi
		m=$(jnum "$results/${max_label[$sp]}.json" "['result']['records_per_s']")
		echo "http_bench: $sp max $m records/s (${max_label[$sp]})"
		for f in $loads; do
			rate=$(awk -v m="$m" -v f="$f" 'BEGIN { r = m * f; printf "%.0f", r < 1 ? 1 : r }')
			pct=$(awk -v f="$f" 'BEGIN { printf "%g", f * 100 }')
			run_one open "$(spec_server "$sp")" "$(spec_name "$sp")-open$pct" \
				"$(spec_ack "$sp")" --rate "$rate" --max-inflight "$max_inflight" --size "$size"
		done
	done
fi

# ---- record sizes ----
if [ $do_sizes = 1 ]; then
	for sp in kinesalite "sluiced:$headline"; do
		for s in $sizes; do
			run_one sizes "$(spec_server "$sp")" "$(spec_name "$sp")-s$s" "$(spec_ack "$sp")" \
				--connections "$size_conns" --size "$s"
		done
	done
fi

# ---- setup, summary, JSON, CSV ----
export HB_CPU HB_CORES HB_KERNEL HB_FS HB_NODE HB_KINESALITE HB_CURL HB_COMMIT HB_LOAD0 HB_LOAD1
HB_CPU=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
HB_CORES=$(nproc)
HB_KERNEL=$(uname -srvm)
HB_FS="$(df -PT "$dir" | awk 'NR == 2 { print $2, $1 }') at $dir ($(findmnt -no OPTIONS -T "$dir" 2>/dev/null))"
HB_NODE=$(node --version 2>/dev/null)
HB_KINESALITE=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['version'])" \
	"$top/tests/conformance/node_modules/kinesalite/package.json" 2>/dev/null)
HB_CURL=$(curl --version | head -n 1 | awk '{ print $2 }')
HB_COMMIT=$(git -C "$top" describe --always --dirty 2>/dev/null)
HB_LOAD0=$loadavg_start
HB_LOAD1=$(cat /proc/loadavg)
python3 - "$results" "$headline" "$quick" "$json_out" "$csv_out" "$steps" "$seconds" "$warmup" \
	"$conns" "$loads" "$sizes" "$size_conns" "$max_inflight" "$batch" "$size" "$shards" \
	"$acks" "$timeout_ms" "${runs[@]}" <<'EOF'
import csv, json, os, sys

(res, headline, quick, json_out, csv_out, steps, seconds, warmup, conns, loads, sizes,
 size_conns, max_inflight, batch, size, shards, acks, timeout_ms) = sys.argv[1:19]
labels = sys.argv[19:]
quick = quick == "1"
env = os.environ.get


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def metrics(label):
    """sluice_process_* and sluice_mempool_* series of the scrape, or None."""
    try:
        text = open(os.path.join(res, label + ".metrics")).read()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        if not line.startswith(("sluice_process_", "sluice_mempool_")):
            continue
        series, _, rest = line.rpartition("}") if "}" in line else line.partition(" ")
        if "}" in line:
            series += "}"
        val = rest.split()
        try:
            out[series.strip()] = float(val[0]) if val else None
        except ValueError:
            out[series.strip()] = val[0]
    return out or None


def status(label):
    out = {"rss_kib": None, "hwm_kib": None}
    try:
        for line in open(os.path.join(res, label + ".status")):
            k, v = line.split(":", 1)
            out["rss_kib" if k == "VmRSS" else "hwm_kib"] = int(v.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


runs = []
libcurl = None
for l in labels:
    meta = load(os.path.join(res, l + ".meta")) or {"label": l}
    d = load(os.path.join(res, l + ".json"))
    run = {"label": l, "step": meta.get("step"), "server": meta.get("server"),
           "ack": meta.get("ack") if meta.get("server") == "sluiced" else "memory",
           "ok": meta.get("exit_code") == 0 and d is not None,
           "exit_code": meta.get("exit_code")}
    if d:
        libcurl = d["setup"].get("libcurl", libcurl)
        r0 = dict(d["runs"][0])
        r0.pop("label", None)
        run.update(r0)
        x = d["result"]
        for k in ("records_ok", "all_records_ok", "data_mb_per_s", "interrupted",
                  "latency_ms", "open_loop", "errors", "cpu"):
            run[k] = x.get(k)
        run["server_cores"] = x["cpu"].get("server_cores")
        run["client_cores"] = x["cpu"].get("client_cores")
        run["body_bytes"] = d["setup"].get("body_bytes")
    else:
        for k in ("loop", "offered_rps", "in_flight", "record_bytes", "records_per_request",
                  "records_per_s", "mb_per_s", "p50_us", "p99_us", "p999_us", "max_us"):
            run[k] = None
    run.update(status(l))
    run["metrics"] = metrics(l) if run["server"] == "sluiced" else None
    runs.append(run)

setup = {
    "benchmark": "http_bench",
    "cpu": env("HB_CPU"), "cores": int(env("HB_CORES") or 0), "kernel": env("HB_KERNEL"),
    "file_system": env("HB_FS"),
    "pmd": "net_tap (sluiced's default without EAL arguments, --no-huge); the HTTP API path "
           "does not touch the NIC",
    "transport": "HTTP/1.1 keep-alive on 127.0.0.1 in a network namespace (h2c too with --http2)",
    "record_bytes": int(size), "records_per_request": int(batch), "key_chars": 16,
    "shards": int(shards), "ack": acks.split(), "headline_ack": headline,
    "steps": steps.split(), "seconds": float(seconds), "warmup_s": float(warmup),
    "connections": [int(c) for c in conns.split()],
    "loads": [float(f) for f in loads.split()],
    "sizes": [int(s) for s in sizes.split()], "size_conns": int(size_conns),
    "max_inflight": int(max_inflight), "timeout_ms": int(timeout_ms), "quick": quick,
    "servers": {"kinesalite": f"kinesalite {env('HB_KINESALITE')} on node {env('HB_NODE')}, "
                              "in memory (acks once stored in memory)",
                "sluiced": f"sluiced {env('HB_COMMIT')}, --api-ack per run, --api-workers 1"},
    "tools": {"libcurl": libcurl, "curl": env("HB_CURL"), "node": env("HB_NODE"),
              "kinesalite": env("HB_KINESALITE"), "sluice": env("HB_COMMIT"),
              "python": sys.version.split()[0]},
    "loadavg_start": env("HB_LOAD0"), "loadavg_end": env("HB_LOAD1"),
}


def ms(us):
    return f"{us / 1e3:9.2f}" if us is not None else f"{'-':>9}"


def num(v, fmt):
    return format(v, fmt) if v is not None else "-"


print()
print(f"{'run':26} {'loop':6} {'offered/s':>9} {'infl':>5} {'rec B':>6} {'rec/req':>7} "
      f"{'records/s':>10} {'MB/s':>7} {'p50 ms':>9} {'p99 ms':>9} {'p99.9 ms':>9} {'max ms':>9} "
      f"{'srv cores':>9} {'RSS MiB':>7}")
for r in runs:
    flag = "" if r["ok"] else "  FAILED"
    if r.get("requests_ok") is not None and r["requests_ok"] < 5:
        flag += f"  (few answers in the window; whole run {r['records_per_s_whole_run']:.0f}/s)"
    if r.get("not_sent"):
        flag += f"  ({r['not_sent']} never sent)"
    print(f"{r['label']:26} {num(r['loop'], ''):6} {num(r['offered_rps'], '.0f'):>9} "
          f"{num(r['in_flight'], 'd'):>5} {num(r['record_bytes'], 'd'):>6} "
          f"{num(r['records_per_request'], 'd'):>7} {num(r['records_per_s'], '.0f'):>10} "
          f"{num(r['mb_per_s'], '.2f'):>7} {ms(r['p50_us'])} {ms(r['p99_us'])} "
          f"{ms(r['p999_us'])} {ms(r['max_us'])} {num(r.get('server_cores'), '.2f'):>9} "
          f"{num(r['rss_kib'] / 1024 if r['rss_kib'] else None, '.0f'):>7}{flag}")

summary = {"max": {}, "ratios": {}}
closed = [r for r in runs if r["step"] in ("closed", "calibrate") and r["ok"]
          and r.get("http") != "h2c"]


def best(server, ack):
    c = [r for r in closed if r["server"] == server and (ack is None or r["ack"] == ack)]
    return max(c, key=lambda r: r["records_per_s"]) if c else None


k = best("kinesalite", None)
if k:
    summary["max"]["kinesalite"] = {"label": k["label"], "records_per_s": k["records_per_s"]}
    print(f"\nkinesalite max: {k['records_per_s']:.0f} records/s ({k['label']})")
for ack in acks.split():
    b = best("sluiced", ack)
    if not b:
        continue
    summary["max"][f"sluiced-{ack}"] = {"label": b["label"], "records_per_s": b["records_per_s"]}
    if not k or not k["records_per_s"]:
        print(f"sluiced {ack:9} max: {b['records_per_s']:.0f} records/s ({b['label']})")
        continue
    ratio = b["records_per_s"] / k["records_per_s"]
    summary["ratios"][ack] = {"sluiced": b["label"], "records_per_s": b["records_per_s"],
                              "ratio": ratio}
    verdict = ("PASS" if ratio >= 20 else "MISS") if ack == headline else "(not the target)"
    if quick and ack == headline:
        verdict += " (--quick: a smoke run; kinesalite is still warming up, the ratio means little)"
    print(f"sluiced {ack:9} max: {b['records_per_s']:.0f} records/s ({b['label']}): "
          f"{ratio:.1f} x kinesalite; target >= 20 x: {verdict}")
mem = [r for r in runs if r["server"] == "sluiced" and (r["rss_kib"] or r["metrics"])]
if mem:
    r = max(mem, key=lambda r: r["hwm_kib"] or 0)
    print(f"sluiced memory at steady state: VmRSS up to {max(x['rss_kib'] or 0 for x in mem) / 1024:.0f} MiB, "
          f"VmHWM up to {r['hwm_kib'] / 1024 if r['hwm_kib'] else 0:.0f} MiB; "
          f"/metrics sluice_process_/sluice_mempool_ series: "
          f"{'present' if any(x['metrics'] for x in mem) else 'absent'}")
summary["failed"] = [r["label"] for r in runs if not r["ok"]]

doc = {"benchmark": "http_bench", "setup": setup, "runs": runs, "summary": summary}
outs = [os.path.join(res, "http_bench.json")] + ([json_out] if json_out else [])
for p in outs:
    with open(p, "w") as f:
        json.dump(doc, f, indent=1)
print(f"\njson: {' '.join(outs)}")
if csv_out:
    cols = ["label", "step", "server", "ack", "loop", "http", "offered_rps", "in_flight",
            "record_bytes", "records_per_request", "shards", "records_per_s", "mb_per_s",
            "requests_per_s", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "late_sends",
            "cap_waits", "not_sent", "max_in_flight_seen", "server_cores", "client_cores",
            "rss_kib", "hwm_kib", "ok"]
    with open(csv_out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in runs:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
    print(f"csv: {csv_out}")
EOF
[ $? = 0 ] || die "summary failed"

# ---- verdict on the run itself ----
rc=0
for l in "${failed_runs[@]}"; do
	case $l in
	kinesalite-open* | kinesalite-s*)
		echo "http_bench: note: $l failed (kinesalite; reported, not an error)" ;;
	*)
		echo "http_bench: FAIL: $l" >&2
		rc=1
		;;
	esac
done
for sp in "${specs[@]}"; do
	if [ $((do_closed + do_open)) -gt 0 ] && [ -z "${max_label[$sp]:-}" ]; then
		echo "http_bench: FAIL: $sp has no closed-loop result" >&2
		rc=1
	fi
done
exit $rc

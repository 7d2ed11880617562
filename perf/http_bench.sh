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
# received shows the API without the wait for fdatasync). http_load keeps N
# PutRecords of B records x S bytes with random partition keys in flight
# over HTTP/1.1 keep-alive (kinesalite has no HTTP/2) and reports records/s,
# requests/s, latency per request (p50/p99/p99.9/max) and the CPU the
# server used; each N in --connections is run, and a server's best is its
# result. With --http2 sluiced also runs over h2c.
#
# Every process it starts is stopped by the PID it saved (also on exit and
# Ctrl-C), every step is bounded in time and every load run in count and
# time, and the namespace and data are removed at the end.
#
# Target (from the issue): sluice records/s >= 20 x kinesalite's, same client
# and workload. Reported (PASS/MISS), not enforced.
#
# Exit: 0 it ran, 77 something it needs is missing (the reason is printed),
# 1 a step failed.
set -uo pipefail

usage() {
	cat <<EOF
usage: perf/http_bench.sh [--build DIR] [options]
  --build DIR        meson build directory with daemon/sluiced and perf/http_load (build)
  --dir DIR          where sluiced's logs go: the file system under test (/var/tmp)
  --seconds S        measured seconds per run (10)
  --warmup S         warm-up seconds per run (2)
  --connections LIST requests in flight to try ("4 16 64")
  --batch B          records per PutRecords (100)
  --size S           data bytes per record (100)
  --shards K         shards of the stream (4)
  --ack LIST         sluiced --api-ack levels to run ("durable received"); the first is the
                       headline
  --http2            also run sluiced over h2c
  --quick            a smoke run for CI (~15 s): 2 s windows after 1 s, 16 in flight, durable
                       only; no verdict
  --results DIR      where the JSON goes (perf/results/http-<date>)
EOF
}

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
dir=/var/tmp
seconds=10
warmup=2
conns="4 16 64"
batch=100
size=100
shards=4
acks="durable received"
http2=0
quick=0
results=
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--dir) dir=$2; shift ;;
	--seconds) seconds=$2; shift ;;
	--warmup) warmup=$2; shift ;;
	--connections) conns=$2; shift ;;
	--batch) batch=$2; shift ;;
	--size) size=$2; shift ;;
	--shards) shards=$2; shift ;;
	--ack) acks=$2; shift ;;
	--http2) http2=1 ;;
	--quick) quick=1 ;;
	--results) results=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
case $build in /*) ;; *) build=$PWD/$build ;; esac
if [ $quick = 1 ]; then
	seconds=2
	warmup=1
	conns=16
	acks=durable
fi
results=${results:-$top/perf/results/http-$(date +%Y%m%d-%H%M%S)}

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
command -v ip >/dev/null || skip "no ip tool"
command -v python3 >/dev/null || skip "no python3 (the summary)"
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

ns=sluice-bench-$$
data=$dir/sluice-http-bench-$$
spid=

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
	local i
	for i in $(seq 200); do
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

# run_one SERVER LABEL CONNS [ACK] [extra http_load args]
run_one() {
	local server=$1 label=$2 c=$3 ack=${4:-} rc
	shift 4
	start_server "$server" "$results/$label.server.log" "$ack"
	timeout $((${seconds%.*} + ${warmup%.*} + 90)) \
		ip netns exec "$ns" "$build/perf/http_load" --url http://127.0.0.1:4567/ \
		--stream bench --create "$shards" --connections "$c" --batch "$batch" --size "$size" \
		--seconds "$seconds" --warmup "$warmup" --server-pid "$spid" --label "$label" \
		--json "$results/$label.json" "$@"
	rc=$?
	stop_server
	[ $rc = 0 ] || die "$label: http_load exit $rc"
}

echo "http_bench: results in $results"
runs=()
for c in $conns; do
	run_one kinesalite "kinesalite-c$c" "$c" ""
	runs+=("kinesalite-c$c")
done
for ack in $acks; do
	for c in $conns; do
		run_one sluiced "sluiced-$ack-c$c" "$c" "$ack"
		runs+=("sluiced-$ack-c$c")
		if [ $http2 = 1 ]; then
			run_one sluiced "sluiced-$ack-h2c-c$c" "$c" "$ack" --http2
			runs+=("sluiced-$ack-h2c-c$c")
		fi
	done
done

python3 - "$results" "${acks%% *}" "$quick" "${runs[@]}" <<'EOF'
import json, os, sys

res, headline, quick, runs = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4:]
r = {n: json.load(open(os.path.join(res, n + ".json"))) for n in runs}
print()
print(f"{'run':28} {'in flight':>9} {'records/s':>11} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
      f"{'p99.9 ms':>9} {'max ms':>8} {'server cores':>12}")
for n in runs:
    x, s = r[n]["result"], r[n]["setup"]
    lat = x["latency_ms"]
    print(f"{n:28} {s['in_flight']:>9} {x['records_per_s']:>11.0f} {x['requests_per_s']:>8.0f} "
          f"{lat['p50']:>8.2f} {lat['p99']:>8.2f} {lat['p99_9']:>9.2f} {lat['max']:>8.2f} "
          f"{x['cpu'].get('server_cores', 0):>12.2f}")


def best(prefix):
    c = [n for n in runs if n.startswith(prefix) and "-h2c-" not in n]
    return max(c, key=lambda n: r[n]["result"]["records_per_s"]) if c else None


k = best("kinesalite-c")
summary = {"kinesalite": k, "runs": r, "ratios": {}}
kr = r[k]["result"]["records_per_s"]
s0 = r[runs[0]]["setup"]
print(f"\nworkload: PutRecords of {s0['records_per_request']} records x {s0['record_bytes']} B, "
      f"{s0['shards']} shards, HTTP/1.1, {s0['seconds']:g} s windows; {s0['cpu']}, "
      f"{s0['cpus']} CPUs")
print(f"kinesalite best: {kr:.0f} records/s ({k})")
for ack in dict.fromkeys(n.split("-")[1] for n in runs if n.startswith("sluiced-")):
    b = best(f"sluiced-{ack}-c")
    sr = r[b]["result"]["records_per_s"]
    ratio = sr / kr if kr else float("inf")
    summary["ratios"][ack] = {"sluiced": b, "records_per_s": sr, "ratio": ratio}
    verdict = ("PASS" if ratio >= 20 else "MISS") if ack == headline else "(not the target)"
    if quick and ack == headline:
        verdict += " (--quick: a smoke run; kinesalite is still warming up, the ratio means little)"
    print(f"sluiced {ack:9} best: {sr:.0f} records/s ({b}): {ratio:.1f} x kinesalite; "
          f"target >= 20 x: {verdict}")
json.dump(summary, open(os.path.join(res, "http_bench.json"), "w"), indent=1)
print(f"\njson: {os.path.join(res, 'http_bench.json')}")
EOF
[ $? = 0 ] || die "summary failed"
exit 0

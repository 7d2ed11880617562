#!/usr/bin/env bash
# perf/e2e.sh: sluice end to end, and against Redis Streams on the same machine.
#
# sluiced runs as the net_memif server on core 0 and perf/loadgen as a second
# DPDK process on core 1 (memif is shared memory between the two: nothing is
# sent to any network, and sluiced runs with --no-http). The load generator
# measures durable acks. The steps (--steps, in this order):
#
#   closed    records/s in a closed loop at a few windows; the best is "max"
#   open      an open loop at 10, 50 and 90 % of that max, latency from the
#             scheduled send time (needs closed: it is added when missing)
#   received  one closed-loop run with received-level acks: the engine's
#             limit without fdatasync
#   shards    records/s and p99 as the stream's shards (all on one lcore)
#             grow, closed loop at one window, plus an open-loop point at a
#             fraction of each N's own max
#   sizes     records/s and MB/s as the record size grows, as many records
#             per frame as fit; records that do not fit a 1500-byte MTU frame
#             need jumbo frames, which the script probes for (--jumbo-mtu)
#   lcores    records/s per lcore as the engine's lcores grow, where the
#             machine has N + 1 cores (the load generator needs one)
#   redis     Redis, started here on a unix socket with appendonly yes +
#             appendfsync always (and everysec as a second line), in a
#             temporary directory on the same file system, driven with
#             redis-benchmark XADD of the same 100-byte record; the best of a
#             few client x pipeline settings is reported. Redis gets the same
#             two cores (server on 0, benchmark on 1) after sluice stopped.
#
# Each loadgen run gets a freshly started engine with empty logs. Halfway
# through each run's measured window the script reads the engine's VmRSS and
# VmHWM and has it write its counters (SIGUSR1, --stats-file): memory at
# steady state goes into the run's JSON.
#
# Every process it starts is stopped by the PID it saved (also on exit and
# Ctrl-C), and every step is bounded in time. perf/README.md ("e2e") has the
# figures and what they mean.
#
# Target (from the issue): sluice durable records/s >= 10 x Redis XADD with
# appendfsync always. Reported, not enforced.
#
# Exit: 0 when it ran (targets reported), 77 when something it needs is
# missing (the reason is printed), 1 when a step failed, 2 on bad options.
set -uo pipefail

usage() {
	cat <<EOF
usage: perf/e2e.sh [--build DIR] [options]
  --build DIR      meson build directory with daemon/sluiced and perf/loadgen (build)
  --dir DIR        where the engine's logs, Redis' AOF and the memif socket go: put it
                   on the file system under test (/var/tmp)
  --steps LIST     what to run, comma or space separated, in this order: closed, open,
                   received, shards, sizes, lcores, redis; "all" for every one
                   (closed,open,received,redis)
  --seconds S      measured seconds per loadgen run (5)
  --windows LIST   closed-loop windows (frames in flight) to try ("32 64 128 256")
  --window N       the window of the received run and of the sweeps (default: the best
                   closed-loop window when closed ran, else the last of --windows)
  --shards N       shards of the stream in every step but the shards sweep (16)
  --size B         record data bytes in every step but the sizes sweep (100)
  --shards-list L  shards sweep: stream shards, one lcore ("1 4 16 64 256")
  --sizes LIST     sizes sweep: record data bytes ("16 64 256 1024 1395 4096 8192";
                   1395 is the largest with a 9-byte key in one 1500-byte frame; larger
                   ones need jumbo frames and are skipped, with the reason, without)
  --jumbo-mtu N    MTU for the records that do not fit 1500 (9000)
  --sizes-mtu N    run every size at this MTU instead (like for like frames; > 1500 needs
                   jumbo frames)
  --lcores-list L  lcores sweep: engine lcores ("1 2 4"); N runs only with N + 1 cores
  --lcores-force   run the lcore counts that do not fit anyway, sharing cores (tests the
                   mechanics; the figures mean nothing and are marked oversubscribed)
  --sweep-open-pct P  each sweep point also runs an open loop at P % of its closed-loop
                   records/s (50; 0: none)
  --redis LIST     redis-benchmark clients:pipeline settings to try ("16:16 25:32 50:16 50:32 100:32")
  --engine-idle-us N  the engine's idle_sleep_us (0: it spins, the default)
  --spread MODE    how loadgen spreads records over shards: frame (default: each frame's
                      records share a shard, as libsluice_client batches per shard) or
                      record (keys round-robin, every frame spans the shards)
  --quick          a smoke run for CI (~30 s): one window, one open-loop rate, short Redis
                   runs, sweeps of two points without open-loop points
  --json FILE      write every result and the setup as JSON
  --csv FILE       write one line per run as CSV
EOF
}

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
dir=/var/tmp
steps_arg=
seconds=5
windows="32 64 128 256"
fixed_window=
shards=16
size=100
shards_list=
sizes_list=
jumbo_mtu=9000
sizes_mtu=
lcores_list=
lcores_force=0
sweep_open=
redis_cfgs="16:16 25:32 50:16 50:32 100:32"
engine_idle=0
spread=frame
quick=0
json_out=
csv_out=
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--dir) dir=$2; shift ;;
	--steps) steps_arg=$2; shift ;;
	--seconds) seconds=$2; shift ;;
	--windows) windows=$2; shift ;;
	--window) fixed_window=$2; shift ;;
	--shards) shards=$2; shift ;;
	--size) size=$2; shift ;;
	--shards-list) shards_list=$2; shift ;;
	--sizes) sizes_list=$2; shift ;;
	--jumbo-mtu) jumbo_mtu=$2; shift ;;
	--sizes-mtu) sizes_mtu=$2; shift ;;
	--lcores-list) lcores_list=$2; shift ;;
	--lcores-force) lcores_force=1 ;;
	--sweep-open-pct) sweep_open=$2; shift ;;
	--redis) redis_cfgs=$2; shift ;;
	--engine-idle-us) engine_idle=$2; shift ;;
	--spread) spread=$2; shift ;;
	--quick) quick=1 ;;
	--json) json_out=$2; shift ;;
	--csv) csv_out=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
case $build in /*) ;; *) build=$PWD/$build ;; esac
for f in json_out csv_out; do
	v=${!f}
	case $v in "" | /*) ;; *) printf -v "$f" '%s' "$PWD/$v" ;; esac
done

usage_err() {
	echo "e2e: $*" >&2
	exit 2
}
# Whole numbers only (lists too): they end up on command lines and in JSON.
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
for v in $seconds; do [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage_err "--seconds $seconds"; done
for v in $windows $fixed_window $shards $size $shards_list $sizes_list $jumbo_mtu $sizes_mtu \
	$lcores_list $sweep_open $engine_idle; do
	is_uint "$v" || usage_err "not a whole number: '$v'"
done
case $spread in frame | record) ;; *) usage_err "--spread frame|record" ;; esac
[ -n "$windows" ] || usage_err "--windows is empty"

# ---- steps ----
all_steps="closed open received shards sizes lcores redis"
want=" "
for s in ${steps_arg//,/ }; do
	case $s in
	all) want=" $all_steps " ;;
	closed | open | received | shards | sizes | lcores | redis) want="$want$s " ;;
	*) usage_err "unknown step '$s' (steps: $all_steps, all)" ;;
	esac
done
[ -n "$steps_arg" ] || want=" closed open received redis "
[ "$want" != " " ] || usage_err "--steps is empty"
has() { [[ $want == *" $1 "* ]]; }
# open loads are fractions of the closed loop's max: closed must run first
if has open && ! has closed; then
	echo "e2e: step open needs the closed-loop max: adding step closed"
	want="$want closed "
fi
steps=
for s in $all_steps; do has $s && steps="$steps${steps:+,}$s"; done

skip() {
	echo "e2e: SKIP: $*" >&2
	exit 77
}

# ---- what it needs ----
sluiced=$build/daemon/sluiced
loadgen=$build/perf/loadgen
[ -x "$sluiced" ] && [ -x "$loadgen" ] ||
	skip "no $sluiced or $loadgen (build with DPDK: meson setup finds libdpdk, -Dperf=true)"
need="python3 timeout"
has redis && need="$need redis-server redis-benchmark redis-cli"
for c in $need; do
	command -v $c >/dev/null || skip "$c is missing (Debian: redis-server, python3, coreutils)"
done
ncpu=$(nproc)
[ "$ncpu" -ge 2 ] || skip "needs 2 cores (engine on 0, load generator on 1); this has $ncpu"
[ -d "$dir" ] || skip "--dir $dir does not exist"
free_kb=$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')
[ "${free_kb:-0}" -ge $((4 * 1024 * 1024)) ] || skip "less than 4 GiB free in $dir"
pin0=() pin1=()
pinned="not pinned: no taskset"
if command -v taskset >/dev/null; then
	pin0=(taskset -c 0)
	pin1=(taskset -c 1)
	pinned="taskset"
fi

if [ $quick -eq 1 ]; then
	windows=${windows%% *}
	[ "$windows" = 32 ] && windows=64
	redis_cfgs=${redis_cfgs%% *}
	fractions="50"
	lg_time=(--quick)
	seconds_eff=1 warmup_s=0.5
	: "${shards_list:=1 16}" "${sizes_list:=16 1024 8192}" "${lcores_list:=1 2}"
	: "${sweep_open:=0}"
else
	fractions="10 50 90"
	lg_time=(--seconds "$seconds" --warmup 1)
	seconds_eff=$seconds warmup_s=1
	: "${shards_list:=1 4 16 64 256}" "${sizes_list:=16 64 256 1024 1395 4096 8192}"
	: "${lcores_list:=1 2 4}" "${sweep_open:=50}"
fi
# where halfway through the measured window is, after loadgen's setup lines
if [ $quick -eq 1 ]; then
	mid_s=1.0
else
	mid_s=$(python3 -c "import sys; print(1 + float(sys.argv[1]) / 2)" "$seconds")
fi

# A PUT frame is one UDP datagram (no IP fragments): 48 bytes of frame header,
# then per record 20 bytes of header, the 9-byte key and the data, inside the
# MTU less 28 bytes of IPv4 and UDP headers.
fits_mtu() { # size mtu
	[ $((48 + 20 + 9 + $1)) -le $(($2 - 28)) ]
}

# ---- processes: every one started here is stopped by its saved PID ----
tmp=$(mktemp -d "$dir/sluice-e2e.XXXXXX") || exit 1
pids=()
stop_pid() { # pid [seconds]
	local p=$1 t=${2:-15}
	kill -TERM "$p" 2>/dev/null || return 0
	for ((i = 0; i < t * 10; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}
# stop_saved PID [seconds]: stops a process started here and forgets it
stop_saved() {
	local keep=() p
	stop_pid "$@"
	for p in "${pids[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	pids=("${keep[@]}")
}
cleanup() {
	local kids=() c
	# loadgen runs under timeout: its pid names its EAL runtime directory
	for p in "${pids[@]}"; do
		for c in $(pgrep -P "$p" 2>/dev/null); do kids+=("$c"); done
	done
	for p in "${pids[@]}"; do
		stop_pid "$p" 5
	done
	rm -rf "$tmp"
	# EAL's runtime directories (empty with --no-shconf; a process that was
	# killed leaves its own behind)
	rmdir "/var/run/dpdk/eng-$$" "${XDG_RUNTIME_DIR:-/tmp}/dpdk/eng-$$" 2>/dev/null
	for c in "${kids[@]}"; do
		rmdir "/var/run/dpdk/lg-$c" "${XDG_RUNTIME_DIR:-/tmp}/dpdk/lg-$c" 2>/dev/null
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "e2e: FAIL: $*" >&2
	exit 1
}

# jget FILE EXPR: a value from a loadgen JSON file (EXPR indexes d, e.g. ['result']['p50'])
jget() {
	python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d$2)" "$1"
}

# ---- setup ----
cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
fs_type=$(df -PT "$dir" | awk 'NR == 2 { print $2 }')
fs_dev=$(df -PT "$dir" | awk 'NR == 2 { print $1 }')
fs_opts=$(findmnt -no OPTIONS -T "$dir" 2>/dev/null)
disk_model=$(lsblk -ndo MODEL "$fs_dev" 2>/dev/null | head -n 1)
dpdk_version=$(pkg-config --modversion libdpdk 2>/dev/null)
redis_version=
has redis && redis_version=$(redis-server --version | awk '{ print $3 }' | sed 's/^v=//')
loadavg_start=$(cat /proc/loadavg)
echo "e2e: sluice end to end (durable acks over net_memif); steps: $steps"
echo "setup"
echo "  cpu:        $cpu, $ncpu online"
echo "  kernel:     $(uname -srm)"
echo "  file system: $fs_type $fs_dev at $dir ($fs_opts)"
echo "  sluice:     sluiced on core 0 (one lcore: rx + shard roles, io_uring storage),"
echo "              stream bench of $shards shards, idle_sleep_us=$engine_idle; loadgen on core 1"
echo "              io_uring workers and janitor threads: moved off the lcore's core by the engine"
echo "              over net_memif (shared memory, no network; DPDK ${dpdk_version:-?}),"
echo "              $size B records, 9 B keys, spread $spread"
has redis &&
	echo "  redis:      $redis_version, unix socket, server on core 0, redis-benchmark on core 1 ($pinned)"
echo "  load:       $loadavg_start (other processes share these $ncpu cores)"
echo "  directory:  $tmp"

# ---- sluice ----
# Every loadgen run gets a freshly started engine with an empty data
# directory: runs do not inherit each other's write backlog or retry memory
# (see perf/README.md: a finished producer's last window stays in the
# engine's retry memory for dedup_idle_ms and can throttle the next one).
#
# The engine of the next run: its shards, lcores (on cores 0..N-1; the main
# lcore polls the port, the others own the shards, one lcore does both) and
# port MTU. lg_core is the load generator's core.
eng_shards=$shards eng_lcores=1 eng_mtu=1500 lg_core=1
eng_pid=
# engine_try_start: 0 when the engine is ready, else 1 with it stopped and
# its log in $tmp/engine.log
engine_try_start() {
	local cores=0
	[ "$eng_lcores" -gt 1 ] && cores=0-$((eng_lcores - 1))
	rm -rf "$tmp/engine" "$tmp/engine-stats" "$tmp/memif.sock"
	"$sluiced" --no-huge -m 1024 --no-pci --no-shconf --file-prefix=eng-$$ -l "$cores" \
		--vdev=net_memif0,role=server,socket="$tmp/memif.sock",socket-abstract=no \
		--log-level='*:warning' -- --data-dir "$tmp/engine" --stream "bench:$eng_shards" \
		--no-http --ip4 198.18.0.2 --stats-file "$tmp/engine-stats" \
		--set idle_sleep_us="$engine_idle" --set mtu="$eng_mtu" \
		>"$tmp/engine.log" 2>&1 &
	eng_pid=$!
	pids+=("$eng_pid")
	for ((i = 0; i < 300; i++)); do
		grep -q "ready" "$tmp/engine.log" 2>/dev/null && [ -S "$tmp/memif.sock" ] && return 0
		kill -0 "$eng_pid" 2>/dev/null || break
		sleep 0.1
	done
	stop_saved "$eng_pid" 5
	return 1
}
engine_start() {
	engine_try_start && return 0
	cat "$tmp/engine.log" >&2
	if grep -qi "EAL\|memif" "$tmp/engine.log"; then
		skip "sluiced did not start as a memif server here (log above)"
	fi
	fail "sluiced did not get ready in 30 s"
}
engine_stop() {
	stop_saved "$eng_pid" 30
	cp "$tmp/engine-stats" "$tmp/$1.engine-stats" 2>/dev/null
	cp "$tmp/engine.log" "$tmp/$1.engine-log" 2>/dev/null
	rm -rf "$tmp/engine"
}

# mem_sample NAME: the engine's memory now: VmRSS/VmHWM from /proc, and its
# counters (SIGUSR1 makes it write --stats-file, by a rename: whole or absent)
mem_sample() {
	local name=$1
	awk '/^(VmRSS|VmHWM):/ { printf "%s %.0f\n", $1, $2 * 1024 }' "/proc/$eng_pid/status" \
		>"$tmp/$name.mem" 2>/dev/null
	rm -f "$tmp/engine-stats"
	kill -USR1 "$eng_pid" 2>/dev/null || return 0
	for ((i = 0; i < 30; i++)); do
		[ -s "$tmp/engine-stats" ] && break
		sleep 0.1
	done
	cp "$tmp/engine-stats" "$tmp/$name.mid-stats" 2>/dev/null
}

# meta NAME KEY=VALUE...: what the summary needs to know about a run
meta() {
	local name=$1
	shift
	printf '%s\n' "$@" >"$tmp/$name.meta"
}

runs=()
# lg NAME STEP ARGS...: one loadgen run against a fresh engine; $tmp/NAME.json
lg() {
	local name=$1 step=$2 rc lpid waited=0
	shift 2
	engine_start
	meta "$name" "step=$step" "shards=$eng_shards" "lcores=$eng_lcores" "mtu=$eng_mtu" \
		"loadgen_core=$lg_core" "oversubscribed=$((eng_lcores + 1 > ncpu))" \
		"window_from=${window_from:-}"
	timeout -k 5 120 "$loadgen" --socket "$tmp/memif.sock" --lcore "$lg_core" \
		--rx-queues "$eng_lcores" --mtu "$eng_mtu" --idle-sleep-us 20 --memif-rsize 12 \
		--spread "$spread" --size "$size" --label "$name" --json "$tmp/$name.json" \
		"${lg_time[@]}" "$@" \
		>"$tmp/$name.txt" 2>&1 &
	lpid=$!
	pids+=("$lpid")
	# Memory at steady state: halfway through the measured window, which
	# starts a warm-up after loadgen printed its setup (bounded: 60 s).
	while kill -0 "$lpid" 2>/dev/null && ! grep -qs "^  load avg:" "$tmp/$name.txt" &&
		[ $waited -lt 600 ]; do
		sleep 0.1
		waited=$((waited + 1))
	done
	if kill -0 "$lpid" 2>/dev/null; then
		sleep "$mid_s"
		kill -0 "$lpid" 2>/dev/null && mem_sample "$name"
	fi
	wait "$lpid"
	rc=$?
	stop_saved "$lpid" 1
	engine_stop "$name"
	if [ $rc -ne 0 ] || ! [ -s "$tmp/$name.json" ]; then
		cat "$tmp/$name.txt" >&2
		[ $rc -eq 77 ] && skip "loadgen could not start here (above)"
		fail "loadgen run $name exited $rc"
	fi
	runs+=("$name")
	# One line per run (one python: each start costs a few 100 ms on a busy machine).
	python3 - "$tmp/$name.json" "$name" "$tmp/$name.mem" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["result"]
l = r["latency_us"]
rss = "?"
try:
    for line in open(sys.argv[3]):
        if line.startswith("VmRSS:"):
            rss = "%.0f" % (int(line.split()[1]) / 1048576)
except OSError:
    pass
print("  %-16s %9.0f rec/s  p50 %7.3f  p99 %7.3f  p99.9 %7.3f  max %8.3f ms  resends %d  "
      "unanswered %d  rss %s MiB" % (sys.argv[2], r["records_per_s"], l["p50"] / 1e3,
                                      l["p99"] / 1e3, l["p99_9"] / 1e3, l["max"] / 1e3,
                                      r["resends_throttled"] + r["resends_timeout"],
                                      r["statuses"]["unanswered"], rss))
EOF
	# What the engine refused or lost, if anything.
	grep -E '^(throttled_[a-z]+|route_moved|tx_dropped|nombuf|append_failed|drop_[a-z_]+) [1-9]' \
		"$tmp/$name.engine-stats" 2>/dev/null | tr '\n' ' ' | sed 's/^./    engine: &/;s/ $/\n/'
}
# lg_skip NAME STEP REASON [KEY=VALUE...]: a run that could not be made here
lg_skip() {
	local name=$1 step=$2 why=$3
	shift 3
	meta "$name" "step=$step" "skipped=$why" "$@"
	runs+=("$name")
	printf '  %-16s skipped: %s\n' "$name" "$why"
}
rps_of() { jget "$tmp/$1.json" "['result']['records_per_s']"; }
pct_of() { # records/s percent: the offered rate, at least 1
	awk -v r="$1" -v p="$2" 'BEGIN { v = int(r * p / 100); printf "%.0f\n", v < 1 ? 1 : v }'
}
# sweep_open NAME STEP: the open-loop point after a sweep's closed-loop run NAME
sweep_open_point() {
	local name=$1 step=$2
	[ "$sweep_open" -gt 0 ] || return 0
	lg "$name-open$sweep_open" "$step" --rate "$(pct_of "$(rps_of "$name")" "$sweep_open")" \
		--window 4096
}

best_rps=0
best_w=
window_from=
if has closed; then
	echo
	echo "== sluice: closed loop, durable acks (windows: $windows frames in flight)"
	window_from=closed
	for w in $windows; do
		lg "closed-w$w" closed --window "$w"
		r=$(rps_of "closed-w$w")
		if awk -v a="$r" -v b="$best_rps" 'BEGIN { exit !(a > b) }'; then
			best_rps=$r
			best_w=$w
		fi
	done
	[ -n "$best_w" ] || fail "no closed-loop run acknowledged anything"
	echo "  max: $best_rps records/s durable at window $best_w"
	grep "^sluiced:" "$tmp/closed-w$best_w.engine-log" | sed 's/^/  | /'
	sed -n '/^setup/,/^  window/p' "$tmp/closed-w$best_w.txt" | sed 's/^/  | /'
fi
# The window of the received run and the sweeps.
if [ -n "$fixed_window" ]; then
	win=$fixed_window window_from=option
elif [ -n "$best_w" ]; then
	win=$best_w window_from=best-closed
else
	win=${windows##* } window_from=last-of-windows
fi

if has open; then
	echo
	echo "== sluice: open loop, durable acks, at $fractions % of the max (latency from the schedule)"
	for f in $fractions; do
		lg "open-$f" open --rate "$(pct_of "$best_rps" "$f")" --window 4096
	done
fi

if has received; then
	echo
	echo "== sluice: closed loop, received acks (the engine without fdatasync), window $win"
	lg "received-w$win" received --window "$win" --ack received
fi

if has shards; then
	echo
	echo "== sluice: shards per core ($shards_list), one lcore, durable, closed loop at window $win ($window_from)"
	for n in $shards_list; do
		eng_shards=$n
		lg "shards-$n" shards --window "$win"
		sweep_open_point "shards-$n" shards
	done
	eng_shards=$shards
fi

jumbo_ok=
jumbo_why=
# jumbo_probe MTU: can the engine's port take frames of MTU bytes? Sets
# jumbo_ok (1 or 0) and jumbo_why.
jumbo_probe() {
	eng_mtu=$1
	if engine_try_start; then
		jumbo_ok=1
		stop_saved "$eng_pid" 30
	else
		jumbo_ok=0
		jumbo_why="the engine did not start with --set mtu=$1 on net_memif: $(grep -v '^rte_pmd_memif_probe\|^TELEMETRY' "$tmp/engine.log" | tr '\n' ' ' | sed 's/ *$//')"
		grep -q "device max frame size (1518)" "$tmp/engine.log" &&
			jumbo_why="$jumbo_why (net_memif in DPDK ${dpdk_version:-22.11} reports 1518-byte frames at most, so ethdev refuses a larger MTU, although memif carries larger frames in chained slots: the engine would have to size its mbufs for the MTU without configuring it on a memif port)"
		echo "   jumbo frames: no: $jumbo_why"
	fi
	eng_mtu=1500
	rm -rf "$tmp/engine"
}
if has sizes; then
	echo
	echo "== sluice: record sizes ($sizes_list B), one lcore, durable, closed loop at window $win ($window_from)"
	echo "   (records per frame: as many as fit; a frame is one UDP datagram without IP fragments,"
	echo "    so records beyond a jumbo frame, 16 KiB and up, are the HTTP API's: perf/http_bench.sh)"
	# Each size at 1500 when it fits there, else at --jumbo-mtu; or every
	# size at --sizes-mtu. Frames over 1500 bytes need the port to take them.
	if [ -n "$sizes_mtu" ]; then
		[ "$sizes_mtu" -gt 1500 ] && jumbo_mtu=$sizes_mtu && jumbo_probe "$sizes_mtu"
	else
		for b in $sizes_list; do
			fits_mtu "$b" 1500 || {
				jumbo_probe "$jumbo_mtu"
				break
			}
		done
	fi
	for b in $sizes_list; do
		if [ -n "$sizes_mtu" ] && [ "$jumbo_ok" = 0 ]; then
			lg_skip "size-$b" sizes "--sizes-mtu $sizes_mtu: jumbo frames are unavailable: $jumbo_why" "record_bytes=$b" "mtu=$sizes_mtu"
			continue
		elif [ -n "$sizes_mtu" ] && fits_mtu "$b" "$sizes_mtu"; then
			eng_mtu=$sizes_mtu
		elif [ -z "$sizes_mtu" ] && fits_mtu "$b" 1500; then
			eng_mtu=1500
		elif [ -z "$sizes_mtu" ] && [ "$jumbo_ok" = 1 ] && fits_mtu "$b" "$jumbo_mtu"; then
			eng_mtu=$jumbo_mtu
		elif [ -n "$sizes_mtu" ] || [ "$jumbo_ok" = 1 ]; then
			m=${sizes_mtu:-$jumbo_mtu}
			lg_skip "size-$b" sizes "a $b-byte record does not fit one $m-byte MTU frame (a frame is one UDP datagram, no IP fragments): records this large are the HTTP API's" "record_bytes=$b" "mtu=$m"
			continue
		else
			lg_skip "size-$b" sizes "a $b-byte record needs a frame over a 1500-byte MTU and jumbo frames are unavailable: $jumbo_why" "record_bytes=$b" "mtu=1500"
			continue
		fi
		size_saved=$size
		size=$b
		lg "size-$b" sizes --window "$win"
		sweep_open_point "size-$b" sizes
		size=$size_saved
	done
	eng_mtu=1500
fi

if has lcores; then
	echo
	echo "== sluice: engine lcores ($lcores_list), $shards shards, durable, closed loop at window $win ($window_from)"
	for n in $lcores_list; do
		[ "$n" -ge 1 ] || continue
		if [ "$n" -gt "$ncpu" ]; then
			lg_skip "lcores-$n" lcores "$n engine lcores need $((n + 1)) cores with the load generator's; this machine has $ncpu (too few to share, even with --lcores-force)" "lcores=$n" "shards=$shards"
			continue
		fi
		if [ $((n + 1)) -gt "$ncpu" ] && [ $lcores_force -eq 0 ]; then
			lg_skip "lcores-$n" lcores "$n engine lcores need $((n + 1)) cores with the load generator's; this machine has $ncpu" "lcores=$n" "shards=$shards"
			continue
		fi
		eng_lcores=$n
		lg_core=$n
		[ "$lg_core" -ge "$ncpu" ] && lg_core=$((ncpu - 1)) # --lcores-force: shares a core
		lg "lcores-$n" lcores --window "$win"
		sweep_open_point "lcores-$n" lcores
	done
	eng_lcores=1 lg_core=1
fi
echo
# ---- Redis ----
redis_results=$tmp/redis.csv
: >"$redis_results"
value=$(head -c $((size * 3 / 4 + 3)) /dev/urandom | base64 -w0) # --size characters
value=${value:0:$size}
redis_pid=
redis_start() { # mode
	local d=$tmp/redis
	rm -rf "$d"
	mkdir -p "$d"
	"${pin0[@]}" redis-server --port 0 --unixsocket "$d/sock" --unixsocketperm 700 \
		--dir "$d" --appendonly yes --appendfsync "$1" --save '' \
		--auto-aof-rewrite-percentage 0 --daemonize no --logfile "$tmp/redis-$1.log" &
	redis_pid=$!
	pids+=("$redis_pid")
	for ((i = 0; i < 100; i++)); do
		[ "$(redis-cli -s "$d/sock" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	fail "redis-server ($1) did not answer PING in 10 s (log: $(tail -3 "$tmp/redis-$1.log"))"
}
redis_stop() {
	stop_saved "$redis_pid" 30
	rm -rf "$tmp/redis"
}
# redis_run MODE CLIENTS PIPELINE N: one redis-benchmark run, appended to the CSV
redis_run() {
	local mode=$1 c=$2 p=$3 n=$4 out line
	redis_start "$mode"
	out=$(timeout -k 5 180 "${pin1[@]}" redis-benchmark -s "$tmp/redis/sock" -n "$n" -c "$c" \
		-P "$p" --csv XADD bench '*' d "$value" 2>&1)
	line=$(echo "$out" | tail -n 1 | awk -F'","' '{ for (i = 1; i <= NF; i++) gsub(/"/, "", $i); print $2","$3","$5","$6","$7","$8 }')
	redis_stop
	case $line in
	[0-9]*) ;;
	*) fail "redis-benchmark ($mode, -c $c -P $p) printed: $out" ;;
	esac
	echo "$mode,$c,$p,$n,$line" >>"$redis_results"
	printf '  %-9s -c %3s -P %3s -n %8s  %10.0f ops/s  p50 %7.3f  p99 %7.3f  max %8.3f ms\n' \
		"$mode" "$c" "$p" "$n" "$(echo "$line" | cut -d, -f1)" "$(echo "$line" | cut -d, -f3)" \
		"$(echo "$line" | cut -d, -f5)" "$(echo "$line" | cut -d, -f6)"
}

if has redis; then
	echo "== redis: XADD bench * d <$size B> (appendonly yes, no RDB saves, no AOF rewrite)"
	if [ $quick -eq 1 ]; then
		n=20000
	else
		# Enough requests for about --seconds per run at the rate Redis shows.
		redis_start always
		cal=$(timeout -k 5 60 "${pin1[@]}" redis-benchmark -s "$tmp/redis/sock" -n 50000 -c 50 -P 16 \
			--csv XADD bench '*' d "$value" 2>/dev/null | tail -n 1 | awk -F'","' '{ print $2 }')
		redis_stop
		n=$(python3 -c "import sys; print(min(5000000, max(100000, int(float(sys.argv[1] or 0) * float(sys.argv[2])))))" "${cal:-0}" "$seconds")
	fi
	for mode in always everysec; do
		for cfg in $redis_cfgs; do
			redis_run "$mode" "${cfg%%:*}" "${cfg##*:}" "$n"
		done
	done
fi

# ---- summary ----
echo
loadavg_end=$(cat /proc/loadavg)
E2E_CPU=$cpu E2E_NCPU=$ncpu E2E_KERNEL=$(uname -srm) E2E_DPDK=$dpdk_version \
	E2E_FS_TYPE=$fs_type E2E_FS_DEV=$fs_dev E2E_FS_OPTS=$fs_opts E2E_DISK_MODEL=$disk_model \
	E2E_DIR=$dir E2E_SIZE=$size E2E_SHARDS=$shards E2E_SPREAD=$spread E2E_IDLE=$engine_idle \
	E2E_REDIS=$redis_version E2E_PINNED=$pinned E2E_STEPS=$steps E2E_SECONDS=$seconds_eff E2E_WARMUP=$warmup_s \
	E2E_QUICK=$quick E2E_WINDOWS=$windows E2E_WIN=$win E2E_WIN_FROM=$window_from \
	E2E_SHARDS_LIST=$shards_list E2E_SIZES=$sizes_list E2E_LCORES_LIST=$lcores_list \
	E2E_SWEEP_OPEN=$sweep_open E2E_JUMBO_MTU=$jumbo_mtu E2E_SIZES_MTU=$sizes_mtu E2E_JUMBO_OK=$jumbo_ok \
	E2E_JUMBO_WHY=$jumbo_why E2E_LOAD_START=$loadavg_start \
	E2E_LOAD_END=$loadavg_end \
	python3 - "$tmp" "${best_w:-}" "$redis_results" "$json_out" "$csv_out" "${runs[@]}" <<'EOF'
import csv, json, os, sys

tmp, best_w, redis_csv, json_out, csv_out = sys.argv[1:6]
names = sys.argv[6:]
env = os.environ.get


def ints(s):
    return [int(x) for x in (s or "").split()]


def read_kv(path, sep=None):
    """'key value' lines of a file as a dict (empty when the file is absent)."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                p = line.strip().split(sep, 1)
                if len(p) == 2:
                    out[p[0].strip()] = p[1].strip()
    except OSError:
        pass
    return out


def num(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        try:
            return float(v)
        except (TypeError, ValueError):
            return None


MEM_KEYS = ("mem_rss_bytes", "mem_rss_peak_bytes", "mem_dpdk_heap_alloc_bytes",
            "mempool_in_use", "mempool_size")
REFUSALS = ("throttled_ring", "throttled_store", "throttled_acks", "route_moved",
            "throttled_dedup", "tx_dropped", "nombuf", "append_failed")


def memory(name):
    """The engine's memory halfway through the run's window (None: not sampled)."""
    proc = read_kv(f"{tmp}/{name}.mem")
    stats = read_kv(f"{tmp}/{name}.mid-stats")
    if not proc and not stats:
        return None
    m = {"vm_rss_bytes": num(proc.get("VmRSS:")), "vm_hwm_bytes": num(proc.get("VmHWM:")),
         "stats_file": bool(stats)}
    for k in MEM_KEYS:
        m[k] = num(stats.get(k))
    for k, v in stats.items():  # whatever else the engine reports about memory
        if (k.startswith("mem_") or k.startswith("mempool_")) and k not in m:
            m[k] = num(v)
    return m


runs, sluice = [], {}
for n in names:
    meta = read_kv(f"{tmp}/{n}.meta", "=")
    step = meta.get("step", "?")
    if meta.get("skipped"):
        runs.append(dict(label=n, step=step, system="sluice", loop="closed", window=None,
                         offered_rps=None, shards=num(meta.get("shards")),
                         record_bytes=num(meta.get("record_bytes", env("E2E_SIZE"))),
                         lcores=num(meta.get("lcores", 1)), mtu=num(meta.get("mtu", 1500)),
                         ack="durable", records_per_s=None, mb_per_s=None, p50_us=None,
                         p99_us=None, p999_us=None, max_us=None, memory=None,
                         skipped=meta["skipped"]))
        continue
    d = json.load(open(f"{tmp}/{n}.json"))
    sluice[n] = d
    s, r = d["setup"], d["result"]
    l = r["latency_us"]
    lcores = int(meta.get("lcores", 1))
    end = read_kv(f"{tmp}/{n}.engine-stats")
    runs.append(dict(
        label=n, step=step, system="sluice", loop=s["mode"], window=s["window_frames"],
        offered_rps=s["offered_records_per_s"] if s["mode"] == "open" else None,
        shards=s["shards"], record_bytes=s["record_bytes"], key_bytes=s["key_bytes"],
        records_per_frame=s["records_per_frame"], frame_bytes=s["frame_bytes"],
        mtu=s.get("mtu", 1500), lcores=lcores, ack=s["ack"], spread=s["spread"],
        records_per_s=r["records_per_s"], records_per_s_per_lcore=r["records_per_s"] / lcores,
        mb_per_s=r["data_mb_per_s"], frames_per_s=r["frames_per_s"],
        achieved_over_offered=r["achieved_over_offered"] if s["mode"] == "open" else None,
        p50_us=l["p50"], p90_us=l["p90"], p99_us=l["p99"], p999_us=l["p99_9"],
        max_us=l["max"], mean_us=l["mean"], latency_count=l["count"],
        unanswered=r["statuses"]["unanswered"],
        resends=r["resends_throttled"] + r["resends_timeout"], window_s=r["window_s"],
        interrupted=r["interrupted"], window_from=meta.get("window_from") or None,
        engine_cores="0" if lcores == 1 else f"0-{lcores - 1}",
        loadgen_core=num(meta.get("loadgen_core")),
        oversubscribed=meta.get("oversubscribed") == "1",
        memory=memory(n),
        engine_refusals={k: int(end[k]) for k in REFUSALS if num(end.get(k))}))

redis = []
try:
    rows = list(csv.reader(open(redis_csv)))
except OSError:
    rows = []
size = int(env("E2E_SIZE"))
for row in rows:
    mode, c, p, n, rps, avg, p50, p95, p99, mx = row
    redis.append(dict(mode=mode, clients=int(c), pipeline=int(p), requests=int(n),
                      ops_per_s=float(rps), avg_ms=float(avg), p50_ms=float(p50),
                      p95_ms=float(p95), p99_ms=float(p99), max_ms=float(mx)))
    b = redis[-1]
    runs.append(dict(label=f"redis-{mode}-c{c}-P{p}", step="redis", system="redis",
                     peer="redis", fsync=mode, durability=f"appendfsync {mode}", loop="closed",
                     window=None, clients=b["clients"], pipeline=b["pipeline"],
                     offered_rps=None, shards=None, record_bytes=size, lcores=None, ack=None,
                     records_per_s=b["ops_per_s"], mb_per_s=b["ops_per_s"] * size / 1e6,
                     p50_us=b["p50_ms"] * 1e3, p99_us=b["p99_ms"] * 1e3, p999_us=None,
                     max_us=b["max_ms"] * 1e3, memory=None))
best = {m: max((r for r in redis if r["mode"] == m), key=lambda r: r["ops_per_s"])
        for m in ("always", "everysec") if any(r["mode"] == m for r in redis)}
closed = sluice[f"closed-w{best_w}"]["result"] if best_w else None
ratio = ratio_es = None
if closed and "always" in best:
    ratio = closed["records_per_s"] / best["always"]["ops_per_s"]
    ratio_es = closed["records_per_s"] / best["everysec"]["ops_per_s"]


def ms(us):
    return f"{us / 1e3:8.3f}" if us is not None else f"{'-':>8}"


def mib(m, k):
    v = (m or {}).get(k)
    return f"{v / 1048576:6.0f}" if v is not None else f"{'-':>6}"


print("summary (latency in ms; sluice: per record, from the send or the scheduled send;")
print("redis-benchmark: per request, from its send, pipelined; it has no p99.9;")
print("rss: the engine's VmRSS mid-window, MiB)")
print(f"{'':44} {'records/s':>11} {'p50':>8} {'p99':>8} {'p99.9':>8} {'max':>8} {'rss':>6}")
for r in runs:
    if r["system"] != "sluice":
        continue
    what = (f"sluice {r['ack']}, closed, w={r['window']}" if r["loop"] == "closed"
            else f"sluice {r['ack']}, open {r['offered_rps']:.0f}/s")
    if r["step"] in ("shards", "sizes", "lcores"):
        what += f", {r['shards']} sh, {r['record_bytes']} B"
        if r["step"] == "lcores":
            what += f", {r['lcores']} lc"
    if r.get("skipped"):
        print(f"{r['label']:44} skipped: {r['skipped']}")
        continue
    print(f"{what:44} {r['records_per_s']:11.0f} {ms(r['p50_us'])} {ms(r['p99_us'])} "
          f"{ms(r['p999_us'])} {ms(r['max_us'])} {mib(r['memory'], 'vm_rss_bytes')}")
for m, b in best.items():
    what = f"redis XADD {m}, -c {b['clients']} -P {b['pipeline']}"
    print(f"{what:44} {b['ops_per_s']:11.0f} {b['p50_ms']:8.3f} {b['p99_ms']:8.3f} {'-':>8} {b['max_ms']:8.3f}")
sw = [r for r in runs if r["step"] == "lcores" and not r.get("skipped")]
for r in sw:
    print(f"lcores {r['lcores']}: {r['records_per_s_per_lcore']:.0f} records/s per lcore"
          + (" (oversubscribed: shares a core with loadgen)" if r["oversubscribed"] else ""))
if ratio is not None:
    print()
    print(f"ratio: sluice durable (closed loop max) / redis appendfsync always = {ratio:.2f} x")
    print(f"       sluice durable / redis appendfsync everysec = {ratio_es:.2f} x")
    print(f"target (from the issue): >= 10 x redis always: {'PASS' if ratio >= 10 else 'MISS'} ({ratio:.2f} x)")

if json_out:
    first = next(iter(sluice.values()), {}).get("setup", {})
    jumbo = None
    if env("E2E_JUMBO_OK"):
        jumbo = dict(mtu=int(env("E2E_JUMBO_MTU")), available=env("E2E_JUMBO_OK") == "1",
                     reason=env("E2E_JUMBO_WHY") or None)
    setup = dict(
        cpu=env("E2E_CPU"), cores=int(env("E2E_NCPU")), kernel=env("E2E_KERNEL"),
        dpdk=first.get("dpdk") or env("E2E_DPDK") or None, pmd="net_memif",
        transport="memif shared-memory rings between two DPDK processes, no network",
        disk=dict(dir=env("E2E_DIR"), fs=env("E2E_FS_TYPE"), device=env("E2E_FS_DEV"),
                  model=env("E2E_DISK_MODEL") or None, mount_options=env("E2E_FS_OPTS")),
        ack="durable", record_bytes=size, key_bytes=9, shards=int(env("E2E_SHARDS")),
        spread=env("E2E_SPREAD"),
        engine=dict(lcores=1, cores="0", idle_sleep_us=int(env("E2E_IDLE")), mtu=1500,
                    eal="--no-huge -m 1024 --no-pci --no-shconf",
                    roles="main lcore polls the port, the others own shards; one does both"),
        loadgen=dict(core=1, idle_sleep_us=20, memif_rsize=12),
        redis=env("E2E_REDIS") or None, pinning=env("E2E_PINNED"),
        steps=env("E2E_STEPS").split(","), quick=env("E2E_QUICK") == "1",
        seconds=float(env("E2E_SECONDS")), warmup_s=float(env("E2E_WARMUP")), windows=ints(env("E2E_WINDOWS")),
        window=int(env("E2E_WIN")), window_from=env("E2E_WIN_FROM"),
        shards_list=ints(env("E2E_SHARDS_LIST")), sizes=ints(env("E2E_SIZES")),
        sizes_mtu=int(env("E2E_SIZES_MTU")) if env("E2E_SIZES_MTU") else None,
        lcores_list=ints(env("E2E_LCORES_LIST")), sweep_open_pct=int(env("E2E_SWEEP_OPEN")),
        jumbo=jumbo,
        frame_limit="a producer frame is one UDP datagram without IP fragments: records up "
                    "to the MTU less 105 bytes (1395 B at 1500, 8895 B at 9000); larger ones "
                    "(16 KiB and up) go through the HTTP API, perf/http_bench.sh --steps sizes",
        loadavg_start=env("E2E_LOAD_START"), loadavg_end=env("E2E_LOAD_END"))
    json.dump(dict(benchmark="e2e", setup=setup, runs=runs,
                   best_window=int(best_w) if best_w else None, sluice=sluice, redis=redis,
                   redis_best=best, ratio_always=ratio, ratio_everysec=ratio_es,
                   target=dict(name="durable_vs_redis_always", min=10, value=ratio,
                               met=ratio >= 10 if ratio is not None else None)),
              open(json_out, "w"), indent=2)
if csv_out:
    with open(csv_out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["system", "run", "ack_or_fsync", "mode", "window_or_clients", "pipeline",
                    "offered_per_s", "records_per_s", "p50_ms", "p99_ms", "p99_9_ms", "max_ms",
                    "step", "shards", "record_bytes", "lcores", "mtu", "rss_bytes", "skipped"])
        for r in runs:
            if r["system"] != "sluice":
                continue
            if r.get("skipped"):
                w.writerow(["sluice", r["label"], r["ack"], "", "", "", "", "", "", "", "", "",
                            r["step"], r["shards"], r["record_bytes"], r["lcores"], r["mtu"],
                            "", r["skipped"]])
                continue
            rss = (r["memory"] or {}).get("vm_rss_bytes")
            w.writerow(["sluice", r["label"], r["ack"], r["loop"], r["window"], "",
                        r["offered_rps"] if r["offered_rps"] is not None else 0,
                        round(r["records_per_s"]), r["p50_us"] / 1e3, r["p99_us"] / 1e3,
                        r["p999_us"] / 1e3, r["max_us"] / 1e3, r["step"], r["shards"],
                        r["record_bytes"], r["lcores"], r["mtu"],
                        "" if rss is None else rss, ""])
        for b in redis:
            w.writerow(["redis", f"c{b['clients']}-P{b['pipeline']}", b["mode"], "closed",
                        b["clients"], b["pipeline"], "", round(b["ops_per_s"]), b["p50_ms"],
                        b["p99_ms"], "", b["max_ms"], "redis", "", size, "", "", "", ""])
EOF
rc=$?
echo "  load at the end: $loadavg_end"
exit $rc

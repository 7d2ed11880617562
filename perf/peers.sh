#!/usr/bin/env bash
# perf/peers.sh: the peers sluice is compared with, measured in one run with
# one client (perf/peer_load) and sluice's benchmark record (100 B):
#
#   redis-always    Redis Streams XADD, appendonly yes + appendfsync always
#   redis-everysec  the same with appendfsync everysec
#   nats            NATS JetStream, file store, a publish acked by a PubAck
#
# Each run gets a freshly started server with an empty data directory in a
# temporary directory on --dir (the file system under test), stopped by the
# PID saved here when the run ends. Redis listens on a unix socket only;
# NATS has no unix sockets, so it listens on 127.0.0.1 inside a network
# namespace made here, and the client runs in that namespace too. The
# server is pinned to core 0 and the client to core 1 (taskset), as
# perf/e2e.sh pins sluiced and its load generator.
#
# Per peer: closed-loop runs over --closed clients:pipeline settings (the
# best records/s is the peer's max), then open-loop runs at --loads
# fractions of that max with latency counted from each record's scheduled
# send time (no coordinated omission): p50/p99/p99.9/max.
#
# nats-server 2.9.10 (Debian 12) has no `jetstream { sync_interval: always }`:
# the script tests whether the installed server accepts it and uses it if
# so. Otherwise NATS acks a record when it is in the file store's buffers or
# the page cache, without an fsync, and the output and JSON say that this
# comparison is not like for like. Redis everysec is not like for like
# either (fsync once a second).
#
# Every process it starts is stopped by its saved PID (also on exit and
# Ctrl-C), every step is bounded in time, and the namespace and temporary
# directory are removed at the end.
#
# Exit: 0 it ran, 77 something it needs is missing (the reason is printed),
# 1 a step failed, 2 bad options.
set -uo pipefail

usage() {
	cat <<EOF
usage: perf/peers.sh [--build DIR] [options]
  --build DIR      meson build directory with perf/peer_load (build)
  --dir DIR        where the servers' data goes: the file system under test (/var/tmp)
  --peers LIST     peers to run ("redis-always redis-everysec nats")
  --size B         record bytes (100, as sluice's benchmarks)
  --seconds S      measured seconds per run (5)
  --warmup S       warm-up seconds per run (1)
  --closed LIST    closed-loop clients:pipeline settings ("16:16 50:16 50:32 100:32");
                     the best is the peer's max
  --loads LIST     open-loop loads as fractions of the max ("0.1 0.5 0.9")
  --maxlen N       Redis: XADD MAXLEN ~ N bounds the server's memory (1000000; 0: none)
  --max-bytes B    NATS: the stream's max_bytes, discard old (2147483648)
  --quick          a smoke run (~25 s): one closed setting, one open load at 0.5, 1.5 s windows
  --json FILE      one combined file: setup + every run (tagged with peer and durability)
  --csv FILE       one line per run
EOF
}

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
dir=/var/tmp
peers="redis-always redis-everysec nats"
size=100
seconds=5
warmup=1
closed_cfgs="16:16 50:16 50:32 100:32"
loads="0.1 0.5 0.9"
maxlen=1000000
max_bytes=$((2 << 30))
quick=0
json_out=
csv_out=
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=${2:?}; shift ;;
	--dir) dir=${2:?}; shift ;;
	--peers) peers=${2:?}; shift ;;
	--size) size=${2:?}; shift ;;
	--seconds) seconds=${2:?}; shift ;;
	--warmup) warmup=${2:?}; shift ;;
	--closed) closed_cfgs=${2:?}; shift ;;
	--loads) loads=${2:?}; shift ;;
	--maxlen) maxlen=${2:?}; shift ;;
	--max-bytes) max_bytes=${2:?}; shift ;;
	--quick) quick=1 ;;
	--json) json_out=${2:?}; shift ;;
	--csv) csv_out=${2:?}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
case $build in /*) ;; *) build=$PWD/$build ;; esac
case $json_out in "" | /*) ;; *) json_out=$PWD/$json_out ;; esac
case $csv_out in "" | /*) ;; *) csv_out=$PWD/$csv_out ;; esac

bad() {
	echo "peers: $*" >&2
	exit 2
}
for p in $peers; do
	case $p in redis-always | redis-everysec | nats) ;; *) bad "unknown peer '$p'" ;; esac
done
[ -n "$peers" ] || bad "--peers is empty"
for c in $closed_cfgs; do
	[[ $c =~ ^[0-9]+:[0-9]+$ ]] || bad "--closed wants clients:pipeline, got '$c'"
done
for f in $loads; do
	[[ $f =~ ^(0?\.[0-9]+|1(\.0*)?)$ ]] || bad "--loads wants fractions in (0, 1], got '$f'"
done
if ! [[ $size =~ ^[0-9]+$ ]] || [ "$size" -lt 1 ] || [ "$size" -gt 1000000 ]; then
	bad "--size 1..1000000"
fi
[[ $seconds =~ ^[0-9]+(\.[0-9]+)?$ ]] || bad "--seconds wants a number"
[[ $warmup =~ ^[0-9]+(\.[0-9]+)?$ ]] || bad "--warmup wants a number"
[[ $maxlen =~ ^[0-9]+$ ]] || bad "--maxlen wants a number"
if ! [[ $max_bytes =~ ^[0-9]+$ ]] || [ "$max_bytes" -lt $((1 << 20)) ]; then
	bad "--max-bytes >= 1 MiB"
fi

if [ $quick = 1 ]; then
	closed_cfgs=${closed_cfgs%% *}
	loads=0.5
	seconds=1.5
	warmup=0.5
fi

skip() {
	echo "peers: SKIP: $*" >&2
	exit 77
}
fail() {
	echo "peers: FAIL: $*" >&2
	exit 1
}

# ---- what it needs ----
peer_load=$build/perf/peer_load
[ -x "$peer_load" ] || skip "no $peer_load (meson setup with -Dperf=true, then ninja)"
for c in python3 timeout; do
	command -v $c >/dev/null || skip "$c is missing (Debian: python3, coreutils)"
done
case " $peers " in *" redis-"*)
	for c in redis-server redis-cli; do
		command -v $c >/dev/null || skip "$c is missing (Debian: redis-server, redis-tools)"
	done ;;
esac
case " $peers " in *" nats "*)
	command -v nats-server >/dev/null || skip "nats-server is missing (Debian: nats-server)"
	[ "$(id -u)" = 0 ] || skip "needs root for NATS (a network namespace for 127.0.0.1)"
	command -v ip >/dev/null || skip "no ip tool (Debian: iproute2)"
	;;
esac
[ -d "$dir" ] || skip "--dir $dir does not exist"
free_kb=$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')
[ "${free_kb:-0}" -ge $((4 * 1024 * 1024)) ] || skip "less than 4 GiB free in $dir"
pin0=() pin1=()
pinned="not pinned (no taskset or fewer than 2 cores)"
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	pin0=(taskset -c 0)
	pin1=(taskset -c 1)
	pinned="server on core 0, client on core 1 (taskset)"
fi

# ---- processes: every one started here is stopped by its saved PID ----
tmp=$(mktemp -d "$dir/sluice-peers.XXXXXX") || fail "cannot make a directory in $dir"
mkdir -p "$tmp/runs"
ns=sluice-peers-$$
ns_made=0
spid=
stop_pid() { # pid [seconds]
	local p=$1 t=${2:-15} i
	kill -TERM "$p" 2>/dev/null || return 0
	for ((i = 0; i < t * 10; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}
stop_server() {
	[ -n "$spid" ] || return 0
	stop_pid "$spid" 30
	spid=
}
cleanup() {
	stop_server
	[ "$ns_made" = 1 ] && ip netns delete "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- NATS: can this server fsync every write? ----
nats_sync=no
if [[ " $peers " == *" nats "* ]]; then
	mkdir -p "$tmp/sync-test"
	printf 'jetstream {\n  store_dir: "%s"\n  sync_interval: always\n}\n' "$tmp/sync-test/js" \
		>"$tmp/sync-test/nats.conf"
	if timeout 10 nats-server -t -c "$tmp/sync-test/nats.conf" >"$tmp/sync-test/out" 2>&1; then
		nats_sync=always
	fi
	nats_sync_answer=$(tr '\n' ' ' <"$tmp/sync-test/out" | sed 's/ *$//')
	rm -rf "$tmp/sync-test"
	ip netns add "$ns" || skip "ip netns add $ns failed"
	ns_made=1
	ip -n "$ns" link set lo up || fail "lo up in $ns"
fi

declare -A durability like
durability[redis-always]="fsync per write: appendfsync always (the AOF is fsynced before the replies of each event-loop turn go out)"
like[redis-always]=true
durability[redis-everysec]="no fsync per write: AOF written before the reply, fsynced once a second (a crash can lose about the last second)"
like[redis-everysec]=false
if [ $nats_sync = always ]; then
	durability[nats]="fsync per write: jetstream sync_interval always"
	like[nats]=true
else
	durability[nats]="no fsync per write: page cache, synced every 2 min"
	like[nats]=false
fi

# ---- servers ----
start_redis() { # always|everysec
	local d=$tmp/redis i
	rm -rf "$d"
	mkdir -p "$d"
	"${pin0[@]}" redis-server --port 0 --unixsocket "$d/sock" --unixsocketperm 700 \
		--dir "$d" --appendonly yes --appendfsync "$1" --save '' \
		--auto-aof-rewrite-percentage 0 --daemonize no --logfile "$tmp/server.log" &
	spid=$!
	for ((i = 0; i < 100; i++)); do
		[ "$(timeout 2 redis-cli -s "$d/sock" ping 2>/dev/null)" = PONG ] && return 0
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	fail "redis-server ($1) did not answer PING in 10 s: $(tail -n 3 "$tmp/server.log")"
}
start_nats() {
	local d=$tmp/nats i
	rm -rf "$d"
	mkdir -p "$d"
	{
		echo "listen: 127.0.0.1:4222"
		echo "server_name: sluice-peers"
		[ "$size" -gt 900000 ] && echo "max_payload: 2MB"
		echo "jetstream {"
		echo "  store_dir: \"$d/js\""
		echo "  max_file_store: $((max_bytes + (256 << 20)))"
		echo "  max_memory_store: 64MB"
		[ $nats_sync = always ] && echo "  sync_interval: always"
		echo "}"
	} >"$d/nats.conf"
	# ip netns exec and taskset exec in place: $! is nats-server itself.
	ip netns exec "$ns" "${pin0[@]}" nats-server -c "$d/nats.conf" >"$tmp/server.log" 2>&1 &
	spid=$!
	for ((i = 0; i < 100; i++)); do
		grep -q "Server is ready" "$tmp/server.log" 2>/dev/null && return 0
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	fail "nats-server did not get ready in 10 s: $(tail -n 3 "$tmp/server.log")"
}

# summary_of FILE: "<records/s> <one printable line>" from a peer_load JSON file
# (one python3 start per run: it costs ~1 s on a loaded 2-core machine).
summary_of() {
	python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["runs"][0]
print(r["records_per_s"], f"{r['records_per_s']:10.0f} rec/s  p50 {r['p50_us'] / 1e3:8.3f}  "
      f"p99 {r['p99_us'] / 1e3:8.3f}  p99.9 {r['p999_us'] / 1e3:8.3f}  "
      f"max {r['max_us'] / 1e3:8.3f} ms  failed {r['errors']['failed']}")
PY
}

runs=()
failed_runs=()
last_rps=0
bound=$(awk -v s="$seconds" -v w="$warmup" 'BEGIN { printf "%d", s + w + 90 }')
# run_one PEER NAME PEER_LOAD-ARGS...: a fresh server, one peer_load run
run_one() {
	local peer=$1 name=$2 rc client
	shift 2
	case $peer in
	redis-*)
		start_redis "${peer#redis-}"
		client=("${pin1[@]}" "$peer_load" --target redis --unix "$tmp/redis/sock"
			--maxlen "$maxlen")
		;;
	nats)
		start_nats
		client=(ip netns exec "$ns" "${pin1[@]}" "$peer_load" --target nats
			--host 127.0.0.1 --port 4222 --max-bytes "$max_bytes")
		;;
	esac
	timeout -k 5 "$bound" "${client[@]}" --size "$size" --seconds "$seconds" \
		--warmup "$warmup" --server-pid "$spid" --peer "$peer" \
		--durability "${durability[$peer]}" --label "$name" --json "$tmp/runs/$name.json" \
		"$@" >"$tmp/runs/$name.txt" 2>&1
	rc=$?
	stop_server
	if ! [ -s "$tmp/runs/$name.json" ]; then
		cat "$tmp/runs/$name.txt" >&2
		fail "$name: peer_load exited $rc without a result"
	fi
	runs+=("$name")
	summary=$(summary_of "$tmp/runs/$name.json") || fail "$name: unreadable result"
	last_rps=${summary%% *}
	printf '  %-30s %s\n' "$name" "${summary#* }"
	if [ $rc -ne 0 ]; then
		failed_runs+=("$name")
		grep -E "^peer_load:|last error" "$tmp/runs/$name.txt" | sed 's/^/    /' >&2
	fi
}

# ---- setup ----
cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
fs_line=$(df -PT "$dir" | awk 'NR == 2 { print $2, $1 }')
fs_opts=$(findmnt -no OPTIONS -T "$dir" 2>/dev/null)
redis_version=$(redis-server --version 2>/dev/null | sed -n 's/.* v=\([^ ]*\).*/\1/p')
nats_version=$(nats-server --version 2>/dev/null | sed -n 's/.* v\{0,1\}\([0-9][^ ]*\)$/\1/p')
loadavg0=$(cat /proc/loadavg)
echo "peers: Redis Streams and NATS JetStream with one client (perf/peer_load)"
echo "setup"
echo "  cpu:         $cpu, $(nproc) online; $pinned"
echo "  kernel:      $(uname -srm)"
echo "  file system: $fs_line at $dir ($fs_opts)"
echo "  record:      $size B; closed loop over clients:pipeline $closed_cfgs; open loop at $loads of the max"
echo "  windows:     $seconds s after $warmup s warm-up; every run on a freshly started server"
echo "  redis:       ${redis_version:-not installed}, unix socket, XADD MAXLEN ~ $maxlen (0: none), appendonly yes, no RDB, no AOF rewrite"
echo "  nats:        ${nats_version:-not installed}, 127.0.0.1 in netns $ns, JetStream file store, max_bytes $max_bytes discard old"
if [[ " $peers " == *" nats "* ]]; then
	if [ $nats_sync = always ]; then
		echo "               jetstream sync_interval: always is accepted and used: fsync per write"
	else
		echo "               jetstream sync_interval: always is NOT accepted by this nats-server"
		echo "               (\"$nats_sync_answer\"): NATS runs as it is, acks without fsync."
		echo "               NOT LIKE FOR LIKE with durable (fsynced) acks: ${durability[nats]}"
	fi
fi
echo "  load:        $loadavg0 (other processes share these cores)"
echo "  directory:   $tmp"

# ---- runs ----
declare -A best_rps best_cfg
for peer in $peers; do
	echo
	echo "== $peer: ${durability[$peer]}"
	echo "  closed loop (clients:pipeline $closed_cfgs)"
	best_rps[$peer]=0
	best_cfg[$peer]=
	for cfg in $closed_cfgs; do
		c=${cfg%%:*} p=${cfg##*:}
		name=$peer-closed-c$c-p$p
		run_one "$peer" "$name" --clients "$c" --pipeline "$p"
		if awk -v a="$last_rps" -v b="${best_rps[$peer]}" 'BEGIN { exit !(a > b) }'; then
			best_rps[$peer]=$last_rps
			best_cfg[$peer]=$cfg
		fi
	done
	[ -n "${best_cfg[$peer]}" ] || fail "$peer: no closed-loop run acknowledged anything"
	echo "  max: ${best_rps[$peer]} records/s at clients:pipeline ${best_cfg[$peer]}"
	echo "  open loop at $loads of the max, ${best_cfg[$peer]%%:*} clients (latency from the scheduled send time)"
	for f in $loads; do
		rate=$(awk -v m="${best_rps[$peer]}" -v f="$f" 'BEGIN { r = int(m * f); print (r > 1 ? r : 1) }')
		pct=$(awk -v f="$f" 'BEGIN { printf "%d", f * 100 + 0.5 }')
		run_one "$peer" "$peer-open-$pct" --clients "${best_cfg[$peer]%%:*}" --rate "$rate"
	done
done

# ---- summary, JSON, CSV ----
echo
python3 - "$tmp/runs" "$json_out" "$csv_out" "$quick" "$loadavg0" "$cpu" "$fs_line" "$fs_opts" \
	"$dir" "$pinned" "${redis_version:-}" "${nats_version:-}" "$nats_sync" "$maxlen" \
	"$max_bytes" "$closed_cfgs" "$loads" "$seconds" "$warmup" "$size" "$peers" \
	"${durability[redis-always]}" "${durability[redis-everysec]}" "${durability[nats]}" \
	"${like[redis-always]}" "${like[redis-everysec]}" "${like[nats]}" \
	"${runs[@]}" <<'EOF'
import csv, json, os, platform, sys

(runs_dir, json_out, csv_out, quick, loadavg0, cpu, fs_line, fs_opts, dir_, pinned, redis_v,
 nats_v, nats_sync, maxlen, max_bytes, closed_cfgs, loads, seconds, warmup, size, peers,
 d_always, d_everysec, d_nats, l_always, l_everysec, l_nats) = sys.argv[1:28]
names = sys.argv[28:]
durability = {"redis-always": d_always, "redis-everysec": d_everysec, "nats": d_nats}
like = {"redis-always": l_always == "true", "redis-everysec": l_everysec == "true",
        "nats": l_nats == "true"}
docs = {n: json.load(open(os.path.join(runs_dir, n + ".json"))) for n in names}

runs = []
best = {}
for n in names:
    d = docs[n]
    r = dict(d["runs"][0])
    peer = r["peer"]
    r["like_for_like"] = like[peer]
    r["server_version"] = d["setup"].get("server_version") or (
        redis_v if peer.startswith("redis") else nats_v)
    r["transport"] = d["setup"]["transport"]
    if r["loop"] == "closed":
        b = best.get(peer)
        if b is None or r["records_per_s"] > b["records_per_s"]:
            best[peer] = {"records_per_s": r["records_per_s"], "label": n,
                          "clients": r["clients"], "pipeline": r["pipeline"]}
    runs.append(r)
for r in runs:
    if r["loop"] == "open":
        m = best[r["peer"]]["records_per_s"]
        r["max_rps"] = m
        r["load_fraction"] = r["offered_rps"] / m if m else None

print("summary (latency per record in ms; open loop: from the scheduled send time)")
print(f"{'run':28} {'offered/s':>10} {'records/s':>11} {'p50':>8} {'p99':>8} {'p99.9':>8} "
      f"{'max':>9} {'failed':>7}")
for r in runs:
    off = f"{r['offered_rps']:.0f}" if r["offered_rps"] else "-"
    print(f"{r['label']:28} {off:>10} {r['records_per_s']:11.0f} {r['p50_us'] / 1e3:8.3f} "
          f"{r['p99_us'] / 1e3:8.3f} {r['p999_us'] / 1e3:8.3f} {r['max_us'] / 1e3:9.3f} "
          f"{r['errors']['failed']:7d}")
print()
for p in peers.split():
    if p in best:
        b = best[p]
        print(f"max {p:15} {b['records_per_s']:10.0f} records/s ({b['clients']} clients x "
              f"{b['pipeline']} pipelined); {durability[p]}"
              f"{'' if like[p] else '  [NOT like for like with fsynced acks]'}")

setup = {
    "cpu": cpu, "cpus": os.cpu_count(), "kernel": " ".join(platform.uname()[2:5]),
    "file_system": {"dir": dir_, "fs_and_device": fs_line, "mount_options": fs_opts},
    "pinning": pinned, "record_bytes": int(size), "shards": 1,
    "ack": "per record: Redis XADD reply / JetStream PubAck",
    "peers": peers.split(), "durability": {p: durability[p] for p in peers.split()},
    "like_for_like": {p: like[p] for p in peers.split()},
    "closed_settings": closed_cfgs.split(), "loads": [float(x) for x in loads.split()],
    "seconds": float(seconds), "warmup_s": float(warmup), "quick": quick == "1",
    "versions": {"redis": redis_v or None, "nats": nats_v or None, "client": "perf/peer_load"},
    "redis": {"transport": "unix socket", "appendonly": True, "maxlen": int(maxlen),
              "rdb": False, "aof_rewrite": False},
    "nats": {"transport": "tcp 127.0.0.1 in a network namespace", "storage": "file",
             "max_bytes": int(max_bytes), "discard": "old",
             "sync_interval_always_supported": nats_sync == "always"},
    "loadavg_start": loadavg0,
}
if json_out:
    with open(json_out, "w") as f:
        json.dump({"benchmark": "peers", "setup": setup, "max": best, "runs": runs}, f, indent=1)
    print(f"\njson: {json_out}")
if csv_out:
    with open(csv_out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["peer", "durability", "like_for_like", "label", "loop", "clients", "pipeline",
                    "offered_rps", "records_per_s", "mb_per_s", "p50_us", "p99_us", "p999_us",
                    "max_us", "record_bytes", "failed"])
        for r in runs:
            w.writerow([r["peer"], r["durability"], r["like_for_like"], r["label"], r["loop"],
                        r["clients"], r["pipeline"], r["offered_rps"] or "",
                        round(r["records_per_s"]), r["mb_per_s"], r["p50_us"], r["p99_us"],
                        r["p999_us"], r["max_us"], r["record_bytes"], r["errors"]["failed"]])
    print(f"csv:  {csv_out}")
EOF
rc=$?
[ $rc = 0 ] || fail "the summary failed"
echo "  load at the end: $(cat /proc/loadavg)"
if [ ${#failed_runs[@]} -gt 0 ]; then
	fail "peer_load reported failures in: ${failed_runs[*]} (their results are above and in the JSON)"
fi
exit 0

#!/usr/bin/env bash
# perf/bench.sh: every sluice benchmark from one command.
#
# Runs the benchmarks under perf/ (or a named subset) one after another, each
# with the limit it measures in the same run and the peers it compares with,
# prints a progress line per step, and writes under one results directory:
#
#   setup.json           the machine, disk, build, tool versions, load average
#   <step>.json, .log    each step's own results and its full output
#   results.json, .csv   every run of every step in one schema (perf/collect.py)
#   summary.txt          one line per step: its headline and ratio
#   plots/*.svg          the pictures (perf/plot.py), unless --no-plots
#
# Nothing here is a test: it reports, it does not assert. Exit: 0 when every
# chosen step ran or was skipped for a reason it printed (a missing peer, too
# few cores), 1 when a step failed, 2 on a usage error.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

# name | what it measures (the progress line) | the command (run with eval;
# $B is the build dir, $D the data dir, $J the step's JSON, $Q --quick or "",
# $S --seconds S or "", $EW the closed-loop windows e2e.sh tries or "" in
# --quick)
steps_table() {
	cat <<'EOF'
storage|storage: durable appends vs raw io_uring writes and write+fdatasync (perf_append)|"$B/perf/perf_append" --dir "$D/sluice-perf" --json "$J" $Q $S
storage-sizes|storage: records/s and p99 as record size grows, 16 B..64 KiB, vs raw writes|"$B/perf/perf_append" --dir "$D/sluice-perf" --sizes 16,64,256,1k,4k,16k,64k --json "$J" $Q $S
storage-shards|storage: records/s and p99 as shards per core grow, 1..256, vs raw writes|"$B/perf/perf_append" --dir "$D/sluice-perf" --shards 1,4,16,64,256 --json "$J" $Q $S
rx|dataplane rx: engine rx path on one core vs the PMD's rx-only rate (perf_rx, net_pcap)|"$B/perf/perf_rx" --dir "$D" --json "$J" $Q $S
e2e|end to end: durable acks over net_memif, closed loop max and open loop at 10/50/90 %|"$top/perf/e2e.sh" --build "$B" --dir "$D" --steps closed,open,received ${EW:+--windows "$EW"} --json "$J" $Q $S
e2e-shards|end to end: records/s and p99 as shards per core grow, 1..256|"$top/perf/e2e.sh" --build "$B" --dir "$D" --steps shards --json "$J" $Q $S
e2e-sizes|end to end: records/s and p99 as record size grows (UDP frames)|"$top/perf/e2e.sh" --build "$B" --dir "$D" --steps sizes --window 512 --json "$J" $Q $S
e2e-lcores|end to end: records/s per lcore as lcores grow (where the machine has the cores)|"$top/perf/e2e.sh" --build "$B" --dir "$D" --steps lcores --json "$J" $Q $S
peers|peers: Redis Streams XADD (appendfsync always, everysec) and NATS JetStream, closed and open loop|"$top/perf/peers.sh" --build "$B" --dir "$D" --json "$J" $Q $S
http|Kinesis API: PutRecords vs kinesalite with the same client, closed loop max and open loop|"$top/perf/http_bench.sh" --build "$B" --dir "$D" --steps closed,open --json "$J" $Q $S
http-sizes|Kinesis API: records/s as record size grows, 16 B..64 KiB, sluiced and kinesalite|"$top/perf/http_bench.sh" --build "$B" --dir "$D" --steps sizes --json "$J" $Q $S
EOF
}

usage() {
	cat <<EOF
usage: perf/bench.sh [options] [STEP...]
  STEP...          run only these steps (default: all), in the order below
  --skip LIST      leave out these steps (comma or space separated)
  --quick          smoke mode: every step in its short form (what CI runs)
  --seconds S      measured seconds per run, passed to every step (each has its own default)
  --build DIR      meson build directory to use (default: build-perf, configured here as a
                   release build without tests, and built, when it has no build.ninja)
  --dir DIR        where logs, AOFs and temporary files go: the file system under test
                   (default /var/tmp)
  --out DIR        results directory (default perf/results/<date>-<time>; perf/results/latest
                   points at the newest)
  --no-plots       do not draw the plots
  --plots-to DIR   also copy the plots there (perf/plots: the ones the README shows)
  --list           print the steps and exit

steps:
$(steps_table | awk -F'|' '{ printf "  %-15s %s\n", $1, $2 }')
EOF
}

quick=0
seconds=
build=
dir=/var/tmp
out=
plots=1
plots_to=
only=()
skip_list=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--seconds) seconds=$2; shift ;;
	--build) build=$2; shift ;;
	--dir) dir=$2; shift ;;
	--out) out=$2; shift ;;
	--skip) skip_list="$skip_list ${2//,/ }"; shift ;;
	--no-plots) plots=0 ;;
	--plots-to) plots_to=$2; shift ;;
	--list) steps_table | awk -F'|' '{ printf "%-15s %s\n", $1, $2 }'; exit 0 ;;
	-h | --help) usage; exit 0 ;;
	-*) usage >&2; exit 2 ;;
	*) only+=("${1//,/ }") ;;
	esac
	shift
done

known=$(steps_table | cut -d'|' -f1)
chosen=()
for name in $known; do
	want=1
	if [ ${#only[@]} -gt 0 ]; then
		want=0
		for o in ${only[*]}; do [ "$o" = "$name" ] && want=1; done
	fi
	for s in $skip_list; do [ "$s" = "$name" ] && want=0; done
	[ $want = 1 ] && chosen+=("$name")
done
for o in ${only[*]} $skip_list; do
	echo "$known" | grep -qx -- "$o" || { echo "bench: unknown step '$o' (--list)" >&2; exit 2; }
done
[ ${#chosen[@]} -gt 0 ] || { echo "bench: no step chosen" >&2; exit 2; }

# ---- build and dependencies ----
if [ -z "$build" ]; then
	build=$top/build-perf
	"$top/scripts/install-deps.sh" || { echo "bench: installing dependencies failed" >&2; exit 1; }
	if [ ! -f "$build/build.ninja" ]; then
		meson setup "$build" -Dbuildtype=release -Dtests=false >/dev/null ||
			{ echo "bench: meson setup $build failed" >&2; exit 1; }
	fi
	ninja -C "$build" >/dev/null || { ninja -C "$build"; exit 1; }
fi
case $build in /*) ;; *) build=$PWD/$build ;; esac
[ -d "$build" ] || { echo "bench: no build directory $build" >&2; exit 2; }
mkdir -p "$dir" || { echo "bench: cannot make $dir" >&2; exit 1; }

if [ -z "$out" ]; then
	out=$top/perf/results/$(date +%Y%m%d-%H%M%S)
	mkdir -p "$out" && ln -sfn "$(basename "$out")" "$top/perf/results/latest"
fi
mkdir -p "$out" || { echo "bench: cannot make $out" >&2; exit 1; }
case $out in /*) ;; *) out=$PWD/$out ;; esac

python3 "$top/perf/setup_info.py" --dir "$dir" --build "$build" --quick $quick \
	--steps "${chosen[*]}" >"$out/setup.json" ||
	{ echo "bench: perf/setup_info.py failed" >&2; exit 1; }
python3 - "$out/setup.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
print("bench: %s, %s cores, %s; disk %s (%s); build %s; load %s" % (
    s["cpu"], s["cores"], s["kernel"], s["disk"]["device"], s["disk"]["fstype"],
    s["build"]["buildtype"], s["loadavg_start"]))
EOF
echo "bench: results in $out"

# ---- the steps ----
B=$build
D=$dir
Q=
[ $quick = 1 ] && Q=--quick
S=
[ -n "$seconds" ] && S="--seconds $seconds"
# The engine's closed-loop max needs many frames in flight (durable acks wait
# for fdatasync); --quick keeps e2e.sh's one short window.
EW="64 256 1024"
[ $quick = 1 ] && EW=
n=${#chosen[@]}
i=0
failed=0
: >"$out/steps.txt"
t_all=$(date +%s)
for name in "${chosen[@]}"; do
	i=$((i + 1))
	line=$(steps_table | awk -F'|' -v n="$name" '$1 == n')
	what=$(echo "$line" | cut -d'|' -f2)
	cmd=$(echo "$line" | cut -d'|' -f3-)
	J=$out/$name.json
	rm -f "$J"
	printf '[%d/%d] %s: %s ... ' "$i" "$n" "$name" "$what"
	t0=$(date +%s)
	(eval "$cmd") >"$out/$name.log" 2>&1
	rc=$?
	dt=$(($(date +%s) - t0))
	case $rc in
	0)
		if [ -s "$J" ] && python3 -m json.tool "$J" >/dev/null 2>&1; then
			status=ok
			echo "ok (${dt} s)"
		else
			status=failed
			failed=1
			echo "FAILED: no valid $J (${dt} s; log: $out/$name.log)"
		fi
		;;
	77)
		status=skipped
		echo "skipped (${dt} s): $(grep -i 'skip' "$out/$name.log" | tail -n 1)"
		;;
	*)
		status=failed
		failed=1
		echo "FAILED with exit $rc (${dt} s; log: $out/$name.log)"
		tail -n 5 "$out/$name.log" | sed 's/^/    | /'
		;;
	esac
	echo "$name $status $rc $dt" >>"$out/steps.txt"
done
echo "bench: steps took $(($(date +%s) - t_all)) s"

python3 "$top/perf/collect.py" "$out" || { echo "bench: perf/collect.py failed" >&2; failed=1; }
[ -f "$out/summary.txt" ] && cat "$out/summary.txt"
if [ $plots = 1 ] && [ -f "$out/results.json" ]; then
	if python3 "$top/perf/plot.py" "$out"; then
		echo "bench: plots in $out/plots"
		if [ -n "$plots_to" ]; then
			mkdir -p "$plots_to" && cp "$out"/plots/*.svg "$out"/results.json "$out"/summary.txt "$plots_to"/ &&
				cp "$out/setup.json" "$plots_to/setup.json" && echo "bench: plots copied to $plots_to"
		fi
	else
		echo "bench: perf/plot.py failed" >&2
		failed=1
	fi
fi
exit $failed

#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds sluice with
# warnings as errors, runs every test suite (unit, stress, dpdk, e2e), the
# unit suite again under ASan+UBSan, a smoke run of the benchmarks, and the
# format check. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD

scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

logs=()
status=0

step() { echo "== $*"; }

build() { # dir, extra meson args...
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" -Ddeveloper_mode=true -Dwerror=true "$@" >/dev/null || return 1
	fi
	ninja -C "$dir" >/dev/null || ninja -C "$dir"
}

step "build (developer mode: -Werror, header self-containment)"
if ! build build; then
	echo "0 passed, 1 failed"
	exit 1
fi

step "tests: unit and stress suites"
meson test -C build --no-rebuild --print-errorlogs --suite unit --suite stress \
	--num-processes 2 || status=1
cp build/meson-logs/testlog.json build/meson-logs/testlog-main.json
logs+=(build/meson-logs/testlog-main.json)

# The engine suites spin a DPDK lcore at 100%: one test program at a time.
step "tests: dpdk and e2e suites (DPDK without hugepages, net_ring, net_tap in a netns)"
meson test -C build --no-rebuild --print-errorlogs --suite dpdk --suite e2e \
	--num-processes 1 || status=1
cp build/meson-logs/testlog.json build/meson-logs/testlog-engine.json
logs+=(build/meson-logs/testlog-engine.json)

step "tests: unit suite under ASan+UBSan"
if build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dperf=false; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --no-rebuild --print-errorlogs --suite unit \
		--num-processes 2 || status=1
	logs+=(build-asan/meson-logs/testlog.json)
else
	status=1
fi

step "benchmark harness smoke run (perf/bench.sh --quick: every step short, plots drawn)"
# Not a timed test: it checks that every benchmark, its limits, its peers,
# the collection and the plots run. A step the machine cannot run (no DPDK,
# no peer) is a skip with its reason.
smoke_ok=0
smoke_fail=0
smoke_skip=0
rm -rf build/perf-smoke
perf/bench.sh --quick --build build --out build/perf-smoke >build/perf-smoke.txt 2>&1
bench_rc=$?
cat build/perf-smoke.txt
if [ -f build/perf-smoke/steps.txt ]; then
	smoke_ok=$(awk '$2 == "ok"' build/perf-smoke/steps.txt | wc -l)
	smoke_fail=$(awk '$2 == "failed"' build/perf-smoke/steps.txt | wc -l)
	smoke_skip=$(awk '$2 == "skipped"' build/perf-smoke/steps.txt | wc -l)
fi
# The harness's own parts: results collected and plots drawn.
if [ $bench_rc -eq 0 ] && [ -s build/perf-smoke/results.json ] &&
	ls build/perf-smoke/plots/*.svg >/dev/null 2>&1; then
	smoke_ok=$((smoke_ok + 1))
else
	smoke_fail=$((smoke_fail + 1))
	echo "perf/bench.sh --quick failed (exit $bench_rc): build/perf-smoke.txt, build/perf-smoke/*.log"
fi

step "format check (clang-format)"
fmt_ok=1
if command -v clang-format >/dev/null; then
	bad=$(git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run -Werror 2>&1 | grep -c 'error:' || true)
	if [ "$bad" != "0" ]; then
		git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run -Werror 2>&1 | grep 'error:' | head
		fmt_ok=0
	fi
fi

step "summary"
summary=$(python3 scripts/summarize.py "${logs[@]}")
echo "$summary" | sed '$d'
last=$(echo "$summary" | tail -n 1)
p=$(echo "$last" | awk '{print $1}')
f=$(echo "$last" | awk '{print $3}')
s=$(echo "$last" | awk '{print $5}')
s=$((s + smoke_skip))
p=$((p + smoke_ok))
f=$((f + smoke_fail))
[ $fmt_ok -eq 1 ] && p=$((p + 1)) || { f=$((f + 1)); echo "clang-format check failed"; }
[ "$f" -eq 0 ] || status=1
echo "$p passed, $f failed, $s skipped"
exit $status

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

step "benchmark smoke runs (perf/perf_append, perf/perf_rx, perf/e2e.sh, perf/http_bench.sh, each --quick)"
smoke_ok=0
smoke_fail=0
smoke_skip=0
for bench in perf_append perf_rx e2e.sh http_bench.sh; do
	if [ "$bench" = e2e.sh ]; then
		[ -x build/perf/loadgen ] || continue
		perf/e2e.sh --build build --quick >build/perf-smoke-$bench.txt 2>&1
	elif [ "$bench" = http_bench.sh ]; then
		[ -x build/perf/http_load ] || continue
		perf/http_bench.sh --build build --quick >build/perf-smoke-$bench.txt 2>&1
	else
		[ -x build/perf/$bench ] || continue
		build/perf/$bench --quick >build/perf-smoke-$bench.txt 2>&1
	fi
	rc=$?
	if [ $rc -eq 77 ]; then
		smoke_skip=$((smoke_skip + 1)) # the machine lacks what it needs: a skip with its reason
		tail -n 2 build/perf-smoke-$bench.txt
	elif [ $rc -ne 0 ]; then
		smoke_fail=$((smoke_fail + 1))
		echo "perf smoke run failed: build/perf-smoke-$bench.txt"
	else
		smoke_ok=$((smoke_ok + 1))
	fi
	tail -n 12 build/perf-smoke-$bench.txt
done

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

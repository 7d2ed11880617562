#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds sluice with
# warnings as errors, runs every test suite (unit, stress; dpdk and e2e once
# they exist), the unit suite again under ASan+UBSan, a smoke run of the
# benchmarks, and the format check. Ends with "N passed, N failed".
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

step "tests: unit suite under ASan+UBSan"
if build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dperf=false; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --no-rebuild --print-errorlogs --suite unit \
		--num-processes 2 || status=1
	logs+=(build-asan/meson-logs/testlog.json)
else
	status=1
fi

step "benchmark smoke run (perf/perf_append --quick)"
smoke_ok=1
smoke_skip=0
if [ -x build/perf/perf_append ]; then
	build/perf/perf_append --quick >build/perf-smoke.txt 2>&1
	rc=$?
	if [ $rc -eq 77 ]; then
		smoke_skip=1 # not enough free disk here: a skip with its reason
		tail -n 2 build/perf-smoke.txt
	elif [ $rc -ne 0 ]; then
		smoke_ok=0
	fi
	tail -n 12 build/perf-smoke.txt
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
if [ $smoke_skip -eq 1 ]; then
	s=$((s + 1))
elif [ $smoke_ok -eq 1 ]; then
	p=$((p + 1))
else
	f=$((f + 1))
	echo "perf smoke run failed: build/perf-smoke.txt"
fi
[ $fmt_ok -eq 1 ] && p=$((p + 1)) || { f=$((f + 1)); echo "clang-format check failed"; }
[ "$f" -eq 0 ] || status=1
echo "$p passed, $f failed, $s skipped"
exit $status

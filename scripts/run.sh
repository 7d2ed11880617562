#!/usr/bin/env bash
# The README's run command: installs what sluice needs, builds it, and runs
# it on this machine with its defaults. The engine (sluiced) arrives with the
# dataplane issue; until then this runs the storage engine's benchmark, which
# appends to shard logs with durable acks and prints what the disk allows.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ ! -f build-release/build.ninja ]; then
	meson setup build-release --buildtype=release -Dtests=false >/dev/null
fi
ninja -C build-release >/dev/null
echo "sluice: the daemon is not built yet; running the storage benchmark (perf/perf_append)"
exec build-release/perf/perf_append "$@"

#!/usr/bin/env bash
# The README's run command: installs what sluice needs, builds it, and runs
# the engine (sluiced) on this machine with its defaults: a TAP port (no DPDK
# NIC needed), no hugepages, one lcore, data in /var/lib/sluice. It prints
# where producers should send; stop it with Ctrl-C (acked records are on
# disk). Arguments pass through to sluiced (see sluiced --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ ! -f build-release/build.ninja ]; then
	meson setup build-release --buildtype=release -Dtests=false >/dev/null
fi
ninja -C build-release >/dev/null
echo "sluice: starting sluiced; in another shell: build-release/cli/sluicectl list (Kinesis API on 127.0.0.1:4567), or build-release/client/sluice-put --host 198.18.0.2 --stream default hello world (UDP)"
exec build-release/daemon/sluiced "$@"

#!/usr/bin/env bash
# tests/conformance/setup.sh: installs the suite's Node dependencies (the AWS
# SDK for JavaScript v3 Kinesis client, and kinesalite, the reference
# emulator) into tests/conformance/node_modules with `npm ci`, exactly as
# package-lock.json pins them. Idempotent: quiet and quick when they are
# already there. Optional dependencies (kinesalite's leveldown, only used
# with --path) and install scripts are skipped: nothing is built or fetched
# besides the registry's tarballs.
#
# Exit: 0 installed (or already there), 77 when node/npm is missing or the
# install failed (the reason on stderr), so callers can skip.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mods=$here/node_modules
stamp=$mods/.sluice-installed

for tool in node npm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "conformance setup: $tool not found (apt-get install nodejs npm)" >&2
		exit 77
	fi
done

# Installed from this very lock file already: nothing to do.
if [ -f "$stamp" ] && cmp -s "$stamp" "$here/package-lock.json" &&
	[ -f "$mods/@aws-sdk/client-kinesis/package.json" ] &&
	[ -f "$mods/kinesalite/cli.js" ]; then
	exit 0
fi

log=$(mktemp "${TMPDIR:-/tmp}/sluice-npm-ci.XXXXXX")
# npm ci removes node_modules first; a lock beside package.json keeps two
# concurrent setups (meson runs tests in parallel) from racing.
(
	flock -w 300 9 || { echo "conformance setup: lock busy" >&2; exit 1; }
	if [ -f "$stamp" ] && cmp -s "$stamp" "$here/package-lock.json"; then
		exit 0
	fi
	cd "$here" &&
		timeout 280 npm ci --omit=optional --ignore-scripts --no-audit --no-fund \
			--loglevel=error >"$log" 2>&1 &&
		cp package-lock.json "$stamp"
) 9>"$here/.setup.lock"
rc=$?
if [ $rc -ne 0 ]; then
	echo "conformance setup: npm ci failed in $here (exit $rc):" >&2
	tail -n 20 "$log" >&2
	rm -f "$log"
	exit 77
fi
rm -f "$log"
exit 0

#!/usr/bin/env bash
# Installs the Debian packages sluice needs to build, test and benchmark.
# Idempotent and quiet when everything is already present: it only runs
# apt-get (update first) when dpkg reports a package missing.
set -euo pipefail

packages=(
	build-essential
	awscli
	clang-format
	dpdk
	gnuplot-nox
	iproute2
	iputils-ping
	libcriterion-dev
	libcurl4-openssl-dev
	libdpdk-dev
	libh2o-evloop-dev
	libisal-dev
	libjansson-dev
	libssl-dev
	liburing-dev
	meson
	nodejs
	nats-server
	nftables
	ninja-build
	pkg-config
	redis-server
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
echo "sluice: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

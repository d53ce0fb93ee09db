#!/usr/bin/env bash
# deps.sh - make sure the Debian packages vxpu's build and tests need are
# installed. One dpkg-query for all of them (fast when nothing is missing);
# as root, installs only the missing ones (one `apt-get update` first);
# otherwise names them and the command to install them, and fails.
#
#   scripts/deps.sh            build + test dependencies
#   scripts/deps.sh --check    only report, never install
set -euo pipefail

# Keep sorted; one package a line with what needs it.
PACKAGES=(
	cmake              # build system
	curl               # HTTP client of the vxpu serve tests
	gcc                # compiler
	jq                 # JSON checks in the integration tests (limiter, region)
	libc6-dev          # libc headers
	libcjson-dev       # JSON codecs (core)
	libcmocka-dev      # unit tests
	libmicrohttpd-dev  # HTTP(S) server of vxpu serve and the daemons (kube)
	libcurl4-openssl-dev # Kubernetes API client (kube)
	libgrpc-dev        # kubelet device plugin transport, gRPC core (kube)
	libprotobuf-c-dev  # device plugin messages (kube)
	libpq-dev          # PostgreSQL ledger of the cluster scheduler (meter)
	libsqlite3-dev     # local ledger and allocation state (meter, node)
	libyaml-dev        # kubeconfig files (kube)
	make               # front door
	pkg-config         # locating libraries
	protobuf-c-compiler # protoc-c: device plugin messages from deviceplugin.proto (kube)
	python3            # test Kubernetes API server (tests/unit/sched)
	python3-grpcio     # test kubelet of the device plugin (tests/integration/agent_plugin.sh)
	python3-protobuf   # its messages, from the descriptor set
	python3-yaml       # deploy manifest checks (tests/integration/sched_deploy.sh)
	valgrind           # memory checks in the suite
)

check_only=0
if [ "${1:-}" = "--check" ]; then
	check_only=1
elif [ $# -gt 0 ]; then
	echo "deps.sh: unknown argument \"$1\" (usage: deps.sh [--check])" >&2
	exit 2
fi

missing=()
status=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
for p in "${PACKAGES[@]}"; do
	if ! grep -qx "$p installed" <<<"$status"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$check_only" = 1 ] || [ "$(id -u)" != 0 ]; then
	echo "vxpu: missing Debian packages: ${missing[*]}" >&2
	echo "install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi

echo "vxpu: installing missing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq </dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null

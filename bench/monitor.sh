#!/usr/bin/env bash
# monitor.sh BUILD_DIR - the node monitor's figures with 100 containers on
# the simulated driver: a /metrics scrape over HTTP (target p99 <= 50 ms),
# one sample of the regions and the management library, one render. See
# bench/monitor/bench_monitor.c.
set -euo pipefail
BUILD=${1:?usage: monitor.sh BUILD_DIR}
BIN="$BUILD/bench/monitor/bench_monitor"
if [ ! -x "$BIN" ]; then
	echo "monitor: $BIN is missing; build first (make build)" >&2
	exit 1
fi
VXPU_LOG=error "$BIN" "$BUILD/sim" "$BUILD/examples/alloc_loop" 100

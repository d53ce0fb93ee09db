#!/usr/bin/env bash
# sched.sh BUILD_DIR - the scheduler extender's figures: filter + prioritize
# for one pod over 1,000 nodes x 8 GPUs (target p99 <= 5 ms), the model's
# memory with 5,000 nodes (target <= 200 MiB), and binds per second against
# the test API server (target >= 500/s). See bench/sched/bench_sched.c.
set -euo pipefail
BUILD=${1:?usage: sched.sh BUILD_DIR}
BIN="$BUILD/bench/sched/bench_sched"
if [ ! -x "$BIN" ]; then
	echo "sched: $BIN is missing; build first (make build)" >&2
	exit 1
fi
VXPU_LOG=error "$BIN"

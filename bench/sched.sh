#!/usr/bin/env bash
# sched.sh BUILD_DIR - the scheduler extender's figures: filter + prioritize
# for one pod over 1,000 nodes x 8 GPUs, server-side (inside the handlers,
# target p99 <= 5 ms) and end to end over HTTP, the model's memory with 5,000
# nodes (target <= 200 MiB), and binds per second against the test API
# server (target >= 500/s). See bench/sched/bench_sched.c and the Scheduler
# extender section of docs/benchmarks.md.
set -euo pipefail
BUILD=${1:?usage: sched.sh BUILD_DIR}
BIN="$BUILD/bench/sched/bench_sched"
if [ ! -x "$BIN" ]; then
	echo "sched: $BIN is missing; build first (make build)" >&2
	exit 1
fi
VXPU_LOG=error "$BIN"

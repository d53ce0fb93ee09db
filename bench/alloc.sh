#!/usr/bin/env bash
# alloc.sh BUILD_DIR - allocator timings: the topology policy choosing 8 of
# 16 devices, and one placement decision over 1,213 nodes (binpack,
# topology and fragmentation-aware). Prints medians and the targets
# (both < 1 ms); docs/benchmarks.md ("## Allocator") records a run.
set -euo pipefail
BUILD=${1:?usage: alloc.sh BUILD_DIR}
BIN="$BUILD/bench/alloc/bench_alloc"
if [ ! -x "$BIN" ]; then
	echo "alloc: $BIN is missing; build first (make build)" >&2
	exit 1
fi
"$BIN"

#!/usr/bin/env bash
# limiter.sh BUILD_DIR - what libvxpu.so adds to a driver call, counted in
# instructions by callgrind in the same run, on the simulated driver:
#   cuLaunchKernel in a container without limits     (target <= 100 per call)
#   cuMemAlloc_v2 + cuMemFree_v2 under a memory limit (target <= 1,500 per pair)
# Only the measured loop is counted (--toggle-collect), after warm-up, so the
# figure is the steady-state cost. docs/benchmarks.md ("## Limiter") records
# a run.
set -euo pipefail
BUILD=${1:?usage: limiter.sh BUILD_DIR}
BIN="$BUILD/bench/limiter/bench_limiter"
LIB="$BUILD/libvxpu.so"
for f in "$BIN" "$LIB"; do
	if [ ! -e "$f" ]; then
		echo "limiter: $f is missing; build first (make build)" >&2
		exit 1
	fi
done
if ! command -v valgrind >/dev/null; then
	echo "limiter: valgrind is missing (scripts/deps.sh installs it)" >&2
	exit 1
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export VXPU_SIM_STATE="$WORK/sim.state"
unset VXPU_MEMORY_LIMIT CUDA_DEVICE_MEMORY_LIMIT VXPU_REGION CUDA_DEVICE_MEMORY_SHARED_CACHE
N=20000

# instructions FUNCTION OUTFILE ENV... : Ir counted inside FUNCTION of
# bench_limiter MODE N, run with the environment ENV (given to valgrind,
# which hands it, LD_PRELOAD included, to the program it runs).
instructions() {
	local fn=$1 out=$2 mode=$3
	shift 3
	env "$@" valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
		--toggle-collect="$fn" "$BIN" "$mode" "$N" >/dev/null 2>"$out.log"
	awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

# per_call NAME FUNCTION MODE ENV... : prints one row.
per_call() {
	local name=$1 fn=$2 mode=$3
	shift 3
	local base with
	base=$(instructions "$fn" "$WORK/base.$mode" "$mode")
	with=$(instructions "$fn" "$WORK/with.$mode" "$mode" LD_PRELOAD="$LIB" \
		VXPU_REGION="$WORK/region.$mode" "$@")
	awk -v name="$name" -v b="$base" -v w="$with" -v n="$N" 'BEGIN {
		printf "%-46s %12.1f %12.1f %10.1f\n", name, b / n, w / n, (w - b) / n }'
}

printf "%-46s %12s %12s %10s\n" "per call (instructions, callgrind)" "driver" "with vxpu" "extra"
per_call "cuLaunchKernel, no limit" bench_launches launch
per_call "cuMemAlloc_v2 + cuMemFree_v2, 4 GiB limit" bench_allocs alloc VXPU_MEMORY_LIMIT=4GiB
per_call "cuMemAlloc_v2 + cuMemFree_v2, no limit" bench_allocs alloc
echo "targets: launch extra <= 100, alloc+free extra <= 1500"

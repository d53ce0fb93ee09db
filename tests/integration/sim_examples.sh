#!/usr/bin/env bash
# The sample workloads (examples/) run on the simulator the way they would on
# a real driver: found through LD_LIBRARY_PATH, alloc_loop fills a card to
# CUDA_ERROR_OUT_OF_MEMORY, busy_loop (cuGetProcAddress, both stream modes)
# keeps a device busy.
# timeout: 60
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d /tmp/vxpu-sim-examples.XXXXXX)
export VXPU_SIM_STATE=/dev/shm/vxpu-it-sim-examples-$$
trap 'rm -rf "$WORK"; rm -f "$VXPU_SIM_STATE"' EXIT
unset CUDA_VISIBLE_DEVICES
export LD_LIBRARY_PATH="$BUILD/sim"
echo '{"devices": [{"memory": "1GiB"}]}' >"$WORK/machine.json"
export VXPU_SIM_CONFIG="$WORK/machine.json"

expect_exit 0 "$BUILD/examples/alloc_loop" 768MiB --chunk 256
expect_output 'allocated 805306368 bytes in 3 chunks; device reports free=268435456 total=1073741824'
expect_exit 3 "$BUILD/examples/alloc_loop" 2g --chunk 512MiB
expect_output 'allocation of 536870912 bytes failed: CUDA_ERROR_OUT_OF_MEMORY'
expect_output 'allocated 1073741824 bytes in 2 chunks'
expect_exit 2 "$BUILD/examples/alloc_loop" 12XB
expect_output 'invalid size "12XB"'

for mode in "" --per-thread; do
	expect_exit 0 "$BUILD/examples/busy_loop" --kernel-us 2000 --seconds 1 $mode
	share=$(sed -n 's/.*device_share_percent=\([0-9]*\).*/\1/p' <<<"$OUT")
	[ "${share:-0}" -ge 90 ] && PASSES=$((PASSES + 1)) || { echo "FAIL: share $share: $OUT"; FAILS=$((FAILS + 1)); }
done
expect_exit 2 "$BUILD/examples/busy_loop" --kernel-us 0
finish

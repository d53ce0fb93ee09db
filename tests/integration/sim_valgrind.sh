#!/usr/bin/env bash
# Simulated driver under valgrind (memcheck, full leak check): the driver-API
# unit test program (every API family, fork included) and the NVML/CUDA probe
# commands run clean. The sanitizer builds (make asan) cover the same code
# with ASan and UBSan.
# timeout: 240
source "$(dirname "$0")/lib.sh"
PROBE="$BUILD/sim-tests/sim_probe"
API="$BUILD/tests/unit/sim/test_cuda_api"
export VXPU_SIM_STATE=/dev/shm/vxpu-it-sim-valgrind-$$
trap 'rm -f "$VXPU_SIM_STATE" /dev/shm/vxpu-cuda-api-test-*' EXIT
unset VXPU_SIM_CONFIG CUDA_VISIBLE_DEVICES
if ! command -v valgrind >/dev/null; then
	echo "valgrind is not installed (scripts/deps.sh installs it)"
	exit 1
fi
if readelf -d "$API" | grep -q 'libasan'; then
	echo "skipped: a sanitizer build (valgrind cannot run ASan binaries; the unit tests ran under ASan)"
	finish
	exit 0
fi
VG=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect -q)

expect_exit 0 "${VG[@]}" "$API"
expect_exit 0 "${VG[@]}" "$PROBE" enum
expect_exit 0 "${VG[@]}" "$PROBE" busy 0 2000 0.3
expect_exit 0 "${VG[@]}" "$PROBE" util 0
expect_exit 0 "${VG[@]}" "$PROBE" alloc 1 1048576 0
expect_exit 0 "${VG[@]}" "$PROBE" procs 1
expect_exit 0 "${VG[@]}" "$PROBE" mem 1
expect_exit 0 "${VG[@]}" "$VXPU" sim status --json
"${VG[@]}" "$PROBE" waitxid 0 20000 >/tmp/vxpu-it-vg-wait-$$ 2>&1 &
W=$!
for _ in $(seq 300); do grep -q ready /tmp/vxpu-it-vg-wait-$$ && break; sleep 0.05; done
expect_exit 0 "$VXPU" sim xid 0 31
wait "$W" && rc=0 || rc=$?
[ "$rc" = 0 ] && PASSES=$((PASSES + 1)) || { echo "FAIL: waiter under valgrind: rc=$rc $(cat /tmp/vxpu-it-vg-wait-$$)"; FAILS=$((FAILS + 1)); }
rm -f /tmp/vxpu-it-vg-wait-$$
finish

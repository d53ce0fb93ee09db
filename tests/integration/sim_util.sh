#!/usr/bin/env bash
# Simulated driver: kernels of all processes time-share a device. Two
# processes launching `busy` kernels back to back each get about half of the
# device in nvmlDeviceGetProcessUtilization and the device reads about 100 %;
# one process at a 25 % duty cycle reads 25 +- 3 %. The shares come from the
# device timeline, measured over one-second windows, so a loaded host does
# not move them (each loop keeps work queued ahead of the device).
# timeout: 90
source "$(dirname "$0")/lib.sh"
PROBE="$BUILD/sim-tests/sim_probe"
export VXPU_SIM_STATE=/dev/shm/vxpu-it-sim-util-$$
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -f "$VXPU_SIM_STATE"
}
trap cleanup EXIT
unset VXPU_SIM_CONFIG CUDA_VISIBLE_DEVICES

# in_range VALUE LO HI WHAT
in_range() {
	if [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; then
		PASSES=$((PASSES + 1))
	else
		echo "FAIL: $4 = $1, want $2..$3"
		FAILS=$((FAILS + 1))
	fi
}

# Two back-to-back loops of 10 ms kernels on device 0.
"$PROBE" busy 0 10000 4 >/dev/null &
P1=$!
"$PROBE" busy 0 10000 4 >/dev/null &
P2=$!
PIDS+=("$P1" "$P2")
sleep 2
expect_exit 0 "$PROBE" util 0
echo "$OUT"
gpu=$(sed -n 's/^gpu=//p' <<<"$OUT")
s1=$(sed -n "s/^pid=$P1 sm=//p" <<<"$OUT")
s2=$(sed -n "s/^pid=$P2 sm=//p" <<<"$OUT")
in_range "${gpu:-0}" 95 100 "device utilisation"
in_range "${s1:-0}" 40 60 "share of process 1"
in_range "${s2:-0}" 40 60 "share of process 2"
in_range $(( ${s1:-0} + ${s2:-0} )) 95 101 "sum of the shares"
wait "$P1" "$P2"

# One process: a 10 ms kernel at the start of every 40 ms period.
"$PROBE" duty 0 10000 40000 3.5 >/dev/null &
P3=$!
PIDS+=("$P3")
sleep 2
expect_exit 0 "$PROBE" util 0
echo "$OUT"
gpu=$(sed -n 's/^gpu=//p' <<<"$OUT")
s3=$(sed -n "s/^pid=$P3 sm=//p" <<<"$OUT")
in_range "${s3:-0}" 22 28 "duty-cycle process share"
in_range "${gpu:-0}" 22 28 "duty-cycle device utilisation"
wait "$P3"

# Another device was idle all along.
expect_exit 0 "$PROBE" util 1
expect_output 'gpu=0'
expect_output 'samples=0'
finish

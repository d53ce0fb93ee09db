#!/usr/bin/env bash
# Simulated driver: physical memory is enforced across processes, a third
# process sees both holders through NVML, and a process killed by SIGKILL
# while holding 1 GiB gives it back within a second.
# timeout: 60
source "$(dirname "$0")/lib.sh"
PROBE="$BUILD/sim-tests/sim_probe"
WORK=$(mktemp -d /tmp/vxpu-sim-mem.XXXXXX)
export VXPU_SIM_STATE=/dev/shm/vxpu-it-sim-memory-$$
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
	rm -f "$VXPU_SIM_STATE"
}
trap cleanup EXIT
unset CUDA_VISIBLE_DEVICES
echo '{"devices": [{"name": "SIM 2GB", "memory": "2GiB"}]}' >"$WORK/machine.json"
export VXPU_SIM_CONFIG="$WORK/machine.json"
GIB=1073741824

# start_holder NAME BYTES : a process that allocates and holds; waits until it has.
start_holder() {
	"$PROBE" alloc 0 "$2" 60000 >"$WORK/$1.out" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do
		grep -q 'alloc ' "$WORK/$1.out" && return 0
		sleep 0.05
	done
	echo "FAIL: holder $1 did not start: $(cat "$WORK/$1.out")"
	FAILS=$((FAILS + 1))
	return 1
}

start_holder a $((GIB + GIB / 2))
A=${PIDS[0]}
grep -q 'alloc ok' "$WORK/a.out" && PASSES=$((PASSES + 1)) || { echo "FAIL: a"; FAILS=$((FAILS + 1)); }
# The second process does not fit 1 GiB next to 1.5 GiB on a 2 GiB card...
expect_exit 3 "$PROBE" alloc 0 $GIB 0
expect_output 'alloc oom'
# ...but 512 MiB (exactly the rest) fits.
start_holder b $((GIB / 2))
B=${PIDS[1]}
grep -q 'alloc ok' "$WORK/b.out" && PASSES=$((PASSES + 1)) || { echo "FAIL: b"; FAILS=$((FAILS + 1)); }
expect_exit 3 "$PROBE" alloc 0 4096 0

# A third process sees both, with their memory.
expect_exit 0 "$PROBE" procs 0
expect_output "proc pid=$A used=$((GIB + GIB / 2))"
expect_output "proc pid=$B used=$((GIB / 2))"
expect_output 'count=2'
expect_exit 0 "$PROBE" mem 0
expect_output "mem total=$((2 * GIB)) used=$((2 * GIB)) free=0"

# SIGKILL the 1.5 GiB holder: free again within a second, as NVML sees it.
kill -9 "$A"
start=$(date +%s%N)
freed=0
while [ $(( ($(date +%s%N) - start) / 1000000 )) -lt 1000 ]; do
	if "$PROBE" mem 0 | grep -q "used=$((GIB / 2)) "; then
		freed=1
		break
	fi
done
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "killed holder's memory free after ${ms} ms"
[ "$freed" = 1 ] && PASSES=$((PASSES + 1)) || { echo "FAIL: not freed within 1 s"; FAILS=$((FAILS + 1)); }
expect_exit 0 "$PROBE" procs 0
expect_output 'count=1'

# The acceptance case proper: a 1 GiB holder, killed; the room is back for a new process.
kill -9 "$B"
start_holder c $GIB
C=${PIDS[2]}
kill -9 "$C"
start=$(date +%s%N)
expect_exit 0 "$PROBE" alloc 0 $((2 * GIB)) 0   # needs every byte back
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "full card allocatable ${ms} ms after the kill"
[ "$ms" -lt 1000 ] && PASSES=$((PASSES + 1)) || { echo "FAIL: took ${ms} ms"; FAILS=$((FAILS + 1)); }
# The simulator's own accounting agrees, and remembers the peak.
expect_exit 0 "$PROBE" peak 0
expect_output "used=0 peak=$((2 * GIB))"
finish

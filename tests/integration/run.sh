#!/usr/bin/env bash
# vxpu run / vxpu ps on the simulated driver: isolation through libvxpu,
# concurrency without over-allocation, exact reclaim after SIGKILL, the
# FIFO wait queue, exit statuses and usage errors.
# timeout: 240
source "$(dirname "$0")/lib.sh"
TMP=$(mktemp -d)
export VXPU_HOME="$TMP/home" VXPU_BACKEND=sim VXPU_SIM_STATE="$TMP/sim.state"
unset VXPU_SIM_CONFIG VXPU_MEMORY_LIMIT CUDA_DEVICE_MEMORY_LIMIT
# In the sanitizer build the sample workloads carry ASan while libvxpu.so
# does not: ASan's runtime must then be loaded first, so preload it before
# the libvxpu.so that vxpu run appends.
ASAN_RT=$(ldd "$BUILD/examples/alloc_loop" 2>/dev/null | awk '/libasan/ {print $3}')
if [ -n "$ASAN_RT" ]; then
	export LD_PRELOAD="$ASAN_RT"
	# Uninstrumented programs (sh, sleep, env) then run on ASan's allocator
	# too; their exit-time leak reports are not about vxpu.
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
ALLOC="$BUILD/examples/alloc_loop"
PY="env -u LD_PRELOAD /usr/bin/python3"
DB="$VXPU_HOME/vxpu.db"

# --- usage errors name the flag --------------------------------------------
expect_exit 2 "$VXPU" run --gpus 0 -- true || true
expect_output 'invalid --gpus "0"' || true
expect_exit 2 "$VXPU" run --gpu-mem 12abc -- true || true
expect_output 'invalid --gpu-mem: invalid size "12abc"' || true
expect_exit 2 "$VXPU" run --gpu-cores 101 -- true || true
expect_output 'invalid --gpu-cores' || true
expect_exit 2 "$VXPU" run --priority urgent -- true || true
expect_output 'invalid --priority "urgent"' || true
expect_exit 2 "$VXPU" run --wait=soon -- true || true
expect_output 'invalid --wait "soon"' || true
expect_exit 2 "$VXPU" run --tenant 'bad name' -- true || true
expect_output 'invalid --tenant "bad name"' || true
expect_exit 2 "$VXPU" run --frobnicate -- true || true
expect_output '"--frobnicate"' || true
expect_exit 2 "$VXPU" run --gpu-mem 1GiB -- || true
expect_output 'missing the command' || true
expect_exit 2 "$VXPU" run || true
expect_output 'missing the command' || true

# --- exit statuses pass through ----------------------------------------------
expect_exit 0 "$VXPU" run -- true || true
expect_exit 7 "$VXPU" run -- sh -c 'exit 7' || true
expect_exit 127 "$VXPU" run -- /nonexistent/program || true
expect_exit 130 "$VXPU" run -- sh -c 'kill -INT $$' || true

# --- the environment the workload sees ----------------------------------------
expect_exit 0 "$VXPU" run --gpu-mem 3GiB --gpu-cores 40 --priority high -- env || true
expect_output "VXPU_MEMORY_LIMIT_0=3072MiB" || true
expect_output "VXPU_CORE_LIMIT_0=40" || true
expect_output "VXPU_PRIORITY=high" || true
expect_output "CUDA_VISIBLE_DEVICES=0" || true
expect_output "libvxpu.so" || true
expect_output "VXPU_REGION=$VXPU_HOME/regions/" || true

# --- a request that cannot fit lists the per-device reasons -----------------
expect_exit 1 "$VXPU" run --gpu-mem 17GiB -- true || true
expect_output "2/2 insufficient memory" || true
expect_exit 1 "$VXPU" run --gpus 3 -- true || true
expect_exit 1 "$VXPU" run --gpu-type A100 -- true || true
expect_output "2/2 type mismatch" || true

# --- isolation: the workload cannot exceed --gpu-mem -------------------------
if [ -x "$ALLOC" ]; then
	expect_exit 0 "$VXPU" run --gpu-mem 1GiB -- "$ALLOC" 900MiB --chunk 300MiB || true
	expect_output "total=1073741824" || true
	expect_exit 3 "$VXPU" run --gpu-mem 1GiB -- "$ALLOC" 1200MiB --chunk 300MiB || true
	expect_output "CUDA_ERROR_OUT_OF_MEMORY" || true
	expect_output "allocated 943718400 bytes" || true
	# The region vxpu run creates is managed: the workload's own environment
	# cannot widen its limit.
	expect_exit 3 "$VXPU" run --gpu-mem 1GiB -- env VXPU_MEMORY_LIMIT_0=8GiB VXPU_MEMORY_LIMIT=8GiB \
		"$ALLOC" 1200MiB --chunk 300MiB || true
	expect_output "total=1073741824" || true
else
	echo "FAIL: $ALLOC was not built"
	FAILS=$((FAILS + 1))
fi

# --- ps shows a running allocation with its live usage -----------------------
if [ -x "$ALLOC" ]; then
	"$VXPU" run --gpu-mem 2GiB --tenant research --project llm --user alice -- "$ALLOC" 512MiB --hold 30 >/dev/null 2>&1 &
	RUNPID=$!
	PIDS+=("$RUNPID")
	for _ in $(seq 100); do
		OUT=$("$VXPU" ps --json 2>&1) || true
		[[ "$OUT" == *'"used_memory_mib":	512'* ]] && break
		sleep 0.1
	done
	expect_output '"tenant":	"research"' || true
	expect_output '"user":	"alice"' || true
	expect_output '"memory_mib":	2048' || true
	expect_output '"used_memory_mib":	512' || true
	expect_exit 0 "$VXPU" ps || true
	expect_output "research" || true
	# vxpu devices adds what vxpu run allocated on each device.
	expect_exit 0 "$VXPU" devices --json || true
	expect_output '"allocated_memory_mib":	2048' || true
	expect_output '"allocations":	1' || true
	# SIGKILL the supervisor: the workload is told to stop, and the next
	# command reclaims the allocation by lock liveness, not by a timeout.
	kill -9 "$RUNPID"
	wait "$RUNPID" 2>/dev/null || true
	for _ in $(seq 50); do
		OUT=$("$VXPU" ps 2>&1) || true
		[[ "$OUT" == *"no running allocations"* ]] && break
		sleep 0.1
	done
	expect_output "no running allocations" || true
	ended=$($PY -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute(\"select count(*) from ledger_interval where user_name='alice' and end_ms is not null\").fetchone()[0])" "$DB" 2>&1)
	[ "$ended" = 1 ] && PASSES=$((PASSES + 1)) || { echo "FAIL: reclaimed interval not ended: $ended"; FAILS=$((FAILS + 1)); }
fi

# --- 50 concurrent runs never over-allocate ----------------------------------
# Each run asks for 6 GiB of a 16 GiB device: at most 2 per device (4 in all)
# can hold at once. Every run that got its allocation records it in the
# ledger; no instant may see more than 16 GiB allocated on a device.
for i in $(seq 50); do
	"$VXPU" run --gpu-mem 6GiB --tenant load -- sleep 0.3 >/dev/null 2>&1 &
	PIDS+=($!)
done
ok=0
for p in "${PIDS[@]: -50}"; do
	if wait "$p" 2>/dev/null; then ok=$((ok + 1)); fi
done
maxuse=$($PY - "$DB" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
rows = c.execute("select device_index, start_ms, end_ms, memory_mib from ledger_interval where tenant='load'").fetchall()
worst = 0
for dev in {r[0] for r in rows}:
    ev = []
    for d, s, e, m in rows:
        if d == dev:
            ev += [(s, m), (e, -m)]
    ev.sort(key=lambda x: (x[0], x[1]))  # ends before starts at the same ms
    cur = 0
    for _, m in ev:
        cur += m
        worst = max(worst, cur)
print(worst, len(rows))
PY
)
echo "concurrent: $ok of 50 ran; worst per-device allocation and intervals: $maxuse"
[ "$ok" -ge 4 ] && PASSES=$((PASSES + 1)) || { echo "FAIL: only $ok runs succeeded"; FAILS=$((FAILS + 1)); }
worst=${maxuse%% *}
[ "$worst" -le 16384 ] && PASSES=$((PASSES + 1)) || { echo "FAIL: over-allocated: $worst MiB"; FAILS=$((FAILS + 1)); }
expect_exit 0 "$VXPU" ps || true
expect_output "no running allocations" || true

# --- --wait queues until room is free; a timeout gives up --------------------
"$VXPU" run --gpus 2 --gpu-mem 16GiB -- sleep 2 >/dev/null 2>&1 &
HOLD=$!
PIDS+=("$HOLD")
for _ in $(seq 50); do
	OUT=$("$VXPU" ps 2>&1) || true
	[[ "$OUT" == *"sleep 2"* ]] && break
	sleep 0.1
done
expect_exit 1 "$VXPU" run --wait=1s -- true || true
expect_output "gave up waiting" || true
start=$(date +%s%N)
expect_exit 0 "$VXPU" run --wait=30s -- true || true
waited=$((($(date +%s%N) - start) / 1000000))
echo "waited ${waited} ms for room"
[ "$waited" -ge 300 ] && PASSES=$((PASSES + 1)) || { echo "FAIL: did not wait ($waited ms)"; FAILS=$((FAILS + 1)); }
wait "$HOLD" || true

# --- the ledger recorded it all ----------------------------------------------
expect_exit 0 "$VXPU" report --by tenant --format csv || true
expect_output "research" || true
expect_output "load" || true
finish

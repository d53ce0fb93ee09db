#!/usr/bin/env bash
# timeout: 90
# `vxpu node monitor` end to end on the simulated driver: usage and start
# errors; a workload that allocates past its limit WITHOUT libvxpu (attached
# to its container's region by monitor_workload, as the agent's host-PID
# pass would) is flagged within 3 s of holding the memory and keeps running
# when the watchdog only reports; /metrics names it (promtool, when
# installed, accepts the exposition) and /healthz answers; with --enforce
# the same workload is killed (SIGKILL) while a neighbour within its limit
# is left alone; a busy workload far above its compute limit is flagged
# for compute (window shortened to 1 s); SIGTERM stops the monitor with
# exit 0.
source "$(dirname "$0")/lib.sh"

ALLOC_LOOP="$BUILD/examples/alloc_loop"
WORKLOAD="$BUILD/tests/unit/monitor/monitor_workload"
BUSY_LOOP="$BUILD/examples/busy_loop"
SCRATCH=$(mktemp -d /tmp/vxpu-monitor-test.XXXXXX)
REGIONS="$SCRATCH/containers"
mkdir -p "$REGIONS"
export VXPU_SIM_STATE="$SCRATCH/sim.state"
export VXPU_SIM_LIB_DIR="$BUILD/sim"
unset VXPU_SIM_CONFIG LD_PRELOAD VXPU_LOG
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$SCRATCH"
}
trap cleanup EXIT


if ! "$VXPU" node monitor --help >/dev/null 2>&1; then
	echo "skip: this vxpu has no 'node monitor'"
	exit 77
fi

now_ms() { date +%s%3N; }

# wait_for FILE PATTERN SECONDS : 0 once FILE holds a line matching PATTERN.
wait_for() {
	local deadline=$(($(now_ms) + $3 * 1000))
	while [ "$(now_ms)" -lt "$deadline" ]; do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	return 1
}

# start_monitor NAME FLAGS... : runs the monitor in the background; sets
# MON_PID and ADDR (from its start line).
start_monitor() {
	local name=$1
	shift
	"$VXPU" node monitor --regions "$REGIONS" --backend sim --listen 127.0.0.1:0 \
		--node node-t "$@" >"$SCRATCH/$name.out" 2>"$SCRATCH/$name.err" &
	MON_PID=$!
	PIDS+=("$MON_PID")
	if ! wait_for "$SCRATCH/$name.out" 'msg="node monitor"' 10; then
		failed "$name: no start line"
		cat "$SCRATCH/$name.out" "$SCRATCH/$name.err"
		ADDR=
		return 1
	fi
	ADDR=$(sed -n 's/.* listen=\([^ ]*\).*/\1/p' "$SCRATCH/$name.out" | head -1)
}

stop_monitor() {
	kill -TERM "$MON_PID"
	local rc=0
	wait "$MON_PID" || rc=$?
	[ "$rc" = 0 ] && pass || failed "monitor exited $rc after SIGTERM"
}

# start_workload CONTAINER LIMIT SIZE : a container folder and its workload
# (alloc_loop SIZE, no libvxpu); sets WL_PID (monitor_workload's pid).
start_workload() {
	mkdir -p "$REGIONS/$1"
	LD_LIBRARY_PATH="$BUILD/sim" "$WORKLOAD" "$REGIONS/$1/region" --limit "$2" -- \
		"$ALLOC_LOOP" "$3" --hold 30 \
		>"$SCRATCH/$1.out" 2>&1 &
	WL_PID=$!
	PIDS+=("$WL_PID")
}

# --- usage errors exit 2 naming the flag; start errors exit 1 -------------
expect_exit 2 "$VXPU" node monitor || true
expect_output 'monitor needs --regions DIR' || true
expect_exit 2 "$VXPU" node monitor --regions "$REGIONS" --memory-margin 0 || true
expect_output '--memory-margin' || true
expect_exit 2 "$VXPU" node monitor --regions "$REGIONS" --interval 5ms || true
expect_output '--interval: invalid duration "5ms": must be 10ms to 1m' || true
expect_exit 2 "$VXPU" node monitor --regions "$REGIONS" --memory-window || true
expect_output 'flag --memory-window needs a value' || true
expect_exit 2 "$VXPU" node monitor --regions "$REGIONS" --listen nowhere || true
expect_output '--listen: invalid listen address "nowhere"' || true
expect_exit 2 "$VXPU" node monitor --regions "$REGIONS" --bogus || true
expect_output 'unknown flag "--bogus"' || true
expect_exit 1 "$VXPU" node monitor --regions "$SCRATCH/missing" --backend sim --listen none || true
expect_output 'cannot list regions directory' || true

# --- report only: flagged within 3 s, not killed --------------------------
# The measurement is retried once on a loaded machine (a second container).
flag_latency() { # POD -> ms from "allocated" to "watchdog flagged" in $ms, -1 if never
	start_workload "team-a_$1_main" 64MiB 128MiB
	ms=-1
	wait_for "$SCRATCH/team-a_$1_main.out" '^allocated' 10 || return 0
	local t0
	t0=$(now_ms)
	if wait_for "$SCRATCH/report.err" "watchdog flagged.*pod=$1 " 10; then
		ms=$(($(now_ms) - t0))
	fi
}

start_monitor report
flag_latency bypass-0
FIRST_WL=$WL_PID
if [ "$ms" -lt 0 ] || [ "$ms" -ge 3000 ]; then
	echo "note: first flag latency ${ms} ms; measuring again"
	flag_latency bypass-1
fi
echo "flagged after ${ms} ms (bound 3000)"
if [ "$ms" -ge 0 ] && [ "$ms" -lt 3000 ]; then pass; else
	failed "not flagged within 3 s (${ms} ms)"
	cat "$SCRATCH/report.err"
fi
grep -q 'msg="watchdog flagged" kind=memory namespace=team-a pod=bypass-0 container=main gpu=0' \
	"$SCRATCH/report.err" && pass || failed "flag line: $(cat "$SCRATCH/report.err")"
sleep 0.5
kill -0 "$FIRST_WL" 2>/dev/null && pass || failed "report-only mode killed the workload"

BODY=$(curl -sS --max-time 10 "http://$ADDR/metrics") && pass || failed "GET /metrics"
series='container="main",gpu="0",kind="memory",namespace="team-a",pod="bypass-0"}'
grep -q "^vxpu_watchdog_violations_total{Hostname=\"node-t\",UUID=\"GPU-[^\"]*\",$series 1$" \
	<<<"$BODY" && pass || failed "violations_total: $(grep watchdog <<<"$BODY")"
grep -q "^vxpu_watchdog_flagged{Hostname=\"node-t\",UUID=\"GPU-[^\"]*\",$series 1$" <<<"$BODY" &&
	pass || failed "flagged gauge"
grep -q '^vxpu_container_memory_limit_bytes{.*pod="bypass-0"} 67108864$' <<<"$BODY" && pass ||
	failed "limit: $(grep memory_limit <<<"$BODY")"
grep -q '^vxpu_container_memory_used_bytes{.*pod="bypass-0"} 134217728$' <<<"$BODY" && pass ||
	failed "used: $(grep memory_used <<<"$BODY")"
grep -q '^DCGM_FI_DEV_FB_TOTAL{Hostname="node-t",UUID="GPU-[^"]*",device="nvidia0",gpu="0",model_name="VXPU-SIM 16GB"} 16384$' \
	<<<"$BODY" && pass || failed "FB_TOTAL: $(grep FB_TOTAL <<<"$BODY")"
if command -v promtool >/dev/null 2>&1; then
	if out=$(printf '%s\n' "$BODY" | promtool check metrics 2>&1); then pass; else
		failed "promtool check metrics: $out"
	fi
else
	echo "note: promtool not installed, exposition not linted"
fi
[ "$(curl -sS --max-time 10 "http://$ADDR/healthz")" = ok ] && pass || failed "/healthz"
stop_monitor
for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
PIDS=()
rm -rf "${REGIONS:?}"/*

# --- enforce: the bypassing workload is killed, the neighbour is not -----
start_monitor enforce --enforce
start_workload team-b_fits-0_main 64MiB 32MiB
FITS=$WL_PID
start_workload team-b_bypass-2_main 64MiB 128MiB
BYPASS=$WL_PID
wait_for "$SCRATCH/team-b_bypass-2_main.out" '^allocated' 10 || failed "workload did not allocate"
t0=$(now_ms)
rc=0
timeout 10 tail --pid="$BYPASS" -s 0.02 -f /dev/null || true
{ wait "$BYPASS"; } 2>/dev/null || rc=$?
ms=$(($(now_ms) - t0))
echo "killed after ${ms} ms"
[ "$rc" = 137 ] && pass || failed "bypassing workload exited $rc, want 137 (SIGKILL)"
[ "$ms" -lt 5000 ] && pass || failed "killed only after ${ms} ms"
wait_for "$SCRATCH/enforce.err" 'msg="watchdog killed" kind=memory namespace=team-b pod=bypass-2 .* killed=1' 5 &&
	pass || failed "kill line: $(cat "$SCRATCH/enforce.err")"
kill -0 "$FITS" 2>/dev/null && pass || failed "the workload within its limit was killed"
grep -q 'pod=fits-0' "$SCRATCH/enforce.err" && failed "the neighbour was flagged" || pass
BODY=$(curl -sS --max-time 10 "http://$ADDR/metrics")
grep -q '^vxpu_watchdog_kills_total{.*pod="bypass-2"} 1$' <<<"$BODY" && pass ||
	failed "kills_total: $(grep kills <<<"$BODY")"
stop_monitor
for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
PIDS=()
rm -rf "${REGIONS:?}"/*

# --- compute: back-to-back kernels under a 10 % limit, without libvxpu ----
start_monitor compute --interval 100ms --compute-window 1s
mkdir -p "$REGIONS/team-c_busy-0_main"
LD_LIBRARY_PATH="$BUILD/sim" "$WORKLOAD" "$REGIONS/team-c_busy-0_main/region" --limit 1GiB \
	--core 10 -- "$BUSY_LOOP" --kernel-us 2000 --seconds 20 >"$SCRATCH/busy.out" 2>&1 &
PIDS+=("$!")
wait_for "$SCRATCH/compute.err" 'msg="watchdog flagged" kind=compute namespace=team-c pod=busy-0 ' 10 &&
	pass || failed "compute not flagged: $(cat "$SCRATCH/compute.err")"
BODY=$(curl -sS --max-time 10 "http://$ADDR/metrics")
util=$(sed -n 's/^vxpu_container_utilization_percent{.*pod="busy-0"} \([0-9.]*\)$/\1/p' <<<"$BODY")
echo "busy workload utilisation ${util:-none} % (limit 10)"
[ -n "$util" ] && awk -v u="$util" 'BEGIN { exit !(u > 30) }' && pass ||
	failed "utilisation: $(grep utilization <<<"$BODY")"
grep -q '^vxpu_container_compute_limit_percent{.*pod="busy-0"} 10$' <<<"$BODY" && pass ||
	failed "compute limit: $(grep compute_limit <<<"$BODY")"
stop_monitor

finish

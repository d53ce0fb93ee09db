#!/usr/bin/env bash
# Node agent health: `vxpu node health` on the simulated driver. XID 79
# fails the device within 1 s, application XIDs and corrected ECC errors do
# not, a lost device stays failed until `vxpu sim clear` and then recovers;
# bad flags are usage errors naming the flag and value.
# timeout: 60
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d /tmp/vxpu-agent-health.XXXXXX)
export VXPU_SIM_STATE=/dev/shm/vxpu-it-agent-health-$$
WATCHER=
trap '[ -n "$WATCHER" ] && kill "$WATCHER" 2>/dev/null; rm -rf "$WORK"; rm -f "$VXPU_SIM_STATE"' EXIT
unset VXPU_SIM_CONFIG CUDA_VISIBLE_DEVICES VXPU_BACKEND

LOG="$WORK/health.log"
"$VXPU" node health --backend sim --recover-after 500ms --probe-interval 50ms >"$LOG" 2>&1 &
WATCHER=$!

# wait_lines N LIMIT_MS : until the log has N lines; prints the wait in ms.
wait_lines() {
	local start now
	start=$(date +%s%N)
	while :; do
		[ "$(wc -l <"$LOG")" -ge "$1" ] && break
		now=$(date +%s%N)
		[ $(((now - start) / 1000000)) -ge "$2" ] && break
		sleep 0.01
	done
	now=$(date +%s%N)
	echo $(((now - start) / 1000000))
}

check() { # check DESCRIPTION CONDITION...
	local what=$1
	shift
	if "$@"; then PASSES=$((PASSES + 1)); else
		echo "FAIL: $what"
		cat "$LOG"
		FAILS=$((FAILS + 1))
	fi
}

wait_lines 2 5000 >/dev/null
check "two devices reported healthy at start" [ "$(grep -c 'healthy=true' "$LOG")" = 2 ]
sleep 0.2

# Application XIDs and a corrected ECC error change nothing.
for x in 13 31 43 45 68 109; do "$VXPU" sim xid 1 "$x" >/dev/null; done
"$VXPU" sim ecc 1 single >/dev/null
sleep 0.5
check "application XIDs leave devices healthy" [ "$(wc -l <"$LOG")" = 2 ]

# XID 79: failed within 1 s (best of the measured wait, on a loaded host too).
"$VXPU" sim xid 1 79 >/dev/null
ms=$(wait_lines 3 5000)
echo "XID 79 -> unhealthy line after ${ms} ms"
check "XID 79 reported within 1 s" [ "$ms" -lt 1000 ]
check "XID 79 names dev 1" grep -q 'dev=1 .*healthy=false reason="critical XID 79"' "$LOG"
# An XID leaves no trace to probe: recovered after 500 ms quiet.
wait_lines 4 5000 >/dev/null
check "dev 1 recovers" bash -c "sed -n 4p '$LOG' | grep -q 'dev=1 .*healthy=true'"

# Lost: failed until cleared, then back.
"$VXPU" sim lost 0 >/dev/null
ms=$(wait_lines 5 5000)
echo "lost -> unhealthy line after ${ms} ms"
check "lost reported within 1 s" [ "$ms" -lt 1000 ]
sleep 1
check "a lost device stays failed" [ "$(wc -l <"$LOG")" = 5 ]
"$VXPU" sim clear 0 >/dev/null
wait_lines 6 5000 >/dev/null
check "cleared device recovers" bash -c "sed -n 6p '$LOG' | grep -q 'dev=0 .*healthy=true'"

# Double-bit ECC fails it again; the uncorrected count holds it until clear.
"$VXPU" sim ecc 0 double >/dev/null
wait_lines 7 5000 >/dev/null
check "double-bit ECC fails dev 0" bash -c "sed -n 7p '$LOG' | grep -q 'dev=0 .*healthy=false'"
kill -TERM "$WATCHER"
wait "$WATCHER" && rc=0 || rc=$?
WATCHER=
check "SIGTERM stops the watcher cleanly (rc $rc)" [ "$rc" = 0 ]

# --duration ends it on its own; bad flags are usage errors.
expect_exit 0 "$VXPU" node health --backend sim --duration 200ms
expect_output 'healthy='
expect_exit 2 "$VXPU" node health --backend sim --recovery sometimes
expect_output 'invalid recovery policy "sometimes"'
expect_exit 2 "$VXPU" node health --backend sim --recover-after 10
expect_output '--recover-after: invalid duration "10"'
expect_exit 2 "$VXPU" node health --backend sim --app-xids 13,x
expect_output 'invalid application XID list "13,x"'
expect_exit 2 "$VXPU" node health --backend sim --probe-interval 1ms
expect_output 'must be 10ms to 1m'
expect_exit 2 "$VXPU" node health --bogus
expect_output 'unknown flag "--bogus"'
expect_exit 2 "$VXPU" node health --backend inventory
expect_exit 2 "$VXPU" node
expect_exit 0 "$VXPU" node --help
expect_output 'vxpu node health'
finish

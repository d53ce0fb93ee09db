#!/usr/bin/env bash
# timeout: 180
# 500 processes killed with SIGKILL at random points - while starting (in
# the loader, the constructor, cuInit, the region, the slot claim) or in the
# middle of allocations and frees - beside two processes that keep
# allocating against the same limit: neither of those ever waits 100 ms or
# more in a call, and every dead process's charge is reclaimed (afterwards
# the whole limit can be allocated again).
source "$(dirname "$0")/lib.sh"

limiter_setup
survivors=()
cleanup() {
	for p in "${survivors[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

LIMITED=(env LD_PRELOAD="$PRELOAD" VXPU_REGION="$WORK/region" VXPU_MEMORY_LIMIT=32MiB)

# One measurement: survivors churn while victims are started and killed.
# The slowest call of a survivor is wall time, so a badly overloaded
# machine can stretch it; one repeat of the measurement is allowed.
attempt() {
	survivors=()
	for s in 1 2; do
		# env execs the probe: $! is the probe itself.
		"${LIMITED[@]}" "$PROBE" churn "$((1000 + s))" 4194304 500 >"$WORK/survivor.$s" &
		survivors+=($!)
	done
	"${LIMITED[@]}" "$PROBE" victims 500 10000 "$1" >"$WORK/victims" || return 1
	for p in "${survivors[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
	survivors=()
	cat "$WORK/victims"
	worst=0
	for s in 1 2; do
		w=$(sed -n 's/^maxwait_us=//p' "$WORK/survivor.$s" | tail -n1)
		echo "survivor $s: slowest call ${w:-?} us"
		[ -n "$w" ] || return 1
		[ "$w" -gt "$worst" ] && worst=$w
	done
	[ "$worst" -lt 100000 ]
}

if attempt 7 || attempt 8; then
	PASSES=$((PASSES + 1))
else
	echo "FAIL: a surviving process waited 100 ms or more (twice)"
	FAILS=$((FAILS + 1))
fi
OUT=$(cat "$WORK/victims")
expect_line "victims=500"
expect_line "not_killed=0"

# Every process above is dead now; the whole limit can be had again.
expect_exit 0 "${LIMITED[@]}" "$PROBE" fill mem 1048576 || true
expect_line "filled=32"
expect_line "next=CUDA_ERROR_OUT_OF_MEMORY"
expect_exit 0 "$VXPU" region show --json "$WORK/region" || true
region=$OUT
expect_exit 0 jq -e '.totals.live == 0 and .devices[0].used_bytes == 0
	and .devices[0].dead_bytes == 0' <<<"$region" || true

finish

#!/usr/bin/env bash
# timeout: 120
# 8 processes x 1,000 random allocations and frees racing against one
# 64 MiB limit: the simulator's own accounting (its peak counter) shows the
# container never above the limit at any instant, the limit was really
# reached (some allocations refused), and at the end nothing is held.
source "$(dirname "$0")/lib.sh"

limiter_setup
trap 'rm -rf "$WORK"' EXIT
LIMIT=$((64 * 1048576))

expect_exit 0 "$PROBE" init || true
expect_exit 0 "$VXPU" sim reset-peak 0 || true
pids=()
for i in $(seq 8); do
	env LD_PRELOAD="$PRELOAD" VXPU_REGION="$WORK/region" VXPU_MEMORY_LIMIT=$LIMIT \
		"$PROBE" race 1000 "$i" 8388608 >"$WORK/race.$i" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do
	if wait "$p"; then
		PASSES=$((PASSES + 1))
	else
		echo "FAIL: a racing process failed:"
		cat "$WORK"/race.*
		FAILS=$((FAILS + 1))
	fi
done
refused=$(awk -F= '/^refused=/ { n += $2 } END { print n + 0 }' "$WORK"/race.*)
granted=$(awk -F= '/^granted=/ { n += $2 } END { print n + 0 }' "$WORK"/race.*)
echo "granted=$granted refused=$refused"
expect_exit 0 "$VXPU" sim status --json || true
peak=$(jq '.devices[0].memory.peak' <<<"$OUT")
used=$(jq '.devices[0].memory.used' <<<"$OUT")
echo "device peak=$peak used=$used limit=$LIMIT"
expect_exit 0 test "$peak" -le "$LIMIT" || true
expect_exit 0 test "$peak" -gt $((LIMIT / 2)) || true
expect_exit 0 test "$used" -eq 0 || true
expect_exit 0 test "${refused:-0}" -gt 0 || true
expect_exit 0 test "${granted:-0}" -gt 1000 || true

finish

#!/usr/bin/env bash
# The shared region seen from outside and across process lifecycles:
# `vxpu region show` (text and JSON) and `vxpu region create`, a managed
# region whose limits the environment cannot widen, a file of an unknown
# layout version refused by the reader and by the library, fork (the child
# gets its own slot), exec (the new image starts afresh, the old one's
# charge goes), and NVML: memory consistent with the limit and process
# lists showing the container's processes only.
source "$(dirname "$0")/lib.sh"

limiter_setup
bg=()
cleanup() {
	exec 7>&- 8>&- 9>&- 2>/dev/null || true
	for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
MIB=1048576
R="$WORK/region"
LIMITED=(env LD_PRELOAD="$PRELOAD" VXPU_REGION="$R" VXPU_MEMORY_LIMIT=64MiB)

# wait_for FILE PATTERN : until FILE has a line matching PATTERN (5 s at most).
wait_for() {
	for _ in $(seq 100); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "FAIL: $1 never showed $2"
	FAILS=$((FAILS + 1))
	return 1
}

# Usage errors name what is wrong.
expect_exit 2 "$VXPU" region || true
expect_output "missing subcommand" || true
expect_exit 2 "$VXPU" region show || true
expect_output "show needs a FILE" || true
expect_exit 2 "$VXPU" region show "$R" --bogus || true
expect_output '"--bogus"' || true
expect_exit 2 "$VXPU" region list || true
expect_output '"list"' || true
expect_exit 1 "$VXPU" region show "$WORK/missing" || true
expect_output "No such file" || true
expect_exit 2 "$VXPU" region create "$WORK/c" --limit 3=lots || true
expect_output '"3=lots"' || true
expect_exit 2 "$VXPU" region create "$WORK/c" --limit 16=1g || true
expect_output "0..15" || true

# A process holding 24 MiB, seen by `vxpu region show`.
mkfifo "$WORK/h1"
"${LIMITED[@]}" "$PROBE" hold $((24 * MIB)) <"$WORK/h1" >"$WORK/h1.out" &
bg+=($!)
holder=$!
exec 9>"$WORK/h1"
wait_for "$WORK/h1.out" "held=1" || true
expect_exit 0 "$VXPU" region show "$R" || true
expect_output "layout version 1" || true
expect_output "64MiB" || true
expect_output "24MiB" || true
expect_output "$holder" || true
expect_output "live" || true
expect_exit 0 "$VXPU" region show --json "$R" || true
expect_exit 0 jq -e --argjson pid "$holder" '.version == 1
	and .devices[0].limit_bytes == 67108864 and .devices[0].used_bytes == 25165824
	and (.devices[0].uuid | startswith("GPU-"))
	and .processes[0].pid == $pid and .processes[0].alive
	and .processes[0].used_bytes[0] == 25165824 and .processes[0].host_pid == null
	and .totals.live == 1' <<<"$OUT" || true

# NVML agrees with the limit; the process list keeps the container's processes.
mkfifo "$WORK/h2"
"$PROBE" hold $((8 * MIB)) <"$WORK/h2" >"$WORK/h2.out" & # outside the container
bg+=($!)
outsider=$!
exec 8>"$WORK/h2"
wait_for "$WORK/h2.out" "held=1" || true
expect_exit 0 "${LIMITED[@]}" "$PROBE" nvml || true
expect_line "v1_total=$((64 * MIB))"
expect_line "v1_used=$((24 * MIB))"
expect_line "v1_free=$((40 * MIB))"
expect_line "v2_total=$((64 * MIB))"
expect_line "v2_reserved=0"
expect_line "v2_used=$((24 * MIB))"
expect_line "v2_free=$((40 * MIB))"
expect_line "pids=$holder"
expect_exit 0 "$PROBE" nvml || true # without the library: the whole card, everyone
expect_line "v1_total=17179869184"
expect_exit 0 grep -q "pids=.*$outsider" <<<"$OUT" || true
exec 8>&-
wait "$outsider" || true
exec 9>&-
wait "$holder" || true

# fork: the child claims its own slot; the parent's stays the parent's.
mkfifo "$WORK/f"
"${LIMITED[@]}" "$PROBE" fork $((8 * MIB)) <"$WORK/f" >"$WORK/f.out" &
bg+=($!)
parent=$!
exec 7>"$WORK/f"
wait_for "$WORK/f.out" "child=" || true
child=$(sed -n 's/^child=//p' "$WORK/f.out")
expect_exit 0 "$VXPU" region show --json "$R" || true
expect_exit 0 jq -e --argjson p "$parent" --argjson c "${child:-0}" '
	([.processes[] | select(.alive)] | length) == 2
	and ([.processes[] | select(.pid == $p and .alive)][0].used_bytes[0] == 8388608)
	and ([.processes[] | select(.pid == $c and .alive)][0].used_bytes[0] == 4194304)
	and ([.processes[] | select(.pid == $p)][0].slot != [.processes[] | select(.pid == $c)][0].slot)' <<<"$OUT" || true
exec 7>&-
wait "$parent" || true
expect_exit 0 grep -qx "child_status=0" "$WORK/f.out" || true

# exec: the new image (same pid) starts afresh; the old image's 16 MiB goes.
mkfifo "$WORK/e"
"${LIMITED[@]}" "$PROBE" exec $((16 * MIB)) <"$WORK/e" >"$WORK/e.out" &
bg+=($!)
execed=$!
exec 7>"$WORK/e"
wait_for "$WORK/e.out" "held=1" || true
expect_exit 0 "$VXPU" region show --json "$R" || true
region=$OUT
# One slot for that pid (the old image's was reclaimed, not left dead), live, 8 MiB.
expect_exit 0 jq -e --argjson p "$execed" '
	[.processes[] | select(.pid == $p)] | length == 1 and .[0].alive
	and .[0].used_bytes[0] == 8388608' <<<"$region" || true
expect_exit 0 jq -e '.devices[0].used_bytes == 8388608' <<<"$region" || true
exec 7>&-
wait "$execed" || true

# A managed region: the environment cannot widen its limits.
expect_exit 0 "$VXPU" region create "$WORK/managed" --limit 4GiB --limit 1=32 || true
expect_exit 1 "$VXPU" region create "$WORK/managed" || true
expect_output "exists" || true
expect_exit 0 env LD_PRELOAD="$PRELOAD" VXPU_REGION="$WORK/managed" VXPU_MEMORY_LIMIT=8GiB \
	"$PROBE" --device 1 info || true
expect_line "total=$((32 * MIB))"
expect_exit 0 env LD_PRELOAD="$PRELOAD" VXPU_REGION="$WORK/managed" "$PROBE" info || true
expect_line "total=4294967296"

# An unknown layout version is refused, by the reader and by the library.
"$VXPU" region create "$WORK/future" >/dev/null
printf '\x02' | dd of="$WORK/future" bs=1 seek=8 conv=notrunc status=none
before=$(md5sum <"$WORK/future")
expect_exit 1 "$VXPU" region show "$WORK/future" || true
expect_output "unsupported layout version 2" || true
expect_exit 0 env LD_PRELOAD="$PRELOAD" VXPU_REGION="$WORK/future" VXPU_MEMORY_LIMIT=1g "$PROBE" init || true
expect_line "result=CUDA_ERROR_OPERATING_SYSTEM"
expect_output "unsupported layout version 2" || true
expect_exit 0 test "$before" = "$(md5sum <"$WORK/future")" || true

finish

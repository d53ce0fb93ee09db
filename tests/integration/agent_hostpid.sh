#!/usr/bin/env bash
# Node agent host PIDs: a workload in its own PID namespace (unshare, when
# the host allows it) holds memory through libvxpu in a managed region;
# `vxpu node host-pids` records its host PID in its slot (seen by `vxpu
# region show`), keeps it on the next pass, and matches nothing under a
# cgroup filter the workload is not in. Usage errors name the flag.
# timeout: 60
source "$(dirname "$0")/lib.sh"
PROBE="$BUILD/limiter-tests/limiter_probe"
LIB="$BUILD/libvxpu.so"
# In a sanitizer build ASan's runtime must be the first library of the process.
PRELOAD="$(ldd "$PROBE" | awk '/libasan/ { printf "%s ", $3 }')$LIB"
WORK=$(mktemp -d /tmp/vxpu-agent-hostpid.XXXXXX)
HOLDER=
cleanup() {
	exec 9>&- 2>/dev/null || true
	[ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
unset VXPU_SIM_CONFIG CUDA_VISIBLE_DEVICES VXPU_MEMORY_LIMIT VXPU_REGION VXPU_LOG VXPU_BACKEND
export VXPU_SIM_STATE="$WORK/sim.state"
R="$WORK/region"

expect_exit 0 "$VXPU" region create "$R" --limit 0=64MiB

# The workload: PID 1 of a new PID namespace where the host allows it.
NS=(unshare --pid --fork)
if ! unshare --pid --fork true 2>/dev/null; then
	echo "note: no PID namespaces here; the workload shares the host's"
	NS=()
fi
mkfifo "$WORK/hold"
"${NS[@]}" env LD_PRELOAD="$PRELOAD" VXPU_REGION="$R" "$PROBE" hold $((8 * 1048576)) <"$WORK/hold" >"$WORK/hold.out" 2>&1 &
HOLDER=$!
exec 9>"$WORK/hold"
for _ in $(seq 100); do
	grep -q "held=1" "$WORK/hold.out" && break
	sleep 0.05
done
grep -q "held=1" "$WORK/hold.out" && PASSES=$((PASSES + 1)) || { echo "FAIL: holder: $(cat "$WORK/hold.out")"; FAILS=$((FAILS + 1)); }
# The probe's host PID: unshare's child, or the background job itself.
if [ ${#NS[@]} -gt 0 ]; then
	# Processes of other tests come and go meanwhile: grep's complaints about
	# vanished /proc entries must not end the script (pipefail).
	host_pid=$( (grep -l "^PPid:[[:space:]]*$HOLDER$" /proc/[0-9]*/status 2>/dev/null || true) | head -1 | cut -d/ -f3)
else
	host_pid=$HOLDER
fi
ns_pid=$(awk '/^NSpid:/ { print $NF }' "/proc/$host_pid/status")
echo "workload: host pid $host_pid, pid in its namespace $ns_pid"

expect_exit 0 "$VXPU" region show --json "$R"
expect_exit 0 jq -e --argjson pid "$ns_pid" '.processes[0].pid == $pid and .processes[0].host_pid == null' <<<"$OUT"

# A cgroup text the workload is not under: nothing matches, nothing written.
expect_exit 0 "$VXPU" node host-pids --region "$R" --cgroup "cri-containerd-not-this-one"
expect_output "written=0 known=0 unmatched=1 ambiguous=0 raced=0"

# Its own cgroup (as the kernel lists it) and the region mapping: written.
cg=$(head -1 "/proc/$host_pid/cgroup" | cut -d: -f3-)
expect_exit 0 "$VXPU" node host-pids --region "$R" --cgroup "$cg"
expect_output "written=1 known=0 unmatched=0 ambiguous=0 raced=0"
expect_exit 0 "$VXPU" region show --json "$R"
expect_exit 0 jq -e --argjson pid "$ns_pid" --argjson host "$host_pid" \
	'.processes[0].pid == $pid and .processes[0].host_pid == $host' <<<"$OUT"
expect_exit 0 "$VXPU" node host-pids --region "$R"
expect_output "written=0 known=1 unmatched=0"

# A fake proc root with nobody in it; usage errors.
mkdir "$WORK/proc"
expect_exit 0 "$VXPU" node host-pids --region "$R" --proc "$WORK/proc" --any-process
expect_output "known=1"
expect_exit 1 "$VXPU" node host-pids --region "$WORK/missing"
expect_output "No such file"
expect_exit 2 "$VXPU" node host-pids
expect_output "host-pids needs --region FILE"
expect_exit 2 "$VXPU" node host-pids --region "$R" --cgroup
expect_output "flag --cgroup needs a value"
expect_exit 2 "$VXPU" node host-pids --region "$R" --bogus
expect_output 'unknown flag "--bogus"'

exec 9>&-
wait "$HOLDER" || true
HOLDER=
finish

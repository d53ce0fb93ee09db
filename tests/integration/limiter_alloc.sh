#!/usr/bin/env bash
# timeout: 180
# libvxpu on the simulated driver: every allocation path is held to the
# limit (up to it succeeds, one byte more fails with out-of-memory, the room
# comes back after frees), whichever way the program reaches the driver
# (linked, dlsym on the driver's handle, cuGetProcAddress incl. per-thread
# forms); limits apply per container device through CUDA_VISIBLE_DEVICES
# (indices or UUIDs); processes of one container share the limit.
source "$(dirname "$0")/lib.sh"

limiter_setup
trap 'rm -rf "$WORK"' EXIT
MIB=1048576

# limited REGION_NAME CMD... : under libvxpu with a 64 MiB limit.
limited() {
	local region=$1
	shift
	env LD_PRELOAD="$PRELOAD" VXPU_REGION="$WORK/$region" VXPU_MEMORY_LIMIT=64MiB "$@"
}

# Each kind in 2 MiB objects: 32 fit in 64 MiB, then the limit refuses.
for kind in mem pitch managed async pool vmm array array3d module; do
	expect_exit 0 limited "r-$kind" "$PROBE" fill "$kind" $((2 * MIB)) || true
	expect_line "filled=32"
	expect_line "next=CUDA_ERROR_OUT_OF_MEMORY"
	expect_line "byte=CUDA_ERROR_OUT_OF_MEMORY"
	expect_line "refilled=32"
	expect_line "free=$((64 * MIB))"
	expect_line "total=$((64 * MIB))"
	case $kind in
	async | pool) expect_line "trim_gain=$((64 * MIB))" ;;
	esac
done

# Mipmapped arrays of 1 MiB + 256 KiB + 64 KiB: 48 fit, 1 MiB stays free.
expect_exit 0 limited r-mipmap "$PROBE" fill mipmap 0 || true
expect_line "filled=48"
expect_line "byte=CUDA_SUCCESS"
expect_line "refilled=48"

# Contexts charged VXPU_CONTEXT_MEMORY each: the primary one plus 7.
expect_exit 0 limited r-ctx env VXPU_CONTEXT_MEMORY=8MiB "$PROBE" fill context 0 || true
expect_line "filled=7"
expect_line "next=CUDA_ERROR_OUT_OF_MEMORY"
expect_line "free=$((56 * MIB))"

# The ways around the dynamic linker are limited too.
for via in dlsym procaddr; do
	expect_exit 0 limited "r-$via" "$PROBE" --via "$via" fill mem $((2 * MIB)) || true
	expect_line "filled=32"
	expect_line "byte=CUDA_ERROR_OUT_OF_MEMORY"
done
expect_exit 0 limited r-ptsz "$PROBE" --via procaddr --ptsz fill async $((2 * MIB)) || true
expect_line "filled=32"
expect_line "refilled=32"

# Without the library the same program is held only by the (256 MiB) card.
echo '{"devices": [{"memory": "256MiB"}]}' >"$WORK/small.json"
expect_exit 0 env VXPU_SIM_CONFIG="$WORK/small.json" VXPU_SIM_STATE="$WORK/small.state" \
	"$PROBE" --via procaddr fill mem $((2 * MIB)) || true
expect_line "filled=128"

# What the workload is told.
expect_exit 0 limited r-info "$PROBE" info || true
expect_line "free=$((64 * MIB))"
expect_line "total=$((64 * MIB))"
expect_line "devtotal=$((64 * MIB))"

# Per-device limits follow the container device through CUDA_VISIBLE_DEVICES.
perdev() {
	local region=$1
	shift
	env LD_PRELOAD="$PRELOAD" VXPU_REGION="$WORK/$region" VXPU_MEMORY_LIMIT_0=64MiB \
		VXPU_MEMORY_LIMIT_1=32MiB "$@"
}
expect_exit 0 perdev r-dev "$PROBE" --device 1 info || true
expect_line "total=$((32 * MIB))"
expect_exit 0 perdev r-dev env CUDA_VISIBLE_DEVICES=1 "$PROBE" info || true
expect_line "total=$((32 * MIB))"
expect_exit 0 perdev r-dev env CUDA_VISIBLE_DEVICES=1,0 "$PROBE" --device 1 info || true
expect_line "total=$((64 * MIB))"
uuid1=$("$BUILD/vxpu" sim status --json | jq -r '.devices[1].uuid')
# The region learnt the UUIDs above; a fresh region finds the index through NVML.
expect_exit 0 perdev r-dev env CUDA_VISIBLE_DEVICES="$uuid1" "$PROBE" info || true
expect_line "total=$((32 * MIB))"
expect_exit 0 perdev r-fresh env CUDA_VISIBLE_DEVICES="$uuid1" "$PROBE" info || true
expect_line "total=$((32 * MIB))"
expect_exit 0 perdev r-dev env CUDA_VISIBLE_DEVICES=1 "$PROBE" fill mem $((2 * MIB)) || true
expect_line "filled=16"

# Two processes of one container share the limit.
mkfifo "$WORK/hold"
env LD_PRELOAD="$PRELOAD" VXPU_REGION="$WORK/r-shared" VXPU_MEMORY_LIMIT=64MiB \
	"$PROBE" hold $((40 * MIB)) <"$WORK/hold" >"$WORK/hold.out" &
holder=$!
exec 9>"$WORK/hold"
for _ in $(seq 100); do
	grep -q "held=1" "$WORK/hold.out" 2>/dev/null && break
	sleep 0.05
done
expect_exit 0 limited r-shared "$PROBE" alloc mem $((32 * MIB)) || true
expect_line "result=CUDA_ERROR_OUT_OF_MEMORY"
expect_exit 0 limited r-shared "$PROBE" alloc mem $((24 * MIB)) || true
expect_line "result=CUDA_SUCCESS"
exec 9>&-
wait "$holder"
expect_exit 0 limited r-shared "$PROBE" alloc mem $((64 * MIB)) || true
expect_line "result=CUDA_SUCCESS"

finish

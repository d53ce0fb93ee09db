#!/usr/bin/env bash
# libvxpu's contract with its environment and with the dynamic linker:
# a bad value fails closed (cuInit refuses, one line names the variable and
# the value), the HAMi aliases work, the library is silent unless asked,
# exports only the hook ABI and needs nothing beyond libc/libpthread/libdl.
source "$(dirname "$0")/lib.sh"

limiter_setup
trap 'rm -rf "$WORK"' EXIT

# fails_closed VAR=VALUE... : cuInit refuses with $CHECK_RESULT (default
# CUDA_ERROR_NOT_INITIALIZED); stderr is one line naming $CHECK_NAME and $CHECK_VALUE.
fails_closed() {
	local err="$WORK/stderr"
	set +e
	OUT=$(env LD_PRELOAD="$PRELOAD" VXPU_REGION="$WORK/region" "$@" "$PROBE" init 2>"$err")
	set -e
	expect_line "result=${CHECK_RESULT:-CUDA_ERROR_NOT_INITIALIZED}"
	local lines
	lines=$(wc -l <"$err")
	if [ "$lines" = 1 ] && grep -qF -- "$CHECK_NAME" "$err" && grep -qF -- "$CHECK_VALUE" "$err"; then
		PASSES=$((PASSES + 1))
	else
		echo "FAIL: stderr for $* is not one line naming $CHECK_NAME and $CHECK_VALUE:"
		cat "$err"
		FAILS=$((FAILS + 1))
	fi
}

CHECK_NAME=VXPU_MEMORY_LIMIT CHECK_VALUE=12abc fails_closed VXPU_MEMORY_LIMIT=12abc
CHECK_NAME=CUDA_DEVICE_MEMORY_LIMIT_1 CHECK_VALUE=1gb_ fails_closed CUDA_DEVICE_MEMORY_LIMIT_1=1gb_
CHECK_NAME=VXPU_MEMORY_LIMIT_X CHECK_VALUE=2g fails_closed VXPU_MEMORY_LIMIT_X=2g
CHECK_NAME=VXPU_MEMORY_LIMIT CHECK_VALUE=0 fails_closed VXPU_MEMORY_LIMIT=0
CHECK_NAME=VXPU_REGION CHECK_VALUE=relative/file fails_closed VXPU_REGION=relative/file
CHECK_NAME=CUDA_DEVICE_MEMORY_LIMIT CHECK_VALUE=2g fails_closed VXPU_MEMORY_LIMIT=1g \
	CUDA_DEVICE_MEMORY_LIMIT=2g
# An unusable region with a limit is a refusal too (a limit without its region is none).
CHECK_RESULT=CUDA_ERROR_OPERATING_SYSTEM CHECK_NAME="$WORK/none/region" CHECK_VALUE="No such file" \
	fails_closed VXPU_MEMORY_LIMIT=1g \
	VXPU_REGION="$WORK/none/region"
# NVML refuses as well.
expect_exit 1 env LD_PRELOAD="$PRELOAD" VXPU_MEMORY_LIMIT=12abc VXPU_LOG=off "$PROBE" nvml || true
expect_line "nvml=failed"
# VXPU_LOG=off silences even that line, but not the refusal.
OUT=$(env LD_PRELOAD="$PRELOAD" VXPU_MEMORY_LIMIT=12abc VXPU_LOG=off "$PROBE" init 2>"$WORK/quiet")
expect_line "result=CUDA_ERROR_NOT_INITIALIZED"
expect_exit 0 test ! -s "$WORK/quiet" || true

# The HAMi spellings limit exactly as the vxpu ones.
expect_exit 0 env LD_PRELOAD="$PRELOAD" CUDA_DEVICE_MEMORY_LIMIT=1024m \
	CUDA_DEVICE_MEMORY_SHARED_CACHE="$WORK/hami.cache" "$PROBE" info || true
expect_line "total=1073741824"
expect_exit 0 test -s "$WORK/hami.cache" || true

# Silent by default: a working limited run prints nothing on stderr.
OUT=$(env LD_PRELOAD="$PRELOAD" VXPU_REGION="$WORK/region" VXPU_MEMORY_LIMIT=1g "$PROBE" info 2>"$WORK/err")
expect_line "total=1073741824"
expect_exit 0 test ! -s "$WORK/err" || true

# The region is the authority once it exists (a managed one can't be widened
# from the environment; this one was made from an environment and is in use
# by nobody, so a new environment takes over).
expect_exit 0 env LD_PRELOAD="$PRELOAD" VXPU_REGION="$WORK/region" VXPU_MEMORY_LIMIT=2g "$PROBE" info || true
expect_line "total=2147483648"

# Only the hook ABI is exported; only libc (and libpthread/libdl) is needed.
others=$(nm -D --defined-only "$LIB" | awk '{print $3}' | grep -Ev '^(cu[A-Z][A-Za-z0-9_]*|nvml[A-Z][A-Za-z0-9_]*|dlsym)$' || true)
if [ -z "$others" ]; then
	PASSES=$((PASSES + 1))
else
	echo "FAIL: libvxpu.so exports more than the hook ABI:"
	echo "$others"
	FAILS=$((FAILS + 1))
fi
needed=$(readelf -d "$LIB" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -Ev '^(libc|libpthread|libdl)\.so\.[0-9]+$' || true)
if [ -z "$needed" ]; then
	PASSES=$((PASSES + 1))
else
	echo "FAIL: libvxpu.so needs more than libc/libpthread/libdl: $needed"
	FAILS=$((FAILS + 1))
fi
expect_exit 0 bash -c "nm -D --defined-only '$LIB' | grep -q ' T cuMemAlloc_v2$'" || true
expect_exit 0 bash -c "nm -D --defined-only '$LIB' | grep -q ' T dlsym$'" || true

finish

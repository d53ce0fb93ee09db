#!/usr/bin/env bash
# tests/gpu/run.sh [--build DIR] [--driver-dir DIR] - libvxpu against a real
# NVIDIA driver: the allocation tests of tests/integration/limiter_*.sh (the
# same probe program, built here against the machine's libcuda.so.1), a
# PyTorch workload under a 4 GiB limit, and PyTorch matmul throughput at
# compute limits 100/50/25 % plus the priority pair (tests/gpu/torch_compute.py).
# Not part of CTest: it needs a GPU.
#
#   --build DIR       the vxpu build holding libvxpu.so (default: build/;
#                     built with `make build` when missing)
#   --driver-dir DIR  use the libcuda.so.1 / libnvidia-ml.so.1 found in DIR
#                     instead of the system's (a rehearsal of this script on
#                     the simulator: --driver-dir build/sim)
#
# Without an NVIDIA driver and GPU it says so and exits 0 (skipped). Prints
# one line per check and a summary; exits 1 if any check failed. Record the
# result of a GPU run in docs/gpu-validation.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD="$ROOT/build"
DRIVER_DIR=""
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$(cd "${2:?--build needs a directory}" && pwd); shift 2 ;;
	--driver-dir) DRIVER_DIR=$(cd "${2:?--driver-dir needs a directory}" && pwd); shift 2 ;;
	*) echo "usage: tests/gpu/run.sh [--build DIR] [--driver-dir DIR]" >&2; exit 2 ;;
	esac
done

skip() {
	echo "gpu: skipped: $*"
	exit 0
}

if [ -z "$DRIVER_DIR" ]; then
	command -v nvidia-smi >/dev/null || skip "no nvidia-smi (no NVIDIA driver on this machine)"
	nvidia-smi -L 2>/dev/null | grep -q '^GPU ' || skip "nvidia-smi lists no GPU"
	ldconfig -p | grep -q 'libcuda.so.1 ' || skip "no libcuda.so.1 in the linker cache"
fi
command -v cc >/dev/null || skip "no C compiler"
if [ ! -e "$BUILD/libvxpu.so" ]; then
	echo "gpu: building vxpu in $BUILD"
	make -C "$ROOT" build BUILD="$BUILD" >/dev/null
fi

WORK=$(mktemp -d)
bg=()
cleanup() {
	for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
unset CUDA_VISIBLE_DEVICES VXPU_MEMORY_LIMIT VXPU_REGION VXPU_CONTEXT_MEMORY VXPU_LOG \
	CUDA_DEVICE_MEMORY_LIMIT CUDA_DEVICE_MEMORY_SHARED_CACHE
if [ -n "$DRIVER_DIR" ]; then
	export LD_LIBRARY_PATH="$DRIVER_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	export VXPU_SIM_STATE="$WORK/sim.state"
	LINK_DIR="-L$DRIVER_DIR"
else
	LINK_DIR=""
fi

# The probe, linked to this machine's driver as any application is.
cc -O2 -shared -fPIC -o "$WORK/liblimiter_next.so" "$ROOT/tests/gpu/limiter_next.c" -ldl
# shellcheck disable=SC2086
cc -O2 -std=c11 -D_GNU_SOURCE -I"$ROOT/src" -o "$WORK/limiter_probe" \
	"$ROOT/tests/gpu/limiter_probe.c" -L"$WORK" -llimiter_next $LINK_DIR -l:libcuda.so.1 \
	-l:libnvidia-ml.so.1 -ldl -Wl,-rpath,"$WORK"
PROBE="$WORK/limiter_probe"
LIB="$BUILD/libvxpu.so"
GIB=1073741824
MIB=1048576

PASSES=0
FAILS=0
check() { # check NAME CONDITION-COMMAND...
	local name=$1
	shift
	if "$@"; then
		echo "ok    $name"
		PASSES=$((PASSES + 1))
	else
		echo "FAIL  $name"
		FAILS=$((FAILS + 1))
	fi
}
has_line() { grep -qx -- "$2" <<<"$1"; }
value() { sed -n "s/^$2=//p" <<<"$1" | head -n1; }

limited() { # limited REGION LIMIT CMD...
	local region=$1 limit=$2
	shift 2
	env LD_PRELOAD="$LIB" VXPU_REGION="$WORK/$region" VXPU_MEMORY_LIMIT="$limit" "$@"
}

echo "gpu: driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n1 || echo simulated), device 0: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -n1 || echo simulated)"

# 1. Every allocation path: 16 objects of 64 MiB fill a 1 GiB limit; the
#    next one and a single byte are refused; after the frees they fit again.
#    (Module images are left out: the probe's synthetic image is not code a
#    real driver loads.)
for kind in mem pitch managed async pool vmm array array3d; do
	out=$(limited "r-$kind" 1GiB "$PROBE" fill "$kind" $((64 * MIB)) 2>&1 || true)
	check "fill $kind: 16 x 64 MiB under 1 GiB, then refused, then again" \
		eval 'has_line "$out" filled=16 && has_line "$out" next=CUDA_ERROR_OUT_OF_MEMORY &&
			has_line "$out" byte=CUDA_ERROR_OUT_OF_MEMORY && has_line "$out" refilled=16'
	[ "$(value "$out" filled)" = 16 ] || echo "$out" | sed 's/^/      /'
done
out=$(limited r-ctx 1GiB env VXPU_CONTEXT_MEMORY=128MiB "$PROBE" fill context 0 2>&1 || true)
check "contexts charged 128 MiB each: primary + 7 under 1 GiB" has_line "$out" filled=7

# 2. The ways around the dynamic linker.
for via in dlsym procaddr; do
	out=$(limited "r-$via" 1GiB "$PROBE" --via "$via" fill mem $((64 * MIB)) 2>&1 || true)
	check "via $via: limited" has_line "$out" filled=16
done
out=$(limited r-ptsz 1GiB "$PROBE" --via procaddr --ptsz fill async $((64 * MIB)) 2>&1 || true)
check "via cuGetProcAddress, per-thread stream: limited" has_line "$out" filled=16
out=$(limited r-next 1GiB "$PROBE" dlnext 2>&1 || true)
check "RTLD_NEXT from the program and from a later library" \
	eval 'has_line "$out" program_next_is_default=1 && has_line "$out" library_next_skips_itself=1 &&
		has_line "$out" library_next_is_libc=1'

# 3. What the workload and NVML are told.
out=$(limited r-info 1GiB "$PROBE" info 2>&1 || true)
check "cuMemGetInfo / cuDeviceTotalMem report the limit" \
	eval 'has_line "$out" total=$GIB && has_line "$out" devtotal=$GIB'
out=$(limited r-info 1GiB "$PROBE" nvml 2>&1 || true)
total=$(value "$out" v2_total)
used=$(value "$out" v2_used)
free=$(value "$out" v2_free)
reserved=$(value "$out" v2_reserved)
sum=$((${used:-0} + ${free:-0} + ${reserved:-0}))
check "NVML: total = limit = used + free + reserved" eval '[ "$total" = "$GIB" ] && [ "$sum" = "$total" ]'

# 4. A bad value fails closed.
out=$(env LD_PRELOAD="$LIB" VXPU_MEMORY_LIMIT=12abc "$PROBE" init 2>"$WORK/err" || true)
check "bad VXPU_MEMORY_LIMIT: cuInit refused, one line naming it" \
	eval 'has_line "$out" result=CUDA_ERROR_NOT_INITIALIZED && [ "$(wc -l <"$WORK/err")" = 1 ] &&
		grep -q "VXPU_MEMORY_LIMIT=..12abc" "$WORK/err"'

# 5. 8 processes racing against one limit; nothing held afterwards.
pids=()
for i in $(seq 8); do
	limited r-race 512MiB "$PROBE" race 1000 "$i" $((64 * MIB)) >"$WORK/race.$i" 2>&1 &
	pids+=($!)
done
race_ok=1
for p in "${pids[@]}"; do wait "$p" || race_ok=0; done
refused=$(awk -F= '/^refused=/ { n += $2 } END { print n + 0 }' "$WORK"/race.*)
check "race: 8 x 1000 allocations, no errors, limit reached ($refused refused)" \
	eval '[ "$race_ok" = 1 ] && [ "$refused" -gt 0 ]'
out=$("$BUILD/vxpu" region show "$WORK/r-race" 2>&1 || true)
check "race: nothing held afterwards" eval 'grep -q ", 0B used by live processes" <<<"$out"'

# 6. Processes killed with SIGKILL: survivors never wait 100 ms, all reclaimed.
for s in 1 2; do
	env LD_PRELOAD="$LIB" VXPU_REGION="$WORK/r-kill" VXPU_MEMORY_LIMIT=512MiB \
		"$PROBE" churn "$s" $((64 * MIB)) 500 >"$WORK/survivor.$s" &
	bg+=($!)
done
limited r-kill 512MiB "$PROBE" victims 100 200000 7 >"$WORK/victims" 2>&1 || true
for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
bg=()
worst=0
for s in 1 2; do
	w=$(sed -n 's/^maxwait_us=//p' "$WORK/survivor.$s" | tail -n1)
	[ "${w:-999999999}" -gt "$worst" ] && worst=${w:-999999999}
done
check "kill: 100 victims, slowest survivor call ${worst} us (< 100 ms)" eval '[ "$worst" -lt 100000 ]'
# A charge is given back once the driver has let go of the dead process's
# memory (NVML no longer lists it): allow the driver a few seconds for that.
for _ in 1 2 3 4 5 6 7 8 9 10; do
	out=$(limited r-kill 512MiB "$PROBE" fill mem $((32 * MIB)) 2>&1 || true)
	has_line "$out" filled=16 && break
	sleep 1
done
check "kill: every dead process's charge reclaimed (512 MiB fit again)" has_line "$out" filled=16

# 7. Many processes starting at once (reported; a real driver's own
#    initialisation dominates here).
out=$(limited r-start 1GiB "$PROBE" spawn 64 2>&1 || true)
check "start: 64 processes at once all initialised ($(value "$out" all_ms) ms)" has_line "$out" started=64

# 8. PyTorch under a 4 GiB limit: tensors up to the limit succeed, the next
#    raises out-of-memory, torch.cuda.mem_get_info() reports the limit.
if [ -n "$DRIVER_DIR" ]; then
	echo "skip  pytorch (simulated driver)"
elif ! python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
	echo "skip  pytorch (python3 with a CUDA-enabled torch is not installed)"
else
	out=$(limited r-torch 4GiB python3 "$ROOT/tests/gpu/torch_limit.py" 2>&1 || true)
	echo "$out" | sed 's/^/      /'
	check "pytorch: 4 GiB limit held, out-of-memory raised, mem_get_info total = 4 GiB" \
		has_line "$out" "torch: ok"
fi

# 9. Compute shares (issue: libvxpu part 2): a PyTorch matmul loop alone
#    and at VXPU_CORE_LIMIT 50 and 25; throughput ratio to the unlimited run
#    and the utilisation NVML reports meanwhile. Then the priority pair: a
#    high-priority latency loop (a matmul every 5 ms) alone and beside a
#    saturating low-priority loop, whose share must stay >= the 5 % floor.
if [ -n "$DRIVER_DIR" ]; then
	echo "skip  pytorch compute (simulated driver)"
elif ! python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
	echo "skip  pytorch compute (python3 with a CUDA-enabled torch is not installed)"
else
	TORCH_COMPUTE="$ROOT/tests/gpu/torch_compute.py"
	# nvml_util FILE: mean of the utilisation samples nvidia-smi wrote
	nvml_util() { awk '$1 ~ /^[0-9]+$/ { s += $1; n++ } END { printf "%.0f", n ? s / n : -1 }' "$1"; }
	compute_run() { # compute_run NAME LIMIT|none : prints iters_per_s, NVML mean utilisation
		local name=$1 limit=$2 env_limit=()
		[ "$limit" != none ] && env_limit=(VXPU_CORE_LIMIT="$limit")
		nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -i 0 -lms 200 \
			>"$WORK/$name.util" 2>/dev/null &
		local smi=$!
		env LD_PRELOAD="$LIB" VXPU_REGION="$WORK/$name" "${env_limit[@]}" \
			python3 "$TORCH_COMPUTE" throughput 8 >"$WORK/$name.out" 2>&1 || true
		kill "$smi" 2>/dev/null || true
		wait "$smi" 2>/dev/null || true
		echo "$(sed -n 's/.*iters_per_s=\([0-9.]*\).*/\1/p' "$WORK/$name.out") $(nvml_util "$WORK/$name.util")"
	}
	read -r full full_util <<<"$(compute_run c-100 none)"
	echo "      unlimited: ${full:-?} matmuls/s, NVML utilisation ${full_util} %"
	for pct in 50 25; do
		read -r got util <<<"$(compute_run "c-$pct" "$pct")"
		ratio=$(awk -v g="${got:-0}" -v f="${full:-0}" 'BEGIN { printf "%.3f", f > 0 ? g / f : -1 }')
		echo "      limit $pct %: ${got:-?} matmuls/s = ${ratio} of unlimited, NVML utilisation ${util} %"
		check "pytorch compute at $pct %: throughput ratio $ratio within 0.05 of $((pct))/100" \
			awk -v r="$ratio" -v p="$pct" 'BEGIN { exit !(r > 0 && r >= p / 100 - 0.05 && r <= p / 100 + 0.05) }'
	done

	export VXPU_DEVICE_DIR="$WORK/devices"
	env LD_PRELOAD="$LIB" VXPU_REGION="$WORK/p-alone" VXPU_PRIORITY=high \
		python3 "$TORCH_COMPUTE" latency 6 5 >"$WORK/p-alone.out" 2>&1 || true
	env LD_PRELOAD="$LIB" VXPU_REGION="$WORK/p-low" VXPU_PRIORITY=low \
		python3 "$TORCH_COMPUTE" throughput 10 >"$WORK/p-low.out" 2>&1 &
	low=$!
	sleep 3
	env LD_PRELOAD="$LIB" VXPU_REGION="$WORK/p-high" VXPU_PRIORITY=high \
		python3 "$TORCH_COMPUTE" latency 6 5 >"$WORK/p-high.out" 2>&1 || true
	wait "$low" || true
	unset VXPU_DEVICE_DIR
	alone=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' "$WORK/p-alone.out")
	beside=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' "$WORK/p-high.out")
	low_rate=$(sed -n 's/.*iters_per_s=\([0-9.]*\).*/\1/p' "$WORK/p-low.out")
	low_share=$(awk -v g="${low_rate:-0}" -v f="${full:-0}" 'BEGIN { printf "%.3f", f > 0 ? g / f : -1 }')
	echo "      priority: high p99 ${alone:-?} ms alone, ${beside:-?} ms beside the low loop;" \
		"low loop ${low_share} of unlimited over its 10 s (high active for 6 s of them)"
	check "priority: high p99 beside the low loop <= 1.2 x alone" \
		awk -v a="${alone:-0}" -v b="${beside:-0}" 'BEGIN { exit !(a > 0 && b > 0 && b <= 1.2 * a) }'
	check "priority: the low loop progressed (>= the 5 % floor)" \
		awk -v s="$low_share" 'BEGIN { exit !(s >= 0.05) }'
fi

echo "gpu: $PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]

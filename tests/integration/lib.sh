# Shared helpers for the integration scripts. Source it; $BUILD is the build dir.
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR}
VXPU="$BUILD/vxpu"
FAILS=0
PASSES=0

# expect_exit CODE CMD... : run CMD, capture stdout+stderr in $OUT, check status.
expect_exit() {
	local want=$1
	shift
	set +e
	OUT=$("$@" 2>&1)
	local got=$?
	set -e
	if [ "$got" != "$want" ]; then
		echo "FAIL: '$*' exited $got, want $want; output:"
		echo "$OUT"
		FAILS=$((FAILS + 1))
		return 1
	fi
	PASSES=$((PASSES + 1))
}

# expect_output SUBSTRING : the last $OUT contains SUBSTRING.
expect_output() {
	if [[ "$OUT" != *"$1"* ]]; then
		echo "FAIL: output lacks '$1'; output:"
		echo "$OUT"
		FAILS=$((FAILS + 1))
		return 1
	fi
	PASSES=$((PASSES + 1))
}

finish() {
	echo "$PASSES passed, $FAILS failed"
	[ "$FAILS" = 0 ]
}

# Counters for checks a script makes itself.
pass() { PASSES=$((PASSES + 1)); }
failed() {
	echo "FAIL: $*"
	FAILS=$((FAILS + 1))
}
# same DESCRIPTION GOT WANT
same() {
	if [ "$2" = "$3" ]; then pass; else failed "$1: got '$2', want '$3'"; fi
}
# has DESCRIPTION TEXT SUBSTRING
has() {
	if [[ "$2" == *"$3"* ]]; then pass; else failed "$1: lacks '$3' in: $2"; fi
}

# expect_line KEY=VALUE : the last $OUT has exactly that line.
expect_line() {
	if grep -qx -- "$1" <<<"$OUT"; then
		PASSES=$((PASSES + 1))
	else
		echo "FAIL: no line '$1' in:"
		echo "$OUT"
		FAILS=$((FAILS + 1))
	fi
}

# stop_pid PID : stops a process the script started: TERM, up to 5 s, then
# KILL. An empty PID or one already gone is fine.
stop_pid() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

# limiter_setup : the limiter tests' common ground on the simulated driver.
# Sets PROBE (the probe program), LIB (libvxpu.so), PRELOAD (for
# LD_PRELOAD) and WORK (a new temporary directory; the caller removes it),
# clears every variable that would change a limit, and keeps the simulated
# driver's state in $WORK.
limiter_setup() {
	PROBE="$BUILD/limiter-tests/limiter_probe"
	LIB="$BUILD/libvxpu.so"
	# In a sanitizer build the test programs carry ASan, whose runtime must be
	# the first library of the process: it goes in front of libvxpu.so.
	PRELOAD="$(ldd "$PROBE" | awk '/libasan/ { printf "%s ", $3 }')$LIB"
	WORK=$(mktemp -d)
	unset VXPU_SIM_CONFIG CUDA_VISIBLE_DEVICES VXPU_MEMORY_LIMIT VXPU_REGION VXPU_CONTEXT_MEMORY \
		CUDA_DEVICE_MEMORY_LIMIT CUDA_DEVICE_MEMORY_SHARED_CACHE VXPU_LOG
	export VXPU_SIM_STATE="$WORK/sim.state"
}

# wait_for FILE SED_SCRIPT : waits up to 10 s for `sed -n SED_SCRIPT FILE`
# to print something (a port a server logs, say) and prints it; fails if
# nothing came.
wait_for() {
	local got=""
	for _ in $(seq 1 100); do
		got=$(sed -n "$2" "$1")
		[ -n "$got" ] && break
		sleep 0.1
	done
	[ -n "$got" ] && echo "$got"
}

# start_fake_apiserver ARGS... : starts the test API server
# (tests/unit/sched/fake_apiserver.py) with ARGS on loopback, its stdin a
# FIFO held open on fd 7 (it exits when that closes), and waits for its
# port. Needs SCRATCH; sets FAKE_PID and API_PORT; exits the script when
# the server does not start.
start_fake_apiserver() {
	local fake
	fake="$(cd "$(dirname "${BASH_SOURCE[0]}")/../unit/sched" && pwd)/fake_apiserver.py"
	mkfifo "$SCRATCH/fake.in"
	/usr/bin/python3 "$fake" "$@" <"$SCRATCH/fake.in" >"$SCRATCH/fake.out" 2>"$SCRATCH/fake.err" &
	FAKE_PID=$!
	exec 7>"$SCRATCH/fake.in"
	API_PORT=$(wait_for "$SCRATCH/fake.out" 's/^PORT \([0-9]*\)$/\1/p') || {
		echo "test API server did not start"
		cat "$SCRATCH/fake.err"
		exit 1
	}
}

# sample_nodes_csv FILE : the trace simulators' small made-up cluster in
# the nodes CSV format: seven GPU nodes of four models, 29 GPUs.
sample_nodes_csv() {
	cat >"$1" <<'CSV'
sn,cpu_milli,memory_mib,gpu,model
n0,32000,131072,8,G2
n1,32000,131072,8,G2
n2,16000,65536,4,T4
n3,16000,65536,4,T4
n4,8000,32768,2,P100
n5,8000,32768,2,P100
n6,8000,32768,1,V100
CSV
}

# sample_pods_csv FILE COUNT [QOS] : COUNT tasks t0..t(COUNT-1) in the pods
# CSV format, cycling through eight shapes (fractional, whole, multi-GPU,
# GPU-less, model-bound); with QOS, a qos column holding it.
sample_pods_csv() {
	local file=$1 count=$2 qos=${3:-} i
	local shapes=("1,1000," "1,500," "1,300," "0,0," "2,1000," "1,810,T4" "1,200,G2|T4" "4,1000,")
	{
		echo "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec${qos:+,qos}"
		for i in $(seq 0 $((count - 1))); do
			echo "t$i,$((1000 + 1000 * (i % 5))),$((2048 * (1 + i % 3))),${shapes[$((i % 8))]}${qos:+,$qos}"
		done
	} >"$file"
}

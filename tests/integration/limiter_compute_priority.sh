#!/usr/bin/env bash
# timeout: 180
# Priority across containers on one device (issue 5), on the simulated
# driver. A high-priority container runs a latency loop (a 1 ms kernel every
# 5 ms) beside a low-priority container that launches 1 ms kernels back to
# back, and the same latency loop runs alone on another device at the same
# time:
#   - the high loop's p99 latency beside the low loop is at most 1.2 x its
#     p99 alone;
#   - the low loop still gets its floor (5 %) while the high one is active;
#   - the low loop is back to the whole device within 10 ms of the high
#     loop's last kernel (measured on its own afterwards, with only the two
#     loops running, since on a loaded host a process's wake-up alone can
#     take that long; best of up to five);
#   - the same with a compute limit on the low container (60 %): held to
#     the floor while the high one is active, its limit after.
# Latency is measured from the launch call to the kernel's end on the device
# (busy_loop --period-us), so host scheduling noise is not counted. The
# whole measurement is repeated (up to three runs) if a figure is outside its
# margin. Under a sanitizer build the limiter's own path is several times
# slower, so the latency ratio is only held to 2.5 x there: the 1.2 x figure
# is a property of the release build (bench/limiter_compute.sh).
source "$(dirname "$0")/lib.sh"

LOOP="$BUILD/examples/busy_loop"
LIB="$BUILD/libvxpu.so"
PRELOAD="$(ldd "$LOOP" | awk '/libasan/ { printf "%s ", $3 }')$LIB"
P99_FACTOR=1.2
case "$PRELOAD" in *libasan*) P99_FACTOR=2.5 ;; esac
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
unset VXPU_MEMORY_LIMIT VXPU_CORE_LIMIT CUDA_DEVICE_SM_LIMIT VXPU_PRIORITY CUDA_TASK_PRIORITY \
	VXPU_PRIORITY_FLOOR VXPU_REGION CUDA_DEVICE_MEMORY_SHARED_CACHE CUDA_VISIBLE_DEVICES VXPU_LOG
for v in $(env | sed -n 's/^\(VXPU_CORE_LIMIT_[0-9]*\|VXPU_MEMORY_LIMIT_[0-9]*\)=.*/\1/p'); do unset "$v"; done
printf '{"devices": [{}, {}, {}]}\n' >"$WORK/machine.json"
export VXPU_SIM_CONFIG="$WORK/machine.json" VXPU_SIM_STATE="$WORK/sim.state"
export LD_LIBRARY_PATH="$BUILD/sim${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export VXPU_DEVICE_DIR="$WORK/devices"

# container NAME PRIORITY LIMIT ARGS... : output in $WORK/NAME.out
container() {
	local name=$1 priority=$2 limit=$3
	shift 3
	local env_limit=()
	[ "$limit" != none ] && env_limit=(VXPU_CORE_LIMIT="$limit")
	env VXPU_REGION="$WORK/$name.region" VXPU_PRIORITY="$priority" "${env_limit[@]}" \
		LD_PRELOAD="$PRELOAD" "$LOOP" "$@" >"$WORK/$name.out" 2>&1
}
field() { sed -n "s/.*[ ^]$2=\([0-9.]*\).*/\1/p" "$WORK/$1.out" | head -1; }

# low_window LOW HIGH : the low loop's average share while HIGH was measuring
# and active, its share once HIGH was done, and how long after HIGH's last
# kernel the low loop had the whole device again (ms; 1 ms bins).
low_window() {
	awk -v ls="$(field "$1" start_s)" -v hs="$(field "$2" start_s)" \
		-v hstop="$(field "$2" stop_s)" -v hend="$(field "$2" last_end_s)" '
		/^interval / { sub("from_ms=", "", $2); sub("share_percent=", "", $3)
			t[n] = ls + $2 / 1000; s[n] = $3; n++ }
		END {
			for (i = 0; i < n; i++) {
				if (t[i] >= hs + 1 && t[i] + 0.001 <= hstop - 0.01) { held += s[i]; nh++ }
				if (t[i] >= hend + 0.5) { after += s[i]; na++ }
			}
			# the first busy 1 ms bin that starts 5 ms at >= 50 % busy on
			# average (held to the floor, the loop runs single 1 ms kernels
			# 20 ms apart: at most 20 % over 5 ms)
			resume = -1
			for (i = 0; i + 5 < n && resume < 0; i++) {
				if (t[i] < hend || s[i] < 50) continue
				sum = 0
				for (j = i; j < i + 5; j++) sum += s[j]
				if (sum >= 5 * 50) resume = (t[i] - hend) * 1000
			}
			printf "%.2f %.2f %.1f\n", nh ? held / nh : -1, na ? after / na : -1, resume
		}' "$WORK/$1.out"
}

measure() {
	container high_alone high none --device 1 --seconds 4 --warmup-ms 1000 --period-us 5000 &
	container high high none --device 0 --seconds 4 --warmup-ms 1000 --period-us 5000 &
	container low low none --device 0 --seconds 6 --interval-ms 1 &
	container high2 high none --device 2 --seconds 3 --warmup-ms 1000 --period-us 5000 &
	container low60 normal 60 --device 2 --seconds 4 --interval-ms 10 &
	wait
}

judge() {
	local bad=0
	alone=$(field high_alone latency_p99_us)
	shared=$(field high latency_p99_us)
	echo "high loop p99: ${shared:-?} us beside the low loop, ${alone:-?} us alone" \
		"(p50 $(field high latency_p50_us) / $(field high_alone latency_p50_us) us)"
	awk -v a="$alone" -v s="$shared" -v f="$P99_FACTOR" 'BEGIN { exit !(a > 0 && s > 0 && s <= f * a) }' || bad=1
	read -r held after resume <<<"$(low_window low high)"
	echo "low loop: ${held} % while the high loop was active, ${after} % after"
	# the floor, less 5 % of it for the edges of the 1 ms bins
	awk -v h="$held" -v a="$after" 'BEGIN { exit !(h >= 4.75 && a >= 90) }' || bad=1
	read -r held after resume <<<"$(low_window low60 high2)"
	echo "normal loop limited to 60 %: ${held} % while the high loop was active, ${after} % after"
	awk -v h="$held" -v a="$after" 'BEGIN { exit !(h >= 4.75 && h <= 7 && a >= 58 && a <= 62) }' || bad=1
	return $bad
}

for attempt in 1 2 3; do
	measure
	if judge; then
		PASSES=$((PASSES + 1))
		break
	fi
	if [ "$attempt" = 3 ]; then
		echo "FAIL: priority figures outside their margins three times"
		for f in "$WORK"/*.out; do echo "$f: $(grep -v '^interval' "$f")"; done
		FAILS=$((FAILS + 1))
	fi
done

# Resuming: the low loop has the whole device again within 10 ms of the high
# loop's last kernel.
best=-1
for attempt in 1 2 3 4 5; do
	container "rhigh$attempt" high none --device 0 --seconds 2 --warmup-ms 500 --period-us 5000 &
	container "rlow$attempt" low none --device 0 --seconds 3 --interval-ms 1 &
	wait
	read -r held after resume <<<"$(low_window "rlow$attempt" "rhigh$attempt")"
	echo "resume attempt $attempt: whole device again ${resume} ms after the high loop's last kernel"
	if awk -v r="$resume" -v b="$best" 'BEGIN { exit !(r >= 0 && (b < 0 || r < b)) }'; then best=$resume; fi
	awk -v r="$best" 'BEGIN { exit !(r >= 0 && r <= 10) }' && break
done
if awk -v r="$best" 'BEGIN { exit !(r >= 0 && r <= 10) }'; then PASSES=$((PASSES + 1)); else
	echo "FAIL: the low loop resumed ${best} ms after the high loop's last kernel (want <= 10)"
	FAILS=$((FAILS + 1))
fi

# The coordination file: one per device, named by UUID, of layout version 1.
n=$(find "$WORK/devices" -name 'GPU-*.coord' | wc -l)
if [ "$n" = 3 ]; then PASSES=$((PASSES + 1)); else
	echo "FAIL: $n coordination files, want 3"
	FAILS=$((FAILS + 1))
fi
expect_exit 0 "$VXPU" region show --json "$WORK/low.region" || true
expect_exit 0 jq -e '.priority == "low" and .devices[0].compute.held_launches > 0' <<<"$OUT" || true

finish

#!/usr/bin/env bash
# limiter_compute.sh BUILD_DIR - the compute limiter's accuracy on the
# simulated driver (issue 5), the figures docs/benchmarks.md ("## Limiter")
# records. Every measurement runs busy_loop (examples/busy_loop.c) under
# libvxpu.so on its own simulated device, several at once:
#   1. one container at 10/25/50/75 % with 100 us, 1 ms and 20 ms kernels:
#      the share after the first second (6 s runs);
#   2. two containers on one device at 10/90, 30/70, 25/75 and 50/50: their
#      shares and the work ratio against the limit ratio;
#   3. every launch form at 25 %;
#   4. a live change 20 -> 60 % (vxpu region set-limit): the share per
#      250 ms around the change;
#   5. priority: a high loop (1 ms every 5 ms) alone and beside a saturating
#      low loop (latency p50/p99), the low loop's share while held, and how
#      long after the high loop's last kernel it has the device again.
# Nothing is judged here (the tests do that); it prints the figures.
set -euo pipefail
BUILD=${1:?usage: limiter_compute.sh BUILD_DIR}
LOOP="$BUILD/examples/busy_loop"
LIB="$BUILD/libvxpu.so"
VXPU="$BUILD/vxpu"
for f in "$LOOP" "$LIB" "$VXPU"; do
	if [ ! -e "$f" ]; then
		echo "limiter_compute: $f is missing; build first (make build)" >&2
		exit 1
	fi
done
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
unset VXPU_MEMORY_LIMIT VXPU_CORE_LIMIT CUDA_DEVICE_SM_LIMIT VXPU_PRIORITY CUDA_TASK_PRIORITY \
	VXPU_PRIORITY_FLOOR VXPU_REGION CUDA_DEVICE_MEMORY_SHARED_CACHE CUDA_VISIBLE_DEVICES VXPU_LOG
printf '{"devices": [%s]}\n' "$(printf '{},%.0s' $(seq 15)){}" >"$WORK/machine.json"
export VXPU_SIM_CONFIG="$WORK/machine.json" VXPU_SIM_STATE="$WORK/sim.state"
export LD_LIBRARY_PATH="$BUILD/sim${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export VXPU_DEVICE_DIR="$WORK/devices"

# c NAME PRIORITY LIMIT ARGS... (PRIORITY/LIMIT "-" for none)
c() {
	local name=$1 prio=$2 limit=$3
	shift 3
	local e=(VXPU_REGION="$WORK/$name.region")
	[ "$prio" != - ] && e+=(VXPU_PRIORITY="$prio")
	[ "$limit" != - ] && e+=(VXPU_CORE_LIMIT="$limit")
	env "${e[@]}" LD_PRELOAD="$LIB" "$LOOP" "$@" >"$WORK/$name.out" 2>&1
}
f() { sed -n "s/.*[ ^]$2=\([0-9.]*\).*/\1/p" "$WORK/$1.out" | head -1; }

echo "## 1. one container, share after the first second (6 s runs), load $(cut -d' ' -f1 /proc/loadavg)"
# in two batches, so that the host can launch 100 us kernels fast enough
dev=0
for k in 100 1000 20000; do
	for l in 10 25 50 75; do
		c "s${l}_$k" - "$l" --device $dev --kernel-us $k --seconds 6 --warmup-ms 1000 &
		dev=$((dev + 1))
	done
	[ "$k" = 100 ] && c s_none - - --device 12 --kernel-us 100 --seconds 6 --warmup-ms 1000 &
	[ "$k" != 1000 ] && wait
done
printf "%-8s %10s %10s %10s\n" limit "100 us" "1 ms" "20 ms"
for l in 10 25 50 75; do
	printf "%-8s %9s%% %9s%% %9s%%\n" "$l %" "$(f "s${l}_100" device_share_percent)" \
		"$(f "s${l}_1000" device_share_percent)" "$(f "s${l}_20000" device_share_percent)"
done
echo "no limit, 100 us kernels: $(f s_none device_share_percent) % (host launch rate bound)"

echo
echo "## 2. two containers on one device (1 ms kernels, 6 s), 3. launch forms at 25 %"
dev=0
for p in "10 90" "30 70" "25 75" "50 50"; do
	read -r a b <<<"$p"
	c "p${a}_${b}a" - "$a" --device $dev --seconds 6 --warmup-ms 1000 &
	c "p${a}_${b}b" - "$b" --device $dev --seconds 6 --warmup-ms 1000 &
	dev=$((dev + 1))
done
wait
for form in "plain" "ex" "cooperative" "graph"; do
	c "form_$form" - 25 --device $dev --seconds 6 --warmup-ms 1000 --launch $form &
	c "formpt_$form" - 25 --device $((dev + 1)) --seconds 6 --warmup-ms 1000 --launch $form --per-thread &
	dev=$((dev + 2))
done
wait
printf "%-8s %10s %10s %14s\n" limits "share A" "share B" "ratio/limits"
for p in "10 90" "30 70" "25 75" "50 50"; do
	read -r a b <<<"$p"
	sa=$(f "p${a}_${b}a" device_share_percent)
	sb=$(f "p${a}_${b}b" device_share_percent)
	printf "%-8s %9s%% %9s%% %14s\n" "$a/$b" "$sa" "$sb" \
		"$(awk -v sa="$sa" -v sb="$sb" -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", (sa / sb) / (a / b) }')"
done
for form in plain ex cooperative graph; do
	echo "$form: $(f "form_$form" device_share_percent) %, per-thread stream: $(f "formpt_$form" device_share_percent) %"
done

echo
echo "## 4. live change 20 -> 60 % at 2 s (share per 250 ms)"
c live - 20 --device 0 --seconds 5 --interval-ms 250 &
for _ in $(seq 100); do
	n=$("$VXPU" region show --json "$WORK/live.region" 2>/dev/null | jq '.devices[0].compute.launches // 0' 2>/dev/null || echo 0)
	[ "${n:-0}" -gt 0 ] && break
	sleep 0.05
done
sleep 2
cut -d' ' -f1 /proc/uptime >"$WORK/change"
"$VXPU" region set-limit "$WORK/live.region" 0 60
wait
echo "set-limit ran at $(awk -v s="$(f live start_s)" '{ printf "%.2f", $1 - s }' "$WORK/change") s (it takes ~0.5 s to start):"
sed -n 's/^interval from_ms=\([0-9]*\) share_percent=\([0-9.]*\)$/\1:\2/p' "$WORK/live.out" | tr '\n' ' '
echo

echo
echo "## 5. priority (1 ms kernel every 5 ms, high; 1 ms kernels back to back, low)"
c alone high - --device 1 --seconds 6 --warmup-ms 1000 --period-us 5000 &
c high high - --device 0 --seconds 6 --warmup-ms 1000 --period-us 5000 &
c low low - --device 0 --seconds 7 --interval-ms 1 &
wait
echo "high alone:      p50 $(f alone latency_p50_us) us, p99 $(f alone latency_p99_us) us, max $(f alone latency_max_us) us"
echo "high beside low: p50 $(f high latency_p50_us) us, p99 $(f high latency_p99_us) us, max $(f high latency_max_us) us"
awk -v ls="$(f low start_s)" -v hs="$(f high start_s)" -v hstop="$(f high stop_s)" -v hend="$(f high last_end_s)" '
	/^interval / { sub("from_ms=", "", $2); sub("share_percent=", "", $3); t[n] = ls + $2 / 1000; s[n] = $3; n++ }
	END {
		for (i = 0; i < n; i++) {
			if (t[i] >= hs + 1 && t[i] + 0.001 <= hstop - 0.01) { held += s[i]; nh++ }
			if (t[i] >= hend + 0.5) { after += s[i]; na++ }
		}
		resume = -1
		for (i = 0; i + 5 < n && resume < 0; i++) {
			if (t[i] < hend || s[i] < 50) continue
			sum = 0
			for (j = i; j < i + 5; j++) sum += s[j]
			if (sum >= 5 * 50) resume = (t[i] - hend) * 1000
		}
		printf "low loop: %.2f %% while the high loop was active (floor 5 %%), %.2f %% after; device again %.1f ms after the high loop'"'"'s last kernel\n", held / nh, after / na, resume
	}' "$WORK/low.out"

#!/usr/bin/env bash
# The mixes experiment of the trace simulator (vxpu_bench_simulate remix, run
# by bench/simulate.sh) on a small made-up trace: every kind of mix draws its
# class shares from its documented ranges, replays fgd and fragaware on each
# mix and prints the tally; the same arguments give the same output; a bad
# kind or draw seed is a usage error (exit 2) that names it.
# timeout: 120
source "$(dirname "$0")/lib.sh"

BENCH="$BUILD/bench/simulate/vxpu_bench_simulate"
if [ ! -x "$BENCH" ]; then
	echo "no $BENCH (benchmarks not built): skipped"
	exit 77
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

sample_nodes_csv "$TMP/nodes.csv"

# 64 tasks of every class: fractional, whole, multi-GPU, GPU-less, model-bound.
sample_pods_csv "$TMP/pods.csv" 64

REMIX=("$BENCH" remix "$TMP/nodes.csv" "$TMP/pods.csv")

# kind: fractional, multi, bound, GPU-less ranges (bench/simulate/simulate_bench.c).
declare -A RANGES=(
	[like]="0.15 0.60 0.00 0.08 0.00 0.30 0.02 0.30"
	[share]="0.55 0.85 0.00 0.03 0.00 0.15 0.02 0.10"
	[multi]="0.15 0.40 0.08 0.20 0.00 0.15 0.02 0.15"
	[cpu]="0.15 0.40 0.00 0.03 0.00 0.15 0.30 0.55"
	[spec]="0.15 0.40 0.00 0.03 0.30 0.60 0.02 0.15"
)
for kind in like share multi cpu spec; do
	expect_exit 0 "${REMIX[@]}" 3 2 "$kind" 11 || continue
	expect_output "3 mixes of kind $kind (draw seed 11), seeds 42..43" || true
	expect_output "fragaware beats fgd on " || true
	first="$OUT"
	# Three rows, each with its shares inside the kind's ranges and two results.
	read -r -a r <<<"${RANGES[$kind]}"
	bad=$(awk -v f0="${r[0]}" -v f1="${r[1]}" -v m0="${r[2]}" -v m1="${r[3]}" \
		-v s0="${r[4]}" -v s1="${r[5]}" -v c0="${r[6]}" -v c1="${r[7]}" '
		$1 ~ /^[0-9]+$/ && NF == 12 && $7 == "±" {
			rows++
			if ($2 < f0 || $2 > f1 || $3 < m0 || $3 > m1 || $4 < s0 || $4 > s1 ||
			    $5 < c0 || $5 > c1) print "shares out of range: " $0
		}
		END { if (rows != 3) print rows " rows, want 3" }' <<<"$OUT")
	if [ -n "$bad" ]; then
		echo "FAIL: remix $kind: $bad"
		FAILS=$((FAILS + 1))
	else
		PASSES=$((PASSES + 1))
	fi
	# Deterministic: the same arguments give the same table.
	expect_exit 0 "${REMIX[@]}" 3 2 "$kind" 11 || true
	if [ "$OUT" != "$first" ]; then
		echo "FAIL: remix $kind differs between two runs"
		FAILS=$((FAILS + 1))
	else
		PASSES=$((PASSES + 1))
	fi
done

# The default kind and draw seed are `like` and 2023.
expect_exit 0 "${REMIX[@]}" 1 1 || true
expect_output "1 mixes of kind like (draw seed 2023), seeds 42..42" || true

expect_exit 2 "${REMIX[@]}" 2 1 heavy || true
expect_output 'unknown KIND "heavy" (like, share, multi, cpu, spec)' || true
expect_exit 2 "${REMIX[@]}" 2 1 like 12x || true
expect_output 'DRAW "12x" is not a number' || true
expect_exit 2 "${REMIX[@]}" 0 1 || true
expect_output "MIXES in 1..1000" || true

finish

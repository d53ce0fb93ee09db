#!/usr/bin/env bash
# vxpu simulate on a small made-up trace: the table, JSON and curve outputs,
# results that do not depend on --jobs, strict input (FILE:LINE: COLUMN:
# PROBLEM, exit 1) and strict flags (exit 2 naming the flag or value).
source "$(dirname "$0")/lib.sh"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

sample_nodes_csv "$TMP/nodes.csv"
echo "cpu0,4000,16384,0," >>"$TMP/nodes.csv"

# 48 tasks: fractional, whole, multi-GPU, GPU-less and model-bound ones.
sample_pods_csv "$TMP/pods.csv" 48 LS

SIM=("$VXPU" simulate --nodes "$TMP/nodes.csv" --pods "$TMP/pods.csv")

# The table: every policy, the trace and the run described.
expect_exit 0 "${SIM[@]}" --seeds 1..3 || true
for p in random bestfit dotprod packing clustering fgd binpack spread fragaware; do
	expect_output "$p " || true
done
expect_output "pods.csv, 48 tasks; nodes.csv, 7 GPU nodes, 29 GPUs (1 nodes without GPU left out)" || true
expect_output "tune 1.3, seeds 1..3" || true
expect_output "unallocated GPU %" || true

# JSON, with one entry per chosen policy and per seed.
expect_exit 0 "${SIM[@]}" --policy fgd,fragaware --seeds 7 --tune 1.5 --json || true
expect_output '"unallocated_gpu_pct"' || true
if command -v jq >/dev/null; then
	if ! jq -e '(.policies | length) == 2 and .policies[1].policy == "fragaware"
		and (.policies[0].unallocated_gpu_pct.per_seed | length) == 1
		and .tune == 1.5 and .seeds == [7] and .nodes.gpus == 29' <<<"$OUT" >/dev/null; then
		echo "FAIL: unexpected JSON: $OUT"
		FAILS=$((FAILS + 1))
	else
		PASSES=$((PASSES + 1))
	fi
fi

# The curve, and the same results whatever the number of threads.
expect_exit 0 "${SIM[@]}" --seeds 1..4 --jobs 1 --curve "$TMP/c1.csv" || true
expect_exit 0 "${SIM[@]}" --seeds 1..4 --jobs 3 --curve "$TMP/c3.csv" || true
if ! cmp -s "$TMP/c1.csv" "$TMP/c3.csv"; then
	echo "FAIL: curves differ between --jobs 1 and --jobs 3"
	FAILS=$((FAILS + 1))
else
	PASSES=$((PASSES + 1))
fi
if [ "$(head -1 "$TMP/c1.csv")" != "policy,seed,arrived_pct,arrivals,allocated_pct,unallocated_pct,frag_rate_pct" ] ||
	! grep -q '^fragaware,4,' "$TMP/c1.csv"; then
	echo "FAIL: curve file:"
	head -3 "$TMP/c1.csv"
	FAILS=$((FAILS + 1))
else
	PASSES=$((PASSES + 1))
fi

# Arrivals that never reach 100 %: no figure, said so, not an error.
expect_exit 0 "${SIM[@]}" --policy bestfit --seeds 1 --tune 0.5 || true
expect_output "arrivals stop short of 100 %" || true
expect_output "n/a" || true

# Malformed input: FILE:LINE: COLUMN: PROBLEM, exit 1.
sed '3s/,500,/,1200,/' "$TMP/pods.csv" >"$TMP/bad_milli.csv"
expect_exit 1 "$VXPU" simulate --nodes "$TMP/nodes.csv" --pods "$TMP/bad_milli.csv" || true
expect_output "bad_milli.csv:3: gpu_milli: 1200 is out of range 0..1000" || true
sed '2s/,1000,/,10x0,/' "$TMP/pods.csv" >"$TMP/bad_cpu.csv"
expect_exit 1 "$VXPU" simulate --nodes "$TMP/nodes.csv" --pods "$TMP/bad_cpu.csv" || true
expect_output 'bad_cpu.csv:2: cpu_milli: "10x0" is not a whole number' || true
sed '3s/,8,G2$/,8/' "$TMP/nodes.csv" >"$TMP/bad_nodes.csv"
expect_exit 1 "$VXPU" simulate --nodes "$TMP/bad_nodes.csv" --pods "$TMP/pods.csv" || true
expect_output "bad_nodes.csv:3: model: missing (4 fields, the header has 5)" || true
cut -d, -f1-4 "$TMP/pods.csv" >"$TMP/no_milli.csv"
expect_exit 1 "$VXPU" simulate --nodes "$TMP/nodes.csv" --pods "$TMP/no_milli.csv" || true
expect_output "no_milli.csv:1: gpu_milli: missing column" || true
expect_exit 1 "$VXPU" simulate --nodes "$TMP/missing.csv" --pods "$TMP/pods.csv" || true
expect_output "cannot open $TMP/missing.csv" || true

# Usage errors name the flag or value; an unknown policy lists the policies.
expect_exit 2 "${SIM[@]}" --policy fgd,best || true
expect_output 'unknown policy "best" (policies: random, bestfit, dotprod, packing, clustering, fgd, binpack, spread, fragaware)' || true
expect_output "vxpu simulate --help" || true
expect_exit 2 "${SIM[@]}" --policy fgd,fgd || true
expect_output '"fgd" given twice' || true
expect_exit 2 "${SIM[@]}" --seeds 9..3 || true
expect_output '--seeds: "9..3"' || true
expect_exit 2 "${SIM[@]}" --seeds 1-3 || true
expect_output '--seeds: "1-3"' || true
expect_exit 2 "${SIM[@]}" --tune 0 || true
expect_output "--tune: 0 is out of range" || true
expect_exit 2 "${SIM[@]}" --tune 1,3 || true
expect_output '--tune: "1,3" is not a decimal number' || true
expect_exit 2 "${SIM[@]}" --jobs 0 || true
expect_output '--jobs: "0"' || true
expect_exit 2 "${SIM[@]}" --frobnicate || true
expect_output 'unknown flag "--frobnicate"' || true
expect_exit 2 "${SIM[@]}" --json --json || true
expect_output "--json given twice" || true
expect_exit 2 "${SIM[@]}" --curve || true
expect_output "--curve needs a value" || true
expect_exit 2 "$VXPU" simulate --pods "$TMP/pods.csv" || true
expect_output "--nodes is required" || true
expect_exit 2 "${SIM[@]}" stray || true
expect_output 'unexpected argument "stray"' || true

expect_exit 0 "$VXPU" simulate --help || true
expect_output "usage: vxpu simulate" || true

finish

#!/usr/bin/env bash
# bench.sh BUILD_DIR - runs every benchmark of bench/ and prints its figures.
# Each benchmark is a script bench/NAME.sh taking the build dir; each prints
# its ratios and figures, measured side by side in the same run.
set -euo pipefail
BUILD=${1:?usage: bench.sh BUILD_DIR}
cd "$(dirname "$0")/.."
shopt -s nullglob
benches=(bench/*.sh)
if [ ${#benches[@]} -eq 0 ]; then
	echo "bench: no benchmarks in bench/"
	exit 0
fi
for b in "${benches[@]}"; do
	echo "== $(basename "$b" .sh)"
	bash "$b" "$BUILD"
done

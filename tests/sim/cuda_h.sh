#!/usr/bin/env bash
# Builds tests/sim/real_header_app.c against NVIDIA's real cuda.h and runs it
# on the simulated libcuda.so.1. Skipped (exit 77) when cuda.h is not
# installed: the simulator itself never needs the toolkit.
# Usage: cuda_h.sh BUILD_DIR
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR}
HEADER_DIR=${CUDA_INCLUDE_DIR:-/usr/local/cuda/include}
if [ ! -f "$HEADER_DIR/cuda.h" ]; then
	echo "skipped: $HEADER_DIR/cuda.h is not installed"
	exit 77
fi
WORK=$(mktemp -d /tmp/vxpu-sim-cudah.XXXXXX)
export VXPU_SIM_STATE=/dev/shm/vxpu-it-sim-cudah-$$
trap 'rm -rf "$WORK"; rm -f "$VXPU_SIM_STATE"' EXIT
unset VXPU_SIM_CONFIG CUDA_VISIBLE_DEVICES
SRC="$(dirname "$0")/real_header_app.c"
SAN=()
if readelf -d "$BUILD/sim/libcuda.so.1" | grep -q 'libasan'; then
	SAN=(-fsanitize=address,undefined) # a sanitizer build: the program needs the runtime too
fi
${CC:-cc} -std=c11 -Wall -Werror "${SAN[@]}" -I"$HEADER_DIR" "$SRC" -o "$WORK/app" \
	-L"$BUILD/sim" -lcuda -Wl,-rpath,"$BUILD/sim"
out=$("$WORK/app")
echo "$out"
[[ "$out" == "ok cuda=13000 devices=2 name=\"VXPU-SIM 16GB\""* ]]

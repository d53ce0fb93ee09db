#!/usr/bin/env bash
# demo.sh BUILD_DIR - the README's main job on the embedded default.
set -euo pipefail
BUILD=${1:?usage: demo.sh BUILD_DIR}
VXPU="$BUILD/vxpu"
"$VXPU" version
"$VXPU" --help

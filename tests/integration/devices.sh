#!/usr/bin/env bash
# vxpu devices over the inventory backend, and its usage errors.
source "$(dirname "$0")/lib.sh"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

cat >"$TMP/inv.json" <<'JSON'
{"version": 1, "vendor": "huawei",
 "devices": [{"model": "Ascend910B4", "memory": "32GiB", "numa": 0},
             {"model": "Ascend910B4", "memory": "32GiB", "numa": 1, "healthy": false}],
 "links": [{"between": [0, 1], "type": "hccs", "width": 7}]}
JSON

expect_exit 0 "$VXPU" devices --backend inventory --inventory "$TMP/inv.json" || true
expect_output "Ascend910B4" || true
expect_output "32GiB" || true
expect_output "FAILED" || true

expect_exit 0 env VXPU_BACKEND=inventory VXPU_INVENTORY="$TMP/inv.json" "$VXPU" devices --json || true
expect_output '"vendor":	"huawei"' || true
expect_output '"type":	"hccs"' || true
expect_output '"memory_mib":	32768' || true

echo '{"version": 1, "vendor": "x", "devices": [{"model": "m", "memory": "12abc"}]}' >"$TMP/bad.json"
expect_exit 1 "$VXPU" devices --backend=inventory --inventory="$TMP/bad.json" || true
expect_output "bad.json: devices[0].memory: invalid size \"12abc\"" || true

expect_exit 2 "$VXPU" devices --backend gpu || true
expect_output 'invalid --backend "gpu"' || true
expect_exit 2 "$VXPU" devices --backend || true
expect_output "--backend needs a value" || true
expect_exit 2 "$VXPU" devices --colour || true
expect_output '"--colour"' || true
expect_exit 2 env VXPU_BACKEND=cuda "$VXPU" devices || true
expect_output 'VXPU_BACKEND "cuda"' || true

# Without a GPU, auto explains how to try the simulator.
if ! ldconfig -p 2>/dev/null | grep -q libnvidia-ml.so.1; then
	expect_exit 1 env -u VXPU_BACKEND "$VXPU" devices || true
	expect_output "--backend sim" || true
fi
finish

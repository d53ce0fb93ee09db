#!/usr/bin/env bash
# Node agent device plugin against a protocol-level kubelet (Debian's
# python3 with python3-grpcio, tests/integration/agent_kubelet.py) on the
# simulated driver: registration, ListAndWatch with XID 79 turning a card
# unhealthy within 1 s and back, options, preferred allocation, Allocate's
# exact environment, mounts and device nodes, 20 pods in a row, a retried
# Allocate, a malformed annotation, no lease, a kubelet restart, SIGTERM.
# timeout: 90
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d /tmp/vxpu-agent-plugin.XXXXXX)
export VXPU_SIM_STATE=/dev/shm/vxpu-it-agent-plugin-$$
trap 'rm -rf "$WORK"; rm -f "$VXPU_SIM_STATE"' EXIT
unset VXPU_SIM_CONFIG CUDA_VISIBLE_DEVICES VXPU_BACKEND
if ! /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null; then
	echo "FAIL: /usr/bin/python3 lacks grpc (python3-grpcio) or protobuf (python3-protobuf)"
	exit 1
fi
if /usr/bin/python3 "$(dirname "$0")/agent_kubelet.py" "$BUILD" "$WORK"; then
	PASSES=$((PASSES + 1))
else
	FAILS=$((FAILS + 1))
fi
expect_exit 2 "$VXPU" node plugin --backend sim
expect_output "plugin needs --allocations DIR"
expect_exit 2 "$VXPU" node plugin --backend sim --allocations "$WORK" --slices 0
expect_output 'invalid --slices "0"'
expect_exit 2 "$VXPU" node plugin --backend sim --allocations "$WORK" --resource gpu
expect_output 'invalid --resource "gpu"'
expect_exit 2 "$VXPU" node plugin --backend sim --allocations "$WORK" --state-dir relative/dir
expect_output 'invalid --state-dir "relative/dir"'
expect_exit 2 "$VXPU" node plugin --backend sim --allocations "$WORK" --endpoint a/b.sock
expect_output 'invalid --endpoint "a/b.sock"'
finish

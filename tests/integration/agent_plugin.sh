#!/usr/bin/env bash
# The node agent (`vxpu node agent`) against a protocol-level kubelet
# (Debian's python3 with python3-grpcio, tests/integration/agent_kubelet.py)
# and the test API server (tests/unit/sched/fake_apiserver.py), on the
# simulated driver: registration with kubelet, the node registration
# annotation on the Node (at start, as a heartbeat, within 1 s of an XID),
# ListAndWatch with XID 79 turning a card unhealthy within 1 s and back,
# Warning / Normal Events on the pods of that card, options, preferred
# allocation, Allocate's exact environment, mounts and device nodes for a
# pod whose allocation annotation and Lease the test wrote, the Lease
# released and the bind phase set, 20 pods in a row, a retried Allocate, a
# malformed annotation, no lease, a kubelet restart, SIGTERM.
# timeout: 90
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d /tmp/vxpu-agent-plugin.XXXXXX)
export VXPU_SIM_STATE=/dev/shm/vxpu-it-agent-plugin-$$
trap 'rm -rf "$WORK"; rm -f "$VXPU_SIM_STATE"' EXIT
unset VXPU_SIM_CONFIG CUDA_VISIBLE_DEVICES VXPU_BACKEND KUBECONFIG KUBERNETES_SERVICE_HOST NODE_NAME
if ! /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null; then
	echo "FAIL: /usr/bin/python3 lacks grpc (python3-grpcio) or protobuf (python3-protobuf)"
	exit 1
fi
if /usr/bin/python3 "$(dirname "$0")/agent_kubelet.py" "$BUILD" "$WORK"; then
	PASSES=$((PASSES + 1))
else
	FAILS=$((FAILS + 1))
fi
printf 'current-context: t\ncontexts: [{name: t, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\n' >"$WORK/kc"
expect_exit 1 "$VXPU" node agent --backend sim --in-cluster
expect_output "not in a cluster"
expect_exit 2 "$VXPU" node agent --backend sim --kubeconfig "$WORK/kc" --in-cluster
expect_output "--in-cluster and --kubeconfig exclude each other"
expect_exit 2 "$VXPU" node agent --backend sim --kubeconfig "$WORK/kc" --slices 0
expect_output 'invalid --slices "0"'
expect_exit 2 "$VXPU" node agent --backend sim --kubeconfig "$WORK/kc" --resource gpu
expect_output 'invalid --resource "gpu"'
expect_exit 2 "$VXPU" node agent --backend sim --kubeconfig "$WORK/kc" --state-dir relative/dir
expect_output 'invalid --state-dir "relative/dir"'
expect_exit 2 "$VXPU" node agent --backend sim --kubeconfig "$WORK/kc" --heartbeat 10ms
expect_output '--heartbeat: invalid duration "10ms": must be 1s to 1h'
expect_exit 2 "$VXPU" node plugin --backend sim --kubeconfig "$WORK/kc" --allocations "$WORK"
expect_output 'unknown flag "--allocations"'
finish

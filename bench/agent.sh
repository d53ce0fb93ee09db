#!/usr/bin/env bash
# agent.sh BUILD_DIR - the node agent's kubelet Allocate latency against the
# test API server (bench/agent_bench.py; target p99 <= 5 ms): each Allocate
# reads the node's allocation Lease and the pod, answers, and releases the
# Lease and writes the bind phase right after. Needs /usr/bin/python3 with
# python3-grpcio and python3-protobuf.
set -euo pipefail
BUILD=${1:?usage: agent.sh BUILD_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/vxpu-bench-agent.XXXXXX)
export VXPU_SIM_STATE=/dev/shm/vxpu-bench-agent-$$
trap 'rm -rf "$WORK"; rm -f "$VXPU_SIM_STATE"' EXIT
unset VXPU_SIM_CONFIG CUDA_VISIBLE_DEVICES VXPU_BACKEND KUBECONFIG KUBERNETES_SERVICE_HOST
/usr/bin/python3 "$HERE/agent_bench.py" "$BUILD" "$WORK" "${VXPU_BENCH_AGENT_PODS:-300}"

#!/usr/bin/env bash
# demo.sh BUILD_DIR - the README's main job: share one machine's GPUs by
# fractions with `vxpu run`, watch them with `vxpu ps`, see one workload hit
# its memory limit, and bill the usage with `vxpu report`.
#
# On a machine without an NVIDIA GPU it runs on vxpu's simulated driver: four
# 40 GiB devices in two NVLink pairs. With a GPU (libnvidia-ml.so.1 present
# and reporting a device) it runs on the real devices instead; set
# VXPU_BACKEND=sim to force the simulator.
set -euo pipefail
BUILD=$(cd "${1:?usage: demo.sh BUILD_DIR}" && pwd)
VXPU="$BUILD/vxpu"
EX="$BUILD/examples"
DEMO=$(mktemp -d /tmp/vxpu-demo.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$DEMO"
}
trap cleanup EXIT
export VXPU_HOME="$DEMO/home"

if [ -z "${VXPU_BACKEND:-}" ]; then
	if "$VXPU" devices --backend nvml >/dev/null 2>&1; then
		export VXPU_BACKEND=nvml
	else
		export VXPU_BACKEND=sim
	fi
fi
if [ "$VXPU_BACKEND" = sim ]; then
	cat >"$DEMO/machine.json" <<'JSON'
{
  "driver_version": "580.65.06",
  "cuda_version": "13.0",
  "devices": [
    {"name": "NVIDIA A100-SXM4-40GB", "memory": "40GiB", "sm_count": 108, "numa_node": 0, "compute_capability": "8.0"},
    {"name": "NVIDIA A100-SXM4-40GB", "memory": "40GiB", "sm_count": 108, "numa_node": 0, "compute_capability": "8.0"},
    {"name": "NVIDIA A100-SXM4-40GB", "memory": "40GiB", "sm_count": 108, "numa_node": 1, "compute_capability": "8.0"},
    {"name": "NVIDIA A100-SXM4-40GB", "memory": "40GiB", "sm_count": 108, "numa_node": 1, "compute_capability": "8.0"}
  ],
  "links": [
    {"devices": [0, 1], "type": "nvlink", "count": 12},
    {"devices": [2, 3], "type": "nvlink", "count": 12},
    {"devices": [0, 2], "type": "cross-cpu"}, {"devices": [0, 3], "type": "cross-cpu"},
    {"devices": [1, 2], "type": "cross-cpu"}, {"devices": [1, 3], "type": "cross-cpu"}
  ]
}
JSON
	export VXPU_SIM_CONFIG="$DEMO/machine.json" VXPU_SIM_STATE="$DEMO/sim.state"
	echo "== A simulated machine: 4 x A100 40GB, two NVLink pairs (no GPU needed)"
else
	echo "== This machine's GPUs"
fi
export LD_LIBRARY_PATH="$BUILD/sim${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
[ "$VXPU_BACKEND" = sim ] || unset LD_LIBRARY_PATH
"$VXPU" devices
echo

step() { printf '\n== %s\n' "$*"; }

step "Four workloads share the machine at once"
echo "\$ vxpu run --gpus 2 --gpu-mem 20GiB --gpu-cores 50 --tenant research --project llm --user alice -- busy_loop --seconds 6"
"$VXPU" run --gpus 2 --gpu-mem 20GiB --gpu-cores 50 --tenant research --project llm --user alice \
	-- "$EX/busy_loop" --kernel-us 2000 --seconds 6 >"$DEMO/train.out" 2>&1 &
PIDS+=($!)
echo "\$ vxpu run --gpu-mem 8GiB --gpu-cores 30 --priority high --tenant product --project chat --user bob -- busy_loop --seconds 6"
"$VXPU" run --gpu-mem 8GiB --gpu-cores 30 --priority high --tenant product --project chat --user bob \
	-- "$EX/busy_loop" --kernel-us 1000 --seconds 6 >"$DEMO/serve.out" 2>&1 &
PIDS+=($!)
echo "\$ vxpu run --gpu-mem 6GiB --tenant research --project notebooks --user carol -- alloc_loop 5GiB --hold 6"
"$VXPU" run --gpu-mem 6GiB --tenant research --project notebooks --user carol \
	-- "$EX/alloc_loop" 5GiB --chunk 1GiB --hold 6 >"$DEMO/notebook.out" 2>&1 &
PIDS+=($!)
echo "\$ vxpu run --gpu-mem 10% --priority low --tenant analytics --user dave -- alloc_loop 2GiB --hold 6"
"$VXPU" run --gpu-mem 10% --priority low --tenant analytics --project batch --user dave \
	-- "$EX/alloc_loop" 2GiB --chunk 512MiB --hold 6 >"$DEMO/batch.out" 2>&1 &
PIDS+=($!)

# Let them start and allocate, then look.
for _ in $(seq 50); do
	n=$("$VXPU" ps --json | grep -c '"id"' || true)
	[ "$n" -ge 4 ] && break
	sleep 0.1
done
sleep 1.5
step "vxpu ps (live usage read from each allocation's region)"
"$VXPU" ps
step "vxpu devices (allocated fractions, used memory, utilisation)"
"$VXPU" devices

step "A workload that asks for more than its fraction gets a clean out-of-memory"
echo "\$ vxpu run --gpu-mem 2GiB --tenant analytics --user erin -- alloc_loop 3GiB --chunk 512MiB"
set +e
"$VXPU" run --gpu-mem 2GiB --tenant analytics --project batch --user erin -- "$EX/alloc_loop" 3GiB --chunk 512MiB
rc=$?
set -e
echo "(exit status $rc: CUDA_ERROR_OUT_OF_MEMORY at the 2 GiB limit, though the device has room)"

step "A request that does not fit now says why; with --wait it queues"
set +e
"$VXPU" run --gpus 4 --gpu-mem 30GiB -- true
set -e
echo "\$ vxpu run --gpus 4 --gpu-mem 30GiB --wait=60s -- echo got all four devices"
"$VXPU" run --gpus 4 --gpu-mem 30GiB --wait=60s --tenant research --project llm --user alice -- echo "got all four devices"

for p in "${PIDS[@]}"; do wait "$p" || true; done
PIDS=()
step "What the workloads printed"
for f in train serve notebook batch; do
	printf -- '-- %s: %s\n' "$f" "$(tail -n 1 "$DEMO/$f.out")"
done

cat >"$DEMO/prices.json" <<'JSON'
{"version": 1, "currency": "EUR", "models": {"NVIDIA A100-SXM4-40GB": 2.40}, "default": 1.00}
JSON
step "vxpu report --by tenant --price-book prices.json"
"$VXPU" report --by tenant --price-book "$DEMO/prices.json"
step "vxpu report --by user --format csv"
"$VXPU" report --by user --format csv --price-book "$DEMO/prices.json"
echo
echo "Done. Everything above ran through vxpu run on the ${VXPU_BACKEND} backend; state was in $VXPU_HOME (removed)."

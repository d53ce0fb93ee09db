#!/usr/bin/env bash
# Simulated driver: the devices, links and versions of VXPU_SIM_CONFIG are
# what CUDA and NVML report; without it, the default machine; a bad file
# makes cuInit and nvmlInit fail with one stderr line naming file, field and
# problem.
source "$(dirname "$0")/lib.sh"
PROBE="$BUILD/sim-tests/sim_probe"
WORK=$(mktemp -d /tmp/vxpu-sim-enum.XXXXXX)
export VXPU_SIM_STATE=/dev/shm/vxpu-it-sim-enum-$$
trap 'rm -rf "$WORK"; rm -f /dev/shm/vxpu-it-sim-enum-$$*' EXIT
unset VXPU_SIM_CONFIG CUDA_VISIBLE_DEVICES

# The default machine.
expect_exit 0 "$PROBE" enum
expect_output 'cuda count=2'
expect_output 'cuda dev=0 name="VXPU-SIM 16GB" mem=17179869184 sms=80 cc=9.0 bus=0000:01:00.0'
expect_output 'nvml count=2 driver=580.65.06 cuda=13000'

cat >"$WORK/machine.json" <<'JSON'
{
  "driver_version": "575.57.08",
  "cuda_version": "12.9",
  "devices": [
    {"name": "NVIDIA H100 80GB HBM3", "memory": "80GiB", "sm_count": 132,
     "uuid": "GPU-11111111-2222-3333-4444-555555555555",
     "pci_bus_id": "00000000:1B:00.0", "numa_node": 0, "compute_capability": "9.0"},
    {"name": "NVIDIA H100 80GB HBM3", "memory": "80GiB", "sm_count": 132,
     "pci_bus_id": "00000000:43:00.0", "numa_node": 0},
    {"name": "NVIDIA L4", "memory": "24GiB", "sm_count": 58,
     "pci_bus_id": "00000000:A1:00.0", "numa_node": 1, "compute_capability": "8.9"}
  ],
  "links": [
    {"devices": [0, 1], "type": "nvlink", "count": 12},
    {"devices": [0, 1], "type": "pcie-switch"},
    {"devices": [1, 2], "type": "cross-cpu"}
  ]
}
JSON
export VXPU_SIM_CONFIG="$WORK/machine.json"
export VXPU_SIM_STATE=/dev/shm/vxpu-it-sim-enum-$$-b
expect_exit 0 "$PROBE" enum
expect_output 'cuda count=3'
expect_output 'cuda dev=0 name="NVIDIA H100 80GB HBM3" mem=85899345920 sms=132 cc=9.0 bus=0000:1B:00.0 uuid0=11 back=0'
expect_output 'cuda dev=2 name="NVIDIA L4" mem=25769803776 sms=58 cc=8.9 bus=0000:A1:00.0'
expect_output 'nvml count=3 driver=575.57.08 cuda=12090'
expect_output 'nvml dev=0 name="NVIDIA H100 80GB HBM3" uuid=GPU-11111111-2222-3333-4444-555555555555 bus=00000000:1B:00.0 mem=85899345920 minor=0 numa=0 byuuid=0 nvlinks=12'
expect_output 'nvml dev=2 name="NVIDIA L4"'
expect_output 'numa=1 byuuid=2 nvlinks=0'
expect_output 'topo 0 1 10'   # PCIe switch: SINGLE
expect_output 'topo 1 2 50'   # across CPUs: SYSTEM
expect_output 'topo 0 2 50'   # other NUMA node, no link: SYSTEM
expect_output 'topo 2 2 0'    # itself: INTERNAL
# The NVLink peers of device 0 are all device 1.
expect_exit 0 "$PROBE" enum
[[ "$OUT" == *"peers=00000000:43:00.0,00000000:43:00.0,"* ]] && PASSES=$((PASSES + 1)) ||
	{ echo "FAIL: nvlink peers"; FAILS=$((FAILS + 1)); }

# CUDA_VISIBLE_DEVICES selects and reorders, by index or UUID prefix.
CUDA_VISIBLE_DEVICES=2,GPU-1111 expect_exit 0 "$PROBE" enum
expect_output 'cuda count=2'
expect_output 'cuda dev=0 name="NVIDIA L4"'
expect_output 'cuda dev=1 name="NVIDIA H100 80GB HBM3"'
expect_output 'nvml count=3'  # NVML ignores it, as the real one does

# A bad file: cuInit -> CUDA_ERROR_NO_DEVICE, nvmlInit fails; one line each.
sed 's/"memory": "24GiB"/"memory": "24 GiB"/' "$WORK/machine.json" >"$WORK/bad.json"
export VXPU_SIM_CONFIG="$WORK/bad.json"
expect_exit 1 "$PROBE" init
expect_output "cuInit=CUDA_ERROR_NO_DEVICE"
expect_output "vxpu-sim: $WORK/bad.json: devices[2].memory: invalid size"
[ "$(grep -c 'vxpu-sim:' <<<"$OUT")" = 1 ] && PASSES=$((PASSES + 1)) ||
	{ echo "FAIL: want exactly one stderr line: $OUT"; FAILS=$((FAILS + 1)); }
expect_exit 1 "$PROBE" nvmlinit
expect_output "vxpu-sim: $WORK/bad.json: devices[2].memory: invalid size"

echo '{"devices": [{"memory": "1GiB", "colour": "red"}]}' >"$WORK/bad2.json"
VXPU_SIM_CONFIG="$WORK/bad2.json" expect_exit 1 "$PROBE" init
expect_output "$WORK/bad2.json: devices[0].colour: unknown field"

VXPU_SIM_CONFIG="$WORK/missing.json" expect_exit 1 "$PROBE" init
expect_output "$WORK/missing.json: (file): cannot open"
finish

/*
 * deviceplugin_answer.h - what the node agent tells kubelet for one
 * container (the Allocate answer), and the virtual device IDs it lists.
 *
 * Pure: no I/O, no globals. The gRPC side (deviceplugin.c) decodes the
 * pod's allocation annotation, finds the container, and asks here for the
 * answer; the same inputs always give the same answer, byte for byte, so a
 * retried Allocate gets what the first one got.
 *
 * Virtual device IDs. kubelet counts a resource by device IDs; vxpu lists
 * `slices` IDs per card, "<card id>::<k>" for k = 0..slices-1, so that many
 * containers can each hold "one GPU" of the same card. The card part is
 * the device id of the registration (UUID or bus id), which never holds
 * "::".
 *
 * The answer for a container with devices d0..dn-1 (allocation order):
 *   env     NVIDIA_VISIBLE_DEVICES, CUDA_VISIBLE_DEVICES = d0,...,dn-1 ids
 *           (so ordinal i is allocation device i whatever the bus order),
 *           VXPU_MEMORY_LIMIT_<i> = "<memoryMiB>MiB",
 *           VXPU_CORE_LIMIT_<i> = computePercent (only when > 0),
 *           VXPU_PRIORITY = high (0) | low (1),
 *           VXPU_REGION = <container region dir>/region,
 *           VXPU_DEVICE_DIR = <container device dir>
 *   mounts  libvxpu.so (read-only), the ld.so.preload file (read-only) at
 *           /etc/ld.so.preload, the container's region directory
 *           (read-write), the per-device coordination directory
 *   devices for vendor "nvidia": /dev/nvidiactl, /dev/nvidia-uvm,
 *           /dev/nvidia-uvm-tools and /dev/nvidia<index> of each device
 *           (other vendors: none; their runtimes expose their devices)
 * Names are sorted (env by name; mounts and devices by container path) so
 * the answer does not depend on map order.
 */
#ifndef VXPU_KUBE_DEVICEPLUGIN_ANSWER_H
#define VXPU_KUBE_DEVICEPLUGIN_ANSWER_H

#include "core/annotation.h"

#include <stdbool.h>
#include <stddef.h>

#define VXPU_DP_PATH_MAX 256
#define VXPU_DP_MAX_ENV (4 + 2 * VXPU_POD_MAX_DEVICES + 4)
#define VXPU_DP_MAX_MOUNTS 4
#define VXPU_DP_MAX_DEVICES (3 + VXPU_POD_MAX_DEVICES)

struct vxpu_dp_config {
	char library_host_path[VXPU_DP_PATH_MAX]; /* libvxpu.so on the host */
	char library_container_path[VXPU_DP_PATH_MAX];
	char preload_host_path[VXPU_DP_PATH_MAX]; /* a file naming library_container_path */
	char region_root[VXPU_DP_PATH_MAX];       /* host: one directory per container below */
	char region_container_dir[VXPU_DP_PATH_MAX];
	char device_dir_host[VXPU_DP_PATH_MAX]; /* host: per-device coordination files */
	char device_dir_container[VXPU_DP_PATH_MAX];
};

/* /var/lib/vxpu/... on the host, /usr/local/vxpu and /var/run/vxpu inside. */
void vxpu_dp_config_default(struct vxpu_dp_config *c);

struct vxpu_dp_env {
	char name[48];
	char value[VXPU_DP_PATH_MAX * 4];
};

struct vxpu_dp_mount {
	char container_path[VXPU_DP_PATH_MAX];
	char host_path[VXPU_DP_PATH_MAX * 2];
	bool read_only;
};

struct vxpu_dp_device_node {
	char container_path[64];
	char host_path[64];
	char permissions[8]; /* "rw" */
};

struct vxpu_dp_answer {
	unsigned nenv, nmounts, ndevices;
	struct vxpu_dp_env env[VXPU_DP_MAX_ENV];
	struct vxpu_dp_mount mounts[VXPU_DP_MAX_MOUNTS];
	struct vxpu_dp_device_node devices[VXPU_DP_MAX_DEVICES];
	char region_host_dir[VXPU_DP_PATH_MAX * 2]; /* to create before answering */
};

/*
 * The container's region directory on the host:
 * <region_root>/<namespace>_<pod>_<container> (names are DNS labels and
 * container names, which hold no '_' or '/', so the name is unique).
 */
int vxpu_dp_region_dir(const struct vxpu_dp_config *c, const struct vxpu_pod_allocation *a,
                       unsigned container, char *buf, size_t cap);

/*
 * The answer for container `container` of allocation a. Returns 0, or -1
 * with a reason (container out of range, a container without devices, a
 * path too long) and *out unspecified.
 */
int vxpu_dp_answer(const struct vxpu_dp_config *c, const struct vxpu_pod_allocation *a,
                   unsigned container, struct vxpu_dp_answer *out, char *err, size_t errlen);

/* "<card>::<k>". Returns 0, or -1 when it does not fit. */
int vxpu_dp_virtual_id(const char *card, unsigned k, char *buf, size_t cap);

/*
 * Splits a virtual ID: the card part into card (cap bytes) and k. Strict:
 * exactly one "::", a non-empty card, k a canonical decimal below 1024.
 * Returns 0 or -1.
 */
int vxpu_dp_parse_virtual_id(const char *id, char *card, size_t cap, unsigned *k);

/*
 * The agent's plugins: one per vendor resource. Each device of a finalized
 * node goes to the plugin of its profile's count resource (e.g.
 * nvidia.com/gpu), in device order; plugins are ordered by their first
 * device. override (non-NULL) names the one resource of every device and
 * is refused when the devices' profiles name two. The endpoint is
 * "vxpu-<resource with '/' as '-'>.sock"; slices is each card's virtual ID
 * count (the override, else the profile's most allocations per device, at
 * least 1). Returns the number of plugins, or -1 with a reason (a device
 * without a profile or count resource, two resources with an override).
 */
#define VXPU_DP_MAX_PLUGINS 8
struct vxpu_dp_plugin_plan {
	char resource[128];
	char endpoint[64];
	unsigned ncards;
	unsigned cards[VXPU_NODE_MAX_DEVICES];  /* positions in the node's devices */
	unsigned slices[VXPU_NODE_MAX_DEVICES]; /* per card */
};
int vxpu_dp_plan_plugins(const struct vxpu_node *node, const char *override, unsigned slices,
                         struct vxpu_dp_plugin_plan *plans, unsigned cap, char *err, size_t errlen);

#endif

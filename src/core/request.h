/*
 * request.h - what a pod asks for, per container, and its defaults.
 *
 * A container asks for `count` devices of one family (the family is named
 * by its count resource, e.g. "nvidia.com/gpu"; empty = any family) and, on
 * each of them, a memory share (MiB, or percent of that device's own
 * memory) and a compute share (percent). It may select device models and
 * UUIDs, bind all its devices to one NUMA node, ask for exclusive use and
 * carry a priority. Init containers run one after another before the app
 * containers, so they are fitted one at a time (their peak); app containers
 * run together and are fitted cumulatively.
 *
 * Defaults, applied by vxpu_pod_request_normalize (docs/scheduling.md):
 *   - a container that sets any device resource but no count asks for 1;
 *   - no memory and no memory percent: 100 % of each device's memory;
 *   - no compute: 0, i.e. no compute reserved (the device's compute is
 *     shared best-effort); compute 100 means exclusive use;
 *   - exclusive without compute: compute 100;
 *   - priority: 1 (low, offline); 0 is high (online);
 *   - policies: the cluster default.
 * Validation refuses, naming container and value: count above the node
 * limit, memory and memory percent together, percent outside 1..100,
 * exclusive with a compute share other than 100, priority other than 0/1,
 * more than VXPU_POD_MAX_DEVICES devices over all containers.
 *
 * The setters below read Kubernetes resource quantities and annotations
 * (HAMi-compatible names, plus every name in the vendor profiles) with the
 * strict size/percent parsers, so the scheduler, the webhook and the
 * single-machine mode read requests the same way.
 */
#ifndef VXPU_CORE_REQUEST_H
#define VXPU_CORE_REQUEST_H

#include "core/model.h"
#include "core/vendor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_POD_MAX_CONTAINERS 16
#define VXPU_POD_MAX_DEVICES 64 /* device shares over all containers of a pod */
#define VXPU_CONTAINER_NAME_MAX 64
#define VXPU_NAMESPACE_MAX 64
#define VXPU_POD_NAME_MAX 254
#define VXPU_PROJECT_MAX 64
#define VXPU_TYPE_LIST_MAX 192
#define VXPU_UUID_LIST_MAX 512

/* Placement policies (policy.h has the formulas). */
enum vxpu_policy {
	VXPU_POLICY_DEFAULT = 0, /* the cluster's default */
	VXPU_POLICY_BINPACK,
	VXPU_POLICY_SPREAD,
	VXPU_POLICY_TOPOLOGY,
	VXPU_POLICY_NUMA,
	VXPU_POLICY_FRAG,
	VXPU_POLICY_COUNT
};

enum vxpu_container_kind {
	VXPU_CONTAINER_APP = 0,
	VXPU_CONTAINER_INIT,
};

struct vxpu_container_request {
	char name[VXPU_CONTAINER_NAME_MAX];
	enum vxpu_container_kind kind;
	char family[VXPU_RESOURCE_NAME_MAX]; /* count resource; "" = any */
	uint32_t count;                      /* devices; 0 = no device */
	uint64_t memory_mib;                 /* per device; 0 = unset */
	uint32_t memory_percent;             /* per device; 0 = unset */
	uint32_t compute_percent;            /* per device; 0 = none reserved */
	bool exclusive;
	bool numa_bind;                     /* all devices of this container on one NUMA node */
	int priority;                       /* 0 high, 1 low; -1 = unset (normalize sets 1) */
	char use_types[VXPU_TYPE_LIST_MAX]; /* model substrings, comma list */
	char nouse_types[VXPU_TYPE_LIST_MAX];
	char use_uuids[VXPU_UUID_LIST_MAX]; /* device ids, comma list */
	char nouse_uuids[VXPU_UUID_LIST_MAX];
};

struct vxpu_pod_request {
	char ns[VXPU_NAMESPACE_MAX];
	char name[VXPU_POD_NAME_MAX];
	char project[VXPU_PROJECT_MAX]; /* optional quota project */
	uint64_t cpu_milli;             /* host resources; 0 = not checked */
	uint64_t memory_mib;
	enum vxpu_policy node_policy;
	enum vxpu_policy device_policy;
	uint32_t ncontainers;
	struct vxpu_container_request containers[VXPU_POD_MAX_CONTAINERS];
};

/* Empty request for ns/name (no containers, default policies). */
void vxpu_pod_request_init(struct vxpu_pod_request *r, const char *ns, const char *name);

/* Appends a container with nothing requested; NULL when the pod is full. */
struct vxpu_container_request *vxpu_pod_request_add_container(struct vxpu_pod_request *r,
                                                              const char *name,
                                                              enum vxpu_container_kind kind);

/*
 * Validates and applies the defaults above, in place. Returns 0, or -1 with
 * a message naming the container, the field and the value; on failure the
 * request is unchanged.
 */
int vxpu_pod_request_normalize(struct vxpu_pod_request *r, char *err, size_t errlen);

/*
 * Reads one Kubernetes resource of a container ("nvidia.com/gpumem" =
 * "4096"). Returns 1 when the name belongs to a vendor profile and was
 * applied, 0 when no profile knows it (the caller ignores it, e.g. "cpu"),
 * -1 on a bad value or when a container mixes two device families.
 * Memory: a bare number is in the profile's memory unit (MiB for most,
 * 256 MiB for Iluvatar...); a number with a unit ("4GiB") is a size.
 */
int vxpu_container_request_set_resource(const struct vxpu_vendor_table *vendors,
                                        struct vxpu_container_request *c, const char *resource,
                                        const char *value, char *err, size_t errlen);

/*
 * Reads one pod annotation that affects placement, for every container:
 *   nvidia.com/use-gputype, nvidia.com/nouse-gputype (model substrings),
 *   nvidia.com/use-gpuuuid, nvidia.com/nouse-gpuuuid (device ids),
 *   nvidia.com/numa-bind ("true"/"false"), vxpu.io/exclusive,
 *   hami.io/node-scheduler-policy, vxpu.io/node-policy,
 *   hami.io/gpu-scheduler-policy, vxpu.io/device-policy, vxpu.io/project.
 * Returns 1 when applied, 0 when the key is not one of these, -1 on a bad
 * value.
 */
int vxpu_pod_request_set_annotation(struct vxpu_pod_request *r, const char *key, const char *value,
                                    char *err, size_t errlen);

/* Sum of device counts over app containers, and the largest init count. */
uint32_t vxpu_pod_request_device_count(const struct vxpu_pod_request *r);

/* "binpack", "spread", "topology", "numa", "frag"; "default" for DEFAULT. */
const char *vxpu_policy_name(enum vxpu_policy p);
/* Accepts the names above and "topology-aware", "fragmentation-aware". */
int vxpu_policy_parse(const char *text, enum vxpu_policy *p);

#endif

/*
 * annotation.h - the JSON contracts that carry allocator state through
 * Kubernetes objects (documented in docs/annotations.md):
 *
 *   vxpu.io/node-registration  on the Node, written by the node agent: the
 *                              node's devices, links and scaling;
 *   vxpu.io/allocation         on the Pod, written by the scheduler at bind:
 *                              which devices each container got, with what
 *                              memory, compute and template. The node agent
 *                              answers kubelet's Allocate from it; a
 *                              restarted scheduler rebuilds usage from it.
 *
 * Both are versioned ("version": 1) and read strictly: unknown fields,
 * duplicate keys, wrong types, out-of-range numbers, unknown versions and
 * trailing bytes are refused with the path of the field and the value found,
 * and the output is left untouched. Timestamps are UTC RFC 3339 with
 * milliseconds ("2026-11-28T11:47:49.123Z"). Encoding then decoding gives
 * back the same value (round trip), and decoding then encoding gives back
 * the same text for anything this encoder wrote.
 */
#ifndef VXPU_CORE_ANNOTATION_H
#define VXPU_CORE_ANNOTATION_H

#include "core/fit.h"
#include "core/model.h"
#include "core/request.h"

#include <stddef.h>
#include <stdint.h>

#define VXPU_ANNOTATION_NODE "vxpu.io/node-registration"
#define VXPU_ANNOTATION_ALLOCATION "vxpu.io/allocation"
#define VXPU_ANNOTATION_VERSION 1

/* Releases a string returned by an encoder. */
void vxpu_annotation_free(char *text);

/*
 * Node registration. Encoding writes the node's name, scaling, devices (as
 * given, not the derived capacities) and links. Decoding replaces exactly
 * those parts of *node (labels, host resources are kept) and clears
 * finalized; the node must hold no allocations. Returns NULL / -1 on error.
 */
char *vxpu_node_registration_encode(const struct vxpu_node *n, int64_t updated_ms);
int vxpu_node_registration_decode(const char *json, struct vxpu_node *node, int64_t *updated_ms,
                                  char *err, size_t errlen);

struct vxpu_alloc_device {
	char id[VXPU_DEVICE_ID_MAX];
	uint32_t index;
	char vendor[VXPU_VENDOR_NAME_MAX];
	char model[VXPU_MODEL_NAME_MAX];
	uint64_t memory_mib;
	uint32_t compute_units;                     /* of the device's unit count */
	uint32_t compute_percent;                   /* the same share in percent, rounded up */
	char template_name[VXPU_TEMPLATE_NAME_MAX]; /* "" = none */
	bool exclusive;
};

struct vxpu_alloc_container {
	char name[VXPU_CONTAINER_NAME_MAX];
	enum vxpu_container_kind kind;
	int priority;
	uint32_t first; /* into devices[] */
	uint32_t count;
};

struct vxpu_pod_allocation {
	char node[VXPU_NODE_NAME_MAX];
	char ns[VXPU_NAMESPACE_MAX];
	char pod[VXPU_POD_NAME_MAX];
	char project[VXPU_PROJECT_MAX];
	int64_t allocated_ms;
	enum vxpu_policy node_policy;
	enum vxpu_policy device_policy;
	uint64_t cpu_milli;
	uint64_t memory_mib;
	uint32_t ncontainers;
	struct vxpu_alloc_container containers[VXPU_POD_MAX_CONTAINERS];
	uint32_t ndevices;
	struct vxpu_alloc_device devices[VXPU_POD_MAX_DEVICES];
};

/* Describes a placement of pod on node n (containers with devices only). */
int vxpu_allocation_from_placement(const struct vxpu_node *n, const struct vxpu_pod_request *pod,
                                   const struct vxpu_placement *p, enum vxpu_policy node_policy,
                                   enum vxpu_policy device_policy, int64_t allocated_ms,
                                   struct vxpu_pod_allocation *out, char *err, size_t errlen);

/*
 * Turns an allocation back into a placement on node n (devices found by
 * id; templates by name in the device's profile), ready for
 * vxpu_node_record or vxpu_node_commit. Fails, naming the device, when the
 * node no longer has it.
 */
int vxpu_allocation_to_placement(const struct vxpu_pod_allocation *a, const struct vxpu_node *n,
                                 struct vxpu_placement *p, char *err, size_t errlen);

char *vxpu_allocation_encode(const struct vxpu_pod_allocation *a);
int vxpu_allocation_decode(const char *json, struct vxpu_pod_allocation *out, char *err,
                           size_t errlen);

/*
 * Strict UTC RFC 3339: YYYY-MM-DDTHH:MM:SS[.digits]Z, years 1970..9999,
 * fraction truncated to milliseconds. Returns 0 or -1.
 */
int vxpu_rfc3339_parse(const char *text, int64_t *unix_ms);

#endif

/*
 * extender_kube.h - reading the Kubernetes objects the scheduler works with
 * (Pod, Node, ResourceQuota, as the API server serializes them) into core
 * values, and Kubernetes resource quantities into numbers.
 *
 * Kubernetes objects carry many fields vxpu does not read, and new API
 * versions add more, so unknown fields are ignored here (unlike vxpu's own
 * contracts, which refuse them). Strictness applies to what is read: a
 * field vxpu reads must have the type the Kubernetes API gives it (a name
 * is a string, annotations are an object of strings, containers an array of
 * objects), names must fit their limits, and every refusal names the path
 * of the field and the value found. A refused object leaves the output
 * unspecified but allocates nothing; callers keep their previous state.
 *
 * A pod's device request is read with the core's readers (request.h): each
 * container's resources.limits, then resources.requests for names the
 * limits do not give (Kubernetes requires both to be equal for extended
 * resources when both are set), then the pod's annotations. Only containers
 * that name a vendor resource become containers of the request, so a pod's
 * sidecars do not count against its 16 device containers and pod-wide
 * annotations (vxpu.io/exclusive) do not turn them into device containers.
 * A bad request value does not make the pod unreadable: the pod's
 * allocation annotation still matters for the cluster's usage. It is kept
 * in request_error, for the webhook to deny and the extender to report.
 *
 * Quantities (docs/kubernetes.md): the API server writes its canonical
 * form, so a container that asked for "nvidia.com/gpumem: 8000" reads back
 * as "8k". vxpu_kube_quantity_text turns a quantity into the text the core
 * readers expect: decimal forms (8k, 1500m is refused, 12e3, 1.5k) become
 * an exact whole number; binary suffixes (4Gi) become a size ("4GiB"), as
 * vxpu reads a memory value with a unit. Negative, fractional and
 * overflowing values are refused.
 */
#ifndef VXPU_CORE_EXTENDER_KUBE_H
#define VXPU_CORE_EXTENDER_KUBE_H

#include "core/quota.h"
#include "core/request.h"
#include "core/vendor.h"

#include <cjson/cJSON.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_UID_MAX 64
#define VXPU_RESOURCE_VERSION_MAX 64
#define VXPU_SCHEDULER_NAME_MAX 64
#define VXPU_KUBE_NAME_MAX 254 /* object names (DNS subdomain, 253) */

/* Pod annotations written at bind (besides vxpu.io/allocation). */
#define VXPU_ANNOTATION_BIND_PHASE "vxpu.io/bind-phase"
#define VXPU_ANNOTATION_BIND_TIME "vxpu.io/bind-time"
/* Label on a ResourceQuota that makes it the quota of a project. */
#define VXPU_LABEL_PROJECT "vxpu.io/project"

struct vxpu_kube_pod {
	char ns[VXPU_NAMESPACE_MAX];
	char name[VXPU_POD_NAME_MAX];
	char uid[VXPU_UID_MAX];
	char resource_version[VXPU_RESOURCE_VERSION_MAX];
	char node_name[VXPU_NODE_NAME_MAX]; /* spec.nodeName; "" = not bound */
	char scheduler_name[VXPU_SCHEDULER_NAME_MAX];
	bool terminal;          /* status.phase Succeeded or Failed */
	bool deleting;          /* metadata.deletionTimestamp set */
	bool wants_devices;     /* a container names a vendor resource */
	const char *allocation; /* vxpu.io/allocation text, inside the cJSON; NULL = none */
	/* The device request, not normalized: only containers that name a vendor
	 * resource, in spec order (init containers first). */
	struct vxpu_pod_request request;
	/* For each request container: its index in spec.initContainers or
	 * spec.containers (by its kind), for the webhook's patches. */
	uint16_t spec_index[VXPU_POD_MAX_CONTAINERS];
	/* Resources each request container gave explicitly (bit = resource kind). */
	uint8_t given[VXPU_POD_MAX_CONTAINERS];
	/* A resource value the core readers refused, or "" when the request reads. */
	char request_error[320];
};

/*
 * Reads a Pod object. Returns 0, or -1 on a structural error (a field of
 * the wrong type, a name too long, a missing metadata.name). path prefixes
 * messages ("request.object"). The pod keeps pointers into the cJSON tree.
 */
int vxpu_kube_pod_read(const cJSON *pod, const char *path, const struct vxpu_vendor_table *vendors,
                       struct vxpu_kube_pod *out, char *err, size_t errlen);

struct vxpu_kube_node {
	char name[VXPU_NODE_NAME_MAX];
	const char *registration; /* vxpu.io/node-registration text, inside the cJSON */
	bool unschedulable;
};

int vxpu_kube_node_read(const cJSON *node, const char *path, struct vxpu_kube_node *out, char *err,
                        size_t errlen);

/*
 * A ResourceQuota's vxpu limits: spec.hard keys "limits.R" or "requests.R"
 * where R is a vendor resource of kind count (devices), memory (MiB, per
 * card × count) or cores (device-percent, per card × count). A limit not
 * given is VXPU_QUOTA_UNLIMITED; when two keys set one dimension (two
 * vendors' memory resources) the smaller wins. The quota belongs to the
 * project named by the label vxpu.io/project, else to the namespace.
 */
struct vxpu_kube_quota {
	char ns[VXPU_NAMESPACE_MAX];
	char name[VXPU_KUBE_NAME_MAX];
	char project[VXPU_PROJECT_MAX];
	struct vxpu_quota_amount hard;
	bool limits_devices; /* any vxpu key was given */
};

int vxpu_kube_quota_read(const cJSON *rq, const char *path, const struct vxpu_vendor_table *vendors,
                         struct vxpu_kube_quota *out, char *err, size_t errlen);

/*
 * Kubernetes quantity -> core text (see above). Returns 0, or -1 with a
 * message naming what (e.g. the resource) and the value.
 */
int vxpu_kube_quantity_text(const char *what, const char *quantity, char *out, size_t cap,
                            char *err, size_t errlen);

/* Kubernetes quantity -> exact whole number (binary suffixes multiply). */
int vxpu_kube_quantity_uint(const char *what, const char *quantity, uint64_t *out, char *err,
                            size_t errlen);

/* The value of a string-valued entry of metadata.annotations / labels, or NULL. */
const char *vxpu_kube_annotation(const cJSON *object, const char *key);
const char *vxpu_kube_label(const cJSON *object, const char *key);

#endif

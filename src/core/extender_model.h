/*
 * extender_model.h - the scheduler's in-memory model of the cluster: every
 * node's devices and usage, the pods that hold allocations, the quotas, and
 * the learnt request shapes. The Kubernetes watches feed it (Node, Pod,
 * ResourceQuota events); the extender's filter and prioritize read it; bind
 * reserves in it.
 *
 * Usage is derived, never stored: a node's usage is the sum of the
 * allocations of the pods that hold one on it, so a restarted scheduler
 * that replays the lists rebuilds exactly the same state (same nodes, same
 * usage, same quota use), whatever order the events come in.
 *
 * A pod holds an allocation on node N when
 *   - it is bound to N (spec.nodeName = N), its vxpu.io/allocation
 *     annotation names N, and it has not terminated; or
 *   - this scheduler reserved it at bind (vxpu_ext_model_reserve) and has
 *     neither seen it terminate nor rolled the reservation back.
 * An annotation on a pod that is not bound (a bind another replica left
 * half done) holds nothing: the node allocation lease, taken before the
 * annotation is written and held until the node agent consumed it, is what
 * keeps two replicas from deciding on the same capacity (docs/kubernetes.md).
 *
 * Pods are keyed by UID, which is also the owner key of their allocation on
 * the node (owner keys must fit VXPU_OWNER_MAX; namespace/name may not).
 * The pod keeps its annotation text: when its node's registration changes,
 * the node is rebuilt from the new registration and every pod on it is
 * decoded and recorded again. Quota use follows recording exactly: a pod is
 * charged when its allocation is recorded on its node and refunded when it
 * is released, so quota use is a function of the recorded pods too.
 *
 * Nodes and pods are kept in arrays sorted by name and UID (binary search,
 * deterministic iteration). The model is a plain value with no locking; the
 * server wraps it in a readers-writer lock (filter and prioritize read,
 * events and bind write). Nothing here does I/O or reads a clock.
 */
#ifndef VXPU_CORE_EXTENDER_MODEL_H
#define VXPU_CORE_EXTENDER_MODEL_H

#include "core/extender_kube.h"
#include "core/model.h"
#include "core/quota.h"
#include "core/schedule.h"
#include "core/shapes.h"
#include "core/vendor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_EXT_PROBLEM_MAX 320

struct vxpu_ext_node {
	struct vxpu_node node;              /* finalized when registered */
	bool registered;                    /* the registration decoded and finalized */
	bool unschedulable;                 /* spec.unschedulable (informational) */
	char *registration;                 /* the text applied (heap), NULL = none */
	int64_t updated_ms;                 /* the registration's updatedAt */
	char problem[VXPU_EXT_PROBLEM_MAX]; /* why it is not registered */
};

struct vxpu_ext_pod {
	char uid[VXPU_UID_MAX];
	char ns[VXPU_NAMESPACE_MAX];
	char name[VXPU_POD_NAME_MAX];
	char node[VXPU_NODE_NAME_MAX];
	char project[VXPU_PROJECT_MAX];
	char *allocation; /* annotation text (heap) */
	bool reserved;    /* by this scheduler's bind, not yet seen bound */
	bool recorded;    /* on its node's usage (and charged to quota) */
	struct vxpu_quota_amount charged;
	char problem[VXPU_EXT_PROBLEM_MAX]; /* why it is not recorded */
};

/* One ResourceQuota object's contribution (see extender_kube.h). */
struct vxpu_ext_quota_source {
	char ns[VXPU_NAMESPACE_MAX];
	char name[VXPU_KUBE_NAME_MAX];
	char project[VXPU_PROJECT_MAX];
	struct vxpu_quota_amount hard;
};

struct vxpu_ext_model {
	const struct vxpu_vendor_table *vendors; /* outlives the model */
	struct vxpu_sched_config config;
	size_t nnodes, node_cap;
	struct vxpu_ext_node **nodes; /* sorted by name */
	size_t npods, pod_cap;
	struct vxpu_ext_pod **pods; /* sorted by uid */
	size_t nsources, source_cap;
	struct vxpu_ext_quota_source *sources; /* sorted by (ns, name) */
	struct vxpu_quota_table quota;
	struct vxpu_shape_stats shapes;
	uint64_t generation; /* bumped by every change (for caches and metrics) */
};

/* shape_window: requests the fragmentation-aware policy remembers (>= 1). */
void vxpu_ext_model_init(struct vxpu_ext_model *m, const struct vxpu_vendor_table *vendors,
                         const struct vxpu_sched_config *config, uint32_t shape_window);
void vxpu_ext_model_free(struct vxpu_ext_model *m);

/*
 * Adds or updates a node from its Node object. Without a registration
 * annotation, or with one that does not decode, the node stays known but
 * unregistered (problem says why) and holds nothing. Returns 0 when the
 * node is registered, 1 when it is known but unregistered, -1 on no memory.
 */
int vxpu_ext_model_node_update(struct vxpu_ext_model *m, const struct vxpu_kube_node *kn);
void vxpu_ext_model_node_delete(struct vxpu_ext_model *m, const char *name);

/*
 * Adds, updates or drops a pod from its Pod object (see the rule above).
 * Returns 1 when the pod holds an allocation after the update, 0 when not,
 * -1 on no memory. A pod whose allocation cannot be recorded (its node is
 * unknown, a device is gone) is kept with a problem and recorded as soon as
 * its node allows.
 */
int vxpu_ext_model_pod_update(struct vxpu_ext_model *m, const struct vxpu_kube_pod *kp);
void vxpu_ext_model_pod_delete(struct vxpu_ext_model *m, const char *uid);

/* A ResourceQuota object; several per namespace combine by the smallest limit. */
int vxpu_ext_model_quota_update(struct vxpu_ext_model *m, const struct vxpu_kube_quota *kq,
                                char *err, size_t errlen);
void vxpu_ext_model_quota_delete(struct vxpu_ext_model *m, const char *ns, const char *name);

const struct vxpu_ext_node *vxpu_ext_model_node(const struct vxpu_ext_model *m, const char *name);
const struct vxpu_ext_pod *vxpu_ext_model_pod(const struct vxpu_ext_model *m, const char *uid);

/*
 * Bind's decision: fits the pod (request normalized) on node against the
 * current usage, commits it under the pod's UID, charges the quotas, learns
 * its shape, and writes the allocation annotation text (*annotation, free
 * with vxpu_annotation_free). An allocation the pod held before (a retried
 * bind) is released first. On refusal returns -1 with the reason in err and
 * the model is exactly as before.
 */
int vxpu_ext_model_reserve(struct vxpu_ext_model *m, const struct vxpu_kube_pod *kp,
                           const char *node, int64_t now_ms, char **annotation, char *err,
                           size_t errlen);

/* Rolls back a reservation that was not seen bound; 0, or -1 when none. */
int vxpu_ext_model_unreserve(struct vxpu_ext_model *m, const char *uid);

/*
 * Reconciles the pods of one node (or of every node: node NULL) with a
 * fresh list: the caller first applies every listed pod with
 * vxpu_ext_model_pod_update, then passes their UIDs; pods this model places
 * there that are not listed are released, unless reserved here. The bind
 * path calls it for one node with the pods the API server says are bound
 * there, read after the node's allocation lease was taken, so that usage
 * another replica committed is seen even when the watch lags; a relist of
 * all pods calls it with node NULL, and then uids must be sorted (strcmp).
 */
void vxpu_ext_model_node_sync(struct vxpu_ext_model *m, const char *node, const char *const *uids,
                              size_t count);

/* Pods that hold an allocation but could not be recorded (problem set). */
size_t vxpu_ext_model_unrecorded(const struct vxpu_ext_model *m);

#endif

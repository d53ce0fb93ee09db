/*
 * schedule.h - one placement decision over many nodes: fit every node,
 * score the fitting ones under the node-level policy, keep the best (ties:
 * the smaller node name). This is what the single-machine mode and the
 * simulator call directly; the Kubernetes extender calls vxpu_fit_node and
 * vxpu_score_placement per node itself (filter and prioritize are separate
 * requests) and commits on bind.
 *
 * Pure like fit: nodes are only read; nothing is allocated. When no node
 * fits, `why` summarizes the cluster the way kube-scheduler does, each node
 * counted under its main reason:
 *     0/1213 nodes fit: 900 insufficient memory, 313 type mismatch
 */
#ifndef VXPU_CORE_SCHEDULE_H
#define VXPU_CORE_SCHEDULE_H

#include "core/fit.h"
#include "core/policy.h"
#include "core/quota.h"
#include "core/request.h"
#include "core/shapes.h"

#include <stddef.h>

/* Cluster defaults; a pod's annotations override them. */
struct vxpu_sched_config {
	enum vxpu_policy node_policy;   /* DEFAULT reads as binpack */
	enum vxpu_policy device_policy; /* DEFAULT reads as spread (HAMi's default) */
};

struct vxpu_decision {
	int node; /* index into the nodes array; -1 when none fits */
	enum vxpu_policy node_policy;
	enum vxpu_policy device_policy;
	struct vxpu_placement placement;
	struct vxpu_score score;
	size_t nodes_fit;
	char why[512];
};

/* The policies that apply to a pod under a configuration (never DEFAULT). */
void vxpu_sched_resolve(const struct vxpu_sched_config *cfg, const struct vxpu_pod_request *pod,
                        enum vxpu_policy *node_policy, enum vxpu_policy *device_policy);

/*
 * Chooses a node and devices for a normalized pod. nodes[i] must be
 * finalized. quota and shapes may be NULL. Returns the node index or -1.
 */
int vxpu_schedule(const struct vxpu_node *const *nodes, size_t count,
                  const struct vxpu_pod_request *pod, const struct vxpu_sched_config *cfg,
                  const struct vxpu_quota_table *quota, const struct vxpu_shape_stats *shapes,
                  struct vxpu_decision *out);

#endif

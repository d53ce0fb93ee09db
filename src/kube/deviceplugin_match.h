/*
 * deviceplugin_match.h - which container of the lease holder a kubelet
 * Allocate request is for, and what a retried request gets.
 *
 * kubelet's Allocate names only virtual device IDs, never the pod. The
 * scheduler binds one pod at a time per node while holding the node's
 * allocation lease, so the lease holder is exactly the pod kubelet is
 * admitting; this matcher is the part of Allocate that does not depend on
 * where the lease and the annotation are read from (it does no I/O).
 *
 * Rules (docs/node-agent.md):
 *   - a fresh request of n IDs takes, in the holder's allocation, the first
 *     container not answered yet with n devices - init containers first
 *     (kubelet admits them first), then in annotation order - among the
 *     containers this plugin serves (their devices are all among the
 *     plugin's cards, when the caller names them);
 *   - a retried request (the same IDs in any order) gets the container it
 *     got before: for the lease holder, or, once the lease is released, for
 *     the pod answered last with those IDs. The IDs alone never decide:
 *     kubelet hands the same IDs to the next pod;
 *   - once every container of the pod is answered (over every plugin that
 *     shares the matcher) the pod is consumed: the caller releases the lease.
 *
 * Pods are identified by UID (a pod deleted and created again under the
 * same name is another pod) and named "namespace/name" in messages.
 * Not thread-safe: callers sharing one matcher serialize around it.
 */
#ifndef VXPU_KUBE_DEVICEPLUGIN_MATCH_H
#define VXPU_KUBE_DEVICEPLUGIN_MATCH_H

#include "core/annotation.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_DP_REMEMBERED 256
#define VXPU_DP_POD_KEY_MAX (VXPU_NAMESPACE_MAX + VXPU_POD_NAME_MAX + 2)
#define VXPU_DP_UID_MAX 64
#define VXPU_DP_REQUEST_KEY_MAX 512

struct vxpu_dp_remembered {
	char key[VXPU_DP_REQUEST_KEY_MAX]; /* the request's IDs, sorted, joined by ',' */
	char uid[VXPU_DP_UID_MAX];
	char pod[VXPU_DP_POD_KEY_MAX]; /* namespace/name */
	unsigned container;
};

struct vxpu_dp_matcher {
	/* the pod being admitted and the containers answered so far */
	char uid[VXPU_DP_UID_MAX];
	uint32_t answered; /* bit per container */
	unsigned nremembered, next_slot;
	struct vxpu_dp_remembered remembered[VXPU_DP_REMEMBERED];
};

void vxpu_dp_matcher_init(struct vxpu_dp_matcher *m);

/*
 * The request's IDs sorted and joined by ','. 0, or -1 with a message when
 * there are none or they do not fit.
 */
int vxpu_dp_request_key(const char *const *ids, size_t n, char *key, size_t cap, char *err,
                        size_t errlen);

/*
 * A retry: the answer remembered for key, for the pod with holder_uid when
 * the lease is held (holder_uid non-NULL and non-empty), else the latest
 * for key. NULL when the request is not a retry.
 */
const struct vxpu_dp_remembered *vxpu_dp_matcher_retry(const struct vxpu_dp_matcher *m,
                                                       const char *key, const char *holder_uid);

/*
 * A fresh request of n IDs (key from vxpu_dp_request_key) for the lease
 * holder (uid, "namespace/name") whose allocation is a. cards (ncards,
 * NULL = any) are the IDs of the cards the plugin serves. Sets *container
 * and *consumed (every container of the pod is answered now) and remembers
 * the answer; -1 with "pod NS/NAME has no container left to allocate with
 * N devices" otherwise.
 */
int vxpu_dp_matcher_pick(struct vxpu_dp_matcher *m, const char *uid, const char *pod,
                         const struct vxpu_pod_allocation *a, const char *key, size_t n,
                         const char *const *cards, size_t ncards, unsigned *container,
                         bool *consumed, char *err, size_t errlen);

#endif

/*
 * deviceplugin_apisource.h - where Allocate finds the pod: the node's
 * allocation lease and the pod's allocation annotation, read from the
 * Kubernetes API server (contract version 1, docs/kubernetes.md).
 *
 * For one container request:
 *   1. GET Lease vxpu-node-<node> in the lease namespace: holderIdentity is
 *      the admitted pod's UID, annotation vxpu.io/pod its "namespace/name";
 *   2. GET that pod (or find it in the pod cache, below); its metadata.uid
 *      must be the holder; decode its
 *      vxpu.io/allocation annotation (core/annotation.h), which must name
 *      this pod and this node;
 *   3. the matcher (deviceplugin_match.h) picks the container;
 *   4. once every container of the pod is answered: PUT the Lease with
 *      holderIdentity "" and the resourceVersion it was read with (only if
 *      it still names this pod; on 409 read it again), then merge-patch the
 *      pod's vxpu.io/bind-phase to "success" (with its uid as precondition).
 *      Step 4 runs on the source's finisher thread, in order, right after
 *      the answer: kubelet does not wait for those two writes (they follow
 *      within milliseconds; vxpu_dp_apisource_flush waits for them, and
 *      freeing the source writes what is pending first).
 * A retried request is answered from the matcher's memory and the pod read
 * again. An allocation that cannot be used for this pod (no annotation, one
 * that does not decode, names another pod or node, or has no container left
 * for the request) fails the Allocate with a message naming the pod and the
 * cause, and - since kubelet rejects the pod for it - sets the pod's
 * bind-phase to "failed" and releases the lease, so the node is not held up
 * for the lease's duration; a retry of that request gets the same message.
 * Failures to reach the API server fail the Allocate and change nothing.
 *
 * One source serves every plugin of the agent (one per vendor resource),
 * so a pod with containers on two resources is consumed once all are
 * answered; each plugin looks up through its own view, which names its
 * cards. Thread-safe: lookups are serialized by the source's lock.
 */
#ifndef VXPU_KUBE_DEVICEPLUGIN_APISOURCE_H
#define VXPU_KUBE_DEVICEPLUGIN_APISOURCE_H

#include "kube/deviceplugin.h"
#include "kube/kubeclient.h"

#include <stddef.h>
#include <stdint.h>

struct vxpu_dp_apisource;

/* lease_namespace NULL or "" = the client's namespace. 0, or -1 with why. */
int vxpu_dp_apisource_new(struct vxpu_dp_apisource **out, struct vxpu_kube_client *client,
                          const char *node, const char *lease_namespace, char *err, size_t errlen);
void vxpu_dp_apisource_free(struct vxpu_dp_apisource *s);

/*
 * Optional: where Allocate may find a pod's vxpu.io/allocation text without
 * asking the API server - the agent's watch of the pods bound to its node
 * (node_reporter.h). fn returns a malloc'd copy for the pod with that uid,
 * or NULL, and the pod is read from the API server. This is safe because
 * the scheduler writes the annotation before it creates the Binding and
 * never changes it afterwards (it removes it only when a bind is rolled
 * back, before the Binding exists), and the watch only shows pods already
 * bound to this node: a pod there with the holder's uid carries its final
 * annotation.
 */
typedef char *(*vxpu_dp_pod_cache_fn)(void *ctx, const char *ns, const char *name, const char *uid);
void vxpu_dp_apisource_set_cache(struct vxpu_dp_apisource *s, vxpu_dp_pod_cache_fn fn, void *ctx);

/*
 * The uid of the pod "namespace/name" answered last (the one whose
 * container Allocate is preparing right now). 0, or -1 when none is
 * remembered.
 */
int vxpu_dp_apisource_uid_of(struct vxpu_dp_apisource *s, const char *pod, char *uid, size_t cap);

/* Waits until every pending lease release and bind phase is written. */
void vxpu_dp_apisource_flush(struct vxpu_dp_apisource *s);

/* "namespace/name" of the node's lease (for messages and tests). */
const char *vxpu_dp_apisource_lease(const struct vxpu_dp_apisource *s);

/* One plugin's view of the source: the cards it serves (none: any card). */
struct vxpu_dp_apisource_view {
	struct vxpu_dp_apisource *source;
	size_t ncards;
	const char *cards[VXPU_DP_MAX_CARDS];
};

/* A vxpu_dp_lookup_fn; ctx is a struct vxpu_dp_apisource_view. */
int vxpu_dp_apisource_lookup(void *ctx, const char *const *device_ids, size_t n,
                             struct vxpu_pod_allocation *alloc, unsigned *container, char *err,
                             size_t errlen);

struct vxpu_dp_apisource_stats {
	uint64_t answered;       /* container requests answered */
	uint64_t consumed;       /* pods consumed (lease released) */
	uint64_t refused;        /* requests refused */
	uint64_t release_failed; /* leases or bind phases that could not be written */
	uint64_t cache_hits;     /* pods read from the pod cache instead of the API server */
};

void vxpu_dp_apisource_stats(struct vxpu_dp_apisource *s, struct vxpu_dp_apisource_stats *out);

#endif

/*
 * deviceplugin_source.h - where Allocate finds the pod: the node's
 * allocation lease and the pod's allocation annotation, read from a folder.
 *
 * kubelet's Allocate names only device IDs, never the pod. The scheduler
 * binds one pod at a time per node while holding the node's allocation
 * lease, so the lease holder is exactly the pod kubelet is admitting. This
 * source reads both from a folder (the agent's view of the API objects):
 *
 *   DIR/lease                 "<namespace>/<pod>\n": the lease holder
 *   DIR/<namespace>_<pod>.json the pod's vxpu.io/allocation annotation
 *
 * For one container request of n IDs it picks, in the lease holder's
 * allocation, the first container not answered yet with n devices - init
 * containers first (kubelet admits them first), then in annotation order.
 * A retried request (the same IDs, for the same pod) gets the container it
 * got before. Once
 * every container of the pod is answered, the allocation is consumed and
 * the lease released (the file removed if it still names the pod).
 *
 * Errors name the pod and the cause: no lease, no annotation, an annotation
 * that does not decode (with the decoder's field and value), no container
 * left with that many devices.
 */
#ifndef VXPU_KUBE_DEVICEPLUGIN_SOURCE_H
#define VXPU_KUBE_DEVICEPLUGIN_SOURCE_H

#include "core/annotation.h"

#include <stddef.h>
#include <stdint.h>

#define VXPU_DP_SOURCE_REMEMBERED 256

struct vxpu_dp_remembered {
	char key[512]; /* the request's IDs, sorted, joined by ',' */
	char pod[VXPU_NAMESPACE_MAX + VXPU_POD_NAME_MAX + 2];
	unsigned container;
};

struct vxpu_dp_files {
	char dir[256];
	/* the pod being admitted and the containers answered so far */
	char pod[VXPU_NAMESPACE_MAX + VXPU_POD_NAME_MAX + 2];
	uint32_t answered; /* bit per container */
	unsigned nremembered, next_slot;
	struct vxpu_dp_remembered remembered[VXPU_DP_SOURCE_REMEMBERED];
};

void vxpu_dp_files_init(struct vxpu_dp_files *f, const char *dir);

/* A vxpu_dp_lookup_fn; ctx is a struct vxpu_dp_files. */
int vxpu_dp_files_lookup(void *ctx, const char *const *device_ids, size_t n,
                         struct vxpu_pod_allocation *alloc, unsigned *container, char *err,
                         size_t errlen);

#endif

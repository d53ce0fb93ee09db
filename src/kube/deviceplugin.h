/*
 * deviceplugin.h - one kubelet device plugin (API v1beta1) for one resource.
 *
 * The plugin serves DevicePlugin on a Unix socket in kubelet's plugin
 * folder and registers that socket with kubelet (Registration.Register on
 * kubelet.sock). Wire format: gRPC core (HTTP/2) carrying protobuf-c
 * messages generated at build time from deviceplugin.proto.
 *
 *   GetDevicePluginOptions  preferred allocation available, no pre-start
 *   ListAndWatch            `slices` virtual IDs per card ("<card>::<k>",
 *                           deviceplugin_answer.h) with the card's health and
 *                           NUMA node; resent to every watcher at once (within
 *                           the 50 ms poll of the server loop) when a card's
 *                           health changes
 *   GetPreferredAllocation  the must-include IDs, then the available IDs of
 *                           the cards those already use, then the rest, in the
 *                           order given: a container's slices stay together
 *   Allocate                per container request: the lookup callback names
 *                           the pod's allocation and the container; the answer
 *                           is vxpu_dp_answer's; a lookup failure is the
 *                           call's error status with the lookup's message
 *   PreStartContainer       nothing to do (not required)
 *
 * Threads: one server thread owns every gRPC call; vxpu_dp_set_health may
 * be called from any thread; lookup runs on the server thread.
 */
#ifndef VXPU_KUBE_DEVICEPLUGIN_H
#define VXPU_KUBE_DEVICEPLUGIN_H

#include "kube/deviceplugin_answer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_DP_MAX_CARDS 32

struct vxpu_dp_card {
	char id[VXPU_DEVICE_ID_MAX]; /* the registration's device id (UUID) */
	int numa;                    /* -1 unknown */
	unsigned slices;             /* virtual IDs listed, 1..1024 */
	bool healthy;
};

/*
 * Finds the allocation for one container request (the virtual IDs kubelet
 * chose). Returns 0 with *alloc and *container set, or -1 with a message
 * for kubelet in err.
 */
typedef int (*vxpu_dp_lookup_fn)(void *ctx, const char *const *device_ids, size_t n,
                                 struct vxpu_pod_allocation *alloc, unsigned *container, char *err,
                                 size_t errlen);

struct vxpu_dp_options {
	char plugin_dir[VXPU_DP_PATH_MAX]; /* /var/lib/kubelet/device-plugins */
	char endpoint[64];                 /* this plugin's socket file name */
	char resource[128];                /* e.g. nvidia.com/gpu */
	unsigned ncards;
	struct vxpu_dp_card cards[VXPU_DP_MAX_CARDS];
	struct vxpu_dp_config answer;
	vxpu_dp_lookup_fn lookup;
	void *lookup_ctx;
	/* Optional: runs once the answer is built and before it is sent (the
	 * agent creates the container's region there). Non-zero fails the
	 * Allocate with err as its message. */
	int (*prepare)(void *ctx, const struct vxpu_pod_allocation *a, unsigned container,
	               const struct vxpu_dp_answer *answer, char *err, size_t errlen);
	void *prepare_ctx;
};

struct vxpu_dp;

/*
 * Serves on <plugin_dir>/<endpoint> (a stale file there is replaced) and
 * starts the server thread. Does not register. 0, or -1 with a reason.
 */
int vxpu_dp_start(struct vxpu_dp **out, const struct vxpu_dp_options *o, char *err, size_t errlen);

/* Registers with kubelet at <plugin_dir>/kubelet.sock (5 s deadline). */
int vxpu_dp_register(struct vxpu_dp *p, char *err, size_t errlen);

/* Sets a card's health; watchers get the new list at once if it changed. */
void vxpu_dp_set_health(struct vxpu_dp *p, unsigned card, bool healthy);

/* True when the plugin's socket file is gone (kubelet restarted and
 * cleared its folder): stop, start and register again. */
bool vxpu_dp_socket_gone(const struct vxpu_dp *p);

/*
 * The wall time of the last Allocate calls (at most VXPU_DP_TIMES, oldest
 * first), from the request's arrival on the server thread to its answer
 * being ready: what the plugin itself adds to kubelet's call. Returns the
 * number copied into out_ns.
 */
#define VXPU_DP_TIMES 4096
unsigned vxpu_dp_allocate_times(struct vxpu_dp *p, uint64_t *out_ns, unsigned cap);

/* Answered Allocate container requests (for metrics and tests). */
unsigned long vxpu_dp_allocations(const struct vxpu_dp *p);

/* Cancels the calls, stops the thread, removes the socket file. NULL is fine. */
void vxpu_dp_stop(struct vxpu_dp *p);

#endif

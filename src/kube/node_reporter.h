/*
 * node_reporter.h - what the node agent tells Kubernetes about its node:
 * the node registration annotation on the Node object, and Events on the
 * pods whose allocation is on a device that failed or came back.
 *
 *   registration  vxpu.io/node-registration (core's versioned codec,
 *                 docs/annotations.md) with the devices' present health,
 *                 merge-patched onto the Node: at start, at once after
 *                 every health change (the writer thread is woken by the
 *                 change, so it lands in milliseconds), and as a heartbeat
 *                 every heartbeat_ms. A failed patch is tried again at the
 *                 next change or after at most a second;
 *   pods          a list/watch of the pods bound to this node (field
 *                 selector spec.nodeName) keeps each live pod's allocated
 *                 device IDs and its vxpu.io/allocation text (Allocate
 *                 reads it from here when the watch has the pod);
 *   Events        when a device turns unhealthy, every live pod with an
 *                 allocation on it gets a Warning Event DeviceUnhealthy
 *                 naming the device (UUID, index) and the reason; when it
 *                 comes back, a Normal Event DeviceRecovered; and any
 *                 Event another part of the agent asks for on a pod of
 *                 this node (the watchdog's).
 *
 * Threads: one writer (registration and Events, in that order, so the
 * annotation is never behind an Event) and one watcher. Every function is
 * thread-safe; vxpu_node_reporter_health may be called from the health
 * watcher's callback (it only records and signals).
 */
#ifndef VXPU_KUBE_NODE_REPORTER_H
#define VXPU_KUBE_NODE_REPORTER_H

#include "core/model.h"
#include "kube/kubeclient.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vxpu_node_reporter_options {
	struct vxpu_kube_client *client;
	const char *component; /* the Events' source, e.g. "vxpu-node-agent" */
	unsigned heartbeat_ms; /* registration written at least this often */
	bool events;           /* post Events for the pods on a device that changes */
	/* Optional (needs events): a pod this node ran with an allocation is
	 * gone - deleted, finished, or missing from a relist. Runs on the watch
	 * thread, without the reporter's lock. */
	void (*on_pod_gone)(void *ctx, const char *ns, const char *name, const char *uid);
	void *ctx;
};

struct vxpu_node_reporter;

/*
 * Starts both threads for node (copied; its name is the Node object's;
 * its devices' healthy flags are the health at start). 0, or -1 with why.
 */
int vxpu_node_reporter_start(struct vxpu_node_reporter **out,
                             const struct vxpu_node_reporter_options *o,
                             const struct vxpu_node *node, char *err, size_t errlen);

/* Device at position i of the node's devices changed; reason is why it
 * failed ("" when healthy). */
void vxpu_node_reporter_health(struct vxpu_node_reporter *r, unsigned i, bool healthy,
                               const char *reason);

/*
 * Queues an Event on pod ns/name (its uid from the pod watch, when known),
 * e.g. the monitor's watchdog findings; posted by the writer thread. At
 * most 64 wait; beyond that the oldest are dropped and counted as failed.
 */
void vxpu_node_reporter_pod_event(struct vxpu_node_reporter *r, const char *ns, const char *name,
                                  bool warning, const char *reason, const char *message);

/*
 * The vxpu.io/allocation text of pod ns/name as the pod watch last saw it,
 * if that pod has uid (malloc'd; free it), else NULL (not seen, another
 * pod of that name, or no watch: --no-events). A vxpu_dp_pod_cache_fn.
 */
char *vxpu_node_reporter_pod_allocation(void *reporter, const char *ns, const char *name,
                                        const char *uid);

struct vxpu_node_reporter_stats {
	uint64_t registrations; /* patches that landed */
	uint64_t registration_failures;
	uint64_t events_posted;
	uint64_t events_failed;
	unsigned pods;    /* live pods with an allocation on this node */
	bool pods_synced; /* the pod list has been read */
};

void vxpu_node_reporter_stats(struct vxpu_node_reporter *r, struct vxpu_node_reporter_stats *out);

/* Stops both threads (the watch within about 50 ms). NULL is fine. */
void vxpu_node_reporter_stop(struct vxpu_node_reporter *r);

#endif

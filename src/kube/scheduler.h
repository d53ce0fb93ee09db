/*
 * scheduler.h - the daemon behind `vxpu scheduler`: the cluster model kept
 * current by watches, and the four requests kube-scheduler and the API
 * server send (filter, prioritize, bind, admission review), each turned
 * into an HTTP status and body. The HTTP server itself is the caller's
 * (cmd_scheduler.c over kube/http.h); this file does no socket work.
 *
 * Concurrency: one readers-writer lock guards the model. Filter,
 * prioritize and admission take it shared; watch events and the short
 * reserve / rollback steps of bind take it exclusively, never across an
 * API call. Binds to different nodes run in parallel; binds to one node
 * are ordered by that node's allocation lease.
 *
 * Bind, step by step (docs/kubernetes.md, "Binding"):
 *   1. read the pod (its spec, uid and resourceVersion) from the API server;
 *   2. take the node's allocation lease (coordination.k8s.io Lease
 *      "vxpu-node-<node>" in the lease namespace; holder = the pod's UID):
 *      free, expired (renewTime + leaseDurationSeconds), or held by a pod
 *      that is gone or finished is taken over with a resourceVersion
 *      precondition; held by a live pod, bind waits up to lease_wait_ms;
 *   3. make the node's usage fresh: if the lease's last holder is not yet
 *      seen bound in the model, list the pods bound to the node and
 *      reconcile (another replica may have just bound there);
 *   4. reserve in the model (fit against that state, commit, charge quota);
 *   5. write the allocation annotation (merge patch naming the pod's
 *      resourceVersion) and vxpu.io/bind-phase=allocating;
 *   6. create the Binding (with the pod's UID).
 * Any failure rolls back what was done (reservation, annotation, lease)
 * and answers ExtenderBindingResult.Error; kube-scheduler retries the pod.
 * The lease stays with the pod after a successful bind: the node agent
 * releases it once kubelet's Allocate consumed the allocation.
 */
#ifndef VXPU_KUBE_SCHEDULER_H
#define VXPU_KUBE_SCHEDULER_H

#include "core/extender_model.h"
#include "core/schedule.h"
#include "core/vendor.h"
#include "core/webhook.h"
#include "kube/kubeclient.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_LEASE_PREFIX "vxpu-node-"
#define VXPU_ANNOTATION_LEASE_POD "vxpu.io/pod"         /* on the Lease: ns/name */
#define VXPU_ANNOTATION_LEASE_POD_UID "vxpu.io/pod-uid" /* on the Lease: last holder */

struct vxpu_scheduler_options {
	const char *scheduler_name;  /* set by the webhook, source of Events */
	const char *identity;        /* this replica (Events' reportingInstance) */
	const char *lease_namespace; /* NULL = the client's namespace */
	unsigned lease_seconds;      /* [60] */
	unsigned lease_wait_ms;      /* [10000] how long bind waits for a busy lease */
	struct vxpu_sched_config policy;
	uint32_t shape_window; /* [1000] */
	struct vxpu_webhook_config webhook;
	bool events; /* post Kubernetes Events on pods */
	/* The ledger of allocation intervals (kube/scheduler_ledger.h): a file
	 * or a postgres:// URI; NULL = none. */
	const char *ledger;
	const char *project_label;    /* [vxpu.io/project] pod label: the project */
	const char *user_label;       /* [vxpu.io/user] pod label: the user */
	unsigned ledger_grace_ms;     /* [30000] */
	unsigned ledger_reconcile_ms; /* [60000] */
};

struct vxpu_scheduler;

/*
 * Makes the scheduler; vendors and client must outlive it. Opens the ledger
 * when one is named (a failure to open it fails this call). Nothing else is
 * started: vxpu_scheduler_start launches the watches.
 */
int vxpu_scheduler_new(const struct vxpu_vendor_table *vendors, struct vxpu_kube_client *client,
                       const struct vxpu_scheduler_options *opt, struct vxpu_scheduler **out,
                       char *err, size_t errlen);

/* Starts the watches of Nodes, Pods and ResourceQuotas (and the Events poster). */
int vxpu_scheduler_start(struct vxpu_scheduler *s, char *err, size_t errlen);

/* The ledger's name as it may be logged (a URI's password masked), or NULL. */
const char *vxpu_scheduler_ledger(const struct vxpu_scheduler *s);

/* True once every watched collection was listed (readiness). */
bool vxpu_scheduler_synced(const struct vxpu_scheduler *s);

/* Stops the watches, writes what the ledger writer still has queued, and
 * frees everything. NULL is a no-op. */
void vxpu_scheduler_free(struct vxpu_scheduler *s);

/* An answer: HTTP status and a malloc'd JSON body. */
struct vxpu_scheduler_answer {
	int status;
	char *body;
	size_t len;
};

void vxpu_scheduler_filter(struct vxpu_scheduler *s, const char *body, size_t len,
                           struct vxpu_scheduler_answer *out);
void vxpu_scheduler_prioritize(struct vxpu_scheduler *s, const char *body, size_t len,
                               struct vxpu_scheduler_answer *out);
void vxpu_scheduler_bind(struct vxpu_scheduler *s, const char *body, size_t len,
                         struct vxpu_scheduler_answer *out);
void vxpu_scheduler_admit(struct vxpu_scheduler *s, const char *body, size_t len,
                          struct vxpu_scheduler_answer *out);

/*
 * The Prometheus exposition (malloc'd, *len bytes): request latency
 * histograms and outcomes, per-device allocated memory and compute, quota
 * used and limit, cache and API client state.
 */
char *vxpu_scheduler_metrics(struct vxpu_scheduler *s, size_t *len);

/* The Lease name for a node ("vxpu-node-<node>", shortened with a hash when long). */
void vxpu_scheduler_lease_name(const char *node, char *out, size_t cap);

/*
 * Applies one watch event to the model, as the watches do (type "ADDED",
 * "MODIFIED", "DELETED"; kind "Node", "Pod", "ResourceQuota"). For tests
 * and for replaying a saved state.
 */
void vxpu_scheduler_apply(struct vxpu_scheduler *s, const char *kind, const char *type,
                          const struct cJSON *object);

/* Runs fn on the model under the shared lock (tests, metrics). */
void vxpu_scheduler_read(struct vxpu_scheduler *s,
                         void (*fn)(const struct vxpu_ext_model *m, void *ctx), void *ctx);

#endif

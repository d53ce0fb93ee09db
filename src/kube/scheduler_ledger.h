/*
 * scheduler_ledger.h - the cluster scheduler's writer of allocation
 * intervals into the ledger of the single-machine mode (meter/ledger.h):
 * a SQLite file, or a PostgreSQL database that every replica shares.
 *
 * One interval per (pod, device) of a pod's allocation:
 *   allocation_id  the pod's UID;
 *   device_index   the device's index on its node (the devices the
 *                  allocation annotation names; two containers of one pod
 *                  on one device are one row, their shares summed);
 *   memory_mib, compute_percent
 *                  the pod's share of that device, as the annotation says;
 *   tenant         the pod's namespace;
 *   project, user  the values of two configurable pod labels ("default"
 *                  and "unknown" when the label is missing or not a valid
 *                  ledger name);
 *   command        "pod NAMESPACE/NAME";
 *   start          the annotation's allocatedAt (the moment bind decided);
 *   end            when the pod was seen finished (phase Succeeded or
 *                  Failed) or deleted, or, for a pod that vanished while no
 *                  watch saw it go (a restart, a relist), when a
 *                  reconciliation found it gone.
 *
 * Ledger I/O never runs on the request path or under the model lock: the
 * scheduler queues start / end records (cheap, under its lock) and one
 * writer thread owns the ledger connection. The writer is idempotent, so
 * the same start may be queued by bind and again by the watch, by both
 * replicas, or again after a restart: it keeps the set of allocations that
 * have a running interval (loaded from the ledger when it opens, kept up to
 * date by its own writes), skips starts it already has, and treats
 * "already recorded" as done. Ends of intervals that are already ended end
 * nothing. So a restart neither duplicates nor loses intervals.
 *
 * Reconciliation: after every full list of pods, and every
 * reconcile_interval_ms, the writer ends each running interval whose pod
 * the model no longer holds (asked through the live hook, under the
 * scheduler's lock), provided it started more than grace_ms ago (another
 * replica's fresh bind may not have reached this replica's watch yet).
 *
 * A write that fails (the database is down) is retried with backoff for as
 * long as the scheduler runs; ends that are lost when it stops are caught
 * up by the next start's reconciliation.
 */
#ifndef VXPU_KUBE_SCHEDULER_LEDGER_H
#define VXPU_KUBE_SCHEDULER_LEDGER_H

#include "core/extender_model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_SCHED_LEDGER_PROJECT_LABEL "vxpu.io/project"
#define VXPU_SCHED_LEDGER_USER_LABEL "vxpu.io/user"
#define VXPU_SCHED_LEDGER_PROJECT_DEFAULT "default"
#define VXPU_SCHED_LEDGER_USER_DEFAULT "unknown"

struct vxpu_sched_ledger_hooks {
	/* True while the model holds an allocation for the pod uid. */
	bool (*live)(void *ctx, const char *uid);
	/* True once the pods were listed (reconciling before that would end
	 * every interval). */
	bool (*synced)(void *ctx);
	void *ctx;
};

struct vxpu_sched_ledger_options {
	const char *path;      /* a file or a postgres:// URI */
	unsigned grace_ms;     /* [30000] (0 = the default) */
	unsigned reconcile_ms; /* [60000] (0 = the default) */
	struct vxpu_sched_ledger_hooks hooks;
};

struct vxpu_sched_ledger;

/* Opens (creating as needed) the ledger and starts the writer. */
int vxpu_sched_ledger_new(const struct vxpu_sched_ledger_options *opt,
                          struct vxpu_sched_ledger **out, char *err, size_t errlen);

/* Writes what is queued (giving up on writes that keep failing), stops the
 * writer and closes the ledger. NULL is a no-op. */
void vxpu_sched_ledger_free(struct vxpu_sched_ledger *l);

/*
 * Queues the start of a pod's intervals from its allocation annotation
 * text. m (for the devices' sizes) is read, so call it under the model
 * lock. project and user are the label values (NULL or invalid: the
 * defaults). Returns 0, or -1 when the annotation does not decode (err).
 */
int vxpu_sched_ledger_started(struct vxpu_sched_ledger *l, const struct vxpu_ext_model *m,
                              const char *uid, const char *annotation, const char *project,
                              const char *user, char *err, size_t errlen);

/* Queues the end of a pod's intervals at end_ms (wall clock). */
void vxpu_sched_ledger_ended(struct vxpu_sched_ledger *l, const char *uid, int64_t end_ms);

/* Asks for a reconciliation as soon as the writer is free. */
void vxpu_sched_ledger_reconcile(struct vxpu_sched_ledger *l);

/* Counters for /metrics. */
struct vxpu_sched_ledger_stats {
	uint64_t started, ended, failed, queued;
};
void vxpu_sched_ledger_stats(struct vxpu_sched_ledger *l, struct vxpu_sched_ledger_stats *out);

/* The ledger's name for logs (the URI with its password masked). */
const char *vxpu_sched_ledger_path(const struct vxpu_sched_ledger *l);

#endif

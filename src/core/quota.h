/*
 * quota.h - per-tenant limits on device memory, compute and device count.
 *
 * A quota belongs to a namespace (the tenant) or to a project inside a
 * namespace. A pod is charged against its namespace's quota and, when it
 * names a project that has one, against that project's quota too; it must
 * fit both. Amounts: memory in MiB (sum over the pod's device shares),
 * compute in device-percent (a share of 30 % on two devices is 60), devices
 * as the number of device shares. A limit of VXPU_QUOTA_UNLIMITED does not
 * limit; a namespace without an entry is not limited.
 *
 * Checking is pure (used on the filter path for every node, because the
 * amounts of a percent-memory request depend on the node's devices);
 * charging re-checks and applies atomically. A refusal names the quota and
 * the amounts: quota of namespace "team-a": memory 40960 MiB requested,
 * 8192 MiB of 32768 MiB left.
 *
 * Entries are kept sorted by (namespace, project), so iteration and lookups
 * are deterministic.
 */
#ifndef VXPU_CORE_QUOTA_H
#define VXPU_CORE_QUOTA_H

#include "core/request.h"

#include <stddef.h>
#include <stdint.h>

#define VXPU_QUOTA_UNLIMITED UINT64_MAX

struct vxpu_quota_amount {
	uint64_t memory_mib;
	uint64_t compute_percent;
	uint64_t devices;
};

struct vxpu_quota_entry {
	char ns[VXPU_NAMESPACE_MAX];
	char project[VXPU_PROJECT_MAX]; /* "" = the namespace's own quota */
	struct vxpu_quota_amount limit;
	struct vxpu_quota_amount used;
};

struct vxpu_quota_table {
	size_t count;
	size_t cap;
	struct vxpu_quota_entry *entries; /* heap, sorted */
};

void vxpu_quota_init(struct vxpu_quota_table *t);
void vxpu_quota_free(struct vxpu_quota_table *t);

/* Adds or replaces the limits of (ns, project); keeps what is used. */
int vxpu_quota_set(struct vxpu_quota_table *t, const char *ns, const char *project,
                   const struct vxpu_quota_amount *limit, char *err, size_t errlen);

const struct vxpu_quota_entry *vxpu_quota_find(const struct vxpu_quota_table *t, const char *ns,
                                               const char *project);

/* 0 when want fits every quota that applies, else -1 and the refusal in why. */
int vxpu_quota_check(const struct vxpu_quota_table *t, const char *ns, const char *project,
                     const struct vxpu_quota_amount *want, char *why, size_t whylen);

/* Checks, then adds want to every quota that applies; nothing on refusal. */
int vxpu_quota_charge(struct vxpu_quota_table *t, const char *ns, const char *project,
                      const struct vxpu_quota_amount *want, char *why, size_t whylen);

/* Gives back what a charge took (never below zero). */
void vxpu_quota_refund(struct vxpu_quota_table *t, const char *ns, const char *project,
                       const struct vxpu_quota_amount *amount);

#endif

/*
 * fit.h - does a pod fit a node, on which devices, and if not, why not.
 *
 * Evaluation and commitment are separate. vxpu_fit_node is pure: it reads
 * the node (inventory and usage) and the request, works on a stack copy of
 * the usage array, allocates nothing, and returns either a placement (which
 * devices, what share on each) or a refusal that explains every device:
 *
 *     "2/8 insufficient memory, 6/8 type mismatch"
 *
 * so a scheduler can evaluate many nodes (in any order, in parallel) and
 * pick one. vxpu_node_commit then applies the chosen placement to the node's
 * usage; it re-checks capacity because usage may have moved since the fit
 * (another pod committed in between) and refuses, changing nothing, when the
 * placement no longer fits. vxpu_node_release gives back exactly what a
 * commit took.
 *
 * Per device, the checks run in a fixed order and the first failure is the
 * device's reason: identity first (type, UUID), then state (unhealthy,
 * cordoned), then the request's shape (no template fits), then capacity
 * (exclusive conflict, slices, memory, compute). A device that passes all
 * of them but cannot be grouped with others on one NUMA node counts as
 * "NUMA". In the aggregated string reasons are listed in enum order: from
 * the nearest miss (capacity) to the farthest (identity); counts are over
 * the node's devices. When some devices fit but fewer than the container
 * needs, "K/N fit (M needed)" closes the list. Node-level refusals (host
 * CPU or memory, quota) are one sentence that names the amounts.
 *
 * Containers: app containers are placed one after another on a running
 * usage (they run together, so their shares add up, and two containers may
 * share a device); each init container is placed alone on the node's usage
 * (init containers run one at a time, before the app containers). What a
 * commit adds to a device is the peak over those phases, per dimension.
 */
#ifndef VXPU_CORE_FIT_H
#define VXPU_CORE_FIT_H

#include "core/model.h"
#include "core/quota.h"
#include "core/request.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vxpu_shape_stats; /* shapes.h */
struct vxpu_frag_cache;  /* shapes.h */

/* Refusal reasons, in the order the aggregated string lists them. */
enum vxpu_reason {
	VXPU_REASON_OK = 0,
	VXPU_REASON_INSUFFICIENT_MEMORY,
	VXPU_REASON_INSUFFICIENT_COMPUTE,
	VXPU_REASON_SLICES_EXHAUSTED,
	VXPU_REASON_EXCLUSIVE_CONFLICT,
	VXPU_REASON_NO_TEMPLATE,
	VXPU_REASON_NUMA,
	VXPU_REASON_CORDONED,
	VXPU_REASON_UNHEALTHY,
	VXPU_REASON_UUID_MISMATCH,
	VXPU_REASON_TYPE_MISMATCH,
	/* node-level */
	VXPU_REASON_QUOTA,
	VXPU_REASON_HOST_CPU,
	VXPU_REASON_HOST_MEMORY,
	VXPU_REASON_NO_DEVICES, /* the node has no device at all */
	VXPU_REASON_COUNT
};

/* "insufficient memory", "type mismatch", ... */
const char *vxpu_reason_text(enum vxpu_reason r);

/* One container's share of one device. */
struct vxpu_share {
	uint8_t device;        /* position in node->devices */
	uint8_t container;     /* index in the pod request */
	bool init;             /* the container is an init container */
	bool exclusive;        /* nobody else on the device meanwhile */
	int8_t template_index; /* in the device's profile; -1 = none */
	uint64_t memory_mib;
	uint32_t compute_units; /* of the device's unit_count; 0 = none reserved */
};

/* A placement belongs to the node it was fitted on (positions, peak). */
struct vxpu_placement {
	uint32_t nshares;
	struct vxpu_share shares[VXPU_POD_MAX_DEVICES]; /* grouped by container, in order */
	/* Per device (the node's first ndevices entries), the peak over the
	 * pod's phases: what commit adds. */
	struct vxpu_device_usage peak[VXPU_NODE_MAX_DEVICES];
	struct vxpu_quota_amount quota; /* derived from peak */
	uint64_t cpu_milli;
	uint64_t memory_mib;
	/* Growth of the node's expected fragmentation, when the frag device
	 * policy placed every share (no init containers); saves the node-level
	 * frag score from measuring the node again. */
	bool frag_delta_known;
	double frag_delta;
};

struct vxpu_refusal {
	enum vxpu_reason node_reason; /* OK when the refusal is per device */
	char container[VXPU_CONTAINER_NAME_MAX];
	uint16_t ndevices;
	uint16_t fitting; /* devices that fit the container */
	uint16_t needed;  /* devices the container needs */
	uint16_t counts[VXPU_REASON_COUNT];
	char detail[256]; /* node-level: the sentence with the amounts */
};

struct vxpu_fit_options {
	enum vxpu_policy device_policy;        /* resolved: not DEFAULT */
	const struct vxpu_quota_table *quota;  /* NULL = no quotas */
	const struct vxpu_shape_stats *shapes; /* for frag; NULL = none learnt */
	/* Optional memo for shapes (see shapes.h), shared by the fits of one
	 * decision; NULL makes each fit resolve shapes itself. */
	struct vxpu_frag_cache *frag_cache;
};

/* The per-device part of a request, independent of device identity. */
struct vxpu_demand {
	uint32_t count; /* devices the container takes (decides whole-device rules) */
	uint64_t memory_mib;
	uint32_t memory_percent;
	uint32_t compute_percent;
	bool exclusive;
};

/*
 * Does a demand fit device d (its state is not checked) under usage u?
 * Resolves the share: percent memory against the device's own memory,
 * granularity and templates, whole devices for multi-device requests where
 * the profile demands it. Fills *share (all but device and container).
 */
enum vxpu_reason vxpu_demand_fit(const struct vxpu_device *d, const struct vxpu_device_usage *u,
                                 const struct vxpu_demand *dm, struct vxpu_share *share);

/*
 * Does container c fit device pos given usage u? Fills *share (device,
 * memory, compute, template, exclusive) when it does. Pure.
 */
enum vxpu_reason vxpu_device_fit(const struct vxpu_node *n, uint32_t pos,
                                 const struct vxpu_device_usage *u,
                                 const struct vxpu_container_request *c, struct vxpu_share *share);

/*
 * Fits a normalized pod request on a finalized node. Returns true and fills
 * *out, or false and fills *why. Pure: no allocation, no side effect other
 * than filling opt->frag_cache (a memo of a pure function).
 */
bool vxpu_fit_node(const struct vxpu_node *n, const struct vxpu_pod_request *pod,
                   const struct vxpu_fit_options *opt, struct vxpu_placement *out,
                   struct vxpu_refusal *why);

/* Writes the refusal as one line (see above); returns its length. */
size_t vxpu_refusal_format(const struct vxpu_refusal *why, char *buf, size_t cap);

/* The reason that best summarizes a refusal (node reason or commonest). */
enum vxpu_reason vxpu_refusal_main_reason(const struct vxpu_refusal *why);

/*
 * Recomputes peak and quota amounts of a placement from its shares (used
 * after decoding an allocation annotation). Fails when a share names a
 * device the node does not have.
 */
int vxpu_placement_finish(const struct vxpu_node *n, struct vxpu_placement *p, char *err,
                          size_t errlen);

/*
 * Applies a placement to the node's usage under an owner key (unique on the
 * node, e.g. "namespace/pod"). Re-checks capacity; on refusal returns -1
 * with the reason and changes nothing.
 */
int vxpu_node_commit(struct vxpu_node *n, const struct vxpu_placement *p, const char *owner,
                     char *err, size_t errlen);

/*
 * Records a placement without re-checking capacity or device state: for
 * rebuilding usage from allocations that already exist (a restarted
 * scheduler reading pod annotations, where a device may since have turned
 * unhealthy). Refuses only a missing or duplicate owner key.
 */
int vxpu_node_record(struct vxpu_node *n, const struct vxpu_placement *p, const char *owner,
                     char *err, size_t errlen);

/*
 * Gives back what the owner's commit took; fills *released (may be NULL)
 * with its quota amounts. Returns 0, or -1 when the owner has nothing here.
 */
int vxpu_node_release(struct vxpu_node *n, const char *owner, struct vxpu_quota_amount *released);

/* The owner's allocation on the node, or NULL. */
const struct vxpu_allocation *vxpu_node_allocation(const struct vxpu_node *n, const char *owner);

#endif

/*
 * policy.h - placement policies: which devices of a node serve a container
 * (device level), and how good a node's placement is (node level).
 *
 * Device level, among the devices that fit (candidates), for k devices:
 *   binpack   the k most utilized (utilization u(d) = mean of memory,
 *             compute and slice fractions in use, model.h); fills devices
 *             before opening new ones;
 *   spread    the k least utilized; isolates tenants;
 *   topology  k > 1: the set S maximizing the sum of link weights over its
 *             pairs (weight = rank of the best link type × width); ties go
 *             to the set that cuts the least link weight towards unused
 *             devices left behind, then binpack. k = 1: the device with the
 *             least link weight towards unused devices, so well-connected
 *             groups stay whole for multi-device requests. Exact search
 *             over all k-subsets while there are at most 200 000, else a
 *             greedy growth from the best pair;
 *   numa      all k on one NUMA node when possible, choosing the NUMA node
 *             with the fewest candidates that still has k (best fit), then
 *             binpack inside it; else binpack over all;
 *   frag      greedily, the device whose share makes the node's expected
 *             fragmentation F (shapes.h) grow least; ties binpack.
 * NUMA binding (a request flag) restricts any policy to sets inside one
 * NUMA node: the policy runs per NUMA node and the best set wins (ties: the
 * lower NUMA id). Ties everywhere end at the lower device index.
 *
 * Node level, for a placement (higher score wins, then the node name):
 *   binpack   mean utilization of the node's devices after placement;
 *   spread    minus that;
 *   topology  sum over containers of the pair weight of their set (k > 1)
 *             or minus the weight a single device cuts (k = 1); then binpack;
 *   numa      minus the NUMA nodes spanned beyond one per container; then
 *             binpack;
 *   frag      minus the growth of the node's F; then binpack.
 */
#ifndef VXPU_CORE_POLICY_H
#define VXPU_CORE_POLICY_H

#include "core/fit.h"
#include "core/model.h"
#include "core/request.h"
#include "core/shapes.h"

#include <stdbool.h>
#include <stdint.h>

/* Largest number of k-subsets the topology policy searches exactly. */
#define VXPU_TOPOLOGY_EXACT_LIMIT 200000

/* A device that fits a container, with the share it would take. */
struct vxpu_candidate {
	struct vxpu_share share; /* share.device is the device position */
};

/*
 * Chooses k of the candidates for one container under policy (not
 * DEFAULT). chosen[] receives indices into cands, in device order. frag is
 * the shapes memo (NULL: nothing learnt, frag then acts as binpack); under
 * the frag policy *frag_delta (may be NULL) receives how much the node's F
 * grows. Returns 0, or -1 when numa_bind is set and no NUMA node holds k
 * candidates. Pure; usage is the node's usage as the container sees it.
 */
int vxpu_choose_devices(const struct vxpu_node *n, const struct vxpu_device_usage *usage,
                        const struct vxpu_candidate *cands, uint32_t ncands, uint32_t k,
                        bool numa_bind, enum vxpu_policy policy, struct vxpu_frag_cache *frag,
                        uint8_t *chosen, double *frag_delta);

/* A node's score: compare primary, then secondary; higher is better. */
struct vxpu_score {
	double primary;
	double secondary;
};

/*
 * Scores a placement on node n (whose usage is the one before it) under a
 * node-level policy (not DEFAULT). frag: the shapes memo, for the frag
 * policy (NULL: nothing learnt). Pure.
 */
struct vxpu_score vxpu_score_placement(const struct vxpu_node *n, const struct vxpu_placement *p,
                                       enum vxpu_policy policy, struct vxpu_frag_cache *frag);

/* -1, 0, 1 as a is worse than, equal to, better than b. */
int vxpu_score_compare(struct vxpu_score a, struct vxpu_score b);

#endif

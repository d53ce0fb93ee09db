/*
 * shapes.h - the recent distribution of request shapes, learnt online, and
 * the expected fragmentation of a node under it (the idea of FGD, "Beware
 * of Fragmentation", USENIX ATC'23), for vxpu's device model.
 *
 * A shape is what one container asks of each device: how many devices, how
 * much memory (MiB, or percent of the device) and compute, exclusive or not.
 * Shapes are bucketed (memory up to 1 GiB steps below 16 GiB and 4 GiB steps
 * above, percentages up to steps of 5) so that similar requests share an
 * entry. They are counted by the decayed counter of decay_counter.h, in a
 * fixed table inside the stats (no heap, copyable by value): with a window
 * of w requests, each earlier observation keeps 1 - 1/w of its weight per
 * new one, an exponential moving distribution with a memory of about w
 * requests, no trace needed in advance. When the table is full the lightest
 * shape (among equals the one whose key bytes compare greatest) is
 * replaced. Everything is deterministic for a given sequence of requests.
 *
 * Fragmentation of a node for one shape s: a device is *usable* for s when
 * s's per-device share fits it now (state, exclusivity, slices, memory,
 * compute, templates); its free amount q(d) is the smaller of its free
 * memory and free compute fractions. Then
 *
 *     F_s(n) = sum of q(d) over devices not usable for s
 *              + (if fewer than s.count devices are usable) the q(d) of the
 *                usable ones too (the node cannot host s at all)
 *     F(n)   = sum over shapes of weight(s) * F_s(n) / total weight
 *
 * measured in devices. The fragmentation-aware policy places a request where
 * F grows least (or shrinks most).
 *
 * frag.h measures the same idea on the trace simulator's model (one number
 * of milli-GPU per device and per request) and learns its distribution with
 * the same counter; only the shapes and the measure differ. Here a share's
 * size depends on the device it lands on (memory in MiB or percent of that
 * device, slice templates, slice counts, exclusivity, whole devices for some
 * families), so usability is decided per device by the allocator's own fit.
 */
#ifndef VXPU_CORE_SHAPES_H
#define VXPU_CORE_SHAPES_H

#include "core/decay_counter.h"
#include "core/model.h"
#include "core/request.h"

#include <stdbool.h>
#include <stdint.h>

#define VXPU_SHAPES_MAX 24

/* A counter key: built zeroed (padding included), then bucketed. */
struct vxpu_shape {
	uint16_t count;
	uint16_t memory_percent; /* 0 = memory_mib is absolute */
	uint16_t compute_percent;
	bool exclusive;
	uint64_t memory_mib;
};

struct vxpu_shape_stats {
	struct vxpu_decay_counter counter;               /* counter.len shapes in use */
	struct vxpu_shape shapes[VXPU_SHAPES_MAX];       /* its keys */
	struct vxpu_decay_slot weights[VXPU_SHAPES_MAX]; /* its slots */
};

/* Empty distribution remembering about `window` requests (0 counts as 1). */
void vxpu_shapes_init(struct vxpu_shape_stats *s, uint32_t window);

/* Shapes learnt (s->shapes[0..count)). */
uint32_t vxpu_shapes_count(const struct vxpu_shape_stats *s);

/* Containers observed so far (not decayed). */
uint64_t vxpu_shapes_observed(const struct vxpu_shape_stats *s);

/* Shape i's share of the recent requests (the shares sum to 1). */
double vxpu_shapes_share(const struct vxpu_shape_stats *s, uint32_t i);

/* Learns the device containers of a normalized pod (init containers too). */
void vxpu_shapes_observe(struct vxpu_shape_stats *s, const struct vxpu_pod_request *pod);

/* Learns one container's shape. */
void vxpu_shapes_observe_container(struct vxpu_shape_stats *s,
                                   const struct vxpu_container_request *c);

/* F(n) for the node's devices under usage; 0 when nothing was learnt. */
double vxpu_node_fragmentation(const struct vxpu_node *n, const struct vxpu_device_usage *usage,
                               const struct vxpu_shape_stats *s);

/*
 * Incremental form, for trying one device at a time: fill a context once
 * for a node and usage (it caches which devices are usable for which
 * shape), then ask what F becomes if device pos had usage *next, or apply
 * that change to the context. The node and the cache must outlive it.
 */
/*
 * Every shape's share resolved for one kind of device (profile, memory,
 * compute units), arranged so that the shapes a device can host are found
 * with two binary searches: shapes sorted by memory need and by compute
 * need, with the bit set of each prefix.
 */
struct vxpu_frag_kind {
	const struct vxpu_vendor_profile *profile;
	uint64_t memory_mib;
	uint32_t unit_count;
	uint32_t nshapes;
	uint32_t possible;  /* bit s: shape s can fit an empty device of this kind */
	uint32_t exclusive; /* bit s: shape s needs an unused device */
	uint64_t memory_sorted[VXPU_SHAPES_MAX];
	uint32_t memory_prefix[VXPU_SHAPES_MAX + 1]; /* shapes among the first i */
	uint64_t units_sorted[VXPU_SHAPES_MAX];
	uint32_t units_prefix[VXPU_SHAPES_MAX + 1];
};

/*
 * A memo of resolved kinds that one decision over many nodes fills lazily
 * and shares, so each kind of device is resolved once, not once per node.
 * Tied to one stats value: re-init it when the stats change.
 */
#define VXPU_FRAG_CACHE_KINDS 16

struct vxpu_frag_cache {
	const struct vxpu_shape_stats *stats;
	uint32_t multi; /* bit s: shape s takes more than one device */
	/* Sum of normalized weights of the shapes in each byte of a shape set:
	 * three lookups weigh any set of up to 24 shapes. */
	double weight_of[3][256];
	uint32_t nkinds;
	struct vxpu_frag_kind kinds[VXPU_FRAG_CACHE_KINDS];
};

void vxpu_frag_cache_init(struct vxpu_frag_cache *c, const struct vxpu_shape_stats *s);

/*
 * With q(d) the free amount of device d, Q their sum over the node and
 * w(s) the normalized weights, the definition above rewrites as
 *     F = Q - S,   S = sum over devices d of q(d) * a(d),
 *     a(d) = sum of w(s) over the shapes s usable on d that the node hosts
 * (a shape is hosted when at least its device count of devices can take
 * it). The context keeps each device's usable set, q and a, the hosted set
 * H and S. Trying a new usage for one device costs O(1) when H stays, and
 * one pass over the node's devices when it changes.
 */
struct vxpu_frag_context {
	const struct vxpu_node *node;
	const struct vxpu_shape_stats *stats;
	const struct vxpu_frag_cache *cache;
	double base;                          /* F(n) for the context's usage */
	double total;                         /* Q */
	double hosted_sum;                    /* S */
	uint32_t hosted;                      /* H */
	uint32_t mask[VXPU_NODE_MAX_DEVICES]; /* bit s: device usable for shape s */
	double q[VXPU_NODE_MAX_DEVICES];
	double a[VXPU_NODE_MAX_DEVICES];
	const struct vxpu_frag_kind *kind[VXPU_NODE_MAX_DEVICES]; /* NULL: memo was full */
};

/* cache: the memo (its stats are the distribution measured against). */
void vxpu_frag_context_init(struct vxpu_frag_context *ctx, const struct vxpu_node *n,
                            const struct vxpu_device_usage *usage, struct vxpu_frag_cache *cache);
/* F(n) if device pos (whose usage is the context's) had usage *next. */
double vxpu_frag_context_try(const struct vxpu_frag_context *ctx, uint32_t pos,
                             const struct vxpu_device_usage *next);
/* Makes *next the context's usage of device pos; updates base. */
void vxpu_frag_context_apply(struct vxpu_frag_context *ctx, uint32_t pos,
                             const struct vxpu_device_usage *next);

#endif

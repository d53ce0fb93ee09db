/*
 * shapes.h - the recent distribution of request shapes, learnt online, and
 * the expected fragmentation of a node under it (the idea of FGD, "Beware
 * of Fragmentation", USENIX ATC'23), for vxpu's device model.
 *
 * A shape is what one container asks of each device: how many devices, how
 * much memory (MiB, or percent of the device) and compute, exclusive or not.
 * Shapes are bucketed (memory up to 1 GiB steps below 16 GiB and 4 GiB steps
 * above, percentages up to steps of 5) so that similar requests share an
 * entry. Every observed container adds weight (1 - decay) to its shape after
 * all weights were multiplied by decay: an exponential moving distribution
 * with a memory of about 1 / (1 - decay) requests, no trace needed in
 * advance. When the table is full the lightest shape (then the last) is
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
 */
#ifndef VXPU_CORE_SHAPES_H
#define VXPU_CORE_SHAPES_H

#include "core/model.h"
#include "core/request.h"

#include <stdbool.h>
#include <stdint.h>

#define VXPU_SHAPES_MAX 24

struct vxpu_shape {
	uint16_t count;
	uint16_t memory_percent; /* 0 = memory_mib is absolute */
	uint16_t compute_percent;
	bool exclusive;
	uint64_t memory_mib;
	double weight;
};

struct vxpu_shape_stats {
	double decay;
	double total;
	uint64_t observed;
	uint32_t n;
	struct vxpu_shape shapes[VXPU_SHAPES_MAX];
};

/* Empty distribution remembering about `window` requests (>= 1). */
void vxpu_shapes_init(struct vxpu_shape_stats *s, uint32_t window);

/* Learns the device containers of a normalized pod (init containers too). */
void vxpu_shapes_observe(struct vxpu_shape_stats *s, const struct vxpu_pod_request *pod);

/* Learns one container's shape. */
void vxpu_shapes_observe_container(struct vxpu_shape_stats *s,
				   const struct vxpu_container_request *c);

/* F(n) for the node's devices under usage; 0 when nothing was learnt. */
double vxpu_node_fragmentation(const struct vxpu_node *n, const struct vxpu_device_usage *usage,
			       const struct vxpu_shape_stats *s);

/*
 * Incremental form for trying one device at a time: fill a context once for
 * a node and usage, then ask what F becomes if device pos had usage *next.
 */
struct vxpu_frag_context {
	const struct vxpu_node *node;
	const struct vxpu_shape_stats *stats;
	double base;                    /* F(n) now */
	double unusable[VXPU_SHAPES_MAX]; /* sum of q over devices not usable, per shape */
	double usable[VXPU_SHAPES_MAX];   /* sum of q over usable devices */
	uint32_t nusable[VXPU_SHAPES_MAX];
};

void vxpu_frag_context_init(struct vxpu_frag_context *ctx, const struct vxpu_node *n,
			    const struct vxpu_device_usage *usage,
			    const struct vxpu_shape_stats *s);
/* F(n) if device pos went from usage *now to *next. */
double vxpu_frag_context_try(const struct vxpu_frag_context *ctx, uint32_t pos,
			     const struct vxpu_device_usage *now,
			     const struct vxpu_device_usage *next);

#endif

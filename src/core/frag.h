/*
 * frag.h - expected GPU fragmentation of a node, and the distribution of
 * request shapes it is measured against (learned online or given).
 *
 * The measure is the one of "Beware of Fragmentation" (USENIX ATC'23):
 * a node's idle GPU capacity is a fragment *for a request shape* when that
 * shape cannot use it - because the node cannot host the shape at all (too
 * few devices with enough room, too little CPU or memory, wrong GPU model),
 * or, when it can, the part of the idle capacity that sits on devices with
 * less room than the shape takes per device. The node's fragmentation is the
 * expectation over the distribution of shapes:
 *
 *     F(node) = sum_m p_m * frag_m(node)          (in milli-devices)
 *
 *     frag_m(node) = idle(node)                   if m does not fit the node
 *                  = sum of dev_left[d] < milli_m if it fits
 *
 * Shapes that take no device count every idle milli as fragment (they
 * cannot use GPUs, so a node full of them strands its GPUs); this is the
 * paper's convention and it makes F comparable across nodes.
 *
 * A placement policy built on it ("fragmentation gradient descent") places a
 * request where F grows least, i.e. maximises F(before) - F(after), which
 * vxpu_frag_apply() lets a caller evaluate for each candidate device.
 *
 * Units are generic: a device is VXPU_FRAG_DEVICE_MILLI (1000) milli; a
 * caller whose devices are described otherwise (memory and compute share)
 * maps each device's idle share to milli, e.g. min(memory, compute) * 1000.
 * CPU is in milli-CPU and memory in MiB; nodes carry one GPU model index
 * (< VXPU_FRAG_MAX_MODELS) and shapes a set of acceptable models.
 *
 * The distribution (struct vxpu_frag_dist) counts observed shapes with an
 * optional exponential decay (half-life in observations), so it follows the
 * recent mix without being told a trace in advance. The counting is the
 * decayed counter of decay_counter.h, which the allocator's distribution
 * (shapes.h) shares. vxpu_frag_dist_compile()
 * freezes the most frequent shapes that together cover `coverage` of the
 * weight into the evaluated set; evaluation never sees half-updated state,
 * and every compile bumps a version number so callers can cache F per node.
 *
 * Pure: no I/O, no globals; same observations, same answers.
 */
#ifndef VXPU_CORE_FRAG_H
#define VXPU_CORE_FRAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_FRAG_DEVICE_MILLI 1000
#define VXPU_FRAG_MAX_DEVICES 16
#define VXPU_FRAG_MAX_MODELS 64

/* What one request takes. dev_count 0 = no device (dev_milli must be 0);
 * dev_count 1 takes dev_milli (1..1000) of one device; dev_count > 1 takes
 * whole devices (dev_milli 1000). */
struct vxpu_frag_shape {
	uint32_t cpu_milli;
	uint32_t mem_mib;
	uint32_t dev_count;
	uint32_t dev_milli;
	bool any_model;      /* true: every GPU model is acceptable */
	uint64_t model_mask; /* else: bit i set = model i acceptable (0 = none) */
};

/* A node as the measure sees it: what is left. */
struct vxpu_frag_node {
	uint32_t cpu_left;
	uint32_t mem_left;
	uint32_t model; /* < VXPU_FRAG_MAX_MODELS */
	uint32_t dev_count;
	uint16_t dev_left[VXPU_FRAG_MAX_DEVICES]; /* idle milli per device, 0..1000 */
};

struct vxpu_frag_dist_config {
	double half_life;     /* in observations, >= 1/64 (decay_counter.h); 0 = never forget */
	double coverage;      /* evaluate the top shapes covering this weight share, (0, 1] */
	uint32_t max_shapes;  /* and at most this many (0 = 64) */
	uint32_t max_tracked; /* distinct shapes remembered (0 = 1024); the lightest is evicted */
	bool check_memory;    /* a shape fits only where its memory fits (the paper: false) */
};

struct vxpu_frag_dist;

/* A new, empty distribution; NULL on a bad config or out of memory. */
struct vxpu_frag_dist *vxpu_frag_dist_new(const struct vxpu_frag_dist_config *cfg);
void vxpu_frag_dist_free(struct vxpu_frag_dist *d);

/* Counts one request. Does not change what vxpu_frag_amount() uses until
 * the next vxpu_frag_dist_compile(). Returns 0, or -1 when the shape is
 * invalid (see struct vxpu_frag_shape). */
int vxpu_frag_dist_observe(struct vxpu_frag_dist *d, const struct vxpu_frag_shape *s);

/* Freezes the current counts into the evaluated set and bumps the version.
 * Returns -1 only when out of memory (the previous set stays in force). */
int vxpu_frag_dist_compile(struct vxpu_frag_dist *d);

/* How far the counts have moved since the last compile: the total variation
 * distance (0..1) between the shares of the shapes now and at the last
 * compile (1 before the first). Lets a caller recompile only when the mix
 * has changed, which keeps placements consistent. */
double vxpu_frag_dist_drift(const struct vxpu_frag_dist *d);

/* Increases with every successful compile; 0 before the first. */
uint64_t vxpu_frag_dist_version(const struct vxpu_frag_dist *d);

/* Observations counted so far (not decayed). */
uint64_t vxpu_frag_dist_observations(const struct vxpu_frag_dist *d);

/* Weighs each evaluated shape's "does not fit" term: with weight w_m,
 * frag_m(node) = w_m * idle(node) where m does not fit (the sum of the
 * smaller rooms where it fits is unchanged). weights[i] belongs to the i-th
 * shape of vxpu_frag_dist_shapes() and n must be their number; a weight is
 * finite and >= 0. Every compile resets all weights to 1. Bumps the version
 * (cached F values are stale). Returns 0, or -1 leaving everything as it
 * was on a bad n or weight. A caller uses it to say how much a shape's
 * failing to fit a node matters, e.g. by how few other nodes can host it. */
int vxpu_frag_dist_weigh_misses(struct vxpu_frag_dist *d, const double *weights, size_t n);

/* Copies up to cap evaluated shapes and their probabilities (summing to 1),
 * most probable first; returns how many there are. */
size_t vxpu_frag_dist_shapes(const struct vxpu_frag_dist *d, struct vxpu_frag_shape *shapes,
                             double *probs, size_t cap);

/* F(node) in milli-devices, 0 <= F <= idle(node). An empty evaluated set
 * (nothing compiled yet) measures 0. */
double vxpu_frag_amount(const struct vxpu_frag_dist *d, const struct vxpu_frag_node *n);

/* Whether the node can host the shape now (devices, CPU, memory, model). */
bool vxpu_frag_fits(const struct vxpu_frag_node *n, const struct vxpu_frag_shape *s);

/* Takes the shape from the node. A one-device fractional shape goes to
 * `device` (or, when device < 0, the device with the least room that fits);
 * whole-device shapes take the lowest-numbered idle devices. Returns the
 * device used (the first one for whole devices, 0 for a shape without
 * devices), or -1, leaving the node unchanged, when the shape does not fit
 * (or not on `device`). */
int vxpu_frag_apply(struct vxpu_frag_node *n, const struct vxpu_frag_shape *s, int device);

/* Total idle milli of the node. */
uint32_t vxpu_frag_idle(const struct vxpu_frag_node *n);

#endif

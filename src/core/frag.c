/*
 * frag.c - the fragmentation measure and the learned shape distribution
 * (see frag.h for the definitions).
 *
 * Distribution: the tracked shapes live in a flat array searched linearly
 * (a scheduler sees tens to hundreds of distinct shapes; max_tracked bounds
 * the worst case). Exponential decay is applied lazily: instead of scaling
 * every weight down at each observation, the increment grows by 2^(1/h) per
 * observation, and all weights are rescaled together before the increment
 * could overflow. Relative weights - all that matters - are identical.
 *
 * Compiled set: the shapes kept for evaluation are stored sorted by
 * dev_milli, so that F(node) is one merge walk over the node's idle
 * capacities (sorted ascending, with prefix sums) and the shapes: for each
 * shape, "devices with less room than it takes" is a prefix of the sorted
 * idle list. Shapes without devices contribute p * idle whatever the node,
 * so they are folded into one constant.
 *
 * Drift: each tracked shape remembers its share of the weight at the last
 * compile; the drift is half the sum of |share now - share then|, the total
 * variation distance over the tracked shapes (a shape evicted since takes
 * its old share with it, which can only understate the drift).
 *
 * Invariants: probabilities of the compiled set sum to 1 (or the set is
 * empty); ties in the ranking are broken by the shape's fields, never by
 * insertion order, so the same counts always compile to the same set.
 */
#include "core/frag.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct tracked_shape {
	struct vxpu_frag_shape shape;
	double weight;
	double share_at_compile; /* its share of the weight at the last compile */
};

struct compiled_shape {
	uint32_t cpu_milli;
	uint32_t mem_mib;
	uint32_t dev_count;
	uint32_t dev_milli;
	bool any_model;
	uint64_t model_mask;
	double prob;
};

struct vxpu_frag_dist {
	struct vxpu_frag_dist_config cfg;
	struct tracked_shape *tracked;
	size_t tracked_len;
	double increment; /* weight of the next observation (lazy decay) */
	double growth;    /* increment multiplier per observation */
	uint64_t observations;
	uint64_t version;
	/* Evaluated set: device shapes sorted by dev_milli; no-device mass. */
	struct compiled_shape *compiled;
	size_t compiled_len;
	double no_device_prob;
	/* Most probable first, for vxpu_frag_dist_shapes(). */
	struct compiled_shape *ranked;
	size_t ranked_len;
};

static bool shape_valid(const struct vxpu_frag_shape *s)
{
	if (s->dev_count == 0)
		return s->dev_milli == 0;
	if (s->dev_count > 1 && s->dev_milli != VXPU_FRAG_DEVICE_MILLI)
		return false;
	return s->dev_milli >= 1 && s->dev_milli <= VXPU_FRAG_DEVICE_MILLI;
}

static bool shape_equal(const struct vxpu_frag_shape *a, const struct vxpu_frag_shape *b)
{
	return a->cpu_milli == b->cpu_milli && a->mem_mib == b->mem_mib &&
	       a->dev_count == b->dev_count && a->dev_milli == b->dev_milli &&
	       a->any_model == b->any_model && (a->any_model || a->model_mask == b->model_mask);
}

/* A total order on shapes, used to break weight ties deterministically. */
static int shape_cmp(const struct vxpu_frag_shape *a, const struct vxpu_frag_shape *b)
{
#define CMP_FIELD(f)                                                                               \
	if (a->f != b->f)                                                                          \
		return a->f < b->f ? -1 : 1;
	CMP_FIELD(dev_count)
	CMP_FIELD(dev_milli)
	CMP_FIELD(cpu_milli)
	CMP_FIELD(mem_mib)
	CMP_FIELD(any_model)
	CMP_FIELD(model_mask)
#undef CMP_FIELD
	return 0;
}

struct vxpu_frag_dist *vxpu_frag_dist_new(const struct vxpu_frag_dist_config *cfg)
{
	if (!cfg || !(cfg->coverage > 0.0 && cfg->coverage <= 1.0) || !(cfg->half_life >= 0.0))
		return NULL;
	struct vxpu_frag_dist *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->cfg = *cfg;
	if (d->cfg.max_shapes == 0)
		d->cfg.max_shapes = 64;
	if (d->cfg.max_tracked == 0)
		d->cfg.max_tracked = 1024;
	d->tracked = calloc(d->cfg.max_tracked, sizeof(*d->tracked));
	if (!d->tracked) {
		free(d);
		return NULL;
	}
	d->increment = 1.0;
	d->growth = cfg->half_life > 0.0 ? exp2(1.0 / cfg->half_life) : 1.0;
	return d;
}

void vxpu_frag_dist_free(struct vxpu_frag_dist *d)
{
	if (!d)
		return;
	free(d->tracked);
	free(d->compiled);
	free(d->ranked);
	free(d);
}

/* Keeps weights finite under lazy decay: rescale everything together. */
static void rescale(struct vxpu_frag_dist *d)
{
	const double scale = 1.0 / d->increment;
	for (size_t i = 0; i < d->tracked_len; i++)
		d->tracked[i].weight *= scale;
	d->increment = 1.0;
}

int vxpu_frag_dist_observe(struct vxpu_frag_dist *d, const struct vxpu_frag_shape *s)
{
	if (!shape_valid(s))
		return -1;
	struct vxpu_frag_shape key = *s;
	if (!d->cfg.check_memory)
		key.mem_mib = 0; /* memory is not part of the measure: do not split shapes by it */
	if (key.any_model)
		key.model_mask = 0;
	const double weight = d->increment;

	size_t found = d->tracked_len;
	for (size_t i = 0; i < d->tracked_len; i++) {
		if (shape_equal(&d->tracked[i].shape, &key)) {
			found = i;
			break;
		}
	}
	if (found == d->tracked_len) {
		if (d->tracked_len < d->cfg.max_tracked) {
			d->tracked_len++;
		} else {
			/* Evict the lightest (ties: the greatest shape, a stable choice). */
			found = 0;
			for (size_t i = 1; i < d->tracked_len; i++) {
				const struct tracked_shape *a = &d->tracked[i],
				                           *b = &d->tracked[found];
				if (a->weight < b->weight ||
				    (a->weight == b->weight && shape_cmp(&a->shape, &b->shape) > 0))
					found = i;
			}
		}
		d->tracked[found].shape = key;
		d->tracked[found].weight = 0.0;
		d->tracked[found].share_at_compile = 0.0;
	}
	d->tracked[found].weight += weight;
	d->observations++;
	d->increment *= d->growth;
	if (d->increment > 1e200)
		rescale(d);
	return 0;
}

static int ranked_cmp(const void *pa, const void *pb)
{
	const struct tracked_shape *a = pa, *b = pb;
	if (a->weight != b->weight)
		return a->weight > b->weight ? -1 : 1;
	return shape_cmp(&a->shape, &b->shape);
}

static int milli_cmp(const void *pa, const void *pb)
{
	const struct compiled_shape *a = pa, *b = pb;
	if (a->dev_milli != b->dev_milli)
		return a->dev_milli < b->dev_milli ? -1 : 1;
	if (a->prob != b->prob)
		return a->prob > b->prob ? -1 : 1;
	return 0;
}

static void compile_one(struct compiled_shape *c, const struct vxpu_frag_shape *s, double prob)
{
	c->cpu_milli = s->cpu_milli;
	c->mem_mib = s->mem_mib;
	c->dev_count = s->dev_count;
	c->dev_milli = s->dev_milli;
	c->any_model = s->any_model;
	c->model_mask = s->model_mask;
	c->prob = prob;
}

int vxpu_frag_dist_compile(struct vxpu_frag_dist *d)
{
	size_t n = d->tracked_len;
	struct tracked_shape *order = malloc((n ? n : 1) * sizeof(*order));
	struct compiled_shape *compiled = malloc((n ? n : 1) * sizeof(*compiled));
	struct compiled_shape *ranked = malloc((n ? n : 1) * sizeof(*ranked));
	if (!order || !compiled || !ranked) {
		free(order);
		free(compiled);
		free(ranked);
		return -1;
	}
	memcpy(order, d->tracked, n * sizeof(*order));
	qsort(order, n, sizeof(*order), ranked_cmp);

	double total = 0.0;
	for (size_t i = 0; i < n; i++)
		total += order[i].weight;
	size_t keep = 0;
	double kept = 0.0;
	while (keep < n && keep < d->cfg.max_shapes && order[keep].weight > 0.0 &&
	       kept < d->cfg.coverage * total * (1.0 - 1e-12)) {
		kept += order[keep].weight;
		keep++;
	}

	size_t dev_len = 0;
	double no_device = 0.0;
	for (size_t i = 0; i < keep; i++) {
		const double prob = order[i].weight / kept;
		compile_one(&ranked[i], &order[i].shape, prob);
		if (order[i].shape.dev_count == 0)
			no_device += prob;
		else
			compile_one(&compiled[dev_len++], &order[i].shape, prob);
	}
	qsort(compiled, dev_len, sizeof(*compiled), milli_cmp);
	free(order);
	for (size_t i = 0; i < n; i++)
		d->tracked[i].share_at_compile = total > 0.0 ? d->tracked[i].weight / total : 0.0;

	free(d->compiled);
	free(d->ranked);
	d->compiled = compiled;
	d->compiled_len = dev_len;
	d->ranked = ranked;
	d->ranked_len = keep;
	d->no_device_prob = no_device;
	d->version++;
	return 0;
}

double vxpu_frag_dist_drift(const struct vxpu_frag_dist *d)
{
	if (d->version == 0)
		return 1.0;
	double total = 0.0, moved = 0.0;
	for (size_t i = 0; i < d->tracked_len; i++)
		total += d->tracked[i].weight;
	if (!(total > 0.0))
		return 0.0;
	for (size_t i = 0; i < d->tracked_len; i++) {
		const double diff = d->tracked[i].weight / total - d->tracked[i].share_at_compile;
		moved += diff < 0 ? -diff : diff;
	}
	return moved / 2.0;
}

uint64_t vxpu_frag_dist_version(const struct vxpu_frag_dist *d)
{
	return d->version;
}

uint64_t vxpu_frag_dist_observations(const struct vxpu_frag_dist *d)
{
	return d->observations;
}

size_t vxpu_frag_dist_shapes(const struct vxpu_frag_dist *d, struct vxpu_frag_shape *shapes,
                             double *probs, size_t cap)
{
	for (size_t i = 0; i < d->ranked_len && i < cap; i++) {
		const struct compiled_shape *c = &d->ranked[i];
		if (shapes) {
			shapes[i] = (struct vxpu_frag_shape){
			        .cpu_milli = c->cpu_milli,
			        .mem_mib = c->mem_mib,
			        .dev_count = c->dev_count,
			        .dev_milli = c->dev_milli,
			        .any_model = c->any_model,
			        .model_mask = c->model_mask,
			};
		}
		if (probs)
			probs[i] = c->prob;
	}
	return d->ranked_len;
}

uint32_t vxpu_frag_idle(const struct vxpu_frag_node *n)
{
	uint32_t idle = 0;
	for (uint32_t i = 0; i < n->dev_count; i++)
		idle += n->dev_left[i];
	return idle;
}

static bool model_ok(bool any_model, uint64_t mask, uint32_t model)
{
	return any_model || (model < 64 && ((mask >> model) & 1u));
}

double vxpu_frag_amount(const struct vxpu_frag_dist *d, const struct vxpu_frag_node *n)
{
	/* Sorted idle capacities (insertion sort: at most 16) and prefix sums:
	 * below[j] = sum of the j smallest. */
	uint32_t sorted[VXPU_FRAG_MAX_DEVICES];
	uint32_t below[VXPU_FRAG_MAX_DEVICES + 1];
	const uint32_t devs = n->dev_count;
	for (uint32_t i = 0; i < devs; i++) {
		uint32_t v = n->dev_left[i], j = i;
		while (j > 0 && sorted[j - 1] > v) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = v;
	}
	below[0] = 0;
	for (uint32_t i = 0; i < devs; i++)
		below[i + 1] = below[i] + sorted[i];
	const uint32_t idle = below[devs];
	if (idle == 0)
		return 0.0;

	double unusable = d->no_device_prob * idle;
	uint32_t smaller = 0; /* devices with less room than the current shape's milli */
	for (size_t i = 0; i < d->compiled_len; i++) {
		const struct compiled_shape *c = &d->compiled[i];
		while (smaller < devs && sorted[smaller] < c->dev_milli)
			smaller++;
		const bool fits = devs - smaller >= c->dev_count && n->cpu_left >= c->cpu_milli &&
		                  (!d->cfg.check_memory || n->mem_left >= c->mem_mib) &&
		                  model_ok(c->any_model, c->model_mask, n->model);
		unusable += c->prob * (fits ? below[smaller] : idle);
	}
	return unusable;
}

bool vxpu_frag_fits(const struct vxpu_frag_node *n, const struct vxpu_frag_shape *s)
{
	if (n->cpu_left < s->cpu_milli || n->mem_left < s->mem_mib)
		return false;
	if (s->dev_count == 0)
		return true;
	if (!model_ok(s->any_model, s->model_mask, n->model))
		return false;
	uint32_t room = 0;
	for (uint32_t i = 0; i < n->dev_count; i++)
		room += n->dev_left[i] >= s->dev_milli;
	return room >= s->dev_count;
}

int vxpu_frag_apply(struct vxpu_frag_node *n, const struct vxpu_frag_shape *s, int device)
{
	if (!shape_valid(s) || !vxpu_frag_fits(n, s))
		return -1;
	int used = 0;
	if (s->dev_count == 1 && s->dev_milli < VXPU_FRAG_DEVICE_MILLI) {
		if (device >= 0) {
			if ((uint32_t)device >= n->dev_count || n->dev_left[device] < s->dev_milli)
				return -1;
			used = device;
		} else {
			used = -1;
			for (uint32_t i = 0; i < n->dev_count; i++)
				if (n->dev_left[i] >= s->dev_milli &&
				    (used < 0 || n->dev_left[i] < n->dev_left[used]))
					used = (int)i;
		}
		n->dev_left[used] = (uint16_t)(n->dev_left[used] - s->dev_milli);
	} else if (s->dev_count > 0) {
		uint32_t want = s->dev_count;
		used = -1;
		for (uint32_t i = 0; i < n->dev_count && want > 0; i++) {
			if (n->dev_left[i] == VXPU_FRAG_DEVICE_MILLI) {
				n->dev_left[i] = 0;
				if (used < 0)
					used = (int)i;
				want--;
			}
		}
	}
	n->cpu_left -= s->cpu_milli;
	n->mem_left -= s->mem_mib;
	return used;
}

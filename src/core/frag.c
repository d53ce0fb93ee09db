/*
 * frag.c - the fragmentation measure and the learned shape distribution
 * (see frag.h for the definitions).
 *
 * Distribution: the counting (lazy exponential decay, eviction of the
 * lightest, ranking, drift since the last compile) is the shared decayed
 * counter of decay_counter.h, over heap storage of max_tracked entries keyed
 * by the canonical shape (memory zeroed unless it is checked, the model mask
 * zeroed when any model will do) and ordered by shape_cmp.
 *
 * Compiled set: the shapes kept for evaluation are stored sorted by
 * dev_milli, so that F(node) is one merge walk over the node's idle
 * capacities (sorted ascending, with prefix sums) and the shapes: for each
 * shape, "devices with less room than it takes" is a prefix of the sorted
 * idle list. Shapes without devices contribute p * idle whatever the node,
 * so they are folded into one constant.
 *
 * Invariants: probabilities of the compiled set sum to 1 (or the set is
 * empty); ties in the ranking are broken by the shape's fields, never by
 * insertion order, so the same counts always compile to the same set.
 */
#include "core/frag.h"

#include "core/decay_counter.h"

#include <stdlib.h>
#include <string.h>

struct compiled_shape {
	uint32_t cpu_milli;
	uint32_t mem_mib;
	uint32_t dev_count;
	uint32_t dev_milli;
	bool any_model;
	uint64_t model_mask;
	double prob;
	double miss; /* prob * the shape's miss weight: its "does not fit" term */
	size_t rank; /* position in the ranked list (vxpu_frag_dist_shapes) */
};

struct vxpu_frag_dist {
	struct vxpu_frag_dist_config cfg;
	struct vxpu_decay_counter counter;
	struct vxpu_decay_slot *slots; /* counter storage: max_tracked each */
	struct vxpu_frag_shape *tracked;
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

/* A total order on shapes, used to break weight ties deterministically. */
static int shape_cmp(const void *pa, const void *pb)
{
	const struct vxpu_frag_shape *a = pa, *b = pb;
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
	/* The half-life is checked by the counter. */
	if (!cfg || !(cfg->coverage > 0.0 && cfg->coverage <= 1.0))
		return NULL;
	struct vxpu_frag_dist *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->cfg = *cfg;
	if (d->cfg.max_shapes == 0)
		d->cfg.max_shapes = 64;
	if (d->cfg.max_tracked == 0)
		d->cfg.max_tracked = 1024;
	d->slots = calloc(d->cfg.max_tracked, sizeof(*d->slots));
	d->tracked = calloc(d->cfg.max_tracked, sizeof(*d->tracked));
	if (!d->slots || !d->tracked ||
	    vxpu_decay_counter_init(&d->counter, sizeof(*d->tracked), d->cfg.max_tracked,
	                            cfg->half_life, shape_cmp) != 0) {
		vxpu_frag_dist_free(d);
		return NULL;
	}
	return d;
}

void vxpu_frag_dist_free(struct vxpu_frag_dist *d)
{
	if (!d)
		return;
	free(d->slots);
	free(d->tracked);
	free(d->compiled);
	free(d->ranked);
	free(d);
}

int vxpu_frag_dist_observe(struct vxpu_frag_dist *d, const struct vxpu_frag_shape *s)
{
	if (!shape_valid(s))
		return -1;
	struct vxpu_frag_shape key;
	memset(&key, 0, sizeof(key)); /* padding too: the counter compares bytes */
	key.cpu_milli = s->cpu_milli;
	/* Memory is not part of the measure unless checked: do not split shapes by it. */
	key.mem_mib = d->cfg.check_memory ? s->mem_mib : 0;
	key.dev_count = s->dev_count;
	key.dev_milli = s->dev_milli;
	key.any_model = s->any_model;
	key.model_mask = s->any_model ? 0 : s->model_mask;
	vxpu_decay_counter_add(&d->counter, d->slots, d->tracked, &key);
	return 0;
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
	c->miss = prob;
}

int vxpu_frag_dist_compile(struct vxpu_frag_dist *d)
{
	const size_t n = d->counter.len;
	size_t *order = malloc((n ? n : 1) * sizeof(*order));
	struct compiled_shape *compiled = malloc((n ? n : 1) * sizeof(*compiled));
	struct compiled_shape *ranked = malloc((n ? n : 1) * sizeof(*ranked));
	if (!order || !compiled || !ranked) {
		free(order);
		free(compiled);
		free(ranked);
		return -1;
	}
	const double total = vxpu_decay_counter_snapshot(&d->counter, d->slots, d->tracked, order);
	size_t keep = 0;
	double kept = 0.0;
	while (keep < n && keep < d->cfg.max_shapes && d->slots[order[keep]].weight > 0.0 &&
	       kept < d->cfg.coverage * total * (1.0 - 1e-12)) {
		kept += d->slots[order[keep]].weight;
		keep++;
	}

	size_t dev_len = 0;
	double no_device = 0.0;
	for (size_t i = 0; i < keep; i++) {
		const struct vxpu_frag_shape *shape = &d->tracked[order[i]];
		const double prob = d->slots[order[i]].weight / kept;
		compile_one(&ranked[i], shape, prob);
		if (shape->dev_count == 0)
			no_device += prob;
		else {
			compile_one(&compiled[dev_len], shape, prob);
			compiled[dev_len++].rank = i;
		}
	}
	qsort(compiled, dev_len, sizeof(*compiled), milli_cmp);
	free(order);

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

int vxpu_frag_dist_weigh_misses(struct vxpu_frag_dist *d, const double *weights, size_t n)
{
	if (n != d->ranked_len)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!(weights[i] >= 0.0) || weights[i] > 1e9)
			return -1;
	for (size_t i = 0; i < d->compiled_len; i++)
		d->compiled[i].miss = d->compiled[i].prob * weights[d->compiled[i].rank];
	d->version++;
	return 0;
}

double vxpu_frag_dist_drift(const struct vxpu_frag_dist *d)
{
	return vxpu_decay_counter_drift(&d->counter, d->slots);
}

uint64_t vxpu_frag_dist_version(const struct vxpu_frag_dist *d)
{
	return d->version;
}

uint64_t vxpu_frag_dist_observations(const struct vxpu_frag_dist *d)
{
	return d->counter.observations;
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
		unusable += fits ? c->prob * below[smaller] : c->miss * idle;
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

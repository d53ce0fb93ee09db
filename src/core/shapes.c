/*
 * shapes.c - online shape distribution and expected fragmentation (see
 * shapes.h for the definitions). Usability of a device for a shape is
 * decided by vxpu_demand_fit, the same function the allocator uses, so the
 * measure can never disagree with what a real placement would do.
 */
#include "core/shapes.h"

#include "core/fit.h"

#include <string.h>

void vxpu_shapes_init(struct vxpu_shape_stats *s, uint32_t window)
{
	memset(s, 0, sizeof(*s));
	if (window < 1)
		window = 1;
	s->decay = 1.0 - 1.0 / (double)window;
}

static uint64_t bucket_memory(uint64_t mib)
{
	uint64_t step = mib <= 16384 ? 1024 : 4096;
	return mib % step ? mib + (step - mib % step) : mib;
}

static uint16_t bucket_percent(uint32_t pct)
{
	uint32_t b = pct % 5 ? pct + (5 - pct % 5) : pct;
	return (uint16_t)(b > 100 ? 100 : b);
}

void vxpu_shapes_observe_container(struct vxpu_shape_stats *s,
				   const struct vxpu_container_request *c)
{
	if (c->count == 0)
		return;
	struct vxpu_shape key = {
		.count = (uint16_t)c->count,
		.memory_percent = c->memory_percent ? bucket_percent(c->memory_percent) : 0,
		.compute_percent = bucket_percent(c->compute_percent),
		.exclusive = c->exclusive,
		.memory_mib = c->memory_percent ? 0 : bucket_memory(c->memory_mib),
	};
	double add = 1.0 - s->decay;
	if (add <= 0.0)
		add = 1.0;
	for (uint32_t i = 0; i < s->n; i++)
		s->shapes[i].weight *= s->decay;
	uint32_t at = s->n;
	for (uint32_t i = 0; i < s->n; i++) {
		const struct vxpu_shape *h = &s->shapes[i];
		if (h->count == key.count && h->memory_percent == key.memory_percent &&
		    h->compute_percent == key.compute_percent && h->exclusive == key.exclusive &&
		    h->memory_mib == key.memory_mib) {
			at = i;
			break;
		}
	}
	if (at == s->n) {
		if (s->n < VXPU_SHAPES_MAX) {
			s->n++;
		} else {
			/* Replace the lightest; among equals the last, so old entries stay. */
			at = 0;
			for (uint32_t i = 1; i < s->n; i++)
				if (s->shapes[i].weight <= s->shapes[at].weight)
					at = i;
		}
		s->shapes[at] = key;
		s->shapes[at].weight = 0.0;
	}
	s->shapes[at].weight += add;
	/* Summing afresh keeps the total exact however long the sequence. */
	s->total = 0.0;
	for (uint32_t i = 0; i < s->n; i++)
		s->total += s->shapes[i].weight;
	s->observed++;
}

void vxpu_shapes_observe(struct vxpu_shape_stats *s, const struct vxpu_pod_request *pod)
{
	for (uint32_t i = 0; i < pod->ncontainers; i++)
		vxpu_shapes_observe_container(s, &pod->containers[i]);
}

static bool in_service(const struct vxpu_device *d)
{
	return d->healthy && !d->cordoned;
}

static bool usable(const struct vxpu_device *d, const struct vxpu_device_usage *u,
		   const struct vxpu_shape *sh)
{
	struct vxpu_demand dm = {
		.count = sh->count,
		.memory_mib = sh->memory_mib,
		.memory_percent = sh->memory_percent,
		.compute_percent = sh->compute_percent,
		.exclusive = sh->exclusive,
	};
	struct vxpu_share share;
	return vxpu_demand_fit(d, u, &dm, &share) == VXPU_REASON_OK;
}

static double free_amount(const struct vxpu_device *d, const struct vxpu_device_usage *u)
{
	return in_service(d) ? vxpu_device_free_fraction(d, u) : 0.0;
}

static double combine(const struct vxpu_frag_context *ctx, const double *unusable,
		      const double *usable_sum, const uint32_t *nusable)
{
	const struct vxpu_shape_stats *s = ctx->stats;
	double f = 0.0;
	for (uint32_t i = 0; i < s->n; i++) {
		double fs = unusable[i];
		if (nusable[i] < s->shapes[i].count)
			fs += usable_sum[i];
		f += s->shapes[i].weight * fs;
	}
	return f / s->total;
}

void vxpu_frag_context_init(struct vxpu_frag_context *ctx, const struct vxpu_node *n,
			    const struct vxpu_device_usage *usage, const struct vxpu_shape_stats *s)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->node = n;
	ctx->stats = s;
	if (!s || s->n == 0 || s->total <= 0.0)
		return;
	for (uint32_t d = 0; d < n->ndevices; d++) {
		const struct vxpu_device *dev = &n->devices[d];
		double q = free_amount(dev, &usage[d]);
		if (q <= 0.0 && !in_service(dev))
			continue;
		for (uint32_t i = 0; i < s->n; i++) {
			if (in_service(dev) && usable(dev, &usage[d], &s->shapes[i])) {
				ctx->usable[i] += q;
				ctx->nusable[i]++;
			} else {
				ctx->unusable[i] += q;
			}
		}
	}
	ctx->base = combine(ctx, ctx->unusable, ctx->usable, ctx->nusable);
}

double vxpu_frag_context_try(const struct vxpu_frag_context *ctx, uint32_t pos,
			     const struct vxpu_device_usage *now,
			     const struct vxpu_device_usage *next)
{
	const struct vxpu_shape_stats *s = ctx->stats;
	if (!s || s->n == 0 || s->total <= 0.0)
		return 0.0;
	const struct vxpu_device *dev = &ctx->node->devices[pos];
	if (!in_service(dev))
		return ctx->base;
	double unusable[VXPU_SHAPES_MAX], usable_sum[VXPU_SHAPES_MAX];
	uint32_t nusable[VXPU_SHAPES_MAX];
	double q0 = free_amount(dev, now), q1 = free_amount(dev, next);
	for (uint32_t i = 0; i < s->n; i++) {
		unusable[i] = ctx->unusable[i];
		usable_sum[i] = ctx->usable[i];
		nusable[i] = ctx->nusable[i];
		if (usable(dev, now, &s->shapes[i])) {
			usable_sum[i] -= q0;
			nusable[i]--;
		} else {
			unusable[i] -= q0;
		}
		if (usable(dev, next, &s->shapes[i])) {
			usable_sum[i] += q1;
			nusable[i]++;
		} else {
			unusable[i] += q1;
		}
	}
	return combine(ctx, unusable, usable_sum, nusable);
}

double vxpu_node_fragmentation(const struct vxpu_node *n, const struct vxpu_device_usage *usage,
			       const struct vxpu_shape_stats *s)
{
	struct vxpu_frag_context ctx;
	vxpu_frag_context_init(&ctx, n, usage, s);
	return ctx.base;
}

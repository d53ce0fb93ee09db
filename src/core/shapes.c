/*
 * shapes.c - online shape distribution and expected fragmentation (see
 * shapes.h for the definitions). Usability of a device for a shape is
 * decided by vxpu_demand_fit, the same function the allocator uses, so the
 * measure can never disagree with what a real placement would do.
 */
#include "core/shapes.h"

#include "core/fit.h"

#include <math.h>
#include <string.h>

void vxpu_shapes_init(struct vxpu_shape_stats *s, uint32_t window)
{
	memset(s, 0, sizeof(*s));
	/* Keeping 1 - 1/window per observation is a half-life h with
	 * 2^(-1/h) = 1 - 1/window; a window of 1 keeps nothing, which the
	 * shortest half-life approximates (earlier weight below 2^-64). */
	double half_life = window > 1 ? -1.0 / log2(1.0 - 1.0 / (double)window) : 0.0;
	if (half_life < VXPU_DECAY_MIN_HALF_LIFE)
		half_life = VXPU_DECAY_MIN_HALF_LIFE;
	/* Cannot fail: key size, capacity and half-life are all in range. Keys
	 * are ordered by their bytes (memcmp): only eviction ties use it. */
	(void)vxpu_decay_counter_init(&s->counter, sizeof(s->shapes[0]), VXPU_SHAPES_MAX, half_life,
	                              NULL);
}

uint32_t vxpu_shapes_count(const struct vxpu_shape_stats *s)
{
	return (uint32_t)s->counter.len;
}

uint64_t vxpu_shapes_observed(const struct vxpu_shape_stats *s)
{
	return s->counter.observations;
}

double vxpu_shapes_share(const struct vxpu_shape_stats *s, uint32_t i)
{
	return s->weights[i].weight / vxpu_decay_counter_total(&s->counter, s->weights);
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
	struct vxpu_shape key;
	memset(&key, 0, sizeof(key)); /* padding too: the counter compares bytes */
	key.count = (uint16_t)c->count;
	key.memory_percent = c->memory_percent ? bucket_percent(c->memory_percent) : 0;
	key.compute_percent = bucket_percent(c->compute_percent);
	key.exclusive = c->exclusive;
	key.memory_mib = c->memory_percent ? 0 : bucket_memory(c->memory_mib);
	vxpu_decay_counter_add(&s->counter, s->weights, s->shapes, &key);
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

static double free_amount(const struct vxpu_device *d, const struct vxpu_device_usage *u)
{
	return in_service(d) ? vxpu_device_free_fraction(d, u) : 0.0;
}

/* The latest observation's weight never underflows, so once a shape is
 * learnt the total is positive. */
static bool learnt(const struct vxpu_shape_stats *s)
{
	return s && s->counter.len > 0;
}

/* A shape's share on device d, resolved as if d were empty. */
static bool resolve(const struct vxpu_device *d, const struct vxpu_shape *sh,
                    struct vxpu_share *share)
{
	struct vxpu_demand dm = {
	        .count = sh->count,
	        .memory_mib = sh->memory_mib,
	        .memory_percent = sh->memory_percent,
	        .compute_percent = sh->compute_percent,
	        .exclusive = sh->exclusive,
	};
	struct vxpu_device_usage empty = {0, 0, 0, 0};
	return vxpu_demand_fit(d, &empty, &dm, share) == VXPU_REASON_OK;
}

static void build_kind(struct vxpu_frag_kind *k, const struct vxpu_device *d,
                       const struct vxpu_shape_stats *s)
{
	k->profile = d->profile;
	k->memory_mib = d->memory_mib;
	k->unit_count = d->unit_count;
	k->nshapes = vxpu_shapes_count(s);
	k->possible = k->exclusive = 0;
	uint8_t by_mem[VXPU_SHAPES_MAX] = {0}, by_units[VXPU_SHAPES_MAX] = {0};
	uint64_t mem[VXPU_SHAPES_MAX] = {0}, units[VXPU_SHAPES_MAX] = {0};
	for (uint32_t i = 0; i < k->nshapes; i++) {
		struct vxpu_share share = {0};
		if (resolve(d, &s->shapes[i], &share))
			k->possible |= 1u << i;
		if (share.exclusive)
			k->exclusive |= 1u << i;
		mem[i] = share.memory_mib;
		units[i] = share.compute_units;
		/* Insertion sorts: stable, at most VXPU_SHAPES_MAX entries. */
		uint32_t a = i, b = i;
		while (a > 0 && mem[by_mem[a - 1]] > mem[i]) {
			by_mem[a] = by_mem[a - 1];
			a--;
		}
		by_mem[a] = (uint8_t)i;
		while (b > 0 && units[by_units[b - 1]] > units[i]) {
			by_units[b] = by_units[b - 1];
			b--;
		}
		by_units[b] = (uint8_t)i;
	}
	k->memory_prefix[0] = k->units_prefix[0] = 0;
	for (uint32_t i = 0; i < k->nshapes; i++) {
		k->memory_sorted[i] = mem[by_mem[i]];
		k->memory_prefix[i + 1] = k->memory_prefix[i] | 1u << by_mem[i];
		k->units_sorted[i] = units[by_units[i]];
		k->units_prefix[i + 1] = k->units_prefix[i] | 1u << by_units[i];
	}
}

void vxpu_frag_cache_init(struct vxpu_frag_cache *c, const struct vxpu_shape_stats *s)
{
	c->stats = s;
	c->nkinds = 0;
	c->multi = 0;
	memset(c->weight_of, 0, sizeof(c->weight_of));
	if (!learnt(s))
		return;
	double w[VXPU_SHAPES_MAX] = {0};
	const double total = vxpu_decay_counter_total(&s->counter, s->weights);
	for (uint32_t i = 0; i < vxpu_shapes_count(s); i++) {
		w[i] = s->weights[i].weight / total;
		if (s->shapes[i].count > 1)
			c->multi |= 1u << i;
	}
	for (uint32_t b = 0; b < 3; b++)
		for (uint32_t v = 0; v < 256; v++) {
			double sum = 0.0;
			for (uint32_t bit = 0; bit < 8; bit++)
				if ((v >> bit) & 1u)
					sum += w[b * 8 + bit];
			c->weight_of[b][v] = sum;
		}
}

static double weight_of(const struct vxpu_frag_cache *c, uint32_t set)
{
	return c->weight_of[0][set & 0xffu] + c->weight_of[1][(set >> 8) & 0xffu] +
	       c->weight_of[2][(set >> 16) & 0xffu];
}

static const struct vxpu_frag_kind *cached_kind(struct vxpu_frag_cache *c,
                                                const struct vxpu_device *d)
{
	for (uint32_t k = 0; k < c->nkinds; k++)
		if (c->kinds[k].profile == d->profile && c->kinds[k].memory_mib == d->memory_mib &&
		    c->kinds[k].unit_count == d->unit_count)
			return &c->kinds[k];
	if (c->nkinds >= VXPU_FRAG_CACHE_KINDS)
		return NULL;
	struct vxpu_frag_kind *k = &c->kinds[c->nkinds++];
	build_kind(k, d, c->stats);
	return k;
}

/* Number of sorted values <= limit (n <= 31); fixed steps, no data-dependent loop. */
static uint32_t count_upto(const uint64_t *sorted, uint32_t n, uint64_t limit)
{
	uint32_t lo = 0;
	for (uint32_t step = 16; step; step >>= 1) {
		uint32_t next = lo + step;
		lo = (next <= n && sorted[next - 1] <= limit) ? next : lo;
	}
	return lo;
}

/* Shapes device pos could host under usage u (the checks of vxpu_demand_fit). */
static uint32_t usable_mask(const struct vxpu_frag_context *ctx, uint32_t pos,
                            const struct vxpu_device_usage *u)
{
	const struct vxpu_device *d = &ctx->node->devices[pos];
	if (!in_service(d) || u->exclusive || (uint32_t)u->slices >= d->slice_capacity)
		return 0;
	uint64_t free_mem =
	        d->memory_capacity_mib > u->memory_mib ? d->memory_capacity_mib - u->memory_mib : 0;
	uint64_t free_units =
	        d->compute_capacity > u->compute_units ? d->compute_capacity - u->compute_units : 0;
	const struct vxpu_frag_kind *k = ctx->kind[pos];
	if (!k) {
		/* The memo was full: resolve each shape for this device. */
		uint32_t m = 0;
		for (uint32_t i = 0; i < vxpu_shapes_count(ctx->stats); i++) {
			struct vxpu_share share = {0};
			if (resolve(d, &ctx->stats->shapes[i], &share) &&
			    !(share.exclusive && u->slices) && share.memory_mib <= free_mem &&
			    share.compute_units <= free_units)
				m |= 1u << i;
		}
		return m;
	}
	uint32_t m = k->possible;
	if (u->slices)
		m &= ~k->exclusive;
	m &= k->memory_prefix[count_upto(k->memory_sorted, k->nshapes, free_mem)];
	m &= k->units_prefix[count_upto(k->units_sorted, k->nshapes, free_units)];
	return m;
}

/* Devices of the node usable for shape i, with device pos counted as m. */
static uint32_t count_usable(const struct vxpu_frag_context *ctx, uint32_t i, uint32_t pos,
                             uint32_t m)
{
	uint32_t n = 0;
	for (uint32_t d = 0; d < ctx->node->ndevices; d++)
		n += ((d == pos ? m : ctx->mask[d]) >> i) & 1u;
	return n;
}

/* The hosted set when device pos has usable set m. */
static uint32_t hosted_set(const struct vxpu_frag_context *ctx, uint32_t pos, uint32_t m)
{
	uint32_t any = m;
	for (uint32_t d = 0; d < ctx->node->ndevices; d++)
		if (d != pos)
			any |= ctx->mask[d];
	uint32_t hosted = any & ~ctx->cache->multi;
	for (uint32_t r = any & ctx->cache->multi; r; r &= r - 1) {
		uint32_t i = (uint32_t)__builtin_ctz(r);
		if (count_usable(ctx, i, pos, m) >= ctx->stats->shapes[i].count)
			hosted |= 1u << i;
	}
	return hosted;
}

static void resum(struct vxpu_frag_context *ctx)
{
	uint32_t ndev = ctx->node->ndevices;
	ctx->hosted = hosted_set(ctx, UINT32_MAX, 0);
	ctx->total = 0.0;
	ctx->hosted_sum = 0.0;
	for (uint32_t d = 0; d < ndev; d++) {
		ctx->a[d] = weight_of(ctx->cache, ctx->mask[d] & ctx->hosted);
		ctx->total += ctx->q[d];
		ctx->hosted_sum += ctx->q[d] * ctx->a[d];
	}
	ctx->base = ctx->total - ctx->hosted_sum;
}

void vxpu_frag_context_init(struct vxpu_frag_context *ctx, const struct vxpu_node *n,
                            const struct vxpu_device_usage *usage, struct vxpu_frag_cache *cache)
{
	const struct vxpu_shape_stats *s = cache ? cache->stats : NULL;
	ctx->node = n;
	ctx->stats = s;
	ctx->cache = cache;
	ctx->base = 0.0;
	if (!learnt(s))
		return;
	for (uint32_t d = 0; d < n->ndevices; d++) {
		ctx->kind[d] = cached_kind(cache, &n->devices[d]);
		ctx->q[d] = free_amount(&n->devices[d], &usage[d]);
		ctx->mask[d] = usable_mask(ctx, d, &usage[d]);
	}
	resum(ctx);
}

double vxpu_frag_context_try(const struct vxpu_frag_context *ctx, uint32_t pos,
                             const struct vxpu_device_usage *next)
{
	if (!learnt(ctx->stats))
		return 0.0;
	double q0 = ctx->q[pos];
	double q1 = free_amount(&ctx->node->devices[pos], next);
	uint32_t m1 = usable_mask(ctx, pos, next);
	double total = ctx->total - q0 + q1;
	uint32_t hosted = ctx->hosted;
	if (m1 != ctx->mask[pos])
		hosted = hosted_set(ctx, pos, m1);
	if (hosted == ctx->hosted)
		return total - (ctx->hosted_sum - q0 * ctx->a[pos] +
		                q1 * weight_of(ctx->cache, m1 & hosted));
	double sum = 0.0;
	for (uint32_t d = 0; d < ctx->node->ndevices; d++) {
		uint32_t m = d == pos ? m1 : ctx->mask[d];
		sum += (d == pos ? q1 : ctx->q[d]) * weight_of(ctx->cache, m & hosted);
	}
	return total - sum;
}

void vxpu_frag_context_apply(struct vxpu_frag_context *ctx, uint32_t pos,
                             const struct vxpu_device_usage *next)
{
	if (!learnt(ctx->stats))
		return;
	ctx->q[pos] = free_amount(&ctx->node->devices[pos], next);
	ctx->mask[pos] = usable_mask(ctx, pos, next);
	/* Re-summed, not adjusted, so applied changes never drift. */
	resum(ctx);
}

double vxpu_node_fragmentation(const struct vxpu_node *n, const struct vxpu_device_usage *usage,
                               const struct vxpu_shape_stats *s)
{
	struct vxpu_frag_context ctx;
	struct vxpu_frag_cache cache;
	vxpu_frag_cache_init(&cache, s);
	vxpu_frag_context_init(&ctx, n, usage, &cache);
	return ctx.base;
}

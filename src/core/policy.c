/*
 * policy.c - device choice and node scoring (formulas in policy.h and
 * docs/scheduling.md).
 *
 * Every choice compares a small tuple of keys and keeps the first best in a
 * fixed scan order (candidates in device position order, NUMA nodes
 * ascending, subsets in lexicographic order), so equal keys always resolve
 * the same way. Nothing here allocates: the candidate subsets, the search
 * state and the working usage are bounded by VXPU_NODE_MAX_DEVICES and live
 * on the stack.
 */
#include "core/policy.h"

#include <string.h>

/* Lexicographic set score; higher is better on every key. */
struct set_score {
	double k1, k2, k3;
};

static int set_compare(struct set_score a, struct set_score b)
{
	if (a.k1 != b.k1)
		return a.k1 > b.k1 ? 1 : -1;
	if (a.k2 != b.k2)
		return a.k2 > b.k2 ? 1 : -1;
	if (a.k3 != b.k3)
		return a.k3 > b.k3 ? 1 : -1;
	return 0;
}

static double util_of(const struct vxpu_node *n, const struct vxpu_device_usage *usage,
                      uint32_t pos)
{
	return vxpu_device_utilization(&n->devices[pos], &usage[pos]);
}

static bool unused_in_service(const struct vxpu_node *n, const struct vxpu_device_usage *usage,
                              uint32_t pos)
{
	const struct vxpu_device *d = &n->devices[pos];
	return d->healthy && !d->cordoned && usage[pos].slices == 0;
}

/* Link weight from pos towards unused devices of the node (excluding pos). */
static uint32_t weight_to_unused(const struct vxpu_node *n, const struct vxpu_device_usage *usage,
                                 uint32_t pos)
{
	uint32_t sum = 0;
	for (uint32_t j = 0; j < n->ndevices; j++)
		if (j != pos && unused_in_service(n, usage, j))
			sum += n->link_weight[pos][j];
	return sum;
}

/* The problem one choice works on: a subset of the candidates. */
struct choice {
	const struct vxpu_node *n;
	const struct vxpu_device_usage *usage;
	const struct vxpu_candidate *cands;
	struct vxpu_frag_cache *frag;
	uint32_t m;                         /* candidates in the subset */
	uint8_t idx[VXPU_NODE_MAX_DEVICES]; /* indices into cands */
	uint32_t k;
};

static uint32_t pos_of(const struct choice *c, uint32_t i)
{
	return c->cands[c->idx[i]].share.device;
}

/* ---- binpack / spread -------------------------------------------------- */

static struct set_score choose_by_util(const struct choice *c, bool most_used, uint8_t *out)
{
	bool taken[VXPU_NODE_MAX_DEVICES] = {false};
	double u[VXPU_NODE_MAX_DEVICES];
	for (uint32_t i = 0; i < c->m; i++)
		u[i] = util_of(c->n, c->usage, pos_of(c, i));
	double sum = 0.0;
	for (uint32_t j = 0; j < c->k; j++) {
		int best = -1;
		for (uint32_t i = 0; i < c->m; i++) {
			if (taken[i])
				continue;
			/* Strict comparison: the earlier (lower index) device wins ties. */
			if (best < 0 || (most_used ? u[i] > u[best] : u[i] < u[best]))
				best = (int)i;
		}
		if (best < 0) /* fewer candidates than k: callers never ask */
			break;
		taken[best] = true;
		out[j] = c->idx[best];
		sum += u[best];
	}
	struct set_score s = {most_used ? sum : -sum, 0, 0};
	return s;
}

/* ---- topology ---------------------------------------------------------- */

struct topo_search {
	const struct choice *c;
	uint32_t w[VXPU_NODE_MAX_DEVICES][VXPU_NODE_MAX_DEVICES]; /* among the subset */
	uint32_t row_unused[VXPU_NODE_MAX_DEVICES];
	bool unused[VXPU_NODE_MAX_DEVICES];
	double util[VXPU_NODE_MAX_DEVICES];
	uint8_t cur[VXPU_NODE_MAX_DEVICES];
	uint8_t best[VXPU_NODE_MAX_DEVICES];
	bool have;
	struct set_score best_score;
};

/*
 * Depth-first over k-subsets in lexicographic order with incremental sums:
 * pair = link weight inside the set, inner_unused = sum over inner pairs of
 * w × (number of unused ends), row = sum of row_unused over the set. The
 * weight the set cuts towards unused devices left out is row - inner_unused.
 */
static void topo_rec(struct topo_search *t, uint32_t start, uint32_t depth, uint64_t pair,
                     uint64_t inner_unused, uint64_t row, double util)
{
	const struct choice *c = t->c;
	if (depth == c->k) {
		struct set_score s = {(double)pair, -(double)(row - inner_unused), util};
		if (!t->have || set_compare(s, t->best_score) > 0) {
			t->have = true;
			t->best_score = s;
			memcpy(t->best, t->cur, c->k);
		}
		return;
	}
	for (uint32_t i = start; i + (c->k - depth) <= c->m; i++) {
		uint64_t gain = 0, gain_unused = 0;
		for (uint32_t j = 0; j < depth; j++) {
			uint32_t w = t->w[t->cur[j]][i];
			gain += w;
			gain_unused +=
			        (uint64_t)w * ((uint32_t)t->unused[t->cur[j]] + t->unused[i]);
		}
		t->cur[depth] = (uint8_t)i;
		topo_rec(t, i + 1, depth + 1, pair + gain, inner_unused + gain_unused,
		         row + t->row_unused[i], util + t->util[i]);
	}
}

static uint64_t combinations_capped(uint32_t m, uint32_t k, uint64_t cap)
{
	uint64_t c = 1;
	for (uint32_t i = 1; i <= k; i++) {
		c = c * (m - k + i) / i;
		if (c > cap)
			return cap + 1;
	}
	return c;
}

/* Greedy growth for subsets too many to search: best pair, then best gain. */
static void topo_greedy(struct topo_search *t)
{
	const struct choice *c = t->c;
	bool in[VXPU_NODE_MAX_DEVICES] = {false};
	int a = 0, b = 1;
	for (uint32_t i = 0; i < c->m; i++)
		for (uint32_t j = i + 1; j < c->m; j++)
			if (t->w[i][j] > t->w[a][b])
				a = (int)i, b = (int)j;
	t->cur[0] = (uint8_t)a;
	t->cur[1] = (uint8_t)b;
	in[a] = in[b] = true;
	for (uint32_t depth = 2; depth < c->k; depth++) {
		int best = -1;
		uint64_t best_gain = 0;
		for (uint32_t i = 0; i < c->m; i++) {
			if (in[i])
				continue;
			uint64_t gain = 0;
			for (uint32_t j = 0; j < depth; j++)
				gain += t->w[t->cur[j]][i];
			if (best < 0 || gain > best_gain ||
			    (gain == best_gain && t->util[i] > t->util[best])) {
				best = (int)i;
				best_gain = gain;
			}
		}
		if (best < 0)
			break;
		in[best] = true;
		t->cur[depth] = (uint8_t)best;
	}
	uint64_t pair = 0, inner_unused = 0, row = 0;
	double util = 0;
	for (uint32_t x = 0; x < c->k; x++) {
		row += t->row_unused[t->cur[x]];
		util += t->util[t->cur[x]];
		for (uint32_t y = x + 1; y < c->k; y++) {
			uint32_t w = t->w[t->cur[x]][t->cur[y]];
			pair += w;
			inner_unused += (uint64_t)w *
			                ((uint32_t)t->unused[t->cur[x]] + t->unused[t->cur[y]]);
		}
	}
	t->best_score = (struct set_score){(double)pair, -(double)(row - inner_unused), util};
	memcpy(t->best, t->cur, c->k);
	t->have = true;
}

static struct set_score choose_topology(const struct choice *c, uint8_t *out)
{
	if (c->k == 1) {
		int best = -1;
		struct set_score best_score = {0, 0, 0};
		for (uint32_t i = 0; i < c->m; i++) {
			uint32_t pos = pos_of(c, i);
			struct set_score s = {-(double)weight_to_unused(c->n, c->usage, pos),
			                      util_of(c->n, c->usage, pos), 0};
			if (best < 0 || set_compare(s, best_score) > 0) {
				best = (int)i;
				best_score = s;
			}
		}
		if (best >= 0)
			out[0] = c->idx[best];
		return best_score;
	}
	struct topo_search t;
	memset(&t, 0, sizeof(t));
	t.c = c;
	for (uint32_t i = 0; i < c->m; i++) {
		uint32_t pi = pos_of(c, i);
		t.unused[i] = unused_in_service(c->n, c->usage, pi);
		t.row_unused[i] = weight_to_unused(c->n, c->usage, pi);
		t.util[i] = util_of(c->n, c->usage, pi);
		for (uint32_t j = 0; j < c->m; j++)
			t.w[i][j] = c->n->link_weight[pi][pos_of(c, j)];
	}
	if (combinations_capped(c->m, c->k, VXPU_TOPOLOGY_EXACT_LIMIT) <= VXPU_TOPOLOGY_EXACT_LIMIT)
		topo_rec(&t, 0, 0, 0, 0, 0, 0.0);
	else
		topo_greedy(&t);
	for (uint32_t j = 0; j < c->k; j++)
		out[j] = c->idx[t.best[j]];
	return t.best_score;
}

/* ---- fragmentation-aware ----------------------------------------------- */

/*
 * Fragmentation values are sums of floating-point fractions: equal
 * situations reached through different sums can differ in the last bits.
 * Rounding to 1e-9 of a device makes such ties exact, so that the stable
 * keys (utilization, index, node name) decide them.
 */
static double quantize(double x)
{
	double y = x * 1e9;
	return (double)(int64_t)(y >= 0 ? y + 0.5 : y - 0.5) / 1e9;
}

static void add_to(struct vxpu_device_usage *u, const struct vxpu_share *s)
{
	u->memory_mib += s->memory_mib;
	u->compute_units += s->compute_units;
	u->slices++;
	u->exclusive = (uint16_t)(u->exclusive + s->exclusive);
}

static struct set_score choose_frag(const struct choice *c, uint8_t *out)
{
	const struct vxpu_node *n = c->n;
	if (!c->frag || !c->frag->stats || vxpu_shapes_count(c->frag->stats) == 0) {
		struct set_score sc = choose_by_util(c, true, out);
		return (struct set_score){0.0, sc.k1, 0}; /* F is 0 before and after */
	}
	struct vxpu_device_usage work[VXPU_NODE_MAX_DEVICES];
	memcpy(work, c->usage, n->ndevices * sizeof(work[0]));
	bool taken[VXPU_NODE_MAX_DEVICES] = {false};
	struct vxpu_frag_context ctx;
	vxpu_frag_context_init(&ctx, n, work, c->frag);
	double start = ctx.base, end = start, util = 0.0;
	for (uint32_t j = 0; j < c->k; j++) {
		int best = -1;
		double best_f = 0.0;
		struct set_score best_score = {0, 0, 0};
		for (uint32_t i = 0; i < c->m; i++) {
			if (taken[i])
				continue;
			const struct vxpu_share *s = &c->cands[c->idx[i]].share;
			struct vxpu_device_usage next = work[s->device];
			add_to(&next, s);
			double f = vxpu_frag_context_try(&ctx, s->device, &next);
			struct set_score sc = {-quantize(f - start), util_of(n, work, s->device),
			                       0};
			if (best < 0 || set_compare(sc, best_score) > 0) {
				best = (int)i;
				best_f = f;
				best_score = sc;
			}
		}
		if (best < 0)
			break;
		taken[best] = true;
		out[j] = c->idx[best];
		const struct vxpu_share *s = &c->cands[c->idx[best]].share;
		util += util_of(n, work, s->device);
		add_to(&work[s->device], s);
		end = best_f;
		if (j + 1 < c->k) /* the last choice needs no updated context */
			vxpu_frag_context_apply(&ctx, s->device, &work[s->device]);
	}
	struct set_score sc = {-quantize(end - start), util, 0};
	return sc;
}

/* ---- dispatch and NUMA ------------------------------------------------- */

static struct set_score choose_in(const struct choice *c, enum vxpu_policy policy, uint8_t *out)
{
	switch (policy) {
	case VXPU_POLICY_SPREAD:
		return choose_by_util(c, false, out);
	case VXPU_POLICY_TOPOLOGY:
		return choose_topology(c, out);
	case VXPU_POLICY_FRAG:
		return choose_frag(c, out);
	case VXPU_POLICY_BINPACK:
	case VXPU_POLICY_NUMA:
	default:
		return choose_by_util(c, true, out);
	}
}

/* Distinct NUMA ids of the candidates, ascending; returns how many. */
static uint32_t numa_ids(const struct vxpu_node *n, const struct vxpu_candidate *cands,
                         uint32_t ncands, int32_t *ids)
{
	uint32_t count = 0;
	for (uint32_t i = 0; i < ncands; i++) {
		int32_t id = n->devices[cands[i].share.device].numa;
		uint32_t at = 0;
		while (at < count && ids[at] < id)
			at++;
		if (at < count && ids[at] == id)
			continue;
		memmove(&ids[at + 1], &ids[at], (count - at) * sizeof(ids[0]));
		ids[at] = id;
		count++;
	}
	return count;
}

static void subset_numa(struct choice *c, const struct vxpu_candidate *cands, uint32_t ncands,
                        int32_t id)
{
	c->m = 0;
	for (uint32_t i = 0; i < ncands; i++)
		if (c->n->devices[cands[i].share.device].numa == id)
			c->idx[c->m++] = (uint8_t)i;
}

static void sort_positions(const struct vxpu_candidate *cands, uint8_t *chosen, uint32_t k)
{
	for (uint32_t i = 1; i < k; i++)
		for (uint32_t j = i;
		     j > 0 && cands[chosen[j]].share.device < cands[chosen[j - 1]].share.device;
		     j--) {
			uint8_t t = chosen[j];
			chosen[j] = chosen[j - 1];
			chosen[j - 1] = t;
		}
}

int vxpu_choose_devices(const struct vxpu_node *n, const struct vxpu_device_usage *usage,
                        const struct vxpu_candidate *cands, uint32_t ncands, uint32_t k,
                        bool numa_bind, enum vxpu_policy policy, struct vxpu_frag_cache *frag,
                        uint8_t *chosen, double *frag_delta)
{
	if (frag_delta)
		*frag_delta = 0.0;
	if (k == 0)
		return 0;
	if (ncands < k)
		return -1;
	struct choice c = {.n = n, .usage = usage, .cands = cands, .frag = frag, .k = k};
	if (!numa_bind && policy != VXPU_POLICY_NUMA) {
		c.m = ncands;
		for (uint32_t i = 0; i < ncands; i++)
			c.idx[i] = (uint8_t)i;
		struct set_score s = choose_in(&c, policy, chosen);
		if (frag_delta && policy == VXPU_POLICY_FRAG)
			*frag_delta = -s.k1;
		sort_positions(cands, chosen, k);
		return 0;
	}
	int32_t ids[VXPU_NODE_MAX_DEVICES];
	uint32_t nids = numa_ids(n, cands, ncands, ids);
	bool have = false;
	struct set_score best_score = {0, 0, 0};
	uint8_t pick[VXPU_NODE_MAX_DEVICES];
	for (uint32_t g = 0; g < nids; g++) {
		subset_numa(&c, cands, ncands, ids[g]);
		if (c.m < k)
			continue;
		struct set_score s;
		if (policy == VXPU_POLICY_NUMA) {
			/* Best fit: the NUMA node with the fewest candidates that fit k. */
			s = choose_in(&c, VXPU_POLICY_BINPACK, pick);
			s = (struct set_score){-(double)c.m, s.k1, 0};
		} else {
			s = choose_in(&c, policy, pick);
		}
		if (!have || set_compare(s, best_score) > 0) {
			have = true;
			best_score = s;
			memcpy(chosen, pick, k);
		}
	}
	if (!have) {
		if (numa_bind)
			return -1;
		/* NUMA policy without binding: no single node holds k; binpack over all. */
		c.m = ncands;
		for (uint32_t i = 0; i < ncands; i++)
			c.idx[i] = (uint8_t)i;
		choose_in(&c, VXPU_POLICY_BINPACK, chosen);
	} else if (frag_delta && policy == VXPU_POLICY_FRAG) {
		*frag_delta = -best_score.k1;
	}
	sort_positions(cands, chosen, k);
	return 0;
}

/* ---- node score -------------------------------------------------------- */

int vxpu_score_compare(struct vxpu_score a, struct vxpu_score b)
{
	if (a.primary != b.primary)
		return a.primary > b.primary ? 1 : -1;
	if (a.secondary != b.secondary)
		return a.secondary > b.secondary ? 1 : -1;
	return 0;
}

static void usage_after(const struct vxpu_node *n, const struct vxpu_placement *p,
                        struct vxpu_device_usage *after)
{
	for (uint32_t d = 0; d < n->ndevices; d++) {
		after[d] = n->usage[d];
		after[d].memory_mib += p->peak[d].memory_mib;
		after[d].compute_units += p->peak[d].compute_units;
		after[d].slices = (uint16_t)(after[d].slices + p->peak[d].slices);
		after[d].exclusive = (uint16_t)(after[d].exclusive + p->peak[d].exclusive);
	}
}

static double mean_util(const struct vxpu_node *n, const struct vxpu_device_usage *usage)
{
	if (n->ndevices == 0)
		return 0.0;
	double sum = 0.0;
	for (uint32_t d = 0; d < n->ndevices; d++)
		sum += vxpu_device_utilization(&n->devices[d], &usage[d]);
	return sum / n->ndevices;
}

/* Sum over containers of their set's link weight (k > 1) or minus the cut. */
static double topology_value(const struct vxpu_node *n, const struct vxpu_placement *p)
{
	double total = 0.0;
	for (uint32_t i = 0; i < p->nshares;) {
		uint32_t j = i;
		while (j < p->nshares && p->shares[j].container == p->shares[i].container &&
		       p->shares[j].init == p->shares[i].init)
			j++;
		if (j - i == 1) {
			total -= weight_to_unused(n, n->usage, p->shares[i].device);
		} else {
			for (uint32_t a = i; a < j; a++)
				for (uint32_t b = a + 1; b < j; b++)
					total += n->link_weight[p->shares[a].device]
					                       [p->shares[b].device];
		}
		i = j;
	}
	return total;
}

static double numa_spread(const struct vxpu_node *n, const struct vxpu_placement *p)
{
	double extra = 0.0;
	for (uint32_t i = 0; i < p->nshares;) {
		uint32_t j = i;
		int32_t seen[VXPU_NODE_MAX_DEVICES];
		uint32_t nseen = 0;
		while (j < p->nshares && p->shares[j].container == p->shares[i].container &&
		       p->shares[j].init == p->shares[i].init) {
			int32_t id = n->devices[p->shares[j].device].numa;
			uint32_t x = 0;
			while (x < nseen && seen[x] != id)
				x++;
			if (x == nseen)
				seen[nseen++] = id;
			j++;
		}
		extra += nseen - 1;
		i = j;
	}
	return extra;
}

struct vxpu_score vxpu_score_placement(const struct vxpu_node *n, const struct vxpu_placement *p,
                                       enum vxpu_policy policy, struct vxpu_frag_cache *frag)
{
	struct vxpu_device_usage after[VXPU_NODE_MAX_DEVICES];
	usage_after(n, p, after);
	double u = mean_util(n, after);
	struct vxpu_score s = {u, 0.0};
	switch (policy) {
	case VXPU_POLICY_SPREAD:
		s.primary = -u;
		break;
	case VXPU_POLICY_TOPOLOGY:
		s.primary = topology_value(n, p);
		s.secondary = u;
		break;
	case VXPU_POLICY_NUMA:
		s.primary = -numa_spread(n, p);
		s.secondary = u;
		break;
	case VXPU_POLICY_FRAG: {
		s.secondary = u;
		if (p->frag_delta_known) {
			s.primary = -p->frag_delta;
			break;
		}
		struct vxpu_frag_context ctx;
		vxpu_frag_context_init(&ctx, n, n->usage, frag);
		double before = ctx.base;
		for (uint32_t d = 0; d < n->ndevices; d++)
			if (p->peak[d].slices)
				vxpu_frag_context_apply(&ctx, d, &after[d]);
		s.primary = -quantize(ctx.base - before);
		break;
	}
	case VXPU_POLICY_BINPACK:
	default:
		break;
	}
	return s;
}

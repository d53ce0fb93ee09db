/*
 * trace_sim.c - the trace replay engine and its placement policies (see
 * trace_sim.h for the methodology and docs/simulator.md for the formulas).
 *
 * State: one struct sim_node per GPU node, holding what is left (as the
 * fragmentation measure's struct vxpu_frag_node) plus the aggregates every
 * policy needs in O(1): idle milli, wholly free GPUs, the largest free room,
 * and the counts of GPU tasks per kind (for clustering). The cluster's
 * fragmentation under the trace's shape distribution is kept as a running
 * sum of per-node amounts, updated for the one node a placement touches, so
 * the fragmentation curve costs nothing per arrival.
 *
 * Decisions scan every node once, in the run's node order: a permutation
 * drawn from the seed. The paper's scheduler gives each node a random name
 * prefix per seed and, among the best-scored nodes, takes the first; the
 * baselines and fgd do the same here (integer scores, first best in that
 * order), which is what reproduces its figures. random draws uniformly among
 * the feasible nodes. vxpu's binpack and spread scan by node index.
 *
 * Randomness comes from xoshiro256** streams seeded from the seed alone -
 * arrivals, node order, and random's draws - so a seed means the same
 * arrivals and node order for every policy, and results do not depend on how
 * runs are spread over threads.
 *
 * The fragmentation policies evaluate "F after" by applying the task to a
 * copy of the node; "F before" is cached per node (fgd: always current;
 * fragaware: tagged with the learned distribution's version and recomputed
 * lazily after a recompile). A fractional task is tried on each device with
 * distinct free room - devices with equal room give equal F.
 */
#include "core/trace_sim.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const policy_names[VXPU_SIM_POLICY_COUNT] = {
        [VXPU_SIM_RANDOM] = "random",         [VXPU_SIM_BESTFIT] = "bestfit",
        [VXPU_SIM_DOTPROD] = "dotprod",       [VXPU_SIM_PACKING] = "packing",
        [VXPU_SIM_CLUSTERING] = "clustering", [VXPU_SIM_FGD] = "fgd",
        [VXPU_SIM_BINPACK] = "binpack",       [VXPU_SIM_SPREAD] = "spread",
        [VXPU_SIM_FRAGAWARE] = "fragaware",
};

const char *vxpu_sim_policy_name(enum vxpu_sim_policy p)
{
	return (unsigned)p < VXPU_SIM_POLICY_COUNT ? policy_names[p] : "?";
}

int vxpu_sim_policy_parse(const char *name, enum vxpu_sim_policy *p)
{
	for (int i = 0; i < VXPU_SIM_POLICY_COUNT; i++) {
		if (strcmp(name, policy_names[i]) == 0) {
			*p = (enum vxpu_sim_policy)i;
			return 0;
		}
	}
	return -1;
}

const char *vxpu_sim_policy_list(void)
{
	return "random, bestfit, dotprod, packing, clustering, fgd, binpack, spread, fragaware";
}

/* ---- numerics ----------------------------------------------------------- */

static double sigmoid(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

void vxpu_sim_mean_sd(const double *v, size_t n, double *mean, double *sd)
{
	double m = 0.0, ss = 0.0;
	for (size_t i = 0; i < n; i++)
		m += v[i];
	m = n ? m / (double)n : 0.0;
	for (size_t i = 0; i < n; i++)
		ss += (v[i] - m) * (v[i] - m);
	*mean = m;
	*sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
}

/* ---- randomness ---------------------------------------------------------- */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL);
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	const uint64_t result = rotl(s[1] * 5, 7) * 9;
	const uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Uniform in [0, n) for n < 2^53. */
static size_t rng_below(struct rng *r, size_t n)
{
	return (size_t)((double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0) * (double)n);
}

/* ---- cluster state -------------------------------------------------------- */

#define KINDS (VXPU_TRACE_MAX_GPUS + 1) /* kind 0: fractional; k: k whole GPUs */

struct sim_node {
	struct vxpu_frag_node fn;    /* what is left */
	struct vxpu_frag_node built; /* the node empty: what it has */
	uint32_t hardware;           /* index of built in vxpu_sim.hardware */
	uint32_t cpu_capacity;
	uint32_t idle;      /* sum of dev_left */
	uint32_t free_devs; /* devices with nothing allocated */
	uint32_t max_room;  /* largest dev_left */
	uint16_t kind_count[KINDS];
	uint16_t kinds;  /* non-zero entries of kind_count */
	double frag_ref; /* F under the trace's distribution */
	double frag_own; /* F under fragaware's yardstick, if own_dist/version current */
	const struct vxpu_frag_dist *own_dist;
	uint64_t own_version;
};

/* One kind of empty node and how many the cluster has: a shape's structural
 * hosts are counted over these (a dozen or so on the openb traces) rather
 * than over every node. */
struct hardware {
	struct vxpu_frag_node built;
	uint32_t nodes;
	bool hosts; /* scratch: hosts the shape being weighed */
};

/* A task as the policies see it. */
struct request {
	struct vxpu_frag_shape shape;
	uint32_t gpu_total; /* milli */
	int kind;           /* -1: no GPU */
	bool fractional;    /* one GPU, less than all of it */
};

struct vxpu_sim {
	const struct vxpu_trace *trace;
	struct vxpu_sim_options opt;
	struct sim_node *nodes;
	size_t node_count;
	struct hardware *hardware; /* the distinct empty nodes, with how many */
	size_t hardware_count;
	uint32_t *order; /* scan order of baselines, fgd, fragaware */
	uint32_t *arrivals;
	size_t arrival_count;
	size_t next;
	struct rng draws;               /* random's choices */
	struct vxpu_frag_dist *ref;     /* the trace's shapes: fgd and the reported rate */
	struct vxpu_frag_dist *learned; /* fragaware: learned from arrivals */
	struct vxpu_frag_dist *prior;   /* fragaware: whole GPUs, until the mix settles */
	bool settled;                   /* the learned mix is fragaware's yardstick */
	uint64_t learned_compiled_at;   /* observations at the last compile */
	uint64_t capacity;              /* GPU milli */
	uint64_t allocated;
	uint64_t arrived;
	double frag_sum; /* sum of frag_ref */
	size_t failures;
	size_t failures_at_100;
	bool passed_100;
	double alloc_at_100, frag_at_100; /* just after the arrival that passed 100 % */
	double max_cpu, max_gpu;          /* score normalisers: the largest node */
	struct {
		uint32_t n;
		double alloc, frag;
	} curve[VXPU_SIM_CURVE_MAX];
	size_t curve_len;
};

static void node_refresh(struct sim_node *n)
{
	uint32_t idle = 0, free_devs = 0, max_room = 0;
	for (uint32_t i = 0; i < n->fn.dev_count; i++) {
		const uint32_t left = n->fn.dev_left[i];
		idle += left;
		free_devs += left == VXPU_TRACE_GPU_MILLI;
		if (left > max_room)
			max_room = left;
	}
	n->idle = idle;
	n->free_devs = free_devs;
	n->max_room = max_room;
}

static struct request make_request(const struct vxpu_trace_task *t)
{
	struct request q = {.shape = vxpu_trace_task_shape(t)};
	q.gpu_total = (uint32_t)vxpu_trace_task_gpu_milli(t);
	q.fractional = t->gpu_count == 1 && t->gpu_milli < VXPU_TRACE_GPU_MILLI;
	if (t->gpu_count == 0)
		q.kind = -1;
	else if (q.fractional)
		q.kind = 0;
	else
		q.kind = t->gpu_count < KINDS ? (int)t->gpu_count : KINDS - 1;
	return q;
}

static bool model_ok(const struct request *q, uint32_t model)
{
	return q->shape.any_model || ((q->shape.model_mask >> model) & 1u);
}

static bool node_fits(const struct sim_node *n, const struct request *q)
{
	if (n->fn.cpu_left < q->shape.cpu_milli || n->fn.mem_left < q->shape.mem_mib)
		return false;
	if (q->shape.dev_count == 0)
		return true;
	if (!model_ok(q, n->fn.model))
		return false;
	if (q->fractional)
		return n->max_room >= q->shape.dev_milli;
	return n->free_devs >= q->shape.dev_count;
}

/* The fractional task's device by best fit: least room that fits, lowest index. */
static int device_best_fit(const struct sim_node *n, uint32_t milli)
{
	int best = -1;
	for (uint32_t i = 0; i < n->fn.dev_count; i++)
		if (n->fn.dev_left[i] >= milli &&
		    (best < 0 || n->fn.dev_left[i] < n->fn.dev_left[best]))
			best = (int)i;
	return best;
}

static int device_worst_fit(const struct sim_node *n, uint32_t milli)
{
	int best = -1;
	for (uint32_t i = 0; i < n->fn.dev_count; i++)
		if (n->fn.dev_left[i] >= milli &&
		    (best < 0 || n->fn.dev_left[i] > n->fn.dev_left[best]))
			best = (int)i;
	return best;
}

static int device_random(struct vxpu_sim *s, const struct sim_node *n, uint32_t milli)
{
	int chosen = -1;
	size_t seen = 0;
	for (uint32_t i = 0; i < n->fn.dev_count; i++)
		if (n->fn.dev_left[i] >= milli && rng_below(&s->draws, ++seen) == 0)
			chosen = (int)i;
	return chosen;
}

/* The node after the task (device only for fractional tasks). */
static struct vxpu_frag_node after_placing(const struct sim_node *n, const struct request *q,
                                           int device)
{
	struct vxpu_frag_node a = n->fn;
	a.cpu_left -= q->shape.cpu_milli;
	a.mem_left -= q->shape.mem_mib;
	if (q->fractional) {
		a.dev_left[device] = (uint16_t)(a.dev_left[device] - q->shape.dev_milli);
	} else {
		uint32_t want = q->shape.dev_count;
		for (uint32_t i = 0; i < a.dev_count && want > 0; i++) {
			if (a.dev_left[i] == VXPU_TRACE_GPU_MILLI) {
				a.dev_left[i] = 0;
				want--;
			}
		}
	}
	return a;
}

/* True when an earlier device has the same room (same result, skip it). */
static bool room_seen_before(const struct sim_node *n, uint32_t i)
{
	for (uint32_t j = 0; j < i; j++)
		if (n->fn.dev_left[j] == n->fn.dev_left[i])
			return true;
	return false;
}

static void commit(struct vxpu_sim *s, size_t index, const struct request *q, int device)
{
	struct sim_node *n = &s->nodes[index];
	n->fn = after_placing(n, q, device);
	node_refresh(n);
	if (q->kind >= 0) {
		if (n->kind_count[q->kind]++ == 0)
			n->kinds++;
	}
	s->allocated += q->gpu_total;
	const double before = n->frag_ref;
	n->frag_ref = vxpu_frag_amount(s->ref, &n->fn);
	s->frag_sum += n->frag_ref - before;
	n->own_dist = NULL;
}

/* ---- the paper's baselines: integer scores, first best in node order --- */

/* BestFit: 0.5 * (free - request) / max over CPU and GPU, lower is better,
 * reported as int((1 - that) * 100). */
static int64_t score_bestfit(const struct vxpu_sim *s, const struct sim_node *n,
                             const struct request *q)
{
	double score = 0.0;
	score += ((double)n->fn.cpu_left - q->shape.cpu_milli) / s->max_cpu * 0.5;
	score += ((double)n->idle - q->gpu_total) / s->max_gpu * 0.5;
	score = (1.0 - score) * 100.0;
	return (int64_t)score;
}

/* DotProd (Tetris-like): free and request vectors normalised by the largest
 * node; the smaller their dot product, the higher the score. */
static int64_t score_dotprod(const struct vxpu_sim *s, const struct sim_node *n,
                             const struct request *q)
{
	const double node_cpu = n->fn.cpu_left / s->max_cpu, node_gpu = n->idle / s->max_gpu;
	const double req_cpu = q->shape.cpu_milli / s->max_cpu, req_gpu = q->gpu_total / s->max_gpu;
	double dot = 0.0;
	dot += node_cpu * req_cpu;
	dot += node_gpu * req_gpu;
	double score = 1.0 - dot / 2.0;
	return (int64_t)(100.0 * score);
}

/* GPU Packing: fractional GPUs already in use first, then free GPUs of a
 * used node, then a free node; 0 for a task without GPU. */
static int64_t score_packing(const struct sim_node *n, const struct request *q)
{
	if (q->shape.dev_count == 0)
		return 0;
	const int64_t max = 100;
	if (n->free_devs == n->fn.dev_count) {
		const int64_t score = max / 3 - n->free_devs;
		return score > (int64_t)n->free_devs ? score : (int64_t)n->free_devs;
	}
	/* Devices in ascending order of room, taking those that fit. */
	uint32_t order[VXPU_TRACE_MAX_GPUS];
	const uint32_t devs = n->fn.dev_count;
	for (uint32_t i = 0; i < devs; i++) {
		uint32_t j = i;
		while (j > 0 && n->fn.dev_left[order[j - 1]] > n->fn.dev_left[i]) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	uint32_t want = q->shape.dev_count, free_used = 0;
	int64_t room_pct = 0;
	for (uint32_t k = 0; k < devs && want > 0; k++) {
		const uint32_t left = n->fn.dev_left[order[k]];
		if (q->shape.dev_milli <= left) {
			want--;
			free_used += left == VXPU_TRACE_GPU_MILLI;
			room_pct += (int64_t)left * 100 / VXPU_TRACE_GPU_MILLI;
		}
	}
	if (free_used > 0) {
		const int64_t score = max / 2 - free_used;
		return score > max / 3 ? score : max / 3;
	}
	const int64_t score = max - room_pct / 10;
	return score > max / 2 ? score : max / 2;
}

/* GPU Clustering: prefer nodes running only tasks of the same GPU kind, then
 * mixed nodes with that kind, then empty nodes, then others; within a band,
 * the fuller node. 0 for a task without GPU. */
static int64_t score_clustering(const struct vxpu_sim *s, const struct sim_node *n,
                                const struct request *q)
{
	if (q->kind < 0)
		return 0;
	const int64_t max = 100, spec = (int64_t)s->max_gpu;
	const int64_t fill = max / 4 * (spec - (int64_t)n->idle) / spec;
	if (n->kind_count[q->kind] > 0)
		return fill + (n->kinds == 1 ? max * 3 / 4 : max * 2 / 4);
	return fill + (n->kinds == 0 ? max / 4 : 0);
}

/* FGD: int(100 * sigmoid((F before - F after) / 1000)) under the trace's
 * distribution; a fractional task takes the device with the best score (the
 * first on ties). */
static int64_t score_fgd(const struct vxpu_sim *s, const struct sim_node *n,
                         const struct request *q, int *device)
{
	const double before = n->frag_ref;
	if (!q->fractional) {
		struct vxpu_frag_node a = after_placing(n, q, -1);
		*device = -1;
		return (int64_t)(sigmoid((before - vxpu_frag_amount(s->ref, &a)) / 1000.0) * 100.0);
	}
	int64_t best = -1;
	for (uint32_t i = 0; i < n->fn.dev_count; i++) {
		if (n->fn.dev_left[i] < q->shape.dev_milli || room_seen_before(n, i))
			continue;
		struct vxpu_frag_node a = after_placing(n, q, (int)i);
		const int64_t score =
		        (int64_t)(sigmoid((before - vxpu_frag_amount(s->ref, &a)) / 1000.0) *
		                  100.0);
		if (score > best) {
			best = score;
			*device = (int)i;
		}
	}
	return best;
}

static bool choose_baseline(struct vxpu_sim *s, const struct request *q, size_t *node, int *device)
{
	const enum vxpu_sim_policy p = s->opt.policy;
	int64_t best = INT64_MIN;
	size_t feasible = 0;
	int best_device = -1;
	for (size_t k = 0; k < s->node_count; k++) {
		const size_t i = s->order[k];
		const struct sim_node *n = &s->nodes[i];
		if (!node_fits(n, q))
			continue;
		int dev = -1;
		int64_t score;
		switch (p) {
		case VXPU_SIM_BESTFIT:
			score = score_bestfit(s, n, q);
			break;
		case VXPU_SIM_DOTPROD:
			score = score_dotprod(s, n, q);
			break;
		case VXPU_SIM_PACKING:
			score = score_packing(n, q);
			break;
		case VXPU_SIM_CLUSTERING:
			score = score_clustering(s, n, q);
			break;
		case VXPU_SIM_FGD:
			score = score_fgd(s, n, q, &dev);
			break;
		default:
			score = 0; /* random: every feasible node alike */
			break;
		}
		feasible++;
		if (p == VXPU_SIM_RANDOM) {
			/* Reservoir sampling: uniform over the feasible nodes. */
			if (rng_below(&s->draws, feasible) == 0)
				*node = i;
		} else if (score > best) {
			best = score;
			*node = i;
			best_device = dev;
		}
	}
	if (feasible == 0)
		return false;
	const struct sim_node *n = &s->nodes[*node];
	if (!q->fractional)
		*device = -1;
	else if (p == VXPU_SIM_FGD)
		*device = best_device;
	else if (p == VXPU_SIM_RANDOM)
		*device = device_random(s, n, q->shape.dev_milli);
	else
		*device = device_best_fit(n, q->shape.dev_milli);
	return true;
}

/* ---- vxpu's policies: keys compared in order, ties by scan order -------- */

/* Candidates compare by (primary, secondary) descending; the first in scan
 * order wins ties. */
struct key {
	double primary;
	double secondary;
};

static bool key_better(struct key a, struct key b)
{
	const double eps = 1e-6;
	if (a.primary > b.primary + eps)
		return true;
	if (a.primary < b.primary - eps)
		return false;
	return a.secondary > b.secondary + eps;
}

/* The learned mix becomes fragaware's yardstick once it has settled: when
 * a batch of SETTLE_BATCH new requests moves it by less than SETTLE_DRIFT
 * in total variation. Until then the yardstick is the prior - requests for
 * whole GPUs, under which any partly used GPU is a fragment - so early
 * placements keep GPUs whole and pack in node order instead of hedging for
 * a mix estimated from a handful of requests. A mix of many shapes takes
 * longer to settle (a few hundred requests on the openb traces). */
#define SETTLE_BATCH 32
#define SETTLE_DRIFT 0.05

/* The most shapes fragaware evaluates. Enough that a rare shape which only
 * a few nodes host - an eight-GPU, 120-CPU request seen once in 300 - stays
 * in the set between its arrivals: with 64, such shapes dropped in and out
 * at the cut, and while out, nothing kept their few hosts free. */
#define LEARNED_SHAPES 128

/*
 * Scarcity: how much a shape's failing to fit a node matters. FGD counts a
 * node's idle GPUs as stranded for every shape that cannot use them, even
 * when the shape has hundreds of other hosts - so, for instance, an empty
 * 128-CPU node looks *less* useful than an empty 96-CPU one (shapes bound to
 * the smaller one's GPU model cannot use it) and whole-node tasks take the
 * few nodes that alone host the rare 120-CPU eight-GPU requests. fragaware
 * weighs each learned shape's "does not fit" term by the inverse share of
 * nodes that can host it now, nodes / hosts_now: 1 for a shape that fits
 * everywhere, large for one that few nodes can take.
 *
 * That ratio is the product of two kinds of scarcity, bounded differently:
 * structural, nodes / hosts_built (the hardware - GPU model, GPU count, CPU
 * and memory size - admits few hosts even when empty), is a fixed fact and
 * weighs fully; transient, hosts_built / hosts_now (hosts used up by
 * placements, which happens to every shape as the cluster fills, most of
 * all when GPU-less tasks eat the CPUs), moves with every placement and
 * counts at most SCARCITY_TRANSIENT_MAX times. A shape whose structural
 * weight is under the bound is one nearly every node can host; for it the
 * bound applies to the whole product, so that the cluster filling up does
 * not, by itself, make common shapes outweigh each other. For a
 * structurally scarce shape it applies to the transient factor alone: when
 * the few nodes of a GPU model are being used up by tasks that could run
 * anywhere, the tasks bound to that model grow scarcer still, and the
 * nodes left must weigh more - a weight fixed at the structural value
 * would, as the common shapes' weights rise towards the bound, protect them
 * less and less. Computed at every recompile of the learned mix:
 * structural hosts over the table of distinct empty nodes, current hosts
 * over the nodes of the kinds that host the shape.
 */
#define SCARCITY_TRANSIENT_MAX 2.0

static void weigh_scarcity(struct vxpu_sim *s)
{
	struct vxpu_frag_shape shapes[LEARNED_SHAPES];
	double weights[LEARNED_SHAPES];
	const size_t count = vxpu_frag_dist_shapes(s->learned, shapes, NULL, LEARNED_SHAPES);
	const double nodes = (double)s->node_count;
	for (size_t m = 0; m < count; m++) {
		weights[m] = 1.0;
		if (shapes[m].dev_count == 0)
			continue; /* counted apart: GPU-less shapes strand every GPU */
		size_t hosts_built = 0;
		for (size_t h = 0; h < s->hardware_count; h++) {
			struct hardware *hw = &s->hardware[h];
			hw->hosts = vxpu_frag_fits(&hw->built, &shapes[m]);
			hosts_built += hw->hosts ? hw->nodes : 0;
		}
		if (hosts_built == 0) {
			/* No host counts as one: the weight is the node count. */
			weights[m] = nodes;
			continue;
		}
		size_t hosts_now = 0;
		for (size_t i = 0; i < s->node_count; i++)
			hosts_now += s->hardware[s->nodes[i].hardware].hosts &&
			             vxpu_frag_fits(&s->nodes[i].fn, &shapes[m]);
		/* w = structural x transient; the bound caps the whole of a
		 * common shape's weight, only the transient factor of a scarce
		 * one's. */
		const double structural = nodes / (double)hosts_built;
		const double most = structural < SCARCITY_TRANSIENT_MAX
		                            ? SCARCITY_TRANSIENT_MAX
		                            : structural * SCARCITY_TRANSIENT_MAX;
		const double w = nodes / (double)(hosts_now ? hosts_now : 1);
		weights[m] = w < most ? w : most;
	}
	/* Cannot fail: count and weights come from the set just compiled. */
	(void)vxpu_frag_dist_weigh_misses(s->learned, weights, count);
}

static void learned_refresh(struct vxpu_sim *s)
{
	const uint64_t seen = vxpu_frag_dist_observations(s->learned);
	if (!s->settled) {
		if (seen % SETTLE_BATCH != 0)
			return;
		const double drift = vxpu_frag_dist_drift(s->learned);
		if (vxpu_frag_dist_compile(s->learned) == 0) {
			s->learned_compiled_at = seen;
			s->settled = drift < SETTLE_DRIFT;
			weigh_scarcity(s);
		}
		return;
	}
	/* Settled: recompile every 1/32 of what was seen, at most every 64
	 * requests - the mix is tracked closely at a small cost. */
	uint64_t every = seen / 32;
	if (every > 64)
		every = 64;
	if (seen - s->learned_compiled_at >= every && vxpu_frag_dist_compile(s->learned) == 0) {
		s->learned_compiled_at = seen;
		weigh_scarcity(s);
	}
}

static const struct vxpu_frag_dist *yardstick(const struct vxpu_sim *s)
{
	return s->settled ? s->learned : s->prior;
}

static double own_before(struct vxpu_sim *s, struct sim_node *n)
{
	const struct vxpu_frag_dist *d = yardstick(s);
	const uint64_t version = vxpu_frag_dist_version(d);
	if (n->own_dist != d || n->own_version != version) {
		n->frag_own = vxpu_frag_amount(d, &n->fn);
		n->own_dist = d;
		n->own_version = version;
	}
	return n->frag_own;
}

/* FGD's score on fragaware's yardstick: int(100 * sigmoid(gain / 1000)).
 * The integer resolution (about 40 milli near zero, coarser for large
 * gains) makes candidates whose expected gains differ by less than the
 * estimate can tell equal, and equal candidates go to the first node in the
 * run's fixed order: consistent first-fit, which packs. */
static double fragaware_score(double before, double after)
{
	return (double)(int64_t)(sigmoid((before - after) / 1000.0) * 100.0);
}

static struct key key_fragaware(struct vxpu_sim *s, struct sim_node *n, const struct request *q,
                                int *device)
{
	const double before = own_before(s, n);
	/* A task without GPU goes, among equal scores, where the least GPU
	 * capacity idles: its CPU and memory then do not strand free GPUs. */
	const double secondary = q->shape.dev_count == 0 ? -(double)n->idle : 0.0;
	if (!q->fractional) {
		struct vxpu_frag_node a = after_placing(n, q, -1);
		*device = -1;
		return (struct key){fragaware_score(before, vxpu_frag_amount(yardstick(s), &a)),
		                    secondary};
	}
	double best = 0.0;
	int best_dev = -1;
	for (uint32_t i = 0; i < n->fn.dev_count; i++) {
		if (n->fn.dev_left[i] < q->shape.dev_milli || room_seen_before(n, i))
			continue;
		struct vxpu_frag_node a = after_placing(n, q, (int)i);
		const double score = fragaware_score(before, vxpu_frag_amount(yardstick(s), &a));
		if (best_dev < 0 || score > best) {
			best = score;
			best_dev = (int)i;
		}
	}
	*device = best_dev;
	return (struct key){best, secondary};
}

static bool choose_own(struct vxpu_sim *s, const struct request *q, size_t *node, int *device)
{
	const enum vxpu_sim_policy p = s->opt.policy;
	bool found = false;
	struct key best = {0, 0};
	for (size_t k = 0; k < s->node_count; k++) {
		const size_t i = p == VXPU_SIM_FRAGAWARE ? s->order[k] : k;
		struct sim_node *n = &s->nodes[i];
		if (!node_fits(n, q))
			continue;
		int dev = -1;
		struct key key;
		const double idle_after = (double)n->idle - q->gpu_total;
		const double cpu_after = (double)n->fn.cpu_left - q->shape.cpu_milli;
		switch (p) {
		case VXPU_SIM_BINPACK:
			key = (struct key){-idle_after, -cpu_after};
			break;
		case VXPU_SIM_SPREAD:
			key = (struct key){idle_after, cpu_after};
			break;
		default:
			key = key_fragaware(s, n, q, &dev);
			break;
		}
		if (!found || key_better(key, best)) {
			found = true;
			best = key;
			*node = i;
			*device = dev;
		}
	}
	if (!found)
		return false;
	if (q->fractional && p == VXPU_SIM_BINPACK)
		*device = device_best_fit(&s->nodes[*node], q->shape.dev_milli);
	else if (q->fractional && p == VXPU_SIM_SPREAD)
		*device = device_worst_fit(&s->nodes[*node], q->shape.dev_milli);
	return true;
}

/* ---- the run ------------------------------------------------------------- */

static struct vxpu_frag_dist *trace_distribution(const struct vxpu_trace *t)
{
	/* The paper's typical tasks: the most frequent shapes (CPU, GPU count,
	 * GPU milli, GPU models; memory ignored) covering 95 % of the trace. */
	const struct vxpu_frag_dist_config cfg = {
	        .half_life = 0,
	        .coverage = 0.95,
	        .max_shapes = 4096,
	        .max_tracked = 65536,
	};
	struct vxpu_frag_dist *d = vxpu_frag_dist_new(&cfg);
	if (!d)
		return NULL;
	for (size_t i = 0; i < t->task_count; i++) {
		struct vxpu_frag_shape shape = vxpu_trace_task_shape(&t->tasks[i]);
		if (vxpu_frag_dist_observe(d, &shape) < 0) {
			vxpu_frag_dist_free(d);
			return NULL;
		}
	}
	if (vxpu_frag_dist_compile(d) < 0) {
		vxpu_frag_dist_free(d);
		return NULL;
	}
	return d;
}

static struct vxpu_frag_dist *learned_distribution(void)
{
	/* vxpu's online view: the arrivals so far, forgetting with a half-life
	 * of 4000 requests; every shape up to the LEARNED_SHAPES most frequent
	 * (no 95 % cut, so rare large shapes still count); memory is part of
	 * the fit, as it is for placement. */
	const struct vxpu_frag_dist_config cfg = {
	        .half_life = 4000,
	        .coverage = 1.0,
	        .max_shapes = LEARNED_SHAPES,
	        .max_tracked = 1024,
	        .check_memory = true,
	};
	return vxpu_frag_dist_new(&cfg);
}

static struct vxpu_frag_dist *whole_gpu_prior(void)
{
	const struct vxpu_frag_dist_config cfg = {.coverage = 1.0};
	const struct vxpu_frag_shape whole = {
	        .dev_count = 1, .dev_milli = VXPU_TRACE_GPU_MILLI, .any_model = true};
	struct vxpu_frag_dist *d = vxpu_frag_dist_new(&cfg);
	if (d && (vxpu_frag_dist_observe(d, &whole) != 0 || vxpu_frag_dist_compile(d) != 0)) {
		vxpu_frag_dist_free(d);
		d = NULL;
	}
	return d;
}

static int build_arrivals(struct vxpu_sim *s, char *err, size_t errlen)
{
	const struct vxpu_trace *t = s->trace;
	const size_t n = t->task_count;
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += vxpu_trace_task_gpu_milli(&t->tasks[i]);
	if (total == 0) {
		snprintf(err, errlen, "the trace asks for no GPU: nothing to replay");
		return -1;
	}
	struct rng arrivals_rng;
	rng_seed(&arrivals_rng, s->opt.seed, 1);
	size_t cap = n + 16;
	uint32_t *a = malloc(cap * sizeof(*a));
	if (!a)
		goto oom;
	for (size_t i = 0; i < n; i++)
		a[i] = (uint32_t)i;
	for (size_t i = n; i > 1; i--) {
		const size_t j = rng_below(&arrivals_rng, i);
		const uint32_t tmp = a[i - 1];
		a[i - 1] = a[j];
		a[j] = tmp;
	}
	size_t len = n;
	const double target = s->opt.tune * (double)s->capacity;
	if ((double)total > target) {
		while ((double)total > target && len > 0) {
			const size_t j = rng_below(&arrivals_rng, len);
			total -= vxpu_trace_task_gpu_milli(&t->tasks[a[j]]);
			memmove(&a[j], &a[j + 1], (len - j - 1) * sizeof(*a));
			len--;
		}
	} else {
		for (;;) {
			const size_t j = rng_below(&arrivals_rng, n);
			const uint64_t g = vxpu_trace_task_gpu_milli(&t->tasks[j]);
			if ((double)(total + g) > target)
				break;
			if (len == cap) {
				cap *= 2;
				uint32_t *grown = realloc(a, cap * sizeof(*a));
				if (!grown)
					goto oom;
				a = grown;
			}
			a[len++] = (uint32_t)j;
			total += g;
		}
	}
	s->arrivals = a;
	s->arrival_count = len;
	return 0;
oom:
	free(a);
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* Adds one node to the table of distinct empty nodes: one comparison per
 * kind seen so far, once per run. The byte comparison is exact: nodes are
 * zeroed before they are filled, and a vxpu_frag_node has no padding. */
_Static_assert(sizeof(struct vxpu_frag_node) ==
                       4 * sizeof(uint32_t) + VXPU_FRAG_MAX_DEVICES * sizeof(uint16_t),
               "vxpu_frag_node has padding: compare its fields, not its bytes");

/* Counts the node under its kind of hardware, a new kind if none matches,
 * and returns the kind's index. */
static uint32_t count_hardware(struct vxpu_sim *s, const struct vxpu_frag_node *built)
{
	for (size_t h = 0; h < s->hardware_count; h++) {
		if (memcmp(&s->hardware[h].built, built, sizeof(*built)) == 0) {
			s->hardware[h].nodes++;
			return (uint32_t)h;
		}
	}
	s->hardware[s->hardware_count] = (struct hardware){.built = *built, .nodes = 1};
	return (uint32_t)s->hardware_count++;
}

void vxpu_sim_destroy(struct vxpu_sim *s)
{
	if (!s)
		return;
	vxpu_frag_dist_free(s->ref);
	vxpu_frag_dist_free(s->learned);
	vxpu_frag_dist_free(s->prior);
	free(s->nodes);
	free(s->hardware);
	free(s->order);
	free(s->arrivals);
	free(s);
}

int vxpu_sim_create(const struct vxpu_trace *t, const struct vxpu_sim_options *opt,
                    struct vxpu_sim **out, char *err, size_t errlen)
{
	*out = NULL;
	if ((unsigned)opt->policy >= VXPU_SIM_POLICY_COUNT) {
		snprintf(err, errlen, "unknown policy %d", (int)opt->policy);
		return -1;
	}
	if (!(opt->tune > 0.0 && opt->tune <= VXPU_SIM_TUNE_MAX)) {
		snprintf(err, errlen, "tune must be in (0, %g]", VXPU_SIM_TUNE_MAX);
		return -1;
	}
	if (t->node_count == 0 || t->task_count == 0) {
		snprintf(err, errlen, "the trace has no %s", t->node_count ? "tasks" : "GPU nodes");
		return -1;
	}
	struct vxpu_sim *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->trace = t;
	s->opt = *opt;
	s->capacity = t->gpu_milli_capacity;
	s->max_cpu = t->max_node_cpu_milli ? t->max_node_cpu_milli : 1;
	s->max_gpu = t->max_node_gpu_milli ? t->max_node_gpu_milli : 1;
	rng_seed(&s->draws, opt->seed, 2);
	s->node_count = t->node_count;
	s->nodes = calloc(t->node_count, sizeof(*s->nodes));
	s->hardware = calloc(t->node_count, sizeof(*s->hardware));
	s->ref = trace_distribution(t);
	if (opt->policy == VXPU_SIM_FRAGAWARE) {
		s->learned = learned_distribution();
		s->prior = whole_gpu_prior();
	}
	if (!s->nodes || !s->hardware || !s->ref ||
	    (opt->policy == VXPU_SIM_FRAGAWARE && (!s->learned || !s->prior))) {
		vxpu_sim_destroy(s);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < t->node_count; i++) {
		const struct vxpu_trace_node *tn = &t->nodes[i];
		struct sim_node *n = &s->nodes[i];
		n->fn.cpu_left = tn->cpu_milli;
		n->fn.mem_left = tn->mem_mib;
		n->fn.model = tn->model;
		n->fn.dev_count = tn->gpu_count;
		for (uint32_t d = 0; d < tn->gpu_count; d++)
			n->fn.dev_left[d] = VXPU_TRACE_GPU_MILLI;
		n->cpu_capacity = tn->cpu_milli;
		n->built = n->fn;
		n->hardware = count_hardware(s, &n->built);
		node_refresh(n);
		n->frag_ref = vxpu_frag_amount(s->ref, &n->fn);
		s->frag_sum += n->frag_ref;
	}
	s->order = malloc(t->node_count * sizeof(*s->order));
	if (!s->order) {
		vxpu_sim_destroy(s);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < t->node_count; i++)
		s->order[i] = (uint32_t)i;
	/* The paper's scheduler names nodes with a random prefix per seed and
	 * takes the first of the best-scored nodes in name order. */
	struct rng order_rng;
	rng_seed(&order_rng, opt->seed, 3);
	for (size_t i = t->node_count; i > 1; i--) {
		const size_t j = rng_below(&order_rng, i);
		const uint32_t tmp = s->order[i - 1];
		s->order[i - 1] = s->order[j];
		s->order[j] = tmp;
	}
	if (build_arrivals(s, err, errlen) < 0) {
		vxpu_sim_destroy(s);
		return -1;
	}
	s->curve_len = (size_t)(opt->tune * 100.0) + 2;
	if (s->curve_len > VXPU_SIM_CURVE_MAX)
		s->curve_len = VXPU_SIM_CURVE_MAX;
	*out = s;
	return 0;
}

static void record(struct vxpu_sim *s)
{
	const double cap = (double)s->capacity;
	const double arrived_pct = 100.0 * (double)s->arrived / cap;
	const size_t bucket = (size_t)(arrived_pct + 0.5);
	const double idle = cap - (double)s->allocated;
	const double alloc = 100.0 * (double)s->allocated / cap;
	const double frag = idle > 0 ? 100.0 * s->frag_sum / idle : 0.0;
	if (bucket < s->curve_len) {
		s->curve[bucket].n++;
		s->curve[bucket].alloc += alloc;
		s->curve[bucket].frag += frag;
	}
	if (!s->passed_100 && s->arrived >= s->capacity) {
		s->passed_100 = true;
		s->failures_at_100 = s->failures;
		s->alloc_at_100 = alloc;
		s->frag_at_100 = frag;
	}
}

static bool place_request(struct vxpu_sim *s, const struct request *q, size_t *node, int *device)
{
	s->arrived += q->gpu_total;
	if (s->learned) {
		vxpu_frag_dist_observe(s->learned, &q->shape);
		learned_refresh(s);
	}
	*node = 0;
	*device = -1;
	bool placed;
	if (s->opt.policy <= VXPU_SIM_FGD)
		placed = choose_baseline(s, q, node, device);
	else
		placed = choose_own(s, q, node, device);
	if (placed)
		commit(s, *node, q, *device);
	else
		s->failures++;
	record(s);
	return placed;
}

bool vxpu_sim_step(struct vxpu_sim *s)
{
	if (s->next >= s->arrival_count)
		return false;
	const struct request q = make_request(&s->trace->tasks[s->arrivals[s->next++]]);
	size_t node;
	int device;
	place_request(s, &q, &node, &device);
	return s->next < s->arrival_count;
}

bool vxpu_sim_place(struct vxpu_sim *s, const struct vxpu_trace_task *task, size_t *node, int *gpu)
{
	const struct request q = make_request(task);
	size_t where;
	int device;
	const bool placed = place_request(s, &q, &where, &device);
	if (node)
		*node = where;
	if (gpu)
		*gpu = placed && q.fractional ? device : -1;
	return placed;
}

void vxpu_sim_node(const struct vxpu_sim *s, size_t index, struct vxpu_frag_node *left)
{
	*left = s->nodes[index].fn;
}

size_t vxpu_sim_done(const struct vxpu_sim *s)
{
	return s->next;
}

size_t vxpu_sim_total(const struct vxpu_sim *s)
{
	return s->arrival_count;
}

void vxpu_sim_result(const struct vxpu_sim *s, struct vxpu_sim_result *r)
{
	memset(r, 0, sizeof(*r));
	const double cap = (double)s->capacity;
	r->arrivals = s->next;
	r->failures = s->failures;
	r->failures_at_100 = s->passed_100 ? s->failures_at_100 : s->failures;
	r->final_arrived_pct = 100.0 * (double)s->arrived / cap;
	r->final_allocated_pct = 100.0 * (double)s->allocated / cap;
	r->curve_len = s->curve_len;
	for (size_t i = 0; i < s->curve_len; i++) {
		const uint32_t n = s->curve[i].n;
		r->curve[i].arrivals = n;
		r->curve[i].allocated_pct = n ? s->curve[i].alloc / n : 0.0;
		r->curve[i].frag_pct = n ? s->curve[i].frag / n : 0.0;
	}
	/* The paper's point: arrivals rounding to 100 %, else to 99..101 %;
	 * a trace too coarse for either (a few big tasks) gives the state just
	 * after the arrival that passed 100 %. */
	uint32_t n = 0;
	double alloc = 0, frag = 0;
	for (size_t lo = 100, hi = 100; lo >= 99 && n == 0; lo--, hi++) {
		for (size_t b = lo; b <= hi && b < s->curve_len; b++) {
			n += s->curve[b].n;
			alloc += s->curve[b].alloc;
			frag += s->curve[b].frag;
		}
	}
	if (n > 0 && s->arrived * 1000 >= s->capacity * 995) {
		r->reached = true;
		r->unallocated_pct = 100.0 - alloc / n;
		r->frag_pct = frag / n;
	} else if (s->passed_100) {
		r->reached = true;
		r->unallocated_pct = 100.0 - s->alloc_at_100;
		r->frag_pct = s->frag_at_100;
	}
}

int vxpu_sim_run(const struct vxpu_trace *t, const struct vxpu_sim_options *opt,
                 struct vxpu_sim_result *r, char *err, size_t errlen)
{
	struct vxpu_sim *s;
	if (vxpu_sim_create(t, opt, &s, err, errlen) < 0)
		return -1;
	while (vxpu_sim_step(s))
		;
	vxpu_sim_result(s, r);
	vxpu_sim_destroy(s);
	return 0;
}

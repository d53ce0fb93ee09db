/*
 * trace_sim.h - replay of a GPU cluster trace under a placement policy, with
 * the methodology of "Beware of Fragmentation" (USENIX ATC'23):
 *
 *   - the cluster is the trace's GPU nodes; a GPU is 1000 milli;
 *   - arrivals are the trace's tasks in a random order (a shuffle drawn from
 *     the seed), then tasks drawn from the trace with replacement until the
 *     GPU milli asked for reaches tune x capacity (or, when the trace already
 *     asks for more, random tasks are dropped until it does not);
 *   - each task gets one attempt and stays forever; a task that does not fit
 *     anywhere fails and still counts as arrived;
 *   - a task fits a node when its CPU and memory fit, its GPU model is one
 *     of gpu_spec (if given), and: one GPU with gpu_milli free (fractional),
 *     or num_gpu wholly free GPUs (whole / multi-GPU);
 *   - the figure is the unallocated GPU share when the GPU milli that arrived
 *     reaches 100 % of capacity: 100 - mean(allocated %) over the arrivals
 *     whose arrived share rounds to 100 % (the paper's analysis; if none does,
 *     those rounding to 99..101 %; if none does either - a few big tasks -
 *     the state just after the arrival that passed 100 %).
 *
 * The arrival order and the node order (a permutation drawn from the seed;
 * among equally scored nodes the first in it wins, as in the paper's
 * scheduler) depend on the seed only, so every policy sees the same arrivals
 * for the same seed. A run is stepped one arrival at a time (vxpu_sim_step),
 * so a caller can time decisions or show progress; vxpu_sim_run does it all.
 *
 * Policies (formulas in docs/simulator.md):
 *   random, bestfit, dotprod, packing, clustering - the paper's baselines,
 *       with its integer node scores and GPU choice;
 *   fgd       - the paper's fragmentation gradient descent, measuring against
 *               the trace's own shape distribution (known in advance);
 *   binpack, spread - vxpu's simple policies (least / most idle GPU after);
 *   fragaware - vxpu's fragmentation-aware policy: learns the shape mix
 *               online from the arrivals (nothing known in advance; until
 *               the estimate settles it measures against whole-GPU
 *               requests), counts memory in the fit, and places where
 *               expected fragmentation grows least; tasks without GPU go,
 *               among equals, where the least GPU capacity idles.
 *
 * Pure: no I/O, no globals, deterministic.
 */
#ifndef VXPU_CORE_TRACE_SIM_H
#define VXPU_CORE_TRACE_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/trace.h"

enum vxpu_sim_policy {
	VXPU_SIM_RANDOM,
	VXPU_SIM_BESTFIT,
	VXPU_SIM_DOTPROD,
	VXPU_SIM_PACKING,
	VXPU_SIM_CLUSTERING,
	VXPU_SIM_FGD,
	VXPU_SIM_BINPACK,
	VXPU_SIM_SPREAD,
	VXPU_SIM_FRAGAWARE,
	VXPU_SIM_POLICY_COUNT,
};

const char *vxpu_sim_policy_name(enum vxpu_sim_policy p);
/* Exact, case-sensitive name. Returns 0 or -1. */
int vxpu_sim_policy_parse(const char *name, enum vxpu_sim_policy *p);
/* "random, bestfit, ..." - for usage messages. */
const char *vxpu_sim_policy_list(void);

#define VXPU_SIM_TUNE_MAX 10.0
/* Curve points: one per whole arrived percent, 0 .. 100 * tune + 1. */
#define VXPU_SIM_CURVE_MAX 1002

struct vxpu_sim_options {
	enum vxpu_sim_policy policy;
	uint64_t seed;
	double tune; /* (0, VXPU_SIM_TUNE_MAX]; the paper: 1.3 */
};

struct vxpu_sim_point {
	uint32_t arrivals;    /* arrivals whose arrived share rounds to this percent */
	double allocated_pct; /* mean over them */
	double frag_pct;      /* mean fragmentation rate (fragmented / idle GPU milli) */
};

struct vxpu_sim_result {
	bool reached;           /* arrivals reached 100 % of capacity (else no figure) */
	double unallocated_pct; /* at 100 % arrived; 0 when !reached */
	double frag_pct;        /* fragmentation rate at 100 % arrived */
	double final_arrived_pct;
	double final_allocated_pct;
	size_t arrivals;
	size_t failures;
	size_t failures_at_100; /* tasks that had failed when arrivals reached 100 % */
	size_t curve_len;
	struct vxpu_sim_point curve[VXPU_SIM_CURVE_MAX];
};

struct vxpu_sim;

/* Builds the cluster and the arrival sequence. Returns -1 with a message on
 * bad options or out of memory. The trace must outlive the sim. */
int vxpu_sim_create(const struct vxpu_trace *t, const struct vxpu_sim_options *opt,
                    struct vxpu_sim **out, char *err, size_t errlen);
void vxpu_sim_destroy(struct vxpu_sim *s);

/* Replays the next arrival. Returns true while arrivals remain after it. */
bool vxpu_sim_step(struct vxpu_sim *s);
/* Places one given task now with the run's policy, outside the arrival
 * sequence (it counts as arrived like any other). Returns whether it was
 * placed; then *node is its node (index into the trace's nodes) and *gpu the
 * GPU of a fractional task (-1 for other tasks). Either pointer may be NULL. */
bool vxpu_sim_place(struct vxpu_sim *s, const struct vxpu_trace_task *task, size_t *node, int *gpu);
/* What is left on a node (index into the trace's nodes). */
void vxpu_sim_node(const struct vxpu_sim *s, size_t index, struct vxpu_frag_node *left);
/* Arrivals replayed so far and in total. */
size_t vxpu_sim_done(const struct vxpu_sim *s);
size_t vxpu_sim_total(const struct vxpu_sim *s);
/* The figures so far (final once all arrivals are replayed). */
void vxpu_sim_result(const struct vxpu_sim *s, struct vxpu_sim_result *r);

/* create + step to the end + result + destroy. */
int vxpu_sim_run(const struct vxpu_trace *t, const struct vxpu_sim_options *opt,
                 struct vxpu_sim_result *r, char *err, size_t errlen);

/* Mean and sample standard deviation (0 for fewer than two values). */
void vxpu_sim_mean_sd(const double *v, size_t n, double *mean, double *sd);

#endif

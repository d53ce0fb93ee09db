/*
 * simulate_bench.c - the trace simulator's benchmarks that `vxpu simulate`
 * does not print itself:
 *
 *   vxpu_bench_simulate decide NODES PODS POLICY...
 *       times every placement decision of one full replay (seed 42) and
 *       prints the median, p90, p99 and max per policy. A decision scans all
 *       nodes, scores them, and commits the placement.
 *
 *   vxpu_bench_simulate remix NODES PODS MIXES SEEDS [KIND [DRAW]]
 *       draws MIXES task mixes of the same kind as PODS - the shares of
 *       fractional, multi-GPU, GPU-model-bound and GPU-less tasks drawn at
 *       random from the ranges of KIND, tasks resampled from the trace - and
 *       replays each under fgd (which is told the mix in advance) and
 *       fragaware (which learns it), with the same SEEDS seeds (42, 43, ...)
 *       for both. KIND (the paper's trace variants, exaggerated):
 *         like   fractional 0.15-0.60, multi 0-0.08, bound 0-0.30, GPU-less 0.02-0.30
 *         share  fractional 0.55-0.85, multi 0-0.03, bound 0-0.15, GPU-less 0.02-0.10
 *         multi  fractional 0.15-0.40, multi 0.08-0.20, bound 0-0.15, GPU-less 0.02-0.15
 *         cpu    fractional 0.15-0.40, multi 0-0.03, bound 0-0.15, GPU-less 0.30-0.55
 *         spec   fractional 0.15-0.40, multi 0-0.03, bound 0.30-0.60, GPU-less 0.02-0.15
 *       DRAW seeds the draw of the shares (default 2023: `like` then gives
 *       the mixes docs/simulator.md lists). Prints one row per mix and how
 *       many fragaware wins. Runs are spread over the CPUs online.
 *
 * Timing uses CLOCK_MONOTONIC around vxpu_sim_step(); the replay itself is
 * the pure core (src/core/trace_sim).
 */
#include "core/trace.h"
#include "core/trace_sim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int load(struct vxpu_trace *t, const char *nodes, const char *pods)
{
	const char *paths[2] = {nodes, pods};
	vxpu_trace_init(t);
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(paths[i], "rb");
		if (!f) {
			fprintf(stderr, "cannot open %s\n", paths[i]);
			return -1;
		}
		size_t cap = 1 << 20, len = 0, got;
		char *buf = malloc(cap);
		while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
			len += got;
			if (len == cap) {
				char *grown = realloc(buf, cap *= 2);
				if (!grown)
					free(buf);
				buf = grown;
			}
		}
		fclose(f);
		if (!buf) {
			fprintf(stderr, "out of memory\n");
			return -1;
		}
		char err[512];
		int rc = i == 0 ? vxpu_trace_load_nodes(t, buf, len, paths[i], err, sizeof(err))
		                : vxpu_trace_load_tasks(t, buf, len, paths[i], err, sizeof(err));
		free(buf);
		if (rc != 0) {
			fprintf(stderr, "%s\n", err);
			return -1;
		}
	}
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	const double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int decide(const struct vxpu_trace *t, int npolicies, char **policies)
{
	printf("%-11s %9s %9s %9s %9s %9s   (one decision over %zu nodes, microseconds)\n",
	       "policy", "decisions", "median", "p90", "p99", "max", t->node_count);
	for (int i = 0; i < npolicies; i++) {
		enum vxpu_sim_policy p;
		if (vxpu_sim_policy_parse(policies[i], &p) != 0) {
			fprintf(stderr, "unknown policy \"%s\" (policies: %s)\n", policies[i],
			        vxpu_sim_policy_list());
			return 2;
		}
		const struct vxpu_sim_options opt = {.policy = p, .seed = 42, .tune = 1.3};
		struct vxpu_sim *s;
		char err[256];
		if (vxpu_sim_create(t, &opt, &s, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		const size_t n = vxpu_sim_total(s);
		double *us = malloc(n * sizeof(*us));
		if (!us) {
			vxpu_sim_destroy(s);
			return 1;
		}
		for (size_t k = 0; k < n; k++) {
			const double start = now();
			vxpu_sim_step(s);
			us[k] = (now() - start) * 1e6;
		}
		vxpu_sim_destroy(s);
		qsort(us, n, sizeof(*us), cmp_double);
		printf("%-11s %9zu %9.1f %9.1f %9.1f %9.1f\n", policies[i], n, us[n / 2],
		       us[n * 90 / 100], us[n * 99 / 100], us[n - 1]);
		free(us);
	}
	return 0;
}

/* ---- remix ---------------------------------------------------------------- */

struct remix_job {
	const struct vxpu_trace *trace;
	enum vxpu_sim_policy policy;
	uint64_t seed;
	double unallocated;
	int failed;
};

struct remix_pool {
	struct remix_job *jobs;
	size_t count;
	_Atomic size_t next;
};

static void *remix_worker(void *arg)
{
	struct remix_pool *pool = arg;
	static _Thread_local struct vxpu_sim_result r;
	for (;;) {
		const size_t i = atomic_fetch_add(&pool->next, 1);
		if (i >= pool->count)
			return NULL;
		struct remix_job *j = &pool->jobs[i];
		const struct vxpu_sim_options opt = {
		        .policy = j->policy, .seed = j->seed, .tune = 1.3};
		char err[256];
		if (vxpu_sim_run(j->trace, &opt, &r, err, sizeof(err)) != 0 || !r.reached)
			j->failed = 1;
		else
			j->unallocated = r.unallocated_pct;
	}
}

/* Uniform in [lo, hi) from a splitmix64 state. */
static double draw(uint64_t *state, double lo, double hi)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return lo + (hi - lo) * (double)(z >> 11) / 9007199254740992.0;
}

struct mix_kind {
	const char *name;
	double fractional[2], multi[2], spec[2], cpu[2];
};

static const struct mix_kind mix_kinds[] = {
        {"like", {0.15, 0.60}, {0.0, 0.08}, {0.0, 0.30}, {0.02, 0.30}},
        {"share", {0.55, 0.85}, {0.0, 0.03}, {0.0, 0.15}, {0.02, 0.10}},
        {"multi", {0.15, 0.40}, {0.08, 0.20}, {0.0, 0.15}, {0.02, 0.15}},
        {"cpu", {0.15, 0.40}, {0.0, 0.03}, {0.0, 0.15}, {0.30, 0.55}},
        {"spec", {0.15, 0.40}, {0.0, 0.03}, {0.30, 0.60}, {0.02, 0.15}},
};

static int remix(const struct vxpu_trace *base, int mixes, int seeds, const struct mix_kind *kind,
                 uint64_t draw_seed)
{
	struct vxpu_trace_mix measured;
	vxpu_trace_measure_mix(base, &measured);
	printf("base mix: fractional %.3f, multi-GPU %.3f, GPU-model-bound %.3f, GPU-less %.3f\n",
	       measured.fractional, measured.multi, measured.spec, measured.cpu);
	printf("%d mixes of kind %s (draw seed %llu), seeds 42..%d\n\n", mixes, kind->name,
	       (unsigned long long)draw_seed, 41 + seeds);
	struct vxpu_trace *traces = calloc((size_t)mixes, sizeof(*traces));
	struct vxpu_trace_mix *mix = calloc((size_t)mixes, sizeof(*mix));
	const size_t count = (size_t)mixes * 2 * (size_t)seeds;
	struct remix_pool pool = {.jobs = calloc(count, sizeof(struct remix_job)), .count = count};
	if (!traces || !mix || !pool.jobs)
		return 1;
	uint64_t state = draw_seed;
	for (int m = 0; m < mixes; m++) {
		/* A copy of the base trace, then a fresh draw of its tasks. */
		struct vxpu_trace *t = &traces[m];
		*t = *base;
		t->tasks = malloc(base->task_count * sizeof(*t->tasks));
		if (!t->tasks)
			return 1;
		memcpy(t->tasks, base->tasks, base->task_count * sizeof(*t->tasks));
		mix[m] = (struct vxpu_trace_mix){
		        .fractional = draw(&state, kind->fractional[0], kind->fractional[1]),
		        .multi = draw(&state, kind->multi[0], kind->multi[1]),
		        .spec = draw(&state, kind->spec[0], kind->spec[1]),
		        .cpu = draw(&state, kind->cpu[0], kind->cpu[1]),
		};
		char err[256];
		if (vxpu_trace_remix(t, &mix[m], base->task_count, (uint64_t)m + 1, err,
		                     sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		for (int s = 0; s < seeds; s++) {
			for (int p = 0; p < 2; p++) {
				struct remix_job *j = &pool.jobs[((size_t)m * seeds + s) * 2 + p];
				j->trace = t;
				j->policy = p == 0 ? VXPU_SIM_FGD : VXPU_SIM_FRAGAWARE;
				j->seed = 42 + (uint64_t)s;
			}
		}
	}
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		cpus = 1;
	if (cpus > 64)
		cpus = 64;
	pthread_t tids[64];
	long started = 0;
	for (; started < cpus; started++)
		if (pthread_create(&tids[started], NULL, remix_worker, &pool) != 0)
			break;
	if (started == 0)
		remix_worker(&pool);
	for (long i = 0; i < started; i++)
		pthread_join(tids[i], NULL);

	printf("%4s %10s %6s %9s %9s   %16s %16s %8s\n", "mix", "fractional", "multi", "GPU-bound",
	       "GPU-less", "fgd", "fragaware", "margin");
	int wins = 0;
	double margin_sum = 0.0, worst = 1e9;
	for (int m = 0; m < mixes; m++) {
		double v[2][64], mean[2], sd[2];
		for (int s = 0; s < seeds; s++) {
			for (int p = 0; p < 2; p++) {
				const struct remix_job *j =
				        &pool.jobs[((size_t)m * seeds + s) * 2 + p];
				if (j->failed) {
					fprintf(stderr, "mix %d: a run did not reach 100 %%\n", m);
					return 1;
				}
				v[p][s] = j->unallocated;
			}
		}
		for (int p = 0; p < 2; p++)
			vxpu_sim_mean_sd(v[p], (size_t)seeds, &mean[p], &sd[p]);
		const double margin = mean[0] - mean[1];
		wins += margin > 0;
		margin_sum += margin;
		worst = margin < worst ? margin : worst;
		printf("%4d %10.3f %6.3f %9.3f %9.3f   %7.2f \u00b1 %5.2f  %7.2f \u00b1 %5.2f  "
		       "%+8.2f\n",
		       m + 1, mix[m].fractional, mix[m].multi, mix[m].spec, mix[m].cpu, mean[0],
		       sd[0], mean[1], sd[1], margin);
		free(traces[m].tasks);
	}
	printf("\nfragaware beats fgd on %d of %d mixes (unallocated GPU %% at 100 %% arrived, "
	       "mean "
	       "of seeds 42..%d); margin mean %.2f, smallest %.2f points\n",
	       wins, mixes, 41 + seeds, margin_sum / mixes, worst);
	free(traces);
	free(mix);
	free(pool.jobs);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "decide") == 0) {
		struct vxpu_trace t;
		if (load(&t, argv[2], argv[3]) != 0)
			return 1;
		int rc = decide(&t, argc - 4, argv + 4);
		vxpu_trace_free(&t);
		return rc;
	}
	if (argc >= 6 && argc <= 8 && strcmp(argv[1], "remix") == 0) {
		const int mixes = atoi(argv[4]), seeds = atoi(argv[5]);
		if (mixes < 1 || mixes > 1000 || seeds < 1 || seeds > 64) {
			fprintf(stderr, "remix: MIXES in 1..1000, SEEDS in 1..64\n");
			return 2;
		}
		const struct mix_kind *kind = &mix_kinds[0];
		if (argc >= 7) {
			kind = NULL;
			for (size_t k = 0; k < sizeof(mix_kinds) / sizeof(mix_kinds[0]); k++)
				if (strcmp(argv[6], mix_kinds[k].name) == 0)
					kind = &mix_kinds[k];
			if (!kind) {
				fprintf(stderr,
				        "remix: unknown KIND \"%s\" (like, share, multi, cpu, "
				        "spec)\n",
				        argv[6]);
				return 2;
			}
		}
		char *end = NULL;
		const uint64_t draw_seed = argc == 8 ? strtoull(argv[7], &end, 10) : 2023;
		if (argc == 8 && (end == argv[7] || *end != '\0')) {
			fprintf(stderr, "remix: DRAW \"%s\" is not a number\n", argv[7]);
			return 2;
		}
		struct vxpu_trace t;
		if (load(&t, argv[2], argv[3]) != 0)
			return 1;
		int rc = remix(&t, mixes, seeds, kind, draw_seed);
		vxpu_trace_free(&t);
		return rc;
	}
	fprintf(stderr, "usage: vxpu_bench_simulate decide NODES PODS POLICY...\n"
	                "       vxpu_bench_simulate remix NODES PODS MIXES SEEDS "
	                "[like|share|multi|cpu|spec [DRAW]]\n");
	return 2;
}

/*
 * bench_alloc - allocator timings.
 *
 *   1. topology: the exact search choosing 8 of 16 devices (two NVLink
 *      islands of 8), one vxpu_fit_node call per sample;
 *   2. one placement decision (vxpu_schedule) over 1,213 nodes whose
 *      composition follows the GPU nodes of Alibaba's cluster-trace-gpu-v2023
 *      (models, GPUs per node, CPU and memory), about 60 % of devices
 *      partly used, for the node/device policies binpack/spread (the
 *      default), topology/topology (2 devices) and frag/frag (shapes learnt
 *      from 2,000 requests).
 * Each figure is the median of repeated samples of the thread's CPU time;
 * the targets are < 1 ms.
 * The cluster is synthetic and seeded, so runs compare.
 */
#include "core/fit.h"
#include "core/model.h"
#include "core/policy.h"
#include "core/request.h"
#include "core/schedule.h"
#include "core/shapes.h"
#include "core/vendor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct vxpu_vendor_table vendors;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/*
 * Thread CPU time: on a shared, loaded machine wall-clock samples include
 * time spent preempted, which says nothing about the allocator.
 */
static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Sorts v; returns the median and writes the fastest sample to *best. */
static double median(double *v, size_t n, double *best)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	*best = v[0];
	return v[n / 2];
}

static void die(const char *what, const char *err)
{
	fprintf(stderr, "bench_alloc: %s: %s\n", what, err);
	exit(1);
}

static void build_node(struct vxpu_node *n, const char *name, const char *model, uint32_t gpus,
                       uint64_t cpu, uint64_t mem, uint64_t gpu_mib, bool islands)
{
	char err[256];
	vxpu_node_init(n, name);
	n->cpu_milli = cpu;
	n->memory_mib = mem;
	for (uint32_t i = 0; i < gpus; i++) {
		struct vxpu_device d;
		char id[96];
		snprintf(id, sizeof(id), "%s-%u", name, i);
		vxpu_device_init(&d, i, id, "nvidia", model, gpu_mib);
		d.numa = (int32_t)(i * 2 / (gpus > 1 ? gpus : 2));
		if (vxpu_node_add_device(n, &d, err, sizeof(err)) < 0)
			die("device", err);
	}
	for (uint32_t a = 0; a < gpus; a++)
		for (uint32_t b = a + 1; b < gpus; b++) {
			bool near = islands ? a / 8 == b / 8 : (a ^ 1) == b;
			if (vxpu_node_add_link(n, a, b, near ? "nvlink" : "phb", near ? 2 : 1, err,
			                       sizeof(err)) < 0)
				die("link", err);
		}
	if (vxpu_node_finalize(n, &vendors, err, sizeof(err)) < 0)
		die("finalize", err);
}

static void use_device(struct vxpu_node *n, uint32_t pos, uint64_t mib, uint32_t units,
                       const char *owner)
{
	struct vxpu_placement p;
	memset(&p, 0, sizeof(p));
	p.nshares = 1;
	p.shares[0] = (struct vxpu_share){.device = (uint8_t)pos,
	                                  .template_index = -1,
	                                  .memory_mib = mib,
	                                  .compute_units = units};
	char err[256];
	if (vxpu_placement_finish(n, &p, err, sizeof(err)) < 0 ||
	    vxpu_node_commit(n, &p, owner, err, sizeof(err)) < 0)
		die("use", err);
}

static struct vxpu_pod_request *request(uint32_t count, uint64_t mib, uint32_t compute)
{
	struct vxpu_pod_request *r = malloc(sizeof(*r));
	vxpu_pod_request_init(r, "bench", "pod");
	struct vxpu_container_request *c =
	        vxpu_pod_request_add_container(r, "main", VXPU_CONTAINER_APP);
	c->count = count;
	c->memory_mib = mib;
	c->compute_percent = compute;
	char err[256];
	if (vxpu_pod_request_normalize(r, err, sizeof(err)) < 0)
		die("request", err);
	return r;
}

static void bench_topology(void)
{
	struct vxpu_node *n = malloc(sizeof(*n));
	build_node(n, "islands", "H100", 16, 0, 0, 81920, true);
	use_device(n, 3, 1024, 0, "x");
	struct vxpu_pod_request *r = request(8, 8192, 0);
	struct vxpu_fit_options opt = {.device_policy = VXPU_POLICY_TOPOLOGY};
	enum { SAMPLES = 2001 };
	static double t[SAMPLES];
	struct vxpu_placement p;
	struct vxpu_refusal why;
	for (int i = 0; i < SAMPLES; i++) {
		double t0 = now_us();
		if (!vxpu_fit_node(n, r, &opt, &p, &why))
			die("topology", "no fit");
		t[i] = now_us() - t0;
	}
	double best;
	double m = median(t, SAMPLES, &best);
	printf("topology, 16 devices, request of 8: median %.1f us, fastest %.1f us (target < 1000 "
	       "us: %s)\n",
	       m, best, m < 1000 ? "met" : "MISSED");
	free(r);
	vxpu_node_destroy(n);
	free(n);
}

struct group {
	int nodes;
	const char *model;
	uint32_t gpus;
	uint64_t cpu, mem, gpu_mib;
};

/* GPU nodes of cluster-trace-gpu-v2023 by model, GPUs, CPU milli, memory MiB. */
static const struct group groups[] = {
        {2, "A10", 1, 128000, 1048576, 24576},    {549, "G2", 8, 96000, 393216, 16384},
        {39, "G3", 8, 128000, 786432, 32768},     {3, "P100", 1, 8000, 61440, 16384},
        {107, "P100", 2, 16000, 122880, 16384},   {22, "P100", 2, 64000, 262144, 16384},
        {2, "P100", 2, 8000, 61440, 16384},       {387, "T4", 2, 104000, 524288, 16384},
        {17, "T4", 4, 96000, 393216, 16384},      {19, "V100M16", 1, 8000, 32768, 16384},
        {28, "V100M16", 4, 32000, 131072, 16384}, {7, "V100M16", 8, 64000, 262144, 16384},
        {1, "V100M16", 8, 82000, 344064, 16384},  {9, "V100M32", 4, 48000, 376832, 32768},
        {21, "V100M32", 8, 96000, 786432, 32768},
};

static double time_decision(const struct vxpu_node *const *nodes, size_t count,
                            const struct vxpu_pod_request *r, enum vxpu_policy np,
                            enum vxpu_policy dp, const struct vxpu_shape_stats *shapes, int *chosen,
                            double *best)
{
	enum { SAMPLES = 201 };
	double t[SAMPLES];
	struct vxpu_sched_config cfg = {np, dp};
	struct vxpu_decision *d = malloc(sizeof(*d));
	for (int i = 0; i < SAMPLES; i++) {
		double t0 = now_us();
		*chosen = vxpu_schedule(nodes, count, r, &cfg, NULL, shapes, d);
		t[i] = now_us() - t0;
	}
	free(d);
	return median(t, SAMPLES, best);
}

static void bench_cluster(void)
{
	size_t count = 0;
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
		count += (size_t)groups[g].nodes;
	struct vxpu_node *nodes = calloc(count, sizeof(*nodes));
	const struct vxpu_node **ptrs = calloc(count, sizeof(*ptrs));
	size_t k = 0;
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
		for (int i = 0; i < groups[g].nodes; i++, k++) {
			char name[32];
			snprintf(name, sizeof(name), "openb-node-%04zu", k);
			const struct group *gr = &groups[g];
			build_node(&nodes[k], name, gr->model, gr->gpus, gr->cpu, gr->mem,
			           gr->gpu_mib, false);
			for (uint32_t d = 0; d < gr->gpus; d++) {
				if (rnd(100) >= 60)
					continue;
				char owner[48];
				snprintf(owner, sizeof(owner), "seed-%zu-%u", k, d);
				use_device(&nodes[k], d, 1024 * (1 + rnd(12)), rnd(11) * 5, owner);
			}
			ptrs[k] = &nodes[k];
		}
	struct vxpu_shape_stats shapes;
	vxpu_shapes_init(&shapes, 1000);
	for (int i = 0; i < 2000; i++) {
		struct vxpu_pod_request *r =
		        request(rnd(10) == 0 ? 2 : 1, 1024 * (1 + rnd(16)), rnd(5) * 10);
		vxpu_shapes_observe(&shapes, r);
		free(r);
	}
	struct vxpu_pod_request *one = request(1, 4096, 30);
	struct vxpu_pod_request *two = request(2, 8192, 0);
	int chosen = -1;
	struct {
		const char *label;
		const struct vxpu_pod_request *r;
		enum vxpu_policy np, dp;
		const struct vxpu_shape_stats *shapes;
	} cases[] = {
	        {"binpack/spread, 1 device", one, VXPU_POLICY_BINPACK, VXPU_POLICY_SPREAD, NULL},
	        {"topology/topology, 2 devices", two, VXPU_POLICY_TOPOLOGY, VXPU_POLICY_TOPOLOGY,
	         NULL},
	        {"frag/frag, 1 device, 2000 requests learnt", one, VXPU_POLICY_FRAG,
	         VXPU_POLICY_FRAG, &shapes},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		double best;
		double m = time_decision(ptrs, count, cases[c].r, cases[c].np, cases[c].dp,
		                         cases[c].shapes, &chosen, &best);
		printf("placement decision over %zu nodes, %s: median %.1f us, fastest %.1f us "
		       "(target < 1000 us: %s; chose %s)\n",
		       count, cases[c].label, m, best, m < 1000 ? "met" : "MISSED",
		       chosen >= 0 ? nodes[chosen].name : "none");
	}
	free(one);
	free(two);
	for (size_t i = 0; i < count; i++)
		vxpu_node_destroy(&nodes[i]);
	free(ptrs);
	free(nodes);
}

int main(void)
{
	vxpu_vendor_table_builtin(&vendors);
	bench_topology();
	bench_cluster();
	return 0;
}

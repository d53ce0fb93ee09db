/* The real cluster-trace-gpu-v2023 files: every list parses with the
 * expected sizes, and a short replay of the default trace (two seeds) puts
 * the baselines and vxpu's policy where the full runs put them. The full
 * table against the paper is `make bench` (bench/simulate.sh).
 * Exits 77 (CTest: skipped) when the trace directory is not there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/trace.h"
#include "core/trace_sim.h"

#ifndef VXPU_TRACE_DIR
#define VXPU_TRACE_DIR "../shared/trace-v2023"
#endif

static char *read_all(const char *name, size_t *len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", VXPU_TRACE_DIR, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	size_t got;
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	fclose(f);
	*len = n;
	return buf;
}

static void load(struct vxpu_trace *t, const char *pods)
{
	char err[512] = "";
	size_t len;
	vxpu_trace_init(t);
	char *buf = read_all("openb_node_list_gpu_node.csv", &len);
	if (vxpu_trace_load_nodes(t, buf, len, "nodes", err, sizeof(err)) != 0)
		fail_msg("%s", err);
	free(buf);
	buf = read_all(pods, &len);
	if (vxpu_trace_load_tasks(t, buf, len, pods, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	free(buf);
}

static void test_every_list_parses(void **state)
{
	(void)state;
	static const struct {
		const char *file;
		size_t tasks;
	} lists[] = {
	        {"openb_pod_list_default.csv", 8152},    {"openb_pod_list_gpushare40.csv", 8152},
	        {"openb_pod_list_multigpu20.csv", 8324}, {"openb_pod_list_gpuspec10.csv", 8152},
	        {"openb_pod_list_cpu050.csv", 7439},
	};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		struct vxpu_trace t;
		load(&t, lists[i].file);
		assert_int_equal(t.node_count, 1213);
		assert_int_equal(t.gpu_milli_capacity, 6212000);
		assert_int_equal(t.model_count, 7);
		assert_int_equal(t.task_count, lists[i].tasks);
		vxpu_trace_free(&t);
	}
	/* The full node list: the GPU-less nodes are left out. */
	struct vxpu_trace t;
	vxpu_trace_init(&t);
	size_t len;
	char err[512] = "";
	char *buf = read_all("openb_node_list_all_node.csv", &len);
	assert_int_equal(vxpu_trace_load_nodes(&t, buf, len, "all", err, sizeof(err)), 0);
	free(buf);
	assert_int_equal(t.node_count, 1213);
	assert_int_equal(t.skipped_nodes, 310);
	vxpu_trace_free(&t);
}

static double mean_of(const struct vxpu_trace *t, enum vxpu_sim_policy p)
{
	double v[2], mean, sd;
	char err[256];
	static struct vxpu_sim_result r;
	for (int k = 0; k < 2; k++) {
		const struct vxpu_sim_options opt = {
		        .policy = p, .seed = 42 + (uint64_t)k, .tune = 1.3};
		assert_int_equal(vxpu_sim_run(t, &opt, &r, err, sizeof(err)), 0);
		assert_true(r.reached);
		v[k] = r.unallocated_pct;
	}
	vxpu_sim_mean_sd(v, 2, &mean, &sd);
	return mean;
}

static void test_default_trace_short_replay(void **state)
{
	(void)state;
	struct vxpu_trace t;
	load(&t, "openb_pod_list_default.csv");
	/* The paper: BestFit 7.14, Random 13.70, FGD 4.77 (10 seeds). Two
	 * seeds vary by a few tenths: the bands are wide on purpose. */
	const double bestfit = mean_of(&t, VXPU_SIM_BESTFIT);
	const double random = mean_of(&t, VXPU_SIM_RANDOM);
	const double fragaware = mean_of(&t, VXPU_SIM_FRAGAWARE);
	printf("default, seeds 42..43: random %.2f bestfit %.2f fragaware %.2f\n", random, bestfit,
	       fragaware);
	assert_true(bestfit > 6.4 && bestfit < 7.9);
	assert_true(random > 12.9 && random < 14.5);
	assert_true(fragaware < 4.77);
	vxpu_trace_free(&t);
}

int main(void)
{
	if (access(VXPU_TRACE_DIR "/openb_node_list_gpu_node.csv", R_OK) != 0) {
		printf("skipped: no trace at %s\n", VXPU_TRACE_DIR);
		return 77;
	}
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_every_list_parses),
	        cmocka_unit_test(test_default_trace_short_replay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

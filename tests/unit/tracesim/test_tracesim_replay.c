/* The replay engine: each policy's decision on small hand-made clusters, the
 * arrival sequence (shuffle, tune up and down), the figure at 100 % arrived,
 * determinism, the mix generator and the statistics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/trace.h"
#include "core/trace_sim.h"

#define NODES_HEADER "sn,cpu_milli,memory_mib,gpu,model\n"
#define TASKS_HEADER "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n"

static void make_trace(struct vxpu_trace *t, const char *nodes, const char *tasks)
{
	char err[256] = "";
	vxpu_trace_init(t);
	if (vxpu_trace_load_nodes(t, nodes, strlen(nodes), "n.csv", err, sizeof(err)) != 0)
		fail_msg("nodes: %s", err);
	if (vxpu_trace_load_tasks(t, tasks, strlen(tasks), "p.csv", err, sizeof(err)) != 0)
		fail_msg("tasks: %s", err);
}

static struct vxpu_sim *new_sim(const struct vxpu_trace *t, enum vxpu_sim_policy p, uint64_t seed)
{
	struct vxpu_sim_options opt = {.policy = p, .seed = seed, .tune = 1.0};
	struct vxpu_sim *s = NULL;
	char err[256] = "";
	if (vxpu_sim_create(t, &opt, &s, err, sizeof(err)) != 0)
		fail_msg("create: %s", err);
	return s;
}

static struct vxpu_trace_task task(uint32_t cpu, uint32_t gpus, uint32_t milli)
{
	return (struct vxpu_trace_task){.cpu_milli = cpu,
	                                .mem_mib = 1024,
	                                .gpu_count = gpus,
	                                .gpu_milli = milli,
	                                .any_model = true};
}

static const char two_nodes[] = NODES_HEADER "a,32000,65536,4,G\n"
                                             "b,32000,65536,4,G\n";
static const char some_tasks[] = TASKS_HEADER "t1,1000,1024,1,1000,\n"
                                              "t2,1000,1024,1,500,\n"
                                              "t3,1000,1024,1,500,\n";

/* BestFit and DotProd: a GPU task goes where less is free. */
static void test_bestfit_and_dotprod_take_the_fuller_node(void **state)
{
	(void)state;
	struct vxpu_trace t;
	make_trace(&t, two_nodes, some_tasks);
	const enum vxpu_sim_policy policies[] = {VXPU_SIM_BESTFIT, VXPU_SIM_DOTPROD,
	                                         VXPU_SIM_BINPACK};
	for (size_t p = 0; p < 3; p++) {
		for (uint64_t seed = 1; seed <= 8; seed++) {
			struct vxpu_sim *s = new_sim(&t, policies[p], seed);
			struct vxpu_trace_task whole = task(4000, 1, 1000);
			size_t first, second;
			assert_true(vxpu_sim_place(s, &whole, &first, NULL));
			assert_true(vxpu_sim_place(s, &whole, &second, NULL));
			assert_int_equal(first, second);
			vxpu_sim_destroy(s);
		}
	}
	vxpu_trace_free(&t);
}

/* Packing and binpack: a fractional task shares the GPU already shared. */
static void test_packing_shares_the_used_gpu(void **state)
{
	(void)state;
	struct vxpu_trace t;
	make_trace(&t, two_nodes, some_tasks);
	const enum vxpu_sim_policy policies[] = {VXPU_SIM_PACKING, VXPU_SIM_BINPACK,
	                                         VXPU_SIM_BESTFIT};
	for (size_t p = 0; p < 3; p++) {
		struct vxpu_sim *s = new_sim(&t, policies[p], 7);
		struct vxpu_trace_task share = task(1000, 1, 300);
		size_t n1, n2;
		int g1, g2;
		assert_true(vxpu_sim_place(s, &share, &n1, &g1));
		assert_true(vxpu_sim_place(s, &share, &n2, &g2));
		assert_int_equal(n1, n2);
		assert_int_equal(g1, g2);
		struct vxpu_frag_node left;
		vxpu_sim_node(s, n1, &left);
		assert_int_equal(left.dev_left[g1], 400);
		assert_int_equal(left.cpu_left, 30000);
		vxpu_sim_destroy(s);
	}
	vxpu_trace_free(&t);
}

/* Spread: the second fractional task goes to the other node. */
static void test_spread_uses_the_emptier_node(void **state)
{
	(void)state;
	struct vxpu_trace t;
	make_trace(&t, two_nodes, some_tasks);
	struct vxpu_sim *s = new_sim(&t, VXPU_SIM_SPREAD, 3);
	struct vxpu_trace_task share = task(1000, 1, 300);
	size_t n1, n2;
	assert_true(vxpu_sim_place(s, &share, &n1, NULL));
	assert_true(vxpu_sim_place(s, &share, &n2, NULL));
	assert_int_not_equal(n1, n2);
	vxpu_sim_destroy(s);
	vxpu_trace_free(&t);
}

/* Clustering: a fractional task avoids a node running whole-GPU tasks; a
 * whole-GPU task joins it. */
static void test_clustering_groups_kinds(void **state)
{
	(void)state;
	struct vxpu_trace t;
	make_trace(&t, two_nodes, some_tasks);
	for (uint64_t seed = 1; seed <= 8; seed++) {
		struct vxpu_sim *s = new_sim(&t, VXPU_SIM_CLUSTERING, seed);
		struct vxpu_trace_task whole = task(1000, 1, 1000), share = task(1000, 1, 300);
		size_t nw, ns, nw2;
		assert_true(vxpu_sim_place(s, &whole, &nw, NULL));
		assert_true(vxpu_sim_place(s, &share, &ns, NULL));
		assert_true(vxpu_sim_place(s, &whole, &nw2, NULL));
		assert_int_not_equal(nw, ns);
		assert_int_equal(nw, nw2);
		vxpu_sim_destroy(s);
	}
	vxpu_trace_free(&t);
}

/* fgd and fragaware: the second half-GPU task completes the first one's
 * GPU, leaving no sliver, rather than opening another GPU. */
static void test_fragmentation_policies_fill_the_gap(void **state)
{
	(void)state;
	struct vxpu_trace t;
	make_trace(&t,
	           NODES_HEADER "a,32000,65536,2,G\n"
	                        "b,32000,65536,2,G\n"
	                        "c,32000,65536,2,G\n",
	           some_tasks);
	const enum vxpu_sim_policy policies[] = {VXPU_SIM_FGD, VXPU_SIM_FRAGAWARE};
	for (size_t p = 0; p < 2; p++) {
		for (uint64_t seed = 1; seed <= 8; seed++) {
			struct vxpu_sim *s = new_sim(&t, policies[p], seed);
			struct vxpu_trace_task whole = task(1000, 1, 1000),
			                       half = task(1000, 1, 500);
			size_t n0, n1, n2;
			int g1, g2;
			assert_true(vxpu_sim_place(s, &whole, &n0, NULL));
			assert_true(vxpu_sim_place(s, &half, &n1, &g1));
			assert_true(vxpu_sim_place(s, &half, &n2, &g2));
			assert_int_equal(n1, n2);
			assert_int_equal(g1, g2);
			struct vxpu_frag_node left;
			vxpu_sim_node(s, n2, &left);
			assert_int_equal(left.dev_left[g2], 0);
			vxpu_sim_destroy(s);
		}
	}
	vxpu_trace_free(&t);
}

/* fragaware: a task without GPU goes where no GPU idles, so that its CPU
 * does not strand a free GPU. */
static void test_fragaware_sends_cpu_tasks_to_busy_nodes(void **state)
{
	(void)state;
	struct vxpu_trace t;
	make_trace(&t,
	           NODES_HEADER "a,32000,65536,1,G\n"
	                        "b,32000,65536,1,G\n",
	           some_tasks);
	for (uint64_t seed = 1; seed <= 8; seed++) {
		struct vxpu_sim *s = new_sim(&t, VXPU_SIM_FRAGAWARE, seed);
		struct vxpu_trace_task whole = task(1000, 1, 1000), cpu = task(2000, 0, 0);
		size_t nw, nc;
		assert_true(vxpu_sim_place(s, &whole, &nw, NULL));
		assert_true(vxpu_sim_place(s, &cpu, &nc, NULL));
		assert_int_equal(nw, nc);
		vxpu_sim_destroy(s);
	}
	vxpu_trace_free(&t);
}

/* Every policy honours gpu_spec, CPU and memory, and counts failures. */
static void test_every_policy_respects_fit(void **state)
{
	(void)state;
	struct vxpu_trace t;
	make_trace(&t,
	           NODES_HEADER "p,16000,32768,2,P100\n"
	                        "t,16000,32768,2,T4\n",
	           TASKS_HEADER "t1,1000,1024,1,500,T4\n"
	                        "t2,1000,1024,1,500,A100\n"
	                        "t3,1000,1024,1,1000,\n");
	for (int p = 0; p < VXPU_SIM_POLICY_COUNT; p++) {
		struct vxpu_sim *s = new_sim(&t, (enum vxpu_sim_policy)p, 5);
		size_t node;
		for (int i = 0; i < 4; i++) {
			assert_true(vxpu_sim_place(s, &t.tasks[0], &node, NULL));
			assert_int_equal(node, 1);
		}
		assert_false(vxpu_sim_place(s, &t.tasks[1], &node, NULL)); /* no A100 */
		assert_false(vxpu_sim_place(s, &t.tasks[0], &node, NULL)); /* T4s are full */
		struct vxpu_trace_task big_mem = task(1000, 0, 0);
		big_mem.mem_mib = 32769;
		assert_false(vxpu_sim_place(s, &big_mem, &node, NULL));
		struct vxpu_trace_task big_cpu = task(16001, 1, 100);
		assert_false(vxpu_sim_place(s, &big_cpu, &node, NULL));
		struct vxpu_trace_task three = task(1000, 3, 1000);
		assert_false(vxpu_sim_place(s, &three, &node, NULL));
		struct vxpu_trace_task two = task(1000, 2, 1000);
		assert_true(vxpu_sim_place(s, &two, &node, NULL));
		assert_int_equal(node, 0);
		struct vxpu_sim_result r;
		vxpu_sim_result(s, &r);
		assert_int_equal(r.failures, 5);
		assert_float_equal(r.final_allocated_pct, 100.0, 1e-9);
		vxpu_sim_destroy(s);
	}
	vxpu_trace_free(&t);
}

/* A trace with some variety, for the whole-run properties. */
static void mixed_trace(struct vxpu_trace *t)
{
	char nodes[4096], tasks[16384];
	size_t n = (size_t)snprintf(nodes, sizeof(nodes), NODES_HEADER);
	for (int i = 0; i < 12; i++)
		n += (size_t)snprintf(nodes + n, sizeof(nodes) - n, "n%02d,%d,%d,%d,%s\n", i,
		                      16000 + 8000 * (i % 3), 65536, 1 << (i % 4),
		                      i % 2 ? "T4" : "G2");
	static const char *const shapes[] = {"1,1000,", "1,500,", "1,300,",   "0,0,",
	                                     "2,1000,", "1,810,", "1,200,T4", "4,1000,"};
	size_t m = (size_t)snprintf(tasks, sizeof(tasks), TASKS_HEADER);
	for (int i = 0; i < 60; i++)
		m += (size_t)snprintf(tasks + m, sizeof(tasks) - m, "t%02d,%d,%d,%s\n", i,
		                      1000 + 1000 * (i % 7), 2048 * (1 + i % 5), shapes[i % 8]);
	make_trace(t, nodes, tasks);
}

static void test_runs_are_deterministic_and_share_arrivals(void **state)
{
	(void)state;
	struct vxpu_trace t;
	mixed_trace(&t);
	static struct vxpu_sim_result a, b;
	char err[256];
	size_t totals[VXPU_SIM_POLICY_COUNT];
	for (int p = 0; p < VXPU_SIM_POLICY_COUNT; p++) {
		const struct vxpu_sim_options opt = {
		        .policy = (enum vxpu_sim_policy)p, .seed = 42, .tune = 1.3};
		assert_int_equal(vxpu_sim_run(&t, &opt, &a, err, sizeof(err)), 0);
		assert_int_equal(vxpu_sim_run(&t, &opt, &b, err, sizeof(err)), 0);
		assert_memory_equal(&a, &b, sizeof(a));
		assert_true(a.reached);
		assert_true(a.unallocated_pct >= 0.0 && a.unallocated_pct <= 100.0);
		assert_true(a.frag_pct >= 0.0 && a.frag_pct <= 100.0);
		totals[p] = a.arrivals;
		assert_int_equal(totals[p], totals[0]);
	}
	vxpu_trace_free(&t);
}

static void test_tune_up_and_down(void **state)
{
	(void)state;
	struct vxpu_trace t;
	mixed_trace(&t);
	uint64_t asked = 0, largest = 0;
	for (size_t i = 0; i < t.task_count; i++) {
		const uint64_t g = vxpu_trace_task_gpu_milli(&t.tasks[i]);
		asked += g;
		largest = g > largest ? g : largest;
	}
	const double cap = (double)t.gpu_milli_capacity;
	char err[256];
	static struct vxpu_sim_result r;
	/* Up: arrivals stop just before exceeding tune x capacity. */
	for (uint64_t seed = 1; seed <= 5; seed++) {
		const struct vxpu_sim_options up = {
		        .policy = VXPU_SIM_BESTFIT, .seed = seed, .tune = 2.0};
		assert_int_equal(vxpu_sim_run(&t, &up, &r, err, sizeof(err)), 0);
		assert_true(r.arrivals > t.task_count);
		assert_true(r.final_arrived_pct <= 200.0 + 1e-9);
		assert_true(r.final_arrived_pct > 200.0 - 100.0 * (double)largest / cap);
		assert_true(r.reached);
	}
	/* Down: random tasks are dropped until the trace asks for no more. */
	assert_true((double)asked > 0.3 * cap);
	const struct vxpu_sim_options down = {.policy = VXPU_SIM_BESTFIT, .seed = 9, .tune = 0.3};
	assert_int_equal(vxpu_sim_run(&t, &down, &r, err, sizeof(err)), 0);
	assert_true(r.arrivals < t.task_count);
	assert_true(r.final_arrived_pct <= 30.0 + 1e-9);
	assert_false(r.reached); /* never at 100 %: no figure */
	vxpu_trace_free(&t);
}

/* Four 1-GPU nodes, four whole-GPU tasks, tune 1: everything fits, the
 * figure at 100 % is 0 % unallocated, and the curve has its four points. */
static void test_figure_at_full_arrival(void **state)
{
	(void)state;
	struct vxpu_trace t;
	make_trace(&t,
	           NODES_HEADER "a,8000,8192,1,G\n"
	                        "b,8000,8192,1,G\n"
	                        "c,8000,8192,1,G\n"
	                        "d,8000,8192,1,G\n",
	           TASKS_HEADER "t1,1000,1024,1,1000,\n"
	                        "t2,1000,1024,1,1000,\n"
	                        "t3,1000,1024,1,1000,\n"
	                        "t4,1000,1024,1,1000,\n");
	static struct vxpu_sim_result r;
	char err[256];
	for (int p = 0; p < VXPU_SIM_POLICY_COUNT; p++) {
		const struct vxpu_sim_options opt = {
		        .policy = (enum vxpu_sim_policy)p, .seed = 1, .tune = 1.0};
		assert_int_equal(vxpu_sim_run(&t, &opt, &r, err, sizeof(err)), 0);
		assert_int_equal(r.arrivals, 4);
		assert_true(r.reached);
		assert_float_equal(r.unallocated_pct, 0.0, 1e-9);
		assert_int_equal(r.failures, 0);
		assert_int_equal(r.curve_len, 102);
		for (size_t b = 0; b < r.curve_len; b++) {
			const bool point = b == 25 || b == 50 || b == 75 || b == 100;
			assert_int_equal(r.curve[b].arrivals, point ? 1 : 0);
			if (point)
				assert_float_equal(r.curve[b].allocated_pct, (double)b, 1e-9);
		}
	}
	vxpu_trace_free(&t);
}

static void test_create_refuses_bad_options(void **state)
{
	(void)state;
	struct vxpu_trace t;
	make_trace(&t, two_nodes, some_tasks);
	struct vxpu_sim *s = NULL;
	char err[256] = "";
	struct vxpu_sim_options opt = {.policy = VXPU_SIM_FGD, .seed = 1, .tune = 0.0};
	assert_int_equal(vxpu_sim_create(&t, &opt, &s, err, sizeof(err)), -1);
	assert_string_equal(err, "tune must be in (0, 10]");
	opt.tune = 10.5;
	assert_int_equal(vxpu_sim_create(&t, &opt, &s, err, sizeof(err)), -1);
	opt.tune = 1.0;
	opt.policy = VXPU_SIM_POLICY_COUNT;
	assert_int_equal(vxpu_sim_create(&t, &opt, &s, err, sizeof(err)), -1);
	assert_null(s);
	vxpu_trace_free(&t);

	make_trace(&t, two_nodes, TASKS_HEADER "c1,1000,1024,0,0,\n");
	opt.policy = VXPU_SIM_RANDOM;
	assert_int_equal(vxpu_sim_create(&t, &opt, &s, err, sizeof(err)), -1);
	assert_string_equal(err, "the trace asks for no GPU: nothing to replay");
	vxpu_trace_free(&t);
}

static void test_policy_names(void **state)
{
	(void)state;
	for (int p = 0; p < VXPU_SIM_POLICY_COUNT; p++) {
		enum vxpu_sim_policy back;
		const char *name = vxpu_sim_policy_name((enum vxpu_sim_policy)p);
		assert_int_equal(vxpu_sim_policy_parse(name, &back), 0);
		assert_int_equal(back, p);
		assert_non_null(strstr(vxpu_sim_policy_list(), name));
	}
	enum vxpu_sim_policy p;
	assert_int_equal(vxpu_sim_policy_parse("FGD", &p), -1);
	assert_int_equal(vxpu_sim_policy_parse("", &p), -1);
	assert_int_equal(vxpu_sim_policy_parse("best", &p), -1);
}

static void test_mean_sd(void **state)
{
	(void)state;
	const double v[] = {1, 2, 3, 4};
	double mean, sd;
	vxpu_sim_mean_sd(v, 4, &mean, &sd);
	assert_float_equal(mean, 2.5, 1e-12);
	assert_float_equal(sd, 1.2909944487358056, 1e-12);
	vxpu_sim_mean_sd(v, 1, &mean, &sd);
	assert_float_equal(mean, 1.0, 1e-12);
	assert_float_equal(sd, 0.0, 1e-12);
	const double same[] = {7, 7, 7};
	vxpu_sim_mean_sd(same, 3, &mean, &sd);
	assert_float_equal(sd, 0.0, 1e-12);
}

static void test_remix_hits_the_shares(void **state)
{
	(void)state;
	struct vxpu_trace t;
	mixed_trace(&t);
	char err[256] = "";
	const struct vxpu_trace_mix want = {
	        .fractional = 0.4, .multi = 0.1, .spec = 0.2, .cpu = 0.15};
	assert_int_equal(vxpu_trace_remix(&t, &want, 20000, 3, err, sizeof(err)), 0);
	assert_int_equal(t.task_count, 20000);
	struct vxpu_trace_mix got;
	vxpu_trace_measure_mix(&t, &got);
	assert_float_equal(got.fractional, 0.4, 0.02);
	assert_float_equal(got.multi, 0.1, 0.02);
	assert_float_equal(got.spec, 0.2, 0.02);
	assert_float_equal(got.cpu, 0.15, 0.02);
	for (size_t i = 0; i < t.task_count; i++)
		if (!t.tasks[i].any_model)
			assert_int_equal(t.tasks[i].model_mask, 1u << 1); /* the T4 spec */

	const struct vxpu_trace_mix bad = {.fractional = 0.7, .multi = 0.2, .cpu = 0.2};
	assert_int_equal(vxpu_trace_remix(&t, &bad, 10, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cpu + fractional + multi <= 1"));
	assert_int_equal(t.task_count, 20000);
	vxpu_trace_free(&t);

	make_trace(&t, two_nodes, some_tasks); /* no multi-GPU task to draw */
	const struct vxpu_trace_mix multi = {.multi = 0.1};
	assert_int_equal(vxpu_trace_remix(&t, &multi, 10, 1, err, sizeof(err)), -1);
	assert_string_equal(err, "mix: the trace has no multi-GPU task to draw from");
	vxpu_trace_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_bestfit_and_dotprod_take_the_fuller_node),
	        cmocka_unit_test(test_packing_shares_the_used_gpu),
	        cmocka_unit_test(test_spread_uses_the_emptier_node),
	        cmocka_unit_test(test_clustering_groups_kinds),
	        cmocka_unit_test(test_fragmentation_policies_fill_the_gap),
	        cmocka_unit_test(test_fragaware_sends_cpu_tasks_to_busy_nodes),
	        cmocka_unit_test(test_every_policy_respects_fit),
	        cmocka_unit_test(test_runs_are_deterministic_and_share_arrivals),
	        cmocka_unit_test(test_tune_up_and_down),
	        cmocka_unit_test(test_figure_at_full_arrival),
	        cmocka_unit_test(test_create_refuses_bad_options),
	        cmocka_unit_test(test_policy_names),
	        cmocka_unit_test(test_mean_sd),
	        cmocka_unit_test(test_remix_hits_the_shares),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

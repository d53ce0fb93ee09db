/* The fragmentation measure and the learned shape distribution (frag.h):
 * hand-computed amounts, the fit rules, coverage, decay, eviction, and the
 * bounds 0 <= F <= idle on many random nodes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/frag.h"

static const struct vxpu_frag_shape half_gpu = {
        .cpu_milli = 1000, .dev_count = 1, .dev_milli = 500, .any_model = true};
static const struct vxpu_frag_shape whole_gpu = {
        .cpu_milli = 0, .dev_count = 1, .dev_milli = 1000, .any_model = true};
static const struct vxpu_frag_shape cpu_only = {.cpu_milli = 2000, .any_model = true};

static struct vxpu_frag_dist *dist_new(double half_life, double coverage, bool memory)
{
	const struct vxpu_frag_dist_config cfg = {
	        .half_life = half_life, .coverage = coverage, .check_memory = memory};
	struct vxpu_frag_dist *d = vxpu_frag_dist_new(&cfg);
	assert_non_null(d);
	return d;
}

/* p(half) = 0.5, p(whole) = 0.25, p(cpu only) = 0.25 */
static struct vxpu_frag_dist *three_shapes(void)
{
	struct vxpu_frag_dist *d = dist_new(0, 1.0, false);
	assert_int_equal(vxpu_frag_dist_observe(d, &half_gpu), 0);
	assert_int_equal(vxpu_frag_dist_observe(d, &whole_gpu), 0);
	assert_int_equal(vxpu_frag_dist_observe(d, &half_gpu), 0);
	assert_int_equal(vxpu_frag_dist_observe(d, &cpu_only), 0);
	assert_int_equal(vxpu_frag_dist_compile(d), 0);
	return d;
}

static struct vxpu_frag_node two_gpus(uint32_t left0, uint32_t left1, uint32_t cpu)
{
	struct vxpu_frag_node n = {.cpu_left = cpu, .mem_left = 1024, .model = 0, .dev_count = 2};
	n.dev_left[0] = (uint16_t)left0;
	n.dev_left[1] = (uint16_t)left1;
	return n;
}

static void test_amount_by_hand(void **state)
{
	(void)state;
	struct vxpu_frag_dist *d = three_shapes();
	/* idle 1300. cpu-only: all of it, 0.25 * 1300 = 325. half: fits, the
	 * 300 device is too small: 0.5 * 300 = 150. whole: fits on the free
	 * device, the 300 one is too small: 0.25 * 300 = 75. */
	struct vxpu_frag_node n = two_gpus(300, 1000, 8000);
	assert_float_equal(vxpu_frag_amount(d, &n), 550.0, 1e-9);
	/* Too little CPU for the half shape: it counts all 1300. */
	n = two_gpus(300, 1000, 500);
	assert_float_equal(vxpu_frag_amount(d, &n), 325.0 + 650.0 + 75.0, 1e-9);
	/* Nothing idle: no fragment. */
	n = two_gpus(0, 0, 8000);
	assert_float_equal(vxpu_frag_amount(d, &n), 0.0, 1e-9);
	/* Two 600s: half fits (nothing smaller than 500); whole does not fit. */
	n = two_gpus(600, 600, 8000);
	assert_float_equal(vxpu_frag_amount(d, &n), 0.25 * 1200 + 0 + 0.25 * 1200, 1e-9);
	vxpu_frag_dist_free(d);
}

/* A miss weight scales only the "does not fit" term of its own shape;
 * GPU-less shapes keep theirs; a recompile resets the weights to 1. */
static void test_weighed_misses(void **state)
{
	(void)state;
	struct vxpu_frag_dist *d = three_shapes();
	struct vxpu_frag_shape shapes[3];
	const size_t count = vxpu_frag_dist_shapes(d, shapes, NULL, 3);
	assert_int_equal(count, 3);
	double weights[3];
	for (size_t i = 0; i < count; i++)
		weights[i] = shapes[i].dev_count == 0     ? 5.0
		             : shapes[i].dev_milli == 500 ? 3.0
		                                          : 2.0;
	const uint64_t version = vxpu_frag_dist_version(d);
	assert_int_equal(vxpu_frag_dist_weigh_misses(d, weights, count), 0);
	assert_true(vxpu_frag_dist_version(d) > version);
	/* half misses (CPU): 3 * 0.5 * 1300; whole fits: 0.25 * 300; GPU-less
	 * unweighted: 0.25 * 1300. */
	struct vxpu_frag_node n = two_gpus(300, 1000, 500);
	assert_float_equal(vxpu_frag_amount(d, &n), 1950.0 + 75.0 + 325.0, 1e-9);
	/* whole misses: 2 * 0.25 * 1200; half fits with nothing smaller. */
	n = two_gpus(600, 600, 8000);
	assert_float_equal(vxpu_frag_amount(d, &n), 600.0 + 0.0 + 300.0, 1e-9);
	/* A wrong count or a negative or NaN weight changes nothing. */
	assert_int_equal(vxpu_frag_dist_weigh_misses(d, weights, 2), -1);
	double bad[3] = {1.0, -1.0, 1.0};
	assert_int_equal(vxpu_frag_dist_weigh_misses(d, bad, 3), -1);
	bad[1] = NAN;
	assert_int_equal(vxpu_frag_dist_weigh_misses(d, bad, 3), -1);
	assert_float_equal(vxpu_frag_amount(d, &n), 900.0, 1e-9);
	/* Recompiled: back to FGD's measure. */
	assert_int_equal(vxpu_frag_dist_compile(d), 0);
	assert_float_equal(vxpu_frag_amount(d, &n), 0.25 * 1200 + 0.25 * 1200, 1e-9);
	vxpu_frag_dist_free(d);
}

static void test_models_and_memory(void **state)
{
	(void)state;
	struct vxpu_frag_shape t4_only = half_gpu;
	t4_only.any_model = false;
	t4_only.model_mask = 1u << 3;
	t4_only.mem_mib = 4096;
	struct vxpu_frag_dist *d = dist_new(0, 1.0, false);
	assert_int_equal(vxpu_frag_dist_observe(d, &t4_only), 0);
	assert_int_equal(vxpu_frag_dist_compile(d), 0);
	struct vxpu_frag_node n = two_gpus(1000, 1000, 8000);
	assert_float_equal(vxpu_frag_amount(d, &n), 2000.0, 1e-9); /* model 0: no access */
	n.model = 3;
	assert_float_equal(vxpu_frag_amount(d, &n), 0.0, 1e-9);
	/* Memory is not part of the measure unless asked for. */
	assert_false(vxpu_frag_fits(&n, &t4_only)); /* 1024 MiB left < 4096 */
	vxpu_frag_dist_free(d);

	d = dist_new(0, 1.0, true);
	assert_int_equal(vxpu_frag_dist_observe(d, &t4_only), 0);
	assert_int_equal(vxpu_frag_dist_compile(d), 0);
	assert_float_equal(vxpu_frag_amount(d, &n), 2000.0, 1e-9);
	n.mem_left = 4096;
	assert_float_equal(vxpu_frag_amount(d, &n), 0.0, 1e-9);
	vxpu_frag_dist_free(d);
}

static void test_coverage_and_shapes(void **state)
{
	(void)state;
	struct vxpu_frag_dist *d = dist_new(0, 0.75, false);
	assert_int_equal(vxpu_frag_dist_version(d), 0);
	struct vxpu_frag_node n = two_gpus(1000, 1000, 8000);
	assert_float_equal(vxpu_frag_amount(d, &n), 0.0, 1e-9); /* nothing compiled */
	for (int i = 0; i < 2; i++)
		assert_int_equal(vxpu_frag_dist_observe(d, &half_gpu), 0);
	assert_int_equal(vxpu_frag_dist_observe(d, &whole_gpu), 0);
	assert_int_equal(vxpu_frag_dist_observe(d, &cpu_only), 0);
	assert_int_equal(vxpu_frag_dist_observations(d), 4);
	assert_int_equal(vxpu_frag_dist_compile(d), 0);
	assert_int_equal(vxpu_frag_dist_version(d), 1);
	struct vxpu_frag_shape shapes[8];
	double probs[8];
	/* 75 %: half (50 %) then one of the 25 % shapes, ranked by a stable key. */
	assert_int_equal(vxpu_frag_dist_shapes(d, shapes, probs, 8), 2);
	assert_int_equal(shapes[0].dev_milli, 500);
	assert_float_equal(probs[0], 2.0 / 3.0, 1e-12);
	assert_float_equal(probs[1], 1.0 / 3.0, 1e-12);
	assert_int_equal(shapes[1].dev_count, 0); /* ties: fewer devices first */
	vxpu_frag_dist_free(d);
}

static void test_decay_halves_old_weight(void **state)
{
	(void)state;
	/* Half-life of one observation: each new one weighs twice the last. */
	struct vxpu_frag_dist *d = dist_new(1.0, 1.0, false);
	assert_int_equal(vxpu_frag_dist_observe(d, &half_gpu), 0);
	assert_int_equal(vxpu_frag_dist_observe(d, &whole_gpu), 0);
	assert_int_equal(vxpu_frag_dist_compile(d), 0);
	double probs[2];
	struct vxpu_frag_shape shapes[2];
	assert_int_equal(vxpu_frag_dist_shapes(d, shapes, probs, 2), 2);
	assert_int_equal(shapes[0].dev_milli, 1000);
	assert_float_equal(probs[0], 2.0 / 3.0, 1e-9);
	/* Thousands of observations later the weights stay finite and exact. */
	for (int i = 0; i < 5000; i++)
		assert_int_equal(vxpu_frag_dist_observe(d, i % 2 ? &half_gpu : &cpu_only), 0);
	assert_int_equal(vxpu_frag_dist_compile(d), 0);
	/* The first whole-GPU request has decayed to nothing and left the set. */
	assert_int_equal(vxpu_frag_dist_shapes(d, shapes, probs, 2), 2);
	assert_int_equal(shapes[0].dev_milli, 500); /* the last one */
	assert_float_equal(probs[0], 2.0 / 3.0, 1e-9);
	assert_float_equal(probs[1], 1.0 / 3.0, 1e-9);
	vxpu_frag_dist_free(d);
}

static void test_drift_measures_the_moved_share(void **state)
{
	(void)state;
	struct vxpu_frag_dist *d = dist_new(0, 1.0, false);
	assert_float_equal(vxpu_frag_dist_drift(d), 1.0, 1e-12); /* never compiled */
	for (int i = 0; i < 32; i++)
		assert_int_equal(vxpu_frag_dist_observe(d, &half_gpu), 0);
	assert_int_equal(vxpu_frag_dist_compile(d), 0);
	assert_float_equal(vxpu_frag_dist_drift(d), 0.0, 1e-12);
	for (int i = 0; i < 32; i++)
		assert_int_equal(vxpu_frag_dist_observe(d, &whole_gpu), 0);
	/* Shares went from (1, 0) to (1/2, 1/2): half the mass moved. */
	assert_float_equal(vxpu_frag_dist_drift(d), 0.5, 1e-12);
	/* The compiled set is not touched by observing. */
	struct vxpu_frag_shape shapes[4];
	assert_int_equal(vxpu_frag_dist_shapes(d, shapes, NULL, 4), 1);
	assert_int_equal(vxpu_frag_dist_compile(d), 0);
	assert_float_equal(vxpu_frag_dist_drift(d), 0.0, 1e-12);
	assert_int_equal(vxpu_frag_dist_shapes(d, shapes, NULL, 4), 2);
	vxpu_frag_dist_free(d);
}

static void test_eviction_of_lightest(void **state)
{
	(void)state;
	const struct vxpu_frag_dist_config cfg = {.coverage = 1.0, .max_tracked = 2};
	struct vxpu_frag_dist *d = vxpu_frag_dist_new(&cfg);
	assert_non_null(d);
	assert_int_equal(vxpu_frag_dist_observe(d, &half_gpu), 0);
	assert_int_equal(vxpu_frag_dist_observe(d, &half_gpu), 0);
	assert_int_equal(vxpu_frag_dist_observe(d, &whole_gpu), 0);
	assert_int_equal(vxpu_frag_dist_observe(d, &cpu_only), 0); /* evicts whole (1 < 2) */
	assert_int_equal(vxpu_frag_dist_compile(d), 0);
	struct vxpu_frag_shape shapes[4];
	assert_int_equal(vxpu_frag_dist_shapes(d, shapes, NULL, 4), 2);
	assert_int_equal(shapes[0].dev_milli, 500);
	assert_int_equal(shapes[1].dev_count, 0);
	vxpu_frag_dist_free(d);
}

static void test_bad_config_and_shape(void **state)
{
	(void)state;
	const struct vxpu_frag_dist_config none = {.coverage = 0.0};
	assert_null(vxpu_frag_dist_new(&none));
	const struct vxpu_frag_dist_config over = {.coverage = 1.5};
	assert_null(vxpu_frag_dist_new(&over));
	const struct vxpu_frag_dist_config negative = {.coverage = 1.0, .half_life = -1};
	assert_null(vxpu_frag_dist_new(&negative));
	struct vxpu_frag_dist *d = dist_new(0, 1.0, false);
	struct vxpu_frag_shape bad = {.dev_count = 2, .dev_milli = 500, .any_model = true};
	assert_int_equal(vxpu_frag_dist_observe(d, &bad), -1);
	bad = (struct vxpu_frag_shape){.dev_count = 0, .dev_milli = 5};
	assert_int_equal(vxpu_frag_dist_observe(d, &bad), -1);
	bad = (struct vxpu_frag_shape){.dev_count = 1, .dev_milli = 1001};
	assert_int_equal(vxpu_frag_dist_observe(d, &bad), -1);
	assert_int_equal(vxpu_frag_dist_observations(d), 0);
	vxpu_frag_dist_free(d);
}

static void test_apply(void **state)
{
	(void)state;
	struct vxpu_frag_node n = two_gpus(600, 1000, 8000);
	/* Best fit by default: the 600 device. */
	assert_int_equal(vxpu_frag_apply(&n, &half_gpu, -1), 0);
	assert_int_equal(n.dev_left[0], 100);
	assert_int_equal(n.cpu_left, 7000);
	/* A named device. */
	assert_int_equal(vxpu_frag_apply(&n, &half_gpu, 1), 1);
	assert_int_equal(n.dev_left[1], 500);
	/* No room on device 0: refused, nothing changes. */
	assert_int_equal(vxpu_frag_apply(&n, &half_gpu, 0), -1);
	assert_int_equal(n.cpu_left, 6000);
	/* Whole devices: the lowest-numbered free ones. */
	struct vxpu_frag_node m = {.cpu_left = 1000,
	                           .mem_left = 10,
	                           .dev_count = 4,
	                           .dev_left = {1000, 300, 1000, 1000}};
	const struct vxpu_frag_shape two = {.dev_count = 2, .dev_milli = 1000, .any_model = true};
	assert_int_equal(vxpu_frag_apply(&m, &two, -1), 0);
	assert_int_equal(m.dev_left[0], 0);
	assert_int_equal(m.dev_left[1], 300);
	assert_int_equal(m.dev_left[2], 0);
	assert_int_equal(m.dev_left[3], 1000);
	assert_int_equal(vxpu_frag_apply(&m, &two, -1), -1);
	assert_int_equal(vxpu_frag_idle(&m), 1300);
	assert_false(vxpu_frag_fits(&m, &cpu_only)); /* 2000 milli CPU > 1000 left */
}

/* F is an expectation of parts of the idle capacity: 0 <= F <= idle. */
static void test_bounds_on_random_nodes(void **state)
{
	(void)state;
	struct vxpu_frag_dist *d = dist_new(0, 1.0, true);
	uint64_t x = 12345;
	for (int i = 0; i < 200; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		struct vxpu_frag_shape s = {
		        .cpu_milli = (uint32_t)(x >> 40) % 32000,
		        .mem_mib = (uint32_t)(x >> 20) % 65536,
		        .dev_count = (uint32_t)(x >> 33) % 4,
		        .any_model = (x >> 7) & 1,
		        .model_mask = (x >> 9) & 7,
		};
		s.dev_milli = s.dev_count == 0  ? 0
		              : s.dev_count > 1 ? 1000
		                                : 1 + (uint32_t)(x >> 50) % 1000;
		assert_int_equal(vxpu_frag_dist_observe(d, &s), 0);
	}
	assert_int_equal(vxpu_frag_dist_compile(d), 0);
	for (int i = 0; i < 2000; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		struct vxpu_frag_node n = {.cpu_left = (uint32_t)(x >> 40) % 64000,
		                           .mem_left = (uint32_t)(x >> 20) % 131072,
		                           .model = (uint32_t)(x >> 5) % 3,
		                           .dev_count =
		                                   1 + (uint32_t)(x >> 33) % VXPU_FRAG_MAX_DEVICES};
		for (uint32_t k = 0; k < n.dev_count; k++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			n.dev_left[k] = (uint16_t)((x >> 45) % 1001);
		}
		const double f = vxpu_frag_amount(d, &n);
		assert_true(f >= 0.0);
		assert_true(f <= vxpu_frag_idle(&n) + 1e-6);
	}
	vxpu_frag_dist_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_amount_by_hand),
	        cmocka_unit_test(test_weighed_misses),
	        cmocka_unit_test(test_models_and_memory),
	        cmocka_unit_test(test_coverage_and_shapes),
	        cmocka_unit_test(test_decay_halves_old_weight),
	        cmocka_unit_test(test_drift_measures_the_moved_share),
	        cmocka_unit_test(test_eviction_of_lightest),
	        cmocka_unit_test(test_bad_config_and_shape),
	        cmocka_unit_test(test_apply),
	        cmocka_unit_test(test_bounds_on_random_nodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

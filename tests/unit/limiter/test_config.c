/*
 * The limiter's environment contract: every accepted form with its exact
 * value, HAMi's aliases, the per-device override, the region path, and each
 * refusal naming the variable and its value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/size.h"
#include "limiter/config.h"

static struct vxpu_limiter_config cfg;
static char err[512];

static int parse(char **env)
{
	err[0] = '\0';
	return vxpu_limiter_config_parse(env, 1000, &cfg, err, sizeof(err));
}

static void expect_error(char **env, const char *a, const char *b)
{
	assert_int_equal(parse(env), -1);
	if (!strstr(err, a) || (b && !strstr(err, b)))
		fail_msg("error \"%s\" lacks \"%s\" / \"%s\"", err, a, b ? b : "");
}

static void test_nothing_set(void **state)
{
	(void)state;
	char *env[] = {"PATH=/bin", "HOME=/root", NULL};
	assert_int_equal(parse(env), 0);
	assert_false(cfg.any_limit);
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
		assert_true(cfg.memory_limit[d] == VXPU_REGION_UNLIMITED);
		assert_false(cfg.memory_limit_set[d]);
	}
	assert_string_equal(cfg.region_path, "/tmp/vxpu-1000.region");
	assert_false(cfg.region_from_env);
	assert_true(cfg.context_memory == 0);
}

static void test_global_and_per_device(void **state)
{
	(void)state;
	char *env[] = {"VXPU_MEMORY_LIMIT=4GiB",          "VXPU_MEMORY_LIMIT_1=1536m",
	               "VXPU_MEMORY_LIMIT_15=1073741824", "VXPU_REGION=/run/vxpu/c1.region",
	               "VXPU_CONTEXT_MEMORY=300MiB",      NULL};
	assert_int_equal(parse(env), 0);
	assert_true(cfg.any_limit);
	assert_true(cfg.memory_limit[0] == 4 * VXPU_GIB);
	assert_true(cfg.memory_limit[1] == 1536 * VXPU_MIB);
	assert_true(cfg.memory_limit[2] == 4 * VXPU_GIB);
	assert_true(cfg.memory_limit[15] == VXPU_GIB);
	assert_string_equal(cfg.region_path, "/run/vxpu/c1.region");
	assert_true(cfg.region_from_env);
	assert_true(cfg.context_memory == 300 * VXPU_MIB);
	struct vxpu_region_init init;
	vxpu_limiter_config_region_init(&cfg, &init);
	assert_true(init.memory_limit[1] == 1536 * VXPU_MIB);
	assert_false(init.managed);
}

static void test_per_device_only(void **state)
{
	(void)state;
	char *env[] = {"VXPU_MEMORY_LIMIT_2=2g", NULL};
	assert_int_equal(parse(env), 0);
	assert_true(cfg.memory_limit[2] == 2 * VXPU_GIB);
	assert_true(cfg.memory_limit[0] == VXPU_REGION_UNLIMITED);
	assert_true(cfg.memory_limit_set[2]);
	assert_false(cfg.memory_limit_set[0]);
}

static void test_hami_aliases(void **state)
{
	(void)state;
	char *env[] = {"CUDA_DEVICE_MEMORY_LIMIT=1g", "CUDA_DEVICE_MEMORY_LIMIT_0=1024m",
	               "CUDA_DEVICE_MEMORY_SHARED_CACHE=/tmp/vxpu/cache", NULL};
	assert_int_equal(parse(env), 0);
	assert_true(cfg.memory_limit[0] == VXPU_GIB);
	assert_true(cfg.memory_limit[3] == VXPU_GIB);
	assert_string_equal(cfg.region_path, "/tmp/vxpu/cache");
	/* Both spellings with the same value are fine. */
	char *both[] = {"VXPU_MEMORY_LIMIT=1GiB", "CUDA_DEVICE_MEMORY_LIMIT=1024m",
	                "VXPU_REGION=/a", "CUDA_DEVICE_MEMORY_SHARED_CACHE=/a", NULL};
	assert_int_equal(parse(both), 0);
	assert_true(cfg.memory_limit[0] == VXPU_GIB);
}

static void test_refusals(void **state)
{
	(void)state;
	char *typo[] = {"VXPU_MEMORY_LIMIT=12abc", NULL};
	expect_error(typo, "VXPU_MEMORY_LIMIT=\"12abc\"", "unknown unit");
	char *empty[] = {"VXPU_MEMORY_LIMIT=", NULL};
	expect_error(empty, "VXPU_MEMORY_LIMIT=\"\"", "empty");
	char *zero[] = {"VXPU_MEMORY_LIMIT_3=0", NULL};
	expect_error(zero, "VXPU_MEMORY_LIMIT_3=\"0\"", "at least 1 byte");
	char *neg[] = {"CUDA_DEVICE_MEMORY_LIMIT=-1g", NULL};
	expect_error(neg, "CUDA_DEVICE_MEMORY_LIMIT=\"-1g\"", "negative");
	char *space[] = {"VXPU_MEMORY_LIMIT=4 GiB", NULL};
	expect_error(space, "VXPU_MEMORY_LIMIT=\"4 GiB\"", NULL);
	char *frac[] = {"VXPU_MEMORY_LIMIT=1.3B", NULL};
	expect_error(frac, "VXPU_MEMORY_LIMIT=\"1.3B\"", "whole number");
	char *huge[] = {"VXPU_MEMORY_LIMIT=99999999999TiB", NULL};
	expect_error(huge, "99999999999TiB", "too large");
	char *suffix[] = {"VXPU_MEMORY_LIMIT_O=1g", NULL};
	expect_error(suffix, "VXPU_MEMORY_LIMIT_O=\"1g\"", "device index");
	char *leading0[] = {"VXPU_MEMORY_LIMIT_01=1g", NULL};
	expect_error(leading0, "VXPU_MEMORY_LIMIT_01", "device index");
	char *range[] = {"CUDA_DEVICE_MEMORY_LIMIT_16=1g", NULL};
	expect_error(range, "CUDA_DEVICE_MEMORY_LIMIT_16", "0..15");
	char *nosuffix[] = {"VXPU_MEMORY_LIMIT_=1g", NULL};
	expect_error(nosuffix, "VXPU_MEMORY_LIMIT_", "device index");
	char *disagree[] = {"VXPU_MEMORY_LIMIT=1g", "CUDA_DEVICE_MEMORY_LIMIT=2g", NULL};
	expect_error(disagree, "VXPU_MEMORY_LIMIT=\"1g\"", "CUDA_DEVICE_MEMORY_LIMIT=\"2g\"");
	char *relative[] = {"VXPU_REGION=run/x.region", NULL};
	expect_error(relative, "VXPU_REGION=\"run/x.region\"", "absolute");
	char *region_empty[] = {"CUDA_DEVICE_MEMORY_SHARED_CACHE=", NULL};
	expect_error(region_empty, "CUDA_DEVICE_MEMORY_SHARED_CACHE=\"\"", "absolute");
	char *regions[] = {"VXPU_REGION=/a", "CUDA_DEVICE_MEMORY_SHARED_CACHE=/b", NULL};
	expect_error(regions, "VXPU_REGION=\"/a\"", "disagree");
	char *ctx[] = {"VXPU_CONTEXT_MEMORY=lots", NULL};
	expect_error(ctx, "VXPU_CONTEXT_MEMORY=\"lots\"", NULL);
}

static void test_similar_names_are_not_ours(void **state)
{
	(void)state;
	/* Other CUDA_DEVICE_* variables and longer names are left alone. */
	char *env[] = {"CUDA_DEVICE_MAX_CONNECTIONS=8", "VXPU_MEMORY_LIMITS=x",
	               "CUDA_DEVICE_MEMORY_SHARED_CACHE_X=1", NULL};
	assert_int_equal(parse(env), 0);
	assert_false(cfg.any_limit);
}

static void test_core_limits_and_priority(void **state)
{
	(void)state;
	char *none[] = {"PATH=/bin", NULL};
	assert_int_equal(parse(none), 0);
	assert_false(cfg.any_core_limit);
	assert_int_equal(cfg.priority, VXPU_PRIORITY_UNSET);
	assert_int_equal(cfg.priority_floor, 5);
	assert_string_equal(cfg.device_dir, "");

	char *env[] = {"VXPU_CORE_LIMIT=30",
	               "VXPU_CORE_LIMIT_2=75%",
	               "VXPU_PRIORITY=low",
	               "VXPU_PRIORITY_FLOOR=8",
	               "VXPU_DEVICE_DIR=/run/vxpu/devices",
	               NULL};
	assert_int_equal(parse(env), 0);
	assert_true(cfg.any_core_limit);
	assert_int_equal(cfg.core_limit[0], 30);
	assert_int_equal(cfg.core_limit[2], 75);
	assert_int_equal(cfg.core_limit[15], 30);
	assert_int_equal(cfg.priority, VXPU_PRIORITY_LOW);
	assert_int_equal(cfg.priority_floor, 8);
	assert_string_equal(cfg.device_dir, "/run/vxpu/devices");

	/* HAMi's names: SM limit per device, numeric task priority. */
	char *hami[] = {"CUDA_DEVICE_SM_LIMIT_1=40", "CUDA_TASK_PRIORITY=0", NULL};
	assert_int_equal(parse(hami), 0);
	assert_int_equal(cfg.core_limit[0], 0);
	assert_int_equal(cfg.core_limit[1], 40);
	assert_int_equal(cfg.priority, VXPU_PRIORITY_HIGH);
	char *agree[] = {"CUDA_TASK_PRIORITY=1", "VXPU_PRIORITY=normal", NULL};
	assert_int_equal(parse(agree), 0);
	assert_int_equal(cfg.priority, VXPU_PRIORITY_NORMAL);

	/* A region created from this environment carries the compute settings. */
	struct vxpu_region_init init;
	char *full[] = {"VXPU_CORE_LIMIT_3=20", "VXPU_PRIORITY=high", NULL};
	assert_int_equal(parse(full), 0);
	vxpu_limiter_config_region_init(&cfg, &init);
	assert_int_equal(init.core_limit[3], 20);
	assert_int_equal(init.core_limit[0], 0);
	assert_int_equal(init.priority, VXPU_PRIORITY_HIGH);
}

static void test_compute_refusals(void **state)
{
	(void)state;
	char *zero[] = {"VXPU_CORE_LIMIT=0", NULL};
	expect_error(zero, "VXPU_CORE_LIMIT=\"0\"", NULL);
	char *over[] = {"VXPU_CORE_LIMIT_1=101", NULL};
	expect_error(over, "VXPU_CORE_LIMIT_1=\"101\"", NULL);
	char *frac[] = {"CUDA_DEVICE_SM_LIMIT=12.5", NULL};
	expect_error(frac, "CUDA_DEVICE_SM_LIMIT=\"12.5\"", NULL);
	char *suffix[] = {"VXPU_CORE_LIMIT_16=10", NULL};
	expect_error(suffix, "VXPU_CORE_LIMIT_16", "0..15");
	char *disagree[] = {"VXPU_CORE_LIMIT=10", "CUDA_DEVICE_SM_LIMIT=20", NULL};
	expect_error(disagree, "disagree", NULL);
	char *word[] = {"VXPU_PRIORITY=urgent", NULL};
	expect_error(word, "VXPU_PRIORITY=\"urgent\"", "high, normal or low");
	char *number[] = {"CUDA_TASK_PRIORITY=3", NULL};
	expect_error(number, "CUDA_TASK_PRIORITY=\"3\"", NULL);
	char *mixed[] = {"VXPU_PRIORITY=high", "CUDA_TASK_PRIORITY=2", NULL};
	expect_error(mixed, "disagree", NULL);
	char *floor[] = {"VXPU_PRIORITY_FLOOR=0", NULL};
	expect_error(floor, "VXPU_PRIORITY_FLOOR=\"0\"", NULL);
	char *timing[] = {"VXPU_CORE_TIMING=fast", NULL};
	expect_error(timing, "VXPU_CORE_TIMING=\"fast\"", "events or sync");
	char *sync[] = {"VXPU_CORE_TIMING=sync", NULL};
	assert_int_equal(parse(sync), 0);
	assert_true(cfg.core_timing_sync);
	char *dir[] = {"VXPU_DEVICE_DIR=devices", NULL};
	expect_error(dir, "VXPU_DEVICE_DIR=\"devices\"", "absolute");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_nothing_set),
	        cmocka_unit_test(test_global_and_per_device),
	        cmocka_unit_test(test_per_device_only),
	        cmocka_unit_test(test_hami_aliases),
	        cmocka_unit_test(test_refusals),
	        cmocka_unit_test(test_similar_names_are_not_ours),
	        cmocka_unit_test(test_core_limits_and_priority),
	        cmocka_unit_test(test_compute_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

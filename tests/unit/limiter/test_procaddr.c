/*
 * cuGetProcAddress's choice by base name, version and the per-thread flag
 * (the limiter's fallback when a driver hands out addresses that are not
 * its exported symbols), over a table shaped like the limiter's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "limiter/procaddr.h"

struct row {
	struct vxpu_procaddr_entry proc;
	const char *name;
};

static struct row table[] = {
        {{"cuMemAlloc", 2000, false, true}, "cuMemAlloc"},
        {{"cuMemAlloc", 3020, false, true}, "cuMemAlloc_v2"},
        {{"cuCtxCreate", 2000, false, true}, "cuCtxCreate"},
        {{"cuCtxCreate", 3020, false, true}, "cuCtxCreate_v2"},
        {{"cuCtxCreate", 11040, false, true}, "cuCtxCreate_v3"},
        {{"cuCtxCreate", 12050, false, false}, "cuCtxCreate_v4"}, /* the driver lacks it */
        {{"cuLaunchKernel", 4000, false, true}, "cuLaunchKernel"},
        {{"cuLaunchKernel", 7000, true, true}, "cuLaunchKernel_ptsz"},
        {{NULL, 0, false, true}, "nvmlInit_v2"},
};

static const char *pick(const char *base, int version, bool per_thread)
{
	int i = vxpu_procaddr_pick(table, sizeof(table) / sizeof(table[0]), sizeof(table[0]), base,
	                           version, per_thread);
	return i < 0 ? NULL : table[i].name;
}

static void test_highest_version_not_above_request(void **state)
{
	(void)state;
	assert_string_equal(pick("cuMemAlloc", 2000, false), "cuMemAlloc");
	assert_string_equal(pick("cuMemAlloc", 3010, false), "cuMemAlloc");
	assert_string_equal(pick("cuMemAlloc", 3020, false), "cuMemAlloc_v2");
	assert_string_equal(pick("cuMemAlloc", 12080, false), "cuMemAlloc_v2");
	assert_null(pick("cuMemAlloc", 1000, false));
}

static void test_missing_variant_falls_back(void **state)
{
	(void)state;
	/* _v4 would be meant, but the real driver does not have it. */
	assert_string_equal(pick("cuCtxCreate", 13000, false), "cuCtxCreate_v3");
	assert_string_equal(pick("cuCtxCreate", 11040, false), "cuCtxCreate_v3");
	assert_string_equal(pick("cuCtxCreate", 4000, false), "cuCtxCreate_v2");
}

static void test_per_thread_variant(void **state)
{
	(void)state;
	assert_string_equal(pick("cuLaunchKernel", 12000, false), "cuLaunchKernel");
	assert_string_equal(pick("cuLaunchKernel", 12000, true), "cuLaunchKernel_ptsz");
	/* Before CUDA 7.0 there was no per-thread form. */
	assert_string_equal(pick("cuLaunchKernel", 6050, true), "cuLaunchKernel");
	/* Entries without a per-thread form ignore the flag. */
	assert_string_equal(pick("cuMemAlloc", 12000, true), "cuMemAlloc_v2");
}

static void test_unknown_names(void **state)
{
	(void)state;
	assert_null(pick("cuMemcpy", 12000, false));
	assert_null(pick("nvmlInit_v2", 12000, false)); /* not reachable through cuGetProcAddress */
	assert_null(pick("cuMemAlloc_v2", 12000, false)); /* names are base names */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_highest_version_not_above_request),
	        cmocka_unit_test(test_missing_variant_falls_back),
	        cmocka_unit_test(test_per_thread_variant),
	        cmocka_unit_test(test_unknown_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

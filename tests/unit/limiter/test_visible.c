/* CUDA_VISIBLE_DEVICES read as the driver reads it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "limiter/visible.h"

static void test_unset_is_identity(void **state)
{
	(void)state;
	struct vxpu_visible v;
	vxpu_visible_parse(NULL, &v);
	unsigned index = 99;
	assert_int_equal(vxpu_visible_ordinal(&v, 5, &index), VXPU_VISIBLE_ALL);
	assert_int_equal(index, 5);
}

static void test_indices_reorder(void **state)
{
	(void)state;
	struct vxpu_visible v;
	vxpu_visible_parse("3,1", &v);
	unsigned index;
	assert_int_equal(vxpu_visible_ordinal(&v, 0, &index), VXPU_VISIBLE_INDEX);
	assert_int_equal(index, 3);
	assert_int_equal(vxpu_visible_ordinal(&v, 1, &index), VXPU_VISIBLE_INDEX);
	assert_int_equal(index, 1);
	assert_int_equal(vxpu_visible_ordinal(&v, 2, &index), VXPU_VISIBLE_NONE);
}

static void test_uuids(void **state)
{
	(void)state;
	struct vxpu_visible v;
	vxpu_visible_parse("GPU-8c6d1e2a-0000-1111-2222-333344445555,GPU-8c6e,0", &v);
	assert_int_equal(v.count, 3);
	unsigned index;
	assert_int_equal(vxpu_visible_ordinal(&v, 0, &index), VXPU_VISIBLE_UUID);
	assert_int_equal(vxpu_visible_ordinal(&v, 1, &index), VXPU_VISIBLE_UUID);
	assert_int_equal(vxpu_visible_ordinal(&v, 2, &index), VXPU_VISIBLE_INDEX);
	assert_int_equal(index, 0);
}

static void test_invalid_entry_ends_the_list(void **state)
{
	(void)state;
	struct vxpu_visible v;
	unsigned index;
	vxpu_visible_parse("1,x,0", &v);
	assert_int_equal(v.count, 1);
	vxpu_visible_parse("-1", &v);
	assert_true(v.set);
	assert_int_equal(v.count, 0);
	assert_int_equal(vxpu_visible_ordinal(&v, 0, &index), VXPU_VISIBLE_NONE);
	vxpu_visible_parse("", &v);
	assert_int_equal(v.count, 0);
	vxpu_visible_parse("0,0,1", &v); /* a repeated index ends it too */
	assert_int_equal(v.count, 1);
	vxpu_visible_parse("2, 3", &v);
	assert_int_equal(v.count, 1);
	vxpu_visible_parse("GPU-,1", &v);
	assert_int_equal(v.count, 0);
	vxpu_visible_parse("1,", &v);
	assert_int_equal(v.count, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_unset_is_identity),
	        cmocka_unit_test(test_indices_reorder),
	        cmocka_unit_test(test_uuids),
	        cmocka_unit_test(test_invalid_entry_ends_the_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

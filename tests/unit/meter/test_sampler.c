/* Minute sampler: means per UTC minute, partial minutes, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>

#include <cmocka.h>

#include "meter/sampler.h"

#define MIN 60000

static void test_minutes(void **state)
{
	(void)state;
	struct vxpu_sampler s;
	struct vxpu_sampler_minute m = {0};
	vxpu_sampler_init(&s);
	assert_int_equal(vxpu_sampler_flush(&s, &m), 0);
	int64_t t0 = 100 * (int64_t)MIN + 30000; /* half way into minute 100 */
	assert_int_equal(vxpu_sampler_add(&s, t0, 100, 10, &m), 0);
	assert_int_equal(vxpu_sampler_add(&s, t0 + 10000, 200, 20, &m), 0);
	assert_int_equal(vxpu_sampler_add(&s, t0 + 29999, 300, 30, &m), 0);
	/* The first reading of minute 101 closes minute 100. */
	assert_int_equal(vxpu_sampler_add(&s, 101 * (int64_t)MIN, 1000, 100, &m), 1);
	assert_int_equal(m.minute_ms, 100 * (int64_t)MIN);
	assert_true(m.used_memory_mib == 200);
	assert_true(m.utilisation_percent == 20);
	/* A gap: minutes 102 and 103 had no reading and produce no sample. */
	assert_int_equal(vxpu_sampler_add(&s, 104 * (int64_t)MIN + 5, 0, 0, &m), 1);
	assert_int_equal(m.minute_ms, 101 * (int64_t)MIN);
	assert_true(m.used_memory_mib == 1000);
	assert_true(m.utilisation_percent == 100);
	assert_int_equal(vxpu_sampler_flush(&s, &m), 1);
	assert_int_equal(m.minute_ms, 104 * (int64_t)MIN);
	assert_true(m.used_memory_mib == 0);
	assert_int_equal(vxpu_sampler_flush(&s, &m), 0);
}

static void test_refusals(void **state)
{
	(void)state;
	struct vxpu_sampler s;
	struct vxpu_sampler_minute m = {0};
	vxpu_sampler_init(&s);
	assert_int_equal(vxpu_sampler_add(&s, 5 * (int64_t)MIN, 1, 1, &m), 0);
	assert_int_equal(vxpu_sampler_add(&s, 5 * (int64_t)MIN - 1, 1, 1, &m), -1);
	assert_int_equal(vxpu_sampler_add(&s, -1, 1, 1, &m), -1);
	assert_int_equal(vxpu_sampler_add(&s, 5 * (int64_t)MIN, -1, 1, &m), -1);
	assert_int_equal(vxpu_sampler_add(&s, 5 * (int64_t)MIN, NAN, 1, &m), -1);
	assert_int_equal(vxpu_sampler_add(&s, 5 * (int64_t)MIN, 1, 100.5, &m), -1);
	assert_int_equal(vxpu_sampler_add(&s, 5 * (int64_t)MIN, 1, -0.5, &m), -1);
	/* Refused readings changed nothing. */
	assert_int_equal(vxpu_sampler_flush(&s, &m), 1);
	assert_true(m.used_memory_mib == 1 && m.utilisation_percent == 1);
	/* After a flush, time still may not go back. */
	assert_int_equal(vxpu_sampler_add(&s, 4 * (int64_t)MIN, 1, 1, &m), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_minutes),
	        cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

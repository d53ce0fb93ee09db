/*
 * The compute controller's arithmetic (src/limiter/budget.h): the budget
 * clock under steady use at several shares, the burst bound after idling,
 * refunds and the credit the burst floor leaves, the priority floor, the
 * occupancy of a completed launch, utilisation samples, the estimate, and
 * fitting a held launch into a high container's idle gap. A small
 * closed-loop simulation checks that a saturating workload obeying the
 * clock gets exactly its share whatever its kernel length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "limiter/budget.h"
#include "limiter/region.h"

#define MS 1000000ULL
#define S 1000000000ULL

static void test_charge_scales_by_share(void **state)
{
	(void)state;
	uint64_t now = 100 * S;
	/* 1 ms of device time at 25 % moves the clock 4 ms. */
	assert_int_equal(vxpu_budget_charge(now, now, (int64_t)MS, 25, 10 * MS, NULL),
	                 now + 4 * MS);
	assert_int_equal(vxpu_budget_charge(now, now, (int64_t)MS, 100, 10 * MS, NULL), now + MS);
	/* 0 and >100 mean no limit: the device time itself. */
	assert_int_equal(vxpu_budget_charge(now, now, (int64_t)MS, 0, 10 * MS, NULL), now + MS);
	assert_int_equal(vxpu_budget_wait(now + 4 * MS, now), 4 * MS);
	assert_int_equal(vxpu_budget_wait(now - MS, now), 0);
}

static void test_burst_is_bounded(void **state)
{
	(void)state;
	uint64_t now = 100 * S;
	/* Idle for a long time: the clock restarts at most burst/share behind now. */
	uint64_t v = vxpu_budget_charge(1, now, (int64_t)MS, 10, 10 * MS, NULL);
	assert_int_equal(v, now - 100 * MS + 10 * MS);
	/*
	 * So at 10 % an idle container gets the 10 ms burst at once, plus the
	 * launch that finds the clock exactly at now.
	 */
	uint64_t used = 0;
	v = 1;
	while (vxpu_budget_wait(v, now) == 0) {
		v = vxpu_budget_charge(v, now, (int64_t)MS, 10, 10 * MS, NULL);
		used += MS;
	}
	assert_int_equal(used, 11 * MS);
}

static void test_refunds_and_credit(void **state)
{
	(void)state;
	uint64_t now = 100 * S, left = 99;
	uint64_t v = vxpu_budget_charge(now + 40 * MS, now, -(int64_t)(2 * MS), 50, 10 * MS, &left);
	assert_int_equal(v, now + 36 * MS);
	assert_int_equal(left, 0);
	/* A refund reaching below the floor stops there; the rest is returned as credit. */
	v = vxpu_budget_charge(now, now, -(int64_t)(30 * MS), 50, 10 * MS, &left);
	assert_int_equal(v, now - 20 * MS);
	assert_int_equal(left, 20 * MS);
}

static void test_rescale(void **state)
{
	(void)state;
	uint64_t now = 100 * S;
	/* 20 ms of debt at 20 % is 4 ms of device time: at 60 %, 6.67 ms of debt. */
	assert_int_equal(vxpu_budget_rescale(now + 20 * MS, now, 20, 60), now + 20 * MS / 3);
	/* Held to 5 % after running at 100 %: 1 ms of debt becomes 20 ms. */
	assert_int_equal(vxpu_budget_rescale(now + MS, now, 100, 5), now + 20 * MS);
	/* No debt, or no change: the clock stays. */
	assert_int_equal(vxpu_budget_rescale(now - MS, now, 20, 60), now - MS);
	assert_int_equal(vxpu_budget_rescale(now + MS, now, 0, 60), now + MS);
	assert_int_equal(vxpu_budget_rescale(now + MS, now, 60, 60), now + MS);
}

static void test_effective_share(void **state)
{
	(void)state;
	assert_int_equal(vxpu_budget_effective(0, VXPU_PRIORITY_UNSET, true, 5), 100);
	assert_int_equal(vxpu_budget_effective(40, VXPU_PRIORITY_UNSET, true, 5), 40);
	assert_int_equal(vxpu_budget_effective(40, VXPU_PRIORITY_NORMAL, false, 5), 40);
	assert_int_equal(vxpu_budget_effective(40, VXPU_PRIORITY_NORMAL, true, 5), 5);
	assert_int_equal(vxpu_budget_effective(0, VXPU_PRIORITY_LOW, true, 5), 5);
	/* A limit already below the floor stays; a high container is never lowered. */
	assert_int_equal(vxpu_budget_effective(3, VXPU_PRIORITY_LOW, true, 5), 3);
	assert_int_equal(vxpu_budget_effective(0, VXPU_PRIORITY_HIGH, true, 5), 100);
	assert_int_equal(vxpu_budget_effective(30, VXPU_PRIORITY_HIGH, true, 5), 30);
	assert_int_equal(vxpu_budget_effective(100, VXPU_PRIORITY_NORMAL, true, 20), 20);
}

static void test_high_activity_window(void **state)
{
	(void)state;
	uint64_t now = 100 * S;
	assert_false(vxpu_budget_high_active(0, now, 8 * MS));
	assert_true(vxpu_budget_high_active(now - 7 * MS, now, 8 * MS));
	assert_false(vxpu_budget_high_active(now - 8 * MS, now, 8 * MS));
	assert_true(vxpu_budget_high_active(now + MS, now, 8 * MS));
	/* The window follows the high container's rhythm, within 6..9 ms. */
	assert_int_equal(vxpu_budget_high_window(0), 6 * MS);
	assert_int_equal(vxpu_budget_high_window(2 * MS), 6 * MS);
	assert_int_equal(vxpu_budget_high_window(5 * MS), 7 * MS);
	assert_int_equal(vxpu_budget_high_window(50 * MS), 9 * MS);
}

static void test_occupancy(void **state)
{
	(void)state;
	/* Idle device: from the launch to the end. */
	assert_int_equal(vxpu_budget_occupancy(10 * MS, 5 * MS, 11 * MS, 0), MS);
	/* Queued behind its own previous work: from that work's end. */
	assert_int_equal(vxpu_budget_occupancy(10 * MS, 12 * MS, 13 * MS, 0), MS);
	/* Only what lies after the window start counts. */
	assert_int_equal(vxpu_budget_occupancy(10 * MS, 0, 13 * MS, 12 * MS), MS);
	assert_int_equal(vxpu_budget_occupancy(10 * MS, 14 * MS, 13 * MS, 0), 0);
}

static void test_util_and_estimate(void **state)
{
	(void)state;
	assert_int_equal(vxpu_budget_util_busy(25, 100 * MS), 25 * MS);
	assert_int_equal(vxpu_budget_util_busy(150, 100 * MS), 100 * MS);
	assert_int_equal(vxpu_budget_util_busy(33, 999), 329);
	assert_int_equal(vxpu_budget_estimate(0, 4 * MS, true), 4 * MS);
	assert_int_equal(vxpu_budget_estimate(4 * MS, 8 * MS, false), 5 * MS);
}

static void test_gap_fitting(void **state)
{
	(void)state;
	uint64_t last = 100 * S, period = 5 * MS, busy = MS, margin = MS / 2;
	/* Right after the high launch a 1 ms kernel fits (5 - 1 - 1 - 0.5 = 2.5 ms slack). */
	assert_true(vxpu_budget_gap_fits(last + MS, last, period, busy, MS, margin));
	assert_true(vxpu_budget_gap_fits(last + 2 * MS + MS / 2, last, period, busy, MS, margin));
	assert_false(vxpu_budget_gap_fits(last + 3 * MS, last, period, busy, MS, margin));
	/* Nothing fits at all (4 ms kernels): the budget alone paces the floor. */
	assert_true(vxpu_budget_gap_fits(last + 3 * MS, last, period, busy, 4 * MS, margin));
	/* No rhythm known yet. */
	assert_true(vxpu_budget_gap_fits(last + 3 * MS, last, 0, busy, MS, margin));
}

/* A saturating workload obeying the clock gets its share, for any kernel length. */
static void test_closed_loop_share(void **state)
{
	(void)state;
	static const uint32_t shares[] = {10, 25, 50, 75};
	static const uint64_t kernels[] = {100000, MS, 20 * MS};
	for (size_t i = 0; i < 4; i++) {
		for (size_t k = 0; k < 3; k++) {
			uint64_t now = 100 * S, start = now, v = 0, busy = 0;
			while (now - start < 20 * S) {
				uint64_t w = vxpu_budget_wait(v, now);
				now += w;
				v = vxpu_budget_charge(v, now, (int64_t)kernels[k], shares[i],
				                       10 * MS, NULL);
				now += kernels[k]; /* the kernel runs, then the next launch */
				busy += kernels[k];
			}
			double share = 100.0 * (double)busy / (double)(now - start);
			if (share < shares[i] - 0.5 || share > shares[i] + 0.5)
				fail_msg("share %u %% with %llu ns kernels: got %.2f %%", shares[i],
				         (unsigned long long)kernels[k], share);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_charge_scales_by_share),
	        cmocka_unit_test(test_burst_is_bounded),
	        cmocka_unit_test(test_refunds_and_credit),
	        cmocka_unit_test(test_rescale),
	        cmocka_unit_test(test_effective_share),
	        cmocka_unit_test(test_high_activity_window),
	        cmocka_unit_test(test_occupancy),
	        cmocka_unit_test(test_util_and_estimate),
	        cmocka_unit_test(test_gap_fitting),
	        cmocka_unit_test(test_closed_loop_share),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

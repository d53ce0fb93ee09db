/* The device health state machine: which evidence fails a device, which
 * does not, recovery under each policy, and the strict policy parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/health.h"

#define SEC 1000000000ULL

static struct vxpu_health_event xid(uint64_t at, uint32_t code)
{
	return (struct vxpu_health_event){.kind = VXPU_HEALTH_EVENT_XID, .at_ns = at, .xid = code};
}

static struct vxpu_health_event probe(uint64_t at, bool lost, uint64_t uncorrected)
{
	return (struct vxpu_health_event){.kind = VXPU_HEALTH_EVENT_PROBE,
	                                  .at_ns = at,
	                                  .lost = lost,
	                                  .uncorrected_volatile = uncorrected};
}

static void test_critical_xids_fail_the_device(void **state)
{
	(void)state;
	struct vxpu_health_policy p;
	vxpu_health_policy_default(&p);
	static const uint32_t critical[] = {48, 63, 64, 74, 79, 94, 95, 119, 4242};
	for (size_t i = 0; i < sizeof(critical) / sizeof(critical[0]); i++) {
		struct vxpu_device_health h;
		vxpu_device_health_init(&h, 0);
		struct vxpu_health_event ev = xid(5 * SEC, critical[i]);
		assert_true(vxpu_health_apply(&p, &h, &ev));
		assert_false(h.healthy);
		char want[64];
		snprintf(want, sizeof(want), "critical XID %u", (unsigned)critical[i]);
		assert_string_equal(h.reason, want);
		assert_int_equal(h.last_xid, critical[i]);
		assert_true(h.since_ns == 5 * SEC);
		/* A second error changes nothing visible but counts and keeps the first reason. */
		ev = xid(6 * SEC, 79);
		assert_false(vxpu_health_apply(&p, &h, &ev));
		assert_string_equal(h.reason, want);
		assert_int_equal(h.critical_events, 2);
		assert_true(h.last_error_ns == 6 * SEC);
	}
}

static void test_application_xids_do_not(void **state)
{
	(void)state;
	struct vxpu_health_policy p;
	vxpu_health_policy_default(&p);
	static const uint32_t app[] = {13, 31, 43, 45, 68, 109};
	struct vxpu_device_health h;
	vxpu_device_health_init(&h, 0);
	for (size_t i = 0; i < sizeof(app) / sizeof(app[0]); i++) {
		struct vxpu_health_event ev = xid(SEC * (i + 1), app[i]);
		assert_false(vxpu_health_apply(&p, &h, &ev));
		assert_true(h.healthy);
		assert_false(vxpu_health_xid_is_critical(&p, app[i]));
	}
	assert_int_equal(h.application_xids, 6);
	assert_int_equal(h.critical_events, 0);
	assert_string_equal(h.reason, "");
}

static void test_ecc(void **state)
{
	(void)state;
	struct vxpu_health_policy p;
	vxpu_health_policy_default(&p);
	struct vxpu_device_health h;
	vxpu_device_health_init(&h, 0);
	struct vxpu_health_event single = {.kind = VXPU_HEALTH_EVENT_ECC_SINGLE, .at_ns = SEC};
	for (int i = 0; i < 100; i++)
		assert_false(vxpu_health_apply(&p, &h, &single));
	assert_true(h.healthy);
	assert_int_equal(h.single_bit_ecc, 100);
	struct vxpu_health_event dbl = {.kind = VXPU_HEALTH_EVENT_ECC_DOUBLE, .at_ns = 2 * SEC};
	assert_true(vxpu_health_apply(&p, &h, &dbl));
	assert_string_equal(h.reason, "double-bit ECC error");
	/* A probe that still sees uncorrectable errors is fresh evidence: no recovery. */
	struct vxpu_health_event pr = probe(40 * SEC, false, 3);
	assert_false(vxpu_health_apply(&p, &h, &pr));
	assert_false(h.healthy);
	assert_true(h.last_error_ns == 40 * SEC);
	pr = probe(60 * SEC, false, 0); /* clean, but only 20 s after the evidence */
	assert_false(vxpu_health_apply(&p, &h, &pr));
	pr = probe(70 * SEC, false, 0); /* clean and 30 s quiet: recovered */
	assert_true(vxpu_health_apply(&p, &h, &pr));
	assert_true(h.healthy);
	assert_string_equal(h.reason, "");
	assert_int_equal(h.recoveries, 1);
	assert_true(h.since_ns == 70 * SEC);
}

static void test_probe_detects_lost_and_counters(void **state)
{
	(void)state;
	struct vxpu_health_policy p;
	vxpu_health_policy_default(&p);
	struct vxpu_device_health h;
	vxpu_device_health_init(&h, 0);
	struct vxpu_health_event pr = probe(SEC, true, 0);
	assert_true(vxpu_health_apply(&p, &h, &pr));
	assert_string_equal(h.reason, "device lost (fell off the bus)");
	vxpu_device_health_init(&h, 0);
	pr = probe(SEC, false, 2);
	assert_true(vxpu_health_apply(&p, &h, &pr));
	assert_string_equal(h.reason, "2 uncorrectable ECC errors");
	/* A clean probe on a healthy device changes nothing. */
	vxpu_device_health_init(&h, 0);
	pr = probe(SEC, false, 0);
	assert_false(vxpu_health_apply(&p, &h, &pr));
	assert_int_equal(h.critical_events, 0);
}

static void test_recovery_policies(void **state)
{
	(void)state;
	struct vxpu_health_policy p;
	vxpu_health_policy_default(&p);
	char err[160];
	assert_int_equal(vxpu_health_policy_set_clear_for(&p, "2s", err, sizeof(err)), 0);
	struct vxpu_device_health h;
	vxpu_device_health_init(&h, 0);
	struct vxpu_health_event ev = xid(10 * SEC, 79);
	vxpu_health_apply(&p, &h, &ev);
	ev = probe(11 * SEC, true, 0); /* still lost */
	assert_false(vxpu_health_apply(&p, &h, &ev));
	ev = probe(12 * SEC, false, 0); /* clear, 1 s after the last evidence */
	assert_false(vxpu_health_apply(&p, &h, &ev));
	ev = probe(13 * SEC, false, 0);
	assert_true(vxpu_health_apply(&p, &h, &ev));
	assert_true(h.healthy);

	/* never: a clean card stays out. */
	assert_int_equal(vxpu_health_policy_set_recovery(&p, "never", err, sizeof(err)), 0);
	vxpu_device_health_init(&h, 0);
	ev = xid(SEC, 48);
	vxpu_health_apply(&p, &h, &ev);
	ev = probe(1000 * SEC, false, 0);
	assert_false(vxpu_health_apply(&p, &h, &ev));
	assert_false(h.healthy);

	/* clear-for 0: the first clean probe recovers. */
	assert_int_equal(vxpu_health_policy_set_recovery(&p, "when-clear", err, sizeof(err)), 0);
	assert_int_equal(vxpu_health_policy_set_clear_for(&p, "0s", err, sizeof(err)), 0);
	vxpu_device_health_init(&h, 0);
	ev = xid(SEC, 48);
	vxpu_health_apply(&p, &h, &ev);
	ev = probe(SEC, false, 0);
	assert_true(vxpu_health_apply(&p, &h, &ev));
}

static void test_time_never_runs_back(void **state)
{
	(void)state;
	struct vxpu_health_policy p;
	vxpu_health_policy_default(&p);
	struct vxpu_device_health h;
	vxpu_device_health_init(&h, 100 * SEC);
	struct vxpu_health_event ev = xid(50 * SEC, 79); /* older than the state */
	assert_true(vxpu_health_apply(&p, &h, &ev));
	assert_true(h.since_ns == 100 * SEC);
	assert_true(h.last_error_ns == 100 * SEC);
	ev = probe(120 * SEC, false, 0);
	assert_false(vxpu_health_apply(&p, &h, &ev)); /* 20 s < 30 s */
}

static void test_same_events_same_states(void **state)
{
	(void)state;
	struct vxpu_health_policy p;
	vxpu_health_policy_default(&p);
	struct vxpu_health_event evs[64];
	uint64_t seed = 7;
	for (int i = 0; i < 64; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		unsigned r = (unsigned)(seed >> 33);
		evs[i] = (r % 3 == 0) ? xid(i * SEC * 10, (uint32_t)(r % 120) + 1)
		                      : probe(i * SEC * 10, r % 7 == 0, r % 11 == 0);
	}
	struct vxpu_device_health a, b;
	vxpu_device_health_init(&a, 0);
	vxpu_device_health_init(&b, 0);
	unsigned flips = 0;
	for (int i = 0; i < 64; i++) {
		bool fa = vxpu_health_apply(&p, &a, &evs[i]);
		bool fb = vxpu_health_apply(&p, &b, &evs[i]);
		assert_int_equal(fa, fb);
		flips += fa;
		assert_memory_equal(&a, &b, sizeof(a));
		assert_true(a.healthy == (a.reason[0] == '\0'));
	}
	assert_true(flips > 0);
	assert_int_equal(a.recoveries * 2 + (a.healthy ? 0 : 1), flips);
}

static void test_policy_parsers(void **state)
{
	(void)state;
	struct vxpu_health_policy p;
	vxpu_health_policy_default(&p);
	char err[200];
	assert_int_equal(vxpu_health_policy_set_app_xids(&p, "109,13,31", err, sizeof(err)), 0);
	assert_int_equal(p.app_xid_count, 3);
	assert_int_equal(p.app_xids[0], 13);
	assert_int_equal(p.app_xids[2], 109);
	assert_true(vxpu_health_xid_is_critical(&p, 43));
	assert_int_equal(vxpu_health_policy_set_app_xids(&p, "none", err, sizeof(err)), 0);
	assert_int_equal(p.app_xid_count, 0);
	assert_true(vxpu_health_xid_is_critical(&p, 13));

	static const struct {
		const char *text, *want;
	} bad_xids[] = {
	        {"", "invalid application XID list \"\": empty"},
	        {"13,", "invalid application XID list \"13,\": each item must be a decimal XID"},
	        {"13;31", "invalid application XID list \"13;31\": items are separated by commas"},
	        {"0", "invalid application XID list \"0\": an XID runs from 1 to 65535"},
	        {"70000", "invalid application XID list \"70000\": an XID runs from 1 to 65535"},
	        {"123456", "invalid application XID list \"123456\": an XID is at most 65535"},
	        {"13,13", "invalid application XID list \"13,13\": an XID is listed twice"},
	        {"-1", "invalid application XID list \"-1\": each item must be a decimal XID"},
	};
	vxpu_health_policy_default(&p);
	struct vxpu_health_policy before = p;
	for (size_t i = 0; i < sizeof(bad_xids) / sizeof(bad_xids[0]); i++) {
		assert_int_equal(
		        vxpu_health_policy_set_app_xids(&p, bad_xids[i].text, err, sizeof(err)),
		        -1);
		if (strncmp(err, bad_xids[i].want, strlen(bad_xids[i].want)) != 0)
			fail_msg("case %zu: got \"%s\"", i, err);
		assert_memory_equal(&p, &before, sizeof(p));
	}
	assert_int_equal(vxpu_health_policy_set_recovery(&p, "sometimes", err, sizeof(err)), -1);
	assert_string_equal(err,
	                    "invalid recovery policy \"sometimes\": must be never or when-clear");
	assert_memory_equal(&p, &before, sizeof(p));

	uint64_t ns = 0;
	assert_int_equal(vxpu_health_duration_parse("250ms", &ns, err, sizeof(err)), 0);
	assert_true(ns == 250000000ULL);
	assert_int_equal(vxpu_health_duration_parse("5m", &ns, err, sizeof(err)), 0);
	assert_true(ns == 300 * SEC);
	static const char *const bad_durations[] = {"",     "s",     "10",  "10 s",
	                                            "1.5s", "10sec", "-1s", "1234567890s"};
	for (size_t i = 0; i < sizeof(bad_durations) / sizeof(bad_durations[0]); i++) {
		ns = 42;
		assert_int_equal(
		        vxpu_health_duration_parse(bad_durations[i], &ns, err, sizeof(err)), -1);
		assert_true(ns == 42);
		assert_non_null(strstr(err, "invalid duration"));
	}
	assert_int_equal(vxpu_health_policy_set_clear_for(&p, "10x", err, sizeof(err)), -1);
	assert_string_equal(err, "invalid duration \"10x\": the unit must be ms, s, m or h");
	assert_memory_equal(&p, &before, sizeof(p));
	assert_string_equal(vxpu_health_recovery_name(p.recovery), "when-clear");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_critical_xids_fail_the_device),
	        cmocka_unit_test(test_application_xids_do_not),
	        cmocka_unit_test(test_ecc),
	        cmocka_unit_test(test_probe_detects_lost_and_counters),
	        cmocka_unit_test(test_recovery_policies),
	        cmocka_unit_test(test_time_never_runs_back),
	        cmocka_unit_test(test_same_events_same_states),
	        cmocka_unit_test(test_policy_parsers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

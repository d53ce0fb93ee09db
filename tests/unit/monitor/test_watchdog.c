/* The bypass watchdog's state machine on a fake clock: memory over its
 * limit plus the margin is flagged only after the window, once per
 * episode, and cleared when it comes back; a dip below restarts the
 * window; unknown figures never flag; compute in percentage points;
 * enforcement asks for a kill at every pass while flagged and counts what
 * was killed; vanished containers are forgotten; statuses are sorted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/watchdog.h"

#define MIB (1024ULL * 1024ULL)
#define MS 1000000ULL

struct log {
	unsigned n;
	enum vxpu_watchdog_event_type type[64];
	enum vxpu_watchdog_kind kind[64];
	size_t observation[64];
	uint64_t over_ns[64];
	double threshold[64];
	unsigned kill_answer; /* what ENFORCE returns */
};

static unsigned record(void *ctx, const struct vxpu_watchdog_event *ev)
{
	struct log *l = ctx;
	if (l->n < 64) {
		l->type[l->n] = ev->type;
		l->kind[l->n] = ev->kind;
		l->observation[l->n] = ev->observation;
		l->over_ns[l->n] = ev->over_ns;
		l->threshold[l->n] = ev->threshold;
		l->n++;
	}
	return ev->type == VXPU_WATCHDOG_ENFORCE ? l->kill_answer : 0;
}

static struct vxpu_watchdog_observation mem_obs(const char *key, uint64_t used, uint64_t limit)
{
	return (struct vxpu_watchdog_observation){.key = key,
	                                          .gpu = 0,
	                                          .memory_used_known = true,
	                                          .memory_used = used,
	                                          .memory_limit = limit};
}

static struct vxpu_watchdog *make(bool enforce)
{
	struct vxpu_watchdog_policy p;
	vxpu_watchdog_policy_default(&p);
	p.enforce = enforce;
	struct vxpu_watchdog *w;
	assert_int_equal(vxpu_watchdog_new(&w, &p), 0);
	return w;
}

static void pass(struct vxpu_watchdog *w, uint64_t t, struct vxpu_watchdog_observation o,
                 struct log *l)
{
	assert_int_equal(vxpu_watchdog_observe(w, t, &o, 1, record, l), 0);
}

static void test_defaults(void **state)
{
	(void)state;
	struct vxpu_watchdog_policy p;
	vxpu_watchdog_policy_default(&p);
	assert_int_equal(p.memory_margin_pct, 5);
	assert_int_equal(p.memory_window_ns, 2000 * MS);
	assert_int_equal(p.compute_margin_pct, 20);
	assert_int_equal(p.compute_window_ns, 30000 * MS);
	assert_false(p.enforce);
	assert_string_equal(vxpu_watchdog_kind_name(VXPU_WATCHDOG_MEMORY), "memory");
	assert_string_equal(vxpu_watchdog_kind_name(VXPU_WATCHDOG_COMPUTE), "compute");
}

/* 100 MiB limit: 105 MiB is within the margin, 106 MiB is over. */
static void test_margin(void **state)
{
	(void)state;
	struct vxpu_watchdog *w = make(false);
	struct log l = {0};
	for (uint64_t t = 0; t <= 10000 * MS; t += 250 * MS)
		pass(w, t, mem_obs("a_b_c", 105 * MIB, 100 * MIB), &l);
	assert_int_equal(l.n, 0);
	pass(w, 10250 * MS, mem_obs("a_b_c", 106 * MIB, 100 * MIB), &l);
	assert_int_equal(l.n, 0);
	vxpu_watchdog_free(w);
}

/* Flagged at the first pass more than 2 s after the excess was first seen. */
static void test_window_then_flag_then_clear(void **state)
{
	(void)state;
	struct vxpu_watchdog *w = make(false);
	struct log l = {0};
	pass(w, 1000 * MS, mem_obs("a_b_c", 50 * MIB, 100 * MIB), &l);
	pass(w, 1250 * MS, mem_obs("a_b_c", 200 * MIB, 100 * MIB), &l); /* over since 1.25 s */
	for (uint64_t t = 1500 * MS; t <= 3250 * MS; t += 250 * MS)
		pass(w, t, mem_obs("a_b_c", 200 * MIB, 100 * MIB), &l);
	assert_int_equal(l.n, 0); /* exactly 2 s is not "more than 2 s" */
	pass(w, 3500 * MS, mem_obs("a_b_c", 200 * MIB, 100 * MIB), &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.type[0], VXPU_WATCHDOG_FLAGGED);
	assert_int_equal(l.kind[0], VXPU_WATCHDOG_MEMORY);
	assert_int_equal(l.over_ns[0], 2250 * MS);
	assert_true(l.threshold[0] > 104.9 * MIB && l.threshold[0] < 105.1 * MIB);
	/* Reported once per episode, not at every pass. */
	for (uint64_t t = 3750 * MS; t <= 6000 * MS; t += 250 * MS)
		pass(w, t, mem_obs("a_b_c", 200 * MIB, 100 * MIB), &l);
	assert_int_equal(l.n, 1);
	struct vxpu_watchdog_status st[4];
	assert_int_equal(vxpu_watchdog_status(w, st, 4), 1);
	assert_true(st[0].flagged);
	assert_int_equal(st[0].violations, 1);
	assert_int_equal(st[0].kills, 0);
	pass(w, 6250 * MS, mem_obs("a_b_c", 90 * MIB, 100 * MIB), &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.type[1], VXPU_WATCHDOG_CLEARED);
	assert_int_equal(vxpu_watchdog_status(w, st, 4), 1);
	assert_false(st[0].flagged);
	assert_int_equal(st[0].violations, 1);
	/* A second episode counts again. */
	for (uint64_t t = 6500 * MS; t <= 9000 * MS; t += 250 * MS)
		pass(w, t, mem_obs("a_b_c", 200 * MIB, 100 * MIB), &l);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.type[2], VXPU_WATCHDOG_FLAGGED);
	assert_int_equal(vxpu_watchdog_status(w, st, 4), 1);
	assert_int_equal(st[0].violations, 2);
	vxpu_watchdog_free(w);
}

/* A pass under the threshold, or with no figure, restarts the window. */
static void test_dip_restarts_window(void **state)
{
	(void)state;
	struct vxpu_watchdog *w = make(false);
	struct log l = {0};
	pass(w, 0, mem_obs("a_b_c", 200 * MIB, 100 * MIB), &l);
	pass(w, 1900 * MS, mem_obs("a_b_c", 200 * MIB, 100 * MIB), &l);
	pass(w, 2000 * MS, mem_obs("a_b_c", 100 * MIB, 100 * MIB), &l);
	pass(w, 2100 * MS, mem_obs("a_b_c", 200 * MIB, 100 * MIB), &l);
	pass(w, 4000 * MS, mem_obs("a_b_c", 200 * MIB, 100 * MIB), &l);
	assert_int_equal(l.n, 0);
	struct vxpu_watchdog_observation unknown = mem_obs("a_b_c", 0, 100 * MIB);
	unknown.memory_used_known = false;
	pass(w, 4050 * MS, unknown, &l);
	pass(w, 4100 * MS, mem_obs("a_b_c", 200 * MIB, 100 * MIB), &l);
	pass(w, 6000 * MS, mem_obs("a_b_c", 200 * MIB, 100 * MIB), &l);
	assert_int_equal(l.n, 0);
	pass(w, 6200 * MS, mem_obs("a_b_c", 200 * MIB, 100 * MIB), &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.over_ns[0], 2100 * MS);
	vxpu_watchdog_free(w);
}

/* No limit, no check; a container whose key disappears is forgotten. */
static void test_unlimited_and_forgotten(void **state)
{
	(void)state;
	struct vxpu_watchdog *w = make(false);
	struct log l = {0};
	for (uint64_t t = 0; t <= 5000 * MS; t += 500 * MS)
		pass(w, t, mem_obs("a_b_c", 900 * MIB, UINT64_MAX), &l);
	assert_int_equal(l.n, 0);
	for (uint64_t t = 6000 * MS; t <= 9000 * MS; t += 500 * MS)
		pass(w, t, mem_obs("x_y_z", 900 * MIB, 100 * MIB), &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(vxpu_watchdog_status(w, NULL, 0), 1);
	assert_int_equal(vxpu_watchdog_observe(w, 9500 * MS, NULL, 0, record, &l), 0);
	assert_int_equal(vxpu_watchdog_status(w, NULL, 0), 0);
	assert_int_equal(l.n, 1); /* forgetting is not clearing */
	vxpu_watchdog_free(w);
}

/* Compute: utilisation above core_limit + 20 points for more than 30 s. */
static void test_compute(void **state)
{
	(void)state;
	struct vxpu_watchdog *w = make(false);
	struct log l = {0};
	struct vxpu_watchdog_observation o = {.key = "a_b_c",
	                                      .gpu = 1,
	                                      .memory_limit = UINT64_MAX,
	                                      .utilization_known = true,
	                                      .utilization = 50,
	                                      .core_limit = 30};
	for (uint64_t t = 0; t <= 40000 * MS; t += 1000 * MS)
		pass(w, t, o, &l); /* 50 is exactly 30 + 20: not over */
	assert_int_equal(l.n, 0);
	o.utilization = 51;
	for (uint64_t t = 41000 * MS; t <= 71000 * MS; t += 1000 * MS)
		pass(w, t, o, &l);
	assert_int_equal(l.n, 0);
	pass(w, 72000 * MS, o, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.kind[0], VXPU_WATCHDOG_COMPUTE);
	assert_true(l.threshold[0] == 50.0);
	o.core_limit = 0; /* the limit is lifted: no longer checked, state dropped */
	pass(w, 73000 * MS, o, &l);
	assert_int_equal(vxpu_watchdog_status(w, NULL, 0), 0);
	vxpu_watchdog_free(w);
}

/* Enforce: a kill at the flagging pass and at every pass while still over. */
static void test_enforce(void **state)
{
	(void)state;
	struct vxpu_watchdog *w = make(true);
	struct log l = {.kill_answer = 2};
	for (uint64_t t = 0; t <= 2000 * MS; t += 500 * MS)
		pass(w, t, mem_obs("a_b_c", 200 * MIB, 100 * MIB), &l);
	assert_int_equal(l.n, 0);
	pass(w, 2500 * MS, mem_obs("a_b_c", 200 * MIB, 100 * MIB), &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.type[0], VXPU_WATCHDOG_FLAGGED);
	assert_int_equal(l.type[1], VXPU_WATCHDOG_ENFORCE);
	l.kill_answer = 0;
	pass(w, 3000 * MS, mem_obs("a_b_c", 200 * MIB, 100 * MIB), &l);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.type[2], VXPU_WATCHDOG_ENFORCE);
	struct vxpu_watchdog_status st[2];
	assert_int_equal(vxpu_watchdog_status(w, st, 2), 1);
	assert_int_equal(st[0].kills, 2);
	assert_int_equal(st[0].violations, 1);
	pass(w, 3500 * MS, mem_obs("a_b_c", 0, 100 * MIB), &l);
	assert_int_equal(l.n, 4);
	assert_int_equal(l.type[3], VXPU_WATCHDOG_CLEARED);
	vxpu_watchdog_free(w);
}

/* Several containers and kinds: events in observation order, statuses sorted. */
static void test_many(void **state)
{
	(void)state;
	struct vxpu_watchdog *w = make(false);
	struct log l = {0};
	struct vxpu_watchdog_observation obs[3] = {
	        mem_obs("ns_zeta_c", 300 * MIB, 100 * MIB),
	        mem_obs("ns_alpha_c", 300 * MIB, 100 * MIB),
	        mem_obs("ns_mid_c", 10 * MIB, 100 * MIB),
	};
	obs[1].utilization_known = true;
	obs[1].utilization = 100;
	obs[1].core_limit = 10;
	for (uint64_t t = 0; t <= 31000 * MS; t += 500 * MS)
		assert_int_equal(vxpu_watchdog_observe(w, t, obs, 3, record, &l), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.observation[0], 0); /* memory of zeta, then alpha, at 2.5 s */
	assert_int_equal(l.observation[1], 1);
	assert_int_equal(l.kind[2], VXPU_WATCHDOG_COMPUTE);
	struct vxpu_watchdog_status st[4];
	assert_int_equal(vxpu_watchdog_status(w, st, 4), 3);
	assert_string_equal(st[0].key, "ns_alpha_c");
	assert_int_equal(st[0].kind, VXPU_WATCHDOG_MEMORY);
	assert_string_equal(st[1].key, "ns_alpha_c");
	assert_int_equal(st[1].kind, VXPU_WATCHDOG_COMPUTE);
	assert_string_equal(st[2].key, "ns_zeta_c");
	/* cap smaller than the count: the count, and only cap copied */
	assert_int_equal(vxpu_watchdog_status(w, st, 1), 3);
	vxpu_watchdog_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_margin),
	        cmocka_unit_test(test_window_then_flag_then_clear),
	        cmocka_unit_test(test_dip_restarts_window),
	        cmocka_unit_test(test_unlimited_and_forgotten),
	        cmocka_unit_test(test_compute),
	        cmocka_unit_test(test_enforce),
	        cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The health watcher on the simulated driver: a critical XID, a double-bit
 * ECC error and a lost device each fail the right device within 1 s;
 * application XIDs and corrected ECC errors do not; clearing the fault
 * brings the device back under when-clear and not under never. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/health.h"
#include "sim/simstate.h"

struct flips {
	pthread_mutex_t lock;
	unsigned n;
	unsigned index[64];
	bool healthy[64];
	uint64_t at_ns[64];
	char reason[64][96];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void record(void *ctx, unsigned index, const struct vxpu_device_health *h)
{
	struct flips *f = ctx;
	pthread_mutex_lock(&f->lock);
	if (f->n < 64) {
		f->index[f->n] = index;
		f->healthy[f->n] = h->healthy;
		f->at_ns[f->n] = now_ns();
		snprintf(f->reason[f->n], sizeof(f->reason[0]), "%s", h->reason);
		f->n++;
	}
	pthread_mutex_unlock(&f->lock);
}

/* Waits up to limit_ms for flip number k; returns its latency from t0 in ms or -1. */
static long wait_flip(struct flips *f, unsigned k, uint64_t t0, unsigned limit_ms)
{
	for (unsigned waited = 0; waited <= limit_ms; waited += 5) {
		pthread_mutex_lock(&f->lock);
		bool have = f->n > k;
		uint64_t at = have ? f->at_ns[k] : 0;
		pthread_mutex_unlock(&f->lock);
		if (have)
			return (long)((at - t0) / 1000000ULL);
		usleep(5000);
	}
	return -1;
}

struct fixture {
	struct vxpu_sim_state sim;
	struct vxpu_health_watcher *w;
	struct flips flips;
};

static struct fixture *start(const char *recovery, const char *clear_for)
{
	static char state_path[96];
	snprintf(state_path, sizeof(state_path), "/dev/shm/vxpu-unit-health-%d", (int)getpid());
	unlink(state_path);
	setenv("VXPU_SIM_STATE", state_path, 1);
	unsetenv("VXPU_SIM_CONFIG");
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	pthread_mutex_init(&fx->flips.lock, NULL);
	char err[256] = "";
	if (vxpu_sim_open_env(&fx->sim, err, sizeof(err)) != 0)
		fail_msg("sim: %s", err);
	struct vxpu_health_watch_options o = {
	        .discover = {.backend = VXPU_BACKEND_SIM, .sim_lib_dir = VXPU_TEST_SIM_DIR},
	        .probe_interval_ms = 50,
	        .on_change = record,
	        .ctx = &fx->flips,
	};
	vxpu_health_policy_default(&o.policy);
	assert_int_equal(vxpu_health_policy_set_recovery(&o.policy, recovery, err, sizeof(err)), 0);
	assert_int_equal(vxpu_health_policy_set_clear_for(&o.policy, clear_for, err, sizeof(err)),
	                 0);
	if (vxpu_health_watch_start(&fx->w, &o, err, sizeof(err)) != 0)
		fail_msg("watch: %s", err);
	assert_int_equal(vxpu_health_watch_count(fx->w), 2);
	assert_true(vxpu_health_watch_events_supported(fx->w));
	usleep(150000); /* the first probes have run: a settled, healthy view */
	assert_int_equal(fx->flips.n, 0);
	return fx;
}

static void stop(struct fixture *fx)
{
	vxpu_health_watch_stop(fx->w);
	vxpu_sim_close(&fx->sim);
	unlink(getenv("VXPU_SIM_STATE"));
	free(fx);
}

static void test_xid_fails_and_clear_recovers(void **state)
{
	(void)state;
	struct fixture *fx = start("when-clear", "300ms");
	/* Application XIDs and corrected errors leave both devices healthy. */
	vxpu_sim_inject_xid(&fx->sim, 1, 13);
	vxpu_sim_inject_xid(&fx->sim, 1, 43);
	vxpu_sim_inject_ecc(&fx->sim, 1, false);
	usleep(200000);
	assert_int_equal(fx->flips.n, 0);
	struct vxpu_device_health snap[4];
	assert_int_equal(vxpu_health_watch_snapshot(fx->w, snap, 4), 2);
	assert_true(snap[1].healthy);
	assert_int_equal(snap[1].application_xids, 2);
	assert_int_equal(snap[1].single_bit_ecc, 1);

	uint64_t t0 = now_ns();
	vxpu_sim_inject_xid(&fx->sim, 1, 79);
	long ms = wait_flip(&fx->flips, 0, t0, 1000);
	assert_true(ms >= 0 && ms < 1000);
	assert_int_equal(fx->flips.index[0], 1);
	assert_false(fx->flips.healthy[0]);
	assert_string_equal(fx->flips.reason[0], "critical XID 79");
	vxpu_health_watch_snapshot(fx->w, snap, 4);
	assert_true(snap[0].healthy);
	assert_false(snap[1].healthy);

	/* XID-only faults leave no trace a probe sees: back after 300 ms quiet. */
	ms = wait_flip(&fx->flips, 1, t0, 3000);
	assert_true(ms >= 300);
	assert_true(fx->flips.healthy[1]);
	assert_string_equal(fx->flips.reason[1], "");
	stop(fx);
}

static void test_ecc_and_lost_hold_until_cleared(void **state)
{
	(void)state;
	struct fixture *fx = start("when-clear", "200ms");
	uint64_t t0 = now_ns();
	vxpu_sim_inject_ecc(&fx->sim, 0, true);
	long ms = wait_flip(&fx->flips, 0, t0, 1000);
	assert_true(ms >= 0 && ms < 1000);
	assert_int_equal(fx->flips.index[0], 0);
	/* The double-bit event, or the XID 48 it brings, whichever came first. */
	assert_true(strcmp(fx->flips.reason[0], "double-bit ECC error") == 0 ||
	            strcmp(fx->flips.reason[0], "critical XID 48") == 0);
	t0 = now_ns();
	vxpu_sim_set_lost(&fx->sim, 1);
	ms = wait_flip(&fx->flips, 1, t0, 1000);
	assert_true(ms >= 0 && ms < 1000);
	assert_int_equal(fx->flips.index[1], 1);
	/* The uncorrected count and the lost flag persist: no recovery meanwhile. */
	usleep(700000);
	assert_int_equal(fx->flips.n, 2);
	vxpu_sim_clear(&fx->sim, 0);
	vxpu_sim_clear(&fx->sim, 1);
	t0 = now_ns();
	assert_true(wait_flip(&fx->flips, 3, t0, 3000) >= 0);
	struct vxpu_device_health snap[2];
	vxpu_health_watch_snapshot(fx->w, snap, 2);
	assert_true(snap[0].healthy && snap[1].healthy);
	assert_int_equal(snap[0].recoveries, 1);
	assert_int_equal(snap[1].recoveries, 1);
	stop(fx);
}

static void test_never_recovers(void **state)
{
	(void)state;
	struct fixture *fx = start("never", "0s");
	uint64_t t0 = now_ns();
	vxpu_sim_inject_xid(&fx->sim, 0, 94);
	assert_true(wait_flip(&fx->flips, 0, t0, 1000) >= 0);
	usleep(400000);
	assert_int_equal(fx->flips.n, 1);
	struct vxpu_device_health snap[2];
	vxpu_health_watch_snapshot(fx->w, snap, 2);
	assert_false(snap[0].healthy);
	assert_string_equal(snap[0].reason, "critical XID 94");
	stop(fx);
}

static void test_inventory_has_no_library(void **state)
{
	(void)state;
	struct vxpu_health_watch_options o = {.discover = {.backend = VXPU_BACKEND_INVENTORY}};
	vxpu_health_policy_default(&o.policy);
	struct vxpu_health_watcher *w = NULL;
	char err[256] = "";
	assert_int_equal(vxpu_health_watch_start(&w, &o, err, sizeof(err)), -1);
	assert_null(w);
	assert_string_equal(err, "the inventory backend has no management library");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_xid_fails_and_clear_recovers),
	        cmocka_unit_test(test_ecc_and_lost_hold_until_cleared),
	        cmocka_unit_test(test_never_recovers),
	        cmocka_unit_test(test_inventory_has_no_library),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

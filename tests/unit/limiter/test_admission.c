/*
 * Admission against a shared limit: the exact boundary, commit/cancel/
 * release arithmetic, unlimited devices, a dead process's charge reclaimed
 * when the room is needed, the precedence rule between racing reservations
 * (a lower slot waits for a higher slot's pending reservation, a higher slot
 * steps aside for a lower one, neither waits past the bound), and a stress
 * run of threads - each with its own open file description, i.e. its own
 * slot - during which a monitor never sees the committed total above the
 * limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/size.h"
#include "limiter/admission.h"

static char path[128];

static int setup(void **state)
{
	(void)state;
	static int n;
	snprintf(path, sizeof(path), "/tmp/vxpu-admission-test-%d-%d", (int)getpid(), n++);
	unlink(path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void open_limited(struct vxpu_region *r, uint64_t limit)
{
	struct vxpu_region_init init;
	vxpu_region_init_default(&init);
	init.memory_limit[0] = limit;
	char err[512] = "";
	if (vxpu_region_open(r, path, VXPU_REGION_OPEN_CREATE, &init, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void test_exact_boundary(void **state)
{
	(void)state;
	struct vxpu_region r;
	open_limited(&r, 10 * VXPU_MIB);
	unsigned s = (unsigned)vxpu_region_claim(&r, 1, NULL);
	assert_int_equal(vxpu_admit_reserve(&r, s, 0, 4 * VXPU_MIB), VXPU_ADMIT_OK);
	vxpu_admit_commit(&r, s, 0, 4 * VXPU_MIB, 4 * VXPU_MIB);
	assert_int_equal(vxpu_admit_reserve(&r, s, 0, 6 * VXPU_MIB), VXPU_ADMIT_OK);
	vxpu_admit_commit(&r, s, 0, 6 * VXPU_MIB, 6 * VXPU_MIB);
	assert_true(vxpu_admit_used(&r, 0) == 10 * VXPU_MIB);
	/* Full: one byte more fails and leaves nothing behind. */
	assert_int_equal(vxpu_admit_reserve(&r, s, 0, 1), VXPU_ADMIT_OVER_LIMIT);
	assert_true(vxpu_admit_used(&r, 0) == 10 * VXPU_MIB);
	/* After a free the same room is there again. */
	vxpu_admit_release(&r, s, 0, 6 * VXPU_MIB);
	assert_int_equal(vxpu_admit_reserve(&r, s, 0, 6 * VXPU_MIB), VXPU_ADMIT_OK);
	/* A failed real allocation is cancelled. */
	vxpu_admit_cancel(&r, s, 0, 6 * VXPU_MIB);
	assert_true(vxpu_admit_used(&r, 0) == 4 * VXPU_MIB);
	/* Larger than the limit itself. */
	assert_int_equal(vxpu_admit_reserve(&r, s, 0, 11 * VXPU_MIB), VXPU_ADMIT_OVER_LIMIT);
	/* A commit may differ from its reservation (pitch known after the call). */
	assert_int_equal(vxpu_admit_reserve(&r, s, 0, 2 * VXPU_MIB), VXPU_ADMIT_OK);
	vxpu_admit_commit(&r, s, 0, 2 * VXPU_MIB, VXPU_MIB);
	assert_true(vxpu_admit_used(&r, 0) == 5 * VXPU_MIB);
	assert_true(atomic_load(&r.slots[s].memory[0].reserve) == 0);
	vxpu_region_close(&r);
}

static void test_unlimited_only_counts(void **state)
{
	(void)state;
	struct vxpu_region r;
	open_limited(&r, VXPU_GIB);
	unsigned s = (unsigned)vxpu_region_claim(&r, 1, NULL);
	assert_true(vxpu_admit_limit(&r, 3) == VXPU_REGION_UNLIMITED);
	assert_int_equal(vxpu_admit_reserve(&r, s, 3, 100 * VXPU_TIB), VXPU_ADMIT_OK);
	vxpu_admit_commit(&r, s, 3, 100 * VXPU_TIB, 100 * VXPU_TIB);
	assert_true(vxpu_admit_used(&r, 3) == 100 * VXPU_TIB);
	/* Device 0's limit is separate. */
	assert_int_equal(vxpu_admit_reserve(&r, s, 0, 2 * VXPU_GIB), VXPU_ADMIT_OVER_LIMIT);
	vxpu_region_close(&r);
}

static void test_limits_across_processes(void **state)
{
	(void)state;
	struct vxpu_region a, b;
	open_limited(&a, 8 * VXPU_MIB);
	open_limited(&b, 8 * VXPU_MIB);
	unsigned sa = (unsigned)vxpu_region_claim(&a, 1, NULL);
	unsigned sb = (unsigned)vxpu_region_claim(&b, 2, NULL);
	assert_int_equal(vxpu_admit_reserve(&a, sa, 0, 5 * VXPU_MIB), VXPU_ADMIT_OK);
	vxpu_admit_commit(&a, sa, 0, 5 * VXPU_MIB, 5 * VXPU_MIB);
	assert_int_equal(vxpu_admit_reserve(&b, sb, 0, 4 * VXPU_MIB), VXPU_ADMIT_OVER_LIMIT);
	assert_int_equal(vxpu_admit_reserve(&b, sb, 0, 3 * VXPU_MIB), VXPU_ADMIT_OK);
	vxpu_admit_commit(&b, sb, 0, 3 * VXPU_MIB, 3 * VXPU_MIB);
	/* a dies holding 5 MiB: b gets the room when it needs it. */
	vxpu_region_close(&a);
	assert_int_equal(vxpu_admit_reserve(&b, sb, 0, 5 * VXPU_MIB), VXPU_ADMIT_OK);
	vxpu_admit_commit(&b, sb, 0, 5 * VXPU_MIB, 5 * VXPU_MIB);
	assert_true(vxpu_admit_used(&b, 0) == 8 * VXPU_MIB);
	vxpu_region_close(&b);
}

static void test_live_limit_change(void **state)
{
	(void)state;
	struct vxpu_region r;
	open_limited(&r, 8 * VXPU_MIB);
	unsigned s = (unsigned)vxpu_region_claim(&r, 1, NULL);
	assert_int_equal(vxpu_admit_reserve(&r, s, 0, 6 * VXPU_MIB), VXPU_ADMIT_OK);
	vxpu_admit_commit(&r, s, 0, 6 * VXPU_MIB, 6 * VXPU_MIB);
	uint64_t gen = atomic_load(&r.header->limits_generation);
	vxpu_region_set_limit(&r, 0, 4 * VXPU_MIB); /* below current use */
	assert_true(atomic_load(&r.header->limits_generation) == gen + 1);
	assert_int_equal(vxpu_admit_reserve(&r, s, 0, 1), VXPU_ADMIT_OVER_LIMIT);
	vxpu_admit_release(&r, s, 0, 3 * VXPU_MIB);
	assert_int_equal(vxpu_admit_reserve(&r, s, 0, VXPU_MIB), VXPU_ADMIT_OK);
	vxpu_region_close(&r);
}

struct delayed_store {
	_Atomic uint64_t *word;
	uint64_t value;
	int delay_ms;
};

static void *store_later(void *arg)
{
	struct delayed_store *d = arg;
	usleep((useconds_t)d->delay_ms * 1000);
	atomic_store(d->word, d->value);
	return NULL;
}

static void test_lower_slot_waits_for_higher_pending(void **state)
{
	(void)state;
	struct vxpu_region low, high;
	open_limited(&low, 10 * VXPU_MIB);
	open_limited(&high, 10 * VXPU_MIB);
	unsigned sl = (unsigned)vxpu_region_claim(&low, 1, NULL);
	unsigned sh = (unsigned)vxpu_region_claim(&high, 2, NULL);
	assert_true(sl < sh);
	/* A higher slot is in the middle of reserving 6 MiB... */
	atomic_store(&high.slots[sh].memory[0].reserve, 6 * VXPU_MIB);
	/* ...and withdraws 5 ms later (its allocation failed). */
	struct delayed_store d = {&high.slots[sh].memory[0].reserve, 0, 5};
	pthread_t t;
	pthread_create(&t, NULL, store_later, &d);
	/* The lower slot waits instead of failing spuriously. */
	assert_int_equal(vxpu_admit_reserve(&low, sl, 0, 6 * VXPU_MIB), VXPU_ADMIT_OK);
	pthread_join(t, NULL);
	vxpu_region_close(&high);
	vxpu_region_close(&low);
}

static void test_higher_slot_steps_aside_and_waits_bounded(void **state)
{
	(void)state;
	struct vxpu_region low, high;
	open_limited(&low, 10 * VXPU_MIB);
	open_limited(&high, 10 * VXPU_MIB);
	unsigned sl = (unsigned)vxpu_region_claim(&low, 1, NULL);
	unsigned sh = (unsigned)vxpu_region_claim(&high, 2, NULL);
	/* The lower slot's reservation never settles (a stalled process). */
	atomic_store(&low.slots[sl].memory[0].reserve, 6 * VXPU_MIB);
	int64_t t0 = now_ns();
	assert_int_equal(vxpu_admit_reserve(&high, sh, 0, 6 * VXPU_MIB), VXPU_ADMIT_CONTENDED);
	int64_t waited = now_ns() - t0;
	assert_true(waited >= VXPU_ADMIT_WAIT_NS);
	assert_true(waited < 20 * VXPU_ADMIT_WAIT_NS);
	/* Nothing of ours stays reserved. */
	assert_true(atomic_load(&high.slots[sh].memory[0].reserve) == 0);
	/* When it settles, the higher slot gets in. */
	atomic_store(&low.slots[sl].memory[0].reserve, 0);
	assert_int_equal(vxpu_admit_reserve(&high, sh, 0, 6 * VXPU_MIB), VXPU_ADMIT_OK);
	vxpu_region_close(&high);
	vxpu_region_close(&low);
}

static void test_dead_pending_reservation_reclaimed(void **state)
{
	(void)state;
	struct vxpu_region low, high;
	open_limited(&low, 10 * VXPU_MIB);
	open_limited(&high, 10 * VXPU_MIB);
	unsigned sl = (unsigned)vxpu_region_claim(&low, 1, NULL);
	unsigned sh = (unsigned)vxpu_region_claim(&high, 2, NULL);
	atomic_store(&low.slots[sl].memory[0].reserve, 6 * VXPU_MIB);
	vxpu_region_close(&low); /* killed between reserve and commit */
	int64_t t0 = now_ns();
	assert_int_equal(vxpu_admit_reserve(&high, sh, 0, 6 * VXPU_MIB), VXPU_ADMIT_OK);
	assert_true(now_ns() - t0 < 100LL * 1000 * 1000);
	vxpu_region_close(&high);
}

#define STRESS_THREADS 4
#define STRESS_OPS 3000
#define STRESS_LIMIT (64 * VXPU_MIB)

/*
 * `device` stands for the driver's own accounting: a worker adds to it only
 * after its reservation was admitted (the real allocation) and subtracts
 * before releasing (the real free). Its value can never pass the limit.
 */
struct stress {
	_Atomic uint64_t device;
	_Atomic uint64_t peak;
	_Atomic int violations;
	_Atomic uint64_t granted;
};

struct stress_worker {
	struct stress *s;
	unsigned seed;
};

static void *stress_run(void *arg)
{
	struct stress_worker *w = arg;
	struct stress *s = w->s;
	struct vxpu_region r;
	char err[256];
	if (vxpu_region_open(&r, path, VXPU_REGION_OPEN_WRITE, NULL, err, sizeof(err)) != 0)
		return (void *)1;
	unsigned slot = (unsigned)vxpu_region_claim(&r, 1, NULL);
	uint64_t held[32] = {0};
	unsigned seed = w->seed;
	for (int op = 0; op < STRESS_OPS; op++) {
		unsigned k = (unsigned)rand_r(&seed) % 32;
		if (held[k]) {
			atomic_fetch_sub(&s->device, held[k]);
			vxpu_admit_release(&r, slot, 0, held[k]);
			held[k] = 0;
			continue;
		}
		uint64_t bytes = ((uint64_t)rand_r(&seed) % 8 + 1) * VXPU_MIB;
		if (vxpu_admit_reserve(&r, slot, 0, bytes) == VXPU_ADMIT_OK) {
			uint64_t now = atomic_fetch_add(&s->device, bytes) + bytes;
			if (now > STRESS_LIMIT)
				atomic_fetch_add(&s->violations, 1);
			uint64_t peak = atomic_load(&s->peak);
			while (now > peak && !atomic_compare_exchange_weak(&s->peak, &peak, now))
				;
			vxpu_admit_commit(&r, slot, 0, bytes, bytes);
			held[k] = bytes;
			atomic_fetch_add(&s->granted, 1);
		}
	}
	for (int k = 0; k < 32; k++) {
		if (held[k]) {
			atomic_fetch_sub(&s->device, held[k]);
			vxpu_admit_release(&r, slot, 0, held[k]);
		}
	}
	vxpu_region_close(&r);
	return NULL;
}

static void test_stress_never_over_limit(void **state)
{
	(void)state;
	struct vxpu_region r;
	open_limited(&r, STRESS_LIMIT);
	struct stress s = {0};
	pthread_t th[STRESS_THREADS];
	struct stress_worker w[STRESS_THREADS];
	for (int i = 0; i < STRESS_THREADS; i++) {
		w[i].s = &s;
		w[i].seed = 1234u + (unsigned)i;
		pthread_create(&th[i], NULL, stress_run, &w[i]);
	}
	for (int i = 0; i < STRESS_THREADS; i++) {
		void *ret;
		pthread_join(th[i], &ret);
		assert_null(ret);
	}
	assert_int_equal(atomic_load(&s.violations), 0);
	assert_true(atomic_load(&s.peak) <= STRESS_LIMIT);
	/* The limit was really contended, not trivially respected. */
	assert_true(atomic_load(&s.peak) > STRESS_LIMIT / 2);
	assert_true(atomic_load(&s.granted) > 0);
	assert_true(vxpu_admit_used(&r, 0) == 0);
	vxpu_region_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_exact_boundary, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unlimited_only_counts, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_limits_across_processes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_live_limit_change, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_lower_slot_waits_for_higher_pending, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_higher_slot_steps_aside_and_waits_bounded,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_dead_pending_reservation_reclaimed, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_stress_never_over_limit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

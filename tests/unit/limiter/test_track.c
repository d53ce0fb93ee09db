/*
 * The per-process tables: put/find/take, a full probe window, tombstones
 * reused without losing later keys, threads putting and taking disjoint
 * keys at once without losing or duplicating one, and threads interning the
 * same keys at once agreeing on one entry per key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include <cmocka.h>

#include "limiter/track.h"

static void test_put_find_take(void **state)
{
	(void)state;
	struct vxpu_track t;
	assert_int_equal(vxpu_track_init(&t, 10), 0);
	assert_int_equal(vxpu_track_put(&t, 0x7f0000001000ULL, 4096, 1, 77), 0);
	struct vxpu_track_entry *e = vxpu_track_find(&t, 0x7f0000001000ULL);
	assert_non_null(e);
	assert_true(atomic_load(&e->bytes) == 4096);
	atomic_fetch_add(&e->aux, 1);
	uint64_t bytes, device, aux;
	assert_false(vxpu_track_take(&t, 0x7f0000002000ULL, &bytes, &device, &aux));
	assert_true(vxpu_track_take(&t, 0x7f0000001000ULL, &bytes, &device, &aux));
	assert_true(bytes == 4096 && device == 1 && aux == 78);
	assert_false(vxpu_track_take(&t, 0x7f0000001000ULL, &bytes, &device, &aux));
	assert_null(vxpu_track_find(&t, 0x7f0000001000ULL));
	vxpu_track_fini(&t);
}

static void test_window_full_and_tombstones(void **state)
{
	(void)state;
	struct vxpu_track t;
	assert_int_equal(vxpu_track_init(&t, 6), 0); /* 64 entries: the whole table is one window */
	for (uint64_t k = 1; k <= 64; k++)
		assert_int_equal(vxpu_track_put(&t, k << 12, k, 0, 0), 0);
	assert_int_equal(vxpu_track_put(&t, 65 << 12, 65, 0, 0), -1);
	/* Every key is still found, wherever the probe placed it. */
	for (uint64_t k = 1; k <= 64; k++)
		assert_non_null(vxpu_track_find(&t, k << 12));
	uint64_t bytes;
	assert_true(vxpu_track_take(&t, 10 << 12, &bytes, NULL, NULL));
	assert_true(bytes == 10);
	/* The tombstone is reused, and keys placed after it stay reachable. */
	assert_int_equal(vxpu_track_put(&t, 65 << 12, 65, 0, 0), 0);
	for (uint64_t k = 1; k <= 65; k++)
		if (k != 10)
			assert_non_null(vxpu_track_find(&t, k << 12));
	vxpu_track_fini(&t);
}

struct worker {
	struct vxpu_track *t;
	uint64_t base;
	int lost;
};

static void *churn(void *arg)
{
	struct worker *w = arg;
	for (int round = 0; round < 200; round++) {
		for (uint64_t i = 0; i < 100; i++)
			if (vxpu_track_put(w->t, (w->base + i) << 8, i + 1, 0, 0) != 0)
				w->lost++;
		for (uint64_t i = 0; i < 100; i++) {
			uint64_t bytes = 0;
			if (!vxpu_track_take(w->t, (w->base + i) << 8, &bytes, NULL, NULL) ||
			    bytes != i + 1)
				w->lost++;
		}
	}
	return NULL;
}

static void test_concurrent_disjoint_keys(void **state)
{
	(void)state;
	struct vxpu_track t;
	assert_int_equal(vxpu_track_init(&t, 12), 0);
	pthread_t th[4];
	struct worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){&t, (uint64_t)(i + 1) * 1000000, 0};
		pthread_create(&th[i], NULL, churn, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].lost, 0);
	}
	vxpu_track_fini(&t);
}

struct intern_worker {
	struct vxpu_track *t;
	struct vxpu_track_entry *seen[64];
};

static void *intern_all(void *arg)
{
	struct intern_worker *w = arg;
	for (uint64_t k = 0; k < 64; k++)
		w->seen[k] = vxpu_track_intern(w->t, (k + 1) << 16, k);
	return NULL;
}

static void test_intern_agrees_without_a_lock(void **state)
{
	(void)state;
	struct vxpu_track t;
	assert_int_equal(vxpu_track_init(&t, 10), 0);
	pthread_t th[4];
	struct intern_worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i].t = &t;
		pthread_create(&th[i], NULL, intern_all, &w[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (uint64_t k = 0; k < 64; k++) {
		assert_non_null(w[0].seen[k]);
		for (int i = 1; i < 4; i++)
			assert_ptr_equal(w[i].seen[k], w[0].seen[k]);
		assert_ptr_equal(vxpu_track_find(&t, (k + 1) << 16), w[0].seen[k]);
		assert_true(atomic_load(&w[0].seen[k]->device) == k);
	}
	vxpu_track_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_put_find_take),
	        cmocka_unit_test(test_window_full_and_tombstones),
	        cmocka_unit_test(test_concurrent_disjoint_keys),
	        cmocka_unit_test(test_intern_agrees_without_a_lock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

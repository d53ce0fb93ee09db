/*
 * The per-device coordination file (src/limiter/devcoord.h): created on
 * demand with its directory, shared by every opener, one entry per opener
 * (entries are told apart by OFD locks, so two opens in one process count
 * as two owners, as two processes would), an entry freed by its owner's
 * close is reused, the high summary only moves forward and tracks the
 * launch rhythm, a wait returns at its deadline or at a high launch, and a
 * file of another layout is refused.
 */
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

#include "limiter/devcoord.h"
#include "limiter/region.h"

#define MS 1000000ULL

static char dir[256];

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int setup(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/vxpu-devcoord-XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	/* A directory below it that does not exist yet: open creates it. */
	snprintf(dir, sizeof(dir), "%s/devices/sub", tmpl);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strstr(dir, "/devices") - dir), dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_entries_and_summary(void **state)
{
	(void)state;
	struct vxpu_devcoord a, b, c;
	char err[256];
	assert_int_equal(
	        vxpu_devcoord_open(&a, dir, "GPU-x", 100, VXPU_PRIORITY_HIGH, 1, err, sizeof(err)),
	        0);
	assert_int_equal(
	        vxpu_devcoord_open(&b, dir, "GPU-x", 200, VXPU_PRIORITY_LOW, 2, err, sizeof(err)),
	        0);
	assert_true(a.entry >= 0 && b.entry >= 0 && a.entry != b.entry);

	struct vxpu_devcoord_entry live[8];
	assert_int_equal(vxpu_devcoord_live(&a, live, 8), 2);

	/* The summary: launch time, period, device time per launch. */
	uint64_t t = now_ns();
	vxpu_devcoord_high_mark(&a, t, 0, MS);
	vxpu_devcoord_high_mark(&a, t + 5 * MS, t, MS);
	assert_int_equal(atomic_load(&b.header->high_last_ns), t + 5 * MS);
	assert_int_equal(atomic_load(&b.header->high_period_ns), 5 * MS);
	assert_int_equal(atomic_load(&b.header->high_busy_ns), MS);
	/* An older launch (another high process) never moves it back. */
	vxpu_devcoord_high_mark(&b, t + 2 * MS, 0, 0);
	assert_int_equal(atomic_load(&a.header->high_last_ns), t + 5 * MS);

	/* A wait ends at its deadline when nothing happens... */
	uint32_t seq = atomic_load(&b.header->high_seq);
	uint64_t before = now_ns();
	vxpu_devcoord_wait(&b, seq, before, before + 20 * MS);
	uint64_t waited = now_ns() - before;
	assert_true(waited >= 19 * MS);
	/* ...and at once when a high launch happened since seq was read. */
	vxpu_devcoord_high_wake(&a);
	before = now_ns();
	vxpu_devcoord_wait(&b, seq, before, before + 2000 * MS);
	assert_true(now_ns() - before < 1000 * MS);

	/* A closed owner's entry is free for the next opener. */
	int freed = b.entry;
	vxpu_devcoord_close(&b);
	assert_int_equal(vxpu_devcoord_live(&a, live, 8), 1);
	assert_int_equal(vxpu_devcoord_open(&c, dir, "GPU-x", 300, VXPU_PRIORITY_NORMAL, 3, err,
	                                    sizeof(err)),
	                 0);
	assert_int_equal(c.entry, freed);
	/* The summary survived: it lives in the file. */
	assert_int_equal(atomic_load(&c.header->high_last_ns), t + 5 * MS);
	vxpu_devcoord_close(&c);
	vxpu_devcoord_close(&a);
}

static void test_foreign_file_refused(void **state)
{
	(void)state;
	struct vxpu_devcoord a;
	char err[256], path[512];
	snprintf(path, sizeof(path), "%s/GPU-y.coord", dir);
	assert_int_equal(
	        vxpu_devcoord_open(&a, dir, "GPU-y", 1, VXPU_PRIORITY_HIGH, 1, err, sizeof(err)),
	        0);
	a.header->version = 2; /* a later layout */
	vxpu_devcoord_close(&a);
	assert_int_equal(
	        vxpu_devcoord_open(&a, dir, "GPU-y", 1, VXPU_PRIORITY_HIGH, 1, err, sizeof(err)),
	        -1);
	assert_non_null(strstr(err, "layout version 1"));
	assert_non_null(strstr(err, path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_entries_and_summary),
	        cmocka_unit_test(test_foreign_file_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * The shared machine state, across real processes: capacity enforced over
 * two processes, the exact reclaim of a SIGKILLed process's slot, the
 * peak counter, the timeline's serialisation and busy accounting, events
 * reaching a waiter in another process, and the refusal of a state file
 * made for another configuration. Each test uses its own state file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/size.h"
#include "sim/simstate.h"

static char path[128];
static struct vxpu_sim_config cfg;

static int setup(void **state)
{
	(void)state;
	static int n;
	snprintf(path, sizeof(path), "/dev/shm/vxpu-simstate-test-%d-%d", (int)getpid(), n++);
	unlink(path);
	vxpu_sim_config_default(&cfg);
	cfg.devices[0].memory = VXPU_GIB;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void open_ok(struct vxpu_sim_state *st)
{
	char err[512] = "";
	if (vxpu_sim_open(st, &cfg, path, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
}

/* Forks a child that claims a slot, charges `bytes` on device 0, reports on
 * the pipe and then sleeps until killed. */
static pid_t holder(uint64_t bytes)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vxpu_sim_state st;
		char err[512];
		close(fds[0]);
		if (vxpu_sim_open(&st, &cfg, path, err, sizeof(err)) != 0 ||
		    vxpu_sim_slot_claim(&st) != 0)
			_exit(2);
		char ok = vxpu_sim_mem_charge(&st, 0, bytes) == 0 ? 'y' : 'n';
		vxpu_sim_ctx_add(&st, 0, 1);
		if (write(fds[1], &ok, 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	close(fds[1]);
	char c = 0;
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	assert_int_equal(c, 'y');
	return pid;
}

static void reap_child(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_capacity_across_processes(void **state)
{
	(void)state;
	pid_t a = holder(700 * VXPU_MIB);
	struct vxpu_sim_state st;
	open_ok(&st);
	assert_int_equal(vxpu_sim_slot_claim(&st), 0);
	assert_int_equal(vxpu_sim_mem_charge(&st, 0, 400 * VXPU_MIB), -1); /* 1100 > 1024 */
	assert_int_equal(vxpu_sim_mem_charge(&st, 0, 324 * VXPU_MIB), 0);  /* exactly full */
	assert_int_equal(vxpu_sim_mem_charge(&st, 0, 1), -1);
	assert_true(vxpu_sim_mem_used(&st, 0) == VXPU_GIB);

	struct vxpu_sim_proc procs[8];
	assert_int_equal(vxpu_sim_procs(&st, 0, procs, 8), 2);
	uint64_t seen = 0;
	for (int i = 0; i < 2; i++)
		seen += procs[i].used;
	assert_true(seen == VXPU_GIB);

	vxpu_sim_mem_uncharge(&st, 0, 324 * VXPU_MIB);
	assert_true(vxpu_sim_mem_used(&st, 0) == 700 * VXPU_MIB);
	reap_child(a);
	vxpu_sim_close(&st);
}

static void test_sigkill_reclaims(void **state)
{
	(void)state;
	pid_t a = holder(VXPU_GIB);
	struct vxpu_sim_state st;
	open_ok(&st); /* no slot: an observer, like NVML */
	assert_true(vxpu_sim_mem_used(&st, 0) == VXPU_GIB);
	assert_int_equal(vxpu_sim_reap(&st), 0); /* alive: nothing to take */
	reap_child(a);
	uint64_t t0 = vxpu_sim_now_ns();
	assert_int_equal(vxpu_sim_reap(&st), 1);
	assert_true(vxpu_sim_now_ns() - t0 < 100000000ULL);
	assert_true(vxpu_sim_mem_used(&st, 0) == 0);
	struct vxpu_sim_proc procs[4];
	assert_int_equal(vxpu_sim_procs(&st, 0, procs, 4), 0);
	/* The peak remembers; a reset brings it to the current use. */
	assert_true(vxpu_sim_mem_peak(&st, 0) == VXPU_GIB);
	vxpu_sim_mem_peak_reset(&st, 0);
	assert_true(vxpu_sim_mem_peak(&st, 0) == 0);
	vxpu_sim_close(&st);
}

static void test_full_card_reaps_before_failing(void **state)
{
	(void)state;
	pid_t a = holder(VXPU_GIB);
	struct vxpu_sim_state st;
	open_ok(&st);
	assert_int_equal(vxpu_sim_slot_claim(&st), 0);
	assert_int_equal(vxpu_sim_mem_charge(&st, 0, 1), -1);
	kill(a, SIGKILL);
	waitpid(a, NULL, 0);
	/* The dead holder is reclaimed by the allocation that needs the room. */
	assert_int_equal(vxpu_sim_mem_charge(&st, 0, VXPU_GIB), 0);
	vxpu_sim_close(&st);
	/* Closing gave it back. */
	open_ok(&st);
	assert_true(vxpu_sim_mem_used(&st, 0) == 0);
	vxpu_sim_close(&st);
}

static void test_timeline(void **state)
{
	(void)state;
	struct vxpu_sim_state st;
	open_ok(&st);
	assert_int_equal(vxpu_sim_slot_claim(&st), 0);
	uint64_t t0 = vxpu_sim_now_ns(), s1, e1, s2, e2, s3, e3;
	vxpu_sim_timeline_reserve(&st, 1, 0, 10000000, &s1, &e1);
	vxpu_sim_timeline_reserve(&st, 1, 0, 20000000, &s2, &e2);
	assert_true(s1 >= t0);
	assert_true(e1 == s1 + 10000000);
	assert_true(s2 == e1); /* one kernel at a time, in launch order */
	assert_true(e2 == s2 + 20000000);
	vxpu_sim_timeline_reserve(&st, 1, e2 + 5000000, 1000000, &s3, &e3);
	assert_true(s3 == e2 + 5000000); /* not before its dependency */
	assert_true(vxpu_sim_busy_total(&st, 1, s1, e3) == 31000000);
	assert_true(vxpu_sim_busy_total(&st, 1, s1 + 5000000, s1 + 15000000) == 10000000);
	assert_true(vxpu_sim_busy_total(&st, 0, s1, e3) == 0); /* other device */
	struct vxpu_sim_busy b[4];
	assert_int_equal(vxpu_sim_busy_by_pid(&st, 1, s1, e3, b, 4), 1);
	assert_int_equal(b[0].pid, getpid());
	assert_true(b[0].busy_ns == 31000000);
	assert_true(vxpu_sim_busy_reserved_self(&st, 1) == 31000000);
	vxpu_sim_close(&st);
}

static void test_events_cross_process(void **state)
{
	(void)state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	struct vxpu_sim_state st;
	open_ok(&st);
	uint64_t head = vxpu_sim_event_head(&st);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vxpu_sim_state cs;
		char err[512];
		close(fds[0]);
		vxpu_sim_forget(&st);
		if (vxpu_sim_open(&cs, &cfg, path, err, sizeof(err)) != 0)
			_exit(2);
		uint64_t cursor = head, kinds[VXPU_SIM_MAX_DEVICES] = {0};
		kinds[1] = VXPU_SIM_EVENT_XID;
		struct vxpu_sim_event ev;
		uint64_t deadline = vxpu_sim_now_ns() + 5000000000ULL;
		while (!vxpu_sim_event_next(&cs, &cursor, 1u << 1, kinds, &ev)) {
			if (vxpu_sim_now_ns() > deadline)
				_exit(4);
			vxpu_sim_event_wait(&cs, cursor, 1000);
		}
		uint64_t at = vxpu_sim_now_ns();
		if (ev.kind != VXPU_SIM_EVENT_XID || ev.data != 43 || ev.device != 1)
			_exit(5);
		if (write(fds[1], &at, sizeof(at)) != sizeof(at))
			_exit(3);
		_exit(0);
	}
	close(fds[1]);
	usleep(100000);                     /* let it sleep on the futex */
	vxpu_sim_inject_xid(&st, 0, 13);    /* another device: filtered out */
	vxpu_sim_inject_ecc(&st, 1, false); /* another kind: filtered out */
	uint64_t sent = vxpu_sim_now_ns();
	vxpu_sim_inject_xid(&st, 1, 43);
	uint64_t got = 0;
	assert_int_equal(read(fds[0], &got, sizeof(got)), sizeof(got));
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(got >= sent);
	assert_true(got - sent < 100000000ULL); /* within 100 ms */
	assert_true(vxpu_sim_ecc_count(&st, 1, true, true) == 1);
	vxpu_sim_inject_ecc(&st, 1, true);
	assert_true(vxpu_sim_ecc_count(&st, 1, false, false) == 1);
	vxpu_sim_set_lost(&st, 1);
	assert_true(vxpu_sim_is_lost(&st, 1));
	vxpu_sim_clear(&st, 1);
	assert_false(vxpu_sim_is_lost(&st, 1));
	assert_true(vxpu_sim_ecc_count(&st, 1, true, true) == 0);  /* volatile cleared */
	assert_true(vxpu_sim_ecc_count(&st, 1, true, false) == 1); /* aggregate kept */
	close(fds[0]);
	vxpu_sim_close(&st);
}

static void test_other_config_refused(void **state)
{
	(void)state;
	struct vxpu_sim_state st;
	open_ok(&st);
	vxpu_sim_close(&st);
	struct vxpu_sim_config other = cfg;
	other.hash ^= 1;
	char err[512] = "";
	assert_int_equal(vxpu_sim_open(&st, &other, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "belongs to another configuration"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_capacity_across_processes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_sigkill_reclaims, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_full_card_reaps_before_failing, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_timeline, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_events_cross_process, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_other_config_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

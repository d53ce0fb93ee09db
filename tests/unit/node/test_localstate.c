/* Local allocation state: rows round-trip, the queue is FIFO and forgets
 * dead owners, and lock-file liveness follows the owner's life exactly. */
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
#include <sqlite3.h>

#include "node/localstate.h"

static sqlite3 *open_db(void)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	for (const char *const *s = vxpu_local_ddl(); *s; s++)
		assert_int_equal(sqlite3_exec(db, *s, NULL, NULL, NULL), SQLITE_OK);
	return db;
}

struct seen {
	int n;
	struct vxpu_local_alloc last;
};

static int remember(const struct vxpu_local_alloc *a, void *p)
{
	struct seen *s = p;
	s->n++;
	s->last = *a;
	return 0;
}

static void test_round_trip(void **state)
{
	(void)state;
	sqlite3 *db = open_db();
	static struct vxpu_local_alloc a;
	memset(&a, 0, sizeof(a));
	snprintf(a.id, sizeof(a.id), "abc123");
	a.owner_pid = 42;
	a.start_ms = 1000;
	snprintf(a.lock_path, sizeof(a.lock_path), "/tmp/x.lock");
	snprintf(a.region_path, sizeof(a.region_path), "/tmp/x.region");
	snprintf(a.tenant, sizeof(a.tenant), "t");
	snprintf(a.project, sizeof(a.project), "p");
	snprintf(a.user, sizeof(a.user), "u");
	snprintf(a.priority, sizeof(a.priority), "high");
	snprintf(a.command, sizeof(a.command), "python train.py");
	a.nshares = 2;
	a.shares[0] = (struct vxpu_local_share){.device_index = 1,
	                                        .device_uuid = "GPU-1",
	                                        .memory_mib = 4096,
	                                        .compute_units = 30,
	                                        .template_index = -1};
	a.shares[1] = (struct vxpu_local_share){.device_index = 3,
	                                        .device_uuid = "GPU-3",
	                                        .memory_mib = 100,
	                                        .compute_units = 100,
	                                        .exclusive = true,
	                                        .template_index = 2};
	char err[256];
	assert_int_equal(vxpu_local_insert(db, &a, err, sizeof(err)), 0);
	static struct seen s;
	memset(&s, 0, sizeof(s));
	assert_int_equal(vxpu_local_each(db, remember, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.last.id, "abc123");
	assert_string_equal(s.last.command, "python train.py");
	assert_string_equal(s.last.priority, "high");
	assert_int_equal(s.last.nshares, 2);
	assert_int_equal(s.last.shares[1].device_index, 3);
	assert_true(s.last.shares[1].exclusive);
	assert_int_equal(s.last.shares[1].template_index, 2);
	assert_int_equal(s.last.shares[0].memory_mib, 4096);
	/* A second insert of the same id is refused. */
	assert_int_equal(vxpu_local_insert(db, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "local state"));
	assert_int_equal(vxpu_local_delete(db, "abc123", err, sizeof(err)), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(vxpu_local_each(db, remember, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 0);
	sqlite3_close(db);
}

static void test_lockfile_liveness(void **state)
{
	(void)state;
	char path[64];
	snprintf(path, sizeof(path), "/tmp/vxpu-test-lock-%d", (int)getpid());
	unlink(path);
	assert_int_equal(vxpu_lockfile_held(path), 0); /* no file: nobody */
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	pid_t child = fork();
	if (child == 0) {
		char err[128];
		int fd = vxpu_lockfile_hold(path, err, sizeof(err));
		(void)!write(pipefd[1], fd >= 0 ? "y" : "n", 1);
		pause();
		_exit(0);
	}
	char c = 0;
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	assert_int_equal(vxpu_lockfile_held(path), 1);
	char err[128];
	assert_int_equal(vxpu_lockfile_hold(path, err, sizeof(err)), -1); /* taken */
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	assert_int_equal(vxpu_lockfile_held(path), 0); /* the kernel let go */
	int fd = vxpu_lockfile_hold(path, err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	close(pipefd[0]);
	close(pipefd[1]);
}

static void test_queue_fifo_and_dead_owners(void **state)
{
	(void)state;
	sqlite3 *db = open_db();
	char live[64], dead[64], err[256];
	snprintf(live, sizeof(live), "/tmp/vxpu-q-live-%d", (int)getpid());
	snprintf(dead, sizeof(dead), "/tmp/vxpu-q-dead-%d", (int)getpid());
	unlink(dead);
	int fd = vxpu_lockfile_hold(live, err, sizeof(err));
	assert_true(fd >= 0);
	int64_t t1, t2, t3;
	assert_int_equal(vxpu_local_queue_push(db, 1, dead, 0, &t1, err, sizeof(err)), 0);
	assert_int_equal(vxpu_local_queue_push(db, 2, live, 0, &t2, err, sizeof(err)), 0);
	assert_int_equal(vxpu_local_queue_push(db, 3, live, 0, &t3, err, sizeof(err)), 0);
	assert_true(t1 < t2 && t2 < t3);
	int64_t head;
	int ahead;
	assert_int_equal(vxpu_local_queue_scan(db, t3, &head, &ahead, err, sizeof(err)), 0);
	assert_int_equal(head, t2); /* the dead ticket t1 is gone */
	assert_int_equal(ahead, 1);
	assert_int_equal(vxpu_local_queue_remove(db, t2, err, sizeof(err)), 0);
	assert_int_equal(vxpu_local_queue_scan(db, t3, &head, &ahead, err, sizeof(err)), 0);
	assert_int_equal(head, t3);
	assert_int_equal(ahead, 0);
	close(fd);
	unlink(live);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_round_trip),
	        cmocka_unit_test(test_lockfile_liveness),
	        cmocka_unit_test(test_queue_fifo_and_dead_owners),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Host PIDs from a fake proc tree: the innermost NSpid, the container's
 * cgroup, the processes that map the region file, strict parsing, ambiguous
 * PIDs left alone, and the pass that writes them into a region. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/hostpid.h"

static char root[128];
static char region_path[192];
static struct stat region_stat;

static void put(const char *pid, const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", root, pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", root, pid, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void proc(const char *pid, const char *nspid_line, const char *cgroup, bool maps_region)
{
	char status[256];
	snprintf(status, sizeof(status),
	         "Name:\tworker\nState:\tS (sleeping)\nTgid:\t%s\n%sPPid:\t1\n", pid, nspid_line);
	put(pid, "status", status);
	put(pid, "cgroup", cgroup);
	char maps[512];
	int n = snprintf(maps, sizeof(maps),
	                 "55d0c0a00000-55d0c0a21000 r--p 00000000 08:01 1234 /usr/bin/worker\n");
	if (maps_region)
		snprintf(maps + n, sizeof(maps) - (size_t)n,
		         "7f0000000000-7f0000088000 rw-s 00000000 %02x:%02x %llu "
		         "/var/run/vxpu/region\n",
		         major(region_stat.st_dev), minor(region_stat.st_dev),
		         (unsigned long long)region_stat.st_ino);
	put(pid, "maps", maps);
}

#define CG_A "0::/kubepods.slice/kubepods-pod11_22.slice/cri-containerd-aaaa.scope\n"
#define CG_A2 "0::/kubepods.slice/kubepods-pod11_22.slice/cri-containerd-a2a2.scope\n"
#define CG_B "0::/kubepods.slice/kubepods-pod33_44.slice/cri-containerd-bbbb.scope\n"

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/vxpu-unit-hostpid-%d", (int)getpid());
	mkdir(root, 0755);
	snprintf(region_path, sizeof(region_path), "%s/region", root);
	struct vxpu_region r;
	char err[256];
	if (vxpu_region_open(&r, region_path, VXPU_REGION_OPEN_CREATE, NULL, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	vxpu_region_close(&r);
	assert_int_equal(stat(region_path, &region_stat), 0);
	/* Container A (cgroup aaaa): PIDs 1 and 7, both using the device. */
	proc("100", "NSpid:\t100\t1\n", "12:memory:/x\n" CG_A, true);
	proc("101", "NSpid:\t101\t7\n", CG_A, true);
	/* Container A2 of the same pod: its own PID 1, not using the device. */
	proc("150", "NSpid:\t150\t1\n", CG_A2, false);
	/* Container B: PID 1 and PID 7. */
	proc("200", "NSpid:\t200\t1\n", CG_B, false);
	proc("201", "NSpid:\t201\t7\n", CG_B, false);
	/* Two processes of container A carrying PID 12 (nested namespaces): ambiguous. */
	proc("500", "NSpid:\t500\t30\t12\n", CG_A, true);
	proc("501", "NSpid:\t501\t31\t12\n", CG_A, true);
	/* Malformed status files: never a PID. */
	proc("300", "NSpid:\t300\tx\n", CG_A, true);
	proc("301", "NSpid:\t301\t0\n", CG_A, true);
	proc("302", "NSpid: 302 8\n", CG_A, true);
	proc("303", "NSpid:\t303\t99999999999\n", CG_A, true);
	proc("304", "", CG_A, true); /* a kernel without NSpid */
	/* A host process (one namespace) and names that are not PIDs. */
	proc("400", "NSpid:\t400\n", "0::/system.slice/sshd.service\n", false);
	put("self", "status", "NSpid:\t1\n");
	put("0123", "status", "NSpid:\t1\n");
	/* A process that vanished: its directory is empty. */
	char path[256];
	snprintf(path, sizeof(path), "%s/600", root);
	mkdir(path, 0755);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_scan_by_cgroup(void **state)
{
	(void)state;
	struct vxpu_hostpid_filter f = {.proc_root = root, .cgroup = "cri-containerd-aaaa"};
	struct vxpu_hostpid got[16];
	size_t n = 0;
	char err[256];
	assert_int_equal(vxpu_hostpid_scan(&f, got, 16, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	static const struct vxpu_hostpid want[] = {{1, 100}, {7, 101}, {12, 500}, {12, 501}};
	assert_memory_equal(got, want, sizeof(want));
	assert_int_equal(vxpu_hostpid_lookup(got, n, 1), 100);
	assert_int_equal(vxpu_hostpid_lookup(got, n, 7), 101);
	assert_int_equal(vxpu_hostpid_lookup(got, n, 12), -1);
	assert_int_equal(vxpu_hostpid_lookup(got, n, 8), 0);
	assert_int_equal(vxpu_hostpid_lookup(got, n, 99), 0);
	assert_int_equal(vxpu_hostpid_lookup(got, 0, 1), 0);

	/* A pod-wide cgroup text sees both containers' PID 1: ambiguous. */
	f.cgroup = "kubepods-pod11_22";
	assert_int_equal(vxpu_hostpid_scan(&f, got, 16, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 5);
	assert_int_equal(vxpu_hostpid_lookup(got, n, 1), -1);
	/* ... and the region mapping resolves it. */
	f.by_mapping = true;
	f.map_dev = region_stat.st_dev;
	f.map_ino = region_stat.st_ino;
	assert_int_equal(vxpu_hostpid_scan(&f, got, 16, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	assert_int_equal(vxpu_hostpid_lookup(got, n, 1), 100);

	/* No filter: every parseable process; cap bounds what is stored, not the count. */
	struct vxpu_hostpid_filter all = {.proc_root = root};
	assert_int_equal(vxpu_hostpid_scan(&all, got, 2, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 8);
	assert_int_equal(got[0].ns_pid, 1);
	assert_int_equal(got[0].host_pid, 100);
	assert_int_equal(got[1].host_pid, 150);
}

static void test_missing_root(void **state)
{
	(void)state;
	struct vxpu_hostpid_filter f = {.proc_root = "/nonexistent-proc"};
	struct vxpu_hostpid got[1];
	size_t n = 77;
	char err[256];
	assert_int_equal(vxpu_hostpid_scan(&f, got, 1, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "cannot read /nonexistent-proc: No such file or directory");
	assert_int_equal(n, 77);
}

static void test_update_region(void **state)
{
	(void)state;
	char err[256];
	/* Each of the container's processes holds its slot through its own open
	 * file (its lock makes it live to the agent's descriptor, and a process
	 * never sees its own lock, so one open file per process as in life). */
	struct vxpu_region owners[5], agent;
	for (int i = 0; i < 5; i++)
		assert_int_equal(vxpu_region_open(&owners[i], region_path, VXPU_REGION_OPEN_WRITE,
		                                  NULL, err, sizeof(err)),
		                 0);
	assert_int_equal(vxpu_region_open(&agent, region_path, VXPU_REGION_OPEN_WRITE, NULL, err,
	                                  sizeof(err)),
	                 0);
	static const int32_t pids[] = {1, 7, 12, 42};
	int slots[4];
	uint32_t gens[4];
	for (int i = 0; i < 4; i++) {
		slots[i] = vxpu_region_claim(&owners[i], pids[i], &gens[i]);
		assert_true(slots[i] >= 0);
	}
	struct vxpu_hostpid_filter f = {
	        .proc_root = root, .cgroup = "kubepods-pod11_22", .by_mapping = true};
	struct vxpu_hostpid_report rep;
	assert_int_equal(vxpu_hostpid_update_region(&agent, &f, &rep, err, sizeof(err)), 0);
	assert_int_equal(rep.written, 2);
	assert_int_equal(rep.ambiguous, 1);
	assert_int_equal(rep.unmatched, 1);
	assert_int_equal(rep.known, 0);
	assert_int_equal(rep.raced, 0);
	assert_int_equal(vxpu_region_host_pid(&agent, (unsigned)slots[0]), 100);
	assert_int_equal(vxpu_region_host_pid(&agent, (unsigned)slots[1]), 101);
	assert_int_equal(vxpu_region_host_pid(&agent, (unsigned)slots[2]), 0);
	assert_int_equal(vxpu_region_host_pid(&agent, (unsigned)slots[3]), 0);

	/* A second pass keeps what it wrote. */
	assert_int_equal(vxpu_hostpid_update_region(&agent, &f, &rep, err, sizeof(err)), 0);
	assert_int_equal(rep.written, 0);
	assert_int_equal(rep.known, 2);

	/* A slot given back and claimed again by another process starts without one. */
	vxpu_region_release(&owners[1], (unsigned)slots[1]);
	uint32_t gen;
	int again = vxpu_region_claim(&owners[4], 7, &gen);
	assert_true(again >= 0);
	assert_int_equal(vxpu_region_host_pid(&agent, (unsigned)again), 0);
	assert_int_equal(vxpu_hostpid_update_region(&agent, &f, &rep, err, sizeof(err)), 0);
	assert_int_equal(rep.written, 1);
	assert_int_equal(vxpu_region_host_pid(&agent, (unsigned)again), 101);

	/* Only the processes that map this region count: none map another file. */
	struct vxpu_region other;
	char other_path[256];
	snprintf(other_path, sizeof(other_path), "%s/other-region", root);
	assert_int_equal(vxpu_region_open(&other, other_path, VXPU_REGION_OPEN_CREATE, NULL, err,
	                                  sizeof(err)),
	                 0);
	struct vxpu_region other_owner;
	assert_int_equal(vxpu_region_open(&other_owner, other_path, VXPU_REGION_OPEN_WRITE, NULL,
	                                  err, sizeof(err)),
	                 0);
	assert_true(vxpu_region_claim(&other_owner, 1, &gen) >= 0);
	assert_int_equal(vxpu_hostpid_update_region(&other, &f, &rep, err, sizeof(err)), 0);
	assert_int_equal(rep.written, 0);
	assert_int_equal(rep.unmatched, 1);

	/* An unreadable proc root is an error and writes nothing. */
	f.proc_root = "/nonexistent-proc";
	vxpu_region_release(&owners[0], (unsigned)slots[0]);
	assert_true(vxpu_region_claim(&owners[0], 1, &gen) >= 0);
	assert_int_equal(vxpu_hostpid_update_region(&agent, &f, &rep, err, sizeof(err)), -1);
	assert_string_equal(err, "cannot read /nonexistent-proc: No such file or directory");
	vxpu_region_close(&other_owner);
	vxpu_region_close(&other);
	vxpu_region_close(&agent);
	for (int i = 0; i < 5; i++)
		vxpu_region_close(&owners[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_scan_by_cgroup),
	        cmocka_unit_test(test_missing_root),
	        cmocka_unit_test(test_update_region),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

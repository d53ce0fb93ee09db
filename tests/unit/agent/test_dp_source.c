/* Allocate's pod lookup from a lease and annotation folder: the lease
 * holder's containers in kubelet's order (init first), a retry gets the
 * same container for the same pod only, the lease is released when the
 * pod is consumed, and every failure names the pod and the cause. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kube/deviceplugin_source.h"

static char dir[128];

static void write_file(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static bool exists(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

#define DEV(id, idx)                                                                               \
	"{\"id\":\"" id "\",\"index\":" #idx ",\"vendor\":\"nvidia\",\"model\":\"A100\","          \
	"\"memoryMiB\":1024,\"computeUnits\":0,\"computePercent\":0,\"template\":\"\","            \
	"\"exclusive\":false}"

static void write_pod(const char *pod, const char *containers)
{
	char text[4096], name[128];
	snprintf(text, sizeof(text),
	         "{\"version\":1,\"node\":\"n\",\"namespace\":\"ns\",\"pod\":\"%s\",\"project\":"
	         "\"\","
	         "\"allocatedAt\":\"2026-11-28T11:47:49.000Z\",\"nodePolicy\":\"binpack\","
	         "\"devicePolicy\":\"binpack\",\"cpuMilli\":0,\"memoryMiB\":0,\"containers\":[%s]}",
	         pod, containers);
	snprintf(name, sizeof(name), "ns_%s.json", pod);
	write_file(name, text);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/vxpu-unit-dpsource-%d", (int)getpid());
	return mkdir(dir, 0755);
}

static int teardown(void **state)
{
	(void)state;
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct vxpu_pod_allocation alloc;

static int lookup(struct vxpu_dp_files *f, const char *a, const char *b, unsigned *container,
                  char *err, size_t errlen)
{
	const char *ids[2] = {a, b};
	return vxpu_dp_files_lookup(f, ids, b ? 2 : 1, &alloc, container, err, errlen);
}

static void test_containers_in_kubelet_order(void **state)
{
	(void)state;
	static struct vxpu_dp_files f;
	vxpu_dp_files_init(&f, dir);
	write_pod("train",
	          "{\"name\":\"main\",\"kind\":\"app\",\"priority\":1,\"devices\":[" DEV(
	                  "G0", 0) "," DEV("G1",
	                                   1) "]},"
	                                      "{\"name\":\"side\",\"kind\":\"app\",\"priority\":1,"
	                                      "\"devices\":[" DEV(
	                                              "G0",
	                                              0) "]},"
	                                                 "{\"name\":\"fetch\",\"kind\":\"init\","
	                                                 "\"priority\":1,\"devices\":[" DEV(
	                                                         "G1", 1) "]}");
	write_file("lease", "ns/train\n");
	unsigned c = 99;
	char err[512] = "";
	/* One device: the init container first, then the app container "side". */
	assert_int_equal(lookup(&f, "G1::0", NULL, &c, err, sizeof(err)), 0);
	assert_string_equal(alloc.containers[c].name, "fetch");
	assert_int_equal(lookup(&f, "G1::0", NULL, &c, err, sizeof(err)), 0); /* a retry */
	assert_string_equal(alloc.containers[c].name, "fetch");
	assert_int_equal(lookup(&f, "G0::3", NULL, &c, err, sizeof(err)), 0);
	assert_string_equal(alloc.containers[c].name, "side");
	assert_int_equal(lookup(&f, "G0::4", NULL, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "pod ns/train has no container left to allocate with 1 device");
	assert_true(exists("lease"));
	/* Two devices: "main", the last one: consumed, lease released. */
	assert_int_equal(lookup(&f, "G1::2", "G0::1", &c, err, sizeof(err)), 0);
	assert_string_equal(alloc.containers[c].name, "main");
	assert_false(exists("lease"));
	/* Retries after the release, in any ID order, still answer. */
	assert_int_equal(lookup(&f, "G0::1", "G1::2", &c, err, sizeof(err)), 0);
	assert_string_equal(alloc.containers[c].name, "main");
	assert_string_equal(alloc.pod, "train");
	/* Unknown IDs without a lease: no pod. */
	assert_int_equal(lookup(&f, "G0::9", NULL, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no pod holds this node's allocation lease"));

	/* The next pod gets the same IDs from kubelet: its own answer, not the old one. */
	write_pod("next", "{\"name\":\"solo\",\"kind\":\"app\",\"priority\":0,\"devices\":[" DEV(
	                          "G1", 1) "]}");
	write_file("lease", "ns/next");
	assert_int_equal(lookup(&f, "G1::0", NULL, &c, err, sizeof(err)), 0);
	assert_string_equal(alloc.pod, "next");
	assert_string_equal(alloc.containers[c].name, "solo");
	assert_false(exists("lease"));
}

static void test_errors(void **state)
{
	(void)state;
	static struct vxpu_dp_files f;
	vxpu_dp_files_init(&f, dir);
	unsigned c = 99;
	char err[512] = "";
	const char *none[1] = {NULL};
	assert_int_equal(vxpu_dp_files_lookup(&f, none, 0, &alloc, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "the container request names no devices");
	static const char *const bad_leases[] = {"ns",    "/pod",    "ns/",
	                                         "a/b/c", "ns/po_d", "ns/a\nb"};
	for (size_t i = 0; i < sizeof(bad_leases) / sizeof(bad_leases[0]); i++) {
		write_file("lease", bad_leases[i]);
		assert_int_equal(lookup(&f, "X::0", NULL, &c, err, sizeof(err)), -1);
		if (!strstr(err, "is not NAMESPACE/POD"))
			fail_msg("lease \"%s\": %s", bad_leases[i], err);
	}
	write_file("lease", "ns/ghost");
	assert_int_equal(lookup(&f, "X::0", NULL, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pod ns/ghost has no allocation annotation"));
	write_file("ns_broken.json", "{\"version\":2}");
	write_file("lease", "ns/broken");
	assert_int_equal(lookup(&f, "X::0", NULL, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pod ns/broken: allocation annotation: "));
	/* An annotation for another pod than its file says. */
	write_pod("other", "{\"name\":\"m\",\"kind\":\"app\",\"priority\":0,\"devices\":[" DEV(
	                           "G1", 1) "]}");
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cp '%s/ns_other.json' '%s/ns_impostor.json'", dir, dir);
	assert_int_equal(system(cmd), 0);
	write_file("lease", "ns/impostor");
	assert_int_equal(lookup(&f, "X::0", NULL, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "pod ns/impostor: allocation annotation is for ns/other");
	assert_true(exists("lease")); /* nothing consumed */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_containers_in_kubelet_order),
	        cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

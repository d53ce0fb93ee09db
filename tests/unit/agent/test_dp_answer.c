/* The Allocate answer for one container, from a decoded allocation
 * annotation: exact environment, mounts and device nodes; the same answer
 * every time; virtual device IDs and their strict parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kube/deviceplugin_answer.h"

static const char *const annotation =
        "{\"version\":1,\"node\":\"gpu-1\",\"namespace\":\"team-a\",\"pod\":\"infer-0\","
        "\"project\":\"p\","
        "\"allocatedAt\":\"2026-11-28T11:47:49.000Z\",\"nodePolicy\":\"binpack\",\"devicePolicy\":"
        "\"topology\","
        "\"cpuMilli\":0,\"memoryMiB\":0,\"containers\":["
        "{\"name\":\"main\",\"kind\":\"app\",\"priority\":0,\"devices\":["
        "{\"id\":\"GPU-aaaa\",\"index\":3,\"vendor\":\"nvidia\",\"model\":\"A100\",\"memoryMiB\":"
        "4096,"
        "\"computeUnits\":30,\"computePercent\":30,\"template\":\"\",\"exclusive\":false},"
        "{\"id\":\"GPU-bbbb\",\"index\":1,\"vendor\":\"nvidia\",\"model\":\"A100\",\"memoryMiB\":"
        "2048,"
        "\"computeUnits\":0,\"computePercent\":0,\"template\":\"\",\"exclusive\":false}]},"
        "{\"name\":\"side\",\"kind\":\"app\",\"priority\":1,\"devices\":["
        "{\"id\":\"NPU-0\",\"index\":0,\"vendor\":\"huawei\",\"model\":\"Ascend910B4\","
        "\"memoryMiB\":8192,"
        "\"computeUnits\":5,\"computePercent\":25,\"template\":\"vir05_1c_8g\",\"exclusive\":false}"
        "]}]}";

static struct vxpu_pod_allocation alloc;

static int setup(void **state)
{
	(void)state;
	char err[256];
	if (vxpu_allocation_decode(annotation, &alloc, err, sizeof(err)) != 0) {
		fprintf(stderr, "decode: %s\n", err);
		return -1;
	}
	return 0;
}

static const char *env(const struct vxpu_dp_answer *a, const char *name)
{
	for (unsigned i = 0; i < a->nenv; i++)
		if (strcmp(a->env[i].name, name) == 0)
			return a->env[i].value;
	return NULL;
}

static void test_nvidia_container(void **state)
{
	(void)state;
	struct vxpu_dp_config c;
	vxpu_dp_config_default(&c);
	struct vxpu_dp_answer *a = malloc(sizeof(*a));
	char err[256];
	assert_int_equal(vxpu_dp_answer(&c, &alloc, 0, a, err, sizeof(err)), 0);
	static const char *const want_env[][2] = {
	        {"CUDA_VISIBLE_DEVICES", "GPU-aaaa,GPU-bbbb"},
	        {"NVIDIA_VISIBLE_DEVICES", "GPU-aaaa,GPU-bbbb"},
	        {"VXPU_CORE_LIMIT_0", "30"},
	        {"VXPU_DEVICE_DIR", "/var/run/vxpu-devices"},
	        {"VXPU_MEMORY_LIMIT_0", "4096MiB"},
	        {"VXPU_MEMORY_LIMIT_1", "2048MiB"},
	        {"VXPU_PRIORITY", "high"},
	        {"VXPU_REGION", "/var/run/vxpu/region"},
	};
	assert_int_equal(a->nenv, 8);
	for (unsigned i = 0; i < 8; i++) { /* sorted by name */
		assert_string_equal(a->env[i].name, want_env[i][0]);
		assert_string_equal(a->env[i].value, want_env[i][1]);
	}
	assert_null(env(a, "VXPU_CORE_LIMIT_1")); /* 0 %: best effort, no variable */
	assert_string_equal(a->region_host_dir, "/var/lib/vxpu/containers/team-a_infer-0_main");
	assert_int_equal(a->nmounts, 4);
	assert_string_equal(a->mounts[0].container_path, "/etc/ld.so.preload");
	assert_string_equal(a->mounts[0].host_path, "/var/lib/vxpu/lib/ld.so.preload");
	assert_true(a->mounts[0].read_only);
	assert_string_equal(a->mounts[1].container_path, "/usr/local/vxpu/libvxpu.so");
	assert_true(a->mounts[1].read_only);
	assert_string_equal(a->mounts[2].container_path, "/var/run/vxpu");
	assert_string_equal(a->mounts[2].host_path, "/var/lib/vxpu/containers/team-a_infer-0_main");
	assert_false(a->mounts[2].read_only);
	assert_string_equal(a->mounts[3].container_path, "/var/run/vxpu-devices");
	assert_string_equal(a->mounts[3].host_path, "/var/lib/vxpu/devices");
	static const char *const want_dev[] = {"/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
	                                       "/dev/nvidia1", "/dev/nvidia3", "/dev/nvidiactl"};
	assert_int_equal(a->ndevices, 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_string_equal(a->devices[i].container_path, want_dev[i]);
		assert_string_equal(a->devices[i].host_path, want_dev[i]);
		assert_string_equal(a->devices[i].permissions, "rw");
	}
	/* The same inputs, the same bytes: a retried Allocate gets this answer. */
	struct vxpu_dp_answer *b = malloc(sizeof(*b));
	memset(b, 0x5a, sizeof(*b));
	assert_int_equal(vxpu_dp_answer(&c, &alloc, 0, b, err, sizeof(err)), 0);
	assert_memory_equal(a, b, sizeof(*a));
	free(a);
	free(b);
}

static void test_other_vendor_and_errors(void **state)
{
	(void)state;
	struct vxpu_dp_config c;
	vxpu_dp_config_default(&c);
	struct vxpu_dp_answer *a = malloc(sizeof(*a));
	char err[256];
	assert_int_equal(vxpu_dp_answer(&c, &alloc, 1, a, err, sizeof(err)), 0);
	assert_int_equal(a->ndevices, 0); /* the vendor's runtime exposes its devices */
	assert_string_equal(env(a, "VXPU_PRIORITY"), "low");
	assert_string_equal(env(a, "VXPU_CORE_LIMIT_0"), "25");
	assert_string_equal(env(a, "VXPU_MEMORY_LIMIT_0"), "8192MiB");
	assert_string_equal(env(a, "CUDA_VISIBLE_DEVICES"), "NPU-0");

	assert_int_equal(vxpu_dp_answer(&c, &alloc, 2, a, err, sizeof(err)), -1);
	assert_string_equal(err, "allocation of team-a/infer-0 has no container number 2");
	struct vxpu_pod_allocation empty = alloc;
	empty.containers[0].count = 0;
	assert_int_equal(vxpu_dp_answer(&c, &empty, 0, a, err, sizeof(err)), -1);
	assert_string_equal(
	        err, "container \"main\" of team-a/infer-0 has no devices in its allocation");
	struct vxpu_pod_allocation longer = alloc;
	memset(c.region_root, 'x', sizeof(c.region_root) - 1);
	memset(longer.pod, 'p', sizeof(longer.pod) - 1);
	assert_int_equal(vxpu_dp_answer(&c, &longer, 0, a, err, sizeof(err)), -1);
	assert_string_equal(err, "region directory of container \"main\": path too long");
	free(a);
}

static void test_virtual_ids(void **state)
{
	(void)state;
	char buf[128], card[96];
	unsigned k = 99;
	assert_int_equal(vxpu_dp_virtual_id("GPU-aaaa", 7, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "GPU-aaaa::7");
	assert_int_equal(vxpu_dp_parse_virtual_id(buf, card, sizeof(card), &k), 0);
	assert_string_equal(card, "GPU-aaaa");
	assert_int_equal(k, 7);
	assert_int_equal(vxpu_dp_virtual_id("GPU-aaaa", 7, buf, 8), -1);
	static const char *const bad[] = {"GPU-aaaa",  "::1",     "GPU::",   "GPU::01", "GPU::1024",
	                                  "GPU::1::2", "GPU::-1", "GPU::1x", "GPU:1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		k = 99;
		if (vxpu_dp_parse_virtual_id(bad[i], card, sizeof(card), &k) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(k, 99);
	}
	assert_int_equal(vxpu_dp_parse_virtual_id("GPU-aaaa::0", card, 4, &k), -1);
	assert_int_equal(vxpu_dp_parse_virtual_id("GPU::1023", card, sizeof(card), &k), 0);
	assert_int_equal(k, 1023);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_nvidia_container),
	        cmocka_unit_test(test_other_vendor_and_errors),
	        cmocka_unit_test(test_virtual_ids),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}

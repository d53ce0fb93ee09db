/*
 * The node exposition (src/kube/metrics.h): the exact text for a node with
 * two devices and one allocation, an unknown usage left out, a refused
 * label skipped and counted without losing the rest, and promtool's lint
 * when it is installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kube/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct vxpu_metrics_device devices[] = {
        {.index = 0,
         .uuid = "GPU-0",
         .model = "A100",
         .memory_total_bytes = 85899345920ULL,
         .memory_used_bytes = 1073741824ULL,
         .memory_allocated_bytes = 4294967296ULL,
         .compute_allocated_percent = 25,
         .utilization_percent = 7,
         .healthy = true,
         .allocations = 1},
        {.index = 1,
         .uuid = "GPU-1",
         .model = "A100",
         .memory_total_bytes = 85899345920ULL,
         .healthy = false},
};

static const struct vxpu_metrics_share shares[] = {
        {.device_index = 0,
         .memory_limit_bytes = 4294967296ULL,
         .memory_used_known = true,
         .memory_used_bytes = 536870912ULL,
         .compute_percent = 25},
        {.device_index = 1, .memory_limit_bytes = 1048576, .memory_used_known = false},
};

static const struct vxpu_metrics_allocation allocs[] = {
        {.id = "a1",
         .tenant = "acme",
         .project = "vision",
         .user = "alice",
         .start_ms = 1767607200500LL,
         .nshares = 2,
         .shares = shares},
};

static char *render(const struct vxpu_metrics_node *n, unsigned *skipped, char *why, size_t cap)
{
	size_t len = 0;
	char *text = vxpu_metrics_render(n, &len, skipped, why, cap);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	return text;
}

static void test_exact(void **state)
{
	(void)state;
	struct vxpu_metrics_node n = {.node = "host-1",
	                              .version = "0.1.0",
	                              .commit = "abc",
	                              .ndevices = 2,
	                              .devices = devices,
	                              .nallocations = 1,
	                              .allocations = allocs};
	unsigned skipped = 99;
	char why[320];
	char *text = render(&n, &skipped, why, sizeof(why));
	assert_int_equal(skipped, 0);
	assert_string_equal(why, "");
#define DEV(i, u) "{index=\"" #i "\",model=\"A100\",node=\"host-1\",uuid=\"GPU-" #i "\"} " u "\n"
#define ALLOC(i)                                                                                   \
	"{id=\"a1\",index=\"" #i                                                                   \
	"\",node=\"host-1\",project=\"vision\",tenant=\"acme\",user=\"alice\"} "
	assert_string_equal(
	        text,
	        "# HELP vxpu_build_info Version and source commit of the running vxpu; the value "
	        "is always 1.\n"
	        "# TYPE vxpu_build_info gauge\n"
	        "vxpu_build_info{commit=\"abc\",version=\"0.1.0\"} 1\n"
	        "# HELP vxpu_device_memory_total_bytes Physical memory of the device, in bytes.\n"
	        "# TYPE vxpu_device_memory_total_bytes gauge\n"
	        /* Whole numbers print as integers. */
	        "vxpu_device_memory_total_bytes" DEV(
	                0,
	                "85899345920") "vxpu_device_memory_"
	                               "total_bytes" DEV(
	                                       1,
	                                       "85899345920") "# HELP "
	                                                      "vxpu_device_memory_used_bytes "
	                                                      "Memory in use on the device as its "
	                                                      "driver reports it, in bytes.\n"
	                                                      "# TYPE "
	                                                      "vxpu_device_memory_used_bytes "
	                                                      "gauge\n"
	                                                      "vxpu_device_memory_used_bytes" DEV(
	                                                              0,
	                                                              "1073741824") "vxpu_device_"
	                                                                            "memory_used_"
	                                                                            "bytes" DEV(1,
	                                                                                        "0") "# HELP vxpu_device_memory_allocated_bytes Memory of the device promised to vxpu allocations, in bytes.\n"
	                                                                                             "# TYPE vxpu_device_memory_allocated_bytes gauge\n"
	                                                                                             "vxpu_device_memory_allocated_bytes" DEV(0,
	                                                                                                                                      "4294967296") "vxpu_device_memory_allocated_bytes" DEV(1, "0") "# HELP vxpu_device_compute_allocated_percent Compute of the device promised to vxpu allocations, percent of the device.\n"
	                                                                                                                                                                                                     "# TYPE vxpu_device_compute_allocated_percent gauge\n"
	                                                                                                                                                                                                     "vxpu_device_compute_allocated_percent" DEV(0,
	                                                                                                                                                                                                                                                 "25") "vxpu_device_compute_allocated_percent" DEV(1, "0") "# HELP vxpu_device_utilization_percent Share of the last sample period the device was busy, percent.\n"
	                                                                                                                                                                                                                                                                                                           "# TYPE vxpu_device_utilization_percent gauge\n"
	                                                                                                                                                                                                                                                                                                           "vxpu_device_utilization_percent" DEV(0,
	                                                                                                                                                                                                                                                                                                                                                 "7") "vxpu_device_utilization_percent" DEV(1,
	                                                                                                                                                                                                                                                                                                                                                                                            "0") "# HELP vxpu_device_healthy 1 when the device is healthy, 0 when it failed.\n"
	                                                                                                                                                                                                                                                                                                                                                                                                 "# TYPE vxpu_device_healthy gauge\n"
	                                                                                                                                                                                                                                                                                                                                                                                                 "vxpu_device_healthy" DEV(0, "1") "vxpu_device_healthy" DEV(
	                                                                                                                                                                                                                                                                                                                                                                                                         1,
	                                                                                                                                                                                                                                                                                                                                                                                                         "0") "# HELP vxpu_device_allocations Number of vxpu allocations holding a share of the device.\n"
	                                                                                                                                                                                                                                                                                                                                                                                                              "# TYPE vxpu_device_allocations gauge\n"
	                                                                                                                                                                                                                                                                                                                                                                                                              "vxpu_device_allocations" DEV(
	                                                                                                                                                                                                                                                                                                                                                                                                                      0, "1") "vxpu_device_allocations" DEV(1, "0") "# HELP vxpu_allocation_memory_limit_bytes Memory share of the allocation on the device (its limit), in bytes.\n"
	                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "# TYPE vxpu_allocation_memory_limit_bytes gauge\n"
	                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "vxpu_allocation_memory_limit_bytes" ALLOC(0) "4294967296\n"
	                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "vxpu_allocation_memory_limit_bytes" ALLOC(
	                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                          1) "1048576\n"
	                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             "# HELP vxpu_allocation_memory_used_bytes Device memory charged by the allocation's processes, in bytes.\n"
	                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             "# TYPE vxpu_allocation_memory_used_bytes gauge\n"
	                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             "vxpu_allocation_memory_used_bytes" ALLOC(
	                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                     0) "536870912\n"
	                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "# HELP vxpu_allocation_compute_percent Compute share of the allocation on the device, percent of the device (0: none reserved).\n"
	                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "# TYPE vxpu_allocation_compute_percent gauge\n"
	                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "vxpu_allocation_compute_percent" ALLOC(0) "25\n"
	                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                   "vxpu_allocation_compute_percent" ALLOC(
	                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                           1) "0\n"
	                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              "# HELP vxpu_allocation_start_time_seconds When the allocation started, in seconds since the Unix epoch.\n"
	                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              "# TYPE vxpu_allocation_start_time_seconds gauge\n"
	                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              "vxpu_allocation_start_time_seconds{id=\"a1\",node=\"host-1\",project=\"vision\",tenant=\"acme\",user=\"alice\"} 1767607200.5\n");
#undef DEV
#undef ALLOC
	free(text);
}

/* An empty node still exposes build info and every family's header. */
static void test_empty_node(void **state)
{
	(void)state;
	struct vxpu_metrics_node n = {.node = "h", .version = "v", .commit = "c"};
	unsigned skipped = 1;
	char *text = render(&n, &skipped, NULL, 0);
	assert_int_equal(skipped, 0);
	assert_non_null(strstr(text, "vxpu_build_info{commit=\"c\",version=\"v\"} 1\n"));
	assert_non_null(strstr(text, "# TYPE vxpu_device_healthy gauge\n"));
	assert_non_null(strstr(text, "# TYPE vxpu_allocation_start_time_seconds gauge\n"));
	free(text);
}

/* A model that is not UTF-8 loses its device's samples, nothing else. */
static void test_refused_label(void **state)
{
	(void)state;
	struct vxpu_metrics_device bad[2];
	memcpy(bad, devices, sizeof(bad));
	bad[1].model = "A\xff";
	struct vxpu_metrics_node n = {.node = "host-1",
	                              .version = "0.1.0",
	                              .commit = "abc",
	                              .ndevices = 2,
	                              .devices = bad,
	                              .nallocations = 1,
	                              .allocations = allocs};
	unsigned skipped = 0;
	char why[320];
	char *text = render(&n, &skipped, why, sizeof(why));
	assert_int_equal(skipped, 7); /* one sample in each device family */
	assert_non_null(strstr(why, "model"));
	assert_null(strstr(text, "GPU-1\""));
	assert_non_null(strstr(text, "vxpu_device_healthy{index=\"0\",model=\"A100\",node=\"host-"
	                             "1\",uuid=\"GPU-0\"} 1\n"));
	assert_non_null(strstr(text, "vxpu_allocation_start_time_seconds{"));
	free(text);
}

static void test_promtool(void **state)
{
	(void)state;
	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		skip();
		return;
	}
	struct vxpu_metrics_node n = {.node = "host-1",
	                              .version = "0.1.0",
	                              .commit = "abc",
	                              .ndevices = 2,
	                              .devices = devices,
	                              .nallocations = 1,
	                              .allocations = allocs};
	char *text = render(&n, NULL, NULL, 0);
	char path[] = "/tmp/vxpu-test-metrics-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
	int rc = system(cmd);
	unlink(path);
	free(text);
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_exact),
	        cmocka_unit_test(test_empty_node),
	        cmocka_unit_test(test_refused_label),
	        cmocka_unit_test(test_promtool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Requests: defaults, validation, resource quantities and annotations. */
#include "fixtures.h"

#include "core/match.h"

#include <stdlib.h>
#include <string.h>

static char err[512];

static void defaults_fill_count_memory_priority_and_exclusivity(void **state)
{
	(void)state;
	struct vxpu_pod_request *pod = fx_pod("d", 0, 2048, 0, 0);
	struct vxpu_container_request *c = &pod->containers[0];
	struct vxpu_container_request *none =
	        vxpu_pod_request_add_container(pod, "sidecar", VXPU_CONTAINER_APP);
	struct vxpu_container_request *ex =
	        vxpu_pod_request_add_container(pod, "solo", VXPU_CONTAINER_APP);
	ex->exclusive = true;
	struct vxpu_container_request *full =
	        vxpu_pod_request_add_container(pod, "full", VXPU_CONTAINER_APP);
	full->compute_percent = 100;
	fx_normalize(pod);
	assert_int_equal(c->count, 1); /* memory given, count not: one device */
	assert_int_equal(c->memory_mib, 2048);
	assert_int_equal(c->memory_percent, 0);
	assert_int_equal(c->compute_percent, 0); /* nothing reserved */
	assert_int_equal(c->priority, 1);
	assert_false(c->exclusive);
	assert_int_equal(none->count, 0); /* no device resource at all */
	assert_int_equal(ex->count, 1);
	assert_int_equal(ex->compute_percent, 100);
	assert_int_equal(ex->memory_percent, 100);
	assert_true(full->exclusive);
	assert_int_equal(vxpu_pod_request_device_count(pod), 3);
	free(pod);
}

static void validation_names_the_container_and_the_value(void **state)
{
	(void)state;
	const struct {
		uint32_t count;
		uint64_t mib;
		uint32_t pct, compute;
		bool exclusive;
		int priority;
		const char *expect;
	} cases[] = {
	        {33, 0, 0, 0, false, -1, "container \"main\": device count 33 exceeds 32"},
	        {1, 1024, 50, 0, false, -1,
	         "memory 1024 MiB and memory percentage 50% are exclusive"},
	        {1, 0, 101, 0, false, -1, "memory percentage 101 is not in 1..100"},
	        {1, 0, 0, 130, false, -1, "compute percentage 130 is not in 0..100"},
	        {1, 0, 0, 30, true, -1, "exclusive use takes 100% compute, not 30%"},
	        {1, 0, 0, 0, false, 2, "priority 2 is not 0 (high) or 1 (low)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vxpu_pod_request *pod =
		        fx_pod("v", cases[i].count, cases[i].mib, cases[i].pct, cases[i].compute);
		pod->containers[0].exclusive = cases[i].exclusive;
		pod->containers[0].priority = cases[i].priority;
		struct vxpu_pod_request copy = *pod;
		assert_int_equal(vxpu_pod_request_normalize(pod, err, sizeof(err)), -1);
		if (!strstr(err, cases[i].expect))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].expect);
		assert_memory_equal(pod, &copy, sizeof(copy));
		free(pod);
	}
	/* More than 64 device shares over all containers. */
	struct vxpu_pod_request *pod = fx_pod("many", 32, 1, 0, 0);
	vxpu_pod_request_add_container(pod, "b", VXPU_CONTAINER_APP)->count = 32;
	vxpu_pod_request_add_container(pod, "c", VXPU_CONTAINER_INIT)->count = 1;
	assert_int_equal(vxpu_pod_request_normalize(pod, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "65 device shares over all containers, at most 64"));
	free(pod);
}

static void resources_are_read_strictly_in_each_vendors_units(void **state)
{
	(void)state;
	const struct vxpu_vendor_table *t = fx_vendors();
	struct vxpu_pod_request *pod = fx_pod("r", 0, 0, 0, 0);
	struct vxpu_container_request *c = &pod->containers[0];
	assert_int_equal(vxpu_container_request_set_resource(t, c, "cpu", "2", err, sizeof(err)),
	                 0);
	assert_int_equal(
	        vxpu_container_request_set_resource(t, c, "nvidia.com/gpu", "2", err, sizeof(err)),
	        1);
	assert_int_equal(vxpu_container_request_set_resource(t, c, "nvidia.com/gpumem", "4096", err,
	                                                     sizeof(err)),
	                 1);
	assert_int_equal(c->memory_mib, 4096);
	assert_int_equal(vxpu_container_request_set_resource(t, c, "nvidia.com/gpumem", "6GiB", err,
	                                                     sizeof(err)),
	                 1);
	assert_int_equal(c->memory_mib, 6144);
	assert_int_equal(vxpu_container_request_set_resource(t, c, "nvidia.com/gpucores", "30", err,
	                                                     sizeof(err)),
	                 1);
	assert_int_equal(c->compute_percent, 30);
	assert_int_equal(vxpu_container_request_set_resource(t, c, "nvidia.com/priority", "0", err,
	                                                     sizeof(err)),
	                 1);
	assert_int_equal(c->priority, 0);
	assert_string_equal(c->family, "nvidia.com/gpu");
	const struct {
		const char *res, *value, *expect;
	} bad[] = {
	        {"nvidia.com/gpu", "-1", "expected a device count in 0..32"},
	        {"nvidia.com/gpu", "1.5", "expected a device count in 0..32"},
	        {"nvidia.com/gpumem", "12abc", "unknown unit \"abc\""},
	        {"nvidia.com/gpumem", "1.5KiB", "not a whole number of MiB"},
	        {"nvidia.com/gpumem-percentage", "0", "must be between 1 and 100"},
	        {"nvidia.com/gpucores", "101", "must be between 1 and 100"},
	        {"nvidia.com/priority", "2", "expected 0 (high) or 1 (low)"},
	        {"huawei.com/Ascend910B4", "1", "one container uses one device family"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vxpu_container_request before = *c;
		assert_int_equal(vxpu_container_request_set_resource(t, c, bad[i].res, bad[i].value,
		                                                     err, sizeof(err)),
		                 -1);
		if (!strstr(err, bad[i].expect))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].expect);
		assert_memory_equal(c, &before, sizeof(before));
	}
	/* Vendor units: Iluvatar counts memory in 256 MiB, MetaX in GiB. */
	struct vxpu_container_request *il =
	        vxpu_pod_request_add_container(pod, "il", VXPU_CONTAINER_APP);
	assert_int_equal(vxpu_container_request_set_resource(t, il, "iluvatar.ai/vcuda-memory",
	                                                     "64", err, sizeof(err)),
	                 1);
	assert_int_equal(il->memory_mib, 16384);
	struct vxpu_container_request *mx =
	        vxpu_pod_request_add_container(pod, "mx", VXPU_CONTAINER_APP);
	assert_int_equal(vxpu_container_request_set_resource(t, mx, "metax-tech.com/vmemory", "4",
	                                                     err, sizeof(err)),
	                 1);
	assert_int_equal(mx->memory_mib, 4096);
	free(pod);
}

static void annotations_select_types_uuids_numa_policies_and_project(void **state)
{
	(void)state;
	struct vxpu_pod_request *pod = fx_pod("a", 1, 1024, 0, 0);
	vxpu_pod_request_add_container(pod, "b", VXPU_CONTAINER_APP)->count = 1;
	assert_int_equal(vxpu_pod_request_set_annotation(pod, "nvidia.com/use-gputype", "A100,H100",
	                                                 err, sizeof(err)),
	                 1);
	assert_int_equal(vxpu_pod_request_set_annotation(pod, "nvidia.com/nouse-gpuuuid", "GPU-1",
	                                                 err, sizeof(err)),
	                 1);
	assert_int_equal(vxpu_pod_request_set_annotation(pod, "nvidia.com/numa-bind", "true", err,
	                                                 sizeof(err)),
	                 1);
	assert_int_equal(vxpu_pod_request_set_annotation(pod, "vxpu.io/device-policy", "topology",
	                                                 err, sizeof(err)),
	                 1);
	assert_int_equal(vxpu_pod_request_set_annotation(pod, "hami.io/node-scheduler-policy",
	                                                 "spread", err, sizeof(err)),
	                 1);
	assert_int_equal(
	        vxpu_pod_request_set_annotation(pod, "vxpu.io/project", "vision", err, sizeof(err)),
	        1);
	assert_int_equal(
	        vxpu_pod_request_set_annotation(pod, "example.com/other", "x", err, sizeof(err)),
	        0);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(pod->containers[i].use_types, "A100,H100");
		assert_string_equal(pod->containers[i].nouse_uuids, "GPU-1");
		assert_true(pod->containers[i].numa_bind);
	}
	assert_int_equal(pod->device_policy, VXPU_POLICY_TOPOLOGY);
	assert_int_equal(pod->node_policy, VXPU_POLICY_SPREAD);
	assert_string_equal(pod->project, "vision");
	assert_int_equal(vxpu_pod_request_set_annotation(pod, "nvidia.com/numa-bind", "yes", err,
	                                                 sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "nvidia.com/numa-bind=\"yes\": expected true or false"));
	assert_int_equal(vxpu_pod_request_set_annotation(pod, "vxpu.io/node-policy", "best", err,
	                                                 sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "vxpu.io/node-policy=\"best\": unknown policy"));
	char longlist[1024];
	memset(longlist, 'x', sizeof(longlist) - 1);
	longlist[sizeof(longlist) - 1] = '\0';
	assert_int_equal(vxpu_pod_request_set_annotation(pod, "nvidia.com/use-gpuuuid", longlist,
	                                                 err, sizeof(err)),
	                 -1);
	assert_string_equal(pod->containers[0].use_uuids, "");
	free(pod);
}

static void selector_lists_trim_spaces_and_ignore_case(void **state)
{
	(void)state;
	assert_true(vxpu_list_any_substring(" v100 , a100 ", "NVIDIA A100-SXM4"));
	assert_false(vxpu_list_any_substring("V100,,", "NVIDIA A100"));
	assert_false(vxpu_list_any_substring("", "anything"));
	assert_true(vxpu_list_any_equal("GPU-1, gpu-2", "GPU-2"));
	assert_false(vxpu_list_any_equal("GPU-1", "GPU-12"));
	assert_false(vxpu_list_nonempty(" , ,"));
	assert_true(vxpu_name_equal("NVIDIA", "nvidia"));
	assert_false(vxpu_name_equal("nvidia", "nvidia2"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(defaults_fill_count_memory_priority_and_exclusivity),
	        cmocka_unit_test(validation_names_the_container_and_the_value),
	        cmocka_unit_test(resources_are_read_strictly_in_each_vendors_units),
	        cmocka_unit_test(annotations_select_types_uuids_numa_policies_and_project),
	        cmocka_unit_test(selector_lists_trim_spaces_and_ignore_case),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

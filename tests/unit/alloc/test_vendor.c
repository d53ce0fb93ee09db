/* Vendor profiles: the built-in table, lookup, templates, the JSON overlay. */
#include "fixtures.h"

#include <stdlib.h>
#include <string.h>

static char err[512];

static void every_issue_family_has_a_builtin_profile(void **state)
{
	(void)state;
	const struct vxpu_vendor_table *t = fx_vendors();
	const char *names[] = {"nvidia",         "ascend-910a",  "ascend-910b2",  "ascend-910b3",
	                       "ascend-910b4",   "ascend-310p3", "cambricon-mlu", "hygon-dcu",
	                       "kunlunxin-p800", "iluvatar",     "metax",         "mthreads",
	                       "enflame-gcu"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct vxpu_vendor_profile *p = vxpu_vendor_find(t, names[i]);
		assert_non_null(p);
		assert_true(p->resources[VXPU_RESOURCE_COUNT][0] != '\0');
		assert_true(p->memory_unit_mib >= 1 && p->memory_granularity_mib >= 1);
		assert_true(p->max_slices >= 1 && p->compute_units >= 1);
	}
	const struct vxpu_vendor_profile *nv = vxpu_vendor_find(t, "nvidia");
	assert_string_equal(nv->resources[VXPU_RESOURCE_MEMORY], "nvidia.com/gpumem");
	assert_string_equal(nv->resources[VXPU_RESOURCE_MEMORY_PERCENT],
	                    "nvidia.com/gpumem-percentage");
	assert_string_equal(nv->resources[VXPU_RESOURCE_CORES], "nvidia.com/gpucores");
	assert_string_equal(nv->resources[VXPU_RESOURCE_PRIORITY], "nvidia.com/priority");
	assert_true(vxpu_vendor_link_rank(nv, "NVLink") > vxpu_vendor_link_rank(nv, "phb"));
	assert_int_equal(vxpu_vendor_link_rank(nv, "warp-drive"), 0);
}

static void lookup_takes_the_longest_model_match(void **state)
{
	(void)state;
	const struct vxpu_vendor_table *t = fx_vendors();
	assert_string_equal(vxpu_vendor_lookup(t, "Huawei", "Ascend910B4")->name, "ascend-910b4");
	assert_string_equal(vxpu_vendor_lookup(t, "huawei", "Ascend910B3")->name, "ascend-910b3");
	assert_string_equal(vxpu_vendor_lookup(t, "huawei", "Ascend310P3")->name, "ascend-310p3");
	assert_string_equal(vxpu_vendor_lookup(t, "NVIDIA", "NVIDIA H200")->name, "nvidia");
	assert_null(vxpu_vendor_lookup(t, "huawei", "Ascend999"));
	assert_null(vxpu_vendor_lookup(t, "acme", "X1"));
	enum vxpu_resource_kind kind;
	const struct vxpu_vendor_profile *p =
	        vxpu_vendor_by_resource(t, "iluvatar.ai/vcuda-memory", &kind);
	assert_string_equal(p->name, "iluvatar");
	assert_int_equal(kind, VXPU_RESOURCE_MEMORY);
	assert_null(vxpu_vendor_by_resource(t, "cpu", &kind));
}

static void templates_round_up_and_refuse_above_the_largest(void **state)
{
	(void)state;
	const struct vxpu_vendor_profile *p = vxpu_vendor_find(fx_vendors(), "ascend-310p3");
	uint64_t mem;
	uint32_t units;
	int idx;
	assert_int_equal(vxpu_vendor_round_share(p, 1, 0, 24576, 8, &mem, &units, &idx), 0);
	assert_int_equal(mem, 3072);
	assert_int_equal(units, 1);
	assert_string_equal(p->templates[idx].name, "vir01");
	/* Compute counts too: 3 AI cores need vir04 although 3 GiB fits vir01. */
	assert_int_equal(vxpu_vendor_round_share(p, 3000, 3, 24576, 8, &mem, &units, &idx), 0);
	assert_string_equal(p->templates[idx].name, "vir04");
	assert_int_equal(vxpu_vendor_round_share(p, 24576, 0, 24576, 8, &mem, &units, &idx), 0);
	assert_true(p->templates[idx].whole_device);
	assert_int_equal(units, 8);
	assert_int_equal(vxpu_vendor_round_share(p, 24577, 0, 24576, 8, &mem, &units, &idx), -1);
	/* Granularity without templates. */
	const struct vxpu_vendor_profile *mlu = vxpu_vendor_find(fx_vendors(), "cambricon-mlu");
	assert_int_equal(vxpu_vendor_round_share(mlu, 1000, 0, 16384, 100, &mem, &units, &idx), 0);
	assert_int_equal(mem, 1024);
	assert_int_equal(idx, -1);
}

static void json_overrides_fields_and_adds_profiles(void **state)
{
	(void)state;
	struct vxpu_vendor_table *t = malloc(sizeof(*t));
	vxpu_vendor_table_builtin(t);
	uint32_t before = t->count;
	const char *json =
	        "{\"version\":1,\"profiles\":["
	        "{\"name\":\"nvidia\",\"maxSlices\":4,\"resources\":{\"count\":\"example.com/"
	        "gpu\"}},"
	        "{\"name\":\"acme-x1\",\"vendor\":\"acme\",\"model\":\"X1\","
	        "\"resources\":{\"count\":\"acme.com/x\",\"memory\":\"acme.com/x-mem\"},"
	        "\"memoryUnitMiB\":1024,\"multiDeviceWhole\":true,"
	        "\"templates\":[{\"name\":\"small\",\"memoryMiB\":4096,\"computeUnits\":25},"
	        "{\"name\":\"all\",\"wholeDevice\":true}],"
	        "\"links\":[{\"type\":\"acmelink\",\"rank\":90}]}]}";
	assert_int_equal(vxpu_vendor_table_merge_json(t, json, err, sizeof(err)), 0);
	assert_int_equal(t->count, before + 1);
	const struct vxpu_vendor_profile *nv = vxpu_vendor_find(t, "nvidia");
	assert_int_equal(nv->max_slices, 4);
	assert_string_equal(nv->resources[VXPU_RESOURCE_COUNT], "example.com/gpu");
	/* Fields not given keep their built-in values. */
	assert_string_equal(nv->resources[VXPU_RESOURCE_MEMORY], "nvidia.com/gpumem");
	assert_true(vxpu_vendor_link_rank(nv, "nvlink") > 0);
	const struct vxpu_vendor_profile *x = vxpu_vendor_lookup(t, "ACME", "acme X1 rev2");
	assert_non_null(x);
	assert_int_equal(x->memory_unit_mib, 1024);
	assert_int_equal(x->ntemplates, 2);
	assert_true(x->multi_device_whole);
	assert_int_equal(vxpu_vendor_link_rank(x, "acmelink"), 90);
	free(t);
}

static void bad_json_names_the_field_and_changes_nothing(void **state)
{
	(void)state;
	struct vxpu_vendor_table *t = malloc(sizeof(*t));
	struct vxpu_vendor_table *orig = malloc(sizeof(*orig));
	vxpu_vendor_table_builtin(t);
	*orig = *t;
	const struct {
		const char *json;
		const char *expect;
	} cases[] = {
	        {"", "empty document"},
	        {"[1]", "expected a JSON object"},
	        {"{\"version\":2,\"profiles\":[]}", "unsupported version 2"},
	        {"{\"version\":1}", "missing field \"profiles\""},
	        {"{\"version\":1,\"profiles\":[],\"extra\":1}", "unknown field \"extra\""},
	        {"{\"version\":1,\"version\":1,\"profiles\":[]}",
	         "field \"version\" appears twice"},
	        {"{\"version\":1,\"profiles\":[]} x", "invalid JSON"},
	        {"{\"version\":1,\"profiles\":[{\"name\":\"nvidia\",\"maxSlices\":0}]}",
	         "profiles[0].maxSlices: expected a whole number in 1..1024, got 0"},
	        {"{\"version\":1,\"profiles\":[{\"name\":\"nvidia\",\"maxSlices\":\"4\"}]}",
	         "profiles[0].maxSlices: expected a whole number in 1..1024, got \"4\""},
	        {"{\"version\":1,\"profiles\":[{\"name\":\"nvidia\",\"colour\":\"green\"}]}",
	         "profiles[0]: unknown field \"colour\""},
	        {"{\"version\":1,\"profiles\":[{\"name\":\"new\",\"vendor\":\"v\"}]}",
	         "profiles[0]: missing field \"resources.count\""},
	        {"{\"version\":1,\"profiles\":[{\"name\":\"nvidia\",\"templates\":["
	         "{\"name\":\"a\",\"memoryMiB\":8192},{\"name\":\"b\",\"memoryMiB\":4096}]}]}",
	         "templates[1]: memoryMiB 4096 must be larger than the previous template's 8192"},
	        {"{\"version\":1,\"profiles\":[{\"name\":\"nvidia\",\"templates\":["
	         "{\"name\":\"w\",\"wholeDevice\":true},{\"name\":\"b\",\"memoryMiB\":4096}]}]}",
	         "must be last"},
	        {"{\"version\":1,\"profiles\":[{\"name\":\"nvidia\",\"maxSlices\":4},"
	         "{\"name\":\"nvidia\",\"memoryUnitMiB\":-1}]}",
	         "profiles[1].memoryUnitMiB: expected a whole number in 1..1048576, got -1"},
	        {"{\"version\":1,\"profiles\":[{\"name\":\"nvidia\",\"links\":["
	         "{\"type\":\"nvlink\",\"rank\":1.5}]}]}",
	         "profiles[0].links[0].rank: expected a whole number in 0..1000, got 1.5"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(vxpu_vendor_table_merge_json(t, cases[i].json, err, sizeof(err)),
		                 -1);
		if (!strstr(err, cases[i].expect))
			fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err,
			         cases[i].expect);
		assert_memory_equal(t, orig, sizeof(*t));
	}
	free(t);
	free(orig);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(every_issue_family_has_a_builtin_profile),
	        cmocka_unit_test(lookup_takes_the_longest_model_match),
	        cmocka_unit_test(templates_round_up_and_refuse_above_the_largest),
	        cmocka_unit_test(json_overrides_fields_and_adds_profiles),
	        cmocka_unit_test(bad_json_names_the_field_and_changes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

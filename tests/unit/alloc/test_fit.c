/*
 * Fit scenarios: every refusal reason, percent memory, templates, scaling,
 * init containers, the aggregated refusal string, commit and release.
 */
#include "fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[512];

/* Device position of the single share of a one-device placement. */
static uint32_t only_device(const struct vxpu_placement *p)
{
	assert_int_equal(p->nshares, 1);
	return p->shares[0].device;
}

static void binpack_chooses_the_more_used_device_and_spread_the_less_used_one(void **state)
{
	(void)state;
	struct vxpu_node *n = fx_node("bp", 2, "nvidia", "A100", 16384);
	fx_finalize(n);
	fx_use(n, 0, 4096, 0, "a");
	fx_use(n, 1, 8192, 0, "b");
	struct vxpu_pod_request *pod = fx_pod("small", 1, 2048, 0, 10);
	fx_normalize(pod);
	struct vxpu_placement p;
	struct vxpu_refusal why;
	assert_true(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_int_equal(only_device(&p), 1);
	assert_true(fx_fit(n, pod, VXPU_POLICY_SPREAD, &p, &why));
	assert_int_equal(only_device(&p), 0);
	free(pod);
	fx_free(n);
}

static void an_exclusive_request_never_lands_on_a_used_device(void **state)
{
	(void)state;
	struct vxpu_node *n = fx_node("ex", 3, "nvidia", "A100", 16384);
	fx_finalize(n);
	fx_use(n, 0, 1024, 10, "a");
	fx_use(n, 2, 1024, 0, "b");
	struct vxpu_pod_request *pod = fx_pod("excl", 1, 0, 0, 100);
	fx_normalize(pod);
	assert_true(pod->containers[0].exclusive);
	struct vxpu_placement p;
	struct vxpu_refusal why;
	/* Binpack prefers used devices; exclusivity must still win. */
	assert_true(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_int_equal(only_device(&p), 1);
	assert_true(p.shares[0].exclusive);
	assert_int_equal(p.shares[0].memory_mib, 16384);
	assert_int_equal(vxpu_node_commit(n, &p, "excl", err, sizeof(err)), 0);
	/* Now no device is unused: a second exclusive request is refused... */
	assert_false(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_string_equal(fx_refusal(&why), "3/3 exclusive conflict");
	/* ...and a shared request avoids the exclusive holder. */
	struct vxpu_pod_request *small = fx_pod("small", 1, 1024, 0, 0);
	fx_normalize(small);
	for (int i = 0; i < 5; i++) {
		assert_true(fx_fit(n, small, VXPU_POLICY_BINPACK, &p, &why));
		assert_int_not_equal(only_device(&p), 1);
	}
	free(small);
	free(pod);
	fx_free(n);
}

static void a_percent_memory_request_resolves_against_each_devices_own_size(void **state)
{
	(void)state;
	struct vxpu_node *n = fx_node("pct", 0, "nvidia", "A100", 1);
	struct vxpu_device d;
	vxpu_device_init(&d, 0, "small-gpu", "nvidia", "A100", 16384);
	assert_int_equal(vxpu_node_add_device(n, &d, err, sizeof(err)), 0);
	vxpu_device_init(&d, 1, "big-gpu", "nvidia", "A100", 32768);
	assert_int_equal(vxpu_node_add_device(n, &d, err, sizeof(err)), 0);
	fx_finalize(n);
	struct vxpu_pod_request *pod = fx_pod("half", 1, 0, 50, 0);
	fx_normalize(pod);
	struct vxpu_share s;
	assert_int_equal(vxpu_device_fit(n, 0, &n->usage[0], &pod->containers[0], &s),
	                 VXPU_REASON_OK);
	assert_int_equal(s.memory_mib, 8192);
	assert_int_equal(vxpu_device_fit(n, 1, &n->usage[1], &pod->containers[0], &s),
	                 VXPU_REASON_OK);
	assert_int_equal(s.memory_mib, 16384);
	/* 75 % no longer fits the small device once half of it is used. */
	fx_use(n, 0, 8192, 0, "a");
	struct vxpu_pod_request *big = fx_pod("three-quarters", 1, 0, 75, 0);
	fx_normalize(big);
	struct vxpu_placement p;
	struct vxpu_refusal why;
	assert_true(fx_fit(n, big, VXPU_POLICY_BINPACK, &p, &why));
	assert_int_equal(only_device(&p), 1);
	assert_int_equal(p.shares[0].memory_mib, 24576);
	/* The default request is 100 % of each device. */
	struct vxpu_pod_request *whole = fx_pod("default-memory", 1, 0, 0, 0);
	fx_normalize(whole);
	assert_int_equal(whole->containers[0].memory_percent, 100);
	assert_true(fx_fit(n, whole, VXPU_POLICY_BINPACK, &p, &why));
	assert_int_equal(p.shares[0].memory_mib, 32768);
	free(whole);
	free(big);
	free(pod);
	fx_free(n);
}

static struct vxpu_node *two_numa_node(void)
{
	struct vxpu_node *n = fx_node("numa", 4, "nvidia", "A100", 16384);
	n->devices[2].numa = 1;
	n->devices[3].numa = 1;
	fx_finalize(n);
	return n;
}

static void numa_binding_never_mixes_numa_nodes(void **state)
{
	(void)state;
	struct vxpu_node *n = two_numa_node();
	/* Binpack alone would take the two used devices 1 and 2, on two NUMA nodes. */
	fx_use(n, 1, 4096, 0, "a");
	fx_use(n, 2, 4096, 0, "b");
	struct vxpu_pod_request *pod = fx_pod("pair", 2, 1024, 0, 0);
	fx_normalize(pod);
	struct vxpu_placement p;
	struct vxpu_refusal why;
	assert_true(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_int_not_equal(n->devices[p.shares[0].device].numa,
	                     n->devices[p.shares[1].device].numa);
	pod->containers[0].numa_bind = true;
	for (int policy = VXPU_POLICY_BINPACK; policy < VXPU_POLICY_COUNT; policy++) {
		assert_true(fx_fit(n, pod, (enum vxpu_policy)policy, &p, &why));
		assert_int_equal(p.nshares, 2);
		assert_int_equal(n->devices[p.shares[0].device].numa,
		                 n->devices[p.shares[1].device].numa);
	}
	/* Three devices cannot sit on one NUMA node of two devices. */
	pod->containers[0].count = 3;
	assert_false(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_string_equal(fx_refusal(&why), "4/4 NUMA");
	/* Under many usage patterns, a bound pair never spans NUMA nodes. */
	pod->containers[0].count = 2;
	uint32_t seed = 7;
	for (int round = 0; round < 200; round++) {
		struct vxpu_node *m = two_numa_node();
		for (uint32_t d = 0; d < 4; d++) {
			seed = seed * 1103515245u + 12345u;
			char owner[32];
			snprintf(owner, sizeof(owner), "u%u", d);
			uint64_t mib = (seed >> 16) % 15 * 1024;
			if (mib)
				fx_use(m, d, mib, 0, owner);
		}
		enum vxpu_policy policy = (enum vxpu_policy)(1 + round % 5);
		if (fx_fit(m, pod, policy, &p, &why))
			assert_int_equal(m->devices[p.shares[0].device].numa,
			                 m->devices[p.shares[1].device].numa);
		fx_free(m);
	}
	free(pod);
	fx_free(n);
}

static struct vxpu_pod_request *resource_pod(const char *name, const char *count_res,
                                             const char *mem_res, const char *mem)
{
	struct vxpu_pod_request *pod = fx_pod(name, 0, 0, 0, 0);
	struct vxpu_container_request *c = &pod->containers[0];
	assert_int_equal(vxpu_container_request_set_resource(fx_vendors(), c, count_res, "1", err,
	                                                     sizeof(err)),
	                 1);
	assert_int_equal(vxpu_container_request_set_resource(fx_vendors(), c, mem_res, mem, err,
	                                                     sizeof(err)),
	                 1);
	fx_normalize(pod);
	return pod;
}

static void ascend_910b4_rounds_5000_mib_up_to_its_8_gib_template_and_refuses_40_gib(void **state)
{
	(void)state;
	struct vxpu_node *n = fx_node("npu", 2, "huawei", "Ascend910B4", 32768);
	fx_finalize(n);
	assert_string_equal(n->devices[0].profile->name, "ascend-910b4");
	struct vxpu_pod_request *pod = resource_pod("npu-small", "huawei.com/Ascend910B4",
	                                            "huawei.com/Ascend910B4-memory", "5000");
	struct vxpu_placement p;
	struct vxpu_refusal why;
	assert_true(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_int_equal(p.shares[0].memory_mib, 8192);
	assert_int_equal(p.shares[0].compute_units, 5); /* vir05: 5 of 20 AI cores */
	const struct vxpu_slice_template *t =
	        &n->devices[p.shares[0].device].profile->templates[p.shares[0].template_index];
	assert_string_equal(t->name, "vir05_1c_8g");
	free(pod);

	pod = resource_pod("npu-huge", "huawei.com/Ascend910B4", "huawei.com/Ascend910B4-memory",
	                   "40960");
	assert_false(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_string_equal(fx_refusal(&why), "2/2 no template fits");
	free(pod);

	/* Above the largest slice but within the card: the whole card. */
	pod = resource_pod("npu-20g", "huawei.com/Ascend910B4", "huawei.com/Ascend910B4-memory",
	                   "20000");
	assert_true(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_int_equal(p.shares[0].memory_mib, 32768);
	assert_true(p.shares[0].exclusive);
	free(pod);

	/* An NVIDIA request does not land on an NPU. */
	pod = resource_pod("gpu", "nvidia.com/gpu", "nvidia.com/gpumem", "1024");
	assert_false(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_string_equal(fx_refusal(&why), "2/2 type mismatch");
	free(pod);
	fx_free(n);
}

static void ascend_multi_device_requests_take_whole_cards(void **state)
{
	(void)state;
	struct vxpu_node *n = fx_node("npu8", 4, "huawei", "Ascend910B4", 32768);
	fx_finalize(n);
	struct vxpu_pod_request *one = resource_pod("one", "huawei.com/Ascend910B4",
	                                            "huawei.com/Ascend910B4-memory", "4096");
	struct vxpu_placement p;
	fx_place(n, one, VXPU_POLICY_BINPACK, "one", &p);
	uint32_t used = only_device(&p);
	struct vxpu_pod_request *two = resource_pod("two", "huawei.com/Ascend910B4",
	                                            "huawei.com/Ascend910B4-memory", "4096");
	two->containers[0].count = 2;
	struct vxpu_refusal why;
	assert_true(fx_fit(n, two, VXPU_POLICY_BINPACK, &p, &why));
	assert_int_equal(p.nshares, 2);
	for (uint32_t i = 0; i < 2; i++) {
		assert_int_not_equal(p.shares[i].device, used);
		assert_int_equal(p.shares[i].memory_mib, 32768);
		assert_int_equal(p.shares[i].compute_units, 20);
		assert_true(p.shares[i].exclusive);
	}
	two->containers[0].count = 4;
	assert_false(fx_fit(n, two, VXPU_POLICY_BINPACK, &p, &why));
	assert_string_equal(fx_refusal(&why), "1/4 exclusive conflict, 3/4 fit (4 needed)");
	free(one);
	free(two);
	fx_free(n);
}

static void a_kunlunxin_request_is_rounded_to_24_48_or_96_gib(void **state)
{
	(void)state;
	struct vxpu_node *n = fx_node("xpu", 1, "kunlunxin", "P800", 98304);
	fx_finalize(n);
	const struct {
		const char *memory;
		uint64_t expect;
	} cases[] = {{"1000", 24576},  {"24576", 24576}, {"24577", 49152},
	             {"30000", 49152}, {"49153", 98304}, {"96GiB", 98304}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vxpu_pod_request *pod = resource_pod(
		        "xpu", "kunlunxin.com/vxpu", "kunlunxin.com/vxpu-memory", cases[i].memory);
		struct vxpu_placement p;
		struct vxpu_refusal why;
		assert_true(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
		assert_int_equal(p.shares[0].memory_mib, cases[i].expect);
		free(pod);
	}
	struct vxpu_pod_request *pod =
	        resource_pod("xpu", "kunlunxin.com/vxpu", "kunlunxin.com/vxpu-memory", "100000");
	struct vxpu_placement p;
	struct vxpu_refusal why;
	assert_false(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_string_equal(fx_refusal(&why), "1/1 no template fits");
	free(pod);
	/* Four quarter slices fill the card; a fifth does not fit. */
	for (int i = 0; i < 4; i++) {
		char owner[16];
		snprintf(owner, sizeof(owner), "q%d", i);
		pod = resource_pod("q", "kunlunxin.com/vxpu", "kunlunxin.com/vxpu-memory", "20000");
		fx_place(n, pod, VXPU_POLICY_BINPACK, owner, &p);
		free(pod);
	}
	pod = resource_pod("q", "kunlunxin.com/vxpu", "kunlunxin.com/vxpu-memory", "20000");
	assert_false(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_string_equal(fx_refusal(&why), "1/1 slices exhausted");
	free(pod);
	fx_free(n);
}

static struct vxpu_node *mixed_node(void)
{
	struct vxpu_node *n = fx_node("mixed", 0, "nvidia", "x", 1);
	struct vxpu_device d;
	vxpu_device_init(&d, 0, "GPU-aaaa", "nvidia", "NVIDIA A100-SXM4-80GB", 81920);
	assert_int_equal(vxpu_node_add_device(n, &d, err, sizeof(err)), 0);
	vxpu_device_init(&d, 1, "GPU-bbbb", "nvidia", "NVIDIA H100 80GB HBM3", 81920);
	assert_int_equal(vxpu_node_add_device(n, &d, err, sizeof(err)), 0);
	fx_finalize(n);
	return n;
}

static void type_include_and_exclude_select_device_models(void **state)
{
	(void)state;
	struct vxpu_node *n = mixed_node();
	struct vxpu_pod_request *pod = fx_pod("typed", 1, 1024, 0, 0);
	fx_normalize(pod);
	struct vxpu_placement p;
	struct vxpu_refusal why;
	assert_int_equal(vxpu_pod_request_set_annotation(pod, "nvidia.com/use-gputype", "h100", err,
	                                                 sizeof(err)),
	                 1);
	assert_true(fx_fit(n, pod, VXPU_POLICY_SPREAD, &p, &why));
	assert_int_equal(only_device(&p), 1);
	assert_int_equal(vxpu_pod_request_set_annotation(pod, "nvidia.com/use-gputype", "", err,
	                                                 sizeof(err)),
	                 1);
	assert_int_equal(vxpu_pod_request_set_annotation(pod, "nvidia.com/nouse-gputype",
	                                                 "V100, A100", err, sizeof(err)),
	                 1);
	assert_true(fx_fit(n, pod, VXPU_POLICY_SPREAD, &p, &why));
	assert_int_equal(only_device(&p), 1);
	assert_int_equal(vxpu_pod_request_set_annotation(pod, "nvidia.com/use-gputype", "V100", err,
	                                                 sizeof(err)),
	                 1);
	assert_false(fx_fit(n, pod, VXPU_POLICY_SPREAD, &p, &why));
	assert_string_equal(fx_refusal(&why), "2/2 type mismatch");
	free(pod);
	fx_free(n);
}

static void uuid_include_and_exclude_select_devices(void **state)
{
	(void)state;
	struct vxpu_node *n = mixed_node();
	struct vxpu_pod_request *pod = fx_pod("pinned", 1, 1024, 0, 0);
	fx_normalize(pod);
	struct vxpu_placement p;
	struct vxpu_refusal why;
	vxpu_pod_request_set_annotation(pod, "nvidia.com/use-gpuuuid", "gpu-aaaa", err,
	                                sizeof(err));
	assert_true(fx_fit(n, pod, VXPU_POLICY_SPREAD, &p, &why));
	assert_int_equal(only_device(&p), 0);
	vxpu_pod_request_set_annotation(pod, "nvidia.com/use-gpuuuid", "", err, sizeof(err));
	vxpu_pod_request_set_annotation(pod, "nvidia.com/nouse-gpuuuid", "GPU-aaaa", err,
	                                sizeof(err));
	assert_true(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_int_equal(only_device(&p), 1);
	vxpu_pod_request_set_annotation(pod, "nvidia.com/nouse-gpuuuid", "GPU-aaaa,GPU-bbbb", err,
	                                sizeof(err));
	assert_false(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_string_equal(fx_refusal(&why), "2/2 UUID mismatch");
	/* A prefix of an id is not the id. */
	vxpu_pod_request_set_annotation(pod, "nvidia.com/nouse-gpuuuid", "", err, sizeof(err));
	vxpu_pod_request_set_annotation(pod, "nvidia.com/use-gpuuuid", "GPU-aa", err, sizeof(err));
	assert_false(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	free(pod);
	fx_free(n);
}

static void an_unhealthy_device_is_never_chosen(void **state)
{
	(void)state;
	struct vxpu_node *n = fx_node("sick", 3, "nvidia", "A100", 16384);
	n->devices[0].healthy = false;
	n->devices[2].cordoned = true;
	fx_finalize(n);
	struct vxpu_pod_request *pod = fx_pod("filler", 1, 4096, 0, 0);
	fx_normalize(pod);
	struct vxpu_placement p;
	struct vxpu_refusal why;
	int placed = 0;
	for (int i = 0; i < 10; i++) {
		char owner[16];
		snprintf(owner, sizeof(owner), "f%d", i);
		enum vxpu_policy policy = (enum vxpu_policy)(1 + i % 5);
		if (!fx_fit(n, pod, policy, &p, &why))
			break;
		assert_int_equal(only_device(&p), 1);
		assert_int_equal(vxpu_node_commit(n, &p, owner, err, sizeof(err)), 0);
		placed++;
	}
	assert_int_equal(placed, 4);
	assert_int_equal(n->usage[0].slices, 0);
	assert_int_equal(n->usage[2].slices, 0);
	assert_string_equal(fx_refusal(&why),
	                    "1/3 insufficient memory, 1/3 cordoned, 1/3 unhealthy");
	free(pod);
	fx_free(n);
}

static void a_quota_refusal_names_the_quota_and_the_amounts(void **state)
{
	(void)state;
	struct vxpu_node *n = fx_node("q", 2, "nvidia", "A100", 81920);
	fx_finalize(n);
	struct vxpu_quota_table quota;
	vxpu_quota_init(&quota);
	struct vxpu_quota_amount lim = {32768, VXPU_QUOTA_UNLIMITED, VXPU_QUOTA_UNLIMITED};
	assert_int_equal(vxpu_quota_set(&quota, "team-a", "", &lim, err, sizeof(err)), 0);
	struct vxpu_pod_request *pod = fx_pod("big", 1, 40960, 0, 0);
	snprintf(pod->ns, sizeof(pod->ns), "team-a");
	fx_normalize(pod);
	struct vxpu_fit_options opt = {.device_policy = VXPU_POLICY_BINPACK, .quota = &quota};
	struct vxpu_placement p;
	struct vxpu_refusal why;
	assert_false(vxpu_fit_node(n, pod, &opt, &p, &why));
	assert_int_equal(why.node_reason, VXPU_REASON_QUOTA);
	assert_string_equal(fx_refusal(&why),
	                    "quota of namespace \"team-a\": memory 40960 MiB requested, 32768 MiB "
	                    "of 32768 MiB left");
	/* Another namespace is not limited by team-a's quota. */
	snprintf(pod->ns, sizeof(pod->ns), "team-b");
	assert_true(vxpu_fit_node(n, pod, &opt, &p, &why));
	/* A project quota applies on top of the namespace's. */
	struct vxpu_quota_amount plim = {VXPU_QUOTA_UNLIMITED, VXPU_QUOTA_UNLIMITED, 1};
	assert_int_equal(vxpu_quota_set(&quota, "team-a", "vision", &plim, err, sizeof(err)), 0);
	struct vxpu_pod_request *two = fx_pod("two", 2, 1024, 0, 0);
	snprintf(two->ns, sizeof(two->ns), "team-a");
	snprintf(two->project, sizeof(two->project), "vision");
	fx_normalize(two);
	assert_false(vxpu_fit_node(n, two, &opt, &p, &why));
	assert_string_equal(fx_refusal(&why),
	                    "quota of project \"vision\" in namespace \"team-a\": "
	                    "devices 2 requested, 1 of 1 left");
	free(two);
	free(pod);
	vxpu_quota_free(&quota);
	fx_free(n);
}

static void memory_scaling_1_5_admits_150_percent_of_physical_memory(void **state)
{
	(void)state;
	for (int scaled = 0; scaled <= 1; scaled++) {
		struct vxpu_node *n = fx_node("over", 1, "nvidia", "T4", 16384);
		n->memory_scaling = scaled ? 1.5 : 1.0;
		fx_finalize(n);
		assert_int_equal(n->devices[0].memory_capacity_mib, scaled ? 24576 : 16384);
		struct vxpu_pod_request *pod = fx_pod("third", 1, 8192, 0, 0);
		fx_normalize(pod);
		struct vxpu_placement p;
		struct vxpu_refusal why;
		int placed = 0;
		while (fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why)) {
			char owner[16];
			snprintf(owner, sizeof(owner), "p%d", placed++);
			assert_int_equal(vxpu_node_commit(n, &p, owner, err, sizeof(err)), 0);
		}
		assert_int_equal(placed, scaled ? 3 : 2);
		assert_int_equal(n->usage[0].memory_mib, scaled ? 24576 : 16384);
		assert_string_equal(fx_refusal(&why), "1/1 insufficient memory");
		free(pod);
		fx_free(n);
	}
	/* Compute scaling works the same way for compute shares. */
	struct vxpu_node *n = fx_node("cores", 1, "nvidia", "T4", 16384);
	n->compute_scaling = 2.0;
	fx_finalize(n);
	assert_int_equal(n->devices[0].compute_capacity, 200);
	struct vxpu_pod_request *pod = fx_pod("sixty", 1, 1024, 0, 60);
	fx_normalize(pod);
	struct vxpu_placement p;
	for (int i = 0; i < 3; i++) {
		char owner[16];
		snprintf(owner, sizeof(owner), "c%d", i);
		fx_place(n, pod, VXPU_POLICY_BINPACK, owner, &p);
	}
	struct vxpu_refusal why;
	assert_false(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_string_equal(fx_refusal(&why), "1/1 insufficient compute");
	free(pod);
	fx_free(n);
}

static void the_aggregated_refusal_string_counts_every_device(void **state)
{
	(void)state;
	struct vxpu_node *n = fx_node("agg", 8, "nvidia", "T4", 16384);
	snprintf(n->devices[0].model, sizeof(n->devices[0].model), "A100");
	snprintf(n->devices[1].model, sizeof(n->devices[1].model), "A100");
	fx_finalize(n);
	fx_use(n, 0, 12288, 0, "a");
	fx_use(n, 1, 12288, 0, "b");
	struct vxpu_pod_request *pod = fx_pod("a100", 1, 8192, 0, 0);
	fx_normalize(pod);
	vxpu_pod_request_set_annotation(pod, "nvidia.com/use-gputype", "A100", err, sizeof(err));
	struct vxpu_placement p;
	struct vxpu_refusal why;
	assert_false(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_string_equal(fx_refusal(&why), "2/8 insufficient memory, 6/8 type mismatch");
	assert_int_equal(vxpu_refusal_main_reason(&why), VXPU_REASON_TYPE_MISMATCH);
	assert_string_equal(why.container, "main");
	free(pod);
	fx_free(n);
}

static void init_containers_count_as_their_peak_and_app_containers_cumulatively(void **state)
{
	(void)state;
	struct vxpu_node *n = fx_node("init", 1, "nvidia", "T4", 16384);
	fx_finalize(n);
	struct vxpu_pod_request *pod = fx_pod("phased", 1, 4096, 0, 0);
	struct vxpu_container_request *init =
	        vxpu_pod_request_add_container(pod, "warmup", VXPU_CONTAINER_INIT);
	init->count = 1;
	init->memory_mib = 12288;
	fx_normalize(pod);
	struct vxpu_placement p;
	struct vxpu_refusal why;
	/* 4096 + 12288 = 16384 would also fit; make the sum too big instead. */
	pod->containers[0].memory_mib = 8192;
	assert_true(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_int_equal(p.nshares, 2);
	assert_int_equal(p.peak[0].memory_mib, 12288);
	assert_int_equal(p.peak[0].slices, 1);
	assert_int_equal(vxpu_node_commit(n, &p, "phased", err, sizeof(err)), 0);
	assert_int_equal(n->usage[0].memory_mib, 12288);
	struct vxpu_quota_amount back;
	assert_int_equal(vxpu_node_release(n, "phased", &back), 0);
	assert_int_equal(back.memory_mib, 12288);
	assert_int_equal(n->usage[0].memory_mib, 0);
	/* Two app containers run together: 8192 + 12288 does not fit 16384. */
	pod->containers[1].kind = VXPU_CONTAINER_APP;
	assert_false(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_string_equal(fx_refusal(&why), "1/1 insufficient memory");
	assert_string_equal(why.container, "warmup");
	free(pod);
	fx_free(n);
}

static void commit_rechecks_and_release_gives_back_exactly(void **state)
{
	(void)state;
	struct vxpu_node *n = fx_node("race", 1, "nvidia", "T4", 16384);
	n->cpu_milli = 8000;
	n->memory_mib = 65536;
	fx_finalize(n);
	struct vxpu_pod_request *pod = fx_pod("big", 1, 12288, 0, 30);
	pod->cpu_milli = 2000;
	pod->memory_mib = 4096;
	fx_normalize(pod);
	struct vxpu_placement first, second;
	struct vxpu_refusal why;
	/* Two schedulers fit the same state; only one commit may win. */
	assert_true(fx_fit(n, pod, VXPU_POLICY_BINPACK, &first, &why));
	assert_true(fx_fit(n, pod, VXPU_POLICY_BINPACK, &second, &why));
	assert_int_equal(vxpu_node_commit(n, &first, "ns/a", err, sizeof(err)), 0);
	assert_int_equal(vxpu_node_commit(n, &second, "ns/b", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "insufficient memory"));
	assert_int_equal(n->nallocs, 1);
	assert_int_equal(vxpu_node_commit(n, &first, "ns/a", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already holds"));
	assert_int_equal(n->usage[0].compute_units, 30);
	assert_int_equal(n->cpu_used_milli, 2000);
	assert_int_equal(vxpu_node_release(n, "ns/a", NULL), 0);
	assert_int_equal(vxpu_node_release(n, "ns/a", NULL), -1);
	assert_int_equal(n->usage[0].memory_mib, 0);
	assert_int_equal(n->usage[0].compute_units, 0);
	assert_int_equal(n->usage[0].slices, 0);
	assert_int_equal(n->cpu_used_milli, 0);
	assert_int_equal(n->memory_used_mib, 0);
	free(pod);
	fx_free(n);
}

static void host_cpu_and_memory_refusals_name_the_amounts(void **state)
{
	(void)state;
	struct vxpu_node *n = fx_node("host", 1, "nvidia", "T4", 16384);
	n->cpu_milli = 8000;
	n->memory_mib = 32768;
	fx_finalize(n);
	struct vxpu_pod_request *pod = fx_pod("cpu-hungry", 1, 1024, 0, 0);
	pod->cpu_milli = 12000;
	fx_normalize(pod);
	struct vxpu_placement p;
	struct vxpu_refusal why;
	assert_false(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_string_equal(fx_refusal(&why),
	                    "insufficient cpu: 12000m requested, 8000m of 8000m free");
	pod->cpu_milli = 1000;
	pod->memory_mib = 40000;
	assert_false(fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why));
	assert_string_equal(fx_refusal(&why),
	                    "insufficient host memory: 40000 MiB requested, 32768 "
	                    "MiB of 32768 MiB free");
	free(pod);
	fx_free(n);
}

static void the_cluster_decision_picks_by_node_policy_and_explains_refusals(void **state)
{
	(void)state;
	struct vxpu_node *a = fx_node("node-a", 2, "nvidia", "T4", 16384);
	struct vxpu_node *b = fx_node("node-b", 2, "nvidia", "T4", 16384);
	struct vxpu_node *c = fx_node("node-c", 2, "huawei", "Ascend910B4", 32768);
	fx_finalize(a);
	fx_finalize(b);
	fx_finalize(c);
	fx_use(b, 0, 8192, 0, "x");
	const struct vxpu_node *nodes[] = {c, b, a};
	struct vxpu_pod_request *pod =
	        resource_pod("p", "nvidia.com/gpu", "nvidia.com/gpumem", "4096");
	struct vxpu_sched_config cfg = {VXPU_POLICY_BINPACK, VXPU_POLICY_BINPACK};
	struct vxpu_decision *d = malloc(sizeof(*d));
	assert_int_equal(vxpu_schedule(nodes, 3, pod, &cfg, NULL, NULL, d), 1);
	assert_int_equal(d->nodes_fit, 2);
	cfg.node_policy = VXPU_POLICY_SPREAD;
	assert_int_equal(vxpu_schedule(nodes, 3, pod, &cfg, NULL, NULL, d), 2);
	/* The pod's annotation overrides the cluster default. */
	vxpu_pod_request_set_annotation(pod, "hami.io/node-scheduler-policy", "binpack", err,
	                                sizeof(err));
	assert_int_equal(vxpu_schedule(nodes, 3, pod, &cfg, NULL, NULL, d), 1);
	/* Equal scores: the smaller node name wins, whatever the order. */
	struct vxpu_node *a2 = fx_node("node-0", 2, "nvidia", "T4", 16384);
	fx_finalize(a2);
	const struct vxpu_node *twins[] = {a, a2};
	assert_int_equal(vxpu_schedule(twins, 2, pod, &cfg, NULL, NULL, d), 1);
	/* Nothing fits: one line for the cluster. */
	pod->containers[0].memory_mib = 65536;
	assert_int_equal(vxpu_schedule(nodes, 3, pod, &cfg, NULL, NULL, d), -1);
	assert_string_equal(d->why, "0/3 nodes fit: 2 insufficient memory, 1 type mismatch");
	free(d);
	free(pod);
	fx_free(a);
	fx_free(a2);
	fx_free(b);
	fx_free(c);
}

static void the_decision_does_not_depend_on_the_order_of_nodes(void **state)
{
	(void)state;
	enum { N = 24 };
	struct vxpu_node *nodes[N];
	uint32_t seed = 2024;
	for (int i = 0; i < N; i++) {
		char name[16];
		snprintf(name, sizeof(name), "n%02d", (i * 7) % N);
		/* Pairs of identical nodes make ties that only the name can break. */
		nodes[i] = fx_node(name, 4, "nvidia", "T4", 16384);
		fx_finalize(nodes[i]);
		for (uint32_t d = 0; d < 4; d++) {
			seed = seed * 1103515245u + 12345u;
			uint64_t mib = (uint64_t)((i / 2 + d) % 4) * 2048;
			char owner[16];
			snprintf(owner, sizeof(owner), "o%u", d);
			if (mib)
				fx_use(nodes[i], d, mib, 0, owner);
		}
	}
	struct vxpu_shape_stats shapes;
	vxpu_shapes_init(&shapes, 50);
	struct vxpu_pod_request *pod = fx_pod("p", 1, 6144, 0, 20);
	fx_normalize(pod);
	for (int i = 0; i < 20; i++)
		vxpu_shapes_observe(&shapes, pod);
	struct vxpu_decision *d = malloc(sizeof(*d));
	for (int policy = VXPU_POLICY_BINPACK; policy < VXPU_POLICY_COUNT; policy++) {
		struct vxpu_sched_config cfg = {(enum vxpu_policy)policy, (enum vxpu_policy)policy};
		char first[VXPU_NODE_NAME_MAX] = "";
		uint8_t first_device = 0;
		for (int round = 0; round < 10; round++) {
			const struct vxpu_node *order[N];
			for (int i = 0; i < N; i++)
				order[i] = nodes[i];
			for (int i = N - 1; i > 0; i--) {
				seed = seed * 1103515245u + 12345u;
				int j = (int)((seed >> 8) % (uint32_t)(i + 1));
				const struct vxpu_node *t = order[i];
				order[i] = order[j];
				order[j] = t;
			}
			int at = vxpu_schedule(order, N, pod, &cfg, NULL, &shapes, d);
			assert_true(at >= 0);
			if (round == 0) {
				snprintf(first, sizeof(first), "%s", order[at]->name);
				first_device = d->placement.shares[0].device;
			} else {
				assert_string_equal(order[at]->name, first);
				assert_int_equal(d->placement.shares[0].device, first_device);
			}
		}
	}
	free(d);
	free(pod);
	for (int i = 0; i < N; i++)
		fx_free(nodes[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(binpack_chooses_the_more_used_device_and_spread_the_less_used_one),
	        cmocka_unit_test(an_exclusive_request_never_lands_on_a_used_device),
	        cmocka_unit_test(a_percent_memory_request_resolves_against_each_devices_own_size),
	        cmocka_unit_test(numa_binding_never_mixes_numa_nodes),
	        cmocka_unit_test(
	                ascend_910b4_rounds_5000_mib_up_to_its_8_gib_template_and_refuses_40_gib),
	        cmocka_unit_test(ascend_multi_device_requests_take_whole_cards),
	        cmocka_unit_test(a_kunlunxin_request_is_rounded_to_24_48_or_96_gib),
	        cmocka_unit_test(type_include_and_exclude_select_device_models),
	        cmocka_unit_test(uuid_include_and_exclude_select_devices),
	        cmocka_unit_test(an_unhealthy_device_is_never_chosen),
	        cmocka_unit_test(a_quota_refusal_names_the_quota_and_the_amounts),
	        cmocka_unit_test(memory_scaling_1_5_admits_150_percent_of_physical_memory),
	        cmocka_unit_test(the_aggregated_refusal_string_counts_every_device),
	        cmocka_unit_test(
	                init_containers_count_as_their_peak_and_app_containers_cumulatively),
	        cmocka_unit_test(commit_rechecks_and_release_gives_back_exactly),
	        cmocka_unit_test(host_cpu_and_memory_refusals_name_the_amounts),
	        cmocka_unit_test(the_cluster_decision_picks_by_node_policy_and_explains_refusals),
	        cmocka_unit_test(the_decision_does_not_depend_on_the_order_of_nodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

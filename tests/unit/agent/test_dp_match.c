/* Allocate's container matching (kube/deviceplugin_match.h): the lease
 * holder's containers in kubelet's order (init first), a retry gets the
 * same container for the same pod only, the pod is consumed once every
 * container is answered, plugins only take their cards' containers; and
 * the agent's plugin layout, one plugin per vendor resource. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/vendor.h"
#include "kube/deviceplugin_answer.h"
#include "kube/deviceplugin_match.h"

#define DEV(id, idx)                                                                               \
	"{\"id\":\"" id "\",\"index\":" #idx ",\"vendor\":\"nvidia\",\"model\":\"A100\","          \
	"\"memoryMiB\":1024,\"computeUnits\":0,\"computePercent\":0,\"template\":\"\","            \
	"\"exclusive\":false}"

static void decode(const char *pod, const char *containers, struct vxpu_pod_allocation *a)
{
	char text[4096], err[256];
	snprintf(text, sizeof(text),
	         "{\"version\":1,\"node\":\"n\",\"namespace\":\"ns\",\"pod\":\"%s\",\"project\":"
	         "\"\",\"allocatedAt\":\"2026-11-28T11:47:49.000Z\",\"nodePolicy\":\"binpack\","
	         "\"devicePolicy\":\"binpack\",\"cpuMilli\":0,\"memoryMiB\":0,\"containers\":[%s]}",
	         pod, containers);
	if (vxpu_allocation_decode(text, a, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

static struct vxpu_pod_allocation train, next;

/* One request: a retry for holder (NULL = no lease), else a fresh pick. */
static int request(struct vxpu_dp_matcher *m, const char *holder,
                   const struct vxpu_pod_allocation *a, const char *id1, const char *id2,
                   unsigned *c, bool *consumed, char *err)
{
	const char *ids[2] = {id1, id2};
	char key[VXPU_DP_REQUEST_KEY_MAX];
	*consumed = false;
	if (vxpu_dp_request_key(ids, id2 ? 2 : 1, key, sizeof(key), err, 512) != 0)
		return -1;
	const struct vxpu_dp_remembered *r = vxpu_dp_matcher_retry(m, key, holder);
	if (r) {
		*c = r->container;
		return 1;
	}
	if (!holder) {
		snprintf(err, 512, "no lease");
		return -1;
	}
	char pod[VXPU_DP_POD_KEY_MAX];
	snprintf(pod, sizeof(pod), "ns/%s", a->pod);
	return vxpu_dp_matcher_pick(m, holder, pod, a, key, id2 ? 2 : 1, NULL, 0, c, consumed, err,
	                            512);
}

static void test_containers_in_kubelet_order(void **state)
{
	(void)state;
	static struct vxpu_dp_matcher m;
	vxpu_dp_matcher_init(&m);
	decode("train",
	       "{\"name\":\"main\",\"kind\":\"app\",\"priority\":1,\"devices\":[" DEV(
	               "G0", 0) "," DEV("G1", 1) "]},"
	                                         "{\"name\":\"side\",\"kind\":\"app\",\"priority\":"
	                                         "1,\"devices\":[" DEV(
	                                                 "G0", 0) "]},"
	                                                          "{\"name\":\"fetch\",\"kind\":"
	                                                          "\"init\",\"priority\":1,"
	                                                          "\"devices\":[" DEV("G1", 1) "]}",
	       &train);
	unsigned c = 99;
	bool consumed;
	char err[512] = "";
	/* One device: the init container first, then the app container "side". */
	assert_int_equal(request(&m, "uid-train", &train, "G1::0", NULL, &c, &consumed, err), 0);
	assert_string_equal(train.containers[c].name, "fetch");
	assert_int_equal(request(&m, "uid-train", &train, "G1::0", NULL, &c, &consumed, err), 1);
	assert_string_equal(train.containers[c].name, "fetch"); /* a retry */
	assert_int_equal(request(&m, "uid-train", &train, "G0::3", NULL, &c, &consumed, err), 0);
	assert_string_equal(train.containers[c].name, "side");
	assert_false(consumed);
	assert_int_equal(request(&m, "uid-train", &train, "G0::4", NULL, &c, &consumed, err), -1);
	assert_string_equal(err, "pod ns/train has no container left to allocate with 1 device");
	/* Two devices: "main", the last one: consumed. */
	assert_int_equal(request(&m, "uid-train", &train, "G1::2", "G0::1", &c, &consumed, err), 0);
	assert_string_equal(train.containers[c].name, "main");
	assert_true(consumed);
	/* Retries after the release (no lease), in any ID order, still answer. */
	assert_int_equal(request(&m, NULL, &train, "G0::1", "G1::2", &c, &consumed, err), 1);
	assert_string_equal(train.containers[c].name, "main");
	assert_int_equal(request(&m, NULL, &train, "G0::9", NULL, &c, &consumed, err), -1);

	/* The next pod gets the same IDs from kubelet: its own answer, not the old one. */
	decode("next",
	       "{\"name\":\"solo\",\"kind\":\"app\",\"priority\":0,\"devices\":[" DEV("G1", 1) "]}",
	       &next);
	assert_int_equal(request(&m, "uid-next", &next, "G1::0", NULL, &c, &consumed, err), 0);
	assert_string_equal(next.containers[c].name, "solo");
	assert_true(consumed);
	const char *ids[1] = {"G1::0"};
	char key[VXPU_DP_REQUEST_KEY_MAX];
	assert_int_equal(vxpu_dp_request_key(ids, 1, key, sizeof(key), err, sizeof(err)), 0);
	assert_string_equal(vxpu_dp_matcher_retry(&m, key, NULL)->pod, "ns/next");
	assert_string_equal(vxpu_dp_matcher_retry(&m, key, "uid-train")->pod, "ns/train");
	assert_null(vxpu_dp_matcher_retry(&m, key, "uid-other"));
	/* The same name with another UID is another pod: nothing remembered. */
	assert_int_equal(vxpu_dp_request_key(ids, 0, key, sizeof(key), err, sizeof(err)), -1);
	assert_string_equal(err, "the container request names no devices");
}

static void test_cards_of_the_plugin(void **state)
{
	(void)state;
	static struct vxpu_dp_matcher m;
	vxpu_dp_matcher_init(&m);
	decode("mixed",
	       "{\"name\":\"a\",\"kind\":\"app\",\"priority\":0,\"devices\":[" DEV(
	               "G0", 0) "]},"
	                        "{\"name\":\"b\",\"kind\":\"app\",\"priority\":0,\"devices\":[" DEV(
	                                "N0", 1) "]}",
	       &train);
	const char *npu_cards[] = {"N0", "N1"}, *gpu_cards[] = {"G0"};
	const char *ids[1] = {"N0::0"};
	char key[VXPU_DP_REQUEST_KEY_MAX], err[512];
	unsigned c;
	bool consumed;
	assert_int_equal(vxpu_dp_request_key(ids, 1, key, sizeof(key), err, sizeof(err)), 0);
	/* The NPU plugin's request takes "b", although "a" comes first. */
	assert_int_equal(vxpu_dp_matcher_pick(&m, "u", "ns/mixed", &train, key, 1, npu_cards, 2, &c,
	                                      &consumed, err, sizeof(err)),
	                 0);
	assert_string_equal(train.containers[c].name, "b");
	assert_false(consumed); /* "a" is the GPU plugin's, still to come */
	assert_int_equal(vxpu_dp_matcher_pick(&m, "u", "ns/mixed", &train, key, 1, npu_cards, 2, &c,
	                                      &consumed, err, sizeof(err)),
	                 -1);
	ids[0] = "G0::1";
	assert_int_equal(vxpu_dp_request_key(ids, 1, key, sizeof(key), err, sizeof(err)), 0);
	assert_int_equal(vxpu_dp_matcher_pick(&m, "u", "ns/mixed", &train, key, 1, gpu_cards, 1, &c,
	                                      &consumed, err, sizeof(err)),
	                 0);
	assert_string_equal(train.containers[c].name, "a");
	assert_true(consumed);
}

static void add(struct vxpu_node *n, uint32_t index, const char *id, const char *vendor,
                const char *model)
{
	struct vxpu_device d;
	char err[256];
	vxpu_device_init(&d, index, id, vendor, model, 16384);
	assert_int_equal(vxpu_node_add_device(n, &d, err, sizeof(err)), 0);
}

static void test_one_plugin_per_vendor_resource(void **state)
{
	(void)state;
	static struct vxpu_vendor_table vendors;
	static struct vxpu_node node;
	static struct vxpu_dp_plugin_plan plans[VXPU_DP_MAX_PLUGINS];
	char err[256];
	vxpu_vendor_table_builtin(&vendors);
	vxpu_node_init(&node, "mixed");
	add(&node, 0, "GPU-0", "nvidia", "NVIDIA A100-SXM4-80GB");
	add(&node, 1, "NPU-0", "huawei", "Ascend910B4");
	add(&node, 2, "GPU-1", "nvidia", "NVIDIA A100-SXM4-80GB");
	if (vxpu_node_finalize(&node, &vendors, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	int n = vxpu_dp_plan_plugins(&node, NULL, 0, plans, VXPU_DP_MAX_PLUGINS, err, sizeof(err));
	assert_int_equal(n, 2);
	assert_string_equal(plans[0].resource, "nvidia.com/gpu");
	assert_string_equal(plans[0].endpoint, "vxpu-nvidia.com-gpu.sock");
	assert_int_equal(plans[0].ncards, 2);
	assert_int_equal(plans[0].cards[0], 0);
	assert_int_equal(plans[0].cards[1], 2);
	assert_int_equal(plans[0].slices[0], node.devices[0].slice_capacity);
	assert_string_equal(plans[1].resource,
	                    node.devices[1].profile->resources[VXPU_RESOURCE_COUNT]);
	assert_int_equal(plans[1].ncards, 1);
	assert_int_equal(plans[1].cards[0], 1);
	/* --slices applies to every card; --resource cannot merge two resources. */
	n = vxpu_dp_plan_plugins(&node, NULL, 3, plans, VXPU_DP_MAX_PLUGINS, err, sizeof(err));
	assert_int_equal(plans[1].slices[0], 3);
	assert_int_equal(vxpu_dp_plan_plugins(&node, "example.com/xpu", 0, plans,
	                                      VXPU_DP_MAX_PLUGINS, err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "cannot name the devices of two resources"));
	vxpu_node_destroy(&node);
	vxpu_node_init(&node, "one");
	add(&node, 0, "GPU-0", "nvidia", "NVIDIA A100-SXM4-80GB");
	assert_int_equal(vxpu_node_finalize(&node, &vendors, err, sizeof(err)), 0);
	assert_int_equal(vxpu_dp_plan_plugins(&node, "example.com/xpu", 0, plans,
	                                      VXPU_DP_MAX_PLUGINS, err, sizeof(err)),
	                 1);
	assert_string_equal(plans[0].endpoint, "vxpu-example.com-xpu.sock");
	vxpu_node_destroy(&node);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_containers_in_kubelet_order),
	        cmocka_unit_test(test_cards_of_the_plugin),
	        cmocka_unit_test(test_one_plugin_per_vendor_resource),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Kubernetes objects into core values: quantities in the API server's
 * canonical forms, pod requests from limits, requests, init containers and
 * annotations, node and quota objects, and refusals that name the field.
 */
#include "sched_fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[512];

static void quantities_read_as_kubernetes_writes_them(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		uint64_t want;
	} ok[] = {{"0", 0},       {"8", 8},        {"8k", 8000},
	          {"1.5k", 1500}, {"12e3", 12000}, {"12E3", 12000},
	          {"3000m", 3},   {"2Ki", 2048},   {"1Mi", 1048576},
	          {"+5", 5},      {"100", 100},    {"1M", 1000000},
	          {"0.5Ki", 512}, {"7e0", 7},      {"18446744073709551615", UINT64_MAX}};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 1234;
		if (vxpu_kube_quantity_uint("q", ok[i].in, &v, err, sizeof(err)) < 0)
			fail_msg("%s: %s", ok[i].in, err);
		assert_true(v == ok[i].want);
	}
	static const char *const bad[] = {"",    "-1",   "1500m", "1.5",
	                                  "abc", "4GiB", "1e",    "1e-1",
	                                  "1x",  ".",    "1..2",  "18446744073709551616",
	                                  "99E", "1 ",   "0x10",  "1e99999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 77;
		err[0] = '\0';
		if (vxpu_kube_quantity_uint("nvidia.com/gpu", bad[i], &v, err, sizeof(err)) == 0)
			fail_msg("quantity \"%s\" accepted as %llu", bad[i], (unsigned long long)v);
		assert_int_equal(v, 77);
		assert_non_null(strstr(err, "nvidia.com/gpu"));
	}
	char text[64];
	assert_int_equal(vxpu_kube_quantity_text("m", "4Gi", text, sizeof(text), err, sizeof(err)),
	                 0);
	assert_string_equal(text, "4GiB");
	assert_int_equal(
	        vxpu_kube_quantity_text("m", "1.5Gi", text, sizeof(text), err, sizeof(err)), 0);
	assert_string_equal(text, "1.5GiB");
	assert_int_equal(vxpu_kube_quantity_text("m", "8k", text, sizeof(text), err, sizeof(err)),
	                 0);
	assert_string_equal(text, "8000");
	assert_int_equal(vxpu_kube_quantity_text("m", "4096", text, sizeof(text), err, sizeof(err)),
	                 0);
	assert_string_equal(text, "4096");
	assert_int_equal(
	        vxpu_kube_quantity_text("m", "2500m", text, sizeof(text), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a whole number"));
}

static void pod_request_comes_from_device_containers(void **state)
{
	(void)state;
	char *text = sf_pod_json(
	        "team-a", "train-0", "uid-1", NULL,
	        "{\"limits\":{\"nvidia.com/gpu\":\"2\",\"nvidia.com/gpumem\":\"8k\",\"cpu\":\"4\"},"
	        "\"requests\":{\"nvidia.com/gpucores\":\"30\",\"nvidia.com/gpu\":\"2\"}}",
	        "{\"nvidia.com/use-gputype\":\"A100\",\"vxpu.io/project\":\"vision\","
	        "\"hami.io/node-scheduler-policy\":\"spread\",\"unrelated\":\"x\"}");
	cJSON *doc;
	struct vxpu_kube_pod *p = sf_pod_read(text, &doc);
	assert_string_equal(p->ns, "team-a");
	assert_string_equal(p->name, "train-0");
	assert_string_equal(p->uid, "uid-1");
	assert_string_equal(p->resource_version, "5");
	assert_string_equal(p->node_name, "");
	assert_string_equal(p->scheduler_name, "vxpu-scheduler");
	assert_true(p->wants_devices);
	assert_false(p->terminal);
	assert_null(p->allocation);
	assert_string_equal(p->request_error, "");
	/* The sidecar asks for no device, so it is not a container of the request. */
	assert_int_equal(p->request.ncontainers, 1);
	const struct vxpu_container_request *c = &p->request.containers[0];
	assert_string_equal(c->name, "main");
	assert_int_equal(p->spec_index[0], 1);
	assert_int_equal(c->count, 2);
	assert_int_equal(c->memory_mib, 8000);    /* "8k" is the canonical form of 8000 */
	assert_int_equal(c->compute_percent, 30); /* from requests: limits do not give it */
	assert_string_equal(c->use_types, "A100");
	assert_string_equal(p->request.project, "vision");
	assert_int_equal(p->request.node_policy, VXPU_POLICY_SPREAD);
	assert_int_equal(p->given[0], (1u << VXPU_RESOURCE_COUNT) | (1u << VXPU_RESOURCE_MEMORY) |
	                                      (1u << VXPU_RESOURCE_CORES));
	free(p);
	cJSON_Delete(doc);
	free(text);
}

static void init_containers_and_sizes(void **state)
{
	(void)state;
	const char *text =
	        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"uid\":\"u\","
	        "\"annotations\":{\"vxpu.io/allocation\":\"{}\"}},"
	        "\"spec\":{\"nodeName\":\"node-1\",\"initContainers\":[{\"name\":\"fetch\","
	        "\"resources\":{\"limits\":{\"nvidia.com/gpumem\":\"2Gi\"}}}],"
	        "\"containers\":[{\"name\":\"a\"},{\"name\":\"b\",\"resources\":{\"limits\":"
	        "{\"nvidia.com/"
	        "gpumem-percentage\":\"50\"}}}]},\"status\":{\"phase\":\"Succeeded\"}}";
	cJSON *doc;
	struct vxpu_kube_pod *p = sf_pod_read(text, &doc);
	assert_int_equal(p->request.ncontainers, 2);
	assert_int_equal(p->request.containers[0].kind, VXPU_CONTAINER_INIT);
	assert_int_equal(p->request.containers[0].memory_mib, 2048);
	assert_int_equal(p->spec_index[0], 0);
	assert_int_equal(p->request.containers[1].kind, VXPU_CONTAINER_APP);
	assert_int_equal(p->request.containers[1].memory_percent, 50);
	assert_int_equal(p->spec_index[1], 1);
	assert_string_equal(p->node_name, "node-1");
	assert_string_equal(p->allocation, "{}");
	assert_true(p->terminal);
	free(p);
	cJSON_Delete(doc);
}

static void bad_values_are_kept_as_request_errors(void **state)
{
	(void)state;
	static const struct {
		const char *resources;
		const char *annotations;
		const char *needle;
	} cases[] = {
	        {"{\"limits\":{\"nvidia.com/gpumem\":\"0\"}}", NULL, "above 0"},
	        {"{\"limits\":{\"nvidia.com/gpumem\":\"1500m\"}}", NULL, "whole number"},
	        {"{\"limits\":{\"nvidia.com/gpumem-percentage\":\"150\"}}", NULL,
	         "gpumem-percentage"},
	        {"{\"limits\":{\"nvidia.com/gpumem-percentage\":\"0\"}}", NULL, "1..100"},
	        {"{\"limits\":{\"nvidia.com/gpucores\":\"101\"}}", NULL, "gpucores"},
	        {"{\"limits\":{\"nvidia.com/gpu\":\"33\"}}", NULL, "device count"},
	        {"{\"limits\":{\"nvidia.com/gpu\":\"1\",\"hygon.com/dcumem\":\"100\"}}", NULL,
	         "one device family"},
	        {"{\"limits\":{\"nvidia.com/gpu\":\"1\"}}", "{\"nvidia.com/numa-bind\":\"yes\"}",
	         "numa-bind"},
	        {"{\"limits\":{\"nvidia.com/gpu\":\"1\"}}", "{\"vxpu.io/node-policy\":\"best\"}",
	         "unknown policy"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text =
		        sf_pod_json("n", "p", "u", NULL, cases[i].resources, cases[i].annotations);
		cJSON *doc;
		struct vxpu_kube_pod *p = sf_pod_read(text, &doc);
		if (!strstr(p->request_error, cases[i].needle))
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, p->request_error,
			         cases[i].needle);
		free(p);
		cJSON_Delete(doc);
		free(text);
	}
}

static void structural_errors_name_the_field(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		const char *needle;
	} cases[] = {
	        {"[]", "expected an object"},
	        {"{\"spec\":{\"containers\":[]}}", "missing field \"metadata\""},
	        {"{\"metadata\":{\"name\":5},\"spec\":{\"containers\":[]}}", "Pod.metadata.name"},
	        {"{\"metadata\":{\"name\":\"p\"}}", "missing field \"spec\""},
	        {"{\"metadata\":{\"name\":\"p\"},\"spec\":{}}", "missing field \"containers\""},
	        {"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":{}}}",
	         "Pod.spec.containers"},
	        {"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[7]}}",
	         "Pod.spec.containers[0]"},
	        {"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{}]}}",
	         "missing field \"name\""},
	        {"{\"metadata\":{\"name\":\"p\",\"annotations\":{\"a\":1}},\"spec\":{"
	         "\"containers\":[]}}",
	         "Pod.metadata.annotations[\"a\"]"},
	        {"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\","
	         "\"resources\":{\"limits\":{\"nvidia.com/gpu\":1}}}]}}",
	         "limits[\"nvidia.com/gpu\"]: expected a string"},
	        {"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"nodeName\":[],\"containers\":[]}}",
	         "Pod.spec.nodeName"},
	        {"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":"
	         "\"a-container-name-that-is-much-longer-than-sixty-three-bytes-allowed-by-dns\"}]}"
	         "}",
	         "at most 63 bytes"},
	        {"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[]},\"status\":{"
	         "\"phase\":1}}",
	         "Pod.status.phase"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *doc = cJSON_Parse(cases[i].json);
		assert_non_null(doc);
		struct vxpu_kube_pod *p = malloc(sizeof(*p));
		err[0] = '\0';
		int rc = vxpu_kube_pod_read(doc, "Pod", sf_vendors(), p, err, sizeof(err));
		if (rc == 0 || !strstr(err, cases[i].needle))
			fail_msg("case %zu: rc %d, error \"%s\" lacks \"%s\"", i, rc, err,
			         cases[i].needle);
		free(p);
		cJSON_Delete(doc);
	}
}

static void null_fields_read_as_absent(void **state)
{
	(void)state;
	const char *text =
	        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"annotations\":null,"
	        "\"labels\":null,\"deletionTimestamp\":null},\"spec\":{\"nodeName\":null,"
	        "\"initContainers\":null,\"containers\":[{\"name\":\"c\",\"resources\":"
	        "{\"limits\":null,\"requests\":{\"nvidia.com/gpu\":\"1\"}}}]},\"status\":null}";
	cJSON *doc;
	struct vxpu_kube_pod *p = sf_pod_read(text, &doc);
	assert_true(p->wants_devices);
	assert_false(p->deleting);
	assert_int_equal(p->request.containers[0].count, 1);
	free(p);
	cJSON_Delete(doc);
}

static void too_many_device_containers(void **state)
{
	(void)state;
	char *containers = sf_format("%s", "");
	for (int i = 0; i < 17; i++) {
		char *next = sf_format("%s%s{\"name\":\"c%d\",\"resources\":{\"limits\":"
		                       "{\"nvidia.com/gpu\":\"1\"}}}",
		                       containers, i ? "," : "", i);
		free(containers);
		containers = next;
	}
	char *text = sf_format("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[%s]}}",
	                       containers);
	cJSON *doc;
	struct vxpu_kube_pod *p = sf_pod_read(text, &doc);
	assert_non_null(strstr(p->request_error, "more than 16 containers"));
	free(p);
	cJSON_Delete(doc);
	free(text);
	free(containers);
}

static void node_objects(void **state)
{
	(void)state;
	char *text = sf_node_json("gpu-1", 2, "NVIDIA A100-SXM4-80GB", 81920);
	cJSON *doc;
	struct vxpu_kube_node kn;
	sf_node_read(text, &doc, &kn);
	assert_string_equal(kn.name, "gpu-1");
	assert_non_null(kn.registration);
	assert_non_null(strstr(kn.registration, "\"node\":\"gpu-1\""));
	assert_false(kn.unschedulable);
	cJSON_Delete(doc);
	free(text);
	static const struct {
		const char *json;
		const char *needle;
	} bad[] = {
	        {"{\"metadata\":{}}", "missing field \"name\""},
	        {"{\"metadata\":{\"name\":\"\"}}", "name is empty"},
	        {"{\"metadata\":{\"name\":\"n\"},\"spec\":{\"unschedulable\":\"yes\"}}",
	         "unschedulable"},
	        {"{\"metadata\":{\"name\":\"n\",\"annotations\":[]}}", "annotations"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		doc = cJSON_Parse(bad[i].json);
		err[0] = '\0';
		assert_int_equal(vxpu_kube_node_read(doc, "Node", &kn, err, sizeof(err)), -1);
		if (!strstr(err, bad[i].needle))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].needle);
		cJSON_Delete(doc);
	}
	doc = cJSON_Parse("{\"metadata\":{\"name\":\"n\"},\"spec\":{\"unschedulable\":true}}");
	assert_int_equal(vxpu_kube_node_read(doc, "Node", &kn, err, sizeof(err)), 0);
	assert_true(kn.unschedulable);
	assert_null(kn.registration);
	cJSON_Delete(doc);
}

static void quota_objects(void **state)
{
	(void)state;
	const char *text =
	        "{\"metadata\":{\"name\":\"gpu\",\"namespace\":\"team-a\",\"labels\":"
	        "{\"vxpu.io/project\":\"vision\"}},\"spec\":{\"hard\":{\"limits.nvidia.com/"
	        "gpumem\":"
	        "\"40k\",\"limits.nvidia.com/gpucores\":\"300\",\"requests.nvidia.com/gpu\":\"4\","
	        "\"limits.hygon.com/dcumem\":\"30Gi\",\"cpu\":\"10\",\"pods\":\"20\"}}}";
	cJSON *doc = cJSON_Parse(text);
	struct vxpu_kube_quota q;
	if (vxpu_kube_quota_read(doc, "ResourceQuota", sf_vendors(), &q, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_string_equal(q.ns, "team-a");
	assert_string_equal(q.name, "gpu");
	assert_string_equal(q.project, "vision");
	assert_true(q.limits_devices);
	assert_int_equal(q.hard.memory_mib, 30720); /* the smaller of 40000 and 30 GiB */
	assert_int_equal(q.hard.compute_percent, 300);
	assert_int_equal(q.hard.devices, 4);
	cJSON_Delete(doc);

	doc = cJSON_Parse("{\"metadata\":{\"name\":\"q\",\"namespace\":\"n\"},\"spec\":{\"hard\":"
	                  "{\"cpu\":\"4\"}}}");
	assert_int_equal(vxpu_kube_quota_read(doc, "RQ", sf_vendors(), &q, err, sizeof(err)), 0);
	assert_false(q.limits_devices);
	assert_true(q.hard.memory_mib == VXPU_QUOTA_UNLIMITED);
	cJSON_Delete(doc);

	static const struct {
		const char *json;
		const char *needle;
	} bad[] = {
	        {"{\"metadata\":{\"name\":\"q\"},\"spec\":{}}", "missing field \"namespace\""},
	        {"{\"metadata\":{\"name\":\"q\",\"namespace\":\"n\"},\"spec\":{\"hard\":"
	         "{\"limits.nvidia.com/gpu\":\"-1\"}}}",
	         "limits.nvidia.com/gpu"},
	        {"{\"metadata\":{\"name\":\"q\",\"namespace\":\"n\"},\"spec\":{\"hard\":"
	         "{\"limits.nvidia.com/gpumem-percentage\":\"50\"}}}",
	         "cannot be limited"},
	        {"{\"metadata\":{\"name\":\"q\",\"namespace\":\"n\"},\"spec\":{\"hard\":"
	         "{\"limits.nvidia.com/gpumem\":\"1500m\"}}}",
	         "not a whole number"},
	        {"{\"metadata\":{\"name\":\"q\",\"namespace\":\"n\"},\"spec\":{\"hard\":[]}}",
	         "spec.hard"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		doc = cJSON_Parse(bad[i].json);
		err[0] = '\0';
		assert_int_equal(
		        vxpu_kube_quota_read(doc, "RQ", sf_vendors(), &q, err, sizeof(err)), -1);
		if (!strstr(err, bad[i].needle))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].needle);
		cJSON_Delete(doc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(quantities_read_as_kubernetes_writes_them),
	        cmocka_unit_test(pod_request_comes_from_device_containers),
	        cmocka_unit_test(init_containers_and_sizes),
	        cmocka_unit_test(bad_values_are_kept_as_request_errors),
	        cmocka_unit_test(structural_errors_name_the_field),
	        cmocka_unit_test(null_fields_read_as_absent),
	        cmocka_unit_test(too_many_device_containers),
	        cmocka_unit_test(node_objects),
	        cmocka_unit_test(quota_objects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

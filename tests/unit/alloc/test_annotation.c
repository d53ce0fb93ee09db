/*
 * Annotation codecs: round trips of both contracts, strict refusals that
 * name the field and the value, RFC 3339 times, and a mutation fuzz of the
 * decoders (no crash, no leak under ASan, nothing changed on refusal).
 */
#include "fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[512];

static struct vxpu_node *sample_node(void)
{
	struct vxpu_node *n = fx_node("gpu-node-7", 4, "nvidia", "NVIDIA A100-SXM4-80GB", 81920);
	n->memory_scaling = 1.5;
	n->compute_scaling = 2.0;
	n->devices[1].healthy = false;
	n->devices[2].cordoned = true;
	n->devices[2].numa = 1;
	n->devices[3].numa = -1;
	n->devices[3].memory_scaling = 0.75;
	n->devices[3].max_slices = 4;
	n->devices[3].compute_units = 100;
	if (vxpu_node_add_link(n, 0, 1, "nvlink", 12, err, sizeof(err)) < 0 ||
	    vxpu_node_add_link(n, 2, 3, "pix", 1, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	fx_finalize(n);
	return n;
}

static void node_registration_round_trips(void **state)
{
	(void)state;
	struct vxpu_node *n = sample_node();
	const int64_t at = 1795866469123LL; /* 2026-11-28T11:47:49.123Z */
	char *text = vxpu_node_registration_encode(n, at);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"updatedAt\":\"2026-11-28T11:47:49.123Z\""));
	struct vxpu_node *m = fx_node("", 0, "", "", 1);
	assert_int_equal(vxpu_node_set_label(m, "zone", "a", err, sizeof(err)), 0);
	int64_t back = 0;
	if (vxpu_node_registration_decode(text, m, &back, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(back, at);
	assert_string_equal(m->name, "gpu-node-7");
	assert_string_equal(vxpu_node_label(m, "zone"), "a"); /* kept */
	assert_true(m->memory_scaling == 1.5 && m->compute_scaling == 2.0);
	assert_int_equal(m->ndevices, 4);
	for (uint32_t i = 0; i < 4; i++) {
		const struct vxpu_device *a = &n->devices[i], *b = &m->devices[i];
		assert_string_equal(a->id, b->id);
		assert_int_equal(a->index, b->index);
		assert_string_equal(a->model, b->model);
		assert_int_equal(a->memory_mib, b->memory_mib);
		assert_int_equal(a->numa, b->numa);
		assert_int_equal(a->healthy, b->healthy);
		assert_int_equal(a->cordoned, b->cordoned);
		assert_int_equal(a->max_slices, b->max_slices);
		assert_int_equal(a->compute_units, b->compute_units);
		assert_true(a->memory_scaling == b->memory_scaling);
	}
	fx_finalize(m);
	assert_int_equal(m->devices[3].memory_capacity_mib, 61440);
	assert_int_equal(m->devices[0].memory_capacity_mib, 122880);
	assert_int_equal(m->link_weight[0][1], n->link_weight[0][1]);
	assert_int_equal(m->link_weight[3][2], n->link_weight[3][2]);
	/* Decoding then encoding reproduces the text. */
	char *again = vxpu_node_registration_encode(m, back);
	assert_string_equal(text, again);
	vxpu_annotation_free(again);
	vxpu_annotation_free(text);
	fx_free(m);
	fx_free(n);
}

static void pod_allocation_round_trips_into_the_same_usage(void **state)
{
	(void)state;
	struct vxpu_node *n = fx_node("npu-1", 4, "huawei", "Ascend910B4", 32768);
	fx_finalize(n);
	struct vxpu_pod_request *pod = fx_pod("train-0", 1, 5000, 0, 0);
	snprintf(pod->ns, sizeof(pod->ns), "team-a");
	snprintf(pod->project, sizeof(pod->project), "vision");
	snprintf(pod->containers[0].family, sizeof(pod->containers[0].family),
	         "huawei.com/Ascend910B4");
	struct vxpu_container_request *init =
	        vxpu_pod_request_add_container(pod, "fetch", VXPU_CONTAINER_INIT);
	init->count = 1;
	init->memory_mib = 12000;
	init->priority = 0;
	struct vxpu_container_request *pair =
	        vxpu_pod_request_add_container(pod, "pair", VXPU_CONTAINER_APP);
	pair->count = 2;
	pod->cpu_milli = 4000;
	fx_normalize(pod);
	struct vxpu_placement p;
	struct vxpu_refusal why;
	if (!fx_fit(n, pod, VXPU_POLICY_BINPACK, &p, &why))
		fail_msg("%s", fx_refusal(&why));
	struct vxpu_pod_allocation *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	assert_int_equal(vxpu_allocation_from_placement(n, pod, &p, VXPU_POLICY_BINPACK,
	                                                VXPU_POLICY_TOPOLOGY, 1795866469000LL, a,
	                                                err, sizeof(err)),
	                 0);
	assert_int_equal(a->ncontainers, 3);
	assert_string_equal(a->devices[0].template_name, "vir05_1c_8g");
	assert_int_equal(a->devices[0].compute_percent, 25);
	char *text = vxpu_allocation_encode(a);
	assert_non_null(text);
	if (vxpu_allocation_decode(text, b, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	char *again = vxpu_allocation_encode(b);
	assert_string_equal(text, again);
	assert_int_equal(b->allocated_ms, 1795866469000LL);
	assert_int_equal(b->device_policy, VXPU_POLICY_TOPOLOGY);
	assert_string_equal(b->project, "vision");
	assert_int_equal(b->containers[1].kind, VXPU_CONTAINER_APP);
	assert_int_equal(b->containers[2].kind, VXPU_CONTAINER_INIT);
	assert_int_equal(b->containers[2].priority, 0);
	/* Rebuilding usage from the annotation gives what the fit computed. */
	struct vxpu_placement q;
	if (vxpu_allocation_to_placement(b, n, &q, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_memory_equal(q.peak, p.peak, n->ndevices * sizeof(p.peak[0]));
	assert_int_equal(q.quota.memory_mib, p.quota.memory_mib);
	assert_int_equal(q.quota.devices, p.quota.devices);
	assert_int_equal(q.cpu_milli, 4000);
	assert_int_equal(vxpu_node_record(n, &q, "team-a/train-0", err, sizeof(err)), 0);
	/* A node that lost the device refuses the allocation by name. */
	struct vxpu_node *other = fx_node("npu-2", 1, "huawei", "Ascend910B4", 32768);
	fx_finalize(other);
	assert_int_equal(vxpu_allocation_to_placement(b, other, &q, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "device \"npu-1-gpu0\" of container \"main\" is not on node "
	                            "\"npu-2\""));
	vxpu_annotation_free(again);
	vxpu_annotation_free(text);
	free(a);
	free(b);
	free(pod);
	fx_free(other);
	fx_free(n);
}

static const char good_alloc[] =
        "{\"version\":1,\"node\":\"n\",\"namespace\":\"ns\",\"pod\":\"p\",\"project\":\"\","
        "\"allocatedAt\":\"2026-11-28T11:47:49.123Z\",\"nodePolicy\":\"binpack\","
        "\"devicePolicy\":\"spread\",\"cpuMilli\":0,\"memoryMiB\":0,\"containers\":[{\"name\":"
        "\"c\",\"kind\":\"app\",\"priority\":1,\"devices\":[{\"id\":\"GPU-1\",\"index\":0,"
        "\"vendor\":\"nvidia\",\"model\":\"T4\",\"memoryMiB\":4096,\"computeUnits\":30,"
        "\"computePercent\":30,\"template\":\"\",\"exclusive\":false}]}]}";

static const char good_node[] =
        "{\"version\":1,\"node\":\"n\",\"updatedAt\":\"2026-11-28T11:47:49.123Z\","
        "\"memoryScaling\":1,\"computeScaling\":1,\"devices\":[{\"id\":\"GPU-1\",\"index\":0,"
        "\"vendor\":\"nvidia\",\"model\":\"T4\",\"memoryMiB\":16384},{\"id\":\"GPU-2\","
        "\"index\":1,\"vendor\":\"nvidia\",\"model\":\"T4\",\"memoryMiB\":16384}],\"links\":[{"
        "\"a\":0,\"b\":1,\"type\":\"pix\",\"width\":1}]}";

/* Replaces the first occurrence of from by to in good; static buffer. */
static const char *mutate(const char *good, const char *from, const char *to)
{
	static char buf[4096];
	const char *at = strstr(good, from);
	if (!at)
		fail_msg("fixture lacks \"%s\"", from);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
	return buf;
}

static void strict_decoding_names_the_field_and_the_value(void **state)
{
	(void)state;
	struct vxpu_pod_allocation *a = malloc(sizeof(*a));
	assert_int_equal(vxpu_allocation_decode(good_alloc, a, err, sizeof(err)), 0);
	const struct {
		const char *from, *to, *expect;
	} alloc_cases[] = {
	        {"\"version\":1", "\"version\":2", "allocation: version: unsupported version 2"},
	        {"\"version\":1,", "", "allocation: missing field \"version\""},
	        {"\"memoryMiB\":4096", "\"memoryMiB\":-5",
	         "allocation: containers[0].devices[0].memoryMiB: expected a whole number in "
	         "0..1099511627776, got -5"},
	        {"\"memoryMiB\":4096", "\"memoryMiB\":\"4096\"",
	         "containers[0].devices[0].memoryMiB: expected a whole number in 0..1099511627776, "
	         "got \"4096\""},
	        {"\"computePercent\":30", "\"computePercent\":130",
	         "containers[0].devices[0].computePercent: expected a whole number in 0..100, got "
	         "130"},
	        {"\"kind\":\"app\"", "\"kind\":\"sidecar\"",
	         "containers[0]: kind: expected \"app\" or \"init\", got \"sidecar\""},
	        {"\"exclusive\":false", "\"exclusive\":0",
	         "containers[0].devices[0].exclusive: expected true or false, got 0"},
	        {"\"exclusive\":false", "\"exclusive\":false,\"colour\":1",
	         "containers[0].devices[0]: unknown field \"colour\""},
	        {"\"allocatedAt\":\"2026-11-28T11:47:49.123Z\"",
	         "\"allocatedAt\":\"2026-02-30T00:00:00Z\"",
	         "allocatedAt: expected a UTC RFC 3339 time like \"2026-11-28T11:47:49.123Z\", got "
	         "\"2026-02-30T00:00:00Z\""},
	        {"\"allocatedAt\":\"2026-11-28T11:47:49.123Z\"",
	         "\"allocatedAt\":\"2026-11-28T11:47:49+01:00\"",
	         "got \"2026-11-28T11:47:49+01:00\""},
	        {"\"nodePolicy\":\"binpack\"", "\"nodePolicy\":\"best\"",
	         "nodePolicy: unknown policy \"best\""},
	        {"\"priority\":1", "\"priority\":1,\"priority\":0",
	         "containers[0]: field \"priority\" appears twice"},
	        {"\"pod\":\"p\"", "\"pod\":\"\"", "node, namespace and pod must not be empty"},
	        {"\"id\":\"GPU-1\"", "\"id\":\"\"",
	         "containers[0].devices[0]: id: empty device id"},
	        {"\"containers\":[", "\"containers\":{", "invalid JSON"},
	        {"\"priority\":1", "\"priority\":1.0000001",
	         "containers[0].priority: expected a whole number in 0..1, got 1.0000001"},
	};
	for (size_t i = 0; i < sizeof(alloc_cases) / sizeof(alloc_cases[0]); i++) {
		const char *bad = mutate(good_alloc, alloc_cases[i].from, alloc_cases[i].to);
		memset(a, 0x5a, sizeof(*a));
		err[0] = '\0';
		assert_int_equal(vxpu_allocation_decode(bad, a, err, sizeof(err)), -1);
		if (!strstr(err, alloc_cases[i].expect))
			fail_msg("alloc case %zu: \"%s\" lacks \"%s\"", i, err,
			         alloc_cases[i].expect);
		for (size_t b = 0; b < sizeof(*a); b++)
			if (((unsigned char *)a)[b] != 0x5a)
				fail_msg("alloc case %zu changed the output", i);
	}
	free(a);

	struct vxpu_node *n = fx_node("", 0, "", "", 1);
	int64_t at = 0;
	assert_int_equal(vxpu_node_registration_decode(good_node, n, &at, err, sizeof(err)), 0);
	const struct {
		const char *from, *to, *expect;
	} node_cases[] = {
	        {"\"index\":1", "\"index\":0",
	         "node registration: devices[1]: device index 0 appears twice"},
	        {"\"id\":\"GPU-2\"", "\"id\":\"GPU-1\"",
	         "devices[1]: device id \"GPU-1\" appears twice"},
	        {"\"memoryMiB\":16384}", "\"memoryMiB\":0}",
	         "devices[0].memoryMiB: expected a whole number in 1..1099511627776, got 0"},
	        {"\"memoryScaling\":1", "\"memoryScaling\":-1",
	         "memoryScaling: expected a number in 0..100, got -1"},
	        {"\"memoryScaling\":1", "\"memoryScaling\":0",
	         "memoryScaling and computeScaling must be > 0"},
	        {"\"b\":1", "\"b\":7", "links[0]: link 0-7: no device with index 7"},
	        {"\"width\":1", "\"width\":300",
	         "links[0].width: expected a whole number in 1..255, got 300"},
	        {"\"b\":1", "\"b\":0", "links[0]: link 0-0: a device cannot link to itself"},
	        {"\"node\":\"n\"", "\"node\":5", "node: expected a string, got 5"},
	        {"\"devices\":[", "\"gpus\":[", "unknown field \"gpus\""},
	};
	for (size_t i = 0; i < sizeof(node_cases) / sizeof(node_cases[0]); i++) {
		const char *bad = mutate(good_node, node_cases[i].from, node_cases[i].to);
		struct vxpu_node *m = fx_node("keep", 1, "nvidia", "T4", 1024);
		err[0] = '\0';
		assert_int_equal(vxpu_node_registration_decode(bad, m, &at, err, sizeof(err)), -1);
		if (!strstr(err, node_cases[i].expect))
			fail_msg("node case %zu: \"%s\" lacks \"%s\"", i, err,
			         node_cases[i].expect);
		assert_string_equal(m->name, "keep");
		assert_int_equal(m->ndevices, 1);
		fx_free(m);
	}
	fx_free(n);
}

static void rfc3339_times_are_read_strictly(void **state)
{
	(void)state;
	int64_t ms = 0;
	assert_int_equal(vxpu_rfc3339_parse("1970-01-01T00:00:00Z", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(vxpu_rfc3339_parse("2024-02-29T23:59:59.999999Z", &ms), 0);
	assert_int_equal(ms, 1709251199999LL);
	assert_int_equal(vxpu_rfc3339_parse("2026-11-28T11:47:49.1Z", &ms), 0);
	assert_int_equal(ms, 1795866469100LL);
	const char *bad[] = {
	        "2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z",  "2026-11-28 11:47:49Z",
	        "2026-11-28T24:00:00Z", "2026-11-28T11:47:49.Z", "2026-11-28T11:47:49",
	        "1969-12-31T23:59:59Z", "2026-11-28T11:47:49Zx", "",
	        "2026-11-28T11:47:60Z"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (vxpu_rfc3339_parse(bad[i], &ms) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
}

static uint32_t rng = 12345;
static uint32_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* Byte flips, deletions, insertions and duplications of valid documents. */
static void mutated_documents_never_crash_the_decoders(void **state)
{
	(void)state;
	static const char alphabet[] = "{}[]\":,0123456789-.eE truefalsnul\\x";
	static const char good_vendor[] =
	        "{\"version\":1,\"profiles\":[{\"name\":\"acme\",\"vendor\":\"acme\","
	        "\"resources\":{\"count\":\"acme.com/x\"},\"maxSlices\":4,\"templates\":["
	        "{\"name\":\"s\",\"memoryMiB\":4096,\"computeUnits\":25},{\"name\":\"w\","
	        "\"wholeDevice\":true}],\"links\":[{\"type\":\"x\",\"rank\":9}]}]}";
	const char *seeds[] = {good_alloc, good_node, good_vendor};
	struct vxpu_pod_allocation *a = malloc(sizeof(*a));
	struct vxpu_node *n = malloc(sizeof(*n));
	struct vxpu_vendor_table *t = malloc(sizeof(*t));
	struct vxpu_vendor_table *orig = malloc(sizeof(*orig));
	vxpu_vendor_table_builtin(orig);
	char buf[8192];
	int accepted = 0;
	for (int iter = 0; iter < 4000; iter++) {
		const char *seed = seeds[iter % 3];
		size_t len = strlen(seed);
		memcpy(buf, seed, len + 1);
		int edits = 1 + (int)(next_random() % 4);
		for (int e = 0; e < edits; e++) {
			size_t at = next_random() % (len + 1);
			char c = alphabet[next_random() % (sizeof(alphabet) - 1)];
			switch (next_random() % 4) {
			case 0: /* flip */
				if (at < len)
					buf[at] = c;
				break;
			case 1: /* delete */
				if (at < len) {
					memmove(buf + at, buf + at + 1, len - at);
					len--;
				}
				break;
			case 2: /* insert */
				if (len + 2 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, len - at + 1);
					buf[at] = c;
					len++;
				}
				break;
			default: { /* duplicate a run */
				size_t run = next_random() % 24;
				if (at + run <= len && len + run + 1 < sizeof(buf)) {
					memmove(buf + at + run, buf + at, len - at + 1);
					len += run;
				}
				break;
			}
			}
		}
		buf[len] = '\0';
		int rc;
		err[0] = '\0';
		if (iter % 3 == 0) {
			rc = vxpu_allocation_decode(buf, a, err, sizeof(err));
		} else if (iter % 3 == 1) {
			vxpu_node_init(n, "");
			int64_t at_ms;
			rc = vxpu_node_registration_decode(buf, n, &at_ms, err, sizeof(err));
		} else {
			*t = *orig;
			rc = vxpu_vendor_table_merge_json(t, buf, err, sizeof(err));
			if (rc < 0)
				assert_memory_equal(t, orig, sizeof(*t));
		}
		if (rc == 0)
			accepted++;
		else
			assert_true(err[0] != '\0');
	}
	/* Some mutations keep the document valid (a digit for a digit). */
	assert_true(accepted > 0 && accepted < 4000);
	free(a);
	free(n);
	free(t);
	free(orig);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(node_registration_round_trips),
	        cmocka_unit_test(pod_allocation_round_trips_into_the_same_usage),
	        cmocka_unit_test(strict_decoding_names_the_field_and_the_value),
	        cmocka_unit_test(rfc3339_times_are_read_strictly),
	        cmocka_unit_test(mutated_documents_never_crash_the_decoders),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

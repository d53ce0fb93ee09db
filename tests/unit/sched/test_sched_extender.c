/*
 * The extender protocol: filter and prioritize with node names and with node
 * objects, pass-through of pods without devices, reasons per failed node and
 * which failures preemption cannot help, deterministic scores, strict
 * parsing of malformed bodies, and a mutation fuzz of the parsers.
 */
#include "sched_fixtures.h"

#include "core/annotation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[512];
#define A100 "NVIDIA A100-SXM4-80GB"
#define T4 "Tesla T4"

static const char *const gpu20g =
        "{\"limits\":{\"nvidia.com/gpu\":\"1\",\"nvidia.com/gpumem\":\"20000\"}}";

static void model_setup(struct vxpu_ext_model *m, enum vxpu_policy node_policy)
{
	struct vxpu_sched_config cfg = {node_policy, VXPU_POLICY_BINPACK};
	vxpu_ext_model_init(m, sf_vendors(), &cfg, 100);
	char *t = sf_node_json("node-a", 4, A100, 81920);
	sf_apply_node(m, t);
	free(t);
	t = sf_node_json("node-b", 4, T4, 15360);
	sf_apply_node(m, t);
	free(t);
	t = sf_node_json("node-d", 4, A100, 81920);
	sf_apply_node(m, t);
	free(t);
	cJSON *doc = cJSON_Parse("{\"metadata\":{\"name\":\"node-c\"}}");
	struct vxpu_kube_node kn;
	assert_int_equal(vxpu_kube_node_read(doc, "", &kn, err, sizeof(err)), 0);
	assert_int_equal(vxpu_ext_model_node_update(m, &kn), 1);
	cJSON_Delete(doc);
}

static char *args_by_name(const char *pod, const char *names)
{
	return sf_format("{\"Pod\":%s,\"Nodes\":null,\"NodeNames\":[%s]}", pod, names);
}

static void parse_args(const char *body, struct vxpu_extender_args *a)
{
	if (vxpu_extender_args_parse(body, strlen(body), sf_vendors(), a, err, sizeof(err)) < 0)
		fail_msg("args: %s", err);
}

static cJSON *run_filter(const struct vxpu_ext_model *m, const char *body,
                         struct vxpu_extender_outcome *oc)
{
	struct vxpu_extender_args a;
	parse_args(body, &a);
	char *res = vxpu_extender_filter(m, &a, oc);
	assert_non_null(res);
	cJSON *doc = cJSON_Parse(res);
	assert_non_null(doc);
	cJSON_free(res);
	vxpu_extender_args_free(&a);
	return doc;
}

static const char *failed_reason(const cJSON *res, const char *map, const char *node)
{
	const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(res, map), node);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void filter_by_names(void **state)
{
	(void)state;
	struct vxpu_ext_model m;
	model_setup(&m, VXPU_POLICY_BINPACK);
	uint64_t generation = m.generation;
	char *pod = sf_pod_json("ns", "p", "uid-1", NULL, gpu20g, NULL);
	char *body = args_by_name(pod, "\"node-a\",\"node-b\",\"node-c\",\"node-z\",\"node-d\"");
	struct vxpu_extender_outcome oc;
	cJSON *res = run_filter(&m, body, &oc);
	char *printed = cJSON_PrintUnformatted(cJSON_GetObjectItem(res, "NodeNames"));
	assert_string_equal(printed, "[\"node-a\",\"node-d\"]");
	cJSON_free(printed);
	assert_string_equal(failed_reason(res, "FailedNodes", "node-b"), "4/4 insufficient memory");
	assert_non_null(strstr(failed_reason(res, "FailedAndUnresolvableNodes", "node-c"),
	                       "not registered"));
	assert_string_equal(failed_reason(res, "FailedAndUnresolvableNodes", "node-z"),
	                    "node is not known to vxpu");
	assert_string_equal(cJSON_GetObjectItem(res, "Error")->valuestring, "");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(res, "Nodes")));
	assert_int_equal(oc.feasible, 2);
	assert_int_equal(oc.failed, 3);
	assert_false(oc.passthrough || oc.error);
	cJSON_Delete(res);
	/* No side effect: nothing reserved, nothing learnt. */
	assert_int_equal(m.generation, generation);
	assert_int_equal(m.npods, 0);
	assert_int_equal(vxpu_shapes_observed(&m.shapes), 0);
	free(body);
	free(pod);

	/* A type the nodes do not have: preemption cannot help. */
	pod = sf_pod_json("ns", "p", "uid-1", NULL, gpu20g,
	                  "{\"nvidia.com/use-gputype\":\"H100\"}");
	body = args_by_name(pod, "\"node-a\",\"node-b\"");
	res = run_filter(&m, body, &oc);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(res, "NodeNames")), 0);
	assert_string_equal(failed_reason(res, "FailedAndUnresolvableNodes", "node-a"),
	                    "4/4 type mismatch");
	assert_int_equal(oc.failed, 2);
	cJSON_Delete(res);
	free(body);
	free(pod);
	vxpu_ext_model_free(&m);
}

static void filter_by_objects(void **state)
{
	(void)state;
	struct vxpu_ext_model m;
	model_setup(&m, VXPU_POLICY_BINPACK);
	char *na = sf_node_json("node-a", 4, A100, 81920);
	char *nb = sf_node_json("node-b", 4, T4, 15360);
	char *pod = sf_pod_json("ns", "p", "uid-1", NULL, gpu20g, NULL);
	char *body = sf_format("{\"Pod\":%s,\"Nodes\":{\"kind\":\"NodeList\",\"apiVersion\":\"v1\","
	                       "\"metadata\":{},\"items\":[%s,%s]},\"NodeNames\":null}",
	                       pod, na, nb);
	struct vxpu_extender_outcome oc;
	cJSON *res = run_filter(&m, body, &oc);
	const cJSON *items = cJSON_GetObjectItem(cJSON_GetObjectItem(res, "Nodes"), "items");
	assert_int_equal(cJSON_GetArraySize(items), 1);
	/* The feasible object is returned as received. */
	char *printed = cJSON_PrintUnformatted(cJSON_GetArrayItem(items, 0));
	assert_string_equal(printed, na);
	cJSON_free(printed);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(res, "NodeNames")));
	assert_string_equal(failed_reason(res, "FailedNodes", "node-b"), "4/4 insufficient memory");
	cJSON_Delete(res);
	free(body);
	/* An empty list is a valid question with an empty answer. */
	body = sf_format("{\"Pod\":%s,\"Nodes\":{\"items\":[]}}", pod);
	res = run_filter(&m, body, &oc);
	assert_int_equal(
	        cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(res, "Nodes"), "items")),
	        0);
	cJSON_Delete(res);
	free(body);
	free(pod);
	free(na);
	free(nb);
	vxpu_ext_model_free(&m);
}

static void pods_without_devices_pass_through(void **state)
{
	(void)state;
	struct vxpu_ext_model m;
	model_setup(&m, VXPU_POLICY_BINPACK);
	char *pod = sf_pod_json("ns", "web", "uid-1", NULL,
	                        "{\"limits\":{\"cpu\":\"2\",\"example.com/foo\":\"1\"}}", NULL);
	char *body = args_by_name(pod, "\"node-c\",\"node-z\",\"node-b\"");
	struct vxpu_extender_outcome oc;
	cJSON *res = run_filter(&m, body, &oc);
	char *printed = cJSON_PrintUnformatted(cJSON_GetObjectItem(res, "NodeNames"));
	assert_string_equal(printed, "[\"node-c\",\"node-z\",\"node-b\"]");
	cJSON_free(printed);
	assert_null(cJSON_GetObjectItem(res, "FailedNodes")->child);
	assert_true(oc.passthrough);
	cJSON_Delete(res);
	struct vxpu_extender_args a;
	parse_args(body, &a);
	int scores[3];
	assert_int_equal(vxpu_extender_scores(&m, &a, scores), 0);
	assert_int_equal(scores[0] + scores[1] + scores[2], 0);
	vxpu_extender_args_free(&a);
	free(body);
	free(pod);
	vxpu_ext_model_free(&m);
}

static void refused_request_fails_every_node_with_error(void **state)
{
	(void)state;
	struct vxpu_ext_model m;
	model_setup(&m, VXPU_POLICY_BINPACK);
	char *pod = sf_pod_json("ns", "p", "uid-1", NULL,
	                        "{\"limits\":{\"nvidia.com/gpumem\":\"1000\",\"nvidia.com/"
	                        "gpumem-percentage\":\"10\"}}",
	                        NULL);
	char *body = args_by_name(pod, "\"node-a\",\"node-d\"");
	struct vxpu_extender_outcome oc;
	cJSON *res = run_filter(&m, body, &oc);
	const char *error = cJSON_GetObjectItem(res, "Error")->valuestring;
	assert_non_null(strstr(error, "container \"main\": memory 1000 MiB and memory percentage"));
	assert_string_equal(failed_reason(res, "FailedAndUnresolvableNodes", "node-d"), error);
	assert_true(oc.error);
	assert_int_equal(oc.failed, 2);
	cJSON_Delete(res);
	free(body);
	free(pod);
	pod = sf_pod_json("ns", "p", "uid-1", NULL, "{\"limits\":{\"nvidia.com/gpu\":\"x\"}}",
	                  NULL);
	body = args_by_name(pod, "\"node-a\"");
	res = run_filter(&m, body, &oc);
	assert_non_null(strstr(cJSON_GetObjectItem(res, "Error")->valuestring, "nvidia.com/gpu"));
	cJSON_Delete(res);
	free(body);
	free(pod);
	vxpu_ext_model_free(&m);
}

/* Occupies device memory on a node through a reservation. */
static void occupy(struct vxpu_ext_model *m, const char *uid, const char *node, const char *mib)
{
	char *res = sf_format("{\"limits\":{\"nvidia.com/gpumem\":\"%s\"}}", mib);
	char *text = sf_pod_json("ns", uid, uid, NULL, res, NULL);
	cJSON *doc;
	struct vxpu_kube_pod *p = sf_pod_read(text, &doc);
	char *ann = NULL;
	if (vxpu_ext_model_reserve(m, p, node, 0, &ann, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	vxpu_annotation_free(ann);
	free(p);
	cJSON_Delete(doc);
	free(text);
	free(res);
}

static void scores_of(const struct vxpu_ext_model *m, const char *annotations, const char *names,
                      int *scores)
{
	char *pod = sf_pod_json("ns", "p", "uid-x", NULL, gpu20g, annotations);
	char *body = args_by_name(pod, names);
	struct vxpu_extender_args a;
	parse_args(body, &a);
	assert_int_equal(vxpu_extender_scores(m, &a, scores), 0);
	char *text = vxpu_extender_prioritize(m, &a);
	cJSON *list = cJSON_Parse(text);
	assert_int_equal(cJSON_GetArraySize(list), (int)a.count);
	for (size_t i = 0; i < a.count; i++) {
		const cJSON *hp = cJSON_GetArrayItem(list, (int)i);
		assert_string_equal(cJSON_GetObjectItem(hp, "Host")->valuestring, a.names[i]);
		assert_int_equal(cJSON_GetObjectItem(hp, "Score")->valueint, scores[i]);
	}
	cJSON_Delete(list);
	cJSON_free(text);
	vxpu_extender_args_free(&a);
	free(body);
	free(pod);
}

static void prioritize_ranks_deterministically(void **state)
{
	(void)state;
	struct vxpu_ext_model m;
	model_setup(&m, VXPU_POLICY_BINPACK);
	int s[4];
	/* Equal nodes: the smaller name wins the tie, the other gets 9. */
	scores_of(&m, NULL, "\"node-d\",\"node-a\",\"node-b\"", s);
	assert_int_equal(s[0], 9);
	assert_int_equal(s[1], 10);
	assert_int_equal(s[2], 0); /* does not fit */
	/* Binpack prefers the fuller node; spread (by annotation) the emptier. */
	occupy(&m, "u1", "node-d", "60000");
	scores_of(&m, NULL, "\"node-a\",\"node-d\"", s);
	assert_int_equal(s[0], 0);
	assert_int_equal(s[1], 10);
	scores_of(&m, "{\"hami.io/node-scheduler-policy\":\"spread\"}", "\"node-a\",\"node-d\"", s);
	assert_int_equal(s[0], 10);
	assert_int_equal(s[1], 0);
	/* Scores in between are linear in the policy's score. */
	char *t = sf_node_json("node-e", 4, A100, 81920);
	sf_apply_node(&m, t);
	free(t);
	occupy(&m, "u2", "node-e", "30000");
	scores_of(&m, NULL, "\"node-a\",\"node-d\",\"node-e\"", s);
	assert_int_equal(s[1], 10);
	assert_int_equal(s[0], 0);
	assert_true(s[2] > 0 && s[2] < 9);
	/* The same question gives the same answer. */
	int again[3];
	scores_of(&m, NULL, "\"node-a\",\"node-d\",\"node-e\"", again);
	assert_memory_equal(s, again, sizeof(again));
	vxpu_ext_model_free(&m);
}

/* The pod of scores_of with a resourceVersion, as the API server sends it. */
static char *versioned_pod(const char *rv)
{
	char *pod = sf_pod_json("ns", "p", "uid-x", NULL, gpu20g, NULL);
	cJSON *doc = cJSON_Parse(pod);
	cJSON *meta = cJSON_GetObjectItem(doc, "metadata");
	cJSON_DeleteItemFromObject(meta, "resourceVersion");
	cJSON_AddStringToObject(meta, "resourceVersion", rv);
	char *text = cJSON_PrintUnformatted(doc);
	char *out = sf_format("%s", text);
	cJSON_free(text);
	cJSON_Delete(doc);
	free(pod);
	return out;
}

static void prioritize_from_the_filter_memo_answers_the_same(void **state)
{
	(void)state;
	struct vxpu_ext_model m;
	model_setup(&m, VXPU_POLICY_BINPACK);
	occupy(&m, "u1", "node-d", "30000");
	char *pod = versioned_pod("41");
	char *body = args_by_name(pod, "\"node-d\",\"node-b\",\"node-a\",\"node-c\"");
	struct vxpu_extender_args a;
	parse_args(body, &a);
	struct vxpu_extender_memo memo = {0};
	struct vxpu_extender_outcome oc;
	char *plain = vxpu_extender_filter(&m, &a, &oc);
	char *with = vxpu_extender_filter_memo(&m, &a, &oc, &memo);
	assert_string_equal(plain, with); /* the memo changes nothing in the answer */
	assert_true(memo.valid);
	assert_int_equal(memo.count, 4);
	cJSON_free(plain);
	cJSON_free(with);
	vxpu_extender_args_free(&a);
	free(body);
	/* kube-scheduler then asks for the feasible nodes, in its order. */
	body = args_by_name(pod, "\"node-d\",\"node-a\"");
	parse_args(body, &a);
	assert_true(vxpu_extender_memo_matches(&memo, &m, &a));
	char *fresh = vxpu_extender_prioritize(&m, &a);
	char *reused = vxpu_extender_prioritize_memo(&memo, &a);
	assert_string_equal(fresh, reused);
	assert_non_null(strstr(fresh, "{\"Host\":\"node-d\",\"Score\":10}"));
	cJSON_free(fresh);
	cJSON_free(reused);
	/* Any change of the model makes the memo unusable. */
	occupy(&m, "u2", "node-a", "1000");
	assert_false(vxpu_extender_memo_matches(&memo, &m, &a));
	vxpu_extender_args_free(&a);
	free(body);
	free(pod);
	/* So do another version of the pod and a node filter did not see. */
	char *newer = versioned_pod("42");
	body = args_by_name(newer, "\"node-d\"");
	parse_args(body, &a);
	memo.generation = m.generation;
	assert_false(vxpu_extender_memo_matches(&memo, &m, &a));
	vxpu_extender_args_free(&a);
	free(body);
	free(newer);
	pod = versioned_pod("41");
	body = args_by_name(pod, "\"node-d\",\"node-e\"");
	parse_args(body, &a);
	assert_false(vxpu_extender_memo_matches(&memo, &m, &a));
	vxpu_extender_args_free(&a);
	free(body);
	free(pod);
	vxpu_extender_memo_free(&memo);
	vxpu_ext_model_free(&m);
}

/* The template with its "%s" (if any) replaced by value. */
static char *fill(const char *tmpl, const char *value)
{
	const char *at = strstr(tmpl, "%s");
	if (!at)
		return sf_format("%s", tmpl);
	return sf_format("%.*s%s%s", (int)(at - tmpl), tmpl, value, at + 2);
}

static void malformed_bodies_are_refused_with_the_field(void **state)
{
	(void)state;
	const char *pod = "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[]}}";
	static const struct {
		const char *fmt; /* "%s" stands for a valid pod */
		const char *needle;
	} cases[] = {
	        {"", "empty document"},
	        {"{", "invalid JSON"},
	        {"[]", "expected a JSON object"},
	        {"{}", "missing field \"Pod\""},
	        {"{\"Pod\":%s}", "exactly one of NodeNames and Nodes, got neither"},
	        {"{\"Pod\":%s,\"NodeNames\":[],\"Nodes\":{\"items\":[]}}", "got both"},
	        {"{\"Pod\":%s,\"NodeNames\":[],\"Extra\":1}", "unknown field \"Extra\""},
	        {"{\"Pod\":%s,\"NodeNames\":[1]}", "NodeNames[0]: expected a node name, got 1"},
	        {"{\"Pod\":%s,\"NodeNames\":[\"\"]}", "NodeNames[0]: node name of 0 bytes"},
	        {"{\"Pod\":%s,\"NodeNames\":[\"a\",\"b\",\"a\"]}", "node \"a\" appears twice"},
	        {"{\"Pod\":%s,\"NodeNames\":{}}", "NodeNames: expected an array"},
	        {"{\"Pod\":%s,\"NodeNames\":[],\"NodeNames\":[]}", "appears twice"},
	        {"{\"Pod\":%s,\"NodeNames\":[]} x", "invalid JSON"},
	        {"{\"Pod\":[],\"NodeNames\":[]}", "Pod: expected an object"},
	        {"{\"Pod\":%s,\"Nodes\":{\"items\":{}}}", "Nodes.items: expected an array"},
	        {"{\"Pod\":%s,\"Nodes\":{\"items\":[{\"metadata\":{}}]}}",
	         "Nodes.items[0].metadata: missing field \"name\""},
	        {"{\"Pod\":%s,\"Nodes\":[]}", "Nodes: expected an object"},
	        {"{\"Pod\":{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":"
	         "\"c\","
	         "\"resources\":{\"limits\":{\"nvidia.com/gpu\":2}}}]}},\"NodeNames\":[]}",
	         "Pod.spec.containers[0].resources.limits[\"nvidia.com/gpu\"]: expected a string"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *body = fill(cases[i].fmt, pod);
		struct vxpu_extender_args a;
		err[0] = '\0';
		int rc = vxpu_extender_args_parse(body, strlen(body), sf_vendors(), &a, err,
		                                  sizeof(err));
		if (rc == 0 || !strstr(err, cases[i].needle))
			fail_msg("case %zu: rc %d, \"%s\" lacks \"%s\"", i, rc, err,
			         cases[i].needle);
		assert_null(a.doc);
		free(body);
	}
	/* A NUL byte inside the body. */
	char nul[] = "{\"Pod\":{},\0\"NodeNames\":[]}";
	struct vxpu_extender_args a;
	assert_int_equal(
	        vxpu_extender_args_parse(nul, sizeof(nul) - 1, sf_vendors(), &a, err, sizeof(err)),
	        -1);
	assert_non_null(strstr(err, "NUL byte at offset 10"));
	/* Deep nesting. */
	char *deep = sf_format("{\"Pod\":%s,\"NodeNames\":[]}",
	                       "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[["
	                       "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	                       "[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
	                       "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}");
	assert_int_equal(
	        vxpu_extender_args_parse(deep, strlen(deep), sf_vendors(), &a, err, sizeof(err)),
	        -1);
	assert_non_null(strstr(err, "deeper than 64"));
	free(deep);
}

static void binding_args(void **state)
{
	(void)state;
	struct vxpu_extender_binding b;
	const char *ok =
	        "{\"PodName\":\"p\",\"PodNamespace\":\"ns\",\"PodUID\":\"u-1\",\"Node\":\"n\"}";
	assert_int_equal(vxpu_extender_binding_parse(ok, strlen(ok), &b, err, sizeof(err)), 0);
	assert_string_equal(b.name, "p");
	assert_string_equal(b.ns, "ns");
	assert_string_equal(b.uid, "u-1");
	assert_string_equal(b.node, "n");
	static const struct {
		const char *body;
		const char *needle;
	} bad[] = {
	        {"{\"PodName\":\"p\",\"PodNamespace\":\"ns\",\"PodUID\":\"u\"}",
	         "missing field \"Node\""},
	        {"{\"PodName\":1,\"PodNamespace\":\"ns\",\"PodUID\":\"u\",\"Node\":\"n\"}",
	         "PodName: expected a string, got 1"},
	        {"{\"PodName\":\"p\",\"PodNamespace\":\"\",\"PodUID\":\"u\",\"Node\":\"n\"}",
	         "PodNamespace: is empty"},
	        {"{\"PodName\":\"p\",\"PodNamespace\":\"n\",\"PodUID\":\"u\",\"Node\":\"n\",\"X\":"
	         "1}",
	         "unknown field \"X\""},
	        {"null", "expected a JSON object"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(vxpu_extender_binding_parse(bad[i].body, strlen(bad[i].body), &b,
		                                             err, sizeof(err)),
		                 -1);
		if (!strstr(err, bad[i].needle))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].needle);
	}
	char *res = vxpu_extender_binding_result("node \"n\": 4/4 insufficient memory");
	assert_string_equal(res, "{\"Error\":\"node \\\"n\\\": 4/4 insufficient memory\"}");
	cJSON_free(res);
	res = vxpu_extender_binding_result(NULL);
	assert_string_equal(res, "{\"Error\":\"\"}");
	cJSON_free(res);
}

/* xorshift: a fixed sequence, so a failure reproduces. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Mutates text in place-ish: returns a new heap buffer of *len bytes. */
static char *mutate(const char *text, size_t *len)
{
	static const char *const tokens[] = {"{",
	                                     "}",
	                                     "[",
	                                     "]",
	                                     "\"",
	                                     ",",
	                                     ":",
	                                     "null",
	                                     "1e999",
	                                     "-1",
	                                     "\"\\u0000\"",
	                                     "true",
	                                     "\"nvidia.com/gpu\"",
	                                     "{\"a\":1,\"a\":2}",
	                                     "\\"};
	size_t n = strlen(text);
	char *out = malloc(n + 64);
	memcpy(out, text, n);
	int edits = 1 + (int)(next_random() % 4);
	for (int e = 0; e < edits && n > 0; e++) {
		size_t at = next_random() % n;
		switch (next_random() % 4) {
		case 0: /* flip a byte */
			out[at] = (char)(next_random() & 0xff);
			break;
		case 1: /* truncate */
			n = at;
			break;
		case 2: { /* insert a token */
			const char *t =
			        tokens[next_random() % (sizeof(tokens) / sizeof(tokens[0]))];
			size_t tl = strlen(t);
			if (n + tl + 1 > n + 63 - (size_t)e * 0)
				break;
			char *grown = malloc(n + tl + 64);
			memcpy(grown, out, at);
			memcpy(grown + at, t, tl);
			memcpy(grown + at + tl, out + at, n - at);
			free(out);
			out = grown;
			n += tl;
			break;
		}
		default: /* delete a span */
		{
			size_t span = 1 + next_random() % 8;
			if (at + span > n)
				span = n - at;
			memmove(out + at, out + at + span, n - at - span);
			n -= span;
		}
		}
	}
	*len = n;
	return out;
}

static void fuzz_parsers_never_crash(void **state)
{
	(void)state;
	struct vxpu_ext_model m;
	model_setup(&m, VXPU_POLICY_BINPACK);
	char *pod = sf_pod_json("ns", "p", "uid-1", NULL, gpu20g,
	                        "{\"nvidia.com/use-gputype\":\"A100\"}");
	char *na = sf_node_json("node-a", 4, A100, 81920);
	char *seeds[3];
	seeds[0] = args_by_name(pod, "\"node-a\",\"node-b\",\"node-c\"");
	seeds[1] = sf_format("{\"Pod\":%s,\"Nodes\":{\"items\":[%s]}}", pod, na);
	seeds[2] = sf_format("%s", "{\"PodName\":\"p\",\"PodNamespace\":\"ns\",\"PodUID\":\"u\","
	                           "\"Node\":\"node-a\"}");
	size_t accepted = 0, refused = 0;
	for (int i = 0; i < 6000; i++) {
		size_t len;
		char *body = mutate(seeds[i % 3], &len);
		err[0] = '\0';
		if (i % 3 == 2) {
			struct vxpu_extender_binding b;
			if (vxpu_extender_binding_parse(body, len, &b, err, sizeof(err)) == 0)
				accepted++;
			else {
				assert_true(err[0] != '\0');
				refused++;
			}
		} else {
			struct vxpu_extender_args a;
			if (vxpu_extender_args_parse(body, len, sf_vendors(), &a, err,
			                             sizeof(err)) == 0) {
				struct vxpu_extender_outcome oc;
				char *f = vxpu_extender_filter(&m, &a, &oc);
				char *p = vxpu_extender_prioritize(&m, &a);
				assert_non_null(f);
				assert_non_null(p);
				assert_int_equal(oc.feasible + oc.failed, a.count);
				cJSON_free(f);
				cJSON_free(p);
				vxpu_extender_args_free(&a);
				accepted++;
			} else {
				assert_true(err[0] != '\0');
				refused++;
			}
		}
		free(body);
	}
	/* The mutations reach both sides of the parsers. */
	assert_true(accepted > 100);
	assert_true(refused > 1000);
	assert_int_equal(m.npods, 0);
	for (int i = 0; i < 3; i++)
		free(seeds[i]);
	free(pod);
	free(na);
	vxpu_ext_model_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(filter_by_names),
	        cmocka_unit_test(filter_by_objects),
	        cmocka_unit_test(pods_without_devices_pass_through),
	        cmocka_unit_test(refused_request_fails_every_node_with_error),
	        cmocka_unit_test(prioritize_ranks_deterministically),
	        cmocka_unit_test(prioritize_from_the_filter_memo_answers_the_same),
	        cmocka_unit_test(malformed_bodies_are_refused_with_the_field),
	        cmocka_unit_test(binding_args),
	        cmocka_unit_test(fuzz_parsers_never_crash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

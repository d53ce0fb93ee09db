/*
 * The admission webhook: defaults written as JSON Patch and checked by
 * applying them to the pod and reading it again, denials a user can act on,
 * the early quota check, the opt-out label, what is left alone, strict
 * reading of the review, and a mutation fuzz.
 */
#include "sched_fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[512];

static const struct vxpu_webhook_config config = {
        .scheduler_name = "vxpu-scheduler",
        .exclusive_default = true,
        .deny_unknown_resources = true,
};

/* A review of a pod CREATE whose main container has the given resources. */
static char *review_of(const char *resources, const char *labels, const char *annotations)
{
	return sf_format(
	        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
	        "\"uid\":\"705ab4f5-6393-11e8-b7cc-42010a800002\",\"kind\":{\"group\":\"\","
	        "\"version\":\"v1\",\"kind\":\"Pod\"},\"resource\":{\"group\":\"\",\"version\":"
	        "\"v1\","
	        "\"resource\":\"pods\"},\"namespace\":\"team-a\",\"operation\":\"CREATE\","
	        "\"userInfo\":{\"username\":\"alice\"},\"object\":{\"apiVersion\":\"v1\",\"kind\":"
	        "\"Pod\",\"metadata\":{\"generateName\":\"train-\",\"labels\":%s,\"annotations\":%"
	        "s},"
	        "\"spec\":{\"schedulerName\":\"default-scheduler\",\"initContainers\":[{\"name\":"
	        "\"init\",\"image\":\"busybox\"}],\"containers\":[{\"name\":\"sidecar\",\"image\":"
	        "\"envoy\"},{\"name\":\"main\",\"image\":\"cuda\"%s%s}]}},\"oldObject\":null,"
	        "\"dryRun\":false}}",
	        labels ? labels : "{}", annotations ? annotations : "{}",
	        resources ? ",\"resources\":" : "", resources ? resources : "");
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

static char *b64_decode(const char *in)
{
	size_t n = strlen(in);
	assert_int_equal(n % 4, 0);
	char *out = malloc(n / 4 * 3 + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		for (int k = 0; k < 4; k++)
			v[k] = in[i + k] == '=' ? 0 : b64_value(in[i + k]);
		for (int k = 0; k < 4; k++)
			assert_true(v[k] >= 0);
		uint32_t w = (uint32_t)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
		out[o++] = (char)(w >> 16);
		if (in[i + 2] != '=')
			out[o++] = (char)(w >> 8);
		if (in[i + 3] != '=')
			out[o++] = (char)w;
	}
	out[o] = '\0';
	return out;
}

/* Applies RFC 6902 "add" operations (the only kind the webhook writes). */
static void apply_patch(cJSON *doc, const cJSON *patch)
{
	const cJSON *op;
	cJSON_ArrayForEach(op, patch)
	{
		assert_string_equal(cJSON_GetObjectItem(op, "op")->valuestring, "add");
		const char *path = cJSON_GetObjectItem(op, "path")->valuestring;
		assert_true(path[0] == '/');
		cJSON *at = doc;
		char token[256];
		const char *p = path + 1;
		for (;;) {
			size_t t = 0;
			for (; *p && *p != '/'; p++) {
				if (*p == '~') {
					p++;
					token[t++] = *p == '1' ? '/' : '~';
				} else {
					token[t++] = *p;
				}
			}
			token[t] = '\0';
			if (!*p)
				break;
			p++;
			at = cJSON_IsArray(at) ? cJSON_GetArrayItem(at, atoi(token))
			                       : cJSON_GetObjectItem(at, token);
			assert_non_null(at);
		}
		assert_true(cJSON_IsObject(at));
		cJSON *value = cJSON_Duplicate(cJSON_GetObjectItem(op, "value"), 1);
		if (cJSON_GetObjectItem(at, token))
			cJSON_ReplaceItemInObject(at, token, value);
		else
			cJSON_AddItemToObject(at, token, value);
	}
}

struct answer {
	cJSON *doc;
	bool allowed;
	cJSON *patch; /* decoded, or NULL */
	const char *message;
	int code;
	struct vxpu_webhook_result result;
};

static void answer_free(struct answer *a)
{
	cJSON_Delete(a->doc);
	cJSON_Delete(a->patch);
}

static void review(const char *body, const struct vxpu_webhook_config *cfg,
                   const struct vxpu_quota_table *quota, struct answer *a)
{
	memset(a, 0, sizeof(*a));
	char *text = vxpu_webhook_review(sf_vendors(), cfg, quota, body, strlen(body), &a->result,
	                                 err, sizeof(err));
	if (!text)
		fail_msg("review: %s", err);
	a->doc = cJSON_Parse(text);
	free(text);
	assert_non_null(a->doc);
	assert_string_equal(cJSON_GetObjectItem(a->doc, "apiVersion")->valuestring,
	                    "admission.k8s.io/v1");
	const cJSON *resp = cJSON_GetObjectItem(a->doc, "response");
	assert_string_equal(cJSON_GetObjectItem(resp, "uid")->valuestring,
	                    "705ab4f5-6393-11e8-b7cc-42010a800002");
	a->allowed = cJSON_IsTrue(cJSON_GetObjectItem(resp, "allowed"));
	const cJSON *patch = cJSON_GetObjectItem(resp, "patch");
	if (patch) {
		assert_string_equal(cJSON_GetObjectItem(resp, "patchType")->valuestring,
		                    "JSONPatch");
		char *json = b64_decode(patch->valuestring);
		a->patch = cJSON_Parse(json);
		assert_non_null(a->patch);
		assert_int_equal(cJSON_GetArraySize(a->patch), (int)a->result.patches);
		free(json);
	}
	const cJSON *status = cJSON_GetObjectItem(resp, "status");
	if (status) {
		a->message = cJSON_GetObjectItem(status, "message")->valuestring;
		a->code = cJSON_GetObjectItem(status, "code")->valueint;
	}
}

/* Applies the answer's patch to the review's pod and reads the pod back. */
static struct vxpu_kube_pod *patched_pod(const char *body, const struct answer *a, cJSON **pod)
{
	cJSON *doc = cJSON_Parse(body);
	*pod = cJSON_DetachItemFromObject(cJSON_GetObjectItem(doc, "request"), "object");
	cJSON_Delete(doc);
	if (a->patch)
		apply_patch(*pod, a->patch);
	struct vxpu_kube_pod *p = malloc(sizeof(*p));
	if (vxpu_kube_pod_read(*pod, "", sf_vendors(), p, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return p;
}

static void defaults_are_patched(void **state)
{
	(void)state;
	/* Memory only: one device is added; the scheduler is set. */
	char *body = review_of("{\"limits\":{\"nvidia.com/gpumem\":\"4Gi\"}}", NULL, NULL);
	struct answer a;
	review(body, &config, NULL, &a);
	assert_true(a.allowed);
	assert_int_equal(a.result.verdict, VXPU_WEBHOOK_ADMITTED);
	assert_int_equal(a.result.patches, 2);
	char *printed = cJSON_PrintUnformatted(a.patch);
	assert_string_equal(printed,
	                    "[{\"op\":\"add\",\"path\":\"/spec/containers/1/resources/limits/"
	                    "nvidia.com~1gpu\",\"value\":\"1\"},{\"op\":\"add\",\"path\":"
	                    "\"/spec/schedulerName\",\"value\":\"vxpu-scheduler\"}]");
	cJSON_free(printed);
	cJSON *pod;
	struct vxpu_kube_pod *p = patched_pod(body, &a, &pod);
	assert_string_equal(p->scheduler_name, "vxpu-scheduler");
	assert_int_equal(p->request.containers[0].count, 1);
	assert_int_equal(p->request.containers[0].memory_mib, 4096);
	free(p);
	cJSON_Delete(pod);
	answer_free(&a);
	free(body);

	/* Count only: a whole, exclusive device (cores 100), in limits and requests. */
	body = review_of("{\"limits\":{\"nvidia.com/gpu\":\"2\"},\"requests\":{\"cpu\":\"1\"}}",
	                 NULL, NULL);
	review(body, &config, NULL, &a);
	assert_true(a.allowed);
	p = patched_pod(body, &a, &pod);
	assert_int_equal(p->request.containers[0].count, 2);
	assert_int_equal(p->request.containers[0].compute_percent, 100);
	const cJSON *req = cJSON_GetObjectItem(
	        cJSON_GetObjectItem(
	                cJSON_GetArrayItem(
	                        cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "spec"), "containers"),
	                        1),
	                "resources"),
	        "requests");
	assert_string_equal(cJSON_GetObjectItem(req, "nvidia.com/gpucores")->valuestring, "100");
	free(p);
	cJSON_Delete(pod);
	answer_free(&a);
	free(body);

	/* The same with the default turned off, or a pod that says exclusive itself. */
	struct vxpu_webhook_config shared = config;
	shared.exclusive_default = false;
	body = review_of("{\"limits\":{\"nvidia.com/gpu\":\"1\"}}", NULL, NULL);
	review(body, &shared, NULL, &a);
	assert_int_equal(a.result.patches, 1); /* the scheduler name only */
	answer_free(&a);
	free(body);
	body = review_of("{\"limits\":{\"nvidia.com/gpu\":\"1\"}}", NULL,
	                 "{\"vxpu.io/exclusive\":\"false\"}");
	review(body, &config, NULL, &a);
	assert_int_equal(a.result.patches, 1);
	answer_free(&a);
	free(body);

	/* Requests only, no limits map: limits is created. */
	body = review_of("{\"requests\":{\"nvidia.com/gpucores\":\"20\"}}", NULL, NULL);
	review(body, &config, NULL, &a);
	assert_true(a.allowed);
	p = patched_pod(body, &a, &pod);
	assert_int_equal(p->request.containers[0].count, 1);
	assert_int_equal(p->request.containers[0].compute_percent, 20);
	free(p);
	cJSON_Delete(pod);
	answer_free(&a);
	free(body);

	/* A pod that chose another scheduler keeps it. */
	body = review_of("{\"limits\":{\"nvidia.com/gpu\":\"1\",\"nvidia.com/gpumem\":\"1000\"}}",
	                 NULL, NULL);
	char *custom = strstr(body, "default-scheduler");
	memcpy(custom, "my-own-scheduler1", strlen("default-scheduler"));
	review(body, &config, NULL, &a);
	assert_true(a.allowed);
	assert_int_equal(a.result.patches, 0);
	assert_null(a.patch);
	answer_free(&a);
	free(body);
}

static void denials_say_what_to_fix(void **state)
{
	(void)state;
	static const struct {
		const char *resources;
		const char *annotations;
		const char *needle;
	} cases[] = {
	        {"{\"limits\":{\"nvidia.com/gpumem\":\"0\"}}", NULL,
	         "container \"main\": nvidia.com/gpumem=\"0\": device memory must be above 0"},
	        {"{\"limits\":{\"nvidia.com/gpumem-percentage\":\"150\"}}", NULL,
	         "nvidia.com/gpumem-percentage"},
	        {"{\"limits\":{\"nvidia.com/gpucores\":\"101\"}}", NULL, "nvidia.com/gpucores"},
	        {"{\"limits\":{\"nvidia.com/gpumem\":\"1000\",\"nvidia.com/"
	         "gpumem-percentage\":\"50\"}}",
	         NULL, "memory 1000 MiB and memory percentage 50% are exclusive; give one"},
	        {"{\"limits\":{\"nvidia.com/gpu\":\"0\",\"nvidia.com/gpumem\":\"1000\"}}", NULL,
	         "nvidia.com/gpu is 0 but a device memory or compute share is given"},
	        {"{\"limits\":{\"nvidia.com/gpumemory\":\"1000\"}}", NULL,
	         "nvidia.com/gpumemory is not a resource vxpu knows; nvidia.com offers "
	         "nvidia.com/gpu, "
	         "nvidia.com/gpumem"},
	        {"{\"limits\":{\"nvidia.com/gpu\":\"1\",\"hygon.com/dcumem\":\"1000\"}}", NULL,
	         "one device family"},
	        {"{\"limits\":{\"nvidia.com/gpucores\":\"50\"}}",
	         "{\"vxpu.io/exclusive\":\"true\"}", "exclusive use takes 100% compute, not 50%"},
	        {"{\"limits\":{\"nvidia.com/gpu\":\"1\"}}", "{\"nvidia.com/priority\":\"x\"}",
	         NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *body = review_of(cases[i].resources, NULL, cases[i].annotations);
		struct answer a;
		review(body, &config, NULL, &a);
		if (!cases[i].needle) { /* an annotation vxpu does not read is ignored */
			assert_true(a.allowed);
		} else {
			if (a.allowed || !strstr(a.message, cases[i].needle))
				fail_msg("case %zu: allowed %d, message \"%s\" lacks \"%s\"", i,
				         a.allowed, a.message ? a.message : "", cases[i].needle);
			assert_int_equal(a.code, 400);
			assert_int_equal(a.result.verdict, VXPU_WEBHOOK_DENIED);
			assert_null(a.patch);
		}
		answer_free(&a);
		free(body);
	}
	/* Unknown resources may be allowed by configuration. */
	struct vxpu_webhook_config lenient = config;
	lenient.deny_unknown_resources = false;
	char *body = review_of("{\"limits\":{\"nvidia.com/mig-1g.10gb\":\"1\"}}", NULL, NULL);
	struct answer a;
	review(body, &lenient, NULL, &a);
	assert_true(a.allowed);
	assert_int_equal(a.result.verdict, VXPU_WEBHOOK_IGNORED);
	answer_free(&a);
	free(body);
}

static void quota_is_checked_early(void **state)
{
	(void)state;
	struct vxpu_quota_table q;
	vxpu_quota_init(&q);
	struct vxpu_quota_amount limit = {30000, VXPU_QUOTA_UNLIMITED, 3};
	assert_int_equal(vxpu_quota_set(&q, "team-a", "", &limit, err, sizeof(err)), 0);
	/* 2 cards × 16000 MiB = 32000 MiB > 30000: per card × count. */
	char *body = review_of("{\"limits\":{\"nvidia.com/gpu\":\"2\",\"nvidia.com/gpumem\":"
	                       "\"16000\"}}",
	                       NULL, NULL);
	struct answer a;
	review(body, &config, &q, &a);
	assert_false(a.allowed);
	assert_int_equal(a.code, 403);
	assert_string_equal(a.message, "quota of namespace \"team-a\": memory 32000 MiB requested, "
	                               "30000 MiB of 30000 MiB left");
	answer_free(&a);
	free(body);
	/* Percent memory has no size before a node is chosen: only devices count here. */
	body = review_of("{\"limits\":{\"nvidia.com/gpu\":\"3\",\"nvidia.com/gpumem-percentage\":"
	                 "\"50\"}}",
	                 NULL, NULL);
	review(body, &config, &q, &a);
	assert_true(a.allowed);
	answer_free(&a);
	free(body);
	body = review_of("{\"limits\":{\"nvidia.com/gpu\":\"4\",\"nvidia.com/gpumem-percentage\":"
	                 "\"50\"}}",
	                 NULL, NULL);
	review(body, &config, &q, &a);
	assert_false(a.allowed);
	assert_non_null(strstr(a.message, "devices 4 requested, 3 of 3 left"));
	answer_free(&a);
	free(body);
	vxpu_quota_free(&q);
}

static void left_alone(void **state)
{
	(void)state;
	struct answer a;
	/* Opted out: admitted unchanged even when its request is wrong. */
	char *body = review_of("{\"limits\":{\"nvidia.com/gpumem\":\"0\"}}",
	                       "{\"vxpu.io/webhook\":\"off\"}", NULL);
	review(body, &config, NULL, &a);
	assert_true(a.allowed);
	assert_null(a.patch);
	assert_int_equal(a.result.verdict, VXPU_WEBHOOK_IGNORED);
	answer_free(&a);
	free(body);
	/* No vendor resource. */
	body = review_of("{\"limits\":{\"cpu\":\"1\",\"example.com/fpga\":\"1\"}}", NULL, NULL);
	review(body, &config, NULL, &a);
	assert_true(a.allowed);
	assert_null(a.patch);
	assert_int_equal(a.result.verdict, VXPU_WEBHOOK_IGNORED);
	answer_free(&a);
	free(body);
	/* Not a CREATE, or not a pod. */
	body = review_of("{\"limits\":{\"nvidia.com/gpumem\":\"0\"}}", NULL, NULL);
	char *op = strstr(body, "\"CREATE\"");
	memcpy(op, "\"UPDATE\"", 8);
	review(body, &config, NULL, &a);
	assert_true(a.allowed);
	assert_null(a.patch);
	answer_free(&a);
	memcpy(op, "\"CREATE\"", 8);
	char *kind = strstr(body, "\"kind\":\"Pod\"");
	memcpy(kind, "\"kind\":\"Job\"", 12);
	review(body, &config, NULL, &a);
	assert_true(a.allowed);
	answer_free(&a);
	free(body);
}

static void malformed_reviews(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		const char *needle;
	} cases[] = {
	        {"", "empty document"},
	        {"{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\","
	         "\"request\":{}}",
	         "expected apiVersion admission.k8s.io/v1"},
	        {"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
	         "missing field \"request\""},
	        {"{\"apiVersion\":\"admission.k8s.io/"
	         "v1\",\"kind\":\"AdmissionReview\",\"request\":{"
	         "\"operation\":\"CREATE\",\"kind\":{\"kind\":\"Pod\"}}}",
	         "request: missing field \"uid\""},
	        {"{\"apiVersion\":\"admission.k8s.io/"
	         "v1\",\"kind\":\"AdmissionReview\",\"request\":{"
	         "\"uid\":\"\",\"operation\":\"CREATE\",\"kind\":{\"kind\":\"Pod\"}}}",
	         "request.uid: is empty"},
	        {"{\"apiVersion\":\"admission.k8s.io/"
	         "v1\",\"kind\":\"AdmissionReview\",\"request\":{"
	         "\"uid\":\"u\",\"operation\":\"CREATE\",\"kind\":{\"kind\":\"Pod\"}}}",
	         "request: missing field \"object\""},
	        {"{\"apiVersion\":\"admission.k8s.io/"
	         "v1\",\"kind\":\"AdmissionReview\",\"request\":{"
	         "\"uid\":\"u\",\"operation\":\"CREATE\",\"kind\":{\"kind\":\"Pod\"}},\"response\":"
	         "{}}",
	         "unknown field \"response\""},
	        {"{\"apiVersion\":\"admission.k8s.io/"
	         "v1\",\"kind\":\"AdmissionReview\",\"request\":{"
	         "\"uid\":7}}",
	         "request.uid: expected a string"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vxpu_webhook_result r;
		err[0] = '\0';
		char *text = vxpu_webhook_review(sf_vendors(), &config, NULL, cases[i].body,
		                                 strlen(cases[i].body), &r, err, sizeof(err));
		if (text || !strstr(err, cases[i].needle))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].needle);
	}
	/* A pod object of the wrong shape inside a good review is denied, not an error. */
	const char *bad_pod =
	        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
	        "\"uid\":\"705ab4f5-6393-11e8-b7cc-42010a800002\",\"operation\":\"CREATE\","
	        "\"kind\":"
	        "{\"kind\":\"Pod\"},\"object\":{\"metadata\":{},\"spec\":{\"containers\":7}}}}";
	struct answer a;
	review(bad_pod, &config, NULL, &a);
	assert_false(a.allowed);
	assert_non_null(strstr(a.message, "request.object.spec.containers: expected an array"));
	answer_free(&a);
}

static void base64_matches_the_standard(void **state)
{
	(void)state;
	static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const out[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (int i = 0; i < 7; i++) {
		char *b = vxpu_base64_encode((const unsigned char *)in[i], strlen(in[i]));
		assert_string_equal(b, out[i]);
		char *back = b64_decode(b);
		assert_string_equal(back, in[i]);
		free(back);
		free(b);
	}
}

static uint64_t rng = 0x2545f4914f6cdd1dULL;
static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void fuzz_reviews(void **state)
{
	(void)state;
	char *seed =
	        review_of("{\"limits\":{\"nvidia.com/gpu\":\"2\",\"nvidia.com/gpumem\":\"8k\"}}",
	                  NULL, "{\"vxpu.io/project\":\"p\"}");
	size_t n = strlen(seed);
	size_t answered = 0, refused = 0;
	struct vxpu_quota_table q;
	vxpu_quota_init(&q);
	struct vxpu_quota_amount limit = {30000, 400, 3};
	vxpu_quota_set(&q, "team-a", "", &limit, err, sizeof(err));
	for (int i = 0; i < 4000; i++) {
		char *body = malloc(n + 1);
		memcpy(body, seed, n + 1);
		size_t len = n;
		int edits = 1 + (int)(next_random() % 3);
		for (int e = 0; e < edits && len > 0; e++) {
			size_t at = next_random() % len;
			switch (next_random() % 3) {
			case 0:
				body[at] = "{}[]\",:0a-\\ \x01\xff"[next_random() % 15];
				break;
			case 1:
				len = at;
				break;
			default:
				body[at] = (char)(next_random() & 0xff);
			}
		}
		struct vxpu_webhook_result r;
		err[0] = '\0';
		char *text = vxpu_webhook_review(sf_vendors(), &config, &q, body, len, &r, err,
		                                 sizeof(err));
		if (text) {
			cJSON *doc = cJSON_Parse(text);
			assert_non_null(doc);
			assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "response"),
			                                    "allowed"));
			cJSON_Delete(doc);
			free(text);
			answered++;
		} else {
			assert_true(err[0] != '\0');
			refused++;
		}
		free(body);
	}
	assert_true(answered > 100);
	assert_true(refused > 1000);
	vxpu_quota_free(&q);
	free(seed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(defaults_are_patched),
	        cmocka_unit_test(denials_say_what_to_fix),
	        cmocka_unit_test(quota_is_checked_early),
	        cmocka_unit_test(left_alone),
	        cmocka_unit_test(malformed_reviews),
	        cmocka_unit_test(base64_matches_the_standard),
	        cmocka_unit_test(fuzz_reviews),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

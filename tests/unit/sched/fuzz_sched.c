/*
 * fuzz_sched - the fuzz target of the scheduler's JSON handlers: the first
 * byte of the input chooses the handler, the rest is the HTTP body.
 *
 *   0  ExtenderArgs: parse, then filter and prioritize on a small cluster
 *   1  ExtenderBindingArgs
 *   2  AdmissionReview (with a quota table)
 *   3  a Pod, a Node and a ResourceQuota read from one JSON document,
 *      applied to the cluster model and taken back out
 *
 * Built two ways (tests/unit/sched/CMakeLists.txt has the commands): with
 * clang's libFuzzer (-DVXPU_FUZZ=ON), and always as a replay program over
 * the seed corpus fuzz_corpus/, run as a unit test, so the target keeps
 * building and every seed keeps passing.
 *
 * Every call must return without a crash or a leak; a refusal must say why.
 * Whatever the handler, the body also goes through the shared JSON grammar
 * check, which must never accept what cJSON cannot parse.
 */
#include "core/extender.h"
#include "core/extender_kube.h"
#include "core/extender_model.h"
#include "core/jsonstrict.h"
#include "core/webhook.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static struct vxpu_vendor_table vendors;
static struct vxpu_ext_model model;
static struct vxpu_quota_table quota;
static int ready;

static void setup(void)
{
	vxpu_vendor_table_builtin(&vendors);
	struct vxpu_sched_config cfg = {VXPU_POLICY_BINPACK, VXPU_POLICY_SPREAD};
	vxpu_ext_model_init(&model, &vendors, &cfg, 100);
	static const char *const regs[] = {
	        "{\"version\":1,\"node\":\"node-a\",\"updatedAt\":\"2026-11-28T11:47:49.123Z\","
	        "\"devices\":[{\"id\":\"GPU-a0\",\"index\":0,\"vendor\":\"nvidia\",\"model\":"
	        "\"NVIDIA "
	        "A100-SXM4-80GB\",\"memoryMiB\":81920,\"numa\":0},{\"id\":\"GPU-a1\",\"index\":1,"
	        "\"vendor\":\"nvidia\",\"model\":\"NVIDIA A100-SXM4-80GB\",\"memoryMiB\":81920,"
	        "\"numa\":1}],\"links\":[{\"a\":0,\"b\":1,\"type\":\"nvlink\",\"width\":12}]}",
	        "{\"version\":1,\"node\":\"node-b\",\"updatedAt\":\"2026-11-28T11:47:49.123Z\","
	        "\"devices\":[{\"id\":\"NPU-0\",\"index\":0,\"vendor\":\"huawei\",\"model\":"
	        "\"Ascend910B4\",\"memoryMiB\":32768}]}",
	};
	static const char *const names[] = {"node-a", "node-b"};
	for (int i = 0; i < 2; i++) {
		struct vxpu_kube_node kn = {.registration = regs[i]};
		snprintf(kn.name, sizeof(kn.name), "%s", names[i]);
		vxpu_ext_model_node_update(&model, &kn);
	}
	vxpu_quota_init(&quota);
	struct vxpu_quota_amount limit = {40000, 300, 4};
	char err[128];
	vxpu_quota_set(&quota, "team-a", "", &limit, err, sizeof(err));
	ready = 1;
}

static void must_say_why(const char *err)
{
	if (!err[0])
		abort(); /* a refusal without a message */
}

static void extender_args(const char *body, size_t len)
{
	char err[512] = "";
	struct vxpu_extender_args a;
	if (vxpu_extender_args_parse(body, len, &vendors, &a, err, sizeof(err)) < 0) {
		must_say_why(err);
		return;
	}
	struct vxpu_extender_outcome oc;
	char *f = vxpu_extender_filter(&model, &a, &oc);
	char *p = vxpu_extender_prioritize(&model, &a);
	if (!f || !p || oc.feasible + oc.failed != a.count)
		abort();
	/* The memo path answers exactly the same. */
	struct vxpu_extender_memo memo = {0};
	char *fm = vxpu_extender_filter_memo(&model, &a, &oc, &memo);
	if (!fm || strcmp(f, fm) != 0)
		abort();
	if (memo.valid) {
		if (!vxpu_extender_memo_matches(&memo, &model, &a))
			abort();
		char *pm = vxpu_extender_prioritize_memo(&memo, &a);
		if (!pm || strcmp(p, pm) != 0)
			abort();
		cJSON_free(pm);
	}
	vxpu_extender_memo_free(&memo);
	cJSON_free(fm);
	cJSON_free(f);
	cJSON_free(p);
	vxpu_extender_args_free(&a);
}

static void binding(const char *body, size_t len)
{
	char err[512] = "";
	struct vxpu_extender_binding b;
	if (vxpu_extender_binding_parse(body, len, &b, err, sizeof(err)) < 0)
		must_say_why(err);
}

static void review(const char *body, size_t len)
{
	static const struct vxpu_webhook_config cfg = {"vxpu-scheduler", true, true};
	char err[512] = "";
	struct vxpu_webhook_result r;
	char *text = vxpu_webhook_review(&vendors, &cfg, &quota, body, len, &r, err, sizeof(err));
	if (!text)
		must_say_why(err);
	free(text);
}

/* Applies the document as a Pod, Node and ResourceQuota, then removes them again. */
static void objects(const char *body, size_t len)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	if (!doc)
		return;
	char err[512];
	struct vxpu_kube_pod *kp = malloc(sizeof(*kp));
	if (kp && vxpu_kube_pod_read(doc, "Pod", &vendors, kp, err, sizeof(err)) == 0) {
		vxpu_ext_model_pod_update(&model, kp);
		char *ann = NULL;
		if (kp->uid[0] &&
		    vxpu_ext_model_reserve(&model, kp, "node-a", 0, &ann, err, sizeof(err)) == 0)
			free(ann);
		vxpu_ext_model_pod_delete(&model, kp->uid);
	}
	free(kp);
	struct vxpu_kube_node kn;
	if (vxpu_kube_node_read(doc, "Node", &kn, err, sizeof(err)) == 0 &&
	    strcmp(kn.name, "node-a") && strcmp(kn.name, "node-b")) {
		vxpu_ext_model_node_update(&model, &kn);
		vxpu_ext_model_node_delete(&model, kn.name);
	}
	struct vxpu_kube_quota kq;
	if (vxpu_kube_quota_read(doc, "RQ", &vendors, &kq, err, sizeof(err)) == 0) {
		vxpu_ext_model_quota_update(&model, &kq, err, sizeof(err));
		vxpu_ext_model_quota_delete(&model, kq.ns, kq.name);
	}
	cJSON_Delete(doc);
	/* Whatever came and went, the model holds nothing. */
	if (model.npods != 0 || model.nnodes != 2)
		abort();
}

/* The grammar check admits only what cJSON reads: whatever it accepts,
 * cJSON must parse (the other way round is not required - cJSON takes
 * more). Run on every input, whatever the handler. */
static void grammar(const char *body, size_t len)
{
	size_t at = 0;
	const int rc = vxpu_json_check_grammar(body, len, &at);
	if (at > len)
		abort();
	if (rc != 0)
		return;
	cJSON *doc = cJSON_ParseWithLength(body, len);
	if (!doc)
		abort();
	cJSON_Delete(doc);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (!ready)
		setup();
	if (size < 1)
		return 0;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	grammar(body, len);
	switch (data[0] % 4) {
	case 0:
		extender_args(body, len);
		break;
	case 1:
		binding(body, len);
		break;
	case 2:
		review(body, len);
		break;
	default:
		objects(body, len);
	}
	return 0;
}

#ifndef VXPU_LIBFUZZER
/* Replay: runs every file given (the seed corpus) through the target. */
int main(int argc, char **argv)
{
	int ran = 0;
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f) {
			fprintf(stderr, "fuzz_sched: cannot open %s\n", argv[i]);
			return 1;
		}
		static unsigned char buf[1 << 20];
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
		ran++;
	}
	vxpu_ext_model_free(&model);
	vxpu_quota_free(&quota);
	printf("fuzz_sched: %d inputs replayed\n", ran);
	return ran > 0 ? 0 : 1;
}
#endif

/*
 * The cluster model: usage derived from pods' allocation annotations, the
 * same state whatever order the events come in, reservations and their
 * rollback, node re-registration, quotas that follow recorded pods, and
 * reconciling a node with a fresh list.
 */
#include "sched_fixtures.h"

#include "core/annotation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[512];
#define A100 "NVIDIA A100-SXM4-80GB"
#define NOW 1795866469000LL

static void model_init(struct vxpu_ext_model *m)
{
	struct vxpu_sched_config cfg = {VXPU_POLICY_BINPACK, VXPU_POLICY_BINPACK};
	vxpu_ext_model_init(m, sf_vendors(), &cfg, 100);
}

static const char *const node_names[] = {"node-a", "node-b", "node-c"};

static void add_nodes(struct vxpu_ext_model *m)
{
	for (int i = 0; i < 3; i++) {
		char *t = sf_node_json(node_names[i], 4, A100, 81920);
		sf_apply_node(m, t);
		free(t);
	}
}

/* A pod JSON carrying an allocation annotation (and bound when node is set). */
static char *pod_with_allocation(const char *ns, const char *name, const char *uid,
                                 const char *node, const char *resources, const char *allocation,
                                 const char *phase)
{
	char *base = sf_pod_json(ns, name, uid, node, resources, NULL);
	cJSON *doc = cJSON_Parse(base);
	free(base);
	cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "metadata"), "annotations");
	if (allocation)
		cJSON_AddStringToObject(ann, "vxpu.io/allocation", allocation);
	if (phase)
		cJSON_SetValuestring(
		        cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "status"), "phase"), phase);
	char *text = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	return text;
}

/* Reserves pod (resources) on node; returns the annotation text. */
static char *reserve(struct vxpu_ext_model *m, const char *ns, const char *name, const char *uid,
                     const char *node, const char *resources)
{
	char *text = sf_pod_json(ns, name, uid, NULL, resources, NULL);
	cJSON *doc;
	struct vxpu_kube_pod *p = sf_pod_read(text, &doc);
	char *annotation = NULL;
	if (vxpu_ext_model_reserve(m, p, node, NOW, &annotation, err, sizeof(err)) < 0)
		fail_msg("reserve %s on %s: %s", name, node, err);
	free(p);
	cJSON_Delete(doc);
	free(text);
	return annotation;
}

static int try_reserve(struct vxpu_ext_model *m, const char *uid, const char *node,
                       const char *resources, const char *annotations)
{
	char *text = sf_pod_json("team-a", uid, uid, NULL, resources, annotations);
	cJSON *doc;
	struct vxpu_kube_pod *p = sf_pod_read(text, &doc);
	char *annotation = NULL;
	err[0] = '\0';
	int rc = vxpu_ext_model_reserve(m, p, node, NOW, &annotation, err, sizeof(err));
	vxpu_annotation_free(annotation);
	free(p);
	cJSON_Delete(doc);
	free(text);
	return rc;
}

/* Everything the model derives, as one comparable text. */
static char *fingerprint(const struct vxpu_ext_model *m)
{
	char *s = sf_format("%s", "");
	for (size_t i = 0; i < m->nnodes; i++) {
		const struct vxpu_node *n = &m->nodes[i]->node;
		for (uint32_t d = 0; d < n->ndevices; d++) {
			char *next = sf_format("%s%s/%u:%llu,%u,%u,%u;", s, n->name, d,
			                       (unsigned long long)n->usage[d].memory_mib,
			                       n->usage[d].compute_units, n->usage[d].slices,
			                       n->usage[d].exclusive);
			free(s);
			s = next;
		}
	}
	for (size_t i = 0; i < m->quota.count; i++) {
		const struct vxpu_quota_entry *e = &m->quota.entries[i];
		char *next = sf_format("%sq %s/%s:%llu,%llu,%llu;", s, e->ns, e->project,
		                       (unsigned long long)e->used.memory_mib,
		                       (unsigned long long)e->used.compute_percent,
		                       (unsigned long long)e->used.devices);
		free(s);
		s = next;
	}
	return s;
}

static const char *const shapes[] = {
        "{\"limits\":{\"nvidia.com/gpu\":\"1\",\"nvidia.com/gpumem\":\"10000\"}}",
        "{\"limits\":{\"nvidia.com/gpu\":\"2\",\"nvidia.com/gpumem\":\"20k\",\"nvidia.com/"
        "gpucores\":"
        "\"30\"}}",
        "{\"limits\":{\"nvidia.com/gpu\":\"1\",\"nvidia.com/gpumem-percentage\":\"50\"}}",
        "{\"limits\":{\"nvidia.com/gpu\":\"1\",\"nvidia.com/gpucores\":\"100\"}}",
};

#define NPODS 12

static void apply_quota(struct vxpu_ext_model *m, const char *json)
{
	cJSON *doc = cJSON_Parse(json);
	struct vxpu_kube_quota q;
	if (vxpu_kube_quota_read(doc, "RQ", sf_vendors(), &q, err, sizeof(err)) < 0 ||
	    vxpu_ext_model_quota_update(m, &q, err, sizeof(err)) < 0)
		fail_msg("quota: %s", err);
	cJSON_Delete(doc);
}

static void restart_rebuilds_the_same_state_in_any_order(void **state)
{
	(void)state;
	struct vxpu_ext_model live;
	model_init(&live);
	add_nodes(&live);
	apply_quota(&live,
	            "{\"metadata\":{\"name\":\"q\",\"namespace\":\"team-a\"},\"spec\":{\"hard\":"
	            "{\"limits.nvidia.com/gpumem\":\"10000k\"}}}");
	char *pods[NPODS];
	for (int i = 0; i < NPODS; i++) {
		char name[32], uid[32];
		snprintf(name, sizeof(name), "pod-%d", i);
		snprintf(uid, sizeof(uid), "uid-%02d", (i * 7) % NPODS);
		const char *node = node_names[i % 3];
		char *ann = reserve(&live, "team-a", name, uid, node, shapes[i % 4]);
		pods[i] = pod_with_allocation("team-a", name, uid, node, shapes[i % 4], ann, NULL);
		/* The watch then reports the bound pod: the reservation is confirmed. */
		assert_int_equal(sf_apply_pod(&live, pods[i]), 1);
		assert_false(vxpu_ext_model_pod(&live, uid)->reserved);
		vxpu_annotation_free(ann);
	}
	char *want = fingerprint(&live);
	assert_non_null(strstr(want, "q team-a/:"));
	assert_null(strstr(want, "q team-a/:0,0,0")); /* quota use was charged */

	/* Pods before nodes, quota last. */
	struct vxpu_ext_model a;
	model_init(&a);
	for (int i = NPODS - 1; i >= 0; i--)
		assert_int_equal(sf_apply_pod(&a, pods[i]), 1);
	assert_int_equal(vxpu_ext_model_unrecorded(&a), NPODS);
	add_nodes(&a);
	assert_int_equal(vxpu_ext_model_unrecorded(&a), 0);
	apply_quota(&a,
	            "{\"metadata\":{\"name\":\"q\",\"namespace\":\"team-a\"},\"spec\":{\"hard\":"
	            "{\"limits.nvidia.com/gpumem\":\"10000k\"}}}");
	char *got = fingerprint(&a);
	assert_string_equal(got, want);
	free(got);

	/* Quota first, nodes, then pods twice (a relist replays them). */
	struct vxpu_ext_model b;
	model_init(&b);
	apply_quota(&b,
	            "{\"metadata\":{\"name\":\"q\",\"namespace\":\"team-a\"},\"spec\":{\"hard\":"
	            "{\"limits.nvidia.com/gpumem\":\"10000k\"}}}");
	add_nodes(&b);
	for (int r = 0; r < 2; r++)
		for (int i = 0; i < NPODS; i++)
			sf_apply_pod(&b, pods[i]);
	got = fingerprint(&b);
	assert_string_equal(got, want);
	free(got);

	/* Every pod finishing gives everything back. */
	for (int i = 0; i < NPODS; i++) {
		cJSON *doc = cJSON_Parse(pods[i]);
		char *text = pod_with_allocation(
		        "team-a",
		        cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "metadata"), "name")
		                ->valuestring,
		        cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "metadata"), "uid")
		                ->valuestring,
		        node_names[i % 3], shapes[i % 4],
		        vxpu_kube_annotation(doc, "vxpu.io/allocation"), "Succeeded");
		assert_int_equal(sf_apply_pod(&b, text), 0);
		free(text);
		cJSON_Delete(doc);
	}
	assert_int_equal(b.npods, 0);
	got = fingerprint(&b);
	assert_null(strstr(got, ":1")); /* no usage anywhere */
	assert_non_null(strstr(got, "q team-a/:0,0,0;"));
	free(got);

	for (int i = 0; i < NPODS; i++)
		free(pods[i]);
	free(want);
	vxpu_ext_model_free(&live);
	vxpu_ext_model_free(&a);
	vxpu_ext_model_free(&b);
}

static void reservation_lifecycle(void **state)
{
	(void)state;
	struct vxpu_ext_model m;
	model_init(&m);
	add_nodes(&m);
	char *ann = reserve(&m, "ns", "p", "uid-1", "node-b", shapes[0]);
	assert_non_null(strstr(ann, "\"node\":\"node-b\""));
	assert_int_equal(sf_used_mib(&m, "node-b", 0), 10000);
	const struct vxpu_ext_pod *p = vxpu_ext_model_pod(&m, "uid-1");
	assert_true(p->reserved && p->recorded);

	/* The annotation patch is seen before the binding: still held. */
	char *annotated = pod_with_allocation("ns", "p", "uid-1", NULL, shapes[0], ann, NULL);
	assert_int_equal(sf_apply_pod(&m, annotated), 1);
	assert_int_equal(sf_used_mib(&m, "node-b", 0), 10000);
	/* Rolled back: released, and a second rollback finds nothing. */
	assert_int_equal(vxpu_ext_model_unreserve(&m, "uid-1"), 0);
	assert_int_equal(sf_used_mib(&m, "node-b", 0), 0);
	assert_int_equal(vxpu_ext_model_unreserve(&m, "uid-1"), -1);
	/* An annotated but unbound pod that is not ours holds nothing. */
	assert_int_equal(sf_apply_pod(&m, annotated), 0);
	assert_int_equal(sf_used_mib(&m, "node-b", 0), 0);

	/* A retried bind moves the reservation: the old one is released first. */
	vxpu_annotation_free(ann);
	ann = reserve(&m, "ns", "p", "uid-1", "node-b", shapes[0]);
	vxpu_annotation_free(ann);
	ann = reserve(&m, "ns", "p", "uid-1", "node-c", shapes[0]);
	assert_int_equal(sf_used_mib(&m, "node-b", 0), 0);
	assert_int_equal(sf_used_mib(&m, "node-c", 0), 10000);
	/* Bound, then confirmed reservations are no longer ours to roll back. */
	char *bound = pod_with_allocation("ns", "p", "uid-1", "node-c", shapes[0], ann, NULL);
	assert_int_equal(sf_apply_pod(&m, bound), 1);
	assert_int_equal(vxpu_ext_model_unreserve(&m, "uid-1"), -1);
	vxpu_ext_model_pod_delete(&m, "uid-1");
	assert_int_equal(sf_used_mib(&m, "node-c", 0), 0);
	free(bound);
	free(annotated);
	vxpu_annotation_free(ann);
	vxpu_ext_model_free(&m);
}

static void refused_reservation_changes_nothing(void **state)
{
	(void)state;
	struct vxpu_ext_model m;
	model_init(&m);
	add_nodes(&m);
	char *ann = reserve(&m, "team-a", "first", "uid-1", "node-a", shapes[1]);
	vxpu_annotation_free(ann);
	char *before = fingerprint(&m);
	uint64_t shapes_seen = vxpu_shapes_observed(&m.shapes);
	/* Too large for any device. */
	assert_int_equal(try_reserve(&m, "uid-2", "node-a",
	                             "{\"limits\":{\"nvidia.com/gpumem\":\"100000\"}}", NULL),
	                 -1);
	assert_non_null(strstr(err, "node \"node-a\": 4/4 insufficient memory"));
	/* An invalid request, an unknown node, a request error. */
	assert_int_equal(try_reserve(&m, "uid-2", "node-a",
	                             "{\"limits\":{\"nvidia.com/gpumem\":\"1\",\"nvidia.com/"
	                             "gpumem-percentage\":\"5\"}}",
	                             NULL),
	                 -1);
	assert_non_null(strstr(err, "exclusive; give one"));
	assert_int_equal(try_reserve(&m, "uid-2", "node-z", shapes[0], NULL), -1);
	assert_non_null(strstr(err, "not known"));
	assert_int_equal(try_reserve(&m, "uid-2", "node-a", shapes[0],
	                             "{\"vxpu.io/device-policy\":\"nope\"}"),
	                 -1);
	assert_non_null(strstr(err, "unknown policy"));
	/* A retried bind of uid-1 that no longer fits keeps what uid-1 held. */
	assert_int_equal(
	        try_reserve(&m, "uid-1", "node-a", "{\"limits\":{\"nvidia.com/gpu\":\"5\"}}", NULL),
	        -1);
	char *after = fingerprint(&m);
	assert_string_equal(before, after);
	assert_true(vxpu_ext_model_pod(&m, "uid-1")->reserved);
	assert_int_equal(vxpu_shapes_observed(&m.shapes), shapes_seen);
	free(before);
	free(after);
	vxpu_ext_model_free(&m);
}

static void registration_changes_rebuild_the_node(void **state)
{
	(void)state;
	struct vxpu_ext_model m;
	model_init(&m);
	add_nodes(&m);
	char *ann = reserve(&m, "ns", "p", "uid-1", "node-a", shapes[0]);
	char *bound = pod_with_allocation("ns", "p", "uid-1", "node-a", shapes[0], ann, NULL);
	sf_apply_pod(&m, bound);
	/* Bigger devices: same ids, so the pod is recorded again on the new value. */
	char *t = sf_node_json("node-a", 4, A100, 163840);
	sf_apply_node(&m, t);
	free(t);
	assert_int_equal(vxpu_ext_model_node(&m, "node-a")->node.devices[0].memory_mib, 163840);
	assert_int_equal(sf_used_mib(&m, "node-a", 0), 10000);
	assert_true(vxpu_ext_model_pod(&m, "uid-1")->recorded);
	/* The device is gone: the pod cannot be recorded and says why. */
	t = sf_node_json("node-a", 0, A100, 81920);
	sf_apply_node(&m, t);
	free(t);
	const struct vxpu_ext_pod *p = vxpu_ext_model_pod(&m, "uid-1");
	assert_false(p->recorded);
	assert_non_null(strstr(p->problem, "GPU-node-a-0"));
	/* A registration that does not decode leaves the node unregistered. */
	cJSON *doc = cJSON_Parse("{\"metadata\":{\"name\":\"node-a\",\"annotations\":"
	                         "{\"vxpu.io/node-registration\":\"{\\\"version\\\":2}\"}}}");
	struct vxpu_kube_node kn;
	assert_int_equal(vxpu_kube_node_read(doc, "", &kn, err, sizeof(err)), 0);
	assert_int_equal(vxpu_ext_model_node_update(&m, &kn), 1);
	cJSON_Delete(doc);
	assert_non_null(strstr(vxpu_ext_model_node(&m, "node-a")->problem, "version"));
	assert_int_equal(try_reserve(&m, "uid-9", "node-a", shapes[0], NULL), -1);
	assert_non_null(strstr(err, "not registered"));
	/* Back with its devices: recorded again. Deleted: unrecorded. */
	t = sf_node_json("node-a", 4, A100, 81920);
	sf_apply_node(&m, t);
	free(t);
	assert_true(vxpu_ext_model_pod(&m, "uid-1")->recorded);
	assert_int_equal(sf_used_mib(&m, "node-a", 0), 10000);
	vxpu_ext_model_node_delete(&m, "node-a");
	assert_null(vxpu_ext_model_node(&m, "node-a"));
	assert_false(vxpu_ext_model_pod(&m, "uid-1")->recorded);
	/* A registration naming another node is refused. */
	t = sf_node_json("node-b", 1, A100, 81920);
	cJSON *nd = cJSON_Parse(t);
	cJSON_SetValuestring(cJSON_GetObjectItem(cJSON_GetObjectItem(nd, "metadata"), "name"),
	                     "node-x");
	char *renamed = cJSON_PrintUnformatted(nd);
	sf_apply_node(&m, renamed);
	assert_false(vxpu_ext_model_node(&m, "node-x")->registered);
	assert_non_null(strstr(vxpu_ext_model_node(&m, "node-x")->problem, "names node"));
	free(renamed);
	cJSON_Delete(nd);
	free(t);
	free(bound);
	vxpu_annotation_free(ann);
	vxpu_ext_model_free(&m);
}

static void allocation_for_another_node_is_not_counted(void **state)
{
	(void)state;
	struct vxpu_ext_model m;
	model_init(&m);
	add_nodes(&m);
	char *ann = reserve(&m, "ns", "p", "uid-1", "node-a", shapes[0]);
	vxpu_ext_model_unreserve(&m, "uid-1");
	char *bound = pod_with_allocation("ns", "p", "uid-1", "node-b", shapes[0], ann, NULL);
	assert_int_equal(sf_apply_pod(&m, bound), 1);
	const struct vxpu_ext_pod *p = vxpu_ext_model_pod(&m, "uid-1");
	assert_false(p->recorded);
	assert_non_null(strstr(p->problem, "names node \"node-a\""));
	assert_int_equal(sf_used_mib(&m, "node-a", 0) + sf_used_mib(&m, "node-b", 0), 0);
	char *broken = pod_with_allocation("ns", "q", "uid-2", "node-b", shapes[0], "{", NULL);
	assert_int_equal(sf_apply_pod(&m, broken), 1);
	assert_false(vxpu_ext_model_pod(&m, "uid-2")->recorded);
	assert_int_equal(vxpu_ext_model_unrecorded(&m), 2);
	free(broken);
	free(bound);
	vxpu_annotation_free(ann);
	vxpu_ext_model_free(&m);
}

static void quotas_follow_recorded_pods(void **state)
{
	(void)state;
	struct vxpu_ext_model m;
	model_init(&m);
	add_nodes(&m);
	/* 2 cards × 20000 MiB × 30 %: charged per card × count. */
	char *ann = reserve(&m, "team-a", "p", "uid-1", "node-a", shapes[1]);
	char *bound = pod_with_allocation("team-a", "p", "uid-1", "node-a", shapes[1], ann, NULL);
	sf_apply_pod(&m, bound);
	/* The quota arrives after the pod: its use starts with the pod's charge. */
	apply_quota(&m,
	            "{\"metadata\":{\"name\":\"q1\",\"namespace\":\"team-a\"},\"spec\":{\"hard\":"
	            "{\"limits.nvidia.com/gpumem\":\"49000\",\"limits.nvidia.com/gpucores\":"
	            "\"100\"}}}");
	const struct vxpu_quota_entry *e = vxpu_quota_find(&m.quota, "team-a", "");
	assert_non_null(e);
	assert_int_equal(e->used.memory_mib, 40000);
	assert_int_equal(e->used.compute_percent, 60);
	assert_int_equal(e->used.devices, 2);
	assert_int_equal(try_reserve(&m, "uid-2", "node-b", shapes[0], NULL), -1);
	assert_non_null(strstr(err, "quota of namespace \"team-a\": memory 10000 MiB requested, "
	                            "9000 MiB of 49000 MiB left"));
	/* A second, tighter quota object wins; deleting it restores the first. */
	apply_quota(&m,
	            "{\"metadata\":{\"name\":\"q2\",\"namespace\":\"team-a\"},\"spec\":{\"hard\":"
	            "{\"limits.nvidia.com/gpumem\":\"45000\"}}}");
	e = vxpu_quota_find(&m.quota, "team-a", "");
	assert_int_equal(e->limit.memory_mib, 45000);
	assert_int_equal(try_reserve(&m, "uid-2", "node-b", shapes[0], NULL), -1);
	assert_non_null(strstr(err, "memory 10000 MiB requested, 5000 MiB of 45000 MiB left"));
	vxpu_ext_model_quota_delete(&m, "team-a", "q2");
	e = vxpu_quota_find(&m.quota, "team-a", "");
	assert_int_equal(e->limit.memory_mib, 49000);
	/* Compute: 60 of 100 used, a 30 % share on two cards does not fit. */
	assert_int_equal(try_reserve(&m, "uid-2", "node-b",
	                             "{\"limits\":{\"nvidia.com/gpu\":\"2\",\"nvidia.com/gpumem\":"
	                             "\"1000\",\"nvidia.com/gpucores\":\"30\"}}",
	                             NULL),
	                 -1);
	assert_non_null(strstr(err, "compute 60% requested, 40% of 100% left"));
	/* A project quota applies on top of the namespace's. */
	apply_quota(&m, "{\"metadata\":{\"name\":\"vision\",\"namespace\":\"team-a\",\"labels\":"
	                "{\"vxpu.io/project\":\"vision\"}},\"spec\":{\"hard\":"
	                "{\"limits.nvidia.com/gpu\":\"1\"}}}");
	const char *small = "{\"limits\":{\"nvidia.com/gpumem\":\"1000\"}}";
	assert_int_equal(
	        try_reserve(&m, "uid-3", "node-b", small, "{\"vxpu.io/project\":\"vision\"}"), 0);
	assert_int_equal(
	        try_reserve(&m, "uid-4", "node-b", small, "{\"vxpu.io/project\":\"vision\"}"), -1);
	assert_non_null(strstr(err, "quota of project \"vision\""));
	e = vxpu_quota_find(&m.quota, "team-a", "vision");
	assert_int_equal(e->used.devices, 1);
	/* The finished pod gives its share back to both. */
	vxpu_ext_model_unreserve(&m, "uid-3");
	assert_int_equal(vxpu_quota_find(&m.quota, "team-a", "vision")->used.devices, 0);
	vxpu_ext_model_pod_delete(&m, "uid-1");
	e = vxpu_quota_find(&m.quota, "team-a", "");
	assert_int_equal(e->used.memory_mib, 0);
	/* A quota edited to no vxpu key anymore stops limiting. */
	apply_quota(&m,
	            "{\"metadata\":{\"name\":\"q1\",\"namespace\":\"team-a\"},\"spec\":{\"hard\":"
	            "{\"cpu\":\"4\"}}}");
	assert_true(vxpu_quota_find(&m.quota, "team-a", "")->limit.memory_mib ==
	            VXPU_QUOTA_UNLIMITED);
	free(bound);
	vxpu_annotation_free(ann);
	vxpu_ext_model_free(&m);
}

static void node_sync_drops_what_the_api_no_longer_has(void **state)
{
	(void)state;
	struct vxpu_ext_model m;
	model_init(&m);
	add_nodes(&m);
	char *a1 = reserve(&m, "ns", "p1", "uid-1", "node-a", shapes[0]);
	char *a2 = reserve(&m, "ns", "p2", "uid-2", "node-a", shapes[0]);
	char *b1 = pod_with_allocation("ns", "p1", "uid-1", "node-a", shapes[0], a1, NULL);
	sf_apply_pod(&m, b1); /* confirmed: no longer reserved */
	char *a3 = reserve(&m, "ns", "p3", "uid-3", "node-a", shapes[0]); /* still reserved */
	vxpu_ext_model_unreserve(&m, "uid-2");
	char *b2 = pod_with_allocation("ns", "p2", "uid-2", "node-a", shapes[0], a2, NULL);
	sf_apply_pod(&m, b2); /* another replica's pod, seen through the watch */
	assert_int_equal(m.npods, 3);
	/* The fresh list holds only uid-2: uid-1 is gone, uid-3 is ours in flight. */
	const char *uids[] = {"uid-2"};
	vxpu_ext_model_node_sync(&m, "node-a", uids, 1);
	assert_null(vxpu_ext_model_pod(&m, "uid-1"));
	assert_non_null(vxpu_ext_model_pod(&m, "uid-2"));
	assert_non_null(vxpu_ext_model_pod(&m, "uid-3"));
	/* A relist of all pods (node NULL, sorted UIDs) that no longer has uid-2. */
	const char *all[] = {"uid-0", "uid-9"};
	vxpu_ext_model_node_sync(&m, NULL, all, 2);
	assert_null(vxpu_ext_model_pod(&m, "uid-2"));
	assert_non_null(vxpu_ext_model_pod(&m, "uid-3")); /* still ours in flight */
	assert_int_equal(sf_used_mib(&m, "node-a", 0) + sf_used_mib(&m, "node-a", 1) +
	                         sf_used_mib(&m, "node-a", 2) + sf_used_mib(&m, "node-a", 3),
	                 10000);
	vxpu_annotation_free(a1);
	vxpu_annotation_free(a2);
	vxpu_annotation_free(a3);
	free(b1);
	free(b2);
	vxpu_ext_model_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(restart_rebuilds_the_same_state_in_any_order),
	        cmocka_unit_test(reservation_lifecycle),
	        cmocka_unit_test(refused_reservation_changes_nothing),
	        cmocka_unit_test(registration_changes_rebuild_the_node),
	        cmocka_unit_test(allocation_for_another_node_is_not_counted),
	        cmocka_unit_test(quotas_follow_recorded_pods),
	        cmocka_unit_test(node_sync_drops_what_the_api_no_longer_has),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

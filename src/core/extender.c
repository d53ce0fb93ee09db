/*
 * extender.c - the scheduler-extender protocol (see extender.h).
 *
 * One evaluation serves filter and prioritize: evaluate() fits the pod on
 * each node given, with one memo of request shapes shared by all nodes of
 * the call, and keeps per node whether it fit, its score, or its refusal.
 * Answers are built as cJSON trees; node objects of the question are put in
 * the answer by reference, not copied.
 */
#include "core/extender.h"

#include "core/fit.h"
#include "core/jsonstrict.h"
#include "core/match.h"
#include "core/policy.h"
#include "core/schedule.h"
#include "core/shapes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *vxpu_extender_body_text(const char *body, size_t len, char *err, size_t errlen)
{
	if (!body)
		len = 0;
	if (len && memchr(body, '\0', len)) {
		snprintf(err, errlen, "body: holds a NUL byte at offset %zu",
		         (size_t)((const char *)memchr(body, '\0', len) - body));
		return NULL;
	}
	char *text = malloc(len + 1);
	if (!text) {
		snprintf(err, errlen, "body: out of memory");
		return NULL;
	}
	if (len)
		memcpy(text, body, len);
	text[len] = '\0';
	return text;
}

static int parse_body(const char *body, size_t len, const char *what, cJSON **doc, char *err,
                      size_t errlen)
{
	char *text = vxpu_extender_body_text(body, len, err, errlen);
	if (!text)
		return -1;
	int rc = vxpu_json_parse_object(text, what, doc, err, errlen);
	free(text);
	return rc;
}

/* ---- ExtenderArgs ---------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Refuses a node name given twice (names sorted in a scratch copy). */
static int check_unique(const char **names, size_t count, const char *path, char *err,
                        size_t errlen)
{
	if (count < 2)
		return 0;
	const char **sorted = malloc(count * sizeof(*sorted));
	if (!sorted)
		return vxpu_json_fail(err, errlen, path, "out of memory");
	memcpy(sorted, names, count * sizeof(*sorted));
	qsort(sorted, count, sizeof(*sorted), name_cmp);
	int rc = 0;
	for (size_t i = 1; i < count && rc == 0; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
			rc = vxpu_json_fail(err, errlen, path, "node \"%s\" appears twice",
			                    sorted[i]);
	free(sorted);
	return rc;
}

static bool given(const cJSON *doc, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
	return v && !cJSON_IsNull(v);
}

int vxpu_extender_args_parse(const char *body, size_t len, const struct vxpu_vendor_table *vendors,
                             struct vxpu_extender_args *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	static const char *const fields[] = {"Pod", "Nodes", "NodeNames", NULL};
	cJSON *doc = NULL;
	if (parse_body(body, len, "ExtenderArgs", &doc, err, errlen) < 0)
		return -1;
	out->doc = doc;
	const cJSON *pod = NULL, *list = NULL;
	if (vxpu_json_only_fields(doc, "ExtenderArgs", fields, err, errlen) < 0 ||
	    vxpu_json_object(doc, "", "Pod", true, &pod, err, errlen) < 0)
		goto fail;
	bool by_name = given(doc, "NodeNames"), by_object = given(doc, "Nodes");
	if (by_name == by_object) {
		snprintf(err, errlen,
		         "ExtenderArgs: give exactly one of NodeNames and Nodes, got %s",
		         by_name ? "both" : "neither");
		goto fail;
	}
	out->pod = malloc(sizeof(*out->pod));
	if (!out->pod) {
		snprintf(err, errlen, "ExtenderArgs: out of memory");
		goto fail;
	}
	if (vxpu_kube_pod_read(pod, "Pod", vendors, out->pod, err, errlen) < 0)
		goto fail;
	const char *path = by_name ? "NodeNames" : "Nodes.items";
	if (by_name) {
		if (vxpu_json_array(doc, "", "NodeNames", true, &list, err, errlen) < 0)
			goto fail;
	} else {
		const cJSON *nodes = NULL;
		if (vxpu_json_object(doc, "", "Nodes", true, &nodes, err, errlen) < 0)
			goto fail;
		list = cJSON_GetObjectItemCaseSensitive(nodes, "items");
		if (list && cJSON_IsNull(list))
			list = NULL;
		if (list && vxpu_json_array(nodes, "Nodes", "items", true, &list, err, errlen) < 0)
			goto fail;
		out->node_objects = true;
	}
	size_t count = (size_t)(list ? cJSON_GetArraySize(list) : 0);
	out->names = calloc(count ? count : 1, sizeof(*out->names));
	out->objects = calloc(count ? count : 1, sizeof(const cJSON *));
	if (!out->names || !out->objects) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	size_t i = 0;
	char ip[64];
	for (const cJSON *e = list ? list->child : NULL; e; e = e->next, i++) {
		vxpu_json_path_index(ip, sizeof(ip), path, i);
		if (out->node_objects) {
			struct vxpu_kube_node kn;
			if (vxpu_kube_node_read(e, ip, &kn, err, errlen) < 0)
				goto fail;
			const cJSON *meta = cJSON_GetObjectItemCaseSensitive(e, "metadata");
			out->names[i] = cJSON_GetObjectItemCaseSensitive(meta, "name")->valuestring;
			out->objects[i] = e;
		} else {
			if (!cJSON_IsString(e) || !e->valuestring) {
				char got[64];
				vxpu_json_describe(e, got, sizeof(got));
				vxpu_json_fail(err, errlen, ip, "expected a node name, got %s",
				               got);
				goto fail;
			}
			size_t n = strlen(e->valuestring);
			if (n == 0 || n >= VXPU_NODE_NAME_MAX) {
				vxpu_json_fail(err, errlen, ip,
				               "node name of %zu bytes, expected 1..%d", n,
				               VXPU_NODE_NAME_MAX - 1);
				goto fail;
			}
			out->names[i] = e->valuestring;
		}
	}
	out->count = count;
	if (check_unique(out->names, count, path, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	vxpu_extender_args_free(out);
	return -1;
}

void vxpu_extender_args_free(struct vxpu_extender_args *a)
{
	cJSON_Delete(a->doc);
	free(a->pod);
	free(a->names);
	free(a->objects);
	memset(a, 0, sizeof(*a));
}

/* ---- evaluation ------------------------------------------------------------ */

enum verdict {
	V_FIT,
	V_REFUSED,     /* preemption may help */
	V_UNRESOLVABLE /* preemption cannot help */
};

struct evaluation {
	bool passthrough;
	char error[320]; /* the pod's request was refused */
	enum vxpu_policy node_policy;
	enum verdict *verdict;
	struct vxpu_score *score;
	char **reason; /* per refused node (heap) */
};

static void evaluation_free(struct evaluation *ev, size_t count)
{
	if (ev->reason)
		for (size_t i = 0; i < count; i++)
			free(ev->reason[i]);
	free(ev->reason);
	free(ev->verdict);
	free(ev->score);
}

static char *text_copy(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* Whether freeing capacity on the node (preemption) could make the pod fit. */
static bool resolvable(const struct vxpu_refusal *why)
{
	switch (why->node_reason) {
	case VXPU_REASON_QUOTA:
	case VXPU_REASON_HOST_CPU:
	case VXPU_REASON_HOST_MEMORY:
		return true;
	case VXPU_REASON_OK:
		break;
	default:
		return false;
	}
	if (why->fitting > 0)
		return true;
	for (int r = VXPU_REASON_INSUFFICIENT_MEMORY; r <= VXPU_REASON_EXCLUSIVE_CONFLICT; r++)
		if (why->counts[r])
			return true;
	return why->counts[VXPU_REASON_NUMA] > 0;
}

static int evaluate(const struct vxpu_ext_model *m, const struct vxpu_extender_args *a,
                    bool want_scores, struct evaluation *ev)
{
	memset(ev, 0, sizeof(*ev));
	const struct vxpu_kube_pod *kp = a->pod;
	if (!kp->wants_devices && !kp->request_error[0]) {
		ev->passthrough = true;
		return 0;
	}
	size_t n = a->count ? a->count : 1;
	ev->verdict = calloc(n, sizeof(*ev->verdict));
	ev->score = calloc(n, sizeof(*ev->score));
	ev->reason = calloc(n, sizeof(*ev->reason));
	struct vxpu_pod_request *req = malloc(sizeof(*req));
	struct vxpu_frag_cache *frag = malloc(sizeof(*frag));
	struct vxpu_placement *pl = malloc(sizeof(*pl));
	int rc = -1;
	if (!ev->verdict || !ev->score || !ev->reason || !req || !frag || !pl)
		goto out;
	rc = 0;
	*req = kp->request;
	if (kp->request_error[0]) {
		snprintf(ev->error, sizeof(ev->error), "%s", kp->request_error);
	} else if (vxpu_pod_request_normalize(req, ev->error, sizeof(ev->error)) < 0) {
		if (!ev->error[0])
			snprintf(ev->error, sizeof(ev->error),
			         "the pod's device request is invalid");
	}
	if (ev->error[0]) {
		for (size_t i = 0; i < a->count; i++)
			ev->verdict[i] = V_UNRESOLVABLE;
		goto out;
	}
	enum vxpu_policy dp;
	vxpu_sched_resolve(&m->config, req, &ev->node_policy, &dp);
	vxpu_frag_cache_init(frag, &m->shapes);
	struct vxpu_fit_options opt = {
	        .device_policy = dp, .quota = &m->quota, .shapes = &m->shapes, .frag_cache = frag};
	for (size_t i = 0; i < a->count; i++) {
		const struct vxpu_ext_node *en = vxpu_ext_model_node(m, a->names[i]);
		char line[VXPU_EXT_PROBLEM_MAX + 64];
		if (!en) {
			ev->verdict[i] = V_UNRESOLVABLE;
			snprintf(line, sizeof(line), "node is not known to vxpu");
		} else if (!en->registered) {
			ev->verdict[i] = V_UNRESOLVABLE;
			snprintf(line, sizeof(line), "node is not registered: %s", en->problem);
		} else {
			struct vxpu_refusal why;
			if (vxpu_fit_node(&en->node, req, &opt, pl, &why)) {
				ev->verdict[i] = V_FIT;
				if (want_scores)
					ev->score[i] = vxpu_score_placement(&en->node, pl,
					                                    ev->node_policy, frag);
				continue;
			}
			ev->verdict[i] = resolvable(&why) ? V_REFUSED : V_UNRESOLVABLE;
			vxpu_refusal_format(&why, line, sizeof(line));
		}
		if (!want_scores && !(ev->reason[i] = text_copy(line))) {
			rc = -1;
			goto out;
		}
	}
out:
	free(req);
	free(frag);
	free(pl);
	if (rc < 0)
		evaluation_free(ev, a->count);
	return rc;
}

/* ---- filter -------------------------------------------------------------- */

static cJSON *node_list(void)
{
	cJSON *list = cJSON_CreateObject();
	if (!list || !cJSON_AddObjectToObject(list, "metadata") ||
	    !cJSON_AddArrayToObject(list, "items")) {
		cJSON_Delete(list);
		return NULL;
	}
	return list;
}

char *vxpu_extender_filter(const struct vxpu_ext_model *m, const struct vxpu_extender_args *a,
                           struct vxpu_extender_outcome *outcome)
{
	struct vxpu_extender_outcome oc = {0};
	struct evaluation ev;
	if (evaluate(m, a, false, &ev) < 0)
		return NULL;
	oc.passthrough = ev.passthrough;
	oc.error = ev.error[0] != '\0';
	cJSON *res = cJSON_CreateObject();
	cJSON *feasible = NULL;
	cJSON *failed = NULL, *unresolvable = NULL;
	char *text = NULL;
	if (!res)
		goto out;
	if (a->node_objects) {
		cJSON *list = node_list();
		if (!list)
			goto out;
		cJSON_AddItemToObject(res, "Nodes", list);
		feasible = cJSON_GetObjectItemCaseSensitive(list, "items");
		cJSON_AddItemToObject(res, "NodeNames", cJSON_CreateNull());
	} else {
		cJSON_AddItemToObject(res, "Nodes", cJSON_CreateNull());
		feasible = cJSON_AddArrayToObject(res, "NodeNames");
	}
	failed = cJSON_AddObjectToObject(res, "FailedNodes");
	unresolvable = cJSON_AddObjectToObject(res, "FailedAndUnresolvableNodes");
	if (!feasible || !failed || !unresolvable ||
	    !cJSON_AddStringToObject(res, "Error", ev.error))
		goto out;
	for (size_t i = 0; i < a->count; i++) {
		bool ok = true;
		if (ev.passthrough || ev.verdict[i] == V_FIT) {
			oc.feasible++;
			if (a->node_objects)
				ok = cJSON_AddItemReferenceToArray(feasible,
				                                   (cJSON *)a->objects[i]);
			else
				ok = cJSON_AddItemToArray(feasible,
				                          cJSON_CreateString(a->names[i]));
		} else {
			oc.failed++;
			const char *why = ev.error[0] ? ev.error : ev.reason[i];
			ok = cJSON_AddStringToObject(ev.verdict[i] == V_REFUSED ? failed
			                                                        : unresolvable,
			                             a->names[i], why) != NULL;
		}
		if (!ok)
			goto out;
	}
	text = cJSON_PrintUnformatted(res);
out:
	cJSON_Delete(res);
	evaluation_free(&ev, a->count);
	if (outcome)
		*outcome = oc;
	return text;
}

/* ---- prioritize ------------------------------------------------------------ */

int vxpu_extender_scores(const struct vxpu_ext_model *m, const struct vxpu_extender_args *a,
                         int *scores)
{
	struct evaluation ev;
	if (evaluate(m, a, true, &ev) < 0)
		return -1;
	for (size_t i = 0; i < a->count; i++)
		scores[i] = 0;
	if (ev.passthrough || ev.error[0]) {
		evaluation_free(&ev, a->count);
		return 0;
	}
	long best = -1;
	double lo = 0, hi = 0;
	for (size_t i = 0; i < a->count; i++) {
		if (ev.verdict[i] != V_FIT)
			continue;
		double p = ev.score[i].primary;
		if (best < 0) {
			best = (long)i;
			lo = hi = p;
			continue;
		}
		lo = p < lo ? p : lo;
		hi = p > hi ? p : hi;
		int c = vxpu_score_compare(ev.score[i], ev.score[best]);
		if (c > 0 || (c == 0 && strcmp(a->names[i], a->names[best]) < 0))
			best = (long)i;
	}
	for (size_t i = 0; i < a->count && best >= 0; i++) {
		if (ev.verdict[i] != V_FIT)
			continue;
		if ((long)i == best) {
			scores[i] = VXPU_EXTENDER_MAX_PRIORITY;
			continue;
		}
		double span = hi - lo;
		double f = span > 0 ? (ev.score[i].primary - lo) / span : 1.0;
		if (!(f >= 0))
			f = 0;
		int s = (int)(f * (VXPU_EXTENDER_MAX_PRIORITY - 1) +
		              1e-9); /* f >= 0: truncation is floor */
		scores[i] = s > VXPU_EXTENDER_MAX_PRIORITY - 1 ? VXPU_EXTENDER_MAX_PRIORITY - 1 : s;
	}
	evaluation_free(&ev, a->count);
	return 0;
}

char *vxpu_extender_prioritize(const struct vxpu_ext_model *m, const struct vxpu_extender_args *a)
{
	int *scores = malloc((a->count ? a->count : 1) * sizeof(*scores));
	cJSON *list = cJSON_CreateArray();
	char *text = NULL;
	if (!scores || !list || vxpu_extender_scores(m, a, scores) < 0)
		goto out;
	for (size_t i = 0; i < a->count; i++) {
		cJSON *hp = cJSON_CreateObject();
		if (!hp || !cJSON_AddItemToArray(list, hp) ||
		    !cJSON_AddStringToObject(hp, "Host", a->names[i]) ||
		    !cJSON_AddNumberToObject(hp, "Score", scores[i]))
			goto out;
	}
	text = cJSON_PrintUnformatted(list);
out:
	cJSON_Delete(list);
	free(scores);
	return text;
}

/* ---- bind ------------------------------------------------------------------ */

int vxpu_extender_binding_parse(const char *body, size_t len, struct vxpu_extender_binding *out,
                                char *err, size_t errlen)
{
	static const char *const fields[] = {"PodName", "PodNamespace", "PodUID", "Node", NULL};
	cJSON *doc = NULL;
	struct vxpu_extender_binding b;
	memset(&b, 0, sizeof(b));
	if (parse_body(body, len, "ExtenderBindingArgs", &doc, err, errlen) < 0)
		return -1;
	int rc = -1;
	if (vxpu_json_only_fields(doc, "ExtenderBindingArgs", fields, err, errlen) < 0 ||
	    vxpu_json_string(doc, "", "PodName", true, b.name, sizeof(b.name), err, errlen) < 0 ||
	    vxpu_json_string(doc, "", "PodNamespace", true, b.ns, sizeof(b.ns), err, errlen) < 0 ||
	    vxpu_json_string(doc, "", "PodUID", true, b.uid, sizeof(b.uid), err, errlen) < 0 ||
	    vxpu_json_string(doc, "", "Node", true, b.node, sizeof(b.node), err, errlen) < 0)
		goto out;
	const char *empty = !b.name[0]   ? "PodName"
	                    : !b.ns[0]   ? "PodNamespace"
	                    : !b.uid[0]  ? "PodUID"
	                    : !b.node[0] ? "Node"
	                                 : NULL;
	if (empty) {
		vxpu_json_fail(err, errlen, empty, "is empty");
		goto out;
	}
	*out = b;
	rc = 0;
out:
	cJSON_Delete(doc);
	return rc;
}

char *vxpu_extender_binding_result(const char *error)
{
	cJSON *res = cJSON_CreateObject();
	char *text = NULL;
	if (res && cJSON_AddStringToObject(res, "Error", error ? error : ""))
		text = cJSON_PrintUnformatted(res);
	cJSON_Delete(res);
	return text;
}

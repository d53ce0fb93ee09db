/*
 * extender.c - the scheduler-extender protocol (see extender.h).
 *
 * One evaluation serves filter and prioritize: evaluate() fits the pod on
 * each node given, with one memo of request shapes shared by all nodes of
 * the call, and keeps per node whether it fit, its score, or its refusal.
 * Answers are built as cJSON trees; node objects of the question are put in
 * the answer by reference, not copied.
 *
 * The memo (extender.h) carries filter's per-node fits and scores over to
 * prioritize; scores are turned into priorities by one function
 * (priorities()) whether they come from a fresh evaluation or a memo, so
 * both paths answer the same.
 */
#include "core/extender.h"

#include "core/fit.h"
#include "core/jsonstrict.h"
#include "core/match.h"
#include "core/policy.h"
#include "core/schedule.h"
#include "core/shapes.h"
#include "core/sorted.h"

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
	/* kube-scheduler lists nodes in name order: then neighbours suffice. */
	size_t ascending = 1;
	while (ascending < count && names[ascending - 1] && names[ascending] &&
	       strcmp(names[ascending - 1], names[ascending]) < 0)
		ascending++;
	if (ascending == count)
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

static int node_cmp(const void *nodes, size_t i, const void *name)
{
	return strcmp(((struct vxpu_ext_node *const *)nodes)[i]->node.name, name);
}

/*
 * The model's node of that name (NULL if none). Names usually come in the
 * model's order (both sorted by strcmp): the node after the previous one
 * found (*hint) is tried before a binary search.
 */
static const struct vxpu_ext_node *node_at(const struct vxpu_ext_model *m, const char *name,
                                           size_t *hint)
{
	if (*hint < m->nnodes && strcmp(m->nodes[*hint]->node.name, name) == 0)
		return m->nodes[(*hint)++];
	bool found;
	size_t i = vxpu_sorted_find(m->nodes, m->nnodes, name, node_cmp, &found);
	if (!found)
		return NULL;
	*hint = i + 1;
	return m->nodes[i];
}

static int evaluate(const struct vxpu_ext_model *m, const struct vxpu_extender_args *a,
                    bool want_scores, bool want_reasons, struct evaluation *ev)
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
	size_t next = 0; /* the model node after the last one found */
	for (size_t i = 0; i < a->count; i++) {
		const struct vxpu_ext_node *en = node_at(m, a->names[i], &next);
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
		if (want_reasons && !(ev->reason[i] = text_copy(line))) {
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

/* ---- answer text ------------------------------------------------------------ */

/*
 * The answers that list every node (filter by name, prioritize) are
 * written straight into one growing buffer: building a cJSON tree of a
 * thousand nodes and printing it cost more than deciding them (an
 * allocation per value, and cJSON prints every number with printf and
 * reads it back with sscanf). The text is what cJSON_PrintUnformatted
 * writes for the same tree, escapes included.
 */
struct jbuf {
	char *data;
	size_t len, cap;
	bool failed;
};

static void jb_grow(struct jbuf *b, size_t add)
{
	if (b->failed || b->len + add + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + add + 1)
		cap *= 2;
	char *data = realloc(b->data, cap);
	if (!data) {
		b->failed = true;
		return;
	}
	b->data = data;
	b->cap = cap;
}

static void jb_raw(struct jbuf *b, const char *text)
{
	size_t n = strlen(text);
	jb_grow(b, n);
	if (b->failed)
		return;
	memcpy(b->data + b->len, text, n + 1);
	b->len += n;
}

/* A JSON string, escaped as cJSON escapes it. */
static void jb_string(struct jbuf *b, const char *text)
{
	jb_grow(b, 2 + 6 * strlen(text));
	if (b->failed)
		return;
	char *o = b->data + b->len;
	*o++ = '"';
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		switch (*p) {
		case '"':
			*o++ = '\\';
			*o++ = '"';
			break;
		case '\\':
			*o++ = '\\';
			*o++ = '\\';
			break;
		case '\b':
			*o++ = '\\';
			*o++ = 'b';
			break;
		case '\f':
			*o++ = '\\';
			*o++ = 'f';
			break;
		case '\n':
			*o++ = '\\';
			*o++ = 'n';
			break;
		case '\r':
			*o++ = '\\';
			*o++ = 'r';
			break;
		case '\t':
			*o++ = '\\';
			*o++ = 't';
			break;
		default:
			if (*p < 0x20) {
				snprintf(o, 7, "\\u%04x", *p);
				o += 6;
			} else {
				*o++ = (char)*p;
			}
		}
	}
	*o++ = '"';
	*o = '\0';
	b->len = (size_t)(o - b->data);
}

static void jb_int(struct jbuf *b, int v)
{
	char num[16];
	snprintf(num, sizeof(num), "%d", v);
	jb_raw(b, num);
}

/* The text, or NULL (and nothing to free) when memory ran out. */
static char *jb_take(struct jbuf *b)
{
	if (b->failed) {
		free(b->data);
		return NULL;
	}
	return b->data;
}

/* ---- filter -------------------------------------------------------------- */

/* The ExtenderFilterResult of a NodeNames question. */
static char *filter_by_name(const struct vxpu_extender_args *a, const struct evaluation *ev,
                            struct vxpu_extender_outcome *oc)
{
	struct jbuf b = {0};
	jb_raw(&b, "{\"Nodes\":null,\"NodeNames\":[");
	for (size_t i = 0; i < a->count; i++) {
		if (!ev->passthrough && ev->verdict[i] != V_FIT)
			continue;
		if (oc->feasible++)
			jb_raw(&b, ",");
		jb_string(&b, a->names[i]);
	}
	static const char *const keys[2] = {"],\"FailedNodes\":{",
	                                    "},\"FailedAndUnresolvableNodes\":{"};
	for (int pass = 0; pass < 2; pass++) {
		jb_raw(&b, keys[pass]);
		enum verdict want = pass == 0 ? V_REFUSED : V_UNRESOLVABLE;
		bool first = true;
		for (size_t i = 0; i < a->count && !ev->passthrough; i++) {
			if (ev->verdict[i] != want)
				continue;
			if (!first)
				jb_raw(&b, ",");
			first = false;
			oc->failed++;
			jb_string(&b, a->names[i]);
			jb_raw(&b, ":");
			jb_string(&b, ev->error[0] ? ev->error : ev->reason[i]);
		}
	}
	jb_raw(&b, "},\"Error\":");
	jb_string(&b, ev->error);
	jb_raw(&b, "}");
	return jb_take(&b);
}

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

static int name_entry_cmp(const void *x, const void *y)
{
	const struct vxpu_extender_memo_node *a = x, *b = y;
	return strcmp(a->name, b->name);
}

void vxpu_extender_memo_free(struct vxpu_extender_memo *memo)
{
	free(memo->nodes);
	free(memo->names);
	memset(memo, 0, sizeof(*memo));
}

/* Keeps the evaluation's fits and scores in memo, names sorted. */
static void memo_fill(struct vxpu_extender_memo *memo, const struct vxpu_ext_model *m,
                      const struct vxpu_extender_args *a, const struct evaluation *ev)
{
	const struct vxpu_kube_pod *kp = a->pod;
	if (!kp->uid[0] || !kp->resource_version[0])
		return;
	size_t bytes = 0;
	for (size_t i = 0; i < a->count; i++)
		bytes += strlen(a->names[i]) + 1;
	memo->nodes = malloc((a->count ? a->count : 1) * sizeof(*memo->nodes));
	memo->names = malloc(bytes ? bytes : 1);
	if (!memo->nodes || !memo->names) {
		vxpu_extender_memo_free(memo);
		return;
	}
	char *at = memo->names;
	for (size_t i = 0; i < a->count; i++) {
		size_t n = strlen(a->names[i]) + 1;
		memcpy(at, a->names[i], n);
		memo->nodes[i].name = at;
		at += n;
		memo->nodes[i].fit = !ev->passthrough && !ev->error[0] && ev->verdict[i] == V_FIT;
		memo->nodes[i].score = memo->nodes[i].fit ? ev->score[i] : (struct vxpu_score){0};
	}
	size_t ascending = 1;
	while (ascending < a->count &&
	       strcmp(memo->nodes[ascending - 1].name, memo->nodes[ascending].name) < 0)
		ascending++;
	if (ascending < a->count)
		qsort(memo->nodes, a->count, sizeof(*memo->nodes), name_entry_cmp);
	memo->count = a->count;
	memo->no_scores = ev->passthrough || ev->error[0];
	memo->generation = m->generation;
	snprintf(memo->uid, sizeof(memo->uid), "%s", kp->uid);
	snprintf(memo->resource_version, sizeof(memo->resource_version), "%s",
	         kp->resource_version);
	memo->valid = true;
}

static const struct vxpu_extender_memo_node *memo_find(const struct vxpu_extender_memo *memo,
                                                       const char *name)
{
	struct vxpu_extender_memo_node key = {.name = name};
	return bsearch(&key, memo->nodes, memo->count, sizeof(*memo->nodes), name_entry_cmp);
}

bool vxpu_extender_memo_matches(const struct vxpu_extender_memo *memo,
                                const struct vxpu_ext_model *m, const struct vxpu_extender_args *a)
{
	if (!memo->valid || memo->generation != m->generation || !a->pod->uid[0] ||
	    strcmp(memo->uid, a->pod->uid) != 0 ||
	    strcmp(memo->resource_version, a->pod->resource_version) != 0)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (!memo_find(memo, a->names[i]))
			return false;
	return true;
}

static char *filter(const struct vxpu_ext_model *m, const struct vxpu_extender_args *a,
                    struct vxpu_extender_outcome *outcome, struct vxpu_extender_memo *memo)
{
	struct vxpu_extender_outcome oc = {0};
	struct evaluation ev;
	if (memo)
		vxpu_extender_memo_free(memo);
	if (evaluate(m, a, memo != NULL, true, &ev) < 0)
		return NULL;
	if (memo)
		memo_fill(memo, m, a, &ev);
	if (!a->node_objects) {
		char *answer = filter_by_name(a, &ev, &oc);
		evaluation_free(&ev, a->count);
		oc.passthrough = ev.passthrough;
		oc.error = ev.error[0] != '\0';
		if (outcome)
			*outcome = oc;
		return answer;
	}
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

char *vxpu_extender_filter(const struct vxpu_ext_model *m, const struct vxpu_extender_args *a,
                           struct vxpu_extender_outcome *outcome)
{
	return filter(m, a, outcome, NULL);
}

char *vxpu_extender_filter_memo(const struct vxpu_ext_model *m, const struct vxpu_extender_args *a,
                                struct vxpu_extender_outcome *outcome,
                                struct vxpu_extender_memo *memo)
{
	return filter(m, a, outcome, memo);
}

/* ---- prioritize ------------------------------------------------------------ */

/*
 * Priorities from per-node fits and scores: the best node gets the maximum;
 * the others are spread over 0..max-1 by their primary score; ties go to
 * the smaller name; nodes that do not fit get 0.
 */
static void priorities(const struct vxpu_extender_args *a, const bool *fit,
                       const struct vxpu_score *score, int *scores)
{
	for (size_t i = 0; i < a->count; i++)
		scores[i] = 0;
	long best = -1;
	double lo = 0, hi = 0;
	for (size_t i = 0; i < a->count; i++) {
		if (!fit[i])
			continue;
		double p = score[i].primary;
		if (best < 0) {
			best = (long)i;
			lo = hi = p;
			continue;
		}
		lo = p < lo ? p : lo;
		hi = p > hi ? p : hi;
		int c = vxpu_score_compare(score[i], score[best]);
		if (c > 0 || (c == 0 && strcmp(a->names[i], a->names[best]) < 0))
			best = (long)i;
	}
	for (size_t i = 0; i < a->count && best >= 0; i++) {
		if (!fit[i])
			continue;
		if ((long)i == best) {
			scores[i] = VXPU_EXTENDER_MAX_PRIORITY;
			continue;
		}
		double span = hi - lo;
		double f = span > 0 ? (score[i].primary - lo) / span : 1.0;
		if (!(f >= 0))
			f = 0;
		int s = (int)(f * (VXPU_EXTENDER_MAX_PRIORITY - 1) +
		              1e-9); /* f >= 0: truncation is floor */
		scores[i] = s > VXPU_EXTENDER_MAX_PRIORITY - 1 ? VXPU_EXTENDER_MAX_PRIORITY - 1 : s;
	}
}

int vxpu_extender_scores(const struct vxpu_ext_model *m, const struct vxpu_extender_args *a,
                         int *scores)
{
	struct evaluation ev;
	if (evaluate(m, a, true, false, &ev) < 0)
		return -1;
	size_t n = a->count ? a->count : 1;
	bool *fit = calloc(n, sizeof(*fit));
	if (!fit) {
		evaluation_free(&ev, a->count);
		return -1;
	}
	for (size_t i = 0; i < a->count; i++)
		fit[i] = !ev.passthrough && !ev.error[0] && ev.verdict[i] == V_FIT;
	priorities(a, fit, ev.score, scores);
	free(fit);
	evaluation_free(&ev, a->count);
	return 0;
}

/* The HostPriorityList of scores for a's nodes. */
static char *priority_list(const struct vxpu_extender_args *a, const int *scores)
{
	struct jbuf b = {0};
	jb_raw(&b, "[");
	for (size_t i = 0; i < a->count; i++) {
		jb_raw(&b, i ? ",{\"Host\":" : "{\"Host\":");
		jb_string(&b, a->names[i]);
		jb_raw(&b, ",\"Score\":");
		jb_int(&b, scores[i]);
		jb_raw(&b, "}");
	}
	jb_raw(&b, "]");
	return jb_take(&b);
}

char *vxpu_extender_prioritize_memo(const struct vxpu_extender_memo *memo,
                                    const struct vxpu_extender_args *a)
{
	size_t n = a->count ? a->count : 1;
	int *scores = malloc(n * sizeof(*scores));
	bool *fit = calloc(n, sizeof(*fit));
	struct vxpu_score *score = calloc(n, sizeof(*score));
	char *text = NULL;
	if (scores && fit && score) {
		for (size_t i = 0; i < a->count; i++) {
			const struct vxpu_extender_memo_node *e = memo_find(memo, a->names[i]);
			fit[i] = e && !memo->no_scores && e->fit;
			score[i] = fit[i] ? e->score : (struct vxpu_score){0};
		}
		priorities(a, fit, score, scores);
		text = priority_list(a, scores);
	}
	free(scores);
	free(fit);
	free(score);
	return text;
}

char *vxpu_extender_prioritize(const struct vxpu_ext_model *m, const struct vxpu_extender_args *a)
{
	int *scores = malloc((a->count ? a->count : 1) * sizeof(*scores));
	char *text = NULL;
	if (scores && vxpu_extender_scores(m, a, scores) == 0)
		text = priority_list(a, scores);
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

/*
 * extender_model.c - the scheduler's cluster model (see extender_model.h).
 *
 * Two operations keep usage derived: record (decode a pod's annotation,
 * place it on its node without re-checking capacity, charge its quotas) and
 * unrecord (release it, refund exactly what was charged). Every event is
 * expressed with them: a node update unrecords the pods on the old node
 * value and records them on the new one; a pod update drops the old entry
 * and records the new one. Quota use is kept by this file, not by
 * vxpu_quota_charge, because recording an allocation that already exists
 * must not be refused when a quota was lowered meanwhile, and because a
 * ResourceQuota created after its pods must start with their use: when a
 * quota's limits change, its use is summed again from the recorded pods.
 */
#include "core/extender_model.h"

#include "core/annotation.h"
#include "core/fit.h"
#include "core/match.h"
#include "core/fail.h"
#include "core/sorted.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void problem(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(char *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, VXPU_EXT_PROBLEM_MAX, fmt, ap);
	va_end(ap);
}

static char *dup_text(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

void vxpu_ext_model_init(struct vxpu_ext_model *m, const struct vxpu_vendor_table *vendors,
                         const struct vxpu_sched_config *config, uint32_t shape_window)
{
	memset(m, 0, sizeof(*m));
	m->vendors = vendors;
	if (config)
		m->config = *config;
	vxpu_quota_init(&m->quota);
	vxpu_shapes_init(&m->shapes, shape_window ? shape_window : 1);
}

static void node_free(struct vxpu_ext_node *n)
{
	if (!n)
		return;
	vxpu_node_destroy(&n->node);
	free(n->registration);
	free(n);
}

void vxpu_ext_model_free(struct vxpu_ext_model *m)
{
	for (size_t i = 0; i < m->nnodes; i++)
		node_free(m->nodes[i]);
	for (size_t i = 0; i < m->npods; i++) {
		free(m->pods[i]->allocation);
		free(m->pods[i]);
	}
	free(m->nodes);
	free(m->pods);
	free(m->sources);
	vxpu_quota_free(&m->quota);
	memset(m, 0, sizeof(*m));
}

/* ---- lookups ------------------------------------------------------------- */

/* Position of name in nodes (or where it would go); *found tells. */
static int node_cmp(const void *nodes, size_t i, const void *name)
{
	return strcmp(((struct vxpu_ext_node *const *)nodes)[i]->node.name, name);
}

static size_t node_search(const struct vxpu_ext_model *m, const char *name, bool *found)
{
	return vxpu_sorted_find(m->nodes, m->nnodes, name, node_cmp, found);
}

static int pod_cmp(const void *pods, size_t i, const void *uid)
{
	return strcmp(((struct vxpu_ext_pod *const *)pods)[i]->uid, uid);
}

static size_t pod_search(const struct vxpu_ext_model *m, const char *uid, bool *found)
{
	return vxpu_sorted_find(m->pods, m->npods, uid, pod_cmp, found);
}

static struct vxpu_ext_node *node_find(const struct vxpu_ext_model *m, const char *name)
{
	bool found;
	size_t i = node_search(m, name, &found);
	return found ? m->nodes[i] : NULL;
}

static struct vxpu_ext_pod *pod_find(const struct vxpu_ext_model *m, const char *uid)
{
	bool found;
	size_t i = pod_search(m, uid, &found);
	return found ? m->pods[i] : NULL;
}

const struct vxpu_ext_node *vxpu_ext_model_node(const struct vxpu_ext_model *m, const char *name)
{
	return node_find(m, name);
}

const struct vxpu_ext_pod *vxpu_ext_model_pod(const struct vxpu_ext_model *m, const char *uid)
{
	return pod_find(m, uid);
}

/* ---- quota use ----------------------------------------------------------- */

static struct vxpu_quota_entry *quota_entry(struct vxpu_ext_model *m, const char *ns,
                                            const char *project)
{
	/* The table is this model's own; its entries are a sorted public array. */
	const struct vxpu_quota_entry *e = vxpu_quota_find(&m->quota, ns, project);
	return e ? &m->quota.entries[e - m->quota.entries] : NULL;
}

static void amount_add(struct vxpu_quota_amount *to, const struct vxpu_quota_amount *a, int sign)
{
	if (sign > 0) {
		to->memory_mib += a->memory_mib;
		to->compute_percent += a->compute_percent;
		to->devices += a->devices;
	} else {
		to->memory_mib -= a->memory_mib;
		to->compute_percent -= a->compute_percent;
		to->devices -= a->devices;
	}
}

/* Adds (sign 1) or removes (-1) a pod's charge on its namespace and project quotas. */
static void quota_apply(struct vxpu_ext_model *m, const struct vxpu_ext_pod *p, int sign)
{
	struct vxpu_quota_entry *e = quota_entry(m, p->ns, "");
	if (e)
		amount_add(&e->used, &p->charged, sign);
	if (p->project[0] && (e = quota_entry(m, p->ns, p->project)) != NULL)
		amount_add(&e->used, &p->charged, sign);
}

/* Sums the use of quota (ns, project) again from the recorded pods. */
static void quota_resum(struct vxpu_ext_model *m, const char *ns, const char *project)
{
	struct vxpu_quota_entry *e = quota_entry(m, ns, project);
	if (!e)
		return;
	memset(&e->used, 0, sizeof(e->used));
	for (size_t i = 0; i < m->npods; i++) {
		const struct vxpu_ext_pod *p = m->pods[i];
		if (p->recorded && strcmp(p->ns, ns) == 0 &&
		    (!project[0] || strcmp(p->project, project) == 0))
			amount_add(&e->used, &p->charged, 1);
	}
}

/* ---- record / unrecord ----------------------------------------------------- */

static void unrecord(struct vxpu_ext_model *m, struct vxpu_ext_pod *p, struct vxpu_ext_node *n)
{
	if (!p->recorded)
		return;
	if (n)
		vxpu_node_release(&n->node, p->uid, NULL);
	quota_apply(m, p, -1);
	p->recorded = false;
	memset(&p->charged, 0, sizeof(p->charged));
}

/* Places p's allocation on its node; sets problem when it cannot. */
static void record(struct vxpu_ext_model *m, struct vxpu_ext_pod *p)
{
	if (p->recorded)
		return;
	struct vxpu_ext_node *n = node_find(m, p->node);
	if (!n) {
		problem(p->problem, "node \"%s\" is not known", p->node);
		return;
	}
	if (!n->registered) {
		problem(p->problem, "node \"%s\" is not registered: %s", p->node, n->problem);
		return;
	}
	struct vxpu_pod_allocation *a = malloc(sizeof(*a));
	struct vxpu_placement *pl = malloc(sizeof(*pl));
	char err[VXPU_EXT_PROBLEM_MAX];
	if (!a || !pl) {
		problem(p->problem, "out of memory");
	} else if (vxpu_allocation_decode(p->allocation, a, err, sizeof(err)) < 0 ||
	           vxpu_allocation_to_placement(a, &n->node, pl, err, sizeof(err)) < 0 ||
	           vxpu_node_record(&n->node, pl, p->uid, err, sizeof(err)) < 0) {
		problem(p->problem, "%s", err);
	} else {
		p->charged = pl->quota;
		p->recorded = true;
		p->problem[0] = '\0';
		quota_apply(m, p, 1);
	}
	free(a);
	free(pl);
}

/* Unrecords and removes the pod at position i. */
static void pod_drop(struct vxpu_ext_model *m, size_t i)
{
	struct vxpu_ext_pod *p = m->pods[i];
	unrecord(m, p, node_find(m, p->node));
	free(p->allocation);
	free(p);
	memmove(&m->pods[i], &m->pods[i + 1], (m->npods - i - 1) * sizeof(struct vxpu_ext_pod *));
	m->npods--;
	m->generation++;
}

static struct vxpu_ext_pod *pod_insert(struct vxpu_ext_model *m, const char *uid)
{
	bool found;
	size_t i = pod_search(m, uid, &found);
	if (found)
		return NULL;
	if (m->npods == m->pod_cap) {
		size_t cap = m->pod_cap ? m->pod_cap * 2 : 64;
		struct vxpu_ext_pod **grown = realloc(m->pods, cap * sizeof(struct vxpu_ext_pod *));
		if (!grown)
			return NULL;
		m->pods = grown;
		m->pod_cap = cap;
	}
	struct vxpu_ext_pod *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	vxpu_copy_name(p->uid, sizeof(p->uid), uid);
	memmove(&m->pods[i + 1], &m->pods[i], (m->npods - i) * sizeof(struct vxpu_ext_pod *));
	m->pods[i] = p;
	m->npods++;
	m->generation++;
	return p;
}

/* ---- nodes --------------------------------------------------------------- */

static bool same_text(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int vxpu_ext_model_node_update(struct vxpu_ext_model *m, const struct vxpu_kube_node *kn)
{
	struct vxpu_ext_node *old = node_find(m, kn->name);
	if (old && same_text(old->registration, kn->registration)) {
		old->unschedulable = kn->unschedulable;
		return old->registered ? 0 : 1;
	}
	struct vxpu_ext_node *n = calloc(1, sizeof(*n));
	if (!n)
		return -1;
	vxpu_node_init(&n->node, kn->name);
	n->unschedulable = kn->unschedulable;
	if (kn->registration) {
		n->registration = dup_text(kn->registration);
		if (!n->registration) {
			node_free(n);
			return -1;
		}
		char err[VXPU_EXT_PROBLEM_MAX - 64];
		if (vxpu_node_registration_decode(kn->registration, &n->node, &n->updated_ms, err,
		                                  sizeof(err)) < 0) {
			problem(n->problem, "%s", err);
			vxpu_node_init(&n->node, kn->name);
		} else if (strcmp(n->node.name, kn->name) != 0) {
			problem(n->problem,
			        "node-registration: names node \"%.100s\", not \"%.100s\"",
			        n->node.name, kn->name);
			vxpu_node_destroy(&n->node);
			vxpu_node_init(&n->node, kn->name);
		} else if (vxpu_node_finalize(&n->node, m->vendors, err, sizeof(err)) < 0) {
			problem(n->problem, "node-registration: %s", err);
			vxpu_node_destroy(&n->node);
			vxpu_node_init(&n->node, kn->name);
		} else {
			n->registered = true;
		}
	} else {
		problem(n->problem, "no %s annotation (is the vxpu node agent running there?)",
		        VXPU_ANNOTATION_NODE);
	}
	bool found;
	size_t i = node_search(m, kn->name, &found);
	if (found) {
		for (size_t k = 0; k < m->npods; k++)
			if (strcmp(m->pods[k]->node, kn->name) == 0)
				unrecord(m, m->pods[k], old);
		node_free(old);
		m->nodes[i] = n;
	} else {
		if (m->nnodes == m->node_cap) {
			size_t cap = m->node_cap ? m->node_cap * 2 : 64;
			struct vxpu_ext_node **grown =
			        realloc(m->nodes, cap * sizeof(struct vxpu_ext_node *));
			if (!grown) {
				node_free(n);
				return -1;
			}
			m->nodes = grown;
			m->node_cap = cap;
		}
		memmove(&m->nodes[i + 1], &m->nodes[i],
		        (m->nnodes - i) * sizeof(struct vxpu_ext_node *));
		m->nodes[i] = n;
		m->nnodes++;
	}
	for (size_t k = 0; k < m->npods; k++)
		if (strcmp(m->pods[k]->node, kn->name) == 0)
			record(m, m->pods[k]);
	m->generation++;
	return n->registered ? 0 : 1;
}

void vxpu_ext_model_node_delete(struct vxpu_ext_model *m, const char *name)
{
	bool found;
	size_t i = node_search(m, name, &found);
	if (!found)
		return;
	struct vxpu_ext_node *n = m->nodes[i];
	for (size_t k = 0; k < m->npods; k++)
		if (strcmp(m->pods[k]->node, name) == 0) {
			unrecord(m, m->pods[k], n);
			problem(m->pods[k]->problem, "node \"%s\" is not known", name);
		}
	node_free(n);
	memmove(&m->nodes[i], &m->nodes[i + 1],
	        (m->nnodes - i - 1) * sizeof(struct vxpu_ext_node *));
	m->nnodes--;
	m->generation++;
}

/* ---- pods ---------------------------------------------------------------- */

int vxpu_ext_model_pod_update(struct vxpu_ext_model *m, const struct vxpu_kube_pod *kp)
{
	if (!kp->uid[0])
		return 0;
	bool found;
	size_t i = pod_search(m, kp->uid, &found);
	struct vxpu_ext_pod *old = found ? m->pods[i] : NULL;
	bool bound = kp->allocation && kp->node_name[0] && !kp->terminal;
	if (!bound) {
		if (old && (kp->terminal || !old->reserved))
			pod_drop(m, i);
		else if (old)
			return 1; /* our bind, between the annotation and the binding */
		return 0;
	}
	if (old && strcmp(old->node, kp->node_name) == 0 && old->allocation &&
	    strcmp(old->allocation, kp->allocation) == 0) {
		old->reserved = false;
		return 1;
	}
	if (old)
		pod_drop(m, i);
	struct vxpu_ext_pod *p = pod_insert(m, kp->uid);
	if (!p)
		return -1;
	p->allocation = dup_text(kp->allocation);
	if (!p->allocation) {
		pod_drop(m, pod_search(m, kp->uid, &found));
		return -1;
	}
	vxpu_copy_name(p->ns, sizeof(p->ns), kp->ns);
	vxpu_copy_name(p->name, sizeof(p->name), kp->name);
	vxpu_copy_name(p->node, sizeof(p->node), kp->node_name);
	/* The project and the node come from the annotation: check it names this node. */
	struct vxpu_pod_allocation *a = malloc(sizeof(*a));
	char err[VXPU_EXT_PROBLEM_MAX - 32];
	if (!a) {
		problem(p->problem, "out of memory");
	} else if (vxpu_allocation_decode(kp->allocation, a, err, sizeof(err)) < 0) {
		problem(p->problem, "%s", err);
	} else if (strcmp(a->node, kp->node_name) != 0) {
		problem(p->problem,
		        "allocation: names node \"%.100s\" but the pod is bound to \"%.100s\"",
		        a->node, kp->node_name);
	} else {
		vxpu_copy_name(p->project, sizeof(p->project), a->project);
		record(m, p);
	}
	free(a);
	return 1;
}

void vxpu_ext_model_pod_delete(struct vxpu_ext_model *m, const char *uid)
{
	bool found;
	size_t i = pod_search(m, uid, &found);
	if (found)
		pod_drop(m, i);
}

void vxpu_ext_model_node_sync(struct vxpu_ext_model *m, const char *node, const char *const *uids,
                              size_t count)
{
	for (size_t i = m->npods; i-- > 0;) {
		const struct vxpu_ext_pod *p = m->pods[i];
		if (p->reserved || (node && strcmp(p->node, node) != 0))
			continue;
		/* A relist (node NULL) passes many UIDs, sorted; one node's are few. */
		bool listed = false;
		if (node == NULL) {
			size_t lo = 0, hi = count;
			while (lo < hi && !listed) {
				size_t mid = lo + (hi - lo) / 2;
				int c = strcmp(uids[mid], p->uid);
				listed = c == 0;
				if (c < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
		} else {
			for (size_t k = 0; k < count && !listed; k++)
				listed = strcmp(uids[k], p->uid) == 0;
		}
		if (!listed)
			pod_drop(m, i);
	}
}

size_t vxpu_ext_model_unrecorded(const struct vxpu_ext_model *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->npods; i++)
		n += !m->pods[i]->recorded;
	return n;
}

/* ---- quotas -------------------------------------------------------------- */

struct source_key {
	const char *ns, *name;
};

static int source_cmp(const void *sources, size_t i, const void *key)
{
	const struct vxpu_ext_quota_source *s = &((const struct vxpu_ext_quota_source *)sources)[i];
	const struct source_key *k = key;
	int c = strcmp(s->ns, k->ns);
	return c ? c : strcmp(s->name, k->name);
}

static size_t source_search(const struct vxpu_ext_model *m, const char *ns, const char *name,
                            bool *found)
{
	const struct source_key key = {ns, name};
	return vxpu_sorted_find(m->sources, m->nsources, &key, source_cmp, found);
}

/* Sets quota (ns, project) to the smallest limits of its sources; sums its use. */
static int quota_refresh(struct vxpu_ext_model *m, const char *ns, const char *project, char *err,
                         size_t errlen)
{
	struct vxpu_quota_amount limit = {VXPU_QUOTA_UNLIMITED, VXPU_QUOTA_UNLIMITED,
	                                  VXPU_QUOTA_UNLIMITED};
	for (size_t i = 0; i < m->nsources; i++) {
		const struct vxpu_ext_quota_source *s = &m->sources[i];
		if (strcmp(s->ns, ns) != 0 || strcmp(s->project, project) != 0)
			continue;
		if (s->hard.memory_mib < limit.memory_mib)
			limit.memory_mib = s->hard.memory_mib;
		if (s->hard.compute_percent < limit.compute_percent)
			limit.compute_percent = s->hard.compute_percent;
		if (s->hard.devices < limit.devices)
			limit.devices = s->hard.devices;
	}
	if (vxpu_quota_set(&m->quota, ns, project, &limit, err, errlen) < 0)
		return -1;
	quota_resum(m, ns, project);
	m->generation++;
	return 0;
}

int vxpu_ext_model_quota_update(struct vxpu_ext_model *m, const struct vxpu_kube_quota *kq,
                                char *err, size_t errlen)
{
	bool found;
	size_t i = source_search(m, kq->ns, kq->name, &found);
	char old_project[VXPU_PROJECT_MAX] = "";
	bool had = found;
	if (found) {
		vxpu_copy_name(old_project, sizeof(old_project), m->sources[i].project);
		if (!kq->limits_devices) {
			vxpu_ext_model_quota_delete(m, kq->ns, kq->name);
			return 0;
		}
	} else {
		if (!kq->limits_devices)
			return 0; /* a quota of other resources only */
		if (m->nsources == m->source_cap) {
			size_t cap = m->source_cap ? m->source_cap * 2 : 16;
			struct vxpu_ext_quota_source *grown =
			        realloc(m->sources, cap * sizeof(*grown));
			if (!grown) {
				snprintf(err, errlen, "quota %s/%s: out of memory", kq->ns,
				         kq->name);
				return -1;
			}
			m->sources = grown;
			m->source_cap = cap;
		}
		memmove(&m->sources[i + 1], &m->sources[i],
		        (m->nsources - i) * sizeof(m->sources[0]));
		m->nsources++;
	}
	struct vxpu_ext_quota_source *s = &m->sources[i];
	memset(s, 0, sizeof(*s));
	vxpu_copy_name(s->ns, sizeof(s->ns), kq->ns);
	vxpu_copy_name(s->name, sizeof(s->name), kq->name);
	vxpu_copy_name(s->project, sizeof(s->project), kq->project);
	s->hard = kq->hard;
	if (had && strcmp(old_project, kq->project) != 0 &&
	    quota_refresh(m, kq->ns, old_project, err, errlen) < 0)
		return -1;
	return quota_refresh(m, kq->ns, kq->project, err, errlen);
}

void vxpu_ext_model_quota_delete(struct vxpu_ext_model *m, const char *ns, const char *name)
{
	bool found;
	size_t i = source_search(m, ns, name, &found);
	if (!found)
		return;
	char project[VXPU_PROJECT_MAX];
	vxpu_copy_name(project, sizeof(project), m->sources[i].project);
	memmove(&m->sources[i], &m->sources[i + 1], (m->nsources - i - 1) * sizeof(m->sources[0]));
	m->nsources--;
	char err[160];
	quota_refresh(m, ns, project, err, sizeof(err)); /* existing entry: cannot fail */
}

/* ---- bind ---------------------------------------------------------------- */

int vxpu_ext_model_reserve(struct vxpu_ext_model *m, const struct vxpu_kube_pod *kp,
                           const char *node, int64_t now_ms, char **annotation, char *err,
                           size_t errlen)
{
	*annotation = NULL;
	if (!kp->uid[0])
		return vxpu_fail(err, errlen, "pod %s/%s has no uid", kp->ns, kp->name);
	struct vxpu_ext_node *n = node_find(m, node);
	if (!n)
		return vxpu_fail(err, errlen, "node \"%s\" is not known to vxpu", node);
	if (!n->registered)
		return vxpu_fail(err, errlen, "node \"%s\" is not registered: %s", node,
		                 n->problem);
	struct vxpu_pod_request *req = malloc(sizeof(*req));
	struct vxpu_placement *pl = malloc(sizeof(*pl));
	struct vxpu_pod_allocation *a = malloc(sizeof(*a));
	struct vxpu_frag_cache *frag = malloc(sizeof(*frag));
	int rc = -1;
	char *text = NULL;
	/* A retried bind: what the pod held before is released, restored on refusal. */
	char *previous = NULL;
	char previous_node[VXPU_NODE_NAME_MAX] = "";
	bool previous_reserved = false;
	if (!req || !pl || !a || !frag) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (kp->request_error[0]) {
		snprintf(err, errlen, "%s", kp->request_error);
		goto out;
	}
	*req = kp->request;
	if (vxpu_pod_request_normalize(req, err, errlen) < 0)
		goto out;
	bool found;
	size_t at = pod_search(m, kp->uid, &found);
	if (found) {
		struct vxpu_ext_pod *old = m->pods[at];
		previous = old->allocation;
		old->allocation = NULL;
		vxpu_copy_name(previous_node, sizeof(previous_node), old->node);
		previous_reserved = old->reserved;
		pod_drop(m, at);
	}
	enum vxpu_policy np, dp;
	vxpu_sched_resolve(&m->config, req, &np, &dp);
	vxpu_frag_cache_init(frag, &m->shapes);
	struct vxpu_fit_options opt = {
	        .device_policy = dp, .quota = &m->quota, .shapes = &m->shapes, .frag_cache = frag};
	struct vxpu_refusal why;
	if (!vxpu_fit_node(&n->node, req, &opt, pl, &why)) {
		char line[256];
		vxpu_refusal_format(&why, line, sizeof(line));
		snprintf(err, errlen, "node \"%s\": %s", node, line);
		goto restore;
	}
	if (vxpu_allocation_from_placement(&n->node, req, pl, np, dp, now_ms, a, err, errlen) < 0)
		goto restore;
	text = vxpu_allocation_encode(a);
	struct vxpu_ext_pod *p = text ? pod_insert(m, kp->uid) : NULL;
	if (!p) {
		snprintf(err, errlen, "out of memory");
		goto restore;
	}
	p->allocation = dup_text(text);
	if (!p->allocation || vxpu_node_commit(&n->node, pl, kp->uid, err, errlen) < 0) {
		if (!p->allocation)
			snprintf(err, errlen, "out of memory");
		pod_drop(m, pod_search(m, kp->uid, &found));
		goto restore;
	}
	vxpu_copy_name(p->ns, sizeof(p->ns), kp->ns);
	vxpu_copy_name(p->name, sizeof(p->name), kp->name);
	vxpu_copy_name(p->node, sizeof(p->node), node);
	vxpu_copy_name(p->project, sizeof(p->project), req->project);
	p->reserved = true;
	p->recorded = true;
	p->charged = pl->quota;
	quota_apply(m, p, 1);
	vxpu_shapes_observe(&m->shapes, req);
	*annotation = text;
	text = NULL;
	rc = 0;
	free(previous);
	previous = NULL;
	goto out;
restore:
	if (previous) {
		struct vxpu_ext_pod *back = pod_insert(m, kp->uid);
		if (back) {
			back->allocation = previous;
			previous = NULL;
			vxpu_copy_name(back->ns, sizeof(back->ns), kp->ns);
			vxpu_copy_name(back->name, sizeof(back->name), kp->name);
			vxpu_copy_name(back->node, sizeof(back->node), previous_node);
			back->reserved = previous_reserved;
			struct vxpu_pod_allocation *pa = a;
			char perr[64];
			if (vxpu_allocation_decode(back->allocation, pa, perr, sizeof(perr)) == 0)
				vxpu_copy_name(back->project, sizeof(back->project), pa->project);
			record(m, back);
		}
	}
out:
	if (text)
		vxpu_annotation_free(text);
	free(previous);
	free(req);
	free(pl);
	free(a);
	free(frag);
	return rc;
}

int vxpu_ext_model_unreserve(struct vxpu_ext_model *m, const char *uid)
{
	bool found;
	size_t i = pod_search(m, uid, &found);
	if (!found || !m->pods[i]->reserved)
		return -1;
	pod_drop(m, i);
	return 0;
}

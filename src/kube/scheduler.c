/*
 * scheduler.c - the `vxpu scheduler` daemon's logic (see scheduler.h).
 *
 * Parts: the watch consumers that keep the model (one reflector thread per
 * collection, relists reconciled with mark-and-sweep), the request
 * handlers (parse outside the lock, decide under it), the bind sequence
 * with the node allocation lease and its rollback, an Events poster (a
 * bounded queue and one thread, so an Event never delays a bind), and the
 * metrics (counters under a mutex, latency histograms written by hand:
 * meter/prom.h writes gauges and counters only), and the ledger hooks:
 * every transition of a pod into or out of holding an allocation, as the
 * model sees it, queues a start or an end for the ledger writer
 * (scheduler_ledger.h), and every full list of pods asks it to reconcile.
 *
 * Invariants: the model lock is never held across an API call; every step
 * of bind that changed something has its undo on the failure path, in
 * reverse order; a reservation is made only while the pod's UID holds the
 * node's lease.
 */
#include "kube/scheduler.h"

#include "kube/scheduler_ledger.h"

#include "common/log.h"
#include "core/annotation.h"
#include "core/extender.h"
#include "core/extender_kube.h"
#include "meter/prom.h"
#include "meter/strbuf.h"
#include "core/fail.h"
#include "common/clock.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- small helpers ------------------------------------------------------- */

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

/* Kubernetes MicroTime: 2026-11-28T11:47:49.123456Z. */
static char *copy_text(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* /api/v1/namespaces/NS/pods/NAME[SUFFIX] */
static int pod_path(char *out, size_t cap, const char *ns, const char *name, const char *suffix)
{
	char ens[3 * 64], ename[3 * 254];
	if (vxpu_kube_escape(ns, ens, sizeof(ens)) < 0 ||
	    vxpu_kube_escape(name, ename, sizeof(ename)) < 0)
		return -1;
	int n = snprintf(out, cap, "/api/v1/namespaces/%s/pods/%s%s", ens, ename,
	                 suffix ? suffix : "");
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* ---- the scheduler --------------------------------------------------------- */

enum verb { VERB_FILTER, VERB_PRIORITIZE, VERB_BIND, VERB_ADMIT, VERBS };
static const char *const verb_names[VERBS] = {"filter", "prioritize", "bind", "admit"};

enum outcome {
	OUT_BAD_REQUEST,
	OUT_PASSTHROUGH, /* filter, admit: not a vxpu pod */
	OUT_FEASIBLE,    /* filter: some node fits */
	OUT_INFEASIBLE,  /* filter: no node fits */
	OUT_REFUSED,     /* filter: the request itself is wrong; admit: denied */
	OUT_OK,          /* prioritize, admit: admitted */
	OUT_BOUND,
	OUT_FAILED,
	OUTCOMES
};
static const char *const outcome_names[OUTCOMES] = {
        "bad_request", "passthrough", "feasible", "infeasible", "refused", "ok", "bound", "failed"};

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct histogram {
	uint64_t counts[NBUCKETS]; /* not cumulative; summed when written */
	uint64_t count;
	double sum;
};

struct pod_event {
	char ns[VXPU_NAMESPACE_MAX];
	char name[VXPU_POD_NAME_MAX];
	char uid[VXPU_UID_MAX];
	bool warning;
	char reason[32];
	char message[512];
};

#define EVENT_QUEUE 256
#define MEMO_SLOTS 16

struct watch {
	struct vxpu_scheduler *s;
	const char *kind;
	const char *path;
	pthread_t thread;
	bool started;
	atomic_bool synced;
	bool in_relist;
	char **seen;
	size_t nseen, capseen;
};

struct vxpu_scheduler {
	const struct vxpu_vendor_table *vendors;
	struct vxpu_kube_client *client;
	struct vxpu_scheduler_options opt;
	char scheduler_name[64];
	char identity[128];
	char lease_ns[64];

	pthread_rwlock_t lock;
	struct vxpu_ext_model model;

	struct watch watches[3];
	atomic_bool stop;

	pthread_mutex_t stats_lock;
	struct histogram latency[VERBS];
	uint64_t outcomes[VERBS][OUTCOMES];
	uint64_t lease_waits, lease_takeovers, node_syncs;
	uint64_t memo_hits, memo_misses; /* prioritize answered from filter's memo, or not */

	pthread_mutex_t queue_lock;
	pthread_cond_t queue_cond;
	struct pod_event *queue;
	size_t queue_head, queue_len;
	uint64_t events_posted, events_dropped;
	pthread_t event_thread;
	bool event_started;

	/* Filter's per-node results for the prioritize call that follows
	 * (extender.h), one slot per pod, the oldest slot reused. */
	pthread_mutex_t memo_lock;
	struct vxpu_extender_memo memos[MEMO_SLOTS];
	size_t memo_next;

	struct vxpu_sched_ledger *ledger; /* NULL = no ledger */
	char project_label[VXPU_KUBE_NAME_MAX];
	char user_label[VXPU_KUBE_NAME_MAX];
};

static void observe(struct vxpu_scheduler *s, enum verb v, enum outcome o, double seconds)
{
	pthread_mutex_lock(&s->stats_lock);
	struct histogram *h = &s->latency[v];
	size_t b = 0;
	while (b < NBUCKETS && seconds > buckets[b])
		b++;
	if (b < NBUCKETS)
		h->counts[b]++;
	h->count++;
	h->sum += seconds;
	s->outcomes[v][o]++;
	pthread_mutex_unlock(&s->stats_lock);
}

static void bump(struct vxpu_scheduler *s, uint64_t *counter)
{
	pthread_mutex_lock(&s->stats_lock);
	(*counter)++;
	pthread_mutex_unlock(&s->stats_lock);
}

void vxpu_scheduler_lease_name(const char *node, char *out, size_t cap)
{
	size_t prefix = strlen(VXPU_LEASE_PREFIX);
	if (prefix + strlen(node) <= 253) {
		snprintf(out, cap, "%s%s", VXPU_LEASE_PREFIX, node);
		return;
	}
	/* FNV-1a keeps long names unique after cutting them to 253 bytes. */
	uint64_t h = 1469598103934665603ULL;
	for (const unsigned char *p = (const unsigned char *)node; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	snprintf(out, cap, "%s%.*s-%016llx", VXPU_LEASE_PREFIX, (int)(253 - prefix - 17), node,
	         (unsigned long long)h);
}

/* ---- Events ---------------------------------------------------------------- */

static void event_push(struct vxpu_scheduler *s, const struct vxpu_kube_pod *kp, bool warning,
                       const char *reason, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

static void event_push(struct vxpu_scheduler *s, const struct vxpu_kube_pod *kp, bool warning,
                       const char *reason, const char *fmt, ...)
{
	if (!s->opt.events || !s->queue)
		return;
	pthread_mutex_lock(&s->queue_lock);
	if (s->queue_len == EVENT_QUEUE) {
		s->events_dropped++;
		pthread_mutex_unlock(&s->queue_lock);
		return;
	}
	struct pod_event *e = &s->queue[(s->queue_head + s->queue_len) % EVENT_QUEUE];
	snprintf(e->ns, sizeof(e->ns), "%s", kp->ns);
	snprintf(e->name, sizeof(e->name), "%s", kp->name);
	snprintf(e->uid, sizeof(e->uid), "%s", kp->uid);
	e->warning = warning;
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	s->queue_len++;
	pthread_cond_signal(&s->queue_cond);
	pthread_mutex_unlock(&s->queue_lock);
}

static void event_post(struct vxpu_scheduler *s, const struct pod_event *e)
{
	char err[512];
	const struct vxpu_kube_event ev = {
	        .ns = e->ns,
	        .name = e->name,
	        .uid = e->uid,
	        .warning = e->warning,
	        .reason = e->reason,
	        .message = e->message,
	        .component = s->scheduler_name,
	        .instance = s->identity,
	};
	if (vxpu_kube_post_event(s->client, &ev, err, sizeof(err)) < 0)
		vxpu_log(VXPU_LOG_WARN, "event not posted", "pod", e->name, "error", err,
		         (char *)NULL);
}

static void *event_main(void *arg)
{
	struct vxpu_scheduler *s = arg;
	for (;;) {
		pthread_mutex_lock(&s->queue_lock);
		while (s->queue_len == 0 && !atomic_load(&s->stop))
			pthread_cond_wait(&s->queue_cond, &s->queue_lock);
		if (s->queue_len == 0) {
			pthread_mutex_unlock(&s->queue_lock);
			return NULL;
		}
		struct pod_event e = s->queue[s->queue_head];
		s->queue_head = (s->queue_head + 1) % EVENT_QUEUE;
		s->queue_len--;
		pthread_mutex_unlock(&s->queue_lock);
		event_post(s, &e);
		pthread_mutex_lock(&s->queue_lock);
		s->events_posted++;
		pthread_mutex_unlock(&s->queue_lock);
	}
}

/* ---- ledger ---------------------------------------------------------------- */

/* Queues the start of the pod's intervals (under the model lock). */
static void ledger_start(struct vxpu_scheduler *s, const cJSON *pod, const char *uid,
                         const char *annotation)
{
	char err[512];
	if (vxpu_sched_ledger_started(s->ledger, &s->model, uid, annotation,
	                              vxpu_kube_label(pod, s->project_label),
	                              vxpu_kube_label(pod, s->user_label), err, sizeof(err)) < 0)
		vxpu_log(VXPU_LOG_WARN, "ledger: allocation not recorded", "uid", uid, "error", err,
		         (char *)NULL);
}

/*
 * After a pod event changed the model: a pod that now holds a bound
 * allocation and did not before starts its intervals (bind may have queued
 * the same start: the writer skips it); a pod that held one and no longer
 * does (finished, deleted) ends them.
 */
static void ledger_follow(struct vxpu_scheduler *s, const cJSON *pod, const char *uid, bool held,
                          bool held_bound)
{
	if (!s->ledger)
		return;
	const struct vxpu_ext_pod *after = vxpu_ext_model_pod(&s->model, uid);
	if (held && !after)
		vxpu_sched_ledger_ended(s->ledger, uid, vxpu_wall_ms());
	else if (!held_bound && after && !after->reserved && after->allocation)
		ledger_start(s, pod, uid, after->allocation);
}

static bool ledger_live(void *ctx, const char *uid)
{
	struct vxpu_scheduler *s = ctx;
	pthread_rwlock_rdlock(&s->lock);
	bool live = vxpu_ext_model_pod(&s->model, uid) != NULL;
	pthread_rwlock_unlock(&s->lock);
	return live;
}

static bool ledger_synced(void *ctx)
{
	return vxpu_scheduler_synced(ctx);
}

/* ---- watches --------------------------------------------------------------- */

static void apply_locked(struct vxpu_scheduler *s, const char *kind, const char *type,
                         const cJSON *obj, char *key, size_t keycap)
{
	char err[512];
	key[0] = '\0';
	bool deleted = strcmp(type, "DELETED") == 0;
	if (strcmp(kind, "Node") == 0) {
		struct vxpu_kube_node kn;
		if (vxpu_kube_node_read(obj, "Node", &kn, err, sizeof(err)) < 0) {
			vxpu_log(VXPU_LOG_WARN, "node event ignored", "error", err, (char *)NULL);
			return;
		}
		snprintf(key, keycap, "%s", kn.name);
		if (deleted)
			vxpu_ext_model_node_delete(&s->model, kn.name);
		else if (vxpu_ext_model_node_update(&s->model, &kn) == 1 && kn.registration)
			vxpu_log(VXPU_LOG_WARN, "node registration refused", "node", kn.name,
			         "error", vxpu_ext_model_node(&s->model, kn.name)->problem,
			         (char *)NULL);
	} else if (strcmp(kind, "Pod") == 0) {
		struct vxpu_kube_pod *kp = calloc(1, sizeof(*kp));
		if (!kp)
			return;
		if (vxpu_kube_pod_read(obj, "Pod", s->vendors, kp, err, sizeof(err)) < 0) {
			vxpu_log(VXPU_LOG_WARN, "pod event ignored", "error", err, (char *)NULL);
		} else if (kp->uid[0]) {
			snprintf(key, keycap, "%s", kp->uid);
			const struct vxpu_ext_pod *before = vxpu_ext_model_pod(&s->model, kp->uid);
			bool held = before != NULL, held_bound = before && !before->reserved;
			if (deleted)
				vxpu_ext_model_pod_delete(&s->model, kp->uid);
			else if (vxpu_ext_model_pod_update(&s->model, kp) == 1) {
				const struct vxpu_ext_pod *p =
				        vxpu_ext_model_pod(&s->model, kp->uid);
				/* Before both lists are in, a pod may come before its node. */
				if (p && !p->recorded && vxpu_scheduler_synced(s))
					vxpu_log(VXPU_LOG_WARN, "allocation not counted", "pod",
					         kp->name, "namespace", kp->ns, "error", p->problem,
					         (char *)NULL);
			}
			ledger_follow(s, obj, kp->uid, held, held_bound);
		}
		free(kp);
	} else {
		struct vxpu_kube_quota kq;
		if (vxpu_kube_quota_read(obj, "ResourceQuota", s->vendors, &kq, err, sizeof(err)) <
		    0) {
			vxpu_log(VXPU_LOG_WARN, "quota event ignored", "error", err, (char *)NULL);
			return;
		}
		snprintf(key, keycap, "%s/%s", kq.ns, kq.name);
		if (deleted)
			vxpu_ext_model_quota_delete(&s->model, kq.ns, kq.name);
		else if (vxpu_ext_model_quota_update(&s->model, &kq, err, sizeof(err)) < 0)
			vxpu_log(VXPU_LOG_WARN, "quota refused", "quota", key, "error", err,
			         (char *)NULL);
	}
}

void vxpu_scheduler_apply(struct vxpu_scheduler *s, const char *kind, const char *type,
                          const cJSON *object)
{
	char key[320];
	pthread_rwlock_wrlock(&s->lock);
	apply_locked(s, kind, type, object, key, sizeof(key));
	pthread_rwlock_unlock(&s->lock);
}

static void watch_begin(void *ctx, bool first)
{
	struct watch *w = ctx;
	(void)first;
	for (size_t i = 0; i < w->nseen; i++)
		free(w->seen[i]);
	w->nseen = 0;
	w->in_relist = true;
}

static void watch_event(void *ctx, const char *type, const cJSON *object)
{
	struct watch *w = ctx;
	char key[320];
	pthread_rwlock_wrlock(&w->s->lock);
	apply_locked(w->s, w->kind, type, object, key, sizeof(key));
	pthread_rwlock_unlock(&w->s->lock);
	if (!w->in_relist || !key[0])
		return;
	if (w->nseen == w->capseen) {
		size_t cap = w->capseen ? w->capseen * 2 : 256;
		char **grown = realloc(w->seen, cap * sizeof(*grown));
		if (!grown)
			return;
		w->seen = grown;
		w->capseen = cap;
	}
	char *k = copy_text(key);
	if (k)
		w->seen[w->nseen++] = k;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool seen(const struct watch *w, const char *key)
{
	const char *k = key;
	return w->nseen && bsearch(&k, w->seen, w->nseen, sizeof(*w->seen), key_cmp) != NULL;
}

/* After a relist: whatever the model has that the list did not is gone. */
static void watch_end(void *ctx, const char *rv)
{
	struct watch *w = ctx;
	struct vxpu_scheduler *s = w->s;
	(void)rv;
	if (w->nseen)
		qsort(w->seen, w->nseen, sizeof(*w->seen), key_cmp);
	pthread_rwlock_wrlock(&s->lock);
	struct vxpu_ext_model *m = &s->model;
	if (strcmp(w->kind, "Node") == 0) {
		for (size_t i = m->nnodes; i-- > 0;)
			if (!seen(w, m->nodes[i]->node.name)) {
				char name[VXPU_NODE_NAME_MAX];
				snprintf(name, sizeof(name), "%s", m->nodes[i]->node.name);
				vxpu_ext_model_node_delete(m, name);
			}
	} else if (strcmp(w->kind, "Pod") == 0) {
		vxpu_ext_model_node_sync(m, NULL, (const char *const *)w->seen, w->nseen);
		/* Pods that vanished unseen (a restart, a 410) end in the ledger. */
		if (s->ledger)
			vxpu_sched_ledger_reconcile(s->ledger);
	} else {
		for (size_t i = m->nsources; i-- > 0;) {
			char key[320];
			snprintf(key, sizeof(key), "%s/%s", m->sources[i].ns, m->sources[i].name);
			if (!seen(w, key)) {
				char ns[VXPU_NAMESPACE_MAX], name[VXPU_KUBE_NAME_MAX];
				snprintf(ns, sizeof(ns), "%s", m->sources[i].ns);
				snprintf(name, sizeof(name), "%s", m->sources[i].name);
				vxpu_ext_model_quota_delete(m, ns, name);
			}
		}
	}
	pthread_rwlock_unlock(&s->lock);
	for (size_t i = 0; i < w->nseen; i++)
		free(w->seen[i]);
	w->nseen = 0;
	w->in_relist = false;
	if (!atomic_exchange(&w->synced, true))
		vxpu_log(VXPU_LOG_INFO, "cache synced", "kind", w->kind, (char *)NULL);
}

static void *watch_main(void *arg)
{
	struct watch *w = arg;
	struct vxpu_kube_watcher cb = {watch_begin, watch_event, watch_end, w};
	vxpu_kube_reflect(w->s->client, w->path, NULL, &cb, &w->s->stop);
	return NULL;
}

/* ---- life cycle ------------------------------------------------------------ */

int vxpu_scheduler_new(const struct vxpu_vendor_table *vendors, struct vxpu_kube_client *client,
                       const struct vxpu_scheduler_options *opt, struct vxpu_scheduler **out,
                       char *err, size_t errlen)
{
	*out = NULL;
	struct vxpu_scheduler *s = calloc(1, sizeof(*s));
	if (!s)
		return vxpu_fail(err, errlen, "out of memory");
	s->vendors = vendors;
	s->client = client;
	s->opt = *opt;
	snprintf(s->scheduler_name, sizeof(s->scheduler_name), "%s",
	         opt->scheduler_name && opt->scheduler_name[0] ? opt->scheduler_name
	                                                       : "vxpu-scheduler");
	snprintf(s->identity, sizeof(s->identity), "%s",
	         opt->identity && opt->identity[0] ? opt->identity : "vxpu-scheduler");
	snprintf(s->lease_ns, sizeof(s->lease_ns), "%s",
	         opt->lease_namespace && opt->lease_namespace[0]
	                 ? opt->lease_namespace
	                 : vxpu_kube_client_namespace(client));
	s->opt.scheduler_name = s->scheduler_name;
	s->opt.identity = s->identity;
	s->opt.lease_namespace = s->lease_ns;
	s->opt.webhook.scheduler_name = s->scheduler_name;
	snprintf(s->project_label, sizeof(s->project_label), "%s",
	         opt->project_label && opt->project_label[0] ? opt->project_label
	                                                     : VXPU_SCHED_LEDGER_PROJECT_LABEL);
	snprintf(s->user_label, sizeof(s->user_label), "%s",
	         opt->user_label && opt->user_label[0] ? opt->user_label
	                                               : VXPU_SCHED_LEDGER_USER_LABEL);
	s->opt.project_label = s->project_label;
	s->opt.user_label = s->user_label;
	if (!s->opt.lease_seconds)
		s->opt.lease_seconds = 60;
	if (!s->opt.lease_wait_ms)
		s->opt.lease_wait_ms = 10000;
	if (!s->opt.shape_window)
		s->opt.shape_window = 1000;
	pthread_rwlock_init(&s->lock, NULL);
	pthread_mutex_init(&s->stats_lock, NULL);
	pthread_mutex_init(&s->memo_lock, NULL);
	pthread_mutex_init(&s->queue_lock, NULL);
	pthread_cond_init(&s->queue_cond, NULL);
	atomic_init(&s->stop, false);
	vxpu_ext_model_init(&s->model, vendors, &s->opt.policy, s->opt.shape_window);
	static const char *const kinds[3] = {"Node", "Pod", "ResourceQuota"};
	static const char *const paths[3] = {"/api/v1/nodes", "/api/v1/pods",
	                                     "/api/v1/resourcequotas"};
	for (int i = 0; i < 3; i++) {
		s->watches[i].s = s;
		s->watches[i].kind = kinds[i];
		s->watches[i].path = paths[i];
		atomic_init(&s->watches[i].synced, false);
	}
	if (opt->ledger && opt->ledger[0]) {
		struct vxpu_sched_ledger_options lo = {
		        .path = opt->ledger,
		        .grace_ms = opt->ledger_grace_ms,
		        .reconcile_ms = opt->ledger_reconcile_ms,
		        .hooks = {ledger_live, ledger_synced, s},
		};
		if (vxpu_sched_ledger_new(&lo, &s->ledger, err, errlen) < 0) {
			vxpu_scheduler_free(s);
			return -1;
		}
	}
	s->opt.ledger = s->ledger ? vxpu_sched_ledger_path(s->ledger) : NULL;
	*out = s;
	return 0;
}

int vxpu_scheduler_start(struct vxpu_scheduler *s, char *err, size_t errlen)
{
	if (s->opt.events) {
		s->queue = calloc(EVENT_QUEUE, sizeof(*s->queue));
		if (!s->queue || pthread_create(&s->event_thread, NULL, event_main, s) != 0)
			return vxpu_fail(err, errlen, "cannot start the Events poster");
		s->event_started = true;
	}
	for (int i = 0; i < 3; i++) {
		if (pthread_create(&s->watches[i].thread, NULL, watch_main, &s->watches[i]) != 0)
			return vxpu_fail(err, errlen, "cannot start the %s watch",
			                 s->watches[i].kind);
		s->watches[i].started = true;
	}
	return 0;
}

const char *vxpu_scheduler_ledger(const struct vxpu_scheduler *s)
{
	return s->ledger ? vxpu_sched_ledger_path(s->ledger) : NULL;
}

bool vxpu_scheduler_synced(const struct vxpu_scheduler *s)
{
	for (int i = 0; i < 3; i++)
		if (!atomic_load(&s->watches[i].synced))
			return false;
	return true;
}

void vxpu_scheduler_free(struct vxpu_scheduler *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, true);
	for (int i = 0; i < 3; i++) {
		if (s->watches[i].started)
			pthread_join(s->watches[i].thread, NULL);
		for (size_t k = 0; k < s->watches[i].nseen; k++)
			free(s->watches[i].seen[k]);
		free(s->watches[i].seen);
	}
	if (s->event_started) {
		pthread_mutex_lock(&s->queue_lock);
		pthread_cond_broadcast(&s->queue_cond);
		pthread_mutex_unlock(&s->queue_lock);
		pthread_join(s->event_thread, NULL);
	}
	/* Before the model goes: the writer's hooks read it. */
	vxpu_sched_ledger_free(s->ledger);
	free(s->queue);
	vxpu_ext_model_free(&s->model);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->stats_lock);
	for (size_t i = 0; i < MEMO_SLOTS; i++)
		vxpu_extender_memo_free(&s->memos[i]);
	pthread_mutex_destroy(&s->memo_lock);
	pthread_mutex_destroy(&s->queue_lock);
	pthread_cond_destroy(&s->queue_cond);
	free(s);
}

void vxpu_scheduler_read(struct vxpu_scheduler *s,
                         void (*fn)(const struct vxpu_ext_model *m, void *ctx), void *ctx)
{
	pthread_rwlock_rdlock(&s->lock);
	fn(&s->model, ctx);
	pthread_rwlock_unlock(&s->lock);
}

/* ---- answers --------------------------------------------------------------- */

static void answer_text(struct vxpu_scheduler_answer *out, int status, char *cjson_text)
{
	/* No cJSON hooks are installed anywhere in vxpu, so cJSON's text is
	 * malloc'd and is handed out as it is (a copy of a 1,000-node answer
	 * cost more than deciding it). */
	out->status = status;
	out->body = cjson_text;
	out->len = out->body ? strlen(out->body) : 0;
	if (!out->body) {
		out->status = 500;
		out->body = copy_text("{\"error\":\"out of memory\"}");
		out->len = out->body ? strlen(out->body) : 0;
	}
}

static void answer_error(struct vxpu_scheduler_answer *out, int status, const char *message)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "error", message);
	answer_text(out, status, cJSON_PrintUnformatted(doc));
	cJSON_Delete(doc);
}

/* Parses the arguments of a filter or prioritize call; a bad request is
 * answered (400), counted under verb, and false returned. */
static bool extender_args(struct vxpu_scheduler *s, enum verb verb, double t0, const char *body,
                          size_t len, struct vxpu_extender_args *a,
                          struct vxpu_scheduler_answer *out)
{
	char err[512];
	if (vxpu_extender_args_parse(body, len, s->vendors, a, err, sizeof(err)) < 0) {
		answer_error(out, 400, err);
		observe(s, verb, OUT_BAD_REQUEST, mono_s() - t0);
		return false;
	}
	return true;
}

void vxpu_scheduler_filter(struct vxpu_scheduler *s, const char *body, size_t len,
                           struct vxpu_scheduler_answer *out)
{
	double t0 = mono_s();
	struct vxpu_extender_args a;
	if (!extender_args(s, VERB_FILTER, t0, body, len, &a, out))
		return;
	struct vxpu_extender_outcome oc;
	struct vxpu_extender_memo memo = {0};
	pthread_rwlock_rdlock(&s->lock);
	char *text = vxpu_extender_filter_memo(&s->model, &a, &oc, &memo);
	pthread_rwlock_unlock(&s->lock);
	if (memo.valid) {
		pthread_mutex_lock(&s->memo_lock);
		size_t slot = s->memo_next;
		for (size_t i = 0; i < MEMO_SLOTS; i++)
			if (s->memos[i].valid && strcmp(s->memos[i].uid, memo.uid) == 0)
				slot = i;
		if (slot == s->memo_next)
			s->memo_next = (s->memo_next + 1) % MEMO_SLOTS;
		vxpu_extender_memo_free(&s->memos[slot]);
		s->memos[slot] = memo;
		pthread_mutex_unlock(&s->memo_lock);
	} else {
		vxpu_extender_memo_free(&memo);
	}
	enum outcome o = oc.passthrough ? OUT_PASSTHROUGH
	                 : oc.error     ? OUT_REFUSED
	                 : oc.feasible  ? OUT_FEASIBLE
	                                : OUT_INFEASIBLE;
	if (o == OUT_INFEASIBLE || o == OUT_REFUSED)
		vxpu_log(VXPU_LOG_INFO, "no node fits", "pod", a.pod->name, "namespace", a.pod->ns,
		         (char *)NULL);
	vxpu_extender_args_free(&a);
	answer_text(out, 200, text);
	observe(s, VERB_FILTER, o, mono_s() - t0);
}

void vxpu_scheduler_prioritize(struct vxpu_scheduler *s, const char *body, size_t len,
                               struct vxpu_scheduler_answer *out)
{
	double t0 = mono_s();
	struct vxpu_extender_args a;
	if (!extender_args(s, VERB_PRIORITIZE, t0, body, len, &a, out))
		return;
	pthread_rwlock_rdlock(&s->lock);
	char *text = NULL;
	bool reused = false;
	pthread_mutex_lock(&s->memo_lock);
	for (size_t i = 0; i < MEMO_SLOTS && !reused; i++)
		if (vxpu_extender_memo_matches(&s->memos[i], &s->model, &a)) {
			text = vxpu_extender_prioritize_memo(&s->memos[i], &a);
			reused = true;
		}
	pthread_mutex_unlock(&s->memo_lock);
	if (!reused)
		text = vxpu_extender_prioritize(&s->model, &a);
	pthread_rwlock_unlock(&s->lock);
	pthread_mutex_lock(&s->stats_lock);
	s->memo_hits += reused;
	s->memo_misses += !reused;
	pthread_mutex_unlock(&s->stats_lock);
	vxpu_extender_args_free(&a);
	answer_text(out, 200, text);
	observe(s, VERB_PRIORITIZE, OUT_OK, mono_s() - t0);
}

void vxpu_scheduler_admit(struct vxpu_scheduler *s, const char *body, size_t len,
                          struct vxpu_scheduler_answer *out)
{
	double t0 = mono_s();
	char err[512];
	struct vxpu_webhook_result r;
	pthread_rwlock_rdlock(&s->lock);
	char *text = vxpu_webhook_review(s->vendors, &s->opt.webhook, &s->model.quota, body, len,
	                                 &r, err, sizeof(err));
	pthread_rwlock_unlock(&s->lock);
	if (!text) {
		answer_error(out, 400, err);
		observe(s, VERB_ADMIT, OUT_BAD_REQUEST, mono_s() - t0);
		return;
	}
	out->status = 200;
	out->body = text;
	out->len = strlen(text);
	enum outcome o = r.verdict == VXPU_WEBHOOK_DENIED     ? OUT_REFUSED
	                 : r.verdict == VXPU_WEBHOOK_ADMITTED ? OUT_OK
	                                                      : OUT_PASSTHROUGH;
	if (o == OUT_REFUSED)
		vxpu_log(VXPU_LOG_INFO, "pod denied", "reason", r.message, (char *)NULL);
	observe(s, VERB_ADMIT, o, mono_s() - t0);
}

/* ---- the node allocation lease --------------------------------------------- */

static int lease_path(struct vxpu_scheduler *s, const char *node, char *out, size_t cap)
{
	char name[260], ens[3 * 64], ename[3 * 260];
	vxpu_scheduler_lease_name(node, name, sizeof(name));
	if (vxpu_kube_escape(s->lease_ns, ens, sizeof(ens)) < 0 ||
	    vxpu_kube_escape(name, ename, sizeof(ename)) < 0)
		return -1;
	int n = snprintf(out, cap, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", ens,
	                 ename);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static const char *json_string(const cJSON *obj, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Sets holder (and the pod annotations) in a Lease document. */
static void lease_fill(struct vxpu_scheduler *s, cJSON *lease, const struct vxpu_kube_pod *kp)
{
	char now[40], podkey[VXPU_NAMESPACE_MAX + VXPU_POD_NAME_MAX + 2];
	vxpu_kube_micro_time(vxpu_wall_ms(), now, sizeof(now));
	snprintf(podkey, sizeof(podkey), "%s/%s", kp->ns, kp->name);
	cJSON *meta = cJSON_GetObjectItemCaseSensitive(lease, "metadata");
	if (!meta)
		meta = cJSON_AddObjectToObject(lease, "metadata");
	cJSON *ann = cJSON_GetObjectItemCaseSensitive(meta, "annotations");
	if (!cJSON_IsObject(ann)) {
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "annotations");
		ann = cJSON_AddObjectToObject(meta, "annotations");
	}
	cJSON_DeleteItemFromObjectCaseSensitive(ann, VXPU_ANNOTATION_LEASE_POD);
	cJSON_DeleteItemFromObjectCaseSensitive(ann, VXPU_ANNOTATION_LEASE_POD_UID);
	cJSON_AddStringToObject(ann, VXPU_ANNOTATION_LEASE_POD, podkey);
	cJSON_AddStringToObject(ann, VXPU_ANNOTATION_LEASE_POD_UID, kp->uid);
	cJSON_DeleteItemFromObjectCaseSensitive(lease, "spec");
	cJSON *spec = cJSON_AddObjectToObject(lease, "spec");
	cJSON_AddStringToObject(spec, "holderIdentity", kp->uid);
	cJSON_AddNumberToObject(spec, "leaseDurationSeconds", s->opt.lease_seconds);
	cJSON_AddStringToObject(spec, "acquireTime", now);
	cJSON_AddStringToObject(spec, "renewTime", now);
}

/* Whether the pod that holds a lease is gone (deleted, replaced or finished). */
static bool holder_gone(struct vxpu_scheduler *s, const cJSON *lease, const char *holder)
{
	const char *podkey = json_string(cJSON_GetObjectItemCaseSensitive(lease, "metadata"),
	                                 "annotations", VXPU_ANNOTATION_LEASE_POD);
	if (!podkey || !strchr(podkey, '/'))
		return false; /* not ours to judge: wait for expiry */
	char ns[VXPU_NAMESPACE_MAX], path[1024], err[512];
	const char *slash = strchr(podkey, '/');
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - podkey), podkey);
	if (pod_path(path, sizeof(path), ns, slash + 1, NULL) < 0)
		return false;
	cJSON *pod = NULL;
	long status = 0;
	vxpu_kube_call_json(s->client, "GET", path, NULL, NULL, &pod, &status, err, sizeof(err));
	if (status == 404)
		return true;
	if (!pod)
		return false;
	const char *uid = json_string(pod, "metadata", "uid");
	const char *phase = json_string(pod, "status", "phase");
	bool gone = !uid || strcmp(uid, holder) != 0 ||
	            (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")));
	cJSON_Delete(pod);
	return gone;
}

static bool lease_expired(const cJSON *lease)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
	const char *renew = json_string(spec, "renewTime", NULL);
	const cJSON *dur = cJSON_GetObjectItemCaseSensitive(spec, "leaseDurationSeconds");
	int64_t at = 0;
	if (!renew || vxpu_rfc3339_parse(renew, &at) < 0 || !cJSON_IsNumber(dur))
		return true; /* a lease without a valid term holds nothing */
	return vxpu_wall_ms() > at + (int64_t)dur->valuedouble * 1000;
}

/*
 * Takes the node's lease for kp. *last receives the UID of the previous
 * holder recorded on the lease ("" if none). 0, or -1 with why.
 */
static int lease_take(struct vxpu_scheduler *s, const char *node, const struct vxpu_kube_pod *kp,
                      char *last, size_t lastcap, char *why, size_t whylen)
{
	char path[1024], err[512];
	last[0] = '\0';
	if (lease_path(s, node, path, sizeof(path)) < 0)
		return vxpu_fail(why, whylen, "node \"%s\": lease name too long", node);
	double deadline = mono_s() + s->opt.lease_wait_ms / 1000.0;
	unsigned wait = 10;
	bool waited = false;
	for (int round = 0;; round++) {
		cJSON *lease = NULL;
		long status = 0;
		vxpu_kube_call_json(s->client, "GET", path, NULL, NULL, &lease, &status, err,
		                    sizeof(err));
		if (status == 404) {
			cJSON *doc = cJSON_CreateObject();
			cJSON_AddStringToObject(doc, "apiVersion", "coordination.k8s.io/v1");
			cJSON_AddStringToObject(doc, "kind", "Lease");
			cJSON *meta = cJSON_AddObjectToObject(doc, "metadata");
			char name[260];
			vxpu_scheduler_lease_name(node, name, sizeof(name));
			cJSON_AddStringToObject(meta, "name", name);
			cJSON_AddStringToObject(meta, "namespace", s->lease_ns);
			lease_fill(s, doc, kp);
			char *body = cJSON_PrintUnformatted(doc);
			cJSON_Delete(doc);
			char collection[1024];
			snprintf(collection, sizeof(collection), "%.*s",
			         (int)(strrchr(path, '/') - path), path);
			vxpu_kube_call_json(s->client, "POST", collection, "application/json", body,
			                    NULL, &status, err, sizeof(err));
			cJSON_free(body);
			if (status == 201 || status == 200)
				return 0;
			if (status == 409)
				continue; /* another bind created it first: look again */
			return vxpu_fail(why, whylen, "node \"%s\": cannot create its lease: %s",
			                 node, err);
		}
		if (!lease)
			return vxpu_fail(why, whylen, "node \"%s\": cannot read its lease: %s",
			                 node, err);
		const char *holder = json_string(lease, "spec", "holderIdentity");
		const char *prev = json_string(cJSON_GetObjectItemCaseSensitive(lease, "metadata"),
		                               "annotations", VXPU_ANNOTATION_LEASE_POD_UID);
		snprintf(last, lastcap, "%s", prev ? prev : "");
		bool mine = holder && strcmp(holder, kp->uid) == 0;
		bool free_now = !holder || !holder[0] || mine || lease_expired(lease);
		if (!free_now && holder_gone(s, lease, holder)) {
			free_now = true;
			bump(s, &s->lease_takeovers);
		}
		if (free_now) {
			lease_fill(s, lease, kp);
			char *body = cJSON_PrintUnformatted(lease);
			cJSON_Delete(lease);
			vxpu_kube_call_json(s->client, "PUT", path, "application/json", body, NULL,
			                    &status, err, sizeof(err));
			cJSON_free(body);
			if (status == 200)
				return 0;
			if (status == 409 && mono_s() < deadline)
				continue;
			return vxpu_fail(why, whylen, "node \"%s\": cannot take its lease: %s",
			                 node, err);
		}
		char held_by[VXPU_NAMESPACE_MAX + VXPU_POD_NAME_MAX + 2];
		const char *podkey =
		        json_string(cJSON_GetObjectItemCaseSensitive(lease, "metadata"),
		                    "annotations", VXPU_ANNOTATION_LEASE_POD);
		snprintf(held_by, sizeof(held_by), "%s", podkey ? podkey : holder);
		cJSON_Delete(lease);
		if (mono_s() >= deadline)
			return vxpu_fail(
			        why, whylen,
			        "node \"%s\" is busy: its allocation lease is held by pod %s until "
			        "the node agent has consumed that pod's allocation",
			        node, held_by);
		if (!waited) {
			bump(s, &s->lease_waits);
			waited = true;
		}
		sleep_ms(wait);
		wait = wait < 200 ? wait * 2 : 200;
		(void)round;
	}
}

/* Gives the lease back if kp still holds it (rollback). Best effort. */
static void lease_give_back(struct vxpu_scheduler *s, const char *node,
                            const struct vxpu_kube_pod *kp)
{
	char path[1024], err[512];
	if (lease_path(s, node, path, sizeof(path)) < 0)
		return;
	for (int i = 0; i < 3; i++) {
		cJSON *lease = NULL;
		long status = 0;
		if (vxpu_kube_call_json(s->client, "GET", path, NULL, NULL, &lease, &status, err,
		                        sizeof(err)) < 0)
			return;
		const char *holder = json_string(lease, "spec", "holderIdentity");
		if (!holder || strcmp(holder, kp->uid) != 0) {
			cJSON_Delete(lease);
			return;
		}
		cJSON *spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
		cJSON_ReplaceItemInObjectCaseSensitive(spec, "holderIdentity",
		                                       cJSON_CreateString(""));
		char *body = cJSON_PrintUnformatted(lease);
		cJSON_Delete(lease);
		vxpu_kube_call_json(s->client, "PUT", path, "application/json", body, NULL, &status,
		                    err, sizeof(err));
		cJSON_free(body);
		if (status != 409)
			return;
	}
}

/* ---- bind ------------------------------------------------------------------ */

/* Reads the pod from the API server into kp (doc kept for its strings). */
static int pod_get(struct vxpu_scheduler *s, const char *ns, const char *name, cJSON **doc,
                   struct vxpu_kube_pod *kp, long *status, char *why, size_t whylen)
{
	char path[1024], err[512];
	*doc = NULL;
	if (pod_path(path, sizeof(path), ns, name, NULL) < 0)
		return vxpu_fail(why, whylen, "pod %s/%s: name too long", ns, name);
	if (vxpu_kube_call_json(s->client, "GET", path, NULL, NULL, doc, status, err, sizeof(err)) <
	    0)
		return vxpu_fail(why, whylen, "cannot read pod %s/%s: %s", ns, name, err);
	if (vxpu_kube_pod_read(*doc, "Pod", s->vendors, kp, err, sizeof(err)) < 0) {
		cJSON_Delete(*doc);
		*doc = NULL;
		return vxpu_fail(why, whylen, "pod %s/%s: %s", ns, name, err);
	}
	return 0;
}

static int create_binding(struct vxpu_scheduler *s, const struct vxpu_kube_pod *kp,
                          const char *node, long *status, char *why, size_t whylen)
{
	char path[1024], err[512];
	if (pod_path(path, sizeof(path), kp->ns, kp->name, "/binding") < 0)
		return vxpu_fail(why, whylen, "pod name too long");
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "apiVersion", "v1");
	cJSON_AddStringToObject(b, "kind", "Binding");
	cJSON *meta = cJSON_AddObjectToObject(b, "metadata");
	cJSON_AddStringToObject(meta, "name", kp->name);
	cJSON_AddStringToObject(meta, "namespace", kp->ns);
	cJSON_AddStringToObject(meta, "uid", kp->uid);
	cJSON *target = cJSON_AddObjectToObject(b, "target");
	cJSON_AddStringToObject(target, "apiVersion", "v1");
	cJSON_AddStringToObject(target, "kind", "Node");
	cJSON_AddStringToObject(target, "name", node);
	char *body = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	int rc = vxpu_kube_call_json(s->client, "POST", path, "application/json", body, NULL,
	                             status, err, sizeof(err));
	cJSON_free(body);
	return rc < 0 ? vxpu_fail(why, whylen, "%s", err) : 0;
}

/* Makes the model's view of node fresh by listing the pods bound to it. */
static int node_refresh(struct vxpu_scheduler *s, const char *node, char *why, size_t whylen)
{
	char sel[3 * 300 + 32], esc[3 * 300], err[512], rv[128];
	char *raw = NULL;
	if (asprintf(&raw, "spec.nodeName=%s", node) < 0)
		return vxpu_fail(why, whylen, "out of memory");
	int e = vxpu_kube_escape(raw, esc, sizeof(esc));
	free(raw);
	if (e < 0)
		return vxpu_fail(why, whylen, "node name too long");
	snprintf(sel, sizeof(sel), "fieldSelector=%s", esc);
	cJSON *items = NULL;
	long status = 0;
	if (vxpu_kube_list(s->client, "/api/v1/pods", sel, &items, rv, sizeof(rv), &status, err,
	                   sizeof(err)) < 0)
		return vxpu_fail(why, whylen, "cannot list the pods of node \"%s\": %s", node, err);
	size_t n = (size_t)cJSON_GetArraySize(items);
	const char **uids = calloc(n ? n : 1, sizeof(*uids));
	struct vxpu_kube_pod *kp = calloc(1, sizeof(*kp));
	if (!uids || !kp) {
		free(uids);
		free(kp);
		cJSON_Delete(items);
		return vxpu_fail(why, whylen, "out of memory");
	}
	size_t k = 0;
	pthread_rwlock_wrlock(&s->lock);
	const cJSON *it;
	cJSON_ArrayForEach(it, items)
	{
		if (vxpu_kube_pod_read(it, "Pod", s->vendors, kp, err, sizeof(err)) < 0 ||
		    !kp->uid[0])
			continue;
		vxpu_ext_model_pod_update(&s->model, kp);
		uids[k++] = json_string(it, "metadata", "uid");
	}
	vxpu_ext_model_node_sync(&s->model, node, uids, k);
	pthread_rwlock_unlock(&s->lock);
	bump(s, &s->node_syncs);
	free(uids);
	free(kp);
	cJSON_Delete(items);
	return 0;
}

/* Writes (or, with text NULL and expect set, removes) the allocation annotations. */
static int annotate(struct vxpu_scheduler *s, const struct vxpu_kube_pod *kp,
                    const char *resource_version, const char *text, long *status, char *why,
                    size_t whylen)
{
	char path[1024], err[512], now[40];
	if (pod_path(path, sizeof(path), kp->ns, kp->name, NULL) < 0)
		return vxpu_fail(why, whylen, "pod name too long");
	vxpu_kube_micro_time(vxpu_wall_ms(), now, sizeof(now));
	cJSON *patch = cJSON_CreateObject();
	cJSON *meta = cJSON_AddObjectToObject(patch, "metadata");
	if (resource_version)
		cJSON_AddStringToObject(meta, "resourceVersion", resource_version);
	cJSON *ann = cJSON_AddObjectToObject(meta, "annotations");
	cJSON_AddStringToObject(ann, VXPU_ANNOTATION_ALLOCATION, text);
	cJSON_AddStringToObject(ann, VXPU_ANNOTATION_BIND_PHASE, "allocating");
	cJSON_AddStringToObject(ann, VXPU_ANNOTATION_BIND_TIME, now);
	char *body = cJSON_PrintUnformatted(patch);
	cJSON_Delete(patch);
	int rc = vxpu_kube_call_json(s->client, "PATCH", path, VXPU_KUBE_MERGE_PATCH, body, NULL,
	                             status, err, sizeof(err));
	cJSON_free(body);
	return rc < 0 ? vxpu_fail(why, whylen, "%s", err) : 0;
}

/* Removes our annotations only if they still hold text (a JSON Patch test). */
static void unannotate(struct vxpu_scheduler *s, const struct vxpu_kube_pod *kp, const char *text)
{
	char path[1024], err[512];
	if (pod_path(path, sizeof(path), kp->ns, kp->name, NULL) < 0)
		return;
	cJSON *ops = cJSON_CreateArray();
	const char *alloc = "/metadata/annotations/vxpu.io~1allocation";
	cJSON *op = cJSON_CreateObject();
	cJSON_AddStringToObject(op, "op", "test");
	cJSON_AddStringToObject(op, "path", alloc);
	cJSON_AddStringToObject(op, "value", text);
	cJSON_AddItemToArray(ops, op);
	static const char *const removed[] = {"/metadata/annotations/vxpu.io~1allocation",
	                                      "/metadata/annotations/vxpu.io~1bind-phase",
	                                      "/metadata/annotations/vxpu.io~1bind-time"};
	for (int i = 0; i < 3; i++) {
		op = cJSON_CreateObject();
		cJSON_AddStringToObject(op, "op", "remove");
		cJSON_AddStringToObject(op, "path", removed[i]);
		cJSON_AddItemToArray(ops, op);
	}
	char *body = cJSON_PrintUnformatted(ops);
	cJSON_Delete(ops);
	long status = 0;
	vxpu_kube_call_json(s->client, "PATCH", path, VXPU_KUBE_JSON_PATCH, body, NULL, &status,
	                    err, sizeof(err));
	cJSON_free(body);
}

static bool model_has_on(struct vxpu_scheduler *s, const char *uid, const char *node)
{
	pthread_rwlock_rdlock(&s->lock);
	const struct vxpu_ext_pod *p = vxpu_ext_model_pod(&s->model, uid);
	bool yes = p && strcmp(p->node, node) == 0 && p->recorded;
	pthread_rwlock_unlock(&s->lock);
	return yes;
}

/* The bind sequence (see scheduler.h). 0 bound, -1 with why. */
static int do_bind(struct vxpu_scheduler *s, const struct vxpu_extender_binding *b,
                   struct vxpu_kube_pod *kp, char *why, size_t whylen)
{
	cJSON *doc = NULL;
	long status = 0;
	char *text = NULL;
	int rc = -1;
	bool leased = false, reserved = false, annotated = false;
	if (pod_get(s, b->ns, b->name, &doc, kp, &status, why, whylen) < 0)
		return -1;
	if (strcmp(kp->uid, b->uid) != 0) {
		vxpu_fail(why, whylen, "pod %s/%s has uid %s, not %s: it was replaced", b->ns,
		          b->name, kp->uid, b->uid);
		goto out;
	}
	if (kp->node_name[0]) {
		if (strcmp(kp->node_name, b->node) == 0 && (!kp->wants_devices || kp->allocation))
			rc = 0; /* a retried bind that had landed */
		else
			vxpu_fail(why, whylen, "pod %s/%s is already bound to node \"%s\"", b->ns,
			          b->name, kp->node_name);
		goto out;
	}
	if (!kp->wants_devices) {
		rc = create_binding(s, kp, b->node, &status, why, whylen);
		goto out;
	}
	if (kp->request_error[0]) {
		vxpu_fail(why, whylen, "%s", kp->request_error);
		goto out;
	}
	char last[VXPU_UID_MAX];
	if (lease_take(s, b->node, kp, last, sizeof(last), why, whylen) < 0)
		goto out;
	leased = true;
	if (last[0] && strcmp(last, kp->uid) != 0 && !model_has_on(s, last, b->node) &&
	    node_refresh(s, b->node, why, whylen) < 0)
		goto out;
	pthread_rwlock_wrlock(&s->lock);
	int r = vxpu_ext_model_reserve(&s->model, kp, b->node, vxpu_wall_ms(), &text, why, whylen);
	pthread_rwlock_unlock(&s->lock);
	if (r < 0)
		goto out;
	reserved = true;
	char rv[VXPU_RESOURCE_VERSION_MAX];
	snprintf(rv, sizeof(rv), "%s", kp->resource_version);
	for (int i = 0;; i++) {
		if (annotate(s, kp, rv, text, &status, why, whylen) == 0)
			break;
		if (status != 409 || i == 3)
			goto out;
		/* The pod changed meanwhile (its status, a label): read it again. */
		cJSON *again = NULL;
		struct vxpu_kube_pod *fresh = calloc(1, sizeof(*fresh));
		if (!fresh || pod_get(s, b->ns, b->name, &again, fresh, &status, why, whylen) < 0) {
			free(fresh);
			goto out;
		}
		bool same = strcmp(fresh->uid, kp->uid) == 0 && !fresh->node_name[0];
		snprintf(rv, sizeof(rv), "%s", fresh->resource_version);
		free(fresh);
		cJSON_Delete(again);
		if (!same) {
			vxpu_fail(why, whylen, "pod %s/%s was replaced or bound meanwhile", b->ns,
			          b->name);
			goto out;
		}
	}
	annotated = true;
	if (create_binding(s, kp, b->node, &status, why, whylen) < 0) {
		if (status == 409) {
			/* A retry of a Binding that landed answers 409: look. */
			cJSON *again = NULL;
			struct vxpu_kube_pod *now = calloc(1, sizeof(*now));
			char tmp[256];
			bool landed = now &&
			              pod_get(s, b->ns, b->name, &again, now, &status, tmp,
			                      sizeof(tmp)) == 0 &&
			              strcmp(now->node_name, b->node) == 0 && now->allocation &&
			              strcmp(now->allocation, text) == 0;
			free(now);
			cJSON_Delete(again);
			if (landed)
				rc = 0;
		}
		if (rc < 0)
			goto out;
	}
	rc = 0;
out:
	if (rc < 0) {
		if (annotated)
			unannotate(s, kp, text);
		if (reserved) {
			pthread_rwlock_wrlock(&s->lock);
			vxpu_ext_model_unreserve(&s->model, kp->uid);
			pthread_rwlock_unlock(&s->lock);
		}
		if (leased)
			lease_give_back(s, b->node, kp);
	} else if (text) {
		event_push(s, kp, false, "Allocated", "vxpu allocation on node %s: %s", b->node,
		           text);
		if (s->ledger) {
			pthread_rwlock_rdlock(&s->lock);
			ledger_start(s, doc, kp->uid, text);
			pthread_rwlock_unlock(&s->lock);
		}
	}
	if (text)
		vxpu_annotation_free(text);
	cJSON_Delete(doc);
	return rc;
}

void vxpu_scheduler_bind(struct vxpu_scheduler *s, const char *body, size_t len,
                         struct vxpu_scheduler_answer *out)
{
	double t0 = mono_s();
	char why[1024];
	struct vxpu_extender_binding b;
	if (vxpu_extender_binding_parse(body, len, &b, why, sizeof(why)) < 0) {
		answer_error(out, 400, why);
		observe(s, VERB_BIND, OUT_BAD_REQUEST, mono_s() - t0);
		return;
	}
	struct vxpu_kube_pod *kp = calloc(1, sizeof(*kp));
	int rc = kp ? do_bind(s, &b, kp, why, sizeof(why))
	            : vxpu_fail(why, sizeof(why), "out of memory");
	if (rc < 0) {
		/* Info, not warn: with two replicas a lost race is routine; the pod's
		 * Warning Event carries the reason to its owner. */
		vxpu_log(VXPU_LOG_INFO, "bind failed", "pod", b.name, "namespace", b.ns, "node",
		         b.node, "error", why, (char *)NULL);
		if (kp) {
			if (!kp->uid[0]) {
				snprintf(kp->ns, sizeof(kp->ns), "%s", b.ns);
				snprintf(kp->name, sizeof(kp->name), "%s", b.name);
				snprintf(kp->uid, sizeof(kp->uid), "%s", b.uid);
			}
			event_push(s, kp, true, "FailedBinding", "%s", why);
		}
	} else {
		vxpu_log(VXPU_LOG_INFO, "bound", "pod", b.name, "namespace", b.ns, "node", b.node,
		         (char *)NULL);
	}
	free(kp);
	answer_text(out, 200, vxpu_extender_binding_result(rc < 0 ? why : NULL));
	observe(s, VERB_BIND, rc < 0 ? OUT_FAILED : OUT_BOUND, mono_s() - t0);
}

/* ---- metrics --------------------------------------------------------------- */

struct metrics_view {
	struct vxpu_prom *w;
	size_t registered, unregistered, allocated, unrecorded;
};

static void metrics_model(const struct vxpu_ext_model *m, void *ctx)
{
	struct metrics_view *v = ctx;
	struct vxpu_prom *w = v->w;
	for (size_t i = 0; i < m->nnodes; i++)
		m->nodes[i]->registered ? v->registered++ : v->unregistered++;
	v->allocated = m->npods;
	v->unrecorded = vxpu_ext_model_unrecorded(m);
	static const char *const dev_families[3][2] = {
	        {"vxpu_scheduler_device_memory_capacity_bytes",
	         "Device memory the scheduler may allocate (physical memory times scaling)."},
	        {"vxpu_scheduler_device_memory_allocated_bytes",
	         "Device memory held by allocations, as the scheduler counts it."},
	        {"vxpu_scheduler_device_compute_allocated_percent",
	         "Compute held by allocations, in percent of the whole device."},
	};
	for (int f = 0; f < 3; f++) {
		vxpu_prom_family(w, dev_families[f][0], VXPU_PROM_GAUGE, dev_families[f][1]);
		for (size_t i = 0; i < m->nnodes; i++) {
			const struct vxpu_ext_node *en = m->nodes[i];
			if (!en->registered)
				continue;
			for (uint32_t d = 0; d < en->node.ndevices; d++) {
				const struct vxpu_device *dev = &en->node.devices[d];
				char index[16];
				snprintf(index, sizeof(index), "%u", dev->index);
				struct vxpu_prom_label l[4] = {{"node", en->node.name},
				                               {"device", dev->id},
				                               {"index", index},
				                               {"model", dev->model}};
				double value;
				if (f == 0)
					value = (double)dev->memory_capacity_mib * 1048576.0;
				else if (f == 1)
					value = (double)en->node.usage[d].memory_mib * 1048576.0;
				else
					value = dev->unit_count
					                ? 100.0 * en->node.usage[d].compute_units /
					                          dev->unit_count
					                : 0;
				vxpu_prom_sample(w, l, 4, value);
			}
		}
	}
	static const char *const quota_families[6][2] = {
	        {"vxpu_scheduler_quota_memory_used_bytes", "Device memory charged to a quota."},
	        {"vxpu_scheduler_quota_memory_limit_bytes", "Device memory limit of a quota."},
	        {"vxpu_scheduler_quota_compute_used_percent",
	         "Compute charged to a quota, in device-percent (30 % on two devices is 60)."},
	        {"vxpu_scheduler_quota_compute_limit_percent",
	         "Compute limit of a quota, in device-percent."},
	        {"vxpu_scheduler_quota_devices_used", "Device shares charged to a quota."},
	        {"vxpu_scheduler_quota_devices_limit", "Device share limit of a quota."},
	};
	for (int f = 0; f < 6; f++) {
		vxpu_prom_family(w, quota_families[f][0], VXPU_PROM_GAUGE, quota_families[f][1]);
		for (size_t i = 0; i < m->quota.count; i++) {
			const struct vxpu_quota_entry *e = &m->quota.entries[i];
			const struct vxpu_quota_amount *a = f % 2 ? &e->limit : &e->used;
			uint64_t value = f < 2   ? a->memory_mib
			                 : f < 4 ? a->compute_percent
			                         : a->devices;
			if (value == VXPU_QUOTA_UNLIMITED)
				continue;
			struct vxpu_prom_label l[2] = {{"namespace", e->ns},
			                               {"project", e->project}};
			vxpu_prom_sample(w, l, 2,
			                 f < 2 ? (double)value * 1048576.0 : (double)value);
		}
	}
}

static void gauge(struct vxpu_prom *w, const char *name, const char *help, double v)
{
	vxpu_prom_family(w, name, VXPU_PROM_GAUGE, help);
	vxpu_prom_sample(w, NULL, 0, v);
}

static void counter(struct vxpu_prom *w, const char *name, const char *help, double v)
{
	vxpu_prom_family(w, name, VXPU_PROM_COUNTER, help);
	vxpu_prom_sample(w, NULL, 0, v);
}

char *vxpu_scheduler_metrics(struct vxpu_scheduler *s, size_t *len)
{
	struct vxpu_prom w;
	vxpu_prom_init(&w);
	struct metrics_view v = {.w = &w};
	vxpu_scheduler_read(s, metrics_model, &v);
	gauge(&w, "vxpu_scheduler_cache_synced",
	      "1 when Nodes, Pods and ResourceQuotas were all listed (ready), else 0.",
	      vxpu_scheduler_synced(s));
	vxpu_prom_family(&w, "vxpu_scheduler_nodes", VXPU_PROM_GAUGE,
	                 "Nodes known to the scheduler, by registration state.");
	vxpu_prom_sample(&w, (struct vxpu_prom_label[]){{"state", "registered"}}, 1,
	                 (double)v.registered);
	vxpu_prom_sample(&w, (struct vxpu_prom_label[]){{"state", "unregistered"}}, 1,
	                 (double)v.unregistered);
	gauge(&w, "vxpu_scheduler_pods_allocated", "Pods holding a vxpu allocation.",
	      (double)v.allocated);
	gauge(&w, "vxpu_scheduler_pods_unrecorded",
	      "Pods whose allocation annotation could not be counted (see the logs).",
	      (double)v.unrecorded);

	pthread_mutex_lock(&s->stats_lock);
	uint64_t outcomes[VERBS][OUTCOMES];
	struct histogram lat[VERBS];
	memcpy(outcomes, s->outcomes, sizeof(outcomes));
	memcpy(lat, s->latency, sizeof(lat));
	uint64_t waits = s->lease_waits, takeovers = s->lease_takeovers, syncs = s->node_syncs;
	uint64_t memo_hits = s->memo_hits, memo_misses = s->memo_misses;
	pthread_mutex_unlock(&s->stats_lock);
	vxpu_prom_family(&w, "vxpu_scheduler_requests_total", VXPU_PROM_COUNTER,
	                 "Requests answered, by verb and outcome.");
	for (int vb = 0; vb < VERBS; vb++)
		for (int o = 0; o < OUTCOMES; o++)
			if (outcomes[vb][o])
				vxpu_prom_sample(
				        &w,
				        (struct vxpu_prom_label[]){{"verb", verb_names[vb]},
				                                   {"outcome", outcome_names[o]}},
				        2, (double)outcomes[vb][o]);
	if (s->ledger) {
		struct vxpu_sched_ledger_stats ls;
		vxpu_sched_ledger_stats(s->ledger, &ls);
		counter(&w, "vxpu_scheduler_ledger_intervals_started_total",
		        "Pod allocations whose ledger intervals this replica started.",
		        (double)ls.started);
		counter(&w, "vxpu_scheduler_ledger_intervals_ended_total",
		        "Pod allocations whose ledger intervals this replica ended.",
		        (double)ls.ended);
		counter(&w, "vxpu_scheduler_ledger_write_failures_total",
		        "Ledger writes that failed (each is retried with backoff).",
		        (double)ls.failed);
		gauge(&w, "vxpu_scheduler_ledger_queue_length",
		      "Ledger records waiting for the writer.", (double)ls.queued);
	}
	counter(&w, "vxpu_scheduler_prioritize_memo_hits_total",
	        "Prioritize calls answered from the preceding filter's per-node results.",
	        (double)memo_hits);
	counter(&w, "vxpu_scheduler_prioritize_memo_misses_total",
	        "Prioritize calls that evaluated the nodes again (the pod or the model changed).",
	        (double)memo_misses);
	counter(&w, "vxpu_scheduler_lease_waits_total",
	        "Binds that waited for a node's allocation lease.", (double)waits);
	counter(&w, "vxpu_scheduler_lease_takeovers_total",
	        "Leases taken over because their holder pod was gone.", (double)takeovers);
	counter(&w, "vxpu_scheduler_node_syncs_total",
	        "Binds that listed a node's pods because the watch had not caught up.",
	        (double)syncs);
	struct vxpu_kube_stats ks;
	vxpu_kube_client_stats(s->client, &ks);
	counter(&w, "vxpu_scheduler_api_requests_total", "Requests sent to the API server.",
	        (double)ks.requests);
	counter(&w, "vxpu_scheduler_api_retries_total",
	        "API requests sent again after a 429, a 5xx or a transport failure.",
	        (double)ks.retries);
	counter(&w, "vxpu_scheduler_api_failures_total", "API calls that gave up.",
	        (double)ks.failures);
	counter(&w, "vxpu_scheduler_watch_events_total", "Watch events received.",
	        (double)ks.watch_events);
	counter(&w, "vxpu_scheduler_relists_total",
	        "Lists made again after a watch fell out of the server's history (410).",
	        (double)ks.relists);
	pthread_mutex_lock(&s->queue_lock);
	uint64_t posted = s->events_posted, dropped = s->events_dropped;
	pthread_mutex_unlock(&s->queue_lock);
	counter(&w, "vxpu_scheduler_events_posted_total", "Kubernetes Events posted on pods.",
	        (double)posted);
	counter(&w, "vxpu_scheduler_events_dropped_total",
	        "Kubernetes Events dropped because the queue was full.", (double)dropped);
	size_t plen = 0;
	char *text = vxpu_prom_finish(&w, &plen);
	vxpu_prom_free(&w);
	if (!text)
		return NULL;
	/* The latency histograms, in the exposition format's histogram shape. */
	struct vxpu_strbuf b = VXPU_STRBUF_INIT;
	vxpu_strbuf_append(&b, text, plen);
	free(text);
	const char *h = "vxpu_scheduler_request_duration_seconds";
	vxpu_strbuf_printf(&b,
	                   "# HELP %s Time to answer a request of kube-scheduler or the API "
	                   "server, by verb.\n# TYPE %s histogram\n",
	                   h, h);
	for (int vb = 0; vb < VERBS; vb++) {
		uint64_t cum = 0;
		for (size_t i = 0; i < NBUCKETS; i++) {
			cum += lat[vb].counts[i];
			vxpu_strbuf_printf(&b, "%s_bucket{le=\"%g\",verb=\"%s\"} %llu\n", h,
			                   buckets[i], verb_names[vb], (unsigned long long)cum);
		}
		vxpu_strbuf_printf(&b, "%s_bucket{le=\"+Inf\",verb=\"%s\"} %llu\n", h,
		                   verb_names[vb], (unsigned long long)lat[vb].count);
		vxpu_strbuf_printf(&b, "%s_sum{verb=\"%s\"} %.9g\n", h, verb_names[vb],
		                   lat[vb].sum);
		vxpu_strbuf_printf(&b, "%s_count{verb=\"%s\"} %llu\n", h, verb_names[vb],
		                   (unsigned long long)lat[vb].count);
	}
	size_t n = b.len;
	char *all = vxpu_strbuf_take(&b);
	if (len)
		*len = all ? n : 0;
	return all;
}

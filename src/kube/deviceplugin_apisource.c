/*
 * deviceplugin_apisource.c - Allocate's lease and annotation from the API
 * server (see deviceplugin_apisource.h). Nothing is cached but the
 * matcher's answers: the lease and the pod are read on every request, so
 * the API server stays the authority and a retried request sees the pod as
 * it is now.
 */
#include "kube/deviceplugin_apisource.h"

#include "common/log.h"
#include "core/extender_kube.h"
#include "kube/deviceplugin_match.h"
#include "kube/scheduler.h"
#include "core/fail.h"

#include <cjson/cJSON.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct refusal {
	char key[VXPU_DP_REQUEST_KEY_MAX];
	char message[512];
};

/* A pod done with the lease, waiting for the finisher thread. */
struct finish_job {
	cJSON *lease; /* as read with the request (its resourceVersion), or NULL */
	char uid[VXPU_DP_UID_MAX];
	char pod[VXPU_DP_POD_KEY_MAX];
	const char *phase;
};

#define FINISH_QUEUE 64

struct vxpu_dp_apisource {
	pthread_mutex_t lock;
	/* the finisher: Lease and bind-phase writes, off kubelet's call */
	pthread_mutex_t finish_lock;
	pthread_cond_t finish_wake, finish_idle;
	struct finish_job jobs[FINISH_QUEUE];
	unsigned njobs, job_head;
	bool finishing, stopping;
	pthread_t finisher;
	struct vxpu_kube_client *client;
	char node[VXPU_NODE_NAME_MAX];
	char lease_ns[64];
	char lease_name[260];
	char lease_label[330]; /* namespace/name */
	char lease_path[1024];
	vxpu_dp_pod_cache_fn cache;
	void *cache_ctx;
	struct vxpu_dp_matcher matcher;
	struct refusal last_refusal; /* a retry of a refused request gets the same words */
	struct vxpu_dp_apisource_stats stats;
};

static void *finisher_main(void *arg);

int vxpu_dp_apisource_new(struct vxpu_dp_apisource **out, struct vxpu_kube_client *client,
                          const char *node, const char *lease_namespace, char *err, size_t errlen)
{
	struct vxpu_dp_apisource *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	const char *ns = lease_namespace && lease_namespace[0] ? lease_namespace
	                                                       : vxpu_kube_client_namespace(client);
	char ens[3 * 64], ename[3 * 260];
	if (!node[0] || strlen(node) >= sizeof(s->node) || strlen(ns) >= sizeof(s->lease_ns)) {
		free(s);
		snprintf(err, errlen, "invalid node \"%.80s\" or lease namespace \"%.80s\"", node,
		         ns);
		return -1;
	}
	snprintf(s->node, sizeof(s->node), "%s", node);
	snprintf(s->lease_ns, sizeof(s->lease_ns), "%s", ns);
	vxpu_scheduler_lease_name(node, s->lease_name, sizeof(s->lease_name));
	snprintf(s->lease_label, sizeof(s->lease_label), "%s/%s", s->lease_ns, s->lease_name);
	if (vxpu_kube_escape(s->lease_ns, ens, sizeof(ens)) < 0 ||
	    vxpu_kube_escape(s->lease_name, ename, sizeof(ename)) < 0) {
		free(s);
		snprintf(err, errlen, "lease name too long");
		return -1;
	}
	snprintf(s->lease_path, sizeof(s->lease_path),
	         "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", ens, ename);
	s->client = client;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->finish_lock, NULL);
	pthread_cond_init(&s->finish_wake, NULL);
	pthread_cond_init(&s->finish_idle, NULL);
	vxpu_dp_matcher_init(&s->matcher);
	if (pthread_create(&s->finisher, NULL, finisher_main, s) != 0) {
		snprintf(err, errlen, "cannot start the lease release thread");
		pthread_cond_destroy(&s->finish_idle);
		pthread_cond_destroy(&s->finish_wake);
		pthread_mutex_destroy(&s->finish_lock);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return -1;
	}
	*out = s;
	return 0;
}

void vxpu_dp_apisource_free(struct vxpu_dp_apisource *s)
{
	if (!s)
		return;
	/* Pending releases are written before the agent exits. */
	pthread_mutex_lock(&s->finish_lock);
	s->stopping = true;
	pthread_cond_signal(&s->finish_wake);
	pthread_mutex_unlock(&s->finish_lock);
	pthread_join(s->finisher, NULL);
	pthread_cond_destroy(&s->finish_idle);
	pthread_cond_destroy(&s->finish_wake);
	pthread_mutex_destroy(&s->finish_lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void vxpu_dp_apisource_set_cache(struct vxpu_dp_apisource *s, vxpu_dp_pod_cache_fn fn, void *ctx)
{
	pthread_mutex_lock(&s->lock);
	s->cache = fn;
	s->cache_ctx = ctx;
	pthread_mutex_unlock(&s->lock);
}

int vxpu_dp_apisource_uid_of(struct vxpu_dp_apisource *s, const char *pod, char *uid, size_t cap)
{
	int rc = -1;
	pthread_mutex_lock(&s->lock);
	const struct vxpu_dp_matcher *m = &s->matcher;
	for (unsigned back = 1; back <= m->nremembered && rc != 0; back++) {
		const struct vxpu_dp_remembered *r =
		        &m->remembered[(m->next_slot + VXPU_DP_REMEMBERED - back) %
		                       VXPU_DP_REMEMBERED];
		if (strcmp(r->pod, pod) == 0) {
			snprintf(uid, cap, "%s", r->uid);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

const char *vxpu_dp_apisource_lease(const struct vxpu_dp_apisource *s)
{
	return s->lease_label;
}

void vxpu_dp_apisource_stats(struct vxpu_dp_apisource *s, struct vxpu_dp_apisource_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->stats;
	pthread_mutex_unlock(&s->lock);
}

static const char *json_str(const cJSON *obj, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *annotation(const cJSON *obj, const char *key)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	return json_str(meta, "annotations", key);
}

/* /api/v1/namespaces/NS/pods/NAME for "NS/NAME"; -1 when it is not that. */
static int pod_path(const char *pod, char *path, size_t cap)
{
	const char *slash = strchr(pod, '/');
	if (!slash || slash == pod || !slash[1] || strchr(slash + 1, '/'))
		return -1;
	char ns[VXPU_NAMESPACE_MAX], ens[3 * VXPU_NAMESPACE_MAX], ename[3 * VXPU_POD_NAME_MAX];
	if ((size_t)(slash - pod) >= sizeof(ns))
		return -1;
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - pod), pod);
	if (vxpu_kube_escape(ns, ens, sizeof(ens)) < 0 ||
	    vxpu_kube_escape(slash + 1, ename, sizeof(ename)) < 0)
		return -1;
	int n = snprintf(path, cap, "/api/v1/namespaces/%s/pods/%s", ens, ename);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Decodes pod's allocation text and checks it is this pod's and this node's. */
static int decode_for(struct vxpu_dp_apisource *s, const char *pod, const char *text,
                      struct vxpu_pod_allocation *alloc, char *err, size_t errlen)
{
	char why[512];
	if (!text)
		return vxpu_fail(err, errlen, "pod %s has no %s annotation", pod,
		                 VXPU_ANNOTATION_ALLOCATION);
	if (vxpu_allocation_decode(text, alloc, why, sizeof(why)) != 0)
		return vxpu_fail(err, errlen, "pod %s: allocation annotation: %s", pod, why);
	char named[VXPU_DP_POD_KEY_MAX];
	snprintf(named, sizeof(named), "%s/%s", alloc->ns, alloc->pod);
	if (strcmp(named, pod) != 0)
		return vxpu_fail(err, errlen, "pod %s: allocation annotation is for pod %s", pod,
		                 named);
	if (strcmp(alloc->node, s->node) != 0)
		return vxpu_fail(
		        err, errlen,
		        "pod %s: allocation annotation is for node \"%s\", this is node \"%s\"",
		        pod, alloc->node, s->node);
	return 0;
}

/*
 * Reads pod "ns/name" (from the pod cache when it has that uid, else the
 * API server) and decodes its allocation. 0; -1 with err when the API
 * server cannot be read (*fatal false) or the pod's allocation cannot be
 * used for it (*fatal true).
 */
static int load_pod(struct vxpu_dp_apisource *s, const char *pod, const char *uid,
                    struct vxpu_pod_allocation *alloc, bool *fatal, char *err, size_t errlen)
{
	char path[1024], why[512];
	*fatal = false;
	if (pod_path(pod, path, sizeof(path)) != 0)
		return vxpu_fail(err, errlen, "lease %s names pod \"%.300s\", not NAMESPACE/NAME",
		                 s->lease_label, pod);
	if (s->cache) {
		const char *slash = strchr(pod, '/');
		char ns[VXPU_NAMESPACE_MAX];
		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - pod), pod);
		char *text = s->cache(s->cache_ctx, ns, slash + 1, uid);
		if (text) {
			s->stats.cache_hits++;
			*fatal = true;
			int rc = decode_for(s, pod, text, alloc, err, errlen);
			free(text);
			return rc;
		}
	}
	cJSON *doc = NULL;
	long status = 0;
	if (vxpu_kube_call_json(s->client, "GET", path, NULL, NULL, &doc, &status, why,
	                        sizeof(why)) < 0) {
		if (status == 404)
			return vxpu_fail(err, errlen,
			                 "pod %s, the holder of lease %s, does not exist", pod,
			                 s->lease_label);
		return vxpu_fail(err, errlen, "cannot read pod %s: %s", pod, why);
	}
	const char *have_uid = json_str(doc, "metadata", "uid");
	int rc;
	if (!have_uid || strcmp(have_uid, uid) != 0) {
		/* The lease names a pod that was replaced: not this pod's to fail. */
		rc = vxpu_fail(err, errlen, "pod %s has uid %s, but lease %s is held by uid %s",
		               pod, have_uid ? have_uid : "(none)", s->lease_label, uid);
	} else {
		*fatal = true;
		rc = decode_for(s, pod, annotation(doc, VXPU_ANNOTATION_ALLOCATION), alloc, err,
		                errlen);
	}
	cJSON_Delete(doc);
	return rc;
}

/*
 * The lease: 1 with *doc, holder uid and pod when a pod holds it, 0 when it
 * is free or absent, -1 when it cannot be read.
 */
static int read_lease(struct vxpu_dp_apisource *s, cJSON **doc, const char **uid, const char **pod,
                      char *err, size_t errlen)
{
	char why[512];
	long status = 0;
	*doc = NULL;
	if (vxpu_kube_call_json(s->client, "GET", s->lease_path, NULL, NULL, doc, &status, why,
	                        sizeof(why)) < 0) {
		if (status == 404)
			return 0;
		return vxpu_fail(err, errlen, "cannot read the allocation lease %s: %s",
		                 s->lease_label, why);
	}
	*uid = json_str(*doc, "spec", "holderIdentity");
	*pod = annotation(*doc, VXPU_ANNOTATION_LEASE_POD);
	if (!*uid || !(*uid)[0])
		return 0;
	return 1;
}

/*
 * Releases the lease if it still names uid: PUT holderIdentity "" with the
 * resourceVersion read; on 409 (it changed meanwhile) reads it again.
 * lease is consumed.
 */
static int release_lease(struct vxpu_dp_apisource *s, cJSON *lease, const char *uid, char *err,
                         size_t errlen)
{
	for (int attempt = 0; attempt < 4; attempt++) {
		if (!lease) {
			const char *holder = NULL, *pod = NULL;
			int held = read_lease(s, &lease, &holder, &pod, err, errlen);
			if (held < 0)
				return -1;
			if (held == 0 || !holder || strcmp(holder, uid) != 0) {
				cJSON_Delete(lease);
				return 0; /* released already, or another pod's now */
			}
		}
		cJSON *spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
		cJSON_ReplaceItemInObjectCaseSensitive(spec, "holderIdentity",
		                                       cJSON_CreateString(""));
		char *body = cJSON_PrintUnformatted(lease);
		cJSON_Delete(lease);
		lease = NULL;
		if (!body)
			return vxpu_fail(err, errlen, "out of memory");
		long status = 0;
		char why[512];
		int rc = vxpu_kube_call_json(s->client, "PUT", s->lease_path, "application/json",
		                             body, NULL, &status, why, sizeof(why));
		cJSON_free(body);
		if (rc >= 0)
			return 0;
		if (status != 409)
			return vxpu_fail(err, errlen, "cannot release lease %s: %s", s->lease_label,
			                 why);
	}
	return vxpu_fail(err, errlen, "cannot release lease %s: it kept changing", s->lease_label);
}

/* Merge-patches the pod's bind phase, with its uid as precondition. */
static int set_phase(struct vxpu_dp_apisource *s, const char *pod, const char *uid,
                     const char *phase, char *err, size_t errlen)
{
	char path[1024], why[512];
	if (pod_path(pod, path, sizeof(path)) != 0)
		return vxpu_fail(err, errlen, "invalid pod \"%s\"", pod);
	cJSON *patch = cJSON_CreateObject();
	cJSON *meta = cJSON_AddObjectToObject(patch, "metadata");
	cJSON_AddStringToObject(meta, "uid", uid);
	cJSON *ann = cJSON_AddObjectToObject(meta, "annotations");
	cJSON_AddStringToObject(ann, VXPU_ANNOTATION_BIND_PHASE, phase);
	char *body = cJSON_PrintUnformatted(patch);
	cJSON_Delete(patch);
	if (!body)
		return vxpu_fail(err, errlen, "out of memory");
	long status = 0;
	int rc = vxpu_kube_call_json(s->client, "PATCH", path, VXPU_KUBE_MERGE_PATCH, body, NULL,
	                             &status, why, sizeof(why));
	cJSON_free(body);
	if (rc < 0)
		return vxpu_fail(err, errlen, "cannot set the bind phase of pod %s: %s", pod, why);
	return 0;
}

/* The pod is done with the lease: released, and its bind phase written. */
static void finish_now(struct vxpu_dp_apisource *s, struct finish_job *j)
{
	char err[600];
	if (release_lease(s, j->lease, j->uid, err, sizeof(err)) != 0 ||
	    set_phase(s, j->pod, j->uid, j->phase, err, sizeof(err)) != 0) {
		pthread_mutex_lock(&s->lock);
		s->stats.release_failed++;
		pthread_mutex_unlock(&s->lock);
		vxpu_log(VXPU_LOG_WARN, "allocation not marked consumed", "pod", j->pod, "error",
		         err, (char *)NULL);
	}
	j->lease = NULL;
}

static void *finisher_main(void *arg)
{
	struct vxpu_dp_apisource *s = arg;
	pthread_mutex_lock(&s->finish_lock);
	for (;;) {
		while (s->njobs == 0 && !s->stopping)
			pthread_cond_wait(&s->finish_wake, &s->finish_lock);
		if (s->njobs == 0)
			break;
		struct finish_job j = s->jobs[s->job_head];
		s->job_head = (s->job_head + 1) % FINISH_QUEUE;
		s->njobs--;
		s->finishing = true;
		pthread_mutex_unlock(&s->finish_lock);
		finish_now(s, &j);
		pthread_mutex_lock(&s->finish_lock);
		s->finishing = false;
		if (s->njobs == 0)
			pthread_cond_broadcast(&s->finish_idle);
	}
	pthread_mutex_unlock(&s->finish_lock);
	return NULL;
}

/*
 * Hands the pod to the finisher, so kubelet gets its answer without
 * waiting for two more API calls; the writes follow within milliseconds,
 * in order. A full queue (an API server far behind) writes inline.
 */
static void finish_pod(struct vxpu_dp_apisource *s, cJSON *lease, const char *uid, const char *pod,
                       const char *phase)
{
	struct finish_job j = {.lease = lease, .phase = phase};
	snprintf(j.uid, sizeof(j.uid), "%s", uid);
	snprintf(j.pod, sizeof(j.pod), "%s", pod);
	pthread_mutex_lock(&s->finish_lock);
	if (s->njobs < FINISH_QUEUE) {
		s->jobs[(s->job_head + s->njobs) % FINISH_QUEUE] = j;
		s->njobs++;
		pthread_cond_signal(&s->finish_wake);
		pthread_mutex_unlock(&s->finish_lock);
		return;
	}
	pthread_mutex_unlock(&s->finish_lock);
	pthread_mutex_unlock(&s->lock); /* called from a lookup, which holds it */
	finish_now(s, &j);
	pthread_mutex_lock(&s->lock);
}

void vxpu_dp_apisource_flush(struct vxpu_dp_apisource *s)
{
	pthread_mutex_lock(&s->finish_lock);
	while (s->njobs > 0 || s->finishing)
		pthread_cond_wait(&s->finish_idle, &s->finish_lock);
	pthread_mutex_unlock(&s->finish_lock);
}

static int refuse(struct vxpu_dp_apisource *s, const char *key, char *err, size_t errlen)
{
	s->stats.refused++;
	snprintf(s->last_refusal.key, sizeof(s->last_refusal.key), "%s", key);
	snprintf(s->last_refusal.message, sizeof(s->last_refusal.message), "%s", err);
	(void)errlen;
	return -1;
}

static int lookup_locked(struct vxpu_dp_apisource *s, const struct vxpu_dp_apisource_view *v,
                         const char *const *ids, size_t n, struct vxpu_pod_allocation *alloc,
                         unsigned *container, char *err, size_t errlen)
{
	char key[VXPU_DP_REQUEST_KEY_MAX];
	if (vxpu_dp_request_key(ids, n, key, sizeof(key), err, errlen) != 0)
		return -1;
	cJSON *lease = NULL;
	const char *uid = NULL, *pod = NULL;
	int held = read_lease(s, &lease, &uid, &pod, err, errlen);
	if (held < 0)
		return -1;
	bool fatal;
	const struct vxpu_dp_remembered *r =
	        vxpu_dp_matcher_retry(&s->matcher, key, held ? uid : NULL);
	if (r) { /* a retry: the same container of the same pod */
		cJSON_Delete(lease);
		if (load_pod(s, r->pod, r->uid, alloc, &fatal, err, errlen) != 0)
			return -1;
		*container = r->container;
		s->stats.answered++;
		return 0;
	}
	if (held == 0) {
		cJSON_Delete(lease);
		if (s->last_refusal.key[0] && strcmp(s->last_refusal.key, key) == 0)
			return vxpu_fail(err, errlen, "%s", s->last_refusal.message);
		return vxpu_fail(err, errlen, "no pod holds this node's allocation lease %s",
		                 s->lease_label);
	}
	char holder_uid[VXPU_DP_UID_MAX], holder_pod[VXPU_DP_POD_KEY_MAX];
	if (!pod || strlen(uid) >= sizeof(holder_uid) || strlen(pod) >= sizeof(holder_pod)) {
		vxpu_fail(err, errlen, "lease %s is held by uid %.80s but names no pod (%s)",
		          s->lease_label, uid, VXPU_ANNOTATION_LEASE_POD);
		cJSON_Delete(lease);
		return -1;
	}
	snprintf(holder_uid, sizeof(holder_uid), "%s", uid);
	snprintf(holder_pod, sizeof(holder_pod), "%s", pod);
	if (load_pod(s, holder_pod, holder_uid, alloc, &fatal, err, errlen) != 0) {
		if (fatal) { /* kubelet rejects this pod: free the node for the next */
			finish_pod(s, lease, holder_uid, holder_pod, "failed");
			return refuse(s, key, err, errlen);
		}
		cJSON_Delete(lease);
		return -1;
	}
	bool consumed = false;
	if (vxpu_dp_matcher_pick(&s->matcher, holder_uid, holder_pod, alloc, key, n,
	                         v->ncards ? v->cards : NULL, v->ncards, container, &consumed, err,
	                         errlen) != 0) {
		finish_pod(s, lease, holder_uid, holder_pod, "failed");
		return refuse(s, key, err, errlen);
	}
	s->stats.answered++;
	if (consumed) {
		s->stats.consumed++;
		finish_pod(s, lease, holder_uid, holder_pod, "success");
	} else {
		cJSON_Delete(lease);
	}
	return 0;
}

int vxpu_dp_apisource_lookup(void *ctx, const char *const *device_ids, size_t n,
                             struct vxpu_pod_allocation *alloc, unsigned *container, char *err,
                             size_t errlen)
{
	const struct vxpu_dp_apisource_view *v = ctx;
	struct vxpu_dp_apisource *s = v->source;
	pthread_mutex_lock(&s->lock);
	int rc = lookup_locked(s, v, device_ids, n, alloc, container, err, errlen);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

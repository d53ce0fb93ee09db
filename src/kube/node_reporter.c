/*
 * node_reporter.c - the node registration annotation and device Events
 * (see node_reporter.h).
 *
 * Invariants: the writer thread is the only one that talks to the API
 * server for writes; the watcher thread only reads pods. The pod table is
 * the watch's view (replaced on every relist), guarded by the lock; an
 * Event is built from a copy taken under the lock, then posted unlocked.
 * Health flips are queued in order (at most EVENT_QUEUE pending; beyond
 * that the oldest are dropped and counted as failed).
 */
#include "kube/node_reporter.h"

#include "common/log.h"
#include "core/annotation.h"
#include "common/clock.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVENT_QUEUE 64
#define REASON_MAX 128

struct flip {
	unsigned device;
	bool healthy;
	char reason[REASON_MAX];
};

struct pod_note {
	char ns[VXPU_NAMESPACE_MAX];
	char name[VXPU_POD_NAME_MAX];
	bool warning;
	char reason[64];
	char message[1024];
};

struct pod_entry {
	char ns[VXPU_NAMESPACE_MAX];
	char name[VXPU_POD_NAME_MAX];
	char uid[64];
	char *devices;    /* "\n<id>\n<id>\n" (heap) */
	char *allocation; /* the annotation's text (heap) */
	bool seen;        /* in the relist under way */
};

struct vxpu_node_reporter {
	struct vxpu_node_reporter_options opt;
	char component[64];
	char node_path[1024];
	struct vxpu_node node;

	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool dirty; /* the registration needs writing */
	bool healthy[VXPU_NODE_MAX_DEVICES];
	unsigned nflips, flip_head;
	struct flip flips[EVENT_QUEUE];
	unsigned nnotes, note_head;
	struct pod_note notes[EVENT_QUEUE];
	size_t npods, pod_cap;
	struct pod_entry *pods;
	struct vxpu_node_reporter_stats stats;

	atomic_bool stop;
	pthread_t writer, watcher;
	bool writer_started, watcher_started;
	struct vxpu_pod_allocation alloc; /* the watcher's decode buffer */
};

/* ---- the pod table (watcher thread writes, writer thread reads) ------------ */

struct pod_ref {
	char ns[VXPU_NAMESPACE_MAX];
	char name[VXPU_POD_NAME_MAX];
	char uid[64];
};

static const char *json_str(const cJSON *obj, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static struct pod_entry *pod_find(struct vxpu_node_reporter *r, const char *ns, const char *name)
{
	for (size_t i = 0; i < r->npods; i++)
		if (strcmp(r->pods[i].ns, ns) == 0 && strcmp(r->pods[i].name, name) == 0)
			return &r->pods[i];
	return NULL;
}

static void pod_remove(struct vxpu_node_reporter *r, struct pod_entry *p)
{
	free(p->devices);
	free(p->allocation);
	*p = r->pods[--r->npods];
}

/* The device IDs of an allocation, "\n"-framed; NULL when it has none. */
static char *device_list(const struct vxpu_pod_allocation *a)
{
	size_t cap = 2 + (size_t)a->ndevices * (VXPU_DEVICE_ID_MAX + 1);
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t len = 0;
	out[len++] = '\n';
	out[len] = '\0';
	for (uint32_t i = 0; i < a->ndevices; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s\n", a->devices[i].id);
	return out;
}

static void watch_event(void *ctx, const char *type, const cJSON *obj)
{
	struct vxpu_node_reporter *r = ctx;
	const char *ns = json_str(obj, "metadata", "namespace");
	const char *name = json_str(obj, "metadata", "name");
	const char *uid = json_str(obj, "metadata", "uid");
	if (!ns || !name || !uid || strlen(ns) >= VXPU_NAMESPACE_MAX ||
	    strlen(name) >= VXPU_POD_NAME_MAX || strlen(uid) >= 64)
		return;
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *text = json_str(meta, "annotations", VXPU_ANNOTATION_ALLOCATION);
	const char *phase = json_str(obj, "status", "phase");
	bool live = strcmp(type, "DELETED") != 0 && text &&
	            !(phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")));
	char *devices = NULL, *copy = NULL;
	char why[256];
	if (live && vxpu_allocation_decode(text, &r->alloc, why, sizeof(why)) == 0) {
		devices = device_list(&r->alloc);
		copy = strdup(text);
		if (!devices || !copy) { /* out of memory: as if it had none */
			free(devices);
			free(copy);
			devices = copy = NULL;
		}
	}
	pthread_mutex_lock(&r->lock);
	struct pod_entry *p = pod_find(r, ns, name);
	char gone_uid[64] = "";
	if (!devices) {
		if (p) {
			snprintf(gone_uid, sizeof(gone_uid), "%s", p->uid);
			pod_remove(r, p);
		}
	} else {
		if (!p && r->npods == r->pod_cap) {
			size_t cap = r->pod_cap ? r->pod_cap * 2 : 64;
			struct pod_entry *grown = realloc(r->pods, cap * sizeof(*grown));
			if (!grown) {
				pthread_mutex_unlock(&r->lock);
				free(devices);
				free(copy);
				return;
			}
			r->pods = grown;
			r->pod_cap = cap;
		}
		if (!p) {
			p = &r->pods[r->npods++];
			memset(p, 0, sizeof(*p));
			snprintf(p->ns, sizeof(p->ns), "%s", ns);
			snprintf(p->name, sizeof(p->name), "%s", name);
		}
		free(p->devices);
		free(p->allocation);
		p->devices = devices;
		p->allocation = copy;
		snprintf(p->uid, sizeof(p->uid), "%s", uid);
		p->seen = true;
	}
	r->stats.pods = (unsigned)r->npods;
	pthread_mutex_unlock(&r->lock);
	if (gone_uid[0] && r->opt.on_pod_gone)
		r->opt.on_pod_gone(r->opt.ctx, ns, name, gone_uid);
}

static void relist_begin(void *ctx, bool first)
{
	struct vxpu_node_reporter *r = ctx;
	(void)first;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->npods; i++)
		r->pods[i].seen = false;
	pthread_mutex_unlock(&r->lock);
}

static void relist_end(void *ctx, const char *resource_version)
{
	struct vxpu_node_reporter *r = ctx;
	(void)resource_version;
	struct pod_ref *gone = NULL;
	size_t ngone = 0;
	pthread_mutex_lock(&r->lock);
	for (size_t i = r->npods; i-- > 0;) {
		if (r->pods[i].seen)
			continue;
		struct pod_ref *grown = realloc(gone, (ngone + 1) * sizeof(*gone));
		if (grown) {
			gone = grown;
			memcpy(gone[ngone].ns, r->pods[i].ns, sizeof(gone[ngone].ns));
			memcpy(gone[ngone].name, r->pods[i].name, sizeof(gone[ngone].name));
			memcpy(gone[ngone].uid, r->pods[i].uid, sizeof(gone[ngone].uid));
			ngone++;
		}
		pod_remove(r, &r->pods[i]);
	}
	r->stats.pods = (unsigned)r->npods;
	r->stats.pods_synced = true;
	pthread_mutex_unlock(&r->lock);
	for (size_t i = 0; i < ngone && r->opt.on_pod_gone; i++)
		r->opt.on_pod_gone(r->opt.ctx, gone[i].ns, gone[i].name, gone[i].uid);
	free(gone);
}

static void *watcher_main(void *arg)
{
	struct vxpu_node_reporter *r = arg;
	char raw[VXPU_NODE_NAME_MAX + 32], esc[3 * sizeof(raw)], sel[sizeof(esc) + 16];
	snprintf(raw, sizeof(raw), "spec.nodeName=%s", r->node.name);
	if (vxpu_kube_escape(raw, esc, sizeof(esc)) < 0)
		return NULL;
	snprintf(sel, sizeof(sel), "fieldSelector=%s", esc);
	const struct vxpu_kube_watcher w = {.relist_begin = relist_begin,
	                                    .event = watch_event,
	                                    .relist_end = relist_end,
	                                    .ctx = r};
	vxpu_kube_reflect(r->opt.client, "/api/v1/pods", sel, &w, &r->stop);
	return NULL;
}

/* ---- the writer ------------------------------------------------------------- */

static int write_registration(struct vxpu_node_reporter *r)
{
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < r->node.ndevices; i++)
		r->node.devices[i].healthy = r->healthy[i];
	r->dirty = false;
	pthread_mutex_unlock(&r->lock);
	char *json = vxpu_node_registration_encode(&r->node, vxpu_wall_ms());
	if (!json)
		return -1;
	cJSON *patch = cJSON_CreateObject();
	cJSON *ann =
	        cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch, "metadata"), "annotations");
	cJSON_AddStringToObject(ann, VXPU_ANNOTATION_NODE, json);
	vxpu_annotation_free(json);
	char *body = cJSON_PrintUnformatted(patch);
	cJSON_Delete(patch);
	if (!body)
		return -1;
	char err[512];
	long status = 0;
	int rc = vxpu_kube_call_json(r->opt.client, "PATCH", r->node_path, VXPU_KUBE_MERGE_PATCH,
	                             body, NULL, &status, err, sizeof(err));
	cJSON_free(body);
	pthread_mutex_lock(&r->lock);
	if (rc < 0) {
		r->stats.registration_failures++;
		r->dirty = true; /* again at the next wake, a second at most */
	} else {
		r->stats.registrations++;
	}
	pthread_mutex_unlock(&r->lock);
	if (rc < 0)
		vxpu_log(VXPU_LOG_WARN, "node registration not written", "node", r->node.name,
		         "error", err, (char *)NULL);
	return rc < 0 ? -1 : 0;
}

static int post_event(struct vxpu_node_reporter *r, const struct pod_ref *p, bool warning,
                      const char *reason, const char *message)
{
	char err[512];
	const struct vxpu_kube_event ev = {
	        .ns = p->ns,
	        .name = p->name,
	        .uid = p->uid,
	        .warning = warning,
	        .reason = reason,
	        .message = message,
	        .component = r->component,
	        .host = r->node.name,
	        .instance = r->node.name,
	};
	if (vxpu_kube_post_event(r->opt.client, &ev, err, sizeof(err)) < 0) {
		vxpu_log(VXPU_LOG_WARN, "event not posted", "pod", p->name, "error", err,
		         (char *)NULL);
		return -1;
	}
	return 0;
}

/* Events for every live pod with an allocation on the flipped device. */
static void post_flip(struct vxpu_node_reporter *r, const struct flip *f)
{
	if (f->device >= r->node.ndevices)
		return;
	const struct vxpu_device *d = &r->node.devices[f->device];
	char needle[VXPU_DEVICE_ID_MAX + 2];
	snprintf(needle, sizeof(needle), "\n%s\n", d->id);
	pthread_mutex_lock(&r->lock);
	size_t n = 0;
	struct pod_ref *refs = calloc(r->npods ? r->npods : 1, sizeof(*refs));
	for (size_t i = 0; refs && i < r->npods; i++)
		if (strstr(r->pods[i].devices, needle)) {
			snprintf(refs[n].ns, sizeof(refs[n].ns), "%s", r->pods[i].ns);
			snprintf(refs[n].name, sizeof(refs[n].name), "%s", r->pods[i].name);
			snprintf(refs[n].uid, sizeof(refs[n].uid), "%s", r->pods[i].uid);
			n++;
		}
	pthread_mutex_unlock(&r->lock);
	char message[1024];
	if (f->healthy)
		snprintf(message, sizeof(message),
		         "device %s (index %u) on node %s is healthy again", d->id, d->index,
		         r->node.name);
	else
		snprintf(message, sizeof(message),
		         "device %s (index %u) on node %s is unhealthy: %s; this pod's "
		         "allocation uses it",
		         d->id, d->index, r->node.name, f->reason);
	for (size_t i = 0; i < n; i++) {
		int rc = post_event(r, &refs[i], !f->healthy,
		                    f->healthy ? "DeviceRecovered" : "DeviceUnhealthy", message);
		pthread_mutex_lock(&r->lock);
		if (rc == 0)
			r->stats.events_posted++;
		else
			r->stats.events_failed++;
		pthread_mutex_unlock(&r->lock);
	}
	free(refs);
}

/* An Event another part of the agent asked for. */
static void post_note(struct vxpu_node_reporter *r, const struct pod_note *n)
{
	struct pod_ref ref;
	memcpy(ref.ns, n->ns, sizeof(ref.ns)); /* same sizes, both terminated */
	memcpy(ref.name, n->name, sizeof(ref.name));
	pthread_mutex_lock(&r->lock);
	struct pod_entry *p = pod_find(r, n->ns, n->name);
	snprintf(ref.uid, sizeof(ref.uid), "%s", p ? p->uid : "");
	pthread_mutex_unlock(&r->lock);
	int rc = post_event(r, &ref, n->warning, n->reason, n->message);
	pthread_mutex_lock(&r->lock);
	if (rc == 0)
		r->stats.events_posted++;
	else
		r->stats.events_failed++;
	pthread_mutex_unlock(&r->lock);
}

static void *writer_main(void *arg)
{
	struct vxpu_node_reporter *r = arg;
	struct timespec last;
	clock_gettime(CLOCK_MONOTONIC, &last);
	write_registration(r);
	while (!atomic_load(&r->stop)) {
		pthread_mutex_lock(&r->lock);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1; /* wake each second: stop, heartbeat, failed writes */
		while (!r->dirty && r->nflips == 0 && r->nnotes == 0 && !atomic_load(&r->stop))
			if (pthread_cond_timedwait(&r->wake, &r->lock, &until) == ETIMEDOUT)
				break;
		bool dirty = r->dirty;
		unsigned nflips = r->nflips;
		struct flip flips[EVENT_QUEUE];
		for (unsigned i = 0; i < nflips; i++)
			flips[i] = r->flips[(r->flip_head + i) % EVENT_QUEUE];
		r->flip_head = (r->flip_head + nflips) % EVENT_QUEUE;
		r->nflips = 0;
		unsigned nnotes = r->nnotes;
		static struct pod_note notes[EVENT_QUEUE]; /* the writer's only */
		for (unsigned i = 0; i < nnotes; i++)
			notes[i] = r->notes[(r->note_head + i) % EVENT_QUEUE];
		r->note_head = (r->note_head + nnotes) % EVENT_QUEUE;
		r->nnotes = 0;
		pthread_mutex_unlock(&r->lock);
		if (atomic_load(&r->stop))
			break;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		uint64_t since = (uint64_t)(now.tv_sec - last.tv_sec) * 1000 +
		                 (uint64_t)((now.tv_nsec - last.tv_nsec) / 1000000);
		if (dirty || nflips || since >= r->opt.heartbeat_ms) {
			write_registration(r);
			last = now;
		}
		if (r->opt.events)
			for (unsigned i = 0; i < nflips; i++)
				post_flip(r, &flips[i]);
		for (unsigned i = 0; i < nnotes; i++)
			post_note(r, &notes[i]);
	}
	return NULL;
}

/* ---- the handle ------------------------------------------------------------- */

int vxpu_node_reporter_start(struct vxpu_node_reporter **out,
                             const struct vxpu_node_reporter_options *o,
                             const struct vxpu_node *node, char *err, size_t errlen)
{
	struct vxpu_node_reporter *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->opt = *o;
	if (!r->opt.heartbeat_ms)
		r->opt.heartbeat_ms = 30000;
	snprintf(r->component, sizeof(r->component), "%s",
	         o->component ? o->component : "vxpu-node-agent");
	r->opt.component = r->component;
	memcpy(&r->node, node, sizeof(r->node));
	r->node.allocs = NULL;
	r->node.nallocs = r->node.alloc_cap = 0;
	for (uint32_t i = 0; i < node->ndevices; i++)
		r->healthy[i] = node->devices[i].healthy;
	char ename[3 * VXPU_NODE_NAME_MAX];
	if (vxpu_kube_escape(node->name, ename, sizeof(ename)) < 0) {
		free(r);
		snprintf(err, errlen, "node name too long");
		return -1;
	}
	snprintf(r->node_path, sizeof(r->node_path), "/api/v1/nodes/%s", ename);
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_cond_init(&r->wake, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&r->stop, false);
	if (pthread_create(&r->writer, NULL, writer_main, r) != 0) {
		snprintf(err, errlen, "cannot start the registration thread");
		vxpu_node_reporter_stop(r);
		return -1;
	}
	r->writer_started = true;
	if (o->events) {
		if (pthread_create(&r->watcher, NULL, watcher_main, r) != 0) {
			snprintf(err, errlen, "cannot start the pod watch thread");
			vxpu_node_reporter_stop(r);
			return -1;
		}
		r->watcher_started = true;
	}
	*out = r;
	return 0;
}

void vxpu_node_reporter_health(struct vxpu_node_reporter *r, unsigned i, bool healthy,
                               const char *reason)
{
	if (!r || i >= VXPU_NODE_MAX_DEVICES)
		return;
	pthread_mutex_lock(&r->lock);
	r->healthy[i] = healthy;
	r->dirty = true;
	if (r->nflips == EVENT_QUEUE) { /* drop the oldest */
		r->flip_head = (r->flip_head + 1) % EVENT_QUEUE;
		r->nflips--;
		r->stats.events_failed++;
	}
	struct flip *f = &r->flips[(r->flip_head + r->nflips) % EVENT_QUEUE];
	f->device = i;
	f->healthy = healthy;
	snprintf(f->reason, sizeof(f->reason), "%s", reason ? reason : "");
	r->nflips++;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
}

void vxpu_node_reporter_pod_event(struct vxpu_node_reporter *r, const char *ns, const char *name,
                                  bool warning, const char *reason, const char *message)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	if (r->nnotes == EVENT_QUEUE) { /* drop the oldest */
		r->note_head = (r->note_head + 1) % EVENT_QUEUE;
		r->nnotes--;
		r->stats.events_failed++;
	}
	struct pod_note *n = &r->notes[(r->note_head + r->nnotes) % EVENT_QUEUE];
	snprintf(n->ns, sizeof(n->ns), "%s", ns);
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->warning = warning;
	snprintf(n->reason, sizeof(n->reason), "%s", reason);
	snprintf(n->message, sizeof(n->message), "%s", message);
	r->nnotes++;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
}

char *vxpu_node_reporter_pod_allocation(void *reporter, const char *ns, const char *name,
                                        const char *uid)
{
	struct vxpu_node_reporter *r = reporter;
	if (!r)
		return NULL;
	pthread_mutex_lock(&r->lock);
	struct pod_entry *p = pod_find(r, ns, name);
	char *text = p && strcmp(p->uid, uid) == 0 && p->allocation ? strdup(p->allocation) : NULL;
	pthread_mutex_unlock(&r->lock);
	return text;
}

void vxpu_node_reporter_stats(struct vxpu_node_reporter *r, struct vxpu_node_reporter_stats *out)
{
	pthread_mutex_lock(&r->lock);
	*out = r->stats;
	pthread_mutex_unlock(&r->lock);
}

void vxpu_node_reporter_stop(struct vxpu_node_reporter *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, true);
	pthread_mutex_lock(&r->lock);
	pthread_cond_broadcast(&r->wake);
	pthread_mutex_unlock(&r->lock);
	if (r->writer_started)
		pthread_join(r->writer, NULL);
	if (r->watcher_started)
		pthread_join(r->watcher, NULL);
	for (size_t i = 0; i < r->npods; i++) {
		free(r->pods[i].devices);
		free(r->pods[i].allocation);
	}
	free(r->pods);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/*
 * scheduler_ledger.c - the scheduler's ledger writer (see scheduler_ledger.h
 * for what is recorded and why it is idempotent).
 *
 * Threads: the scheduler's threads only build records and append them to
 * a FIFO under queue_lock; the writer thread alone touches the ledger
 * connection and the set of running allocations (running[], sorted by uid
 * for binary search). Records are written in the order they were queued,
 * so an end queued after its start is never written before it.
 */
#include "kube/scheduler_ledger.h"

#include "common/log.h"
#include "core/annotation.h"
#include "meter/ledger.h"
#include "core/fail.h"
#include "common/clock.h"
#include "core/sorted.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WRITE_ATTEMPTS 8
#define BACKOFF_MAX_MS 30000u

struct device_share {
	char id[VXPU_DEVICE_ID_MAX];
	char model[VXPU_MODEL_NAME_MAX];
	int index;
	int64_t device_mib;
	int64_t mib;
	int percent;
};

enum record_kind { RECORD_START, RECORD_END };

struct record {
	enum record_kind kind;
	char uid[VXPU_UID_MAX];
	int64_t at_ms; /* start or end */
	/* RECORD_START: */
	char node[VXPU_NODE_NAME_MAX];
	char tenant[VXPU_NAMESPACE_MAX];
	char project[VXPU_LEDGER_NAME_MAX + 1];
	char user[VXPU_LEDGER_NAME_MAX + 1];
	char command[VXPU_NAMESPACE_MAX + VXPU_POD_NAME_MAX + 8];
	uint32_t ndevices;
	struct device_share *devices;
	struct record *next;
};

struct running {
	char *uid;
	int64_t start_ms;
};

struct vxpu_sched_ledger {
	struct vxpu_sched_ledger_options opt;
	struct vxpu_ledger *ledger;
	char path[4096];

	pthread_mutex_t queue_lock;
	pthread_cond_t queue_cond;
	struct record *head, *tail;
	bool stop, reconcile_wanted;
	uint64_t started, ended, failed, queued;
	pthread_t thread;
	bool thread_started;

	/* Writer thread only. */
	struct running *running;
	size_t nrunning, caprunning;
};

/* ---- the running set (writer thread) -------------------------------------- */

static int running_cmp(const void *running, size_t i, const void *uid)
{
	return strcmp(((const struct running *)running)[i].uid, uid);
}

static size_t running_search(const struct vxpu_sched_ledger *l, const char *uid, bool *found)
{
	return vxpu_sorted_find(l->running, l->nrunning, uid, running_cmp, found);
}

static void running_add(struct vxpu_sched_ledger *l, const char *uid, int64_t start_ms)
{
	bool found;
	size_t i = running_search(l, uid, &found);
	if (found) {
		if (start_ms > l->running[i].start_ms)
			l->running[i].start_ms = start_ms;
		return;
	}
	if (l->nrunning == l->caprunning) {
		size_t cap = l->caprunning ? l->caprunning * 2 : 256;
		struct running *grown = realloc(l->running, cap * sizeof(*grown));
		if (!grown)
			return; /* only an optimisation: the ledger refuses duplicates */
		l->running = grown;
		l->caprunning = cap;
	}
	char *copy = strdup(uid);
	if (!copy)
		return;
	memmove(l->running + i + 1, l->running + i, (l->nrunning - i) * sizeof(*l->running));
	l->running[i].uid = copy; /* owned by the set until running_remove/clear */
	l->running[i].start_ms = start_ms;
	l->nrunning++;
}

static void running_remove(struct vxpu_sched_ledger *l, const char *uid)
{
	bool found;
	size_t i = running_search(l, uid, &found);
	if (!found)
		return;
	free(l->running[i].uid);
	memmove(l->running + i, l->running + i + 1, (l->nrunning - i - 1) * sizeof(*l->running));
	l->nrunning--;
}

static void running_clear(struct vxpu_sched_ledger *l)
{
	for (size_t i = 0; i < l->nrunning; i++)
		free(l->running[i].uid);
	l->nrunning = 0;
}

static int collect_running(const struct vxpu_ledger_interval *iv, void *ctx)
{
	running_add(ctx, iv->allocation_id, iv->start_ms);
	return 0;
}

static int load_running(struct vxpu_sched_ledger *l, char *err, size_t errlen)
{
	running_clear(l);
	return vxpu_ledger_each_running(l->ledger, collect_running, l, err, errlen);
}

/* ---- writing (writer thread) ---------------------------------------------- */

/* The ledger says a duplicate (allocation, device) with this phrase
 * (ledger.h: "fails ... when the pair already exists"). */
static bool already_recorded(const char *err)
{
	return strstr(err, "is already recorded") != NULL;
}

static int write_start(struct vxpu_sched_ledger *l, const struct record *r, char *err,
                       size_t errlen)
{
	bool found;
	running_search(l, r->uid, &found);
	if (found)
		return 0;
	if (vxpu_ledger_begin(l->ledger, err, errlen) != 0)
		return -1;
	for (uint32_t i = 0; i < r->ndevices; i++) {
		const struct device_share *d = &r->devices[i];
		struct vxpu_ledger_interval iv = {
		        .allocation_id = r->uid,
		        .device_index = d->index,
		        .node = r->node,
		        .device_uuid = d->id,
		        .device_model = d->model,
		        .device_memory_mib = d->device_mib,
		        .memory_mib = d->mib,
		        .compute_percent = d->percent,
		        .tenant = r->tenant,
		        .project = r->project,
		        .user = r->user,
		        .command = r->command,
		        .start_ms = r->at_ms,
		};
		if (vxpu_ledger_interval_start(l->ledger, &iv, err, errlen) != 0) {
			vxpu_ledger_rollback(l->ledger);
			/* Recorded before (by the other replica, or ended already). */
			return already_recorded(err) ? 0 : -1;
		}
	}
	if (vxpu_ledger_commit(l->ledger, err, errlen) != 0)
		return -1;
	running_add(l, r->uid, r->at_ms);
	pthread_mutex_lock(&l->queue_lock);
	l->started++;
	pthread_mutex_unlock(&l->queue_lock);
	return 0;
}

static int write_end(struct vxpu_sched_ledger *l, const char *uid, int64_t end_ms, char *err,
                     size_t errlen)
{
	bool found;
	size_t i = running_search(l, uid, &found);
	if (found && end_ms < l->running[i].start_ms)
		end_ms = l->running[i].start_ms; /* clocks of two replicas disagree */
	int count = 0;
	if (vxpu_ledger_interval_end(l->ledger, uid, end_ms, false, 0, &count, err, errlen) != 0) {
		/* Started by another replica whose clock is ahead: end it at its
		 * start rather than never. */
		if (found || load_running(l, err, errlen) != 0)
			return -1;
		i = running_search(l, uid, &found);
		if (!found || end_ms >= l->running[i].start_ms ||
		    vxpu_ledger_interval_end(l->ledger, uid, l->running[i].start_ms, false, 0,
		                             &count, err, errlen) != 0)
			return -1;
	}
	running_remove(l, uid);
	if (count > 0) {
		pthread_mutex_lock(&l->queue_lock);
		l->ended++;
		pthread_mutex_unlock(&l->queue_lock);
	}
	return 0;
}

struct candidate {
	char *uid;
	int64_t start_ms;
};

/* Ends the running intervals whose pods the model no longer holds. */
static int reconcile(struct vxpu_sched_ledger *l, char *err, size_t errlen)
{
	if (load_running(l, err, errlen) != 0)
		return -1;
	int64_t now = vxpu_wall_ms();
	/* Decide first (the hook takes the scheduler's lock), write after. */
	struct candidate *gone = calloc(l->nrunning + 1, sizeof(*gone));
	if (!gone)
		return vxpu_fail(err, errlen, "out of memory");
	size_t ngone = 0;
	for (size_t i = 0; i < l->nrunning; i++) {
		if (l->running[i].start_ms + (int64_t)l->opt.grace_ms > now)
			continue;
		if (l->opt.hooks.live(l->opt.hooks.ctx, l->running[i].uid))
			continue;
		gone[ngone].uid = strdup(l->running[i].uid);
		gone[ngone].start_ms = l->running[i].start_ms;
		if (gone[ngone].uid)
			ngone++;
	}
	int rc = 0;
	for (size_t i = 0; i < ngone; i++) {
		if (rc == 0) {
			int64_t end = now > gone[i].start_ms ? now : gone[i].start_ms;
			rc = write_end(l, gone[i].uid, end, err, errlen);
			if (rc == 0)
				vxpu_log(VXPU_LOG_INFO,
				         "ledger: ended the interval of a vanished pod", "uid",
				         gone[i].uid, (char *)NULL);
		}
		free(gone[i].uid);
	}
	free(gone);
	return rc;
}

static void record_free(struct record *r)
{
	if (r) {
		free(r->devices);
		free(r);
	}
}

static int write_record(struct vxpu_sched_ledger *l, const struct record *r, char *err,
                        size_t errlen)
{
	return r->kind == RECORD_START ? write_start(l, r, err, errlen)
	                               : write_end(l, r->uid, r->at_ms, err, errlen);
}

/* Waits up to ms on the queue's condition; the caller holds queue_lock. */
static void timed_wait(struct vxpu_sched_ledger *l, unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&l->queue_cond, &l->queue_lock, &ts);
}

/* Runs one write (r), or a reconciliation (r NULL), with retries; false
 * when it was given up. */
static bool with_retries(struct vxpu_sched_ledger *l, const struct record *r)
{
	char err[1024];
	unsigned backoff = 1000;
	for (int attempt = 1;; attempt++) {
		int rc = r ? write_record(l, r, err, sizeof(err)) : reconcile(l, err, sizeof(err));
		if (rc == 0)
			return true;
		pthread_mutex_lock(&l->queue_lock);
		l->failed++;
		bool stopping = l->stop;
		pthread_mutex_unlock(&l->queue_lock);
		char n[16];
		snprintf(n, sizeof(n), "%d", attempt);
		vxpu_log(VXPU_LOG_WARN, "ledger write failed", "ledger", l->path, "attempt", n,
		         "error", err, (char *)NULL);
		if (stopping || attempt == WRITE_ATTEMPTS)
			return false;
		pthread_mutex_lock(&l->queue_lock);
		if (!l->stop)
			timed_wait(l, backoff);
		pthread_mutex_unlock(&l->queue_lock);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
}

static void *writer_main(void *arg)
{
	struct vxpu_sched_ledger *l = arg;
	int64_t next_reconcile = vxpu_wall_ms() + l->opt.reconcile_ms;
	for (;;) {
		pthread_mutex_lock(&l->queue_lock);
		while (!l->head && !l->stop && !l->reconcile_wanted) {
			int64_t left = next_reconcile - vxpu_wall_ms();
			if (left <= 0) {
				l->reconcile_wanted = true;
				break;
			}
			timed_wait(l, (unsigned)left);
		}
		struct record *r = l->head;
		if (r) {
			l->head = r->next;
			if (!l->head)
				l->tail = NULL;
			l->queued--;
		}
		bool want = !r && l->reconcile_wanted;
		bool done = !r && !want && l->stop;
		pthread_mutex_unlock(&l->queue_lock);
		if (done)
			return NULL;
		if (r) {
			if (!with_retries(l, r))
				vxpu_log(VXPU_LOG_ERROR, "ledger record dropped", "uid", r->uid,
				         "kind", r->kind == RECORD_START ? "start" : "end",
				         (char *)NULL);
			record_free(r);
			continue;
		}
		/* Reconcile only over a complete model. */
		if (want && l->opt.hooks.synced(l->opt.hooks.ctx)) {
			pthread_mutex_lock(&l->queue_lock);
			l->reconcile_wanted = false;
			bool stopping = l->stop;
			pthread_mutex_unlock(&l->queue_lock);
			if (!stopping)
				with_retries(l, NULL);
			next_reconcile = vxpu_wall_ms() + l->opt.reconcile_ms;
		} else if (want) {
			pthread_mutex_lock(&l->queue_lock);
			if (l->stop) {
				pthread_mutex_unlock(&l->queue_lock);
				return NULL;
			}
			timed_wait(l, 200);
			pthread_mutex_unlock(&l->queue_lock);
		}
	}
}

/* ---- the scheduler's side ------------------------------------------------- */

int vxpu_sched_ledger_new(const struct vxpu_sched_ledger_options *opt,
                          struct vxpu_sched_ledger **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!opt->path || !opt->path[0] || !opt->hooks.live || !opt->hooks.synced)
		return vxpu_fail(err, errlen, "ledger: no path or hooks");
	struct vxpu_sched_ledger *l = calloc(1, sizeof(*l));
	if (!l)
		return vxpu_fail(err, errlen, "out of memory");
	l->opt = *opt;
	if (!l->opt.grace_ms)
		l->opt.grace_ms = 30000;
	if (!l->opt.reconcile_ms)
		l->opt.reconcile_ms = 60000;
	if (vxpu_ledger_open(opt->path, VXPU_LEDGER_OPEN_CREATE, &l->ledger, err, errlen) !=
	    VXPU_LEDGER_OK) {
		free(l);
		return -1;
	}
	snprintf(l->path, sizeof(l->path), "%s", vxpu_ledger_path(l->ledger));
	if (load_running(l, err, errlen) != 0) {
		vxpu_ledger_close(l->ledger);
		free(l);
		return -1;
	}
	pthread_mutex_init(&l->queue_lock, NULL);
	pthread_cond_init(&l->queue_cond, NULL);
	if (pthread_create(&l->thread, NULL, writer_main, l) != 0) {
		vxpu_sched_ledger_free(l);
		return vxpu_fail(err, errlen, "cannot start the ledger writer");
	}
	l->thread_started = true;
	*out = l;
	return 0;
}

void vxpu_sched_ledger_free(struct vxpu_sched_ledger *l)
{
	if (!l)
		return;
	if (l->thread_started) {
		pthread_mutex_lock(&l->queue_lock);
		l->stop = true;
		pthread_cond_broadcast(&l->queue_cond);
		pthread_mutex_unlock(&l->queue_lock);
		pthread_join(l->thread, NULL);
	}
	for (struct record *r = l->head, *next; r; r = next) {
		next = r->next;
		record_free(r);
	}
	running_clear(l);
	free(l->running);
	vxpu_ledger_close(l->ledger);
	pthread_mutex_destroy(&l->queue_lock);
	pthread_cond_destroy(&l->queue_cond);
	free(l);
}

static void enqueue(struct vxpu_sched_ledger *l, struct record *r)
{
	pthread_mutex_lock(&l->queue_lock);
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
	l->queued++;
	pthread_cond_signal(&l->queue_cond);
	pthread_mutex_unlock(&l->queue_lock);
}

static void name_or(char *out, size_t cap, const char *value, const char *fallback)
{
	snprintf(out, cap, "%s", value && vxpu_ledger_valid_name(value) ? value : fallback);
}

/* The device's whole memory: what the node registered, at least the share. */
static int64_t device_mib(const struct vxpu_ext_model *m, const char *node, const char *id,
                          uint64_t share)
{
	const struct vxpu_ext_node *n = vxpu_ext_model_node(m, node);
	uint64_t mib = share;
	for (uint32_t i = 0; n && i < n->node.ndevices; i++) {
		const struct vxpu_device *d = &n->node.devices[i];
		if (strcmp(d->id, id) != 0)
			continue;
		if (d->memory_mib > mib)
			mib = d->memory_mib;
		if (d->memory_capacity_mib > mib)
			mib = d->memory_capacity_mib; /* oversubscribed shares */
	}
	return (int64_t)mib;
}

/* Ledger text: printable ASCII starting with a letter or digit. */
static void device_text(char *out, size_t cap, const char *value)
{
	bool ok = value[0] &&
	          ((value[0] >= 'a' && value[0] <= 'z') || (value[0] >= 'A' && value[0] <= 'Z') ||
	           (value[0] >= '0' && value[0] <= '9'));
	for (size_t i = 0; ok && value[i]; i++)
		ok = (unsigned char)value[i] >= 0x20 && (unsigned char)value[i] < 0x7f;
	snprintf(out, cap, "%s", ok ? value : "unknown");
}

int vxpu_sched_ledger_started(struct vxpu_sched_ledger *l, const struct vxpu_ext_model *m,
                              const char *uid, const char *annotation, const char *project,
                              const char *user, char *err, size_t errlen)
{
	if (!vxpu_ledger_valid_id(uid))
		return vxpu_fail(err, errlen, "pod uid \"%.64s\" is not a ledger allocation id",
		                 uid);
	struct vxpu_pod_allocation *a = malloc(sizeof(*a));
	struct record *r = calloc(1, sizeof(*r));
	if (r)
		r->devices = calloc(VXPU_POD_MAX_DEVICES, sizeof(*r->devices));
	if (!a || !r || !r->devices) {
		free(a);
		record_free(r);
		return vxpu_fail(err, errlen, "out of memory");
	}
	if (vxpu_allocation_decode(annotation, a, err, errlen) < 0) {
		free(a);
		record_free(r);
		return -1;
	}
	r->kind = RECORD_START;
	snprintf(r->uid, sizeof(r->uid), "%s", uid);
	r->at_ms = a->allocated_ms > 0 ? a->allocated_ms : vxpu_wall_ms();
	snprintf(r->node, sizeof(r->node), "%s", a->node);
	name_or(r->tenant, sizeof(r->tenant), a->ns, "default");
	name_or(r->project, sizeof(r->project), project, VXPU_SCHED_LEDGER_PROJECT_DEFAULT);
	name_or(r->user, sizeof(r->user), user, VXPU_SCHED_LEDGER_USER_DEFAULT);
	snprintf(r->command, sizeof(r->command), "pod %s/%s", a->ns, a->pod);
	/* One row per device: containers sharing a device add up. */
	for (uint32_t i = 0; i < a->ndevices && i < VXPU_POD_MAX_DEVICES; i++) {
		const struct vxpu_alloc_device *d = &a->devices[i];
		struct device_share *s = NULL;
		for (uint32_t k = 0; k < r->ndevices && !s; k++)
			if (strcmp(r->devices[k].id, d->id) == 0)
				s = &r->devices[k];
		if (!s) {
			s = &r->devices[r->ndevices++];
			snprintf(s->id, sizeof(s->id), "%s", d->id);
			device_text(s->model, sizeof(s->model), d->model);
			s->index = (int)d->index;
		}
		s->mib += (int64_t)d->memory_mib;
		s->percent += (int)d->compute_percent;
		if (s->percent > 100)
			s->percent = 100;
	}
	for (uint32_t k = 0; k < r->ndevices; k++) {
		struct device_share *s = &r->devices[k];
		if (s->mib < 1)
			s->mib =
			        1; /* a compute-only share holds no memory; the ledger wants >= 1 */
		s->device_mib = device_mib(m, a->node, s->id, (uint64_t)s->mib);
		char id[VXPU_DEVICE_ID_MAX];
		device_text(id, sizeof(id), s->id);
		snprintf(s->id, sizeof(s->id), "%s", id);
	}
	free(a);
	if (r->ndevices == 0) {
		record_free(r);
		return 0; /* nothing held */
	}
	enqueue(l, r);
	return 0;
}

void vxpu_sched_ledger_ended(struct vxpu_sched_ledger *l, const char *uid, int64_t end_ms)
{
	if (!vxpu_ledger_valid_id(uid))
		return;
	struct record *r = calloc(1, sizeof(*r));
	if (!r)
		return;
	r->kind = RECORD_END;
	snprintf(r->uid, sizeof(r->uid), "%s", uid);
	r->at_ms = end_ms;
	enqueue(l, r);
}

void vxpu_sched_ledger_reconcile(struct vxpu_sched_ledger *l)
{
	pthread_mutex_lock(&l->queue_lock);
	l->reconcile_wanted = true;
	pthread_cond_signal(&l->queue_cond);
	pthread_mutex_unlock(&l->queue_lock);
}

void vxpu_sched_ledger_stats(struct vxpu_sched_ledger *l, struct vxpu_sched_ledger_stats *out)
{
	pthread_mutex_lock(&l->queue_lock);
	out->started = l->started;
	out->ended = l->ended;
	out->failed = l->failed;
	out->queued = l->queued;
	pthread_mutex_unlock(&l->queue_lock);
}

const char *vxpu_sched_ledger_path(const struct vxpu_sched_ledger *l)
{
	return l->path;
}

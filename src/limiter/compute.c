/*
 * compute.c - the compute limiter's process side (contract in compute.h,
 * arithmetic in budget.h).
 *
 * Measuring. Per container device the process keeps, bound to the context
 * it launches in: a ring of timing events, a private non-blocking stream
 * and an anchor event on it whose host time is known (recorded on the
 * empty stream, it completes at once; re-anchored every second so that
 * cuEventElapsedTime's float keeps sub-microsecond precision). After each
 * launch an event is recorded on the launch's stream; when it has
 * completed (cuEventQuery, looked at on later launches) its end in host
 * time is anchor + elapsed(anchor, event), and the launch used the device
 * from the later of its launch and the end of the process's previous work
 * up to that end. That is exact while the container has the device to
 * itself. While other containers' kernels run in between, completion
 * timing also counts the time spent queued behind them; so every 25 ms
 * the process asks the management library for its own busy share of the
 * device over the last window (per-process utilisation, which the driver
 * attributes per process) and replaces the window's event-timed charges by
 * it. Completion timing gives immediacy (bursts are charged within one
 * kernel), the utilisation window gives accuracy under contention.
 *
 * Charging. A launch is charged an estimate (moving average of what its
 * predecessors used) before it goes, so that a burst of launches cannot run
 * ahead of the budget; the measurement replaces the estimate on completion.
 * Until the first measurement a process keeps at most one launch in flight,
 * so throttling starts with the first launch.
 *
 * Conservative mode. When timing events cannot be created or recorded, the
 * process says so in the log and in the region (VXPU_COMPUTE_FLAG_UNMEASURED)
 * and synchronises each launch's stream, charging the host time from launch
 * to completion: never less than the device time used.
 *
 * Priority (devcoord.h). A high container stores its launch time in the
 * device's coordination file at every launch and is never held. A normal or
 * low one, while a high one launched within VXPU_BUDGET_HIGH_WINDOW_NS, runs
 * at the floor share and launches only where its kernel fits before the
 * high container's next expected launch; it sleeps on the file's futex with
 * a deadline at the end of the high container's activity window, so it
 * resumes within that window of the high container going idle.
 *
 * Locking: one mutex per device guards that device's ring and state; the
 * budget wait happens outside it. Nothing here allocates on a launch.
 */
#include "limiter/compute.h"

#include "common/log.h"
#include "limiter/budget.h"
#include "limiter/devcoord.h"

#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RING 32
#define INFLIGHT_HELD 2 /* normal/low containers taking part in priority */
#define HIGH_RECENT_NS (200ULL * 1000000ULL)
#define REBASE_NS (25ULL * 1000000ULL)
#define REBASE_STALE_NS (5ULL * 1000000000ULL)
#define ANCHOR_NS (1000ULL * 1000000ULL)
#define SAMPLES 64

_Atomic uint64_t limiter_compute_generation = UINT64_MAX;
_Atomic int limiter_compute_on;

struct pending {
	CUevent event;
	uint64_t launch_ns;
	int64_t provisional_ns;
	uint32_t percent;
};

/* Ordered by size, so the per-device state has no padding holes. */
struct compute_device {
	pthread_mutex_t lock;
	nvmlProcessUtilizationSample_t samples[SAMPLES];
	struct pending ring[RING];
	CUevent events[RING];
	struct vxpu_devcoord coord;
	CUcontext ctx;
	CUstream aux;
	CUevent anchor;
	nvmlDevice_t nvml;
	uint64_t anchor_ns;
	uint64_t last_end_ns;
	uint64_t estimate_ns;
	/* utilisation windows */
	uint64_t window_mono_ns, window_real_us, window_events_ns;
	uint64_t window_raw_ns; /* the same before scaling */
	uint64_t prev_high_ns;  /* priority: this process's previous high launch */
	int ordinal;
	unsigned head, count;
	uint32_t ratio; /* utilisation / completion timing, in 1/1024, <= 1024 */
	bool bound;
	bool conservative;
	bool measured;
	bool nvml_tried, nvml_ok;
	bool coord_tried;
};

static struct compute_device devices[VXPU_REGION_MAX_DEVICES];
/* Set when a launch on the device went unmeasured (quiet_device). */
static _Atomic int skipped[VXPU_REGION_MAX_DEVICES];
/* Each device's coordination file once open (read without the device lock). */
static _Atomic(struct vxpu_devcoord_header *) coord_headers[VXPU_REGION_MAX_DEVICES];
static pthread_once_t devices_once = PTHREAD_ONCE_INIT;

static void devices_init(void)
{
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
		pthread_mutex_init(&devices[d].lock, NULL);
		devices[d].coord.fd = -1;
		devices[d].coord.entry = -1;
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t real_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- configuration ------------------------------------------------------------------ */

static uint32_t container_priority(void)
{
	if (!limiter.config.device_dir[0])
		return VXPU_PRIORITY_UNSET; /* nobody to coordinate with */
	return atomic_load_explicit(&limiter.region.header->priority, memory_order_relaxed);
}

static uint32_t device_limit(int dev)
{
	uint32_t pct =
	        atomic_load_explicit(&limiter.region.devices[dev].core_limit, memory_order_relaxed);
	return pct >= 100 ? 0 : pct;
}

bool limiter_compute_refresh(uint64_t generation)
{
	static _Atomic int told;
	if (atomic_load_explicit(&limiter.region.header->priority, memory_order_relaxed) !=
	            VXPU_PRIORITY_UNSET &&
	    !limiter.config.device_dir[0] && !atomic_exchange(&told, 1))
		vxpu_log(VXPU_LOG_WARN,
		         "a priority is set but VXPU_DEVICE_DIR is not: there is no coordination "
		         "file to share it through, so it is not applied",
		         "region", limiter.config.region_path, (char *)NULL);
	bool on = container_priority() != VXPU_PRIORITY_UNSET;
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES && !on; d++)
		on = device_limit((int)d) != 0;
	atomic_store_explicit(&limiter_compute_on, on, memory_order_relaxed);
	atomic_store_explicit(&limiter_compute_generation, generation, memory_order_release);
	return on;
}

/* ---- the shared budget ------------------------------------------------------------- */

/* Device time a refund could not give back (below the burst floor), per device. */
static uint64_t credit_ns[VXPU_REGION_MAX_DEVICES];
#define CREDIT_MAX_NS (200ULL * 1000000ULL)

/*
 * Charges the shared budget. A refund that the burst floor cut short is
 * kept as this process's credit and offsets its next charges, so the total
 * charged equals the device time measured. Callers hold the device's lock.
 */
static void budget_charge(int dev, int64_t cost_ns, uint32_t percent)
{
	if (cost_ns > 0 && credit_ns[dev] > 0) {
		uint64_t take =
		        credit_ns[dev] < (uint64_t)cost_ns ? credit_ns[dev] : (uint64_t)cost_ns;
		credit_ns[dev] -= take;
		cost_ns -= (int64_t)take;
	}
	if (cost_ns == 0)
		return;
	struct vxpu_region_compute *c = vxpu_region_compute(&limiter.region, (unsigned)dev);
	uint64_t now = mono_ns();
	uint64_t v = atomic_load(&c->vtime_ns);
	uint64_t next, left;
	do
		next = vxpu_budget_charge(v, now, cost_ns, percent, VXPU_BUDGET_BURST_NS, &left);
	while (!atomic_compare_exchange_weak(&c->vtime_ns, &v, next));
	credit_ns[dev] =
	        credit_ns[dev] + left > CREDIT_MAX_NS ? CREDIT_MAX_NS : credit_ns[dev] + left;
}

/*
 * The share in force changed (live limit change, priority hold starting or
 * ending): the process that notices first re-expresses the outstanding debt
 * at the new share (vxpu_budget_rescale). effective_limit records the share
 * the debt is expressed in.
 */
static void rate_change(struct vxpu_region_compute *c, uint32_t pct, uint64_t now)
{
	uint32_t old = atomic_load_explicit(&c->effective_limit, memory_order_relaxed);
	if (old == pct || !atomic_compare_exchange_strong(&c->effective_limit, &old, pct))
		return;
	uint64_t v = atomic_load(&c->vtime_ns);
	while (!atomic_compare_exchange_weak(&c->vtime_ns, &v,
	                                     vxpu_budget_rescale(v, now, old, pct)))
		;
}

/* Device time this process used on dev, for the statistics. */
static void account_used(int dev, int64_t ns)
{
	if (ns == 0 || limiter.slot < 0)
		return;
	struct vxpu_region_compute *c = vxpu_region_compute(&limiter.region, (unsigned)dev);
	struct vxpu_region_slot_compute *s =
	        vxpu_region_slot_compute(&limiter.region, (unsigned)limiter.slot);
	atomic_fetch_add(&c->charged_ns, (uint64_t)ns);
	atomic_fetch_add(&s->used_ns[dev], (uint64_t)ns);
}

/* ---- binding to a context: events, stream, anchor ------------------------------------- */

static void mark_flag(int dev, uint32_t flag, const char *message)
{
	struct vxpu_region_compute *c = vxpu_region_compute(&limiter.region, (unsigned)dev);
	if (!(atomic_fetch_or(&c->flags, flag) & flag))
		vxpu_log(VXPU_LOG_WARN, message, "region", limiter.config.region_path,
		         (char *)NULL);
}

static void unbind(struct compute_device *cd)
{
	if (!cd->bound)
		return;
	for (unsigned i = 0; i < RING; i++)
		if (cd->events[i])
			limiter.cuda.cuEventDestroy_v2(cd->events[i]);
	if (cd->anchor)
		limiter.cuda.cuEventDestroy_v2(cd->anchor);
	if (cd->aux)
		limiter.cuda.cuStreamDestroy_v2(cd->aux);
	memset(cd->events, 0, sizeof(cd->events));
	cd->anchor = NULL;
	cd->aux = NULL;
	cd->count = 0;
	cd->head = 0;
	cd->bound = false;
}

static bool anchor(struct compute_device *cd)
{
	uint64_t before = mono_ns();
	if (limiter.cuda.cuEventRecord(cd->anchor, cd->aux) != CUDA_SUCCESS)
		return false;
	uint64_t after = mono_ns();
	cd->anchor_ns = before + (after - before) / 2;
	return true;
}

static void bind(struct compute_device *cd, int dev, CUcontext ctx, int ordinal)
{
	if (cd->bound && cd->ctx == ctx)
		return;
	unbind(cd);
	cd->ctx = ctx;
	cd->ordinal = ordinal;
	cd->bound = true;
	cd->conservative = true;
	if (cd->ratio == 0)
		cd->ratio = 1024;
	if (limiter.config.core_timing_sync) {
		mark_flag(dev, VXPU_COMPUTE_FLAG_UNMEASURED,
		          "VXPU_CORE_TIMING=sync: every launch under the compute limit is "
		          "synchronised (conservative mode)");
		return;
	}
	bool ok = limiter.cuda.cuEventCreate && limiter.cuda.cuEventRecord &&
	          limiter.cuda.cuEventQuery && limiter.cuda.cuEventElapsedTime &&
	          limiter.cuda.cuStreamCreate &&
	          limiter.cuda.cuStreamCreate(&cd->aux, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS &&
	          limiter.cuda.cuEventCreate(&cd->anchor, CU_EVENT_DEFAULT) == CUDA_SUCCESS;
	for (unsigned i = 0; ok && i < RING; i++)
		ok = limiter.cuda.cuEventCreate(&cd->events[i], CU_EVENT_DEFAULT) == CUDA_SUCCESS;
	ok = ok && anchor(cd);
	if (ok) {
		cd->conservative = false;
	} else {
		mark_flag(dev, VXPU_COMPUTE_FLAG_UNMEASURED,
		          "cannot time kernels with events; every launch under the compute "
		          "limit is synchronised (conservative mode)");
	}
}

/* ---- completions -------------------------------------------------------------------- */

static uint32_t current_percent(int dev, uint32_t priority, bool high_active)
{
	return vxpu_budget_effective(device_limit(dev), priority, high_active,
	                             limiter.config.priority_floor);
}

/* Charges one finished launch that used the device until end_ns. */
static void finish(struct compute_device *cd, int dev, const struct pending *p, uint64_t end_ns,
                   uint32_t percent)
{
	uint64_t whole = vxpu_budget_occupancy(p->launch_ns, cd->last_end_ns, end_ns, 0);
	uint64_t counted =
	        vxpu_budget_occupancy(p->launch_ns, cd->last_end_ns, end_ns, cd->window_mono_ns);
	if (end_ns > cd->last_end_ns)
		cd->last_end_ns = end_ns;
	cd->estimate_ns = vxpu_budget_estimate(cd->estimate_ns, whole, !cd->measured);
	cd->measured = true;
	cd->window_raw_ns += counted;
	/* Completion timing also counts time queued behind other containers' kernels. */
	counted = counted / 1024 * cd->ratio + counted % 1024 * cd->ratio / 1024;
	budget_charge(dev, -p->provisional_ns, p->percent);
	budget_charge(dev, (int64_t)counted, percent);
	cd->window_events_ns += counted;
	account_used(dev, (int64_t)counted);
}

/* Takes every completed launch off the ring, oldest first. */
static void poll_completions(struct compute_device *cd, int dev, uint32_t percent)
{
	while (cd->count > 0) {
		struct pending *p = &cd->ring[cd->head];
		CUresult q = limiter.cuda.cuEventQuery(p->event);
		if (q == CUDA_ERROR_NOT_READY)
			return;
		float ms = 0;
		if (q == CUDA_SUCCESS && limiter.cuda.cuEventElapsedTime(
		                                 &ms, cd->anchor, p->event) == CUDA_ERROR_NOT_READY)
			return;
		if (q == CUDA_SUCCESS &&
		    limiter.cuda.cuEventElapsedTime(&ms, cd->anchor, p->event) == CUDA_SUCCESS) {
			double end = (double)cd->anchor_ns + (double)ms * 1e6;
			finish(cd, dev, p, end > 0 ? (uint64_t)end : 0, percent);
		} else {
			budget_charge(dev, -p->provisional_ns, p->percent); /* lost: drop it */
		}
		cd->head = (cd->head + 1) % RING;
		cd->count--;
	}
}

/* Waits for the oldest launch in flight and takes it off the ring. */
static void wait_oldest(struct compute_device *cd, int dev, uint32_t percent)
{
	if (cd->count == 0)
		return;
	limiter.cuda.cuEventSynchronize(cd->ring[cd->head].event);
	poll_completions(cd, dev, percent);
}

/* ---- utilisation windows ------------------------------------------------------------ */

static void nvml_bind(struct compute_device *cd, int dev)
{
	cd->nvml_tried = true;
	CUuuid u;
	char text[48];
	if (limiter_nvml_real_ready() != 0 || !limiter.nvml.nvmlDeviceGetHandleByUUID ||
	    !limiter.nvml.nvmlDeviceGetProcessUtilization || !limiter.cuda.cuDeviceGetUuid ||
	    limiter.cuda.cuDeviceGetUuid(&u, cd->ordinal) != CUDA_SUCCESS) {
		mark_flag(dev, VXPU_COMPUTE_FLAG_NO_NVML,
		          "no per-process utilisation from the management library; compute is "
		          "charged by completion timing only");
		return;
	}
	vxpu_region_format_uuid((const uint8_t *)u.bytes, text, sizeof(text));
	cd->nvml_ok = limiter.nvml.nvmlDeviceGetHandleByUUID(text, &cd->nvml) == NVML_SUCCESS;
	if (!cd->nvml_ok)
		mark_flag(dev, VXPU_COMPUTE_FLAG_NO_NVML,
		          "the management library does not know the device; compute is charged "
		          "by completion timing only");
}

/*
 * Every REBASE_NS: the window's event-timed charges are replaced by the
 * device time the driver attributes to this process over the same window.
 */
static void rebase(struct compute_device *cd, int dev, uint64_t now, uint32_t percent)
{
	if (now - cd->window_mono_ns < REBASE_NS)
		return;
	uint64_t now_real = real_us();
	if (cd->window_mono_ns == 0 || now - cd->window_mono_ns > REBASE_STALE_NS) {
		cd->window_mono_ns = now;
		cd->window_real_us = now_real;
		cd->window_events_ns = 0;
		cd->window_raw_ns = 0;
		return;
	}
	if (!cd->nvml_tried)
		nvml_bind(cd, dev);
	if (cd->nvml_ok && now_real > cd->window_real_us) {
		unsigned n = SAMPLES;
		nvmlReturn_t r = limiter.nvml.nvmlDeviceGetProcessUtilization(
		        cd->nvml, cd->samples, &n, cd->window_real_us);
		if (r == NVML_SUCCESS) {
			int32_t host =
			        vxpu_region_host_pid(&limiter.region, (unsigned)limiter.slot);
			unsigned pid = (unsigned)(host ? host : getpid());
			unsigned util = 0;
			for (unsigned i = 0; i < n && i < SAMPLES; i++)
				if (cd->samples[i].pid == pid)
					util = cd->samples[i].smUtil;
			uint64_t busy =
			        vxpu_budget_util_busy(util, (now_real - cd->window_real_us) * 1000);
			int64_t delta = (int64_t)busy - (int64_t)cd->window_events_ns;
			if (cd->window_raw_ns > REBASE_NS / 100) {
				uint64_t q = busy >= cd->window_raw_ns
				                     ? 1024
				                     : busy * 1024 / cd->window_raw_ns;
				cd->ratio = (uint32_t)(((uint64_t)cd->ratio * 3 + q) / 4);
				if (cd->ratio < 16)
					cd->ratio = 16;
			}
			budget_charge(dev, delta, percent);
			if (delta > 0)
				account_used(dev, delta);
		} else if (r != NVML_ERROR_NOT_FOUND && r != NVML_ERROR_INSUFFICIENT_SIZE) {
			cd->nvml_ok = false;
			mark_flag(
			        dev, VXPU_COMPUTE_FLAG_NO_NVML,
			        "per-process utilisation failed; compute is charged by completion "
			        "timing only");
		}
	}
	cd->window_mono_ns = now;
	cd->window_real_us = now_real;
	cd->window_events_ns = 0;
	cd->window_raw_ns = 0;
	if (!cd->conservative && now - cd->anchor_ns > ANCHOR_NS && cd->count == 0)
		anchor(cd);
}

/* ---- priority ------------------------------------------------------------------------ */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return h;
}

static struct vxpu_devcoord *coord_of(struct compute_device *cd, int dev, uint32_t priority)
{
	if (cd->coord.header) {
		if (cd->coord.entry >= 0)
			atomic_store_explicit(&cd->coord.entries[cd->coord.entry].priority,
			                      priority, memory_order_relaxed);
		return &cd->coord;
	}
	if (cd->coord_tried)
		return NULL;
	cd->coord_tried = true;
	char name[64];
	uint8_t uuid[16];
	CUuuid u;
	if (vxpu_region_uuid(&limiter.region, (unsigned)dev, uuid))
		vxpu_region_format_uuid(uuid, name, sizeof(name));
	else if (limiter.cuda.cuDeviceGetUuid &&
	         limiter.cuda.cuDeviceGetUuid(&u, cd->ordinal) == CUDA_SUCCESS)
		vxpu_region_format_uuid((const uint8_t *)u.bytes, name, sizeof(name));
	else
		snprintf(name, sizeof(name), "device-%d", cd->ordinal);
	char err[512];
	if (vxpu_devcoord_open(&cd->coord, limiter.config.device_dir, name, (int32_t)getpid(),
	                       priority, fnv1a(limiter.config.region_path), err,
	                       sizeof(err)) != 0) {
		vxpu_log(VXPU_LOG_ERROR,
		         "cannot open the device's coordination file; priority is not applied",
		         "error", err, (char *)NULL);
		return NULL;
	}
	atomic_store_explicit(&coord_headers[dev], cd->coord.header, memory_order_release);
	return &cd->coord;
}

/*
 * For a normal or low container without a compute limit: true when no high
 * container has launched on the device lately, so the launch needs nothing
 * (no measurement, no lock). One load from the coordination file once it
 * is open.
 */
static bool quiet_device(int dev)
{
	struct vxpu_devcoord_header *h =
	        atomic_load_explicit(&coord_headers[dev], memory_order_acquire);
	if (!h)
		return false; /* not open yet: the slow path opens it */
	uint64_t last = atomic_load_explicit(&h->high_last_ns, memory_order_relaxed);
	return !vxpu_budget_high_active(last, mono_ns(), HIGH_RECENT_NS);
}

/* The activity window of the device's high containers (budget.h). */
static uint64_t high_window(struct vxpu_devcoord_header *h)
{
	return vxpu_budget_high_window(h ? atomic_load(&h->high_period_ns) : 0);
}

/* ---- the launch ---------------------------------------------------------------------- */

static bool stream_capturing(CUstream stream, bool ptsz)
{
	__typeof__(cuStreamIsCapturing) *f =
	        ptsz ? limiter.cuda.cuStreamIsCapturing_ptsz : limiter.cuda.cuStreamIsCapturing;
	CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
	return f && f(stream, &st) == CUDA_SUCCESS && st != CU_STREAM_CAPTURE_STATUS_NONE;
}

void limiter_compute_enter(struct limiter_compute_ticket *t, CUstream stream, bool ptsz)
{
	memset(t, 0, sizeof(*t));
	t->device = -1;
	CUcontext ctx;
	int ordinal;
	int dev = limiter_current_device(&ctx, &ordinal);
	if (dev < 0)
		return; /* the driver reports the error */
	uint32_t limit = device_limit(dev);
	uint32_t priority = container_priority();
	if (limit == 0 && priority == VXPU_PRIORITY_UNSET)
		return;
	if (limit == 0 && priority != VXPU_PRIORITY_HIGH && quiet_device(dev)) {
		atomic_store_explicit(&skipped[dev], 1, memory_order_relaxed);
		return;
	}
	if (stream_capturing(stream, ptsz))
		return; /* a captured launch runs later, as part of a graph launch */
	pthread_once(&devices_once, devices_init);
	struct compute_device *cd = &devices[dev];
	struct vxpu_region_compute *shared = vxpu_region_compute(&limiter.region, (unsigned)dev);

	pthread_mutex_lock(&cd->lock);
	struct vxpu_devcoord *coord =
	        priority != VXPU_PRIORITY_UNSET ? coord_of(cd, dev, priority) : NULL;
	struct vxpu_devcoord_header *h = coord ? coord->header : NULL;
	bool high = h && priority == VXPU_PRIORITY_HIGH;
	bool yields = h && !high;
	uint64_t now = mono_ns();
	uint64_t high_seen = h ? atomic_load(&h->high_last_ns) : 0;
	bool high_active = yields && vxpu_budget_high_active(high_seen, now, high_window(h));
	uint32_t pct = current_percent(dev, h ? priority : VXPU_PRIORITY_UNSET, high_active);
	bind(cd, dev, ctx, ordinal);
	if (!cd->conservative) {
		poll_completions(cd, dev, pct);
		/*
		 * Bound what runs unmeasured: one launch until the first
		 * measurement; a normal or low container keeps one kernel in flight
		 * while a high one is active and two otherwise, so that it never has
		 * a queue for the high container's kernels to wait behind.
		 */
		unsigned cap = !cd->measured || high_active ? 1 : yields ? INFLIGHT_HELD : RING;
		if (high && cd->count >= RING) {
			vxpu_devcoord_high_mark(coord, now, cd->prev_high_ns, cd->estimate_ns);
			cd->prev_high_ns = now;
			pthread_mutex_unlock(&cd->lock);
			t->device = dev;
			t->wake_held = true;
			return; /* never held back: this one goes untimed */
		}
		while (!high && cd->count >= cap) {
			wait_oldest(cd, dev, pct);
			cap = high_active ? 1 : yields ? INFLIGHT_HELD : RING;
		}
	}
	/*
	 * Measurement resumes after a pause (a normal/low container measures
	 * nothing while no high container is around): the utilisation window
	 * starts now, so the unmeasured time is not charged all at once.
	 */
	if (atomic_exchange_explicit(&skipped[dev], 0, memory_order_relaxed)) {
		cd->window_mono_ns = 0;
		cd->last_end_ns = 0;
	}
	rebase(cd, dev, now, pct);
	if (high) {
		vxpu_devcoord_high_mark(coord, now, cd->prev_high_ns, cd->estimate_ns);
		cd->prev_high_ns = now;
	}
	uint64_t own_estimate = cd->estimate_ns;
	pthread_mutex_unlock(&cd->lock);

	/* The budget: wait while in debt (and, when held, for a gap). */
	uint64_t waited_from = 0, gap_from = 0;
	for (;;) {
		now = mono_ns();
		uint32_t seq = h ? atomic_load(&h->high_seq) : 0;
		uint64_t high_last = h ? atomic_load(&h->high_last_ns) : 0;
		high_active = yields && vxpu_budget_high_active(high_last, now, high_window(h));
		pct = current_percent(dev, h ? priority : VXPU_PRIORITY_UNSET, high_active);
		rate_change(shared, pct, now);
		if (pct >= 100)
			break;
		uint64_t ahead = high_active ? 0 : VXPU_BUDGET_AHEAD_NS;
		uint64_t wait = vxpu_budget_wait(atomic_load(&shared->vtime_ns), now + ahead);
		bool gap = !high_active ||
		           vxpu_budget_gap_fits(now, high_last, atomic_load(&h->high_period_ns),
		                                atomic_load(&h->high_busy_ns), own_estimate,
		                                VXPU_BUDGET_GAP_MARGIN_NS);
		if (wait == 0 && gap)
			break;
		/*
		 * The floor is owed: a launch that the budget allows but that
		 * found no gap for two of the high container's periods takes a
		 * gap without the margin, and after four goes anyway (its own
		 * estimate may be too large for any gap, or this host too slow to
		 * wake up within one).
		 */
		if (wait == 0) {
			uint64_t period = atomic_load(&h->high_period_ns);
			if (!period)
				period = VXPU_BUDGET_HIGH_WINDOW_NS;
			if (!gap_from)
				gap_from = now;
			bool tight = vxpu_budget_gap_fits(now, high_last, period,
			                                  atomic_load(&h->high_busy_ns),
			                                  own_estimate, 0);
			if ((now - gap_from >= 2 * period && tight) || now - gap_from >= 4 * period)
				break;
		}
		if (!waited_from)
			waited_from = now;
		if (high_active) {
			uint64_t deadline = high_last + high_window(h);
			if (wait && now + wait < deadline)
				deadline = now + wait;
			vxpu_devcoord_wait(coord, seq, now, deadline);
		} else {
			uint32_t word = atomic_load(&shared->wake);
			struct timespec ts = {(time_t)(wait / 1000000000ULL),
			                      (long)(wait % 1000000000ULL)};
			syscall(SYS_futex, &shared->wake, FUTEX_WAIT, word, &ts, NULL, 0);
		}
	}
	now = mono_ns();
	atomic_fetch_add_explicit(&shared->launches, 1, memory_order_relaxed);
	if (waited_from) {
		atomic_fetch_add_explicit(&shared->held_launches, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&shared->held_ns, now - waited_from,
		                          memory_order_relaxed);
	}
	t->device = dev;
	t->wake_held = high;
	t->percent = pct;
	t->launch_ns = now;
	t->synchronise = cd->conservative;
	t->record = !cd->conservative;
	t->provisional_ns = cd->measured ? (int64_t)(own_estimate / 1024 * cd->ratio) : 0;
	pthread_mutex_lock(&cd->lock);
	budget_charge(dev, t->provisional_ns, pct);
	pthread_mutex_unlock(&cd->lock);
}

void limiter_compute_leave(struct limiter_compute_ticket *t, CUstream stream, bool ptsz,
                           CUresult rc)
{
	if (t->device < 0)
		return;
	int dev = t->device;
	struct compute_device *cd = &devices[dev];
	if (t->wake_held && cd->coord.header)
		vxpu_devcoord_high_wake(&cd->coord);
	if (rc != CUDA_SUCCESS) {
		pthread_mutex_lock(&cd->lock);
		budget_charge(dev, -t->provisional_ns, t->percent);
		pthread_mutex_unlock(&cd->lock);
		return;
	}
	/* The launch reached the device somewhere inside the real call: take its middle. */
	uint64_t returned = mono_ns();
	pthread_mutex_lock(&cd->lock);
	struct pending p = {NULL, t->launch_ns + (returned - t->launch_ns) / 2, t->provisional_ns,
	                    t->percent};
	if (t->record && cd->count < RING) {
		unsigned slot = (cd->head + cd->count) % RING;
		p.event = cd->events[slot];
		CUresult r = ptsz ? limiter.cuda.cuEventRecord_ptsz(p.event, stream)
		                  : limiter.cuda.cuEventRecord(p.event, stream);
		if (r == CUDA_SUCCESS) {
			cd->ring[slot] = p;
			cd->count++;
			pthread_mutex_unlock(&cd->lock);
			return;
		}
		mark_flag(dev, VXPU_COMPUTE_FLAG_UNMEASURED,
		          "cannot record timing events; every launch under the compute limit is "
		          "synchronised (conservative mode)");
		cd->conservative = true;
		t->synchronise = true;
	}
	if (t->synchronise) {
		__typeof__(cuStreamSynchronize) *sync = ptsz ? limiter.cuda.cuStreamSynchronize_ptsz
		                                             : limiter.cuda.cuStreamSynchronize;
		if (sync)
			sync(stream);
		finish(cd, dev, &p, mono_ns(), t->percent);
	} else {
		budget_charge(dev, -t->provisional_ns, t->percent); /* ring full (high): untimed */
	}
	pthread_mutex_unlock(&cd->lock);
}

void limiter_compute_atfork_child(void)
{
	/* The parent's events and streams are not the child's; its files are reopened. */
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
		struct compute_device *cd = &devices[d];
		if (cd->coord.fd >= 0)
			close(cd->coord.fd);
		memset(cd, 0, sizeof(*cd));
		atomic_store(&coord_headers[d], NULL);
		pthread_mutex_init(&cd->lock, NULL);
		cd->coord.fd = -1;
		cd->coord.entry = -1;
	}
	atomic_store(&limiter_compute_generation, UINT64_MAX);
}

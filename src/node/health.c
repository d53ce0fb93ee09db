/*
 * health.c - the health watcher's I/O (see health.h).
 *
 * One thread does everything that touches the library: event waits and
 * probes never run concurrently, so the state machine sees one ordered
 * stream of evidence per device. The lock guards only the published
 * states (the snapshot readers' view); it is never held across a library
 * call or a callback.
 *
 * NVML is initialised once for the watcher's lifetime (its init is
 * reference counted, so discovery and usage readers elsewhere in the
 * process are unaffected) and shut down when the thread has ended.
 */
#include "node/health.h"

#include "cuda/nvml_abi.h"
#include "node/nvmllib.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_SLICE_MS 100u
#define WANTED_EVENTS                                                                              \
	((unsigned long long)(nvmlEventTypeXidCriticalError | nvmlEventTypeSingleBitEccError |     \
	                      nvmlEventTypeDoubleBitEccError))

struct health_api {
	nvmlReturn_t (*init)(void);
	nvmlReturn_t (*shutdown)(void);
	nvmlReturn_t (*count)(unsigned *);
	nvmlReturn_t (*by_index)(unsigned, nvmlDevice_t *);
	nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t *);
	nvmlReturn_t (*ecc_total)(nvmlDevice_t, nvmlMemoryErrorType_t, nvmlEccCounterType_t,
	                          unsigned long long *);
	nvmlReturn_t (*set_create)(nvmlEventSet_t *);
	nvmlReturn_t (*supported_events)(nvmlDevice_t, unsigned long long *);
	nvmlReturn_t (*register_events)(nvmlDevice_t, unsigned long long, nvmlEventSet_t);
	nvmlReturn_t (*set_wait)(nvmlEventSet_t, nvmlEventData_t *, unsigned);
	nvmlReturn_t (*set_free)(nvmlEventSet_t);
};

struct vxpu_health_watcher {
	struct health_api api;
	struct vxpu_health_policy policy;
	unsigned probe_interval_ms;
	vxpu_health_change_fn on_change;
	void *ctx;
	unsigned count;
	nvmlDevice_t handles[VXPU_FOUND_MAX_DEVICES];
	nvmlEventSet_t set; /* NULL when no device supports events */
	bool events_supported;
	pthread_t thread;
	atomic_bool stopping;
	pthread_mutex_t lock; /* guards health[] */
	struct vxpu_device_health health[VXPU_FOUND_MAX_DEVICES];
};

static uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Applies ev to device i under the lock; reports a flip after unlocking. */
static void deliver(struct vxpu_health_watcher *w, unsigned i, const struct vxpu_health_event *ev)
{
	pthread_mutex_lock(&w->lock);
	bool flipped = vxpu_health_apply(&w->policy, &w->health[i], ev);
	struct vxpu_device_health now = w->health[i];
	pthread_mutex_unlock(&w->lock);
	if (flipped && w->on_change)
		w->on_change(w->ctx, i, &now);
}

static void probe_all(struct vxpu_health_watcher *w)
{
	for (unsigned i = 0; i < w->count; i++) {
		struct vxpu_health_event ev = {.kind = VXPU_HEALTH_EVENT_PROBE};
		if (!w->handles[i]) {
			ev.lost = true; /* no handle at start: the device never answered */
		} else {
			unsigned long long uncorrected = 0;
			nvmlReturn_t rc = NVML_ERROR_NOT_SUPPORTED;
			if (w->api.ecc_total)
				rc = w->api.ecc_total(w->handles[i],
				                      NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
				                      NVML_VOLATILE_ECC, &uncorrected);
			if (rc == NVML_SUCCESS) {
				ev.uncorrected_volatile = uncorrected;
			} else if (rc != NVML_ERROR_GPU_IS_LOST) {
				/* ECC off or unsupported: a memory query still tells a lost card.
				 */
				nvmlMemory_t mem;
				rc = w->api.memory(w->handles[i], &mem);
			}
			ev.lost = rc == NVML_ERROR_GPU_IS_LOST;
		}
		ev.at_ns = monotonic_ns();
		deliver(w, i, &ev);
	}
}

static int handle_index(const struct vxpu_health_watcher *w, nvmlDevice_t dev)
{
	for (unsigned i = 0; i < w->count; i++)
		if (w->handles[i] == dev)
			return (int)i;
	return -1;
}

static void handle_event(struct vxpu_health_watcher *w, const nvmlEventData_t *data)
{
	int i = handle_index(w, data->device);
	if (i < 0)
		return; /* a device this watcher does not know */
	struct vxpu_health_event ev = {.at_ns = monotonic_ns()};
	if (data->eventType & nvmlEventTypeXidCriticalError) {
		ev.kind = VXPU_HEALTH_EVENT_XID;
		ev.xid = data->eventData > 0xffffffffULL ? 0xffffffffu : (uint32_t)data->eventData;
	} else if (data->eventType & nvmlEventTypeDoubleBitEccError) {
		ev.kind = VXPU_HEALTH_EVENT_ECC_DOUBLE;
	} else if (data->eventType & nvmlEventTypeSingleBitEccError) {
		ev.kind = VXPU_HEALTH_EVENT_ECC_SINGLE;
	} else {
		return;
	}
	deliver(w, (unsigned)i, &ev);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void *watch_thread(void *arg)
{
	struct vxpu_health_watcher *w = arg;
	uint64_t interval_ns = (uint64_t)w->probe_interval_ms * 1000000ULL;
	uint64_t next_probe = 0;
	while (!atomic_load(&w->stopping)) {
		uint64_t now = monotonic_ns();
		if (now >= next_probe) {
			probe_all(w);
			next_probe = now + interval_ns;
			continue;
		}
		uint64_t left_ms = (next_probe - now + 999999) / 1000000;
		unsigned slice = left_ms < WAIT_SLICE_MS ? (unsigned)left_ms : WAIT_SLICE_MS;
		if (!w->set) {
			sleep_ms(slice);
			continue;
		}
		nvmlEventData_t data;
		memset(&data, 0, sizeof(data));
		nvmlReturn_t rc = w->api.set_wait(w->set, &data, slice);
		if (rc == NVML_SUCCESS) {
			handle_event(w, &data);
		} else if (rc == NVML_ERROR_GPU_IS_LOST) {
			next_probe = 0; /* the probe finds which one */
		} else if (rc != NVML_ERROR_TIMEOUT) {
			sleep_ms(slice); /* a failing wait must not spin */
		}
	}
	return NULL;
}

static int resolve(struct health_api *api, void *lib)
{
	*(void **)&api->init = vxpu_nvml_sym(lib, "nvmlInit_v2", "nvmlInit");
	*(void **)&api->shutdown = vxpu_nvml_sym(lib, "nvmlShutdown", NULL);
	*(void **)&api->count = vxpu_nvml_sym(lib, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount");
	*(void **)&api->by_index =
	        vxpu_nvml_sym(lib, "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex");
	*(void **)&api->memory = vxpu_nvml_sym(lib, "nvmlDeviceGetMemoryInfo", NULL);
	*(void **)&api->ecc_total = vxpu_nvml_sym(lib, "nvmlDeviceGetTotalEccErrors", NULL);
	*(void **)&api->set_create = vxpu_nvml_sym(lib, "nvmlEventSetCreate", NULL);
	*(void **)&api->supported_events =
	        vxpu_nvml_sym(lib, "nvmlDeviceGetSupportedEventTypes", NULL);
	*(void **)&api->register_events = vxpu_nvml_sym(lib, "nvmlDeviceRegisterEvents", NULL);
	*(void **)&api->set_wait = vxpu_nvml_sym(lib, "nvmlEventSetWait_v2", "nvmlEventSetWait");
	*(void **)&api->set_free = vxpu_nvml_sym(lib, "nvmlEventSetFree", NULL);
	return api->init && api->shutdown && api->count && api->by_index && api->memory ? 0 : -1;
}

/* Registers each device for the wanted events it supports. */
static void register_events(struct vxpu_health_watcher *w)
{
	struct health_api *api = &w->api;
	if (!api->set_create || !api->register_events || !api->set_wait || !api->set_free ||
	    api->set_create(&w->set) != NVML_SUCCESS) {
		w->set = NULL;
		return;
	}
	for (unsigned i = 0; i < w->count; i++) {
		if (!w->handles[i])
			continue;
		unsigned long long mask = WANTED_EVENTS;
		unsigned long long supported = 0;
		if (api->supported_events &&
		    api->supported_events(w->handles[i], &supported) == NVML_SUCCESS)
			mask &= supported;
		if (mask && api->register_events(w->handles[i], mask, w->set) == NVML_SUCCESS)
			w->events_supported = true;
	}
	if (!w->events_supported) {
		api->set_free(w->set);
		w->set = NULL;
	}
}

int vxpu_health_watch_start(struct vxpu_health_watcher **out,
                            const struct vxpu_health_watch_options *opts, char *err, size_t errlen)
{
	void *lib = vxpu_nvml_open(&opts->discover, err, errlen);
	if (!lib)
		return -1;
	struct vxpu_health_watcher *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (resolve(&w->api, lib) != 0) {
		snprintf(err, errlen, "the management library lacks a required NVML entry point");
		free(w);
		return -1;
	}
	nvmlReturn_t rc = w->api.init();
	if (rc != NVML_SUCCESS) {
		snprintf(err, errlen, "nvmlInit failed (NVML error %d)", (int)rc);
		free(w);
		return -1;
	}
	unsigned count = 0;
	if ((rc = w->api.count(&count)) != NVML_SUCCESS) {
		snprintf(err, errlen, "cannot count devices (NVML error %d)", (int)rc);
		w->api.shutdown();
		free(w);
		return -1;
	}
	w->count = count > VXPU_FOUND_MAX_DEVICES ? VXPU_FOUND_MAX_DEVICES : count;
	w->policy = opts->policy;
	w->probe_interval_ms = opts->probe_interval_ms ? opts->probe_interval_ms : 500;
	w->on_change = opts->on_change;
	w->ctx = opts->ctx;
	uint64_t now = monotonic_ns();
	for (unsigned i = 0; i < w->count; i++) {
		if (w->api.by_index(i, &w->handles[i]) != NVML_SUCCESS)
			w->handles[i] = NULL;
		vxpu_device_health_init(&w->health[i], now);
	}
	register_events(w);
	pthread_mutex_init(&w->lock, NULL);
	atomic_init(&w->stopping, false);
	int prc = pthread_create(&w->thread, NULL, watch_thread, w);
	if (prc != 0) {
		snprintf(err, errlen, "cannot start the health thread: %s", strerror(prc));
		if (w->set)
			w->api.set_free(w->set);
		w->api.shutdown();
		pthread_mutex_destroy(&w->lock);
		free(w);
		return -1;
	}
	*out = w;
	return 0;
}

unsigned vxpu_health_watch_count(const struct vxpu_health_watcher *w)
{
	return w->count;
}

bool vxpu_health_watch_events_supported(const struct vxpu_health_watcher *w)
{
	return w->events_supported;
}

unsigned vxpu_health_watch_snapshot(struct vxpu_health_watcher *w, struct vxpu_device_health *out,
                                    unsigned cap)
{
	pthread_mutex_lock(&w->lock);
	unsigned n = w->count < cap ? w->count : cap;
	memcpy(out, w->health, n * sizeof(out[0]));
	pthread_mutex_unlock(&w->lock);
	return n;
}

void vxpu_health_watch_stop(struct vxpu_health_watcher *w)
{
	if (!w)
		return;
	atomic_store(&w->stopping, true);
	pthread_join(w->thread, NULL);
	if (w->set)
		w->api.set_free(w->set);
	w->api.shutdown();
	pthread_mutex_destroy(&w->lock);
	free(w);
}

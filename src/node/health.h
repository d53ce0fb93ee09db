/*
 * health.h - watching the devices' health through the management library.
 *
 * A watcher owns one thread. It registers every device for the XID and
 * single-/double-bit ECC events that the library supports, waits on the
 * event set in slices of at most 100 ms, and probes every device on a fixed
 * interval (lost? uncorrectable ECC count?) because recovery has no event
 * of its own and an event can be missed. Each piece of evidence goes to
 * core's state machine (core/health.h), which decides; the watcher only
 * gathers, timestamps (CLOCK_MONOTONIC) and publishes.
 *
 * Latency: an event reaches the state machine as soon as the wait returns,
 * so a critical XID turns a device unhealthy within milliseconds of its
 * delivery; a library without event support still fails a device at the
 * next probe (probe_interval).
 *
 * Thread safety: on_change runs on the watcher thread, without the
 * watcher's lock held, once per flip, in the order flips happen.
 * vxpu_health_watch_snapshot may be called from any thread.
 */
#ifndef VXPU_NODE_HEALTH_H
#define VXPU_NODE_HEALTH_H

#include "core/health.h"
#include "node/discover.h"

#include <stddef.h>

struct vxpu_health_watcher;

typedef void (*vxpu_health_change_fn)(void *ctx, unsigned index,
                                      const struct vxpu_device_health *health);

struct vxpu_health_watch_options {
	struct vxpu_discover_options discover; /* nvml or sim (inventory has no events) */
	struct vxpu_health_policy policy;
	unsigned probe_interval_ms;      /* 0 means 500 */
	vxpu_health_change_fn on_change; /* may be NULL */
	void *ctx;
};

/*
 * Opens the library, registers for events and starts the thread. Returns
 * 0, or -1 with a reason in err (nothing started). events_supported tells
 * whether any device accepted event registration (probes only otherwise).
 */
int vxpu_health_watch_start(struct vxpu_health_watcher **out,
                            const struct vxpu_health_watch_options *opts, char *err, size_t errlen);

/* Number of devices watched. */
unsigned vxpu_health_watch_count(const struct vxpu_health_watcher *w);

/* True when at least one device delivers events (false: probes only). */
bool vxpu_health_watch_events_supported(const struct vxpu_health_watcher *w);

/* Copies the devices' present health into out[0..cap); returns the count copied. */
unsigned vxpu_health_watch_snapshot(struct vxpu_health_watcher *w, struct vxpu_device_health *out,
                                    unsigned cap);

/* Stops the thread (within about 100 ms), releases everything. NULL is fine. */
void vxpu_health_watch_stop(struct vxpu_health_watcher *w);

#endif

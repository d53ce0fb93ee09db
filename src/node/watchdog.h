/*
 * watchdog.h - finds containers that use more of a device than they were
 * given, as the management library sees it, and says what to do about it.
 *
 * libvxpu enforces a container's fraction from inside its processes. A
 * process that escapes the preload (a static binary, LD_PRELOAD cleared, a
 * raw ioctl path) is invisible to it, but not to the driver: NVML still
 * reports the memory each host PID holds and the time it keeps the device
 * busy. The monitor sums those figures over a container's host PIDs (from
 * its region) and hands them here once per pass; this file decides.
 *
 * Rules (thresholds are policy fields, set from the command's flags):
 *   memory   used > limit * (100 + memory_margin_pct) / 100 continuously
 *            for more than memory_window_ns            (defaults 5 %, 2 s)
 *   compute  utilisation > core_limit + compute_margin_pct (percentage
 *            points) continuously for more than compute_window_ns
 *                                                      (defaults 20, 30 s)
 * A share without a memory limit (or without a compute limit, core_limit
 * 0) is never checked for that resource; an unknown figure (NVML did not
 * answer) counts as "not over" and restarts the window, so the watchdog
 * never acts on a guess.
 *
 * The state machine, per (container key, device, kind):
 *   under --(over at t0)--> over since t0 --(still over at t, t - t0 >
 *   window)--> flagged: one FLAGGED event, violations += 1, and with
 *   enforce an ENFORCE event at that pass and at every later pass while
 *   it stays over --(not over)--> under: one CLEARED event if it had been
 *   flagged.
 * "Continuously" is as sampled: the window starts at the first pass that
 * saw the excess (never earlier, so a flag is never premature) and any
 * pass that does not see it ends the episode. A state whose key is absent
 * from a pass (the container went away) is dropped with its counters.
 *
 * Pure: no I/O, no clock, no globals; time is the caller's monotonic
 * nanoseconds, so tests drive it with a fake clock. Not thread-safe: one
 * caller (the monitor's sampling thread) owns a watchdog.
 */
#ifndef VXPU_NODE_WATCHDOG_H
#define VXPU_NODE_WATCHDOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_WATCHDOG_KEY_MAX 400 /* a container key, terminator included */

/* Defaults of the policy (and of the command's flags). */
#define VXPU_WATCHDOG_MEMORY_MARGIN_PCT 5u
#define VXPU_WATCHDOG_MEMORY_WINDOW_NS 2000000000ULL
#define VXPU_WATCHDOG_COMPUTE_MARGIN_PCT 20u
#define VXPU_WATCHDOG_COMPUTE_WINDOW_NS 30000000000ULL

enum vxpu_watchdog_kind {
	VXPU_WATCHDOG_MEMORY = 0,
	VXPU_WATCHDOG_COMPUTE = 1,
};

enum vxpu_watchdog_event_type {
	VXPU_WATCHDOG_FLAGGED = 0, /* over for longer than the window: report */
	VXPU_WATCHDOG_ENFORCE = 1, /* enforce is on and it is (still) flagged: kill */
	VXPU_WATCHDOG_CLEARED = 2, /* a flagged share is back within its limit */
};

struct vxpu_watchdog_policy {
	unsigned memory_margin_pct;  /* 1..100 */
	uint64_t memory_window_ns;   /* > 0 */
	unsigned compute_margin_pct; /* 1..100 percentage points */
	uint64_t compute_window_ns;  /* > 0 */
	bool enforce;                /* kill the processes of a flagged share */
};

void vxpu_watchdog_policy_default(struct vxpu_watchdog_policy *p);

/* What the monitor saw of one container on one device in one pass. */
struct vxpu_watchdog_observation {
	const char *key; /* the container, stable across passes ("ns_pod_container") */
	unsigned gpu;    /* host device index */
	bool memory_used_known;
	uint64_t memory_used;  /* bytes, NVML, summed over the container's host PIDs */
	uint64_t memory_limit; /* bytes; UINT64_MAX = no limit */
	bool utilization_known;
	double utilization;  /* percent of the device, summed over its host PIDs */
	unsigned core_limit; /* percent of the device; 0 = no compute limit */
};

struct vxpu_watchdog_event {
	enum vxpu_watchdog_event_type type;
	enum vxpu_watchdog_kind kind;
	size_t observation; /* index into the pass's observations */
	const char *key;
	unsigned gpu;
	double used;      /* bytes (memory) or percent (compute), this pass */
	double limit;     /* the limit itself (bytes or percent) */
	double threshold; /* what "over" means: limit plus the margin */
	uint64_t over_ns; /* how long it has been over, as sampled */
};

/*
 * Receives each event during vxpu_watchdog_observe, in observation order
 * (memory before compute). For ENFORCE the return value is the number of
 * processes it killed (added to the share's kill count); ignored otherwise.
 */
typedef unsigned (*vxpu_watchdog_emit_fn)(void *ctx, const struct vxpu_watchdog_event *ev);

struct vxpu_watchdog;

/* A watchdog with policy p (copied). 0, or -1 when out of memory. */
int vxpu_watchdog_new(struct vxpu_watchdog **out, const struct vxpu_watchdog_policy *p);
void vxpu_watchdog_free(struct vxpu_watchdog *w);

/*
 * One pass at now_ns (monotonic, never smaller than the previous pass's):
 * every share of every container the monitor saw. Keys absent from obs are
 * forgotten. Returns 0, or -1 when out of memory (the pass is then not
 * applied: no event was emitted).
 */
int vxpu_watchdog_observe(struct vxpu_watchdog *w, uint64_t now_ns,
                          const struct vxpu_watchdog_observation *obs, size_t n,
                          vxpu_watchdog_emit_fn emit, void *ctx);

/* The state of one share, for /metrics. */
struct vxpu_watchdog_status {
	char key[VXPU_WATCHDOG_KEY_MAX];
	unsigned gpu;
	enum vxpu_watchdog_kind kind;
	bool flagged;        /* in violation now */
	uint64_t violations; /* episodes flagged since the container appeared */
	uint64_t kills;      /* processes killed by enforcement */
};

/*
 * Copies the states that were ever flagged, sorted by (key, gpu, kind),
 * into out[0..cap); returns how many there are (may exceed cap).
 */
size_t vxpu_watchdog_status(const struct vxpu_watchdog *w, struct vxpu_watchdog_status *out,
                            size_t cap);

const char *vxpu_watchdog_kind_name(enum vxpu_watchdog_kind kind); /* "memory", "compute" */

#endif

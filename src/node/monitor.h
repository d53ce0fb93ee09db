/*
 * monitor.h - what every container on this node really uses, served as
 * Prometheus text on /metrics, with the bypass watchdog (watchdog.h) run
 * on every sample.
 *
 * Sources, read once per pass (the sampling thread, every interval):
 *   - the regions directory: one folder per container, named
 *     NAMESPACE_POD_CONTAINER (Kubernetes names hold no '_'), holding the
 *     container's region file `region` (the layout the node agent's
 *     Allocate creates, docs/node-agent.md). Each file is opened read-only
 *     and version-checked; a folder whose name does not split into three
 *     names, or whose file is missing, unreadable or of another layout, is
 *     skipped and counted (vxpu_monitor_regions_skipped), never fatal.
 *   - the management library (NVML, or the simulator's): per device the
 *     memory total/used and utilisation, and per process (host PID) its
 *     memory and its SM utilisation since the previous pass.
 * A container's device i is the physical device whose UUID its region
 * records for i. Its processes are its region's live slots whose host PID
 * the agent recorded (hostpid.h); their NVML figures are summed.
 *
 * Metric families (docs/node-agent.md, "Metrics reference", is the
 * contract): DCGM exporter names where DCGM has one, with DCGM's units and
 * labels (gpu, UUID, device, modelName, Hostname); vxpu_* otherwise, in
 * base units (bytes, percent 0..100 of one device).
 *
 * Threads: vxpu_monitor_start runs one sampling thread and the HTTP
 * server's handler threads. A scrape renders the latest finished pass under
 * a lock, so a scrape costs a render and never waits for the driver.
 * Callbacks (health, watchdog events) run on the sampling thread.
 */
#ifndef VXPU_NODE_MONITOR_H
#define VXPU_NODE_MONITOR_H

#include "node/discover.h"
#include "node/watchdog.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_MONITOR_NAME_MAX 256 /* a namespace, pod or container name, terminator included */
#define VXPU_MONITOR_PATH_MAX 1024

/* One physical device in a pass. */
struct vxpu_monitor_device {
	unsigned index;
	char uuid[96];
	char model[96];
	bool live;                 /* the management library answered this pass */
	uint64_t memory_total;     /* bytes */
	uint64_t memory_used;      /* bytes */
	double utilization;        /* percent, the driver's last sample period */
	uint64_t memory_allocated; /* bytes: sum of the limits of the containers on it */
	double compute_allocated;  /* percent: sum of their compute limits */
	unsigned containers;       /* containers with a share on it */
	int healthy;               /* 1, 0, or -1 when no health source answered */
};

/* A process of a container that the monitor can attribute (and, enforcing, kill). */
struct vxpu_monitor_process {
	int32_t host_pid;
	unsigned slot;
	uint32_t generation;
};

struct vxpu_monitor_container {
	char key[VXPU_WATCHDOG_KEY_MAX]; /* the folder name, NAMESPACE_POD_CONTAINER */
	char ns[VXPU_MONITOR_NAME_MAX];
	char pod[VXPU_MONITOR_NAME_MAX];
	char container[VXPU_MONITOR_NAME_MAX];
	char region_path[VXPU_MONITOR_PATH_MAX];
	unsigned processes;    /* live slots */
	unsigned unattributed; /* live slots without a host PID yet */
	size_t nprocs;
	struct vxpu_monitor_process *procs; /* live slots with a host PID */
};

/* One container on one device. */
struct vxpu_monitor_share {
	size_t container;        /* index into the snapshot's containers */
	unsigned ordinal;        /* the container's device number (VXPU_MEMORY_LIMIT_<i>) */
	int gpu;                 /* host device index, -1 when its UUID matches no device */
	char uuid[48];           /* "" when the region records none */
	uint64_t memory_limit;   /* bytes, UINT64_MAX = none */
	uint64_t memory_charged; /* bytes libvxpu admitted (the region's counters) */
	bool memory_used_known;
	uint64_t memory_used; /* bytes the driver reports for its host PIDs */
	unsigned core_limit;  /* percent, 0 = none */
	bool utilization_known;
	double utilization; /* percent, summed over its host PIDs since the last pass */
	/* libvxpu's compute budget (the region's counters, since it was created) */
	uint64_t compute_charged_ns; /* device time charged */
	uint64_t compute_held_ns;    /* time launches waited for the budget */
	uint64_t launches;           /* launches under a compute limit or priority */
	uint64_t held_launches;      /* of which waited */
};

/* One pass: everything /metrics shows. */
struct vxpu_monitor_snapshot {
	int64_t taken_unix_ms;
	uint64_t collect_ns; /* how long the pass took */
	char node[VXPU_MONITOR_NAME_MAX];
	char vendor[32]; /* device label prefix ("nvidia" -> device="nvidia0") */
	bool library_up; /* the management library answered */
	size_t ndevices;
	struct vxpu_monitor_device devices[VXPU_FOUND_MAX_DEVICES];
	size_t ncontainers;
	struct vxpu_monitor_container *containers; /* sorted by key */
	size_t nshares;
	struct vxpu_monitor_share *shares; /* sorted by (container, ordinal) */
	unsigned regions_skipped;
	char skip_reason[320]; /* the last skip's reason, "" if none */
	size_t nwatch;
	struct vxpu_watchdog_status *watch; /* flagged-ever shares, from the watchdog */
	uint64_t passes;
};

void vxpu_monitor_snapshot_free(struct vxpu_monitor_snapshot *s);

/*
 * The exposition (malloc'd, *len bytes, serve as VXPU_PROM_CONTENT_TYPE) of
 * a snapshot, or NULL when out of memory. Pure: the same snapshot always
 * gives the same bytes. A sample the writer refuses (a label that is not
 * UTF-8) is skipped and counted in *skipped (may be NULL).
 */
char *vxpu_monitor_render(const struct vxpu_monitor_snapshot *s, size_t *len, unsigned *skipped);

/* ---- collecting ------------------------------------------------------------- */

struct vxpu_monitor_collector;

/*
 * Prepares passes over regions_dir with the management library of the
 * backend (inventory: regions only, library_up false). 0, or -1 with a
 * reason (the library of nvml/sim does not load, discovery fails).
 */
int vxpu_monitor_collector_open(struct vxpu_monitor_collector **out,
                                const struct vxpu_discover_options *discover,
                                const char *regions_dir, const char *node, char *err,
                                size_t errlen);
void vxpu_monitor_collector_close(struct vxpu_monitor_collector *c);

/* One pass into *s (freed first when it holds a previous pass). 0, or -1
 * when out of memory or the regions directory cannot be listed (reason). */
int vxpu_monitor_collect(struct vxpu_monitor_collector *c, struct vxpu_monitor_snapshot *s,
                         char *err, size_t errlen);

/*
 * Kills (SIGKILL) the processes of share `share` of snapshot s that hold
 * the device now: for each of the container's host PIDs, it takes a pidfd,
 * then checks that the driver still lists that PID on the share's device
 * and that the region slot still carries it (same claim), and only then
 * signals through the pidfd - a PID that was reused meanwhile is never
 * signalled. Never PID 1 or the calling process. Returns the number killed.
 */
unsigned vxpu_monitor_kill_share(struct vxpu_monitor_collector *c,
                                 const struct vxpu_monitor_snapshot *s, size_t share);

/* ---- running in a process --------------------------------------------------- */

struct vxpu_monitor_event {
	const struct vxpu_watchdog_event *watchdog;
	const char *ns, *pod, *container;
	const char *uuid; /* of the device, "" when unknown */
	unsigned killed;  /* ENFORCE: processes killed */
};

struct vxpu_monitor_config {
	const char *regions_dir; /* required */
	const char *listen;      /* "HOST:PORT" for /metrics and /healthz; NULL: no server */
	const char *node;        /* the Hostname label; NULL: gethostname() */
	struct vxpu_discover_options discover;
	unsigned interval_ms; /* between passes; 0 = VXPU_MONITOR_INTERVAL_MS */
	struct vxpu_watchdog_policy watchdog;
	/* Optional: a device's health (true and *healthy), false when unknown. */
	bool (*device_health)(void *ctx, unsigned index, bool *healthy);
	/* Optional: each watchdog event, after the monitor acted on it (killed
	 * and logged it). The agent turns FLAGGED/ENFORCE into a pod Event. */
	void (*on_event)(void *ctx, const struct vxpu_monitor_event *ev);
	void *ctx;
};

#define VXPU_MONITOR_INTERVAL_MS 250u

struct vxpu_monitor;

/*
 * Opens the collector, runs the first pass, starts the sampling thread and
 * (listen set) the HTTP server: GET /metrics (the latest pass), GET
 * /healthz ("ok" once a pass finished within 10 intervals, else 503).
 * Every watchdog event is logged (common/log.h, msg="watchdog ...") at
 * warn level. 0, or -1 with a reason (nothing left running).
 */
int vxpu_monitor_start(const struct vxpu_monitor_config *cfg, struct vxpu_monitor **out, char *err,
                       size_t errlen);

/* The bound "HOST:PORT" (the real port when 0 was asked), or "" without a server. */
const char *vxpu_monitor_address(const struct vxpu_monitor *m);

/* What /metrics answers now (malloc'd, *len bytes), or NULL when out of memory. */
char *vxpu_monitor_metrics(struct vxpu_monitor *m, size_t *len);

/* Stops the thread and the server, frees everything. NULL is a no-op. */
void vxpu_monitor_stop(struct vxpu_monitor *m);

#endif

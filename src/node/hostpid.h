/*
 * hostpid.h - the host PID of every process in a container's region.
 *
 * A process in a container records its own PID in its region slot, and
 * that PID is the one of the container's PID namespace. The management
 * library (NVML) and the kernel speak of host PIDs, so the node agent fills
 * in each slot's host PID: it lists the host's processes under a proc root,
 * keeps those that belong to the container, and maps the innermost PID of
 * each (the last field of `NSpid:` in /proc/PID/status, what getpid()
 * returns inside the container) to its host PID (the directory name).
 *
 * A process belongs to the container when
 *   - a line of /proc/PID/cgroup contains the filter's cgroup text (the
 *     container ID, or the pod's cgroup name), when one is given; and
 *   - /proc/PID/maps shows it mapping the region file itself (same device
 *     and inode as the agent sees), when by_mapping is set. Every process of
 *     a container that uses the device maps the region, and no process
 *     outside the container does, so this holds even where several
 *     containers of one pod (each with its own PID 1) share a cgroup text.
 *
 * Invariants: a slot only ever gets a host PID found for its own PID and
 * its own claim (generation; a slot claimed again meanwhile is left for the
 * next pass); a container PID that maps to two host processes is
 * ambiguous and recorded nowhere - a wrong host PID is worse than none;
 * a process that vanishes or whose files do not parse during the scan is
 * skipped, never an error. The proc root is a parameter so that tests use
 * a fake tree.
 */
#ifndef VXPU_NODE_HOSTPID_H
#define VXPU_NODE_HOSTPID_H

#include "limiter/region.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vxpu_hostpid_filter {
	const char *proc_root; /* "/proc", or a test tree; NULL means "/proc" */
	const char *cgroup;    /* text a /proc/PID/cgroup line must contain; NULL: any */
	bool by_mapping;       /* the process must map the file map_dev:map_ino */
	uint64_t map_dev;      /* st_dev of that file (as stat gives it) */
	uint64_t map_ino;
};

struct vxpu_hostpid {
	int32_t ns_pid;   /* the innermost NSpid */
	int32_t host_pid; /* the PID under proc_root */
};

/*
 * Lists the processes that pass the filter, sorted by (ns_pid, host_pid).
 * *count is how many were found (it may exceed cap; only cap are stored).
 * Returns 0, or -1 with a reason when the proc root cannot be read.
 */
int vxpu_hostpid_scan(const struct vxpu_hostpid_filter *f, struct vxpu_hostpid *out, size_t cap,
                      size_t *count, char *err, size_t errlen);

/* The host PID of ns_pid in a sorted list: > 0, 0 when absent, -1 when
 * two host processes carry it (ambiguous). */
int32_t vxpu_hostpid_lookup(const struct vxpu_hostpid *list, size_t n, int32_t ns_pid);

struct vxpu_hostpid_report {
	unsigned written;   /* slots given their host PID now */
	unsigned known;     /* live slots that already had one */
	unsigned unmatched; /* live slots whose PID no listed process carries */
	unsigned ambiguous; /* live slots whose PID two processes carry */
	unsigned raced;     /* slots claimed again during the pass (next pass) */
};

/*
 * One pass over a region opened for writing: every live slot without a
 * host PID gets the one the scan finds for its PID. With f->by_mapping the
 * device and inode are taken from the region's own file (f's are ignored).
 * Returns 0, or -1 with a reason (proc root unreadable, out of memory).
 */
int vxpu_hostpid_update_region(struct vxpu_region *r, const struct vxpu_hostpid_filter *f,
                               struct vxpu_hostpid_report *report, char *err, size_t errlen);

#endif

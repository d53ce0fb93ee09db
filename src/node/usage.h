/*
 * usage.h - how much of a device's time given processes use, from the
 * management library (NVML, or the simulator's through the same path).
 *
 * The metering loop of `vxpu run` (and the node agent) knows its workload's
 * PIDs from the container's region and asks here, once a second, for their
 * share of each device since the previous reading. NVML reports per-process
 * SM utilisation samples since a timestamp; a process's share is the mean of
 * its samples, and a group's share is the sum over its processes, capped at
 * 100. The reader keeps one library handle and one timestamp per device.
 */
#ifndef VXPU_NODE_USAGE_H
#define VXPU_NODE_USAGE_H

#include "node/discover.h"

#include <stddef.h>
#include <stdint.h>

struct vxpu_usage_reader;

/* Opens the library of the backend (nvml or sim; inventory has none and
 * fails). Returns 0, or -1 with a reason. */
int vxpu_usage_open(struct vxpu_usage_reader **out, const struct vxpu_discover_options *opts,
                    char *err, size_t errlen);
void vxpu_usage_close(struct vxpu_usage_reader *r);

/*
 * The share (0..100) of device `index` that the processes in pids used since
 * the previous call for that device (the last second on the first call).
 * Returns 0 and sets *percent (0 when none of them ran), -1 on an error.
 */
int vxpu_usage_processes(struct vxpu_usage_reader *r, unsigned index, const int32_t *pids,
                         size_t npids, double *percent);

#endif

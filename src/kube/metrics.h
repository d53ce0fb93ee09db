/*
 * metrics.h - the Prometheus exposition of one node's accelerators and
 * the allocations on them: what `vxpu serve` answers on /metrics, and what
 * the node agent will answer. The caller gathers the figures (discovery,
 * allocation state, shared regions) into the plain structures below; this
 * file only names, labels and writes them (through meter/prom.h), so both
 * servers expose the same families with the same meaning.
 *
 * Families (all gauges; bytes and seconds are base units, percent is
 * 0..100 of one whole device):
 *   vxpu_build_info{version,commit}                               1
 *   per device, labels {node,index,uuid,model}:
 *     vxpu_device_memory_total_bytes        physical device memory
 *     vxpu_device_memory_used_bytes         in use on the device (driver's view)
 *     vxpu_device_memory_allocated_bytes    promised to allocations
 *     vxpu_device_compute_allocated_percent compute promised to allocations
 *     vxpu_device_utilization_percent       busy time, last sample period
 *     vxpu_device_healthy                   1 healthy, 0 failed
 *     vxpu_device_allocations               allocations holding a share
 *   per allocation and device, labels {node,id,tenant,project,user,index}:
 *     vxpu_allocation_memory_limit_bytes    the allocation's memory share
 *     vxpu_allocation_memory_used_bytes     charged by its processes
 *                                           (absent when unknown)
 *     vxpu_allocation_compute_percent       its compute share (0 = none reserved)
 *   per allocation, labels {node,id,tenant,project,user}:
 *     vxpu_allocation_start_time_seconds    start, seconds since the epoch
 *
 * A sample the writer refuses (a label value that is not UTF-8, two
 * devices with one index) is skipped and counted, not fatal: one bad
 * label must not take the whole scrape down.
 */
#ifndef VXPU_KUBE_METRICS_H
#define VXPU_KUBE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vxpu_metrics_device {
	unsigned index;
	const char *uuid;
	const char *model;
	uint64_t memory_total_bytes;
	uint64_t memory_used_bytes;
	uint64_t memory_allocated_bytes;
	double compute_allocated_percent;
	double utilization_percent;
	bool healthy;
	unsigned allocations;
};

struct vxpu_metrics_share {
	unsigned device_index;
	uint64_t memory_limit_bytes;
	bool memory_used_known;
	uint64_t memory_used_bytes;
	double compute_percent;
};

struct vxpu_metrics_allocation {
	const char *id;
	const char *tenant;
	const char *project;
	const char *user;
	int64_t start_ms; /* milliseconds since the epoch */
	size_t nshares;
	const struct vxpu_metrics_share *shares;
};

struct vxpu_metrics_node {
	const char *node;
	const char *version;
	const char *commit;
	size_t ndevices;
	const struct vxpu_metrics_device *devices;
	size_t nallocations;
	const struct vxpu_metrics_allocation *allocations;
};

/*
 * The exposition text (malloc'd, *len bytes; serve it with
 * VXPU_PROM_CONTENT_TYPE), or NULL when out of memory. *skipped (may be
 * NULL) receives the number of refused samples; the reason of the last
 * one is in skip_reason when it is not NULL.
 */
char *vxpu_metrics_render(const struct vxpu_metrics_node *n, size_t *len, unsigned *skipped,
                          char *skip_reason, size_t reasonlen);

#endif

/*
 * allocations_json.h - the live allocations of this machine as JSON, with
 * the memory their processes use now: what GET /api/v1/allocations of
 * `vxpu serve` answers, field for field the document of `vxpu ps --json`:
 *
 *   {"node": "host",
 *    "allocations": [{"id": "...", "pid": 123, "tenant": "...", "project": "...",
 *                     "user": "...", "priority": "normal", "command": "...",
 *                     "started": "2026-01-05T10:00:00.000Z", "region": "/path",
 *                     "processes": 1,
 *                     "devices": [{"index": 0, "uuid": "GPU-...", "model": "...",
 *                                  "memory_mib": 1024, "compute_percent": 30,
 *                                  "exclusive": false,
 *                                  "used_memory_mib": 512 | null}]}]}
 *
 * used_memory_mib is null while the allocation has no region yet (no
 * process has used a device) or when its region cannot be read.
 *
 * Usage goes through vxpu_alloc_usage_read, the one place that reads an
 * allocation's region, so the JSON API and /metrics agree.
 */
#ifndef VXPU_CLI_ALLOCATIONS_JSON_H
#define VXPU_CLI_ALLOCATIONS_JSON_H

#include "cli/local.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

enum vxpu_alloc_usage_state {
	VXPU_ALLOC_USAGE_NONE,       /* no region file yet: nothing charged */
	VXPU_ALLOC_USAGE_READ,       /* read from the region */
	VXPU_ALLOC_USAGE_UNREADABLE, /* the region exists but cannot be read */
};

struct vxpu_alloc_usage {
	enum vxpu_alloc_usage_state state;
	unsigned processes;                         /* live processes in the region */
	uint64_t used_bytes[VXPU_LOCAL_MAX_SHARES]; /* per share, as a->shares */
};

/* Reads a's region. For UNREADABLE, err (may be NULL) says why. */
void vxpu_alloc_usage_read(const struct vxpu_local_alloc *a, struct vxpu_alloc_usage *u, char *err,
                           size_t errlen);

/* A compute share in percent of its device (units of the device's unit count). */
unsigned vxpu_alloc_share_percent(const struct vxpu_local *l, const struct vxpu_local_share *s);

/* One allocation's object; NULL when out of memory. */
struct cJSON *vxpu_allocation_json(const struct vxpu_local *l, const struct vxpu_local_alloc *a,
                                   const struct vxpu_alloc_usage *u);

/* The whole document over l->allocs (reads each region); NULL when out of memory. */
struct cJSON *vxpu_allocations_json(const struct vxpu_local *l);

#endif

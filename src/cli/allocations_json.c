/*
 * allocations_json.c - live allocations as JSON and their usage from the
 * regions (see allocations_json.h). A region view holds every process slot
 * (a few hundred KiB), so it is allocated per read rather than kept on a
 * stack or in a static: the server reads regions from several threads.
 */
#include "cli/allocations_json.h"

#include "core/logfmt.h"
#include "limiter/region.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void vxpu_alloc_usage_read(const struct vxpu_local_alloc *a, struct vxpu_alloc_usage *u, char *err,
                           size_t errlen)
{
	memset(u, 0, sizeof(*u));
	if (err && errlen)
		err[0] = '\0';
	if (!a->region_path[0] || (access(a->region_path, F_OK) != 0 && errno == ENOENT)) {
		u->state = VXPU_ALLOC_USAGE_NONE;
		return;
	}
	u->state = VXPU_ALLOC_USAGE_UNREADABLE;
	struct vxpu_region r;
	char why[256];
	if (vxpu_region_open(&r, a->region_path, VXPU_REGION_OPEN_READ, NULL, why, sizeof(why)) !=
	    0) {
		if (err && errlen)
			snprintf(err, errlen, "%s", why);
		return;
	}
	struct vxpu_region_view *view = malloc(sizeof(*view));
	if (!view) {
		vxpu_region_close(&r);
		if (err && errlen)
			snprintf(err, errlen, "out of memory");
		return;
	}
	vxpu_region_read(&r, view);
	vxpu_region_close(&r);
	/* Region device i is the allocation's i-th share (the order `vxpu run`
	 * gives CUDA_VISIBLE_DEVICES and the limits). */
	for (uint32_t i = 0; i < a->nshares && i < VXPU_REGION_MAX_DEVICES; i++)
		u->used_bytes[i] = view->devices[i].used;
	for (unsigned p = 0; p < view->process_count; p++)
		u->processes += view->processes[p].alive;
	free(view);
	u->state = VXPU_ALLOC_USAGE_READ;
}

unsigned vxpu_alloc_share_percent(const struct vxpu_local *l, const struct vxpu_local_share *s)
{
	int pos = vxpu_local_device_pos(l, s->device_index);
	uint32_t units =
	        pos >= 0 && l->node.devices[pos].unit_count ? l->node.devices[pos].unit_count : 100;
	return (unsigned)((uint64_t)s->compute_units * 100 / units);
}

cJSON *vxpu_allocation_json(const struct vxpu_local *l, const struct vxpu_local_alloc *a,
                            const struct vxpu_alloc_usage *u)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	char ts[40];
	vxpu_format_rfc3339_ms(a->start_ms, ts, sizeof(ts));
	cJSON_AddStringToObject(o, "id", a->id);
	cJSON_AddNumberToObject(o, "pid", (double)a->owner_pid);
	cJSON_AddStringToObject(o, "tenant", a->tenant);
	cJSON_AddStringToObject(o, "project", a->project);
	cJSON_AddStringToObject(o, "user", a->user);
	cJSON_AddStringToObject(o, "priority", a->priority);
	cJSON_AddStringToObject(o, "command", a->command);
	cJSON_AddStringToObject(o, "started", ts);
	cJSON_AddStringToObject(o, "region", a->region_path);
	cJSON_AddNumberToObject(o, "processes", u->processes);
	cJSON *devs = cJSON_AddArrayToObject(o, "devices");
	if (!devs) {
		cJSON_Delete(o);
		return NULL;
	}
	for (uint32_t i = 0; i < a->nshares; i++) {
		const struct vxpu_local_share *s = &a->shares[i];
		int pos = vxpu_local_device_pos(l, s->device_index);
		cJSON *d = cJSON_CreateObject();
		if (!d) {
			cJSON_Delete(o);
			return NULL;
		}
		cJSON_AddNumberToObject(d, "index", s->device_index);
		cJSON_AddStringToObject(d, "uuid", s->device_uuid);
		if (pos >= 0)
			cJSON_AddStringToObject(d, "model", l->node.devices[pos].model);
		cJSON_AddNumberToObject(d, "memory_mib", (double)s->memory_mib);
		cJSON_AddNumberToObject(d, "compute_percent", vxpu_alloc_share_percent(l, s));
		cJSON_AddBoolToObject(d, "exclusive", s->exclusive);
		if (u->state == VXPU_ALLOC_USAGE_READ)
			cJSON_AddNumberToObject(d, "used_memory_mib",
			                        (double)(u->used_bytes[i] >> 20));
		else
			cJSON_AddNullToObject(d, "used_memory_mib");
		cJSON_AddItemToArray(devs, d);
	}
	return o;
}

cJSON *vxpu_allocations_json(const struct vxpu_local *l)
{
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return NULL;
	cJSON_AddStringToObject(root, "node", l->hostname);
	cJSON *arr = cJSON_AddArrayToObject(root, "allocations");
	if (!arr) {
		cJSON_Delete(root);
		return NULL;
	}
	for (size_t k = 0; k < l->nallocs; k++) {
		struct vxpu_alloc_usage u;
		vxpu_alloc_usage_read(&l->allocs[k], &u, NULL, 0);
		cJSON *o = vxpu_allocation_json(l, &l->allocs[k], &u);
		if (!o) {
			cJSON_Delete(root);
			return NULL;
		}
		cJSON_AddItemToArray(arr, o);
	}
	return root;
}
